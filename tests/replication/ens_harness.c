// SPDX-License-Identifier: Apache-2.0
/*
 * The step-by-step ensemble harness (ens_harness.h says what it fakes
 * and why a run is deterministic).  This executable's definitions of
 * clock_gettime, getrandom, pwrite and the peer transport (peer.h) are
 * the ones the library's calls bind to.
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
#include "tests/replication/ens_harness.h"

/* ---- Simulated clock and randomness ---- */

int64_t fake_ns; /* what CLOCK_MONOTONIC says now (0: the real clock) */

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int64_t ns = __atomic_load_n(&fake_ns, __ATOMIC_RELAXED);

	if (id != CLOCK_MONOTONIC || ns == 0)
		return (int)syscall(SYS_clock_gettime, id, ts);
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return 0;
}

uint64_t rnd_state = 0x5eed;

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


/* ---- The network: this executable's peer transport ---- */


struct peer {
	uint32_t id;
	struct peer_callbacks cb;
	int efd;
	bool reported[N + 1]; /* PEER_EV_CONNECTED told */
};

struct peer *P[N + 1];
bool link_up[N + 1][N + 1]; /* [from][to] */
struct frame *fq_head, **fq_tail = &fq_head;
/* Frames of type cut_type from cut_from to cut_to: the first one passes, the link breaks after it.
 */
uint32_t cut_from, cut_to;
uint16_t cut_type;

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

void (*frame_sent_hook)(const struct frame *f);
void (*frame_recv_hook)(const struct frame *f, bool after);

int peer_send(struct peer *p, uint32_t to, uint16_t type, const void *payload, size_t len)
{
	struct frame *f;

	if (to < 1 || to > N || to == p->id || type == 0)
		return -EINVAL;
	f = malloc(sizeof(*f) + len);
	cr_assert_not_null(f);
	*f = (struct frame){.from = p->id, .to = to, .type = type, .len = len};
	memcpy(f->data, payload, len);
	if (frame_sent_hook)
		frame_sent_hook(f);
	if (!link_up[p->id][to]) {
		free(f);
		return -ENOTCONN;
	}
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
void drop_queued(uint32_t from, uint32_t to)
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

uint32_t bad_answers; /* F_ANS naming a zxid not in its sender's log */

/*
 * Revalidations (FK_REVALIDATE) delivered to a leader and not answered
 * yet, by member and session: their answer is not a marker's.
 */
#define FK_REVALIDATE 5
#define MAX_REVAL 64
static struct {
	uint32_t from;
	int64_t session;
} reval[MAX_REVAL];
static uint32_t nreval;

static void note_revalidate(const struct frame *f)
{
	struct ens_fwd_req h;

	if (ens_fwd_req_decode(f->data, f->len, &h) || h.kind != FK_REVALIDATE)
		return;
	if (nreval == MAX_REVAL)
		memmove(reval, reval + 1, --nreval * sizeof(reval[0]));
	reval[nreval].from = f->from;
	reval[nreval].session = h.session;
	nreval++;
}

/* Whether f answers a revalidation (and forgets that one). */
static bool answers_revalidate(const struct frame *f)
{
	struct ens_fwd_ans a;

	if (ens_fwd_ans_decode(f->data, f->len, &a) || a.cxid != 0)
		return false;
	for (uint32_t k = 0; k < nreval; k++) {
		if (reval[k].from != f->to || reval[k].session != a.session)
			continue;
		memmove(reval + k, reval + k + 1, (--nreval - k) * sizeof(reval[0]));
		return true;
	}
	return false;
}

/*
 * The zxid after which the follower answers (ensemble.c's struct
 * fwd_ans: session, after, cxid, err) must be one the leader proposed
 * (or applied) by the time the answer arrives, else the leader may still
 * give that zxid to another txn (ens_answer_marker).  after is read in
 * host and in network byte order, and the smaller taken (unsigned): the
 * other order of a real zxid is far above anything proposed, so this
 * holds whichever order the frames use.
 *
 * Not for a revalidation's answer: it names everything prepped
 * (prepped_zxid), proposed or not, and the follower only catches up
 * that far before it checks the session on its own applied state (a
 * committed state at least that new, whichever txn ends up with that
 * zxid), so a zxid reused after a leader dropped what it had not
 * proposed cannot make its answer wrong.  (Seen by test_ensrand.)
 */
static void check_ans(const struct frame *f)
{
	const struct repl *r = repl_of(f->from);
	uint64_t host, net, after, bound;

	cr_assert_eq(f->len, 24);
	if (answers_revalidate(f))
		return;
	memcpy(&host, f->data + 8, 8);
	net = be64toh(host);
	after = host < net ? host : net;
	bound = (uint64_t)(r->last_appended > r->last_applied ? r->last_appended : r->last_applied);
	if (after > bound) {
		struct ens_fwd_ans a = {0};

		(void)ens_fwd_ans_decode(f->data, f->len, &a);
		fprintf(stderr,
			"an answer from server %u to %u (session 0x%llx, cxid %d, err %d) names "
			"zxid 0x%llx; the sender proposed up to 0x%llx and applied up to 0x%llx\n",
			f->from, f->to, (unsigned long long)a.session, a.cxid, a.err,
			(unsigned long long)after, (unsigned long long)r->last_appended,
			(unsigned long long)r->last_applied);
		bad_answers++;
	}
}

/*
 * Frames that arrive in the middle of member late_to's next step: its
 * first peer_poll of the step finds none, and it has sends queued
 * (peer_has_pending), so ensemble.c's late poll, the one that flushes
 * them, reads what waits.  One step only.
 */
uint32_t late_to, late_polls;

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
		else if (f->type == F_REQ)
			note_revalidate(f);
		if (frame_recv_hook)
			frame_recv_hook(f, false);
		p->cb.on_frame(p->cb.arg, f->from, f->type, f->data, f->len);
		if (frame_recv_hook)
			frame_recv_hook(f, true);
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

void set_links(uint32_t i, bool up)
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


char tdir[512];
struct member M[N + 1];

struct repl *repl_of(uint32_t id)
{
	return M[id].r;
}

int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
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
const char *restore_src;
/* The member listed as an observer (server.N=...:observer, peerType), 0: none. */
uint32_t obs_id;

void member_open(uint32_t i, const char *const *extra)
{
	struct member *m = &M[i];
	struct cfg_error err;
	char line[800], dir[700];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/m%u", tdir, i);
	if (mkdir(dir, 0700) == 0) {
		if (restore_src)
			copy_dir(restore_src, dir, "cheetah-1");
		snprintf(line, sizeof(line), "%s/myid", dir);
		f = fopen(line, "w");
		cr_assert_not_null(f);
		fprintf(f, "%u\n", i);
		fclose(f);
	} else {
		cr_assert_eq(errno, EEXIST, "%s: %s", dir, strerror(errno));
		cr_assert_null(restore_src, "%s exists", dir);
	}
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
	struct repl_opts o = {
	    .cfg = &m->cfg, .nworkers = 1, .core = -1, .read_exec = harness_read_exec};
	cr_assert_eq(repl_open(&o, &m->r), 0);
	m->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	repl_set_worker_wakeup(m->r, 0, m->wake);
}

void cluster_open(const char *const *extra)
{
	for (uint32_t i = 1; i <= N; i++)
		for (uint32_t j = 1; j <= N; j++)
			link_up[i][j] = i != j;
	for (uint32_t i = 1; i <= N; i++)
		member_open(i, extra);
}

void setup(void)
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
void member_close(uint32_t i)
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

void teardown(void)
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
	nreval = 0;
	frame_sent_hook = NULL;
	frame_recv_hook = NULL;
	step_hook = NULL;
	urcu_qsbr_unregister_thread();
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	test_fini_no_leaks();
}



/* Takes what member i's worker got (the worker's side of a tree switch too). */
void collect(uint32_t i)
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
void (*step_hook)(uint32_t i, bool after);

uint32_t step(uint32_t i)
{
	struct member *m = &M[i];
	uint32_t work;
	int64_t last;
	uint64_t lt;

	wait_loaded(i);
	if (step_hook)
		step_hook(i, false);
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
	if (step_hook)
		step_hook(i, true);
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
uint32_t settle(uint32_t i)
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
bool frames_for(uint32_t i)
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
void deliver(void)
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
void run(uint32_t rounds, int64_t ms)
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

bool is_state(uint32_t i, const char *s)
{
	return strcmp(ens_state(M[i].r), s) == 0;
}

/* Runs until one member leads and the others not paused follow (or observe); returns it. */
uint32_t elect(void)
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

void push(uint32_t i, uint8_t kind, uint32_t conn, int32_t xid, int64_t session, void *body)
{
	struct repl_in m = {kind, conn, xid, session, body};

	cr_assert(ring_push(repl_in_ring(M[i].r, 0), &m), "in ring full");
}

/* The index in member i's received messages of the first at or after from for conn. */
int find_out(uint32_t i, uint32_t from, uint32_t conn)
{
	for (uint32_t k = from; k < M[i].nout; k++)
		if (M[i].out[k].conn == conn &&
		    (M[i].out[k].kind == REPL_OUT_RESULT || M[i].out[k].kind == REPL_OUT_READ ||
		     M[i].out[k].kind == REPL_OUT_CONNECTED || M[i].out[k].kind == REPL_OUT_EXPIRE))
			return (int)k;
	return -1;
}

/* Runs until member i's worker got an answer for conn after message from. */
struct repl_out *wait_out(uint32_t i, uint32_t from, uint32_t conn)
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
int64_t connect_new(uint32_t i, uint32_t conn, bool read_only)
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
size_t put_world_acl(uint8_t *p)
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
void push_create(uint32_t i, uint32_t conn, int32_t xid, int64_t session, const char *path)
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

int32_t result_err(const struct repl_out *o)
{
	const struct repl_result *res = o->body;

	cr_assert_eq(o->kind, REPL_OUT_RESULT);
	return res->nresults ? res->results[0].err : res->err;
}

bool exists(uint32_t i, const char *path)
{
	return tree_lookup(repl_tree(M[i].r), path, strlen(path)) != NULL;
}

/* The other two members than a (and b, when given). */
uint32_t other(uint32_t a, uint32_t b)
{
	for (uint32_t i = 1; i <= N; i++)
		if (i != a && i != b)
			return i;
	return 0;
}

uint32_t frames_of(uint32_t from, uint32_t to, uint16_t type)
{
	uint32_t n = 0;

	for (const struct frame *f = fq_head; f; f = f->next)
		n += f->from == from && f->to == to && f->type == type;
	return n;
}


/* A create /<path>'s F_REQ frame, as a follower forwards it. */
void inject_create(uint32_t from, uint32_t to, int64_t session, int32_t xid,
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
uint32_t answers_of(uint32_t from, uint32_t to, int64_t session, int32_t err,
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

void push_read(uint32_t i, uint32_t conn, int32_t xid, int64_t session, const char *path)
{
	size_t pl = strlen(path);
	struct repl_write *w = repl_write_new(pl, 1, 0);
	struct repl_write_req *rq;

	cr_assert_not_null(w);
	rq = repl_write_reqs(w);
	w->op = ZK_OP_GETCHILDREN;
	rq->type = ZK_OP_GETCHILDREN;
	rq->path = (struct repl_span){0, -1};
	memcpy(w->storage, path, pl);
	rq->data = repl_write_span(w, w->storage, (int32_t)pl);
	rq->acl = (struct repl_span){0, -1};
	rq->acl_count = -1;
	cr_assert_eq(repl_write_check(w, w->size), 0);
	push(i, REPL_IN_READ, conn, xid, session, w);
}

int harness_read_exec(void *ctx, struct tree *t, const struct repl_write *req,
		      struct repl_read_out **out)
{
	uint32_t n = req->nreqs;
	struct repl_read_out *o;

	(void)ctx;
	cr_assert_geq(n, 1);
	o = calloc(1, repl_read_out_size(n, 0, (size_t)n * 4));
	cr_assert_not_null(o);
	o->zxid = tree_last_zxid(t);
	o->nreads = n;
	o->nframes = n;
	o->len = n * 4;
	for (uint32_t i = 0; i < n; i++) {
		struct jute_buf path = repl_write_data(req, i);
		const struct tree_node *node = tree_lookup(t, (const char *)path.p, (size_t)path.len);
		uint32_t count = UINT32_MAX;
		struct zk_stat st;

		if (node) {
			tree_node_read(node, &st, NULL);
			count = (uint32_t)st.num_children;
		}
		repl_read_answers(o)[i] = (struct repl_read_ans){0, ZK_OK, 1, 4, 0};
		memcpy(repl_read_bytes(o) + 4 * i, &count, 4);
	}
	*out = o;
	return ZK_OK;
}
