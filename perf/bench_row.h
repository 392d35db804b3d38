/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One machine-readable result of cheetah-bench: named fields in order,
 * printed as a CSV line (optionally after its header line) or as one JSON
 * object.  The same list feeds both, so the two formats cannot drift.
 * Plain memory owned by the caller; no allocation.
 */
#ifndef CHEETAH_PERF_BENCH_ROW_H
#define CHEETAH_PERF_BENCH_ROW_H

#include <stdbool.h>
#include <stdio.h>

#define BENCH_ROW_MAX 32

struct bench_row {
	int n;
	const char *name[BENCH_ROW_MAX]; /* not copied: string literals */
	char val[BENCH_ROW_MAX][48];
	bool text[BENCH_ROW_MAX]; /* a JSON string, not a number */
};

/*
 * Appends a field formatted with fmt (truncated to 47 bytes; fields past
 * BENCH_ROW_MAX are dropped).  An empty value is an empty CSV cell and
 * no JSON member.  Values must not contain commas, quotes or backslashes.
 */
__attribute__((format(printf, 4, 5))) void bench_row_add(struct bench_row *w, const char *name,
							  bool text, const char *fmt, ...);

/* Prints the row as JSON, or as CSV after the header line when header. */
void bench_row_print(const struct bench_row *w, FILE *f, bool json, bool header);

#endif
