/* SPDX-License-Identifier: Apache-2.0 */
#include "perf/bench_payload.h"

#include <errno.h>
#include <string.h>

#include "common/jute.h"

/* splitmix64: every (key, seq) gets its own well-mixed stream. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t seed_of(uint32_t key, uint64_t seq)
{
	return mix(((uint64_t)key << 40) ^ seq ^ mix(key));
}

static void fill_from(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			seed = mix(seed);
		p[i] = (uint8_t)(seed >> (i % 8 * 8));
	}
}

void bench_payload_fill(uint8_t *buf, size_t len, uint32_t key, uint64_t seq)
{
	if (len < BENCH_PAYLOAD_HDR) {
		fill_from(buf, len, seed_of(key, 0));
		return;
	}
	uint64_t seed = seed_of(key, seq);

	jute_put_be32(buf, key);
	jute_put_be64(buf + 4, seq);
	jute_put_be32(buf + 12, (uint32_t)seed);
	fill_from(buf + BENCH_PAYLOAD_HDR, len - BENCH_PAYLOAD_HDR, seed);
}

int bench_payload_check(const uint8_t *buf, size_t len, size_t want_len, uint32_t key,
			uint64_t *seq)
{
	uint8_t expect[BENCH_PAYLOAD_HDR];

	if (len != want_len)
		return -EBADMSG;
	if (len < BENCH_PAYLOAD_HDR) {
		fill_from(expect, len, seed_of(key, 0));
		*seq = 0;
		return memcmp(buf, expect, len) == 0 ? 0 : -EBADMSG;
	}
	uint64_t s = jute_be64(buf + 4);
	uint64_t seed = seed_of(key, s);

	if (jute_be32(buf) != key || jute_be32(buf + 12) != (uint32_t)seed)
		return -EBADMSG;
	/* The filler, eight bytes of the stream at a time. */
	const uint8_t *p = buf + BENCH_PAYLOAD_HDR;
	size_t n = len - BENCH_PAYLOAD_HDR;
	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			seed = mix(seed);
		if (p[i] != (uint8_t)(seed >> (i % 8 * 8)))
			return -EBADMSG;
	}
	*seq = s;
	return 0;
}
