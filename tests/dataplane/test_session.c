// SPDX-License-Identifier: Apache-2.0
/*
 * The protocol layer's session side (dataplane/session/) against a
 * fake I/O layer and a fake broadcast core (dp_fake.c): the handshake,
 * FIFO order with reads behind writes and writes behind reads, writes
 * taking the reads queued ahead of them to the core, which runs them in
 * their place (issue 8, item 7; replies in order),
 * every write's reply encoding and error, sync, closeSession, expiry,
 * touches, auth (digest, super, ip, unknown scheme), sasl, unknown and
 * malformed requests, watch events before the result that reveals them,
 * the ACL filter on events, statistics and four-letter-word listings
 * (dump: the ask to the core, the ephemerals in ZooKeeper's order,
 * connection buckets), and the tree replaced under the worker
 * (REPL_OUT_TREE: an ensemble member's live snapshot install).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "dataplane/dp.h"
#include "dp_test.h"
#include "tests/common/leakcheck.h"

TestSuite(dp_session, .init = fake_setup, .fini = fake_teardown, .timeout = 60);

/* ---- handshake ---- */

Test(dp_session, new_session_handshake)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	struct proto_connect_resp r;
	struct repl_in m;
	const uint8_t *p;
	uint32_t len;
	uint8_t pw[16];

	cr_assert_eq(fake_send_connect(c, 0, 0, 1000, NULL, true), 0);
	EXPECT_NOTHING(c);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_CONNECT);
	struct repl_connect *rc = m.body;
	cr_assert_eq(rc->session, 0);
	cr_assert_eq(rc->timeout, 4000, "timeout clamped to minSessionTimeout");
	/* hand it back to the core */
	cr_assert(ring_push(&fw.r.in, &m));
	fake_core_run();
	fake_poll();
	cr_assert(fake_next(c, &p, &len));
	cr_assert_eq(proto_decode_connect_resp(p, len, &r), 0);
	cr_assert_eq(r.protocol_version, 0);
	cr_assert_eq(r.timeout, 4000);
	cr_assert_neq(r.session_id, 0);
	cr_assert(r.has_read_only);
	cr_assert(!r.read_only);
	cr_assert_eq(r.passwd.len, 16);
	fake_passwd(r.session_id, pw);
	cr_assert(!memcmp(r.passwd.p, pw, 16));
	cr_assert(!c->closing);
}

Test(dp_session, timeout_clamped_to_max)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	struct repl_in m;

	fake_send_connect(c, 0, 0, 1000000, NULL, true);
	cr_assert(pop_in(&m));
	cr_assert_eq(((struct repl_connect *)m.body)->timeout, 40000);
	repl_in_free(&m);
}

Test(dp_session, old_client_gets_no_read_only_byte)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	struct proto_connect_resp r;
	const uint8_t *p;
	uint32_t len;

	fake_send_connect(c, 0, 0, 10000, NULL, false);
	settle();
	cr_assert(fake_next(c, &p, &len));
	cr_assert_eq(len, 4 + 4 + 8 + 4 + 16, "no readOnly byte");
	cr_assert_eq(proto_decode_connect_resp(p, len, &r), 0);
	cr_assert(!r.has_read_only);
}

Test(dp_session, reconnect_with_valid_session)
{
	int64_t sid;
	struct dp_conn *a = fake_session("127.0.0.1", &sid);
	struct dp_conn *b = fake_conn("127.0.0.1", 5001);
	struct proto_connect_resp r;
	const uint8_t *p;
	uint32_t len;
	uint8_t pw[16];

	fake_conn_gone(a);
	fake_passwd(sid, pw);
	fake_send_connect(b, sid, tree_last_zxid(fw.r.tree), 30000, pw, true);
	settle();
	cr_assert(fake_next(b, &p, &len));
	cr_assert_eq(proto_decode_connect_resp(p, len, &r), 0);
	cr_assert_eq(r.session_id, sid);
	cr_assert_eq(r.timeout, 30000);
	cr_assert(!b->closing);
}

Test(dp_session, expired_session_gets_zeros_and_close)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	struct proto_connect_resp r;
	const uint8_t *p;
	uint32_t len;
	uint8_t pw[16];

	fake_passwd(0x777, pw);
	fake_send_connect(c, 0x777, 0, 30000, pw, true);
	settle();
	cr_assert(fake_next(c, &p, &len));
	cr_assert_eq(proto_decode_connect_resp(p, len, &r), 0);
	cr_assert_eq(r.timeout, 0);
	cr_assert_eq(r.session_id, 0);
	cr_assert_eq(r.passwd.len, 16);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(r.passwd.p[i], 0);
	cr_assert(r.has_read_only);
	cr_assert(c->closing);
	EXPECT_NOTHING(c);
}

Test(dp_session, client_ahead_of_tree_is_refused)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	struct repl_in m;

	cr_assert_eq(fake_send_connect(c, 0, 1000, 30000, NULL, true), 0);
	cr_assert(c->closing);
	EXPECT_NOTHING(c);
	cr_assert(!pop_in(&m), "nothing goes to the core");
}

/*
 * A connect the core refuses (an ensemble member without a leader, a new
 * session whose createSession was lost...) is answered EXPIRE with the
 * connect's xid: the connection holds no session id yet (or another than
 * the one the core picked), and must close at once so that the client
 * tries another server instead of waiting for its connect timeout.
 */
Test(dp_session, refused_connect_closes_by_its_xid)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	struct dp_conn *d = fake_conn("127.0.0.1", 5001);
	struct repl_out o;
	struct repl_in m, n;

	cr_assert_eq(fake_send_connect(c, 0, 0, 30000, NULL, true), 0);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_CONNECT);
	cr_assert_neq(m.xid, 0);
	cr_assert_eq(fake_send_connect(d, 0, 0, 30000, NULL, true), 0);
	cr_assert(pop_in(&n));
	/* another connect's xid, a picked id: neither closes c */
	o = (struct repl_out){
	    .kind = REPL_OUT_EXPIRE, .conn = m.conn, .xid = n.xid, .session = 0x0100000000000001};
	cr_assert(ring_push(&fw.r.out, &o));
	fake_poll();
	cr_assert(!c->closing);
	/* its own xid, whatever the session (the id the core picked) */
	o.xid = m.xid;
	cr_assert(ring_push(&fw.r.out, &o));
	fake_poll();
	cr_assert(c->closing);
	EXPECT_NOTHING(c);
	cr_assert(!d->closing);
	repl_in_free(&m);
	repl_in_free(&n);
}

Test(dp_session, first_frame_must_be_a_connect_request)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	uint8_t junk[8] = { 0, 0, 0, 1, 0, 0, 0, 11 }; /* a ping */

	cr_assert_lt(fake_frame(c, junk, sizeof(junk)), 0);
	EXPECT_NOTHING(c);
}

Test(dp_session, requests_before_the_handshake_wait)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	struct proto_connect_resp r;
	const uint8_t *p;
	uint32_t len;

	fake_send_connect(c, 0, 0, 30000, NULL, true);
	cr_assert_eq(send_path_watch(c, 1, ZK_OP_EXISTS, "/zookeeper", false), 0);
	cr_assert_eq(send_create(c, 2, ZK_OP_CREATE, "/early", "x", 0, NULL), 0);
	EXPECT_NOTHING(c);
	settle();
	cr_assert(fake_next(c, &p, &len));
	cr_assert_eq(proto_decode_connect_resp(p, len, &r), 0);
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path, "/early"));
}

/* ---- FIFO ---- */

Test(dp_session, read_behind_write_waits_for_it)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct repl_in m;

	send_create(c, 1, ZK_OP_CREATE, "/a", "v1", 0, NULL);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/a", false);
	EXPECT_NOTHING(c);
	/* only the write went to the core */
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_WRITE);
	cr_assert(!pop_in(&(struct repl_in){ 0 }));
	cr_assert(ring_push(&fw.r.in, &m));
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t zxid = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "v1"));
	cr_assert_eq(rr.body.data_stat.stat.czxid, zxid);
	cr_assert_geq(rr.hdr.zxid, zxid);
}

Test(dp_session, write_behind_read_is_not_applied_before_it)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct repl_in m, m2, m3;

	send_create(c, 1, ZK_OP_CREATE, "/a", "v1", 0, NULL);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/a", false);
	send_set_data(c, 3, "/a", "v2", -1);
	/* the read goes to the core ahead of the setData, which runs it first */
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_WRITE);
	cr_assert_eq(m.xid, 1);
	cr_assert(pop_in(&m2));
	cr_assert_eq(m2.kind, REPL_IN_READ);
	cr_assert(pop_in(&m3));
	cr_assert_eq(m3.xid, 3);
	cr_assert(ring_push(&fw.r.in, &m));
	cr_assert(ring_push(&fw.r.in, &m2));
	cr_assert(ring_push(&fw.r.in, &m3));
	cr_assert_eq(fake_core_run(), 3);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "v1"), "the read sees the state before xid 3");
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_eq(rr.body.stat.version, 1);
	EXPECT_NOTHING(c);
}

Test(dp_session, consecutive_writes_are_pipelined)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct repl_in m[5];

	for (int i = 0; i < 5; i++) {
		char path[16];
		snprintf(path, sizeof(path), "/p%d", i);
		send_create(c, 10 + i, ZK_OP_CREATE, path, "", 0, NULL);
	}
	/* all five reached the core before any answer */
	for (int i = 0; i < 5; i++) {
		cr_assert(pop_in(&m[i]), "write %d not pushed", i);
		cr_assert_eq(m[i].kind, REPL_IN_WRITE);
		cr_assert_eq(m[i].xid, 10 + i);
	}
	for (int i = 0; i < 5; i++)
		cr_assert(ring_push(&fw.r.in, &m[i]));
	settle();
	for (int i = 0; i < 5; i++)
		EXPECT_REPLY(c, 10 + i, ZK_OK);
}

Test(dp_session, a_full_ring_keeps_order_in_the_backlog)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	enum { N = 1500 }; /* the fake's in ring holds 1024 */

	for (int i = 0; i < N; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/b%d", i);
		cr_assert_eq(send_create(c, 100 + i, ZK_OP_CREATE, path, "", 0, NULL), 0);
	}
	cr_assert_eq(fw.w.proto->backlog.n, N - 1024);
	for (int round = 0; round < 4; round++)
		settle();
	cr_assert_eq(fw.w.proto->backlog.n, 0);
	for (int i = 0; i < N; i++)
		EXPECT_REPLY(c, 100 + i, ZK_OK);
}

Test(dp_session, ping_is_ordered_and_answered_with_xid_minus_2)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct proto_request ping = fake_req(ZK_XID_PING, ZK_OP_PING);

	send_create(c, 1, ZK_OP_CREATE, "/a", "", 0, NULL);
	fake_send(c, &ping);
	EXPECT_NOTHING(c);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z = rr.hdr.zxid;
	EXPECT_REPLY(c, ZK_XID_PING, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z);
	cr_assert(!rr.has_body);
}

/* ---- writes behind queued reads: the core runs the reads in place ---- */

/*
 * W1 (setData /a) is at the core, a read R waits behind it, then W2
 * arrives.  When everything ahead of W2 is at the core, parked, or a read
 * the core can run (exists, getData, getChildren[2], getACL,
 * getAllChildrenNumber, multiRead), R goes to the core as REPL_IN_READ
 * and W2 right behind it: the core runs R at its place, after W1 and
 * before W2, whatever their paths (ZooKeeper's CommitProcessor applies
 * W2 only once R is answered).  fake_core_run() returning 3 (W1, R, W2)
 * tells that W2 did not wait for R's turn at the worker.
 */

/* /a, /b, /c, /z and /bb, data "<name>0"; returns the session's connection. */
static struct dp_conn *overtake_tree(void)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	static const char *const names[] = { "/a", "/b", "/c", "/z", "/bb" };
	char data[8];

	for (int i = 0; i < 5; i++) {
		snprintf(data, sizeof(data), "%s0", names[i] + 1);
		send_create(c, 900 + i, ZK_OP_CREATE, names[i], data, 0, NULL);
	}
	settle();
	for (int i = 0; i < 5; i++)
		EXPECT_REPLY(c, 900 + i, ZK_OK);
	return c;
}

/* Any single-path read, with the request record its opcode takes. */
static int send_read(struct dp_conn *c, int32_t xid, int32_t op, const char *path)
{
	if (op == ZK_OP_GETACL || op == ZK_OP_GETALLCHILDRENNUMBER)
		return send_path(c, xid, op, path);
	return send_path_watch(c, xid, op, path, false);
}

enum w2_kind { W2_SETDATA, W2_CREATE, W2_CREATE_SEQ, W2_DELETE, W2_SETACL };

static int send_w2(struct dp_conn *c, int32_t xid, enum w2_kind k, const char *path)
{
	struct proto_request r;

	switch (k) {
	case W2_SETDATA:
		return send_set_data(c, xid, path, "w2", -1);
	case W2_CREATE:
		return send_create(c, xid, ZK_OP_CREATE, path, "w2", 0, NULL);
	case W2_CREATE_SEQ:
		return send_create(c, xid, ZK_OP_CREATE, path, "w2",
				   ZK_CREATE_PERSISTENT_SEQUENTIAL, NULL);
	case W2_DELETE:
		return send_delete(c, xid, path, -1);
	case W2_SETACL:
		r = fake_req(xid, ZK_OP_SETACL);
		r.set_acl.path = fake_buf(path);
		r.set_acl.acl = proto_acl_open_unsafe;
		r.set_acl.version = -1;
		return fake_send(c, &r);
	}
	return -EINVAL;
}

/*
 * W1 setData /a, R (rop on rpath), W2 (k on wpath): all three reach the
 * core before any answer; R answers rerr as of W1 (header zxid W1's,
 * nothing of W2 visible: the same reply as the read run alone right
 * after W1), W2 answers w2err at W1 + 1; replies in request order.
 */
static void expect_read_runs_before_w2(int32_t rop, const char *rpath, int32_t rerr,
				       enum w2_kind k, const char *wpath, int32_t w2err)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_read(c, 2, rop, rpath);
	send_w2(c, 3, k, wpath);
	EXPECT_NOTHING(c);
	cr_assert_eq(fake_core_run(), 3,
		     "W2 (kind %d on %s) did not go to the core behind the read of %s", k, wpath,
		     rpath);
	cr_assert_eq(fw.r.reads, 1, "the read of %s did not run on the core", rpath);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, rerr);
	cr_assert_eq(rr.hdr.zxid, z1, "the read of %s answered as of 0x%llx, W1 is 0x%llx", rpath,
		     (unsigned long long)rr.hdr.zxid, (unsigned long long)z1);
	if (rop == ZK_OP_GETDATA && rerr == ZK_OK)
		cr_assert_lt(rr.body.data_stat.stat.mzxid, z1 + 1, "the read saw W2");
	if ((rop == ZK_OP_GETCHILDREN2 || rop == ZK_OP_GETDATA) && rerr == ZK_OK)
		cr_assert_eq(rr.body.data_stat.stat.aversion, 0, "the read saw W2's setACL");
	EXPECT_REPLY(c, 3, w2err);
	cr_assert_eq(rr.hdr.zxid, z1 + 1);
	EXPECT_NOTHING(c);
	cr_assert(!dp_proto_pending(fw.w.proto));
}

Test(dp_session, write_sends_the_queued_read_ahead_of_it_to_the_core)
{
	struct dp_conn *c = overtake_tree();
	struct dp_proto_stats st;
	struct repl_in m[3];

	send_set_data(c, 1, "/b", "b1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", false);
	EXPECT_NOTHING(c);
	send_set_data(c, 3, "/b", "b2", -1);
	EXPECT_NOTHING(c);
	/* W1, then R as a read for the core, then W2, before any answer */
	cr_assert(pop_in(&m[0]));
	cr_assert_eq(m[0].kind, REPL_IN_WRITE);
	cr_assert_eq(m[0].xid, 1);
	cr_assert(pop_in(&m[1]), "the read was not sent to the core");
	cr_assert_eq(m[1].kind, REPL_IN_READ);
	cr_assert_eq(m[1].xid, 2);
	const struct repl_write *rw = m[1].body;
	cr_assert_eq(repl_write_check(rw, rw->size), 0);
	cr_assert_eq(rw->op, ZK_OP_GETDATA);
	cr_assert(pop_in(&m[2]), "W2 was not sent");
	cr_assert_eq(m[2].kind, REPL_IN_WRITE);
	cr_assert_eq(m[2].xid, 3);
	cr_assert(!pop_in(&(struct repl_in){ 0 }));
	for (int i = 0; i < 3; i++)
		cr_assert(ring_push(&fw.r.in, &m[i]));
	cr_assert_eq(fake_core_run(), 3);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b1"), "the read sees W1, not W2");
	cr_assert_eq(rr.body.data_stat.stat.mzxid, z1);
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1 + 1);
	cr_assert_eq(rr.body.stat.version, 2);
	EXPECT_NOTHING(c);
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.outstanding, 0);
	cr_assert(!dp_proto_pending(fw.w.proto));
}

/*
 * The stage counters (mntr's cheetah_stage_*, issue 13) say where each
 * request waited: a read with nothing ahead runs at once; one behind a
 * write and no later write runs here once the write is answered
 * (queued); one a later write overtook runs on the core (core-run);
 * every write counts once; all of it from the worker's counters.
 */
Test(dp_session, stage_counters_say_where_requests_waited)
{
	struct dp_conn *c = overtake_tree();
	struct dp_proto_stats a, b;
	struct repl_in m[3];

	dp_proto_stats(fw.w.proto, &a);
	send_path_watch(c, 1, ZK_OP_GETDATA, "/a", false); /* at once */
	EXPECT_REPLY(c, 1, ZK_OK);
	send_set_data(c, 2, "/b", "b1", -1);
	send_path_watch(c, 3, ZK_OP_GETDATA, "/b", false); /* queued behind 2 */
	settle();
	EXPECT_REPLY(c, 2, ZK_OK);
	EXPECT_REPLY(c, 3, ZK_OK);
	send_set_data(c, 4, "/b", "b2", -1);
	send_path_watch(c, 5, ZK_OP_GETDATA, "/b", false); /* overtaken by 6 */
	send_set_data(c, 6, "/b", "b3", -1);
	for (int i = 0; i < 3; i++)
		cr_assert(pop_in(&m[i]));
	cr_assert_eq(m[1].kind, REPL_IN_READ);
	for (int i = 0; i < 3; i++)
		cr_assert(ring_push(&fw.r.in, &m[i]));
	cr_assert_eq(fake_core_run(), 3);
	fake_poll();
	EXPECT_REPLY(c, 4, ZK_OK);
	EXPECT_REPLY(c, 5, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b2"));
	EXPECT_REPLY(c, 6, ZK_OK);
	EXPECT_NOTHING(c);
	dp_proto_stats(fw.w.proto, &b);
	cr_assert_eq(b.stage.reads_at_once - a.stage.reads_at_once, 1);
	cr_assert_eq(b.stage.reads_queued - a.stage.reads_queued, 1);
	cr_assert_eq(b.stage.reads_core - a.stage.reads_core, 1);
	cr_assert_eq(b.stage.writes - a.stage.writes, 3);
	cr_assert_eq(b.stage.behind - a.stage.behind, 0);
	/* waits are sums of clock differences: never below the counts' zero */
	cr_assert_geq(b.stage.writes_ns, a.stage.writes_ns);
	cr_assert_geq(b.stage.reads_core_ns, a.stage.reads_core_ns);
}

/*
 * Issue 8, item 7.  S: W0 pending; getData /y queued; setData /b.  T
 * watches /b and on the event writes /y.  ZooKeeper answers S's getData
 * before applying setData /b, so it can never show T's write, which
 * causally follows setData /b.  Here T is on another worker: its write
 * lands after S's setData was applied and before this worker has
 * processed W0's result.  The getData must show /y's old data, its reply
 * must come before setData's, and before any event of a later txn.
 */
Test(dp_session, read_ahead_of_a_write_never_shows_what_followed_the_write)
{
	struct dp_conn *c = overtake_tree();
	int64_t last = 0;

	send_create(c, 10, ZK_OP_CREATE, "/y", "y0", 0, NULL);
	settle();
	EXPECT_REPLY(c, 10, ZK_OK);
	send_path_watch(c, 11, ZK_OP_GETDATA, "/z", true); /* S also watches /z */
	EXPECT_REPLY(c, 11, ZK_OK);
	send_set_data(c, 1, "/a", "a1", -1);		  /* W0 */
	send_path_watch(c, 2, ZK_OP_GETDATA, "/y", false); /* R, queued behind W0 */
	send_set_data(c, 3, "/b", "b1", -1);		  /* W */
	fake_core_run(); /* W0, (R), W applied; nothing delivered yet */
	/* T (another worker) saw W's event and writes /y, then /z */
	int64_t zy = fake_apply_setdata("/y", "from-T", true);
	int64_t zz = fake_apply_setdata("/z", "from-T", true);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_geq(rr.hdr.zxid, last);
	last = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "y0"),
		  "getData /y shows %.*s: a write that followed the session's later setData",
		  rr.body.data_stat.data.len, rr.body.data_stat.data.p);
	cr_assert_lt(rr.hdr.zxid, zy);
	cr_assert_geq(rr.hdr.zxid, last);
	last = rr.hdr.zxid;
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_geq(rr.hdr.zxid, last);
	cr_assert_lt(rr.hdr.zxid, zy);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/z", zz);
	EXPECT_NOTHING(c);
	send_path_watch(c, 4, ZK_OP_GETDATA, "/y", false);
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "from-T"));
	cr_assert_geq(rr.hdr.zxid, zz);
}

/*
 * S: W0; getData /b with a watch; setData /b.  ZooKeeper answers the
 * getData (old data, watch registered), then applies setData, firing the
 * watch: reply(getData), NodeDataChanged /b, reply(setData).
 */
Test(dp_session, core_read_watch_fires_on_the_write_behind_it)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", true);
	send_set_data(c, 3, "/b", "b1", -1);
	cr_assert_eq(fake_core_run(), 3);
	cr_assert_eq(fw.r.reads, 1);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b0"));
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/b", z1 + 1);
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1 + 1);
	EXPECT_NOTHING(c);
	/* a standard watch fires once */
	send_set_data(c, 4, "/b", "b2", -1);
	settle();
	EXPECT_REPLY(c, 4, ZK_OK);
	EXPECT_NOTHING(c);
}

/* The same with exists on a missing node and getChildren: the create fires both. */
/*
 * Reads queued behind W1 go to the core in one REPL_IN_READ ahead of W5
 * and come back in one answer: each reply in order, each as of W1 (not
 * W5), each read's watch its own (R3's exists on /c fires on nothing).
 */
Test(dp_session, queued_reads_travel_and_return_together)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", true);
	send_path_watch(c, 3, ZK_OP_EXISTS, "/c", true);
	send_path(c, 4, ZK_OP_GETACL, "/b");
	send_set_data(c, 5, "/b", "b1", -1);
	cr_assert_eq(fake_core_run(), 3, "W1, the three reads, W5");
	cr_assert_eq(fw.r.reads, 3);
	cr_assert_eq(fw.r.read_msgs, 1);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b0"));
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert_eq(rr.body.acl_stat.stat.version, 0);
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/b", z1 + 1);
	EXPECT_REPLY(c, 5, ZK_OK);
	EXPECT_NOTHING(c);
	send_set_data(c, 6, "/c", "c1", -1);
	settle();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/c", z1 + 2);
	EXPECT_REPLY(c, 6, ZK_OK);
	EXPECT_NOTHING(c);
}

/* The core refuses a batch of reads (e.g. the session is unknown there): every read fails alike. */
Test(dp_session, refused_read_batch_answers_every_read)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", true);
	send_path_watch(c, 3, ZK_OP_EXISTS, "/c", false);
	send_path(c, 4, ZK_OP_GETCHILDREN2, "/");
	send_set_data(c, 5, "/b", "b1", -1);
	fw.r.read_err = ZK_SESSIONEXPIRED;
	cr_assert_eq(fake_core_run(), 3);
	cr_assert_eq(fw.r.reads, 0);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_SESSIONEXPIRED);
	EXPECT_REPLY(c, 3, ZK_SESSIONEXPIRED);
	EXPECT_REPLY(c, 4, ZK_SESSIONEXPIRED);
	EXPECT_REPLY(c, 5, ZK_OK);
	EXPECT_NOTHING(c); /* no watch was set by the refused reads */
}

/*
 * One read of a batch the core cannot run (here its op type garbled in
 * the message) fails alone: the others' replies and watches, before and
 * after it in the answer, stay theirs.
 */
Test(dp_session, one_failed_read_of_a_batch_fails_alone)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", true);
	send_path_watch(c, 3, ZK_OP_GETDATA, "/c", true);
	send_path_watch(c, 4, ZK_OP_GETDATA, "/z", true);
	send_set_data(c, 5, "/b", "b1", -1);
	fw.r.read_bad = 2;
	cr_assert_eq(fake_core_run(), 3);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b0"));
	EXPECT_REPLY(c, 3, ZK_MARSHALLINGERROR);
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "z0"));
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/b", z1 + 1);
	EXPECT_REPLY(c, 5, ZK_OK);
	send_set_data(c, 6, "/c", "c1", -1);
	send_set_data(c, 7, "/z", "z1", -1);
	settle();
	EXPECT_REPLY(c, 6, ZK_OK);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/z", z1 + 3);
	EXPECT_REPLY(c, 7, ZK_OK);
	EXPECT_NOTHING(c);
}

Test(dp_session, core_read_watches_of_every_kind_are_registered)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_EXISTS, "/c/x", true);
	send_path_watch(c, 3, ZK_OP_GETCHILDREN2, "/c", true);
	send_create(c, 4, ZK_OP_CREATE, "/c/x", "", 0, NULL);
	cr_assert_eq(fake_core_run(), 3, "W1, one message for both reads, W4");
	cr_assert_eq(fw.r.reads, 2);
	cr_assert_eq(fw.r.read_msgs, 1);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_NONODE);
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_eq(rr.body.children_stat.children.count, 0);
	EXPECT_EVENT(c, ZK_EVENT_NODE_CREATED, "/c/x", z1 + 1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_CHILDREN_CHANGED, "/c", z1 + 1);
	EXPECT_REPLY(c, 4, ZK_OK);
	EXPECT_NOTHING(c);
}

Test(dp_session, every_core_read_kind_runs_in_place)
{
	static const int32_t ops[] = { ZK_OP_GETDATA, ZK_OP_EXISTS, ZK_OP_GETCHILDREN,
				       ZK_OP_GETCHILDREN2, ZK_OP_GETACL,
				       ZK_OP_GETALLCHILDRENNUMBER };
	struct dp_conn *c = overtake_tree();
	int32_t xid = 1;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		int32_t w1 = xid++, r = xid++, w2 = xid++;

		send_set_data(c, w1, "/a", "a", -1);
		send_read(c, r, ops[i], "/b");
		send_create(c, w2, ZK_OP_CREATE, "/b/k", "", 0, NULL);
		cr_assert_eq(fake_core_run(), 3, "op %d on /b: the write waited", ops[i]);
		fake_poll();
		EXPECT_REPLY(c, w1, ZK_OK);
		int64_t z1 = rr.hdr.zxid;
		EXPECT_REPLY(c, r, ZK_OK);
		cr_assert_eq(rr.hdr.zxid, z1);
		if (ops[i] == ZK_OP_GETCHILDREN)
			cr_assert_eq(rr.body.children.count, 0, "op %d saw the create", ops[i]);
		if (ops[i] == ZK_OP_GETCHILDREN2)
			cr_assert_eq(rr.body.children_stat.children.count, 0);
		if (ops[i] == ZK_OP_GETALLCHILDRENNUMBER)
			cr_assert_eq(rr.body.total, 0, "getAllChildrenNumber saw the create");
		EXPECT_REPLY(c, w2, ZK_OK);
		EXPECT_NOTHING(c);
		send_delete(c, xid++, "/b/k", -1);
		settle();
		EXPECT_REPLY(c, xid - 1, ZK_OK);
	}
	cr_assert_eq(fw.r.reads, 6);
}

/* A reply larger than the core's stack buffer is read again into the heap, watches once. */
Test(dp_session, core_read_of_a_large_node)
{
	struct dp_conn *c = overtake_tree();
	static char big[5000];

	memset(big, 'q', sizeof(big) - 1);
	send_create(c, 10, ZK_OP_CREATE, "/big", big, 0, NULL);
	settle();
	EXPECT_REPLY(c, 10, ZK_OK);
	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/big", true);
	send_set_data(c, 3, "/big", "small", -1);
	cr_assert_eq(fake_core_run(), 3);
	cr_assert_eq(fw.r.reads, 1);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, big));
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/big", z1 + 1);
	EXPECT_REPLY(c, 3, ZK_OK);
	EXPECT_NOTHING(c);
	send_set_data(c, 4, "/big", "again", -1);
	settle();
	EXPECT_REPLY(c, 4, ZK_OK);
	EXPECT_NOTHING(c); /* one watch, fired once */
}

Test(dp_session, multi_read_runs_in_place)
{
	struct dp_conn *c = overtake_tree();
	struct proto_multi_op ops[2] = {
		{ .type = ZK_OP_GETDATA, .path_watch = { fake_buf("/b"), true } },
		{ .type = ZK_OP_GETCHILDREN, .path_watch = { fake_buf("/b"), false } },
	};
	struct proto_request r = fake_req(2, ZK_OP_MULTIREAD);

	r.multi.items = ops;
	r.multi.count = 2;
	send_set_data(c, 1, "/a", "a1", -1);
	fake_send(c, &r);
	send_set_data(c, 3, "/b", "b1", -1);
	cr_assert_eq(fake_core_run(), 3);
	cr_assert_eq(fw.r.reads, 1);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/b", z1 + 1);
	EXPECT_REPLY(c, 3, ZK_OK);
	EXPECT_NOTHING(c);
}

Test(dp_session, write_of_the_read_path_runs_after_it)
{
	expect_read_runs_before_w2(ZK_OP_GETDATA, "/b", ZK_OK, W2_SETDATA, "/b", ZK_OK);
}

Test(dp_session, unrelated_write_runs_after_the_read)
{
	expect_read_runs_before_w2(ZK_OP_GETDATA, "/b", ZK_OK, W2_SETDATA, "/bb", ZK_OK);
}

Test(dp_session, create_under_the_read_path_runs_after_it)
{
	expect_read_runs_before_w2(ZK_OP_GETCHILDREN2, "/b", ZK_OK, W2_CREATE, "/b/x", ZK_OK);
}

Test(dp_session, create_of_the_read_path_runs_after_it)
{
	expect_read_runs_before_w2(ZK_OP_EXISTS, "/b/x", ZK_NONODE, W2_CREATE, "/b/x", ZK_OK);
}

Test(dp_session, sequential_create_runs_after_the_read_of_the_name_it_gets)
{
	expect_read_runs_before_w2(ZK_OP_GETDATA, "/b/x-0000000000", ZK_NONODE, W2_CREATE_SEQ,
				   "/b/x-", ZK_OK);
}

Test(dp_session, delete_of_the_read_path_runs_after_it)
{
	expect_read_runs_before_w2(ZK_OP_GETDATA, "/b", ZK_OK, W2_DELETE, "/b", ZK_OK);
}

Test(dp_session, set_acl_of_the_read_path_runs_after_it)
{
	expect_read_runs_before_w2(ZK_OP_GETACL, "/b", ZK_OK, W2_SETACL, "/b", ZK_OK);
}

Test(dp_session, set_acl_of_a_node_read_with_get_data_runs_after_it)
{
	expect_read_runs_before_w2(ZK_OP_GETDATA, "/c", ZK_OK, W2_SETACL, "/c", ZK_OK);
}

Test(dp_session, write_below_the_read_path_runs_after_it)
{
	expect_read_runs_before_w2(ZK_OP_GETALLCHILDRENNUMBER, "/", ZK_OK, W2_CREATE, "/c/x",
				   ZK_OK);
}

Test(dp_session, write_above_a_missing_read_path_runs_after_it)
{
	expect_read_runs_before_w2(ZK_OP_EXISTS, "/b/x", ZK_NONODE, W2_DELETE, "/b", ZK_OK);
}

/* A request ahead that the core cannot run keeps W2 queued until it has run. */
static void expect_blocked_by(struct dp_conn *c, const char *what)
{
	send_set_data(c, 3, "/c", "c1", -1);
	EXPECT_NOTHING(c);
	cr_assert_eq(fake_core_run(), 1, "the write went past %s", what);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
}

Test(dp_session, write_waits_for_a_queued_auth)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_auth(c, "digest", "bob:secret");
	expect_blocked_by(c, "an auth packet");
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	EXPECT_NOTHING(c);
	settle();
	EXPECT_REPLY(c, 3, ZK_OK);
}

Test(dp_session, write_waits_for_queued_set_watches)
{
	struct dp_conn *c = overtake_tree();
	struct proto_request r = fake_req(ZK_XID_SET_WATCHES, ZK_OP_SETWATCHES);
	struct jute_buf data[1] = { fake_buf("/b") };

	send_set_data(c, 1, "/a", "a1", -1);
	r.set_watches.relative_zxid = tree_last_zxid(fw.r.tree);
	r.set_watches.data.items = data;
	r.set_watches.data.count = 1;
	fake_send(c, &r);
	expect_blocked_by(c, "setWatches");
	EXPECT_REPLY(c, ZK_XID_SET_WATCHES, ZK_OK);
	EXPECT_NOTHING(c);
	settle();
	EXPECT_REPLY(c, 3, ZK_OK);
}

Test(dp_session, write_waits_for_a_queued_ping)
{
	struct dp_conn *c = overtake_tree();
	struct proto_request ping = fake_req(ZK_XID_PING, ZK_OP_PING);

	send_set_data(c, 1, "/a", "a1", -1);
	fake_send(c, &ping);
	expect_blocked_by(c, "a ping");
	EXPECT_REPLY(c, ZK_XID_PING, ZK_OK);
	EXPECT_NOTHING(c);
	settle();
	EXPECT_REPLY(c, 3, ZK_OK);
}

/*
 * W1, R /b, getEphemerals (not for the core), W3, R2 /c, W4: W3 and W4
 * wait; once getEphemerals has run, W3 goes with R2 and W4 behind it.
 */
Test(dp_session, writes_behind_a_local_only_request_wait_then_go_with_the_reads_between)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", false);
	send_path(c, 3, ZK_OP_GETEPHEMERALS, "/");
	send_set_data(c, 4, "/b", "b1", -1);
	send_path_watch(c, 5, ZK_OP_GETDATA, "/b", false);
	send_set_data(c, 6, "/b", "b2", -1);
	cr_assert_eq(fake_core_run(), 1, "a write went past getEphemerals");
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b0"));
	EXPECT_REPLY(c, 3, ZK_OK);
	EXPECT_NOTHING(c);
	cr_assert_eq(fake_core_run(), 3, "W4, the read and W6 go together");
	cr_assert_eq(fw.r.reads, 1);
	fake_poll();
	EXPECT_REPLY(c, 4, ZK_OK);
	int64_t z4 = rr.hdr.zxid;
	EXPECT_REPLY(c, 5, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b1"));
	cr_assert_eq(rr.hdr.zxid, z4);
	EXPECT_REPLY(c, 6, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z4 + 1);
	EXPECT_NOTHING(c);
}

/* Consecutive writes with reads between them all pipeline. */
Test(dp_session, writes_and_reads_between_them_all_pipeline)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", false);
	send_set_data(c, 3, "/b", "b1", -1);
	send_set_data(c, 4, "/c", "c1", -1);
	send_path_watch(c, 5, ZK_OP_GETDATA, "/b", false);
	send_path(c, 6, ZK_OP_GETACL, "/c");
	send_set_data(c, 7, "/b", "b2", -1);
	send_path_watch(c, 8, ZK_OP_GETDATA, "/b", false); /* stays local */
	cr_assert_eq(fake_core_run(), 6, "the reads 5 and 6 travel together");
	cr_assert_eq(fw.r.reads, 3);
	cr_assert_eq(fw.r.read_msgs, 2);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b0"));
	EXPECT_REPLY(c, 3, ZK_OK);
	EXPECT_REPLY(c, 4, ZK_OK);
	EXPECT_REPLY(c, 5, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b1"));
	cr_assert_eq(rr.hdr.zxid, z1 + 2);
	EXPECT_REPLY(c, 6, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1 + 2);
	EXPECT_REPLY(c, 7, ZK_OK);
	EXPECT_REPLY(c, 8, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b2"));
	EXPECT_NOTHING(c);
	cr_assert_eq(fw.r.reads, 3, "the last read ran on the worker");
}

Test(dp_session, multi_and_close_run_after_the_reads_ahead)
{
	struct dp_conn *c = overtake_tree();
	struct proto_multi_op op = { .type = ZK_OP_SETDATA,
				     .set_data = { fake_buf("/b"), fake_buf("m"), -1 } };
	struct proto_request r = fake_req(3, ZK_OP_MULTI);

	r.multi.items = &op;
	r.multi.count = 1;
	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", false);
	fake_send(c, &r);
	cr_assert_eq(fake_core_run(), 3);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b0"));
	EXPECT_REPLY(c, 3, ZK_OK);
	EXPECT_NOTHING(c);

	r = fake_req(9, ZK_OP_CLOSESESSION);
	send_set_data(c, 7, "/a", "a3", -1);
	send_path_watch(c, 8, ZK_OP_GETDATA, "/b", false);
	fake_send(c, &r);
	cr_assert_eq(fake_core_run(), 3);
	fake_poll();
	EXPECT_REPLY(c, 7, ZK_OK);
	EXPECT_REPLY(c, 8, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "m"));
	EXPECT_REPLY(c, 9, ZK_OK);
	cr_assert(c->closing);
}

/*
 * A sync queued behind a local-only request is pushed by sess_run ->
 * push_core(x->buf), which decodes the path out of e->buf and keeps it
 * with req_copy(e, path); req_copy used to free e->buf before copying
 * from it (heap-use-after-free under ASan, a wrong SyncResponse path).
 * A sync behind a read takes the read to the core with it.
 */
Test(dp_session, sync_behind_queued_requests)
{
	struct dp_conn *c = overtake_tree();
	struct proto_request ping = fake_req(ZK_XID_PING, ZK_OP_PING);

	send_set_data(c, 1, "/a", "a2", -1);
	fake_send(c, &ping);
	send_path(c, 3, ZK_OP_SYNC, "/c");
	cr_assert_eq(fake_core_run(), 1, "a sync went past a ping");
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, ZK_XID_PING, ZK_OK);
	settle();
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path, "/c"), "sync answered %.*s", rr.body.path.len,
		  rr.body.path.p);

	send_set_data(c, 4, "/a", "a3", -1);
	send_path_watch(c, 5, ZK_OP_GETDATA, "/b", false);
	send_path(c, 6, ZK_OP_SYNC, "/b");
	cr_assert_eq(fake_core_run(), 3);
	fake_poll();
	EXPECT_REPLY(c, 4, ZK_OK);
	EXPECT_REPLY(c, 5, ZK_OK);
	EXPECT_REPLY(c, 6, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path, "/b"));
	EXPECT_NOTHING(c);
}

Test(dp_session, write_behind_many_queued_reads_takes_them_all)
{
	struct dp_conn *c = overtake_tree();

	send_set_data(c, 1, "/a", "a1", -1);
	for (int i = 0; i < 100; i++)
		send_path_watch(c, 10 + i, ZK_OP_EXISTS, "/b", false);
	send_delete(c, 2, "/b", -1);
	cr_assert_eq(fake_core_run(), 4, "W1, the reads in batches of 64 and 36, W2");
	cr_assert_eq(fw.r.reads, 100);
	cr_assert_eq(fw.r.read_msgs, 2);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	for (int i = 0; i < 100; i++)
		EXPECT_REPLY(c, 10 + i, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_OK);
	EXPECT_NOTHING(c);
}

/*
 * A read the core ran whose answer arrives while a parked reply is ahead
 * of it: R0 (parked: its zxid is not published yet) at the head, then
 * W1, R, W2 all go to the core; replies R0, W1, R, W2, R seeing W1, not
 * W2.
 */
Test(dp_session, core_read_behind_a_parked_reply_keeps_fifo)
{
	struct dp_conn *c = overtake_tree();

	/* another worker's setData of /z, applied, not published: R0 parks */
	int64_t z0 = fake_apply_setdata("/z", "z1", false);
	send_path_watch(c, 1, ZK_OP_GETDATA, "/z", false);
	EXPECT_NOTHING(c);
	send_set_data(c, 2, "/b", "b1", -1);
	send_path_watch(c, 3, ZK_OP_GETDATA, "/b", true);
	send_set_data(c, 4, "/b", "b2", -1);
	EXPECT_NOTHING(c);
	fake_core_publish();
	cr_assert_eq(fake_core_run(), 3, "W1 (past a parked read), R and W2 are at the core");
	EXPECT_NOTHING(c);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "z1"));
	cr_assert_eq(rr.hdr.zxid, z0);
	EXPECT_REPLY(c, 2, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	cr_assert_eq(z1, z0 + 1);
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b1"), "the read sees W1");
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/b", z1 + 1);
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1 + 1);
	EXPECT_NOTHING(c);
	cr_assert(!dp_proto_pending(fw.w.proto));
	send_path_watch(c, 5, ZK_OP_GETDATA, "/b", false);
	EXPECT_REPLY(c, 5, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b2"));
}

/* A read for the core of a session the core does not know: SESSIONEXPIRED in its place. */
Test(dp_session, core_read_error_answer_keeps_fifo)
{
	struct dp_conn *c = overtake_tree();
	struct repl_in m[3];

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", false);
	send_set_data(c, 3, "/c", "c1", -1);
	for (int i = 0; i < 3; i++)
		cr_assert(pop_in(&m[i]));
	cr_assert_eq(m[1].kind, REPL_IN_READ);
	/* the core answers the read as it does for a session it does not know */
	struct repl_result *res = calloc(1, sizeof(*res));
	cr_assert_not_null(res);
	res->err = ZK_SESSIONEXPIRED;
	cr_assert(ring_push(&fw.r.in, &m[0]));
	cr_assert_eq(fake_core_run(), 1);
	struct repl_out o = { .kind = REPL_OUT_RESULT, .conn = m[1].conn, .xid = 2,
			      .session = m[1].session, .zxid = fw.r.zxid, .body = res };
	cr_assert(ring_push(&fw.r.out, &o));
	repl_in_free(&m[1]);
	cr_assert(ring_push(&fw.r.in, &m[2]));
	cr_assert_eq(fake_core_run(), 1);
	fake_poll();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_SESSIONEXPIRED);
	EXPECT_REPLY(c, 3, ZK_OK);
	EXPECT_NOTHING(c);
}

/* ---- write replies ---- */

/*
 * Reply zxids never go down on a session (ZooKeeper's header zxid is the
 * last processed zxid when the reply is made, and a session's write is
 * applied only after the requests ahead of it are answered; clients keep
 * the last header zxid and present it on reconnect).
 */

/* Next frame is the reply to xid (ZK_OK) with a header zxid >= *last; updates *last. */
#define EXPECT_REPLY_AT_LEAST(c, xid_, last)                                               \
	do {                                                                                \
		EXPECT_REPLY((c), (xid_), ZK_OK);                                           \
		cr_assert_geq(rr.hdr.zxid, *(last), "xid %d: reply zxid 0x%llx after 0x%llx", \
			      (int)(xid_), (unsigned long long)rr.hdr.zxid,                 \
			      (unsigned long long)*(last));                                 \
		*(last) = rr.hdr.zxid;                                                      \
	} while (0)

/* Several writes, reads between them, writes of others in between. */
Test(dp_session, reply_zxids_stay_in_order_across_chains_of_core_reads)
{
	struct dp_conn *c = overtake_tree();
	int64_t last = 0;

	send_set_data(c, 1, "/a", "a1", -1);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/b", false);
	send_set_data(c, 3, "/c", "c1", -1);
	send_path(c, 4, ZK_OP_GETACL, "/bb");
	send_set_data(c, 5, "/z", "z1", -1);
	send_path_watch(c, 6, ZK_OP_EXISTS, "/b", false);
	cr_assert_eq(fake_core_run(), 5, "W3 and W5 took the reads ahead of them");
	fake_apply_setdata("/a", "x", true);
	fake_apply_setdata("/a", "y", true);
	fake_poll();
	for (int32_t xid = 1; xid <= 6; xid++)
		EXPECT_REPLY_AT_LEAST(c, xid, &last);
	EXPECT_NOTHING(c);
	cr_assert_leq(last, tree_last_zxid(fw.r.tree));
}

/*
 * The write's own event and a watch of the session: the event of W2
 * comes after the reply to the read ahead of it and before W2's reply,
 * whatever W2 fires (ZooKeeper applies W2 once the read is answered).
 */
static void expect_own_event_after_the_read(int32_t wop, const char *wpath, int32_t werr,
					    enum w2_kind k, const char *w2path, int32_t etype,
					    const char *epath)
{
	struct dp_conn *c = overtake_tree();

	send_path_watch(c, 1, wop, wpath, true);
	EXPECT_REPLY(c, 1, werr);
	send_set_data(c, 2, "/a", "a1", -1);
	send_path_watch(c, 3, ZK_OP_GETDATA, "/b", false);
	send_w2(c, 4, k, w2path);
	cr_assert_eq(fake_core_run(), 3);
	fake_poll();
	EXPECT_REPLY(c, 2, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_EVENT(c, etype, epath, z1 + 1);
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1 + 1);
	EXPECT_NOTHING(c);
}

Test(dp_session, write_firing_an_own_data_watch_fires_after_the_read)
{
	expect_own_event_after_the_read(ZK_OP_GETDATA, "/c", ZK_OK, W2_SETDATA, "/c",
					ZK_EVENT_NODE_DATA_CHANGED, "/c");
}

Test(dp_session, create_firing_an_own_child_watch_fires_after_the_read)
{
	expect_own_event_after_the_read(ZK_OP_GETCHILDREN, "/c", ZK_OK, W2_CREATE, "/c/x",
					ZK_EVENT_NODE_CHILDREN_CHANGED, "/c");
}

Test(dp_session, create_firing_an_own_exist_watch_fires_after_the_read)
{
	expect_own_event_after_the_read(ZK_OP_EXISTS, "/c/x", ZK_NONODE, W2_CREATE, "/c/x",
					ZK_EVENT_NODE_CREATED, "/c/x");
}

Test(dp_session, delete_firing_an_own_watch_fires_after_the_read)
{
	expect_own_event_after_the_read(ZK_OP_EXISTS, "/z", ZK_OK, W2_DELETE, "/z",
					ZK_EVENT_NODE_DELETED, "/z");
}

/*
 * Other sessions' events keep their place: one before the write goes
 * before the read's reply, one after it after the write's reply
 * (ZooKeeper's order: W1, e(x), R, W2, e(y)).
 */
Test(dp_session, events_of_others_keep_txn_order_around_core_reads)
{
	struct dp_conn *c = overtake_tree();

	send_path_watch(c, 2, ZK_OP_GETDATA, "/z", true);
	EXPECT_REPLY(c, 2, ZK_OK);
	send_path_watch(c, 3, ZK_OP_GETDATA, "/bb", true);
	EXPECT_REPLY(c, 3, ZK_OK);
	send_set_data(c, 4, "/a", "a1", -1);
	send_path_watch(c, 5, ZK_OP_GETDATA, "/bb", false);
	/* another worker changes /bb after W1 was sent, before W2 */
	cr_assert_eq(fake_core_run(), 1);
	int64_t zx = fake_apply_setdata("/bb", "bb1", true);
	send_set_data(c, 6, "/c", "c1", -1);
	cr_assert_eq(fake_core_run(), 2, "the read and W2");
	int64_t zy = fake_apply_setdata("/z", "z1", true);
	fake_poll();
	EXPECT_REPLY(c, 4, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	cr_assert_lt(z1, zx);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/bb", zx);
	EXPECT_REPLY(c, 5, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "bb1"));
	cr_assert_eq(rr.hdr.zxid, zx);
	EXPECT_REPLY(c, 6, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, zx + 1);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/z", zy);
	EXPECT_NOTHING(c);
}

/*
 * What used to be a deviation (issue 8, item 7): a read a later write of
 * the session went ahead of ran after that write and could show a change
 * made after it, /b here, written by another worker once W2 was applied.
 * It now answers as of its place: /b as it was, the event after W2.
 */
Test(dp_session, overtaken_read_never_shows_data_before_its_event)
{
	struct dp_conn *c = overtake_tree();

	send_path_watch(c, 1, ZK_OP_GETDATA, "/b", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	send_set_data(c, 3, "/a", "a1", -1);
	send_path_watch(c, 4, ZK_OP_GETDATA, "/b", false);
	send_set_data(c, 5, "/c", "c1", -1);
	fake_core_run();
	int64_t zb = fake_apply_setdata("/b", "other", true);
	fake_poll();
	EXPECT_REPLY(c, 3, ZK_OK);
	int64_t z1 = rr.hdr.zxid;
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "b0"),
		  "the read ahead of W2 shows /b as %.*s, written after W2",
		  rr.body.data_stat.data.len, rr.body.data_stat.data.p);
	cr_assert_eq(rr.hdr.zxid, z1);
	EXPECT_REPLY(c, 5, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z1 + 1);
	cr_assert_lt(rr.hdr.zxid, zb);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/b", zb);
	EXPECT_NOTHING(c);
}

/* The same when the later change is an ACL (a Stat has no zxid for it). */
Test(dp_session, read_ahead_of_a_write_never_shows_a_later_acl)
{
	static struct test_acl acl;
	struct dp_conn *c = overtake_tree();

	send_path_watch(c, 1, ZK_OP_GETDATA, "/z", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	send_set_data(c, 3, "/a", "a1", -1);
	send_path_watch(c, 4, ZK_OP_GETDATA, "/b", false);
	send_set_data(c, 5, "/c", "c1", -1);
	fake_core_run();
	int64_t zz = fake_apply_setdata("/z", "other", true);
	int64_t za = fake_apply_setacl("/b", acl_one(&acl, ZK_PERM_ALL, "world", "anyone"), true);
	fake_poll();
	EXPECT_REPLY(c, 3, ZK_OK);
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert_eq(rr.body.data_stat.stat.aversion, 0, "the read saw the later setACL");
	cr_assert_lt(rr.hdr.zxid, za);
	EXPECT_REPLY(c, 5, ZK_OK);
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/z", zz);
	EXPECT_NOTHING(c);
}

/*
 * Events held behind a parked reply (its zxid not yet delivered here when
 * a burst of later events arrives in the same drain) go out after it,
 * and the buffer that held them does not stay at its high-water mark for
 * the connection's lifetime (issue 8, item 6: memory after a spike).
 */
#define HELD_SPIKE_NODES 1000

Test(dp_session, held_events_buffer_is_released_after_a_spike)
{
	struct dp_conn *c = overtake_tree();
	struct dp_sess *s = c->user;
	char path[128];

	for (int i = 0; i < HELD_SPIKE_NODES; i++) {
		snprintf(path, sizeof(path), "/held-spike-node-with-a-long-name-%06d", i);
		fake_apply_create(path, "0", true);
	}
	fake_poll();
	for (int i = 0; i < HELD_SPIKE_NODES; i++) {
		snprintf(path, sizeof(path), "/held-spike-node-with-a-long-name-%06d", i);
		send_path_watch(c, 1000 + i, ZK_OP_GETDATA, path, true);
		EXPECT_REPLY(c, 1000 + i, ZK_OK);
	}
	/* R0 parks on a txn of another worker that is applied, not yet published */
	int64_t z0 = fake_apply_setdata("/z", "z1", false);
	send_path_watch(c, 4, ZK_OP_GETDATA, "/z", false);
	EXPECT_NOTHING(c);
	/* later txns of other workers fire every watch; the ring has them first */
	for (int i = 0; i < HELD_SPIKE_NODES; i++) {
		snprintf(path, sizeof(path), "/held-spike-node-with-a-long-name-%06d", i);
		fake_apply_setdata(path, "1", true);
	}
	fake_poll();
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, z0);
	for (int i = 0; i < HELD_SPIKE_NODES; i++) {
		snprintf(path, sizeof(path), "/held-spike-node-with-a-long-name-%06d", i);
		EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, path, z0 + 1 + i);
	}
	EXPECT_NOTHING(c);
	cr_assert_eq(s->held_len, 0);
	cr_assert_leq(s->held_cap, 64u * 1024, "%zu bytes kept after the spike", s->held_cap);
	fake_core_publish(); /* the stale /z messages: nothing for this session */
	fake_poll();
	EXPECT_NOTHING(c);
}

/*
 * A connection that goes while its write and a read for the core are
 * with the core: their answers are dropped, and the session's next
 * connection starts clean (nothing held, nothing replayed).
 */
Test(dp_session, connection_gone_with_a_core_read_in_flight)
{
	struct dp_conn *c = overtake_tree();
	struct dp_sess *s = c->user;
	int64_t session = s->session;

	send_path_watch(c, 1, ZK_OP_GETDATA, "/z", true);
	EXPECT_REPLY(c, 1, ZK_OK);
	send_set_data(c, 3, "/a", "a1", -1);
	send_path_watch(c, 4, ZK_OP_GETDATA, "/b", true);
	send_set_data(c, 5, "/c", "c1", -1);
	fake_apply_setdata("/z", "other", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/z", rr.hdr.zxid);
	EXPECT_NOTHING(c);
	fake_conn_gone(c);
	cr_assert_eq(fake_core_run(), 4, "W1, the read, W2 and the connection's GONE");
	fake_poll();
	EXPECT_NOTHING(c);

	struct dp_conn *c2 = fake_conn("127.0.0.1", 5001);
	uint8_t pw[16];
	fake_passwd(session, pw);
	fake_send_connect(c2, session, 0, 10000, pw, true);
	settle();
	const uint8_t *cp;
	uint32_t clen;
	struct proto_connect_resp cresp;
	cr_assert(fake_next(c2, &cp, &clen), "ConnectResponse");
	cr_assert_eq(proto_decode_connect_resp(cp, clen, &cresp), 0);
	cr_assert_eq(cresp.session_id, session, "the session lives on");
	send_set_data(c2, 7, "/b", "b9", -1); /* the old connection's watch went with it */
	settle();
	EXPECT_REPLY(c2, 7, ZK_OK);
	send_path_watch(c2, 6, ZK_OP_GETDATA, "/c", false);
	EXPECT_REPLY(c2, 6, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "c1"));
	EXPECT_NOTHING(c2);
}

/*
 * Random traffic from one session (getData with and without watches,
 * setData; writes taking queued reads to the core), another session's and another
 * worker's writes, the core and the poll interleaved at random.  What
 * ZooKeeper guarantees on the connection must hold whatever the
 * interleaving: replies in order with header zxids that never go down;
 * events in zxid order; no reply showing a node's data newer than an
 * event for that node still to come; an event of the session's own write
 * after the replies to every request it sent before that write.
 */
#define ORDER_PATHS 5
#define ORDER_OPS 300
#define ORDER_MAX_FRAMES 4096

struct order_frame {
	int32_t xid; /* -1: event */
	int64_t zxid;
	int64_t mzxid; /* a setData reply's txn zxid */
};

struct order_log {
	int32_t first_xid, next_xid, replied;
	bool write[ORDER_MAX_FRAMES];
	int32_t path[ORDER_MAX_FRAMES];
	int64_t shown[ORDER_PATHS]; /* newest mzxid a reply showed, per path */
	int32_t acls[ORDER_PATHS];  /* setACLs of another worker, per path */
	int64_t acl_zxid[ORDER_PATHS][ORDER_OPS + 1]; /* by the aversion they gave */
	struct order_frame f[ORDER_MAX_FRAMES];
	uint32_t nf, events;
};

static const char *const order_path[ORDER_PATHS] = { "/a", "/b", "/c", "/z", "/bb" };

static void order_drain(struct dp_conn *c, struct order_log *l)
{
	while (fake_reply(c, &rr)) {
		struct order_frame *f = &l->f[l->nf++];
		int64_t last = 0;

		cr_assert_lt(l->nf, ORDER_MAX_FRAMES);
		f->xid = rr.hdr.xid;
		f->zxid = rr.hdr.zxid;
		if (rr.hdr.xid == ZK_XID_NOTIFICATION) {
			int pi = -1;
			for (int i = 0; i < ORDER_PATHS; i++)
				if (jute_buf_eq(rr.body.event.path, order_path[i]))
					pi = i;
			cr_assert_geq(pi, 0);
			for (uint32_t k = 0; k + 1 < l->nf; k++)
				if (l->f[k].xid == ZK_XID_NOTIFICATION)
					last = l->f[k].zxid;
			cr_assert_geq(f->zxid, last, "events out of zxid order");
			cr_assert_lt(l->shown[pi], f->zxid,
				     "a reply showed %s at 0x%llx before its event 0x%llx",
				     order_path[pi], (unsigned long long)l->shown[pi],
				     (unsigned long long)f->zxid);
			l->events++;
			continue;
		}
		cr_assert_eq(f->xid, l->first_xid + l->replied, "reply to xid %d out of order",
			     f->xid);
		cr_assert_eq(rr.hdr.err, ZK_OK);
		for (uint32_t k = 0; k + 1 < l->nf; k++)
			if (l->f[k].xid != ZK_XID_NOTIFICATION)
				last = l->f[k].zxid;
		cr_assert_geq(f->zxid, last, "reply zxid 0x%llx after 0x%llx",
			      (unsigned long long)f->zxid, (unsigned long long)last);
		l->replied++;
		int pi = l->path[f->xid % ORDER_MAX_FRAMES];
		int64_t m = l->write[f->xid % ORDER_MAX_FRAMES] ? rr.body.stat.mzxid
								 : rr.body.data_stat.stat.mzxid;
		if (l->write[f->xid % ORDER_MAX_FRAMES])
			f->mzxid = m;
		/* an ACL change has no zxid in the Stat; the header still dates it */
		int32_t av = rr.body.data_stat.stat.aversion;
		if (!l->write[f->xid % ORDER_MAX_FRAMES] && av > 0)
			cr_assert_geq(f->zxid, l->acl_zxid[pi][av],
				      "reply zxid 0x%llx below the setACL 0x%llx it shows",
				      (unsigned long long)f->zxid,
				      (unsigned long long)l->acl_zxid[pi][av]);
		if (m > l->shown[pi])
			l->shown[pi] = m;
	}
}

/*
 * After the run: each own write's events follow the replies to what was
 * sent before it; an event comes before any reply whose zxid is at least
 * its own (a client reconnecting with that lastZxid is not told again).
 */
static void order_check_after(const struct order_log *l)
{
	for (uint32_t e = 0; e < l->nf; e++) {
		if (l->f[e].xid != ZK_XID_NOTIFICATION)
			continue;
		for (uint32_t k = 0; k < e; k++)
			cr_assert(l->f[k].xid == ZK_XID_NOTIFICATION || l->f[k].zxid < l->f[e].zxid,
				  "reply to xid %d with zxid 0x%llx came before the event of 0x%llx",
				  l->f[k].xid, (unsigned long long)l->f[k].zxid,
				  (unsigned long long)l->f[e].zxid);
	}
	for (uint32_t w = 0; w < l->nf; w++) {
		const struct order_frame *wf = &l->f[w];
		if (wf->xid == ZK_XID_NOTIFICATION || !wf->mzxid)
			continue;
		for (uint32_t e = 0; e < l->nf; e++) {
			if (l->f[e].xid != ZK_XID_NOTIFICATION || l->f[e].zxid != wf->mzxid)
				continue;
			uint32_t before = 0;
			for (uint32_t k = 0; k < e; k++)
				if (l->f[k].xid != ZK_XID_NOTIFICATION && l->f[k].xid < wf->xid)
					before++;
			cr_assert_eq(before, (uint32_t)(wf->xid - l->first_xid),
				     "the event of write xid %d (zxid 0x%llx) came before the replies "
				     "to %u of the requests sent before it",
				     wf->xid, (unsigned long long)wf->mzxid,
				     (uint32_t)(wf->xid - l->first_xid) - before);
		}
	}
}

static uint32_t order_rand(uint64_t *st)
{
	*st = *st * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*st >> 33);
}

static void order_run(uint64_t seed, struct order_log *l)
{
	struct dp_conn *c = overtake_tree();
	struct dp_conn *b = fake_session("127.0.0.2", NULL);
	uint64_t st = seed;
	char data[16];

	memset(l, 0, sizeof(*l));
	l->first_xid = l->next_xid = 1000;
	for (int i = 0; i < ORDER_OPS; i++) {
		uint32_t r = order_rand(&st) % 100, pi = order_rand(&st) % ORDER_PATHS;
		int32_t x = l->next_xid++;
		l->path[x % ORDER_MAX_FRAMES] = (int32_t)pi;
		if (r < 45) {
			send_path_watch(c, x, ZK_OP_GETDATA, order_path[pi], order_rand(&st) % 2);
		} else if (r < 70) {
			l->write[x % ORDER_MAX_FRAMES] = true;
			snprintf(data, sizeof(data), "a%d", x);
			send_set_data(c, x, order_path[pi], data, -1);
		} else {
			l->next_xid--; /* not ours */
			if (r < 78) {
				snprintf(data, sizeof(data), "b%d", i);
				send_set_data(b, i, order_path[pi], data, -1);
			} else if (r < 84) {
				/* another worker's write, published or not yet */
				bool now = order_rand(&st) % 4 != 0;
				snprintf(data, sizeof(data), "w%d", i);
				if (now)
					fake_core_publish(); /* the ring stays in txn order */
				if (order_rand(&st) % 4 == 0) {
					static struct test_acl open_acl;
					int32_t av = ++l->acls[pi];
					l->acl_zxid[pi][av] = fake_apply_setacl(
					    order_path[pi],
					    acl_one(&open_acl, ZK_PERM_ALL, "world", "anyone"), now);
				} else {
					fake_apply_setdata(order_path[pi], data, now);
				}
			} else if (r < 88) {
				fake_core_publish();
			} else if (r < 92) {
				fake_core_apply_held(); /* applied, not yet in the ring */
			} else if (r < 96) {
				fake_core_publish();
				fake_core_run();
			} else {
				fake_poll();
			}
		}
		order_drain(c, l);
		while (fake_reply(b, &rr))
			;
	}
	for (int k = 0; k < 8 && l->replied < l->next_xid - l->first_xid; k++) {
		fake_core_publish();
		settle();
		order_drain(c, l);
		while (fake_reply(b, &rr))
			;
	}
	cr_assert_eq(l->replied, l->next_xid - l->first_xid, "seed %llu: %d of %d answered",
		     (unsigned long long)seed, l->replied, l->next_xid - l->first_xid);
	order_check_after(l);
}

Test(dp_session, random_overtaking_keeps_zookeeper_order)
{
	static struct order_log l;
	uint32_t events = 0;

	for (uint64_t seed = 1; seed <= 100; seed++) {
		if (seed > 1) {
			fake_teardown();
			fake_setup();
		}
		order_run(seed, &l);
		events += l.events;
	}
	cr_assert_gt(events, 50, "the runs fired only %u events", events);
}

Test(dp_session, create_family_replies)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);

	send_create(c, 1, ZK_OP_CREATE, "/s-", "", ZK_CREATE_PERSISTENT_SEQUENTIAL, NULL);
	send_create(c, 2, ZK_OP_CREATE2, "/c2", "abc", 0, NULL);
	send_create(c, 3, ZK_OP_CREATECONTAINER, "/ct", "", ZK_CREATE_CONTAINER, NULL);
	send_create(c, 4, ZK_OP_CREATETTL, "/ttl", "", ZK_CREATE_PERSISTENT_WITH_TTL, NULL);
	send_create(c, 5, ZK_OP_CREATE, "/c2", "", 0, NULL);
	send_create(c, 6, ZK_OP_CREATE2, "/nope/x", "", 0, NULL);
	send_create(c, 7, ZK_OP_CREATE, "/e", "", ZK_CREATE_EPHEMERAL, NULL);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path, "/s-0000000000"));
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path_stat.path, "/c2"));
	cr_assert_eq(rr.body.path_stat.stat.data_length, 3);
	cr_assert_eq(rr.body.path_stat.stat.czxid, rr.hdr.zxid);
	EXPECT_REPLY(c, 3, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path_stat.path, "/ct"));
	cr_assert_eq(rr.body.path_stat.stat.ephemeral_owner, 0, "containers show owner 0");
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path_stat.path, "/ttl"));
	EXPECT_REPLY(c, 5, ZK_NODEEXISTS);
	cr_assert(!rr.has_body);
	EXPECT_REPLY(c, 6, ZK_NONODE);
	cr_assert(!rr.has_body);
	EXPECT_REPLY(c, 7, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path, "/e"));
}

Test(dp_session, set_delete_acl_replies)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct proto_request r;

	send_create(c, 1, ZK_OP_CREATE, "/n", "", 0, NULL);
	send_set_data(c, 2, "/n", "12345", 0);
	send_set_data(c, 3, "/n", "x", 7);
	r = fake_req(4, ZK_OP_SETACL);
	r.set_acl.path = fake_buf("/n");
	r.set_acl.acl = proto_acl_open_unsafe;
	r.set_acl.version = -1;
	fake_send(c, &r);
	send_delete(c, 5, "/n", 5);
	send_delete(c, 6, "/n", -1);
	send_delete(c, 7, "/n", -1);
	send_create(c, 8, ZK_OP_CREATE, "/bad//path", "", 0, NULL); /* parent "/bad/" first */
	send_create(c, 9, ZK_OP_CREATE, "/.", "", 0, NULL);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert_eq(rr.body.stat.version, 1);
	cr_assert_eq(rr.body.stat.data_length, 5);
	cr_assert_eq(rr.body.stat.mzxid, rr.hdr.zxid);
	EXPECT_REPLY(c, 3, ZK_BADVERSION);
	cr_assert(!rr.has_body);
	EXPECT_REPLY(c, 4, ZK_OK);
	cr_assert_eq(rr.body.stat.aversion, 1);
	EXPECT_REPLY(c, 5, ZK_BADVERSION);
	EXPECT_REPLY(c, 6, ZK_OK);
	cr_assert(!rr.has_body, "delete has no body");
	EXPECT_REPLY(c, 7, ZK_NONODE);
	EXPECT_REPLY(c, 8, ZK_NONODE);
	EXPECT_REPLY(c, 9, ZK_BADARGUMENTS);
}

Test(dp_session, delete_container_from_a_client_is_bad_arguments)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);

	send_create(c, 1, ZK_OP_CREATECONTAINER, "/ct", "", ZK_CREATE_CONTAINER, NULL);
	send_path(c, 2, ZK_OP_DELETECONTAINER, "/ct");
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_BADARGUMENTS);
}

static void multi_op_create(struct proto_multi_op *op, int32_t type, const char *path, int32_t flags)
{
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->create.path = fake_buf(path);
	op->create.data = fake_buf("d");
	op->create.acl = proto_acl_open_unsafe;
	op->create.flags = flags;
}

Test(dp_session, multi_replies)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct proto_multi_op ops[6];
	struct proto_request r = fake_req(1, ZK_OP_MULTI);
	struct proto_multi_result res;
	struct proto_iter it;

	multi_op_create(&ops[0], ZK_OP_CREATE, "/m1", 0);
	multi_op_create(&ops[1], ZK_OP_CREATE2, "/m2", 0);
	multi_op_create(&ops[2], ZK_OP_CREATE, "/m3", ZK_CREATE_CONTAINER);
	ops[3] = (struct proto_multi_op){ .type = ZK_OP_SETDATA,
					  .set_data = { fake_buf("/m1"), fake_buf("xyz"), -1 } };
	ops[4] = (struct proto_multi_op){ .type = ZK_OP_CHECK,
					  .path_version = { fake_buf("/m1"), 1 } };
	ops[5] = (struct proto_multi_op){ .type = ZK_OP_DELETE,
					  .path_version = { fake_buf("/m2"), -1 } };
	r.multi.items = ops;
	r.multi.count = 6;
	fake_send(c, &r);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	proto_result_iter(&it, &rr.body.multi);
	/*
	 * MultiOperationRecord turns every create op into Op.create(flags):
	 * a create2 op is a create (CreateResult(path), typed create); a
	 * container's CreateResult(path, stat) is typed create2.
	 */
	static const int32_t want[] = { ZK_OP_CREATE, ZK_OP_CREATE, ZK_OP_CREATE2, ZK_OP_SETDATA,
					ZK_OP_CHECK, ZK_OP_DELETE };
	for (int i = 0; i < 6; i++) {
		cr_assert(proto_result_next(&it, &res));
		cr_assert_eq(res.type, want[i], "op %d: type %d", i, res.type);
		cr_assert_eq(res.err, 0);
	}
	cr_assert(!proto_result_next(&it, &res));
	/* check the bodies of a second decode */
	proto_result_iter(&it, &rr.body.multi);
	proto_result_next(&it, &res);
	cr_assert(jute_buf_eq(res.path, "/m1"));
	proto_result_next(&it, &res);
	cr_assert(jute_buf_eq(res.path, "/m2"));
	proto_result_next(&it, &res);
	cr_assert(jute_buf_eq(res.path_stat.path, "/m3"));
	cr_assert_eq(res.path_stat.stat.ephemeral_owner, 0);
	proto_result_next(&it, &res);
	cr_assert_eq(res.stat.version, 1);
	cr_assert_eq(res.stat.data_length, 3);
}

Test(dp_session, failed_multi_has_header_ok_and_error_results)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct proto_multi_op ops[3];
	struct proto_request r = fake_req(1, ZK_OP_MULTI);
	struct proto_multi_result res;
	struct proto_iter it;

	multi_op_create(&ops[0], ZK_OP_CREATE, "/ok", 0);
	ops[1] = (struct proto_multi_op){ .type = ZK_OP_DELETE,
					  .path_version = { fake_buf("/missing"), -1 } };
	multi_op_create(&ops[2], ZK_OP_CREATE, "/after", 0);
	r.multi.items = ops;
	r.multi.count = 3;
	fake_send(c, &r);
	send_path_watch(c, 2, ZK_OP_EXISTS, "/ok", false);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	proto_result_iter(&it, &rr.body.multi);
	static const int32_t errs[] = { ZK_OK, ZK_NONODE, ZK_RUNTIMEINCONSISTENCY };
	for (int i = 0; i < 3; i++) {
		cr_assert(proto_result_next(&it, &res));
		cr_assert_eq(res.type, ZK_OP_ERROR);
		cr_assert_eq(res.error, errs[i], "op %d: %d", i, res.error);
		cr_assert_eq(res.err, errs[i]);
	}
	EXPECT_REPLY(c, 2, ZK_NONODE);
}

Test(dp_session, sync_answers_with_its_path)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct repl_in m;

	send_path(c, 1, ZK_OP_SYNC, "/whatever/path");
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_SYNC);
	cr_assert(ring_push(&fw.r.in, &m));
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.path, "/whatever/path"));
}

Test(dp_session, close_session_replies_then_closes)
{
	int64_t sid;
	struct dp_conn *c = fake_session("127.0.0.1", &sid);
	struct proto_request r = fake_req(1, ZK_OP_CLOSESESSION);
	struct repl_in m;

	send_create(c, 9, ZK_OP_CREATE, "/eph", "", ZK_CREATE_EPHEMERAL, NULL);
	fake_send(c, &r);
	settle();
	EXPECT_REPLY(c, 9, ZK_OK);
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(!rr.has_body);
	cr_assert(c->closing);
	cr_assert_null(tree_lookup(fw.r.tree, "/eph", 4), "ephemeral gone with the session");
	fake_conn_gone(c);
	cr_assert(!pop_in(&m), "no GONE after closeSession");
}

/* ---- sessions ---- */

Test(dp_session, expire_closes_without_a_word)
{
	int64_t sid;
	struct dp_conn *c = fake_session("127.0.0.1", &sid);
	struct repl_out m = { .kind = REPL_OUT_EXPIRE, .conn = c->id, .session = sid };
	struct repl_in in;

	cr_assert(ring_push(&fw.r.out, &m));
	fake_poll();
	cr_assert(c->closing);
	EXPECT_NOTHING(c);
	fake_conn_gone(c);
	cr_assert(!pop_in(&in));
}

Test(dp_session, expire_for_another_session_is_ignored)
{
	int64_t sid;
	struct dp_conn *c = fake_session("127.0.0.1", &sid);
	struct repl_out m = { .kind = REPL_OUT_EXPIRE, .conn = c->id, .session = sid + 1 };

	cr_assert(ring_push(&fw.r.out, &m));
	fake_poll();
	cr_assert(!c->closing);
}

Test(dp_session, closed_connection_tells_the_core)
{
	int64_t sid;
	struct dp_conn *c = fake_session("127.0.0.1", &sid);
	struct repl_in m;

	fake_conn_gone(c);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_GONE);
	cr_assert_eq(m.session, sid);
	cr_assert_eq(m.conn, c->id);
}

Test(dp_session, a_reconnect_closed_before_its_answer_tells_the_core)
{
	int64_t sid;
	struct dp_conn *a = fake_session("127.0.0.1", &sid);
	struct dp_conn *b = fake_conn("127.0.0.1", 5001);
	struct repl_in m;
	uint8_t pw[16];

	fake_conn_gone(a);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_GONE);
	fake_passwd(sid, pw);
	fake_send_connect(b, sid, 0, 30000, pw, true);
	fake_conn_gone(b);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_CONNECT);
	repl_in_free(&m);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_GONE);
	cr_assert_eq(m.session, sid);
	cr_assert_eq(m.conn, b->id);
	/* a new session's connection that goes first has nothing to tell */
	struct dp_conn *c = fake_conn("127.0.0.1", 5002);
	fake_send_connect(c, 0, 0, 30000, NULL, true);
	fake_conn_gone(c);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_CONNECT);
	repl_in_free(&m);
	cr_assert(!pop_in(&m));
}

Test(dp_session, result_for_a_gone_connection_is_dropped)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);

	send_create(c, 1, ZK_OP_CREATE, "/x", "", 0, NULL);
	fake_conn_gone(c);
	settle(); /* the result finds no connection; nothing leaks */
	cr_assert_not_null(tree_lookup(fw.r.tree, "/x", 2));
}

Test(dp_session, touches_at_most_every_third_of_the_timeout)
{
	int64_t sid;
	struct dp_conn *c = fake_session("127.0.0.1", &sid);
	struct proto_request ping = fake_req(ZK_XID_PING, ZK_OP_PING);
	struct dp_sess *s = c->user;
	struct repl_in m;
	uint64_t t0 = s->last_touch_ns;

	/* no traffic: no touch */
	dp_proto_tick(fw.w.proto, t0 + 20000000000ull / 2);
	cr_assert(!pop_in(&m));
	fake_send(c, &ping);
	EXPECT_REPLY(c, ZK_XID_PING, ZK_OK);
	/* traffic, but within timeout/3 (10 s) of the handshake */
	dp_proto_tick(fw.w.proto, t0 + 5000000000ull);
	cr_assert(!pop_in(&m));
	dp_proto_tick(fw.w.proto, t0 + 10000000001ull);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_TOUCH);
	cr_assert_eq(m.session, sid);
	dp_proto_tick(fw.w.proto, t0 + 15000000000ull);
	cr_assert(!pop_in(&m), "once per traffic period");
}

Test(dp_session, idle_connection_expires)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct dp_conn *nosess = fake_conn("127.0.0.1", 6000);
	struct dp_sess *s = c->user;
	uint64_t t0 = s->last_io_ns;

	dp_proto_tick(fw.w.proto, t0 + 9000000000ull);
	cr_assert(!c->closing);
	cr_assert(!nosess->closing);
	dp_proto_tick(fw.w.proto, ((struct dp_sess *)nosess->user)->last_io_ns + 10001000000ull);
	cr_assert(nosess->closing, "sessionless connections go after 10 s");
	dp_proto_tick(fw.w.proto, t0 + 30001000000ull);
	cr_assert(c->closing, "a session's connection after its timeout");
}

/* ---- bad input ---- */

Test(dp_session, unknown_opcode_is_unimplemented_then_close)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	uint8_t frame[8] = { 0, 0, 0, 5, 0, 0, 0, 99 };
	struct proto_reply rep;
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(fake_frame(c, frame, sizeof(frame)), 0);
	cr_assert(fake_next(c, &p, &len));
	cr_assert_eq(proto_decode_reply(p, len, 99, &rep), -EOPNOTSUPP);
	cr_assert_eq(rep.hdr.xid, 5);
	cr_assert_eq(rep.hdr.err, ZK_UNIMPLEMENTED);
	cr_assert_eq(rep.hdr.zxid, -1);
	cr_assert_eq(len, PROTO_REPLY_HDR_SIZE);
	cr_assert(c->closing);
}

Test(dp_session, standalone_check_is_unimplemented)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct proto_request r = fake_req(3, ZK_OP_CHECK);

	r.path_version.path = fake_buf("/");
	r.path_version.version = -1;
	fake_send(c, &r);
	EXPECT_REPLY(c, 3, ZK_UNIMPLEMENTED);
	cr_assert(c->closing);
}

Test(dp_session, malformed_request_closes)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	/* getData whose path length runs past the frame */
	uint8_t frame[] = { 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 50, '/', 'a' };
	struct repl_in m;

	cr_assert_lt(fake_frame(c, frame, sizeof(frame)), 0);
	EXPECT_NOTHING(c);
	/* nothing else is affected */
	struct dp_conn *d = fake_session("127.0.0.1", NULL);
	send_path_watch(d, 1, ZK_OP_EXISTS, "/", false);
	EXPECT_REPLY(d, 1, ZK_OK);
	while (pop_in(&m))
		repl_in_free(&m);
}

/* ---- watches and writes ---- */

Test(dp_session, event_reaches_watcher_before_any_reply_revealing_it)
{
	struct dp_conn *a = fake_session("127.0.0.1", NULL);
	struct dp_conn *b = fake_session("127.0.0.2", NULL);

	send_create(a, 1, ZK_OP_CREATE, "/w", "v0", 0, NULL);
	settle();
	EXPECT_REPLY(a, 1, ZK_OK);
	send_path_watch(a, 2, ZK_OP_GETDATA, "/w", true);
	EXPECT_REPLY(a, 2, ZK_OK);
	/* a's own write: the event comes before the write's result */
	send_set_data(a, 3, "/w", "v1", -1);
	settle();
	EXPECT_EVENT(a, ZK_EVENT_NODE_DATA_CHANGED, "/w", tree_last_zxid(fw.r.tree));
	EXPECT_REPLY(a, 3, ZK_OK);
	/* b's write, a's new watch */
	send_path_watch(a, 4, ZK_OP_GETDATA, "/w", true);
	EXPECT_REPLY(a, 4, ZK_OK);
	send_set_data(b, 1, "/w", "v2", -1);
	settle();
	EXPECT_REPLY(b, 1, ZK_OK);
	EXPECT_EVENT(a, ZK_EVENT_NODE_DATA_CHANGED, "/w", rr.hdr.zxid);
	EXPECT_NOTHING(a);
	/* one-shot: no more */
	send_set_data(b, 2, "/w", "v3", -1);
	settle();
	EXPECT_REPLY(b, 2, ZK_OK);
	EXPECT_NOTHING(a);
}

/*
 * From FANOUT_SHARED_MIN (64) recipients on, an event is written from
 * the one encoded copy (dp_sess_send_shared, dp_conn_send_now) instead
 * of a copy per output queue.  The rules stay: each watcher once, the
 * writer's event before the reply that reveals it, READ ACL filtering
 * (the watches of those who may not read are consumed all the same).
 */
Test(dp_session, large_fan_out_keeps_the_event_rules)
{
	enum { N = 80 };
	struct dp_conn *c[N];
	struct test_acl acl;
	int64_t z;

	for (int i = 0; i < N; i++)
		c[i] = fake_session("127.0.0.1", NULL);
	send_auth(c[0], "digest", "bob:secret");
	EXPECT_REPLY(c[0], ZK_XID_AUTH, ZK_OK);
	send_auth(c[1], "digest", "bob:secret");
	EXPECT_REPLY(c[1], ZK_XID_AUTH, ZK_OK);
	/* Created readable by bob only: c[0] and c[1] get NodeCreated, the others do not. */
	for (int i = 0; i < N; i++) {
		send_path_watch(c[i], 1, ZK_OP_EXISTS, "/w", true);
		EXPECT_REPLY(c[i], 1, ZK_NONODE);
	}
	send_create(c[0], 2, ZK_OP_CREATE, "/w", "v0", 0,
		    acl_one(&acl, ZK_PERM_ALL, "digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="));
	settle();
	z = tree_last_zxid(fw.r.tree);
	EXPECT_EVENT(c[0], ZK_EVENT_NODE_CREATED, "/w", z);
	EXPECT_REPLY(c[0], 2, ZK_OK);
	EXPECT_NOTHING(c[0]);
	EXPECT_EVENT(c[1], ZK_EVENT_NODE_CREATED, "/w", z);
	EXPECT_NOTHING(c[1]);
	for (int i = 2; i < N; i++)
		EXPECT_NOTHING(c[i]);

	/* A world-readable node: every watcher, the writer's event before its reply. */
	send_create(c[0], 4, ZK_OP_CREATE, "/v", "v0", 0, NULL);
	settle();
	EXPECT_REPLY(c[0], 4, ZK_OK);
	for (int i = 0; i < N; i++) {
		send_path_watch(c[i], 5, ZK_OP_GETDATA, "/v", true);
		EXPECT_REPLY(c[i], 5, ZK_OK);
	}
	send_set_data(c[1], 6, "/v", "v1", -1);
	settle();
	z = tree_last_zxid(fw.r.tree);
	EXPECT_EVENT(c[1], ZK_EVENT_NODE_DATA_CHANGED, "/v", z);
	EXPECT_REPLY(c[1], 6, ZK_OK);
	for (int i = 0; i < N; i++) {
		if (i != 1)
			EXPECT_EVENT(c[i], ZK_EVENT_NODE_DATA_CHANGED, "/v", z);
		EXPECT_NOTHING(c[i]);
	}
}

Test(dp_session, events_are_filtered_by_read_acl)
{
	struct dp_conn *a = fake_session("127.0.0.1", NULL);
	struct dp_conn *b = fake_session("127.0.0.1", NULL);
	struct test_acl acl;

	send_auth(b, "digest", "bob:secret");
	EXPECT_REPLY(b, ZK_XID_AUTH, ZK_OK);
	send_path_watch(a, 1, ZK_OP_EXISTS, "/secret", true);
	EXPECT_REPLY(a, 1, ZK_NONODE);
	send_path_watch(b, 1, ZK_OP_EXISTS, "/secret", true);
	EXPECT_REPLY(b, 1, ZK_NONODE);
	send_create(b, 2, ZK_OP_CREATE, "/secret", "",  0,
		    acl_one(&acl, ZK_PERM_ALL, "digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="));
	settle();
	EXPECT_EVENT(b, ZK_EVENT_NODE_CREATED, "/secret", tree_last_zxid(fw.r.tree));
	EXPECT_REPLY(b, 2, ZK_OK);
	EXPECT_NOTHING(a);
	/* a's watch was consumed all the same (ZooKeeper removes it before filtering) */
	cr_assert_eq(dp_watch_bits(fw.w.proto->watch, ((struct dp_sess *)a->user)->widx, "/secret",
				   7),
		     0);
}

/* ---- auth ---- */

Test(dp_session, digest_auth_adds_identity)
{
	struct dp_conn *c = fake_session("10.1.2.3", NULL);
	struct proto_request who = fake_req(5, ZK_OP_WHOAMI);
	struct proto_client_info ci;
	struct proto_iter it;

	send_auth(c, "digest", "bob:secret");
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, 0);
	send_auth(c, "digest", "bob:secret"); /* a set: no duplicate */
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	fake_send(c, &who);
	EXPECT_REPLY(c, 5, ZK_OK);
	cr_assert_eq(rr.body.client_info.count, 2);
	/*
	 * ServerCnxn.authInfo's order: a ConcurrentHashMap set of jute Ids.
	 * JDK 17 iterates {ip:10.1.2.3, digest:bob:fyVm...} as digest first
	 * (a 20-line Java program adding both to
	 * Collections.newSetFromMap(new ConcurrentHashMap<>()) printed it).
	 */
	proto_client_info_iter(&it, &rr.body.client_info);
	cr_assert(proto_client_info_next(&it, &ci));
	cr_assert(jute_buf_eq(ci.auth_scheme, "digest"));
	cr_assert(jute_buf_eq(ci.user, "bob"));
	cr_assert(proto_client_info_next(&it, &ci));
	cr_assert(jute_buf_eq(ci.auth_scheme, "ip"));
	cr_assert(jute_buf_eq(ci.user, "10.1.2.3"));
	struct dp_sess *s = c->user;
	cr_assert(jute_buf_eq(s->auth[0].id, "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="));
}

Test(dp_session, digest_of_invalid_utf8_is_javas)
{
	char out[128];
	size_t n = dp_digest_id((const uint8_t *)"b\xff" "ob:x", 6, out);

	cr_assert_eq(n, strlen("b\xef\xbf\xbd" "ob:X3D00UQ/9oNGu5XUKw317FaoWKk="));
	cr_assert(!memcmp(out, "b\xef\xbf\xbd" "ob:X3D00UQ/9oNGu5XUKw317FaoWKk=", n));
	n = dp_digest_id((const uint8_t *)"alice:pw", 8, out);
	cr_assert(!memcmp(out, "alice:V55/p2T0OpjQ+low3NVAH4aLvm0=", n));
}

Test(dp_session, super_digest_bypasses_acls)
{
	struct dp_conn *owner = fake_session("127.0.0.1", NULL);
	struct dp_conn *c;
	struct test_acl acl;

	fw.extras[0] = (struct cfg_extra){ "DigestAuthenticationProvider.superDigest",
					   "super:D/InIHSb7yEEbrWz8b9l71RjZJU=", true };
	fw.cfg.n_extras = 1;
	fw.w.proto->super_digest =
		cfg_extra_get(&fw.cfg, "zookeeper.DigestAuthenticationProvider.superDigest");
	cr_assert_not_null(fw.w.proto->super_digest);
	send_create(owner, 1, ZK_OP_CREATE, "/locked", "s", 0,
		    acl_one(&acl, ZK_PERM_ALL, "digest", "nobody:x"));
	settle();
	EXPECT_REPLY(owner, 1, ZK_OK);
	c = fake_session("127.0.0.1", NULL);
	send_path_watch(c, 1, ZK_OP_GETDATA, "/locked", false);
	EXPECT_REPLY(c, 1, ZK_NOAUTH);
	send_auth(c, "digest", "super:test");
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/locked", false);
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "s"));
	send_set_data(c, 3, "/locked", "t", -1);
	settle();
	EXPECT_REPLY(c, 3, ZK_OK);
}

Test(dp_session, ip_auth_and_unknown_scheme)
{
	struct dp_conn *c = fake_session("::1", NULL);
	struct dp_sess *s = c->user;

	cr_assert(jute_buf_eq(s->auth[0].id, "0:0:0:0:0:0:0:1"), "Java's getHostAddress form");
	send_auth(c, "ip", "whatever");
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	cr_assert_eq(s->nauth, 1);
	send_auth(c, "kerberos", "x");
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_AUTHFAILED);
	cr_assert(!rr.has_body);
	cr_assert(c->closing);
}

Test(dp_session, requests_before_auth_keep_the_old_identity)
{
	struct dp_conn *owner = fake_session("127.0.0.1", NULL);
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct test_acl acl;

	send_create(owner, 1, ZK_OP_CREATE, "/bobs", "b", 0,
		    acl_one(&acl, ZK_PERM_ALL, "digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="));
	settle();
	/* a write ahead, then a read and the auth queued behind it */
	send_create(c, 1, ZK_OP_CREATE, "/other", "", 0, NULL);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/bobs", false);
	send_auth(c, "digest", "bob:secret");
	send_path_watch(c, 3, ZK_OP_GETDATA, "/bobs", false);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	EXPECT_REPLY(c, 2, ZK_NOAUTH);
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	EXPECT_REPLY(c, 3, ZK_OK);
}

/* whoAmI's identities as "scheme:user" strings, in reply order. */
static uint32_t who_am_i(struct dp_conn *c, int32_t xid, char out[][48])
{
	struct proto_request who = fake_req(xid, ZK_OP_WHOAMI);
	struct proto_client_info ci;
	struct proto_iter it;
	uint32_t n = 0;

	fake_send(c, &who);
	EXPECT_REPLY(c, xid, ZK_OK);
	proto_client_info_iter(&it, &rr.body.client_info);
	while (proto_client_info_next(&it, &ci)) {
		cr_assert_lt(n, TREE_AUTH_MAX_IDS);
		snprintf(out[n++], 48, "%.*s:%.*s", ci.auth_scheme.len, ci.auth_scheme.p,
			 ci.user.len, ci.user.p);
	}
	cr_assert_eq((int32_t)n, rr.body.client_info.count);
	return n;
}

/*
 * Issue 8: 20,000 addAuth on one session took 35 s (each add scanned the
 * set and re-sorted it).  A session holds at most TREE_AUTH_MAX_IDS
 * identities: the add beyond is AUTHFAILED and closes the connection, as
 * ZooKeeper closes it after AUTHFAILED; re-adding a held identity is
 * still OK (a set).  100,000 adds pipelined on one connection therefore
 * leave at most TREE_AUTH_MAX_IDS identities (before the fix: 100,000,
 * after about 10^10 hash computations).
 */
Test(dp_session, identities_are_bounded_and_the_add_beyond_is_authfailed)
{
	struct dp_conn *c = fake_session("10.0.0.1", NULL);
	struct dp_sess *s = c->user;
	char cred[32];
	uint32_t i;

	for (i = 1; i < TREE_AUTH_MAX_IDS; i++) { /* the ip identity is the first */
		snprintf(cred, sizeof(cred), "user%u:pw", i);
		send_auth(c, "digest", cred);
		EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	}
	cr_assert_eq(s->nauth, TREE_AUTH_MAX_IDS);
	send_auth(c, "digest", "user1:pw"); /* held already */
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	send_auth(c, "ip", "x"); /* held already */
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	cr_assert(!c->closing);
	for (; i < 100000 && !c->closing; i++) {
		snprintf(cred, sizeof(cred), "user%u:pw", i);
		send_auth(c, "digest", cred);
	}
	cr_assert_eq(i, TREE_AUTH_MAX_IDS + 1, "the first add beyond the bound closes");
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_AUTHFAILED);
	cr_assert(!rr.has_body);
	cr_assert_eq(s->nauth, TREE_AUTH_MAX_IDS);
}

/* Identities also may not exceed jute.maxbuffer bytes in all. */
Test(dp_session, identity_bytes_are_bounded_by_jute_maxbuffer)
{
	struct dp_conn *c = fake_session("10.0.0.1", NULL);
	struct dp_sess *s = c->user;
	char *cred = malloc(3000);

	cr_assert_not_null(cred);
	fw.w.proto->max_frame = 4096;
	memset(cred, 'u', 2999);
	cred[2999] = '\0';
	cred[0] = 'a';
	cred[1990] = ':';
	send_auth(c, "digest", cred); /* 1990 + 29 bytes */
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	cred[0] = 'b';
	send_auth(c, "digest", cred);
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_OK);
	cr_assert_leq(s->auth_bytes, 4096);
	cred[0] = 'c';
	send_auth(c, "digest", cred);
	EXPECT_REPLY(c, ZK_XID_AUTH, ZK_AUTHFAILED);
	cr_assert(c->closing);
	cr_assert_eq(s->nauth, 3);
	free(cred);
}

/*
 * The order is computed only when asked for; asked after every add or
 * once at the end, whoAmI lists the same order (ConcurrentHashMap's bins;
 * see auth_order in session/ident.c), and writes carry that order to the
 * core.  Then the ACL of a node made with an "auth" entry lists the ids in
 * it.
 */
Test(dp_session, identity_order_is_the_same_computed_late_or_early)
{
	struct dp_conn *early = fake_session("10.0.0.1", NULL);
	struct dp_conn *late = fake_session("10.0.0.1", NULL);
	static char a[TREE_AUTH_MAX_IDS][48], b[TREE_AUTH_MAX_IDS][48];
	struct test_acl acl;
	char cred[32];
	uint32_t n = 0;

	for (uint32_t i = 0; i < 40; i++) {
		snprintf(cred, sizeof(cred), "u%u:p", i * 7919);
		send_auth(early, "digest", cred);
		EXPECT_REPLY(early, ZK_XID_AUTH, ZK_OK);
		n = who_am_i(early, 100 + (int32_t)i, a);
		cr_assert_eq(n, i + 2);
		send_auth(late, "digest", cred);
		EXPECT_REPLY(late, ZK_XID_AUTH, ZK_OK);
	}
	cr_assert_eq(who_am_i(late, 1, b), n);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_str_eq(a[i], b[i], "position %u", i);
	/* the order differs from insertion order (else this proves little) */
	cr_assert(strcmp(a[0], "ip:10.0.0.1") || strcmp(a[1], "digest:u0"));

	/* a create with an "auth" ACL expands to the digest ids, in that order */
	send_create(late, 2, ZK_OP_CREATE, "/mine", "", 0,
		    acl_one(&acl, ZK_PERM_ALL, "auth", ""));
	settle();
	EXPECT_REPLY(late, 2, ZK_OK);
	send_path(late, 3, ZK_OP_GETACL, "/mine");
	EXPECT_REPLY(late, 3, ZK_OK);
	{
		struct jute_acl_iter it;
		struct jute_acl e;
		uint32_t k = 0;

		cr_assert_eq(rr.body.acl_stat.acl.count, 40);
		jute_acl_iter_init(&it, &rr.body.acl_stat.acl);
		for (uint32_t i = 0; i < n; i++) {
			if (strncmp(b[i], "digest:", 7))
				continue;
			cr_assert(jute_acl_next(&it, &e));
			size_t ul = strlen(b[i] + 7);
			cr_assert(e.id.len > (int32_t)ul && !memcmp(e.id.p, b[i] + 7, ul) &&
					  e.id.p[ul] == ':',
				  "ACL entry %u is %.*s, whoAmI has %s", k, e.id.len, e.id.p, b[i]);
			k++;
		}
		cr_assert_eq(k, 40);
	}
	/*
	 * The core checks a write's ACL with the index the write carries:
	 * the creator may write /mine (its 40 digest ids), a session with
	 * only one of them may too, a session with none may not.
	 */
	struct dp_conn *one = fake_session("10.0.0.2", NULL);
	struct dp_conn *none = fake_session("10.0.0.3", NULL);
	send_set_data(late, 4, "/mine", "a", -1);
	send_auth(one, "digest", "u" "308841" ":p"); /* i = 39: 39 * 7919 */
	EXPECT_REPLY(one, ZK_XID_AUTH, ZK_OK);
	send_set_data(one, 1, "/mine", "b", -1);
	send_set_data(none, 1, "/mine", "c", -1);
	settle();
	EXPECT_REPLY(late, 4, ZK_OK);
	EXPECT_REPLY(one, 1, ZK_OK);
	EXPECT_REPLY(none, 1, ZK_NOAUTH);
	{
		/* what the dataplane hands the core carries the session's index */
		struct repl_in m;
		send_set_data(late, 5, "/mine", "d", -1);
		cr_assert(pop_in(&m));
		cr_assert_eq(m.kind, REPL_IN_WRITE);
		struct repl_write *w = m.body;
		cr_assert_eq(w->nauth, 41);
		cr_assert_geq(w->slots.len, 0);
		cr_assert_eq(w->slots.len, 2 * TREE_AUTH_MAX_IDS);
		repl_in_free(&m);
	}
}

Test(dp_session, sasl_without_sasl_server)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);
	struct proto_request r = fake_req(7, ZK_OP_SASL);

	r.sasl_token = fake_buf("");
	fake_send(c, &r);
	EXPECT_REPLY(c, 7, ZK_OK);
	cr_assert_eq(rr.hdr.zxid, 0);
	cr_assert(rr.has_body);
	cr_assert_eq(rr.body.sasl_token.len, -1, "null token");
	cr_assert(!c->closing);
}

/* ---- statistics and listings ---- */

Test(dp_session, stats_and_listings)
{
	int64_t sid;
	struct dp_conn *c = fake_session("127.0.0.1", &sid);
	struct dp_proto_stats st;
	struct jute_out o;
	char want[128];

	send_path_watch(c, 1, ZK_OP_EXISTS, "/x", true);
	EXPECT_REPLY(c, 1, ZK_NONODE);
	send_path_watch(c, 2, ZK_OP_GETCHILDREN, "/", true);
	EXPECT_REPLY(c, 2, ZK_OK);
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.connections, 1);
	cr_assert_eq(st.sessions, 1);
	cr_assert_eq(st.watches, 2);
	cr_assert_eq(st.watched_paths, 1);
	cr_assert_eq(st.packets_received, 3);
	cr_assert_eq(st.packets_sent, 3);
	cr_assert_eq(st.latency_count, 2);
	cr_assert_eq(st.outstanding, 0);

	jute_out_init(&o, 0);
	dp_proto_describe(fw.w.proto, CFG_4LW_WCHS, &o);
	jute_put_raw(&o, "", 1);
	cr_assert_str_eq((char *)o.buf, "1 connections watching 1 paths\nTotal watches:1");
	o.len = 0;
	dp_proto_describe(fw.w.proto, CFG_4LW_WCHC, &o);
	jute_put_raw(&o, "", 1);
	snprintf(want, sizeof(want), "0x%" PRIx64 "\n\t/x\n", (uint64_t)sid);
	cr_assert_str_eq((char *)o.buf, want);
	o.len = 0;
	dp_proto_describe(fw.w.proto, CFG_4LW_STAT, &o);
	jute_put_raw(&o, "", 1);
	snprintf(want, sizeof(want), " /%s[1](queued=0,recved=3,sent=3)\n", c->peer);
	cr_assert_str_eq((char *)o.buf, want);
	o.len = 0;
	dp_proto_describe(fw.w.proto, CFG_4LW_CONS, &o);
	jute_put_raw(&o, "", 1);
	snprintf(want, sizeof(want), " /%s[1](queued=0,recved=3,sent=3,sid=0x%" PRIx64 ",lop=GETC,",
		 c->peer, (uint64_t)sid);
	cr_assert(!strncmp((char *)o.buf, want, strlen(want)), "%s", (char *)o.buf);
	cr_assert_not_null(strstr((char *)o.buf, ",lcxid=0x2,lzxid=0x"));
	cr_assert_not_null(strstr((char *)o.buf, ",to=30000,"));
	o.len = 0;
	dp_proto_describe(fw.w.proto, CFG_4LW_CRST, &o);
	cr_assert_eq(o.len, 0);
	dp_proto_describe(fw.w.proto, CFG_4LW_STAT, &o);
	jute_put_raw(&o, "", 1);
	snprintf(want, sizeof(want), " /%s[1](queued=0,recved=0,sent=0)\n", c->peer);
	cr_assert_str_eq((char *)o.buf, want);
	jute_out_free(&o);

	fake_conn_gone(c);
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.connections, 0);
	cr_assert_eq(st.sessions, 0);
	cr_assert_eq(st.watches, 0);
}

/* ---- dump ---- */

Test(dp_session, dump_asks_the_core_and_hands_its_answer_over)
{
	struct dp_conn *c = fake_conn("127.0.0.1", 5000);
	struct repl_in m;

	cr_assert_eq(dp_proto_ask_sessions(fw.w.proto, c->id, fake_sessions_done), 0);
	cr_assert(pop_in(&m));
	cr_assert_eq(m.kind, REPL_IN_SESSIONS);
	cr_assert_eq(m.conn, c->id);
	cr_assert(ring_push(&fw.r.in, &m));
	settle();
	cr_assert_eq(fw.sessions_calls, 1);
	cr_assert_eq(fw.sessions_conn, c->id);
	cr_assert_not_null(fw.sessions);
	cr_assert_eq(fw.sessions->nsets, 1);
	cr_assert_eq(repl_sessions_ids(fw.sessions)[0], 0x42);
}

/*
 * DataTree.dumpEphemerals: sessions in ConcurrentHashMap bin order,
 * paths in HashSet bin order (the fake core's ids are 0x1000000000000 +
 * zxid: Long.hashCode's bins put 0x1000000000003 before 0x1000000000002);
 * a session whose ephemerals were all deleted is still listed, one that
 * never had any or that closed is not.
 */
Test(dp_session, ephemerals_dump_in_zookeeper_order)
{
	int64_t a, b, none, closed;
	struct dp_conn *cn = fake_session("127.0.0.1", &none);
	struct dp_conn *cb = fake_session("127.0.0.1", &b);
	struct dp_conn *ca = fake_session("127.0.0.1", &a);
	struct dp_conn *cc = fake_session("127.0.0.1", &closed);
	struct proto_request close = fake_req(30, ZK_OP_CLOSESESSION);
	static const char *const paths[] = { "/b", "/a", "/c", "/eph1", "/eph2" };
	struct jute_out o;
	char want[512];

	(void)cn;
	cr_assert_eq(b, 0x1000000000002);
	cr_assert_eq(a, 0x1000000000003);
	for (int i = 0; i < 5; i++) {
		send_create(ca, i + 1, ZK_OP_CREATE, paths[i], "", ZK_CREATE_EPHEMERAL, NULL);
		settle();
		EXPECT_REPLY(ca, i + 1, ZK_OK);
	}
	send_create(cb, 20, ZK_OP_CREATE, "/gone", "", ZK_CREATE_EPHEMERAL, NULL);
	send_delete(cb, 21, "/gone", -1);
	settle();
	EXPECT_REPLY(cb, 20, ZK_OK);
	EXPECT_REPLY(cb, 21, ZK_OK);
	send_create(cc, 29, ZK_OP_CREATE, "/closed", "", ZK_CREATE_EPHEMERAL, NULL);
	fake_send(cc, &close);
	settle();

	jute_out_init(&o, 0);
	dp_proto_ephemerals(fw.w.proto, &o);
	jute_put_raw(&o, "", 1);
	snprintf(want, sizeof(want),
		 "Sessions with Ephemerals (2):\n0x%" PRIx64 ":\n\t/eph2\n\t/a\n\t/b\n\t/c\n\t/eph1\n"
		 "0x%" PRIx64 ":\n",
		 (uint64_t)a, (uint64_t)b);
	/* bins (16): 0x1000000000003 -> 2, 0x1000000000002 -> 3 */
	cr_assert_str_eq((char *)o.buf, want);
	jute_out_free(&o);

	/*
	 * Streamed (issue 8): one session per part once the budget is
	 * reached, the same text; the walk keeps ids only, so an ephemeral
	 * created between two parts shows in a session not listed yet.
	 */
	struct dp_eph_walk *e = dp_proto_eph_begin(fw.w.proto);
	int parts = 0;

	cr_assert_not_null(e);
	jute_out_init(&o, 0);
	while (!dp_proto_eph_chunk(fw.w.proto, e, 1, &o)) {
		if (++parts == 1) {
			send_create(cb, 22, ZK_OP_CREATE, "/late", "", ZK_CREATE_EPHEMERAL, NULL);
			settle();
			EXPECT_REPLY(cb, 22, ZK_OK);
		}
	}
	dp_proto_eph_end(e);
	jute_put_raw(&o, "", 1);
	cr_assert_eq(parts, 2, "the header, then one session per part");
	snprintf(want, sizeof(want),
		 "Sessions with Ephemerals (2):\n0x%" PRIx64 ":\n\t/eph2\n\t/a\n\t/b\n\t/c\n\t/eph1\n"
		 "0x%" PRIx64 ":\n\t/late\n",
		 (uint64_t)a, (uint64_t)b);
	cr_assert_str_eq((char *)o.buf, want);
	jute_out_free(&o);
}

Test(dp_session, dump_lines_carry_the_connection_bucket)
{
	int64_t sid;
	struct dp_conn *c = fake_session("127.0.0.1", &sid);
	struct dp_conn *bare = fake_conn("127.0.0.2", 6000);
	long long bucket, b2;
	struct jute_out o;
	char peer[64], peer2[64];
	unsigned long long id, id2;
	int64_t now = (int64_t)(clock_mono_ns() / 1000000);

	jute_out_init(&o, 0);
	dp_proto_describe(fw.w.proto, CFG_4LW_DUMP, &o);
	jute_put_raw(&o, "", 1);
	/* In slot order; sessionless: 10 s, with a session: its 30 s timeout. */
	cr_assert_eq(sscanf((char *)o.buf, "%lld\tip: /%63s sessionId: 0x%llx\n%lld\tip: /%63s "
					   "sessionId: 0x%llx\n",
			    &bucket, peer, &id, &b2, peer2, &id2),
		     6, "%s", (char *)o.buf);
	cr_assert_str_eq(peer2, bare->peer);
	cr_assert_eq(id2, 0);
	cr_assert_eq(b2 % 10000, 0);
	cr_assert(b2 > now + 10000 - 1000 && b2 <= now + 20000, "%lld vs %lld", b2, (long long)now);
	cr_assert_str_eq(peer, c->peer);
	cr_assert_eq(id, (unsigned long long)sid);
	cr_assert_eq(bucket % 10000, 0);
	cr_assert(bucket > now + 30000 - 1000 && bucket <= now + 40000);
	jute_out_free(&o);
}

/*
 * Issue 8, item 6: the worker's scratch space grows to the largest reply
 * and goes back to the allocator at the next tick, so one big read does
 * not pin its size for the worker's lifetime.  Reads work after it.
 */
Test(dp_session, scratch_space_goes_back_at_the_tick)
{
	static char big[300001];
	struct dp_conn *c = fake_session("127.0.0.1", NULL);

	memset(big, 'x', sizeof(big) - 1);
	fake_apply_create("/big", big, true);
	fake_poll();
	send_path_watch(c, 1, ZK_OP_GETDATA, "/big", false);
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_eq(rr.body.data_stat.data.len, sizeof(big) - 1);
	cr_assert_geq(fw.w.proto->scratch.cap, sizeof(big) - 1);
	dp_proto_tick(fw.w.proto, clock_mono_ns());
	cr_assert_eq(fw.w.proto->scratch.cap, 0, "scratch of %zu bytes kept",
		     fw.w.proto->scratch.cap);
	send_path_watch(c, 2, ZK_OP_GETDATA, "/big", false);
	EXPECT_REPLY(c, 2, ZK_OK);
	cr_assert_eq(rr.body.data_stat.data.len, sizeof(big) - 1);
}

/*
 * Issue 8: a connection closing with many watches used to free them all
 * in dp_proto_closed, one stall for every connection of the worker.  Now
 * the close detaches them (no event reaches them any more) and each
 * dp_proto_poll, once per loop iteration, frees at most
 * DP_WATCH_RECLAIM_SLICE of them while the worker keeps serving others.
 */
Test(dp_session, close_frees_many_watches_in_slices_per_poll)
{
	enum { N = 5 * DP_WATCH_RECLAIM_SLICE + 123 };
	static char names[N][16];
	static struct jute_buf items[N];
	struct dp_conn *big = fake_session("127.0.0.1", NULL);
	struct dp_conn *other = fake_session("127.0.0.2", NULL);
	struct proto_request r = fake_req(ZK_XID_SET_WATCHES, ZK_OP_SETWATCHES);
	struct dp_watch *wm = fw.w.proto->watch;
	struct dp_watch_counts wc;
	uint64_t prev, left;
	uint32_t polls = 0;
	int64_t z;

	for (uint32_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "/c/w%06u", i);
		items[i] = fake_buf(names[i]);
	}
	r.set_watches.relative_zxid = tree_last_zxid(fw.r.tree);
	r.set_watches.exist.items = items;
	r.set_watches.exist.count = N;
	cr_assert_eq(fake_send(big, &r), 0);
	settle();
	EXPECT_REPLY(big, ZK_XID_SET_WATCHES, ZK_OK);
	send_path_watch(other, 1, ZK_OP_EXISTS, "/c", true);
	settle();
	EXPECT_REPLY(other, 1, ZK_NONODE);
	dp_watch_counts(wm, &wc);
	cr_assert_eq(wc.entries, N + 1);

	fake_conn_gone(big);
	cr_assert_eq(dp_watch_detached(wm), N, "freed in one go at the close");
	cr_assert(dp_proto_has_work(fw.w.proto));
	/* the worker goes on serving: an event for the other connection comes at once */
	z = fake_apply_create("/c", "", true);
	prev = dp_watch_detached(wm);
	fake_poll();
	polls++;
	EXPECT_EVENT(other, ZK_EVENT_NODE_CREATED, "/c", z);
	left = dp_watch_detached(wm);
	cr_assert_geq(left + DP_WATCH_RECLAIM_SLICE, prev, "%llu -> %llu in one poll",
		      (unsigned long long)prev, (unsigned long long)left);
	while ((prev = left) != 0) {
		cr_assert(dp_proto_has_work(fw.w.proto));
		fake_poll();
		polls++;
		left = dp_watch_detached(wm);
		cr_assert_lt(left, prev);
		cr_assert_geq(left + DP_WATCH_RECLAIM_SLICE, prev);
	}
	cr_assert_geq(polls, N / DP_WATCH_RECLAIM_SLICE);
	cr_assert(!dp_proto_has_work(fw.w.proto));
	dp_watch_counts(wm, &wc);
	cr_assert_eq(wc.entries, 0);
	cr_assert_eq(wc.paths, 0);
}

/* ---- the tree replaced (REPL_OUT_TREE, repl.h) ---- */

/*
 * An ensemble member installed its leader's snapshot: every connection
 * is closed at the message (its watch was set on the old tree, whose
 * events up to the new one were never made), later reads see the new
 * tree, later events reach no old connection, and the worker acknowledges
 * the generation so the core may free the old tree.
 */
Test(dp_session, tree_replaced_closes_every_connection_and_switches_reads)
{
	struct tree_opts opts = { .max_data = ZK_DEFAULT_MAX_BUFFER, .extended_types = true };
	struct dp_conn *a, *b, *c;
	struct tree *old, *t2;
	int64_t sa, sb, sc;

	fake_apply_create("/old", "x", true);
	a = fake_session("10.0.0.1", &sa);
	b = fake_session("10.0.0.2", &sb);
	send_path_watch(a, 1, ZK_OP_GETDATA, "/old", true);
	send_path_watch(b, 1, ZK_OP_EXISTS, "/new", true);
	settle();
	EXPECT_REPLY(a, 1, ZK_OK);
	EXPECT_REPLY(b, 1, ZK_NONODE);

	/* The core's side of repl_install_tree, by hand. */
	old = fw.r.tree;
	t2 = tree_new(&opts);
	cr_assert_not_null(t2);
	tree_prep_free(fw.r.prep);
	fw.r.tree = t2;
	fw.r.prep = tree_prep_new(t2);
	cr_assert_not_null(fw.r.prep);
	struct repl_out m = { .kind = REPL_OUT_TREE, .session = 1, .zxid = fw.r.zxid, .body = t2 };
	cr_assert(ring_push(&fw.r.out, &m));
	fake_poll();
	cr_assert(a->closing && b->closing, "every connection goes");
	EXPECT_NOTHING(a);
	EXPECT_NOTHING(b);
	cr_assert_eq(fw.r.tree_gen, 1, "the switch is acknowledged");
	/* Nothing reads the old tree any more. */
	tree_free(old);

	/* Changes of the new tree reach no old connection; new ones read it. */
	fake_apply_create("/new", "n", true);
	fake_apply_create("/old", "y", true);
	fake_poll();
	EXPECT_NOTHING(a);
	EXPECT_NOTHING(b);
	c = fake_session("10.0.0.3", &sc);
	send_path_watch(c, 1, ZK_OP_GETDATA, "/old", true);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert(jute_buf_eq(rr.body.data_stat.data, "y"), "the new tree's data");
	fake_apply_setdata("/old", "z", true);
	fake_poll();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/old", fw.r.zxid);
	EXPECT_NOTHING(c);
	cr_assert(!c->closing);
}

/*
 * /metrics' response and watch figures (ZooKeeper's clientResponseStats,
 * RESPONSE_BYTES, WATCH_BYTES, NODE_CHANGED_WATCHER,
 * CONNECTION_REVALIDATE_COUNT): frame lengths without the 4-byte prefix;
 * the connect response counts nowhere, as ZooKeeper sends it raw.
 */
Test(dp_session, response_and_watch_figures)
{
	int64_t sid;
	struct dp_conn *c = fake_session("127.0.0.1", &sid);
	struct dp_conn *b = fake_conn("127.0.0.1", 5001);
	struct proto_request ping = fake_req(ZK_XID_PING, ZK_OP_PING);
	struct dp_proto_stats st;
	struct hist fired[4];
	uint64_t create = 16 + 4 + 2, get = 16 + 4 + 2 + 68, set = 16 + 68, ev = 16 + 12 + 2;
	uint8_t pw[16];

	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.response_bytes, 0);
	cr_assert_eq(st.resp_max, 0, "the connect response is not counted");
	cr_assert_eq(st.resp_min, UINT32_MAX);
	fake_send(c, &ping);
	settle();
	EXPECT_REPLY(c, ZK_XID_PING, ZK_OK);
	send_create(c, 1, ZK_OP_CREATE, "/a", "", 0, NULL);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	send_set_data(c, 2, "/a", "a0", -1);
	settle();
	EXPECT_REPLY(c, 2, ZK_OK);
	send_path_watch(c, 3, ZK_OP_GETDATA, "/a", true);
	settle();
	EXPECT_REPLY(c, 3, ZK_OK);
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.response_bytes, 16 + create + set + get, "%llu",
		     (unsigned long long)st.response_bytes);
	cr_assert_eq(st.resp_last, get);
	cr_assert_eq(st.resp_min, 16);
	cr_assert_eq(st.resp_max, get);
	cr_assert_eq(st.watch_bytes, 0);

	/* The watch fires: one event of ev bytes to one watcher. */
	int64_t z = rr.hdr.zxid;

	send_set_data(c, 4, "/a", "a1", -1);
	settle();
	EXPECT_EVENT(c, ZK_EVENT_NODE_DATA_CHANGED, "/a", z + 1);
	EXPECT_REPLY(c, 4, ZK_OK);
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.watch_bytes, ev);
	cr_assert_eq(st.response_bytes, 16 + create + set + get + set);
	cr_assert_eq(st.resp_last, set);
	dp_proto_watch_fired(fw.w.proto, fired);
	cr_assert_eq(fired[ZK_EVENT_NODE_DATA_CHANGED - 1].count, 1);
	cr_assert_eq(fired[ZK_EVENT_NODE_DATA_CHANGED - 1].sum, 1);
	cr_assert_eq(fired[ZK_EVENT_NODE_CREATED - 1].count, 0);
	/* mntr's view (since start or srst): one event, one watcher */
	cr_assert_eq(st.watch_fired[ZK_EVENT_NODE_DATA_CHANGED - 1].cnt, 1);
	cr_assert_eq(st.watch_fired[ZK_EVENT_NODE_DATA_CHANGED - 1].sum, 1);
	cr_assert_eq(st.watch_fired[ZK_EVENT_NODE_DATA_CHANGED - 1].min, 1);
	cr_assert_eq(st.watch_fired[ZK_EVENT_NODE_DATA_CHANGED - 1].max, 1);
	cr_assert_eq(st.watch_fired[ZK_EVENT_NODE_CREATED - 1].cnt, 0);

	/* srst resets the sizes, not the byte counters. */
	dp_proto_describe(fw.w.proto, CFG_4LW_SRST, NULL);
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.resp_max, 0);
	cr_assert_eq(st.resp_min, UINT32_MAX);
	cr_assert_eq(st.watch_bytes, ev);
	/* ... which mntr prints from their values at srst (ServerMetrics.resetAll). */
	cr_assert_eq(st.srst_watch_bytes, ev);
	cr_assert_eq(st.srst_response_bytes, st.response_bytes);
	cr_assert_eq(st.srst_revalidate, 0);
	cr_assert_eq(st.watch_fired[ZK_EVENT_NODE_DATA_CHANGED - 1].cnt, 0);
	cr_assert_eq(st.watch_fired[ZK_EVENT_NODE_DATA_CHANGED - 1].max, 0);
	dp_proto_watch_fired(fw.w.proto, fired); /* /metrics' histogram is not reset */
	cr_assert_eq(fired[ZK_EVENT_NODE_DATA_CHANGED - 1].count, 1);

	/* A reconnect with the session id is a revalidation. */
	cr_assert_eq(st.conn_revalidate, 0);
	fake_conn_gone(c);
	fake_passwd(sid, pw);
	fake_send_connect(b, sid, tree_last_zxid(fw.r.tree), 30000, pw, true);
	settle();
	dp_proto_stats(fw.w.proto, &st);
	cr_assert_eq(st.conn_revalidate, 1);
	cr_assert_eq(st.conn_revalidate - st.srst_revalidate, 1);
}

/* ---- SASL (DIGEST-MD5) with a JAAS file of one user ---- */

static char sasl_dir[64], sasl_jaas[128];

static void sasl_setup(void)
{
	char err[256];
	FILE *fp;

	fake_setup();
	strcpy(sasl_dir, "/tmp/cheetah-test-sasl-XXXXXX");
	cr_assert_not_null(mkdtemp(sasl_dir));
	snprintf(sasl_jaas, sizeof(sasl_jaas), "%s/jaas.conf", sasl_dir);
	fp = fopen(sasl_jaas, "w");
	cr_assert_not_null(fp);
	fprintf(fp, "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
		    "  user_alice=\"wonderland\";\n};\n");
	cr_assert_eq(fclose(fp), 0);
	fw.cfg.jaas_config = sasl_jaas;
	cr_assert_eq(dp_sasl_init(&fw.cfg, err, sizeof(err)), 0, "%s", err);
}

/*
 * Cyrus is left set up (each test is its own process): dp_sasl_fini
 * unloads its plugins, whose static state LeakSanitizer would then
 * report at exit (fuzz_sasl.c says more).
 */
static void sasl_teardown(void)
{
	fake_teardown();
	unlink(sasl_jaas);
	rmdir(sasl_dir);
}

/*
 * A DIGEST-MD5 exchange of a real client, extra appended to its response
 * (NULL: a second copy of the response's own response= directive).
 */
static void digest_exchange(struct dp_conn *c, const char *extra, int32_t final_err)
{
	struct fake_sasl_client cl = {0};
	struct proto_request r = fake_req(1, ZK_OP_SASL);
	char resp[4096], again[128];
	const char *d;
	struct jute_buf t;

	r.sasl_token =
	    fake_sasl_client_token(&cl, (struct jute_buf){NULL, 0}, "alice", "wonderland");
	fake_send(c, &r);
	settle();
	EXPECT_REPLY(c, 1, ZK_OK);
	cr_assert_gt(rr.body.sasl_token.len, 0, "a challenge");
	t = fake_sasl_client_token(&cl, rr.body.sasl_token, "alice", "wonderland");
	cr_assert(t.len > 0 && (size_t)t.len < sizeof(resp));
	memcpy(resp, t.p, (size_t)t.len);
	resp[t.len] = 0;
	if (!extra) {
		d = strstr(resp, "response=");
		cr_assert_not_null(d);
		snprintf(again, sizeof(again), ",%.*s", (int)strcspn(d, ","), d);
		extra = again;
	}
	cr_assert_lt(strlen(resp) + strlen(extra), sizeof(resp));
	strcat(resp, extra);
	r = fake_req(2, ZK_OP_SASL);
	r.sasl_token = (struct jute_buf){(const uint8_t *)resp, (int32_t)strlen(resp)};
	fake_send(c, &r);
	settle();
	EXPECT_REPLY(c, 2, final_err);
	fake_sasl_client_free(&cl);
}

Test(dp_sasl, digest_md5_logs_in, .init = sasl_setup, .fini = sasl_teardown, .timeout = 60)
{
	struct dp_conn *c = fake_session("127.0.0.1", NULL);

	digest_exchange(c, "", ZK_OK);
	cr_assert_gt(rr.body.sasl_token.len, 0, "rspauth");
	cr_assert(!c->closing);
	test_assert_no_leaks();
}

/* Each extra directive makes a login fail with AUTHFAILED and close, leaking nothing. */
static void refused_digests(const char *const *extras, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct dp_conn *c = fake_session("127.0.0.1", NULL);

		digest_exchange(c, extras[i], ZK_AUTHFAILED);
		cr_assert(c->closing, "closes after AUTHFAILED (case %zu)", i);
	}
	test_assert_no_leaks();
}

/*
 * Regression (found by fuzz_sasl): Cyrus's DIGEST-MD5 server keeps the
 * last copy of a repeated directive and leaks the first, so a response
 * with a directive repeated with the same value logged in and grew the
 * server's memory each time (before the fix these logins got OK).  A
 * repeated directive now fails the exchange before Cyrus parses it.
 */
Test(dp_sasl, repeated_digest_directive_fails, .init = sasl_setup, .fini = sasl_teardown,
     .timeout = 60)
{
	static const char *const extras[] = {",username=\"alice\"", ",\tUserName =\"alice\"", NULL};

	refused_digests(extras, sizeof(extras) / sizeof(extras[0]));
}

/*
 * Regression (found by fuzz_sasl, a leak CI saw once in 442,201 runs):
 * Cyrus's parser ends a directive name at any byte that cannot be in a
 * name and skips that byte, so "username\b=" (or ",=", ";\t=", "\x80 =")
 * names username too; the repeat check missed those, so these logins got
 * OK and Cyrus leaked the first copy (LeakSanitizer: _plug_strdup in
 * libdigestmd5.so).  Now they fail like any repeated directive.
 */
Test(dp_sasl, repeated_digest_directive_stray_byte_fails, .init = sasl_setup, .fini = sasl_teardown,
     .timeout = 60)
{
	static const char *const extras[] = {
	    ",username\b=\"alice\"",	     ",UserName,=\"alice\"",
	    ",username;\t=\"alice\"",	     ",username\x80 =\"alice\"",
	    ",username\x7f=\"alice\"",	     ",authzid=\"alice\",authzid\x01=\"alice\"",
	    ",charset=utf-8,charset(=utf-8",
	};

	refused_digests(extras, sizeof(extras) / sizeof(extras[0]));
}

/*
 * The repeat check is exact about names: a longer name that merely starts
 * like a directive ("usernamex", "nc-x") is another directive, which
 * Cyrus ignores, and the login succeeds.
 */
Test(dp_sasl, digest_longer_directive_name_logs_in, .init = sasl_setup, .fini = sasl_teardown,
     .timeout = 60)
{
	static const char *const extras[] = {",usernamex=\"bob\"", ", nc-x=2", ",Response\"=1"};

	for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
		struct dp_conn *c = fake_session("127.0.0.1", NULL);

		digest_exchange(c, extras[i], ZK_OK);
		cr_assert(!c->closing, "case %zu", i);
	}
	test_assert_no_leaks();
}
