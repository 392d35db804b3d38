// SPDX-License-Identifier: Apache-2.0
/* Jute primitives: big-endian layout, sticky errors, length checks. */
#include <criterion/criterion.h>

#include "common/jute.h"
#include "common/zkdefs.h"

Test(jute_in, reads_big_endian_primitives)
{
	const uint8_t buf[] = { 0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xfe, 0x01, 0x00, 0x00, 0x00, 0x02, 'h', 'i' };
	struct jute_in in;

	jute_in_init(&in, buf, sizeof(buf));
	cr_assert_eq(jute_get_int(&in), 0x01020304);
	cr_assert_eq(jute_get_long(&in), -2);
	cr_assert(jute_get_bool(&in));
	struct jute_buf s = jute_get_buffer(&in, 100);
	cr_assert_eq(s.len, 2);
	cr_assert(jute_buf_eq(s, "hi"));
	cr_assert_eq(in.err, 0);
	cr_assert_eq(jute_in_left(&in), 0);
}

Test(jute_in, null_buffer_is_minus_one)
{
	const uint8_t buf[] = { 0xff, 0xff, 0xff, 0xff };
	struct jute_in in;

	jute_in_init(&in, buf, sizeof(buf));
	struct jute_buf b = jute_get_buffer(&in, 10);
	cr_assert_eq(b.len, -1);
	cr_assert_null(b.p);
	cr_assert_eq(in.err, 0);
}

Test(jute_in, rejects_lengths_past_end_or_max_and_stays_failed)
{
	const uint8_t past_end[] = { 0, 0, 0, 5, 'a', 'b' };
	const uint8_t over_max[] = { 0, 0, 0, 2, 'a', 'b' };
	const uint8_t negative[] = { 0xff, 0xff, 0xff, 0xfe };
	struct jute_in in;

	jute_in_init(&in, past_end, sizeof(past_end));
	jute_get_buffer(&in, 100);
	cr_assert_eq(in.err, -EBADMSG);
	cr_assert_eq(jute_get_int(&in), 0, "errors are sticky");

	jute_in_init(&in, over_max, sizeof(over_max));
	jute_get_buffer(&in, 1);
	cr_assert_eq(in.err, -EBADMSG);

	jute_in_init(&in, negative, sizeof(negative));
	jute_get_buffer(&in, 100);
	cr_assert_eq(in.err, -EBADMSG);
}

Test(jute_in, vector_count_bounded_by_input)
{
	const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
	struct jute_in in;

	jute_in_init(&in, huge, sizeof(huge));
	jute_get_vector_len(&in, 4);
	cr_assert_eq(in.err, -EBADMSG);
}

Test(jute_out, growable_round_trip)
{
	struct jute_out out;
	struct jute_in in;

	jute_out_init(&out, 0);
	for (int i = 0; i < 1000; i++)
		jute_put_long(&out, (int64_t)i * -7);
	jute_put_string(&out, "zk");
	jute_put_buffer(&out, NULL, -1);
	cr_assert_eq(out.err, 0);
	jute_in_init(&in, out.buf, out.len);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(jute_get_long(&in), (int64_t)i * -7);
	cr_assert(jute_buf_eq(jute_get_buffer(&in, 10), "zk"));
	cr_assert_eq(jute_get_buffer(&in, 10).len, -1);
	cr_assert_eq(jute_in_left(&in), 0);
	jute_out_free(&out);
}

Test(jute_out, fixed_buffer_reports_enospc)
{
	uint8_t buf[6];
	struct jute_out out;

	jute_out_init_fixed(&out, buf, sizeof(buf));
	jute_put_int(&out, 1);
	cr_assert_eq(out.err, 0);
	jute_put_int(&out, 2);
	cr_assert_eq(out.err, -ENOSPC);
	cr_assert_eq(out.len, 4);
}

Test(jute_acl, validates_and_iterates)
{
	struct jute_out out;
	struct jute_in in;
	struct jute_acl_list l;
	struct jute_acl_iter it;
	struct jute_acl a;

	jute_out_init(&out, 0);
	jute_put_int(&out, 2);
	jute_put_int(&out, ZK_PERM_ALL);
	jute_put_string(&out, "world");
	jute_put_string(&out, "anyone");
	jute_put_int(&out, ZK_PERM_READ);
	jute_put_string(&out, "digest");
	jute_put_string(&out, "bob:x");
	jute_put_int(&out, 99); /* trailing field not part of the list */
	jute_in_init(&in, out.buf, out.len);
	cr_assert_eq(jute_get_acl_list(&in, &l, 1024), 0);
	cr_assert_eq(l.count, 2);
	cr_assert_eq(l.raw_len, out.len - 4);
	jute_acl_iter_init(&it, &l);
	cr_assert(jute_acl_next(&it, &a));
	cr_assert_eq(a.perms, ZK_PERM_ALL);
	cr_assert(jute_buf_eq(a.scheme, "world"));
	cr_assert(jute_acl_next(&it, &a));
	cr_assert(jute_buf_eq(a.id, "bob:x"));
	cr_assert_not(jute_acl_next(&it, &a));

	/* A null id decodes (kazoo's auth:'' arrives so); a short entry does not. */
	struct jute_out nul;
	jute_out_init(&nul, 0);
	jute_put_int(&nul, 1);
	jute_put_int(&nul, 31);
	jute_put_string(&nul, "auth");
	jute_put_buffer(&nul, NULL, -1);
	jute_in_init(&in, nul.buf, nul.len);
	cr_assert_eq(jute_get_acl_list(&in, &l, 1024), 0);
	jute_acl_iter_init(&it, &l);
	cr_assert(jute_acl_next(&it, &a));
	cr_assert(jute_buf_eq(a.scheme, "auth"));
	cr_assert_eq(a.id.len, -1);
	jute_in_init(&in, nul.buf, nul.len - 2);
	cr_assert_eq(jute_get_acl_list(&in, &l, 1024), -EBADMSG);
	jute_out_free(&nul);
	jute_out_free(&out);
}

Test(jute_out, printf_appends_text_of_any_length)
{
	struct jute_out out;
	char path[2000];
	uint8_t fixed[8];

	jute_out_init(&out, 0);
	jute_out_printf(&out, "%s=%d\n", "a", 1);
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	/* longer than the stack buffer: formatted again straight into out */
	jute_out_printf(&out, "\t%s\n", path);
	cr_assert_eq(out.err, 0);
	cr_assert_eq(out.len, 4 + 1 + strlen(path) + 1);
	cr_assert_arr_eq(out.buf, "a=1\n\t/", 6);
	cr_assert_eq(out.buf[out.len - 1], '\n');
	cr_assert_eq(out.buf[out.len - 2], 'x');
	jute_out_free(&out);

	/* a fixed buffer that is too small records -ENOSPC */
	jute_out_init_fixed(&out, fixed, sizeof(fixed));
	jute_out_printf(&out, "%s", "0123456789");
	cr_assert_eq(out.err, -ENOSPC);
}
