// SPDX-License-Identifier: Apache-2.0
/*
 * raft.c - the core's log, its Ready/Advance/Persisted bookkeeping and the
 * dispatch of inputs.  The contract is in raft.h; this file keeps it.
 *
 * The log is one array of entries snap.index + 1 .. snap.index + log_n;
 * every payload is a private copy.  Entries are handed to the driver for
 * persistence once (stable_next marks the first not yet handed out); a
 * truncation below stable_next becomes truncate_from in the next Ready.
 *
 * Durability: each Ready that carries something to persist gets a sequence
 * number and a record of the last index it covers.  raft_persisted(seq)
 * pops records in order and sets `durable`.  A truncation caps every
 * outstanding record (those entries will not be on disk as such), so
 * `durable` only ever names entries that are both in the log and on disk.
 *
 * Holding messages: raft_send() tags every message a non-leader sends
 * (except pre-votes and read-index traffic, which carry no state) with the
 * sequence number of the unit that holds the current state: the next one
 * if anything is unpersisted and not yet handed out, else the last one
 * handed out.  The held queue is released from its head as
 * raft_persisted() advances (a tag behind a larger one only waits longer).
 * A leader's messages are not held: its term and vote are durable before
 * it leads (raft_hs_durable(): a candidate elected by others got their
 * votes only after its vote requests left, and a single voter, elected by
 * itself, waits in raft_persisted() for them).  This is the whole
 * "durable before it leaves" rule (Raft figure 2: "respond to RPCs only
 * after updating stable storage").
 *
 * Invariants asserted in raft_check() after every input: snapshot base <=
 * applied <= commit <= last index; durable <= last index; match < next in
 * every progress; a leader leads its own term; commit never decreases.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/raft/raft_priv.h"

void raft_assert_fail(const char *cond, const char *file, int line)
{
	fprintf(stderr, "raft: assertion failed: %s (%s:%d)\n", cond, file, line);
	abort();
}

int qvec_push(struct qvec *q, const void *item, size_t size)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		void *v = realloc(q->v, cap * size);
		if (!v)
			return -ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	memcpy((char *)q->v + q->n * size, item, size);
	q->n++;
	return 0;
}

static void qvec_drop_front(struct qvec *q, size_t k, size_t size)
{
	RAFT_ASSERT(k <= q->n);
	if (!k)
		return;
	memmove(q->v, (char *)q->v + k * size, (q->n - k) * size);
	q->n -= k;
}

/* ---- log ---- */

uint64_t raft_last_index(const struct raft *r)
{
	return r->snap.index + r->log_n;
}

uint64_t raft_last_term(const struct raft *r)
{
	return r->log_n ? r->log[r->log_n - 1].term : r->snap.term;
}

static uint64_t last_zxid(const struct raft *r)
{
	if (!r->log_n)
		return r->snap.zxid;
	const struct raft_entry *e = &r->log[r->log_n - 1];
	return e->zxid + e->count - 1;
}

struct raft_entry *raft_ent(const struct raft *r, uint64_t index)
{
	if (index <= r->snap.index || index > raft_last_index(r))
		return NULL;
	return &r->log[index - r->snap.index - 1];
}

bool raft_term_at(const struct raft *r, uint64_t index, uint64_t *term)
{
	if (index == r->snap.index) {
		*term = r->snap.term;
		return true;
	}
	const struct raft_entry *e = raft_ent(r, index);
	if (!e)
		return false;
	*term = e->term;
	return true;
}

const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index)
{
	return raft_ent(r, index);
}

int raft_append_copy(struct raft *r, const struct raft_entry *e)
{
	RAFT_ASSERT(e->index == raft_last_index(r) + 1);
	RAFT_ASSERT(e->term >= raft_last_term(r) && e->count >= 1);
	/* zxids strictly increase along the log */
	RAFT_ASSERT(r->snap.index + r->log_n == 0 || e->zxid > last_zxid(r));
	RAFT_ASSERT(e->zxid >> 32 == e->term);
	if (r->log_n == r->log_cap) {
		size_t cap = r->log_cap ? r->log_cap * 2 : 64;
		struct raft_entry *l = realloc(r->log, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		r->log = l;
		r->log_cap = cap;
	}
	uint8_t *d = NULL;
	if (e->len) {
		d = malloc(e->len);
		if (!d)
			return -ENOMEM;
		memcpy(d, e->data, e->len);
	}
	struct raft_entry *n = &r->log[r->log_n++];
	*n = *e;
	n->data = d;
	if (e->type == RAFT_ENTRY_CONF) {
		/* takes effect when appended (single-server change rule) */
		struct raft_conf c;
		RAFT_ASSERT(raft_conf_decode_prefix(d, e->len, &c, NULL) == 0);
		r->conf = c;
		r->conf_index = e->index;
		if (r->role == RAFT_LEADER)
			raft_conf_sync_progress(r);
	}
	return 0;
}

int raft_append_local(struct raft *r, uint32_t type, uint32_t count, const void *data, uint32_t len,
		      uint64_t *zxid, uint64_t *index)
{
	RAFT_ASSERT(r->role == RAFT_LEADER && count >= 1);
	uint64_t max = r->cfg.max_counter ? r->cfg.max_counter : RAFT_MAX_COUNTER;
	if (r->next_counter + count - 1 > max)
		return -ERANGE;
	struct raft_entry e = {
	    .index = raft_last_index(r) + 1,
	    .term = r->term,
	    .zxid = r->term << 32 | r->next_counter,
	    .type = type,
	    .count = count,
	    .len = len,
	    .data = data,
	};
	int rc = raft_append_copy(r, &e);
	if (rc)
		return rc;
	r->next_counter += count;
	if (zxid)
		*zxid = e.zxid;
	if (index)
		*index = e.index;
	return 0;
}

/* Discards entries >= from (uncommitted ones only). */
void raft_truncate(struct raft *r, uint64_t from)
{
	uint64_t last = raft_last_index(r);
	RAFT_ASSERT(from > r->commit && from > r->snap.index && from <= last);
	for (uint64_t i = from; i <= last; i++)
		free((void *)raft_ent(r, i)->data);
	r->log_n = from - r->snap.index - 1;
	if (from < r->stable_next) {
		if (!r->truncate_pending || from < r->truncate_pending)
			r->truncate_pending = from;
		r->stable_next = from;
	}
	if (r->durable >= from)
		r->durable = from - 1;
	struct raft_persist_rec *rec = r->recs.v;
	for (size_t k = 0; k < r->recs.n; k++)
		if (rec[k].last >= from)
			rec[k].last = from - 1;
	if (r->conf_index >= from)
		raft_conf_reload(r);
}

/* ---- messages and holding ---- */

static bool dirty(const struct raft *r)
{
	return r->hs_last.term != r->term || r->hs_last.vote != r->vote ||
	       r->stable_next <= raft_last_index(r) || r->truncate_pending || r->snap_pending;
}

/* The current term is on disk (the vote may not be yet). */
static bool term_durable(const struct raft *r)
{
	return r->hs_last.term == r->term && r->hs_seq <= r->persisted_seq;
}

int raft_send(struct raft *r, struct raft_msg *m, uint64_t lo, uint64_t hi_term)
{
	struct raft_qmsg q = {.m = *m, .lo = lo, .hi_term = hi_term};
	q.m.from = r->id;
	if (!q.m.term)
		q.m.term = r->term;
	bool stateless = m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_PREVOTE_RESP ||
			 m->type == RAFT_MSG_READ_INDEX || m->type == RAFT_MSG_READ_INDEX_RESP;
	/*
	 * A heartbeat answer acknowledges no entry and no vote: once our term
	 * is on disk it vouches for nothing that is not, so it skips the held
	 * queue (a slow fsync of entries must not cost the leader its
	 * check-quorum).  See raft.h, "Persistence ordering".
	 */
	if (m->type == RAFT_MSG_HEARTBEAT_RESP && term_durable(r))
		stateless = true;
	if (r->role == RAFT_LEADER || stateless)
		return qvec_push(&r->outq, &q, sizeof(q));
	q.hold_seq = dirty(r) ? r->last_seq + 1 : r->last_seq;
	if (q.hold_seq <= r->persisted_seq && r->held.n == 0)
		return qvec_push(&r->outq, &q, sizeof(q));
	return qvec_push(&r->held, &q, sizeof(q));
}

static void release_held(struct raft *r)
{
	struct raft_qmsg *h = r->held.v;
	size_t k = 0;
	while (k < r->held.n && h[k].hold_seq <= r->persisted_seq) {
		if (qvec_push(&r->outq, &h[k], sizeof(h[k])))
			break;
		k++;
	}
	qvec_drop_front(&r->held, k, sizeof(*h));
}

int raft_push_read(struct raft *r, uint64_t ctx, uint64_t index, int err)
{
	struct raft_read rd = {.ctx = ctx, .index = index, .err = err};
	return qvec_push(&r->reads_out, &rd, sizeof(rd));
}

/* ---- roles (shared by election and replication) ---- */

uint32_t raft_quorum(const struct raft *r)
{
	return raft_conf_voters(&r->conf) / 2 + 1;
}

bool raft_is_voter(const struct raft *r, uint32_t id)
{
	const struct raft_member *m = raft_conf_find(&r->conf, id);
	return m && m->voter;
}

void raft_note_leader(struct raft *r, uint32_t lead)
{
	if (!lead)
		return;
	/* at most one leader per term, as seen from here */
	RAFT_ASSERT(r->lead_seen_term != r->term || r->lead_seen_id == lead);
	r->lead_seen_term = r->term;
	r->lead_seen_id = lead;
	r->lead = lead;
}

void raft_become_follower(struct raft *r, uint64_t term, uint32_t lead)
{
	RAFT_ASSERT(term >= r->term);
	if (r->role == RAFT_LEADER)
		raft_fail_reads(r);
	if (term > r->term) {
		r->term = term;
		r->vote = 0;
	}
	r->role = RAFT_FOLLOWER;
	r->lead = 0;
	raft_note_leader(r, lead);
	r->transfer_to = 0;
	r->election_elapsed = 0;
	raft_reset_timeout(r);
}

/* ---- life cycle ---- */

int raft_new(const struct raft_config *cfg, const struct raft_hard_state *hs,
	     const struct raft_snap_meta *snap, const struct raft_entry *ents, size_t n,
	     struct raft **out)
{
	if (!cfg->id || cfg->election_ticks < 2 || cfg->heartbeat_ticks < 1 ||
	    cfg->election_ticks < 2 * cfg->heartbeat_ticks || raft_conf_check(&cfg->conf))
		return -EINVAL;
	struct raft *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	if (!r->cfg.max_inflight_msgs || r->cfg.max_inflight_msgs > RAFT_MAX_INFLIGHT)
		r->cfg.max_inflight_msgs = RAFT_MAX_INFLIGHT;
	if (!r->cfg.max_inflight_bytes)
		r->cfg.max_inflight_bytes = 8u << 20;
	if (!r->cfg.max_msg_bytes)
		r->cfg.max_msg_bytes = 1u << 20;
	if (!r->cfg.max_msg_entries)
		r->cfg.max_msg_entries = 64;
	if (!r->cfg.max_uncommitted)
		r->cfg.max_uncommitted = 4096;
	r->id = cfg->id;
	r->rng = cfg->seed ^ ((uint64_t)cfg->id << 32) ^ 0x9e3779b97f4a7c15ull;
	if (hs) {
		r->term = hs->term;
		r->vote = hs->vote;
	}
	if (r->term > RAFT_MAX_TERM) {
		free(r);
		return -EINVAL;
	}
	r->hs_last = (struct raft_hard_state){r->term, r->vote};
	if (snap) {
		if (raft_conf_check(&snap->conf)) {
			free(r);
			return -EINVAL;
		}
		r->snap = *snap;
	} else {
		r->snap.conf = cfg->conf;
	}
	r->conf = r->snap.conf;
	r->conf_index = r->snap.index;
	for (size_t k = 0; k < n; k++) {
		const struct raft_entry *e = &ents[k];
		uint64_t lt = raft_last_term(r);
		struct raft_conf c;
		bool bad = e->index != raft_last_index(r) + 1 || e->term < lt || !e->count ||
			   e->zxid >> 32 != e->term || e->term > r->term ||
			   (raft_last_index(r) && e->zxid <= last_zxid(r)) ||
			   (e->len && !e->data) ||
			   (e->type == RAFT_ENTRY_CONF &&
			    raft_conf_decode_prefix(e->data, e->len, &c, NULL));
		if (bad || raft_append_copy(r, e)) {
			raft_free(r);
			return bad ? -EINVAL : -ENOMEM;
		}
	}
	r->commit = r->applied = r->snap.index;
	r->durable = raft_last_index(r);
	r->stable_next = raft_last_index(r) + 1;
	r->role = RAFT_FOLLOWER;
	raft_reset_timeout(r);
	raft_check(r);
	*out = r;
	return 0;
}

void raft_free(struct raft *r)
{
	if (!r)
		return;
	for (size_t k = 0; k < r->log_n; k++)
		free((void *)r->log[k].data);
	free(r->log);
	free(r->reads.v);
	free(r->recs.v);
	free(r->outq.v);
	free(r->held.v);
	free(r->reads_out.v);
	free(r->rd_msgs.v);
	free(r);
}

void raft_check(struct raft *r)
{
	uint64_t last = raft_last_index(r);
	RAFT_ASSERT(r->commit >= r->commit_seen);
	r->commit_seen = r->commit;
	RAFT_ASSERT(!r->in_ready);
	RAFT_ASSERT(r->snap.index <= r->applied && r->applied <= r->commit);
	RAFT_ASSERT(r->commit <= last && r->durable <= last);
	RAFT_ASSERT(r->stable_next <= last + 1);
	if (r->role == RAFT_LEADER) {
		RAFT_ASSERT(r->lead == r->id && r->vote == r->id);
		RAFT_ASSERT(r->lead_seen_term == r->term);
		for (uint32_t k = 0; k < r->n_pr; k++) {
			const struct raft_progress *p = &r->pr[k];
			RAFT_ASSERT(p->match < p->next && p->next <= last + 1);
			RAFT_ASSERT(p->in_count <= r->cfg.max_inflight_msgs);
		}
	}
}

/* ---- inputs ---- */

void raft_tick(struct raft *r)
{
	raft_elect_tick(r);
	raft_check(r);
}

/*
 * What no correct peer sends, whatever this node's state: addressing, terms
 * and indexes beyond what the zxid can name (RAFT_MAX_TERM, RAFT_MAX_INDEX),
 * a term-0 message of a leader or candidate, a log term above the message's
 * term, entries out of order, of term 0, or overflowing their term's zxid
 * counters, a snapshot meta that no snapshot has.
 */
static bool msg_valid(const struct raft *r, const struct raft_msg *m)
{
	if (m->to != r->id || !m->from || m->from == r->id || !m->type ||
	    m->type >= RAFT_MSG_SNAP_CHUNK || m->term > RAFT_MAX_TERM)
		return false;
	if (m->index > RAFT_MAX_INDEX || m->commit > RAFT_MAX_INDEX || m->hint > RAFT_MAX_INDEX ||
	    m->log_term > m->term)
		return false;
	bool from_lead = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
			 m->type == RAFT_MSG_SNAP || m->type == RAFT_MSG_VOTE ||
			 m->type == RAFT_MSG_PREVOTE;
	if (from_lead && !m->term)
		return false; /* no leader or candidate has term 0 */
	if (m->n_entries && (m->type != RAFT_MSG_APPEND || !m->entries))
		return false;
	uint64_t idx = m->index, t = m->log_term, z = 0;
	for (uint32_t k = 0; k < m->n_entries; k++) {
		const struct raft_entry *e = &m->entries[k];
		if (e->index != idx + 1 || e->index > RAFT_MAX_INDEX || !e->term || e->term < t ||
		    e->term > m->term || !e->count || e->zxid >> 32 != e->term ||
		    (k && e->zxid <= z) ||
		    (uint64_t)(e->zxid & 0xffffffffu) + e->count - 1 > 0xffffffffu ||
		    (e->len && !e->data) || e->type > RAFT_ENTRY_CONF)
			return false;
		struct raft_conf c;
		if (e->type == RAFT_ENTRY_CONF &&
		    raft_conf_decode_prefix(e->data, e->len, &c, NULL))
			return false;
		idx = e->index;
		t = e->term;
		z = e->zxid + e->count - 1;
	}
	if (m->type == RAFT_MSG_SNAP) {
		const struct raft_snap_meta *sn = &m->snap;
		/* a snapshot sent to a peer covers at least one entry */
		if (!sn->index || sn->index > RAFT_MAX_INDEX || !sn->term || sn->term > m->term ||
		    sn->zxid >> 32 != sn->term || raft_conf_check(&sn->conf))
			return false;
	}
	return true;
}

/*
 * Refusals that depend on this node's state but not on the term check:
 * a (pre-)vote request from a node that is not a voter here, unless its log
 * is ahead of ours (it may know a configuration we lack: Raft answers votes
 * without consulting the configuration for that reason; a log that is not
 * ahead holds no newer configuration than ours); a TIMEOUT_NOW of a term
 * other than ours (only our leader of this term brought us up to date).
 */
static int pre_check(struct raft *r, const struct raft_msg *m)
{
	if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE) {
		uint64_t lt = raft_last_term(r);
		bool ahead =
		    m->log_term > lt || (m->log_term == lt && m->index > raft_last_index(r));
		if (!raft_is_voter(r, m->from) && !ahead)
			return raft_refuse(r, m, RAFT_REFUSE_NOT_VOTER);
	}
	if (m->type == RAFT_MSG_TIMEOUT_NOW && m->term > r->term)
		return raft_refuse(r, m, RAFT_REFUSE_NOT_LEADER);
	return 0;
}

int raft_refuse(struct raft *r, const struct raft_msg *m, enum raft_refusal why)
{
	RAFT_ASSERT(why < RAFT_REFUSE_MAX);
	r->stats.refused[why]++;
	r->stats.n_refused++;
	r->stats.last_reason = why;
	r->stats.last_type = m->type;
	r->stats.last_from = m->from;
	r->stats.last_term = m->term;
	return why == RAFT_REFUSE_MALFORMED ? -EINVAL : -EPROTO;
}

void raft_get_stats(const struct raft *r, struct raft_stats *st)
{
	*st = r->stats;
}

const char *raft_refusal_name(uint32_t reason)
{
	static const char *const names[RAFT_REFUSE_MAX] = {
	    [RAFT_REFUSE_MALFORMED] = "malformed",
	    [RAFT_REFUSE_TWO_LEADERS] = "two leaders in one term",
	    [RAFT_REFUSE_NOT_VOTER] = "vote request from a non-voter",
	    [RAFT_REFUSE_NOT_LEADER] = "timeout-now from a non-leader",
	    [RAFT_REFUSE_FUTURE_ROUND] = "answer to a read round not sent",
	    [RAFT_REFUSE_ZXID_ORDER] = "zxids not increasing",
	};
	return reason < RAFT_REFUSE_MAX ? names[reason] : "?";
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	RAFT_ASSERT(!r->in_ready);
	if (!msg_valid(r, m))
		return raft_refuse(r, m, RAFT_REFUSE_MALFORMED);
	int rc = pre_check(r, m);
	if (rc)
		return rc;
	rc = raft_term_check(r, m);
	if (rc <= 0) {
		raft_check(r);
		return rc;
	}
	if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_APPEND_RESP ||
	    m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_HEARTBEAT_RESP ||
	    m->type == RAFT_MSG_SNAP || m->type == RAFT_MSG_READ_INDEX ||
	    m->type == RAFT_MSG_READ_INDEX_RESP)
		rc = raft_repl_step(r, m);
	else
		rc = raft_elect_step(r, m);
	raft_check(r);
	return rc;
}

int raft_propose(struct raft *r, uint32_t count, const void *data, uint32_t len, uint64_t *zxid,
		 uint64_t *index)
{
	if (r->role != RAFT_LEADER)
		return -EPERM;
	if (r->transfer_to)
		return -EBUSY;
	uint64_t max = r->cfg.max_counter ? r->cfg.max_counter : RAFT_MAX_COUNTER;
	if (!count || count > max || (len && !data))
		return -EINVAL; /* too big: would not fit even a fresh term (counters 1..max) */
	/*
	 * Bound the uncommitted tail: it is memory, and a leader that cannot
	 * commit (a slow or lost quorum) would otherwise grow a tail that a
	 * later leader has to cut back entry by entry.
	 */
	if (raft_last_index(r) - r->commit >= r->cfg.max_uncommitted)
		return -EAGAIN;
	int rc = raft_append_local(r, RAFT_ENTRY_DATA, count, data, len, zxid, index);
	if (rc == -ERANGE) {
		/* counter exhausted: a new term now (we are the best candidate) */
		raft_campaign(r, false, true);
		raft_check(r);
		return -ERANGE;
	}
	if (rc)
		return rc;
	raft_bcast_append(r, false);
	raft_check(r);
	return 0;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
	if (r->role == RAFT_LEADER) {
		raft_start_read(r, ctx, r->id);
		return 0;
	}
	if (!r->lead)
		return -EAGAIN;
	struct raft_msg m = {.type = RAFT_MSG_READ_INDEX, .to = r->lead, .ctx = ctx};
	return raft_send(r, &m, 0, 0);
}

int raft_snapshot_meta(const struct raft *r, uint64_t index, struct raft_snap_meta *meta)
{
	if (index > r->applied || index < r->snap.index)
		return -EINVAL;
	if (index == r->snap.index) {
		*meta = r->snap;
		return 0;
	}
	const struct raft_entry *e = raft_ent(r, index);
	meta->index = index;
	meta->term = e->term;
	meta->zxid = e->zxid + e->count - 1;
	return raft_conf_at(r, index, &meta->conf);
}

int raft_compact(struct raft *r, const struct raft_snap_meta *meta)
{
	uint64_t t;
	if (meta->index > r->applied || !raft_term_at(r, meta->index, &t) || t != meta->term)
		return -EINVAL;
	if (meta->index == r->snap.index)
		return 0;
	RAFT_ASSERT(meta->index < r->stable_next && meta->index <= r->durable);
	size_t k = meta->index - r->snap.index;
	for (size_t i = 0; i < k; i++)
		free((void *)r->log[i].data);
	memmove(r->log, r->log + k, (r->log_n - k) * sizeof(*r->log));
	r->log_n -= k;
	r->snap = *meta;
	raft_check(r);
	return 0;
}

/* ---- Ready / Advance / Persisted ---- */

static uint64_t apply_limit(const struct raft *r)
{
	return r->commit < r->durable ? r->commit : r->durable;
}

bool raft_has_ready(const struct raft *r)
{
	const struct raft_qmsg *h = r->held.v;
	return dirty(r) || r->outq.n || r->reads_out.n || r->applied < apply_limit(r) ||
	       (r->held.n && h[0].hold_seq <= r->persisted_seq) ||
	       (r->held.n && h[r->held.n - 1].hold_seq > r->last_seq);
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
	RAFT_ASSERT(!r->in_ready);
	memset(rd, 0, sizeof(*rd));
	release_held(r);

	const struct raft_qmsg *h = r->held.v;
	if (dirty(r) || (r->held.n && h[r->held.n - 1].hold_seq > r->last_seq)) {
		struct raft_persist_rec rec = {++r->last_seq, raft_last_index(r)};
		if (qvec_push(&r->recs, &rec, sizeof(rec)))
			abort(); /* out of memory in the consensus core: fail stop */
		rd->seq = rec.seq;
		rd->hs_changed = r->hs_last.term != r->term || r->hs_last.vote != r->vote;
		rd->hs = (struct raft_hard_state){r->term, r->vote};
		if (rd->hs_changed)
			r->hs_seq = rec.seq;
		r->hs_last = rd->hs;
		rd->has_snap = r->snap_pending;
		rd->snap = r->snap;
		rd->truncate_from = r->truncate_pending;
		if (r->stable_next <= raft_last_index(r)) {
			rd->entries = raft_ent(r, r->stable_next);
			rd->n_entries = raft_last_index(r) - r->stable_next + 1;
		}
		r->stable_next = raft_last_index(r) + 1;
		r->snap_pending = false;
		r->truncate_pending = 0;
	}

	/* materialise the messages; appends whose entries are gone are dropped */
	r->rd_msgs.n = 0;
	struct raft_qmsg *q = r->outq.v;
	for (size_t k = 0; k < r->outq.n; k++) {
		struct raft_msg m = q[k].m;
		if (m.n_entries) {
			uint64_t hi = q[k].lo + m.n_entries - 1, t;
			if (q[k].lo <= r->snap.index || !raft_term_at(r, hi, &t) ||
			    t != q[k].hi_term)
				continue;
			m.entries = raft_ent(r, q[k].lo);
		}
		if (qvec_push(&r->rd_msgs, &m, sizeof(m)))
			abort();
	}
	r->outq.n = 0;
	rd->msgs = r->rd_msgs.v;
	rd->n_msgs = r->rd_msgs.n;

	uint64_t lim = apply_limit(r);
	if (r->applied < lim) {
		rd->committed = raft_ent(r, r->applied + 1);
		rd->n_committed = lim - r->applied;
		r->applied = lim;
	}
	rd->reads = r->reads_out.v;
	rd->n_reads = r->reads_out.n;
	r->in_ready = true;
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
	RAFT_ASSERT(r->in_ready && rd->n_reads == r->reads_out.n);
	r->in_ready = false;
	r->reads_out.n = 0;
	r->rd_msgs.n = 0;
	raft_check(r);
}

void raft_persisted(struct raft *r, uint64_t seq)
{
	RAFT_ASSERT(!r->in_ready && seq <= r->last_seq);
	struct raft_persist_rec *rec = r->recs.v;
	size_t k = 0;
	while (k < r->recs.n && rec[k].seq <= seq) {
		r->durable = rec[k].last;
		r->persisted_seq = rec[k].seq;
		k++;
	}
	qvec_drop_front(&r->recs, k, sizeof(*rec));
	if (r->role == RAFT_LEADER)
		raft_maybe_commit(r);
	else if (r->role == RAFT_CANDIDATE)
		raft_elect_persisted(r);
	raft_check(r);
}

bool raft_hs_durable(const struct raft *r)
{
	return r->hs_last.term == r->term && r->hs_last.vote == r->vote &&
	       r->hs_seq <= r->persisted_seq;
}

void raft_get_status(const struct raft *r, struct raft_status *st)
{
	*st = (struct raft_status){
	    .id = r->id,
	    .role = r->role,
	    .leader = r->lead,
	    .term = r->term,
	    .vote = r->vote,
	    .commit = r->commit,
	    .applied = r->applied,
	    .durable = r->durable,
	    .first_index = r->snap.index + 1,
	    .last_index = raft_last_index(r),
	    .last_zxid = last_zxid(r),
	    .voter = raft_is_voter(r, r->id),
	    .transfer_to = r->transfer_to,
	};
}

void raft_get_conf(const struct raft *r, struct raft_conf *c)
{
	*c = r->conf;
}

bool raft_peer_match(const struct raft *r, uint32_t id, uint64_t *match)
{
	if (r->role != RAFT_LEADER || id == r->id)
		return false;
	for (uint32_t k = 0; k < r->n_pr; k++) {
		if (r->pr[k].id != id)
			continue;
		RAFT_ASSERT(r->pr[k].match <= raft_last_index(r));
		*match = r->pr[k].match;
		return true;
	}
	return false;
}
