/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Little-endian load and store of 16-, 32- and 64-bit fields at any byte
 * address: the byte order of Cheetah's own peer frames and on-disk records
 * that were host order (x86) before they got a documented one (replication/
 * ens_wire.h, repl_write's wire form, the snapshot meta files).  The
 * big-endian formats (jute, the transaction log, raft messages, the peer
 * transport's headers) keep their own helpers (common/jute.h, local ones).
 *
 * Why byte by byte and not memcpy of a host integer: the result is the
 * same on every host, and compilers turn these into one load or store
 * (plus a bswap on a big-endian host).  No alignment is assumed.
 *
 * Pure functions, any thread.
 */
#ifndef CHEETAH_COMMON_BYTEORDER_H
#define CHEETAH_COMMON_BYTEORDER_H

#include <stdint.h>

static inline void le_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void le_put64(uint8_t *p, uint64_t v)
{
	le_put32(p, (uint32_t)v);
	le_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t le_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le_get64(const uint8_t *p)
{
	return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

#endif
