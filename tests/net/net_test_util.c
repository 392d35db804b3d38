// SPDX-License-Identifier: Apache-2.0
/*
 * net_test_util.c - the scripted remote host for the stack's unit tests:
 * builds and injects frames, parses captured ones, drives the fake clock.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "net_test.h"

struct nt nt;
const struct net_port_ops *nt_ops;

void nt_fini(void);

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void p16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void p32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void nt_setup(void (*cfg_fn)(struct net_cfg *c))
{
	int rc;

	nt_fini(); /* a test's own setup replaces the suite's */
	memset(&nt, 0, sizeof(nt));
	memcpy(nt.cfg.mac, US_MAC, 6);
	nt.cfg.ip = US_IP;
	nt.cfg.netmask = 0xffffff00u;
	nt.cfg.gateway = 0x0a0000feu;
	nt.cfg.pool_size = 512;
	nt.cfg.max_socks = 16;
	nt.cfg.secret = 12345;
	if (cfg_fn)
		cfg_fn(&nt.cfg);
	net_memdev_init(&nt.dev, 256);
	rc = net_stack_create(&nt.s, &nt.cfg, nt_ops ? nt_ops : &net_memdev_ops, &nt.dev);
	cr_assert_eq(rc, 0);
	nt.dev.pool = net_stack_pool(nt.s);
	nt.now = 1000000;
}

void nt_check_no_leaks(void)
{
	net_flush(nt.s);
	net_memdev_drain(&nt.dev);
	cr_assert_eq(net_stack_socks_in_use(nt.s), 0, "control blocks leaked: %u",
		     net_stack_socks_in_use(nt.s));
	cr_assert_eq(net_stack_pool(nt.s)->in_use, 0, "packet buffers leaked: %u",
		     net_stack_pool(nt.s)->in_use);
}

void nt_fini(void)
{
	if (!nt.s)
		return;
	net_memdev_drain(&nt.dev);
	net_stack_destroy(nt.s);
	nt.s = NULL;
}

void nt_poll(void)
{
	while (net_poll(nt.s, nt.now) > 0)
		;
}

void nt_advance(uint64_t us)
{
	nt.now += us;
	nt_poll();
}

uint32_t nt_pending(void)
{
	net_flush(nt.s);
	return nt.dev.tx_len;
}

void nt_parse(const uint8_t *b, uint32_t len, struct nt_frame *f)
{
	memset(f, 0, sizeof(*f));
	cr_assert_geq(len, 14);
	memcpy(f->dst_mac, b, 6);
	memcpy(f->src_mac, b + 6, 6);
	f->ethertype = g16(b + 12);
	if (f->ethertype == 0x0806) {
		const uint8_t *a = b + 14;

		cr_assert_geq(len, 42);
		f->arp_op = g16(a + 6);
		memcpy(f->arp_sha, a + 8, 6);
		f->arp_spa = g32(a + 14);
		f->arp_tpa = g32(a + 24);
		return;
	}
	cr_assert_eq(f->ethertype, 0x0800);
	const uint8_t *ip = b + 14;
	uint32_t ihl = (ip[0] & 15u) * 4u, tot = g16(ip + 2);

	cr_assert_leq(14 + tot, len);
	f->ip_csum_ok = net_csum(ip, ihl, 0) == 0;
	f->ip_src = g32(ip + 12);
	f->ip_dst = g32(ip + 16);
	f->ip_proto = ip[9];
	f->ip_ttl = ip[8];
	const uint8_t *l4 = ip + ihl;
	uint32_t l4len = tot - ihl;

	if (f->ip_proto == 1) {
		f->icmp_type = l4[0];
		f->icmp_csum_ok = net_csum(l4, l4len, 0) == 0;
		f->icmp_len = (uint16_t)l4len;
		memcpy(f->icmp, l4, l4len);
		return;
	}
	cr_assert_eq(f->ip_proto, 6);
	uint8_t ph[12];

	p32(ph, f->ip_src);
	p32(ph + 4, f->ip_dst);
	ph[8] = 0;
	ph[9] = 6;
	p16(ph + 10, (uint16_t)l4len);
	f->tcp_csum_ok = net_csum(l4, l4len, net_csum_partial(ph, 12, 0)) == 0;
	f->sport = g16(l4);
	f->dport = g16(l4 + 2);
	f->seq = g32(l4 + 4);
	f->ack = g32(l4 + 8);
	f->flags = l4[13];
	f->wnd = g16(l4 + 14);
	uint32_t doff = (uint32_t)(l4[12] >> 4) * 4u;
	const uint8_t *o = l4 + 20;

	for (uint32_t i = 0; i < doff - 20;) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		switch (o[i]) {
		case 2:
			f->has_mss = true;
			f->mss = g16(o + i + 2);
			break;
		case 3:
			f->has_ws = true;
			f->ws = o[i + 2];
			break;
		case 4:
			f->has_sackok = true;
			break;
		case 5:
			f->n_sack = (o[i + 1] - 2u) / 8u;
			for (uint32_t k = 0; k < f->n_sack; k++) {
				f->sack[k][0] = g32(o + i + 2 + 8 * k);
				f->sack[k][1] = g32(o + i + 6 + 8 * k);
			}
			break;
		case 8:
			f->has_ts = true;
			f->tsval = g32(o + i + 2);
			f->tsecr = g32(o + i + 6);
			break;
		}
		i += o[i + 1];
	}
	f->len = l4len - doff;
	memcpy(f->data, l4 + doff, f->len);
}

bool nt_take(struct nt_frame *f)
{
	struct net_pkt *p;

	net_flush(nt.s); /* what the socket calls queued */
	p = net_memdev_take(&nt.dev);

	if (!p)
		return false;
	nt_parse(p->data, p->len, f);
	net_pkt_free(nt.dev.pool, p);
	return true;
}

bool nt_take_tcp(struct nt_frame *f)
{
	while (nt_take(f)) {
		if (f->ethertype == 0x0800 && f->ip_proto == 6)
			return true;
		if (f->ethertype == 0x0806 && f->arp_op == 1 && f->arp_tpa == PEER_IP)
			nt_send_arp(2, PEER_IP, PEER_MAC, US_IP);
	}
	return false;
}

void nt_inject_raw(const uint8_t *b, uint32_t len)
{
	cr_assert_eq(net_memdev_inject(&nt.dev, b, len, 0), 0);
	nt_poll();
}

uint32_t nt_build_ipv4(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
		       uint32_t l4len)
{
	uint8_t *ip = b + 14;

	memcpy(b, US_MAC, 6);
	memcpy(b + 6, PEER_MAC, 6);
	p16(b + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	p16(ip + 2, (uint16_t)(20 + l4len));
	p16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	p32(ip + 12, src);
	p32(ip + 16, dst);
	p16(ip + 10, net_csum(ip, 20, 0));
	memcpy(ip + 20, l4, l4len);
	return 34 + l4len;
}

void nt_send_arp(uint16_t op, uint32_t spa, const char *sha, uint32_t tpa)
{
	uint8_t b[60] = {0};
	uint8_t *a = b + 14;

	memcpy(b, op == 1 ? "\xff\xff\xff\xff\xff\xff" : US_MAC, 6);
	memcpy(b + 6, sha, 6);
	p16(b + 12, 0x0806);
	p16(a, 1);
	p16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	p16(a + 6, op);
	memcpy(a + 8, sha, 6);
	p32(a + 14, spa);
	if (op == 2)
		memcpy(a + 18, US_MAC, 6);
	p32(a + 24, tpa);
	nt_inject_raw(b, sizeof(b));
}

void nt_send_ping(uint16_t id, uint16_t seq, const void *data, uint32_t len)
{
	uint8_t ic[1500], b[1600];

	ic[0] = 8;
	ic[1] = 0;
	p16(ic + 2, 0);
	p16(ic + 4, id);
	p16(ic + 6, seq);
	memcpy(ic + 8, data, len);
	p16(ic + 2, net_csum(ic, 8 + len, 0));
	nt_inject_raw(b, nt_build_ipv4(b, PEER_IP, US_IP, 1, ic, 8 + len));
}

void nt_send_tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
		 uint16_t wnd, const struct nt_opts *o, const void *data, uint32_t len)
{
	uint8_t th[1600], b[1700], ph[12];
	uint32_t n = 20;

	memset(th, 0, 60);
	p16(th, sport);
	p16(th + 2, dport);
	p32(th + 4, seq);
	p32(th + 8, ack);
	th[13] = flags;
	p16(th + 14, wnd);
	if (o) {
		if (o->mss && (flags & F_SYN)) {
			th[n] = 2;
			th[n + 1] = 4;
			p16(th + n + 2, o->mss);
			n += 4;
		}
		if (o->ws >= 0 && (flags & F_SYN)) {
			th[n] = 1;
			th[n + 1] = 3;
			th[n + 2] = 3;
			th[n + 3] = (uint8_t)o->ws;
			n += 4;
		}
		if (o->sackok && (flags & F_SYN)) {
			th[n] = 1;
			th[n + 1] = 1;
			th[n + 2] = 4;
			th[n + 3] = 2;
			n += 4;
		}
		if (o->ts) {
			th[n] = 1;
			th[n + 1] = 1;
			th[n + 2] = 8;
			th[n + 3] = 10;
			p32(th + n + 4, o->tsval);
			p32(th + n + 8, o->tsecr);
			n += 12;
		}
		if (o->n_sack && !(flags & F_SYN)) {
			th[n] = 1;
			th[n + 1] = 1;
			th[n + 2] = 5;
			th[n + 3] = (uint8_t)(2 + 8 * o->n_sack);
			for (uint32_t k = 0; k < o->n_sack; k++) {
				p32(th + n + 4 + 8 * k, o->sack[k][0]);
				p32(th + n + 8 + 8 * k, o->sack[k][1]);
			}
			n += 4 + 8 * o->n_sack;
		}
	}
	th[12] = (uint8_t)((n / 4) << 4);
	if (len)
		memcpy(th + n, data, len);
	p32(ph, PEER_IP);
	p32(ph + 4, US_IP);
	ph[8] = 0;
	ph[9] = 6;
	p16(ph + 10, (uint16_t)(n + len));
	p16(th + 16, net_csum(th, n + len, net_csum_partial(ph, 12, 0)));
	nt_inject_raw(b, nt_build_ipv4(b, PEER_IP, US_IP, 6, th, n + len));
}

void nt_expect_tcp(struct nt_frame *f)
{
	cr_assert(nt_take(f), "expected a segment, got none");
	cr_assert_eq(f->ethertype, 0x0800);
	cr_assert_eq(f->ip_proto, 6);
	cr_assert(f->ip_csum_ok && f->tcp_csum_ok);
}

void nt_open(struct nt_conn *c, uint32_t piss, const struct nt_opts *o)
{
	struct nt_frame f;
	struct nt_opts none = {.ws = -1};

	memset(c, 0, sizeof(*c));
	c->o = o ? *o : none;
	c->pport = 40000;
	c->piss = piss;
	if (!c->l)
		cr_assert_eq(net_listen(nt.s, 80, 8, &c->l), 0);
	nt_send_tcp(c->pport, 80, piss, 0, F_SYN, 65535, &c->o, NULL, 0);
	nt_expect_tcp(&f);
	cr_assert_eq(f.flags, F_SYN | F_ACK);
	cr_assert_eq(f.ack, piss + 1);
	c->iss = f.seq;
	c->una = f.seq + 1;
	c->pnxt = piss + 1;
	c->o.tsecr = f.tsval;
	c->o.tsval++;
	nt_send_tcp(c->pport, 80, c->pnxt, c->una, F_ACK, 65535, &c->o, NULL, 0);
	cr_assert_eq(nt_pending(), 0);
	cr_assert_eq(net_accept(c->l, &c->so), 0);
	cr_assert_str_eq(net_sock_state(c->so), "ESTABLISHED");
}

void nt_peer_data(struct nt_conn *c, const void *d, uint32_t len)
{
	c->o.tsval++;
	nt_send_tcp(c->pport, 80, c->pnxt, c->una, F_ACK | F_PSH, 65535, &c->o, d, len);
	c->pnxt += len;
}

void nt_peer_ack(struct nt_conn *c, uint32_t ack, uint16_t wnd)
{
	c->o.tsval++;
	c->una = ack;
	nt_send_tcp(c->pport, 80, c->pnxt, ack, F_ACK, wnd, &c->o, NULL, 0);
}
