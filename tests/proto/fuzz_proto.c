// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the codec.  The first input byte chooses the
 * decoder, the rest is the payload:
 *
 *   sel % 5 == 0  ConnectRequest           1  ConnectResponse
 *            2  request (RequestHeader + record)
 *            3  reply; the next byte, as int8_t, is the opcode of the request
 *            4  a stream of length-prefixed frames, each decoded as a request
 *
 * Whatever decodes is re-encoded, the encoding must decode again to an
 * equal record with nothing left over, and re-encoding that must give the
 * same bytes; lists and multis are also re-encoded from caller arrays.
 * Any violation traps.  Seeds: tests/proto/corpus/ (captured frames, in
 * this format; written by capture/to_golden.py).
 */
#include <stdlib.h>
#include <string.h>

#include "proto_test_util.h"

#define MAX_ITEMS 64

#define CHECK(c)                         \
	do {                             \
		if (!(c))                \
			__builtin_trap(); \
	} while (0)

static struct jute_out out1, out2;

static void same_bytes(void)
{
	CHECK(out1.len == out2.len && memcmp(out1.buf, out2.buf, out1.len) == 0);
}

static void walk_str_list(const struct proto_str_list *l)
{
	struct proto_iter it;
	struct jute_buf s;
	int32_t n = 0;

	proto_str_iter(&it, l);
	while (proto_str_next(&it, &s))
		n++;
	CHECK(n == (l->count > 0 ? l->count : 0));
}

static void fuzz_connect_req(const uint8_t *p, size_t n)
{
	struct proto_connect_req a, b;

	if (proto_decode_connect_req(p, n, &a))
		return;
	out1.len = out2.len = 0;
	CHECK(proto_encode_connect_req(&out1, &a) == 0);
	CHECK(proto_decode_connect_req(out1.buf + 4, out1.len - 4, &b) == 0);
	CHECK(pt_connect_req_eq(&a, &b));
	CHECK(proto_encode_connect_req(&out2, &b) == 0);
	same_bytes();
}

static void fuzz_connect_resp(const uint8_t *p, size_t n)
{
	struct proto_connect_resp a, b;

	if (proto_decode_connect_resp(p, n, &a))
		return;
	out1.len = out2.len = 0;
	CHECK(proto_encode_connect_resp(&out1, &a) == 0);
	CHECK(proto_decode_connect_resp(out1.buf + 4, out1.len - 4, &b) == 0);
	CHECK(pt_connect_resp_eq(&a, &b));
	CHECK(proto_encode_connect_resp(&out2, &b) == 0);
	same_bytes();
}

static void fuzz_request(const uint8_t *p, size_t n)
{
	static struct proto_multi_op ops[MAX_ITEMS];
	struct proto_request a, b;

	if (proto_decode_request(p, n, &a))
		return;
	out1.len = out2.len = 0;
	CHECK(proto_encode_request(&out1, &a) == 0);
	CHECK(proto_decode_request(out1.buf + 4, out1.len - 4, &b) == 0);
	CHECK(b.trailing == 0 || a.hdr.type == ZK_OP_DELETECONTAINER);
	CHECK(pt_request_eq(&a, &b));
	CHECK(proto_encode_request(&out2, &b) == 0);
	same_bytes();

	if (a.hdr.type == ZK_OP_MULTI || a.hdr.type == ZK_OP_MULTIREAD) {
		int k = proto_multi_ops(&a.multi, ops, MAX_ITEMS);
		if (a.multi.count > MAX_ITEMS) {
			CHECK(k == -ENOSPC);
			return;
		}
		CHECK(k == a.multi.count);
		b = a;
		b.multi = (struct proto_multi_req){ .items = ops, .count = k };
		out2.len = 0;
		CHECK(proto_encode_request(&out2, &b) == 0);
		/* Items are written with MultiHeader.err -1; compare records. */
		struct proto_request c;
		CHECK(proto_decode_request(out2.buf + 4, out2.len - 4, &c) == 0);
		CHECK(pt_request_eq(&a, &c));
	} else if (a.hdr.type == ZK_OP_SETWATCHES || a.hdr.type == ZK_OP_SETWATCHES2) {
		walk_str_list(&a.set_watches.data);
		walk_str_list(&a.set_watches.exist);
		walk_str_list(&a.set_watches.child);
		walk_str_list(&a.set_watches.persistent);
		walk_str_list(&a.set_watches.persistent_recursive);
	}
}

static void fuzz_reply(int32_t op, const uint8_t *p, size_t n)
{
	static struct proto_multi_result res[MAX_ITEMS];
	struct proto_reply a, b;

	if (proto_decode_reply(p, n, op, &a))
		return;
	out1.len = out2.len = 0;
	CHECK(proto_encode_reply(&out1, &a.hdr, a.op, a.has_body ? &a.body : NULL) == 0);
	CHECK(proto_decode_reply(out1.buf + 4, out1.len - 4, a.op, &b) == 0);
	CHECK(b.trailing == 0);
	CHECK(pt_reply_eq(&a, &b));
	CHECK(proto_encode_reply(&out2, &b.hdr, b.op, b.has_body ? &b.body : NULL) == 0);
	same_bytes();
	if (!a.has_body)
		return;
	if (a.op == ZK_OP_MULTI || a.op == ZK_OP_MULTIREAD) {
		struct proto_iter it;
		struct proto_response arr = a.body;
		int k = 0;

		proto_result_iter(&it, &a.body.multi);
		while (k < MAX_ITEMS && proto_result_next(&it, &res[k])) {
			if (res[k].type == ZK_OP_GETCHILDREN)
				walk_str_list(&res[k].children);
			k++;
		}
		if (a.body.multi.count > MAX_ITEMS)
			return;
		CHECK(k == a.body.multi.count);
		arr.multi = (struct proto_multi_resp){ .items = res, .count = k };
		out2.len = 0;
		CHECK(proto_encode_reply(&out2, &a.hdr, a.op, &arr) == 0);
		same_bytes(); /* results keep their header err: exact */
	} else if (a.op == ZK_OP_GETCHILDREN || a.op == ZK_OP_GETEPHEMERALS) {
		walk_str_list(&a.body.children);
	} else if (a.op == ZK_OP_GETCHILDREN2) {
		walk_str_list(&a.body.children_stat.children);
	}
}

static void fuzz_stream(const uint8_t *p, size_t n)
{
	while (n) {
		uint32_t len;

		if (proto_frame_len(p, n, 4096, &len))
			return;
		if ((size_t)len > n - PROTO_LEN_SIZE)
			return;
		fuzz_request(p + PROTO_LEN_SIZE, len);
		p += PROTO_LEN_SIZE + len;
		n -= PROTO_LEN_SIZE + len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!out1.buf) {
		jute_out_init(&out1, 256);
		jute_out_init(&out2, 256);
	}
	/* A copy of exactly the payload, so ASan catches any overread. */
	size_t off = (data[0] % 5 == 3) ? 2 : 1;
	if (size < off)
		return 0;
	size_t n = size - off;
	uint8_t *p = malloc(n ? n : 1);
	memcpy(p, data + off, n);
	switch (data[0] % 5) {
	case 0:
		fuzz_connect_req(p, n);
		break;
	case 1:
		fuzz_connect_resp(p, n);
		break;
	case 2:
		fuzz_request(p, n);
		break;
	case 3:
		fuzz_reply((int8_t)data[1], p, n);
		break;
	default:
		fuzz_stream(p, n);
		break;
	}
	free(p);
	return 0;
}
