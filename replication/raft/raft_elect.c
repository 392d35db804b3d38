// SPDX-License-Identifier: Apache-2.0
/*
 * raft_elect.c - terms, elections, ticks, check-quorum and leadership
 * transfer (Raft thesis 3.4, 3.10, 4.2.3 and 9.6).
 *
 * Why pre-vote AND check-quorum: a node cut off from the others keeps
 * timing out; without pre-vote it would raise its term each time and, when
 * it returns, its higher term would depose a healthy leader.  With pre-vote
 * it asks first "would you vote for me at term + 1?" without changing any
 * state, and nobody who heard from a leader within election_ticks (the
 * leader lease) says yes.  Check-quorum is the other half: a leader that
 * has not heard from a quorum within election_ticks steps down, so the
 * lease the followers grant it cannot outlive its real support.
 *
 * Leadership transfer (thesis 3.10): the leader stops taking proposals,
 * brings the target up to date, then sends TIMEOUT_NOW; the target
 * campaigns at once with the TRANSFER flag, which lets its vote requests
 * through the others' leases.  A leader whose zxid counter is exhausted
 * uses the same path on itself to move to a new term.
 *
 * Randomness: election timeouts come from a splitmix64 seeded by cfg.seed
 * and the node id, so a run is a function of its inputs.
 */
#include <errno.h>

#include "replication/raft/raft_priv.h"

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void raft_reset_timeout(struct raft *r)
{
	uint32_t et = r->cfg.election_ticks;
	r->rand_timeout = et + (uint32_t)(splitmix64(&r->rng) % et);
	RAFT_ASSERT(r->rand_timeout >= et && r->rand_timeout < 2 * et);
}

static bool up_to_date(const struct raft *r, uint64_t log_term, uint64_t index)
{
	uint64_t lt = raft_last_term(r);
	return log_term > lt || (log_term == lt && index >= raft_last_index(r));
}

static bool in_lease(const struct raft *r)
{
	return r->lead && r->election_elapsed < r->cfg.election_ticks;
}

/*
 * May this node start an election?  A voter of its newest configuration
 * may; so may a voter of the configuration before it while that newest
 * change is uncommitted.  Why the second: a leader that demoted or removed
 * itself and stepped down (check-quorum) before the change committed may
 * be the only node whose log lets the old configuration's voters elect
 * anyone: with two voters shrinking to one, the remaining voter still has
 * the old configuration, needs this node's vote, and cannot get it (this
 * log is longer).  Such a node counts votes in its newest configuration
 * (its own never counts there), leads until the change commits, then
 * steps down as any removed leader does.
 */
static bool may_campaign(const struct raft *r)
{
	if (raft_is_voter(r, r->id))
		return true;
	if (r->conf_index <= r->commit)
		return false;
	struct raft_conf prev;
	if (raft_conf_at(r, r->conf_index - 1, &prev))
		return false;
	const struct raft_member *m = raft_conf_find(&prev, r->id);
	return m && m->voter;
}

/* Records a (pre-)vote answer; returns true if it is new. */
static bool tally(struct raft *r, uint32_t from, bool granted)
{
	if (!raft_is_voter(r, from))
		return false;
	for (uint32_t k = 0; k < r->n_granted; k++)
		if (r->granted[k] == from)
			return false;
	for (uint32_t k = 0; k < r->n_rejected; k++)
		if (r->rejected[k] == from)
			return false;
	if (granted)
		r->granted[r->n_granted++] = from;
	else
		r->rejected[r->n_rejected++] = from;
	RAFT_ASSERT(r->n_granted + r->n_rejected <= RAFT_MAX_MEMBERS);
	return true;
}

static void check_outcome(struct raft *r, bool pre, bool transfer)
{
	uint32_t q = raft_quorum(r);
	if (r->n_granted >= q) {
		if (pre)
			raft_campaign(r, false, transfer);
		else if (raft_hs_durable(r))
			raft_become_leader(r);
		/* else a single voter, elected by itself: raft_elect_persisted() */
	} else if (r->n_rejected + q > raft_conf_voters(&r->conf)) {
		raft_become_follower(r, r->term, 0);
	}
}

void raft_campaign(struct raft *r, bool pre, bool transfer)
{
	if (!may_campaign(r))
		return;
	if (r->term >= RAFT_MAX_TERM) {
		/* no term left to campaign in (zxids would turn negative) */
		r->stats.term_exhausted++;
		r->election_elapsed = 0;
		return;
	}
	if (r->role == RAFT_LEADER) {
		RAFT_ASSERT(transfer && !pre);
		raft_fail_reads(r);
	}
	r->n_granted = r->n_rejected = 0;
	r->lead = 0;
	r->transfer_to = 0;
	if (pre) {
		r->role = RAFT_PRE_CANDIDATE;
	} else {
		RAFT_ASSERT(r->term < RAFT_MAX_TERM);
		r->term++;
		r->vote = r->id;
		r->role = RAFT_CANDIDATE;
	}
	r->election_elapsed = 0;
	raft_reset_timeout(r);
	tally(r, r->id, true);
	if (r->n_granted >= raft_quorum(r)) {
		check_outcome(r, pre, transfer);
		return;
	}
	for (uint32_t k = 0; k < r->conf.n; k++) {
		const struct raft_member *mb = &r->conf.m[k];
		if (!mb->voter || mb->id == r->id)
			continue;
		struct raft_msg m = {
		    .type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE,
		    .to = mb->id,
		    .term = pre ? r->term + 1 : r->term,
		    .index = raft_last_index(r),
		    .log_term = raft_last_term(r),
		    .flags = transfer ? RAFT_F_TRANSFER : 0,
		};
		raft_send(r, &m, 0, 0);
	}
}

int raft_term_check(struct raft *r, const struct raft_msg *m)
{
	if (m->term > r->term) {
		bool vote = m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE;
		if (vote && !(m->flags & RAFT_F_TRANSFER) && in_lease(r))
			return 0; /* leader lease: not disrupted */
		if (m->type == RAFT_MSG_PREVOTE)
			return 1; /* a pre-vote changes nothing here */
		if (m->type == RAFT_MSG_PREVOTE_RESP && !(m->flags & RAFT_F_REJECT))
			return 1;
		bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
				   m->type == RAFT_MSG_SNAP;
		raft_become_follower(r, m->term, from_leader ? m->from : 0);
		return 1;
	}
	if (m->term < r->term) {
		/*
		 * A stale leader learns our term and steps down; a stale
		 * pre-candidate learns it was refused.  The rest is dropped.
		 */
		struct raft_msg a = {.to = m->from};
		if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT) {
			a.type = RAFT_MSG_APPEND_RESP;
			a.flags = RAFT_F_REJECT;
			raft_send(r, &a, 0, 0);
		} else if (m->type == RAFT_MSG_PREVOTE) {
			a.type = RAFT_MSG_PREVOTE_RESP;
			a.flags = RAFT_F_REJECT;
			raft_send(r, &a, 0, 0);
		}
		return 0;
	}
	return 1;
}

int raft_elect_step(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg a = {.to = m->from};
	bool voter = may_campaign(r);

	switch (m->type) {
	case RAFT_MSG_PREVOTE:
		/*
		 * Answered whatever our own membership says (Raft: RPCs are
		 * processed without consulting the configuration; a node
		 * whose log is behind may not know yet that it is a voter).
		 * The candidate counts only the voters of its configuration,
		 * so an observer's answer never counts.
		 */
		a.type = RAFT_MSG_PREVOTE_RESP;
		if (m->term > r->term && up_to_date(r, m->log_term, m->index)) {
			a.term = m->term;
		} else {
			a.flags = RAFT_F_REJECT;
		}
		return raft_send(r, &a, 0, 0);
	case RAFT_MSG_VOTE: {
		bool can = r->vote == m->from || (!r->vote && !r->lead);
		a.type = RAFT_MSG_VOTE_RESP;
		if (can && up_to_date(r, m->log_term, m->index)) {
			RAFT_ASSERT(r->role != RAFT_LEADER && r->role != RAFT_CANDIDATE);
			r->vote = m->from;
			r->election_elapsed = 0;
		} else {
			a.flags = RAFT_F_REJECT;
		}
		return raft_send(r, &a, 0, 0);
	}
	case RAFT_MSG_PREVOTE_RESP: {
		bool granted = !(m->flags & RAFT_F_REJECT);
		if (r->role != RAFT_PRE_CANDIDATE || (granted && m->term != r->term + 1))
			return 0;
		if (tally(r, m->from, granted))
			check_outcome(r, true, false);
		return 0;
	}
	case RAFT_MSG_VOTE_RESP:
		if (r->role != RAFT_CANDIDATE)
			return 0;
		if (tally(r, m->from, !(m->flags & RAFT_F_REJECT)))
			check_outcome(r, false, false);
		return 0;
	case RAFT_MSG_TIMEOUT_NOW:
		if (r->lead && r->lead != m->from)
			return raft_refuse(r, m, RAFT_REFUSE_NOT_LEADER);
		if (voter && r->role != RAFT_LEADER)
			raft_campaign(r, false, true);
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * A candidate's term and vote became durable.  One elected by others is
 * never waiting here (their votes came after its requests, which waited
 * for durability); a single voter elects itself and must not lead - append
 * entries, send messages - in a term a crash could forget, or it would
 * lead that term again, with a different log, after the restart.
 */
void raft_elect_persisted(struct raft *r)
{
	if (r->n_granted >= raft_quorum(r) && raft_hs_durable(r))
		raft_become_leader(r);
}

static void leader_tick(struct raft *r)
{
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->election_elapsed >= r->cfg.election_ticks) {
		r->election_elapsed = 0;
		uint32_t active = raft_is_voter(r, r->id) ? 1 : 0;
		for (uint32_t k = 0; k < r->n_pr; k++) {
			if (r->pr[k].voter && r->pr[k].active)
				active++;
			r->pr[k].active = false;
		}
		if (active < raft_quorum(r)) {
			/* check-quorum: we cannot hear a majority */
			raft_become_follower(r, r->term, 0);
			return;
		}
	}
	if (r->transfer_to && ++r->transfer_elapsed >= r->cfg.election_ticks)
		r->transfer_to = 0; /* abandoned; proposals flow again */
	if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		raft_bcast_heartbeat(r, r->read_seq);
	}
}

void raft_elect_tick(struct raft *r)
{
	if (r->role == RAFT_LEADER) {
		leader_tick(r);
		return;
	}
	r->election_elapsed++;
	if (r->election_elapsed >= r->rand_timeout && may_campaign(r))
		raft_campaign(r, true, false);
}

int raft_transfer_leader(struct raft *r, uint32_t to)
{
	if (r->role != RAFT_LEADER)
		return -EPERM;
	struct raft_progress *best = NULL;
	for (uint32_t k = 0; k < r->n_pr; k++) {
		struct raft_progress *p = &r->pr[k];
		if (p->voter && (to ? p->id == to : !best || p->match > best->match))
			best = p;
	}
	if (!best)
		return -EINVAL;
	r->transfer_to = best->id;
	r->transfer_elapsed = 0;
	if (best->match == raft_last_index(r)) {
		struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = best->id};
		raft_send(r, &m, 0, 0);
	} else {
		raft_send_append(r, best, false);
	}
	raft_check(r);
	return 0;
}

void raft_peer_reset(struct raft *r, uint32_t id)
{
	struct raft_progress *p = r->role == RAFT_LEADER ? raft_progress(r, id) : NULL;

	if (p && id != r->id) {
		p->match = 0;
		p->hb_match = 0;
		p->stall = 0;
		p->state = PR_PROBE;
		p->paused = false;
		/* the last entry: a probe carries it, so it is sent at once */
		p->next = raft_last_index(r) ? raft_last_index(r) : 1;
		p->in_count = 0;
		p->in_bytes = 0;
		p->in_head = 0;
	}
	raft_check(r);
}

int raft_pre_vote(struct raft *r)
{
	if (r->role == RAFT_LEADER || r->role == RAFT_CANDIDATE || r->lead)
		return -EBUSY;
	if (!may_campaign(r))
		return -EPERM;
	raft_campaign(r, true, false);
	raft_check(r);
	return 0;
}

void raft_peer_lost(struct raft *r, uint32_t id)
{
	if (r->role == RAFT_LEADER) {
		struct raft_progress *p = raft_progress(r, id);
		if (p) {
			/* what was in flight on that connection is gone */
			p->state = PR_PROBE;
			p->next = p->match + 1;
			p->paused = false;
			p->in_count = 0;
			p->in_bytes = 0;
			p->in_head = 0;
		}
	} else if (id && id == r->lead && r->role == RAFT_FOLLOWER) {
		raft_campaign(r, true, false);
	}
	raft_check(r);
}
