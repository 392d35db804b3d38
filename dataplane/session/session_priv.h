/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the protocol layer (dp_session.c, dp_read.c, dp_watch.c):
 * the watch manager's interface and the per-worker / per-connection state
 * the three files share.  Nothing here is seen by the I/O layer, which
 * talks to the protocol layer only through dp_priv.h.
 *
 * Everything runs on the worker thread that owns the connection; no
 * structure here is shared between workers.
 */
#ifndef CHEETAH_DATAPLANE_DP_PROTO_PRIV_H
#define CHEETAH_DATAPLANE_DP_PROTO_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jute.h"
#include "common/zkdefs.h"
#include "dataplane/dp_priv.h"
#include "dataplane/zkproto/proto.h"
#include "replication/repl.h"
#include "tree/tree.h"

/* ================================================================== */
/* The watch manager (dp_watch.c)                                      */
/* ================================================================== */

/*
 * What one connection watches on one path: ZooKeeper's two WatchManagers
 * (dataWatches, childWatches) with their WatchStats modes, merged into
 * one byte.  A connection may hold several modes on one path at once
 * (ZOOKEEPER-4466, the 3.9 WatchManager).
 */
enum {
	DP_WATCH_DATA = 1 << 0,           /* dataWatches STANDARD: getData, exists, setWatches */
	DP_WATCH_DATA_PERSIST = 1 << 1,   /* dataWatches PERSISTENT: addWatch persistent */
	DP_WATCH_DATA_RECURSIVE = 1 << 2, /* dataWatches PERSISTENT_RECURSIVE */
	DP_WATCH_CHILD = 1 << 3,          /* childWatches STANDARD: getChildren(2) */
	DP_WATCH_CHILD_PERSIST = 1 << 4,  /* childWatches PERSISTENT: addWatch persistent */
};
#define DP_WATCH_DATA_ANY (DP_WATCH_DATA | DP_WATCH_DATA_PERSIST | DP_WATCH_DATA_RECURSIVE)
#define DP_WATCH_CHILD_ANY (DP_WATCH_CHILD | DP_WATCH_CHILD_PERSIST)
#define DP_WATCH_ALL (DP_WATCH_DATA_ANY | DP_WATCH_CHILD_ANY)

/*
 * WatcherType of checkWatches/removeWatches, 3.9 numbering (Watcher.java:
 * Children 1, Data 2, Any 3, Persistent 4, PersistentRecursive 5).
 */
enum {
	DP_WTYPE_CHILDREN = 1,
	DP_WTYPE_DATA = 2,
	DP_WTYPE_ANY = 3,
	DP_WTYPE_PERSISTENT = 4,
	DP_WTYPE_PERSISTENT_RECURSIVE = 5,
};

/*
 * WatchManager.triggerWatch's rule for one (connection, path) entry:
 * whether an event of type on `path` notifies a watcher whose bits sit on
 * path itself (at_path) or on one of its ancestors, and which bits remain
 * afterwards (one-shot modes are consumed, persistent ones stay).
 *  - NodeCreated / NodeDataChanged: the data manager at the path (any
 *    data mode), recursive data watches on ancestors.
 *  - NodeChildrenChanged: the child manager at the path only.
 *  - NodeDeleted: both managers at the path (the connection is notified
 *    once: DataTree passes the data manager's watchers as `suppress` to
 *    the child manager), recursive data watches on ancestors.
 * Returns true when the watcher is notified; *left gets the bits kept.
 */
static inline bool dp_watch_fires(uint8_t bits, bool at_path, int32_t type, uint8_t *left)
{
	*left = bits;
	if (!at_path)
		return type != ZK_EVENT_NODE_CHILDREN_CHANGED && (bits & DP_WATCH_DATA_RECURSIVE);
	switch (type) {
	case ZK_EVENT_NODE_CREATED:
	case ZK_EVENT_NODE_DATA_CHANGED:
		*left = bits & ~DP_WATCH_DATA;
		return bits & DP_WATCH_DATA_ANY;
	case ZK_EVENT_NODE_CHILDREN_CHANGED:
		*left = bits & ~DP_WATCH_CHILD;
		return bits & DP_WATCH_CHILD_ANY;
	case ZK_EVENT_NODE_DELETED:
		*left = bits & ~(DP_WATCH_DATA | DP_WATCH_CHILD);
		return bits & DP_WATCH_ALL;
	default:
		return false;
	}
}

struct dp_watch;

/* Counts as ZooKeeper reports them. */
struct dp_watch_counts {
	uint64_t data_watches;  /* dataWatches.size(): (connection, path) pairs */
	uint64_t child_watches; /* childWatches.size() */
	uint64_t data_paths;    /* paths in dataWatches (wchs "watching N paths") */
	uint64_t data_conns;    /* connections in dataWatches (wchs "N connections") */
	uint64_t paths;         /* interned paths (either manager) */
	uint64_t entries;       /* (connection, path) entries, either manager */
	uint64_t recursive;     /* entries holding a recursive watch */
};

/*
 * Creates / frees a worker's watch manager.  dp_watch_new returns NULL on
 * allocation failure.
 */
struct dp_watch *dp_watch_new(void);
void dp_watch_free(struct dp_watch *wm);

/*
 * Registers a watcher (one connection, conn = its dp_conn_id, session for
 * the listings).  Returns 0 and its index in *widx, or -ENOMEM.
 */
int dp_watch_conn_new(struct dp_watch *wm, uint32_t conn, int64_t session, uint32_t *widx);
/*
 * A connection closed: its watcher is detached at once (no event
 * notifies it, no listing shows it, widx is not reused yet), and its
 * entries are freed by dp_watch_reclaim, at once when there are at most
 * DP_WATCH_RECLAIM_SLICE of them.  widx must not be used afterwards.
 */
#define DP_WATCH_RECLAIM_SLICE 4096u
void dp_watch_conn_detach(struct dp_watch *wm, uint32_t widx);
/*
 * Frees at most budget entries of detached watchers (oldest first), then
 * the watchers left empty.  Returns the entries still waiting (0: none).
 * The worker calls it once per loop iteration with DP_WATCH_RECLAIM_SLICE.
 */
uint64_t dp_watch_reclaim(struct dp_watch *wm, uint32_t budget);
/* Entries of detached watchers not freed yet (O(1)). */
uint64_t dp_watch_detached(const struct dp_watch *wm);
/* Detaches and frees everything at once (tests, shutdown). */
void dp_watch_conn_free(struct dp_watch *wm, uint32_t widx);
/* The dp_conn_id a watcher was registered with. */
uint32_t dp_watch_conn_id(const struct dp_watch *wm, uint32_t widx);

/*
 * Adds modes (DP_WATCH_* bits) for widx on path (interned once per
 * worker).  Returns 0 or -ENOMEM (nothing changed).
 */
int dp_watch_add(struct dp_watch *wm, uint32_t widx, const char *path, size_t len, uint8_t bits);

/*
 * checkWatches / removeWatches for a WatcherType (DP_WTYPE_*), as
 * DataTree.containsWatcher / removeWatch in 3.9.  Return whether such a
 * watch existed (removed: whether anything was removed).  The caller has
 * rejected unknown types.
 */
bool dp_watch_contains(const struct dp_watch *wm, uint32_t widx, const char *path, size_t len,
		       int32_t wtype);
bool dp_watch_remove(struct dp_watch *wm, uint32_t widx, const char *path, size_t len,
		     int32_t wtype);

/* Modes widx holds on path (0 when none). */
uint8_t dp_watch_bits(const struct dp_watch *wm, uint32_t widx, const char *path, size_t len);

/*
 * Fires the watches an event of type on path triggers (dp_watch_fires),
 * removing one-shot ones, and returns the watchers to notify, each once,
 * in *out (an array owned by wm, valid until the next call).  Returns
 * their number.
 */
uint32_t dp_watch_trigger(struct dp_watch *wm, int32_t type, const char *path, size_t len,
			  const uint32_t **out);

/* Any recursive watch on this worker (ancestors must be looked at). */
bool dp_watch_has_recursive(const struct dp_watch *wm);

/* The counts (O(1)). */
void dp_watch_counts(const struct dp_watch *wm, struct dp_watch_counts *c);
/* Memory held by the manager, in bytes (walks its tables). */
uint64_t dp_watch_bytes(const struct dp_watch *wm);

/*
 * The four-letter-word listings of the data manager, as DataTree prints
 * them (ZooKeeper lists dataWatches only):
 *  wchs: "<n> connections watching <m> paths\nTotal watches:<k>"
 *  wchc: per connection "0x<session hex>\n" then "\t<path>\n" per path
 *  wchp: per path "<path>\n" then "\t0x<session hex>\n" per watcher
 * The command's trailing empty line is the caller's.
 */
void dp_watch_describe(struct dp_watch *wm, const char *word, struct jute_out *out);
/*
 * The next part of wchc's or wchp's text (as dp_watch_describe prints
 * it) from *cur on (zeroed for the start): whole lines, stopping before
 * the first line that would start once budget bytes are appended.
 * Returns true when the listing is complete.  Between two calls the
 * table may change: the walk goes on by index, and a path or connection
 * replaced mid-listing is skipped (ZooKeeper's listing is not atomic
 * either).
 */
bool dp_watch_describe_chunk(struct dp_watch *wm, const char *word,
			     struct dp_describe_cursor *cur, size_t budget, struct jute_out *out);
/*
 * Once per tick (the worker's dp_proto_tick): the table's compaction,
 * held back while a chunked listing handed out a chunk since the last
 * tick, goes ahead.
 */
void dp_watch_tick(struct dp_watch *wm);

/* ================================================================== */
/* Protocol state shared by dp_session.c and dp_read.c                 */
/* ================================================================== */

/* A queued request's state (FIFO per session, guarantee 2). */
enum dp_req_state {
	DP_REQ_QUEUED = 0, /* received, not executed yet */
	DP_REQ_SENT,       /* at the broadcast core; its result is awaited */
	DP_REQ_PARKED,     /* executed locally; reply waits for events up to wait_zxid */
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
	uint32_t nframes;   /* PARKED: frames in buf */
	uint32_t nbatch;    /* SENT read: reads in the REPL_IN_READ it leads (0: not first) */
	const char *last_op;
	int64_t wait_zxid;  /* PARKED: reply may go once the worker's events reach it */
	uint64_t t_recv_ns; /* arrival, for latency */
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
	int32_t connect_seq;
	uint32_t trigger_seq;

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
};

/* ---- dp_session.c services for dp_read.c ---- */

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

/* ---- dp_read.c: requests answered from the tree ---- */

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
	uint32_t nframes;    /* frames in p->scratch (events + the reply) */
	const char *last_op;
};

/*
 * Whether op is a read the broadcast core can run at its place in the
 * txn order (dp_core_read): exists, getData, getChildren[2], getACL,
 * getAllChildrenNumber, multiRead.
 */
bool dp_read_core_op(int32_t op);

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

/* Digest auth (dp_session.c): "user:base64(sha1(user:password))" into out (>= len + 30). */
size_t dp_digest_id(const uint8_t *auth, size_t len, char *out);

#endif
