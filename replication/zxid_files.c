/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Walking a directory of zxid-named files.  Used by the transaction log
 * (log.<first zxid>, leftover .tmp files) and the snapshot directory
 * (snapshot.<zxid>, leftover .tmp files).  Names are fixed-width lowercase
 * hex so that they also sort by name, as ZooKeeper's do not.
 */
#include "zxid_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

bool zxid_name_parse(const char *name, const char *prefix, const char *suffix, int64_t *zxid)
{
	size_t pl = strlen(prefix), n = strlen(name);
	uint64_t v = 0;

	if (n != pl + 16 + strlen(suffix) || strncmp(name, prefix, pl) != 0 ||
	    strcmp(name + pl + 16, suffix) != 0)
		return false;
	for (size_t i = pl; i < pl + 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	if (v > INT64_MAX)
		return false;
	*zxid = (int64_t)v;
	return true;
}

int zxid_files_scan(int dirfd, const char *dir, const char *prefix, const char *suffix,
		    int (*fn)(void *arg, int dirfd, const char *name, int64_t zxid), void *arg)
{
	/*
	 * A new open file description, not a dup(): a dup shares dirfd's
	 * directory offset, so two threads listing at once moved each
	 * other's rewind and getdents, and one of them saw no names, or
	 * some twice (callers list from any thread: purge, replay).
	 */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int64_t zxid;
	int rc = 0;

	if (!d) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		log_error("%s: cannot list the directory: %s", dir, strerror(-rc));
		return rc;
	}
	while ((errno = 0, e = readdir(d))) {
		if (zxid_name_parse(e->d_name, prefix, suffix, &zxid) &&
		    (rc = fn(arg, dirfd, e->d_name, zxid)) != 0)
			break;
	}
	if (!rc && errno) {
		rc = -errno;
		log_error("%s: readdir: %s", dir, strerror(-rc));
	}
	closedir(d);
	return rc;
}

struct zxid_vec {
	int64_t *v;
	size_t n, cap;
};

static int collect(void *arg, int dirfd, const char *name, int64_t zxid)
{
	struct zxid_vec *z = arg;

	(void)dirfd;
	(void)name;
	if (z->n == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 16;
		int64_t *v = realloc(z->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		z->v = v;
		z->cap = cap;
	}
	z->v[z->n++] = zxid;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int zxid_files_list(int dirfd, const char *dir, const char *prefix, int64_t **out, size_t *n)
{
	struct zxid_vec z = { NULL, 0, 0 };
	int rc = zxid_files_scan(dirfd, dir, prefix, "", collect, &z);

	if (rc) {
		if (rc == -ENOMEM)
			log_error("%s: out of memory listing the directory", dir);
		free(z.v);
		return rc;
	}
	if (z.n > 1)
		qsort(z.v, z.n, sizeof(*z.v), cmp_i64);
	*out = z.v;
	*n = z.n;
	return 0;
}
