/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside /metrics: the rendering of a snapshot into the text format,
 * apart from HTTP so that unit tests render made-up figures.  Thread: the
 * metrics thread (the window is its state alone).
 */
#ifndef CHEETAH_METRICS_METRICS_PRIV_H
#define CHEETAH_METRICS_METRICS_PRIV_H

#include <stdint.h>

#include "common/hist.h"
#include "dataplane/dp_stats.h"

struct jute_out;

/*
 * The summaries' time window, as the Java client's (maxAgeSeconds 600,
 * ageBuckets 5): copies of the latency histograms taken at most every
 * MET_WINDOW_STEP_MS; a quantile covers what was added since the oldest
 * copy not older than MET_WINDOW_MS.
 */
#define MET_WINDOW_MS 600000u
#define MET_WINDOW_STEP_MS 120000u
#define MET_WINDOW_SLOTS 6

/* The histograms of a snapshot that have summaries: */
enum met_hist {
	MET_H_READ,   /* dp_stats.read_us */
	MET_H_UPDATE, /* dp_stats.update_us */
	MET_H_FSYNC,  /* dp_stats.fsync_us_hist */
	MET_H_BATCH,  /* dp_stats.batch_hist */
	MET_H_ELECT,  /* dp_stats.election_ms */
	/* replication (metricsrepl) */
	MET_H_DBINIT,	      /* dp_stats.db_init_ms */
	MET_H_SNAP_LOAD,      /* dp_stats.startup_snap_ms */
	MET_H_TXNS_LOAD,      /* dp_stats.startup_txns_ms */
	MET_H_TXNS_LOADED,    /* dp_stats.startup_txns_loaded */
	MET_H_SNAPSHOT,	      /* dp_stats.snapshot_ms */
	MET_H_INFLIGHT_SNAPS, /* dp_stats.inflight_snaps */
	MET_H_UNAVAIL,	      /* dp_stats.unavailable_ms */
	MET_H_LEADER_UNAVAIL, /* dp_stats.leader_unavailable_ms */
	MET_H_PROPAGATION,    /* dp_stats.propagation_ms */
	MET_H_QUORUM_ACK,     /* dp_stats.quorum_ack_ms */
	MET_H_COMMIT_PROP,    /* dp_stats.commit_propagation_ms */
	MET_H_PROPOSAL,	      /* dp_stats.proposal_ms */
	MET_H_FOLLOWER_SYNC,  /* dp_stats.follower_sync_ms */
	MET_H_OBSERVER_SYNC,  /* dp_stats.observer_sync_ms */
	/* dataplane: dp_stats.watch_fired[0..3] (node_*_watch_count) */
	MET_H_WATCH_CREATED,
	MET_H_WATCH_DELETED,
	MET_H_WATCH_CHANGED,
	MET_H_WATCH_CHILDREN,
	MET_H_PROPOSAL_ACK, /* dp_stats.proposal_ack_ms */
	/* dp_stats.ack_ms[0..DP_STATS_MAX_ACK) (ack_latency per member id; a slot keeps its id) */
	MET_H_ACK,
	MET_NHIST = MET_H_ACK + DP_STATS_MAX_ACK
};

struct met_window {
	uint32_t n;
	uint64_t at_ms[MET_WINDOW_SLOTS];
	struct hist h[MET_WINDOW_SLOTS][MET_NHIST];
	/* dp_stats.ns_hist (a slot keeps its key for the process's life) */
	struct hist ns[MET_WINDOW_SLOTS][NSSTAT_KINDS][NSSTAT_SLOTS];
};

/* An empty window whose first copy (zeros) is dated now_ms. */
void met_window_init(struct met_window *w, uint64_t now_ms);

/*
 * Appends the whole /metrics text for s to o (jute_out: growable), the
 * window moved to now_ms (monotonic).
 */
void met_render(struct met_window *w, const struct dp_stats *s, uint64_t now_ms,
		struct jute_out *o);

#endif
