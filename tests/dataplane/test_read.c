// SPDX-License-Identifier: Apache-2.0
/*
 * Requests served from the tree (dataplane/session/read.c) through the
 * protocol layer, against the fake I/O layer and core of dp_fake.c:
 * every read's reply encoding (decoded with the codec) and error rules
 * (NONODE before NOAUTH, exists' BADARGUMENTS, no path validation),
 * getACL's digest redaction, getAllChildrenNumber, getEphemerals'
 * prefixes, multiRead, whoAmI, ping; the watch requests (setWatches and
 * setWatches2 with relativeZxid, addWatch, checkWatches, removeWatches);
 * reconfig; and repl.h rule 2: a reply that could reveal a txn whose
 * events this worker has not delivered waits for them, and watches it
 * sets see exactly the events after what it read.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dp_test.h"

TestSuite(dp_read, .init = fake_setup, .fini = fake_teardown, .timeout = 60);

static struct test_acl acl_a, acl_b;

/* A session with /r (data "rv") and /r/c1, /r/c2 created. */
static struct dp_conn *with_tree(void)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);

	send_create(c, 900, ZK_OP_CREATE, "/r", "rv", 0, NULL);
	send_create(c, 901, ZK_OP_CREATE, "/r/c1", "1", 0, NULL);
	send_create(c, 902, ZK_OP_CREATE, "/r/c2", "2", 0, NULL);
	settle();
	for (int i = 0; i < 3; i++)
		EXPECT_REPLY(c, 900 + i, ZK_OK);
	return c;
}

static bool has_name(const struct proto_str_list *l, const char *name)
{
	struct proto_iter it;
	struct jute_buf s;

	proto_str_iter(&it, l);
	while (proto_str_next(&it, &s))
		if (jute_buf_eq(s, name))
			return true;
	return false;
}

/* ---- exists / getData / getChildren ---- */

Test(dp_read, exists_rules)
{
	struct dp_conn *c = with_tree();
	const char nul_path[] = "/r\0x";
	struct proto_request r = fake_req(3, ZK_OP_EXISTS);

	send_path_watch(c, 1, ZK_OP_EXISTS, "/r", false);
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_eq(rr.body.stat.data_length, 2);
	cr_assert_eq(rr.body.stat.num_children, 2);
	cr_assert_eq(rr.hdr.zxid, tree_last_zxid(fw.r.tree));
	send_path_watch(c, 2, ZK_OP_EXISTS, "/nope", false);
	EXPECT_REPLY(c, 2, ZK_NONODE);
	cr_assert(!rr.has_body);
	r.path_watch.path = (struct jute_buf){ (const uint8_t *)nul_path, 4 };
	fake_send(c, &r);
	EXPECT_REPLY(c, 3, ZK_BADARGUMENTS);
	/* no validation otherwise: a bad path is just absent */
	send_path_watch(c, 4, ZK_OP_EXISTS, "r//x/", false);
	EXPECT_REPLY(c, 4, ZK_NONODE);
}

Test(dp_read, exists_watches_a_missing_node)
{
	struct dp_conn *c = with_tree();

	send_path_watch(c, 1, ZK_OP_EXISTS, "/later", true);
	EXPECT_REPLY(c, 1, ZK_NONODE);
	int64_t z = fake_apply_create("/later", "x", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_CREATED, "/later", z);
	send_path_watch(c, 2, ZK_OP_EXISTS, "/later", true);
	EXPECT_REPLY(c, 2, ZK_OK);
	z = fake_apply_setdata("/later", "y", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/later", z);
}

/*
 * What an ACL check reveals counts in the reply's zxid (repl.h rule 2,
 * guarantee 4).  A NOAUTH tells the client the node exists and what its
 * ACL is, a successful read that its ACL lets it read: neither may come
 * before the events of the txns that made it so.  (Before: a NOAUTH
 * revealed nothing and an ACL change has no zxid in the Stat, so the
 * fast path answered at once, ahead of those events, with a header
 * zxid below the txn it showed.)
 */
Test(dp_read, noauth_never_comes_before_the_events_before_the_create_it_reveals)
{
	struct dp_conn *c = with_tree();

	send_path_watch(c, 1, ZK_OP_GETDATA, "/r/c1", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	/* two txns of another worker, applied, their events not yet here */
	int64_t z1 = fake_apply_setdata("/r/c1", "x", false);
	int64_t z2 = fake_apply_create_acl("/locked",
					   acl_one(&acl_a, ZK_PERM_WRITE, "world", "anyone"), false);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/locked", false);
	send_path_watch(c, 3, ZK_OP_EXISTS, "/locked", false);
	fake_core_publish();
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r/c1", z1);
	for (int32_t xid = 2; xid <= 3; xid++) {
		EXPECT_REPLY(c, xid, ZK_NOAUTH);
		cr_assert_geq(rr.hdr.zxid, z2, "NOAUTH reveals the create 0x%llx, header 0x%llx",
			      (unsigned long long)z2, (unsigned long long)rr.hdr.zxid);
	}
	EXPECT_NOTHING(c);
}

Test(dp_read, read_showing_a_new_acl_comes_after_the_events_before_it)
{
	struct dp_conn *c = with_tree();

	send_path_watch(c, 1, ZK_OP_GETDATA, "/r/c1", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	/* two txns of another worker, applied, their events not yet here */
	int64_t z1 = fake_apply_setdata("/r/c1", "x", false);
	int64_t z2 = fake_apply_setacl("/r", acl_one(&acl_a, ZK_PERM_ALL, "world", "anyone"),
				       false);
	static const int32_t ops[] = { ZK_OP_GETDATA, ZK_OP_EXISTS, ZK_OP_GETCHILDREN2 };
	for (int i = 0; i < 3; i++)
		send_path_watch(c, 2 + i, ops[i], "/r", false);
	fake_core_publish();
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r/c1", z1);
	for (int i = 0; i < 3; i++) {
		EXPECT_REPLY(c, 2 + i, ZK_OK);
		const struct zk_stat *st = i == 0 ? &rr.body.data_stat.stat
				       : i == 1 ? &rr.body.stat
						: &rr.body.children_stat.stat;
		cr_assert_eq(st->aversion, 1, "op %d shows setACL 0x%llx", ops[i],
			     (unsigned long long)z2);
		cr_assert_geq(rr.hdr.zxid, z2, "op %d: header 0x%llx below the setACL it shows",
			      ops[i], (unsigned long long)rr.hdr.zxid);
	}
	EXPECT_NOTHING(c);
}

Test(dp_read, read_acl_checks_nonode_before_noauth)
{
	struct dp_conn *c = with_tree();

	fake_apply_create_acl("/locked", acl_one(&acl_a, ZK_PERM_WRITE, "world", "anyone"), true);
	fake_poll();
	static const int32_t ops[] = { ZK_OP_EXISTS, ZK_OP_GETDATA, ZK_OP_GETCHILDREN,
				       ZK_OP_GETCHILDREN2 };
	for (int i = 0; i < 4; i++) {
		send_path_watch(c, 10 + i, ops[i], "/locked", true);
		EXPECT_REPLY(c, 10 + i, ZK_NOAUTH);
		send_path_watch(c, 20 + i, ops[i], "/locked/missing", false);
		EXPECT_REPLY(c, 20 + i, ZK_NONODE);
	}
	send_path(c, 30, ZK_OP_GETALLCHILDRENNUMBER, "/locked");
	EXPECT_REPLY(c, 30, ZK_NOAUTH);
	/* a refused read sets no watch */
	fake_apply_setdata("/locked", "z", true);
	fake_poll();
	EXPECT_NOTHING(c);
}

Test(dp_read, get_data_and_its_watch)
{
	struct dp_conn *c = with_tree();

	send_path_watch(c, 1, ZK_OP_GETDATA, "/r", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "rv"));
	cr_assert_eq(rr.body.data_stat.stat.version, 0);
	cr_assert_eq(rr.body.data_stat.stat.num_children, 2);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/r/zz", true);
	EXPECT_REPLY(c, 2, ZK_NONODE);
	int64_t z = fake_apply_setdata("/r", "new", true);
	fake_apply_create("/r/zz", "", true); /* no watch was set by the failed getData */
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r", z);
	EXPECT_NOTHING(c);
}

Test(dp_read, get_children_and_children2)
{
	struct dp_conn *c = with_tree();

	send_path_watch(c, 1, ZK_OP_GETCHILDREN, "/r", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_eq(rr.body.children.count, 2);
	cr_assert(has_name(&rr.body.children, "c1"));
	cr_assert(has_name(&rr.body.children, "c2"));
	send_path_watch(c, 2, ZK_OP_GETCHILDREN2, "/r", false);
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert_eq(rr.body.children_stat.children.count, 2);
	cr_assert_eq(rr.body.children_stat.stat.num_children, 2);
	int64_t z = fake_apply_create("/r/c3", "", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_CHILDREN_CHANGED, "/r", z);
	fake_apply_create("/r/c4", "", true);
	fake_poll();
	EXPECT_NOTHING(c);
	send_path_watch(c, 3, ZK_OP_GETCHILDREN, "/r/c1", false);
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_eq(rr.body.children.count, 0);
}

Test(dp_read, delete_fires_data_and_child_watch_once_and_parent_child_watch)
{
	struct dp_conn *c = with_tree();

	send_path_watch(c, 1, ZK_OP_GETDATA, "/r/c1", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	send_path_watch(c, 2, ZK_OP_GETCHILDREN, "/r/c1", true);
	EXPECT_REPLY(c, 2, ZK_OK);
	send_path_watch(c, 3, ZK_OP_GETCHILDREN, "/r", true);
	EXPECT_REPLY(c, 3, ZK_OK);
	int64_t z = fake_apply_delete("/r/c1", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DELETED, "/r/c1", z);
	EXPECT_EVENT(c, ZK_EVENT_NODE_CHILDREN_CHANGED, "/r", z);
	EXPECT_NOTHING(c);
}

/* ---- getACL ---- */

Test(dp_read, get_acl_read_or_admin_and_redaction)
{
	struct dp_conn *c = with_tree();
	struct jute_acl_iter it;
	struct jute_acl a;

	fake_apply_create_acl("/ra", acl_two(&acl_a, ZK_PERM_READ, "world", "anyone", ZK_PERM_ALL,
					     "digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="),
			      true);
	fake_apply_create_acl("/aa", acl_one(&acl_b, ZK_PERM_ADMIN, "world", "anyone"), true);
	fake_apply_create_acl("/none", acl_one(&acl_b, ZK_PERM_WRITE, "world", "anyone"), true);
	fake_poll();

	send_path(c, 1, ZK_OP_GETACL, "/ra");
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_eq(rr.body.acl_stat.acl.count, 2);
	jute_acl_iter_init(&it, &rr.body.acl_stat.acl);
	cr_assert(jute_acl_next(&it, &a));
	cr_assert(jute_buf_eq(a.id, "anyone"));
	cr_assert(jute_acl_next(&it, &a));
	cr_assert(jute_buf_eq(a.id, "bob:x"), "digest hidden without ADMIN: %.*s", a.id.len,
		  a.id.p);
	cr_assert_eq(a.perms, ZK_PERM_ALL);

	send_path(c, 2, ZK_OP_GETACL, "/aa");
	EXPECT_REPLY(c, 2, ZK_OK);
	send_path(c, 3, ZK_OP_GETACL, "/none");
	EXPECT_REPLY(c, 3, ZK_NOAUTH);
	send_path(c, 4, ZK_OP_GETACL, "/missing");
	EXPECT_REPLY(c, 4, ZK_NONODE);

	send_auth(c, "digest", "bob:secret");
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	send_path(c, 5, ZK_OP_GETACL, "/ra");
	EXPECT_REPLY(c, 5, ZK_OK);
	jute_acl_iter_init(&it, &rr.body.acl_stat.acl);
	jute_acl_next(&it, &a);
	jute_acl_next(&it, &a);
	cr_assert(jute_buf_eq(a.id, "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="), "shown with ADMIN");

	send_path(c, 6, ZK_OP_GETACL, "/zookeeper/config");
	EXPECT_REPLY(c, 6, ZK_OK);
	cr_assert_eq(rr.body.acl_stat.stat.aversion, -1);
}

/* ---- counts and ephemerals ---- */

Test(dp_read, get_all_children_number)
{
	struct dp_conn *c = with_tree();

	fake_apply_create("/r/c1/g", "", true);
	fake_poll();
	send_path(c, 1, ZK_OP_GETALLCHILDRENNUMBER, "/r");
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_eq(rr.body.total, 3);
	send_path(c, 2, ZK_OP_GETALLCHILDRENNUMBER, "/");
	EXPECT_REPLY(c, 2, ZK_OK);
	/* /zookeeper, quota, config, /r, c1, c2, g */
	cr_assert_eq(rr.body.total, 7);
	send_path(c, 3, ZK_OP_GETALLCHILDRENNUMBER, "/r/c2");
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_eq(rr.body.total, 0);
	send_path(c, 4, ZK_OP_GETALLCHILDRENNUMBER, "/x");
	EXPECT_REPLY(c, 4, ZK_NONODE);
}

Test(dp_read, get_ephemerals_by_prefix)
{
	struct dp_conn *c = with_tree();
	struct dp_conn *other = fake_session("127.0.0.1", NULL);
	struct proto_request r;

	send_create(c, 1, ZK_OP_CREATE, "/e1", "", ZK_CREATE_EPHEMERAL, NULL);
	send_create(c, 2, ZK_OP_CREATE, "/r/e2", "", ZK_CREATE_EPHEMERAL, NULL);
	send_create(c, 3, ZK_OP_CREATE, "/ex", "", ZK_CREATE_EPHEMERAL, NULL);
	send_create(other, 1, ZK_OP_CREATE, "/e9", "", ZK_CREATE_EPHEMERAL, NULL);
	settle();
	for (int i = 1; i <= 3; i++)
		EXPECT_REPLY(c, i, ZK_OK);
	EXPECT_REPLY(other, 1, ZK_OK);

	struct {
		const char *prefix;
		int count;
	} cases[] = { { "/", 3 }, { "", 3 }, { " / ", 3 }, { "/e", 2 }, { "/r", 1 },
		      { "/e1/", 0 }, { "/zz", 0 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		send_path(c, 10 + (int)i, ZK_OP_GETEPHEMERALS, cases[i].prefix);
		EXPECT_REPLY(c, 10 + (int)i, ZK_OK);
		cr_assert_eq(rr.body.children.count, cases[i].count, "prefix '%s'", cases[i].prefix);
	}
	r = fake_req(30, ZK_OP_GETEPHEMERALS);
	r.path.path = (struct jute_buf){ NULL, -1 };
	fake_send(c, &r);
	EXPECT_REPLY(c, 30, ZK_OK);
	cr_assert_eq(rr.body.children.count, 3);
	cr_assert(has_name(&rr.body.children, "/r/e2"));
}

/* ---- multiRead, whoAmI, ping, reconfig ---- */

Test(dp_read, multi_read_answers_each_op)
{
	struct dp_conn *c = with_tree();
	struct proto_multi_op ops[4];
	struct proto_request r = fake_req(1, ZK_OP_MULTIREAD);
	struct proto_multi_result res;
	struct proto_iter it;

	fake_apply_create_acl("/locked", acl_one(&acl_a, ZK_PERM_WRITE, "world", "anyone"), true);
	fake_poll();
	ops[0] = (struct proto_multi_op){ .type = ZK_OP_GETCHILDREN,
					  .path_watch = { fake_buf("/r"), false } };
	ops[1] = (struct proto_multi_op){ .type = ZK_OP_GETDATA,
					  .path_watch = { fake_buf("/r/c1"), true } };
	ops[2] = (struct proto_multi_op){ .type = ZK_OP_GETDATA,
					  .path_watch = { fake_buf("/missing"), false } };
	ops[3] = (struct proto_multi_op){ .type = ZK_OP_GETCHILDREN,
					  .path_watch = { fake_buf("/locked"), false } };
	r.multi.items = ops;
	r.multi.count = 4;
	fake_send(c, &r);
	EXPECT_REPLY(c, 1, ZK_OK);
	proto_result_iter(&it, &rr.body.multi);
	cr_assert(proto_result_next(&it, &res));
	cr_assert_eq(res.type, ZK_OP_GETCHILDREN);
	cr_assert_eq(res.children.count, 2);
	cr_assert(proto_result_next(&it, &res));
	cr_assert_eq(res.type, ZK_OP_GETDATA);
	cr_assert(jute_buf_eq(res.data_stat.data, "1"));
	cr_assert(proto_result_next(&it, &res));
	cr_assert_eq(res.type, ZK_OP_ERROR);
	cr_assert_eq(res.error, ZK_NONODE);
	cr_assert(proto_result_next(&it, &res));
	cr_assert_eq(res.type, ZK_OP_ERROR);
	cr_assert_eq(res.error, ZK_NOAUTH);
	cr_assert(!proto_result_next(&it, &res));
	/* the getData op's watch */
	int64_t z = fake_apply_setdata("/r/c1", "x", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r/c1", z);
}

Test(dp_read, who_am_i_without_auth)
{
	struct dp_conn *c = fake_session("192.168.7.9", NULL);
	struct proto_request r = fake_req(1, ZK_OP_WHOAMI);
	struct proto_client_info ci;
	struct proto_iter it;

	fake_send(c, &r);
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_eq(rr.body.client_info.count, 1);
	proto_client_info_iter(&it, &rr.body.client_info);
	cr_assert(proto_client_info_next(&it, &ci));
	cr_assert(jute_buf_eq(ci.auth_scheme, "ip"));
	cr_assert(jute_buf_eq(ci.user, "192.168.7.9"));
}

Test(dp_read, ping_carries_the_last_zxid)
{
	struct dp_conn *c = with_tree();
	struct proto_request r = fake_req(ZK_XID_PING, ZK_OP_PING);

	fake_send(c, &r);
	EXPECT_REPLY(c, ZK_XID_PING, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, tree_last_zxid(fw.r.tree));
	cr_assert(!rr.has_body);
}

Test(dp_read, reconfig_on_a_standalone_server)
{
	struct dp_conn *c = with_tree();
	struct proto_request r = fake_req(1, ZK_OP_RECONFIG);

	r.reconfig.joining_servers = fake_buf("server.2=h:1:2");
	r.reconfig.leaving_servers = (struct jute_buf){ NULL, -1 };
	r.reconfig.new_members = (struct jute_buf){ NULL, -1 };
	r.reconfig.cur_config_id = -1;
	fake_send(c, &r);
	EXPECT_REPLY(c, 1, ZK_RECONFIGDISABLED);
	fw.cfg.reconfig_enabled = true;
	r.hdr.xid = 2;
	fake_send(c, &r);
	EXPECT_REPLY(c, 2, ZK_UNIMPLEMENTED);
	cr_assert(!c->closing);
}

/* ---- watch requests ---- */

static void set_watches(struct dp_conn *c, int32_t xid, bool v2, int64_t rel, const char **data,
			int nd, const char **exist, int ne, const char **child, int nc,
			const char **pers, int np, const char **rec, int nr)
{
	struct proto_request r = fake_req(xid, v2 ? ZK_OP_SETWATCHES2 : ZK_OP_SETWATCHES);
	struct jute_buf b[5][8];
	const char **lists[5] = { data, exist, child, pers, rec };
	int counts[5] = { nd, ne, nc, np, nr };
	struct proto_str_list *out[5] = { &r.set_watches.data, &r.set_watches.exist,
					  &r.set_watches.child, &r.set_watches.persistent,
					  &r.set_watches.persistent_recursive };

	r.set_watches.relative_zxid = rel;
	for (int l = 0; l < 5; l++) {
		for (int i = 0; i < counts[l]; i++)
			b[l][i] = fake_buf(lists[l][i]);
		out[l]->items = b[l];
		out[l]->count = counts[l];
	}
	fake_send(c, &r);
}

Test(dp_read, set_watches_relative_zxid_rules)
{
	struct dp_conn *c = with_tree();
	int64_t rel = tree_last_zxid(fw.r.tree);

	fake_apply_create("/gone", "", true);
	int64_t rel2 = tree_last_zxid(fw.r.tree);
	fake_apply_setdata("/r/c1", "changed", true);
	fake_apply_delete("/gone", true);
	fake_poll();
	const char *data[] = { "/r/c1", "/r/c2", "/gone" };
	const char *exist[] = { "/r", "/nothere" };
	const char *child[] = { "/r", "/gone", "/r/c2" };
	set_watches(c, ZK_XID_SET_WATCHES, false, rel2, data, 3, exist, 2, child, 3, NULL, 0, NULL,
		    0);
	(void)rel;
	/* immediate events, zxid -1, in list order, then the reply */
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r/c1", -1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DELETED, "/gone", -1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_CREATED, "/r", -1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DELETED, "/gone", -1);
	EXPECT_REPLY(c, ZK_XID_SET_WATCHES, ZK_OK);
	cr_assert(!rr.has_body);
	EXPECT_NOTHING(c);
	/* registered: data /r/c2, exist /nothere, child /r and /r/c2 */
	int64_t z = fake_apply_setdata("/r/c2", "x", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r/c2", z);
	z = fake_apply_create("/nothere", "", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_CREATED, "/nothere", z);
	EXPECT_NOTHING(c);
	z = fake_apply_create("/r/c3", "", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_CHILDREN_CHANGED, "/r", z);
	z = fake_apply_create("/r/c2/k", "", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_CHILDREN_CHANGED, "/r/c2", z);
}

Test(dp_read, set_watches2_persistent_and_recursive)
{
	struct dp_conn *c = with_tree();
	const char *pers[] = { "/r" };
	const char *rec[] = { "/r/c1" };

	set_watches(c, ZK_XID_SET_WATCHES, true, tree_last_zxid(fw.r.tree), NULL, 0, NULL, 0, NULL,
		    0, pers, 1, rec, 1);
	EXPECT_REPLY(c, ZK_XID_SET_WATCHES, ZK_OK);
	for (int i = 0; i < 2; i++) {
		int64_t z = fake_apply_setdata("/r", "x", true);
		fake_poll();
		EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r", z);
	}
	int64_t z = fake_apply_create("/r/c1/deep", "", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_CREATED, "/r/c1/deep", z);
	EXPECT_NOTHING(c); /* /r's child watch is not recursive; c1's recursive ignores children */
}

static int add_watch(struct dp_conn *c, int32_t xid, const char *path, int32_t mode)
{
	struct proto_request r = fake_req(xid, ZK_OP_ADDWATCH);

	r.add_watch.path = fake_buf(path);
	r.add_watch.mode = mode;
	return fake_send(c, &r);
}

static int watches_req(struct dp_conn *c, int32_t xid, int32_t op, const char *path, int32_t type)
{
	struct proto_request r = fake_req(xid, op);

	r.watches.path = fake_buf(path);
	r.watches.type = type;
	return fake_send(c, &r);
}

Test(dp_read, add_watch_persistent_and_recursive)
{
	struct dp_conn *c = with_tree();

	add_watch(c, 1, "/r", ZK_ADD_WATCH_PERSISTENT);
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(rr.has_body);
	cr_assert_eq(rr.body.err, 0, "ErrorResponse(0)");
	add_watch(c, 2, "/r/c2", ZK_ADD_WATCH_PERSISTENT_RECURSIVE);
	EXPECT_REPLY(c, 2, ZK_OK);
	add_watch(c, 3, "/r", 7);
	EXPECT_REPLY(c, 3, ZK_MARSHALLINGERROR);

	int64_t z = fake_apply_create("/r/c2/x", "", true);
	fake_poll();
	/* child of /r? no: /r/c2/x's parent is /r/c2 (recursive ignores NodeChildrenChanged) */
	EXPECT_EVENT(c, ZK_EVENT_NODE_CREATED, "/r/c2/x", z);
	EXPECT_NOTHING(c);
	z = fake_apply_create("/r/n", "", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_CHILDREN_CHANGED, "/r", z);
	z = fake_apply_setdata("/r", "a", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r", z);
	z = fake_apply_setdata("/r", "b", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r", z);
}

Test(dp_read, check_and_remove_watches)
{
	struct dp_conn *c = with_tree();

	watches_req(c, 1, ZK_OP_CHECKWATCHES, "/r", DP_WTYPE_ANY);
	EXPECT_REPLY(c, 1, ZK_NOWATCHER);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/r", true);
	EXPECT_REPLY(c, 2, ZK_OK);
	add_watch(c, 3, "/r", ZK_ADD_WATCH_PERSISTENT);
	EXPECT_REPLY(c, 3, ZK_OK);
	watches_req(c, 4, ZK_OP_CHECKWATCHES, "/r", DP_WTYPE_DATA);
	EXPECT_REPLY(c, 4, ZK_OK);
	watches_req(c, 5, ZK_OP_CHECKWATCHES, "/r", DP_WTYPE_CHILDREN);
	EXPECT_REPLY(c, 5, ZK_NOWATCHER);
	watches_req(c, 6, ZK_OP_REMOVEWATCHES, "/r", DP_WTYPE_DATA);
	EXPECT_REPLY(c, 6, ZK_OK);
	cr_assert(!rr.has_body);
	watches_req(c, 7, ZK_OP_REMOVEWATCHES, "/r", DP_WTYPE_DATA);
	EXPECT_REPLY(c, 7, ZK_NOWATCHER);
	watches_req(c, 8, ZK_OP_REMOVEWATCHES, "/r", DP_WTYPE_PERSISTENT);
	EXPECT_REPLY(c, 8, ZK_OK);
	watches_req(c, 9, ZK_OP_CHECKWATCHES, "/r", 9);
	EXPECT_REPLY(c, 9, ZK_MARSHALLINGERROR);
	/* nothing left, and ZooKeeper's server sends no *WatchRemoved events */
	fake_apply_setdata("/r", "q", true);
	fake_poll();
	EXPECT_NOTHING(c);
}

Test(dp_read, closing_drops_watches)
{
	struct dp_conn *c = with_tree();
	struct dp_proto_stats st;

	send_path_watch(c, 1, ZK_OP_GETDATA, "/r", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	add_watch(c, 2, "/", ZK_ADD_WATCH_PERSISTENT_RECURSIVE);
	EXPECT_REPLY(c, 2, ZK_OK);
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.watches, 2);
	fake_conn_gone(c);
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.watches, 0);
	fake_apply_setdata("/r", "q", true);
	fake_poll();
}

/* ---- repl.h rule 2 ---- */

Test(dp_read, reply_waits_for_the_events_it_could_reveal)
{
	struct dp_conn *a = with_tree();
	struct dp_conn *b = fake_session("127.0.0.1", NULL);

	send_path_watch(a, 1, ZK_OP_GETDATA, "/r", true);
	EXPECT_REPLY(a, 1, ZK_OK);
	/* another worker's setData is applied; its events are not out yet */
	int64_t z = fake_apply_setdata("/r", "v2", false);
	send_path_watch(b, 1, ZK_OP_GETDATA, "/r", false);
	/* b's reply shows v2: it must wait (the spin times out: nothing published) */
	EXPECT_NOTHING(b);
	EXPECT_NOTHING(a);
	fake_core_publish();
	fake_poll();
	EXPECT_EVENT(a, ZK_EVENT_NODE_DATA_CHANGED, "/r", z);
	EXPECT_REPLY(b, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "v2"));
	cr_assert_eq(rr.hdr.zxid, z);
}

Test(dp_read, a_parked_read_blocks_what_follows_it)
{
	struct dp_conn *b = with_tree();
	struct proto_request ping = fake_req(ZK_XID_PING, ZK_OP_PING);

	fake_apply_setdata("/r", "v2", false);
	send_path_watch(b, 1, ZK_OP_GETDATA, "/r", false);
	fake_send(b, &ping);
	send_create(b, 2, ZK_OP_CREATE, "/after", "", 0, NULL);
	EXPECT_NOTHING(b);
	cr_assert_eq(fake_core_run(), 0, "the create waits behind the parked read");
	fake_core_publish();
	settle();
	EXPECT_REPLY(b, 1, ZK_OK);
	EXPECT_REPLY(b, ZK_XID_PING, ZK_OK);
	EXPECT_REPLY(b, 2, ZK_OK);
}

Test(dp_read, watch_of_a_parked_read_ignores_what_it_read)
{
	struct dp_conn *c = with_tree();

	/* the read sees the change (zxid z); its event is still in flight */
	int64_t z = fake_apply_setdata("/r", "v2", false);
	send_path_watch(c, 1, ZK_OP_GETDATA, "/r", true);
	EXPECT_NOTHING(c);
	fake_core_publish();
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "v2"));
	EXPECT_NOTHING(c); /* z was read: no event for it */
	int64_t z2 = fake_apply_setdata("/r", "v3", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r", z2);
	cr_assert_gt(z2, z);
}

Test(dp_read, watch_of_a_parked_read_fires_after_its_reply)
{
	struct dp_conn *c = with_tree();
	struct dp_conn *w = fake_session("127.0.0.1", NULL);

	/* w watches /r/c2; c's reply will be parked behind a txn it reveals */
	send_path_watch(w, 1, ZK_OP_GETDATA, "/r/c2", true);
	EXPECT_REPLY(w, 1, ZK_OK);
	send_path_watch(c, 5, ZK_OP_GETDATA, "/r/c2", true);
	EXPECT_REPLY(c, 5, ZK_OK); /* a standing watch of c on /r/c2 */
	int64_t z1 = fake_apply_create("/r/new", "", false); /* /r's pzxid */
	send_path_watch(c, 1, ZK_OP_GETDATA, "/r", true);
	EXPECT_NOTHING(c);
	/* then /r and /r/c2 change before c's reply went out */
	int64_t z2 = fake_apply_setdata("/r/c2", "x", false);
	int64_t z3 = fake_apply_setdata("/r", "changed", false);
	fake_core_publish();
	fake_poll();
	/*
	 * c read /r before z3: its reply comes first, then, in zxid order,
	 * the events of z2 and z3 (z2's is held behind the reply too: a
	 * connection's events stay in order).
	 */
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "rv"));
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r/c2", z2);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/r", z3);
	EXPECT_NOTHING(c);
	EXPECT_EVENT(w, ZK_EVENT_NODE_DATA_CHANGED, "/r/c2", z2);
	/* the watch was consumed by z3 */
	fake_apply_setdata("/r", "again", true);
	fake_poll();
	EXPECT_NOTHING(c);
}

/*
 * A read that reveals nothing newer than the events this worker has
 * delivered answers at once, with that zxid, even while newer txns (on
 * other paths) are applied but not yet delivered here.
 */
Test(dp_read, read_of_an_unchanged_node_does_not_wait_for_unrelated_txns)
{
	struct dp_conn *c = with_tree();
	int64_t seen = tree_last_zxid(fw.r.tree);

	int64_t z = fake_apply_create("/elsewhere", "", false);
	cr_assert_gt(z, seen);
	send_path_watch(c, 1, ZK_OP_GETDATA, "/r", false);
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "rv"));
	cr_assert_eq(rr.hdr.zxid, seen);
	/* getChildren of the root does see /elsewhere: it waits for z */
	send_path_watch(c, 2, ZK_OP_GETCHILDREN, "/", false);
	EXPECT_NOTHING(c);
	fake_core_publish();
	fake_poll();
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z);
}

Test(dp_read, exist_watch_of_a_parked_read_sees_a_later_create)
{
	struct dp_conn *c = with_tree();

	fake_apply_create("/elsewhere", "", false);
	send_path_watch(c, 1, ZK_OP_EXISTS, "/soon", true);
	EXPECT_NOTHING(c);
	int64_t z = fake_apply_create("/soon", "", false);
	fake_core_publish();
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_NONODE);
	EXPECT_EVENT(c, ZK_EVENT_NODE_CREATED, "/soon", z);
}

Test(dp_read, parked_reply_released_by_a_txn_without_events)
{
	struct dp_conn *c = with_tree();

	/* setACL fires no watch: nothing reaches this worker's ring for it */
	int64_t z = fake_apply_setacl("/r", acl_one(&acl_a, ZK_PERM_ALL, "world", "anyone"), false);
	send_path(c, 1, ZK_OP_GETACL, "/r");
	EXPECT_NOTHING(c); /* L = z, not yet published */
	fake_core_publish();
	fake_poll(); /* published >= z, the (empty) ring drained: seen = z */
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z);
	cr_assert_eq(rr.body.acl_stat.stat.aversion, 1);
}

/*
 * Issue 8: a 17 KB multiRead of 1,000 getData on a 1 MB node made the
 * server build a 1 GB reply.  The reply is bounded by jute.maxbuffer
 * while it is built: past it the whole multiRead is MARSHALLINGERROR,
 * the session goes on, the op's watches are forgotten, and the worker's
 * scratch buffer never grew much beyond the bound (what it allocated).
 */
Test(dp_read, multi_read_reply_is_bounded_by_jute_maxbuffer)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	enum { MAX = 64 * 1024, DATA = 16 * 1024, NOPS = 200 };
	static struct proto_multi_op ops[NOPS];
	struct proto_request r = fake_req(1, ZK_OP_MULTIREAD);
	struct proto_multi_result res;
	struct proto_iter it;
	char *data = malloc(DATA + 1);

	cr_assert_not_null(data);
	memset(data, 'd', DATA);
	data[DATA] = '\0';
	fw.w.proto->max_frame = MAX;
	fake_apply_create("/big", data, true);
	fake_apply_create("/w", "w", true);
	fake_poll();
	free(data);
	/* a watch on /w first, then reads of /big */
	ops[0] = (struct proto_multi_op){ .type = ZK_OP_GETDATA,
					  .path_watch = { fake_buf("/w"), true } };
	for (int i = 1; i < NOPS; i++)
		ops[i] = (struct proto_multi_op){ .type = ZK_OP_GETDATA,
						  .path_watch = { fake_buf("/big"), false } };
	/* 3 x 16 KiB fits in 64 KiB */
	r.multi.items = ops + 1;
	r.multi.count = 3;
	fake_send(c, &r);
	EXPECT_REPLY(c, 1, ZK_OK);
	proto_result_iter(&it, &rr.body.multi);
	for (int i = 0; i < 3; i++) {
		cr_assert(proto_result_next(&it, &res));
		cr_assert_eq(res.type, ZK_OP_GETDATA);
		cr_assert_eq(res.data_stat.data.len, DATA);
	}
	/* 200 x 16 KiB = 3.2 MiB does not */
	r = fake_req(2, ZK_OP_MULTIREAD);
	r.multi.items = ops;
	r.multi.count = NOPS;
	fake_send(c, &r);
	EXPECT_REPLY(c, 2, ZK_MARSHALLINGERROR);
	cr_assert(!rr.has_body);
	cr_assert_leq(fw.w.proto->scratch.cap, 2 * MAX + 2 * DATA,
		      "the server allocated %zu bytes for a reply bounded at %d",
		      fw.w.proto->scratch.cap, MAX);
	cr_assert(!c->closing);
	/* the session goes on; the failed request's watch on /w is gone */
	send_path_watch(c, 3, ZK_OP_EXISTS, "/big", false);
	EXPECT_REPLY(c, 3, ZK_OK);
	fake_apply_setdata("/w", "x", true);
	fake_poll();
	EXPECT_NOTHING(c);
}

/*
 * A read of a missing path looks for its nearest existing ancestor (its
 * pzxid is what the miss reveals).  One lookup per component, each
 * hashing its prefix, made a 500 kB path of 250,000 components cost
 * ~10^11 byte hashes (minutes; the test's timeout); the search is binary.
 * The answer is the same: the ancestor's pzxid bounds the reply's zxid.
 */
Test(dp_read, missing_path_with_many_components_is_cheap)
{
	struct dp_conn *c = with_tree();
	enum { N = 250000 };
	char *path = malloc(2 * N + 16);
	struct proto_request r = fake_req(1, ZK_OP_GETDATA);

	cr_assert_not_null(path);
	strcpy(path, "/r/c1");
	for (int i = 0; i < N; i++)
		memcpy(path + 5 + 2 * i, "/a", 2);
	path[5 + 2 * N] = '\0';
	r.path_watch.path = fake_buf(path);
	fake_send(c, &r);
	EXPECT_REPLY(c, 1, ZK_NONODE);
	/* /r/c1 was created by the third write: its pzxid is that zxid */
	cr_assert_leq(rr.hdr.zxid, fw.w.proto->seen_zxid);
	r = fake_req(2, ZK_OP_EXISTS);
	r.path_watch.path = fake_buf(path);
	r.path_watch.watch = true;
	fake_send(c, &r);
	EXPECT_REPLY(c, 2, ZK_NONODE);
	free(path);
}
