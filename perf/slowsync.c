/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A slow disk for a benchmark on a fast one: an LD_PRELOAD module whose
 * fdatasync first sleeps SLOWSYNC_US microseconds, then syncs.  It shows
 * what the pipelined group commit (replication/txlog.c,
 * cheetah.txlog.inflight) does with slow syncs on a machine whose disk is
 * fast:
 *
 *   LD_PRELOAD=build/perf/slowsync.so SLOWSYNC_US=2000 \
 *       perf/stages.py --set cheetah.txlog.inflight=2 --pcts 10,30
 *
 * The sleep adds latency only, no disk work, so it imitates a device
 * with a long flush (a remote or busy disk), not one with little
 * bandwidth.  Never a test (benchmarks decide nothing).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd)
{
	static int (*real)(int);
	static long us = -1;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (us < 0) {
		const char *e = getenv("SLOWSYNC_US");

		us = e ? atol(e) : 0;
	}
	if (us > 0) {
		struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	return real(fd);
}
