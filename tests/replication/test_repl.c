// SPDX-License-Identifier: Apache-2.0
/*
 * The broadcast core, driven through its rings by the test thread acting
 * as one or more dataplane workers: sessions (create, reconnect, close,
 * expiry, touches), writes (events before results, published zxid,
 * pipelining, ERROR txns, multi), sync ordering, the session tracker
 * dump for the dump word, slow workers (overflow),
 * mntr's log summaries (records per batch, fsyncs, srst's reset),
 * recovery (clean restart, a copy taken while running as a crash image,
 * snapshots, autopurge), container and TTL cleanup, and disk errors
 * (fdatasync failing with EIO, injected by this executable's own
 * fdatasync, which the log's calls bind to).
 *
 * Every test has its own directory under $TMPDIR.  Waits are bounded:
 * the fake worker registers a wakeup eventfd and poll()s it with a
 * deadline; nothing sleeps to synchronise.  Expiry tests use the real
 * clock with a short tickTime.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <urcu-qsbr.h>
#include <dirent.h>

#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "replication/repl.h"
#include "replication/repl_priv.h"
#include "tests/common/leakcheck.h"

/* ---- fdatasync interposition: fail with EIO from call n on ---- */

static long sync_fail_after; /* 0: never */
static long sync_calls;

int fdatasync(int fd)
{
	long n = __atomic_add_fetch(&sync_calls, 1, __ATOMIC_SEQ_CST);
	long fail = __atomic_load_n(&sync_fail_after, __ATOMIC_SEQ_CST);

	if (fail && n >= fail) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

/*
 * write(2) interposition: the core's write to hold_fd (a worker's wakeup
 * eventfd) pauses until the test says so, to check that
 * repl_set_worker_wakeup does not return while the core still holds the
 * descriptor it is about to write (the dataplane closes it right after).
 */
static int hold_fd = -1;
static int hold_entered;  /* the core is paused inside write(hold_fd) */
static int hold_release;  /* let it go on */
static int unset_returned; /* repl_set_worker_wakeup(-1) came back */
static int hold_violation; /* it came back while the core held the fd */

ssize_t write(int fd, const void *buf, size_t n)
{
	if (fd >= 0 && fd == __atomic_load_n(&hold_fd, __ATOMIC_SEQ_CST)) {
		uint64_t deadline = clock_mono_ns() + 2000000000u;

		__atomic_store_n(&hold_fd, -1, __ATOMIC_SEQ_CST); /* once */
		__atomic_store_n(&hold_entered, 1, __ATOMIC_SEQ_CST);
		while (!__atomic_load_n(&hold_release, __ATOMIC_SEQ_CST) &&
		       clock_mono_ns() < deadline)
			sched_yield();
		if (__atomic_load_n(&unset_returned, __ATOMIC_SEQ_CST))
			__atomic_store_n(&hold_violation, 1, __ATOMIC_SEQ_CST);
	}
	return syscall(SYS_write, fd, buf, n);
}

/* posix_fallocate interposition: ENOSPC while fallocate_full is set. */
static int fallocate_full;

int posix_fallocate(int fd, off_t off, off_t len)
{
	if (__atomic_load_n(&fallocate_full, __ATOMIC_SEQ_CST))
		return ENOSPC;
	return syscall(SYS_fallocate, fd, 0, off, len) < 0 ? errno : 0;
}

/* ---- Fixture ---- */

static char tdir[512];
static char data_dir[600], log_dir[600];
static struct cfg cfg;
static bool cfg_loaded;

#define MAX_W 4
static struct repl *R;
static int wake_fd[MAX_W];
static uint32_t nw;

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	log_set_level(LOG_LVL_WARN);
	snprintf(tdir, sizeof(tdir), "%s/cheetah-repl-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(tdir));
	snprintf(data_dir, sizeof(data_dir), "%s/data", tdir);
	snprintf(log_dir, sizeof(log_dir), "%s/log", tdir);
	urcu_qsbr_register_thread();
	__atomic_store_n(&sync_fail_after, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fallocate_full, 0, __ATOMIC_SEQ_CST);
	for (int i = 0; i < MAX_W; i++)
		wake_fd[i] = -1;
}

static void close_wakes(void)
{
	for (int i = 0; i < MAX_W; i++) {
		if (wake_fd[i] >= 0)
			close(wake_fd[i]);
		wake_fd[i] = -1;
	}
}

static void teardown(void)
{
	if (R)
		repl_stop(R);
	R = NULL;
	close_wakes();
	if (cfg_loaded)
		cfg_free(&cfg);
	cfg_loaded = false;
	urcu_qsbr_unregister_thread();
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	test_fini_no_leaks();
}

TestSuite(repl, .init = setup, .fini = teardown, .timeout = 60);

/* A configuration for dirs d/l with extra "key=value" lines. */
static void make_cfg(const char *d, const char *l, const char *const *extra)
{
	struct cfg_error err;
	char line[800];

	if (cfg_loaded)
		cfg_free(&cfg);
	cr_assert_eq(cfg_defaults(&cfg), 0);
	cfg_loaded = true;
	snprintf(line, sizeof(line), "dataDir=%s", d);
	cr_assert_eq(cfg_set(&cfg, line, &err), 0, "%s", err.msg);
	snprintf(line, sizeof(line), "dataLogDir=%s", l);
	cr_assert_eq(cfg_set(&cfg, line, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_set(&cfg, "clientPort=2181", &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_set(&cfg, "tickTime=100", &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_set(&cfg, "forceSync=no", &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_set(&cfg, "preAllocSize=64", &err), 0, "%s", err.msg);
	for (int i = 0; extra && extra[i]; i++)
		cr_assert_eq(cfg_set(&cfg, extra[i], &err), 0, "%s: %s", extra[i], err.msg);
	cr_assert_eq(cfg_finalize(&cfg, &err), 0, "%s", err.msg);
}

/*
 * The test's read_exec (the dataplane's is dp_core_read): each request
 * frame is a path; each read's answer is one byte, '1' if the node
 * exists where the core runs the read, else '0' (its xid: its index), a
 * watch on the path (bits 1), and the tree's zxid.
 */
static uint32_t reads_run;

static int test_read_exec(void *ctx, struct tree *t, const struct repl_write *req,
			  struct repl_read_out **out)
{
	const struct repl_write_req *rq =
	    (const struct repl_write_req *)((const uint8_t *)req + req->reqs_off);
	uint32_t n = req->nreqs;
	size_t paths = 0, off;
	struct repl_read_out *o;

	cr_assert_eq(ctx, &cfg);
	cr_assert_geq(n, 1);
	for (uint32_t i = 0; i < n; i++)
		paths += (size_t)rq[i].data.len;
	o = malloc(repl_read_out_size(n, n, n + paths));
	if (!o)
		return ZK_SYSTEMERROR;
	o->zxid = tree_last_zxid(t);
	o->nreads = n;
	o->nframes = n;
	o->len = n;
	o->nwatches = n;
	off = n;
	for (uint32_t i = 0; i < n; i++) {
		struct jute_buf path = repl_write_data(req, i);

		repl_read_answers(o)[i] = (struct repl_read_ans){(int32_t)i, ZK_OK, 1, 1, 1};
		repl_read_bytes(o)[i] =
		    tree_lookup(t, (const char *)path.p, (size_t)path.len) ? '1' : '0';
		o->watches[i].path_off = (uint32_t)off;
		o->watches[i].path_len = (uint32_t)path.len;
		o->watches[i].bits = 1;
		memcpy(repl_read_bytes(o) + off, path.p, (size_t)path.len);
		off += (size_t)path.len;
	}
	__atomic_add_fetch(&reads_run, n, __ATOMIC_RELAXED);
	*out = o;
	return ZK_OK;
}

static int open_core_rc(uint32_t n)
{
	struct repl_opts o = {.cfg = &cfg,
			      .nworkers = n,
			      .core = -1,
			      .read_exec = test_read_exec,
			      .read_ctx = &cfg};
	int rc = repl_open(&o, &R);

	if (rc)
		return rc;
	nw = n;
	for (uint32_t i = 0; i < n; i++) {
		if (wake_fd[i] < 0)
			wake_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		cr_assert_geq(wake_fd[i], 0);
		repl_set_worker_wakeup(R, i, wake_fd[i]);
	}
	cr_assert_eq(repl_start(R), 0);
	return 0;
}

static void open_core(uint32_t n, const char *const *extra)
{
	make_cfg(data_dir, log_dir, extra);
	cr_assert_eq(open_core_rc(n), 0);
}

static void stop_core(void)
{
	repl_stop(R);
	R = NULL;
}

/* ---- Fake worker ---- */

static void push_in(uint32_t w, uint8_t kind, uint32_t conn, int32_t xid, int64_t session,
		    void *body)
{
	struct repl_in m = {kind, conn, xid, session, body};

	cr_assert(ring_push(repl_in_ring(R, w), &m), "in ring full");
	repl_kick(R);
}

/* Pops one message for worker w, waiting up to ms; false on timeout. */
static bool pop_out_wait(uint32_t w, struct repl_out *m, int ms)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		struct pollfd p = {.fd = wake_fd[w], .events = POLLIN};
		uint64_t now;
		uint64_t v;

		if (ring_pop(repl_out_ring(R, w), m))
			return true;
		now = clock_mono_ns();
		if (now >= deadline)
			return false;
		urcu_qsbr_thread_offline();
		if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) > 0 &&
		    read(p.fd, &v, 8) < 0)
			v = 0;
		urcu_qsbr_thread_online();
	}
}

static struct repl_out pop_out(uint32_t w)
{
	struct repl_out m;

	cr_assert(pop_out_wait(w, &m, 10000), "no message for worker %u within 10 s", w);
	return m;
}

/* Nothing arrives for worker w within ms. */
static void assert_quiet(uint32_t w, int ms)
{
	struct repl_out m;

	if (pop_out_wait(w, &m, ms)) {
		cr_assert_fail("unexpected message kind %u for worker %u (conn %u)", m.kind, w,
			       m.conn);
	}
}

struct conn_info {
	int64_t session;
	int32_t timeout;
	uint8_t passwd[16];
};

static struct repl_out connect_raw(uint32_t w, uint32_t conn, int64_t session, int32_t timeout,
				   const uint8_t *pw, uint8_t pwlen, int64_t last_zxid)
{
	struct repl_connect *c = calloc(1, sizeof(*c));

	c->session = session;
	c->timeout = timeout;
	c->last_zxid_seen = last_zxid;
	if (pw)
		memcpy(c->passwd, pw, pwlen);
	c->passwd_len = pwlen;
	push_in(w, REPL_IN_CONNECT, conn, 0, session, c);
	return pop_out(w);
}

static struct conn_info connect_new(uint32_t w, uint32_t conn, int32_t timeout)
{
	struct repl_out m = connect_raw(w, conn, 0, timeout, NULL, 0, 0);
	struct repl_connected *c = m.body;
	struct conn_info ci;

	cr_assert_eq(m.kind, REPL_OUT_CONNECTED);
	cr_assert_eq(m.conn, conn);
	cr_assert_eq(c->err, ZK_OK);
	ci.session = c->session;
	ci.timeout = c->timeout;
	memcpy(ci.passwd, c->passwd, 16);
	repl_out_free(&m);
	return ci;
}

/* world:anyone, all permissions, in jute encoding. */
static size_t put_world_acl(uint8_t *p, int32_t perms)
{
	struct jute_out o;

	jute_out_init_fixed(&o, p, 64);
	jute_put_int(&o, 1);
	jute_put_int(&o, perms ? perms : ZK_PERM_ALL);
	jute_put_string(&o, "world");
	jute_put_string(&o, "anyone");
	return o.len;
}

struct op_spec {
	int32_t type;
	const char *path;
	const char *data;
	int32_t flags;
	int32_t version;
	int64_t ttl;
	int32_t perms; /* of the world:anyone ACL of creates; 0: all */
};

static struct repl_write *mk_write(int32_t op, bool multi, const struct op_spec *ops, uint32_t n)
{
	size_t len = 0;
	struct repl_write *w;
	struct repl_write_req *reqs;
	uint8_t *p;

	for (uint32_t i = 0; i < n; i++)
		len += strlen(ops[i].path) + (ops[i].data ? strlen(ops[i].data) : 0) + 64;
	w = repl_write_new(len, n, 0);
	cr_assert_not_null(w);
	reqs = repl_write_reqs(w);
	w->op = op;
	w->multi = multi;
	p = w->storage;
	for (uint32_t i = 0; i < n; i++) {
		struct repl_write_req *r = &reqs[i];
		size_t pl = strlen(ops[i].path);

		r->type = ops[i].type;
		r->flags = ops[i].flags;
		r->version = ops[i].version;
		r->ttl = ops[i].ttl ? ops[i].ttl : -1;
		r->acl = (struct repl_span){0, -1};
		memcpy(p, ops[i].path, pl);
		r->path = repl_write_span(w, p, (int32_t)pl);
		p += pl;
		if (ops[i].data) {
			size_t dl = strlen(ops[i].data);
			memcpy(p, ops[i].data, dl);
			r->data = repl_write_span(w, p, (int32_t)dl);
			p += dl;
		} else {
			r->data = (struct repl_span){0, -1};
		}
		if (ops[i].type == ZK_OP_CREATE || ops[i].type == ZK_OP_CREATE2 ||
		    ops[i].type == ZK_OP_CREATECONTAINER || ops[i].type == ZK_OP_CREATETTL ||
		    ops[i].type == ZK_OP_SETACL) {
			size_t al = put_world_acl(p, ops[i].perms);
			r->acl = repl_write_span(w, p, (int32_t)al);
			r->acl_count = 1;
			p += al;
		}
	}
	cr_assert_eq(repl_write_check(w, w->size), 0);
	return w;
}

static void push_write(uint32_t w, uint32_t conn, int32_t xid, int64_t session, int32_t type,
		       const char *path, const char *data, int32_t flags)
{
	struct op_spec op = {type, path, data, flags, -1, 0};

	push_in(w, REPL_IN_WRITE, conn, xid, session, mk_write(type, false, &op, 1));
}

/* Pops messages until the RESULT for xid; counts events seen on the way. */
static struct repl_out wait_result(uint32_t w, int32_t xid, uint32_t *events)
{
	for (;;) {
		struct repl_out m = pop_out(w);

		if (m.kind == REPL_OUT_RESULT) {
			cr_assert_eq(m.xid, xid, "results come in request order");
			return m;
		}
		if (m.kind == REPL_OUT_EVENTS && events)
			(*events)++;
		repl_out_free(&m);
	}
}

/* A single write, answered; returns its zxid and checks err. */
static int64_t do_write(uint32_t w, uint32_t conn, int32_t xid, int64_t session, int32_t type,
			const char *path, const char *data, int32_t flags, int32_t want_err)
{
	struct repl_out m;
	struct repl_result *res;
	int64_t zxid;

	push_write(w, conn, xid, session, type, path, data, flags);
	m = wait_result(w, xid, NULL);
	res = m.body;
	cr_assert_eq(res->err, want_err, "%s: err %d, want %d", path, res->err, want_err);
	zxid = m.zxid;
	repl_out_free(&m);
	return zxid;
}

static void drain(uint32_t w, int ms)
{
	struct repl_out m;

	while (pop_out_wait(w, &m, ms))
		repl_out_free(&m);
}

static bool node_exists(const char *path)
{
	return tree_lookup(repl_tree(R), path, strlen(path)) != NULL;
}

static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && !strstr(e->d_name, ".tmp"))
			n++;
	closedir(d);
	return n;
}

/* ---- Sessions ---- */

Test(repl, new_session_gets_zookeeper_id_password_and_negotiated_timeout)
{
	struct conn_info a, b;
	uint8_t want[16];

	open_core(1, NULL);
	a = connect_new(0, 1, 1);
	cr_assert_eq((uint64_t)a.session >> 56, 1, "standalone server id 1 in the top byte");
	cr_assert_eq(a.session & 0xffff, 0, "the counter starts with 16 zero bits");
	sess_password(a.session, want);
	cr_assert_arr_eq(a.passwd, want, 16);
	cr_assert_eq(a.timeout, 200, "clamped to minSessionTimeout = 2 x tickTime");
	cr_assert_eq(repl_published_zxid(R), 1, "createSession is txn 1");
	cr_assert_eq(tree_session_timeout(repl_tree(R), a.session), 200);

	b = connect_new(0, 2, 1000000);
	cr_assert_eq(b.session, a.session + 1);
	cr_assert_eq(b.timeout, 2000, "clamped to maxSessionTimeout = 20 x tickTime");
	cr_assert_eq(repl_published_zxid(R), 2);
}

Test(repl, reconnect_with_good_password_moves_the_session)
{
	struct conn_info a;
	struct repl_out m;
	struct repl_connected *c;

	open_core(2, NULL);
	a = connect_new(0, 1, 1000);
	m = connect_raw(1, 7, a.session, 1500, a.passwd, 16, 1);
	cr_assert_eq(m.kind, REPL_OUT_CONNECTED);
	c = m.body;
	cr_assert_eq(c->err, ZK_OK);
	cr_assert_eq(c->session, a.session);
	cr_assert_eq(c->timeout, 1500, "renegotiated");
	cr_assert_arr_eq(c->passwd, a.passwd, 16);
	repl_out_free(&m);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_EXPIRE, "the old connection is dropped");
	cr_assert_eq(m.conn, 1);
	cr_assert_eq(m.session, a.session);
	cr_assert_eq(repl_published_zxid(R), 1, "no txn for a reconnect");
}

Test(repl, reconnect_with_bad_password_or_unknown_session_is_expired)
{
	struct conn_info a;
	struct repl_out m;
	struct repl_connected *c;
	uint8_t bad[16];

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	memcpy(bad, a.passwd, 16);
	bad[3] ^= 0x40;
	m = connect_raw(0, 2, a.session, 1000, bad, 16, 0);
	/* ZooKeeper closes the holder first, then checks the password. */
	cr_assert_eq(m.kind, REPL_OUT_EXPIRE);
	cr_assert_eq(m.conn, 1);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_CONNECTED);
	c = m.body;
	cr_assert_eq(c->err, ZK_SESSIONEXPIRED);
	cr_assert_eq(c->timeout, 0);
	repl_out_free(&m);

	m = connect_raw(0, 3, a.session, 1000, a.passwd, 15, 0);
	c = m.body;
	cr_assert_eq(c->err, ZK_SESSIONEXPIRED, "a 15-byte password does not match");
	repl_out_free(&m);

	m = connect_raw(0, 4, a.session + 99, 1000, a.passwd, 16, 0);
	c = m.body;
	cr_assert_eq(c->err, ZK_SESSIONEXPIRED, "unknown session");
	repl_out_free(&m);

	m = connect_raw(0, 5, a.session, 1000, a.passwd, 16, 0);
	c = m.body;
	cr_assert_eq(c->err, ZK_OK, "the session itself is intact");
	repl_out_free(&m);
}

Test(repl, client_that_saw_a_newer_zxid_is_refused)
{
	struct repl_out m;

	open_core(1, NULL);
	m = connect_raw(0, 9, 0, 1000, NULL, 0, 5);
	cr_assert_eq(m.kind, REPL_OUT_EXPIRE, "ZooKeeper: client must try another server");
	cr_assert_eq(m.conn, 9);
	cr_assert_eq(repl_published_zxid(R), 0);
}

/* ---- Writes ---- */

Test(repl, write_events_precede_result_and_zxid_is_published)
{
	struct conn_info a;
	struct repl_out m;
	struct repl_events *ev;
	struct repl_result *res;

	open_core(2, NULL);
	a = connect_new(0, 1, 1000);
	push_write(0, 1, 10, a.session, ZK_OP_CREATE2, "/a", "hello", 0);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_EVENTS, "events first");
	ev = m.body;
	cr_assert_eq(ev->zxid, 2);
	cr_assert_eq(ev->n, 2);
	cr_assert_eq(ev->ev[0].type, ZK_EVENT_NODE_CREATED);
	cr_assert_eq(ev->ev[0].path_len, 2);
	cr_assert_eq(memcmp(repl_events_paths(ev) + ev->ev[0].path_off, "/a", 2), 0);
	cr_assert_eq(ev->ev[1].type, ZK_EVENT_NODE_CHILDREN_CHANGED);
	cr_assert_eq(memcmp(repl_events_paths(ev) + ev->ev[1].path_off, "/", 1), 0);
	repl_out_free(&m);

	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_RESULT);
	cr_assert_eq(m.xid, 10);
	cr_assert_eq(m.conn, 1);
	cr_assert_eq(m.zxid, 2);
	cr_assert_geq(repl_published_zxid(R), 2, "published once the result is in the ring");
	res = m.body;
	cr_assert_eq(res->err, ZK_OK);
	cr_assert_eq(res->nresults, 1);
	cr_assert_eq(res->results[0].type, ZK_OP_CREATE2);
	cr_assert_eq(res->results[0].stat.czxid, 2);
	cr_assert_eq(res->results[0].stat.data_length, 5);
	cr_assert_eq(res->results[0].path_len, 2);
	cr_assert_eq(memcmp(repl_result_paths(res) + res->results[0].path_off, "/a", 2), 0);
	repl_out_free(&m);

	/* The other worker gets the same events, and no result. */
	m = pop_out(1);
	cr_assert_eq(m.kind, REPL_OUT_EVENTS);
	cr_assert_eq(((struct repl_events *)m.body)->zxid, 2);
	repl_out_free(&m);
	assert_quiet(1, 50);
	cr_assert(node_exists("/a"));
}

Test(repl, failed_write_is_an_error_txn_with_a_zxid)
{
	struct conn_info a;
	int64_t z;

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	z = do_write(0, 1, 1, a.session, ZK_OP_DELETE, "/nothere", NULL, 0, ZK_NONODE);
	cr_assert_eq(z, 2, "ZooKeeper logs failed writes as error txns");
	z = do_write(0, 1, 2, a.session, ZK_OP_CREATE, "/x", NULL, 0, ZK_OK);
	cr_assert_eq(z, 3);
	z = do_write(0, 1, 3, a.session, ZK_OP_CREATE, "/x", NULL, 0, ZK_NODEEXISTS);
	cr_assert_eq(z, 4);
	cr_assert_eq(tree_last_zxid(repl_tree(R)), 4);
}

Test(repl, pipelined_writes_see_each_other)
{
	struct conn_info a;
	struct repl_out m;
	struct repl_result *res;
	char path[64];

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	/* Parent and child back to back, then a sequential child, unanswered in between. */
	push_write(0, 1, 1, a.session, ZK_OP_CREATE, "/p", NULL, 0);
	push_write(0, 1, 2, a.session, ZK_OP_CREATE, "/p/c", NULL, 0);
	push_write(0, 1, 3, a.session, ZK_OP_CREATE, "/p/s-", NULL,
		   ZK_CREATE_PERSISTENT_SEQUENTIAL);
	for (int32_t xid = 1; xid <= 3; xid++) {
		m = wait_result(0, xid, NULL);
		res = m.body;
		cr_assert_eq(res->err, ZK_OK, "xid %d", xid);
		if (xid == 3) {
			snprintf(path, sizeof(path), "%.*s", (int)res->results[0].path_len,
				 repl_result_paths(res) + res->results[0].path_off);
			cr_assert_str_eq(path, "/p/s-0000000001", "sequence after /p/c's create");
		}
		repl_out_free(&m);
	}
	cr_assert(node_exists("/p/c"));
	cr_assert(node_exists("/p/s-0000000001"));
}

Test(repl, multi_results_and_partial_failure)
{
	struct conn_info a;
	struct repl_out m;
	struct repl_result *res;
	struct op_spec ok_ops[] = {
	    {ZK_OP_CREATE, "/m", "1", 0, -1, 0},
	    {ZK_OP_CREATE, "/m/1", NULL, 0, -1, 0},
	    {ZK_OP_SETDATA, "/m", "2", 0, -1, 0},
	};
	struct op_spec bad_ops[] = {
	    {ZK_OP_CREATE, "/n", NULL, 0, -1, 0},
	    {ZK_OP_DELETE, "/missing", NULL, 0, -1, 0},
	    {ZK_OP_CREATE, "/o", NULL, 0, -1, 0},
	};

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	push_in(0, REPL_IN_WRITE, 1, 1, a.session, mk_write(ZK_OP_MULTI, true, ok_ops, 3));
	m = wait_result(0, 1, NULL);
	res = m.body;
	cr_assert_eq(res->err, ZK_OK);
	cr_assert_eq(res->nresults, 3);
	cr_assert_eq(res->results[2].type, ZK_OP_SETDATA);
	cr_assert_eq(res->results[2].stat.version, 1);
	cr_assert_eq(res->results[1].path_len, 4);
	repl_out_free(&m);

	push_in(0, REPL_IN_WRITE, 1, 2, a.session, mk_write(ZK_OP_MULTI, true, bad_ops, 3));
	m = wait_result(0, 2, NULL);
	res = m.body;
	cr_assert_eq(res->err, ZK_NONODE);
	cr_assert_eq(res->nresults, 3);
	cr_assert_eq(res->results[0].err, ZK_OK);
	cr_assert_eq(res->results[0].type, ZK_OP_ERROR);
	cr_assert_eq(res->results[1].err, ZK_NONODE);
	cr_assert_eq(res->results[2].err, ZK_RUNTIMEINCONSISTENCY);
	repl_out_free(&m);
	cr_assert_not(node_exists("/n"), "all or nothing");
}

/* The ACL carried by event k of an events message, or len 0. */
static struct jute_buf event_acl(const struct repl_events *ev, uint32_t k)
{
	return (struct jute_buf){(const uint8_t *)repl_events_paths(ev) + ev->ev[k].acl_off,
				 (int32_t)ev->ev[k].acl_len};
}

static void assert_world_acl(struct jute_buf acl, int32_t perms, const char *what)
{
	uint8_t want[64];
	size_t n = put_world_acl(want, perms);

	cr_assert_eq((size_t)acl.len, n, "%s: ACL of %d bytes", what, acl.len);
	cr_assert_eq(memcmp(acl.p, want, n), 0, "%s: ACL bytes", what);
}

Test(repl, node_deleted_events_carry_the_deleted_nodes_acl)
{
	struct conn_info a;
	struct repl_out m;
	struct repl_events *ev;
	struct op_spec ops[] = {
	    {ZK_OP_DELETE, "/x", NULL, 0, -1, 0, 0},
	    {ZK_OP_CREATE, "/x", NULL, 0, -1, 0, ZK_PERM_READ},
	    {ZK_OP_DELETE, "/x", NULL, 0, -1, 0, 0},
	};
	int deleted = 0;

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	do_write(0, 1, 1, a.session, ZK_OP_CREATE, "/x", NULL, 0, ZK_OK);
	push_in(0, REPL_IN_WRITE, 1, 2, a.session, mk_write(ZK_OP_MULTI, true, ops, 3));
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_EVENTS);
	ev = m.body;
	for (uint32_t k = 0; k < ev->n; k++) {
		if (ev->ev[k].type != ZK_EVENT_NODE_DELETED) {
			cr_assert_eq(ev->ev[k].acl_len, 0, "only NodeDeleted carries an ACL");
			continue;
		}
		/* The first /x had the tree's ACL, the second its create's. */
		assert_world_acl(event_acl(ev, k), deleted ? ZK_PERM_READ : ZK_PERM_ALL,
				 deleted ? "second /x" : "first /x");
		deleted++;
	}
	cr_assert_eq(deleted, 2);
	repl_out_free(&m);
	m = wait_result(0, 2, NULL);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_OK);
	repl_out_free(&m);

	/* Ephemerals deleted by closeSession too. */
	struct op_spec eph = {
	    ZK_OP_CREATE, "/e", NULL, ZK_CREATE_EPHEMERAL, -1, 0, ZK_PERM_READ | ZK_PERM_WRITE};
	push_in(0, REPL_IN_WRITE, 1, 3, a.session, mk_write(ZK_OP_CREATE, false, &eph, 1));
	m = wait_result(0, 3, NULL);
	repl_out_free(&m);
	push_in(0, REPL_IN_CLOSE, 1, 4, a.session, NULL);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_EVENTS);
	ev = m.body;
	cr_assert_eq(ev->ev[0].type, ZK_EVENT_NODE_DELETED);
	assert_world_acl(event_acl(ev, 0), ZK_PERM_READ | ZK_PERM_WRITE, "/e");
	repl_out_free(&m);
}

Test(repl, sync_is_answered_after_the_writes_before_it)
{
	struct conn_info a;
	struct repl_out m;

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	push_write(0, 1, 1, a.session, ZK_OP_CREATE, "/s1", NULL, 0);
	push_in(0, REPL_IN_SYNC, 1, 2, a.session, NULL);
	push_write(0, 1, 3, a.session, ZK_OP_CREATE, "/s2", NULL, 0);
	m = wait_result(0, 1, NULL);
	cr_assert_eq(m.zxid, 2);
	repl_out_free(&m);
	m = wait_result(0, 2, NULL);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_OK);
	cr_assert_eq(((struct repl_result *)m.body)->nresults, 0);
	cr_assert_eq(m.zxid, 2, "sync: the last applied zxid when answered");
	repl_out_free(&m);
	m = wait_result(0, 3, NULL);
	cr_assert_eq(m.zxid, 3);
	repl_out_free(&m);
}

Test(repl, close_session_deletes_ephemerals_then_answers)
{
	struct conn_info a;
	struct repl_out m;
	uint32_t events = 0;

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	do_write(0, 1, 1, a.session, ZK_OP_CREATE, "/e1", NULL, ZK_CREATE_EPHEMERAL, ZK_OK);
	push_write(0, 1, 2, a.session, ZK_OP_CREATE, "/e2", NULL, ZK_CREATE_EPHEMERAL);
	push_in(0, REPL_IN_CLOSE, 1, 3, a.session, NULL); /* pipelined behind /e2 */
	m = wait_result(0, 2, &events);
	repl_out_free(&m);
	events = 0;
	m = wait_result(0, 3, &events);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_OK);
	cr_assert_eq(events, 1, "one event batch: both ephemerals");
	repl_out_free(&m);
	cr_assert_not(node_exists("/e1"));
	cr_assert_not(node_exists("/e2"), "a pending ephemeral goes too");
	cr_assert_eq(tree_session_timeout(repl_tree(R), a.session), -1);

	/* The session is gone: its requests are expired, a close is a no-op. */
	push_write(0, 1, 4, a.session, ZK_OP_CREATE, "/late", NULL, 0);
	m = wait_result(0, 4, NULL);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_SESSIONEXPIRED);
	repl_out_free(&m);
	push_in(0, REPL_IN_CLOSE, 1, 5, a.session, NULL);
	m = wait_result(0, 5, NULL);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_OK);
	repl_out_free(&m);
	cr_assert_not(node_exists("/late"));
}

Test(repl, idle_session_expires_and_its_ephemerals_go)
{
	static const char *const ex[] = {"tickTime=20", NULL};
	struct conn_info a, b;
	struct repl_out m;
	bool saw_events = false;
	uint64_t t0;

	open_core(1, ex);
	t0 = clock_mono_ns();
	a = connect_new(0, 1, 100);
	b = connect_new(0, 2, 400);
	do_write(0, 1, 1, a.session, ZK_OP_CREATE, "/eph", NULL, ZK_CREATE_EPHEMERAL, ZK_OK);
	for (;;) {
		m = pop_out(0);
		if (m.kind == REPL_OUT_EVENTS) {
			saw_events = true;
			repl_out_free(&m);
			continue;
		}
		break;
	}
	cr_assert_eq(m.kind, REPL_OUT_EXPIRE);
	cr_assert_eq(m.session, a.session);
	cr_assert_eq(m.conn, 1);
	cr_assert(saw_events, "the deletion's events come before the connection is dropped");
	cr_assert_geq((clock_mono_ns() - t0) / 1000000u, 100, "not before its timeout");
	cr_assert_not(node_exists("/eph"));
	cr_assert_eq(tree_session_timeout(repl_tree(R), a.session), -1);
	if ((clock_mono_ns() - t0) / 1000000u < 350) /* unless this thread was held up */
		cr_assert_eq(tree_session_timeout(repl_tree(R), b.session), 400,
			     "b is not due yet");
}

Test(repl, touches_keep_a_session_alive)
{
	static const char *const ex[] = {"tickTime=20", NULL};
	struct conn_info a;
	struct repl_out m;
	uint64_t end;

	open_core(1, ex);
	a = connect_new(0, 1, 400);
	end = clock_mono_ns() + 1200000000u; /* three timeouts */
	while (clock_mono_ns() < end) {
		push_in(0, REPL_IN_TOUCH, 1, 0, a.session, NULL);
		if (pop_out_wait(0, &m, 30))
			cr_assert_fail("unexpected message %u: touched sessions do not expire",
				       m.kind);
	}
	cr_assert_eq(tree_session_timeout(repl_tree(R), a.session), 400);
	/* Then silence: it expires. */
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_EXPIRE);
}

Test(repl, gone_connection_keeps_the_session_until_expiry)
{
	static const char *const ex[] = {"tickTime=20", NULL};
	struct conn_info a;
	struct repl_out m;

	open_core(1, ex);
	a = connect_new(0, 1, 200);
	push_in(0, REPL_IN_GONE, 1, 0, a.session, NULL);
	m = connect_raw(0, 2, a.session, 200, a.passwd, 16, 0);
	cr_assert_eq(m.kind, REPL_OUT_CONNECTED, "no EXPIRE for a connection that is gone");
	cr_assert_eq(((struct repl_connected *)m.body)->err, ZK_OK);
	repl_out_free(&m);
	push_in(0, REPL_IN_GONE, 2, 0, a.session, NULL);
	/* Expiry closes the session; no connection holds it: nothing is sent. */
	for (uint64_t end = clock_mono_ns() + 3000000000u;
	     tree_session_timeout(repl_tree(R), a.session) != -1 && clock_mono_ns() < end;)
		assert_quiet(0, 20);
	cr_assert_eq(tree_session_timeout(repl_tree(R), a.session), -1);
}

/* dump: the tracker's buckets come back on the asking worker's ring. */
Test(repl, session_dump_answers_on_the_asking_workers_ring)
{
	struct conn_info a, b;
	struct repl_sessions *d;
	struct repl_out m;
	int64_t wall = clock_wall_ms(), mono = (int64_t)(clock_mono_ns() / 1000000u);
	uint32_t seen_a = 0, seen_b = 0, total = 0;

	open_core(2, NULL);
	a = connect_new(0, 1, 2000);
	b = connect_new(1, 1, 4000);
	push_in(1, REPL_IN_SESSIONS, 7, 3, 0, NULL);
	m = pop_out(1);
	cr_assert_eq(m.kind, REPL_OUT_SESSIONS);
	cr_assert_eq(m.conn, 7);
	cr_assert_eq(m.xid, 3);
	d = m.body;
	cr_assert_not_null(d);
	cr_assert_eq(d->nsessions, 2);
	cr_assert(d->wall_ms >= wall && d->wall_ms < wall + 10000);
	cr_assert(d->now_ms >= mono && d->now_ms < mono + 10000);
	for (uint32_t i = 0; i < d->nsets; i++) {
		int64_t in = d->sets[i].expiry_ms - d->now_ms;

		cr_assert_eq(d->sets[i].expiry_ms % 100, 0, "tickTime buckets");
		if (i)
			cr_assert_gt(d->sets[i].expiry_ms, d->sets[i - 1].expiry_ms);
		for (uint32_t k = 0; k < d->sets[i].n; k++) {
			int64_t id = repl_sessions_ids(d)[d->sets[i].first + k];

			total++;
			if (id == a.session) {
				seen_a++;
				cr_assert(in > 0 && in <= 2100, "a due in %lld ms", (long long)in);
			} else if (id == b.session) {
				seen_b++;
				cr_assert(in > 2000 && in <= 4100, "b due in %lld ms",
					  (long long)in);
			}
		}
	}
	cr_assert_eq(seen_a, 1);
	cr_assert_eq(seen_b, 1);
	cr_assert_eq(total, 2);
	repl_out_free(&m);
	assert_quiet(0, 50);
}

/* ---- Slow workers ---- */

Test(repl, a_full_out_ring_loses_nothing_and_holds_publication)
{
	struct conn_info a;
	struct repl_out m;
	const int N = 5000; /* more events than worker 1's ring holds */
	int64_t last = 0;
	int got = 0;

	open_core(2, NULL);
	a = connect_new(0, 1, 2000);
	/* In chunks, so that worker 0's own rings never fill. */
	for (int from = 0; from < N; from += 512) {
		int to = from + 512 < N ? from + 512 : N;

		for (int i = from; i < to; i++) {
			char path[32];

			snprintf(path, sizeof(path), "/n%d", i);
			push_write(0, 1, i + 1, a.session, ZK_OP_CREATE, path, NULL, 0);
		}
		for (int i = from; i < to; i++) {
			m = wait_result(0, i + 1, NULL);
			last = m.zxid;
			repl_out_free(&m);
		}
	}
	cr_assert_eq(last, N + 1);
	cr_assert_lt(repl_published_zxid(R), last, "worker 1's events are not all in its ring");
	while (pop_out_wait(1, &m, 2000)) {
		cr_assert_eq(m.kind, REPL_OUT_EVENTS);
		cr_assert_eq(((struct repl_events *)m.body)->zxid, 2 + got, "in zxid order");
		got++;
		repl_out_free(&m);
		if (got == N)
			break;
	}
	cr_assert_eq(got, N);
	for (uint64_t end = clock_mono_ns() + 5000000000u;
	     repl_published_zxid(R) < last && clock_mono_ns() < end;)
		assert_quiet(1, 5);
	cr_assert_eq(repl_published_zxid(R), last);
}

Test(repl, large_writes_beyond_a_log_batch_are_held_back_not_lost)
{
	static const char *const ex[] = {"forceSync=yes", NULL};
	struct conn_info a;
	char *big = malloc(900001);
	const int N = 24; /* 21 MiB: the log pushes back (8 MiB batches) */

	memset(big, 'b', 900000);
	big[900000] = '\0';
	open_core(1, ex);
	a = connect_new(0, 1, 2000);
	for (int i = 0; i < N; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/big%d", i);
		push_write(0, 1, i + 1, a.session, ZK_OP_CREATE, path, big, 0);
	}
	for (int i = 0; i < N; i++) {
		struct repl_out m = wait_result(0, i + 1, NULL);

		cr_assert_eq(((struct repl_result *)m.body)->err, ZK_OK);
		cr_assert_eq(m.zxid, i + 2);
		repl_out_free(&m);
	}
	free(big);
	cr_assert(node_exists("/big23"));
}

/* A worker thread of its own: pushes creates and checks what comes back. */
struct wthread {
	uint32_t w;
	int64_t session;
	int n;
	int64_t total_events; /* zxid batches expected from every worker */
	int results, events, bad;
	int64_t last_event_zxid;
	char why[128];
};

static void *worker_thread(void *arg)
{
	struct wthread *t = arg;
	int sent = 0;

	urcu_qsbr_register_thread();
	while (t->results < t->n || t->events < t->total_events) {
		struct repl_out m;

		while (sent < t->n && sent - t->results < 256) {
			char path[32];
			struct op_spec op = {ZK_OP_CREATE, path, NULL, 0, -1, 0};
			struct repl_in in;

			snprintf(path, sizeof(path), "/w%u-%d", t->w, sent);
			in = (struct repl_in){REPL_IN_WRITE, 1, sent + 1, t->session,
					      mk_write(ZK_OP_CREATE, false, &op, 1)};
			if (!ring_push(repl_in_ring(R, t->w), &in)) {
				free(in.body);
				break;
			}
			sent++;
			repl_kick(R);
		}
		if (!pop_out_wait(t->w, &m, 10000)) {
			snprintf(t->why, sizeof(t->why), "worker %u: nothing for 10 s", t->w);
			t->bad++;
			break;
		}
		if (m.kind == REPL_OUT_RESULT) {
			if (m.xid != t->results + 1 ||
			    ((struct repl_result *)m.body)->err != ZK_OK) {
				snprintf(t->why, sizeof(t->why), "worker %u: result xid %d", t->w,
					 m.xid);
				t->bad++;
			}
			if (m.zxid > t->last_event_zxid) {
				snprintf(t->why, sizeof(t->why),
					 "worker %u: result before its events", t->w);
				t->bad++;
			}
			t->results++;
		} else if (m.kind == REPL_OUT_EVENTS) {
			int64_t z = ((struct repl_events *)m.body)->zxid;

			if (z <= t->last_event_zxid) {
				snprintf(t->why, sizeof(t->why), "worker %u: events out of order",
					 t->w);
				t->bad++;
			}
			t->last_event_zxid = z;
			t->events++;
		}
		repl_out_free(&m);
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

Test(repl, workers_in_parallel_see_every_event_in_zxid_order)
{
	struct wthread t[3];
	pthread_t th[3];
	const int N = 3000;

	open_core(3, NULL);
	for (uint32_t i = 0; i < 3; i++) {
		struct conn_info c = connect_new(i, 1, 2000);

		t[i] = (struct wthread){.w = i, .session = c.session, .n = N};
	}
	/* Each worker saw its own createSession: no events.  Then 3 x N creates. */
	for (uint32_t i = 0; i < 3; i++) {
		t[i].total_events = 3 * N;
		t[i].last_event_zxid = 3;
	}
	urcu_qsbr_thread_offline();
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, worker_thread, &t[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	urcu_qsbr_thread_online();
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(t[i].bad, 0, "%s", t[i].why);
		cr_assert_eq(t[i].results, N);
		cr_assert_eq(t[i].events, 3 * N);
	}
	cr_assert_eq(repl_published_zxid(R), 3 + 3 * N);
}

/* ---- Recovery ---- */

/*
 * Creates /k<from>.. /k<from+n-1> (every third also gets a setData), all
 * pipelined, and waits for every answer.  xids: 2i+1 and 2i+2.
 */
static void write_many(int64_t session, int from, int n)
{
	int expect = 0, got = 0;

	for (int i = from; i < from + n; i++) {
		char path[32], data[32];

		snprintf(path, sizeof(path), "/k%d", i);
		snprintf(data, sizeof(data), "v%d", i);
		push_write(0, 1, 2 * i + 1, session, ZK_OP_CREATE, path, data, 0);
		expect++;
		if (i % 3 == 0) {
			push_write(0, 1, 2 * i + 2, session, ZK_OP_SETDATA, path, "changed", 0);
			expect++;
		}
	}
	while (got < expect) {
		struct repl_out m = pop_out(0);

		if (m.kind == REPL_OUT_RESULT) {
			cr_assert_eq(((struct repl_result *)m.body)->err, ZK_OK, "xid %d", m.xid);
			got++;
		}
		repl_out_free(&m);
	}
}

struct snap_of_tree {
	uint64_t digest;
	int64_t zxid;
	uint64_t nodes;
	struct zk_stat st;
};

static struct snap_of_tree tree_facts(const char *path)
{
	struct snap_of_tree s = {0};
	const struct tree_node *n;

	s.digest = tree_digest(repl_tree(R));
	s.zxid = tree_last_zxid(repl_tree(R));
	s.nodes = tree_node_count(repl_tree(R));
	n = tree_lookup(repl_tree(R), path, strlen(path));
	cr_assert_not_null(n, "%s", path);
	tree_node_read(n, &s.st, NULL);
	return s;
}

static void assert_same(struct snap_of_tree a, struct snap_of_tree b)
{
	cr_assert_eq(a.digest, b.digest, "digest %" PRIx64 " vs %" PRIx64, a.digest, b.digest);
	cr_assert_eq(a.zxid, b.zxid);
	cr_assert_eq(a.nodes, b.nodes);
	cr_assert_eq(memcmp(&a.st, &b.st, sizeof(a.st)), 0);
}

Test(repl, sync_summaries_count_every_txn_once_and_reset)
{
	static const char *const extra[] = {"forceSync=yes", "maxSessionTimeout=60000", NULL};
	struct repl_summary bs, fs;
	struct conn_info a;
	int64_t z;

	open_core(1, extra);
	a = connect_new(0, 1, 60000);
	/* One write at a time: each (createSession too) is a batch of its own. */
	do_write(0, 1, 1, a.session, ZK_OP_CREATE, "/s1", NULL, 0, ZK_OK);
	do_write(0, 1, 2, a.session, ZK_OP_CREATE, "/s2", NULL, 0, ZK_OK);
	do_write(0, 1, 3, a.session, ZK_OP_DELETE, "/nothere", NULL, 0, ZK_NONODE);
	repl_sync_summaries(R, &bs, &fs);
	cr_assert_eq(bs.cnt, 4u, "batches %" PRIu64, bs.cnt);
	cr_assert_eq(bs.sum, 4u);
	cr_assert_eq(bs.min, 1u);
	cr_assert_eq(bs.max, 1u);
	cr_assert_eq(fs.cnt, 4u, "forceSync: one fdatasync per batch");
	cr_assert_leq(fs.min, fs.max);

	/* Pipelined writes share batches; each txn is in exactly one. */
	write_many(a.session, 10, 60);
	z = tree_last_zxid(repl_tree(R));
	cr_assert_eq(z, 4 + 80);
	repl_sync_summaries(R, &bs, &fs);
	cr_assert_eq(bs.sum, (uint64_t)z, "sum %" PRIu64, bs.sum);
	cr_assert_geq(bs.cnt, 5u);
	cr_assert_leq(bs.cnt, (uint64_t)z);
	cr_assert_eq(bs.min, 1u);
	cr_assert_eq(fs.cnt, bs.cnt);

	/* srst: zeros at once; the writer starts over with its next batch. */
	repl_reset_stats(R);
	repl_sync_summaries(R, &bs, &fs);
	cr_assert_eq(bs.cnt + bs.sum + bs.min + bs.max, 0u);
	cr_assert_eq(fs.cnt + fs.sum + fs.min + fs.max, 0u);
	do_write(0, 1, 500, a.session, ZK_OP_CREATE, "/s3", NULL, 0, ZK_OK);
	repl_sync_summaries(R, &bs, &fs);
	cr_assert_eq(bs.cnt, 1u);
	cr_assert_eq(bs.sum, 1u);
	cr_assert_eq(bs.max, 1u);
	cr_assert_eq(fs.cnt, 1u);
}

Test(repl, clean_restart_recovers_the_same_tree_and_sessions)
{
	struct conn_info a;
	struct snap_of_tree before, after;
	struct repl_out m;

	open_core(1, NULL);
	a = connect_new(0, 1, 2000);
	write_many(a.session, 0, 200);
	do_write(0, 1, 9999, a.session, ZK_OP_CREATE, "/eph", NULL, ZK_CREATE_EPHEMERAL, ZK_OK);
	before = tree_facts("/k150");
	stop_core();

	cr_assert_eq(open_core_rc(1), 0);
	after = tree_facts("/k150");
	assert_same(before, after);
	cr_assert(node_exists("/eph"), "the session survived the restart");
	m = connect_raw(0, 5, a.session, 2000, a.passwd, 16, before.zxid);
	cr_assert_eq(((struct repl_connected *)m.body)->err, ZK_OK, "and can be resumed");
	repl_out_free(&m);
	/* New writes continue the zxid sequence. */
	cr_assert_eq(do_write(0, 5, 1, a.session, ZK_OP_CREATE, "/after", NULL, 0, ZK_OK),
		     before.zxid + 1);
}

static void copy_tree(const char *from, const char *to)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", from, to);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(repl, crash_image_taken_after_acknowledgement_holds_every_acknowledged_write)
{
	struct conn_info a;
	struct snap_of_tree acked;
	struct repl_out m;
	char cdata[700], clog[700];

	open_core(1, NULL);
	a = connect_new(0, 1, 2000);
	write_many(a.session, 0, 300);
	acked = tree_facts("/k299");
	/* The server keeps running (and may be writing) while we copy: a crash image. */
	snprintf(cdata, sizeof(cdata), "%s/cdata", tdir);
	snprintf(clog, sizeof(clog), "%s/clog", tdir);
	push_write(0, 1, 1, a.session, ZK_OP_CREATE, "/inflight", NULL, 0);
	copy_tree(log_dir, clog);
	copy_tree(data_dir, cdata);
	m = wait_result(0, 1, NULL);
	repl_out_free(&m);
	stop_core();

	make_cfg(cdata, clog, NULL);
	cr_assert_eq(open_core_rc(1), 0);
	cr_assert_geq(tree_last_zxid(repl_tree(R)), acked.zxid);
	for (int i = 0; i < 300; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/k%d", i);
		cr_assert(node_exists(path), "%s was acknowledged", path);
	}
	if (tree_last_zxid(repl_tree(R)) == acked.zxid)
		assert_same(acked, tree_facts("/k299"));
}

Test(repl, snapshots_are_taken_every_snapcount_and_restart_uses_them)
{
	static const char *const ex[] = {"snapCount=20", NULL};
	struct conn_info a;
	struct snap_of_tree before;
	char snapdir[700];
	int n = 0;

	open_core(1, ex);
	a = connect_new(0, 1, 2000);
	write_many(a.session, 0, 60); /* 80 txns: at least 2 snapshots */
	snprintf(snapdir, sizeof(snapdir), "%s/%s", data_dir, SNAPDIR_SUBDIR);
	/* Snapshots asked for while one is running are skipped: write on until two exist. */
	for (int round = 0; round < 100 && (n = count_files(snapdir, "snapshot.")) < 2; round++)
		write_many(a.session, 100 + round * 20, 20);
	cr_assert_geq(n, 2, "snapshots written");
	write_many(a.session, 5000, 30);
	before = tree_facts("/k5010");
	stop_core();
	cr_assert_eq(open_core_rc(1), 0);
	assert_same(before, tree_facts("/k5010"));
}

Test(repl, autopurge_keeps_snap_retain_count_and_the_logs_they_need)
{
	static const char *const ex1[] = {"snapCount=4", NULL};
	static const char *const ex2[] = {"snapCount=4", "autopurge.purgeInterval=1",
					  "autopurge.snapRetainCount=3", NULL};
	struct conn_info a;
	struct snap_of_tree before;
	char snapdir[700], ldir[700];
	int n = 0, logs_before;

	open_core(1, ex1);
	a = connect_new(0, 1, 2000);
	snprintf(snapdir, sizeof(snapdir), "%s/%s", data_dir, SNAPDIR_SUBDIR);
	snprintf(ldir, sizeof(ldir), "%s/cheetah-1", log_dir);
	/* Snapshots asked for while one runs are skipped: rounds enough for a loaded machine. */
	for (int round = 0; round < 400 && n < 6; round++) {
		write_many(a.session, round * 4, 4);
		n = count_files(snapdir, "snapshot.");
	}
	cr_assert_geq(n, 6, "several snapshots to purge");
	before = tree_facts("/k1");
	stop_core();
	logs_before = count_files(ldir, "log.");

	make_cfg(data_dir, log_dir, ex2);
	cr_assert_eq(open_core_rc(1), 0);
	/* Snapshots go first, then the log files: wait for both. */
	for (uint64_t end = clock_mono_ns() + 10000000000u; clock_mono_ns() < end;) {
		n = count_files(snapdir, "snapshot.");
		if (n == 3 && count_files(ldir, "log.") < logs_before)
			break;
		assert_quiet(0, 20);
	}
	cr_assert_eq(n, 3, "snapRetainCount snapshots kept");
	cr_assert_lt(count_files(ldir, "log."), logs_before, "older log files purged");
	stop_core();
	cr_assert_eq(open_core_rc(1), 0);
	assert_same(before, tree_facts("/k1"));
}

Test(repl, refuses_a_log_without_its_beginning)
{
	struct conn_info a;
	char path[2048];

	open_core(1, NULL);
	a = connect_new(0, 1, 2000);
	write_many(a.session, 0, 10);
	stop_core();
	/* No snapshot was taken (no replay at the first start): drop the only one left. */
	snprintf(path, sizeof(path), "rm -f %s/%s/snapshot.*", data_dir, SNAPDIR_SUBDIR);
	cr_assert_eq(system(path), 0);
	cr_assert_eq(open_core_rc(1), 0, "a log from zxid 1 rebuilds everything");
	cr_assert(node_exists("/k9"));
	/* After the start-up snapshot the log rolls: these go to a second file. */
	write_many(a.session, 10, 5);
	stop_core();
	/* Remove the snapshots and the first log file: a purged beginning. */
	snprintf(path, sizeof(path), "rm -f %s/%s/snapshot.* %s/cheetah-1/log.0000000000000001",
		 data_dir, SNAPDIR_SUBDIR, log_dir);
	cr_assert_eq(system(path), 0);
	cr_assert_neq(open_core_rc(1), 0, "the log starts after 1 and there is no snapshot");
	R = NULL;
}

/* ---- Containers and TTL ---- */

Test(repl, empty_containers_and_expired_ttl_nodes_are_deleted)
{
	static const char *const ex[] = {"znode.container.checkIntervalMs=30",
					 "extendedTypesEnabled=true", NULL};
	struct conn_info a;
	struct op_spec ttl = {
	    ZK_OP_CREATETTL, "/ttl", NULL, ZK_CREATE_PERSISTENT_WITH_TTL, -1, 1000};
	struct repl_out m;

	open_core(1, ex);
	a = connect_new(0, 1, 2000);
	do_write(0, 1, 1, a.session, ZK_OP_CREATECONTAINER, "/c", NULL, ZK_CREATE_CONTAINER, ZK_OK);
	do_write(0, 1, 2, a.session, ZK_OP_CREATE, "/c/x", NULL, 0, ZK_OK);
	do_write(0, 1, 3, a.session, ZK_OP_CREATECONTAINER, "/never", NULL, ZK_CREATE_CONTAINER,
		 ZK_OK);
	push_in(0, REPL_IN_WRITE, 1, 4, a.session, mk_write(ZK_OP_CREATETTL, false, &ttl, 1));
	m = wait_result(0, 4, NULL);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_OK);
	repl_out_free(&m);
	assert_quiet(0, 100); /* three checks */
	cr_assert(node_exists("/c"), "a container with a child stays");
	cr_assert(node_exists("/ttl"), "a TTL node stays for its TTL");
	do_write(0, 1, 5, a.session, ZK_OP_DELETE, "/c/x", NULL, 0, ZK_OK);
	for (uint64_t end = clock_mono_ns() + 5000000000u;
	     (node_exists("/c") || node_exists("/ttl")) && clock_mono_ns() < end;)
		drain(0, 10);
	cr_assert_not(node_exists("/c"), "emptied container deleted");
	cr_assert_not(node_exists("/ttl"), "TTL elapsed");
	cr_assert(node_exists("/never"), "never-used containers stay (maxNeverUsedIntervalMs=0)");
}

/* ---- Disk errors ---- */

Test(repl, disk_error_stops_acknowledging_and_drops_connections)
{
	static const char *const ex[] = {"forceSync=yes", NULL};
	struct conn_info a;
	struct repl_out m;
	bool dropped = false;

	struct repl_zk_stats zk;

	open_core(1, ex);
	a = connect_new(0, 1, 2000);
	do_write(0, 1, 1, a.session, ZK_OP_CREATE, "/ok", NULL, 0, ZK_OK);
	repl_zk_stats(R, &zk);
	cr_assert_eq(zk.unrecoverable, 0);
	__atomic_store_n(&sync_fail_after, __atomic_load_n(&sync_calls, __ATOMIC_SEQ_CST) + 1,
			 __ATOMIC_SEQ_CST);
	push_write(0, 1, 2, a.session, ZK_OP_CREATE, "/lost", NULL, 0);
	while (pop_out_wait(0, &m, 2000)) {
		cr_assert_neq(m.kind, REPL_OUT_RESULT, "nothing unsynced is acknowledged");
		if (m.kind == REPL_OUT_EXPIRE && m.conn == 1)
			dropped = true;
		repl_out_free(&m);
		if (dropped)
			break;
	}
	cr_assert(dropped, "connections are dropped");
	cr_assert_eq(repl_error(R), -EIO);
	repl_zk_stats(R, &zk);
	cr_assert_eq(zk.unrecoverable, 1, "/metrics' unrecoverable_error_count");
	cr_assert_not(node_exists("/lost"));
	/* Later input is dropped unanswered; the dump word still gets the tracker. */
	push_write(0, 1, 3, a.session, ZK_OP_CREATE, "/later", NULL, 0);
	assert_quiet(0, 100);
	push_in(0, REPL_IN_SESSIONS, 9, 0, 0, NULL);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_SESSIONS);
	cr_assert_eq(m.conn, 9);
	cr_assert_not_null(m.body);
	repl_out_free(&m);
	stop_core();
	__atomic_store_n(&sync_fail_after, 0, __ATOMIC_SEQ_CST);
	/* After a restart the acknowledged write is there. */
	make_cfg(data_dir, log_dir, NULL);
	cr_assert_eq(open_core_rc(1), 0);
	cr_assert(node_exists("/ok"));
}

/* ---- The idle core: polling only with a CPU of its own (issue 13) ---- */

Test(repl, idle_core_polls_only_with_a_cpu_of_its_own)
{
	/* taskset -c 1 with one worker (perf/compare's pinning): sleeps at once */
	cr_assert_eq(core_idle_spins(false, -1, 1, 1), 0);
	cr_assert_eq(core_idle_spins(false, -1, 2, 2), 0);
	/* a CPU beyond the workers', or one configured for it: polls */
	cr_assert_gt(core_idle_spins(false, -1, 2, 1), 0);
	cr_assert_gt(core_idle_spins(false, 3, 1, 4), 0);
	/* an ensemble member always sleeps at once (ens_cost.py's measurement) */
	cr_assert_eq(core_idle_spins(true, -1, 8, 1), 0);
	cr_assert_eq(core_idle_spins(true, 3, 8, 1), 0);
}

/*
 * A core that shares its only CPU with the worker sleeps whenever it is
 * idle, so every write after an idle spell arrives to a sleeping core:
 * the worker's kick must wake it, and FIFO and zxid order must hold as
 * with a polling core.  The stage counters prove which way it idled.
 */
Test(repl, core_sharing_its_cpu_sleeps_when_idle_and_keeps_order)
{
	cpu_set_t one, old;
	struct conn_info a;
	struct repl_stages st;
	int64_t last = 0;
	int32_t xid = 1;

	cr_assert_eq(sched_getaffinity(0, sizeof(old), &old), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	/* the core thread inherits this thread's single CPU */
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	open_core(1, NULL);
	a = connect_new(0, 1, 30000);
	for (int round = 0; round < 5; round++) {
		int32_t first = xid;
		char path[32];

		for (int i = 0; i < 20; i++, xid++) {
			snprintf(path, sizeof(path), "/r%d-%d", round, i);
			push_write(0, 1, xid, a.session, ZK_OP_CREATE, path, "x", 0);
		}
		for (int32_t x = first; x < xid; x++) {
			struct repl_out m = wait_result(0, x, NULL);
			struct repl_result *res = m.body;

			cr_assert_eq(res->err, ZK_OK, "xid %d", x);
			cr_assert_gt(m.zxid, last, "xid %d: zxid 0x%" PRIx64 " after 0x%" PRIx64, x,
				     (uint64_t)m.zxid, (uint64_t)last);
			last = m.zxid;
			repl_out_free(&m);
		}
		assert_quiet(0, 20); /* idle: the core goes to sleep */
	}
	repl_stage_stats(R, &st);
	cr_assert_eq(st.yields, 0, "a core without a CPU of its own polled %" PRIu64 " times",
		     st.yields);
	cr_assert_gt(st.sleeps, 0);
	cr_assert_eq(st.txns, 101, "the createSession and 100 creates: %" PRIu64, st.txns);
	cr_assert_geq(st.batches, 1);
	stop_core();
	cr_assert_eq(sched_setaffinity(0, sizeof(old), &old), 0);
}

/* ---- Misc ---- */

Test(repl, write_new_lays_out_storage_reqs_and_auth_ids)
{
	struct repl_write *w = repl_write_new(13, 3, 2);

	cr_assert_not_null(w);
	cr_assert_eq(w->storage_len, 13);
	cr_assert_eq(w->nreqs, 3);
	cr_assert_eq(w->nauth, 2);
	cr_assert_geq((uint8_t *)repl_write_reqs(w), w->storage + 13);
	cr_assert_eq(w->reqs_off % 8, 0);
	cr_assert_geq((uint8_t *)repl_write_ids(w), (uint8_t *)(repl_write_reqs(w) + 3));
	cr_assert_eq(w->size, w->ids_off + 2 * sizeof(struct repl_write_id));
	cr_assert_eq(repl_write_check(w, w->size), 0);
	free(w);
	w = repl_write_new(5, 0, 0); /* an empty multi */
	cr_assert_not_null(w);
	cr_assert_eq(repl_write_check(w, w->size), 0);
	free(w);
	test_assert_no_leaks();
}

/* A write is its bytes: copied elsewhere it gives the same views, relative to the copy. */
Test(repl, write_is_position_independent_and_checked_as_bytes)
{
	struct op_spec ops[2] = {
	    {ZK_OP_CREATE, "/x", "data", 0, -1, 0, 0},
	    {ZK_OP_SETDATA, "/y", NULL, 0, 3, 0, 0},
	};
	struct repl_write *w = mk_write(ZK_OP_MULTI, true, ops, 2), *c;
	struct tree_req reqs[2];
	struct tree_auth auth;
	uint8_t *bytes;

	bytes = malloc(w->size + 8);
	cr_assert_not_null(bytes);
	c = (struct repl_write *)(bytes + 8);
	memcpy(c, w, w->size);
	memset(w, 0xee, w->size); /* nothing may point into the original */
	free(w);
	cr_assert_eq(repl_write_check(c, c->size), 0);
	repl_write_views(c, reqs, NULL, &auth);
	cr_assert_eq(auth.n, 0);
	cr_assert_eq(reqs[0].type, ZK_OP_CREATE);
	cr_assert(jute_buf_eq(reqs[0].path, "/x") && jute_buf_eq(reqs[0].data, "data"));
	cr_assert(reqs[0].path.p >= c->storage && reqs[0].path.p < c->storage + c->storage_len);
	cr_assert_eq(reqs[0].acl.count, 1);
	cr_assert(jute_buf_eq(reqs[1].path, "/y"));
	cr_assert_eq(reqs[1].data.len, -1);
	cr_assert_null(reqs[1].data.p);
	cr_assert_eq(reqs[1].version, 3);

	/* Foreign bytes: every length and offset is checked. */
	cr_assert_eq(repl_write_check(c, c->size - 1), -EBADMSG);
	cr_assert_eq(repl_write_check(c, 4), -EBADMSG);
	repl_write_reqs(c)[1].path.off = c->storage_len; /* len 2 past the end */
	cr_assert_eq(repl_write_check(c, c->size), -EBADMSG);
	repl_write_reqs(c)[1].path = (struct repl_span){0, -2};
	cr_assert_eq(repl_write_check(c, c->size), -EBADMSG);
	repl_write_reqs(c)[1].path = (struct repl_span){0, 2};
	cr_assert_eq(repl_write_check(c, c->size), 0);
	c->nreqs = 1000000;
	cr_assert_eq(repl_write_check(c, c->size), -EBADMSG);
	c->nreqs = 2;
	c->storage_len = UINT32_MAX;
	cr_assert_eq(repl_write_check(c, c->size), -EBADMSG);
	free(bytes);
	test_assert_no_leaks();
}

/* ---- Shutdown: the dataplane closes its wakeup eventfd ---- */

struct unset_arg {
	uint32_t w;
};

static void *unset_thread(void *arg)
{
	struct unset_arg *a = arg;

	repl_set_worker_wakeup(R, a->w, -1);
	__atomic_store_n(&unset_returned, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

Test(repl, unsetting_a_wakeup_fd_waits_for_the_cores_write_into_it)
{
	struct conn_info ci;
	struct unset_arg a = {0};
	pthread_t t;
	uint64_t deadline;

	open_core(1, NULL);
	ci = connect_new(0, 1, 4000);
	__atomic_store_n(&hold_fd, wake_fd[0], __ATOMIC_SEQ_CST);
	push_write(0, 1, 1, ci.session, ZK_OP_CREATE, "/a", "x", 0);
	deadline = clock_mono_ns() + 10000000000u;
	while (!__atomic_load_n(&hold_entered, __ATOMIC_SEQ_CST))
		cr_assert_lt(clock_mono_ns(), deadline, "the core never woke the worker");
	/* The core has loaded the fd and is about to write(2) into it. */
	cr_assert_eq(pthread_create(&t, NULL, unset_thread, &a), 0);
	/* Had it returned, the dataplane would close the fd now: give it the chance. */
	deadline = clock_mono_ns() + 300000000u;
	while (!__atomic_load_n(&unset_returned, __ATOMIC_SEQ_CST) && clock_mono_ns() < deadline)
		sched_yield();
	__atomic_store_n(&hold_release, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	cr_assert_eq(__atomic_load_n(&hold_violation, __ATOMIC_SEQ_CST), 0,
		     "repl_set_worker_wakeup(-1) returned while the core was writing the old fd");
	cr_assert_eq(__atomic_load_n(&unset_returned, __ATOMIC_SEQ_CST), 1);
	drain(0, 50);
}

/* ---- A full disk: writes refused, reads and sessions go on ---- */

Test(repl, full_disk_refuses_writes_keeps_the_rest_and_recovers_when_room_returns)
{
	static char big[200 << 10]; /* more than the 64 KiB preallocated */
	struct conn_info ci;
	struct repl_out m;
	int64_t za, zb;

	memset(big, 'x', sizeof(big) - 1);
	open_core(1, NULL);
	ci = connect_new(0, 1, 4000);
	za = do_write(0, 1, 1, ci.session, ZK_OP_CREATE, "/a", "1", 0, ZK_OK);
	__atomic_store_n(&fallocate_full, 1, __ATOMIC_SEQ_CST);
	/*
	 * Two pipelined writes, both larger than the room left: the second
	 * is refused either in the dropped suffix behind the first (it was
	 * prepped before the failure came back) or on its own (the core read
	 * it after log_full), whichever the scheduler makes it; a small
	 * second write would be written in the second case.
	 */
	push_write(0, 1, 2, ci.session, ZK_OP_CREATE, "/big", big, 0);
	push_write(0, 1, 3, ci.session, ZK_OP_CREATE, "/c", big, 0);
	m = wait_result(0, 2, NULL);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_SYSTEMERROR);
	repl_out_free(&m);
	m = wait_result(0, 3, NULL);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_SYSTEMERROR);
	repl_out_free(&m);
	cr_assert(!node_exists("/big") && !node_exists("/c") && node_exists("/a"));
	cr_assert_eq(repl_error(R), 0, "a full disk is not a disk error");
	cr_assert_eq(repl_published_zxid(R), za);
	/* Still full: a big write is refused again, the session lives on. */
	push_write(0, 1, 4, ci.session, ZK_OP_CREATE, "/big", big, 0);
	m = wait_result(0, 4, NULL);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_SYSTEMERROR);
	repl_out_free(&m);
	/* Room again: the same writes succeed, zxids continue without a gap. */
	__atomic_store_n(&fallocate_full, 0, __ATOMIC_SEQ_CST);
	zb = do_write(0, 1, 5, ci.session, ZK_OP_CREATE, "/big", big, 0, ZK_OK);
	cr_assert_eq(zb, za + 1, "refused txns leave no zxid gap");
	do_write(0, 1, 6, ci.session, ZK_OP_CREATE, "/c", "3", 0, ZK_OK);
	stop_core();
	cr_assert_eq(open_core_rc(1), 0);
	cr_assert(node_exists("/a") && node_exists("/big") && node_exists("/c"));
	cr_assert_eq(repl_published_zxid(R), zb + 1);
}

Test(repl, write_identity_index_is_checked_and_viewed)
{
	struct repl_write *w = repl_write_new(8 + 4, 1, 1);
	struct tree_req req;
	struct tree_auth_id id;
	struct tree_auth auth;

	cr_assert_not_null(w);
	memcpy(w->storage, "ipX", 3);
	repl_write_reqs(w)[0] = (struct repl_write_req){
	    .type = ZK_OP_DELETE, .version = -1, .path = {0, 1}, .data = {0, -1}, .acl = {0, -1}};
	repl_write_ids(w)[0] = (struct repl_write_id){{0, 2}, {2, 1}};
	w->slots = (struct repl_span){8, 4};
	w->storage[8 + 3] = 1; /* id 0 in slot 3 */
	cr_assert_eq(repl_write_check(w, w->size), 0);
	repl_write_views(w, &req, &id, &auth);
	cr_assert_eq(auth.nslots, 4);
	cr_assert_eq(auth.slots, w->storage + 8);
	cr_assert(jute_buf_eq(id.scheme, "ip") && jute_buf_eq(id.id, "X"));
	w->storage[8 + 3] = 2; /* no id 1 */
	cr_assert_eq(repl_write_check(w, w->size), -EBADMSG);
	w->storage[8 + 3] = 1;
	w->slots.len = 3; /* not a power of two */
	cr_assert_eq(repl_write_check(w, w->size), -EBADMSG);
	w->slots = (struct repl_span){8, 5}; /* past the storage */
	cr_assert_eq(repl_write_check(w, w->size), -EBADMSG);
	w->slots = (struct repl_span){0, -1};
	cr_assert_eq(repl_write_check(w, w->size), 0);
	repl_write_views(w, &req, &id, &auth);
	cr_assert_null(auth.slots);
	free(w);
	test_assert_no_leaks();
}

/* The identity index check (eight bytes at a time) finds any entry above nauth, anywhere. */
Test(repl, write_identity_index_check_finds_every_bad_entry)
{
	static const uint32_t nauths[] = {0, 1, 3, 64, 126, 127, 128, 200};

	for (size_t k = 0; k < sizeof(nauths) / sizeof(nauths[0]); k++) {
		uint32_t nauth = nauths[k], n = 2 * (nauth ? nauth : 1);
		struct repl_write *w;

		while (n & (n - 1))
			n++;
		w = repl_write_new(n + 2 * nauth, 0, nauth);
		cr_assert_not_null(w);
		for (uint32_t i = 0; i < nauth; i++)
			repl_write_ids(w)[i] = (struct repl_write_id){{0, 0}, {0, 0}};
		w->slots = (struct repl_span){(uint32_t)(2 * nauth), (int32_t)n};
		for (uint32_t i = 0; i < n; i++)
			w->storage[2 * nauth + i] = (uint8_t)(i % (nauth + 1));
		cr_assert_eq(repl_write_check(w, w->size), 0, "nauth %u", nauth);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *e = &w->storage[2 * nauth + i], keep = *e;

			for (uint32_t v = nauth + 1; v < 256; v += v < nauth + 3 ? 1 : 37) {
				*e = (uint8_t)v;
				cr_assert_eq(repl_write_check(w, w->size), -EBADMSG,
					     "nauth %u: %u at %u passed", nauth, v, i);
			}
			*e = (uint8_t)nauth;
			cr_assert_eq(repl_write_check(w, w->size), 0);
			*e = keep;
		}
		free(w);
	}
}

/* ---- reads run by the core in their place (REPL_IN_READ) ---- */

static struct repl_write *mk_read(const char *path)
{
	size_t len = strlen(path);
	struct repl_write *w = repl_write_new(len, 1, 0);
	struct repl_write_req *rq;

	cr_assert_not_null(w);
	rq = repl_write_reqs(w);
	w->op = ZK_OP_EXISTS;
	memcpy(w->storage, path, len);
	rq->type = ZK_OP_EXISTS;
	rq->version = -1;
	rq->path = rq->acl = (struct repl_span){0, -1};
	rq->data = (struct repl_span){0, (int32_t)len};
	cr_assert_eq(repl_write_check(w, w->size), 0);
	return w;
}

/*
 * W1 (create /r1), R (/r2), W2 (create /r2) from one ring: R runs after
 * W1 is applied and before W2: it sees no /r2, carries W1's zxid, and its
 * answer comes after W1's result and before W2's events and result.
 */
Test(repl, read_is_answered_at_its_place_between_two_writes)
{
	struct conn_info a;
	struct repl_out m;
	struct repl_read_out *ro;

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	push_write(0, 1, 1, a.session, ZK_OP_CREATE, "/r1", NULL, 0);
	push_in(0, REPL_IN_READ, 1, 2, a.session, mk_read("/r2"));
	push_write(0, 1, 3, a.session, ZK_OP_CREATE, "/r2", NULL, 0);
	m = wait_result(0, 1, NULL);
	int64_t z1 = m.zxid;
	repl_out_free(&m);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_READ, "the read's answer is next (kind %u)", m.kind);
	cr_assert_eq(m.xid, 2);
	cr_assert_eq(m.conn, 1);
	cr_assert_eq(m.session, a.session);
	cr_assert_eq(m.zxid, z1);
	ro = m.body;
	cr_assert_eq(ro->zxid, z1);
	cr_assert_eq(ro->len, 1);
	cr_assert_eq(repl_read_bytes(ro)[0], '0', "the read saw the write queued after it");
	cr_assert_eq(ro->nwatches, 1);
	cr_assert_eq(memcmp(repl_read_bytes(ro) + ro->watches[0].path_off, "/r2", 3), 0);
	repl_out_free(&m);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_EVENTS, "W2's events come after the read");
	cr_assert_eq(m.zxid, z1 + 1);
	repl_out_free(&m);
	m = wait_result(0, 3, NULL);
	cr_assert_eq(m.zxid, z1 + 1);
	repl_out_free(&m);
	cr_assert_eq(__atomic_load_n(&reads_run, __ATOMIC_RELAXED), 1);
	/* now it exists */
	push_in(0, REPL_IN_READ, 1, 4, a.session, mk_read("/r2"));
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_READ);
	cr_assert_eq(m.zxid, z1 + 1);
	cr_assert_eq(repl_read_bytes(m.body)[0], '1');
	repl_out_free(&m);
}

/*
 * Three reads in one REPL_IN_READ between W1 (create /b1) and W2 (create
 * /b2): one answer, after W1's result and before W2's events, with an
 * answer per read in order, each as of W1.
 */
Test(repl, read_batch_is_answered_at_its_place_in_one_message)
{
	static const char *const paths[] = {"/b1", "/b2", "/b1/x"};
	struct conn_info a;
	struct repl_out m;
	struct repl_read_out *ro;
	struct repl_write *w = repl_write_new(3 + 3 + 5, 3, 0);
	struct repl_write_req *rq;
	uint32_t off = 0;

	cr_assert_not_null(w);
	rq = repl_write_reqs(w);
	w->op = ZK_OP_EXISTS;
	for (int i = 0; i < 3; i++) {
		size_t len = strlen(paths[i]);
		memcpy(w->storage + off, paths[i], len);
		rq[i].type = ZK_OP_EXISTS;
		rq[i].version = -1;
		rq[i].path = rq[i].acl = (struct repl_span){0, -1};
		rq[i].data = (struct repl_span){off, (int32_t)len};
		off += (uint32_t)len;
	}
	cr_assert_eq(repl_write_check(w, w->size), 0);
	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	__atomic_store_n(&reads_run, 0, __ATOMIC_RELAXED);
	push_write(0, 1, 1, a.session, ZK_OP_CREATE, "/b1", NULL, 0);
	push_in(0, REPL_IN_READ, 1, 2, a.session, w);
	push_write(0, 1, 5, a.session, ZK_OP_CREATE, "/b2", NULL, 0);
	m = wait_result(0, 1, NULL);
	int64_t z1 = m.zxid;
	repl_out_free(&m);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_READ, "the reads' answer is next (kind %u)", m.kind);
	cr_assert_eq(m.xid, 2);
	ro = m.body;
	cr_assert_eq(ro->zxid, z1);
	cr_assert_eq(ro->nreads, 3);
	cr_assert_eq(ro->len, 3);
	cr_assert_eq(memcmp(repl_read_bytes(ro), "100", 3), 0, "as of W1, not W2");
	cr_assert_eq(ro->nwatches, 3);
	for (uint32_t i = 0; i < 3; i++)
		cr_assert_eq(repl_read_answers(ro)[i].xid, (int32_t)i);
	cr_assert_eq(memcmp(repl_read_bytes(ro) + ro->watches[2].path_off, "/b1/x", 5), 0);
	repl_out_free(&m);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_EVENTS, "W2's events come after the reads");
	repl_out_free(&m);
	m = wait_result(0, 5, NULL);
	cr_assert_eq(m.zxid, z1 + 1);
	repl_out_free(&m);
	cr_assert_eq(__atomic_load_n(&reads_run, __ATOMIC_RELAXED), 3);
}

/* A read of a session the core does not know: SESSIONEXPIRED, in its place, no read run. */
Test(repl, read_of_an_unknown_session_is_answered_session_expired)
{
	struct conn_info a;
	struct repl_out m;

	open_core(1, NULL);
	a = connect_new(0, 1, 1000);
	__atomic_store_n(&reads_run, 0, __ATOMIC_RELAXED);
	push_write(0, 1, 1, a.session, ZK_OP_CREATE, "/u1", NULL, 0);
	push_in(0, REPL_IN_READ, 2, 2, a.session + 12345, mk_read("/u1"));
	push_in(0, REPL_IN_READ, 1, 3, a.session, NULL);
	m = wait_result(0, 1, NULL);
	repl_out_free(&m);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_RESULT);
	cr_assert_eq(m.xid, 2);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_SESSIONEXPIRED);
	repl_out_free(&m);
	m = pop_out(0);
	cr_assert_eq(m.kind, REPL_OUT_RESULT);
	cr_assert_eq(m.xid, 3);
	cr_assert_eq(((struct repl_result *)m.body)->err, ZK_MARSHALLINGERROR, "a read without a body");
	repl_out_free(&m);
	cr_assert_eq(__atomic_load_n(&reads_run, __ATOMIC_RELAXED), 0);
}
