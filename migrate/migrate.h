/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Migration between Apache ZooKeeper's data directory and Cheetah's
 * (cheetah import / cheetah export).
 *
 * Import reads ZooKeeper 3.4-3.9 files (formats from ZooKeeper's own
 * FileSnap, FileTxnLog, SerializeUtils, DataTree, zookeeper.jute): the
 * newest complete snapshot, then the transaction logs from the one that
 * covers its zxid, replayed on top of the fuzzy snapshot with tree_apply,
 * choosing files as FileTxnSnapLog.restore does.  The result is a tree
 * that the caller writes into a Cheetah data directory.  Export walks a
 * tree and writes a snapshot that ZooKeeper 3.6+ loads (3.4/3.5 ignore
 * its digest trailer).
 *
 * Errors: functions return 0 or a negative errno; -EBADMSG for a damaged
 * or unsupported input, with err->msg naming the file and the byte offset
 * ("FILE: offset N: what"); I/O errors name the file too.
 *
 * Threads: every function runs on one registered, online RCU thread, the
 * only user of the tree it builds or walks.
 */
#ifndef CHEETAH_MIGRATE_MIGRATE_H
#define CHEETAH_MIGRATE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tree/tree.h"

struct mig_error {
	char msg[768];
};

/* ZooKeeper's file header magics ("ZKSN", "ZKLG") and FileHeader version. */
#define MIG_ZK_SNAP_MAGIC 0x5a4b534e
#define MIG_ZK_LOG_MAGIC 0x5a4b4c47
#define MIG_ZK_VERSION 2

/* What a snapshot held (mig_zk_snap_read). */
struct mig_snap_info {
	int64_t dbid;
	uint64_t sessions;
	uint64_t acls;
	uint64_t nodes;
	bool has_digest;     /* the 3.6+ ZxidDigest trailer */
	int64_t digest_zxid; /* 0: empty digest */
	int32_t digest_version;
	int64_t digest;
	bool has_last_zxid; /* the 3.9.3+ lastProcessedZxid trailer */
	int64_t last_zxid;
};

/*
 * Reads one uncompressed snapshot image (the whole file, len bytes) into
 * t, a fresh tree_new() tree: sessions, the ACL cache, every znode with
 * its StatPersisted, the checksum seals, the digest and lastZxid
 * trailers.  file names the input in messages.  Returns 0, -EBADMSG (bad
 * magic or version, checksum mismatch, a length beyond the file, an
 * unknown ACL id, a missing parent, trailing bytes...; err set) or
 * -ENOMEM.  On failure t holds part of the snapshot: free it.
 */
int mig_zk_snap_read(const char *file, const uint8_t *buf, size_t len, struct tree *t,
		     struct mig_snap_info *info, struct mig_error *err);

/* One record of a transaction log, as mig_zk_log_read hands it out. */
struct mig_log_rec {
	uint64_t off;	    /* the record's offset in the file (its checksum) */
	const uint8_t *txn; /* the checksummed bytes: TxnHeader, txn, digest */
	uint32_t len;
};

/*
 * Walks one log image: checks the FileHeader, then each record's length,
 * Adler-32 and end-of-record byte, and calls fn for each (a non-zero
 * return stops the walk and is returned).  The log ends at a zero length
 * (ZooKeeper preallocates with zeros) or at the end of the file.  A
 * record cut short by the end of the file is -EBADMSG, or with
 * torn_tail_ok the end of the log (ZooKeeper's own reader treats a torn
 * tail so).  Returns 0, fn's value or -EBADMSG (err set).
 */
int mig_zk_log_read(const char *file, const uint8_t *buf, size_t len, bool torn_tail_ok,
		    int (*fn)(void *arg, const struct mig_log_rec *rec), void *arg,
		    struct mig_error *err);

/*
 * Decodes one log record's bytes (TxnHeader, the txn for its type, the
 * optional TxnDigest) into txn, views into rec.  Types: create, create2,
 * createContainer, createTTL, delete, deleteContainer, setData, reconfig
 * (a setData), setACL, multi (of creates, deletes, setData, check,
 * error), createSession, closeSession (with or without CloseSessionTxn),
 * error; CreateTxnV0 of old logs too.  *digest is set when the record
 * carries a TxnDigest (has_digest).  Returns 0, -EBADMSG (err set, with
 * the record's offset) or -ENOMEM.  Release with tree_txn_release.
 */
int mig_zk_txn_decode(const char *file, const struct mig_log_rec *rec, uint32_t max_data,
		      struct tree_txn *txn, bool *has_digest, int64_t *digest,
		      struct mig_error *err);

struct mig_import_opts {
	const char *data_dir; /* ZooKeeper's dataDir (or its version-2) */
	const char *log_dir;  /* dataLogDir; NULL: data_dir */
	struct tree_opts topts;
	bool torn_tail_ok; /* accept a torn last record of the newest log */
};

#define MIG_TYPE_SLOTS 48

struct mig_import_stats {
	char snapshot[4096]; /* the snapshot used */
	int64_t snap_zxid;
	struct mig_snap_info snap;
	uint32_t logs;			  /* log files read */
	uint64_t txns;			  /* txns replayed (zxid above the snapshot's) */
	uint64_t by_type[MIG_TYPE_SLOTS]; /* per txn type: by_type[type + 16] */
	int64_t last_zxid;
	uint64_t digests_checked;
	uint64_t digest_mismatches;
	int64_t first_mismatch_zxid;
};

/*
 * Builds a tree from a ZooKeeper data directory: the newest snapshot
 * whose tail is complete (FileSnap.findNValidSnapshots; ".gz" ones are
 * inflated, ".snappy" refused), then every log record above its zxid,
 * from the newest log that starts at or below it on
 * (FileTxnLog.getLogFiles).  Refuses -ENOENT when there is no snapshot
 * (ZooKeeper refuses logs without one too), -EBADMSG for damage (err
 * names the file and offset; an older snapshot is not tried, unlike
 * ZooKeeper: move the damaged one aside to use it).  Digest mismatches
 * are counted, not fatal (ZooKeeper only logs them).  On success *out is
 * the tree (tree_last_zxid: the last zxid replayed).
 */
int mig_zk_import(const struct mig_import_opts *opts, struct tree **out,
		  struct mig_import_stats *st, struct mig_error *err);

struct mig_export_stats {
	char path[4096];
	int64_t zxid;
	uint64_t sessions, acls, nodes;
};

/*
 * Writes t as out_dir/version-2/snapshot.<last zxid in hex> in
 * ZooKeeper's format (FileHeader "ZKSN" v2 dbid -1, sessions, ACL cache,
 * nodes in pre-order, Adler-32 seal, ZxidDigest + seal), fsync'ed via a
 * temporary file and rename.  out_dir/version-2 is created; an existing
 * snapshot.* or log.* there is refused (-EEXIST).  Returns 0 or -errno
 * (err set).
 */
int mig_zk_export(struct tree *t, const char *out_dir, struct mig_export_stats *st,
		  struct mig_error *err);

#endif
