// SPDX-License-Identifier: Apache-2.0
/*
 * The path index (tree/pindex.c) alone: adds, deletes and growth keep
 * every indexed path findable and no other, also at the load limit where
 * inserts move entries between buckets; and a reader looking up paths
 * that stay indexed never misses one while the writer adds, deletes and
 * grows around them (the moves counter's retry).
 *
 * Nodes are bare headers with a path: the index reads nothing else.  No
 * sleeps: the writer works until the reader has done enough lookups (or
 * a cap), the reader stops when the writer says.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>
#include <urcu/uatomic.h>

#include <criterion/criterion.h>

#include "tree/tree_priv.h"

static struct tree_node *mknode(const char *fmt, unsigned i)
{
	char path[64];
	int len = snprintf(path, sizeof(path), fmt, i);
	struct tree_node *n = calloc(1, sizeof(*n) + (size_t)len + 1);

	cr_assert_not_null(n);
	memcpy(n->path, path, (size_t)len + 1);
	n->path_len = (uint32_t)len;
	return n;
}

static uint64_t hash_of(const struct tree_node *n)
{
	return tree_hash_path(n->path, n->path_len);
}

static struct tree_node *find(const struct pidx *x, const struct tree_node *n)
{
	return pidx_find(x, hash_of(n), n->path, n->path_len);
}

static void setup(void)
{
	urcu_qsbr_register_thread();
}

static void teardown(void)
{
	urcu_qsbr_barrier(); /* the tables growth handed to call_rcu */
	urcu_qsbr_unregister_thread();
}

TestSuite(tree_pindex, .init = setup, .fini = teardown, .timeout = 120);

Test(tree_pindex, adds_deletes_and_growth_keep_exactly_the_indexed_paths)
{
	enum { N = 50000 };
	struct tree_node **nodes = calloc(N, sizeof(*nodes));
	struct pidx x;
	int rc;

	cr_assert_eq(pidx_init(&x), 0);
	for (unsigned i = 0; i < N; i++) {
		nodes[i] = mknode("/p/node-%07u", i);
		cr_assert_null(find(&x, nodes[i]));
		cr_assert_eq(pidx_add(&x, hash_of(nodes[i]), nodes[i]), 0);
		/* The load limit: 31/32 of the slots. */
		cr_assert_leq(x.count * 32, pidx_slots(&x) * 31);
	}
	cr_assert_eq(x.count, N);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(find(&x, nodes[i]), nodes[i]);
	/* A path met again is refused; the first stays. */
	struct tree_node *again = mknode("/p/node-%07u", 17);
	cr_assert_eq(pidx_add_unique(&x, hash_of(again), again, &rc), nodes[17]);
	cr_assert_eq(rc, 0);
	cr_assert_eq(x.count, N);
	free(again);
	/* Deletes: every other one goes, the rest stay findable. */
	for (unsigned i = 0; i < N; i += 2)
		pidx_del(&x, hash_of(nodes[i]), nodes[i]);
	cr_assert_eq(x.count, N / 2);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(find(&x, nodes[i]), i % 2 ? nodes[i] : NULL, "node %u", i);
	/* Refilled up to the limit of the table as it is: inserts must move entries. */
	uint64_t slots = pidx_slots(&x);
	unsigned extra = 0;
	struct tree_node **more = calloc(slots, sizeof(*more));
	while ((x.count + 1) * 32 <= slots * 31) {
		more[extra] = mknode("/q/%u", extra);
		cr_assert_null(pidx_add_unique(&x, hash_of(more[extra]), more[extra], &rc));
		cr_assert_eq(rc, 0);
		extra++;
	}
	cr_assert_gt(x.moves, 0, "no insert had to move entries");
	for (unsigned i = 0; i < extra; i++)
		cr_assert_eq(find(&x, more[i]), more[i]);
	for (unsigned i = 1; i < N; i += 2)
		cr_assert_eq(find(&x, nodes[i]), nodes[i]);
	/* pidx_collect sees each indexed node once. */
	struct tree_node **all = calloc(x.count, sizeof(*all));
	cr_assert_eq(pidx_collect(&x, all), x.count);
	free(all);
	pidx_destroy(&x);
	for (unsigned i = 0; i < N; i++)
		free(nodes[i]);
	for (unsigned i = 0; i < extra; i++)
		free(more[i]);
	free(nodes);
	free(more);
}

/* ---- A reader against a writer that adds, deletes and grows ---- */

enum { STAY = 100000, CHURN = 20000, MIN_LOOKUPS = 2000000 };

static struct pidx shared;
static struct tree_node *stay[STAY];
static int writer_done;
static unsigned long lookups, misses;

static void *reader(void *arg)
{
	unsigned long i = 0;

	(void)arg;
	urcu_qsbr_register_thread();
	while (!uatomic_read(&writer_done)) {
		const struct tree_node *n = stay[i % STAY];
		if (find(&shared, n) != n)
			uatomic_inc(&misses);
		if (++i % 64 == 0) {
			uatomic_set(&lookups, i);
			urcu_qsbr_quiescent_state();
		}
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

Test(tree_pindex, a_reader_never_misses_a_path_that_stays_indexed)
{
	struct tree_node **churn = calloc(CHURN, sizeof(*churn));
	bool *live = calloc(CHURN, sizeof(*live));
	unsigned seed = 12345;
	pthread_t th;

	cr_assert_eq(pidx_init(&shared), 0);
	for (unsigned i = 0; i < STAY; i++) {
		stay[i] = mknode("/stay/%u", i);
		cr_assert_eq(pidx_add(&shared, hash_of(stay[i]), stay[i]), 0);
	}
	cr_assert_eq(pthread_create(&th, NULL, reader, NULL), 0);
	/* Grow, deleting one of every three added. */
	for (unsigned i = 0; i < CHURN; i++) {
		churn[i] = mknode("/churn/%u", i);
		cr_assert_eq(pidx_add(&shared, hash_of(churn[i]), churn[i]), 0);
		live[i] = true;
		if (i % 3 == 2) {
			unsigned v = rand_r(&seed) % (i + 1);
			if (live[v]) {
				/* Kept allocated: a reader may be reading its path. */
				pidx_del(&shared, hash_of(churn[v]), churn[v]);
				live[v] = false;
			}
		}
		if (i % 256 == 0)
			urcu_qsbr_quiescent_state();
	}
	/*
	 * Then fill the table as it is up to the load limit and churn there
	 * (delete one, add one back): adds move entries between buckets.
	 */
	unsigned long rounds = 0;
	while (rounds < 20000000 && (rounds < 200000 || uatomic_read(&lookups) < MIN_LOOKUPS)) {
		unsigned v = rand_r(&seed) % CHURN;
		uint64_t slots = pidx_slots(&shared);
		bool room = (shared.count + 1) * 32 <= slots * 31;

		if (!live[v] && room) {
			cr_assert_eq(pidx_add(&shared, hash_of(churn[v]), churn[v]), 0);
			live[v] = true;
			cr_assert_eq(pidx_slots(&shared), slots, "grew below the load limit");
		} else if (live[v] && !room) {
			pidx_del(&shared, hash_of(churn[v]), churn[v]);
			live[v] = false;
		}
		if (++rounds % 256 == 0)
			urcu_qsbr_quiescent_state();
	}
	uatomic_set(&writer_done, 1);
	urcu_qsbr_thread_offline();
	pthread_join(th, NULL);
	urcu_qsbr_thread_online();
	cr_assert_gt(shared.moves, 0, "no insert had to move entries");
	cr_assert_eq(misses, 0, "%lu of %lu lookups missed", misses, lookups);
	cr_assert_gt(lookups, 0);
	for (unsigned i = 0; i < CHURN; i++)
		cr_assert_eq(find(&shared, churn[i]), live[i] ? churn[i] : NULL);
	for (unsigned i = 0; i < STAY; i++)
		cr_assert_eq(find(&shared, stay[i]), stay[i]);
	urcu_qsbr_thread_offline();
	urcu_qsbr_synchronize_rcu();
	urcu_qsbr_thread_online();
	pidx_destroy(&shared);
	for (unsigned i = 0; i < STAY; i++)
		free(stay[i]);
	for (unsigned i = 0; i < CHURN; i++)
		free(churn[i]);
	free(churn);
	free(live);
}

/*
 * The same in a small table kept at its load limit: almost every entry
 * stays, a few come and go, so nearly every add moves entries the reader
 * is looking for, in a table that sits in the cache.  With pidx_find's
 * retry on a moved counter removed, this missed 2 of about 5M lookups in
 * two runs of three; it does 15M.
 */
enum { SMALL_STAY = 980, SMALL_CHURN = 64 };

static struct pidx small;
static struct tree_node *small_stay[SMALL_STAY];
static int small_done;
static unsigned long small_lookups, small_misses;

static void *small_reader(void *arg)
{
	unsigned long i = 0;

	(void)arg;
	urcu_qsbr_register_thread();
	while (!uatomic_read(&small_done)) {
		const struct tree_node *n = small_stay[i % SMALL_STAY];
		if (find(&small, n) != n)
			uatomic_inc(&small_misses);
		if (++i % 64 == 0) {
			uatomic_set(&small_lookups, i);
			urcu_qsbr_quiescent_state();
		}
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

Test(tree_pindex, a_reader_never_misses_in_a_full_table)
{
	struct tree_node *churn[SMALL_CHURN];
	bool live[SMALL_CHURN] = {0};
	unsigned seed = 99;
	pthread_t th;

	cr_assert_eq(pidx_init(&small), 0);
	cr_assert_eq(pidx_slots(&small), 1024);
	for (unsigned i = 0; i < SMALL_STAY; i++) {
		small_stay[i] = mknode("/s/%u", i);
		cr_assert_eq(pidx_add(&small, hash_of(small_stay[i]), small_stay[i]), 0);
	}
	for (unsigned i = 0; i < SMALL_CHURN; i++)
		churn[i] = mknode("/c/%u", i);
	cr_assert_eq(pthread_create(&th, NULL, small_reader, NULL), 0);
	uint32_t moves0 = small.moves;
	for (unsigned long r = 0;
	     r < 60000000 && (r < 100000 || uatomic_read(&small_lookups) < 15000000); r++) {
		unsigned v = rand_r(&seed) % SMALL_CHURN;
		bool room = (small.count + 1) * 32 <= pidx_slots(&small) * 31;

		if (!live[v] && room) {
			cr_assert_eq(pidx_add(&small, hash_of(churn[v]), churn[v]), 0);
			live[v] = true;
		} else if (live[v]) {
			pidx_del(&small, hash_of(churn[v]), churn[v]);
			live[v] = false;
		}
		if (r % 256 == 0)
			urcu_qsbr_quiescent_state();
	}
	uatomic_set(&small_done, 1);
	urcu_qsbr_thread_offline();
	pthread_join(th, NULL);
	urcu_qsbr_thread_online();
	cr_assert_eq(pidx_slots(&small), 1024, "the table stayed at its size");
	cr_assert_gt(small.moves - moves0, 0, "no add had to move entries");
	cr_assert_eq(small_misses, 0, "%lu of %lu lookups missed", small_misses, small_lookups);
	urcu_qsbr_thread_offline();
	urcu_qsbr_synchronize_rcu();
	urcu_qsbr_thread_online();
	pidx_destroy(&small);
	for (unsigned i = 0; i < SMALL_STAY; i++)
		free(small_stay[i]);
	for (unsigned i = 0; i < SMALL_CHURN; i++)
		free(churn[i]);
}
