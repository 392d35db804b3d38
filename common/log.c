/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stderr logger: "2026-11-22T06:40:01.123Z INFO message".  Formats into a
 * stack buffer and issues one write(2) so concurrent lines stay whole.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_LVL_INFO;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

int log_parse_level(const char *name, enum log_level *out)
{
	static const char *const lower[] = { "error", "warn", "info", "debug" };

	for (unsigned i = 0; i < sizeof(lower) / sizeof(lower[0]); i++) {
		if (strcmp(name, lower[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_level(enum log_level lvl)
{
	log_threshold = lvl;
}

void log_emit(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (lvl > log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Nothing sensible to do if stderr is gone. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

bool log_every(struct log_every *r, uint64_t now_ns, uint64_t interval_ns, uint64_t *held)
{
	if (r->last_ns && now_ns - r->last_ns < interval_ns) {
		r->held++;
		return false;
	}
	*held = r->held;
	r->held = 0;
	r->last_ns = now_ns ? now_ns : 1;
	return true;
}
