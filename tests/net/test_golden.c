// SPDX-License-Identifier: Apache-2.0
/*
 * test_golden - golden replay of a recorded ZooKeeper client session into
 * the network stack (issue 10, part 4).
 *
 *   test_net_golden DIR            replay DIR/zk_session.in.pcap into a
 *                                  fresh stack; compare what it sends with
 *                                  DIR/zk_session.out.pcap byte for byte
 *   test_net_golden --regen DIR    record both files again (see below)
 *
 * Why: the scripted unit tests (test_tcp.c etc.) check the fields they
 * name; a golden replay catches every other change in what goes on the
 * wire (option order, window, timestamp, IP id, TTL, padding, an extra or
 * a missing ACK) for a whole session: the server's gratuitous ARP, the
 * ARP reply to the client's request, the three-way handshake, a
 * ZooKeeper ConnectRequest, getData, exists and ping requests, and the
 * close from the client's side.
 *
 * Determinism: the stack's only inputs are the frames, the clock and its
 * configuration.  The clock is fake and ticks TICK_US from T0 for NTICKS
 * ticks; the ISN and the ephemeral port come from fixed secrets; the
 * timestamps (TSval) come from the clock.  The record timestamp of every
 * frame is the tick at which it crossed the wire, so the replay injects
 * each input frame at the same tick and polls the server at every tick,
 * exactly as during the recording.  The output is then byte-for-byte
 * reproducible, frame timestamps included.
 *
 * The recording (--regen) runs the project's own stack on both sides: a
 * client stack (10.0.0.2) with a tiny scripted ZooKeeper client, and the
 * server stack (10.0.0.1) with an in-test echo service on port 2181 (the
 * requests come back unchanged: the test is about the TCP/IP stack, not
 * the ZooKeeper server).  The client's frames become zk_session.in.pcap,
 * the server's zk_session.out.pcap; before writing, --regen replays the
 * input and checks that the replay reproduces the live output (so the
 * replay is faithful).  Regenerating is legitimate only when a change to
 * the stack is meant to change what it sends (a new option, another
 * window policy, a fixed bug); review the difference the failing test
 * printed first, and say in the commit message why the wire changed.
 * Never regenerate to make an unexplained mismatch go away.
 *
 * On a mismatch the test prints the first differing frame's index, its
 * timestamps and a hex dump of both frames, and exits 1.  Bad or
 * truncated pcap files are a clear error (exit 1), never a crash.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "dataplane/net/net.h"
#include "dataplane/net/net_dpdk.h"

#define SERVER_IP 0x0a000001u
#define CLIENT_IP 0x0a000002u
#define ZK_PORT 2181
#define T0 1000000ull /* us: the first tick */
#define TICK_US 1000u
#define NTICKS 2000u /* 2 s of fake time: the session ends well before */
#define MAX_FRAMES 512u
#define MAX_CONNS 4u

#define IN_NAME "zk_session.in.pcap"
#define OUT_NAME "zk_session.out.pcap"

struct frame {
	uint64_t ts; /* us */
	uint32_t len;
	uint8_t data[NET_PKT_BUFSZ];
};

struct capture {
	uint32_t n;
	struct frame f[MAX_FRAMES];
};

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "test_golden: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static void cap_add(struct capture *c, uint64_t ts, const uint8_t *data, uint32_t len)
{
	if (c->n >= MAX_FRAMES)
		die("more than %s frames", "512");
	if (len > NET_PKT_BUFSZ)
		die("frame longer than a packet buffer%s", "");
	c->f[c->n].ts = ts;
	c->f[c->n].len = len;
	memcpy(c->f[c->n].data, data, len);
	c->n++;
}

/* ------------------------------------------------------------------ */
/* pcap files (libpcap's classic format, Ethernet link type; written     */
/* little-endian with microsecond timestamps, read in either byte order  */
/* with micro- or nanosecond ones)                                      */

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p, bool swap)
{
	if (swap)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void pcap_write(const char *path, const struct capture *c)
{
	uint8_t h[24] = {0};
	FILE *fp = fopen(path, "wb");

	if (!fp)
		die("cannot create %s", path);
	put32le(h, 0xa1b2c3d4u);
	h[4] = 2; /* version 2.4 */
	h[6] = 4;
	put32le(h + 16, 65535); /* snaplen */
	put32le(h + 20, 1);	/* LINKTYPE_ETHERNET */
	if (fwrite(h, sizeof(h), 1, fp) != 1)
		die("cannot write %s", path);
	for (uint32_t i = 0; i < c->n; i++) {
		uint8_t r[16];

		put32le(r, (uint32_t)(c->f[i].ts / 1000000u));
		put32le(r + 4, (uint32_t)(c->f[i].ts % 1000000u));
		put32le(r + 8, c->f[i].len);
		put32le(r + 12, c->f[i].len);
		if (fwrite(r, sizeof(r), 1, fp) != 1 ||
		    fwrite(c->f[i].data, c->f[i].len, 1, fp) != 1)
			die("cannot write %s", path);
	}
	if (fclose(fp) != 0)
		die("cannot write %s", path);
}

static void pcap_read(const char *path, struct capture *c)
{
	uint8_t h[24], r[16];
	bool swap, nsec;
	FILE *fp = fopen(path, "rb");

	c->n = 0;
	if (!fp)
		die("cannot open %s (run with --regen to create it)", path);
	if (fread(h, sizeof(h), 1, fp) != 1)
		die("%s: shorter than a pcap header", path);
	if (get32(h, false) == 0xa1b2c3d4u || get32(h, false) == 0xa1b23c4du)
		swap = false;
	else if (get32(h, true) == 0xa1b2c3d4u || get32(h, true) == 0xa1b23c4du)
		swap = true;
	else
		die("%s: not a pcap file (bad magic)", path);
	/* net_pcap writes nanosecond files: read as microseconds */
	nsec = get32(h, swap) == 0xa1b23c4du;
	if (get32(h + 20, swap) != 1)
		die("%s: link type is not Ethernet", path);
	for (;;) {
		size_t got = fread(r, 1, sizeof(r), fp);
		uint32_t caplen, origlen, usec;

		if (got == 0)
			break;
		if (got != sizeof(r))
			die("%s: truncated record header", path);
		usec = get32(r + 4, swap);
		if (nsec && usec >= 1000000000u)
			die("%s: record timestamp has nsec >= 10^9", path);
		if (nsec)
			usec /= 1000u;
		caplen = get32(r + 8, swap);
		origlen = get32(r + 12, swap);
		if (usec >= 1000000u)
			die("%s: record timestamp has usec >= 10^6", path);
		if (caplen != origlen || caplen > NET_PKT_BUFSZ || caplen < 14)
			die("%s: record length out of bounds (or cut by snaplen)", path);
		if (c->n >= MAX_FRAMES)
			die("%s: more than 512 records", path);
		c->f[c->n].ts = (uint64_t)get32(r, swap) * 1000000u + usec;
		c->f[c->n].len = caplen;
		if (fread(c->f[c->n].data, caplen, 1, fp) != 1)
			die("%s: truncated record", path);
		c->n++;
	}
	fclose(fp);
}

/* ------------------------------------------------------------------ */
/* Comparison                                                           */

static void hexdump(const char *who, const struct frame *f)
{
	printf("%s: ts %" PRIu64 ".%06" PRIu64 " len %u\n", who, f->ts / 1000000u, f->ts % 1000000u,
	       f->len);
	for (uint32_t i = 0; i < f->len; i += 16) {
		printf("  %04x ", i);
		for (uint32_t k = i; k < i + 16 && k < f->len; k++)
			printf(" %02x", f->data[k]);
		putchar('\n');
	}
}

/* Returns -1 when got equals want, else the index of the first differing
 * frame (a missing or extra frame counts as differing); prints the
 * difference when verbose. */
static long compare(const struct capture *got, const struct capture *want, bool verbose)
{
	uint32_t n = got->n < want->n ? got->n : want->n;

	for (uint32_t i = 0; i <= n; i++) {
		const struct frame *g = i < got->n ? &got->f[i] : NULL;
		const struct frame *w = i < want->n ? &want->f[i] : NULL;

		if (!g && !w)
			return -1;
		if (g && w && g->ts == w->ts && g->len == w->len &&
		    memcmp(g->data, w->data, g->len) == 0)
			continue;
		if (verbose) {
			printf("golden mismatch at frame %u (stack sent %u frames, golden has "
			       "%u)\n",
			       i, got->n, want->n);
			if (g)
				hexdump("stack ", g);
			else
				printf("stack : (no frame)\n");
			if (w)
				hexdump("golden", w);
			else
				printf("golden: (no frame)\n");
		}
		return i;
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* The stacks and their applications                                    */

/* A stack on ops/ctx; with a memdev d (ctx), d->pool is set. */
static struct net_stack *make_stack(const struct net_port_ops *ops, void *ctx, struct net_memdev *d,
				    uint32_t ip, uint8_t mac_last, uint64_t secret)
{
	struct net_cfg c = {0};
	struct net_stack *s;

	memcpy(c.mac, "\x02\x00\x00\x00\x00\x00", 6);
	c.mac[5] = mac_last;
	c.ip = ip;
	c.netmask = 0xffffff00u;
	c.pool_size = 256;
	c.max_socks = 8;
	c.secret = secret;
	c.secret2 = secret * 31u + 7u;
	if (d)
		net_memdev_init(d, 256);
	if (net_stack_create(&s, &c, ops, ctx) != 0)
		die("net_stack_create failed%s", "");
	if (d)
		d->pool = net_stack_pool(s);
	return s;
}

/* The server side: an echo service on ZK_PORT (every byte read is sent
 * back; end of stream closes). */
struct echo {
	struct net_stack *s;
	struct net_sock *l;
	struct net_sock *c[MAX_CONNS];
};

static void echo_run(struct echo *e, uint64_t now)
{
	struct net_sock *so;
	uint8_t buf[4096];

	while (net_accept(e->l, &so) == 0) {
		uint32_t i;

		for (i = 0; i < MAX_CONNS && e->c[i]; i++)
			;
		if (i == MAX_CONNS) {
			net_abort(so, now);
			continue;
		}
		e->c[i] = so;
	}
	for (uint32_t i = 0; i < MAX_CONNS; i++) {
		long n;

		if (!e->c[i])
			continue;
		while ((n = net_recv(e->c[i], buf, sizeof(buf), now)) > 0) {
			if (net_send(e->c[i], buf, (size_t)n, now) != n)
				die("echo: the send buffer %s", "refused the echo");
		}
		if (n != -EAGAIN) { /* end of stream or a dead connection */
			net_close(e->c[i], now);
			e->c[i] = NULL;
		}
	}
}

/* The client side: a ZooKeeper client that sends each request after the
 * previous one came back, then closes. */
#define NREQ 4

struct zkc {
	struct net_stack *s;
	struct net_sock *so;
	uint32_t next; /* the request to send next */
	uint32_t want; /* bytes of the echo still to come */
	bool done;
};

static void p32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t zk_string(uint8_t *p, const char *s)
{
	uint32_t n = (uint32_t)strlen(s);

	p32be(p, n);
	memcpy(p + 4, s, n);
	return 4 + n;
}

/* Request i of the session in jute framing (a 4-byte length first):
 * ConnectRequest, getData("/zookeeper", false), exists("/a", true),
 * ping. */
static uint32_t zk_request(uint32_t i, uint8_t *b)
{
	uint32_t n = 4;

	switch (i) {
	case 0: /* protocolVersion, lastZxidSeen, timeOut, sessionId, passwd,
		   readOnly */
		memset(b + n, 0, 4 + 8);
		n += 12;
		p32be(b + n, 30000);
		n += 4;
		memset(b + n, 0, 8);
		n += 8;
		p32be(b + n, 16);
		memset(b + n + 4, 0, 16);
		n += 20;
		b[n++] = 0;
		break;
	case 1: /* xid 1, getData (4) */
		p32be(b + n, 1);
		p32be(b + n + 4, 4);
		n += 8;
		n += zk_string(b + n, "/zookeeper");
		b[n++] = 0;
		break;
	case 2: /* xid 2, exists (3), watch */
		p32be(b + n, 2);
		p32be(b + n + 4, 3);
		n += 8;
		n += zk_string(b + n, "/a");
		b[n++] = 1;
		break;
	default: /* xid -2, ping (11) */
		p32be(b + n, 0xfffffffeu);
		p32be(b + n + 4, 11);
		n += 8;
		break;
	}
	p32be(b, n - 4);
	return n;
}

static void zkc_run(struct zkc *z, uint64_t now)
{
	uint8_t buf[256];
	long n;

	if (z->done)
		return;
	if (!z->so) {
		if (net_connect(z->s, SERVER_IP, ZK_PORT, now, &z->so) != 0)
			die("net_connect failed%s", "");
		return;
	}
	if (net_events(z->so) & NET_EV_ERR)
		die("the client's connection failed%s", "");
	if (!(net_events(z->so) & NET_EV_CONNECTED))
		return;
	while (z->want && (n = net_recv(z->so, buf, sizeof(buf), now)) > 0) {
		if ((uint32_t)n > z->want)
			die("the echo is longer than the %s", "request");
		z->want -= (uint32_t)n;
	}
	if (z->want)
		return;
	if (z->next == NREQ) {
		net_close(z->so, now);
		z->so = NULL;
		z->done = true;
		return;
	}
	n = zk_request(z->next++, buf);
	if (net_send(z->so, buf, (size_t)n, now) != n)
		die("the client's send was %s", "short");
	z->want = (uint32_t)n;
}

/* Takes every frame the stack sent (after flushing): records it at ts
 * into cap and, when to is not NULL, delivers it there. */
static void move(struct net_stack *s, struct net_memdev *from, struct net_memdev *to, uint64_t ts,
		 struct capture *cap)
{
	struct net_pkt *p;

	net_flush(s);
	if (!from)
		return;
	while ((p = net_memdev_take(from))) {
		cap_add(cap, ts, p->data, p->len);
		if (to && net_memdev_inject(to, p->data, p->len, 0) != 0)
			die("a device queue is %s", "full");
		net_pkt_free(from->pool, p);
	}
}

static void poll_all(struct net_stack *s, uint64_t now)
{
	while (net_poll(s, now) > 0)
		;
}

/* The server's part of one tick, the same in the recording and the
 * replay: poll, run the echo service, take what it sent. */
static void server_tick(struct echo *e, struct net_memdev *d, struct net_memdev *to, uint64_t now,
			struct capture *out)
{
	poll_all(e->s, now);
	echo_run(e, now);
	move(e->s, d, to, now, out);
}

/* Checks that the server ended clean: only the listener left, every
 * buffer back in the pool. */
static void server_fini(struct echo *e, struct net_memdev *d, const char *what)
{
	for (uint32_t i = 0; i < MAX_CONNS; i++)
		if (e->c[i])
			die("%s: a connection is still open at the end", what);
	if (net_stack_socks_in_use(e->s) != 1)
		die("%s: control blocks left besides the listener", what);
	net_close(e->l, T0 + (uint64_t)NTICKS * TICK_US);
	net_flush(e->s);
	if (d)
		net_memdev_drain(d);
	if (net_stack_socks_in_use(e->s) != 0 || net_stack_pool(e->s)->in_use != 0)
		die("%s: control blocks or packet buffers leaked", what);
	net_stack_destroy(e->s);
}

static void server_init(struct echo *e, const struct net_port_ops *ops, void *ctx,
			struct net_memdev *d)
{
	memset(e, 0, sizeof(*e));
	e->s = make_stack(ops, ctx, d, SERVER_IP, 1, 12345);
	if (net_listen(e->s, ZK_PORT, 8, &e->l) != 0)
		die("net_listen failed%s", "");
}

/* Every input frame must sit on a tick of the replay's clock, in order. */
static void check_input(const struct capture *in)
{
	for (uint32_t i = 0; i < in->n; i++) {
		if (in->f[i].ts < T0 || in->f[i].ts >= T0 + (uint64_t)NTICKS * TICK_US ||
		    (in->f[i].ts - T0) % TICK_US != 0)
			die("input frame timestamp off the replay's clock (%s)",
			    "T0 + k * 1 ms, k < 2000");
		if (i && in->f[i].ts < in->f[i - 1].ts)
			die("input frame timestamps go %s", "backwards");
	}
}

/* Replays in into a fresh server; what it sends goes to out. */
static void replay(const struct capture *in, struct capture *out)
{
	static struct net_memdev d;
	struct echo e;
	uint32_t k = 0;

	out->n = 0;
	check_input(in);
	server_init(&e, &net_memdev_ops, &d, &d);
	net_stack_start(e.s, T0);
	for (uint32_t t = 0; t < NTICKS; t++) {
		uint64_t now = T0 + (uint64_t)t * TICK_US;

		for (; k < in->n && in->f[k].ts == now; k++)
			if (net_memdev_inject(&d, in->f[k].data, in->f[k].len, 0) != 0)
				die("the server's receive queue is %s", "full");
		server_tick(&e, &d, NULL, now, out);
	}
	server_fini(&e, &d, "replay");
}

/* The live session: client and server stacks wired together. */
static void record(struct capture *in, struct capture *out)
{
	static struct net_memdev dc, ds;
	struct zkc z = {0};
	struct echo e;

	in->n = out->n = 0;
	server_init(&e, &net_memdev_ops, &ds, &ds);
	net_stack_start(e.s, T0);
	z.s = make_stack(&net_memdev_ops, &dc, &dc, CLIENT_IP, 2, 777);
	net_stack_start(z.s, T0);
	for (uint32_t t = 0; t < NTICKS; t++) {
		uint64_t now = T0 + (uint64_t)t * TICK_US;

		poll_all(z.s, now);
		zkc_run(&z, now);
		move(z.s, &dc, &ds, now, in);
		server_tick(&e, &ds, &dc, now, out);
	}
	if (!z.done)
		die("the client did not finish its %s", "session");
	server_fini(&e, &ds, "recording");
	net_flush(z.s);
	net_memdev_drain(&dc);
	net_stack_destroy(z.s);
}

/* ------------------------------------------------------------------ */
/* The same replay through DPDK: the net_pcap PMD reads the input file  */
/* and writes what the stack sends to a pcap file of its own            */

/* net_pcap hands out every frame of its file as soon as it is asked; the
 * gate, between the DPDK port's operations and the stack, holds them and
 * lets frame k reach the stack at the tick it was recorded at, so the
 * stack sees what it saw in the recording.  It checks that each frame the
 * PMD delivers is the recorded one, and records (with the tick) what the
 * stack hands to the port. */
struct gate {
	const struct net_port_ops *ops; /* the DPDK port's */
	void *ctx;			/* its queue 0 */
	const struct capture *in;
	struct capture *out;
	uint64_t now;
	uint32_t k;   /* frames released to the stack */
	uint32_t got; /* frames taken from the port */
	struct net_pkt *hold[MAX_FRAMES];
};

static uint16_t gate_rx(void *ctx, struct net_pkt **pkts, uint16_t n)
{
	struct gate *g = ctx;
	struct net_pkt *b[32];
	uint16_t m, out = 0;

	while ((m = g->ops->rx_burst(g->ctx, b, 32)) > 0) {
		for (uint16_t i = 0; i < m; i++) {
			const struct frame *f;

			if (g->got >= g->in->n)
				die("net_pcap delivered more frames than %s holds", IN_NAME);
			f = &g->in->f[g->got];
			if (b[i]->len != f->len || memcmp(b[i]->data, f->data, f->len) != 0)
				die("net_pcap delivered a frame that differs from %s", IN_NAME);
			g->hold[g->got++] = b[i];
		}
	}
	while (out < n && g->k < g->got && g->in->f[g->k].ts <= g->now)
		pkts[out++] = g->hold[g->k++];
	return out;
}

static uint16_t gate_tx(void *ctx, struct net_pkt **pkts, uint16_t n)
{
	struct gate *g = ctx;
	uint32_t n0 = g->out->n;
	uint16_t sent;

	/* the port frees what it sent: copy first, keep what it took */
	for (uint16_t i = 0; i < n; i++)
		cap_add(g->out, g->now, pkts[i]->data, pkts[i]->len);
	sent = g->ops->tx_burst(g->ctx, pkts, n);
	g->out->n = n0 + sent;
	return sent;
}

/* The temporary directory of the tx_pcap file, removed at exit (also
 * after die). */
static char tmp_dir[] = "/tmp/cheetah-golden-XXXXXX", tmp_tx[64];

static void tmp_cleanup(void)
{
	if (tmp_tx[0])
		unlink(tmp_tx);
	rmdir(tmp_dir);
}

/* Replays in_path (holding in) through net_pcap into a fresh server: out
 * gets the frames the stack handed to the port, wire those net_pcap wrote
 * to its tx_pcap file (with its own, wall-clock timestamps). */
static void replay_dpdk(const char *in_path, const struct capture *in, struct capture *out,
			struct capture *wire)
{
	char eal[2048], err[256] = "";
	struct net_dpdk_port_cfg pc = {.no_offload = true};
	struct net_port_ops ops = {.rx_burst = gate_rx, .tx_burst = gate_tx};
	static struct gate g;
	struct net_dpdk_port *p;
	struct echo e;

	check_input(in);
	if (strpbrk(in_path, " ,\t\n"))
		die("%s: a blank or a comma in the path breaks the --vdev argument", in_path);
	if (!mkdtemp(tmp_dir))
		die("mkdtemp: %s", strerror(errno));
	atexit(tmp_cleanup);
	snprintf(tmp_tx, sizeof(tmp_tx), "%s/tx.pcap", tmp_dir);
	if ((size_t)snprintf(eal, sizeof(eal),
			     "--no-huge -m 128 --no-pci --no-shconf --no-telemetry "
			     "--lcores=0@(0-1) --log-level=warning --file-prefix=chgold%d "
			     "--vdev=net_pcap0,rx_pcap=%s,tx_pcap=%s",
			     (int)getpid(), in_path, tmp_tx) >= sizeof(eal))
		die("%s: path too long", in_path);
	if (net_dpdk_eal_init_str(eal, err, sizeof(err)) != 0)
		die("EAL: %s", err);
	if (net_dpdk_port_open(&p, &pc, err, sizeof(err)) != 0)
		die("the net_pcap port: %s", err);
	memset(&g, 0, sizeof(g));
	g.ops = net_dpdk_port_ops(p);
	g.ctx = net_dpdk_queue(p, 0);
	g.in = in;
	g.out = out;
	g.now = T0;
	out->n = 0;
	if (g.ops->caps)
		die("the port uses checksum offloads (the golden file has %s)",
		    "software checksums");
	server_init(&e, &ops, &g, NULL);
	net_dpdk_queue_bind(g.ctx, net_stack_pool(e.s));
	net_stack_start(e.s, T0);
	for (uint32_t t = 0; t < NTICKS; t++) {
		g.now = T0 + (uint64_t)t * TICK_US;
		server_tick(&e, NULL, NULL, g.now, out);
	}
	if (g.k != in->n)
		die("not every input frame reached the stack through %s", "net_pcap");
	server_fini(&e, NULL, "dpdk replay");
	net_dpdk_port_close(p); /* net_pcap writes tx.pcap out here */
	net_dpdk_eal_fini();
	pcap_read(tmp_tx, wire);
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (!p)
		die("out of %s", "memory");
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

int main(int argc, char **argv)
{
	static struct capture in, out, golden, mutated, wire;
	bool regen = argc == 3 && strcmp(argv[1], "--regen") == 0;
	bool dpdk = argc == 3 && strcmp(argv[1], "--dpdk") == 0;
	const char *dir = argv[argc - 1];
	char *in_path, *out_path;

	if (!(argc == 2 && argv[1][0] != '-') && !regen && !dpdk) {
		fprintf(stderr, "usage: %s [--regen | --dpdk] GOLDEN_DIR\n", argv[0]);
		return 2;
	}
	in_path = join(dir, IN_NAME);
	out_path = join(dir, OUT_NAME);
	if (regen) {
		record(&in, &golden);
		replay(&in, &out);
		if (compare(&out, &golden, true) >= 0)
			die("the replay does not reproduce the live %s", "session");
		pcap_write(in_path, &in);
		pcap_write(out_path, &golden);
		printf("wrote %s (%u frames) and %s (%u frames)\n", in_path, in.n, out_path,
		       golden.n);
		free(in_path);
		free(out_path);
		return 0;
	}
	pcap_read(in_path, &in);
	pcap_read(out_path, &golden);
	if (dpdk) {
		replay_dpdk(in_path, &in, &out, &wire);
		if (compare(&out, &golden, true) >= 0) {
			printf("(frames the stack handed to the net_pcap port)\n");
			return 1;
		}
		/* net_pcap stamps its file with the wall clock: bytes only */
		for (uint32_t i = 0; i < wire.n && i < golden.n; i++)
			wire.f[i].ts = golden.f[i].ts;
		if (compare(&wire, &golden, true) >= 0) {
			printf("(frames net_pcap wrote to its tx_pcap file)\n");
			return 1;
		}
		printf("golden dpdk: %u input frames through net_pcap, %u output frames "
		       "identical\n",
		       in.n, wire.n);
		free(in_path);
		free(out_path);
		return 0;
	}
	replay(&in, &out);
	if (compare(&out, &golden, true) >= 0) {
		printf("if the change to the wire is intended, see --regen in %s\n", __FILE__);
		return 1;
	}
	/* the comparison itself catches a one-byte change in the middle */
	if (golden.n < 2)
		die("the golden file holds too few %s", "frames");
	mutated = golden;
	mutated.f[golden.n / 2].data[mutated.f[golden.n / 2].len - 1] ^= 1;
	if (compare(&out, &mutated, false) != (long)(golden.n / 2))
		die("the comparison missed a changed %s", "byte");
	printf("golden: %u input frames replayed, %u output frames identical\n", in.n, out.n);
	free(in_path);
	free(out_path);
	return 0;
}
