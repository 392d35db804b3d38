/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request builders and reply checks shared by test_session.c and
 * test_read.c (header-only, test code only).
 */
#ifndef CHEETAH_TESTS_DATAPLANE_DP_TEST_H
#define CHEETAH_TESTS_DATAPLANE_DP_TEST_H

#include <string.h>

#include "dp_fake.h"

static struct proto_reply rr;

/* The next frame is a reply to xid with err; leaves it in rr. */
#define EXPECT_REPLY(c, xid_, err_)                                                          \
	do {                                                                                 \
		cr_assert(fake_reply((c), &rr), "no reply (expected xid %d)", (int)(xid_));  \
		cr_assert_eq(rr.hdr.xid, (xid_), "xid %d, expected %d", rr.hdr.xid,          \
			     (int)(xid_));                                                   \
		cr_assert_eq(rr.hdr.err, (err_), "xid %d: err %d, expected %d", rr.hdr.xid,  \
			     rr.hdr.err, (int)(err_));                                       \
	} while (0)

/* The next frame is a watch notification. */
#define EXPECT_EVENT(c, type_, path_, zxid_)                                                 \
	do {                                                                                 \
		cr_assert(fake_reply((c), &rr), "no event (expected %s)", (path_));          \
		cr_assert_eq(rr.hdr.xid, ZK_XID_NOTIFICATION, "xid %d, expected an event",   \
			     rr.hdr.xid);                                                    \
		cr_assert_eq(rr.body.event.type, (type_), "event type %d, expected %d",      \
			     rr.body.event.type, (int)(type_));                              \
		cr_assert_eq(rr.body.event.state, ZK_STATE_SYNC_CONNECTED);                  \
		cr_assert(jute_buf_eq(rr.body.event.path, (path_)), "event path %.*s",       \
			  rr.body.event.path.len, rr.body.event.path.p);                     \
		cr_assert_eq(rr.hdr.zxid, (int64_t)(zxid_), "event zxid %lld, expected %lld", \
			     (long long)rr.hdr.zxid, (long long)(zxid_));                    \
	} while (0)

#define EXPECT_NOTHING(c) cr_assert_eq(fake_pending(c), 0, "unexpected frames")

static inline int send_path_watch(struct dp_conn *c, int32_t xid, int32_t op, const char *path,
				  bool watch)
{
	struct proto_request r = fake_req(xid, op);

	r.path_watch.path = fake_buf(path);
	r.path_watch.watch = watch;
	return fake_send(c, &r);
}

static inline int send_path(struct dp_conn *c, int32_t xid, int32_t op, const char *path)
{
	struct proto_request r = fake_req(xid, op);

	r.path.path = fake_buf(path);
	return fake_send(c, &r);
}

static inline int send_create(struct dp_conn *c, int32_t xid, int32_t op, const char *path,
			      const char *data, int32_t flags, const struct jute_acl_list *acl)
{
	struct proto_request r = fake_req(xid, op);

	r.create.path = fake_buf(path);
	r.create.data = fake_buf(data);
	r.create.acl = acl ? *acl : proto_acl_open_unsafe;
	r.create.flags = flags;
	r.create.ttl = op == ZK_OP_CREATETTL ? 60000 : 0;
	return fake_send(c, &r);
}

static inline int send_set_data(struct dp_conn *c, int32_t xid, const char *path, const char *data,
				int32_t version)
{
	struct proto_request r = fake_req(xid, ZK_OP_SETDATA);

	r.set_data.path = fake_buf(path);
	r.set_data.data = fake_buf(data);
	r.set_data.version = version;
	return fake_send(c, &r);
}

static inline int send_delete(struct dp_conn *c, int32_t xid, const char *path, int32_t version)
{
	struct proto_request r = fake_req(xid, ZK_OP_DELETE);

	r.path_version.path = fake_buf(path);
	r.path_version.version = version;
	return fake_send(c, &r);
}

static inline int send_auth(struct dp_conn *c, const char *scheme, const char *auth)
{
	struct proto_request r = fake_req(ZK_XID_AUTH, ZK_OP_AUTH);

	r.auth.type = 0;
	r.auth.scheme = fake_buf(scheme);
	r.auth.auth = fake_buf(auth);
	return fake_send(c, &r);
}

/* Runs the core and the worker's poll until both are idle. */
static inline void settle(void)
{
	for (int i = 0; i < 8; i++) {
		uint32_t n = fake_core_run();
		fake_poll();
		if (!n && !fake_core_run())
			break;
	}
}

/* An ACL list with one entry (static storage per slot). */
struct test_acl {
	uint8_t buf[256];
	struct jute_acl_list list;
};

static inline const struct jute_acl_list *acl_one(struct test_acl *a, int32_t perms,
						  const char *scheme, const char *id)
{
	struct jute_out o;
	struct jute_in in;

	jute_out_init_fixed(&o, a->buf, sizeof(a->buf));
	jute_put_int(&o, 1);
	jute_put_int(&o, perms);
	jute_put_string(&o, scheme);
	jute_put_string(&o, id);
	cr_assert_eq(o.err, 0);
	jute_in_init(&in, a->buf, o.len);
	cr_assert_eq(jute_get_acl_list(&in, &a->list, 1024), 0);
	return &a->list;
}

/* Two entries. */
static inline const struct jute_acl_list *acl_two(struct test_acl *a, int32_t p1, const char *s1,
						  const char *i1, int32_t p2, const char *s2,
						  const char *i2)
{
	struct jute_out o;
	struct jute_in in;

	jute_out_init_fixed(&o, a->buf, sizeof(a->buf));
	jute_put_int(&o, 2);
	jute_put_int(&o, p1);
	jute_put_string(&o, s1);
	jute_put_string(&o, i1);
	jute_put_int(&o, p2);
	jute_put_string(&o, s2);
	jute_put_string(&o, i2);
	cr_assert_eq(o.err, 0);
	jute_in_init(&in, a->buf, o.len);
	cr_assert_eq(jute_get_acl_list(&in, &a->list, 1024), 0);
	return &a->list;
}

/* Pops the next message the protocol layer pushed to the core. */
static inline bool pop_in(struct repl_in *m)
{
	return ring_pop(&fw.r.in, m);
}

#endif
