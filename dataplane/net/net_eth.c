// SPDX-License-Identifier: Apache-2.0
/*
 * net_eth.c - Ethernet II framing and ARP (RFC 826, RFC 5227 2.4 for the
 * gratuitous announcement).
 *
 * Why: the stack sits on a raw port, so it has to answer "who has my
 * address" and to find the hardware address of every next hop itself.
 *
 * The ARP cache is a fixed table of ARP_TABLE_SIZE entries (no malloc):
 *  - VALID entries expire after cfg.arp_ttl_us;
 *  - PENDING entries hold at most ARP_QUEUE_MAX frames waiting for the
 *    reply (lwIP's etharp queue); the request is repeated every
 *    ARP_RETRY_US, ARP_MAX_TRIES times, then the entry and its frames are
 *    dropped (counted);
 *  - when the table is full the oldest VALID entry is replaced.
 * Learning (RFC 826 "merge"): a sender already in the table is refreshed;
 * a new entry is made only when the packet is addressed to us, or (lwIP's
 * "trust IP MAC") when an IPv4 frame arrives from an on-link sender.
 * What an ARP message teaches goes to the port's other stacks too
 * (net_nbr.c: an ARP reply reaches one queue only), which apply it to the
 * entries they have.  With the exception path on, every ARP frame
 * received is also copied to it (the kernel behind it keeps its own
 * neighbour table).
 *
 * Thread: the stack's owner.
 */
#include "net_priv.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static bool on_link(const struct net_stack *s, uint32_t ip)
{
	return ((ip ^ s->cfg.ip) & s->cfg.netmask) == 0;
}

static struct arp_entry *arp_find(struct net_stack *s, uint32_t ip)
{
	for (uint32_t i = 0; i < ARP_TABLE_SIZE; i++)
		if (s->arp[i].state != ARP_FREE && s->arp[i].ip == ip)
			return &s->arp[i];
	return NULL;
}

static void arp_drop_queue(struct net_stack *s, struct arp_entry *e)
{
	while (e->q) {
		struct net_pkt *p = e->q;

		e->q = p->next;
		s->stats.arp_queue_drop++;
		net_pkt_free(&s->pool, p);
	}
	e->qlen = 0;
}

static struct arp_entry *arp_new(struct net_stack *s)
{
	struct arp_entry *victim = NULL;

	for (uint32_t i = 0; i < ARP_TABLE_SIZE; i++) {
		struct arp_entry *e = &s->arp[i];

		if (e->state == ARP_FREE)
			return e;
		if (e->state == ARP_VALID && (!victim || e->expire_us < victim->expire_us))
			victim = e;
	}
	if (!victim) /* all pending: reuse the first */
		victim = &s->arp[0];
	arp_drop_queue(s, victim);
	memset(victim, 0, sizeof(*victim));
	return victim;
}

static void fill_eth(struct net_stack *s, struct net_pkt *pkt, const uint8_t *dst, uint16_t type)
{
	memcpy(pkt->data, dst, 6);
	memcpy(pkt->data + 6, s->cfg.mac, 6);
	put16(pkt->data + 12, type);
}

void arp_send(struct net_stack *s, uint16_t op, const uint8_t *tha, uint32_t tpa, uint64_t now)
{
	struct net_pkt *pkt = net_pkt_alloc(&s->pool);
	uint8_t *a;

	(void)now;
	if (!pkt) {
		s->stats.rx_nobuf++;
		return;
	}
	fill_eth(s, pkt, op == 1 ? bcast : tha, ETH_P_ARP);
	a = pkt->data + ETH_HLEN;
	put16(a, 1); /* Ethernet */
	put16(a + 2, ETH_P_IPV4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, s->cfg.mac, 6);
	put32(a + 14, s->cfg.ip);
	memcpy(a + 18, tha, 6);
	put32(a + 24, tpa);
	pkt->len = ETH_HLEN + 28;
	/* pad to the Ethernet minimum of 60 bytes without FCS */
	memset(pkt->data + pkt->len, 0, 60 - pkt->len);
	pkt->len = 60;
	s->stats.arp_tx++;
	net_txq_push(s, pkt);
}

/* Sets an entry's deadline; arp_hint stays a lower bound of them all. */
static void arp_arm(struct net_stack *s, struct arp_entry *e, uint64_t when)
{
	e->expire_us = when;
	if (when < s->arp_hint)
		s->arp_hint = when;
}

bool arp_learn(struct net_stack *s, uint32_t ip, const uint8_t *mac, bool create, uint64_t now)
{
	struct arp_entry *e;

	if (ip == 0 || ip == s->cfg.ip || (mac[0] & 1))
		return false;
	e = arp_find(s, ip);
	if (!e) {
		if (!create)
			return false;
		e = arp_new(s);
		e->ip = ip;
	}
	memcpy(e->mac, mac, 6);
	e->state = ARP_VALID;
	arp_arm(s, e, now + s->cfg.arp_ttl_us);
	e->tries = 0;
	/* release what waited for this address, in order */
	while (e->q) {
		struct net_pkt *p = e->q;

		e->q = p->next;
		p->next = NULL;
		memcpy(p->data, mac, 6);
		net_txq_push(s, p);
	}
	e->qlen = 0;
	return true;
}

static void arp_input(struct net_stack *s, struct net_pkt *pkt, uint64_t now)
{
	const uint8_t *a = pkt->data + ETH_HLEN;
	uint32_t spa, tpa;
	uint16_t op;
	bool for_us;

	s->stats.arp_rx++;
	if (pkt->len < ETH_HLEN + 28 || get16(a) != 1 || get16(a + 2) != ETH_P_IPV4 || a[4] != 6 ||
	    a[5] != 4) {
		s->stats.arp_drop++;
		goto out;
	}
	op = get16(a + 6);
	spa = get32(a + 14);
	tpa = get32(a + 24);
	for_us = tpa == s->cfg.ip;
	if (spa == s->cfg.ip) { /* someone else claims our address */
		s->stats.arp_drop++;
		goto out;
	}
	/* what this stack learns, the other stacks of the port learn too */
	if (arp_learn(s, spa, a + 8, for_us, now) && s->cfg.share)
		net_nbr_publish(s->cfg.share, s->cfg.share_id, spa, a + 8, &s->stats);
	if (op == 1 && for_us)
		arp_send(s, 2, a + 8, spa, now);
	else if (op != 1 && op != 2)
		s->stats.arp_drop++;
out:
	net_pkt_free(&s->pool, pkt);
}

void eth_input(struct net_stack *s, struct net_pkt *pkt, uint64_t now)
{
	const uint8_t *d = pkt->data;

	if (pkt->len < ETH_HLEN || (memcmp(d, s->cfg.mac, 6) != 0 && memcmp(d, bcast, 6) != 0)) {
		s->stats.eth_drop++;
		net_pkt_free(&s->pool, pkt);
		return;
	}
	switch (get16(d + 12)) {
	case ETH_P_ARP:
		/* the kernel behind the exception path resolves its peers too */
		if (s->cfg.exception) {
			if (s->cfg.exception(s->cfg.exception_arg, pkt->data, pkt->len) == 0)
				s->stats.exc_fwd++;
			else
				s->stats.exc_drop++;
		}
		arp_input(s, pkt, now);
		break;
	case ETH_P_IPV4:
		ip_input(s, pkt, now);
		break;
	default:
		s->stats.eth_drop++;
		net_pkt_free(&s->pool, pkt);
	}
}

void eth_output_ip(struct net_stack *s, struct net_pkt *pkt, uint32_t dst, uint64_t now)
{
	uint32_t hop = dst;
	struct arp_entry *e;

	assert(pkt->len >= NET_L4_OFF);
	if (!on_link(s, dst)) {
		if (!s->cfg.gateway) {
			s->stats.tx_drop++;
			net_pkt_free(&s->pool, pkt);
			return;
		}
		hop = s->cfg.gateway;
	}
	fill_eth(s, pkt, bcast, ETH_P_IPV4);
	if (hop == 0xffffffffu) {
		net_txq_push(s, pkt);
		return;
	}
	e = arp_find(s, hop);
	if (e && e->state == ARP_VALID && e->expire_us > now) {
		memcpy(pkt->data, e->mac, 6);
		net_txq_push(s, pkt);
		return;
	}
	if (!e || e->state == ARP_VALID) { /* unknown or expired */
		if (!e) {
			e = arp_new(s);
			e->ip = hop;
		}
		e->state = ARP_PENDING;
		e->tries = 1;
		arp_arm(s, e, now + ARP_RETRY_US);
		arp_send(s, 1, (const uint8_t[6]){0}, hop, now);
	}
	if (e->qlen >= ARP_QUEUE_MAX) {
		s->stats.arp_queue_drop++;
		net_pkt_free(&s->pool, pkt);
		return;
	}
	pkt->next = NULL;
	if (!e->q) {
		e->q = pkt;
	} else {
		struct net_pkt *t = e->q;

		while (t->next)
			t = t->next;
		t->next = pkt;
	}
	e->qlen++;
}

void arp_timers(struct net_stack *s, uint64_t now)
{
	uint64_t hint = UINT64_MAX;

	/* every poll comes here: scan the table only when an entry is due */
	if (now < s->arp_hint)
		return;
	for (uint32_t i = 0; i < ARP_TABLE_SIZE; i++) {
		struct arp_entry *e = &s->arp[i];

		if (e->state == ARP_FREE)
			continue;
		if (e->expire_us > now) {
			if (e->expire_us < hint)
				hint = e->expire_us;
			continue;
		}
		if (e->state == ARP_VALID || e->tries >= ARP_MAX_TRIES) {
			arp_drop_queue(s, e);
			memset(e, 0, sizeof(*e));
			continue;
		}
		e->tries++;
		e->expire_us = now + ARP_RETRY_US;
		if (e->expire_us < hint)
			hint = e->expire_us;
		arp_send(s, 1, (const uint8_t[6]){0}, e->ip, now);
	}
	s->arp_hint = hint;
}

uint64_t arp_next_timer(const struct net_stack *s)
{
	return s->arp_hint; /* a lower bound: at worst an early wake-up */
}

void arp_flush_all(struct net_stack *s)
{
	for (uint32_t i = 0; i < ARP_TABLE_SIZE; i++) {
		arp_drop_queue(s, &s->arp[i]);
		memset(&s->arp[i], 0, sizeof(s->arp[i]));
	}
}
