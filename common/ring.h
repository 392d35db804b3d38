/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded single-producer single-consumer ring of fixed-size messages:
 * the only way state crosses between cores (dataplane worker <-> broadcast
 * core).  Messages are copied in and out by value; anything larger travels
 * as a pointer inside the message and belongs to the consumer once popped.
 *
 * Concurrency: exactly one producer thread calls ring_push*, exactly one
 * consumer thread calls ring_pop*; no locks, no syscalls.  Head and tail
 * live on separate cache lines and each side caches the other's index, so
 * a burst costs one shared-line read per side (the Lamport/FastForward
 * scheme DPDK's rte_ring SP/SC mode uses; rte_ring itself needs the EAL,
 * which the kernel-socket backend must not).
 */
#ifndef CHEETAH_COMMON_RING_H
#define CHEETAH_COMMON_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define RING_CACHE_LINE 64

struct ring {
	/* producer side */
	uint32_t head __attribute__((aligned(RING_CACHE_LINE)));
	uint32_t tail_cache;
	/* consumer side */
	uint32_t tail __attribute__((aligned(RING_CACHE_LINE)));
	uint32_t head_cache;
	/* read-only after init */
	uint32_t mask __attribute__((aligned(RING_CACHE_LINE)));
	uint32_t esize;
	uint8_t *slots;
};

/*
 * Sets up a ring for count messages (a power of two, >= 2) of esize bytes.
 * Returns 0, -EINVAL or -ENOMEM.  ring_fini frees it; neither side may use
 * it any more.
 */
int ring_init(struct ring *r, uint32_t count, uint32_t esize);
void ring_fini(struct ring *r);

/* Producer: copies up to n messages in; returns how many fitted. */
static inline uint32_t ring_push_burst(struct ring *r, const void *msgs, uint32_t n)
{
	uint32_t head = r->head;
	uint32_t room = r->mask + 1 - (head - r->tail_cache);

	if (room < n) {
		r->tail_cache = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		room = r->mask + 1 - (head - r->tail_cache);
		if (room < n)
			n = room;
	}
	for (uint32_t i = 0; i < n; i++)
		memcpy(r->slots + (size_t)((head + i) & r->mask) * r->esize,
		       (const uint8_t *)msgs + (size_t)i * r->esize, r->esize);
	__atomic_store_n(&r->head, head + n, __ATOMIC_RELEASE);
	return n;
}

static inline bool ring_push(struct ring *r, const void *msg)
{
	return ring_push_burst(r, msg, 1) == 1;
}

/* Consumer: copies up to n messages out; returns how many. */
static inline uint32_t ring_pop_burst(struct ring *r, void *msgs, uint32_t n)
{
	uint32_t tail = r->tail;
	uint32_t avail = r->head_cache - tail;

	if (avail < n) {
		r->head_cache = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		avail = r->head_cache - tail;
		if (avail < n)
			n = avail;
	}
	for (uint32_t i = 0; i < n; i++)
		memcpy((uint8_t *)msgs + (size_t)i * r->esize,
		       r->slots + (size_t)((tail + i) & r->mask) * r->esize, r->esize);
	__atomic_store_n(&r->tail, tail + n, __ATOMIC_RELEASE);
	return n;
}

static inline bool ring_pop(struct ring *r, void *msg)
{
	return ring_pop_burst(r, msg, 1) == 1;
}

/* Either side: messages waiting (exact for the consumer, a bound otherwise). */
static inline uint32_t ring_count(const struct ring *r)
{
	return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) -
	       __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
}

#endif
