// SPDX-License-Identifier: Apache-2.0
/*
 * bench_dpdk_inproc.c - the dpdk backend's own cost per request, without a
 * kernel, a NIC or another process (issue 10, part 5).
 *
 * Why: over a veth pair (perf/veth_compare.py) the figure mixes the
 * kernel's af_packet copies, its scheduling and the other side's TCP; here
 * the whole server (the dataplane worker on the dpdk backend, the
 * broadcast core, the tree) runs in this process on DPDK port 0, built on
 * two rte_rings (rte_eth_from_rings), and a synthetic client runs on port
 * 1, the other ends of the same rings, on another core.  The client speaks
 * real TCP (the project's own stack, dataplane/net, on its own port) and
 * real ZooKeeper framing: every connection sends a ConnectRequest, waits
 * for the ConnectResponse, then keeps --outstanding getData requests in
 * flight; one connection first creates the znodes.  Every reply is
 * checked (xid order, err 0, the znode's exact bytes), so a wrong server
 * cannot look fast.
 *
 *   bench_dpdk_inproc [--conns 64] [--outstanding 32] [--znodes 1000]
 *       [--data-size 100] [--warmup 50000] [--requests 1000000]
 *       [--server-core 1] [--client-core 0] [--idle spin|backoff] [--timeout 60]
 *
 * It prints one line: requests per second, the server worker thread's CPU
 * per request (its own CPU clock: ns of the worker, whatever else runs)
 * and the client's.  Under callgrind (when valgrind/callgrind.h was found
 * at build time) the measured interval alone is dumped, as "measured",
 * one file per thread with --separate-threads=yes; instructions per
 * request and per layer (load-independent: the machine is shared) come
 * from perf/inproc_profile.py, see docs/BENCHMARKS.md, "The dpdk backend
 * in process".
 *
 * The EAL is started here (-l <client core> --no-huge -m 512 --no-pci
 * --no-shconf) before the server's dp_open, which finds it running and
 * takes port 0 (dataplane/io/dpdk.c).  Data directory: a fresh one in /tmp, removed
 * at the end.  Needs no privilege.
 */

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/syscall.h>

#include <rte_eth_ring.h>
#include <rte_ring.h>
#include <urcu-qsbr.h>

#ifdef HAVE_CALLGRIND_H
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(s)
#endif

#include "common/clock.h"
#include "common/jute.h"
#include "common/zkdefs.h"
#include "config/config.h"
#include "dataplane/dp.h"
#include "dataplane/net/net_dpdk.h"
#include "dataplane/zkproto/proto.h"
#include "replication/repl.h"

#define SRV_IP 0x0a630001u /* 10.99.0.1 */
#define CLI_IP 0x0a630002u /* 10.99.0.2 */
#define ZK_PORT 2181
#define IN_CAP (256u * 1024)

struct opts {
	unsigned conns, outstanding, znodes, data_size, server_core, client_core;
	unsigned long warmup, requests;
	uint64_t timeout_ns; /* any phase fails after this long */
	const char *idle;
};

enum cstate { C_SYN, C_HELLO, C_READY, C_DONE };

struct cconn {
	struct net_sock *so;
	enum cstate st;
	uint32_t idx;
	int32_t next_xid, want_xid; /* next to send, next reply expected */
	uint32_t inflight;
	uint64_t last_ns; /* the last reply, or the first request after none in flight */
	uint8_t *in;
	uint32_t in_len;
	struct jute_out out; /* encoded, not yet taken by net_send from out_off */
	size_t out_off;
};

struct client {
	const struct opts *o;
	struct net_stack *st;
	struct cconn *c;
	uint32_t nconns; /* opened so far */
	uint64_t replies, errors;
	uint64_t max_gap_ns, gaps_100ms; /* waits for a reply while requests were in flight */
	int phase;			 /* 0 populate, 1 load */
	uint32_t created, create_next;
	char fail[256];
};

static uint8_t pattern(uint32_t z, uint32_t j)
{
	return (uint8_t)(z * 31u + j * 7u + 1u);
}

static uint32_t znode_of(const struct client *cl, const struct cconn *c, int32_t xid)
{
	return (uint32_t)(c->idx * 7919u + (uint32_t)xid) % cl->o->znodes;
}

static uint64_t now_us(void)
{
	return clock_mono_ns() / 1000u;
}

static uint64_t thread_cpu_ns(pid_t tid)
{
	/* The kernel's per-thread CPU clock id (what pthread_getcpuclockid
	 * returns): MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED). */
	clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6u);
	struct timespec ts;

	if (clock_gettime(id, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The worker thread's id, by its name (dataplane/io/worker.c names it). */
static pid_t find_thread(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t found = 0;

	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, name, strlen(name)) == 0)
			found = (pid_t)atoi(e->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

static void pin(unsigned core)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(core, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* ---- The synthetic client ---- */

/* Encoded once per znode (xid 0), so that the client spends its time on
 * TCP rather than on encoding: one copy and the xid patched. */
static struct jute_out g_reqs;
static size_t *g_req_off;
static uint8_t *g_expect; /* znode z's bytes at z * data_size */

static void prepare(const struct opts *o)
{
	jute_out_init(&g_reqs, 64 * 1024);
	g_req_off = calloc(o->znodes + 1u, sizeof(*g_req_off));
	g_expect = malloc((size_t)o->znodes * o->data_size + 1);
	for (uint32_t z = 0; z < o->znodes; z++) {
		struct proto_request req = {.hdr = {.type = ZK_OP_GETDATA}};
		char path[24];
		int n = snprintf(path, sizeof(path), "/n%u", z);

		req.path_watch.path = (struct jute_buf){.p = (const uint8_t *)path, .len = n};
		g_req_off[z] = g_reqs.len;
		proto_encode_request(&g_reqs, &req);
		for (uint32_t j = 0; j < o->data_size; j++)
			g_expect[(size_t)z * o->data_size + j] = pattern(z, j);
	}
	g_req_off[o->znodes] = g_reqs.len;
}

static void queue_getdata(struct client *cl, struct cconn *c)
{
	uint32_t z = znode_of(cl, c, c->next_xid);
	size_t len = g_req_off[z + 1] - g_req_off[z], at = c->out.len;

	jute_put_raw(&c->out, g_reqs.buf + g_req_off[z], len);
	if (!c->out.err)
		jute_put_be32(c->out.buf + at + 4, (uint32_t)c->next_xid);
	c->next_xid++;
	c->inflight++;
}

static void queue_create(struct client *cl, struct cconn *c)
{
	struct proto_request req = {.hdr = {.xid = c->next_xid, .type = ZK_OP_CREATE}};
	uint8_t data[4096];
	char path[24];
	uint32_t z = cl->create_next++;
	int n = snprintf(path, sizeof(path), "/n%u", z);

	for (uint32_t j = 0; j < cl->o->data_size; j++)
		data[j] = pattern(z, j);
	req.create.path = (struct jute_buf){.p = (const uint8_t *)path, .len = n};
	req.create.data = (struct jute_buf){.p = data, .len = (int32_t)cl->o->data_size};
	req.create.acl = proto_acl_open_unsafe;
	proto_encode_request(&c->out, &req);
	c->next_xid++;
	c->inflight++;
}

static int flush_out(struct cconn *c)
{
	while (c->out_off < c->out.len) {
		long r =
		    net_send(c->so, c->out.buf + c->out_off, c->out.len - c->out_off, now_us());

		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return (int)r;
		c->out_off += (size_t)r;
	}
	c->out.len = 0;
	c->out_off = 0;
	return 0;
}

/* One reply frame (payload without the length prefix). */
static int on_frame(struct client *cl, struct cconn *c, const uint8_t *p, uint32_t len)
{
	struct proto_reply rep;
	uint32_t z;

	if (c->st == C_HELLO) {
		struct proto_connect_resp resp;

		if (proto_decode_connect_resp(p, len, &resp) || resp.timeout <= 0)
			return snprintf(cl->fail, sizeof(cl->fail), "conn %u: bad ConnectResponse",
					c->idx),
			       -EBADMSG;
		c->st = C_READY;
		return 0;
	}
	if (proto_decode_reply(p, len, cl->phase ? ZK_OP_GETDATA : ZK_OP_CREATE, &rep))
		return snprintf(cl->fail, sizeof(cl->fail), "conn %u: undecodable reply", c->idx),
		       -EBADMSG;
	if (rep.hdr.xid != c->want_xid || rep.hdr.err != ZK_OK)
		return snprintf(cl->fail, sizeof(cl->fail),
				"conn %u: reply xid %d err %d, expected xid %d err 0", c->idx,
				rep.hdr.xid, rep.hdr.err, c->want_xid),
		       -EBADMSG;
	if (cl->phase) {
		z = znode_of(cl, c, c->want_xid);
		if (rep.body.data_stat.data.len != (int32_t)cl->o->data_size)
			return snprintf(cl->fail, sizeof(cl->fail), "/n%u: %d bytes, %u expected",
					z, rep.body.data_stat.data.len, cl->o->data_size),
			       -EBADMSG;
		if (memcmp(rep.body.data_stat.data.p, g_expect + (size_t)z * cl->o->data_size,
			   cl->o->data_size))
			return snprintf(cl->fail, sizeof(cl->fail), "/n%u: wrong bytes", z),
			       -EBADMSG;
	} else {
		cl->created++;
	}
	{
		uint64_t now = clock_mono_ns(), gap = now - c->last_ns;

		if (gap > cl->max_gap_ns)
			cl->max_gap_ns = gap;
		cl->gaps_100ms += gap > 100000000u;
		c->last_ns = now;
	}
	c->want_xid++;
	c->inflight--;
	cl->replies++;
	return 0;
}

static int conn_read(struct client *cl, struct cconn *c)
{
	for (;;) {
		long r = net_recv(c->so, c->in + c->in_len, IN_CAP - c->in_len, now_us());
		uint32_t off = 0;

		if (r == -EAGAIN)
			return 0;
		if (r <= 0)
			return snprintf(cl->fail, sizeof(cl->fail), "conn %u: recv %ld", c->idx, r),
			       -EPIPE;
		c->in_len += (uint32_t)r;
		while (c->in_len - off >= 4) {
			uint32_t flen = jute_be32(c->in + off);
			int rc;

			if (flen > IN_CAP - 4)
				return snprintf(cl->fail, sizeof(cl->fail), "frame of %u bytes",
						flen),
				       -EBADMSG;
			if (c->in_len - off < 4 + flen)
				break;
			rc = on_frame(cl, c, c->in + off + 4, flen);
			if (rc)
				return rc;
			off += 4 + flen;
		}
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
}

static int conn_step(struct client *cl, struct cconn *c)
{
	uint32_t ev = net_events(c->so);
	const struct opts *o = cl->o;

	if (ev & NET_EV_ERR)
		return snprintf(cl->fail, sizeof(cl->fail), "conn %u: reset (%s)", c->idx,
				net_sock_state(c->so)),
		       -ECONNRESET;
	if (c->st == C_SYN) {
		struct proto_connect_req req = {
		    .timeout = 30000,
		    .passwd = {.p = (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", .len = 16},
		};

		if (!(ev & NET_EV_CONNECTED))
			return 0;
		proto_encode_connect_req(&c->out, &req);
		c->st = C_HELLO;
	}
	if (conn_read(cl, c))
		return -EBADMSG;
	if (c->st == C_READY && c->inflight == 0)
		c->last_ns = clock_mono_ns();
	if (c->st == C_READY && cl->phase == 0 && c->idx == 0)
		while (c->inflight < o->outstanding && cl->create_next < o->znodes)
			queue_create(cl, c);
	if (c->st == C_READY && cl->phase == 1)
		while (c->inflight < o->outstanding)
			queue_getdata(cl, c);
	return flush_out(c);
}

/* Runs rounds until done(cl) or the deadline; returns 0 or -1 (cl->fail). */
static int run_until(struct client *cl, bool (*done)(const struct client *), uint64_t limit_ns)
{
	uint64_t deadline = clock_mono_ns() + limit_ns;

	while (!done(cl)) {
		net_poll(cl->st, now_us());
		for (uint32_t i = 0; i < cl->nconns; i++)
			if (conn_step(cl, &cl->c[i]))
				return -1;
		net_flush(cl->st);
		if (clock_mono_ns() > deadline) {
			snprintf(cl->fail, sizeof(cl->fail), "timed out");
			return -1;
		}
	}
	return 0;
}

static bool all_ready(const struct client *cl)
{
	for (uint32_t i = 0; i < cl->nconns; i++)
		if (cl->c[i].st != C_READY)
			return false;
	return true;
}

static bool populated(const struct client *cl)
{
	return cl->created == cl->o->znodes;
}

static uint64_t g_target;

static bool reached(const struct client *cl)
{
	return cl->replies >= g_target;
}

/* ---- Set-up ---- */

static int start_server(const struct opts *o, const char *dir, struct cfg *cfg, struct dp **dp,
			struct repl **repl)
{
	char sets[8][160];
	struct cfg_error err = {""};
	int n = 0, ret;

	snprintf(sets[n++], sizeof(sets[0]), "dataDir=%s", dir);
	snprintf(sets[n++], sizeof(sets[0]), "clientPort=%d", ZK_PORT);
	snprintf(sets[n++], sizeof(sets[0]), "maxClientCnxns=0");
	snprintf(sets[n++], sizeof(sets[0]), "cheetah.dataplane=dpdk");
	snprintf(sets[n++], sizeof(sets[0]), "cheetah.dataplane.cores=%u", o->server_core);
	snprintf(sets[n++], sizeof(sets[0]), "cheetah.port.ip=10.99.0.1");
	snprintf(sets[n++], sizeof(sets[0]), "cheetah.dpdk.idle=%s", o->idle);
	/* Required by the configuration; not used (the EAL is up already). */
	snprintf(sets[n++], sizeof(sets[0]), "cheetah.dpdk.eal=--no-huge");
	ret = cfg_defaults(cfg);
	if (!ret)
		ret = cfg_load_builtin(cfg, &err);
	for (int i = 0; !ret && i < n; i++)
		ret = cfg_set(cfg, sets[i], &err);
	if (!ret)
		ret = cfg_finalize(cfg, &err);
	if (ret) {
		fprintf(stderr, "configuration: %s\n", err.msg);
		return ret;
	}
	ret = dp_open(cfg, dp);
	if (ret)
		return ret;
	static struct dp_core_read_ctx rctx;

	rctx.cfg = cfg;
	ret = repl_open(&(struct repl_opts){.cfg = cfg,
					    .nworkers = dp_worker_count(cfg),
					    .core = cfg->broadcast_core,
					    .read_exec = dp_core_read,
					    .read_ctx = &rctx},
			repl);
	if (!ret)
		ret = dp_run(*dp, *repl);
	if (!ret)
		ret = repl_start(*repl);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_dpdk_inproc [--conns N] [--outstanding K] [--znodes Z] "
			"[--data-size B] [--warmup N] [--requests N] [--server-core C] "
			"[--client-core C] [--idle spin|backoff] [--timeout S]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"conns", 1, NULL, 'c'},	   {"outstanding", 1, NULL, 'k'},
	    {"znodes", 1, NULL, 'z'},	   {"data-size", 1, NULL, 'd'},
	    {"warmup", 1, NULL, 'w'},	   {"requests", 1, NULL, 'n'},
	    {"server-core", 1, NULL, 's'}, {"client-core", 1, NULL, 'C'},
	    {"idle", 1, NULL, 'i'},	   {"timeout", 1, NULL, 't'},
	    {"help", 0, NULL, 'h'},	   {NULL, 0, NULL, 0},
	};
	int ch;

	*o = (struct opts){.conns = 64,
			   .outstanding = 32,
			   .znodes = 1000,
			   .data_size = 100,
			   .server_core = 1,
			   .client_core = 0,
			   .warmup = 50000,
			   .requests = 1000000,
			   .idle = "spin",
			   .timeout_ns = 60ull * 1000000000};
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->conns = (unsigned)atoi(optarg);
			break;
		case 'k':
			o->outstanding = (unsigned)atoi(optarg);
			break;
		case 'z':
			o->znodes = (unsigned)atoi(optarg);
			break;
		case 'd':
			o->data_size = (unsigned)atoi(optarg);
			break;
		case 'w':
			o->warmup = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o->requests = strtoul(optarg, NULL, 10);
			break;
		case 's':
			o->server_core = (unsigned)atoi(optarg);
			break;
		case 'C':
			o->client_core = (unsigned)atoi(optarg);
			break;
		case 'i':
			o->idle = optarg;
			break;
		case 't':
			o->timeout_ns = strtoull(optarg, NULL, 10) * 1000000000ull;
			break;
		default:
			usage();
			return -1;
		}
	}
	if (o->conns < 1 || o->conns > 4096 || o->outstanding < 1 || o->outstanding > 1024 ||
	    o->znodes < 1 || o->data_size > 4096 || o->requests < 1 ||
	    (strcmp(o->idle, "spin") && strcmp(o->idle, "backoff"))) {
		usage();
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct rte_ring *c2s, *s2c;
	/* Mbufs enough for both rings full: the client never drops. */
	struct net_dpdk_port_cfg pc = {.port_id = 1, .n_mbufs = 20000};
	struct net_dpdk_port *cport = NULL;
	struct net_cfg nc = {0};
	struct client cl = {0};
	struct cfg cfg;
	struct dp *dp = NULL;
	struct repl *repl = NULL;
	struct net_sock *so;
	char dir[] = "/tmp/bench_dpdk_inproc.XXXXXX", eal[256], err[256], cmd[300];
	uint64_t t0, t1, s0, s1, u0, u1;
	pid_t worker, self = (pid_t)syscall(SYS_gettid);
	bool online = true, have_cfg = false;
	struct opts o;
	int srv_id, cli_id, rc = 1;

	if (parse(argc, argv, &o))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	prepare(&o);
	snprintf(eal, sizeof(eal),
		 "-l %u --no-huge -m 512 --no-pci --no-shconf --no-telemetry --log-level=warning "
		 "--file-prefix=bench_inproc%d",
		 o.client_core, (int)getpid());
	if (net_dpdk_eal_init_str(eal, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	c2s = rte_ring_create("c2s", 8192, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	s2c = rte_ring_create("s2c", 8192, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	srv_id = c2s && s2c ? rte_eth_from_rings("srv", &c2s, 1, &s2c, 1, 0) : -1;
	cli_id = srv_id == 0 ? rte_eth_from_rings("cli", &s2c, 1, &c2s, 1, 0) : -1;
	if (srv_id != 0 || cli_id != 1) {
		fprintf(stderr, "cannot make the ring ports (%d, %d)\n", srv_id, cli_id);
		return 1;
	}
	/* Both ring ports have the MAC 00:00:00:00:00:00 (the ring PMD
	 * cannot change it): harmless on a point-to-point pair of rings. */
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	urcu_qsbr_register_thread();
	have_cfg = true;
	if (start_server(&o, dir, &cfg, &dp, &repl)) {
		fprintf(stderr, "the server did not start\n");
		goto out;
	}
	urcu_qsbr_thread_offline();
	online = false;
	pin(o.client_core);

	/* The client: its own stack on port 1. */
	if (net_dpdk_port_open(&cport, &pc, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	net_dpdk_port_mac(cport, nc.mac);
	nc.ip = CLI_IP;
	nc.netmask = 0xffffff00u;
	nc.pool_size = 16384;
	nc.max_socks = o.conns + 16;
	nc.rcvbuf = IN_CAP;
	nc.secret = 1;
	nc.secret2 = 2;
	if (net_stack_create(&cl.st, &nc, net_dpdk_port_ops(cport), net_dpdk_queue(cport, 0))) {
		fprintf(stderr, "client stack\n");
		goto out;
	}
	net_dpdk_queue_bind(net_dpdk_queue(cport, 0), net_stack_pool(cl.st));
	cl.o = &o;
	cl.c = calloc(o.conns, sizeof(*cl.c));
	/*
	 * Connection 0 first: the stack queues few frames while ARP resolves
	 * the server, so 64 SYNs at once would mostly wait for their 1 s
	 * retransmission.
	 */
	cl.nconns = 1;
	for (uint32_t i = 0; i < o.conns; i++) {
		struct cconn *c = &cl.c[i];

		c->idx = i;
		c->next_xid = c->want_xid = 1;
		c->in = malloc(IN_CAP);
		jute_out_init(&c->out, 64 * 1024);
		if (net_connect(cl.st, SRV_IP, ZK_PORT, now_us(), &so)) {
			fprintf(stderr, "connect %u\n", i);
			goto out;
		}
		c->so = so;
		if (i == 0 && run_until(&cl, all_ready, o.timeout_ns)) {
			fprintf(stderr, "set-up failed: %s\n", cl.fail);
			goto out;
		}
		cl.nconns = i + 1;
	}
	if (run_until(&cl, all_ready, o.timeout_ns) || run_until(&cl, populated, o.timeout_ns)) {
		fprintf(stderr, "set-up failed: %s\n", cl.fail);
		goto out;
	}
	for (uint32_t i = 0; i < o.conns; i++)
		cl.c[i].want_xid = cl.c[i].next_xid;
	cl.phase = 1;
	cl.replies = 0;
	g_target = o.warmup;
	if (run_until(&cl, reached, o.timeout_ns)) {
		fprintf(stderr, "warm-up failed: %s\n", cl.fail);
		goto out;
	}
	worker = find_thread("cheetah-dp0");
	g_target = o.warmup + o.requests;
	cl.max_gap_ns = cl.gaps_100ms = 0;
	CALLGRIND_ZERO_STATS;
	t0 = clock_mono_ns();
	s0 = thread_cpu_ns(worker);
	u0 = thread_cpu_ns(self);
	if (run_until(&cl, reached, o.timeout_ns)) {
		fprintf(stderr, "run failed: %s\n", cl.fail);
		goto out;
	}
	t1 = clock_mono_ns();
	s1 = thread_cpu_ns(worker);
	u1 = thread_cpu_ns(self);
	CALLGRIND_DUMP_STATS_AT("measured");
	{
		double n = (double)(cl.replies - o.warmup), secs = (double)(t1 - t0) / 1e9;

		printf("getData %u B, %u conns x %u outstanding, %u znodes, idle %s: %.0f replies "
		       "in %.3f s: %.0f getData/s; server worker CPU %.0f ns/request (%.0f %% of "
		       "a core); client CPU %.0f ns/request\n",
		       o.data_size, o.conns, o.outstanding, o.znodes, o.idle, n, secs, n / secs,
		       (double)(s1 - s0) / n, (double)(s1 - s0) / (double)(t1 - t0) * 100,
		       (double)(u1 - u0) / n);
	}
	{
		const struct net_stats *cs = net_stack_stats(cl.st);
		const struct net_dpdk_stats *ds = net_dpdk_queue_stats(net_dpdk_queue(cport, 0));

		printf("longest wait for a reply %.1f ms, %llu waits over 100 ms\n",
		       (double)cl.max_gap_ns / 1e6, (unsigned long long)cl.gaps_100ms);
		printf("client stack: frames rx %llu tx %llu, tx drops %llu (no mbuf %llu, ring "
		       "full %llu), retransmits %llu (rto %llu, fast %llu), out of order %llu, "
		       "duplicates "
		       "%llu, no buffer %llu, paws drops %llu\n",
		       (unsigned long long)cs->rx_frames, (unsigned long long)cs->tx_frames,
		       (unsigned long long)cs->tx_drop, (unsigned long long)ds->tx_nombuf,
		       (unsigned long long)ds->tx_full, (unsigned long long)cs->tcp_retrans,
		       (unsigned long long)cs->tcp_rto, (unsigned long long)cs->tcp_fast_retrans,
		       (unsigned long long)cs->tcp_ooo, (unsigned long long)cs->tcp_dup,
		       (unsigned long long)cs->rx_nobuf, (unsigned long long)cs->tcp_paws_drop);
	}
	rc = 0;
out:
	if (!online)
		urcu_qsbr_thread_online();
	if (dp)
		dp_stop(dp);
	if (repl)
		repl_stop(repl);
	urcu_qsbr_unregister_thread();
	if (have_cfg)
		cfg_free(&cfg);
	if (cl.st)
		net_stack_destroy(cl.st);
	net_dpdk_port_close(cport);
	for (uint32_t i = 0; cl.c && i < o.conns; i++) {
		free(cl.c[i].in);
		jute_out_free(&cl.c[i].out);
	}
	free(cl.c);
	jute_out_free(&g_reqs);
	free(g_req_off);
	free(g_expect);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	net_dpdk_eal_fini();
	return rc;
}
