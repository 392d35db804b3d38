/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to migrate/: message formatting shared by its files. */
#ifndef CHEETAH_MIGRATE_PRIV_H
#define CHEETAH_MIGRATE_PRIV_H

#include <stdarg.h>
#include <stdio.h>

/* snprintf into buf, truncating silently (paths in messages may be long). */
static inline void __attribute__((format(printf, 3, 4)))
mig_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

#define mig_seterr(err, ...) mig_fmt((err)->msg, sizeof((err)->msg), __VA_ARGS__)

#endif
