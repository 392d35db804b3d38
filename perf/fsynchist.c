/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How long each fdatasync takes, as a histogram: an LD_PRELOAD module
 * that times every fdatasync of the process and, at exit, appends a
 * power-of-two histogram to the file FSYNC_HIST names (a line "pid N",
 * then "<= B us  count  cum fraction" per non-empty bucket).  A process
 * that made no fdatasync writes nothing, so it can be preloaded into a
 * whole benchmark:
 *
 *   LD_PRELOAD=build/perf/fsynchist.so FSYNC_HIST=/tmp/h.txt \
 *       perf/stages.py --pcts 10,50 --duration 6
 *
 * Why: the standalone p99 under a write-heavy mix follows the slow tail
 * of the log's group-commit fdatasyncs (docs/BENCHMARKS.md), which the
 * server's averages hide.  The snapshot and the spare file's syncs count
 * too (one process).  Never a test (benchmarks decide nothing).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 40

static unsigned long hist[BUCKETS];

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int fdatasync(int fd)
{
	static int (*real)(int);
	uint64_t t0, us;
	int rc, k = 0;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	t0 = now_ns();
	rc = real(fd);
	us = (now_ns() - t0) / 1000;
	while (k < BUCKETS - 1 && (1ull << k) < us)
		k++;
	__atomic_fetch_add(&hist[k], 1, __ATOMIC_RELAXED);
	return rc;
}

__attribute__((destructor)) static void fsynchist_dump(void)
{
	const char *path = getenv("FSYNC_HIST");
	unsigned long total = 0, cum = 0;
	FILE *f;

	for (int k = 0; k < BUCKETS; k++)
		total += hist[k];
	if (!path || !total)
		return;
	f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "pid %d\n", (int)getpid());
	for (int k = 0; k < BUCKETS; k++) {
		if (!hist[k])
			continue;
		cum += hist[k];
		fprintf(f, "<= %llu us %lu cum %.4f\n", 1ull << k, hist[k], (double)cum / total);
	}
	fclose(f);
}
