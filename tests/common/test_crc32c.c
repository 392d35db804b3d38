// SPDX-License-Identifier: Apache-2.0
/*
 * CRC-32C: the standard check value, the iSCSI test vectors (RFC 3720
 * B.4), chaining (crc of a||b from crc of a), and the hardware path
 * against the portable one at every length and alignment up to 300 bytes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/crc32c.h"

Test(crc32c, check_value_and_rfc3720_vectors)
{
	uint8_t buf[32];

	cr_assert_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(crc32c_portable(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(crc32c(0, NULL, 0), 0);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(crc32c(0, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	cr_assert_eq(crc32c(0, buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	cr_assert_eq(crc32c(0, buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	cr_assert_eq(crc32c(0, buf, 32), 0x113fdb5cu);
}

Test(crc32c, chains_like_zlib_crc32)
{
	const char *s = "the quick brown fox jumps over the lazy dog";
	size_t n = strlen(s);

	for (size_t cut = 0; cut <= n; cut++) {
		cr_assert_eq(crc32c(crc32c(0, s, cut), s + cut, n - cut), crc32c(0, s, n));
		cr_assert_eq(crc32c_portable(crc32c_portable(0, s, cut), s + cut, n - cut),
			     crc32c(0, s, n));
	}
}

Test(crc32c, hardware_matches_portable_at_every_length_and_alignment)
{
	uint8_t buf[320];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n + off <= 300; n++)
			cr_assert_eq(crc32c(7, buf + off, n), crc32c_portable(7, buf + off, n),
				     "offset %zu length %zu", off, n);
}
