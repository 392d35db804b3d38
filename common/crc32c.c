// SPDX-License-Identifier: Apache-2.0
/*
 * A portable table-driven CRC32C (one table lookup per byte).  The table
 * is a constant computed once (pthread_once), so the function is safe
 * from any thread.  tree/snapshot.c has its own hardware-accelerated copy;
 * folding the two together is left to whoever owns both.
 */
#include <pthread.h>

#include "common/crc32c.h"

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[i] = c;
	}
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&table_once, table_init);
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
