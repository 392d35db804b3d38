/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zlib-compatible CRC-32 for the tree digest.  Why not zlib's own: the
 * digest covers every znode's path, data and Stat, three short calls per
 * znode, on every write and for every node of a snapshot load; zlib
 * 1.2.13's crc32_z took 27% of a 1M-znode load (about 0.3 s), against
 * a few percent for this code (docs/BENCHMARKS.md).
 *
 * Folding (x86-64 with PCLMULQDQ).  In a reflected CRC the first bit of
 * the message is its highest-degree coefficient, so a 16-byte block loaded
 * little-endian holds bit j as the coefficient of x^(127 - j): its low
 * quadword H covers x^127..x^64 and its high quadword L x^63..x^0.  A
 * block X followed by 16 more bytes D stands, modulo P, for
 *	X * x^128 + D = H * x^192 + L * x^128 + D
 *	             == H * (x^192 mod P) + L * (x^128 mod P) + D,
 * a polynomial of degree below 128 again, and CRCs (initial value 0) of
 * polynomials congruent modulo P are equal.  A carry-less product of two
 * reflected 64-bit operands lands one degree low in a reflected 128-bit
 * register (bit m of it is x^(126 - m)), so the constants are x^191 and
 * x^127 mod P, each a 32-bit polynomial placed in the top half of a
 * reflected quadword.  They are computed at start-up, not copied.  The
 * caller's CRC enters XORed into the first four bytes (what the table
 * algorithm does).  A tail of fewer than 16 bytes is folded in the same
 * way, after shifting (see crc32_clmul); the last 16-byte state goes
 * through the table version from 0, which computes X * x^32 mod P.
 *
 * Tables: the usual slicing-by-8 (the byte-at-a-time table, then seven
 * derived ones), as common/crc32c.c does for its polynomial.
 */
#include "crc32.h"
#include "crc_slice8.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "log.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define POLY_REFLECTED 0xedb88320u
#define POLY_NORMAL 0x04c11db7u
#define CHECK_VALUE 0xcbf43926u /* of "123456789" */
/* Shorter inputs go to the tables: folding pays from two blocks on. */
#define FOLD_MIN 32

static uint32_t crc32_table[8][256];
static pthread_once_t crc32_once = PTHREAD_ONCE_INIT;
static bool crc32_hw;
static uint64_t fold_k_lo, fold_k_hi; /* multiply H (x^191 mod P), L (x^127 mod P) */

/* Slicing-by-8 on little-endian hosts, bytewise elsewhere; crc is pre-inverted. */
static uint32_t crc32_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	return crc_slice8((const uint32_t(*)[256])crc32_table, crc, p, n);
}

/* x^e mod P, bit d holding the coefficient of x^d. */
static uint32_t xpow_mod(unsigned e)
{
	uint32_t r = 1;

	while (e--)
		r = (r << 1) ^ ((r & 0x80000000u) ? POLY_NORMAL : 0);
	return r;
}

static uint32_t reflect32(uint32_t v)
{
	uint32_t r = 0;

	for (int i = 0; i < 32; i++)
		r |= ((v >> i) & 1u) << (31 - i);
	return r;
}

#if defined(__x86_64__)
/* X * x^128 mod P, as a 128-bit reflected value (see the top of the file). */
__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold16(__m128i x, __m128i k)
{
	return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* n >= FOLD_MIN; crc pre-inverted. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_clmul(uint32_t crc, const uint8_t *p,
								     size_t n)
{
	const __m128i k = _mm_set_epi64x((long long)fold_k_hi, (long long)fold_k_lo);
	__m128i x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)crc));
	uint8_t buf[48];

	p += 16;
	n -= 16;
	while (n >= 16) {
		x = _mm_xor_si128(fold16(x, k), _mm_loadu_si128((const __m128i *)p));
		p += 16;
		n -= 16;
	}
	if (n) {
		/*
		 * A tail of t = n bytes: X followed by T is A * x^128 + C, where
		 * A is X's first t bytes (as a block with 16 - t leading zero
		 * bytes) and C is X's other 16 - t bytes followed by T.  Laid
		 * out as zeros[16] X[16] T[t], A and C are the 16 bytes at t
		 * and at 16 + t.
		 */
		memset(buf, 0, 16);
		_mm_storeu_si128((__m128i *)(buf + 16), x);
		memcpy(buf + 32, p, n);
		x = _mm_xor_si128(fold16(_mm_loadu_si128((const __m128i *)(buf + n)), k),
				  _mm_loadu_si128((const __m128i *)(buf + 16 + n)));
	}
	_mm_storeu_si128((__m128i *)buf, x);
	return crc32_sw(0, buf, 16);
}
#endif

static void crc32_init(void)
{
	crc_slice8_init(crc32_table, POLY_REFLECTED);
	fold_k_lo = (uint64_t)reflect32(xpow_mod(191)) << 32;
	fold_k_hi = (uint64_t)reflect32(xpow_mod(127)) << 32;
	if (~crc32_sw(~0u, (const uint8_t *)"123456789", 9) != CHECK_VALUE)
		log_error("crc32: the table implementation fails its self-test");
#if defined(__x86_64__)
	crc32_hw = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
	if (crc32_hw) {
		/* Against the tables at lengths that fold 1 to 5 times, odd tails too. */
		uint8_t buf[100];
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i * 131u + 7u);
		for (size_t n = FOLD_MIN; n <= sizeof(buf); n += 17)
			if (crc32_clmul(~0u, buf, n) != crc32_sw(~0u, buf, n)) {
				log_error("crc32: PCLMULQDQ folding fails its self-test; using the "
					  "table version");
				crc32_hw = false;
				break;
			}
	}
#endif
}

uint32_t crc32_ieee(uint32_t crc, const void *buf, size_t n)
{
	pthread_once(&crc32_once, crc32_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (crc32_hw && n >= FOLD_MIN)
		return ~crc32_clmul(crc, buf, n);
#endif
	return ~crc32_sw(crc, buf, n);
}

uint32_t crc32_ieee_portable(uint32_t crc, const void *buf, size_t n)
{
	pthread_once(&crc32_once, crc32_init);
	return ~crc32_sw(~crc, buf, n);
}
