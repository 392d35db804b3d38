/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transaction log of the write pipeline (internal to replication/).
 *
 * Records are opaque byte strings (tree_txn_encode output), each with a
 * zxid; zxids strictly increase across the whole log.  A record is
 * durable once it was written and fdatasync'ed; only durable records may
 * be acknowledged.  Behaviour models: ZooKeeper's FileTxnLog (file naming,
 * preallocation, forceSync, purge) and etcd's WAL (framing, CRC, torn
 * tail repair).  The file format and the recovery rule are described at
 * the top of txlog.c.
 *
 * Threads:
 *  - One caller thread (the broadcast core) owns the log: txlog_open,
 *    txlog_append, txlog_flush, txlog_roll, txlog_wait_durable and
 *    txlog_close are called from it only.
 *  - txlog owns max_inflight log-writer threads, the only threads that
 *    touch the log's file descriptors after txlog_open.  Each writes whole
 *    batches (one pwrite, one fdatasync) while the caller fills the next
 *    one; one at a time writes, up to max_inflight sync at once.
 *  - txlog_durable_zxid, txlog_error, txlog_eventfd, txlog_stats,
 *    txlog_replay and txlog_purge may be called from any thread;
 *    txlog_purge and txlog_truncate_suffix exclude each other (both
 *    delete files), so a purge may wait for a truncation and the other
 *    way round.
 *
 * Errors: 0 or a negative errno.  A disk error in the writer (-EIO, a
 * failed write or fdatasync, ...) is sticky: the writer stops, nothing
 * after the last durable zxid is ever reported durable, and every later
 * caller-side call returns the error.  The only way on is txlog_close and
 * a new txlog_open, which recovers what is on disk.
 *
 * A full disk is not sticky when nothing was written: space for records
 * is allocated (fallocate) before they are written, in preAllocSize steps
 * or, when the filesystem has less room, in smaller ones (warned once).
 * When not even the batch fits, the batch is dropped unwritten, the log
 * reports -ENOSPC (or -EDQUOT) from txlog_full, append, flush and
 * wait_durable, and the caller must txlog_discard_unwritten (drop every
 * record after the durable zxid) before it appends again; the next batch
 * tries the disk again.
 */
#ifndef CHEETAH_REPLICATION_TXLOG_H
#define CHEETAH_REPLICATION_TXLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct txlog;

/*
 * Log files live in <dataLogDir>/TXLOG_SUBDIR.  Not ZooKeeper's
 * "version-2": the files are not ZooKeeper's format, and ZooKeeper's
 * tools (or a ZooKeeper pointed at the directory) must not mistake them
 * for its own.  The number is the directory layout's version.
 */
#define TXLOG_SUBDIR "cheetah-1"

/* ---- On-disk format (big-endian; see txlog.c for the rules) ---- */

#define TXLOG_MAGIC "CHLG"
#define TXLOG_VERSION 3u    /* written by this release */
#define TXLOG_VERSION_V2 2u /* still read: data dirs of earlier releases */
#define TXLOG_VERSION_V1 1u /* still read */
/*
 * File header, TXLOG_HDR_SIZE bytes:
 *   0  char[4] magic "CHLG"       4  u32 format version (3, 2 or 1)
 *   8  u64 database id            16 i64 first index (= the file's name)
 *   24 i64 creation time, ms      32 u32 checksum of bytes 0..31: v3, v2
 *   36 u32 zero                          crc32c, v1 zlib's crc32
 */
#define TXLOG_HDR_SIZE 40u
/*
 * Record (one log entry), starting at an 8-byte aligned offset, v3:
 *   0  u32 length: payload bytes in the low 31 bits; bit 31 is set on the
 *      last record of each write batch
 *   4  u32 crc32c (common/crc32c.h) of bytes 0..3, bytes 8..39 and the
 *      payload
 *   8  i64 index: the key; strictly increasing across the log
 *   16 u64 term: never decreasing, and at most zxid >> 32 (the zxid's
 *      epoch; recovery relies on it to pass over random bytes cheaply)
 *   24 i64 zxid: strictly increasing (a batch entry's first txn's)
 *   32 i64 mark: the durable index when the record's batch was written
 *      (the same in every record of a batch; 0 <= mark < index)
 *   40 payload, then zero padding to the next multiple of 8
 * v2 (read only): as v3 without the mark (payload at 32; crc32c of bytes
 * 0..3, 8..31 and the payload).
 * v1 (read only): 0 length, 4 zlib crc32 of bytes 0..3, 8..15 and the
 * payload, 8 i64 zxid, 16 payload; read as index = zxid, term = zxid >> 32.
 * A record header of zero bytes, or the end of the file, ends the log.
 * The standalone server writes one txn per entry with index = zxid, so
 * "zxid" in this API below is the index, equal to the zxid there.
 */
#define TXLOG_REC_HDR_SIZE 40u
#define TXLOG_REC_HDR_SIZE_V2 32u
#define TXLOG_REC_HDR_SIZE_V1 16u
#define TXLOG_REC_BATCH_END 0x80000000u
#define TXLOG_REC_LEN_MASK 0x7fffffffu

/* ---- Options ---- */

#define TXLOG_DEFAULT_PREALLOC (64ull << 20)	/* zoo.cfg preAllocSize (64 MiB) */
#define TXLOG_DEFAULT_FILE_LIMIT (256ull << 20) /* roll after this many bytes */
#define TXLOG_DEFAULT_MAX_RECORD (16u << 20)
#define TXLOG_DEFAULT_MAX_BATCH (8u << 20) /* backpressure; bounds commit latency */
#define TXLOG_DEFAULT_INFLIGHT 1u	   /* batches written and not yet durable */
#define TXLOG_MAX_INFLIGHT 4u

/* Zero-initialise, set dir, override what you need: 0 means the default. */
struct txlog_opts {
	/* dataLogDir; the log lives in dir/TXLOG_SUBDIR, created if missing. */
	const char *dir;
	/*
	 * Files are preallocated and grown in steps of this many bytes
	 * (zoo.cfg preAllocSize, which ZooKeeper gives in KiB).
	 */
	uint64_t prealloc;
	/* A new file is started once the current one holds this many bytes. */
	uint64_t file_limit;
	/* Largest record accepted by txlog_append and by recovery (< 2^31). */
	uint32_t max_record;
	/* txlog_append returns -EAGAIN once the batch being filled holds this much. */
	uint32_t max_batch;
	/*
	 * Pipelined group commit: at most this many batches handed to the
	 * writers and not yet durable (1..TXLOG_MAX_INFLIGHT; 1 is the
	 * unpipelined log: the next batch is written only after the
	 * previous one's fdatasync returned).  Durability is published in
	 * order whatever order the fdatasyncs return in.
	 */
	uint32_t max_inflight;
	/*
	 * zookeeper.forceSync=no: do not fdatasync batches; "durable" then
	 * means written to the page cache (survives kill -9, not power loss;
	 * after a power loss txlog_open may also refuse the damaged tail).
	 * New files and rolled files are still synced, and close syncs.
	 * Inverted so that a zeroed struct is the safe setting.
	 */
	bool no_sync;
	/*
	 * Operator's explicit decision after txlog_open refused a damaged
	 * newest file: truncate it at the first bad record even though valid
	 * records follow (ZooKeeper's TxnLogToolkit --recover).  Records
	 * after that point are lost.  Never set by default.
	 */
	bool repair;
	/*
	 * For tests: no spare file prepared ahead (txlog.c, "The next file,
	 * ready"); every file is created when needed, as before it existed.
	 * Finished files are still cut to their records.
	 */
	bool no_spare;
};

/* ---- Lifecycle (caller thread) ---- */

/*
 * Opens the log in opts->dir (creating TXLOG_SUBDIR), recovers it and
 * starts the writer threads.  Recovery reads every file in zxid order and
 * checks headers, lengths, CRCs and zxid order.  A torn tail of the newest
 * file is logged and truncated (zeroed), also when valid records follow
 * the damage that were all written before the damaged batch was durable
 * (their durable marks say so: txlog.c, "Why this rule"); damage anywhere
 * else fails with -EBADMSG and a log line naming the file and offset.  Afterwards
 * txlog_durable_zxid() is the last zxid on disk (0 for an empty log).
 * Returns 0, -EBADMSG, -EMSGSIZE (a complete record above max_record:
 * the limit was lowered), -EINVAL (bad options), -ENOMEM or the errno of
 * a failed system call.  *out is set only on success.
 */
int txlog_open(const struct txlog_opts *opts, struct txlog **out);

/*
 * Writes out everything appended (waiting for the disk as long as it
 * takes), stops the writer threads, closes the files and frees the log.
 * It does not wait for a writer that waits for room or descriptors (the
 * spare's rename, the first file after open): that writer stops with its
 * error (-ENOSPC, -EDQUOT, -EMFILE, -ENFILE).  Returns 0, or the sticky
 * error when some records could not be made durable.  NULL is a no-op.
 */
int txlog_close(struct txlog *log);

/* ---- Writing (caller thread) ---- */

/* One log entry: the unit a consensus core persists (raft.h's entry). */
struct txlog_entry {
	int64_t index; /* > 0, strictly increasing */
	uint64_t term; /* never decreasing; <= zxid >> 32 (the zxid's epoch) */
	int64_t zxid;  /* > 0, strictly increasing */
	const void *data;
	size_t len; /* 1..max_record */
	/*
	 * Appending only: an optional prefix, so a caller with a header of
	 * its own need not copy the record together first.  The record is
	 * head[0..head_len) then data[0..len); its length, head_len + len,
	 * is 1..max_record (data may then be NULL when len is 0).  Entries
	 * read back (txlog_open's callbacks) have head_len 0.
	 */
	const void *head;
	size_t head_len;
};

/*
 * As txlog_append, for an entry: index, term and zxid are checked
 * against the last entry appended or recovered, and the term against the
 * zxid's epoch (term > zxid >> 32 is refused: recovery's scan of a
 * damaged region passes over such headers without a CRC); -EINVAL, logged.
 */
int txlog_append_entry(struct txlog *log, const struct txlog_entry *e);

/* The last entry appended or recovered (index 0, term 0 when none). */
void txlog_last(const struct txlog *log, int64_t *index, uint64_t *term);

/*
 * Copies one record into the batch being filled; never blocks on I/O.
 * An entry with index = zxid and term = zxid >> 32 (the standalone
 * server's; zxid = term << 32 | counter).
 * zxid must be greater than every zxid appended or recovered before, and
 * 1 <= len <= max_record.  Returns 0, -EINVAL (order or length), -EAGAIN
 * (the batch reached max_batch: stop taking writes until the eventfd
 * fires and txlog_flush hands the batch over), -ENOMEM, or the sticky
 * error.  The record is durable once txlog_durable_zxid() >= zxid.
 */
int txlog_append(struct txlog *log, int64_t zxid, const void *rec, size_t len);

/*
 * Hands the batch being filled to the writers if fewer than max_inflight
 * batches are handed over and not yet durable.  Call it every loop
 * iteration (and when the eventfd fires).  Returns 0 (handed over, or
 * nothing to hand over), -EAGAIN (max_inflight batches in flight; the
 * batch keeps filling) or the sticky error.
 */
int txlog_flush(struct txlog *log);

/*
 * Starts a new file with the batch being filled (records appended but not
 * yet handed to the writer go to the new file).  ZooKeeper rolls after a
 * snapshot; the file is created lazily, named after its first record.
 * Returns 0 or the sticky error.
 */
int txlog_roll(struct txlog *log);

/*
 * For tests: waits until the spare file helper has nothing queued (every
 * finished file cut to its records) and is not preparing a spare.
 * Returns 0 (a spare is ready for the next file), -EAGAIN (none: not
 * asked for, or it could not be made) or -ETIMEDOUT.  Any thread.
 */
int txlog_spare_wait(struct txlog *log, int timeout_ms);

/*
 * Flushes as needed and waits until zxid is durable, at most timeout_ms
 * (negative: no limit).  For tests and shutdown; the broadcast core polls
 * the eventfd instead.  Returns 0, -ETIMEDOUT, -EINVAL (zxid was never
 * appended) or the sticky error.
 */
int txlog_wait_durable(struct txlog *log, int64_t zxid, int timeout_ms);

/*
 * Durably discards every record with zxid >= from, appended or on disk
 * (Raft's log truncation, from a follower's conflicting suffix on).
 * Newer files are deleted newest first (each deletion synced), the file
 * holding `from` is cut there with ftruncate and fdatasync'ed: a crash
 * in between leaves a prefix of the old log, never a hole, and bytes past
 * the new end are zeros when the file grows again.  Afterwards
 * txlog_durable_zxid() and the last appended zxid are below from, and
 * appends go on after them (the same zxids may be appended again).
 * Waits for the writers to finish the batches in flight, also while one
 * is stalled (waiting for room to rename a new file, or for descriptors;
 * txlog.c): until it can go on, as txlog_wait_durable would.  from < 1 is
 * -EINVAL.  Returns 0, or a negative errno; a failure on disk is sticky
 * (the log is a prefix of the old one, re-read by the next txlog_open).
 * Caller thread.
 */
int txlog_truncate_suffix(struct txlog *log, int64_t from);

/* ---- Any thread ---- */

/*
 * Highest durable zxid (acquire load; monotonic, except that
 * txlog_truncate_suffix lowers it).
 */
int64_t txlog_durable_zxid(const struct txlog *log);

/*
 * The first zxid the log holds: the oldest file's first record (purge
 * and truncation move it), 0 when there is no file, or a negative errno.
 * With txlog_durable_zxid and txlog_replay (records after a zxid, stopped
 * by fn) this is the stable-storage read side a consensus core needs.
 * Any thread (it lists the directory).
 */
int64_t txlog_first_zxid(struct txlog *log);

/* The sticky writer error, or 0. */
int txlog_error(const struct txlog *log);

/*
 * -ENOSPC or -EDQUOT when the last batch found no room on the disk and
 * was dropped unwritten (not sticky), else 0.  Any thread.
 */
int txlog_full(const struct txlog *log);

/*
 * Caller thread: drops every record appended after the durable zxid that
 * is not on disk (after txlog_full, the dropped batch and the one being
 * filled), clears the full state and lets appends go on after the durable
 * zxid (zxids above it may be appended again).  Waits for the writer to
 * finish a batch in progress first.  Returns 0 or the sticky error.
 */
int txlog_discard_unwritten(struct txlog *log);

/*
 * An eventfd (non-blocking) that becomes readable whenever a batch leaves
 * the pipeline (the durable zxid moved, the batch was dropped, or an error
 * was recorded), so that another one may be handed over.  The caller read()s it to clear it, then calls
 * txlog_flush.  Owned by the log; closed by txlog_close.
 */
int txlog_eventfd(const struct txlog *log);

/*
 * Calls fn for every durable record with zxid > after_zxid, in zxid order
 * across files; rec is valid during the call only.  Records are read back
 * from disk with their own file descriptors and checked again; records
 * made durable after the call started are not included.  A non-zero
 * return from fn stops the replay and is returned.  Returns 0, the fn
 * value, -EBADMSG (damaged record, logged), -ENOENT (a file was purged
 * under the replay) or another negative errno.  Records in files removed
 * by txlog_purge are simply absent: zxids have gaps at epoch changes, so
 * only the caller (who knows its snapshot's zxid) can tell a purged range
 * from a gap, by the first zxid it is given.
 */
typedef int (*txlog_replay_fn)(void *arg, int64_t zxid, const void *rec, size_t len);
int txlog_replay(struct txlog *log, int64_t after_zxid, txlog_replay_fn fn, void *arg);

/*
 * As txlog_replay, by index, with each entry's term and zxid (e and its
 * data valid during the call only): entries with index > after_index up
 * to the durable one, in order; fn returns non-zero to stop early (the
 * read of an index range).  Any thread.
 */
typedef int (*txlog_replay_entry_fn)(void *arg, const struct txlog_entry *e);
int txlog_replay_entries(struct txlog *log, int64_t after_index, txlog_replay_entry_fn fn,
			 void *arg);

/*
 * Deletes whole files that hold only records with zxid < keep_from_zxid
 * (ZooKeeper's PurgeTxnLog: a file goes when its successor starts at or
 * below keep_from_zxid).  The newest file is never deleted.  Returns the
 * number of files deleted or a negative errno.
 */
int txlog_purge(struct txlog *log, int64_t keep_from_zxid);

#define TXLOG_HIST_BUCKETS 20

struct txlog_stats {
	uint64_t batches;     /* batches written */
	uint64_t records;     /* records written */
	uint64_t bytes;	      /* bytes written (framing and padding included) */
	uint64_t syncs;	      /* fdatasync calls for batches */
	uint64_t sync_ns_sum; /* time spent in those */
	uint64_t sync_ns_max;
	uint64_t files; /* files created */
	uint64_t files_spare; /* of them, made from the prepared spare */
	/*
	 * Naps (a writer waiting for room to rename the spare, or for
	 * descriptors) woken before their deadline with the log not
	 * stopping: wake-ups for nothing, 0 but for a spurious one.
	 */
	uint64_t nap_wakeups;
	/*
	 * Histograms: bucket i counts values in [2^i, 2^(i+1)); bucket 0
	 * also counts 0 and the last bucket everything above.
	 */
	uint64_t batch_records[TXLOG_HIST_BUCKETS]; /* records per batch */
	uint64_t sync_us[TXLOG_HIST_BUCKETS];	    /* fdatasync latency, us */
};

/*
 * For tests: how many candidate records txlog_open's scan of damaged
 * regions has checked with a full CRC in this process (txlog.c,
 * scan_tail).  Any thread.
 */
uint64_t txlog_scan_crc_checks(void);

/* A consistent copy of the writer's counters. */
void txlog_stats(struct txlog *log, struct txlog_stats *out);

/*
 * mntr's summaries, as ZooKeeper's AvgMinMaxCounter keeps them: number of
 * data points, their sum, min and max (min and max 0 when cnt is 0).
 */
struct txlog_summary {
	uint64_t cnt;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
};

/*
 * The writer's summaries since open or the last txlog_summaries_reset:
 *   batch_size  records per batch written (ZooKeeper's
 *               sync_processor_batch_size: requests per
 *               SyncRequestProcessor flush), whether synced or not;
 *   fsync_ms    duration of each batch's fdatasync in whole milliseconds,
 *               truncated (ZooKeeper's fsynctime: FileTxnLog.commit's
 *               force(), only with forceSync); none with no_sync.
 * The publishing writer (under the log's mutex) is their only writer and
 * stores them with relaxed atomics, so this never waits for it; a read racing a batch may mix
 * that batch into some fields only (as ZooKeeper's own counters).
 * Any thread.
 */
void txlog_summaries(const struct txlog *log, struct txlog_summary *batch_size,
		     struct txlog_summary *fsync_ms);

/*
 * The same data points since open, never reset, as histograms (hist.h
 * copies): records per batch, and each batch's fdatasync in
 * microseconds.  Any thread; never blocks.
 */
struct hist;
void txlog_hists(const struct txlog *log, struct hist *batch, struct hist *fsync_us);

/*
 * Zeroes both summaries (srst).  Any thread, never blocks: it posts a
 * request the writer honours before it counts its next batch;
 * txlog_summaries reports zeros from the call on.
 */
void txlog_summaries_reset(struct txlog *log);

#endif
