// SPDX-License-Identifier: Apache-2.0
/*
 * A randomized scenario driver over the step-by-step ensemble harness
 * (ens_harness.h: three members of the real repl/ensemble/raft code in
 * one process, a simulated clock, network and worker rings).  Each seed
 * is one random script, the same every run:
 *   - clients: sessions connected through any member's worker ring
 *     (followers', the observer's and the leader's), sending sequential
 *     creates under their own /s<k> (data: "x<xid>c<conn>" plus padding),
 *     reads (REPL_IN_READ: the child count of /s<k>), syncs, touches, a
 *     close now and then; bursts big enough to reach the forwarding
 *     bounds; a connection closed under a client (REPL_OUT_EXPIRE, a
 *     tree switch, its member stopped) is replaced by a reconnect with
 *     the session's id, password and the last zxid it saw;
 *   - faults: links cut and healed between any pair, one way (a leader
 *     whose frames to a member are lost: a silent leader) or both, or
 *     flapping (back one to three rounds after the cut), a
 *     member paused (its clock jumps on resume), stopped and reopened on
 *     its data dir, a member's clock jumping ahead, a misbehaving
 *     follower (frames the test forges on its link) sending its leader
 *     more than the leader's bound at once;
 *   - then everything heals, and the ensemble must settle.
 *
 * This executable is linked against a build of the replication library
 * with small forwarding bounds (meson.build: ENS_FWD_MAX 16 requests or
 * 8 KiB per follower, the leader's 4x that per member), so that bursts
 * of tens of requests reach them; the logic is the one every build runs.
 *
 * Checked as it runs:
 *   - answers on a connection come in the order its requests were
 *     pushed, one per request (two = a duplicate answer), never
 *     ZK_CONNECTIONLOSS (a client-side code: the connection closes);
 *   - the zxids a session's client is shown (results, reads) never go
 *     back, across its reconnects; a read sees at least every create
 *     of its session answered OK before it;
 *   - the leader cuts a session (SESS_MEMBER_CUT) only while it handles
 *     a frame whose request it refuses, of a session the sender owned
 *     (or that no member owned; or any, while it does not serve or once
 *     it stops serving in that step: the owners of a new term are
 *     forgotten first);
 *   - a follower or observer whose input is paused at its bound
 *     (ens_learner_full, input waiting) takes input again within
 *     PAUSE_LINK_MS once its link to its leader is down both ways,
 *     SILENCE_MS + PAUSE_LINK_MS once its leader's frames stop, and
 *     LQ_TIMEOUT_MS + PAUSE_LINK_MS in any case (counted in the rounds
 *     it stepped in: a pause or a jump of its clock gives it no time);
 * and after healing, within HEAL_ROUNDS: one leader, the others following
 * it, every member at the same applied zxid and tree digest, every
 * request answered or its connection closed, every connect answered.
 * Then, on every member's tree, for every session: each child of /s<k>
 * is a create the session sent, present once; the children in sequence
 * (apply) order have increasing xids (per-session FIFO); every create
 * answered OK is there (no acknowledged write lost), none answered with
 * an error is.  Counted, not failed: gaps, a create not applied while a
 * later one of the same connection was; the client saw that connection
 * close, so it knows neither outcome, but ZooKeeper would not apply the
 * later one (a follower that loses its leader drops everything).  Nor
 * should Cheetah since a follower, like an observer, fails what it
 * forwarded when its leader link breaks (ensemble.c, learner_link_lost;
 * before, a request lost on the broken link and a later one sent on the
 * link's successor before the follower gave its leader up could leave
 * one: 27 gaps in 16 of seeds 1..1277 and 500001..501281, 6 in 2 with
 * the fix).  Those two (500740, 501000) come another way, not diagnosed
 * yet (in 500740 the leader and the follower were both paused, and the
 * later creates were applied in the next term).  Seeds 1..1500 and
 * 500001..501500 once a leader that stops serving refuses what it drops
 * and a learner closes a refused request's connection on the refusal
 * (before: 6 gaps in 2 seeds): 8 in 2 (501000, unchanged; 501162: an
 * observer that still knew term 3 forwarded a create, its leader,
 * re-elected, got it in term 4 and ran it, while the connection's
 * earlier creates, held by that leader in term 3, never ran: a stale
 * frame, not fixed); without flapping links (ENSRAND_NO_FLAP=1) 3 in 1
 * (501112), as before.  And the harness can
 * make one the real transport cannot: a link cut and healed while its
 * member was paused is never reported to it (peer_poll compares link_up
 * with what it reported; peer.c reports every loss before it redials).
 *
 * Not exercised: live snapshot installs (no member snapshots: snapCount
 * is left at its default, since the snapshot thread runs in real time
 * and would make a seed's path depend on the machine's speed).
 *
 * Running it: `meson test -C build 'replication / ensrand 1'` (and 2)
 * runs the CI seeds.  By hand (environment):
 *   ENSRAND_SEED=n     replay seed n only (what a failure prints)
 *   ENSRAND_SEEDS=k    run k seeds from ENSRAND_FIRST (default 1)
 *   ENSRAND_SECONDS=s  stop starting seeds after s seconds (long runs)
 *   ENSRAND_VERBOSE=1  one line per seed (what it did)
 *   ENSRAND_TRACE=1    every message the workers get, and INFO logs
 *   ENSRAND_GAPS=1     every gap (above)
 *   ENSRAND_NO_FLAP=1  no flapping links (the same draws: scripts differ
 *                      only where a link would have flapped)
 * e.g. ENSRAND_FIRST=100000 ENSRAND_SEEDS=1000000 ENSRAND_SECONDS=3600
 * build/tests/replication/test_ensrand (tests/integration/README.md).
 * meson.build runs two halves of 120 seeds; without ENSRAND_SEEDS the
 * count is ENSRAND_CI_SEEDS.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/ring.h"
#include "replication/ens_wire.h"
#include "replication/ensemble.h"
#include "replication/repl.h"
#include "replication/repl_core.h"
#include "replication/repl_priv.h"
#include "tests/replication/ens_harness.h"
#include "tree/tree.h"

#define ENSRAND_CI_SEEDS 200
#define NSESS 8		       /* client sessions per seed */
#define ROUND_MS 10	       /* each member's clock per round */
#define HEAL_ROUNDS 4000       /* after healing: settled within (40 s) */
#define STABLE_ROUNDS 100      /* and so for 1 s (twice syncLimit x tickTime) */
#define LQ_TIMEOUT_MS 2000     /* ensemble.c LQ_TIMEOUT_TICKS x tick (tickTime / 2) */
#define PAUSE_LINK_MS 400      /* a paused learner reacts to a broken leader link within */
#define TOUCH_MS 1000	       /* a worker touches a session at most every timeout / 3 */
#define GHOST_XID 0x40000000   /* cxids of forged frames: never a client's */
#define SESS_MEMBER_CUT UINT32_MAX /* ensemble.c's */

_Static_assert(ENS_FWD_MAX < 1000, "the driver expects the small-bounds build");

/* ---- Randomness of the script (the harness's getrandom has its own) ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

/* True with probability per_mille / 1000. */
static bool chance(uint32_t per_mille)
{
	return below(1000) < per_mille;
}

/* ---- The model of the clients ---- */

enum { RQ_CREATE = 1, RQ_READ, RQ_SYNC, RQ_CLOSE };
enum { CS_NONE, CS_CONNECTING, CS_UP, CS_CLOSING, CS_DEAD };

/* One request a client pushed. */
struct rec {
	int32_t xid;
	uint8_t kind;
	uint32_t conn;
	uint8_t answers; /* results or reads for it: at most 1 */
	bool closed;	 /* its connection closed before it was answered */
	int32_t err;
	int64_t zxid;
};

struct csess {
	int64_t id; /* 0: none yet */
	uint8_t pw[16];
	int st;
	uint32_t member, conn; /* the current connection (CONNECTING, UP) */
	int32_t connect_xid;
	int32_t next_xid;
	int64_t last_zxid; /* the newest zxid its client was shown */
	uint32_t acked;	   /* creates answered OK to the client */
	struct rec *recs;
	uint32_t nrec, cap;
	uint32_t open_from; /* recs before it are not on the current connection */
	int64_t touched_ms; /* its member's clock at its last touch */
	uint32_t owner;	    /* the leader's sess->member before the step (cut check) */
};

static struct csess S[NSESS];
static uint32_t next_conn;
/* Each connection's session (index into S) and state; conn ids are never reused. */
enum { CN_CONNECTING = 1, CN_UP, CN_CLOSED };
static uint8_t *conn_sess, *conn_st;
static uint32_t conn_cap;
static uint32_t seen[N + 1];	 /* M[i].out consumed */
static bool closed_m[N + 1];	 /* stopped (member_close) */
static int64_t full_since[N + 1], down_since[N + 1], mute_since[N + 1];
static int64_t mrounds[N + 1]; /* rounds each member stepped in */
static uint32_t ghost_n;
static uint64_t cur_seed;
static bool in_seed;
static bool trace; /* ENSRAND_TRACE: every message the workers get */
static bool no_flap; /* ENSRAND_NO_FLAP */
static int64_t round_no;

/* What happened in a seed (ENSRAND_VERBOSE, and the run's totals). */
struct tally {
	uint64_t creates, ok, reads, syncs, closed_conns, refusals, full_rounds;
	uint64_t cuts, pauses, stops, jumps, forged, late, expired_sessions, gaps, flaps;
};
static struct tally T, TOTAL;

/* Refusals (F_ANS ZK_CONNECTIONLOSS) the leader sent in the current step. */
#define MAX_REF 256
static struct {
	uint32_t to;
	int64_t session;
} ref[MAX_REF];
static uint32_t nref;

#define fail(fmt, ...) cr_assert_fail("seed %" PRIu64 ": " fmt, cur_seed, ##__VA_ARGS__)

static uint32_t conn_new(uint32_t k)
{
	uint32_t c = ++next_conn;

	if (c >= conn_cap) {
		conn_cap = conn_cap ? 2 * conn_cap : 1024;
		conn_sess = realloc(conn_sess, conn_cap);
		conn_st = realloc(conn_st, conn_cap);
		cr_assert(conn_sess && conn_st);
	}
	conn_sess[c] = (uint8_t)k;
	conn_st[c] = CN_CONNECTING;
	return c;
}

static struct rec *rec_new(struct csess *s, uint8_t kind, int32_t xid)
{
	struct rec *r;

	if (s->nrec == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
		cr_assert_not_null(s->recs);
	}
	r = &s->recs[s->nrec++];
	*r = (struct rec){.xid = xid, .kind = kind, .conn = s->conn};
	return r;
}

static struct rec *rec_find(struct csess *s, uint32_t conn, int32_t xid)
{
	for (uint32_t j = s->nrec; j-- > 0;)
		if (s->recs[j].conn == conn && s->recs[j].xid == xid)
			return &s->recs[j];
	return NULL;
}

/* The client's connection c closed: what waited on it has no answer to come. */
static void conn_closed(uint32_t c)
{
	struct csess *s = &S[conn_sess[c]];

	if (conn_st[c] == CN_CLOSED)
		return;
	conn_st[c] = CN_CLOSED;
	T.closed_conns++;
	for (uint32_t j = s->open_from; j < s->nrec; j++)
		if (s->recs[j].conn == c && !s->recs[j].answers)
			s->recs[j].closed = true;
	if (s->conn == c) {
		s->conn = 0;
		s->open_from = s->nrec;
		/* A close in flight: whether it happened is unknown; never used again. */
		if (s->st != CS_DEAD)
			s->st = s->st == CS_CLOSING ? CS_DEAD : CS_NONE;
	}
}

static void saw_zxid(struct csess *s, int64_t zxid, const char *what, int32_t xid)
{
	if (zxid < s->last_zxid)
		fail("session 0x%" PRIx64 ": %s (xid %d) shows zxid 0x%" PRIx64
		     " after the client saw 0x%" PRIx64,
		     (uint64_t)s->id, what, xid, (uint64_t)zxid, (uint64_t)s->last_zxid);
	s->last_zxid = zxid;
}

/* A result or a read's answer for connection c, xid. */
static void on_answer(uint32_t i, const struct repl_out *o)
{
	uint32_t c = o->conn;
	struct csess *s;
	struct rec *r;
	int32_t err = ZK_OK;
	uint32_t count = 0;

	cr_assert(c && c <= next_conn, "seed %" PRIu64 ": member %u answered unknown connection %u",
		  cur_seed, i, c);
	s = &S[conn_sess[c]];
	if (o->kind == REPL_OUT_RESULT) {
		err = result_err(o);
		if (err == ZK_CONNECTIONLOSS)
			fail("member %u answered xid %d ZK_CONNECTIONLOSS (a client-side code)", i,
			     o->xid);
	} else {
		struct repl_read_out *ro = o->body;

		cr_assert(ro && ro->nreads == 1 && ro->len == 4);
		memcpy(&count, repl_read_bytes(ro), 4);
	}
	r = rec_find(s, c, o->xid);
	if (!r)
		fail("member %u answered xid %d on connection %u, which never sent it", i, o->xid,
		     c);
	if (r->answers++)
		fail("member %u answered xid %d on connection %u twice", i, o->xid, c);
	r->err = err;
	r->zxid = o->zxid;
	if (conn_st[c] != CN_UP) {
		/* Its connection closed first: the worker drops it (the client never sees it). */
		T.late++;
		return;
	}
	/* FIFO: the oldest unanswered request of the connection. */
	for (uint32_t j = s->open_from; j < s->nrec; j++) {
		struct rec *q = &s->recs[j];

		if (q == r)
			break;
		if (q->conn == c && !q->answers && !q->closed)
			fail("member %u answered xid %d on connection %u before xid %d", i, o->xid,
			     c, q->xid);
	}
	saw_zxid(s, o->zxid, o->kind == REPL_OUT_READ ? "a read" : "a result", o->xid);
	switch (r->kind) {
	case RQ_CREATE:
		if (err == ZK_OK)
			s->acked++;
		break;
	case RQ_READ:
		if (o->kind == REPL_OUT_READ && (count == UINT32_MAX || count < s->acked))
			fail("session 0x%" PRIx64 ": a read (xid %d) on member %u sees %d children "
			     "of its node, after %u of its creates were answered OK",
			     (uint64_t)s->id, o->xid, i, (int32_t)count, s->acked);
		break;
	case RQ_CLOSE:
		s->st = CS_DEAD;
		break;
	default:
		break;
	}
}

static void on_connected(uint32_t i, const struct repl_out *o)
{
	const struct repl_connected *cd = o->body;
	uint32_t c = o->conn;
	struct csess *s;

	cr_assert(c && c <= next_conn && cd);
	s = &S[conn_sess[c]];
	if (conn_st[c] != CN_CONNECTING || s->conn != c)
		fail("member %u answered the connect of connection %u, which got its outcome "
		     "already",
		     i, c);
	if (cd->err != ZK_OK) {
		/* The session expired (a reconnect); never a new session's answer. */
		if (!s->id)
			fail("member %u answered a new session's connect %d", i, cd->err);
		conn_st[c] = CN_CLOSED;
		s->conn = 0;
		s->st = CS_DEAD;
		T.expired_sessions++;
		return;
	}
	if (s->id && cd->session != s->id)
		fail("member %u reconnected session 0x%" PRIx64 " as 0x%" PRIx64, i,
		     (uint64_t)s->id, (uint64_t)cd->session);
	if (!s->id) {
		s->id = cd->session;
		memcpy(s->pw, cd->passwd, sizeof(s->pw));
	}
	conn_st[c] = CN_UP;
	s->st = CS_UP;
	s->member = i;
	s->touched_ms = M[i].now_ms;
	if (o->zxid)
		saw_zxid(s, o->zxid, "a connect", 0);
}

static void on_expire(const struct repl_out *o)
{
	uint32_t c = o->conn;
	struct csess *s;

	if (!c || c > next_conn || conn_st[c] == CN_CLOSED)
		return;
	s = &S[conn_sess[c]];
	if (o->xid) {
		/* A refused connect: only the connection waiting for that connect. */
		if (conn_st[c] == CN_CONNECTING && s->conn == c && s->connect_xid == o->xid)
			conn_closed(c);
		return;
	}
	/* By session (dataplane on_expire): only if the connection holds it. */
	if (s->id && s->id == o->session && s->conn == c)
		conn_closed(c);
}

/* Everything member i's worker got since last time. */
static void absorb(uint32_t i)
{
	for (; seen[i] < M[i].nout; seen[i]++) {
		const struct repl_out *o = &M[i].out[seen[i]];

		if (trace)
			fprintf(stderr,
				"  [round %" PRId64 "] member %u (%s): out kind %u conn %u xid %d session "
				"0x%" PRIx64 " zxid 0x%" PRIx64 " err %d\n",
				round_no, i, ens_state(M[i].r), o->kind, o->conn, o->xid,
				(uint64_t)o->session, (uint64_t)o->zxid,
				o->kind == REPL_OUT_RESULT ? result_err(o) : 0);

		switch (o->kind) {
		case REPL_OUT_RESULT:
		case REPL_OUT_READ:
			on_answer(i, o);
			break;
		case REPL_OUT_CONNECTED:
			on_connected(i, o);
			break;
		case REPL_OUT_EXPIRE:
			on_expire(o);
			break;
		case REPL_OUT_TREE:
			/* The worker closes every connection it has. */
			for (uint32_t k = 0; k < NSESS; k++)
				if (S[k].conn && S[k].member == i)
					conn_closed(S[k].conn);
			break;
		default:
			break;
		}
	}
}

/* ---- The checks around every step ---- */

static uint32_t leader(void)
{
	uint32_t l = 0;

	for (uint32_t i = 1; i <= N; i++)
		if (M[i].r && is_state(i, "leader"))
			l = i;
	return l;
}

static void frame_sent(const struct frame *f)
{
	struct ens_fwd_ans a;

	if (f->type != F_ANS || ens_fwd_ans_decode(f->data, f->len, &a))
		return;
	if (a.err != ZK_CONNECTIONLOSS)
		return;
	T.refusals++;
	cr_assert_lt(nref, MAX_REF);
	ref[nref].to = f->to;
	ref[nref].session = a.session;
	nref++;
}

/*
 * Around every frame a member handles (the leader's fwd_admit cuts in
 * there, one request a frame): the owners before, then a cut must come
 * with a refusal to the owner, or to anyone when there was none.
 */
static bool serving_before;
/* A cut whose refusal went to another member than the owner (frame_around). */
static struct {
	int64_t session;
	uint32_t owner;
	bool refused_any;
} suspect;

static void frame_around(const struct frame *f, bool after)
{
	struct repl *r = M[f->to].r;

	if (f->type != F_REQ)
		return;
	if (!after) {
		nref = 0;
		serving_before = ens_serving(r);
		for (uint32_t k = 0; k < NSESS; k++) {
			struct sess *s = S[k].id ? sess_find(r->sess, S[k].id) : NULL;

			S[k].owner = s ? s->member : 0;
		}
		return;
	}
	for (uint32_t k = 0; k < NSESS; k++) {
		struct sess *s = S[k].id ? sess_find(r->sess, S[k].id) : NULL;
		bool refused = false;

		if (!s || s->member != SESS_MEMBER_CUT || S[k].owner == SESS_MEMBER_CUT)
			continue;
		/*
		 * Not serving, it may be learning the owners of a new term
		 * (ensemble.c owners_of_term: forgotten first, then the cut).
		 */
		for (uint32_t j = 0; j < nref; j++)
			if (ref[j].session == S[k].id &&
			    (S[k].owner == 0 || ref[j].to == S[k].owner || !serving_before))
				refused = true;
		T.cuts++;
		if (refused || suspect.session)
			continue;
		/*
		 * Judged at the end of the step: raft may have taken a newer
		 * term earlier in this poll (its owners forgotten, ensemble.c
		 * owners_of_term) while the member still serves until track_role.
		 */
		suspect.session = S[k].id;
		suspect.owner = S[k].owner;
		suspect.refused_any = false;
		for (uint32_t j = 0; j < nref; j++)
			suspect.refused_any |= ref[j].session == S[k].id;
	}
}

static void step_around(uint32_t i, bool after)
{
	if (!after) {
		suspect.session = 0;
		return;
	}
	if (suspect.session && (ens_serving(M[i].r) || !suspect.refused_any))
		fail("member %u cut session 0x%" PRIx64 " (owned by member %u) without "
		     "refusing a request of it from that member, and still serves",
		     i, (uint64_t)suspect.session, suspect.owner);
	absorb(i);
}

/*
 * A learner paused at its bound takes input again in time: once its
 * leader link is down both ways, once its leader went silent, and in any
 * case once what it forwarded timed out.
 */
static void check_paused(uint32_t i)
{
	struct repl *r = M[i].r;
	/* The rounds it stepped in: a pause or a jump of its clock is no time to react. */
	int64_t now = mrounds[i] * ROUND_MS;
	uint32_t l = ens_leader_id(r);
	bool full = ens_learner_full(r) && ring_count(repl_in_ring(r, 0)) > 0;
	int64_t since;

	if (l && l != i && !link_up[i][l] && !link_up[l][i]) {
		if (down_since[i] < 0)
			down_since[i] = now;
	} else {
		down_since[i] = -1;
	}
	if (l && l != i && !link_up[l][i]) {
		if (mute_since[i] < 0)
			mute_since[i] = now;
	} else {
		mute_since[i] = -1;
	}
	if (!full) {
		full_since[i] = -1;
		return;
	}
	T.full_rounds++;
	if (full_since[i] < 0)
		full_since[i] = now;
	if (now - full_since[i] > LQ_TIMEOUT_MS + PAUSE_LINK_MS)
		fail("member %u (%s) took no input for %" PRId64 " ms at its forwarding bound", i,
		     ens_state(r), now - full_since[i]);
	since = down_since[i] > full_since[i] ? down_since[i] : full_since[i];
	if (down_since[i] >= 0 && now - since > PAUSE_LINK_MS)
		fail("member %u (%s) took no input for %" PRId64
		     " ms at its bound with its leader %u's link down",
		     i, ens_state(r), now - since, l);
	since = mute_since[i] > full_since[i] ? mute_since[i] : full_since[i];
	if (mute_since[i] >= 0 && now - since > SILENCE_MS + PAUSE_LINK_MS)
		fail("member %u (%s) took no input for %" PRId64
		     " ms at its bound with its leader %u silent",
		     i, ens_state(r), now - since, l);
}

/* ---- The clients' actions ---- */

static bool live(uint32_t i)
{
	return M[i].r && !closed_m[i];
}

static bool ring_room(uint32_t i, uint32_t n)
{
	return ring_count(repl_in_ring(M[i].r, 0)) + n <= RING_SIZE_TEST;
}

static void client_connect(uint32_t k, uint32_t i)
{
	struct csess *s = &S[k];
	struct repl_connect *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	c->timeout = 30000;
	if (s->id) {
		c->session = s->id;
		memcpy(c->passwd, s->pw, sizeof(s->pw));
		c->passwd_len = sizeof(s->pw);
		c->last_zxid_seen = s->last_zxid;
	}
	s->conn = conn_new(k);
	s->member = i;
	s->st = CS_CONNECTING;
	s->connect_xid = (int32_t)s->conn; /* never 0: the worker's connect_seq */
	s->open_from = s->nrec;
	push(i, REPL_IN_CONNECT, s->conn, s->connect_xid, s->id, c);
}

/* A sequential create under /s<k>, its data naming the xid and the connection. */
static void client_create(uint32_t k, uint32_t pad)
{
	struct csess *s = &S[k];
	char path[32], data[48];
	int32_t xid = ++s->next_xid;
	size_t pl, dl;
	struct repl_write *w;
	struct repl_write_req *rq;
	uint8_t *p;

	snprintf(path, sizeof(path), "/s%u/n-", k);
	snprintf(data, sizeof(data), "x%dc%u", xid, s->conn);
	pl = strlen(path);
	dl = strlen(data);
	w = repl_write_new(pl + dl + pad + 64, 1, 0);
	cr_assert_not_null(w);
	rq = repl_write_reqs(w);
	w->op = ZK_OP_CREATE;
	p = w->storage;
	rq->type = ZK_OP_CREATE;
	rq->flags = ZK_CREATE_PERSISTENT_SEQUENTIAL;
	rq->version = -1;
	rq->ttl = -1;
	memcpy(p, path, pl);
	rq->path = repl_write_span(w, p, (int32_t)pl);
	p += pl;
	memcpy(p, data, dl);
	memset(p + dl, 'p', pad);
	rq->data = repl_write_span(w, p, (int32_t)(dl + pad));
	p += dl + pad;
	rq->acl = repl_write_span(w, p, (int32_t)put_world_acl(p));
	rq->acl_count = 1;
	cr_assert_eq(repl_write_check(w, w->size), 0);
	rec_new(s, RQ_CREATE, xid);
	push(s->member, REPL_IN_WRITE, s->conn, xid, s->id, w);
	T.creates++;
}

/* A read of /s<k>'s child count, at its place in the session's order. */
static void client_read(uint32_t k)
{
	struct csess *s = &S[k];
	char path[16];
	int32_t xid = ++s->next_xid;

	snprintf(path, sizeof(path), "/s%u", k);
	rec_new(s, RQ_READ, xid);
	push_read(s->member, s->conn, xid, s->id, path);
	T.reads++;
}

static void client_simple(uint32_t k, uint8_t kind)
{
	struct csess *s = &S[k];
	int32_t xid = ++s->next_xid;

	rec_new(s, kind == REPL_IN_SYNC ? RQ_SYNC : RQ_CLOSE, xid);
	push(s->member, kind, s->conn, xid, s->id, NULL);
	T.syncs += kind == REPL_IN_SYNC;
}

/* One client's turn: connect, or a burst of requests, or a move, or a close. */
static void client_turn(uint32_t k)
{
	struct csess *s = &S[k];
	uint32_t n, pad = 0;
	uint32_t i = 1 + below(N);

	switch (s->st) {
	case CS_NONE:
		if (live(i) && !M[i].paused && ring_room(i, 1))
			client_connect(k, i);
		return;
	case CS_UP:
		break;
	default:
		return;
	}
	if (!live(s->member) || M[s->member].paused)
		return;
	if (chance(20)) {
		/* It moves to another member (the old connection goes first). */
		push(s->member, REPL_IN_GONE, s->conn, 0, s->id, NULL);
		conn_closed(s->conn);
		if (live(i) && !M[i].paused && ring_room(i, 1))
			client_connect(k, i);
		return;
	}
	if (chance(3)) {
		client_simple(k, REPL_IN_CLOSE);
		s->st = CS_CLOSING; /* nothing after it */
		return;
	}
	n = 1 + below(3);
	if (chance(80))
		n = ENS_FWD_MAX + below(3 * ENS_FWD_MAX); /* past the follower's bound */
	if (chance(100))
		pad = 200 + below(1500); /* past its byte bound: ENS_FWD_MAX_BYTES */
	for (uint32_t j = 0; j < n && ring_room(s->member, 1); j++) {
		uint32_t what = below(100);

		if (what < 80)
			client_create(k, pad);
		else if (what < 95)
			client_read(k);
		else
			client_simple(k, REPL_IN_SYNC);
	}
}

/* Workers touch their sessions (REPL_IN_TOUCH) about every timeout / 3. */
static void touches(void)
{
	for (uint32_t k = 0; k < NSESS; k++) {
		struct csess *s = &S[k];

		if (s->st != CS_UP || !live(s->member) || M[s->member].paused ||
		    M[s->member].now_ms - s->touched_ms < TOUCH_MS || !ring_room(s->member, 1))
			continue;
		push(s->member, REPL_IN_TOUCH, s->conn, 0, s->id, NULL);
		s->touched_ms = M[s->member].now_ms;
	}
}

/* ---- Faults ---- */

static int64_t paused_at[N + 1], paused_until[N + 1], stopped_until[N + 1];
/* A flapping link: cut both ways, back at flap_until (0: none). */
static uint32_t flap_a, flap_b;
static int64_t flap_until;

static void stop_member(uint32_t i)
{
	absorb(i);
	for (uint32_t k = 0; k < NSESS; k++)
		if (S[k].conn && S[k].member == i)
			conn_closed(S[k].conn);
	set_links(i, false);
	member_close(i);
	closed_m[i] = true;
	seen[i] = 0;
	full_since[i] = down_since[i] = mute_since[i] = -1;
	T.stops++;
}

static void reopen_member(uint32_t i)
{
	member_open(i, NULL);
	closed_m[i] = false;
	for (uint32_t j = 1; j <= N; j++)
		if (j != i && live(j))
			link_up[i][j] = link_up[j][i] = true;
}

static void resume(uint32_t i)
{
	M[i].paused = false;
	M[i].now_ms += (round_no - paused_at[i]) * ROUND_MS; /* its clock went on */
	paused_until[i] = 0;
}

/*
 * A misbehaving follower: more creates than the leader keeps of one
 * member, forged on f's link, for a session of the model's (any owner)
 * under /g (never a client's path, cxids never a client's).
 */
static void forge_burst(uint32_t f, uint32_t l)
{
	uint32_t n = 4 * ENS_FWD_MAX + 1 + below(ENS_FWD_MAX);
	uint32_t k = below(NSESS);
	char path[32];

	if (!S[k].id || !link_up[f][l])
		return;
	for (uint32_t j = 0; j < n; j++) {
		snprintf(path, sizeof(path), "/g/%u", ++ghost_n);
		inject_create(f, l, S[k].id, GHOST_XID + (int32_t)ghost_n, path);
	}
	T.forged += n;
}

static void faults(void)
{
	uint32_t a = 1 + below(N), b = 1 + below(N), l = leader();

	if (a != b && live(a) && live(b)) {
		if (chance(10)) {
			link_up[a][b] = link_up[b][a] = false;
			drop_queued(a, b);
			drop_queued(b, a);
		} else if (chance(30)) {
			link_up[a][b] = link_up[b][a] = true;
		}
	}
	/*
	 * A link flaps: back one to three rounds after the cut, often before
	 * a follower's turn to give its leader up (leader_gone: 20 ms, two
	 * rounds, per rank here), with what was on it lost.
	 */
	if (flap_until && round_no >= flap_until) {
		if (live(flap_a) && live(flap_b))
			link_up[flap_a][flap_b] = link_up[flap_b][flap_a] = true;
		flap_until = 0;
	} else if (!flap_until && a != b && live(a) && live(b) && chance(5) && !no_flap) {
		link_up[a][b] = link_up[b][a] = false;
		drop_queued(a, b);
		drop_queued(b, a);
		flap_a = a;
		flap_b = b;
		flap_until = round_no + 1 + below(3);
		T.flaps++;
	}
	/* The leader's frames to one member are lost: a silent leader. */
	if (l && l != b && live(b) && chance(8)) {
		link_up[l][b] = false;
		drop_queued(l, b);
	}
	if (live(a) && !M[a].paused && chance(3)) {
		M[a].paused = true;
		paused_at[a] = round_no;
		paused_until[a] = round_no + 20 + below(150);
		T.pauses++;
	}
	if (live(a) && !M[a].paused && chance(2) && !closed_m[1] && !closed_m[2] &&
	    !closed_m[3]) {
		stop_member(a);
		stopped_until[a] = round_no + 30 + below(300);
	}
	if (live(a) && !M[a].paused && chance(5)) {
		M[a].now_ms += 100 + below(1100);
		T.jumps++;
	}
	if (l && l != a && live(a) && chance(5))
		forge_burst(a, l);
	for (uint32_t i = 1; i <= N; i++) {
		if (M[i].paused && round_no >= paused_until[i])
			resume(i);
		if (closed_m[i] && round_no >= stopped_until[i])
			reopen_member(i);
	}
}

/* ---- Rounds ---- */

static void one_round(bool chaos)
{
	uint32_t order[N];

	round_no++;
	if (chaos) {
		faults();
		for (uint32_t j = 0; j < 2; j++)
			if (chance(500))
				client_turn(below(NSESS));
	}
	touches();
	for (uint32_t i = 0; i < N; i++)
		order[i] = i + 1;
	for (uint32_t i = N - 1; i > 0; i--) {
		uint32_t j = below(i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (uint32_t j = 0; j < N; j++) {
		uint32_t i = order[j];

		if (!live(i) || M[i].paused)
			continue;
		M[i].now_ms += ROUND_MS;
		mrounds[i]++;
		step(i);
	}
	if (chance(300))
		deliver();
	for (uint32_t i = 1; i <= N; i++)
		if (live(i) && !M[i].paused)
			check_paused(i);
}

/* ---- The end: settled, and every tree holds what the clients were told ---- */

static bool pending_anything(void)
{
	for (uint32_t k = 0; k < NSESS; k++) {
		const struct csess *s = &S[k];

		if (s->st == CS_CONNECTING)
			return true;
		for (uint32_t j = s->open_from; j < s->nrec; j++)
			if (!s->recs[j].answers && !s->recs[j].closed)
				return true;
	}
	for (uint32_t i = 1; i <= N; i++)
		if (ring_count(repl_in_ring(M[i].r, 0)))
			return true;
	return false;
}

static bool settled(void)
{
	uint32_t l = leader();

	if (!l || pending_anything())
		return false;
	for (uint32_t i = 1; i <= N; i++) {
		if (i == l)
			continue;
		if (!(is_state(i, "follower") || is_state(i, "observer")) ||
		    ens_leader_id(M[i].r) != l)
			return false;
		if (M[i].r->last_applied != M[l].r->last_applied ||
		    tree_digest(repl_tree(M[i].r)) != tree_digest(repl_tree(M[l].r)))
			return false;
	}
	return true;
}

static int by_name(const void *a, const void *b)
{
	const struct jute_buf *x = a, *y = b;
	int32_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, (size_t)n);

	return c ? c : x->len - y->len;
}

/* Member i's tree against session k's record. */
static void check_tree(uint32_t i, uint32_t k)
{
	struct csess *s = &S[k];
	struct tree *t = repl_tree(M[i].r);
	char path[16];
	const struct tree_node *n;
	struct tree_children ch = {0};
	uint8_t *present = calloc(s->nrec + 1, 1);
	int32_t last = 0;
	uint32_t last_conn = 0;

	cr_assert_not_null(present);
	snprintf(path, sizeof(path), "/s%u", k);
	n = tree_lookup(t, path, strlen(path));
	cr_assert_not_null(n, "seed %" PRIu64 ": member %u lacks %s", cur_seed, i, path);
	cr_assert_eq(tree_node_children(t, n, &ch, NULL), 0);
	qsort(ch.names, ch.count, sizeof(ch.names[0]), by_name);
	for (uint32_t c = 0; c < ch.count; c++) {
		char child[64], head[32] = "";
		const struct tree_node *cn;
		struct jute_buf data;
		int32_t xid = 0;
		uint32_t conn = 0;
		struct rec *r;

		snprintf(child, sizeof(child), "%s/%.*s", path, (int)ch.names[c].len,
			 (const char *)ch.names[c].p);
		cn = tree_lookup(t, child, strlen(child));
		cr_assert_not_null(cn);
		tree_node_read(cn, NULL, &data);
		if (data.len > 0)
			memcpy(head, data.p, data.len < 31 ? (size_t)data.len : 31);
		cr_assert(sscanf(head, "x%dc%u", &xid, &conn) == 2,
			  "seed %" PRIu64 ": %s holds no xid", cur_seed, child);
		r = rec_find(s, conn, xid);
		if (!r || r->kind != RQ_CREATE)
			fail("member %u: %s is xid %d of connection %u, which session %u never "
			     "sent",
			     i, child, xid, conn, k);
		if (present[r - s->recs]++)
			fail("member %u: xid %d of session %u applied twice (%s)", i, xid, k, child);
		if (xid <= last)
			fail("member %u: session %u (0x%" PRIx64 ")'s xid %d (connection %u) applied "
			     "after its xid %d (connection %u) (%s): not in FIFO order",
			     i, k, (uint64_t)s->id, xid, conn, last, last_conn, child);
		last = xid;
		last_conn = conn;
		if (r->answers && r->err != ZK_OK)
			fail("member %u: xid %d of session %u was answered %d, yet applied (%s)", i,
			     xid, k, r->err, child);
	}
	/*
	 * Gaps: a create not applied (and not refused with an error the
	 * client saw... or not) while a later one of the same connection
	 * was.  Counted, not failed: the connection was closed under the
	 * client, which knows neither outcome (see the header).
	 */
	if (i == 1)
		for (uint32_t j = 0; j < s->nrec; j++) {
			const struct rec *r = &s->recs[j];

			if (r->kind != RQ_CREATE || present[j] || (r->answers && r->err != ZK_OK))
				continue;
			for (uint32_t q = j + 1; q < s->nrec; q++)
				if (s->recs[q].conn == r->conn && present[q]) {
					T.gaps++;
					if (getenv("ENSRAND_GAPS"))
						fprintf(stderr,
							"  gap: session %u conn %u: xid %d not applied, "
							"xid %d applied\n",
							k, r->conn, r->xid, s->recs[q].xid);
					break;
				}
		}
	for (uint32_t j = 0; j < s->nrec; j++)
		if (s->recs[j].kind == RQ_CREATE && s->recs[j].answers && s->recs[j].err == ZK_OK &&
		    !present[j])
			fail("member %u: xid %d of session %u was answered OK and is not in the "
			     "tree (an acknowledged write lost)",
			     i, s->recs[j].xid, k);
	tree_children_release(&ch);
	free(present);
}

/* ---- One seed ---- */

static void model_reset(void)
{
	for (uint32_t k = 0; k < NSESS; k++)
		free(S[k].recs);
	memset(S, 0, sizeof(S));
	free(conn_sess);
	free(conn_st);
	conn_sess = conn_st = NULL;
	conn_cap = next_conn = 0;
	memset(seen, 0, sizeof(seen));
	memset(closed_m, 0, sizeof(closed_m));
	memset(paused_at, 0, sizeof(paused_at));
	memset(paused_until, 0, sizeof(paused_until));
	memset(stopped_until, 0, sizeof(stopped_until));
	flap_a = flap_b = 0;
	flap_until = 0;
	memset(mrounds, 0, sizeof(mrounds));
	for (uint32_t i = 0; i <= N; i++)
		full_since[i] = down_since[i] = mute_since[i] = -1;
	ghost_n = 0;
	round_no = 0;
	nref = 0;
	memset(&T, 0, sizeof(T));
}

/* The parents /s<k> and /g, through the leader's own connection. */
static void make_parents(uint32_t l)
{
	int64_t s = connect_new(l, 1000000, false);
	int32_t xid = 0;

	cr_assert(s, "seed %" PRIu64 ": no session for the set-up", cur_seed);
	for (uint32_t k = 0; k <= NSESS; k++) {
		char path[16];
		uint32_t from = M[l].nout;
		struct repl_out *o;

		if (k < NSESS)
			snprintf(path, sizeof(path), "/s%u", k);
		else
			snprintf(path, sizeof(path), "/g");
		push_create(l, 1000000, ++xid, s, path);
		o = wait_out(l, from, 1000000);
		cr_assert_eq(result_err(o), ZK_OK);
	}
	push(l, REPL_IN_CLOSE, 1000000, ++xid, s, NULL);
	run(20, ROUND_MS);
	for (uint32_t i = 1; i <= N; i++)
		seen[i] = M[i].nout;
}

/* Settled: a new client of each member writes, and every member has it. */
static void probe_writes(void)
{
	step_hook = NULL;
	frame_recv_hook = NULL;
	for (uint32_t i = 1; i <= N; i++) {
		uint32_t conn = 2000000 + i, from;
		char path[16];
		int64_t s = connect_new(i, conn, false);
		struct repl_out *o;

		cr_assert(s, "seed %" PRIu64 ": member %u refused a new session once settled",
			  cur_seed, i);
		snprintf(path, sizeof(path), "/probe%u", i);
		from = M[i].nout;
		push_create(i, conn, 1, s, path);
		o = wait_out(i, from, conn);
		cr_assert(o->kind == REPL_OUT_RESULT && result_err(o) == ZK_OK,
			  "seed %" PRIu64 ": member %u: a create once settled: kind %u", cur_seed, i,
			  o->kind);
	}
	run(10, ROUND_MS);
	for (uint32_t i = 1; i <= N; i++)
		for (uint32_t j = 1; j <= N; j++) {
			char path[16];

			snprintf(path, sizeof(path), "/probe%u", j);
			cr_assert(exists(i, path), "seed %" PRIu64 ": member %u lacks %s", cur_seed,
				  i, path);
		}
}

static void run_seed(uint64_t seed)
{
	uint32_t chaos_rounds, l, k, heal, stable;

	cur_seed = seed;
	in_seed = true;
	trace = getenv("ENSRAND_TRACE") != NULL;
	no_flap = getenv("ENSRAND_NO_FLAP") != NULL;
	if (trace)
		log_set_level(LOG_LVL_INFO);
	model_reset();
	rng = seed * 0x2545f4914f6cdd1dull + 1;
	rnd_state = rnd();
	obs_id = chance(400) ? 1 + below(N) : 0;
	chaos_rounds = 200 + below(800);
	frame_sent_hook = frame_sent;
	cluster_open(NULL);
	l = elect();
	make_parents(l);
	step_hook = step_around;
	frame_recv_hook = frame_around;
	for (uint32_t r = 0; r < chaos_rounds; r++)
		one_round(true);
	/* Heal everything. */
	for (uint32_t i = 1; i <= N; i++) {
		if (M[i].paused)
			resume(i);
		if (closed_m[i])
			reopen_member(i);
	}
	for (uint32_t i = 1; i <= N; i++)
		for (uint32_t j = 1; j <= N; j++)
			link_up[i][j] = i != j;
	/*
	 * Settled for STABLE_ROUNDS in a row: a member whose clock jumped just
	 * before the heal reacts (a silent leader) in its next rounds.
	 */
	for (heal = 0, stable = 0; heal < HEAL_ROUNDS && stable < STABLE_ROUNDS; heal++) {
		one_round(false);
		stable = settled() ? stable + 1 : 0;
	}
	if (heal == HEAL_ROUNDS) {
		for (uint32_t i = 1; i <= N; i++)
			fprintf(stderr,
				"  member %u: %s, leader %u, applied 0x%" PRIx64 ", digest %016" PRIx64
				", ring %u\n",
				i, ens_state(M[i].r), ens_leader_id(M[i].r),
				(uint64_t)M[i].r->last_applied, tree_digest(repl_tree(M[i].r)),
				ring_count(repl_in_ring(M[i].r, 0)));
		for (uint32_t s = 0; s < NSESS; s++)
			for (uint32_t j = S[s].open_from; j < S[s].nrec; j++)
				if (!S[s].recs[j].answers && !S[s].recs[j].closed)
					fprintf(stderr, "  session %u xid %d (conn %u, kind %u) waits\n",
						s, S[s].recs[j].xid, S[s].recs[j].conn,
						S[s].recs[j].kind);
		fail("not settled %u rounds after healing (state above)", HEAL_ROUNDS);
	}
	for (uint32_t i = 1; i <= N; i++)
		for (k = 0; k < NSESS; k++)
			check_tree(i, k);
	probe_writes();
	cr_assert_eq(bad_answers, 0, "seed %" PRIu64 ": an F_ANS named a zxid not proposed",
		     cur_seed);
	for (k = 0; k < NSESS; k++)
		for (uint32_t j = 0; j < S[k].nrec; j++)
			T.ok += S[k].recs[j].answers && S[k].recs[j].err == ZK_OK &&
				S[k].recs[j].kind == RQ_CREATE;
	if (getenv("ENSRAND_VERBOSE"))
		fprintf(stderr,
			"seed %" PRIu64 ": %u+%u rounds, obs %u; creates %" PRIu64 " (ok %" PRIu64
			"), reads %" PRIu64 ", syncs %" PRIu64 ", conns closed %" PRIu64
			", refusals %" PRIu64 " (cuts %" PRIu64 "), forged %" PRIu64
			", rounds at bound %" PRIu64 ", late answers %" PRIu64 ", pauses %" PRIu64
			", stops %" PRIu64 ", jumps %" PRIu64 ", flaps %" PRIu64
			", sessions expired %" PRIu64 ", gaps %" PRIu64 "\n",
			seed, chaos_rounds, heal, obs_id, T.creates, T.ok, T.reads, T.syncs,
			T.closed_conns, T.refusals, T.cuts, T.forged, T.full_rounds, T.late,
			T.pauses, T.stops, T.jumps, T.flaps, T.expired_sessions, T.gaps);
	TOTAL.creates += T.creates;
	TOTAL.ok += T.ok;
	TOTAL.refusals += T.refusals;
	TOTAL.cuts += T.cuts;
	TOTAL.full_rounds += T.full_rounds;
	TOTAL.stops += T.stops;
	TOTAL.gaps += T.gaps;
	TOTAL.late += T.late;
	step_hook = NULL;
	frame_sent_hook = NULL;
	frame_recv_hook = NULL;
	in_seed = false;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static void fini(void)
{
	if (in_seed)
		fprintf(stderr,
			"ensrand: seed %" PRIu64 " failed; replay: ENSRAND_SEED=%" PRIu64
			" build/tests/replication/test_ensrand\n",
			cur_seed, cur_seed);
	model_reset();
	teardown();
}

TestSuite(ensrand, .init = setup, .fini = fini, .timeout = 0);

Test(ensrand, random_scripts_keep_every_acknowledged_write_and_settle)
{
	uint64_t first = env_u64("ENSRAND_FIRST", 1);
	uint64_t seeds = env_u64("ENSRAND_SEEDS", ENSRAND_CI_SEEDS);
	uint64_t secs = env_u64("ENSRAND_SECONDS", 0), n = 0;
	time_t start = time(NULL);

	if (getenv("ENSRAND_SEED")) {
		first = env_u64("ENSRAND_SEED", 1);
		seeds = 1;
	}
	for (uint64_t sd = first; sd < first + seeds; sd++) {
		if (secs && time(NULL) - start >= (time_t)secs)
			break;
		if (n++) {
			teardown();
			setup();
		}
		run_seed(sd);
	}
	fprintf(stderr,
		"ensrand: %" PRIu64 " seeds from %" PRIu64 " in %ld s: %" PRIu64 " creates (%" PRIu64
		" answered OK), %" PRIu64 " refusals (%" PRIu64 " cuts), %" PRIu64
		" member-rounds at the bound, %" PRIu64 " stops, %" PRIu64
		" answers after their connection closed, %" PRIu64 " gaps\n",
		n, first, (long)(time(NULL) - start), TOTAL.creates, TOTAL.ok, TOTAL.refusals,
		TOTAL.cuts, TOTAL.full_rounds, TOTAL.stops, TOTAL.late, TOTAL.gaps);
}
