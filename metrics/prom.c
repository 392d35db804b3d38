/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus text format writer (prom.h).  The format is the one of
 * https://prometheus.io/docs/instrumenting/exposition_formats/ (0.0.4),
 * which ZooKeeper's PrometheusMetricsProvider serves through the Java
 * client's TextFormat; what Cheetah writes differs only in ways the
 * format leaves free (no trailing comma after the last label, integer
 * values without ".0").
 *
 * Thread: any.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist.h"
#include "common/jute.h"
#include "metrics/prom.h"

/* [a-zA-Z_:][a-zA-Z0-9_:]*, the format's metric name. */
static int valid_name(const char *s)
{
	if (!*s || !(((*s | 32) >= 'a' && (*s | 32) <= 'z') || *s == '_' || *s == ':'))
		return 0;
	for (s++; *s; s++)
		if (!(((*s | 32) >= 'a' && (*s | 32) <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == ':'))
			return 0;
	return 1;
}

static void put(struct jute_out *o, const char *s)
{
	jute_put_raw(o, s, strlen(s));
}

/* Escapes backslash and newline, and the double quote when quote is set. */
static void put_escaped(struct jute_out *o, const char *s, int quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = NULL;

		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (quote && *s == '"')
			esc = "\\\"";
		if (!esc)
			continue;
		jute_put_raw(o, run, (size_t)(s - run));
		put(o, esc);
		run = s + 1;
	}
	jute_put_raw(o, run, (size_t)(s - run));
}

void prom_value(char *buf, size_t len, double v)
{
	assert(len >= 32);
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
	} else if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, len, "%.0f", v);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, len, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				return;
		}
	}
}

void prom_family(struct jute_out *o, const char *name, const char *type, const char *help)
{
	assert(valid_name(name));
	assert(!strcmp(type, "counter") || !strcmp(type, "gauge") || !strcmp(type, "summary") ||
	       !strcmp(type, "untyped"));
	put(o, "# HELP ");
	put(o, name);
	put(o, " ");
	put_escaped(o, help, 0);
	put(o, "\n# TYPE ");
	put(o, name);
	put(o, " ");
	put(o, type);
	put(o, "\n");
}

void prom_sample(struct jute_out *o, const char *name, const char *suffix,
		 const struct prom_label *labels, size_t nlabels, double v)
{
	char val[40];

	assert(valid_name(name));
	put(o, name);
	if (suffix)
		put(o, suffix);
	if (nlabels) {
		put(o, "{");
		for (size_t i = 0; i < nlabels; i++) {
			assert(valid_name(labels[i].name) && !strchr(labels[i].name, ':'));
			if (i)
				put(o, ",");
			put(o, labels[i].name);
			put(o, "=\"");
			put_escaped(o, labels[i].value, 1);
			put(o, "\"");
		}
		put(o, "}");
	}
	prom_value(val, sizeof(val), v);
	put(o, " ");
	put(o, val);
	put(o, "\n");
}

void prom_single(struct jute_out *o, const char *name, const char *type, const char *help, double v)
{
	prom_family(o, name, type, help);
	prom_sample(o, name, NULL, NULL, 0, v);
}

#define PROM_MAX_LABELS 8

void prom_summary(struct jute_out *o, const char *name, const struct prom_label *labels,
		  size_t nlabels, const double *qs, size_t nq, const struct hist *window,
		  double scale, uint64_t count, double sum)
{
	struct prom_label l[PROM_MAX_LABELS + 1];
	char q[40];

	assert(nlabels <= PROM_MAX_LABELS);
	if (nlabels)
		memcpy(l, labels, nlabels * sizeof(*l));
	for (size_t i = 0; i < nq; i++) {
		double v = hist_quantile(window, qs[i]);

		prom_value(q, sizeof(q), qs[i]);
		l[nlabels] = (struct prom_label){"quantile", q};
		prom_sample(o, name, NULL, l, nlabels + 1, isnan(v) ? v : v * scale);
	}
	prom_sample(o, name, "_count", labels, nlabels, (double)count);
	prom_sample(o, name, "_sum", labels, nlabels, sum * scale);
}
