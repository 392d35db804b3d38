/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Answers from the core: a write's result (REPL_OUT_RESULT) becomes
 * ZooKeeper's reply (FinalRequestProcessor: CreateResponse,
 * Create2Response, Stat, MultiResponse, or a bare ReplyHeader for
 * errors); a REPL_IN_READ's answer (REPL_OUT_READ) gives each read of the
 * batch its reply frames and watches.  Replies leave in queue order, and
 * a reply's zxid is never below what the session was sent already.
 *
 * Thread: the worker owning the sessions.
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
/* From the core                                                       */
/* ================================================================== */

static void put_result(struct jute_out *o, const struct repl_result *res, uint32_t i)
{
	const char *paths = repl_result_paths(res);
	struct proto_multi_result r;

	memset(&r, 0, sizeof(r));
	switch (res->results[i].type) {
	case ZK_OP_CREATE:
		r.type = ZK_OP_CREATE;
		r.path = (struct jute_buf){ (const uint8_t *)paths + res->results[i].path_off,
					    (int32_t)res->results[i].path_len };
		break;
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		/* OpResult.CreateResult(path, stat) is typed create2. */
		r.type = ZK_OP_CREATE2;
		r.path_stat.path = (struct jute_buf){ (const uint8_t *)paths + res->results[i].path_off,
						      (int32_t)res->results[i].path_len };
		r.path_stat.stat = res->results[i].stat;
		break;
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		r.type = ZK_OP_DELETE;
		break;
	case ZK_OP_SETDATA:
		r.type = ZK_OP_SETDATA;
		r.stat = res->results[i].stat;
		break;
	case ZK_OP_CHECK:
		r.type = ZK_OP_CHECK;
		break;
	default:
		r.type = ZK_OP_ERROR;
		r.err = res->results[i].err;
		r.error = res->results[i].err;
		break;
	}
	if (res->err != ZK_OK || res->results[i].err != ZK_OK) {
		/* A failed multi is all ERROR ops (0 before the failure, -2 after). */
		memset(&r, 0, sizeof(r));
		r.type = ZK_OP_ERROR;
		r.err = res->results[i].err;
		r.error = res->results[i].err;
	}
	proto_put_multi_result(o, &r);
}

static const char *write_last_op(int32_t op, int32_t err)
{
	switch (op) {
	case ZK_OP_MULTI: return "MULT";
	case ZK_OP_SYNC: return "SYNC";
	case ZK_OP_CLOSESESSION: return "CLOS";
	default: break;
	}
	if (err != ZK_OK)
		return "NA"; /* an ERROR txn: FinalRequestProcessor throws before its switch */
	switch (op) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL: return "CREA";
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER: return "DELE";
	case ZK_OP_SETDATA: return "SETD";
	case ZK_OP_SETACL: return "SETA";
	default: return "NA";
	}
}

static void reads_answered(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
			   struct repl_read_out *ro, int32_t err, int64_t zxid);

void dp_sess_on_result(struct dp_proto *p, struct repl_out *m)
{
	struct dp_conn *c = dp_conn_lookup(p->w, m->conn);
	struct dp_sess *s = c ? dp_conn_user(c) : NULL;
	const struct repl_result *res = m->body;
	struct jute_out *o = &p->scratch;
	struct proto_reply_hdr h;
	struct proto_response body;
	struct dp_req *e;
	int32_t err;

	/* Results come in the order writes were sent: the first SENT entry. */
	e = s && s->state == DP_SESS_OPEN && s->session == m->session ? s->head : NULL;
	while (e && e->state != DP_REQ_SENT)
		e = e->next;
	if (!e || e->xid != m->xid) {
		log_debug("dataplane: result for xid %d of session 0x%016llx on connection %u "
			  "dropped (connection gone)",
			  m->xid, (unsigned long long)m->session, m->conn);
		return;
	}
	err = res ? res->err : ZK_SYSTEMERROR;
	if (e->core)
		dp_stage_add(&p->stage.writes, &p->stage.writes_ns, dp_sess_round_now(p),
			     e->t_recv_ns);
	if (!e->core) {
		/* Reads the core did not run (unknown session, ...): all fail alike. */
		if (e->nbatch)
			reads_answered(p, s, e, NULL, err != ZK_OK ? err : ZK_SYSTEMERROR, m->zxid);
		else
			dp_sess_close(s, NULL);
		return;
	}
	h = (struct proto_reply_hdr){ e->xid, m->zxid, err };
	memset(&body, 0, sizeof(body));
	o->len = 0;
	o->err = 0;
	if (e->op == ZK_OP_MULTI && res && res->txn_type != ZK_OP_ERROR &&
	    (err == ZK_OK || res->nresults)) {
		struct proto_frame f;
		/* FinalRequestProcessor: the header's err stays 0 for a multi. */
		h.err = ZK_OK;
		proto_reply_begin(o, &f, &h);
		for (uint32_t i = 0; i < res->nresults; i++)
			put_result(o, res, i);
		proto_put_multi_end(o);
		proto_frame_end(o, &f);
	} else if (err != ZK_OK) {
		proto_encode_reply(o, &h, e->op, NULL);
	} else {
		const char *paths = res ? repl_result_paths(res) : NULL;
		bool has = res && res->nresults > 0;
		switch (e->op) {
		case ZK_OP_CREATE:
			if (has)
				body.path = (struct jute_buf){ (const uint8_t *)paths +
								       res->results[0].path_off,
							       (int32_t)res->results[0].path_len };
			break;
		case ZK_OP_CREATE2:
		case ZK_OP_CREATECONTAINER:
		case ZK_OP_CREATETTL:
			if (has) {
				body.path_stat.path = (struct jute_buf){
					(const uint8_t *)paths + res->results[0].path_off,
					(int32_t)res->results[0].path_len
				};
				body.path_stat.stat = res->results[0].stat;
			}
			break;
		case ZK_OP_SETDATA:
		case ZK_OP_SETACL:
			if (has)
				body.stat = res->results[0].stat;
			break;
		case ZK_OP_RECONFIG:
			/* GetDataResponse: the configuration the txn set, and its Stat */
			body.data_stat.data = (struct jute_buf){(const uint8_t *)"", 0};
			if (has) {
				body.data_stat.data = (struct jute_buf){
				    (const uint8_t *)paths + res->results[0].path_off,
				    (int32_t)res->results[0].path_len};
				body.data_stat.stat = res->results[0].stat;
			}
			break;
		case ZK_OP_SYNC:
			body.path = e->len == UINT32_MAX ? (struct jute_buf){ NULL, -1 }
							 : (struct jute_buf){ e->buf ? e->buf
										     : (const uint8_t *)"",
									     (int32_t)e->len };
			break;
		default:
			break;
		}
		proto_encode_reply(o, &h, e->op, &body);
	}
	if (o->err) {
		log_error("dataplane: cannot encode the %s reply for %s (session 0x%016llx): %s; "
			  "closing",
			  proto_op_name(e->op), dp_conn_peer(s->conn), sid(s), strerror(-o->err));
		dp_sess_close(s, NULL);
		return;
	}
	if (e != s->head) {
		/* It went to the core past a parked reply: it waits for it (FIFO). */
		if (dp_req_copy(e, o->buf, o->len)) {
			log_error("dataplane: out of memory keeping a reply for %s (session "
				  "0x%016llx); closing",
				  dp_conn_peer(s->conn), sid(s));
			dp_sess_close(s, NULL);
			return;
		}
		e->state = DP_REQ_PARKED;
		e->t_held_ns = dp_sess_round_now(p);
		e->behind = true;
		s->nunsent++;
		e->wait_zxid = m->zxid;
		e->nframes = 1;
		e->last_op = write_last_op(e->op, err);
		e->stats = true;
		e->close_after = false;
		return;
	}
	dp_sess_reply_stats(p, s, e->xid, dp_sess_reply_out(p, s, o->buf, o->len, 1, m->zxid),
			    write_last_op(e->op, err), e->op, e->t_recv_ns);
	if (e->op == ZK_OP_CLOSESESSION) {
		/* FinalRequestProcessor: reply, then cnxn.sendCloseSession(). */
		dp_req_pop(p, s);
		dp_sess_close(s, NULL);
		return;
	}
	dp_req_pop(p, s);
	dp_sess_run(p, s);
}

/*
 * One read the core ran (or refused) in its place gets its reply: the
 * frames (len bytes, nframes of them) go out now if it is the queue's
 * head, else they wait behind the parked replies ahead of it (FIFO).
 * err != ZK_OK: no frames, a bare ReplyHeader.  Returns false when the
 * connection is being closed (out of memory).
 */
static bool read_reply(struct dp_proto *p, struct dp_sess *s, struct dp_req *e, uint8_t *frames,
		       size_t len, uint32_t nframes, int32_t err, int64_t zxid)
{
	const char *last_op = err == ZK_OK ? dp_read_last_op(e->op) : "NA";

	dp_stage_add(&p->stage.reads_core, &p->stage.reads_core_ns, dp_sess_round_now(p),
		     e->t_recv_ns);
	if (err != ZK_OK) {
		struct proto_reply_hdr h = { e->xid, zxid, err };

		p->scratch.len = 0;
		p->scratch.err = 0;
		if (proto_encode_reply(&p->scratch, &h, e->op, NULL) || p->scratch.err) {
			dp_sess_close(s, NULL);
			return false;
		}
		frames = p->scratch.buf;
		len = p->scratch.len;
		nframes = 1;
	}
	if (e != s->head) {
		if (dp_req_copy(e, frames, len)) {
			log_error("dataplane: out of memory keeping a reply for %s (session "
				  "0x%016llx); closing",
				  dp_conn_peer(s->conn), sid(s));
			dp_sess_close(s, NULL);
			return false;
		}
		e->state = DP_REQ_PARKED;
		e->t_held_ns = dp_sess_round_now(p);
		e->behind = true;
		s->nunsent++;
		e->wait_zxid = zxid;
		e->nframes = nframes;
		e->last_op = last_op;
		e->stats = true;
		e->close_after = false;
		return true;
	}
	dp_sess_reply_stats(p, s, e->xid, dp_sess_reply_out(p, s, frames, len, nframes, zxid),
			    last_op, e->op, e->t_recv_ns);
	dp_req_pop(p, s);
	return true;
}

/* The first SENT request of the session m answers, or NULL (connection gone). */
static struct dp_req *first_sent(struct dp_proto *p, const struct repl_out *m, struct dp_sess **sp)
{
	struct dp_conn *c = dp_conn_lookup(p->w, m->conn);
	struct dp_sess *s = c ? dp_conn_user(c) : NULL;
	struct dp_req *e;

	/* Answers come in the order requests were sent: the first SENT entry. */
	e = s && s->state == DP_SESS_OPEN && s->session == m->session ? s->head : NULL;
	while (e && e->state != DP_REQ_SENT)
		e = e->next;
	*sp = s;
	return e;
}

/*
 * The answer to reads the core ran in their place (one REPL_IN_READ,
 * led by e): every event of a txn before them has been delivered here,
 * every later one comes after it on the ring, so their watches are
 * entered at once (no arming) and each reply goes out in FIFO order
 * (read_reply).  ro NULL: all of them fail with err (zxid the core's).
 * The batch's reads are the next SENT entries from e: nothing else was
 * sent between them, and only parked replies sit in between.
 */
static void reads_answered(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
			   struct repl_read_out *ro, int32_t err, int64_t zxid)
{
	uint32_t n = e->nbatch, nw = 0;
	struct repl_read_ans *ans = ro ? repl_read_answers(ro) : NULL;
	size_t off = 0;

	if (ro && ro->nreads != n) {
		log_error("dataplane: %u answers for %u reads of %s (session 0x%016llx); closing",
			  ro->nreads, n, dp_conn_peer(s->conn), sid(s));
		dp_sess_close(s, NULL);
		return;
	}
	for (uint32_t i = 0; ro && i < ro->nwatches; i++) {
		const char *path = (const char *)repl_read_bytes(ro) + ro->watches[i].path_off;
		if (s->has_widx && dp_watch_add(p->watch, s->widx, path, ro->watches[i].path_len,
						ro->watches[i].bits)) {
			dp_sess_watch_fail(s);
			return;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		struct dp_req *next;

		while (e && e->state != DP_REQ_SENT)
			e = e->next;
		if (!e || e->core || (i && e->nbatch) || (ans && e->xid != ans[i].xid)) {
			log_error("dataplane: the core's answers to %s's reads (session 0x%016llx) "
				  "do not match its queue; closing",
				  dp_conn_peer(s->conn), sid(s));
			dp_sess_close(s, NULL);
			return;
		}
		next = e->next;
		if (ans) {
			if (ans[i].len > ro->len - off || ans[i].nwatches > ro->nwatches - nw) {
				dp_sess_close(s, NULL);
				return;
			}
			if (!read_reply(p, s, e, repl_read_bytes(ro) + off, ans[i].len,
					ans[i].nframes, ans[i].err, ro->zxid))
				return;
			off += ans[i].len;
			nw += ans[i].nwatches;
		} else if (!read_reply(p, s, e, NULL, 0, 0, err, zxid)) {
			return;
		}
		e = next;
	}
	dp_sess_run(p, s);
}

void dp_sess_on_read(struct dp_proto *p, struct repl_out *m)
{
	struct dp_sess *s;
	struct dp_req *e = first_sent(p, m, &s);

	if (!e || e->xid != m->xid || e->core || !e->nbatch || !m->body) {
		log_debug("dataplane: read answer for xid %d of session 0x%016llx on connection %u "
			  "dropped (connection gone)",
			  m->xid, (unsigned long long)m->session, m->conn);
		return;
	}
	reads_answered(p, s, e, m->body, ZK_OK, m->zxid);
}
