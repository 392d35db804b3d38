// SPDX-License-Identifier: Apache-2.0
/*
 * sim_run.c - one random run of the simulator: the cluster shape and the
 * fault rates come from the seed, then `steps` random events (deliveries,
 * ticks, disk completions, client proposals and syncs, crashes with torn
 * writes, restarts, partitions, heals, snapshots, membership changes,
 * leadership transfers, spurious peer-lost notices), the checker after
 * each; then the liveness phase: faults healed, every node restarted,
 * and a leader must be elected and a fresh proposal committed within
 * LIVE_TICKS ticks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define LIVE_TICKS 400

#define CHECK_RUN(s, c, ...)                                                                       \
	do {                                                                                       \
		if (!(c))                                                                          \
			sim_fail(s, __VA_ARGS__);                                                  \
	} while (0)

static uint32_t pick_up(struct sim *s)
{
	uint32_t ids[SIM_MAX_NODES], n = 0;
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].up)
			ids[n++] = id;
	return n ? ids[sim_below(s, n)] : 0;
}

static uint32_t pick_down(struct sim *s)
{
	uint32_t ids[SIM_MAX_NODES], n = 0;
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].exists && !s->nodes[id].up)
			ids[n++] = id;
	return n ? ids[sim_below(s, n)] : 0;
}

static uint32_t n_up(struct sim *s)
{
	uint32_t n = 0;
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++)
		n += s->nodes[id].up;
	return n;
}

/* A tick; each disk completes its oldest write with probability 1/2. */
static void tick(struct sim *s)
{
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].up && sim_below(s, 2))
			sim_flush(s, id, 1);
	sim_tick(s);
}

static void deliver_random(struct sim *s)
{
	size_t ready[256], n = 0;
	for (size_t k = 0; k < s->n_net && n < 256; k++)
		if (s->net[k].at <= s->now)
			ready[n++] = k;
	if (!n) {
		tick(s);
		return;
	}
	sim_deliver(s, ready[sim_below(s, n)]);
}

static void change_membership(struct sim *s)
{
	uint32_t l = sim_leader(s);
	if (!l)
		return;
	struct raft_conf c;
	raft_get_conf(s->nodes[l].r, &c);
	uint32_t voters = raft_conf_voters(&c);
	uint32_t min = s->o.min_voters ? s->o.min_voters : 3;
	struct raft_conf nc = c;
	uint32_t op = (uint32_t)sim_below(s, 3);
	if (op == 0 && c.n < SIM_MAX_NODES) {
		uint32_t id;
		do
			id = 1 + (uint32_t)sim_below(s, SIM_MAX_NODES);
		while (raft_conf_find(&c, id));
		nc.m[nc.n].id = id;
		nc.m[nc.n].voter = voters < 5 && sim_below(s, 2);
		nc.n++;
	} else if (op == 1) {
		uint32_t k = (uint32_t)sim_below(s, c.n);
		if (c.m[k].voter && voters <= min)
			return;
		nc.m[k] = nc.m[--nc.n];
	} else {
		uint32_t k = (uint32_t)sim_below(s, c.n);
		if (c.m[k].voter ? voters <= min : voters >= 5)
			return;
		nc.m[k].voter = !c.m[k].voter;
	}
	if (raft_propose_conf(s->nodes[l].r, &nc, NULL) == 0) {
		s->n_conf_changes++;
		for (uint32_t k = 0; k < nc.n; k++)
			if (!s->nodes[nc.m[k].id].exists)
				sim_start(s, nc.m[k].id, &nc);
	}
	sim_process(s, l);
}

static void random_step(struct sim *s)
{
	uint64_t r = sim_below(s, 1000);
	uint32_t id;

	if (r < 500) {
		for (uint64_t k = 1 + sim_below(s, 4); k > 0; k--)
			deliver_random(s);
	} else if (r < 580) {
		tick(s);
	} else if (r < 760) {
		for (id = 1; id <= SIM_MAX_NODES; id++)
			if (s->nodes[id].up && sim_below(s, 2)) {
				if (sim_below(s, 4) == 0)
					sim_flush_later(s, id);
				else
					sim_flush(s, id, 1 + sim_below(s, 3));
			}
	} else if (r < 880) {
		id = sim_leader(s);
		if (!id || sim_below(s, 10) == 0)
			id = pick_up(s);
		if (id)
			sim_propose(s, id, 1 + (uint32_t)sim_below(s, 5), NULL);
	} else if (r < 900) {
		if ((id = pick_up(s)))
			sim_sync(s, id);
	} else if (r < 905) {
		if (n_up(s) > 1 && (id = pick_up(s)))
			sim_crash(s, id, sim_below(s, 2));
	} else if (r < 925) {
		if ((id = pick_down(s))) {
			if (s->o.wipe && sim_below(s, 3) == 0)
				sim_wipe(s, id);
			sim_start(s, id, NULL);
		}
	} else if (r < 930) {
		uint32_t a = pick_up(s), b = pick_up(s);
		if (sim_below(s, 2) && a)
			sim_isolate(s, a, true);
		else if (a && b && a != b)
			sim_partition(s, a, b, true);
	} else if (r < 940) {
		sim_heal(s);
	} else if (r < 960) {
		if ((id = pick_up(s)))
			sim_snapshot(s, id, sim_below(s, 5));
	} else if (r < 968) {
		change_membership(s);
	} else if (r < 971) {
		if ((id = sim_leader(s))) {
			raft_transfer_leader(s->nodes[id].r, 0);
			sim_process(s, id);
		}
	} else if (r < 975) {
		uint32_t a = pick_up(s), b = 1 + (uint32_t)sim_below(s, SIM_MAX_NODES);
		if (a && sim_below(s, 2)) {
			/* the driver asks again after a lost leader (ensemble.c) */
			raft_pre_vote(s->nodes[a].r);
			sim_process(s, a);
		} else if (a && a != b) {
			raft_peer_lost(s->nodes[a].r, b);
			sim_process(s, a);
		}
	} else if (r < 985) {
		if (s->n_net)
			sim_inject(s, sim_below(s, s->n_net));
	} else {
		deliver_random(s);
	}
}

/*
 * Returns true once a leader committed a fresh proposal; fails the run
 * otherwise, unless a wiped disk made the run unsafe (then a divergent
 * history may leave no node able to lead: only reported).
 */
static bool liveness(struct sim *s)
{
	sim_heal(s);
	s->o.drop_pct = s->o.dup_pct = 0;
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].exists && !s->nodes[id].up)
			sim_start(s, id, NULL);
	uint32_t prop_node = 0;
	uint64_t prop_index = 0, prop_term = 0;
	for (uint64_t t = 0; t < LIVE_TICKS; t++) {
		sim_settle(s, 1000);
		sim_check(s);
		if (prop_node) {
			struct raft_status st;
			raft_get_status(s->nodes[prop_node].r, &st);
			const struct sim_committed *c =
			    prop_index < s->cap_committed ? &s->committed[prop_index] : NULL;
			if (st.applied >= prop_index &&
			    (s->unsafe || (c && c->chain && c->term == prop_term)))
				return true; /* committed and applied by its leader */
			if (st.role != RAFT_LEADER || st.term != prop_term)
				prop_node = 0;
		}
		uint32_t l = sim_leader(s);
		if (l && !prop_node) {
			uint64_t idx;
			if (sim_propose(s, l, 1, &idx) == 0) {
				struct raft_status st;
				raft_get_status(s->nodes[l].r, &st);
				prop_node = l;
				prop_index = idx;
				prop_term = st.term;
				continue;
			}
		}
		sim_tick(s);
	}
	if (s->unsafe)
		return false;
	sim_fail(s, "liveness: no leader committed a new proposal within %d ticks after healing",
		 LIVE_TICKS);
}

int sim_run(uint64_t seed, uint64_t steps, bool verbose, struct sim *figures)
{
	struct sim *s = calloc(1, sizeof(*s));
	struct sim_opts o = {0};
	sim_init(s, seed, &o);
	o.voters = sim_below(s, 2) ? 5 : 3;
	o.observers = (uint32_t)sim_below(s, 3);
	o.drop_pct = (uint32_t)sim_below(s, 11);
	o.dup_pct = (uint32_t)sim_below(s, 6);
	o.max_delay = (uint32_t)sim_below(s, 4);
	o.max_counter = sim_below(s, 4) == 0 ? 40 : 0;
	o.max_msg_entries = 1 + (uint32_t)sim_below(s, 8);
	o.election_ticks = 10;
	/* a quarter of the runs may shrink to one voter (and pass through even
	 * voter counts); half of those start with a single voter */
	o.min_voters = sim_below(s, 4) == 0 ? 1 : 3;
	if (o.min_voters == 1 && sim_below(s, 2))
		o.voters = 1;
	/* half the runs have stragglers: 0.5% of messages arrive up to four
	 * election timeouts late (answers to old rounds, old terms' appends) */
	o.straggle_permille = sim_below(s, 2) ? 5 : 0;
	/* one run in eight restarts voters with wiped disks (not Raft's fault
	 * model: the cross-node checks go off at the first wipe, the cores
	 * must survive what follows) */
	o.wipe = sim_below(s, 8) == 0;
	s->o = o;

	struct raft_conf conf = {.n = o.voters + o.observers};
	for (uint32_t k = 0; k < conf.n; k++) {
		conf.m[k].id = k + 1;
		conf.m[k].voter = k < o.voters;
	}
	for (uint32_t k = 0; k < conf.n; k++)
		sim_start(s, k + 1, &conf);
	for (s->step = 0; s->step < steps; s->step++) {
		random_step(s);
		sim_check(s);
	}
	if (!liveness(s))
		s->n_stuck++;
	if (verbose)
		printf("seed %llu: %uv+%uo drop %u%% dup %u%% delay %u: ticks %llu acked %llu "
		       "synced %llu "
		       "elections %llu crashes %llu snapshot installs %llu conf changes %llu "
		       "delivered %llu dropped %llu\n",
		       (unsigned long long)seed, o.voters, o.observers, o.drop_pct, o.dup_pct,
		       o.max_delay, (unsigned long long)s->now, (unsigned long long)s->n_acked,
		       (unsigned long long)s->n_synced, (unsigned long long)s->n_elections,
		       (unsigned long long)s->n_crashes, (unsigned long long)s->n_snap_installs,
		       (unsigned long long)s->n_conf_changes, (unsigned long long)s->n_delivered,
		       (unsigned long long)s->n_dropped);
	if (figures) {
		figures->n_acked += s->n_acked;
		figures->n_synced += s->n_synced;
		figures->n_elections += s->n_elections;
		figures->n_crashes += s->n_crashes;
		figures->n_early += s->n_early;
		figures->n_early_lost += s->n_early_lost;
		figures->n_early_kept += s->n_early_kept;
		figures->n_snap_installs += s->n_snap_installs;
		figures->n_conf_changes += s->n_conf_changes;
		figures->n_delivered += s->n_delivered;
		figures->n_dropped += s->n_dropped;
		figures->now += s->now;
		figures->n_refused += s->n_refused;
		figures->n_chunks += s->n_chunks;
		figures->n_streams_done += s->n_streams_done;
		figures->n_streams_failed += s->n_streams_failed;
		figures->n_stream_rejects += s->n_stream_rejects;
		figures->n_injected += s->n_injected;
		figures->n_wipes += s->n_wipes;
		figures->n_stuck += s->n_stuck;
		figures->unsafe_runs += s->unsafe;
	}
	sim_free(s);
	free(s);
	return 0;
}

/*
 * Slow follower disks (a write takes 1.5 to 3 election timeouts), the
 * leader's fast, no other fault, a proposal every tick.  Heartbeat answers
 * acknowledge nothing to persist, so they must not wait for those writes:
 * the leader keeps its check-quorum and nobody's election timer fires.
 * Any leader change after the first election fails the run; commits must
 * still move (once per slow write).
 */
#define SLOW_TICKS 600

int sim_run_slow_disks(uint64_t seed, bool verbose, struct sim *figures)
{
	struct sim *s = calloc(1, sizeof(*s));
	struct sim_opts o = {.election_ticks = 10};
	sim_init(s, seed, &o);
	s->replay_flags = "--slow-disks ";
	o.voters = sim_below(s, 2) ? 5 : 3;
	o.observers = (uint32_t)sim_below(s, 2);
	o.max_delay = (uint32_t)sim_below(s, 3);
	s->o = o;
	struct raft_conf conf = {.n = o.voters + o.observers};
	for (uint32_t k = 0; k < conf.n; k++) {
		conf.m[k].id = k + 1;
		conf.m[k].voter = k < o.voters;
	}
	for (uint32_t k = 0; k < conf.n; k++)
		sim_start(s, k + 1, &conf);
	uint32_t l = 0;
	for (int t = 0; t < 400 && !l; t++) {
		sim_settle(s, 1000);
		sim_tick(s);
		l = sim_leader(s);
	}
	CHECK_RUN(s, l, "no leader elected");
	for (int t = 0; t < 5; t++) {
		sim_settle(s, 1000);
		sim_tick(s);
	}
	struct raft_status st;
	raft_get_status(s->nodes[l].r, &st);
	uint64_t term = st.term, commit0 = st.commit, elections = s->n_elections;
	uint32_t min_delay = 3 * o.election_ticks / 2;
	for (uint32_t id = 1; id <= conf.n; id++)
		if (id != l)
			s->nodes[id].disk_delay =
			    min_delay + (uint32_t)sim_below(s, 3 * o.election_ticks - min_delay);
	for (int t = 0; t < SLOW_TICKS; t++) {
		sim_propose(s, l, 1, NULL);
		sim_settle(s, 1000);
		sim_tick(s);
		sim_check(s);
		CHECK_RUN(s, sim_leader(s) == l && s->n_elections == elections,
			  "slow follower disks cost leader %u its leadership (leader now %u, "
			  "%llu leader changes)",
			  l, sim_leader(s), (unsigned long long)(s->n_elections - elections));
	}
	raft_get_status(s->nodes[l].r, &st);
	CHECK_RUN(s, st.term == term && st.commit >= commit0 + SLOW_TICKS / 30,
		  "commit moved from %llu to %llu only", (unsigned long long)commit0,
		  (unsigned long long)st.commit);
	if (verbose)
		printf("seed %llu: %uv+%uo slow disks: ticks %llu acked %llu elections %llu\n",
		       (unsigned long long)seed, o.voters, o.observers, (unsigned long long)s->now,
		       (unsigned long long)s->n_acked, (unsigned long long)s->n_elections);
	if (figures) {
		figures->n_acked += s->n_acked;
		figures->n_elections += s->n_elections;
		figures->n_delivered += s->n_delivered;
		figures->now += s->now;
	}
	sim_free(s);
	free(s);
	return 0;
}
