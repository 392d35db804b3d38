// SPDX-License-Identifier: Apache-2.0
/*
 * The byte formats that were host structs copied raw (issue 9): the
 * ensemble's F_REQ / F_ANS / F_TOUCH payloads, its log entry header and
 * DATA batch, its snapshot meta (replication/ens_wire.h), a forwarded
 * write's wire form (repl.h) and the meta file's header (snapdir.c).
 * Each is encoded from a known value and compared with literal bytes
 * (golden), literal bytes are decoded back, and truncated or
 * out-of-range input is refused with -EBADMSG (never read out of bounds:
 * the ASan build runs this).  On x86-64 the encoding is also compared
 * with the raw struct bytes earlier releases sent and wrote, so their
 * frames and data dirs read the same.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/byteorder.h"
#include "common/crc32c.h"
#include "replication/ens_wire.h"
#include "replication/repl.h"
#include "replication/repl_priv.h"
#include "tests/common/leakcheck.h"

#if defined(__x86_64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define X86_64_COMPAT 1
#else
#define X86_64_COMPAT 0
#endif

/* ---- common/byteorder.h ---- */

Test(wire, byteorder_helpers_are_little_endian)
{
	static const uint8_t want[14] = {0x02, 0x01, 0x04, 0x03, 0x02, 0x01, 0x08,
					 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
	uint8_t b[14];

	le_put16(b, 0x0102);
	le_put32(b + 2, 0x01020304u);
	le_put64(b + 6, 0x0102030405060708ull);
	cr_assert_arr_eq(b, want, sizeof(want));
	cr_assert_eq(le_get16(want), 0x0102);
	cr_assert_eq(le_get32(want + 2), 0x01020304u);
	cr_assert_eq(le_get64(want + 6), 0x0102030405060708ull);
}

/* ---- F_REQ header ---- */

static const uint8_t req_golden[ENS_FWD_REQ_SIZE] = {
    0x01, 0x00, 0x00, 0x00,			    /* kind 1, 3 zero */
    0xfe, 0xff, 0xff, 0xff,			    /* cxid -2 */
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* session */
    0x30, 0x75, 0x00, 0x00,			    /* timeout 30000 */
    0x40, 0x00, 0x00, 0x00,			    /* body_len 64 */
};

Test(wire, fwd_req_golden)
{
	struct ens_fwd_req h = {
	    .kind = 1, .cxid = -2, .session = 0x1122334455667788, .timeout = 30000, .body_len = 64};
	uint8_t b[ENS_FWD_REQ_SIZE + 3];
	struct ens_fwd_req d;

	ens_fwd_req_encode(&h, b);
	cr_assert_arr_eq(b, req_golden, sizeof(req_golden));

	memcpy(b, req_golden, sizeof(req_golden));
	cr_assert_eq(ens_fwd_req_decode(b, sizeof(b), &d), 0, "a body may follow");
	cr_assert_eq(d.kind, 1);
	cr_assert_eq(d.cxid, -2);
	cr_assert_eq(d.session, 0x1122334455667788);
	cr_assert_eq(d.timeout, 30000);
	cr_assert_eq(d.body_len, 64);
	for (size_t n = 0; n < ENS_FWD_REQ_SIZE; n++)
		cr_assert_eq(ens_fwd_req_decode(req_golden, n, &d), -EBADMSG, "%zu bytes", n);
}

/* ---- F_ANS ---- */

static const uint8_t ans_golden[ENS_FWD_ANS_SIZE] = {
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* session */
    0x07, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, /* after 5 << 32 | 7 */
    0x2a, 0x00, 0x00, 0x00,			    /* cxid 42 */
    0x9b, 0xff, 0xff, 0xff,			    /* err -101 (NONODE) */
};

Test(wire, fwd_ans_golden)
{
	struct ens_fwd_ans a = {
	    .session = 0x0102030405060708, .after = 5ll << 32 | 7, .cxid = 42, .err = -101};
	uint8_t b[ENS_FWD_ANS_SIZE + 1] = {0};
	struct ens_fwd_ans d;

	ens_fwd_ans_encode(&a, b);
	cr_assert_arr_eq(b, ans_golden, sizeof(ans_golden));

	cr_assert_eq(ens_fwd_ans_decode(ans_golden, sizeof(ans_golden), &d), 0);
	cr_assert_eq(d.session, 0x0102030405060708);
	cr_assert_eq(d.after, 5ll << 32 | 7);
	cr_assert_eq(d.cxid, 42);
	cr_assert_eq(d.err, -101);
	for (size_t n = 0; n < ENS_FWD_ANS_SIZE; n++)
		cr_assert_eq(ens_fwd_ans_decode(ans_golden, n, &d), -EBADMSG, "%zu bytes", n);
	cr_assert_eq(ens_fwd_ans_decode(b, sizeof(b), &d), -EBADMSG, "one byte too many");
}

/* ---- F_TOUCH ---- */

static const uint8_t touch_golden[ENS_FWD_TOUCH_SIZE] = {
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, /* session 0x8000000000000001 */
    0xa0, 0x0f, 0x00, 0x00,			    /* timeout 4000 */
    0x00, 0x00, 0x00, 0x00,			    /* zero */
};

Test(wire, fwd_touch_golden)
{
	struct ens_fwd_touch t = {.session = (int64_t)0x8000000000000001ull, .timeout = 4000};
	uint8_t b[ENS_FWD_TOUCH_SIZE];
	struct ens_fwd_touch d;

	memset(b, 0xee, sizeof(b));
	ens_fwd_touch_encode(&t, b);
	cr_assert_arr_eq(b, touch_golden, sizeof(touch_golden));

	cr_assert_eq(ens_fwd_touch_decode(touch_golden, sizeof(touch_golden), &d), 0);
	cr_assert_eq(d.session, (int64_t)0x8000000000000001ull);
	cr_assert_eq(d.timeout, 4000);
	for (size_t n = 0; n < ENS_FWD_TOUCH_SIZE; n++)
		cr_assert_eq(ens_fwd_touch_decode(touch_golden, n, &d), -EBADMSG, "%zu bytes", n);
}

/* Earlier releases sent these three as raw x86-64 structs: the same bytes. */
Test(wire, fwd_frames_match_the_raw_structs_of_earlier_releases)
{
#if X86_64_COMPAT
	struct old_req {
		uint8_t kind;
		uint8_t pad[3];
		int32_t cxid;
		int64_t session;
		int32_t timeout;
		uint32_t body_len;
	} oq = {
	    .kind = 1, .cxid = -2, .session = 0x1122334455667788, .timeout = 30000, .body_len = 64};
	struct old_ans {
		int64_t session;
		int64_t after;
		int32_t cxid;
		int32_t err;
	} oa = {.session = 0x0102030405060708, .after = 5ll << 32 | 7, .cxid = 42, .err = -101};
	struct old_touch {
		int64_t session;
		int32_t timeout;
		int32_t pad;
	} ot = {.session = (int64_t)0x8000000000000001ull, .timeout = 4000};

	cr_assert_eq(sizeof(oq), ENS_FWD_REQ_SIZE);
	cr_assert_eq(sizeof(oa), ENS_FWD_ANS_SIZE);
	cr_assert_eq(sizeof(ot), ENS_FWD_TOUCH_SIZE);
	cr_assert_arr_eq(&oq, req_golden, sizeof(oq));
	cr_assert_arr_eq(&oa, ans_golden, sizeof(oa));
	cr_assert_arr_eq(&ot, touch_golden, sizeof(ot));
#else
	cr_skip_test("the raw structs were x86-64's");
#endif
}

/* ---- Log entry header and DATA batch ---- */

Test(wire, entry_header_golden)
{
	static const uint8_t golden[ENS_ENTRY_HDR] = {0x01, 0x00, 0x00, 0x00,
						      0x03, 0x02, 0x01, 0x00};
	uint8_t b[ENS_ENTRY_HDR];
	uint32_t type, count;

	memset(b, 0xee, sizeof(b));
	ens_entry_hdr_encode(RAFT_ENTRY_DATA, 0x010203, b);
	cr_assert_arr_eq(b, golden, sizeof(golden));

	cr_assert_eq(ens_entry_hdr_decode(golden, sizeof(golden), &type, &count), 0);
	cr_assert_eq(type, RAFT_ENTRY_DATA);
	cr_assert_eq(count, 0x010203);
	for (size_t n = 0; n < ENS_ENTRY_HDR; n++)
		cr_assert_eq(ens_entry_hdr_decode(golden, n, &type, &count), -EBADMSG);

	memcpy(b, golden, sizeof(b));
	b[0] = RAFT_ENTRY_CONF + 1;
	cr_assert_eq(ens_entry_hdr_decode(b, sizeof(b), &type, &count), -EBADMSG, "bad type");
	for (int k = 1; k < 4; k++) {
		memcpy(b, golden, sizeof(b));
		b[k] = 1;
		cr_assert_eq(ens_entry_hdr_decode(b, sizeof(b), &type, &count), -EBADMSG,
			     "reserved byte %d", k);
	}
}

Test(wire, batch_golden)
{
	static const uint8_t golden[] = {0x02, 0x00, 0x00, 0x00, 'a', 'b', 0x03,
					 0x00, 0x00, 0x00, 'x',	 'y', 'z'};
	uint8_t b[sizeof(golden)];
	const uint8_t *p = golden, *end = golden + sizeof(golden), *rec;
	uint32_t len;
	size_t n;

	n = ens_batch_put(b, "ab", 2);
	n += ens_batch_put(b + n, "xyz", 3);
	cr_assert_eq(n, sizeof(golden));
	cr_assert_arr_eq(b, golden, sizeof(golden));

	cr_assert_eq(ens_batch_next(&p, end, &rec, &len), 0);
	cr_assert_eq(len, 2);
	cr_assert_eq(rec, golden + 4);
	cr_assert_eq(ens_batch_next(&p, end, &rec, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert_arr_eq(rec, "xyz", 3);
	cr_assert_eq(p, end);
	cr_assert_eq(ens_batch_next(&p, end, &rec, &len), -EBADMSG, "nothing left");

	/* Cut anywhere inside the second record: refused, the cursor stays. */
	for (size_t cut = 6; cut < sizeof(golden); cut++) {
		p = golden + 6;
		cr_assert_eq(ens_batch_next(&p, golden + cut, &rec, &len), -EBADMSG, "cut %zu",
			     cut);
		cr_assert_eq(p, golden + 6);
	}
}

/* ---- Snapshot meta ---- */

static struct raft_snap_meta meta_value(void)
{
	struct raft_snap_meta m;

	memset(&m, 0, sizeof(m)); /* the padding too: compared as raw bytes below */
	m.index = 0x0102;
	m.term = 3;
	m.zxid = 3ull << 32 | 9;
	m.conf.n = 2;
	m.conf.m[0].id = 1;
	m.conf.m[0].voter = true;
	m.conf.m[1].id = 0x0a0b0c0d;
	m.conf.m[1].voter = false;
	return m;
}

/* Its first 44 bytes; the other 116 are zero. */
static const uint8_t meta_golden[44] = {
    0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* index 0x102 */
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* term 3 */
    0x09, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, /* zxid 3 << 32 | 9 */
    0x02, 0x00, 0x00, 0x00,			    /* conf.n 2 */
    0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* id 1, voter, 3 zero */
    0x0d, 0x0c, 0x0b, 0x0a, 0x00, 0x00, 0x00, 0x00, /* id 0x0a0b0c0d, observer */
};

static void meta_golden_full(uint8_t out[ENS_META_SIZE])
{
	memset(out, 0, ENS_META_SIZE);
	memcpy(out, meta_golden, sizeof(meta_golden));
}

Test(wire, meta_golden)
{
	struct raft_snap_meta m = meta_value(), d;
	uint8_t b[ENS_META_SIZE], want[ENS_META_SIZE];

	cr_assert_eq(ENS_META_SIZE, 160);
	memset(b, 0xee, sizeof(b));
	ens_meta_encode(&m, b);
	meta_golden_full(want);
	cr_assert_arr_eq(b, want, sizeof(want));

	memset(&d, 0xee, sizeof(d));
	cr_assert_eq(ens_meta_decode(want, sizeof(want), &d), 0);
	cr_assert_eq(d.index, 0x0102);
	cr_assert_eq(d.term, 3);
	cr_assert_eq(d.zxid, 3ull << 32 | 9);
	cr_assert_eq(d.conf.n, 2);
	cr_assert_eq(d.conf.m[0].id, 1);
	cr_assert(d.conf.m[0].voter);
	cr_assert_eq(d.conf.m[1].id, 0x0a0b0c0d);
	cr_assert_not(d.conf.m[1].voter);
	for (uint32_t k = 2; k < RAFT_MAX_MEMBERS; k++)
		cr_assert(d.conf.m[k].id == 0 && !d.conf.m[k].voter, "member %u zeroed", k);

	for (size_t n = 0; n < ENS_META_SIZE; n++)
		cr_assert_eq(ens_meta_decode(want, n, &d), -EBADMSG, "%zu bytes", n);
	b[0] = 0;
	cr_assert_eq(ens_meta_decode(want, ENS_META_SIZE + 1, &d), -EBADMSG, "too long");
	memcpy(b, want, sizeof(b));
	le_put32(b + 24, RAFT_MAX_MEMBERS + 1);
	cr_assert_eq(ens_meta_decode(b, sizeof(b), &d), -EBADMSG, "too many members");
	memcpy(b, want, sizeof(b));
	b[32] = 2;
	cr_assert_eq(ens_meta_decode(b, sizeof(b), &d), -EBADMSG, "voter neither 0 nor 1");
	/* A full membership uses every slot. */
	m.conf.n = RAFT_MAX_MEMBERS;
	for (uint32_t k = 0; k < RAFT_MAX_MEMBERS; k++)
		m.conf.m[k] = (struct raft_member){k + 1, k % 2 == 0};
	ens_meta_encode(&m, b);
	cr_assert_eq(ens_meta_decode(b, sizeof(b), &d), 0);
	cr_assert_eq(le_get32(b + 28 + 8 * 15), 16);
	cr_assert_eq(b[32 + 8 * 15], 0);
	cr_assert_eq(b[32 + 8 * 14], 1);
	cr_assert_eq(memcmp(&d.conf, &m.conf, sizeof(d.conf)), 0);
}

/* ensmeta files of earlier releases hold the raw x86-64 struct: they decode the same. */
Test(wire, meta_matches_the_raw_struct_of_earlier_releases)
{
#if X86_64_COMPAT
	struct raft_snap_meta m = meta_value(), d;
	uint8_t b[ENS_META_SIZE];

	cr_assert_eq(sizeof(m), ENS_META_SIZE);
	ens_meta_encode(&m, b);
	cr_assert_arr_eq(b, &m, sizeof(m));
	/* Padding of an old file need not be zero: it is not read. */
	memcpy(b, &m, sizeof(m));
	b[33] = b[34] = b[35] = b[156] = b[159] = 0x5a;
	cr_assert_eq(ens_meta_decode(b, sizeof(b), &d), 0);
	cr_assert_eq(memcmp(&d.conf, &m.conf, sizeof(d.conf)), 0);
	cr_assert(d.index == m.index && d.term == m.term && d.zxid == m.zxid);
#else
	cr_skip_test("the raw struct was x86-64's");
#endif
}

/* ---- A forwarded write (repl.h's wire form) ---- */

/*
 * One create of "/a" with data "dd", no ACL, as a session authenticated
 * as ip:1 (super), no slot table.
 */
static struct repl_write *write_value(void)
{
	struct repl_write *w = repl_write_new(7, 1, 1);

	cr_assert_not_null(w);
	w->op = ZK_OP_CREATE;
	w->multi = 0;
	w->super = 1;
	memcpy(w->storage, "/addip1", 7);
	repl_write_reqs(w)[0] = (struct repl_write_req){
	    .type = ZK_OP_CREATE,
	    .flags = 0,
	    .version = -1,
	    .acl_count = -1,
	    .ttl = 0x0102030405060708,
	    .path = {0, 2},
	    .data = {2, 2},
	    .acl = {0, -1},
	};
	repl_write_ids(w)[0] = (struct repl_write_id){{4, 2}, {6, 1}};
	cr_assert_eq(repl_write_check(w, w->size), 0);
	return w;
}

static const uint8_t write_golden[112] = {
    0x70, 0x00, 0x00, 0x00,			    /* size 112 */
    0x01, 0x00, 0x00, 0x00,			    /* op CREATE */
    0x00, 0x01, 0x00, 0x00,			    /* multi 0, super 1, zero */
    0x01, 0x00, 0x00, 0x00,			    /* nreqs */
    0x01, 0x00, 0x00, 0x00,			    /* nauth */
    0x07, 0x00, 0x00, 0x00,			    /* storage_len */
    0x30, 0x00, 0x00, 0x00,			    /* reqs_off 48 */
    0x60, 0x00, 0x00, 0x00,			    /* ids_off 96 */
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, /* slots: none */
    '/',  'a',	'd',  'd',  'i',  'p',	'1',  0x00, /* storage, pad */
    0x01, 0x00, 0x00, 0x00,			    /* type CREATE */
    0x00, 0x00, 0x00, 0x00,			    /* flags */
    0xff, 0xff, 0xff, 0xff,			    /* version -1 */
    0xff, 0xff, 0xff, 0xff,			    /* acl_count -1 */
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* ttl */
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, /* path */
    0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, /* data */
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, /* acl: null */
    0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, /* scheme "ip" */
    0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* id "1" */
};

Test(wire, write_golden)
{
	struct repl_write *w = write_value(), *d = NULL;
	uint8_t b[sizeof(write_golden)];
	struct tree_req req;
	struct tree_auth_id id;
	struct tree_auth auth;

	cr_assert_eq(repl_write_wire_size(w), sizeof(write_golden));
	memset(b, 0xee, sizeof(b));
	repl_write_encode(w, b);
	cr_assert_arr_eq(b, write_golden, sizeof(write_golden));
	free(w);

	cr_assert_eq(repl_write_decode(write_golden, sizeof(write_golden), &d), 0);
	cr_assert_eq(d->op, ZK_OP_CREATE);
	cr_assert_eq(d->multi, 0);
	cr_assert_eq(d->super, 1);
	cr_assert_eq(d->nreqs, 1);
	cr_assert_eq(d->nauth, 1);
	cr_assert_eq(d->slots.len, -1);
	repl_write_views(d, &req, &id, &auth);
	cr_assert_eq(req.type, ZK_OP_CREATE);
	cr_assert_eq(req.version, -1);
	cr_assert_eq(req.ttl, 0x0102030405060708);
	cr_assert(req.path.len == 2 && !memcmp(req.path.p, "/a", 2));
	cr_assert(req.data.len == 2 && !memcmp(req.data.p, "dd", 2));
	cr_assert(req.acl.raw == NULL && req.acl.raw_len == 0);
	cr_assert_eq(req.acl.count, -1);
	cr_assert_eq(auth.n, 1);
	cr_assert(auth.super);
	cr_assert(id.scheme.len == 2 && !memcmp(id.scheme.p, "ip", 2));
	cr_assert(id.id.len == 1 && id.id.p[0] == '1');
	/* And back to the same bytes. */
	repl_write_encode(d, b);
	cr_assert_arr_eq(b, write_golden, sizeof(write_golden));
	free(d);
	test_assert_no_leaks();
}

Test(wire, write_decode_refuses_truncated_and_inconsistent_input)
{
	uint8_t b[sizeof(write_golden) + 8];
	struct repl_write *d = NULL;

	for (size_t n = 0; n < sizeof(write_golden); n++) {
		/* Truncated, with the size field telling the truth or not. */
		memcpy(b, write_golden, n);
		cr_assert_eq(repl_write_decode(b, n, &d), -EBADMSG, "%zu bytes", n);
		if (n >= 4) {
			le_put32(b, (uint32_t)n);
			cr_assert_eq(repl_write_decode(b, n, &d), -EBADMSG,
				     "%zu bytes, size says so", n);
		}
	}
	memcpy(b, write_golden, sizeof(write_golden));
	memset(b + sizeof(write_golden), 0, 8);
	cr_assert_eq(repl_write_decode(b, sizeof(write_golden) + 8, &d), -EBADMSG, "trailing");

#define BAD(off, val, what)                                                                        \
	do {                                                                                       \
		memcpy(b, write_golden, sizeof(write_golden));                                     \
		le_put32(b + (off), (uint32_t)(val));                                              \
		cr_assert_eq(repl_write_decode(b, sizeof(write_golden), &d), -EBADMSG, what);      \
	} while (0)
	BAD(12, 1000000, "nreqs past the end");
	BAD(12, 0, "nreqs too small for the size");
	BAD(16, 0xffffffffu, "nauth past the end");
	BAD(20, 0xffffffffu, "storage_len past the end");
	BAD(20, 9, "storage_len moves reqs_off");
	BAD(24, 40, "reqs_off not where storage ends");
	BAD(28, 95, "ids_off not after the ops");
	BAD(36, 3, "slot table length not a power of two");
	BAD(36, 8, "slot table past storage");
	BAD(72, 6, "path past storage");
	BAD(76, -2, "path length below -1");
	BAD(96, 7, "scheme past storage");
#undef BAD
	cr_assert_null(d);
	test_assert_no_leaks();
}

/*
 * Every value of every byte: decoded or refused, never read outside (the
 * ASan build), and what decodes is a write that passes repl_write_check
 * and encodes back to the same bytes, but for the pad and reserved bytes
 * (written as zero, not read).
 */
Test(wire, write_decode_takes_every_single_byte_change_safely)
{
	uint8_t b[sizeof(write_golden)], back[sizeof(write_golden)];
	struct repl_write *d;
	int ok = 0;

	for (size_t i = 0; i < sizeof(b); i++) {
		for (int v = 0; v < 256; v++) {
			memcpy(b, write_golden, sizeof(b));
			b[i] = (uint8_t)v;
			d = NULL;
			int rc = repl_write_decode(b, sizeof(b), &d);

			cr_assert(rc == 0 || rc == -EBADMSG, "byte %zu = %d: %d", i, v, rc);
			if (rc)
				continue;
			ok++;
			cr_assert_eq(repl_write_check(d, d->size), 0);
			cr_assert_eq(repl_write_wire_size(d), sizeof(b));
			repl_write_encode(d, back);
			if (i == 10 || i == 11 || i == 47)
				b[i] = 0; /* reserved, pad */
			cr_assert_arr_eq(back, b, sizeof(b), "byte %zu = %d", i, v);
			free(d);
		}
	}
	cr_assert_gt(ok, 256 * 20, "values that are free (op, flags, ttl...) decode");
	test_assert_no_leaks();
}

/* In-process writes were forwarded as their raw x86-64 bytes: the same bytes. */
Test(wire, write_matches_the_raw_struct_of_earlier_releases)
{
#if X86_64_COMPAT
	struct repl_write *w = write_value(), *d = NULL;

	cr_assert_eq(w->size, sizeof(write_golden));
	cr_assert_arr_eq(w, write_golden, w->size);
	cr_assert_eq(repl_write_decode((const uint8_t *)w, w->size, &d), 0);
	cr_assert_arr_eq(d, w, w->size);
	free(w);
	free(d);
#else
	cr_skip_test("the raw struct was x86-64's");
#endif
}

/* ---- The meta file's header (snapdir.c) ---- */

static char tdir[256];

static void rm_tree(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static void meta_fini(void)
{
	if (tdir[0])
		rm_tree(tdir); /* also after a failed assertion */
}

Test(wire, meta_file_golden, .fini = meta_fini)
{
	static const uint8_t hdr_golden[24] = {
	    0x45, 0x4e, 0x53, 0x4d,			    /* "ENSM" */
	    0xa0, 0x00, 0x00, 0x00,			    /* len 160 */
	    0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* keep_from 0x103 */
	    0x20, 0xa0, 0x7f, 0x2a,			    /* crc32c */
	    0x00, 0x00, 0x00, 0x00,			    /* zero */
	};
	struct raft_snap_meta m = meta_value();
	uint8_t mb[ENS_META_SIZE], file[24 + ENS_META_SIZE + 1], z[24];
	struct snapdir *sd;
	char path[400];
	int64_t from;
	ssize_t n;
	int fd;

	snprintf(tdir, sizeof(tdir), "%s/cheetah-wire-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(tdir));
	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	ens_meta_encode(&m, mb);
	cr_assert_eq(snapdir_meta_put(sd, 0x300000009, 0x103, mb, sizeof(mb)), 0);

	snprintf(path, sizeof(path), "%s/%s/ensmeta.0000000300000009", tdir, SNAPDIR_SUBDIR);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s", path);
	n = read(fd, file, sizeof(file));
	close(fd);
	cr_assert_eq(n, 24 + ENS_META_SIZE);
	cr_assert_arr_eq(file, hdr_golden, sizeof(hdr_golden));
	cr_assert_arr_eq(file + 24, mb, ENS_META_SIZE);
	/* The CRC: of the header with its CRC field zero, then the payload. */
	memcpy(z, hdr_golden, sizeof(z));
	memset(z + 16, 0, 4);
	cr_assert_eq(crc32c(crc32c(0, z, sizeof(z)), mb, sizeof(mb)), le_get32(hdr_golden + 16));

	memset(mb, 0, sizeof(mb));
	cr_assert_eq(snapdir_meta_get(sd, 0x300000009, mb, sizeof(mb), &from), 0);
	cr_assert_eq(from, 0x103);
	cr_assert_arr_eq(mb, file + 24, ENS_META_SIZE);
	/* Truncated: refused. */
	cr_assert_eq(truncate(path, 24 + ENS_META_SIZE - 1), 0);
	cr_assert_eq(snapdir_meta_get(sd, 0x300000009, mb, sizeof(mb), &from), -EBADMSG);
	cr_assert_eq(truncate(path, 20), 0);
	cr_assert_eq(snapdir_meta_get(sd, 0x300000009, mb, sizeof(mb), &from), -EBADMSG);
	snapdir_close(sd);
}
