/* SPDX-License-Identifier: Apache-2.0 */
#include "perf/bench_row.h"

#include <stdarg.h>

void bench_row_add(struct bench_row *w, const char *name, bool text, const char *fmt, ...)
{
	va_list ap;

	if (w->n == BENCH_ROW_MAX)
		return;
	w->name[w->n] = name;
	w->text[w->n] = text;
	va_start(ap, fmt);
	vsnprintf(w->val[w->n], sizeof(w->val[0]), fmt, ap);
	va_end(ap);
	w->n++;
}

void bench_row_print(const struct bench_row *w, FILE *f, bool json, bool header)
{
	if (!json) {
		for (int i = 0; header && i < w->n; i++)
			fprintf(f, "%s%s", w->name[i], i + 1 < w->n ? "," : "\n");
		for (int i = 0; i < w->n; i++)
			fprintf(f, "%s%s", w->val[i], i + 1 < w->n ? "," : "\n");
		return;
	}
	const char *sep = "{";
	for (int i = 0; i < w->n; i++) {
		if (!w->val[i][0])
			continue;
		fprintf(f, w->text[i] ? "%s\"%s\":\"%s\"" : "%s\"%s\":%s", sep, w->name[i], w->val[i]);
		sep = ",";
	}
	fprintf(f, "%s}\n", w->n && sep[0] == ',' ? "" : "{");
}
