/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <errno.h>

#include "perf/bench_payload.h"

Test(bench_payload, a_value_checks_and_tells_its_write)
{
	uint8_t buf[100];
	uint64_t seq = 0;

	bench_payload_fill(buf, sizeof(buf), 42, 7);
	cr_assert_eq(bench_payload_check(buf, sizeof(buf), sizeof(buf), 42, &seq), 0);
	cr_assert_eq(seq, 7);
}

Test(bench_payload, any_flipped_byte_is_caught)
{
	uint8_t buf[100];
	uint64_t seq;

	bench_payload_fill(buf, sizeof(buf), 3, 11);
	for (size_t i = 0; i < sizeof(buf); i++) {
		buf[i] ^= 0x10;
		cr_assert_eq(bench_payload_check(buf, sizeof(buf), sizeof(buf), 3, &seq), -EBADMSG,
			     "byte %zu", i);
		buf[i] ^= 0x10;
	}
}

Test(bench_payload, another_keys_value_or_length_is_wrong)
{
	uint8_t buf[64];
	uint64_t seq;

	bench_payload_fill(buf, sizeof(buf), 1, 1);
	cr_assert_eq(bench_payload_check(buf, sizeof(buf), sizeof(buf), 2, &seq), -EBADMSG);
	cr_assert_eq(bench_payload_check(buf, sizeof(buf) - 1, sizeof(buf), 1, &seq), -EBADMSG);
}

Test(bench_payload, short_values_prove_the_key_only)
{
	uint8_t a[8], b[8];
	uint64_t seq = 99;

	bench_payload_fill(a, sizeof(a), 5, 1);
	bench_payload_fill(b, sizeof(b), 5, 2);
	cr_assert_arr_eq(a, b, sizeof(a));
	cr_assert_eq(bench_payload_check(a, sizeof(a), sizeof(a), 5, &seq), 0);
	cr_assert_eq(seq, 0);
	cr_assert_eq(bench_payload_check(a, sizeof(a), sizeof(a), 6, &seq), -EBADMSG);
	cr_assert_eq(bench_payload_check(a, 0, 0, 6, &seq), 0);
}
