// SPDX-License-Identifier: Apache-2.0
/*
 * czxid and ctime in an 8-byte stamp (tree/stamp.c): exact round trips
 * (negative and extreme values too), bases shared by nearby values, and
 * the wide fallback when the base table is full: such nodes keep their
 * values in a prefix, and read, digest, snapshot, reload and free like
 * any other (ephemeral and TTL owners included).  Criterion forks per
 * test, so each test starts with an empty table.
 */
#include <urcu-qsbr.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/common/leakcheck.h"
#include "tree_test_util.h"
#include "tree/tree_priv.h"

Test(tree_stamp, round_trips_exactly)
{
	static const int64_t v[] = {0,
				    1,
				    -1,
				    (int64_t)STAMP_MASK,
				    (int64_t)STAMP_MASK + 1,
				    0x100000001LL,
				    0x7fffffff00000001LL,
				    1765000000000LL,
				    -1765000000000LL,
				    INT64_MAX,
				    INT64_MIN,
				    INT64_MIN + 1};
	size_t n = sizeof(v) / sizeof(v[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint64_t s = stamp_encode(v[i], v[j]);

			cr_assert(!stamp_is_wide(s));
			cr_assert_eq(stamp_czxid(s), v[i], "czxid %lld", (long long)v[i]);
			cr_assert_eq(stamp_ctime(s), v[j], "ctime %lld", (long long)v[j]);
		}
	/* Every pair is its own (zxid, time) bucket but a few coincide. */
	cr_assert_leq(stamp_bases_used(), n * n);
}

Test(tree_stamp, nearby_values_share_a_base)
{
	const int64_t z0 = 0x500000000LL, t0 = 1765000000000LL & ~(int64_t)STAMP_MASK;
	uint32_t before = stamp_bases_used();

	for (int64_t i = 0; i < 100000; i++) {
		uint64_t s = stamp_encode(z0 + i * 100, t0 + i * 7);

		cr_assert_eq(stamp_czxid(s), z0 + i * 100);
		cr_assert_eq(stamp_ctime(s), t0 + i * 7);
	}
	/* 10^7 zxids and 7 * 10^5 ms: one zxid bucket edge at most. */
	cr_assert_leq(stamp_bases_used() - before, 2);
	cr_assert_geq(stamp_bases_used() - before, 1);
}

Test(tree_stamp, full_table_goes_wide)
{
	uint64_t s = stamp_encode(5, 1005);

	stamp_set_limit(stamp_bases_used());
	cr_assert_eq(stamp_encode(1LL << 40, 1005), STAMP_WIDE_VALUE);
	cr_assert(stamp_is_wide(stamp_encode(5, 1LL << 40)));
	/* A value in a known base still encodes (another thread: no cache). */
	cr_assert_eq(stamp_encode(6, 1006) >> 48, s >> 48);
}

static struct test_acl open_acl;

static void create(struct tree *t, const char *path, int64_t owner, int64_t zxid, int64_t time)
{
	struct tree_apply_out out = {0};
	struct tree_txn txn;

	test_txn(&txn, ZK_OP_CREATE2, zxid);
	txn.time = time;
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf("some data");
	txn.ops[0].acl = open_acl.list;
	txn.ops[0].ephemeral_owner = owner;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_OK, "create %s", path);
	tree_apply_out_release(&out);
}

static const struct {
	const char *path;
	int64_t owner;
	int64_t zxid;
	int64_t time;
} nodes[] = {
    {"/a", 0, 0x200000001LL, 1764000000000LL},
    {"/a/p", 0, 0x300000002LL, 1765000000000LL},
    {"/a/c", TREE_OWNER_CONTAINER, 0x400000003LL, 1766000000000LL},
    {"/a/e", 0x1234567890abcdefLL, 0x500000004LL, 1767000000000LL},
    {"/a/t", 0, 0x600000005LL, 1768000000000LL}, /* owner: a TTL, set below */
};

/* The nodes above in a fresh tree, with at most limit stamp bases. */
static struct tree *build(uint32_t limit)
{
	struct tree_opts opts = {.max_data = ZK_DEFAULT_MAX_BUFFER, .extended_types = true};
	struct tree *t = tree_new(&opts);

	cr_assert_not_null(t);
	stamp_set_limit(limit);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		create(t, nodes[i].path, i == 4 ? tree_owner_ttl(5000) : nodes[i].owner,
		       nodes[i].zxid, nodes[i].time);
	stamp_set_limit(STAMP_BASES);
	return t;
}

static void check(struct tree *t, bool wide)
{
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		const struct tree_node *n = tree_lookup(t, nodes[i].path, strlen(nodes[i].path));
		struct zk_stat st;

		cr_assert_not_null(n);
		cr_assert_eq(stamp_is_wide(n->stamp), wide, "%s", nodes[i].path);
		tree_node_read(n, &st, NULL);
		cr_assert_eq(st.czxid, nodes[i].zxid, "%s", nodes[i].path);
		cr_assert_eq(st.ctime, nodes[i].time, "%s", nodes[i].path);
		cr_assert_eq(st.mzxid, nodes[i].zxid);
		cr_assert_eq(st.mtime, nodes[i].time);
	}
	cr_assert_eq(tree_node_owner(tree_lookup(t, "/a/e", 4)), nodes[3].owner);
	cr_assert_eq(tree_node_owner(tree_lookup(t, "/a/t", 4)), tree_owner_ttl(5000));
	cr_assert_eq(tree_node_owner(tree_lookup(t, "/a/c", 4)), TREE_OWNER_CONTAINER);
}

Test(tree_stamp, wide_nodes_read_digest_snapshot_and_free)
{
	struct tree_opts opts = {.max_data = ZK_DEFAULT_MAX_BUFFER, .extended_types = true};
	struct tree *narrow, *wide, *loaded;
	int64_t zxid;
	FILE *f;

	urcu_qsbr_register_thread();
	test_acl_make(&open_acl, ZK_PERM_ALL, "world", "anyone");
	/* No room for a base of these values: every node is wide. */
	wide = build(stamp_bases_used());
	check(wide, true);
	narrow = build(STAMP_BASES);
	check(narrow, false);
	cr_assert_eq(tree_digest(wide), tree_digest(narrow));

	f = tmpfile();
	cr_assert_not_null(f);
	cr_assert_eq(tree_snapshot_write(wide, fileno(f), &zxid), 0);
	cr_assert_eq(lseek(fileno(f), 0, SEEK_SET), 0);
	cr_assert_eq(tree_snapshot_load(fileno(f), &opts, &loaded, &zxid), 0);
	fclose(f);
	check(loaded, false); /* the table has room again */
	cr_assert_eq(tree_digest(loaded), tree_digest(narrow));

	tree_free(loaded);
	tree_free(wide);
	tree_free(narrow);
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

/*
 * An import (or a snapshot) that brings a system node tree_new made
 * replaces it in place: its czxid and ctime too, exactly as given, though
 * the node's stamp was made by tree_new (tree_replace_loaded).  Also when
 * tree_new's node is wide (the table was full then).
 */
static void import_system(bool wide)
{
	static const char *const sys[] = {"/", "/zookeeper", "/zookeeper/quota"};
	struct tree_opts opts = {.max_data = ZK_DEFAULT_MAX_BUFFER};
	struct tree *t;

	urcu_qsbr_register_thread();
	test_acl_make(&open_acl, ZK_PERM_ALL, "world", "anyone");
	if (wide) {
		stamp_set_limit(stamp_bases_used());
		stamp_cache.ok = false; /* as another thread: (0, 0) not cached */
	}
	t = tree_new(&opts);
	cr_assert_not_null(t);
	stamp_set_limit(STAMP_BASES);
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		const struct tree_node *n = tree_lookup(t, sys[i], strlen(sys[i]));
		struct zk_stat in = {.czxid = 0x700000001LL + (int64_t)i,
				     .mzxid = 0x700000009LL,
				     .pzxid = 0x700000009LL,
				     .ctime = 1765000000000LL - (int64_t)i,
				     .mtime = 1765000000009LL,
				     .version = 3},
			       out;

		cr_assert_not_null(n);
		cr_assert_eq(stamp_is_wide(n->stamp), wide, "%s", sys[i]);
		cr_assert_eq(
		    tree_import_node(t, test_buf(sys[i]), &in, test_buf("x"), &open_acl.list), 0,
		    "%s", sys[i]);
		tree_export_stat(n, &out);
		cr_assert_eq(out.czxid, in.czxid, "%s czxid %llx", sys[i], (long long)out.czxid);
		cr_assert_eq(out.ctime, in.ctime, "%s ctime %lld", sys[i], (long long)out.ctime);
		cr_assert_eq(out.mzxid, in.mzxid);
		cr_assert_eq(out.mtime, in.mtime);
		cr_assert_eq(out.version, in.version);
	}
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

Test(tree_stamp, import_replaces_a_system_nodes_czxid_and_ctime)
{
	import_system(false);
}

Test(tree_stamp, import_replaces_a_wide_system_nodes_czxid_and_ctime)
{
	import_system(true);
}
