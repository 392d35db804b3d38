/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside replication/: the session tracker (session.c) and the snapshot
 * directory (snapdir.c) the broadcast core (repl.c) is built from.  Not
 * for other modules: they see repl.h only.
 *
 * Threads: the session tracker belongs to the broadcast core (repl_open's
 * thread until repl_start).  snapdir_open/snapdir_load run on repl_open's
 * thread; the snapshot worker is snapdir's own thread; snapdir_request_*
 * and snapdir_close are called by the core (repl_stop's thread for close).
 */
#ifndef CHEETAH_REPLICATION_REPL_PRIV_H
#define CHEETAH_REPLICATION_REPL_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repl.h"
#include "tree/tree.h"

struct txlog;

/* ---- The broadcast core's idle policy (repl.c) ---- */

/*
 * Idle iterations the broadcast core polls (sched_yield) before it sleeps
 * (repl.c core_main): none for an ensemble member, and none when it has
 * no CPU of its own (not pinned to a configured core, and its ncpus
 * allowed CPUs are no more than the nworkers dataplane workers); else
 * SPIN_ITERS.  Pure; any thread.
 */
uint32_t core_idle_spins(bool ensemble, int pinned_core, uint32_t ncpus, uint32_t nworkers);

/* ---- Session tracker (session.c): SessionTrackerImpl + ExpiryQueue ---- */

/*
 * The server id in the top byte of session ids.  A standalone ZooKeeper
 * uses 1 (ZooKeeperServer.createSessionTrackerServerId); in a quorum it
 * is the server's myid.
 */
#define SESS_STANDALONE_SERVER_ID 1

/* ZooKeeperServer.superSecret: seeds the password generator. */
#define SESS_SUPER_SECRET 0xB3415C00LL

#define SESS_PASSWD_LEN 16

struct sess {
	int64_t id;
	int32_t timeout;       /* ms; the last negotiated one drives expiry */
	bool closing;	       /* closeSession prepped: touches fail */
	bool owned;	       /* a connection holds the session */
	uint32_t owner_worker; /* that connection, when owned */
	uint32_t owner_conn;
	int64_t expiry_ms;  /* its bucket (monotonic ms); 0 while closing */
	uint64_t last_seq;  /* repl.c: in-flight FIFO seq of its newest request (0: none) */
	/*
	 * Ensemble, on the serving leader: the member whose connection
	 * created or last revalidated the session (ZooKeeper's
	 * SessionImpl.owner); 0: not known yet (a new leader's sessions).
	 */
	uint32_t member;
	struct sess *hnext; /* id hash chain */
	struct sess *bprev; /* bucket list */
	struct sess *bnext;
};

struct sess_tracker;

/*
 * A tracker whose buckets are tick_ms wide (tickTime) and whose ids carry
 * server_id in the top byte, counting from a value derived from now_ms
 * (monotonic milliseconds) as SessionTrackerImpl.initializeNextSessionId.
 * Returns NULL on allocation failure or tick_ms <= 0.
 */
struct sess_tracker *sess_tracker_new(int32_t tick_ms, int64_t server_id, int64_t now_ms);
void sess_tracker_free(struct sess_tracker *t);

/* initializeNextSessionId: server id << 56 | 40 bits of elapsed ms << 16. */
int64_t sess_initial_id(int64_t server_id, int64_t now_ms);

/* The next id to hand out: skips ids in use, 0 and the container owner. */
int64_t sess_new_id(struct sess_tracker *t);

/*
 * trackSession: adds the session (not owned, not closing) or finds it,
 * and moves its expiry to now + timeout rounded up to the next bucket.
 * Returns 0 or -ENOMEM; *out (may be NULL) is the session.
 */
int sess_track(struct sess_tracker *t, int64_t id, int32_t timeout, int64_t now_ms,
	       struct sess **out);

struct sess *sess_find(struct sess_tracker *t, int64_t id);

/*
 * touchSession: false for an unknown or closing session; else the expiry
 * moves to now + timeout (rounded up to the next bucket) and the timeout
 * becomes the one used by later touches.
 */
bool sess_touch(struct sess_tracker *t, int64_t id, int32_t timeout, int64_t now_ms);

/* removeSession: forgets the session (NULL-safe on unknown ids). */
void sess_remove(struct sess_tracker *t, int64_t id);

/* setSessionClosing: takes it out of the expiry buckets; touches fail. */
void sess_set_closing(struct sess_tracker *t, struct sess *s);

/* Undoes sess_set_closing (the closeSession could not be prepped). */
void sess_unset_closing(struct sess_tracker *t, struct sess *s, int64_t now_ms);

/* Monotonic ms at which the next bucket expires. */
int64_t sess_next_expiry(const struct sess_tracker *t);

/*
 * ExpiryQueue.poll + the tracker's run loop: for every bucket due at
 * now_ms, marks its sessions closing and calls fn on each (fn may call
 * sess_unset_closing or sess_remove on that session).  Returns the number
 * of sessions expired.
 */
uint32_t sess_expire(struct sess_tracker *t, int64_t now_ms, void (*fn)(void *arg, struct sess *s),
		     void *arg);

uint32_t sess_count(const struct sess_tracker *t);
void sess_foreach(struct sess_tracker *t, void (*fn)(void *arg, struct sess *s), void *arg);

/*
 * ExpiryQueue.dump's data (see struct repl_sessions): every bucket the
 * queue would hold, emptied ones too, in time order, each with its
 * sessions by id; now_ms and wall_ms are stored as given.  Returns a
 * malloc'ed dump (the caller frees it) or NULL when out of memory.
 */
struct repl_sessions *sess_dump(const struct sess_tracker *t, int64_t now_ms, int64_t wall_ms);

/* ZooKeeperServer.generatePasswd: java.util.Random(id ^ superSecret).nextBytes. */
void sess_password(int64_t id, uint8_t out[SESS_PASSWD_LEN]);

/* ZooKeeperServer.checkPasswd: id != 0 and the bytes are generatePasswd(id). */
bool sess_password_ok(int64_t id, const uint8_t *passwd, size_t len);

/* ---- Snapshot directory (snapdir.c): FileSnap + FileTxnSnapLog + purge ---- */

/*
 * Snapshots live in <dataDir>/SNAPDIR_SUBDIR as snapshot.<zxid: 16
 * lowercase hex>; the same directory name as the log's (TXLOG_SUBDIR),
 * for the same reason: not ZooKeeper's "version-2".
 */
#define SNAPDIR_SUBDIR "cheetah-1"
#define SNAPDIR_PREFIX "snapshot."
/* ZooKeeper's FileTxnSnapLog tries at most this many snapshots on restore. */
#define SNAPDIR_MAX_TRIES 100

struct snapdir;

/*
 * Opens (creating) <data_dir>/SNAPDIR_SUBDIR, deletes unfinished *.tmp
 * snapshots and starts the snapshot worker thread.  Returns 0, or a
 * negative errno (logged).
 */
int snapdir_open(const char *data_dir, struct snapdir **out);

/*
 * Stops the worker after the job it is running (a snapshot in progress
 * is finished), joins it and frees sd.  NULL-safe.
 */
void snapdir_close(struct snapdir *sd);

/*
 * Loads the newest snapshot that loads (at most SNAPDIR_MAX_TRIES tried,
 * newest first).  A damaged one is logged and renamed to
 * snapshot.<zxid>.corrupt, and the next older is tried.  Returns 0 with
 * *t and *zxid set, -ENOENT when there is no usable snapshot, or another
 * negative errno.  Call from a registered, online RCU thread.
 */
int snapdir_load(struct snapdir *sd, const struct tree_opts *opts, struct tree **t, int64_t *zxid);

/*
 * Asks the worker to snapshot t (fuzzy, while the core goes on): write
 * snapshot.<zxid>.tmp, fsync, rename, fsync the directory.  Returns
 * -EBUSY when the worker is still busy with an earlier job (ZooKeeper:
 * "Too busy to snap, skipping"), else 0.  t must outlive the job
 * (snapdir_close waits for it).
 */
int snapdir_request_snapshot(struct snapdir *sd, struct tree *t);

/*
 * Asks the worker to purge (PurgeTxnLog): keep the retain newest
 * snapshots, delete older ones, and the log files only they needed
 * (txlog_purge).  Returns -EBUSY when busy, else 0.
 */
int snapdir_request_purge(struct snapdir *sd, struct txlog *log, int retain);

/*
 * Ensemble snapshots.  A snapshot's meta (the raft index, term and
 * membership it covers: opaque here) lives in ensmeta.<the snapshot's
 * zxid>, written once the snapshot is durable (tmp, fsync, rename, fsync
 * the directory), with keep_from: the first log index (txlog's "zxid"
 * in an ensemble) the log must keep for it.
 * snapdir_meta_put returns 0 or -errno (logged); snapdir_meta_get 0,
 * -ENOENT, -EBADMSG (damaged or len differs; len 0 checks only) or -errno.
 * snapdir_load_meta loads the newest snapshot that has a usable meta
 * (meta_len bytes that meta_check, when not NULL, returns 0 for; others
 * are skipped, logged) and returns its meta too; *zxid is then
 * the file's name (a snapshot received from a leader is named by its
 * meta's zxid, its content may be later: fuzzy).
 * snapdir_request_purge_meta purges as snapdir_request_purge, but keeps
 * the log from the oldest kept snapshot's keep_from (none purged when it
 * has no meta), and deletes purged snapshots' metas.  Core thread.
 */
#define SNAPDIR_META_PREFIX "ensmeta."
int snapdir_meta_put(struct snapdir *sd, int64_t zxid, int64_t keep_from, const void *p,
		     size_t len);
int snapdir_meta_get(struct snapdir *sd, int64_t zxid, void *p, size_t len, int64_t *keep_from);
int snapdir_load_meta(struct snapdir *sd, const struct tree_opts *opts, struct tree **t,
		      int64_t *zxid, void *meta, size_t meta_len,
		      int (*meta_check)(const void *meta, size_t len));
int snapdir_request_purge_meta(struct snapdir *sd, struct txlog *log, int retain);
/*
 * Loads snapshot.<zxid> itself (an ensemble member's live install of the
 * one it just received): 0 with *t and *loaded (the content's zxid, which
 * may be later than the name: fuzzy), or -errno (logged; nothing renamed).
 * Call from a registered, online RCU thread (tree_snapshot_load).
 */
int snapdir_load_file(struct snapdir *sd, int64_t zxid, const struct tree_opts *opts,
		      struct tree **t, int64_t *loaded);
/*
 * snapshot.<zxid> opened for reading, for a transfer to a peer: 0 with
 * *fd (the caller closes it) and *size, -EBADMSG when empty, or -errno.
 * A snapshot file is never written once named, so the open fd reads the
 * same bytes to the end of the transfer, even if a purge deletes the
 * name or a received snapshot replaces it meanwhile (a new inode).
 * snapdir_pread reads exactly len bytes at off: 0, -EIO (end of file
 * first) or -errno.  Core thread.
 */
int snapdir_open_file(struct snapdir *sd, int64_t zxid, int *fd, uint64_t *size);
int snapdir_pread(int fd, uint64_t off, void *buf, size_t len);
/*
 * A snapshot received from a peer, streamed to disk as it comes.
 * snapdir_recv_open creates (or empties) snapshot.<zxid>.recv: 0 with *fd,
 * or -errno (logged).  snapdir_pwrite writes exactly len bytes at off: 0
 * or -errno.  snapdir_recv_commit checks the file holds len bytes, fsyncs
 * and closes fd, renames the file to snapshot.<zxid> and fsyncs the
 * directory (commit_tmp): 0, or -errno (logged, the file deleted).
 * snapdir_recv_abort closes fd and deletes the file.  Leftover .recv
 * files are deleted by snapdir_open.  Core thread.
 */
int snapdir_recv_open(struct snapdir *sd, int64_t zxid, int *fd);
int snapdir_pwrite(int fd, uint64_t off, const void *buf, size_t len);
int snapdir_recv_commit(struct snapdir *sd, int64_t zxid, int fd, uint64_t len);
void snapdir_recv_abort(struct snapdir *sd, int64_t zxid, int fd);

/*
 * Writes t now, on the calling thread, as the worker would (tmp, fsync,
 * rename, fsync the directory): 0 with *zxid (the snapshot's start zxid,
 * its name), or -errno (logged, nothing left).  For a tree no other
 * thread writes (the AdminServer's restore).  A registered RCU thread,
 * offline.
 */
int snapdir_write_now(struct snapdir *sd, struct tree *t, int64_t *zxid);

/*
 * The newest snapshot file: its zxid (name) and modification time in
 * seconds since the epoch.  0, -ENOENT (none) or -errno.  Any thread.
 */
int snapdir_newest(struct snapdir *sd, int64_t *zxid, int64_t *mtime_s);

/* Jobs finished so far (tests wait on these), and the newest snapshot written. */
struct snapdir_stats {
	uint64_t snapshots; /* written */
	uint64_t snapshot_errors;
	uint64_t purges;	   /* purge jobs run */
	uint64_t purged_snapshots; /* files deleted */
	uint64_t purged_logs;
	int64_t last_zxid; /* zxid of the newest snapshot written, -1 none */
	uint64_t last_ms;  /* how long it took */
	bool busy;
};
void snapdir_stats(struct snapdir *sd, struct snapdir_stats *out);

/*
 * Each snapshot written, in ms (ZooKeeper's snapshottime): a hist.h copy.
 * Any thread; takes the worker's mutex, which it holds only to publish.
 */
struct hist;
void snapdir_snapshot_hist(struct snapdir *sd, struct hist *ms);
/* srst: resets its AvgMinMaxCounter (hist_reset), under the same mutex.  Any thread. */
void snapdir_snapshot_hist_reset(struct snapdir *sd);

/* mkdir -p (ZooKeeper creates dataDir and dataLogDir when missing). */
int snapdir_mkdirs(const char *path);

/* The directory's path (for log lines). */
const char *snapdir_path(const struct snapdir *sd);

#endif
