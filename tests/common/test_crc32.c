// SPDX-License-Identifier: Apache-2.0
/*
 * CRC-32 (zlib's): the standard check value, and both implementations
 * against zlib's crc32() itself at every length up to 600 bytes and every
 * alignment, continued from arbitrary values (chaining), and on a long
 * buffer: the tree digest must stay ZooKeeper's to the bit.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <zlib.h>

#include "common/crc32.h"

Test(crc32, check_value)
{
	cr_assert_eq(crc32_ieee(0, "123456789", 9), 0xcbf43926u);
	cr_assert_eq(crc32_ieee_portable(0, "123456789", 9), 0xcbf43926u);
	cr_assert_eq(crc32_ieee(0, NULL, 0), 0);
	cr_assert_eq(crc32_ieee(0x12345678u, NULL, 0), 0x12345678u);
}

static void fill(uint8_t *buf, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

Test(crc32, equals_zlib_at_every_length_alignment_and_start)
{
	static uint8_t buf[640];
	const uint32_t starts[] = {0, 1, 0xffffffffu, 0xcbf43926u, 0x80000000u};

	fill(buf, sizeof(buf), 99);
	for (size_t off = 0; off < 16; off++)
		for (size_t n = 0; n + off <= 600; n++)
			for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
				uint32_t want = (uint32_t)crc32(starts[s], buf + off, (uInt)n);
				cr_assert_eq(crc32_ieee(starts[s], buf + off, n), want,
					     "offset %zu length %zu start %08x", off, n, starts[s]);
				cr_assert_eq(crc32_ieee_portable(starts[s], buf + off, n), want,
					     "portable: offset %zu length %zu start %08x", off, n,
					     starts[s]);
			}
}

Test(crc32, all_zero_all_one_and_long_buffers_equal_zlib)
{
	size_t n = 1u << 20;
	uint8_t *buf = malloc(n);

	cr_assert_not_null(buf);
	memset(buf, 0, n);
	cr_assert_eq(crc32_ieee(0, buf, n), (uint32_t)crc32(0, buf, (uInt)n));
	memset(buf, 0xff, n);
	cr_assert_eq(crc32_ieee(0, buf, n), (uint32_t)crc32(0, buf, (uInt)n));
	fill(buf, n, 7);
	cr_assert_eq(crc32_ieee(0, buf, n), (uint32_t)crc32(0, buf, (uInt)n));
	/* Chaining across a cut at every position near a block boundary. */
	for (size_t cut = 0; cut < 70; cut++)
		cr_assert_eq(crc32_ieee(crc32_ieee(0, buf, cut), buf + cut, 1000 - cut),
			     (uint32_t)crc32(0, buf, 1000), "cut %zu", cut);
	free(buf);
}
