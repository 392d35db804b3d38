// SPDX-License-Identifier: Apache-2.0
/*
 * raft_conf.c - membership: voters and observers, changed one server at a
 * time through the log (Raft thesis 4.1).
 *
 * Why one voter at a time: any majority of the old voter set and any
 * majority of the new one intersect when the sets differ by one server, so
 * the configuration can switch as soon as its entry is appended, without
 * joint consensus.  Two further rules close the known holes: one change in
 * flight at a time (the previous configuration entry must be committed),
 * and none before the leader's no-op of its term is committed (the bug
 * Ongaro reported in 2015: a change proposed by a leader that has not yet
 * committed an entry of its term can lose an earlier, committed change).
 * Observers do not count in any quorum, so adding, removing or changing
 * them is free; promoting an observer counts as adding a voter.
 *
 * Payload of a CONF entry: u32 n, then n times (u32 id, u8 voter),
 * big-endian; then, optionally, bytes the core does not read (the
 * driver's: ZooKeeper's server lines and the reconfig txn), handed to
 * raft_propose_conf_ex() and found with raft_conf_trailer().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replication/raft/raft_priv.h"

const struct raft_member *raft_conf_find(const struct raft_conf *c, uint32_t id)
{
	for (uint32_t k = 0; k < c->n && k < RAFT_MAX_MEMBERS; k++)
		if (c->m[k].id == id)
			return &c->m[k];
	return NULL;
}

uint32_t raft_conf_voters(const struct raft_conf *c)
{
	uint32_t v = 0;
	for (uint32_t k = 0; k < c->n && k < RAFT_MAX_MEMBERS; k++)
		v += c->m[k].voter;
	return v;
}

int raft_conf_check(const struct raft_conf *c)
{
	if (c->n == 0 || c->n > RAFT_MAX_MEMBERS || raft_conf_voters(c) == 0)
		return -EINVAL;
	for (uint32_t k = 0; k < c->n; k++) {
		if (!c->m[k].id)
			return -EINVAL;
		for (uint32_t j = 0; j < k; j++)
			if (c->m[j].id == c->m[k].id)
				return -EINVAL;
	}
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t raft_conf_encode(const struct raft_conf *c, uint8_t *buf)
{
	RAFT_ASSERT(c->n <= RAFT_MAX_MEMBERS);
	put32(buf, c->n);
	for (uint32_t k = 0; k < c->n; k++) {
		put32(buf + 4 + 5 * k, c->m[k].id);
		buf[8 + 5 * k] = c->m[k].voter;
	}
	return 4 + 5 * (size_t)c->n;
}

int raft_conf_decode(const uint8_t *buf, size_t len, struct raft_conf *c)
{
	size_t used = 0;
	int rc = raft_conf_decode_prefix(buf, len, c, &used);

	return rc ? rc : used == len ? 0 : -EINVAL;
}

int raft_conf_trailer(const struct raft_entry *e, const uint8_t **data, size_t *len)
{
	struct raft_conf c;
	size_t used = 0;

	if (e->type != RAFT_ENTRY_CONF || raft_conf_decode_prefix(e->data, e->len, &c, &used))
		return -EINVAL;
	RAFT_ASSERT(used <= e->len);
	*data = e->data + used;
	*len = e->len - used;
	return 0;
}

int raft_conf_decode_prefix(const uint8_t *buf, size_t len, struct raft_conf *c, size_t *used)
{
	if (!buf || len < 4)
		return -EINVAL;
	uint32_t n = get32(buf);
	if (n == 0 || n > RAFT_MAX_MEMBERS || len < 4 + 5 * (size_t)n)
		return -EINVAL;
	if (used)
		*used = 4 + 5 * (size_t)n;
	memset(c, 0, sizeof(*c));
	c->n = n;
	for (uint32_t k = 0; k < n; k++) {
		c->m[k].id = get32(buf + 4 + 5 * k);
		if (buf[8 + 5 * k] > 1)
			return -EINVAL;
		c->m[k].voter = buf[8 + 5 * k];
	}
	return raft_conf_check(c);
}

/* Leader: one progress per member other than itself, new ones probing. */
void raft_conf_sync_progress(struct raft *r)
{
	struct raft_progress old[RAFT_MAX_MEMBERS];
	uint32_t n_old = r->n_pr;
	memcpy(old, r->pr, n_old * sizeof(old[0]));
	r->n_pr = 0;
	for (uint32_t k = 0; k < r->conf.n; k++) {
		const struct raft_member *mb = &r->conf.m[k];
		if (mb->id == r->id)
			continue;
		struct raft_progress *p = &r->pr[r->n_pr++];
		bool found = false;
		for (uint32_t j = 0; j < n_old && !found; j++) {
			if (old[j].id == mb->id) {
				*p = old[j];
				found = true;
			}
		}
		if (!found) {
			memset(p, 0, sizeof(*p));
			p->id = mb->id;
			p->state = PR_PROBE;
			p->next = raft_last_index(r) + 1;
			p->active = true; /* a newcomer gets one round to show up */
		}
		p->voter = mb->voter;
	}
}

int raft_conf_at(const struct raft *r, uint64_t index, struct raft_conf *out)
{
	RAFT_ASSERT(index >= r->snap.index && index <= raft_last_index(r));
	for (uint64_t i = index; i > r->snap.index; i--) {
		const struct raft_entry *e = raft_ent(r, i);
		if (e->type == RAFT_ENTRY_CONF)
			return raft_conf_decode_prefix(e->data, e->len, out, NULL);
	}
	*out = r->snap.conf;
	return 0;
}

/* After a truncation removed the newest configuration entry. */
void raft_conf_reload(struct raft *r)
{
	uint64_t last = raft_last_index(r);
	RAFT_ASSERT(raft_conf_at(r, last, &r->conf) == 0);
	r->conf_index = r->snap.index;
	for (uint64_t i = last; i > r->snap.index; i--) {
		if (raft_ent(r, i)->type == RAFT_ENTRY_CONF) {
			r->conf_index = i;
			break;
		}
	}
	if (r->role == RAFT_LEADER)
		raft_conf_sync_progress(r);
}

int raft_propose_conf(struct raft *r, const struct raft_conf *conf, uint64_t *index)
{
	return raft_propose_conf_ex(r, conf, NULL, 0, index);
}

bool raft_conf_pending(const struct raft *r)
{
	return r->conf_index > r->commit;
}

int raft_propose_conf_ex(struct raft *r, const struct raft_conf *conf, const void *extra,
			 uint32_t extra_len, uint64_t *index)
{
	if (r->role != RAFT_LEADER)
		return -EPERM;
	if (r->transfer_to || r->conf_index > r->commit)
		return -EBUSY;
	if (r->commit < r->term_start)
		return -EAGAIN;
	if (raft_conf_check(conf))
		return -EINVAL;
	/* at most one voter joins or leaves */
	uint32_t diff = 0;
	for (uint32_t k = 0; k < conf->n; k++)
		if (conf->m[k].voter && !raft_is_voter(r, conf->m[k].id))
			diff++;
	for (uint32_t k = 0; k < r->conf.n; k++) {
		const struct raft_member *nm = raft_conf_find(conf, r->conf.m[k].id);
		if (r->conf.m[k].voter && !(nm && nm->voter))
			diff++;
	}
	if (diff > 1)
		return -EINVAL;
	if ((extra_len && !extra) || extra_len > RAFT_CONF_MAX_EXTRA)
		return -EINVAL;
	uint8_t *buf = malloc(RAFT_CONF_MAX_BYTES + (size_t)extra_len);
	if (!buf)
		return -ENOMEM;
	size_t len = raft_conf_encode(conf, buf);
	if (extra_len)
		memcpy(buf + len, extra, extra_len);
	len += extra_len;
	int rc = raft_append_local(r, RAFT_ENTRY_CONF, 1, buf, (uint32_t)len, NULL, index);
	free(buf);
	if (rc == -ERANGE) {
		raft_campaign(r, false, true);
		raft_check(r);
		return rc;
	}
	if (rc)
		return rc;
	raft_maybe_commit(r); /* a one-voter cluster may commit at once */
	if (r->role == RAFT_LEADER)
		raft_bcast_append(r, false);
	raft_check(r);
	return 0;
}
