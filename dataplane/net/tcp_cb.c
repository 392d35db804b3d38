// SPDX-License-Identifier: Apache-2.0
/*
 * tcp_cb.c - TCP control blocks (the pcb table) and the socket calls the
 * dataplane uses: listen, accept, connect, recv, send, close, events.
 *
 * Why: one table of control blocks per stack, so per dataplane core
 * (shared-nothing, as mTCP and Seastar).  Control blocks come from an
 * array sized at create time (cfg.max_socks) and a free list; a
 * connection's send and receive rings are allocated once when it is
 * created, never per segment (with RACK's TCP_TXREC_MAX transmission
 * records in the same allocation, so listeners and free control blocks
 * pay for none).  net_stack_socks_in_use() is the counter tests check for
 * leaks.
 *
 * Life cycle and ownership:
 *  - a passive connection belongs to its listener (parent) from SYN to
 *    net_accept(); the user owns it from then until net_close/net_abort;
 *  - the stack frees a control block when the connection is CLOSED and
 *    nobody owns it any more (user_closed, or an unaccepted child);
 *  - TIME_WAIT blocks are freed by their 2*MSL timer.
 *
 * Invariants (asserted in tcp_check): snd_una <= snd_nxt <= snd_max
 * (mod 2^32); the send ring holds [sb_seq, sb_seq + sb_len) with
 * sb_len <= sb_size; rb_len <= rb_size; out-of-order intervals lie inside
 * the receive window.
 *
 * Thread: the stack's owner.
 */
#include <stdlib.h>

#include "net_priv.h"

static const char *const state_names[] = {
    "CLOSED",	  "LISTEN",	"SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK", "TIME_WAIT",
};

static uint32_t tuple_hash(const struct net_tuple *t)
{
	uint32_t h = t->faddr * 0x9e3779b1u;

	h ^= ((uint32_t)t->fport << 16 | t->lport) * 0x85ebca6bu;
	h ^= h >> 15;
	return h;
}

struct net_sock *tcp_sock_alloc(struct net_stack *s, bool bufs)
{
	struct net_sock *so = s->sock_free;

	if (!so)
		return NULL;
	s->sock_free = so->next;
	memset(so, 0, sizeof(*so));
	if (bufs) {
		/* RACK's transmission records, then the two rings */
		so->txr = malloc(TCP_TXREC_MAX * sizeof(*so->txr) + (size_t)s->cfg.sndbuf +
				 s->cfg.rcvbuf);
		if (!so->txr) {
			so->next = s->sock_free;
			s->sock_free = so;
			return NULL;
		}
		so->sbuf = (uint8_t *)(so->txr + TCP_TXREC_MAX);
		so->rbuf = so->sbuf + s->cfg.sndbuf;
		so->sb_size = s->cfg.sndbuf;
		so->rb_size = s->cfg.rcvbuf;
	}
	so->st = s;
	so->in_use = true;
	so->next = s->active;
	if (s->active)
		s->active->prev = so;
	s->active = so;
	s->socks_in_use++;
	assert(s->socks_in_use <= s->cfg.max_socks);
	return so;
}

static void hash_remove(struct net_sock *so)
{
	struct net_stack *s = so->st;
	struct net_sock **pp = &s->htab[tuple_hash(&so->t) & s->hmask];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == so) {
			*pp = so->hnext;
			so->hnext = NULL;
			return;
		}
	}
}

void tcp_sock_free(struct net_sock *so)
{
	struct net_stack *s = so->st;

	assert(so->in_use);
	if (so->state == TCP_LISTEN) {
		/* its children: unaccepted connections die with it */
		for (struct net_sock *c = s->active, *n; c; c = n) {
			n = c->next;
			if (c->parent == so) {
				c->parent = NULL;
				c->in_acceptq = false;
				tcp_sock_free(c);
			}
		}
		so->aq_head = so->aq_tail = NULL;
		for (struct net_sock **pp = &s->listeners; *pp; pp = &(*pp)->lnext)
			if (*pp == so) {
				*pp = so->lnext;
				break;
			}
	}
	if (so->parent) { /* an unaccepted child */
		if (so->in_acceptq) {
			struct net_sock **pp = &so->parent->aq_head;

			so->parent->aq_tail = NULL;
			while (*pp && *pp != so)
				pp = &(*pp)->aq_next;
			if (*pp)
				*pp = so->aq_next;
			for (struct net_sock *c = so->parent->aq_head; c; c = c->aq_next)
				so->parent->aq_tail = c;
			so->parent->n_acceptq--;
			/* No socket call sees it go: forget the edges that went
			 * with it, or the next connection is not reported. */
			so->parent->ev_seen &= net_events(so->parent);
		} else {
			assert(so->parent->n_syn > 0);
			so->parent->n_syn--;
		}
	}
	if (so->state != TCP_LISTEN && so->state != TCP_CLOSED)
		hash_remove(so);
	if (so->prev)
		so->prev->next = so->next;
	else
		s->active = so->next;
	if (so->next)
		so->next->prev = so->prev;
	free(so->txr);
	memset(so, 0, sizeof(*so));
	so->next = s->sock_free;
	s->sock_free = so;
	assert(s->socks_in_use > 0);
	s->socks_in_use--;
}

struct net_sock *tcp_lookup(struct net_stack *s, const struct net_tuple *t)
{
	struct net_sock *so = s->htab[tuple_hash(t) & s->hmask];

	for (; so; so = so->hnext)
		if (so->t.faddr == t->faddr && so->t.fport == t->fport && so->t.lport == t->lport)
			return so;
	return NULL;
}

struct net_sock *tcp_lookup_listener(struct net_stack *s, uint16_t port)
{
	/* not the active list: every SYN comes here, and a flood must not
	 * cost a walk over every connection (44 us a SYN at 10,000) */
	for (struct net_sock *so = s->listeners; so; so = so->lnext)
		if (so->t.lport == port) {
			assert(so->state == TCP_LISTEN);
			return so;
		}
	return NULL;
}

void tcp_hash_insert(struct net_sock *so)
{
	struct net_stack *s = so->st;
	uint32_t b = tuple_hash(&so->t) & s->hmask;

	assert(!tcp_lookup(s, &so->t));
	so->hnext = s->htab[b];
	s->htab[b] = so;
}

void tcp_set_state(struct net_sock *so, enum tcp_state st)
{
	so->state = (uint8_t)st;
}

void tcp_drop(struct net_sock *so, int err)
{
	assert(err <= 0);
	if (!so->err)
		so->err = err;
	hash_remove(so); /* a dead tuple matches no segment any more */
	tcp_set_state(so, TCP_CLOSED);
	so->t_rexmt = so->t_persist = so->t_delack = so->t_keep = 0;
	so->t_2msl = so->t_tlp = so->t_rack = 0;
	if (so->user_closed || so->parent)
		tcp_sock_free(so);
}

void tcp_notify(struct net_sock *so)
{
	struct net_stack *s = so->st;
	struct net_sock *t = so->parent ? so->parent : so;
	uint32_t ev;

	if (!s->cfg.notify || !t->in_use || t->user_closed)
		return;
	ev = net_events(t);
	if (ev & ~t->ev_seen)
		s->cfg.notify(s->cfg.notify_arg, t, ev);
	t->ev_seen = ev;
}

void tcp_check(const struct net_sock *so)
{
	assert(so->in_use);
	if (so->state == TCP_LISTEN || so->state == TCP_CLOSED)
		return;
	assert(seq_leq(so->snd_una, so->snd_nxt));
	assert(seq_leq(so->snd_nxt, so->snd_max));
	assert(so->sb_len <= so->sb_size && so->rb_len <= so->rb_size);
	assert(so->sb_size == 0 || so->sb_head < so->sb_size);
	assert(so->rb_size == 0 || so->rb_head < so->rb_size);
	/* the send ring starts at the oldest unacknowledged data byte */
	assert(so->state < TCP_ESTABLISHED || seq_leq(so->sb_seq, so->snd_una + 1));
	assert(so->n_ooo <= TCP_OOO_MAX);
	for (uint32_t i = 0; i < so->n_ooo; i++) {
		assert(seq_gt(so->ooo[i].start, so->rcv_nxt));
		assert(seq_lt(so->ooo[i].start, so->ooo[i].end));
		assert(so->ooo[i].end - so->rcv_nxt <= so->rb_size - so->rb_len);
		assert(i == 0 || seq_gt(so->ooo[i].start, so->ooo[i - 1].end));
	}
	assert(!so->fin_queued || seq_leq(so->snd_max, so->fin_seq + 1));
	assert(so->n_sacked <= TCP_SACKB_MAX && (!so->sack_rec || so->in_recovery));
	for (uint32_t i = 0; i < so->n_sacked; i++) {
		assert(seq_leq(so->snd_una, so->sacked[i].start));
		assert(seq_lt(so->sacked[i].start, so->sacked[i].end));
		assert(seq_leq(so->sacked[i].end, so->snd_max));
		assert(i == 0 || seq_gt(so->sacked[i].start, so->sacked[i - 1].end));
	}
	assert(so->n_txr <= TCP_TXREC_MAX && (!so->n_txr || tcp_rack_on(so)));
	for (uint32_t i = 0; i < so->n_txr; i++) {
		assert(seq_leq(so->snd_una, so->txr[i].start));
		assert(seq_lt(so->txr[i].start, so->txr[i].end));
		assert(seq_leq(so->txr[i].end, so->snd_max));
		assert(i == 0 || seq_leq(so->txr[i - 1].end, so->txr[i].start));
	}
}

uint32_t tcp_rcv_wnd(const struct net_sock *so)
{
	assert(so->rb_len <= so->rb_size);
	return so->rb_size - so->rb_len;
}

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13) ^ v0;                                                            \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16) ^ v2;                                                            \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21) ^ v0;                                                            \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17) ^ v2;                                                            \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

uint64_t net_siphash24(uint64_t k0, uint64_t k1, const void *msg, size_t len)
{
	const uint8_t *m = msg;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	uint64_t b = (uint64_t)len << 56, w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		w = 0;
		for (int k = 7; k >= 0; k--)
			w = w << 8 | m[i + (size_t)k];
		v3 ^= w;
		SIPROUND;
		SIPROUND;
		v0 ^= w;
	}
	for (size_t k = 0; i + k < len; k++)
		b |= (uint64_t)m[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t tcp_isn(struct net_stack *s, const struct net_tuple *t, uint64_t now)
{
	uint8_t m[12];

	if (s->cfg.isn)
		return s->cfg.isn(s->cfg.isn_arg, t);
	/* RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport,
	 * secretkey), M a 4 us timer, F a keyed PRF (SipHash-2-4 here) */
	put32(m, t->laddr);
	put16(m + 4, t->lport);
	put32(m + 6, t->faddr);
	put16(m + 10, t->fport);
	return (uint32_t)net_siphash24(s->cfg.secret, s->cfg.secret2, m, sizeof(m)) +
	       (uint32_t)(now / 4);
}

void tcp_timer_arm(struct net_sock *so, uint64_t *t, uint64_t when)
{
	assert(when > 0);
	*t = when;
	if (when < so->st->timer_hint)
		so->st->timer_hint = when;
}

void tcp_init_cb(struct net_sock *so, uint64_t now)
{
	struct net_stack *s = so->st;
	uint32_t ws = 0;

	so->snd_una = so->snd_nxt = so->snd_max = so->iss;
	so->sb_seq = so->iss + 1;
	/* RFC 6298 2.1, or the configured minimum if that is higher */
	so->rto_us = s->cfg.rto_min_us > 1000000 ? s->cfg.rto_min_us : 1000000;
	so->mss = (uint16_t)(s->cfg.mtu - IP_HLEN - TCP_HLEN);
	while (ws < 14 && (so->rb_size >> ws) > 65535)
		ws++;
	so->rcv_wscale = (uint8_t)ws;
	so->ssthresh = 0x7fffffff;
	so->last_rx_us = now;
}

/* ------------------------------------------------------------------ */
/* The socket calls                                                    */

int net_listen(struct net_stack *s, uint16_t port, uint32_t backlog, struct net_sock **out)
{
	struct net_sock *so;

	*out = NULL;
	if (port == 0 || backlog == 0)
		return -EINVAL;
	if (tcp_lookup_listener(s, port))
		return -EADDRINUSE;
	so = tcp_sock_alloc(s, false);
	if (!so)
		return -ENOMEM;
	so->t.laddr = s->cfg.ip;
	so->t.lport = port;
	so->backlog = backlog;
	tcp_set_state(so, TCP_LISTEN);
	so->lnext = s->listeners;
	s->listeners = so;
	*out = so;
	return 0;
}

int net_accept(struct net_sock *l, struct net_sock **out)
{
	struct net_sock *c = l->aq_head;

	*out = NULL;
	if (l->state != TCP_LISTEN)
		return -EINVAL;
	if (!c)
		return -EAGAIN;
	l->aq_head = c->aq_next;
	if (!l->aq_head)
		l->aq_tail = NULL;
	assert(l->n_acceptq > 0);
	l->n_acceptq--;
	c->aq_next = NULL;
	c->in_acceptq = false;
	c->parent = NULL;
	*out = c;
	l->ev_seen = net_events(l);
	c->ev_seen = net_events(c);
	return 0;
}

int net_connect(struct net_stack *s, uint32_t faddr, uint16_t fport, uint64_t now_us,
		struct net_sock **out)
{
	struct net_sock *so;
	struct net_tuple t = {.laddr = s->cfg.ip, .faddr = faddr, .fport = fport};

	*out = NULL;
	if (faddr == 0 || fport == 0 || faddr == s->cfg.ip)
		return -EINVAL;
	for (uint32_t i = 0; i < 16384; i++) {
		t.lport = s->next_eport;
		s->next_eport = s->next_eport == 65535 ? 49152 : (uint16_t)(s->next_eport + 1);
		if (!tcp_lookup(s, &t) && !tcp_lookup_listener(s, t.lport))
			break;
		t.lport = 0;
	}
	if (!t.lport)
		return -EADDRNOTAVAIL;
	so = tcp_sock_alloc(s, true);
	if (!so)
		return -ENOMEM;
	so->t = t;
	so->iss = tcp_isn(s, &t, now_us);
	tcp_init_cb(so, now_us);
	tcp_set_state(so, TCP_SYN_SENT);
	tcp_hash_insert(so);
	s->now_us = now_us;
	tcp_output(so, now_us);
	*out = so;
	return 0;
}

static void send_window_update(struct net_sock *so, uint64_t now)
{
	uint32_t wnd = tcp_rcv_wnd(so);
	uint32_t adv = so->rcv_adv - so->rcv_nxt; /* announced, left */
	uint32_t grow = wnd > adv ? wnd - adv : 0;

	/* receiver-side silly window avoidance (RFC 9293 3.8.6.2.2) */
	if (grow >= 2u * so->mss || grow >= so->rb_size / 2)
		tcp_send_ack(so, now);
}

long net_recv(struct net_sock *so, void *buf, size_t len, uint64_t now_us)
{
	size_t n, first;

	if (so->state == TCP_LISTEN)
		return -EINVAL;
	if (so->rb_len == 0) {
		if (so->err)
			return so->err;
		if (so->fin_rcvd)
			return 0;
		if (so->state == TCP_SYN_SENT || so->state == TCP_SYN_RCVD)
			return -EAGAIN;
		if (so->state == TCP_CLOSED)
			return -ENOTCONN;
		return -EAGAIN;
	}
	n = len < so->rb_len ? len : so->rb_len;
	first = so->rb_size - so->rb_head;
	if (first > n)
		first = n;
	memcpy(buf, so->rbuf + so->rb_head, first);
	memcpy((uint8_t *)buf + first, so->rbuf, n - first);
	so->rb_head = (uint32_t)((so->rb_head + n) % so->rb_size);
	so->rb_len -= (uint32_t)n;
	so->st->now_us = now_us;
	if (so->state >= TCP_ESTABLISHED && so->state != TCP_TIME_WAIT && !so->fin_rcvd)
		send_window_update(so, now_us);
	so->ev_seen = net_events(so);
	return (long)n;
}

long net_send(struct net_sock *so, const void *buf, size_t len, uint64_t now_us)
{
	size_t n, space, tail, first;

	if (so->state == TCP_LISTEN)
		return -EINVAL;
	if (so->err)
		return so->err;
	if (so->fin_queued)
		return -EPIPE;
	if (so->state == TCP_CLOSED)
		return -ENOTCONN;
	space = so->sb_size - so->sb_len;
	if (space == 0)
		return -EAGAIN;
	n = len < space ? len : space;
	tail = (so->sb_head + so->sb_len) % so->sb_size;
	first = so->sb_size - tail;
	if (first > n)
		first = n;
	memcpy(so->sbuf + tail, buf, first);
	memcpy(so->sbuf, (const uint8_t *)buf + first, n - first);
	so->sb_len += (uint32_t)n;
	so->st->now_us = now_us;
	if (so->state >= TCP_ESTABLISHED)
		tcp_output(so, now_us);
	so->ev_seen = net_events(so);
	return (long)n;
}

uint32_t net_events(const struct net_sock *so)
{
	uint32_t ev = 0;

	if (so->state == TCP_LISTEN)
		return so->aq_head ? NET_EV_READABLE : 0;
	if (so->rb_len || so->fin_rcvd || so->err)
		ev |= NET_EV_READABLE;
	if (so->fin_rcvd)
		ev |= NET_EV_HUP;
	if (so->err)
		ev |= NET_EV_ERR;
	if (so->state >= TCP_ESTABLISHED && so->state != TCP_CLOSED) {
		ev |= NET_EV_CONNECTED;
		if (!so->fin_queued && !so->err && so->sb_len < so->sb_size)
			ev |= NET_EV_WRITABLE;
	}
	return ev;
}

void net_close(struct net_sock *so, uint64_t now_us)
{
	so->st->now_us = now_us;
	assert(!so->user_closed);
	so->user_closed = true;
	if (so->state == TCP_LISTEN) {
		/* its unaccepted connections are reset, then freed with it */
		for (struct net_sock *c = so->st->active; c; c = c->next)
			if (c->parent == so) {
				tcp_send_ctl(c, c->snd_max, TCPF_RST | TCPF_ACK, now_us);
				so->st->stats.tcp_rst_tx++;
			}
	}
	switch (so->state) {
	case TCP_LISTEN:
	case TCP_CLOSED:
	case TCP_SYN_SENT:
		tcp_sock_free(so);
		return;
	default:
		break;
	}
	if (so->rb_len) { /* unread data: abort (RFC 2525 2.17) */
		net_abort(so, now_us);
		return;
	}
	if (so->fin_queued)
		return;
	so->fin_queued = true;
	so->fin_seq = so->sb_seq + so->sb_len;
	if (so->state == TCP_ESTABLISHED || so->state == TCP_SYN_RCVD)
		tcp_set_state(so, TCP_FIN_WAIT_1);
	else if (so->state == TCP_CLOSE_WAIT)
		tcp_set_state(so, TCP_LAST_ACK);
	tcp_output(so, now_us);
}

void net_abort(struct net_sock *so, uint64_t now_us)
{
	so->st->now_us = now_us;
	so->user_closed = true;
	switch (so->state) {
	case TCP_SYN_RCVD:
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT_1:
	case TCP_FIN_WAIT_2:
	case TCP_CLOSE_WAIT:
		tcp_send_ctl(so, so->snd_max, TCPF_RST | TCPF_ACK, now_us);
		so->st->stats.tcp_rst_tx++;
		break;
	default:
		break;
	}
	tcp_sock_free(so);
}

void net_sock_tuple(const struct net_sock *so, struct net_tuple *t)
{
	*t = so->t;
}

const char *net_sock_state(const struct net_sock *so)
{
	return state_names[so->state];
}

void net_sock_set_user(struct net_sock *so, void *user)
{
	so->user = user;
}

void *net_sock_user(const struct net_sock *so)
{
	return so->user;
}
