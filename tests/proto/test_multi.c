// SPDX-License-Identifier: Apache-2.0
/*
 * Walking what was decoded without allocating: the multi iterator, the
 * bounded copy into a caller's array, result iteration, list iterators
 * over raw views and over items, and building a multi piece by piece.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tests/common/leakcheck.h"
#include "proto_test_util.h"

#define S(s) pt_str(s)

/* Encodes a multi of n setData ops on /k<i> and decodes it into *r. */
static void make_multi(struct jute_out *out, int n, struct proto_request *r)
{
	char paths[16][16];
	struct proto_frame f;

	cr_assert_leq(n, 16);
	proto_frame_begin(out, &f);
	jute_put_int(out, 77);
	jute_put_int(out, ZK_OP_MULTI);
	for (int i = 0; i < n; i++) {
		struct proto_multi_op op = { .type = ZK_OP_SETDATA };

		snprintf(paths[i], sizeof(paths[i]), "/k%d", i);
		op.set_data = (struct proto_set_data_req){ S(paths[i]), S("v"), i };
		proto_put_multi_op(out, &op);
	}
	proto_put_multi_end(out);
	cr_assert_eq(proto_frame_end(out, &f), 0);
	cr_assert_eq(proto_decode_request(out->buf + 4, out->len - 4, r), 0);
	cr_assert_eq(r->multi.count, n);
	cr_assert_null(r->multi.items);
}

Test(proto_multi, iterator_walks_every_op)
{
	struct proto_request r;
	struct proto_multi_op op;
	struct proto_iter it;
	struct jute_out out;
	int i = 0;

	jute_out_init(&out, 0);
	make_multi(&out, 5, &r);
	proto_multi_iter(&it, &r.multi);
	while (proto_multi_next(&it, &op)) {
		char want[16];

		snprintf(want, sizeof(want), "/k%d", i);
		cr_assert_eq(op.type, ZK_OP_SETDATA);
		cr_assert(jute_buf_eq(op.set_data.path, want));
		cr_assert(jute_buf_eq(op.set_data.data, "v"));
		cr_assert_eq(op.set_data.version, i);
		/* views point into the frame */
		cr_assert(op.set_data.path.p > out.buf && op.set_data.path.p < out.buf + out.len);
		i++;
	}
	cr_assert_eq(i, 5);
	cr_assert_not(proto_multi_next(&it, &op), "stays at the end");
	jute_out_free(&out);
	test_assert_no_leaks();
}

Test(proto_multi, bounded_copy_into_an_array)
{
	struct proto_multi_op ops[4];
	struct proto_request r;
	struct jute_out out;

	jute_out_init(&out, 0);
	make_multi(&out, 4, &r);
	cr_assert_eq(proto_multi_ops(&r.multi, ops, 4), 4);
	cr_assert_eq(ops[3].set_data.version, 3);
	cr_assert_eq(proto_multi_ops(&r.multi, ops, 3), -ENOSPC);
	out.len = 0;
	make_multi(&out, 0, &r);
	cr_assert_eq(proto_multi_ops(&r.multi, ops, 0), 0);
	jute_out_free(&out);
}

Test(proto_multi, array_and_raw_forms_encode_alike)
{
	struct proto_multi_op ops[6];
	struct proto_request r, again;
	struct jute_out a, b;

	jute_out_init(&a, 0);
	jute_out_init(&b, 0);
	make_multi(&a, 6, &r);
	cr_assert_eq(proto_multi_ops(&r.multi, ops, 6), 6);
	again = r;
	again.multi = (struct proto_multi_req){ .items = ops, .count = 6 };
	cr_assert_eq(proto_encode_request(&b, &again), 0);
	cr_assert_eq(a.len, b.len);
	cr_assert_arr_eq(a.buf, b.buf, a.len);
	cr_assert(pt_request_eq(&r, &again));
	jute_out_free(&a);
	jute_out_free(&b);
}

Test(proto_multi, results_iterate_and_errors_keep_both_codes)
{
	struct proto_multi_result res[3] = {
		{ .type = ZK_OP_ERROR, .err = ZK_OK, .error = ZK_OK },
		{ .type = ZK_OP_ERROR, .err = ZK_BADVERSION, .error = ZK_BADVERSION },
		{ .type = ZK_OP_ERROR, .err = ZK_RUNTIMEINCONSISTENCY, .error = ZK_RUNTIMEINCONSISTENCY },
	};
	struct proto_response body = { .multi = { .items = res, .count = 3 } };
	struct proto_reply_hdr h = { 3, 9, ZK_OK };
	struct proto_multi_result got;
	struct proto_iter it;
	struct proto_reply d;
	struct jute_out out;
	int i = 0;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_MULTI, &body), 0);
	cr_assert_eq(proto_decode_reply(out.buf + 4, out.len - 4, ZK_OP_MULTI, &d), 0);
	proto_result_iter(&it, &d.body.multi);
	while (proto_result_next(&it, &got)) {
		cr_assert(pt_multi_result_eq(&got, &res[i]));
		i++;
	}
	cr_assert_eq(i, 3);
	jute_out_free(&out);
}

Test(proto_multi, string_and_client_info_iterators)
{
	static const struct jute_buf names[] = {
		{ (const uint8_t *)"x", 1 }, { NULL, -1 }, { (const uint8_t *)"", 0 },
	};
	static const struct proto_client_info who[] = {
		{ { (const uint8_t *)"sasl", 4 }, { (const uint8_t *)"dave", 4 } },
	};
	struct proto_response body = { .children = { .items = names, .count = 3 } };
	struct proto_reply_hdr h = { 1, 1, ZK_OK };
	struct proto_client_info ci;
	struct proto_iter it;
	struct jute_buf s;
	struct proto_reply d;
	struct jute_out out;
	int n = 0;

	jute_out_init(&out, 0);
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_GETCHILDREN, &body), 0);
	cr_assert_eq(proto_decode_reply(out.buf + 4, out.len - 4, ZK_OP_GETCHILDREN, &d), 0);
	proto_str_iter(&it, &d.body.children);
	while (proto_str_next(&it, &s)) {
		cr_assert(pt_buf_eq(s, names[n]), "element %d (null elements survive)", n);
		n++;
	}
	cr_assert_eq(n, 3);
	/* Iterating the items form gives the same. */
	n = 0;
	proto_str_iter(&it, &body.children);
	while (proto_str_next(&it, &s))
		cr_assert(pt_buf_eq(s, names[n++]));
	cr_assert_eq(n, 3);

	out.len = 0;
	body.client_info = (struct proto_client_info_list){ .items = who, .count = 1 };
	cr_assert_eq(proto_encode_reply(&out, &h, ZK_OP_WHOAMI, &body), 0);
	cr_assert_eq(proto_decode_reply(out.buf + 4, out.len - 4, ZK_OP_WHOAMI, &d), 0);
	proto_client_info_iter(&it, &d.body.client_info);
	cr_assert(proto_client_info_next(&it, &ci));
	cr_assert(jute_buf_eq(ci.auth_scheme, "sasl"));
	cr_assert(jute_buf_eq(ci.user, "dave"));
	cr_assert_not(proto_client_info_next(&it, &ci));
	jute_out_free(&out);
}

Test(proto_multi, null_and_empty_lists)
{
	struct proto_str_list null_list = { .count = -1 };
	struct proto_str_list empty = { .count = 0 };
	struct proto_iter it;
	struct jute_buf s;
	struct jute_out out;

	jute_out_init(&out, 0);
	proto_put_str_list(&out, &null_list);
	proto_put_str_list(&out, &empty);
	cr_assert_eq(out.err, 0);
	cr_assert_eq(out.len, 8);
	cr_assert_eq(jute_be32(out.buf), 0xffffffffu);
	cr_assert_eq(jute_be32(out.buf + 4), 0);
	proto_str_iter(&it, &null_list);
	cr_assert_not(proto_str_next(&it, &s));
	jute_out_free(&out);
}
