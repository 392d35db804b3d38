/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus' text exposition format, version 0.0.4: the writer /metrics
 * uses.  A family is "# HELP name help", "# TYPE name type", then its
 * samples "name{label="value",...} value", one per line; a summary's
 * samples are name{quantile="q"}, name_count and name_sum.
 *
 * Escaping: HELP text escapes backslash and newline; label values escape
 * backslash, double quote and newline.  Values are Go's
 * strconv.FormatFloat('g') spellings Prometheus parses: NaN, +Inf, -Inf,
 * integers without a point, otherwise the shortest digits that read back
 * as the same double.  Names and label names are the caller's constants
 * and are checked by assertion only.
 *
 * Pure functions over a jute_out (growable: out of memory sets its err).
 * Any thread.
 */
#ifndef CHEETAH_METRICS_PROM_H
#define CHEETAH_METRICS_PROM_H

#include <stddef.h>
#include <stdint.h>

struct jute_out;
struct hist;

struct prom_label {
	const char *name;
	const char *value;
};

/* "# HELP name help\n# TYPE name type\n"; type: counter, gauge, summary, untyped. */
void prom_family(struct jute_out *o, const char *name, const char *type, const char *help);

/* One sample: name (then suffix, may be NULL) {labels} value. */
void prom_sample(struct jute_out *o, const char *name, const char *suffix,
		 const struct prom_label *labels, size_t nlabels, double v);

/* A whole gauge or counter family of one unlabelled sample. */
void prom_single(struct jute_out *o, const char *name, const char *type, const char *help,
		 double v);

/*
 * A summary's samples (after its prom_family): one quantile line per
 * qs[i] (nq may be 0) computed from window (NaN when it is empty), scaled
 * by scale (1e-3: microseconds reported as milliseconds), then _count
 * and _sum (count and sum, sum scaled likewise).
 */
void prom_summary(struct jute_out *o, const char *name, const struct prom_label *labels,
		  size_t nlabels, const double *qs, size_t nq, const struct hist *window,
		  double scale, uint64_t count, double sum);

/* Writes v as the format spells it into buf (at least 32 bytes). */
void prom_value(char *buf, size_t len, double v);

#endif
