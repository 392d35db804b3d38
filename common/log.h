/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr with levels.  One line per call, written with a single
 * write(2) so lines from different threads never interleave.  Safe from any
 * thread; the level is set once at start-up before threads exist.
 */
#ifndef CHEETAH_COMMON_LOG_H
#define CHEETAH_COMMON_LOG_H

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

#define log_error(...) log_emit(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_threshold >= LOG_LVL_DEBUG)      \
			log_emit(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
