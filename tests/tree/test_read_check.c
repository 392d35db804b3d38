// SPDX-License-Identifier: Apache-2.0
/*
 * tree_node_read_check, the read of getData/exists/getChildren: its ACL
 * answer is exactly tree_acl_check's (the slow path) for every ACL built
 * from world, digest, ip, auth, super and unknown-scheme entries, with and
 * without READ, alone, in pairs and empty, against sessions holding no
 * id, digest ids (few: scanned; many: indexed), ip ids (v4, v6), a super
 * id, the super flag, and mixes, for every permission bit; and its Stat
 * and data are tree_node_read's.  tree_acl_world_perms is checked on
 * its own too: the mask is what makes the fast path.
 */
#include <urcu-qsbr.h>
#include <stdarg.h>
#include <stdio.h>

#include "tests/common/leakcheck.h"
#include "tree_test_util.h"

static struct tree *t;
static struct tree_apply_out out;

static void setup(void)
{
	struct tree_opts opts = { .max_data = ZK_DEFAULT_MAX_BUFFER, .extended_types = true };

	urcu_qsbr_register_thread();
	t = tree_new(&opts);
	cr_assert_not_null(t);
	memset(&out, 0, sizeof(out));
}

static void teardown(void)
{
	tree_apply_out_release(&out);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

TestSuite(tree_read_check, .init = setup, .fini = teardown, .timeout = 120);

struct entry {
	int32_t perms;
	const char *scheme;
	const char *id;
};

/* The entries ACLs are made of: every scheme, with and without READ. */
static const struct entry entries[] = {
	{ ZK_PERM_ALL, "world", "anyone" },
	{ ZK_PERM_READ, "world", "anyone" },
	{ ZK_PERM_WRITE | ZK_PERM_CREATE | ZK_PERM_DELETE | ZK_PERM_ADMIN, "world", "anyone" },
	{ ZK_PERM_ADMIN, "world", "anyone" },
	{ 0, "world", "anyone" },
	{ ZK_PERM_ALL, "world", "someone" },
	{ ZK_PERM_ALL, "digest", "alice:hash" },
	{ ZK_PERM_READ, "digest", "bob:hash" },
	{ ZK_PERM_WRITE, "digest", "alice:hash" },
	{ ZK_PERM_ALL, "ip", "127.0.0.1" },
	{ ZK_PERM_READ, "ip", "10.0.0.0/8" },
	{ ZK_PERM_ADMIN, "ip", "10.0.0.0/8" },
	{ ZK_PERM_READ, "ip", "::1" },
	{ ZK_PERM_ALL, "auth", "" },
	{ ZK_PERM_READ, "super", "admin" },
	{ ZK_PERM_ALL, "sasl", "alice" },
};
#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

struct acl {
	uint8_t buf[512];
	struct jute_acl_list list;
};

/* An ACL of n entries (indexes into entries[]). */
static void acl_make(struct acl *a, int n, const int *idx)
{
	struct jute_out o;
	struct jute_in in;

	jute_out_init_fixed(&o, a->buf, sizeof(a->buf));
	jute_put_int(&o, n);
	for (int i = 0; i < n; i++) {
		jute_put_int(&o, entries[idx[i]].perms);
		jute_put_string(&o, entries[idx[i]].scheme);
		jute_put_string(&o, entries[idx[i]].id);
	}
	cr_assert_eq(o.err, 0);
	jute_in_init(&in, a->buf, o.len);
	cr_assert_eq(jute_get_acl_list(&in, &a->list, 1024), 0);
}

/* The sessions: ids (scheme, id pairs, NULL-terminated) and the super flag. */
struct who {
	const char *ids[24][2];
	bool super;
};

static const struct who sessions[] = {
	{ { { NULL } }, false },
	{ { { "digest", "alice:hash" } }, false },
	{ { { "digest", "bob:hash" } }, false },
	{ { { "digest", "carol:hash" } }, false },
	{ { { "ip", "127.0.0.1" } }, false },
	{ { { "ip", "10.1.2.3" } }, false },
	{ { { "ip", "192.168.0.1" } }, false },
	{ { { "ip", "::1" } }, false },
	{ { { "super", "admin" } }, false },
	{ { { NULL } }, true },
	{ { { "ip", "192.168.0.1" }, { "digest", "alice:hash" } }, false },
	{ { { "ip", "10.9.9.9" }, { "digest", "carol:hash" }, { "sasl", "alice" } }, false },
	{ { { "world", "anyone" } }, false },
	/* More than tree_acl_check scans: it indexes them. */
	{ { { "ip", "192.168.0.1" },
	    { "digest", "u1:x" },
	    { "digest", "u2:x" },
	    { "digest", "u3:x" },
	    { "digest", "u4:x" },
	    { "digest", "u5:x" },
	    { "digest", "u6:x" },
	    { "digest", "u7:x" },
	    { "digest", "u8:x" },
	    { "digest", "u9:x" },
	    { "digest", "bob:hash" } },
	  false },
	{ { { "ip", "192.168.0.1" },
	    { "digest", "u1:x" },
	    { "digest", "u2:x" },
	    { "digest", "u3:x" },
	    { "digest", "u4:x" },
	    { "digest", "u5:x" },
	    { "digest", "u6:x" },
	    { "digest", "u7:x" },
	    { "digest", "u8:x" },
	    { "digest", "u9:x" } },
	  false },
};
#define NSESSIONS (sizeof(sessions) / sizeof(sessions[0]))

static const int32_t perms[] = {
	ZK_PERM_READ,	ZK_PERM_WRITE, ZK_PERM_CREATE, ZK_PERM_DELETE,
	ZK_PERM_ADMIN, ZK_PERM_READ | ZK_PERM_ADMIN,
};

static struct tree_auth auth_of(const struct who *w, struct tree_auth_id *ids)
{
	uint32_t n = 0;

	while (n < 24 && w->ids[n][0]) {
		ids[n].scheme = test_buf(w->ids[n][0]);
		ids[n].id = test_buf(w->ids[n][1]);
		n++;
	}
	return (struct tree_auth){ .ids = ids, .n = n, .super = w->super };
}

static void assert_same_stat(const struct zk_stat *a, const struct zk_stat *b)
{
	cr_assert_eq(a->czxid, b->czxid);
	cr_assert_eq(a->mzxid, b->mzxid);
	cr_assert_eq(a->ctime, b->ctime);
	cr_assert_eq(a->mtime, b->mtime);
	cr_assert_eq(a->version, b->version);
	cr_assert_eq(a->cversion, b->cversion);
	cr_assert_eq(a->aversion, b->aversion);
	cr_assert_eq(a->ephemeral_owner, b->ephemeral_owner);
	cr_assert_eq(a->data_length, b->data_length);
	cr_assert_eq(a->num_children, b->num_children);
	cr_assert_eq(a->pzxid, b->pzxid);
}

static int64_t next_zxid = 1;

static const struct tree_node *create_with(const char *path, const char *data,
					   const struct jute_acl_list *acl)
{
	struct tree_txn txn;

	test_txn(&txn, ZK_OP_CREATE2, next_zxid++);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf(data);
	txn.ops[0].acl = *acl;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.nresults, 1);
	cr_assert_eq(out.results[0].err, ZK_OK, "create %s", path);
	return tree_lookup(t, path, strlen(path));
}

/*
 * Creates a node with acl, then compares tree_node_read_check with the
 * slow path for every session and permission.  Returns how many checks
 * the world:anyone mask answered.
 */
static unsigned check_all(const char *path, const struct acl *a)
{
	const struct tree_node *n = create_with(path, path, &a->list);
	int32_t world = tree_acl_world_perms(&a->list);
	unsigned fast = 0;

	cr_assert_not_null(n);
	for (size_t i = 0; i < NSESSIONS; i++) {
		struct tree_auth_id ids[24];
		struct tree_auth au = auth_of(&sessions[i], ids);

		for (size_t k = 0; k < sizeof(perms) / sizeof(perms[0]); k++) {
			struct zk_stat st, want_st;
			struct jute_buf data = { NULL, 0 }, want_data;
			enum zk_err slow = tree_acl_check(&a->list, perms[k], &au);
			enum zk_err got = tree_node_read_check(t, n, perms[k], &au, &st, &data);

			cr_assert_eq(got, slow, "%s: session %zu perm %d: %d, slow path %d", path, i,
				     perms[k], got, slow);
			if (world & perms[k]) {
				cr_assert_eq(slow, ZK_OK, "%s: the mask grants what the list does not",
					     path);
				fast++;
			}
			tree_node_read(n, &want_st, &want_data);
			assert_same_stat(&st, &want_st);
			cr_assert_eq(data.len, want_data.len);
			cr_assert_eq(data.p, want_data.p);
		}
	}
	return fast;
}

Test(tree_read_check, world_perms_mask)
{
	struct acl a;
	int one[1] = { 0 }, two[2];

	acl_make(&a, 0, one);
	cr_assert_eq(tree_acl_world_perms(&a.list), 0);
	for (size_t i = 0; i < NENTRIES; i++) {
		bool world = !strcmp(entries[i].scheme, "world") && !strcmp(entries[i].id, "anyone");
		one[0] = (int)i;
		acl_make(&a, 1, one);
		cr_assert_eq(tree_acl_world_perms(&a.list), world ? entries[i].perms : 0,
			     "entry %zu", i);
	}
	/* Two world:anyone entries: their perms add up. */
	two[0] = 3; /* ADMIN */
	two[1] = 1; /* READ */
	acl_make(&a, 2, two);
	cr_assert_eq(tree_acl_world_perms(&a.list), ZK_PERM_ADMIN | ZK_PERM_READ);
	cr_assert_eq(tree_acl_world_perms(NULL), 0);
}

Test(tree_read_check, same_answer_as_the_slow_path)
{
	char path[64];
	struct acl a;
	unsigned nodes = 0, fast = 0;
	int idx[2] = { 0, 0 };

	acl_make(&a, 0, idx);
	fast += check_all("/empty", &a);
	nodes++;
	for (size_t i = 0; i < NENTRIES; i++) {
		idx[0] = (int)i;
		acl_make(&a, 1, idx);
		snprintf(path, sizeof(path), "/one%zu", i);
		fast += check_all(path, &a);
		nodes++;
		for (size_t j = 0; j < NENTRIES; j++) {
			idx[1] = (int)j;
			acl_make(&a, 2, idx);
			snprintf(path, sizeof(path), "/two%zu_%zu", i, j);
			fast += check_all(path, &a);
			nodes++;
		}
	}
	cr_assert_eq(nodes, 1 + NENTRIES + NENTRIES * NENTRIES);
	/* The fast path was taken, and not for everything. */
	cr_assert_gt(fast, 0);
	cr_assert_lt(fast, nodes * NSESSIONS * (sizeof(perms) / sizeof(perms[0])));
}

/* A node whose ACL a setACL changes: the answer follows the new list. */
Test(tree_read_check, follows_set_acl)
{
	struct tree_auth_id ids[24];
	struct tree_auth au = auth_of(&sessions[0], ids);
	struct tree_txn txn;
	struct zk_stat st;
	struct acl open, closed;
	int o[1] = { 0 }, c[1] = { 6 };
	const struct tree_node *n;

	acl_make(&open, 1, o);
	acl_make(&closed, 1, c);
	n = create_with("/x", "d", &open.list);
	cr_assert_eq(tree_node_read_check(t, n, ZK_PERM_READ, &au, &st, NULL), ZK_OK);
	test_txn(&txn, ZK_OP_SETACL, next_zxid++);
	txn.ops[0].path = test_buf("/x");
	txn.ops[0].acl = closed.list;
	txn.ops[0].version = 1; /* the new aversion */
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_OK);
	cr_assert_eq(tree_node_read_check(t, n, ZK_PERM_READ, &au, &st, NULL), ZK_NOAUTH);
	cr_assert_eq(st.aversion, 1);
	/* The old list's last user is gone; the open one is interned anew. */
	n = create_with("/y", "d", &open.list);
	cr_assert_eq(tree_node_read_check(t, n, ZK_PERM_READ, &au, &st, NULL), ZK_OK);
}

/* The Stat of an ephemeral node and of a parent with children, and null data. */
Test(tree_read_check, stat_as_tree_node_read)
{
	struct tree_auth_id ids[24];
	struct tree_auth au = auth_of(&sessions[0], ids);
	const char *paths[] = { "/p", "/p/e", "/p/n" };
	struct tree_txn txn;
	struct acl open;
	int o[1] = { 0 };

	acl_make(&open, 1, o);
	create_with("/p", "parent", &open.list);
	test_txn(&txn, ZK_OP_CREATESESSION, next_zxid++);
	txn.session = 0x77;
	txn.nops = 0;
	txn.timeout = 30000;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	test_txn(&txn, ZK_OP_CREATE2, next_zxid++);
	txn.session = 0x77;
	txn.ops[0].path = test_buf("/p/e");
	txn.ops[0].data = test_buf("eph");
	txn.ops[0].acl = open.list;
	txn.ops[0].ephemeral_owner = 0x77;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_OK);
	create_with("/p/n", NULL, &open.list);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct tree_node *n = tree_lookup(t, paths[i], strlen(paths[i]));
		struct zk_stat st, want;
		struct jute_buf data, want_data;

		cr_assert_not_null(n);
		cr_assert_eq(tree_node_read_check(t, n, ZK_PERM_READ, &au, &st, &data), ZK_OK);
		tree_node_read(n, &want, &want_data);
		assert_same_stat(&st, &want);
		cr_assert_eq(data.len, want_data.len);
		cr_assert_eq(data.p, want_data.p);
	}
	cr_assert_eq(tree_node_read_check(t, tree_lookup(t, "/p/e", 4), ZK_PERM_READ, &au,
					  &(struct zk_stat){ 0 }, NULL),
		     ZK_OK);
}
