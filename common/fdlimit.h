/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File descriptors as a resource: the process's limit, how many are open,
 * and error text that names descriptor exhaustion for what it is (a
 * "Too many open files" while creating a log file is not a disk problem,
 * and an operator told to check the disk looks in the wrong place).
 * Any thread; no state.
 */
#ifndef CHEETAH_COMMON_FDLIMIT_H
#define CHEETAH_COMMON_FDLIMIT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The soft RLIMIT_NOFILE; UINT64_MAX when unlimited or unknown. */
uint64_t fd_limit(void);

/*
 * Descriptors this process has open (entries of /proc/self/fd, its own
 * directory descriptor not counted); -errno when /proc cannot be read.
 * Costs a directory walk: for start-up and four-letter words, not for
 * every connection.
 */
long fd_count(void);

/* True for the errors that mean "out of descriptors" (EMFILE, ENFILE). */
static inline bool fd_exhausted(int err)
{
	return err == -EMFILE || err == -ENFILE;
}

/*
 * strerror(-err), except that EMFILE and ENFILE name their cause and the
 * limit: "too many open files: the process's limit (RLIMIT_NOFILE) of
 * 1024 is reached; not a disk problem".  Writes to buf (len bytes, 160
 * is enough) and returns it.
 */
const char *fd_strerror(int err, char *buf, size_t len);

#endif
