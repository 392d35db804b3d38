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
 * deleted at open (so is a leftover spare, below).  The first record of a
 * file has the index of its name.
 * Records (log entries) are framed as {u32 length|flags, u32 crc, i64
 * index, u64 term, i64 zxid, i64 durable mark, payload, zero padding to
 * 8} (format 3; the mark is the durable index when the record's batch was
 * written, see "Why this rule").  The
 * index is the key every rule below speaks of ("zxid" in older names):
 * the standalone server writes one txn per entry with index = zxid; a
 * consensus core writes one group-commit batch per entry with its own
 * dense index, the entry's term, and the first txn's zxid.  The CRC is
 * CRC-32C (common/crc32c.h, hardware on x86-64) over length, index, term,
 * zxid, mark and payload.  Formats 2 (the same without the mark) and 1
 * (earlier releases: {length, zlib crc32, zxid, payload}, read as index =
 * zxid and term = zxid >> 32) are still read; a file of an older format
 * is never appended to: records go on in a new file.
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
 * The next file, ready (the spare).  Creating a file costs the writer
 * about 1.5 ms on the reference VM (fallocate 0.05, zeros 0.3, the
 * fdatasync that commits the new extents 1.0, rename and directory fsync
 * 0.15), ten times a batch's fdatasync, and with snapCount 100000 at
 * 300k writes/s it happened 4-6 times a second, each time stalling every
 * write behind it: the standalone p99 under snapshots.  So a helper
 * thread (spare_main) prepares the next file ahead of time as next.log.tmp:
 * preallocated, its first ZERO_AHEAD bytes (header included) written with
 * zeros, fdatasync'ed.  A roll then only writes the header (into written
 * zeros) and the batch; that batch's own fdatasync covers both, and only
 * then is the spare renamed to its log name (never replacing a file) and
 * the directory fsync'ed, before the batch may be published (name_file,
 * from sync_batch; with forceSync off that one fdatasync still runs).  So
 * "a file with a log name has a complete header" and "a record is
 * acknowledged only once its file's name is durable" still hold: a crash
 * before the name leaves the records, never acknowledged, in the spare,
 * deleted at open.  A rename that finds no room (ENOSPC, EDQUOT: the
 * directory must grow) is tried again with a backoff until there is room
 * (rename_spare), the batch unpublished meanwhile; any other rename
 * error is a disk error.  Measured in-process on a loaded VM: the writer spent
 * a median 1.87 ms creating a file; with a spare whose header had its
 * own fdatasync, 0.58 ms; with the header in the batch's fdatasync, only
 * the rename and directory fsync remain beyond a normal batch.  The
 * name of the spare says nothing (it is a .tmp, deleted at open); only
 * the writer renames it, and the helper makes a new one only after the
 * writer has renamed or dropped the last (spare_state), so the two never
 * touch one name at once.  No spare (not yet ready, no room for a full
 * preAllocSize within half the free space, an error) means create_file
 * as before.
 *
 * Finished files keep only their records.  A roll hands the old file's
 * descriptor and record length to the same helper, which truncates it
 * there (ZooKeeper's files are as long as written plus one preAllocSize
 * step at most; ours kept their whole 64 MiB preallocation).  The cut
 * bytes are zeros past the last record, so the file reads the same (the
 * end of the file is the end of the log); the helper does not fsync it:
 * after a power loss the file has either length, both valid, and no
 * journal commit lands on the log's fdatasync path.  A reader that sized
 * the file before the cut reads the missing bytes as zeros (rd_get).  A
 * file whose cut was lost (a crash between roll and cut) is cut at the
 * next open (cut_older).  A suffix truncation first waits for the queued
 * cuts: the file holding the new end may be the writer's again and grow
 * past its old length before a late cut.
 *
 * Group commit, pipelined.  The caller (the broadcast core) appends
 * records to the batch being filled: a copy into memory, never I/O, never
 * a lock.  txlog_flush hands that batch to the writers under a mutex when
 * fewer than max_inflight (default 1) batches are in flight, taking an
 * idle buffer to fill next.  max_inflight writer threads share the work:
 * one at a time takes the oldest handed-over batch, seals it (the durable
 * index now as its mark, CRCs), grows or rolls the file if needed and
 * writes it with one pwrite; then it lets the next writer write the next
 * batch and fdatasyncs its own.  So batch k+1 is written and synced while
 * k syncs (the disk overlaps syncs: perf/fsync-overlap.py), and each
 * fdatasync covers what arrived while the previous one was written.  A
 * synced batch becomes durable only once every batch ahead of it is
 * (publish: the durable index, a release store, only ever covers a
 * prefix; then the eventfd), so acknowledgements stay in order, and
 * also only once every fdatasync that overlapped its own has returned:
 * the kernel reports a writeback error to one fdatasync per open file,
 * maybe a later batch's (overlapping_sync_runs).  A roll
 * waits until every batch ahead is durable, so older files are complete.
 * With max_inflight 1 this is plain double buffering.  Only the writers
 * touch file descriptors after open (the writing one owns the file
 * state); the mutex guards the pipeline, the stop flag and the counters.
 * mntr's summaries (records per batch, fdatasync milliseconds) take no
 * lock for readers: the publishing writer, under the mutex, is their only
 * writer and stores them with relaxed atomics; a reset (srst) is a
 * request the writers carry out.
 *
 * Disk errors.  A failed write, fallocate or fdatasync (or a rename
 * of a new file, but for no room: "The next file, ready") stops the writer
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
 * descriptor limit.  A writer waiting so (or for room to rename the
 * spare) is "stalled": txlog_close waits no longer for the pipeline but
 * stops it, and the records not yet durable stay unacknowledged.
 *
 * Recovery (txlog_open).  Files are read in zxid order; each header is
 * checked (magic, version, CRC, name, database id), then each record
 * (length bounded by max_record and by the file, CRC, format 3: a mark
 * below its index; a term not above its zxid's epoch, zxid >> 32) and
 * zxids must increase strictly across the whole log.
 * Where the records stop being valid (offset X, after index L), the rest
 * of the file is searched for any valid record (one whose CRC holds and
 * whose index continues the log) at any 8-byte aligned offset (one
 * complete but above max_record refuses with -EMSGSIZE, as it does
 * before the damage: the limit was lowered, nothing can be decided;
 * such oversized candidates are checked within a budget of about four
 * times the file; an offset whose header no written record can have,
 * a term above its zxid's epoch, is passed over without a CRC, so a
 * damaged region of random bytes stays cheap: scan_tail says why):
 *  - Nothing valid after X in the NEWEST file: a torn tail.  Logged,
 *    zeroed from X (so the zero-marks-end rule holds again), fdatasync'ed;
 *    appending continues at X.  A newest file left without records is
 *    deleted.
 *  - Valid records after X in the NEWEST file, every one of format 3 with
 *    a mark <= L: a torn pipelined tail, cut the same way (the valid
 *    records after X are zeroed too).
 *  - Any other valid record after X, or any damage in an OLDER file (an
 *    older file must end in zeros): corruption in the middle.  txlog_open
 *    fails with -EBADMSG and names the file and offset; the operator
 *    restores from a replica or a backup.
 * Why this rule: a write is acknowledged only once its batch and every
 * batch ahead of it are durable (fdatasync returned; publish).  kill -9
 * cannot damage anything but the end (the page cache keeps what write()
 * stored, in order); a power loss can lose or reorder the pages of the
 * batches whose fdatasync had not returned, none of which was
 * acknowledged.  With max_inflight batches in flight, a later batch may
 * survive whole while an earlier one is torn.  Each batch carries the
 * durable index when it was written: the damaged record is index L + 1,
 * and a batch written after L + 1's batch was durable has a mark >= L + 1
 * (durable indexes are batch ends).  So when every valid record after X
 * has a mark <= L, all of them were written before the damaged batch was
 * durable, and the damaged batch and everything after it can only have
 * been acknowledged if the damage is not a power loss's (bit rot, which
 * no rule tells from a torn tail, as for the last batch); the cut loses
 * nothing acknowledged.  A valid record with a mark >= L + 1 proves the
 * damaged batch was durable, hence maybe acknowledged: dropping it (and
 * what follows) would break the promise, so we stop.  Format 2 and 1
 * files carry no marks and keep the old rule (they were written with one
 * batch in flight): damage before a valid record is refused; the refusal
 * says when the damage lies within the final batch, and opts.repair lets
 * the operator truncate there deliberately.  An older file is complete
 * before its successor is created (a roll waits until every batch ahead
 * is durable, and the file is fdatasync'ed once more at roll even with
 * forceSync off), so it never has a legitimate torn tail.
 *
 * Threads: txlog_open, append, flush, roll, wait_durable and close run on
 * the caller thread; write_batch and everything it calls on the writing
 * writer thread, sync_batch on any writer; make_spare and trim_file on
 * the spare helper; replay and purge on any thread with their own
 * descriptors.
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
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/fdlimit.h"
#include "common/hist.h"
#include "common/jute.h"
#include "common/log.h"
#include "zxid_files.h"

#define LOG_PREFIX "log."
#define LOG_NAME_LEN (sizeof(LOG_PREFIX) - 1 + 16)
#define TMP_SUFFIX ".tmp"
#define SPARE_NAME "next.log" TMP_SUFFIX /* the next file, prepared */
#define TRIM_MAX 8 /* finished files waiting for their cut */
#define NAME_BUF (LOG_NAME_LEN + sizeof(TMP_SUFFIX))

#define RD_CHUNK (1u << 20)    /* read window for recovery and replay */
#define BATCH_INIT (64u << 10) /* initial batch buffer */
#define BATCH_KEEP (8u << 20)  /* a larger buffer is shrunk after use */
#define ZERO_AHEAD (1u << 20)  /* written zeros kept ready past the records */
#define ZERO_STEP (256u << 10) /* zeros written at a time */
#define FD_RETRY_MS 100	       /* out of descriptors with no file: retry period */
#define FD_LOG_INTERVAL_NS (10ull * 1000000000)
#define NAME_RETRY_MIN_MS 10   /* no room to rename the spare: first retry */
#define NAME_RETRY_MAX_MS 1000 /* and the longest wait between tries */

/* A batch's way through the pipeline (under lock). */
enum bstate {
	B_FILLING, /* the caller's, or free */
	B_HANDED,  /* handed over, waiting for a writer */
	B_WRITING, /* a writer is writing it (one batch at a time) */
	B_SYNCING, /* written; its fdatasync runs */
	B_SYNCED,  /* durable, waiting for the batches ahead to be */
	B_DROPPED, /* not written: no room (txlog_full) */
	B_FAILED,  /* a disk error (sticky) */
};

struct batch {
	enum bstate state;
	int sync_fd;	    /* B_SYNCING: the file it was written to */
	uint64_t sync_seq;  /* B_SYNCING on: its sync's ticket (log->sync_seq) */
	uint64_t sync_wait; /* B_SYNCED: published once no sync below this ticket runs */
	uint64_t sync_ns;   /* its fdatasync's duration */
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint32_t nrec;
	int64_t first_zxid; /* keys (indexes) of its first and last records */
	int64_t last_zxid;
	uint64_t last_term; /* of its last record */
	int64_t last_txzxid;
	bool roll;	     /* start a new file with this batch */
	bool names_file;     /* the first batch in a spare: name_file after its sync */
	char name[NAME_BUF]; /* names_file: the name */
};

/* The file the writer appends to. */
struct wfile {
	int fd; /* -1: none; the next batch creates one */
	char name[NAME_BUF];
	uint64_t off;	 /* where the next record goes (8-aligned) */
	uint64_t alloc;	 /* file size (preallocated) */
	uint64_t zeroed; /* [0, zeroed) has been written: records or zeros */
	bool unnamed; /* still the spare: the next batch written names it (name_file) */
};

struct txlog {
	/* Set by txlog_open, read-only afterwards. */
	char dir[PATH_MAX];
	uint64_t prealloc;
	uint64_t file_limit;
	uint32_t max_record;
	uint32_t max_batch;
	bool no_sync;
	bool no_spare;
	bool repair;
	uint32_t depth; /* max_inflight */
	uint64_t dbid;	/* from the files, or random for a new log */
	int efd;
	pthread_t threads[TXLOG_MAX_INFLIGHT];
	uint32_t nthreads;

	/* Caller thread. */
	struct batch *cur;
	int64_t last_zxid; /* key (index) of the last record appended or recovered */
	uint64_t last_term; /* its term */
	int64_t last_txzxid; /* its entry zxid */

	/*
	 * The writing writer thread (the one that set `writing`), and
	 * txlog_open before the threads start, and the caller while the
	 * pipeline is idle (truncation).
	 */
	int dirfd;
	struct wfile wf;
	bool roll_pending;	 /* a roll was asked and is not done yet */
	struct log_every fd_log; /* out-of-descriptor lines */

	/*
	 * Held by txlog_purge (any thread) and txlog_truncate_suffix (the
	 * caller) around their deletions, before lock: both unlink files, and
	 * one deleting what the other listed failed with ENOENT (a live
	 * snapshot install discards the whole log while autopurge runs).
	 */
	pthread_mutex_t files_lock;

	/* Shared, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* writers for work: a batch was handed over, writing ended, or stop */
	pthread_cond_t idle; /* caller and writers: a batch left the pipeline */
	pthread_cond_t nap;  /* a napping writer (nap_unless_stopping): stop */
	/*
	 * The pipeline: batches handed over and not yet out (durable,
	 * dropped or failed), oldest first, at most depth; a ring.  Their
	 * states only move forward and in order up to B_SYNCING (one writer
	 * writes at a time, taking the oldest B_HANDED); syncs may end in
	 * any order, and a batch leaves only from the head (publish).
	 */
	struct batch *q[TXLOG_MAX_INFLIGHT];
	uint32_t qhead, qlen;
	struct batch *free_b[TXLOG_MAX_INFLIGHT]; /* idle buffers */
	uint32_t nfree;
	bool writing;	   /* a writer is writing a batch or zeros ahead (owns wf) */
	/*
	 * -errno while a writer waits for room or descriptors to go on
	 * (rename_spare, first_file): nothing becomes durable until it can,
	 * so txlog_close stops waiting for the pipeline; else 0.
	 */
	int stalled;
	uint64_t sync_seq; /* batch syncs started: the next one's ticket */
	bool stop;
	struct txlog_stats stats;

	/*
	 * The spare helper (see "The next file, ready"), under lock.  The
	 * writing writer takes a ready spare (READY -> TAKEN) and, once it
	 * has renamed or dropped it, asks for the next (WANTED); the helper
	 * makes one only when WANTED (MAKING -> READY, or IDLE when it could
	 * not).  trim[] holds finished files for the helper to cut.
	 */
	pthread_t spare_thread;
	bool spare_started;
	bool spare_stop;
	pthread_cond_t spare_wake; /* helper: work or stop; waiters: a state change */
	enum { SPARE_IDLE, SPARE_WANTED, SPARE_MAKING, SPARE_READY, SPARE_TAKEN } spare_state;
	int spare_fd;	       /* READY and TAKEN: the spare */
	uint64_t spare_alloc;  /* its size (preallocated) */
	uint64_t spare_zeroed; /* [0, spare_zeroed) written with zeros */
	struct {
		int fd;
		uint64_t len;
	} trim[TRIM_MAX];
	uint32_t ntrim; /* trim[0] stays until its cut is done */

	/* The writing writer: space warnings, once per episode. */
	bool low_space; /* preallocating less than prealloc */
	bool full_logged; /* set and cleared under lock; read by the writing writer (relaxed) */
	bool roll_room_logged; /* a roll found no room for its new file */

	/* Under lock: term and entry zxid of the record at `durable`. */
	uint64_t durable_term;
	int64_t durable_txzxid;

	/* Atomics (__atomic builtins). */
	int64_t durable;
	int err;
	int full; /* -ENOSPC/-EDQUOT: the last batch found no room (not sticky) */
	/*
	 * mntr's summaries (txlog_summaries): stored by the publishing
	 * writer only (under lock), relaxed.  reset_req is bumped by any
	 * thread (srst); the publishing writer zeroes the summaries before
	 * counting its next batch and echoes the value in reset_done.
	 */
	struct txlog_summary batch_size;
	struct txlog_summary fsync_ms;
	uint64_t reset_req;
	uint64_t reset_done;
	/*
	 * The same data points as histograms, never reset (/metrics'
	 * quantiles; txlog_hists): hist.h's single writer is the publishing
	 * writer (under lock).  fsync in microseconds.
	 */
	struct hist batch_hist;
	struct hist fsync_us_hist;
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
	uint32_t ver; /* the file's format version, set by hdr_check */
	uint32_t rhs; /* its record header size */
};

static void rd_init(struct reader *r, int fd, const char *dir, const char *name, uint64_t size)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->dir = dir;
	r->name = name;
	r->size = size;
	r->ver = TXLOG_VERSION;
	r->rhs = TXLOG_REC_HDR_SIZE;
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
		if (k == 0) {
			/*
			 * Cut since it was sized: the helper truncates a
			 * finished file to its records, and the bytes cut
			 * were zeros ("Finished files keep only their records").
			 */
			memset(r->buf + got, 0, want - got);
			got = want;
			break;
		}
		if (k < 0) {
			int rc = -errno;

			log_error("txlog: %s/%s: offset %" PRIu64 ": read failed: %s", r->dir,
				  r->name, off + got, strerror(-rc));
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
	int64_t zxid;		/* the record's key: its index (v1: the zxid) */
	uint64_t term;		/* v1: zxid >> 32 */
	int64_t txzxid;		/* the entry's zxid (v1: the key) */
	int64_t mark;		/* v3: durable index when its batch was written; else -1 */
	const uint8_t *payload; /* valid until the next rd_get */
	uint64_t next;		/* aligned offset after the record */
	const char *why;	/* REC_BAD: what is wrong */
	bool big;		/* REC_BAD: a valid record above max_record */
};

/* A format version's record header size. */
static uint32_t rec_hdr_size(uint32_t ver)
{
	return ver == TXLOG_VERSION_V1	 ? TXLOG_REC_HDR_SIZE_V1
	       : ver == TXLOG_VERSION_V2 ? TXLOG_REC_HDR_SIZE_V2
					 : TXLOG_REC_HDR_SIZE;
}

/*
 * A record's CRC: v3 and v2 CRC-32C over the length word, the rest of the
 * header (bytes 8..39, v2 8..31) and the payload; v1 zlib's crc32 over
 * the length word, the zxid (bytes 8..15) and the payload.
 */
static uint32_t rec_crc_start(uint32_t ver, const uint8_t *hdr)
{
	if (ver == TXLOG_VERSION_V1)
		return (uint32_t)crc32(crc32(crc32(0L, Z_NULL, 0), hdr, 4), hdr + 8, 8);
	assert(ver == TXLOG_VERSION || ver == TXLOG_VERSION_V2);
	return crc32c(crc32c(0, hdr, 4), hdr + 8, rec_hdr_size(ver) - 8);
}

static uint32_t rec_crc_more(uint32_t ver, uint32_t c, const uint8_t *p, size_t n)
{
	return ver == TXLOG_VERSION_V1 ? (uint32_t)crc32(c, p, (uInt)n) : crc32c(c, p, n);
}

static uint32_t rec_crc(uint32_t ver, const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	return rec_crc_more(ver, rec_crc_start(ver, hdr), payload, len);
}

/* Whether the record at off, of len payload bytes, has a valid CRC; reads RD_CHUNK at a time. */
static int big_crc_ok(struct reader *r, uint64_t off, uint32_t len)
{
	uint8_t hdr[TXLOG_REC_HDR_SIZE];
	const uint8_t *p;
	uint64_t pos = off + r->rhs, end = pos + len;

	assert(r->rhs <= sizeof(hdr));
	uint32_t c;
	int rc;

	rc = rd_get(r, off, r->rhs, &p);
	if (rc)
		return rc;
	memcpy(hdr, p, r->rhs);
	c = rec_crc_start(r->ver, hdr);
	while (pos < end) {
		size_t n = end - pos < RD_CHUNK ? (size_t)(end - pos) : RD_CHUNK;

		rc = rd_get(r, pos, n, &p);
		if (rc)
			return rc;
		c = rec_crc_more(r->ver, c, p, n);
		pos += n;
	}
	return c == jute_be32(hdr + 4);
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
	if (r->size - off < r->rhs) {
		rc = rd_get(r, off, (size_t)(r->size - off), &p);
		if (rc)
			return rc;
		if (all_zero(p, (size_t)(r->size - off)))
			return REC_END;
		out->why = "record header cut by the end of the file";
		return REC_BAD;
	}
	rc = rd_get(r, off, r->rhs, &p);
	if (rc)
		return rc;
	if (all_zero(p, r->rhs))
		return REC_END;
	raw = jute_be32(p);
	len = raw & TXLOG_REC_LEN_MASK;
	if (len == 0) {
		out->why = "zero length";
		return REC_BAD;
	}
	if (len > r->size - off - r->rhs) {
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
	rc = rd_get(r, off, r->rhs + len, &p);
	if (rc)
		return rc;
	if (rec_crc(r->ver, p, p + r->rhs, len) != jute_be32(p + 4)) {
		out->why = "CRC mismatch";
		return REC_BAD;
	}
	out->len = len;
	out->batch_end = raw & TXLOG_REC_BATCH_END;
	out->zxid = (int64_t)jute_be64(p + 8);
	out->mark = -1;
	if (r->ver == TXLOG_VERSION_V1) {
		out->term = (uint64_t)out->zxid >> 32;
		out->txzxid = out->zxid;
	} else {
		out->term = jute_be64(p + 16);
		out->txzxid = (int64_t)jute_be64(p + 24);
		if (r->ver == TXLOG_VERSION)
			out->mark = (int64_t)jute_be64(p + 32);
	}
	out->payload = p + r->rhs;
	out->next = align8(off + r->rhs + len);
	return REC_OK;
}

/* What lies after the point where a file's records stop. */
struct tail {
	uint64_t nonzero_end; /* end of the last non-zero byte, 0 if none */
	uint32_t nvalid;      /* valid records found after the stop */
	uint64_t valid_off;   /* the first one */
	int64_t valid_zxid;
	bool later_batch; /* a batch ends before the last valid record */
	/*
	 * The highest mark among them (v3); INT64_MAX when one has none
	 * (an older format) or an impossible one (not below its index).
	 */
	int64_t max_mark;
};

/* Candidates scan_tail checked with a full CRC (txlog_scan_crc_checks). */
static uint64_t scan_crc_checks;

uint64_t txlog_scan_crc_checks(void)
{
	return __atomic_load_n(&scan_crc_checks, __ATOMIC_RELAXED);
}

/*
 * Scans [from, size): finds the last non-zero byte, then every record
 * with a valid CRC and a zxid above after_zxid at any 8-aligned offset in
 * the non-zero part (skipping over each one found).
 *
 * Why the header filters are safe.  The recovery rule needs every valid
 * record after the damage, so an offset may be passed over without its
 * CRC only when no record the writer ever wrote can have that header.
 * The CRC covers header and payload at once (no header-only CRC, and no
 * bounded prefix can be checked on its own), so a candidate whose header
 * passes costs a read and a CRC of up to its length; in random bytes
 * about one offset in 256 has a length <= the default max_record and an
 * index above after_zxid (a reviewer measured 3.5 s to open a log with 4
 * MiB of random bytes after the damage).  What each field allows:
 *  - length: 0 is never written; one running past the end of the file is
 *    refused by read_rec before any CRC; one above max_record is checked
 *    all the same (a lowered limit refuses) within its budget below.
 *  - index: strictly increasing across the log, and every record after X
 *    was written after those before it (a file is written in offset
 *    order; truncation cuts the file), so it is above after_zxid.  No
 *    upper bound: the txlog lets indexes skip (the standalone server's
 *    index is the zxid, which jumps to term << 32 at an epoch change; a
 *    snapshot install restarts the log anywhere), so a bound from the
 *    density of indexes would drop real records.
 *  - term and zxid (v2, v3): txlog_append_entry refuses an entry whose
 *    term is above its zxid's epoch (zxid >> 32), and both writers there
 *    ever were (the standalone server: term = zxid >> 32; the consensus
 *    core: zxid = term << 32 | counter, asserted by raft.c) satisfy it,
 *    so every v2 and v3 record on disk has term <= zxid >> 32, and the
 *    main loop of recover_file refuses one that does not.  In random
 *    bytes the term is a random 64-bit number, below 2^32 once in 2^32:
 *    this filter alone leaves almost no candidate.  It does not apply to
 *    v1, whose term is derived from its zxid: a v1 newest file (one only
 *    written by a release before format 2) keeps the slow scan.
 *    The price: a CRC-valid record after X that breaks the rule (which
 *    no writer produces) is passed over, where before X it refuses.
 *  - Not used, though real records satisfy them: term >= the last term,
 *    zxid above the last zxid, 0 <= mark < index, mark at least the last
 *    mark before X.  Each halves random candidates at most (the term
 *    rule already removes them), and a CRC-valid record that breaks one
 *    is better refused than passed over into a cut (impossible marks
 *    after the damage refuse: t->max_mark), so they keep deciding as
 *    before.
 */
static int scan_tail(struct reader *r, uint64_t from, int64_t after_zxid, uint32_t max_record,
		     struct tail *t)
{
	const uint8_t *p;
	uint64_t pos;
	bool prev_end = false, big_warned = false;
	uint64_t big_spent = 0, big_budget = 4 * r->size + (64u << 20);
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
	for (pos = from; pos < t->nonzero_end && pos + r->rhs <= r->size;) {
		struct rec rec;
		uint32_t len;

		rc = rd_get(r, pos, r->rhs, &p);
		if (rc)
			return rc;
		len = jute_be32(p) & TXLOG_REC_LEN_MASK;
		/*
		 * Cheap filters first (see above): random bytes fail them.
		 * Not the length against max_record: a complete record above
		 * it (the limit was lowered) must refuse, not be cut as torn.
		 */
		if (len == 0 || len > r->size - pos - r->rhs ||
		    (int64_t)jute_be64(p + 8) <= after_zxid ||
		    (r->ver != TXLOG_VERSION_V1 && jute_be64(p + 16) > jute_be64(p + 24) >> 32)) {
			pos += 8;
			continue;
		}
		/*
		 * A length above max_record costs up to the rest of the file
		 * to check, and in a v1 file (no term filter) random bytes
		 * make many such candidates: their checks share a budget of a
		 * few times the file, past which they are skipped as before
		 * (logged once).
		 */
		if (len > max_record) {
			if (big_spent + len > big_budget) {
				if (!big_warned) {
					log_warn("txlog: %s/%s: offset %" PRIu64 ": stopped checking "
						 "candidates above the maximum record size (%u) in "
						 "this damaged region",
						 r->dir, r->name, pos, max_record);
					big_warned = true;
				}
				pos += 8;
				continue;
			}
			big_spent += len;
		}
		__atomic_fetch_add(&scan_crc_checks, 1, __ATOMIC_RELAXED);
		rc = read_rec(r, pos, max_record, &rec);
		if (rc < 0)
			return rc;
		if (rc == REC_BAD && rec.big) {
			log_error("txlog: %s/%s: offset %" PRIu64 ": zxid %#" PRIx64
				  " after damaged records is a complete record larger than the "
				  "maximum record size (%u): was the limit lowered?  Raise it to "
				  "open this log",
				  r->dir, r->name, pos, (uint64_t)rec.zxid, max_record);
			return -EMSGSIZE;
		}
		if (rc != REC_OK) {
			pos += 8;
			continue;
		}
		assert(rec.zxid > after_zxid && rec.term <= (uint64_t)rec.txzxid >> 32);
		if (t->nvalid == 0) {
			t->valid_off = pos;
			t->valid_zxid = rec.zxid;
			t->max_mark = -1;
		} else if (prev_end) {
			t->later_batch = true;
		}
		if (rec.mark < 0 || rec.mark >= rec.zxid)
			t->max_mark = INT64_MAX;
		else if (rec.mark > t->max_mark)
			t->max_mark = rec.mark;
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
	jute_put_be32(h + 32, crc32c(0, h, 32));
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
	uint32_t ver;
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
	ver = jute_be32(h + 4);
	if (memcmp(h, TXLOG_MAGIC, 4) != 0)
		why = "bad magic (not a Cheetah log file)";
	else if (ver != TXLOG_VERSION && ver != TXLOG_VERSION_V2 && ver != TXLOG_VERSION_V1)
		why = "unknown format version (written by a newer Cheetah release?)";
	else if (jute_be32(h + 32) !=
		 (ver == TXLOG_VERSION_V1 ? (uint32_t)crc32(0L, h, 32) : crc32c(0, h, 32)))
		why = "header CRC mismatch";
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
	r->ver = ver;
	r->rhs = rec_hdr_size(ver);
	return 0;
}

/* ---- Recovery (txlog_open, caller thread, before the writer starts) ---- */

/* What recovery found in one file. */
struct rfile {
	uint32_t ver; /* format version */
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
	bool pipelined;
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
		if (r.ver == TXLOG_VERSION && (rec.mark < 0 || rec.mark >= rec.zxid)) {
			log_error("txlog: %s/%s: offset %" PRIu64 ": index %#" PRIx64
				  " carries the durable mark %" PRId64
				  ", not below its index: %s",
				  log->dir, name, off, (uint64_t)rec.zxid, rec.mark, damaged_advice);
			rc = -EBADMSG;
			goto out;
		}
		if (rec.term < log->last_term || rec.txzxid <= log->last_txzxid ||
		    rec.term > (uint64_t)rec.txzxid >> 32) {
			log_error("txlog: %s/%s: offset %" PRIu64 ": term %" PRIu64
				  " zxid %#" PRIx64 " after term %" PRIu64 " zxid %#" PRIx64
				  ": terms must not decrease, zxids must increase and a term must "
				  "not exceed its zxid's epoch: %s",
				  log->dir, name, off, rec.term, (uint64_t)rec.txzxid,
				  log->last_term, (uint64_t)log->last_txzxid, damaged_advice);
			rc = -EBADMSG;
			goto out;
		}
		*last = rec.zxid;
		log->last_term = rec.term;
		log->last_txzxid = rec.txzxid;
		nrec++;
		off = rec.next;
	}
	if (!why)
		why = "data after the end-of-log mark";
	rc = scan_tail(&r, off, *last, log->max_record, &t);
	if (rc)
		goto out;
	/*
	 * The pipelined torn tail: every valid record after the damage was
	 * written while the damaged batch was not yet durable (its mark is
	 * below the first damaged index, *last + 1), so none of it was
	 * acknowledged: see "Why this rule".
	 */
	pipelined = newest && t.nvalid && t.max_mark <= *last;
	if (pipelined) {
		log_warn("txlog: %s/%s: offset %" PRIu64 ": %s, followed by %u valid record(s) "
			 "from zxid %#" PRIx64 " (offset %" PRIu64 ") written before it was "
			 "durable (their durable mark %" PRId64 " is below it): a torn pipelined "
			 "tail, never acknowledged; truncating at offset %" PRIu64,
			 log->dir, name, off, why, t.nvalid, (uint64_t)t.valid_zxid, t.valid_off,
			 t.max_mark, off);
	} else if (t.nvalid && !(newest && log->repair)) {
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
	if (t.nvalid && !pipelined)
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
	out->ver = r.ver;
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
/* Cuts a checked older file to its records (no fsync: either length is valid). */
static void cut_older(struct txlog *log, int64_t first, uint64_t end)
{
	char name[NAME_BUF];
	int fd;

	assert(end >= TXLOG_HDR_SIZE);
	log_name(name, first);
	fd = openat(log->dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)end) < 0)
		log_warn("txlog: %s/%s: cannot cut it to its %" PRIu64 " bytes of records: %s",
			 log->dir, name, end, strerror(errno));
	else
		log_info("txlog: %s/%s: cut to its %" PRIu64 " bytes of records", log->dir, name,
			 end);
	if (fd >= 0)
		close(fd);
}

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
		if (rf->ver == TXLOG_VERSION) {
			log->wf.fd = rf->fd;
			log->wf.off = rf->end;
			log->wf.alloc = rf->size;
			log->wf.zeroed = rf->end;
		} else {
			/* Old format: left as it is; records go on in a new file. */
			log_info("txlog: %s/%s: format %u; new records go to a new file of format %u",
				 log->dir, log->wf.name, rf->ver, TXLOG_VERSION);
			close(rf->fd);
		}
		rf->fd = -1;
	}
	/*
	 * Older files of this format whose cut was lost (a crash between a
	 * roll and its cut, or written before files were cut): their bytes
	 * past the records are zeros (checked above), so cut them now.
	 */
	for (size_t i = 0; i + 1 < k; i++)
		if (res[i].ver == TXLOG_VERSION && res[i].size > res[i].end)
			cut_older(log, firsts[i], res[i].end);
	if (!have_dbid && getrandom(&log->dbid, sizeof(log->dbid), 0) != sizeof(log->dbid))
		log->dbid = clock_mono_ns() ^ (uint64_t)clock_wall_ms() << 20 ^ (uint64_t)getpid();
	log->last_zxid = last;
	log->durable = last;
	log->durable_term = log->last_term;
	log->durable_txzxid = log->last_txzxid;
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

/*
 * Fills in the durable mark and the CRCs and marks the batch's last
 * record.  mark is the durable index when the batch is written, below
 * its first index (see "Why this rule").
 */
static void seal(struct batch *b, int64_t mark)
{
	size_t off = 0;

	assert(mark >= 0 && mark < b->first_zxid);
	while (off < b->len) {
		uint8_t *h = b->buf + off;
		uint32_t len = jute_be32(h) & TXLOG_REC_LEN_MASK;
		size_t next = off + (size_t)align8(TXLOG_REC_HDR_SIZE + len);

		if (next >= b->len)
			jute_put_be32(h, len | TXLOG_REC_BATCH_END);
		/* recovery's scan_tail passes over records breaking this */
		assert(jute_be64(h + 16) <= jute_be64(h + 24) >> 32);
		jute_put_be64(h + 32, (uint64_t)mark);
		jute_put_be32(h + 4, rec_crc(TXLOG_VERSION, h, h + TXLOG_REC_HDR_SIZE, len));
		off = next;
	}
}

static uint64_t round_up(uint64_t v, uint64_t step)
{
	return (v + step - 1) / step * step;
}

static bool no_room(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT;
}

/*
 * Allocates file bytes [from, end) for a file whose records need `need`
 * bytes; from is the file's size.  end is need rounded up to a prealloc
 * step when the filesystem has room (at most half its free space), else
 * the largest of halving steps down to need rounded up to 4 KiB that fits.
 * (ZooKeeper's FilePadding only writes one byte at the new end: a sparse
 * file that reserves nothing, so its record writes find out about a full
 * disk, and the server exits.  Reserving first keeps "a record is written
 * only into allocated space": a full disk never leaves half a batch.)  Less than a full step is warned about once
 * until a full step fits again.  fallocate zero-fills, so every byte past
 * the records stays zero.  Returns 0 (*end set), -ENOSPC/-EDQUOT when
 * not even need fits, or another negative errno.  Writer thread.
 */
static int alloc_space(struct txlog *log, int fd, uint64_t from, uint64_t need, uint64_t *end)
{
	uint64_t full = round_up(need, log->prealloc), min = round_up(need, 4096), to = full;
	struct statvfs sv;
	int rc;

	assert(need > from && min >= need && full >= min);
	/* At most half the free space, so snapshots keep room. */
	if (fstatvfs(fd, &sv) == 0) {
		uint64_t half_free = (uint64_t)sv.f_bavail * sv.f_frsize / 2 / 4096 * 4096;

		if (to - from > half_free)
			to = from + half_free > min ? from + half_free : min;
	}
	for (;;) {
		rc = -posix_fallocate(fd, (off_t)from, (off_t)(to - from));
		if (!rc || !no_room(rc))
			break;
		/*
		 * ext4 keeps what a failed fallocate did allocate (and may
		 * grow the file over it): give it back.  from is the file's
		 * size before the call, past every record.
		 */
		if (ftruncate(fd, (off_t)from) < 0)
			log_warn("txlog: %s: cannot release a failed preallocation: %s", log->dir,
				 strerror(errno));
		if (to <= min)
			break;
		uint64_t half = round_up(from + (to - from) / 2, 4096);

		to = half < to && half > min ? half : min; /* always progresses */
	}
	if (rc)
		return rc;
	if (to < full && !log->low_space) {
		log_warn("txlog: %s: less free space than preAllocSize (%" PRIu64 " bytes): "
			 "preallocating %" PRIu64 " bytes at a time; writes fail once the disk is full",
			 log->dir, log->prealloc, to - from);
		log->low_space = true;
	} else if (to == full && log->low_space) {
		log_info("txlog: %s: preallocating preAllocSize again", log->dir);
		log->low_space = false;
	}
	assert(to >= need);
	*end = to;
	return 0;
}

/* ---- The spare helper (see "The next file, ready") ---- */

/*
 * Cuts a finished file to its len bytes of header and records, and
 * closes it.  Never grows it (a suffix truncation may have cut it
 * shorter meanwhile); no fsync (see "Finished files keep only their
 * records").  Helper thread.
 */
static void trim_file(struct txlog *log, int fd, uint64_t len)
{
	struct stat st;

	assert(fd >= 0 && len >= TXLOG_HDR_SIZE);
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > len && ftruncate(fd, (off_t)len) < 0)
		log_warn("txlog: %s: cannot cut a finished log file to its %" PRIu64
			 " bytes of records (it keeps its preallocation): %s",
			 log->dir, len, strerror(errno));
	close(fd);
}

/*
 * Hands a finished file (every record in it durable) to the helper for
 * its cut; with TRIM_MAX already waiting, closes it uncut.  Writing
 * writer.
 */
static void trim_later(struct txlog *log, int fd, uint64_t len)
{
	bool queued = false;

	pthread_mutex_lock(&log->lock);
	if (log->spare_started && log->ntrim < TRIM_MAX) {
		log->trim[log->ntrim].fd = fd;
		log->trim[log->ntrim].len = len;
		log->ntrim++;
		queued = true;
		pthread_cond_broadcast(&log->spare_wake);
	}
	pthread_mutex_unlock(&log->lock);
	if (!queued) {
		log_debug("txlog: %s: a finished log file keeps its preallocation (the helper "
			  "is behind)",
			  log->dir);
		close(fd);
	}
}

/*
 * Creates SPARE_NAME: prealloc bytes allocated, the first ZERO_AHEAD
 * (header included) written with zeros, fdatasync'ed.  Only a full
 * preAllocSize within half the free space (alloc_space's rule; with less,
 * create_file's halving steps and warnings take over).  Returns the
 * descriptor, or -errno with nothing left behind.  Helper thread.
 */
static int make_spare(struct txlog *log, uint64_t *zeroed)
{
	const char *what = "create";
	struct statvfs sv;
	int fd, rc = 0;

	*zeroed = 0;
	fd = openat(log->dirfd, SPARE_NAME, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		log_debug("txlog: %s/" SPARE_NAME ": cannot create: %s", log->dir, strerror(-rc));
		return rc;
	}
	if (fstatvfs(fd, &sv) == 0 && log->prealloc > (uint64_t)sv.f_bavail * sv.f_frsize / 2) {
		rc = -ENOSPC; /* quietly: the writer's own path warns */
		goto fail;
	}
	what = "preallocate";
	rc = -posix_fallocate(fd, 0, (off_t)log->prealloc);
	if (!rc && !log->no_sync) {
		*zeroed = TXLOG_HDR_SIZE + ZERO_AHEAD < log->prealloc ? TXLOG_HDR_SIZE + ZERO_AHEAD
								      : log->prealloc;
		what = "write zeros";
		rc = zero_range(fd, 0, *zeroed);
	}
	if (!rc) {
		what = "fdatasync";
		if (fdatasync(fd) < 0)
			rc = -errno;
	}
	if (!rc)
		return fd;
fail:
	if (no_room(rc))
		log_debug("txlog: %s/" SPARE_NAME ": no room for a spare file: %s", log->dir,
			  strerror(-rc));
	else
		log_warn("txlog: %s/" SPARE_NAME ": cannot %s: %s (log files are created when "
			 "needed instead)",
			 log->dir, what, strerror(-rc));
	close(fd);
	unlinkat(log->dirfd, SPARE_NAME, 0);
	return rc;
}

/*
 * The helper: cuts finished files and prepares the spare when asked.  At
 * stop it cuts what is queued and leaves.
 */
static void *spare_main(void *arg)
{
	struct txlog *log = arg;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		while (!log->spare_stop && !log->ntrim && log->spare_state != SPARE_WANTED)
			pthread_cond_wait(&log->spare_wake, &log->lock);
		if (log->ntrim) {
			/* It stays queued until cut: a truncation waits for it. */
			int fd = log->trim[0].fd;
			uint64_t len = log->trim[0].len;

			pthread_mutex_unlock(&log->lock);
			trim_file(log, fd, len);
			pthread_mutex_lock(&log->lock);
			assert(log->ntrim > 0 && log->trim[0].fd == fd);
			log->ntrim--;
			memmove(&log->trim[0], &log->trim[1], log->ntrim * sizeof(log->trim[0]));
			pthread_cond_broadcast(&log->spare_wake);
			continue;
		}
		if (log->spare_stop)
			break;
		assert(log->spare_state == SPARE_WANTED && log->spare_fd < 0);
		log->spare_state = SPARE_MAKING;
		pthread_mutex_unlock(&log->lock);

		uint64_t zeroed;
		int fd = make_spare(log, &zeroed);

		pthread_mutex_lock(&log->lock);
		assert(log->spare_state == SPARE_MAKING);
		if (fd >= 0) {
			log->spare_fd = fd;
			log->spare_alloc = log->prealloc;
			log->spare_zeroed = zeroed;
			log->spare_state = SPARE_READY;
		} else {
			log->spare_state = SPARE_IDLE; /* the next file asks again */
		}
		pthread_cond_broadcast(&log->spare_wake);
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

/* Stops and joins the helper (it cuts what is queued first). */
static void stop_spare(struct txlog *log)
{
	if (!log->spare_started)
		return;
	pthread_mutex_lock(&log->lock);
	log->spare_stop = true;
	pthread_cond_broadcast(&log->spare_wake);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->spare_thread, NULL);
	log->spare_started = false;
	assert(log->ntrim == 0);
}

/* Asks the helper for a new spare unless one is on its way; under lock. */
static void want_spare_locked(struct txlog *log)
{
	if (log->no_spare)
		return;
	if (log->spare_state == SPARE_IDLE || log->spare_state == SPARE_TAKEN) {
		log->spare_state = SPARE_WANTED;
		pthread_cond_broadcast(&log->spare_wake);
	}
}

/* Takes the spare if it is ready and holds need bytes; writing writer. */
static int take_spare(struct txlog *log, uint64_t need, uint64_t *alloc, uint64_t *zeroed)
{
	int fd = -1;

	pthread_mutex_lock(&log->lock);
	if (log->spare_state == SPARE_READY && log->spare_alloc >= need) {
		assert(log->spare_fd >= 0);
		fd = log->spare_fd;
		*alloc = log->spare_alloc;
		*zeroed = log->spare_zeroed;
		log->spare_fd = -1;
		log->spare_state = SPARE_TAKEN;
	}
	pthread_mutex_unlock(&log->lock);
	return fd;
}

/*
 * Writes the header of the file the spare becomes (into written zeros).
 * Its name comes after the first batch's fdatasync (name_file).  On
 * failure the spare is closed and deleted.  Writing writer.
 */
static int spare_header(struct txlog *log, int fd, int64_t first)
{
	uint8_t hdr[TXLOG_HDR_SIZE];
	int rc;

	hdr_encode(hdr, log->dbid, first);
	rc = pwrite_all(fd, hdr, sizeof(hdr), 0);
	if (rc) {
		log_error("txlog: %s/" SPARE_NAME ": cannot write the header of the next file: %s",
			  log->dir, strerror(-rc));
		close(fd);
		unlinkat(log->dirfd, SPARE_NAME, 0);
	}
	return rc;
}

/*
 * Waits ms milliseconds unless the log is stopping, marked stalled by
 * err (txlog_close waits no longer); returns whether it is stopping.
 * The caller clears the mark (unstall) once it goes on.  Any writer.
 *
 * Why a condition variable of its own, broadcast by stop_writers only:
 * nothing else in the process is a reason to end a nap early (room and
 * descriptors come from outside; the napper clears its own mark).  A
 * nap on `wake` was woken by every kick, and could take a handoff's
 * signal meant for a writer waiting for work, which it then had to pass
 * on (re-signal) lest the batch wait out the nap.  On its own variable
 * it takes nobody's wake-up and passes none on.  stats.nap_wakeups
 * counts naps ended early without a stop: spurious wake-ups (none with
 * glibc, which wakes a waiter only for a signal or broadcast).
 */
static bool nap_unless_stopping(struct txlog *log, uint32_t ms, int err)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &until); /* the clock of log->nap */
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	assert(err < 0 && ms > 0);
	pthread_mutex_lock(&log->lock);
	if (!log->stalled) {
		log->stalled = err;
		pthread_cond_broadcast(&log->idle); /* a txlog_close waiting */
	}
	while (!log->stop && pthread_cond_timedwait(&log->nap, &log->lock, &until) != ETIMEDOUT)
		if (!log->stop)
			log->stats.nap_wakeups++;
	stop = log->stop;
	pthread_mutex_unlock(&log->lock);
	return stop;
}

static void unstall(struct txlog *log)
{
	pthread_mutex_lock(&log->lock);
	log->stalled = 0;
	pthread_mutex_unlock(&log->lock);
}

/*
 * Renames the spare to name.  A rename may need a new directory block:
 * with no room (ENOSPC, EDQUOT) it is tried again, after NAME_RETRY_MIN_MS
 * doubling up to NAME_RETRY_MAX_MS, until it works or the log stops
 * (then the error is returned and is sticky).  Meanwhile the batch stays
 * unpublished, so nothing in the spare is acknowledged, and the batches
 * behind it wait in the pipeline (the caller's pushback); a crash leaves
 * the records in the spare, deleted at open.  Any writer.
 */
static int rename_spare(struct txlog *log, const struct batch *b)
{
	uint32_t nap = NAME_RETRY_MIN_MS;
	uint64_t tries = 0, t0 = clock_mono_ns();
	int rc;

	for (;;) {
		if (renameat2(log->dirfd, SPARE_NAME, log->dirfd, b->name, RENAME_NOREPLACE) == 0)
			break;
		rc = -errno;
		tries++;
		if (!no_room(rc)) {
			log_error("txlog: %s/" SPARE_NAME ": cannot rename to %s: %s", log->dir,
				  b->name, strerror(-rc));
			return rc; /* sticky: the records in it were never acknowledged */
		}
		if (tries == 1)
			log_error("txlog: %s/" SPARE_NAME ": cannot rename to %s: %s; zxids %#" PRIx64
				  "..%#" PRIx64 " in it wait (nothing is acknowledged) and the rename "
				  "is tried again, every %u ms at most, until there is room",
				  log->dir, b->name, strerror(-rc), (uint64_t)b->first_zxid,
				  (uint64_t)b->last_zxid, NAME_RETRY_MAX_MS);
		if (nap_unless_stopping(log, nap, rc)) {
			log_error("txlog: %s: stopping with zxids from %#" PRIx64 " on unnamed in "
				  SPARE_NAME " (never acknowledged; deleted at the next open): "
				  "cannot rename it to %s: %s",
				  log->dir, (uint64_t)b->first_zxid, b->name, strerror(-rc));
			return rc;
		}
		nap = nap * 2 < NAME_RETRY_MAX_MS ? nap * 2 : NAME_RETRY_MAX_MS;
	}
	if (tries) {
		unstall(log);
		log_info("txlog: %s/%s: renamed after %" PRIu64 " failed tries in %" PRIu64
			 " ms: writing again",
			 log->dir, b->name, tries, (clock_mono_ns() - t0) / 1000000);
	}
	return 0;
}

/*
 * After the fdatasync of b, the first batch written into a spare (header
 * and records synced together): the spare takes its log name (never
 * replacing a file; rename_spare) and the directory is fsync'ed, before
 * b can be published.  Then the helper may make the next spare.  Any
 * writer.
 */
static int name_file(struct txlog *log, const struct batch *b)
{
	int rc;

	assert(b->names_file);
	rc = rename_spare(log, b);
	if (rc)
		return rc;
	rc = fsync_dir(log->dirfd, log->dir);
	if (rc)
		return rc;
	pthread_mutex_lock(&log->lock);
	want_spare_locked(log);
	pthread_mutex_unlock(&log->lock);
	return 0;
}

static int create_file(struct txlog *log, int64_t first, uint64_t need)
{
	char name[NAME_BUF], tmp[NAME_BUF + sizeof(TMP_SUFFIX)];
	uint8_t hdr[TXLOG_HDR_SIZE];
	uint64_t alloc = round_up(need, log->prealloc), zeroed;
	const char *what;

	assert(need > TXLOG_HDR_SIZE);
	uint64_t t0 = clock_mono_ns();
	bool unnamed = false;
	int fd, rc;

	log_name(name, first);
	fd = take_spare(log, need, &alloc, &zeroed);
	if (fd >= 0) {
		rc = spare_header(log, fd, first);
		pthread_mutex_lock(&log->lock);
		if (rc)
			want_spare_locked(log); /* deleted: the helper may make one */
		else
			log->stats.files_spare++;
		pthread_mutex_unlock(&log->lock);
		if (rc)
			return rc;
		unnamed = true;
		goto done;
	}
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
	rc = alloc_space(log, fd, TXLOG_HDR_SIZE, need, &alloc);
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
	pthread_mutex_lock(&log->lock);
	want_spare_locked(log); /* one that failed is tried again */
	pthread_mutex_unlock(&log->lock);
done:
	memcpy(log->wf.name, name, sizeof(name));
	log->wf.fd = fd;
	log->wf.off = TXLOG_HDR_SIZE;
	log->wf.alloc = alloc;
	log->wf.zeroed = log->no_sync ? TXLOG_HDR_SIZE : zeroed;
	log->wf.unnamed = unnamed;
	pthread_mutex_lock(&log->lock);
	log->stats.files++;
	pthread_mutex_unlock(&log->lock);
	if (!unnamed) /* else once it has its name (sync_batch) */
		log_info("txlog: %s/%s: new log file (the writer spent %" PRIu64 " us)", log->dir,
			 name, (clock_mono_ns() - t0) / 1000);
	return 0;
fail:
	if (!no_room(rc) || !(__atomic_load_n(&log->full_logged, __ATOMIC_RELAXED) ||
			      log->roll_room_logged))
		log_error("txlog: %s/%s: cannot %s (%" PRIu64 " bytes): %s", log->dir, tmp, what,
			  alloc, strerror(-rc));
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
	/*
	 * alloc_space may truncate back to wf.alloc: every record byte lies
	 * below it (a recovered file may end inside its last record's
	 * padding, so wf.off can exceed it by up to 7 bytes).
	 */
	assert(log->wf.alloc + 8 > log->wf.off);
	rc = alloc_space(log, log->wf.fd, log->wf.alloc, need, &alloc);
	if (rc) {
		if (!no_room(rc) || !__atomic_load_n(&log->full_logged, __ATOMIC_RELAXED))
			log_error("txlog: %s/%s: offset %" PRIu64 ": cannot allocate %" PRIu64
				  " bytes: %s",
				  log->dir, log->wf.name, log->wf.alloc, need - log->wf.alloc,
				  strerror(-rc));
		return rc;
	}
	assert(alloc >= need && alloc > log->wf.alloc);
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
	uint64_t old_len = log->wf.off;
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
	if (no_room(rc)) {
		/* Likewise: the current file may still have room (ensure_alloc says). */
		assert(log->wf.fd == old);
		if (!log->roll_room_logged)
			log_warn("txlog: %s: no room for a new log file (%s); going on in %s and "
				 "trying again at the next batch",
				 log->dir, strerror(-rc), log->wf.name);
		log->roll_room_logged = true;
		return 0;
	}
	if (rc)
		return rc;
	assert(log->wf.fd != old);
	trim_later(log, old, old_len);
	log->roll_pending = false;
	log->roll_room_logged = false;
	return 0;
}

/*
 * The first file after open: out of descriptors, wait and retry (nothing
 * is acknowledged meanwhile).
 */
static int first_file(struct txlog *log, const struct batch *b)
{
	bool stalled = false;

	for (;;) {
		int rc = create_file(log, b->first_zxid, TXLOG_HDR_SIZE + b->len);

		if (!fd_exhausted(rc)) {
			if (stalled)
				unstall(log);
			return rc;
		}
		fd_short(log, rc, "writes wait (nothing is acknowledged) and it is tried again");
		stalled = true;
		if (nap_unless_stopping(log, FD_RETRY_MS, rc)) {
			char why[192];

			log_error("txlog: %s: stopping with zxids %#" PRIx64 "..%#" PRIx64
				  " unwritten (never acknowledged): cannot create a log file: %s",
				  log->dir, (uint64_t)b->first_zxid, (uint64_t)b->last_zxid,
				  fd_strerror(rc, why, sizeof(why)));
			return rc;
		}
	}
}

/* Whether writing b starts a new file (roll_file); writing writer. */
static bool rolls(const struct txlog *log, const struct batch *b)
{
	return log->wf.fd >= 0 && (b->roll || log->roll_pending || log->wf.off >= log->file_limit);
}

/*
 * Writes one batch (not synced: b->sync_fd is the file to sync).
 * *unwritten is set when it failed before any byte of it reached the
 * file (no room: the batch may be discarded and the log goes on).  A
 * roll happens only once every batch ahead is durable (writer_main).
 */
static int write_batch(struct txlog *log, struct batch *b, int64_t mark, bool *unwritten)
{
	int rc;

	*unwritten = true;
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
	seal(b, mark);
	rc = ensure_alloc(log, log->wf.off + b->len);
	if (rc)
		return rc;
	*unwritten = false;
	rc = pwrite_all(log->wf.fd, b->buf, b->len, log->wf.off);
	if (rc) {
		log_error("txlog: %s/%s: offset %" PRIu64 ": writing %zu bytes (zxids %#" PRIx64
			  "..%#" PRIx64 ") failed: %s",
			  log->dir, log->wf.name, log->wf.off, b->len, (uint64_t)b->first_zxid,
			  (uint64_t)b->last_zxid, strerror(-rc));
		return rc;
	}
	b->sync_fd = log->wf.fd;
	b->names_file = log->wf.unnamed;
	if (b->names_file) {
		memcpy(b->name, log->wf.name, sizeof(b->name));
		log->wf.unnamed = false;
	}
	log->wf.off += b->len;
	return 0;
}

/* Syncs a written batch; no lock held, several writers at once. */
static int sync_batch(struct txlog *log, struct batch *b)
{
	uint64_t t0;
	int rc;

	b->sync_ns = 0;
	/* A file's header is synced before it has a name, even with forceSync off. */
	if (log->no_sync && !b->names_file)
		return 0;
	t0 = clock_mono_ns();
	if (fdatasync(b->sync_fd) < 0) {
		rc = -errno;
		log_error("txlog: %s: fdatasync after writing zxids %#" PRIx64 "..%#" PRIx64
			  " failed: %s",
			  log->dir, (uint64_t)b->first_zxid, (uint64_t)b->last_zxid, strerror(-rc));
		return rc;
	}
	b->sync_ns = log->no_sync ? 0 : clock_mono_ns() - t0;
	if (b->names_file) {
		uint64_t t1 = clock_mono_ns();

		rc = name_file(log, b);
		if (rc)
			return rc;
		log_info("txlog: %s/%s: new log file (prepared ahead; its first batch's "
			 "fdatasync %" PRIu64 " us, then rename and directory fsync %" PRIu64
			 " us)",
			 log->dir, b->name, (t1 - t0) / 1000, (clock_mono_ns() - t1) / 1000);
	}
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
	b->last_term = 0;
	b->last_txzxid = 0;
	b->roll = false;
	b->names_file = false;
	b->state = B_FILLING;
	b->sync_fd = -1;
	b->sync_ns = 0;
	b->sync_seq = 0;
	b->sync_wait = 0;
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

/* The publishing writer only (under lock): the single writer of s. */
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
	hist_add(&log->batch_hist, b->nrec);
	if (synced) {
		summary_add(&log->fsync_ms, sync_ns / 1000000); /* TimeUnit.toMillis truncates */
		hist_add(&log->fsync_us_hist, sync_ns / 1000);
	}
}

/* The oldest batch waiting for a writer, or NULL; under lock. */
static struct batch *next_handed(const struct txlog *log)
{
	for (uint32_t i = 0; i < log->qlen; i++) {
		struct batch *b = log->q[(log->qhead + i) % TXLOG_MAX_INFLIGHT];

		if (b->state == B_HANDED)
			return b;
	}
	return NULL;
}

/* Wakes the writers and the caller: writing ended or a batch left; under lock. */
static void kick(struct txlog *log)
{
	pthread_cond_broadcast(&log->wake);
	pthread_cond_broadcast(&log->idle);
}

/*
 * Whether a sync that overlapped b's still runs: one that started before
 * b's returned (ticket below b->sync_wait) and has not returned.  Under
 * lock.
 *
 * Why b must wait for them (errseq, Linux >= 4.13): a writeback error is
 * recorded in the file's mapping and reported once per open file
 * description, by the first fdatasync on it to check after it happened;
 * every batch syncs the same description.  If b's pages failed to reach
 * the disk, the error was recorded before b's fdatasync finished waiting
 * for them, so b's call reports it unless another fdatasync on the fd
 * checked in between, and that one started before b's returned.  A sync
 * of a batch ahead of b publishes its result before b can (in order); a
 * sync of a later batch that started before b's returned is a ticket
 * below b->sync_wait, and b waits until it returned and recorded its
 * error (sticky err: then b is never published).  A sync started after
 * b's returned checks after b's check, so it cannot have taken b's
 * error.  The syncs still run at once; what the wait costs is b's
 * acknowledgement (and its pipeline slot) until the overlapping later
 * sync returns.  (Giving each writer its own open file description would
 * avoid that: each description sees every error.)
 */
static bool overlapping_sync_runs(const struct txlog *log, const struct batch *b)
{
	for (uint32_t i = 0; i < log->qlen; i++) {
		const struct batch *o = log->q[(log->qhead + i) % TXLOG_MAX_INFLIGHT];

		if (o->state == B_SYNCING && o->sync_seq < b->sync_wait)
			return true;
	}
	return false;
}

/*
 * Takes the batches at the head of the pipeline that are done, in order:
 * a synced one becomes durable (unless an error was recorded: then
 * nothing moves the durable index again) once every sync that overlapped
 * its own returned (overlapping_sync_runs), a dropped or failed one just
 * leaves.  A synced batch behind one still syncing waits, so the durable
 * index only ever covers a prefix.  Signals the eventfd when anything
 * left or `event` is set.  Under lock.
 */
static void publish(struct txlog *log, bool event)
{
	uint64_t one = 1;

	while (log->qlen) {
		struct batch *b = log->q[log->qhead];
		bool err = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);

		if (b->state == B_SYNCED && !err && overlapping_sync_runs(log, b))
			break;
		if (b->state == B_SYNCED && !err) {
			assert(b->last_zxid > __atomic_load_n(&log->durable, __ATOMIC_RELAXED));
			count_batch(&log->stats, b, b->sync_ns, !log->no_sync);
			publish_batch(log, b, b->sync_ns, !log->no_sync);
			log->durable_term = b->last_term;
			log->durable_txzxid = b->last_txzxid;
			__atomic_store_n(&log->durable, b->last_zxid, __ATOMIC_RELEASE);
			if (log->full_logged) {
				log_info("txlog: %s: writing again: zxids up to %#" PRIx64
					 " are durable",
					 log->dir, (uint64_t)b->last_zxid);
				__atomic_store_n(&log->full_logged, false, __ATOMIC_RELAXED);
			}
		} else if (b->state != B_SYNCED && b->state != B_DROPPED && b->state != B_FAILED) {
			break;
		}
		log->q[log->qhead] = NULL;
		log->qhead = (log->qhead + 1) % TXLOG_MAX_INFLIGHT;
		log->qlen--;
		batch_reset(b);
		assert(log->nfree < TXLOG_MAX_INFLIGHT);
		log->free_b[log->nfree++] = b;
		event = true;
	}
	if (!event)
		return;
	/*
	 * After the durable zxid (a poller that wakes sees it) and before
	 * the broadcast (a waiter that returns finds the event).  Cannot
	 * fail short of 2^64 - 1 unread events.
	 */
	if (write(log->efd, &one, sizeof(one)) < 0)
		log_debug("txlog: eventfd write: %s", strerror(errno));
	kick(log);
}

/* Records a batch's failure; under lock. */
static void batch_failed(struct txlog *log, struct batch *b, int rc, bool unwritten)
{
	if (unwritten && no_room(rc)) {
		/* No room, nothing written: the caller discards (not sticky). */
		if (!log->full_logged) {
			log_error("txlog: %s: the disk is full: zxids %#" PRIx64 "..%#" PRIx64
				  " were not written and are refused; the log goes on once there "
				  "is room (this is logged once until a batch is written again)",
				  log->dir, (uint64_t)b->first_zxid, (uint64_t)b->last_zxid);
			__atomic_store_n(&log->full_logged, true, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&log->full, rc, __ATOMIC_RELEASE);
		b->state = B_DROPPED;
		return;
	}
	if (!__atomic_load_n(&log->err, __ATOMIC_ACQUIRE))
		__atomic_store_n(&log->err, rc, __ATOMIC_RELEASE);
	b->state = B_FAILED;
}

/*
 * One of max_inflight writer threads.  Each takes the oldest handed-over
 * batch when no other writer is writing, writes it (mark: the durable
 * index now), lets the next writer write the next batch, and syncs its
 * own: up to max_inflight fdatasyncs run at once, each batch's bytes
 * written after the previous batch's, and durability is published in
 * order (publish).  A roll waits until every batch ahead is durable, so a
 * file is complete before its successor exists.
 */
static void *writer_main(void *arg)
{
	struct txlog *log = arg;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		struct batch *b;
		bool unwritten = false;
		int64_t mark;
		int rc;

		for (;;) {
			b = log->writing ? NULL : next_handed(log);
			if (b || (log->stop && !next_handed(log)))
				break;
			pthread_cond_wait(&log->wake, &log->lock);
		}
		if (!b)
			break;
		b->state = B_WRITING;
		log->writing = true;
		rc = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
		if (!rc && rolls(log, b)) {
			while (log->q[log->qhead] != b && !__atomic_load_n(&log->err, __ATOMIC_ACQUIRE))
				pthread_cond_wait(&log->idle, &log->lock);
			rc = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
		}
		if (!rc && (rc = __atomic_load_n(&log->full, __ATOMIC_ACQUIRE)))
			unwritten = true; /* a batch ahead found no room: this one goes too */
		mark = __atomic_load_n(&log->durable, __ATOMIC_ACQUIRE);
		pthread_mutex_unlock(&log->lock);

		if (!rc)
			rc = write_batch(log, b, mark, &unwritten);
		/*
		 * Zeros ahead, when the idle moments (below) fell behind: a
		 * pipelined writer may always find the next batch handed over.
		 */
		if (!rc)
			rc = zero_ahead(log);

		pthread_mutex_lock(&log->lock);
		log->writing = false;
		if (rc) {
			batch_failed(log, b, rc, unwritten);
			publish(log, true);
			continue;
		}
		b->state = B_SYNCING;
		b->sync_seq = log->sync_seq++;
		kick(log); /* the next writer may write the next batch */
		pthread_mutex_unlock(&log->lock);

		rc = sync_batch(log, b);

		pthread_mutex_lock(&log->lock);
		if (rc) {
			batch_failed(log, b, rc, false);
		} else {
			/* Every sync started so far may have taken b's error. */
			b->sync_wait = log->no_sync ? 0 : log->sync_seq;
			b->state = B_SYNCED;
		}
		publish(log, rc != 0);
		/* While the next batch fills. */
		if (!rc && !log->writing && !next_handed(log) && !log->stop &&
		    !__atomic_load_n(&log->err, __ATOMIC_ACQUIRE)) {
			log->writing = true;
			pthread_mutex_unlock(&log->lock);
			rc = zero_ahead(log);
			pthread_mutex_lock(&log->lock);
			log->writing = false;
			if (rc && !__atomic_load_n(&log->err, __ATOMIC_ACQUIRE))
				__atomic_store_n(&log->err, rc, __ATOMIC_RELEASE);
			if (rc)
				publish(log, true);
			kick(log);
		}
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

/* After the writers were joined: syncs (forceSync off) and closes the file. */
static void writers_done(struct txlog *log)
{
	if (log->wf.fd < 0)
		return;
	if (log->no_sync && !__atomic_load_n(&log->err, __ATOMIC_ACQUIRE) &&
	    fdatasync(log->wf.fd) < 0) {
		int rc = -errno;

		log_error("txlog: %s/%s: fdatasync at close failed: %s", log->dir, log->wf.name,
			  strerror(-rc));
		__atomic_store_n(&log->err, rc, __ATOMIC_RELEASE);
	}
	close(log->wf.fd);
	log->wf.fd = -1;
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
	assert(!log->spare_started);
	if (log->wf.fd >= 0)
		close(log->wf.fd);
	if (log->spare_fd >= 0) {
		close(log->spare_fd);
		unlinkat(log->dirfd, SPARE_NAME, 0);
	}
	if (log->dirfd >= 0)
		close(log->dirfd);
	if (log->efd >= 0)
		close(log->efd);
	batch_free(log->cur);
	for (uint32_t i = 0; i < log->qlen; i++)
		batch_free(log->q[(log->qhead + i) % TXLOG_MAX_INFLIGHT]);
	for (uint32_t i = 0; i < log->nfree; i++)
		batch_free(log->free_b[i]);
	pthread_cond_destroy(&log->idle);
	pthread_cond_destroy(&log->wake);
	pthread_cond_destroy(&log->nap);
	pthread_cond_destroy(&log->spare_wake);
	pthread_mutex_destroy(&log->lock);
	pthread_mutex_destroy(&log->files_lock);
	free(log);
}

/* Stops and joins the writer threads (the pipeline drained or failed). */
static void stop_writers(struct txlog *log)
{
	pthread_mutex_lock(&log->lock);
	log->stop = true;
	pthread_cond_broadcast(&log->wake);
	pthread_cond_broadcast(&log->nap);
	pthread_mutex_unlock(&log->lock);
	for (uint32_t i = 0; i < log->nthreads; i++)
		pthread_join(log->threads[i], NULL);
	log->nthreads = 0;
	writers_done(log);
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

	if (!opts || !opts->dir || !out || opts->max_record > TXLOG_REC_LEN_MASK ||
	    opts->max_inflight > TXLOG_MAX_INFLIGHT)
		return -EINVAL;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->efd = -1;
	log->dirfd = -1;
	log->wf.fd = -1;
	log->spare_fd = -1;
	pthread_mutex_init(&log->lock, NULL);
	pthread_mutex_init(&log->files_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&log->idle, &ca);
	pthread_cond_init(&log->wake, &ca);
	pthread_cond_init(&log->nap, &ca);
	pthread_cond_init(&log->spare_wake, &ca);
	pthread_condattr_destroy(&ca);
	log->prealloc = opts->prealloc ? opts->prealloc : TXLOG_DEFAULT_PREALLOC;
	log->file_limit = opts->file_limit ? opts->file_limit : TXLOG_DEFAULT_FILE_LIMIT;
	log->max_record = opts->max_record ? opts->max_record : TXLOG_DEFAULT_MAX_RECORD;
	log->max_batch = opts->max_batch ? opts->max_batch : TXLOG_DEFAULT_MAX_BATCH;
	log->no_sync = opts->no_sync;
	log->repair = opts->repair;
	log->depth = opts->max_inflight ? opts->max_inflight : TXLOG_DEFAULT_INFLIGHT;
	if ((size_t)snprintf(log->dir, sizeof(log->dir), "%s/%s", opts->dir, TXLOG_SUBDIR) >=
	    sizeof(log->dir) - NAME_BUF - 1) {
		log_error("txlog: %s: path too long", opts->dir);
		rc = -ENAMETOOLONG;
		goto fail;
	}
	log->cur = batch_new();
	if (!log->cur) {
		rc = -ENOMEM;
		goto fail;
	}
	/* depth + 1 buffers: one filling, up to depth in the pipeline. */
	while (log->nfree < log->depth) {
		struct batch *b = batch_new();

		if (!b) {
			rc = -ENOMEM;
			goto fail;
		}
		log->free_b[log->nfree++] = b;
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

	if (unlinkat(log->dirfd, SPARE_NAME, 0) == 0)
		log_info("txlog: %s/" SPARE_NAME ": deleted a leftover spare file", log->dir);

	/* Signals go to the application's threads, never to the writers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	log->spare_state = opts->no_spare ? SPARE_IDLE : SPARE_WANTED;
	log->no_spare = opts->no_spare;
	rc = -pthread_create(&log->spare_thread, NULL, spare_main, log);
	if (!rc) {
		log->spare_started = true;
		pthread_setname_np(log->spare_thread, "txlog-spare");
	} else {
		/* Not fatal: files are created when needed and keep their preallocation. */
		log_warn("txlog: cannot start the spare file helper: %s", strerror(-rc));
		log->spare_state = SPARE_IDLE;
	}
	for (rc = 0; log->nthreads < log->depth && !rc; log->nthreads++) {
		rc = -pthread_create(&log->threads[log->nthreads], NULL, writer_main, log);
		if (rc)
			break;
		pthread_setname_np(log->threads[log->nthreads], "txlog");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		log_error("txlog: cannot start a writer thread: %s", strerror(-rc));
		stop_writers(log);
		stop_spare(log);
		goto fail;
	}
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

	if (!err)
		err = __atomic_load_n(&log->full, __ATOMIC_ACQUIRE);
	if (err)
		return err;
	if (!log->cur->nrec)
		return 0;
	if (log->qlen >= log->depth)
		return -EAGAIN;
	assert(log->nfree > 0 && log->qlen < TXLOG_MAX_INFLIGHT);
	log->cur->state = B_HANDED;
	log->q[(log->qhead + log->qlen) % TXLOG_MAX_INFLIGHT] = log->cur;
	log->qlen++;
	log->cur = log->free_b[--log->nfree];
	assert(log->cur->state == B_FILLING && !log->cur->nrec);
	pthread_cond_signal(&log->wake);
	return 0;
}

int txlog_append_entry(struct txlog *log, const struct txlog_entry *e)
{
	struct batch *b = log->cur;
	size_t need, len;
	uint8_t *h;
	int err = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);

	if (!err)
		err = __atomic_load_n(&log->full, __ATOMIC_ACQUIRE);
	if (err)
		return err;
	if ((e->len && !e->data) || (e->head_len && !e->head) || e->len > log->max_record ||
	    e->head_len > log->max_record - e->len || e->head_len + e->len == 0) {
		log_error("txlog: append of index %#" PRIx64
			  ": record of %zu + %zu bytes (1..%u allowed)",
			  (uint64_t)e->index, e->head_len, e->len, log->max_record);
		return -EINVAL;
	}
	len = e->head_len + e->len;
	if (e->index <= log->last_zxid || e->term < log->last_term || e->zxid <= log->last_txzxid ||
	    e->term > (uint64_t)e->zxid >> 32) {
		log_error("txlog: append of index %#" PRIx64 " term %" PRIu64 " zxid %#" PRIx64
			  " after index %#" PRIx64 " term %" PRIu64 " zxid %#" PRIx64
			  ": indexes and zxids must increase, terms must not decrease nor exceed "
			  "the zxid's epoch",
			  (uint64_t)e->index, e->term, (uint64_t)e->zxid, (uint64_t)log->last_zxid,
			  log->last_term, (uint64_t)log->last_txzxid);
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
	jute_put_be64(h + 8, (uint64_t)e->index);
	jute_put_be64(h + 16, e->term);
	jute_put_be64(h + 24, (uint64_t)e->zxid);
	jute_put_be64(h + 32, 0); /* the writer fills in the durable mark */
	if (e->head_len)
		memcpy(h + TXLOG_REC_HDR_SIZE, e->head, e->head_len);
	if (e->len)
		memcpy(h + TXLOG_REC_HDR_SIZE + e->head_len, e->data, e->len);
	memset(h + TXLOG_REC_HDR_SIZE + len, 0, need - TXLOG_REC_HDR_SIZE - len);
	if (!b->nrec)
		b->first_zxid = e->index;
	b->last_zxid = e->index;
	b->last_term = e->term;
	b->last_txzxid = e->zxid;
	b->len += need;
	b->nrec++;
	log->last_zxid = e->index;
	log->last_term = e->term;
	log->last_txzxid = e->zxid;
	assert(b->len <= b->cap && b->first_zxid <= b->last_zxid);
	return 0;
}

int txlog_append(struct txlog *log, int64_t zxid, const void *rec, size_t len)
{
	struct txlog_entry e = {
	    .index = zxid,
	    .term = (uint64_t)zxid >> 32,
	    .zxid = zxid,
	    .data = rec,
	    .len = len,
	};

	return txlog_append_entry(log, &e);
}

void txlog_last(const struct txlog *log, int64_t *index, uint64_t *term)
{
	*index = log->last_zxid;
	*term = log->last_term;
}

int txlog_flush(struct txlog *log)
{
	int rc;

	if (!log->cur->nrec) {
		rc = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
		return rc ? rc : __atomic_load_n(&log->full, __ATOMIC_ACQUIRE);
	}
	pthread_mutex_lock(&log->lock);
	rc = handoff_locked(log);
	pthread_mutex_unlock(&log->lock);
	return rc;
}

int txlog_spare_wait(struct txlog *log, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&log->lock);
	while (!rc &&
	       (log->spare_state == SPARE_WANTED || log->spare_state == SPARE_MAKING || log->ntrim))
		rc = -pthread_cond_timedwait(&log->spare_wake, &log->lock, &until);
	if (!rc && log->spare_state != SPARE_READY)
		rc = -EAGAIN;
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

/*
 * txlog_close: waits until every record appended is durable, or a
 * writer is stalled (it waits for room or descriptors, which may never
 * come: stopping it ends the wait with its error).  Returns 0 or the
 * error.  Caller thread.
 */
static int wait_all_or_stalled(struct txlog *log)
{
	int rc;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		if (__atomic_load_n(&log->durable, __ATOMIC_ACQUIRE) >= log->last_zxid) {
			rc = 0;
			break;
		}
		rc = handoff_locked(log);
		if (rc && rc != -EAGAIN)
			break;
		rc = log->stalled;
		if (rc)
			break;
		pthread_cond_wait(&log->idle, &log->lock);
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
		rc = wait_all_or_stalled(log);
	stop_writers(log);
	stop_spare(log);
	err = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
	if (err || rc)
		log_error("txlog: %s: closed with records after zxid %#" PRIx64 " not durable: %s",
			  log->dir, (uint64_t)log->durable, strerror(-(err ? err : rc)));
	destroy(log);
	return err ? err : rc;
}

/*
 * Cuts the batch being filled before its first record with zxid >= from
 * (records are framed as in txlog.h; CRCs are not filled in yet).
 */
static void batch_cut(struct batch *b, int64_t from)
{
	size_t off = 0;
	uint32_t n = 0;
	int64_t last = 0, txzxid = 0;
	uint64_t term = 0;

	while (off < b->len) {
		const uint8_t *h = b->buf + off;
		int64_t z = (int64_t)jute_be64(h + 8);

		if (z >= from)
			break;
		last = z;
		term = jute_be64(h + 16);
		txzxid = (int64_t)jute_be64(h + 24);
		n++;
		off += (size_t)align8(TXLOG_REC_HDR_SIZE + (jute_be32(h) & TXLOG_REC_LEN_MASK));
	}
	assert(off <= b->len && n <= b->nrec);
	b->len = off;
	b->nrec = n;
	b->last_zxid = n ? last : 0;
	b->last_term = term;
	b->last_txzxid = txzxid;
	if (!n)
		b->first_zxid = 0;
}

/* Offset of the first record with zxid >= from in the file behind r (its end if none). */
static int find_offset(struct txlog *log, struct reader *r, int64_t first, int64_t from,
		       uint64_t *out, uint64_t *prev_term, int64_t *prev_txzxid)
{
	uint64_t dbid = log->dbid, off = TXLOG_HDR_SIZE;
	bool have = true;
	struct rec rec;
	int rc = hdr_check(r, first, &dbid, &have), kind;

	while (!rc) {
		kind = read_rec(r, off, log->max_record, &rec);
		if (kind < 0)
			return kind;
		if (kind == REC_BAD) {
			log_error("txlog: %s/%s: offset %" PRIu64 ": %s while truncating: %s",
				  log->dir, r->name, off, rec.why, damaged_advice);
			return -EBADMSG;
		}
		if (kind == REC_END || rec.zxid >= from)
			break;
		*prev_term = rec.term;
		*prev_txzxid = rec.txzxid;
		off = rec.next;
	}
	*out = off;
	return rc;
}

/* Deletes one file durably (the directory is synced: deletions stay in order). */
static int unlink_durably(struct txlog *log, int64_t first)
{
	char name[NAME_BUF];

	log_name(name, first);
	/*
	 * ENOENT: txlog_purge (the snapshot thread's autopurge) deleted it
	 * between our listing and now; gone is what we want.
	 */
	if (unlinkat(log->dirfd, name, 0) < 0 && errno != ENOENT) {
		int rc = -errno;

		log_error("txlog: %s/%s: cannot delete: %s", log->dir, name, strerror(-rc));
		return rc;
	}
	log_info("txlog: %s/%s: deleted by a suffix truncation", log->dir, name);
	return fsync_dir(log->dirfd, log->dir);
}

/* The on-disk part of txlog_truncate_suffix; under lock, writer idle. */
static int truncate_disk(struct txlog *log, int64_t from)
{
	int64_t *firsts = NULL;
	size_t n = 0, k;
	char name[NAME_BUF];
	struct reader r;
	struct stat st;
	uint64_t off = 0;
	int fd, rc;

	rc = list_files(log, &firsts, &n, false, NULL);
	if (rc)
		return rc;
	log->durable_term = 0;
	log->durable_txzxid = 0;
	/* Newest first: a crash in between leaves a prefix of the old log. */
	for (k = n; k > 0 && firsts[k - 1] >= from; k--) {
		log_name(name, firsts[k - 1]);
		if (log->wf.fd >= 0 && strcmp(name, log->wf.name) == 0) {
			close(log->wf.fd);
			log->wf.fd = -1;
		}
		rc = unlink_durably(log, firsts[k - 1]);
		if (rc)
			goto out;
	}
	if (k == 0) { /* nothing left: the next batch starts a new file */
		if (log->wf.fd >= 0)
			close(log->wf.fd);
		log->wf.fd = -1;
		goto out;
	}
	log_name(name, firsts[k - 1]);
	fd = openat(log->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		log_error("txlog: %s/%s: cannot open: %s", log->dir, name, strerror(-rc));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rd_init(&r, fd, log->dir, name, (uint64_t)st.st_size);
	rc = find_offset(log, &r, firsts[k - 1], from, &off, &log->durable_term,
			 &log->durable_txzxid);
	rd_free(&r);
	if (!rc && r.ver != TXLOG_VERSION) {
		/* An old-format file keeps its format: cut it, write in a new one. */
		if (ftruncate(fd, (off_t)off) < 0 || fdatasync(fd) < 0) {
			rc = -errno;
			log_error("txlog: %s/%s: cannot truncate at offset %" PRIu64 ": %s",
				  log->dir, name, off, strerror(-rc));
		}
		close(fd);
		if (log->wf.fd >= 0)
			close(log->wf.fd);
		log->wf.fd = -1;
		goto out;
	}
	/*
	 * ftruncate, not zeroing: the size changes atomically, so a crash
	 * leaves the old records or none of them, never a hole before valid
	 * records (which recovery would refuse).  Bytes past the new end
	 * read as zeros when the file grows again (zeros-ahead invariant).
	 */
	if (!rc && ftruncate(fd, (off_t)off) < 0)
		rc = -errno;
	if (!rc && fdatasync(fd) < 0)
		rc = -errno;
	if (rc) {
		log_error("txlog: %s/%s: cannot truncate at offset %" PRIu64 ": %s", log->dir,
			  name, off, strerror(-rc));
		close(fd);
		goto out;
	}
	if (log->wf.fd >= 0)
		close(log->wf.fd);
	memcpy(log->wf.name, name, sizeof(name));
	log->wf.fd = fd;
	log->wf.off = off;
	log->wf.alloc = off;
	log->wf.zeroed = off;
	log_info("txlog: %s/%s: truncated at offset %" PRIu64 " (zxids from %#" PRIx64 " dropped)",
		 log->dir, name, off, (uint64_t)from);
out:
	free(firsts);
	return rc;
}

int txlog_truncate_suffix(struct txlog *log, int64_t from)
{
	int64_t durable;
	int rc;

	if (from < 1)
		return -EINVAL;
	pthread_mutex_lock(&log->files_lock);
	pthread_mutex_lock(&log->lock);
	while (log->qlen || log->writing) /* the writers are busy */
		pthread_cond_wait(&log->idle, &log->lock);
	rc = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
	if (rc)
		goto out;
	/* The writers are idle: everything handed over is on disk or was dropped. */
	assert(!log->qlen && !log->writing);
	durable = __atomic_load_n(&log->durable, __ATOMIC_ACQUIRE);
	batch_cut(log->cur, from);
	if (from <= durable) {
		/*
		 * Finished files waiting for their cut first: the file that
		 * holds the new end may become the writer's again, and a cut
		 * to its old length after new records went in would lose them.
		 */
		while (log->ntrim)
			pthread_cond_wait(&log->spare_wake, &log->lock);
		rc = truncate_disk(log, from);
		if (rc) {
			/* The disk holds some prefix of the old log: unknown, sticky. */
			__atomic_store_n(&log->err, rc, __ATOMIC_RELEASE);
			goto out;
		}
		__atomic_store_n(&log->durable, from - 1, __ATOMIC_RELEASE);
		durable = from - 1;
	}
	if (log->last_zxid >= from) {
		bool in_batch = log->cur->nrec;

		log->last_zxid = in_batch ? log->cur->last_zxid : durable;
		log->last_term = in_batch ? log->cur->last_term : log->durable_term;
		log->last_txzxid = in_batch ? log->cur->last_txzxid : log->durable_txzxid;
	}
	assert(log->last_zxid < from && durable < from);
	assert(!log->cur->nrec || log->cur->first_zxid > durable);
out:
	pthread_mutex_unlock(&log->lock);
	pthread_mutex_unlock(&log->files_lock);
	return rc;
}

int64_t txlog_first_zxid(struct txlog *log)
{
	int64_t *firsts = NULL, first;
	size_t n = 0;
	int rc = list_files(log, &firsts, &n, false, NULL);

	if (rc)
		return rc;
	first = n ? firsts[0] : 0;
	free(firsts);
	assert(first >= 0);
	return first;
}

int64_t txlog_durable_zxid(const struct txlog *log)
{
	return __atomic_load_n(&log->durable, __ATOMIC_ACQUIRE);
}

int txlog_error(const struct txlog *log)
{
	return __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
}

int txlog_full(const struct txlog *log)
{
	return __atomic_load_n(&log->full, __ATOMIC_ACQUIRE);
}

int txlog_discard_unwritten(struct txlog *log)
{
	int64_t durable;
	bool roll;
	int err;

	pthread_mutex_lock(&log->lock);
	while (log->qlen || log->writing) /* the writers are busy */
		pthread_cond_wait(&log->idle, &log->lock);
	err = __atomic_load_n(&log->err, __ATOMIC_ACQUIRE);
	if (err) {
		pthread_mutex_unlock(&log->lock);
		return err;
	}
	/* With the writers idle, everything handed over was written or dropped. */
	assert(!log->qlen && !log->writing);
	durable = __atomic_load_n(&log->durable, __ATOMIC_ACQUIRE);
	assert(durable <= log->last_zxid);
	roll = log->cur->roll;
	batch_reset(log->cur);
	log->cur->roll = roll; /* a requested roll still applies */
	log->last_zxid = durable;
	log->last_term = log->durable_term;
	log->last_txzxid = log->durable_txzxid;
	__atomic_store_n(&log->full, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&log->lock);
	return 0;
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

void txlog_hists(const struct txlog *log, struct hist *batch, struct hist *fsync_us)
{
	hist_read(&log->batch_hist, batch);
	hist_read(&log->fsync_us_hist, fsync_us);
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
struct replay_cb {
	txlog_replay_fn fn;	   /* (arg, zxid, payload, len) */
	txlog_replay_entry_fn efn; /* or (arg, entry) */
	void *arg;
};

static int replay_file(struct txlog *log, int64_t first, int64_t after, int64_t limit,
		       int64_t *prev, const struct replay_cb *cb, bool *done)
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
			if (cb->efn) {
				struct txlog_entry e = {rec.zxid, rec.term, rec.txzxid, rec.payload,
							rec.len};

				rc = cb->efn(cb->arg, &e);
			} else {
				rc = cb->fn(cb->arg, rec.txzxid, rec.payload, rec.len);
			}
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

static int replay(struct txlog *log, int64_t after_zxid, const struct replay_cb *cb)
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
		rc = replay_file(log, firsts[i], after_zxid, limit, &prev, cb, &done);
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

int txlog_replay(struct txlog *log, int64_t after_zxid, txlog_replay_fn fn, void *arg)
{
	struct replay_cb cb = {fn, NULL, arg};

	return replay(log, after_zxid, &cb);
}

int txlog_replay_entries(struct txlog *log, int64_t after_index, txlog_replay_entry_fn fn,
			 void *arg)
{
	struct replay_cb cb = {NULL, fn, arg};

	return replay(log, after_index, &cb);
}

int txlog_purge(struct txlog *log, int64_t keep_from_zxid)
{
	int64_t *firsts = NULL;
	char name[NAME_BUF];
	size_t n = 0;
	int rc, dfd, deleted = 0;

	pthread_mutex_lock(&log->files_lock);
	rc = list_files(log, &firsts, &n, false, NULL);
	if (rc) {
		pthread_mutex_unlock(&log->files_lock);
		return rc;
	}
	dfd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		log_error("txlog: %s: cannot open: %s", log->dir, strerror(-rc));
		pthread_mutex_unlock(&log->files_lock);
		free(firsts);
		return rc;
	}
	/* The newest file listed is never deleted: it may be the writer's. */
	for (size_t i = 0; i + 1 < n && firsts[i + 1] <= keep_from_zxid; i++) {
		log_name(name, firsts[i]);
		/* ENOENT: a suffix truncation (a snapshot install) deleted it meanwhile. */
		if (unlinkat(dfd, name, 0) < 0) {
			if (errno == ENOENT)
				continue;
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
	pthread_mutex_unlock(&log->files_lock);
	free(firsts);
	return rc ? rc : deleted;
}
