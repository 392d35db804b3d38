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
	static const char extra[] = "server.4=h:1:2:participant;3";
	cr_assert_eq(raft_propose_conf_ex(s->nodes[l].r, &add, extra, 0xffffffffu, NULL), -EINVAL,
		     "a trailer above RAFT_CONF_MAX_EXTRA");
	cr_assert_not(raft_conf_pending(s->nodes[l].r));
	cr_assert_eq(raft_propose_conf_ex(s->nodes[l].r, &add, extra, sizeof(extra), &idx), 0);
	cr_assert(raft_conf_pending(s->nodes[l].r));
	cr_assert_eq(raft_propose_conf(s->nodes[l].r, &add, NULL), -EBUSY, "one change at a time");
	{
		const struct raft_entry *ce = raft_entry_at(s->nodes[l].r, idx);
		const uint8_t *t;
		size_t tl;

		cr_assert(ce && ce->type == RAFT_ENTRY_CONF);
		cr_assert_eq(raft_conf_trailer(ce, &t, &tl), 0);
		cr_assert_eq(tl, sizeof(extra));
		cr_assert_eq(memcmp(t, extra, tl), 0);
	}
	sim_process(s, l);
	sim_start(s, 4, &add);
	run_ticks(5);
	cr_assert_geq(st(l).commit, idx);
	cr_assert_not(raft_conf_pending(s->nodes[l].r));
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
 * The leader goes silent (paused).  Follower a gives up first while b
 * still holds the leader's lease, so a's pre-vote is dropped; b, whose
 * log is behind a's, gives up next and a refuses b's pre-vote.  Both wait
 * as pre-candidates for their randomised timeouts (1-2 x election_ticks)
 * unless the driver asks again: raft_pre_vote() then elects a at once,
 * without a tick.
 */
static bool drop_to_b_and_leader(const struct raft_msg *m, void *arg)
{
	const uint32_t *ids = arg; /* {b, l} */
	return m->to == ids[0] || m->to == ids[1] || m->from == ids[1];
}

Test(raft, pre_vote_again_elects_without_waiting_for_the_timeout)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint32_t a = l == 1 ? 2 : 1, b = 6 - l - a;
	uint64_t term = st(l).term, zxid, idx;

	cr_assert_eq(raft_pre_vote(s->nodes[l].r), -EBUSY, "a leader does not campaign");
	cr_assert_eq(raft_pre_vote(s->nodes[a].r), -EBUSY, "nor a follower of a leader");
	/* a gets one more entry than b; then the leader is silent */
	uint32_t only_a[2] = {b, 0};
	s->drop = drop_to_b_and_leader;
	s->drop_arg = only_a;
	cr_assert_eq(raft_propose(s->nodes[l].r, 1, "x", 1, &zxid, &idx), 0);
	sim_process(s, l);
	sim_settle(s, 1000);
	cr_assert_eq(st(a).last_index, idx);
	cr_assert_lt(st(b).last_index, idx);
	uint32_t silent[2] = {0, l};
	s->drop_arg = silent;
	raft_peer_lost(s->nodes[a].r, l); /* b still holds the lease: dropped */
	sim_process(s, a);
	sim_settle(s, 1000);
	cr_assert_eq(st(a).role, RAFT_PRE_CANDIDATE);
	raft_peer_lost(s->nodes[b].r, l); /* a refuses: b's log is behind */
	sim_process(s, b);
	sim_settle(s, 1000);
	cr_assert(st(a).role == RAFT_PRE_CANDIDATE && st(b).role == RAFT_PRE_CANDIDATE,
		  "both wait for their timeouts");
	cr_assert_eq(raft_pre_vote(s->nodes[a].r), 0);
	sim_process(s, a);
	sim_settle(s, 1000);
	cr_assert_eq(st(a).role, RAFT_LEADER, "elected without a tick");
	cr_assert_eq(st(a).term, term + 1, "one term: the pre-votes changed none");
	cr_assert_eq(st(b).leader, a);
	cr_assert_eq(raft_pre_vote(s->nodes[b].r), -EBUSY);
	s->drop = NULL;
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

/* ---- peer input that passed the codec but no correct peer sends ---- */

struct frozen {
	struct raft_status st;
	struct raft_stats stats;
	uint64_t last_term;
};

static struct frozen freeze(uint32_t id)
{
	struct frozen f = {.st = st(id)};
	raft_get_stats(s->nodes[id].r, &f.stats);
	const struct raft_entry *e = raft_entry_at(s->nodes[id].r, f.st.last_index);
	f.last_term = e ? e->term : 0;
	return f;
}

/* term, vote, role, leader, log and commit as they were */
static void assert_unchanged(uint32_t id, const struct frozen *f)
{
	struct raft_status a = st(id);
	cr_assert_eq(a.term, f->st.term, "node %u: term %llu -> %llu", id,
		     (unsigned long long)f->st.term, (unsigned long long)a.term);
	cr_assert_eq(a.vote, f->st.vote);
	cr_assert_eq(a.role, f->st.role);
	cr_assert_eq(a.leader, f->st.leader);
	cr_assert_eq(a.commit, f->st.commit);
	cr_assert_eq(a.first_index, f->st.first_index);
	cr_assert_eq(a.last_index, f->st.last_index);
	const struct raft_entry *e = raft_entry_at(s->nodes[id].r, a.last_index);
	cr_assert_eq(e ? e->term : 0, f->last_term);
}

/*
 * Steps m into node `to`; it must be refused with rc for reason `why`, be
 * counted with its sender, and leave the node's state unchanged.
 */
static void expect_refused(uint32_t to, struct raft_msg m, int rc, enum raft_refusal why)
{
	m.to = to;
	struct frozen f = freeze(to);
	cr_assert_eq(raft_step(s->nodes[to].r, &m), rc, "type %u from %u: want %d", m.type, m.from,
		     rc);
	struct raft_stats a;
	raft_get_stats(s->nodes[to].r, &a);
	cr_assert_eq(a.refused[why], f.stats.refused[why] + 1, "counted as '%s'",
		     raft_refusal_name(why));
	cr_assert_eq(a.n_refused, f.stats.n_refused + 1);
	cr_assert_eq(a.last_reason, (uint32_t)why);
	cr_assert_eq(a.last_from, m.from);
	cr_assert_eq(a.last_type, m.type);
	assert_unchanged(to, &f);
	sim_process(s, to);
	assert_unchanged(to, &f);
}

/* The cluster still commits a fresh proposal everywhere. */
static void assert_works(uint32_t n)
{
	uint32_t l = sim_leader(s);
	cr_assert_neq(l, 0);
	uint64_t idx;
	cr_assert_eq(sim_propose(s, l, 1, &idx), 0);
	run_ticks(4);
	for (uint32_t id = 1; id <= n; id++)
		cr_assert_geq(st(id).applied, idx, "node %u applied the new entry", id);
}

static uint32_t other(uint32_t a, uint32_t b)
{
	for (uint32_t id = 1;; id++)
		if (id != a && id != b)
			return id;
}

/* The last message from `from` to `to` of `type` in the network. */
static bool find_sent(uint32_t from, uint32_t to, uint32_t type, struct raft_msg *out)
{
	static struct raft_entry ents[64];
	bool found = false;
	for (size_t k = 0; k < s->n_net; k++) {
		struct raft_msg m;
		if (s->net[k].from != from || s->net[k].to != to)
			continue;
		if (raft_msg_decode(s->net[k].buf, s->net[k].len, &m, ents, 64) < 0)
			continue;
		if (m.type == type) {
			*out = m;
			found = true;
		}
	}
	return found;
}

Test(raft, refuses_terms_and_indexes_beyond_the_zxid)
{
	setup(3, 0, NULL);
	uint32_t l = elect(), f = other(l, 0);
	uint64_t t = st(l).term, last = st(f).last_index;
	struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = l, .term = t};
	uint64_t terms[] = {RAFT_MAX_TERM + 1, 0xffffffffull, 1ull << 32, UINT64_MAX};
	for (size_t k = 0; k < sizeof(terms) / sizeof(terms[0]); k++) {
		hb.term = terms[k];
		expect_refused(f, hb, -EINVAL, RAFT_REFUSE_MALFORMED);
	}
	struct raft_msg ap = {.type = RAFT_MSG_APPEND, .from = l, .term = t, .index = last};
	ap.commit = RAFT_MAX_INDEX + 1;
	expect_refused(f, ap, -EINVAL, RAFT_REFUSE_MALFORMED);
	ap.commit = 0;
	ap.index = UINT64_MAX;
	expect_refused(f, ap, -EINVAL, RAFT_REFUSE_MALFORMED);
	ap.index = last;
	ap.log_term = t + 1; /* prev's term above the leader's own */
	expect_refused(f, ap, -EINVAL, RAFT_REFUSE_MALFORMED);
	/* a vote request of term 0: no candidate has it */
	struct raft_msg v = {.type = RAFT_MSG_VOTE, .from = l, .term = 0};
	expect_refused(f, v, -EINVAL, RAFT_REFUSE_MALFORMED);
	/* a pre-vote answer for a term beyond RAFT_MAX_TERM */
	struct raft_msg pr = {.type = RAFT_MSG_PREVOTE_RESP, .from = l, .term = RAFT_MAX_TERM + 1};
	expect_refused(f, pr, -EINVAL, RAFT_REFUSE_MALFORMED);
	assert_works(3);
}

Test(raft, refuses_entries_that_overflow_or_reorder_zxids)
{
	setup(3, 0, NULL);
	uint32_t l = elect(), f = other(l, 0);
	uint64_t t = st(l).term, last = st(f).last_index, lz = st(f).last_zxid;
	const struct raft_entry *pe = raft_entry_at(s->nodes[f].r, last);
	struct raft_entry e = {.index = last + 1,
			       .term = t,
			       .zxid = t << 32 | 0xfffffff0u,
			       .type = RAFT_ENTRY_DATA,
			       .count = 0x20};
	struct raft_msg ap = {.type = RAFT_MSG_APPEND,
			      .from = l,
			      .term = t,
			      .index = last,
			      .log_term = pe->term,
			      .entries = &e,
			      .n_entries = 1};
	/* counters zxid .. zxid + 0x1f pass 0xffffffff into the next term */
	expect_refused(f, ap, -EINVAL, RAFT_REFUSE_MALFORMED);
	e.count = 1;
	e.term = 0; /* no entry has term 0 */
	e.zxid = 0xfffffff0u;
	expect_refused(f, ap, -EINVAL, RAFT_REFUSE_MALFORMED);
	e.term = t;
	e.zxid = (t << 32) | 5;
	e.count = 1;
	e.type = 7; /* no such entry type */
	expect_refused(f, ap, -EINVAL, RAFT_REFUSE_MALFORMED);
	e.type = RAFT_ENTRY_DATA;
	/* well formed, but its zxid is not above the one before it here */
	e.zxid = lz;
	expect_refused(f, ap, -EPROTO, RAFT_REFUSE_ZXID_ORDER);
	assert_works(3);
}

/*
 * A voter whose disk was wiped votes again in a term it already voted in,
 * so a second node may lead that term.  Its messages are refused by the
 * followers of the first and by the first leader itself; nobody aborts.
 */
Test(raft, refuses_a_second_leader_of_the_same_term)
{
	setup(3, 0, NULL);
	uint32_t l = elect(), f = other(l, 0), g = other(l, f);
	uint64_t t = st(l).term, last = st(f).last_index;
	const struct raft_entry *pe = raft_entry_at(s->nodes[f].r, last);
	struct raft_entry e = {.index = last + 1,
			       .term = t,
			       .zxid = (t << 32) | 100,
			       .type = RAFT_ENTRY_DATA,
			       .count = 1};
	struct raft_msg ap = {.type = RAFT_MSG_APPEND,
			      .from = g,
			      .term = t,
			      .index = last,
			      .log_term = pe->term,
			      .entries = &e,
			      .n_entries = 1,
			      .commit = last + 1};
	expect_refused(f, ap, -EPROTO, RAFT_REFUSE_TWO_LEADERS);
	expect_refused(l, ap, -EPROTO, RAFT_REFUSE_TWO_LEADERS);
	struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = g, .term = t, .commit = last};
	expect_refused(f, hb, -EPROTO, RAFT_REFUSE_TWO_LEADERS);
	expect_refused(l, hb, -EPROTO, RAFT_REFUSE_TWO_LEADERS);
	struct raft_msg sn = {.type = RAFT_MSG_SNAP, .from = g, .term = t};
	sn.snap = (struct raft_snap_meta){.index = last + 5, .term = t, .zxid = t << 32 | 9};
	raft_get_conf(s->nodes[f].r, &sn.snap.conf);
	expect_refused(f, sn, -EPROTO, RAFT_REFUSE_TWO_LEADERS);
	expect_refused(l, sn, -EPROTO, RAFT_REFUSE_TWO_LEADERS);
	cr_assert_eq(sim_leader(s), l);
	assert_works(3);
}

Test(raft, commit_and_prev_beyond_the_log_change_nothing_unproven)
{
	setup(3, 0, NULL);
	uint32_t l = elect(), f = other(l, 0);
	uint64_t t = st(l).term, last = st(f).last_index;
	/* a heartbeat's commit beyond the log is not taken */
	struct raft_msg hb = {
	    .type = RAFT_MSG_HEARTBEAT, .from = l, .to = f, .term = t, .commit = last + 1000};
	struct frozen fr = freeze(f);
	cr_assert_eq(raft_step(s->nodes[f].r, &hb), 0);
	assert_unchanged(f, &fr);
	/* an append whose prev is past the log is rejected with our last index */
	struct raft_msg ap = {.type = RAFT_MSG_APPEND,
			      .from = l,
			      .to = f,
			      .term = t,
			      .index = last + 1000,
			      .log_term = t,
			      .commit = last + 1000};
	cr_assert_eq(raft_step(s->nodes[f].r, &ap), 0);
	assert_unchanged(f, &fr);
	sim_process(s, f);
	struct raft_msg resp;
	cr_assert(find_sent(f, l, RAFT_MSG_APPEND_RESP, &resp));
	cr_assert(resp.flags & RAFT_F_REJECT);
	cr_assert_eq(resp.index, last + 1000);
	cr_assert_eq(resp.hint, last, "the hint names the follower's last entry");
	/* the leader's answers to acknowledgements beyond its log: ignored */
	struct raft_msg ar = {
	    .type = RAFT_MSG_APPEND_RESP, .from = f, .to = l, .term = t, .index = RAFT_MAX_INDEX};
	struct frozen fl = freeze(l);
	cr_assert_eq(raft_step(s->nodes[l].r, &ar), 0);
	assert_unchanged(l, &fl);
	ar.flags = RAFT_F_REJECT;
	ar.hint = RAFT_MAX_INDEX;
	cr_assert_eq(raft_step(s->nodes[l].r, &ar), 0);
	assert_unchanged(l, &fl);
	sim_process(s, l);
	/* a heartbeat answer naming a read round never sent */
	struct raft_msg hr = {
	    .type = RAFT_MSG_HEARTBEAT_RESP, .from = f, .term = t, .ctx = 1000000};
	expect_refused(l, hr, -EPROTO, RAFT_REFUSE_FUTURE_ROUND);
	assert_works(3);
}

Test(raft, snapshot_meta_older_than_commit_or_impossible)
{
	setup(3, 0, NULL);
	uint32_t l = elect(), f = other(l, 0);
	for (int k = 0; k < 5; k++)
		cr_assert_eq(sim_propose(s, l, 1, NULL), 0);
	run_ticks(3);
	uint64_t t = st(l).term, commit = st(f).commit;
	cr_assert_geq(commit, 6);
	const struct raft_entry *e2 = raft_entry_at(s->nodes[f].r, 2);
	struct raft_msg sn = {.type = RAFT_MSG_SNAP, .from = l, .to = f, .term = t};
	sn.snap =
	    (struct raft_snap_meta){.index = 2, .term = e2->term, .zxid = e2->zxid + e2->count - 1};
	raft_get_conf(s->nodes[f].r, &sn.snap.conf);
	/* base older than the commit: acknowledged with the commit, nothing installed */
	struct frozen fr = freeze(f);
	uint64_t installs = s->n_snap_installs;
	cr_assert_eq(raft_step(s->nodes[f].r, &sn), 0);
	assert_unchanged(f, &fr);
	sim_process(s, f);
	cr_assert_eq(s->n_snap_installs, installs);
	struct raft_msg resp;
	cr_assert(find_sent(f, l, RAFT_MSG_APPEND_RESP, &resp));
	cr_assert_eq(resp.index, commit);
	cr_assert_not(resp.flags & RAFT_F_REJECT);
	/* metas that no snapshot has */
	struct raft_msg bad = sn;
	bad.snap.index = commit + 10;
	bad.snap.zxid = (t + 1) << 32; /* zxid of another term */
	expect_refused(f, bad, -EINVAL, RAFT_REFUSE_MALFORMED);
	bad.snap.term = t + 1; /* a term above the sender's */
	expect_refused(f, bad, -EINVAL, RAFT_REFUSE_MALFORMED);
	bad = sn;
	bad.snap.index = 0;
	expect_refused(f, bad, -EINVAL, RAFT_REFUSE_MALFORMED);
	bad = sn;
	bad.snap.conf.n = 0; /* no voter */
	expect_refused(f, bad, -EINVAL, RAFT_REFUSE_MALFORMED);
	assert_works(3);
}

Test(raft, vote_requests_of_non_voters_do_not_disrupt)
{
	setup(3, 1, NULL);
	uint32_t l = elect(), f = other(l, 4);
	uint64_t t = st(f).term;
	/* the observer (4) or an id outside the configuration (7) asks for
	 * votes with a log equal to ours: refused, our term is not raised */
	uint32_t from[] = {4, 7};
	for (int k = 0; k < 2; k++) {
		struct raft_msg v = {.type = RAFT_MSG_VOTE,
				     .from = from[k],
				     .term = t + 5,
				     .index = st(f).last_index,
				     .log_term = t,
				     .flags = RAFT_F_TRANSFER};
		expect_refused(f, v, -EPROTO, RAFT_REFUSE_NOT_VOTER);
		expect_refused(l, v, -EPROTO, RAFT_REFUSE_NOT_VOTER);
		v.type = RAFT_MSG_PREVOTE;
		expect_refused(f, v, -EPROTO, RAFT_REFUSE_NOT_VOTER);
	}
	cr_assert_eq(sim_leader(s), l);
	/* a log ahead of ours may hold a configuration that made it a voter:
	 * answered as Raft answers any vote request (granted here) */
	sim_isolate(s, f, true);
	struct raft_msg v = {.type = RAFT_MSG_VOTE,
			     .from = 7,
			     .to = f,
			     .term = t + 1,
			     .index = st(f).last_index + 3,
			     .log_term = t,
			     .flags = RAFT_F_TRANSFER};
	cr_assert_eq(raft_step(s->nodes[f].r, &v), 0);
	cr_assert_eq(st(f).term, t + 1);
	cr_assert_eq(st(f).vote, 7);
	sim_process(s, f);
	sim_heal(s);
	run_ticks(60);
	assert_works(4);
}

Test(raft, vote_grants_of_observers_are_not_counted)
{
	setup(3, 2, NULL);
	uint32_t l = elect(), c = other(l, 0);
	sim_isolate(s, c, true);
	sim_force_campaign(s, c);
	cr_assert_eq(st(c).role, RAFT_CANDIDATE);
	uint64_t t = st(c).term;
	/* grants from both observers and from an unknown id: 4 "votes" */
	uint32_t from[] = {4, 5, 7};
	for (int k = 0; k < 3; k++) {
		struct raft_msg g = {
		    .type = RAFT_MSG_VOTE_RESP, .from = from[k], .to = c, .term = t};
		cr_assert_eq(raft_step(s->nodes[c].r, &g), 0);
		sim_process(s, c);
		cr_assert_eq(st(c).role, RAFT_CANDIDATE, "a non-voter's grant elected it");
	}
	sim_heal(s);
	run_ticks(80);
	assert_works(5);
}

Test(raft, timeout_now_only_from_our_leader)
{
	setup(3, 0, NULL);
	uint32_t l = elect(), f = other(l, 0), g = other(l, f);
	uint64_t t = st(f).term;
	struct raft_msg tn = {.type = RAFT_MSG_TIMEOUT_NOW, .from = g, .term = t};
	expect_refused(f, tn, -EPROTO, RAFT_REFUSE_NOT_LEADER);
	tn.from = l;
	tn.term = t + 1; /* a leader of a term we never saw */
	expect_refused(f, tn, -EPROTO, RAFT_REFUSE_NOT_LEADER);
	cr_assert_eq(sim_leader(s), l);
	assert_works(3);
}

/*
 * A peer at RAFT_MAX_TERM (the last term whose zxids are positive) makes
 * every node adopt it; then nobody can campaign again.  Nothing aborts;
 * the node counts the campaigns it did not start.
 */
Test(raft, a_term_at_the_limit_ends_elections_without_aborting)
{
	setup(3, 0, NULL);
	uint32_t l = elect(), f = other(l, 0), g = other(l, f);
	struct raft_msg v = {.type = RAFT_MSG_VOTE,
			     .from = g,
			     .to = f,
			     .term = RAFT_MAX_TERM,
			     .index = st(f).last_index + 1,
			     .log_term = st(f).term,
			     .flags = RAFT_F_TRANSFER};
	cr_assert_eq(raft_step(s->nodes[f].r, &v), 0);
	cr_assert_eq(st(f).term, RAFT_MAX_TERM);
	sim_process(s, f);
	run_ticks(200);
	for (uint32_t id = 1; id <= 3; id++) {
		cr_assert_eq(st(id).term, RAFT_MAX_TERM);
		cr_assert_neq(st(id).role, RAFT_LEADER);
	}
	struct raft_stats rs;
	raft_get_stats(s->nodes[f].r, &rs);
	cr_assert_gt(rs.term_exhausted, 0);
}

/*
 * Random messages of every type with fields drawn from the values that
 * matter (0, 1, around the log, the commit and the term, the limits and
 * past them) into a live cluster: the cores may accept forged ones (the
 * cross-node checks are off: this is not Raft's fault model) but must
 * never abort, and keep their own invariants (raft_check after each).
 */
Test(raft, random_forged_messages_never_abort)
{
	setup(3, 2, NULL);
	elect();
	s->unsafe = true;
	uint64_t rng = 12345;
	for (int it = 0; it < 20000; it++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t x = rng >> 11;
		uint32_t to = 1 + (uint32_t)(x % 5);
		if (!s->nodes[to].up)
			continue;
		struct raft_status ts = st(to);
		uint64_t vals[] = {0,
				   1,
				   ts.commit,
				   ts.commit + 1,
				   ts.last_index,
				   ts.last_index + 1,
				   ts.last_index + 50,
				   ts.term,
				   ts.term + 1,
				   ts.term ? ts.term - 1 : 0,
				   RAFT_MAX_TERM,
				   RAFT_MAX_TERM + 1,
				   RAFT_MAX_INDEX,
				   UINT64_MAX};
#define V(sh) vals[(x >> (sh)) % (sizeof(vals) / sizeof(vals[0]))]
		struct raft_msg m = {
		    .type = 1 + (uint32_t)((x >> 3) % RAFT_MSG_TYPE_MAX),
		    .flags = (uint32_t)((x >> 7) & 7),
		    .from = (uint32_t)((x >> 10) % 7),
		    .to = to,
		    .term = (x >> 13) & 1 ? ts.term : V(14),
		    .index = V(18),
		    .log_term = (x >> 22) & 1 ? ts.term : V(23),
		    .commit = V(27),
		    .hint = V(31),
		    .ctx = V(35),
		};
		struct raft_entry e[2];
		if (m.type == RAFT_MSG_APPEND && (x >> 39) & 1) {
			for (uint32_t k = 0; k < 2; k++) {
				uint64_t et = (x >> 40) & 1 ? m.term : m.log_term;
				e[k] = (struct raft_entry){.index = m.index + 1 + k,
							   .term = et,
							   .zxid = et << 32 | (V(41) & 0xffffffffu),
							   .type = RAFT_ENTRY_DATA,
							   .count = 1 + k};
				if (k)
					e[k].zxid = e[0].zxid + 1;
			}
			m.entries = e;
			m.n_entries = 1 + (uint32_t)((x >> 45) & 1);
		}
		if (m.type == RAFT_MSG_SNAP) {
			m.snap.index = V(46);
			m.snap.term = (x >> 50) & 1 ? m.term : V(51);
			m.snap.zxid = m.snap.term << 32 | 7;
			raft_get_conf(s->nodes[to].r, &m.snap.conf);
		}
#undef V
		int rc = raft_step(s->nodes[to].r, &m);
		cr_assert(rc == 0 || rc == -EINVAL || rc == -EPROTO, "rc %d", rc);
		sim_process(s, to);
		if (it % 50 == 0) {
			sim_tick(s);
			sim_settle(s, 100);
		}
	}
}

/*
 * Followers whose disks take three election timeouts per write: their
 * heartbeat answers acknowledge nothing new, so they leave at once and the
 * leader keeps its check-quorum; before, they were held behind the slow
 * writes and the leader stepped down within 20 ticks.
 */
Test(raft, slow_follower_disks_do_not_cost_leadership)
{
	setup(3, 0, NULL);
	uint32_t l = elect();
	uint64_t term = st(l).term, commit0 = st(l).commit, elections = s->n_elections;
	for (uint32_t id = 1; id <= 3; id++)
		if (id != l)
			s->nodes[id].disk_delay = 30;
	for (int k = 0; k < 300; k++) {
		sim_propose(s, l, 1, NULL);
		run_ticks(1);
		cr_assert_eq(st(l).role, RAFT_LEADER, "tick %d: the leader stepped down", k);
	}
	cr_assert_eq(st(l).term, term);
	cr_assert_eq(s->n_elections, elections, "no leader change");
	cr_assert_geq(st(l).commit, commit0 + 8, "commits move once per slow write");
	for (uint32_t id = 1; id <= 3; id++)
		cr_assert_eq(st(id).leader, l);
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
