// SPDX-License-Identifier: Apache-2.0
/*
 * Frames captured from real clients (kazoo, the Java client with and
 * without SASL, the C client's cli_mt) talking to a real Apache ZooKeeper
 * 3.8 server, checked in under tests/proto/golden/ by
 * tests/proto/capture/capture.sh.  For every frame:
 *
 *  - the length prefix passes proto_frame_len() and matches the frame;
 *  - it decodes (first frame of a connection: ConnectRequest or
 *    ConnectResponse; replies by the opcode of the request with the same
 *    xid on that connection; xid -1 as a notification), with nothing left
 *    over;
 *  - the decoded record re-encodes to the identical bytes (zxids and
 *    times included, since they are re-encoded from what was decoded),
 *    both from its raw views and after converting its lists and multis to
 *    caller arrays (the form a server or client builds);
 *  - every strict prefix of it is rejected.
 *
 * Finally the captures together must cover every operation the codec
 * exists for, so a future re-capture cannot silently lose one.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/common/leakcheck.h"
#include "proto_test_util.h"

#ifndef PROTO_GOLDEN_DIR
#error "PROTO_GOLDEN_DIR must point at tests/proto/golden"
#endif

#define MAX_ITEMS 256

struct sent {
	int conn;
	int32_t xid;
	int32_t op;
};

struct conn_state {
	int conn;
	bool req_seen;
	bool resp_seen;
};

struct coverage {
	bool req[256];   /* by opcode + 16 */
	bool reply[256];
	bool connect_req, connect_resp, event, error_reply, multi_error;
};

static struct coverage cov;

static bool *cov_slot(bool *v, int32_t op)
{
	static bool dummy;

	return op + 16 >= 0 && op + 16 < 256 ? &v[op + 16] : &dummy;
}

static void expect_same(const struct jute_out *out, const struct pt_frame *f, const char *what)
{
	cr_assert_eq(out->err, 0);
	cr_assert_eq(out->len, f->len, "line %d (%s): re-encoded %zu bytes, captured %zu", f->line, what,
		     out->len, f->len);
	cr_assert_arr_eq(out->buf, f->bytes, f->len, "line %d (%s): re-encoded bytes differ", f->line, what);
}

static void expect_prefixes_rejected_req(const struct pt_frame *f, bool connect)
{
	const uint8_t *p = f->bytes + 4;
	size_t n = f->len - 4;

	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *c = malloc(cut ? cut : 1);
		int rc;

		memcpy(c, p, cut);
		if (connect) {
			struct proto_connect_req d;
			rc = proto_decode_connect_req(c, cut, &d);
			/* Without its last byte it is an old client's request. */
			if (cut == n - 1 && rc == 0 && !d.has_read_only)
				rc = -EBADMSG;
		} else {
			struct proto_request d;
			rc = proto_decode_request(c, cut, &d);
		}
		free(c);
		cr_assert_eq(rc, -EBADMSG, "line %d: prefix of %zu/%zu bytes accepted", f->line, cut, n);
	}
}

static void expect_prefixes_rejected_reply(const struct pt_frame *f, bool connect, int32_t op)
{
	const uint8_t *p = f->bytes + 4;
	size_t n = f->len - 4;

	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *c = malloc(cut ? cut : 1);
		int rc;

		memcpy(c, p, cut);
		if (connect) {
			struct proto_connect_resp d;
			rc = proto_decode_connect_resp(c, cut, &d);
			if (cut == n - 1 && rc == 0 && !d.has_read_only)
				rc = -EBADMSG;
		} else {
			struct proto_reply d;
			rc = proto_decode_reply(c, cut, op, &d);
		}
		free(c);
		cr_assert_eq(rc, -EBADMSG, "line %d: prefix of %zu/%zu bytes accepted", f->line, cut, n);
	}
}

/* Copies a decoded string list into items (the caller-array form). */
static void str_items(struct proto_str_list *l, struct jute_buf *items)
{
	struct proto_iter it;
	int32_t n = 0;

	if (l->count <= 0)
		return;
	cr_assert_leq(l->count, MAX_ITEMS);
	proto_str_iter(&it, l);
	while (proto_str_next(&it, &items[n]))
		n++;
	cr_assert_eq(n, l->count);
	l->items = items;
	l->raw = NULL;
	l->raw_len = 0;
}

static void check_request(const struct pt_frame *f, struct sent *sent, size_t *nsent)
{
	static struct jute_buf items[5][MAX_ITEMS];
	static struct proto_multi_op ops[MAX_ITEMS];
	struct proto_request r;
	struct jute_out out;

	int rc = proto_decode_request(f->bytes + 4, f->len - 4, &r);
	cr_assert_eq(rc, 0, "line %d: request does not decode (%d)", f->line, rc);
	cr_assert_eq(r.trailing, 0, "line %d: %u bytes left over", f->line, r.trailing);
	*cov_slot(cov.req, r.hdr.type) = true;
	sent[*nsent] = (struct sent){ f->conn, r.hdr.xid, r.hdr.type };
	(*nsent)++;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_request(&out, &r), 0);
	expect_same(&out, f, proto_op_name(r.hdr.type));

	/* The array forms. */
	struct proto_request arr = r;
	switch (r.hdr.type) {
	case ZK_OP_MULTI:
	case ZK_OP_MULTIREAD: {
		int n = proto_multi_ops(&r.multi, ops, MAX_ITEMS);
		cr_assert_eq(n, r.multi.count);
		arr.multi = (struct proto_multi_req){ .items = ops, .count = n };
		break;
	}
	case ZK_OP_SETWATCHES:
	case ZK_OP_SETWATCHES2:
		str_items(&arr.set_watches.data, items[0]);
		str_items(&arr.set_watches.exist, items[1]);
		str_items(&arr.set_watches.child, items[2]);
		str_items(&arr.set_watches.persistent, items[3]);
		str_items(&arr.set_watches.persistent_recursive, items[4]);
		break;
	default:
		break;
	}
	cr_assert(pt_request_eq(&r, &arr));
	out.len = 0;
	cr_assert_eq(proto_encode_request(&out, &arr), 0);
	expect_same(&out, f, "array form");
	jute_out_free(&out);
	expect_prefixes_rejected_req(f, false);
}

static void check_reply(const struct pt_frame *f, const struct sent *sent, size_t nsent)
{
	static struct jute_buf items[MAX_ITEMS];
	static struct proto_client_info who[MAX_ITEMS];
	static struct proto_multi_result res[MAX_ITEMS];
	int32_t xid = (int32_t)jute_be32(f->bytes + 4);
	int32_t op = ZK_OP_NOTIFICATION;
	struct proto_reply r;
	struct jute_out out;

	if (xid != ZK_XID_NOTIFICATION) {
		size_t i = nsent;
		while (i > 0 && !(sent[i - 1].conn == f->conn && sent[i - 1].xid == xid))
			i--;
		cr_assert_gt(i, 0, "line %d: reply to xid %d that was never sent", f->line, xid);
		op = sent[i - 1].op;
	}
	int rc = proto_decode_reply(f->bytes + 4, f->len - 4, op, &r);
	cr_assert_eq(rc, 0, "line %d: reply to %s does not decode (%d)", f->line, proto_op_name(op), rc);
	cr_assert_eq(r.trailing, 0, "line %d: %u bytes left over", f->line, r.trailing);
	if (r.op == ZK_OP_NOTIFICATION)
		cov.event = true;
	else if (r.hdr.err)
		cov.error_reply = true;
	else
		*cov_slot(cov.reply, op) = true;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_reply(&out, &r.hdr, r.op, r.has_body ? &r.body : NULL), 0);
	expect_same(&out, f, proto_op_name(r.op));

	struct proto_response arr = r.body;
	if (r.has_body) {
		switch (r.op) {
		case ZK_OP_GETCHILDREN:
		case ZK_OP_GETEPHEMERALS:
			str_items(&arr.children, items);
			break;
		case ZK_OP_GETCHILDREN2:
			str_items(&arr.children_stat.children, items);
			break;
		case ZK_OP_WHOAMI: {
			struct proto_iter it;
			int n = 0;
			proto_client_info_iter(&it, &r.body.client_info);
			while (n < MAX_ITEMS && proto_client_info_next(&it, &who[n]))
				n++;
			arr.client_info = (struct proto_client_info_list){ .items = who, .count = n };
			break;
		}
		case ZK_OP_MULTI:
		case ZK_OP_MULTIREAD: {
			struct proto_iter it;
			int n = 0;
			proto_result_iter(&it, &r.body.multi);
			while (n < MAX_ITEMS && proto_result_next(&it, &res[n])) {
				if (res[n].type == ZK_OP_ERROR && res[n].error != ZK_OK)
					cov.multi_error = true;
				n++;
			}
			arr.multi = (struct proto_multi_resp){ .items = res, .count = n };
			break;
		}
		default:
			break;
		}
		cr_assert(pt_response_eq(r.op, &r.body, &arr));
		out.len = 0;
		cr_assert_eq(proto_encode_reply(&out, &r.hdr, r.op, &arr), 0);
		expect_same(&out, f, "array form");
	}
	jute_out_free(&out);
	expect_prefixes_rejected_reply(f, false, op);
}

static void check_connect(const struct pt_frame *f)
{
	struct jute_out out;

	jute_out_init(&out, 0);
	if (f->dir == '>') {
		struct proto_connect_req c;
		cr_assert_eq(proto_decode_connect_req(f->bytes + 4, f->len - 4, &c), 0, "line %d", f->line);
		cr_assert(c.has_read_only, "line %d: 3.4+ clients send readOnly", f->line);
		cr_assert_eq(proto_encode_connect_req(&out, &c), 0);
		cov.connect_req = true;
	} else {
		struct proto_connect_resp c;
		cr_assert_eq(proto_decode_connect_resp(f->bytes + 4, f->len - 4, &c), 0, "line %d", f->line);
		cr_assert(c.has_read_only, "line %d: answered in kind", f->line);
		cr_assert_eq(proto_encode_connect_resp(&out, &c), 0);
		cov.connect_resp = true;
	}
	expect_same(&out, f, "connect");
	jute_out_free(&out);
	if (f->dir == '>')
		expect_prefixes_rejected_req(f, true);
	else
		expect_prefixes_rejected_reply(f, true, 0);
}

static size_t check_capture(const char *path)
{
	struct pt_capture cap;
	struct conn_state conns[64];
	size_t nconns = 0, nsent = 0;
	struct sent *sent;

	cr_assert_eq(pt_capture_load(path, &cap), 0, "%s unreadable", path);
	cr_assert_gt(cap.count, 0, "%s has no frames", path);
	cr_assert_neq(cap.client[0], 0, "%s does not name its client", path);
	sent = calloc(cap.count, sizeof(*sent));
	for (size_t i = 0; i < cap.count; i++) {
		const struct pt_frame *f = &cap.frames[i];
		struct conn_state *c = NULL;
		uint32_t len;

		cr_assert_geq(f->len, 4);
		cr_assert_eq(proto_frame_len(f->bytes, f->len, ZK_DEFAULT_MAX_BUFFER, &len), 0);
		cr_assert_eq(len, f->len - 4, "line %d: length prefix", f->line);
		for (size_t k = 0; k < nconns; k++)
			if (conns[k].conn == f->conn)
				c = &conns[k];
		if (!c) {
			cr_assert_lt(nconns, 64);
			c = &conns[nconns++];
			*c = (struct conn_state){ .conn = f->conn };
		}
		bool *first = f->dir == '>' ? &c->req_seen : &c->resp_seen;
		if (!*first) {
			*first = true;
			check_connect(f);
		} else if (f->dir == '>') {
			check_request(f, sent, &nsent);
		} else {
			check_reply(f, sent, nsent);
		}
	}
	size_t n = cap.count;
	cr_log_info("%s: %zu frames from %s", path, n, cap.client);
	free(sent);
	pt_capture_free(&cap);
	return n;
}

static void check_file(const char *name)
{
	char *path;

	cr_assert_geq(asprintf(&path, "%s/%s", PROTO_GOLDEN_DIR, name), 0);
	check_capture(path);
	free(path);
	test_assert_no_leaks();
}

Test(proto_golden, kazoo)
{
	check_file("kazoo.hex");
}

Test(proto_golden, java_client)
{
	check_file("java.hex");
}

Test(proto_golden, java_client_sasl)
{
	check_file("java-sasl.hex");
}

Test(proto_golden, c_client_cli_mt)
{
	check_file("cli_mt.hex");
}

/*
 * Every capture, including any added later, and together they must cover
 * every operation the codec exists for.
 */
Test(proto_golden, all_captures_cover_the_protocol)
{
	char **files = pt_list_files(PROTO_GOLDEN_DIR, ".hex");
	size_t total = 0, nfiles = 0;

	cr_assert_not_null(files, "no golden directory at %s", PROTO_GOLDEN_DIR);
	memset(&cov, 0, sizeof(cov));
	for (char **f = files; *f; f++, nfiles++)
		total += check_capture(*f);
	pt_files_free(files);
	cr_assert_geq(nfiles, 4, "kazoo, java, java-sasl and cli_mt captures expected");
	cr_log_info("%zu golden frames in %zu captures", total, nfiles);

	/* What a ZooKeeper 3.x client sends, each at least once. */
	static const int32_t want_req[] = {
		ZK_OP_CREATE, ZK_OP_CREATE2, ZK_OP_CREATECONTAINER, ZK_OP_CREATETTL, ZK_OP_DELETE,
		ZK_OP_EXISTS, ZK_OP_GETDATA, ZK_OP_SETDATA, ZK_OP_GETACL, ZK_OP_SETACL,
		ZK_OP_GETCHILDREN, ZK_OP_GETCHILDREN2, ZK_OP_SYNC, ZK_OP_PING, ZK_OP_MULTI,
		ZK_OP_MULTIREAD, ZK_OP_RECONFIG, ZK_OP_CHECKWATCHES, ZK_OP_REMOVEWATCHES, ZK_OP_AUTH,
		ZK_OP_SETWATCHES, ZK_OP_SETWATCHES2, ZK_OP_SASL, ZK_OP_GETEPHEMERALS,
		ZK_OP_GETALLCHILDRENNUMBER, ZK_OP_ADDWATCH, ZK_OP_WHOAMI, ZK_OP_CLOSESESSION,
	};
	static const int32_t want_reply[] = {
		ZK_OP_CREATE, ZK_OP_CREATE2, ZK_OP_CREATECONTAINER, ZK_OP_CREATETTL, ZK_OP_EXISTS,
		ZK_OP_GETDATA, ZK_OP_SETDATA, ZK_OP_GETACL, ZK_OP_SETACL, ZK_OP_GETCHILDREN,
		ZK_OP_GETCHILDREN2, ZK_OP_SYNC, ZK_OP_MULTI, ZK_OP_MULTIREAD, ZK_OP_SASL,
		ZK_OP_GETEPHEMERALS, ZK_OP_GETALLCHILDRENNUMBER, ZK_OP_ADDWATCH, ZK_OP_WHOAMI,
	};
	for (size_t i = 0; i < sizeof(want_req) / sizeof(want_req[0]); i++)
		cr_assert(*cov_slot(cov.req, want_req[i]), "no captured %s request",
			  proto_op_name(want_req[i]));
	for (size_t i = 0; i < sizeof(want_reply) / sizeof(want_reply[0]); i++)
		cr_assert(*cov_slot(cov.reply, want_reply[i]), "no captured %s reply",
			  proto_op_name(want_reply[i]));
	cr_assert(cov.connect_req && cov.connect_resp && cov.event && cov.error_reply && cov.multi_error);
	test_assert_no_leaks();
}
