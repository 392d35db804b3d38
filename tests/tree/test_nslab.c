// SPDX-License-Identifier: Apache-2.0
/*
 * Node memory (tree/nslab.c): regions of every size are 8-byte aligned,
 * rounded up to 8 and no more, never overlap, are reused after a free,
 * and a chunk goes back to malloc when its last region is freed (under
 * LeakSanitizer a chunk kept would show as a leak), also when the frees
 * come from another thread (the call_rcu thread frees limbo batches).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tree/tree_priv.h"

enum { N = 20000 };

static void *regions[N];
static size_t sizes[N];

static void fill(unsigned i)
{
	memset(regions[i], (int)(i & 0xff), sizes[i]);
}

static void check(unsigned i)
{
	const unsigned char *p = regions[i];

	for (size_t k = 0; k < sizes[i]; k++)
		cr_assert_eq(p[k], i & 0xff, "region %u byte %zu", i, k);
}

static void alloc_all(unsigned seed)
{
	for (unsigned i = 0; i < N; i++) {
		sizes[i] = 1 + (size_t)rand_r(&seed) % NSLAB_MAX;
		regions[i] = nslab_alloc(sizes[i]);
		cr_assert_not_null(regions[i]);
		cr_assert_eq((uintptr_t)regions[i] % 8, 0);
		fill(i);
	}
}

Test(tree_nslab, sizes_round_to_eight)
{
	cr_assert_eq(nslab_size(1), 8);
	cr_assert_eq(nslab_size(8), 8);
	cr_assert_eq(nslab_size(184), 184);
	cr_assert_eq(nslab_size(185), 192);
	cr_assert_eq(nslab_size(NSLAB_MAX), NSLAB_MAX);
}

Test(tree_nslab, regions_are_distinct_reused_and_released)
{
	unsigned seed = 7;

	alloc_all(1);
	for (unsigned i = 0; i < N; i++)
		check(i);
	/* Free every other one, allocate again: the holes are reused. */
	for (unsigned i = 0; i < N; i += 2)
		nslab_free(regions[i]);
	for (unsigned i = 0; i < N; i += 2) {
		sizes[i] = 1 + (size_t)rand_r(&seed) % NSLAB_MAX;
		regions[i] = nslab_alloc(sizes[i]);
		cr_assert_not_null(regions[i]);
		fill(i);
	}
	for (unsigned i = 0; i < N; i++)
		check(i);
	/* Same-size churn reuses freed regions: the region comes back. */
	void *a = nslab_alloc(184);
	nslab_free(a);
	void *b = nslab_alloc(184);
	cr_assert_eq(a, b);
	nslab_free(b);
	for (unsigned i = 0; i < N; i++)
		nslab_free(regions[i]);
}

static void *free_half(void *arg)
{
	(void)arg;
	for (unsigned i = 1; i < N; i += 2)
		nslab_free(regions[i]);
	return NULL;
}

Test(tree_nslab, frees_from_another_thread)
{
	pthread_t th;

	alloc_all(3);
	cr_assert_eq(pthread_create(&th, NULL, free_half, NULL), 0);
	for (unsigned i = 0; i < N; i += 2)
		nslab_free(regions[i]);
	pthread_join(th, NULL);
	/* Everything freed: every chunk went back (LeakSanitizer checks). */
	alloc_all(4);
	for (unsigned i = 0; i < N; i++)
		check(i);
	for (unsigned i = 0; i < N; i++)
		nslab_free(regions[i]);
}
