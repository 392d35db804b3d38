/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cheetah import: which ZooKeeper files, in which order, as ZooKeeper's
 * own restore picks them (FileTxnSnapLog.restore, FileSnap.deserialize
 * and findNValidSnapshots, FileTxnLog.getLogFiles and FileTxnIterator):
 *
 *  - the snapshot directory is dataDir/version-2 (or the directory given,
 *    when it holds the files itself); names are snapshot.<hex zxid>[.ext],
 *    the zxid parsed from the second dot-separated part, as
 *    Util.getZxidFromName does;
 *  - snapshots are tried newest first; one whose last 5 bytes are not the
 *    seal's "/" (an interrupted write) is skipped, as isValidSnapshot
 *    does.  ZooKeeper also falls back to an older snapshot when the
 *    newest fails to deserialize; an importer must not silently lose
 *    data, so here that is an error naming the file and offset;
 *  - the log files are those from the newest one starting at or below
 *    the snapshot's zxid on, ascending; their records with a zxid at or
 *    below the snapshot's are skipped, the rest replayed through
 *    tree_apply (the same fuzzy-snapshot convergence as DataTree's);
 *  - no snapshot: -ENOENT, also when logs exist (ZooKeeper refuses that
 *    too, unless told to trust an empty snapshot).
 *
 * Digests (3.6+): once replay reaches the snapshot digest's zxid the
 * tree's digest must equal it, and from then on each record's TxnDigest
 * must equal the tree's after applying it (DataTree.compareDigest).
 * ZooKeeper only logs a mismatch; so do we, and count them.
 *
 * Files are read whole into memory (mmap): a snapshot must fit in the
 * address space anyway, and log files are 64 MiB by default.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/log.h"
#include "migrate.h"
#include "migrate_priv.h"

struct zfile {
	int64_t zxid;
	char name[256];
};

static int zfile_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct zfile *)a)->zxid, y = ((const struct zfile *)b)->zxid;

	return x < y ? -1 : x > y;
}

/* Util.getZxidFromName: "<prefix>.<hex>[.anything]"; -1 when it does not parse. */
static int64_t zxid_from_name(const char *name, const char *prefix)
{
	size_t pl = strlen(prefix);
	char hex[32];
	size_t n = 0;
	char *end;

	if (strncmp(name, prefix, pl) || name[pl] != '.')
		return -1;
	name += pl + 1;
	while (name[n] && name[n] != '.' && n < sizeof(hex) - 1) {
		hex[n] = name[n];
		n++;
	}
	if (n == 0 || (name[n] && name[n] != '.'))
		return -1;
	hex[n] = 0;
	errno = 0;
	long long v = strtoll(hex, &end, 16);
	if (errno || *end)
		return -1;
	return (int64_t)v;
}

/* The files of dir named <prefix>.<hex>..., ascending by zxid. */
static int list_files(const char *dir, const char *prefix, struct zfile **out, size_t *n,
		      struct mig_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct zfile *v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d) {
		int rc = -errno;
		mig_seterr(err, "%s: cannot open: %s", dir, strerror(-rc));
		return rc;
	}
	while ((e = readdir(d))) {
		int64_t z = zxid_from_name(e->d_name, prefix);

		if (z < 0 || strlen(e->d_name) >= sizeof(v->name))
			continue;
		if (*n == cap) {
			struct zfile *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));
			if (!nv) {
				closedir(d);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		v[*n].zxid = z;
		snprintf(v[*n].name, sizeof(v[*n].name), "%s", e->d_name);
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), zfile_cmp);
	*out = v;
	return 0;
}

/* dir/version-2 when it exists, else dir. */
static void pick_dir(const char *dir, char *out, size_t len)
{
	struct stat sb;

	mig_fmt(out, len, "%s/version-2", dir);
	if (stat(out, &sb) < 0 || !S_ISDIR(sb.st_mode))
		mig_fmt(out, len, "%s", dir);
}

struct image {
	uint8_t *p;
	size_t len;
	bool mapped;
};

static void image_free(struct image *im)
{
	if (im->mapped && im->len)
		munmap(im->p, im->len);
	else if (!im->mapped)
		free(im->p);
	*im = (struct image){0};
}

static int map_file(const char *path, struct image *im, struct mig_error *err)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	*im = (struct image){NULL, 0, true};
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = -errno;
		mig_seterr(err, "%s: cannot read: %s", path, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (sb.st_size > 0) {
		void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			rc = -errno;
			mig_seterr(err, "%s: cannot map: %s", path, strerror(-rc));
		} else {
			im->p = p;
			im->len = (size_t)sb.st_size;
		}
	}
	close(fd);
	return rc;
}

/* SnapStream's GZIP mode: the checked stream is the inflated bytes. */
static int inflate_gz(const char *path, const struct image *in, struct image *out,
		      struct mig_error *err)
{
	z_stream zs = {0};
	size_t cap = in->len * 4 + 4096;
	uint8_t *buf = malloc(cap);
	int zrc;

	if (!buf || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	zs.next_in = in->p;
	zs.avail_in = (uInt)(in->len > UINT32_MAX ? UINT32_MAX : in->len);
	do {
		if (zs.total_out == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				inflateEnd(&zs);
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		zs.next_out = buf + zs.total_out;
		zs.avail_out =
		    (uInt)((cap - zs.total_out) > UINT32_MAX ? UINT32_MAX : cap - zs.total_out);
		zrc = inflate(&zs, Z_NO_FLUSH);
	} while (zrc == Z_OK);
	if (zrc != Z_STREAM_END) {
		mig_seterr(err,
			   "%s: offset %lu (compressed): gzip stream damaged or cut short (%s)",
			   path, zs.total_in, zs.msg ? zs.msg : "truncated");
		inflateEnd(&zs);
		free(buf);
		return -EBADMSG;
	}
	*out = (struct image){buf, zs.total_out, false};
	inflateEnd(&zs);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* SnapStream.isValidSnapshot for a checked stream: ends with int 1, '/'. */
static bool tail_complete(const struct image *im)
{
	static const uint8_t seal_tail[5] = {0, 0, 0, 1, '/'};

	return im->len >= 10 && !memcmp(im->p + im->len - 5, seal_tail, 5);
}

struct replay {
	struct tree *t;
	const char *file;
	uint32_t max_data;
	int64_t snap_zxid;
	int64_t highest;
	bool fuzzy; /* the snapshot digest's zxid not reached yet */
	int64_t digest_zxid;
	int64_t snap_digest;
	struct tree_apply_out out;
	struct mig_import_stats *st;
	struct mig_error *err;
};

static void check_digest(struct replay *rp, int64_t zxid, int64_t want, const char *what)
{
	uint64_t have = tree_digest(rp->t);

	rp->st->digests_checked++;
	if (have == (uint64_t)want)
		return;
	if (!rp->st->digest_mismatches++)
		rp->st->first_mismatch_zxid = zxid;
	log_warn("import: %s: digest mismatch at zxid 0x%" PRIx64 " (%s): ZooKeeper's 0x%016" PRIx64
		 ", the imported tree's 0x%016" PRIx64,
		 rp->file, (uint64_t)zxid, what, (uint64_t)want, have);
}

static int replay_one(void *arg, const struct mig_log_rec *rec)
{
	struct replay *rp = arg;
	struct tree_txn txn;
	bool has_digest;
	int64_t digest = 0;
	int rc =
	    mig_zk_txn_decode(rp->file, rec, rp->max_data, &txn, &has_digest, &digest, rp->err);

	if (rc)
		return rc;
	if (txn.zxid <= rp->snap_zxid) {
		tree_txn_release(&txn);
		return 0; /* in the snapshot already (FileTxnIterator skips it) */
	}
	if (txn.zxid < rp->highest)
		log_warn("import: %s: offset %" PRIu64 ": zxid 0x%" PRIx64 " after 0x%" PRIx64
			 " (replayed anyway, as ZooKeeper does)",
			 rp->file, rec->off, (uint64_t)txn.zxid, (uint64_t)rp->highest);
	else
		rp->highest = txn.zxid;
	rc = tree_apply(rp->t, &txn, &rp->out);
	if (rc == -EINVAL)
		mig_seterr(rp->err,
			   "%s: offset %" PRIu64 ": zxid 0x%" PRIx64 ": txn type %d does not apply",
			   rp->file, rec->off, (uint64_t)txn.zxid, txn.type);
	if (!rc) {
		int slot = txn.type + 16;
		if (slot >= 0 && slot < MIG_TYPE_SLOTS)
			rp->st->by_type[slot]++;
		rp->st->txns++;
		if (rp->fuzzy && txn.zxid == rp->digest_zxid) {
			check_digest(rp, txn.zxid, rp->snap_digest, "the snapshot's digest");
			rp->fuzzy = false;
		} else if (!rp->fuzzy && has_digest) {
			check_digest(rp, txn.zxid, digest, "the record's TxnDigest");
		}
	}
	tree_txn_release(&txn);
	/* Views of the applied txn's events are not used: let frees proceed. */
	tree_reclaim_flush(rp->t);
	return rc;
}

static int load_snapshot(const char *path, const char *name, const struct tree_opts *topts,
			 struct tree **out, struct mig_snap_info *info, struct mig_error *err)
{
	struct image raw, gz = {0};
	const struct image *im = &raw;
	struct tree *t;
	int rc = map_file(path, &raw, err);

	if (rc)
		return rc;
	if (ends_with(name, ".gz")) {
		rc = inflate_gz(path, &raw, &gz, err);
		if (rc) {
			image_free(&raw);
			return rc;
		}
		im = &gz;
	}
	t = tree_new(topts);
	if (!t) {
		rc = -ENOMEM;
	} else {
		rc = mig_zk_snap_read(path, im->p, im->len, t, info, err);
		if (rc) {
			tree_free(t);
			t = NULL;
		}
	}
	image_free(&gz);
	image_free(&raw);
	*out = t;
	return rc;
}

int mig_zk_import(const struct mig_import_opts *opts, struct tree **out,
		  struct mig_import_stats *st, struct mig_error *err)
{
	char snapdir[PATH_MAX], logdir[PATH_MAX], path[PATH_MAX + 300];
	struct zfile *snaps = NULL, *logs = NULL;
	size_t nsnaps = 0, nlogs = 0, pick = SIZE_MAX;
	struct tree *t = NULL;
	struct replay rp = {0};
	int rc;

	assert(opts && opts->data_dir && out && st && err);
	assert(opts->topts.max_data > 0);
	memset(st, 0, sizeof(*st));
	err->msg[0] = 0;
	pick_dir(opts->data_dir, snapdir, sizeof(snapdir));
	pick_dir(opts->log_dir ? opts->log_dir : opts->data_dir, logdir, sizeof(logdir));
	if ((rc = list_files(snapdir, "snapshot", &snaps, &nsnaps, err)) ||
	    (rc = list_files(logdir, "log", &logs, &nlogs, err)))
		goto out;
	for (size_t i = nsnaps; i-- > 0;) {
		struct image im;

		mig_fmt(path, sizeof(path), "%s/%s", snapdir, snaps[i].name);
		if (ends_with(snaps[i].name, ".snappy")) {
			mig_seterr(err,
				   "%s: snappy-compressed snapshots are not supported: start "
				   "ZooKeeper with zookeeper.snapshot.compression.method unset "
				   "(or gz) and let it write a new snapshot",
				   path);
			rc = -EBADMSG;
			goto out;
		}
		if (ends_with(snaps[i].name, ".gz")) {
			pick = i; /* SnapStream checks only the gzip magic: the inflate does the
				     rest */
			break;
		}
		if (map_file(path, &im, err))
			continue;
		bool ok = tail_complete(&im);
		image_free(&im);
		if (ok) {
			pick = i;
			break;
		}
		log_warn("import: %s: incomplete (no checksum seal at its end): skipped, as "
			 "ZooKeeper skips it",
			 path);
	}
	if (pick == SIZE_MAX) {
		mig_seterr(err, "%s: no complete ZooKeeper snapshot (snapshot.<zxid>)%s", snapdir,
			   nlogs ? "; ZooKeeper itself refuses logs without a snapshot" : "");
		rc = -ENOENT;
		goto out;
	}
	mig_fmt(path, sizeof(path), "%s/%s", snapdir, snaps[pick].name);
	mig_fmt(st->snapshot, sizeof(st->snapshot), "%s", path);
	st->snap_zxid = snaps[pick].zxid;
	rc = load_snapshot(path, snaps[pick].name, &opts->topts, &t, &st->snap, err);
	if (rc)
		goto out;
	tree_import_finish(t, st->snap_zxid);

	rp.t = t;
	rp.max_data = opts->topts.max_data;
	rp.snap_zxid = st->snap_zxid;
	rp.highest = st->snap_zxid;
	rp.st = st;
	rp.err = err;
	/*
	 * FileSnap.deserialize: a snapshot digest (zxid > 0, not older than
	 * the snapshot) is compared once replay reaches its zxid, each
	 * record's TxnDigest after that; without one, every record's
	 * (DataTree.compareDigest: digestFromLoadedSnapshot is null).
	 */
	rp.file = path;
	if (st->snap.has_digest && st->snap.digest_zxid > 0 &&
	    st->snap.digest_zxid >= st->snap_zxid) {
		rp.digest_zxid = st->snap.digest_zxid;
		rp.snap_digest = st->snap.digest;
		rp.fuzzy = true;
		if (rp.digest_zxid == st->snap_zxid) {
			check_digest(&rp, st->snap_zxid, rp.snap_digest, "the snapshot's digest");
			rp.fuzzy = false;
		}
	}
	if (nlogs == 0)
		log_warn("import: %s: no log files (log.<zxid>): the snapshot alone is imported; "
			 "if ZooKeeper had its own dataLogDir, give it as the second directory",
			 logdir);
	/* FileTxnLog.getLogFiles(snapZxid). */
	int64_t log_zxid = 0;
	for (size_t i = 0; i < nlogs && logs[i].zxid <= st->snap_zxid; i++)
		log_zxid = logs[i].zxid > log_zxid ? logs[i].zxid : log_zxid;
	for (size_t i = 0; i < nlogs; i++) {
		struct image im;

		if (logs[i].zxid < log_zxid)
			continue;
		mig_fmt(path, sizeof(path), "%s/%s", logdir, logs[i].name);
		if ((rc = map_file(path, &im, err)))
			goto out;
		if (im.len == 0 && i == nlogs - 1) {
			image_free(&im); /* created before its header was written: ignored */
			continue;
		}
		rp.file = path;
		rc = mig_zk_log_read(path, im.p, im.len, opts->torn_tail_ok && i == nlogs - 1,
				     replay_one, &rp, err);
		image_free(&im);
		if (rc)
			goto out;
		st->logs++;
	}
	st->last_zxid = tree_last_zxid(t);
	*out = t;
	t = NULL;
out:
	tree_apply_out_release(&rp.out);
	if (t)
		tree_free(t);
	free(snaps);
	free(logs);
	return rc;
}
