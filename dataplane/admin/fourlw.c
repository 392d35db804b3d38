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
 * asks for the next chunk only once fewer than DP_STREAM_LOW_WATER bytes wait
 * to be written (stream_more, from the flush).  So no worker spends more
 * than one chunk's time on a listing between two polls, a client that
 * reads slowly holds two chunks at most, and one that stops reading is
 * dropped after DP_CLOSE_LINGER_MS without progress (io/conn.c).  The text
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
 * starts only when the copy is back (sessions_done); "ephemeral nodes
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
 * Files: fourlw.c the table of words (keyed by the word, with config's
 * enable bit), the one dispatch site (run) and the hooks the I/O layer
 * calls (dp_admin_upper); gather.c the mailboxes, streamed answers and
 * dump; stats.c the numbers summed over workers and srvr's lines;
 * mntr.c mntr; texts.c conf, dirs, envi, hash.  admin_priv.h is their
 * shared header, admin.h what dp.c sees.
 *
 * Threads: run (one word) and the assembly run on the worker owning the
 * connection; dp_admin_poll on every worker for its mailbox.
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

#include <urcu/urcu-qsbr.h>

#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "dataplane/admin/admin_priv.h"
#include "dataplane/admin/admin.h"
#include "dataplane/io/io_priv.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"
#include "tree/tree.h"

/* ---- The words ---- */

static void ruok(struct dp *dp, struct jute_out *o)
{
	(void)dp;
	dp_admin_outs(o, "imok");
}

/* ReadOnlyZooKeeperServer answers "ro", every other server "rw". */
static void isro(struct dp *dp, struct jute_out *o)
{
	dp_admin_outs(o, strcmp(dp_admin_server_state(dp), "read-only") ? "rw" : "ro");
}

static void gtmk(struct dp *dp, struct jute_out *o)
{
	jute_out_printf(o, "%" PRId64,
			__atomic_load_n(&dp_admin_of(dp)->trace_mask, __ATOMIC_RELAXED));
}

static void srvr(struct dp *dp, struct jute_out *o)
{
	struct dp_admin_totals t;

	dp_admin_version_lines(dp, o);
	dp_admin_totals(dp, &t);
	dp_admin_server_stats(dp, &t, o);
}

static void envi_text(struct dp *dp, struct jute_out *o)
{
	(void)dp;
	dp_admin_envi(o);
}

static void crst_done(const struct dp_admin_req *r, struct jute_out *o)
{
	(void)r;
	dp_admin_outs(o, "Connection stats reset.\n");
}

static void srst_done(const struct dp_admin_req *r, struct jute_out *o)
{
	(void)r;
	dp_admin_outs(o, "Server stats reset.\n");
}

/*
 * The words ZooKeeper 3.8 knows (FourLetterCommands), keyed by the word;
 * the bit is config's for the same word (cfg_4lw_bit), which
 * 4lw.commands.whitelist sets.  serving: the words that need a serving
 * server (an ensemble member with a leader).
 */
static const struct dp_4lw_word words[] = {
    {"conf", CFG_4LW_CONF, DP_4LW_TEXT, true, dp_admin_conf, NULL},
    {"cons", CFG_4LW_CONS, DP_4LW_STREAM, true, NULL, NULL},
    {"crst", CFG_4LW_CRST, DP_4LW_GATHER, false, NULL, crst_done},
    {"dirs", CFG_4LW_DIRS, DP_4LW_TEXT, true, dp_admin_dirs, NULL},
    {"dump", CFG_4LW_DUMP, DP_4LW_DUMP, true, NULL, NULL},
    {"envi", CFG_4LW_ENVI, DP_4LW_TEXT, false, envi_text, NULL},
    {"gtmk", CFG_4LW_GTMK, DP_4LW_TEXT, false, gtmk, NULL},
    {"ruok", CFG_4LW_RUOK, DP_4LW_TEXT, false, ruok, NULL},
    {"stmk", CFG_4LW_STMK, DP_4LW_MASK, false, NULL, NULL},
    {"srst", CFG_4LW_SRST, DP_4LW_GATHER, false, NULL, srst_done},
    {"srvr", CFG_4LW_SRVR, DP_4LW_TEXT, true, srvr, NULL},
    {"stat", CFG_4LW_STAT, DP_4LW_STREAM, true, NULL, NULL},
    {"wchc", CFG_4LW_WCHC, DP_4LW_STREAM, true, NULL, NULL},
    {"wchp", CFG_4LW_WCHP, DP_4LW_STREAM, true, NULL, NULL},
    {"wchs", CFG_4LW_WCHS, DP_4LW_GATHER, true, NULL, dp_admin_wchs_sum},
    {"mntr", CFG_4LW_MNTR, DP_4LW_TEXT, true, dp_admin_mntr, NULL},
    {"isro", CFG_4LW_ISRO, DP_4LW_TEXT, false, isro, NULL},
    {"hash", CFG_4LW_HASH, DP_4LW_TEXT, false, dp_admin_hash, NULL},
};

/* The word hdr (a connection's first 4 bytes) spells, or NULL: a frame length. */
static const struct dp_4lw_word *match(const uint8_t hdr[4])
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (memcmp(hdr, words[i].name, 4) == 0)
			return &words[i];
	return NULL;
}

/*
 * Answers wd on c (which is in DP_CONN_RAW state): the one place that
 * dispatches on the word, by its kind in the table.
 */
static void run(struct dp_conn *c, const struct dp_4lw_word *wd)
{
	struct dp *dp = c->w->dp;
	struct jute_out o;

	log_debug("Processing %s command from %s", wd->name, c->peer);
	jute_out_init(&o, 0);
	if (!(dp->cfg->four_letter_words & wd->bit)) {
		jute_out_printf(&o, "%s is not executed because it is not in the whitelist.\n",
				wd->name);
		dp_admin_answer(c, &o);
		jute_out_free(&o);
		return;
	}
	if (wd->serving && !strcmp(dp_admin_server_state(dp), "looking")) {
		/* ZooKeeper's CommandBase when its ZooKeeperServer is not running. */
		dp_admin_outs(&o, "This ZooKeeper instance is not currently serving requests\n");
		dp_admin_answer(c, &o);
		jute_out_free(&o);
		return;
	}
	switch (wd->kind) {
	case DP_4LW_TEXT:
		wd->text(dp, &o);
		dp_admin_answer(c, &o);
		break;
	case DP_4LW_STREAM:
		dp_admin_stream_start(c, wd, NULL);
		break;
	case DP_4LW_GATHER:
		dp_admin_post(c, wd, NULL);
		break;
	case DP_4LW_DUMP:
		dp_admin_ask_sessions(c, wd);
		break;
	default:
		/* DP_4LW_MASK reaches here only when stmk is off the whitelist (on_first). */
		assert(0);
	}
	jute_out_free(&o);
}

const struct dp_4lw_word *dp_admin_gather_word(const char *name)
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(name, words[i].name) && words[i].kind == DP_4LW_GATHER)
			return &words[i];
	return NULL;
}

const struct dp_4lw_word *dp_admin_listing_word(const char *name)
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(name, words[i].name) &&
		    (words[i].bit == CFG_4LW_WCHC || words[i].bit == CFG_4LW_WCHP))
			return &words[i];
	return NULL;
}

/*
 * The AdminServer's way in (adminserver/, dp.h): the text of a word
 * answered at once, built by the word's own text() on the caller's
 * thread.  No worker is involved: counters are read as any worker reads
 * the others', the tree under RCU: the caller's thread is a registered
 * QSBR reader, online only while the text is built, so that it never
 * holds up a grace period while it waits for anything else.
 * The whitelist does not apply: the AdminServer has its own switch
 * (admin.enableServer), as in ZooKeeper.
 */
int dp_admin_text(struct dp *dp, const char *word, char **out, size_t *len)
{
	void (*text)(struct dp *dp, struct jute_out *o) = NULL;
	bool online, serving = false;
	struct jute_out o;

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(word, words[i].name) && words[i].kind == DP_4LW_TEXT) {
			text = words[i].text;
			serving = words[i].serving;
		}
	if (!strcmp(word, "ensemble")) {
		/* Not a word: the ensemble's state for the AdminServer's quorum commands. */
		text = dp_admin_ensemble;
		serving = true;
	}
	if (!text)
		return -ENOENT;
	if (serving && !strcmp(dp_admin_server_state(dp), "looking"))
		return -EAGAIN; /* ZooKeeper's CommandBase: not currently serving */
	jute_out_init(&o, 0);
	online = urcu_qsbr_read_ongoing();
	if (!online)
		urcu_qsbr_thread_online();
	text(dp, &o);
	if (!online)
		urcu_qsbr_thread_offline();
	jute_put_raw(&o, "", 1); /* the NUL, and a buffer even for an empty text */
	if (o.err) {
		jute_out_free(&o);
		return -ENOMEM;
	}
	*out = (char *)o.buf;
	*len = o.len - 1;
	return 0;
}

/* stmk's 8-byte trace mask arrived (c is still framing). */
static void stmk(struct dp_conn *c, const uint8_t *mask, uint32_t len)
{
	struct dp *dp = c->w->dp;
	struct jute_out o;
	int64_t v = len >= 8 ? (int64_t)jute_be64(mask) : 0;

	dp_conn_enter_raw(c);
	/* SetTraceMaskCommand prints the mask it set. */
	__atomic_store_n(&dp_admin_of(dp)->trace_mask, v, __ATOMIC_RELAXED);
	jute_out_init(&o, 0);
	jute_out_printf(&o, "%" PRId64, v);
	dp_admin_answer(c, &o);
	jute_out_free(&o);
}

/* ---- The layer the I/O layer calls (struct dp_upper_ops) ---- */

static int admin_open(struct dp *dp)
{
	struct dp_admin *a = calloc(1, sizeof(*a));

	/* The table and config name the same word by the same bit. */
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		assert(cfg_4lw_bit(words[i].name) == words[i].bit);

	if (!a)
		return -ENOMEM;
	a->trace_mask = 306; /* ZooTrace's default text trace mask, as gtmk shows it */
	dp->upper_dp = a;
	return 0;
}

static void admin_close(struct dp *dp)
{
	free(dp->upper_dp);
	dp->upper_dp = NULL;
}

static int admin_worker_new(struct dp_worker *w)
{
	struct dp_admin_worker *aw = calloc(1, sizeof(*aw));

	if (!aw)
		return -ENOMEM;
	dp_admin_mailbox_init(&aw->inbox);
	dp_admin_mailbox_init(&aw->done);
	w->upper = aw;
	return 0;
}

static void admin_worker_free(struct dp_worker *w)
{
	struct dp_admin_worker *aw = dp_admin_worker_of(w);

	assert(!aw->proto);
	dp_admin_mailbox_fini(&aw->inbox);
	dp_admin_mailbox_fini(&aw->done);
	free(aw);
	w->upper = NULL;
}

static int admin_worker_start(struct dp_worker *w)
{
	/* Other workers read it (dp_proto_stats for four-letter words). */
	__atomic_store_n(&dp_admin_worker_of(w)->proto, dp_proto_new(w), __ATOMIC_RELEASE);
	return dp_admin_worker_of(w)->proto ? 0 : -ENOMEM;
}

static void admin_worker_stop(struct dp_worker *w)
{
	dp_proto_free(dp_admin_worker_of(w)->proto);
	__atomic_store_n(&dp_admin_worker_of(w)->proto, NULL, __ATOMIC_RELEASE);
}

static void on_opened(struct dp_conn *c)
{
	dp_proto_opened(dp_admin_worker_of(c->w)->proto, c);
}

/*
 * A connection's first 4 bytes: a word ZooKeeper 3.8 knows is answered
 * (ZooKeeper checks them only while the connection is not yet
 * initialized, i.e. before its ConnectRequest); "stmk" asks for its
 * 8-byte mask first; anything else is a frame length.
 */
static int on_first(struct dp_conn *c, const uint8_t hdr[4], uint32_t *len)
{
	struct dp_worker *w = c->w;
	const struct dp_4lw_word *wd = match(hdr);

	if (!wd)
		return DP_FIRST_FRAME;
	__atomic_store_n(&dp_admin_worker_of(w)->fourlw, dp_admin_worker_of(w)->fourlw + 1,
			 __ATOMIC_RELAXED);
	if (wd->kind == DP_4LW_MASK && (w->dp->cfg->four_letter_words & wd->bit)) {
		/* Its 8-byte mask follows: read it as a frame. */
		*len = 8;
		return DP_FIRST_RAW;
	}
	dp_conn_enter_raw(c);
	run(c, wd);
	return DP_FIRST_TAKEN;
}

static int on_frame(struct dp_conn *c, const uint8_t *payload, uint32_t len)
{
	return dp_proto_frame(dp_admin_worker_of(c->w)->proto, c, payload, len);
}

static void on_closed(struct dp_conn *c)
{
	dp_proto_closed(dp_admin_worker_of(c->w)->proto, c);
}

static void on_poll(struct dp_worker *w)
{
	if (dp_admin_pending(w))
		dp_admin_poll(w);
	dp_proto_poll(dp_admin_worker_of(w)->proto);
}

static bool on_has_work(struct dp_worker *w)
{
	return dp_admin_pending(w) || dp_proto_has_work(dp_admin_worker_of(w)->proto);
}

static bool on_pending(struct dp_worker *w)
{
	return dp_proto_pending(dp_admin_worker_of(w)->proto);
}

static void on_tick(struct dp_worker *w, uint64_t now_ns)
{
	dp_proto_tick(dp_admin_worker_of(w)->proto, now_ns);
}

const struct dp_upper_ops dp_admin_upper = {
    .open = admin_open,
    .close = admin_close,
    .worker_new = admin_worker_new,
    .worker_free = admin_worker_free,
    .worker_start = admin_worker_start,
    .worker_stop = admin_worker_stop,
    .worker_drain = dp_admin_drain,
    .opened = on_opened,
    .first = on_first,
    .raw = stmk,
    .frame = on_frame,
    .closed = on_closed,
    .stream_more = dp_admin_stream_more,
    .stream_free = dp_admin_stream_free,
    .poll = on_poll,
    .has_work = on_has_work,
    .pending = on_pending,
    .tick = on_tick,
};
