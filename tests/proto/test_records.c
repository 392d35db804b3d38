// SPDX-License-Identifier: Apache-2.0
/*
 * Every record of the client protocol against bytes written out by hand
 * from zookeeper.jute: the encoder must produce exactly these bytes, the
 * decoder must give back the record, and the decoded record (raw views)
 * must re-encode to the same bytes.  Field order and widths come from
 * zookeeper.jute (int 4, long 8, boolean 1, buffer/ustring int length +
 * bytes, vector int count + elements), headers from RequestHeader /
 * ReplyHeader, multi framing from MultiOperationRecord / MultiResponse.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "tests/common/leakcheck.h"
#include "proto_test_util.h"

/* ---- fixtures: a Stat and ACL lists, as values and as bytes ---- */

static const struct zk_stat stat = {
	.czxid = 0x1122334455667788LL,
	.mzxid = 2,
	.ctime = 0x0000018f00000000LL,
	.mtime = 0x0000018f00000001LL,
	.version = 5,
	.cversion = -1,
	.aversion = 0,
	.ephemeral_owner = 0x0100001cd8900000LL,
	.data_length = 3,
	.num_children = 0,
	.pzxid = 9,
};

#define STAT_BYTES                                                         \
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* czxid */         \
	0, 0, 0, 0, 0, 0, 0, 2,                          /* mzxid */         \
	0, 0, 0x01, 0x8f, 0, 0, 0, 0,                    /* ctime */         \
	0, 0, 0x01, 0x8f, 0, 0, 0, 1,                    /* mtime */         \
	0, 0, 0, 5,                                      /* version */       \
	0xff, 0xff, 0xff, 0xff,                          /* cversion -1 */   \
	0, 0, 0, 0,                                      /* aversion */      \
	0x01, 0x00, 0x00, 0x1c, 0xd8, 0x90, 0x00, 0x00,  /* ephemeralOwner */\
	0, 0, 0, 3,                                      /* dataLength */    \
	0, 0, 0, 0,                                      /* numChildren */   \
	0, 0, 0, 0, 0, 0, 0, 9                           /* pzxid */

/* vector<ACL> [{31, world, anyone}] */
#define OPEN_ACL_BYTES                                   \
	0, 0, 0, 1, 0, 0, 0, 0x1f,                       \
	0, 0, 0, 5, 'w', 'o', 'r', 'l', 'd',             \
	0, 0, 0, 6, 'a', 'n', 'y', 'o', 'n', 'e'

/* vector<ACL> [{1, digest, "u:h"}, {5, ip, "10.0.0.1"}] */
#define TWO_ACL_BYTES                                                    \
	0, 0, 0, 2,                                                      \
	0, 0, 0, 1, 0, 0, 0, 6, 'd', 'i', 'g', 'e', 's', 't',            \
	0, 0, 0, 3, 'u', ':', 'h',                                       \
	0, 0, 0, 5, 0, 0, 0, 2, 'i', 'p',                                \
	0, 0, 0, 8, '1', '0', '.', '0', '.', '0', '.', '1'

static const uint8_t two_acl_raw[] = { TWO_ACL_BYTES };
static const struct jute_acl_list two_acl = { two_acl_raw, sizeof(two_acl_raw), 2 };

#define S(s) pt_str(s)
static const struct jute_buf null_buf = { NULL, -1 };

/* ---- checkers ---- */

static void check_bytes(const struct jute_out *out, const uint8_t *payload, size_t n)
{
	cr_assert_eq(out->err, 0);
	cr_assert_eq(out->len, n + PROTO_LEN_SIZE, "frame is %zu bytes, expected %zu", out->len,
		     n + PROTO_LEN_SIZE);
	cr_assert_eq(jute_be32(out->buf), n, "length prefix");
	cr_assert_arr_eq(out->buf + PROTO_LEN_SIZE, payload, n, "payload bytes differ");
}

static void expect_request(const struct proto_request *r, const uint8_t *payload, size_t n)
{
	struct jute_out out;
	struct proto_request d;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_request(&out, r), 0);
	check_bytes(&out, payload, n);
	cr_assert_eq(proto_decode_request(payload, n, &d), 0, "decoding %s", proto_op_name(r->hdr.type));
	cr_assert(pt_request_eq(r, &d), "decoded %s differs", proto_op_name(r->hdr.type));
	cr_assert_eq(d.trailing, 0);
	/* The decoded form (raw views) re-encodes identically. */
	out.len = 0;
	cr_assert_eq(proto_encode_request(&out, &d), 0);
	check_bytes(&out, payload, n);
	jute_out_free(&out);
	test_assert_no_leaks();
}

static void expect_reply(int32_t op, const struct proto_reply_hdr *h, const struct proto_response *body,
			 const uint8_t *payload, size_t n)
{
	struct jute_out out;
	struct proto_reply d;

	jute_out_init(&out, 16);
	cr_assert_eq(proto_encode_reply(&out, h, op, body), 0);
	check_bytes(&out, payload, n);
	cr_assert_eq(proto_decode_reply(payload, n, op, &d), 0, "decoding reply to %s", proto_op_name(op));
	cr_assert_eq(d.hdr.xid, h->xid);
	cr_assert_eq(d.hdr.zxid, h->zxid);
	cr_assert_eq(d.hdr.err, h->err);
	cr_assert_eq(d.has_body, body != NULL);
	cr_assert_eq(d.trailing, 0);
	if (body)
		cr_assert(pt_response_eq(d.op, body, &d.body), "decoded reply to %s differs",
			  proto_op_name(op));
	out.len = 0;
	cr_assert_eq(proto_encode_reply(&out, &d.hdr, d.op, d.has_body ? &d.body : NULL), 0);
	check_bytes(&out, payload, n);
	jute_out_free(&out);
}

static struct proto_request req(int32_t xid, int32_t type)
{
	struct proto_request r;

	memset(&r, 0, sizeof(r));
	r.hdr.xid = xid;
	r.hdr.type = type;
	return r;
}

/* ---- the connect handshake ---- */

Test(proto_connect, request_with_read_only)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 0,                                     /* protocolVersion */
		0, 0, 0, 0, 0, 0, 0x01, 0x23,                   /* lastZxidSeen */
		0, 0, 0x75, 0x30,                               /* timeOut 30000 */
		0x01, 0x00, 0x00, 0x1c, 0xd8, 0x90, 0x00, 0x01, /* sessionId */
		0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef,             /* passwd */
		1,                                              /* readOnly */
	};
	struct proto_connect_req r = { 0, 0x123, 30000, 0x0100001cd8900001LL,
				       { (const uint8_t *)"\xde\xad\xbe\xef", 4 }, true, true };
	struct proto_connect_req d;
	struct jute_out out;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_connect_req(&out, &r), 0);
	check_bytes(&out, bytes, sizeof(bytes));
	cr_assert_eq(proto_decode_connect_req(bytes, sizeof(bytes), &d), 0);
	cr_assert(pt_connect_req_eq(&r, &d));
	jute_out_free(&out);
}

Test(proto_connect, old_client_request_without_read_only)
{
	/* A 3.3-era client: no readOnly byte; null passwd. */
	static const uint8_t bytes[] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0xa0,
		0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
	};
	struct proto_connect_req r = { 0, 0, 4000, 0, { NULL, -1 }, false, false };
	struct proto_connect_req d;
	struct jute_out out;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_connect_req(&out, &r), 0);
	check_bytes(&out, bytes, sizeof(bytes));
	cr_assert_eq(proto_decode_connect_req(bytes, sizeof(bytes), &d), 0);
	cr_assert_not(d.has_read_only, "old client");
	cr_assert_not(d.read_only);
	cr_assert(pt_connect_req_eq(&r, &d));
	jute_out_free(&out);
}

Test(proto_connect, response_in_kind)
{
	static const uint8_t with_ro[] = {
		0, 0, 0, 0, 0, 0, 0x0f, 0xa0,
		0x01, 0x00, 0x00, 0x1c, 0xd8, 0x90, 0x00, 0x01,
		0, 0, 0, 2, 0xca, 0xfe, 0,
	};
	struct proto_connect_resp r = { 0, 4000, 0x0100001cd8900001LL,
					{ (const uint8_t *)"\xca\xfe", 2 }, false, true };
	struct proto_connect_resp d;
	struct jute_out out;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_connect_resp(&out, &r), 0);
	check_bytes(&out, with_ro, sizeof(with_ro));
	cr_assert_eq(proto_decode_connect_resp(with_ro, sizeof(with_ro), &d), 0);
	cr_assert(pt_connect_resp_eq(&r, &d));

	/* An old client gets no readOnly byte back (finishSessionInit). */
	r.has_read_only = false;
	out.len = 0;
	cr_assert_eq(proto_encode_connect_resp(&out, &r), 0);
	check_bytes(&out, with_ro, sizeof(with_ro) - 1);
	cr_assert_eq(proto_decode_connect_resp(with_ro, sizeof(with_ro) - 1, &d), 0);
	cr_assert_not(d.has_read_only);
	jute_out_free(&out);
}

/* ---- requests ---- */

Test(proto_request, create)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 1, 0, 0, 0, 1,       /* xid 1, create */
		0, 0, 0, 2, '/', 'a',         /* path */
		0, 0, 0, 2, 'x', 'y',         /* data */
		OPEN_ACL_BYTES,               /* acl */
		0, 0, 0, 3,                   /* flags EPHEMERAL_SEQUENTIAL */
	};
	struct proto_request r = req(1, ZK_OP_CREATE);

	r.create = (struct proto_create_req){ S("/a"), S("xy"), proto_acl_open_unsafe,
					      ZK_CREATE_EPHEMERAL_SEQUENTIAL, 0 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, create2_null_data_two_acls)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 2, 0, 0, 0, 15,
		0, 0, 0, 2, '/', 'b',
		0xff, 0xff, 0xff, 0xff,       /* null data */
		TWO_ACL_BYTES,
		0, 0, 0, 0,
	};
	struct proto_request r = req(2, ZK_OP_CREATE2);

	r.create = (struct proto_create_req){ S("/b"), null_buf, two_acl, 0, 0 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, create_container)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 3, 0, 0, 0, 19,
		0, 0, 0, 2, '/', 'c',
		0, 0, 0, 0,                   /* empty data */
		OPEN_ACL_BYTES,
		0, 0, 0, 4,                   /* CONTAINER */
	};
	struct proto_request r = req(3, ZK_OP_CREATECONTAINER);

	r.create = (struct proto_create_req){ S("/c"), S(""), proto_acl_open_unsafe,
					      ZK_CREATE_CONTAINER, 0 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, create_ttl)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 4, 0, 0, 0, 21,
		0, 0, 0, 2, '/', 't',
		0, 0, 0, 1, 'v',
		OPEN_ACL_BYTES,
		0, 0, 0, 5,                   /* PERSISTENT_WITH_TTL */
		0, 0, 0, 0, 0, 0, 0xea, 0x60, /* ttl 60000 */
	};
	struct proto_request r = req(4, ZK_OP_CREATETTL);

	r.create = (struct proto_create_req){ S("/t"), S("v"), proto_acl_open_unsafe,
					      ZK_CREATE_PERSISTENT_WITH_TTL, 60000 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, delete)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 2, '/', 'a', 0xff, 0xff, 0xff, 0xff,
	};
	struct proto_request r = req(5, ZK_OP_DELETE);

	r.path_version = (struct proto_path_version_req){ S("/a"), -1 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, exists_getdata_getchildren_getchildren2)
{
	static const int32_t ops[] = { ZK_OP_EXISTS, ZK_OP_GETDATA, ZK_OP_GETCHILDREN,
				       ZK_OP_GETCHILDREN2 };

	for (size_t i = 0; i < 4; i++) {
		uint8_t bytes[] = {
			0, 0, 0, 6, 0, 0, 0, (uint8_t)ops[i],
			0, 0, 0, 3, '/', 'z', 'k',
			(uint8_t)(i & 1),     /* watch */
		};
		struct proto_request r = req(6, ops[i]);

		r.path_watch = (struct proto_path_watch_req){ S("/zk"), i & 1 };
		expect_request(&r, bytes, sizeof(bytes));
	}
}

Test(proto_request, set_data)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 7, 0, 0, 0, 5,
		0, 0, 0, 2, '/', 'a',
		0, 0, 0, 3, 'n', 'e', 'w',
		0, 0, 0, 4,
	};
	struct proto_request r = req(7, ZK_OP_SETDATA);

	r.set_data = (struct proto_set_data_req){ S("/a"), S("new"), 4 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, path_only_records)
{
	/* GetACLRequest, SyncRequest, GetAllChildrenNumberRequest, GetEphemeralsRequest */
	static const int32_t ops[] = { ZK_OP_GETACL, ZK_OP_SYNC, ZK_OP_GETALLCHILDRENNUMBER,
				       ZK_OP_GETEPHEMERALS };

	for (size_t i = 0; i < 4; i++) {
		uint8_t bytes[] = {
			0, 0, 0, 8, 0, 0, 0, (uint8_t)ops[i],
			0, 0, 0, 2, '/', 'q',
		};
		struct proto_request r = req(8, ops[i]);

		r.path.path = S("/q");
		expect_request(&r, bytes, sizeof(bytes));
	}
}

Test(proto_request, set_acl)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 9, 0, 0, 0, 7,
		0, 0, 0, 2, '/', 's',
		TWO_ACL_BYTES,
		0, 0, 0, 1,
	};
	struct proto_request r = req(9, ZK_OP_SETACL);

	r.set_acl = (struct proto_set_acl_req){ S("/s"), two_acl, 1 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, header_only)
{
	static const uint8_t ping[] = { 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11 };
	static const uint8_t close[] = { 0, 0, 0, 10, 0xff, 0xff, 0xff, 0xf5 };
	static const uint8_t whoami[] = { 0, 0, 0, 11, 0, 0, 0, 107 };
	struct proto_request r = req(ZK_XID_PING, ZK_OP_PING);

	expect_request(&r, ping, sizeof(ping));
	r = req(10, ZK_OP_CLOSESESSION);
	expect_request(&r, close, sizeof(close));
	r = req(11, ZK_OP_WHOAMI);
	expect_request(&r, whoami, sizeof(whoami));
}

Test(proto_request, multi_write_ops)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 12, 0, 0, 0, 14,
		/* MultiHeader {create, false, -1} + CreateRequest */
		0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff,
		0, 0, 0, 2, '/', 'm', 0, 0, 0, 1, '1', OPEN_ACL_BYTES, 0, 0, 0, 0,
		/* createTTL + CreateTTLRequest */
		0, 0, 0, 21, 0, 0xff, 0xff, 0xff, 0xff,
		0, 0, 0, 2, '/', 't', 0xff, 0xff, 0xff, 0xff, OPEN_ACL_BYTES, 0, 0, 0, 6,
		0, 0, 0, 0, 0, 0, 0x03, 0xe8,
		/* setData + SetDataRequest */
		0, 0, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,
		0, 0, 0, 2, '/', 'a', 0, 0, 0, 1, 'v', 0xff, 0xff, 0xff, 0xff,
		/* check + CheckVersionRequest */
		0, 0, 0, 13, 0, 0xff, 0xff, 0xff, 0xff,
		0, 0, 0, 2, '/', 'a', 0, 0, 0, 2,
		/* delete + DeleteRequest */
		0, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff,
		0, 0, 0, 2, '/', 'd', 0, 0, 0, 0,
		/* done */
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,
	};
	struct proto_multi_op ops[5];
	struct proto_request r = req(12, ZK_OP_MULTI);

	memset(ops, 0, sizeof(ops));
	ops[0].type = ZK_OP_CREATE;
	ops[0].create = (struct proto_create_req){ S("/m"), S("1"), proto_acl_open_unsafe, 0, 0 };
	ops[1].type = ZK_OP_CREATETTL;
	ops[1].create = (struct proto_create_req){ S("/t"), null_buf, proto_acl_open_unsafe,
						   ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL, 1000 };
	ops[2].type = ZK_OP_SETDATA;
	ops[2].set_data = (struct proto_set_data_req){ S("/a"), S("v"), -1 };
	ops[3].type = ZK_OP_CHECK;
	ops[3].path_version = (struct proto_path_version_req){ S("/a"), 2 };
	ops[4].type = ZK_OP_DELETE;
	ops[4].path_version = (struct proto_path_version_req){ S("/d"), 0 };
	r.multi = (struct proto_multi_req){ .items = ops, .count = 5 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, multi_read_and_empty_multi)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 13, 0, 0, 0, 22,
		0, 0, 0, 8, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, '/', 0,
		0, 0, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, '/', 'a', 0,
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,
	};
	static const uint8_t empty[] = {
		0, 0, 0, 14, 0, 0, 0, 14,
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,
	};
	struct proto_multi_op ops[2];
	struct proto_request r = req(13, ZK_OP_MULTIREAD);

	memset(ops, 0, sizeof(ops));
	ops[0].type = ZK_OP_GETCHILDREN;
	ops[0].path_watch.path = S("/");
	ops[1].type = ZK_OP_GETDATA;
	ops[1].path_watch.path = S("/a");
	r.multi = (struct proto_multi_req){ .items = ops, .count = 2 };
	expect_request(&r, bytes, sizeof(bytes));

	r = req(14, ZK_OP_MULTI);
	expect_request(&r, empty, sizeof(empty));
}

Test(proto_request, reconfig)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 15, 0, 0, 0, 16,
		0, 0, 0, 5, 's', '.', '1', '=', 'h',   /* joiningServers */
		0xff, 0xff, 0xff, 0xff,                /* leavingServers null */
		0, 0, 0, 0,                            /* newMembers "" */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* curConfigId -1 */
	};
	struct proto_request r = req(15, ZK_OP_RECONFIG);

	r.reconfig = (struct proto_reconfig_req){ S("s.1=h"), null_buf, S(""), -1 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, check_and_remove_watches)
{
	static const uint8_t check[] = {
		0, 0, 0, 16, 0, 0, 0, 17, 0, 0, 0, 2, '/', 'w', 0, 0, 0, 2,
	};
	static const uint8_t remove[] = {
		0, 0, 0, 17, 0, 0, 0, 18, 0, 0, 0, 2, '/', 'w', 0, 0, 0, 3,
	};
	struct proto_request r = req(16, ZK_OP_CHECKWATCHES);

	r.watches = (struct proto_watches_req){ S("/w"), ZK_WATCHER_DATA };
	expect_request(&r, check, sizeof(check));
	r = req(17, ZK_OP_REMOVEWATCHES);
	r.watches = (struct proto_watches_req){ S("/w"), ZK_WATCHER_ANY };
	expect_request(&r, remove, sizeof(remove));
}

Test(proto_request, delete_container_raw_path)
{
	/* ContainerManager's request: the path as raw bytes, no length. */
	static const uint8_t bytes[] = { 0, 0, 0, 18, 0, 0, 0, 20, '/', 'c', 'o', 'n' };
	struct proto_request r = req(18, ZK_OP_DELETECONTAINER);

	r.path.path = S("/con");
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, auth)
{
	static const uint8_t bytes[] = {
		0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 100,
		0, 0, 0, 0,                                   /* type */
		0, 0, 0, 6, 'd', 'i', 'g', 'e', 's', 't',     /* scheme */
		0, 0, 0, 3, 'u', ':', 'p',                    /* auth */
	};
	struct proto_request r = req(ZK_XID_AUTH, ZK_OP_AUTH);

	r.auth = (struct proto_auth_req){ 0, S("digest"), S("u:p") };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, set_watches)
{
	static const uint8_t bytes[] = {
		0xff, 0xff, 0xff, 0xf8, 0, 0, 0, 101,
		0, 0, 0, 0, 0, 0, 0, 0x2d,                    /* relativeZxid */
		0, 0, 0, 2, 0, 0, 0, 2, '/', 'a', 0, 0, 0, 2, '/', 'b', /* data */
		0, 0, 0, 0,                                   /* exist */
		0, 0, 0, 1, 0, 0, 0, 1, '/',                  /* child */
	};
	static const struct jute_buf data[] = { { (const uint8_t *)"/a", 2 }, { (const uint8_t *)"/b", 2 } };
	static const struct jute_buf child[] = { { (const uint8_t *)"/", 1 } };
	struct proto_request r = req(ZK_XID_SET_WATCHES, ZK_OP_SETWATCHES);

	r.set_watches.relative_zxid = 0x2d;
	r.set_watches.data = (struct proto_str_list){ .items = data, .count = 2 };
	r.set_watches.exist = (struct proto_str_list){ .count = 0 };
	r.set_watches.child = (struct proto_str_list){ .items = child, .count = 1 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, set_watches2)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 40, 0, 0, 0, 105,
		0, 0, 0, 0, 0, 0, 0, 0x2e,
		0, 0, 0, 0,                                   /* data */
		0, 0, 0, 1, 0, 0, 0, 2, '/', 'x',             /* exist */
		0, 0, 0, 0,                                   /* child */
		0, 0, 0, 1, 0, 0, 0, 2, '/', 'p',             /* persistent */
		0, 0, 0, 1, 0, 0, 0, 1, '/',                  /* persistentRecursive */
	};
	static const struct jute_buf x[] = { { (const uint8_t *)"/x", 2 } };
	static const struct jute_buf p[] = { { (const uint8_t *)"/p", 2 } };
	static const struct jute_buf root[] = { { (const uint8_t *)"/", 1 } };
	struct proto_request r = req(40, ZK_OP_SETWATCHES2);

	r.set_watches.relative_zxid = 0x2e;
	r.set_watches.exist = (struct proto_str_list){ .items = x, .count = 1 };
	r.set_watches.persistent = (struct proto_str_list){ .items = p, .count = 1 };
	r.set_watches.persistent_recursive = (struct proto_str_list){ .items = root, .count = 1 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, sasl)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 1, 0, 0, 0, 102, 0, 0, 0, 3, 0x01, 0x02, 0x03,
	};
	struct proto_request r = req(1, ZK_OP_SASL);

	r.sasl_token = (struct jute_buf){ (const uint8_t *)"\x01\x02\x03", 3 };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, add_watch)
{
	static const uint8_t bytes[] = {
		0, 0, 0, 38, 0, 0, 0, 106, 0, 0, 0, 2, '/', 'p', 0, 0, 0, 1,
	};
	struct proto_request r = req(38, ZK_OP_ADDWATCH);

	r.add_watch = (struct proto_add_watch_req){ S("/p"), ZK_ADD_WATCH_PERSISTENT_RECURSIVE };
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, create_session_raw_timeout)
{
	static const uint8_t bytes[] = { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf6, 0, 0, 0x75, 0x30 };
	struct proto_request r = req(0, ZK_OP_CREATESESSION);

	r.session_timeout = 30000;
	expect_request(&r, bytes, sizeof(bytes));
}

Test(proto_request, acl_entries_build_the_same_bytes)
{
	static const uint8_t two[] = { TWO_ACL_BYTES };
	const struct jute_acl acls[] = {
		{ ZK_PERM_READ, S("digest"), S("u:h") },
		{ ZK_PERM_READ | ZK_PERM_CREATE, S("ip"), S("10.0.0.1") },
	};
	const uint8_t open[] = { OPEN_ACL_BYTES };
	struct jute_out out;

	jute_out_init(&out, 0);
	proto_put_acl_entries(&out, acls, 2);
	cr_assert_eq(out.len, sizeof(two));
	cr_assert_arr_eq(out.buf, two, sizeof(two));
	cr_assert_eq(proto_acl_open_unsafe.raw_len, sizeof(open));
	cr_assert_arr_eq(proto_acl_open_unsafe.raw, open, sizeof(open));
	jute_out_free(&out);
}

/* ---- replies ---- */

static const struct proto_reply_hdr ok_hdr = { 42, 0x100000002LL, ZK_OK };
#define OK_HDR_BYTES 0, 0, 0, 42, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0

Test(proto_reply, create_and_sync_path)
{
	static const uint8_t bytes[] = { OK_HDR_BYTES, 0, 0, 0, 5, '/', 'a', '-', '0', '1' };
	struct proto_response b = { .path = S("/a-01") };

	expect_reply(ZK_OP_CREATE, &ok_hdr, &b, bytes, sizeof(bytes));
	expect_reply(ZK_OP_SYNC, &ok_hdr, &b, bytes, sizeof(bytes));
}

Test(proto_reply, create2_container_ttl)
{
	static const uint8_t bytes[] = { OK_HDR_BYTES, 0, 0, 0, 2, '/', 'c', STAT_BYTES };
	struct proto_response b = { .path_stat = { S("/c"), stat } };

	expect_reply(ZK_OP_CREATE2, &ok_hdr, &b, bytes, sizeof(bytes));
	expect_reply(ZK_OP_CREATECONTAINER, &ok_hdr, &b, bytes, sizeof(bytes));
	expect_reply(ZK_OP_CREATETTL, &ok_hdr, &b, bytes, sizeof(bytes));
}

Test(proto_reply, stat_only)
{
	static const uint8_t bytes[] = { OK_HDR_BYTES, STAT_BYTES };
	struct proto_response b = { .stat = stat };

	expect_reply(ZK_OP_EXISTS, &ok_hdr, &b, bytes, sizeof(bytes));
	expect_reply(ZK_OP_SETDATA, &ok_hdr, &b, bytes, sizeof(bytes));
	expect_reply(ZK_OP_SETACL, &ok_hdr, &b, bytes, sizeof(bytes));
}

Test(proto_reply, get_data_and_reconfig)
{
	static const uint8_t bytes[] = { OK_HDR_BYTES, 0, 0, 0, 3, 'a', 'b', 'c', STAT_BYTES };
	static const uint8_t null_data[] = { OK_HDR_BYTES, 0xff, 0xff, 0xff, 0xff, STAT_BYTES };
	struct proto_response b = { .data_stat = { S("abc"), stat } };

	expect_reply(ZK_OP_GETDATA, &ok_hdr, &b, bytes, sizeof(bytes));
	expect_reply(ZK_OP_RECONFIG, &ok_hdr, &b, bytes, sizeof(bytes));
	b.data_stat.data = null_buf;
	expect_reply(ZK_OP_GETDATA, &ok_hdr, &b, null_data, sizeof(null_data));
}

Test(proto_reply, get_acl)
{
	static const uint8_t bytes[] = { OK_HDR_BYTES, TWO_ACL_BYTES, STAT_BYTES };
	struct proto_response b = { .acl_stat = { two_acl, stat } };

	expect_reply(ZK_OP_GETACL, &ok_hdr, &b, bytes, sizeof(bytes));
}

Test(proto_reply, children_and_ephemerals)
{
	static const uint8_t bytes[] = {
		OK_HDR_BYTES, 0, 0, 0, 2, 0, 0, 0, 1, 'a', 0, 0, 0, 3, 'b', 'c', 'd',
	};
	static const uint8_t two[] = {
		OK_HDR_BYTES, 0, 0, 0, 2, 0, 0, 0, 1, 'a', 0, 0, 0, 3, 'b', 'c', 'd', STAT_BYTES,
	};
	static const uint8_t none[] = { OK_HDR_BYTES, 0, 0, 0, 0 };
	static const struct jute_buf names[] = { { (const uint8_t *)"a", 1 }, { (const uint8_t *)"bcd", 3 } };
	struct proto_response b = { .children = { .items = names, .count = 2 } };

	expect_reply(ZK_OP_GETCHILDREN, &ok_hdr, &b, bytes, sizeof(bytes));
	expect_reply(ZK_OP_GETEPHEMERALS, &ok_hdr, &b, bytes, sizeof(bytes));
	b.children = (struct proto_str_list){ .count = 0 };
	expect_reply(ZK_OP_GETCHILDREN, &ok_hdr, &b, none, sizeof(none));
	b.children_stat = (struct proto_children_stat){ { .items = names, .count = 2 }, stat };
	expect_reply(ZK_OP_GETCHILDREN2, &ok_hdr, &b, two, sizeof(two));
}

Test(proto_reply, all_children_number_add_watch_sasl)
{
	static const uint8_t total[] = { OK_HDR_BYTES, 0, 0, 0x01, 0x00 };
	static const uint8_t addw[] = { OK_HDR_BYTES, 0, 0, 0, 0 };
	static const uint8_t sasl[] = { OK_HDR_BYTES, 0, 0, 0, 2, 0x60, 0x0d };
	struct proto_response b = { .total = 256 };

	expect_reply(ZK_OP_GETALLCHILDRENNUMBER, &ok_hdr, &b, total, sizeof(total));
	b.err = ZK_OK; /* FinalRequestProcessor: addWatch -> ErrorResponse(0) */
	expect_reply(ZK_OP_ADDWATCH, &ok_hdr, &b, addw, sizeof(addw));
	b.sasl_token = (struct jute_buf){ (const uint8_t *)"\x60\x0d", 2 };
	expect_reply(ZK_OP_SASL, &ok_hdr, &b, sasl, sizeof(sasl));
}

Test(proto_reply, who_am_i)
{
	static const uint8_t bytes[] = {
		OK_HDR_BYTES, 0, 0, 0, 2,
		0, 0, 0, 2, 'i', 'p', 0, 0, 0, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1',
		0, 0, 0, 6, 'd', 'i', 'g', 'e', 's', 't', 0, 0, 0, 3, 'b', 'o', 'b',
	};
	static const struct proto_client_info who[] = {
		{ { (const uint8_t *)"ip", 2 }, { (const uint8_t *)"127.0.0.1", 9 } },
		{ { (const uint8_t *)"digest", 6 }, { (const uint8_t *)"bob", 3 } },
	};
	struct proto_response b = { .client_info = { .items = who, .count = 2 } };

	expect_reply(ZK_OP_WHOAMI, &ok_hdr, &b, bytes, sizeof(bytes));
}

Test(proto_reply, header_only_replies)
{
	static const uint8_t ping[] = { 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0 };
	static const uint8_t auth[] = { 0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t nonode[] = { OK_HDR_BYTES };
	static const int32_t ops[] = { ZK_OP_DELETE, ZK_OP_DELETECONTAINER, ZK_OP_CHECK,
				       ZK_OP_CLOSESESSION, ZK_OP_SETWATCHES, ZK_OP_SETWATCHES2,
				       ZK_OP_CHECKWATCHES, ZK_OP_REMOVEWATCHES };
	struct proto_reply_hdr h = { ZK_XID_PING, 7, ZK_OK };
	uint8_t err[sizeof(nonode)];

	expect_reply(ZK_OP_PING, &h, NULL, ping, sizeof(ping));
	h = (struct proto_reply_hdr){ ZK_XID_AUTH, 0, ZK_OK };
	expect_reply(ZK_OP_AUTH, &h, NULL, auth, sizeof(auth));
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		expect_reply(ops[i], &ok_hdr, NULL, nonode, sizeof(nonode));

	/* An error reply carries no record, whatever the op. */
	memcpy(err, nonode, sizeof(err));
	err[12] = 0xff, err[13] = 0xff, err[14] = 0xff, err[15] = 0x9b; /* -101 NONODE */
	h = ok_hdr;
	h.err = ZK_NONODE;
	expect_reply(ZK_OP_GETDATA, &h, NULL, err, sizeof(err));
	expect_reply(ZK_OP_MULTI, &h, NULL, err, sizeof(err));
}

Test(proto_reply, multi_results)
{
	static const uint8_t bytes[] = {
		OK_HDR_BYTES,
		0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, '/', 'm',        /* create */
		0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 2, '/', 'n', STAT_BYTES, /* create2 */
		0, 0, 0, 2, 0, 0, 0, 0, 0,                             /* delete */
		0, 0, 0, 5, 0, 0, 0, 0, 0, STAT_BYTES,                 /* setData */
		0, 0, 0, 13, 0, 0, 0, 0, 0,                            /* check */
		0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x99,      /* error hdr -103 */
		0xff, 0xff, 0xff, 0x99,                                /* ErrorResponse */
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,      /* done */
	};
	struct proto_multi_result res[6];
	struct proto_response b;

	memset(res, 0, sizeof(res));
	res[0].type = ZK_OP_CREATE;
	res[0].path = S("/m");
	res[1].type = ZK_OP_CREATE2;
	res[1].path_stat = (struct proto_path_stat){ S("/n"), stat };
	res[2].type = ZK_OP_DELETE;
	res[3].type = ZK_OP_SETDATA;
	res[3].stat = stat;
	res[4].type = ZK_OP_CHECK;
	res[5].type = ZK_OP_ERROR;
	res[5].err = ZK_BADVERSION;
	res[5].error = ZK_BADVERSION;
	b.multi = (struct proto_multi_resp){ .items = res, .count = 6 };
	expect_reply(ZK_OP_MULTI, &ok_hdr, &b, bytes, sizeof(bytes));
}

Test(proto_reply, multi_read_results)
{
	static const uint8_t bytes[] = {
		OK_HDR_BYTES,
		0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 'k',   /* getChildren */
		0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'd', STAT_BYTES,   /* getData */
		0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b,        /* error -101 */
		0xff, 0xff, 0xff, 0x9b,
		0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff,
	};
	static const struct jute_buf kids[] = { { (const uint8_t *)"k", 1 } };
	struct proto_multi_result res[3];
	struct proto_response b;

	memset(res, 0, sizeof(res));
	res[0].type = ZK_OP_GETCHILDREN;
	res[0].children = (struct proto_str_list){ .items = kids, .count = 1 };
	res[1].type = ZK_OP_GETDATA;
	res[1].data_stat = (struct proto_data_stat){ S("d"), stat };
	res[2].type = ZK_OP_ERROR;
	res[2].err = res[2].error = ZK_NONODE;
	b.multi = (struct proto_multi_resp){ .items = res, .count = 3 };
	expect_reply(ZK_OP_MULTIREAD, &ok_hdr, &b, bytes, sizeof(bytes));
}

Test(proto_reply, watcher_event)
{
	static const uint8_t bytes[] = {
		0xff, 0xff, 0xff, 0xff,                         /* xid -1 */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* zxid -1 (3.8) */
		0, 0, 0, 0,                                     /* err */
		0, 0, 0, 3,                                     /* NodeDataChanged */
		0, 0, 0, 3,                                     /* SyncConnected */
		0, 0, 0, 2, '/', 'a',
	};
	struct proto_watcher_event ev = { ZK_EVENT_NODE_DATA_CHANGED, ZK_STATE_SYNC_CONNECTED, S("/a") };
	struct proto_reply_hdr h = { ZK_XID_NOTIFICATION, -1, ZK_OK };
	struct proto_response b = { .event = ev };
	struct proto_reply d;
	struct jute_out out;

	expect_reply(ZK_OP_NOTIFICATION, &h, &b, bytes, sizeof(bytes));
	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_event(&out, -1, &ev), 0);
	check_bytes(&out, bytes, sizeof(bytes));
	/* xid -1 is an event whatever op the caller guessed. */
	cr_assert_eq(proto_decode_reply(bytes, sizeof(bytes), ZK_OP_GETDATA, &d), 0);
	cr_assert_eq(d.op, ZK_OP_NOTIFICATION);
	cr_assert(d.has_body);
	cr_assert(jute_buf_eq(d.body.event.path, "/a"));
	jute_out_free(&out);
}

Test(proto_reply, stat_helpers_match_the_layout)
{
	static const uint8_t bytes[] = { STAT_BYTES };
	struct zk_stat st;
	struct jute_in in;
	struct jute_out out;

	cr_assert_eq(sizeof(bytes), PROTO_STAT_SIZE);
	jute_in_init(&in, bytes, sizeof(bytes));
	cr_assert_eq(proto_get_stat(&in, &st), 0);
	cr_assert(pt_stat_eq(&st, &stat));
	jute_out_init(&out, 0);
	proto_put_stat(&out, &stat);
	cr_assert_eq(out.len, sizeof(bytes));
	cr_assert_arr_eq(out.buf, bytes, sizeof(bytes));
	jute_out_free(&out);
}

/* ---- proto_encode_stat_reply: the reads' one-pass writer ---- */

/* Both writers into fresh buffers (cap 0: growing; else fixed of cap bytes). */
static void stat_reply_same(const struct jute_buf *data, size_t cap)
{
	struct proto_reply_hdr h = { 77, 0x0102030405060708LL, ZK_OK };
	struct proto_response body;
	uint8_t fa[512], fb[512];
	struct jute_out a, b;
	int32_t op = data ? ZK_OP_GETDATA : ZK_OP_EXISTS;
	int ra, rb;

	memset(&body, 0, sizeof(body));
	if (data) {
		body.data_stat.data = *data;
		body.data_stat.stat = stat;
	} else {
		body.stat = stat;
	}
	if (cap) {
		jute_out_init_fixed(&a, fa, cap);
		jute_out_init_fixed(&b, fb, cap);
	} else {
		jute_out_init(&a, 0);
		jute_out_init(&b, 0);
	}
	/* Something before the frame, as in a batch of replies. */
	jute_put_int(&a, 0x5a5a5a5a);
	jute_put_int(&b, 0x5a5a5a5a);
	ra = proto_encode_reply(&a, &h, op, &body);
	rb = proto_encode_stat_reply(&b, &h, data, &stat);
	cr_assert_eq(rb, ra, "returns %d, proto_encode_reply %d", rb, ra);
	cr_assert_eq(b.len, a.len);
	cr_assert_eq(b.err, a.err);
	cr_assert_eq(memcmp(a.buf, b.buf, a.len), 0);
	if (!cap) {
		jute_out_free(&a);
		jute_out_free(&b);
	}
}

Test(proto_reply, stat_reply_is_encode_reply)
{
	static uint8_t big[300];
	struct jute_buf bufs[] = {
		{ NULL, -1 },			/* null data */
		{ (const uint8_t *)"", 0 },	/* empty */
		{ (const uint8_t *)"abc", 3 },
		{ big, (int32_t)sizeof(big) },
	};

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	stat_reply_same(NULL, 0);
	stat_reply_same(NULL, 512);
	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
		stat_reply_same(&bufs[i], 0);
		stat_reply_same(&bufs[i], 512); /* fixed buffer, room enough */
	}
	/* Too small for the frame: dropped, out as it was, the same error. */
	stat_reply_same(NULL, 40);
	stat_reply_same(&bufs[2], 60);
}
