/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files named after a zxid ("log.<16 hex>", "snapshot.<16 hex>[.tmp]"):
 * the one directory walk the log and the snapshot directory share.
 * Internal to replication/; any thread, no state.
 */
#ifndef CHEETAH_REPLICATION_ZXID_FILES_H
#define CHEETAH_REPLICATION_ZXID_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses "<prefix><16 lowercase hex><suffix>" into a zxid in 0..INT64_MAX. */
bool zxid_name_parse(const char *name, const char *prefix, const char *suffix, int64_t *zxid);

/*
 * Calls fn for every entry of the open directory dirfd whose name parses
 * with prefix and suffix.  A non-zero return from fn stops the walk and is
 * returned.  Each call reads the directory through a descriptor of its own
 * (dirfd's offset is neither used nor moved), so any threads may list one
 * dirfd at once.  dir names the directory in log lines.  Returns 0, fn's value
 * or a negative errno (logged).
 */
int zxid_files_scan(int dirfd, const char *dir, const char *prefix, const char *suffix,
		    int (*fn)(void *arg, int dirfd, const char *name, int64_t zxid), void *arg);

/* The zxids of dirfd's "<prefix><16 hex>" files, ascending (*out malloc'ed). */
int zxid_files_list(int dirfd, const char *dir, const char *prefix, int64_t **out, size_t *n);

#endif
