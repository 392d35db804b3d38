/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mntr (MonitorCommand, ZooKeeperServer.dumpMonitorValues): every key
 * ZooKeeper 3.8.0 prints, in its order, with the metrics Cheetah has no
 * counterpart for (request throttler, JVM pauses, commit processor
 * queues, ...) at 0; the log writer's summaries (repl_sync_summaries);
 * the ensemble's lines on a leader; the workers' response figures
 * (client response sizes, response_bytes, watch_bytes, sessionless and
 * revalidated connections, the node_*_watch_count summaries) and the
 * core's counters (dp_admin_repl_counters) since start or srst, as
 * ZooKeeper's default metrics provider shows them; the summaries kept
 * as histograms (common/hist.h: snapshottime, election_time, the
 * replication latencies, readlatency, updatelatency, ack_latency per
 * member) with their AvgMinMaxCounter and percentiles since start or srst
 * (hist_mm, hist_since_reset);
 * then the backend's own lines (dp_io_ops.mntr).
 *
 * One list of typed fields (dp_admin_mntr_fields, dp_info.h's
 * dp_mntr_field) makes both mntr's text and the AdminServer's monitor
 * JSON (dp_info_monitor), so the two cannot drift apart and nothing
 * parses text.
 *
 * Thread: the worker answering the word, or the AdminServer's (online).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hist.h"
#include "common/log.h"
#include "common/nsstat.h"
#include "config/config.h"
#include "dataplane/admin/admin_priv.h"
#include "dataplane/admin/admin.h"
#include "dataplane/dp_info.h"
#include "dataplane/io/io_priv.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"
#include "tree/tree.h"

/*
 * Gauges and counters, in the order ZooKeeper 3.8.0 prints them: its
 * gauge map's, which holds LeaderZooKeeperServer's leader-only gauges
 * (LEADER_ONLY) among the others on a leader, and QuorumZooKeeperServer's
 * quorum_size on every ensemble member (ensemble_fields, quorum_fields).
 */
static const char *const mntr_plain[] = {
	"version", "server_state", "ephemerals_count", "num_alive_connections",
	"avg_latency", "min_proposal_size", "outstanding_requests", "znode_count",
	"global_sessions", "non_mtls_remote_conn_count", "last_client_response_size",
	"packets_sent", "packets_received", "max_proposal_size", "max_client_response_size",
	"synced_followers", "connection_drop_probability", "watch_count",
	"synced_non_voting_followers", "synced_observers", "auth_failed_count",
	"min_latency", "max_file_descriptor_count", "approximate_data_size",
	"open_file_descriptor_count", "last_proposal_size", "pending_syncs",
	"leader_uptime", "local_sessions", "uptime", "max_latency",
	"outstanding_tls_handshake", "learners", "min_client_response_size",
	"non_mtls_local_conn_count", "quorum_size", "proposal_count",
	"watch_bytes", "outstanding_changes_removed", "throttled_ops",
	"stale_requests_dropped", "large_requests_rejected", "insecure_admin_count",
	"connection_rejected", "cnxn_closed_without_zk_server_running",
	"sessionless_connections_expired", "looking_count", "dead_watchers_queued",
	"stale_requests", "connection_drop_count", "learner_proposal_received_count",
	"digest_mismatches_count", "dead_watchers_cleared",
	"response_packet_cache_hits", "bytes_received_count",
	"add_dead_watcher_stall_time", "request_throttle_wait_count",
	"requests_not_forwarded_to_commit_processor", "response_packet_cache_misses",
	"ensemble_auth_success", "prep_processor_request_queued",
	"learner_commit_received_count", "stale_replies", "connection_request_count",
	"response_bytes", "ensemble_auth_fail", "diff_count",
	"response_packet_get_children_cache_misses", "connection_revalidate_count",
	"quit_leading_due_to_disloyal_voter", "snap_count",
	"unrecoverable_error_count", "unsuccessful_handshake", "commit_count",
	"stale_sessions_expired", "response_packet_get_children_cache_hits",
	"sync_processor_request_queued", "outstanding_changes_queued",
	"request_commit_queued", "ensemble_auth_skip",
	"skip_learner_request_to_next_processor_count", "tls_handshake_exceeded",
	"revalidate_count",
};

/* Summaries (avg/min/max/cnt/sum, and p50/p95/p99/p999 when true). */
static const struct {
	const char *name;
	bool pct;
} mntr_summaries[] = {
	{"socket_closing_time", false},
	{"proposal_process_time", false},
	{"leader_unavailable_time", false},
	{"node_created_watch_count", false},
	{"session_queues_drained", false},
	{"write_commit_proc_req_queued", false},
	{"connection_token_deficit", false},
	{"read_commit_proc_req_queued", false},
	{"node_deleted_watch_count", false},
	{"startup_txns_load_time", false},
	{"sync_processor_queue_size", false},
	{"follower_sync_time", false},
	{"prep_processor_queue_size", false},
	{"fsynctime", false},
	{"inflight_snap_count", false},
	{"reads_issued_from_session_queue", false},
	{"learner_request_processor_queue_size", false},
	{"snapshottime", false},
	{"unavailable_time", false},
	{"startup_txns_loaded", false},
	{"reads_after_write_in_session_queue", false},
	{"requests_in_session_queue", false},
	{"write_commit_proc_issued", false},
	{"prep_process_time", false},
	{"pending_session_queue_size", false},
	{"time_waiting_empty_pool_in_commit_processor_read_ms", false},
	{"commit_process_time", false},
	{"dbinittime", false},
	{"inflight_diff_count", false},
	{"netty_queued_buffer_capacity", false},
	{"election_time", false},
	{"commit_commit_proc_req_queued", false},
	{"sync_processor_batch_size", false},
	{"node_children_watch_count", false},
	{"write_batch_time_in_commit_processor", false},
	{"read_commit_proc_issued", false},
	{"concurrent_request_processing_in_commit_processor", false},
	{"observer_sync_time", false},
	{"node_changed_watch_count", false},
	{"sync_process_time", false},
	{"startup_snap_load_time", false},
	{"prep_processor_queue_time_ms", true},
	{"jvm_pause_time_ms", true},
	{"close_session_prep_time", true},
	{"read_commitproc_time_ms", true},
	{"updatelatency", true},
	{"local_write_committed_time_ms", true},
	{"request_throttle_queue_time_ms", true},
	{"readlatency", true},
	{"quorum_ack_latency", true},
	{"om_commit_process_time_ms", true},
	{"read_final_proc_time_ms", true},
	{"commit_propagation_latency", true},
	{"dead_watchers_cleaner_latency", true},
	{"write_final_proc_time_ms", true},
	{"proposal_ack_creation_latency", true},
	{"proposal_latency", true},
	{"om_proposal_process_time_ms", true},
	{"sync_processor_queue_and_flush_time_ms", true},
	{"propagation_latency", true},
	{"server_write_committed_time_ms", true},
	{"sync_processor_queue_time_ms", true},
	{"sync_processor_queue_flush_time_ms", true},
	{"write_commitproc_time_ms", true},
};

/* DataTree.approximateDataSize(): the root's second key "" adds nothing. */
static int64_t approximate_data_size(struct dp *dp)
{
	struct tree *t = dp_admin_tree(dp);

	return t ? tree_approximate_data_size(t) : 0;
}

/* Where mntr's fields go: the caller's function, and a scratch key. */
struct emit {
	void (*fn)(void *arg, const struct dp_mntr_field *f);
	void *arg;
	char key[NSSTAT_KEY_MAX + 48]; /* "avg_" namespace "_write_per_namespace" */
};

static void put(struct emit *e, bool zk, const char *key, struct dp_mntr_field f)
{
	f.key = key;
	f.zk = zk;
	e->fn(e->arg, &f);
}

static void put_u(struct emit *e, const char *key, uint64_t v)
{
	put(e, true, key, (struct dp_mntr_field){.type = DP_MNTR_UINT, .u = v});
}

static void put_i(struct emit *e, const char *key, int64_t v)
{
	put(e, true, key, (struct dp_mntr_field){.type = DP_MNTR_INT, .i = v});
}

static void put_d(struct emit *e, const char *key, double v)
{
	put(e, true, key, (struct dp_mntr_field){.type = DP_MNTR_REAL, .d = v});
}

static void put_s(struct emit *e, const char *key, const char *v)
{
	put(e, true, key, (struct dp_mntr_field){.type = DP_MNTR_STR, .s = v});
}

/* "<pre>_<name>" into the scratch key (mntr's summary keys). */
static const char *key2(struct emit *e, const char *pre, const char *name)
{
	snprintf(e->key, sizeof(e->key), "%s_%s", pre, name);
	return e->key;
}

/*
 * zk_server_state, then in an ensemble zk_peer_state.  Returns whether
 * this server is a QuorumZooKeeperServer (a leader, follower or
 * observer: zk_quorum_size), and fills *q with the leader's figures
 * (*lead) for ZooKeeper 3.8's leader-only keys (LeaderZooKeeperServer's
 * gauges; "synced" here: linked both ways with the leader).
 */
static bool ensemble_fields(struct dp *dp, struct emit *e, struct repl_quorum *q, bool *lead)
{
	const char *st = dp_admin_server_state(dp);

	*lead = false;
	put_s(e, "server_state", st);
	if (!strcmp(st, "standalone"))
		return false;
	if (!strcmp(st, "read-only"))
		return false; /* not a QuorumZooKeeperServer: no zk_peer_state */
	put_s(e, "peer_state",
	      !strcmp(st, "leader")	? "leading - broadcast"
	      : !strcmp(st, "observer") ? "observing - broadcast"
					: "following - broadcast");
	*lead = q && dp->repl && repl_quorum_stats(dp->repl, q);
	return true;
}

/*
 * Whether k is a leader-only key of mntr_plain (put when lead, from *q)
 * or quorum_size (put on a member); puts it if so.
 */
static bool quorum_fields(struct emit *e, const char *k, const struct repl_quorum *q, bool lead,
			  bool member, uint32_t quorum_size)
{
	static const char *const leader_only[] = {
	    "learners",		  "synced_followers",  "synced_non_voting_followers",
	    "synced_observers",	  "pending_syncs",     "leader_uptime",
	    "last_proposal_size", "min_proposal_size", "max_proposal_size",
	};
	size_t i;

	if (!strcmp(k, "quorum_size")) {
		/* the leader's figure is published with its others */
		if (member)
			put_u(e, k, lead ? q->quorum_size : quorum_size);
		return true;
	}
	for (i = 0; i < sizeof(leader_only) / sizeof(leader_only[0]); i++)
		if (!strcmp(k, leader_only[i]))
			break;
	if (i == sizeof(leader_only) / sizeof(leader_only[0]))
		return false;
	if (!lead)
		return true;
	if (!strcmp(k, "learners"))
		put_u(e, k, q->learners);
	else if (!strcmp(k, "synced_followers"))
		put_u(e, k, q->synced_followers);
	else if (!strcmp(k, "synced_non_voting_followers"))
		put_u(e, k, 0);
	else if (!strcmp(k, "synced_observers"))
		put_u(e, k, q->synced_observers);
	else if (!strcmp(k, "pending_syncs"))
		put_u(e, k, q->pending_syncs);
	else if (!strcmp(k, "leader_uptime"))
		put_u(e, k, q->leader_uptime_ms);
	else if (!strcmp(k, "last_proposal_size"))
		put_i(e, k, q->last_proposal_size);
	else if (!strcmp(k, "min_proposal_size"))
		put_i(e, k, q->min_proposal_size);
	else
		put_i(e, k, q->max_proposal_size);
	return true;
}

static void backend_put(void *arg, const char *key, uint64_t v)
{
	put(arg, false, key, (struct dp_mntr_field){.type = DP_MNTR_UINT, .u = v});
}

/*
 * The backend's own fields after ZooKeeper's keys (dpdk: its stacks'
 * counters, cheetah_net_*; docs/OPERATIONS.md).  The instances live until
 * every worker has stopped (free_all), so any thread may read them.
 */
static void backend_fields(struct dp *dp, struct emit *e)
{
	struct dp_io **ios;

	if (!dp->ops->mntr)
		return;
	ios = calloc(dp->nworkers, sizeof(*ios));
	if (!ios)
		return; /* the backend's fields are left out, ZooKeeper's keys stand */
	for (uint32_t i = 0; i < dp->nworkers; i++)
		ios[i] = dp->workers[i]->io;
	dp->ops->mntr(ios, dp->nworkers, backend_put, e);
	free(ios);
}

/*
 * Where requests wait (struct dp_stage_stats, struct repl_stages):
 * counts and sums in microseconds since start, as cheetah_stage_* fields
 * (docs/OPERATIONS.md); the difference of two mntr answers gives a run's
 * averages (docs/BENCHMARKS.md, "The middle of the curve").
 */
static void stage_fields(struct dp *dp, const struct dp_stage_stats *w, struct emit *e)
{
	struct repl_stages c = {0};

	if (dp->repl)
		repl_stage_stats(dp->repl, &c);
	const struct {
		const char *k;
		uint64_t v;
	} f[] = {
	    {"cheetah_stage_reads_at_once", w->reads_at_once},
	    {"cheetah_stage_reads_queued", w->reads_queued},
	    {"cheetah_stage_reads_queued_us", w->reads_queued_ns / 1000},
	    {"cheetah_stage_reads_core", w->reads_core},
	    {"cheetah_stage_reads_core_us", w->reads_core_ns / 1000},
	    {"cheetah_stage_writes", w->writes},
	    {"cheetah_stage_writes_us", w->writes_ns / 1000},
	    {"cheetah_stage_parked", w->parked},
	    {"cheetah_stage_parked_us", w->parked_ns / 1000},
	    {"cheetah_stage_behind", w->behind},
	    {"cheetah_stage_behind_us", w->behind_ns / 1000},
	    {"cheetah_stage_core_txns", c.txns},
	    {"cheetah_stage_core_txn_to_log_us", c.txn_log_ns / 1000},
	    {"cheetah_stage_core_txn_to_apply_us", c.txn_apply_ns / 1000},
	    {"cheetah_stage_core_batches", c.batches},
	    {"cheetah_stage_core_batch_txns", c.batch_txns},
	    {"cheetah_stage_core_fsyncs", c.fsyncs},
	    {"cheetah_stage_core_fsync_us", c.fsync_ns / 1000},
	    {"cheetah_stage_core_reads_at_once", c.reads_at_once},
	    {"cheetah_stage_core_reads_waited", c.reads_waited},
	    {"cheetah_stage_core_read_wait_us", c.read_wait_ns / 1000},
	    {"cheetah_stage_core_iterations", c.iterations},
	    {"cheetah_stage_core_busy", c.busy},
	    {"cheetah_stage_core_yields", c.yields},
	    {"cheetah_stage_core_sleeps", c.sleeps},
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		put(e, false, f[i].k, (struct dp_mntr_field){.type = DP_MNTR_UINT, .u = f[i].v});
}

/*
 * A percentile of the values since start or srst (hist_since_reset copy
 * s, or NULL: none counted), as AvgMinMaxPercentileCounter.values():
 * Math.round of the reservoir's quantile, a long (0 when empty, as
 * UniformSnapshot's 0.0).  Ours is the bucket's midpoint (hist_quantile,
 * within 1/16 of the value) in units of div (1000: microseconds shown in
 * ZooKeeper's milliseconds), rounded half up.
 */
static uint64_t pct_value(const struct hist *s, double q, uint64_t div)
{
	double v = s ? hist_quantile(s, q) : NAN;

	if (isnan(v))
		return 0;
	assert(v >= 0 && div > 0);
	return (uint64_t)floor(v / (double)div + 0.5);
}

/*
 * avg/min/max/cnt/sum of one AvgMinMaxCounter, then p50..p999 when pct
 * (of s in units of div, pct_value).
 */
static void summary_fields(struct emit *e, const char *n, const struct hist_mm *m, bool pct,
			   const struct hist *s, uint64_t div)
{
	put_d(e, key2(e, "avg", n), dp_admin_avg4(m->sum, m->cnt));
	put_u(e, key2(e, "min", n), m->min);
	put_u(e, key2(e, "max", n), m->max);
	put_u(e, key2(e, "cnt", n), m->cnt);
	put_u(e, key2(e, "sum", n), m->sum);
	if (!pct)
		return;
	put_u(e, key2(e, "p50", n), pct_value(s, 0.5, div));
	put_u(e, key2(e, "p95", n), pct_value(s, 0.95, div));
	put_u(e, key2(e, "p99", n), pct_value(s, 0.99, div));
	put_u(e, key2(e, "p999", n), pct_value(s, 0.999, div));
}

/* A key's bin in a 16-bin ConcurrentHashMap (HashMap.spread). */
static uint32_t bin16(const char *key)
{
	uint32_t h = nsstat_java_hash(key);

	return (h ^ (h >> 16)) & 15;
}

/*
 * The default metrics provider's basicSummarySets after the summaries:
 * write_per_namespace and read_per_namespace (common/nsstat.h), each an
 * AvgMinMaxCounterSet printing, per key it has ever counted, the key's
 * avg/min/max/cnt/sum since start or srst as zk_avg_<key>_<set>...  Sets
 * and keys come in their ConcurrentHashMap's order: bin of String.hashCode
 * in a table sized for the count (java_hash.c), then first counted (a
 * bin's list keeps insertion order).  The overflow slot is one more key.
 */
static void namespace_fields(struct dp *dp, struct emit *e)
{
	static const char *const set_name[NSSTAT_KINDS] = {"read_per_namespace",
							   "write_per_namespace"};
	uint32_t kinds[NSSTAT_KINDS] = {NSSTAT_WRITE, NSSTAT_READ}; /* registration order */
	uint32_t slots[NSSTAT_SLOTS];
	struct nsstat_fig *f;
	char name[NSSTAT_KEY_MAX + 32];

	if (!dp->ns)
		return;
	f = malloc(sizeof(*f));
	if (!f)
		return; /* out of memory: ZooKeeper's other keys stand */
	/* The two sets in a 16-bin map: by bin, ties in registration order. */
	if (bin16(set_name[NSSTAT_READ]) < bin16(set_name[NSSTAT_WRITE])) {
		kinds[0] = NSSTAT_READ;
		kinds[1] = NSSTAT_WRITE;
	}
	for (uint32_t k = 0; k < NSSTAT_KINDS; k++) {
		uint32_t n = nsstat_order(dp->ns, kinds[k], slots);

		for (uint32_t j = 0; j < n; j++) {
			struct hist_mm m;

			nsstat_merge(dp->ns, kinds[k], slots[j], 0, f);
			m = (struct hist_mm){f->cnt, f->sum, f->cnt ? f->min : 0, f->cnt ? f->max : 0};
			snprintf(name, sizeof(name), "%s_%s", nsstat_key(dp->ns, slots[j]),
				 set_name[kinds[k]]);
			summary_fields(e, name, &m, false, NULL, 1);
		}
	}
	free(f);
}

/* The histogram behind a summary of mntr_summaries (REPL_ZK_NHIST + k: others). */
enum { SRC_NONE = -1, SRC_ELECTION = REPL_ZK_NHIST, SRC_READ, SRC_UPDATE };

static int summary_source(const char *n)
{
	static const struct {
		const char *name;
		int src;
	} m[] = {
	    {"snapshottime", REPL_ZK_SNAPSHOT_MS},
	    {"dbinittime", REPL_ZK_DB_INIT_MS},
	    {"startup_snap_load_time", REPL_ZK_SNAP_LOAD_MS},
	    {"startup_txns_load_time", REPL_ZK_TXNS_LOAD_MS},
	    {"startup_txns_loaded", REPL_ZK_TXNS_LOADED},
	    {"inflight_snap_count", REPL_ZK_INFLIGHT_SNAPS},
	    {"unavailable_time", REPL_ZK_UNAVAILABLE_MS},
	    {"leader_unavailable_time", REPL_ZK_LEADER_UNAVAILABLE_MS},
	    {"follower_sync_time", REPL_ZK_FOLLOWER_SYNC_MS},
	    {"observer_sync_time", REPL_ZK_OBSERVER_SYNC_MS},
	    {"propagation_latency", REPL_ZK_PROPAGATION_MS},
	    {"quorum_ack_latency", REPL_ZK_QUORUM_ACK_MS},
	    {"commit_propagation_latency", REPL_ZK_COMMIT_PROPAGATION_MS},
	    {"proposal_latency", REPL_ZK_PROPOSAL_MS},
	    {"proposal_ack_creation_latency", REPL_ZK_PROPOSAL_ACK_MS},
	    {"election_time", SRC_ELECTION},
	    {"readlatency", SRC_READ},
	    {"updatelatency", SRC_UPDATE},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(n, m[i].name))
			return m[i].src;
	return SRC_NONE;
}

/*
 * A microsecond counter in ZooKeeper's whole milliseconds (readlatency,
 * updatelatency): min rounded down, max up (as min/max_latency), the sum
 * to the nearest ms.
 */
static void mm_us_to_ms(struct hist_mm *m)
{
	m->min /= 1000;
	m->max = (m->max + 999) / 1000;
	m->sum = (m->sum + 500) / 1000;
}

/*
 * The AvgMinMaxCounter of summary source src since start or srst, and
 * into h[3] its values since then (hist_since_reset; *div: h[3]'s units
 * per ZooKeeper's); h: 5 scratch copies.
 */
static void source_mm(struct dp *dp, int src, struct hist *h, struct hist_mm *out, uint64_t *div)
{
	uint64_t looking;

	*out = (struct hist_mm){0};
	*div = 1;
	memset(&h[3], 0, sizeof(h[3]));
	if (!dp->repl)
		return;
	if (src < REPL_ZK_NHIST) {
		repl_zk_hist(dp->repl, (enum repl_zk_hist)src, h);
		hist_since_reset(h, &h[3]);
	} else if (src == SRC_ELECTION) {
		repl_election_stats(dp->repl, &looking, h);
		hist_since_reset(h, &h[3]);
	} else {
		/* h[1], h[2]: each worker's copies, merged into h[0]; h[4]: since srst */
		memset(h, 0, sizeof(*h));
		for (uint32_t i = 0; i < dp->nworkers; i++) {
			struct dp_proto *p = dp_admin_proto_of(dp->workers[i]);
			const struct hist *w = src == SRC_READ ? &h[1] : &h[2];

			if (!p)
				continue;
			dp_proto_latency(p, &h[1], &h[2]);
			hist_merge(h, w);
			hist_since_reset(w, &h[4]);
			hist_merge(&h[3], &h[4]);
		}
		*div = 1000;
	}
	hist_mm(h, out);
	if (src == SRC_READ || src == SRC_UPDATE)
		mm_us_to_ms(out);
}

/*
 * The order of n ids (the decimal strings of ids[], put in slot order)
 * in a ConcurrentHashMap: by bin of the spread String.hashCode in a
 * table of 16 that doubles once the count reaches 3/4 of it, a bin's
 * keys in insertion order (nsstat_order's rule).  Into order[]: slots.
 */
static void java_map_order(const uint32_t *ids, uint32_t n, uint32_t *order)
{
	uint32_t bin[REPL_ACK_KEYS], table = 16;
	char key[16];

	assert(n <= REPL_ACK_KEYS);
	while (n >= table - table / 4)
		table *= 2;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t hc;

		snprintf(key, sizeof(key), "%" PRIu32, ids[i]);
		hc = nsstat_java_hash(key);
		bin[i] = ((hc ^ (hc >> 16)) & 0x7fffffff) & (table - 1);
		order[i] = i;
	}
	/* Insertion sort, stable: ties (one bin) keep the slots' order. */
	for (uint32_t i = 1; i < n; i++) {
		uint32_t k = order[i], j = i;

		for (; j > 0 && bin[order[j - 1]] > bin[k]; j--)
			order[j] = order[j - 1];
		order[j] = k;
	}
}

/*
 * ACK_LATENCY, a SummarySet (AvgMinMaxPercentileCounterSet): one summary
 * per member id that acknowledged, "<id>_ack_latency", after the
 * summaries (ZooKeeper dumps summary sets after them), in its map's
 * order (java_map_order), not the order the ids were first seen.
 */
static void ack_fields(struct dp *dp, struct emit *e)
{
	uint32_t ids[REPL_ACK_KEYS], order[REPL_ACK_KEYS], n;
	struct hist *h;
	struct hist_mm m;
	char name[32];

	if (!dp->repl)
		return;
	/* 42 KiB: off the worker's stack; h[REPL_ACK_KEYS]: since srst */
	h = malloc((REPL_ACK_KEYS + 1) * sizeof(*h));
	if (!h)
		return;
	n = repl_ack_hists(dp->repl, ids, h, REPL_ACK_KEYS);
	assert(n <= REPL_ACK_KEYS);
	java_map_order(ids, n, order);
	for (uint32_t j = 0; j < n; j++) {
		uint32_t i = order[j];

		hist_mm(&h[i], &m);
		hist_since_reset(&h[i], &h[REPL_ACK_KEYS]);
		snprintf(name, sizeof(name), "%" PRIu32 "_ack_latency", ids[i]);
		summary_fields(e, name, &m, true, &h[REPL_ACK_KEYS], 1);
	}
	free(h);
}

void dp_admin_mntr_fields(struct dp *dp, void (*fn)(void *arg, const struct dp_mntr_field *f),
			  void *arg)
{
	struct dp_admin_totals t;
	struct dp_admin_repl_counters rc;
	struct rlimit rl;
	struct emit em = {.fn = fn, .arg = arg};
	struct emit *e = &em;
	struct hist *h;
	struct repl_quorum *q = malloc(sizeof(*q)); /* 2 KiB: off the worker's stack */
	bool lead = false, member = false;
	uint32_t quorum_size = dp->repl ? repl_quorum_size(dp->repl) : 0;

	dp_admin_totals(dp, &t);
	dp_admin_repl_counters(dp, true, &rc, NULL);
	if (getrlimit(RLIMIT_NOFILE, &rl))
		rl.rlim_cur = 0;
	for (size_t i = 0; i < sizeof(mntr_plain) / sizeof(mntr_plain[0]); i++) {
		const char *k = mntr_plain[i];

		if (!strcmp(k, "version"))
			put_s(e, k, dp_admin_zk_version());
		else if (!strcmp(k, "server_state"))
			member = ensemble_fields(dp, e, q, &lead);
		else if (quorum_fields(e, k, q, lead, member, quorum_size))
			continue;
		else if (!strcmp(k, "ephemerals_count"))
			put_u(e, k, t.p.ephemerals_hint);
		else if (!strcmp(k, "num_alive_connections"))
			put_u(e, k, t.conns);
		else if (!strcmp(k, "avg_latency"))
			/* ServerStats' AvgMinMaxCounter, ms to 4 decimals (HALF_UP) */
			put_d(e, k,
			      t.p.latency_count
				  ? floor((double)t.p.latency_sum_us / 1000.0 /
					      (double)t.p.latency_count * 10000.0 +
					  0.5) /
					10000.0
				  : 0);
		else if (!strcmp(k, "outstanding_requests"))
			put_u(e, k, t.p.outstanding);
		else if (!strcmp(k, "znode_count"))
			put_u(e, k, dp_admin_node_count(dp));
		else if (!strcmp(k, "approximate_data_size"))
			put_i(e, k, approximate_data_size(dp));
		else if (!strcmp(k, "global_sessions"))
			/* SessionTracker's count: disconnected sessions too, until expiry. */
			put_u(e, k, dp->repl ? repl_session_count(dp->repl) : t.p.sessions);
		else if (!strcmp(k, "packets_sent"))
			put_u(e, k, t.p.packets_sent);
		else if (!strcmp(k, "packets_received"))
			put_u(e, k, t.p.packets_received);
		else if (!strcmp(k, "watch_count"))
			put_u(e, k, t.p.watches);
		else if (!strcmp(k, "min_latency"))
			put_u(e, k, dp_admin_lat_min_ms(&t));
		else if (!strcmp(k, "max_latency"))
			put_u(e, k, dp_admin_lat_max_ms(&t));
		else if (!strcmp(k, "max_file_descriptor_count"))
			put_u(e, k, (uint64_t)rl.rlim_cur);
		else if (!strcmp(k, "open_file_descriptor_count"))
			put_i(e, k, dp_admin_open_fds());
		else if (!strcmp(k, "uptime"))
			put_u(e, k, (clock_mono_ns() - dp->start_ns) / 1000000);
		else if (!strcmp(k, "bytes_received_count"))
			put_u(e, k, t.bytes_received);
		else if (!strcmp(k, "connection_rejected"))
			put_u(e, k, t.rejected);
		else if (!strcmp(k, "unsuccessful_handshake"))
			put_u(e, k, t.tls_failed);
		else if (!strcmp(k, "connection_drop_probability"))
			put_d(e, k, 0.0);
		else if (!strcmp(k, "last_client_response_size"))
			put_i(e, k, t.resp_last); /* -1 while none */
		else if (!strcmp(k, "min_client_response_size"))
			put_i(e, k, t.resp_min);
		else if (!strcmp(k, "max_client_response_size"))
			put_i(e, k, t.resp_max);
		else if (!strcmp(k, "response_bytes"))
			put_u(e, k, t.mntr_response_bytes);
		else if (!strcmp(k, "watch_bytes"))
			put_u(e, k, t.mntr_watch_bytes);
		else if (!strcmp(k, "sessionless_connections_expired"))
			put_u(e, k, t.mntr_sessionless);
		else if (!strcmp(k, "connection_revalidate_count"))
			put_u(e, k, t.mntr_revalidate);
		else if (!strcmp(k, "proposal_count"))
			put_u(e, k, rc.proposals);
		else if (!strcmp(k, "commit_count"))
			put_u(e, k, rc.commits);
		else if (!strcmp(k, "learner_proposal_received_count"))
			put_u(e, k, rc.learner_proposals);
		else if (!strcmp(k, "learner_commit_received_count"))
			put_u(e, k, rc.learner_commits);
		else if (!strcmp(k, "snap_count"))
			put_u(e, k, rc.snaps);
		else if (!strcmp(k, "diff_count"))
			put_u(e, k, rc.diffs);
		else if (!strcmp(k, "unrecoverable_error_count"))
			put_u(e, k, rc.unrecoverable);
		else if (!strcmp(k, "stale_sessions_expired"))
			put_u(e, k, rc.stale);
		else if (!strcmp(k, "revalidate_count"))
			put_u(e, k, rc.revalidate);
		else if (!strcmp(k, "looking_count"))
			put_u(e, k, rc.looking);
		else
			put_u(e, k, 0);
	}
	struct repl_summary batch = {0}, fsync = {0};

	if (dp->repl)
		repl_sync_summaries(dp->repl, &batch, &fsync);
	h = malloc(5 * sizeof(*h)); /* scratch copies, off the worker's stack */
	for (size_t i = 0; i < sizeof(mntr_summaries) / sizeof(mntr_summaries[0]); i++) {
		const char *n = mntr_summaries[i].name;
		const struct repl_summary *live = NULL;
		struct hist_mm m = {0};
		const struct hist *since = NULL;
		uint64_t div = 1;
		int src = summary_source(n);

		/* The log writer's: records per fdatasync batch, fdatasync ms. */
		if (!strcmp(n, "sync_processor_batch_size"))
			live = &batch;
		else if (!strcmp(n, "fsynctime"))
			live = &fsync;
		else if (!strcmp(n, "node_created_watch_count"))
			live = &t.watch_fired[0];
		else if (!strcmp(n, "node_deleted_watch_count"))
			live = &t.watch_fired[1];
		else if (!strcmp(n, "node_changed_watch_count"))
			live = &t.watch_fired[2];
		else if (!strcmp(n, "node_children_watch_count"))
			live = &t.watch_fired[3];
		if (live)
			m = (struct hist_mm){live->cnt, live->sum, live->min, live->max};
		else if (src != SRC_NONE && h) {
			source_mm(dp, src, h, &m, &div);
			since = &h[3];
		}
		summary_fields(e, n, &m, mntr_summaries[i].pct, since, div);
	}
	free(h);
	free(q);
	namespace_fields(dp, e);
	ack_fields(dp, e);
	stage_fields(dp, &t.p.stage, e);
	backend_fields(dp, e);
}

/* mntr's text: "zk_<key>\t<value>\n" for ZooKeeper's keys, "<key>\t<value>\n" for Cheetah's. */
static void text_field(void *arg, const struct dp_mntr_field *f)
{
	struct jute_out *o = arg;
	char d[40];

	jute_out_printf(o, "%s%s\t", f->zk ? "zk_" : "", f->key);
	switch (f->type) {
	case DP_MNTR_INT:
		jute_out_printf(o, "%" PRId64 "\n", f->i);
		break;
	case DP_MNTR_UINT:
		jute_out_printf(o, "%" PRIu64 "\n", f->u);
		break;
	case DP_MNTR_REAL:
		dp_admin_java_double(d, sizeof(d), f->d);
		jute_out_printf(o, "%s\n", d);
		break;
	case DP_MNTR_STR:
		dp_admin_outs(o, f->s);
		dp_admin_outs(o, "\n");
		break;
	}
}

void dp_admin_mntr(struct dp *dp, struct jute_out *o)
{
	dp_admin_mntr_fields(dp, text_field, o);
}
