/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes: a request's frame to a struct repl_write for the broadcast core.
 * The frame is copied together with the session's identities (in
 * ZooKeeper's order, for fixupACL's "auth" expansion), and the
 * tree_req views point into that copy, so the core needs nothing from the
 * worker.  A run of queued reads the core may run travels as one
 * REPL_IN_READ (build_reads, dp_sess_push_read_batch), ahead of the write
 * behind them (run.c, "Pipelining writes past queued reads").
 *
 * Thread: the worker owning the session.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ring.h"
#include "config/config.h"
#include "dataplane/session/session_priv.h"

/* ================================================================== */
/* Writes: the frame to a struct repl_write                            */
/* ================================================================== */

/* The span of storage that view b of the frame at payload becomes (same offsets). */
static struct repl_span span_of(const uint8_t *payload, const uint8_t *p, int32_t len)
{
	return (struct repl_span){ p && len >= 0 ? (uint32_t)(p - payload) : 0, p ? len : -1 };
}

static void req_from_op(struct repl_write_req *t, const struct proto_multi_op *op,
			const uint8_t *payload)
{
	memset(t, 0, sizeof(*t));
	t->type = op->type;
	t->version = -1;
	t->path = t->data = t->acl = (struct repl_span){ 0, -1 };
	switch (op->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		t->flags = op->create.flags;
		t->ttl = op->create.ttl;
		t->path = span_of(payload, op->create.path.p, op->create.path.len);
		t->data = span_of(payload, op->create.data.p, op->create.data.len);
		t->acl = span_of(payload, op->create.acl.raw, (int32_t)op->create.acl.raw_len);
		t->acl_count = op->create.acl.count;
		break;
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		t->path = span_of(payload, op->path_version.path.p, op->path_version.path.len);
		t->version = op->path_version.version;
		break;
	case ZK_OP_SETDATA:
		t->path = span_of(payload, op->set_data.path.p, op->set_data.path.len);
		t->data = span_of(payload, op->set_data.data.p, op->set_data.data.len);
		t->version = op->set_data.version;
		break;
	}
}

/*
 * Copies the session's identities (sids: s->auth in ZooKeeper's order)
 * and, with_slots, their index into w's storage from offset off, which is
 * where they go (the storage was sized for them).
 */
static void put_ids(const struct dp_sess *s, const struct tree_auth_id *sids,
		    struct repl_write *w, size_t off, bool with_slots)
{
	struct repl_write_id *ids = repl_write_ids(w);

	for (uint32_t i = 0; i < s->nauth; i++) {
		size_t sl = (size_t)sids[i].scheme.len, il = (size_t)sids[i].id.len;
		memcpy(w->storage + off, sids[i].scheme.p, sl);
		ids[i].scheme = (struct repl_span){ (uint32_t)off, (int32_t)sl };
		off += sl;
		memcpy(w->storage + off, sids[i].id.p, il);
		ids[i].id = (struct repl_span){ (uint32_t)off, (int32_t)il };
		off += il;
	}
	w->super = s->super;
	if (with_slots) {
		/* sids is s->auth, which auth_slot indexes: the same positions. */
		assert(sids == s->auth && off + sizeof(s->auth_slot) == w->storage_len);
		memcpy(w->storage + off, s->auth_slot, sizeof(s->auth_slot));
		w->slots = (struct repl_span){ (uint32_t)off, (int32_t)sizeof(s->auth_slot) };
		off += sizeof(s->auth_slot);
	}
	/* The core checks the whole write (repl_write_check) when it takes it. */
	assert(off == w->storage_len);
}

/*
 * Builds the REPL_IN_WRITE body for a write frame; NULL on allocation
 * failure.  r is the frame decoded on arrival (views into payload), or
 * NULL when it was queued and is decoded here: either way the frame is
 * decoded once, and the write holds spans (offsets into its copy of the
 * frame, which are the offsets into payload).
 */
static struct repl_write *build_write(struct dp_sess *s, const struct proto_request *r,
				      const uint8_t *payload, uint32_t len)
{
	/* fixupACL expands "auth" in ZooKeeper's order of the ids. */
	const struct tree_auth_id *sids = dp_sess_auth_ordered(s);
	struct proto_request dec;
	struct repl_write *w;
	struct repl_write_req *reqs;
	size_t storage = len;
	uint32_t nreqs;

	if (!r) {
		if (proto_decode_request(payload, len, &dec))
			return NULL; /* validated on arrival */
		r = &dec;
	}
	nreqs = r->hdr.type == ZK_OP_MULTI ? (uint32_t)(r->multi.count > 0 ? r->multi.count : 0) : 1;
	/* the ids' bytes, then their index (ACL checks on the core use it) */
	storage += s->auth_bytes + sizeof(s->auth_slot);
	w = repl_write_new(storage, nreqs, s->nauth);
	if (!w)
		return NULL;
	reqs = repl_write_reqs(w);
	w->op = r->hdr.type;
	w->multi = r->hdr.type == ZK_OP_MULTI;
	memcpy(w->storage, payload, len);
	switch (r->hdr.type) {
	case ZK_OP_MULTI: {
		struct proto_iter it;
		struct proto_multi_op op;
		uint32_t i = 0;
		proto_multi_iter(&it, &r->multi);
		while (i < nreqs && proto_multi_next(&it, &op))
			req_from_op(&reqs[i++], &op, payload);
		break;
	}
	case ZK_OP_DELETECONTAINER: {
		/*
		 * PrepRequestProcessor reads the path from the whole packet, header
		 * included, so a client's deleteContainer fails validation there.
		 */
		struct proto_multi_op op = { .type = ZK_OP_DELETECONTAINER };
		req_from_op(&reqs[0], &op, payload);
		reqs[0].path = (struct repl_span){ 0, (int32_t)len };
		break;
	}
	case ZK_OP_RECONFIG:
		/* repl.h's reconfig layout: path, data, acl spans and ttl */
		memset(&reqs[0], 0, sizeof(reqs[0]));
		reqs[0].type = ZK_OP_RECONFIG;
		reqs[0].version = -1;
		reqs[0].path = span_of(payload, r->reconfig.joining_servers.p,
				       r->reconfig.joining_servers.len);
		reqs[0].data = span_of(payload, r->reconfig.leaving_servers.p,
				       r->reconfig.leaving_servers.len);
		reqs[0].acl =
		    span_of(payload, r->reconfig.new_members.p, r->reconfig.new_members.len);
		reqs[0].acl_count = 0;
		reqs[0].ttl = r->reconfig.cur_config_id;
		break;
	case ZK_OP_SETACL: {
		struct proto_multi_op op = { .type = ZK_OP_SETACL };
		req_from_op(&reqs[0], &op, payload);
		reqs[0].path = span_of(payload, r->set_acl.path.p, r->set_acl.path.len);
		reqs[0].acl = span_of(payload, r->set_acl.acl.raw, (int32_t)r->set_acl.acl.raw_len);
		reqs[0].acl_count = r->set_acl.acl.count;
		reqs[0].version = r->set_acl.version;
		break;
	}
	default: {
		struct proto_multi_op op = { .type = r->hdr.type };
		if (r->hdr.type == ZK_OP_DELETE)
			op.path_version = r->path_version;
		else if (r->hdr.type == ZK_OP_SETDATA)
			op.set_data = r->set_data;
		else
			op.create = r->create;
		req_from_op(&reqs[0], &op, payload);
		break;
	}
	}
	put_ids(s, sids, w, len, true);
	return w;
}

/*
 * The REPL_IN_READ body for the n queued reads from first on (repl.h):
 * their frames one after the other (storage bytes in all), each spanned
 * by its op's data, and the session's identities, without their index
 * (a read checks one ACL or a few; tree_acl_check scans a few ids or
 * indexes them itself, and the core need not check 128 more bytes).
 * NULL on allocation failure.
 */
static struct repl_write *build_reads(struct dp_sess *s, struct dp_req *first, uint32_t n,
				      size_t bytes)
{
	const struct tree_auth_id *sids = dp_sess_auth_ordered(s);
	struct repl_write *w = repl_write_new(bytes + s->auth_bytes, n, s->nauth);
	struct repl_write_req *rq;
	size_t off = 0;
	uint32_t i = 0;

	if (!w)
		return NULL;
	rq = repl_write_reqs(w);
	w->op = first->op;
	for (struct dp_req *x = first; i < n; x = x->next) {
		if (x->state != DP_REQ_QUEUED)
			continue;
		assert(dp_req_core_read(x));
		memcpy(w->storage + off, x->buf, x->len);
		rq[i].type = x->op;
		rq[i].version = -1;
		rq[i].path = rq[i].acl = (struct repl_span){ 0, -1 };
		rq[i].data = (struct repl_span){ (uint32_t)off, (int32_t)x->len };
		off += x->len;
		i++;
	}
	assert(off == bytes);
	put_ids(s, sids, w, bytes, false);
	return w;
}

/* Reads per REPL_IN_READ at most, and frame bytes beyond which no other read joins. */
#define READ_BATCH_MAX 64u
#define READ_BATCH_BYTES (64u << 10)

/*
 * Hands the queued reads from first up to (not including) upto to the
 * core, in order, as few REPL_IN_READ messages (one per READ_BATCH_MAX
 * reads or READ_BATCH_BYTES of frames): every queued entry in that
 * stretch is such a read.  0 or a negative errno (logged).
 */
int dp_sess_push_read_batch(struct dp_proto *p, struct dp_sess *s, struct dp_req *first,
			    const struct dp_req *upto)
{
	while (first && first != upto) {
		struct repl_in m = { .kind = REPL_IN_READ, .conn = s->conn_id, .session = s->session };
		struct dp_req *x, *lead = NULL;
		size_t bytes = 0;
		uint32_t n = 0;

		for (x = first; x && x != upto; x = x->next) {
			if (x->state != DP_REQ_QUEUED)
				continue;
			if (n == READ_BATCH_MAX || (n && bytes + x->len > READ_BATCH_BYTES))
				break;
			if (!lead)
				lead = x;
			bytes += x->len;
			n++;
		}
		if (!n)
			return 0;
		m.xid = lead->xid;
		m.body = build_reads(s, lead, n, bytes);
		if (!m.body)
			return dp_sess_oom(s, "handing reads to the core");
		lead->nbatch = n;
		for (x = lead; n; x = x->next) {
			if (x->state != DP_REQ_QUEUED)
				continue;
			dp_req_copy(x, NULL, 0);
			s->nunsent--;
			dp_req_unqueue(s, x);
			x->state = DP_REQ_SENT;
			s->last_sent = x;
			n--;
		}
		if (dp_sess_push_in(p, &m))
			return -ENOMEM;
		first = s->last_sent->next;
	}
	return 0;
}

/*
 * Hands a core request to the core (dec: the frame as decoded on
 * arrival, or NULL for a queued one).  0 or a negative errno (logged).
 */
int dp_sess_push_core(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
		      const struct proto_request *dec, const uint8_t *payload, uint32_t len)
{
	struct repl_in m = { .conn = s->conn_id, .xid = e->xid, .session = s->session };

	switch (e->op) {
	case ZK_OP_SYNC: {
		struct proto_request r;
		m.kind = REPL_IN_SYNC;
		/* SyncResponse echoes the request's path (validated on arrival). */
		if (proto_decode_request(payload, len, &r))
			r.path.path = (struct jute_buf){ NULL, -1 };
		if (r.path.path.len < 0) {
			dp_req_copy(e, NULL, 0);
			e->len = UINT32_MAX; /* null path */
		} else if (dp_req_copy(e, r.path.path.p, (size_t)r.path.path.len)) {
			goto oom;
		}
		break;
	}
	case ZK_OP_CLOSESESSION:
		m.kind = REPL_IN_CLOSE;
		s->gone_sent = true;
		dp_req_copy(e, NULL, 0);
		break;
	default:
		assert(e->core); /* reads go with dp_sess_push_read_batch */
		m.kind = REPL_IN_WRITE;
		m.body = build_write(s, dec, payload, len);
		if (!m.body)
			goto oom;
		dp_req_copy(e, NULL, 0);
		break;
	}
	if (e->state != DP_REQ_SENT)
		s->nunsent--;
	dp_req_unqueue(s, e);
	e->state = DP_REQ_SENT;
	s->last_sent = e;
	/* The core touches the session for every request it takes but reads. */
	s->last_touch_ns = clock_mono_ns();
	s->touched = false;
	return dp_sess_push_in(p, &m);
oom:
	return dp_sess_oom(s, "handing a request to the core");
}
