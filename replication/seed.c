/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A standalone data directory seeded with a tree built elsewhere (cheetah
 * import): the tree becomes the directory's only snapshot, written as
 * snapdir.c's worker writes one (snapshot.<zxid>.tmp under
 * <dataDir>/SNAPDIR_SUBDIR, tree_snapshot_write, fsync, rename, fsync the
 * directory), so repl_open recovers it like any other and replays an
 * empty log after it.  A directory that holds a snapshot or a log already
 * is refused: an import never mixes with, or hides, existing data.
 * Runs offline, on the caller's thread; no worker, no log opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "repl.h"
#include "repl_priv.h"
#include "txlog.h"
#include "zxid_files.h"

/* -EEXIST when dir/sub holds files named <prefix><16 hex>; 0 when none or no directory. */
static int refuse_existing(const char *dir, const char *sub, const char *prefix)
{
	char path[PATH_MAX];
	int64_t *zx = NULL;
	size_t n = 0;
	int fd, rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, sub) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = zxid_files_list(fd, path, prefix, &zx, &n);
	close(fd);
	free(zx);
	if (!rc && n) {
		log_error("repl: %s holds %zu %s* file(s) already: seed an empty data directory",
			  path, n, prefix);
		rc = -EEXIST;
	}
	return rc;
}

int repl_seed_data_dir(const char *data_dir, const char *data_log_dir, struct tree *t,
		       int64_t *zxid_out)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 64], name[PATH_MAX + 64];
	int64_t zxid = 0;
	int fd, dfd, rc;

	if (!data_dir || !t)
		return -EINVAL;
	if (!data_log_dir)
		data_log_dir = data_dir;
	if ((rc = refuse_existing(data_dir, SNAPDIR_SUBDIR, SNAPDIR_PREFIX)) ||
	    (rc = refuse_existing(data_log_dir, TXLOG_SUBDIR, "log.")))
		return rc;
	if (snprintf(dir, sizeof(dir), "%s/%s", data_dir, SNAPDIR_SUBDIR) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	if ((rc = snapdir_mkdirs(dir)) || (rc = snapdir_mkdirs(data_log_dir)))
		return rc;
	snprintf(tmp, sizeof(tmp), "%s/" SNAPDIR_PREFIX "seed.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		log_error("repl: %s: cannot create: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = tree_snapshot_write(t, fd, &zxid);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	snprintf(name, sizeof(name), "%s/" SNAPDIR_PREFIX "%016" PRIx64, dir, (uint64_t)zxid);
	if (!rc && rename(tmp, name) < 0)
		rc = -errno;
	if (!rc) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0)
			rc = -errno;
		if (dfd >= 0)
			close(dfd);
	}
	if (rc) {
		log_error("repl: %s: cannot write the snapshot: %s", name, strerror(-rc));
		unlink(tmp);
		return rc;
	}
	log_info("repl: seeded %s (zxid 0x%" PRIx64 ", %" PRIu64 " znodes)", name, (uint64_t)zxid,
		 tree_node_count(t));
	if (zxid_out)
		*zxid_out = zxid;
	return 0;
}
