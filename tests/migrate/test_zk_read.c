/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The readers of ZooKeeper's snapshot and log formats (migrate/zk_read.c)
 * on bytes built here field by field from zookeeper.jute and FileSnap /
 * FileTxnLog: what they load, and that damaged inputs (bad magic, bad
 * checksum, every truncation, lengths beyond the file, dangling
 * references) are refused with a message naming the file and the offset.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <urcu-qsbr.h>
#include <zlib.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jute.h"
#include "common/zkdefs.h"
#include "migrate/migrate.h"

static struct tree_opts topts = {.max_data = 0xfffff, .extended_types = true};

static void setup(void)
{
	urcu_qsbr_register_thread();
}

static void teardown(void)
{
	urcu_qsbr_unregister_thread();
}

TestSuite(zk_snap, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(zk_log, .init = setup, .fini = teardown, .timeout = 60);

static void put_acl1(struct jute_out *o, int32_t perms, const char *scheme, const char *id)
{
	jute_put_int(o, 1);
	jute_put_int(o, perms);
	jute_put_string(o, scheme);
	jute_put_string(o, id);
}

static void put_node(struct jute_out *o, const char *path, const char *data, int64_t acl,
		     int64_t czxid, int32_t cversion, int64_t owner)
{
	jute_put_string(o, path);
	jute_put_string(o, data);
	jute_put_long(o, acl);
	jute_put_long(o, czxid);	/* czxid */
	jute_put_long(o, czxid + 1);	/* mzxid */
	jute_put_long(o, 1000 + czxid); /* ctime */
	jute_put_long(o, 2000 + czxid); /* mtime */
	jute_put_int(o, 3);		/* version */
	jute_put_int(o, cversion);
	jute_put_int(o, 5); /* aversion */
	jute_put_long(o, owner);
	jute_put_long(o, czxid + 2); /* pzxid */
}

/* SnapStream.sealStream over everything written so far. */
static void put_seal(struct jute_out *o)
{
	uLong a = adler32(adler32(0, NULL, 0), o->buf, (uInt)o->len);

	jute_put_long(o, (int64_t)a);
	jute_put_string(o, "/");
}

struct offs {
	size_t sessions, acls, nodes, seal, digest;
};

/*
 * A snapshot as ZooKeeper 3.8 writes it: two sessions, two ACLs, the root
 * (""), /zookeeper, /a (ACL 1), /a/b (ephemeral of session 0x42, null
 * data), /c (-1: OPEN_ACL_UNSAFE), then the seal and the digest.
 */
static void build_snap(struct jute_out *o, struct offs *off)
{
	jute_out_init(o, 1024);
	jute_put_int(o, MIG_ZK_SNAP_MAGIC);
	jute_put_int(o, 2);
	jute_put_long(o, -1);
	off->sessions = o->len;
	jute_put_int(o, 2);
	jute_put_long(o, 0x42);
	jute_put_int(o, 30000);
	jute_put_long(o, 0x43);
	jute_put_int(o, 4000);
	off->acls = o->len;
	jute_put_int(o, 2);
	jute_put_long(o, 1);
	put_acl1(o, ZK_PERM_ALL, "digest", "alice:hash");
	jute_put_long(o, 2);
	put_acl1(o, ZK_PERM_READ, "ip", "10.0.0.0/8");
	off->nodes = o->len;
	put_node(o, "", "", -1, 0, 2, 0);
	put_node(o, "/zookeeper", "", -1, 0, 0, 0);
	put_node(o, "/a", "hello", 1, 10, 1, 0);
	jute_put_string(o, "/a/b");
	jute_put_int(o, -1); /* null data */
	jute_put_long(o, 2);
	for (int i = 0; i < 4; i++)
		jute_put_long(o, 20 + i);
	jute_put_int(o, 0);
	jute_put_int(o, 0);
	jute_put_int(o, 0);
	jute_put_long(o, 0x42);
	jute_put_long(o, 20);
	put_node(o, "/c", "", -1, 30, 0, 0);
	jute_put_string(o, "/");
	off->seal = o->len;
	put_seal(o);
	off->digest = o->len;
	jute_put_long(o, 30);
	jute_put_int(o, 2);
	jute_put_long(o, 12345);
	put_seal(o);
	cr_assert_eq(o->err, 0);
}

static int read_snap(const uint8_t *p, size_t len, struct mig_snap_info *info,
		     struct mig_error *err)
{
	struct tree *t = tree_new(&topts);
	int rc;

	cr_assert(t);
	rc = mig_zk_snap_read("snap.bin", p, len, t, info, err);
	tree_free(t);
	return rc;
}

/* The message names the file and the offset given. */
static void expect_at(const struct mig_error *err, size_t off, const char *what)
{
	char want[64];

	snprintf(want, sizeof(want), "snap.bin: offset %zu: ", off);
	cr_expect(strncmp(err->msg, want, strlen(want)) == 0, "message \"%s\", want \"%s...\"",
		  err->msg, want);
	cr_expect(strstr(err->msg, what), "message \"%s\" lacks \"%s\"", err->msg, what);
}

Test(zk_snap, loads_sessions_acls_nodes_and_stats)
{
	struct jute_out o;
	struct offs off;
	struct mig_snap_info info;
	struct mig_error err = {""};
	struct tree *t = tree_new(&topts);
	struct zk_stat st;
	struct jute_buf data;
	struct jute_acl_list acl;
	struct jute_acl_iter it;
	struct jute_acl a;

	build_snap(&o, &off);
	cr_assert_eq(mig_zk_snap_read("snap.bin", o.buf, o.len, t, &info, &err), 0, "%s", err.msg);
	cr_expect_eq(info.sessions, 2);
	cr_expect_eq(info.acls, 2);
	cr_expect_eq(info.nodes, 5);
	cr_expect(info.has_digest);
	cr_expect_eq(info.digest_zxid, 30);
	cr_expect_eq(info.digest, 12345);
	cr_expect_eq(tree_session_timeout(t, 0x42), 30000);
	cr_expect_eq(tree_session_timeout(t, 0x43), 4000);

	const struct tree_node *n = tree_lookup(t, "/a", 2);
	cr_assert(n);
	tree_node_read(n, &st, &data);
	cr_expect_eq(st.czxid, 10);
	cr_expect_eq(st.mzxid, 11);
	cr_expect_eq(st.ctime, 1010);
	cr_expect_eq(st.mtime, 2010);
	cr_expect_eq(st.version, 3);
	cr_expect_eq(st.aversion, 5);
	cr_expect_eq(st.pzxid, 12);
	cr_expect_eq(st.num_children, 1);
	cr_expect_eq(st.cversion, 1 * 2 - 1, "visible cversion from persisted 1");
	cr_expect_eq(data.len, 5);
	cr_expect(!memcmp(data.p, "hello", 5));
	tree_export_stat(n, &st);
	cr_expect_eq(st.cversion, 1);
	tree_node_acl(t, n, NULL, &acl);
	jute_acl_iter_init(&it, &acl);
	cr_assert(jute_acl_next(&it, &a));
	cr_expect(jute_buf_eq(a.scheme, "digest") && jute_buf_eq(a.id, "alice:hash"));

	n = tree_lookup(t, "/a/b", 4);
	cr_assert(n);
	tree_node_read(n, &st, &data);
	cr_expect_eq(data.len, -1, "null data stays null");
	cr_expect_eq(st.ephemeral_owner, 0x42);
	cr_expect_eq(tree_session_ephemeral_count(t, 0x42), 1);

	n = tree_lookup(t, "/c", 2);
	cr_assert(n);
	tree_node_acl(t, n, NULL, &acl);
	jute_acl_iter_init(&it, &acl);
	cr_assert(jute_acl_next(&it, &a));
	cr_expect(a.perms == ZK_PERM_ALL && jute_buf_eq(a.scheme, "world"), "ACL -1 is open");
	/* /zookeeper/quota and /config: tree_new's, kept */
	cr_expect(tree_lookup(t, "/zookeeper/quota", 16));
	tree_free(t);
	jute_out_free(&o);
}

Test(zk_snap, refuses_bad_magic_and_version)
{
	struct jute_out o;
	struct offs off;
	struct mig_snap_info info;
	struct mig_error err = {""};

	build_snap(&o, &off);
	o.buf[0] = 'X';
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, 0, "bad magic");
	o.buf[0] = 'Z';
	o.buf[7] = 3;
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, 4, "version 3");
	jute_out_free(&o);
}

Test(zk_snap, refuses_bad_checksum)
{
	struct jute_out o;
	struct offs off;
	struct mig_snap_info info;
	struct mig_error err = {""};

	build_snap(&o, &off);
	o.buf[off.nodes + 30] ^= 1; /* a byte of the root's Stat */
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, off.seal, "checksum mismatch");
	o.buf[off.nodes + 30] ^= 1;
	o.buf[off.digest + 19] ^= 1; /* the digest's value: the second seal */
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, off.digest + 20, "checksum mismatch");
	jute_out_free(&o);
}

Test(zk_snap, refuses_every_truncation)
{
	struct jute_out o;
	struct offs off;
	struct mig_snap_info info;

	build_snap(&o, &off);
	for (size_t len = 0; len < o.len; len++) {
		struct mig_error err = {""};
		int rc = read_snap(o.buf, len, &info, &err);

		/* Cut right after the first seal: a 3.4/3.5 snapshot, complete. */
		if (len == off.digest) {
			cr_expect_eq(rc, 0, "cut at %zu: %s", len, err.msg);
			continue;
		}
		cr_expect_eq(rc, -EBADMSG, "cut at %zu accepted", len);
		cr_expect(strstr(err.msg, "snap.bin: offset "), "cut at %zu: \"%s\"", len, err.msg);
	}
	jute_out_free(&o);
}

Test(zk_snap, refuses_lengths_beyond_the_file)
{
	struct jute_out o;
	struct offs off;
	struct mig_snap_info info;
	struct mig_error err = {""};
	/* /a's data length: after the root, /zookeeper and /a's path */
	size_t root = 4 + 0 + 4 + 0 + 8 + 60;
	size_t zk = 4 + 10 + 4 + 0 + 8 + 60;
	size_t at;

	build_snap(&o, &off);
	at = off.nodes + root + zk + 4 + 2;
	cr_assert_eq(jute_be32(o.buf + at), 5);
	jute_put_be32(o.buf + at, 0x7fffff00);
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, at, "beyond the end");
	jute_put_be32(o.buf + at, 5);
	/* a session count that cannot fit */
	jute_put_be32(o.buf + off.sessions, 1000000);
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, off.sessions, "session count");
	jute_put_be32(o.buf + off.sessions, 2);
	/* a negative ACL cache size */
	jute_put_be32(o.buf + off.acls, (uint32_t)-5);
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, off.acls, "ACL cache size");
	jute_out_free(&o);
}

Test(zk_snap, refuses_dangling_references)
{
	struct jute_out o;
	struct mig_snap_info info;
	struct mig_error err = {""};
	size_t at;

	/* A node whose ACL id is not in the cache, and one without a parent. */
	jute_out_init(&o, 256);
	jute_put_int(&o, MIG_ZK_SNAP_MAGIC);
	jute_put_int(&o, 2);
	jute_put_long(&o, -1);
	jute_put_int(&o, 0);
	jute_put_int(&o, 0);
	put_node(&o, "", "", -1, 0, 0, 0);
	at = o.len;
	put_node(&o, "/x", "", 7, 1, 0, 0);
	jute_put_string(&o, "/");
	put_seal(&o);
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, at, "ACL id 7");

	o.len = at;
	put_node(&o, "/no/parent", "", -1, 1, 0, 0);
	jute_put_string(&o, "/");
	put_seal(&o);
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	expect_at(&err, at, "parent");

	o.len = at;
	put_node(&o, "/x", "", -1, 1, 0, 0);
	put_node(&o, "/x", "", -1, 1, 0, 0);
	jute_put_string(&o, "/");
	put_seal(&o);
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	cr_expect(strstr(err.msg, "appears twice"), "%s", err.msg);
	jute_out_free(&o);
}

/* ---- Logs ---- */

struct rec_off {
	size_t at[8];
	int n;
};

static void put_hdr(struct jute_out *o, int64_t session, int64_t zxid, int32_t type)
{
	jute_put_long(o, session);
	jute_put_int(o, 7); /* cxid */
	jute_put_long(o, zxid);
	jute_put_long(o, 5000 + zxid);
	jute_put_int(o, type);
}

/* FileTxnLog.append: Adler-32, length, bytes, 'B'. */
static void build_log_at(struct jute_out *log, struct rec_off *ro, int64_t base);
static void put_rec(struct jute_out *log, struct jute_out *txn, struct rec_off *ro)
{
	uLong a = adler32(adler32(0, NULL, 0), txn->buf, (uInt)txn->len);

	ro->at[ro->n++] = log->len;
	jute_put_long(log, (int64_t)a);
	jute_put_int(log, (int32_t)txn->len);
	jute_put_raw(log, txn->buf, txn->len);
	jute_put_raw(log, "B", 1);
	txn->len = 0;
}

/*
 * createSession 0x42; create2 /e ephemeral (with a TxnDigest); createTTL
 * /t; a multi whose second sub-txn is an error; closeSession listing /e.
 */
static void build_log_at(struct jute_out *log, struct rec_off *ro, int64_t base)
{
	struct jute_out t, sub;

	memset(ro, 0, sizeof(*ro));
	jute_out_init(log, 1024);
	jute_out_init(&t, 256);
	jute_out_init(&sub, 256);
	jute_put_int(log, MIG_ZK_LOG_MAGIC);
	jute_put_int(log, 2);
	jute_put_long(log, 0);

	put_hdr(&t, 0x42, base + 0, ZK_OP_CREATESESSION);
	jute_put_int(&t, 30000);
	put_rec(log, &t, ro);

	put_hdr(&t, 0x42, base + 1, ZK_OP_CREATE2);
	jute_put_string(&t, "/e");
	jute_put_string(&t, "eph");
	put_acl1(&t, ZK_PERM_ALL, "world", "anyone");
	jute_put_bool(&t, true);
	jute_put_int(&t, 1);
	jute_put_int(&t, 2); /* TxnDigest */
	jute_put_long(&t, 0x1234);
	put_rec(log, &t, ro);

	put_hdr(&t, 0x42, base + 2, ZK_OP_CREATETTL);
	jute_put_string(&t, "/t");
	jute_put_string(&t, "");
	put_acl1(&t, ZK_PERM_ALL, "world", "anyone");
	jute_put_int(&t, 2);
	jute_put_long(&t, 60000);
	put_rec(log, &t, ro);

	put_hdr(&t, 0x42, base + 3, ZK_OP_MULTI);
	jute_put_int(&t, 2);
	jute_put_int(&t, ZK_OP_SETDATA);
	jute_put_string(&sub, "/t");
	jute_put_string(&sub, "x");
	jute_put_int(&sub, 1);
	jute_put_buffer(&t, sub.buf, (int32_t)sub.len);
	sub.len = 0;
	jute_put_int(&t, ZK_OP_ERROR);
	jute_put_int(&sub, ZK_BADVERSION);
	jute_put_buffer(&t, sub.buf, (int32_t)sub.len);
	put_rec(log, &t, ro);

	put_hdr(&t, 0x42, base + 4, ZK_OP_CLOSESESSION);
	jute_put_int(&t, 1);
	jute_put_string(&t, "/e");
	put_rec(log, &t, ro);
	cr_assert_eq(log->err, 0);
	jute_out_free(&t);
	jute_out_free(&sub);
}

static void build_log(struct jute_out *log, struct rec_off *ro)
{
	build_log_at(log, ro, 1);
}

struct apply_ctx {
	struct tree *t;
	struct tree_apply_out out;
	int n;
	int digests;
	struct mig_error *err;
};

static int apply_rec(void *arg, const struct mig_log_rec *rec)
{
	struct apply_ctx *c = arg;
	struct tree_txn txn;
	bool has_digest;
	int64_t digest;
	int rc = mig_zk_txn_decode("log.1", rec, 0xfffff, &txn, &has_digest, &digest, c->err);

	if (rc)
		return rc;
	c->digests += has_digest;
	cr_expect_eq(txn.zxid, c->n + 1);
	rc = tree_apply(c->t, &txn, &c->out);
	tree_txn_release(&txn);
	c->n++;
	if (c->n == 2) {
		const struct tree_node *n = tree_lookup(c->t, "/e", 2);
		struct zk_stat st;

		cr_assert(n);
		tree_node_read(n, &st, NULL);
		cr_expect_eq(st.ephemeral_owner, 0x42);
		cr_expect_eq(st.ctime, 5002);
		cr_expect_eq(digest, 0x1234);
	}
	return rc;
}

Test(zk_log, replays_every_record)
{
	struct jute_out log;
	struct rec_off ro;
	struct mig_error err = {""};
	struct apply_ctx c = {.t = tree_new(&topts), .err = &err};
	struct zk_stat st;
	struct jute_buf data;

	build_log(&log, &ro);
	/* preallocation: zeros after the last record end the log */
	memset(jute_out_reserve(&log, 100), 0, 100);
	cr_assert_eq(mig_zk_log_read("log.1", log.buf, log.len, false, apply_rec, &c, &err), 0,
		     "%s", err.msg);
	cr_expect_eq(c.n, 5);
	cr_expect_eq(c.digests, 1);
	cr_expect_null(tree_lookup(c.t, "/e", 2), "closeSession deleted the ephemeral");
	cr_expect_eq(tree_session_timeout(c.t, 0x42), -1, "session closed");
	const struct tree_node *n = tree_lookup(c.t, "/t", 2);
	cr_assert(n);
	tree_node_read(n, &st, &data);
	cr_expect(tree_owner_is_ttl(st.ephemeral_owner) || st.ephemeral_owner == 0,
		  "TTL owner kept in the persisted stat");
	cr_expect_eq(data.len, 0, "the failed multi changed nothing");
	cr_expect_eq(st.version, 0);
	tree_export_stat(n, &st);
	cr_expect_eq(st.ephemeral_owner, tree_owner_ttl(60000));
	tree_apply_out_release(&c.out);
	tree_free(c.t);
	jute_out_free(&log);
}

static int count_rec(void *arg, const struct mig_log_rec *rec)
{
	(void)rec;
	++*(int *)arg;
	return 0;
}

static void expect_log_at(const struct mig_error *err, size_t off, const char *what)
{
	char want[64];

	snprintf(want, sizeof(want), "log.1: offset %zu: ", off);
	cr_expect(strncmp(err->msg, want, strlen(want)) == 0, "message \"%s\", want \"%s...\"",
		  err->msg, want);
	cr_expect(strstr(err->msg, what), "message \"%s\" lacks \"%s\"", err->msg, what);
}

Test(zk_log, refuses_damage_with_file_and_offset)
{
	struct jute_out log;
	struct rec_off ro;
	struct mig_error err = {""};
	int n = 0;

	build_log(&log, &ro);
	log.buf[1] = 'X';
	cr_expect_eq(mig_zk_log_read("log.1", log.buf, log.len, false, count_rec, &n, &err),
		     -EBADMSG);
	expect_log_at(&err, 0, "bad magic");
	log.buf[1] = 'K';

	/* a flipped byte inside record 2 */
	log.buf[ro.at[2] + 20] ^= 0x40;
	cr_expect_eq(mig_zk_log_read("log.1", log.buf, log.len, false, count_rec, &n, &err),
		     -EBADMSG);
	expect_log_at(&err, ro.at[2], "checksum mismatch");
	log.buf[ro.at[2] + 20] ^= 0x40;

	/* a length beyond the file */
	uint32_t len3 = jute_be32(log.buf + ro.at[3] + 8);
	jute_put_be32(log.buf + ro.at[3] + 8, 0x10000000);
	cr_expect_eq(mig_zk_log_read("log.1", log.buf, log.len, false, count_rec, &n, &err),
		     -EBADMSG);
	expect_log_at(&err, ro.at[3] + 8, "beyond the end");
	jute_put_be32(log.buf + ro.at[3] + 8, len3);

	/* no end-of-record byte */
	size_t eor = ro.at[4] - 1;
	log.buf[eor] = 'C';
	cr_expect_eq(mig_zk_log_read("log.1", log.buf, log.len, false, count_rec, &n, &err),
		     -EBADMSG);
	expect_log_at(&err, eor, "'B'");
	log.buf[eor] = 'B';

	/* every truncation inside the last record: refused, or with torn_tail_ok the end */
	for (size_t len = ro.at[4] + 1; len < log.len; len++) {
		bool zeros = true;

		for (size_t i = ro.at[4]; i < len; i++)
			zeros &= log.buf[i] == 0;
		n = 0;
		err.msg[0] = 0;
		if (zeros) {
			/* the checksum's high half (Adler-32 is 32 bits): like preallocation */
			cr_expect_eq(
			    mig_zk_log_read("log.1", log.buf, len, false, count_rec, &n, &err), 0);
			cr_expect_eq(n, 4);
			continue;
		}
		cr_expect_eq(mig_zk_log_read("log.1", log.buf, len, false, count_rec, &n, &err),
			     -EBADMSG, "cut at %zu accepted", len);
		cr_expect(strstr(err.msg, "log.1: offset "), "cut at %zu: %s", len, err.msg);
		n = 0;
		cr_expect_eq(mig_zk_log_read("log.1", log.buf, len, true, count_rec, &n, &err), 0);
		cr_expect_eq(n, 4, "the records before the torn one");
	}
	/* a header cut short */
	cr_expect_eq(mig_zk_log_read("log.1", log.buf, 10, false, count_rec, &n, &err), -EBADMSG);
	expect_log_at(&err, 0, "too short");
	jute_out_free(&log);
}

/* Decodes the txn bytes t as record 0 at offset 16 of "log.1". */
static int decode(struct jute_out *t, struct tree_txn *txn, struct mig_error *err)
{
	struct mig_log_rec rec = {16, t->buf, (uint32_t)t->len};
	bool has_digest;
	int64_t digest;

	return mig_zk_txn_decode("log.1", &rec, 0xfffff, txn, &has_digest, &digest, err);
}

Test(zk_log, decodes_old_and_odd_records)
{
	struct jute_out t;
	struct tree_txn txn;
	struct mig_error err = {""};

	jute_out_init(&t, 256);
	/* CreateTxnV0: no parentCVersion */
	put_hdr(&t, 0x42, 9, ZK_OP_CREATE);
	jute_put_string(&t, "/v0");
	jute_put_string(&t, "d");
	put_acl1(&t, ZK_PERM_ALL, "world", "anyone");
	jute_put_bool(&t, false);
	cr_assert_eq(decode(&t, &txn, &err), 0, "%s", err.msg);
	cr_expect_eq(txn.ops[0].parent_cversion, -1);
	cr_expect_eq(txn.ops[0].ephemeral_owner, 0);
	tree_txn_release(&txn);

	/* closeSession of 3.5: no CloseSessionTxn */
	t.len = 0;
	put_hdr(&t, 0x42, 10, ZK_OP_CLOSESESSION);
	cr_assert_eq(decode(&t, &txn, &err), 0, "%s", err.msg);
	cr_expect_eq(txn.nops, 0);
	tree_txn_release(&txn);

	/*
	 * closeSession with only a TxnDigest (12 bytes) whose bytes parse as
	 * the start of a two-path CloseSessionTxn: count 2, "/a", then 2 bytes
	 */
	t.len = 0;
	put_hdr(&t, 0x42, 10, ZK_OP_CLOSESESSION);
	jute_put_int(&t, 2);
	jute_put_string(&t, "/a");
	jute_put_raw(&t, "\0\0", 2);
	cr_assert_eq(decode(&t, &txn, &err), 0, "%s", err.msg);
	cr_expect_eq(txn.nops, 0);
	cr_expect_null(txn.ops);
	tree_txn_release(&txn);

	/* reconfig: a SetDataTxn of /zookeeper/config */
	t.len = 0;
	put_hdr(&t, 0x42, 11, ZK_OP_RECONFIG);
	jute_put_string(&t, "/zookeeper/config");
	jute_put_string(&t, "server.1=a:1:2");
	jute_put_int(&t, 1);
	cr_assert_eq(decode(&t, &txn, &err), 0, "%s", err.msg);
	cr_expect_eq(txn.type, ZK_OP_SETDATA);
	cr_expect_eq(txn.ops[0].version, 1);
	tree_txn_release(&txn);

	/* a check at top level: SerializeUtils refuses it, so do we */
	t.len = 0;
	put_hdr(&t, 0x42, 12, ZK_OP_CHECK);
	jute_put_string(&t, "/x");
	jute_put_int(&t, 1);
	cr_expect_eq(decode(&t, &txn, &err), -EBADMSG);
	expect_log_at(&err, 16, "unsupported txn type 13");

	/* bytes after the txn that are not a TxnDigest */
	t.len = 0;
	put_hdr(&t, 0x42, 13, ZK_OP_DELETE);
	jute_put_string(&t, "/x");
	jute_put_int(&t, 0);
	cr_expect_eq(decode(&t, &txn, &err), -EBADMSG);
	cr_expect(strstr(err.msg, "unexpected bytes"), "%s", err.msg);

	/* a TTL beyond EphemeralType's range */
	t.len = 0;
	put_hdr(&t, 0x42, 14, ZK_OP_CREATETTL);
	jute_put_string(&t, "/t");
	jute_put_string(&t, "");
	put_acl1(&t, ZK_PERM_ALL, "world", "anyone");
	jute_put_int(&t, 1);
	jute_put_long(&t, TREE_TTL_MAX + 1);
	cr_expect_eq(decode(&t, &txn, &err), -EBADMSG);
	cr_expect(strstr(err.msg, "ttl"), "%s", err.msg);

	/* paths ZooKeeper's prep would never have logged */
	t.len = 0;
	put_hdr(&t, 0x42, 16, ZK_OP_DELETE);
	jute_put_string(&t, "a//b");
	cr_expect_eq(decode(&t, &txn, &err), -EBADMSG);
	expect_log_at(&err, 16 + 12 + 32, "invalid path");
	t.len = 0;
	put_hdr(&t, 0x42, 17, ZK_OP_DELETE);
	jute_put_string(&t, "/");
	cr_expect_eq(decode(&t, &txn, &err), -EBADMSG);
	expect_log_at(&err, 16 + 12 + 32, "of the root");

	/* a path length beyond the record */
	t.len = 0;
	put_hdr(&t, 0x42, 15, ZK_OP_DELETE);
	jute_put_int(&t, 100);
	jute_put_raw(&t, "/x", 2);
	cr_expect_eq(decode(&t, &txn, &err), -EBADMSG);
	expect_log_at(&err, 16 + 12 + 32, "beyond the end");
	jute_out_free(&t);
}

/* ---- Choosing the files (mig_zk_import) ---- */

TestSuite(zk_import, .init = setup, .fini = teardown, .timeout = 60);

static void write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	cr_assert(f);
	cr_assert_eq(fwrite(p, 1, len, f), len);
	fclose(f);
}

static void write_gz(const char *dir, const char *name, const void *p, size_t len)
{
	char path[512];
	gzFile f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = gzopen(path, "wb");
	cr_assert(f);
	cr_assert_eq(gzwrite(f, p, (unsigned)len), (int)len);
	gzclose(f);
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/*
 * dataDir/version-2: snapshot.1e (complete), snapshot.40 (cut short: an
 * interrupted write, skipped), log.1 (all at or below 0x1e: read,
 * skipped) and log.1f (replayed).  gz: the same snapshot gzip'ed.
 */
static void build_dir(char *dir, bool gz)
{
	struct jute_out snap, log1, log2;
	struct offs off;
	struct rec_off ro;
	char v2[300];

	strcpy(dir, "/tmp/cheetah-test-zkimport-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(v2, sizeof(v2), "%s/version-2", dir);
	cr_assert_eq(mkdir(v2, 0755), 0);
	build_snap(&snap, &off);
	if (gz)
		write_gz(v2, "snapshot.1e.gz", snap.buf, snap.len);
	else
		write_file(v2, "snapshot.1e", snap.buf, snap.len);
	write_file(v2, "snapshot.40", snap.buf, snap.len / 2);
	build_log_at(&log1, &ro, 1);
	write_file(v2, "log.1", log1.buf, log1.len);
	build_log_at(&log2, &ro, 0x1f);
	memset(jute_out_reserve(&log2, 4096), 0, 4096); /* preallocated */
	write_file(v2, "log.1f", log2.buf, log2.len);
	jute_out_free(&snap);
	jute_out_free(&log1);
	jute_out_free(&log2);
}

static void expect_import(const char *dir)
{
	struct mig_import_opts io = {.data_dir = dir, .topts = topts};
	struct mig_import_stats st;
	struct mig_error err = {""};
	struct tree *t = NULL;

	cr_assert_eq(mig_zk_import(&io, &t, &st, &err), 0, "%s", err.msg);
	cr_expect_eq(st.snap_zxid, 0x1e, "snapshot.40 is incomplete: skipped");
	cr_expect_eq(st.logs, 2);
	cr_expect_eq(st.txns, 5, "log.1's records are in the snapshot");
	cr_expect_eq(st.by_type[ZK_OP_MULTI + 16], 1);
	cr_expect_eq(st.last_zxid, 0x1f + 4);
	cr_expect_eq(tree_last_zxid(t), 0x1f + 4);
	/* the snapshot's digest (12345) is not the tree's: found and counted */
	cr_expect_geq(st.digest_mismatches, 1);
	cr_expect(tree_lookup(t, "/a", 2), "from the snapshot");
	cr_expect_null(tree_lookup(t, "/a/b", 4),
		       "the snapshot's ephemeral of 0x42, deleted by its closeSession in log.1f");
	cr_expect(tree_lookup(t, "/t", 2), "from log.1f");
	cr_expect_null(tree_lookup(t, "/e", 2), "created and closed in log.1f");
	tree_free(t);
}

Test(zk_import, picks_snapshot_and_logs_as_zookeeper)
{
	char dir[64];

	build_dir(dir, false);
	expect_import(dir);
	rm_rf(dir);
}

Test(zk_import, reads_gzip_snapshots)
{
	char dir[64];

	build_dir(dir, true);
	expect_import(dir);
	rm_rf(dir);
}

Test(zk_import, refuses_damaged_newest_snapshot_naming_it)
{
	struct mig_import_opts io = {.topts = topts};
	struct mig_import_stats st;
	struct mig_error err = {""};
	struct tree *t = NULL;
	struct jute_out snap;
	struct offs off;
	char dir[64], v2[300];

	build_dir(dir, false);
	snprintf(v2, sizeof(v2), "%s/version-2", dir);
	build_snap(&snap, &off);
	snap.buf[off.nodes + 30] ^= 1; /* complete tail, wrong checksum */
	write_file(v2, "snapshot.30", snap.buf, snap.len);
	io.data_dir = dir;
	cr_expect_eq(mig_zk_import(&io, &t, &st, &err), -EBADMSG);
	cr_expect_null(t);
	cr_expect(strstr(err.msg, "/version-2/snapshot.30: offset "), "%s", err.msg);
	cr_expect(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
	jute_out_free(&snap);
	rm_rf(dir);

	/* no snapshot at all, logs only: ZooKeeper refuses that too */
	strcpy(dir, "/tmp/cheetah-test-zkimport-XXXXXX");
	cr_assert(mkdtemp(dir));
	cr_expect_eq(mig_zk_import(&io, &t, &st, &err), -ENOENT);
	rm_rf(dir);
}

Test(zk_snap, reads_the_last_zxid_trailer)
{
	struct jute_out o;
	struct offs off;
	struct mig_snap_info info;
	struct mig_error err = {""};

	build_snap(&o, &off);
	jute_put_long(&o, 0x77); /* 3.9.3+: lastProcessedZxid, sealed */
	put_seal(&o);
	cr_assert_eq(read_snap(o.buf, o.len, &info, &err), 0, "%s", err.msg);
	cr_expect(info.has_last_zxid);
	cr_expect_eq(info.last_zxid, 0x77);
	jute_put_int(&o, 0);
	cr_expect_eq(read_snap(o.buf, o.len, &info, &err), -EBADMSG);
	cr_expect(strstr(err.msg, "unexpected bytes"), "%s", err.msg);
	jute_out_free(&o);
}

/*
 * 1000 seeded mutations of a valid snapshot and a valid log: every one is
 * loaded or refused with a message, never a crash or a read out of
 * bounds (run under the sanitizer build too).
 */
static int apply_any(void *arg, const struct mig_log_rec *rec)
{
	struct apply_ctx *c = arg;
	struct tree_txn txn;
	bool has_digest;
	int64_t digest;
	int rc = mig_zk_txn_decode("log.1", rec, 0xfffff, &txn, &has_digest, &digest, c->err);

	if (rc)
		return rc;
	rc = tree_apply(c->t, &txn, &c->out);
	tree_txn_release(&txn);
	return rc == -EINVAL ? 0 : rc;
}

Test(zk_log, survives_mutations, .timeout = 120)
{
	struct jute_out snap, log;
	struct offs off;
	struct rec_off ro;
	uint32_t seed = 12345;

	build_snap(&snap, &off);
	build_log(&log, &ro);
	uint8_t *s = malloc(snap.len), *l = malloc(log.len);
	/* one tree for every log round: tree_free waits for a grace period */
	struct apply_ctx c = {.t = tree_new(&topts)};
	cr_assert(s && l && c.t);
	for (int round = 0; round < 1000; round++) {
		struct mig_error err = {""};
		struct mig_snap_info info;
		bool is_snap = round & 1;
		uint8_t *p = is_snap ? s : l;
		size_t len = is_snap ? snap.len : log.len;

		memcpy(p, is_snap ? snap.buf : log.buf, len);
		if (!is_snap && round % 4 == 2) {
			/* inside one record, its checksum fixed: the txn decoder's turn */
			seed = seed * 1103515245u + 12345u;
			size_t r = (seed >> 8) % (size_t)ro.n;
			size_t start = ro.at[r] + 12, n = jute_be32(p + ro.at[r] + 8);
			for (int k = 0; k < 1 + round % 3; k++) {
				seed = seed * 1103515245u + 12345u;
				size_t at = start + (seed >> 8) % n;
				seed = seed * 1103515245u + 12345u;
				p[at] = (uint8_t)(seed >> 16);
			}
			jute_put_be64(p + ro.at[r],
				      adler32(adler32(0, NULL, 0), p + start, (uInt)n));
		} else {
			for (int k = 0; k < 1 + round % 4; k++) {
				seed = seed * 1103515245u + 12345u;
				size_t at = (seed >> 8) % len;
				seed = seed * 1103515245u + 12345u;
				p[at] = (uint8_t)(seed >> 16);
			}
		}
		if (is_snap) {
			int rc = read_snap(p, len, &info, &err);
			cr_assert(rc == 0 ||
				      (rc == -EBADMSG && strstr(err.msg, "snap.bin: offset ")),
				  "round %d: rc %d, \"%s\"", round, rc, err.msg);
		} else {
			int rc;

			c.err = &err;
			rc = mig_zk_log_read("log.1", p, len, false, apply_any, &c, &err);
			cr_assert(rc == 0 || (rc == -EBADMSG && strstr(err.msg, "log.1: offset ")),
				  "round %d: rc %d, \"%s\"", round, rc, err.msg);
		}
	}
	tree_apply_out_release(&c.out);
	tree_free(c.t);
	free(s);
	free(l);
	jute_out_free(&snap);
	jute_out_free(&log);
}
