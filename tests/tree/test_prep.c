// SPDX-License-Identifier: Apache-2.0
/*
 * Prep (PrepRequestProcessor): the order of checks and error codes of
 * every write, outstanding changes seen by pipelined requests, sequential
 * names, multi (all-or-nothing, rollback, ERROR ops), closeSession, and
 * round trips prep -> tree_txn_decode -> tree_apply checked against
 * ZooKeeper's Stat arithmetic.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

#include "tests/common/leakcheck.h"
#include "tree/tree_priv.h"
#include "tree_test_util.h"

#define S1 ((int64_t)0x0100000000000001LL)
#define S2 ((int64_t)0x0100000000000002LL)
#define MAXQ 256

/* An ACL list of any length: acl_of(&a, n, perms, scheme, id, ...). */
struct acl_buf {
	uint8_t buf[1024];
	struct jute_acl_list list;
};

static void acl_of(struct acl_buf *a, int n, ...)
{
	struct jute_out o;
	struct jute_in in;
	va_list ap;

	jute_out_init_fixed(&o, a->buf, sizeof(a->buf));
	jute_put_int(&o, n);
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		jute_put_int(&o, va_arg(ap, int));
		jute_put_string(&o, va_arg(ap, const char *));
		jute_put_string(&o, va_arg(ap, const char *));
	}
	va_end(ap);
	cr_assert_eq(o.err, 0);
	jute_in_init(&in, a->buf, o.len);
	cr_assert_eq(jute_get_acl_list(&in, &a->list, 1024), 0);
}

static struct tree *t;
static struct tree_prep *p;
static int64_t zxid; /* the last one handed out */
static struct {
	uint8_t *buf;
	size_t len;
	int64_t zxid;
} q[MAXQ]; /* every encoded txn; q[applied..nq) not applied yet */
static int nq, applied;
static struct tree_txn last; /* the newest txn, decoded */
static struct tree_apply_out aout;
static struct acl_buf open_acl, read_acl;

static void setup_opts(bool extended)
{
	struct tree_opts opts = { .max_data = ZK_DEFAULT_MAX_BUFFER, .extended_types = extended };

	urcu_qsbr_register_thread();
	t = tree_new(&opts);
	cr_assert_not_null(t);
	p = tree_prep_new(t);
	cr_assert_not_null(p);
	zxid = 0;
	nq = applied = 0;
	memset(&last, 0, sizeof(last));
	memset(&aout, 0, sizeof(aout));
	acl_of(&open_acl, 1, ZK_PERM_ALL, "world", "anyone");
	acl_of(&read_acl, 1, ZK_PERM_READ, "world", "anyone");
}

static void setup(void)
{
	setup_opts(true);
}

static void setup_noext(void)
{
	setup_opts(false);
}

static void teardown(void)
{
	tree_txn_release(&last);
	for (int i = 0; i < nq; i++)
		free(q[i].buf);
	tree_apply_out_release(&aout);
	tree_prep_free(p);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

TestSuite(tree_prep, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(tree_prep_noext, .init = setup_noext, .fini = teardown, .timeout = 30);

/* ---- Running prep and apply ---- */

static struct tree_txn next_hdr(int64_t session)
{
	zxid++;
	return (struct tree_txn){ .session = session, .cxid = (int32_t)(500 + zxid), .zxid = zxid,
				  .time = 100000 + zxid * 10 };
}

/* Keeps the encoded txn (taking o's buffer) and decodes it into last. */
static void keep(struct jute_out *o, const struct tree_txn *hdr)
{
	cr_assert_eq(o->err, 0);
	cr_assert_lt(nq, MAXQ);
	q[nq].buf = o->buf;
	q[nq].len = o->len;
	q[nq].zxid = hdr->zxid;
	nq++;
	tree_txn_release(&last);
	cr_assert_eq(tree_txn_decode(o->buf, o->len, ZK_DEFAULT_MAX_BUFFER, &last), 0);
	cr_assert_eq(last.session, hdr->session);
	cr_assert_eq(last.cxid, hdr->cxid);
	cr_assert_eq(last.zxid, hdr->zxid);
	cr_assert_eq(last.time, hdr->time);
}

static enum zk_err prep_full(const struct tree_req *r, uint32_t n, bool multi, int64_t session,
			     const struct tree_auth *auth)
{
	struct tree_txn hdr = next_hdr(session);
	struct jute_out o;
	enum zk_err rc;

	jute_out_init(&o, 0);
	rc = tree_prep_write(p, &hdr, r, n, multi, auth, &o);
	keep(&o, &hdr);
	if (!multi) {
		/* A failed request is an ERROR txn carrying its code. */
		cr_assert_eq(last.nops, 1);
		if (rc != ZK_OK) {
			cr_assert_eq(last.type, ZK_OP_ERROR);
			cr_assert_eq(last.ops[0].type, ZK_OP_ERROR);
			cr_assert_eq(last.ops[0].err, rc);
		} else {
			cr_assert_eq(last.type, last.ops[0].type);
		}
	}
	return rc;
}

static enum zk_err prep_as(struct tree_req r, int64_t session, const struct tree_auth *auth)
{
	return prep_full(&r, 1, false, session, auth);
}

static enum zk_err prep1(struct tree_req r)
{
	return prep_as(r, S1, NULL);
}

static enum zk_err multi(const struct tree_req *r, uint32_t n)
{
	return prep_full(r, n, true, S1, NULL);
}

static void close_session(int64_t session)
{
	struct tree_txn hdr = next_hdr(session);
	struct jute_out o;

	jute_out_init(&o, 0);
	tree_prep_close_session(p, &hdr, &o);
	keep(&o, &hdr);
	cr_assert_eq(last.type, ZK_OP_CLOSESESSION);
}

/* Applies the oldest txn not applied yet, then tells prep (unless keep_records). */
static void apply_next_opt(bool tell_prep)
{
	struct tree_txn txn;

	cr_assert_lt(applied, nq);
	cr_assert_eq(tree_txn_decode(q[applied].buf, q[applied].len, ZK_DEFAULT_MAX_BUFFER, &txn),
		     0);
	cr_assert_eq(tree_apply(t, &txn, &aout), 0);
	tree_txn_release(&txn);
	if (tell_prep)
		tree_prep_applied(p, q[applied].zxid);
	applied++;
}

static void apply_next(void)
{
	apply_next_opt(true);
}

static void apply_all(void)
{
	while (applied < nq)
		apply_next();
}

/* ---- Requests ---- */

static struct tree_req creq_type(int32_t type, const char *path, int32_t flags)
{
	return (struct tree_req){ .type = type, .flags = flags, .version = -1,
				  .path = test_buf(path), .data = test_buf("data"),
				  .acl = open_acl.list };
}

static struct tree_req creq(const char *path, int32_t flags)
{
	return creq_type(ZK_OP_CREATE, path, flags);
}

static struct tree_req ttlreq(const char *path, int32_t flags, int64_t ttl)
{
	struct tree_req r = creq_type(ZK_OP_CREATETTL, path, flags);

	r.ttl = ttl;
	return r;
}

static struct tree_req req(int32_t type, const char *path, int32_t version)
{
	return (struct tree_req){ .type = type, .version = version, .path = test_buf(path),
				  .data = test_buf("new"), .acl = open_acl.list };
}

static struct tree_req with_acl(struct tree_req r, const struct acl_buf *a)
{
	r.acl = a->list;
	return r;
}

/* A path with bytes a C string cannot hold. */
static struct tree_req with_path(struct tree_req r, const char *path, int32_t len)
{
	r.path = (struct jute_buf){ (const uint8_t *)path, len };
	return r;
}

/* Creates and applies a node. */
static void make(const char *path, int32_t flags)
{
	cr_assert_eq(prep1(creq(path, flags)), ZK_OK, "create %s", path);
	apply_all();
}

static void make_acl(const char *path, const struct acl_buf *a)
{
	cr_assert_eq(prep1(with_acl(creq(path, 0), a)), ZK_OK, "create %s", path);
	apply_all();
}

/* ---- Looking at results ---- */

static struct tree_node *wnode(const char *path)
{
	return tree_find(t, path, strlen(path));
}

/* The node's ext block, made with the defaults when it has none (as tree.c's node_ext). */
static struct tree_node_ext *wext(const char *path)
{
	struct tree_node *n = wnode(path);

	if (!n->ext) {
		n->ext = malloc(sizeof(*n->ext));
		cr_assert_not_null(n->ext);
		*n->ext = (struct tree_node_ext){
			.pzxid = tree_node_czxid(n),
			.mzxid = tree_node_czxid(n),
			.mtime = tree_node_ctime(n)};
	}
	return n->ext;
}

static struct zk_stat stat_of(const char *path)
{
	const struct tree_node *n = tree_lookup(t, path, strlen(path));
	struct zk_stat st;

	cr_assert_not_null(n, "%s should exist", path);
	tree_node_read(n, &st, NULL);
	return st;
}

static bool exists(const char *path)
{
	return tree_lookup(t, path, strlen(path)) != NULL;
}

static void assert_path(struct jute_buf b, const char *want)
{
	cr_assert(jute_buf_eq(b, want), "path %.*s, want %s", b.len, b.p, want);
}

static void assert_event(uint32_t i, int32_t type, const char *path)
{
	cr_assert_gt(aout.nevents, i);
	cr_assert_eq(aout.events[i].type, type, "event %u type %d", i, aout.events[i].type);
	assert_path(aout.events[i].path, path);
}

static void assert_acl(struct jute_acl_list got, const struct acl_buf *want)
{
	cr_assert_eq(got.count, want->list.count);
	cr_assert_eq(got.raw_len, want->list.raw_len);
	cr_assert_arr_eq(got.raw, want->list.raw, want->list.raw_len);
}

/* ---- create: order of checks ---- */

Test(tree_prep, create_rejects_unknown_flags)
{
	cr_assert_eq(prep1(creq("/a", 7)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq("/a", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq("/a", 0x10000)), ZK_BADARGUMENTS);
	/* Flags come before the path. */
	cr_assert_eq(prep1(with_path(creq("/a", 7), NULL, -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq("nope", 8)), ZK_BADARGUMENTS);
	cr_assert_not(exists("/a"));
}

Test(tree_prep_noext, ttl_modes_are_unimplemented_before_ttl_is_checked)
{
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT_WITH_TTL, 100)), ZK_UNIMPLEMENTED);
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL, 0)),
		     ZK_UNIMPLEMENTED);
	cr_assert_eq(prep1(creq("/t", ZK_CREATE_PERSISTENT_WITH_TTL)), ZK_UNIMPLEMENTED);
	cr_assert_eq(prep1(with_path(ttlreq("/t", 5, -7), NULL, -1)), ZK_UNIMPLEMENTED);
	/* A non-TTL mode with a ttl is BADARGUMENTS whatever the setting. */
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT, 5)), ZK_BADARGUMENTS);
	/* Containers need no extended types. */
	cr_assert_eq(prep1(creq_type(ZK_OP_CREATECONTAINER, "/c", ZK_CREATE_CONTAINER)), ZK_OK);
	cr_assert_eq(last.ops[0].ephemeral_owner, TREE_OWNER_CONTAINER);
}

Test(tree_prep, ttl_must_be_in_range)
{
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT_WITH_TTL, 0)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT_WITH_TTL, -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT_WITH_TTL, TREE_TTL_MAX + 1)),
		     ZK_BADARGUMENTS);
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT_WITH_TTL, TREE_TTL_MAX)), ZK_OK);
	cr_assert_eq(last.ops[0].type, ZK_OP_CREATETTL);
	cr_assert_eq(last.ops[0].ephemeral_owner, (int64_t)0xff0000ffffffffffULL);
	cr_assert_eq(prep1(ttlreq("/u", ZK_CREATE_PERSISTENT_WITH_TTL, 1)), ZK_OK);
	cr_assert_eq(last.ops[0].ephemeral_owner, (int64_t)0xff00000000000001ULL);
	apply_all();
	cr_assert_eq(stat_of("/u").ephemeral_owner, 0, "clients see 0 for TTL nodes");
	cr_assert_eq(tree_node_owner(wnode("/u")), (int64_t)0xff00000000000001ULL);
}

Test(tree_prep, ttl_goes_only_with_ttl_modes)
{
	/* create/create2/createContainer carry ttl -1: a TTL mode is then BADARGUMENTS. */
	cr_assert_eq(prep1(creq("/t", ZK_CREATE_PERSISTENT_WITH_TTL)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq_type(ZK_OP_CREATE2, "/t",
				     ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL)),
		     ZK_BADARGUMENTS);
	/* validateTTL: a non-TTL mode with ttl >= 0. */
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT, 0)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_EPHEMERAL, 10)), ZK_BADARGUMENTS);
	/* ttl < 0 passes ZooKeeper's prep, then DataTree throws: refused here. */
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_EPHEMERAL, -1)), ZK_BADARGUMENTS);
	/* The request's ttl field means nothing to a plain create. */
	struct tree_req r = creq("/t", 0);
	r.ttl = 99;
	cr_assert_eq(prep1(r), ZK_OK);
}

Test(tree_prep, create_null_path_is_a_marshalling_error)
{
	cr_assert_eq(prep1(with_path(creq("/a", 0), NULL, -1)), ZK_MARSHALLINGERROR);
}

Test(tree_prep, create_rejects_paths_without_slash_or_with_nul)
{
	cr_assert_eq(prep1(creq("a", 0)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq("", 0)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq("", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(with_path(creq("", 0), "/a\0b", 4)), ZK_BADARGUMENTS);
	/* Even when the ACL is bad too: the path comes first. */
	struct acl_buf none;
	acl_of(&none, 0);
	cr_assert_eq(prep1(with_acl(creq("a", 0), &none)), ZK_BADARGUMENTS);
}

Test(tree_prep, create_checks_acl_before_parent)
{
	struct acl_buf none, bad;

	acl_of(&none, 0);
	acl_of(&bad, 1, ZK_PERM_ALL, "digest", "nocolon");
	cr_assert_eq(prep1(with_acl(creq("/missing/x", 0), &none)), ZK_INVALIDACL);
	cr_assert_eq(prep1(with_acl(creq("/missing/x", 0), &bad)), ZK_INVALIDACL);
	cr_assert_eq(prep1(creq("/missing/x", 0)), ZK_NONODE);
}

Test(tree_prep, create_checks_parent_then_auth_then_final_path)
{
	make_acl("/ro", &read_acl);
	make("/rw", 0);
	/* "/x/" is not a valid final path: BADARGUMENTS only once parent and auth pass. */
	cr_assert_eq(prep1(creq("/nope/", 0)), ZK_NONODE);
	cr_assert_eq(prep1(creq("/ro/", 0)), ZK_NOAUTH);
	cr_assert_eq(prep1(creq("/ro/x", 0)), ZK_NOAUTH);
	cr_assert_eq(prep1(creq("/rw/", 0)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq("/rw/.", 0)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq("/rw//x", 0)), ZK_NONODE, "parent \"/rw/\" does not exist");
	cr_assert_eq(prep1(creq("/rw/x", 0)), ZK_OK);
}

Test(tree_prep, create_reports_existing_before_ephemeral_parent)
{
	/*
	 * Only a tree edited behind prep's back has a child under an
	 * ephemeral: /p (S1's) passes for persistent while /p/x is made.
	 */
	make("/p", ZK_CREATE_EPHEMERAL);
	cr_assert_eq(tree_node_owner(wnode("/p")), S1);
	wnode("/p")->kind = NODE_PERSISTENT;
	make("/p/x", 0);
	wnode("/p")->kind = NODE_EPHEMERAL;
	cr_assert_eq(prep1(creq("/p/x", 0)), ZK_NODEEXISTS);
	cr_assert_eq(prep1(creq("/p/y", 0)), ZK_NOCHILDRENFOREPHEMERALS);
}

Test(tree_prep, rejects_create_under_ephemeral)
{
	cr_assert_eq(prep1(creq("/e", ZK_CREATE_EPHEMERAL)), ZK_OK);
	/* Pending, then applied; whoever asks. */
	cr_assert_eq(prep1(creq("/e/x", 0)), ZK_NOCHILDRENFOREPHEMERALS);
	cr_assert_eq(prep1(creq("/e/x", ZK_CREATE_PERSISTENT_SEQUENTIAL)),
		     ZK_NOCHILDRENFOREPHEMERALS);
	apply_all();
	cr_assert_eq(prep_as(creq("/e/x", ZK_CREATE_EPHEMERAL), S2, NULL),
		     ZK_NOCHILDRENFOREPHEMERALS);
}

Test(tree_prep, containers_and_ttl_nodes_may_have_children)
{
	cr_assert_eq(prep1(creq_type(ZK_OP_CREATECONTAINER, "/c", ZK_CREATE_CONTAINER)), ZK_OK);
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT_WITH_TTL, 5000)), ZK_OK);
	cr_assert_eq(prep1(creq("/c/a", 0)), ZK_OK);
	cr_assert_eq(prep1(creq("/t/a", ZK_CREATE_EPHEMERAL)), ZK_OK);
	apply_all();
	cr_assert(exists("/c/a"));
	cr_assert(exists("/t/a"));
	cr_assert_eq(prep1(creq("/c/b", 0)), ZK_OK);
}

Test(tree_prep, create_of_an_existing_node_is_nodeexists)
{
	cr_assert_eq(prep1(creq("/", 0)), ZK_NODEEXISTS);
	cr_assert_eq(prep1(creq("/zookeeper", 0)), ZK_NODEEXISTS);
	/* The parent's ACL decides; /zookeeper is open. */
	cr_assert_eq(prep1(creq("/zookeeper/config", 0)), ZK_NODEEXISTS);
	cr_assert_eq(prep1(creq("/a", 0)), ZK_OK);
	cr_assert_eq(prep1(creq("/a", ZK_CREATE_EPHEMERAL)), ZK_NODEEXISTS, "pending");
	apply_all();
	cr_assert_eq(prep1(creq("/a", 0)), ZK_NODEEXISTS, "applied");
}

/* ---- create: names, owners, txn fields ---- */

Test(tree_prep, fresh_tree_first_sequential_is_zero)
{
	struct zk_stat root;

	cr_assert_eq(prep1(creq("/x-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/x-0000000000");
	cr_assert_eq(last.ops[0].parent_cversion, 1);
	apply_all();
	root = stat_of("/");
	cr_assert_eq(wext("/")->cversion, 1);
	cr_assert_eq(root.cversion, 0, "2*1 - 2 children");
	cr_assert_eq(root.pzxid, zxid);
	cr_assert_eq(root.num_children, 2);
}

Test(tree_prep, sequential_suffix_is_the_parents_persisted_cversion)
{
	make("/s", 0);
	cr_assert_eq(prep1(creq("/s/n-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/s/n-0000000000");
	/* Pipelined: the pending parent record counts. */
	cr_assert_eq(prep1(creq("/s/n-", ZK_CREATE_EPHEMERAL_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/s/n-0000000001");
	cr_assert_eq(last.ops[0].parent_cversion, 2);
	cr_assert_eq(prep1(creq("/s/other", 0)), ZK_OK);
	apply_all();
	/* Deletes do not give numbers back. */
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/s/n-0000000000", -1)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/s/other", -1)), ZK_OK);
	cr_assert_eq(prep1(creq("/s/n-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/s/n-0000000003");
	apply_all();
	cr_assert_eq(wext("/s")->cversion, 4);
	cr_assert_eq(stat_of("/s").cversion, 2 * 4 - 2);
}

Test(tree_prep, sequential_suffix_formats_negative_cversion_like_java)
{
	make("/n", 0);
	wext("/n")->cversion = -2;
	cr_assert_eq(prep1(creq("/n/q-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/n/q--000000002");
	cr_assert_eq(last.ops[0].parent_cversion, -1);
	wext("/n")->cversion = INT32_MAX;
	tree_prep_applied(p, zxid);
	cr_assert_eq(prep1(creq("/n/q-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/n/q-2147483647");
	cr_assert_eq(last.ops[0].parent_cversion, INT32_MIN);
	cr_assert_eq(prep1(creq("/n/q-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/n/q--2147483648");
	cr_assert_eq(last.ops[0].parent_cversion, INT32_MIN + 1);
}

Test(tree_prep, sequential_path_may_end_with_slash)
{
	make("/s", 0);
	cr_assert_eq(prep1(creq("/s/", 0)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(creq("/s/", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/s/0000000000");
	/* The suffix completes the name that is validated. */
	cr_assert_eq(prep1(creq("/s/.", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/s/.0000000001");
	cr_assert_eq(prep1(creq("/s//", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_NONODE);
}

Test(tree_prep, create_txn_carries_owner_data_acl_and_parent_cversion)
{
	struct zk_stat st;

	cr_assert_eq(prep1(creq_type(ZK_OP_CREATE2, "/e", ZK_CREATE_EPHEMERAL)), ZK_OK);
	cr_assert_eq(last.type, ZK_OP_CREATE2);
	assert_path(last.ops[0].path, "/e");
	cr_assert(jute_buf_eq(last.ops[0].data, "data"));
	assert_acl(last.ops[0].acl, &open_acl);
	cr_assert_eq(last.ops[0].ephemeral_owner, S1);
	cr_assert_eq(last.ops[0].parent_cversion, 1);
	cr_assert_eq(prep1(creq_type(ZK_OP_CREATECONTAINER, "/c", ZK_CREATE_CONTAINER)), ZK_OK);
	cr_assert_eq(last.ops[0].ephemeral_owner, TREE_OWNER_CONTAINER);
	cr_assert_eq(last.ops[0].parent_cversion, 2);
	struct tree_req nul = creq("/nul", 0);
	nul.data = test_buf(NULL);
	cr_assert_eq(prep1(nul), ZK_OK);
	cr_assert_eq(last.ops[0].data.len, -1, "null data stays null");
	apply_all();
	st = stat_of("/e");
	cr_assert_eq(st.czxid, 1);
	cr_assert_eq(st.mzxid, 1);
	cr_assert_eq(st.pzxid, 1);
	cr_assert_eq(st.ctime, 100010);
	cr_assert_eq(st.mtime, 100010);
	cr_assert_eq(st.version, 0);
	cr_assert_eq(st.cversion, 0);
	cr_assert_eq(st.aversion, 0);
	cr_assert_eq(st.ephemeral_owner, S1);
	cr_assert_eq(st.data_length, 4);
	cr_assert_eq(stat_of("/c").ephemeral_owner, 0, "containers show owner 0");
}

Test(tree_prep, create_opcode_and_mode_disagreeing_follow_zookeeper)
{
	/* create + CONTAINER flag: CreateTxn(ephemeral=false), a plain node. */
	cr_assert_eq(prep1(creq("/a", ZK_CREATE_CONTAINER)), ZK_OK);
	cr_assert_eq(last.ops[0].type, ZK_OP_CREATE);
	cr_assert_eq(last.ops[0].ephemeral_owner, 0);
	/* createContainer + PERSISTENT: CreateContainerTxn, a container. */
	cr_assert_eq(prep1(creq_type(ZK_OP_CREATECONTAINER, "/b", ZK_CREATE_PERSISTENT)), ZK_OK);
	cr_assert_eq(last.ops[0].ephemeral_owner, TREE_OWNER_CONTAINER);
	apply_all();
	cr_assert_eq(wnode("/a")->kind, NODE_PERSISTENT);
	cr_assert_eq(wnode("/b")->kind, NODE_CONTAINER);
}

Test(tree_prep, pipelined_create_parent_then_child)
{
	cr_assert_eq(prep1(creq("/a", 0)), ZK_OK);
	cr_assert_eq(prep1(creq("/a/b", 0)), ZK_OK);
	cr_assert_eq(prep1(creq("/a/b/c", ZK_CREATE_EPHEMERAL)), ZK_OK);
	cr_assert_eq(prep1(creq("/a/b/c/d", 0)), ZK_NOCHILDRENFOREPHEMERALS);
	cr_assert_eq(prep1(creq("/a/b/c", 0)), ZK_NODEEXISTS);
	apply_next();
	cr_assert(exists("/a"));
	cr_assert_not(exists("/a/b"));
	apply_all();
	cr_assert(exists("/a/b/c"));
	cr_assert_eq(stat_of("/a/b").num_children, 1);
	cr_assert_eq(stat_of("/a").pzxid, 2);
}

Test(tree_prep, pipelined_delete_then_create)
{
	make("/a", 0);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/a", 0)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/a", -1)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", -1)), ZK_NONODE);
	cr_assert_eq(prep1(creq("/a/x", 0)), ZK_NONODE);
	cr_assert_eq(prep1(creq("/a", ZK_CREATE_EPHEMERAL)), ZK_OK);
	int64_t created = zxid;
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/a", 0)), ZK_OK);
	cr_assert_eq(prep1(creq("/a", 0)), ZK_OK);
	apply_all();
	cr_assert(exists("/a"));
	cr_assert_eq(stat_of("/a").czxid, zxid);
	cr_assert_neq(created, zxid);
	cr_assert_eq(stat_of("/a").ephemeral_owner, 0);
}

/* ---- delete ---- */

Test(tree_prep, delete_rejects_special_and_malformed_paths)
{
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/zookeeper", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/zookeeper/quota", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/zookeeper/config", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "a", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(with_path(req(ZK_OP_DELETE, "", -1), "/a\0", 3)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(with_path(req(ZK_OP_DELETE, "", -1), NULL, -1)), ZK_MARSHALLINGERROR);
	cr_assert(exists("/zookeeper/config"));
}

Test(tree_prep, delete_does_not_validate_the_path)
{
	make("/a", 0);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/a/", -1)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/a/.", -1)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/zookeeper/", -1)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "a/b", -1)), ZK_NONODE);
}

Test(tree_prep, delete_checks_parent_auth_before_the_node)
{
	struct acl_buf no_delete;

	acl_of(&no_delete, 1, ZK_PERM_ALL & ~ZK_PERM_DELETE, "world", "anyone");
	make_acl("/p", &no_delete);
	make("/p/x", 0);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/missing/x", -1)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/p/missing", -1)), ZK_NOAUTH);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/p/x", 42)), ZK_NOAUTH);
	/* The node's own ACL does not matter. */
	make_acl("/q", &open_acl);
	make_acl("/q/x", &read_acl);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/q/x", -1)), ZK_OK);
}

Test(tree_prep, delete_checks_version_then_children)
{
	make("/v", 0);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/v", -1)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/v", -1)), ZK_OK);
	cr_assert_eq(prep1(creq("/v/c", 0)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/v", 1)), ZK_BADVERSION);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/v", 2)), ZK_NOTEMPTY, "pending child counts");
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/v", -1)), ZK_NOTEMPTY);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/v/c", 0)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/v", 2)), ZK_OK);
	apply_all();
	cr_assert_not(exists("/v"));
}

Test(tree_prep, delete_round_trip_matches_zookeeper_arithmetic)
{
	struct zk_stat root;

	cr_assert_eq(stat_of("/").cversion, -1);
	make("/a", 0);
	cr_assert_eq(stat_of("/").cversion, 0);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/a", -1)), ZK_OK);
	cr_assert_eq(last.ops[0].type, ZK_OP_DELETE);
	assert_path(last.ops[0].path, "/a");
	apply_all();
	root = stat_of("/");
	cr_assert_eq(root.cversion, 1, "create and delete: +2 in all");
	cr_assert_eq(wext("/")->cversion, 1, "persisted: creates only");
	cr_assert_eq(root.pzxid, zxid);
	cr_assert_eq(aout.nevents, 2);
	assert_event(0, ZK_EVENT_NODE_DELETED, "/a");
	assert_event(1, ZK_EVENT_NODE_CHILDREN_CHANGED, "/");
}

/* ---- deleteContainer ---- */

Test(tree_prep, delete_container_rules)
{
	struct acl_buf no_delete;

	acl_of(&no_delete, 1, ZK_PERM_ALL & ~ZK_PERM_DELETE, "world", "anyone");
	make_acl("/locked", &no_delete);
	cr_assert_eq(prep1(creq_type(ZK_OP_CREATECONTAINER, "/locked/c", ZK_CREATE_CONTAINER)),
		     ZK_OK);
	cr_assert_eq(prep1(creq_type(ZK_OP_CREATECONTAINER, "/full", ZK_CREATE_CONTAINER)), ZK_OK);
	cr_assert_eq(prep1(creq("/full/x", 0)), ZK_OK);
	cr_assert_eq(prep1(ttlreq("/ttl", ZK_CREATE_PERSISTENT_WITH_TTL, 10)), ZK_OK);
	cr_assert_eq(prep1(creq("/plain", 0)), ZK_OK);
	apply_all();

	/* No ACL check, no version check. */
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/locked/c", 77)), ZK_OK);
	cr_assert_eq(last.type, ZK_OP_DELETECONTAINER);
	assert_path(last.ops[0].path, "/locked/c");
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/full", -1)), ZK_NOTEMPTY);
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/ttl", -1)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/plain", -1)), ZK_OK, "only NORMAL refused");
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/missing", -1)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/zookeeper/quota", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "nope", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/locked/c", -1)), ZK_NONODE, "pending");
	apply_all();
	cr_assert_not(exists("/locked/c"));
	cr_assert_not(exists("/ttl"));
	cr_assert_not(exists("/plain"));
	cr_assert(exists("/full/x"));
}

Test(tree_prep, delete_container_gives_badversion_for_a_normal_ephemeral)
{
	cr_assert_eq(prep1(creq("/e", ZK_CREATE_EPHEMERAL)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/e", -1)), ZK_BADVERSION, "pending");
	apply_all();
	cr_assert_eq(prep1(req(ZK_OP_DELETECONTAINER, "/e", -1)), ZK_BADVERSION);
	cr_assert(exists("/e"));
}

/* ---- setData ---- */

Test(tree_prep, set_data_checks_path_node_auth_version_in_order)
{
	struct acl_buf no_write;

	acl_of(&no_write, 1, ZK_PERM_ALL & ~ZK_PERM_WRITE, "world", "anyone");
	make_acl("/ro", &no_write);
	make("/rw", 0);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/rw/", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "rw", -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(with_path(req(ZK_OP_SETDATA, "", -1), NULL, -1)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/missing", 5)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/ro", 5)), ZK_NOAUTH);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/rw", 5)), ZK_BADVERSION);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/rw", 0)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/", -1)), ZK_OK, "the root is writable");
}

Test(tree_prep, set_data_versions_pipeline)
{
	struct zk_stat st;

	make("/a", 0);
	int64_t created = zxid;
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 0)), ZK_OK);
	cr_assert_eq(last.ops[0].version, 1);
	assert_path(last.ops[0].path, "/a");
	cr_assert(jute_buf_eq(last.ops[0].data, "new"));
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 1)), ZK_OK);
	cr_assert_eq(last.ops[0].version, 2);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 1)), ZK_BADVERSION);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", -1)), ZK_OK);
	cr_assert_eq(last.ops[0].version, 3);
	int64_t set = zxid;
	apply_all();
	st = stat_of("/a");
	cr_assert_eq(st.version, 3);
	cr_assert_eq(st.mzxid, set);
	cr_assert_eq(st.mtime, 100000 + set * 10);
	cr_assert_eq(st.czxid, created);
	cr_assert_eq(st.ctime, 100000 + created * 10);
	cr_assert_eq(aout.nevents, 1);
	assert_event(0, ZK_EVENT_NODE_DATA_CHANGED, "/a");
}

Test(tree_prep, version_never_becomes_minus_one)
{
	make("/a", 0);
	/* ZOOKEEPER-4743: from -2 the next version is 0, not -1 (= any). */
	wext("/a")->version = -2;
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", -2)), ZK_OK);
	cr_assert_eq(last.ops[0].version, 0);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 0)), ZK_OK);
	cr_assert_eq(last.ops[0].version, 1);
	apply_all();
	wext("/a")->version = INT32_MAX;
	wext("/a")->aversion = -2;
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", INT32_MAX)), ZK_OK);
	cr_assert_eq(last.ops[0].version, INT32_MIN, "wraps as Java's int");
	cr_assert_eq(prep1(req(ZK_OP_SETACL, "/a", -1)), ZK_OK);
	cr_assert_eq(last.ops[0].version, 0);
}

/* ---- setACL ---- */

Test(tree_prep, set_acl_checks_in_order)
{
	struct acl_buf none, no_admin;

	acl_of(&none, 0);
	acl_of(&no_admin, 1, ZK_PERM_ALL & ~ZK_PERM_ADMIN, "world", "anyone");
	make_acl("/na", &no_admin);
	make("/a", 0);
	cr_assert_eq(prep1(with_acl(req(ZK_OP_SETACL, "/a/", -1), &none)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(with_acl(req(ZK_OP_SETACL, "/missing", -1), &none)), ZK_INVALIDACL);
	cr_assert_eq(prep1(req(ZK_OP_SETACL, "/missing", -1)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_SETACL, "/na", 7)), ZK_NOAUTH);
	cr_assert_eq(prep1(req(ZK_OP_SETACL, "/a", 7)), ZK_BADVERSION);
	/* aversion, not version */
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", -1)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_SETACL, "/a", 1)), ZK_BADVERSION);
	cr_assert_eq(prep1(req(ZK_OP_SETACL, "/a", 0)), ZK_OK);
}

Test(tree_prep, set_acl_bumps_aversion_only)
{
	struct zk_stat before, after;
	struct jute_acl_list acl;

	make("/a", 0);
	before = stat_of("/a");
	cr_assert_eq(prep1(with_acl(req(ZK_OP_SETACL, "/a", 0), &read_acl)), ZK_OK);
	cr_assert_eq(last.type, ZK_OP_SETACL);
	cr_assert_eq(last.ops[0].version, 1);
	assert_acl(last.ops[0].acl, &read_acl);
	cr_assert_eq(prep1(with_acl(req(ZK_OP_SETACL, "/a", 1), &open_acl)), ZK_NOAUTH,
		     "the pending ACL has no ADMIN");
	apply_next();
	cr_assert_eq(aout.nevents, 0, "setACL fires nothing");
	cr_assert_eq(aout.results[0].stat.aversion, 1);
	apply_all();
	after = stat_of("/a");
	cr_assert_eq(after.aversion, 1);
	cr_assert_eq(after.version, before.version);
	cr_assert_eq(after.mzxid, before.mzxid);
	cr_assert_eq(after.mtime, before.mtime);
	tree_node_acl(t, tree_lookup(t, "/a", 2), NULL, &acl);
	assert_acl(acl, &read_acl);
}

Test(tree_prep, pipelined_requests_see_a_pending_acl)
{
	make("/a", 0);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", -1)), ZK_OK);
	cr_assert_eq(prep1(with_acl(req(ZK_OP_SETACL, "/a", -1), &read_acl)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", -1)), ZK_NOAUTH);
	cr_assert_eq(prep1(creq("/a/b", 0)), ZK_NOAUTH);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/a", 1)), ZK_OK);
}

Test(tree_prep, the_root_as_parent_and_as_node_are_distinct_records)
{
	/* ZooKeeper keys the root "" as a parent and "/" as a node. */
	cr_assert_eq(prep1(with_acl(req(ZK_OP_SETACL, "/", -1), &read_acl)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/", -1)), ZK_NOAUTH);
	cr_assert_eq(prep1(creq("/x", 0)), ZK_OK, "the \"\" record still has the old ACL");
	apply_all();
	cr_assert_eq(prep1(creq("/y", 0)), ZK_NOAUTH);
}

/* ---- check ---- */

Test(tree_prep, check_verifies_path_node_auth_version)
{
	struct acl_buf no_read;

	acl_of(&no_read, 1, ZK_PERM_ALL & ~ZK_PERM_READ, "world", "anyone");
	make_acl("/hidden", &no_read);
	make("/a", 0);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/a/", 0)), ZK_BADARGUMENTS);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/missing", 0)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/hidden", 9)), ZK_NOAUTH);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/a", 9)), ZK_BADVERSION);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/a", 0)), ZK_OK);
	cr_assert_eq(last.type, ZK_OP_CHECK);
	cr_assert_eq(last.ops[0].version, 1, "CheckVersionTxn carries version + 1");
	/* A check changes nothing. */
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 0)), ZK_OK);
	apply_all();
	cr_assert_eq(aout.results[0].err, ZK_OK);
}

/* ---- multi ---- */

Test(tree_prep, multi_success_round_trip)
{
	struct tree_req r[] = {
		creq("/m", 0),
		creq("/m/a", 0),
		req(ZK_OP_SETDATA, "/m", 0),
		req(ZK_OP_CHECK, "/m", 1),
		req(ZK_OP_DELETE, "/m/a", 0),
		creq("/m/s-", ZK_CREATE_PERSISTENT_SEQUENTIAL),
	};
	static const int32_t types[] = { ZK_OP_CREATE, ZK_OP_CREATE, ZK_OP_SETDATA,
					 ZK_OP_CHECK,  ZK_OP_DELETE, ZK_OP_CREATE };
	struct zk_stat m;

	cr_assert_eq(multi(r, 6), ZK_OK);
	cr_assert_eq(last.type, ZK_OP_MULTI);
	cr_assert_eq(last.nops, 6);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(last.ops[i].type, types[i], "op %d", i);
	cr_assert_eq(last.ops[2].version, 1);
	cr_assert_eq(last.ops[3].version, 2);
	assert_path(last.ops[5].path, "/m/s-0000000001");
	cr_assert_eq(last.ops[5].parent_cversion, 2);
	/* A later request sees the whole multi. */
	cr_assert_eq(prep1(creq("/m/a", 0)), ZK_OK);
	apply_next();
	cr_assert_eq(aout.nresults, 6);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(aout.results[i].err, ZK_OK, "op %d", i);
	cr_assert_eq(aout.nevents, 9);
	assert_event(0, ZK_EVENT_NODE_CREATED, "/m");
	assert_event(1, ZK_EVENT_NODE_CHILDREN_CHANGED, "/");
	assert_event(2, ZK_EVENT_NODE_CREATED, "/m/a");
	assert_event(3, ZK_EVENT_NODE_CHILDREN_CHANGED, "/m");
	assert_event(4, ZK_EVENT_NODE_DATA_CHANGED, "/m");
	assert_event(5, ZK_EVENT_NODE_DELETED, "/m/a");
	assert_event(6, ZK_EVENT_NODE_CHILDREN_CHANGED, "/m");
	assert_event(7, ZK_EVENT_NODE_CREATED, "/m/s-0000000001");
	assert_event(8, ZK_EVENT_NODE_CHILDREN_CHANGED, "/m");
	m = stat_of("/m");
	cr_assert_eq(m.version, 1);
	cr_assert_eq(m.num_children, 1);
	cr_assert_eq(wext("/m")->cversion, 2);
	cr_assert_eq(m.cversion, 3);
	cr_assert_eq(m.pzxid, 1);
	cr_assert_eq(m.mzxid, 1);
	apply_all();
	cr_assert(exists("/m/a"));
}

Test(tree_prep, multi_failure_becomes_error_ops_and_rolls_back)
{
	struct tree_req r[] = {
		creq("/a", 0),
		creq("/a/b", 0),
		req(ZK_OP_SETDATA, "/nope", -1),
		req(ZK_OP_CHECK, "/a", -1),
	};
	static const int32_t errs[] = { ZK_OK, ZK_OK, ZK_NONODE, ZK_RUNTIMEINCONSISTENCY };

	cr_assert_eq(multi(r, 4), ZK_NONODE);
	cr_assert_eq(last.type, ZK_OP_MULTI);
	cr_assert_eq(last.nops, 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(last.ops[i].type, ZK_OP_ERROR, "op %d", i);
		cr_assert_eq(last.ops[i].err, errs[i], "op %d", i);
	}
	/* Nothing of the multi is visible. */
	cr_assert_eq(prep1(creq("/a/b", 0)), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/a", -1)), ZK_NONODE);
	apply_next();
	cr_assert_eq(aout.nresults, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(aout.results[i].err, errs[i], "op %d", i);
	cr_assert_eq(aout.nevents, 0);
	cr_assert_not(exists("/a"));
	cr_assert_eq(tree_last_zxid(t), 1, "the failed multi consumed its zxid");
}

Test(tree_prep, multi_failing_first_op)
{
	struct tree_req r[] = { req(ZK_OP_DELETE, "/zookeeper", -1), creq("/a", 0) };

	cr_assert_eq(multi(r, 2), ZK_BADARGUMENTS);
	cr_assert_eq(last.ops[0].err, ZK_BADARGUMENTS);
	cr_assert_eq(last.ops[1].type, ZK_OP_ERROR);
	cr_assert_eq(last.ops[1].err, ZK_RUNTIMEINCONSISTENCY);
}

Test(tree_prep, multi_failure_restores_earlier_pending_records)
{
	cr_assert_eq(prep1(creq("/p", 0)), ZK_OK);
	cr_assert_eq(prep1(creq("/q-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/q-0000000001");
	struct tree_req r[] = {
		req(ZK_OP_SETDATA, "/p", 0),
		req(ZK_OP_DELETE, "/p", 1),
		creq("/q-", ZK_CREATE_PERSISTENT_SEQUENTIAL),
		creq("/p/x", 0),
	};
	cr_assert_eq(multi(r, 4), ZK_NONODE);
	cr_assert_eq(last.ops[3].err, ZK_NONODE);
	/* /p is back as request 1 left it, and no sequence number was used. */
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/p", 0)), ZK_OK);
	cr_assert_eq(prep1(creq("/p/y", 0)), ZK_OK);
	cr_assert_eq(prep1(creq("/q-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/q-0000000002");
	apply_all();
	cr_assert_eq(stat_of("/p").version, 1);
	cr_assert(exists("/p/y"));
}

Test(tree_prep, multi_rollback_keeps_a_pending_delete_of_a_sequential_name)
{
	/* ZooKeeper forgets this record on rollback; Cheetah restores it. */
	make("/s", 0);
	cr_assert_eq(prep1(creq("/s/n-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	apply_all();
	wext("/s")->cversion = 0; /* make the next suffix collide with it */
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/s/n-0000000000", -1)), ZK_OK);
	struct tree_req r[] = { creq("/s/n-", ZK_CREATE_PERSISTENT_SEQUENTIAL),
				req(ZK_OP_SETDATA, "/nope", -1) };
	cr_assert_eq(multi(r, 2), ZK_NONODE);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/s/n-0000000000", -1)), ZK_NONODE,
		     "still pending-deleted");
}

Test(tree_prep, multi_sequential_names_increment_inside_one_multi)
{
	struct tree_req r[] = {
		creq("/q-", ZK_CREATE_PERSISTENT_SEQUENTIAL),
		creq("/q-", ZK_CREATE_EPHEMERAL_SEQUENTIAL),
		creq("/q-", ZK_CREATE_PERSISTENT_SEQUENTIAL),
	};

	cr_assert_eq(multi(r, 3), ZK_OK);
	assert_path(last.ops[0].path, "/q-0000000000");
	assert_path(last.ops[1].path, "/q-0000000001");
	assert_path(last.ops[2].path, "/q-0000000002");
	cr_assert_eq(last.ops[1].ephemeral_owner, S1);
	cr_assert_eq(last.ops[2].parent_cversion, 3);
	apply_all();
	cr_assert(exists("/q-0000000002"));
	cr_assert_eq(wext("/")->cversion, 3);
}

Test(tree_prep, multi_create_then_delete_of_one_path)
{
	struct tree_req r[] = { creq("/t", 0), creq("/t/u", 0), req(ZK_OP_DELETE, "/t/u", 0),
				req(ZK_OP_DELETE, "/t", 0) };

	cr_assert_eq(multi(r, 4), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/t", -1)), ZK_NONODE);
	apply_all();
	cr_assert_not(exists("/t"));
	cr_assert_eq(wext("/")->cversion, 1);
	cr_assert_eq(stat_of("/").cversion, 1);
}

Test(tree_prep, multi_create_types_follow_the_flags)
{
	struct tree_req r[] = {
		creq_type(ZK_OP_CREATE2, "/a", ZK_CREATE_PERSISTENT),
		creq_type(ZK_OP_CREATECONTAINER, "/b", ZK_CREATE_PERSISTENT),
		creq_type(ZK_OP_CREATE, "/c", ZK_CREATE_CONTAINER),
		ttlreq("/d", ZK_CREATE_PERSISTENT, 5),
		ttlreq("/e", ZK_CREATE_PERSISTENT_WITH_TTL, 5),
		creq_type(ZK_OP_CREATE2, "/f", ZK_CREATE_EPHEMERAL),
	};
	static const int32_t types[] = { ZK_OP_CREATE, ZK_OP_CREATE, ZK_OP_CREATECONTAINER,
					 ZK_OP_CREATE, ZK_OP_CREATETTL, ZK_OP_CREATE };
	static const int64_t owners[] = { 0, 0, TREE_OWNER_CONTAINER, 0,
					  (int64_t)0xff00000000000005ULL, S1 };

	cr_assert_eq(multi(r, 6), ZK_OK);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(last.ops[i].type, types[i], "op %d", i);
		cr_assert_eq(last.ops[i].ephemeral_owner, owners[i], "op %d", i);
	}
	apply_all();
	cr_assert_eq(wnode("/b")->kind, NODE_PERSISTENT);
	cr_assert_eq(wnode("/c")->kind, NODE_CONTAINER);
	cr_assert_eq(wnode("/e")->kind, NODE_TTL);
}

Test(tree_prep, multi_create_with_ttl_flags_but_no_ttl_is_a_marshalling_error)
{
	struct tree_req r[] = { creq("/a", 0), creq("/b", ZK_CREATE_PERSISTENT_WITH_TTL) };

	/* ZooKeeper casts the CreateRequest to CreateTTLRequest and fails. */
	cr_assert_eq(multi(r, 2), ZK_MARSHALLINGERROR);
	cr_assert_eq(last.type, ZK_OP_ERROR);
	cr_assert_eq(last.nops, 1);
	cr_assert_eq(last.ops[0].err, ZK_MARSHALLINGERROR);
	cr_assert_eq(prep1(creq("/a/x", 0)), ZK_NONODE, "the first op was rolled back");
	/* Not reached after an earlier failure. */
	struct tree_req r2[] = { req(ZK_OP_SETDATA, "/nope", -1),
				 creq("/b", ZK_CREATE_PERSISTENT_WITH_TTL) };
	cr_assert_eq(multi(r2, 2), ZK_NONODE);
	cr_assert_eq(last.type, ZK_OP_MULTI);
	cr_assert_eq(last.ops[1].err, ZK_RUNTIMEINCONSISTENCY);
}

Test(tree_prep, multi_rejects_ops_zookeeper_cannot_decode)
{
	struct tree_req acl[] = { creq("/a", 0), req(ZK_OP_SETACL, "/", -1) };
	struct tree_req dc[] = { req(ZK_OP_DELETECONTAINER, "/x", -1) };
	struct tree_req rd[] = { req(ZK_OP_GETDATA, "/", -1) };

	cr_assert_eq(multi(acl, 2), ZK_MARSHALLINGERROR);
	cr_assert_eq(last.type, ZK_OP_ERROR);
	cr_assert_eq(multi(dc, 1), ZK_MARSHALLINGERROR);
	cr_assert_eq(multi(rd, 1), ZK_MARSHALLINGERROR);
	cr_assert_eq(prep1(req(ZK_OP_CHECK, "/a", -1)), ZK_NONODE);
}

Test(tree_prep, empty_multi_is_an_empty_multi_txn)
{
	cr_assert_eq(multi(NULL, 0), ZK_OK);
	cr_assert_eq(last.type, ZK_OP_MULTI);
	cr_assert_eq(last.nops, 0);
	apply_all();
	cr_assert_eq(aout.nresults, 0);
	cr_assert_eq(tree_last_zxid(t), 1);
}

/* ---- single-request API ---- */

Test(tree_prep, single_write_needs_exactly_one_request)
{
	struct tree_req r[] = { creq("/a", 0), creq("/b", 0) };
	struct tree_txn hdr = next_hdr(S1);
	struct jute_out o;

	jute_out_init(&o, 0);
	cr_assert_eq(tree_prep_write(p, &hdr, r, 2, false, NULL, &o), ZK_SYSTEMERROR);
	cr_assert_eq(o.err, -EINVAL);
	cr_assert_eq(o.len, 0);
	jute_out_free(&o);
	cr_assert_eq(prep1(req(ZK_OP_GETDATA, "/", -1)), ZK_MARSHALLINGERROR);
	cr_assert_eq(prep1(req(ZK_OP_SYNC, "/", -1)), ZK_MARSHALLINGERROR);
}

Test(tree_prep, appends_to_the_output)
{
	struct tree_txn hdr = next_hdr(S1);
	struct jute_out o;
	struct tree_txn txn;

	struct tree_req r = creq("/a", 0);

	jute_out_init(&o, 0);
	jute_put_int(&o, 0x01020304);
	cr_assert_eq(tree_prep_write(p, &hdr, &r, 1, false, NULL, &o), ZK_OK);
	cr_assert_eq(jute_be32(o.buf), 0x01020304);
	cr_assert_eq(tree_txn_decode(o.buf + 4, o.len - 4, ZK_DEFAULT_MAX_BUFFER, &txn), 0);
	assert_path(txn.ops[0].path, "/a");
	tree_txn_release(&txn);
	jute_out_free(&o);
}

/* ---- sessions ---- */

Test(tree_prep, create_session_round_trip)
{
	struct tree_txn hdr = next_hdr(S2);
	struct jute_out o;

	jute_out_init(&o, 0);
	tree_prep_create_session(p, &hdr, 30000, &o);
	keep(&o, &hdr);
	cr_assert_eq(last.type, ZK_OP_CREATESESSION);
	cr_assert_eq(last.timeout, 30000);
	apply_all();
	cr_assert_eq(tree_session_timeout(t, S2), 30000);
}

static bool lists(const char *path)
{
	for (uint32_t i = 0; i < last.nops; i++)
		if (jute_buf_eq(last.ops[i].path, path))
			return true;
	return false;
}

Test(tree_prep, close_session_lists_its_ephemerals_incl_pending_ones)
{
	make("/d", 0);
	cr_assert_eq(prep1(creq("/e1", ZK_CREATE_EPHEMERAL)), ZK_OK);
	cr_assert_eq(prep1(creq("/d/e2", ZK_CREATE_EPHEMERAL)), ZK_OK);
	cr_assert_eq(prep_as(creq("/o", ZK_CREATE_EPHEMERAL), S2, NULL), ZK_OK);
	cr_assert_eq(prep1(creq_type(ZK_OP_CREATECONTAINER, "/c", ZK_CREATE_CONTAINER)), ZK_OK);
	cr_assert_eq(prep1(ttlreq("/t", ZK_CREATE_PERSISTENT_WITH_TTL, 100)), ZK_OK);
	cr_assert_eq(prep1(creq("/p", 0)), ZK_OK);
	apply_all();
	/* Pending: a new ephemeral, a deleted one, one deleted and re-created. */
	cr_assert_eq(prep1(creq("/d/e3", ZK_CREATE_EPHEMERAL_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/d/e30000000001");
	cr_assert_eq(prep_as(req(ZK_OP_DELETE, "/d/e2", -1), S2, NULL), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/e1", -1)), ZK_OK);
	cr_assert_eq(prep1(creq("/e1", ZK_CREATE_EPHEMERAL)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/e1", -1)), ZK_OK);
	close_session(S1);
	cr_assert_eq(last.nops, 2, "got %u paths", last.nops);
	cr_assert(lists("/e1"));
	cr_assert(lists("/d/e30000000001"));
	for (uint32_t i = 0; i < last.nops; i++)
		cr_assert_eq(last.ops[i].type, ZK_OP_DELETE);
	/* Pipelined behind the close, they are gone. */
	cr_assert_eq(prep_as(req(ZK_OP_SETDATA, "/e1", -1), S2, NULL), ZK_NONODE);
	cr_assert_eq(prep_as(creq("/e1", 0), S2, NULL), ZK_OK);
	apply_all();
	cr_assert(exists("/e1"));
	cr_assert_eq(stat_of("/e1").ephemeral_owner, 0);
	cr_assert_not(exists("/d/e2"));
	cr_assert_not(exists("/d/e30000000001"));
	cr_assert(exists("/o"));
	cr_assert(exists("/c"));
	cr_assert(exists("/t"));
	cr_assert(exists("/p"));
}

Test(tree_prep, close_session_round_trip_deletes_with_events)
{
	make("/d", 0);
	cr_assert_eq(prep1(creq("/d/e", ZK_CREATE_EPHEMERAL)), ZK_OK);
	apply_all();
	close_session(S1);
	cr_assert_eq(last.nops, 1);
	assert_path(last.ops[0].path, "/d/e");
	int64_t closed = zxid;
	apply_all();
	cr_assert_not(exists("/d/e"));
	cr_assert_eq(stat_of("/d").pzxid, closed);
	cr_assert_eq(aout.nevents, 2);
	assert_event(0, ZK_EVENT_NODE_DELETED, "/d/e");
	assert_event(1, ZK_EVENT_NODE_CHILDREN_CHANGED, "/d");
}

Test(tree_prep, close_session_keeps_the_parents_child_count_until_applied)
{
	make("/d", 0);
	cr_assert_eq(prep1(creq("/d/e", ZK_CREATE_EPHEMERAL)), ZK_OK);
	apply_all();
	close_session(S1);
	/* ZooKeeper's closeSession parent record keeps childCount. */
	cr_assert_eq(prep_as(req(ZK_OP_DELETE, "/d", -1), S2, NULL), ZK_NOTEMPTY);
	apply_all();
	cr_assert_eq(prep_as(req(ZK_OP_DELETE, "/d", -1), S2, NULL), ZK_OK);
}

Test(tree_prep, close_session_of_a_session_without_ephemerals)
{
	close_session(S2);
	cr_assert_eq(last.nops, 0);
	apply_all();
	cr_assert_eq(aout.nevents, 0);
	cr_assert_eq(tree_session_timeout(t, S2), -1);
}

/* ---- outstanding changes and tree_prep_applied ---- */

Test(tree_prep, applied_keeps_a_newer_record_of_the_same_path)
{
	cr_assert_eq(prep1(creq("/a", 0)), ZK_OK);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 0)), ZK_OK);
	apply_next(); /* the create: its record is no longer /a's newest */
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 1)), ZK_OK);
	cr_assert_eq(last.ops[0].version, 2);
	apply_all();
	cr_assert_eq(stat_of("/a").version, 2);
}

Test(tree_prep, applied_records_give_way_to_the_tree)
{
	struct tree_txn txn;

	cr_assert_eq(prep1(creq("/a", 0)), ZK_OK);
	apply_next_opt(false); /* applied, but prep not told yet */
	/* A write prep never saw (say, log replay) moves the tree on. */
	test_txn(&txn, ZK_OP_SETDATA, ++zxid);
	txn.ops[0].path = test_buf("/a");
	txn.ops[0].data = test_buf("x");
	txn.ops[0].version = 5;
	cr_assert_eq(tree_apply(t, &txn, &aout), 0);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 5)), ZK_BADVERSION, "record still rules");
	tree_prep_applied(p, zxid - 2);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 5)), ZK_OK, "the tree rules");
	cr_assert_eq(last.ops[0].version, 6);
}

Test(tree_prep, error_txns_leave_no_record)
{
	make("/a", 0);
	cr_assert_eq(prep1(creq("/a", 0)), ZK_NODEEXISTS);
	cr_assert_eq(prep1(req(ZK_OP_DELETE, "/a", 3)), ZK_BADVERSION);
	cr_assert_eq(prep1(req(ZK_OP_SETDATA, "/a", 0)), ZK_OK);
	cr_assert_eq(last.ops[0].version, 1);
	apply_all();
	cr_assert_eq(stat_of("/a").version, 1);
	cr_assert_eq(tree_last_zxid(t), zxid);
}

Test(tree_prep, many_pipelined_requests)
{
	char path[32];

	/* Enough records to grow the map several times over. */
	for (int i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/n%d", i);
		cr_assert_eq(prep1(creq(path, 0)), ZK_OK);
	}
	cr_assert_eq(prep1(creq("/n7", 0)), ZK_NODEEXISTS);
	apply_all();
	cr_assert_eq(stat_of("/").num_children, 201);
	cr_assert_eq(prep1(creq("/s-", ZK_CREATE_PERSISTENT_SEQUENTIAL)), ZK_OK);
	assert_path(last.ops[0].path, "/s-0000000200");
}

/* ---- ACLs through prep ---- */

Test(tree_prep, create_with_auth_acl_stores_the_sessions_digest_ids)
{
	struct tree_auth_id ids[] = { { test_buf("ip"), test_buf("10.1.1.1") },
				      { test_buf("digest"), test_buf("bob:h") } };
	struct tree_auth au = { ids, 2, false };
	struct acl_buf auth_acl, want;
	struct jute_acl_list acl;

	acl_of(&auth_acl, 1, ZK_PERM_ALL, "auth", "");
	acl_of(&want, 1, ZK_PERM_ALL, "digest", "bob:h");
	cr_assert_eq(prep_as(with_acl(creq("/a", 0), &auth_acl), S1, NULL), ZK_INVALIDACL);
	cr_assert_eq(prep_as(with_acl(creq("/a", 0), &auth_acl), S1, &au), ZK_OK);
	assert_acl(last.ops[0].acl, &want);
	/* The pending record carries the expanded ACL. */
	cr_assert_eq(prep_as(creq("/a/b", 0), S2, NULL), ZK_NOAUTH);
	cr_assert_eq(prep_as(creq("/a/b", 0), S2, &au), ZK_OK);
	apply_all();
	tree_node_acl(t, tree_lookup(t, "/a", 2), NULL, &acl);
	assert_acl(acl, &want);
}

/*
 * Issue 8 audit: "auth" expands to entries x ids, so a 20-byte ACL could
 * make prep log (and the tree store) an ACL far beyond jute.maxbuffer,
 * which the snapshot loader then refuses.  The ACLs one request makes
 * are bounded by jute.maxbuffer in all: beyond is INVALIDACL.
 */
Test(tree_prep, auth_expansion_is_bounded_by_jute_maxbuffer_per_request)
{
	enum { IDLEN = 400 * 1000 };
	char *big = malloc(IDLEN + 1);
	struct tree_auth_id ids[2];
	struct tree_auth au = { ids, 2, false };
	struct acl_buf one, three;
	struct tree_req r[3];

	cr_assert_not_null(big);
	memset(big, 'h', IDLEN);
	memcpy(big, "bob:", 4);
	big[IDLEN] = '\0';
	ids[0] = (struct tree_auth_id){ test_buf("ip"), test_buf("10.1.1.1") };
	ids[1] = (struct tree_auth_id){ test_buf("digest"), test_buf(big) };
	acl_of(&one, 1, ZK_PERM_ALL, "auth", "");
	acl_of(&three, 3, ZK_PERM_ALL, "auth", "a", ZK_PERM_ALL, "auth", "b", ZK_PERM_ALL, "auth",
	       "c");
	/* 400 kB: fine; three entries: 1.2 MB, refused */
	cr_assert_eq(prep_as(with_acl(creq("/one", 0), &one), S1, &au), ZK_OK);
	cr_assert_eq(prep_as(with_acl(creq("/three", 0), &three), S1, &au), ZK_INVALIDACL);
	/* the bound is per request: three creates of 400 kB each in one multi */
	r[0] = with_acl(creq("/m1", 0), &one);
	r[1] = with_acl(creq("/m2", 0), &one);
	r[2] = with_acl(creq("/m3", 0), &one);
	cr_assert_eq(prep_full(r, 3, true, S1, &au), ZK_INVALIDACL);
	cr_assert_eq(last.ops[2].err, ZK_INVALIDACL);
	cr_assert_eq(prep_full(r, 2, true, S1, &au), ZK_OK);
	cr_assert_eq(prep_as(with_acl(creq("/m3", 0), &one), S1, &au), ZK_OK);
	free(big);
}

Test(tree_prep, parent_acl_decides_create_with_super_and_ip)
{
	struct acl_buf acl;
	struct tree_auth_id ip = { test_buf("ip"), test_buf("192.168.7.9") };
	struct tree_auth_id other = { test_buf("ip"), test_buf("192.168.8.9") };
	struct tree_auth by_ip = { &ip, 1, false }, by_other = { &other, 1, false };
	struct tree_auth super = { NULL, 0, true };

	acl_of(&acl, 2, ZK_PERM_ALL, "digest", "x:y", ZK_PERM_CREATE, "ip", "192.168.7.0/24");
	make_acl("/p", &acl);
	cr_assert_eq(prep_as(creq("/p/a", 0), S1, NULL), ZK_NOAUTH);
	cr_assert_eq(prep_as(creq("/p/a", 0), S1, &by_other), ZK_NOAUTH);
	cr_assert_eq(prep_as(creq("/p/a", 0), S1, &by_ip), ZK_OK);
	cr_assert_eq(prep_as(req(ZK_OP_DELETE, "/p/a", -1), S1, &by_ip), ZK_NOAUTH);
	cr_assert_eq(prep_as(req(ZK_OP_DELETE, "/p/a", -1), S1, &super), ZK_OK);
	cr_assert_eq(prep_as(req(ZK_OP_SETDATA, "/p", -1), S1, &super), ZK_OK);
}
