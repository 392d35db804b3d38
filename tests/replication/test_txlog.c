// SPDX-License-Identifier: Apache-2.0
/*
 * The transaction log: round trips across files and rolls, replay from
 * any zxid, recovery of a torn tail at every byte offset, refusal of
 * damage in the middle, zxid order, purge, forceSync off, group commit
 * under concurrent appends, mntr's summaries (records per batch, fsync
 * ms, reset), disk errors (EIO injected into fdatasync, ENOSPC on a
 * 1 MiB tmpfs) and the zeros written ahead of the records (FIEMAP: no
 * unwritten extent just past them).
 *
 * Every test works in its own directory under $TMPDIR, removed by the
 * fixture; the zeros test needs it on a filesystem with unwritten
 * extents (ext4, xfs: /tmp here), and fails saying so on tmpfs.
 * Payloads are derived from their zxid, so replay checks content as
 * well as order.  This executable defines fdatasync(): the
 * log's calls bind to it, which lets tests count syncs, fail them with
 * EIO, slow them down, or hold the writer inside one (a gate) to see
 * double buffering.
 * Nothing sleeps to synchronise; every wait has a timeout.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/crc32c.h"
#include "common/jute.h"
#include "common/log.h"
#include "replication/txlog.h"
#include "tests/common/leakcheck.h"

/* ---- fdatasync interposition ---- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;  /* fdatasync blocks while set (10 s at most) */
static int gate_waiting;  /* syncs blocked at the gate */
static long sync_calls;	  /* every fdatasync in this process */
static long sync_fail_at; /* 0: never; else calls numbered >= this fail */
static int sync_fail_errno;
static int sync_delay_ms; /* every fdatasync first sleeps this long */
static long gate_pass;	  /* this call number passes the closed gate */
static long sync_returned; /* fdatasync calls that returned */

static void abs_deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int fdatasync(int fd)
{
	long n = __atomic_add_fetch(&sync_calls, 1, __ATOMIC_SEQ_CST);
	long fail_at = __atomic_load_n(&sync_fail_at, __ATOMIC_SEQ_CST);
	struct timespec dl;

	pthread_mutex_lock(&gate_mu);
	if (gate_closed) {
		gate_waiting++;
		pthread_cond_broadcast(&gate_cv);
		abs_deadline(&dl, 10000);
		while (gate_closed && gate_pass != n)
			if (pthread_cond_timedwait(&gate_cv, &gate_mu, &dl) == ETIMEDOUT)
				break;
		gate_waiting--;
	}
	pthread_mutex_unlock(&gate_mu);
	int delay = __atomic_load_n(&sync_delay_ms, __ATOMIC_SEQ_CST);
	if (delay) {
		struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000};

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	if (fail_at && n >= fail_at) {
		__atomic_add_fetch(&sync_returned, 1, __ATOMIC_SEQ_CST);
		errno = sync_fail_errno;
		return -1;
	}
	int rc = (int)syscall(SYS_fdatasync, fd);

	__atomic_add_fetch(&sync_returned, 1, __ATOMIC_SEQ_CST);
	return rc;
}

static void gate_close(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = true;
	pthread_mutex_unlock(&gate_mu);
}

/* Waits until the writer is held at the gate. */
static void gate_wait_held(void)
{
	struct timespec dl;
	int rc = 0;

	abs_deadline(&dl, 10000);
	pthread_mutex_lock(&gate_mu);
	while (!gate_waiting && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&gate_cv, &gate_mu, &dl);
	pthread_mutex_unlock(&gate_mu);
	cr_assert_eq(rc, 0, "the writer never reached fdatasync");
}

/* Waits until n syncs are held at the gate. */
static void gate_wait_n(int n)
{
	struct timespec dl;
	int rc = 0;

	abs_deadline(&dl, 10000);
	pthread_mutex_lock(&gate_mu);
	while (gate_waiting < n && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&gate_cv, &gate_mu, &dl);
	pthread_mutex_unlock(&gate_mu);
	cr_assert_eq(rc, 0, "%d writers never reached fdatasync", n);
}

/* Lets fdatasync call number n through the closed gate. */
static void gate_let(long n)
{
	pthread_mutex_lock(&gate_mu);
	gate_pass = n;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Waits until n fdatasync calls returned. */
static void wait_returned(long n)
{
	for (int i = 0; i < 10000 && __atomic_load_n(&sync_returned, __ATOMIC_SEQ_CST) < n; i++) {
		struct timespec ts = {0, 1000000};

		nanosleep(&ts, NULL);
	}
	cr_assert_geq(__atomic_load_n(&sync_returned, __ATOMIC_SEQ_CST), n);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = false;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static long syncs(void)
{
	return __atomic_load_n(&sync_calls, __ATOMIC_SEQ_CST);
}

/*
 * unlinkat interposition: the first unlinkat of the thread named by
 * unlink_hold_tid (a purge) waits, at most 500 ms, for unlink_go: long
 * enough for a truncation that does not wait for the purge to run and
 * delete the files the purge listed.
 */
static pthread_t unlink_hold_tid;
static int unlink_hold; /* armed */
static int unlink_held; /* the purge is waiting inside unlinkat */
static int unlink_go;	/* the truncation returned */

int unlinkat(int dirfd, const char *name, int flags)
{
	if (__atomic_load_n(&unlink_hold, __ATOMIC_SEQ_CST) &&
	    pthread_equal(pthread_self(), unlink_hold_tid)) {
		struct timespec dl, now;

		__atomic_store_n(&unlink_hold, 0, __ATOMIC_SEQ_CST); /* once */
		__atomic_store_n(&unlink_held, 1, __ATOMIC_SEQ_CST);
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += 500000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
		do {
			sched_yield();
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while (!__atomic_load_n(&unlink_go, __ATOMIC_SEQ_CST) &&
			 (now.tv_sec < dl.tv_sec ||
			  (now.tv_sec == dl.tv_sec && now.tv_nsec < dl.tv_nsec)));
	}
	return (int)syscall(SYS_unlinkat, dirfd, name, flags);
}

/*
 * fsync interposition (the log calls fsync only on its directory): once
 * armed, the next fsync waits, at most 10 s, until dirsync_release.  A
 * test sees the log between a rename and the directory fsync that makes
 * it durable: the state a power loss may undo.
 */
static pthread_mutex_t dirsync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dirsync_cv = PTHREAD_COND_INITIALIZER;
static bool dirsync_armed; /* the next fsync is held */
static bool dirsync_held;  /* one is waiting */
static bool dirsync_go;	   /* released */

int fsync(int fd)
{
	struct timespec dl;

	pthread_mutex_lock(&dirsync_mu);
	if (dirsync_armed) {
		dirsync_armed = false;
		dirsync_held = true;
		pthread_cond_broadcast(&dirsync_cv);
		abs_deadline(&dl, 10000);
		while (!dirsync_go)
			if (pthread_cond_timedwait(&dirsync_cv, &dirsync_mu, &dl) == ETIMEDOUT)
				break;
		dirsync_held = false;
	}
	pthread_mutex_unlock(&dirsync_mu);
	return (int)syscall(SYS_fsync, fd);
}

static void dirsync_arm(void)
{
	pthread_mutex_lock(&dirsync_mu);
	dirsync_armed = true;
	dirsync_go = false;
	pthread_mutex_unlock(&dirsync_mu);
}

/* Waits until an fsync is held. */
static void dirsync_wait_held(void)
{
	struct timespec dl;
	int rc = 0;

	abs_deadline(&dl, 10000);
	pthread_mutex_lock(&dirsync_mu);
	while (!dirsync_held && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&dirsync_cv, &dirsync_mu, &dl);
	pthread_mutex_unlock(&dirsync_mu);
	cr_assert_eq(rc, 0, "no directory fsync was reached");
}

static void dirsync_release(void)
{
	pthread_mutex_lock(&dirsync_mu);
	dirsync_armed = false;
	dirsync_go = true;
	pthread_cond_broadcast(&dirsync_cv);
	pthread_mutex_unlock(&dirsync_mu);
}

/*
 * renameat2 interposition (the log renames only its new files): while
 * rename_fail_errno is set, renaming the spare (next.log.tmp) fails with
 * it, as a directory that must grow on a full disk or quota makes it;
 * rename_spare_tries counts the attempts.  posix_fallocate interposition:
 * while falloc0_fail_errno is set, a preallocation from offset 0 (only
 * the helper's spare starts there; a log file's own start after its
 * header) fails with it.
 */
static int rename_fail_errno;
static long rename_spare_tries;
static int falloc0_fail_errno;
static long falloc0_failed;

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags)
{
	if (strcmp(oldpath, "next.log.tmp") == 0) {
		int e = __atomic_load_n(&rename_fail_errno, __ATOMIC_SEQ_CST);

		__atomic_add_fetch(&rename_spare_tries, 1, __ATOMIC_SEQ_CST);
		if (e) {
			errno = e;
			return -1;
		}
	}
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
	int e = __atomic_load_n(&falloc0_fail_errno, __ATOMIC_SEQ_CST);

	if (off == 0 && e) {
		__atomic_add_fetch(&falloc0_failed, 1, __ATOMIC_SEQ_CST);
		return e;
	}
	if (syscall(SYS_fallocate, fd, 0, off, len) < 0)
		return errno;
	return 0;
}

/*
 * Waits, at most 10 s, until the spare's rename was tried n times, the
 * log not failing meanwhile.
 */
static void wait_rename_tries(struct txlog *log, long n)
{
	for (int i = 0; i < 10000 && __atomic_load_n(&rename_spare_tries, __ATOMIC_SEQ_CST) < n;
	     i++) {
		cr_assert_eq(txlog_error(log), 0, "the log failed: %s",
			     strerror(-txlog_error(log)));
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	cr_assert_geq(__atomic_load_n(&rename_spare_tries, __ATOMIC_SEQ_CST), n,
		      "the spare's rename was not tried again");
}

/* ---- Fixture ---- */

static char tdir[1024]; /* the test's directory: dataLogDir */
static char ldir[1200]; /* tdir/TXLOG_SUBDIR */
static char mnt[1200];	/* a tmpfs mounted by the test, or "" */

static void setup(void)
{
	const char *base = getenv("TMPDIR");

	log_set_level(LOG_LVL_WARN);
	snprintf(tdir, sizeof(tdir), "%s/cheetah-txlog-XXXXXX", base && *base ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tdir), "mkdtemp: %s", strerror(errno));
	snprintf(ldir, sizeof(ldir), "%s/%s", tdir, TXLOG_SUBDIR);
	mnt[0] = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	if (mnt[0])
		umount2(mnt, MNT_DETACH);
	nftw(tdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	test_fini_no_leaks();
}

TestSuite(txlog, .init = setup, .fini = teardown, .timeout = 240);

/* ---- Records and logs ---- */

#define MAX_REC (2u << 20)

static size_t rec_len(int64_t zxid)
{
	return 1 + (size_t)((uint64_t)zxid * 37 % 200);
}

/* Payload bytes are a function of the zxid and the index, never zero. */
static uint8_t rec_byte(int64_t zxid, size_t i)
{
	return (uint8_t)(((uint64_t)zxid * 131 + i * 7) | 1);
}

static void *make_rec(int64_t zxid, size_t len)
{
	uint8_t *p = malloc(len);

	cr_assert_not_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = rec_byte(zxid, i);
	return p;
}

static struct txlog_opts test_opts(void)
{
	return (struct txlog_opts){
	    .dir = tdir,
	    .prealloc = 64 << 10,
	    .max_record = MAX_REC,
	};
}

static struct txlog *open_ok(const struct txlog_opts *o)
{
	struct txlog *log = NULL;
	int rc = txlog_open(o, &log);

	cr_assert_eq(rc, 0, "txlog_open: %s", strerror(-rc));
	cr_assert_not_null(log);
	return log;
}

static int open_rc(const struct txlog_opts *o)
{
	struct txlog *log = NULL;
	int rc = txlog_open(o, &log);

	if (rc == 0)
		txlog_close(log);
	return rc;
}

static void append_len(struct txlog *log, int64_t zxid, size_t len)
{
	void *p = make_rec(zxid, len);
	int rc = txlog_append(log, zxid, p, len);

	free(p);
	cr_assert_eq(rc, 0, "append %" PRId64 ": %s", zxid, strerror(-rc));
}

/* Appends lo..hi, flushing every flush_every records (0: never). */
static void append_range(struct txlog *log, int64_t lo, int64_t hi, int flush_every)
{
	for (int64_t z = lo; z <= hi; z++) {
		append_len(log, z, rec_len(z));
		if (flush_every && (z - lo + 1) % flush_every == 0) {
			int rc = txlog_flush(log);

			cr_assert(rc == 0 || rc == -EAGAIN, "flush: %s", strerror(-rc));
		}
	}
}

static void wait_ok(struct txlog *log, int64_t zxid)
{
	int rc = txlog_wait_durable(log, zxid, 20000);

	cr_assert_eq(rc, 0, "wait_durable %" PRId64 ": %s", zxid, strerror(-rc));
	cr_assert_geq(txlog_durable_zxid(log), zxid);
}

static void close_ok(struct txlog *log)
{
	int rc = txlog_close(log);

	cr_assert_eq(rc, 0, "txlog_close: %s", strerror(-rc));
}

struct collect {
	int64_t *z;
	size_t n, cap;
	bool check_len; /* payload length must be rec_len(zxid) */
	int bad;
	int stop_at; /* return 7 after this many records (0: never) */
};

static int collect_fn(void *arg, int64_t zxid, const void *rec, size_t len)
{
	struct collect *c = arg;
	const uint8_t *p = rec;

	if (c->check_len && len != rec_len(zxid))
		c->bad++;
	for (size_t i = 0; i < len; i++)
		if (p[i] != rec_byte(zxid, i)) {
			c->bad++;
			break;
		}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->z = realloc(c->z, c->cap * sizeof(*c->z));
		cr_assert_not_null(c->z);
	}
	c->z[c->n++] = zxid;
	if (c->stop_at && c->n == (size_t)c->stop_at)
		return 7;
	return 0;
}

/* Replays after `after` and checks the result is exactly lo..hi (empty if lo > hi). */
static void expect_replay(struct txlog *log, int64_t after, int64_t lo, int64_t hi)
{
	struct collect c = {.check_len = true};
	int rc = txlog_replay(log, after, collect_fn, &c);
	size_t want = hi >= lo ? (size_t)(hi - lo + 1) : 0;

	cr_assert_eq(rc, 0, "replay after %" PRId64 ": %s", after, strerror(-rc));
	cr_assert_eq(c.bad, 0, "replay returned damaged payloads");
	cr_assert_eq(c.n, want, "replay after %" PRId64 ": %zu records, want %zu", after, c.n,
		     want);
	for (size_t i = 0; i < want; i++)
		cr_assert_eq(c.z[i], lo + (int64_t)i, "record %zu is zxid %" PRId64, i, c.z[i]);
	free(c.z);
}

/* ---- Files ---- */

struct files {
	size_t n;
	char name[64][64];
	int64_t first[64];
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void list_logs(struct files *f)
{
	DIR *d = opendir(ldir);
	struct dirent *e;

	cr_assert_not_null(d, "%s: %s", ldir, strerror(errno));
	f->n = 0;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "log.", 4) == 0) {
			cr_assert_lt(f->n, 64u);
			cr_assert_lt(strlen(e->d_name), 64u);
			strcpy(f->name[f->n++], e->d_name);
		}
	closedir(d);
	qsort(f->name, f->n, sizeof(f->name[0]), cmp_name);
	for (size_t i = 0; i < f->n; i++)
		f->first[i] = (int64_t)strtoull(f->name[i] + 4, NULL, 16);
}

static void path_of(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", ldir, name);
}

static uint8_t *file_read(const char *name, size_t *len)
{
	char path[PATH_MAX];
	struct stat st;
	uint8_t *buf;
	int fd;

	path_of(path, name);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void file_write(const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX];
	int fd;

	path_of(path, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(pwrite(fd, buf, len, 0), (ssize_t)len);
	close(fd);
}

/* A copy of every log file, to restore between mutations. */
struct dirsnap {
	struct files f;
	uint8_t *buf[64];
	size_t len[64];
};

static void snap_take(struct dirsnap *s)
{
	list_logs(&s->f);
	for (size_t i = 0; i < s->f.n; i++)
		s->buf[i] = file_read(s->f.name[i], &s->len[i]);
}

static void snap_restore(const struct dirsnap *s)
{
	struct files now;
	char path[PATH_MAX];

	list_logs(&now);
	for (size_t i = 0; i < now.n; i++) {
		path_of(path, now.name[i]);
		cr_assert_eq(unlink(path), 0);
	}
	for (size_t i = 0; i < s->f.n; i++)
		file_write(s->f.name[i], s->buf[i], s->len[i]);
}

static void snap_free(struct dirsnap *s)
{
	for (size_t i = 0; i < s->f.n; i++)
		free(s->buf[i]);
}

/*
 * Finds the record with zxid in a file image with record headers of hs
 * bytes: its offset and covered bytes (header + payload).
 */
static void find_rec_hs(const uint8_t *buf, size_t len, size_t hs, int64_t zxid, size_t *off,
			size_t *covered)
{
	size_t o = TXLOG_HDR_SIZE;

	while (o + hs <= len) {
		uint32_t l = jute_be32(buf + o) & TXLOG_REC_LEN_MASK;

		cr_assert_neq(l, 0u, "zxid %" PRId64 " not found", zxid);
		if ((int64_t)jute_be64(buf + o + 8) == zxid) {
			*off = o;
			*covered = hs + l;
			return;
		}
		o += (hs + l + 7) & ~(size_t)7;
	}
	cr_assert_fail("zxid %" PRId64 " not found", zxid);
}

static void find_rec(const uint8_t *buf, size_t len, int64_t zxid, size_t *off, size_t *covered)
{
	find_rec_hs(buf, len, TXLOG_REC_HDR_SIZE, zxid, off, covered);
}

/* Forges files in the documented format (v1: earlier releases' files), independently of txlog.c. */
struct forge {
	uint8_t buf[1 << 16];
	size_t len;
	size_t hs; /* record header size of its format */
};

static void forge_hdr(struct forge *f, uint64_t dbid, int64_t first)
{
	memset(f->buf, 0, sizeof(f->buf));
	memcpy(f->buf, "CHLG", 4);
	jute_put_be32(f->buf + 4, 1);
	jute_put_be64(f->buf + 8, dbid);
	jute_put_be64(f->buf + 16, (uint64_t)first);
	jute_put_be64(f->buf + 24, 1700000000000ull);
	jute_put_be32(f->buf + 32, (uint32_t)crc32(0L, f->buf, 32));
	f->len = 40;
	f->hs = 16;
}

static void forge_rec(struct forge *f, int64_t zxid, bool batch_end)
{
	size_t len = rec_len(zxid);
	uint8_t *h = f->buf + f->len;
	uLong c;

	jute_put_be32(h, (uint32_t)len | (batch_end ? 0x80000000u : 0));
	jute_put_be64(h + 8, (uint64_t)zxid);
	for (size_t i = 0; i < len; i++)
		h[16 + i] = rec_byte(zxid, i);
	c = crc32(0L, h, 4);
	c = crc32(c, h + 8, 8);
	c = crc32(c, h + 16, (uInt)len);
	jute_put_be32(h + 4, (uint32_t)c);
	f->len += (16 + len + 7) & ~(size_t)7;
}

static void forge_write(struct forge *f, int64_t first)
{
	char name[64];

	snprintf(name, sizeof(name), "log.%016" PRIx64, (uint64_t)first);
	file_write(name, f->buf, f->len + 4096); /* zeros after the records */
}

/*
 * Format 3 and 2 files, forged from txlog.h's description: a header of
 * version ver, then records with index = zxid, term = zxid >> 32 and, in
 * format 3, the given durable mark.
 */
static void forge_hdr_v(struct forge *f, uint32_t ver, uint64_t dbid, int64_t first)
{
	forge_hdr(f, dbid, first);
	jute_put_be32(f->buf + 4, ver);
	jute_put_be32(f->buf + 32, crc32c(0, f->buf, 32));
	f->hs = ver == 3 ? 40 : 32;
}

static void forge_rec_v(struct forge *f, uint32_t ver, int64_t zxid, int64_t mark, bool batch_end)
{
	size_t len = rec_len(zxid), hs = ver == 3 ? 40 : 32;
	uint8_t *h = f->buf + f->len;

	cr_assert_lt(f->len + hs + len + 8, sizeof(f->buf));
	memset(h, 0, hs);
	jute_put_be32(h, (uint32_t)len | (batch_end ? 0x80000000u : 0));
	jute_put_be64(h + 8, (uint64_t)zxid);
	jute_put_be64(h + 16, (uint64_t)zxid >> 32);
	jute_put_be64(h + 24, (uint64_t)zxid);
	if (ver == 3)
		jute_put_be64(h + 32, (uint64_t)mark);
	for (size_t i = 0; i < len; i++)
		h[hs + i] = rec_byte(zxid, i);
	jute_put_be32(h + 4, crc32c(crc32c(crc32c(0, h, 4), h + 8, hs - 8), h + hs, len));
	f->len += (hs + len + 7) & ~(size_t)7;
}

/* A batch lo..hi of format ver with durable mark `mark`. */
static void forge_batch(struct forge *f, uint32_t ver, int64_t lo, int64_t hi, int64_t mark)
{
	for (int64_t z = lo; z <= hi; z++)
		forge_rec_v(f, ver, z, mark, z == hi);
}

static uint64_t dbid_of(const char *name)
{
	size_t len;
	uint8_t *b = file_read(name, &len);
	uint64_t id = jute_be64(b + 8);

	free(b);
	return id;
}

/* ---- Round trips ---- */

Test(txlog, empty_log_opens_and_reopens)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	struct files f;

	cr_assert_eq(txlog_durable_zxid(log), 0);
	cr_assert_eq(txlog_error(log), 0);
	cr_assert_eq(txlog_flush(log), 0);
	cr_assert_eq(txlog_wait_durable(log, 0, 0), 0);
	expect_replay(log, 0, 1, 0);
	expect_replay(log, -5, 1, 0);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 0u, "no record, no file");
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 0);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, round_trip_across_files_and_rolls)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct txlog_stats st;
	struct files f;
	uint64_t hist = 0;

	o.file_limit = 4096; /* a size roll every ~30 records */
	log = open_ok(&o);
	append_range(log, 1, 30, 10);
	wait_ok(log, 30);
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 31, 70, 7);
	cr_assert_eq(txlog_roll(log), 0);
	cr_assert_eq(txlog_roll(log), 0); /* two rolls in a row: one new file */
	/* Small batches: the size limit rolls every few of them. */
	for (int64_t z = 71; z <= 200; z += 10) {
		append_range(log, z, z + 9, 3);
		wait_ok(log, z + 9);
	}
	expect_replay(log, 0, 1, 200);
	txlog_stats(log, &st);
	cr_assert_eq(st.records, 200u);
	cr_assert_geq(st.batches, 2u);
	cr_assert_eq(st.syncs, st.batches);
	for (int i = 0; i < TXLOG_HIST_BUCKETS; i++)
		hist += st.batch_records[i];
	cr_assert_eq(hist, st.batches);
	close_ok(log);

	list_logs(&f);
	cr_assert_geq(f.n, 6u, "rolls and the size limit made %zu files", f.n);
	cr_assert_eq(f.first[0], 1);
	cr_assert_eq(st.files, f.n);
	for (size_t i = 1; i < f.n; i++)
		cr_assert_gt(f.first[i], f.first[i - 1]);

	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 200);
	expect_replay(log, 0, 1, 200);
	cr_assert_eq(txlog_append(log, 200, "x", 1), -EINVAL, "recovered zxids count");
	append_range(log, 201, 260, 0);
	close_ok(log); /* close makes everything durable */
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 260);
	expect_replay(log, 0, 1, 260);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * Makes every new descriptor of this process fail with EMFILE (the soft
 * limit at the lowest free number); returns the old limit.
 */
static struct rlimit fds_exhaust(void)
{
	struct rlimit old, rl;
	int lo = dup(0);

	cr_assert_geq(lo, 0);
	close(lo);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)lo;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_lt(dup(0), 0, "the limit did not bite");
	return old;
}

static void fds_restore(const struct rlimit *old)
{
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, old), 0);
}

Test(txlog, out_of_descriptors_at_a_roll_goes_on_in_the_current_file)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;
	struct rlimit old;

	o.no_spare = true; /* a spare needs no new descriptor: see the next test */
	log = open_ok(&o);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	/* The roll cannot create its file: not a disk error, nothing stops. */
	old = fds_exhaust();
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 5);
	wait_ok(log, 20);
	append_range(log, 21, 30, 0);
	wait_ok(log, 30);
	fds_restore(&old);
	/* The roll still pending happens at the next batch. */
	append_range(log, 31, 40, 0);
	wait_ok(log, 40);
	expect_replay(log, 0, 1, 40);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	cr_assert_eq(f.first[0], 1);
	cr_assert_eq(f.first[1], 31);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 40);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, out_of_descriptors_at_a_roll_uses_the_spare)
{
	struct txlog_opts o = test_opts();
	struct txlog_stats st;
	struct txlog *log;
	struct files f;
	struct rlimit old;

	log = open_ok(&o);
	/* The first file from a spare too, so that the count below is exact. */
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0, "a spare is ready");
	/* The roll's file needs no new descriptor: it happens at once. */
	old = fds_exhaust();
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	fds_restore(&old);
	txlog_stats(log, &st);
	cr_assert_eq(st.files, 2u);
	cr_assert_eq(st.files_spare, 2u);
	expect_replay(log, 0, 1, 20);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	cr_assert_eq(f.first[1], 11);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 20);
	close_ok(log);
	test_assert_no_leaks();
}

/* Bytes of the records lo..hi as written (framing and padding). */
static uint64_t rec_bytes(int64_t lo, int64_t hi)
{
	uint64_t n = 0;

	for (int64_t z = lo; z <= hi; z++)
		n += (TXLOG_REC_HDR_SIZE + rec_len(z) + 7) / 8 * 8;
	return n;
}

static uint64_t file_size(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	path_of(path, name);
	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

/*
 * Each roll starts the new file from the spare and cuts the finished one
 * to its records; the newest keeps its preallocation; reopening replays
 * everything from the cut files.
 */
Test(txlog, rolled_files_keep_only_their_records)
{
	struct txlog_opts o = test_opts();
	enum { ROLLS = 6, PER = 40 };
	struct txlog_stats st;
	struct txlog *log;
	struct files f;
	char path[PATH_MAX];

	log = open_ok(&o);
	for (int k = 0; k <= ROLLS; k++) {
		int64_t lo = (int64_t)k * PER + 1, hi = lo + PER - 1;

		/* Rolls spaced so that a spare is ready for each. */
		cr_assert_eq(txlog_spare_wait(log, 10000), 0);
		if (k)
			cr_assert_eq(txlog_roll(log), 0);
		append_range(log, lo, hi, 7);
		wait_ok(log, hi);
	}
	cr_assert_eq(txlog_spare_wait(log, 10000), 0, "every finished file is cut");
	txlog_stats(log, &st);
	cr_assert_eq(st.files, (uint64_t)ROLLS + 1);
	cr_assert_eq(st.files_spare, (uint64_t)ROLLS + 1, "the first file too");
	list_logs(&f);
	cr_assert_eq(f.n, (size_t)ROLLS + 1);
	for (size_t i = 0; i < f.n; i++) {
		int64_t lo = (int64_t)i * PER + 1;
		uint64_t want = TXLOG_HDR_SIZE + rec_bytes(lo, lo + PER - 1);

		cr_assert_eq(f.first[i], lo);
		if (i + 1 < f.n)
			cr_assert_eq(file_size(f.name[i]), want,
				     "%s: %" PRIu64 " bytes, records %" PRIu64, f.name[i],
				     file_size(f.name[i]), want);
		else
			cr_assert_geq(file_size(f.name[i]), (uint64_t)o.prealloc,
				      "the newest file keeps its preallocation");
	}
	path_of(path, "next.log.tmp");
	cr_assert_eq(access(path, F_OK), 0, "the next spare is there");
	close_ok(log);
	cr_assert_neq(access(path, F_OK), 0, "close deletes the spare");

	log = open_ok(&o);
	expect_replay(log, 0, 1, (int64_t)(ROLLS + 1) * PER);
	/* And appends go on in the newest file. */
	append_range(log, (ROLLS + 1) * PER + 1, (ROLLS + 1) * PER + 5, 0);
	wait_ok(log, (ROLLS + 1) * PER + 5);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, (int64_t)(ROLLS + 1) * PER + 5);
	close_ok(log);
	test_assert_no_leaks();
}

/* A crash between a roll and its cut leaves an older file long: open cuts it. */
Test(txlog, open_cuts_an_older_file_to_its_records)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;
	char path[PATH_MAX];
	uint64_t want;

	log = open_ok(&o);
	append_range(log, 1, 20, 0);
	wait_ok(log, 20);
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 21, 30, 0);
	wait_ok(log, 30);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	want = TXLOG_HDR_SIZE + rec_bytes(1, 20);
	cr_assert_eq(file_size(f.name[0]), want);
	/* As if the cut had not happened: zeros up to a preallocation. */
	path_of(path, f.name[0]);
	cr_assert_eq(truncate(path, (off_t)o.prealloc * 3), 0);
	log = open_ok(&o);
	cr_assert_eq(file_size(f.name[0]), want, "cut at open");
	expect_replay(log, 0, 1, 30);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * The first batch in a spare is synced with its header before the spare
 * takes its name: when that fdatasync fails, no file has the name, nothing
 * of it is durable, and the next open deletes the unnamed spare.
 */
Test(txlog, a_failed_sync_of_the_first_batch_in_a_spare_names_no_file)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;
	char path[PATH_MAX];

	log = open_ok(&o);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	sync_fail_errno = EIO;
	__atomic_store_n(&sync_fail_at, syncs() + 1, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 0);
	cr_assert_eq(txlog_wait_durable(log, 20, 10000), -EIO);
	cr_assert_eq(txlog_durable_zxid(log), 10);
	list_logs(&f);
	cr_assert_eq(f.n, 1u, "the spare has no log name");
	path_of(path, "next.log.tmp");
	cr_assert_eq(access(path, F_OK), 0, "records 11..20 are in the unnamed spare");
	cr_assert_eq(txlog_close(log), -EIO);
	__atomic_store_n(&sync_fail_at, 0, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_WARN);
	o.no_spare = true; /* else the helper makes a new one at once */
	log = open_ok(&o);
	cr_assert_neq(access(path, F_OK), 0, "deleted at open");
	expect_replay(log, 0, 1, 10);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * The rename that names the spare finds no room (ENOSPC or EDQUOT: the
 * directory must grow): records 11..20, synced in the unnamed spare, are
 * not durable (nothing acknowledged) while it fails, the log does not
 * fail, and once there is room the rename is tried again and the log
 * goes on: 11..20 durable in their file, later rolls from new spares.
 */
static void spare_rename_no_room_then_room(int err)
{
	struct txlog_opts o = test_opts();
	struct txlog_stats st;
	struct txlog *log;
	struct files f;

	log = open_ok(&o);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	__atomic_store_n(&rename_spare_tries, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&rename_fail_errno, err, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 0);
	cr_assert_eq(txlog_flush(log), 0);
	wait_rename_tries(log, 3);
	cr_assert_eq(txlog_wait_durable(log, 20, 50), -ETIMEDOUT);
	cr_assert_eq(txlog_durable_zxid(log), 10, "nothing in the unnamed spare is durable");
	cr_assert_eq(txlog_error(log), 0, "not a disk error: %s", strerror(-txlog_error(log)));
	list_logs(&f);
	cr_assert_eq(f.n, 1u, "the spare has no log name yet");
	__atomic_store_n(&rename_fail_errno, 0, __ATOMIC_SEQ_CST);
	wait_ok(log, 20);
	log_set_level(LOG_LVL_WARN);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	cr_assert_eq(f.first[1], 11);
	/* The helper makes the next spare; the next roll uses it. */
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 21, 30, 0);
	wait_ok(log, 30);
	txlog_stats(log, &st);
	cr_assert_geq(st.files_spare, 2u);
	expect_replay(log, 0, 1, 30);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 30);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, no_room_to_rename_the_spare_waits_for_room_then_goes_on)
{
	spare_rename_no_room_then_room(ENOSPC);
}

Test(txlog, over_quota_renaming_the_spare_waits_for_room_then_goes_on)
{
	spare_rename_no_room_then_room(EDQUOT);
}

/*
 * Two writers, one napping while the spare's rename finds no room: the
 * other takes the next batch, handed over meanwhile, and writes and
 * syncs it (no handoff's wake-up is lost to the nap), and the nap sleeps
 * until its deadline: nothing in the process is a reason to wake it but
 * a stop.  It used to wait on the writers' condition variable, woken by
 * every handoff and kick and passing each signal on (nap_wakeups 1 or 2
 * here); glibc wakes a condition variable's waiter only for a signal or
 * broadcast, so 0 is exact.  Once there is room both batches are durable.
 */
Test(txlog, a_writer_napping_for_room_sleeps_while_the_other_writes)
{
	struct txlog_opts o = test_opts();
	struct txlog_stats st0, st;
	struct txlog *log;
	long r0;

	o.max_inflight = 2;
	log = open_ok(&o);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	txlog_stats(log, &st0);
	__atomic_store_n(&rename_spare_tries, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&rename_fail_errno, ENOSPC, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 0);
	cr_assert_eq(txlog_flush(log), 0);
	wait_rename_tries(log, 1); /* its writer naps (10 ms, then 20, 40...) */
	r0 = __atomic_load_n(&sync_returned, __ATOMIC_SEQ_CST);
	append_range(log, 21, 30, 0);
	cr_assert_eq(txlog_flush(log), 0, "the pipeline's second slot");
	wait_returned(r0 + 1);	   /* the other writer wrote and synced 21..30 */
	wait_rename_tries(log, 6); /* after naps of 10, 20, 40, 80 and 160 ms */
	cr_assert_eq(txlog_durable_zxid(log), 10, "nothing durable before the rename");
	txlog_stats(log, &st);
	cr_assert_eq(st.nap_wakeups - st0.nap_wakeups, 0,
		     "the nap was woken %" PRIu64 " times for nothing",
		     st.nap_wakeups - st0.nap_wakeups);
	__atomic_store_n(&rename_fail_errno, 0, __ATOMIC_SEQ_CST);
	wait_ok(log, 30);
	log_set_level(LOG_LVL_WARN);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 30);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * Closed while the spare's rename finds no room: the close reports it,
 * nothing of the unnamed spare was durable, the next open deletes it.
 */
Test(txlog, closing_while_the_spare_cannot_be_renamed_loses_only_unacknowledged_records)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	char path[PATH_MAX];

	log = open_ok(&o);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	__atomic_store_n(&rename_spare_tries, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&rename_fail_errno, ENOSPC, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 0);
	cr_assert_eq(txlog_flush(log), 0);
	wait_rename_tries(log, 2);
	cr_assert_eq(txlog_durable_zxid(log), 10);
	cr_assert_eq(txlog_close(log), -ENOSPC);
	__atomic_store_n(&rename_fail_errno, 0, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_WARN);
	path_of(path, "next.log.tmp");
	cr_assert_eq(access(path, F_OK), 0, "records 11..20 stay in the unnamed spare");
	o.no_spare = true; /* else the helper makes a new one at once */
	log = open_ok(&o);
	cr_assert_neq(access(path, F_OK), 0, "deleted at open");
	expect_replay(log, 0, 1, 10);
	append_range(log, 11, 12, 0);
	wait_ok(log, 12);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * No room to prepare a spare: files are created when needed (the log
 * goes on), and once there is room the helper prepares spares again.
 */
Test(txlog, no_room_for_a_spare_creates_files_until_there_is_room)
{
	struct txlog_opts o = test_opts();
	struct txlog_stats st;
	struct txlog *log;
	struct files f;

	__atomic_store_n(&falloc0_failed, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&falloc0_fail_errno, ENOSPC, __ATOMIC_SEQ_CST);
	log = open_ok(&o);
	cr_assert_eq(txlog_spare_wait(log, 10000), -EAGAIN, "no spare without room");
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	cr_assert_eq(txlog_spare_wait(log, 10000), -EAGAIN);
	txlog_stats(log, &st);
	cr_assert_eq(st.files_spare, 0u);
	cr_assert_geq(__atomic_load_n(&falloc0_failed, __ATOMIC_SEQ_CST), 2);
	__atomic_store_n(&falloc0_fail_errno, 0, __ATOMIC_SEQ_CST);
	/* Room again: the next file created asks for a spare, the one after uses it. */
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 21, 30, 0);
	wait_ok(log, 30);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0, "a spare once there is room");
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 31, 40, 0);
	wait_ok(log, 40);
	txlog_stats(log, &st);
	cr_assert_eq(st.files_spare, 1u);
	list_logs(&f);
	cr_assert_eq(f.n, 4u);
	cr_assert_eq(f.first[3], 31);
	expect_replay(log, 0, 1, 40);
	close_ok(log);
	test_assert_no_leaks();
}

/* forceSync off: the spare's header is still synced before its name. */
Test(txlog, no_sync_rolls_into_the_spare)
{
	struct txlog_opts o = test_opts();
	struct txlog_stats st;
	struct txlog *log;
	struct files f;
	long before;

	o.no_sync = true;
	log = open_ok(&o);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	before = syncs();
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	/* The old file at the roll, the new one before its name, the next spare. */
	cr_assert_eq(syncs(), before + 3);
	txlog_stats(log, &st);
	cr_assert_eq(st.files_spare, 2u);
	cr_assert_eq(st.syncs, 0u);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	cr_assert_eq(f.first[1], 11);
	o.no_sync = false;
	log = open_ok(&o);
	expect_replay(log, 0, 1, 20);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * Copies the log directory as it is now into <tdir>/<sub>/TXLOG_SUBDIR
 * (what a crash at this instant may leave, the page cache included);
 * returns the dataLogDir of the copy in base.
 */
static void copy_log_dir(const char *sub, char *base)
{
	char to[PATH_MAX + 64], from[PATH_MAX + 300], path[PATH_MAX + 400];
	struct dirent *e;
	DIR *d;

	snprintf(base, PATH_MAX, "%s/%s", tdir, sub);
	cr_assert_eq(mkdir(base, 0755), 0, "%s: %s", base, strerror(errno));
	snprintf(to, sizeof(to), "%s/%s", base, TXLOG_SUBDIR);
	cr_assert_eq(mkdir(to, 0755), 0, "%s: %s", to, strerror(errno));
	d = opendir(ldir);
	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		struct stat st;
		size_t len;
		uint8_t *buf;
		int fd;

		snprintf(from, sizeof(from), "%s/%s", ldir, e->d_name);
		if (stat(from, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		fd = open(from, O_RDONLY);
		cr_assert_geq(fd, 0, "%s: %s", from, strerror(errno));
		len = (size_t)st.st_size;
		buf = malloc(len ? len : 1);
		cr_assert_not_null(buf);
		cr_assert_eq(pread(fd, buf, len, 0), (ssize_t)len, "%s: short read", from);
		close(fd);
		snprintf(path, sizeof(path), "%s/%s", to, e->d_name);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
		cr_assert_eq(write(fd, buf, len), (ssize_t)len);
		close(fd);
		free(buf);
	}
	closedir(d);
}

/*
 * A power loss after the spare was renamed to its log name but before the
 * directory fsync returned may undo the rename (test_crash.py --powerloss
 * cannot emulate that: it only damages the newest file's bytes).  Held at
 * that directory fsync, nothing of the file is acknowledged (not even a
 * later batch synced meanwhile), and both states a crash may leave open
 * cleanly: the rename undone (the records are in next.log.tmp, deleted at
 * open: the log ends at the last acknowledged zxid, and goes on in the
 * finished file the helper had already cut) or kept (the records
 * fdatasync'ed before the rename are found).
 */
Test(txlog, a_lost_rename_of_the_spare_loses_only_unacknowledged_records)
{
	struct txlog_opts o = test_opts(), oc;
	struct txlog_stats st;
	struct txlog *log, *lc;
	char base[PATH_MAX], from[PATH_MAX + 300], to[PATH_MAX + 300];
	struct files f;
	int64_t hi;

	o.max_inflight = 2;
	log = open_ok(&o);
	/* The first file from a spare too, so that the count below is exact. */
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	dirsync_arm();
	cr_assert_eq(txlog_roll(log), 0);
	append_range(log, 11, 20, 0);
	cr_assert_eq(txlog_flush(log), 0);
	dirsync_wait_held(); /* renamed, the directory not yet synced */
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	cr_assert_eq(f.first[1], 11, "the spare has its name");
	/* A second batch, pipelined into the same file, synced meanwhile. */
	append_range(log, 21, 30, 0);
	cr_assert_eq(txlog_flush(log), 0);
	cr_assert_eq(txlog_wait_durable(log, 11, 300), -ETIMEDOUT);
	cr_assert_eq(txlog_durable_zxid(log), 10, "acknowledged before its name is durable");
	/* The finished file is cut (the spare is still the writer's: none ready). */
	cr_assert_eq(txlog_spare_wait(log, 10000), -EAGAIN);
	cr_assert_eq(file_size(f.name[0]), TXLOG_HDR_SIZE + rec_bytes(1, 10));

	/* The rename undone: the file is the unnamed spare again. */
	copy_log_dir("undone", base);
	snprintf(from, sizeof(from), "%s/%s/%s", base, TXLOG_SUBDIR, f.name[1]);
	snprintf(to, sizeof(to), "%s/%s/next.log.tmp", base, TXLOG_SUBDIR);
	cr_assert_eq(rename(from, to), 0, "%s: %s", from, strerror(errno));
	oc = o;
	oc.dir = base;
	oc.no_spare = true;
	lc = open_ok(&oc);
	cr_assert_neq(access(to, F_OK), 0, "the unnamed spare is deleted at open");
	cr_assert_eq(txlog_durable_zxid(lc), 10);
	expect_replay(lc, 0, 1, 10);
	/* The log goes on from there, in the file that was cut. */
	append_range(lc, 11, 12, 0);
	wait_ok(lc, 12);
	close_ok(lc);
	lc = open_ok(&oc);
	expect_replay(lc, 0, 1, 12);
	close_ok(lc);

	/* The rename kept: what was fdatasync'ed before it is found. */
	copy_log_dir("kept", base);
	oc.dir = base;
	lc = open_ok(&oc);
	hi = txlog_durable_zxid(lc);
	cr_assert(hi == 20 || hi == 30, "recovered up to %" PRId64, hi);
	expect_replay(lc, 0, 1, hi);
	close_ok(lc);

	dirsync_release();
	wait_ok(log, 30);
	txlog_stats(log, &st);
	cr_assert_eq(st.files_spare, 2u);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 30);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, a_leftover_spare_is_deleted_at_open)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	char path[PATH_MAX];
	int fd;

	o.no_spare = true;
	log = open_ok(&o);
	append_range(log, 1, 3, 0);
	wait_ok(log, 3);
	close_ok(log);
	path_of(path, "next.log.tmp");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, "junk", 4), 4);
	close(fd);
	log = open_ok(&o);
	cr_assert_neq(access(path, F_OK), 0, "deleted at open");
	expect_replay(log, 0, 1, 3);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, out_of_descriptors_without_a_file_waits_then_writes)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;
	struct rlimit old;

	o.no_spare = true; /* a ready spare would need no descriptor */
	log = open_ok(&o); /* an empty log: the first batch creates the first file */
	old = fds_exhaust();
	append_range(log, 1, 10, 0);
	cr_assert_eq(txlog_flush(log), 0);
	/* Nothing can be durable (nor acknowledged) without a file. */
	cr_assert_eq(txlog_wait_durable(log, 10, 300), -ETIMEDOUT);
	cr_assert_lt(txlog_durable_zxid(log), 1);
	fds_restore(&old);
	wait_ok(log, 10);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	expect_replay(log, 0, 1, 20);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 1u);
	test_assert_no_leaks();
}

/*
 * The same nap with two writers, out of descriptors for the first file
 * (first_file): the next batch is handed over while the first one's
 * writer naps, holding the right to write.  The nap is not woken, and
 * the handoff is not lost either: both batches are durable, in order,
 * once there are descriptors.  (This passed before naps had their own
 * condition variable too: the handoff's signal went to the writer that
 * had waited longer, the other one.)
 */
Test(txlog, a_writer_napping_for_descriptors_is_not_woken_by_a_handoff)
{
	struct txlog_opts o = test_opts();
	struct txlog_stats st0, st;
	struct txlog *log;
	struct rlimit old;

	o.no_spare = true; /* a ready spare would need no descriptor */
	o.max_inflight = 2;
	log = open_ok(&o); /* an empty log: the first batch creates the first file */
	txlog_stats(log, &st0);
	old = fds_exhaust();
	append_range(log, 1, 10, 0);
	cr_assert_eq(txlog_flush(log), 0);
	append_range(log, 11, 20, 0);
	cr_assert_eq(txlog_flush(log), 0, "the pipeline's second slot");
	cr_assert_eq(txlog_wait_durable(log, 20, 300), -ETIMEDOUT);
	txlog_stats(log, &st);
	fds_restore(&old);
	cr_assert_lt(txlog_durable_zxid(log), 1);
	cr_assert_eq(st.nap_wakeups - st0.nap_wakeups, 0,
		     "the nap was woken %" PRIu64 " times for nothing",
		     st.nap_wakeups - st0.nap_wakeups);
	wait_ok(log, 20);
	expect_replay(log, 0, 1, 20);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * Closed while the first file cannot be created for want of descriptors:
 * the close does not wait for ever, nothing was durable, nothing is lost
 * that was.
 */
Test(txlog, closing_while_out_of_descriptors_for_the_first_file_returns)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct rlimit old;
	int rc;

	o.no_spare = true; /* a ready spare would need no descriptor */
	log = open_ok(&o);
	old = fds_exhaust();
	append_range(log, 1, 10, 0);
	cr_assert_eq(txlog_flush(log), 0);
	cr_assert_eq(txlog_wait_durable(log, 10, 300), -ETIMEDOUT);
	log_set_level(LOG_LVL_ERROR);
	rc = txlog_close(log);
	fds_restore(&old);
	log_set_level(LOG_LVL_WARN);
	cr_assert(rc == -EMFILE || rc == -ENFILE, "txlog_close: %s", strerror(-rc));
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 0);
	append_range(log, 1, 3, 0);
	wait_ok(log, 3);
	expect_replay(log, 0, 1, 3);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, replay_from_the_middle)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;
	struct collect c = {0};

	log = open_ok(&o);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	txlog_roll(log);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	txlog_roll(log);
	append_range(log, 21, 40, 0);
	wait_ok(log, 40);
	list_logs(&f);
	cr_assert_eq(f.n, 3u);
	for (int64_t after = -1; after <= 41; after++)
		expect_replay(log, after, after < 1 ? 1 : after + 1, 40);
	/* The callback's value stops the replay and is returned. */
	c.stop_at = 15;
	cr_assert_eq(txlog_replay(log, 3, collect_fn, &c), 7);
	cr_assert_eq(c.n, 15u);
	cr_assert_eq(c.z[14], 18);
	free(c.z);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, large_records_grow_batches_and_files)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct collect c = {0};
	size_t lens[] = {1, 70000, 5, MAX_REC, 300000, 8, 65536 - 16, 200000};

	o.file_limit = 1 << 20;
	log = open_ok(&o);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		append_len(log, (int64_t)i + 1, lens[i]);
		if (i % 3 == 2) {
			int rc = txlog_flush(log);

			cr_assert(rc == 0 || rc == -EAGAIN);
		}
	}
	cr_assert_eq(txlog_append(log, 100, "x", 0), -EINVAL);
	{
		void *big = make_rec(100, MAX_REC + 1);

		cr_assert_eq(txlog_append(log, 100, big, MAX_REC + 1), -EINVAL);
		free(big);
	}
	wait_ok(log, 8);
	close_ok(log);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 8);
	cr_assert_eq(txlog_replay(log, 0, collect_fn, &c), 0);
	cr_assert_eq(c.n, 8u);
	cr_assert_eq(c.bad, 0);
	free(c.z);
	close_ok(log);

	/*
	 * A complete record above a lowered max_record is not a torn tail:
	 * recovery refuses rather than truncating it.
	 */
	o.max_record = 100000;
	cr_assert_eq(open_rc(&o), -EMSGSIZE);
	test_assert_no_leaks();
}

/* ---- Torn tails ---- */

enum damage { CUT, GARBAGE, ZERO8 };

/*
 * Applies one kind of damage at offset k of the newest file; returns
 * whether any byte changed.
 */
static bool damage(const struct dirsnap *s, size_t fi, enum damage d, size_t k, size_t end)
{
	uint8_t *img = malloc(s->len[fi]);
	size_t len = s->len[fi];
	bool changed = false;
	uint32_t x = (uint32_t)k * 2654435761u + 1;

	memcpy(img, s->buf[fi], len);
	switch (d) {
	case CUT:
		len = k;
		changed = true;
		break;
	case GARBAGE:
		for (size_t i = k; i < end; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			img[i] = (uint8_t)x;
			if (img[i] == s->buf[fi][i])
				img[i] ^= 0x5a;
		}
		changed = true;
		break;
	case ZERO8:
		for (size_t i = k; i < k + 8 && i < end; i++) {
			changed |= img[i] != 0;
			img[i] = 0;
		}
		break;
	}
	file_write(s->f.name[fi], img, len);
	free(img);
	return changed;
}

/*
 * The newest file ends with a batch of records first..last.  Damage at
 * every byte offset inside it must recover exactly the records before the
 * damaged one, and appending must continue after them.
 */
static void torn_every_offset(enum damage d, int64_t first, int64_t last)
{
	struct txlog_opts o = test_opts();
	struct dirsnap s;
	size_t fi, off_first, off_last, cov, end;
	struct txlog *log;
	int iters = 0;

	log = open_ok(&o);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	txlog_roll(log);
	append_range(log, 11, first - 1, 0);
	wait_ok(log, first - 1);
	append_range(log, first, last, 0);
	wait_ok(log, last);
	close_ok(log);
	snap_take(&s);
	cr_assert_eq(s.f.n, 2u);
	fi = s.f.n - 1;
	find_rec(s.buf[fi], s.len[fi], first, &off_first, &cov);
	find_rec(s.buf[fi], s.len[fi], last, &off_last, &cov);
	end = off_last + cov;

	log_set_level(LOG_LVL_ERROR); /* one torn-tail warning per offset otherwise */
	for (size_t k = off_first; k < end + 8; k++) {
		int64_t survivor = first - 1; /* last record expected back */
		size_t o2 = TXLOG_HDR_SIZE, c2;
		bool changed;

		snap_restore(&s);
		changed = damage(&s, fi, d, k, end);
		/* The record containing k and everything after it are gone, if changed. */
		for (int64_t z = first; z <= last; z++) {
			find_rec(s.buf[fi], s.len[fi], z, &o2, &c2);
			if (changed && k < o2 + c2)
				break;
			survivor = z;
		}
		log = open_ok(&o);
		cr_assert_eq(txlog_durable_zxid(log), survivor,
			     "damage %d at %zu: durable %" PRId64 ", want %" PRId64, d, k,
			     txlog_durable_zxid(log), survivor);
		expect_replay(log, 0, 1, survivor);
		/* Everything after the survivors is zero again: zero marks the end. */
		{
			size_t ilen, so, sc;
			uint8_t *img = file_read(s.f.name[fi], &ilen);

			find_rec(img, ilen, survivor, &so, &sc);
			for (size_t i = (so + sc + 7) & ~(size_t)7; i < ilen; i++)
				cr_assert_eq(img[i], 0, "damage %d at %zu: byte %zu not zeroed", d,
					     k, i);
			free(img);
		}
		/* Appending continues right after the survivors. */
		append_range(log, survivor + 1, survivor + 2, 0);
		wait_ok(log, survivor + 2);
		close_ok(log);
		log = open_ok(&o);
		expect_replay(log, 0, 1, survivor + 2);
		close_ok(log);
		iters++;
	}
	log_set_level(LOG_LVL_WARN);
	cr_assert_gt(iters, 16);
	snap_free(&s);
}

Test(txlog, torn_tail_cut_at_every_offset_of_the_last_batch)
{
	torn_every_offset(CUT, 16, 20);
	test_assert_no_leaks();
}

Test(txlog, torn_tail_garbage_at_every_offset_of_the_last_batch)
{
	torn_every_offset(GARBAGE, 16, 20);
	test_assert_no_leaks();
}

Test(txlog, torn_tail_zeroed_part_of_the_last_record)
{
	torn_every_offset(ZERO8, 20, 20);
	test_assert_no_leaks();
}

Test(txlog, torn_first_record_of_a_new_file_deletes_it)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;
	size_t len, off, cov;
	uint8_t *b;

	log = open_ok(&o);
	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	txlog_roll(log);
	append_range(log, 11, 11, 0);
	wait_ok(log, 11);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	b = file_read(f.name[1], &len);
	find_rec(b, len, 11, &off, &cov);
	file_write(f.name[1], b, off + cov - 1);
	free(b);

	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 10);
	list_logs(&f);
	cr_assert_eq(f.n, 1u, "the empty newest file is deleted");
	append_range(log, 12, 14, 0);
	wait_ok(log, 14);
	close_ok(log);
	log = open_ok(&o);
	{
		struct collect c = {.check_len = true};

		cr_assert_eq(txlog_replay(log, 0, collect_fn, &c), 0);
		cr_assert_eq(c.n, 13u);
		cr_assert_eq(c.z[9], 10);
		cr_assert_eq(c.z[10], 12);
		free(c.z);
	}
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, files_without_records_at_the_end_are_deleted)
{
	struct txlog_opts o = test_opts();
	struct forge *fg = calloc(1, sizeof(*fg));
	struct txlog *log;
	struct files f;
	uint64_t dbid;

	log = open_ok(&o);
	append_range(log, 1, 5, 0);
	close_ok(log);
	list_logs(&f);
	dbid = dbid_of(f.name[0]);
	/* Header-only files: one in the middle is harmless, those at the end go. */
	forge_hdr(fg, dbid, 6);
	forge_write(fg, 6);
	forge_hdr(fg, dbid, 7);
	forge_rec(fg, 7, true);
	forge_write(fg, 7);
	forge_hdr(fg, dbid, 8);
	forge_write(fg, 8);
	forge_hdr(fg, dbid, 9);
	forge_write(fg, 9);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 7);
	list_logs(&f);
	cr_assert_eq(f.n, 3u);
	cr_assert_eq(f.first[2], 7);
	append_range(log, 8, 9, 0);
	close_ok(log);
	log = open_ok(&o);
	{
		struct collect c = {.check_len = true};
		int64_t want[] = {1, 2, 3, 4, 5, 7, 8, 9};

		cr_assert_eq(txlog_replay(log, 0, collect_fn, &c), 0);
		cr_assert_eq(c.n, 8u);
		for (size_t i = 0; i < c.n; i++)
			cr_assert_eq(c.z[i], want[i]);
		free(c.z);
	}
	close_ok(log);
	free(fg);
	test_assert_no_leaks();
}

Test(txlog, leftover_tmp_file_is_removed)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	struct files f;
	char path[PATH_MAX];

	append_range(log, 1, 3, 0);
	close_ok(log);
	file_write("log.0000000000000004.tmp", "CHLG", 4);
	log = open_ok(&o);
	path_of(path, "log.0000000000000004.tmp");
	cr_assert_neq(access(path, F_OK), 0);
	list_logs(&f);
	cr_assert_eq(f.n, 1u);
	append_range(log, 4, 6, 0);
	close_ok(log);
	test_assert_no_leaks();
}

/* ---- Corruption in the middle ---- */

static void flip(const char *name, size_t off)
{
	size_t len;
	uint8_t *b = file_read(name, &len);

	cr_assert_lt(off, len);
	b[off] ^= 0x10;
	file_write(name, b, len);
	free(b);
}

/* Two files: log.1 with 1..10 and the newest with 11..20 (one batch each). */
static void two_files(struct files *f)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);

	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	txlog_roll(log);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	/* A later batch written once 11..20 were durable: its mark says so. */
	append_range(log, 21, 25, 0);
	close_ok(log);
	list_logs(f);
	cr_assert_eq(f->n, 2u);
}

Test(txlog, flipped_byte_before_valid_records_is_refused)
{
	struct txlog_opts o = test_opts();
	struct files f;
	struct dirsnap s;
	size_t off, cov;
	uint8_t *after;
	size_t alen;

	two_files(&f);
	snap_take(&s);
	find_rec(s.buf[1], s.len[1], 15, &off, &cov);
	/*
	 * Every covered byte of a middle record of the newest file: its
	 * batch was durable when the later batch 21..25 was written.
	 */
	log_set_level(LOG_LVL_ERROR);
	for (size_t k = off; k < off + cov; k++) {
		snap_restore(&s);
		flip(f.name[1], k);
		cr_assert_eq(open_rc(&o), -EBADMSG, "flip at %zu", k);
	}
	log_set_level(LOG_LVL_WARN);
	/* A refusal changes nothing on disk. */
	after = file_read(f.name[1], &alen);
	cr_assert_eq(alen, s.len[1]);
	cr_assert_eq(memcmp(after, s.buf[1], off), 0);
	cr_assert_eq(memcmp(after + off + cov, s.buf[1] + off + cov, alen - off - cov), 0);
	free(after);

	/* A zeroed record header in the middle looks like the end, but records follow. */
	snap_restore(&s);
	{
		uint8_t *b = malloc(s.len[1]);

		memcpy(b, s.buf[1], s.len[1]);
		memset(b + off, 0, 16);
		file_write(f.name[1], b, s.len[1]);
		free(b);
	}
	cr_assert_eq(open_rc(&o), -EBADMSG);

	/* repair: the operator's decision truncates the newest file there. */
	o.repair = true;
	{
		struct txlog *log = open_ok(&o);

		cr_assert_eq(txlog_durable_zxid(log), 14);
		expect_replay(log, 0, 1, 14);
		append_range(log, 15, 16, 0);
		close_ok(log);
	}
	o.repair = false;
	{
		struct txlog *log = open_ok(&o);

		expect_replay(log, 0, 1, 16);
		close_ok(log);
	}

	/*
	 * A flip inside the last batch (21..25) with its later records
	 * intact: they were written before that batch was durable (their
	 * mark, 20, is below it), so this is a torn tail (a power loss that
	 * kept a later page of the batch): truncated, not refused.
	 */
	snap_restore(&s);
	find_rec(s.buf[1], s.len[1], 22, &off, &cov);
	flip(f.name[1], off + 4);
	{
		struct txlog *log = open_ok(&o);

		cr_assert_eq(txlog_durable_zxid(log), 21);
		expect_replay(log, 0, 1, 21);
		close_ok(log);
	}
	snap_free(&s);
	test_assert_no_leaks();
}

Test(txlog, damage_in_an_older_file_is_refused)
{
	struct txlog_opts o = test_opts();
	struct files f;
	struct dirsnap s;
	size_t off, cov;

	two_files(&f);
	snap_take(&s);
	/* Even the last record of an older file: its successor proves it was synced. */
	find_rec(s.buf[0], s.len[0], 10, &off, &cov);
	flip(f.name[0], off + cov - 1);
	cr_assert_eq(open_rc(&o), -EBADMSG);
	o.repair = true;
	cr_assert_eq(open_rc(&o), -EBADMSG, "repair never touches an older file");
	o.repair = false;

	/* Cut short. */
	snap_restore(&s);
	file_write(f.name[0], s.buf[0], off + 3);
	cr_assert_eq(open_rc(&o), -EBADMSG);

	/* Garbage after the end of an older file (cut to its records at the roll). */
	snap_restore(&s);
	{
		uint8_t *longer = calloc(1, s.len[0] + 8);

		cr_assert_not_null(longer);
		memcpy(longer, s.buf[0], s.len[0]);
		longer[s.len[0] + 7] = 0x5a;
		file_write(f.name[0], longer, s.len[0] + 8);
		free(longer);
	}
	cr_assert_eq(open_rc(&o), -EBADMSG);

	/* Headers: magic, version, CRC, name mismatch, short file. */
	for (size_t k = 0; k < TXLOG_HDR_SIZE; k++) {
		snap_restore(&s);
		flip(f.name[1], k);
		cr_assert_eq(open_rc(&o), -EBADMSG, "header byte %zu", k);
	}
	snap_restore(&s);
	file_write(f.name[1], s.buf[1], 20);
	cr_assert_eq(open_rc(&o), -EBADMSG);

	/* Intact again: opens. */
	snap_restore(&s);
	cr_assert_eq(open_rc(&o), 0);
	snap_free(&s);
	test_assert_no_leaks();
}

Test(txlog, file_from_another_database_is_refused)
{
	struct txlog_opts o = test_opts();
	struct files f;
	struct forge *fg = calloc(1, sizeof(*fg));

	two_files(&f);
	forge_hdr(fg, dbid_of(f.name[0]) ^ 1, 21);
	forge_rec(fg, 21, true);
	forge_write(fg, 21);
	cr_assert_eq(open_rc(&o), -EBADMSG);
	free(fg);
	test_assert_no_leaks();
}

/* ---- zxid order ---- */

Test(txlog, append_rejects_zxid_order_violations)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);

	cr_assert_eq(txlog_append(log, 0, "x", 1), -EINVAL);
	cr_assert_eq(txlog_append(log, -3, "x", 1), -EINVAL);
	append_range(log, 5, 6, 0);
	cr_assert_eq(txlog_append(log, 6, "x", 1), -EINVAL);
	cr_assert_eq(txlog_append(log, 4, "x", 1), -EINVAL);
	cr_assert_eq(txlog_append(log, 7, NULL, 1), -EINVAL);
	cr_assert_eq(txlog_wait_durable(log, 7, 100), -EINVAL, "never appended");
	append_range(log, 7, 7, 0);
	append_range(log, (int64_t)1 << 40, (int64_t)1 << 40, 0); /* a gap (new epoch) is fine */
	close_ok(log);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), (int64_t)1 << 40);
	cr_assert_eq(txlog_append(log, 8, "x", 1), -EINVAL);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, documented_format_is_read_and_order_is_checked_on_disk)
{
	struct txlog_opts o = test_opts();
	struct forge *fg = calloc(1, sizeof(*fg));
	struct txlog *log;
	char path[PATH_MAX];
	uint64_t dbid = 0x1234567890abcdefull;

	cr_assert_eq(mkdir(ldir, 0755), 0);
	/* A file written from txlog.h's description alone. */
	forge_hdr(fg, dbid, 1);
	for (int64_t z = 1; z <= 5; z++)
		forge_rec(fg, z, z == 3 || z == 5);
	forge_write(fg, 1);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 5);
	expect_replay(log, 0, 1, 5);
	close_ok(log);

	/* A second file overlapping the first one's zxids. */
	forge_hdr(fg, dbid, 5);
	forge_rec(fg, 5, true);
	forge_write(fg, 5);
	cr_assert_eq(open_rc(&o), -EBADMSG);
	path_of(path, "log.0000000000000005");
	unlink(path);

	/* Order broken inside a file (all CRCs valid). */
	forge_hdr(fg, dbid, 1);
	forge_rec(fg, 1, false);
	forge_rec(fg, 3, false);
	forge_rec(fg, 2, true);
	forge_write(fg, 1);
	cr_assert_eq(open_rc(&o), -EBADMSG);

	/* The first record must carry the file's zxid. */
	forge_hdr(fg, dbid, 1);
	forge_rec(fg, 2, true);
	forge_write(fg, 1);
	cr_assert_eq(open_rc(&o), -EBADMSG);
	free(fg);
	test_assert_no_leaks();
}

/* ---- Purge ---- */

Test(txlog, purge_deletes_only_files_below_the_kept_zxid)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	struct files f;

	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	txlog_roll(log);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	txlog_roll(log);
	append_range(log, 21, 30, 0);
	wait_ok(log, 30);
	list_logs(&f);
	cr_assert_eq(f.n, 3u);

	cr_assert_eq(txlog_purge(log, 0), 0);
	cr_assert_eq(txlog_purge(log, 10), 0, "log.1 still holds zxid 10");
	cr_assert_eq(txlog_purge(log, 11), 1);
	list_logs(&f);
	cr_assert_eq(f.first[0], 11);
	expect_replay(log, 10, 11, 30);
	cr_assert_eq(txlog_purge(log, 25), 1);
	cr_assert_eq(txlog_purge(log, 1000), 0, "the newest file stays");
	list_logs(&f);
	cr_assert_eq(f.n, 1u);
	cr_assert_eq(f.first[0], 21);
	expect_replay(log, 20, 21, 30);
	append_range(log, 31, 35, 0);
	close_ok(log);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 35);
	expect_replay(log, 20, 21, 35);
	close_ok(log);
	test_assert_no_leaks();
}

struct purge_arg {
	struct txlog *log;
	int64_t keep;
	int rc;
};

static void *purge_thread(void *arg)
{
	struct purge_arg *a = arg;

	unlink_hold_tid = pthread_self();
	__atomic_store_n(&unlink_hold, 1, __ATOMIC_SEQ_CST);
	a->rc = txlog_purge(a->log, a->keep);
	return NULL;
}

/*
 * autopurge (the snapshot thread) and a suffix truncation of the whole
 * log (an ensemble member's live snapshot install) at once: each deleted
 * files the other had listed, and the one that found them gone failed
 * with ENOENT (the truncation's failure is sticky: the member stopped).
 * They now exclude each other: the purge finishes, then the truncation
 * deletes what is left, and the log goes on from the start.
 */
Test(txlog, purge_and_truncation_do_not_race)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	struct purge_arg a = {log, 25, 0};
	struct files f;
	pthread_t th;

	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	txlog_roll(log);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	txlog_roll(log);
	append_range(log, 21, 30, 0);
	wait_ok(log, 30);
	list_logs(&f);
	cr_assert_eq(f.n, 3u);
	__atomic_store_n(&unlink_held, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&unlink_go, 0, __ATOMIC_SEQ_CST);
	cr_assert_eq(pthread_create(&th, NULL, purge_thread, &a), 0);
	for (int i = 0; i < 10000 && !__atomic_load_n(&unlink_held, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	cr_assert(__atomic_load_n(&unlink_held, __ATOMIC_SEQ_CST), "the purge never deleted");
	cr_assert_eq(txlog_truncate_suffix(log, 1), 0);
	__atomic_store_n(&unlink_go, 1, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	cr_assert_eq(a.rc, 2, "the purge deleted log.1 and log.11 (rc %d)", a.rc);
	list_logs(&f);
	cr_assert_eq(f.n, 0u, "the truncation deleted the rest");
	cr_assert_eq(txlog_durable_zxid(log), 0);
	append_range(log, 1, 5, 0);
	wait_ok(log, 5);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 5);
	close_ok(log);
	test_assert_no_leaks();
}

/* ---- forceSync off ---- */

Test(txlog, no_sync_skips_fdatasync_but_close_syncs)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct txlog_stats st;
	long before;

	o.no_sync = true;
	log = open_ok(&o);
	append_range(log, 1, 1, 0);
	wait_ok(log, 1); /* creates the file: that is synced */
	/* The spare helper's fdatasync, done before counting. */
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	before = syncs();
	for (int64_t z = 2; z <= 200; z += 11) {
		int64_t hi = z + 10 < 200 ? z + 10 : 200;

		append_range(log, z, hi, 0);
		wait_ok(log, hi);
	}
	cr_assert_eq(syncs(), before, "no fdatasync per batch with forceSync off");
	txlog_stats(log, &st);
	cr_assert_eq(st.syncs, 0u);
	cr_assert_eq(st.records, 200u);
	close_ok(log);
	cr_assert_eq(syncs(), before + 1, "one fdatasync at close");

	o.no_sync = false;
	log = open_ok(&o);
	expect_replay(log, 0, 1, 200);
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	before = syncs();
	append_range(log, 201, 201, 0);
	wait_ok(log, 201);
	cr_assert_eq(syncs(), before + 1, "forceSync on: one fdatasync per batch");
	close_ok(log);
	test_assert_no_leaks();
}

/* ---- Group commit ---- */

Test(txlog, caller_fills_the_next_batch_while_the_writer_syncs)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct txlog_stats st;
	uint64_t ev;

	o.max_batch = 8192;
	o.max_inflight = 1; /* the unpipelined log: double buffering */
	log = open_ok(&o);
	append_range(log, 1, 1, 0);
	wait_ok(log, 1);
	/* The spare helper's fdatasyncs, done before syncs are gated or counted. */
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	while (read(txlog_eventfd(log), &ev, sizeof(ev)) > 0)
		;

	gate_close();
	append_range(log, 2, 2, 0);
	cr_assert_eq(txlog_flush(log), 0);
	gate_wait_held(); /* the writer is inside fdatasync of batch {2} */
	cr_assert_eq(txlog_durable_zxid(log), 1);
	cr_assert_eq(txlog_wait_durable(log, 2, 50), -ETIMEDOUT);
	cr_assert_lt(read(txlog_eventfd(log), &ev, sizeof(ev)), 0, "no event yet");
	/* Batch N+1 fills meanwhile; flush cannot hand it over; max_batch pushes back. */
	int64_t z = 3;
	int rc;

	for (;; z++) {
		void *p = make_rec(z, rec_len(z));

		rc = txlog_append(log, z, p, rec_len(z));
		free(p);
		if (rc)
			break;
		cr_assert_eq(txlog_flush(log), -EAGAIN);
	}
	cr_assert_eq(rc, -EAGAIN, "max_batch: %s", strerror(-rc));
	cr_assert_gt(z, 20);
	cr_assert_eq(txlog_durable_zxid(log), 1);
	gate_open();

	/* The eventfd fires when batch {2} is done; then the next batch goes whole. */
	{
		struct pollfd pfd = {.fd = txlog_eventfd(log), .events = POLLIN};

		cr_assert_eq(poll(&pfd, 1, 10000), 1, "no event after batch {2}");
		cr_assert_eq(txlog_durable_zxid(log), 2);
	}
	cr_assert_eq(read(txlog_eventfd(log), &ev, sizeof(ev)), (ssize_t)sizeof(ev));
	cr_assert_eq(txlog_flush(log), 0);
	wait_ok(log, z - 1);
	txlog_stats(log, &st);
	cr_assert_eq(st.batches, 3u);
	cr_assert_eq(st.records, (uint64_t)(z - 1));
	/* the third batch held z - 3 records */
	cr_assert_eq(st.batch_records[0], 2u);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, z - 1);
	close_ok(log);
	test_assert_no_leaks();
}

struct observer {
	struct txlog *log;
	int64_t appended; /* atomic: last zxid appended */
	int stop;	  /* atomic */
	long reads;
	int violations;
};

static void *observe(void *arg)
{
	struct observer *ob = arg;
	int64_t last = 0;

	while (!__atomic_load_n(&ob->stop, __ATOMIC_ACQUIRE)) {
		int64_t d = txlog_durable_zxid(ob->log);
		int64_t a = __atomic_load_n(&ob->appended, __ATOMIC_ACQUIRE);

		if (d < last || d > a)
			ob->violations++;
		last = d;
		ob->reads++;
	}
	return NULL;
}

Test(txlog, concurrent_appends_many_batches)
{
	struct txlog_opts o = test_opts();
	struct observer ob = {0};
	struct txlog_stats st;
	pthread_t th;
	int64_t last_seen = 0;
	const int64_t n = 20000;
	uint64_t ev, hist = 0;
	int events = 0;

	o.file_limit = 256 << 10; /* size rolls while appending */
	ob.log = open_ok(&o);
	cr_assert_eq(pthread_create(&th, NULL, observe, &ob), 0);
	for (int64_t z = 1; z <= n; z++) {
		int rc;

		append_len(ob.log, z, rec_len(z) % 48 + 1);
		__atomic_store_n(&ob.appended, z, __ATOMIC_RELEASE);
		rc = txlog_flush(ob.log);
		cr_assert(rc == 0 || rc == -EAGAIN, "flush: %s", strerror(-rc));
		if (rc == -EAGAIN && z % 100 == 0) {
			/* Like the broadcast core with nothing else to do: wait for the writer. */
			struct pollfd pfd = {.fd = txlog_eventfd(ob.log), .events = POLLIN};

			cr_assert_eq(poll(&pfd, 1, 10000), 1, "the writer never finished a batch");
		}
		if (read(txlog_eventfd(ob.log), &ev, sizeof(ev)) > 0)
			events++;
		cr_assert_geq(txlog_durable_zxid(ob.log), last_seen);
		last_seen = txlog_durable_zxid(ob.log);
		if (z % 5000 == 0)
			txlog_roll(ob.log);
	}
	wait_ok(ob.log, n);
	if (read(txlog_eventfd(ob.log), &ev, sizeof(ev)) > 0)
		events++;
	__atomic_store_n(&ob.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	cr_assert_eq(ob.violations, 0, "durable zxid went backwards or ahead of appends");
	cr_assert_gt(ob.reads, 0);
	txlog_stats(ob.log, &st);
	cr_assert_eq(st.records, (uint64_t)n);
	cr_assert_geq(st.batches, (uint64_t)n / 250, "batches hold about 100 records at most here");
	cr_assert_gt(events, 0);
	for (int i = 0; i < TXLOG_HIST_BUCKETS; i++)
		hist += st.batch_records[i];
	cr_assert_eq(hist, st.batches);
	cr_log_info("%" PRIu64 " batches for %" PRId64 " records, mean fdatasync %" PRIu64 " us",
		    st.batches, n, st.syncs ? st.sync_ns_sum / st.syncs / 1000 : 0);
	close_ok(ob.log);

	ob.log = open_ok(&o);
	{
		struct collect c = {0};

		cr_assert_eq(txlog_replay(ob.log, 0, collect_fn, &c), 0);
		cr_assert_eq(c.n, (size_t)n);
		cr_assert_eq(c.bad, 0);
		for (size_t i = 0; i < c.n; i++)
			cr_assert_eq(c.z[i], (int64_t)i + 1);
		free(c.z);
	}
	close_ok(ob.log);
	test_assert_no_leaks();
}

/* ---- Disk errors ---- */

Test(txlog, fdatasync_eio_is_sticky_and_nothing_later_is_durable)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	uint64_t ev;

	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	/* The spare helper's fdatasyncs, done before syncs are counted. */
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	while (read(txlog_eventfd(log), &ev, sizeof(ev)) > 0)
		;
	sync_fail_errno = EIO;
	__atomic_store_n(&sync_fail_at, syncs() + 1, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_ERROR);
	append_range(log, 11, 20, 0);
	cr_assert_eq(txlog_wait_durable(log, 20, 10000), -EIO);
	cr_assert_eq(txlog_error(log), -EIO);
	cr_assert_eq(txlog_durable_zxid(log), 10, "the failed batch is not durable");
	cr_assert_eq(read(txlog_eventfd(log), &ev, sizeof(ev)), (ssize_t)sizeof(ev),
		     "the error is signalled");
	cr_assert_eq(txlog_append(log, 21, "x", 1), -EIO);
	cr_assert_eq(txlog_flush(log), -EIO);
	cr_assert_eq(txlog_roll(log), -EIO);
	cr_assert_eq(txlog_wait_durable(log, 10, 0), 0, "what was durable stays durable");
	cr_assert_eq(txlog_durable_zxid(log), 10);
	expect_replay(log, 0, 1, 10);
	cr_assert_eq(txlog_close(log), -EIO);
	__atomic_store_n(&sync_fail_at, 0, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_WARN);

	/* The acknowledged records survive; the failed batch may or may not. */
	log = open_ok(&o);
	cr_assert_geq(txlog_durable_zxid(log), 10);
	{
		struct collect c = {.check_len = true};

		cr_assert_eq(txlog_replay(log, 0, collect_fn, &c), 0);
		cr_assert_geq(c.n, 10u);
		cr_assert_eq(c.bad, 0);
		for (size_t i = 0; i < c.n; i++)
			cr_assert_eq(c.z[i], (int64_t)i + 1);
		free(c.z);
	}
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, enospc_on_a_small_tmpfs_keeps_every_acknowledged_record)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	int64_t z = 0, acked = 0;
	int rc = 0;

	snprintf(mnt, sizeof(mnt), "%s/mnt", tdir);
	cr_assert_eq(mkdir(mnt, 0755), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
		int e = errno;

		mnt[0] = 0;
		cr_assert_fail("mount -t tmpfs -o size=1m %s/mnt failed (%s): this test needs root "
			       "(CAP_SYS_ADMIN) to simulate a full disk",
			       tdir, strerror(e));
	}
	o.dir = mnt;
	o.file_limit = 300 << 10;
	log_set_level(LOG_LVL_ERROR);
	log = open_ok(&o);
	for (int b = 0; b < 400 && !rc; b++) {
		for (int i = 0; i < 4; i++) {
			z++;
			append_len(log, z, 3000);
		}
		rc = txlog_wait_durable(log, z, 10000);
		if (!rc)
			acked = z;
	}
	cr_assert_eq(rc, -ENOSPC, "wanted ENOSPC, got %s", strerror(-rc));
	cr_assert_gt(acked, 40);
	/* Not sticky: nothing of the refused batch was written. */
	cr_assert_eq(txlog_error(log), 0);
	cr_assert_eq(txlog_full(log), -ENOSPC);
	cr_assert_eq(txlog_durable_zxid(log), acked);
	cr_assert_eq(txlog_append(log, z + 1, "x", 1), -ENOSPC);
	cr_assert_eq(txlog_flush(log), -ENOSPC);
	/* Discarded: appending goes on right after the durable zxid, still no room. */
	cr_assert_eq(txlog_discard_unwritten(log), 0);
	cr_assert_eq(txlog_full(log), 0);
	for (z = acked + 1; z <= acked + 4; z++)
		append_len(log, z, 3000);
	cr_assert_eq(txlog_wait_durable(log, acked + 4, 10000), -ENOSPC);
	cr_assert_eq(txlog_durable_zxid(log), acked);
	cr_assert_eq(txlog_close(log), -ENOSPC);

	log = open_ok(&o);
	cr_assert_geq(txlog_durable_zxid(log), acked);
	{
		struct collect c = {0};

		cr_assert_eq(txlog_replay(log, 0, collect_fn, &c), 0);
		cr_assert_geq(c.n, (size_t)acked);
		cr_assert_eq(c.bad, 0);
		for (size_t i = 0; i < c.n; i++)
			cr_assert_eq(c.z[i], (int64_t)i + 1);
		free(c.z);
	}
	/* Purging old files frees room; the log then continues. */
	cr_assert_geq(txlog_purge(log, txlog_durable_zxid(log)), 1);
	append_len(log, txlog_durable_zxid(log) + 1, 100);
	wait_ok(log, txlog_durable_zxid(log) + 1);
	close_ok(log);
	log_set_level(LOG_LVL_WARN);
	test_assert_no_leaks();
}

/* Mounts a tmpfs of `size` on tdir/mnt, or fails saying why. */
static void mount_small_tmpfs(const char *size)
{
	char opts[64];

	snprintf(mnt, sizeof(mnt), "%s/mnt", tdir);
	cr_assert_eq(mkdir(mnt, 0755), 0);
	snprintf(opts, sizeof(opts), "size=%s", size);
	if (mount("tmpfs", mnt, "tmpfs", 0, opts) != 0) {
		int e = errno;

		mnt[0] = 0;
		cr_assert_fail("mount -t tmpfs -o %s %s/mnt failed (%s): this test needs root "
			       "(CAP_SYS_ADMIN) to simulate a small disk",
			       opts, tdir, strerror(e));
	}
}

Test(txlog, less_room_than_prealloc_preallocates_less_and_keeps_writing)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct stat st;
	char path[1400];
	int64_t z;

	mount_small_tmpfs("2m");
	o.dir = mnt;
	o.prealloc = 64ull << 20; /* the default: far more than the disk */
	log_set_level(LOG_LVL_ERROR);
	log = open_ok(&o);
	for (z = 1; z <= 100; z++)
		append_len(log, z, rec_len(z));
	cr_assert_eq(txlog_wait_durable(log, 100, 10000), 0, "the first writes must not fail");
	cr_assert_eq(txlog_error(log), 0);
	cr_assert_eq(txlog_full(log), 0);
	snprintf(path, sizeof(path), "%s/%s/log.%016x", mnt, TXLOG_SUBDIR, 1);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_lt(st.st_size, 2 << 20, "preallocated %lld bytes", (long long)st.st_size);
	cr_assert_geq((uint64_t)st.st_size, (uint64_t)64 << 10);
	/* A batch larger than what is left: refused, and the log goes on. */
	append_len(log, 101, 1500 << 10);
	append_len(log, 102, 1500 << 10);
	cr_assert_eq(txlog_wait_durable(log, 102, 10000), -ENOSPC);
	cr_assert_eq(txlog_discard_unwritten(log), 0);
	append_len(log, 101, rec_len(101));
	wait_ok(log, 101);
	close_ok(log);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 101);
	expect_replay(log, 0, 1, 101);
	close_ok(log);
	log_set_level(LOG_LVL_WARN);
	test_assert_no_leaks();
}

Test(txlog, discard_unwritten_drops_the_filling_batch_only)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);

	append_len(log, 1, rec_len(1));
	wait_ok(log, 1);
	append_len(log, 2, 7);
	append_len(log, 3, 7);
	cr_assert_eq(txlog_discard_unwritten(log), 0);
	cr_assert_eq(txlog_durable_zxid(log), 1);
	/* 2 may be appended again (another length: replay checks it). */
	append_len(log, 2, rec_len(2));
	wait_ok(log, 2);
	close_ok(log);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 2);
	expect_replay(log, 0, 1, 2);
	close_ok(log);
	test_assert_no_leaks();
}

/* ---- Zeros ahead ---- */

/* txlog.c's ZERO_AHEAD: written zeros kept ready past the records. */
#define ZERO_AHEAD_BYTES (1u << 20)

/*
 * FIEMAP over [from, to) of fd: the first offset there that is not in a
 * written extent (a hole, or an extent flagged unwritten, delayed or
 * unknown: its flags go to *bad), or `to` when all of it is written.
 * -errno when the ioctl fails.  flags: 0 or FIEMAP_FLAG_SYNC.
 */
static int64_t first_unwritten(int fd, uint64_t from, uint64_t to, uint32_t flags, uint32_t *bad)
{
	enum { N = 64 };
	const uint32_t not_written =
	    FIEMAP_EXTENT_UNWRITTEN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN;
	struct fiemap *fm = calloc(1, sizeof(*fm) + N * sizeof(struct fiemap_extent));
	uint64_t pos = from;
	int64_t at = -1;

	cr_assert_not_null(fm);
	*bad = 0;
	while (at < 0 && pos < to) {
		memset(fm, 0, sizeof(*fm));
		fm->fm_start = pos;
		fm->fm_length = to - pos;
		fm->fm_flags = flags;
		fm->fm_extent_count = N;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
			at = -errno;
			break;
		}
		if (!fm->fm_mapped_extents) {
			at = (int64_t)pos; /* a hole to the end */
			break;
		}
		for (uint32_t i = 0; i < fm->fm_mapped_extents && at < 0 && pos < to; i++) {
			const struct fiemap_extent *e = &fm->fm_extents[i];

			if (e->fe_logical + e->fe_length <= pos)
				continue;
			if (e->fe_logical > pos || (e->fe_flags & not_written)) {
				*bad = e->fe_logical > pos ? 0 : e->fe_flags;
				at = (int64_t)pos;
				break;
			}
			pos = e->fe_logical + e->fe_length;
			if ((e->fe_flags & FIEMAP_EXTENT_LAST) && pos < to)
				at = (int64_t)pos; /* a hole after the last extent */
		}
	}
	free(fm);
	return at < 0 && pos >= to ? (int64_t)to : at;
}

/*
 * The test below reads the log's extents: it needs a filesystem whose
 * FIEMAP shows a fallocated range as unwritten (ext4, xfs, btrfs), not
 * tmpfs.  Fails, saying so, otherwise.
 */
static void require_unwritten_extents(void)
{
	char path[PATH_MAX];
	struct statfs sf;
	uint32_t bad;
	int64_t at;
	int fd, rc;

	cr_assert_eq(statfs(tdir, &sf), 0, "statfs %s: %s", tdir, strerror(errno));
	snprintf(path, sizeof(path), "%s/fiemap-probe", tdir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	rc = posix_fallocate(fd, 0, 1 << 20);
	at = rc ? 0 : first_unwritten(fd, 0, 1 << 20, 0, &bad);
	close(fd);
	unlink(path);
	cr_assert_eq(rc, 0,
		     "posix_fallocate in %s (filesystem type %#lx) failed: %s; this test needs a "
		     "disk-backed filesystem with unwritten extents (ext4, xfs): point TMPDIR at one",
		     tdir, (unsigned long)sf.f_type, strerror(rc));
	cr_assert_geq(at, 0,
		      "FIEMAP (FS_IOC_FIEMAP) is not supported in %s (filesystem type %#lx, tmpfs is "
		      "0x1021994): %s; this test needs a disk-backed filesystem with unwritten "
		      "extents (ext4, xfs): point TMPDIR at one",
		      tdir, (unsigned long)sf.f_type, strerror((int)-at));
	cr_assert(at == 0 && (bad & FIEMAP_EXTENT_UNWRITTEN),
		  "the filesystem of %s (type %#lx) does not show a fallocated file as unwritten "
		  "extents through FIEMAP (first unwritten offset %" PRId64 ", flags %#x); this "
		  "test needs one that does (ext4, xfs): point TMPDIR at one",
		  tdir, (unsigned long)sf.f_type, at, bad);
}

/* Where the records of a log file end: the first zero length (or the file's end). */
static uint64_t records_end(int fd)
{
	uint64_t off = TXLOG_HDR_SIZE;
	uint8_t h[TXLOG_REC_HDR_SIZE];

	while (pread(fd, h, sizeof(h), (off_t)off) == (ssize_t)sizeof(h)) {
		uint32_t l = jute_be32(h) & TXLOG_REC_LEN_MASK;

		if (!l)
			break;
		off += (TXLOG_REC_HDR_SIZE + l + 7) & ~(uint64_t)7;
	}
	return off;
}

/*
 * "Zeros ahead": fdatasync into fallocated (unwritten) space costs a
 * journal commit, so the writer keeps the region past the records
 * written with zeros.  After a new file and a few batches (each well
 * under the 256 KiB step, together well past the 1 MiB written when
 * the file was created), what fdatasync made durable covers the records
 * and at least 512 KiB past them, and once the writer is idle the
 * written zeros reach ZERO_AHEAD past them; the rest of the
 * preallocation stays unwritten.  Recovery then finds exactly the
 * records.
 */
Test(txlog, zeros_are_written_ahead_of_the_records)
{
	struct txlog_opts o = test_opts();
	const uint64_t rec_space = (TXLOG_REC_HDR_SIZE + 3000 + 7) & ~(uint64_t)7;
	const int batches = 48, per_batch = 16;
	char path[PATH_MAX];
	struct collect c = {0};
	struct txlog *log;
	struct files f;
	struct stat st;
	uint64_t end;
	uint32_t bad;
	int64_t z = 0, at;
	int fd;

	require_unwritten_extents();
	o.prealloc = 16 << 20; /* far more than the test writes */
	log = open_ok(&o);
	for (int b = 0; b < batches; b++) {
		for (int i = 0; i < per_batch; i++)
			append_len(log, ++z, 3000);
		wait_ok(log, z); /* one batch each: nothing flushes before the wait */
	}
	list_logs(&f);
	cr_assert_eq(f.n, 1u);
	path_of(path, f.name[0]);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, (uint64_t)o.prealloc, "the file is preallocated");
	end = records_end(fd);
	cr_assert_eq(end, TXLOG_HDR_SIZE + (uint64_t)(batches * per_batch) * rec_space);
	cr_assert_gt(end, TXLOG_HDR_SIZE + ZERO_AHEAD_BYTES, "past the zeros of create_file");

	/* Durable: the zeros written after a batch went out with the next one's fdatasync. */
	at = first_unwritten(fd, TXLOG_HDR_SIZE, end + (512u << 10), 0, &bad);
	cr_assert_geq(at, 0, "FIEMAP: %s", strerror((int)-at));
	cr_assert_eq((uint64_t)at, end + (512u << 10),
		     "offset %" PRId64 " (records end at %" PRIu64 ", +%" PRId64 ") is not written "
		     "(extent flags %#x: 0 means a hole)",
		     at, end, at - (int64_t)end, bad);

	/* Idle and closed: the zeros reach ZERO_AHEAD (FIEMAP_FLAG_SYNC writes back first). */
	close_ok(log);
	at = first_unwritten(fd, TXLOG_HDR_SIZE, end + ZERO_AHEAD_BYTES, FIEMAP_FLAG_SYNC, &bad);
	cr_assert_eq((uint64_t)at, end + ZERO_AHEAD_BYTES,
		     "offset %" PRId64 " (records end at %" PRIu64 ", +%" PRId64 ") is not written "
		     "after close (extent flags %#x)",
		     at, end, at - (int64_t)end, bad);
	/* Only ahead: far past the records the preallocation is still unwritten. */
	at = first_unwritten(fd, end + (4u << 20), end + (5u << 20), 0, &bad);
	cr_assert_eq((uint64_t)at, end + (4u << 20));
	cr_assert(bad & FIEMAP_EXTENT_UNWRITTEN, "flags %#x 4 MiB past the records", bad);
	close(fd);

	/* Recovery stops at the zeros: exactly the records written, and goes on after them. */
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), z);
	cr_assert_eq(txlog_replay(log, 0, collect_fn, &c), 0);
	cr_assert_eq(c.bad, 0);
	cr_assert_eq(c.n, (size_t)z, "%zu records recovered, %" PRId64 " written", c.n, z);
	for (size_t i = 0; i < c.n; i++)
		cr_assert_eq(c.z[i], (int64_t)i + 1);
	free(c.z);
	append_len(log, z + 1, rec_len(z + 1));
	wait_ok(log, z + 1);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, z, z + 1, z + 1);
	close_ok(log);
	test_assert_no_leaks();
}

/* ---- mntr's summaries ---- */

static void append_batch(struct txlog *log, int64_t *z, int n, int delay_ms)
{
	__atomic_store_n(&sync_delay_ms, delay_ms, __ATOMIC_SEQ_CST);
	for (int i = 0; i < n; i++) {
		++*z;
		append_len(log, *z, rec_len(*z));
	}
	wait_ok(log, *z); /* one batch: nothing flushes before the wait */
	__atomic_store_n(&sync_delay_ms, 0, __ATOMIC_SEQ_CST);
}

static void expect_summary(const struct txlog_summary *s, uint64_t cnt, uint64_t sum,
			   uint64_t min, uint64_t max, const char *what)
{
	cr_assert_eq(s->cnt, cnt, "%s cnt %" PRIu64, what, s->cnt);
	cr_assert_eq(s->sum, sum, "%s sum %" PRIu64, what, s->sum);
	cr_assert_eq(s->min, min, "%s min %" PRIu64, what, s->min);
	cr_assert_eq(s->max, max, "%s max %" PRIu64, what, s->max);
}

Test(txlog, summaries_count_records_per_batch_and_fsync_ms)
{
	struct txlog_opts o = test_opts();
	struct txlog_summary bs, fs;
	struct txlog *log;
	int64_t z = 0;

	log = open_ok(&o);
	txlog_summaries(log, &bs, &fs);
	expect_summary(&bs, 0, 0, 0, 0, "batch, fresh");
	expect_summary(&fs, 0, 0, 0, 0, "fsync, fresh");
	/* Batches of 3, 1 and 5 records; their fdatasyncs take >= 2, >= 50, >= 0 ms. */
	append_batch(log, &z, 3, 2);
	append_batch(log, &z, 1, 50);
	append_batch(log, &z, 5, 0);
	txlog_summaries(log, &bs, &fs);
	expect_summary(&bs, 3, 9, 1, 5, "batch");
	/* Milliseconds are the machine's (a loaded disk adds its own): bounds only. */
	cr_assert_eq(fs.cnt, 3u);
	cr_assert_geq(fs.max, 50u, "max %" PRIu64, fs.max);
	cr_assert_leq(fs.min, fs.max);
	cr_assert_geq(fs.sum, 52u, "sum %" PRIu64, fs.sum);
	cr_assert_geq(fs.sum, fs.min + fs.max);
	cr_assert_leq(fs.sum, 3 * fs.max);

	/* srst: zeros at once, before the writer has seen the request. */
	txlog_summaries_reset(log);
	txlog_summaries(log, &bs, &fs);
	expect_summary(&bs, 0, 0, 0, 0, "batch, reset");
	expect_summary(&fs, 0, 0, 0, 0, "fsync, reset");
	/* The writer honours it before counting its next batch. */
	append_batch(log, &z, 2, 0);
	txlog_summaries(log, &bs, &fs);
	expect_summary(&bs, 1, 2, 2, 2, "batch, after reset");
	cr_assert_eq(fs.cnt, 1u);
	cr_assert_eq(fs.min, fs.max);
	cr_assert_eq(fs.sum, fs.max);
	/* Two resets in a row are one. */
	txlog_summaries_reset(log);
	txlog_summaries_reset(log);
	append_batch(log, &z, 4, 0);
	append_batch(log, &z, 7, 0);
	txlog_summaries(log, &bs, &fs);
	expect_summary(&bs, 2, 11, 4, 7, "batch, after two resets");
	cr_assert_eq(fs.cnt, 2u);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, summaries_without_force_sync_count_batches_only)
{
	struct txlog_opts o = test_opts();
	struct txlog_summary bs, fs;
	struct txlog *log;
	int64_t z = 0;

	o.no_sync = true;
	log = open_ok(&o);
	append_batch(log, &z, 6, 0);
	append_batch(log, &z, 2, 0);
	txlog_summaries(log, &bs, &fs);
	/* ZooKeeper counts BATCH_SIZE on every flush, FSYNC_TIME only with forceSync. */
	expect_summary(&bs, 2, 8, 2, 6, "batch");
	expect_summary(&fs, 0, 0, 0, 0, "fsync");
	close_ok(log);
	test_assert_no_leaks();
}

/* ---- Options ---- */

Test(txlog, bad_options)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = NULL;
	char missing[1200];

	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(txlog_open(NULL, &log), -EINVAL);
	o.max_record = 0x80000000u;
	cr_assert_eq(txlog_open(&o, &log), -EINVAL);
	o = test_opts();
	snprintf(missing, sizeof(missing), "%s/does/not/exist", tdir);
	o.dir = missing;
	cr_assert_eq(txlog_open(&o, &log), -ENOENT);
	cr_assert_null(log);
	log_set_level(LOG_LVL_WARN);
	test_assert_no_leaks();
}

/* ---- Suffix truncation (Raft's conflicting suffix) ---- */

Test(txlog, truncate_suffix_within_the_newest_file_and_append_again)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);

	append_range(log, 1, 100, 10);
	wait_ok(log, 100);
	cr_assert_eq(txlog_truncate_suffix(log, 50), 0);
	cr_assert_eq(txlog_durable_zxid(log), 49);
	expect_replay(log, 0, 1, 49);
	cr_assert_eq(txlog_append(log, 49, "x", 1), -EINVAL, "49 is still there");
	append_range(log, 50, 70, 5);
	wait_ok(log, 70);
	close_ok(log);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 70);
	expect_replay(log, 0, 1, 70);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, truncate_suffix_across_files_deletes_the_newer_ones)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;

	o.file_limit = 4096; /* a new file every ~30 records */
	log = open_ok(&o);
	for (int64_t z = 1; z <= 200; z += 10) {
		append_range(log, z, z + 9, 0);
		wait_ok(log, z + 9);
	}
	list_logs(&f);
	cr_assert_geq(f.n, 4u);
	/* Purged files move the first zxid. */
	cr_assert_eq(txlog_first_zxid(log), 1);
	cr_assert_eq(txlog_purge(log, f.first[1]), 1);
	cr_assert_eq(txlog_first_zxid(log), f.first[1]);
	/* From the first record of the third file: it and the later ones go. */
	cr_assert_eq(txlog_truncate_suffix(log, f.first[2]), 0);
	cr_assert_eq(txlog_durable_zxid(log), f.first[2] - 1);
	{
		struct files g;

		list_logs(&g);
		cr_assert_eq(g.n, 1u);
	}
	/* From the middle of the (now) first file. */
	cr_assert_eq(txlog_truncate_suffix(log, f.first[1] + 5), 0);
	expect_replay(log, 0, f.first[1], f.first[1] + 4);
	append_range(log, f.first[1] + 5, 120, 0);
	wait_ok(log, 120);
	close_ok(log);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 120);
	expect_replay(log, f.first[1] - 1, f.first[1], 120);
	cr_assert_eq(txlog_first_zxid(log), f.first[1]);
	/* Everything: no file left; the log starts again at 1. */
	cr_assert_eq(txlog_truncate_suffix(log, 1), 0);
	cr_assert_eq(txlog_durable_zxid(log), 0);
	cr_assert_eq(txlog_first_zxid(log), 0);
	list_logs(&f);
	cr_assert_eq(f.n, 0u);
	append_range(log, 1, 3, 0);
	wait_ok(log, 3);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 3);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * A suffix truncation right after a roll, into the file just finished
 * (queued for its cut): that file is the writer's again and grows past
 * its old length; the cut must not come after and take the new records.
 */
Test(txlog, truncate_suffix_into_a_file_waiting_for_its_cut)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;

	for (int round = 0; round < 20; round++) {
		log = open_ok(&o);
		append_range(log, 1, 20, 0);
		wait_ok(log, 20);
		cr_assert_eq(txlog_roll(log), 0);
		append_range(log, 21, 30, 0);
		wait_ok(log, 30); /* the roll queued log.1 for its cut */
		cr_assert_eq(txlog_truncate_suffix(log, 11), 0);
		append_range(log, 11, 80, 9);
		wait_ok(log, 80);
		cr_assert_eq(txlog_spare_wait(log, 10000), 0);
		expect_replay(log, 0, 1, 80);
		close_ok(log);
		list_logs(&f);
		cr_assert_eq(f.n, 1u);
		log = open_ok(&o);
		expect_replay(log, 0, 1, 80);
		close_ok(log);
		cr_assert_eq(nftw(ldir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0); /* a fresh log */
	}
	test_assert_no_leaks();
}

Test(txlog, truncate_suffix_of_records_not_yet_written_cuts_the_batch)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);

	append_range(log, 1, 10, 0);
	wait_ok(log, 10);
	append_len(log, 11, rec_len(11));
	append_len(log, 12, rec_len(12));
	append_len(log, 13, rec_len(13));
	cr_assert_eq(txlog_truncate_suffix(log, 12), 0);
	cr_assert_eq(txlog_durable_zxid(log), 10, "nothing on disk was touched");
	cr_assert_eq(txlog_append(log, 11, "x", 1), -EINVAL, "11 stays appended");
	append_len(log, 12, rec_len(12));
	wait_ok(log, 12);
	cr_assert_eq(txlog_truncate_suffix(log, 0), -EINVAL);
	cr_assert_eq(txlog_truncate_suffix(log, 100), 0, "beyond the end: nothing to do");
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 12);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, crash_image_during_truncation_is_a_prefix_of_the_old_log)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;
	char path[PATH_MAX];

	o.file_limit = 4096;
	log = open_ok(&o);
	for (int64_t z = 1; z <= 150; z += 10) {
		append_range(log, z, z + 9, 0);
		wait_ok(log, z + 9);
	}
	close_ok(log);
	list_logs(&f);
	cr_assert_geq(f.n, 3u);
	/*
	 * A crash after the newest file was deleted and before the older
	 * one was cut: what is left opens as the log up to its end.
	 */
	path_of(path, f.name[f.n - 1]);
	cr_assert_eq(unlink(path), 0);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), f.first[f.n - 1] - 1);
	expect_replay(log, 0, 1, f.first[f.n - 1] - 1);
	close_ok(log);
	test_assert_no_leaks();
}

/* ---- Format 2: entries with index, term and zxid; format 1 still read ---- */

struct ecollect {
	struct txlog_entry e[64];
	size_t n;
};

static int ecollect_fn(void *arg, const struct txlog_entry *e)
{
	struct ecollect *c = arg;

	cr_assert_lt(c->n, 64u);
	c->e[c->n] = *e;
	c->e[c->n].data = NULL; /* valid during the call only */
	c->n++;
	return 0;
}

static void append_entry_ok(struct txlog *log, int64_t index, uint64_t term, int64_t zxid)
{
	char data[32];
	struct txlog_entry e = {index, term, zxid, data, 0};

	e.len = (size_t)snprintf(data, sizeof(data), "e%" PRId64 "-%" PRIu64, index, term);
	cr_assert_eq(txlog_append_entry(log, &e), 0, "entry %" PRId64, index);
}

Test(txlog, entries_keep_index_term_and_zxid_through_truncation_and_reopen)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	struct ecollect c = {0};
	int64_t index;
	uint64_t term;
	struct txlog_entry bad = {5, 1, (int64_t)(3ull << 32) + 9, "x", 1};

	/* Batches of txns: an entry's zxid is its first txn's, counters skip. */
	append_entry_ok(log, 1, 1, (int64_t)(1ull << 32));
	append_entry_ok(log, 2, 1, (int64_t)(1ull << 32) + 1);
	append_entry_ok(log, 3, 1, (int64_t)(1ull << 32) + 40);
	append_entry_ok(log, 4, 3, (int64_t)(3ull << 32));
	cr_assert_eq(txlog_append_entry(log, &bad), -EINVAL, "term went down");
	bad.term = 3;
	bad.zxid = (int64_t)(3ull << 32);
	cr_assert_eq(txlog_append_entry(log, &bad), -EINVAL, "zxid did not increase");
	bad.index = 4;
	bad.zxid = (int64_t)(3ull << 32) + 1;
	cr_assert_eq(txlog_append_entry(log, &bad), -EINVAL, "index did not increase");
	wait_ok(log, 4);
	txlog_last(log, &index, &term);
	cr_assert(index == 4 && term == 3);
	cr_assert_eq(txlog_replay_entries(log, 1, ecollect_fn, &c), 0);
	cr_assert_eq(c.n, 3u);
	cr_assert(c.e[0].index == 2 && c.e[0].term == 1 && c.e[0].zxid == (int64_t)(1ull << 32) + 1);
	cr_assert(c.e[2].index == 4 && c.e[2].term == 3 && c.e[2].zxid == (int64_t)(3ull << 32));
	cr_assert_eq(c.e[1].len, strlen("e3-1"));

	/* A new leader of term 4 overwrites from index 3. */
	cr_assert_eq(txlog_truncate_suffix(log, 3), 0);
	txlog_last(log, &index, &term);
	cr_assert(index == 2 && term == 1, "last is entry 2 of term 1, got %" PRId64 "/%" PRIu64,
		  index, term);
	append_entry_ok(log, 3, 4, (int64_t)(4ull << 32));
	wait_ok(log, 3);
	close_ok(log);

	log = open_ok(&o);
	txlog_last(log, &index, &term);
	cr_assert(index == 3 && term == 4);
	c.n = 0;
	cr_assert_eq(txlog_replay_entries(log, 0, ecollect_fn, &c), 0);
	cr_assert_eq(c.n, 3u);
	cr_assert(c.e[2].index == 3 && c.e[2].term == 4 && c.e[2].zxid == (int64_t)(4ull << 32));
	/* Truncating unwritten entries restores the last term too. */
	append_entry_ok(log, 4, 5, (int64_t)(5ull << 32));
	cr_assert_eq(txlog_truncate_suffix(log, 4), 0);
	txlog_last(log, &index, &term);
	cr_assert(index == 3 && term == 4);
	close_ok(log);
	test_assert_no_leaks();
}

struct ebytes {
	char rec[4][64];
	size_t len[4];
	size_t n;
};

static int ebytes_fn(void *arg, const struct txlog_entry *e)
{
	struct ebytes *c = arg;

	cr_assert_lt(c->n, 4u);
	cr_assert_leq(e->len, sizeof(c->rec[0]));
	cr_assert_eq(e->head_len, 0u, "read back entries have no head");
	memcpy(c->rec[c->n], e->data, e->len);
	c->len[c->n++] = e->len;
	return 0;
}

/* An entry's head is stored in front of its data, as one record. */
Test(txlog, entry_head_and_data_are_one_record)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	struct ebytes c = {0};
	static char big[MAX_REC + 1];
	struct txlog_entry e = {.index = 1, .term = 0, .zxid = 10};

	/* refused: a head or data missing, nothing at all, above max_record */
	e.head_len = 3;
	e.data = "xyz";
	e.len = 3;
	cr_assert_eq(txlog_append_entry(log, &e), -EINVAL, "head_len without head");
	e = (struct txlog_entry){
	    .index = 1, .term = 0, .zxid = 10, .head = "h", .head_len = 1, .len = 2};
	cr_assert_eq(txlog_append_entry(log, &e), -EINVAL, "len without data");
	e = (struct txlog_entry){.index = 1, .term = 0, .zxid = 10, .head = "h", .data = "d"};
	cr_assert_eq(txlog_append_entry(log, &e), -EINVAL, "empty record");
	e.head_len = 1;
	e.data = big;
	e.len = MAX_REC;
	cr_assert_eq(txlog_append_entry(log, &e), -EINVAL, "head + data above max_record");
	e.len = MAX_REC - 1;
	cr_assert_eq(txlog_append_entry(log, &e), 0, "head + data at max_record");
	/* head and data; head alone (data NULL); data alone */
	e = (struct txlog_entry){.index = 2,
				 .term = 0,
				 .zxid = 11,
				 .head = "HDR:",
				 .head_len = 4,
				 .data = "payload",
				 .len = 7};
	cr_assert_eq(txlog_append_entry(log, &e), 0);
	e = (struct txlog_entry){.index = 3, .term = 0, .zxid = 12, .head = "only", .head_len = 4};
	cr_assert_eq(txlog_append_entry(log, &e), 0);
	e = (struct txlog_entry){.index = 4, .term = 0, .zxid = 13, .data = "plain", .len = 5};
	cr_assert_eq(txlog_append_entry(log, &e), 0);
	wait_ok(log, 4);
	close_ok(log);
	log = open_ok(&o);
	cr_assert_eq(txlog_replay_entries(log, 1, ebytes_fn, &c), 0);
	cr_assert_eq(c.n, 3u);
	cr_assert(c.len[0] == 11 && memcmp(c.rec[0], "HDR:payload", 11) == 0);
	cr_assert(c.len[1] == 4 && memcmp(c.rec[1], "only", 4) == 0);
	cr_assert(c.len[2] == 5 && memcmp(c.rec[2], "plain", 5) == 0);
	close_ok(log);
	test_assert_no_leaks();
}

Test(txlog, format_3_layout_matches_the_header)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	size_t len;
	uint8_t *b;
	uint32_t c;

	append_entry_ok(log, 7, 2, 0x200000005ll);
	wait_ok(log, 7);
	close_ok(log);
	b = file_read("log.0000000000000007", &len);
	cr_assert_geq(len, TXLOG_HDR_SIZE + TXLOG_REC_HDR_SIZE + 8);
	cr_assert_eq(memcmp(b, "CHLG", 4), 0);
	cr_assert_eq(jute_be32(b + 4), 3u);
	cr_assert_eq(jute_be64(b + 16), 7u);
	cr_assert_eq(jute_be32(b + 32), crc32c(0, b, 32));
	{
		const uint8_t *h = b + TXLOG_HDR_SIZE;
		uint32_t l = jute_be32(h) & TXLOG_REC_LEN_MASK;

		cr_assert_eq(l, strlen("e7-2"));
		cr_assert(jute_be32(h) & TXLOG_REC_BATCH_END);
		cr_assert_eq(jute_be64(h + 8), 7u);
		cr_assert_eq(jute_be64(h + 16), 2u);
		cr_assert_eq(jute_be64(h + 24), 0x200000005ull);
		cr_assert_eq(jute_be64(h + 32), 0u, "durable mark: nothing was durable");
		cr_assert_eq(memcmp(h + 40, "e7-2", l), 0);
		c = crc32c(crc32c(crc32c(0, h, 4), h + 8, 32), h + 40, l);
		cr_assert_eq(jute_be32(h + 4), c);
	}
	{
		/* The record, byte for byte (big-endian, txlog.h). */
		static const uint8_t golden[48] = {
		    0x80, 0x00, 0x00, 0x04,			    /* batch end | length 4 */
		    0x71, 0x80, 0x3e, 0xf2,			    /* crc32c */
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* index 7 */
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /* term 2 */
		    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, /* zxid */
		    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* durable mark */
		    'e',  '7',	'-',  '2',  0x00, 0x00, 0x00, 0x00, /* payload, pad */
		};

		cr_assert_geq(len, TXLOG_HDR_SIZE + sizeof(golden));
		cr_assert_arr_eq(b + TXLOG_HDR_SIZE, golden, sizeof(golden));
	}
	free(b);
	test_assert_no_leaks();
}

Test(txlog, format_1_files_are_read_continued_in_format_3_and_truncated)
{
	struct txlog_opts o = test_opts();
	struct forge *fg = calloc(1, sizeof(*fg));
	struct txlog *log;
	struct ecollect c = {0};
	struct files f;
	size_t len;
	uint8_t *b;

	cr_assert_eq(mkdir(ldir, 0755), 0);
	forge_hdr(fg, 42, 1);
	for (int64_t z = 1; z <= 10; z++)
		forge_rec(fg, z, z == 10);
	forge_write(fg, 1);
	free(fg);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 10);
	cr_assert_eq(txlog_replay_entries(log, 8, ecollect_fn, &c), 0);
	cr_assert(c.n == 2 && c.e[0].index == 9 && c.e[0].zxid == 9 && c.e[0].term == 0);
	/* Appends go to a new file of format 3; the old one is left as it is. */
	append_range(log, 11, 15, 0);
	wait_ok(log, 15);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	cr_assert_eq(f.first[1], 11);
	b = file_read(f.name[0], &len);
	cr_assert_eq(jute_be32(b + 4), 1u, "the old file keeps format 1");
	free(b);
	b = file_read(f.name[1], &len);
	cr_assert_eq(jute_be32(b + 4), 3u);
	free(b);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 15);
	/* Truncation into the old file cuts it and goes on in a new one. */
	cr_assert_eq(txlog_truncate_suffix(log, 6), 0);
	expect_replay(log, 0, 1, 5);
	append_range(log, 6, 8, 0);
	wait_ok(log, 8);
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 8);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	cr_assert_eq(f.first[1], 6);
	test_assert_no_leaks();
}

/* ---- Pipelined group commit: the durable mark ---- */

enum pdamage { P_GARBAGE, P_ZERO, P_FLIP };

/* Damages file bytes [from, to) of the newest log file (named after first). */
static void pdamage(int64_t first, size_t from, size_t to, enum pdamage d)
{
	char name[64];
	size_t len;
	uint8_t *b;
	uint32_t x = (uint32_t)from * 2654435761u + 7;

	snprintf(name, sizeof(name), "log.%016" PRIx64, (uint64_t)first);
	b = file_read(name, &len);
	cr_assert_leq(to, len);
	for (size_t i = from; i < to; i++) {
		switch (d) {
		case P_GARBAGE:
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			b[i] = (uint8_t)(x | 1);
			break;
		case P_ZERO:
			b[i] = 0;
			break;
		case P_FLIP:
			b[i] ^= 0x10;
			break;
		}
	}
	file_write(name, b, len);
	free(b);
}

/* Offset and end (aligned) of record zxid in the forged image. */
static void forge_span(const struct forge *f, int64_t zxid, size_t *off, size_t *end)
{
	size_t cov;

	find_rec_hs(f->buf, f->len, f->hs, zxid, off, &cov);
	*end = (*off + cov + 7) & ~(size_t)7;
}

/*
 * Batches 1..3 (mark 0), 4..6 (mark 3) and 7..9 with mark m7 (3: written
 * while 4..6 was syncing; 6: written after it was durable), and
 * optionally 10..11 with mark m10; then damage d over records dlo..dhi.
 * Returns open's result; on success the log's durable index is checked
 * to be dlo - 1, the replay 1..dlo - 1, everything after it zero, and
 * appending goes on.
 */
static int pipelined_case(int64_t m7, int64_t m10, int64_t dlo, int64_t dhi, enum pdamage d)
{
	struct txlog_opts o = test_opts();
	struct forge *fg = calloc(1, sizeof(*fg));
	size_t from, to, x;
	struct txlog *log;
	int rc;

	mkdir(ldir, 0755);
	forge_hdr_v(fg, 3, 77, 1);
	forge_batch(fg, 3, 1, 3, 0);
	forge_batch(fg, 3, 4, 6, 3);
	forge_batch(fg, 3, 7, 9, m7);
	if (m10 >= 0)
		forge_batch(fg, 3, 10, 11, m10);
	forge_write(fg, 1);
	forge_span(fg, dlo, &from, &x);
	forge_span(fg, dhi, &x, &to);
	pdamage(1, from, d == P_FLIP ? from + 1 : to, d);
	{
		size_t blen;
		uint8_t *before = file_read("log.0000000000000001", &blen);

		log_set_level(LOG_LVL_ERROR);
		rc = txlog_open(&o, &log);
		log_set_level(LOG_LVL_WARN);
		if (rc) {
			size_t alen;
			uint8_t *after = file_read("log.0000000000000001", &alen);

			cr_assert(alen == blen && memcmp(after, before, blen) == 0,
				  "a refusal changes nothing on disk");
			free(after);
		}
		free(before);
	}
	if (!rc) {
		size_t len;
		uint8_t *img;

		cr_assert_eq(txlog_durable_zxid(log), dlo - 1);
		expect_replay(log, 0, 1, dlo - 1);
		img = file_read("log.0000000000000001", &len);
		for (size_t i = from; i < len; i++)
			cr_assert_eq(img[i], 0, "byte %zu after the cut is not zero", i);
		free(img);
		append_range(log, dlo, dlo + 3, 0);
		wait_ok(log, dlo + 3);
		close_ok(log);
		log = open_ok(&o);
		expect_replay(log, 0, 1, dlo + 3);
		close_ok(log);
	}
	{
		char path[PATH_MAX];

		path_of(path, "log.0000000000000001");
		unlink(path);
	}
	free(fg);
	return rc;
}

Test(txlog, torn_earlier_batch_before_a_later_one_written_before_it_was_durable_is_cut)
{
	static const enum pdamage ds[] = {P_GARBAGE, P_ZERO, P_FLIP};

	for (size_t i = 0; i < 3; i++) {
		/* Batch 4..6 damaged, 7..9 (mark 3) whole: a power loss mid-pipeline. */
		cr_assert_eq(pipelined_case(3, -1, 4, 6, ds[i]), 0, "damage %d", ds[i]);
		cr_assert_eq(pipelined_case(3, -1, 5, 5, ds[i]), 0, "damage %d", ds[i]);
		cr_assert_eq(pipelined_case(3, -1, 6, 6, ds[i]), 0, "damage %d", ds[i]);
		/* Within the last batch, its later records whole: also torn. */
		cr_assert_eq(pipelined_case(3, -1, 7, 7, ds[i]), 0, "damage %d", ds[i]);
		cr_assert_eq(pipelined_case(6, -1, 8, 8, ds[i]), 0, "damage %d", ds[i]);
		/* Two later batches, both written before 4..6 was durable. */
		cr_assert_eq(pipelined_case(3, 3, 4, 6, ds[i]), 0, "damage %d", ds[i]);
		/* The torn last batch with nothing after it: as ever. */
		cr_assert_eq(pipelined_case(3, -1, 9, 9, ds[i]), 0, "damage %d", ds[i]);
	}
	test_assert_no_leaks();
}

Test(txlog, torn_batch_before_one_written_after_it_was_durable_is_refused)
{
	static const enum pdamage ds[] = {P_GARBAGE, P_ZERO, P_FLIP};

	for (size_t i = 0; i < 3; i++) {
		/* 7..9 was written once 4..6 was durable (mark 6): 4..6 was acknowledged. */
		cr_assert_eq(pipelined_case(6, -1, 4, 6, ds[i]), -EBADMSG, "damage %d", ds[i]);
		cr_assert_eq(pipelined_case(6, -1, 5, 5, ds[i]), -EBADMSG, "damage %d", ds[i]);
		/* One later batch below, one not: refused. */
		cr_assert_eq(pipelined_case(3, 6, 4, 6, ds[i]), -EBADMSG, "damage %d", ds[i]);
		cr_assert_eq(pipelined_case(3, 9, 7, 7, ds[i]), -EBADMSG, "damage %d", ds[i]);
		/* Damage in the first batch: 4..6 was written after it was durable. */
		cr_assert_eq(pipelined_case(3, -1, 2, 2, ds[i]), -EBADMSG, "damage %d", ds[i]);
	}
	test_assert_no_leaks();
}

Test(txlog, impossible_durable_marks_are_refused)
{
	struct txlog_opts o = test_opts();
	struct forge *fg = calloc(1, sizeof(*fg));
	char path[PATH_MAX];

	cr_assert_eq(mkdir(ldir, 0755), 0);
	path_of(path, "log.0000000000000001");
	/* A valid record whose mark is not below its own index. */
	forge_hdr_v(fg, 3, 77, 1);
	forge_batch(fg, 3, 1, 3, 0);
	forge_batch(fg, 3, 4, 6, 4);
	forge_write(fg, 1);
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(open_rc(&o), -EBADMSG);
	/* After damage, a later record with such a mark does not excuse it. */
	forge_hdr_v(fg, 3, 77, 1);
	forge_batch(fg, 3, 1, 3, 0);
	forge_batch(fg, 3, 4, 6, 3);
	forge_batch(fg, 3, 7, 9, 9);
	forge_write(fg, 1);
	{
		size_t from, to;

		forge_span(fg, 5, &from, &to);
		pdamage(1, from, from + 1, P_FLIP);
	}
	cr_assert_eq(open_rc(&o), -EBADMSG);
	/* A negative mark likewise. */
	forge_hdr_v(fg, 3, 77, 1);
	forge_batch(fg, 3, 1, 3, -1);
	forge_write(fg, 1);
	cr_assert_eq(open_rc(&o), -EBADMSG);
	log_set_level(LOG_LVL_WARN);
	unlink(path);
	free(fg);
	test_assert_no_leaks();
}

Test(txlog, format_2_files_are_read_and_continued_in_format_3)
{
	struct txlog_opts o = test_opts();
	struct forge *fg = calloc(1, sizeof(*fg));
	struct txlog *log;
	struct files f;
	size_t len, from, x;
	uint8_t *b;

	cr_assert_eq(mkdir(ldir, 0755), 0);
	forge_hdr_v(fg, 2, 42, 1);
	forge_batch(fg, 2, 1, 5, 0);
	forge_batch(fg, 2, 6, 10, 0);
	forge_write(fg, 1);
	log = open_ok(&o);
	cr_assert_eq(txlog_durable_zxid(log), 10);
	expect_replay(log, 0, 1, 10);
	append_range(log, 11, 15, 0);
	wait_ok(log, 15);
	close_ok(log);
	list_logs(&f);
	cr_assert_eq(f.n, 2u);
	b = file_read(f.name[0], &len);
	cr_assert_eq(jute_be32(b + 4), 2u, "the old file keeps format 2");
	free(b);
	b = file_read(f.name[1], &len);
	cr_assert_eq(jute_be32(b + 4), 3u);
	free(b);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 15);
	close_ok(log);

	/*
	 * A format 2 file has no marks: damage before valid records is
	 * refused, even within its last batch (the old rule), and a torn
	 * tail with nothing after it is still cut.
	 */
	{
		char path[PATH_MAX];

		path_of(path, f.name[1]);
		unlink(path);
	}
	forge_span(fg, 7, &from, &x);
	forge_write(fg, 1);
	pdamage(1, from, from + 1, P_FLIP);
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(open_rc(&o), -EBADMSG);
	forge_write(fg, 1);
	forge_span(fg, 10, &from, &x);
	pdamage(1, from, x, P_GARBAGE);
	log = open_ok(&o);
	log_set_level(LOG_LVL_WARN);
	cr_assert_eq(txlog_durable_zxid(log), 9);
	expect_replay(log, 0, 1, 9);
	close_ok(log);
	free(fg);
	test_assert_no_leaks();
}

/* The durable mark of record zxid in the newest file. */
static int64_t mark_of(const char *name, int64_t zxid)
{
	size_t len, off, cov;
	uint8_t *b = file_read(name, &len);
	int64_t m;

	find_rec(b, len, zxid, &off, &cov);
	m = (int64_t)jute_be64(b + off + 32);
	free(b);
	return m;
}

Test(txlog, two_batches_sync_at_once_and_become_durable_in_order)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	struct files f;
	long n0, r0;
	uint64_t ev;

	o.max_inflight = 2;
	log = open_ok(&o);
	append_range(log, 1, 1, 0);
	wait_ok(log, 1);
	/* The spare helper's fdatasyncs, done before syncs are gated or counted. */
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	while (read(txlog_eventfd(log), &ev, sizeof(ev)) > 0)
		;
	gate_close();
	n0 = syncs();
	r0 = __atomic_load_n(&sync_returned, __ATOMIC_SEQ_CST);
	append_range(log, 2, 3, 0);
	cr_assert_eq(txlog_flush(log), 0);
	gate_wait_n(1); /* batch {2,3} syncs (call n0 + 1) */
	append_range(log, 4, 4, 0);
	cr_assert_eq(txlog_flush(log), 0, "a second batch goes while the first syncs");
	gate_wait_n(2); /* batch {4} syncs too (call n0 + 2) */
	append_range(log, 5, 5, 0);
	cr_assert_eq(txlog_flush(log), -EAGAIN, "at most two batches in flight");
	list_logs(&f);
	cr_assert_eq(mark_of(f.name[f.n - 1], 2), 1);
	cr_assert_eq(mark_of(f.name[f.n - 1], 4), 1, "written before {2,3} was durable");

	/* The later sync returns first: nothing is durable until the earlier one is. */
	gate_let(n0 + 2);
	wait_returned(r0 + 1);
	cr_assert_eq(txlog_wait_durable(log, 2, 100), -ETIMEDOUT);
	cr_assert_eq(txlog_durable_zxid(log), 1);
	cr_assert_lt(read(txlog_eventfd(log), &ev, sizeof(ev)), 0, "no event yet");
	cr_assert_eq(txlog_flush(log), -EAGAIN);
	gate_open();
	wait_ok(log, 4);
	cr_assert_eq(read(txlog_eventfd(log), &ev, sizeof(ev)), (ssize_t)sizeof(ev));
	cr_assert_eq(txlog_flush(log), 0);
	wait_ok(log, 5);
	cr_assert_eq(mark_of(f.name[f.n - 1], 5), 4, "written once {4} was durable");
	close_ok(log);
	log = open_ok(&o);
	expect_replay(log, 0, 1, 5);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * The kernel reports a writeback error to one fdatasync per open file
 * (errseq): when the later batch's sync reports it, the earlier batch's
 * sync, overlapping it, may return 0 although its pages were lost.  So
 * a batch whose sync succeeded waits for every sync that overlapped it:
 * here the earlier sync succeeds and returns first, the later one fails,
 * and nothing is durable.
 */
Test(txlog, a_later_overlapping_sync_failing_keeps_the_earlier_batch_from_being_durable)
{
	struct txlog_opts o = test_opts();
	struct txlog *log;
	long n0, r0;
	uint64_t ev;

	o.max_inflight = 2;
	log = open_ok(&o);
	append_range(log, 1, 1, 0);
	wait_ok(log, 1);
	/* The spare helper's fdatasyncs, done before syncs are gated or counted. */
	cr_assert_eq(txlog_spare_wait(log, 10000), 0);
	while (read(txlog_eventfd(log), &ev, sizeof(ev)) > 0)
		;
	gate_close();
	n0 = syncs();
	r0 = __atomic_load_n(&sync_returned, __ATOMIC_SEQ_CST);
	sync_fail_errno = EIO;
	__atomic_store_n(&sync_fail_at, n0 + 2, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_ERROR);
	append_range(log, 2, 3, 0);
	cr_assert_eq(txlog_flush(log), 0);
	gate_wait_n(1); /* batch {2,3} syncs (call n0 + 1) */
	append_range(log, 4, 4, 0);
	cr_assert_eq(txlog_flush(log), 0);
	gate_wait_n(2); /* batch {4} syncs too (call n0 + 2, which fails) */

	/* The earlier sync succeeds and returns first: not durable yet. */
	gate_let(n0 + 1);
	wait_returned(r0 + 1);
	cr_assert_eq(txlog_wait_durable(log, 3, 100), -ETIMEDOUT,
		     "durable while an overlapping sync still runs");
	cr_assert_eq(txlog_durable_zxid(log), 1);
	cr_assert_eq(txlog_error(log), 0);

	/* The later one fails: the error is sticky and nothing was published. */
	gate_open();
	cr_assert_eq(txlog_wait_durable(log, 3, 10000), -EIO);
	cr_assert_eq(txlog_error(log), -EIO);
	cr_assert_eq(txlog_durable_zxid(log), 1, "the batch whose sync passed is not durable");
	cr_assert_eq(txlog_append(log, 5, "x", 1), -EIO);
	cr_assert_eq(txlog_close(log), -EIO);
	__atomic_store_n(&sync_fail_at, 0, __ATOMIC_SEQ_CST);
	log_set_level(LOG_LVL_WARN);
	log = open_ok(&o);
	cr_assert_geq(txlog_durable_zxid(log), 1);
	close_ok(log);
	test_assert_no_leaks();
}

/*
 * After damage, a complete record above a lowered max_record is not torn
 * garbage: recovery refuses as it does for one before any damage.
 */
Test(txlog, complete_record_above_max_record_after_damage_is_refused)
{
	struct txlog_opts o = test_opts();
	struct forge *fg = calloc(1, sizeof(*fg));
	static const char name[] = "log.000000000000000b";
	char path[PATH_MAX];
	size_t from, x, blen, alen;
	uint8_t *before, *after;

	cr_assert_eq(mkdir(ldir, 0755), 0);
	path_of(path, name);
	/* Payloads: index 11 and 12 of 8 and 45 bytes, 13 of 82, 14 and 15 of 119 and 156. */
	forge_hdr_v(fg, 3, 77, 11);
	forge_batch(fg, 3, 11, 12, 10);
	forge_batch(fg, 3, 13, 13, 12);
	forge_batch(fg, 3, 14, 15, 13); /* written once 13 was durable */
	forge_write(fg, 11);
	forge_span(fg, 13, &from, &x);
	pdamage(11, from, from + 1, P_FLIP);
	before = file_read(name, &blen);
	o.max_record = 100;
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(open_rc(&o), -EMSGSIZE, "14 and 15 above max_record were cut as torn");
	after = file_read(name, &alen);
	cr_assert(alen == blen && memcmp(after, before, blen) == 0,
		  "a refusal changes nothing on disk");
	/* With the limit raised, 14..15 (mark 13) prove 13 was durable. */
	o.max_record = MAX_REC;
	cr_assert_eq(open_rc(&o), -EBADMSG);
	log_set_level(LOG_LVL_WARN);
	free(after);
	free(before);
	unlink(path);
	free(fg);
	test_assert_no_leaks();
}

struct lister_arg {
	struct txlog *log;
	int64_t want;
	int rounds;
	int wrong;	/* listings that did not find the oldest file */
	int64_t got;	/* the first wrong answer */
};

static void *lister_thread(void *arg)
{
	struct lister_arg *a = arg;

	for (int i = 0; i < a->rounds; i++) {
		int64_t z = txlog_first_zxid(a->log);

		if (z != a->want && !a->wrong++)
			a->got = z;
	}
	return NULL;
}

/*
 * txlog_first_zxid (like replay and purge) lists the directory from any
 * thread.  Each listing used a dup() of the log's directory descriptor,
 * which shares its file offset: one thread's rewind and getdents moved
 * the other's, so a listing racing another one could come back empty
 * (first zxid 0, "no file") or with names missing or repeated.
 */
Test(txlog, concurrent_listings_each_see_every_file)
{
	struct txlog_opts o = test_opts();
	struct txlog *log = open_ok(&o);
	struct lister_arg a[3];
	pthread_t th[3];

	append_range(log, 5, 10, 0);
	wait_ok(log, 10);
	txlog_roll(log);
	append_range(log, 11, 20, 0);
	wait_ok(log, 20);
	for (int i = 0; i < 3; i++) {
		a[i] = (struct lister_arg){log, 5, 20000, 0, 0};
		cr_assert_eq(pthread_create(&th[i], NULL, lister_thread, &a[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(a[i].wrong, 0, "lister %d: %d of %d listings wrong (first: %" PRId64 ")",
			     i, a[i].wrong, a[i].rounds, a[i].got);
	close_ok(log);
	test_assert_no_leaks();
}

/* ---- A damaged region of random bytes: found records, bounded work ---- */

#define RANDOM_REGION (4u << 20)

/*
 * Replaces bytes [from, to) of log file `name` by RANDOM_REGION bytes of
 * xorshift64 output (every byte value, zeros included), shifting what
 * follows; the file then ends in zeros up to 64 MiB, the default
 * preallocation, so that random lengths up to the default max_record fit
 * in the file as they do in a real one.
 */
static void splice_random(const char *name, size_t from, size_t to, uint64_t seed)
{
	size_t len, nlen;
	uint8_t *b = file_read(name, &len), *nb;
	uint64_t x = seed | 1;
	char path[PATH_MAX];

	cr_assert(from % 8 == 0 && from < to && to <= len);
	nlen = len - (to - from) + RANDOM_REGION;
	nb = malloc(nlen);
	cr_assert_not_null(nb);
	memcpy(nb, b, from);
	for (size_t i = 0; i < RANDOM_REGION; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(nb + from + i, &x, 8);
	}
	memcpy(nb + from + RANDOM_REGION, b + to, len - to);
	file_write(name, nb, nlen);
	path_of(path, name);
	cr_assert_lt(nlen, TXLOG_DEFAULT_PREALLOC);
	cr_assert_eq(truncate(path, (off_t)TXLOG_DEFAULT_PREALLOC), 0);
	free(nb);
	free(b);
}

/*
 * Opens with the default max_record (a length field passes it once in
 * 128 random words) and returns open's result; *checks is the number of
 * full CRC checks the scan after the damage made.  A refusal changes
 * nothing on disk.
 */
static int open_counting(const char *name, struct txlog **log, uint64_t *checks)
{
	struct txlog_opts o = test_opts();
	uint64_t before = txlog_scan_crc_checks();
	size_t blen, alen;
	uint8_t *img = file_read(name, &blen), *after;
	int rc;

	o.max_record = TXLOG_DEFAULT_MAX_RECORD;
	*log = NULL;
	struct timespec t0, t1;

	log_set_level(LOG_LVL_ERROR);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = txlog_open(&o, log);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_set_level(LOG_LVL_WARN);
	*checks = txlog_scan_crc_checks() - before;
	/* Reported, never asserted (a loaded machine decides nothing). */
	cr_log_info("open: %d, %" PRIu64 " full CRC checks after the damage, %.3f s", rc, *checks,
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (rc) {
		after = file_read(name, &alen);
		cr_assert(alen == blen && memcmp(after, img, blen) == 0,
			  "a refusal changes nothing on disk");
		free(after);
	}
	free(img);
	return rc;
}

/*
 * The standalone server's log, written by the writer: 2000 records of
 * epoch 1 (zxid = index = 1 << 32 | n) in batches of 100, each durable
 * before the next is written, then an epoch change to 2 << 32 | 1..50.
 * Record 1 << 32 | 1990 is replaced by 4 MiB of random bytes: its batch's
 * later records (mark 1 << 32 | 1900, below it) and the epoch 2 records
 * (marks at or above 1 << 32 | 2000: the damaged batch was durable) must
 * all still be found, so open refuses, and the random bytes cost only a
 * handful of full CRC checks (thousands before the term filter).
 */
Test(txlog, random_region_after_many_records_and_an_epoch_change_is_refused_cheaply)
{
	struct txlog_opts o = test_opts();
	static const char name[] = "log.0000000100000001";
	const int64_t e1 = (int64_t)(1ull << 32), e2 = (int64_t)(2ull << 32);
	struct txlog *log;
	size_t len, off, cov;
	uint64_t checks;
	uint8_t *img;

	o.prealloc = 1 << 20;
	o.max_record = TXLOG_DEFAULT_MAX_RECORD;
	log = open_ok(&o);
	for (int64_t z = e1 + 1; z <= e1 + 2000; z += 100) {
		append_range(log, z, z + 99, 0);
		wait_ok(log, z + 99);
	}
	for (int64_t z = e2 + 1; z <= e2 + 50; z += 10) {
		append_range(log, z, z + 9, 0);
		wait_ok(log, z + 9);
	}
	close_ok(log);
	img = file_read(name, &len);
	find_rec(img, len, e1 + 1990, &off, &cov);
	free(img);
	splice_random(name, off, off + ((cov + 7) & ~(size_t)7), 0x9e3779b97f4a7c15ull);
	cr_assert_eq(open_counting(name, &log, &checks), -EBADMSG,
		     "the records after the random bytes were not all found");
	/* 10 + 50 valid records are checked; random words next to none. */
	cr_assert_leq(checks, 60u + 4u, "%" PRIu64 " full CRC checks", checks);
	cr_assert_geq(checks, 60u);
	test_assert_no_leaks();
}

/*
 * Forged (format 3, term = zxid >> 32): epoch 1 records 1 << 32 | 1..40
 * and 41..60, then an epoch change, 2 << 32 | 1..5, written while 41..60
 * was not yet durable (mark 1 << 32 | 40) or after (mark 1 << 32 | 60).
 * Record 1 << 32 | 45 is replaced by 4 MiB of random bytes.  The first
 * is a torn pipelined tail, cut at the damage; the second is refused:
 * both need the epoch 2 records found beyond the random bytes.
 */
Test(txlog, random_region_before_records_of_a_new_epoch_decides_as_before)
{
	static const char name[] = "log.0000000100000001";
	const int64_t e1 = (int64_t)(1ull << 32), e2 = (int64_t)(2ull << 32);
	struct forge *fg = calloc(1, sizeof(*fg));
	struct txlog *log;
	size_t off, end;
	uint64_t checks;

	cr_assert_not_null(fg);
	cr_assert_eq(mkdir(ldir, 0755), 0);
	for (int pass = 0; pass < 2; pass++) {
		int64_t m = pass == 0 ? e1 + 40 : e1 + 60;
		char path[PATH_MAX];

		forge_hdr_v(fg, 3, 77, e1 + 1);
		forge_batch(fg, 3, e1 + 1, e1 + 40, 0);
		forge_batch(fg, 3, e1 + 41, e1 + 60, e1 + 40);
		forge_batch(fg, 3, e2 + 1, e2 + 5, m);
		forge_write(fg, e1 + 1);
		forge_span(fg, e1 + 45, &off, &end);
		splice_random(name, off, end, 12345u + (uint64_t)pass);
		if (pass == 0) {
			size_t len;
			uint8_t *img;

			cr_assert_eq(open_counting(name, &log, &checks), 0);
			cr_assert_eq(txlog_durable_zxid(log), e1 + 44);
			expect_replay(log, 0, e1 + 1, e1 + 44);
			img = file_read(name, &len);
			for (size_t i = off; i < len; i++)
				cr_assert_eq(img[i], 0, "byte %zu after the cut is not zero", i);
			free(img);
			close_ok(log);
		} else {
			cr_assert_eq(open_counting(name, &log, &checks), -EBADMSG);
		}
		/* 15 + 5 valid records are checked; random words next to none. */
		cr_assert_leq(checks, 20u + 4u, "%" PRIu64 " full CRC checks", checks);
		cr_assert_geq(checks, 20u);
		path_of(path, name);
		unlink(path);
	}
	free(fg);
	test_assert_no_leaks();
}

/* The rule the scan's filter relies on holds on append and on disk. */
Test(txlog, a_term_above_its_zxids_epoch_is_refused)
{
	struct txlog_opts o = test_opts();
	struct forge *fg = calloc(1, sizeof(*fg));
	struct txlog *log = open_ok(&o);
	struct txlog_entry e = {
	    .index = 1, .term = 2, .zxid = (int64_t)(1ull << 32) + 5, .data = "x", .len = 1};
	char path[PATH_MAX];

	cr_assert_not_null(fg);
	log_set_level(LOG_LVL_ERROR);
	cr_assert_eq(txlog_append_entry(log, &e), -EINVAL);
	e.term = 1;
	cr_assert_eq(txlog_append_entry(log, &e), 0);
	e.index = 2;
	e.zxid = (int64_t)(3ull << 32);
	e.term = 2; /* below the epoch: allowed */
	cr_assert_eq(txlog_append_entry(log, &e), 0);
	wait_ok(log, 2);
	close_ok(log);
	path_of(path, "log.0000000000000001");
	cr_assert_eq(unlink(path), 0);
	/* On disk: index 2's term raised above its zxid's epoch, CRC valid. */
	forge_hdr_v(fg, 3, 77, 1);
	forge_batch(fg, 3, 1, 3, 0);
	{
		size_t off, cov;
		uint8_t *h;

		find_rec_hs(fg->buf, fg->len, fg->hs, 2, &off, &cov);
		h = fg->buf + off;
		jute_put_be64(h + 16, 1);
		jute_put_be32(h + 4, crc32c(crc32c(crc32c(0, h, 4), h + 8, 32), h + 40,
					    jute_be32(h) & TXLOG_REC_LEN_MASK));
	}
	forge_write(fg, 1);
	cr_assert_eq(open_rc(&o), -EBADMSG);
	log_set_level(LOG_LVL_WARN);
	unlink(path);
	free(fg);
	test_assert_no_leaks();
}
