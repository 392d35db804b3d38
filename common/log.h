/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr with levels.  One line per call, written with a single
 * write(2) so lines from different threads never interleave.  Safe from any
 * thread; the level is set once at start-up before threads exist.
 */
#ifndef CHEETAH_COMMON_LOG_H
#define CHEETAH_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

extern enum log_level log_threshold;

/* Parses "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_parse_level(const char *name, enum log_level *out);
void log_set_level(enum log_level lvl);

void log_emit(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Rate limiting for a log line that a flood could repeat: at most one
 * line per interval.  log_every returns true when this occurrence may be
 * logged, with *held the number held back since the last logged one
 * (report it in the line); false otherwise (counted).  The state belongs
 * to one thread (or is guarded by the caller); zero-initialised.
 */
struct log_every {
	uint64_t last_ns;
	uint64_t held;
};
bool log_every(struct log_every *r, uint64_t now_ns, uint64_t interval_ns, uint64_t *held);

#define log_error(...) log_emit(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_threshold >= LOG_LVL_DEBUG)      \
			log_emit(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
