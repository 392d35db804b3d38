// SPDX-License-Identifier: Apache-2.0
/*
 * SPSC ring: order, capacity, wrap-around, and a producer/consumer pair
 * moving two million sequence numbers with no loss or reordering.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>

#include "common/ring.h"
#include "tests/common/leakcheck.h"

struct msg {
	uint64_t seq;
	uint64_t check;
};

Test(ring, rejects_bad_sizes)
{
	struct ring r;

	cr_assert_eq(ring_init(&r, 3, 8), -EINVAL);
	cr_assert_eq(ring_init(&r, 1, 8), -EINVAL);
	cr_assert_eq(ring_init(&r, 4, 0), -EINVAL);
}

Test(ring, holds_exactly_its_capacity_and_keeps_order_across_wraps)
{
	struct ring r;
	struct msg m[16];
	uint64_t next_in = 0, next_out = 0;

	cr_assert_eq(ring_init(&r, 8, sizeof(struct msg)), 0);
	for (int round = 0; round < 100; round++) {
		/* Top up: exactly the free room goes in, the rest is refused. */
		uint32_t room = 8 - ring_count(&r);
		for (int i = 0; i < 16; i++)
			m[i] = (struct msg){ next_in + (uint64_t)i, ~(next_in + (uint64_t)i) };
		cr_assert_eq(ring_push_burst(&r, m, 16), room);
		next_in += room;
		cr_assert_eq(ring_count(&r), 8);
		cr_assert_not(ring_push(&r, &m[0]));

		uint32_t take = (uint32_t)(round % 8) + 1;
		cr_assert_eq(ring_pop_burst(&r, m, take), take);
		for (uint32_t i = 0; i < take; i++, next_out++) {
			cr_assert_eq(m[i].seq, next_out);
			cr_assert_eq(m[i].check, ~next_out);
		}
	}
	while (ring_pop(&r, m))
		cr_assert_eq(m[0].seq, next_out++);
	cr_assert_eq(next_out, next_in);
	cr_assert_eq(ring_pop_burst(&r, m, 4), 0);
	ring_fini(&r);
	test_assert_no_leaks();
}

#define TRANSFER 2000000u

static void *producer(void *arg)
{
	struct ring *r = arg;
	struct msg batch[7];
	uint64_t seq = 0;

	while (seq < TRANSFER) {
		uint32_t n = 0;
		while (n < 7 && seq + n < TRANSFER) {
			batch[n] = (struct msg){ seq + n, (seq + n) * 2654435761u };
			n++;
		}
		uint32_t pushed = ring_push_burst(r, batch, n);
		seq += pushed; /* unpushed ones are rebuilt next round */
	}
	return NULL;
}

Test(ring, producer_and_consumer_threads_lose_and_reorder_nothing, .timeout = 120)
{
	struct ring r;
	pthread_t th;
	struct msg m[5];
	uint64_t expect = 0;

	cr_assert_eq(ring_init(&r, 64, sizeof(struct msg)), 0);
	cr_assert_eq(pthread_create(&th, NULL, producer, &r), 0);
	while (expect < TRANSFER) {
		uint32_t n = ring_pop_burst(&r, m, 5);
		for (uint32_t i = 0; i < n; i++, expect++) {
			if (m[i].seq != expect || m[i].check != expect * 2654435761u)
				cr_assert_fail("got %lu, expected %lu", (unsigned long)m[i].seq,
					 (unsigned long)expect);
		}
	}
	pthread_join(th, NULL);
	cr_assert_eq(ring_count(&r), 0);
	ring_fini(&r);
	test_assert_no_leaks();
}
