/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cheetah-bench: a ZooKeeper-protocol load generator.  It talks the raw
 * client protocol (dataplane/proto.h) to any ZooKeeper-compatible server,
 * so Apache ZooKeeper and Cheetah are measured by the same client.
 *
 * Model.  N sessions are spread over T client threads; each thread runs
 * one epoll loop over its sessions and keeps K requests outstanding on
 * every session (pipelining, as ZooKeeper's own clients do under load).
 * Replies come back in order per session (ZooKeeper's FIFO guarantee), so
 * a session's outstanding requests are a FIFO queue and every reply must
 * match its head's xid; anything else is a protocol error.
 *
 * Scenarios.
 *   mixed        reads (getData, exists, getChildren) and writes (setData,
 *                create+delete) mixed by --read-pct over --znodes znodes;
 *                warm-up, then a measured interval.
 *   populate     create --znodes znodes and report the rate (and the
 *                server's RSS with --server-pid).
 *   watch-storm  --sessions sessions connect at once, each sets --watches
 *                data watches (one znode watched by all), then one setData
 *                on that znode: connect rate, memory per session and per
 *                watch, time until the last watcher has its event.
 *
 * Checking.  Every value written is a function of (znode, write number)
 * (bench_payload.h); every read checks the bytes, the length, the Stat's
 * dataLength and that the write it shows was issued; reply header zxids
 * never go down on a session (clients keep the last one and present it
 * on reconnect: ZooKeeper's promise that a client never sees an older
 * state).  Any unexpected error code, mismatch or protocol violation
 * stops the run and the exit status is 1, so a fast wrong server cannot
 * win.
 *
 * Threads.  Client threads own their sessions outright; the main thread
 * only flips the global phase, samples counters (relaxed atomics written
 * by one thread each) and, after the threads are joined, merges their
 * histograms.  The main thread's own blocking session (bench_call.h)
 * creates the root and fires the watch storm.
 *
 * Latency is measured from the loop iteration that queued a request to
 * the one that read its reply (CLOCK_MONOTONIC), which is what a
 * pipelining client observes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/jute.h"
#include "common/zkdefs.h"
#include "dataplane/zkproto/proto.h"
#include "perf/bench_call.h"
#include "perf/bench_hist.h"
#include "perf/bench_payload.h"
#include "perf/bench_proc.h"
#include "perf/bench_row.h"

#define MAX_HOSTS 16
#define MAX_OPS 4
#define RECV_CHUNK (256 * 1024)
#define MAX_FRAME (16 * 1024 * 1024)
#define PATH_MAX_LEN 512

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

enum scenario { SC_MIXED, SC_POPULATE, SC_STORM };
enum format { FMT_TEXT, FMT_CSV, FMT_JSON };

/* What a request was, to check its reply. */
enum kind {
	K_GET,
	K_EXISTS,
	K_CHILDREN,
	K_SET,
	K_CREATE_TMP,
	K_DELETE_TMP,
	K_SETUP_CREATE,
	K_SETUP_SET,
	K_WATCH_GET,
	K_CLOSE,
};

struct opts {
	struct sockaddr_storage hosts[MAX_HOSTS];
	socklen_t host_len[MAX_HOSTS];
	char host_names[MAX_HOSTS][128];
	int nhosts;
	int threads;
	int sessions;
	int outstanding;
	double read_pct;
	enum kind reads[MAX_OPS];
	int nreads;
	enum kind writes[MAX_OPS];
	int nwrites;
	uint32_t znodes;
	uint32_t data_size;
	double warmup;
	double duration;
	const char *root;
	int timeout_ms;
	enum format format;
	bool csv_header;
	const char *label;
	const char *cdf;
	int server_pid;
	bool progress;
	enum scenario scenario;
	int watches;
	int connect_window;
	int source_ips;
	double storm_pause;
};

static struct opts o = {
	.nhosts = 0,
	.threads = 1,
	.sessions = 16,
	.outstanding = 32,
	.read_pct = 90,
	.znodes = 1000,
	.data_size = 100,
	.warmup = 2,
	.duration = 10,
	.root = "/cheetah-bench",
	.timeout_ms = 30000,
	.format = FMT_TEXT,
	.label = "",
	.progress = true,
	.scenario = SC_MIXED,
	.watches = 50,
	.connect_window = 256,
	.source_ips = 64,
};

/* ------------------------------------------------------------------ */
/* Shared state: the phase (main writes), the key table, failure        */
/* ------------------------------------------------------------------ */

enum phase {
	PH_CONNECT,  /* connect every session */
	PH_SETUP,    /* create/overwrite the znodes */
	PH_LOAD,     /* mixed load (warm-up and measured interval) */
	PH_WATCH,    /* storm: set the watches */
	PH_WAIT,     /* storm: wait for the event */
	PH_DRAIN,    /* issue nothing more, collect what is in flight */
	PH_CLOSE,    /* closeSession, then close the sockets */
	PH_EXIT,
};

static int phase;               /* enum phase; main stores, threads load */
static uint64_t measure_start;  /* ns; requests sent before are not measured */
static uint64_t measure_end;    /* ns; replies after are not measured */
static uint64_t *key_seq;       /* per znode: the last write number issued */
static uint64_t *key_acked;     /* per znode: the highest Stat.version acknowledged */
/*
 * Per znode, the last ACK_SLOTS acknowledged setData as (version << 40 |
 * write number), slot version % ACK_SLOTS: a read showing a version found
 * here must show that write's bytes, so a server that bumps versions
 * without storing the data is caught.
 */
#define ACK_SLOTS 4
#define ACK_SEQ_BITS 40
static uint64_t *key_ack_log;
static int failed;              /* set once by whoever finds a problem */
static char fail_msg[512];
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char root_data[PATH_MAX_LEN]; /* "<root>/n-" */
static char root_tmp[PATH_MAX_LEN];  /* "<root>/tmp/" */

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static int load_phase(void)
{
	return __atomic_load_n(&phase, __ATOMIC_ACQUIRE);
}

static void set_phase(int p)
{
	__atomic_store_n(&phase, p, __ATOMIC_RELEASE);
}

/* Records the first failure (the one worth reading) and stops the run. */
__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_lock);
	if (!failed) {
		va_start(ap, fmt);
		vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
		va_end(ap);
		__atomic_store_n(&failed, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&fail_lock);
}

static bool has_failed(void)
{
	return __atomic_load_n(&failed, __ATOMIC_ACQUIRE);
}

static int key_path(char *buf, uint32_t key)
{
	return snprintf(buf, PATH_MAX_LEN, "%s%07" PRIu32, root_data, key);
}

static int tmp_path(char *buf, uint32_t session, uint64_t seq)
{
	return snprintf(buf, PATH_MAX_LEN, "%ss%" PRIu32 "-%" PRIu64, root_tmp, session, seq);
}

/* ------------------------------------------------------------------ */
/* Sessions                                                            */
/* ------------------------------------------------------------------ */

struct pending {
	uint64_t sent;
	uint64_t arg; /* znode key, or the tmp node's number */
	uint64_t floor; /* reads: the version they must show at least */
	uint64_t seq;   /* setData: the write number it sent */
	int32_t xid;
	uint8_t kind;
};

enum sess_state { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_READY, S_CLOSED };

struct worker;

struct session {
	struct worker *w;
	uint32_t id; /* global index */
	int fd;
	uint8_t state;
	bool want_out;  /* EPOLLOUT registered */
	bool tmp_alive; /* a tmp node exists and its delete is next */
	bool closing;
	int32_t next_xid;
	int64_t session_id;
	uint64_t tmp_seq;
	uint64_t last_send;
	uint64_t event_at; /* storm: when the watch event arrived */
	int64_t last_zxid; /* newest reply header zxid (> 0) seen */
	/* Setup: keys id, id + nsessions, ...; next to issue and left to confirm. */
	uint64_t setup_next;
	uint32_t setup_left;
	uint32_t watches_left;
	/* Outstanding requests, a FIFO ring. */
	struct pending *q;
	uint32_t q_head, q_count, q_cap;
	/* Partial frame carried over between reads. */
	uint8_t *in;
	size_t in_len, in_cap;
	struct jute_out out;
	size_t out_off;
};

struct worker {
	pthread_t thread;
	int id;
	int epfd;
	struct session *sess;
	uint32_t nsess;
	uint64_t rng;
	uint64_t now;
	uint8_t *chunk;
	uint8_t *payload; /* data_size scratch */
	/* Written by this thread only; main reads them relaxed. */
	uint64_t done_reads, done_writes, done_setup;
	uint64_t ready, setup_finished, watches_set, events, lost, closed;
	uint64_t inflight;
	uint64_t connecting;
	uint32_t next_idle; /* sessions below it have left S_IDLE (they never return) */
	/* Measured interval only; read by main after the join. */
	struct bench_hist hread, hwrite;
	uint64_t m_reads, m_writes;
};

static struct worker *workers;
static struct session *sessions;

static void bump(uint64_t *counter, uint64_t by)
{
	__atomic_store_n(counter, *counter + by, __ATOMIC_RELAXED);
}

static uint64_t read_counter(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static uint64_t rnd(struct worker *w)
{
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static void watch_out(struct session *s, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = s};

	if (s->want_out == on)
		return;
	s->want_out = on;
	epoll_ctl(s->w->epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

static void session_drop(struct session *s, const char *why)
{
	if (s->state == S_CLOSED)
		return;
	if (s->fd >= 0) {
		epoll_ctl(s->w->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		s->fd = -1;
	}
	if (s->state == S_CONNECTING || s->state == S_HANDSHAKE)
		bump(&s->w->connecting, (uint64_t)-1);
	bump(&s->w->inflight, -(uint64_t)s->q_count);
	s->q_count = 0;
	s->state = S_CLOSED;
	if (!s->closing) {
		bump(&s->w->lost, 1);
		if (load_phase() != PH_WAIT)
			fail("session %u: connection lost (%s)", s->id, why);
	}
	bump(&s->w->closed, 1);
}

/* Sends what is buffered; keeps the rest for EPOLLOUT. */
static void session_flush(struct session *s)
{
	while (s->out_off < s->out.len) {
		ssize_t n = send(s->fd, s->out.buf + s->out_off, s->out.len - s->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			s->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch_out(s, true);
			return;
		}
		session_drop(s, n < 0 ? strerror(errno) : "send returned 0");
		return;
	}
	s->out.len = 0;
	s->out_off = 0;
	watch_out(s, false);
}

static struct pending *push(struct session *s, uint8_t kind, uint64_t arg, int32_t *xid)
{
	if (s->q_count == s->q_cap) {
		uint32_t cap = s->q_cap ? s->q_cap * 2 : 8;
		struct pending *q = calloc(cap, sizeof(*q));
		if (!q) {
			fail("out of memory");
			return NULL;
		}
		for (uint32_t i = 0; i < s->q_count; i++)
			q[i] = s->q[(s->q_head + i) % s->q_cap];
		free(s->q);
		s->q = q;
		s->q_head = 0;
		s->q_cap = cap;
	}
	struct pending *p = &s->q[(s->q_head + s->q_count) % s->q_cap];
	p->sent = s->w->now;
	p->arg = arg;
	p->floor = 0;
	p->seq = 0;
	p->kind = kind;
	p->xid = *xid = s->next_xid++;
	s->q_count++;
	s->last_send = s->w->now;
	bump(&s->w->inflight, 1);
	return p;
}

static void encode(struct session *s, const struct proto_request *req)
{
	int rc = proto_encode_request(&s->out, req);

	if (rc)
		fail("session %u: cannot encode %s: %s", s->id, proto_op_name(req->hdr.type),
		     strerror(-rc));
}

static struct jute_buf view(const char *s, int len)
{
	return (struct jute_buf){.p = (const uint8_t *)s, .len = len};
}

static void send_path_watch(struct session *s, int32_t op, uint8_t kind, uint32_t key,
			    bool watch)
{
	char path[PATH_MAX_LEN];
	struct proto_request req = {.hdr.type = op};
	int len = key_path(path, key);

	struct pending *p = push(s, kind, key, &req.hdr.xid);
	/*
	 * One server: a read sent after a write was acknowledged must show
	 * it or a later one.  (Across an ensemble only the session's own
	 * writes are promised, so the floor is not checked there.)
	 */
	if (p)
		p->floor = o.nhosts == 1 ? __atomic_load_n(&key_acked[key], __ATOMIC_ACQUIRE) : 0;
	req.path_watch.path = view(path, len);
	req.path_watch.watch = watch;
	encode(s, &req);
}

static void send_set(struct session *s, uint8_t kind, uint32_t key)
{
	char path[PATH_MAX_LEN];
	struct proto_request req = {.hdr.type = ZK_OP_SETDATA};
	int len = key_path(path, key);
	uint64_t seq = kind == K_SETUP_SET ? 0 : __atomic_add_fetch(&key_seq[key], 1, __ATOMIC_RELAXED);

	bench_payload_fill(s->w->payload, o.data_size, key, seq);
	struct pending *p = push(s, kind, key, &req.hdr.xid);
	if (p)
		p->seq = seq;
	req.set_data.path = view(path, len);
	req.set_data.data = (struct jute_buf){.p = s->w->payload, .len = (int32_t)o.data_size};
	req.set_data.version = -1;
	encode(s, &req);
}

static void send_create(struct session *s, uint8_t kind, const char *path, int len,
			uint32_t key, uint64_t arg)
{
	struct proto_request req = {.hdr.type = ZK_OP_CREATE};

	bench_payload_fill(s->w->payload, o.data_size, key, 0);
	push(s, kind, arg, &req.hdr.xid);
	req.create.path = view(path, len);
	req.create.data = (struct jute_buf){.p = s->w->payload, .len = (int32_t)o.data_size};
	req.create.acl = proto_acl_open_unsafe;
	req.create.flags = ZK_CREATE_PERSISTENT;
	encode(s, &req);
}

static void send_tmp(struct session *s)
{
	char path[PATH_MAX_LEN];

	if (s->tmp_alive) {
		struct proto_request req = {.hdr.type = ZK_OP_DELETE};
		int len = tmp_path(path, s->id, s->tmp_seq);

		push(s, K_DELETE_TMP, s->tmp_seq, &req.hdr.xid);
		req.path_version.path = view(path, len);
		req.path_version.version = -1;
		encode(s, &req);
		s->tmp_alive = false;
		return;
	}
	s->tmp_seq++;
	int len = tmp_path(path, s->id, s->tmp_seq);
	send_create(s, K_CREATE_TMP, path, len, 0, s->tmp_seq);
	s->tmp_alive = true;
}

static void send_simple(struct session *s, int32_t op, uint8_t kind)
{
	struct proto_request req = {.hdr.type = op};

	if (kind == K_CLOSE)
		push(s, kind, 0, &req.hdr.xid);
	else
		req.hdr.xid = -2; /* ping: answered out of the queue */
	s->last_send = s->w->now;
	encode(s, &req);
}

/* One request of the mixed load. */
static void send_mixed(struct session *s)
{
	struct worker *w = s->w;
	uint64_t r = rnd(w);
	uint32_t key = (uint32_t)((r >> 32) % o.znodes);
	bool read = (double)(r % 1000000) < o.read_pct * 10000.0;
	enum kind k = read ? o.reads[(r >> 20) % o.nreads] : o.writes[(r >> 20) % o.nwrites];

	switch (k) {
	case K_GET:
		send_path_watch(s, ZK_OP_GETDATA, K_GET, key, false);
		break;
	case K_EXISTS:
		send_path_watch(s, ZK_OP_EXISTS, K_EXISTS, key, false);
		break;
	case K_CHILDREN:
		send_path_watch(s, ZK_OP_GETCHILDREN, K_CHILDREN, key, false);
		break;
	case K_SET:
		send_set(s, K_SET, key);
		break;
	default:
		send_tmp(s);
		break;
	}
}

/* Issues what the phase asks of a ready session, then flushes. */
static void session_feed(struct session *s, int ph)
{
	if (s->state != S_READY || has_failed())
		return;
	switch (ph) {
	case PH_SETUP:
		while (s->q_count < (uint32_t)o.outstanding && s->setup_next < o.znodes) {
			char path[PATH_MAX_LEN];
			uint32_t key = (uint32_t)s->setup_next;
			int len = key_path(path, key);

			send_create(s, K_SETUP_CREATE, path, len, key, key);
			s->setup_next += (uint64_t)o.sessions;
		}
		break;
	case PH_LOAD:
		while (s->q_count < (uint32_t)o.outstanding)
			send_mixed(s);
		break;
	case PH_WATCH:
		while (s->q_count < (uint32_t)o.outstanding && s->watches_left) {
			uint32_t j = (uint32_t)o.watches - s->watches_left;
			uint32_t key = j == 0 ? 0
					      : 1 + (uint32_t)(((uint64_t)s->id * (o.watches - 1) + j - 1) %
							       (o.znodes - 1));
			send_path_watch(s, ZK_OP_GETDATA, K_WATCH_GET, key, true);
			s->watches_left--;
		}
		break;
	case PH_CLOSE:
		if (!s->closing && s->q_count == 0) {
			if (s->tmp_alive)
				send_tmp(s);
			send_simple(s, ZK_OP_CLOSESESSION, K_CLOSE);
			s->closing = true;
		}
		break;
	default:
		break;
	}
	session_flush(s);
}

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

static int32_t op_of(uint8_t kind)
{
	switch (kind) {
	case K_GET:
	case K_WATCH_GET:
		return ZK_OP_GETDATA;
	case K_EXISTS:
		return ZK_OP_EXISTS;
	case K_CHILDREN:
		return ZK_OP_GETCHILDREN;
	case K_SET:
	case K_SETUP_SET:
		return ZK_OP_SETDATA;
	case K_CREATE_TMP:
	case K_SETUP_CREATE:
		return ZK_OP_CREATE;
	case K_DELETE_TMP:
		return ZK_OP_DELETE;
	default:
		return ZK_OP_CLOSESESSION;
	}
}

static bool is_read(uint8_t kind)
{
	return kind == K_GET || kind == K_EXISTS || kind == K_CHILDREN;
}

static void check_data(struct session *s, uint32_t key, uint64_t floor, struct jute_buf data,
		       const struct zk_stat *st)
{
	uint64_t seq;

	if (data.len < 0 ||
	    bench_payload_check(data.p, (size_t)data.len, o.data_size, key, &seq) != 0) {
		fail("session %u: getData of znode %u returned bytes that no client wrote "
		     "(%d bytes)", s->id, key, data.len);
		return;
	}
	if (seq > __atomic_load_n(&key_seq[key], __ATOMIC_RELAXED))
		fail("session %u: getData of znode %u shows write %" PRIu64 " not yet issued",
		     s->id, key, seq);
	else if ((uint64_t)(uint32_t)st->version < floor)
		fail("session %u: getData of znode %u shows version %d, but version %" PRIu64
		     " was acknowledged before the read was sent (stale read)",
		     s->id, key, st->version, floor);
	else if (key_ack_log) {
		uint64_t v = (uint32_t)st->version;
		uint64_t e = __atomic_load_n(&key_ack_log[(uint64_t)key * ACK_SLOTS + v % ACK_SLOTS],
					     __ATOMIC_ACQUIRE);
		uint64_t mask = (1ull << ACK_SEQ_BITS) - 1;
		if (e >> ACK_SEQ_BITS == (v & ((1ull << (64 - ACK_SEQ_BITS)) - 1)) && e &&
		    (e & mask) != (seq & mask))
			fail("session %u: getData of znode %u shows version %d with the bytes of "
			     "write %" PRIu64 ", but version %d was acknowledged for write %" PRIu64,
			     s->id, key, st->version, seq, st->version, e & mask);
	}
	else if (st->data_length != (int32_t)o.data_size)
		fail("session %u: znode %u: Stat.dataLength %d, data is %u bytes", s->id, key,
		     st->data_length, o.data_size);
}

static void on_event(struct session *s, const struct proto_watcher_event *ev)
{
	char path[PATH_MAX_LEN];
	int len = key_path(path, 0);

	if (ev->type == ZK_EVENT_NONE && ev->state == ZK_STATE_EXPIRED) {
		/* Counted; a failure except while the storm is measured. */
		s->closing = true;
		bump(&s->w->lost, 1);
		if (load_phase() != PH_WAIT)
			fail("session %u expired", s->id);
		return;
	}
	if (ev->type == ZK_EVENT_NODE_DATA_CHANGED && jute_buf_eq(ev->path, path) && len > 0 &&
	    !s->event_at) {
		s->event_at = s->w->now;
		bump(&s->w->events, 1);
		return;
	}
	fail("session %u: unexpected watch event type %d state %d", s->id, ev->type, ev->state);
}

static void on_reply(struct session *s, const uint8_t *payload, size_t len)
{
	struct worker *w = s->w;
	struct proto_reply rep;

	if (len < PROTO_REPLY_HDR_SIZE) {
		fail("session %u: %zu-byte reply", s->id, len);
		return;
	}
	int32_t xid = (int32_t)jute_be32(payload);
	if (xid == -2)
		return; /* ping */
	if (xid == -1) {
		if (proto_decode_reply(payload, len, ZK_OP_NOTIFICATION, &rep) != 0)
			fail("session %u: malformed notification", s->id);
		else
			on_event(s, &rep.body.event);
		return;
	}
	if (s->q_count == 0 || s->q[s->q_head].xid != xid) {
		fail("session %u: reply xid %d out of order (expected %d)", s->id, xid,
		     s->q_count ? s->q[s->q_head].xid : -1);
		return;
	}
	struct pending p = s->q[s->q_head];
	s->q_head = (s->q_head + 1) % s->q_cap;
	s->q_count--;
	bump(&w->inflight, (uint64_t)-1);

	/* ClientCnxn: lastZxid = the header zxid of every reply with one > 0. */
	int64_t zxid = (int64_t)jute_be64(payload + 4);
	if (zxid > 0) {
		if (zxid < s->last_zxid) {
			fail("session %u: %s reply zxid 0x%" PRIx64 " after 0x%" PRIx64
			     " on the same session (went backwards)",
			     s->id, proto_op_name(op_of(p.kind)), (uint64_t)zxid,
			     (uint64_t)s->last_zxid);
			return;
		}
		s->last_zxid = zxid;
	}

	if (proto_decode_reply(payload, len, op_of(p.kind), &rep) != 0) {
		fail("session %u: malformed %s reply", s->id, proto_op_name(op_of(p.kind)));
		return;
	}
	int32_t err = rep.hdr.err;
	if (rep.trailing) {
		fail("session %u: %u bytes after the %s reply's record", s->id, rep.trailing,
		     proto_op_name(op_of(p.kind)));
		return;
	}
	if (p.kind == K_SETUP_CREATE && err == ZK_NODEEXISTS) {
		/* Left by an earlier run: make it this run's write 0. */
		send_set(s, K_SETUP_SET, (uint32_t)p.arg);
		return;
	}
	if (err != ZK_OK) {
		fail("session %u: %s answered error %d", s->id, proto_op_name(op_of(p.kind)), err);
		return;
	}
	switch (p.kind) {
	case K_GET:
	case K_WATCH_GET:
		check_data(s, (uint32_t)p.arg, p.floor, rep.body.data_stat.data,
			   &rep.body.data_stat.stat);
		break;
	case K_SET:
	case K_SETUP_SET: {
		/* Acknowledged: from now on no read may show an older value. */
		uint64_t *acked = &key_acked[p.arg];
		uint64_t v = (uint32_t)rep.body.stat.version;
		if (key_ack_log)
			__atomic_store_n(&key_ack_log[p.arg * ACK_SLOTS + v % ACK_SLOTS],
					 v << ACK_SEQ_BITS | (p.seq & ((1ull << ACK_SEQ_BITS) - 1)),
					 __ATOMIC_RELEASE);
		uint64_t cur = __atomic_load_n(acked, __ATOMIC_RELAXED);
		while (cur < v && !__atomic_compare_exchange_n(acked, &cur, v, false,
							      __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			;
	}
		/* fall through */
	case K_EXISTS:
		if (p.kind == K_EXISTS && (uint64_t)(uint32_t)rep.body.stat.version < p.floor)
			fail("session %u: exists of znode %" PRIu64 " shows version %d, but version "
			     "%" PRIu64 " was acknowledged before (stale read)",
			     s->id, p.arg, rep.body.stat.version, p.floor);
		if (rep.body.stat.data_length != (int32_t)o.data_size)
			fail("session %u: znode %" PRIu64 ": Stat.dataLength %d, expected %u", s->id,
			     p.arg, rep.body.stat.data_length, o.data_size);
		break;
	case K_CHILDREN:
		if (rep.body.children.count != 0)
			fail("session %u: znode %" PRIu64 " has %d children, expected none", s->id,
			     p.arg, rep.body.children.count);
		break;
	case K_CREATE_TMP:
	case K_SETUP_CREATE: {
		char path[PATH_MAX_LEN];
		int plen = p.kind == K_SETUP_CREATE ? key_path(path, (uint32_t)p.arg)
						    : tmp_path(path, s->id, p.arg);
		if (!jute_buf_eq(rep.body.path, path) || plen <= 0)
			fail("session %u: create returned path %.*s, expected %s", s->id,
			     rep.body.path.len, (const char *)rep.body.path.p, path);
		break;
	}
	case K_CLOSE:
		s->closing = true;
		session_drop(s, "closed");
		return;
	default:
		break;
	}
	if (p.kind == K_SETUP_CREATE || p.kind == K_SETUP_SET) {
		bump(&w->done_setup, 1);
		if (--s->setup_left == 0)
			bump(&w->setup_finished, 1);
	} else if (p.kind == K_WATCH_GET) {
		if (s->watches_left == 0 && s->q_count == 0)
			bump(&w->watches_set, 1);
	} else if (is_read(p.kind)) {
		bump(&w->done_reads, 1);
		if (p.sent >= measure_start && w->now <= measure_end) {
			bench_hist_record(&w->hread, w->now - p.sent);
			w->m_reads++;
		}
	} else {
		bump(&w->done_writes, 1);
		if (p.sent >= measure_start && w->now <= measure_end) {
			bench_hist_record(&w->hwrite, w->now - p.sent);
			w->m_writes++;
		}
	}
}

static void on_connect_resp(struct session *s, const uint8_t *payload, size_t len)
{
	struct proto_connect_resp resp;

	if (proto_decode_connect_resp(payload, len, &resp) != 0) {
		fail("session %u: malformed ConnectResponse", s->id);
		return;
	}
	if (resp.timeout <= 0 || resp.session_id == 0) {
		fail("session %u: the server refused the session", s->id);
		return;
	}
	s->session_id = resp.session_id;
	s->state = S_READY;
	bump(&s->w->connecting, (uint64_t)-1);
	bump(&s->w->ready, 1);
}

/* Hands every complete frame in buf to the session; returns bytes used. */
static size_t parse_frames(struct session *s, const uint8_t *buf, size_t avail)
{
	size_t pos = 0;

	while (avail - pos >= PROTO_LEN_SIZE && s->state != S_CLOSED && !has_failed()) {
		uint32_t len;
		if (proto_frame_len(buf + pos, avail - pos, MAX_FRAME, &len) != 0) {
			fail("session %u: bad frame length %u", s->id, len);
			return avail;
		}
		if (avail - pos < PROTO_LEN_SIZE + (size_t)len)
			break;
		const uint8_t *payload = buf + pos + PROTO_LEN_SIZE;
		if (s->state == S_HANDSHAKE)
			on_connect_resp(s, payload, len);
		else
			on_reply(s, payload, len);
		pos += PROTO_LEN_SIZE + len;
	}
	return pos;
}

static void keep_partial(struct session *s, const uint8_t *p, size_t n)
{
	if (n > s->in_cap) {
		uint8_t *in = realloc(s->in, n);
		if (!in) {
			fail("out of memory");
			return;
		}
		s->in = in;
		s->in_cap = n;
	}
	memmove(s->in, p, n);
	s->in_len = n;
}

static void session_read(struct session *s)
{
	struct worker *w = s->w;
	ssize_t n = recv(s->fd, w->chunk, RECV_CHUNK, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		session_drop(s, n == 0 ? "closed by the server" : strerror(errno));
		return;
	}
	if (n < 0)
		return;
	if (s->in_len == 0) {
		size_t used = parse_frames(s, w->chunk, (size_t)n);
		if (used < (size_t)n && s->state != S_CLOSED)
			keep_partial(s, w->chunk + used, (size_t)n - used);
		return;
	}
	/* A frame was split: append and parse from the session's buffer. */
	size_t total = s->in_len + (size_t)n;
	if (total > s->in_cap) {
		uint8_t *in = realloc(s->in, total);
		if (!in) {
			fail("out of memory");
			return;
		}
		s->in = in;
		s->in_cap = total;
	}
	memcpy(s->in + s->in_len, w->chunk, (size_t)n);
	size_t used = parse_frames(s, s->in, total);
	if (s->state != S_CLOSED)
		keep_partial(s, s->in + used, total - used);
}

/*
 * Tens of thousands of connections from one address to one server make
 * the kernel's ephemeral port search (__inet_hash_connect) the slowest
 * part of connecting, which would measure the client's kernel instead of
 * the server.  Towards a loopback server, sessions therefore come from
 * --source-ips addresses 127.1.0.1, 127.1.0.2, ... (all of 127/8 is
 * local), each with its own port space; the port is still chosen at
 * connect time (IP_BIND_ADDRESS_NO_PORT).
 */
static int bind_source(int fd, int host, uint32_t id)
{
	const struct sockaddr_in *dst = (const struct sockaddr_in *)&o.hosts[host];
	int one = 1;

	if (o.source_ips <= 0 || dst->sin_family != AF_INET ||
	    (ntohl(dst->sin_addr.s_addr) >> 24) != 127)
		return 0;
	struct sockaddr_in src = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(0x7f010000u + 1 + id % (uint32_t)o.source_ips),
	};
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (struct sockaddr *)&src, sizeof(src));
}

static void session_start_connect(struct session *s)
{
	int h = (int)(s->id % (uint32_t)o.nhosts);
	int fd = socket(o.hosts[h].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0) {
		fail("session %u: socket: %s (raise the open-file limit?)", s->id, strerror(errno));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind_source(fd, h, s->id) != 0) {
		fail("session %u: bind to a 127.1.0.x source address: %s", s->id, strerror(errno));
		close(fd);
		return;
	}
	if (connect(fd, (struct sockaddr *)&o.hosts[h], o.host_len[h]) != 0 &&
	    errno != EINPROGRESS) {
		fail("session %u: connect to %s: %s", s->id, o.host_names[h], strerror(errno));
		close(fd);
		return;
	}
	s->fd = fd;
	s->state = S_CONNECTING;
	s->want_out = true;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = s};
	epoll_ctl(s->w->epfd, EPOLL_CTL_ADD, fd, &ev);
	bump(&s->w->connecting, 1);
}

static void session_connected(struct session *s)
{
	int err = 0;
	socklen_t elen = sizeof(err);

	getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err) {
		fail("session %u: connect to %s: %s", s->id,
		     o.host_names[s->id % (uint32_t)o.nhosts], strerror(err));
		return;
	}
	struct proto_connect_req req = {
		.timeout = o.timeout_ms,
		.passwd = {.p = (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", .len = 16},
		.has_read_only = true,
	};
	proto_encode_connect_req(&s->out, &req);
	s->state = S_HANDSHAKE;
	s->last_send = s->w->now;
	session_flush(s);
}

/* ------------------------------------------------------------------ */
/* Client threads                                                      */
/* ------------------------------------------------------------------ */

static void worker_tick(struct worker *w, int ph, uint64_t *next_ping)
{
	uint64_t window = (uint64_t)o.connect_window / (uint64_t)o.threads;

	if (window == 0)
		window = 1;
	/* Connect in a bounded window so the server's accept backlog is not
	 * overrun (SYN retries would measure the kernel, not the server). */
	/*
	 * A cursor, not a scan: a scan of every session at every loop turn
	 * cost the 19,500-session storm more client CPU than receiving the
	 * events (the turns then carry a few events each).
	 */
	if (ph >= PH_CONNECT && ph < PH_DRAIN)
		for (; w->next_idle < w->nsess && w->connecting < window; w->next_idle++)
			if (w->sess[w->next_idle].state == S_IDLE)
				session_start_connect(&w->sess[w->next_idle]);
	/*
	 * Keep idle sessions alive (ClientCnxn pings after timeout / 3) and
	 * give up on a server that leaves a request unanswered for two
	 * thirds of the session timeout, as ClientCnxn's read timeout does.
	 */
	if (w->now >= *next_ping) {
		uint64_t idle = (uint64_t)o.timeout_ms * 1000000 / 3;
		for (uint32_t i = 0; i < w->nsess; i++) {
			struct session *s = &w->sess[i];
			if (s->state != S_CLOSED && s->q_count &&
			    w->now - s->q[s->q_head].sent > 2 * idle) {
				fail("session %u: no reply to %s (xid %d) in %.1f s", s->id,
				     proto_op_name(op_of(s->q[s->q_head].kind)), s->q[s->q_head].xid,
				     secs(w->now - s->q[s->q_head].sent));
				return;
			}
			if (s->state == S_READY && !s->closing && w->now - s->last_send > idle) {
				send_simple(s, ZK_OP_PING, 0);
				session_flush(s);
			}
		}
		*next_ping = w->now + 500000000ull;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	int fed_phase = -1;
	uint64_t next_ping = 0;

	while (!has_failed()) {
		int ph = load_phase();
		if (ph == PH_EXIT)
			break;
		w->now = clock_mono_ns();
		worker_tick(w, ph, &next_ping);
		/* Entering a phase: every session gets its first batch. */
		if (ph != fed_phase) {
			fed_phase = ph;
			for (uint32_t i = 0; i < w->nsess; i++)
				session_feed(&w->sess[i], ph);
		}
		int n = epoll_wait(w->epfd, evs, 256, 5);
		w->now = clock_mono_ns();
		for (int i = 0; i < n && !has_failed(); i++) {
			struct session *s = evs[i].data.ptr;
			if (s->state == S_CLOSED)
				continue;
			if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
				if (s->state == S_CONNECTING)
					session_connected(s);
				else
					session_flush(s);
			}
			if (s->state == S_CLOSED)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				bool was_ready = s->state == S_READY;
				session_read(s);
				/* A session that just became ready joins the
				 * current phase; the others refill. */
				if (s->state == S_READY || !was_ready)
					session_feed(s, ph);
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Counters                                                            */
/* ------------------------------------------------------------------ */

static uint64_t sum_counter(size_t off)
{
	uint64_t t = 0;

	for (int i = 0; i < o.threads; i++)
		t += read_counter((const uint64_t *)((const char *)&workers[i] + off));
	return t;
}

#define SUM(field) sum_counter(offsetof(struct worker, field))

/* Waits until cond() holds, printing progress; returns false on failure/timeout. */
static bool wait_until(bool (*cond)(void), const char *what, double timeout_s,
		       uint64_t (*progress)(void))
{
	uint64_t start = clock_mono_ns(), last_print = start;
	uint64_t last_val = progress ? progress() : 0;

	while (!cond()) {
		if (has_failed())
			return false;
		uint64_t t = clock_mono_ns();
		if (secs(t - start) > timeout_s) {
			fail("timed out after %.0f s waiting for %s", timeout_s, what);
			return false;
		}
		if (o.progress && progress && t - last_print >= 1000000000ull) {
			uint64_t v = progress();
			fprintf(stderr, "cheetah-bench: %s: %" PRIu64 " done, %.0f/s\n", what, v,
				(double)(v - last_val) / secs(t - last_print));
			last_val = v;
			last_print = t;
		}
		struct timespec ts = {.tv_nsec = 2000000};
		nanosleep(&ts, NULL); /* polling a counter, not synchronising */
	}
	return true;
}

static bool all_ready(void)
{
	return SUM(ready) + SUM(lost) >= (uint64_t)o.sessions;
}

static bool setup_done(void)
{
	return SUM(setup_finished) >= (uint64_t)o.sessions;
}

static bool watches_done(void)
{
	return SUM(watches_set) >= (uint64_t)o.sessions;
}

static bool storm_done(void)
{
	return SUM(events) + SUM(lost) >= (uint64_t)o.sessions;
}

static bool drained(void)
{
	return SUM(inflight) == 0;
}

static bool all_closed(void)
{
	return SUM(closed) >= (uint64_t)o.sessions;
}

static uint64_t ready_count(void)
{
	return SUM(ready);
}

static uint64_t setup_count(void)
{
	return SUM(done_setup);
}

static uint64_t events_count(void)
{
	return SUM(events);
}

static uint64_t ops_count(void)
{
	return SUM(done_reads) + SUM(done_writes);
}

/* ------------------------------------------------------------------ */
/* Reports                                                             */
/* ------------------------------------------------------------------ */

struct result {
	double seconds;
	uint64_t reads, writes;
	struct bench_hist all, rd, wr;
	double client_cpu, server_cpu;
	long server_rss;
};

static const char *const scenario_names[] = {"mixed", "populate", "watch-storm"};
static const char *const format_names[] = {"text", "csv", "json"};

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

static void print_mixed(const struct result *r)
{
	uint64_t ops = r->reads + r->writes;
	double secs_m = r->seconds;
	bool srv = o.server_pid > 0;
	double q[] = {us(bench_hist_quantile(&r->all, 0.5)), us(bench_hist_quantile(&r->all, 0.9)),
		      us(bench_hist_quantile(&r->all, 0.99)), us(bench_hist_quantile(&r->all, 0.999)),
		      us(r->all.max)};
	double rd99 = us(bench_hist_quantile(&r->rd, 0.99)), wr99 = us(bench_hist_quantile(&r->wr, 0.99));
	double scpu = 100.0 * r->server_cpu / secs_m;
	double sper = ops ? r->server_cpu * 1e6 / (double)ops : 0.0;
	struct bench_row w = {0};

	if (o.format != FMT_TEXT) {
		bench_row_add(&w, "label", true, "%s", o.label);
		bench_row_add(&w, "scenario", true, "%s", scenario_names[o.scenario]);
		bench_row_add(&w, "read_pct", false, "%g", o.read_pct);
		bench_row_add(&w, "sessions", false, "%d", o.sessions);
		bench_row_add(&w, "outstanding", false, "%d", o.outstanding);
		bench_row_add(&w, "znodes", false, "%u", o.znodes);
		bench_row_add(&w, "data_size", false, "%u", o.data_size);
		bench_row_add(&w, "seconds", false, "%.3f", secs_m);
		bench_row_add(&w, "ops", false, "%" PRIu64, ops);
		bench_row_add(&w, "ops_s", false, "%.0f", (double)ops / secs_m);
		bench_row_add(&w, "reads_s", false, "%.0f", (double)r->reads / secs_m);
		bench_row_add(&w, "writes_s", false, "%.0f", (double)r->writes / secs_m);
		bench_row_add(&w, "errors", false, "0");
		bench_row_add(&w, "p50_us", false, "%.1f", q[0]);
		bench_row_add(&w, "p90_us", false, "%.1f", q[1]);
		bench_row_add(&w, "p99_us", false, "%.1f", q[2]);
		bench_row_add(&w, "p999_us", false, "%.1f", q[3]);
		bench_row_add(&w, "max_us", false, "%.1f", q[4]);
		bench_row_add(&w, "read_p99_us", false, "%.1f", rd99);
		bench_row_add(&w, "write_p99_us", false, "%.1f", wr99);
		bench_row_add(&w, "client_cpu_pct", false, "%.1f", 100.0 * r->client_cpu / secs_m);
		if (srv) {
			bench_row_add(&w, "server_cpu_pct", false, "%.1f", scpu);
			bench_row_add(&w, "server_cpu_us_per_op", false, "%.2f", sper);
			bench_row_add(&w, "server_rss_kb", false, "%ld", r->server_rss);
		} else { /* empty CSV cells, no JSON members */
			bench_row_add(&w, "server_cpu_pct", false, "%s", "");
			bench_row_add(&w, "server_cpu_us_per_op", false, "%s", "");
			bench_row_add(&w, "server_rss_kb", false, "%s", "");
		}
		bench_row_print(&w, stdout, o.format == FMT_JSON, o.csv_header);
		return;
	}
	printf("cheetah-bench %s: %g%% reads, %d sessions x %d outstanding, %d thread(s), "
	       "%u znodes x %u B, %.1f s measured\n",
	       scenario_names[o.scenario], o.read_pct, o.sessions, o.outstanding, o.threads,
	       o.znodes, o.data_size, secs_m);
	printf("  throughput  %.0f ops/s (reads %.0f/s, writes %.0f/s), errors 0\n",
	       (double)ops / secs_m, (double)r->reads / secs_m, (double)r->writes / secs_m);
	printf("  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", q[0], q[1],
	       q[2], q[3], q[4]);
	printf("  p99 us      reads %.1f  writes %.1f\n", rd99, wr99);
	printf("  client CPU  %.1f%% of a core\n", 100.0 * r->client_cpu / secs_m);
	if (srv)
		printf("  server CPU  %.1f%% of a core, %.2f us per op; RSS %ld kB\n", scpu, sper,
		       r->server_rss);
}

struct storm {
	uint32_t sessions;
	double connect_s, watch_s, fanout_ms;
	uint64_t events, lost;
	long rss0, rss1, rss2;
	/*
	 * From just before the setData to the last event (schedstat, ms):
	 * the server's and this client's time on a CPU and time runnable
	 * but waiting for one; NAN when not known (no --server-pid).
	 */
	double srv_cpu_ms, srv_wait_ms, cli_cpu_ms, cli_wait_ms;
	double setdata_ms; /* the setData's own round trip */
	/* NET_RX softirqs per CPU in the same span, "cpu0/cpu1/..." */
	char net_rx[48];
	/* Packets dropped at a full backlog per CPU (softnet_stat), the same */
	char drops[48];
};

/* Formats the per-CPU differences b - a as "n0/n1/..." into out. */
static void format_per_cpu(char *out, size_t size, const unsigned long long *a,
			   const unsigned long long *b, int n)
{
	size_t len = 0;

	out[0] = 0;
	for (int i = 0; i < n && len < size; i++) {
		int w = snprintf(out + len, size - len, "%s%llu", i ? "/" : "", b[i] - a[i]);
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

static void print_storm(const struct storm *st)
{
	double per_sess = st->rss0 >= 0 ? (double)(st->rss1 - st->rss0) * 1024.0 / st->sessions : NAN;
	double per_watch = st->rss0 >= 0 ? (double)(st->rss2 - st->rss1) * 1024.0 /
						   ((double)st->sessions * o.watches)
					 : NAN;
	struct bench_row w = {0};

	if (o.format != FMT_TEXT) {
		bench_row_add(&w, "label", true, "%s", o.label);
		bench_row_add(&w, "scenario", true, "watch-storm");
		bench_row_add(&w, "sessions", false, "%u", st->sessions);
		bench_row_add(&w, "watches_per_session", false, "%d", o.watches);
		bench_row_add(&w, "connect_s", false, "%.3f", st->connect_s);
		bench_row_add(&w, "connect_rate_s", false, "%.0f", st->sessions / st->connect_s);
		bench_row_add(&w, "watch_set_s", false, "%.3f", st->watch_s);
		bench_row_add(&w, "fanout_ms", false, "%.2f", st->fanout_ms);
		bench_row_add(&w, "events", false, "%" PRIu64, st->events);
		bench_row_add(&w, "expired", false, "%" PRIu64, st->lost);
		bench_row_add(&w, "fanout_client_cpu_ms", false, "%.1f", st->cli_cpu_ms);
		bench_row_add(&w, "fanout_client_wait_ms", false, "%.1f", st->cli_wait_ms);
		bench_row_add(&w, "fanout_setdata_ms", false, "%.2f", st->setdata_ms);
		bench_row_add(&w, "fanout_net_rx_per_cpu", true, "%s", st->net_rx);
		bench_row_add(&w, "fanout_backlog_drops_per_cpu", true, "%s", st->drops);
		if (o.server_pid > 0) {
			bench_row_add(&w, "fanout_server_cpu_ms", false, "%.1f", st->srv_cpu_ms);
			bench_row_add(&w, "fanout_server_wait_ms", false, "%.1f", st->srv_wait_ms);
			bench_row_add(&w, "server_rss_kb_before", false, "%ld", st->rss0);
			bench_row_add(&w, "server_rss_kb_connected", false, "%ld", st->rss1);
			bench_row_add(&w, "server_rss_kb_watched", false, "%ld", st->rss2);
			bench_row_add(&w, "rss_per_session_b", false, "%.0f", per_sess);
			bench_row_add(&w, "rss_per_watch_b", false, "%.1f", per_watch);
		} else { /* empty CSV cells, no JSON members */
			bench_row_add(&w, "fanout_server_cpu_ms", false, "%s", "");
			bench_row_add(&w, "fanout_server_wait_ms", false, "%s", "");
			bench_row_add(&w, "server_rss_kb_before", false, "%s", "");
			bench_row_add(&w, "server_rss_kb_connected", false, "%s", "");
			bench_row_add(&w, "server_rss_kb_watched", false, "%s", "");
			bench_row_add(&w, "rss_per_session_b", false, "%s", "");
			bench_row_add(&w, "rss_per_watch_b", false, "%s", "");
		}
		bench_row_print(&w, stdout, o.format == FMT_JSON, o.csv_header);
		return;
	}
	printf("cheetah-bench watch-storm: %u sessions x %d watches\n", st->sessions, o.watches);
	printf("  connect     %.3f s (%.0f sessions/s)\n", st->connect_s,
	       st->sessions / st->connect_s);
	printf("  watches set %.3f s\n", st->watch_s);
	printf("  fan-out     %.2f ms from the setData to the last of %" PRIu64 " events; %" PRIu64
	       " sessions lost\n",
	       st->fanout_ms, st->events, st->lost);
	printf("  fan-out CPU client %.1f ms on a CPU, %.1f ms waiting for one", st->cli_cpu_ms,
	       st->cli_wait_ms);
	if (o.server_pid > 0)
		printf("; server %.1f ms on a CPU, %.1f ms waiting", st->srv_cpu_ms, st->srv_wait_ms);
	printf("\n");
	printf("  fan-out     setData round trip %.2f ms; NET_RX softirqs per CPU %s; backlog "
	       "drops per CPU %s\n",
	       st->setdata_ms, st->net_rx[0] ? st->net_rx : "?", st->drops[0] ? st->drops : "?");
	if (o.server_pid > 0)
		printf("  server RSS  %ld -> %ld -> %ld kB: %.0f B per session, %.1f B per watch\n",
		       st->rss0, st->rss1, st->rss2, per_sess, per_watch);
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
/* ------------------------------------------------------------------ */

static int setup_tree(void)
{
	struct bench_call c;
	char path[PATH_MAX_LEN];
	int rc = bench_call_open(&c, (struct sockaddr *)&o.hosts[0], o.host_len[0], o.timeout_ms);

	if (rc == 0)
		rc = bench_call_create(&c, o.root);
	snprintf(path, sizeof(path), "%s/tmp", o.root);
	if (rc == 0)
		rc = bench_call_create(&c, path);
	bench_call_close(&c);
	if (rc)
		fprintf(stderr, "cheetah-bench: cannot create %s on %s: %s %d\n", o.root,
			o.host_names[0], rc < 0 ? strerror(-rc) : "ZooKeeper error", rc);
	return rc ? -1 : 0;
}

/*
 * setData on znode 0 from the main thread's session: fires the storm.
 * *t0 is when it was sent, *t_reply when its reply came.
 */
static int fire_storm(uint64_t *t0, uint64_t *t_reply)
{
	struct bench_call c;
	char path[PATH_MAX_LEN];
	uint8_t data[4096];
	struct proto_request req = {.hdr.type = ZK_OP_SETDATA};
	int rc = bench_call_open(&c, (struct sockaddr *)&o.hosts[0], o.host_len[0], o.timeout_ms);

	if (rc == 0) {
		uint32_t size = o.data_size < sizeof(data) ? o.data_size : (uint32_t)sizeof(data);
		int len = key_path(path, 0);
		uint64_t seq = __atomic_add_fetch(&key_seq[0], 1, __ATOMIC_RELAXED);
		bench_payload_fill(data, size, 0, seq);
		req.set_data.path = view(path, len);
		req.set_data.data = (struct jute_buf){.p = data, .len = (int32_t)size};
		req.set_data.version = -1;
		*t0 = clock_mono_ns();
		rc = bench_call_do(&c, &req);
		*t_reply = clock_mono_ns();
	}
	bench_call_close(&c);
	return rc;
}

static int start_threads(void)
{
	workers = calloc((size_t)o.threads, sizeof(*workers));
	sessions = calloc((size_t)o.sessions, sizeof(*sessions));
	key_seq = calloc(o.znodes ? o.znodes : 1, sizeof(*key_seq));
	key_acked = calloc(o.znodes ? o.znodes : 1, sizeof(*key_acked));
	if (o.scenario == SC_MIXED)
		key_ack_log = calloc((size_t)o.znodes * ACK_SLOTS, sizeof(*key_ack_log));
	if (!workers || !sessions || !key_seq || !key_acked)
		return -ENOMEM;
	for (int t = 0; t < o.threads; t++) {
		struct worker *w = &workers[t];
		uint32_t lo = (uint32_t)((uint64_t)o.sessions * t / o.threads);
		uint32_t hi = (uint32_t)((uint64_t)o.sessions * (t + 1) / o.threads);
		w->id = t;
		w->sess = &sessions[lo];
		w->nsess = hi - lo;
		w->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(t + 1) ^ (uint64_t)clock_mono_ns();
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->chunk = malloc(RECV_CHUNK);
		w->payload = malloc(o.data_size ? o.data_size : 1);
		if (w->epfd < 0 || !w->chunk || !w->payload)
			return -ENOMEM;
		for (uint32_t i = lo; i < hi; i++) {
			struct session *s = &sessions[i];
			s->w = w;
			s->id = i;
			s->fd = -1;
			s->next_xid = 1;
			s->setup_next = i;
			s->setup_left = i < o.znodes ? (o.znodes - 1 - i) / (uint32_t)o.sessions + 1 : 0;
			s->watches_left = (uint32_t)o.watches;
			jute_out_init(&s->out, 256);
			if (s->setup_left == 0)
				w->setup_finished++;
		}
	}
	for (int t = 0; t < o.threads; t++)
		if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0)
			return -EAGAIN;
	return 0;
}

static void stop_threads(void)
{
	if (!has_failed()) {
		set_phase(PH_DRAIN);
		wait_until(drained, "in-flight replies", 60, NULL);
	}
	if (!has_failed()) {
		set_phase(PH_CLOSE);
		wait_until(all_closed, "closeSession", 60, NULL);
	}
	set_phase(PH_EXIT);
	for (int t = 0; t < o.threads; t++) {
		pthread_join(workers[t].thread, NULL);
		close(workers[t].epfd);
		free(workers[t].chunk);
		free(workers[t].payload);
	}
	for (int i = 0; i < o.sessions; i++) {
		struct session *s = &sessions[i];
		if (s->fd >= 0)
			close(s->fd);
		free(s->q);
		free(s->in);
		jute_out_free(&s->out);
	}
}

static bool connect_and_setup(uint64_t *connect_ns)
{
	uint64_t t0 = clock_mono_ns();

	set_phase(PH_CONNECT);
	if (!wait_until(all_ready, "connecting sessions", 120, ready_count))
		return false;
	*connect_ns = clock_mono_ns() - t0;
	set_phase(PH_SETUP);
	return wait_until(setup_done, "creating znodes", 3600, setup_count);
}

static int run_mixed(void)
{
	struct result r;
	uint64_t connect_ns;

	memset(&r, 0, sizeof(r));
	measure_start = UINT64_MAX;
	measure_end = UINT64_MAX;
	uint64_t t_setup = clock_mono_ns();
	if (!connect_and_setup(&connect_ns))
		return -1;
	uint64_t setup_ns = clock_mono_ns() - t_setup;

	if (o.scenario == SC_MIXED) {
		set_phase(PH_LOAD);
		uint64_t t = clock_mono_ns(), end_warm = t + (uint64_t)(o.warmup * 1e9);
		uint64_t last = ops_count(), last_t = t;
		while (!has_failed() && (t = clock_mono_ns()) < end_warm) {
			struct timespec ts = {.tv_nsec = 10000000};
			nanosleep(&ts, NULL);
		}
		double c0 = bench_self_cpu_s(), s0 = o.server_pid > 0 ? bench_proc_cpu_s(o.server_pid) : 0;
		uint64_t start = clock_mono_ns(), end = start + (uint64_t)(o.duration * 1e9);
		__atomic_store_n(&measure_start, start, __ATOMIC_RELAXED);
		while (!has_failed() && (t = clock_mono_ns()) < end) {
			struct timespec ts = {.tv_nsec = 10000000};
			nanosleep(&ts, NULL);
			if (o.progress && t - last_t >= 1000000000ull) {
				uint64_t v = ops_count();
				fprintf(stderr, "cheetah-bench: %.0f s: %.0f ops/s\n", secs(t - start),
					(double)(v - last) / secs(t - last_t));
				last = v;
				last_t = t;
			}
		}
		end = clock_mono_ns();
		__atomic_store_n(&measure_end, end, __ATOMIC_RELAXED);
		r.client_cpu = bench_self_cpu_s() - c0;
		r.server_cpu = o.server_pid > 0 ? bench_proc_cpu_s(o.server_pid) - s0 : 0;
		r.seconds = secs(end - start);
	} else {
		r.seconds = secs(setup_ns);
	}
	if (o.server_pid > 0)
		r.server_rss = bench_proc_rss_kb(o.server_pid);
	stop_threads();
	if (has_failed())
		return -1;
	for (int t = 0; t < o.threads; t++) {
		bench_hist_merge(&r.rd, &workers[t].hread);
		bench_hist_merge(&r.wr, &workers[t].hwrite);
		r.reads += workers[t].m_reads;
		r.writes += workers[t].m_writes;
	}
	if (o.scenario == SC_POPULATE)
		r.writes = o.znodes;
	bench_hist_merge(&r.all, &r.rd);
	bench_hist_merge(&r.all, &r.wr);
	print_mixed(&r);
	if (o.cdf) {
		FILE *f = fopen(o.cdf, "w");
		if (!f || bench_hist_write_cdf(&r.all, f) != 0) {
			fprintf(stderr, "cheetah-bench: cannot write %s\n", o.cdf);
			if (f)
				fclose(f);
			return -1;
		}
		fclose(f);
	}
	return 0;
}

static int run_storm(void)
{
	struct storm st = {.sessions = (uint32_t)o.sessions,
			   .rss0 = -1,
			   .srv_cpu_ms = NAN,
			   .srv_wait_ms = NAN,
			   .cli_cpu_ms = NAN,
			   .cli_wait_ms = NAN,
			   .setdata_ms = NAN};
	uint64_t connect_ns, t0;

	measure_start = measure_end = UINT64_MAX;
	/* The znodes first, from a few sessions; then the storm's own. */
	if (o.server_pid > 0)
		st.rss0 = bench_proc_rss_kb(o.server_pid);
	if (!connect_and_setup(&connect_ns))
		goto out;
	st.connect_s = secs(connect_ns);
	if (o.server_pid > 0)
		st.rss1 = bench_proc_rss_kb(o.server_pid);
	uint64_t tw = clock_mono_ns();
	set_phase(PH_WATCH);
	if (!wait_until(watches_done, "setting watches", 600, NULL))
		goto out;
	st.watch_s = secs(clock_mono_ns() - tw);
	if (o.server_pid > 0)
		st.rss2 = bench_proc_rss_kb(o.server_pid);
	set_phase(PH_WAIT);
	if (o.storm_pause > 0) {
		/* Time to attach a profiler to the fan-out alone. */
		fprintf(stderr, "cheetah-bench: watches set; firing in %.1f s\n", o.storm_pause);
		struct timespec ts = {.tv_sec = (time_t)o.storm_pause,
				      .tv_nsec = (long)((o.storm_pause - (double)(time_t)o.storm_pause) * 1e9)};
		nanosleep(&ts, NULL);
	}
	struct bench_sched s0 = {0}, s1 = {0}, c0 = {0}, c1 = {0};
	bool srv_ok = o.server_pid > 0 && bench_proc_sched(o.server_pid, &s0) == 0;
	bool cli_ok = bench_proc_sched((int)getpid(), &c0) == 0;
	unsigned long long rx0[8], rx1[8], dr0[8], dr1[8];
	int nrx = bench_proc_net_rx(rx0, 8), ndr = bench_proc_backlog_drops(dr0, 8);
	uint64_t t_reply;
	int rc = fire_storm(&t0, &t_reply);
	if (rc != 0) {
		fail("the storm's setData failed: %s %d", rc < 0 ? strerror(-rc) : "ZooKeeper error",
		     rc);
		goto out;
	}
	st.setdata_ms = (double)(t_reply - t0) / 1e6;
	if (!wait_until(storm_done, "watch events", 120, events_count))
		goto out;
	srv_ok = srv_ok && bench_proc_sched(o.server_pid, &s1) == 0;
	cli_ok = cli_ok && bench_proc_sched((int)getpid(), &c1) == 0;
	if (nrx > 0 && bench_proc_net_rx(rx1, 8) == nrx)
		format_per_cpu(st.net_rx, sizeof(st.net_rx), rx0, rx1, nrx);
	if (ndr > 0 && bench_proc_backlog_drops(dr1, 8) == ndr)
		format_per_cpu(st.drops, sizeof(st.drops), dr0, dr1, ndr);
	st.srv_cpu_ms = srv_ok ? (double)(s1.run_ns - s0.run_ns) / 1e6 : NAN;
	st.srv_wait_ms = srv_ok ? (double)(s1.wait_ns - s0.wait_ns) / 1e6 : NAN;
	st.cli_cpu_ms = cli_ok ? (double)(c1.run_ns - c0.run_ns) / 1e6 : NAN;
	st.cli_wait_ms = cli_ok ? (double)(c1.wait_ns - c0.wait_ns) / 1e6 : NAN;
	uint64_t last = 0;
	for (int i = 0; i < o.sessions; i++)
		if (sessions[i].event_at > last)
			last = sessions[i].event_at;
	st.fanout_ms = last > t0 ? (double)(last - t0) / 1e6 : 0;
	if (o.storm_pause > 0) /* to cut a profiler's record to the fan-out */
		fprintf(stderr,
			"cheetah-bench: fan-out from %" PRIu64 " to %" PRIu64
			" ns (CLOCK_MONOTONIC)\n",
			t0, last);
	st.events = SUM(events);
	st.lost = SUM(lost);
out:
	stop_threads();
	if (has_failed())
		return -1;
	print_storm(&st);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cheetah-bench [options]\n"
		"  --hosts H:P[,H:P...]  servers; sessions round-robin (default 127.0.0.1:2181)\n"
		"  --threads N           client threads (default 1)\n"
		"  --sessions N          sessions (default 16)\n"
		"  --outstanding K       pipelined requests per session (default 32)\n"
		"  --read-pct P          percentage of reads, 0..100 (default 90)\n"
		"  --reads LIST          getData,exists,getChildren (default getData)\n"
		"  --writes LIST         setData,create-delete (default setData)\n"
		"  --znodes N            znodes under the root (default 1000)\n"
		"  --data-size B         bytes per znode (default 100)\n"
		"  --warmup S            seconds before measuring (default 2)\n"
		"  --duration S          seconds measured (default 10)\n"
		"  --root PATH           parent znode (default /cheetah-bench)\n"
		"  --session-timeout MS  requested session timeout (default 30000)\n"
		"  --format text|csv|json, --csv-header, --label STR\n"
		"  --cdf FILE            latency CDF: \"<us> <fraction>\" lines\n"
		"  --server-pid PID      sample that process's CPU and RSS\n"
		"  --no-progress\n"
		"  --scenario mixed|populate|watch-storm\n"
		"  --watches N           watch-storm: watches per session (default 50)\n"
		"  --connect-window N    connections being set up at once (default 256)\n"
		"  --source-ips N        towards a 127.x server, connect from 127.1.0.1..N\n"
		"                        (default 64; 0: let the kernel choose)\n"
		"  --storm-pause S       watch-storm: wait S seconds before the setData\n"
		"                        (to attach a profiler to the fan-out)\n");
}

/* The index of s in names[0..n), or -1. */
static int name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static int parse_ops(const char *arg, enum kind *out, int *n, bool reads)
{
	char buf[256];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", arg);
	*n = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		enum kind k;
		if (reads && strcmp(t, "getData") == 0)
			k = K_GET;
		else if (reads && strcmp(t, "exists") == 0)
			k = K_EXISTS;
		else if (reads && strcmp(t, "getChildren") == 0)
			k = K_CHILDREN;
		else if (!reads && strcmp(t, "setData") == 0)
			k = K_SET;
		else if (!reads && strcmp(t, "create-delete") == 0)
			k = K_CREATE_TMP;
		else
			return -1;
		if (*n == MAX_OPS)
			return -1;
		out[(*n)++] = k;
	}
	return *n ? 0 : -1;
}

static int parse_hosts(const char *arg)
{
	char buf[1024];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o.nhosts == MAX_HOSTS)
			return -1;
		char host[128], *colon = strrchr(t, ':');
		const char *port = colon ? colon + 1 : "2181";
		snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - t) : (int)strlen(t), t);
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
		if (getaddrinfo(host, port, &hints, &ai) != 0) {
			fprintf(stderr, "cheetah-bench: cannot resolve %s\n", t);
			return -1;
		}
		memcpy(&o.hosts[o.nhosts], ai->ai_addr, ai->ai_addrlen);
		o.host_len[o.nhosts] = ai->ai_addrlen;
		snprintf(o.host_names[o.nhosts], sizeof(o.host_names[0]), "%s", t);
		o.nhosts++;
		freeaddrinfo(ai);
	}
	return o.nhosts ? 0 : -1;
}

static bool parse_long(const char *s, long lo, long hi, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	return errno == 0 && *s && !*end && *v >= lo && *v <= hi;
}

static bool parse_double(const char *s, double lo, double hi, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && *s && !*end && *v >= lo && *v <= hi;
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"hosts", required_argument, NULL, 'h'},
		{"threads", required_argument, NULL, 't'},
		{"sessions", required_argument, NULL, 's'},
		{"outstanding", required_argument, NULL, 'k'},
		{"read-pct", required_argument, NULL, 'r'},
		{"reads", required_argument, NULL, 'R'},
		{"writes", required_argument, NULL, 'W'},
		{"znodes", required_argument, NULL, 'z'},
		{"data-size", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"duration", required_argument, NULL, 'D'},
		{"root", required_argument, NULL, 'P'},
		{"session-timeout", required_argument, NULL, 'T'},
		{"format", required_argument, NULL, 'f'},
		{"csv-header", no_argument, NULL, 'H'},
		{"label", required_argument, NULL, 'l'},
		{"cdf", required_argument, NULL, 'c'},
		{"server-pid", required_argument, NULL, 'p'},
		{"no-progress", no_argument, NULL, 'q'},
		{"scenario", required_argument, NULL, 'S'},
		{"watches", required_argument, NULL, 'n'},
		{"connect-window", required_argument, NULL, 'C'},
		{"source-ips", required_argument, NULL, 'I'},
		{"storm-pause", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	long v;
	int c, idx = 0;

	o.reads[0] = K_GET;
	o.nreads = 1;
	o.writes[0] = K_SET;
	o.nwrites = 1;
	while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		bool ok = true;
		switch (c) {
		case 'h':
			ok = parse_hosts(optarg) == 0;
			break;
		case 't':
			ok = parse_long(optarg, 1, 256, &v) && (o.threads = (int)v);
			break;
		case 's':
			ok = parse_long(optarg, 1, 1000000, &v) && (o.sessions = (int)v);
			break;
		case 'k':
			ok = parse_long(optarg, 1, 100000, &v) && (o.outstanding = (int)v);
			break;
		case 'r':
			ok = parse_double(optarg, 0, 100, &o.read_pct);
			break;
		case 'R':
			ok = parse_ops(optarg, o.reads, &o.nreads, true) == 0;
			break;
		case 'W':
			ok = parse_ops(optarg, o.writes, &o.nwrites, false) == 0;
			break;
		case 'z':
			ok = parse_long(optarg, 1, 100000000, &v) && (o.znodes = (uint32_t)v);
			break;
		case 'd':
			ok = parse_long(optarg, 0, 1000000, &v) && ((o.data_size = (uint32_t)v) || true);
			break;
		case 'w':
			ok = parse_double(optarg, 0, 86400, &o.warmup);
			break;
		case 'D':
			ok = parse_double(optarg, 0.1, 86400, &o.duration);
			break;
		case 'P':
			o.root = optarg;
			ok = optarg[0] == '/' && strlen(optarg) > 1 && strlen(optarg) < 200 &&
			     optarg[strlen(optarg) - 1] != '/';
			break;
		case 'T':
			ok = parse_long(optarg, 1, 3600000, &v) && (o.timeout_ms = (int)v);
			break;
		case 'f':
			ok = (c = name_index(optarg, format_names, 3)) >= 0;
			o.format = ok ? (enum format)c : o.format;
			break;
		case 'H':
			o.csv_header = true;
			break;
		case 'l':
			o.label = optarg;
			ok = !strpbrk(optarg, ",\"\\\n");
			break;
		case 'c':
			o.cdf = optarg;
			break;
		case 'p':
			ok = parse_long(optarg, 1, 1L << 30, &v) && (o.server_pid = (int)v);
			break;
		case 'q':
			o.progress = false;
			break;
		case 'S':
			ok = (c = name_index(optarg, scenario_names, 3)) >= 0;
			o.scenario = ok ? (enum scenario)c : o.scenario;
			break;
		case 'n':
			ok = parse_long(optarg, 1, 100000, &v) && (o.watches = (int)v);
			break;
		case 'C':
			ok = parse_long(optarg, 1, 1000000, &v) && (o.connect_window = (int)v);
			break;
		case 'F':
			ok = parse_double(optarg, 0, 3600, &o.storm_pause);
			break;
		case 'I':
			ok = parse_long(optarg, 0, 254, &v);
			o.source_ips = (int)v;
			break;
		case 'u':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "cheetah-bench: bad value for --%s: %s\n", longopts[idx].name,
				optarg ? optarg : "");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cheetah-bench: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (!o.nhosts && parse_hosts("127.0.0.1:2181") != 0)
		return 2;
	if (o.threads > o.sessions)
		o.threads = o.sessions;
	if (o.scenario == SC_STORM && o.znodes < (uint32_t)o.watches) {
		fprintf(stderr, "cheetah-bench: watch-storm needs --znodes >= --watches\n");
		return 2;
	}
	if (o.scenario == SC_STORM)
		o.outstanding = o.outstanding < o.watches ? o.outstanding : o.watches;
	snprintf(root_data, sizeof(root_data), "%s/n-", o.root);
	snprintf(root_tmp, sizeof(root_tmp), "%s/tmp/", o.root);
	return 0;
}

/* Enough descriptors for every session (the storm opens thousands). */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t want = (rlim_t)o.sessions + 64;
	if (rl.rlim_cur >= want)
		return;
	/* Root may raise the hard limit too (up to fs.nr_open). */
	struct rlimit up = {.rlim_cur = want, .rlim_max = want > rl.rlim_max ? want : rl.rlim_max};
	if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
		rl = up;
	} else {
		rl.rlim_cur = want <= rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		fprintf(stderr, "cheetah-bench: open-file limit %llu is below %d sessions\n",
			(unsigned long long)rl.rlim_cur, o.sessions);
}

int main(int argc, char **argv)
{
	int rc = parse_args(argc, argv);

	if (rc)
		return rc == 1 ? 0 : rc;
	raise_fd_limit();
	if (setup_tree() != 0)
		return 1;
	if (start_threads() != 0) {
		fprintf(stderr, "cheetah-bench: cannot start: out of memory or threads\n");
		return 1;
	}
	rc = o.scenario == SC_STORM ? run_storm() : run_mixed();
	if (rc != 0 || has_failed()) {
		fprintf(stderr, "cheetah-bench: FAILED: %s\n", fail_msg[0] ? fail_msg : "see above");
		return 1;
	}
	return 0;
}
