/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside replication/: the broadcast core's state (repl.c) as the
 * ensemble driver (ensemble.c) sees it.  Not for other modules.
 *
 * Threads: everything here belongs to the broadcast thread, except the
 * fields marked atomic in struct repl.
 */
#ifndef CHEETAH_REPLICATION_REPL_CORE_H
#define CHEETAH_REPLICATION_REPL_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/hist.h"
#include "common/jute.h"
#include "repl.h"
#include "tree/tree.h"

#define NO_WORKER UINT32_MAX
#define RD_KEEP 4096u /* spare nodes for reads waiting in the FIFO */

struct ens;
struct raft_snap_meta;
struct sess;
struct snapdir;
struct sess_tracker;
struct txlog;

enum pending_kind {
	P_WRITE = 1, /* RESULT to the submitter */
	P_CONNECT,   /* createSession: CONNECTED to the submitter */
	P_CLOSE,     /* closeSession from the client: RESULT */
	P_EXPIRE,    /* closeSession from expiry: EXPIRE to the owner */
	P_CONTAINER, /* deleteContainer from the container check: no answer */
	P_SYNC,	     /* marker: RESULT once everything before is applied */
	P_ANSWER,    /* marker: RESULT with err, no txn */
};

/* A read waiting for the in-flight request of its session it follows (REPL_IN_READ). */
struct rd {
	struct rd *next;
	uint32_t worker;
	uint32_t conn;
	int32_t xid;
	int64_t session;
	struct repl_write *req;
	uint64_t t_ns; /* when it started to wait (stage counters) */
};

struct pending {
	uint64_t seq;		       /* position in the FIFO since start (q_push) */
	struct rd *reads, *reads_last; /* run once this one is answered, in order */
	int64_t zxid;		       /* 0 for markers */
	uint8_t kind;
	bool appended;
	int32_t err;	 /* P_ANSWER */
	int32_t timeout; /* P_CONNECT */
	uint32_t worker;
	uint32_t conn;
	int32_t xid;
	int64_t session;
	uint32_t len;
	uint8_t *rec;
	uint32_t origin; /* ensemble: the follower that forwarded it, 0: local */
	uint32_t fwd_len; /* origin set: the forwarded frame's bytes (fwd_bytes) */
	uint64_t t_ns;	 /* queued at (the iteration's clock; stage counters) */
};

struct ovf_ent {
	struct repl_out m;
	int64_t tag; /* zxid the message belongs to (publication waits for it) */
};

/*
 * A connection the core closed (REPL_OUT_EXPIRE by session), whose
 * input still in the ring is dropped (repl.c, closed_input); session 0:
 * an empty slot.  One per connection slot of the worker (the low
 * REPL_CONN_SLOT_BITS bits of an id, repl.h), grown on demand.
 */
struct closed_conn {
	uint32_t conn;
	int64_t session;
};

struct worker {
	struct ring in;
	struct ring out;
	int wake_fd;
	/*
	 * 1 while the core holds a copy of wake_fd (load to write(2)).
	 * repl_set_worker_wakeup waits for 0 after replacing the fd, so the
	 * dataplane may close the old descriptor once it returns (else the
	 * core could write into a closed, or reused, descriptor).
	 */
	int waking;
	bool dirty; /* pushed to out during this iteration */
	struct ovf_ent *ovf;
	uint32_t ovf_cap, ovf_head, ovf_len;
	/* The REPL_OUT_TREE generation the worker switched to (atomic, its store). */
	uint64_t tree_gen;
	/* Connections closed by the core (closed_input); the core's alone. */
	struct closed_conn *closed;
	uint32_t nclosed; /* slots in closed[] */
};

/* A replaced tree, freed once every worker switched past it (repl_reclaim_trees). */
struct retired_tree {
	struct retired_tree *next;
	struct tree *tree;
	uint64_t gen; /* the install that replaced it */
};

/* A counter the core alone writes (struct repl_zk_stats): any thread reads. */
static inline void repl_count(uint64_t *field, uint64_t n)
{
	__atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/*
 * Core: a txn of time txn_ms (its leader's wall clock) applied now:
 * PROPAGATION_LATENCY, and also the summary which (REPL_ZK_NHIST: none).
 * Reads the wall clock once while r->zk_wall_ms is 0 (the caller zeroes
 * it as a run of applies begins).
 */
void repl_zk_applied(struct repl *r, int64_t txn_ms, enum repl_zk_hist which);

/* Core: the summary which only (no PROPAGATION_LATENCY); as repl_zk_applied. */
void repl_zk_age(struct repl *r, int64_t txn_ms, enum repl_zk_hist which);

/* Core: n txns acknowledged by member id ms after their time (repl_ack_hists). */
void repl_zk_ack(struct repl *r, uint32_t id, uint64_t ms, uint64_t n);

struct repl {
	/* Set by repl_open. */
	const struct cfg *cfg;
	uint32_t nworkers;
	int core;
	struct worker *w;
	struct tree *tree; /* rcu_assign_pointer'ed: repl_tree() reads it */
	struct tree_opts topts;
	struct tree_prep *prep;
	struct txlog *log;
	struct snapdir *snap;
	struct sess_tracker *sess;
	int kick_fd;
	int32_t tick, min_to, max_to;
	uint32_t max_record;
	int (*read_exec)(void *ctx, struct tree *t, const struct repl_write *req,
			 struct repl_read_out **out);
	void *read_ctx;
	pthread_t thread;
	bool started;

	/* Broadcast thread. */
	int64_t now;	      /* ms, monotonic: the time given to this iteration */
	uint64_t now_ns;      /* the same in ns */
	int64_t last_zxid;    /* assigned */
	int64_t last_applied; /* applied and pushed */
	struct jute_out enc;
	struct tree_apply_out aout;
	/* Views of the write being prepped (repl_write_views), grown as needed. */
	struct tree_req *wreqs;
	struct tree_auth_id *wids;
	uint32_t wreqs_cap, wids_cap;
	struct pending *q; /* in-flight FIFO (circular) */
	uint32_t qcap, qhead, qlen;
	uint64_t qseq;	    /* seq of the last entry pushed */
	struct rd *rd_free; /* spare read nodes (at most RD_KEEP) */
	uint32_t nrd_free;
	uint64_t reads_run, read_msgs; /* REPL_IN_READ: reads run, messages (logged at stop) */
	uint64_t closed_dropped;       /* input of connections it closed (logged at stop) */
	uint32_t qappended;	       /* entries from the head that are appended (or markers) */
	uint32_t qhanded;	       /* of those, handed to the log writer (stage counters) */
	struct repl_stages st;	       /* the core's, relaxed atomic stores (repl_stage_stats) */
	struct repl_zk_stats zk;       /* the core's, relaxed atomic stores (repl_zk_stats) */
	/*
	 * repl_zk_hist's, but REPL_ZK_SNAPSHOT_MS (snapdir's): the first
	 * four set by repl_open alone, the rest the core's (hist_add)
	 */
	struct hist zk_hist[REPL_ZK_NHIST];
	/* repl_ack_hists': the core's; an id is set before ack_n covers it (release) */
	uint32_t ack_n;
	uint32_t ack_id[REPL_ACK_KEYS];
	struct hist ack_hist[REPL_ACK_KEYS];
	/* their baselines (hist_keep_base: mntr's percentiles since srst) */
	uint64_t zk_base[REPL_ZK_NHIST][HIST_BUCKETS];
	uint64_t ack_base[REPL_ACK_KEYS][HIST_BUCKETS];
	int64_t zk_wall_ms; /* the wall clock for the latencies, read once a run (0: not yet) */
	int64_t last_appended;
	uint32_t ovf_total;
	bool failed;	       /* disk error handled */
	uint64_t full_refused; /* txns refused because the disk was full */
	uint64_t rng;
	/* snapshots */
	int64_t snap_count;
	int64_t snap_size; /* bytes; 0: off */
	int64_t txns_since_roll, bytes_since_roll;
	int64_t rand_roll, rand_size;
	bool startup_snapshot;
	/* containers */
	int64_t container_interval_ms, container_next_ms, max_never_used_ms;
	int64_t container_gap_ns;
	uint64_t container_next_delete_ns;
	char **cpaths;
	uint32_t ncpaths, cpaths_cap, cpaths_head;
	/* autopurge */
	int64_t purge_interval_ms, purge_next_ms;
	int retain;
	/* live tree replacement (repl_install_tree) */
	uint64_t tree_gen; /* installs so far */
	int64_t tree_base; /* last_applied at the newest install (publish) */
	struct retired_tree *retired;

	/* Ensemble (ensemble.c); NULL when standalone. */
	struct ens *ens;
	struct raft_snap_meta *ens_meta; /* the loaded snapshot's (repl_open -> ens_open) */
	int64_t ens_snap_file;		 /* and its file's name */
	uint32_t cur_origin;		 /* stamped into pendings queued meanwhile */
	uint32_t cur_fwd_len;		 /* and the bytes of its frame */
	/*
	 * Per member id (1..255): entries of r->q it forwarded, and the
	 * bytes of their frames (q_push adds, q_pop takes away): the
	 * serving leader's bound on what one follower makes it keep
	 * (ensemble.c, FWD_LEADER_MAX).
	 */
	uint32_t fwd_n[256];
	uint64_t fwd_bytes[256];

	/* The AdminServer's restore in progress (restore.c), or NULL (atomic). */
	struct repl_restore *restore;

	/* Shared (atomics). */
	int64_t published;
	uint32_t live_sessions; /* sess_count(), published each iteration for mntr */
	int err;
	int sleeping;
	int stop;
	/* Sessions the tracker expired (STALE_SESSIONS_EXPIRED): core writes, relaxed. */
	uint64_t stale_expired;
};

/* ---- repl.c functions ensemble.c uses (broadcast thread) ---- */

/*
 * REPL_IN_READ (a read its session sent ahead of a later write): checks
 * m's body and takes it into *out (ZK_OK), or returns the error to
 * answer with in FIFO order.  exec_read runs it on the tree as it is now
 * and pushes its answer; rd_put frees one never run (its connection was
 * closed).
 */
/*
 * REPL_IN_GONE: the connection closed; its session lives on, no longer
 * owned by it (a later connection may own it already).
 */
void conn_gone(struct repl *r, uint32_t wi, const struct repl_in *m);

int32_t read_take(struct repl *r, uint32_t wi, struct repl_in *m, struct rd **out);
void exec_read(struct repl *r, struct rd *d);
void rd_put(struct repl *r, struct rd *d);

__attribute__((noreturn)) void die_oom(const char *what, int64_t zxid);

/*
 * Replaces the tree with t (a snapshot loaded by an ensemble member, which
 * owns t from then on): the prep state and the session tracker are
 * rebuilt from t (sessions unowned, expiry clocks restarted, ids from
 * server_id), last_applied, last_zxid and the published zxid become t's
 * zxid, t is published to repl_tree() readers and REPL_OUT_TREE goes to
 * every worker; the old tree is retired (repl_reclaim_trees).  Nothing
 * may be in flight (the FIFO is empty).  Returns 0, or -ENOMEM with
 * nothing changed (t still the caller's).
 */
int repl_install_tree(struct repl *r, struct tree *t, int64_t server_id);

/*
 * Frees the retired trees every worker has switched past, once no
 * snapshot job may still walk them (a grace period inside tree_free).
 * Returns how many were freed.
 */
uint32_t repl_reclaim_trees(struct repl *r);
void push_out(struct repl *r, uint32_t wi, const struct repl_out *m, int64_t tag);
void publish(struct repl *r);
void send_simple(struct repl *r, uint32_t wi, uint8_t kind, uint32_t conn, int32_t xid,
		 int64_t session, int64_t zxid, void *body);
void send_expire(struct repl *r, uint32_t wi, uint32_t conn, int64_t session);
/*
 * Closes the connection that sent the REPL_IN_CONNECT m (conn, xid) and
 * is still waiting for its answer: REPL_OUT_EXPIRE with the connect's xid,
 * which the worker matches whatever session id the client asked for (0
 * for a new one; the id picked for it is not the connection's yet).  The
 * client moves on to another server at once (ZooKeeper closes a connect
 * it cannot serve: NIOServerCnxn.readConnectRequest's "ZooKeeperServer
 * not running").  Only the kind, conn, xid and session of m are read (a
 * connect pushed with xid 0, as tests do, is matched by session).
 */
void send_refuse_connect(struct repl *r, uint32_t wi, const struct repl_in *m);
/* send_refuse_connect for a connect kept as (conn, xid, session), not as its message. */
void send_refuse_pending(struct repl *r, uint32_t wi, uint32_t conn, int32_t xid, int64_t session);
struct repl_result *result_new(int32_t err, uint32_t n, size_t path_bytes);
void send_events(struct repl *r, const struct tree_txn *txn);
void send_result(struct repl *r, const struct pending *p, const struct tree_txn *txn);
struct pending *q_at(struct repl *r, uint32_t i);
void q_pop(struct repl *r);
void disk_failed(struct repl *r, int err);
/* Draws the next snapCount threshold (SyncRequestProcessor's randRoll). */
void reset_snapshot_stats(struct repl *r);
void do_connect(struct repl *r, uint32_t wi, const struct repl_in *m);
void do_write(struct repl *r, uint32_t wi, const struct repl_in *m);
void do_close(struct repl *r, uint32_t wi, const struct repl_in *m);
void q_marker(struct repl *r, uint8_t kind, int32_t err, uint32_t wi, const struct repl_in *m);
int q_txn(struct repl *r, uint8_t kind, int64_t zxid, uint32_t wi, const struct repl_in *m);
int64_t zxid_next(const struct repl *r);
void zxid_claim(struct repl *r, int64_t zxid);
void txn_hdr(struct tree_txn *h, int64_t session, int32_t cxid, int64_t zxid);
struct sess *live_session(struct repl *r, int64_t id);

/*
 * restore.c, the core's half of repl_restore: true while a restore
 * holds input back (iterate then takes none and runs no timers).
 */
bool restore_step(struct repl *r);

/*
 * One iteration of the core at time now_ns (monotonic, never going
 * back), as core_main's loop runs it: for a test that drives a core
 * opened and not started (repl_open without repl_start) from its own
 * thread, e.g. several ensemble members in one process on a simulated
 * clock (tests/replication/test_ensemble.c).  Returns the work done (0:
 * idle).
 */
uint32_t repl_step(struct repl *r, uint64_t now_ns);

#endif
