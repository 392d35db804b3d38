// SPDX-License-Identifier: Apache-2.0
/*
 * Three ensemble members (repl.c + ensemble.c + raft, the real code) in
 * one process, driven step by step on a simulated clock, to replay
 * interleavings of the ensemble driver that real processes hit only by
 * chance: the review findings of ensfix (4557c1d, 6b2ccd2, 4ca6a80),
 * each test failing with its fix reverted; and a whole ensemble
 * restored from one member's copy (docs/OPERATIONS.md), members closed
 * and reopened on new data dirs.
 *
 * The seams (nothing in the code under test changes for them):
 *   - the peer transport (replication/peer/peer.h) is this file's: a
 *     network of FIFO links the test cuts and heals, frames delivered
 *     when the receiver polls; this executable's peer_* definitions
 *     are the ones the library's calls bind to (peer.c is not linked);
 *   - time: each member has its own clock, given to repl_step() and
 *     returned by clock_gettime(CLOCK_MONOTONIC) while that member
 *     steps (this executable's definition: the code's few direct clock
 *     reads see the member's time);
 *   - getrandom() is this executable's: the same seeds every run, so
 *     elections come out the same;
 *   - each member has one worker whose rings the test reads and writes
 *     (a fake dataplane);
 *   - the log's writer thread writes (pwrite to a log.* file, this
 *     executable's pwrite) only between steps, when step() waits until
 *     the member's log is durable: no durability shows in the middle of
 *     a step, so the thread's speed decides nothing;
 *   - a live install's loader thread (ensemble.c, install_begin): a
 *     member's step first waits until its loader is done, so the swap
 *     comes in the member's step after the one that started the load;
 *     the log is the loader's meanwhile, step() leaves it alone.
 * So a run's path is the script's (the same elections, zxids and
 * answers every run), but for the leader's own snapshots (snapdir's
 * thread), left to real time: the test waits for them with short sleeps
 * between rounds; which zxid they land at does not change what is
 * checked.  Every loop is bounded by a round count.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/log.h"
#include "config/config.h"
#include "replication/ens_wire.h"
#include "replication/ensemble.h"
#include "replication/peer/peer.h"
#include "replication/repl.h"
#include "replication/repl_core.h"
#include "replication/repl_priv.h"
#include "replication/txlog.h"
#include "tests/common/leakcheck.h"

#define N 3
#define TICK_TIME 100		   /* ms: raft's tick is 50 ms */
#define SILENCE_MS (5 * TICK_TIME) /* syncLimit ticks: ensemble.c's silence_ms */

/* Frame types of ensemble.c (its enum frame_type), its forwarded-write kind. */
#define F_REQ 2
#define F_ANS 3
#define FK_WRITE 1

/* ---- Simulated clock and randomness ---- */

static int64_t fake_ns; /* what CLOCK_MONOTONIC says now (0: the real clock) */

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int64_t ns = __atomic_load_n(&fake_ns, __ATOMIC_RELAXED);

	if (id != CLOCK_MONOTONIC || ns == 0)
		return (int)syscall(SYS_clock_gettime, id, ts);
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return 0;
}

static uint64_t rnd_state = 0x5eed;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	uint8_t *p = buf;

	(void)flags;
	for (size_t i = 0; i < len; i++) {
		uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		p[i] = (uint8_t)(z ^ (z >> 31));
	}
	return (ssize_t)len;
}

/*
 * The log's writer thread writes (pwrite; forceSync=no: no fdatasync)
 * only while the gate is open: between steps, when step() waits for the
 * log to be durable.  So no durability becomes visible in the middle of
 * a step, where the thread's speed would decide what the step sees.  A
 * thread waits at most GATE_MAX_MS (the core waits for the log inside a
 * step at a snapshot install: then the gate does not hold).
 */
#define GATE_MAX_MS 200
static pthread_t main_thread;
static int gating, gate_open;

static uint64_t real_ns(void)
{
	struct timespec ts;

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A transaction log file (not a snapshot: snapdir's thread is never held). */
static bool is_log_file(int fd)
{
	char link[64], path[1024];
	ssize_t n;
	const char *base;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return false;
	path[n] = '\0';
	base = strrchr(path, '/');
	return base && strncmp(base + 1, "log.", 4) == 0;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (__atomic_load_n(&gating, __ATOMIC_ACQUIRE) &&
	    !pthread_equal(pthread_self(), main_thread) && is_log_file(fd)) {
		uint64_t end = real_ns() + GATE_MAX_MS * 1000000ull;

		while (!__atomic_load_n(&gate_open, __ATOMIC_ACQUIRE) && real_ns() < end)
			usleep(50);
	}
	return syscall(SYS_pwrite64, fd, buf, n, off);
}

/* repl.c's RING_SIZE: messages each worker ring holds. */
#define RING_SIZE_TEST 4096u

/* ---- The network: this executable's peer transport ---- */

struct frame {
	struct frame *next;
	uint32_t from, to;
	uint16_t type;
	size_t len;
	uint8_t data[];
};

struct peer {
	uint32_t id;
	struct peer_callbacks cb;
	int efd;
	bool reported[N + 1]; /* PEER_EV_CONNECTED told */
};

static struct peer *P[N + 1];
static bool link_up[N + 1][N + 1]; /* [from][to] */
static struct frame *fq_head, **fq_tail = &fq_head;
/* Frames of type cut_type from cut_from to cut_to: the first one passes, the link breaks after it.
 */
static uint32_t cut_from, cut_to;
static uint16_t cut_type;

int peer_new(const struct peer_config *cfg, const struct peer_callbacks *cb, struct peer **out)
{
	struct peer *p = calloc(1, sizeof(*p));

	cr_assert_not_null(p);
	cr_assert(cfg->self_id >= 1 && cfg->self_id <= N);
	p->id = cfg->self_id;
	p->cb = *cb;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	P[p->id] = p;
	*out = p;
	return 0;
}

void peer_destroy(struct peer *p)
{
	if (!p)
		return;
	P[p->id] = NULL;
	close(p->efd);
	free(p);
}

int peer_fd(const struct peer *p)
{
	return p->efd;
}

int peer_send(struct peer *p, uint32_t to, uint16_t type, const void *payload, size_t len)
{
	struct frame *f;

	if (to < 1 || to > N || to == p->id || type == 0)
		return -EINVAL;
	if (!link_up[p->id][to])
		return -ENOTCONN;
	f = malloc(sizeof(*f) + len);
	cr_assert_not_null(f);
	*f = (struct frame){.from = p->id, .to = to, .type = type, .len = len};
	memcpy(f->data, payload, len);
	*fq_tail = f;
	fq_tail = &f->next;
	if (cut_from == p->id && cut_to == to && cut_type == type) {
		/* It leaves; the link breaks right behind it (and its queue is lost). */
		link_up[p->id][to] = false;
		cut_from = cut_to = 0;
	}
	return 0;
}

int peer_send_encoded(struct peer *p, uint32_t to, uint16_t type, size_t len,
		      int (*enc)(void *arg, uint8_t *buf, size_t len), void *arg)
{
	uint8_t *b;
	int rc;

	if (!enc || to < 1 || to > N || to == p->id || type == 0)
		return -EINVAL;
	if (!link_up[p->id][to])
		return -ENOTCONN;
	b = malloc(len ? len : 1);
	cr_assert_not_null(b);
	rc = enc(arg, b, len);
	if (!rc)
		rc = peer_send(p, to, type, b, len);
	free(b);
	return rc;
}

/* Drops what is queued on from -> to (a broken link loses its queue). */
static void drop_queued(uint32_t from, uint32_t to)
{
	struct frame **pp = &fq_head;

	while (*pp) {
		struct frame *f = *pp;

		if (f->from == from && f->to == to) {
			*pp = f->next;
			free(f);
		} else {
			pp = &f->next;
		}
	}
	fq_tail = &fq_head;
	while (*fq_tail)
		fq_tail = &(*fq_tail)->next;
}

static struct repl *repl_of(uint32_t id);
static uint32_t bad_answers; /* F_ANS naming a zxid not in its sender's log */

/*
 * The zxid after which the follower answers (ensemble.c's struct
 * fwd_ans: session, after, cxid, err) must be one the leader proposed
 * (or applied) by the time the answer arrives, else the leader may still
 * give that zxid to another txn (ens_answer_marker).  after is read in
 * host and in network byte order, and the smaller taken (unsigned): the
 * other order of a real zxid is far above anything proposed, so this
 * holds whichever order the frames use.
 */
static void check_ans(const struct frame *f)
{
	const struct repl *r = repl_of(f->from);
	uint64_t host, net, after, bound;

	cr_assert_eq(f->len, 24);
	memcpy(&host, f->data + 8, 8);
	net = be64toh(host);
	after = host < net ? host : net;
	bound = (uint64_t)(r->last_appended > r->last_applied ? r->last_appended : r->last_applied);
	if (after > bound) {
		fprintf(stderr,
			"an answer from server %u to %u names zxid 0x%llx; the sender "
			"proposed up to 0x%llx and applied up to 0x%llx\n",
			f->from, f->to, (unsigned long long)after,
			(unsigned long long)r->last_appended, (unsigned long long)r->last_applied);
		bad_answers++;
	}
}

/*
 * Frames that arrive in the middle of member late_to's next step: its
 * first peer_poll of the step finds none, and it has sends queued
 * (peer_has_pending), so ensemble.c's late poll, the one that flushes
 * them, reads what waits.  One step only.
 */
static uint32_t late_to, late_polls;

int peer_poll(struct peer *p, uint64_t now_ms, uint64_t *next_ms)
{
	struct frame *mine = NULL, **mt = &mine, **pp = &fq_head;

	(void)now_ms;
	*next_ms = UINT64_MAX;
	if (p->id == late_to && late_polls++ == 0)
		return 0; /* nothing arrived yet */
	if (p->id == late_to)
		late_to = 0;
	for (uint32_t j = 1; j <= N; j++) {
		if (j == p->id)
			continue;
		if (link_up[p->id][j] && !p->reported[j]) {
			p->reported[j] = true;
			p->cb.on_event(p->cb.arg, j, PEER_EV_CONNECTED);
		} else if (!link_up[p->id][j] && p->reported[j]) {
			p->reported[j] = false;
			p->cb.on_event(p->cb.arg, j, PEER_EV_LOST);
		}
	}
	/* Take this member's frames first: on_frame may send more. */
	while (*pp) {
		struct frame *f = *pp;

		if (f->to == p->id) {
			*pp = f->next;
			f->next = NULL;
			*mt = f;
			mt = &f->next;
		} else {
			pp = &f->next;
		}
	}
	fq_tail = &fq_head;
	while (*fq_tail)
		fq_tail = &(*fq_tail)->next;
	while (mine) {
		struct frame *f = mine;

		mine = f->next;
		if (f->type == F_ANS)
			check_ans(f);
		p->cb.on_frame(p->cb.arg, f->from, f->type, f->data, f->len);
		free(f);
	}
	return 0;
}

int peer_add(struct peer *p, const struct peer_member *m)
{
	(void)p;
	(void)m;
	return -EEXIST;
}

int peer_remove(struct peer *p, uint32_t id)
{
	(void)p;
	(void)id;
	return -EINVAL;
}

bool peer_has_pending(const struct peer *p)
{
	return p->id == late_to && late_polls == 1;
}

int peer_stats(const struct peer *p, uint32_t id, struct peer_stats *out)
{
	if (id < 1 || id > N || id == p->id)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->out_state = link_up[p->id][id] ? PEER_LINK_UP : PEER_LINK_IDLE;
	out->in_up = link_up[id][p->id];
	return 0;
}

void peer_global_stats(const struct peer *p, struct peer_global_stats *out)
{
	(void)p;
	memset(out, 0, sizeof(*out));
}

uint64_t peer_ensemble_id(const struct peer_member *m, size_t n, const char *name)
{
	(void)m;
	(void)n;
	(void)name;
	return 1;
}

static void set_links(uint32_t i, bool up)
{
	for (uint32_t j = 1; j <= N; j++) {
		if (j == i)
			continue;
		link_up[i][j] = link_up[j][i] = up;
		if (!up) {
			drop_queued(i, j);
			drop_queued(j, i);
		}
	}
}

/* ---- The members ---- */

struct member {
	struct repl *r;
	struct cfg cfg;
	int64_t now_ms;
	bool paused; /* not stepped (SIGSTOP) */
	int wake;
	/* What its worker received, in ring order (repl_out, bodies kept). */
	struct repl_out *out;
	uint32_t nout, out_cap;
};

static char tdir[512];
static struct member M[N + 1];

static struct repl *repl_of(uint32_t id)
{
	return M[id].r;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Copies every file of src (flat) into dir/sub, which it creates. */
static void copy_dir(const char *src, const char *dir, const char *sub)
{
	char to[1024], path[1300];
	static char buf[1 << 16];
	struct dirent *d;
	DIR *dp = opendir(src);

	cr_assert_not_null(dp, "%s", src);
	snprintf(to, sizeof(to), "%s/%s", dir, sub);
	cr_assert_eq(mkdir(to, 0700), 0);
	while ((d = readdir(dp))) {
		FILE *in, *out;
		size_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", src, d->d_name);
		in = fopen(path, "rb");
		snprintf(path, sizeof(path), "%s/%s", to, d->d_name);
		out = fopen(path, "wb");
		cr_assert(in && out);
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			cr_assert_eq(fwrite(buf, 1, n, out), n);
		fclose(in);
		cr_assert_eq(fclose(out), 0);
	}
	closedir(dp);
}

/* member_open copies this directory's files into <dataDir>/cheetah-1 first. */
static const char *restore_src;
/* The member listed as an observer (server.N=...:observer, peerType), 0: none. */
static uint32_t obs_id;

static void member_open(uint32_t i, const char *const *extra)
{
	struct member *m = &M[i];
	struct cfg_error err;
	char line[800], dir[700];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/m%u", tdir, i);
	cr_assert_eq(mkdir(dir, 0700), 0);
	if (restore_src)
		copy_dir(restore_src, dir, "cheetah-1");
	snprintf(line, sizeof(line), "%s/myid", dir);
	f = fopen(line, "w");
	cr_assert_not_null(f);
	fprintf(f, "%u\n", i);
	fclose(f);
	cr_assert_eq(cfg_defaults(&m->cfg), 0);
	snprintf(line, sizeof(line), "dataDir=%s", dir);
	cr_assert_eq(cfg_set(&m->cfg, line, &err), 0, "%s", err.msg);
	snprintf(line, sizeof(line), "tickTime=%d", TICK_TIME);
	cr_assert_eq(cfg_set(&m->cfg, line, &err), 0, "%s", err.msg);
	const char *const base[] = {"clientPort=2181", "syncLimit=5",
				    "initLimit=10",    "forceSync=no",
				    "preAllocSize=64", "maxSessionTimeout=600000"};
	for (size_t k = 0; k < sizeof(base) / sizeof(base[0]); k++)
		cr_assert_eq(cfg_set(&m->cfg, base[k], &err), 0, "%s", err.msg);
	for (uint32_t j = 1; j <= N; j++) {
		snprintf(line, sizeof(line), "server.%u=127.0.0.1:%u:%u%s", j, 40000 + 2 * j,
			 40001 + 2 * j, j == obs_id ? ":observer" : "");
		cr_assert_eq(cfg_set(&m->cfg, line, &err), 0, "%s", err.msg);
	}
	if (i == obs_id)
		cr_assert_eq(cfg_set(&m->cfg, "peerType=observer", &err), 0, "%s", err.msg);
	for (int k = 0; extra && extra[k]; k++)
		cr_assert_eq(cfg_set(&m->cfg, extra[k], &err), 0, "%s: %s", extra[k], err.msg);
	cr_assert_eq(cfg_finalize(&m->cfg, &err), 0, "%s", err.msg);
	/* Unrelated clocks, as on three machines (a reopened member's goes on). */
	m->now_ms = m->now_ms ? m->now_ms + 1000 : 1000000 + i;
	__atomic_store_n(&fake_ns, m->now_ms * 1000000, __ATOMIC_RELAXED);
	struct repl_opts o = {.cfg = &m->cfg, .nworkers = 1, .core = -1};
	cr_assert_eq(repl_open(&o, &m->r), 0);
	m->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	repl_set_worker_wakeup(m->r, 0, m->wake);
}

static void cluster_open(const char *const *extra)
{
	for (uint32_t i = 1; i <= N; i++)
		for (uint32_t j = 1; j <= N; j++)
			link_up[i][j] = i != j;
	for (uint32_t i = 1; i <= N; i++)
		member_open(i, extra);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	log_set_level(LOG_LVL_WARN);
	snprintf(tdir, sizeof(tdir), "%s/cheetah-ens-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(tdir));
	urcu_qsbr_register_thread();
	rnd_state = 0x5eed;
	main_thread = pthread_self();
	__atomic_store_n(&gate_open, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&gating, 1, __ATOMIC_RELEASE);
}

/* Stops member i (a clean shutdown: it is not started, nothing drains); its clock stays. */
static void member_close(uint32_t i)
{
	struct member *m = &M[i];
	int64_t now = m->now_ms;

	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE); /* the log closes freely */
	__atomic_store_n(&fake_ns, m->now_ms * 1000000, __ATOMIC_RELAXED);
	repl_stop(m->r);
	__atomic_store_n(&gate_open, 0, __ATOMIC_RELEASE);
	for (uint32_t k = 0; k < m->nout; k++)
		repl_out_free(&m->out[k]);
	free(m->out);
	close(m->wake);
	cfg_free(&m->cfg);
	memset(m, 0, sizeof(*m));
	m->now_ms = now;
}

static void teardown(void)
{
	for (uint32_t i = 1; i <= N; i++)
		if (M[i].r)
			member_close(i);
	memset(M, 0, sizeof(M));
	restore_src = NULL;
	obs_id = 0;
	__atomic_store_n(&fake_ns, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&gating, 0, __ATOMIC_RELEASE);
	while (fq_head) {
		struct frame *f = fq_head;

		fq_head = f->next;
		free(f);
	}
	fq_tail = &fq_head;
	cut_from = cut_to = 0;
	late_to = late_polls = 0;
	bad_answers = 0;
	urcu_qsbr_unregister_thread();
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	test_fini_no_leaks();
}

TestSuite(ensemble, .init = setup, .fini = teardown, .timeout = 120);

/* Takes what member i's worker got (the worker's side of a tree switch too). */
static void collect(uint32_t i)
{
	struct member *m = &M[i];
	struct repl_out o;

	while (ring_pop(repl_out_ring(m->r, 0), &o)) {
		if (o.kind == REPL_OUT_TREE)
			repl_tree_switched(m->r, 0, (uint64_t)o.session);
		if (m->nout == m->out_cap) {
			m->out_cap = m->out_cap ? 2 * m->out_cap : 64;
			m->out = realloc(m->out, m->out_cap * sizeof(*m->out));
			cr_assert_not_null(m->out);
		}
		m->out[m->nout++] = o;
	}
}

/*
 * A live install loads the leader's snapshot on a loader thread while the
 * core goes on stepping (ensemble.c, install_begin), the swap made by the
 * first iteration that finds the loader done.  So that the step of the
 * swap is the script's, not the thread's speed's, a member's step first
 * waits (real time, at most this long) until its loader is done: the
 * install started in one step of the member is swapped in its next.
 */
#define LOAD_MAX_MS 60000

static void wait_loaded(uint32_t i)
{
	uint64_t end = real_ns() + LOAD_MAX_MS * 1000000ull;
	bool loaded;

	if (!ens_installing(M[i].r, &loaded) || loaded)
		return;
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE); /* the loader truncates the log */
	while (ens_installing(M[i].r, &loaded) && !loaded && real_ns() < end)
		usleep(100);
	__atomic_store_n(&gate_open, 0, __ATOMIC_RELEASE);
	cr_assert(loaded, "member %u: the snapshot loader took over %d ms", i, LOAD_MAX_MS);
}

/*
 * One step of member i at its clock; then its log is made durable, but
 * while a live install loads (the log is the loader's: txlog.h's one
 * caller thread; the core reports nothing durable meanwhile).
 */
static uint32_t step(uint32_t i)
{
	struct member *m = &M[i];
	uint32_t work;
	int64_t last;
	uint64_t lt;

	wait_loaded(i);
	__atomic_store_n(&fake_ns, m->now_ms * 1000000, __ATOMIC_RELAXED);
	urcu_qsbr_quiescent_state();
	work = repl_step(m->r, (uint64_t)m->now_ms * 1000000);
	if (!m->r->failed && !ens_installing(m->r, NULL)) {
		__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
		txlog_last(m->r->log, &last, &lt);
		if (last > 0)
			cr_assert_eq(txlog_wait_durable(m->r->log, last, -1), 0);
		__atomic_store_n(&gate_open, 0, __ATOMIC_RELEASE);
	}
	collect(i);
	return work;
}

/*
 * What core_main does at one instant: it iterates again at once while
 * an iteration reports work, and sleeps after the first that reports
 * none, until its next timer (ens_next_ms) or its fds (no peer fd wakes
 * it here: this transport's frames wait for the member's next step).
 * Steps member i at its clock until a step reports no work; returns the
 * steps.
 */
static bool readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

/*
 * What core_main does at one instant: it iterates again at once while
 * an iteration reports work, and after one that reports none it sleeps
 * (core_sleep) until its next timer (ens_next_ms) or one of its fds: the
 * log writer's eventfd (step() makes the log durable: it fires) and the
 * peer fd (not here: this transport's frames are taken at the member's
 * next step, and deliver() steps it when some wait).  Steps member i at
 * its clock until it would sleep; returns the steps.
 */
static uint32_t settle(uint32_t i)
{
	int efd = txlog_eventfd(M[i].r->log);

	for (uint32_t k = 1; k <= 100; k++) {
		if (step(i))
			continue;
		if (!readable(efd))
			return k;
		drain(efd);
	}
	cr_assert_fail("member %u: still busy after 100 steps at one instant", i);
	return 0;
}

/* Whether a frame waits for member i on a live link (its peer fd would wake it). */
static bool frames_for(uint32_t i)
{
	for (const struct frame *f = fq_head; f; f = f->next)
		if (f->to == i && link_up[f->from][i])
			return true;
	return false;
}

/*
 * The network at one instant, no clock moving: every member a frame
 * waits for is woken (settle), until none waits.  What needs a timer
 * (a tick, a retransmission) does not happen here.
 */
static void deliver(void)
{
	for (uint32_t k = 0; k < 200; k++) {
		bool any = false;

		for (uint32_t i = 1; i <= N; i++) {
			if (M[i].paused || !frames_for(i))
				continue;
			settle(i);
			any = true;
		}
		if (!any)
			return;
	}
	cr_assert_fail("frames still flow after 200 rounds at one instant");
}

/* rounds rounds: every member not paused advances ms, then steps, in id order. */
static void run(uint32_t rounds, int64_t ms)
{
	for (uint32_t k = 0; k < rounds; k++) {
		for (uint32_t i = 1; i <= N; i++) {
			if (M[i].paused)
				continue;
			M[i].now_ms += ms;
			step(i);
		}
	}
}

static bool is_state(uint32_t i, const char *s)
{
	return strcmp(ens_state(M[i].r), s) == 0;
}

/* Runs until one member leads and the others not paused follow (or observe); returns it. */
static uint32_t elect(void)
{
	for (uint32_t k = 0; k < 2000; k++) {
		uint32_t leader = 0, followers = 0, live = 0;

		for (uint32_t i = 1; i <= N; i++) {
			if (M[i].paused)
				continue;
			live++;
			if (is_state(i, "leader"))
				leader = i;
			else if (is_state(i, "follower") || is_state(i, "observer"))
				followers++;
		}
		if (leader && followers == live - 1)
			return leader;
		run(1, 10);
	}
	cr_assert_fail("no leader within 2000 rounds");
	return 0;
}

static void push(uint32_t i, uint8_t kind, uint32_t conn, int32_t xid, int64_t session, void *body)
{
	struct repl_in m = {kind, conn, xid, session, body};

	cr_assert(ring_push(repl_in_ring(M[i].r, 0), &m), "in ring full");
}

/* The index in member i's received messages of the first at or after from for conn. */
static int find_out(uint32_t i, uint32_t from, uint32_t conn)
{
	for (uint32_t k = from; k < M[i].nout; k++)
		if (M[i].out[k].conn == conn &&
		    (M[i].out[k].kind == REPL_OUT_RESULT ||
		     M[i].out[k].kind == REPL_OUT_CONNECTED || M[i].out[k].kind == REPL_OUT_EXPIRE))
			return (int)k;
	return -1;
}

/* Runs until member i's worker got an answer for conn after message from. */
static struct repl_out *wait_out(uint32_t i, uint32_t from, uint32_t conn)
{
	for (uint32_t k = 0; k < 1000; k++) {
		int at = find_out(i, from, conn);

		if (at >= 0)
			return &M[i].out[at];
		run(1, 10);
	}
	cr_assert_fail("member %u: no answer for connection %u within 1000 rounds", i, conn);
	return NULL;
}

/* A new session through member i's connection conn. */
static int64_t connect_new(uint32_t i, uint32_t conn, bool read_only)
{
	struct repl_connect *c = calloc(1, sizeof(*c));
	uint32_t from = M[i].nout;
	struct repl_out *o;

	cr_assert_not_null(c);
	c->timeout = 30000;
	c->read_only = read_only;
	push(i, REPL_IN_CONNECT, conn, 0, 0, c);
	o = wait_out(i, from, conn);
	if (o->kind != REPL_OUT_CONNECTED)
		return 0;
	cr_assert_eq(((struct repl_connected *)o->body)->err, ZK_OK);
	return ((struct repl_connected *)o->body)->session;
}

/* world:anyone, all permissions, in jute encoding. */
static size_t put_world_acl(uint8_t *p)
{
	struct jute_out o;

	jute_out_init_fixed(&o, p, 64);
	jute_put_int(&o, 1);
	jute_put_int(&o, ZK_PERM_ALL);
	jute_put_string(&o, "world");
	jute_put_string(&o, "anyone");
	return o.len;
}

/* A create of path (persistent, no data) through member i's connection conn. */
static void push_create(uint32_t i, uint32_t conn, int32_t xid, int64_t session, const char *path)
{
	size_t pl = strlen(path);
	struct repl_write *w = repl_write_new(pl + 64, 1, 0);
	struct repl_write_req *rq;
	uint8_t *p;

	cr_assert_not_null(w);
	rq = repl_write_reqs(w);
	w->op = ZK_OP_CREATE;
	p = w->storage;
	rq->type = ZK_OP_CREATE;
	rq->version = -1;
	rq->ttl = -1;
	memcpy(p, path, pl);
	rq->path = repl_write_span(w, p, (int32_t)pl);
	p += pl;
	rq->data = (struct repl_span){0, -1};
	rq->acl = repl_write_span(w, p, (int32_t)put_world_acl(p));
	rq->acl_count = 1;
	cr_assert_eq(repl_write_check(w, w->size), 0);
	push(i, REPL_IN_WRITE, conn, xid, session, w);
}

static int32_t result_err(const struct repl_out *o)
{
	const struct repl_result *res = o->body;

	cr_assert_eq(o->kind, REPL_OUT_RESULT);
	return res->nresults ? res->results[0].err : res->err;
}

static bool exists(uint32_t i, const char *path)
{
	return tree_lookup(repl_tree(M[i].r), path, strlen(path)) != NULL;
}

/* The other two members than a (and b, when given). */
static uint32_t other(uint32_t a, uint32_t b)
{
	for (uint32_t i = 1; i <= N; i++)
		if (i != a && i != b)
			return i;
	return 0;
}

/*
 * ensfix finding 1 (4557c1d).  Two requests of a follower's client reach
 * the leader in one iteration: its closeSession, prepped as a txn at
 * zxid Z (the session is closing), and a create the client pipelined
 * after it, answered without a txn (SESSIONEXPIRED: a closing session),
 * by an F_ANS naming Z.  The leader stops serving in that same iteration
 * without a term change (it has not heard a quorum for syncLimit, raft
 * has not stepped it down), which drops the unproposed close: the
 * session lives.  Serving again, it gives Z to another txn, and the
 * follower, once it applied that one, answered SESSIONEXPIRED for a
 * session that never expired.  With the fix the F_ANS leaves only once
 * the txn it names is proposed; here never: the create's connection is
 * closed instead (the client reconnects and retries).
 */
Test(ensemble, an_answer_never_names_a_zxid_the_leader_may_reuse)
{
	uint32_t L, F, from;
	int64_t sa, sc;
	struct repl_out *o;
	struct repl_quorum q;
	int64_t epoch;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	sa = connect_new(F, 1, false);
	sc = connect_new(F, 3, false);
	cr_assert(sa && sc);
	run(5, 10);
	cr_assert(ens_quorum_stats(M[L].r, &q));
	epoch = q.epoch_zxid;

	/* A's close, then a create A pipelined after it: forwarded together. */
	from = M[F].nout;
	push(F, REPL_IN_CLOSE, 1, 5, sa, NULL);
	push_create(F, 1, 6, sa, "/w");
	M[F].now_ms += 1;
	step(F);
	/*
	 * The leader takes both in a step twice syncLimit after it last
	 * heard its followers (one raft tick: a stalled loop's): it preps the
	 * close, answers the create, and stops serving.
	 */
	M[L].now_ms += 2 * SILENCE_MS;
	step(L);
	cr_assert(!is_state(L, "leader"), "the leader stops serving, not hearing a quorum");
	for (uint32_t k = 0; k < 200 && !is_state(L, "leader"); k++)
		run(1, 10);
	cr_assert(is_state(L, "leader"), "the leader serves again");
	cr_assert(ens_quorum_stats(M[L].r, &q));
	cr_assert_eq(q.epoch_zxid, epoch, "in the same term: raft did not step it down");
	/* C's create takes the zxid the dropped close had. */
	push_create(F, 3, 1, sc, "/c");
	o = wait_out(F, from, 3);
	cr_assert_eq(result_err(o), ZK_OK);
	/* Until the follower gave up on what the leader dropped. */
	run(300, 10);
	cr_assert_not_null(sess_find(M[L].r->sess, sa), "A's session lives: its close was dropped");
	for (uint32_t i = 1; i <= N; i++)
		cr_assert(!exists(i, "/w"), "member %u: /w was never created", i);
	for (uint32_t k = from; k < M[F].nout; k++) {
		o = &M[F].out[k];
		cr_assert(!(o->conn == 1 && o->kind == REPL_OUT_RESULT && o->xid == 6),
			  "A's create answered %d although its session lives", result_err(o));
	}
	cr_assert(find_out(F, from, 1) >= 0 &&
		      M[F].out[find_out(F, from, 1)].kind == REPL_OUT_EXPIRE,
		  "A's connection is closed");
	cr_assert_eq(bad_answers, 0, "an F_ANS named a zxid its leader had not proposed");
}

/* Member i's PROPOSAL_ACK_CREATION_LATENCY count, and the leader's ACK_LATENCY count of id. */
static uint64_t ack_made(uint32_t i)
{
	static struct hist h;

	repl_zk_hist(M[i].r, REPL_ZK_PROPOSAL_ACK_MS, &h);
	return h.count;
}

static uint64_t ack_heard(uint32_t leader, uint32_t id, struct hist_mm *mm)
{
	static struct hist h[REPL_ACK_KEYS];
	uint32_t ids[REPL_ACK_KEYS], n = repl_ack_hists(M[leader].r, ids, h, REPL_ACK_KEYS);

	for (uint32_t k = 0; k < n; k++) {
		if (ids[k] != id)
			continue;
		if (mm)
			hist_mm(&h[k], mm);
		return h[k].count;
	}
	if (mm)
		*mm = (struct hist_mm){0};
	return 0;
}

/*
 * ZooKeeper's PROPOSAL_ACK_CREATION_LATENCY and ACK_LATENCY (ensemble.c's
 * acks_made, acks_received): each txn written counts once on every
 * voter as its entry becomes durable there, and once per member id on
 * the leader (its own id too) as that member's acknowledgement raises
 * its match index; none on a follower.  srst resets the mntr counters
 * (hist_mm) and not the counts.
 */
Test(ensemble, every_txn_is_acked_once_per_member)
{
	uint64_t made[N + 1], heard[N + 1];
	struct hist_mm mm;
	uint32_t L, from, ids[REPL_ACK_KEYS];
	static struct hist h[REPL_ACK_KEYS];
	int64_t s;

	cluster_open(NULL);
	L = elect();
	s = connect_new(L, 1, false);
	cr_assert(s);
	run(10, 10);
	for (uint32_t i = 1; i <= N; i++) {
		made[i] = ack_made(i);
		heard[i] = ack_heard(L, i, NULL);
		cr_assert_geq(made[i], 1, "member %u: the createSession was acked", i);
	}
	for (int32_t k = 0; k < 10; k++) {
		char path[16];

		snprintf(path, sizeof(path), "/a%d", k);
		from = M[L].nout;
		push_create(L, 1, k + 1, s, path);
		cr_assert_eq(result_err(wait_out(L, from, 1)), ZK_OK);
	}
	run(20, 10);
	for (uint32_t i = 1; i <= N; i++) {
		cr_assert_eq(ack_made(i) - made[i], 10, "member %u made %lu acks", i,
			     (unsigned long)(ack_made(i) - made[i]));
		cr_assert_eq(ack_heard(L, i, &mm) - heard[i], 10, "the leader heard member %u", i);
		/* the wall clock against the txns' own: plausible, exact min/max */
		cr_assert(mm.cnt >= 10 && mm.min <= mm.max && mm.max < 60000, "member %u", i);
		if (i != L)
			cr_assert_eq(repl_ack_hists(M[i].r, ids, h, REPL_ACK_KEYS), 0,
				     "a follower counts no acks");
	}
	/* srst: mntr's counters start again, the histograms count on. */
	repl_reset_stats(M[L].r);
	ack_heard(L, L, &mm);
	cr_assert_eq(mm.cnt, 0);
	from = M[L].nout;
	push_create(L, 1, 11, s, "/b");
	cr_assert_eq(result_err(wait_out(L, from, 1)), ZK_OK);
	run(20, 10);
	for (uint32_t i = 1; i <= N; i++) {
		cr_assert_eq(ack_heard(L, i, &mm) - heard[i], 11, "member %u", i);
		cr_assert_eq(mm.cnt, 1, "member %u: one ack since srst", i);
		cr_assert_eq(mm.min, mm.max);
	}
	repl_zk_hist(M[L].r, REPL_ZK_PROPOSAL_ACK_MS, &h[0]);
	hist_mm(&h[0], &mm);
	cr_assert_eq(mm.cnt, 1);
	cr_assert_eq(h[0].count - made[L], 11);
}

/*
 * Issue 13: a write sent to a follower waited up to a tick (tickTime / 2)
 * on the leader before it was proposed.  The follower's forwarded write
 * reached the leader in ens_iterate's peer_poll, after the iteration's
 * proposal step (append_backlog) had run; the iteration reported no
 * work, so the core slept until its next timer with the write prepped
 * and unproposed.  Here the whole write, forward, proposal, the
 * followers' acks, the commit and the follower's answer, happens at one
 * instant: every core woken only by a frame or its log (settle,
 * deliver), never by a timer.  Failed before the fix: the leader's first
 * step prepped the write and reported no work, nothing was proposed.
 */
Test(ensemble, a_forwarded_write_is_committed_before_any_timer)
{
	uint32_t L, F, from;
	int64_t s, last;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	/* Just past the leader's tick: its next timer is a tick away. */
	M[L].now_ms = ens_next_ms(M[L].r);
	settle(L);
	deliver();
	last = M[L].r->last_appended;
	from = M[F].nout;
	push_create(F, 1, 1, s, "/f");
	settle(F);
	cr_assert(frames_for(L), "the follower forwarded the write");
	for (uint32_t i = 1; i <= N; i++)
		cr_assert_lt(M[i].now_ms, ens_next_ms(M[i].r), "member %u: a timer is due", i);
	settle(L);
	cr_assert_gt(M[L].r->last_appended, last,
		     "the leader would sleep with the forwarded write unproposed");
	deliver();
	cr_assert_geq(find_out(F, from, 1), 0, "the follower answered without a timer");
	cr_assert_eq(result_err(&M[F].out[find_out(F, from, 1)]), ZK_OK);
	for (uint32_t i = 1; i <= N; i++)
		cr_assert(exists(i, "/f"), "member %u applied the write", i);
	cr_assert_eq(bad_answers, 0);
}

/*
 * The same on a follower, for a frame read by ens_iterate's late
 * peer_poll (the one that flushes what the pass sent, and reads what
 * arrived meanwhile): the leader's append that carries the commit of a
 * write of the follower's client arrives after the follower's
 * handle_ready, the step that applies it and answers the client.
 * Before the fix the pass reported no work and the client waited for
 * the follower's next timer.  (The leader is stepped here as often as
 * its part takes: the test above is about that part.)
 */
Test(ensemble, a_frame_read_by_the_late_poll_is_handled_before_the_core_sleeps)
{
	uint32_t L, F, O, from;
	int64_t s, last;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	O = other(L, F);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	M[L].now_ms = ens_next_ms(M[L].r);
	settle(L);
	deliver();
	last = M[L].r->last_applied;
	from = M[F].nout;
	push_create(F, 1, 1, s, "/late");
	settle(F);
	for (uint32_t k = 0; k < 10 && M[L].r->last_appended <= last; k++)
		step(L);
	cr_assert_gt(M[L].r->last_appended, last, "the leader proposed the write");
	settle(O);
	settle(F);
	for (uint32_t k = 0; k < 10 && M[L].r->last_applied <= last; k++)
		step(L);
	cr_assert_gt(M[L].r->last_applied, last, "the leader committed the write");
	cr_assert(frames_for(F), "the commit is on its way to the follower");
	cr_assert_eq(find_out(F, from, 1), -1);
	late_to = F;
	late_polls = 0;
	settle(F);
	cr_assert_eq(late_to, 0, "the late poll read the commit");
	cr_assert_geq(find_out(F, from, 1), 0,
		      "the follower would sleep with the commit of its client's write unapplied");
	cr_assert_eq(result_err(&M[F].out[find_out(F, from, 1)]), ZK_OK);
	cr_assert_eq(bad_answers, 0);
}

/* Snapshot metas (ensmeta.*) member i has written. */
static uint32_t metas(uint32_t i)
{
	char dir[700];
	struct dirent *d;
	uint32_t n = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/m%u/cheetah-1", tdir, i);
	dp = opendir(dir);
	cr_assert_not_null(dp, "%s", dir);
	while ((d = readdir(dp)))
		n += strncmp(d->d_name, "ensmeta.", 8) == 0;
	closedir(dp);
	return n;
}

/*
 * While member f is paused and cut off, its leader L takes writes (a
 * client of L's) until it has written three more snapshots (it compacts
 * its log as it writes each: to the one before), so that its
 * log starts past what f holds; then f returns and runs until it
 * installed L's snapshot live (REPL_OUT_TREE on its worker's ring).  The
 * link L -> f is cut (its queue lost) right behind the message that
 * installs it when cut_after_install.  Returns the index of the
 * REPL_OUT_TREE in f's messages.
 */
static uint32_t lag_and_install(uint32_t L, uint32_t f, bool cut_after_install)
{
	uint32_t before = metas(L), xid = 0;
	int64_t sl;

	M[f].paused = true;
	set_links(f, false);
	sl = connect_new(L, 9, false);
	cr_assert(sl);
	for (uint32_t k = 0; k < 400 && metas(L) < before + 3; k++) {
		char path[32];
		uint32_t from = M[L].nout;

		snprintf(path, sizeof(path), "/k%03u", k);
		push_create(L, 9, (int32_t)++xid, sl, path);
		cr_assert_eq(result_err(wait_out(L, from, 9)), ZK_OK);
		usleep(2000); /* snapdir's thread writes meanwhile (real time) */
	}
	/* (three: one requested before the pause may land after it) */
	cr_assert_geq(metas(L), before + 3, "the leader snapshots three times");
	run(20, 10);
	M[f].paused = false;
	set_links(f, true);
	for (uint32_t k = 0; k < 3000; k++) {
		uint32_t from = M[f].nout;

		for (uint32_t i = 1; i <= N; i++) {
			if (i == f && cut_after_install)
				continue;
			M[i].now_ms += 10;
			step(i);
		}
		if (cut_after_install) {
			M[f].now_ms += 10;
			step(f);
		}
		for (uint32_t m = from; m < M[f].nout; m++) {
			if (M[f].out[m].kind != REPL_OUT_TREE)
				continue;
			if (cut_after_install)
				set_links(f, false);
			return m;
		}
		usleep(200);
	}
	cr_assert_fail("member %u never installed its leader's snapshot", f);
	return 0;
}

/*
 * ensfix finding 2 (6b2ccd2).  A follower installs its leader's
 * snapshot live and is cut off before the read index of its catch-up
 * came back: its tree is the leader's fuzzy walk, a state no client may
 * read.  Past the read-only grace period (readonlymode.enabled) it
 * entered read-only mode and gave read-only clients sessions on that
 * tree.  With the fix it stays looking and refuses them; once back with
 * its leader it catches up and serves.
 */
Test(ensemble, no_read_only_clients_before_a_live_install_caught_up)
{
	const char *const ro[] = {"readonlymode.enabled=true", "snapCount=10", NULL};
	uint32_t L, F;

	cluster_open(ro);
	L = elect();
	F = other(L, 0);
	lag_and_install(L, F, true);
	/* Alone past the leader's silence and the read-only grace period (2 s). */
	for (uint32_t k = 0; k < 400; k++) {
		M[F].now_ms += 10;
		step(F);
	}
	cr_assert_eq(connect_new(F, 7, true), 0,
		     "a read-only client got a session on a tree that has not caught up");
	cr_assert_eq(M[F].out[M[F].nout - 1].kind, REPL_OUT_EXPIRE, "its connect is closed");
	cr_assert(is_state(F, "looking"), "member %u: %s", F, ens_state(M[F].r));
	/* Back with its leader: it catches up and serves. */
	set_links(F, true);
	for (uint32_t k = 0; k < 1000 && !is_state(F, "follower"); k++)
		run(1, 10);
	cr_assert(is_state(F, "follower"));
	for (uint32_t k = 0; k < 1000; k++) {
		int64_t s = connect_new(F, 8 + k, false);

		if (s)
			break;
		cr_assert_lt(k, 999, "the member never serves again");
	}
	cr_assert_eq(bad_answers, 0);
}

/*
 * ensfix finding 4 (4ca6a80).  A follower's client closes its session
 * and pipelines a create after it; the leader answers the create
 * SESSIONEXPIRED (the session is closing) by an F_ANS naming the
 * close's zxid, and the link to the follower breaks right behind that
 * answer (the append carrying the close is lost).  The follower, paused
 * while the leader writes past two snapshots, comes back and installs
 * the leader's snapshot live.  The answered entry waited for a zxid the
 * install skips: it stayed in the learner FIFO and was answered after
 * the tree switch, against the new tree.  With the fix the FIFO is
 * empty before the switch: every request from before it is answered or
 * its connection closed before REPL_OUT_TREE, nothing after it names one
 * (repl.h: everything after the message concerns the new tree).
 */
Test(ensemble, the_learner_fifo_is_empty_before_a_live_install)
{
	const char *const snap[] = {"snapCount=10", NULL};
	uint32_t L, F, t, from;
	int64_t sa;

	cluster_open(snap);
	L = elect();
	F = other(L, 0);
	sa = connect_new(F, 1, false);
	cr_assert(sa);
	run(5, 10);
	from = M[F].nout;
	push(F, REPL_IN_CLOSE, 1, 5, sa, NULL);
	push_create(F, 1, 6, sa, "/w");
	M[F].now_ms += 1;
	step(F);
	M[L].now_ms += 1;
	step(L); /* prepped: the close, and the create's answer (held) */
	cut_from = L;
	cut_to = F;
	cut_type = F_ANS;
	M[L].now_ms += 1;
	step(L); /* the close proposed, the answer sent, the link broken behind it */
	cr_assert(!link_up[L][F] && cut_from == 0, "the answer left");
	M[F].now_ms += 1;
	step(F); /* the answer arrives; the close it names does not */
	cr_assert_eq(find_out(F, from, 1), -1, "nothing answered yet");
	t = lag_and_install(L, F, false);
	for (uint32_t m = t + 1; m < M[F].nout; m++)
		cr_assert(M[F].out[m].conn != 1,
			  "message kind %u for connection 1 (xid %d) after the tree switch",
			  M[F].out[m].kind, M[F].out[m].xid);
	cr_assert(find_out(F, from, 1) >= 0 && (uint32_t)find_out(F, from, 1) < t &&
		      M[F].out[find_out(F, from, 1)].kind == REPL_OUT_EXPIRE,
		  "connection 1 closed before the switch");
	/* It catches up and holds what the others hold. */
	for (uint32_t k = 0; k < 1000 && !is_state(F, "follower"); k++)
		run(1, 10);
	run(50, 10);
	cr_assert(is_state(F, "follower"));
	cr_assert_eq(M[F].r->last_applied, M[L].r->last_applied);
	cr_assert(!exists(F, "/w") && exists(F, "/k000"));
	cr_assert_null(sess_find(M[F].r->sess, sa), "the close committed");
	cr_assert_eq(bad_answers, 0);
}

/* The newest snapshot of member i that has its ensmeta, and every log file, into dst. */
static void backup(uint32_t i, const char *dst)
{
	char dir[700], path[1024];
	struct dirent *d;
	char best[64] = "";
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/m%u/cheetah-1", tdir, i);
	dp = opendir(dir);
	cr_assert_not_null(dp);
	while ((d = readdir(dp))) {
		if (strncmp(d->d_name, "snapshot.", 9) || strlen(d->d_name) != 25)
			continue;
		snprintf(path, sizeof(path), "%s/ensmeta.%s", dir, d->d_name + 9);
		if (access(path, F_OK) == 0 && strcmp(d->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", d->d_name);
	}
	closedir(dp);
	cr_assert(best[0], "member %u has a snapshot with its meta", i);
	cr_assert_eq(mkdir(dst, 0700), 0);
	/* Not the hardstate, nor the snapshots other than best. */
	dp = opendir(dir);
	cr_assert_not_null(dp);
	while ((d = readdir(dp))) {
		bool log = strncmp(d->d_name, "log.", 4) == 0;
		bool snap = strcmp(d->d_name, best) == 0;
		bool meta =
		    strncmp(d->d_name, "ensmeta.", 8) == 0 && strcmp(d->d_name + 8, best + 9) == 0;
		char from[1024], to[1024];

		if (!log && !snap && !meta)
			continue;
		snprintf(from, sizeof(from), "%s/%s", dir, d->d_name);
		snprintf(to, sizeof(to), "%s/%s", dst, d->d_name);
		cr_assert_eq(link(from, to), 0, "%s", from);
	}
	closedir(dp);
}

/*
 * Restoring a whole ensemble from one member's copy (docs/OPERATIONS.md):
 * the newest snapshot with its ensmeta and every log file of a follower,
 * no hardstate, into every member's emptied data dir.  Each starts in the
 * term of its data with no vote (ens_open; before, the consensus core
 * refused a log of term 1 in term 0 and the member did not start), they
 * elect, and every member holds the copy's state, applies the same
 * zxids, and takes new writes.
 */
Test(ensemble, a_whole_ensemble_restored_from_one_members_copy)
{
	const char *const snap[] = {"snapCount=10", NULL};
	char copy[700], dir[700];
	uint32_t L, F, xid = 0;
	int64_t sl, last;

	cluster_open(snap);
	L = elect();
	F = other(L, 0);
	sl = connect_new(L, 9, false);
	cr_assert(sl);
	for (uint32_t k = 0; k < 40; k++) {
		char path[32];
		uint32_t from = M[L].nout;

		snprintf(path, sizeof(path), "/k%03u", k);
		push_create(L, 9, (int32_t)++xid, sl, path);
		cr_assert_eq(result_err(wait_out(L, from, 9)), ZK_OK);
		usleep(2000); /* snapdir's thread writes meanwhile (real time) */
	}
	run(30, 10);
	last = M[F].r->last_applied;
	cr_assert_eq(last, M[L].r->last_applied, "the follower applied everything");
	snprintf(copy, sizeof(copy), "%s/copy", tdir);
	backup(F, copy);
	for (uint32_t i = 1; i <= N; i++) {
		member_close(i);
		snprintf(dir, sizeof(dir), "%s/m%u", tdir, i);
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
	while (fq_head) {
		struct frame *f = fq_head;

		fq_head = f->next;
		free(f);
	}
	fq_tail = &fq_head;
	restore_src = copy;
	cluster_open(snap);
	restore_src = NULL;
	L = elect();
	run(30, 10);
	for (uint32_t i = 1; i <= N; i++) {
		cr_assert_geq(M[i].r->last_applied, last,
			      "member %u applied 0x%llx, the copy 0x%llx", i,
			      (unsigned long long)M[i].r->last_applied, (unsigned long long)last);
		for (uint32_t k = 0; k < 40; k++) {
			char path[32];

			snprintf(path, sizeof(path), "/k%03u", k);
			cr_assert(exists(i, path), "member %u lacks %s", i, path);
		}
	}
	sl = connect_new(L, 9, false);
	cr_assert(sl);
	{
		uint32_t from = M[L].nout;

		push_create(L, 9, 1, sl, "/after");
		cr_assert_eq(result_err(wait_out(L, from, 9)), ZK_OK);
	}
	run(30, 10);
	for (uint32_t i = 1; i <= N; i++) {
		cr_assert(exists(i, "/after"), "member %u", i);
		cr_assert_eq(M[i].r->last_applied, M[L].r->last_applied);
		cr_assert_eq(tree_node_count(repl_tree(M[i].r)),
			     tree_node_count(repl_tree(M[L].r)));
	}
	cr_assert_eq(bad_answers, 0);
}

/* ------------------------------------------------------------------ */
/* Bounds on forwarded requests                                        */

/*
 * docs/OPERATIONS.md's bounds: a follower keeps at most FWD_MAX
 * requests in flight to its leader (ensemble.h ENS_FWD_MAX); the leader
 * keeps at most 4 times that of one member (ensemble.c FWD_LEADER_MAX).
 */
#define FWD_MAX 8192u
#define FWD_LEADER_MAX (4u * FWD_MAX)

static uint32_t frames_of(uint32_t from, uint32_t to, uint16_t type)
{
	uint32_t n = 0;

	for (const struct frame *f = fq_head; f; f = f->next)
		n += f->from == from && f->to == to && f->type == type;
	return n;
}

/* Pushes creates /<prefix><xid> for xids [*xid, end) while the ring takes them. */
static void push_creates(uint32_t i, uint32_t conn, int64_t session, const char *prefix,
			 int32_t *xid, int32_t end)
{
	char path[32];

	while (*xid < end && ring_count(repl_in_ring(M[i].r, 0)) < RING_SIZE_TEST) {
		snprintf(path, sizeof(path), "/%s%d", prefix, *xid);
		push_create(i, conn, *xid, session, path);
		(*xid)++;
	}
}

/*
 * A follower whose clients send faster than its leader answers (here:
 * the leader does not step while the follower takes three ringfuls of
 * creates) forwards FWD_MAX of them and leaves the rest in its worker's
 * ring (the dataplane's backpressure), instead of queueing all of them
 * at the leader.  Nothing is dropped: once the leader steps, every
 * create is applied and answered, in the order sent.
 */
Test(ensemble, a_flooded_follower_forwards_no_more_than_its_bound_and_drops_nothing)
{
	const int32_t total = (int32_t)(FWD_MAX + RING_SIZE_TEST);
	uint32_t L, F, from;
	int32_t xid = 1, want = 1;
	int64_t s;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	deliver();
	from = M[F].nout;
	for (int round = 0; round < 4 && xid < total; round++) {
		push_creates(F, 1, s, "f", &xid, total);
		settle(F); /* the leader does not step: the frames wait for it */
		cr_assert_leq(frames_of(F, L, F_REQ), FWD_MAX, "round %d: %u requests forwarded",
			      round, frames_of(F, L, F_REQ));
	}
	cr_assert_eq(xid, total, "the test pushed everything");
	cr_assert_eq(frames_of(F, L, F_REQ), FWD_MAX);
	cr_assert_eq(ring_count(repl_in_ring(M[F].r, 0)), (uint32_t)(total - 1 - (int32_t)FWD_MAX),
		     "the rest waits in the worker's ring");
	/* The leader steps: everything goes through, in order. */
	for (uint32_t k = 0; k < 3000 && want < total; k++) {
		run(1, 10);
		for (uint32_t at = from; at < M[F].nout; at++) {
			const struct repl_out *o = &M[F].out[at];

			if (o->conn != 1 ||
			    (o->kind != REPL_OUT_RESULT && o->kind != REPL_OUT_EXPIRE))
				continue;
			cr_assert_eq(o->kind, REPL_OUT_RESULT, "kind %u at xid %d", o->kind, want);
			cr_assert_eq(o->xid, want, "answers out of order");
			cr_assert_eq(result_err(o), ZK_OK, "xid %d: %d", want, result_err(o));
			want++;
		}
		from = M[F].nout;
	}
	cr_assert_eq(want, total, "%d of %d creates answered", want - 1, total - 1);
	cr_assert(exists(L, "/f1") && exists(L, "/f12287") && exists(F, "/f12287"));
}

/* A create /<path>'s F_REQ frame, as a follower forwards it. */
static void inject_create(uint32_t from, uint32_t to, int64_t session, int32_t xid,
			  const char *path)
{
	size_t pl = strlen(path), wl;
	struct repl_write *w = repl_write_new(pl + 64, 1, 0);
	struct repl_write_req *rq;
	struct ens_fwd_req h = {.kind = FK_WRITE, .cxid = xid, .session = session};
	uint8_t *p, *buf;

	cr_assert_not_null(w);
	rq = repl_write_reqs(w);
	w->op = ZK_OP_CREATE;
	p = w->storage;
	rq->type = ZK_OP_CREATE;
	rq->version = -1;
	rq->ttl = -1;
	memcpy(p, path, pl);
	rq->path = repl_write_span(w, p, (int32_t)pl);
	p += pl;
	rq->data = (struct repl_span){0, -1};
	rq->acl = repl_write_span(w, p, (int32_t)put_world_acl(p));
	rq->acl_count = 1;
	cr_assert_eq(repl_write_check(w, w->size), 0);
	wl = repl_write_wire_size(w);
	h.body_len = (uint32_t)wl;
	buf = malloc(ENS_FWD_REQ_SIZE + wl);
	cr_assert_not_null(buf);
	ens_fwd_req_encode(&h, buf);
	repl_write_encode(w, buf + ENS_FWD_REQ_SIZE);
	cr_assert_eq(peer_send(P[from], to, F_REQ, buf, ENS_FWD_REQ_SIZE + wl), 0);
	free(buf);
	free(w);
}

/* The F_ANS frames from -> to for session with err, counted. */
static uint32_t answers_of(uint32_t from, uint32_t to, int64_t session, int32_t err,
			   int32_t *min_xid)
{
	uint32_t n = 0;

	*min_xid = INT32_MAX;
	for (const struct frame *f = fq_head; f; f = f->next) {
		struct ens_fwd_ans a;

		if (f->from != from || f->to != to || f->type != F_ANS)
			continue;
		cr_assert_eq(ens_fwd_ans_decode(f->data, f->len, &a), 0);
		if (a.session != session || a.err != err)
			continue;
		n++;
		if (a.cxid < *min_xid)
			*min_xid = a.cxid;
	}
	return n;
}

/*
 * A misbehaving follower (its bound ignored: the frames are the test's)
 * sends its leader more than FWD_LEADER_MAX writes at once.  The leader
 * takes FWD_LEADER_MAX of them and refuses the rest, none silently:
 * each gets ZK_CONNECTIONLOSS (its connection is closed).  So that no
 * later write of the session runs without the refused ones (FIFO
 * order), the session's later writes are answered SESSIONMOVED, from
 * any member, until a reconnect claims it.
 */
Test(ensemble, a_leader_refuses_what_a_follower_forwards_beyond_its_bound)
{
	const int32_t extra = 10, total = (int32_t)FWD_LEADER_MAX + extra;
	uint32_t L, F, O;
	int32_t min_xid;
	int64_t s;
	char path[32];

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	O = other(L, F);
	s = connect_new(F, 1, false);
	cr_assert(s);
	run(5, 10);
	deliver();
	for (int32_t x = 1; x <= total; x++) {
		snprintf(path, sizeof(path), "/m%d", x);
		inject_create(F, L, s, x, path);
	}
	step(L); /* takes every frame in one poll */
	cr_assert_eq(frames_of(F, L, F_REQ), 0, "the leader read them all");
	cr_assert_leq(M[L].r->qlen, FWD_LEADER_MAX + 4, "the leader keeps %u requests",
		      M[L].r->qlen);
	cr_assert_eq(answers_of(L, F, s, ZK_CONNECTIONLOSS, &min_xid), (uint32_t)extra,
		     "each refused write is answered");
	cr_assert_eq(min_xid, total - extra + 1, "the last ones are refused");
	/* What it took is applied (the test's follower answers nobody). */
	for (uint32_t k = 0; k < 3000 && !exists(L, "/m32768"); k++)
		run(1, 10);
	cr_assert(exists(L, "/m1") && exists(L, "/m32768"));
	cr_assert(!exists(L, "/m32769"), "a refused write was applied");
	/* A later write of the session, forwarded by either follower: SESSIONMOVED. */
	deliver();
	inject_create(F, L, s, total + 1, "/after");
	inject_create(O, L, s, total + 2, "/after2");
	step(L);
	cr_assert_eq(answers_of(L, F, s, ZK_SESSIONMOVED, &min_xid), 1);
	cr_assert_eq(min_xid, total + 1);
	cr_assert_eq(answers_of(L, O, s, ZK_SESSIONMOVED, &min_xid), 1);
	run(20, 10);
	cr_assert(!exists(L, "/after") && !exists(L, "/after2"));
}

/*
 * Member i's answer to a create of session on conn: its error, or
 * INT32_MIN when the connection was closed instead (REPL_OUT_EXPIRE).
 */
static int32_t create_via(uint32_t i, uint32_t conn, int64_t session, int32_t xid, const char *path)
{
	uint32_t from = M[i].nout;
	struct repl_out *o;

	push_create(i, conn, xid, session, path);
	/* Behind what the leader took: a few thousand rounds at most. */
	for (uint32_t k = 0; k < 3000 && find_out(i, from, conn) < 0; k++)
		run(1, 10);
	o = wait_out(i, from, conn);
	if (o->kind == REPL_OUT_EXPIRE)
		return INT32_MIN;
	cr_assert_eq(o->kind, REPL_OUT_RESULT);
	cr_assert_eq(o->xid, xid);
	return result_err(o);
}

/*
 * The cut (SESS_MEMBER_CUT) is there so that nothing a session sent on
 * the refusing follower after the refused request runs.  A session that
 * another member owns (its client reconnected there) has nothing to
 * protect on the refusing follower: the leader would have answered its
 * stale request SESSIONMOVED anyway.  Refusing a flooded follower's
 * stale frame must not take the session from the member its client is
 * connected to: its next write there succeeds.
 */
Test(ensemble, a_refusal_leaves_a_session_another_member_owns_alone)
{
	uint32_t L, F, O;
	int32_t min_xid, rc;
	int64_t s, flood;
	char path[32];

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	O = other(L, F);
	s = connect_new(O, 1, false); /* owned by O */
	flood = connect_new(F, 1, false);
	cr_assert(s && flood);
	run(5, 10);
	deliver();
	/* F has as many requests at the leader as it may ... */
	for (int32_t x = 1; x <= (int32_t)FWD_LEADER_MAX; x++) {
		snprintf(path, sizeof(path), "/m%d", x);
		inject_create(F, L, flood, x, path);
	}
	/* ... and a stale write of s (an old connection of its client) comes after. */
	inject_create(F, L, s, 7, "/stale");
	step(L);
	cr_assert_eq(frames_of(F, L, F_REQ), 0, "the leader read them all");
	cr_assert_eq(answers_of(L, F, s, ZK_CONNECTIONLOSS, &min_xid), 1,
		     "the stale write refused");
	/* s's client, on O, goes on. */
	rc = create_via(O, 1, s, 1, "/o1");
	cr_assert_eq(rc, ZK_OK, "the session's write on its own member failed (%d%s)", rc,
		     rc == INT32_MIN ? ": its connection closed" : "");
	cr_assert(exists(L, "/o1") && !exists(L, "/stale"));
}

/*
 * A session cut at the leader (a refused request of its follower) gets
 * its writes back once its client reconnects: the reconnect's
 * revalidation claims it for the member it reached.
 */
Test(ensemble, a_cut_session_writes_again_after_its_client_reconnects)
{
	uint32_t L, F, from;
	int32_t min_xid;
	int64_t s;
	uint8_t pw[16];
	struct repl_connect *c;
	struct repl_out *o;
	char path[32];

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	from = M[F].nout;
	s = connect_new(F, 1, false);
	cr_assert(s);
	o = &M[F].out[find_out(F, from, 1)];
	memcpy(pw, ((struct repl_connected *)o->body)->passwd, sizeof(pw));
	run(5, 10);
	deliver();
	for (int32_t x = 1; x <= (int32_t)FWD_LEADER_MAX + 1; x++) {
		snprintf(path, sizeof(path), "/m%d", x);
		inject_create(F, L, s, x, path);
	}
	step(L);
	cr_assert_eq(answers_of(L, F, s, ZK_CONNECTIONLOSS, &min_xid), 1);
	for (uint32_t k = 0; k < 3000 && !exists(F, "/m32768"); k++)
		run(1, 10);
	cr_assert(exists(F, "/m32768"));
	/* Cut: a write on F now closes its connection. */
	cr_assert_eq(create_via(F, 1, s, 40000, "/cut"), INT32_MIN);
	/* The client reconnects to F with its session: revalidated, claimed. */
	c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->session = s;
	c->timeout = 30000;
	memcpy(c->passwd, pw, sizeof(pw));
	c->passwd_len = sizeof(pw);
	from = M[F].nout;
	push(F, REPL_IN_CONNECT, 2, 0, 0, c);
	o = wait_out(F, from, 2);
	cr_assert_eq(o->kind, REPL_OUT_CONNECTED);
	cr_assert_eq(((struct repl_connected *)o->body)->err, ZK_OK);
	cr_assert_eq(create_via(F, 2, s, 40001, "/back"), ZK_OK);
	cr_assert(exists(L, "/back") && !exists(L, "/cut"));
}

/*
 * obsflap: a learner at its forwarding bound (ens_learner_full: it takes
 * no input from its workers, touches included) whose link to its leader
 * breaks.  What it forwarded is lost with the link; it must take input
 * again well before LQ_TIMEOUT_TICKS (40 ticks), else its clients'
 * pings wait that long in the ring and their sessions may expire at the
 * leader.  The waiting requests' connections are closed (ZooKeeper's
 * learner closes every client connection when it loses its leader:
 * Learner.shutdown -> closeAllConnections), and so are those the ring
 * still held (the leader is unreachable: nothing is forwarded).  With
 * pause_leader the leader goes silent instead (paused, the link up):
 * given up after syncLimit tickTimes (ZooKeeper's learner read timeout).
 * Returns the rounds of 10 ms (a raft tick is 50 ms) until the learner
 * took everything from its ring and is below its bound (each round ends
 * as core_main would: the learner iterates while it finds work).
 */
#define FLAP_MAX_ROUNDS 400 /* 4 s: past LQ_TIMEOUT_TICKS (2 s here) */

static uint32_t flap_at_bound(uint32_t L, uint32_t F, bool pause_leader)
{
	const int32_t total = (int32_t)(FWD_MAX + RING_SIZE_TEST / 2);
	int32_t xid = 1;
	uint32_t from, rounds, expired = 0;
	int64_t s, s2;

	s = connect_new(F, 1, false);
	s2 = connect_new(F, 2, false);
	cr_assert(s && s2);
	run(5, 10);
	deliver();
	/* The leader does not step: F forwards up to its bound, the rest waits in the ring. */
	for (int round = 0; round < 4 && xid < total; round++) {
		push_creates(F, 1, s, "f", &xid, total);
		settle(F);
	}
	cr_assert_eq(xid, total, "the test pushed everything");
	cr_assert(ens_learner_full(M[F].r), "the learner is at its bound");
	push(F, REPL_IN_TOUCH, 2, 0, s2, NULL); /* a ping behind the creates */
	settle(F);
	cr_assert(ens_learner_full(M[F].r));
	cr_assert_gt(ring_count(repl_in_ring(M[F].r, 0)), 0, "input waits in the worker's ring");
	from = M[F].nout;
	if (pause_leader) {
		M[L].paused = true; /* silent: its link stays up, nothing comes back */
	} else {
		/* The link between F and its leader breaks: what was on it is lost. */
		link_up[F][L] = link_up[L][F] = false;
		drop_queued(F, L);
		drop_queued(L, F);
	}
	for (rounds = 1; rounds <= FLAP_MAX_ROUNDS; rounds++) {
		run(1, 10);
		settle(F); /* the core iterates at once while it takes input (IN_BURST a pass) */
		if (ring_count(repl_in_ring(M[F].r, 0)) == 0 && !ens_learner_full(M[F].r))
			break;
	}
	cr_assert_leq(rounds, FLAP_MAX_ROUNDS,
		      "the learner took no input for %u rounds (%u ticks) after its leader "
		      "link broke: %u requests still in its ring",
		      FLAP_MAX_ROUNDS, FLAP_MAX_ROUNDS / 5, ring_count(repl_in_ring(M[F].r, 0)));
	/* The waiting creates' connection was closed (connection loss), never answered wrong. */
	for (uint32_t at = from; at < M[F].nout; at++) {
		const struct repl_out *o = &M[F].out[at];

		if (o->conn != 1)
			continue;
		if (o->kind == REPL_OUT_EXPIRE)
			expired++;
		else if (o->kind == REPL_OUT_RESULT)
			cr_assert_eq(result_err(o), ZK_OK, "xid %d answered %d", o->xid,
				     result_err(o));
	}
	cr_assert_gt(expired, 0, "the lost requests' connection was closed");
	return rounds;
}

/* Well before the 40-tick timeout: 4 ticks (a follower's turn to give up is a fraction of one). */
#define FLAP_BOUND_ROUNDS 20

Test(ensemble, an_observer_at_its_bound_takes_input_again_once_its_leader_link_breaks)
{
	uint32_t L, rounds;

	obs_id = 3;
	cluster_open(NULL);
	L = elect();
	cr_assert(L != obs_id && is_state(obs_id, "observer"));
	rounds = flap_at_bound(L, obs_id, false);
	cr_assert_leq(rounds, FLAP_BOUND_ROUNDS,
		      "the observer took input again only after %u rounds (%u ticks)", rounds,
		      rounds / 5);
}

Test(ensemble, a_follower_at_its_bound_takes_input_again_once_its_leader_link_breaks)
{
	uint32_t L, F, rounds;

	cluster_open(NULL);
	L = elect();
	F = other(L, 0);
	rounds = flap_at_bound(L, F, false);
	cr_assert_leq(rounds, FLAP_BOUND_ROUNDS,
		      "the follower took input again only after %u rounds (%u ticks)", rounds,
		      rounds / 5);
}

/* SILENCE_MS is 50 rounds: given up then, not after LQ_TIMEOUT_TICKS (200 rounds). */
#define SILENT_BOUND_ROUNDS (SILENCE_MS / 10 + FLAP_BOUND_ROUNDS)

Test(ensemble, an_observer_at_its_bound_takes_input_again_once_its_leader_is_silent)
{
	uint32_t L, rounds;

	obs_id = 3;
	cluster_open(NULL);
	L = elect();
	cr_assert(L != obs_id && is_state(obs_id, "observer"));
	rounds = flap_at_bound(L, obs_id, true);
	cr_assert_leq(rounds, SILENT_BOUND_ROUNDS,
		      "the observer took input again only after %u rounds (%u ticks)", rounds,
		      rounds / 5);
}
