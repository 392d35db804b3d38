// SPDX-License-Identifier: Apache-2.0
/*
 * net_nbr.c - neighbour (IP -> MAC) facts shared between the stacks of
 * one port.
 *
 * Why: each dataplane worker runs its own stack on its own queue, and the
 * device spreads frames over the queues by a hash of the IP addresses and
 * ports.  An ARP reply has none, so it reaches one queue (one stack)
 * only: the stack that asked for the gateway's MAC may never see the
 * answer.  So a stack that learns a neighbour from an ARP message tells
 * the others, and each applies the fact to an entry it already has (one
 * it is resolving, or one it knows): a stack still learns only what it
 * asked for or already had, so a burst of ARP traffic cannot churn the
 * other stacks' tables.
 *
 * Shape: one single-producer single-consumer ring for every ordered pair
 * of stacks (n * (n - 1) rings of NET_NBR_SLOTS facts), written by the
 * sender's thread only and read by the receiver's thread only: no lock,
 * no compare-and-swap, one release store per fact and one acquire load
 * per drain.  Bounded: a fact that finds its ring full is dropped and
 * counted (arp_share_drop); the neighbour's next ARP message, or the
 * receiver's own retried request, brings it again.
 *
 * Thread: create/destroy on one thread while no stack uses the share;
 * net_nbr_publish on stack `from`'s thread, net_nbr_drain on `to`'s.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "net_priv.h"

#define NET_NBR_SLOTS 64u /* a power of two */

struct nbr_fact {
	uint32_t ip;
	uint8_t mac[6];
};

struct nbr_ring {
	_Alignas(64) _Atomic uint32_t tail; /* written by the producer */
	_Alignas(64) _Atomic uint32_t head; /* written by the consumer */
	struct nbr_fact slot[NET_NBR_SLOTS];
};

struct net_nbr_share {
	uint32_t n;
	struct nbr_ring *rings; /* rings[from * n + to]; from == to unused */
};

int net_nbr_share_create(struct net_nbr_share **out, uint32_t nstacks)
{
	struct net_nbr_share *sh;

	if (nstacks == 0 || nstacks > 1024)
		return -EINVAL;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh->n = nstacks;
	sh->rings = aligned_alloc(64, (size_t)nstacks * nstacks * sizeof(*sh->rings));
	if (!sh->rings) {
		free(sh);
		return -ENOMEM;
	}
	memset(sh->rings, 0, (size_t)nstacks * nstacks * sizeof(*sh->rings));
	*out = sh;
	return 0;
}

void net_nbr_share_destroy(struct net_nbr_share *sh)
{
	if (!sh)
		return;
	free(sh->rings);
	free(sh);
}

uint32_t net_nbr_share_size(const struct net_nbr_share *sh)
{
	return sh->n;
}

void net_nbr_publish(struct net_nbr_share *sh, uint32_t from, uint32_t ip, const uint8_t *mac,
		     struct net_stats *st)
{
	assert(from < sh->n);
	for (uint32_t to = 0; to < sh->n; to++) {
		struct nbr_ring *r = &sh->rings[(size_t)from * sh->n + to];
		uint32_t tail, head;

		if (to == from)
			continue;
		tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		head = atomic_load_explicit(&r->head, memory_order_acquire);
		if (tail - head >= NET_NBR_SLOTS) {
			st->arp_share_drop++;
			continue;
		}
		r->slot[tail & (NET_NBR_SLOTS - 1)].ip = ip;
		memcpy(r->slot[tail & (NET_NBR_SLOTS - 1)].mac, mac, 6);
		atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
		st->arp_share_tx++;
	}
}

void net_nbr_drain(struct net_stack *s, struct net_nbr_share *sh, uint32_t to, uint64_t now)
{
	assert(to < sh->n);
	for (uint32_t from = 0; from < sh->n; from++) {
		struct nbr_ring *r = &sh->rings[(size_t)from * sh->n + to];
		uint32_t head, tail;

		if (from == to)
			continue;
		head = atomic_load_explicit(&r->head, memory_order_relaxed);
		tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head == tail)
			continue;
		assert(tail - head <= NET_NBR_SLOTS);
		for (; head != tail; head++) {
			const struct nbr_fact *f = &r->slot[head & (NET_NBR_SLOTS - 1)];

			s->stats.arp_share_rx++;
			arp_learn(s, f->ip, f->mac, false, now);
		}
		atomic_store_explicit(&r->head, head, memory_order_release);
	}
}
