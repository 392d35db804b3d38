// SPDX-License-Identifier: Apache-2.0
/*
 * The fake I/O layer and fake broadcast core of dp_fake.h.  The core part
 * follows replication/repl.c's order of messages (a txn's events, then
 * its result, then publication) on a real tree, synchronously.
 */
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "common/clock.h"
#include "dataplane/dp.h"
#include "dp_fake.h"
#include "tests/common/leakcheck.h"

struct fake_world fw;

/* ---- I/O layer services ---- */

uint32_t dp_conn_id(const struct dp_conn *c)
{
	return c->id;
}

struct dp_conn *dp_conn_lookup(struct dp_worker *w, uint32_t id)
{
	for (uint32_t i = 0; i < w->nconns; i++)
		if (w->conns[i] && w->conns[i]->id == id && !w->conns[i]->closing)
			return w->conns[i];
	return NULL;
}

struct dp_conn *dp_conn_next(struct dp_worker *w, uint32_t *slot)
{
	for (uint32_t i = *slot; i < w->nconns; i++) {
		if (w->conns[i]) {
			*slot = i;
			return w->conns[i];
		}
	}
	*slot = w->nconns;
	return NULL;
}

int dp_conn_send(struct dp_conn *c, const void *buf, size_t len)
{
	if (c->closing)
		return 0; /* dropped, as the I/O layer does */
	jute_put_raw(&c->sent, buf, len);
	return c->sent.err;
}

int dp_conn_send_now(struct dp_conn *c, const void *buf, size_t len)
{
	return dp_conn_send(c, buf, len); /* nothing is ever unsent here */
}

uint32_t dp_worker_flush(struct dp_worker *w)
{
	(void)w;
	return 0; /* what is queued counts as sent here */
}

struct jute_out *dp_conn_out_begin(struct dp_conn *c)
{
	return &c->sent;
}

int dp_conn_out_commit(struct dp_conn *c)
{
	return c->sent.err;
}

void dp_conn_close(struct dp_conn *c, const char *reason)
{
	(void)reason;
	c->closing = true;
}

const char *dp_conn_x509_id(const struct dp_conn *c)
{
	return c->x509_id;
}

const char *dp_conn_peer_ip(const struct dp_conn *c)
{
	return c->ip;
}

const char *dp_conn_peer(const struct dp_conn *c)
{
	return c->peer;
}

void *dp_conn_user(const struct dp_conn *c)
{
	return c->user;
}

void dp_conn_set_user(struct dp_conn *c, void *user)
{
	c->user = user;
}

uint32_t dp_worker_index(const struct dp_worker *w)
{
	return w->index;
}

const struct cfg *dp_worker_cfg(const struct dp_worker *w)
{
	return w->cfg;
}

/* The SASL thread wakes a worker (sasl.c): the fake worker polls. */
void dp_worker_wake(struct dp_worker *w)
{
	(void)w;
}

struct repl *dp_worker_repl(const struct dp_worker *w)
{
	return w->repl;
}

/* No per-namespace counting in the fake worker (tests/common/test_nsstat.c has it). */
struct nsstat *dp_worker_nsstat(const struct dp_worker *w)
{
	(void)w;
	return NULL;
}

void fake_sessions_done(struct dp_worker *w, uint32_t conn, struct repl_sessions *d)
{
	(void)w;
	free(fw.sessions);
	fw.sessions = d;
	fw.sessions_conn = conn;
	fw.sessions_calls++;
}

/* ---- repl.h as the protocol layer uses it ---- */

struct tree *repl_tree(struct repl *r)
{
	return r->tree;
}

void repl_tree_switched(struct repl *r, uint32_t w, uint64_t gen)
{
	cr_assert_eq(w, 0);
	cr_assert_gt(gen, r->tree_gen);
	r->tree_gen = gen;
}

struct ring *repl_in_ring(struct repl *r, uint32_t w)
{
	return w == 0 ? &r->in : NULL;
}

struct ring *repl_out_ring(struct repl *r, uint32_t w)
{
	return w == 0 ? &r->out : NULL;
}

void repl_kick(struct repl *r)
{
	r->kicks++;
}

const char *repl_server_state(const struct repl *r)
{
	(void)r;
	return "standalone";
}

uint32_t repl_leader_id(const struct repl *r)
{
	(void)r;
	return 0; /* standalone */
}

bool repl_quorum_stats(const struct repl *r, struct repl_quorum *q)
{
	(void)r;
	memset(q, 0, sizeof(*q));
	return false;
}

uint32_t repl_quorum_size(const struct repl *r)
{
	(void)r;
	return 0;
}

int64_t repl_published_zxid(const struct repl *r)
{
	return __atomic_load_n(&r->published, __ATOMIC_ACQUIRE);
}

void repl_in_free(struct repl_in *m)
{
	free(m->body);
	m->body = NULL;
}

void repl_out_free(struct repl_out *m)
{
	if (m->kind == REPL_OUT_EVENTS && m->body) {
		struct repl_events *ev = m->body;
		if (__atomic_sub_fetch(&ev->refs, 1, __ATOMIC_ACQ_REL) == 0)
			free(ev);
	} else if (m->kind != REPL_OUT_TREE) {
		free(m->body);
	}
	m->body = NULL;
}


/* ---- the core ---- */

/* Messages applied but not yet pushed (fake_core_apply_held). */
static struct repl_out held[256];
static uint32_t nheld;
static bool holding;
static int64_t held_zxid;

static void out_push(struct repl_out *m)
{
	if (holding) {
		cr_assert_lt(nheld, 256);
		held[nheld++] = *m;
		return;
	}
	cr_assert(ring_push(&fw.r.out, m), "fake core: out ring full");
}

static void publish(int64_t zxid)
{
	if (holding) {
		held_zxid = zxid;
		return;
	}
	__atomic_store_n(&fw.r.published, zxid, __ATOMIC_RELEASE);
}

void fake_passwd(int64_t session, uint8_t out[16])
{
	for (int i = 0; i < 16; i++)
		out[i] = (uint8_t)(session >> (i % 8 * 8)) ^ (uint8_t)(0x5a + i);
}

static void txn_hdr(struct tree_txn *h, int64_t session, int32_t cxid, int64_t zxid)
{
	memset(h, 0, sizeof(*h));
	h->session = session;
	h->cxid = cxid;
	h->zxid = zxid;
	h->time = clock_wall_ms();
}

/* Applies fw.r.enc; pushes events; returns 0. */
static void apply_enc(struct tree_txn *txn)
{
	struct repl *r = &fw.r;

	cr_assert_eq(r->enc.err, 0);
	cr_assert_eq(tree_txn_decode(r->enc.buf, r->enc.len, ZK_DEFAULT_MAX_BUFFER, txn), 0);
	cr_assert_eq(tree_apply(r->tree, txn, &r->aout), 0);
	tree_prep_applied(r->prep, txn->zxid);
	if (r->aout.nevents) {
		size_t paths = 0, off = 0;
		for (uint32_t i = 0; i < r->aout.nevents; i++)
			paths += (size_t)r->aout.events[i].path.len + r->aout.events[i].acl.raw_len;
		struct repl_events *ev =
			malloc(sizeof(*ev) + r->aout.nevents * sizeof(ev->ev[0]) + paths);
		cr_assert_not_null(ev);
		ev->refs = 1;
		ev->zxid = txn->zxid;
		ev->made_ns = 0;
		ev->n = r->aout.nevents;
		char *pp = (char *)&ev->ev[ev->n];
		for (uint32_t i = 0; i < ev->n; i++) {
			ev->ev[i].type = r->aout.events[i].type;
			ev->ev[i].path_off = (uint32_t)off;
			ev->ev[i].path_len = (uint32_t)r->aout.events[i].path.len;
			memcpy(pp + off, r->aout.events[i].path.p, (size_t)ev->ev[i].path_len);
			off += (size_t)ev->ev[i].path_len;
			/* As the real core: NodeDeleted carries the node's ACL. */
			ev->ev[i].acl_off = (uint32_t)off;
			ev->ev[i].acl_len = r->aout.events[i].acl.raw_len;
			if (ev->ev[i].acl_len)
				memcpy(pp + off, r->aout.events[i].acl.raw, ev->ev[i].acl_len);
			off += ev->ev[i].acl_len;
		}
		struct repl_out m = { .kind = REPL_OUT_EVENTS, .zxid = txn->zxid, .body = ev,
				      .session = txn->session };
		out_push(&m);
	}
}

static bool is_create(int32_t t)
{
	return t == ZK_OP_CREATE || t == ZK_OP_CREATE2 || t == ZK_OP_CREATECONTAINER ||
	       t == ZK_OP_CREATETTL;
}

static struct repl_result *result_of(const struct tree_txn *txn)
{
	const struct tree_apply_out *o = &fw.r.aout;
	size_t paths = 0, off = 0;
	int32_t err = ZK_OK;

	for (uint32_t i = 0; i < o->nresults && i < txn->nops; i++)
		if (is_create(txn->ops[i].type) && o->results[i].err == ZK_OK)
			paths += (size_t)txn->ops[i].path.len;
	for (uint32_t i = 0; i < o->nresults; i++)
		if (o->results[i].err != ZK_OK) {
			err = o->results[i].err;
			break;
		}
	struct repl_result *res =
		calloc(1, sizeof(*res) + o->nresults * sizeof(res->results[0]) + paths);
	cr_assert_not_null(res);
	res->err = err;
	res->txn_type = txn->type;
	res->nresults = o->nresults;
	char *pp = (char *)repl_result_paths(res);
	for (uint32_t i = 0; i < o->nresults; i++) {
		const struct tree_op *op = i < txn->nops ? &txn->ops[i] : NULL;
		res->results[i].err = o->results[i].err;
		res->results[i].type = op ? op->type : txn->type;
		res->results[i].stat = o->results[i].stat;
		if (op && is_create(op->type) && o->results[i].err == ZK_OK) {
			res->results[i].path_off = (uint32_t)off;
			res->results[i].path_len = (uint32_t)op->path.len;
			memcpy(pp + off, op->path.p, (size_t)op->path.len);
			off += (size_t)op->path.len;
		}
	}
	return res;
}

static void answer(const struct repl_in *m, int32_t err, int64_t zxid)
{
	struct repl_result *res = calloc(1, sizeof(*res));
	cr_assert_not_null(res);
	res->err = err;
	struct repl_out o = { .kind = REPL_OUT_RESULT, .conn = m->conn, .xid = m->xid,
			      .session = m->session, .zxid = zxid, .body = res };
	out_push(&o);
}

static void core_one(struct repl_in *m)
{
	struct repl *r = &fw.r;
	struct tree_txn h, txn;
	int64_t zxid;

	switch (m->kind) {
	case REPL_IN_CONNECT: {
		struct repl_connect *c = m->body;
		struct repl_connected *ans = calloc(1, sizeof(*ans));
		cr_assert_not_null(ans);
		ans->session = c->session;
		if (r->reject_all) {
			ans->err = ZK_SESSIONEXPIRED;
			zxid = r->published;
		} else if (c->session == 0) {
			int64_t id = 0x1000000000000ll + (++r->zxid);
			zxid = r->zxid;
			txn_hdr(&h, id, 0, zxid);
			r->enc.len = 0;
			tree_prep_create_session(r->prep, &h, c->timeout, &r->enc);
			apply_enc(&txn);
			tree_txn_release(&txn);
			ans->err = ZK_OK;
			ans->session = id;
			ans->timeout = c->timeout;
			fake_passwd(id, ans->passwd);
		} else {
			uint8_t pw[16];
			fake_passwd(c->session, pw);
			zxid = r->published;
			if (tree_session_timeout(r->tree, c->session) >= 0 && c->passwd_len == 16 &&
			    !memcmp(pw, c->passwd, 16)) {
				ans->err = ZK_OK;
				ans->timeout = c->timeout;
				memcpy(ans->passwd, pw, 16);
			} else {
				ans->err = ZK_SESSIONEXPIRED;
			}
		}
		struct repl_out o = { .kind = REPL_OUT_CONNECTED, .conn = m->conn, .xid = m->xid,
				      .session = ans->session, .zxid = zxid, .body = ans };
		out_push(&o);
		publish(zxid);
		break;
	}
	case REPL_IN_WRITE: {
		struct repl_write *w = m->body;
		struct tree_req *reqs = calloc(w->nreqs, sizeof(*reqs));
		struct tree_auth_id *ids = calloc(w->nauth + 1, sizeof(*ids));
		struct tree_auth auth;
		if (!reqs || !ids || repl_write_check(w, w->size)) {
			fprintf(stderr, "dp_fake: the dataplane built a malformed write\n");
			abort();
		}
		repl_write_views(w, reqs, ids, &auth);
		zxid = ++r->zxid;
		txn_hdr(&h, m->session, m->xid, zxid);
		r->enc.len = 0;
		tree_prep_write(r->prep, &h, reqs, w->nreqs, w->multi, &auth, &r->enc);
		free(reqs);
		free(ids);
		apply_enc(&txn);
		struct repl_out o = { .kind = REPL_OUT_RESULT, .conn = m->conn, .xid = m->xid,
				      .session = m->session, .zxid = zxid, .body = result_of(&txn) };
		tree_txn_release(&txn);
		out_push(&o);
		publish(zxid);
		break;
	}
	case REPL_IN_READ: {
		/* As repl.c's P_READ marker: run in place, through the dataplane's reader. */
		struct repl_write *w = m->body;
		struct repl_read_out *ro = NULL;
		if (!w || repl_write_check(w, w->size)) {
			fprintf(stderr, "dp_fake: the dataplane built a malformed read\n");
			abort();
		}
		/* The real core has pushed everything applied before the read. */
		if (!holding && nheld)
			fake_core_publish();
		if (r->read_err) {
			/* As repl.c refuses reads (unknown session, ...): one answer for all. */
			answer(m, r->read_err, r->zxid);
			r->read_err = 0;
			break;
		}
		if (r->read_bad) {
			/* An op type that is not its frame's: dp_core_read refuses that read alone. */
			cr_assert_leq(r->read_bad, w->nreqs);
			repl_write_reqs(w)[r->read_bad - 1].type = ZK_OP_SETDATA;
			r->read_bad = 0;
		}
		int32_t err = dp_core_read(&(struct dp_core_read_ctx){&fw.cfg, NULL}, r->tree, w,
					   &ro);
		if (err != ZK_OK) {
			answer(m, err, r->zxid);
			break;
		}
		cr_assert_not_null(ro);
		cr_assert_eq(ro->nreads, w->nreqs, "one answer per read");
		r->reads += w->nreqs;
		r->read_msgs++;
		struct repl_out o = { .kind = REPL_OUT_READ, .conn = m->conn, .xid = m->xid,
				      .session = m->session, .zxid = r->zxid, .body = ro };
		out_push(&o);
		break;
	}
	case REPL_IN_SYNC:
		answer(m, ZK_OK, r->zxid);
		publish(r->zxid);
		break;
	case REPL_IN_CLOSE:
		zxid = ++r->zxid;
		txn_hdr(&h, m->session, 0, zxid);
		r->enc.len = 0;
		tree_prep_close_session(r->prep, &h, &r->enc);
		apply_enc(&txn);
		tree_txn_release(&txn);
		answer(m, ZK_OK, zxid);
		publish(zxid);
		break;
	case REPL_IN_SESSIONS: {
		struct repl_sessions *d = calloc(1, sizeof(*d) + sizeof(d->sets[0]) + 8);
		cr_assert_not_null(d);
		d->nsessions = d->nsets = 1;
		d->sets[0].n = 1;
		*(int64_t *)(void *)&d->sets[1] = 0x42;
		struct repl_out o = { .kind = REPL_OUT_SESSIONS, .conn = m->conn, .xid = m->xid,
				      .body = d };
		out_push(&o);
		break;
	}
	default:
		break; /* TOUCH, GONE: counted by the tests from the ring */
	}
	repl_in_free(m);
}

uint32_t fake_core_run(void)
{
	struct repl_in m;
	uint32_t n = 0;

	/* Like repl.c, leave input in the ring while the worker's ring is full. */
	while (ring_count(&fw.r.out) < 1000 && ring_pop(&fw.r.in, &m)) {
		core_one(&m);
		n++;
	}
	return n;
}

uint32_t fake_core_apply_held(void)
{
	uint32_t n;

	holding = true;
	n = fake_core_run();
	holding = false;
	return n;
}

void fake_core_publish(void)
{
	for (uint32_t i = 0; i < nheld; i++)
		cr_assert(ring_push(&fw.r.out, &held[i]));
	nheld = 0;
	if (held_zxid)
		__atomic_store_n(&fw.r.published, held_zxid, __ATOMIC_RELEASE);
	held_zxid = 0;
}

/* A write of "another worker": super, session 0, applied now. */
static int64_t apply_req(struct tree_req *rq, bool publish_now)
{
	struct repl *r = &fw.r;
	struct tree_auth auth = { NULL, 0, true };
	struct tree_txn h, txn;
	int64_t zxid = ++r->zxid;
	enum zk_err err;

	txn_hdr(&h, 0, 0, zxid);
	r->enc.len = 0;
	err = tree_prep_write(r->prep, &h, rq, 1, false, &auth, &r->enc);
	holding = !publish_now;
	apply_enc(&txn);
	tree_txn_release(&txn);
	publish(zxid);
	holding = false;
	cr_assert_eq(err, ZK_OK, "fake write failed: %d", err);
	return zxid;
}

int64_t fake_apply_setdata(const char *path, const char *data, bool publish_now)
{
	struct tree_req rq = { .type = ZK_OP_SETDATA, .version = -1, .path = fake_buf(path),
			       .data = fake_buf(data) };
	return apply_req(&rq, publish_now);
}

int64_t fake_apply_create_acl(const char *path, const struct jute_acl_list *acl, bool publish_now)
{
	struct tree_req rq = { .type = ZK_OP_CREATE, .version = -1, .path = fake_buf(path),
			       .data = fake_buf(""), .acl = *acl };
	return apply_req(&rq, publish_now);
}

int64_t fake_apply_create(const char *path, const char *data, bool publish_now)
{
	struct tree_req rq = { .type = ZK_OP_CREATE, .version = -1, .path = fake_buf(path),
			       .data = fake_buf(data), .acl = proto_acl_open_unsafe };
	return apply_req(&rq, publish_now);
}

int64_t fake_apply_setacl(const char *path, const struct jute_acl_list *acl, bool publish_now)
{
	struct tree_req rq = { .type = ZK_OP_SETACL, .version = -1, .path = fake_buf(path),
			       .acl = *acl };
	return apply_req(&rq, publish_now);
}

int64_t fake_apply_delete(const char *path, bool publish_now)
{
	struct tree_req rq = { .type = ZK_OP_DELETE, .version = -1, .path = fake_buf(path) };
	return apply_req(&rq, publish_now);
}

/* ---- set-up ---- */

void fake_setup(void)
{
	struct tree_opts opts = { .max_data = ZK_DEFAULT_MAX_BUFFER, .extended_types = true };

	urcu_qsbr_register_thread();
	memset(&fw, 0, sizeof(fw));
	nheld = 0;
	holding = false;
	held_zxid = 0;
	fw.cfg.tick_time = 2000;
	fw.cfg.min_session_timeout = 4000;
	fw.cfg.max_session_timeout = 40000;
	fw.cfg.jute_max_buffer = ZK_DEFAULT_MAX_BUFFER;
	fw.cfg.extras = fw.extras;
	fw.r.tree = tree_new(&opts);
	cr_assert_not_null(fw.r.tree);
	fw.r.prep = tree_prep_new(fw.r.tree);
	cr_assert_not_null(fw.r.prep);
	cr_assert_eq(ring_init(&fw.r.in, 1024, sizeof(struct repl_in)), 0);
	cr_assert_eq(ring_init(&fw.r.out, 1024, sizeof(struct repl_out)), 0);
	jute_out_init(&fw.r.enc, 0);
	fw.w.cfg = &fw.cfg;
	fw.w.repl = &fw.r;
	fw.w.proto = dp_proto_new(&fw.w);
	cr_assert_not_null(fw.w.proto);
}

void fake_teardown(void)
{
	struct repl_in mi;
	struct repl_out mo;

	for (uint32_t i = 0; i < fw.w.nconns; i++) {
		struct dp_conn *c = fw.w.conns[i];
		if (!c)
			continue;
		if (!c->reported)
			dp_proto_closed(fw.w.proto, c);
		jute_out_free(&c->sent);
		free(c);
	}
	dp_proto_free(fw.w.proto);
	while (ring_pop(&fw.r.in, &mi))
		repl_in_free(&mi);
	while (ring_pop(&fw.r.out, &mo))
		repl_out_free(&mo);
	for (uint32_t i = 0; i < nheld; i++)
		repl_out_free(&held[i]);
	nheld = 0;
	free(fw.sessions);
	fw.sessions = NULL;
	fw.sessions_calls = 0;
	ring_fini(&fw.r.in);
	ring_fini(&fw.r.out);
	tree_apply_out_release(&fw.r.aout);
	jute_out_free(&fw.r.enc);
	tree_prep_free(fw.r.prep);
	tree_free(fw.r.tree);
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

struct dp_conn *fake_conn(const char *ip, uint16_t port)
{
	struct dp_conn *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	cr_assert_lt(fw.w.nconns, FAKE_MAX_CONNS);
	c->id = 0x1000 + fw.w.nconns;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	snprintf(c->peer, sizeof(c->peer), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
	jute_out_init(&c->sent, 0);
	fw.w.conns[fw.w.nconns++] = c;
	dp_proto_opened(fw.w.proto, c);
	return c;
}

void fake_conn_gone(struct dp_conn *c)
{
	cr_assert(!c->reported);
	c->closing = true;
	c->reported = true;
	dp_proto_closed(fw.w.proto, c);
}

int fake_frame(struct dp_conn *c, const void *payload, uint32_t len)
{
	int rc = dp_proto_frame(fw.w.proto, c, payload, len);
	if (rc < 0)
		c->closing = true; /* the I/O layer closes */
	return rc;
}

static int send_out(struct dp_conn *c, struct jute_out *o)
{
	int rc;

	cr_assert_eq(o->err, 0);
	rc = fake_frame(c, o->buf + PROTO_LEN_SIZE, (uint32_t)(o->len - PROTO_LEN_SIZE));
	jute_out_free(o);
	return rc;
}

int fake_send_connect(struct dp_conn *c, int64_t session, int64_t last_zxid, int32_t timeout,
		      const uint8_t *passwd, bool with_read_only)
{
	static const uint8_t zero[16];
	struct proto_connect_req cr = {
		.protocol_version = 0, .last_zxid_seen = last_zxid, .timeout = timeout,
		.session_id = session, .passwd = { passwd ? passwd : zero, 16 },
		.read_only = false, .has_read_only = with_read_only,
	};
	struct jute_out o;

	jute_out_init(&o, 0);
	cr_assert_eq(proto_encode_connect_req(&o, &cr), 0);
	return send_out(c, &o);
}

int fake_send(struct dp_conn *c, const struct proto_request *req)
{
	struct jute_out o;

	c->ops[(uint32_t)req->hdr.xid % 4096] = req->hdr.type;
	jute_out_init(&o, 0);
	cr_assert_eq(proto_encode_request(&o, req), 0, "encoding %s", proto_op_name(req->hdr.type));
	return send_out(c, &o);
}

bool fake_next(struct dp_conn *c, const uint8_t **payload, uint32_t *len)
{
	uint32_t l;

	if (c->sent.len - c->read_off < PROTO_LEN_SIZE)
		return false;
	cr_assert_eq(proto_frame_len(c->sent.buf + c->read_off, PROTO_LEN_SIZE, 0x7fffffff, &l), 0);
	cr_assert_geq(c->sent.len - c->read_off, PROTO_LEN_SIZE + l, "truncated frame");
	*payload = c->sent.buf + c->read_off + PROTO_LEN_SIZE;
	*len = l;
	c->read_off += PROTO_LEN_SIZE + l;
	return true;
}

uint32_t fake_pending(struct dp_conn *c)
{
	size_t off = c->read_off;
	uint32_t n = 0, l;

	while (c->sent.len - off >= PROTO_LEN_SIZE) {
		proto_frame_len(c->sent.buf + off, PROTO_LEN_SIZE, 0x7fffffff, &l);
		off += PROTO_LEN_SIZE + l;
		n++;
	}
	return n;
}

bool fake_reply(struct dp_conn *c, struct proto_reply *rep)
{
	const uint8_t *p;
	uint32_t len;
	int32_t xid, op;

	if (!fake_next(c, &p, &len))
		return false;
	cr_assert_geq(len, PROTO_REPLY_HDR_SIZE);
	xid = (int32_t)jute_be32(p);
	op = xid == ZK_XID_PING ? ZK_OP_PING : c->ops[(uint32_t)xid % 4096];
	cr_assert_eq(proto_decode_reply(p, len, op, rep), 0, "decoding a reply to xid %d", xid);
	return true;
}

void fake_poll(void)
{
	dp_proto_poll(fw.w.proto);
}

struct dp_conn *fake_session(const char *ip, int64_t *session)
{
	struct dp_conn *c = fake_conn(ip, 40000 + (uint16_t)fw.w.nconns);
	struct proto_connect_resp r;
	const uint8_t *p;
	uint32_t len;

	cr_assert_eq(fake_send_connect(c, 0, 0, 30000, NULL, true), 0);
	fake_core_run();
	fake_poll();
	cr_assert(fake_next(c, &p, &len), "no ConnectResponse");
	cr_assert_eq(proto_decode_connect_resp(p, len, &r), 0);
	cr_assert_neq(r.session_id, 0);
	c->connected = true;
	if (session)
		*session = r.session_id;
	return c;
}

struct proto_request fake_req(int32_t xid, int32_t type)
{
	struct proto_request r;

	memset(&r, 0, sizeof(r));
	r.hdr.xid = xid;
	r.hdr.type = type;
	return r;
}

struct jute_buf fake_buf(const char *s)
{
	return (struct jute_buf){ (const uint8_t *)s, s ? (int32_t)strlen(s) : -1 };
}

/* ---- a real DIGEST-MD5 client ---- */

static const char *client_user, *client_password;

static int cb_user(void *ctx, int id, const char **result, unsigned *len)
{
	(void)ctx;
	if (id != SASL_CB_AUTHNAME && id != SASL_CB_USER)
		return SASL_FAIL;
	*result = id == SASL_CB_USER ? "" : client_user;
	if (len)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int cb_pass(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
	static union {
		sasl_secret_t s;
		char buf[sizeof(sasl_secret_t) + 256];
	} secret;
	size_t n = strlen(client_password);

	(void)conn;
	(void)ctx;
	if (id != SASL_CB_PASS || n >= 256)
		return SASL_FAIL;
	secret.s.len = n;
	memcpy(secret.s.data, client_password, n + 1);
	*psecret = &secret.s;
	return SASL_OK;
}

static const sasl_callback_t client_cbs[] = {
    {SASL_CB_AUTHNAME, (int (*)(void))(void (*)(void))cb_user, NULL},
    {SASL_CB_USER, (int (*)(void))(void (*)(void))cb_user, NULL},
    {SASL_CB_PASS, (int (*)(void))(void (*)(void))cb_pass, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

struct jute_buf fake_sasl_client_token(struct fake_sasl_client *cl, struct jute_buf challenge,
				       const char *user, const char *password)
{
	static bool inited;
	const char *out = NULL, *mech = NULL;
	unsigned out_len = 0;
	int rc;

	if (!inited) {
		cr_assert_eq(sasl_client_init(NULL), SASL_OK);
		inited = true;
	}
	client_user = user;
	client_password = password;
	if (!cl->conn)
		cr_assert_eq(sasl_client_new("zookeeper", "zk-sasl-md5", NULL, NULL, client_cbs, 0,
					     (sasl_conn_t **)&cl->conn),
			     SASL_OK);
	if (!cl->started) {
		cl->started = true;
		rc = sasl_client_start(cl->conn, "DIGEST-MD5", NULL, &out, &out_len, &mech);
	} else {
		rc = sasl_client_step(
		    cl->conn, challenge.len > 0 ? (const char *)challenge.p : NULL,
		    challenge.len > 0 ? (unsigned)challenge.len : 0, NULL, &out, &out_len);
	}
	if ((rc != SASL_OK && rc != SASL_CONTINUE) || !out)
		return (struct jute_buf){(const uint8_t *)"", 0};
	return (struct jute_buf){(const uint8_t *)out, (int32_t)out_len};
}

void fake_sasl_client_free(struct fake_sasl_client *cl)
{
	if (cl->conn)
		sasl_dispose((sasl_conn_t **)&cl->conn);
	cl->started = false;
}
