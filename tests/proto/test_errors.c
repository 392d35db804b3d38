// SPDX-License-Identifier: Apache-2.0
/*
 * Malformed input: every record truncated at every byte offset, lengths
 * past the end / negative / at the limit, vector counts too large,
 * unknown and refused opcodes, trailing bytes, old-client connects, and
 * the multi sequence's own rules.  Truncations of the captured frames are
 * covered by test_golden.c.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "tests/common/leakcheck.h"
#include "proto_test_util.h"

#define S(s) pt_str(s)

static const struct zk_stat st = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };

/* One encoded payload (no length prefix) of each record. */
struct sample {
	bool reply;
	int32_t op;
	uint8_t *p;
	size_t n;
};

static struct sample samples[80];
static size_t nsamples;

static void add(bool reply, int32_t op, struct jute_out *out)
{
	cr_assert_eq(out->err, 0);
	cr_assert_lt(nsamples, sizeof(samples) / sizeof(samples[0]));
	samples[nsamples].reply = reply;
	samples[nsamples].op = op;
	samples[nsamples].n = out->len - PROTO_LEN_SIZE;
	samples[nsamples].p = malloc(samples[nsamples].n);
	memcpy(samples[nsamples].p, out->buf + PROTO_LEN_SIZE, samples[nsamples].n);
	nsamples++;
	out->len = 0;
}

static void add_req(struct jute_out *out, struct proto_request *r)
{
	cr_assert_eq(proto_encode_request(out, r), 0);
	add(false, r->hdr.type, out);
}

static void add_reply(struct jute_out *out, int32_t op, const struct proto_response *b)
{
	struct proto_reply_hdr h = { 5, 6, ZK_OK };

	if (op == ZK_OP_NOTIFICATION)
		h.xid = ZK_XID_NOTIFICATION;
	cr_assert_eq(proto_encode_reply(out, &h, op, b), 0);
	add(true, op, out);
}

static void build_samples(void)
{
	static const struct jute_buf names[] = { { (const uint8_t *)"a", 1 }, { (const uint8_t *)"b", 1 } };
	static const struct proto_client_info who[] = { { { (const uint8_t *)"ip", 2 },
							  { (const uint8_t *)"h", 1 } } };
	struct proto_str_list two = { .items = names, .count = 2 };
	struct proto_multi_op ops[3];
	struct proto_multi_result res[4];
	struct proto_request r;
	struct proto_response b;
	struct jute_out out;

	jute_out_init(&out, 0);
	nsamples = 0;
#define REQ(op_) (memset(&r, 0, sizeof(r)), r.hdr.xid = 1, r.hdr.type = (op_))
	REQ(ZK_OP_CREATE);
	r.create = (struct proto_create_req){ S("/a"), S("d"), proto_acl_open_unsafe, 0, 0 };
	add_req(&out, &r);
	REQ(ZK_OP_CREATETTL);
	r.create = (struct proto_create_req){ S("/a"), S("d"), proto_acl_open_unsafe, 5, 9 };
	add_req(&out, &r);
	REQ(ZK_OP_DELETE);
	r.path_version = (struct proto_path_version_req){ S("/a"), 1 };
	add_req(&out, &r);
	REQ(ZK_OP_GETDATA);
	r.path_watch = (struct proto_path_watch_req){ S("/a"), true };
	add_req(&out, &r);
	REQ(ZK_OP_SETDATA);
	r.set_data = (struct proto_set_data_req){ S("/a"), S("x"), 1 };
	add_req(&out, &r);
	REQ(ZK_OP_GETACL);
	r.path.path = S("/a");
	add_req(&out, &r);
	REQ(ZK_OP_SETACL);
	r.set_acl = (struct proto_set_acl_req){ S("/a"), proto_acl_open_unsafe, 1 };
	add_req(&out, &r);
	REQ(ZK_OP_MULTI);
	memset(ops, 0, sizeof(ops));
	ops[0].type = ZK_OP_CREATE;
	ops[0].create = (struct proto_create_req){ S("/m"), S(""), proto_acl_open_unsafe, 0, 0 };
	ops[1].type = ZK_OP_CHECK;
	ops[1].path_version = (struct proto_path_version_req){ S("/m"), 0 };
	r.multi = (struct proto_multi_req){ .items = ops, .count = 2 };
	add_req(&out, &r);
	REQ(ZK_OP_RECONFIG);
	r.reconfig = (struct proto_reconfig_req){ S("j"), S("l"), S("n"), 3 };
	add_req(&out, &r);
	REQ(ZK_OP_REMOVEWATCHES);
	r.watches = (struct proto_watches_req){ S("/a"), 3 };
	add_req(&out, &r);
	REQ(ZK_OP_ADDWATCH);
	r.add_watch = (struct proto_add_watch_req){ S("/a"), 1 };
	add_req(&out, &r);
	REQ(ZK_OP_AUTH);
	r.auth = (struct proto_auth_req){ 0, S("digest"), S("u:p") };
	add_req(&out, &r);
	REQ(ZK_OP_SETWATCHES2);
	r.set_watches.relative_zxid = 7;
	r.set_watches.data = two;
	r.set_watches.persistent_recursive = two;
	add_req(&out, &r);
	REQ(ZK_OP_SASL);
	r.sasl_token = S("tok");
	add_req(&out, &r);
	REQ(ZK_OP_CREATESESSION);
	r.session_timeout = 4000;
	add_req(&out, &r);
	REQ(ZK_OP_PING);
	add_req(&out, &r);

	memset(&b, 0, sizeof(b));
	b.path = S("/a");
	add_reply(&out, ZK_OP_CREATE, &b);
	b.path_stat = (struct proto_path_stat){ S("/a"), st };
	add_reply(&out, ZK_OP_CREATE2, &b);
	b.stat = st;
	add_reply(&out, ZK_OP_EXISTS, &b);
	b.data_stat = (struct proto_data_stat){ S("x"), st };
	add_reply(&out, ZK_OP_GETDATA, &b);
	b.acl_stat = (struct proto_acl_stat){ proto_acl_open_unsafe, st };
	add_reply(&out, ZK_OP_GETACL, &b);
	b.children = two;
	add_reply(&out, ZK_OP_GETCHILDREN, &b);
	b.children_stat = (struct proto_children_stat){ two, st };
	add_reply(&out, ZK_OP_GETCHILDREN2, &b);
	b.total = 3;
	add_reply(&out, ZK_OP_GETALLCHILDRENNUMBER, &b);
	b.err = 0;
	add_reply(&out, ZK_OP_ADDWATCH, &b);
	b.client_info = (struct proto_client_info_list){ .items = who, .count = 1 };
	add_reply(&out, ZK_OP_WHOAMI, &b);
	b.sasl_token = S("t");
	add_reply(&out, ZK_OP_SASL, &b);
	memset(res, 0, sizeof(res));
	res[0].type = ZK_OP_CREATE2;
	res[0].path_stat = (struct proto_path_stat){ S("/m"), st };
	res[1].type = ZK_OP_GETCHILDREN;
	res[1].children = two;
	res[2].type = ZK_OP_GETDATA;
	res[2].data_stat = (struct proto_data_stat){ S("d"), st };
	res[3].type = ZK_OP_ERROR;
	res[3].err = res[3].error = ZK_NONODE;
	b.multi = (struct proto_multi_resp){ .items = res, .count = 4 };
	add_reply(&out, ZK_OP_MULTI, &b);
	b.event = (struct proto_watcher_event){ 1, 3, S("/a") };
	add_reply(&out, ZK_OP_NOTIFICATION, &b);
	add_reply(&out, ZK_OP_PING, NULL);
	jute_out_free(&out);
#undef REQ
}

static void free_samples(void)
{
	for (size_t i = 0; i < nsamples; i++)
		free(samples[i].p);
	nsamples = 0;
	test_fini_no_leaks();
}

TestSuite(proto_errors, .init = build_samples, .fini = free_samples);

Test(proto_errors, every_record_truncated_at_every_offset)
{
	for (size_t i = 0; i < nsamples; i++) {
		struct sample *s = &samples[i];

		for (size_t cut = 0; cut < s->n; cut++) {
			/* A copy of exactly cut bytes, so ASan sees any overread. */
			uint8_t *p = malloc(cut ? cut : 1);
			int rc;

			memcpy(p, s->p, cut);
			if (s->reply) {
				struct proto_reply d;
				rc = proto_decode_reply(p, cut, s->op, &d);
			} else {
				struct proto_request d;
				rc = proto_decode_request(p, cut, &d);
			}
			cr_assert_eq(rc, -EBADMSG, "%s %s cut at %zu of %zu: %d",
				     s->reply ? "reply to" : "request", proto_op_name(s->op), cut, s->n, rc);
			free(p);
		}
	}
}

Test(proto_errors, every_record_decodes_whole_with_trailing_bytes_reported)
{
	for (size_t i = 0; i < nsamples; i++) {
		struct sample *s = &samples[i];
		uint8_t *p = malloc(s->n + 3);

		memcpy(p, s->p, s->n);
		memcpy(p + s->n, "xyz", 3);
		if (s->reply) {
			struct proto_reply d;
			cr_assert_eq(proto_decode_reply(p, s->n, s->op, &d), 0);
			cr_assert_eq(d.trailing, 0);
			cr_assert_eq(proto_decode_reply(p, s->n + 3, s->op, &d), 0);
			cr_assert_eq(d.trailing, 3, "trailing bytes ignored as ClientCnxn does");
		} else {
			struct proto_request d;
			cr_assert_eq(proto_decode_request(p, s->n, &d), 0, "%s", proto_op_name(s->op));
			cr_assert_eq(d.trailing, 0);
			cr_assert_eq(proto_decode_request(p, s->n + 3, &d), 0);
			cr_assert_eq(d.trailing, 3, "trailing bytes ignored as byteBuffer2Record does");
		}
		free(p);
	}
}

Test(proto_errors, connect_truncation_and_old_clients)
{
	static const uint8_t req[] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0xa0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb, 1,
	};
	static const uint8_t resp[] = {
		0, 0, 0, 0, 0, 0, 0x0f, 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0xaa, 0xbb, 0,
	};
	struct proto_connect_req cr;
	struct proto_connect_resp cp;

	for (size_t cut = 0; cut < sizeof(req) - 1; cut++)
		cr_assert_eq(proto_decode_connect_req(req, cut, &cr), -EBADMSG, "cut %zu", cut);
	cr_assert_eq(proto_decode_connect_req(req, sizeof(req) - 1, &cr), 0);
	cr_assert_not(cr.has_read_only);
	cr_assert_eq(proto_decode_connect_req(req, sizeof(req), &cr), 0);
	cr_assert(cr.has_read_only && cr.read_only);
	for (size_t cut = 0; cut < sizeof(resp) - 1; cut++)
		cr_assert_eq(proto_decode_connect_resp(resp, cut, &cp), -EBADMSG, "cut %zu", cut);
	cr_assert_eq(proto_decode_connect_resp(resp, sizeof(resp) - 1, &cp), 0);
	cr_assert_not(cp.has_read_only);
	cr_assert_eq(proto_decode_connect_resp(resp, sizeof(resp), &cp), 0);
	cr_assert(cp.has_read_only && !cp.read_only);
}

Test(proto_errors, string_lengths)
{
	/* getData: xid 1, type 4, path length L, "/a", watch */
	uint8_t b[] = { 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, '/', 'a', 1 };
	struct proto_request r;

	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), 0);
	b[11] = 3; /* past the watch byte and the end */
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	b[11] = 4;
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	memset(b + 8, 0xff, 4); /* -1: null path, then "/a" is read as the watch... */
	cr_assert_eq(proto_decode_request(b, 13, &r), 0);
	cr_assert_eq(r.path_watch.path.len, -1);
	cr_assert_null(r.path_watch.path.p);
	b[11] = 0xfe; /* -2 */
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	b[8] = 0x80, b[9] = 0, b[10] = 0, b[11] = 0; /* INT32_MIN */
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	b[8] = 0x7f, b[9] = 0xff, b[10] = 0xff, b[11] = 0xff; /* INT32_MAX */
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
}

Test(proto_errors, a_field_of_exactly_max_buffer_fits)
{
	/* setData with 0xfffff - 22 bytes of data fills a maximal frame. */
	size_t n = ZK_DEFAULT_MAX_BUFFER;
	size_t dlen = n - 8 - 6 - 4 - 4;
	uint8_t *b = calloc(1, n);
	struct proto_request r;

	b[7] = ZK_OP_SETDATA;
	b[11] = 2, b[12] = '/', b[13] = 'a';
	jute_put_be32(b + 14, (uint32_t)dlen);
	cr_assert_eq(proto_decode_request(b, n, &r), 0);
	cr_assert_eq(r.set_data.data.len, (int32_t)dlen);
	jute_put_be32(b + 14, (uint32_t)dlen + 1);
	cr_assert_eq(proto_decode_request(b, n, &r), -EBADMSG);
	free(b);
}

Test(proto_errors, vector_counts)
{
	/* getChildren reply: children count then elements. */
	uint8_t b[] = { 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0, 1, 0, 0, 0, 1, 'k' };
	struct proto_reply r;

	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_GETCHILDREN, &r), 0);
	b[19] = 2; /* one element short */
	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_GETCHILDREN, &r), -EBADMSG);
	b[16] = 0x7f, b[17] = 0xff, b[18] = 0xff, b[19] = 0xff;
	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_GETCHILDREN, &r), -EBADMSG);
	memset(b + 16, 0xff, 4); /* -1: null vector, then trailing bytes */
	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_GETCHILDREN, &r), 0);
	cr_assert_eq(r.body.children.count, -1);
	cr_assert_eq(r.trailing, 5);
	b[19] = 0xfe; /* -2 */
	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_GETCHILDREN, &r), -EBADMSG);
}

Test(proto_errors, acl_counts_and_null_entries)
{
	/* setACL: path "/", acl, version */
	uint8_t b[] = { 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1, '/',
			0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 'w', 0, 0, 0, 1, 'a',
			0, 0, 0, 0 };
	struct proto_request r;

	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), 0);
	cr_assert_eq(r.set_acl.acl.count, 1);
	b[16] = 2;
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	b[13] = 0x10, b[16] = 0; /* 0x10000000 entries */
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	b[13] = 0, b[16] = 1;
	/* A null scheme in place of "w": the byte after it makes the id's
	 * length absurd, so the entry overruns the frame. */
	memset(b + 21, 0xff, 4);
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);

	/* Null strings themselves decode: kazoo sends auth:'' as auth:null
	 * and ZooKeeper leaves the verdict to fixupACL. */
	uint8_t n[] = { 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1, '/',
			0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 4, 'a', 'u', 't', 'h',
			0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
	cr_assert_eq(proto_decode_request(n, sizeof(n), &r), 0);
	cr_assert_eq(r.set_acl.acl.count, 1);
}

Test(proto_errors, unknown_and_refused_opcodes)
{
	const int32_t bad[] = { 0, -1, 10, 13, 23, 99, 108, -9, -12, INT32_MAX, INT32_MIN };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t b[12] = { 0, 0, 0, 9 };
		struct proto_request r;
		struct proto_reply rep;

		jute_put_be32(b + 4, (uint32_t)bad[i]);
		cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EOPNOTSUPP, "op %d", bad[i]);
		cr_assert_eq(r.hdr.xid, 9, "header decoded for the UNIMPLEMENTED reply");
		cr_assert_eq(r.hdr.type, bad[i]);
		cr_assert_eq(r.trailing, 4);
		if (bad[i] != ZK_OP_CHECK && bad[i] != ZK_OP_NOTIFICATION) {
			uint8_t h[16] = { 0, 0, 0, 9 };
			cr_assert_eq(proto_decode_reply(h, sizeof(h), bad[i], &rep), -EOPNOTSUPP);
			cr_assert_eq(rep.hdr.xid, 9);
		}
	}
	/* A short header is malformed, not unknown. */
	{
		uint8_t b[7] = { 0 };
		struct proto_request r;
		cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	}
}

Test(proto_errors, multi_sequence_rules)
{
	struct proto_request r;
	/* multi: one delete op, then the done marker */
	uint8_t ok[] = {
		0, 0, 0, 1, 0, 0, 0, 14,
		0, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, '/', 0, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,
	};
	uint8_t b[sizeof(ok)];

	cr_assert_eq(proto_decode_request(ok, sizeof(ok), &r), 0);
	cr_assert_eq(r.multi.count, 1);

	/* no done marker */
	cr_assert_eq(proto_decode_request(ok, sizeof(ok) - 9, &r), -EBADMSG);

	/* any nonzero done byte ends it, whatever type/err say (readBool) */
	memcpy(b, ok, sizeof(b));
	b[30] = 7;
	memset(b + 26, 0, 4);
	memset(b + 31, 0, 4);
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), 0);
	cr_assert_eq(r.multi.count, 1);

	/* an op type without a record: "Invalid type of op" */
	memcpy(b, ok, sizeof(b));
	b[11] = ZK_OP_EXISTS;
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	b[11] = ZK_OP_MULTI;
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
	jute_put_be32(b + 8, (uint32_t)ZK_OP_ERROR);
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
}

Test(proto_errors, multi_mixing_reads_and_writes)
{
	uint8_t b[] = {
		0, 0, 0, 1, 0, 0, 0, 22,
		0, 0, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, '/', 0,   /* getData */
		0, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, '/', 0, 0, 0, 0, /* delete */
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,
	};
	struct proto_request r;

	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG,
		     "MultiOperationRecord: Mixing different kind of ops");
	b[7] = ZK_OP_MULTI; /* the opcode (multi vs multiRead) is the server's business */
	cr_assert_eq(proto_decode_request(b, sizeof(b), &r), -EBADMSG);
}

Test(proto_errors, multi_result_types)
{
	uint8_t b[] = {
		0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 2, 0, 0, 0, 0, 0,                        /* delete result */
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,
	};
	struct proto_reply r;

	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_MULTI, &r), 0);
	cr_assert_eq(r.body.multi.count, 1);
	b[19] = ZK_OP_EXISTS;
	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_MULTI, &r), -EBADMSG);
	b[19] = ZK_OP_CREATECONTAINER; /* results are create or create2, never createContainer */
	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_MULTI, &r), -EBADMSG);
}

Test(proto_errors, error_reply_has_no_body_even_if_bytes_follow)
{
	uint8_t b[16 + 72] = { 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0x9b };
	struct proto_reply r;

	cr_assert_eq(proto_decode_reply(b, sizeof(b), ZK_OP_GETDATA, &r), 0);
	cr_assert_not(r.has_body);
	cr_assert_eq(r.hdr.err, ZK_NONODE);
	cr_assert_eq(r.trailing, 72);
}
