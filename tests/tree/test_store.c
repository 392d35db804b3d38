// SPDX-License-Identifier: Apache-2.0
/*
 * The znode store: fresh-tree system nodes, tree_apply for every txn type
 * with ZooKeeper's Stat arithmetic and watch events, replay tolerance,
 * sessions and ephemerals, containers/TTL, ACL dedup, digest.
 */
#include <urcu-qsbr.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "tests/common/leakcheck.h"
#include "common/nsstat.h"
#include "tree_test_util.h"
#include "tree/tree_priv.h"

static struct tree *t;
static struct tree_apply_out out;
static struct test_acl open_acl;

static void setup(void)
{
	struct tree_opts opts = { .max_data = ZK_DEFAULT_MAX_BUFFER, .extended_types = true };

	urcu_qsbr_register_thread();
	t = tree_new(&opts);
	cr_assert_not_null(t);
	test_acl_make(&open_acl, ZK_PERM_ALL, "world", "anyone");
	memset(&out, 0, sizeof(out));
}

static void teardown(void)
{
	tree_apply_out_release(&out);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

TestSuite(tree_store, .init = setup, .fini = teardown, .timeout = 30);

static struct zk_stat stat_of(const char *path)
{
	const struct tree_node *n = tree_lookup(t, path, strlen(path));
	struct zk_stat st;

	cr_assert_not_null(n, "%s should exist", path);
	tree_node_read(n, &st, NULL);
	return st;
}

static int32_t create(const char *path, const char *data, int64_t owner, int64_t zxid)
{
	struct tree_txn txn;

	test_txn(&txn, ZK_OP_CREATE2, zxid);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf(data);
	txn.ops[0].acl = open_acl.list;
	txn.ops[0].ephemeral_owner = owner;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.nresults, 1);
	return out.results[0].err;
}

static int32_t simple_op(int32_t type, const char *path, int32_t version, const char *data,
			 int64_t zxid)
{
	struct tree_txn txn;

	test_txn(&txn, type, zxid);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf(data);
	txn.ops[0].version = version;
	txn.ops[0].acl = open_acl.list;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	return out.results[0].err;
}

static void assert_event(uint32_t i, int32_t type, const char *path)
{
	cr_assert_gt(out.nevents, i);
	cr_assert_eq(out.events[i].type, type, "event %u type %d", i, out.events[i].type);
	cr_assert(jute_buf_eq(out.events[i].path, path), "event %u path %.*s", i,
		  out.events[i].path.len, out.events[i].path.p);
}

Test(tree_store, fresh_tree_has_zookeepers_system_nodes)
{
	struct zk_stat st;
	struct jute_acl_list acl;
	struct jute_acl_iter it;
	struct jute_acl a;

	cr_assert_eq(tree_node_count(t), 4);
	st = stat_of("/");
	cr_assert_eq(st.num_children, 1);
	cr_assert_eq(st.cversion, -1, "2 * 0 creates - 1 child");
	cr_assert_eq(st.czxid, 0);
	st = stat_of("/zookeeper");
	cr_assert_eq(st.num_children, 2);
	cr_assert_eq(st.cversion, -2);
	st = stat_of("/zookeeper/config");
	cr_assert_eq(st.aversion, -1);
	cr_assert_eq(st.data_length, 0);
	tree_node_acl(t, tree_lookup(t, "/zookeeper/config", 17), NULL, &acl);
	cr_assert_eq(acl.count, 1);
	jute_acl_iter_init(&it, &acl);
	cr_assert(jute_acl_next(&it, &a));
	cr_assert_eq(a.perms, ZK_PERM_READ);
	cr_assert(jute_buf_eq(a.scheme, "world"));
	cr_assert(jute_buf_eq(a.id, "anyone"));
	cr_assert_eq(tree_last_zxid(t), 0);
	cr_assert_eq(tree_approximate_data_size(t), 44, "as ZooKeeper's fresh DataTree");
}

Test(tree_store, create_sets_stat_and_parent_as_datatree)
{
	struct zk_stat st, root_before = stat_of("/");
	struct jute_buf data;

	cr_assert_eq(create("/a", "hello", 0, 5), ZK_OK);
	st = out.results[0].stat;
	cr_assert_eq(st.czxid, 5);
	cr_assert_eq(st.mzxid, 5);
	cr_assert_eq(st.pzxid, 5);
	cr_assert_eq(st.ctime, 1005);
	cr_assert_eq(st.mtime, 1005);
	cr_assert_eq(st.version, 0);
	cr_assert_eq(st.cversion, 0);
	cr_assert_eq(st.aversion, 0);
	cr_assert_eq(st.data_length, 5);
	cr_assert_eq(st.ephemeral_owner, 0);

	st = stat_of("/");
	cr_assert_eq(st.num_children, root_before.num_children + 1);
	cr_assert_eq(st.cversion, root_before.cversion + 1);
	cr_assert_eq(st.pzxid, 5);
	assert_event(0, ZK_EVENT_NODE_CREATED, "/a");
	assert_event(1, ZK_EVENT_NODE_CHILDREN_CHANGED, "/");
	cr_assert_eq(out.nevents, 2);

	tree_node_read(tree_lookup(t, "/a", 2), NULL, &data);
	cr_assert_eq(data.len, 5);
	cr_assert_eq(memcmp(data.p, "hello", 5), 0);
	cr_assert_eq(tree_last_zxid(t), 5);
}

Test(tree_store, null_data_stays_null_and_empty_stays_empty)
{
	struct jute_buf data;

	cr_assert_eq(create("/null", NULL, 0, 1), ZK_OK);
	cr_assert_eq(create("/empty", "", 0, 2), ZK_OK);
	tree_node_read(tree_lookup(t, "/null", 5), NULL, &data);
	cr_assert_eq(data.len, -1);
	tree_node_read(tree_lookup(t, "/empty", 6), NULL, &data);
	cr_assert_eq(data.len, 0);
	cr_assert_eq(stat_of("/null").data_length, 0);
}

Test(tree_store, delete_bumps_pzxid_not_persisted_cversion)
{
	struct tree_node *root = tree_find(t, "/", 1);

	create("/a", "x", 0, 1);
	int32_t creates = root->ext->cversion;
	struct zk_stat before = stat_of("/");
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/a", 0, NULL, 2), ZK_OK);
	struct zk_stat after = stat_of("/");
	cr_assert_eq(root->ext->cversion, creates, "delete does not count as a create");
	cr_assert_eq(after.cversion, before.cversion + 1, "but clients see one more change");
	cr_assert_eq(after.num_children, before.num_children - 1);
	cr_assert_eq(after.pzxid, 2);
	cr_assert_null(tree_lookup(t, "/a", 2));
	assert_event(0, ZK_EVENT_NODE_DELETED, "/a");
	assert_event(1, ZK_EVENT_NODE_CHILDREN_CHANGED, "/");
	cr_assert_eq(tree_node_count(t), 4);
	/* NodeDeleted carries the gone node's ACL (watchers need READ on it). */
	cr_assert_eq(out.events[0].acl.raw_len, open_acl.list.raw_len);
	cr_assert_eq(memcmp(out.events[0].acl.raw, open_acl.list.raw, open_acl.list.raw_len), 0);
	cr_assert_eq(out.events[1].acl.raw_len, 0);
}

Test(tree_store, set_data_replaces_version_mzxid_mtime)
{
	create("/a", "one", 0, 1);
	cr_assert_eq(simple_op(ZK_OP_SETDATA, "/a", 1, "two!", 7), ZK_OK);
	struct zk_stat st = out.results[0].stat;
	cr_assert_eq(st.version, 1);
	cr_assert_eq(st.mzxid, 7);
	cr_assert_eq(st.mtime, 1007);
	cr_assert_eq(st.czxid, 1);
	cr_assert_eq(st.data_length, 4);
	assert_event(0, ZK_EVENT_NODE_DATA_CHANGED, "/a");
	cr_assert_eq(out.nevents, 1);
	cr_assert_eq(simple_op(ZK_OP_SETDATA, "/missing", 1, "x", 8), ZK_NONODE);
	cr_assert_eq(tree_approximate_data_size(t), 44 + 2 + 4);
	simple_op(ZK_OP_DELETE, "/a", -1, NULL, 9);
	cr_assert_eq(tree_approximate_data_size(t), 44);
}

Test(tree_store, set_acl_changes_aversion_and_fires_nothing)
{
	struct test_acl digest;
	struct jute_acl_list acl;

	create("/a", "x", 0, 1);
	test_acl_make(&digest, ZK_PERM_READ, "digest", "bob:hash");
	struct tree_txn txn;
	test_txn(&txn, ZK_OP_SETACL, 2);
	txn.ops[0].path = test_buf("/a");
	txn.ops[0].acl = digest.list;
	txn.ops[0].version = 1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_OK);
	cr_assert_eq(out.results[0].stat.aversion, 1);
	cr_assert_eq(out.results[0].stat.mzxid, 1, "setACL leaves mzxid");
	cr_assert_eq(out.nevents, 0);
	tree_node_acl(t, tree_lookup(t, "/a", 2), NULL, &acl);
	cr_assert_eq(acl.raw_len, digest.list.raw_len);
	cr_assert_eq(memcmp(acl.raw, digest.list.raw, acl.raw_len), 0);
}

Test(tree_store, acl_lists_are_shared_and_refcounted)
{
	uint32_t base = acl_table_size(t->acls);

	create("/a", "x", 0, 1);
	create("/b", "x", 0, 2);
	cr_assert_eq(tree_node_acl_id(tree_find(t, "/a", 2), tree_find(t, "/a", 2)->ext),
		     tree_node_acl_id(tree_find(t, "/b", 2), tree_find(t, "/b", 2)->ext));
	cr_assert_eq(acl_table_size(t->acls), base, "open ACL already held by system nodes");

	struct test_acl digest;
	test_acl_make(&digest, ZK_PERM_ALL, "digest", "u:p");
	struct tree_txn txn;
	test_txn(&txn, ZK_OP_SETACL, 3);
	txn.ops[0].path = test_buf("/a");
	txn.ops[0].acl = digest.list;
	tree_apply(t, &txn, &out);
	cr_assert_eq(acl_table_size(t->acls), base + 1);
	simple_op(ZK_OP_DELETE, "/a", 0, NULL, 4);
	cr_assert_eq(acl_table_size(t->acls), base, "last user gone, entry gone");
}

static int count_cb(void *arg, const struct tree_node *n)
{
	(void)n;
	(*(int *)arg)++;
	return 0;
}

Test(tree_store, ephemerals_are_indexed_by_session_and_closed_with_it)
{
	struct tree_txn txn;
	int count = 0;

	test_txn(&txn, ZK_OP_CREATESESSION, 1);
	txn.session = 0x42;
	txn.nops = 0;
	txn.timeout = 30000;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(tree_session_timeout(t, 0x42), 30000);

	create("/p", "", 0, 2);
	cr_assert_eq(create("/p/e1", "", 0x42, 3), ZK_OK);
	cr_assert_eq(out.results[0].stat.ephemeral_owner, 0x42);
	cr_assert_eq(create("/q", "", 0x42, 4), ZK_OK);
	cr_assert_eq(create("/p/e1/child", "", 0, 5), ZK_NOCHILDRENFOREPHEMERALS);

	tree_session_ephemerals(t, 0x42, "/", 1, count_cb, &count);
	cr_assert_eq(count, 2);
	count = 0;
	tree_session_ephemerals(t, 0x42, "/p", 2, count_cb, &count);
	cr_assert_eq(count, 1);
	/* the O(1) count agrees (the NOCHILDRENFOREPHEMERALS create added none) */
	cr_assert_eq(tree_session_ephemeral_count(t, 0x42), 2);
	cr_assert_eq(tree_session_ephemeral_count(t, 0x43), 0);

	/* closeSession lists one path; the other is found through the index. */
	struct tree_op del = { .type = ZK_OP_DELETE, .path = test_buf("/q") };
	memset(&txn, 0, sizeof(txn));
	txn.type = ZK_OP_CLOSESESSION;
	txn.session = 0x42;
	txn.zxid = 6;
	txn.ops = &del;
	txn.nops = 1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_null(tree_lookup(t, "/q", 2));
	cr_assert_null(tree_lookup(t, "/p/e1", 5));
	cr_assert_eq(out.nevents, 4);
	assert_event(0, ZK_EVENT_NODE_DELETED, "/q");
	assert_event(2, ZK_EVENT_NODE_DELETED, "/p/e1");
	assert_event(3, ZK_EVENT_NODE_CHILDREN_CHANGED, "/p");
	/* Found through the session index, not listed: it carries its ACL too. */
	cr_assert_eq(out.events[2].acl.raw_len, open_acl.list.raw_len);
	cr_assert_eq(tree_session_timeout(t, 0x42), -1);
	cr_assert_eq(tree_session_ephemeral_count(t, 0x42), 0);
	cr_assert_eq(stat_of("/p").pzxid, 6);
}

Test(tree_store, containers_and_ttl_nodes_show_owner_zero)
{
	cr_assert_eq(create("/c", "", TREE_OWNER_CONTAINER, 1), ZK_OK);
	cr_assert_eq(out.results[0].stat.ephemeral_owner, 0);
	cr_assert_eq(create("/ttl", "", tree_owner_ttl(5000), 2), ZK_OK);
	cr_assert_eq(out.results[0].stat.ephemeral_owner, 0);
	cr_assert_eq(tree_find(t, "/c", 2)->kind, NODE_CONTAINER);
	cr_assert_eq(tree_find(t, "/ttl", 4)->kind, NODE_TTL);
	cr_assert_eq(create("/c/kid", "", 0, 3), ZK_OK, "containers take children");
	cr_assert_eq(t->containers.live, 1);
	cr_assert_eq(t->ttls.live, 1);
	simple_op(ZK_OP_DELETE, "/c/kid", -1, NULL, 4);
	simple_op(ZK_OP_DELETE, "/c", -1, NULL, 5);
	cr_assert_eq(t->containers.live, 0);
}

Test(tree_store, multi_applies_all_or_reports_errors_without_applying)
{
	struct tree_op ops[3] = {
		{ .type = ZK_OP_CREATE, .path = test_buf("/m1"), .data = test_buf("a"),
		  .acl = open_acl.list, .parent_cversion = -1 },
		{ .type = ZK_OP_CREATE, .path = test_buf("/m2"), .data = test_buf("b"),
		  .acl = open_acl.list, .parent_cversion = -1 },
		{ .type = ZK_OP_CHECK, .path = test_buf("/m1") },
	};
	struct tree_txn txn = { .type = ZK_OP_MULTI, .zxid = 1, .ops = ops, .nops = 3 };

	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.nresults, 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(out.results[i].err, ZK_OK);
	cr_assert_not_null(tree_lookup(t, "/m1", 3));
	cr_assert_not_null(tree_lookup(t, "/m2", 3));
	cr_assert_eq(out.nevents, 4);

	/* As prep encodes a failed multi: the failing op as ERROR. */
	struct tree_op failed[3] = {
		{ .type = ZK_OP_CREATE, .path = test_buf("/m3"), .acl = open_acl.list,
		  .parent_cversion = -1 },
		{ .type = ZK_OP_ERROR, .err = ZK_NODEEXISTS },
		{ .type = ZK_OP_ERROR, .err = ZK_RUNTIMEINCONSISTENCY },
	};
	txn.ops = failed;
	txn.zxid = 2;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_OK);
	cr_assert_eq(out.results[1].err, ZK_NODEEXISTS);
	cr_assert_eq(out.results[2].err, ZK_RUNTIMEINCONSISTENCY);
	cr_assert_null(tree_lookup(t, "/m3", 3), "nothing of a failed multi is applied");
	cr_assert_eq(out.nevents, 0);
}

Test(tree_store, replayed_txns_are_tolerated_like_datatree)
{
	struct tree_node *root = tree_find(t, "/", 1);

	create("/a", "x", 0, 1);
	int32_t cv = root->ext->cversion;
	/* A create replayed over a snapshot that has it: NODEEXISTS, and the
	 * parent's cversion is raised to the txn's (never lowered). */
	struct tree_txn txn;
	test_txn(&txn, ZK_OP_CREATE, 9);
	txn.ops[0].path = test_buf("/a");
	txn.ops[0].acl = open_acl.list;
	txn.ops[0].parent_cversion = cv + 3;
	tree_apply(t, &txn, &out);
	cr_assert_eq(out.results[0].err, ZK_NODEEXISTS);
	cr_assert_eq(root->ext->cversion, cv + 3);
	cr_assert_eq(root->ext->pzxid, 9);
	txn.ops[0].parent_cversion = cv;
	txn.zxid = 10;
	tree_apply(t, &txn, &out);
	cr_assert_eq(root->ext->cversion, cv + 3, "never lowered");

	/* A delete of a missing node still raises the parent's pzxid. */
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/gone", -1, NULL, 11), ZK_NONODE);
	cr_assert_eq(root->ext->pzxid, 11);
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/nope/x", -1, NULL, 12), ZK_NONODE);
}

Test(tree_store, delete_with_children_is_refused)
{
	create("/a", "", 0, 1);
	create("/a/b", "", 0, 2);
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/a", -1, NULL, 3), ZK_NOTEMPTY);
	cr_assert_not_null(tree_lookup(t, "/a", 2));
}

Test(tree_store, error_txn_reports_its_code)
{
	struct tree_txn txn;

	test_txn(&txn, ZK_OP_ERROR, 3);
	txn.ops[0].err = ZK_BADVERSION;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_BADVERSION);
	cr_assert_eq(tree_last_zxid(t), 3, "failed writes consume a zxid");
}

Test(tree_store, children_and_descendants)
{
	struct tree_children kids = { 0 };
	struct zk_stat st;
	char path[32];

	create("/d", "", 0, 1);
	for (int i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/d/n%03d", i);
		create(path, "", 0, 2 + i);
	}
	create("/d/n000/deep", "", 0, 200);
	cr_assert_eq(tree_node_children(t, tree_lookup(t, "/d", 2), &kids, &st), 0);
	cr_assert_eq(kids.count, 100);
	cr_assert_eq(st.num_children, 100);
	bool seen[100] = { false };
	for (uint32_t i = 0; i < kids.count; i++) {
		cr_assert_eq(kids.names[i].len, 4);
		int k = atoi((const char *)kids.names[i].p + 1);
		cr_assert(!seen[k]);
		seen[k] = true;
	}
	cr_assert_eq(tree_count_descendants(tree_lookup(t, "/d", 2)), 101);
	cr_assert_eq(tree_count_descendants(tree_lookup(t, "/", 1)),
		     (int64_t)tree_node_count(t) - 1, "ZooKeeper: nodes.size() - 2 for /");
	struct jute_buf name = tree_node_name(tree_lookup(t, "/d/n000/deep", 12));
	cr_assert(jute_buf_eq(name, "deep"));
	cr_assert(jute_buf_eq(tree_node_name(tree_lookup(t, "/", 1)), ""));
	tree_children_release(&kids);
}

/* getChildren of path as one string "a,b,c" (insertion order). */
static void children_str(const char *path, char *buf, size_t cap)
{
	struct tree_children kids = {0};
	struct zk_stat st;
	size_t len = 0;

	buf[0] = '\0';
	cr_assert_eq(tree_node_children(t, tree_lookup(t, path, strlen(path)), &kids, &st), 0);
	cr_assert_eq((uint32_t)st.num_children, kids.count);
	for (uint32_t i = 0; i < kids.count; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%.*s", i ? "," : "",
					kids.names[i].len, kids.names[i].p);
	tree_children_release(&kids);
}

Test(tree_store, children_unlink_first_middle_last_and_append_after)
{
	char path[16], got[64];
	int64_t zxid = 1;

	create("/p", "", 0, zxid++);
	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "/p/c%d", i);
		create(path, "", 0, zxid++);
	}
	children_str("/p", got, sizeof(got));
	cr_assert_str_eq(got, "c0,c1,c2,c3,c4,c5");
	/* First, last, middle: each fixes a different link (parent, first's prev, pred's next). */
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/p/c0", -1, NULL, zxid++), ZK_OK);
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/p/c5", -1, NULL, zxid++), ZK_OK);
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/p/c2", -1, NULL, zxid++), ZK_OK);
	children_str("/p", got, sizeof(got));
	cr_assert_str_eq(got, "c1,c3,c4");
	/* Appends go after the last survivor (the first child's prev). */
	create("/p/c6", "", 0, zxid++);
	children_str("/p", got, sizeof(got));
	cr_assert_str_eq(got, "c1,c3,c4,c6");
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/p/c6", -1, NULL, zxid++), ZK_OK);
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/p/c1", -1, NULL, zxid++), ZK_OK);
	create("/p/c7", "", 0, zxid++);
	children_str("/p", got, sizeof(got));
	cr_assert_str_eq(got, "c3,c4,c7");
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/p/c4", -1, NULL, zxid++), ZK_OK);
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/p/c3", -1, NULL, zxid++), ZK_OK);
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/p/c7", -1, NULL, zxid++), ZK_OK);
	children_str("/p", got, sizeof(got));
	cr_assert_str_eq(got, "");
	cr_assert_null(tree_node_child(tree_find(t, "/p", 2)));
	create("/p/c8", "", 0, zxid++);
	create("/p/c9", "", 0, zxid++);
	children_str("/p", got, sizeof(got));
	cr_assert_str_eq(got, "c8,c9");
	cr_assert_eq(tree_count_descendants(tree_lookup(t, "/p", 2)), 2);
}

Test(tree_store, small_data_is_inline_until_set_data)
{
	char big[TREE_DATA_INLINE_MAX + 2];
	struct jute_buf data;
	struct tree_node *n;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	create("/big", big, 0, 1); /* one byte over the bound: a block of its own */
	n = tree_find(t, "/big", 4);
	cr_assert(!n->data_inline);
	cr_assert_not_null(n->ext, "out-of-line data hangs off an ext block");
	cr_assert_eq(tree_node_data(n, n->ext)->len, TREE_DATA_INLINE_MAX + 1);
	cr_assert_eq(stat_of("/big").mzxid, 1);
	cr_assert_eq(stat_of("/big").pzxid, 1);
	big[TREE_DATA_INLINE_MAX] = '\0';
	create("/fit", big, 0, 2);
	n = tree_find(t, "/fit", 4);
	cr_assert(n->data_inline);
	cr_assert(tree_node_data_is_inline(n, tree_node_data(n, n->ext)));
	cr_assert_eq((const char *)tree_node_data(n, n->ext), (const char *)tree_node_inline_data(n));
	cr_assert_eq(tree_node_data(n, n->ext)->len, TREE_DATA_INLINE_MAX);
	create("/null", NULL, 0, 3);
	n = tree_find(t, "/null", 5);
	cr_assert_null(tree_node_data(n, n->ext));
	cr_assert(!n->data_inline);
	/* setData never rewrites the inline bytes (a reader may hold them). */
	n = tree_find(t, "/fit", 4);
	tree_node_read(n, NULL, &data);
	const uint8_t *held = data.p;
	cr_assert_eq(simple_op(ZK_OP_SETDATA, "/fit", 1, "new", 4), ZK_OK);
	cr_assert(!tree_node_data_is_inline(n, tree_node_data(n, n->ext)));
	cr_assert_eq(held[0], 'x');
	cr_assert_eq(held[TREE_DATA_INLINE_MAX - 1], 'x');
	tree_node_read(n, NULL, &data);
	cr_assert(jute_buf_eq(data, "new"));
	cr_assert_eq(simple_op(ZK_OP_SETDATA, "/fit", 2, NULL, 5), ZK_OK);
	tree_node_read(n, NULL, &data);
	cr_assert_eq(data.len, -1);
	cr_assert_eq(stat_of("/fit").data_length, 0);
	cr_assert_eq(tree_approximate_data_size(t), 44 + 4 + TREE_DATA_INLINE_MAX + 1 + 4 + 5);
}

Test(tree_store, data_goes_inline_only_where_it_saves)
{
	char data[101];

	memset(data, 'd', 100);
	data[100] = '\0';
	create("/cheetah-mem", "", 0, 1);
	/*
	 * Nodes come from nslab.c at 8-byte granularity: one region with the
	 * data is never bigger than node and data apart, so data up to
	 * TREE_DATA_INLINE_MAX always goes inline: 56 + 23 + 1 + 104 = 184.
	 */
	create("/cheetah-mem/n-0000001", data, 0, 2);
	cr_assert(tree_find(t, "/cheetah-mem/n-0000001", 22)->data_inline);
	cr_assert_eq(nslab_size(184), 184);
	/* Ephemeral (24-byte prefix) and TTL (8) nodes alike. */
	create("/cheetah-mem/n-0000002", data, 0x77, 3);
	cr_assert(tree_find(t, "/cheetah-mem/n-0000002", 22)->data_inline);
	create("/cheetah-mem/n-0000003", data, tree_owner_ttl(10), 4);
	cr_assert(tree_find(t, "/cheetah-mem/n-0000003", 22)->data_inline);
	char big[178];
	memset(big, 'b', 177);
	big[177] = '\0';
	create("/cheetah-mem/n-0000004", big, 0x77, 5);
	cr_assert(tree_find(t, "/cheetah-mem/n-0000004", 22)->data_inline);
	/* Leaves carry no ext block; the parent got one with its first child. */
	cr_assert_null(tree_find(t, "/cheetah-mem/n-0000001", 22)->ext);
	cr_assert_not_null(tree_find(t, "/cheetah-mem", 12)->ext);
	struct jute_buf got;
	tree_node_read(tree_lookup(t, "/cheetah-mem/n-0000002", 22), NULL, &got);
	cr_assert(jute_buf_eq(got, data));
}

Test(tree_store, owner_is_kept_by_kind)
{
	const int64_t sess = 0x1234567890abcdefLL, ttl = tree_owner_ttl(5000);
	struct tree_node *n;

	create("/persistent", "p", 0, 1);
	create("/container", "c", TREE_OWNER_CONTAINER, 2);
	create("/ttl", "t", ttl, 3);
	create("/eph", "e", sess, 4);
	n = tree_find(t, "/persistent", 11);
	cr_assert_eq(n->kind, NODE_PERSISTENT);
	cr_assert_eq(tree_node_owner(n), 0);
	cr_assert_eq(tree_node_base(n), (void *)n, "no prefix");
	n = tree_find(t, "/container", 10);
	cr_assert_eq(n->kind, NODE_CONTAINER);
	cr_assert_eq(tree_node_owner(n), TREE_OWNER_CONTAINER);
	cr_assert_eq(tree_node_base(n), (void *)n, "no prefix");
	n = tree_find(t, "/ttl", 4);
	cr_assert_eq(n->kind, NODE_TTL);
	cr_assert_eq(tree_node_owner(n), ttl);
	n = tree_find(t, "/eph", 4);
	cr_assert_eq(n->kind, NODE_EPHEMERAL);
	cr_assert_eq(tree_node_owner(n), sess);
	cr_assert_eq(stat_of("/eph").ephemeral_owner, sess);
	cr_assert_eq(tree_node_name(n).len, 3);
	/* The session's list finds the node through its prefix link. */
	int found = 0;
	struct tree_node *e;
	tree_for_each_eph(e, &tree_find_session(t, sess)->ephemerals)
	{
		cr_assert_eq(e, n);
		found++;
	}
	cr_assert_eq(found, 1);
	cr_assert_eq(tree_session_ephemeral_count(t, sess), 1);
}

static uint32_t crc_of(const char *path, const char *data, const struct tree_pstat *ps)
{
	uint8_t b[60];
	uLong c;

	jute_put_be64(b, (uint64_t)ps->czxid);
	jute_put_be64(b + 8, (uint64_t)ps->mzxid);
	jute_put_be64(b + 16, (uint64_t)ps->pzxid);
	jute_put_be64(b + 24, (uint64_t)ps->ctime);
	jute_put_be64(b + 32, (uint64_t)ps->mtime);
	jute_put_be32(b + 40, (uint32_t)ps->version);
	jute_put_be32(b + 44, (uint32_t)ps->cversion);
	jute_put_be32(b + 48, (uint32_t)ps->aversion);
	jute_put_be64(b + 52, (uint64_t)ps->ephemeral_owner);
	c = crc32(0, (const Bytef *)path, (uInt)strlen(path));
	if (data)
		c = crc32(c, (const Bytef *)data, (uInt)strlen(data));
	return (uint32_t)crc32(c, b, 60);
}

Test(tree_store, digest_matches_zookeepers_calculator)
{
	struct tree_pstat zero = { 0 };
	/* Fresh tree: root (as "") and /zookeeper count; /zookeeper/... do not. */
	uint64_t fresh = (uint64_t)crc_of("", "", &zero) + crc_of("/zookeeper", "", &zero);
	cr_assert_eq(tree_digest(t), fresh);

	create("/a", "data", 0, 7);
	struct tree_pstat a = { .czxid = 7, .mzxid = 7, .pzxid = 7, .ctime = 1007, .mtime = 1007 };
	struct tree_pstat root = { .pzxid = 7, .cversion = 1 };
	uint64_t want = (uint64_t)crc_of("", "", &root) + crc_of("/zookeeper", "", &zero) +
			crc_of("/a", "data", &a);
	cr_assert_eq(tree_digest(t), want);

	/* Every mutation keeps the digest equal to a full recomputation. */
	simple_op(ZK_OP_SETDATA, "/a", 1, "more", 8);
	create("/a/b", NULL, 0, 9);
	simple_op(ZK_OP_DELETE, "/a/b", -1, NULL, 10);
	uint64_t sum = 0;
	struct tree_node **all = malloc(t->nodes.count * sizeof(*all));
	cr_assert_not_null(all);
	size_t nn = pidx_collect(&t->nodes, all);
	cr_assert_eq(nn, tree_node_count(t));
	for (size_t i = 0; i < nn; i++) {
		struct tree_pstat ps;
		tree_node_pstat(all[i], &ps);
		sum += tree_node_digest(all[i]->path, all[i]->path_len, tree_node_data(all[i], all[i]->ext), &ps);
	}
	free(all);
	cr_assert_eq(tree_digest(t), sum);
}

Test(tree_store, many_nodes_grow_the_index)
{
	char path[32];

	create("/big", "", 0, 1);
	for (int i = 0; i < 20000; i++) {
		snprintf(path, sizeof(path), "/big/%d", i);
		cr_assert_eq(create(path, "v", 0, 2 + i), ZK_OK);
		if (i % 512 == 0) {
			tree_reclaim_flush(t);
			urcu_qsbr_quiescent_state();
		}
	}
	cr_assert_eq(tree_node_count(t), 20005);
	for (int i = 0; i < 20000; i += 997) {
		snprintf(path, sizeof(path), "/big/%d", i);
		cr_assert_not_null(tree_lookup(t, path, strlen(path)));
	}
	cr_assert_null(tree_lookup(t, "/big/20000", 10));
}

static void collect_path(void *arg, struct jute_buf path)
{
	char *buf = arg;

	strncat(buf, (const char *)path.p, (size_t)path.len);
	strcat(buf, " ");
}

Test(tree_store, expired_containers_and_ttls_as_container_manager_finds_them)
{
	char found[256] = "";

	create("/never", "", TREE_OWNER_CONTAINER, 1);  /* mtime 1001 */
	create("/used", "", TREE_OWNER_CONTAINER, 2);
	create("/used/kid", "", 0, 3);
	create("/ttl", "", tree_owner_ttl(100), 4);      /* mtime 1004 */
	create("/ttlkids", "", tree_owner_ttl(100), 5);
	create("/ttlkids/k", "", 0, 6);

	/* /used still has its child; nothing has expired at t=1050. */
	cr_assert_eq(tree_expired_nodes(t, 1050, 0, collect_path, found), 0);
	simple_op(ZK_OP_DELETE, "/used/kid", -1, NULL, 7);
	cr_assert_eq(tree_expired_nodes(t, 1050, 0, collect_path, found), 1);
	cr_assert_str_eq(found, "/used ");
	found[0] = '\0';
	/* Past the TTL (strictly greater, as ZooKeeper) and the never-used limit. */
	cr_assert_eq(tree_expired_nodes(t, 1104, 0, collect_path, found), 1);
	cr_assert_eq(tree_expired_nodes(t, 1105, 0, collect_path, found + strlen(found)), 2);
	found[0] = '\0';
	cr_assert_eq(tree_expired_nodes(t, 1105, 50, collect_path, found), 3);
	cr_assert(strstr(found, "/never "));
	cr_assert(strstr(found, "/ttl "));
	cr_assert_null(strstr(found, "/ttlkids "));
}

/* ---- Paths above TREE_PATH_MAX (the node's 29-bit length field) ---- */

Test(tree_store, create_path_above_limit_is_badarguments)
{
	size_t len = (size_t)TREE_PATH_MAX + 1;
	char *p = test_long_path(len);
	uint64_t count = tree_node_count(t);
	struct tree_txn txn;

	test_txn(&txn, ZK_OP_CREATE, 5);
	txn.ops[0].path = (struct jute_buf){ (const uint8_t *)p, (int32_t)len };
	txn.ops[0].data = test_buf("x");
	txn.ops[0].acl = open_acl.list;
	txn.ops[0].parent_cversion = -1;
	/* A refusal, as tree_validate_path's, not -ENOMEM (fatal to a replay). */
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_BADARGUMENTS);
	cr_assert_eq(out.nevents, 0);
	cr_assert_eq(tree_node_count(t), count);
	cr_assert_eq(tree_validate_path(p, len, false), ZK_BADARGUMENTS);
	munmap(p, len);
}

Test(tree_store, load_path_above_limit_is_ebadmsg)
{
	size_t len = (size_t)TREE_PATH_MAX + 1;
	char *p = test_long_path(len);
	struct tree_pstat ps = { .czxid = 1, .mzxid = 1, .pzxid = 1 };
	struct tree_node *root = tree_find(t, "/", 1), *n = NULL;
	uint64_t count = tree_node_count(t);

	cr_assert_not_null(root);
	cr_assert_eq(tree_load_node(t, root, p, len, &ps, test_buf("x"), t->world_acl, &n),
		     -EBADMSG);
	cr_assert_null(n);
	cr_assert_eq(tree_insert_loaded(t, p, len, &ps, test_buf("x"), t->world_acl), -EBADMSG);
	cr_assert_eq(tree_node_count(t), count);
	munmap(p, len);
}

/*
 * DataTree.logZxidDigest: the digest after every txn whose zxid is a
 * multiple of 128, the newest 1024 kept, oldest first.
 */
Test(tree_store, digest_log_keeps_every_128th_zxid_newest_1024)
{
	struct tree_zxid_digest *log = calloc(TREE_DIGEST_LOG_LIMIT + 8, sizeof(*log));
	uint64_t want[3];
	char path[32];
	int64_t z;

	cr_assert_not_null(log);
	cr_assert_eq(tree_digest_log(t, log, TREE_DIGEST_LOG_LIMIT), 0, "nothing before 128");
	for (z = 1; z <= 3 * TREE_DIGEST_LOG_INTERVAL; z++) {
		snprintf(path, sizeof(path), "/n%lld", (long long)z);
		cr_assert_eq(create(path, "x", 0, z), ZK_OK);
		if (z % TREE_DIGEST_LOG_INTERVAL == 0)
			want[z / TREE_DIGEST_LOG_INTERVAL - 1] = tree_digest(t);
	}
	cr_assert_eq(tree_digest_log(t, log, TREE_DIGEST_LOG_LIMIT), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(log[i].zxid, (i + 1) * TREE_DIGEST_LOG_INTERVAL);
		cr_assert_eq(log[i].digest, want[i]);
	}
	cr_assert_eq(tree_digest_log(t, log, 2), 2, "at most max");
	/* Past the limit the oldest go: 1026 entries logged, 1024 kept. */
	for (; z <= (TREE_DIGEST_LOG_LIMIT + 2) * TREE_DIGEST_LOG_INTERVAL; z++)
		cr_assert_eq(simple_op(ZK_OP_SETDATA, "/n1", -1, "y", z), ZK_OK);
	cr_assert_eq(tree_digest_log(t, log, TREE_DIGEST_LOG_LIMIT + 8), TREE_DIGEST_LOG_LIMIT);
	cr_assert_eq(log[0].zxid, 3 * TREE_DIGEST_LOG_INTERVAL);
	cr_assert_eq(log[TREE_DIGEST_LOG_LIMIT - 1].zxid,
		     (TREE_DIGEST_LOG_LIMIT + 2) * TREE_DIGEST_LOG_INTERVAL);
	cr_assert_eq(log[TREE_DIGEST_LOG_LIMIT - 1].digest, tree_digest(t));
	free(log);
}

/*
 * A leaf keeps pzxid, mzxid, mtime, cversion, aversion, numChildren and
 * its first child in an ext block made only when one of them leaves its
 * default:
 * each such change must be seen, and kept by a snapshot round trip.
 */
Test(tree_store, ext_block_only_when_needed)
{
	struct zk_stat st;

	create("/l", "x", 0, 1);
	cr_assert_null(tree_find(t, "/l", 2)->ext);
	st = stat_of("/l");
	cr_assert_eq(st.pzxid, 1);
	cr_assert_eq(st.cversion, 0);
	cr_assert_eq(st.aversion, 0);
	cr_assert_eq(st.num_children, 0);
	cr_assert_eq(st.mzxid, 1);
	cr_assert_eq(st.mtime, st.ctime);
	/* setData moves mzxid and mtime off their defaults: an ext block, pzxid kept. */
	cr_assert_eq(simple_op(ZK_OP_SETDATA, "/l", 1, "yy", 2), ZK_OK);
	cr_assert_not_null(tree_find(t, "/l", 2)->ext);
	st = stat_of("/l");
	cr_assert_eq(st.pzxid, 1);
	cr_assert_eq(st.mzxid, 2);
	cr_assert_neq(st.mtime, st.ctime);
	/* A delete of a missing child raises a leaf's pzxid. */
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/l/none", -1, NULL, 3), ZK_NONODE);
	st = stat_of("/l");
	cr_assert_eq(st.pzxid, 3);
	cr_assert_eq(st.czxid, 1);
	cr_assert_eq(st.mzxid, 2);
	cr_assert_eq(st.version, 1);
	/* setACL on another leaf. */
	create("/m", "x", 0, 4);
	cr_assert_eq(simple_op(ZK_OP_SETACL, "/m", 7, NULL, 5), ZK_OK);
	st = stat_of("/m");
	cr_assert_eq(st.aversion, 7);
	cr_assert_eq(st.pzxid, 4);
	/* Children come and go; the counts stay. */
	create("/m/a", "", 0, 6);
	create("/m/b", "", 0, 7);
	cr_assert_eq(simple_op(ZK_OP_DELETE, "/m/a", -1, NULL, 8), ZK_OK);
	st = stat_of("/m");
	cr_assert_eq(st.num_children, 1);
	cr_assert_eq(st.cversion, 2 * 2 - 1);
	cr_assert_eq(st.pzxid, 8);
	cr_assert_eq(st.aversion, 7);
	struct tree_children kids = {0};
	cr_assert_eq(tree_node_children(t, tree_lookup(t, "/m", 2), &kids, &st), 0);
	cr_assert_eq(kids.count, 1);
	cr_assert(jute_buf_eq(kids.names[0], "b"));
	tree_children_release(&kids);
}

/*
 * A node without an ext block never changes, so its readers need no
 * seqlock: the first change that can (here a create replayed over a
 * fuzzy snapshot, which adopts the txn's ACL, as DataTree does) makes the
 * block with the node's values, then changes it.
 */
Test(tree_store, only_nodes_with_an_ext_block_change)
{
	struct test_acl digest;
	struct jute_acl_list acl;
	struct tree_node *n;
	struct zk_stat before, after;
	uint64_t dg;

	create("/u", "x", 0, 1);
	n = tree_find(t, "/u", 2);
	cr_assert_null(n->ext);
	cr_assert_eq(tree_node_acl_id(n, NULL), n->acl);
	before = stat_of("/u");
	dg = tree_digest(t);

	test_acl_make(&digest, ZK_PERM_READ, "digest", "bob:hash");
	struct tree_txn txn;
	test_txn(&txn, ZK_OP_CREATE2, 2);
	txn.ops[0].path = test_buf("/u");
	txn.ops[0].data = test_buf("x");
	txn.ops[0].acl = digest.list;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_NODEEXISTS);
	cr_assert_not_null(n->ext, "the ACL changed in an ext block");
	cr_assert_eq(n->ext->version, 0);
	cr_assert_eq(n->ext->seq % 2, 0, "no write bracket left open");
	cr_assert_neq(tree_node_acl_id(n, n->ext), n->acl);
	tree_node_acl(t, n, &after, &acl);
	cr_assert_eq(acl.raw_len, digest.list.raw_len);
	cr_assert_eq(memcmp(acl.raw, digest.list.raw, acl.raw_len), 0);
	cr_assert(before.czxid == after.czxid && before.mzxid == after.mzxid &&
		  before.pzxid == after.pzxid && before.ctime == after.ctime &&
		  before.mtime == after.mtime && before.version == after.version &&
		  before.cversion == after.cversion && before.aversion == after.aversion &&
		  before.data_length == after.data_length &&
		  before.num_children == after.num_children,
		  "Stat unchanged");
	cr_assert_eq(tree_digest(t), dg, "the ACL is not in the digest");
}

/*
 * write_per_namespace: what DataTree.updateWriteStat counts, counted by
 * tree_apply: creates (path + data) and setData (path + data) and
 * deletes (path) that applied, a closing session's ephemerals, a multi's
 * ops one by one; not a failed op, a failed multi, setACL or check, and
 * not "/" (no namespace).
 */
Test(tree_store, writes_are_counted_per_namespace_as_datatree)
{
	struct nsstat *ns = nsstat_new();
	struct nsstat_tab *w = nsstat_tab_new(ns, NSSTAT_WRITE);
	struct nsstat_fig f;
	struct tree_txn txn;

	cr_assert(ns && w);
	tree_set_ns_writes(t, w);
	cr_assert_eq(create("/a", "12345", 0, 1), ZK_OK);      /* 2 + 5 */
	cr_assert_eq(create("/a/b", NULL, 0, 2), ZK_OK);       /* 4 */
	cr_assert_eq(create("/a", "zz", 0, 3), ZK_NODEEXISTS); /* not counted */
	cr_assert_eq(simple_op(ZK_OP_SETDATA, "/a/b", 1, "xyz", 4), ZK_OK); /* 4 + 3 */
	cr_assert_eq(simple_op(ZK_OP_SETDATA, "/a/none", 1, "xyz", 5), ZK_NONODE);
	cr_assert_eq(simple_op(ZK_OP_SETACL, "/a/b", 1, NULL, 6), ZK_OK);
	cr_assert_eq(simple_op(ZK_OP_SETDATA, "/", 1, "r", 7), ZK_OK); /* no namespace */

	struct tree_op ops[2] = {
		{ .type = ZK_OP_CREATE, .path = test_buf("/m"), .data = test_buf("q"),
		  .acl = open_acl.list, .parent_cversion = -1 }, /* 2 + 1 */
		{ .type = ZK_OP_DELETE, .path = test_buf("/a/b") }, /* 4 */
	};
	txn = (struct tree_txn){ .type = ZK_OP_MULTI, .zxid = 8, .ops = ops, .nops = 2 };
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	struct tree_op failed[2] = {
		{ .type = ZK_OP_CREATE, .path = test_buf("/m/x"), .acl = open_acl.list,
		  .parent_cversion = -1 },
		{ .type = ZK_OP_ERROR, .err = ZK_NODEEXISTS },
	};
	txn = (struct tree_txn){ .type = ZK_OP_MULTI, .zxid = 9, .ops = failed, .nops = 2 };
	cr_assert_eq(tree_apply(t, &txn, &out), 0);

	test_txn(&txn, ZK_OP_CREATESESSION, 10);
	txn.session = 0x42;
	txn.nops = 0;
	txn.timeout = 30000;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(create("/m/e", "e", 0x42, 11), ZK_OK); /* 4 + 1 */
	memset(&txn, 0, sizeof(txn));
	txn.type = ZK_OP_CLOSESESSION;
	txn.session = 0x42;
	txn.zxid = 12;
	cr_assert_eq(tree_apply(t, &txn, &out), 0); /* deletes /m/e: 4 */
	cr_assert_null(tree_lookup(t, "/m/e", 4));

	cr_assert_eq(nsstat_nkeys(ns), 2);
	cr_assert_str_eq(nsstat_key(ns, 0), "a");
	nsstat_merge(ns, NSSTAT_WRITE, 0, 1, &f);
	cr_assert_eq(f.total, 4);
	cr_assert_eq(f.h.sum, 7 + 4 + 7 + 4);
	cr_assert_str_eq(nsstat_key(ns, 1), "m");
	nsstat_merge(ns, NSSTAT_WRITE, 1, 1, &f);
	cr_assert_eq(f.total, 3);
	cr_assert_eq(f.h.sum, 3 + 5 + 4);
	nsstat_merge(ns, NSSTAT_WRITE, NSSTAT_OTHER, 1, &f);
	cr_assert_eq(f.total, 0);
	tree_set_ns_writes(t, NULL);
	nsstat_free(ns);
}
