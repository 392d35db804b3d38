// SPDX-License-Identifier: Apache-2.0
/*
 * Transaction records: every txn type round-trips, and every malformed
 * record (truncated anywhere, bad lengths, bad types, trailing bytes) is
 * rejected with -EBADMSG.
 */
#include "tests/common/leakcheck.h"
#include "tree_test_util.h"

static struct test_acl acl;

static void setup(void)
{
	test_acl_make(&acl, ZK_PERM_ALL, "digest", "bob:abc");
}

static void teardown(void)
{
	test_fini_no_leaks();
}

TestSuite(tree_txn, .init = setup, .fini = teardown, .timeout = 30);

static void encode(const struct tree_txn *txn, struct jute_out *out)
{
	jute_out_init(out, 0);
	tree_txn_encode(txn, out);
	cr_assert_eq(out->err, 0);
}

static void assert_ops_equal(const struct tree_op *a, const struct tree_op *b)
{
	cr_assert_eq(a->type, b->type);
	if (a->type == ZK_OP_ERROR) {
		cr_assert_eq(a->err, b->err);
		return;
	}
	cr_assert_eq(a->path.len, b->path.len);
	if (a->path.len > 0)
		cr_assert_eq(memcmp(a->path.p, b->path.p, (size_t)a->path.len), 0);
	switch (a->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		cr_assert_eq(a->ephemeral_owner, b->ephemeral_owner);
		cr_assert_eq(a->parent_cversion, b->parent_cversion);
		cr_assert_eq(a->acl.raw_len, b->acl.raw_len);
		cr_assert_eq(memcmp(a->acl.raw, b->acl.raw, a->acl.raw_len), 0);
		/* fallthrough */
	case ZK_OP_SETDATA:
		cr_assert_eq(a->data.len, b->data.len);
		if (a->data.len > 0)
			cr_assert_eq(memcmp(a->data.p, b->data.p, (size_t)a->data.len), 0);
		break;
	default:
		break;
	}
	if (a->type == ZK_OP_SETDATA || a->type == ZK_OP_SETACL || a->type == ZK_OP_CHECK)
		cr_assert_eq(a->version, b->version);
}

static void round_trip(const struct tree_txn *txn)
{
	struct jute_out out;
	struct tree_txn back;

	encode(txn, &out);
	cr_assert_eq(tree_txn_decode(out.buf, out.len, 1 << 20, &back), 0);
	cr_assert_eq(back.session, txn->session);
	cr_assert_eq(back.cxid, txn->cxid);
	cr_assert_eq(back.zxid, txn->zxid);
	cr_assert_eq(back.time, txn->time);
	cr_assert_eq(back.type, txn->type);
	cr_assert_eq(back.nops, txn->nops);
	if (txn->type == ZK_OP_CREATESESSION)
		cr_assert_eq(back.timeout, txn->timeout);
	for (uint32_t i = 0; i < txn->nops && txn->type != ZK_OP_CLOSESESSION; i++)
		assert_ops_equal(&txn->ops[i], &back.ops[i]);
	for (uint32_t i = 0; i < txn->nops && txn->type == ZK_OP_CLOSESESSION; i++)
		cr_assert_eq(back.ops[i].path.len, txn->ops[i].path.len);

	/* Every proper prefix is malformed, and so is one extra byte. */
	for (size_t cut = 0; cut < out.len; cut++) {
		struct tree_txn bad;
		cr_assert_eq(tree_txn_decode(out.buf, cut, 1 << 20, &bad), -EBADMSG,
			     "prefix of %zu/%zu bytes accepted", cut, out.len);
	}
	uint8_t *longer = malloc(out.len + 1);
	memcpy(longer, out.buf, out.len);
	longer[out.len] = 0;
	struct tree_txn bad;
	cr_assert_eq(tree_txn_decode(longer, out.len + 1, 1 << 20, &bad), -EBADMSG);
	free(longer);
	tree_txn_release(&back);
	jute_out_free(&out);
}

Test(tree_txn, single_ops_round_trip)
{
	static const int32_t types[] = { ZK_OP_CREATE, ZK_OP_CREATE2, ZK_OP_CREATECONTAINER,
					 ZK_OP_CREATETTL, ZK_OP_DELETE, ZK_OP_DELETECONTAINER,
					 ZK_OP_SETDATA, ZK_OP_SETACL, ZK_OP_CHECK, ZK_OP_ERROR };
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct tree_txn txn;
		test_txn(&txn, types[i], 0x100000001LL + i);
		txn.cxid = 77;
		txn.ops[0].path = test_buf("/some/path");
		txn.ops[0].data = test_buf(i % 2 ? "data" : NULL);
		txn.ops[0].acl = acl.list;
		txn.ops[0].version = 5;
		txn.ops[0].parent_cversion = 9;
		txn.ops[0].ephemeral_owner = tree_owner_ttl(1234);
		txn.ops[0].err = ZK_NONODE;
		round_trip(&txn);
	}
}

Test(tree_txn, sessions_and_multi_round_trip)
{
	struct tree_txn txn;
	struct tree_op ops[4] = {
		{ .type = ZK_OP_CREATE, .path = test_buf("/a"), .data = test_buf(""),
		  .acl = acl.list, .parent_cversion = 1 },
		{ .type = ZK_OP_SETDATA, .path = test_buf("/a"), .data = test_buf("x"), .version = 1 },
		{ .type = ZK_OP_CHECK, .path = test_buf("/a"), .version = 1 },
		{ .type = ZK_OP_DELETE, .path = test_buf("/a") },
	};

	test_txn(&txn, ZK_OP_CREATESESSION, 1);
	txn.nops = 0;
	txn.timeout = 4000;
	round_trip(&txn);

	test_txn(&txn, ZK_OP_CLOSESESSION, 2);
	txn.ops = ops;
	txn.nops = 2;
	round_trip(&txn);
	txn.nops = 0;
	round_trip(&txn);

	test_txn(&txn, ZK_OP_MULTI, 3);
	txn.ops = ops;
	txn.nops = 4;
	round_trip(&txn);
	txn.nops = 0;
	round_trip(&txn);
}

Test(tree_txn, rejects_malformed_records)
{
	struct tree_txn txn, back;
	struct jute_out out;

	test_txn(&txn, ZK_OP_DELETE, 1);
	txn.ops[0].path = test_buf("/a");
	encode(&txn, &out);

	out.buf[0] = 99; /* unknown format */
	cr_assert_eq(tree_txn_decode(out.buf, out.len, 1024, &back), -EBADMSG);
	out.buf[0] = TREE_TXN_FORMAT;

	/* The txn type (offset 29) disagrees with the op's type. */
	jute_put_be32(out.buf + 29, ZK_OP_SETDATA);
	cr_assert_eq(tree_txn_decode(out.buf, out.len, 1024, &back), -EBADMSG);
	jute_put_be32(out.buf + 29, 4242);
	cr_assert_eq(tree_txn_decode(out.buf, out.len, 1024, &back), -EBADMSG);
	jute_out_free(&out);

	/* A relative path, a path over the limit, a multi with a huge count. */
	txn.ops[0].path = test_buf("a");
	encode(&txn, &out);
	cr_assert_eq(tree_txn_decode(out.buf, out.len, 1024, &back), -EBADMSG);
	jute_out_free(&out);
	txn.ops[0].path = test_buf("/abcdef");
	encode(&txn, &out);
	cr_assert_eq(tree_txn_decode(out.buf, out.len, 4, &back), -EBADMSG);
	jute_out_free(&out);

	test_txn(&txn, ZK_OP_MULTI, 1);
	txn.nops = 0;
	encode(&txn, &out);
	jute_put_be32(out.buf + out.len - 4, 0x7fffffff);
	cr_assert_eq(tree_txn_decode(out.buf, out.len, 1024, &back), -EBADMSG);
	jute_out_free(&out);

	/* setACL and session txns cannot nest in a multi. */
	struct tree_op inner[1] = { { .type = ZK_OP_SETACL, .path = test_buf("/a"),
				      .acl = acl.list } };
	txn.ops = inner;
	txn.nops = 1;
	encode(&txn, &out);
	cr_assert_eq(tree_txn_decode(out.buf, out.len, 1024, &back), -EBADMSG);
	jute_out_free(&out);
}

Test(tree_txn, encoder_rejects_inconsistent_txn)
{
	struct tree_txn txn;
	struct jute_out out;

	test_txn(&txn, ZK_OP_DELETE, 1);
	txn.ops[0].type = ZK_OP_CREATE;
	jute_out_init(&out, 0);
	tree_txn_encode(&txn, &out);
	cr_assert_eq(out.err, -EINVAL);
	jute_out_free(&out);
}

/*
 * A CREATE record whose path is plen bytes ("/a" then NULs), built around
 * an encoded "/x" without copying the path: returns the record in a
 * mapping of *maplen bytes (munmap it).
 */
static uint8_t *long_path_record(size_t plen, size_t *reclen, size_t *maplen)
{
	struct tree_txn txn;
	struct jute_out o;
	/* format, session, cxid, zxid, time, type, op type: then the path. */
	const size_t path_at = 1 + 8 + 4 + 8 + 8 + 4 + 4;

	test_txn(&txn, ZK_OP_CREATE, 7);
	txn.ops[0].path = test_buf("/x");
	txn.ops[0].data = test_buf("d");
	txn.ops[0].acl = acl.list;
	txn.ops[0].parent_cversion = -1;
	encode(&txn, &o);
	cr_assert_eq(jute_be32(o.buf + path_at), 2);
	*reclen = o.len - 2 + plen;
	*maplen = *reclen;
	uint8_t *r = (uint8_t *)test_long_path(*maplen);
	memcpy(r, o.buf, path_at);
	r[path_at + 0] = (uint8_t)(plen >> 24);
	r[path_at + 1] = (uint8_t)(plen >> 16);
	r[path_at + 2] = (uint8_t)(plen >> 8);
	r[path_at + 3] = (uint8_t)plen;
	r[path_at + 4] = '/';
	memcpy(r + path_at + 4 + plen, o.buf + path_at + 4 + 2, o.len - (path_at + 4 + 2));
	jute_out_free(&o);
	return r;
}

Test(tree_txn, path_above_tree_path_max_is_ebadmsg)
{
	struct tree_txn txn;
	size_t len, maplen;
	uint8_t *r;

	/* At the limit: decodes (the record is built right). */
	r = long_path_record(TREE_PATH_MAX, &len, &maplen);
	cr_assert_eq(tree_txn_decode(r, len, UINT32_MAX, &txn), 0);
	cr_assert_eq(txn.ops[0].path.len, (int32_t)TREE_PATH_MAX);
	cr_assert_eq(txn.ops[0].data.len, 1);
	tree_txn_release(&txn);
	munmap(r, maplen);

	/* One byte more: refused even though max_data allows it. */
	r = long_path_record((size_t)TREE_PATH_MAX + 1, &len, &maplen);
	cr_assert_eq(tree_txn_decode(r, len, UINT32_MAX, &txn), -EBADMSG);
	munmap(r, maplen);
}

/* The latencies' peek (/metrics' proposal_latency): the time without a decode. */
Test(tree_txn, time_peeked_without_decoding)
{
	struct tree_txn txn;
	struct jute_out out;
	int64_t t = 0;

	test_txn(&txn, ZK_OP_CREATESESSION, 0x200000007LL);
	txn.time = 1733570000123LL;
	txn.timeout = 4000;
	encode(&txn, &out);
	cr_assert_eq(tree_txn_time(out.buf, out.len, &t), 0);
	cr_assert_eq(t, 1733570000123LL);
	txn.time = -5; /* whatever the leader's clock said */
	out.len = 0;
	tree_txn_encode(&txn, &out);
	cr_assert_eq(tree_txn_time(out.buf, out.len, &t), 0);
	cr_assert_eq(t, -5);
	cr_assert_eq(tree_txn_time(out.buf, 28, &t), -EBADMSG, "cut before the time's end");
	out.buf[0] = TREE_TXN_FORMAT + 1;
	cr_assert_eq(tree_txn_time(out.buf, out.len, &t), -EBADMSG, "an unknown format");
	jute_out_free(&out);
}
