/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broadcast core: the write pipeline and the session tracker.
 *
 * One thread (the broadcast core) owns the tree for writing, the prep
 * state, the transaction log and the session tracker.  Dataplane workers
 * talk to it only through rings of fixed-size messages, one pair per
 * worker: repl_in (worker -> core) and repl_out (core -> worker).  Larger
 * payloads travel as heap pointers inside a message and belong to the
 * receiver once popped.
 *
 * Pipeline per write: pop from a worker ring -> prep (tree_prep_write
 * against the tree plus outstanding changes, so pipelined writes see each
 * other) -> zxid -> txlog_append (group commit: everything that arrives
 * during one fdatasync goes into the next) -> once durable: tree_apply ->
 * events to every worker, then the result to the submitting worker.
 * Reads a worker hands over (REPL_IN_READ) run at their place in that
 * order, through the dataplane's callback.  The seam between "logged" and "applied" is where the quorum will go:
 * today a txn is committed when it is durable locally.
 *
 * Ordering rules the dataplane relies on:
 *  1. For each applied txn, the core pushes its watch events (if any) to
 *     every worker ring, then the result to the submitting worker, then
 *     advances repl_published_zxid() to the txn's zxid.  So on one worker
 *     ring, a txn's events always precede its result.
 *  2. A worker serving a read locally samples L = tree_applying_zxid() AFTER
 *     the read and before replying.  If L is beyond the newest zxid whose
 *     events it has processed, it waits (bounded spin) until
 *     repl_published_zxid() >= L, drains its ring (delivering events to
 *     its connections), and only then sends the reply, with zxid L in the
 *     reply header.  A read therefore never reveals a change before the
 *     event for it reaches the client (ZooKeeper guarantee: the watch
 *     event comes before any response that reveals the new data).
 *  3. FIFO per session: a worker keeps a session's requests in order; a
 *     read queued behind a pending write waits for that write's result,
 *     or, when a later write of the session is to go, goes to the core
 *     ahead of it as REPL_IN_READ.
 *  4. A REPL_IN_READ runs (repl_opts.read_exec) on the tree between two
 *     txns: once every request its session pushed before it is answered
 *     (right away when none is in flight; it need not wait for other
 *     sessions' later txns) and before anything pushed after it is
 *     applied.  Its REPL_OUT_READ comes after the events of every txn
 *     applied before it and before those of every later one, and carries
 *     the applied zxid, so the worker sends it, and registers its
 *     watches, as soon as it pops it.
 *
 * Sessions: the core assigns ids (ZooKeeper's scheme: server id in the
 * top byte, time-based counter below) and passwords (ZooKeeper's: the
 * session id seeds java.util.Random, 16 bytes), logs createSession and
 * closeSession txns, expires sessions in tickTime buckets, and is told of
 * activity by REPL_IN_TOUCH messages (a worker sends one per session at
 * most every timeout/3, not per request).
 */
#ifndef CHEETAH_REPLICATION_REPL_H
#define CHEETAH_REPLICATION_REPL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/ring.h"
#include "common/zkdefs.h"
#include "tree/tree.h"

struct repl;

/* ---- Worker -> core ---- */

enum repl_in_kind {
	REPL_IN_CONNECT = 1, /* body: struct repl_connect */
	REPL_IN_WRITE,       /* body: struct repl_write */
	REPL_IN_SYNC,        /* body: NULL; answered after everything before it applied */
	REPL_IN_CLOSE,       /* body: NULL; closeSession */
	REPL_IN_TOUCH,       /* body: NULL; the session was active */
	REPL_IN_GONE,        /* body: NULL; the connection closed, session lives on */
	REPL_IN_SESSIONS,    /* body: NULL; answered REPL_OUT_SESSIONS (dump word) */
	REPL_IN_READ,        /* body: struct repl_write (reads, see below); run by the core */
};

struct repl_in {
	uint8_t kind;
	uint32_t conn;   /* the worker's connection id, echoed back */
	int32_t xid;     /* request xid, echoed back */
	int64_t session;
	void *body;      /* owned by the core once pushed; freed with repl_in_free */
};

/* ConnectRequest as the core needs it. */
struct repl_connect {
	int64_t session;        /* 0: new session */
	int64_t last_zxid_seen;
	int32_t timeout;        /* requested, ms */
	uint8_t passwd[16];
	uint8_t passwd_len;
	bool read_only;
};

/*
 * A span of a repl_write's storage[]: bytes [off, off + len); len -1 is a
 * null buffer (jute's -1 length).
 */
struct repl_span {
	uint32_t off;
	int32_t len;
};

/* One op of a write (tree_req with spans instead of pointers). */
struct repl_write_req {
	int32_t type; /* ZK_OP_* */
	int32_t flags;
	int32_t version;
	int32_t acl_count; /* -1: null vector */
	int64_t ttl;
	struct repl_span path;
	struct repl_span data;
	struct repl_span acl; /* the ACL list's raw jute bytes */
};

/* One identity of the session (tree_auth_id with spans). */
struct repl_write_id {
	struct repl_span scheme;
	struct repl_span id;
};

/*
 * A write (or multi) decoded by the worker, in one allocation of `size`
 * bytes: this header, storage[] (a copy of the request frame and of the
 * session's identities), then at reqs_off the ops and at ids_off the
 * identities, all as offsets, never pointers: the write is
 * position-independent, so it can be copied within the process as its
 * `size` bytes and checked with repl_write_check.  Between processes (a
 * follower forwards writes to its leader) it travels in its wire form,
 * repl_write_encode's, decoded with repl_write_decode.
 * repl_write_views gives tree_prep the views it takes.
 */
struct repl_write {
	uint32_t size; /* bytes of the whole write, this header included */
	int32_t op;    /* ZK_OP_* of the request header */
	uint8_t multi;
	uint8_t super; /* the session authenticated as the super user */
	uint16_t reserved;
	uint32_t nreqs;
	uint32_t nauth;
	uint32_t storage_len;
	uint32_t reqs_off; /* from the start of the write, 8-aligned */
	uint32_t ids_off;
	struct repl_span slots; /* the identities' index (tree_auth.slots); -1: none */
	uint8_t storage[];
};

static inline struct repl_write_req *repl_write_reqs(struct repl_write *w)
{
	return (struct repl_write_req *)((uint8_t *)w + w->reqs_off);
}

static inline struct repl_write_id *repl_write_ids(struct repl_write *w)
{
	return (struct repl_write_id *)((uint8_t *)w + w->ids_off);
}

/* The span of storage [p, p + len) (p inside storage, or NULL with len -1). */
static inline struct repl_span repl_write_span(const struct repl_write *w, const uint8_t *p,
					       int32_t len)
{
	return (struct repl_span){p ? (uint32_t)(p - w->storage) : 0, len};
}

/*
 * REPL_IN_READ: reads the core executes at their place in their
 * session's order (once every request of the session pushed before
 * them is answered, before anything pushed after them is applied),
 * through repl_opts.read_exec, and answers with one REPL_OUT_READ.  The
 * dataplane sends the reads of a session queued ahead of a later write
 * of that session, so the write does not wait for their turn at the
 * worker, yet is applied only after them (ZooKeeper's CommitProcessor
 * order); consecutive reads travel together, one message for all of
 * them (a batch: one allocation, one ring slot, one answer).  Its body
 * is a struct repl_write with op the first read's opcode and one op per
 * read (nreqs >= 1, in session order), each with type its opcode and
 * data spanning its whole request frame (header included), and the
 * session's identities as a write carries them (for the ACL check).
 * The message's xid is the first read's.
 */

/*
 * Allocates a zeroed write with room for storage_len bytes, nreqs ops and
 * nauth identities, its size and offsets set; NULL on allocation failure
 * or when it would exceed 4 GiB.  Freed with free() (repl_in_free).
 * Any thread.
 */
struct repl_write *repl_write_new(size_t storage_len, uint32_t nreqs, uint32_t nauth);

/*
 * Checks that the len bytes at w are a well-formed write: size == len,
 * offsets aligned and inside, every span inside storage[] (or null); an
 * empty multi has no op.  Returns 0 or -EBADMSG.  Bytes from another process must
 * pass it before anything else reads them.  Any thread.
 */
int repl_write_check(const struct repl_write *w, size_t len);

/*
 * The wire form of a write: LITTLE-ENDIAN, every multi-byte field, at
 * fixed offsets (what x86 held in memory when writes were forwarded as
 * raw structs, so earlier releases read the same bytes):
 *   0  u32 size: bytes of the whole wire form   4  i32 op
 *   8  u8 multi   9 u8 super   10 u16 zero      12 u32 nreqs
 *   16 u32 nauth                                20 u32 storage_len
 *   24 u32 reqs_off = align8(40 + storage_len)
 *   28 u32 ids_off = reqs_off + nreqs * REPL_WRITE_WIRE_REQ
 *   32 u32 slots.off                            36 i32 slots.len
 *   40 storage[storage_len], zero bytes up to reqs_off
 *   reqs_off: nreqs x REPL_WRITE_WIRE_REQ bytes:
 *      0 i32 type   4 i32 flags   8 i32 version   12 i32 acl_count
 *      16 i64 ttl   24 path, 32 data, 40 acl: each a span (u32 off, i32 len)
 *   ids_off: nauth x REPL_WRITE_WIRE_ID bytes: scheme span, id span
 *   size = ids_off + nauth * REPL_WRITE_WIRE_ID.
 * Reserved and padding bytes are written as zero and ignored on read.
 */
#define REPL_WRITE_WIRE_HDR 40u
#define REPL_WRITE_WIRE_REQ 48u
#define REPL_WRITE_WIRE_ID 16u

/*
 * Bytes of w's wire form (w passed repl_write_check); 0 above 4 GiB.
 * Any thread.
 */
size_t repl_write_wire_size(const struct repl_write *w);

/*
 * Writes w's wire form into out[0..repl_write_wire_size(w)).  w must
 * have passed repl_write_check.  Any thread.
 */
void repl_write_encode(const struct repl_write *w, uint8_t *out);

/*
 * Decodes the wire form in p[0..len) into a new write (*out, freed with
 * free()) that passed repl_write_check.  Returns 0, -EBADMSG (a length,
 * offset, count or span out of bounds, or len not the form's size) or
 * -ENOMEM.  Never reads outside p[0..len).  Any thread.
 */
int repl_write_decode(const uint8_t *p, size_t len, struct repl_write **out);

/*
 * Fills reqs[0..nreqs) and ids[0..nauth) with views into w's storage and
 * *auth with ids, nauth, super and the slot table (the form
 * tree_prep_write takes; the table is only a view of bytes, checked by
 * tree_acl_check's own bounds).  w
 * must have passed repl_write_check (asserted cheaply).  Any thread.
 */
void repl_write_views(const struct repl_write *w, struct tree_req *reqs,
		      struct tree_auth_id *ids, struct tree_auth *auth);

/*
 * repl_write_views' parts: the identities alone (ids[0..nauth), *auth),
 * and the data of op i < nreqs (a REPL_IN_READ's i-th frame).  w must
 * have passed repl_write_check.  Any thread.
 */
void repl_write_auth(const struct repl_write *w, struct tree_auth_id *ids, struct tree_auth *auth);
struct jute_buf repl_write_data(const struct repl_write *w, uint32_t i);

/* ---- Core -> worker ---- */

enum repl_out_kind {
	REPL_OUT_RESULT = 1, /* body: struct repl_result (write, sync, close) */
	REPL_OUT_CONNECTED,  /* body: struct repl_connected */
	REPL_OUT_EVENTS,     /* body: struct repl_events, shared by all workers */
	REPL_OUT_EXPIRE,     /* body: NULL; session expired or moved: drop conn */
	REPL_OUT_SESSIONS,   /* body: struct repl_sessions, NULL if out of memory */
	REPL_OUT_READ,       /* body: struct repl_read_out (answer to REPL_IN_READ) */
	REPL_OUT_TREE,       /* body: the new struct tree (NOT owned); see below */
};

/*
 * REPL_OUT_TREE: the tree was replaced (an ensemble member installed its
 * leader's snapshot live, ensemble.c).  body is the new tree, zxid its
 * last zxid, session the install's generation.  Everything before the
 * message on the ring concerns the old tree, everything after it the new
 * one.  The worker closes every connection it has (their watches and
 * reads belong to the old tree's history, which the new tree skipped
 * over), reads the new tree from then on, and acknowledges with
 * repl_tree_switched(generation): the old tree is freed only once every
 * worker acknowledged (and after a grace period).  repl_out_free never
 * frees the body.
 */

/*
 * A worker's connection id: the low REPL_CONN_SLOT_BITS bits are a slot
 * the worker gives a new connection only once the one before it there is
 * gone, so all input of the old one precedes, in the worker's ring, any
 * of the new one; the bits above are a generation.  The core keeps per
 * slot what it closed (repl.c, closed_input).
 */
#define REPL_CONN_SLOT_BITS 20

/*
 * REPL_OUT_EXPIRE means "close this connection without a reply".  The core
 * sends it to the connection owning a session when the session's
 * closeSession (expiry) is applied, when another connection reconnects
 * with the session's id (ZooKeeper closes the old one even if the new one
 * has a bad password), to a connecting connection whose client has seen a
 * zxid newer than the tree's (ZooKeeper refuses it: "client must try
 * another server"), and to every owning connection after a disk error.
 * Connection ids are reused by workers: drop the connection only if its
 * session is still msg.session.  One addressed to a connection still
 * waiting for its CONNECTED (a refused connect) carries that connect's
 * xid instead (never 0): it matches the connection while it waits for
 * that very answer, whatever session id it asked for (msg.session is not
 * compared: a new session's id is picked by the core).
 */

struct repl_out {
	uint8_t kind;
	uint32_t conn;
	int32_t xid;
	int64_t session;
	int64_t zxid;
	void *body; /* owned by the worker once popped; free with repl_out_free */
};

/*
 * The outcome of a write: per-op results as tree_apply gave them.  A sync
 * or a close gets nresults 0.  A write, sync or close of a session the
 * core does not know or is closing is answered in order with
 * ZK_SESSIONEXPIRED (close: ZK_OK), nresults 0, and logs no txn.
 */
struct repl_result {
	int32_t err;           /* the request's result (multi: first failure) */
	/*
	 * The applied txn's type; 0 when none was logged.  A multi prep turned
	 * into one ERROR txn (ZooKeeper's MARSHALLINGERROR for a multi it
	 * cannot decode) is answered with the error in the header and no body,
	 * unlike a MULTI txn whose ops failed.
	 */
	int32_t txn_type;
	uint32_t nresults;
	struct {
		int32_t err;
		int32_t type;    /* op type as applied (create kinds, ...) */
		struct zk_stat stat;
		/* created path in paths[] (creates); the data set (a setData of
		 * /zookeeper/config: reconfig's answer) */
		uint32_t path_off;
		uint32_t path_len;
	} results[];
	/* followed by char paths[] */
};

/*
 * The answer to REPL_IN_READ, as read_exec built it: one answer per read
 * of the message, in order (repl_read_answers: its xid, its error, and
 * its share of the frames and watches), the zxid the replies show (the
 * tree's applied zxid where the reads ran), the encoded reply frames of
 * every answer one after the other (len bytes, nframes frames), and the
 * watches the reads set, to be registered by the worker when it pops
 * the answer: every event of a txn before the reads precedes the answer
 * on the ring, every later one follows it.  An answer whose err is not
 * ZK_OK has no frames: the worker answers that read with a bare
 * ReplyHeader.  One allocation: this header, watches[], the answers,
 * then the bytes (the frames first, then the watches' paths).  Reads of
 * an unknown or closing session get one REPL_OUT_RESULT with
 * ZK_SESSIONEXPIRED instead (for all of the message's reads), ones the
 * core cannot execute at all (malformed, read_exec failing)
 * ZK_MARSHALLINGERROR or ZK_SYSTEMERROR.
 */
struct repl_read_out {
	int64_t zxid;
	uint32_t nreads;   /* answers: repl_read_answers()[0 .. nreads) */
	uint32_t nframes;  /* all answers' */
	uint32_t len;	   /* reply frames: repl_read_bytes()[0 .. len) */
	uint32_t nwatches;
	struct {
		uint32_t path_off; /* in repl_read_bytes() */
		uint32_t path_len;
		uint8_t bits; /* the dataplane's watch modes */
	} watches[];
	/* followed by struct repl_read_ans[nreads], then uint8_t bytes[] */
};

/* One read's share of a struct repl_read_out, the answers' in order. */
struct repl_read_ans {
	int32_t xid;
	int32_t err;	   /* ZK_OK, or the error it is answered with (no frames) */
	uint32_t nframes;
	uint32_t len;	   /* its frames' bytes, after the previous answers' */
	uint32_t nwatches; /* its watches, after the previous answers' */
};

static inline struct repl_read_ans *repl_read_answers(struct repl_read_out *o)
{
	return (struct repl_read_ans *)(void *)&o->watches[o->nwatches];
}

static inline uint8_t *repl_read_bytes(struct repl_read_out *o)
{
	return (uint8_t *)&repl_read_answers(o)[o->nreads];
}

/* The allocation size of a struct repl_read_out. */
static inline size_t repl_read_out_size(uint32_t nreads, uint32_t nwatches, size_t bytes)
{
	const struct repl_read_out *o = 0;

	return sizeof(*o) + (size_t)nwatches * sizeof(o->watches[0]) +
	       (size_t)nreads * sizeof(struct repl_read_ans) + bytes;
}

struct repl_connected {
	int32_t err;      /* ZK_OK, ZK_SESSIONEXPIRED (unknown or bad password) */
	int64_t session;  /* as asked; the wire reply carries 0 when err != ZK_OK */
	int32_t timeout;  /* negotiated; 0 when err != ZK_OK */
	uint8_t passwd[16]; /* zeros when err != ZK_OK */
	bool read_only;     /* a read-only member's session (ConnectResponse readOnly) */
};

/*
 * The watch events of one txn; refs counts the workers yet to release it.
 * acl_off/acl_len: the ACL of the event's node when the txn ran (jute
 * vector<ACL> encoding, count first, as struct jute_acl_list.raw), in
 * paths[]; ZooKeeper checks READ on it before delivering (3.9.2,
 * CVE-2024-23944).  Carried for NodeDeleted (the node is gone from the
 * tree); acl_len 0 means "not carried: look the node up in the tree".
 */
struct repl_events {
	uint32_t refs;    /* atomic */
	int64_t zxid;
	/* CLOCK_MONOTONIC when the core made it, after the txn's apply; 0 if unknown */
	uint64_t made_ns;
	uint32_t n;
	struct {
		int32_t type;
		uint32_t path_off;
		uint32_t path_len;
		uint32_t acl_off;
		uint32_t acl_len;
	} ev[];
	/* followed by char paths[] (paths and ACL bytes) */
};

/*
 * The session tracker as the dump four-letter word shows it
 * (SessionTrackerImpl.dumpSessions -> ExpiryQueue.dump), the answer to
 * REPL_IN_SESSIONS (conn and xid echoed, zxid 0, not part of the txn
 * order; answered even after a disk error).  sets[] are the expiry
 * buckets in time order, including buckets every session has left
 * (ZooKeeper keeps such a set until its time comes), each with its
 * sessions' ids in ascending order (ZooKeeper's order is a hash set's).
 * Times are the core's monotonic ms; now_ms and wall_ms are that clock
 * and the wall clock (ms since the epoch) read when the dump was taken,
 * so a bucket's wall time is wall_ms + expiry_ms - now_ms, as
 * Time.elapsedTimeToDate computes it.
 */
struct repl_sessions {
	int64_t now_ms;
	int64_t wall_ms;
	uint32_t nsessions; /* tracked sessions, closing ones too (elemMap.size()) */
	uint32_t nsets;	    /* buckets (expiryMap.size()) */
	struct {
		int64_t expiry_ms;
		uint32_t first; /* its sessions: repl_sessions_ids()[first .. first + n) */
		uint32_t n;
	} sets[];
	/* followed by int64_t ids[] */
};

static inline const int64_t *repl_sessions_ids(const struct repl_sessions *d)
{
	return (const int64_t *)(const void *)&d->sets[d->nsets];
}

/* The paths[] that follow a result's or an event batch's array. */
static inline const char *repl_result_paths(const struct repl_result *res)
{
	return (const char *)&res->results[res->nresults];
}

static inline const char *repl_events_paths(const struct repl_events *evs)
{
	return (const char *)&evs->ev[evs->n];
}

/* ---- The core's life cycle ---- */

struct cfg;

struct repl_opts {
	const struct cfg *cfg; /* dataDir, dataLogDir, tickTime, snapCount, ... */
	uint32_t nworkers;     /* one ring pair each */
	int core;              /* CPU to pin the broadcast thread to, or -1 */
	/*
	 * Executes a REPL_IN_READ's reads, in order, on the tree (the core's
	 * thread, an online RCU reader, nothing applied meanwhile): req has
	 * passed repl_write_check and has nreqs >= 1.  Returns ZK_OK with
	 * *out (malloc'ed, one answer per read; the worker frees it), or the
	 * error all of them are answered with (ZK_MARSHALLINGERROR: not reads
	 * it executes; ZK_SYSTEMERROR: out of memory, logged); one read it
	 * cannot run gets its error in its own answer.  NULL: reads are
	 * answered ZK_SYSTEMERROR.  The core knows nothing of read semantics.
	 */
	int (*read_exec)(void *ctx, struct tree *t, const struct repl_write *req,
			 struct repl_read_out **out);
	void *read_ctx;
	/*
	 * write_per_namespace (common/nsstat.h): the table every tree the
	 * core applies to counts its writes in (tree_opts.ns_writes), log
	 * replay at start-up included, as ZooKeeper's; NULL: none.  Written
	 * by the core only; must outlive repl_stop.
	 */
	struct nsstat_tab *ns_writes;
};

/*
 * Recovers from disk (newest valid snapshot, then the log after it; a
 * torn log tail is truncated, corruption refuses with file and offset),
 * creates the rings and returns the core, not yet running.  Returns 0 or
 * a negative errno (logged).  Call from the main thread, registered with
 * RCU.
 */
int repl_open(const struct repl_opts *opts, struct repl **out);

/*
 * The current tree, for the dataplane's reads (rcu_dereference: an
 * ensemble member replaces it when it installs its leader's snapshot).
 * Call from an online RCU reader; do not keep it across a quiescent
 * state.  A worker holds its own copy, switched by REPL_OUT_TREE.
 */
struct tree *repl_tree(struct repl *r);

/*
 * Worker w no longer reads any tree older than the one REPL_OUT_TREE
 * generation gen gave it (release store).  Worker w's thread only.
 */
void repl_tree_switched(struct repl *r, uint32_t w, uint64_t gen);

/* Worker w's rings: w pushes to in, pops from out. */
struct ring *repl_in_ring(struct repl *r, uint32_t w);
struct ring *repl_out_ring(struct repl *r, uint32_t w);

/*
 * Sleeping: a worker that blocks (sock backend) registers an eventfd the
 * core writes (once per core loop iteration, after pushing to that
 * worker's ring; call before repl_start, -1 to unset); a worker calls
 * repl_kick after pushing to its in ring so a sleeping core wakes (cheap
 * when the core is awake: one load).  Polling workers (dpdk) need neither.
 * repl_set_worker_wakeup returns only once the core no longer uses the
 * previous fd (it may wait for one write(2) of the core's), so the
 * caller may close that fd right after.  Any thread.
 */
void repl_set_worker_wakeup(struct repl *r, uint32_t w, int eventfd);
void repl_kick(struct repl *r);

/* Starts the broadcast thread.  Returns 0 or a negative errno. */
int repl_start(struct repl *r);

/*
 * Stops accepting work, applies and acknowledges what is durable, fsyncs
 * and closes the log, joins the thread and frees the core (the tree too).
 * Workers must have stopped pushing and popping; messages left in the
 * rings are freed.  Call from a thread registered with RCU (the one that
 * called repl_open); it is offline during the call.
 */
void repl_stop(struct repl *r);

/*
 * Sessions the tracker holds (connected or not, until they expire), as of
 * the core's last loop iteration; for mntr's zk_global_sessions.  Any thread.
 */
uint32_t repl_session_count(const struct repl *r);

/*
 * One of ZooKeeper's AvgMinMaxCounter summaries for mntr: data points,
 * their sum, min and max (min and max 0 when cnt is 0).
 */
struct repl_summary {
	uint64_t cnt;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
};

/*
 * The transaction log writer's summaries since start or the last
 * repl_reset_stats, for mntr: batch_size is records per group-commit
 * batch (zk_*_sync_processor_batch_size), fsync_ms each batch's
 * fdatasync in whole ms (zk_*_fsynctime; none with forceSync=no).  The
 * log writer thread owns them and publishes them with relaxed atomics;
 * the fields of one read may straddle a batch.  Any thread; never blocks.
 */
void repl_sync_summaries(const struct repl *r, struct repl_summary *batch_size,
			 struct repl_summary *fsync_ms);

/*
 * The log writer's data points since start, never reset, as histograms
 * (common/hist.h copies), for /metrics' quantiles: records per
 * group-commit batch, and each batch's fdatasync in microseconds (none
 * with forceSync=no).  Any thread; never blocks.
 */
struct hist;
void repl_sync_hists(const struct repl *r, struct hist *batch_size, struct hist *fsync_us);

/*
 * Elections, for /metrics' looking_count and election_time: times this
 * member entered LOOKING (at start too; read-only mode counts as
 * looking), and the ms from each entry until it knew a leader (a
 * hist.h copy).  0 and empty on a standalone server.  Any thread.
 */
void repl_election_stats(const struct repl *r, uint64_t *looking_count, struct hist *election_ms);

/*
 * ZooKeeper's replication-side ServerMetrics, for /metrics (docs/
 * OPERATIONS.md says how each maps onto Cheetah's raft log).  Counters
 * count since start, never reset; all 0 on a standalone server.  Written
 * by the broadcast core with relaxed atomic stores: proposals (txns the
 * leader appended to its raft log: Leader.propose), commits (txns the
 * leader applied as committed: Leader.commit), learner_proposals (txns a
 * follower or observer received in its leader's appends and logged),
 * learner_commits (txns a follower or observer applied as committed),
 * snaps (snapshot transfers the leader started to a member below its log:
 * LearnerHandler's SNAP), diffs (members the leader caught up from its
 * log, raft's probe ending in replication: LearnerHandler's DIFF; as the
 * core publishes it about once a tick while it leads).  unrecoverable
 * (standalone too): the log failed and this server takes no more writes
 * until it is restarted (disk_failed; ZooKeeperCriticalThread's
 * UNRECOVERABLE_ERROR_COUNT), so at most 1.  Any thread; never blocks.
 */
struct repl_zk_stats {
	uint64_t proposals, commits, learner_proposals, learner_commits, snaps, diffs;
	uint64_t unrecoverable;
};
void repl_zk_stats(const struct repl *r, struct repl_zk_stats *out);

/*
 * ZooKeeper's replication-side summaries as hist.h copies, never reset:
 *  - REPL_ZK_DB_INIT_MS: snapshot load and log replay at start
 *    (ZKDatabase.loadDataBase; an ensemble member replays through raft
 *    afterwards, so its figure is the snapshot load);
 *  - REPL_ZK_SNAP_LOAD_MS: the snapshot load alone;
 *  - REPL_ZK_TXNS_LOAD_MS, REPL_ZK_TXNS_LOADED (txns): the standalone log
 *    replay after it, added only when the log had txns to replay, as
 *    FileTxnSnapLog.restore returns early on an empty log;
 *    these four are set once by repl_open, before any reader;
 *  - REPL_ZK_SNAPSHOT_MS: each snapshot written (the snapshot worker's,
 *    and the AdminServer restore's; read under the worker's mutex, which
 *    it holds only to publish);
 *  - REPL_ZK_INFLIGHT_SNAPS: snapshot transfers under way on the leader,
 *    as one starts (itself included) and as one ends (LearnerHandler);
 *  - REPL_ZK_UNAVAILABLE_MS: entering LOOKING to serving again (a
 *    follower or observer once it knows its leader, a leader once its log
 *    is applied: QuorumPeer's BROADCAST); REPL_ZK_LEADER_UNAVAILABLE_MS:
 *    those that ended leading;
 *  - REPL_ZK_PROPAGATION_MS: each txn applied, the wall clock then less
 *    the txn's time (the leader's wall clock when it was prepped:
 *    FinalRequestProcessor); REPL_ZK_QUORUM_ACK_MS: the same on the
 *    leader (it applies a txn as its commit index passes it, i.e. once a
 *    quorum has it durable: Leader.tryToCommit); and
 *    REPL_ZK_COMMIT_PROPAGATION_MS on a follower or observer (it applies
 *    a txn as it learns it committed: FollowerZooKeeperServer.commit).
 *    REPL_ZK_PROPOSAL_MS: the same age of each txn a follower or
 *    observer receives in its leader's appends, as it logs it
 *    (Follower's PROPOSAL_LATENCY).
 *    Negative ones (clocks apart) are dropped, as ZooKeeper drops them;
 *    txns a member replays from its own log at start are not counted.
 *  - REPL_ZK_FOLLOWER_SYNC_MS, REPL_ZK_OBSERVER_SYNC_MS: a follower's or
 *    observer's sync with its leader (ZooKeeper's FOLLOWER_SYNC_TIME,
 *    OBSERVER_SYNC_TIME: syncWithLeader), which in Cheetah happens only
 *    when it installs its leader's snapshot: from the start of the
 *    install's load to caught up and serving clients (catch_up), ms.
 *  - REPL_ZK_PROPOSAL_ACK_MS: on a voting member (leader or follower),
 *    for each txn of an entry this process appended, the wall clock when
 *    the entry became durable in its log (raft is told, and the
 *    acknowledgement is made from that) less the txn's time: ZooKeeper's
 *    PROPOSAL_ACK_CREATION_LATENCY (SendAckRequestProcessor on a
 *    follower, AckRequestProcessor on the leader, after the sync).  An
 *    entry's txns count at its first txn's time (one loop of the
 *    leader's core prepped them).
 * The core's (hist_add), but for the first four.  Any thread.
 */
enum repl_zk_hist {
	REPL_ZK_DB_INIT_MS,
	REPL_ZK_SNAP_LOAD_MS,
	REPL_ZK_TXNS_LOAD_MS,
	REPL_ZK_TXNS_LOADED,
	REPL_ZK_SNAPSHOT_MS,
	REPL_ZK_INFLIGHT_SNAPS,
	REPL_ZK_UNAVAILABLE_MS,
	REPL_ZK_LEADER_UNAVAILABLE_MS,
	REPL_ZK_PROPAGATION_MS,
	REPL_ZK_QUORUM_ACK_MS,
	REPL_ZK_COMMIT_PROPAGATION_MS,
	REPL_ZK_PROPOSAL_MS,
	REPL_ZK_FOLLOWER_SYNC_MS,
	REPL_ZK_OBSERVER_SYNC_MS,
	REPL_ZK_PROPOSAL_ACK_MS,
	REPL_ZK_NHIST
};
void repl_zk_hist(struct repl *r, enum repl_zk_hist which, struct hist *out);

/*
 * ZooKeeper's ACK_LATENCY, a summary per server id (its SummarySet's
 * key), on the leader: for each txn of a log entry, the wall clock when
 * a voting member's acknowledgement of it reached the leader (the append
 * response that raised the member's match index past the entry, or the
 * leader's own log making it durable) less the txn's time, ms; an
 * entry's txns at its first txn's time.  ZooKeeper samples one zxid in
 * zookeeper.leader.ackLoggingFrequency (1000); Cheetah counts every txn.
 * Observers do not count (they send ZooKeeper no ACK).  The first
 * REPL_ACK_KEYS ids seen have a summary, later ones are not counted.
 * Copies up to max (ids[i], out[i]: hist.h copies, never reset) and
 * returns how many; ids keep their slot.  Any thread.
 */
#define REPL_ACK_KEYS 16
uint32_t repl_ack_hists(const struct repl *r, uint32_t *ids, struct hist *out, uint32_t max);

/*
 * Sessions this server's tracker expired since start (their timeout
 * passed; ZooKeeper's STALE_SESSIONS_EXPIRED): standalone, or while
 * serving as the leader (only it expires sessions).  Any thread.
 */
uint64_t repl_stale_sessions_expired(const struct repl *r);

/*
 * Session revalidations learners asked of this member as leader (a
 * client reconnecting to a follower: ZooKeeper's REVALIDATE_COUNT),
 * since start; 0 standalone.  Any thread.
 */
uint64_t repl_revalidate_count(const struct repl *r);

/*
 * Where the broadcast core's work waits (mntr's cheetah_stage_* lines,
 * docs/OPERATIONS.md), counted since start; sums in nanoseconds of the
 * core's iteration clock.  txns: txns applied; txn_log_ns: queued (prep
 * done, zxid given) to handed to the log writer; txn_apply_ns: queued to
 * applied (durable, or committed in an ensemble).  batches, batch_txns,
 * fsyncs, fsync_ns: the log writer's group commits (standalone only;
 * an ensemble's entries are counted by raft).  reads_at_once: reads of a
 * REPL_IN_READ run as they arrived (their session had nothing in
 * flight); reads_waited: reads that waited for their session's newest
 * request in flight to be answered, and read_wait_ns their wait.
 * Written by the broadcast thread with relaxed atomics; any thread may
 * read (fields of one call may straddle an iteration).  iterations, busy,
 * yields and sleeps count the core's loop (core_main): every iteration,
 * those that did work, idle ones that yielded the CPU, and sleeps.  Never blocks
 * but for the log writer's counters (its mutex, briefly).
 */
struct repl_stages {
	uint64_t txns, txn_log_ns, txn_apply_ns;
	uint64_t batches, batch_txns, fsyncs, fsync_ns;
	uint64_t reads_at_once, reads_waited, read_wait_ns;
	uint64_t iterations, busy, yields, sleeps; /* the loop: all, with work, sched_yield, poll */
};
void repl_stage_stats(struct repl *r, struct repl_stages *out);

/*
 * srst's share (ZooKeeper's ServerStats.reset -> ServerMetrics.resetAll):
 * zeroes the summaries above; the owner carries it out, readers see zeros
 * at once.  Also resets the AvgMinMaxCounter (hist_mm: mntr's) of every
 * histogram of repl_zk_hist, repl_ack_hists and repl_election_stats;
 * their counts, sums and buckets (/metrics) go on.  Any thread; never
 * blocks.
 */
void repl_reset_stats(struct repl *r);

/*
 * The server's role as srvr's "Mode:" and mntr's zk_server_state name it:
 * "standalone", or in an ensemble "leader", "follower", "observer",
 * "looking" while no leader is known, or "read-only" (readonlymode.enabled,
 * no leader for max(2 s, tickTime)).  Any thread.
 */
const char *repl_server_state(const struct repl *r);

/* An ensemble member's id (its myid), 0 on a standalone server.  Any thread. */
uint32_t repl_myid(const struct repl *r);

/*
 * The id of the leader an ensemble member serves with (its own on the
 * leader); 0 on a standalone server or while it has no leader.  Any thread.
 */
uint32_t repl_leader_id(const struct repl *r);

/*
 * A leader's view of its quorum for mntr (ZooKeeper's leader-only keys):
 * learners are the members whose links with the leader are up both ways,
 * synced_followers the voters among them, synced_observers the observers;
 * pending_syncs the syncs waiting for their read index; quorum_size the
 * voters.  Published by the core about once a tick.  Returns false (and
 * zeros) unless this server is the serving leader of an ensemble.  Any
 * thread.
 */
struct repl_quorum {
	uint32_t learners;
	uint32_t synced_followers;
	uint32_t synced_observers;
	uint32_t pending_syncs;
	uint32_t quorum_size;
	uint64_t leader_uptime_ms;
	/* payload bytes of the log entries it proposed; -1: none yet */
	int64_t last_proposal_size, min_proposal_size, max_proposal_size;
	/* its term << 32: the zxid a ZooKeeper leader reports after election */
	int64_t epoch_zxid;
	/* the synced observers' ids: bit id of word id / 64 (ids < 256) */
	uint64_t observer_mask[4];
	/*
	 * Replication lag per member (ids < 256, bit id of lag_mask set):
	 * log entries (group-commit batches) of the leader's log not yet
	 * durable on that member, as of the core's last publication.
	 */
	uint64_t lag_mask[4];
	uint64_t lag[256];
};
bool repl_quorum_stats(const struct repl *r, struct repl_quorum *q);

/*
 * The voters of the membership an ensemble member knows (ZooKeeper's
 * quorum_size gauge, which every QuorumZooKeeperServer has: leader,
 * follower, observer), published by the core about once a tick; 0 on a
 * standalone server and before the first publication.  Any thread.
 */
uint32_t repl_quorum_size(const struct repl *r);

/*
 * One synced observer's link as the leader sees it (ZooKeeper's
 * LearnerHandler.getLearnerHandlerInfo, the observers command): the
 * accepted link's remote address ("/host:port", Java's
 * InetSocketAddress.toString) and when it came up (wall ms), the
 * frames queued to it and their bytes, frames received from it and sent
 * to it, the requests it forwarded (writes, syncs, session requests),
 * and the zxid of the last log entry sent to it (-1: none since the
 * link or the last reset).  Counters count from the last
 * repl_reset_observer_stats.
 */
#define REPL_OBSERVERS_MAX 32
struct repl_learner_info {
	uint32_t sid;
	char remote[72]; /* "/" + peer_stats.in_from */
	int64_t established_ms;
	uint32_t queued_packets;
	uint64_t queued_bytes;
	uint64_t packets_received;
	uint64_t packets_sent;
	uint64_t requests;
	int64_t last_zxid;
};

/*
 * The serving leader's synced observers (at most max, by id), as the core
 * published them about once a tick; 0 on any other server.  Never waits
 * for the core (a sequence count; the copy is retried).  Any thread.
 */
uint32_t repl_observers(const struct repl *r, struct repl_learner_info *out, uint32_t max);

/*
 * ObserverCnxnStatResetCommand: the leader's per-observer counters
 * (packets, requests, last zxid) restart from zero at its next tick.
 * Any thread; never blocks.
 */
void repl_reset_observer_stats(struct repl *r);

/* Highest zxid whose events and result have been pushed to the rings. */
int64_t repl_published_zxid(const struct repl *r);

/*
 * The sticky disk error (negative errno) that made the core stop
 * acknowledging writes, or 0.  ZooKeeper exits on such an error; the main
 * program may do the same when this turns non-zero.  -ESTALE: an
 * ensemble member stored the leader's snapshot but could not load it
 * live; it stops to load it at its next start (ensemble.c).  Any thread.
 */
int repl_error(const struct repl *r);

/*
 * The newest snapshot in the data directory (ZooKeeper's
 * getLastSnapshotInfo: the one loaded at start-up or written since): its
 * zxid and its file's modification time in seconds since the epoch.
 * Returns 0, -ENOENT (none yet) or -errno.  Any thread.
 */
int repl_last_snapshot(struct repl *r, int64_t *zxid, int64_t *mtime_s);

/*
 * Replaces a standalone server's tree with t (ZooKeeper 3.9's restore
 * command), t being a tree loaded from a snapshot that no other thread
 * has seen (the caller's until this returns 0, the core's after).  The
 * core stops taking requests, waits until none is in flight, numbers the
 * restored tree after its last zxid; t is written durable as the newest
 * snapshot on this thread, then the core installs it (every connection
 * is closed, sessions are t's, the next txn follows t's zxid).  Until
 * the snapshot is durable nothing changed, in memory or on disk.
 * Returns 0 with *zxid (the restored tree's zxid now), -EOPNOTSUPP (an
 * ensemble member), -EBUSY (a restore is in progress), -ETIMEDOUT
 * (requests stayed in flight for 30 s), -EIO (the core stopped after a
 * disk error) or the errno of writing the snapshot; t is the caller's
 * again on any error.  Blocks; call from a registered RCU thread, offline,
 * that is neither the core nor a dataplane worker (restore.c).
 */
int repl_restore(struct repl *r, struct tree *t, int64_t *zxid);

/* Frees a message's body (events: drops this worker's reference). */
void repl_in_free(struct repl_in *m);
void repl_out_free(struct repl_out *m);

/*
 * Offline (cheetah import): makes data_dir a standalone Cheetah data
 * directory whose only state is t, written as its snapshot (named after
 * tree_last_zxid(t)); data_log_dir (NULL: data_dir) is created, its log
 * left empty.  Refuses -EEXIST (logged) when either already holds a
 * snapshot or a log.  Returns 0 and *zxid (may be NULL), or -errno
 * (logged).  Call from a registered, online RCU thread; nothing may
 * write t meanwhile.
 */
int repl_seed_data_dir(const char *data_dir, const char *data_log_dir, struct tree *t,
		       int64_t *zxid);

#endif
