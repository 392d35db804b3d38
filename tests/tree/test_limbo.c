// SPDX-License-Identifier: Apache-2.0
/*
 * Deferred frees when the limbo batch allocation fails.  A delete's
 * events point into the deleted node (its path) and its ACL entry until
 * the writer's next quiescent state; tree_defer_free must never free
 * them earlier, however memory stands.  This file overrides the weak
 * tree_limbo_alloc to fail on demand; reading the events after each
 * delete is a use after free under ASan if a free came too early.
 */
#include <stdio.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

#include "tests/common/leakcheck.h"
#include "tree_test_util.h"
#include "tree/tree_priv.h"

static bool fail_limbo; /* the next tree_limbo_alloc calls fail */
static unsigned limbo_failed;

void *tree_limbo_alloc(size_t bytes)
{
	if (fail_limbo) {
		limbo_failed++;
		return NULL;
	}
	return malloc(bytes);
}

static struct tree *t;
static struct tree_apply_out out;
static struct test_acl acl_of_a;

static void setup(void)
{
	struct tree_opts opts = { .max_data = ZK_DEFAULT_MAX_BUFFER };

	urcu_qsbr_register_thread();
	fail_limbo = false;
	limbo_failed = 0;
	t = tree_new(&opts);
	cr_assert_not_null(t);
	/* An ACL only the test's nodes hold: deleting the last frees its entry. */
	test_acl_make(&acl_of_a, ZK_PERM_ALL, "digest", "limbo:secret");
	memset(&out, 0, sizeof(out));
}

static void teardown(void)
{
	fail_limbo = false;
	tree_apply_out_release(&out);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

TestSuite(tree_limbo, .init = setup, .fini = teardown, .timeout = 60);

/* Data above the inline bound, so the node and its data are two frees. */
static char big_data[400];

static void create(const char *path, int64_t zxid)
{
	struct tree_txn txn;

	memset(big_data, 'd', sizeof(big_data) - 1);
	test_txn(&txn, ZK_OP_CREATE, zxid);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf(big_data);
	txn.ops[0].acl = acl_of_a.list;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_OK);
}

static int delete (const char *path, int64_t zxid)
{
	struct tree_txn txn;

	test_txn(&txn, ZK_OP_DELETE, zxid);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].version = -1;
	return tree_apply(t, &txn, &out);
}

/* Reads every byte the delete's events lead to, as a watch dispatcher does. */
static void assert_delete_events(const char *path)
{
	cr_assert_eq(out.nresults, 1);
	cr_assert_eq(out.results[0].err, ZK_OK);
	cr_assert_eq(out.nevents, 2);
	cr_assert_eq(out.events[0].type, ZK_EVENT_NODE_DELETED);
	cr_assert_eq(out.events[0].path.len, (int32_t)strlen(path));
	cr_assert_eq(memcmp(out.events[0].path.p, path, strlen(path)), 0);
	cr_assert_eq(out.events[0].acl.raw_len, acl_of_a.list.raw_len);
	cr_assert_eq(
	    memcmp(out.events[0].acl.raw, acl_of_a.list.raw, (size_t)acl_of_a.list.raw_len), 0);
	cr_assert_eq(out.events[1].type, ZK_EVENT_NODE_CHILDREN_CHANGED);
	cr_assert_eq(out.events[1].path.len, 1);
	cr_assert_eq(out.events[1].path.p[0], '/');
}

Test(tree_limbo, delete_keeps_node_until_quiescent_when_batch_alloc_fails)
{
	create("/a", 1);
	/* Make sure the delete's frees need a new batch. */
	tree_reclaim_flush(t);
	urcu_qsbr_quiescent_state();

	fail_limbo = true;
	cr_assert_eq(delete ("/a", 2), 0);
	cr_assert_gt(limbo_failed, 0, "the delete should have asked for a batch");
	/* The node, its data and its ACL entry are still readable. */
	assert_delete_events("/a");

	/* And a deferred free made now is still pending, not done at once. */
	void *p = malloc(64);
	cr_assert_not_null(p);
	uint64_t seq = tree_defer_free(t, p, 64);
	cr_assert_neq(seq, UINT64_MAX, "p was leaked");
	cr_assert_gt(seq, tree_limbo_done(t), "p was freed before a grace period");

	fail_limbo = false;
	tree_reclaim_flush(t);
	urcu_qsbr_quiescent_state();
	cr_assert_null(tree_lookup(t, "/a", 2));
}

Test(tree_limbo, deletes_across_batches_with_every_allocation_failing)
{
	char path[32];
	int n = 3 * 64, enomem = 0, spare_used = 0;

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/n%d", i);
		create(path, 1 + i);
	}
	fail_limbo = true;
	for (int i = 0; i < n; i++) {
		int64_t zxid = 1000 + i;

		snprintf(path, sizeof(path), "/n%d", i);
		bool had_spare = t->limbo_spare != NULL;
		int rc = delete (path, zxid);
		if (had_spare) {
			/* The reserve covers any op: it never fails then. */
			cr_assert_eq(rc, 0);
			spare_used += !t->limbo_spare;
		}
		if (rc == -ENOMEM) {
			/* No reserve left and none to be had: refused, nothing changed. */
			enomem++;
			cr_assert_not_null(tree_lookup(t, path, strlen(path)));
			fail_limbo = false;
			cr_assert_eq(tree_limbo_reserve(t), 0);
			fail_limbo = true;
			rc = delete (path, zxid);
		}
		cr_assert_eq(rc, 0);
		assert_delete_events(path);
		cr_assert_null(tree_lookup(t, path, strlen(path)));
		/* The writer's quiescent state: now the frees may happen. */
		if (i % 7 == 0)
			urcu_qsbr_quiescent_state();
	}
	/*
	 * Three frees a delete (node, data, and the ext block that holds
	 * out-of-line data; the shared ACL entry at the last): a new batch
	 * every 21-22 deletes, each from the reserve, and the delete after
	 * each found no reserve and was refused once.
	 */
	cr_assert_eq(spare_used, (3 * n + 1 + 63) / 64);
	cr_assert_geq(enomem, spare_used - 1);
	cr_assert_leq(enomem, spare_used);
	cr_assert_eq(t->limbo_leaked, 0);
	fail_limbo = false;
	tree_reclaim_flush(t);
	urcu_qsbr_quiescent_state();
	cr_assert_eq(tree_node_count(t), 4);
}
