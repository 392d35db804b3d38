/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broadcast core of a standalone server: the only writer of the tree.
 * It plays ZooKeeper's PrepRequestProcessor -> SyncRequestProcessor ->
 * FinalRequestProcessor chain, the SessionTracker thread and the
 * ContainerManager timer, on one thread.
 *
 * Pipeline.  Each loop iteration pops a bounded burst from every worker's
 * in ring (fairness), preps each request against the tree plus
 * outstanding changes (tree_prep_*), gives it the next zxid and queues it
 * in the in-flight FIFO with its encoded record; appends the FIFO's
 * unappended records to the log (txlog_append: a memory copy) and hands
 * the batch to the log writer (txlog_flush: group commit, so the next
 * batch fills while the disk syncs this one); then, in FIFO order, applies
 * every txn whose zxid is durable (tree_apply), pushes its watch events to
 * every worker, its answer to the submitting worker, and publishes its
 * zxid.  Nothing is acknowledged before it is durable: the FIFO head waits
 * for committed_zxid() (the one commit rule: today "durable locally").
 * Time is an argument of iterate(); zxids come from zxid_next/zxid_claim.
 *
 * Invariants.
 *  - zxids are assigned in FIFO order, contiguous from the recovered
 *    last zxid; the FIFO is applied strictly in order, so tree, prep and
 *    log agree on what came before every txn.
 *  - A sync (and an answer that needs no txn, e.g. a write of a closing
 *    session) is a marker in the FIFO: it is answered when it reaches the
 *    head, i.e. after everything queued before it was applied.  A read
 *    the dataplane sends ahead of a later write of its session
 *    (REPL_IN_READ) runs on the tree through repl_opts.read_exec (the
 *    dataplane's code; the core knows no read semantics) once the
 *    session's newest request in flight is answered (q_pop; at once when
 *    none is), so before anything the session pushed after it, and its
 *    answer takes that place on the ring.
 *  - On each worker's out ring a txn's events precede its result, and
 *    repl_published_zxid() >= z only once every message of txns <= z is
 *    in every ring (not merely queued): repl.h's rule 2 depends on it.  A
 *    full out ring never loses a message: it goes to that worker's
 *    overflow FIFO, retried every iteration, and publication waits for it.
 *  - Backpressure: while the log refuses appends (-EAGAIN: the batch is
 *    full), or a worker's overflow is long, input is left in the rings.
 *
 * Sessions (session.c) are created by a createSession txn (CONNECTED is
 * sent once it is applied), revalidated on reconnect without a txn
 * (ZooKeeper's reopenSession: password check and touch), closed by a
 * closeSession txn from the client or from expiry.  Every request of a
 * session touches it, as ZooKeeperServer.submitRequest does; a request of
 * an unknown or closing session is answered SESSIONEXPIRED (ZooKeeper's
 * touch fails and the request is dropped unanswered; an answer keeps the
 * worker's per-session FIFO moving, and the connection is being closed).
 * The tracker is the core's alone: the dump four-letter word asks for a
 * copy with REPL_IN_SESSIONS and gets it back on the worker's out ring.
 *
 * Snapshots.  After snapCount/2 + random(snapCount/2) txns (or the size
 * equivalent with snapSizeLimitInKb), the log rolls and snapdir's worker
 * writes a fuzzy snapshot of the live tree (SyncRequestProcessor).  A
 * snapshot is also taken at start-up when txns were replayed
 * (ZooKeeperServer.loadData).  Autopurge runs at start and every
 * purgeInterval hours (DatadirCleanupManager).
 *
 * Disk errors.  A txlog error is sticky: nothing after the durable zxid
 * will ever be acknowledged.  The core logs it once, tells every worker to
 * drop its connections (REPL_OUT_EXPIRE: clients fail over or wait), stops
 * expiring sessions (expiry needs the log) and from then on drops input
 * unanswered.  Reads go on from the tree.  repl_error() reports it so the
 * main program can exit as ZooKeeper does.
 *
 * Out of memory after a txn is durable (applying it, building its
 * messages) is fatal: an applied txn cannot be undone and an event or an
 * acknowledgement cannot be dropped without breaking a guarantee.
 *
 * Ensemble.  When zoo.cfg lists two or more server.N lines, ensemble.c
 * drives the consensus core from this loop (ens_iterate): the serving
 * leader preps as above and each iteration's txns become one log entry;
 * txns are applied as raft commits them, on every member; a follower
 * forwards its clients' requests to the leader.  r->ens is NULL when
 * standalone, and every ensemble hook is behind it.  A member that
 * installs its leader's snapshot replaces the tree live
 * (repl_install_tree: REPL_OUT_TREE to every worker, the old tree freed
 * once all acknowledged, repl_reclaim_trees).
 *
 * Threads.  repl_open and repl_stop run on the main thread (registered
 * with RCU); between repl_start and repl_stop everything here runs on the
 * broadcast thread (an RCU QSBR thread: quiescent once per iteration,
 * offline while sleeping), except repl_kick, repl_published_zxid,
 * repl_error and the *_free helpers (any thread).
 */
#include "repl.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/clock.h"
#include "common/fdlimit.h"
#include "common/hist.h"
#include "common/log.h"
#include "config/config.h"
#include "ens_wire.h"
#include "ensemble.h"
#include "raft/raft.h"
#include "repl_core.h"
#include "repl_priv.h"
#include "txlog.h"

_Static_assert(CFG_TXLOG_INFLIGHT_MAX == TXLOG_MAX_INFLIGHT, "cheetah.txlog.inflight bound");

#define RING_SIZE 4096u	    /* messages per ring, each direction */
#define IN_BURST 64u	    /* messages taken from one worker per iteration */
#define OVF_PAUSE 65536u    /* overflow length that pauses input */
#define BACKLOG_PAUSE 4096u /* unappended FIFO entries that pause input */
#define SPIN_ITERS 200u	    /* idle iterations before sleeping (standalone) */
#define ENS_SPIN_ITERS 0u   /* ensemble member: sleeps at once (core_main) */
#define MAX_SLEEP_MS 1000
#define STOP_WAIT_MS 10000 /* repl_stop: how long to wait for the disk */
#define MAX_RECORD_MIN (16u << 20)

/* Stage counters (struct repl_stages): the core writes, any thread reads. */
#define STAGE_ADD(field, n)                                                                        \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n),              \
			 __ATOMIC_RELAXED)

static int64_t now_ms(void)
{
	return (int64_t)(clock_mono_ns() / 1000000u);
}

static uint64_t rnd(struct repl *r)
{
	/* xorshift64*: only spreads snapshots out, nothing depends on it */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545F4914F6CDD1DULL;
}

__attribute__((noreturn)) void die_oom(const char *what, int64_t zxid)
{
	log_error("repl: out of memory %s (zxid 0x%" PRIx64 "); cannot go on without breaking "
		  "a guarantee, aborting",
		  what, (uint64_t)zxid);
	abort();
}

/* ---- Message bodies ---- */

void repl_in_free(struct repl_in *m)
{
	free(m->body);
	m->body = NULL;
}

void repl_out_free(struct repl_out *m)
{
	if (m->kind == REPL_OUT_EVENTS && m->body) {
		struct repl_events *ev = m->body;

		if (__atomic_sub_fetch(&ev->refs, 1, __ATOMIC_ACQ_REL) == 0)
			free(ev);
	} else if (m->kind != REPL_OUT_TREE) {
		free(m->body);
	}
	m->body = NULL;
}

/* ---- Small accessors ---- */

struct tree *repl_tree(struct repl *r)
{
	return rcu_dereference(r->tree);
}

void repl_tree_switched(struct repl *r, uint32_t w, uint64_t gen)
{
	assert(w < r->nworkers);
	assert(gen > __atomic_load_n(&r->w[w].tree_gen, __ATOMIC_RELAXED));
	__atomic_store_n(&r->w[w].tree_gen, gen, __ATOMIC_RELEASE);
}

struct ring *repl_in_ring(struct repl *r, uint32_t w)
{
	return w < r->nworkers ? &r->w[w].in : NULL;
}

struct ring *repl_out_ring(struct repl *r, uint32_t w)
{
	return w < r->nworkers ? &r->w[w].out : NULL;
}

void repl_set_worker_wakeup(struct repl *r, uint32_t w, int eventfd)
{
	struct worker *wk;

	if (w >= r->nworkers)
		return;
	wk = &r->w[w];
	/*
	 * Dekker with wake_workers (both sides sequentially consistent):
	 * either the core's load of wake_fd sees the new value, or its
	 * waking = 1 is visible here and we wait until its write(2) is
	 * over.  The core holds waking for one write(2) only.
	 */
	__atomic_store_n(&wk->wake_fd, eventfd, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&wk->waking, __ATOMIC_SEQ_CST))
		sched_yield();
	assert(__atomic_load_n(&wk->wake_fd, __ATOMIC_RELAXED) == eventfd);
}

void repl_kick(struct repl *r)
{
	static const uint64_t one = 1;

	/*
	 * Pairs with the fence in core_sleep: either it sees our push or we
	 * see it asleep.  Only the kicker that clears the flag writes: a
	 * worker pushing a burst while the core has not run yet (one CPU for
	 * both) would otherwise pay one write(2) per message.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->sleeping, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&r->sleeping, 0, __ATOMIC_SEQ_CST)) {
		ssize_t n = write(r->kick_fd, &one, sizeof(one));
		(void)n; /* EAGAIN: the counter is already set */
	}
}

uint32_t repl_session_count(const struct repl *r)
{
	return __atomic_load_n(&r->live_sessions, __ATOMIC_RELAXED);
}

static void summary_copy(struct repl_summary *out, const struct txlog_summary *s)
{
	*out = (struct repl_summary){.cnt = s->cnt, .sum = s->sum, .min = s->min, .max = s->max};
}

void repl_sync_summaries(const struct repl *r, struct repl_summary *batch_size,
			 struct repl_summary *fsync_ms)
{
	struct txlog_summary b, f;

	txlog_summaries(r->log, &b, &f);
	summary_copy(batch_size, &b);
	summary_copy(fsync_ms, &f);
}

uint64_t repl_stale_sessions_expired(const struct repl *r)
{
	return __atomic_load_n(&r->stale_expired, __ATOMIC_RELAXED);
}

uint64_t repl_revalidate_count(const struct repl *r)
{
	return r->ens ? ens_revalidate_count(r) : 0;
}

void repl_election_stats(const struct repl *r, uint64_t *looking_count, struct hist *election_ms)
{
	if (r->ens) {
		ens_election_stats(r, looking_count, election_ms);
		return;
	}
	*looking_count = 0;
	memset(election_ms, 0, sizeof(*election_ms));
}

void repl_zk_stats(const struct repl *r, struct repl_zk_stats *out)
{
	out->proposals = __atomic_load_n(&r->zk.proposals, __ATOMIC_RELAXED);
	out->commits = __atomic_load_n(&r->zk.commits, __ATOMIC_RELAXED);
	out->learner_proposals = __atomic_load_n(&r->zk.learner_proposals, __ATOMIC_RELAXED);
	out->learner_commits = __atomic_load_n(&r->zk.learner_commits, __ATOMIC_RELAXED);
	out->snaps = __atomic_load_n(&r->zk.snaps, __ATOMIC_RELAXED);
	out->diffs = __atomic_load_n(&r->zk.diffs, __ATOMIC_RELAXED);
	out->unrecoverable = __atomic_load_n(&r->zk.unrecoverable, __ATOMIC_RELAXED);
}

void repl_zk_age(struct repl *r, int64_t txn_ms, enum repl_zk_hist which)
{
	assert(which < REPL_ZK_NHIST);
	if (!r->zk_wall_ms)
		r->zk_wall_ms = clock_wall_ms();
	if (r->zk_wall_ms >= txn_ms)
		hist_add(&r->zk_hist[which], (uint64_t)(r->zk_wall_ms - txn_ms));
}

void repl_zk_applied(struct repl *r, int64_t txn_ms, enum repl_zk_hist which)
{
	int64_t lat;

	if (!r->zk_wall_ms)
		r->zk_wall_ms = clock_wall_ms();
	lat = r->zk_wall_ms - txn_ms;
	if (lat < 0)
		return; /* the clocks disagree: ZooKeeper drops it too */
	hist_add(&r->zk_hist[REPL_ZK_PROPAGATION_MS], (uint64_t)lat);
	if (which < REPL_ZK_NHIST)
		hist_add(&r->zk_hist[which], (uint64_t)lat);
}

void repl_zk_hist(struct repl *r, enum repl_zk_hist which, struct hist *out)
{
	assert(which < REPL_ZK_NHIST);
	if (which == REPL_ZK_SNAPSHOT_MS)
		snapdir_snapshot_hist(r->snap, out);
	else
		hist_read(&r->zk_hist[which], out);
}

void repl_sync_hists(const struct repl *r, struct hist *batch_size, struct hist *fsync_us)
{
	txlog_hists(r->log, batch_size, fsync_us);
}

void repl_reset_stats(struct repl *r)
{
	uint32_t n = __atomic_load_n(&r->ack_n, __ATOMIC_ACQUIRE);

	txlog_summaries_reset(r->log);
	for (int i = 0; i < REPL_ZK_NHIST; i++)
		hist_reset(&r->zk_hist[i]);
	snapdir_snapshot_hist_reset(r->snap);
	for (uint32_t i = 0; i < n; i++)
		hist_reset(&r->ack_hist[i]);
	if (r->ens)
		ens_election_reset(r);
}

void repl_zk_ack(struct repl *r, uint32_t id, uint64_t ms, uint64_t n)
{
	uint32_t i;

	for (i = 0; i < r->ack_n && r->ack_id[i] != id; i++)
		;
	if (i == r->ack_n) {
		if (i == REPL_ACK_KEYS)
			return; /* more members than summaries: documented */
		r->ack_id[i] = id;
		__atomic_store_n(&r->ack_n, i + 1, __ATOMIC_RELEASE);
	}
	assert(r->ack_id[i] == id && i < REPL_ACK_KEYS);
	hist_add_n(&r->ack_hist[i], ms, n);
}

uint32_t repl_ack_hists(const struct repl *r, uint32_t *ids, struct hist *out, uint32_t max)
{
	uint32_t n = __atomic_load_n(&r->ack_n, __ATOMIC_ACQUIRE);

	assert(n <= REPL_ACK_KEYS);
	if (n > max)
		n = max;
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = r->ack_id[i];
		hist_read(&r->ack_hist[i], &out[i]);
	}
	return n;
}

const char *repl_server_state(const struct repl *r)
{
	return r->ens ? ens_state(r) : "standalone";
}

uint32_t repl_myid(const struct repl *r)
{
	return r->ens ? ens_myid(r) : 0;
}

uint32_t repl_leader_id(const struct repl *r)
{
	return r->ens ? ens_leader_id(r) : 0;
}

bool repl_quorum_stats(const struct repl *r, struct repl_quorum *q)
{
	memset(q, 0, sizeof(*q));
	return r->ens && ens_quorum_stats(r, q);
}

uint32_t repl_quorum_size(const struct repl *r)
{
	return r->ens ? ens_quorum_size(r) : 0;
}

uint32_t repl_observers(const struct repl *r, struct repl_learner_info *out, uint32_t max)
{
	return r->ens ? ens_observers(r, out, max) : 0;
}

void repl_reset_observer_stats(struct repl *r)
{
	if (r->ens)
		ens_reset_observer_stats(r);
}

int64_t repl_published_zxid(const struct repl *r)
{
	return __atomic_load_n(&r->published, __ATOMIC_ACQUIRE);
}

int repl_error(const struct repl *r)
{
	return __atomic_load_n(&r->err, __ATOMIC_ACQUIRE);
}

/* ---- Out rings, overflow, publication ---- */

static void ovf_push(struct repl *r, struct worker *w, const struct repl_out *m, int64_t tag)
{
	if (w->ovf_len == w->ovf_cap) {
		uint32_t ncap = w->ovf_cap ? w->ovf_cap * 2 : 256;
		struct ovf_ent *n = malloc((size_t)ncap * sizeof(*n));

		if (!n)
			die_oom("queueing a message for a slow worker", tag);
		for (uint32_t i = 0; i < w->ovf_len; i++)
			n[i] = w->ovf[(w->ovf_head + i) & (w->ovf_cap - 1)];
		free(w->ovf);
		w->ovf = n;
		w->ovf_cap = ncap;
		w->ovf_head = 0;
	}
	w->ovf[(w->ovf_head + w->ovf_len) & (w->ovf_cap - 1)] = (struct ovf_ent){*m, tag};
	w->ovf_len++;
	r->ovf_total++;
}

void push_out(struct repl *r, uint32_t wi, const struct repl_out *m, int64_t tag)
{
	struct worker *w = &r->w[wi];

	w->dirty = true;
	if (w->ovf_len == 0 && ring_push(&w->out, m))
		return;
	ovf_push(r, w, m, tag);
}

void publish(struct repl *r)
{
	int64_t cand = r->last_applied;

	/*
	 * After a live install the overflow queues hold the old tree's
	 * messages (tags up to its last applied), then REPL_OUT_TREE (tagged
	 * tree_base), then the new tree's: not in tag order, so the head's
	 * tag bounds nothing behind it.  Until every worker switched,
	 * published stays at or below tree_base: true of the old tree's
	 * messages for a worker that has not switched (those at or below it
	 * are in its ring: its head, if old, is above), and of the new tree
	 * for one that has (nothing of the new tree is at or below the
	 * base).  repl_install_tree lowered it to tree_base.
	 */
	if (r->tree_gen && cand > r->tree_base) {
		for (uint32_t i = 0; i < r->nworkers; i++) {
			if (__atomic_load_n(&r->w[i].tree_gen, __ATOMIC_ACQUIRE) < r->tree_gen) {
				cand = r->tree_base;
				break;
			}
		}
	}
	if (r->ovf_total) {
		for (uint32_t i = 0; i < r->nworkers; i++) {
			struct worker *w = &r->w[i];

			if (w->ovf_len && w->ovf[w->ovf_head].tag - 1 < cand)
				cand = w->ovf[w->ovf_head].tag - 1;
		}
	}
	if (cand > r->published)
		__atomic_store_n(&r->published, cand, __ATOMIC_RELEASE);
}

static uint32_t flush_overflows(struct repl *r)
{
	uint32_t moved = 0;

	if (!r->ovf_total)
		return 0;
	for (uint32_t i = 0; i < r->nworkers; i++) {
		struct worker *w = &r->w[i];

		while (w->ovf_len && ring_push(&w->out, &w->ovf[w->ovf_head].m)) {
			w->ovf_head = (w->ovf_head + 1) & (w->ovf_cap - 1);
			w->ovf_len--;
			r->ovf_total--;
			w->dirty = true;
			moved++;
		}
	}
	if (moved)
		publish(r);
	return moved;
}

static void wake_workers(struct repl *r)
{
	static const uint64_t one = 1;

	for (uint32_t i = 0; i < r->nworkers; i++) {
		struct worker *w = &r->w[i];
		int fd;

		if (!w->dirty)
			continue;
		w->dirty = false;
		/* See repl_set_worker_wakeup: no write after the fd was replaced. */
		__atomic_store_n(&w->waking, 1, __ATOMIC_SEQ_CST);
		fd = __atomic_load_n(&w->wake_fd, __ATOMIC_SEQ_CST);
		if (fd >= 0) {
			ssize_t n = write(fd, &one, sizeof(one));
			(void)n;
		}
		__atomic_store_n(&w->waking, 0, __ATOMIC_RELEASE);
	}
}

void send_simple(struct repl *r, uint32_t wi, uint8_t kind, uint32_t conn, int32_t xid,
		 int64_t session, int64_t zxid, void *body)
{
	struct repl_out m = {
	    .kind = kind,
	    .conn = conn,
	    .xid = xid,
	    .session = session,
	    .zxid = zxid,
	    .body = body,
	};

	push_out(r, wi, &m, zxid ? zxid : r->last_applied);
}

#define CONN_SLOT(conn) ((conn) & ((1u << REPL_CONN_SLOT_BITS) - 1))

/* Remembers that the core closed conn of session (closed_input). */
static void note_closed(struct repl *r, uint32_t wi, uint32_t conn, int64_t session)
{
	struct worker *w = &r->w[wi];
	uint32_t slot = CONN_SLOT(conn);

	if (slot >= w->nclosed) {
		uint32_t n = w->nclosed ? w->nclosed : 64;
		struct closed_conn *c;

		while (n <= slot)
			n *= 2;
		c = realloc(w->closed, (size_t)n * sizeof(*c));
		if (!c) {
			/* Rare and not fatal: only this close loses the protection. */
			log_error("repl: out of memory noting a closed connection of session "
				  "0x%" PRIx64 "; its requests still queued may run",
				  (uint64_t)session);
			return;
		}
		memset(c + w->nclosed, 0, (size_t)(n - w->nclosed) * sizeof(*c));
		w->closed = c;
		w->nclosed = n;
	}
	w->closed[slot] = (struct closed_conn){.conn = conn, .session = session};
}

void send_expire(struct repl *r, uint32_t wi, uint32_t conn, int64_t session)
{
	if (wi >= r->nworkers)
		return;
	send_simple(r, wi, REPL_OUT_EXPIRE, conn, 0, session, 0, NULL);
	if (session)
		note_closed(r, wi, conn, session);
}

/*
 * Whether m is input of a connection this core closed (send_expire),
 * which the worker pushed before it saw the REPL_OUT_EXPIRE: dropped,
 * unanswered, as ZooKeeper's server never reads what a client sent
 * after its connection was closed.  Else it would run after the close:
 * a request that waited in the ring while input was paused (a learner
 * at its forwarding bound) could be forwarded once its leader link was
 * back, and be applied after the later requests its client, told of
 * the connection loss, sent through another member (FIFO order lost;
 * found by test_ensrand).  A connect or a GONE on that connection id
 * (a new connection, or the worker's own close) ends it; a connection
 * reused for another session is not concerned (the worker closes only
 * a connection that holds the session: repl.h).  One entry per
 * connection slot (repl.h, REPL_CONN_SLOT_BITS), so a mass close (an
 * observer losing its leader closes every client) forgets none: the
 * slot's next connection pushes nothing before the old one's last input.
 * A closeSession still queued runs: its client asked for the end of the
 * session, and its ephemerals should go now, not at the timeout.
 */
static bool closed_input(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	struct worker *w = &r->w[wi];
	uint32_t slot = CONN_SLOT(m->conn);
	struct closed_conn *c;

	if (slot >= w->nclosed)
		return false;
	c = &w->closed[slot];
	if (!c->session || c->conn != m->conn)
		return false;
	if (m->kind == REPL_IN_CONNECT || m->kind == REPL_IN_GONE) {
		c->session = 0;
		return false;
	}
	/* A closeSession is never stale (ZooKeeper's Request.isStale). */
	return m->kind != REPL_IN_CLOSE && m->session == c->session;
}

void send_refuse_connect(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	assert(m->kind == REPL_IN_CONNECT);
	send_refuse_pending(r, wi, m->conn, m->xid, m->session);
}

void send_refuse_pending(struct repl *r, uint32_t wi, uint32_t conn, int32_t xid, int64_t session)
{
	if (wi < r->nworkers)
		send_simple(r, wi, REPL_OUT_EXPIRE, conn, xid, session, 0, NULL);
}

struct repl_result *result_new(int32_t err, uint32_t n, size_t path_bytes)
{
	struct repl_result *res;
	size_t sz = sizeof(*res) + (size_t)n * sizeof(res->results[0]) + path_bytes;

	res = calloc(1, sz);
	if (res) {
		res->err = err;
		res->nresults = n;
	}
	return res;
}

static void send_answer(struct repl *r, const struct pending *p, int32_t err)
{
	struct repl_result *res;

	if (p->origin) {
		ens_answer_remote(r, p, err);
		return;
	}
	if (p->worker >= r->nworkers)
		return;
	if (err == ZK_SESSIONMOVED) {
		/* A connection-level error: closed, no reply (FinalRequestProcessor). */
		log_info("repl: session 0x%" PRIx64 " moved to another server; closing its "
			 "connection here",
			 (uint64_t)p->session);
		send_expire(r, p->worker, p->conn, p->session);
		return;
	}
	res = result_new(err, 0, 0);
	if (!res)
		die_oom("answering a request", r->last_applied);
	send_simple(r, p->worker, REPL_OUT_RESULT, p->conn, p->xid, p->session, r->last_applied,
		    res);
}

static struct rd *rd_get(struct repl *r)
{
	struct rd *d = r->rd_free;

	if (!d)
		return malloc(sizeof(*d));
	r->rd_free = d->next;
	r->nrd_free--;
	return d;
}

void rd_put(struct repl *r, struct rd *d)
{
	free(d->req);
	d->req = NULL;
	if (r->nrd_free >= RD_KEEP) {
		free(d);
		return;
	}
	d->next = r->rd_free;
	r->rd_free = d;
	r->nrd_free++;
}

/*
 * Runs the reads of a REPL_IN_READ on the tree as it is now and pushes
 * their one answer to the submitter's ring, after the events of every txn applied
 * so far, before those of any later one; frees the read.
 */
void exec_read(struct repl *r, struct rd *d)
{
	struct repl_read_out *out = NULL;
	int32_t err = ZK_SYSTEMERROR;

	if (d->worker < r->nworkers) {
		if (r->read_exec)
			err = r->read_exec(r->read_ctx, r->tree, d->req, &out);
		r->read_msgs++;
		r->reads_run += d->req->nreqs;
		if (err == ZK_OK && out) {
			send_simple(r, d->worker, REPL_OUT_READ, d->conn, d->xid, d->session,
				    r->last_applied, out);
		} else {
			struct repl_result *res =
			    result_new(err != ZK_OK ? err : ZK_SYSTEMERROR, 0, 0);

			free(out);
			if (!res)
				die_oom("answering a read", r->last_applied);
			send_simple(r, d->worker, REPL_OUT_RESULT, d->conn, d->xid, d->session,
				    r->last_applied, res);
		}
	}
	rd_put(r, d);
}

/* Answers a marker (zxid 0) at the FIFO's head. */
static void answer_marker(struct repl *r, const struct pending *p)
{
	if (p->origin) {
		/* A follower's held marker: its F_ANS left in ens_propose. */
		assert(r->ens && p->appended);
		return;
	}
	send_answer(r, p, p->kind == P_SYNC ? ZK_OK : p->err);
}

/* ---- The in-flight FIFO ---- */

struct pending *q_at(struct repl *r, uint32_t i)
{
	return &r->q[(r->qhead + i) & (r->qcap - 1)];
}

/* Appends an entry; returns NULL (logged) on allocation failure. */
static struct pending *q_push(struct repl *r)
{
	if (r->qlen == r->qcap) {
		uint32_t ncap = r->qcap ? r->qcap * 2 : 1024;
		struct pending *n = malloc((size_t)ncap * sizeof(*n));

		if (!n) {
			log_error("repl: out of memory growing the in-flight queue (%u entries)",
				  r->qlen);
			return NULL;
		}
		for (uint32_t i = 0; i < r->qlen; i++)
			n[i] = *q_at(r, i);
		free(r->q);
		r->q = n;
		r->qcap = ncap;
		r->qhead = 0;
	}
	struct pending *p = &r->q[(r->qhead + r->qlen) & (r->qcap - 1)];
	memset(p, 0, sizeof(*p));
	p->seq = ++r->qseq;
	p->origin = r->cur_origin;
	p->t_ns = r->now_ns;
	if (p->origin) {
		assert(p->origin < 256);
		p->fwd_len = r->cur_fwd_len;
		r->fwd_n[p->origin]++;
		r->fwd_bytes[p->origin] += p->fwd_len;
	}
	r->qlen++;
	return p;
}

/* Pops the head, answered: the reads that follow it run now. */
void q_pop(struct repl *r)
{
	struct pending *p = q_at(r, 0);

	while (p->reads) {
		struct rd *d = p->reads;
		p->reads = d->next;
		STAGE_ADD(r->st.reads_waited, d->req->nreqs);
		if (r->now_ns > d->t_ns)
			STAGE_ADD(r->st.read_wait_ns, (r->now_ns - d->t_ns) * d->req->nreqs);
		exec_read(r, d);
	}
	free(p->rec);
	p->rec = NULL;
	if (p->origin) {
		assert(r->fwd_n[p->origin] > 0 && r->fwd_bytes[p->origin] >= p->fwd_len);
		r->fwd_n[p->origin]--;
		r->fwd_bytes[p->origin] -= p->fwd_len;
	}
	r->qhead = (r->qhead + 1) & (r->qcap - 1);
	r->qlen--;
	if (r->qappended)
		r->qappended--;
	if (r->qhanded)
		r->qhanded--;
}

/* p, just queued, is its session's newest request in flight (do_read). */
static void q_owner(struct repl *r, const struct pending *p)
{
	struct sess *s = p->session ? sess_find(r->sess, p->session) : NULL;

	if (s)
		s->last_seq = p->seq;
}

/* A marker: answered with err once everything queued before it is applied. */
void q_marker(struct repl *r, uint8_t kind, int32_t err, uint32_t wi, const struct repl_in *m)
{
	struct pending *p;

	if (r->ens && r->cur_origin) {
		/*
		 * A follower's: answered now when every txn before it is in
		 * the log, else held in r->q until ens_propose proposed them
		 * (ensemble.c, ens_answer_marker).
		 */
		struct pending f = {
		    .kind = kind,
		    .err = err,
		    .origin = r->cur_origin,
		    .xid = m ? m->xid : 0,
		    .session = m ? m->session : 0,
		};

		if (ens_answer_marker(r, &f))
			return;
	}
	p = q_push(r);

	if (!p)
		die_oom("queueing an answer", r->last_zxid);
	p->kind = kind;
	p->err = err;
	p->worker = wi;
	p->conn = m ? m->conn : 0;
	p->xid = m ? m->xid : 0;
	p->session = m ? m->session : 0;
	if (!p->origin)
		q_owner(r, p); /* a held forwarded one: its session's reads run on the follower */
}

/*
 * Queues the txn just encoded in r->enc under zxid.  Returns 0 or -ENOMEM.
 * Only a createSession (which leaves no prep records) may go on after a
 * failure; a prepped write's records already claim the zxid, so its
 * callers use q_txn_or_die.
 */
int q_txn(struct repl *r, uint8_t kind, int64_t zxid, uint32_t wi, const struct repl_in *m)
{
	struct pending *p;
	uint8_t *rec = malloc(r->enc.len);

	if (!rec)
		return -ENOMEM;
	p = q_push(r);
	if (!p) {
		free(rec);
		return -ENOMEM;
	}
	memcpy(rec, r->enc.buf, r->enc.len);
	p->kind = kind;
	p->zxid = zxid;
	p->worker = wi;
	p->conn = m ? m->conn : 0;
	p->xid = m ? m->xid : 0;
	p->session = m ? m->session : 0;
	p->len = (uint32_t)r->enc.len;
	p->rec = rec;
	q_owner(r, p);
	return 0;
}

/*
 * zxids.  The only way a zxid is allocated: zxid_next() names the next
 * one (prep stamps it into the record), zxid_claim() takes it once the
 * txn is queued.  A prep that fails claims nothing, so zxids stay
 * contiguous in FIFO order.  With a quorum the counter is the low 32 bits
 * (zxid = term << 32 | counter); standalone counts on through the
 * whole 63 bits as ZooKeeper's standalone server does.
 */
int64_t zxid_next(const struct repl *r)
{
	int64_t z = r->last_zxid + 1;

	assert(r->last_zxid >= 0 && z > r->last_zxid);
	assert(r->last_zxid >= r->last_applied);
	return z;
}

void zxid_claim(struct repl *r, int64_t zxid)
{
	assert(zxid == r->last_zxid + 1);
	assert(r->qlen > 0 && q_at(r, r->qlen - 1)->zxid == zxid);
	r->last_zxid = zxid;
}

/*
 * The commit rule: a txn may be applied and acknowledged once its zxid is
 * at or below this.  Standalone: durable in the local log.  With a quorum
 * it becomes "durable on a quorum" (the consensus core's commit index),
 * and this is the only place that changes.
 */
static int64_t committed_zxid(const struct repl *r)
{
	int64_t c = txlog_durable_zxid(r->log);

	assert(c <= r->last_zxid);
	return c;
}

void txn_hdr(struct tree_txn *h, int64_t session, int32_t cxid, int64_t zxid)
{
	memset(h, 0, sizeof(*h));
	h->session = session;
	h->cxid = cxid;
	h->zxid = zxid;
	h->time = clock_wall_ms();
}

/*
 * Prep succeeded but the FIFO could not take the txn: the zxid is burnt.
 * Only allocation failure gets here; later zxids must stay contiguous with
 * what prep recorded, so this is treated like an allocation failure in
 * apply: fatal.
 */
static void q_txn_or_die(struct repl *r, uint8_t kind, int64_t zxid, uint32_t wi,
			 const struct repl_in *m)
{
	if (q_txn(r, kind, zxid, wi, m))
		die_oom("queueing a txn", zxid);
}

/* ---- Disk errors ---- */

static void drop_owner(void *arg, struct sess *s)
{
	struct repl *r = arg;

	if (s->owned) {
		send_expire(r, s->owner_worker, s->owner_conn, s->id);
		s->owned = false;
	}
}

void disk_failed(struct repl *r, int err)
{
	char why[192];

	if (r->failed)
		return;
	r->failed = true;
	repl_count(&r->zk.unrecoverable, 1); /* UNRECOVERABLE_ERROR_COUNT */
	__atomic_store_n(&r->err, err, __ATOMIC_RELEASE);
	log_error(
	    "repl: the transaction log failed (%s) after zxid 0x%" PRIx64
	    "; nothing after it will be acknowledged (%u requests in flight stay unanswered); "
	    "closing every client connection; restart the server once %s",
	    fd_strerror(err, why, sizeof(why)), (uint64_t)txlog_durable_zxid(r->log), r->qlen,
	    fd_exhausted(err) ? "the file descriptor limit is raised" : "the disk is fixed");
	sess_foreach(r->sess, drop_owner, r);
}

static void apply_one(struct repl *r, struct pending *p);

/* Answers a txn that the log refused for want of room (log_full). */
static void refuse_txn(struct repl *r, struct pending *p)
{
	struct sess *s;

	assert(p->zxid > r->last_applied);
	switch (p->kind) {
	case P_WRITE:
		send_answer(r, p, ZK_SYSTEMERROR);
		break;
	case P_CONNECT:
		/* No session after all: close the connection, the client retries. */
		sess_remove(r->sess, p->session);
		send_refuse_pending(r, p->worker, p->conn, p->xid, p->session);
		break;
	case P_CLOSE:
	case P_EXPIRE:
		s = sess_find(r->sess, p->session);
		if (s)
			sess_unset_closing(r->sess, s, r->now); /* expiry retries */
		if (p->kind == P_CLOSE)
			send_answer(r, p, ZK_SYSTEMERROR);
		break;
	default: /* P_CONTAINER: the next check finds the node again */
		break;
	}
}

/*
 * The log had no room for a batch and dropped it unwritten (txlog_full;
 * not a disk error): every txn not yet durable is refused, in FIFO order,
 * with SYSTEMERROR (ZooKeeper has no "disk full" code; the server log
 * says why), markers after them are answered as usual, prep forgets the
 * refused txns' changes and zxids continue after the durable one.  This
 * drops a suffix that was never durable, hence never acknowledged.
 * Reads go on; the next write tries the disk again.
 */
static void log_full(struct repl *r, int why)
{
	uint32_t refused = 0;
	int64_t durable;
	int rc;

	rc = txlog_discard_unwritten(r->log);
	if (rc) {
		disk_failed(r, rc);
		return;
	}
	durable = txlog_durable_zxid(r->log);
	/* Apply what did become durable; only the never-written suffix goes. */
	while (r->qlen) {
		struct pending *p = q_at(r, 0);

		if (p->zxid == 0) {
			answer_marker(r, p);
		} else if (p->appended && p->zxid <= durable) {
			apply_one(r, p);
		} else {
			refuse_txn(r, p);
			refused++;
		}
		q_pop(r);
	}
	assert(r->qappended == 0 && r->last_applied <= durable);
	tree_prep_applied(r->prep, INT64_MAX); /* no outstanding change is left */
	r->last_zxid = durable > r->last_applied ? durable : r->last_applied;
	r->last_appended = r->last_zxid;
	if (!r->full_refused)
		log_error("repl: the disk is full (%s): %u txns after zxid 0x%" PRIx64
			  " refused with SYSTEMERROR; reads go on, writes are refused until "
			  "there is room (logged once until a write succeeds)",
			  strerror(-why), refused, (uint64_t)durable);
	r->full_refused += refused;
	publish(r);
}

/* ---- Requests from workers ---- */

static int32_t negotiate(const struct repl *r, int32_t asked)
{
	if (asked < r->min_to)
		asked = r->min_to;
	if (asked > r->max_to)
		asked = r->max_to;
	return asked;
}

void do_connect(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	const struct repl_connect *c = m->body;
	int32_t to = negotiate(r, c->timeout);
	int64_t now = r->now;
	struct repl_connected *ans;
	struct sess *s;

	if (c->last_zxid_seen > r->last_applied) {
		log_info(
		    "repl: refusing session request for 0x%" PRIx64 " as the client has seen zxid "
		    "0x%" PRIx64 "; our last zxid is 0x%" PRIx64 "; client must try another server",
		    (uint64_t)c->session, (uint64_t)c->last_zxid_seen, (uint64_t)r->last_applied);
		send_refuse_connect(r, wi, m);
		return;
	}
	if (c->session == 0) {
		int64_t id = sess_new_id(r->sess);
		int64_t zxid = zxid_next(r);
		struct tree_txn h;

		if (sess_track(r->sess, id, to, now, &s)) {
			log_error("repl: out of memory creating a session");
			send_refuse_connect(r, wi, m); /* the client retries */
			return;
		}
		s->owned = true;
		s->owner_worker = wi;
		s->owner_conn = m->conn;
		if (r->ens)
			ens_session_claim(r, s);
		txn_hdr(&h, id, 0, zxid);
		r->enc.len = 0;
		tree_prep_create_session(r->prep, &h, to, &r->enc);
		if (r->enc.err || q_txn(r, P_CONNECT, zxid, wi, m)) {
			log_error("repl: out of memory creating session 0x%" PRIx64, (uint64_t)id);
			r->enc.err = 0;
			sess_remove(r->sess, id);
			send_refuse_connect(r, wi, m);
			return;
		}
		q_at(r, r->qlen - 1)->session = id;
		q_at(r, r->qlen - 1)->timeout = to;
		zxid_claim(r, zxid);
		log_debug("repl: new session 0x%" PRIx64 ", timeout %d ms", (uint64_t)id, to);
		return;
	}

	/* ZooKeeper closes any connection that holds the session first. */
	s = sess_find(r->sess, c->session);
	if (s && s->owned && (s->owner_worker != wi || s->owner_conn != m->conn)) {
		send_expire(r, s->owner_worker, s->owner_conn, s->id);
		s->owned = false;
	}
	ans = calloc(1, sizeof(*ans));
	if (!ans) {
		log_error("repl: out of memory answering a reconnect of session 0x%" PRIx64,
			  (uint64_t)c->session);
		send_refuse_connect(r, wi, m);
		return;
	}
	ans->session = c->session;
	if (sess_password_ok(c->session, c->passwd, c->passwd_len) &&
	    sess_touch(r->sess, c->session, to, now)) {
		ans->err = ZK_OK;
		ans->timeout = to;
		sess_password(c->session, ans->passwd);
		s->owned = true;
		s->owner_worker = wi;
		s->owner_conn = m->conn;
		if (r->ens)
			ens_session_claim(r, s); /* LeaderZooKeeperServer.revalidateSession */
	} else {
		if (s && !sess_password_ok(c->session, c->passwd, c->passwd_len))
			log_warn("repl: incorrect password for session 0x%" PRIx64,
				 (uint64_t)c->session);
		else
			log_info("repl: invalid session 0x%" PRIx64 ", probably expired",
				 (uint64_t)c->session);
		ans->err = ZK_SESSIONEXPIRED;
	}
	send_simple(r, wi, REPL_OUT_CONNECTED, m->conn, m->xid, c->session, r->last_applied, ans);
}

/* The session for a request, touched; NULL when unknown or closing. */
struct sess *live_session(struct repl *r, int64_t id)
{
	struct sess *s = sess_find(r->sess, id);

	if (!s || s->closing)
		return NULL;
	sess_touch(r->sess, id, s->timeout, r->now);
	return s;
}

/* Makes room for the views of a write; false on allocation failure. */
static bool write_views(struct repl *r, const struct repl_write *wr, struct tree_auth *auth)
{
	if (wr->nreqs > r->wreqs_cap) {
		struct tree_req *n = realloc(r->wreqs, (size_t)wr->nreqs * sizeof(*n));

		if (!n)
			return false;
		r->wreqs = n;
		r->wreqs_cap = wr->nreqs;
	}
	if (wr->nauth > r->wids_cap) {
		struct tree_auth_id *n = realloc(r->wids, (size_t)wr->nauth * sizeof(*n));

		if (!n)
			return false;
		r->wids = n;
		r->wids_cap = wr->nauth;
	}
	repl_write_views(wr, r->wreqs, r->wids, auth);
	return true;
}

void do_write(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	const struct repl_write *wr = m->body;
	int64_t zxid = zxid_next(r);
	struct tree_auth auth;
	struct tree_txn h;
	struct sess *s;

	if (!wr || !(s = live_session(r, m->session))) {
		q_marker(r, P_ANSWER, wr ? ZK_SESSIONEXPIRED : ZK_MARSHALLINGERROR, wi, m);
		return;
	}
	if (r->ens && !ens_session_owned(r, s)) {
		/* PrepRequestProcessor's checkSession: another member holds it now. */
		q_marker(r, P_ANSWER, ZK_SESSIONMOVED, wi, m);
		return;
	}
	/*
	 * A write forwarded by a follower (cur_origin set: ensemble.c's
	 * on_req) was rebuilt and checked by repl_write_decode just now; a
	 * second check cost a leader 200-300 instructions per write.
	 */
	if (!r->cur_origin && repl_write_check(wr, wr->size)) {
		log_error("repl: malformed write from worker %u (session 0x%" PRIx64 ")", wi,
			  (uint64_t)m->session);
		q_marker(r, P_ANSWER, ZK_MARSHALLINGERROR, wi, m);
		return;
	}
	if (!write_views(r, wr, &auth)) {
		log_error("repl: out of memory preparing a write of session 0x%" PRIx64,
			  (uint64_t)m->session);
		q_marker(r, P_ANSWER, ZK_SYSTEMERROR, wi, m);
		return;
	}
	if (wr->op == ZK_OP_RECONFIG) {
		/* Only a member sends one here (dataplane: reconfigEnabled, server.N). */
		int32_t err = r->ens ? ens_reconfig(r, wi, m, wr, &auth) : ZK_UNIMPLEMENTED;

		if (err != ZK_OK)
			q_marker(r, P_ANSWER, err, wi, m);
		return;
	}
	txn_hdr(&h, m->session, m->xid, zxid);
	r->enc.len = 0;
	tree_prep_write(r->prep, &h, r->wreqs, wr->nreqs, wr->multi, &auth, &r->enc);
	if (r->enc.err) {
		/* Logged by prep; nothing recorded, the zxid was not used. */
		r->enc.err = 0;
		q_marker(r, P_ANSWER, ZK_SYSTEMERROR, wi, m);
		return;
	}
	q_txn_or_die(r, P_WRITE, zxid, wi, m);
	zxid_claim(r, zxid);
}

void do_close(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	struct sess *s = live_session(r, m->session);
	int64_t zxid = zxid_next(r);
	struct tree_txn h;

	if (!s) {
		/* Already gone or going: the close has its effect. */
		q_marker(r, P_ANSWER, ZK_OK, wi, m);
		return;
	}
	sess_set_closing(r->sess, s);
	txn_hdr(&h, m->session, 0, zxid);
	r->enc.len = 0;
	tree_prep_close_session(r->prep, &h, &r->enc);
	if (r->enc.err) {
		r->enc.err = 0;
		sess_unset_closing(r->sess, s, r->now);
		q_marker(r, P_ANSWER, ZK_SYSTEMERROR, wi, m);
		return;
	}
	q_txn_or_die(r, P_CLOSE, zxid, wi, m);
	zxid_claim(r, zxid);
	log_info("repl: closing session 0x%" PRIx64, (uint64_t)m->session);
}

/*
 * REPL_IN_READ (one or more reads, run together).  The reads run once
 * every request of their session pushed before them is answered and
 * before anything pushed after them: right now
 * when none is in flight, else right after the newest one is answered
 * (q_pop), not at the FIFO's tail, so it does not wait for other
 * sessions' later txns (a read's place in ZooKeeper's order is after its
 * session's earlier requests only).  A read of an unknown or closing
 * session is answered SESSIONEXPIRED in FIFO order, as a write would be.
 */
int32_t read_take(struct repl *r, uint32_t wi, struct repl_in *m, struct rd **out)
{
	struct repl_write *req = m->body;
	struct sess *s = sess_find(r->sess, m->session);
	struct rd *d;

	*out = NULL;
	/* Not touched: the write that follows it does, and the worker's REPL_IN_TOUCH. */
	if (!req)
		return ZK_MARSHALLINGERROR;
	if (!s || s->closing)
		return ZK_SESSIONEXPIRED;
	if (repl_write_check(req, req->size) || !req->nreqs) {
		log_error("repl: malformed read from worker %u (session 0x%" PRIx64 ")", wi,
			  (uint64_t)m->session);
		return ZK_MARSHALLINGERROR;
	}
	d = rd_get(r);
	if (!d) {
		log_error("repl: out of memory queueing a read of session 0x%" PRIx64,
			  (uint64_t)m->session);
		return ZK_SYSTEMERROR;
	}
	*d = (struct rd){NULL, wi, m->conn, m->xid, m->session, req};
	m->body = NULL;
	*out = d;
	return ZK_OK;
}

static void do_read(struct repl *r, uint32_t wi, struct repl_in *m)
{
	int32_t err;
	struct rd *d;
	struct sess *s;

	err = read_take(r, wi, m, &d);
	if (err != ZK_OK) {
		q_marker(r, P_ANSWER, err, wi, m);
		return;
	}
	s = sess_find(r->sess, m->session);
	if (!r->qlen || s->last_seq < q_at(r, 0)->seq) {
		STAGE_ADD(r->st.reads_at_once, d->req->nreqs);
		exec_read(r, d);
		return;
	}
	d->t_ns = r->now_ns;
	struct pending *after = q_at(r, (uint32_t)(s->last_seq - q_at(r, 0)->seq));

	assert(after->seq == s->last_seq && after->session == m->session);
	if (after->reads_last && after->reads)
		after->reads_last->next = d;
	else
		after->reads = d;
	after->reads_last = d;
}

/* The dump four-letter word's session tracker section (REPL_OUT_SESSIONS). */
static void send_sessions(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	struct repl_sessions *d = sess_dump(r->sess, r->now, clock_wall_ms());

	if (!d)
		log_error("repl: out of memory dumping the session tracker for worker %u", wi);
	send_simple(r, wi, REPL_OUT_SESSIONS, m->conn, m->xid, 0, 0, d);
}

void conn_gone(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	struct sess *s = sess_find(r->sess, m->session);

	if (s && s->owned && s->owner_worker == wi && s->owner_conn == m->conn)
		s->owned = false;
}

static void handle_in(struct repl *r, uint32_t wi, struct repl_in *m)
{
	if (m->kind == REPL_IN_SESSIONS) {
		/* Reads the tracker only: answered after a disk error too. */
		send_sessions(r, wi, m);
		repl_in_free(m);
		return;
	}
	if (closed_input(r, wi, m)) {
		r->closed_dropped++;
		repl_in_free(m);
		return;
	}
	if (r->failed) {
		/* Nothing can be made durable: drop, unanswered. */
		repl_in_free(m);
		return;
	}
	if (r->ens && !ens_serving(r)) {
		/* A follower: the leader preps (ensemble.c). */
		ens_learner_in(r, wi, m);
		repl_in_free(m);
		return;
	}
	if (r->ens && m->kind == REPL_IN_SYNC) {
		/* The leader confirms it still leads first (raft's read index). */
		ens_leader_sync(r, wi, m);
		repl_in_free(m);
		return;
	}
	switch (m->kind) {
	case REPL_IN_CONNECT:
		if (m->body)
			do_connect(r, wi, m);
		break;
	case REPL_IN_WRITE:
		do_write(r, wi, m);
		break;
	case REPL_IN_SYNC:
		if (live_session(r, m->session))
			q_marker(r, P_SYNC, ZK_OK, wi, m);
		else
			q_marker(r, P_ANSWER, ZK_SESSIONEXPIRED, wi, m);
		break;
	case REPL_IN_CLOSE:
		do_close(r, wi, m);
		break;
	case REPL_IN_READ:
		do_read(r, wi, m);
		break;
	case REPL_IN_TOUCH:
		live_session(r, m->session);
		break;
	case REPL_IN_GONE:
		conn_gone(r, wi, m);
		break;
	default:
		log_error("repl: worker %u sent a message of unknown kind %u (conn %u); dropped",
			  wi, m->kind, m->conn);
		break;
	}
	repl_in_free(m);
}

/*
 * Input stays in the workers' rings (their connections wait: nothing is
 * dropped) while the log is behind, a worker's overflow is long, a
 * leader's sync waits for its read index, or a follower has as many
 * requests forwarded to its leader as it may (ens_learner_full).
 */
static bool input_paused(const struct repl *r)
{
	return r->qlen - r->qappended > BACKLOG_PAUSE || r->ovf_total > OVF_PAUSE ||
	       (r->ens && (ens_holding(r) || ens_learner_full(r)));
}

static uint32_t pop_inputs(struct repl *r)
{
	struct repl_in msgs[IN_BURST];
	uint32_t total = 0;

	for (uint32_t wi = 0; wi < r->nworkers; wi++) {
		uint32_t n;

		if (input_paused(r))
			break;
		if (r->ens) {
			/*
			 * One at a time: a sync on a leader holds everything after
			 * it until its read index is confirmed (ens_holding), so
			 * nothing a session sent after it is queued before it.
			 */
			for (n = 0; n < IN_BURST && !input_paused(r) &&
				    ring_pop_burst(&r->w[wi].in, msgs, 1) == 1;
			     n++)
				handle_in(r, wi, &msgs[0]);
			total += n;
			continue;
		}
		n = ring_pop_burst(&r->w[wi].in, msgs, IN_BURST);
		for (uint32_t i = 0; i < n; i++)
			handle_in(r, wi, &msgs[i]);
		total += n;
	}
	return total;
}

/* ---- Internal requests: expiry, containers ---- */

static void on_expire(void *arg, struct sess *s)
{
	struct repl *r = arg;
	int64_t zxid = zxid_next(r);
	struct tree_txn h;

	if (r->failed) {
		/* Expiry needs the log; keep the session until restart. */
		sess_unset_closing(r->sess, s, r->now);
		return;
	}
	log_info("repl: expiring session 0x%" PRIx64 ", timeout of %d ms exceeded", (uint64_t)s->id,
		 s->timeout);
	txn_hdr(&h, s->id, 0, zxid);
	r->enc.len = 0;
	tree_prep_close_session(r->prep, &h, &r->enc);
	if (r->enc.err) {
		r->enc.err = 0;
		sess_unset_closing(r->sess, s, r->now); /* try again later */
		return;
	}
	q_txn_or_die(r, P_EXPIRE, zxid, NO_WORKER, NULL);
	q_at(r, r->qlen - 1)->session = s->id;
	zxid_claim(r, zxid);
	/* SessionTrackerImpl.run: STALE_SESSIONS_EXPIRED, one per session expired. */
	__atomic_store_n(&r->stale_expired, r->stale_expired + 1, __ATOMIC_RELAXED);
}

static void collect_container(void *arg, struct jute_buf path)
{
	struct repl *r = arg;
	char *p;

	if (r->ncpaths == r->cpaths_cap) {
		uint32_t ncap = r->cpaths_cap ? r->cpaths_cap * 2 : 64;
		char **n = realloc(r->cpaths, ncap * sizeof(*n));

		if (!n)
			return; /* the next check finds it again */
		r->cpaths = n;
		r->cpaths_cap = ncap;
	}
	p = malloc((size_t)path.len + 1);
	if (!p)
		return;
	memcpy(p, path.p, (size_t)path.len);
	p[path.len] = '\0';
	r->cpaths[r->ncpaths++] = p;
}

static uint32_t containers(struct repl *r, int64_t now, uint64_t now_ns)
{
	uint32_t work = 0;

	if (r->container_interval_ms > 0 && now >= r->container_next_ms) {
		r->container_next_ms = now + r->container_interval_ms;
		/* ContainerManager's timer task: the previous round must be done. */
		if (r->cpaths_head == r->ncpaths && !r->failed) {
			r->cpaths_head = r->ncpaths = 0;
			tree_expired_nodes(r->tree, clock_wall_ms(), r->max_never_used_ms,
					   collect_container, r);
		}
	}
	while (r->cpaths_head < r->ncpaths && now_ns >= r->container_next_delete_ns &&
	       !input_paused(r) && !r->failed) {
		char *path = r->cpaths[r->cpaths_head];
		struct tree_req req = {
		    .type = ZK_OP_DELETECONTAINER,
		    .version = -1,
		    .path = {(const uint8_t *)path, (int32_t)strlen(path)},
		};
		struct tree_auth none = {0};
		int64_t zxid = zxid_next(r);
		struct tree_txn h;

		txn_hdr(&h, 0, 0, zxid);
		r->enc.len = 0;
		tree_prep_write(r->prep, &h, &req, 1, false, &none, &r->enc);
		if (r->enc.err) {
			r->enc.err = 0; /* logged by prep; the next check retries */
		} else {
			q_txn_or_die(r, P_CONTAINER, zxid, NO_WORKER, NULL);
			zxid_claim(r, zxid);
		}
		free(path);
		r->cpaths[r->cpaths_head++] = NULL;
		r->container_next_delete_ns = now_ns + (uint64_t)r->container_gap_ns;
		work++;
	}
	return work;
}

/* ---- Log ---- */

void reset_snapshot_stats(struct repl *r)
{
	r->txns_since_roll = 0;
	r->bytes_since_roll = 0;
	r->rand_roll =
	    (int64_t)(rnd(r) % (uint64_t)(r->snap_count / 2 > 0 ? r->snap_count / 2 : 1));
	r->rand_size = r->snap_size / 2 > 0 ? (int64_t)(rnd(r) % (uint64_t)(r->snap_size / 2)) : 0;
}

static void take_snapshot(struct repl *r, const char *why)
{
	int rc = txlog_roll(r->log);

	if (rc) {
		disk_failed(r, rc);
		return;
	}
	if (snapdir_request_snapshot(r->snap, r->tree) == -EBUSY)
		log_warn("repl: too busy to snapshot (%s), skipping", why);
}

static uint32_t append_backlog(struct repl *r)
{
	uint32_t n = 0;

	if (r->ens)
		return ens_propose(r); /* the leader's batch becomes one log entry */
	while (r->qappended < r->qlen && !r->failed) {
		struct pending *p = q_at(r, r->qappended);
		int rc;

		if (p->zxid == 0) {
			p->appended = true;
			r->qappended++;
			continue;
		}
		rc = txlog_append(r->log, p->zxid, p->rec, p->len);
		if (rc == -EAGAIN || (rc && txlog_full(r->log)))
			break; /* full: iterate's log_full refuses them */
		if (rc) {
			if (rc == -EINVAL)
				log_error("repl: txn 0x%" PRIx64
					  " (%u bytes) was refused by the log",
					  (uint64_t)p->zxid, p->len);
			disk_failed(r, rc == -EINVAL ? -EIO : rc);
			break;
		}
		p->appended = true;
		r->qappended++;
		r->last_appended = p->zxid;
		n++;
		/* SyncRequestProcessor.shouldSnapshot */
		r->txns_since_roll++;
		r->bytes_since_roll += p->len;
		if (r->txns_since_roll > r->snap_count / 2 + r->rand_roll ||
		    (r->snap_size > 0 && r->bytes_since_roll > r->snap_size / 2 + r->rand_size)) {
			reset_snapshot_stats(r);
			take_snapshot(r, "snapCount");
		}
	}
	return n;
}

/* ---- Apply and answer ---- */

static bool is_create(int32_t type)
{
	return type == ZK_OP_CREATE || type == ZK_OP_CREATE2 || type == ZK_OP_CREATECONTAINER ||
	       type == ZK_OP_CREATETTL;
}

void send_events(struct repl *r, const struct tree_txn *txn)
{
	const struct tree_apply_out *o = &r->aout;
	struct repl_events *ev;
	size_t bytes = 0, off = 0;
	char *pp;

	for (uint32_t i = 0; i < o->nevents; i++)
		bytes += (size_t)o->events[i].path.len + o->events[i].acl.raw_len;
	ev = malloc(sizeof(*ev) + (size_t)o->nevents * sizeof(ev->ev[0]) + bytes);
	if (!ev)
		die_oom("building watch events", txn->zxid);
	ev->refs = r->nworkers;
	ev->zxid = txn->zxid;
	ev->made_ns = clock_mono_ns();
	ev->n = o->nevents;
	pp = (char *)&ev->ev[ev->n];
	/* Each event's path, then (NodeDeleted) the deleted node's ACL. */
	for (uint32_t i = 0; i < o->nevents; i++) {
		const struct tree_event *e = &o->events[i];

		ev->ev[i].type = e->type;
		ev->ev[i].path_off = (uint32_t)off;
		ev->ev[i].path_len = (uint32_t)e->path.len;
		memcpy(pp + off, e->path.p, (size_t)e->path.len);
		off += (size_t)e->path.len;
		ev->ev[i].acl_off = (uint32_t)off;
		ev->ev[i].acl_len = e->acl.raw_len;
		if (e->acl.raw_len)
			memcpy(pp + off, e->acl.raw, e->acl.raw_len);
		off += e->acl.raw_len;
	}
	for (uint32_t wi = 0; wi < r->nworkers; wi++)
		send_simple(r, wi, REPL_OUT_EVENTS, 0, 0, txn->session, txn->zxid, ev);
}

/* A setData of /zookeeper/config with data (what a reconfig applies). */
static bool is_config_set(const struct tree_op *op)
{
	return op->type == ZK_OP_SETDATA && op->data.len >= 0 && op->path.len == 17 &&
	       memcmp(op->path.p, "/zookeeper/config", 17) == 0;
}

void send_result(struct repl *r, const struct pending *p, const struct tree_txn *txn)
{
	const struct tree_apply_out *o = &r->aout;
	uint32_t n = o->nresults;
	struct repl_result *res;
	size_t paths = 0, off = 0;
	int32_t err = ZK_OK;
	char *pp;

	if (p->worker >= r->nworkers)
		return;
	for (uint32_t i = 0; i < n && i < txn->nops; i++)
		if (is_create(txn->ops[i].type) && o->results[i].err == ZK_OK)
			paths += (size_t)txn->ops[i].path.len;
		else if (is_config_set(&txn->ops[i]) && o->results[i].err == ZK_OK)
			paths += (size_t)txn->ops[i].data.len;
	for (uint32_t i = 0; i < n; i++) {
		if (o->results[i].err != ZK_OK) {
			err = o->results[i].err;
			break;
		}
	}
	res = result_new(err, n, paths);
	if (res)
		res->txn_type = txn->type;
	if (!res)
		die_oom("building a result", txn->zxid);
	pp = (char *)repl_result_paths(res);
	for (uint32_t i = 0; i < n; i++) {
		const struct tree_op *op = i < txn->nops ? &txn->ops[i] : NULL;

		res->results[i].err = o->results[i].err;
		res->results[i].type = op ? op->type : txn->type;
		res->results[i].stat = o->results[i].stat;
		if (op && is_create(op->type) && o->results[i].err == ZK_OK) {
			res->results[i].path_off = (uint32_t)off;
			res->results[i].path_len = (uint32_t)op->path.len;
			memcpy(pp + off, op->path.p, (size_t)op->path.len);
			off += (size_t)op->path.len;
		} else if (op && is_config_set(op) && o->results[i].err == ZK_OK) {
			/* reconfig's answer is the data it set (repl.h) */
			res->results[i].path_off = (uint32_t)off;
			res->results[i].path_len = (uint32_t)op->data.len;
			memcpy(pp + off, op->data.p, (size_t)op->data.len);
			off += (size_t)op->data.len;
		}
	}
	send_simple(r, p->worker, REPL_OUT_RESULT, p->conn, p->xid, p->session, txn->zxid, res);
}

static void apply_one(struct repl *r, struct pending *p)
{
	struct tree_txn txn;
	struct repl_connected *c;
	struct sess *s;
	int rc;

	rc = tree_txn_decode(p->rec, p->len, r->max_record, &txn);
	if (rc == -ENOMEM)
		die_oom("decoding a txn", p->zxid);
	if (rc) {
		/* We encoded it ourselves a moment ago. */
		log_error("repl: cannot decode our own txn 0x%" PRIx64 ": %s; aborting",
			  (uint64_t)p->zxid, strerror(-rc));
		abort();
	}
	if (tree_apply(r->tree, &txn, &r->aout))
		die_oom("applying a txn", p->zxid);
	tree_prep_applied(r->prep, p->zxid);
	repl_zk_applied(r, txn.time, REPL_ZK_NHIST);
	if (r->aout.nevents)
		send_events(r, &txn);

	switch (p->kind) {
	case P_WRITE:
		send_result(r, p, &txn);
		break;
	case P_CONNECT:
		c = calloc(1, sizeof(*c));
		if (!c)
			die_oom("answering a connect", p->zxid);
		c->err = ZK_OK;
		c->session = p->session;
		c->timeout = p->timeout;
		sess_password(p->session, c->passwd);
		send_simple(r, p->worker, REPL_OUT_CONNECTED, p->conn, p->xid, p->session, p->zxid,
			    c);
		break;
	case P_CLOSE:
	case P_EXPIRE:
		/* ZooKeeperServer.processTxnForSessionEvents: removeSession. */
		s = sess_find(r->sess, p->session);
		if (s && s->owned &&
		    (p->kind == P_EXPIRE || s->owner_worker != p->worker ||
		     s->owner_conn != p->conn))
			send_simple(r, s->owner_worker, REPL_OUT_EXPIRE, s->owner_conn, 0, s->id,
				    p->zxid, NULL);
		sess_remove(r->sess, p->session);
		if (p->kind == P_CLOSE) {
			struct repl_result *res = result_new(ZK_OK, 0, 0);

			if (!res)
				die_oom("answering a close", p->zxid);
			if (p->worker < r->nworkers)
				send_simple(r, p->worker, REPL_OUT_RESULT, p->conn, p->xid,
					    p->session, p->zxid, res);
			else
				free(res);
		}
		break;
	default:
		break;
	}
	tree_txn_release(&txn);
	r->last_applied = p->zxid;
	STAGE_ADD(r->st.txns, 1);
	if (r->now_ns > p->t_ns)
		STAGE_ADD(r->st.txn_apply_ns, r->now_ns - p->t_ns);
	publish(r);
}

static uint32_t apply_durable(struct repl *r)
{
	int64_t durable = r->ens ? 0 : committed_zxid(r);
	uint32_t n = 0;

	r->zk_wall_ms = 0;
	while (r->qlen) {
		struct pending *p = q_at(r, 0);

		if (p->zxid == 0) {
			if (r->failed)
				break;
			answer_marker(r, p);
		} else {
			/* Ensemble: txns are applied as raft commits them (ensemble.c). */
			if (r->ens || !p->appended || p->zxid > durable)
				break;
			apply_one(r, p);
			if (r->full_refused) {
				log_info("repl: the log writes again (zxid 0x%" PRIx64
					 " is durable) "
					 "after refusing %" PRIu64 " txns for want of room",
					 (uint64_t)p->zxid, r->full_refused);
				r->full_refused = 0;
			}
		}
		q_pop(r);
		n++;
	}
	if (n)
		publish(r);
	return n;
}

/* ---- The loop ---- */

static int next_timeout_ms(struct repl *r, int64_t now)
{
	int64_t t = MAX_SLEEP_MS, d;

	if (r->ens && !ens_serving(r))
		goto ens; /* expiry, containers and purge are the leader's (timers) */
	d = sess_next_expiry(r->sess) - now;
	if (d < t)
		t = d;
	if (r->container_interval_ms > 0) {
		d = r->container_next_ms - now;
		if (d < t)
			t = d;
	}
	if (r->cpaths_head < r->ncpaths) {
		d = (int64_t)(r->container_gap_ns / 1000000) + 1;
		if (d < t)
			t = d;
	}
	if (!r->ens && r->purge_interval_ms > 0) {
		d = r->purge_next_ms - now;
		if (d < t)
			t = d;
	}
ens:
	if (r->ens) {
		d = ens_next_ms(r) - now;
		if (d < t)
			t = d;
	}
	if (r->ovf_total && t > 1)
		t = 1; /* a worker is behind: retry soon */
	return t < 0 ? 0 : (int)t;
}

static bool has_input(struct repl *r)
{
	if (input_paused(r))
		return false;
	for (uint32_t i = 0; i < r->nworkers; i++)
		if (ring_count(&r->w[i].in))
			return true;
	return false;
}

static void drain_fd(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));

	(void)n;
}

static void core_sleep(struct repl *r, int64_t now)
{
	struct pollfd pfd[3] = {
	    {.fd = r->kick_fd, .events = POLLIN},
	    {.fd = txlog_eventfd(r->log), .events = POLLIN},
	    {.fd = r->ens ? ens_fd(r) : -1, .events = POLLIN},
	};
	int timeout = next_timeout_ms(r, now);

	if (timeout == 0)
		return;
	tree_reclaim_flush(r->tree);
	__atomic_store_n(&r->sleeping, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!has_input(r) && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		urcu_qsbr_thread_offline();
		if (poll(pfd, r->ens ? 3 : 2, timeout) > 0) {
			if (pfd[0].revents & POLLIN)
				drain_fd(pfd[0].fd);
			if (pfd[1].revents & POLLIN)
				drain_fd(pfd[1].fd);
		}
		urcu_qsbr_thread_online();
	}
	__atomic_store_n(&r->sleeping, 0, __ATOMIC_RELAXED);
}

static uint32_t timers(struct repl *r, int64_t now, uint64_t now_ns)
{
	uint32_t work = 0;

	/* Every member purges its own files; its snapshots carry their log floor. */
	if (r->ens && r->purge_interval_ms > 0 && now >= r->purge_next_ms) {
		if (snapdir_request_purge_meta(r->snap, r->log, r->retain) == 0)
			r->purge_next_ms = now + r->purge_interval_ms;
		else
			r->purge_next_ms = now + 1000; /* a snapshot is running */
	}
	/* In an ensemble only the serving leader expires sessions and containers. */
	if (r->ens && !ens_serving(r))
		return 0;
	if (now >= sess_next_expiry(r->sess))
		work += sess_expire(r->sess, now, on_expire, r);
	work += containers(r, now, now_ns);
	if (!r->ens && r->purge_interval_ms > 0 && now >= r->purge_next_ms) {
		if (snapdir_request_purge(r->snap, r->log, r->retain) == 0)
			r->purge_next_ms = now + r->purge_interval_ms;
		else
			r->purge_next_ms = now + 1000; /* a snapshot is running */
	}
	return work;
}

/*
 * txlog_flush returned 0: everything appended is with the log writer
 * (handed over now, or earlier); their wait until then is counted.
 */
static void count_handed(struct repl *r)
{
	uint64_t ns = 0;

	assert(r->qhanded <= r->qappended && r->qappended <= r->qlen);
	for (; r->qhanded < r->qappended; r->qhanded++) {
		const struct pending *p = q_at(r, r->qhanded);

		if (p->zxid && r->now_ns > p->t_ns)
			ns += r->now_ns - p->t_ns;
	}
	if (ns)
		STAGE_ADD(r->st.txn_log_ns, ns);
}

void repl_stage_stats(struct repl *r, struct repl_stages *out)
{
	struct txlog_stats ls;

	out->txns = __atomic_load_n(&r->st.txns, __ATOMIC_RELAXED);
	out->txn_log_ns = __atomic_load_n(&r->st.txn_log_ns, __ATOMIC_RELAXED);
	out->txn_apply_ns = __atomic_load_n(&r->st.txn_apply_ns, __ATOMIC_RELAXED);
	out->reads_at_once = __atomic_load_n(&r->st.reads_at_once, __ATOMIC_RELAXED);
	out->reads_waited = __atomic_load_n(&r->st.reads_waited, __ATOMIC_RELAXED);
	out->read_wait_ns = __atomic_load_n(&r->st.read_wait_ns, __ATOMIC_RELAXED);
	out->iterations = __atomic_load_n(&r->st.iterations, __ATOMIC_RELAXED);
	out->busy = __atomic_load_n(&r->st.busy, __ATOMIC_RELAXED);
	out->yields = __atomic_load_n(&r->st.yields, __ATOMIC_RELAXED);
	out->sleeps = __atomic_load_n(&r->st.sleeps, __ATOMIC_RELAXED);
	out->batches = out->batch_txns = out->fsyncs = out->fsync_ns = 0;
	if (r->log && !r->ens) {
		txlog_stats(r->log, &ls);
		out->batches = ls.batches;
		out->batch_txns = ls.records;
		out->fsyncs = ls.syncs;
		out->fsync_ns = ls.sync_ns_sum;
	}
}

/*
 * One step of the core.  Time is passed in (now_ns, monotonic): nothing
 * the step calls reads the clock for its decisions (r->now), so a driver
 * other than core_main (a test, a simulator) chooses the time.
 */
static uint32_t iterate(struct repl *r, uint64_t now_ns, bool take_input)
{
	int64_t now = (int64_t)(now_ns / 1000000u);
	uint32_t work = 0;
	int rc;

	assert(now >= r->now); /* monotonic */
	r->now = now;
	r->now_ns = now_ns;

	work += flush_overflows(r);
	if (__atomic_load_n(&r->restore, __ATOMIC_ACQUIRE) && restore_step(r)) {
		take_input = false; /* restore.c: nothing new until the tree is replaced */
		work++;
	}
	if (take_input)
		work += pop_inputs(r);
	if (take_input)
		work += timers(r, now, now_ns);
	work += append_backlog(r);
	if (r->ens) {
		/* Peers, ticks, raft's Ready: persist, send, apply (ensemble.c). */
		work += ens_iterate(r);
	} else if (!r->failed) {
		rc = txlog_flush(r->log);
		if (!rc)
			count_handed(r);
		if (rc && rc != -EAGAIN && !txlog_full(r->log))
			disk_failed(r, rc);
		else if ((rc = txlog_error(r->log)))
			disk_failed(r, rc);
	}
	work += apply_durable(r);
	if (r->retired)
		work += repl_reclaim_trees(r);
	if (!r->failed && (rc = txlog_full(r->log)) && r->ens) {
		disk_failed(r, rc); /* the ensemble has no partial-batch refusal yet */
		work++;
	} else if (!r->failed && (rc = txlog_full(r->log))) {
		log_full(r, rc);
		work++;
	}
	wake_workers(r);
	return work;
}

uint32_t repl_step(struct repl *r, uint64_t now_ns)
{
	assert(!r->started);
	return iterate(r, now_ns, true);
}

/* Shutdown: everything prepped goes to the log, what is durable is applied. */
static void drain_on_stop(struct repl *r)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)STOP_WAIT_MS * 1000000u;

	if (r->ens) {
		/*
		 * A leader hands leadership over first (SIGTERM: the others need
		 * no election timeout); what is not committed is not
		 * acknowledged, and the log closes as it is.
		 */
		ens_stop(r);
		while (ens_transferring(r) && clock_mono_ns() < deadline) {
			struct pollfd pfd = {.fd = ens_fd(r), .events = POLLIN};

			iterate(r, clock_mono_ns(), false);
			if (poll(&pfd, 1, 5) < 0)
				break;
		}
		iterate(r, clock_mono_ns(), false);
		return;
	}
	while (!r->failed && r->qappended < r->qlen && clock_mono_ns() < deadline) {
		iterate(r, clock_mono_ns(), false);
		if (r->qappended < r->qlen && r->last_appended)
			txlog_wait_durable(r->log, r->last_appended, 100);
	}
	if (!r->failed && r->last_appended) {
		int rc = txlog_wait_durable(r->log, r->last_appended, STOP_WAIT_MS);

		if (rc)
			log_error("repl: stopping: txns up to 0x%" PRIx64
				  " did not become durable: %s",
				  (uint64_t)r->last_appended, strerror(-rc));
	}
	iterate(r, clock_mono_ns(), false);
}

/*
 * Whether the idle core polls (repl_priv.h).  Polling hides the wake-up
 * of the next write, but a polling thread is always runnable: when the
 * core has no CPU of its own, the scheduler gives it a share of the CPU
 * the dataplane worker needs.  Measured (issue 13, docs/BENCHMARKS.md,
 * "The middle of the curve"), server pinned to one CPU: the polling core
 * took 1.6-2.0 us of CPU per request at every read share from 0 to 70 %
 * (about 1.1 sched_yield per request), so the server's CPU per request
 * stayed at the write-only figure until 80 % reads although its
 * instructions per request halved by 50 %; sleeping at once took 13-28 %
 * less CPU per request at 0, 50 and 90 % reads, the txns' time from prep
 * to apply fell from 940-1,000 us to 450-700 us at 50 %, and a lone
 * session's setData cost 130 instead of 290-390 us of server CPU with no
 * fewer per second.  (A measurement of November, before writes
 * overtook reads, had found polling better on one CPU; the core then ran
 * no reads and the worker waited for it more.)
 *
 * Orders are untouched: a sleeping core is woken by the workers' kick
 * (repl_kick, r->sleeping) and the log writer's eventfd, the way a
 * polling core was after SPIN_ITERS idle turns, and each iteration does
 * the same steps in the same order whether the previous one slept.
 */
uint32_t core_idle_spins(bool ensemble, int pinned_core, uint32_t ncpus, uint32_t nworkers)
{
	if (ensemble)
		return ENS_SPIN_ITERS;
	if (pinned_core >= 0)
		return SPIN_ITERS; /* a CPU of its own, by configuration */
	return ncpus > nworkers ? SPIN_ITERS : 0;
}

static uint32_t idle_spins(const struct repl *r)
{
	cpu_set_t set;
	uint32_t ncpus, spin;

	/* The thread's CPUs, as pinned above or inherited (taskset). */
	if (sched_getaffinity(0, sizeof(set), &set))
		return core_idle_spins(r->ens != NULL, r->core, UINT32_MAX, r->nworkers);
	ncpus = (uint32_t)CPU_COUNT(&set);
	spin = core_idle_spins(r->ens != NULL, r->core, ncpus, r->nworkers);
	if (!spin && !r->ens)
		log_info("repl: the broadcast core shares its %u CPU(s) with %u dataplane "
			 "worker(s): it sleeps when idle rather than polling",
			 ncpus, r->nworkers);
	return spin;
}

static void *core_main(void *arg)
{
	struct repl *r = arg;
	uint32_t idle = 0, spin;

	if (r->core >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(r->core, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
			log_warn("repl: cannot pin the broadcast thread to CPU %d", r->core);
	}
	spin = idle_spins(r);
	urcu_qsbr_register_thread();
	if (r->startup_snapshot) {
		r->startup_snapshot = false;
		take_snapshot(r, "start-up");
	}
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		urcu_qsbr_quiescent_state();
		__atomic_store_n(&r->live_sessions, sess_count(r->sess), __ATOMIC_RELAXED);
		STAGE_ADD(r->st.iterations, 1);
		if (iterate(r, clock_mono_ns(), true)) {
			STAGE_ADD(r->st.busy, 1);
			idle = 0;
			continue;
		}
		/*
		 * Poll (yielding) a while before sleeping when the core has a
		 * CPU of its own: it hides the wake-up latency of the next
		 * write.  Sharing its CPU with the dataplane, it sleeps at once
		 * (core_idle_spins has the measurements).
		 *
		 * An ensemble member sleeps at once.  Its idle iteration is
		 * dearer (epoll_wait on the peer links, raft's Ready) and a
		 * replicated write waits for a peer round trip and an fsync
		 * anyway, so the wake-up latency hides behind them.  Measured
		 * on 3 members on 2 shared CPUs (perf/ens_cost.py): 200 spins
		 * cost 2.1-4.6 syscalls and 1.0-2.2 sched_yields per write, a
		 * leader 5.7-6.1 us and a follower 5.0-6.0 us of CPU per write;
		 * sleeping at once 0.17-0.25 syscalls, 3.0-3.4 and 2.1-2.3 us.
		 */
		if (++idle < spin) {
			STAGE_ADD(r->st.yields, 1);
			sched_yield();
			continue;
		}
		STAGE_ADD(r->st.sleeps, 1);
		core_sleep(r, r->now);
		idle = 0;
	}
	drain_on_stop(r);
	tree_reclaim_flush(r->tree);
	urcu_qsbr_unregister_thread();
	return NULL;
}

int repl_start(struct repl *r)
{
	sigset_t all, old;
	int rc;

	if (r->started)
		return -EALREADY;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&r->thread, NULL, core_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		log_error("repl: cannot start the broadcast thread: %s", strerror(-rc));
		return rc;
	}
	r->started = true;
	return 0;
}

/* ---- Open: recovery ---- */

struct replay {
	struct repl *r;
	int64_t snap_zxid;
	bool have_snap;
	int64_t first, last;
	uint64_t count;
};

static int replay_one(void *arg, int64_t zxid, const void *rec, size_t len)
{
	struct replay *rp = arg;
	struct repl *r = rp->r;
	struct tree_txn txn;
	int rc;

	if (rp->count == 0) {
		rp->first = zxid;
		if (!rp->have_snap && zxid != 1) {
			log_error(
			    "repl: no snapshot in %s, and the log in %s/%s starts at zxid "
			    "0x%" PRIx64
			    " instead of 1: the files that would rebuild the tree are missing; "
			    "refusing to start",
			    snapdir_path(r->snap), r->cfg->data_log_dir, TXLOG_SUBDIR,
			    (uint64_t)zxid);
			return -EBADMSG;
		}
		if (rp->have_snap && zxid != rp->snap_zxid + 1 &&
		    !((zxid >> 32) > (rp->snap_zxid >> 32) && (zxid & 0xffffffffLL) <= 1)) {
			log_error("repl: the snapshot is at zxid 0x%" PRIx64
				  " but the log in %s/%s "
				  "continues at 0x%" PRIx64 ": txns 0x%" PRIx64 "..0x%" PRIx64
				  " are missing (purged?); refusing to start",
				  (uint64_t)rp->snap_zxid, r->cfg->data_log_dir, TXLOG_SUBDIR,
				  (uint64_t)zxid, (uint64_t)rp->snap_zxid + 1, (uint64_t)zxid - 1);
			return -EBADMSG;
		}
	}
	rc = tree_txn_decode(rec, len, r->max_record, &txn);
	if (rc) {
		log_error("repl: txn 0x%" PRIx64
			  " in %s/%s cannot be decoded: %s; refusing to start",
			  (uint64_t)zxid, r->cfg->data_log_dir, TXLOG_SUBDIR, strerror(-rc));
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	if (txn.zxid != zxid) {
		log_error("repl: record 0x%" PRIx64 " in %s/%s holds txn 0x%" PRIx64
			  "; refusing to start",
			  (uint64_t)zxid, r->cfg->data_log_dir, TXLOG_SUBDIR, (uint64_t)txn.zxid);
		tree_txn_release(&txn);
		return -EBADMSG;
	}
	/* FileTxnSnapLog.processTransaction: failures are replay over a fuzzy snapshot. */
	rc = tree_apply(r->tree, &txn, &r->aout);
	tree_txn_release(&txn);
	if (rc) {
		log_error("repl: replaying txn 0x%" PRIx64 ": %s", (uint64_t)zxid, strerror(-rc));
		return rc;
	}
	rp->last = zxid;
	if (++rp->count % 1024 == 0) {
		tree_reclaim_flush(r->tree);
		urcu_qsbr_quiescent_state();
	}
	return 0;
}

struct recovered {
	struct sess_tracker *sess;
	int rc;
};

static void track_recovered(void *arg, int64_t session, int32_t timeout)
{
	struct recovered *rs = arg;

	/* The expiry clock restarts (SessionTrackerImpl's constructor). */
	if (sess_track(rs->sess, session, timeout, now_ms(), NULL))
		rs->rc = -ENOMEM;
}

static void free_all(struct repl *r);

/* snapdir_load_meta's check: the bytes decode (ens_wire.h). */
static int meta_ok(const void *p, size_t len)
{
	struct raft_snap_meta m;

	return ens_meta_decode(p, len, &m);
}

int repl_open(const struct repl_opts *opts, struct repl **out)
{
	const struct cfg *c;
	struct tree_opts topts = {0};
	struct txlog_opts lopts = {0};
	struct replay rp = {0};
	struct repl *r;
	int64_t max_per_minute;
	uint64_t seed;
	uint32_t myid = 0;
	uint64_t t_init, t_txns;
	bool ensemble;
	int rc;

	if (!opts || !opts->cfg || !out || opts->nworkers == 0 || !opts->cfg->data_dir ||
	    !opts->cfg->data_log_dir)
		return -EINVAL;
	c = opts->cfg;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = c;
	for (int i = 0; i < REPL_ZK_NHIST; i++)
		hist_keep_base(&r->zk_hist[i], r->zk_base[i]);
	for (int i = 0; i < REPL_ACK_KEYS; i++)
		hist_keep_base(&r->ack_hist[i], r->ack_base[i]);
	r->nworkers = opts->nworkers;
	r->core = opts->core;
	r->read_exec = opts->read_exec;
	r->read_ctx = opts->read_ctx;
	r->kick_fd = -1;
	r->tick = c->tick_time > 0 ? c->tick_time : 3000;
	r->min_to = c->min_session_timeout > 0 ? c->min_session_timeout : 2 * r->tick;
	r->max_to = c->max_session_timeout > 0 ? c->max_session_timeout : 20 * r->tick;
	r->max_record = c->jute_max_buffer > 0 ? 2 * (uint32_t)c->jute_max_buffer + (1u << 20) : 0;
	if (r->max_record < MAX_RECORD_MIN)
		r->max_record = MAX_RECORD_MIN;
	jute_out_init(&r->enc, 4096);
	r->w = calloc(r->nworkers, sizeof(*r->w));
	if (!r->w || r->enc.err) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < r->nworkers; i++)
		r->w[i].wake_fd = -1;

	rc = snapdir_mkdirs(c->data_dir);
	if (!rc)
		rc = snapdir_mkdirs(c->data_log_dir);
	if (!rc)
		rc = snapdir_open(c->data_dir, &r->snap);
	if (rc)
		goto fail;
	ensemble = ens_configured(c);
	if (ensemble && (rc = ens_read_myid(c, &myid)))
		goto fail;

	topts.max_data = c->jute_max_buffer > 0 ? (uint32_t)c->jute_max_buffer : 0xfffff;
	topts.extended_types = c->extended_types_enabled;
	topts.ns_writes = opts->ns_writes;
	r->topts = topts;
	t_init = clock_mono_ns();
	if (ensemble) {
		/* An ensemble's snapshot comes with the raft meta it covers (ensemble.c). */
		uint8_t mb[ENS_META_SIZE];

		r->ens_meta = calloc(1, sizeof(*r->ens_meta));
		if (!r->ens_meta) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = snapdir_load_meta(r->snap, &topts, &r->tree, &rp.snap_zxid, mb, sizeof(mb),
				       meta_ok);
		r->ens_snap_file = rp.snap_zxid; /* the name: a received one's is its meta's */
		if (!rc)
			rc = ens_meta_decode(mb, sizeof(mb), r->ens_meta); /* checked: 0 */
		if (rc) {
			free(r->ens_meta);
			r->ens_meta = NULL;
		}
	} else {
		rc = snapdir_load(r->snap, &topts, &r->tree, &rp.snap_zxid);
	}
	t_txns = clock_mono_ns();
	hist_add(&r->zk_hist[REPL_ZK_SNAP_LOAD_MS],
		 (t_txns - t_init) / 1000000); /* STARTUP_SNAP_LOAD_TIME */
	if (rc == 0 && ensemble) {
		rp.have_snap = true;
	} else if (rc == 0) {
		rp.have_snap = true;
	} else if (rc == -ENOENT) {
		rp.snap_zxid = 0;
		r->tree = tree_new(&topts);
		if (!r->tree) {
			rc = -ENOMEM;
			goto fail;
		}
	} else {
		goto fail;
	}

	lopts.dir = c->data_log_dir;
	lopts.prealloc = c->pre_alloc_size_kb > 0 ? (uint64_t)c->pre_alloc_size_kb * 1024 : 0;
	lopts.max_record = r->max_record;
	lopts.no_sync = !c->force_sync;
	lopts.max_inflight = (uint32_t)c->txlog_inflight;
	rc = txlog_open(&lopts, &r->log);
	if (rc) {
		log_error("repl: cannot open the transaction log in %s: %s", c->data_log_dir,
			  strerror(-rc));
		goto fail;
	}
	rp.r = r;
	/* An ensemble member replays through raft, as entries commit (ens_open). */
	t_txns = clock_mono_ns();
	rc = ensemble ? 0 : txlog_replay(r->log, rp.snap_zxid, replay_one, &rp);
	if (rc)
		goto fail;
	if (rp.count) { /* FileTxnSnapLog.restore: nothing added for an empty log */
		hist_add(&r->zk_hist[REPL_ZK_TXNS_LOAD_MS], (clock_mono_ns() - t_txns) / 1000000);
		hist_add(&r->zk_hist[REPL_ZK_TXNS_LOADED], rp.count);
	}
	hist_add(&r->zk_hist[REPL_ZK_DB_INIT_MS],
		 (clock_mono_ns() - t_init) / 1000000); /* DB_INIT_TIME */
	if (!ensemble && rp.have_snap && txlog_durable_zxid(r->log) < rp.snap_zxid)
		log_warn("repl: the log in %s ends at zxid 0x%" PRIx64
			 ", before the snapshot's 0x%" PRIx64
			 "; log files were lost or removed (or the snapshot is one the "
			 "AdminServer's restore wrote, numbered after the log, and nothing "
			 "was written since: then all is well)",
			 c->data_log_dir, (uint64_t)txlog_durable_zxid(r->log),
			 (uint64_t)rp.snap_zxid);
	r->last_applied = tree_last_zxid(r->tree);
	r->last_zxid = r->last_applied;
	if (txlog_durable_zxid(r->log) > r->last_zxid)
		r->last_zxid = txlog_durable_zxid(r->log);
	r->published = r->last_applied;

	r->prep = tree_prep_new(r->tree);
	r->now = now_ms();
	r->sess = sess_tracker_new(r->tick, ensemble ? myid : SESS_STANDALONE_SERVER_ID, r->now);
	if (!r->prep || !r->sess) {
		rc = -ENOMEM;
		goto fail;
	}
	struct recovered rs = {r->sess, 0};
	tree_sessions_foreach(r->tree, track_recovered, &rs);
	if (rs.rc) {
		rc = rs.rc;
		goto fail;
	}

	for (uint32_t i = 0; i < r->nworkers; i++) {
		rc = ring_init(&r->w[i].in, RING_SIZE, sizeof(struct repl_in));
		if (!rc)
			rc = ring_init(&r->w[i].out, RING_SIZE, sizeof(struct repl_out));
		if (rc)
			goto fail;
	}
	r->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->kick_fd < 0) {
		rc = -errno;
		log_error("repl: eventfd: %s", strerror(-rc));
		goto fail;
	}

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = clock_mono_ns();
	r->rng = seed | 1;
	r->snap_count = c->snap_count >= 2 ? c->snap_count : 2;
	r->snap_size = c->snap_size_limit_kb > 0 ? c->snap_size_limit_kb * 1024 : 0;
	reset_snapshot_stats(r);
	r->startup_snapshot = !ensemble && rp.count > 0;
	if (ensemble && (rc = ens_open(r, myid)))
		goto fail;

	r->container_interval_ms = c->container_check_interval_ms;
	r->max_never_used_ms = c->container_max_never_used_ms;
	max_per_minute = c->container_max_per_minute;
	r->container_gap_ns = max_per_minute > 0 ? 60000000000LL / max_per_minute : 0;
	r->container_next_ms = now_ms() + r->container_interval_ms;
	r->retain = c->snap_retain_count >= 3 ? c->snap_retain_count : 3;
	if (c->purge_interval > 0) {
		r->purge_interval_ms = (int64_t)c->purge_interval * 3600 * 1000;
		r->purge_next_ms = now_ms(); /* DatadirCleanupManager: first run at start */
	}

	log_info("repl: recovered zxid 0x%" PRIx64 " (snapshot 0x%" PRIx64 "%s, %" PRIu64
		 " txns replayed), %u sessions, %" PRIu64 " znodes",
		 (uint64_t)r->last_applied, (uint64_t)rp.snap_zxid, rp.have_snap ? "" : " (none)",
		 rp.count, sess_count(r->sess), tree_node_count(r->tree));
	*out = r;
	return 0;
fail:
	free_all(r);
	return rc;
}

/* ---- Replacing the tree (an ensemble member's live snapshot install) ---- */

/*
 * Why a message and an acknowledgement, not only rcu_assign_pointer: a
 * worker keeps its tree pointer across its loop (p->tree), and, more to
 * the point, its connections' watches and parked reads belong to the old
 * tree's history.  Switching each worker at one point of its ring order
 * (REPL_OUT_TREE), where it also closes all its connections, means no
 * connection that could hold a watch set on the old tree ever reads the
 * new one (guarantee 4 would break: the snapshot skipped the events).
 * The worker's acknowledgement (repl_tree_switched) says it holds the old
 * pointer no more; repl_tree() readers (four-letter words) are covered by
 * the grace period tree_free waits for.  The snapshot worker may be
 * walking the old tree: it is freed only once that job is over.
 */
int repl_install_tree(struct repl *r, struct tree *t, int64_t server_id)
{
	struct retired_tree *rt = calloc(1, sizeof(*rt));
	struct tree_prep *prep = tree_prep_new(t);
	struct sess_tracker *sess = sess_tracker_new(r->tick, server_id, r->now);
	struct recovered rs = {sess, 0};
	uint64_t gen;

	assert(r->qlen == 0 && t != r->tree);
	if (rt && prep && sess)
		tree_sessions_foreach(t, track_recovered, &rs);
	if (!rt || !prep || !sess || rs.rc) {
		free(rt);
		tree_prep_free(prep);
		sess_tracker_free(sess);
		return -ENOMEM;
	}
	tree_set_ns_writes(t, r->topts.ns_writes); /* write_per_namespace goes on */
	gen = ++r->tree_gen;
	rt->tree = r->tree;
	rt->gen = gen;
	rt->next = r->retired;
	r->retired = rt;
	tree_prep_free(r->prep);
	r->prep = prep;
	sess_tracker_free(r->sess);
	r->sess = sess;
	__atomic_store_n(&r->live_sessions, sess_count(sess), __ATOMIC_RELAXED);
	r->last_applied = tree_last_zxid(t);
	r->last_zxid = r->last_applied;
	r->qappended = 0;
	r->qhanded = 0;
	/*
	 * published was about the old tree, whose last applied may be past
	 * the new one's (a fuzzy snapshot's base can precede what this
	 * member applied): a worker that switched would take its txns past
	 * the base as delivered (dp_session.c drain).  Lowered to the base,
	 * and held there until every worker switched (publish).
	 */
	r->tree_base = r->last_applied;
	if (r->published > r->tree_base)
		__atomic_store_n(&r->published, r->tree_base, __ATOMIC_RELEASE);
	rcu_assign_pointer(r->tree, t);
	for (uint32_t i = 0; i < r->nworkers; i++) {
		struct repl_out m = {
		    .kind = REPL_OUT_TREE,
		    .session = (int64_t)gen,
		    .zxid = r->last_applied,
		    .body = t,
		};

		push_out(r, i, &m, r->last_applied);
	}
	publish(r);
	return 0;
}

uint32_t repl_reclaim_trees(struct repl *r)
{
	struct retired_tree **pp = &r->retired;
	struct snapdir_stats st;
	uint64_t acked = UINT64_MAX;
	uint32_t freed = 0;

	snapdir_stats(r->snap, &st);
	if (st.busy)
		return 0; /* a snapshot job may be walking a retired tree */
	for (uint32_t i = 0; i < r->nworkers; i++) {
		uint64_t g = __atomic_load_n(&r->w[i].tree_gen, __ATOMIC_ACQUIRE);

		assert(g <= r->tree_gen);
		if (g < acked)
			acked = g;
	}
	while (*pp) {
		struct retired_tree *rt = *pp;

		if (rt->gen > acked) {
			pp = &rt->next;
			continue;
		}
		/* Every worker switched past it: no worker reads it any more. */
		assert(rt->tree != r->tree && rt->gen <= r->tree_gen);
		*pp = rt->next;
		tree_free(rt->tree); /* after a grace period: repl_tree() readers */
		free(rt);
		freed++;
	}
	if (freed)
		log_info("repl: freed %u replaced tree%s", freed, freed == 1 ? "" : "s");
	return freed;
}

/* ---- Stop ---- */

static void free_all(struct repl *r)
{
	bool online;

	if (!r)
		return;
	snapdir_close(r->snap); /* waits for a snapshot in progress: it reads the tree */
	ens_close(r);
	if (r->log) {
		int rc = txlog_close(r->log);

		if (rc)
			log_error("repl: closing the log: %s", strerror(-rc));
	}
	for (uint32_t i = 0; i < r->qlen; i++) {
		struct pending *p = q_at(r, i);

		while (p->reads) {
			struct rd *d = p->reads;
			p->reads = d->next;
			free(d->req);
			free(d);
		}
		free(p->rec);
	}
	while (r->rd_free) {
		struct rd *d = r->rd_free;
		r->rd_free = d->next;
		free(d);
	}
	free(r->ens_meta);
	free(r->q);
	for (uint32_t i = 0; r->w && i < r->nworkers; i++) {
		struct worker *w = &r->w[i];
		struct repl_in mi;
		struct repl_out mo;

		if (w->in.slots) {
			while (ring_pop(&w->in, &mi))
				repl_in_free(&mi);
			ring_fini(&w->in);
		}
		if (w->out.slots) {
			while (ring_pop(&w->out, &mo))
				repl_out_free(&mo);
			ring_fini(&w->out);
		}
		for (uint32_t k = 0; k < w->ovf_len; k++)
			repl_out_free(&w->ovf[(w->ovf_head + k) & (w->ovf_cap - 1)].m);
		free(w->ovf);
		free(w->closed);
	}
	free(r->w);
	for (uint32_t i = r->cpaths_head; i < r->ncpaths; i++)
		free(r->cpaths[i]);
	free(r->cpaths);
	tree_prep_free(r->prep);
	sess_tracker_free(r->sess);
	tree_apply_out_release(&r->aout);
	jute_out_free(&r->enc);
	free(r->wreqs);
	free(r->wids);
	online = urcu_qsbr_read_ongoing();
	if (online)
		urcu_qsbr_thread_offline();
	/* The workers are stopped: nobody reads a retired tree any more. */
	while (r->retired) {
		struct retired_tree *rt = r->retired;

		r->retired = rt->next;
		tree_free(rt->tree);
		free(rt);
	}
	if (r->tree)
		tree_free(r->tree);
	if (online)
		urcu_qsbr_thread_online();
	if (r->kick_fd >= 0)
		close(r->kick_fd);
	free(r);
}

void repl_stop(struct repl *r)
{
	static const uint64_t one = 1;

	if (!r)
		return;
	if (r->started) {
		ssize_t n;

		__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
		n = write(r->kick_fd, &one, sizeof(one));
		(void)n;
		pthread_join(r->thread, NULL);
	}
	log_info("repl: stopped at zxid 0x%" PRIx64 " (%" PRIu64 " reads run in place, in %" PRIu64
		 " messages; %" PRIu64 " requests of connections it had closed dropped)",
		 (uint64_t)r->last_applied, r->reads_run, r->read_msgs, r->closed_dropped);
	free_all(r);
}
