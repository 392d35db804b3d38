/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transaction log: group commit with overlapped I/O, and recovery.
 *
 * Behaviour models: ZooKeeper's FileTxnLog (one file per range of zxids
 * named log.<first zxid in hex>, preallocation in preAllocSize steps so
 * that fdatasync rarely has a file size to persist, forceSync, rollLog
 * after a snapshot, PurgeTxnLog) and etcd's WAL (length + CRC framing, 8
 * byte alignment, a torn tail repaired at start-up, a damaged middle
 * refused).  The formats are Cheetah's own; txlog.h has the byte layout.
 *
 * Files.  <dataLogDir>/cheetah-1/log.<first zxid, 16 lowercase hex>.  A
 * file is born as log.<zxid>.tmp, gets its header and preallocated zeros,
 * is fdatasync'ed, renamed to its name (never replacing a file) and the
 * directory is fsync'ed, all before any record goes into it: a file with
 * a log name always has a complete header, and leftover .tmp files are
 * deleted at open.  The first record of a file has the zxid of its name.
 * Records are framed as {u32 length|flags, u32 crc, i64 zxid, payload,
 * zero padding to 8}.  The CRC is zlib's crc32 (IEEE) over length, zxid
 * and payload: zlib is already a dependency (the tree digest uses the same
 * function), and at gigabytes per second it costs far less than the
 * fdatasync it precedes; etcd's CRC32C would only pay off with a hand
 * written SSE4.2 path.  ZooKeeper's Adler-32 is weak on short records.
 * Records are never chained (no rolling CRC) so that each one can be
 * checked on its own, which the recovery rule below needs.  Bit 31 of the
 * length marks the last record of each write batch; recovery uses it only
 * to say whether damage lies within the final batch.
 *
 * The end of the log is the first all-zero record header or the end of
 * the file.  That works because every byte past the last record is zero:
 * the preallocated region is zero-filled by the filesystem, a torn tail is
 * re-zeroed by recovery, and length 0 is never a valid record.
 *
 * Zeros ahead.  posix_fallocate leaves unwritten extents, and the first
 * write into one makes the next fdatasync commit the filesystem journal
 * too (ext4, xfs): on the reference VM a 4 KiB O_DSYNC write costs 0.61 ms
 * into an fallocated file and 0.28 ms into one already written.  So the
 * writer keeps the region just past the records really written with
 * zeros: after publishing a batch, while the next one fills, it writes
 * ZERO_STEP bytes of zeros whenever fewer than ZERO_AHEAD are ready; the
 * next batch's fdatasync carries them.  Zeros are only ever written at or
 * past the end of the records, so they never cover data.
 *
 * Group commit.  The caller (the broadcast core) appends records to the
 * batch being filled: a copy into memory, never I/O, never a lock.
 * txlog_flush swaps that batch with the writer's idle one under a mutex
 * (double buffering): the writer thread seals it (CRCs), grows the file
 * if needed, writes it with one pwrite, fdatasyncs it once, publishes the
 * batch's last zxid as durable (release store) and signals an eventfd.
 * Meanwhile the caller fills the next batch, so the pipeline never waits
 * for the disk and each fdatasync covers everything that arrived during
 * the previous one.  Only the writer touches file descriptors after open;
 * the mutex guards only the swap, the stop flag and the counters.
 * mntr's summaries (records per batch, fdatasync milliseconds) take no
 * lock: the writer is their only writer and publishes them with relaxed
 * atomics; a reset (srst) is a request the writer carries out.
 *
 * Disk errors.  A failed write, fallocate or fdatasync stops the writer
 * for good (after a failed fdatasync the page cache state is unknown,
 * so retrying could report lost data as durable).  The error is sticky,
 * returned by every caller-side call and visible through the eventfd; the
 * durable zxid never moves again.
 *
 * Out of file descriptors is not a disk error.  Creating a file is the
 * only place the writer needs a new descriptor, so EMFILE/ENFILE can only
 * come from create_file, before anything is written to the new file; the
 * dataplane keeps descriptors in reserve so that it should not happen.
 * If it does: at a roll, the new file is created *before* the current one
 * is closed, so the writer simply goes on in the current file (file
 * boundaries carry no meaning: replay and purge go by the first zxids of
 * the files, and a file may hold records on both sides of a snapshot) and
 * tries the roll again at the next batch; with no current file (the first
 * batch after open) it waits and retries every FD_RETRY_MS, and since
 * nothing is durable meanwhile, nothing is acknowledged and the caller's
 * batch fills up to its pushback limit: writes wait, none is lost or
 * wrongly acknowledged.  Each case logs at most every 10 s and names the
 * descriptor limit.
 *
 * Recovery (txlog_open).  Files are read in zxid order; each header is
 * checked (magic, version, CRC, name, database id), then each record
 * (length bounded by max_record and by the file, CRC) and zxids must
 * increase strictly across the whole log.  Where the records stop being
 * valid (offset X), the rest of the file is searched for any valid record
 * (one whose CRC holds and whose zxid continues the log) at any 8-byte
 * aligned offset:
 *  - Nothing valid after X in the NEWEST file: a torn tail.  Logged,
 *    zeroed from X (so the zero-marks-end rule holds again), fdatasync'ed;
 *    appending continues at X.  A newest file left without records is
 *    deleted.
 *  - A valid record after X, or any damage in an OLDER file (an older file
 *    must end in zeros): corruption in the middle.  txlog_open fails with
 *    -EBADMSG and names the file and offset; the operator restores from a
 *    replica or a backup.
 * Why this rule: a write is acknowledged only after its batch's fdatasync
 * returned, and the next batch is written only after that, so everything
 * in front of the last batch is acknowledged data.  kill -9 cannot damage
 * anything but the end (the page cache keeps what write() stored, in
 * order); a power loss can lose or reorder the pages of the one batch
 * whose fdatasync had not returned, which was never acknowledged.  A bad
 * record with nothing valid after it is therefore an unacknowledged tail
 * and safe to drop.  A valid record after a bad one means the damage is
 * not at the end: it may be acknowledged data, and silently dropping it
 * (and what follows) would break the promise, so we stop.  One case errs
 * on the safe side: a power loss that persisted a later page of the last
 * batch but not an earlier one looks the same as damage to acknowledged
 * data; the refusal message says when the damage lies within the final
 * batch, and opts.repair lets the operator truncate there deliberately.
 * An older file is complete before its successor is created (rolls happen
 * after a batch's fdatasync, and the file is fdatasync'ed once more at
 * roll even with forceSync off), so it never has a legitimate torn tail.
 *
 * Threads: txlog_open, append, flush, roll, wait_durable and close run on
 * the caller thread; write_batch and everything it calls on the writer
 * thread; replay and purge on any thread with their own descriptors.
 */
#include "txlog.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/clock.h"
#include "common/fdlimit.h"
#include "common/jute.h"
#include "common/log.h"
#include "zxid_files.h"

#define LOG_PREFIX "log."
#define LOG_NAME_LEN (sizeof(LOG_PREFIX) - 1 + 16)
#define TMP_SUFFIX ".tmp"
#define NAME_BUF (LOG_NAME_LEN + sizeof(TMP_SUFFIX))

#define RD_CHUNK (1u << 20)    /* read window for recovery and replay */
#define BATCH_INIT (64u << 10) /* initial batch buffer */
#define BATCH_KEEP (8u << 20)  /* a larger buffer is shrunk after use */
#define ZERO_AHEAD (1u << 20)  /* written zeros kept ready past the records */
#define ZERO_STEP (256u << 10) /* zeros written at a time */
#define FD_RETRY_MS 100	       /* out of descriptors with no file: retry period */
#define FD_LOG_INTERVAL_NS (10ull * 1000000000)

struct batch {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint32_t nrec;
	int64_t first_zxid;
	int64_t last_zxid;
	bool roll; /* start a new file with this batch */
};

/* The file the writer appends to. */
struct wfile {
	int fd; /* -1: none; the next batch creates one */
	char name[NAME_BUF];
	uint64_t off;	 /* where the next record goes (8-aligned) */
	uint64_t alloc;	 /* file size (preallocated) */
	uint64_t zeroed; /* [0, zeroed) has been written: records or zeros */
};

struct txlog {
	/* Set by txlog_open, read-only afterwards. */
	char dir[PATH_MAX];
	uint64_t prealloc;
	uint64_t file_limit;
	uint32_t max_record;
	uint32_t max_batch;
	bool no_sync;
	bool repair;
	uint64_t dbid; /* from the files, or random for a new log */
	int efd;
	pthread_t thread;

	/* Caller thread. */
	struct batch *cur;
	int64_t last_zxid; /* last appended or recovered */

	/* Writer thread (and txlog_open before the thread starts). */
	int dirfd;
	struct wfile wf;
	bool roll_pending;	 /* a roll was asked and is not done yet */
	struct log_every fd_log; /* out-of-descriptor lines */

	/* Shared, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* writer: a batch was handed over, or stop */
	pthread_cond_t idle;   /* caller: the writer finished a batch */
	struct batch *handoff; /* the writer's batch, NULL when idle */
	struct batch *spare;   /* the idle batch, NULL while the writer works */
	bool stop;
	struct txlog_stats stats;

	/* Atomics (__atomic builtins). */
	int64_t durable;
	int err;
	/*
	 * mntr's summaries (txlog_summaries): stored by the writer thread
	 * only, relaxed.  reset_req is bumped by any thread (srst); the
	 * writer zeroes the summaries before counting its next batch and
	 * echoes the value in reset_done.
	 */
	struct txlog_summary batch_size;
	struct txlog_summary fsync_ms;
	uint64_t reset_req;
	uint64_t reset_done;
};

static inline uint64_t align8(uint64_t v)
{
	return (v + 7) & ~(uint64_t)7;
}

static unsigned bucket_of(uint64_t v)
{
	unsigned b = 0;

	while (v > 1 && b < TXLOG_HIST_BUCKETS - 1) {
		v >>= 1;
		b++;
	}
	return b;
}

static void log_name(char *buf, int64_t first)
{
	snprintf(buf, NAME_BUF, LOG_PREFIX "%016" PRIx64, (uint64_t)first);
}

struct tmp_sweep {
	const char *dir;
	bool removed;
};

/* Deletes a leftover .tmp file (open only: no writer exists yet). */
static int unlink_tmp(void *arg, int dirfd, const char *name, int64_t first)
{
	struct tmp_sweep *s = arg;

	(void)first;
	if (unlinkat(dirfd, name, 0) < 0) {
		int rc = -errno;

		log_error("txlog: %s/%s: cannot delete: %s", s->dir, name, strerror(-rc));
		return rc;
	}
	log_info("txlog: %s/%s: deleted an unfinished file", s->dir, name);
	s->removed = true;
	return 0;
}

/*
 * Lists the log files sorted by first zxid (*firsts malloc'ed).  With
 * remove_tmp, first deletes leftover .tmp files and sets *removed.
 */
static int list_files(struct txlog *log, int64_t **firsts, size_t *n, bool remove_tmp,
		      bool *removed)
{
	size_t k = 0;
	int rc;

	if (remove_tmp) {
		struct tmp_sweep s = { log->dir, false };

		rc = zxid_files_scan(log->dirfd, log->dir, LOG_PREFIX, TMP_SUFFIX, unlink_tmp, &s);
		*removed = s.removed;
		if (rc)
			return rc;
	}
	rc = zxid_files_list(log->dirfd, log->dir, LOG_PREFIX, firsts, n);
	if (rc)
		return rc;
	/* No log starts at zxid 0: such a name is not one of ours. */
	for (size_t i = 0; i < *n; i++)
		if ((*firsts)[i] > 0)
			(*firsts)[k++] = (*firsts)[i];
	*n = k;
	return 0;
}

static int fsync_dir(int fd, const char *dir)
{
	if (fsync(fd) < 0) {
		int rc = -errno;

		log_error("txlog: %s: fsync of the directory failed: %s", dir, strerror(-rc));
		return rc;
	}
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ---- Reading files (recovery and replay) ---- */

/* A read window over one file: pread in RD_CHUNK pieces, never mmap (EIO must not be SIGBUS). */
struct reader {
	int fd;
	const char *dir;
	const char *name;
	uint64_t size;
	uint8_t *buf;
	size_t cap;
	uint64_t start; /* buf holds file bytes [start, start + len) */
	size_t len;
};

static void rd_init(struct reader *r, int fd, const char *dir, const char *name, uint64_t size)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->dir = dir;
	r->name = name;
	r->size = size;
}

static void rd_free(struct reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Makes file bytes [off, off + n) available at *p; off + n <= size. */
static int rd_get(struct reader *r, uint64_t off, size_t n, const uint8_t **p)
{
	size_t want, got = 0;

	if (off >= r->start && off + n <= r->start + r->len) {
		*p = r->buf + (off - r->start);
		return 0;
	}
	want = n > RD_CHUNK ? n : RD_CHUNK;
	if (want > r->size - off)
		want = (size_t)(r->size - off);
	if (want > r->cap) {
		uint8_t *nb = realloc(r->buf, want);

		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->cap = want;
	}
	r->len = 0;
	while (got < want) {
		ssize_t k = pread(r->fd, r->buf + got, want - got, (off_t)(off + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int rc = k < 0 ? -errno : -EIO;

			log_error("txlog: %s/%s: offset %" PRIu64 ": read failed: %s", r->dir,
				  r->name, off + got, k < 0 ? strerror(-rc) : "file shrank");
			return rc;
		}
		got += (size_t)k;
	}
	r->start = off;
	r->len = got;
	*p = r->buf;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

enum { REC_OK, REC_END, REC_BAD };

struct rec {
	uint32_t len;
	bool batch_end;
	int64_t zxid;
	const uint8_t *payload; /* valid until the next rd_get */
	uint64_t next;		/* aligned offset after the record */
	const char *why;	/* REC_BAD: what is wrong */
	bool big;		/* REC_BAD: a valid record above max_record */
};

static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);

	c = crc32(c, hdr, 4);
	c = crc32(c, hdr + 8, 8);
	c = crc32(c, payload, len);
	return (uint32_t)c;
}

/* Whether the record at off, of len payload bytes, has a valid CRC; reads RD_CHUNK at a time. */
static int big_crc_ok(struct reader *r, uint64_t off, uint32_t len)
{
	uint8_t hdr[TXLOG_REC_HDR_SIZE];
	const uint8_t *p;
	uint64_t pos = off + TXLOG_REC_HDR_SIZE, end = pos + len;
	uLong c;
	int rc;

	rc = rd_get(r, off, TXLOG_REC_HDR_SIZE, &p);
	if (rc)
		return rc;
	memcpy(hdr, p, sizeof(hdr));
	c = crc32(crc32(crc32(0L, Z_NULL, 0), hdr, 4), hdr + 8, 8);
	while (pos < end) {
		size_t n = end - pos < RD_CHUNK ? (size_t)(end - pos) : RD_CHUNK;

		rc = rd_get(r, pos, n, &p);
		if (rc)
			return rc;
		c = crc32(c, p, (uInt)n);
		pos += n;
	}
	return (uint32_t)c == jute_be32(hdr + 4);
}

/*
 * Reads the record at off (8-aligned).  Returns REC_OK, REC_END (zero
 * header or end of file), REC_BAD (out->why says why) or a negative errno.
 */
static int read_rec(struct reader *r, uint64_t off, uint32_t max_record, struct rec *out)
{
	const uint8_t *p;
	uint32_t raw, len;
	int rc;

	out->why = NULL;
	out->big = false;
	if (off >= r->size)
		return REC_END;
	if (r->size - off < TXLOG_REC_HDR_SIZE) {
		rc = rd_get(r, off, (size_t)(r->size - off), &p);
		if (rc)
			return rc;
		if (all_zero(p, (size_t)(r->size - off)))
			return REC_END;
		out->why = "record header cut by the end of the file";
		return REC_BAD;
	}
	rc = rd_get(r, off, TXLOG_REC_HDR_SIZE, &p);
	if (rc)
		return rc;
	if (all_zero(p, TXLOG_REC_HDR_SIZE))
		return REC_END;
	raw = jute_be32(p);
	len = raw & TXLOG_REC_LEN_MASK;
	if (len == 0) {
		out->why = "zero length";
		return REC_BAD;
	}
	if (len > r->size - off - TXLOG_REC_HDR_SIZE) {
		out->why = "record runs past the end of the file";
		return REC_BAD;
	}
	if (len > max_record) {
		/*
		 * Torn garbage, or a real record written before max_record
		 * was lowered: the CRC tells, computed piecewise so that the
		 * bound on memory holds either way.
		 */
		out->zxid = (int64_t)jute_be64(p + 8);
		rc = big_crc_ok(r, off, len);
		if (rc < 0)
			return rc;
		out->why = rc ? "complete record larger than the maximum record size"
			      : "length above the maximum record size";
		out->big = rc;
		return REC_BAD;
	}
	rc = rd_get(r, off, TXLOG_REC_HDR_SIZE + len, &p);
	if (rc)
		return rc;
	if (rec_crc(p, p + TXLOG_REC_HDR_SIZE, len) != jute_be32(p + 4)) {
		out->why = "CRC mismatch";
		return REC_BAD;
	}
	out->len = len;
	out->batch_end = raw & TXLOG_REC_BATCH_END;
	out->zxid = (int64_t)jute_be64(p + 8);
	out->payload = p + TXLOG_REC_HDR_SIZE;
	out->next = align8(off + TXLOG_REC_HDR_SIZE + len);
	return REC_OK;
}

/* What lies after the point where a file's records stop. */
struct tail {
	uint64_t nonzero_end; /* end of the last non-zero byte, 0 if none */
	uint32_t nvalid;      /* valid records found after the stop */
	uint64_t valid_off;   /* the first one */
	int64_t valid_zxid;
	bool later_batch; /* a batch ends before the last valid record */
};

/*
 * Scans [from, size): finds the last non-zero byte, then every record
 * with a valid CRC and a zxid above after_zxid at any 8-aligned offset in
 * the non-zero part (skipping over each one found).
 */
static int scan_tail(struct reader *r, uint64_t from, int64_t after_zxid, uint32_t max_record,
		     struct tail *t)
{
	const uint8_t *p;
	uint64_t pos;
	bool prev_end = false;
	int rc;

	memset(t, 0, sizeof(*t));
	for (pos = from; pos < r->size;) {
		size_t n = r->size - pos < RD_CHUNK ? (size_t)(r->size - pos) : RD_CHUNK;

		rc = rd_get(r, pos, n, &p);
		if (rc)
			return rc;
		for (size_t i = n; i > 0; i--) {
			if (p[i - 1]) {
				t->nonzero_end = pos + i;
				break;
			}
		}
		pos += n;
	}
	for (pos = from; pos < t->nonzero_end && pos + TXLOG_REC_HDR_SIZE <= r->size;) {
		struct rec rec;
		uint32_t len;

		rc = rd_get(r, pos, TXLOG_REC_HDR_SIZE, &p);
		if (rc)
			return rc;
		len = jute_be32(p) & TXLOG_REC_LEN_MASK;
		/* Cheap filters first: most offsets fail them. */
		if (len == 0 || len > max_record || (int64_t)jute_be64(p + 8) <= after_zxid) {
			pos += 8;
			continue;
		}
		rc = read_rec(r, pos, max_record, &rec);
		if (rc < 0)
			return rc;
		if (rc != REC_OK) {
			pos += 8;
			continue;
		}
		if (t->nvalid == 0) {
			t->valid_off = pos;
			t->valid_zxid = rec.zxid;
		} else if (prev_end) {
			t->later_batch = true;
		}
		prev_end = rec.batch_end;
		t->nvalid++;
		pos = rec.next;
	}
	return 0;
}

/* ---- File headers ---- */

static void hdr_encode(uint8_t *h, uint64_t dbid, int64_t first)
{
	memset(h, 0, TXLOG_HDR_SIZE);
	memcpy(h, TXLOG_MAGIC, 4);
	jute_put_be32(h + 4, TXLOG_VERSION);
	jute_put_be64(h + 8, dbid);
	jute_put_be64(h + 16, (uint64_t)first);
	jute_put_be64(h + 24, (uint64_t)clock_wall_ms());
	jute_put_be32(h + 32, (uint32_t)crc32(0L, h, 32));
}

static const char damaged_advice[] =
    "the log is damaged; restore this server's data from a replica or a backup";

/*
 * Checks the header of the file behind r, named after first.  The first
 * file checked sets *dbid (*have_dbid); the others must match it.
 */
static int hdr_check(struct reader *r, int64_t first, uint64_t *dbid, bool *have_dbid)
{
	const uint8_t *h;
	const char *why = NULL;
	uint64_t id;
	int rc;

	if (r->size < TXLOG_HDR_SIZE) {
		log_error("txlog: %s/%s: %" PRIu64 " bytes, shorter than a file header: %s", r->dir,
			  r->name, r->size, damaged_advice);
		return -EBADMSG;
	}
	rc = rd_get(r, 0, TXLOG_HDR_SIZE, &h);
	if (rc)
		return rc;
	id = jute_be64(h + 8);
	if (memcmp(h, TXLOG_MAGIC, 4) != 0)
		why = "bad magic (not a Cheetah log file)";
	else if (jute_be32(h + 32) != (uint32_t)crc32(0L, h, 32))
		why = "header CRC mismatch";
	else if (jute_be32(h + 4) != TXLOG_VERSION)
		why = "unknown format version (written by another Cheetah release?)";
	else if ((int64_t)jute_be64(h + 16) != first)
		why = "the header's first zxid differs from the file name";
	else if (jute_be32(h + 36) != 0)
		why = "reserved header bytes are not zero";
	else if (*have_dbid && id != *dbid)
		why = "the file belongs to another database (database id differs)";
	if (why) {
		log_error("txlog: %s/%s: offset 0: %s: %s", r->dir, r->name, why, damaged_advice);
		return -EBADMSG;
	}
	*dbid = id;
	*have_dbid = true;
	return 0;
}

/* ---- Recovery (txlog_open, caller thread, before the writer starts) ---- */

/* What recovery found in one file. */
struct rfile {
	int fd;	      /* newest file only: open O_RDWR for the writer */
	uint64_t end; /* offset after the last valid record */
	uint64_t size;
	uint32_t nrec;
};

static int zero_range(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[64 << 10];

	while (from < to) {
		size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
		int rc = pwrite_all(fd, zeros, n, from);

		if (rc)
			return rc;
		from += n;
	}
	return 0;
}

static int recover_file(struct txlog *log, int64_t first, bool newest, bool *have_dbid,
			int64_t *last, struct rfile *out)
{
	char name[NAME_BUF];
	struct reader r;
	struct stat st;
	struct rec rec;
	struct tail t;
	uint64_t off = TXLOG_HDR_SIZE;
	const char *why = NULL;
	uint32_t nrec = 0;
	int fd, rc, kind;

	log_name(name, first);
	fd = openat(log->dirfd, name, (newest ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		log_error("txlog: %s/%s: cannot open: %s", log->dir, name, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rd_init(&r, fd, log->dir, name, (uint64_t)st.st_size);
	rc = hdr_check(&r, first, &log->dbid, have_dbid);
	if (rc)
		goto out;
	if (first <= *last) {
		log_error("txlog: %s/%s: starts at zxid %#" PRIx64 " but the previous file reaches "
			  "%#" PRIx64 ": %s",
			  log->dir, name, (uint64_t)first, (uint64_t)*last, damaged_advice);
		rc = -EBADMSG;
		goto out;
	}
	for (;;) {
		kind = read_rec(&r, off, log->max_record, &rec);
		if (kind < 0) {
			rc = kind;
			goto out;
		}
		if (kind == REC_BAD && rec.big) {
			log_error("txlog: %s/%s: offset %" PRIu64 ": zxid %#" PRIx64
				  " is a complete "
				  "record larger than the maximum record size (%u): was the limit "
				  "lowered?  Raise it to open this log",
				  log->dir, name, off, (uint64_t)rec.zxid, log->max_record);
			rc = -EMSGSIZE;
			goto out;
		}
		if (kind != REC_OK) {
			why = rec.why;
			break;
		}
		if (rec.zxid <= *last || (nrec == 0 && rec.zxid != first)) {
			log_error("txlog: %s/%s: offset %" PRIu64 ": zxid %#" PRIx64
				  " is out of order "
				  "(after %#" PRIx64 "): %s",
				  log->dir, name, off, (uint64_t)rec.zxid,
				  (uint64_t)(nrec ? *last : first - 1), damaged_advice);
			rc = -EBADMSG;
			goto out;
		}
		*last = rec.zxid;
		nrec++;
		off = rec.next;
	}
	if (!why)
		why = "data after the end-of-log mark";
	rc = scan_tail(&r, off, *last, log->max_record, &t);
	if (rc)
		goto out;
	if (t.nvalid && !(newest && log->repair)) {
		log_error("txlog: %s/%s: offset %" PRIu64
			  ": %s, but %u valid record(s) follow, the "
			  "first at offset %" PRIu64 " (zxid %#" PRIx64 "): records that may have "
			  "been acknowledged are damaged; refusing to start: restore this server's "
			  "data from a replica or a backup",
			  log->dir, name, off, why, t.nvalid, t.valid_off, (uint64_t)t.valid_zxid);
		if (newest && !t.later_batch)
			log_error("txlog: %s/%s: the damage lies within the last write batch; a "
				  "power loss during its fdatasync can leave such holes before the "
				  "batch was acknowledged.  If that is what happened and the other "
				  "replicas hold the data, opening with repair truncates here",
				  log->dir, name);
		rc = -EBADMSG;
		goto out;
	}
	if (!newest && t.nonzero_end > off) {
		log_error("txlog: %s/%s: offset %" PRIu64 ": %s in a file that is not the newest "
			  "(only the newest file can have a torn tail): %s",
			  log->dir, name, off, why, damaged_advice);
		rc = -EBADMSG;
		goto out;
	}
	if (t.nvalid)
		log_warn("txlog: %s/%s: offset %" PRIu64 ": %s; repair requested: dropping the "
			 "%u valid record(s) after it, from zxid %#" PRIx64,
			 log->dir, name, off, why, t.nvalid, (uint64_t)t.valid_zxid);
	if (t.nonzero_end > off) {
		log_warn("txlog: %s/%s: offset %" PRIu64 ": torn tail (%s); zeroing %" PRIu64
			 " bytes after the last complete record, zxid %#" PRIx64
			 " (never acknowledged: it was not fully written)",
			 log->dir, name, off, why, t.nonzero_end - off, (uint64_t)*last);
		rc = zero_range(fd, off, t.nonzero_end);
		if (!rc && fdatasync(fd) < 0)
			rc = -errno;
		if (rc) {
			log_error("txlog: %s/%s: cannot zero the torn tail: %s", log->dir, name,
				  strerror(-rc));
			goto out;
		}
	}
	out->end = off;
	out->size = (uint64_t)st.st_size;
	out->nrec = nrec;
out:
	rd_free(&r);
	if (rc || !newest) {
		close(fd);
		fd = -1;
	}
	out->fd = fd;
	return rc;
}

/*
 * Recovers every file and sets up the writer's file (log->wf): the newest
 * file that has records.  Files without records at the end of the log
 * (a torn first batch) are deleted, so that a file's first record always
 * carries the zxid of its name.
 */
static int recover(struct txlog *log)
{
	int64_t *firsts = NULL, last = 0;
	bool have_dbid = false, removed = false;
	struct rfile *res = NULL;
	size_t n = 0, k;
	int rc;

	rc = list_files(log, &firsts, &n, true, &removed);
	if (rc)
		return rc;
	if (removed) {
		rc = fsync_dir(log->dirfd, log->dir);
		if (rc)
			goto out;
	}
	res = calloc(n ? n : 1, sizeof(*res));
	if (!res) {
		rc = -ENOMEM;
		goto out;
	}
	for (k = 0; k < n; k++) {
		res[k].fd = -1;
		rc = recover_file(log, firsts[k], k + 1 == n, &have_dbid, &last, &res[k]);
		if (rc)
			goto out;
	}
	for (k = n; k > 0 && res[k - 1].nrec == 0; k--) {
		log_name(log->wf.name, firsts[k - 1]);
		log_info("txlog: %s/%s: no complete record; deleting the file", log->dir,
			 log->wf.name);
		if (res[k - 1].fd >= 0) {
			close(res[k - 1].fd);
			res[k - 1].fd = -1;
		}
		if (unlinkat(log->dirfd, log->wf.name, 0) < 0) {
			rc = -errno;
			log_error("txlog: %s/%s: cannot delete: %s", log->dir, log->wf.name,
				  strerror(-rc));
			goto out;
		}
		rc = fsync_dir(log->dirfd, log->dir);
		if (rc)
			goto out;
	}
	if (k) {
		struct rfile *rf = &res[k - 1];

		log_name(log->wf.name, firsts[k - 1]);
		if (rf->fd < 0) {
			/* An older file, checked as such: it ends cleanly. */
			rf->fd = openat(log->dirfd, log->wf.name, O_RDWR | O_CLOEXEC);
			if (rf->fd < 0) {
				rc = -errno;
				log_error("txlog: %s/%s: cannot open: %s", log->dir, log->wf.name,
					  strerror(-rc));
				goto out;
			}
		}
		log->wf.fd = rf->fd;
		log->wf.off = rf->end;
		log->wf.alloc = rf->size;
		log->wf.zeroed = rf->end;
		rf->fd = -1;
	}
	if (!have_dbid && getrandom(&log->dbid, sizeof(log->dbid), 0) != sizeof(log->dbid))
		log->dbid = clock_mono_ns() ^ (uint64_t)clock_wall_ms() << 20 ^ (uint64_t)getpid();
	log->last_zxid = last;
	log->durable = last;
	log_info("txlog: %s: %zu file(s), last zxid %#" PRIx64, log->dir, k, (uint64_t)last);
out:
	for (size_t i = 0; res && i < n; i++)
		if (res[i].fd >= 0)
			close(res[i].fd);
	free(res);
	free(firsts);
	return rc;
}

/* ---- The writer thread ---- */

/* Fills in CRCs and marks the batch's last record. */
static void seal(struct batch *b)
{
	size_t off = 0;

	while (off < b->len) {
		uint8_t *h = b->buf + off;
		uint32_t len = jute_be32(h) & TXLOG_REC_LEN_MASK;
		size_t next = off + (size_t)align8(TXLOG_REC_HDR_SIZE + len);

		if (next >= b->len)
			jute_put_be32(h, len | TXLOG_REC_BATCH_END);
		jute_put_be32(h + 4, rec_crc(h, h + TXLOG_REC_HDR_SIZE, len));
		off = next;
	}
}

static uint64_t round_up(uint64_t v, uint64_t step)
{
	return (v + step - 1) / step * step;
}

static int create_file(struct txlog *log, int64_t first, uint64_t need)
{
	char name[NAME_BUF], tmp[NAME_BUF + sizeof(TMP_SUFFIX)];
	uint8_t hdr[TXLOG_HDR_SIZE];
	uint64_t alloc = round_up(need, log->prealloc), zeroed;
	const char *what;
	int fd, rc;

	log_name(name, first);
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, name);
	fd = openat(log->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		if (!fd_exhausted(rc)) /* the caller says what happens next */
			log_error("txlog: %s/%s: cannot create: %s", log->dir, tmp, strerror(-rc));
		return rc;
	}
	hdr_encode(hdr, log->dbid, first);
	what = "write header";
	rc = pwrite_all(fd, hdr, sizeof(hdr), 0);
	if (rc)
		goto fail;
	what = "preallocate";
	rc = -posix_fallocate(fd, 0, (off_t)alloc);
	if (rc)
		goto fail;
	/* The first records land on written zeros too (see "Zeros ahead"). */
	zeroed = TXLOG_HDR_SIZE + ZERO_AHEAD < alloc ? TXLOG_HDR_SIZE + ZERO_AHEAD : alloc;
	what = "write zeros";
	if (!log->no_sync && (rc = zero_range(fd, TXLOG_HDR_SIZE, zeroed)))
		goto fail;
	what = "fdatasync";
	if (fdatasync(fd) < 0) {
		rc = -errno;
		goto fail;
	}
	what = "rename";
	if (renameat2(log->dirfd, tmp, log->dirfd, name, RENAME_NOREPLACE) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = fsync_dir(log->dirfd, log->dir);
	if (rc) {
		close(fd);
		return rc;
	}
	memcpy(log->wf.name, name, sizeof(name));
	log->wf.fd = fd;
	log->wf.off = TXLOG_HDR_SIZE;
	log->wf.alloc = alloc;
	log->wf.zeroed = log->no_sync ? TXLOG_HDR_SIZE : zeroed;
	pthread_mutex_lock(&log->lock);
	log->stats.files++;
	pthread_mutex_unlock(&log->lock);
	log_info("txlog: %s/%s: new log file", log->dir, name);
	return 0;
fail:
	log_error("txlog: %s/%s: cannot %s (%" PRIu64 " bytes): %s", log->dir, tmp, what, alloc,
		  strerror(-rc));
	close(fd);
	unlinkat(log->dirfd, tmp, 0);
	return rc;
}

/*
 * Writes the next ZERO_STEP bytes of zeros past the records when fewer
 * than ZERO_AHEAD are ready (see "Zeros ahead").  Writer thread.
 */
static int zero_ahead(struct txlog *log)
{
	uint64_t from, to;
	int rc;

	if (log->wf.fd < 0 || log->no_sync)
		return 0;
	from = log->wf.zeroed > log->wf.off ? log->wf.zeroed : log->wf.off;
	if (from >= log->wf.off + ZERO_AHEAD || from >= log->wf.alloc)
		return 0;
	to = from + ZERO_STEP < log->wf.alloc ? from + ZERO_STEP : log->wf.alloc;
	rc = zero_range(log->wf.fd, from, to);
	if (rc) {
		log_error("txlog: %s/%s: offset %" PRIu64 ": writing %" PRIu64 " bytes of zeros "
			  "ahead of the records failed: %s",
			  log->dir, log->wf.name, from, to - from, strerror(-rc));
		return rc;
	}
	log->wf.zeroed = to;
	return 0;
}

/* Grows the current file in prealloc steps so that it holds need bytes. */
static int ensure_alloc(struct txlog *log, uint64_t need)
{
	uint64_t alloc;
	int rc;

	if (need <= log->wf.alloc)
		return 0;
	alloc = round_up(need, log->prealloc);
	rc = -posix_fallocate(log->wf.fd, (off_t)log->wf.alloc, (off_t)(alloc - log->wf.alloc));
	if (rc) {
		log_error(
		    "txlog: %s/%s: offset %" PRIu64 ": cannot preallocate %" PRIu64 " bytes: %s",
		    log->dir, log->wf.name, log->wf.alloc, alloc - log->wf.alloc, strerror(-rc));
		return rc;
	}
	log->wf.alloc = alloc;
	return 0;
}

/* Rate-limited: the writer is short of descriptors (see "Out of file descriptors"). */
static void fd_short(struct txlog *log, int err, const char *what)
{
	uint64_t held;
	char why[192];

	if (!log_every(&log->fd_log, clock_mono_ns(), FD_LOG_INTERVAL_NS, &held))
		return;
	log_warn("txlog: %s: cannot create a log file: %s; %s (%llu more times since the last "
		 "such line)",
		 log->dir, fd_strerror(err, why, sizeof(why)), what, (unsigned long long)held);
}

/*
 * Starts a new file for b while the current one is still open, so that
 * running out of descriptors leaves the writer where it was.
 */
static int roll_file(struct txlog *log, const struct batch *b)
{
	int old = log->wf.fd, rc;

	/* Older files must end cleanly even with forceSync off. */
	if (log->no_sync && fdatasync(old) < 0) {
		rc = -errno;
		log_error("txlog: %s/%s: fdatasync before starting a new file failed: %s", log->dir,
			  log->wf.name, strerror(-rc));
		return rc;
	}
	rc = create_file(log, b->first_zxid, TXLOG_HDR_SIZE + b->len);
	if (fd_exhausted(rc)) {
		assert(log->wf.fd == old);
		fd_short(log, rc,
			 "going on in the current file and trying again at the next batch");
		return 0;
	}
	if (rc)
		return rc;
	assert(log->wf.fd != old);
	close(old);
	log->roll_pending = false;
	return 0;
}

/*
 * The first file after open: out of descriptors, wait and retry (nothing
 * is acknowledged meanwhile).
 */
static int first_file(struct txlog *log, const struct batch *b)
{
	for (;;) {
		int rc = create_file(log, b->first_zxid, TXLOG_HDR_SIZE + b->len);
		bool stop;

		if (!fd_exhausted(rc))
			return rc;
		pthread_mutex_lock(&log->lock);
		stop = log->stop;
		pthread_mutex_unlock(&log->lock);
		if (stop) {
			char why[192];

			log_error("txlog: %s: stopping with zxids %#" PRIx64 "..%#" PRIx64
				  " unwritten (never acknowledged): cannot create a log file: %s",
				  log->dir, (uint64_t)b->first_zxid, (uint64_t)b->last_zxid,
				  fd_strerror(rc, why, sizeof(why)));
			return rc;
		}
		fd_short(log, rc, "writes wait (nothing is acknowledged) and it is tried again");
		nanosleep(&(struct timespec){0, FD_RETRY_MS * 1000000L}, NULL);
	}
}

static int write_batch(struct txlog *log, struct batch *b, uint64_t *sync_ns)
{
	uint64_t t0;
	int rc;

	if (b->roll)
		log->roll_pending = true;
	if (log->wf.fd >= 0 && (log->roll_pending || log->wf.off >= log->file_limit)) {
		rc = roll_file(log, b);
		if (rc)
			return rc;
	}
	if (log->wf.fd < 0) {
		rc = first_file(log, b);
		if (rc)
			return rc;
		log->roll_pending = false;
	}
	seal(b);
	rc = ensure_alloc(log, log->wf.off + b->len);
	if (rc)
		return rc;
	rc = pwrite_all(log->wf.fd, b->buf, b->len, log->wf.off);
	if (rc) {
		log_error("txlog: %s/%s: offset %" PRIu64 ": writing %zu bytes (zxids %#" PRIx64
			  "..%#" PRIx64 ") failed: %s",
			  log->dir, log->wf.name, log->wf.off, b->len, (uint64_t)b->first_zxid,
			  (uint64_t)b->last_zxid, strerror(-rc));
		return rc;
	}
	if (!log->no_sync) {
		t0 = clock_mono_ns();
		if (fdatasync(log->wf.fd) < 0) {
			rc = -errno;
			log_error("txlog: %s/%s: offset %" PRIu64 ": fdatasync after writing zxids "
				  "%#" PRIx64 "..%#" PRIx64 " failed: %s",
				  log->dir, log->wf.name, log->wf.off, (uint64_t)b->first_zxid,
				  (uint64_t)b->last_zxid, strerror(-rc));
			return rc;
		}
		*sync_ns = clock_mono_ns() - t0;
	}
	log->wf.off += b->len;
	return 0;
}

static void batch_reset(struct batch *b)
{
	if (b->cap > BATCH_KEEP) {
		uint8_t *nb = realloc(b->buf, BATCH_INIT);

		if (nb) {
			b->buf = nb;
			b->cap = BATCH_INIT;
		}
	}
	b->len = 0;
	b->nrec = 0;
	b->first_zxid = 0;
	b->last_zxid = 0;
	b->roll = false;
}

static void count_batch(struct txlog_stats *s, const struct batch *b, uint64_t sync_ns, bool synced)
{
	s->batches++;
	s->records += b->nrec;
	s->bytes += b->len;
	s->batch_records[bucket_of(b->nrec)]++;
	if (!synced)
		return;
	s->syncs++;
	s->sync_ns_sum += sync_ns;
	if (sync_ns > s->sync_ns_max)
		s->sync_ns_max = sync_ns;
	s->sync_us[bucket_of(sync_ns / 1000)]++;
}

/* Writer thread only: the single writer of s. */
static void summary_add(struct txlog_summary *s, uint64_t v)
{
	uint64_t cnt = __atomic_load_n(&s->cnt, __ATOMIC_RELAXED);

	if (!cnt || v < __atomic_load_n(&s->min, __ATOMIC_RELAXED))
		__atomic_store_n(&s->min, v, __ATOMIC_RELAXED);
	if (!cnt || v > __atomic_load_n(&s->max, __ATOMIC_RELAXED))
		__atomic_store_n(&s->max, v, __ATOMIC_RELAXED);
	__atomic_store_n(&s->sum, __atomic_load_n(&s->sum, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
	/* Last: a reader that sees the count sees at least this point. */
	__atomic_store_n(&s->cnt, cnt + 1, __ATOMIC_RELEASE);
}

static void summary_zero(struct txlog_summary *s)
{
	__atomic_store_n(&s->cnt, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->sum, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->min, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->max, 0, __ATOMIC_RELAXED);
}

/* SyncRequestProcessor.flush's BATCH_SIZE and FileTxnLog.commit's FSYNC_TIME. */
static void publish_batch(struct txlog *log, const struct batch *b, uint64_t sync_ns, bool synced)
{
	uint64_t req = __atomic_load_n(&log->reset_req, __ATOMIC_ACQUIRE);

	if (req != __atomic_load_n(&log->reset_done, __ATOMIC_RELAXED)) {
		summary_zero(&log->batch_size);
		summary_zero(&log->fsync_ms);
		__atomic_store_n(&log->reset_done, req, __ATOMIC_RELEASE);
	}
	summary_add(&log->batch_size, b->nrec);
	if (synced)
		summary_add(&log->fsync_ms, sync_ns / 1000000); /* TimeUnit.toMillis truncates */
}

static void *writer_main(void *arg)
{
	struct txlog *log = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		struct batch *b;
		uint64_t sync_ns = 0;
		int rc;

		while (!log->handoff && !log->stop)
			pthread_cond_wait(&log->wake, &log->lock);
		if (!log->handoff)
			break;
		b = log->handoff;
		pthread_mutex_unlock(&log->lock);

		rc = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
		if (!rc)
			rc = write_batch(log, b, &sync_ns);

		pthread_mutex_lock(&log->lock);
		if (rc) {
			__atomic_store_n(&log->err, rc, __ATOMIC_RELEASE);
		} else {
			count_batch(&log->stats, b, sync_ns, !log->no_sync);
			publish_batch(log, b, sync_ns, !log->no_sync);
			__atomic_store_n(&log->durable, b->last_zxid, __ATOMIC_RELEASE);
		}
		batch_reset(b);
		log->spare = b;
		log->handoff = NULL;
		/*
		 * After the durable zxid (a poller that wakes sees it) and
		 * before the broadcast (a waiter that returns finds the
		 * event).  Cannot fail short of 2^64 - 1 unread batches.
		 */
		if (write(log->efd, &one, sizeof(one)) < 0)
			log_debug("txlog: eventfd write: %s", strerror(errno));
		pthread_cond_broadcast(&log->idle);
		/* While the next batch fills. */
		if (!rc && !log->handoff && !log->stop) {
			pthread_mutex_unlock(&log->lock);
			rc = zero_ahead(log);
			pthread_mutex_lock(&log->lock);
			if (rc)
				__atomic_store_n(&log->err, rc, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&log->lock);

	if (log->wf.fd >= 0) {
		if (log->no_sync && !__atomic_load_n(&log->err, __ATOMIC_ACQUIRE) &&
		    fdatasync(log->wf.fd) < 0) {
			int rc = -errno;

			log_error("txlog: %s/%s: fdatasync at close failed: %s", log->dir,
				  log->wf.name, strerror(-rc));
			__atomic_store_n(&log->err, rc, __ATOMIC_RELEASE);
		}
		close(log->wf.fd);
		log->wf.fd = -1;
	}
	return NULL;
}

/* ---- Lifecycle and the caller's side ---- */

static struct batch *batch_new(void)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->buf = malloc(BATCH_INIT);
	if (!b->buf) {
		free(b);
		return NULL;
	}
	b->cap = BATCH_INIT;
	return b;
}

static void batch_free(struct batch *b)
{
	if (b) {
		free(b->buf);
		free(b);
	}
}

/* Frees everything; the writer thread has been joined or never started. */
static void destroy(struct txlog *log)
{
	if (log->wf.fd >= 0)
		close(log->wf.fd);
	if (log->dirfd >= 0)
		close(log->dirfd);
	if (log->efd >= 0)
		close(log->efd);
	batch_free(log->cur);
	batch_free(log->spare);
	batch_free(log->handoff);
	pthread_cond_destroy(&log->idle);
	pthread_cond_destroy(&log->wake);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

/* Creates dir/TXLOG_SUBDIR if missing, durably. */
static int make_dir(const char *parent, const char *dir)
{
	int fd, rc = 0;

	if (mkdir(dir, 0755) == 0) {
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			log_error("txlog: %s: cannot open: %s", parent, strerror(-rc));
			return rc;
		}
		rc = fsync_dir(fd, parent);
		close(fd);
		log_info("txlog: %s: created the log directory", dir);
		return rc;
	}
	if (errno == EEXIST)
		return 0;
	rc = -errno;
	log_error("txlog: %s: cannot create the log directory: %s", dir, strerror(-rc));
	return rc;
}

int txlog_open(const struct txlog_opts *opts, struct txlog **out)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	struct txlog *log;
	int rc;

	if (!opts || !opts->dir || !out || opts->max_record > TXLOG_REC_LEN_MASK)
		return -EINVAL;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->efd = -1;
	log->dirfd = -1;
	log->wf.fd = -1;
	pthread_mutex_init(&log->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&log->idle, &ca);
	pthread_cond_init(&log->wake, &ca);
	pthread_condattr_destroy(&ca);
	log->prealloc = opts->prealloc ? opts->prealloc : TXLOG_DEFAULT_PREALLOC;
	log->file_limit = opts->file_limit ? opts->file_limit : TXLOG_DEFAULT_FILE_LIMIT;
	log->max_record = opts->max_record ? opts->max_record : TXLOG_DEFAULT_MAX_RECORD;
	log->max_batch = opts->max_batch ? opts->max_batch : TXLOG_DEFAULT_MAX_BATCH;
	log->no_sync = opts->no_sync;
	log->repair = opts->repair;
	if ((size_t)snprintf(log->dir, sizeof(log->dir), "%s/%s", opts->dir, TXLOG_SUBDIR) >=
	    sizeof(log->dir) - NAME_BUF - 1) {
		log_error("txlog: %s: path too long", opts->dir);
		rc = -ENAMETOOLONG;
		goto fail;
	}
	log->cur = batch_new();
	log->spare = batch_new();
	if (!log->cur || !log->spare) {
		rc = -ENOMEM;
		goto fail;
	}
	log->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (log->efd < 0) {
		rc = -errno;
		log_error("txlog: eventfd: %s", strerror(-rc));
		goto fail;
	}
	rc = make_dir(opts->dir, log->dir);
	if (rc)
		goto fail;
	log->dirfd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dirfd < 0) {
		rc = -errno;
		log_error("txlog: %s: cannot open: %s", log->dir, strerror(-rc));
		goto fail;
	}
	rc = recover(log);
	if (rc)
		goto fail;
	if (log->no_sync)
		log_warn("txlog: %s: forceSync is off: a power loss can lose acknowledged writes",
			 log->dir);

	/* Signals go to the application's threads, never to the writer. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&log->thread, NULL, writer_main, log);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		log_error("txlog: cannot start the writer thread: %s", strerror(-rc));
		goto fail;
	}
	pthread_setname_np(log->thread, "txlog");
	*out = log;
	return 0;
fail:
	destroy(log);
	return rc;
}

/* Hands the batch being filled over if the writer is idle; under lock. */
static int handoff_locked(struct txlog *log)
{
	int err = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);

	if (err)
		return err;
	if (!log->cur->nrec)
		return 0;
	if (!log->spare)
		return -EAGAIN;
	log->handoff = log->cur;
	log->cur = log->spare;
	log->spare = NULL;
	pthread_cond_signal(&log->wake);
	return 0;
}

int txlog_append(struct txlog *log, int64_t zxid, const void *rec, size_t len)
{
	struct batch *b = log->cur;
	size_t need;
	uint8_t *h;
	int err = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);

	if (err)
		return err;
	if (!rec || len == 0 || len > log->max_record) {
		log_error("txlog: append of zxid %#" PRIx64 ": record of %zu bytes (1..%u allowed)",
			  (uint64_t)zxid, len, log->max_record);
		return -EINVAL;
	}
	if (zxid <= log->last_zxid) {
		log_error("txlog: append of zxid %#" PRIx64 " after %#" PRIx64
			  ": zxids must increase",
			  (uint64_t)zxid, (uint64_t)log->last_zxid);
		return -EINVAL;
	}
	need = (size_t)align8(TXLOG_REC_HDR_SIZE + len);
	if (b->len && b->len + need > log->max_batch)
		return -EAGAIN;
	if (b->len + need > b->cap) {
		size_t cap = b->cap * 2;
		uint8_t *nb;

		while (cap < b->len + need)
			cap *= 2;
		nb = realloc(b->buf, cap);
		if (!nb)
			return -ENOMEM;
		b->buf = nb;
		b->cap = cap;
	}
	h = b->buf + b->len;
	jute_put_be32(h, (uint32_t)len);
	jute_put_be32(h + 4, 0); /* the writer fills in the CRC */
	jute_put_be64(h + 8, (uint64_t)zxid);
	memcpy(h + TXLOG_REC_HDR_SIZE, rec, len);
	memset(h + TXLOG_REC_HDR_SIZE + len, 0, need - TXLOG_REC_HDR_SIZE - len);
	if (!b->nrec)
		b->first_zxid = zxid;
	b->last_zxid = zxid;
	b->len += need;
	b->nrec++;
	log->last_zxid = zxid;
	return 0;
}

int txlog_flush(struct txlog *log)
{
	int rc;

	if (!log->cur->nrec)
		return __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&log->lock);
	rc = handoff_locked(log);
	pthread_mutex_unlock(&log->lock);
	return rc;
}

int txlog_roll(struct txlog *log)
{
	int err = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);

	if (err)
		return err;
	log->cur->roll = true;
	return 0;
}

int txlog_wait_durable(struct txlog *log, int64_t zxid, int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;

	if (zxid > log->last_zxid)
		return -EINVAL;
	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&log->lock);
	for (;;) {
		if (__atomic_load_n(&log->durable, __ATOMIC_ACQUIRE) >= zxid) {
			rc = 0;
			break;
		}
		rc = handoff_locked(log);
		if (rc && rc != -EAGAIN)
			break;
		if (timeout_ms < 0) {
			pthread_cond_wait(&log->idle, &log->lock);
		} else if (pthread_cond_timedwait(&log->idle, &log->lock, &deadline) == ETIMEDOUT) {
			rc = __atomic_load_n(&log->durable, __ATOMIC_ACQUIRE) >= zxid ? 0
										      : -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&log->lock);
	return rc;
}

int txlog_close(struct txlog *log)
{
	int rc = 0, err;

	if (!log)
		return 0;
	if (!__atomic_load_n(&log->err, __ATOMIC_ACQUIRE))
		rc = txlog_wait_durable(log, log->last_zxid, -1);
	pthread_mutex_lock(&log->lock);
	log->stop = true;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->thread, NULL);
	err = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
	if (err || rc)
		log_error("txlog: %s: closed with records after zxid %#" PRIx64 " not durable: %s",
			  log->dir, (uint64_t)log->durable, strerror(-(err ? err : rc)));
	destroy(log);
	return err ? err : rc;
}

int64_t txlog_durable_zxid(const struct txlog *log)
{
	return __atomic_load_n(&log->durable, __ATOMIC_ACQUIRE);
}

int txlog_error(const struct txlog *log)
{
	return __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
}

int txlog_eventfd(const struct txlog *log)
{
	return log->efd;
}

void txlog_stats(struct txlog *log, struct txlog_stats *out)
{
	pthread_mutex_lock(&log->lock);
	*out = log->stats;
	pthread_mutex_unlock(&log->lock);
}

static void summary_read(const struct txlog_summary *s, struct txlog_summary *out)
{
	out->cnt = __atomic_load_n(&s->cnt, __ATOMIC_ACQUIRE);
	out->sum = __atomic_load_n(&s->sum, __ATOMIC_RELAXED);
	out->min = __atomic_load_n(&s->min, __ATOMIC_RELAXED);
	out->max = __atomic_load_n(&s->max, __ATOMIC_RELAXED);
}

void txlog_summaries(const struct txlog *log, struct txlog_summary *batch_size,
		     struct txlog_summary *fsync_ms)
{
	uint64_t done = __atomic_load_n(&log->reset_done, __ATOMIC_ACQUIRE);

	if (__atomic_load_n(&log->reset_req, __ATOMIC_ACQUIRE) != done) {
		/* Reset asked for, not yet done by the writer: zeros, as after it. */
		*batch_size = (struct txlog_summary){0};
		*fsync_ms = (struct txlog_summary){0};
		return;
	}
	summary_read(&log->batch_size, batch_size);
	summary_read(&log->fsync_ms, fsync_ms);
}

void txlog_summaries_reset(struct txlog *log)
{
	__atomic_add_fetch(&log->reset_req, 1, __ATOMIC_RELEASE);
}

/* ---- Replay and purge (any thread, own descriptors) ---- */

/*
 * Replays one file: records with zxid > after up to limit.  *prev is the
 * last zxid seen (order check); *done is set once limit was reached.
 */
static int replay_file(struct txlog *log, int64_t first, int64_t after, int64_t limit,
		       int64_t *prev, txlog_replay_fn fn, void *arg, bool *done)
{
	char name[NAME_BUF], path[sizeof(log->dir) + NAME_BUF + 1];
	uint64_t off = TXLOG_HDR_SIZE, dbid = log->dbid;
	bool have_dbid = true;
	struct reader r;
	struct stat st;
	struct rec rec;
	bool first_rec = true;
	int fd, rc = 0, kind;

	log_name(name, first);
	snprintf(path, sizeof(path), "%s/%s", log->dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		log_error("txlog: %s: cannot open for replay%s: %s", path,
			  rc == -ENOENT ? " (purged meanwhile?)" : "", strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	rd_init(&r, fd, log->dir, name, (uint64_t)st.st_size);
	rc = hdr_check(&r, first, &dbid, &have_dbid);
	while (!rc) {
		kind = read_rec(&r, off, log->max_record, &rec);
		if (kind < 0) {
			rc = kind;
			break;
		}
		if (kind == REC_END)
			break;
		if (kind == REC_BAD || rec.zxid <= *prev || (first_rec && rec.zxid != first)) {
			log_error("txlog: %s: offset %" PRIu64 ": %s during replay: %s", path, off,
				  kind == REC_BAD ? rec.why : "zxid out of order", damaged_advice);
			rc = -EBADMSG;
			break;
		}
		first_rec = false;
		*prev = rec.zxid;
		if (rec.zxid > after) {
			rc = fn(arg, rec.zxid, rec.payload, rec.len);
			if (rc)
				break;
		}
		if (rec.zxid >= limit) {
			*done = true;
			break;
		}
		off = rec.next;
	}
	rd_free(&r);
	close(fd);
	return rc;
}

int txlog_replay(struct txlog *log, int64_t after_zxid, txlog_replay_fn fn, void *arg)
{
	int64_t limit = txlog_durable_zxid(log), prev = 0, *firsts = NULL;
	bool done = false;
	size_t n = 0;
	int rc;

	if (after_zxid >= limit || limit <= 0)
		return 0;
	rc = list_files(log, &firsts, &n, false, NULL);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc && !done; i++) {
		/* Every record of file i is below the next file's first zxid. */
		if (i + 1 < n && firsts[i + 1] <= after_zxid + 1)
			continue;
		if (firsts[i] > limit)
			break;
		rc = replay_file(log, firsts[i], after_zxid, limit, &prev, fn, arg, &done);
	}
	if (!rc && !done) {
		log_error("txlog: %s: replay ended at zxid %#" PRIx64 ", before the durable zxid "
			  "%#" PRIx64 ": %s",
			  log->dir, (uint64_t)prev, (uint64_t)limit, damaged_advice);
		rc = -EBADMSG;
	}
	free(firsts);
	return rc;
}

int txlog_purge(struct txlog *log, int64_t keep_from_zxid)
{
	int64_t *firsts = NULL;
	char name[NAME_BUF];
	size_t n = 0;
	int rc, dfd, deleted = 0;

	rc = list_files(log, &firsts, &n, false, NULL);
	if (rc)
		return rc;
	dfd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		log_error("txlog: %s: cannot open: %s", log->dir, strerror(-rc));
		free(firsts);
		return rc;
	}
	/* The newest file listed is never deleted: it may be the writer's. */
	for (size_t i = 0; i + 1 < n && firsts[i + 1] <= keep_from_zxid; i++) {
		log_name(name, firsts[i]);
		if (unlinkat(dfd, name, 0) < 0) {
			rc = -errno;
			log_error("txlog: %s/%s: cannot delete: %s", log->dir, name, strerror(-rc));
			break;
		}
		log_info("txlog: %s/%s: purged (records below zxid %#" PRIx64 ")", log->dir, name,
			 (uint64_t)firsts[i + 1]);
		deleted++;
	}
	if (deleted) {
		int frc = fsync_dir(dfd, log->dir);

		if (!rc)
			rc = frc;
	}
	close(dfd);
	free(firsts);
	return rc ? rc : deleted;
}
