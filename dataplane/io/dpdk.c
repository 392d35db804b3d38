/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "dpdk" backend: the dataplane's I/O operations (io_priv.h) on the
 * user-space network stack (dataplane/net/net.h) over one DPDK port
 * (net_dpdk.h).  Above this file nothing changes: the same workers,
 * connections, sessions, reads, watches, four-letter words and broadcast
 * core as "sock".
 *
 * Process-wide (open/close_all, main thread): the EAL from
 * cheetah.dpdk.eal's words, then port 0 with one RX/TX queue pair per
 * worker.  An EAL already running was started by a program that embeds
 * the server with ports of its own (perf/bench_dpdk_inproc): it is used
 * as it is, and left to that program to stop.  Each worker (init, on the main thread before the
 * worker starts; everything after on the worker's thread, handed over by pthread_create and back by
 * pthread_join) owns a stack on its queue: its ARP cache, its control blocks, its packet pool
 * (both sized from cheetah.dpdk.max_connections by net_size_for, dpdk_conns_per_worker). With
 * several workers the port spreads flows over the queues with a symmetric hash (RSS; af_packet: the
 * kernel's fanout hash, qpairs=N in the --vdev), so both directions of a connection meet one stack.
 * A stack learns an on-link client's MAC from the client's own IP packets (net_ip.c, "trust IP
 * MAC"), so it can answer a connection whatever queue the client's ARP traffic lands on; an
 * off-link client's replies go through the gateway, whose ARP reply reaches one queue's stack only:
 * the stacks share what they learn from ARP through bounded lock-free rings (net_nbr.c), so the
 * worker that asked for the gateway's MAC learns it from the worker that
 * got the reply.
 *
 * The exception path (cheetah.dpdk.exception=IFNAME): open makes a kernel
 * TAP interface, one queue per worker (IFF_MULTI_QUEUE), with the port's
 * MAC, IP and netmask, up.  Each worker writes to its queue the frames its
 * stack hands over (net_cfg.exception: not for Cheetah, and copies of
 * ARP), without blocking (a refused write is counted, exception_drop), and
 * reads from it, at most DPDK_TAP_BURST frames every DPDK_TAP_US (a read
 * is a system call: not on every poll of a busy-polled core), what the
 * kernel sends, which goes out of the port on the worker's TX queue.
 * Plain /dev/net/tun, not DPDK's net_tap: no second port, no queue
 * shared between workers, and it works with any port driver.
 *
 * Readiness.  The stack reports a NET_EV_* bit edge-triggered, through
 * its notify callback, while the worker expects level-triggered
 * readiness (conn.c reads a budget per iteration and relies on being
 * told again).  So a notified or (re)armed connection goes on a pending
 * list; each poll looks at listed connections' net_events from the front,
 * reports one when it has a wanted bit and moves it to the back of the
 * list, drops it from the list once it has none, and stops when the
 * caller's batch is full (round robin, as epoll's ready list): the
 * level-triggered contract at the cost of one net_events per reported
 * connection.  The listener is looked at every iteration (dpdk_poll says
 * why).
 *
 * Handles are slot indexes + 1 in a growing table; the socket's user
 * pointer (net_sock_set_user) holds the same number, so the notify
 * callback finds the slot without a search, and a slot reused after a
 * close is told apart because the stack no longer notifies a socket its
 * user closed.
 *
 * Counters for mntr.  The stack's counters (struct net_stats), its
 * port's and the open connections belong to the worker's thread; mntr is
 * built on whichever worker got the word.  So each worker publishes a
 * copy (relaxed atomic stores, one word each) at most every
 * DPDK_PUB_US from its poll, and at once when it accepts or closes a
 * connection; dpdk_mntr sums the copies (relaxed loads): a counter is at
 * most a millisecond and a half old (the poll period plus the idle
 * back-off's longest sleep), and counts of different words may be from
 * different moments.
 *
 * Time: the clock is read once per poll; the recv, send and close of that
 * loop iteration give the stack the same time (a clock read per call was
 * about 1 % of the worker's instructions, and more of its time on a VM).
 *
 * Polling: the worker calls poll with a timeout above 0 only when no work
 * is waiting (its ring from the broadcast core, its mailbox, a full
 * batch); then, if the stack received nothing and nothing was ready, the
 * stack's idle back-off (net_idle, cheetah.dpdk.idle) may sleep a few
 * hundred microseconds at most, never past the stack's next timer.  Frames
 * the worker's sends queued go out at the start of the next poll.
 *
 * Thread: open/close_all and init/listen/fini on the main thread; the
 * rest on the worker that owns the instance.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "dataplane/net/net_dpdk.h"
#include "dataplane/io/io_priv.h"

/*
 * The listener's backlog when clientPortListenBacklog is not set: the
 * connections handshaking plus those waiting for accept.  As sock's
 * listen(SOMAXCONN), 4096 on Linux: one poll may take NET_RX_POLL_MAX
 * frames, hundreds of them SYNs in a connect burst, before the worker
 * accepts; a full backlog drops SYNs and the client waits its 1 s SYN
 * timeout (with 128: 75 drops in a burst of 2,000 connects over veth).
 */
#define DPDK_BACKLOG 4096u
/* How often a worker publishes its counters for mntr (microseconds). */
#define DPDK_PUB_US 1000u
/* The exception path: the kernel's frames read at most this often
 * (microseconds; at once again while a read finds some), this many at a
 * time. */
#define DPDK_TAP_US 100u
#define DPDK_TAP_BURST 32u
/*
 * Frames a worker sends at most before it reads its RX queue again: a
 * watch event to 20,000 sessions is 20,000 frames sent in one loop
 * iteration, and their ACKs (and anything else) arriving meanwhile
 * would overflow the device's RX ring, unread (dpdk_send).
 */
#define DPDK_TX_PER_RX 256u
/* Connections one poll reports at most (the worker asks for POLL_BATCH). */
#define DPDK_POLL_MAX 256u

/*
 * The stack's counters as mntr names them (cheetah_net_<name>), in the
 * order of struct net_stats, every field of which is a uint64_t.
 */
static const char *const stack_names[] = {
    "rx_frames",
    "tx_frames",
    "tx_drop",
    "rx_nobuf",
    "eth_drop",
    "arp_rx",
    "arp_tx",
    "arp_drop",
    "arp_queue_drop",
    "ip_rx",
    "ip_bad_csum",
    "ip_bad_hdr",
    "ip_frag_drop",
    "ip_not_us",
    "ip_proto_drop",
    "icmp_rx",
    "icmp_echo_reply",
    "icmp_drop",
    "icmp_unreach_tx",
    "icmp_err_ratelimit",
    "tcp_rx",
    "tcp_tx",
    "tcp_bad_csum",
    "tcp_bad_hdr",
    "tcp_no_sock",
    "tcp_rst_tx",
    "tcp_rst_rx",
    "tcp_retrans",
    "tcp_fast_retrans",
    "tcp_rto",
    "tcp_ooo",
    "tcp_dup",
    "tcp_syn_drop",
    "tcp_paws_drop",
    "tcp_challenge_ack",
    "tcp_probe",
    "tcp_keepalive",
    "tcp_sack_recovery",
    "tcp_sack_rexmit",
    "tcp_sack_rescue",
    "tcp_syncookie_tx",
    "tcp_syncookie_ok",
    "tcp_syncookie_bad",
    "tcp_tlp_probe",
    "tcp_tlp_repaired",
    "tcp_rack_lost",
    "tcp_rack_recovery",
    "arp_share_tx",
    "arp_share_rx",
    "arp_share_drop",
    "exception_fwd",
    "exception_drop",
    "exception_tx",
    "tcp_tso_tx",
    "tcp_tso_segs",
};
#define NSTACK (sizeof(stack_names) / sizeof(stack_names[0]))
_Static_assert(sizeof(struct net_stats) == NSTACK * sizeof(uint64_t),
	       "stack_names must name every counter of struct net_stats");

/* The other published words, after the stack's. */
enum {
	PUB_PORT_RX_DROP = NSTACK, /* this queue's: summed over workers */
	PUB_PORT_TX_DROP,
	PUB_PORT_RX_CSUM_BAD,
	PUB_POOL_ALLOC_FAIL,
	PUB_IDLE_SLEEPS,
	PUB_SEND_POLLS,
	PUB_DEV_RX_MISSED, /* the whole device's: not summed */
	PUB_DEV_RX_ERRORS,
	PUB_DEV_TX_ERRORS,
	PUB_CONNS, /* per worker */
	PUB_SOCKS,
	NPUB
};

/* The process-wide part: one EAL, one port. */
static struct {
	const struct cfg *cfg;
	struct net_dpdk_port *port;
	uint32_t nworkers;
	bool own_eal;		     /* open started the EAL, so close_all stops it */
	struct net_nbr_share *share; /* ARP facts between the stacks (2+ workers) */
	int *tapfd;		     /* the exception path: a TAP queue per worker, or NULL */
} g;

struct dh {
	struct net_sock *so; /* NULL: free */
	uint64_t cookie;
	uint32_t want; /* DP_IO_READ | DP_IO_WRITE */
	bool listed;   /* on the pending list (even after a close) */
	uint32_t next; /* free list, UINT32_MAX at the end */
};

struct dp_io {
	uint32_t worker;
	struct net_stack *st;
	struct net_dpdk_queue *q;
	struct net_sock *l;
	struct dh *h;
	uint32_t nh, cap, free_head;
	uint32_t *pend; /* slot indexes */
	uint32_t npend, pend_cap;
	uint32_t nopen; /* handles open */
	struct net_idle idle;
	uint64_t pub_at;     /* when the counters were last published */
	uint64_t pub[NPUB];  /* shared: written by the owner, read by mntr (relaxed) */
	uint64_t now;	     /* the clock at the last poll, for recv/send/close */
	int tapfd;	     /* this worker's TAP queue (exception path), or -1 */
	uint64_t tap_at;     /* when the TAP queue was last read */
	uint64_t tx_mark;    /* the stack's tx_frames when the RX queue was last read */
	uint64_t send_polls; /* RX reads between sends (dpdk_send) */
	unsigned mbufs_init; /* the queue's mbufs out of its pool once started */
};

static uint64_t now_us(void)
{
	return clock_mono_ns() / 1000u;
}

static void ip_str(uint32_t host_order, char *buf, size_t len)
{
	struct in_addr a = {htonl(host_order)};

	inet_ntop(AF_INET, &a, buf, (socklen_t)len);
}

/* ---- The exception path's TAP interface ---- */

static void tap_close(uint32_t n)
{
	if (!g.tapfd)
		return;
	for (uint32_t i = 0; i < n; i++)
		if (g.tapfd[i] >= 0)
			close(g.tapfd[i]);
	free(g.tapfd);
	g.tapfd = NULL;
}

static int tap_ioctl(int sock, unsigned long req, struct ifreq *ifr, const char *what, char *err,
		     size_t errlen)
{
	if (ioctl(sock, req, ifr) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -errno;
}

/*
 * The stack hands the kernel no IPv6 (it drops the ethertype), so the
 * kernel's IPv6 on the TAP would only talk (router solicitations, MLD)
 * and never hear: turned off where the kernel lets us (best effort).
 */
static void tap_no_ipv6(const char *name)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* no IPv6 in this kernel */
	if (write(fd, "1", 1) != 1)
		log_warn("dpdk: exception path: cannot turn IPv6 off on %s: %s", name,
			 strerror(errno));
	close(fd);
}

/*
 * Makes (or attaches to) the TAP interface cfg->dpdk_exception with n
 * queues, one per worker, non-blocking; gives it the port's MAC, IP and
 * netmask, turns its IPv6 off and brings it up.  0 or -errno with err
 * filled.
 */
static int tap_open(const struct cfg *cfg, uint32_t n, const uint8_t mac[6], char *err,
		    size_t errlen)
{
	struct sockaddr_in *sin;
	struct ifreq ifr;
	int sock, ret = 0;

	g.tapfd = malloc(n * sizeof(*g.tapfd));
	if (!g.tapfd) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		g.tapfd[i] = -1;
	for (uint32_t i = 0; i < n; i++) {
		g.tapfd[i] = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (g.tapfd[i] < 0) {
			ret = -errno;
			snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
			goto fail;
		}
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (n > 1 ? IFF_MULTI_QUEUE : 0);
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->dpdk_exception);
		ret = tap_ioctl(g.tapfd[i], TUNSETIFF, &ifr,
				"cannot make the TAP interface (TUNSETIFF: root or CAP_NET_ADMIN, "
				"and no other device of that name)",
				err, errlen);
		if (ret)
			goto fail;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->dpdk_exception);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	ret = tap_ioctl(sock, SIOCSIFHWADDR, &ifr, "cannot give it the port's MAC", err, errlen);
	sin = (struct sockaddr_in *)&ifr.ifr_addr;
	if (!ret) {
		memset(&ifr.ifr_addr, 0, sizeof(ifr.ifr_addr));
		sin->sin_family = AF_INET;
		sin->sin_addr = cfg->port_ip;
		ret = tap_ioctl(sock, SIOCSIFADDR, &ifr, "cannot give it cheetah.port.ip", err,
				errlen);
	}
	if (!ret) {
		sin->sin_family = AF_INET;
		sin->sin_addr = cfg->port_netmask;
		ret = tap_ioctl(sock, SIOCSIFNETMASK, &ifr, "cannot give it cheetah.port.netmask",
				err, errlen);
	}
	if (!ret)
		ret = tap_ioctl(sock, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS", err, errlen);
	if (!ret) {
		ifr.ifr_flags |= IFF_UP;
		ret = tap_ioctl(sock, SIOCSIFFLAGS, &ifr, "cannot bring it up", err, errlen);
	}
	close(sock);
	if (ret)
		goto fail;
	tap_no_ipv6(cfg->dpdk_exception);
	log_info("dpdk: exception path: TAP interface %s, %u queue(s), the port's MAC and "
		 "address; frames not for Cheetah go to the kernel",
		 cfg->dpdk_exception, n);
	return 0;
fail:
	tap_close(n);
	return ret;
}

/* The stack's exception hook: the frame to the kernel, never blocking. */
static int tap_write(void *arg, const uint8_t *frame, uint16_t len)
{
	struct dp_io *io = arg;
	ssize_t r = write(io->tapfd, frame, len);

	if (r == (ssize_t)len)
		return 0;
	return r < 0 ? -errno : -EIO;
}

/* What the kernel sent through this worker's TAP queue, out of the port;
 * returns the number of frames. */
static unsigned tap_read(struct dp_io *io)
{
	uint8_t buf[NET_PKT_BUFSZ];
	unsigned n = 0;

	while (n < DPDK_TAP_BURST) {
		ssize_t r = read(io->tapfd, buf, sizeof(buf));

		if (r <= 0)
			break; /* EAGAIN: nothing more now */
		n++;
		net_stack_send_raw(io->st, buf, (size_t)r); /* counted there */
	}
	return n;
}

/* ---- Process-wide ---- */

static int dpdk_open(const struct cfg *cfg, uint32_t nworkers)
{
	struct net_dpdk_port_cfg pc = {.port_id = 0};
	char err[512] = "";
	cpu_set_t cpus;
	bool have_cpus;
	uint8_t mac[6];
	uint32_t mbps = 0;
	int ret;

	if (!cfg->dpdk_eal_argc) {
		log_error("cheetah.dataplane=dpdk needs cheetah.dpdk.eal (the EAL's arguments, "
			  "e.g. --no-huge -m 256 --no-pci --vdev=net_af_packet0,iface=eth1)");
		return -EINVAL;
	}
	if (!cfg->client_port) {
		log_error("cheetah.dataplane=dpdk needs a clientPort other than 0");
		return -EINVAL;
	}
	/*
	 * The EAL pins the calling thread to its main lcore; the threads
	 * started later (broadcast core, workers, log) inherit the mask.
	 * They are placed by cheetah.*.cores instead: the main thread's mask
	 * is put back.
	 */
	have_cpus = pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus) == 0;
	ret = net_dpdk_eal_init(cfg->dpdk_eal_argc, cfg->dpdk_eal_argv, err, sizeof(err));
	if (have_cpus)
		pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	/*
	 * Already running: cheetah's main never starts it twice, so a program
	 * that embeds the server did, with its own ports (the in-process
	 * benchmark perf/bench_dpdk_inproc: port 0 on rings); it also stops it.
	 */
	g.own_eal = ret == 0;
	if (ret == -EALREADY)
		log_info("dpdk: the EAL already runs in this process; cheetah.dpdk.eal is not "
			 "used, the server takes port 0");
	else if (ret) {
		log_error("cheetah.dpdk.eal: %s", err);
		return ret;
	}
	pc.n_queues = (uint16_t)nworkers;
	pc.no_tso = !cfg->dpdk_tso;
	ret = net_dpdk_port_open(&g.port, &pc, err, sizeof(err));
	if (ret) {
		log_error("cheetah.dataplane=dpdk: %s", err);
		if (g.own_eal)
			net_dpdk_eal_fini();
		return ret;
	}
	net_dpdk_port_mac(g.port, mac);
	if (nworkers > 1)
		ret = net_nbr_share_create(&g.share, nworkers);
	if (!ret && cfg->dpdk_exception[0]) {
		ret = tap_open(cfg, nworkers, mac, err, sizeof(err));
		if (ret)
			log_error("cheetah.dpdk.exception=%s: %s", cfg->dpdk_exception, err);
	} else if (ret) {
		log_error("cheetah.dataplane=dpdk: %s", strerror(-ret));
	}
	if (ret) {
		net_nbr_share_destroy(g.share);
		g.share = NULL;
		net_dpdk_port_close(g.port);
		g.port = NULL;
		if (g.own_eal)
			net_dpdk_eal_fini();
		return ret;
	}
	g.cfg = cfg;
	g.nworkers = nworkers;
	net_dpdk_port_link(g.port, &mbps);
	log_info("dpdk: port 0 (%s) %02x:%02x:%02x:%02x:%02x:%02x, %u queue(s), link %u Mb/s, "
		 "TSO %s",
		 net_dpdk_port_driver(g.port), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		 nworkers, mbps,
		 net_dpdk_port_tso(g.port) ? "on"
		 : cfg->dpdk_tso	   ? "off (the device does not offer it)"
					   : "off (cheetah.dpdk.tso=false)");
	return 0;
}

static void dpdk_close_all(void)
{
	tap_close(g.nworkers);
	net_nbr_share_destroy(g.share);
	g.share = NULL;
	net_dpdk_port_close(g.port);
	g.port = NULL;
	if (g.own_eal)
		net_dpdk_eal_fini();
}

/* ---- Handles and readiness ---- */

static struct dh *slot_of(struct dp_io *io, dp_io_handle h)
{
	assert(h >= 1 && h <= io->nh && io->h[h - 1].so);
	return &io->h[h - 1];
}

/* pend has room for every slot (sized with the table), and a slot is listed once. */
static void list_pending(struct dp_io *io, uint32_t idx)
{
	if (io->h[idx].listed)
		return;
	assert(io->npend < io->pend_cap);
	io->pend[io->npend++] = idx;
	io->h[idx].listed = true;
}

static void on_notify(void *arg, struct net_sock *so, uint32_t events)
{
	struct dp_io *io = arg;
	uintptr_t u = (uintptr_t)net_sock_user(so);

	(void)events;
	if (so == io->l)
		return; /* polled every time (dpdk_poll) */
	if (u >= 1 && u <= io->nh && io->h[u - 1].so == so)
		list_pending(io, (uint32_t)(u - 1));
}

static uint32_t what_of(uint32_t ev)
{
	uint32_t what = 0;

	if (ev & (NET_EV_READABLE | NET_EV_HUP))
		what |= DP_IO_READ;
	if (ev & NET_EV_WRITABLE)
		what |= DP_IO_WRITE;
	if (ev & NET_EV_ERR)
		what |= DP_IO_ERROR;
	return what;
}

/* ---- Counters (mntr) ---- */

static void pub_set(struct dp_io *io, unsigned i, uint64_t v)
{
	__atomic_store_n(&io->pub[i], v, __ATOMIC_RELAXED);
}

/* On the owner's thread. */
static void publish(struct dp_io *io, uint64_t now)
{
	const uint64_t *st = (const uint64_t *)net_stack_stats(io->st);
	const struct net_pool *pool = net_stack_pool(io->st);
	const struct net_dpdk_stats *qs = net_dpdk_queue_stats(io->q);
	struct net_port_stats ps;

	io->pub_at = now;
	for (unsigned i = 0; i < NSTACK; i++)
		pub_set(io, i, st[i]);
	pub_set(io, PUB_PORT_RX_DROP, qs->rx_nobuf + qs->rx_too_big);
	pub_set(io, PUB_PORT_TX_DROP, qs->tx_nombuf + qs->tx_full + qs->tx_bad);
	pub_set(io, PUB_PORT_RX_CSUM_BAD, qs->rx_csum_bad);
	pub_set(io, PUB_POOL_ALLOC_FAIL, pool->alloc_fail);
	pub_set(io, PUB_IDLE_SLEEPS, io->idle.sleeps);
	pub_set(io, PUB_SEND_POLLS, io->send_polls);
	/*
	 * The device's own counters (rte_eth_stats_get) are read by worker 0
	 * only: the ethdev API is not safe to call from several threads at
	 * once, and some devices clear their counters on read.
	 */
	if (io->worker == 0) {
		net_stack_port_stats(io->st, &ps);
		pub_set(io, PUB_DEV_RX_MISSED, ps.dev_rx_missed);
		pub_set(io, PUB_DEV_RX_ERRORS, ps.dev_rx_errors);
		pub_set(io, PUB_DEV_TX_ERRORS, ps.dev_tx_errors);
	}
	pub_set(io, PUB_CONNS, io->nopen);
	pub_set(io, PUB_SOCKS, net_stack_socks_in_use(io->st));
}

/* Connections come and go: published at once (mntr, cons agree). */
static void publish_conns(struct dp_io *io)
{
	pub_set(io, PUB_CONNS, io->nopen);
	pub_set(io, PUB_SOCKS, net_stack_socks_in_use(io->st));
}

static uint64_t pub_get(const struct dp_io *io, unsigned i)
{
	return __atomic_load_n(&io->pub[i], __ATOMIC_RELAXED);
}

static void dpdk_mntr(struct dp_io *const *ios, uint32_t n,
		      void (*put)(void *arg, const char *key, uint64_t v), void *arg)
{
	static const struct {
		const char *name;
		unsigned idx;
		bool device; /* the device's count: worker 0's copy (the others hold 0) */
	} more[] = {
	    {"port_rx_drop", PUB_PORT_RX_DROP, false},
	    {"port_tx_drop", PUB_PORT_TX_DROP, false},
	    {"port_rx_csum_bad", PUB_PORT_RX_CSUM_BAD, false},
	    {"pool_alloc_fail", PUB_POOL_ALLOC_FAIL, false},
	    {"idle_sleeps", PUB_IDLE_SLEEPS, false},
	    {"send_polls", PUB_SEND_POLLS, false},
	    {"dev_rx_missed", PUB_DEV_RX_MISSED, true},
	    {"dev_rx_errors", PUB_DEV_RX_ERRORS, true},
	    {"dev_tx_errors", PUB_DEV_TX_ERRORS, true},
	    {"connections", PUB_CONNS, false},
	    {"socks", PUB_SOCKS, false},
	};
	char key[64];

	for (unsigned i = 0; i < NSTACK + sizeof(more) / sizeof(more[0]); i++) {
		unsigned idx = i < NSTACK ? i : more[i - NSTACK].idx;
		bool device = i >= NSTACK && more[i - NSTACK].device;
		uint64_t v = 0;

		for (uint32_t w = 0; w < n; w++) {
			uint64_t x = pub_get(ios[w], idx);

			v = device ? (x > v ? x : v) : v + x;
		}
		snprintf(key, sizeof(key), "cheetah_net_%s",
			 i < NSTACK ? stack_names[i] : more[i - NSTACK].name);
		put(arg, key, v);
	}
	put(arg, "cheetah_net_workers", n);
	for (uint32_t w = 0; w < n; w++) {
		snprintf(key, sizeof(key), "cheetah_net_worker_%u_connections", w);
		put(arg, key, pub_get(ios[w], PUB_CONNS));
		snprintf(key, sizeof(key), "cheetah_net_worker_%u_socks", w);
		put(arg, key, pub_get(ios[w], PUB_SOCKS));
	}
}

static size_t dpdk_counters(const struct dp_io *io, struct dp_io_counter *out, size_t max)
{
	static const struct {
		const char *name;
		unsigned idx;
		uint8_t kind;
	} more[] = {
	    {"port_rx_drop", PUB_PORT_RX_DROP, DP_IO_COUNTER},
	    {"port_tx_drop", PUB_PORT_TX_DROP, DP_IO_COUNTER},
	    {"port_rx_csum_bad", PUB_PORT_RX_CSUM_BAD, DP_IO_COUNTER},
	    {"pool_alloc_fail", PUB_POOL_ALLOC_FAIL, DP_IO_COUNTER},
	    {"idle_sleeps", PUB_IDLE_SLEEPS, DP_IO_COUNTER},
	    {"dev_rx_missed", PUB_DEV_RX_MISSED, DP_IO_DEVICE},
	    {"dev_rx_errors", PUB_DEV_RX_ERRORS, DP_IO_DEVICE},
	    {"dev_tx_errors", PUB_DEV_TX_ERRORS, DP_IO_DEVICE},
	    {"connections", PUB_CONNS, DP_IO_GAUGE},
	    {"socks", PUB_SOCKS, DP_IO_GAUGE},
	};
	size_t n = 0;

	for (unsigned i = 0; i < NSTACK && n < max; i++, n++)
		out[n] = (struct dp_io_counter){stack_names[i], DP_IO_COUNTER, pub_get(io, i)};
	for (unsigned i = 0; i < sizeof(more) / sizeof(more[0]) && n < max; i++, n++)
		out[n] = (struct dp_io_counter){more[i].name, more[i].kind,
						pub_get(io, more[i].idx)};
	return n;
}

/* ---- Per worker ---- */

/*
 * The connections one worker's stack is sized for: cheetah.dpdk.max_connections,
 * or maxCnxns when that is set and lower (the server refuses more anyway,
 * limits.c), but not below 1024: a refused connection holds a control block
 * until its close is done.  Each worker gets the whole count, not a share: RSS spreads
 * flows by hash, and a few client addresses may all land on one queue.
 * RLIMIT_NOFILE plays no part (dpdk's connections hold no descriptors).
 */
static uint32_t dpdk_conns_per_worker(const struct cfg *cfg)
{
	uint32_t n = (uint32_t)cfg->dpdk_max_connections;

	if (cfg->max_cnxns > 0 && (uint32_t)cfg->max_cnxns < n)
		n = (uint32_t)cfg->max_cnxns < 1024u ? 1024u : (uint32_t)cfg->max_cnxns;
	if (n > (uint32_t)cfg->dpdk_max_connections)
		n = (uint32_t)cfg->dpdk_max_connections;
	return n;
}

static int dpdk_init(struct dp_io **out, uint32_t worker)
{
	const struct cfg *cfg = g.cfg;
	struct net_cfg nc = {0};
	struct net_size sz;
	struct dp_io *io;
	int ret;

	assert(g.port && worker < g.nworkers);
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->worker = worker;
	io->free_head = UINT32_MAX;
	net_dpdk_port_mac(g.port, nc.mac);
	nc.ip = ntohl(cfg->port_ip.s_addr);
	nc.netmask = ntohl(cfg->port_netmask.s_addr);
	nc.gateway = ntohl(cfg->port_gateway.s_addr);
	ret = net_size_for(dpdk_conns_per_worker(cfg), &sz);
	assert(ret == 0); /* the key's range is net_size_for's */
	nc.pool_size = sz.pool_size;
	nc.max_socks = sz.max_socks;
	nc.rto_min_us = (uint32_t)cfg->tcp_rto_min_ms * 1000u;
	nc.tso_max = (uint32_t)cfg->dpdk_tso_max_bytes;
	nc.notify = on_notify;
	nc.notify_arg = io;
	nc.share = g.share;
	nc.share_id = worker;
	io->tapfd = g.tapfd ? g.tapfd[worker] : -1;
	if (io->tapfd >= 0) {
		nc.exception = tap_write;
		nc.exception_arg = io;
	}
	if (getrandom(&nc.secret, sizeof(nc.secret), 0) != sizeof(nc.secret) ||
	    getrandom(&nc.secret2, sizeof(nc.secret2), 0) != sizeof(nc.secret2)) {
		log_error("dataplane worker %u: getrandom: %s", worker, strerror(errno));
		free(io);
		return -EIO;
	}
	io->q = net_dpdk_queue(g.port, (uint16_t)worker);
	io->mbufs_init = net_dpdk_queue_mbufs_in_use(io->q);
	ret = net_stack_create(&io->st, &nc, net_dpdk_port_ops(g.port), io->q);
	if (ret) {
		if (ret == -ENOMEM)
			log_error(
			    "dataplane worker %u: cannot create its network stack: %u control "
			    "blocks and %u packet buffers need about %llu MiB of memory; lower "
			    "cheetah.dpdk.max_connections (now %d)",
			    worker, sz.max_socks, sz.pool_size,
			    (unsigned long long)(sz.bytes >> 20), cfg->dpdk_max_connections);
		else
			log_error("dataplane worker %u: cannot create its network stack "
				  "(cheetah.port.ip/netmask/gateway): %s",
				  worker, strerror(-ret));
		free(io);
		return ret;
	}
	net_dpdk_queue_bind(io->q, net_stack_pool(io->st));
	net_idle_init(&io->idle,
		      cfg->dpdk_idle == CFG_DPDK_IDLE_SPIN ? NET_IDLE_SPIN : NET_IDLE_BACKOFF);
	*out = io;
	return 0;
}

static void dpdk_fini(struct dp_io *io)
{
	uint64_t now;

	if (!io)
		return;
	now = now_us();
	if (io->l)
		net_close(io->l, now);
	for (uint32_t i = 0; i < io->nh; i++)
		if (io->h[i].so)
			net_abort(io->h[i].so, now);
	/* The FINs and RSTs of the connections closed at shutdown. */
	net_flush(io->st);
	net_poll(io->st, now);
	{
		/* Until mntr shows them: the stack's and the port's counters, once. */
		const struct net_stats *st = net_stack_stats(io->st);
		struct net_port_stats ps;

		net_stack_port_stats(io->st, &ps);
		log_info(
		    "dpdk worker %u: frames rx %llu tx %llu (tx drops %llu, port rx drops %llu, "
		    "device rx missed %llu); tcp rx %llu tx %llu, retransmits %llu (rto %llu, "
		    "fast %llu), bad checksums ip %llu tcp %llu; idle sleeps %llu; tso %llu "
		    "super-segments (%llu segments); mbufs out of the pool %u (%u at start)",
		    io->worker, (unsigned long long)st->rx_frames,
		    (unsigned long long)st->tx_frames, (unsigned long long)st->tx_drop,
		    (unsigned long long)ps.rx_drop, (unsigned long long)ps.dev_rx_missed,
		    (unsigned long long)st->tcp_rx, (unsigned long long)st->tcp_tx,
		    (unsigned long long)st->tcp_retrans, (unsigned long long)st->tcp_rto,
		    (unsigned long long)st->tcp_fast_retrans, (unsigned long long)st->ip_bad_csum,
		    (unsigned long long)st->tcp_bad_csum, (unsigned long long)io->idle.sleeps,
		    (unsigned long long)st->tcp_tso_tx, (unsigned long long)st->tcp_tso_segs,
		    net_dpdk_queue_mbufs_in_use(io->q), io->mbufs_init);
	}
	net_stack_destroy(io->st);
	free(io->h);
	free(io->pend);
	free(io);
}

static int dpdk_listen(struct dp_io *io, const struct sockaddr *addr, socklen_t len, int backlog,
		       bool first, uint16_t *port)
{
	uint16_t p = ntohs(((const struct sockaddr_in *)addr)->sin_port);
	char ip[INET_ADDRSTRLEN];
	int ret;

	(void)len;
	(void)first; /* the stack's address is its own: nothing else can serve it */
	ip_str(ntohl(g.cfg->port_ip.s_addr), ip, sizeof(ip));
	if (!p) {
		log_error("cannot serve on %s: the dpdk dataplane needs a clientPort other than 0",
			  ip);
		return -EINVAL;
	}
	ret = net_listen(io->st, p, backlog > 0 ? (uint32_t)backlog : DPDK_BACKLOG, &io->l);
	if (ret) {
		log_error("cannot serve on %s:%u: %s", ip, p, strerror(-ret));
		return ret;
	}
	net_stack_start(io->st, now_us()); /* gratuitous ARP */
	publish(io, now_us());
	*port = p;
	return 0;
}

static int dpdk_watch_fd(struct dp_io *io, int fd, uint64_t cookie)
{
	(void)io;
	(void)fd;
	(void)cookie;
	return -EOPNOTSUPP; /* a polling backend needs no wakeup descriptor */
}

static int dpdk_poll(struct dp_io *io, int timeout_ms, struct dp_io_event *ev, unsigned max)
{
	uint64_t now = now_us();

	io->now = now;
	unsigned n = 0;
	uint32_t keep = 0;
	unsigned n_tap = 0;
	int frames;

	net_flush(io->st);
	if (io->tapfd >= 0 && now - io->tap_at >= DPDK_TAP_US) {
		unsigned t = tap_read(io);

		/* again at once while the kernel has more to say */
		io->tap_at = t == DPDK_TAP_BURST ? 0 : now;
		n_tap = t;
	}
	frames = net_poll(io->st, now);
	io->tx_mark = net_stack_stats(io->st)->tx_frames;
	/*
	 * The listener is looked at every time, not on its notify: a queued
	 * connection reset before accept leaves the accept queue without a
	 * socket call seeing it go, so the stack would not report the next
	 * one (its edge is "already seen").
	 */
	if (io->l && (net_events(io->l) & NET_EV_READABLE))
		ev[n++] = (struct dp_io_event){DP_IO_COOKIE_LISTEN, DP_IO_READ};
	/*
	 * Round robin, as epoll's ready list: look at the listed connections
	 * from the front until max are reported; those reported go to the
	 * back (level-triggered: looked at again, after the others), those
	 * not looked at keep their place.  Scanning the whole list on every
	 * poll to report max of it cost O(listed) per poll and served the
	 * front of the list first, every time.
	 */
	uint32_t rep[DPDK_POLL_MAX], nrep = 0, i = 0;

	for (; i < io->npend && n < max && nrep < DPDK_POLL_MAX; i++) {
		uint32_t idx = io->pend[i];
		struct dh *d = &io->h[idx];
		uint32_t what;

		if (!d->so) {
			d->listed = false;
			continue;
		}
		what = what_of(net_events(d->so)) & (d->want | DP_IO_ERROR);
		if (!what) {
			d->listed = false;
			continue;
		}
		ev[n++] = (struct dp_io_event){d->cookie, what};
		rep[nrep++] = idx;
	}
	keep = io->npend - i;
	memmove(io->pend, io->pend + i, (size_t)keep * sizeof(*io->pend));
	memcpy(io->pend + keep, rep, (size_t)nrep * sizeof(*rep));
	io->npend = keep + nrep;
	assert(io->npend <= io->pend_cap);
	if (now - io->pub_at >= DPDK_PUB_US)
		publish(io, now);
	net_idle_wait(&io->idle, frames > 0 || n > 0 || n_tap > 0 || timeout_ms == 0, now,
		      net_next_timer(io->st));
	return (int)n;
}

static int dpdk_accept(struct dp_io *io, dp_io_handle *h, struct sockaddr_storage *peer)
{
	struct sockaddr_in *in = (struct sockaddr_in *)peer;
	struct net_sock *so;
	struct net_tuple t;
	uint32_t idx;

	if (!io->l || net_accept(io->l, &so))
		return -EAGAIN;
	if (io->free_head != UINT32_MAX) {
		idx = io->free_head;
		io->free_head = io->h[idx].next;
	} else {
		if (io->nh == io->cap) {
			uint32_t cap = io->cap ? io->cap * 2 : 256;
			struct dh *p = realloc(io->h, cap * sizeof(*p));
			uint32_t *q = p ? realloc(io->pend, cap * sizeof(*q)) : NULL;

			if (p)
				io->h = p;
			if (!q) {
				net_abort(so, io->now);
				*h = 1;
				return -ENOMEM;
			}
			io->pend = q;
			io->cap = io->pend_cap = cap;
		}
		idx = io->nh++;
		io->h[idx].listed = false;
	}
	io->h[idx].so = so;
	io->h[idx].cookie = 0;
	io->h[idx].want = 0;
	io->h[idx].next = UINT32_MAX;
	net_sock_set_user(so, (void *)(uintptr_t)(idx + 1));
	io->nopen++;
	publish_conns(io);
	net_sock_tuple(so, &t);
	memset(peer, 0, sizeof(*peer));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(t.faddr);
	in->sin_port = htons(t.fport);
	*h = idx + 1;
	return 0;
}

static int dpdk_arm(struct dp_io *io, dp_io_handle h, uint64_t cookie, uint32_t want)
{
	struct dh *d = slot_of(io, h);

	d->cookie = cookie;
	d->want = want & (DP_IO_READ | DP_IO_WRITE);
	/* Data may have come before the first arm, space before a WRITE. */
	list_pending(io, (uint32_t)(h - 1));
	return 0;
}

static ssize_t dpdk_recv(struct dp_io *io, dp_io_handle h, void *buf, size_t len)
{
	return net_recv(slot_of(io, h)->so, buf, len, io->now);
}

/*
 * A worker that has sent DPDK_TX_PER_RX frames since it last read its
 * RX queue reads it now (net_poll: input, timers, the frames queued),
 * before it sends more: the ACKs of what it sent, and requests, leave
 * the device's ring, which has no flow control, for the connections'
 * buffers, which have.  The readiness this finds is reported by the
 * next dpdk_poll (the notify callback lists it).  The clock moves on
 * for the sends and closes after it.
 */
static void send_poll(struct dp_io *io)
{
	const struct net_stats *st = net_stack_stats(io->st);

	if (st->tx_frames - io->tx_mark < DPDK_TX_PER_RX)
		return;
	io->now = now_us();
	net_poll(io->st, io->now);
	io->tx_mark = st->tx_frames;
	io->send_polls++;
}

static ssize_t dpdk_send(struct dp_io *io, dp_io_handle h, const struct iovec *iov, int iovcnt)
{
	struct net_sock *so = slot_of(io, h)->so;
	uint64_t now = io->now;
	ssize_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		long r = net_send(so, iov[i].iov_base, iov[i].iov_len, now);

		if (r < 0) {
			total = total ? total : r;
			break;
		}
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	send_poll(io);
	return total;
}

static void dpdk_close(struct dp_io *io, dp_io_handle h)
{
	struct dh *d = slot_of(io, h);

	net_sock_set_user(d->so, NULL);
	net_close(d->so, io->now);
	d->so = NULL;
	d->next = io->free_head;
	io->free_head = (uint32_t)(h - 1);
	assert(io->nopen > 0);
	io->nopen--;
	publish_conns(io);
}

const struct dp_io_ops dp_io_dpdk_ops = {
    .name = "dpdk",
    .caps = 0,
    .open = dpdk_open,
    .close_all = dpdk_close_all,
    .init = dpdk_init,
    .fini = dpdk_fini,
    .listen = dpdk_listen,
    .watch_fd = dpdk_watch_fd,
    .poll = dpdk_poll,
    .accept = dpdk_accept,
    .arm = dpdk_arm,
    .recv = dpdk_recv,
    .send = dpdk_send,
    .close = dpdk_close,
    .mntr = dpdk_mntr,
    .counters = dpdk_counters,
};
