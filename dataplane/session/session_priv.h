/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the protocol layer (the .c files of session/): the per-worker and
 * per-connection state its files share, and the functions they call in
 * each other (grouped by the file that defines them).  Nothing here is
 * seen by the I/O layer or the admin layer, which talk to the protocol
 * layer only through session.h.
 *
 * Everything runs on the worker thread that owns the connection; no
 * structure here is shared between workers.
 */
#ifndef CHEETAH_DATAPLANE_SESSION_SESSION_PRIV_H
#define CHEETAH_DATAPLANE_SESSION_SESSION_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "common/jute.h"
#include "common/log.h"
#include "common/zkdefs.h"
#include "dataplane/io/io.h"
#include "dataplane/session/session.h"
#include "dataplane/zkproto/proto.h"
#include "replication/repl.h"
#include "tree/tree.h"
#include "dataplane/session/watch.h"

/* ================================================================== */
/* Protocol state shared by the session files                          */
/* ================================================================== */

/* A queued request's state (FIFO per session, guarantee 2). */
enum dp_req_state {
	DP_REQ_QUEUED = 0, /* received, not executed yet */
	DP_REQ_SENT,       /* at the broadcast core; its result is awaited */
	DP_REQ_PARKED,     /* executed locally; reply waits for events up to wait_zxid */
	DP_REQ_SASL,       /* a sasl packet whose step is on the SASL thread (sasl.c); blocks */
};

struct dp_req {
	struct dp_req *next;
	int32_t xid;
	int32_t op;         /* DP_OP_RAW: a frame received before the handshake ended */
	uint8_t state;
	bool core;          /* answered by the broadcast core (writes, sync, close) */
	bool close_after;   /* PARKED: close the connection once the reply is out */
	bool stats;         /* PARKED: the reply counts in the statistics */
	bool blocks;        /* QUEUED, and a later write must wait for it (s->nblock) */
	bool qread;         /* QUEUED, a read the core may run (s->nqreads) */
	bool recheck;       /* QUEUED behind a SASL step while unauthenticated: enforce again */
	uint32_t nframes;   /* PARKED: frames in buf */
	uint32_t nbatch;    /* SENT read: reads in the REPL_IN_READ it leads (0: not first) */
	const char *last_op;
	int64_t wait_zxid;  /* PARKED: reply may go once the worker's events reach it */
	uint64_t t_recv_ns; /* arrival, for latency */
	uint64_t t_held_ns; /* PARKED: since when (stage counters) */
	bool behind;	    /* PARKED behind an earlier reply, not for events */
	uint32_t len;       /* frame (QUEUED, SENT sync) or reply frames (PARKED) */
	uint8_t *buf;
};

#define DP_OP_RAW INT32_MIN

/*
 * A one-shot or persistent watch a locally served request registered
 * while this worker had not yet delivered the events up to the reply's
 * zxid.  It is matched against those events as they are drained (only
 * events newer than `after` concern it: ZooKeeper would have registered
 * it before them) and enters the watch table once the reply is sent, so
 * that the client, which registers its watcher when the reply arrives,
 * never sees an event for it first.
 */
struct dp_arm {
	char *path;
	uint32_t len;
	uint8_t bits;
	int64_t after;
};

enum dp_sess_state {
	DP_SESS_NEW = 0,    /* waiting for ConnectRequest */
	DP_SESS_CONNECTING, /* REPL_IN_CONNECT pushed */
	DP_SESS_OPEN,       /* handshake done */
	DP_SESS_CLOSING,    /* closing: nothing more is sent or executed */
};

/* The protocol layer's per-connection state (dp_conn_user). */
struct dp_sess {
	struct dp_proto *p;
	struct dp_conn *conn;
	uint32_t conn_id;
	uint8_t state;
	bool old_client;       /* ConnectRequest without readOnly */
	bool super;            /* superDigest matched */
	bool gone_sent;        /* REPL_IN_GONE / CLOSE pushed: the core knows */
	bool expired;          /* REPL_OUT_EXPIRE or invalid session */
	bool hold;             /* events wait behind the parked reply (see dp_arm) */
	bool touched;          /* traffic since the last REPL_IN_TOUCH */
	int32_t connect_seq;   /* echoed in REPL_OUT_CONNECTED's xid */
	int64_t session;
	int32_t timeout;       /* negotiated, ms */
	uint32_t widx;         /* watch manager index (valid once OPEN) */
	bool has_widx;

	/*
	 * ServerCnxn.authInfo (a set: no duplicates), at most
	 * TREE_AUTH_MAX_IDS ids of at most jute.maxbuffer bytes in all; each
	 * entry's scheme.p is one allocation holding the scheme then the id.
	 * Appended in insertion order; put in ZooKeeper's iteration order
	 * (dp_sess_auth_ordered) only when someone needs the order, so an add
	 * is O(1).  auth_slot indexes auth by (scheme, id) as struct
	 * tree_auth's slots (tree.h), so ACL checks use it too.
	 */
	struct tree_auth_id *auth;
	uint32_t nauth, auth_cap;
	uint32_t auth_bytes; /* sum of scheme and id lengths */
	bool auth_ordered;   /* auth[] is in ZooKeeper's order */
	uint8_t auth_slot[2 * TREE_AUTH_MAX_IDS];
	bool auth_enforced;	    /* holds an id of enforce.auth.schemes (ids only grow) */
	struct dp_sasl_conn *sasl; /* the connection's SASL server (sasl.c), NULL until used */

	/*
	 * FIFO: requests in arrival order; QUEUED ones form a suffix, behind
	 * the last one pushed to the core (last_sent, NULL when it has left).
	 */
	struct dp_req *head, *tail;
	uint32_t nqueued;
	uint32_t nunsent;   /* entries not SENT (QUEUED or PARKED) */
	uint32_t nblock;    /* QUEUED entries with blocks set */
	uint32_t nqreads;   /* QUEUED entries with qread set */
	struct dp_req *last_sent;

	/* Watches of the parked head request, and events held behind it. */
	struct dp_arm *arms;
	uint32_t narms, arms_cap;
	uint8_t *held;
	size_t held_len, held_cap;
	uint32_t held_frames;
	uint32_t trigger_stamp; /* dedupe per event trigger */
	/*
	 * Newest zxid sent on the connection (reply headers, event zxids): a
	 * reply's header zxid is never below it.
	 */
	int64_t sent_zxid;

	/* Timing. */
	uint64_t opened_ns;
	uint64_t last_touch_ns; /* last REPL_IN_TOUCH (or handshake) */
	uint64_t last_io_ns;    /* last frame in or out (connection expiry) */
	int64_t established_ms; /* wall clock, for cons */

	/* Per-connection statistics (ServerCnxn's, for cons). */
	uint64_t packets_received, packets_sent;
	const char *last_op;
	int64_t last_cxid, last_zxid;
	int64_t last_resp_ms; /* monotonic ms (Time.currentElapsedTime) */
	int64_t last_lat, min_lat, max_lat, total_lat, lat_count;

	struct dp_sess *prev, *next;           /* p->sessions */
	struct dp_sess *armed_prev, *armed_next; /* p->armed (narms > 0) */
	struct dp_sess *parked_next;           /* p->parked (head PARKED) */
	bool on_armed, on_parked;
};

/* A message for the core that did not fit in the ring yet. */
struct dp_backlog {
	struct repl_in *msgs;
	uint32_t head, n, cap;
};

/* The protocol layer of one worker. */
struct dp_proto {
	struct dp_worker *w;
	const struct cfg *cfg;
	struct repl *repl;
	struct tree *tree; /* switched by REPL_OUT_TREE (on_tree), acknowledged to the core */
	struct ring *in;
	struct ring *out;
	struct dp_watch *watch;
	const char *super_digest;
	uint32_t max_frame; /* jute.maxbuffer: bounds identities, multiRead replies */
	int32_t min_timeout, max_timeout;
	/*
	 * The clock that stamps requests and replies (receipt, latency, last
	 * I/O), read at most once per round of the worker loop: 0 until read,
	 * reset when dp_proto_poll and dp_proto_tick start and end.
	 */
	uint64_t round_ns;

	/*
	 * Newest zxid whose watch events this worker has delivered: every
	 * event of a txn <= seen_zxid has been processed (repl.h rule 2).
	 */
	int64_t seen_zxid;
	uint64_t tree_gen; /* REPL_OUT_TREE messages handled (on_tree) */
	bool draining;
	bool polling; /* inside dp_proto_poll (not a frame handler): may flush */
	struct log_every fanout_log; /* large watch fan-outs (from_core.c) */
	int32_t connect_seq;
	uint32_t trigger_seq;
	dp_sessions_done *sessions_done; /* the last dp_proto_ask_sessions's */

	struct dp_sess *sessions; /* every connection */
	struct dp_sess *armed;    /* sessions with pending arms */
	struct dp_sess *parked;   /* sessions whose head reply is parked */
	struct dp_backlog backlog;

	/* Scratch, reused. */
	struct jute_out scratch;
	struct jute_out ev_out;
	struct tree_children children;
	struct dp_sess **rec; /* recipients of one event */
	uint32_t rec_cap;

	/*
	 * Counters for dp_proto_stats, which other workers call: written by
	 * this worker only, with relaxed atomic stores; read with relaxed
	 * atomic loads.
	 */
	uint64_t packets_received, packets_sent;
	uint64_t lat_min_us, lat_max_us, lat_sum_us, lat_count;
	uint64_t outstanding, watches, watched_paths, ephemerals;
	uint32_t nconns, nsessions;
	/*
	 * Reply latencies in microseconds since start, never reset (srst
	 * resets the lat_* above only): readlatency and updatelatency of
	 * /metrics (dp_proto_latency).  hist.h's single writer: this worker.
	 */
	struct hist lat_read_us, lat_update_us;
	uint64_t lat_base[2][HIST_BUCKETS]; /* their baselines (mntr's percentiles since srst) */
	/*
	 * ZooKeeper's response and watch metrics (/metrics), same rules
	 * (this worker writes, relaxed stores): the bytes of the replies
	 * answered (RESPONSE_BYTES) and of the watch events handed to a
	 * connection (WATCH_BYTES), each a frame's length without its
	 * 4-byte prefix; the last, smallest and largest such frame
	 * (ServerStats' clientResponseStats, reset by srst; resp_min is
	 * UINT32_MAX and resp_max 0 while there is none, a frame having at
	 * least 16 bytes; resp_last_ns the round's clock then, to pick the
	 * newest worker's);
	 * connections expired by the idle check (with or without a session:
	 * SESSIONLESS_CONNECTIONS_EXPIRED counts both, as NIO's expirer
	 * does), reconnects with a session id (CONNECTION_REVALIDATE_COUNT);
	 * watchers notified per event by type 1..4 (NODE_*_WATCHER),
	 * never reset.  reply_bytes is dp_sess_reply_out's non-event bytes,
	 * consumed by dp_sess_reply_stats (plain: this worker only).
	 */
	uint64_t resp_bytes, watch_bytes, resp_last_ns, sessionless_expired, conn_revalidate;
	uint32_t resp_last, resp_min, resp_max;
	/*
	 * The four counters above as they stood at the last srst (0 before
	 * any): mntr prints the difference, as ZooKeeper's default metrics
	 * provider zeroes them (ServerMetrics.resetAll), while /metrics
	 * keeps them counting up (its Prometheus provider's reset is a no-op).
	 */
	uint64_t srst_resp_bytes, srst_watch_bytes, srst_sessionless, srst_revalidate;
	uint32_t reply_bytes;
	struct hist watch_fired[4];
	/* The same since start or srst, as mntr's AvgMinMaxCounter (count 0: none). */
	uint64_t wf_cnt[4], wf_sum[4], wf_min[4], wf_max[4];

	/* read_per_namespace: this worker's table (common/nsstat.h), or NULL. */
	struct nsstat_tab *ns_reads;

	/* Steps the SASL thread finished for this worker (sasl.c; under its lock). */
	struct dp_sasl_job *sasl_done;
	uint32_t sasl_ndone; /* atomic: read without the lock */
	struct dp_stage_stats stage;
};

/* ---- services for read.c (queue.c, ident.c) ---- */

/*
 * The session's identities in ZooKeeper's iteration order (whoAmI, and
 * the copy a write carries for fixupACL's "auth" expansion); sorts them
 * if an add came since the last call, O(n^2) for n <= TREE_AUTH_MAX_IDS.
 * The returned views are valid until the next add or the session's end.
 */
const struct tree_auth_id *dp_sess_auth_ordered(struct dp_sess *s);

/* The session's identities, as tree_acl_check wants them (views into s; any order). */
static inline struct tree_auth dp_sess_tree_auth(const struct dp_sess *s)
{
	return (struct tree_auth){ s->auth, s->nauth, s->super, s->auth_slot,
				   (uint32_t)sizeof(s->auth_slot) };
}

/*
 * Records a watch the request being executed adds (bits on path; events
 * with a zxid above `after` concern it).  The session layer enters it in
 * the watch table with the reply, or arms it when the reply is parked.
 * Returns 0 or -ENOMEM.
 */
int dp_sess_watch(struct dp_sess *s, const char *path, size_t len, uint8_t bits, int64_t after);

/*
 * auth (ZooKeeperServer.processPacket with the digest and ip providers):
 * adds the identity and returns ZK_OK, or ZK_AUTHFAILED for a scheme
 * without a provider, or for a new identity beyond TREE_AUTH_MAX_IDS or
 * beyond jute.maxbuffer bytes of identities (the caller answers and
 * closes, as ZooKeeper does after AUTHFAILED).  O(1) (a re-added
 * identity is a no-op, authInfo being a set).
 */
int32_t dp_sess_auth(struct dp_sess *s, const struct proto_auth_req *a);

/*
 * enforce.auth.enabled (AuthenticationHelper.enforceAuthentication):
 * true when enforcement is off or the session holds an id of one of
 * enforce.auth.schemes.  O(ids x schemes) until true, then O(1).
 */
bool dp_sess_auth_enforced(struct dp_sess *s);

/* ---- sasl.c: SASL (opcode 102) ---- */

struct dp_sasl_job; /* a step on the SASL thread (sasl.c) */

/* What a sasl packet gets. */
struct dp_sasl_out {
	int32_t err;	       /* the ReplyHeader's err */
	struct jute_buf token; /* SetSASLResponse's token (len -1: null); valid until the next step */
	bool close;	       /* close the connection after the reply */
	bool drop;	       /* close it now, without a reply */
	bool pending;	       /* the step went to the SASL thread: the reply comes later */
};

/*
 * One sasl packet's token through the session's SASL server (sasl.c's
 * opening comment).  Returns 0 and *out, or -ENOMEM.
 */
int dp_sess_sasl(struct dp_sess *s, struct jute_buf token, struct dp_sasl_out *out);
/* Whether a step of s's SASL server is on the SASL thread. */
bool dp_sess_sasl_busy(const struct dp_sess *s);
/* Frees s's SASL server (or leaves it to its step on the SASL thread). */
void dp_sess_sasl_free(struct dp_sess *s);
/* Answers the sasl packets whose steps the SASL thread finished (p's thread). */
void dp_sess_sasl_poll(struct dp_proto *p);
/* p is going: its steps on the SASL thread are dropped when done (p's thread). */
void dp_sess_sasl_forget(struct dp_proto *p);

/* ---- read.c: requests answered from the tree ---- */

/*
 * The outcome of a locally served request: the reply frames are in
 * p->scratch; zxid is the reply's ReplyHeader zxid (and the newest zxid
 * the reply can reveal): the reply may go once seen_zxid >= zxid.
 * close_after: close the connection once the reply is out.
 */
struct dp_local_res {
	int64_t zxid;
	bool close_after;
	bool stats;          /* counts in the latency/lastOp statistics */
	bool pending;        /* no reply yet: a sasl step on the SASL thread (DP_REQ_SASL) */
	uint32_t nframes;    /* frames in p->scratch (events + the reply) */
	const char *last_op;
};

/*
 * Whether op is a read the broadcast core can run at its place in the
 * txn order (dp_core_read): exists, getData, getChildren[2], getACL,
 * getAllChildrenNumber, multiRead.
 */
static inline bool dp_read_core_op(int32_t op)
{
	switch (op) {
	case ZK_OP_EXISTS:
	case ZK_OP_GETDATA:
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETCHILDREN2:
	case ZK_OP_GETACL:
	case ZK_OP_GETALLCHILDRENNUMBER:
	case ZK_OP_MULTIREAD:
		return true;
	default:
		return false;
	}
}

/* The lastOp name (cons) of a read. */
const char *dp_read_last_op(int32_t op);

/*
 * Executes one local request (reads, ping, watches, auth, sasl, whoAmI,
 * reconfig) decoded in *req.  Watches go through dp_sess_watch with
 * defer set when the reply will have to wait.  Returns 0, or a negative
 * errno after which the connection is closed (logged once).
 */
int dp_read_exec(struct dp_proto *p, struct dp_sess *s, const struct proto_request *req,
		 const uint8_t *payload, uint32_t len, struct dp_local_res *res);

/* True when the opcode is answered by the broadcast core. */
static inline bool dp_op_is_core(int32_t op)
{
	switch (op) {
	case ZK_OP_CREATE:
	case ZK_OP_DELETE:
	case ZK_OP_SETDATA:
	case ZK_OP_SETACL:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_DELETECONTAINER:
	case ZK_OP_CREATETTL:
	case ZK_OP_MULTI:
	case ZK_OP_SYNC:
	case ZK_OP_CLOSESESSION:
		return true;
	default:
		return false;
	}
}

/* ================================================================== */
/* Shared by the protocol layer's files                                */
/* ================================================================== */

/*
 * Every function below runs on the worker thread that owns the session
 * (or p); none takes ownership of its arguments unless it says so.
 */

/* NIOServerCnxnFactory's sessionlessCnxnTimeout default. */
#define SESSIONLESS_TIMEOUT_MS 10000
/* Frames a connection may have queued (ZooKeeper stops reading instead). */
#define MAX_QUEUED 65536

/* Statistics written by this worker, read by any (struct dp_proto's counters). */
#define ST_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define ST_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define ST_ADD(field, n) ST_SET(field, (field) + (n))

/* A stage counter (struct dp_stage_stats): one more, waited since t0. */
static inline void dp_stage_add(uint64_t *cnt, uint64_t *ns, uint64_t now, uint64_t t0)
{
	ST_ADD(*cnt, 1);
	if (ns && now > t0)
		ST_ADD(*ns, now - t0);
}

static inline int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static inline unsigned long long sid(const struct dp_sess *s)
{
	return (unsigned long long)s->session;
}

/* ---- output.c: to the core and to the client ---- */

/* Logs running out of memory for what, with the peer and session; returns -ENOMEM. */
int dp_sess_oom(const struct dp_sess *s, const char *what);
/* Pushes what waits in p->backlog to the core's ring, as far as it fits. */
void dp_sess_backlog_flush(struct dp_proto *p);
/* Pushes m (its body now the core's or the backlog's).  0 or -ENOMEM (body freed). */
int dp_sess_push_in(struct dp_proto *p, struct repl_in *m);
/* A message without body (kind: REPL_IN_TOUCH, GONE, ...) for s.  0 or -ENOMEM. */
int dp_sess_push_simple(struct dp_proto *p, struct dp_sess *s, uint8_t kind, int32_t xid);
/* Closes s's connection (after its output); nothing more is sent or executed. */
void dp_sess_close(struct dp_sess *s, const char *reason);
/* The clock of this round of the worker loop (struct dp_proto.round_ns). */
uint64_t dp_sess_round_now(struct dp_proto *p);

/*
 * One frame of flen bytes (its length prefix excluded) handed to a
 * connection: ServerCnxn.sendResponse's updateClientResponseSize, and
 * WATCH_BYTES for an event.  A few instructions; this worker only.
 */
static inline void dp_sess_count_frame(struct dp_proto *p, uint32_t flen, bool event)
{
	if (event)
		ST_ADD(p->watch_bytes, flen);
	ST_SET(p->resp_last, flen);
	ST_SET(p->resp_last_ns, p->round_ns); /* this round's clock, 0 if unread */
	if (flen < p->resp_min)
		ST_SET(p->resp_min, flen);
	if (flen > p->resp_max)
		ST_SET(p->resp_max, flen);
}

/* Sends nframes whole frames to s's connection (closed if it overflows). */
void dp_sess_send_frames(struct dp_proto *p, struct dp_sess *s, const void *buf, size_t len,
			 uint32_t nframes);
/*
 * The same for one frame many connections get (a watch event of a large
 * fan-out): written at once from buf when nothing is queued for s
 * (dp_conn_send_now), so buf is shared, not copied per connection.
 */
void dp_sess_send_shared(struct dp_proto *p, struct dp_sess *s, const void *buf, size_t len);
/* ServerCnxn.updateStatsForResponse + ServerStats.updateLatency. */
void dp_sess_reply_stats(struct dp_proto *p, struct dp_sess *s, int32_t xid, int64_t zxid,
			 const char *op, int32_t type, uint64_t t_recv_ns);
/* crst: zeroes s's per-connection statistics. */
void dp_sess_stats_reset(struct dp_sess *s);

/* ---- queue.c: the request queue, arms, held events, parked replies ---- */

/* dp_op_is_core, and reconfig on a member with reconfigEnabled (else read.c answers it). */
bool dp_sess_op_is_core(const struct dp_proto *p, int32_t op);
/* A new entry appended to s's queue (QUEUED), or NULL when out of memory. */
struct dp_req *dp_req_new(struct dp_proto *p, struct dp_sess *s, int32_t xid, int32_t op,
			  uint64_t t_recv);
/* Whether e is a read the core may run in its place (dp_core_read). */
bool dp_req_core_read(const struct dp_req *e);
/* e is queued behind something: counts it as a later write's obstacle or not. */
void dp_req_queued(struct dp_sess *s, struct dp_req *e);
/* e leaves the QUEUED state (pushed, executed or dropped). */
void dp_req_unqueue(struct dp_sess *s, struct dp_req *e);
/* Removes and frees s's head entry. */
void dp_req_pop(struct dp_proto *p, struct dp_sess *s);
/* Copies len bytes into e->buf; buf may point into e->buf.  0 or -ENOMEM. */
int dp_req_copy(struct dp_req *e, const void *buf, size_t len);
/* Puts s on p->armed / p->parked (no-op when it is on it already). */
void dp_sess_armed_add(struct dp_proto *p, struct dp_sess *s);
void dp_sess_parked_add(struct dp_proto *p, struct dp_sess *s);
/* Drops s's arms (and takes s off p->armed). */
void dp_sess_arms_clear(struct dp_proto *p, struct dp_sess *s);
/* Enters the arms still standing in the watch table.  0 or -ENOMEM. */
int dp_sess_arms_commit(struct dp_proto *p, struct dp_sess *s);
/* Holds an event frame back behind the parked reply.  0 or -ENOMEM. */
int dp_sess_held_add(struct dp_sess *s, const void *buf, size_t len);
/* Sends the held events of txns <= upto (they are in txn order). */
void dp_sess_held_send_upto(struct dp_proto *p, struct dp_sess *s, int64_t upto);
/* Once no parked reply holds them, the rest of the held events go out. */
void dp_sess_held_settle(struct dp_proto *p, struct dp_sess *s);
/*
 * Sends reply frames of an answer that shows the tree as of zxid raw,
 * its header zxid raised to the newest already sent, held events up to
 * it first.  Returns the header zxid.
 */
int64_t dp_sess_reply_out(struct dp_proto *p, struct dp_sess *s, uint8_t *buf, size_t len,
			  uint32_t nframes, int64_t raw);
/* Out of memory for a watch: logged, and the connection closed. */
void dp_sess_watch_fail(struct dp_sess *s);

/* ---- ident.c: identities ---- */

/*
 * Adds an identity unless present (authInfo is a set).  0, -ENOSPC
 * beyond TREE_AUTH_MAX_IDS or max_bytes of identities, or -ENOMEM.
 */
int dp_sess_auth_add(struct dp_sess *s, const char *scheme, size_t sl, const char *id, size_t il,
		     size_t max_bytes);
/*
 * The TLS client certificate's identity (X509AuthenticationProvider
 * .handleAuthentication): ("x509", subject DN), and ("super", DN) first
 * when the DN is X509AuthenticationProvider.superUser.  Called at the
 * ConnectRequest, when the handshake is over.  0 (also without a
 * certificate), or -ENOMEM.
 */
int dp_sess_auth_x509(struct dp_sess *s);
/* Frees s's identities. */
void dp_sess_auth_free(struct dp_sess *s);

/* ---- java_hash.c: Java's hash orders ---- */

/* String.hashCode of UTF-8 bytes (decoded as Java decodes them). */
int32_t dp_java_string_hash(struct jute_buf b);
/* HashMap/ConcurrentHashMap.spread of a hash code. */
uint32_t dp_java_spread(uint32_t h);
/* The bin of a Long key (Long.hashCode) in a table of that size. */
uint32_t dp_java_long_bin(int64_t id, uint32_t table);
/* The bin of an Id (jute's Id.hashCode) in a ConcurrentHashMap of that size. */
uint32_t dp_java_chm_bin(const struct tree_auth_id *a, uint32_t table);
/* The table size of a ConcurrentHashMap / HashSet holding count entries. */
uint32_t dp_java_chm_table(uint32_t count);
uint32_t dp_java_hash_set_table(uint32_t count);
/* ip as InetAddress.getHostAddress() prints it, into out (cap bytes). */
void dp_java_host_address(const char *ip, char *out, size_t cap);

/* ---- write.c: requests for the core ---- */

/*
 * Hands a core request to the core (dec: the frame as decoded on
 * arrival, or NULL for a queued one).  0 or a negative errno (logged).
 */
int dp_sess_push_core(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
		      const struct proto_request *dec, const uint8_t *payload, uint32_t len);
/*
 * Hands the queued reads from first up to (not including) upto to the
 * core as few REPL_IN_READ messages.  0 or a negative errno (logged).
 */
int dp_sess_push_read_batch(struct dp_proto *p, struct dp_sess *s, struct dp_req *first,
			    const struct dp_req *upto);

/* ---- run.c: running a session's queue ---- */

/* Executes what may go now of s's queue, in order. */
void dp_sess_run(struct dp_proto *p, struct dp_sess *s);
/*
 * A frame of an open session: queued and run.  0, or a negative errno
 * after which the connection is closed (logged).
 */
int dp_sess_request(struct dp_proto *p, struct dp_sess *s, const uint8_t *payload, uint32_t len,
		    uint64_t t_recv);

/* ---- handshake.c ---- */

/* The ConnectRequest (s in DP_SESS_NEW).  0, or a negative errno (logged). */
int dp_sess_connect_req(struct dp_proto *p, struct dp_sess *s, const uint8_t *payload,
			uint32_t len);
/* REPL_OUT_CONNECTED: the ConnectResponse, then the frames that waited. */
void dp_sess_connected(struct dp_proto *p, struct repl_out *m);

/* ---- results.c: answers from the core ---- */

/* REPL_OUT_RESULT: a write's result becomes its reply. */
void dp_sess_on_result(struct dp_proto *p, struct repl_out *m);
/* REPL_OUT_READ: the answers of a REPL_IN_READ. */
void dp_sess_on_read(struct dp_proto *p, struct repl_out *m);

/* ---- from_core.c: this worker's ring from the core ---- */

/* Handles every message on the ring. */
void dp_sess_drain(struct dp_proto *p);
/* Sends the parked replies whose zxid this worker has delivered. */
void dp_sess_release_parked(struct dp_proto *p);
/* repl.h rule 2: waits (bounded) for the core to publish the parked replies' zxids. */
void dp_sess_catch_up(struct dp_proto *p);

/* ---- digest.c ----
 *
 * Digest auth: "user:base64(sha1(user:password))" into out (>= len + 30). */
size_t dp_digest_id(const uint8_t *auth, size_t len, char *out);

#endif
