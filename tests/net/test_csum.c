// SPDX-License-Identifier: Apache-2.0
/*
 * test_csum.c - the Internet checksum (net_csum_partial, net_csum; RFC
 * 1071) against a plain reference that sums big-endian 16-bit words one
 * at a time: every length 0..1600 at every start offset 0..7 (the word
 * loop, the 8- and 16-byte steps, the 4-, 2- and 1-byte tails and
 * unaligned loads), random bytes, all-0xff bytes (the end-around carry at
 * its worst), and initial sums 0, 1, 0xffff and 0xffffffff.  The stack's
 * own tests check frames with net_csum too, so a wrong checksum would pass
 * them both ways: this is the check that does not.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "dataplane/net/net.h"
#include "dataplane/net/net_priv.h"

static uint32_t ref_partial(const uint8_t *p, size_t len, uint32_t sum)
{
	uint64_t acc = sum;

	for (; len >= 2; p += 2, len -= 2)
		acc += (uint32_t)((p[0] << 8) | p[1]);
	if (len)
		acc += (uint32_t)(p[0] << 8);
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint8_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)rng;
}

static void check_all(const uint8_t *buf)
{
	static const uint32_t sums[] = {0, 1, 0xffff, 0x1234, 0xffffffffu};

	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 1600; len++)
			for (size_t s = 0; s < sizeof(sums) / sizeof(sums[0]); s++) {
				uint32_t want = ref_partial(buf + off, len, sums[s]);
				uint32_t got = net_csum_partial(buf + off, len, sums[s]);

				cr_assert_eq(got, want, "off %zu len %zu sum %#x: %#x, want %#x",
					     off, len, sums[s], got, want);
				cr_assert_eq(net_csum(buf + off, len, sums[s]), (uint16_t)~want);
			}
}

Test(net_csum, random_bytes_every_length_and_offset)
{
	static uint8_t buf[1616];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rnd();
	check_all(buf);
}

Test(net_csum, all_ones_and_all_zeros)
{
	static uint8_t buf[1616];

	memset(buf, 0xff, sizeof(buf));
	check_all(buf);
	memset(buf, 0, sizeof(buf));
	check_all(buf);
	cr_assert_eq(net_csum_partial(buf, 100, 0), 0);
}

/* A header whose checksum field holds its checksum sums to 0xffff. */
Test(net_csum, verifies_to_zero)
{
	uint8_t h[20] = {0x45, 0, 0,  0x54, 0x12, 0x34, 0x40, 0, 0x40, 6,
			 0,    0, 10, 0,    0,	  1,	10,   0, 0,    2};
	uint16_t c = net_csum(h, 20, 0);

	h[10] = (uint8_t)(c >> 8);
	h[11] = (uint8_t)c;
	cr_assert_eq(net_csum(h, 20, 0), 0);
	/* and in two pieces split at a word boundary (the pseudo-header way) */
	cr_assert_eq(net_csum(h + 6, 14, net_csum_partial(h, 6, 0)), 0);
}

/* ip_pseudo_sum in registers equals the sum over the 12 bytes it stands for. */
Test(net_csum, pseudo_header_sum)
{
	for (int i = 0; i < 200000; i++) {
		uint32_t src = (uint32_t)rnd() << 24 | (uint32_t)rnd() << 16 | rnd() << 8 | rnd();
		uint32_t dst = i & 1 ? 0xffffffffu : (uint32_t)rnd() << 24 | rnd();
		uint8_t proto = i % 3 ? 6 : rnd();
		uint16_t len = (uint16_t)(i % 7 ? rnd() << 8 | rnd() : 0xffff);
		uint8_t ph[12] = {(uint8_t)(src >> 24),
				  (uint8_t)(src >> 16),
				  (uint8_t)(src >> 8),
				  (uint8_t)src,
				  (uint8_t)(dst >> 24),
				  (uint8_t)(dst >> 16),
				  (uint8_t)(dst >> 8),
				  (uint8_t)dst,
				  0,
				  proto,
				  (uint8_t)(len >> 8),
				  (uint8_t)len};

		cr_assert_eq(ip_pseudo_sum(src, dst, proto, len), ref_partial(ph, 12, 0),
			     "%#x %#x %u %u", src, dst, proto, len);
	}
	cr_assert_eq(ip_pseudo_sum(0, 0, 0, 0), 0);
}
