// SPDX-License-Identifier: Apache-2.0
/*
 * The path index when its growth cannot get memory: the op that needed
 * the bigger table fails with -ENOMEM and changes nothing (no node, same
 * digest, counts, data size and parent Stat), the next one succeeds; a
 * snapshot load whose index cannot be sized fails with -ENOMEM, frees
 * every node it made (LeakSanitizer in build-asan) and returns no tree.
 *
 * Linked with -Wl,--wrap=aligned_alloc (tests/tree/meson.build): index
 * tables are the only 64-byte-aligned allocations of the tree (nslab.c
 * asks for 64 KiB alignment), so failing those fails exactly the growth.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "tests/common/leakcheck.h"
#include "tree/tree_priv.h"
#include "tree_test_util.h"

void *__real_aligned_alloc(size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);

static int fail_tables;

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	if (fail_tables && align == 64)
		return NULL;
	return __real_aligned_alloc(align, size);
}

static struct tree *t;
static struct tree_apply_out out;
static struct test_acl open_acl;

static void setup(void)
{
	struct tree_opts opts = {.max_data = ZK_DEFAULT_MAX_BUFFER};

	urcu_qsbr_register_thread();
	t = tree_new(&opts);
	cr_assert_not_null(t);
	test_acl_make(&open_acl, ZK_PERM_ALL, "world", "anyone");
}

static void teardown(void)
{
	tree_apply_out_release(&out);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

TestSuite(tree_pindex_nomem, .init = setup, .fini = teardown, .timeout = 60);

/* Applies one op; returns tree_apply's result, the op's error in *err. */
static int apply(int32_t type, const char *path, int64_t zxid, int32_t *err)
{
	struct tree_txn txn;
	int rc;

	test_txn(&txn, type, zxid);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf("data");
	txn.ops[0].acl = open_acl.list;
	txn.ops[0].parent_cversion = -1;
	txn.ops[0].version = -1;
	rc = tree_apply(t, &txn, &out);
	if (!rc)
		*err = out.results[0].err;
	return rc;
}

static void create_ok(const char *path, int64_t zxid)
{
	int32_t err = -1;

	cr_assert_eq(apply(ZK_OP_CREATE, path, zxid, &err), 0, "%s", path);
	cr_assert_eq(err, ZK_OK, "%s", path);
}

Test(tree_pindex_nomem, a_create_whose_growth_fails_changes_nothing)
{
	uint64_t slots = pidx_slots(&t->nodes);
	char path[32];
	int64_t zxid = 1;
	unsigned i = 0;
	int32_t err;

	create_ok("/p", zxid++);
	/* Fill the table to its load limit: the next add must grow it. */
	while (t->nodes.count + 1 <= slots - slots / 32) {
		snprintf(path, sizeof(path), "/p/n%u", i++);
		create_ok(path, zxid++);
	}
	cr_assert_eq(pidx_slots(&t->nodes), slots);
	const struct tree_node *p = tree_lookup(t, "/p", 2);
	struct zk_stat before, after;

	/* Zeroed first: memcmp below compares the padding too. */
	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	uint64_t digest = tree_digest(t), count = tree_node_count(t);
	int64_t size = tree_approximate_data_size(t);
	tree_node_read(p, &before, NULL);

	snprintf(path, sizeof(path), "/p/n%u", i);
	fail_tables = 1;
	cr_assert_eq(apply(ZK_OP_CREATE, path, zxid, &err), -ENOMEM);
	fail_tables = 0;
	cr_assert_null(tree_lookup(t, path, strlen(path)));
	cr_assert_eq(pidx_slots(&t->nodes), slots);
	cr_assert_eq(tree_digest(t), digest);
	cr_assert_eq(tree_node_count(t), count);
	cr_assert_eq(tree_approximate_data_size(t), size);
	tree_node_read(p, &after, NULL);
	cr_assert(
	    memcmp(&before, &after, sizeof(before)) == 0,
	    "the parent's Stat changed: cversion %d -> %d, pzxid %lld -> %lld, children %d -> %d",
	    before.cversion, after.cversion, (long long)before.pzxid, (long long)after.pzxid,
	    before.num_children, after.num_children);

	/* The same txn again, with memory: the table grows and keeps every node. */
	create_ok(path, zxid++);
	cr_assert_eq(pidx_slots(&t->nodes), 2 * slots);
	for (unsigned k = 0; k <= i; k++) {
		snprintf(path, sizeof(path), "/p/n%u", k);
		cr_assert_not_null(tree_lookup(t, path, strlen(path)), "%s lost", path);
	}
	tree_node_read(p, &after, NULL);
	cr_assert_eq(after.num_children, before.num_children + 1);
}

Test(tree_pindex_nomem, a_load_whose_index_cannot_grow_fails_and_frees_its_nodes)
{
	char path[32];
	int64_t zxid = 1, z;
	struct tree *b = (struct tree *)1;

	create_ok("/p", zxid++);
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(path, sizeof(path), "/p/n%u", i);
		create_ok(path, zxid++);
	}
	int fd = memfd_create("snapshot", MFD_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(tree_snapshot_write(t, fd, &z), 0);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	fail_tables = 1;
	cr_assert_eq(tree_snapshot_load(fd, &t->opts, &b, &z), -ENOMEM);
	fail_tables = 0;
	cr_assert_null(b);
	/* With memory the same file loads. */
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	cr_assert_eq(tree_snapshot_load(fd, &t->opts, &b, &z), 0);
	cr_assert_eq(tree_digest(b), tree_digest(t));
	cr_assert_eq(tree_node_count(b), tree_node_count(t));
	close(fd);
	tree_free(b);
}
