/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's figures as one structure (a snapshot), for consumers that
 * want numbers rather than the four-letter words' texts: /metrics
 * (metrics/) today, the AdminServer's monitor-like commands next.
 *
 * One function fills it, on the caller's thread, which must be neither
 * a dataplane worker nor the broadcast core: it reads every worker's
 * counters the way the four-letter words do (relaxed loads of what each
 * owner publishes, no lock a worker or the core waits on), the log
 * writer's summaries (lock-free), the core's published quorum view and
 * the tree (online RCU read-side, O(sessions with ephemerals) for
 * ephemerals_count).  Fields of one snapshot are read one after the
 * other, not at one instant, exactly as ZooKeeper samples its gauges.
 */
#ifndef CHEETAH_DATAPLANE_DP_STATS_H
#define CHEETAH_DATAPLANE_DP_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/hist.h"
#include "common/nsstat.h"

struct dp;

#define DP_STATS_MAX_CORES 128
#define DP_STATS_MAX_NET 80
#define DP_STATS_MAX_ACK 16 /* ack_latency's keys: REPL_ACK_KEYS */

/* One dataplane worker's counters (its core: cheetah.dataplane.cores). */
struct dp_stats_core {
	uint32_t worker;	   /* index, 0.. */
	int32_t cpu;		   /* the CPU it is pinned to, -1 when not pinned */
	uint64_t packets_received; /* frames and four-letter words */
	uint64_t packets_sent;
	uint64_t bytes_received;
	uint64_t rejected; /* connections refused (limits) */
	uint64_t requests; /* replies counted for latency (never reset) */
	uint64_t outstanding;
	uint64_t watches;
	uint32_t connections;
	uint32_t sessions;
	uint64_t net[DP_STATS_MAX_NET]; /* the backend's counters: dp_stats.net_* */
};

/* A log writer summary (records per batch, ms per fdatasync) since start or srst. */
struct dp_stats_summary {
	uint64_t cnt, sum, min, max;
};

/* What each of a backend's own counters is (the dpdk stack's: mntr's cheetah_net_*). */
enum dp_stats_net_kind {
	DP_STATS_NET_COUNTER, /* counts up, per worker */
	DP_STATS_NET_GAUGE,   /* per worker */
	DP_STATS_NET_DEVICE,  /* counts up, the whole device's (worker 0's value) */
};

struct dp_stats {
	/* ---- ServerStats / ZooKeeperServer.registerMetrics ---- */
	const char *version; /* static string: ZooKeeper's version line (srvr, mntr) */
	uint64_t uptime_ms;
	const char *server_state; /* static string: repl_server_state */
	uint64_t packets_received, packets_sent;
	uint64_t outstanding;
	uint32_t connections;
	uint64_t bytes_received;
	uint64_t rejected;
	uint64_t watches;
	uint64_t znode_count;	   /* as ZooKeeper counts it (root twice) */
	uint64_t ephemerals_count; /* every session's, from the tree */
	int64_t approximate_data_size;
	uint32_t global_sessions;
	int64_t open_fds; /* -1 when /proc/self/fd cannot be read */
	uint64_t max_fds; /* RLIMIT_NOFILE soft limit */
	int64_t last_zxid;
	/* ServerStats' AvgMinMaxCounter (reset by srst): microseconds */
	bool have_latency;
	uint64_t latency_min_us, latency_max_us, latency_sum_us, latency_count;
	/* since start, never reset: microseconds (readlatency, updatelatency) */
	struct hist read_us, update_us;

	/* ---- the log writer (replication/txlog.c) ---- */
	/* mntr's: since start or srst (AdminServer's monitor) */
	struct dp_stats_summary batch_size, fsync_ms;
	/* since start, never reset: records per batch, fdatasync in us */
	struct hist batch_hist, fsync_us_hist;

	/* ---- elections (repl_election_stats; 0 standalone) ---- */
	uint64_t looking_count;
	struct hist election_ms;

	/* ---- replication: ZooKeeper's ServerMetrics (repl_zk_stats, repl_zk_hist) ---- */
	/* counters: a leader's, then a follower's or observer's */
	uint64_t proposal_count, commit_count, snap_count, diff_count;
	uint64_t learner_proposal_count, learner_commit_count;
	uint64_t unrecoverable_error_count; /* any server */
	/* never reset: ms, but startup_txns_loaded (txns) and inflight_snaps */
	struct hist db_init_ms, startup_snap_ms, startup_txns_ms, startup_txns_loaded;
	struct hist snapshot_ms, inflight_snaps, unavailable_ms, leader_unavailable_ms;
	struct hist propagation_ms, quorum_ack_ms, commit_propagation_ms, proposal_ms;
	struct hist follower_sync_ms, observer_sync_ms; /* snapshot install to serving */
	struct hist proposal_ack_ms; /* PROPOSAL_ACK_CREATION_LATENCY (REPL_ZK_PROPOSAL_ACK_MS) */
	/* ACK_LATENCY per member id (repl_ack_hists), on a leader: ms */
	uint32_t nack;
	uint32_t ack_id[DP_STATS_MAX_ACK];
	struct hist ack_ms[DP_STATS_MAX_ACK];

	/* ---- an ensemble's serving leader (repl_quorum_stats) ---- */
	bool leader;
	uint32_t myid, leader_id;
	uint32_t learners, synced_followers, synced_observers, pending_syncs, quorum_size;
	uint64_t leader_uptime_ms;
	int64_t last_proposal_size, min_proposal_size, max_proposal_size; /* -1: none yet */
	/* replication lag: entries of the leader's log not yet durable on member lag_id[i] */
	uint32_t nlag;
	uint32_t lag_id[255];
	uint64_t lag_entries[255];

	/* ---- the workers' response and watch figures (metricsdp) ---- */
	/* RESPONSE_BYTES, WATCH_BYTES: frame bytes without the length prefix */
	uint64_t response_bytes, watch_bytes;
	/* clientResponseStats (reset by srst): -1 while none, as BufferStats */
	int64_t last_response_size, min_response_size, max_response_size;
	uint64_t sessionless_expired; /* SESSIONLESS_CONNECTIONS_EXPIRED */
	uint64_t conn_revalidate;     /* CONNECTION_REVALIDATE_COUNT */
	uint64_t stale_expired;	      /* STALE_SESSIONS_EXPIRED (repl_stale_sessions_expired) */
	uint64_t revalidate;	      /* REVALIDATE_COUNT (repl_revalidate_count) */
	/* NODE_CREATED/DELETED/DATA_CHANGED/CHILDREN_WATCHER: watchers per event */
	struct hist watch_fired[4];

	/*
	 * ---- read_per_namespace, write_per_namespace (common/nsstat.h) ----
	 * Slots 0..ns_nkeys-1 and NSSTAT_OTHER; every table of a kind merged,
	 * since start (a count of 0: that kind never counted the key).
	 */
	uint32_t ns_nkeys;
	char ns_key[NSSTAT_SLOTS][NSSTAT_KEY_MAX + 1];
	struct hist ns_hist[NSSTAT_KINDS][NSSTAT_SLOTS];

	/* ---- the backend's own counters (dpdk), named once for every worker ---- */
	uint32_t nnet;
	const char *net_name[DP_STATS_MAX_NET]; /* static strings: [a-z0-9_]+ */
	uint8_t net_kind[DP_STATS_MAX_NET];	/* enum dp_stats_net_kind */

	/* ---- per dataplane worker ---- */
	uint32_t ncores;
	struct dp_stats_core cores[DP_STATS_MAX_CORES];
};

/*
 * Fills *out (about 480 KiB: callers keep it off the stack).  Returns 0,
 * or -EAGAIN before dp_run (no tree yet).  Workers beyond
 * DP_STATS_MAX_CORES are summed into the totals but not listed.  Any
 * thread registered as an RCU (QSBR) reader, online or offline (it goes
 * online while it reads the tree and returns in the state it found),
 * except a worker's or the broadcast core's; between dp_run and dp_stop.
 */
int dp_stats_snapshot(struct dp *dp, struct dp_stats *out);

#endif
