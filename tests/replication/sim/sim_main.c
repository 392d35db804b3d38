// SPDX-License-Identifier: Apache-2.0
/*
 * sim - runs the deterministic simulator over many seeds.
 *
 *   sim [--first F] [--seeds N] [--steps M]   seeds F .. F+N-1 (default 1, 300, 2000)
 *   sim --seed S [--steps M]                  one seed, verbose (replay)
 *   --slow-disks                              instead of random runs: slow
 *                                             follower disks, no leader change
 *
 * A failing seed prints "FAILED seed S step K" and the replay command, and
 * the process aborts.  Exit 0 when every seed passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (!*s || *end) {
		fprintf(stderr, "sim: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	uint64_t first = 1, seeds = 300, steps = 2000;
	bool one = false, slow = false;
	for (int k = 1; k < argc; k++) {
		if (k + 1 < argc && !strcmp(argv[k], "--seed")) {
			first = num(argv[++k]);
			seeds = 1;
			one = true;
		} else if (k + 1 < argc && !strcmp(argv[k], "--seeds")) {
			seeds = num(argv[++k]);
		} else if (k + 1 < argc && !strcmp(argv[k], "--first")) {
			first = num(argv[++k]);
		} else if (!strcmp(argv[k], "--slow-disks")) {
			slow = true;
		} else if (k + 1 < argc && !strcmp(argv[k], "--steps")) {
			steps = num(argv[++k]);
		} else {
			fprintf(stderr,
				"usage: sim [--slow-disks] [--first F] [--seeds N] [--steps M] "
				"| --seed S [--steps M]\n");
			return 2;
		}
	}
	struct sim *total = calloc(1, sizeof(*total));
	for (uint64_t s = first; s < first + seeds; s++) {
		if (slow)
			sim_run_slow_disks(s, one, total);
		else
			sim_run(s, steps, one, total);
		if (!one && (s - first + 1) % 1000 == 0 && s + 1 < first + seeds) {
			printf("sim: seeds %llu..%llu passed\n", (unsigned long long)first,
			       (unsigned long long)s);
			fflush(stdout);
		}
	}
	printf("sim: %llu seeds x %llu steps passed (seeds %llu..%llu): ticks %llu, acked %llu, "
	       "synced %llu, elections %llu, crashes %llu, snapshot installs %llu, conf changes "
	       "%llu, delivered %llu, dropped %llu\n",
	       (unsigned long long)seeds, (unsigned long long)steps, (unsigned long long)first,
	       (unsigned long long)(first + seeds - 1), (unsigned long long)total->now,
	       (unsigned long long)total->n_acked, (unsigned long long)total->n_synced,
	       (unsigned long long)total->n_elections, (unsigned long long)total->n_crashes,
	       (unsigned long long)total->n_snap_installs,
	       (unsigned long long)total->n_conf_changes, (unsigned long long)total->n_delivered,
	       (unsigned long long)total->n_dropped);
	printf("sim: pipelined log: writes completed ahead of the one before %llu; crashes "
	       "that lost such a write with the one before %llu, kept it %llu\n",
	       (unsigned long long)total->n_early, (unsigned long long)total->n_early_lost,
	       (unsigned long long)total->n_early_kept);
	printf("sim: forged messages refused %llu, non-voter vote requests refused %llu, runs "
	       "with wiped disks %llu (wipes %llu, no leader after healing %llu)\n",
	       (unsigned long long)total->n_injected, (unsigned long long)total->n_refused,
	       (unsigned long long)total->unsafe_runs, (unsigned long long)total->n_wipes,
	       (unsigned long long)total->n_stuck);
	printf("sim: snapshot streams: chunks %llu, complete %llu, failed %llu, checksum or "
	       "rival rejects %llu\n",
	       (unsigned long long)total->n_chunks, (unsigned long long)total->n_streams_done,
	       (unsigned long long)total->n_streams_failed,
	       (unsigned long long)total->n_stream_rejects);
	free(total);
	return 0;
}
