/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the admin layer (the .c files of admin/): its per-worker and
 * process-wide state, the table entry of a word, and the calls between
 * its files: fourlw.c (the table, the dispatch, the hooks the I/O layer
 * calls) -> gather.c (every worker's part: mailboxes, streamed answers,
 * dump) -> stats.c, mntr.c, texts.c (the texts).
 *
 * Thread: as each function says; "shared" fields are read or written by
 * other workers.
 */
#ifndef CHEETAH_DATAPLANE_ADMIN_ADMIN_PRIV_H
#define CHEETAH_DATAPLANE_ADMIN_ADMIN_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/jute.h"
#include "dataplane/io/io_priv.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"

struct repl_sessions;
struct repl_summary;
struct tree;

/* An admin request (four-letter words that need every worker's view). */
struct dp_admin_req {
	const struct dp_4lw_word *wd;
	uint32_t requester; /* worker index */
	uint32_t conn;	    /* requester's connection id */
	uint32_t pending;   /* atomic: workers yet to answer */
	uint32_t nworkers;
	struct repl_sessions *sessions; /* dump: the core's tracker, asked first */
	/*
	 * Asked by the AdminServer's thread (dp_admin_gather_text), not by a
	 * connection: the last worker to answer signals it instead of the
	 * requester's done list.  refs: the waiter's and the workers' (the
	 * last to let go frees the request).
	 */
	struct dp_admin_waiter *waiter;
	/*
	 * A chunk of a chunked answer (wchc, wchp): only worker target
	 * answers, into out[0], from cur on, about budget bytes; end is set
	 * when that worker's listing is complete.
	 */
	bool chunk;
	bool end;
	bool local; /* a part the asker builds itself (dump's tracker, ephemerals, connections) */
	/*
	 * dp_info.h's structured requests (admin/info.c), always a waiter's:
	 * infos (owned by the request, DP_INFO_CHUNK of them): copy target's
	 * connections from cur.i on into it, ninfos set; ask_sessions: the
	 * target (worker 0) asks the core for its tracker, which arrives in
	 * sessions (NULL: out of memory or busy).
	 */
	struct dp_conn_info *infos;
	uint32_t ninfos;
	bool ask_sessions;
	uint32_t target;
	size_t budget;
	struct dp_describe_cursor cur;
	struct jute_out out[]; /* one per worker (a chunk: one), filled on its own thread */
};

/* The AdminServer's thread waiting for a gathered request. */
struct dp_admin_waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	uint32_t refs; /* atomic */
};

/* A mutex-protected list of requests: the admin path only. */
struct dp_mailbox {
	pthread_mutex_t lock;
	struct dp_admin_req **v;
	uint32_t n;
	uint32_t cap;
	uint32_t count; /* atomic mirror of n, read without the lock */
};

/*
 * The admin layer's part of a worker (w->upper): created on the main
 * thread before the worker runs (its mailboxes take requests from then
 * on), its protocol state on the worker's own thread.  Fields marked
 * "shared" are read or written by other workers.
 */
struct dp_admin_worker {
	struct dp_proto *proto;	 /* shared: published (release) once created, NULL after */
	struct dp_mailbox inbox; /* shared: requests from any worker */
	struct dp_mailbox done;	 /* shared: this worker's finished requests */
	uint64_t fourlw;	 /* shared (relaxed): words received, counted as packets */
	const struct dp_4lw_word
	    *dump; /* dump's entry, for the core's answer (dp_admin_ask_sessions) */
	/* An ask_sessions request waiting for the core's answer (info.c); worker's own. */
	struct dp_admin_req *info_sessions;
};

/* The conn id the core's tracker is asked for on behalf of dp_info_sessions. */
#define DP_ADMIN_INFO_CONN UINT32_MAX

/* The admin layer's process-wide part (dp->upper_dp). */
struct dp_admin {
	int64_t trace_mask; /* atomic: gtmk / stmk */
};

struct dp_admin_req;

/* How a word is answered (fourlw.c's run, the one dispatch site). */
enum dp_4lw_kind {
	DP_4LW_TEXT,   /* at once, by text() */
	DP_4LW_STREAM, /* every worker's listing in turn, a chunk at a time (cons, stat, wchc, wchp)
			*/
	DP_4LW_GATHER, /* every worker's part at once through the mailboxes, then finish() */
	DP_4LW_DUMP,   /* the core's session tracker first, then streamed in parts */
	DP_4LW_MASK,   /* an 8-byte trace mask follows (stmk) */
};

/* One four-letter word (fourlw.c's table words[], keyed by the word). */
struct dp_4lw_word {
	char name[5]; /* as on the wire: config's cfg_4lw_names entry for bit */
	uint32_t bit; /* enum cfg_4lw: the 4lw.commands.whitelist bit that enables it */
	uint8_t kind; /* enum dp_4lw_kind */
	bool serving; /* refused while the server is not serving (ZooKeeper's CommandBase) */
	void (*text)(struct dp *dp, struct jute_out *o);		  /* DP_4LW_TEXT */
	void (*finish)(const struct dp_admin_req *r, struct jute_out *o); /* DP_4LW_GATHER */
};

static inline struct dp_admin_worker *dp_admin_worker_of(const struct dp_worker *w)
{
	return w->upper;
}

static inline struct dp_proto *dp_admin_proto_of(const struct dp_worker *w)
{
	return __atomic_load_n(&dp_admin_worker_of(w)->proto, __ATOMIC_ACQUIRE);
}

static inline struct dp_admin *dp_admin_of(const struct dp *dp)
{
	return dp->upper_dp;
}

/* Appends s (a C string) to o. */
static inline void dp_admin_outs(struct jute_out *o, const char *s)
{
	jute_put_raw(o, s, strlen(s));
}

/* ---- stats.c: numbers over all workers (any worker's thread) ---- */

struct dp_admin_totals {
	/*
	 * The workers' counters summed, those of them summed here (watch_fired,
	 * resp_*, srst_* are not: the fields below hold those); response_bytes,
	 * watch_bytes, sessionless_expired and conn_revalidate since start.
	 */
	struct dp_proto_stats p;
	uint64_t fourlw;
	uint64_t bytes_received;
	uint64_t rejected;
	uint64_t tls_failed; /* unsuccessful TLS handshakes */
	uint32_t conns;
	bool have_latency;
	/*
	 * mntr's: response_bytes, watch_bytes, sessionless_connections_expired,
	 * connection_revalidate_count since start or srst; the client response
	 * sizes since start or srst (-1 while none, as BufferStats).
	 */
	uint64_t mntr_response_bytes, mntr_watch_bytes, mntr_sessionless, mntr_revalidate;
	int64_t resp_last, resp_min, resp_max;
	/* NODE_CREATED..CHILDREN_WATCHER since start or srst, every worker's */
	struct repl_summary watch_fired[4];
};

/*
 * The core's ZooKeeper counters (repl_zk_stats, repl_stale_sessions_expired,
 * repl_revalidate_count, repl_election_stats' looking_count), since start
 * when since_srst is false, else less their values at the last srst (mntr's
 * view).  Zeros without a core.  election, when not NULL, gets a copy of
 * the election-time histogram (repl_election_stats; zeroed by none here).
 * Any worker; the admin path only (without election it copies the
 * histogram to the heap and drops it).
 */
struct dp_admin_repl_counters {
	uint64_t proposals, commits, learner_proposals, learner_commits, snaps, diffs;
	uint64_t unrecoverable, stale, revalidate, looking;
};
void dp_admin_repl_counters(struct dp *dp, bool since_srst, struct dp_admin_repl_counters *out,
			    struct hist *election);
/* srst's share: records the counters above as the new baseline (worker 0, once). */
void dp_admin_repl_counters_reset(struct dp *dp);

/* "3.8.0-cheetah-<version>, built on <date>" (ZooKeeper's Version.getFullVersion). */
const char *dp_admin_zk_version(void);
/* Every worker's counters summed into *t. */
void dp_admin_totals(struct dp *dp, struct dp_admin_totals *t);
/* The process's open file descriptors (/proc/self/fd), -1 when it cannot tell. */
int64_t dp_admin_open_fds(void);
/* Latencies in ms as ZooKeeper prints them (AvgMinMaxCounter). */
uint64_t dp_admin_lat_min_ms(const struct dp_admin_totals *t);
uint64_t dp_admin_lat_max_ms(const struct dp_admin_totals *t);
void dp_admin_lat_avg_ms(const struct dp_admin_totals *t, char *buf, size_t len);
/* A summary's average as Java prints the double. */
void dp_admin_summary_avg(const struct repl_summary *s, char *buf, size_t len);
/* AvgMinMaxCounter.getAvg: sum / cnt to 4 decimals, HALF_UP; 0 when empty. */
double dp_admin_avg4(uint64_t sum, uint64_t cnt);
/* v as Java's Double.toString prints it (shortest round trip: strtod reads v back). */
void dp_admin_java_double(char *buf, size_t len, double v);
/* The tree being served (NULL before dp_run). */
struct tree *dp_admin_tree(struct dp *dp);
/* "Node count" as ZooKeeper counts it (the root twice). */
uint64_t dp_admin_node_count(struct dp *dp);
/* repl_server_state, or "standalone" before dp_run. */
const char *dp_admin_server_state(const struct dp *dp);
/* StatCommand's first lines (srvr, stat). */
void dp_admin_version_lines(struct dp *dp, struct jute_out *o);
/* ServerStats.toString (srvr, the end of stat). */
void dp_admin_server_stats(struct dp *dp, const struct dp_admin_totals *t, struct jute_out *o);

/* ---- mntr.c, texts.c: the words answered at once (the asking worker) ---- */

void dp_admin_mntr(struct dp *dp, struct jute_out *o);
/* mntr's fields (dp_info.h's dp_mntr_field), which dp_admin_mntr prints.  As dp_admin_mntr. */
struct dp_mntr_field;
void dp_admin_mntr_fields(struct dp *dp, void (*fn)(void *arg, const struct dp_mntr_field *f),
			  void *arg);
void dp_admin_conf(struct dp *dp, struct jute_out *o);
void dp_admin_dirs(struct dp *dp, struct jute_out *o);
/*
 * The AdminServer's "ensemble" text (no four-letter word): "key: value"
 * lines state, myid, leader_id and, on the leader, synced_observers and
 * observer_ids (space-separated), from the core's published state.
 */
void dp_admin_ensemble(struct dp *dp, struct jute_out *o);
void dp_admin_envi(struct jute_out *o);
void dp_admin_hash(struct dp *dp, struct jute_out *o);

/* ---- gather.c: every worker's part ---- */

/* Sends o (the whole answer) and closes c; out of memory (o->err) aborts c. */
void dp_admin_answer(struct dp_conn *c, struct jute_out *o);
/* A worker's mailbox (main thread, dp_upper_ops.worker_new / worker_free). */
void dp_admin_mailbox_init(struct dp_mailbox *m);
void dp_admin_mailbox_fini(struct dp_mailbox *m);
/* True when w's mailboxes hold work (cheap; any thread). */
bool dp_admin_pending(struct dp_worker *w);
/* Serves w's mailbox and finishes the requests w made (w's thread). */
void dp_admin_poll(struct dp_worker *w);
/* Shutdown: answers queued requests empty and frees finished ones. */
void dp_admin_drain(struct dp_worker *w);
/*
 * wd (cons, stat, wchc, wchp; dump with the core's tracker, sessions,
 * owned from now on, may be NULL) streamed on c, a chunk at a time.
 */
void dp_admin_stream_start(struct dp_conn *c, const struct dp_4lw_word *wd,
			   struct repl_sessions *sessions);
/* dp_upper_ops.stream_more / stream_free for those streams. */
void dp_admin_stream_more(struct dp_conn *c);
void dp_admin_stream_free(void *stream);
/* wd (wchs, crst, srst) to every worker; wd->finish answers once all parts are in. */
void dp_admin_post(struct dp_conn *c, const struct dp_4lw_word *wd, struct repl_sessions *sessions);
/* The words of kind DP_4LW_GATHER (fourlw.c's table), for dp_admin_gather_text. */
const struct dp_4lw_word *dp_admin_gather_word(const char *name);
/* wchc and wchp (streamed per worker, no part of the asker's own). */
const struct dp_4lw_word *dp_admin_listing_word(const char *name);
/* wchs: the workers' summaries summed. */
void dp_admin_wchs_sum(const struct dp_admin_req *r, struct jute_out *o);
/*
 * The AdminServer's side of the mailbox (gather.c, for info.c): a request
 * with nparts parts that a waiter (the calling thread) will wait for; its
 * push to worker x's inbox (and wake-up); the wait, at most 5 s (false:
 * timed out; the request stays the workers' until they answer); the
 * waiter letting go (the last of it and the workers frees the request).
 */
struct dp_admin_req *dp_admin_waited_req(const struct dp_4lw_word *wd, uint32_t nparts);
int dp_admin_push(struct dp_worker *x, struct dp_admin_req *r);
bool dp_admin_wait_answered(struct dp_admin_req *r);
void dp_admin_waiter_done(struct dp_admin_req *r);

/* dump: asks the core for its session tracker, then streams wd. */
void dp_admin_ask_sessions(struct dp_conn *c, const struct dp_4lw_word *wd);

#endif
