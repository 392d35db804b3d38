// SPDX-License-Identifier: Apache-2.0
/*
 * net_dpdk.c - the stack's port on a DPDK ethdev (net_dpdk.h).
 *
 * Why this shape: the stack (net.h) takes and returns bursts of struct
 * net_pkt through net_port_ops and knows nothing of DPDK; this file is the
 * only one of dataplane/net that includes DPDK headers, and the only one
 * built with DPDK's compile flags (its own static library in meson.build).
 *
 * Buffers: a received mbuf chain is copied into one of the stack's 2 KiB
 * buffers and freed at once; a frame the stack sends is copied into a
 * fresh mbuf from the queue's mempool and its net_pkt goes back to the
 * stack's pool.  The stack keeps its fixed pool with leak counters and its
 * fuzzer and unit tests stay DPDK-free; the price is one copy of at most
 * 1514 bytes per frame each way (docs/ARCHITECTURE.md, "The DPDK port").
 *
 * Offloads: the device's IPv4 and TCP checksum offloads are enabled when
 * it offers them and announced to the stack through net_port_ops.caps;
 * the stack then leaves the IPv4 checksum to the device and puts the
 * pseudo-header sum in the TCP checksum field, as DPDK's TX checksum
 * offload expects (rte_ipv4_phdr_cksum).  On RX, the mbuf's checksum flags
 * become NET_PKT_RX_*; "unknown" leaves the check to the stack.
 *
 * TSO: when the device offers TCP_TSO with MULTI_SEGS and the checksum
 * offloads (and the port is not opened with no_tso or no_offload), the
 * stack may send a TCP super-segment as a chain of its buffers; it
 * becomes a chain of mbufs, one per buffer, with RTE_MBUF_F_TX_TCP_SEG,
 * tso_segsz (the payload of each segment, TCP options excluded: DPDK's
 * PMDs and rte_gso cut at tso_segsz + l2_len + l3_len + l4_len) and the
 * pseudo-header sum without the length in the TCP checksum field.
 *
 * Queues: one RX/TX pair and one mempool per dataplane core; RSS with a
 * symmetric Toeplitz key (0x6d5a repeated) when there is more than one, so
 * both directions of a flow land on the same core.
 *
 * Ring drops of net_af_packet: the kernel copies each frame into the
 * PMD's PACKET_RX_RING and drops it, counting it in the socket's
 * tp_drops, when the ring is full (the worker did not drain it in time).
 * DPDK 22.11's af_packet PMD does not report those in imissed, so open
 * finds the PMD's packet sockets (the process's AF_PACKET descriptors
 * bound to the device's interface) and dpdk_stats adds their
 * PACKET_STATISTICS drops (read-and-clear, so accumulated here) to
 * dev_rx_missed.  Without that count a full ring looks like a lossy wire.
 *
 * Threads: open/close on the control thread; a queue's burst functions and
 * counters on the one thread that owns the queue's stack; the device's
 * counters (dpdk_stats' rte_eth_stats_get and ring drops) on one thread at
 * a time (dataplane/io/dpdk.c reads them on worker 0, or after the
 * workers stopped).
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "net_dpdk.h"

#define ETH_HLEN 14u
#define BURST_MAX 64u
/* mbufs of one TX burst: 64 plain frames, or a few TSO super-segments
 * (one mbuf per 2 KiB buffer of their chains: at most 33 each). */
#define TX_SEGS_MAX 256u
#define MEMPOOL_CACHE 256u
/* af_packet sockets of one port whose ring drops are counted (qpairs). */
#define PKT_FDS_MAX NET_DPDK_MAX_QUEUES

struct net_dpdk_queue {
	struct net_dpdk_port *port;
	uint16_t port_id, qid;
	struct rte_mempool *mp;
	struct net_pool *pool; /* the stack's, for received frames */
	uint64_t tx_ol;	       /* TX offloads enabled (RTE_ETH_TX_OFFLOAD_*) */
	struct net_dpdk_stats stats;
};

struct net_dpdk_port {
	uint16_t port_id, n_queues;
	bool configured; /* close must stop and close the ethdev */
	uint8_t mac[6];
	char driver[32];
	int pkt_fd[PKT_FDS_MAX]; /* net_af_packet's sockets (not ours: never closed) */
	unsigned n_pkt_fd;
	uint64_t ring_drops; /* their tp_drops so far (read-and-clear in the kernel) */
	bool tso;	     /* TCP segmentation offload enabled */
	struct net_port_ops ops;
	struct net_dpdk_queue q[];
};

static bool eal_done;
/* Kept for the process: the EAL may keep pointers into them. */
static char **eal_own, **eal_argv;
static int eal_argc;

static void free_vec(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* EAL                                                                 */

int net_dpdk_eal_init(int argc, char *const argv[], char *err, size_t errlen)
{
	char **own = NULL, **av = NULL;
	int rc, n = argc + 1;

	if (argc < 0 || (argc > 0 && !argv)) {
		say(err, errlen, "bad EAL argument vector");
		return -EINVAL;
	}
	if (eal_done) {
		say(err, errlen, "the DPDK EAL is already initialised in this process");
		return -EALREADY;
	}
	/* own: our copies of the strings; av: the vector handed to the EAL,
	 * which permutes it and overwrites an entry with its program name,
	 * so the strings are freed (or kept) through own only. */
	own = calloc((size_t)n + 1, sizeof(*own));
	av = calloc((size_t)n + 1, sizeof(*av));
	if (!own || !av)
		goto nomem;
	own[0] = strdup("cheetah");
	if (!own[0])
		goto nomem;
	for (int i = 0; i < argc; i++) {
		own[i + 1] = strdup(argv[i]);
		if (!own[i + 1])
			goto nomem;
	}
	memcpy(av, own, (size_t)n * sizeof(*av));
	rc = rte_eal_init(n, av);
	if (rc < 0) {
		int e = rte_errno;

		/* The EAL printed the reason just before; rte_errno may be 0
		 * (a second primary with the same --file-prefix). */
		say(err, errlen,
		    "DPDK EAL initialisation failed: %s (see the EAL's messages above)",
		    e ? rte_strerror(e) : "no reason given");
		eal_done = e == EALREADY;
		free_vec(own, n);
		free(av);
		return e ? -e : -EINVAL;
	}
	eal_done = true;
	eal_own = own;
	eal_argv = av;
	eal_argc = argc;
	return 0;
nomem:
	free_vec(own, n);
	free(av);
	say(err, errlen, "out of memory");
	return -ENOMEM;
}

int net_dpdk_eal_init_str(const char *eal, char *err, size_t errlen)
{
	char *copy = strdup(eal ? eal : ""), *save = NULL;
	char **argv = NULL;
	int argc = 0, rc;

	if (!copy)
		goto nomem;
	for (char *a = strtok_r(copy, " \t\f\r\n", &save); a;
	     a = strtok_r(NULL, " \t\f\r\n", &save)) {
		char **grown = realloc(argv, (size_t)(argc + 1) * sizeof(*argv));

		if (!grown)
			goto nomem;
		argv = grown;
		argv[argc++] = a;
	}
	rc = net_dpdk_eal_init(argc, argv, err, errlen);
	free(argv);
	free(copy);
	return rc;
nomem:
	free(argv);
	free(copy);
	say(err, errlen, "out of memory");
	return -ENOMEM;
}

void net_dpdk_eal_fini(void)
{
	char dir[PATH_MAX];

	if (!eal_done || !eal_argv)
		return;
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	/* With --no-shconf the EAL leaves its runtime folder empty behind;
	 * one per --file-prefix piles up on tmpfs.  rmdir keeps a folder
	 * that is not empty (a primary that shares it). */
	if (dir[0])
		rmdir(dir);
	/* eal_done stays: DPDK refuses a second rte_eal_init anyway. */
	free_vec(eal_own, eal_argc + 1);
	free(eal_argv);
	eal_own = eal_argv = NULL;
}

unsigned net_dpdk_port_count(void)
{
	return eal_done ? rte_eth_dev_count_avail() : 0;
}

/* ------------------------------------------------------------------ */
/* Bursts                                                              */

static uint32_t rx_flags(const struct rte_mbuf *m, struct net_dpdk_stats *st)
{
	uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	uint32_t f = 0;

	/* NONE: the checksum field is not filled in (the sender offloaded
	 * it) but the data is intact, which is all the stack needs. */
	if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE)
		f |= NET_PKT_RX_IP_CSUM_GOOD;
	else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		f |= NET_PKT_RX_IP_CSUM_BAD;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE)
		f |= NET_PKT_RX_L4_CSUM_GOOD;
	else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		f |= NET_PKT_RX_L4_CSUM_BAD;
	if (f & (NET_PKT_RX_IP_CSUM_BAD | NET_PKT_RX_L4_CSUM_BAD))
		st->rx_csum_bad++;
	return f;
}

static uint16_t dpdk_rx(void *ctx, struct net_pkt **pkts, uint16_t n)
{
	struct net_dpdk_queue *q = ctx;
	struct rte_mbuf *m[BURST_MAX];
	uint16_t got, out = 0;

	assert(q->pool);
	if (n > BURST_MAX)
		n = BURST_MAX;
	got = rte_eth_rx_burst(q->port_id, q->qid, m, n);
	for (uint16_t i = 0; i < got; i++) {
		uint32_t len = rte_pktmbuf_pkt_len(m[i]);
		struct net_pkt *p;
		const void *data;

		if (len > NET_PKT_BUFSZ) {
			q->stats.rx_too_big++;
			continue;
		}
		p = net_pkt_alloc(q->pool);
		if (!p) {
			q->stats.rx_nobuf++;
			continue;
		}
		/* One segment: a pointer into it; a chain: gathered into p. */
		data = rte_pktmbuf_read(m[i], 0, len, p->data);
		assert(data);
		if (data != p->data)
			memcpy(p->data, data, len);
		p->len = (uint16_t)len;
		if (q->port->ops.caps & NET_PORT_RX_CSUM)
			p->flags = rx_flags(m[i], &q->stats);
		pkts[out++] = p;
	}
	if (got)
		rte_pktmbuf_free_bulk(m, got);
	q->stats.rx_pkts += out;
	return out;
}

/*
 * Copies a frame (a chain of nb buffers: a TSO super-segment) into the
 * mbufs m[0..nb), chained behind m[0], and sets the offload fields the
 * stack asked for.
 */
static void tx_fill(struct rte_mbuf **m, uint32_t nb, const struct net_pkt *p)
{
	struct rte_mbuf *head = m[0];
	uint32_t total = 0;

	for (uint32_t i = 0; i < nb; i++, p = p->frag) {
		char *d = rte_pktmbuf_append(m[i], p->len);

		assert(d); /* NET_PKT_BUFSZ fits the default data room */
		memcpy(d, p->data, p->len);
		total += p->len;
		if (i)
			m[i - 1]->next = m[i];
	}
	assert(!p);
	head->nb_segs = (uint16_t)nb;
	head->pkt_len = total;
}

/* The offload fields of a frame's first mbuf. */
static void tx_offload(struct net_dpdk_queue *q, struct rte_mbuf *m, const struct net_pkt *p)
{
	if (p->flags & (NET_PKT_TX_IP_CSUM | NET_PKT_TX_TCP_CSUM)) {
		const uint8_t *ip = p->data + ETH_HLEN;

		assert(p->len >= ETH_HLEN + 20u);
		m->l2_len = ETH_HLEN;
		m->l3_len = (ip[0] & 15u) * 4u;
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
		if (p->flags & NET_PKT_TX_IP_CSUM) {
			assert(q->tx_ol & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM);
			m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
		}
		if (p->flags & NET_PKT_TX_TCP_CSUM) {
			assert(q->tx_ol & RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
			m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
			m->l4_len = (uint64_t)(p->data[ETH_HLEN + m->l3_len + 12] >> 4) * 4u;
		}
		if (p->flags & NET_PKT_TX_TCP_SEG) {
			assert(q->tx_ol & RTE_ETH_TX_OFFLOAD_TCP_TSO);
			assert(p->flags & NET_PKT_TX_IP_CSUM && p->flags & NET_PKT_TX_TCP_CSUM);
			m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
			m->tso_segsz = p->tso_segsz;
			q->stats.tx_tso++;
		}
	}
}

/*
 * rte_eth_tx_prepare stops at the first frame the device refuses (a TSO
 * segment size or a chain its PMD cannot take: i40e, iavf); the frames
 * before it are prepared, the ones after it not looked at.  The refused
 * frame is dropped alone (tx_bad) and the rest prepared again, so one
 * bad frame never takes its burst down with it: TCP retransmits the
 * dropped bytes, and a retransmission never leaves as a super-segment
 * (tcp_out.c), the only frames a device refuses for their shape (the
 * stack makes none with segments under NET_TSO_SEG_MIN).  Fills
 * ok[0..) with the frames to send and at[] with their index in m[];
 * frees the refused mbufs and marks them in bad[].  Returns the number
 * of frames in ok[].
 */
static uint16_t tx_prepare(struct net_dpdk_queue *q, struct rte_mbuf **m, uint16_t k,
			   struct rte_mbuf **ok, uint16_t *at, bool *bad)
{
	uint16_t i = 0, nok = 0;

	while (i < k) {
		uint16_t r = rte_eth_tx_prepare(q->port_id, q->qid, m + i, (uint16_t)(k - i));

		assert(r <= k - i);
		for (uint16_t j = i; j < i + r; j++) {
			ok[nok] = m[j];
			at[nok++] = j;
		}
		i = (uint16_t)(i + r);
		if (i == k)
			break;
		bad[i] = true;
		rte_pktmbuf_free(m[i]);
		m[i] = NULL;
		i++;
	}
	assert(nok <= k);
	return nok;
}

static uint16_t dpdk_tx(void *ctx, struct net_pkt **pkts, uint16_t n)
{
	struct net_dpdk_queue *q = ctx;
	struct rte_mbuf *m[BURST_MAX], *ok[BURST_MAX], *seg[TX_SEGS_MAX];
	uint16_t done = 0, at[BURST_MAX];
	bool bad[BURST_MAX];

	assert(q->pool);
	while (done < n) {
		uint16_t k, nok, taken, sent = 0, tries = 0, nb[BURST_MAX];
		uint32_t nseg = 0;

		/* A burst: up to BURST_MAX frames of TX_SEGS_MAX mbufs in all
		 * (a TSO super-segment takes one per buffer of its chain). */
		for (k = 0; done + k < n && k < BURST_MAX; k++) {
			const struct net_pkt *p = pkts[done + k];

			nb[k] = (uint16_t)(p->frag ? net_pkt_chain_bufs(p) : 1);
			assert(nb[k] <= TX_SEGS_MAX);
			if (nseg + nb[k] > TX_SEGS_MAX)
				break;
			nseg += nb[k];
		}
		if (rte_pktmbuf_alloc_bulk(q->mp, seg, nseg) != 0) {
			q->stats.tx_nombuf += (uint64_t)(n - done);
			break;
		}
		for (uint16_t i = 0, j = 0; i < k; j = (uint16_t)(j + nb[i]), i++) {
			tx_fill(seg + j, nb[i], pkts[done + i]);
			m[i] = seg[j];
			tx_offload(q, m[i], pkts[done + i]);
			bad[i] = false;
		}
		/* Always: a device may refuse a frame without any offload too
		 * (segments per frame); without a prepare function it is a
		 * pointer test. */
		nok = tx_prepare(q, m, k, ok, at, bad);
		/* A full ring may drain while we retry: a few tries, no wait. */
		while (sent < nok && tries++ < 4) {
			uint16_t s =
			    rte_eth_tx_burst(q->port_id, q->qid, ok + sent, (uint16_t)(nok - sent));

			if (!s)
				continue;
			sent = (uint16_t)(sent + s);
			tries = 0;
		}
		/* Taken: the frames up to the first one the ring refused (all
		 * k when it took every prepared one), the refused ones among
		 * them dropped here; the rest stays the stack's. */
		taken = sent < nok ? at[sent] : k;
		if (sent < nok)
			rte_pktmbuf_free_bulk(ok + sent, (unsigned)(nok - sent));
		for (uint16_t i = 0; i < taken; i++) {
			q->stats.tx_bad += bad[i];
			net_pkt_free(q->pool, pkts[done + i]);
		}
		done = (uint16_t)(done + taken);
		q->stats.tx_pkts += sent;
		if (taken < k) {
			q->stats.tx_full += (uint64_t)(n - done);
			break;
		}
	}
	assert(done <= n);
	return done;
}

static uint64_t ring_drops(struct net_dpdk_port *p);

static void dpdk_stats(void *ctx, struct net_port_stats *out)
{
	struct net_dpdk_queue *q = ctx;
	struct rte_eth_stats es;

	out->rx_pkts = q->stats.rx_pkts;
	out->tx_pkts = q->stats.tx_pkts;
	out->rx_drop = q->stats.rx_nobuf + q->stats.rx_too_big;
	out->tx_drop = q->stats.tx_nombuf + q->stats.tx_full + q->stats.tx_bad;
	out->rx_csum_bad = q->stats.rx_csum_bad;
	if (rte_eth_stats_get(q->port_id, &es) == 0) {
		out->dev_rx_missed = es.imissed;
		out->dev_rx_errors = es.ierrors + es.rx_nombuf;
		out->dev_tx_errors = es.oerrors;
	}
	out->dev_rx_missed += ring_drops(q->port);
}

/* ------------------------------------------------------------------ */
/* af_packet ring drops                                                */

/*
 * The af_packet PMD's sockets: this process's AF_PACKET descriptors
 * bound to ifindex.  The PMD opened them in rte_eal_init (vdev probe);
 * nothing else in Cheetah opens packet sockets.
 */
static void find_pkt_fds(struct net_dpdk_port *p, unsigned ifindex)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	p->n_pkt_fd = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && p->n_pkt_fd < PKT_FDS_MAX) {
		struct sockaddr_ll sll;
		socklen_t len = sizeof(sll);
		int fd, dom = 0;
		socklen_t dl = sizeof(dom);
		char *end;
		long v = strtol(e->d_name, &end, 10);

		if (*end || v < 0 || v > INT_MAX || (int)v == dirfd(d))
			continue;
		fd = (int)v;
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) || dom != AF_PACKET)
			continue;
		memset(&sll, 0, sizeof(sll));
		if (getsockname(fd, (struct sockaddr *)&sll, &len) ||
		    (unsigned)sll.sll_ifindex != ifindex)
			continue;
		p->pkt_fd[p->n_pkt_fd++] = fd;
	}
	closedir(d);
}

static uint64_t ring_drops(struct net_dpdk_port *p)
{
	for (unsigned i = 0; i < p->n_pkt_fd; i++) {
		struct tpacket_stats_v3 ts;
		socklen_t len = sizeof(ts);

		memset(&ts, 0, sizeof(ts));
		if (getsockopt(p->pkt_fd[i], SOL_PACKET, PACKET_STATISTICS, &ts, &len) == 0)
			p->ring_drops += ts.tp_drops;
	}
	return p->ring_drops;
}

/* ------------------------------------------------------------------ */
/* Port                                                                */

/* Symmetric Toeplitz key: both directions of a flow hash alike. */
static uint8_t rss_key[40];

static void port_release(struct net_dpdk_port *p)
{
	if (p->configured) {
		rte_eth_dev_stop(p->port_id);
		rte_eth_dev_close(p->port_id);
	}
	for (uint16_t i = 0; i < p->n_queues; i++)
		rte_mempool_free(p->q[i].mp);
	free(p);
}

int net_dpdk_port_open(struct net_dpdk_port **out, const struct net_dpdk_port_cfg *cfg, char *err,
		       size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	struct rte_ether_addr mac;
	struct net_dpdk_port *p;
	uint16_t nq = cfg->n_queues ? cfg->n_queues : 1;
	uint16_t nb_rxd = cfg->nb_rxd ? cfg->nb_rxd : 1024;
	uint16_t nb_txd = cfg->nb_txd ? cfg->nb_txd : 1024;
	uint64_t rx_ol = 0, tx_ol = 0;
	int socket, rc;

	*out = NULL;
	if (!eal_done) {
		say(err, errlen, "the DPDK EAL is not initialised");
		return -EINVAL;
	}
	if (rte_eth_dev_count_avail() == 0) {
		say(err, errlen,
		    "DPDK found no network port (no device bound to a DPDK driver, "
		    "or a --vdev in cheetah.dpdk.eal failed to probe)");
		return -ENODEV;
	}
	if (!rte_eth_dev_is_valid_port(cfg->port_id)) {
		say(err, errlen, "DPDK port %u does not exist (%u ports)", cfg->port_id,
		    rte_eth_dev_count_avail());
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(cfg->port_id, &info);
	if (rc) {
		say(err, errlen, "DPDK port %u: device info: %s", cfg->port_id, rte_strerror(-rc));
		return rc;
	}
	if (nq > NET_DPDK_MAX_QUEUES || nq > info.max_rx_queues || nq > info.max_tx_queues) {
		say(err, errlen, "DPDK port %u (%s) has %u RX and %u TX queues, %u wanted",
		    cfg->port_id, info.driver_name, info.max_rx_queues, info.max_tx_queues, nq);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p) + nq * sizeof(p->q[0]));
	if (!p) {
		say(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->port_id = cfg->port_id;
	snprintf(p->driver, sizeof(p->driver), "%s", info.driver_name ? info.driver_name : "?");

	memset(&conf, 0, sizeof(conf));
	if (!cfg->no_offload) {
		const uint64_t tso = RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_MULTI_SEGS |
				     RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;

		rx_ol = info.rx_offload_capa &
			(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
		tx_ol = info.tx_offload_capa &
			(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
		/* TSO needs the checksums and chained mbufs too (a
		 * super-segment is a chain of 2 KiB buffers, so each segment
		 * the device makes may span two of them) */
		if (!cfg->no_tso && (info.tx_offload_capa & tso) == tso &&
		    (info.tx_desc_lim.nb_mtu_seg_max == 0 ||
		     info.tx_desc_lim.nb_mtu_seg_max >= 2) &&
		    (info.tx_desc_lim.nb_seg_max == 0 || info.tx_desc_lim.nb_seg_max >= 3))
			tx_ol |= RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	}
	conf.rxmode.offloads = rx_ol;
	conf.txmode.offloads = tx_ol;
	if (nq > 1) {
		for (size_t i = 0; i < sizeof(rss_key); i += 2) {
			rss_key[i] = 0x6d;
			rss_key[i + 1] = 0x5a;
		}
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = rss_key;
		conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(rss_key);
		conf.rx_adv_conf.rss_conf.rss_hf =
		    (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP) & info.flow_type_rss_offloads;
	}
	rc = rte_eth_dev_configure(p->port_id, nq, nq, &conf);
	if (rc) {
		say(err, errlen, "DPDK port %u (%s): configure: %s", p->port_id, p->driver,
		    rte_strerror(-rc));
		free(p);
		return rc;
	}
	/* From here on, close releases what configure set up. */
	p->configured = true;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &nb_rxd, &nb_txd);
	if (rc) {
		say(err, errlen, "DPDK port %u (%s): descriptors: %s", p->port_id, p->driver,
		    rte_strerror(-rc));
		goto fail;
	}
	socket = rte_eth_dev_socket_id(p->port_id);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	for (uint16_t i = 0; i < nq; i++) {
		struct net_dpdk_queue *q = &p->q[i];
		struct rte_eth_rxconf rxc = info.default_rxconf;
		struct rte_eth_txconf txc = info.default_txconf;
		unsigned n = cfg->n_mbufs
				 ? cfg->n_mbufs
				 : (unsigned)nb_rxd + nb_txd + 2 * BURST_MAX + 1024 +
				       2 * MEMPOOL_CACHE +
				       (tx_ol & RTE_ETH_TX_OFFLOAD_TCP_TSO ? TX_SEGS_MAX : 0);
		char name[RTE_MEMPOOL_NAMESIZE];

		q->port = p;
		q->port_id = p->port_id;
		q->qid = i;
		q->tx_ol = tx_ol;
		snprintf(name, sizeof(name), "chp%u_q%u", p->port_id, i);
		q->mp = rte_pktmbuf_pool_create(name, n, MEMPOOL_CACHE, 0,
						RTE_MBUF_DEFAULT_BUF_SIZE, socket);
		p->n_queues = (uint16_t)(i + 1);
		if (!q->mp) {
			rc = -(rte_errno ? rte_errno : ENOMEM);
			say(err, errlen, "DPDK port %u: mempool of %u mbufs for queue %u: %s",
			    p->port_id, n, i, rte_strerror(-rc));
			goto fail;
		}
		rxc.offloads = rx_ol;
		txc.offloads = tx_ol;
		rc = rte_eth_rx_queue_setup(p->port_id, i, nb_rxd, (unsigned)socket, &rxc, q->mp);
		if (!rc)
			rc = rte_eth_tx_queue_setup(p->port_id, i, nb_txd, (unsigned)socket, &txc);
		if (rc) {
			say(err, errlen, "DPDK port %u (%s): queue %u setup: %s", p->port_id,
			    p->driver, i, rte_strerror(-rc));
			goto fail;
		}
	}
	rc = rte_eth_dev_start(p->port_id);
	if (rc) {
		say(err, errlen, "DPDK port %u (%s): start: %s", p->port_id, p->driver,
		    rte_strerror(-rc));
		goto fail;
	}
	rc = rte_eth_macaddr_get(p->port_id, &mac);
	if (rc) {
		say(err, errlen, "DPDK port %u (%s): MAC address: %s", p->port_id, p->driver,
		    rte_strerror(-rc));
		goto fail;
	}
	memcpy(p->mac, mac.addr_bytes, 6);
	if (!strcmp(p->driver, "net_af_packet") && info.if_index)
		find_pkt_fds(p, info.if_index);
	p->ops.rx_burst = dpdk_rx;
	p->ops.tx_burst = dpdk_tx;
	p->ops.stats = dpdk_stats;
	p->ops.caps = 0;
	if (rx_ol)
		p->ops.caps |= NET_PORT_RX_CSUM;
	if (tx_ol & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
		p->ops.caps |= NET_PORT_TX_IP_CSUM;
	if (tx_ol & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)
		p->ops.caps |= NET_PORT_TX_TCP_CSUM;
	if (tx_ol & RTE_ETH_TX_OFFLOAD_TCP_TSO) {
		uint16_t mtu = 0;
		uint32_t bufs = info.tx_desc_lim.nb_seg_max;

		p->ops.caps |= NET_PORT_TX_TSO;
		/* DPDK 22.11 has no TSO size limit in rte_eth_dev_info: the
		 * bound is its descriptors per packet (and our burst's mbufs) */
		if (!bufs || bufs > TX_SEGS_MAX)
			bufs = TX_SEGS_MAX;
		p->ops.tso_max_bufs = (uint16_t)bufs;
		/* net_tap compares each segment's frame, Ethernet header
		 * included, with the MTU (rte_eth_tap.c, pmd_tx_burst:
		 * tso_segsz + l2_len + l3_len + l4_len > mtu is an error):
		 * its segments are 14 bytes shorter than the wire allows */
		if (!strcmp(p->driver, "net_tap") && rte_eth_dev_get_mtu(p->port_id, &mtu) == 0 &&
		    mtu > ETH_HLEN)
			p->ops.tso_seg_mtu = (uint16_t)(mtu - ETH_HLEN);
		p->tso = true;
	}
	*out = p;
	return 0;
fail:
	port_release(p);
	return rc < 0 ? rc : -EIO;
}

void net_dpdk_port_close(struct net_dpdk_port *p)
{
	if (p)
		port_release(p);
}

void net_dpdk_port_mac(const struct net_dpdk_port *p, uint8_t mac[6])
{
	memcpy(mac, p->mac, 6);
}

const struct net_port_ops *net_dpdk_port_ops(const struct net_dpdk_port *p)
{
	return &p->ops;
}

bool net_dpdk_port_link(const struct net_dpdk_port *p, uint32_t *mbps)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	if (rte_eth_link_get_nowait(p->port_id, &link) != 0)
		return false;
	if (mbps)
		*mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
	return link.link_status == RTE_ETH_LINK_UP;
}

bool net_dpdk_port_tso(const struct net_dpdk_port *p)
{
	return p->tso;
}

const char *net_dpdk_port_driver(const struct net_dpdk_port *p)
{
	return p->driver;
}

uint16_t net_dpdk_port_queues(const struct net_dpdk_port *p)
{
	return p->n_queues;
}

struct net_dpdk_queue *net_dpdk_queue(struct net_dpdk_port *p, uint16_t q)
{
	assert(q < p->n_queues);
	return &p->q[q];
}

void net_dpdk_queue_bind(struct net_dpdk_queue *q, struct net_pool *pool)
{
	q->pool = pool;
}

const struct net_dpdk_stats *net_dpdk_queue_stats(const struct net_dpdk_queue *q)
{
	return &q->stats;
}

unsigned net_dpdk_queue_mbufs_in_use(const struct net_dpdk_queue *q)
{
	return rte_mempool_in_use_count(q->mp);
}
