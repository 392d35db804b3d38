/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hard state file (Raft's currentTerm and votedFor; etcd's HardState
 * minus the commit index, which the log and the quorum re-establish).
 *
 * Why a file of its own and not records in the log: the log is appended
 * in group-commit batches by its writer thread and truncated at term
 * changes, while a vote must be durable before it is answered, often with
 * no entry to append, and must survive the truncation of the entries it
 * came with.  A 32-byte file replaced by rename costs two fsyncs per term
 * change or vote, which happen at elections only.
 *
 * Atomic replace: write hardstate.tmp whole, fsync it, rename it over
 * hardstate (atomic on POSIX filesystems), fsync the directory.  A crash
 * before the rename leaves the old file (the new state was never
 * reported saved); after it, the new one.  A torn hardstate.tmp is
 * ignored and deleted at open.  hardstate itself can then be damaged only
 * by the disk, and a server that lost its vote could vote twice in a
 * term: open refuses it with a clear message instead of starting fresh.
 *
 * Invariants (asserted where the state changes, -EINVAL to callers):
 * the term never decreases; within a term the vote goes from none to one
 * server and stays.
 */
#include "hardstate.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/jute.h"
#include "common/log.h"

#define TMP_NAME HARDSTATE_FILE ".tmp"

struct hardstate_file {
	int dirfd;
	struct hardstate cur; /* last opened or saved: what is on disk */
	char dir[PATH_MAX];
};

void hardstate_encode(const struct hardstate *hs, uint8_t out[HARDSTATE_SIZE])
{
	memset(out, 0, HARDSTATE_SIZE);
	memcpy(out, HARDSTATE_MAGIC, 4);
	jute_put_be32(out + 4, HARDSTATE_VERSION);
	jute_put_be64(out + 8, hs->term);
	jute_put_be64(out + 16, hs->voted_for);
	jute_put_be32(out + 28, crc32c(0, out, 28));
}

int hardstate_decode(const uint8_t *buf, size_t len, struct hardstate *out, const char **why)
{
	const char *w = NULL;

	if (len != HARDSTATE_SIZE)
		w = len < HARDSTATE_SIZE ? "file too short" : "file too long";
	else if (memcmp(buf, HARDSTATE_MAGIC, 4) != 0)
		w = "bad magic (not a Cheetah hard state file)";
	else if (jute_be32(buf + 28) != crc32c(0, buf, 28))
		w = "CRC mismatch";
	else if (jute_be32(buf + 4) != HARDSTATE_VERSION)
		w = "unknown format version (written by another Cheetah release?)";
	else if (jute_be32(buf + 24) != 0)
		w = "reserved bytes are not zero";
	if (why)
		*why = w;
	if (w)
		return -EBADMSG;
	out->term = jute_be64(buf + 8);
	out->voted_for = jute_be64(buf + 16);
	return 0;
}

/* Reads all of fd (at most cap bytes); returns the length or a negative errno. */
static ssize_t read_small(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int load(struct hardstate_file *f)
{
	uint8_t buf[HARDSTATE_SIZE + 1];
	const char *why;
	ssize_t n;
	int fd, rc;

	fd = openat(f->dirfd, HARDSTATE_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			f->cur = (struct hardstate){0, 0};
			return 0;
		}
		rc = -errno;
		log_error("hardstate: %s/%s: cannot open: %s", f->dir, HARDSTATE_FILE,
			  strerror(-rc));
		return rc;
	}
	n = read_small(fd, buf, sizeof(buf)); /* one more: a longer file is refused */
	close(fd);
	if (n < 0) {
		log_error("hardstate: %s/%s: read failed: %s", f->dir, HARDSTATE_FILE,
			  strerror((int)-n));
		return (int)n;
	}
	rc = hardstate_decode(buf, (size_t)n, &f->cur, &why);
	if (rc)
		log_error("hardstate: %s/%s: %s: the term and vote of this server are lost; "
			  "refusing to start (it could vote twice in a term).  Restore the file "
			  "from a backup, or remove this server's data and let it rejoin",
			  f->dir, HARDSTATE_FILE, why);
	return rc;
}

int hardstate_open(const char *dir, struct hardstate_file **out, struct hardstate *cur)
{
	struct hardstate_file *f;
	int rc;

	if (!dir || !out || !cur)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if ((size_t)snprintf(f->dir, sizeof(f->dir), "%s", dir) >= sizeof(f->dir)) {
		free(f);
		return -ENAMETOOLONG;
	}
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		rc = -errno;
		log_error("hardstate: %s: cannot open: %s", dir, strerror(-rc));
		free(f);
		return rc;
	}
	if (unlinkat(f->dirfd, TMP_NAME, 0) == 0)
		log_info("hardstate: %s/%s: deleted an unfinished update", dir, TMP_NAME);
	rc = load(f);
	if (rc) {
		hardstate_close(f);
		return rc;
	}
	*cur = f->cur;
	*out = f;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int hardstate_save(struct hardstate_file *f, const struct hardstate *hs)
{
	uint8_t buf[HARDSTATE_SIZE];
	const char *what;
	int fd, rc;

	if (hs->term < f->cur.term ||
	    (hs->term == f->cur.term && f->cur.voted_for && hs->voted_for != f->cur.voted_for)) {
		log_error("hardstate: %s: refusing term %llu vote %llu after term %llu vote %llu",
			  f->dir, (unsigned long long)hs->term, (unsigned long long)hs->voted_for,
			  (unsigned long long)f->cur.term, (unsigned long long)f->cur.voted_for);
		return -EINVAL;
	}
	hardstate_encode(hs, buf);
	fd = openat(f->dirfd, TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		what = "create";
		goto fail;
	}
	what = "write";
	rc = write_all(fd, buf, sizeof(buf));
	if (!rc && fsync(fd) < 0) {
		rc = -errno;
		what = "fsync";
	}
	close(fd);
	if (rc)
		goto fail;
	if (renameat(f->dirfd, TMP_NAME, f->dirfd, HARDSTATE_FILE) < 0) {
		rc = -errno;
		what = "rename";
		goto fail;
	}
	if (fsync(f->dirfd) < 0) {
		rc = -errno;
		log_error("hardstate: %s: fsync of the directory failed: %s", f->dir,
			  strerror(-rc));
		return rc;
	}
	assert(hs->term >= f->cur.term);
	f->cur = *hs;
	return 0;
fail:
	log_error("hardstate: %s/%s: cannot %s: %s", f->dir, TMP_NAME, what, strerror(-rc));
	unlinkat(f->dirfd, TMP_NAME, 0);
	return rc;
}

void hardstate_close(struct hardstate_file *f)
{
	if (!f)
		return;
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f);
}
