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
 * ZooKeeper's default metrics provider shows them; then the backend's
 * own lines (dp_io_ops.mntr).
 *
 * Thread: the worker answering the word.
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
#include "common/log.h"
#include "config/config.h"
#include "dataplane/admin/admin_priv.h"
#include "dataplane/admin/admin.h"
#include "dataplane/io/io_priv.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"
#include "tree/tree.h"

/* Gauges and counters, in the order ZooKeeper 3.8.0 prints them. */
static const char *const mntr_plain[] = {
	"version", "server_state", "ephemerals_count", "num_alive_connections",
	"avg_latency", "outstanding_requests", "znode_count", "global_sessions",
	"non_mtls_remote_conn_count", "last_client_response_size", "packets_sent",
	"packets_received", "max_client_response_size", "connection_drop_probability",
	"watch_count", "auth_failed_count", "min_latency", "max_file_descriptor_count",
	"approximate_data_size", "open_file_descriptor_count", "local_sessions",
	"uptime", "max_latency", "outstanding_tls_handshake",
	"min_client_response_size", "non_mtls_local_conn_count", "proposal_count",
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

/*
 * zk_server_state's value, then in an ensemble zk_peer_state and, on the
 * leader, ZooKeeper 3.8's leader-only keys (LeaderZooKeeperServer's
 * monitor values; "synced" here: linked both ways with the leader).
 */
static void ensemble_lines(struct dp *dp, struct jute_out *o)
{
	const char *st = dp_admin_server_state(dp);
	struct repl_quorum q;

	dp_admin_outs(o, st);
	if (!strcmp(st, "standalone"))
		return;
	if (!strcmp(st, "read-only"))
		return; /* not a QuorumZooKeeperServer: no zk_peer_state */
	jute_out_printf(o, "\nzk_peer_state\t%s - broadcast",
			!strcmp(st, "leader")	? "leading"
			: !strcmp(st, "observer") ? "observing"
						  : "following");
	if (!dp->repl || !repl_quorum_stats(dp->repl, &q))
		return;
	jute_out_printf(o,
			"\nzk_learners\t%u\nzk_synced_followers\t%u\n"
			"zk_synced_non_voting_followers\t0\nzk_synced_observers\t%u\n"
			"zk_pending_syncs\t%u\nzk_leader_uptime\t%" PRIu64 "\nzk_quorum_size\t%u\n"
			"zk_last_proposal_size\t%" PRId64 "\nzk_min_proposal_size\t%" PRId64
			"\nzk_max_proposal_size\t%" PRId64,
			q.learners, q.synced_followers, q.synced_observers, q.pending_syncs,
			q.leader_uptime_ms, q.quorum_size, q.last_proposal_size, q.min_proposal_size,
			q.max_proposal_size);
}

/*
 * The backend's own lines after ZooKeeper's keys (dpdk: its stacks'
 * counters, cheetah_net_*; docs/OPERATIONS.md).  The instances live until
 * every worker has stopped (free_all), so any worker may read them.
 */
static void backend_lines(struct dp *dp, struct jute_out *o)
{
	struct dp_io **ios;

	if (!dp->ops->mntr)
		return;
	ios = calloc(dp->nworkers, sizeof(*ios));
	if (!ios)
		return; /* the backend's lines are left out, ZooKeeper's keys stand */
	for (uint32_t i = 0; i < dp->nworkers; i++)
		ios[i] = dp->workers[i]->io;
	dp->ops->mntr(ios, dp->nworkers, o);
	free(ios);
}

/*
 * Where requests wait (struct dp_stage_stats, struct repl_stages):
 * counts and sums in microseconds since start, as cheetah_stage_* lines
 * (docs/OPERATIONS.md); the difference of two mntr answers gives a run's
 * averages (docs/BENCHMARKS.md, "The middle of the curve").
 */
static void stage_lines(struct dp *dp, const struct dp_stage_stats *w, struct jute_out *o)
{
	struct repl_stages c = {0};

	if (dp->repl)
		repl_stage_stats(dp->repl, &c);
	jute_out_printf(o,
			"cheetah_stage_reads_at_once\t%" PRIu64 "\n"
			"cheetah_stage_reads_queued\t%" PRIu64 "\n"
			"cheetah_stage_reads_queued_us\t%" PRIu64 "\n"
			"cheetah_stage_reads_core\t%" PRIu64 "\n"
			"cheetah_stage_reads_core_us\t%" PRIu64 "\n"
			"cheetah_stage_writes\t%" PRIu64 "\n"
			"cheetah_stage_writes_us\t%" PRIu64 "\n"
			"cheetah_stage_parked\t%" PRIu64 "\n"
			"cheetah_stage_parked_us\t%" PRIu64 "\n"
			"cheetah_stage_behind\t%" PRIu64 "\n"
			"cheetah_stage_behind_us\t%" PRIu64 "\n",
			w->reads_at_once, w->reads_queued, w->reads_queued_ns / 1000, w->reads_core,
			w->reads_core_ns / 1000, w->writes, w->writes_ns / 1000, w->parked,
			w->parked_ns / 1000, w->behind, w->behind_ns / 1000);
	jute_out_printf(o,
			"cheetah_stage_core_txns\t%" PRIu64 "\n"
			"cheetah_stage_core_txn_to_log_us\t%" PRIu64 "\n"
			"cheetah_stage_core_txn_to_apply_us\t%" PRIu64 "\n"
			"cheetah_stage_core_batches\t%" PRIu64 "\n"
			"cheetah_stage_core_batch_txns\t%" PRIu64 "\n"
			"cheetah_stage_core_fsyncs\t%" PRIu64 "\n"
			"cheetah_stage_core_fsync_us\t%" PRIu64 "\n"
			"cheetah_stage_core_reads_at_once\t%" PRIu64 "\n"
			"cheetah_stage_core_reads_waited\t%" PRIu64 "\n"
			"cheetah_stage_core_read_wait_us\t%" PRIu64 "\n"
			"cheetah_stage_core_iterations\t%" PRIu64 "\n"
			"cheetah_stage_core_busy\t%" PRIu64 "\n"
			"cheetah_stage_core_yields\t%" PRIu64 "\n"
			"cheetah_stage_core_sleeps\t%" PRIu64 "\n",
			c.txns, c.txn_log_ns / 1000, c.txn_apply_ns / 1000, c.batches, c.batch_txns,
			c.fsyncs, c.fsync_ns / 1000, c.reads_at_once, c.reads_waited,
			c.read_wait_ns / 1000, c.iterations, c.busy, c.yields, c.sleeps);
}

void dp_admin_mntr(struct dp *dp, struct jute_out *o)
{
	struct dp_admin_totals t;
	struct dp_admin_repl_counters rc;
	struct rlimit rl;
	char avg[40];

	dp_admin_totals(dp, &t);
	dp_admin_repl_counters(dp, true, &rc, NULL);
	dp_admin_lat_avg_ms(&t, avg, sizeof(avg));
	if (getrlimit(RLIMIT_NOFILE, &rl))
		rl.rlim_cur = 0;
	for (size_t i = 0; i < sizeof(mntr_plain) / sizeof(mntr_plain[0]); i++) {
		const char *k = mntr_plain[i];

		jute_out_printf(o, "zk_%s\t", k);
		if (!strcmp(k, "version"))
			dp_admin_outs(o, dp_admin_zk_version());
		else if (!strcmp(k, "server_state"))
			ensemble_lines(dp, o);
		else if (!strcmp(k, "ephemerals_count"))
			jute_out_printf(o, "%" PRIu64, t.p.ephemerals_hint);
		else if (!strcmp(k, "num_alive_connections"))
			jute_out_printf(o, "%u", t.conns);
		else if (!strcmp(k, "avg_latency"))
			dp_admin_outs(o, avg);
		else if (!strcmp(k, "outstanding_requests"))
			jute_out_printf(o, "%" PRIu64, t.p.outstanding);
		else if (!strcmp(k, "znode_count"))
			jute_out_printf(o, "%" PRIu64, dp_admin_node_count(dp));
		else if (!strcmp(k, "approximate_data_size"))
			jute_out_printf(o, "%" PRId64, approximate_data_size(dp));
		else if (!strcmp(k, "global_sessions"))
			/* SessionTracker's count: disconnected sessions too, until expiry. */
			jute_out_printf(o, "%u", dp->repl ? repl_session_count(dp->repl) : t.p.sessions);
		else if (!strcmp(k, "packets_sent"))
			jute_out_printf(o, "%" PRIu64, t.p.packets_sent);
		else if (!strcmp(k, "packets_received"))
			jute_out_printf(o, "%" PRIu64, t.p.packets_received);
		else if (!strcmp(k, "watch_count"))
			jute_out_printf(o, "%" PRIu64, t.p.watches);
		else if (!strcmp(k, "min_latency"))
			jute_out_printf(o, "%" PRIu64, dp_admin_lat_min_ms(&t));
		else if (!strcmp(k, "max_latency"))
			jute_out_printf(o, "%" PRIu64, dp_admin_lat_max_ms(&t));
		else if (!strcmp(k, "max_file_descriptor_count"))
			jute_out_printf(o, "%llu", (unsigned long long)rl.rlim_cur);
		else if (!strcmp(k, "open_file_descriptor_count"))
			jute_out_printf(o, "%" PRId64, dp_admin_open_fds());
		else if (!strcmp(k, "uptime"))
			jute_out_printf(o, "%" PRIu64, (clock_mono_ns() - dp->start_ns) / 1000000);
		else if (!strcmp(k, "bytes_received_count"))
			jute_out_printf(o, "%" PRIu64, t.bytes_received);
		else if (!strcmp(k, "connection_rejected"))
			jute_out_printf(o, "%" PRIu64, t.rejected);
		else if (!strcmp(k, "unsuccessful_handshake"))
			jute_out_printf(o, "%" PRIu64, t.tls_failed);
		else if (!strcmp(k, "connection_drop_probability"))
			dp_admin_outs(o, "0.0");
		else if (!strcmp(k, "last_client_response_size"))
			jute_out_printf(o, "%" PRId64, t.resp_last); /* -1 while none */
		else if (!strcmp(k, "min_client_response_size"))
			jute_out_printf(o, "%" PRId64, t.resp_min);
		else if (!strcmp(k, "max_client_response_size"))
			jute_out_printf(o, "%" PRId64, t.resp_max);
		else if (!strcmp(k, "response_bytes"))
			jute_out_printf(o, "%" PRIu64, t.mntr_response_bytes);
		else if (!strcmp(k, "watch_bytes"))
			jute_out_printf(o, "%" PRIu64, t.mntr_watch_bytes);
		else if (!strcmp(k, "sessionless_connections_expired"))
			jute_out_printf(o, "%" PRIu64, t.mntr_sessionless);
		else if (!strcmp(k, "connection_revalidate_count"))
			jute_out_printf(o, "%" PRIu64, t.mntr_revalidate);
		else if (!strcmp(k, "proposal_count"))
			jute_out_printf(o, "%" PRIu64, rc.proposals);
		else if (!strcmp(k, "commit_count"))
			jute_out_printf(o, "%" PRIu64, rc.commits);
		else if (!strcmp(k, "learner_proposal_received_count"))
			jute_out_printf(o, "%" PRIu64, rc.learner_proposals);
		else if (!strcmp(k, "learner_commit_received_count"))
			jute_out_printf(o, "%" PRIu64, rc.learner_commits);
		else if (!strcmp(k, "snap_count"))
			jute_out_printf(o, "%" PRIu64, rc.snaps);
		else if (!strcmp(k, "diff_count"))
			jute_out_printf(o, "%" PRIu64, rc.diffs);
		else if (!strcmp(k, "unrecoverable_error_count"))
			jute_out_printf(o, "%" PRIu64, rc.unrecoverable);
		else if (!strcmp(k, "stale_sessions_expired"))
			jute_out_printf(o, "%" PRIu64, rc.stale);
		else if (!strcmp(k, "revalidate_count"))
			jute_out_printf(o, "%" PRIu64, rc.revalidate);
		else if (!strcmp(k, "looking_count"))
			jute_out_printf(o, "%" PRIu64, rc.looking);
		else
			dp_admin_outs(o, "0");
		dp_admin_outs(o, "\n");
	}
	struct repl_summary batch = {0}, fsync = {0};

	if (dp->repl)
		repl_sync_summaries(dp->repl, &batch, &fsync);
	for (size_t i = 0; i < sizeof(mntr_summaries) / sizeof(mntr_summaries[0]); i++) {
		const char *n = mntr_summaries[i].name;
		const struct repl_summary *live = NULL;

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
		if (live) {
			dp_admin_summary_avg(live, avg, sizeof(avg));
			jute_out_printf(o,
			     "zk_avg_%s\t%s\nzk_min_%s\t%" PRIu64 "\nzk_max_%s\t%" PRIu64
			     "\nzk_cnt_%s\t%" PRIu64 "\nzk_sum_%s\t%" PRIu64 "\n",
			     n, avg, n, live->min, n, live->max, n, live->cnt, n, live->sum);
		} else {
			jute_out_printf(o, "zk_avg_%s\t0.0\nzk_min_%s\t0\nzk_max_%s\t0\nzk_cnt_%s\t0\nzk_sum_%s\t0\n",
			     n, n, n, n, n);
		}
		if (mntr_summaries[i].pct)
			jute_out_printf(o, "zk_p50_%s\t0\nzk_p95_%s\t0\nzk_p99_%s\t0\nzk_p999_%s\t0\n", n, n, n,
			     n);
	}
	stage_lines(dp, &t.p.stage, o);
	backend_lines(dp, o);
}
