// SPDX-License-Identifier: Apache-2.0
/*
 * net_stack.c - the stack's life cycle, its poll loop, the packet pool,
 * the transmit queue and the in-memory device.
 *
 * Why this shape: the stack is a state machine (STYLE.md, etcd raft):
 * frames and the time go in through net_poll()/net_input(), frames come
 * out through the port's tx_burst.  It owns no thread and reads no clock,
 * so the same code runs on a DPDK core, in unit tests that script
 * segments, and in a simulator that connects two stacks by a lossy wire.
 *
 * Memory: one pool of fixed-size buffers per stack, allocated at create
 * time; alloc/free are a free-list pop/push with counters (lwIP memp), so
 * a test can assert that every buffer came back.  Output frames are
 * gathered in txq (bounded) and handed to the port in bursts by
 * net_flush(); when txq is full it is flushed early.
 *
 * Thread: everything here runs on the thread that owns the stack.
 */
#include <stdlib.h>

#include "net_priv.h"

/* ------------------------------------------------------------------ */
/* Sizing (net.h: net_size_for)                                        */

int net_size_for(uint32_t max_conns, struct net_size *out)
{
	uint64_t pool;

	if (max_conns == 0 || max_conns > NET_SIZE_MAX_CONNS)
		return -EINVAL;
	out->max_socks = max_conns + max_conns / 4 + 16;
	pool = (uint64_t)max_conns / 2 + 4096;
	if (pool < NET_SIZE_POOL_MIN)
		pool = NET_SIZE_POOL_MIN;
	if (pool > 65535)
		pool = 65535;
	out->pool_size = (uint32_t)pool;
	out->bytes = (uint64_t)out->max_socks * (sizeof(struct net_sock) + sizeof(void *)) +
		     pool * sizeof(struct net_pkt);
	assert(out->max_socks > max_conns && out->pool_size >= NET_SIZE_POOL_MIN);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pool                                                                */

int net_pool_init(struct net_pool *p, uint32_t n)
{
	memset(p, 0, sizeof(*p));
	if (n == 0 || n > 65535)
		return -EINVAL;
	p->bufs = calloc(n, sizeof(*p->bufs));
	if (!p->bufs)
		return -ENOMEM;
	p->size = n;
	for (uint32_t i = n; i-- > 0;) {
		p->bufs[i].pool_idx = (uint16_t)i;
		p->bufs[i].next = p->free;
		p->free = &p->bufs[i];
	}
	return 0;
}

void net_pool_fini(struct net_pool *p)
{
	assert(p->in_use == 0);
	free(p->bufs);
	memset(p, 0, sizeof(*p));
}

struct net_pkt *net_pkt_alloc(struct net_pool *p)
{
	struct net_pkt *pkt = p->free;

	if (!pkt) {
		p->alloc_fail++;
		return NULL;
	}
	p->free = pkt->next;
	pkt->next = NULL;
	pkt->frag = NULL;
	pkt->len = 0;
	pkt->tso_segsz = 0;
	pkt->flags = 0;
	p->in_use++;
	p->allocs++;
	assert(p->in_use <= p->size);
	return pkt;
}

void net_pkt_free(struct net_pool *p, struct net_pkt *pkt)
{
	while (pkt) {
		struct net_pkt *frag = pkt->frag;

		assert(pkt >= p->bufs && pkt < p->bufs + p->size);
		assert(&p->bufs[pkt->pool_idx] == pkt);
		assert(p->in_use > 0);
		pkt->frag = NULL;
		pkt->next = p->free;
		p->free = pkt;
		p->in_use--;
		p->frees++;
		pkt = frag;
	}
}

uint32_t net_pkt_chain_len(const struct net_pkt *pkt)
{
	uint32_t n = 0;

	for (; pkt; pkt = pkt->frag)
		n += pkt->len;
	return n;
}

uint32_t net_pkt_chain_bufs(const struct net_pkt *pkt)
{
	uint32_t n = 0;

	for (; pkt; pkt = pkt->frag)
		n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* Checksum (RFC 1071)                                                 */

/*
 * The one's complement sum does not depend on byte order (RFC 1071 2(B)):
 * the words are summed as the host loads them, 8 bytes at a time into a
 * 64-bit one's complement accumulator (the carry out goes back in: add,
 * adc), folded, and swapped to network order once at the end.  About 0.4
 * instructions per byte where a loop over 16-bit words took 5: the
 * checksums of every segment sent and received were 22 % of the dpdk
 * worker's instructions (perf/inproc_profile.py).
 */
static inline uint64_t add1c(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? r + 1 : r;
}

static uint64_t fold64(uint64_t a)
{
	a = (a & 0xffffffffu) + (a >> 32);
	a = (a & 0xffffffffu) + (a >> 32);
	a = (a & 0xffff) + (a >> 16);
	a = (a & 0xffff) + (a >> 16);
	return (a & 0xffff) + (a >> 16);
}

uint32_t net_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc = 0, a, b, c, d;

	while (len >= 32) {
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		memcpy(&c, p + 16, 8);
		memcpy(&d, p + 24, 8);
		acc = add1c(acc, a);
		acc = add1c(acc, b);
		acc = add1c(acc, c);
		acc = add1c(acc, d);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		memcpy(&a, p, 8);
		acc = add1c(acc, a);
		p += 8;
		len -= 8;
	}
	acc = fold64(acc);
	if (len >= 4) {
		uint32_t x;

		memcpy(&x, p, 4);
		acc += x;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t x;

		memcpy(&x, p, 2);
		acc += x;
		p += 2;
		len -= 2;
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (len)
		acc += p[0]; /* the high byte of a big-endian word */
	acc = fold64(acc);
	acc = ((acc & 0xff) << 8) | (acc >> 8);
#else
	if (len)
		acc += (uint32_t)p[0] << 8;
	acc = fold64(acc);
#endif
	return (uint32_t)fold64(acc + sum);
}

uint16_t net_csum(const void *buf, size_t len, uint32_t sum)
{
	uint32_t s = net_csum_partial(buf, len, sum);

	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* ------------------------------------------------------------------ */
/* Stack                                                               */

/*
 * The most payload of one super-segment on this port (0: no TSO): the
 * config's cap, the port's, and its chain length (every buffer but the
 * first holds NET_PKT_BUFSZ payload bytes; the first, the rest after
 * the headers, at most 60 bytes of options).
 */
static uint32_t tso_bound(const struct net_cfg *c, const struct net_port_ops *ops)
{
	const uint32_t need = NET_PORT_TX_TSO | NET_PORT_TX_IP_CSUM | NET_PORT_TX_TCP_CSUM;
	uint32_t max = c->tso_max;

	if (c->no_tso || (ops->caps & need) != need)
		return 0;
	if (ops->tso_max_payload && ops->tso_max_payload < max)
		max = ops->tso_max_payload;
	if (ops->tso_max_bufs) {
		uint64_t fit = (uint64_t)ops->tso_max_bufs * NET_PKT_BUFSZ;
		uint32_t hdr = NET_L4_OFF + 60u;

		fit = fit > hdr ? fit - hdr : 0;
		if (fit < max)
			max = (uint32_t)fit;
	}
	return max;
}

int net_stack_create(struct net_stack **out, const struct net_cfg *cfg,
		     const struct net_port_ops *ops, void *port_ctx)
{
	struct net_stack *s;
	uint32_t hsize = 1;
	int rc;

	*out = NULL;
	if (!cfg || !ops || !ops->rx_burst || !ops->tx_burst || cfg->ip == 0)
		return -EINVAL;
	if (cfg->mtu && (cfg->mtu < 576 || cfg->mtu > 1500))
		return -EINVAL;
	if (cfg->mac[0] & 1) /* multicast source address */
		return -EINVAL;
	if (cfg->share && cfg->share_id >= net_nbr_share_size(cfg->share))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.mtu)
		s->cfg.mtu = 1500;
	if (!s->cfg.pool_size)
		s->cfg.pool_size = 4096;
	if (!s->cfg.max_socks)
		s->cfg.max_socks = 1024;
	if (!s->cfg.sndbuf)
		s->cfg.sndbuf = 64 * 1024;
	if (!s->cfg.rcvbuf)
		s->cfg.rcvbuf = 64 * 1024;
	if (s->cfg.sndbuf > (1u << 30) || s->cfg.rcvbuf > (1u << 30))
		goto inval;
	if (!s->cfg.arp_ttl_us)
		s->cfg.arp_ttl_us = 300u * 1000000u;
	if (!s->cfg.msl_us)
		s->cfg.msl_us = 30u * 1000000u;
	if (!s->cfg.delack_us)
		s->cfg.delack_us = 40000;
	if (!s->cfg.keepalive_intvl_us)
		s->cfg.keepalive_intvl_us = 75u * 1000000u;
	if (!s->cfg.keepalive_cnt)
		s->cfg.keepalive_cnt = 9;
	if (!s->cfg.rto_max_retries)
		s->cfg.rto_max_retries = 12;
	if (!s->cfg.rto_min_us)
		s->cfg.rto_min_us = 200000;
	if (s->cfg.rto_min_us > 60000000u)
		goto inval;
	if (!s->cfg.tso_max)
		s->cfg.tso_max = NET_TSO_MAX_DEFAULT;
	if (s->cfg.tso_max > NET_TSO_MAX)
		goto inval;
	s->ops = ops;
	s->tso_max = tso_bound(&s->cfg, ops);
	s->port_ctx = port_ctx;
	rc = net_pool_init(&s->pool, s->cfg.pool_size);
	if (rc) {
		free(s);
		return rc;
	}
	s->socks = calloc(s->cfg.max_socks, sizeof(*s->socks));
	while (hsize < s->cfg.max_socks)
		hsize <<= 1;
	s->htab = calloc(hsize, sizeof(*s->htab));
	if (!s->socks || !s->htab) {
		net_stack_destroy(s);
		return -ENOMEM;
	}
	s->hmask = hsize - 1;
	for (uint32_t i = s->cfg.max_socks; i-- > 0;) {
		s->socks[i].next = s->sock_free;
		s->sock_free = &s->socks[i];
	}
	s->next_eport = (uint16_t)(49152 + (s->cfg.secret % 16384));
	s->timer_hint = UINT64_MAX;
	s->arp_hint = UINT64_MAX;
	*out = s;
	return 0;
inval:
	free(s);
	return -EINVAL;
}

void net_stack_destroy(struct net_stack *s)
{
	if (!s)
		return;
	while (s->active)
		tcp_sock_free(s->active);
	arp_flush_all(s);
	for (uint32_t i = 0; i < s->txq_len; i++)
		net_pkt_free(&s->pool, s->txq[i]);
	s->txq_len = 0;
	if (s->pool.bufs)
		net_pool_fini(&s->pool);
	free(s->socks);
	free(s->htab);
	free(s);
}

struct net_pool *net_stack_pool(struct net_stack *s)
{
	return &s->pool;
}

const struct net_stats *net_stack_stats(const struct net_stack *s)
{
	return &s->stats;
}

void net_stack_port_stats(const struct net_stack *s, struct net_port_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s->ops->stats)
		s->ops->stats(s->port_ctx, out);
}

uint32_t net_stack_socks_in_use(const struct net_stack *s)
{
	return s->socks_in_use;
}

int net_stack_start(struct net_stack *s, uint64_t now_us)
{
	static const uint8_t zero[6];

	/* Gratuitous ARP: a request for our own address (RFC 5227 2.4). */
	s->now_us = now_us;
	arp_send(s, 1, zero, s->cfg.ip, now_us);
	net_flush(s);
	return 0;
}

bool net_exception(struct net_stack *s, struct net_pkt *pkt)
{
	if (!s->cfg.exception)
		return false;
	if (s->cfg.exception(s->cfg.exception_arg, pkt->data, pkt->len) == 0)
		s->stats.exc_fwd++;
	else
		s->stats.exc_drop++;
	net_pkt_free(&s->pool, pkt);
	return true;
}

int net_stack_send_raw(struct net_stack *s, const void *frame, size_t len)
{
	struct net_pkt *pkt;

	if (len < ETH_HLEN || len > ETH_HLEN + 1500u) {
		s->stats.exc_drop++;
		return -EINVAL;
	}
	pkt = net_pkt_alloc(&s->pool);
	if (!pkt) {
		s->stats.exc_drop++;
		return -ENOBUFS;
	}
	memcpy(pkt->data, frame, len);
	pkt->len = (uint16_t)len;
	if (pkt->len < 60) { /* the Ethernet minimum without FCS */
		memset(pkt->data + pkt->len, 0, 60u - pkt->len);
		pkt->len = 60;
	}
	s->stats.exc_tx++;
	net_txq_push(s, pkt);
	return 0;
}

void net_txq_push(struct net_stack *s, struct net_pkt *pkt)
{
	assert(pkt->len >= ETH_HLEN && pkt->len <= NET_PKT_BUFSZ);
	if (s->txq_len == NET_TXQ_MAX)
		net_flush(s);
	if (s->txq_len == NET_TXQ_MAX) {
		s->stats.tx_drop++;
		net_pkt_free(&s->pool, pkt);
		return;
	}
	s->txq[s->txq_len++] = pkt;
}

void net_flush(struct net_stack *s)
{
	uint32_t done = 0;

	while (done < s->txq_len) {
		uint16_t n = (uint16_t)(s->txq_len - done > 0xffff ? 0xffff : s->txq_len - done);
		uint16_t sent = s->ops->tx_burst(s->port_ctx, s->txq + done, n);

		assert(sent <= n);
		s->stats.tx_frames += sent;
		done += sent;
		if (sent < n)
			break;
	}
	for (uint32_t i = done; i < s->txq_len; i++) {
		s->stats.tx_drop++;
		net_pkt_free(&s->pool, s->txq[i]);
	}
	s->txq_len = 0;
}

void net_input(struct net_stack *s, struct net_pkt *pkt, uint64_t now_us)
{
	assert(pkt);
	s->now_us = now_us;
	s->stats.rx_frames++;
	eth_input(s, pkt, now_us);
}

uint64_t net_next_timer(const struct net_stack *s)
{
	uint64_t a = arp_next_timer(s), t = tcp_next_timer(s);

	return a < t ? a : t;
}

void net_timers(struct net_stack *s, uint64_t now_us)
{
	s->now_us = now_us;
	arp_timers(s, now_us);
	if (now_us >= s->timer_hint)
		tcp_timers(s, now_us);
	net_flush(s);
}

int net_poll(struct net_stack *s, uint64_t now_us)
{
	struct net_pkt *burst[NET_RX_BURST];
	uint32_t total = 0;
	uint16_t n;

	if (s->cfg.share)
		net_nbr_drain(s, s->cfg.share, s->cfg.share_id, now_us);
	do {
		n = s->ops->rx_burst(s->port_ctx, burst, NET_RX_BURST);
		assert(n <= NET_RX_BURST);
		for (uint16_t i = 0; i < n; i++)
			net_input(s, burst[i], now_us);
		total += n;
	} while (n == NET_RX_BURST && total < NET_RX_POLL_MAX);
	net_timers(s, now_us);
	return (int)total;
}

/* ------------------------------------------------------------------ */
/* In-memory device                                                    */

static uint16_t memdev_rx(void *ctx, struct net_pkt **pkts, uint16_t n)
{
	struct net_memdev *d = ctx;
	uint16_t i = 0;

	while (i < n && d->rx_head) {
		pkts[i] = d->rx_head;
		d->rx_head = d->rx_head->next;
		pkts[i]->next = NULL;
		d->rx_len--;
		i++;
	}
	if (!d->rx_head)
		d->rx_tail = NULL;
	return i;
}

static void memdev_queue(struct net_memdev *d, struct net_pkt *p)
{
	p->flags = 0;
	p->next = NULL;
	if (d->tx_tail)
		d->tx_tail->next = p;
	else
		d->tx_head = p;
	d->tx_tail = p;
	d->tx_len++;
}

/* Copies len bytes of a chain from offset off into out. */
static void chain_read(const struct net_pkt *p, uint32_t off, uint8_t *out, uint32_t len)
{
	while (p && off >= p->len) {
		off -= p->len;
		p = p->frag;
	}
	while (len) {
		uint32_t k;

		assert(p);
		k = p->len - off < len ? p->len - off : len;
		memcpy(out, p->data + off, k);
		out += k;
		len -= k;
		off = 0;
		p = p->frag;
	}
}

/*
 * The device's part of TSO: checks the super-segment against the
 * contract in net.h (NET_PKT_TX_TCP_SEG), logs it and queues the
 * segments it makes, each with its checksums filled.  Returns false when
 * the queue has no room for them (the frame is refused).
 */
static bool memdev_tso(struct net_memdev *d, struct net_pkt *p)
{
	const uint8_t *ip = p->data + ETH_HLEN;
	uint32_t total = net_pkt_chain_len(p), ihl, thl, hdr, payload, segs, seq, ps;
	uint16_t id;
	bool bad = false;

	assert(p->len >= NET_L4_OFF + TCP_HLEN);
	ihl = (ip[0] & 15u) * 4u;
	thl = (uint32_t)(ip[ihl + 12] >> 4) * 4u;
	hdr = ETH_HLEN + ihl + thl;
	assert(p->len >= hdr && total > hdr);
	payload = total - hdr;
	segs = p->tso_segsz ? (payload + p->tso_segsz - 1) / p->tso_segsz : 0;
	if (d->tx_len + segs > d->cap)
		return false;
	/* the contract: checksums offloaded, a segment size, the IPv4 length
	 * of the whole, the pseudo-header sum without the length */
	ps = ip_pseudo_sum(get32(ip + 12), get32(ip + 16), IP_PROTO_TCP, 0);
	while (ps >> 16)
		ps = (ps & 0xffff) + (ps >> 16);
	if (!(p->flags & NET_PKT_TX_IP_CSUM) || !(p->flags & NET_PKT_TX_TCP_CSUM) ||
	    !p->tso_segsz || get16(ip + 2) != total - ETH_HLEN || ip[9] != IP_PROTO_TCP ||
	    get16(ip + ihl + 16) != (uint16_t)ps)
		bad = true;
	d->tso_bad += bad;
	d->tso_frames++;
	if (d->n_tso_log < NET_MEMDEV_TSO_LOG) {
		struct net_memdev_tso *l = &d->tso_log[d->n_tso_log++];

		l->seq = get32(ip + ihl + 4);
		l->payload = payload;
		l->segsz = p->tso_segsz;
		l->segs = (uint16_t)segs;
		l->bufs = (uint16_t)net_pkt_chain_bufs(p);
		l->dport = get16(ip + ihl + 2);
		l->tcp_hlen = (uint8_t)thl;
		l->tcp_flags = ip[ihl + 13];
	}
	if (bad || !segs) { /* taken and dropped, as a device would */
		net_pkt_free(d->pool, p);
		return true;
	}
	seq = get32(ip + ihl + 4);
	id = get16(ip + 4);
	for (uint32_t i = 0, off = 0; i < segs; i++, off += p->tso_segsz) {
		struct net_pkt *q = net_pkt_alloc(d->pool);
		uint32_t k = payload - off < p->tso_segsz ? payload - off : p->tso_segsz;
		uint8_t *qip, *th;

		if (!q)
			break; /* lost on the wire */
		memcpy(q->data, p->data, hdr);
		chain_read(p, hdr + off, q->data + hdr, k);
		q->len = (uint16_t)(hdr + k);
		qip = q->data + ETH_HLEN;
		th = qip + ihl;
		put16(qip + 2, (uint16_t)(ihl + thl + k));
		put16(qip + 4, (uint16_t)(id + i));
		put16(qip + 10, 0);
		put16(qip + 10, net_csum(qip, ihl, 0));
		put32(th + 4, seq + off);
		if (i + 1 < segs)
			th[13] &= (uint8_t) ~(TCPF_FIN | TCPF_PSH);
		put16(th + 16, 0);
		put16(th + 16, net_csum(th, thl + k,
					ip_pseudo_sum(get32(qip + 12), get32(qip + 16),
						      IP_PROTO_TCP, (uint16_t)(thl + k))));
		d->tso_segs++;
		memdev_queue(d, q);
	}
	net_pkt_free(d->pool, p);
	return true;
}

static uint16_t memdev_tx(void *ctx, struct net_pkt **pkts, uint16_t n)
{
	struct net_memdev *d = ctx;
	uint16_t i;

	for (i = 0; i < n && d->tx_len < d->cap; i++) {
		struct net_pkt *p = pkts[i];

		if (p->flags & NET_PKT_TX_TCP_SEG) {
			if (!memdev_tso(d, p))
				break;
			continue;
		}
		assert(!p->frag);

		/* Play the device's part in the offloads. */
		if (p->flags & NET_PKT_TX_IP_CSUM) {
			uint8_t *ip = p->data + ETH_HLEN;

			put16(ip + 10, 0);
			put16(ip + 10, net_csum(ip, (ip[0] & 15u) * 4u, 0));
		}
		if (p->flags & NET_PKT_TX_TCP_CSUM) {
			uint8_t *ip = p->data + ETH_HLEN;
			uint32_t ihl = (ip[0] & 15u) * 4u;
			uint32_t tl = get16(ip + 2) - ihl;
			uint8_t *th = ip + ihl;
			uint16_t pseudo = get16(th + 16);

			put16(th + 16, 0);
			put16(th + 16, net_csum(th, tl, pseudo));
		}
		memdev_queue(d, p);
	}
	return i;
}

const struct net_port_ops net_memdev_ops = {
    .rx_burst = memdev_rx,
    .tx_burst = memdev_tx,
    .caps = 0,
};

const struct net_port_ops net_memdev_ops_csum = {
    .rx_burst = memdev_rx,
    .tx_burst = memdev_tx,
    .caps = NET_PORT_RX_CSUM | NET_PORT_TX_IP_CSUM | NET_PORT_TX_TCP_CSUM,
};

const struct net_port_ops net_memdev_ops_tso = {
    .rx_burst = memdev_rx,
    .tx_burst = memdev_tx,
    .caps = NET_PORT_RX_CSUM | NET_PORT_TX_IP_CSUM | NET_PORT_TX_TCP_CSUM | NET_PORT_TX_TSO,
};

void net_memdev_init(struct net_memdev *d, uint32_t cap)
{
	memset(d, 0, sizeof(*d));
	d->cap = cap ? cap : 1024;
}

int net_memdev_inject(struct net_memdev *d, const void *frame, size_t len, uint32_t flags)
{
	struct net_pkt *p;

	if (len > NET_PKT_BUFSZ)
		return -EMSGSIZE;
	if (d->rx_len >= d->cap)
		return -ENOBUFS;
	p = net_pkt_alloc(d->pool);
	if (!p)
		return -ENOBUFS;
	memcpy(p->data, frame, len);
	p->len = (uint16_t)len;
	p->flags = flags;
	if (d->rx_tail)
		d->rx_tail->next = p;
	else
		d->rx_head = p;
	d->rx_tail = p;
	d->rx_len++;
	return 0;
}

struct net_pkt *net_memdev_take(struct net_memdev *d)
{
	struct net_pkt *p = d->tx_head;

	if (!p)
		return NULL;
	d->tx_head = p->next;
	if (!d->tx_head)
		d->tx_tail = NULL;
	p->next = NULL;
	d->tx_len--;
	return p;
}

void net_memdev_drain(struct net_memdev *d)
{
	struct net_pkt *p;

	while ((p = net_memdev_take(d)))
		net_pkt_free(d->pool, p);
	while (d->rx_head) {
		p = d->rx_head;
		d->rx_head = p->next;
		net_pkt_free(d->pool, p);
	}
	d->rx_tail = NULL;
	d->rx_len = 0;
}
