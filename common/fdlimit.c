/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File descriptor limit, count and error text (fdlimit.h).  The count
 * walks /proc/self/fd: exact, and cheap enough for the places that use it
 * (start-up, four-letter words); the dataplane counts its connections
 * itself on the hot path.
 */
#include "fdlimit.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

uint64_t fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return UINT64_MAX;
	return (uint64_t)rl.rlim_cur;
}

long fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
}

const char *fd_strerror(int err, char *buf, size_t len)
{
	uint64_t lim = fd_limit();
	char l[24];

	if (lim == UINT64_MAX)
		snprintf(l, sizeof(l), "unlimited");
	else
		snprintf(l, sizeof(l), "%llu", (unsigned long long)lim);
	if (err == -EMFILE)
		snprintf(buf, len,
			 "too many open files: the process's limit (RLIMIT_NOFILE, now %s) is "
			 "reached; not a disk problem",
			 l);
	else if (err == -ENFILE)
		snprintf(buf, len,
			 "too many open files in the system (fs.file-max is reached); not a disk "
			 "problem");
	else
		snprintf(buf, len, "%s", strerror(-err));
	return buf;
}
