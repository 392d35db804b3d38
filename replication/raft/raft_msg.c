// SPDX-License-Identifier: Apache-2.0
/*
 * raft_msg.c - encoder and bounds-checked decoder of the peer frames
 * described in raft_msg.h.
 *
 * Both sides walk one table (which fields a message type carries), so the
 * encoder and the decoder cannot disagree about the layout.  The decoder
 * reads through a cursor that refuses to move past the end of the frame;
 * every count read from the wire is checked against the bytes that remain
 * before anything is sized from it.  The CRC is checked before any field
 * is trusted.
 */
#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "replication/raft/raft_msg.h"

enum {
	F_INDEX = 1 << 0,
	F_LOGTERM = 1 << 1,
	F_COMMIT = 1 << 2,
	F_HINT = 1 << 3,
	F_CTX = 1 << 4,
	F_SNAP = 1 << 5,
	F_OFFSET = 1 << 6,
	F_CHUNK = 1 << 7,
	F_ENTRIES = 1 << 8,
};

static const uint16_t fields[RAFT_MSG_TYPE_MAX + 1] = {
    [RAFT_MSG_APPEND] = F_INDEX | F_LOGTERM | F_COMMIT | F_ENTRIES,
    [RAFT_MSG_APPEND_RESP] = F_INDEX | F_LOGTERM | F_HINT,
    [RAFT_MSG_PREVOTE] = F_INDEX | F_LOGTERM,
    [RAFT_MSG_PREVOTE_RESP] = 0,
    [RAFT_MSG_VOTE] = F_INDEX | F_LOGTERM,
    [RAFT_MSG_VOTE_RESP] = 0,
    [RAFT_MSG_HEARTBEAT] = F_COMMIT | F_CTX,
    [RAFT_MSG_HEARTBEAT_RESP] = F_CTX,
    [RAFT_MSG_SNAP] = F_SNAP,
    [RAFT_MSG_TIMEOUT_NOW] = 0,
    [RAFT_MSG_READ_INDEX] = F_CTX,
    [RAFT_MSG_READ_INDEX_RESP] = F_INDEX | F_CTX,
    [RAFT_MSG_SNAP_CHUNK] = F_SNAP | F_OFFSET | F_CHUNK,
    [RAFT_MSG_SNAP_ACK] = F_INDEX | F_OFFSET,
};

#define ENTRY_HEAD 36 /* index, term, zxid, type, count, len */
#define FLAGS_KNOWN (RAFT_F_REJECT | RAFT_F_TRANSFER | RAFT_F_LAST)

static uint32_t frame_crc(const void *buf, size_t len)
{
	return crc32c(0, buf, len);
}

static bool type_ok(uint32_t t)
{
	return t >= RAFT_MSG_APPEND && t <= RAFT_MSG_TYPE_MAX;
}

size_t raft_msg_size(const struct raft_msg *m)
{
	if (!type_ok(m->type))
		return 0;
	uint16_t f = fields[m->type];
	size_t n = RAFT_MSG_HEADER + 4;
	n += 8 * (!!(f & F_INDEX) + !!(f & F_LOGTERM) + !!(f & F_COMMIT) + !!(f & F_HINT) +
		  !!(f & F_CTX) + !!(f & F_OFFSET));
	if (f & F_SNAP)
		n += 24 + 4 + 5 * (size_t)m->snap.conf.n;
	if (f & F_CHUNK)
		n += 4 + (size_t)m->len;
	if (f & F_ENTRIES) {
		n += 4;
		for (uint32_t k = 0; k < m->n_entries; k++)
			n += ENTRY_HEAD + (size_t)m->entries[k].len;
	}
	return n;
}

/* ---- writing ---- */

struct wr {
	uint8_t *p;
};

static void w8(struct wr *w, uint8_t v)
{
	*w->p++ = v;
}

static void w16(struct wr *w, uint16_t v)
{
	w8(w, v >> 8);
	w8(w, (uint8_t)v);
}

static void w32(struct wr *w, uint32_t v)
{
	w16(w, v >> 16);
	w16(w, (uint16_t)v);
}

static void w64(struct wr *w, uint64_t v)
{
	w32(w, v >> 32);
	w32(w, (uint32_t)v);
}

static void wbytes(struct wr *w, const void *b, size_t n)
{
	if (n)
		memcpy(w->p, b, n);
	w->p += n;
}

long raft_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap)
{
	if (!type_ok(m->type) || m->snap.conf.n > RAFT_MAX_MEMBERS || (m->flags & ~FLAGS_KNOWN))
		return -EINVAL;
	size_t size = raft_msg_size(m);
	if (size > RAFT_MSG_MAX_FRAME)
		return -EMSGSIZE;
	if (size > cap)
		return -ENOSPC;
	uint16_t f = fields[m->type];
	struct wr w = {buf};
	w32(&w, (uint32_t)size);
	w8(&w, RAFT_MSG_VERSION);
	w8(&w, (uint8_t)m->type);
	w16(&w, (uint16_t)m->flags);
	w32(&w, m->from);
	w32(&w, m->to);
	w64(&w, m->term);
	if (f & F_INDEX)
		w64(&w, m->index);
	if (f & F_LOGTERM)
		w64(&w, m->log_term);
	if (f & F_COMMIT)
		w64(&w, m->commit);
	if (f & F_HINT)
		w64(&w, m->hint);
	if (f & F_CTX)
		w64(&w, m->ctx);
	if (f & F_SNAP) {
		w64(&w, m->snap.index);
		w64(&w, m->snap.term);
		w64(&w, m->snap.zxid);
		w32(&w, m->snap.conf.n);
		for (uint32_t k = 0; k < m->snap.conf.n; k++) {
			w32(&w, m->snap.conf.m[k].id);
			w8(&w, m->snap.conf.m[k].voter);
		}
	}
	if (f & F_OFFSET)
		w64(&w, m->offset);
	if (f & F_CHUNK) {
		w32(&w, m->len);
		wbytes(&w, m->data, m->len);
	}
	if (f & F_ENTRIES) {
		w32(&w, m->n_entries);
		for (uint32_t k = 0; k < m->n_entries; k++) {
			const struct raft_entry *e = &m->entries[k];
			w64(&w, e->index);
			w64(&w, e->term);
			w64(&w, e->zxid);
			w32(&w, e->type);
			w32(&w, e->count);
			w32(&w, e->len);
			wbytes(&w, e->data, e->len);
		}
	}
	w32(&w, frame_crc(buf, size - 4));
	if ((size_t)(w.p - buf) != size)
		return -EINVAL; /* cannot happen: size and layout share the table */
	return (long)size;
}

/* ---- reading ---- */

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static bool need(struct rd *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return false;
	}
	return true;
}

static uint64_t rn(struct rd *r, int bytes)
{
	uint64_t v = 0;
	if (!need(r, (size_t)bytes))
		return 0;
	for (int k = 0; k < bytes; k++)
		v = v << 8 | *r->p++;
	return v;
}

static const uint8_t *rbytes(struct rd *r, size_t n)
{
	if (!need(r, n))
		return NULL;
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

long raft_msg_decode(const uint8_t *buf, size_t len, struct raft_msg *m, struct raft_entry *ents,
		     uint32_t max_ents)
{
	if (len < 4)
		return -EAGAIN;
	uint32_t size =
	    (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (size < RAFT_MSG_HEADER + 4)
		return -EINVAL;
	if (size > RAFT_MSG_MAX_FRAME)
		return -EMSGSIZE;
	if (len < size)
		return -EAGAIN;
	uint32_t crc = (uint32_t)buf[size - 4] << 24 | (uint32_t)buf[size - 3] << 16 |
		       (uint32_t)buf[size - 2] << 8 | buf[size - 1];
	if (crc != frame_crc(buf, size - 4))
		return -EINVAL;

	struct rd r = {buf + 4, buf + size - 4, false};
	memset(m, 0, sizeof(*m));
	if (rn(&r, 1) != RAFT_MSG_VERSION)
		return -EINVAL;
	m->type = (uint32_t)rn(&r, 1);
	m->flags = (uint32_t)rn(&r, 2);
	m->from = (uint32_t)rn(&r, 4);
	m->to = (uint32_t)rn(&r, 4);
	m->term = rn(&r, 8);
	if (!type_ok(m->type) || (m->flags & ~FLAGS_KNOWN))
		return -EINVAL;
	uint16_t f = fields[m->type];
	if (f & F_INDEX)
		m->index = rn(&r, 8);
	if (f & F_LOGTERM)
		m->log_term = rn(&r, 8);
	if (f & F_COMMIT)
		m->commit = rn(&r, 8);
	if (f & F_HINT)
		m->hint = rn(&r, 8);
	if (f & F_CTX)
		m->ctx = rn(&r, 8);
	if (f & F_SNAP) {
		m->snap.index = rn(&r, 8);
		m->snap.term = rn(&r, 8);
		m->snap.zxid = rn(&r, 8);
		uint64_t n = rn(&r, 4);
		if (n > RAFT_MAX_MEMBERS || !need(&r, 5 * n))
			return -EINVAL;
		m->snap.conf.n = (uint32_t)n;
		for (uint32_t k = 0; k < n; k++) {
			m->snap.conf.m[k].id = (uint32_t)rn(&r, 4);
			uint64_t v = rn(&r, 1);
			if (v > 1)
				return -EINVAL;
			m->snap.conf.m[k].voter = v;
		}
	}
	if (f & F_OFFSET)
		m->offset = rn(&r, 8);
	if (f & F_CHUNK) {
		m->len = (uint32_t)rn(&r, 4);
		m->data = rbytes(&r, m->len);
	}
	if (f & F_ENTRIES) {
		uint64_t n = rn(&r, 4);
		/* each entry takes at least its head: a cheap bound first */
		if (r.bad || n > (size_t)(r.end - r.p) / ENTRY_HEAD)
			return -EINVAL;
		if (n > max_ents)
			return -EMSGSIZE;
		for (uint32_t k = 0; k < n; k++) {
			struct raft_entry *e = &ents[k];
			e->index = rn(&r, 8);
			e->term = rn(&r, 8);
			e->zxid = rn(&r, 8);
			e->type = (uint32_t)rn(&r, 4);
			e->count = (uint32_t)rn(&r, 4);
			e->len = (uint32_t)rn(&r, 4);
			e->data = rbytes(&r, e->len);
			if (r.bad)
				return -EINVAL;
		}
		m->entries = n ? ents : NULL;
		m->n_entries = (uint32_t)n;
	}
	if (r.bad || r.p != r.end)
		return -EINVAL; /* short, or bytes left over */
	return (long)size;
}
