// SPDX-License-Identifier: Apache-2.0
/*
 * raft_repl.c - log replication, the commit rule, snapshots and the read
 * index (Raft thesis chapters 3.5-3.6, 5, 6.4).
 *
 * Progress per peer, as etcd's tracker: PROBE sends one append and waits
 * for its answer (or a heartbeat answer) before the next; on success the
 * peer goes to REPLICATE, where appends are pipelined, `next` moves on
 * optimistically and a window bounds what is in flight (max_inflight_msgs
 * appends, max_inflight_bytes of payload); a rejection drops back to PROBE
 * at match + 1.  A peer whose next entry is compacted away gets a SNAP and
 * waits in SNAPSHOT until it acknowledges the snapshot's base (or the
 * transport reports failure).  match < next always.
 *
 * The commit rule (thesis 3.6.2, the Figure-8 rule): the commit index is
 * the highest index durable on a quorum of voters - the leader's own entry
 * counted only once the driver has reported it persisted - and it moves
 * only to an entry of the leader's current term.  Earlier terms' entries
 * are committed indirectly, by the no-op each leader appends first.
 *
 * Observers get entries up to the commit index only, and their answers
 * never count.  A follower's commit is min(leader's commit, the last entry
 * this append proved to match).
 *
 * Read index (thesis 6.4): the leader records its commit index (once its
 * no-op is committed, so the index covers everything committed before),
 * broadcasts a heartbeat with a fresh round number, and answers once a
 * quorum of voters echoed a round >= that number.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replication/raft/raft_priv.h"

struct raft_progress *raft_progress(struct raft *r, uint32_t id)
{
	for (uint32_t k = 0; k < r->n_pr; k++)
		if (r->pr[k].id == id)
			return &r->pr[k];
	return NULL;
}

static void reset_window(struct raft_progress *p)
{
	p->in_head = p->in_count = 0;
	p->in_bytes = 0;
}

static void to_probe(struct raft *r, struct raft_progress *p, uint64_t next)
{
	p->state = PR_PROBE;
	p->paused = false;
	p->next = next > p->match ? next : p->match + 1;
	if (p->next > raft_last_index(r) + 1)
		p->next = raft_last_index(r) + 1;
	reset_window(p);
}

void raft_become_leader(struct raft *r)
{
	RAFT_ASSERT(r->role == RAFT_CANDIDATE && r->vote == r->id);
	r->role = RAFT_LEADER;
	r->lead = 0;
	raft_note_leader(r, r->id);
	r->transfer_to = 0;
	r->heartbeat_elapsed = r->election_elapsed = 0;
	r->n_pr = 0;
	raft_conf_sync_progress(r);
	r->term_start = raft_last_index(r) + 1;
	r->next_counter = 0;
	/* the no-op: counter 0, commits the earlier terms' entries */
	int rc = raft_append_local(r, RAFT_ENTRY_NOOP, 1, NULL, 0, NULL, NULL);
	RAFT_ASSERT(rc == 0);
	RAFT_ASSERT(r->next_counter == 1);
	raft_bcast_append(r, true);
}

static uint32_t window_full(const struct raft *r, const struct raft_progress *p)
{
	return p->in_count >= r->cfg.max_inflight_msgs || p->in_bytes >= r->cfg.max_inflight_bytes;
}

static void send_snapshot(struct raft *r, struct raft_progress *p)
{
	struct raft_msg m = {.type = RAFT_MSG_SNAP, .to = p->id, .snap = r->snap};
	p->state = PR_SNAPSHOT;
	p->pending_snap = r->snap.index;
	reset_window(p);
	raft_send(r, &m, 0, 0);
}

void raft_send_append(struct raft *r, struct raft_progress *p, bool send_empty)
{
	RAFT_ASSERT(r->role == RAFT_LEADER);
	if (p->state == PR_SNAPSHOT || (p->state == PR_PROBE && p->paused) ||
	    (p->state == PR_REPLICATE && window_full(r, p)))
		return;
	uint64_t prev = p->next - 1, prev_term;
	if (!raft_term_at(r, prev, &prev_term)) {
		RAFT_ASSERT(prev < r->snap.index);
		send_snapshot(r, p);
		return;
	}
	uint64_t hi = raft_last_index(r);
	if (!p->voter && hi > r->commit)
		hi = r->commit; /* observers: committed entries only */
	uint32_t n = 0;
	uint64_t bytes = 0;
	for (uint64_t i = p->next; i <= hi && n < r->cfg.max_msg_entries; i++) {
		uint32_t len = raft_ent(r, i)->len;
		if (n && bytes + len > r->cfg.max_msg_bytes)
			break;
		bytes += len;
		n++;
	}
	if (!n && !send_empty)
		return;
	struct raft_msg m = {
	    .type = RAFT_MSG_APPEND,
	    .to = p->id,
	    .index = prev,
	    .log_term = prev_term,
	    .commit = r->commit,
	    .n_entries = n,
	};
	uint64_t hi_term = n ? raft_ent(r, prev + n)->term : 0;
	raft_send(r, &m, p->next, hi_term);
	if (p->state == PR_REPLICATE) {
		if (n) {
			uint32_t slot = (p->in_head + p->in_count) % RAFT_MAX_INFLIGHT;
			p->infl[slot].last = prev + n;
			p->infl[slot].bytes = bytes;
			p->in_count++;
			p->in_bytes += bytes;
			p->next = prev + n + 1;
		}
	} else {
		p->paused = true;
	}
}

void raft_bcast_append(struct raft *r, bool send_empty)
{
	for (uint32_t k = 0; k < r->n_pr; k++) {
		struct raft_progress *p = &r->pr[k];
		do
			raft_send_append(r, p, send_empty);
		while (p->state == PR_REPLICATE && !window_full(r, p) &&
		       p->next <= (p->voter ? raft_last_index(r) : r->commit));
	}
}

void raft_bcast_heartbeat(struct raft *r, uint64_t ctx)
{
	for (uint32_t k = 0; k < r->n_pr; k++) {
		struct raft_progress *p = &r->pr[k];
		if (p->match == p->hb_match && p->match < raft_last_index(r))
			p->stall++;
		else
			p->stall = 0;
		p->hb_match = p->match;
		struct raft_msg m = {
		    .type = RAFT_MSG_HEARTBEAT,
		    .to = p->id,
		    .commit = p->match < r->commit ? p->match : r->commit,
		    .ctx = ctx,
		};
		raft_send(r, &m, 0, 0);
	}
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void flush_waiting_reads(struct raft *r);

void raft_maybe_commit(struct raft *r)
{
	RAFT_ASSERT(r->role == RAFT_LEADER);
	uint64_t m[RAFT_MAX_MEMBERS];
	uint32_t n = 0;
	if (raft_is_voter(r, r->id))
		m[n++] = r->durable; /* the leader's own, once persisted */
	for (uint32_t k = 0; k < r->n_pr; k++)
		if (r->pr[k].voter)
			m[n++] = r->pr[k].match;
	uint32_t q = raft_quorum(r);
	RAFT_ASSERT(n == raft_conf_voters(&r->conf) && n >= q);
	qsort(m, n, sizeof(m[0]), cmp_desc);
	uint64_t idx = m[q - 1], t;
	/* Figure 8: only an entry of our own term is committed by counting */
	if (idx <= r->commit || !raft_term_at(r, idx, &t) || t != r->term)
		return;
	RAFT_ASSERT(idx <= raft_last_index(r));
	/* commit <= the highest index durable on a quorum of voters */
	uint32_t durable_on = 0;
	for (uint32_t k = 0; k < n; k++)
		durable_on += m[k] >= idx;
	RAFT_ASSERT(durable_on >= q);
	r->commit = idx;
	flush_waiting_reads(r);
	if (r->conf_index <= r->commit && !raft_is_voter(r, r->id)) {
		/* removed (or demoted) by a committed configuration */
		raft_become_follower(r, r->term, 0);
		return;
	}
	raft_bcast_append(r, true);
}

/* ---- follower side ---- */

static void ack(struct raft *r, uint32_t to, uint64_t index, bool reject, uint64_t hint,
		uint64_t hint_term)
{
	struct raft_msg a = {
	    .type = RAFT_MSG_APPEND_RESP,
	    .to = to,
	    .index = index,
	    .hint = hint,
	    .log_term = hint_term,
	    .flags = reject ? RAFT_F_REJECT : 0,
	};
	raft_send(r, &a, 0, 0);
}

/*
 * The highest index <= index whose term is <= term (or the snapshot base):
 * on a mismatch the follower answers with it and the leader searches its
 * own log the same way, so one round trip skips a whole divergent term
 * instead of one entry (etcd's findConflictByTerm).
 */
static uint64_t last_at_or_below(const struct raft *r, uint64_t index, uint64_t term)
{
	uint64_t t;
	if (index > raft_last_index(r))
		index = raft_last_index(r);
	while (index > r->snap.index && raft_term_at(r, index, &t) && t > term)
		index--;
	return index;
}

static bool match_term(const struct raft *r, uint64_t index, uint64_t term)
{
	uint64_t t;
	return raft_term_at(r, index, &t) && t == term;
}

static int handle_append(struct raft *r, const struct raft_msg *m)
{
	if (m->index < r->commit) {
		ack(r, m->from, r->commit, false, 0, 0);
		return 0;
	}
	if (!match_term(r, m->index, m->log_term)) {
		uint64_t h = last_at_or_below(r, m->index, m->log_term), ht = 0;
		if (h >= r->snap.index)
			raft_term_at(r, h, &ht);
		ack(r, m->from, m->index, true, h, ht);
		return 0;
	}
	/* find the first entry we do not have */
	uint32_t k = 0;
	while (k < m->n_entries && match_term(r, m->entries[k].index, m->entries[k].term))
		k++;
	if (k < m->n_entries) {
		const struct raft_entry *e = &m->entries[k];
		const struct raft_entry *prev = raft_ent(r, e->index - 1);
		uint64_t prev_zxid = prev ? prev->zxid + prev->count - 1 : r->snap.zxid;
		if (e->index - 1 > 0 && e->zxid <= prev_zxid)
			return raft_refuse(r, m, RAFT_REFUSE_ZXID_ORDER);
		if (e->index <= raft_last_index(r)) {
			/* log matching: we only ever cut uncommitted entries */
			RAFT_ASSERT(e->index > r->commit);
			raft_truncate(r, e->index);
		}
		for (; k < m->n_entries; k++) {
			int rc = raft_append_copy(r, &m->entries[k]);
			if (rc)
				return rc;
		}
	}
	uint64_t last_new = m->index + m->n_entries;
	uint64_t c = m->commit < last_new ? m->commit : last_new;
	if (c > r->commit)
		r->commit = c;
	ack(r, m->from, last_new, false, 0, 0);
	return 0;
}

static int handle_snap(struct raft *r, const struct raft_msg *m)
{
	const struct raft_snap_meta *s = &m->snap;
	if (s->index <= r->commit) {
		ack(r, m->from, r->commit, false, 0, 0);
		return 0;
	}
	if (match_term(r, s->index, s->term)) {
		r->commit = s->index; /* we have it: fast-forward */
		ack(r, m->from, s->index, false, 0, 0);
		return 0;
	}
	/* install: the whole log goes, the snapshot is the new base */
	for (size_t k = 0; k < r->log_n; k++)
		free((void *)r->log[k].data);
	r->log_n = 0;
	r->snap = *s;
	r->conf = s->conf;
	r->conf_index = s->index;
	r->commit = r->applied = s->index;
	r->snap_pending = true;
	r->truncate_pending = 0;
	r->stable_next = s->index + 1;
	r->durable = 0; /* nothing of this log is durable until the unit is */
	struct raft_persist_rec *rec = r->recs.v;
	for (size_t k = 0; k < r->recs.n; k++)
		rec[k].last = 0;
	ack(r, m->from, s->index, false, 0, 0);
	return 0;
}

/* ---- leader side ---- */

static void free_window(struct raft_progress *p, uint64_t upto)
{
	while (p->in_count && p->infl[p->in_head].last <= upto) {
		p->in_bytes -= p->infl[p->in_head].bytes;
		p->in_head = (p->in_head + 1) % RAFT_MAX_INFLIGHT;
		p->in_count--;
	}
}

static void handle_append_resp(struct raft *r, struct raft_progress *p, const struct raft_msg *m)
{
	if (m->flags & RAFT_F_REJECT) {
		if (p->state == PR_REPLICATE) {
			if (m->index <= p->match)
				return; /* stale */
			to_probe(r, p, p->match + 1);
		} else if (p->state == PR_PROBE) {
			if (m->index != p->next - 1)
				return; /* stale */
			/* the follower has nothing after hint with a term above
			 * log_term that could match ours: skip past it */
			uint64_t h = m->hint < m->index ? m->hint : m->index - 1;
			uint64_t next = last_at_or_below(r, h, m->log_term) + 1;
			if (next <= p->match) {
				/*
				 * It lacks what it acknowledged: a late
				 * duplicate of an old rejection, or a follower
				 * whose disk was wiped (it cannot be repaired
				 * here: match never moves back).  Resending
				 * at once would loop at network speed; the
				 * next heartbeat probes again.
				 */
				return;
			}
			to_probe(r, p, next);
		} else {
			return;
		}
		raft_send_append(r, p, false);
		return;
	}
	if (m->index > raft_last_index(r))
		return; /* from another term's log: ignore */
	bool moved = false;
	if (m->index > p->match) {
		p->match = m->index;
		moved = true;
		if (p->next <= p->match)
			p->next = p->match + 1;
	}
	free_window(p, m->index);
	if (p->state == PR_PROBE || (p->state == PR_SNAPSHOT && p->match >= p->pending_snap)) {
		if (p->state == PR_PROBE)
			r->stats.log_catchups++; /* ZooKeeper's DIFF sync (diff_count) */
		p->state = PR_REPLICATE;
		p->paused = false;
		p->next = p->match + 1;
		reset_window(p);
	}
	if (moved)
		raft_maybe_commit(r);
	if (r->role != RAFT_LEADER)
		return;
	if (r->transfer_to == p->id && p->match == raft_last_index(r)) {
		struct raft_msg t = {.type = RAFT_MSG_TIMEOUT_NOW, .to = p->id};
		raft_send(r, &t, 0, 0);
	}
	do
		raft_send_append(r, p, false);
	while (p->state == PR_REPLICATE && !window_full(r, p) &&
	       p->next <= (p->voter ? raft_last_index(r) : r->commit));
}

/* ---- read index ---- */

static void answer_read(struct raft *r, const struct raft_pending_read *rd, int err)
{
	if (rd->from == r->id) {
		raft_push_read(r, rd->ctx, rd->index, err);
		return;
	}
	struct raft_msg m = {
	    .type = RAFT_MSG_READ_INDEX_RESP,
	    .to = rd->from,
	    .ctx = rd->ctx,
	    .index = rd->index,
	    .flags = err ? RAFT_F_REJECT : 0,
	};
	raft_send(r, &m, 0, 0);
}

void raft_fail_reads(struct raft *r)
{
	struct raft_pending_read *rd = r->reads.v;
	for (size_t k = 0; k < r->reads.n; k++)
		answer_read(r, &rd[k], -EAGAIN);
	r->reads.n = 0;
}

static void ack_reads(struct raft *r, uint32_t from, uint64_t seq)
{
	struct raft_pending_read *rd = r->reads.v;
	size_t w = 0;
	for (size_t k = 0; k < r->reads.n; k++) {
		struct raft_pending_read *x = &rd[k];
		if (x->seq && x->seq <= seq && raft_is_voter(r, from)) {
			bool dup = false;
			for (uint32_t j = 0; j < x->n_acks; j++)
				dup |= x->acks[j] == from;
			if (!dup && x->n_acks < RAFT_MAX_MEMBERS)
				x->acks[x->n_acks++] = from;
		}
		if (x->seq && x->n_acks >= raft_quorum(r)) {
			answer_read(r, x, 0);
			continue;
		}
		rd[w++] = *x;
	}
	r->reads.n = w;
}

static void arm_read(struct raft *r, struct raft_pending_read *x)
{
	x->seq = ++r->read_seq;
	x->index = r->commit;
	x->n_acks = 0;
	if (raft_is_voter(r, r->id))
		x->acks[x->n_acks++] = r->id;
}

static void flush_waiting_reads(struct raft *r)
{
	if (r->commit < r->term_start)
		return;
	struct raft_pending_read *rd = r->reads.v;
	bool any = false;
	for (size_t k = 0; k < r->reads.n; k++) {
		if (!rd[k].seq) {
			arm_read(r, &rd[k]);
			any = true;
		}
	}
	if (any) {
		ack_reads(r, r->id, 0);
		if (r->reads.n)
			raft_bcast_heartbeat(r, r->read_seq);
	}
}

void raft_start_read(struct raft *r, uint64_t ctx, uint32_t from)
{
	RAFT_ASSERT(r->role == RAFT_LEADER);
	struct raft_pending_read x = {.ctx = ctx, .from = from};
	if (qvec_push(&r->reads, &x, sizeof(x))) {
		answer_read(r, &x, -EAGAIN);
		return;
	}
	flush_waiting_reads(r);
}

void raft_report_snapshot(struct raft *r, uint32_t id, bool ok)
{
	struct raft_progress *p = r->role == RAFT_LEADER ? raft_progress(r, id) : NULL;
	if (!p || p->state != PR_SNAPSHOT)
		return;
	if (ok) {
		to_probe(r, p, p->pending_snap + 1);
		p->paused = true; /* wait for the follower's answer */
	} else {
		to_probe(r, p, p->match + 1);
	}
	raft_check(r);
}

/* ---- dispatch ---- */

int raft_repl_step(struct raft *r, const struct raft_msg *m)
{
	struct raft_progress *p = NULL;

	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAP:
		/*
		 * One leader per term: a second one (a voter whose disk was
		 * wiped voted twice) is refused, never followed, and our own
		 * leadership is kept (dropping its messages is safe).
		 */
		if (r->role == RAFT_LEADER ||
		    (r->lead_seen_term == r->term && r->lead_seen_id != m->from))
			return raft_refuse(r, m, RAFT_REFUSE_TWO_LEADERS);
		if (r->role != RAFT_FOLLOWER)
			raft_become_follower(r, r->term, m->from);
		raft_note_leader(r, m->from);
		r->election_elapsed = 0;
		if (m->type == RAFT_MSG_APPEND)
			return handle_append(r, m);
		if (m->type == RAFT_MSG_SNAP)
			return handle_snap(r, m);
		if (m->commit > r->commit && m->commit <= raft_last_index(r))
			r->commit = m->commit;
		struct raft_msg a = {.type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .ctx = m->ctx};
		return raft_send(r, &a, 0, 0);
	case RAFT_MSG_APPEND_RESP:
	case RAFT_MSG_HEARTBEAT_RESP:
		if (r->role != RAFT_LEADER || !(p = raft_progress(r, m->from)))
			return 0;
		if (m->type == RAFT_MSG_HEARTBEAT_RESP && m->ctx > r->read_seq)
			return raft_refuse(r, m, RAFT_REFUSE_FUTURE_ROUND);
		p->active = true;
		if (m->type == RAFT_MSG_APPEND_RESP) {
			handle_append_resp(r, p, m);
			return 0;
		}
		if (p->state == PR_PROBE)
			p->paused = false;
		if (p->state == PR_REPLICATE && p->stall >= 3) {
			/*
			 * The peer answers heartbeats but its match has not
			 * moved for three rounds: appends were lost.  Probe
			 * again from match + 1.
			 */
			p->stall = 0;
			to_probe(r, p, p->match + 1);
		}
		if (p->match < raft_last_index(r))
			raft_send_append(r, p, false);
		ack_reads(r, m->from, m->ctx);
		return 0;
	case RAFT_MSG_READ_INDEX:
		if (r->role == RAFT_LEADER) {
			raft_start_read(r, m->ctx, m->from);
			return 0;
		}
		struct raft_msg no = {
		    .type = RAFT_MSG_READ_INDEX_RESP,
		    .to = m->from,
		    .ctx = m->ctx,
		    .flags = RAFT_F_REJECT,
		};
		return raft_send(r, &no, 0, 0);
	case RAFT_MSG_READ_INDEX_RESP:
		return raft_push_read(r, m->ctx, m->index,
				      (m->flags & RAFT_F_REJECT) ? -EAGAIN : 0);
	default:
		return -EINVAL;
	}
}
