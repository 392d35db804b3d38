/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside replication/: the ensemble driver (ensemble.c), which runs the
 * consensus core (raft/raft.h) and the peer transport (peer/peer.h) on
 * the broadcast core's thread when zoo.cfg lists two or more server.N
 * lines.  repl.c calls these hooks only when r->ens is set (ens_open
 * succeeded); a standalone server never reaches them.
 *
 * Threads: repl_open's thread for ens_configured/ens_read_myid/ens_open
 * and repl_stop's for ens_close; everything else on the broadcast thread.
 * Any thread: ens_state, ens_leader_id, ens_quorum_stats (relaxed atomics).
 */
#ifndef CHEETAH_REPLICATION_ENSEMBLE_H
#define CHEETAH_REPLICATION_ENSEMBLE_H

#include <stdbool.h>
#include <stdint.h>

struct cfg;
struct repl;
struct repl_in;
struct pending;
struct sess;

/* True when c lists two or more server.N lines: the server runs as a member. */
bool ens_configured(const struct cfg *c);

/*
 * Reads <dataDir>/myid (ZooKeeper's: a decimal id, surrounding white
 * space allowed) into *id.  Returns 0, or -EINVAL / -errno (logged with
 * the file's name).
 */
int ens_read_myid(const struct cfg *c, uint32_t *id);

/*
 * Recovers the member's durable state (hard state in dataDir, the log's
 * entries from r->log) into a consensus core, starts the peer transport
 * and sets r->ens.  The tree stays as it is (empty): committed entries are
 * applied as the core learns the commit index.  Call once r->log, r->tree,
 * r->prep and r->sess exist.  Returns 0 or a negative errno (logged).
 */
int ens_open(struct repl *r, uint32_t myid);

/* Frees everything ens_open made; NULL-safe on r->ens. */
void ens_close(struct repl *r);

/*
 * Shutdown (broadcast thread, before ens_close): a serving leader starts
 * a leadership transfer to the most up-to-date voter; the caller iterates
 * while ens_transferring() (bounded by its own deadline).
 */
void ens_stop(struct repl *r);
bool ens_transferring(const struct repl *r);

/*
 * A live install of the leader's snapshot under way (install_begin ..
 * install_finish, ensemble.c): the snapshot loads on the loader thread,
 * which owns the log's caller side meanwhile (txlog.h: one caller thread;
 * no txlog caller-side call may come from elsewhere until it is over).
 * *loaded, when not NULL, is set to whether the loader is done: the next
 * iteration makes the swap.  For tests that step the core themselves
 * (tests/replication/test_ensemble.c).  The broadcast thread.
 */
bool ens_installing(const struct repl *r, bool *loaded);

/*
 * True while this member is the leader and may prep: its first entry of
 * the term (the no-op) is applied, so the tree holds everything before
 * its proposals.  Followers forward instead (ens_learner_in).
 */
bool ens_serving(const struct repl *r);

/*
 * One step: peer I/O and frames, ticks, the core's Ready (persist, send,
 * apply), durability reports, role changes, the learner's answers.
 * Returns the amount of work done (0: idle).
 */
uint32_t ens_iterate(struct repl *r);

/*
 * The leader's prepped txns from r->q[r->qappended..] go into the log as
 * one entry per batch (raft_propose).  Returns the number of txns proposed.
 */
uint32_t ens_propose(struct repl *r);

/* A worker's request on a member that is not serving: forward or refuse. */
void ens_learner_in(struct repl *r, uint32_t wi, struct repl_in *m);

/*
 * The serving leader's sync (local, or forwarded with r->cur_origin set):
 * asks raft for a read index; once a quorum confirmed the leadership the
 * sync becomes a marker in r->q (answered after everything before it is
 * applied).  Meanwhile ens_holding() is true: input waits, so nothing the
 * session sent after the sync is queued before it.
 */
void ens_leader_sync(struct repl *r, uint32_t wi, const struct repl_in *m);

/* True while a leader's sync waits for its read index (input paused). */
bool ens_holding(const struct repl *r);

/*
 * True while this member, a follower, has ENS_FWD_MAX requests (or
 * ENS_FWD_MAX_BYTES of forwarded frames) waiting for its leader: it
 * takes no more input from its workers until answers come (input
 * paused), so its clients wait in the dataplane and nothing is dropped.
 * ZooKeeper bounds each server's outstanding requests the same way
 * (globalOutstandingLimit); its leader queues what learners forward
 * without a bound, this one refuses beyond ENS_FWD_LEADER_MAX.
 */
/*
 * Overridable at build time only for a test build of the whole library
 * (tests/replication/meson.build: the randomized ensemble driver reaches
 * the bounds with small bursts); every real build uses these.
 */
#ifndef ENS_FWD_MAX
#define ENS_FWD_MAX 8192u
#endif
#ifndef ENS_FWD_MAX_BYTES
#define ENS_FWD_MAX_BYTES (64u << 20)
#endif
bool ens_learner_full(const struct repl *r);

/* The leader's answer without a txn to a request a follower forwarded. */
void ens_answer_remote(struct repl *r, const struct pending *p, int32_t err);

/*
 * The serving leader's marker (zxid 0) for a forwarded request (p->origin
 * set; p->kind, p->err, p->xid, p->session): answered (F_ANS) at once
 * when every txn prepped before it is proposed to raft already, and then
 * returns true; false when one is not yet: the caller queues the marker
 * in r->q and ens_propose sends its F_ANS right after proposing the last
 * txn before it.  The follower answers it once it applied that txn (the
 * ordering argument is at the definition).
 */
bool ens_answer_marker(struct repl *r, const struct pending *p);

/*
 * SESSIONMOVED (ZooKeeper's SessionTrackerImpl.checkSession / setOwner),
 * on the serving leader; the member of a request is r->cur_origin, or
 * this member for a local one.  ens_session_claim records that member as
 * s's owner (createSession, a reconnect); ens_session_owned is true when
 * a write of s may go on: its owner is that member, or not known yet
 * (then it becomes the owner).  False: answer ZK_SESSIONMOVED, which
 * closes the connection that sent it.
 */
void ens_session_claim(const struct repl *r, struct sess *s);
bool ens_session_owned(const struct repl *r, struct sess *s);

/* The fd to poll (the peer transport's) and the next deadline, ms. */
int ens_fd(const struct repl *r);
int64_t ens_next_ms(const struct repl *r);

/* repl_quorum_stats' figures (repl.h).  Any thread. */
struct repl_quorum;
bool ens_quorum_stats(const struct repl *r, struct repl_quorum *q);
/* repl_quorum_size (repl.h).  Any thread. */
uint32_t ens_quorum_size(const struct repl *r);
/* repl_observers and repl_reset_observer_stats (repl.h).  Any thread. */
struct repl_learner_info;
uint32_t ens_observers(const struct repl *r, struct repl_learner_info *out, uint32_t max);
void ens_reset_observer_stats(struct repl *r);

/*
 * "leader", "follower", "observer", "looking" or "read-only" (srvr's
 * Mode).  Any thread.
 */
const char *ens_state(const struct repl *r);

/* This member's id (myid), set at open and never changed.  Any thread. */
uint32_t ens_myid(const struct repl *r);

/*
 * The id of the leader this member serves with (itself on the leader),
 * 0 while it has none (looking, read-only).  Published by the broadcast
 * thread with its state (relaxed atomic).  Any thread.
 */
uint32_t ens_leader_id(const struct repl *r);

/*
 * Times this member entered LOOKING (no leader known; at start too), and
 * the ms from each entry until a leader was known (a copy).  Any thread.
 */
struct hist;
void ens_election_stats(const struct repl *r, uint64_t *looking_count, struct hist *election_ms);
/* srst: resets election_ms's AvgMinMaxCounter (hist_reset).  Any thread. */
void ens_election_reset(struct repl *r);

/* Learners' session revalidations this member answered as leader.  Any thread. */
uint64_t ens_revalidate_count(const struct repl *r);

struct repl_write;
struct tree_auth;

/*
 * Leader only: a reconfig request (w: op ZK_OP_RECONFIG, one req whose
 * path span is joiningServers, data leavingServers, acl newMembers, ttl
 * curConfigId; see dataplane's build_write), checked as ZooKeeper's
 * PrepRequestProcessor does.  ZK_OK: a txn is queued in r->q (it becomes
 * its own CONF entry); else the error to answer with (nothing queued).
 */
int32_t ens_reconfig(struct repl *r, uint32_t wi, const struct repl_in *m,
		     const struct repl_write *w, const struct tree_auth *auth);

#endif
