/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connect handshake (ZooKeeperServer.processConnectRequest and
 * finishSessionInit): the ConnectRequest, REPL_IN_CONNECT to the core,
 * frames received meanwhile kept in order, and REPL_OUT_CONNECTED turned
 * into the ConnectResponse (session.c's opening comment).
 *
 * Thread: the worker owning the connection.
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
/* Handshake                                                           */
/* ================================================================== */

int dp_sess_connect_req(struct dp_proto *p, struct dp_sess *s, const uint8_t *payload, uint32_t len)
{
	struct proto_connect_req cr;
	struct repl_connect *rc;
	struct repl_in m;
	int64_t last = tree_last_zxid(p->tree);
	int32_t to;

	if (proto_decode_connect_req(payload, len, &cr)) {
		log_warn("dataplane: %s did not start with a ConnectRequest (%u-byte frame); closing",
			 dp_conn_peer(s->conn), len);
		return -EBADMSG;
	}
	if (dp_sess_auth_x509(s))
		return dp_sess_oom(s, "adding its x509 identity");
	if (cr.last_zxid_seen > last) {
		log_info("Refusing session request for client /%s as it has seen zxid 0x%llx our last "
			 "zxid is 0x%llx client must try another server",
			 dp_conn_peer(s->conn), (unsigned long long)cr.last_zxid_seen,
			 (unsigned long long)last);
		dp_sess_close(s, NULL);
		return 0;
	}
	to = cr.timeout;
	if (p->min_timeout > 0 && to < p->min_timeout)
		to = p->min_timeout;
	if (p->max_timeout > 0 && to > p->max_timeout)
		to = p->max_timeout;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return dp_sess_oom(s, "starting a session");
	rc->session = cr.session_id;
	rc->last_zxid_seen = cr.last_zxid_seen;
	rc->timeout = to;
	if (cr.passwd.len > 0) {
		memcpy(rc->passwd, cr.passwd.p, cr.passwd.len < 16 ? (size_t)cr.passwd.len : 16);
		rc->passwd_len = cr.passwd.len > 255 ? 255 : (uint8_t)cr.passwd.len;
	}
	rc->read_only = cr.read_only;
	s->old_client = !cr.has_read_only;
	s->session = cr.session_id;
	s->timeout = to;
	/* Echoed by CONNECTED; never 0 (0: no CONNECT pushed). */
	p->connect_seq = (int32_t)((uint32_t)p->connect_seq + 1);
	if (!p->connect_seq)
		p->connect_seq = 1;
	s->connect_seq = p->connect_seq;
	s->state = DP_SESS_CONNECTING;
	m = (struct repl_in){ .kind = REPL_IN_CONNECT, .conn = s->conn_id, .xid = s->connect_seq,
			      .session = cr.session_id, .body = rc };
	return dp_sess_push_in(p, &m);
}

void dp_sess_connected(struct dp_proto *p, struct repl_out *m)
{
	struct dp_conn *c = dp_conn_lookup(p->w, m->conn);
	struct dp_sess *s = c ? dp_conn_user(c) : NULL;
	struct repl_connected *ans = m->body;
	static const uint8_t zero[16];
	struct proto_connect_resp r;
	struct dp_req *raw;

	if (!s || s->state != DP_SESS_CONNECTING || m->xid != s->connect_seq || !ans)
		return;
	memset(&r, 0, sizeof(r));
	r.has_read_only = !s->old_client;
	r.passwd = (struct jute_buf){ zero, 16 };
	p->scratch.len = 0;
	p->scratch.err = 0;
	if (ans->err != ZK_OK) {
		/* finishSessionInit(valid = false) */
		proto_encode_connect_resp(&p->scratch, &r);
		dp_sess_send_frames(p, s, p->scratch.buf, p->scratch.len, 1);
		log_info("Invalid session 0x%llx for client /%s, probably expired",
			 (unsigned long long)ans->session, dp_conn_peer(s->conn));
		s->expired = true;
		dp_sess_close(s, NULL);
		return;
	}
	s->session = ans->session;
	s->timeout = ans->timeout;
	if (dp_watch_conn_new(p->watch, s->conn_id, s->session, &s->widx)) {
		log_error("dataplane: out of memory opening session 0x%016llx for %s; closing", sid(s),
			  dp_conn_peer(s->conn));
		dp_sess_close(s, NULL);
		return;
	}
	s->has_widx = true;
	r.timeout = ans->timeout;
	r.read_only = ans->read_only;
	r.session_id = ans->session;
	r.passwd = (struct jute_buf){ ans->passwd, 16 };
	proto_encode_connect_resp(&p->scratch, &r);
	dp_sess_send_frames(p, s, p->scratch.buf, p->scratch.len, 1);
	s->state = DP_SESS_OPEN;
	s->last_touch_ns = clock_mono_ns();
	s->touched = false;
	ST_ADD(p->nsessions, 1);
	log_debug("dataplane: session 0x%016llx established for %s, timeout %d ms", sid(s),
		  dp_conn_peer(s->conn), s->timeout);

	/* What arrived meanwhile, in order, as if received now. */
	raw = s->head;
	s->head = s->tail = NULL;
	while (raw) {
		struct dp_req *next = raw->next;
		s->nqueued--;
		s->nunsent--; /* raw frames are never SENT */
		ST_SET(p->outstanding, p->outstanding - 1);
		if (s->state == DP_SESS_OPEN && dp_sess_request(p, s, raw->buf, raw->len, raw->t_recv_ns))
			dp_sess_close(s, NULL);
		free(raw->buf);
		free(raw);
		raw = next;
	}
	dp_sess_run(p, s);
}
