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
 * Any thread; nothing here keeps state.
 */
#include "repl.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
