// SPDX-License-Identifier: Apache-2.0
/*
 * Scripted tests of the consensus core (replication/raft/), driven through
 * the simulator's cluster (tests/replication/sim/) with hand-placed faults.
 * The simulator's checker runs after every Ready, so each script is also
 * checked for the safety invariants listed in sim.h.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/leakcheck.h"
#include "replication/raft/raft_msg.h"
#include "sim.h"

static struct sim *s;

static void setup(uint32_t voters, uint32_t observers, struct sim_opts *extra)
{
	struct sim_opts o = {.voters = voters, .observers = observers, .auto_flush = true};
	if (extra)
		o = *extra;
	o.voters = voters;
	o.observers = observers;
	s = calloc(1, sizeof(*s));
	sim_init(s, 42, &o);
	struct raft_conf c = {.n = voters + observers};
	for (uint32_t k = 0; k < c.n; k++) {
		c.m[k].id = k + 1;
		c.m[k].voter = k < voters;
	}
	for (uint32_t k = 0; k < c.n; k++)
		sim_start(s, k + 1, &c);
}

static void teardown(void)
{
	sim_free(s);
	free(s);
	s = NULL;
	test_fini_no_leaks();
}

static struct raft_status st(uint32_t id)
{
	struct raft_status x;
	raft_get_status(s->nodes[id].r, &x);
	return x;
}

static void run_ticks(int n)
{
	for (int k = 0; k < n; k++) {
		sim_tick(s);
		sim_settle(s, 1000);
	}
}

/* Ticks until some node leads; returns it. */
static uint32_t elect(void)
{
	for (int k = 0; k < 200; k++) {
		sim_tick(s);
		sim_settle(s, 1000);
		uint32_t l = sim_leader(s);
		if (l) {
			run_ticks(3); /* let the no-op commit everywhere */
			return sim_leader(s);
		}
	}
	cr_assert_fail("no leader elected in 200 ticks");
	return 0;
}

static uint32_t n_leaders(void)
{
	uint32_t n = 0;
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++)
		n += s->nodes[id].up && st(id).role == RAFT_LEADER;
	return n;
}

TestSuite(raft, .fini = teardown, .timeout = 60);

Test(raft, elects_one_leader_whose_noop_commits)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	cr_assert_eq(n_leaders(), 1);
	struct raft_status ls = st(l);
	const struct raft_entry *noop = raft_entry_at(s->nodes[l].r, 1);
	cr_assert_not_null(noop);
	cr_assert_eq(noop->type, RAFT_ENTRY_NOOP);
	cr_assert_eq(noop->zxid, ls.term << 32, "no-op has counter 0");
	for (uint32_t id = 1; id <= 3; id++) {
		cr_assert_eq(st(id).term, ls.term);
		cr_assert_eq(st(id).leader, l);
		cr_assert_geq(st(id).commit, 1);
	}
}

Test(raft, proposals_get_consecutive_zxid_ranges)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint64_t term = st(l).term, zxid, idx;
	cr_assert_eq(raft_propose(s->nodes[l].r, 5, "abc", 3, &zxid, &idx), 0);
	cr_assert_eq(zxid, term << 32 | 1, "first batch starts after the no-op");
	cr_assert_eq(raft_propose(s->nodes[l].r, 2, "d", 1, &zxid, &idx), 0);
	cr_assert_eq(zxid, term << 32 | 6, "5 txns reserved counters 1..5");
	sim_process(s, l);
	run_ticks(2);
	for (uint32_t id = 1; id <= 3; id++)
		cr_assert_eq(st(id).applied, idx);
	uint32_t f = l == 1 ? 2 : 1;
	cr_assert_eq(raft_propose(s->nodes[f].r, 1, "x", 1, &zxid, &idx), -EPERM);
	cr_assert_eq(raft_propose(s->nodes[l].r, 0, "x", 1, &zxid, &idx), -EINVAL);
}

Test(raft, prevote_keeps_a_returning_partitioned_node_from_disrupting)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint64_t term = st(l).term;
	uint32_t p = l == 3 ? 2 : 3;
	sim_isolate(s, p, true);
	run_ticks(100); /* p times out again and again */
	cr_assert_eq(st(p).term, term, "pre-vote never raised the isolated node's term");
	cr_assert_neq(st(p).role, RAFT_LEADER);
	sim_heal(s);
	run_ticks(30);
	cr_assert_eq(sim_leader(s), l, "the leader was not disrupted");
	cr_assert_eq(st(l).term, term);
	cr_assert_eq(st(p).leader, l);
}

Test(raft, check_quorum_steps_a_cut_off_leader_down)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint64_t term = st(l).term;
	sim_isolate(s, l, true);
	run_ticks(25); /* > election_ticks (10) */
	cr_assert_eq(st(l).role, RAFT_FOLLOWER, "leader without a quorum stepped down");
	cr_assert_eq(st(l).term, term, "stepping down changes no term");
	uint32_t nl = sim_leader(s);
	cr_assert_neq(nl, 0);
	cr_assert_neq(nl, l);
	cr_assert_gt(st(nl).term, term);
}

Test(raft, conflicting_uncommitted_entries_are_replaced)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint64_t base = st(l).last_index;
	sim_isolate(s, l, true);
	/* the old leader appends entries nobody else gets */
	for (int k = 0; k < 4; k++)
		cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
	cr_assert_eq(st(l).last_index, base + 4);
	run_ticks(40);
	uint32_t nl = sim_leader(s);
	cr_assert(nl && nl != l);
	for (int k = 0; k < 2; k++)
		cr_assert_eq(sim_propose(s, nl, 1, NULL), 0);
	run_ticks(3);
	sim_heal(s);
	run_ticks(20);
	/* the old leader's log now is the new leader's, entry by entry */
	struct raft_status a = st(l), b = st(nl);
	cr_assert_eq(a.last_index, b.last_index);
	for (uint64_t i = base + 1; i <= b.last_index; i++) {
		const struct raft_entry *x = raft_entry_at(s->nodes[l].r, i);
		const struct raft_entry *y = raft_entry_at(s->nodes[nl].r, i);
		cr_assert(x && y);
		cr_assert_eq(x->term, y->term);
		cr_assert_eq(x->zxid, y->zxid);
	}
	cr_assert_eq(a.commit, b.commit);
}

Test(raft, lagging_follower_gets_a_snapshot_then_the_log)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint32_t f = l == 3 ? 2 : 3;
	sim_crash(s, f, false);
	for (int k = 0; k < 30; k++) {
		cr_assert_eq(sim_propose(s, l, 2, NULL), 0);
		run_ticks(1);
	}
	sim_snapshot(s, l, 0);
	cr_assert_gt(st(l).first_index, 20, "the leader compacted its log");
	sim_start(s, f, NULL);
	run_ticks(10);
	cr_assert_geq(s->n_snap_installs, 1);
	cr_assert_eq(st(f).applied, st(l).applied);
	cr_assert_eq(st(f).last_index, st(l).last_index);
	cr_assert_eq(st(f).first_index, st(l).first_index,
		     "the follower's log starts after the snapshot");
	/* and it keeps up from there */
	cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
	run_ticks(3);
	cr_assert_eq(st(f).applied, st(l).applied);
}

Test(raft, observers_are_never_counted_and_never_campaign)
{
	setup(3, 2, NULL);
	uint32_t l = elect();
	cr_assert_leq(l, 3, "an observer never leads");
	/* the two other voters go: two observers do not make a quorum */
	for (uint32_t id = 1; id <= 3; id++)
		if (id != l)
			sim_isolate(s, id, true);
	uint64_t c = st(l).commit;
	cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
	run_ticks(5);
	cr_assert_eq(st(l).commit, c, "observers' acks do not commit");
	cr_assert_eq(st(4).last_index, c, "observers get committed entries only");
	cr_assert_eq(st(5).last_index, c);
	sim_heal(s);
	run_ticks(5);
	cr_assert_gt(st(l).commit, c);
	cr_assert_eq(st(4).applied, st(l).commit);
	/* cut everyone from everyone: only voters ever campaign */
	for (uint32_t id = 1; id <= 5; id++)
		sim_isolate(s, id, true);
	uint64_t t4 = st(4).term, t5 = st(5).term;
	run_ticks(100);
	cr_assert_eq(st(4).role, RAFT_FOLLOWER);
	cr_assert_eq(st(5).role, RAFT_FOLLOWER);
	cr_assert_eq(st(4).term, t4);
	cr_assert_eq(st(5).term, t5);
}

Test(raft, leadership_transfer_hands_over)
{
	setup(5, 0, NULL);
	uint32_t l = elect();
	uint32_t to = l == 5 ? 4 : 5;
	sim_crash(s, to, false);
	cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
	run_ticks(2);
	sim_start(s, to, NULL); /* behind: the leader must catch it up first */
	cr_assert_eq(raft_transfer_leader(s->nodes[l].r, to), 0);
	cr_assert_eq(sim_propose(s, l, 1, NULL), -EBUSY, "no proposals while transferring");
	sim_process(s, l);
	for (int k = 0; k < 10 && sim_leader(s) != to; k++)
		run_ticks(1);
	cr_assert_eq(sim_leader(s), to);
	cr_assert_eq(st(l).role, RAFT_FOLLOWER);
	cr_assert_eq(n_leaders(), 1);
	cr_assert_eq(raft_transfer_leader(s->nodes[l].r, 0), -EPERM);
}

Test(raft, exhausted_counter_forces_a_new_term)
{
	struct sim_opts o = {.auto_flush = true, .max_counter = 10};
	setup(3, 0, &o);
	uint32_t l = elect();
	uint64_t term = st(l).term;
	int rc;
	while ((rc = sim_propose(s, l, 3, NULL)) == 0)
		;
	cr_assert_eq(rc, -ERANGE);
	run_ticks(10);
	uint32_t nl = sim_leader(s);
	cr_assert_neq(nl, 0);
	cr_assert_gt(st(nl).term, term, "a new term, hence a fresh counter");
	cr_assert_eq(sim_propose(s, nl, 3, NULL), 0);
	run_ticks(2);
	cr_assert_eq(st(nl).applied, st(nl).last_index);
}

Test(raft, membership_changes_one_voter_at_a_time)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	struct raft_conf c;
	raft_get_conf(s->nodes[l].r, &c);
	/* two voters at once: refused */
	struct raft_conf two = c;
	two.m[two.n++] = (struct raft_member){4, true};
	two.m[two.n++] = (struct raft_member){5, true};
	cr_assert_eq(raft_propose_conf(s->nodes[l].r, &two, NULL), -EINVAL);
	/* add 4 as a voter */
	struct raft_conf add = c;
	add.m[add.n++] = (struct raft_member){4, true};
	uint64_t idx;
	cr_assert_eq(raft_propose_conf(s->nodes[l].r, &add, &idx), 0);
	cr_assert_eq(raft_propose_conf(s->nodes[l].r, &add, NULL), -EBUSY, "one change at a time");
	sim_process(s, l);
	sim_start(s, 4, &add);
	run_ticks(5);
	cr_assert_geq(st(l).commit, idx);
	cr_assert(st(4).voter);
	cr_assert_eq(st(4).applied, st(l).applied);
	/* now 4 voters: a quorum is 3; two down stop commits */
	uint32_t others[3], n = 0;
	for (uint32_t id = 1; id <= 4; id++)
		if (id != l)
			others[n++] = id;
	sim_isolate(s, others[0], true);
	sim_isolate(s, others[1], true);
	uint64_t c0 = st(l).commit;
	cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
	run_ticks(3);
	cr_assert_eq(st(l).commit, c0, "2 of 4 voters are not a quorum");
	sim_heal(s);
	run_ticks(5);
	cr_assert_gt(st(l).commit, c0);
	/* remove the leader itself: it steps down once that commits */
	struct raft_conf cur, rm = {0};
	raft_get_conf(s->nodes[l].r, &cur);
	for (uint32_t k = 0; k < cur.n; k++)
		if (cur.m[k].id != l)
			rm.m[rm.n++] = cur.m[k];
	cr_assert_eq(raft_propose_conf(s->nodes[l].r, &rm, &idx), 0);
	sim_process(s, l);
	run_ticks(40);
	cr_assert_neq(st(l).role, RAFT_LEADER);
	uint32_t nl = sim_leader(s);
	cr_assert(nl && nl != l);
	cr_assert_eq(sim_propose(s, nl, 1, NULL), 0);
	run_ticks(3);
	cr_assert_eq(st(nl).applied, st(nl).last_index);
}

Test(raft, sync_returns_the_leaders_commit_after_a_quorum_round)
{
	setup(3, 1, NULL);
	uint32_t l = elect();
	for (int k = 0; k < 3; k++)
		cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
	run_ticks(2);
	uint64_t synced = s->n_synced;
	for (uint32_t id = 1; id <= 4; id++)
		cr_assert_eq(sim_sync(s, id), 0);
	run_ticks(3);
	cr_assert_eq(s->n_synced, synced + 4, "leader, followers and observer all answered");
	/* a leader cut off cannot confirm a read */
	sim_isolate(s, l, true);
	cr_assert_eq(sim_sync(s, l), 0);
	run_ticks(3);
	cr_assert_eq(s->n_synced, synced + 4, "no quorum, no answer");
}

Test(raft, acks_wait_for_the_follower_disk)
{
	struct sim_opts o = {.auto_flush = false};
	setup(3, 0, &o);
	for (uint32_t id = 1; id <= 3; id++)
		sim_flush(s, id, 0);
	sim_force_campaign(s, 1);
	for (int k = 0; k < 50 && st(1).role != RAFT_LEADER; k++) {
		sim_settle(s, 100);
		sim_tick(s);
	}
	cr_assert_eq(st(1).role, RAFT_LEADER);
	sim_settle(s, 100);
	uint64_t idx;
	cr_assert_eq(sim_propose(s, 1, 1, &idx), 0);
	/* deliver the appends, complete no follower write */
	for (int round = 0; round < 10; round++)
		for (size_t k = 0; k < s->n_net;)
			if (s->net[k].to != 1)
				sim_deliver(s, k);
			else
				k++;
	for (size_t k = 0; k < s->n_net; k++) {
		struct raft_msg m;
		struct raft_entry e[4];
		cr_assert_gt(raft_msg_decode(s->net[k].buf, s->net[k].len, &m, e, 4), 0);
		cr_assert(m.type != RAFT_MSG_APPEND_RESP || m.index < idx,
			  "an ack for %llu left before the follower's disk had it",
			  (unsigned long long)m.index);
	}
	cr_assert_lt(st(1).commit, idx);
	sim_flush(s, 2, 0);
	sim_flush(s, 1, 0);
	sim_settle(s, 100);
	cr_assert_geq(st(1).commit, idx);
}

Test(raft, lost_leader_connection_starts_a_prevote_at_once)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint32_t f = l == 1 ? 2 : 1;
	sim_crash(s, l, false); /* the others see the connection reset */
	cr_assert_eq(st(f).role, RAFT_PRE_CANDIDATE, "no waiting for the election timeout");
	run_ticks(30);
	uint32_t nl = sim_leader(s);
	cr_assert(nl && nl != l);
}

/*
 * Figure 8 of the Raft paper (section 5.4.2), five servers.  An entry X of
 * an old term reaches a majority under a later leader; counting replicas
 * must not commit it, because a server with a later-term log can still be
 * elected and overwrite it.  With the rule (only the leader's own term is
 * committed by counting), X stays uncommitted and its loss breaks nothing;
 * the simulator's checker would abort on the truncation of a committed
 * entry otherwise.
 */
static bool fig8_filter(const struct raft_msg *m, void *arg)
{
	(void)arg;
	/*
	 * node 3 gets X (index 2) but never the new leader's no-op (index 3);
	 * an append it would reject anyway (it lacks X) still gets through, so
	 * the leader's probe finds the right place
	 */
	if (m->to == 3 && m->type == RAFT_MSG_APPEND && st(3).last_index >= 2)
		for (uint32_t k = 0; k < m->n_entries; k++)
			if (m->entries[k].index >= 3)
				return true;
	return false;
}

static uint64_t term_at(uint32_t id, uint64_t index)
{
	const struct raft_entry *e = raft_entry_at(s->nodes[id].r, index);
	cr_assert_not_null(e, "node %u has no entry %llu (last %llu)", id,
			   (unsigned long long)index, (unsigned long long)st(id).last_index);
	return e->term;
}

static void campaign_until_leader(uint32_t id)
{
	for (int k = 0; k < 10 && st(id).role != RAFT_LEADER; k++) {
		sim_force_campaign(s, id);
		sim_settle(s, 1000);
	}
	cr_assert_eq(st(id).role, RAFT_LEADER, "node %u was not elected", id);
}

Test(raft, figure8_old_term_entry_is_not_committed_by_counting)
{
	struct sim_opts o = {.auto_flush = true, .max_msg_entries = 1, .silent = true};
	setup(5, 0, &o);
	campaign_until_leader(1);
	run_ticks(2);
	for (uint32_t id = 1; id <= 5; id++)
		cr_assert_eq(st(id).commit, 1);

	/* (a) leader 1 replicates X only to 2 */
	sim_isolate(s, 1, true);
	sim_partition(s, 1, 2, false);
	uint64_t xi;
	cr_assert_eq(sim_propose(s, 1, 1, &xi), 0);
	cr_assert_eq(xi, 2);
	sim_settle(s, 100);
	uint64_t x_term = term_at(1, 2);
	cr_assert_eq(term_at(2, 2), x_term);
	cr_assert_eq(st(1).commit, 1);

	/* (b) 1 crashes; 5 is elected by 3, 4, 5 and appends its no-op alone */
	sim_crash(s, 1, false);
	sim_heal(s);
	sim_isolate(s, 2, true);
	sim_force_campaign(s, 5);
	for (int k = 0; k < 100 && s->n_net && st(5).role != RAFT_LEADER; k++)
		sim_deliver(s, 0);
	cr_assert_eq(st(5).role, RAFT_LEADER);
	sim_isolate(s, 5, true);
	sim_settle(s, 100);
	cr_assert_eq(term_at(5, 2), st(5).term);
	sim_crash(s, 5, false);

	/* (c) 1 returns and is elected by 1, 2, 3; X reaches 3, the no-op does not */
	sim_heal(s);
	sim_isolate(s, 4, true);
	s->drop = fig8_filter;
	sim_start(s, 1, NULL);
	campaign_until_leader(1);
	run_ticks(3);
	cr_assert_eq(term_at(3, 2), x_term, "X is on 1, 2 and 3: a majority");
	cr_assert_eq(st(3).last_index, 2);
	cr_assert_lt(st(1).commit, 2, "X (old term) is not committed by counting replicas");
	for (uint32_t id = 1; id <= 3; id++)
		cr_assert_lt(st(id).applied, 2);

	/* (d) 1 crashes; 5 returns and wins with 3 and 4, overwriting X */
	sim_crash(s, 1, false);
	s->drop = NULL;
	sim_heal(s);
	sim_start(s, 5, NULL);
	campaign_until_leader(5);
	run_ticks(5);
	for (uint32_t id = 2; id <= 5; id++) {
		const struct raft_entry *e = raft_entry_at(s->nodes[id].r, 2);
		cr_assert(e && e->term != x_term, "node %u: X was replaced by 5's entry", id);
		cr_assert_geq(st(id).commit, 2);
	}
}

/*
 * A batch larger than a whole term's counter range can never fit: it must
 * be refused outright, not answered with -ERANGE and a new term (the
 * driver retries -ERANGE after the new term, so every retry would start
 * another election).
 */
Test(raft, batch_larger_than_a_term_is_refused_without_an_election)
{
	struct sim_opts o = {.auto_flush = true, .max_counter = 10};
	setup(3, 0, &o);
	uint32_t l = elect();
	uint64_t term = st(l).term, zxid, idx;
	cr_assert_eq(raft_propose(s->nodes[l].r, 11, "x", 1, &zxid, &idx), -EINVAL);
	sim_process(s, l);
	cr_assert_eq(st(l).role, RAFT_LEADER, "no new term for a batch that can never fit");
	cr_assert_eq(st(l).term, term);
	/* the largest batch that fits a fresh term (counters 1..10) still works */
	run_ticks(1);
	int rc = raft_propose(s->nodes[l].r, 10, "x", 1, &zxid, &idx);
	sim_process(s, l);
	if (rc == -ERANGE) {
		run_ticks(10);
		l = sim_leader(s);
		cr_assert_neq(l, 0);
		rc = raft_propose(s->nodes[l].r, 10, "x", 1, &zxid, &idx);
		sim_process(s, l);
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(zxid & 0xffffffffu, 1);
}

/*
 * A single voter wins its election without asking anyone, so nothing made
 * it wait for its new term and vote to be durable: it led (appended its
 * no-op, sent its observers appends) in a term a crash could forget, and
 * after such a crash it led the same term again with a different log (the
 * simulator's log-matching check, seed 1678 with one-voter runs).  It must
 * become leader only once its term and vote are on disk.
 */
Test(raft, single_voter_leads_only_once_its_term_is_durable)
{
	struct sim_opts o = {.auto_flush = false};
	setup(1, 2, &o);
	for (uint32_t id = 1; id <= 3; id++)
		sim_flush(s, id, 0);
	uint64_t last = st(1).last_index;
	sim_force_campaign(s, 1);
	cr_assert_eq(st(1).role, RAFT_CANDIDATE, "elected, but its vote is not durable yet");
	cr_assert_eq(st(1).last_index, last, "no no-op in a term a crash could forget");
	cr_assert_eq(s->n_net, 0, "nothing sent in that term");
	uint64_t term = st(1).term;
	/* a crash now forgets the term; the restarted node must not reuse it */
	sim_crash(s, 1, false);
	sim_start(s, 1, NULL);
	cr_assert_lt(st(1).term, term);
	sim_force_campaign(s, 1);
	cr_assert_eq(st(1).role, RAFT_CANDIDATE);
	sim_flush(s, 1, 0);
	cr_assert_eq(st(1).role, RAFT_LEADER, "leads once its term is durable");
	uint64_t idx;
	cr_assert_eq(sim_propose(s, 1, 1, &idx), 0);
	for (int k = 0; k < 5; k++) {
		sim_tick(s);
		sim_settle(s, 100);
	}
	cr_assert_geq(st(1).commit, idx);
	cr_assert_geq(st(2).applied, idx, "observers get committed entries");
}

static bool cut_off(const struct raft_msg *m, void *arg)
{
	uint32_t id = *(const uint32_t *)arg;
	return m->to == id || m->from == id;
}

/*
 * Two voters; the leader demotes itself, so the new configuration's only
 * voter is the follower - but the follower never got that entry, and the
 * leader, unable to hear its new quorum, steps down (check-quorum) with the
 * change uncommitted.  The follower still has the old configuration and
 * needs the old leader's vote, which the old leader refuses (its log is
 * longer); the old leader, not a voter of its own newest configuration,
 * never campaigns.  Before the fix nobody could ever lead again.  A voter
 * of the configuration before an uncommitted change must stay eligible.
 */
Test(raft, demoted_leader_with_an_uncommitted_change_can_still_lead)
{
	setup(2, 1, NULL);
	uint32_t l = elect();
	uint32_t f = l == 1 ? 2 : 1;
	struct raft_conf c = {.n = 3};
	c.m[0] = (struct raft_member){l, false};
	c.m[1] = (struct raft_member){f, true};
	c.m[2] = (struct raft_member){3, false};
	s->drop = cut_off;
	s->drop_arg = &f;
	uint64_t idx;
	cr_assert_eq(raft_propose_conf(s->nodes[l].r, &c, &idx), 0);
	sim_process(s, l);
	run_ticks(40);
	cr_assert_neq(st(l).role, RAFT_LEADER, "check-quorum: its new quorum is silent");
	cr_assert_lt(st(f).last_index, idx, "the follower never got the change");
	s->drop = NULL;
	uint32_t nl = 0;
	for (int k = 0; k < 300 && !nl; k++) {
		sim_tick(s);
		sim_settle(s, 1000);
		nl = sim_leader(s);
	}
	cr_assert_neq(nl, 0, "a leader again once the network heals");
	/* the change commits and the cluster works on with f as its only voter */
	run_ticks(60);
	nl = sim_leader(s);
	cr_assert_eq(nl, f);
	cr_assert_geq(st(f).commit, idx);
	cr_assert_eq(sim_propose(s, nl, 1, &idx), 0);
	run_ticks(3);
	cr_assert_geq(st(3).applied, idx);
}

static bool drop_read_heartbeats(const struct raft_msg *m, void *arg)
{
	uint64_t round = *(const uint64_t *)arg;
	return m->type == RAFT_MSG_HEARTBEAT && m->ctx >= round;
}

/*
 * The read-index round is confirmed only by answers to heartbeats sent
 * after the read was noted: answers to an earlier heartbeat, delivered
 * late, prove nothing about leadership at the time of the read.
 */
Test(raft, sync_is_not_confirmed_by_answers_to_an_earlier_heartbeat)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	/* a periodic heartbeat (round 0) reaches the followers; their
	 * answers stay in the network */
	sim_settle(s, 100);
	for (uint32_t k = 0; k < s->nodes[l].cfg.heartbeat_ticks; k++)
		sim_tick_node(s, l);
	for (int round = 0; round < 3; round++)
		for (size_t k = 0; k < s->n_net;)
			if (s->net[k].to != l)
				sim_deliver(s, k);
			else
				k++;
	cr_assert_gt(s->n_net, 0, "the followers' answers wait in the network");
	uint64_t synced = s->n_synced;
	cr_assert_eq(sim_sync(s, l), 0);
	/* the read's own heartbeats (round >= 1) are lost; the old answers arrive */
	uint64_t round = 1;
	s->drop = drop_read_heartbeats;
	s->drop_arg = &round;
	sim_settle(s, 100);
	cr_assert_eq(s->n_synced, synced, "old answers must not confirm the read");
	cr_assert_eq(st(l).role, RAFT_LEADER);
	/* a later heartbeat round answers it */
	s->drop = NULL;
	run_ticks(3);
	cr_assert_eq(s->n_synced, synced + 1);
}

/*
 * A follower restarted with less than it acknowledged (its disk restored
 * from an older copy) stays behind for good: the leader's match for it is
 * above its log and every probe is clamped to match + 1.  The driver calls
 * raft_peer_reset() when its link to the peer comes back (ensemble.c), and
 * the follower catches up from where its log really ends.
 */
Test(raft, peer_reset_catches_up_a_follower_restored_from_an_old_disk)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint32_t f = l == 1 ? 2 : 1;
	struct raft_conf c = {.n = 3};
	for (uint32_t k = 0; k < 3; k++)
		c.m[k] = (struct raft_member){.id = k + 1, .voter = true};
	for (int k = 0; k < 10; k++) {
		cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
		run_ticks(1);
	}
	run_ticks(5);
	uint64_t last = st(l).last_index;
	cr_assert_eq(st(f).last_index, last);
	sim_crash(s, f, false);
	struct sim_log *dl = &s->nodes[f].d_log;
	while (dl->n > 3) {
		free((void *)dl->v[dl->n - 1].e.data);
		dl->n--;
	}
	sim_start(s, f, &c);
	run_ticks(30);
	cr_assert_eq(st(l).role, RAFT_LEADER);
	cr_assert_lt(st(f).last_index, last, "without a reset the follower stays behind");
	raft_peer_reset(s->nodes[l].r, f);
	sim_process(s, l);
	run_ticks(10);
	cr_assert_eq(st(f).last_index, st(l).last_index);
	cr_assert_eq(st(f).commit, st(l).commit);
	cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
	run_ticks(5);
	cr_assert_eq(st(f).commit, st(l).commit);
}
