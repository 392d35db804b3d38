/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A znode's czxid and ctime in 8 bytes instead of 16 (issue 13 part 2).
 *
 * Why: the two are immutable and close to those of many other znodes:
 * nodes created within the same 2^24 zxids and the same 2^24 ms (4.66 h)
 * share the high bits of both.  A process-wide table of such bases
 * (STAMP_BASES entries of 16 bytes) lets a node keep a 16-bit base index
 * and two 24-bit offsets: czxid = base.zxid + dz, ctime = base.time + dt,
 * exactly (two's complement: a base is the value with its low 24 bits
 * cleared, so negative values and INT64_MIN/MAX encode too).  At 1M
 * znodes of 100 bytes that is 8 bytes a node (184 -> 176 bytes with
 * nslab's 8-byte granularity).
 *
 * Invariants: an entry, once written, never changes and is never freed
 * (a node refers to it for its whole life, and readers decode with no
 * lock); index STAMP_WIDE means "not encoded": the node carries the two
 * full values in a 16-byte prefix (tree_priv.h), which is what happens
 * when the table is full.  A fresh table fills at about one entry per
 * 4.66 h of wall clock or 16.7M transactions (whichever comes first):
 * 42 days at a steady 300k writes/s, years at ordinary rates; then new
 * nodes go wide (as before stamps) until a restart rebuilds the table
 * from the live nodes.
 *
 * Threads: stamp_encode (inline, tree_priv.h) takes a mutex only on a
 * miss of its thread's cache of the last base (every tree of the process
 * shares the table: tests run several replicas in one process); decoding
 * is lock-free from any thread: the entry is written before the node that
 * refers to it is published (rcu_assign_pointer's release), and the
 * reader reaches it through the node.
 */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>

#include "tree_priv.h"

struct stamp_base stamp_bases[STAMP_BASES];

/* Writer side: (zxid base, time base) -> index + 1, open addressing. */
#define MAP_SLOTS (1u << 17) /* > 2 x STAMP_BASES: probes stay short */
static uint16_t map[MAP_SLOTS];
static uint32_t nbases;
static uint32_t limit = STAMP_BASES;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

__thread struct stamp_cache stamp_cache;

static inline uint64_t pack(uint32_t idx, int64_t czxid, int64_t ctime, const struct stamp_base *b)
{
	uint64_t dz = (uint64_t)czxid - (uint64_t)b->zxid;
	uint64_t dt = (uint64_t)ctime - (uint64_t)b->time;

	assert(idx < STAMP_WIDE && dz <= STAMP_MASK && dt <= STAMP_MASK);
	return (uint64_t)idx << 48 | dz << 24 | dt;
}

static inline uint32_t slot_of(int64_t zb, int64_t tb)
{
	uint64_t h = ((uint64_t)zb >> 24) * 0x9e3779b97f4a7c15ull ^
		     ((uint64_t)tb >> 24) * 0xc2b2ae3d27d4eb4full;

	return (uint32_t)(h >> 47) & (MAP_SLOTS - 1);
}

uint64_t stamp_encode_slow(int64_t czxid, int64_t ctime)
{
	int64_t zb = (int64_t)((uint64_t)czxid & ~(uint64_t)STAMP_MASK);
	int64_t tb = (int64_t)((uint64_t)ctime & ~(uint64_t)STAMP_MASK);
	uint32_t s, idx = 0;

	pthread_mutex_lock(&lock);
	for (s = slot_of(zb, tb);; s = (s + 1) & (MAP_SLOTS - 1)) {
		const struct stamp_base *b;

		if (!map[s])
			break;
		b = &stamp_bases[map[s] - 1];
		if (b->zxid == zb && b->time == tb) {
			idx = map[s];
			break;
		}
	}
	if (!idx && nbases < limit) {
		stamp_bases[nbases] = (struct stamp_base){.zxid = zb, .time = tb};
		idx = map[s] = (uint16_t)++nbases;
	}
	pthread_mutex_unlock(&lock);
	if (!idx)
		return STAMP_WIDE_VALUE;
	stamp_cache = (struct stamp_cache){
	    .zxid = zb, .time = tb, .hi = (uint64_t)(idx - 1) << 48, .ok = true};
	return pack(idx - 1, czxid, ctime, &stamp_bases[idx - 1]);
}

uint32_t stamp_bases_used(void)
{
	uint32_t n;

	pthread_mutex_lock(&lock);
	n = nbases;
	pthread_mutex_unlock(&lock);
	return n;
}

void stamp_set_limit(uint32_t n)
{
	assert(n <= STAMP_BASES);
	pthread_mutex_lock(&lock);
	limit = n;
	pthread_mutex_unlock(&lock);
}
