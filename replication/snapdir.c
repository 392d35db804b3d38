/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot files on disk: recovery's starting point, the background
 * snapshot worker, and autopurge.  Behaviour models: ZooKeeper's FileSnap
 * and FileTxnSnapLog (restore tries the newest snapshots first, at most
 * 100, skipping damaged ones), SyncRequestProcessor's snapshot thread
 * (one at a time, "Too busy to snap, skipping"), DatadirCleanupManager
 * and PurgeTxnLog (keep snapRetainCount snapshots and the log files they
 * need).  The snapshot bytes are the tree's (tree_snapshot_write/load).
 *
 * Files.  <dataDir>/cheetah-1/snapshot.<zxid, 16 lowercase hex>, where
 * zxid is the tree's last applied zxid when the walk started (the snapshot
 * is fuzzy: recovery replays the log from zxid + 1).  A snapshot is born
 * as snapshot.<zxid>.tmp, fsync'ed, renamed to its name and the directory
 * fsync'ed: a file with a snapshot name is complete, and leftover .tmp
 * files (a crash mid-write) are deleted at open.  A snapshot received
 * from a peer is written at its offsets into snapshot.<zxid>.recv as the
 * chunks come (a .tmp of its own: the worker may be writing a .tmp of
 * the same zxid), renamed the same way once whole, and deleted at open
 * when left over.  A snapshot found damaged
 * at load is renamed to snapshot.<zxid>.corrupt and left for the operator:
 * it no longer counts as a snapshot (for loading or for retention).
 *
 * Purge.  Keep the retain newest snapshots; delete older snapshots, and
 * log files holding only records at or below the oldest kept snapshot's
 * zxid (txlog_purge(zxid + 1): a log file stays while its successor
 * starts above that zxid, since it may hold records the snapshot needs).
 * As ZooKeeper, logs older than the oldest snapshot are purged even when
 * fewer than retain snapshots exist; with no snapshot nothing is deleted.
 *
 * Threads.  snapdir_open and snapdir_load run on repl_open's thread; the
 * worker thread runs snapshot and purge jobs, one at a time, handed over
 * under a mutex by the broadcast core.  The worker is registered with RCU
 * (a reader of the tree, never its writer) and online only while walking.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/byteorder.h"
#include "common/clock.h"
#include "common/hist.h"
#include "common/crc32c.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "repl_priv.h"
#include "txlog.h"
#include "zxid_files.h"

#define NAME_LEN (sizeof(SNAPDIR_PREFIX) - 1 + 16)
#define TMP_SUFFIX ".tmp"
#define RECV_SUFFIX ".recv" /* a snapshot being received from a peer */
#define CORRUPT_SUFFIX ".corrupt"
#define NAME_BUF (NAME_LEN + 16)

enum job_kind { JOB_NONE, JOB_SNAPSHOT, JOB_PURGE };

struct snapdir {
	char dir[PATH_MAX];
	int dirfd;
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	enum job_kind job; /* handed over, not yet taken */
	bool busy;	   /* a job is waiting or running */
	struct tree *job_tree;
	struct txlog *job_log;
	int job_retain;
	bool job_meta; /* purge: logs are kept from the oldest kept snapshot's meta */
	struct snapdir_stats stats;
	struct hist snap_ms; /* each snapshot written (under lock) */
};

static void snap_name(char *buf, int64_t zxid, const char *suffix)
{
	snprintf(buf, NAME_BUF, SNAPDIR_PREFIX "%016" PRIx64 "%s", (uint64_t)zxid, suffix);
}

static int fsync_dir(struct snapdir *sd);

static void meta_name(char *buf, int64_t zxid, const char *suffix)
{
	snprintf(buf, NAME_BUF, SNAPDIR_META_PREFIX "%016" PRIx64 "%s", (uint64_t)zxid, suffix);
}

/*
 * The last step of a durable write: tmp, written and synced (rc 0), takes
 * name's place and the directory is synced; on any failure (rc from the
 * write, or here) tmp is removed and the error logged.
 */
static int commit_tmp(struct snapdir *sd, const char *tmp, const char *name, int rc)
{
	if (!rc && renameat(sd->dirfd, tmp, sd->dirfd, name) < 0)
		rc = -errno;
	if (!rc)
		rc = fsync_dir(sd);
	if (rc) {
		log_error("snapdir: %s/%s: cannot write: %s", sd->dir, name, strerror(-rc));
		unlinkat(sd->dirfd, tmp, 0);
	}
	return rc;
}

/*
 * A meta file: a META_HDR-byte header, then len bytes of the caller's
 * (opaque here; the ensemble's are ens_wire.h's snapshot meta).  The
 * header, little-endian (what x86 wrote when it was a raw struct):
 *   0  u32 magic META_MAGIC ("ENSM" read as a little-endian u32)
 *   4  u32 len          8  i64 keep_from
 *   16 u32 crc32c of the header with this field zero, then the payload
 *   20 u32 zero
 */
#define META_HDR 24u
#define META_MAGIC 0x4d534e45u /* "ENSM" */
#define META_MAX 4096u
_Static_assert(META_HDR == 4 + 4 + 8 + 4 + 4, "meta header layout");

static void meta_hdr_encode(uint8_t h[META_HDR], uint32_t len, int64_t keep_from, uint32_t crc)
{
	le_put32(h, META_MAGIC);
	le_put32(h + 4, len);
	le_put64(h + 8, (uint64_t)keep_from);
	le_put32(h + 16, crc);
	le_put32(h + 20, 0);
}

/* The header's CRC over h (its crc field taken as zero) and p[0..len). */
static uint32_t meta_crc(const uint8_t h[META_HDR], const void *p, size_t len)
{
	uint8_t z[META_HDR];

	memcpy(z, h, META_HDR);
	le_put32(z + 16, 0);
	return crc32c(crc32c(0, z, META_HDR), p, len);
}

int snapdir_meta_put(struct snapdir *sd, int64_t zxid, int64_t keep_from, const void *p, size_t len)
{
	char tmp[NAME_BUF], name[NAME_BUF];
	uint8_t h[META_HDR];
	int fd, rc = 0;

	if (len > META_MAX)
		return -EINVAL;
	meta_hdr_encode(h, (uint32_t)len, keep_from, 0);
	le_put32(h + 16, meta_crc(h, p, len));
	meta_name(tmp, zxid, TMP_SUFFIX);
	meta_name(name, zxid, "");
	fd = openat(sd->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, h, META_HDR) != (ssize_t)META_HDR || write(fd, p, len) != (ssize_t)len ||
	    fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	return commit_tmp(sd, tmp, name, rc);
}

int snapdir_meta_get(struct snapdir *sd, int64_t zxid, void *p, size_t len, int64_t *keep_from)
{
	char name[NAME_BUF];
	uint8_t buf[META_HDR + META_MAX + 1];
	uint32_t hlen;
	ssize_t n;
	int fd;

	meta_name(name, zxid, "");
	fd = openat(sd->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return -errno;
	if ((size_t)n < META_HDR)
		goto bad;
	hlen = le_get32(buf + 4);
	if (le_get32(buf) != META_MAGIC || hlen > META_MAX || (size_t)n != META_HDR + hlen ||
	    le_get32(buf + 16) != meta_crc(buf, buf + META_HDR, hlen) || (len && hlen != len))
		goto bad;
	if (len)
		memcpy(p, buf + META_HDR, len);
	*keep_from = (int64_t)le_get64(buf + 8);
	return 0;
bad:
	log_error("snapdir: %s/%s is damaged (size, magic or checksum)", sd->dir, name);
	return -EBADMSG;
}

int snapdir_open_file(struct snapdir *sd, int64_t zxid, int *fd, uint64_t *size)
{
	char name[NAME_BUF];
	struct stat st;
	int f, rc;

	snap_name(name, zxid, "");
	f = openat(sd->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	if (fstat(f, &st) < 0 || st.st_size <= 0) {
		rc = fstat(f, &st) < 0 ? -errno : -EBADMSG;
		close(f);
		return rc;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

int snapdir_pread(int fd, uint64_t off, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO; /* shorter than it was at open */
		got += (size_t)n;
	}
	return 0;
}

int snapdir_recv_open(struct snapdir *sd, int64_t zxid, int *fd)
{
	char tmp[NAME_BUF];
	int f;

	snap_name(tmp, zxid, RECV_SUFFIX);
	f = openat(sd->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f < 0) {
		int rc = -errno;

		log_error("snapdir: %s/%s: cannot create: %s", sd->dir, tmp, strerror(-rc));
		return rc;
	}
	*fd = f;
	return 0;
}

int snapdir_pwrite(int fd, uint64_t off, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
		    pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

int snapdir_recv_commit(struct snapdir *sd, int64_t zxid, int fd, uint64_t len)
{
	char tmp[NAME_BUF], name[NAME_BUF];
	struct stat st;
	int rc = 0;

	snap_name(tmp, zxid, RECV_SUFFIX);
	snap_name(name, zxid, "");
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if ((uint64_t)st.st_size != len)
		rc = -EIO; /* a write went astray: never name a file of another size */
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return commit_tmp(sd, tmp, name, rc);
}

void snapdir_recv_abort(struct snapdir *sd, int64_t zxid, int fd)
{
	char tmp[NAME_BUF];

	snap_name(tmp, zxid, RECV_SUFFIX);
	close(fd);
	unlinkat(sd->dirfd, tmp, 0);
}

/* The snapshots' zxids, newest first (*out malloc'ed). */
static int list_snapshots(struct snapdir *sd, int64_t **out, size_t *n)
{
	int rc = zxid_files_list(sd->dirfd, sd->dir, SNAPDIR_PREFIX, out, n);

	for (size_t i = 0; !rc && i < *n / 2; i++) {
		int64_t t = (*out)[i];

		(*out)[i] = (*out)[*n - 1 - i];
		(*out)[*n - 1 - i] = t;
	}
	return rc;
}

static int fsync_dir(struct snapdir *sd)
{
	if (fsync(sd->dirfd) < 0) {
		int rc = -errno;

		log_error("snapdir: %s: fsync of the directory failed: %s", sd->dir, strerror(-rc));
		return rc;
	}
	return 0;
}

/* mkdir -p, syncing each parent whose entry we created. */
static int mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) == 0) {
			char *slash = strrchr(buf, '/');
			int pfd;

			if (slash == buf)
				pfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			else if (slash) {
				*slash = '\0';
				pfd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				*slash = '/';
			} else {
				pfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			}
			if (pfd >= 0) {
				fsync(pfd);
				close(pfd);
			}
			log_info("snapdir: created %s", buf);
		} else if (errno != EEXIST) {
			int rc = -errno;

			log_error("snapdir: cannot create %s: %s", buf, strerror(-rc));
			return rc;
		}
		buf[i] = c;
	}
	return 0;
}

int snapdir_mkdirs(const char *path)
{
	return mkdirs(path);
}

/* ---- The worker ---- */

/*
 * Writes t as snapshot.<its zxid>: tmp, fsync, rename, fsync the
 * directory.  *zxid_out is the snapshot's start zxid.  Returns 0 or -errno
 * (logged, tmp removed).  A registered RCU thread, offline.
 */
static int write_tree(struct snapdir *sd, struct tree *t, int64_t *zxid_out)
{
	char tmp[NAME_BUF], name[NAME_BUF];
	int64_t zxid = -1;
	int fd, rc;

	snap_name(tmp, tree_last_zxid(t), TMP_SUFFIX);
	fd = openat(sd->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		char why[192];

		rc = -errno;
		log_error("snapdir: %s/%s: cannot create: %s", sd->dir, tmp,
			  fd_strerror(rc, why, sizeof(why)));
		return rc;
	}
	urcu_qsbr_thread_online();
	rc = tree_snapshot_write(t, fd, &zxid);
	urcu_qsbr_thread_offline();
	if (rc) {
		log_error("snapdir: %s/%s: writing the snapshot failed: %s", sd->dir, tmp,
			  strerror(-rc));
		goto fail_fd;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		log_error("snapdir: %s/%s: fsync failed: %s", sd->dir, tmp, strerror(-rc));
		goto fail_fd;
	}
	close(fd);
	snap_name(name, zxid, "");
	if (renameat(sd->dirfd, tmp, sd->dirfd, name) < 0) {
		rc = -errno;
		log_error("snapdir: %s/%s: cannot rename to %s: %s", sd->dir, tmp, name,
			  strerror(-rc));
		unlinkat(sd->dirfd, tmp, 0);
		return rc;
	}
	rc = fsync_dir(sd);
	if (rc) {
		/* Not known to be durable: not a snapshot anyone may count on. */
		unlinkat(sd->dirfd, name, 0);
		return rc;
	}
	*zxid_out = zxid;
	return 0;

fail_fd:
	close(fd);
	unlinkat(sd->dirfd, tmp, 0);
	return rc;
}

static void run_snapshot(struct snapdir *sd, struct tree *t)
{
	uint64_t start = clock_mono_ns();
	int64_t zxid = -1;

	if (write_tree(sd, t, &zxid)) {
		/*
		 * ZooKeeper exits here.  The log still holds everything, so
		 * Cheetah goes on and tries again at the next snapCount.
		 */
		log_error("snapdir: the log keeps every transaction and a snapshot is tried "
			  "again after snapCount more");
		pthread_mutex_lock(&sd->lock);
		sd->stats.snapshot_errors++;
		pthread_mutex_unlock(&sd->lock);
		return;
	}

	uint64_t ms = (clock_mono_ns() - start) / 1000000;
	log_info("snapdir: wrote %s/" SNAPDIR_PREFIX "%016" PRIx64 " in %" PRIu64 " ms", sd->dir,
		 (uint64_t)zxid, ms);
	pthread_mutex_lock(&sd->lock);
	sd->stats.snapshots++;
	sd->stats.last_zxid = zxid;
	sd->stats.last_ms = ms;
	hist_add(&sd->snap_ms, ms);
	pthread_mutex_unlock(&sd->lock);
}

int snapdir_write_now(struct snapdir *sd, struct tree *t, int64_t *zxid)
{
	uint64_t start = clock_mono_ns();
	int rc = write_tree(sd, t, zxid);

	if (!rc) {
		pthread_mutex_lock(&sd->lock);
		hist_add(&sd->snap_ms, (clock_mono_ns() - start) / 1000000);
		sd->stats.snapshots++;
		sd->stats.last_zxid = *zxid;
		pthread_mutex_unlock(&sd->lock);
	}
	return rc;
}

int snapdir_newest(struct snapdir *sd, int64_t *zxid, int64_t *mtime_s)
{
	int64_t *v = NULL;
	size_t n = 0;
	int rc = list_snapshots(sd, &v, &n);

	if (!rc && !n)
		rc = -ENOENT;
	for (size_t i = 0; !rc && i < n; i++) {
		char name[NAME_BUF];
		struct stat st;

		snap_name(name, v[i], "");
		if (fstatat(sd->dirfd, name, &st, 0) < 0)
			continue; /* purged meanwhile: the next older */
		*zxid = v[i];
		*mtime_s = (int64_t)st.st_mtim.tv_sec;
		free(v);
		return 0;
	}
	free(v);
	return rc ? rc : -ENOENT;
}

static void run_purge(struct snapdir *sd, struct txlog *log, int retain, bool job_meta)
{
	int64_t *zx = NULL;
	size_t n = 0;
	uint64_t snaps = 0;
	int logs = 0;

	if (retain < 1)
		retain = 1;
	if (list_snapshots(sd, &zx, &n) == 0 && n > 0) {
		size_t keep = n < (size_t)retain ? n : (size_t)retain;
		int64_t oldest = zx[keep - 1];

		for (size_t i = keep; i < n; i++) {
			char name[NAME_BUF];

			snap_name(name, zx[i], "");
			if (unlinkat(sd->dirfd, name, 0) < 0) {
				log_error("snapdir: %s/%s: cannot delete: %s", sd->dir, name,
					  strerror(errno));
				continue;
			}
			log_info("snapdir: purged %s/%s", sd->dir, name);
			snaps++;
			meta_name(name, zx[i], "");
			unlinkat(sd->dirfd, name, 0); /* absent for a standalone snapshot */
		}
		if (snaps)
			fsync_dir(sd);
		if (log && job_meta) {
			/*
			 * An ensemble's log is indexed by raft index, not zxid:
			 * it is kept from the oldest kept snapshot's keep_from
			 * (its base index + 1), and not purged without it.
			 */
			int64_t from;
			uint8_t b[1];

			if (snapdir_meta_get(sd, oldest, b, 0, &from) != 0 || from < 1)
				log = NULL;
			else
				oldest = from - 1;
		}
		if (log) {
			logs = txlog_purge(log, oldest + 1);
			if (logs < 0) {
				log_error("snapdir: purging log files before 0x%" PRIx64
					  " failed: %s",
					  (uint64_t)oldest + 1, strerror(-logs));
				logs = 0;
			}
		}
	}
	free(zx);
	pthread_mutex_lock(&sd->lock);
	sd->stats.purges++;
	sd->stats.purged_snapshots += snaps;
	sd->stats.purged_logs += (uint64_t)logs;
	pthread_mutex_unlock(&sd->lock);
}

static void *worker(void *arg)
{
	struct snapdir *sd = arg;

	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	pthread_mutex_lock(&sd->lock);
	for (;;) {
		enum job_kind job;
		struct tree *t;
		struct txlog *log;
		int retain;
		bool meta;

		while (!sd->stop && sd->job == JOB_NONE)
			pthread_cond_wait(&sd->wake, &sd->lock);
		if (sd->job == JOB_NONE)
			break; /* stop, nothing left to do */
		job = sd->job;
		t = sd->job_tree;
		log = sd->job_log;
		retain = sd->job_retain;
		meta = sd->job_meta;
		sd->job = JOB_NONE;
		pthread_mutex_unlock(&sd->lock);

		if (job == JOB_SNAPSHOT)
			run_snapshot(sd, t);
		else
			run_purge(sd, log, retain, meta);

		pthread_mutex_lock(&sd->lock);
		sd->busy = false;
		sd->stats.busy = false;
	}
	pthread_mutex_unlock(&sd->lock);
	urcu_qsbr_thread_online();
	urcu_qsbr_unregister_thread();
	return NULL;
}

static int request(struct snapdir *sd, enum job_kind job, struct tree *t, struct txlog *log,
		   int retain, bool meta)
{
	int rc = 0;

	pthread_mutex_lock(&sd->lock);
	if (sd->busy || sd->stop) {
		rc = -EBUSY;
	} else {
		sd->job = job;
		sd->job_tree = t;
		sd->job_log = log;
		sd->job_retain = retain;
		sd->job_meta = meta;
		sd->busy = true;
		sd->stats.busy = true;
		pthread_cond_signal(&sd->wake);
	}
	pthread_mutex_unlock(&sd->lock);
	return rc;
}

int snapdir_request_snapshot(struct snapdir *sd, struct tree *t)
{
	return request(sd, JOB_SNAPSHOT, t, NULL, 0, false);
}

int snapdir_request_purge(struct snapdir *sd, struct txlog *log, int retain)
{
	return request(sd, JOB_PURGE, NULL, log, retain, false);
}

int snapdir_request_purge_meta(struct snapdir *sd, struct txlog *log, int retain)
{
	return request(sd, JOB_PURGE, NULL, log, retain, true);
}

void snapdir_stats(struct snapdir *sd, struct snapdir_stats *out)
{
	pthread_mutex_lock(&sd->lock);
	*out = sd->stats;
	pthread_mutex_unlock(&sd->lock);
}

void snapdir_snapshot_hist(struct snapdir *sd, struct hist *ms)
{
	pthread_mutex_lock(&sd->lock);
	*ms = sd->snap_ms;
	pthread_mutex_unlock(&sd->lock);
}

void snapdir_snapshot_hist_reset(struct snapdir *sd)
{
	pthread_mutex_lock(&sd->lock);
	hist_reset(&sd->snap_ms);
	pthread_mutex_unlock(&sd->lock);
}

const char *snapdir_path(const struct snapdir *sd)
{
	return sd->dir;
}

/* ---- Open, load, close ---- */

struct tmp_sweep {
	const char *dir;
	bool removed;
};

static int unlink_tmp(void *arg, int dirfd, const char *name, int64_t zxid)
{
	struct tmp_sweep *s = arg;

	(void)zxid;
	if (unlinkat(dirfd, name, 0) < 0) {
		int rc = -errno;

		log_error("snapdir: %s/%s: cannot delete: %s", s->dir, name, strerror(-rc));
		return rc;
	}
	log_info("snapdir: %s/%s: deleted an unfinished snapshot", s->dir, name);
	s->removed = true;
	return 0;
}

static int remove_tmp(struct snapdir *sd)
{
	struct tmp_sweep s = { sd->dir, false };
	int rc = zxid_files_scan(sd->dirfd, sd->dir, SNAPDIR_PREFIX, TMP_SUFFIX, unlink_tmp, &s);

	if (!rc)
		rc = zxid_files_scan(sd->dirfd, sd->dir, SNAPDIR_META_PREFIX, TMP_SUFFIX,
				     unlink_tmp, &s);
	if (!rc)
		rc = zxid_files_scan(sd->dirfd, sd->dir, SNAPDIR_PREFIX, RECV_SUFFIX, unlink_tmp,
				     &s);

	if (!rc && s.removed)
		rc = fsync_dir(sd);
	return rc;
}

int snapdir_open(const char *data_dir, struct snapdir **out)
{
	struct snapdir *sd;
	sigset_t all, old;
	int rc;

	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->dirfd = -1;
	sd->stats.last_zxid = -1;
	pthread_mutex_init(&sd->lock, NULL);
	pthread_cond_init(&sd->wake, NULL);
	if ((size_t)snprintf(sd->dir, sizeof(sd->dir), "%s/%s", data_dir, SNAPDIR_SUBDIR) >=
	    sizeof(sd->dir)) {
		log_error("snapdir: %s: path too long", data_dir);
		rc = -ENAMETOOLONG;
		goto fail;
	}
	rc = mkdirs(sd->dir);
	if (rc)
		goto fail;
	sd->dirfd = open(sd->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sd->dirfd < 0) {
		rc = -errno;
		log_error("snapdir: %s: cannot open: %s", sd->dir, strerror(-rc));
		goto fail;
	}
	rc = remove_tmp(sd);
	if (rc)
		goto fail;
	/* Signals are the main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&sd->thread, NULL, worker, sd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		log_error("snapdir: cannot start the snapshot thread: %s", strerror(-rc));
		goto fail;
	}
	sd->started = true;
	*out = sd;
	return 0;
fail:
	snapdir_close(sd);
	return rc;
}

void snapdir_close(struct snapdir *sd)
{
	if (!sd)
		return;
	if (sd->started) {
		pthread_mutex_lock(&sd->lock);
		sd->stop = true;
		pthread_cond_signal(&sd->wake);
		pthread_mutex_unlock(&sd->lock);
		pthread_join(sd->thread, NULL);
	}
	if (sd->dirfd >= 0)
		close(sd->dirfd);
	pthread_cond_destroy(&sd->wake);
	pthread_mutex_destroy(&sd->lock);
	free(sd);
}

static int load(struct snapdir *sd, const struct tree_opts *opts, struct tree **t, int64_t *zxid,
		void *meta, size_t meta_len, int (*meta_check)(const void *, size_t),
		int64_t *keep_from)
{
	int64_t *zx = NULL;
	size_t n = 0;
	int rc;

	rc = list_snapshots(sd, &zx, &n);
	if (rc)
		return rc;
	rc = -ENOENT;
	for (size_t i = 0; i < n && i < SNAPDIR_MAX_TRIES; i++) {
		char name[NAME_BUF], bad[NAME_BUF];
		int64_t loaded;
		int fd;

		snap_name(name, zx[i], "");
		if (meta && (snapdir_meta_get(sd, zx[i], meta, meta_len, keep_from) != 0 ||
			     (meta_check && meta_check(meta, meta_len) != 0))) {
			log_warn("snapdir: %s/%s has no usable ensemble meta (a standalone "
				 "server's, or a crash before its meta was written); skipped",
				 sd->dir, name);
			continue;
		}
		fd = openat(sd->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_error("snapdir: %s/%s: cannot open: %s; trying an older snapshot",
				  sd->dir, name, strerror(errno));
			continue;
		}
		rc = tree_snapshot_load(fd, opts, t, &loaded);
		close(fd);
		if (rc == 0) {
			if (loaded != zx[i])
				log_warn("snapdir: %s/%s holds zxid 0x%" PRIx64
					 "; going by the content",
					 sd->dir, name, (uint64_t)loaded);
			*zxid = meta ? zx[i] : loaded; /* meta: the name, to find it again */
			log_info("snapdir: loaded %s/%s (zxid 0x%" PRIx64 ")", sd->dir, name,
				 (uint64_t)loaded);
			break;
		}
		if (rc == -ENOMEM)
			break;
		/* FileTxnSnapLog: any failure to read one means try the next older. */
		log_error("snapdir: %s/%s: cannot load: %s; trying an older snapshot", sd->dir,
			  name, strerror(-rc));
		if (rc == -EBADMSG) {
			snap_name(bad, zx[i], CORRUPT_SUFFIX);
			if (renameat(sd->dirfd, name, sd->dirfd, bad) == 0) {
				log_error("snapdir: %s/%s renamed to %s", sd->dir, name, bad);
				fsync_dir(sd);
			}
		}
		rc = -ENOENT;
	}
	free(zx);
	return rc;
}

int snapdir_load_file(struct snapdir *sd, int64_t zxid, const struct tree_opts *opts,
		      struct tree **t, int64_t *loaded)
{
	char name[NAME_BUF];
	int fd, rc;

	snap_name(name, zxid, "");
	fd = openat(sd->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_error("snapdir: %s/%s: cannot open: %s", sd->dir, name, strerror(-rc));
		return rc;
	}
	rc = tree_snapshot_load(fd, opts, t, loaded);
	close(fd);
	if (rc)
		log_error("snapdir: %s/%s: cannot load: %s", sd->dir, name, strerror(-rc));
	else
		log_info("snapdir: loaded %s/%s (zxid 0x%" PRIx64 ")", sd->dir, name,
			 (uint64_t)*loaded);
	return rc;
}

int snapdir_load(struct snapdir *sd, const struct tree_opts *opts, struct tree **t, int64_t *zxid)
{
	return load(sd, opts, t, zxid, NULL, 0, NULL, NULL);
}

int snapdir_load_meta(struct snapdir *sd, const struct tree_opts *opts, struct tree **t,
		      int64_t *zxid, void *meta, size_t meta_len,
		      int (*meta_check)(const void *meta, size_t len))
{
	int64_t keep_from;

	return load(sd, opts, t, zxid, meta, meta_len, meta_check, &keep_from);
}
