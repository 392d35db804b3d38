// SPDX-License-Identifier: Apache-2.0
/*
 * net_echo_dpdk.c - a TCP echo service on the user-space stack over a DPDK
 * port, for tests/net/test_veth.py: the stack answers ARP and ping, and
 * every connection to --port gets its bytes back until it closes.
 *
 *   net_echo_dpdk --eal "<EAL arguments>" --ip A [--netmask M]
 *                 [--gateway G] [--port P] [--timeout S] [--no-offload]
 *                 [--idle backoff|spin]   (cheetah.dpdk.idle's two modes)
 *
 * It prints one "ready ..." line once the port is up (MAC, driver, the
 * offloads in use), runs until SIGINT/SIGTERM or --timeout, then closes
 * everything, checks that no packet buffer, mbuf or control block leaked,
 * prints one "stats ..." line of counters and exits 0 (1 on any error or
 * leak).  The poll loop backs off when idle (net_idle in net.h), so the
 * test does not take a whole CPU of this 2-core machine.
 *
 * Thread: one; the stack, the port's queue and the echo state are its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/clock.h"
#include "dataplane/net/net_dpdk.h"

#define MAX_CONNS 64
#define BUF 16384

struct conn {
	struct net_sock *so;
	size_t off, len; /* pending echo bytes buf[off..off+len) */
	bool eof;
	uint8_t buf[BUF];
};

static volatile sig_atomic_t stop;
static struct conn conns[MAX_CONNS];
static uint64_t n_accepted, n_closed, n_reset, bytes;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_us(void)
{
	return clock_mono_ns() / 1000u;
}

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

/* Moves one connection's bytes: recv into the pending buffer, send it
 * back; closes on end of stream once everything is echoed.  Returns true
 * if it did anything. */
static bool serve(struct conn *c, uint64_t now)
{
	bool did = false;
	long n;

	for (;;) {
		if (c->len == 0 && !c->eof) {
			n = net_recv(c->so, c->buf, sizeof(c->buf), now);
			if (n == -EAGAIN)
				break;
			if (n == 0) {
				c->eof = true;
				did = true;
				break;
			}
			if (n < 0) {
				fprintf(stderr, "net_echo_dpdk: recv: %s\n", strerror((int)-n));
				n_reset++;
				net_abort(c->so, now);
				c->so = NULL;
				return true;
			}
			c->off = 0;
			c->len = (size_t)n;
			did = true;
		}
		if (c->len == 0)
			break;
		n = net_send(c->so, c->buf + c->off, c->len, now);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			fprintf(stderr, "net_echo_dpdk: send: %s\n", strerror((int)-n));
			n_reset++;
			net_abort(c->so, now);
			c->so = NULL;
			return true;
		}
		c->off += (size_t)n;
		c->len -= (size_t)n;
		bytes += (uint64_t)n;
		did = true;
	}
	if (c->eof && c->len == 0) {
		net_close(c->so, now);
		c->so = NULL;
		n_closed++;
		did = true;
	}
	return did;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: net_echo_dpdk --eal \"EAL ARGS\" --ip A [--netmask M] [--gateway G] "
		"[--port P] [--timeout S] [--no-offload] [--idle backoff|spin] "
		"[--backlog N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"eal", required_argument, NULL, 'e'},     {"ip", required_argument, NULL, 'i'},
	    {"netmask", required_argument, NULL, 'm'}, {"gateway", required_argument, NULL, 'g'},
	    {"port", required_argument, NULL, 'p'},    {"timeout", required_argument, NULL, 't'},
	    {"no-offload", no_argument, NULL, 'n'},    {"idle", required_argument, NULL, 'd'},
	    {"backlog", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0},
	};
	struct net_dpdk_port_cfg pc = {0};
	struct net_cfg cfg = {0};
	struct net_dpdk_port *port;
	struct net_dpdk_queue *q;
	struct net_stack *st;
	struct net_sock *l;
	struct net_idle idle;
	enum net_idle_mode idle_mode = NET_IDLE_BACKOFF;
	const char *eal = NULL;
	char err[512] = "";
	unsigned lport = 7, timeout_s = 120, backlog = 32, mbufs0;
	uint64_t deadline, now;
	int rc, opt, fail = 0;

	cfg.netmask = 0xffffff00u;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			eal = optarg;
			break;
		case 'i':
			if (parse_ip(optarg, &cfg.ip))
				usage();
			break;
		case 'm':
			if (parse_ip(optarg, &cfg.netmask))
				usage();
			break;
		case 'g':
			if (parse_ip(optarg, &cfg.gateway))
				usage();
			break;
		case 'p':
			lport = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			timeout_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			backlog = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			pc.no_offload = true;
			break;
		case 'd':
			if (strcmp(optarg, "spin") == 0)
				idle_mode = NET_IDLE_SPIN;
			else if (strcmp(optarg, "backoff") == 0)
				idle_mode = NET_IDLE_BACKOFF;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (!eal || !cfg.ip || lport == 0 || lport > 65535 || backlog == 0)
		usage();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	rc = net_dpdk_eal_init_str(eal, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "net_echo_dpdk: %s\n", err);
		return 1;
	}
	rc = net_dpdk_port_open(&port, &pc, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "net_echo_dpdk: %s\n", err);
		net_dpdk_eal_fini();
		return 1;
	}
	net_dpdk_port_mac(port, cfg.mac);
	if (getrandom(&cfg.secret, sizeof(cfg.secret), 0) != sizeof(cfg.secret) ||
	    getrandom(&cfg.secret2, sizeof(cfg.secret2), 0) != sizeof(cfg.secret2)) {
		fprintf(stderr, "net_echo_dpdk: getrandom failed\n");
		return 1;
	}
	cfg.max_socks = MAX_CONNS + 16;
	q = net_dpdk_queue(port, 0);
	rc = net_stack_create(&st, &cfg, net_dpdk_port_ops(port), q);
	if (rc) {
		fprintf(stderr, "net_echo_dpdk: stack: %s\n", strerror(-rc));
		return 1;
	}
	net_dpdk_queue_bind(q, net_stack_pool(st));
	mbufs0 = net_dpdk_queue_mbufs_in_use(q);
	rc = net_listen(st, (uint16_t)lport, backlog, &l);
	if (rc) {
		fprintf(stderr, "net_echo_dpdk: listen: %s\n", strerror(-rc));
		return 1;
	}
	net_stack_start(st, now_us());
	net_idle_init(&idle, idle_mode);
	{
		uint32_t caps = net_dpdk_port_ops(port)->caps;

		printf("ready mac=%02x:%02x:%02x:%02x:%02x:%02x driver=%s rx_csum=%d "
		       "tx_ip_csum=%d tx_tcp_csum=%d\n",
		       cfg.mac[0], cfg.mac[1], cfg.mac[2], cfg.mac[3], cfg.mac[4], cfg.mac[5],
		       net_dpdk_port_driver(port), !!(caps & NET_PORT_RX_CSUM),
		       !!(caps & NET_PORT_TX_IP_CSUM), !!(caps & NET_PORT_TX_TCP_CSUM));
		fflush(stdout);
	}

	deadline = now_us() + (uint64_t)timeout_s * 1000000u;
	while (!stop) {
		bool did;
		struct net_sock *so;

		now = now_us();
		if (now >= deadline) {
			fprintf(stderr, "net_echo_dpdk: --timeout %u s reached\n", timeout_s);
			fail = 1;
			break;
		}
		did = net_poll(st, now) > 0;
		while (net_accept(l, &so) == 0) {
			int i;

			for (i = 0; i < MAX_CONNS && conns[i].so; i++)
				;
			if (i == MAX_CONNS) {
				net_abort(so, now);
				continue;
			}
			memset(&conns[i], 0, sizeof(conns[i]) - BUF);
			conns[i].so = so;
			n_accepted++;
			did = true;
		}
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i].so && serve(&conns[i], now))
				did = true;
		net_flush(st);
		net_idle_wait(&idle, did, now, net_next_timer(st));
	}

	/* Shut down: reset what is left, let the RSTs go out, check leaks. */
	now = now_us();
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].so) {
			net_abort(conns[i].so, now);
			conns[i].so = NULL;
		}
	net_close(l, now);
	net_poll(st, now);
	{
		const struct net_stats *s = net_stack_stats(st);
		struct net_port_stats d;

		net_stack_port_stats(st, &d);
		printf("stats rx_frames=%lu tx_frames=%lu tx_drop=%lu arp_rx=%lu arp_tx=%lu "
		       "icmp_echo_reply=%lu ip_bad_csum=%lu tcp_bad_csum=%lu tcp_rx=%lu tcp_tx=%lu "
		       "tcp_retrans=%lu tcp_fast_retrans=%lu tcp_rto=%lu tcp_ooo=%lu tcp_dup=%lu "
		       "tcp_sack_recovery=%lu tcp_sack_rexmit=%lu tcp_sack_rescue=%lu "
		       "tcp_syncookie_tx=%lu tcp_syncookie_ok=%lu tcp_syncookie_bad=%lu "
		       "tcp_tlp_probe=%lu tcp_tlp_repaired=%lu tcp_rack_lost=%lu "
		       "tcp_rack_recovery=%lu accepted=%lu closed=%lu reset=%lu echoed=%lu "
		       "port_rx=%lu port_tx=%lu port_rx_drop=%lu port_tx_drop=%lu "
		       "port_rx_csum_bad=%lu dev_rx_missed=%lu dev_rx_errors=%lu dev_tx_errors=%lu "
		       "idle_sleeps=%lu\n",
		       s->rx_frames, s->tx_frames, s->tx_drop, s->arp_rx, s->arp_tx,
		       s->icmp_echo_reply, s->ip_bad_csum, s->tcp_bad_csum, s->tcp_rx, s->tcp_tx,
		       s->tcp_retrans, s->tcp_fast_retrans, s->tcp_rto, s->tcp_ooo, s->tcp_dup,
		       s->tcp_sack_recovery, s->tcp_sack_rexmit, s->tcp_sack_rescue,
		       s->tcp_syncookie_tx, s->tcp_syncookie_ok, s->tcp_syncookie_bad,
		       s->tcp_tlp_probe, s->tcp_tlp_repaired, s->tcp_rack_lost,
		       s->tcp_rack_recovery, n_accepted, n_closed, n_reset, bytes, d.rx_pkts,
		       d.tx_pkts, d.rx_drop, d.tx_drop, d.rx_csum_bad, d.dev_rx_missed,
		       d.dev_rx_errors, d.dev_tx_errors, idle.sleeps);
	}
	/* Leaks: net_stack_destroy frees the control blocks left (TIME_WAIT,
	 * closing) and asserts that every packet buffer is back in the pool;
	 * the mbufs are counted below. */
	net_stack_destroy(st);
	if (net_dpdk_queue_mbufs_in_use(q) != mbufs0) {
		fprintf(stderr, "net_echo_dpdk: mbufs in use %u, %u at start\n",
			net_dpdk_queue_mbufs_in_use(q), mbufs0);
		fail = 1;
	}
	net_dpdk_port_close(port);
	net_dpdk_eal_fini();
	fflush(stdout);
	return fail;
}
