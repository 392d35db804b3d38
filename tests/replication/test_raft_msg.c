// SPDX-License-Identifier: Apache-2.0
/*
 * The consensus core's peer codec (replication/raft/raft_msg.c): every
 * message type round-trips; damaged, truncated and hostile frames are
 * refused with the documented error, never read out of bounds (the ASan
 * build runs this), and CRC32C matches the standard check value.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "replication/raft/raft_msg.h"

/* raft_msg.h's big-endian layout, byte for byte, both ways (a HEARTBEAT). */
Test(raft_msg, heartbeat_golden_bytes)
{
	static const uint8_t golden[44] = {
	    0x00, 0x00, 0x00, 0x2c,			    /* frame length 44 */
	    0x01, 0x07, 0x00, 0x00,			    /* version 1, HEARTBEAT, flags 0 */
	    0x00, 0x00, 0x00, 0x01,			    /* from 1 */
	    0x00, 0x00, 0x00, 0x02,			    /* to 2 */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* term 5 */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, /* commit 16 */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x0b, /* ctx 0x0a0b */
	    0xc2, 0xb8, 0x9e, 0xa4,			    /* crc32c of bytes 0..39 */
	};
	struct raft_msg m = {
	    .type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 5, .commit = 16, .ctx = 0x0a0b};
	struct raft_msg d;
	uint8_t b[64];

	cr_assert_eq(raft_msg_encode(&m, b, sizeof(b)), (long)sizeof(golden));
	cr_assert_arr_eq(b, golden, sizeof(golden));
	cr_assert_eq(crc32c(0, golden, 40), 0xc2b89ea4u);
	cr_assert_eq(raft_msg_decode(golden, sizeof(golden), &d, NULL, 0), (long)sizeof(golden));
	cr_assert(d.type == RAFT_MSG_HEARTBEAT && d.from == 1 && d.to == 2 && d.term == 5 &&
		  d.commit == 16 && d.ctx == 0x0a0b);
	for (size_t n = 0; n < sizeof(golden); n++)
		cr_assert_eq(raft_msg_decode(golden, n, &d, NULL, 0), -EAGAIN, "%zu bytes", n);
}

static const uint8_t payload_a[] = "first batch";
static const uint8_t payload_b[] = {0, 1, 2, 3, 255};

static struct raft_entry ents[2] = {
    {.index = 8,
     .term = 3,
     .zxid = 3ull << 32 | 7,
     .type = RAFT_ENTRY_DATA,
     .count = 4,
     .len = sizeof(payload_a),
     .data = payload_a},
    {.index = 9,
     .term = 3,
     .zxid = 3ull << 32 | 11,
     .type = RAFT_ENTRY_CONF,
     .count = 1,
     .len = sizeof(payload_b),
     .data = payload_b},
};

static struct raft_msg full(uint32_t type)
{
	struct raft_msg m = {
	    .type = type,
	    .flags = RAFT_F_REJECT | RAFT_F_LAST,
	    .from = 3,
	    .to = 0x01020304,
	    .term = 0x1122334455667788ull,
	    .index = 101,
	    .log_term = 102,
	    .commit = 103,
	    .hint = 104,
	    .ctx = 0xfedcba9876543210ull,
	    .entries = ents,
	    .n_entries = 2,
	    .snap = {.index = 200, .term = 201, .zxid = 202, .conf = {.n = 2}},
	    .offset = 300,
	    .data = payload_a,
	    .len = sizeof(payload_a),
	};
	m.snap.conf.m[0] = (struct raft_member){1, true};
	m.snap.conf.m[1] = (struct raft_member){9, false};
	return m;
}

static long enc(const struct raft_msg *m, uint8_t *buf, size_t cap)
{
	long n = raft_msg_encode(m, buf, cap);
	cr_assert_gt(n, 0, "encode type %u: %ld", m->type, n);
	cr_assert_eq((size_t)n, raft_msg_size(m));
	return n;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Rewrites the length and CRC of a frame edited in place. */
static void reseal(uint8_t *buf, size_t len)
{
	put32(buf, (uint32_t)len);
	put32(buf + len - 4, crc32c(0, buf, len - 4));
}

Test(raft_msg, crc32c_check_value)
{
	cr_assert_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	cr_assert_eq(crc32c(0, "", 0), 0);
}

Test(raft_msg, every_type_round_trips)
{
	uint8_t buf[1024];
	for (uint32_t t = RAFT_MSG_APPEND; t <= RAFT_MSG_TYPE_MAX; t++) {
		struct raft_msg m = full(t), d;
		struct raft_entry de[4];
		long n = enc(&m, buf, sizeof(buf));
		cr_assert_eq(raft_msg_decode(buf, (size_t)n, &d, de, 4), n, "type %u", t);
		cr_assert_eq(d.type, t);
		cr_assert_eq(d.flags, m.flags);
		cr_assert_eq(d.from, m.from);
		cr_assert_eq(d.to, m.to);
		cr_assert_eq(d.term, m.term);
		bool idx = t == RAFT_MSG_APPEND || t == RAFT_MSG_APPEND_RESP ||
			   t == RAFT_MSG_PREVOTE || t == RAFT_MSG_VOTE ||
			   t == RAFT_MSG_READ_INDEX_RESP || t == RAFT_MSG_SNAP_ACK;
		cr_assert_eq(d.index, idx ? m.index : 0, "type %u index", t);
		bool lt = t == RAFT_MSG_APPEND || t == RAFT_MSG_APPEND_RESP || t == RAFT_MSG_PREVOTE ||
			  t == RAFT_MSG_VOTE;
		cr_assert_eq(d.log_term, lt ? m.log_term : 0);
		bool cm = t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT;
		cr_assert_eq(d.commit, cm ? m.commit : 0);
		cr_assert_eq(d.hint, t == RAFT_MSG_APPEND_RESP ? m.hint : 0);
		bool ctx = t == RAFT_MSG_HEARTBEAT || t == RAFT_MSG_HEARTBEAT_RESP ||
			   t == RAFT_MSG_READ_INDEX || t == RAFT_MSG_READ_INDEX_RESP;
		cr_assert_eq(d.ctx, ctx ? m.ctx : 0);
		if (t == RAFT_MSG_SNAP || t == RAFT_MSG_SNAP_CHUNK) {
			cr_assert_eq(d.snap.index, 200);
			cr_assert_eq(d.snap.term, 201);
			cr_assert_eq(d.snap.zxid, 202);
			cr_assert_eq(d.snap.conf.n, 2);
			cr_assert_eq(d.snap.conf.m[1].id, 9);
			cr_assert_eq(d.snap.conf.m[1].voter, false);
			cr_assert_eq(d.snap.conf.m[0].voter, true);
		}
		bool off = t == RAFT_MSG_SNAP_CHUNK || t == RAFT_MSG_SNAP_ACK;
		cr_assert_eq(d.offset, off ? 300 : 0);
		if (t == RAFT_MSG_SNAP_CHUNK) {
			cr_assert_eq(d.len, sizeof(payload_a));
			cr_assert_arr_eq(d.data, payload_a, sizeof(payload_a));
		}
		if (t == RAFT_MSG_APPEND) {
			cr_assert_eq(d.n_entries, 2);
			for (int k = 0; k < 2; k++) {
				cr_assert_eq(d.entries[k].index, ents[k].index);
				cr_assert_eq(d.entries[k].term, ents[k].term);
				cr_assert_eq(d.entries[k].zxid, ents[k].zxid);
				cr_assert_eq(d.entries[k].type, ents[k].type);
				cr_assert_eq(d.entries[k].count, ents[k].count);
				cr_assert_eq(d.entries[k].len, ents[k].len);
				cr_assert_arr_eq(d.entries[k].data, ents[k].data, ents[k].len);
			}
		} else {
			cr_assert_eq(d.n_entries, 0);
		}
		/* re-encoding gives the same bytes */
		uint8_t again[1024];
		cr_assert_eq(raft_msg_encode(&d, again, sizeof(again)), n);
		cr_assert_arr_eq(again, buf, (size_t)n);
	}
}

Test(raft_msg, every_flipped_bit_is_refused)
{
	uint8_t buf[1024], bad[1024];
	struct raft_msg m = full(RAFT_MSG_APPEND), d;
	struct raft_entry de[4];
	long n = enc(&m, buf, sizeof(buf));
	for (long i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, buf, (size_t)n);
			bad[i] ^= (uint8_t)(1u << bit);
			long rc = raft_msg_decode(bad, (size_t)n, &d, de, 4);
			cr_assert_lt(rc, 0, "byte %ld bit %d accepted", i, bit);
		}
	}
}

Test(raft_msg, truncated_frames_ask_for_more)
{
	uint8_t buf[1024];
	struct raft_msg m = full(RAFT_MSG_SNAP_CHUNK), d;
	long n = enc(&m, buf, sizeof(buf));
	for (long k = 0; k < n; k++) {
		/* a copy of exactly k bytes, so ASan sees any over-read */
		uint8_t *p = malloc(k ? (size_t)k : 1);
		memcpy(p, buf, (size_t)k);
		cr_assert_eq(raft_msg_decode(p, (size_t)k, &d, NULL, 0), -EAGAIN, "prefix %ld", k);
		free(p);
	}
}

Test(raft_msg, frames_stream_back_to_back)
{
	uint8_t buf[2048];
	struct raft_msg a = full(RAFT_MSG_HEARTBEAT), b = full(RAFT_MSG_VOTE), d;
	long na = enc(&a, buf, sizeof(buf));
	long nb = enc(&b, buf + na, sizeof(buf) - (size_t)na);
	cr_assert_eq(raft_msg_decode(buf, (size_t)(na + nb), &d, NULL, 0), na);
	cr_assert_eq(d.type, RAFT_MSG_HEARTBEAT);
	cr_assert_eq(raft_msg_decode(buf + na, (size_t)nb, &d, NULL, 0), nb);
	cr_assert_eq(d.type, RAFT_MSG_VOTE);
}

Test(raft_msg, sealed_but_hostile_frames_are_refused)
{
	uint8_t buf[1024];
	struct raft_msg m = full(RAFT_MSG_APPEND), d;
	struct raft_entry de[4];
	long n = enc(&m, buf, sizeof(buf));
	size_t ents_at = RAFT_MSG_HEADER + 3 * 8; /* index, log_term, commit */

	uint8_t t[1024];
#define EDIT(expr, want)                                                                           \
	do {                                                                                       \
		memcpy(t, buf, (size_t)n);                                                         \
		size_t len = (size_t)n;                                                            \
		expr;                                                                              \
		reseal(t, len);                                                                    \
		cr_assert_eq(raft_msg_decode(t, len, &d, de, 4), want, #expr);                     \
	} while (0)

	EDIT((void)0, n);					 /* the editor itself is sound */
	EDIT(t[4] = 2, -EINVAL);				 /* version */
	EDIT(t[5] = 0, -EINVAL);				 /* type 0 */
	EDIT(t[5] = RAFT_MSG_TYPE_MAX + 1, -EINVAL);		 /* unknown type */
	EDIT(t[7] |= 0x80, -EINVAL);				 /* unknown flag */
	EDIT(put32(t + ents_at, 0xffffffffu), -EINVAL);		 /* entry count beyond the frame */
	EDIT(put32(t + ents_at, 3), -EINVAL);			 /* one entry more than there is */
	EDIT(put32(t + ents_at, 1), -EINVAL);			 /* one fewer: bytes left over */
	EDIT(put32(t + ents_at + 4 + 32, 0xfffffff0u), -EINVAL); /* entry len past the end */
	EDIT((memmove(t + n - 3, t + n - 4, 4), len = (size_t)n + 1), -EINVAL); /* trailing byte */
	EDIT(len = RAFT_MSG_HEADER + 4, -EINVAL); /* header only: fields missing */
	/* more entries than the caller has room for */
	memcpy(t, buf, (size_t)n);
	cr_assert_eq(raft_msg_decode(t, (size_t)n, &d, de, 1), -EMSGSIZE);

	/* snapshot membership */
	struct raft_msg sm = full(RAFT_MSG_SNAP);
	n = enc(&sm, buf, sizeof(buf));
	size_t conf_at = RAFT_MSG_HEADER + 24;
	EDIT(put32(t + conf_at, RAFT_MAX_MEMBERS + 1), -EINVAL);
	EDIT(t[conf_at + 8] = 2, -EINVAL); /* voter byte is 0 or 1 */
#undef EDIT

	/* frame lengths out of range */
	memset(t, 0, sizeof(t));
	put32(t, RAFT_MSG_HEADER + 3);
	cr_assert_eq(raft_msg_decode(t, sizeof(t), &d, de, 4), -EINVAL);
	put32(t, RAFT_MSG_MAX_FRAME + 1);
	cr_assert_eq(raft_msg_decode(t, sizeof(t), &d, de, 4), -EMSGSIZE);
}

Test(raft_msg, encoder_checks_its_room_and_input)
{
	uint8_t buf[1024];
	struct raft_msg m = full(RAFT_MSG_APPEND);
	size_t need = raft_msg_size(&m);
	cr_assert_eq(raft_msg_encode(&m, buf, need - 1), -ENOSPC);
	cr_assert_eq(raft_msg_encode(&m, buf, need), (long)need);
	m.type = 0;
	cr_assert_eq(raft_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = full(RAFT_MSG_SNAP);
	m.snap.conf.n = RAFT_MAX_MEMBERS + 1;
	cr_assert_eq(raft_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

Test(raft_msg, conf_payload_round_trips_and_is_checked)
{
	struct raft_conf c = {.n = 3}, d;
	c.m[0] = (struct raft_member){1, true};
	c.m[1] = (struct raft_member){2, true};
	c.m[2] = (struct raft_member){7, false};
	uint8_t buf[RAFT_CONF_MAX_BYTES];
	size_t n = raft_conf_encode(&c, buf);
	cr_assert_eq(n, 4 + 15);
	cr_assert_eq(raft_conf_decode(buf, n, &d), 0);
	cr_assert_eq(d.n, 3);
	cr_assert_eq(d.m[2].id, 7);
	cr_assert_eq(d.m[2].voter, false);
	cr_assert_eq(raft_conf_decode(buf, n - 1, &d), -EINVAL);
	buf[4 + 5 + 3] = 1; /* id 2 -> 1: duplicate */
	cr_assert_eq(raft_conf_decode(buf, n, &d), -EINVAL);
	struct raft_conf none = {.n = 1};
	none.m[0] = (struct raft_member){3, false};
	cr_assert_eq(raft_conf_check(&none), -EINVAL, "no voter");
}

Test(raft_msg, conf_trailer_is_the_drivers)
{
	struct raft_conf c = {.n = 2}, d;
	c.m[0] = (struct raft_member){1, true};
	c.m[1] = (struct raft_member){2, true};
	uint8_t buf[RAFT_CONF_MAX_BYTES + 8];
	size_t n = raft_conf_encode(&c, buf), used = 0;

	memcpy(buf + n, "trailer", 7);
	/* the strict decoder wants the membership alone; the prefix one skips the rest */
	cr_assert_eq(raft_conf_decode(buf, n + 7, &d), -EINVAL);
	cr_assert_eq(raft_conf_decode_prefix(buf, n + 7, &d, &used), 0);
	cr_assert_eq(used, n);
	cr_assert_eq(d.n, 2);
	/* every length below the membership is refused */
	for (size_t l = 0; l < n; l++)
		cr_assert_eq(raft_conf_decode_prefix(buf, l, &d, &used), -EINVAL, "len %zu", l);
	cr_assert_eq(raft_conf_decode_prefix(NULL, 9, &d, NULL), -EINVAL);

	struct raft_entry e = {.type = RAFT_ENTRY_CONF, .len = (uint32_t)n + 7, .data = buf};
	const uint8_t *t;
	size_t tl;
	cr_assert_eq(raft_conf_trailer(&e, &t, &tl), 0);
	cr_assert_eq(tl, 7);
	cr_assert_eq(memcmp(t, "trailer", 7), 0);
	e.len = (uint32_t)n;
	cr_assert_eq(raft_conf_trailer(&e, &t, &tl), 0);
	cr_assert_eq(tl, 0);
	e.len = (uint32_t)n - 1;
	cr_assert_eq(raft_conf_trailer(&e, &t, &tl), -EINVAL);
	e.type = RAFT_ENTRY_DATA;
	e.len = (uint32_t)n;
	cr_assert_eq(raft_conf_trailer(&e, &t, &tl), -EINVAL);
}
