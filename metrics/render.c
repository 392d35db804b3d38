/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What /metrics says: a dp_stats snapshot in ZooKeeper's metric names
 * and types, then Cheetah's own.
 *
 * The names, types and quantiles are those ZooKeeper 3.8's
 * PrometheusMetricsProvider exports (Prometheus Java simpleclient 0.9:
 * counters without a _total suffix; HELP is the name, as the provider
 * builds every collector with build(name, name)): the gauges
 * ZooKeeperServer.registerMetrics registers (and
 * LeaderZooKeeperServer's on a leader), ServerMetrics' counters and
 * summaries; a summary registered at DetailLevel.ADVANCED has the
 * quantiles 0.5, 0.9 and 0.99, one at BASIC 0.5 only, over a sliding
 * window of 10 minutes (the client's default maxAgeSeconds), with _count
 * and _sum since start.
 *
 * Only what Cheetah has a real value for is exported; a metric of
 * ZooKeeper's machinery that Cheetah lacks (request throttler, commit
 * processor queues, JVM pauses, TLS, quotas per namespace...) is left
 * out rather than exported as a constant, and listed in
 * docs/OPERATIONS.md.  The per-namespace summary sets are labelled by
 * key, bounded at 64 namespaces plus "/other" (common/nsstat.h).  Summaries come from never-reset histograms (the
 * workers' reply latencies, the log writer's batches and fdatasyncs), as
 * ZooKeeper's Prometheus summaries are never reset (its provider ignores
 * srst's resetAllValues); srst resets what mntr and the gauges
 * avg/min/max_latency show, as in ZooKeeper.
 *
 * Thread: the metrics thread (the window is its own).
 */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/jute.h"
#include "metrics/metrics_priv.h"
#include "metrics/prom.h"

static const double q_advanced[] = {0.5, 0.9, 0.99};
static const double q_basic[] = {0.5};

void met_window_init(struct met_window *w, uint64_t now_ms)
{
	memset(w, 0, sizeof(*w));
	w->n = 1;
	w->at_ms[0] = now_ms;
}

/*
 * Drops copies older than the window and adds the current one when the
 * newest is a step old; the oldest left, w->*[0], starts the window.
 */
static const struct hist *snapshot_hist(const struct dp_stats *s, enum met_hist i)
{
	switch (i) {
	case MET_H_READ:
		return &s->read_us;
	case MET_H_UPDATE:
		return &s->update_us;
	case MET_H_FSYNC:
		return &s->fsync_us_hist;
	case MET_H_BATCH:
		return &s->batch_hist;
	case MET_H_ELECT:
		return &s->election_ms;
	/* replication (metricsrepl) */
	case MET_H_DBINIT:
		return &s->db_init_ms;
	case MET_H_SNAP_LOAD:
		return &s->startup_snap_ms;
	case MET_H_TXNS_LOAD:
		return &s->startup_txns_ms;
	case MET_H_TXNS_LOADED:
		return &s->startup_txns_loaded;
	case MET_H_SNAPSHOT:
		return &s->snapshot_ms;
	case MET_H_INFLIGHT_SNAPS:
		return &s->inflight_snaps;
	case MET_H_UNAVAIL:
		return &s->unavailable_ms;
	case MET_H_LEADER_UNAVAIL:
		return &s->leader_unavailable_ms;
	case MET_H_PROPAGATION:
		return &s->propagation_ms;
	case MET_H_QUORUM_ACK:
		return &s->quorum_ack_ms;
	case MET_H_COMMIT_PROP:
		return &s->commit_propagation_ms;
	case MET_H_PROPOSAL:
		return &s->proposal_ms;
	case MET_H_FOLLOWER_SYNC:
		return &s->follower_sync_ms;
	case MET_H_OBSERVER_SYNC:
		return &s->observer_sync_ms;
	case MET_H_WATCH_CREATED:
	case MET_H_WATCH_DELETED:
	case MET_H_WATCH_CHANGED:
	case MET_H_WATCH_CHILDREN:
		return &s->watch_fired[i - MET_H_WATCH_CREATED];
	case MET_H_PROPOSAL_ACK:
		return &s->proposal_ack_ms;
	default:
		if (i >= MET_H_ACK && i < MET_NHIST)
			return &s->ack_ms[i - MET_H_ACK];
		break;
	}
	assert(0 && "a known histogram");
	return &s->read_us;
}

static void window_move(struct met_window *w, const struct dp_stats *s, uint64_t now_ms)
{
	uint32_t drop = 0;

	while (drop < w->n && now_ms - w->at_ms[drop] > MET_WINDOW_MS)
		drop++;
	if (!drop && w->n == MET_WINDOW_SLOTS && now_ms - w->at_ms[w->n - 1] >= MET_WINDOW_STEP_MS)
		drop = 1; /* full: the oldest makes room */
	if (drop) {
		memmove(w->at_ms, w->at_ms + drop, (w->n - drop) * sizeof(w->at_ms[0]));
		memmove(w->h, w->h + drop, (w->n - drop) * sizeof(w->h[0]));
		memmove(w->ns, w->ns + drop, (w->n - drop) * sizeof(w->ns[0]));
		w->n -= drop;
	}
	if (!w->n || now_ms - w->at_ms[w->n - 1] >= MET_WINDOW_STEP_MS) {
		w->at_ms[w->n] = now_ms;
		for (unsigned i = 0; i < MET_NHIST; i++)
			w->h[w->n][i] = *snapshot_hist(s, i);
		memcpy(w->ns[w->n], s->ns_hist, sizeof(w->ns[0]));
		w->n++;
	}
	assert(w->n >= 1 && w->n <= MET_WINDOW_SLOTS);
	assert(w->at_ms[0] <= now_ms);
}

/*
 * A summary of histogram i: quantiles qs over the window (the oldest
 * copy to now), _count and _sum since start, values times scale.
 */
static void summary(struct jute_out *o, const struct met_window *w, const struct dp_stats *s,
		    enum met_hist i, const char *name, const char *help, const double *qs,
		    size_t nq, double scale)
{
	const struct hist *now = snapshot_hist(s, i);
	struct hist win;

	hist_sub(now, &w->h[0][i], &win);
	prom_family(o, name, "summary", help);
	prom_summary(o, name, NULL, 0, qs, nq, &win, scale, now->count, (double)now->sum);
}

/*
 * ACK_LATENCY, a SummarySet (ADVANCED, ms): the provider's labelled
 * summary, label "key" = the member id, one child per id seen; the
 * family is there on every server (registered by ServerMetrics), with
 * samples once a leader counted acks.
 */
static void ack_latency(struct jute_out *o, const struct met_window *w, const struct dp_stats *s)
{
	assert(s->nack <= DP_STATS_MAX_ACK);
	prom_family(o, "ack_latency", "summary", "ack_latency");
	for (uint32_t k = 0; k < s->nack; k++) {
		const struct hist *now = &s->ack_ms[k];
		struct hist win;
		char id[12];
		struct prom_label l = {"key", id};

		snprintf(id, sizeof(id), "%" PRIu32, s->ack_id[k]);
		hist_sub(now, &w->h[0][MET_H_ACK + k], &win);
		prom_summary(o, "ack_latency", &l, 1, q_advanced, 3, &win, 1, now->count,
			     (double)now->sum);
	}
}

/* A ZooKeeper gauge: HELP is its name, as the provider registers it. */
static void zk_gauge(struct jute_out *o, const char *name, double v)
{
	prom_single(o, name, "gauge", name, v);
}

static void zk_counter(struct jute_out *o, const char *name, double v)
{
	prom_single(o, name, "counter", name, v);
}

/* AvgMinMaxCounter.getAvg in ms: sum / count to 4 decimals, HALF_UP. */
static double avg_ms(const struct dp_stats *s)
{
	if (!s->latency_count)
		return 0;
	return floor((double)s->latency_sum_us / 1000.0 / (double)s->latency_count * 10000.0 +
		     0.5) /
	       10000.0;
}

/*
 * ServerMetrics' replication side (docs/OPERATIONS.md says how each maps
 * onto the raft log).  Counters are registered on every server, as
 * ServerMetrics registers them whatever the role (0 where nothing counts
 * them); the summaries are BASIC (the median), ms but the txns loaded.
 */
static void replication_metrics(const struct met_window *w, const struct dp_stats *s,
				struct jute_out *o)
{
	zk_counter(o, "proposal_count", (double)s->proposal_count);
	zk_counter(o, "commit_count", (double)s->commit_count);
	zk_counter(o, "snap_count", (double)s->snap_count);
	zk_counter(o, "diff_count", (double)s->diff_count);
	zk_counter(o, "learner_proposal_received_count", (double)s->learner_proposal_count);
	zk_counter(o, "learner_commit_received_count", (double)s->learner_commit_count);
	zk_counter(o, "unrecoverable_error_count", (double)s->unrecoverable_error_count);
	summary(o, w, s, MET_H_SNAPSHOT, "snapshottime", "snapshottime", q_basic, 1, 1);
	summary(o, w, s, MET_H_DBINIT, "dbinittime", "dbinittime", q_basic, 1, 1);
	summary(o, w, s, MET_H_SNAP_LOAD, "startup_snap_load_time", "startup_snap_load_time",
		q_basic, 1, 1);
	summary(o, w, s, MET_H_TXNS_LOAD, "startup_txns_load_time", "startup_txns_load_time",
		q_basic, 1, 1);
	summary(o, w, s, MET_H_TXNS_LOADED, "startup_txns_loaded", "startup_txns_loaded", q_basic,
		1, 1);
	summary(o, w, s, MET_H_INFLIGHT_SNAPS, "inflight_snap_count", "inflight_snap_count",
		q_basic, 1, 1);
	summary(o, w, s, MET_H_UNAVAIL, "unavailable_time", "unavailable_time", q_basic, 1, 1);
	summary(o, w, s, MET_H_LEADER_UNAVAIL, "leader_unavailable_time", "leader_unavailable_time",
		q_basic, 1, 1);
	summary(o, w, s, MET_H_FOLLOWER_SYNC, "follower_sync_time", "follower_sync_time", q_basic,
		1, 1);
	summary(o, w, s, MET_H_OBSERVER_SYNC, "observer_sync_time", "observer_sync_time", q_basic,
		1, 1);
	/* ADVANCED, ms */
	summary(o, w, s, MET_H_PROPAGATION, "propagation_latency", "propagation_latency",
		q_advanced, 3, 1);
	summary(o, w, s, MET_H_QUORUM_ACK, "quorum_ack_latency", "quorum_ack_latency", q_advanced,
		3, 1);
	summary(o, w, s, MET_H_COMMIT_PROP, "commit_propagation_latency",
		"commit_propagation_latency", q_advanced, 3, 1);
	summary(o, w, s, MET_H_PROPOSAL, "proposal_latency", "proposal_latency", q_advanced, 3, 1);
	summary(o, w, s, MET_H_PROPOSAL_ACK, "proposal_ack_creation_latency",
		"proposal_ack_creation_latency", q_advanced, 3, 1);
	ack_latency(o, w, s);
}

/*
 * The dataplane workers' response and watch figures: ServerStats'
 * clientResponseStats gauges (-1 until a reply, as BufferStats; srst
 * resets them); ServerMetrics' counters RESPONSE_BYTES, WATCH_BYTES,
 * SESSIONLESS_CONNECTIONS_EXPIRED, CONNECTION_REVALIDATE_COUNT,
 * STALE_SESSIONS_EXPIRED (the core's session tracker) and
 * REVALIDATE_COUNT (learners' revalidations the leader answered); and
 * NODE_*_WATCHER (BASIC summaries: watchers per event).
 */
static void dataplane_metrics(const struct met_window *w, const struct dp_stats *s,
			      struct jute_out *o)
{
	zk_gauge(o, "last_client_response_size", (double)s->last_response_size);
	zk_gauge(o, "max_client_response_size", (double)s->max_response_size);
	zk_gauge(o, "min_client_response_size", (double)s->min_response_size);
	zk_counter(o, "response_bytes", (double)s->response_bytes);
	zk_counter(o, "watch_bytes", (double)s->watch_bytes);
	zk_counter(o, "sessionless_connections_expired", (double)s->sessionless_expired);
	zk_counter(o, "connection_revalidate_count", (double)s->conn_revalidate);
	zk_counter(o, "stale_sessions_expired", (double)s->stale_expired);
	zk_counter(o, "revalidate_count", (double)s->revalidate);
	summary(o, w, s, MET_H_WATCH_CREATED, "node_created_watch_count",
		"node_created_watch_count", q_basic, 1, 1);
	summary(o, w, s, MET_H_WATCH_DELETED, "node_deleted_watch_count",
		"node_deleted_watch_count", q_basic, 1, 1);
	summary(o, w, s, MET_H_WATCH_CHANGED, "node_changed_watch_count",
		"node_changed_watch_count", q_basic, 1, 1);
	summary(o, w, s, MET_H_WATCH_CHILDREN, "node_children_watch_count",
		"node_children_watch_count", q_basic, 1, 1);
}

/*
 * ServerMetrics' READ_PER_NAMESPACE and WRITE_PER_NAMESPACE: BASIC summary
 * sets, so one family each, registered from the start (HELP and TYPE even
 * before any key, as the Java client prints a labelled summary without
 * children), then per key (PrometheusMetricsProvider's label "key") the
 * median over the window, _count and _sum since start.  Keys are the
 * namespaces with a slot (common/nsstat.h) and "/other" for the rest,
 * each in the sets that counted it.
 */
static void namespace_metrics(const struct met_window *w, const struct dp_stats *s,
			      struct jute_out *o)
{
	static const char *const names[NSSTAT_KINDS] = {"read_per_namespace",
							"write_per_namespace"};

	assert(s->ns_nkeys <= NSSTAT_KEYS);
	for (uint32_t k = 0; k < NSSTAT_KINDS; k++) {
		prom_family(o, names[k], "summary", names[k]);
		for (uint32_t i = 0; i < NSSTAT_SLOTS; i++) {
			const struct hist *now = &s->ns_hist[k][i];
			struct prom_label l = {"key", s->ns_key[i]};
			struct hist win;

			if ((i >= s->ns_nkeys && i != NSSTAT_OTHER) || !now->count)
				continue;
			hist_sub(now, &w->ns[0][k][i], &win);
			prom_summary(o, names[k], &l, 1, q_basic, 1, &win, 1, now->count,
				     (double)now->sum);
		}
	}
}

static void zookeeper_metrics(struct met_window *w, const struct dp_stats *s, uint64_t now_ms,
			      struct jute_out *o)
{
	window_move(w, s, now_ms);

	/* ServerStats (ZooKeeperServer.registerMetrics), latencies in ms. */
	zk_gauge(o, "avg_latency", avg_ms(s));
	zk_gauge(o, "max_latency",
		 s->have_latency ? (double)((s->latency_max_us + 999) / 1000) : 0);
	zk_gauge(o, "min_latency", s->have_latency ? (double)(s->latency_min_us / 1000) : 0);
	zk_gauge(o, "packets_received", (double)s->packets_received);
	zk_gauge(o, "packets_sent", (double)s->packets_sent);
	zk_gauge(o, "num_alive_connections", s->connections);
	zk_gauge(o, "outstanding_requests", (double)s->outstanding);
	zk_gauge(o, "uptime", (double)s->uptime_ms);
	zk_gauge(o, "znode_count", (double)s->znode_count);
	zk_gauge(o, "watch_count", (double)s->watches);
	zk_gauge(o, "ephemerals_count", (double)s->ephemerals_count);
	zk_gauge(o, "approximate_data_size", (double)s->approximate_data_size);
	zk_gauge(o, "global_sessions", s->global_sessions);
	if (s->open_fds >= 0)
		zk_gauge(o, "open_file_descriptor_count", (double)s->open_fds);
	zk_gauge(o, "max_file_descriptor_count", (double)s->max_fds);

	/* LeaderZooKeeperServer.registerMetrics: a serving leader's. */
	if (s->leader) {
		zk_gauge(o, "learners", s->learners);
		zk_gauge(o, "synced_followers", s->synced_followers);
		zk_gauge(o, "synced_observers", s->synced_observers);
		zk_gauge(o, "pending_syncs", s->pending_syncs);
		zk_gauge(o, "leader_uptime", (double)s->leader_uptime_ms);
		zk_gauge(o, "last_proposal_size", (double)s->last_proposal_size);
		zk_gauge(o, "max_proposal_size", (double)s->max_proposal_size);
		zk_gauge(o, "min_proposal_size", (double)s->min_proposal_size);
	}

	/* ServerMetrics' counters. */
	zk_counter(o, "bytes_received_count", (double)s->bytes_received);
	zk_counter(o, "connection_rejected", (double)s->rejected);
	zk_counter(o, "looking_count", (double)s->looking_count);

	/* ServerMetrics' summaries: READ_LATENCY, UPDATE_LATENCY (ADVANCED, ms). */
	summary(o, w, s, MET_H_READ, "readlatency", "readlatency", q_advanced, 3, 1e-3);
	summary(o, w, s, MET_H_UPDATE, "updatelatency", "updatelatency", q_advanced, 3, 1e-3);
	/* FSYNC_TIME (ms) and BATCH_SIZE (BASIC): the log writer's. */
	summary(o, w, s, MET_H_FSYNC, "fsynctime", "fsynctime", q_basic, 1, 1e-3);
	summary(o, w, s, MET_H_BATCH, "sync_processor_batch_size", "sync_processor_batch_size",
		q_basic, 1, 1);
	/* ELECTION_TIME (BASIC, ms). */
	summary(o, w, s, MET_H_ELECT, "election_time", "election_time", q_basic, 1, 1);

	replication_metrics(w, s, o);
	dataplane_metrics(w, s, o);
	namespace_metrics(w, s, o);
}

/* One family of per-worker samples: labels worker and core. */
static void per_core(struct jute_out *o, const struct dp_stats *s, const char *name,
		     const char *type, const char *help, size_t off, int width)
{
	assert(width == 4 || width == 8);
	assert(off + (size_t)width <= sizeof(struct dp_stats_core));
	prom_family(o, name, type, help);
	for (uint32_t i = 0; i < s->ncores; i++) {
		const struct dp_stats_core *c = &s->cores[i];
		const uint8_t *f = (const uint8_t *)c + off;
		char worker[12], core[12];
		struct prom_label l[2] = {{"worker", worker}, {"core", core}};
		double v;

		snprintf(worker, sizeof(worker), "%" PRIu32, c->worker);
		if (c->cpu >= 0)
			snprintf(core, sizeof(core), "%" PRId32, c->cpu);
		else
			snprintf(core, sizeof(core), "unpinned");
		if (width == 8) {
			uint64_t x;

			memcpy(&x, f, sizeof(x));
			v = (double)x;
		} else {
			uint32_t x;

			memcpy(&x, f, sizeof(x));
			v = x;
		}
		prom_sample(o, name, NULL, l, 2, v);
	}
}

/*
 * Where a stack counter's name reads as something else to Prometheus'
 * conventions: ip_not_us ("us" is microseconds there).
 */
static const char *net_prom_name(const char *name)
{
	return strcmp(name, "ip_not_us") ? name : "ip_not_ours";
}

/*
 * The backend's own counters (the dpdk stack's, mntr's cheetah_net_*):
 * cheetah_net_<name>_total per worker for a counter, cheetah_net_<name>
 * per worker for a gauge, one cheetah_net_<name>_total for a device's.
 */
static void net_metrics(const struct dp_stats *s, struct jute_out *o)
{
	char name[96], help[160], worker[12], core[12];

	for (uint32_t i = 0; i < s->nnet; i++) {
		uint8_t kind = s->net_kind[i];

		snprintf(name, sizeof(name), "cheetah_net_%s%s", net_prom_name(s->net_name[i]),
			 kind == DP_STATS_NET_GAUGE ? "" : "_total");
		snprintf(help, sizeof(help), "%s of the dpdk backend's %s (mntr's cheetah_net_%s)",
			 s->net_name[i],
			 kind == DP_STATS_NET_DEVICE ? "device" : "stack on a dataplane worker",
			 s->net_name[i]);
		prom_family(o, name, kind == DP_STATS_NET_GAUGE ? "gauge" : "counter", help);
		if (kind == DP_STATS_NET_DEVICE) {
			prom_sample(o, name, NULL, NULL, 0,
				    s->ncores ? (double)s->cores[0].net[i] : 0);
			continue;
		}
		for (uint32_t c = 0; c < s->ncores; c++) {
			struct prom_label l[2] = {{"worker", worker}, {"core", core}};

			snprintf(worker, sizeof(worker), "%" PRIu32, s->cores[c].worker);
			if (s->cores[c].cpu >= 0)
				snprintf(core, sizeof(core), "%" PRId32, s->cores[c].cpu);
			else
				snprintf(core, sizeof(core), "unpinned");
			prom_sample(o, name, NULL, l, 2, (double)s->cores[c].net[i]);
		}
	}
}

#define CORE_FIELD(f) offsetof(struct dp_stats_core, f), (int)sizeof(((struct dp_stats_core *)0)->f)

static void cheetah_metrics(const struct met_window *w, const struct dp_stats *s,
			    struct jute_out *o)
{
	summary(o, w, s, MET_H_BATCH, "cheetah_group_commit_records",
		"Transactions per group commit (one log write and fdatasync), over the last "
		"10 minutes; sync_processor_batch_size has the median only",
		q_advanced, 3, 1);
	prom_single(o, "cheetah_last_zxid", "gauge",
		    "The zxid of the last transaction applied to this server's tree "
		    "(a new leader's epoch at once, as srvr's Zxid)",
		    (double)s->last_zxid);
	if (s->myid) {
		prom_single(o, "cheetah_leader_id", "gauge",
			    "The myid of the leader this ensemble member serves with; 0 while "
			    "it has none (looking)",
			    s->leader_id);
	}
	if (s->leader) {
		prom_single(o, "cheetah_quorum_size", "gauge",
			    "Voting members of the ensemble (the leader's view)", s->quorum_size);
		prom_family(o, "cheetah_follower_lag_entries", "gauge",
			    "Entries (group-commit batches) of the leader's log not yet durable on "
			    "a follower or observer");
		for (uint32_t i = 0; i < s->nlag; i++) {
			char id[12];
			struct prom_label l = {"follower", id};

			snprintf(id, sizeof(id), "%" PRIu32, s->lag_id[i]);
			prom_sample(o, "cheetah_follower_lag_entries", NULL, &l, 1,
				    (double)s->lag_entries[i]);
		}
	}

	per_core(o, s, "cheetah_dataplane_packets_received_total", "counter",
		 "Client packets received by a dataplane worker (frames and four-letter words)",
		 CORE_FIELD(packets_received));
	per_core(o, s, "cheetah_dataplane_packets_sent_total", "counter",
		 "Client packets sent by a dataplane worker", CORE_FIELD(packets_sent));
	per_core(o, s, "cheetah_dataplane_bytes_received_total", "counter",
		 "Bytes received from clients by a dataplane worker", CORE_FIELD(bytes_received));
	per_core(o, s, "cheetah_dataplane_connections_rejected_total", "counter",
		 "Client connections a dataplane worker refused (maxClientCnxns, descriptors)",
		 CORE_FIELD(rejected));
	per_core(o, s, "cheetah_dataplane_requests_total", "counter",
		 "Requests a dataplane worker answered (those readlatency and updatelatency count)",
		 CORE_FIELD(requests));
	per_core(o, s, "cheetah_dataplane_connections", "gauge",
		 "Client connections open on a dataplane worker", CORE_FIELD(connections));
	per_core(o, s, "cheetah_dataplane_sessions", "gauge",
		 "Sessions whose connection is on a dataplane worker", CORE_FIELD(sessions));
	per_core(o, s, "cheetah_dataplane_watches", "gauge",
		 "Watches registered on a dataplane worker", CORE_FIELD(watches));
	per_core(o, s, "cheetah_dataplane_outstanding_requests", "gauge",
		 "Requests received and not yet answered on a dataplane worker",
		 CORE_FIELD(outstanding));
	net_metrics(s, o);
}

void met_render(struct met_window *w, const struct dp_stats *s, uint64_t now_ms, struct jute_out *o)
{
	zookeeper_metrics(w, s, now_ms, o);
	cheetah_metrics(w, s, o);
}
