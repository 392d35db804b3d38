/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-checking znode data for cheetah-bench, so that a fast server
 * returning the wrong bytes cannot win: every value written to key k is
 * a function of (k, seq), where seq counts that key's writes, and a
 * reader can tell from the bytes alone which write it is seeing and
 * whether every byte is right.
 *
 * Layout (len >= BENCH_PAYLOAD_HDR): key (u32 BE), seq (u64 BE), a 32-bit
 * check of both, then filler bytes derived from (key, seq).  Shorter
 * values carry no header: they are the first len bytes of key's
 * seq-0 value, whatever seq wrote them, and only prove the key.
 */
#ifndef CHEETAH_PERF_BENCH_PAYLOAD_H
#define CHEETAH_PERF_BENCH_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_PAYLOAD_HDR 16

/* Writes len bytes of key's value number seq into buf. */
void bench_payload_fill(uint8_t *buf, size_t len, uint32_t key, uint64_t seq);

/*
 * Checks that buf/len is a value bench_payload_fill(…, want_len, key, seq)
 * wrote for some seq, and stores that seq (0 for a value too short to
 * carry one).  Returns 0, or -EBADMSG (wrong length, key, check or filler).
 */
int bench_payload_check(const uint8_t *buf, size_t len, size_t want_len, uint32_t key,
			uint64_t *seq);

#endif
