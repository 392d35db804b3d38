// SPDX-License-Identifier: Apache-2.0
/*
 * common/nsstat.h: the namespace of a path is its first component, a
 * read adds path (UTF-16 units) + bytes + 68 and a write path + bytes;
 * tables of one kind merge by slot; the 65th namespace and one longer
 * than NSSTAT_KEY_MAX go to the overflow slot "/other", whatever thread
 * sees it; srst zeroes the since-srst figures of every table (before and
 * after its writer's next add) but never the histogram; writers on
 * several threads never lose or split a namespace.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/nsstat.h"

static struct nsstat *ns;

static void setup(void)
{
	ns = nsstat_new();
	cr_assert(ns);
}

static void teardown(void)
{
	nsstat_free(ns);
}

static void add(struct nsstat_tab *t, const char *path, uint64_t bytes)
{
	nsstat_add(t, path, strlen(path), bytes);
}

/* The slot of key k, or -1. */
static int slot(const char *k)
{
	for (uint32_t i = 0; i < nsstat_nkeys(ns); i++)
		if (!strcmp(nsstat_key(ns, i), k))
			return (int)i;
	return -1;
}

static struct nsstat_fig fig(enum nsstat_kind kind, const char *k)
{
	struct nsstat_fig f;
	int i = !strcmp(k, NSSTAT_OTHER_KEY) ? NSSTAT_OTHER : slot(k);

	cr_assert(i >= 0, "no slot for %s", k);
	nsstat_merge(ns, kind, (uint32_t)i, 1, &f);
	return f;
}

TestSuite(nsstat, .init = setup, .fini = teardown);

Test(nsstat, utf16_length_is_javas)
{
	cr_assert_eq(nsstat_utf16_len("/abc/def", 8), 8);
	cr_assert_eq(nsstat_utf16_len("", 0), 0);
	/* é (2 bytes) and € (3 bytes) are one unit each, 😀 (4 bytes) two. */
	cr_assert_eq(nsstat_utf16_len("/\xc3\xa9", 3), 2);
	cr_assert_eq(nsstat_utf16_len("/a\xe2\x82\xac/bcdefghij", 14), 12);
	cr_assert_eq(nsstat_utf16_len("/\xf0\x9f\x98\x80", 5), 3);
}

Test(nsstat, first_component_and_the_formulas)
{
	struct nsstat_tab *r = nsstat_tab_new(ns, NSSTAT_READ);
	struct nsstat_tab *w = nsstat_tab_new(ns, NSSTAT_WRITE);
	struct nsstat_fig f;

	cr_assert(r && w);
	add(r, "/", 5); /* no namespace: not counted */
	cr_assert_eq(nsstat_nkeys(ns), 0);
	add(r, "/app", 10);	       /* 4 + 10 + 68 = 82 */
	add(r, "/app/x/y", 0);	       /* 8 + 68 = 76 */
	add(w, "/app/x", 3);	       /* 6 + 3 = 9 */
	add(w, "/other2/\xc3\xa9", 1); /* 9 units + 1 = 10 */
	cr_assert_eq(nsstat_nkeys(ns), 2);
	cr_assert_str_eq(nsstat_key(ns, 0), "app");
	cr_assert_str_eq(nsstat_key(ns, 1), "other2");
	f = fig(NSSTAT_READ, "app");
	cr_assert_eq(f.total, 2);
	cr_assert_eq(f.h.count, 2);
	cr_assert_eq(f.h.sum, 82 + 76);
	cr_assert_eq(f.cnt, 2);
	cr_assert_eq(f.sum, 158);
	cr_assert_eq(f.min, 76);
	cr_assert_eq(f.max, 82);
	f = fig(NSSTAT_WRITE, "app");
	cr_assert_eq(f.total, 1);
	cr_assert_eq(f.sum, 9);
	cr_assert_eq(f.min, 9);
	cr_assert_eq(f.max, 9);
	/* A kind that never saw a key has nothing for it. */
	f = fig(NSSTAT_READ, "other2");
	cr_assert_eq(f.total, 0);
	cr_assert_eq(f.first, UINT64_MAX);
	f = fig(NSSTAT_WRITE, "other2");
	cr_assert_eq(f.sum, 10);
	/* First counted: app's write before other2's. */
	cr_assert_lt(fig(NSSTAT_WRITE, "app").first, f.first);
	/* A NULL table counts nothing. */
	nsstat_add(NULL, "/app", 4, 1);
	cr_assert_eq(fig(NSSTAT_READ, "app").total, 2);
}

Test(nsstat, tables_of_a_kind_merge_by_slot)
{
	struct nsstat_tab *a = nsstat_tab_new(ns, NSSTAT_READ);
	struct nsstat_tab *b = nsstat_tab_new(ns, NSSTAT_READ);
	struct nsstat_fig f;

	add(a, "/n/1", 100); /* 172 */
	add(b, "/n", 0);     /* 70 */
	add(b, "/m", 0);
	f = fig(NSSTAT_READ, "n");
	cr_assert_eq(f.total, 2);
	cr_assert_eq(f.h.sum, 242);
	cr_assert_eq(f.min, 70);
	cr_assert_eq(f.max, 172);
	f = fig(NSSTAT_READ, "m");
	cr_assert_eq(f.total, 1);
	/* The median of one add of 70: within hist.h's 1/16. */
	cr_assert(fabs(hist_quantile(&f.h, 0.5) - 70) <= 70.0 / 16);
}

Test(nsstat, overflow_past_the_bound_and_long_keys)
{
	struct nsstat_tab *a = nsstat_tab_new(ns, NSSTAT_READ);
	struct nsstat_tab *b = nsstat_tab_new(ns, NSSTAT_READ);
	char path[NSSTAT_KEY_MAX + 8];
	struct nsstat_fig f;

	for (int i = 0; i < NSSTAT_KEYS; i++) {
		snprintf(path, sizeof(path), "/k%02d", i);
		add(i % 2 ? a : b, path, 0);
	}
	cr_assert_eq(nsstat_nkeys(ns), NSSTAT_KEYS);
	/* The 65th, on either table, is counted under /other; known keys still have theirs. */
	add(a, "/late/x", 0); /* 7 + 68 */
	add(b, "/later", 0);  /* 6 + 68 */
	add(b, "/k63/y", 0);
	cr_assert_eq(slot("late"), -1);
	cr_assert_eq(nsstat_nkeys(ns), NSSTAT_KEYS);
	f = fig(NSSTAT_READ, NSSTAT_OTHER_KEY);
	cr_assert_eq(f.total, 2);
	cr_assert_eq(f.h.sum, 75 + 74);
	cr_assert_eq(fig(NSSTAT_READ, "k63").total, 2);
	cr_assert_str_eq(nsstat_key(ns, NSSTAT_OTHER), "/other");
}

Test(nsstat, a_key_longer_than_the_bound_is_overflow_never_truncated)
{
	struct nsstat_tab *a = nsstat_tab_new(ns, NSSTAT_WRITE);
	char path[NSSTAT_KEY_MAX + 8];

	path[0] = '/';
	memset(path + 1, 'x', NSSTAT_KEY_MAX + 1);
	path[NSSTAT_KEY_MAX + 2] = '\0';
	add(a, path, 0);
	cr_assert_eq(nsstat_nkeys(ns), 0);
	cr_assert_eq(fig(NSSTAT_WRITE, NSSTAT_OTHER_KEY).sum, NSSTAT_KEY_MAX + 2);
	/* Exactly NSSTAT_KEY_MAX bytes still get a slot of their own. */
	path[NSSTAT_KEY_MAX + 1] = '\0';
	add(a, path, 0);
	cr_assert_eq(nsstat_nkeys(ns), 1);
	cr_assert_eq(strlen(nsstat_key(ns, 0)), NSSTAT_KEY_MAX);
}

Test(nsstat, srst_zeroes_mntr_figures_not_the_histogram)
{
	struct nsstat_tab *a = nsstat_tab_new(ns, NSSTAT_READ);
	struct nsstat_tab *b = nsstat_tab_new(ns, NSSTAT_READ);
	struct nsstat_fig f;

	add(a, "/s", 100);
	add(b, "/s", 1);
	nsstat_reset(ns);
	/* Before either writer's next add: reset already. */
	f = fig(NSSTAT_READ, "s");
	cr_assert_eq(f.cnt, 0);
	cr_assert_eq(f.sum, 0);
	cr_assert_eq(f.total, 2);
	cr_assert_eq(f.h.count, 2);
	cr_assert_eq(f.h.sum, 170 + 71);
	/* After: only what came since, min and max started again. */
	add(a, "/s", 10); /* 80 */
	f = fig(NSSTAT_READ, "s");
	cr_assert_eq(f.cnt, 1);
	cr_assert_eq(f.sum, 80);
	cr_assert_eq(f.min, 80);
	cr_assert_eq(f.max, 80);
	cr_assert_eq(f.h.count, 3);
	/* A table made after an srst starts in step with it. */
	struct nsstat_tab *c = nsstat_tab_new(ns, NSSTAT_READ);
	add(c, "/s", 0);
	cr_assert_eq(fig(NSSTAT_READ, "s").cnt, 2);
}

struct writer {
	struct nsstat_tab *t;
	int id;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	char path[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(path, sizeof(path), "/ns%d/x", (i + w->id) % 80);
		add(w->t, path, 1);
	}
	return NULL;
}

Test(nsstat, concurrent_writers_agree_on_slots, .timeout = 60)
{
	struct writer w[4];
	pthread_t th[4];
	uint64_t total = 0, sum = 0;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){nsstat_tab_new(ns, NSSTAT_WRITE), i};
		cr_assert(w[i].t);
		cr_assert_eq(pthread_create(&th[i], NULL, write_many, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(nsstat_nkeys(ns), NSSTAT_KEYS);
	for (uint32_t i = 0; i < nsstat_nkeys(ns); i++)
		for (uint32_t j = 0; j < i; j++)
			cr_assert_str_neq(nsstat_key(ns, i), nsstat_key(ns, j));
	for (uint32_t i = 0; i < NSSTAT_SLOTS; i++) {
		struct nsstat_fig f;

		nsstat_merge(ns, NSSTAT_WRITE, i, 1, &f);
		total += f.total;
		sum += f.h.sum;
		cr_assert_eq(f.h.count, f.total);
		/* 80 namespaces, 16 of them beyond the bound: each has 1000 adds. */
		if (i < NSSTAT_KEYS)
			cr_assert_eq(f.total, 1000, "slot %u: %lu", i, (unsigned long)f.total);
		else
			cr_assert_eq(f.total, 16000);
	}
	cr_assert_eq(total, 80000);
	/* "/nsN/x": 6 or 7 bytes, + 1. */
	cr_assert_eq(sum, 10 * 1000 * 7 + 70 * 1000 * 8);
}

/*
 * The first component found 8 bytes at a time: every length around the
 * word boundaries, alone or followed by more, names that share their
 * first 16 bytes, and paths in buffers of their exact size (ASan: no
 * byte past the end is read).
 */
Test(nsstat, keys_of_every_length_around_the_words)
{
	struct nsstat_tab *t = nsstat_tab_new(ns, NSSTAT_WRITE);
	const char *names[] = {"a",
			       "abcdefg",
			       "abcdefgh",
			       "abcdefghi",
			       "abcdefghijklmno",
			       "abcdefghijklmnop",
			       "abcdefghijklmnopq",
			       "abcdefghijklmnopqrstuvwxyz",
			       "abcdefghijklmnopqrstuvwxyZ"};
	size_t nn = sizeof(names) / sizeof(names[0]);

	for (size_t i = 0; i < nn; i++) {
		size_t n = strlen(names[i]);
		char *alone = malloc(n + 1), *more = malloc(n + 3);

		alone[0] = more[0] = '/';
		memcpy(alone + 1, names[i], n);
		memcpy(more + 1, names[i], n);
		memcpy(more + 1 + n, "/z", 2);
		nsstat_add(t, alone, n + 1, 0);
		nsstat_add(t, more, n + 3, 0);
		free(alone);
		free(more);
	}
	cr_assert_eq(nsstat_nkeys(ns), nn);
	for (size_t i = 0; i < nn; i++) {
		struct nsstat_fig f = fig(NSSTAT_WRITE, names[i]);
		uint64_t n = strlen(names[i]);

		cr_assert_str_eq(nsstat_key(ns, (uint32_t)i), names[i]);
		cr_assert_eq(f.total, 2, "%s", names[i]);
		cr_assert_eq(f.h.sum, (n + 1) + (n + 3), "%s", names[i]);
	}
}
