// SPDX-License-Identifier: Apache-2.0
/*
 * Framing: the length prefix check (ZooKeeper's readLength rule:
 * 0 <= len <= jute.maxbuffer), building frames in place, batching several
 * frames in one buffer, and undoing a frame that did not fit.
 */
#include <criterion/criterion.h>

#include "tests/common/leakcheck.h"
#include "proto_test_util.h"

Test(proto_frame_len, accepts_zero_to_max_inclusive)
{
	const uint8_t zero[] = { 0, 0, 0, 0 };
	const uint8_t max[] = { 0x00, 0x0f, 0xff, 0xff };
	uint32_t len = 99;

	cr_assert_eq(proto_frame_len(zero, 4, ZK_DEFAULT_MAX_BUFFER, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(proto_frame_len(max, 4, ZK_DEFAULT_MAX_BUFFER, &len), 0);
	cr_assert_eq(len, ZK_DEFAULT_MAX_BUFFER);
}

Test(proto_frame_len, rejects_over_max_and_negative)
{
	const uint8_t over[] = { 0x00, 0x10, 0x00, 0x00 };
	const uint8_t neg[] = { 0xff, 0xff, 0xff, 0xff };
	const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff };
	uint32_t len;

	cr_assert_eq(proto_frame_len(over, 4, ZK_DEFAULT_MAX_BUFFER, &len), -EMSGSIZE);
	cr_assert_eq(len, 0x100000, "raw value reported for the log");
	cr_assert_eq(proto_frame_len(neg, 4, ZK_DEFAULT_MAX_BUFFER, &len), -EMSGSIZE);
	cr_assert_eq(proto_frame_len(huge, 4, UINT32_MAX, &len), 0, "max is the caller's");
	cr_assert_eq(proto_frame_len(neg, 4, UINT32_MAX, &len), -EMSGSIZE, "negative always bad");
}

Test(proto_frame_len, four_letter_word_is_oversized_but_visible)
{
	uint32_t len;

	cr_assert_eq(proto_frame_len("ruok", 4, ZK_DEFAULT_MAX_BUFFER, &len), -EMSGSIZE);
	cr_assert_eq(len, 0x72756f6b);
}

Test(proto_frame_len, needs_four_bytes)
{
	const uint8_t b[] = { 0, 0, 0, 5 };
	uint32_t len = 77;

	for (size_t n = 0; n < 4; n++) {
		cr_assert_eq(proto_frame_len(b, n, ZK_DEFAULT_MAX_BUFFER, &len), -EAGAIN);
		cr_assert_eq(len, 77);
	}
	cr_assert_eq(proto_frame_len(b, 4, ZK_DEFAULT_MAX_BUFFER, &len), 0);
	cr_assert_eq(len, 5);
}

Test(proto_frame, frames_batch_in_one_buffer_and_split_back)
{
	struct proto_watcher_event ev = { ZK_EVENT_NODE_CREATED, ZK_STATE_SYNC_CONNECTED, pt_str("/x") };
	struct proto_reply_hdr h = { 3, 0x10, ZK_OK };
	struct proto_response body = { .path = pt_str("/x") };
	struct jute_out out;
	size_t off = 0;
	int frames = 0;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_event(&out, 0x10, &ev), 0);
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_CREATE, &body), 0);
	h.xid = ZK_XID_PING;
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_PING, NULL), 0);
	while (off < out.len) {
		uint32_t len;
		struct proto_reply r;

		cr_assert_eq(proto_frame_len(out.buf + off, out.len - off, ZK_DEFAULT_MAX_BUFFER, &len), 0);
		cr_assert_leq(off + 4 + len, out.len);
		int32_t op = frames == 0 ? ZK_OP_NOTIFICATION : frames == 1 ? ZK_OP_CREATE : ZK_OP_PING;
		cr_assert_eq(proto_decode_reply(out.buf + off + 4, len, op, &r), 0);
		cr_assert_eq(r.trailing, 0);
		off += 4 + len;
		frames++;
	}
	cr_assert_eq(frames, 3);
	jute_out_free(&out);
	test_assert_no_leaks();
}

Test(proto_frame, in_place_reply_with_pieces)
{
	struct proto_reply_hdr h = { 9, 0x22, ZK_OK };
	struct proto_multi_result r = { .type = ZK_OP_DELETE };
	struct proto_frame f;
	struct proto_reply d;
	struct jute_out out;

	jute_out_init(&out, 0);
	proto_reply_begin(&out, &f, &h);
	proto_put_multi_result(&out, &r);
	r.type = ZK_OP_CHECK;
	proto_put_multi_result(&out, &r);
	proto_put_multi_end(&out);
	cr_assert_eq(proto_frame_end(&out, &f), 0);
	cr_assert_eq(jute_be32(out.buf), out.len - 4);
	cr_assert_eq(proto_decode_reply(out.buf + 4, out.len - 4, ZK_OP_MULTI, &d), 0);
	cr_assert_eq(d.body.multi.count, 2);
	jute_out_free(&out);
}

Test(proto_frame, fixed_buffer_full_rolls_back_and_retries)
{
	uint8_t small[40];
	struct proto_response body = { .data_stat = { pt_str("0123456789"), { 0 } } };
	struct proto_reply_hdr h = { 1, 2, ZK_OK };
	struct jute_out out;

	jute_out_init_fixed(&out, small, sizeof(small));
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_PING, NULL), 0);
	size_t first = out.len;
	cr_assert_eq(first, 20);
	/* 4 + 16 + 14 + 68 bytes do not fit in the 20 left. */
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_GETDATA, &body), -ENOSPC);
	cr_assert_eq(out.len, first, "partial frame undone");
	cr_assert_eq(out.err, 0, "error not left sticky");
	/* After draining, the same call succeeds. */
	out.len = 0;
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_PING, NULL), 0);
	cr_assert_eq(out.len, 20);
	uint8_t big[200];
	jute_out_init_fixed(&out, big, sizeof(big));
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_GETDATA, &body), 0);
	cr_assert_eq(out.len, 4 + 16 + 14 + 68);
}

Test(proto_frame, invalid_input_is_einval_and_undone)
{
	struct proto_request r = { .hdr = { 1, 55 } }; /* no such opcode */
	struct proto_response body = { .children = { .count = 3 } }; /* neither items nor raw */
	struct proto_reply_hdr h = { 1, 2, ZK_OK };
	struct jute_out out;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_request(&out, &r), -EINVAL);
	cr_assert_eq(out.len, 0);
	cr_assert_eq(out.err, 0);
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_GETCHILDREN, &body), -EINVAL);
	cr_assert_eq(out.len, 0);
	r.hdr.type = ZK_OP_NOTIFICATION; /* not a request */
	cr_assert_eq(proto_encode_request(&out, &r), -EINVAL);
	r.hdr.type = ZK_OP_ERROR;
	cr_assert_eq(proto_encode_request(&out, &r), -EINVAL);
	/* A body for an unknown op is refused; no body (UNIMPLEMENTED) is fine. */
	cr_assert_eq(proto_encode_reply(&out, &h, 55, &body), -EINVAL);
	h.zxid = -1;
	h.err = ZK_UNIMPLEMENTED;
	cr_assert_eq(proto_encode_reply(&out, &h, 55, NULL), 0);
	cr_assert_eq(out.len, 20);
	jute_out_free(&out);
}

Test(proto_ops, names_and_validity)
{
	cr_assert_str_eq(proto_op_name(ZK_OP_GETDATA), "getData");
	cr_assert_str_eq(proto_op_name(ZK_OP_CLOSESESSION), "closeSession");
	cr_assert_str_eq(proto_op_name(ZK_OP_WHOAMI), "whoAmI");
	cr_assert_str_eq(proto_op_name(10), "unknown");
	cr_assert_str_eq(proto_op_name(INT32_MIN), "unknown");
	/* Request.isValid (3.9) plus auth and sasl. */
	const int32_t valid[] = { -11, -10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 18,
				  19, 20, 21, 22, 100, 101, 102, 103, 104, 105, 106, 107 };
	int nvalid = 0;

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		cr_assert(proto_op_valid(valid[i]), "%d valid", valid[i]);
	for (int32_t op = -20; op <= 120; op++)
		nvalid += proto_op_valid(op);
	cr_assert_eq(nvalid, (int)(sizeof(valid) / sizeof(valid[0])));
	cr_assert_not(proto_op_valid(ZK_OP_CHECK), "check only inside multi (ZOOKEEPER-2623)");
	cr_assert_not(proto_op_valid(ZK_OP_NOTIFICATION));
	cr_assert_not(proto_op_valid(ZK_OP_ERROR));
}
