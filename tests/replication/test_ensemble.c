// SPDX-License-Identifier: Apache-2.0
/*
 * Scripted interleavings of the ensemble driver that real processes hit
 * only by chance, replayed step by step in the harness (ens_harness.h:
 * three members of the real code in one process, a simulated clock and
 * network): the review findings of ensfix (4557c1d, 6b2ccd2, 4ca6a80),
 * each test failing with its fix reverted; a whole ensemble restored
 * from one member's copy (docs/OPERATIONS.md), members closed and
 * reopened on new data dirs; the bounds on forwarded requests.  The
 * randomized driver over the same harness is test_ensrand.c.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hist.h"
#include "replication/ens_wire.h"
#include "replication/ensemble.h"
#include "replication/repl.h"
#include "replication/repl_core.h"
#include "replication/repl_priv.h"
#include "tests/replication/ens_harness.h"

TestSuite(ensemble, .init = setup, .fini = teardown, .timeout = 120);

/*
 * ensfix finding 1 (4557c1d).  Two requests of a follower's client reach
 * the leader in one iteration: its closeSession, prepped as a txn at
 * zxid Z (the session is closing), and a create the client pipelined
 * after it, answered without a txn (SESSIONEXPIRED: a closing session),
 * by an F_ANS naming Z.  The leader stops serving in that same iteration
 * without a term change (it has not heard a quorum for syncLimit, raft
 * has not stepped it down), which drops the unproposed close: the
 * session lives.  Serving again, it gives Z to another txn, and the
 * follower, once it applied that one, answered SESSIONEXPIRED for a
 * session that never expired.  With the fix the F_ANS leaves only once
 * the txn it names is proposed; here never: the create's connection is
 * closed instead (the client reconnects and retries).
 */
Test(ensemble, an_answer_never_names_a_zxid_the_leader_may_reuse)
{
	uint32_t L, F, from;
	int64_t sa, sc;
	struct repl_out *o;
	struct repl_quorum q;
	int64_t epoch;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	sa = connect_new(F, 1, false);
	sc = connect_new(F, 3, false);
	cr_assert(sa && sc);
	run(5, 10);
	cr_assert(ens_quorum_stats(M[L].r, &q));
	epoch = q.epoch_zxid;

	/* A's close, then a create A pipelined after it: forwarded together. */
	from = M[F].nout;
	push(F, REPL_IN_CLOSE, 1, 5, sa, NULL);
	push_create(F, 1, 6, sa, "/w");
	M[F].now_ms += 1;
	step(F);
	/*
	 * The leader takes both in a step twice syncLimit after it last
	 * heard its followers (one raft tick: a stalled loop's): it preps the
	 * close, answers the create, and stops serving.
	 */
	M[L].now_ms += 2 * SILENCE_MS;
	step(L);
	cr_assert(!is_state(L, "leader"), "the leader stops serving, not hearing a quorum");
	for (uint32_t k = 0; k < 200 && !is_state(L, "leader"); k++)
		run(1, 10);
	cr_assert(is_state(L, "leader"), "the leader serves again");
	cr_assert(ens_quorum_stats(M[L].r, &q));
	cr_assert_eq(q.epoch_zxid, epoch, "in the same term: raft did not step it down");
	/* C's create takes the zxid the dropped close had. */
	push_create(F, 3, 1, sc, "/c");
	o = wait_out(F, from, 3);
	cr_assert_eq(result_err(o), ZK_OK);
	/* Until the follower gave up on what the leader dropped. */
	run(300, 10);
	cr_assert_not_null(sess_find(M[L].r->sess, sa), "A's session lives: its close was dropped");
	for (uint32_t i = 1; i <= N; i++)
		cr_assert(!exists(i, "/w"), "member %u: /w was never created", i);
	for (uint32_t k = from; k < M[F].nout; k++) {
		o = &M[F].out[k];
		cr_assert(!(o->conn == 1 && o->kind == REPL_OUT_RESULT && o->xid == 6),
			  "A's create answered %d although its session lives", result_err(o));
	}
	cr_assert(find_out(F, from, 1) >= 0 &&
		      M[F].out[find_out(F, from, 1)].kind == REPL_OUT_EXPIRE,
		  "A's connection is closed");
	cr_assert_eq(bad_answers, 0, "an F_ANS named a zxid its leader had not proposed");
}

/* Member i's PROPOSAL_ACK_CREATION_LATENCY count, and the leader's ACK_LATENCY count of id. */
static uint64_t ack_made(uint32_t i)
{
	static struct hist h;

	repl_zk_hist(M[i].r, REPL_ZK_PROPOSAL_ACK_MS, &h);
	return h.count;
}

static uint64_t ack_heard(uint32_t leader, uint32_t id, struct hist_mm *mm)
{
	static struct hist h[REPL_ACK_KEYS];
	uint32_t ids[REPL_ACK_KEYS], n = repl_ack_hists(M[leader].r, ids, h, REPL_ACK_KEYS);

	for (uint32_t k = 0; k < n; k++) {
		if (ids[k] != id)
			continue;
		if (mm)
			hist_mm(&h[k], mm);
		return h[k].count;
	}
	if (mm)
		*mm = (struct hist_mm){0};
	return 0;
}

/*
 * ZooKeeper's PROPOSAL_ACK_CREATION_LATENCY and ACK_LATENCY (ensemble.c's
 * acks_made, acks_received): each txn written counts once on every
 * voter as its entry becomes durable there, and once per member id on
 * the leader (its own id too) as that member's acknowledgement raises
 * its match index; none on a follower.  srst resets the mntr counters
 * (hist_mm) and not the counts.
 */
Test(ensemble, every_txn_is_acked_once_per_member)
{
	uint64_t made[N + 1], heard[N + 1];
	struct hist_mm mm;
	uint32_t L, from, ids[REPL_ACK_KEYS];
	static struct hist h[REPL_ACK_KEYS];
	int64_t s;

	cluster_open(NULL);
	L = elect();
	s = connect_new(L, 1, false);
	cr_assert(s);
	run(10, 10);
	for (uint32_t i = 1; i <= N; i++) {
		made[i] = ack_made(i);
		heard[i] = ack_heard(L, i, NULL);
		cr_assert_geq(made[i], 1, "member %u: the createSession was acked", i);
	}
	for (int32_t k = 0; k < 10; k++) {
		char path[16];

		snprintf(path, sizeof(path), "/a%d", k);
		from = M[L].nout;
		push_create(L, 1, k + 1, s, path);
		cr_assert_eq(result_err(wait_out(L, from, 1)), ZK_OK);
	}
	run(20, 10);
	for (uint32_t i = 1; i <= N; i++) {
		cr_assert_eq(ack_made(i) - made[i], 10, "member %u made %lu acks", i,
			     (unsigned long)(ack_made(i) - made[i]));
		cr_assert_eq(ack_heard(L, i, &mm) - heard[i], 10, "the leader heard member %u", i);
		/* the wall clock against the txns' own: plausible, exact min/max */
		cr_assert(mm.cnt >= 10 && mm.min <= mm.max && mm.max < 60000, "member %u", i);
		if (i != L)
			cr_assert_eq(repl_ack_hists(M[i].r, ids, h, REPL_ACK_KEYS), 0,
				     "a follower counts no acks");
	}
	/* srst: mntr's counters start again, the histograms count on. */
	repl_reset_stats(M[L].r);
	ack_heard(L, L, &mm);
	cr_assert_eq(mm.cnt, 0);
	from = M[L].nout;
	push_create(L, 1, 11, s, "/b");
	cr_assert_eq(result_err(wait_out(L, from, 1)), ZK_OK);
	run(20, 10);
	for (uint32_t i = 1; i <= N; i++) {
		cr_assert_eq(ack_heard(L, i, &mm) - heard[i], 11, "member %u", i);
		cr_assert_eq(mm.cnt, 1, "member %u: one ack since srst", i);
		cr_assert_eq(mm.min, mm.max);
	}
	repl_zk_hist(M[L].r, REPL_ZK_PROPOSAL_ACK_MS, &h[0]);
	hist_mm(&h[0], &mm);
	cr_assert_eq(mm.cnt, 1);
	cr_assert_eq(h[0].count - made[L], 11);
}

/*
 * Issue 13: a write sent to a follower waited up to a tick (tickTime / 2)
 * on the leader before it was proposed.  The follower's forwarded write
 * reached the leader in ens_iterate's peer_poll, after the iteration's
 * proposal step (append_backlog) had run; the iteration reported no
 * work, so the core slept until its next timer with the write prepped
 * and unproposed.  Here the whole write, forward, proposal, the
 * followers' acks, the commit and the follower's answer, happens at one
 * instant: every core woken only by a frame or its log (settle,
 * deliver), never by a timer.  Failed before the fix: the leader's first
 * step prepped the write and reported no work, nothing was proposed.
 */
Test(ensemble, a_forwarded_write_is_committed_before_any_timer)
{
	uint32_t L, F, from;
	int64_t s, last;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	/* Just past the leader's tick: its next timer is a tick away. */
	M[L].now_ms = ens_next_ms(M[L].r);
	settle(L);
	deliver();
	last = M[L].r->last_appended;
	from = M[F].nout;
	push_create(F, 1, 1, s, "/f");
	settle(F);
	cr_assert(frames_for(L), "the follower forwarded the write");
	for (uint32_t i = 1; i <= N; i++)
		cr_assert_lt(M[i].now_ms, ens_next_ms(M[i].r), "member %u: a timer is due", i);
	settle(L);
	cr_assert_gt(M[L].r->last_appended, last,
		     "the leader would sleep with the forwarded write unproposed");
	deliver();
	cr_assert_geq(find_out(F, from, 1), 0, "the follower answered without a timer");
	cr_assert_eq(result_err(&M[F].out[find_out(F, from, 1)]), ZK_OK);
	for (uint32_t i = 1; i <= N; i++)
		cr_assert(exists(i, "/f"), "member %u applied the write", i);
	cr_assert_eq(bad_answers, 0);
}

/*
 * The same on a follower, for a frame read by ens_iterate's late
 * peer_poll (the one that flushes what the pass sent, and reads what
 * arrived meanwhile): the leader's append that carries the commit of a
 * write of the follower's client arrives after the follower's
 * handle_ready, the step that applies it and answers the client.
 * Before the fix the pass reported no work and the client waited for
 * the follower's next timer.  (The leader is stepped here as often as
 * its part takes: the test above is about that part.)
 */
Test(ensemble, a_frame_read_by_the_late_poll_is_handled_before_the_core_sleeps)
{
	uint32_t L, F, O, from;
	int64_t s, last;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	O = other(L, F);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	M[L].now_ms = ens_next_ms(M[L].r);
	settle(L);
	deliver();
	last = M[L].r->last_applied;
	from = M[F].nout;
	push_create(F, 1, 1, s, "/late");
	settle(F);
	for (uint32_t k = 0; k < 10 && M[L].r->last_appended <= last; k++)
		step(L);
	cr_assert_gt(M[L].r->last_appended, last, "the leader proposed the write");
	settle(O);
	settle(F);
	for (uint32_t k = 0; k < 10 && M[L].r->last_applied <= last; k++)
		step(L);
	cr_assert_gt(M[L].r->last_applied, last, "the leader committed the write");
	cr_assert(frames_for(F), "the commit is on its way to the follower");
	cr_assert_eq(find_out(F, from, 1), -1);
	late_to = F;
	late_polls = 0;
	settle(F);
	cr_assert_eq(late_to, 0, "the late poll read the commit");
	cr_assert_geq(find_out(F, from, 1), 0,
		      "the follower would sleep with the commit of its client's write unapplied");
	cr_assert_eq(result_err(&M[F].out[find_out(F, from, 1)]), ZK_OK);
	cr_assert_eq(bad_answers, 0);
}

/* Snapshot metas (ensmeta.*) member i has written. */
static uint32_t metas(uint32_t i)
{
	char dir[700];
	struct dirent *d;
	uint32_t n = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/m%u/cheetah-1", tdir, i);
	dp = opendir(dir);
	cr_assert_not_null(dp, "%s", dir);
	while ((d = readdir(dp)))
		n += strncmp(d->d_name, "ensmeta.", 8) == 0;
	closedir(dp);
	return n;
}

/*
 * While member f is paused and cut off, its leader L takes writes (a
 * client of L's) until it has written three more snapshots (it compacts
 * its log as it writes each: to the one before), so that its
 * log starts past what f holds; then f returns and runs until it
 * installed L's snapshot live (REPL_OUT_TREE on its worker's ring).  The
 * link L -> f is cut (its queue lost) right behind the message that
 * installs it when cut_after_install.  Returns the index of the
 * REPL_OUT_TREE in f's messages.
 */
static uint32_t lag_and_install(uint32_t L, uint32_t f, bool cut_after_install)
{
	uint32_t before = metas(L), xid = 0;
	int64_t sl;

	M[f].paused = true;
	set_links(f, false);
	sl = connect_new(L, 9, false);
	cr_assert(sl);
	for (uint32_t k = 0; k < 400 && metas(L) < before + 3; k++) {
		char path[32];
		uint32_t from = M[L].nout;

		snprintf(path, sizeof(path), "/k%03u", k);
		push_create(L, 9, (int32_t)++xid, sl, path);
		cr_assert_eq(result_err(wait_out(L, from, 9)), ZK_OK);
		usleep(2000); /* snapdir's thread writes meanwhile (real time) */
	}
	/* (three: one requested before the pause may land after it) */
	cr_assert_geq(metas(L), before + 3, "the leader snapshots three times");
	run(20, 10);
	M[f].paused = false;
	set_links(f, true);
	for (uint32_t k = 0; k < 3000; k++) {
		uint32_t from = M[f].nout;

		for (uint32_t i = 1; i <= N; i++) {
			if (i == f && cut_after_install)
				continue;
			M[i].now_ms += 10;
			step(i);
		}
		if (cut_after_install) {
			M[f].now_ms += 10;
			step(f);
		}
		for (uint32_t m = from; m < M[f].nout; m++) {
			if (M[f].out[m].kind != REPL_OUT_TREE)
				continue;
			if (cut_after_install)
				set_links(f, false);
			return m;
		}
		usleep(200);
	}
	cr_assert_fail("member %u never installed its leader's snapshot", f);
	return 0;
}

/*
 * ensfix finding 2 (6b2ccd2).  A follower installs its leader's
 * snapshot live and is cut off before the read index of its catch-up
 * came back: its tree is the leader's fuzzy walk, a state no client may
 * read.  Past the read-only grace period (readonlymode.enabled) it
 * entered read-only mode and gave read-only clients sessions on that
 * tree.  With the fix it stays looking and refuses them; once back with
 * its leader it catches up and serves.
 */
Test(ensemble, no_read_only_clients_before_a_live_install_caught_up)
{
	const char *const ro[] = {"readonlymode.enabled=true", "snapCount=10", NULL};
	uint32_t L, F;

	cluster_open(ro);
	L = elect();
	F = other(L, 0);
	lag_and_install(L, F, true);
	/* Alone past the leader's silence and the read-only grace period (2 s). */
	for (uint32_t k = 0; k < 400; k++) {
		M[F].now_ms += 10;
		step(F);
	}
	cr_assert_eq(connect_new(F, 7, true), 0,
		     "a read-only client got a session on a tree that has not caught up");
	cr_assert_eq(M[F].out[M[F].nout - 1].kind, REPL_OUT_EXPIRE, "its connect is closed");
	cr_assert(is_state(F, "looking"), "member %u: %s", F, ens_state(M[F].r));
	/* Back with its leader: it catches up and serves. */
	set_links(F, true);
	for (uint32_t k = 0; k < 1000 && !is_state(F, "follower"); k++)
		run(1, 10);
	cr_assert(is_state(F, "follower"));
	for (uint32_t k = 0; k < 1000; k++) {
		int64_t s = connect_new(F, 8 + k, false);

		if (s)
			break;
		cr_assert_lt(k, 999, "the member never serves again");
	}
	cr_assert_eq(bad_answers, 0);
}

/*
 * ensfix finding 4 (4ca6a80).  A follower's client closes its session
 * and pipelines a create after it; the leader answers the create
 * SESSIONEXPIRED (the session is closing) by an F_ANS naming the
 * close's zxid, and the link to the follower breaks right behind that
 * answer (the append carrying the close is lost).  The follower, paused
 * while the leader writes past two snapshots, comes back and installs
 * the leader's snapshot live.  The answered entry waited for a zxid the
 * install skips: it stayed in the learner FIFO and was answered after
 * the tree switch, against the new tree.  With the fix the FIFO is
 * empty before the switch: every request from before it is answered or
 * its connection closed before REPL_OUT_TREE, nothing after it names one
 * (repl.h: everything after the message concerns the new tree).
 */
Test(ensemble, the_learner_fifo_is_empty_before_a_live_install)
{
	const char *const snap[] = {"snapCount=10", NULL};
	uint32_t L, F, t, from;
	int64_t sa;

	cluster_open(snap);
	L = elect();
	F = other(L, 0);
	sa = connect_new(F, 1, false);
	cr_assert(sa);
	run(5, 10);
	from = M[F].nout;
	push(F, REPL_IN_CLOSE, 1, 5, sa, NULL);
	push_create(F, 1, 6, sa, "/w");
	M[F].now_ms += 1;
	step(F);
	M[L].now_ms += 1;
	step(L); /* prepped: the close, and the create's answer (held) */
	cut_from = L;
	cut_to = F;
	cut_type = F_ANS;
	M[L].now_ms += 1;
	step(L); /* the close proposed, the answer sent, the link broken behind it */
	cr_assert(!link_up[L][F] && cut_from == 0, "the answer left");
	M[F].now_ms += 1;
	step(F); /* the answer arrives; the close it names does not */
	cr_assert_eq(find_out(F, from, 1), -1, "nothing answered yet");
	t = lag_and_install(L, F, false);
	for (uint32_t m = t + 1; m < M[F].nout; m++)
		cr_assert(M[F].out[m].conn != 1,
			  "message kind %u for connection 1 (xid %d) after the tree switch",
			  M[F].out[m].kind, M[F].out[m].xid);
	cr_assert(find_out(F, from, 1) >= 0 && (uint32_t)find_out(F, from, 1) < t &&
		      M[F].out[find_out(F, from, 1)].kind == REPL_OUT_EXPIRE,
		  "connection 1 closed before the switch");
	/* It catches up and holds what the others hold. */
	for (uint32_t k = 0; k < 1000 && !is_state(F, "follower"); k++)
		run(1, 10);
	run(50, 10);
	cr_assert(is_state(F, "follower"));
	cr_assert_eq(M[F].r->last_applied, M[L].r->last_applied);
	cr_assert(!exists(F, "/w") && exists(F, "/k000"));
	cr_assert_null(sess_find(M[F].r->sess, sa), "the close committed");
	cr_assert_eq(bad_answers, 0);
}

/* The newest snapshot of member i that has its ensmeta, and every log file, into dst. */
static void backup(uint32_t i, const char *dst)
{
	char dir[700], path[1024];
	struct dirent *d;
	char best[64] = "";
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/m%u/cheetah-1", tdir, i);
	dp = opendir(dir);
	cr_assert_not_null(dp);
	while ((d = readdir(dp))) {
		if (strncmp(d->d_name, "snapshot.", 9) || strlen(d->d_name) != 25)
			continue;
		snprintf(path, sizeof(path), "%s/ensmeta.%s", dir, d->d_name + 9);
		if (access(path, F_OK) == 0 && strcmp(d->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", d->d_name);
	}
	closedir(dp);
	cr_assert(best[0], "member %u has a snapshot with its meta", i);
	cr_assert_eq(mkdir(dst, 0700), 0);
	/* Not the hardstate, nor the snapshots other than best. */
	dp = opendir(dir);
	cr_assert_not_null(dp);
	while ((d = readdir(dp))) {
		bool log = strncmp(d->d_name, "log.", 4) == 0;
		bool snap = strcmp(d->d_name, best) == 0;
		bool meta =
		    strncmp(d->d_name, "ensmeta.", 8) == 0 && strcmp(d->d_name + 8, best + 9) == 0;
		char from[1024], to[1024];

		if (!log && !snap && !meta)
			continue;
		snprintf(from, sizeof(from), "%s/%s", dir, d->d_name);
		snprintf(to, sizeof(to), "%s/%s", dst, d->d_name);
		cr_assert_eq(link(from, to), 0, "%s", from);
	}
	closedir(dp);
}

/*
 * Restoring a whole ensemble from one member's copy (docs/OPERATIONS.md):
 * the newest snapshot with its ensmeta and every log file of a follower,
 * no hardstate, into every member's emptied data dir.  Each starts in the
 * term of its data with no vote (ens_open; before, the consensus core
 * refused a log of term 1 in term 0 and the member did not start), they
 * elect, and every member holds the copy's state, applies the same
 * zxids, and takes new writes.
 */
Test(ensemble, a_whole_ensemble_restored_from_one_members_copy)
{
	const char *const snap[] = {"snapCount=10", NULL};
	char copy[700], dir[700];
	uint32_t L, F, xid = 0;
	int64_t sl, last;

	cluster_open(snap);
	L = elect();
	F = other(L, 0);
	sl = connect_new(L, 9, false);
	cr_assert(sl);
	for (uint32_t k = 0; k < 40; k++) {
		char path[32];
		uint32_t from = M[L].nout;

		snprintf(path, sizeof(path), "/k%03u", k);
		push_create(L, 9, (int32_t)++xid, sl, path);
		cr_assert_eq(result_err(wait_out(L, from, 9)), ZK_OK);
		usleep(2000); /* snapdir's thread writes meanwhile (real time) */
	}
	run(30, 10);
	last = M[F].r->last_applied;
	cr_assert_eq(last, M[L].r->last_applied, "the follower applied everything");
	snprintf(copy, sizeof(copy), "%s/copy", tdir);
	backup(F, copy);
	for (uint32_t i = 1; i <= N; i++) {
		member_close(i);
		snprintf(dir, sizeof(dir), "%s/m%u", tdir, i);
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
	while (fq_head) {
		struct frame *f = fq_head;

		fq_head = f->next;
		free(f);
	}
	fq_tail = &fq_head;
	restore_src = copy;
	cluster_open(snap);
	restore_src = NULL;
	L = elect();
	run(30, 10);
	for (uint32_t i = 1; i <= N; i++) {
		cr_assert_geq(M[i].r->last_applied, last,
			      "member %u applied 0x%llx, the copy 0x%llx", i,
			      (unsigned long long)M[i].r->last_applied, (unsigned long long)last);
		for (uint32_t k = 0; k < 40; k++) {
			char path[32];

			snprintf(path, sizeof(path), "/k%03u", k);
			cr_assert(exists(i, path), "member %u lacks %s", i, path);
		}
	}
	sl = connect_new(L, 9, false);
	cr_assert(sl);
	{
		uint32_t from = M[L].nout;

		push_create(L, 9, 1, sl, "/after");
		cr_assert_eq(result_err(wait_out(L, from, 9)), ZK_OK);
	}
	run(30, 10);
	for (uint32_t i = 1; i <= N; i++) {
		cr_assert(exists(i, "/after"), "member %u", i);
		cr_assert_eq(M[i].r->last_applied, M[L].r->last_applied);
		cr_assert_eq(tree_node_count(repl_tree(M[i].r)),
			     tree_node_count(repl_tree(M[L].r)));
	}
	cr_assert_eq(bad_answers, 0);
}

/* ------------------------------------------------------------------ */
/* Bounds on forwarded requests                                        */

/*
 * docs/OPERATIONS.md's bounds: a follower keeps at most FWD_MAX
 * requests in flight to its leader (ensemble.h ENS_FWD_MAX); the leader
 * keeps at most 4 times that of one member (ensemble.c FWD_LEADER_MAX).
 */
#define FWD_MAX 8192u
#define FWD_LEADER_MAX (4u * FWD_MAX)

/* Pushes creates /<prefix><xid> for xids [*xid, end) while the ring takes them. */
static void push_creates(uint32_t i, uint32_t conn, int64_t session, const char *prefix,
			 int32_t *xid, int32_t end)
{
	char path[32];

	while (*xid < end && ring_count(repl_in_ring(M[i].r, 0)) < RING_SIZE_TEST) {
		snprintf(path, sizeof(path), "/%s%d", prefix, *xid);
		push_create(i, conn, *xid, session, path);
		(*xid)++;
	}
}

/*
 * A follower whose clients send faster than its leader answers (here:
 * the leader does not step while the follower takes three ringfuls of
 * creates) forwards FWD_MAX of them and leaves the rest in its worker's
 * ring (the dataplane's backpressure), instead of queueing all of them
 * at the leader.  Nothing is dropped: once the leader steps, every
 * create is applied and answered, in the order sent.
 */
Test(ensemble, a_flooded_follower_forwards_no_more_than_its_bound_and_drops_nothing)
{
	const int32_t total = (int32_t)(FWD_MAX + RING_SIZE_TEST);
	uint32_t L, F, from;
	int32_t xid = 1, want = 1;
	int64_t s;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	deliver();
	from = M[F].nout;
	for (int round = 0; round < 4 && xid < total; round++) {
		push_creates(F, 1, s, "f", &xid, total);
		settle(F); /* the leader does not step: the frames wait for it */
		cr_assert_leq(frames_of(F, L, F_REQ), FWD_MAX, "round %d: %u requests forwarded",
			      round, frames_of(F, L, F_REQ));
	}
	cr_assert_eq(xid, total, "the test pushed everything");
	cr_assert_eq(frames_of(F, L, F_REQ), FWD_MAX);
	cr_assert_eq(ring_count(repl_in_ring(M[F].r, 0)), (uint32_t)(total - 1 - (int32_t)FWD_MAX),
		     "the rest waits in the worker's ring");
	/* The leader steps: everything goes through, in order. */
	for (uint32_t k = 0; k < 3000 && want < total; k++) {
		run(1, 10);
		for (uint32_t at = from; at < M[F].nout; at++) {
			const struct repl_out *o = &M[F].out[at];

			if (o->conn != 1 ||
			    (o->kind != REPL_OUT_RESULT && o->kind != REPL_OUT_EXPIRE))
				continue;
			cr_assert_eq(o->kind, REPL_OUT_RESULT, "kind %u at xid %d", o->kind, want);
			cr_assert_eq(o->xid, want, "answers out of order");
			cr_assert_eq(result_err(o), ZK_OK, "xid %d: %d", want, result_err(o));
			want++;
		}
		from = M[F].nout;
	}
	cr_assert_eq(want, total, "%d of %d creates answered", want - 1, total - 1);
	cr_assert(exists(L, "/f1") && exists(L, "/f12287") && exists(F, "/f12287"));
}


/*
 * A misbehaving follower (its bound ignored: the frames are the test's)
 * sends its leader more than FWD_LEADER_MAX writes at once.  The leader
 * takes FWD_LEADER_MAX of them and refuses the rest, none silently:
 * each gets ZK_CONNECTIONLOSS (its connection is closed).  So that no
 * later write of the session runs without the refused ones (FIFO
 * order), the session's later writes are answered SESSIONMOVED, from
 * any member, until a reconnect claims it.
 */
Test(ensemble, a_leader_refuses_what_a_follower_forwards_beyond_its_bound)
{
	const int32_t extra = 10, total = (int32_t)FWD_LEADER_MAX + extra;
	uint32_t L, F, O;
	int32_t min_xid;
	int64_t s;
	char path[32];

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	O = other(L, F);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	deliver();
	for (int32_t x = 1; x <= total; x++) {
		snprintf(path, sizeof(path), "/m%d", x);
		inject_create(F, L, s, x, path);
	}
	step(L); /* takes every frame in one poll */
	cr_assert_eq(frames_of(F, L, F_REQ), 0, "the leader read them all");
	cr_assert_leq(M[L].r->qlen, FWD_LEADER_MAX + 4, "the leader keeps %u requests",
		      M[L].r->qlen);
	cr_assert_eq(answers_of(L, F, s, ZK_CONNECTIONLOSS, &min_xid), (uint32_t)extra,
		     "each refused write is answered");
	cr_assert_eq(min_xid, total - extra + 1, "the last ones are refused");
	/* What it took is applied (the test's follower answers nobody). */
	for (uint32_t k = 0; k < 3000 && !exists(L, "/m32768"); k++)
		run(1, 10);
	cr_assert(exists(L, "/m1") && exists(L, "/m32768"));
	cr_assert(!exists(L, "/m32769"), "a refused write was applied");
	/* A later write of the session, forwarded by either follower: SESSIONMOVED. */
	deliver();
	inject_create(F, L, s, total + 1, "/after");
	inject_create(O, L, s, total + 2, "/after2");
	step(L);
	cr_assert_eq(answers_of(L, F, s, ZK_SESSIONMOVED, &min_xid), 1);
	cr_assert_eq(min_xid, total + 1);
	cr_assert_eq(answers_of(L, O, s, ZK_SESSIONMOVED, &min_xid), 1);
	run(20, 10);
	cr_assert(!exists(L, "/after") && !exists(L, "/after2"));
}

/*
 * Member i's answer to a create of session on conn: its error, or
 * INT32_MIN when the connection was closed instead (REPL_OUT_EXPIRE).
 */
static int32_t create_via(uint32_t i, uint32_t conn, int64_t session, int32_t xid, const char *path)
{
	uint32_t from = M[i].nout;
	struct repl_out *o;

	push_create(i, conn, xid, session, path);
	/* Behind what the leader took: a few thousand rounds at most. */
	for (uint32_t k = 0; k < 3000 && find_out(i, from, conn) < 0; k++)
		run(1, 10);
	o = wait_out(i, from, conn);
	if (o->kind == REPL_OUT_EXPIRE)
		return INT32_MIN;
	cr_assert_eq(o->kind, REPL_OUT_RESULT);
	cr_assert_eq(o->xid, xid);
	return result_err(o);
}

/*
 * The cut (SESS_MEMBER_CUT) is there so that nothing a session sent on
 * the refusing follower after the refused request runs.  A session that
 * another member owns (its client reconnected there) has nothing to
 * protect on the refusing follower: the leader would have answered its
 * stale request SESSIONMOVED anyway.  Refusing a flooded follower's
 * stale frame must not take the session from the member its client is
 * connected to: its next write there succeeds.
 */
Test(ensemble, a_refusal_leaves_a_session_another_member_owns_alone)
{
	uint32_t L, F, O;
	int32_t min_xid, rc;
	int64_t s, flood;
	char path[32];

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	O = other(L, F);
	s = connect_new(O, 1, false); /* owned by O */
	flood = connect_new(F, 1, false);
	cr_assert(s && flood);
	run(5, 10);
	deliver();
	/* F has as many requests at the leader as it may ... */
	for (int32_t x = 1; x <= (int32_t)FWD_LEADER_MAX; x++) {
		snprintf(path, sizeof(path), "/m%d", x);
		inject_create(F, L, flood, x, path);
	}
	/* ... and a stale write of s (an old connection of its client) comes after. */
	inject_create(F, L, s, 7, "/stale");
	step(L);
	cr_assert_eq(frames_of(F, L, F_REQ), 0, "the leader read them all");
	cr_assert_eq(answers_of(L, F, s, ZK_CONNECTIONLOSS, &min_xid), 1,
		     "the stale write refused");
	/* s's client, on O, goes on. */
	rc = create_via(O, 1, s, 1, "/o1");
	cr_assert_eq(rc, ZK_OK, "the session's write on its own member failed (%d%s)", rc,
		     rc == INT32_MIN ? ": its connection closed" : "");
	cr_assert(exists(L, "/o1") && !exists(L, "/stale"));
}

/*
 * A session cut at the leader (a refused request of its follower) gets
 * its writes back once its client reconnects: the reconnect's
 * revalidation claims it for the member it reached.
 */
Test(ensemble, a_cut_session_writes_again_after_its_client_reconnects)
{
	uint32_t L, F, from;
	int32_t min_xid;
	int64_t s;
	uint8_t pw[16];
	struct repl_connect *c;
	struct repl_out *o;
	char path[32];

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	from = M[F].nout;
	s = connect_new(F, 1, false);
	cr_assert(s);
	o = &M[F].out[find_out(F, from, 1)];
	memcpy(pw, ((struct repl_connected *)o->body)->passwd, sizeof(pw));
	run(5, 10);
	deliver();
	for (int32_t x = 1; x <= (int32_t)FWD_LEADER_MAX + 1; x++) {
		snprintf(path, sizeof(path), "/m%d", x);
		inject_create(F, L, s, x, path);
	}
	step(L);
	cr_assert_eq(answers_of(L, F, s, ZK_CONNECTIONLOSS, &min_xid), 1);
	for (uint32_t k = 0; k < 3000 && !exists(F, "/m32768"); k++)
		run(1, 10);
	cr_assert(exists(F, "/m32768"));
	/* Cut: a write on F now closes its connection. */
	cr_assert_eq(create_via(F, 1, s, 40000, "/cut"), INT32_MIN);
	/* The client reconnects to F with its session: revalidated, claimed. */
	c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->session = s;
	c->timeout = 30000;
	memcpy(c->passwd, pw, sizeof(pw));
	c->passwd_len = sizeof(pw);
	from = M[F].nout;
	push(F, REPL_IN_CONNECT, 2, 0, 0, c);
	o = wait_out(F, from, 2);
	cr_assert_eq(o->kind, REPL_OUT_CONNECTED);
	cr_assert_eq(((struct repl_connected *)o->body)->err, ZK_OK);
	cr_assert_eq(create_via(F, 2, s, 40001, "/back"), ZK_OK);
	cr_assert(exists(L, "/back") && !exists(L, "/cut"));
}

/*
 * obsflap: a learner at its forwarding bound (ens_learner_full: it takes
 * no input from its workers, touches included) whose link to its leader
 * breaks.  What it forwarded is lost with the link; it must take input
 * again well before LQ_TIMEOUT_TICKS (40 ticks), else its clients'
 * pings wait that long in the ring and their sessions may expire at the
 * leader.  The waiting requests' connections are closed (ZooKeeper's
 * learner closes every client connection when it loses its leader:
 * Learner.shutdown -> closeAllConnections), and so are those the ring
 * still held (the leader is unreachable: nothing is forwarded).  With
 * pause_leader the leader goes silent instead (paused, the link up):
 * given up after syncLimit tickTimes (ZooKeeper's learner read timeout).
 * Returns the rounds of 10 ms (a raft tick is 50 ms) until the learner
 * took everything from its ring and is below its bound (each round ends
 * as core_main would: the learner iterates while it finds work).
 */
#define FLAP_MAX_ROUNDS 400 /* 4 s: past LQ_TIMEOUT_TICKS (2 s here) */

/*
 * Pushes creates of session s on connection 1 of learner X, with its
 * leader not stepping, until X has forwarded up to its bound and the
 * rest (RING_SIZE_TEST / 2 more) waits in its worker's ring.
 */
static void flood_to_bound(uint32_t X, int64_t s, int32_t *xid)
{
	const int32_t total = (int32_t)(FWD_MAX + RING_SIZE_TEST / 2);

	for (int round = 0; round < 4 && *xid < total; round++) {
		push_creates(X, 1, s, "f", xid, total);
		settle(X);
	}
	cr_assert_eq(*xid, total, "the test pushed everything");
}

static uint32_t flap_at_bound(uint32_t L, uint32_t F, bool pause_leader)
{
	int32_t xid = 1;
	uint32_t from, rounds, expired = 0;
	int64_t s, s2;

	s = connect_new(F, 1, false);
	s2 = connect_new(F, 2, false);
	cr_assert(s && s2);
	run(5, 10);
	deliver();
	/* The leader does not step: F forwards up to its bound, the rest waits in the ring. */
	flood_to_bound(F, s, &xid);
	cr_assert(ens_learner_full(M[F].r), "the learner is at its bound");
	push(F, REPL_IN_TOUCH, 2, 0, s2, NULL); /* a ping behind the creates */
	settle(F);
	cr_assert(ens_learner_full(M[F].r));
	cr_assert_gt(ring_count(repl_in_ring(M[F].r, 0)), 0, "input waits in the worker's ring");
	from = M[F].nout;
	if (pause_leader) {
		M[L].paused = true; /* silent: its link stays up, nothing comes back */
	} else {
		/* The link between F and its leader breaks: what was on it is lost. */
		link_up[F][L] = link_up[L][F] = false;
		drop_queued(F, L);
		drop_queued(L, F);
	}
	for (rounds = 1; rounds <= FLAP_MAX_ROUNDS; rounds++) {
		run(1, 10);
		settle(F); /* the core iterates at once while it takes input (IN_BURST a pass) */
		if (ring_count(repl_in_ring(M[F].r, 0)) == 0 && !ens_learner_full(M[F].r))
			break;
	}
	cr_assert_leq(rounds, FLAP_MAX_ROUNDS,
		      "the learner took no input for %u rounds (%u ticks) after its leader "
		      "link broke: %u requests still in its ring",
		      FLAP_MAX_ROUNDS, FLAP_MAX_ROUNDS / 5, ring_count(repl_in_ring(M[F].r, 0)));
	/* The waiting creates' connection was closed (connection loss), never answered wrong. */
	for (uint32_t at = from; at < M[F].nout; at++) {
		const struct repl_out *o = &M[F].out[at];

		if (o->conn != 1)
			continue;
		if (o->kind == REPL_OUT_EXPIRE)
			expired++;
		else if (o->kind == REPL_OUT_RESULT)
			cr_assert_eq(result_err(o), ZK_OK, "xid %d answered %d", o->xid,
				     result_err(o));
	}
	cr_assert_gt(expired, 0, "the lost requests' connection was closed");
	return rounds;
}

/* Well before the 40-tick timeout: 4 ticks (a follower's turn to give up is a fraction of one). */
#define FLAP_BOUND_ROUNDS 20

Test(ensemble, an_observer_at_its_bound_takes_input_again_once_its_leader_link_breaks)
{
	uint32_t L, rounds;

	obs_id = 3;
	cluster_open(NULL);
	L = elect();
	cr_assert(L != obs_id && is_state(obs_id, "observer"));
	rounds = flap_at_bound(L, obs_id, false);
	cr_assert_leq(rounds, FLAP_BOUND_ROUNDS,
		      "the observer took input again only after %u rounds (%u ticks)", rounds,
		      rounds / 5);
}

Test(ensemble, a_follower_at_its_bound_takes_input_again_once_its_leader_link_breaks)
{
	uint32_t L, F, rounds;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	rounds = flap_at_bound(L, F, false);
	cr_assert_leq(rounds, FLAP_BOUND_ROUNDS,
		      "the follower took input again only after %u rounds (%u ticks)", rounds,
		      rounds / 5);
}

/* SILENCE_MS is 50 rounds: given up then, not after LQ_TIMEOUT_TICKS (200 rounds). */
#define SILENT_BOUND_ROUNDS (SILENCE_MS / 10 + FLAP_BOUND_ROUNDS)

Test(ensemble, an_observer_at_its_bound_takes_input_again_once_its_leader_is_silent)
{
	uint32_t L, rounds;

	obs_id = 3;
	cluster_open(NULL);
	L = elect();
	cr_assert(L != obs_id && is_state(obs_id, "observer"));
	rounds = flap_at_bound(L, obs_id, true);
	cr_assert_leq(rounds, SILENT_BOUND_ROUNDS,
		      "the observer took input again only after %u rounds (%u ticks)", rounds,
		      rounds / 5);
}

/*
 * The zxid a read queued behind a write of its session shows
 * (REPL_OUT_READ's, the reply header's) is at least that write's: the
 * read runs on the tree the write was applied to, after the write's
 * result.  Found by test_ensrand (seed 1): ensemble.c's apply_txn ran
 * the reads that waited for a txn (q_pop, lq_pop) before it advanced
 * last_applied, so they showed the zxid before the txn: on the leader
 * and on a follower a client saw its zxid go back (a Java client takes
 * the reply header's zxid as its lastZxid, and a reconnect with it may
 * land on a member that has not applied its write).
 */
static void write_then_read(uint32_t i, uint32_t conn, int64_t s)
{
	uint32_t from = M[i].nout;
	int at;
	int64_t wz;

	push_create(i, conn, 1, s, "/wr");
	push_read(i, conn, 2, s, "/");
	for (uint32_t k = 0; k < 1000; k++) {
		at = find_out(i, from, conn);
		if (at >= 0 && find_out(i, (uint32_t)at + 1, conn) >= 0)
			break;
		run(1, 10);
	}
	at = find_out(i, from, conn);
	cr_assert_geq(at, 0);
	cr_assert_eq(M[i].out[at].kind, REPL_OUT_RESULT);
	cr_assert_eq(result_err(&M[i].out[at]), ZK_OK);
	wz = M[i].out[at].zxid;
	at = find_out(i, (uint32_t)at + 1, conn);
	cr_assert_geq(at, 0, "member %u: the read was answered", i);
	cr_assert_eq(M[i].out[at].kind, REPL_OUT_READ);
	cr_assert_geq(M[i].out[at].zxid, wz,
		      "member %u: the read after a write shows zxid 0x%llx, the write 0x%llx", i,
		      (unsigned long long)M[i].out[at].zxid, (unsigned long long)wz);
}

Test(ensemble, a_read_behind_a_write_shows_at_least_the_writes_zxid_on_the_leader)
{
	uint32_t L;
	int64_t s;

	cluster_open(NULL);
	L = elect();
	s = connect_new(L, 1, false);
	cr_assert(s);
	run(5, 10);
	write_then_read(L, 1, s);
}

Test(ensemble, a_read_behind_a_write_shows_at_least_the_writes_zxid_on_a_follower)
{
	uint32_t L, F;
	int64_t s;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	write_then_read(F, 1, s);
}

/*
 * What a closed connection's client had sent runs nowhere.  An observer
 * at its forwarding bound holds its worker's input in the ring; its
 * leader link breaks: it closes every client connection (Learner.
 * shutdown -> closeAllConnections) and takes input again; the link comes
 * back before it drained the ring.  Before the fix the requests of the
 * closed connection still in the ring were forwarded over the new link
 * and applied, after the connection loss its client was told of: a
 * client that reconnected elsewhere and went on saw its earlier writes
 * applied after its later ones (test_ensrand, seed 50001004: xid 2
 * applied after xid 75).  Now the core drops input of a connection it
 * closed (repl.c, closed_input), as a server never reads what a client
 * sent after its connection closed.
 */
Test(ensemble, an_observer_forwards_nothing_of_a_connection_it_closed_once_its_leader_is_back)
{
	const int32_t total = (int32_t)(FWD_MAX + RING_SIZE_TEST / 2);
	int32_t xid = 1;
	uint32_t L, O, from;
	int64_t s;
	char path[32];

	obs_id = 3;
	O = obs_id;
	cluster_open(NULL);
	L = elect();
	s = connect_new(O, 1, false);
	cr_assert(s);
	run(5, 10);
	deliver();
	/* The leader does not step: O forwards up to its bound, the rest waits in the ring. */
	flood_to_bound(O, s, &xid);
	cr_assert(ens_learner_full(M[O].r), "the observer is at its bound");
	from = M[O].nout;
	/* Its leader link breaks (what was on it is lost): one step of O. */
	link_up[O][L] = link_up[L][O] = false;
	drop_queued(O, L);
	drop_queued(L, O);
	M[O].now_ms += 1;
	step(O);
	cr_assert(find_out(O, from, 1) >= 0 && M[O].out[find_out(O, from, 1)].kind == REPL_OUT_EXPIRE,
		  "the client's connection is closed");
	cr_assert_gt(ring_count(repl_in_ring(M[O].r, 0)), 0, "its requests still wait in the ring");
	/* The link is back before O drained its ring. */
	link_up[O][L] = link_up[L][O] = true;
	run(300, 10);
	cr_assert_eq(ring_count(repl_in_ring(M[O].r, 0)), 0);
	for (int32_t x = 1; x < total; x++) {
		snprintf(path, sizeof(path), "/f%d", x);
		cr_assert(!exists(L, path), "%s, sent on a connection closed before, was applied",
			  path);
	}
	for (uint32_t at = from; at < M[O].nout; at++)
		cr_assert(!(M[O].out[at].conn == 1 && M[O].out[at].kind == REPL_OUT_RESULT),
			  "xid %d of the closed connection answered", M[O].out[at].xid);
}

/*
 * The same with two connections whose ids share their low nine bits.
 * closed_input first kept 512 slots, direct-mapped by id: the second
 * close of the observer's mass close took the first one's slot, and that
 * connection's queued requests were forwarded and applied once the link
 * was back (a review of the fix).  Now it keeps one per connection slot.
 * And a closeSession waiting among them runs: the review found it dropped
 * too, its client's ephemerals then living until the session timeout.
 */
Test(ensemble, an_observer_forwards_nothing_of_closed_connections_sharing_a_slot_of_old)
{
	const uint32_t conn[2] = {1, 1 + 512};
	const int32_t total = (int32_t)(FWD_MAX + RING_SIZE_TEST / 2);
	int32_t xid = 1;
	int64_t s[2];
	uint32_t L, O, from;
	char path[32];

	obs_id = 3;
	O = obs_id;
	cluster_open(NULL);
	L = elect();
	s[0] = connect_new(O, conn[0], false);
	s[1] = connect_new(O, conn[1], false);
	cr_assert(s[0] && s[1]);
	run(5, 10);
	deliver();
	/* Both forward up to the observer's bound, and both have more in the ring. */
	for (int round = 0; round < 4 && xid < total; round++) {
		while (xid < total && ring_count(repl_in_ring(M[O].r, 0)) < RING_SIZE_TEST) {
			snprintf(path, sizeof(path), "/%c%d", 'f' + xid % 2, xid);
			push_create(O, conn[xid % 2], xid, s[xid % 2], path);
			xid++;
		}
		settle(O);
	}
	cr_assert(ens_learner_full(M[O].r), "the observer is at its bound");
	/* The first client closes its session; the close waits in the ring too. */
	cr_assert_lt(ring_count(repl_in_ring(M[O].r, 0)), RING_SIZE_TEST);
	push(O, REPL_IN_CLOSE, conn[0], xid, s[0], NULL);
	from = M[O].nout;
	link_up[O][L] = link_up[L][O] = false;
	drop_queued(O, L);
	drop_queued(L, O);
	M[O].now_ms += 1;
	step(O);
	for (int k = 0; k < 2; k++)
		cr_assert(find_out(O, from, conn[k]) >= 0 &&
			      M[O].out[find_out(O, from, conn[k])].kind == REPL_OUT_EXPIRE,
			  "connection %u is closed", conn[k]);
	cr_assert_gt(ring_count(repl_in_ring(M[O].r, 0)), 0, "their requests still wait in the ring");
	link_up[O][L] = link_up[L][O] = true;
	run(300, 10);
	cr_assert_eq(ring_count(repl_in_ring(M[O].r, 0)), 0);
	for (int32_t x = 1; x < xid; x++) {
		snprintf(path, sizeof(path), "/%c%d", 'f' + x % 2, x);
		cr_assert(!exists(L, path), "%s, sent on connection %u closed before, was applied",
			  path, conn[x % 2]);
	}
	/* A closeSession is never stale (ZooKeeper's Request.isStale): it ran. */
	cr_assert_null(sess_find(M[L].r->sess, s[0]), "the session its client closed lives on");
	cr_assert_not_null(sess_find(M[L].r->sess, s[1]));
}

/*
 * A leader that does not serve (it has not heard a quorum for syncLimit:
 * stopped without a term change) refuses what a follower forwards
 * (CONNECTIONLOSS: the client's connection closes).  Before the fix the
 * session's next request, forwarded once the leader served again, was
 * applied without the refused one (test_ensrand seed 780: xid 147
 * refused, 148 applied); now the refusal cuts the session as a refusal
 * over the bound does (fwd_admit), and the cut outlives the return to
 * serving: the next write is answered SESSIONMOVED until the client
 * reconnects.
 */
Test(ensemble, a_refusal_while_not_serving_cuts_the_session_until_its_client_reconnects)
{
	uint32_t L, F;
	int32_t min_xid;
	int64_t s;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	deliver();
	/* The leader stops serving: one step twice syncLimit after it heard its followers. */
	M[L].now_ms += 2 * SILENCE_MS;
	step(L);
	cr_assert(!is_state(L, "leader"), "the leader stops serving");
	inject_create(F, L, s, 1, "/a");
	M[L].now_ms += 1;
	step(L);
	cr_assert_eq(answers_of(L, F, s, ZK_CONNECTIONLOSS, &min_xid), 1, "refused");
	for (uint32_t k = 0; k < 200 && !is_state(L, "leader"); k++)
		run(1, 10);
	cr_assert(is_state(L, "leader"), "the leader serves again");
	deliver();
	inject_create(F, L, s, 2, "/b");
	M[L].now_ms += 1;
	step(L);
	cr_assert_eq(answers_of(L, F, s, ZK_SESSIONMOVED, &min_xid), 1,
		     "the next write of the session is refused too");
	run(20, 10);
	cr_assert(!exists(L, "/a") && !exists(L, "/b"),
		  "a write applied without the one refused before it");
}

/*
 * A leader that stops serving for want of a quorum and serves again in
 * the same term keeps the sessions' owners: nobody else could claim one
 * meanwhile.  Before the fix start_serving forgot them all, as a new
 * leader must, and a stale request of a session whose client had moved
 * to the leader, forwarded late by the follower it had left, claimed the
 * session back and ran after the client's later writes (test_ensrand
 * seed 160000973: xid 131 applied after xid 137).  Now it is answered
 * SESSIONMOVED.
 */
Test(ensemble, a_leader_serving_again_in_its_term_keeps_the_sessions_owners)
{
	uint32_t L, F, from;
	int32_t min_xid;
	int64_t s, epoch;
	uint8_t pw[16];
	struct repl_connect *c;
	struct repl_out *o;
	struct repl_quorum q;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	from = M[F].nout;
	s = connect_new(F, 1, false);
	cr_assert(s);
	o = &M[F].out[find_out(F, from, 1)];
	memcpy(pw, ((struct repl_connected *)o->body)->passwd, sizeof(pw));
	run(5, 10);
	/* The client moves to the leader: the session is the leader's own now. */
	c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->session = s;
	c->timeout = 30000;
	memcpy(c->passwd, pw, sizeof(pw));
	c->passwd_len = sizeof(pw);
	from = M[L].nout;
	push(L, REPL_IN_CONNECT, 2, 1, 0, c);
	o = wait_out(L, from, 2);
	cr_assert_eq(o->kind, REPL_OUT_CONNECTED);
	cr_assert_eq(((struct repl_connected *)o->body)->err, ZK_OK);
	cr_assert(ens_quorum_stats(M[L].r, &q));
	epoch = q.epoch_zxid;
	deliver();
	/* It stops serving and serves again, in the same term. */
	M[L].now_ms += 2 * SILENCE_MS;
	step(L);
	cr_assert(!is_state(L, "leader"), "the leader stops serving");
	for (uint32_t k = 0; k < 200 && !is_state(L, "leader"); k++)
		run(1, 10);
	cr_assert(is_state(L, "leader"), "the leader serves again");
	cr_assert(ens_quorum_stats(M[L].r, &q));
	cr_assert_eq(q.epoch_zxid, epoch, "in the same term");
	deliver();
	/* A stale write of the session from the follower its client left. */
	inject_create(F, L, s, 7, "/stale");
	M[L].now_ms += 1;
	step(L);
	cr_assert_eq(answers_of(L, F, s, ZK_SESSIONMOVED, &min_xid), 1,
		     "the stale write is answered SESSIONMOVED");
	run(20, 10);
	cr_assert(!exists(L, "/stale"), "a stale write of a moved session was applied");
}

/*
 * A follower's link to its leader breaks with a forwarded create of a
 * connection in flight (lost with the link's queue) and comes back
 * before the follower's turn to give its leader up (leader_gone: the
 * higher id of the two followers waits one turn); the client's next
 * create goes on the new link.  Before the fix only an observer failed
 * what was in doubt at the break (observer_lost_leader): the follower
 * forwarded the second create, the leader applied it, and the first
 * was never applied (test_ensrand counted such gaps).  Now the follower
 * closes the connections of its requests in doubt when the link breaks
 * (learner_link_lost), and the core drops the second create of the
 * closed connection (repl.c, closed_input): neither is applied.  A
 * connection with nothing in doubt stays open.
 */
Test(ensemble, a_follower_fails_what_it_forwarded_when_its_leader_link_breaks)
{
	uint32_t L, F, from;
	int64_t s, s2;
	bool closed, other_open;
	int at;

	cluster_open(NULL);
	L = elect();
	F = L == N ? N - 1 : N; /* the higher id of the followers: its turn comes second */
	cr_assert(is_state(F, "follower"));
	s = connect_new(F, 1, false);
	s2 = connect_new(F, 2, false);
	cr_assert(s && s2);
	run(5, 10);
	deliver();
	push_create(F, 1, 1, s, "/a");
	M[F].now_ms += 1;
	step(F);
	cr_assert_eq(frames_of(F, L, F_REQ), 1, "the first create is on the link");
	/* The link breaks both ways: the create on it is lost. */
	link_up[F][L] = link_up[L][F] = false;
	drop_queued(F, L);
	drop_queued(L, F);
	from = M[F].nout;
	M[F].now_ms += 1;
	step(F); /* the follower learns of it (PEER_EV_LOST); its turn is later */
	cr_assert(is_state(F, "follower"), "the follower keeps its leader until its turn");
	at = find_out(F, from, 1);
	closed = at >= 0 && M[F].out[at].kind == REPL_OUT_EXPIRE;
	other_open = find_out(F, from, 2) == -1;
	/* The link is back before the follower's turn; the client sends its next create. */
	link_up[F][L] = link_up[L][F] = true;
	M[F].now_ms += 1;
	step(F);
	push_create(F, 1, 2, s, "/b");
	M[F].now_ms += 1;
	step(F);
	cr_assert(is_state(F, "follower"), "the second create came before the follower's turn");
	M[L].now_ms += 1;
	step(L);
	run(100, 10);
	cr_assert(!(exists(L, "/b") && !exists(L, "/a")),
		  "the second create of the connection was applied without the first");
	cr_assert(closed, "the connection of the create in doubt is closed when the link breaks");
	cr_assert(other_open, "a connection with nothing in doubt stays open at the break");
	cr_assert(!exists(L, "/a") && !exists(L, "/b"),
		  "a create of a connection closed in doubt was applied");
	for (uint32_t k = from; k < M[F].nout; k++)
		cr_assert(!(M[F].out[k].conn == 1 && M[F].out[k].kind == REPL_OUT_RESULT),
			  "xid %d of the closed connection answered", M[F].out[k].xid);
}

/* The rounds of 10 ms until member i's worker saw conn closed (REPL_OUT_EXPIRE) after from. */
static uint32_t rounds_until_closed(uint32_t i, uint32_t from, uint32_t conn, uint32_t max)
{
	uint32_t rounds;

	for (rounds = 0; rounds <= max; rounds++) {
		for (int at = find_out(i, from, conn); at >= 0;
		     at = find_out(i, (uint32_t)at + 1, conn))
			if (M[i].out[at].kind == REPL_OUT_EXPIRE)
				return rounds;
		run(1, 10);
	}
	return rounds;
}

/*
 * A leader that stops serving (it has not heard a quorum for syncLimit)
 * in the step that prepped a follower's forwarded connect and creates
 * drops them unproposed (stop_serving).  Before the fix it cut the
 * session but told the follower nothing: the follower's entries waited
 * for LQ_TIMEOUT_TICKS (40 ticks, 200 rounds here) before their
 * connections closed.  Now each is answered CONNECTIONLOSS as a refused
 * forward is: the creates' connection closes and the connect is refused
 * within a round or two, and neither create is ever applied.
 */
#define DROP_BOUND_ROUNDS 10 /* 2 ticks: one delivery, well before LQ_TIMEOUT_TICKS */

Test(ensemble, a_leader_that_stops_serving_answers_the_forwards_it_drops)
{
	uint32_t L, F, from, rounds;
	struct repl_connect *c;
	int64_t s;
	int at;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	deliver();
	from = M[F].nout;
	c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->timeout = 30000;
	push(F, REPL_IN_CONNECT, 3, 0, 0, c); /* a new session's connect */
	push_create(F, 1, 1, s, "/a");
	push_create(F, 1, 2, s, "/b");
	M[F].now_ms += 1;
	step(F);
	cr_assert_eq(frames_of(F, L, F_REQ), 3, "the connect and both creates are forwarded");
	cr_assert_eq(frames_of(F, L, F_RAFT), 0, "nothing the leader would hear F by");
	/* The leader preps them and stops serving in the same step (track_role after prep). */
	M[L].now_ms += 2 * SILENCE_MS;
	step(L);
	cr_assert(!is_state(L, "leader"), "the leader stops serving");
	cr_assert_eq(M[L].r->qlen, 0, "what it prepped is dropped");
	rounds = rounds_until_closed(F, from, 1, 400);
	cr_assert_leq(rounds, DROP_BOUND_ROUNDS,
		      "the dropped creates' connection closed only after %u rounds (%u ticks)",
		      rounds, rounds / 5);
	rounds = rounds_until_closed(F, from, 3, 400);
	cr_assert_leq(rounds, DROP_BOUND_ROUNDS,
		      "the dropped connect was refused only after %u rounds (%u ticks)", rounds,
		      rounds / 5);
	at = find_out(F, from, 3);
	cr_assert(at >= 0 && M[F].out[at].kind == REPL_OUT_EXPIRE,
		  "the connect's first answer is its refusal");
	for (uint32_t k = 0; k < 200 && !is_state(L, "leader"); k++)
		run(1, 10);
	cr_assert(is_state(L, "leader"), "the leader serves again");
	run(20, 10);
	cr_assert(!exists(L, "/a") && !exists(L, "/b"), "a dropped create was applied");
	for (uint32_t k = from; k < M[F].nout; k++)
		cr_assert(!(M[F].out[k].conn == 1 && M[F].out[k].kind == REPL_OUT_RESULT),
			  "xid %d of the closed connection answered", M[F].out[k].xid);
}

/*
 * The same at the follower's forwarding bound (ens_learner_full: it
 * takes no input from its workers, pings included): before the fix the
 * follower took input again only after LQ_TIMEOUT_TICKS, and its
 * clients' pings waited that long in the ring.
 */
Test(ensemble, a_follower_at_its_bound_takes_input_again_once_its_leader_drops_its_forwards)
{
	uint32_t L, F, from, rounds;
	int32_t xid = 1;
	int64_t s, s2;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	s2 = connect_new(F, 2, false);
	cr_assert(s && s2);
	run(5, 10);
	deliver();
	/* The leader does not step: F forwards up to its bound, the rest waits in the ring. */
	flood_to_bound(F, s, &xid);
	cr_assert(ens_learner_full(M[F].r), "the follower is at its bound");
	push(F, REPL_IN_TOUCH, 2, 0, s2, NULL); /* a ping behind the creates */
	settle(F);
	cr_assert_gt(ring_count(repl_in_ring(M[F].r, 0)), 0, "input waits in the worker's ring");
	cr_assert_eq(frames_of(F, L, F_REQ), FWD_MAX);
	cr_assert_eq(frames_of(F, L, F_RAFT), 0, "nothing the leader would hear F by");
	from = M[F].nout;
	M[L].now_ms += 2 * SILENCE_MS;
	step(L); /* reads every frame, preps them, stops serving */
	cr_assert(!is_state(L, "leader"), "the leader stops serving");
	cr_assert_eq(M[L].r->qlen, 0, "what it prepped is dropped");
	for (rounds = 1; rounds <= FLAP_MAX_ROUNDS; rounds++) {
		run(1, 10);
		settle(F);
		if (ring_count(repl_in_ring(M[F].r, 0)) == 0 && !ens_learner_full(M[F].r))
			break;
	}
	cr_assert_leq(rounds, FLAP_BOUND_ROUNDS,
		      "the follower took input again only after %u rounds (%u ticks)", rounds,
		      rounds / 5);
	cr_assert_eq(rounds_until_closed(F, from, 1, 0), 0, "the creates' connection closed");
	run(20, 10);
	for (uint32_t k = from; k < M[F].nout; k++)
		cr_assert(!(M[F].out[k].conn == 1 && M[F].out[k].kind == REPL_OUT_RESULT),
			  "xid %d of the closed connection answered", M[F].out[k].xid);
	cr_assert(!exists(L, "/f1"), "a dropped create was applied");
}

/*
 * A refusal (ZK_CONNECTIONLOSS: the leader never runs the request)
 * that reaches a follower while an earlier request of its FIFO still
 * waits closes the refused request's connection at once.  Before the
 * fix the follower closed it only when the refused entry reached the
 * head, and meanwhile forwarded what the client sent next on that
 * connection: the leader's cut answers that SESSIONMOVED only within
 * its term, and a new term forgets it (test_ensrand seed 501351 with
 * ENSRAND_NO_FLAP: an observer's creates 295..302 refused behind a
 * write still waiting, 303 sent after the refusals came, held by the
 * leader re-elected in a new term and applied as its first txn).
 * Here the head is another connection's create, proposed and not yet
 * committed when the leader stops serving and refuses the next one.
 */
Test(ensemble, a_refusal_behind_a_waiting_request_closes_its_connection_at_once)
{
	uint32_t L, F, from;
	int32_t min_xid;
	int64_t s, s2;
	int at;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	s2 = connect_new(F, 2, false);
	cr_assert(s && s2);
	run(5, 10);
	deliver();
	from = M[F].nout;
	push_create(F, 2, 1, s2, "/a"); /* the head: another connection's */
	M[F].now_ms += 1;
	step(F);
	M[L].now_ms += 1;
	step(L); /* preps /a */
	cr_assert_eq(frames_of(F, L, F_REQ), 0, "the leader took /a");
	push_create(F, 1, 1, s, "/b");
	M[F].now_ms += 1;
	step(F);
	cr_assert_eq(frames_of(F, L, F_REQ), 1, "/b is forwarded");
	cr_assert_eq(frames_of(F, L, F_RAFT), 0, "nothing the leader would hear F by");
	/* It proposes /a, preps /b and stops serving, all in one step: /b is refused. */
	M[L].now_ms += 2 * SILENCE_MS;
	step(L);
	cr_assert(!is_state(L, "leader"), "the leader stops serving");
	cr_assert_eq(answers_of(L, F, s, ZK_CONNECTIONLOSS, &min_xid), 1, "/b refused");
	cr_assert_eq(answers_of(L, F, s2, ZK_CONNECTIONLOSS, &min_xid), 0, "/a proposed");
	M[F].now_ms += 1;
	step(F); /* takes /a's append and /b's refusal */
	cr_assert_lt(find_out(F, from, 2), 0, "/a is still waiting at the head");
	at = find_out(F, from, 1);
	cr_assert(at >= 0 && M[F].out[at].kind == REPL_OUT_EXPIRE,
		  "the refused create's connection is still open while the head waits");
	/* The client's next create, sent before it saw the close: dropped, not forwarded. */
	push_create(F, 1, 2, s, "/c");
	M[F].now_ms += 1;
	step(F);
	cr_assert_eq(frames_of(F, L, F_REQ), 0, "a create of the closed connection was forwarded");
	for (uint32_t k = 0; k < 400 && !exists(F, "/a"); k++)
		run(1, 10);
	cr_assert(exists(L, "/a") && exists(F, "/a"), "the head's create is applied");
	run(20, 10);
	cr_assert(!exists(L, "/b") && !exists(L, "/c"));
	at = find_out(F, from, 2);
	cr_assert(at >= 0 && M[F].out[at].kind == REPL_OUT_RESULT &&
			  result_err(&M[F].out[at]) == ZK_OK,
		  "the head's create is answered");
}
