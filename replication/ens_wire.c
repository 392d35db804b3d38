/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encoders and bounds-checked decoders of the ensemble driver's frames
 * and records, laid out in ens_wire.h.
 *
 * Why explicit bytes and not the structs: a struct copied raw carries the
 * host's byte order and the compiler's padding, so two members built for
 * different hosts (or with another compiler's layout) would misread each
 * other's frames and disks.  Each field is stored at a fixed offset in
 * little-endian order (common/byteorder.h), which is what x86 wrote when
 * these were raw structs: old data dirs and old members read the same.
 *
 * Pure functions, any thread; nothing here keeps state.
 */
#include "ens_wire.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "common/byteorder.h"

/* The layouts in ens_wire.h, field by field. */
_Static_assert(ENS_FWD_REQ_SIZE == 1 + 3 + 4 + 8 + 4 + 4, "F_REQ header layout");
_Static_assert(ENS_FWD_ANS_SIZE == 8 + 8 + 4 + 4, "F_ANS layout");
_Static_assert(ENS_FWD_TOUCH_SIZE == 8 + 4 + 4, "F_TOUCH record layout");
_Static_assert(ENS_ENTRY_HDR == 1 + 3 + 4, "log entry header layout");
_Static_assert(ENS_META_SIZE == 3 * 8 + 4 + RAFT_MAX_MEMBERS * (4 + 1 + 3) + 4,
	       "snapshot meta layout");
_Static_assert(ENS_META_SIZE == 160, "snapshot meta: the size earlier releases wrote");
_Static_assert(RAFT_ENTRY_CONF <= 0xff, "the entry type is one byte");

void ens_fwd_req_encode(const struct ens_fwd_req *h, uint8_t out[ENS_FWD_REQ_SIZE])
{
	out[0] = h->kind;
	out[1] = out[2] = out[3] = 0;
	le_put32(out + 4, (uint32_t)h->cxid);
	le_put64(out + 8, (uint64_t)h->session);
	le_put32(out + 16, (uint32_t)h->timeout);
	le_put32(out + 20, h->body_len);
}

int ens_fwd_req_decode(const uint8_t *p, size_t len, struct ens_fwd_req *h)
{
	if (len < ENS_FWD_REQ_SIZE)
		return -EBADMSG;
	*h = (struct ens_fwd_req){
	    .kind = p[0],
	    .cxid = (int32_t)le_get32(p + 4),
	    .session = (int64_t)le_get64(p + 8),
	    .timeout = (int32_t)le_get32(p + 16),
	    .body_len = le_get32(p + 20),
	};
	return 0;
}

void ens_fwd_ans_encode(const struct ens_fwd_ans *a, uint8_t out[ENS_FWD_ANS_SIZE])
{
	le_put64(out, (uint64_t)a->session);
	le_put64(out + 8, (uint64_t)a->after);
	le_put32(out + 16, (uint32_t)a->cxid);
	le_put32(out + 20, (uint32_t)a->err);
}

int ens_fwd_ans_decode(const uint8_t *p, size_t len, struct ens_fwd_ans *a)
{
	if (len != ENS_FWD_ANS_SIZE)
		return -EBADMSG;
	*a = (struct ens_fwd_ans){
	    .session = (int64_t)le_get64(p),
	    .after = (int64_t)le_get64(p + 8),
	    .cxid = (int32_t)le_get32(p + 16),
	    .err = (int32_t)le_get32(p + 20),
	};
	return 0;
}

void ens_fwd_touch_encode(const struct ens_fwd_touch *t, uint8_t out[ENS_FWD_TOUCH_SIZE])
{
	le_put64(out, (uint64_t)t->session);
	le_put32(out + 8, (uint32_t)t->timeout);
	le_put32(out + 12, 0);
}

int ens_fwd_touch_decode(const uint8_t *p, size_t len, struct ens_fwd_touch *t)
{
	if (len < ENS_FWD_TOUCH_SIZE)
		return -EBADMSG;
	t->session = (int64_t)le_get64(p);
	t->timeout = (int32_t)le_get32(p + 8);
	return 0;
}

void ens_entry_hdr_encode(uint32_t type, uint32_t count, uint8_t out[ENS_ENTRY_HDR])
{
	assert(type <= RAFT_ENTRY_CONF);
	out[0] = (uint8_t)type;
	out[1] = out[2] = out[3] = 0;
	le_put32(out + 4, count);
}

int ens_entry_hdr_decode(const uint8_t *p, size_t len, uint32_t *type, uint32_t *count)
{
	if (len < ENS_ENTRY_HDR || p[0] > RAFT_ENTRY_CONF || p[1] || p[2] || p[3])
		return -EBADMSG;
	*type = p[0];
	*count = le_get32(p + 4);
	return 0;
}

size_t ens_batch_put(uint8_t *out, const void *rec, uint32_t len)
{
	le_put32(out, len);
	if (len)
		memcpy(out + ENS_BATCH_LEN, rec, len);
	return ENS_BATCH_LEN + (size_t)len;
}

int ens_batch_next(const uint8_t **p, const uint8_t *end, const uint8_t **rec, uint32_t *len)
{
	const uint8_t *q = *p;
	uint32_t n;

	assert(q <= end);
	if ((size_t)(end - q) < ENS_BATCH_LEN)
		return -EBADMSG;
	n = le_get32(q);
	q += ENS_BATCH_LEN;
	if ((size_t)(end - q) < n)
		return -EBADMSG;
	*rec = q;
	*len = n;
	*p = q + n;
	return 0;
}

void ens_meta_encode(const struct raft_snap_meta *m, uint8_t out[ENS_META_SIZE])
{
	assert(m->conf.n <= RAFT_MAX_MEMBERS);
	memset(out, 0, ENS_META_SIZE);
	le_put64(out, m->index);
	le_put64(out + 8, m->term);
	le_put64(out + 16, m->zxid);
	le_put32(out + 24, m->conf.n);
	for (uint32_t k = 0; k < m->conf.n; k++) {
		le_put32(out + 28 + 8 * k, m->conf.m[k].id);
		out[32 + 8 * k] = m->conf.m[k].voter ? 1 : 0;
	}
}

int ens_meta_decode(const uint8_t *p, size_t len, struct raft_snap_meta *m)
{
	uint32_t n;

	if (len != ENS_META_SIZE)
		return -EBADMSG;
	n = le_get32(p + 24);
	if (n > RAFT_MAX_MEMBERS)
		return -EBADMSG;
	for (uint32_t k = 0; k < n; k++)
		if (p[32 + 8 * k] > 1)
			return -EBADMSG;
	memset(m, 0, sizeof(*m));
	m->index = le_get64(p);
	m->term = le_get64(p + 8);
	m->zxid = le_get64(p + 16);
	m->conf.n = n;
	for (uint32_t k = 0; k < n; k++) {
		m->conf.m[k].id = le_get32(p + 28 + 8 * k);
		m->conf.m[k].voter = p[32 + 8 * k] == 1;
	}
	return 0;
}
