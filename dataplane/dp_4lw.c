/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Four-letter words: ZooKeeper's admin commands on the client port.
 *
 * A connection whose first 4 bytes spell a word ZooKeeper 3.8 knows
 * (FourLetterCommands: conf cons crst dirs dump envi gtmk hash isro mntr
 * ruok srst srvr stat stmk wchc wchp wchs) gets the word's text and is
 * closed, as NIOServerCnxn.checkFourLetterWord does; any other 4 bytes are
 * a frame length.  A word left out of 4lw.commands.whitelist is answered
 * "<word> is not executed because it is not in the whitelist." (NopCommand).
 * The texts follow ZooKeeper 3.8's command classes (RuokCommand,
 * StatCommand and ServerStats.toString, MonitorCommand with
 * ZooKeeperServer.dumpMonitorValues and the metrics provider's key set,
 * ConfCommand/ZooKeeperServer.dumpConf, EnvCommand/Environment.list,
 * DirsCommand, WatchCommand, ConsCommand, DumpCommand, IsroCommand,
 * TraceMaskCommand, SetTraceMaskCommand, DigestCommand,
 * CnxnStatResetCommand, StatResetCommand), checked against the output of
 * a running ZooKeeper 3.8.0 (Debian's).
 *
 * Where the numbers come from.  Counters of the protocol layer are summed
 * over the workers with dp_proto_stats (read-only sharing: each worker
 * reads the others' counters, never writes them); the I/O layer adds its
 * own (four-letter words count as received packets, as in ZooKeeper;
 * bytes received; refused connections).  Latencies are kept in
 * microseconds and shown in milliseconds, ZooKeeper's unit, with its
 * rounding (AvgMinMaxCounter: average to 4 decimals, printed as Java
 * prints a double).  "Node count" and zk_znode_count are the tree's count
 * plus one: ZooKeeper's DataTree indexes the root under both "" and "/",
 * so a fresh ZooKeeper says 5 where the tree holds 4 znodes.  mntr prints
 * every key ZooKeeper 3.8.0 prints, in its order; the summaries
 * sync_processor_batch_size (records per group-commit batch) and fsynctime
 * (ms per fdatasync) are the log writer's, read lock-free through
 * repl_sync_summaries and zeroed by srst (ServerMetrics.resetAll); metrics of
 * ZooKeeper's own machinery that Cheetah has no counterpart for
 * (request throttler, JVM pauses, commit processor queues, ...) are 0.
 * After ZooKeeper's keys, the backend's own lines (dp_io_ops.mntr; dpdk:
 * its stacks' counters, cheetah_net_*).
 *
 * The admin mailbox.  wchc, wchp, wchs, cons, dump, the client list of
 * stat, crst and srst need every worker's view of its own connections
 * and watches, which only its thread may read.  The worker that received
 * the word posts one request to every worker's mailbox (a mutex-protected
 * list plus the worker's eventfd); each worker runs dp_proto_describe on
 * its own thread into its slot of the request; the last one hands the
 * request back to the asker, which assembles the text and answers.  This
 * is the admin path only: nothing on the request path takes the mutex.
 * The assembly: wchs sums the three numbers of each worker's summary ("N
 * connections watching M paths\nTotal watches:K"; a path watched on two
 * workers counts twice); for crst and srst each worker resets its own
 * counters in dp_proto_describe (and the I/O layer its own) and the text
 * is ZooKeeper's fixed reply.
 *
 * wchc, wchp, cons, stat and dump are answered in chunks (a million
 * watches make 54 MB of text, which took 559 ms to build on one worker,
 * stalling its other clients, and exceeded the output bound, so the
 * client got nothing; a dump of 300,000 ephemerals stalled the asking
 * worker ~100 ms).
 * The connection holds a cursor (struct dp_4lw_stream: which worker, where
 * in its table); one chunk request at a time goes to that worker's
 * mailbox, which appends about DP_4LW_CHUNK bytes of whole lines and
 * advances the cursor (dp_proto_describe_chunk); the asker queues them and
 * asks for the next chunk only once fewer than DP_4LW_LOW_WATER bytes wait
 * to be written (dp_4lw_more, from the flush).  So no worker spends more
 * than one chunk's time on a listing between two polls, a client that
 * reads slowly holds two chunks at most, and one that stops reading is
 * dropped after DP_CLOSE_LINGER_MS without progress (dp_conn.c).  The text
 * is the same: each worker's listing in worker order, then an empty line.
 * Like ZooKeeper's (which walks a concurrent hash map), a listing is not
 * one atomic snapshot: a watch added or removed while it runs may or may
 * not appear, and an entry replaced mid-listing is skipped, but every
 * line is whole and no watch that exists throughout is missed.  cons and
 * stat go the same way over each worker's connections (one line each,
 * "stat": ZooKeeper's brief form, in slot order: dp_conn_next), stat's
 * header first and its figures (ServerStats) after the last worker.
 *
 * dump (DumpCommand, standalone): "SessionTracker dump:" with the session
 * tracker's expiry buckets, which belong to the broadcast core, so the
 * word first asks the core (dp_proto_ask_sessions, REPL_IN_SESSIONS) and
 * starts only when the copy is back (dp_4lw_sessions); "ephemeral nodes
 * dump:" from the tree (dp_proto_eph_chunk, on the asking worker);
 * "Connections dump:" with the connections grouped by expiry bucket as
 * NIOServerCnxnFactory's ExpiryQueue prints them (each worker tags its
 * lines with their bucket; the buckets every connection has left, which
 * ZooKeeper still prints as "0 expire at", are not tracked).  It is
 * streamed in parts: the tracker's copy and the ephemerals are listed a
 * chunk at a time by the asker through its own mailbox (r->local), then
 * the connection lines are gathered from every worker a chunk at a time,
 * sorted once by bucket (the header needs the counts) and listed a chunk
 * at a time.  Times print as java.util.Date.toString() in the server's
 * time zone, e.g. "Sun Nov 22 09:30:00 UTC 2026".
 *
 * Threads: dp_4lw_run and the assembly run on the worker owning the
 * connection; dp_4lw_admin_poll on every worker for its mailbox.
 */
#include <assert.h>
#include <dirent.h>
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
#include "dp_io.h"
#include "replication/repl.h"
#include "tree/tree.h"

/* The ZooKeeper release whose client protocol and admin texts Cheetah speaks. */
#define ZK_COMPAT_VERSION "3.8.0"

static const struct {
	char word[5];
	uint32_t bit;
} words[] = {
	{ "conf", CFG_4LW_CONF }, { "cons", CFG_4LW_CONS }, { "crst", CFG_4LW_CRST },
	{ "dirs", CFG_4LW_DIRS }, { "dump", CFG_4LW_DUMP }, { "envi", CFG_4LW_ENVI },
	{ "gtmk", CFG_4LW_GTMK }, { "ruok", CFG_4LW_RUOK }, { "stmk", CFG_4LW_STMK },
	{ "srst", CFG_4LW_SRST }, { "srvr", CFG_4LW_SRVR }, { "stat", CFG_4LW_STAT },
	{ "wchc", CFG_4LW_WCHC }, { "wchp", CFG_4LW_WCHP }, { "wchs", CFG_4LW_WCHS },
	{ "mntr", CFG_4LW_MNTR }, { "isro", CFG_4LW_ISRO }, { "hash", CFG_4LW_HASH },
};

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

uint32_t dp_4lw_match(const uint8_t hdr[4])
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (memcmp(hdr, words[i].word, 4) == 0)
			return words[i].bit;
	return 0;
}

static const char *word_of(uint32_t bit)
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (words[i].bit == bit)
			return words[i].word;
	return "????";
}

/* ---- Text helpers ---- */

static void outs(struct jute_out *o, const char *s)
{
	jute_put_raw(o, s, strlen(s));
}

/*
 * A double as Java's Double.toString prints it: the shortest digits that
 * read back as the same double, plain between 10^-3 and 10^7 with at
 * least one digit after the point ("0.0", "12.5"), else d.dddE<n>.
 */
static void java_double(char *buf, size_t len, double v)
{
	char digits[32];
	int prec, exp10;

	if (v == 0) {
		snprintf(buf, len, "0.0");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(digits, sizeof(digits), "%.*e", prec - 1, v);
		if (strtod(digits, NULL) == v)
			break;
	}
	exp10 = atoi(strchr(digits, 'e') + 1);
	if (fabs(v) >= 1e-3 && fabs(v) < 1e7) {
		int decimals = prec - 1 - exp10;

		snprintf(buf, len, "%.*f", decimals > 0 ? decimals : 1, v);
		return;
	}
	/* d.ddd then E<exp>: the mantissa keeps at least one decimal. */
	char *e = strchr(digits, 'e');

	*e = '\0';
	if (!strchr(digits, '.'))
		strcat(digits, ".0");
	snprintf(buf, len, "%.24sE%d", digits, exp10);
}

/* ZooKeeper's full version line: "3.8.0-cheetah-0.1.0, built on ... UTC". */
static pthread_once_t version_once = PTHREAD_ONCE_INIT;
static char version_text[96];

static void version_init(void)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *date = __DATE__; /* "Mmm dd yyyy" */
	char mon[4] = { date[0], date[1], date[2], 0 };
	const char *m = strstr(months, mon);

	snprintf(version_text, sizeof(version_text), "%s-cheetah-%s, built on %.4s-%02d-%02d %.5s UTC",
		 ZK_COMPAT_VERSION, cfg_version(), date + 7, m ? (int)(m - months) / 3 + 1 : 1,
		 atoi(date + 4), __TIME__);
}

static const char *zk_version(void)
{
	pthread_once(&version_once, version_init);
	return version_text;
}

/* ---- Numbers over all workers ---- */

struct totals {
	struct dp_proto_stats p;
	uint64_t fourlw;
	uint64_t bytes_received;
	uint64_t rejected;
	uint32_t conns;
	bool have_latency;
};

static void totals(struct dp *dp, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < dp->nworkers; i++) {
		struct dp_worker *w = dp->workers[i];
		struct dp_proto *p = __atomic_load_n(&w->proto, __ATOMIC_ACQUIRE);
		struct dp_proto_stats s;

		t->fourlw += __atomic_load_n(&w->st.fourlw, __ATOMIC_RELAXED);
		t->bytes_received += __atomic_load_n(&w->st.bytes_received, __ATOMIC_RELAXED);
		t->rejected += __atomic_load_n(&w->st.rejected, __ATOMIC_RELAXED);
		if (!p)
			continue;
		memset(&s, 0, sizeof(s));
		dp_proto_stats(p, &s);
		t->p.packets_received += s.packets_received;
		t->p.packets_sent += s.packets_sent;
		t->p.outstanding += s.outstanding;
		t->p.watches += s.watches;
		t->p.watched_paths += s.watched_paths;
		t->p.ephemerals_hint += s.ephemerals_hint;
		t->p.sessions += s.sessions;
		if (s.latency_count) {
			if (!t->have_latency || s.latency_min_us < t->p.latency_min_us)
				t->p.latency_min_us = s.latency_min_us;
			if (s.latency_max_us > t->p.latency_max_us)
				t->p.latency_max_us = s.latency_max_us;
			t->p.latency_sum_us += s.latency_sum_us;
			t->p.latency_count += s.latency_count;
			t->have_latency = true;
		}
	}
	t->p.packets_received += t->fourlw;
	t->conns = __atomic_load_n(&dp->nconns, __ATOMIC_RELAXED);
}

/* Latencies in ms as ZooKeeper's AvgMinMaxCounter gives them. */
static uint64_t lat_min_ms(const struct totals *t)
{
	return t->have_latency ? t->p.latency_min_us / 1000 : 0;
}

/*
 * ZooKeeper measures whole milliseconds (a difference of two ms clocks),
 * so its max is at least 1 once a request crossed a millisecond; rounding
 * ours up keeps min <= avg <= max as in its output.
 */
static uint64_t lat_max_ms(const struct totals *t)
{
	return t->have_latency ? (t->p.latency_max_us + 999) / 1000 : 0;
}

static void lat_avg_ms(const struct totals *t, char *buf, size_t len)
{
	double avg = 0;

	if (t->p.latency_count) {
		avg = (double)t->p.latency_sum_us / 1000.0 / (double)t->p.latency_count;
		avg = floor(avg * 10000.0 + 0.5) / 10000.0; /* setScale(4, HALF_UP) */
	}
	java_double(buf, len, avg);
}

/* AvgMinMaxCounter.getAvg: sum / cnt to 4 decimals, HALF_UP; 0 when empty. */
static void summary_avg(const struct repl_summary *s, char *buf, size_t len)
{
	double avg = 0;

	if (s->cnt)
		avg = floor((double)s->sum / (double)s->cnt * 10000.0 + 0.5) / 10000.0;
	java_double(buf, len, avg);
}

static struct tree *the_tree(struct dp *dp)
{
	return dp->repl ? repl_tree(dp->repl) : NULL;
}

static uint64_t node_count(struct dp *dp)
{
	struct tree *t = the_tree(dp);

	/* DataTree counts the root twice ("" and "/"). */
	return t ? tree_node_count(t) + 1 : 0;
}

static int64_t last_zxid(struct dp *dp)
{
	struct tree *t = the_tree(dp);
	int64_t z = t ? tree_last_zxid(t) : 0;
	struct repl_quorum q;

	/* A leader reports its new epoch at once, as ZooKeeper's (0x<term>00000000). */
	if (dp->repl && repl_quorum_stats(dp->repl, &q) && q.epoch_zxid > z)
		z = q.epoch_zxid;
	return z;
}

static const char *server_state(const struct dp *dp)
{
	return dp->repl ? repl_server_state(dp->repl) : "standalone";
}

/* ---- Commands answered on the spot ---- */

/* StatCommand's first lines (srvr, stat). */
static void version_lines(struct dp *dp, struct jute_out *o)
{
	jute_out_printf(o, "Zookeeper version: %s\n", zk_version());
	if (!strcmp(server_state(dp), "read-only"))
		outs(o, "READ-ONLY mode; serving only read-only clients\n");
}

static void server_stats(struct dp *dp, const struct totals *t, struct jute_out *o)
{
	char avg[40];

	lat_avg_ms(t, avg, sizeof(avg));
	jute_out_printf(o, "Latency min/avg/max: %" PRIu64 "/%s/%" PRIu64 "\n", lat_min_ms(t), avg,
	     lat_max_ms(t));
	jute_out_printf(o, "Received: %" PRIu64 "\n", t->p.packets_received);
	jute_out_printf(o, "Sent: %" PRIu64 "\n", t->p.packets_sent);
	jute_out_printf(o, "Connections: %u\n", t->conns);
	jute_out_printf(o, "Outstanding: %" PRIu64 "\n", t->p.outstanding);
	jute_out_printf(o, "Zxid: 0x%" PRIx64 "\n", (uint64_t)last_zxid(dp));
	jute_out_printf(o, "Mode: %s\n", server_state(dp));
	jute_out_printf(o, "Node count: %" PRIu64 "\n", node_count(dp));
	/* LeaderZooKeeperServer's ServerStats adds the proposal sizes. */
	struct repl_quorum q;

	if (dp->repl && repl_quorum_stats(dp->repl, &q))
		jute_out_printf(o, "Proposal sizes last/min/max: %" PRId64 "/%" PRId64 "/%" PRId64 "\n",
				q.last_proposal_size, q.min_proposal_size, q.max_proposal_size);
}

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* DataTree.approximateDataSize(): the root's second key "" adds nothing. */
static int64_t approximate_data_size(struct dp *dp)
{
	struct tree *t = the_tree(dp);

	return t ? tree_approximate_data_size(t) : 0;
}

/*
 * zk_server_state's value, then in an ensemble zk_peer_state and, on the
 * leader, ZooKeeper 3.8's leader-only keys (LeaderZooKeeperServer's
 * monitor values; "synced" here: linked both ways with the leader).
 */
static void ensemble_lines(struct dp *dp, struct jute_out *o)
{
	const char *st = server_state(dp);
	struct repl_quorum q;

	outs(o, st);
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

static void mntr(struct dp *dp, struct jute_out *o)
{
	struct totals t;
	struct rlimit rl;
	char avg[40];

	totals(dp, &t);
	lat_avg_ms(&t, avg, sizeof(avg));
	if (getrlimit(RLIMIT_NOFILE, &rl))
		rl.rlim_cur = 0;
	for (size_t i = 0; i < sizeof(mntr_plain) / sizeof(mntr_plain[0]); i++) {
		const char *k = mntr_plain[i];

		jute_out_printf(o, "zk_%s\t", k);
		if (!strcmp(k, "version"))
			outs(o, zk_version());
		else if (!strcmp(k, "server_state"))
			ensemble_lines(dp, o);
		else if (!strcmp(k, "ephemerals_count"))
			jute_out_printf(o, "%" PRIu64, t.p.ephemerals_hint);
		else if (!strcmp(k, "num_alive_connections"))
			jute_out_printf(o, "%u", t.conns);
		else if (!strcmp(k, "avg_latency"))
			outs(o, avg);
		else if (!strcmp(k, "outstanding_requests"))
			jute_out_printf(o, "%" PRIu64, t.p.outstanding);
		else if (!strcmp(k, "znode_count"))
			jute_out_printf(o, "%" PRIu64, node_count(dp));
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
			jute_out_printf(o, "%" PRIu64, lat_min_ms(&t));
		else if (!strcmp(k, "max_latency"))
			jute_out_printf(o, "%" PRIu64, lat_max_ms(&t));
		else if (!strcmp(k, "max_file_descriptor_count"))
			jute_out_printf(o, "%llu", (unsigned long long)rl.rlim_cur);
		else if (!strcmp(k, "open_file_descriptor_count"))
			jute_out_printf(o, "%ld", open_fds());
		else if (!strcmp(k, "uptime"))
			jute_out_printf(o, "%" PRIu64, (clock_mono_ns() - dp->start_ns) / 1000000);
		else if (!strcmp(k, "bytes_received_count"))
			jute_out_printf(o, "%" PRIu64, t.bytes_received);
		else if (!strcmp(k, "connection_rejected"))
			jute_out_printf(o, "%" PRIu64, t.rejected);
		else if (!strcmp(k, "connection_drop_probability"))
			outs(o, "0.0");
		else if (strstr(k, "client_response_size"))
			outs(o, "-1"); /* BufferStats before any response: -1 */
		else
			outs(o, "0");
		outs(o, "\n");
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
		if (live) {
			summary_avg(live, avg, sizeof(avg));
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
	backend_lines(dp, o);
}

/* ZooKeeper's snapshot/log directory under dataDir/dataLogDir, absolute. */
static void store_dir(const char *dir, char *buf, size_t len)
{
	char abs[PATH_MAX];

	if (!dir)
		dir = ".";
	if (!realpath(dir, abs))
		snprintf(abs, sizeof(abs), "%s", dir);
	snprintf(buf, len, "%s/cheetah-1", abs);
}

/* Bytes in a directory tree (DirsCommand's getDirSize). */
static long long dir_size(const char *path, int depth)
{
	struct stat st;
	long long sum = 0;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st))
		return 0;
	if (!S_ISDIR(st.st_mode))
		return st.st_size;
	if (depth > 8 || !(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		char sub[PATH_MAX];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= sizeof(sub))
			continue;
		sum += dir_size(sub, depth + 1);
	}
	closedir(d);
	return sum;
}

/*
 * conf's tail: "serverId=0" on a standalone server; on an ensemble member
 * QuorumZooKeeperServer.dumpConf's lines, its own ports from its server.N
 * line, then "membership: " and the QuorumVerifier's text, which is what
 * /zookeeper/config holds (server lines, "version=<hex>", no final
 * newline).
 */
static void conf_quorum(struct dp *dp, struct jute_out *o)
{
	const struct cfg *cfg = dp->cfg;
	uint32_t myid = dp->repl ? repl_myid(dp->repl) : 0;
	const struct cfg_server *me = NULL;
	struct tree *t = the_tree(dp);
	const struct tree_node *n;

	jute_out_printf(o, "serverId=%u\n", myid);
	if (!myid)
		return;
	for (size_t i = 0; i < cfg->n_servers; i++)
		if (cfg->servers[i].id == (int64_t)myid)
			me = &cfg->servers[i];
	jute_out_printf(o, "initLimit=%d\n", cfg->init_limit);
	jute_out_printf(o, "syncLimit=%d\n", cfg->sync_limit);
	jute_out_printf(o, "electionAlg=%d\n", cfg->election_alg);
	jute_out_printf(o, "electionPort=%u\n", me ? me->election_port : 0);
	jute_out_printf(o, "quorumPort=%u\n", me ? me->quorum_port : 0);
	jute_out_printf(o, "peerType=%d\n", (int)(me ? me->type : cfg->peer_type));
	outs(o, "membership: \n");
	n = t ? tree_lookup(t, "/zookeeper/config", 17) : NULL;
	if (n) {
		struct zk_stat st;
		struct jute_buf data = {NULL, -1};

		tree_node_read(n, &st, &data);
		if (data.len > 0)
			jute_put_raw(o, data.p, (size_t)data.len);
	}
}

static void conf(struct dp *dp, struct jute_out *o)
{
	const struct cfg *cfg = dp->cfg;
	char data[PATH_MAX + 16], log[PATH_MAX + 16];

	store_dir(cfg->data_dir, data, sizeof(data));
	store_dir(cfg->data_log_dir ? cfg->data_log_dir : cfg->data_dir, log, sizeof(log));
	jute_out_printf(o, "clientPort=%u\n", dp->port);
	outs(o, "secureClientPort=-1\n");
	jute_out_printf(o, "dataDir=%s\n", data);
	jute_out_printf(o, "dataDirSize=%lld\n", dir_size(data, 0));
	jute_out_printf(o, "dataLogDir=%s\n", log);
	jute_out_printf(o, "dataLogSize=%lld\n", dir_size(log, 0));
	jute_out_printf(o, "tickTime=%d\n", cfg->tick_time);
	jute_out_printf(o, "maxClientCnxns=%d\n", cfg->max_client_cnxns);
	jute_out_printf(o, "minSessionTimeout=%d\n", cfg->min_session_timeout);
	jute_out_printf(o, "maxSessionTimeout=%d\n", cfg->max_session_timeout);
	jute_out_printf(o, "clientPortListenBacklog=%d\n", cfg->client_port_listen_backlog);
	conf_quorum(dp, o);
}

static void dirs(struct dp *dp, struct jute_out *o)
{
	const struct cfg *cfg = dp->cfg;
	char data[PATH_MAX + 16], log[PATH_MAX + 16];

	store_dir(cfg->data_dir, data, sizeof(data));
	store_dir(cfg->data_log_dir ? cfg->data_log_dir : cfg->data_dir, log, sizeof(log));
	jute_out_printf(o, "datadir_size: %lld\n", dir_size(data, 0));
	jute_out_printf(o, "logdir_size: %lld\n", dir_size(log, 0));
}

static void envi(struct jute_out *o)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long rss = 0, vsz;
	struct passwd *pw = getpwuid(geteuid());
	char host[256] = "<NA>", cwd[PATH_MAX] = "<NA>";
	const char *tmp = getenv("TMPDIR");
	struct utsname u;
	FILE *f;

	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), "<NA>");
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%llu %llu", &vsz, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	outs(o, "Environment:\n");
	jute_out_printf(o, "zookeeper.version=%s\n", zk_version());
	jute_out_printf(o, "host.name=%s\n", host);
	/* Java's properties have no meaning here; Java prints <NA> for a missing one. */
	outs(o, "java.version=<NA>\njava.vendor=<NA>\njava.home=<NA>\njava.class.path=<NA>\n"
		"java.library.path=<NA>\n");
	jute_out_printf(o, "java.io.tmpdir=%s\n", tmp && *tmp ? tmp : "/tmp");
	outs(o, "java.compiler=<NA>\n");
	jute_out_printf(o, "os.name=%s\n", u.sysname);
	jute_out_printf(o, "os.arch=%s\n", !strcmp(u.machine, "x86_64") ? "amd64" : u.machine);
	jute_out_printf(o, "os.version=%s\n", u.release);
	jute_out_printf(o, "user.name=%s\n", pw ? pw->pw_name : "<NA>");
	jute_out_printf(o, "user.home=%s\n", pw ? pw->pw_dir : "<NA>");
	jute_out_printf(o, "user.dir=%s\n", cwd);
	/* The JVM's heap figures become the machine's and the process's. */
	jute_out_printf(o, "os.memory.free=%lluMB\n",
	     (unsigned long long)sysconf(_SC_AVPHYS_PAGES) * (unsigned long long)page >> 20);
	jute_out_printf(o, "os.memory.max=%lluMB\n",
	     (unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)page >> 20);
	jute_out_printf(o, "os.memory.total=%lluMB\n", rss * (unsigned long long)page >> 20);
}

static void hash(struct dp *dp, struct jute_out *o)
{
	struct tree *t = the_tree(dp);
	int64_t z1, z2;
	uint64_t d;

	if (!t)
		return;
	/* DigestCommand prints its digest log; ours is the latest state. */
	for (int i = 0; i < 8; i++) {
		z1 = tree_last_zxid(t);
		d = tree_digest(t);
		z2 = tree_last_zxid(t);
		if (z1 == z2)
			break;
	}
	if (z1 > 0)
		jute_out_printf(o, "%" PRIx64 ": %" PRId64 "\n", (uint64_t)z1, (int64_t)d);
}

static void answer(struct dp_conn *c, struct jute_out *o)
{
	if (o->err) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		dp_conn_abort(c, NULL);
		return;
	}
	dp_conn_send(c, o->buf, o->len);
	dp_conn_close(c, NULL);
}

/* ---- The admin mailbox ---- */

void dp_mailbox_init(struct dp_mailbox *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
}

/*
 * A chunked answer in progress (dp_conn's stream), in parts: every
 * worker's listing in turn (PART_WORKERS: wchc, wchp, cons, stat), or
 * dump's tracker, ephemerals, connections (gathered from every worker,
 * then sorted by bucket) and their listing.
 */
enum { PART_WORKERS, PART_TRACKER, PART_EPH, PART_GATHER, PART_CONNS };

struct cnxn_line {
	int64_t bucket;
	uint32_t seq;
	uint32_t len;
	const char *text; /* "\tip: ...\n" */
};

struct dp_4lw_stream {
	char word[5];
	uint8_t part;
	uint32_t worker; /* whose listing is being sent (or gathered) */
	bool asked;      /* a chunk request is out */
	struct dp_describe_cursor cur;
	/* dump */
	struct repl_sessions *sessions; /* the core's tracker (may be NULL) */
	struct dp_eph_walk *eph;
	struct jute_out gathered;       /* every worker's "<bucket>\t<line>" text */
	struct cnxn_line *lines;        /* into gathered, sorted */
	uint32_t nlines, nsets;
	int64_t now_ms, wall_ms;        /* when the connections were sorted */
};

void dp_4lw_stream_free(struct dp_4lw_stream *st)
{
	if (!st)
		return;
	free(st->sessions);
	dp_proto_eph_end(st->eph);
	jute_out_free(&st->gathered);
	free(st->lines);
	free(st);
}

static void req_free(struct dp_admin_req *r)
{
	for (uint32_t i = 0; i < r->nworkers; i++)
		jute_out_free(&r->out[i]);
	free(r->sessions);
	free(r);
}

void dp_mailbox_fini(struct dp_mailbox *m)
{
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
	pthread_mutex_destroy(&m->lock);
}

static int mailbox_push(struct dp_mailbox *m, struct dp_admin_req *r)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->n == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 8;
		struct dp_admin_req **v = realloc(m->v, cap * sizeof(*v));

		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = r;
	__atomic_store_n(&m->count, m->n, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* Takes everything out: *v (caller frees) holds *n requests. */
static void mailbox_take(struct dp_mailbox *m, struct dp_admin_req ***v, uint32_t *n)
{
	pthread_mutex_lock(&m->lock);
	*v = m->v;
	*n = m->n;
	m->v = NULL;
	m->n = m->cap = 0;
	__atomic_store_n(&m->count, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&m->lock);
}

bool dp_4lw_admin_pending(struct dp_worker *w)
{
	return __atomic_load_n(&w->inbox.count, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&w->done.count, __ATOMIC_ACQUIRE);
}

/* One worker's part is in: the last one hands the request back. */
static void answered(struct dp_worker *w, struct dp_admin_req *r)
{
	struct dp_worker *asker;

	if (__atomic_sub_fetch(&r->pending, 1, __ATOMIC_ACQ_REL))
		return;
	asker = w->dp->workers[r->requester];
	if (mailbox_push(&asker->done, r)) {
		log_error("dataplane: out of memory answering a four-letter word");
		req_free(r);
		return;
	}
	if (asker != w)
		dp_worker_wake(asker);
}

/* Asks the stream's current worker for its next chunk. */
static void post_chunk(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	struct dp_4lw_stream *st = c->stream;
	bool local = st->part != PART_WORKERS && st->part != PART_GATHER;
	struct dp_worker *x = local ? w : w->dp->workers[st->worker];
	struct dp_admin_req *r;

	assert(!st->asked && (local || st->worker < w->dp->nworkers));
	r = calloc(1, sizeof(*r) + sizeof(r->out[0]));
	if (!r) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		dp_conn_abort(c, NULL);
		return;
	}
	memcpy(r->word, st->word, 4);
	r->requester = w->index;
	r->conn = c->id;
	r->nworkers = 1;
	r->pending = 1;
	r->chunk = true;
	r->local = local;
	r->target = x->index;
	r->budget = DP_4LW_CHUNK;
	r->cur = st->cur;
	jute_out_init(&r->out[0], 0);
	if (mailbox_push(&x->inbox, r)) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		req_free(r);
		dp_conn_abort(c, NULL);
		return;
	}
	st->asked = true;
	if (x != w)
		dp_worker_wake(x);
}

void dp_4lw_more(struct dp_conn *c)
{
	if (c->stream && !c->stream->asked && c->state == DP_CONN_4LW)
		post_chunk(c);
}

/*
 * wchc, wchp, cons, stat: the first chunk of worker 0's listing; dump
 * (sessions: the core's tracker, may be NULL): its tracker part first.
 */
static void stream_start(struct dp_conn *c, const char *word, struct repl_sessions *sessions)
{
	struct dp_4lw_stream *st = calloc(1, sizeof(*st));

	if (!st) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		free(sessions);
		dp_conn_abort(c, NULL);
		return;
	}
	memcpy(st->word, word, 4);
	st->sessions = sessions;
	jute_out_init(&st->gathered, 0);
	dp_conn_stream_begin(c, st);
	if (!strcmp(word, "stat")) {
		char head[256];

		/* StatCommand's lines (version_lines), then the listing. */
		snprintf(head, sizeof(head), "Zookeeper version: %s\n%sClients:\n", zk_version(),
			 strcmp(server_state(c->w->dp), "read-only")
			     ? ""
			     : "READ-ONLY mode; serving only read-only clients\n");
		if (dp_conn_send(c, head, strlen(head)))
			return;
	} else if (!strcmp(word, "dump")) {
		st->part = PART_TRACKER;
		if (dp_conn_send(c, "SessionTracker dump:\n", 21))
			return;
	}
	post_chunk(c);
}

static void server_stats(struct dp *dp, const struct totals *t, struct jute_out *o);
static bool gathered_sort(struct dp_4lw_stream *st);

/*
 * The part that was being produced is complete: go on with the next
 * one.  Returns true when the answer is complete (c is then closing).
 */
static bool next_part(struct dp_conn *c, struct dp_4lw_stream *st)
{
	struct dp_worker *w = c->w;
	struct jute_out o;
	struct totals t;

	memset(&st->cur, 0, sizeof(st->cur));
	switch (st->part) {
	case PART_WORKERS:
		if (++st->worker < w->dp->nworkers)
			return false;
		/* the empty line; stat: then the server's figures (StatCommand) */
		jute_out_init(&o, 0);
		outs(&o, "\n");
		if (!strcmp(st->word, "stat")) {
			totals(w->dp, &t);
			server_stats(w->dp, &t, &o);
		}
		dp_conn_stream_end(c);
		answer(c, &o);
		jute_out_free(&o);
		return true;
	case PART_TRACKER:
		st->part = PART_EPH;
		return dp_conn_send(c, "ephemeral nodes dump:\n", 22) != 0;
	case PART_EPH:
		dp_proto_eph_end(st->eph);
		st->eph = NULL;
		st->part = PART_GATHER;
		st->worker = 0;
		return false;
	case PART_GATHER:
		if (++st->worker < w->dp->nworkers)
			return false;
		if (!gathered_sort(st)) {
			log_error("connection %s: out of memory for a four-letter word", c->peer);
			dp_conn_abort(c, NULL);
			return true;
		}
		st->part = PART_CONNS;
		return dp_conn_send(c, "Connections dump:\n", 18) != 0;
	default:
		dp_conn_stream_end(c);
		dp_conn_close(c, NULL);
		return true;
	}
}

/* A chunk is back: queue it, then go on, or end with the empty line. */
static void chunk_done(struct dp_worker *w, struct dp_admin_req *r)
{
	struct dp_conn *c = dp_conn_get(w, r->conn);
	struct dp_4lw_stream *st;

	if (!c || c->state != DP_CONN_4LW || !c->stream)
		return; /* the client left */
	st = c->stream;
	assert(st->asked && (r->local || st->worker == r->target));
	st->asked = false;
	if (st->part == PART_GATHER && r->out[0].len)
		jute_put_raw(&st->gathered, r->out[0].buf, r->out[0].len);
	if (r->out[0].err || st->gathered.err) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		dp_conn_abort(c, NULL);
		return;
	}
	if (st->part != PART_GATHER && r->out[0].len &&
	    dp_conn_send(c, r->out[0].buf, r->out[0].len))
		return; /* being closed */
	if (!r->local)
		st->cur = r->cur;
	if (r->end && next_part(c, st))
		return;
	/* Gathering sends nothing: the next part at once. */
	if (st->part == PART_GATHER || dp_conn_unsent(c) < DP_4LW_LOW_WATER)
		post_chunk(c);
}

/* sessions (dump's, may be NULL) goes with the request. */
static void post(struct dp_conn *c, const char *word, struct repl_sessions *sessions)
{
	struct dp_worker *w = c->w;
	struct dp *dp = w->dp;
	struct dp_admin_req *r;

	r = calloc(1, sizeof(*r) + dp->nworkers * sizeof(r->out[0]));
	if (!r) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		free(sessions);
		dp_conn_abort(c, NULL);
		return;
	}
	memcpy(r->word, word, 4);
	r->sessions = sessions;
	r->requester = w->index;
	r->conn = c->id;
	r->nworkers = dp->nworkers;
	r->pending = dp->nworkers;
	for (uint32_t i = 0; i < dp->nworkers; i++)
		jute_out_init(&r->out[i], 0);
	for (uint32_t i = 0; i < dp->nworkers; i++) {
		struct dp_worker *x = dp->workers[i];

		if (mailbox_push(&x->inbox, r)) {
			log_error("dataplane: out of memory posting a four-letter word");
			answered(w, r); /* worker i's part stays empty */
			continue;
		}
		if (x != w)
			dp_worker_wake(x);
	}
}

static void wchs_sum(const struct dp_admin_req *r, struct jute_out *o)
{
	unsigned long long conns = 0, paths = 0, total = 0;

	for (uint32_t i = 0; i < r->nworkers; i++) {
		const struct jute_out *x = &r->out[i];
		char text[160];
		unsigned long long a, b, c;
		size_t n = x->len < sizeof(text) - 1 ? x->len : sizeof(text) - 1;

		if (!n)
			continue;
		memcpy(text, x->buf, n);
		text[n] = '\0';
		if (sscanf(text, "%llu connections watching %llu paths\nTotal watches:%llu", &a, &b,
			   &c) == 3) {
			conns += a;
			paths += b;
			total += c;
		}
	}
	jute_out_printf(o, "%llu connections watching %llu paths\nTotal watches:%llu\n", conns, paths, total);
}

/*
 * java.util.Date.toString() of ms since the epoch: "EEE MMM dd HH:mm:ss
 * zzz yyyy" in the server's time zone, English names whatever the locale.
 */
static void java_date(int64_t ms, char *buf, size_t len)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	time_t sec = (time_t)(ms >= 0 ? ms / 1000 : -((999 - ms) / 1000));
	struct tm tm;

	if (!localtime_r(&sec, &tm)) {
		snprintf(buf, len, "%" PRId64, ms);
		return;
	}
	snprintf(buf, len, "%.3s %.3s %02d %02d:%02d:%02d %s %d", days + 3 * tm.tm_wday,
		 months + 3 * tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 tm.tm_zone ? tm.tm_zone : "GMT", tm.tm_year + 1900);
}

/*
 * SessionTrackerImpl.dumpSessions: "Session " then ExpiryQueue.dump, from
 * the core's copy, a chunk at a time: cur.tag is 1 once the first line
 * is out, cur.i the set, cur.j 0 before its line, else 1 + the next id.
 */
static bool tracker_chunk(struct dp_4lw_stream *st, size_t budget, struct jute_out *o)
{
	const struct repl_sessions *d = st->sessions;
	struct dp_describe_cursor *cur = &st->cur;
	size_t start = o->len;
	const int64_t *ids;
	char date[64];

	if (!d)
		return true;
	ids = repl_sessions_ids(d);
	if (!cur->tag) {
		jute_out_printf(o, "Session Sets (%u)/(%u):\n", d->nsets, d->nsessions);
		cur->tag = 1;
	}
	for (; cur->i < d->nsets; cur->i++, cur->j = 0) {
		if (cur->j == 0) {
			if (o->len - start >= budget)
				return false;
			java_date(d->wall_ms + d->sets[cur->i].expiry_ms - d->now_ms, date,
				  sizeof(date));
			jute_out_printf(o, "%u expire at %s:\n", d->sets[cur->i].n, date);
			cur->j = 1;
		}
		for (; cur->j - 1 < d->sets[cur->i].n; cur->j++) {
			if (o->len - start >= budget)
				return false;
			jute_out_printf(o, "\t0x%llx\n",
					(unsigned long long)ids[d->sets[cur->i].first + cur->j - 1]);
		}
	}
	return true;
}

static int cnxn_cmp(const void *a, const void *b)
{
	const struct cnxn_line *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * NIOServerCnxnFactory.dumpConnections groups by expiry bucket: the
 * workers' "<bucket>\t<line>" texts, gathered whole, are indexed and
 * sorted once (O(n log n) in the connections).  False on ENOMEM.
 */
static bool gathered_sort(struct dp_4lw_stream *st)
{
	const char *p = (const char *)st->gathered.buf, *end = p + st->gathered.len;
	uint32_t cap = 0;

	st->now_ms = (int64_t)(clock_mono_ns() / 1000000);
	st->wall_ms = clock_wall_ms();
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *tab;

		nl = nl ? nl + 1 : end;
		tab = memchr(p, '\t', (size_t)(nl - p));
		if (tab && st->nlines == cap) {
			uint32_t nc = cap ? cap * 2 : 64;
			struct cnxn_line *g = realloc(st->lines, (size_t)nc * sizeof(*g));

			if (!g)
				return false;
			st->lines = g;
			cap = nc;
		}
		if (tab) {
			st->lines[st->nlines] = (struct cnxn_line){ strtoll(p, NULL, 10), st->nlines,
								    (uint32_t)(nl - tab), tab };
			st->nlines++;
		}
		p = nl;
	}
	if (st->nlines)
		qsort(st->lines, st->nlines, sizeof(*st->lines), cnxn_cmp);
	for (uint32_t i = 0; i < st->nlines; i++)
		st->nsets += i == 0 || st->lines[i].bucket != st->lines[i - 1].bucket;
	return true;
}

/* ExpiryQueue.dump of the sorted connections, a chunk at a time (cur.i: next line). */
static bool conns_chunk(struct dp_4lw_stream *st, size_t budget, struct jute_out *o)
{
	struct dp_describe_cursor *cur = &st->cur;
	size_t start = o->len;
	char date[64];

	if (!cur->tag) {
		jute_out_printf(o, "Connections Sets (%u)/(%u):\n", st->nsets, st->nlines);
		cur->tag = 1;
	}
	for (; cur->i < st->nlines; cur->i++) {
		const struct cnxn_line *v = &st->lines[cur->i];

		if (o->len - start >= budget)
			return false;
		if (cur->i == 0 || v->bucket != v[-1].bucket) {
			uint32_t k = cur->i;

			while (k < st->nlines && st->lines[k].bucket == v->bucket)
				k++;
			java_date(st->wall_ms + v->bucket - st->now_ms, date, sizeof(date));
			jute_out_printf(o, "%u expire at %s:\n", k - cur->i, date);
		}
		jute_put_raw(o, v->text, v->len);
	}
	return true;
}

/* A local part's next chunk (on the asker, for its connection r->conn). */
static bool local_chunk(struct dp_worker *w, struct dp_admin_req *r)
{
	struct dp_conn *c = dp_conn_get(w, r->conn);
	struct dp_4lw_stream *st = c ? c->stream : NULL;

	if (!st || c->state != DP_CONN_4LW)
		return true; /* the client left: chunk_done drops it */
	switch (st->part) {
	case PART_TRACKER:
		return tracker_chunk(st, r->budget, &r->out[0]);
	case PART_EPH:
		if (!w->proto)
			return true;
		if (!st->eph && !st->cur.tag) {
			st->cur.tag = 1; /* begun (NULL: out of memory, logged: nothing listed) */
			st->eph = dp_proto_eph_begin(w->proto);
		}
		return !st->eph || dp_proto_eph_chunk(w->proto, st->eph, r->budget, &r->out[0]);
	case PART_CONNS:
		return conns_chunk(st, r->budget, &r->out[0]);
	default:
		return true;
	}
}

/* Every worker has answered r: build the text and reply. */
static void finish(struct dp_worker *w, struct dp_admin_req *r)
{
	struct dp_conn *c;
	struct jute_out o;

	if (r->chunk) {
		chunk_done(w, r);
		return;
	}
	c = dp_conn_get(w, r->conn);
	if (!c || c->state != DP_CONN_4LW)
		return; /* the client left */
	jute_out_init(&o, 0);
	if (!strcmp(r->word, "wchs")) {
		wchs_sum(r, &o);
	} else if (!strcmp(r->word, "crst")) {
		outs(&o, "Connection stats reset.\n");
	} else if (!strcmp(r->word, "srst")) {
		outs(&o, "Server stats reset.\n");
	}
	answer(c, &o);
	jute_out_free(&o);
}

void dp_4lw_admin_poll(struct dp_worker *w)
{
	struct dp_admin_req **v;
	uint32_t n;

	mailbox_take(&w->inbox, &v, &n);
	for (uint32_t i = 0; i < n; i++) {
		struct dp_admin_req *r = v[i];

		if (!strcmp(r->word, "srst")) {
			/* ServerMetrics.resetAll: this worker's I/O counters too. */
			__atomic_store_n(&w->st.fourlw, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&w->st.bytes_received, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&w->st.rejected, 0, __ATOMIC_RELAXED);
			/* And, once, the core's (the log writer's summaries). */
			if (w->index == 0 && w->dp->repl)
				repl_reset_stats(w->dp->repl);
		}
		if (r->chunk && r->local) {
			assert(r->target == w->index && r->requester == w->index);
			r->end = local_chunk(w, r);
		} else if (r->chunk) {
			assert(r->target == w->index);
			r->end = !w->proto || dp_proto_describe_chunk(w->proto, r->word, &r->cur,
								      r->budget, &r->out[0]);
		} else if (w->proto) {
			dp_proto_describe(w->proto, r->word, &r->out[w->index]);
		}
		answered(w, r);
	}
	free(v);
	mailbox_take(&w->done, &v, &n);
	for (uint32_t i = 0; i < n; i++) {
		finish(w, v[i]);
		req_free(v[i]);
	}
	free(v);
}

/*
 * Shutdown (the worker's own last act, then dp_stop for every worker,
 * twice, once no thread runs): queued requests are answered empty, which
 * may hand them to another worker's done list; finished ones are freed.
 */
void dp_4lw_admin_drain(struct dp_worker *w)
{
	struct dp_admin_req **v;
	uint32_t n;

	mailbox_take(&w->inbox, &v, &n);
	for (uint32_t i = 0; i < n; i++)
		answered(w, v[i]);
	free(v);
	mailbox_take(&w->done, &v, &n);
	for (uint32_t i = 0; i < n; i++)
		req_free(v[i]);
	free(v);
}

void dp_4lw_sessions(struct dp_worker *w, uint32_t conn, struct repl_sessions *d)
{
	struct dp_conn *c = dp_conn_get(w, conn);

	if (!c || c->state != DP_CONN_4LW) {
		free(d); /* the client left */
		return;
	}
	stream_start(c, "dump", d);
}

/* dump: the core's session tracker first (dp_4lw_sessions goes on). */
static void ask_sessions(struct dp_conn *c)
{
	struct dp_proto *p = c->w->proto;

	if (!p || dp_proto_ask_sessions(p, c->id))
		stream_start(c, "dump", NULL);
}

/* ---- Entry points ---- */

/* The words that need a serving server (an ensemble member with a leader). */
#define NEED_SERVING                                                                   \
	(CFG_4LW_SRVR | CFG_4LW_STAT | CFG_4LW_MNTR | CFG_4LW_CONS | CFG_4LW_DUMP |    \
	 CFG_4LW_WCHS | CFG_4LW_WCHC | CFG_4LW_WCHP | CFG_4LW_DIRS | CFG_4LW_CONF)

void dp_4lw_run(struct dp_conn *c, uint32_t bit)
{
	struct dp *dp = c->w->dp;
	const char *word = word_of(bit);
	struct jute_out o;
	struct totals t;

	log_debug("Processing %s command from %s", word, c->peer);
	jute_out_init(&o, 0);
	if (!(dp->cfg->four_letter_words & bit)) {
		jute_out_printf(&o, "%s is not executed because it is not in the whitelist.\n", word);
		answer(c, &o);
		jute_out_free(&o);
		return;
	}
	if ((bit & NEED_SERVING) && !strcmp(server_state(dp), "looking")) {
		/* ZooKeeper's CommandBase when its ZooKeeperServer is not running. */
		outs(&o, "This ZooKeeper instance is not currently serving requests\n");
		answer(c, &o);
		jute_out_free(&o);
		return;
	}
	switch (bit) {
	case CFG_4LW_RUOK:
		outs(&o, "imok");
		break;
	case CFG_4LW_ISRO:
		/* ReadOnlyZooKeeperServer answers "ro", every other server "rw". */
		outs(&o, strcmp(server_state(dp), "read-only") ? "rw" : "ro");
		break;
	case CFG_4LW_GTMK:
		jute_out_printf(&o, "%" PRId64, __atomic_load_n(&dp->trace_mask, __ATOMIC_RELAXED));
		break;
	case CFG_4LW_SRVR:
		version_lines(dp, &o);
		totals(dp, &t);
		server_stats(dp, &t, &o);
		break;
	case CFG_4LW_MNTR:
		mntr(dp, &o);
		break;
	case CFG_4LW_CONF:
		conf(dp, &o);
		break;
	case CFG_4LW_ENVI:
		envi(&o);
		break;
	case CFG_4LW_DIRS:
		dirs(dp, &o);
		break;
	case CFG_4LW_HASH:
		hash(dp, &o);
		break;
	case CFG_4LW_DUMP:
		jute_out_free(&o);
		ask_sessions(c);
		return;
	case CFG_4LW_WCHC:
	case CFG_4LW_WCHP:
	case CFG_4LW_CONS:
	case CFG_4LW_STAT:
		/* Every worker's listing, a chunk at a time. */
		jute_out_free(&o);
		stream_start(c, word, NULL);
		return;
	default:
		/* wchs, crst, srst: every worker's view. */
		jute_out_free(&o);
		post(c, word, NULL);
		return;
	}
	answer(c, &o);
	jute_out_free(&o);
}

void dp_4lw_stmk(struct dp_conn *c, const uint8_t *mask, uint32_t len)
{
	struct dp *dp = c->w->dp;
	struct jute_out o;
	int64_t v = len >= 8 ? (int64_t)jute_be64(mask) : 0;

	/* SetTraceMaskCommand prints the mask it set. */
	__atomic_store_n(&dp->trace_mask, v, __ATOMIC_RELAXED);
	jute_out_init(&o, 0);
	jute_out_printf(&o, "%" PRId64, v);
	answer(c, &o);
	jute_out_free(&o);
}

/*
 * The AdminServer's way in (adminserver/): the text of a word answered on
 * the spot, built by the same functions as on the client port, on the
 * caller's thread.  No worker is involved: counters are read as
 * dp_4lw_run reads other workers' counters, the tree under RCU (the
 * caller is an online QSBR reader).  The whitelist does not apply: the
 * AdminServer has its own switch (admin.enableServer), as in ZooKeeper.
 */
int dp_admin_text(struct dp *dp, const char *word, char **out, size_t *len)
{
	struct jute_out o;
	struct totals t;

	*out = NULL;
	*len = 0;
	jute_out_init(&o, 0);
	if (!strcmp(word, "ruok")) {
		outs(&o, "imok");
	} else if (!strcmp(word, "isro")) {
		outs(&o, strcmp(server_state(dp), "read-only") ? "rw" : "ro");
	} else if (!strcmp(word, "gtmk")) {
		jute_out_printf(&o, "%" PRId64, __atomic_load_n(&dp->trace_mask, __ATOMIC_RELAXED));
	} else if (!strcmp(word, "srvr")) {
		version_lines(dp, &o);
		totals(dp, &t);
		server_stats(dp, &t, &o);
	} else if (!strcmp(word, "mntr")) {
		mntr(dp, &o);
	} else if (!strcmp(word, "conf")) {
		conf(dp, &o);
	} else if (!strcmp(word, "envi")) {
		envi(&o);
	} else if (!strcmp(word, "dirs")) {
		dirs(dp, &o);
	} else if (!strcmp(word, "hash")) {
		hash(dp, &o);
	} else {
		jute_out_free(&o);
		return -ENOENT;
	}
	jute_put_raw(&o, "", 1); /* the NUL, and a buffer even for an empty text */
	if (o.err) {
		jute_out_free(&o);
		return -ENOMEM;
	}
	*out = (char *)o.buf;
	*len = o.len - 1;
	return 0;
}
