/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc_slice8.h - the table-driven software CRC that crc32.c (zlib's
 * CRC-32) and crc32c.c (Castagnoli) share: eight 256-entry tables for a
 * reflected polynomial, and slicing-by-8 over them (bytewise on
 * big-endian hosts).  Private to common/; each file keeps its own tables
 * and its hardware path.  static inline, so each caller's table is a
 * constant address and the loop compiles as before.
 *
 * THREADS: crc_slice8_init writes the tables (call once, as under
 * pthread_once); crc_slice8 only reads them, from any thread.
 */
#ifndef CHEETAH_COMMON_CRC_SLICE8_H
#define CHEETAH_COMMON_CRC_SLICE8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Fills t for the reflected polynomial poly (0xedb88320: CRC-32, 0x82f63b78: CRC-32C). */
static inline void crc_slice8_init(uint32_t t[8][256], uint32_t poly)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
		t[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int s = 1; s < 8; s++)
			t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
}

/* crc (pre-inverted) over p[0..n) with tables t: slicing-by-8 on little-endian hosts. */
static inline uint32_t crc_slice8(const uint32_t t[8][256], uint32_t crc, const uint8_t *p,
				  size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		uint32_t lo = (uint32_t)w ^ crc, hi = (uint32_t)(w >> 32);
		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
		      t[4][lo >> 24] ^ t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
		      t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
		p += 8;
		n -= 8;
	}
#endif
	while (n--)
		crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#endif
