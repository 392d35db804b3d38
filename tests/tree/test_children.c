// SPDX-License-Identifier: Apache-2.0
/*
 * tree_node_children against a writer that keeps changing the parent.
 *
 * The read copies the children list inside the parent's seq bracket and
 * reads it again when the seq moved.  A list long enough, or a writer
 * fast enough, made every walk race a change: the reader spun as long as
 * the writer went on (ZooKeeper's getChildren never starves; a reader
 * here must not either).  These tests assert on the number of retries
 * the read reports (tree_children.retries), never on time:
 *  - deterministic: a test hook makes every lock-free walk race a create
 *    or a delete under the parent; the read must end after
 *    TREE_CHILDREN_RETRIES retries with a list that matches its Stat;
 *  - threads: the test's thread creates and deletes children of /p
 *    while two readers list it; every read must match its Stat and
 *    report at most TREE_CHILDREN_RETRIES retries.  The writer stops
 *    after MAX_WRITES at the latest, so a reader that would spin forever
 *    ends (with a retry count the test refuses) instead of hanging.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu-qsbr.h>
#include <urcu/uatomic.h>

#include "tests/common/leakcheck.h"
#include "tree_test_util.h"
#include "tree/tree_priv.h"

static struct tree *t;
static struct test_acl acl;
static int64_t zxid = 1;

static void op(struct tree_apply_out *out, int32_t type, const char *path)
{
	struct tree_txn txn;

	test_txn(&txn, type, zxid++);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf("x");
	txn.ops[0].acl = acl.list;
	txn.ops[0].parent_cversion = -1;
	txn.ops[0].version = -1;
	cr_assert_eq(tree_apply(t, &txn, out), 0);
	cr_assert_eq(out->results[0].err, ZK_OK, "%s: %d", path, out->results[0].err);
}

/* /p with n children /p/s<i>. */
static void setup_parent(struct tree_apply_out *out, unsigned n)
{
	struct tree_opts opts = {.max_data = 1 << 20};
	char path[32];

	t = tree_new(&opts);
	cr_assert_not_null(t);
	test_acl_make(&acl, ZK_PERM_ALL, "world", "anyone");
	op(out, ZK_OP_CREATE, "/p");
	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/p/s%u", i);
		op(out, ZK_OP_CREATE, path);
	}
}

/* The list is one version of /p: as many names as its Stat says, all
 * different, all of the form s<i> or c<i>.  Returns the number of
 * faults. */
static unsigned check_list(const struct tree_children *kids, const struct zk_stat *st,
			   unsigned max_index)
{
	uint8_t *seen[2];
	unsigned faults = 0;

	if (kids->count != (uint32_t)st->num_children)
		return 1;
	seen[0] = calloc(max_index, 1);
	seen[1] = calloc(max_index, 1);
	cr_assert(seen[0] && seen[1]);
	for (uint32_t i = 0; i < kids->count; i++) {
		const char *s = (const char *)kids->names[i].p;
		char *end;
		unsigned long k;

		if (kids->names[i].len < 2 || (s[0] != 's' && s[0] != 'c')) {
			faults++;
			continue;
		}
		k = strtoul(s + 1, &end, 10);
		if (end != s + kids->names[i].len || k >= max_index || seen[s[0] == 'c'][k]++)
			faults++;
	}
	free(seen[0]);
	free(seen[1]);
	return faults;
}

/* ------------------------------------------------------------------ */

static struct tree_apply_out hook_out;
static unsigned hook_calls;
static bool hook_present;

/* Every lock-free walk races a change of /p's list. */
static void race_a_change(struct tree *tt, const struct tree_node *n)
{
	cr_assert_eq(tt, t);
	cr_assert_eq(n, tree_lookup(t, "/p", 2));
	hook_calls++;
	/* A reader that never gives up would be called for ever. */
	cr_assert_lt(hook_calls, 1000, "the read retried %u times and goes on", hook_calls);
	op(&hook_out, hook_present ? ZK_OP_DELETE : ZK_OP_CREATE, "/p/c0");
	hook_present = !hook_present;
}

Test(tree_children, a_read_racing_every_change_ends_after_its_retries)
{
	struct tree_apply_out out = {0};
	struct tree_children kids = {0};
	struct zk_stat st;

	urcu_qsbr_register_thread();
	setup_parent(&out, 100);
	tree_children_test_hook = race_a_change;
	cr_assert_eq(tree_node_children(t, tree_lookup(t, "/p", 2), &kids, &st), 0);
	tree_children_test_hook = NULL;
	cr_assert_eq(kids.retries, TREE_CHILDREN_RETRIES);
	cr_assert_eq(hook_calls, TREE_CHILDREN_RETRIES, "the locked read raced no change");
	cr_assert_eq(check_list(&kids, &st, 100), 0);
	/* The list is the tree's now: the hook changed it an even number
	 * of times, so /p/c0 is absent. */
	cr_assert_eq(TREE_CHILDREN_RETRIES % 2, 0);
	cr_assert_eq(st.num_children, 100);
	cr_assert_eq(st.pzxid, zxid - 1, "the Stat of the last change");
	/* Without a change the read retries nothing. */
	cr_assert_eq(tree_node_children(t, tree_lookup(t, "/p", 2), &kids, &st), 0);
	cr_assert_eq(kids.retries, 0);
	tree_children_release(&kids);
	tree_apply_out_release(&out);
	tree_apply_out_release(&hook_out);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_assert_no_leaks();
}

/* ------------------------------------------------------------------ */

/* A walk of STAY children lasts longer than a create or a delete: on
 * this code's first version every walk raced one (readers spun until
 * the writer stopped at MAX_WRITES). */
enum { STAY = 20000, CHURN = 256, READERS = 2, MIN_READS = 200, MAX_WRITES = 400000 };

static int writer_done;
static unsigned long reads[READERS], faults[READERS], fallbacks[READERS];
static uint32_t max_retries[READERS];

static void *reader(void *p)
{
	int id = (int)(intptr_t)p;
	struct tree_children kids = {0};
	const struct tree_node *n;
	struct zk_stat st;

	urcu_qsbr_register_thread();
	n = tree_lookup(t, "/p", 2); /* never deleted */
	while (!uatomic_read(&writer_done)) {
		if (tree_node_children(t, n, &kids, &st) != 0) {
			faults[id]++;
		} else {
			faults[id] += check_list(&kids, &st, STAY > CHURN ? STAY : CHURN);
			if (kids.retries > max_retries[id])
				max_retries[id] = kids.retries;
			fallbacks[id] += kids.retries == TREE_CHILDREN_RETRIES;
		}
		uatomic_set(&reads[id], reads[id] + 1);
		urcu_qsbr_quiescent_state();
	}
	tree_children_release(&kids);
	urcu_qsbr_unregister_thread();
	return NULL;
}

/* Every reader has made at least min reads. */
static bool readers_read(unsigned long min)
{
	for (int i = 0; i < READERS; i++)
		if (uatomic_read(&reads[i]) < min)
			return false;
	return true;
}

Test(tree_children, readers_of_a_parent_under_constant_change_end_in_bounded_retries,
     .timeout = 240)
{
	struct tree_apply_out out = {0};
	pthread_t th[READERS];
	bool present[CHURN] = {false};
	unsigned seed = 4242;
	char path[32];
	long writes = 0;

	urcu_qsbr_register_thread();
	setup_parent(&out, STAY);
	for (int i = 0; i < READERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, reader, (void *)(intptr_t)i), 0);
	/* Until the readers made MIN_READS reads (at most MAX_WRITES), and in
	 * any case until each made one during the writes (a loaded machine
	 * may start a thread late; bounded too). */
	while ((writes < MAX_WRITES && !readers_read(MIN_READS)) ||
	       (!readers_read(1) && writes < 20L * MAX_WRITES)) {
		unsigned k = (unsigned)rand_r(&seed) % CHURN;

		snprintf(path, sizeof(path), "/p/c%u", k);
		op(&out, present[k] ? ZK_OP_DELETE : ZK_OP_CREATE, path);
		present[k] = !present[k];
		writes++;
		if (writes % 32 == 0)
			tree_reclaim_flush(t);
		urcu_qsbr_quiescent_state();
	}
	uatomic_set(&writer_done, 1);
	urcu_qsbr_thread_offline();
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	urcu_qsbr_thread_online();
	for (int i = 0; i < READERS; i++) {
		cr_log_info(
		    "reader %d: %lu reads, %lu after %u retries, at most %u retries (%ld writes)",
		    i, reads[i], fallbacks[i], TREE_CHILDREN_RETRIES, max_retries[i], writes);
		cr_assert_eq(faults[i], 0, "reader %d: %lu lists did not match their Stat", i,
			     faults[i]);
		cr_assert_leq(max_retries[i], TREE_CHILDREN_RETRIES,
			      "reader %d retried a read %u times", i, max_retries[i]);
		cr_assert_geq(reads[i], 1);
	}
	tree_apply_out_release(&out);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_assert_no_leaks();
}
