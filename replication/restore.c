/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AdminServer's restore (ZooKeeper 3.9's RestoreCommand ->
 * ZooKeeperServer.restoreFromSnapshot) on a standalone server, and the
 * newest snapshot's name and time (LastSnapshotCommand).
 *
 * Why in two halves, and why the core only waits.  Replacing the tree is
 * the broadcast core's business (it is the only writer, and its prep
 * state, session tracker and log must agree with the tree), but writing
 * the restored tree to disk takes as long as any snapshot (about a second
 * per million znodes) and the core must not sit in write(2) for that.  So:
 *
 *   AdminServer thread                     broadcast core (iterate)
 *   tree t loaded and checked (caller)
 *   post {t}, kick  ---------------------> ASKED: takes no new input; once
 *                                          nothing is in flight: z = max(its
 *                                          last zxid, t's) + 1  -> FROZEN
 *   t's zxid raised to z; snapshot.<z>
 *   written durable (tmp, fsync, rename,
 *   fsync dir) on this thread
 *   COMMIT, kick  ----------------------->  repl_install_tree(t): prep state,
 *                                          sessions from t, workers close
 *                                          their connections -> DONE; input
 *                                          resumes, the next txn is z + 1
 *
 * Why this never loses or mixes data: until snapshot.<z> is durable the
 * server's state on disk is the old one, whole (the restore can fail, or
 * the process die, and the old tree, log and snapshots are untouched).
 * Once it is durable it is the newest snapshot, and every log record
 * (zxid <= the old last zxid < z) lies before it, so recovery loads it and
 * replays only what comes after it: the writes accepted after the install,
 * from z + 1 on, contiguous with the snapshot as recovery checks.  Nothing
 * is logged between FROZEN and the install (no input is taken and the
 * timers, which queue expiries and container deletions, do not run), so
 * no txn can be numbered into the gap.  An install that fails for memory
 * after the snapshot is durable ends the process (die_oom): it restarts
 * from the restored snapshot, which is then the truth.
 *
 * An ensemble member refuses (-EOPNOTSUPP): replacing one member's tree
 * outside the replicated log would fork the ensemble (docs/OPERATIONS.md).
 *
 * Threads: repl_restore on the AdminServer's thread (registered with RCU,
 * offline); restore_step on the core.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "common/log.h"
#include "repl_core.h"
#include "repl_priv.h"

/* How long the AdminServer waits for the requests in flight to be answered. */
#define RESTORE_FREEZE_WAIT_S 30

enum restore_state {
	RS_ASKED = 1, /* the core is to stop taking input */
	RS_FROZEN,    /* nothing in flight, no input taken: zxid chosen */
	RS_COMMIT,    /* the snapshot is durable: install */
	RS_ABORT,     /* the AdminServer gave up before the snapshot */
	RS_DONE,      /* the core let go (rc says how) */
};

struct repl_restore {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum restore_state state;
	struct tree *t;
	int64_t zxid; /* FROZEN: the restored tree's zxid */
	int rc;	      /* DONE: 0 (installed) or -errno */
};

/* Core: true while a restore holds input back (iterate's take_input). */
bool restore_step(struct repl *r)
{
	struct repl_restore *rs = __atomic_load_n(&r->restore, __ATOMIC_ACQUIRE);
	bool hold = true;

	if (!rs)
		return false;
	pthread_mutex_lock(&rs->lock);
	switch (rs->state) {
	case RS_ASKED:
		if (r->failed) {
			rs->rc = -EIO;
			rs->state = RS_DONE;
		} else if (r->qlen == 0) {
			int64_t z = tree_last_zxid(rs->t);

			rs->zxid = (z > r->last_zxid ? z : r->last_zxid) + 1;
			rs->state = RS_FROZEN;
			log_info("repl: restore: no request in flight at zxid 0x%" PRIx64
				 "; the restored tree becomes zxid 0x%" PRIx64,
				 (uint64_t)r->last_zxid, (uint64_t)rs->zxid);
		}
		break;
	case RS_COMMIT:
		assert(r->qlen == 0 && tree_last_zxid(rs->t) == rs->zxid);
		if (repl_install_tree(r, rs->t, SESS_STANDALONE_SERVER_ID))
			die_oom("installing the restored tree", rs->zxid);
		assert(r->last_zxid == rs->zxid);
		rs->rc = 0;
		rs->state = RS_DONE;
		break;
	case RS_ABORT:
		rs->rc = -ETIMEDOUT;
		rs->state = RS_DONE;
		break;
	default:
		break;
	}
	if (rs->state == RS_DONE) {
		__atomic_store_n(&r->restore, NULL, __ATOMIC_RELEASE);
		hold = false;
	}
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	return hold;
}

/* Waits until the state is not from (until: absolute CLOCK_MONOTONIC, NULL: no bound). */
static enum restore_state wait_change(struct repl_restore *rs, enum restore_state from,
				      const struct timespec *until)
{
	enum restore_state s;

	pthread_mutex_lock(&rs->lock);
	while (rs->state == from)
		if (until && pthread_cond_timedwait(&rs->cond, &rs->lock, until) == ETIMEDOUT)
			break;
		else if (!until)
			pthread_cond_wait(&rs->cond, &rs->lock);
	s = rs->state;
	pthread_mutex_unlock(&rs->lock);
	return s;
}

static void set_state(struct repl *r, struct repl_restore *rs, enum restore_state s)
{
	pthread_mutex_lock(&rs->lock);
	rs->state = s;
	pthread_mutex_unlock(&rs->lock);
	repl_kick(r);
}

int repl_restore(struct repl *r, struct tree *t, int64_t *zxid)
{
	struct repl_restore rs = {.state = RS_ASKED, .t = t};
	struct repl_restore *none = NULL;
	pthread_condattr_t ca;
	struct timespec until;
	enum restore_state s;
	int64_t written = -1;
	int rc;

	if (r->ens)
		return -EOPNOTSUPP;
	pthread_mutex_init(&rs.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rs.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!__atomic_compare_exchange_n(&r->restore, &none, &rs, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED)) {
		rc = -EBUSY;
		goto out;
	}
	repl_kick(r);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += RESTORE_FREEZE_WAIT_S;
	s = wait_change(&rs, RS_ASKED, &until);
	if (s == RS_ASKED) {
		/* Requests in flight for 30 s (a full disk?): give up, nothing changed. */
		pthread_mutex_lock(&rs.lock);
		if (rs.state == RS_ASKED)
			rs.state = RS_ABORT;
		pthread_mutex_unlock(&rs.lock);
		repl_kick(r);
		s = wait_change(&rs, RS_ABORT, NULL);
		if (s == RS_FROZEN) /* it froze just before: give up all the same */
			s = RS_ABORT;
	}
	if (s == RS_FROZEN) {
		/* The tree is private until COMMIT: we may raise its zxid. */
		urcu_qsbr_thread_online();
		tree_import_finish(t, rs.zxid);
		urcu_qsbr_thread_offline();
		rc = snapdir_write_now(r->snap, t, &written);
		if (!rc && written != rs.zxid) {
			log_error("repl: restore: the snapshot was written at zxid 0x%" PRIx64
				  " instead of 0x%" PRIx64,
				  (uint64_t)written, (uint64_t)rs.zxid);
			rc = -EIO; /* cannot happen: nobody else writes t */
		}
		set_state(r, &rs, rc ? RS_ABORT : RS_COMMIT);
		if (rc) {
			wait_change(&rs, RS_ABORT, NULL);
			goto out;
		}
		s = wait_change(&rs, RS_COMMIT, NULL);
	} else if (s == RS_ABORT) {
		set_state(r, &rs, RS_ABORT);
		s = wait_change(&rs, RS_ABORT, NULL);
	}
	assert(s == RS_DONE);
	rc = rs.rc;
	if (!rc) {
		*zxid = rs.zxid;
		log_info("repl: restored a snapshot: the tree is now zxid 0x%" PRIx64,
			 (uint64_t)rs.zxid);
	}
out:
	pthread_cond_destroy(&rs.cond);
	pthread_mutex_destroy(&rs.lock);
	return rc;
}

int repl_last_snapshot(struct repl *r, int64_t *zxid, int64_t *mtime_s)
{
	return snapdir_newest(r->snap, zxid, mtime_s);
}
