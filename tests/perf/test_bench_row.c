/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "perf/bench_row.h"

static char *print(const struct bench_row *w, bool json, bool header)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	bench_row_print(w, f, json, header);
	fclose(f);
	return buf;
}

static void sample(struct bench_row *w)
{
	bench_row_add(w, "label", true, "%s", "cheetah");
	bench_row_add(w, "ops_s", false, "%.0f", 1234.4);
	bench_row_add(w, "server_rss_kb", false, "%s", "");
	bench_row_add(w, "p99_us", false, "%.1f", 5.25);
}

Test(bench_row, csv_with_and_without_header)
{
	struct bench_row w = {0};
	char *a, *b;

	sample(&w);
	a = print(&w, false, true);
	cr_assert_str_eq(a, "label,ops_s,server_rss_kb,p99_us\ncheetah,1234,,5.2\n");
	b = print(&w, false, false);
	cr_assert_str_eq(b, "cheetah,1234,,5.2\n");
	free(a);
	free(b);
}

Test(bench_row, json_quotes_text_and_leaves_out_empty_values)
{
	struct bench_row w = {0};
	char *a;

	sample(&w);
	a = print(&w, true, true);
	cr_assert_str_eq(a, "{\"label\":\"cheetah\",\"ops_s\":1234,\"p99_us\":5.2}\n");
	free(a);
}

Test(bench_row, an_empty_row_is_an_empty_object)
{
	struct bench_row w = {0};
	char *a = print(&w, true, false);

	cr_assert_str_eq(a, "{}\n");
	free(a);
}

Test(bench_row, fields_past_the_limit_are_dropped)
{
	struct bench_row w = {0};

	for (int i = 0; i < BENCH_ROW_MAX + 5; i++)
		bench_row_add(&w, "x", false, "%d", i);
	cr_assert_eq(w.n, BENCH_ROW_MAX);
}
