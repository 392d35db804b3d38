/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a session's queue: a new frame becomes a queued request
 * (dp_sess_request); dp_sess_run executes what may go now, in order:
 * requests for the core are pushed as soon as everything ahead is at the
 * core (pipelining), a read waits for the writes ahead of it and then
 * runs here (read.c), or travels with the next write to the core
 * (dp_sess_push_read_batch).  Unknown opcodes are answered UNIMPLEMENTED
 * and the connection closed.
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
/* Running a session's queue                                           */
/* ================================================================== */


/*
 * Sends a parked (or just built) reply showing the tree at zxid; the
 * events it held back are released by dp_sess_held_settle once the queue stops.
 */
static void local_done(struct dp_proto *p, struct dp_sess *s, uint8_t *frames, size_t len,
		       uint32_t nframes, int32_t xid, int32_t type, int64_t zxid, const char *last_op,
		       bool stats, bool close_after, uint64_t t_recv)
{
	zxid = dp_sess_reply_out(p, s, frames, len, nframes, zxid);
	if (dp_sess_arms_commit(p, s))
		dp_sess_watch_fail(s);
	s->hold = false;
	if (stats)
		dp_sess_reply_stats(p, s, xid, zxid, last_op, type, t_recv);
	if (close_after) {
		/* A client decides how often its auth fails: one line per 10 s. */
		static __thread struct log_every limit;
		uint64_t held;

		if (log_every(&limit, dp_sess_round_now(p), 10ull * 1000 * 1000 * 1000, &held))
			log_info("dataplane: closing %s (session 0x%016llx) after a failed auth (%llu "
				 "more held back in 10 s)",
				 dp_conn_peer(s->conn), sid(s), (unsigned long long)held);
		dp_sess_close(s, NULL);
	}
}

/*
 * Executes a local request (e NULL: straight from the frame, the queue
 * being empty, and dec the frame dp_sess_request decoded; else dec NULL and
 * the frame is decoded again from e).  Sends the reply now or parks it
 * in e.
 */
static void exec_local(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
		       const struct proto_request *dec, const uint8_t *payload, uint32_t len,
		       uint64_t t_recv)
{
	struct proto_request own;
	const struct proto_request *req = dec ? dec : &own;
	struct dp_local_res res;
	int rc;

	if (e)
		dp_req_unqueue(s, e);
	if (dp_read_core_op(e ? e->op : dec->hdr.type)) {
		if (e)
			dp_stage_add(&p->stage.reads_queued, &p->stage.reads_queued_ns,
				     dp_sess_round_now(p), t_recv);
		else
			dp_stage_add(&p->stage.reads_at_once, NULL, 0, 0);
	}
	if (!dec && proto_decode_request(payload, len, &own)) {
		dp_sess_close(s, NULL); /* validated on arrival: cannot happen */
		return;
	}
	p->scratch.len = 0;
	p->scratch.err = 0;
	rc = dp_read_exec(p, s, req, payload, len, &res);
	if (rc) {
		dp_sess_arms_clear(p, s);
		dp_sess_close(s, NULL);
		return;
	}
	if (res.pending) {
		/* A sasl step on the SASL thread: its packet waits at the head and blocks. */
		if (!e) {
			e = dp_req_new(p, s, req->hdr.xid, req->hdr.type, t_recv);
			if (!e)
				goto oom;
		}
		assert(s->head == e);
		e->state = DP_REQ_SASL;
		e->blocks = true;
		s->nblock++;
		return;
	}
	if (res.zxid <= p->seen_zxid) {
		local_done(p, s, p->scratch.buf, p->scratch.len, res.nframes, req->hdr.xid,
			   req->hdr.type, res.zxid,
			   res.last_op, res.stats, res.close_after, t_recv);
		if (e)
			dp_req_pop(p, s);
		else
			dp_sess_held_settle(p, s);
		return;
	}
	if (!e) {
		e = dp_req_new(p, s, req->hdr.xid, req->hdr.type, t_recv);
		if (!e)
			goto oom;
	}
	if (dp_req_copy(e, p->scratch.buf, p->scratch.len))
		goto oom;
	e->state = DP_REQ_PARKED;
	e->t_held_ns = dp_sess_round_now(p);
	e->behind = false;
	e->wait_zxid = res.zxid;
	e->nframes = res.nframes;
	e->last_op = res.last_op;
	e->stats = res.stats;
	e->close_after = res.close_after;
	if (s->narms)
		dp_sess_armed_add(p, s);
	dp_sess_parked_add(p, s);
	return;
oom:
	log_error("dataplane: out of memory parking a reply for %s (session 0x%016llx); closing",
		  dp_conn_peer(s->conn), sid(s));
	dp_sess_arms_clear(p, s);
	dp_sess_close(s, NULL);
}

static void refuse_unauthenticated(struct dp_proto *p, struct dp_sess *s, int32_t xid);

static void sess_run_queue(struct dp_proto *p, struct dp_sess *s)
{
	struct dp_req *e;

	while (s->state == DP_SESS_OPEN && (e = s->head)) {
		if (e->state == DP_REQ_SENT || e->state == DP_REQ_SASL)
			return;
		/* Arrived behind a SASL step, unauthenticated: now the answer is known. */
		if (e->state == DP_REQ_QUEUED && e->recheck && !dp_sess_auth_enforced(s)) {
			refuse_unauthenticated(p, s, e->xid);
			return;
		}
		if (e->state == DP_REQ_PARKED) {
			if (e->wait_zxid > p->seen_zxid) {
				dp_sess_parked_add(p, s);
				return;
			}
			if (e->behind)
				dp_stage_add(&p->stage.behind, &p->stage.behind_ns,
					     dp_sess_round_now(p), e->t_held_ns);
			else
				dp_stage_add(&p->stage.parked, &p->stage.parked_ns,
					     dp_sess_round_now(p), e->t_held_ns);
			local_done(p, s, e->buf, e->len, e->nframes, e->xid, e->op, e->wait_zxid,
				   e->last_op, e->stats, e->close_after, e->t_recv_ns);
			dp_req_pop(p, s);
			continue;
		}
		if (e->core) {
			/*
			 * This one and the core requests right behind it, with the
			 * reads between them (the core runs those in place).
			 */
			struct dp_req *last = e, *reads = NULL, *next;
			for (struct dp_req *x = e->next; x && x->state == DP_REQ_QUEUED; x = x->next) {
				if (x->core)
					last = x;
				else if (!dp_req_core_read(x))
					break;
			}
			for (struct dp_req *x = e;; x = next) {
				next = x->next;
				if (!x->core) {
					if (!reads)
						reads = x;
					continue;
				}
				if ((reads && dp_sess_push_read_batch(p, s, reads, x)) ||
				    dp_sess_push_core(p, s, x, NULL, x->buf, x->len)) {
					dp_sess_close(s, NULL);
					return;
				}
				reads = NULL;
				if (x == last)
					break;
			}
			return;
		}
		exec_local(p, s, e, NULL, e->buf, e->len, e->t_recv_ns);
	}
}

void dp_sess_run(struct dp_proto *p, struct dp_sess *s)
{
	sess_run_queue(p, s);
	if (s->state == DP_SESS_OPEN)
		dp_sess_held_settle(p, s);
}

/* ================================================================== */
/* Requests                                                            */
/* ================================================================== */

/* Answers UNIMPLEMENTED and closes (proto.h, UnimplementedRequestProcessor). */
static void unimplemented(struct dp_proto *p, struct dp_sess *s, int32_t xid, int32_t type)
{
	struct proto_reply_hdr h = { xid, -1, ZK_UNIMPLEMENTED };

	log_warn("dataplane: %s (session 0x%016llx) sent request type %d, which ZooKeeper does not "
		 "process; answering UNIMPLEMENTED and closing",
		 dp_conn_peer(s->conn), sid(s), type);
	p->scratch.len = 0;
	p->scratch.err = 0;
	if (!proto_encode_reply(&p->scratch, &h, type, NULL)) {
		dp_sess_count_frame(p, (uint32_t)p->scratch.len - 4, false);
		dp_sess_send_frames(p, s, p->scratch.buf, p->scratch.len, 1);
	}
	dp_sess_close(s, NULL);
}

/*
 * AuthenticationHelper.enforceAuthentication: a request other than auth
 * and sasl from a session without an id of enforce.auth.schemes gets
 * {xid, 0, SESSIONCLOSEDREQUIRESASLAUTH} and the connection closes
 * (sendCloseSession; the session expires later).  Checked on arrival as
 * ZooKeeper does; nothing can be queued ahead then (every earlier request
 * was an auth or sasl, answered at once, or refused likewise).  The log
 * line is limited: a client chooses how often it is refused.
 */
static void refuse_unauthenticated(struct dp_proto *p, struct dp_sess *s, int32_t xid)
{
	static __thread struct log_every limit;
	struct proto_reply_hdr h = { xid, 0, ZK_SESSIONCLOSEDREQUIRESASLAUTH };
	uint64_t held;

	if (log_every(&limit, dp_sess_round_now(p), 10ull * 1000 * 1000 * 1000, &held))
		log_warn("Client %s (session 0x%016llx) has no identity of the schemes %s "
			 "(enforce.auth.schemes); closing the session (%llu more held back in 10 s)",
			 dp_conn_peer(s->conn), sid(s), p->cfg->enforce_schemes,
			 (unsigned long long)held);
	p->scratch.len = 0;
	p->scratch.err = 0;
	if (!proto_encode_reply(&p->scratch, &h, ZK_OP_PING, NULL)) {
		dp_sess_count_frame(p, (uint32_t)p->scratch.len - 4, false);
		dp_sess_send_frames(p, s, p->scratch.buf, p->scratch.len, 1);
	}
	dp_sess_close(s, NULL);
}

/*
 * Pipelining writes past queued reads.  ZooKeeper's pipeline logs a
 * session's write while an earlier read of that session still waits for
 * an earlier write; CommitProcessor applies the write only once that
 * read is answered.  Here a read queued behind a pending write normally
 * runs on this worker once that write's result is back; a later write
 * of the session would then wait for it, and a pipelined mixed load
 * would go at the pace of one round trip to the core per read.  So when
 * a write (any core request) arrives and everything queued ahead of it
 * is at the core, parked (executed already) or a read the core can run
 * (dp_req_core_read), those reads go to the core first, in queue order, as
 * REPL_IN_READ, and the write right behind them: the core runs each read
 * on the tree at its place in the txn order (after everything before
 * it, before the write; dp_core_read), exactly what ZooKeeper answers.
 * A run of such reads travels as one message and comes back as one
 * answer (dp_sess_push_read_batch, reads_answered): at 90 % reads nearly every
 * read goes this way (the write behind them is usually in the same
 * group commit as the one ahead), and one message per read cost about
 * 700 instructions per request more than running it here.
 * Anything else queued ahead (auth, watch management, a queued write,
 * getEphemerals, ...) keeps the write queued until it has run.
 */

/* Pushes the queued reads ahead of upto to the core (nothing blocks: s->nblock 0). */
static int push_reads(struct dp_proto *p, struct dp_sess *s, const struct dp_req *upto)
{
	assert(!s->nblock);
	if (dp_sess_push_read_batch(p, s, s->last_sent ? s->last_sent->next : s->head, upto))
		return -ENOMEM;
	assert(!s->nqreads);
	return 0;
}

int dp_sess_request(struct dp_proto *p, struct dp_sess *s, const uint8_t *payload, uint32_t len,
		    uint64_t t_recv)
{
	struct proto_request req;
	struct dp_req *e;
	bool recheck = false;
	int rc = proto_decode_request(payload, len, &req);

	if (rc == -EOPNOTSUPP) {
		unimplemented(p, s, req.hdr.xid, req.hdr.type);
		return 0;
	}
	if (rc || req.hdr.type == ZK_OP_CREATESESSION) {
		if (len >= PROTO_REQ_HDR_SIZE)
			log_warn("dataplane: malformed %s request (%u bytes) from %s, session 0x%016llx; "
				 "closing the connection",
				 proto_op_name(req.hdr.type), len, dp_conn_peer(s->conn), sid(s));
		else
			log_warn("dataplane: malformed request header (%u bytes) from %s, session "
				 "0x%016llx; closing the connection",
				 len, dp_conn_peer(s->conn), sid(s));
		return -EBADMSG;
	}
	if (s->nqueued >= MAX_QUEUED) {
		log_warn("dataplane: %s (session 0x%016llx) has %u requests waiting; closing the "
			 "connection",
			 dp_conn_peer(s->conn), sid(s), s->nqueued);
		return -ENOBUFS;
	}
	if (req.hdr.type != ZK_OP_AUTH && req.hdr.type != ZK_OP_SASL && !dp_sess_auth_enforced(s)) {
		/*
		 * Behind a SASL step on the SASL thread the answer is not known
		 * yet (ZooKeeper steps before it reads on): the request waits
		 * behind the step, which blocks, and is checked again when it
		 * runs (sess_run_queue).
		 */
		if (!dp_sess_sasl_busy(s)) {
			refuse_unauthenticated(p, s, req.hdr.xid);
			return 0;
		}
		recheck = true;
	}
	s->touched = true;
	if (dp_sess_op_is_core(p, req.hdr.type)) {
		e = dp_req_new(p, s, req.hdr.xid, req.hdr.type, t_recv);
		if (!e)
			return dp_sess_oom(s, "queueing a request");
		e->recheck = recheck;
		assert(!recheck || s->nblock); /* the step blocks */
		if (s->nblock) {
			dp_req_queued(s, e);
			return dp_req_copy(e, payload, len) ? dp_sess_oom(s, "queueing a request") : 0;
		}
		if (s->nqreads && push_reads(p, s, e))
			return -ENOMEM; /* logged */
		return dp_sess_push_core(p, s, e, &req, payload, len);
	}
	if (!s->head) {
		assert(!recheck); /* a step waits at the head */
		exec_local(p, s, NULL, &req, payload, len, t_recv);
		return 0;
	}
	e = dp_req_new(p, s, req.hdr.xid, req.hdr.type, t_recv);
	if (!e || dp_req_copy(e, payload, len))
		return dp_sess_oom(s, "queueing a request");
	e->recheck = recheck;
	dp_req_queued(s, e);
	return 0;
}
