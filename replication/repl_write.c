/* SPDX-License-Identifier: Apache-2.0 */
/*
 * struct repl_write: a client's write as the worker decoded it, in one
 * position-independent allocation (repl.h).
 *
 * Why offsets and not pointers: a follower forwards writes to the leader,
 * and a write that points into itself cannot travel as bytes; with spans
 * relative to storage[] the allocation is the message.  The price is one
 * pass turning spans into views before prep (repl_write_views), a few
 * additions per op, no decoding: the frame is decoded once, by the worker
 * when the request arrives.
 *
 * Layout: header | storage[storage_len] | pad to 8 | reqs[nreqs] |
 * ids[nauth]; size covers it all.  repl_write_check is what a receiver of
 * foreign bytes runs first: every offset, count and span is bounded by
 * size and storage_len, so nothing after it can read outside.
 *
 * Between processes the write travels in its wire form (repl.h): the
 * same layout with every field little-endian at a fixed offset, so the
 * receiver's compiler and byte order do not matter.  repl_write_decode
 * rebuilds the in-memory write field by field and runs repl_write_check
 * on it: the only way foreign bytes become a struct repl_write.
 *
 * Any thread; nothing here keeps state.
 */
#include "repl.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/byteorder.h"

_Static_assert(REPL_WRITE_WIRE_HDR == 4 + 4 + 1 + 1 + 2 + 5 * 4 + 8, "wire header layout");
_Static_assert(REPL_WRITE_WIRE_REQ == 4 * 4 + 8 + 3 * 8, "wire op layout");
_Static_assert(REPL_WRITE_WIRE_ID == 2 * 8, "wire identity layout");

static size_t align8(size_t v)
{
	return (v + 7) & ~(size_t)7;
}

struct repl_write *repl_write_new(size_t storage_len, uint32_t nreqs, uint32_t nauth)
{
	size_t reqs_off = align8(sizeof(struct repl_write) + storage_len);
	size_t ids_off = reqs_off + (size_t)nreqs * sizeof(struct repl_write_req);
	size_t total = ids_off + (size_t)nauth * sizeof(struct repl_write_id);
	struct repl_write *w;

	if (storage_len > UINT32_MAX || total > UINT32_MAX || total < storage_len)
		return NULL;
	w = calloc(1, total);
	if (!w)
		return NULL;
	w->size = (uint32_t)total;
	w->storage_len = (uint32_t)storage_len;
	w->nreqs = nreqs;
	w->nauth = nauth;
	w->reqs_off = (uint32_t)reqs_off;
	w->ids_off = (uint32_t)ids_off;
	w->slots = (struct repl_span){0, -1};
	assert(w->reqs_off % 8 == 0 && w->ids_off <= w->size);
	return w;
}

static bool span_ok(const struct repl_write *w, struct repl_span s)
{
	if (s.len == -1)
		return true;
	return s.len >= 0 && s.off <= w->storage_len && (uint32_t)s.len <= w->storage_len - s.off;
}

/*
 * Whether every byte of b[0..n) is at most max.  Every write carries a
 * table of 2 * TREE_AUTH_MAX_IDS bytes, checked on both threads, so it
 * goes eight bytes at a time: for max < 128, byte x > max exactly when
 * x + (127 - max) or x itself has its top bit set (no carry crosses into
 * the next byte unless that top bit is set already).
 */
static bool slots_ok(const uint8_t *b, uint32_t n, uint32_t max)
{
	uint32_t i = 0;

	if (max >= 255)
		return true;
	if (max < 128) {
		const uint64_t ones = 0x0101010101010101ull;
		const uint64_t add = ones * (127 - max), top = ones * 0x80;

		for (; n - i >= 8; i += 8) {
			uint64_t x;

			memcpy(&x, b + i, 8);
			if (((x + add) | x) & top)
				return false;
		}
	}
	for (; i < n; i++)
		if (b[i] > max)
			return false;
	return true;
}

int repl_write_check(const struct repl_write *w, size_t len)
{
	const struct repl_write_req *reqs;
	const struct repl_write_id *ids;
	size_t reqs_off;

	if (len < sizeof(*w) || w->size != len)
		return -EBADMSG;
	reqs_off = align8(sizeof(*w) + (size_t)w->storage_len);
	if (w->storage_len > len - sizeof(*w) || w->reqs_off != reqs_off ||
	    (size_t)w->nreqs > (len - reqs_off) / sizeof(*reqs) ||
	    w->ids_off != reqs_off + (size_t)w->nreqs * sizeof(*reqs) ||
	    (size_t)w->nauth > (len - w->ids_off) / sizeof(*ids) ||
	    w->ids_off + (size_t)w->nauth * sizeof(*ids) != len)
		return -EBADMSG;
	if (!span_ok(w, w->slots))
		return -EBADMSG;
	if (w->slots.len >= 0) {
		/* tree_auth's table: a power of two, at most half full, entries 0..nauth. */
		uint32_t n = (uint32_t)w->slots.len;

		if (n < 2 * (uint64_t)w->nauth || !n || (n & (n - 1)))
			return -EBADMSG;
		if (!slots_ok(w->storage + w->slots.off, n, w->nauth))
			return -EBADMSG;
	}
	reqs = (const struct repl_write_req *)((const uint8_t *)w + w->reqs_off);
	ids = (const struct repl_write_id *)((const uint8_t *)w + w->ids_off);
	for (uint32_t i = 0; i < w->nreqs; i++)
		if (!span_ok(w, reqs[i].path) || !span_ok(w, reqs[i].data) ||
		    !span_ok(w, reqs[i].acl))
			return -EBADMSG;
	for (uint32_t i = 0; i < w->nauth; i++)
		if (!span_ok(w, ids[i].scheme) || !span_ok(w, ids[i].id))
			return -EBADMSG;
	return 0;
}

static struct jute_buf view(const struct repl_write *w, struct repl_span s)
{
	assert(span_ok(w, s));
	return (struct jute_buf){s.len >= 0 ? w->storage + s.off : NULL, s.len};
}

void repl_write_auth(const struct repl_write *w, struct tree_auth_id *ids, struct tree_auth *auth)
{
	const struct repl_write_id *wi =
	    (const struct repl_write_id *)((const uint8_t *)w + w->ids_off);

	assert(w->reqs_off % 8 == 0 && w->ids_off <= w->size);
	for (uint32_t i = 0; i < w->nauth; i++)
		ids[i] = (struct tree_auth_id){view(w, wi[i].scheme), view(w, wi[i].id)};
	auth->ids = w->nauth ? ids : NULL;
	auth->n = w->nauth;
	auth->super = w->super;
	auth->slots = w->slots.len > 0 ? w->storage + w->slots.off : NULL;
	auth->nslots = w->slots.len > 0 ? (uint32_t)w->slots.len : 0;
}

struct jute_buf repl_write_data(const struct repl_write *w, uint32_t i)
{
	const struct repl_write_req *wr =
	    (const struct repl_write_req *)((const uint8_t *)w + w->reqs_off);

	assert(i < w->nreqs);
	return view(w, wr[i].data);
}

void repl_write_views(const struct repl_write *w, struct tree_req *reqs, struct tree_auth_id *ids,
		      struct tree_auth *auth)
{
	const struct repl_write_req *wr =
	    (const struct repl_write_req *)((const uint8_t *)w + w->reqs_off);

	assert(w->reqs_off % 8 == 0 && w->ids_off <= w->size);
	for (uint32_t i = 0; i < w->nreqs; i++) {
		struct jute_buf acl = view(w, wr[i].acl);

		reqs[i] = (struct tree_req){
		    .type = wr[i].type,
		    .flags = wr[i].flags,
		    .version = wr[i].version,
		    .ttl = wr[i].ttl,
		    .path = view(w, wr[i].path),
		    .data = view(w, wr[i].data),
		    .acl = {acl.p, acl.len > 0 ? (uint32_t)acl.len : 0, wr[i].acl_count},
		};
	}
	repl_write_auth(w, ids, auth);
}

/* ---- The wire form (repl.h) ---- */

static size_t wire_reqs_off(uint32_t storage_len)
{
	return align8(REPL_WRITE_WIRE_HDR + (size_t)storage_len);
}

size_t repl_write_wire_size(const struct repl_write *w)
{
	size_t n = wire_reqs_off(w->storage_len) + (size_t)w->nreqs * REPL_WRITE_WIRE_REQ +
		   (size_t)w->nauth * REPL_WRITE_WIRE_ID;

	return n > UINT32_MAX ? 0 : n;
}

static void put_span(uint8_t *p, struct repl_span s)
{
	le_put32(p, s.off);
	le_put32(p + 4, (uint32_t)s.len);
}

static struct repl_span get_span(const uint8_t *p)
{
	return (struct repl_span){le_get32(p), (int32_t)le_get32(p + 4)};
}

void repl_write_encode(const struct repl_write *w, uint8_t *out)
{
	const struct repl_write_req *wr =
	    (const struct repl_write_req *)((const uint8_t *)w + w->reqs_off);
	const struct repl_write_id *wi =
	    (const struct repl_write_id *)((const uint8_t *)w + w->ids_off);
	size_t reqs_off = wire_reqs_off(w->storage_len);
	size_t ids_off = reqs_off + (size_t)w->nreqs * REPL_WRITE_WIRE_REQ;
	size_t size = repl_write_wire_size(w);
	uint8_t *p;

	assert(size && w->reqs_off % 8 == 0 && w->ids_off <= w->size);
	le_put32(out, (uint32_t)size);
	le_put32(out + 4, (uint32_t)w->op);
	out[8] = w->multi;
	out[9] = w->super;
	le_put16(out + 10, 0);
	le_put32(out + 12, w->nreqs);
	le_put32(out + 16, w->nauth);
	le_put32(out + 20, w->storage_len);
	le_put32(out + 24, (uint32_t)reqs_off);
	le_put32(out + 28, (uint32_t)ids_off);
	put_span(out + 32, w->slots);
	if (w->storage_len)
		memcpy(out + REPL_WRITE_WIRE_HDR, w->storage, w->storage_len);
	memset(out + REPL_WRITE_WIRE_HDR + w->storage_len, 0,
	       reqs_off - REPL_WRITE_WIRE_HDR - w->storage_len);
	p = out + reqs_off;
	for (uint32_t i = 0; i < w->nreqs; i++, p += REPL_WRITE_WIRE_REQ) {
		le_put32(p, (uint32_t)wr[i].type);
		le_put32(p + 4, (uint32_t)wr[i].flags);
		le_put32(p + 8, (uint32_t)wr[i].version);
		le_put32(p + 12, (uint32_t)wr[i].acl_count);
		le_put64(p + 16, (uint64_t)wr[i].ttl);
		put_span(p + 24, wr[i].path);
		put_span(p + 32, wr[i].data);
		put_span(p + 40, wr[i].acl);
	}
	for (uint32_t i = 0; i < w->nauth; i++, p += REPL_WRITE_WIRE_ID) {
		put_span(p, wi[i].scheme);
		put_span(p + 8, wi[i].id);
	}
	assert((size_t)(p - out) == size);
}

int repl_write_decode(const uint8_t *p, size_t len, struct repl_write **out)
{
	uint32_t storage_len, nreqs, nauth;
	size_t reqs_off, ids_off;
	struct repl_write_req *wr;
	struct repl_write_id *wi;
	struct repl_write *w;
	const uint8_t *q;

	/* Every count is bounded by the bytes left before anything is sized from it. */
	if (len < REPL_WRITE_WIRE_HDR || le_get32(p) != len)
		return -EBADMSG;
	nreqs = le_get32(p + 12);
	nauth = le_get32(p + 16);
	storage_len = le_get32(p + 20);
	if (storage_len > len - REPL_WRITE_WIRE_HDR)
		return -EBADMSG;
	reqs_off = wire_reqs_off(storage_len);
	if (reqs_off > len || le_get32(p + 24) != reqs_off ||
	    nreqs > (len - reqs_off) / REPL_WRITE_WIRE_REQ)
		return -EBADMSG;
	ids_off = reqs_off + (size_t)nreqs * REPL_WRITE_WIRE_REQ;
	if (le_get32(p + 28) != ids_off || nauth > (len - ids_off) / REPL_WRITE_WIRE_ID ||
	    ids_off + (size_t)nauth * REPL_WRITE_WIRE_ID != len)
		return -EBADMSG;
	w = repl_write_new(storage_len, nreqs, nauth);
	if (!w)
		return -ENOMEM;
	w->op = (int32_t)le_get32(p + 4);
	w->multi = p[8];
	w->super = p[9];
	w->slots = get_span(p + 32);
	if (storage_len)
		memcpy(w->storage, p + REPL_WRITE_WIRE_HDR, storage_len);
	wr = repl_write_reqs(w);
	wi = repl_write_ids(w);
	q = p + reqs_off;
	for (uint32_t i = 0; i < nreqs; i++, q += REPL_WRITE_WIRE_REQ) {
		wr[i] = (struct repl_write_req){
		    .type = (int32_t)le_get32(q),
		    .flags = (int32_t)le_get32(q + 4),
		    .version = (int32_t)le_get32(q + 8),
		    .acl_count = (int32_t)le_get32(q + 12),
		    .ttl = (int64_t)le_get64(q + 16),
		    .path = get_span(q + 24),
		    .data = get_span(q + 32),
		    .acl = get_span(q + 40),
		};
	}
	for (uint32_t i = 0; i < nauth; i++, q += REPL_WRITE_WIRE_ID)
		wi[i] = (struct repl_write_id){get_span(q), get_span(q + 8)};
	assert(q == p + len);
	if (repl_write_check(w, w->size)) {
		free(w);
		return -EBADMSG;
	}
	*out = w;
	return 0;
}
