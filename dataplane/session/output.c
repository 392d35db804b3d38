/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the protocol layer sends: messages to the broadcast core (its
 * ring, with a backlog for when the ring is full, flushed at every poll)
 * and frames to the client (through the I/O layer's dp_conn_send), with
 * the per-connection statistics ServerCnxn keeps for cons (packets, last
 * operation, latencies).  Also the one way a session closes its
 * connection (dp_sess_close: nothing more is sent or executed).
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

int dp_sess_oom(const struct dp_sess *s, const char *what)
{
	log_error("dataplane: out of memory %s for %s (session 0x%016llx); closing the connection",
		  what, dp_conn_peer(s->conn), (unsigned long long)s->session);
	return -ENOMEM;
}

/* ================================================================== */
/* Messages to the core                                                */
/* ================================================================== */

void dp_sess_backlog_flush(struct dp_proto *p)
{
	struct dp_backlog *b = &p->backlog;
	bool pushed = false;

	while (b->n && ring_push(p->in, &b->msgs[b->head])) {
		b->head = (b->head + 1) % b->cap;
		b->n--;
		pushed = true;
	}
	if (pushed)
		repl_kick(p->repl);
}

/* Pushes m (its body now the core's or the backlog's).  0 or -ENOMEM (body freed). */
int dp_sess_push_in(struct dp_proto *p, struct repl_in *m)
{
	struct dp_backlog *b = &p->backlog;

	if (!b->n && ring_push(p->in, m)) {
		repl_kick(p->repl);
		return 0;
	}
	if (b->n == b->cap) {
		uint32_t nc = b->cap ? b->cap * 2 : 64;
		struct repl_in *v = malloc((size_t)nc * sizeof(*v));
		if (!v) {
			log_error("dataplane: out of memory queueing a message for the core "
				  "(session 0x%016llx)",
				  (unsigned long long)m->session);
			repl_in_free(m);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < b->n; i++)
			v[i] = b->msgs[(b->head + i) % b->cap];
		free(b->msgs);
		b->msgs = v;
		b->cap = nc;
		b->head = 0;
	}
	b->msgs[(b->head + b->n) % b->cap] = *m;
	b->n++;
	dp_sess_backlog_flush(p);
	return 0;
}

int dp_sess_push_simple(struct dp_proto *p, struct dp_sess *s, uint8_t kind, int32_t xid)
{
	struct repl_in m = { .kind = kind, .conn = s->conn_id, .xid = xid, .session = s->session };

	return dp_sess_push_in(p, &m);
}

/* ================================================================== */
/* Output                                                              */
/* ================================================================== */

void dp_sess_close(struct dp_sess *s, const char *reason)
{
	if (s->state == DP_SESS_CLOSING)
		return;
	s->state = DP_SESS_CLOSING;
	dp_conn_close(s->conn, reason);
}

/*
 * The clock of this round of the worker loop (struct dp_proto.round_ns):
 * the frames a round delivers are stamped with one read of the clock
 * taken after the poll that brought them, and a reply sent in the same
 * round counts 0 us of latency (ZooKeeper's own figures are in whole
 * milliseconds); a parked reply, sent in a later round, counts the
 * rounds it waited.  Two reads per request were 60-90 instructions.
 */
uint64_t dp_sess_round_now(struct dp_proto *p)
{
	if (!p->round_ns)
		p->round_ns = clock_mono_ns();
	return p->round_ns;
}

static void send_frames(struct dp_proto *p, struct dp_sess *s, const void *buf, size_t len,
			uint32_t nframes, bool now)
{
	int ret;

	if (s->state == DP_SESS_CLOSING || !len)
		return;
	ret = now ? dp_conn_send_now(s->conn, buf, len) : dp_conn_send(s->conn, buf, len);
	if (ret == -ENOBUFS) {
		/* The I/O layer is dropping the client ("not reading"). */
		s->state = DP_SESS_CLOSING;
		return;
	}
	ST_ADD(p->packets_sent, nframes);
	s->packets_sent += nframes;
	s->last_io_ns = dp_sess_round_now(p);
}

void dp_sess_send_frames(struct dp_proto *p, struct dp_sess *s, const void *buf, size_t len,
			 uint32_t nframes)
{
	send_frames(p, s, buf, len, nframes, false);
}

void dp_sess_send_shared(struct dp_proto *p, struct dp_sess *s, const void *buf, size_t len)
{
	send_frames(p, s, buf, len, 1, true);
}

/* ServerCnxn.updateStatsForResponse + ServerStats.updateLatency. */
/*
 * Whether ZooKeeper's request of this type carries a txn header by the
 * time FinalRequestProcessor answers it (ServerStats.updateLatency counts
 * it as an update then): the writes, a failed one too (its ERROR txn),
 * and the session's create and close; sync and the reads do not.
 */
static bool op_has_txn(int32_t type)
{
	switch (type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATETTL:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
	case ZK_OP_SETDATA:
	case ZK_OP_SETACL:
	case ZK_OP_CHECK:
	case ZK_OP_MULTI:
	case ZK_OP_RECONFIG:
	case ZK_OP_CREATESESSION:
	case ZK_OP_CLOSESESSION:
		return true;
	default:
		return false;
	}
}

void dp_sess_reply_stats(struct dp_proto *p, struct dp_sess *s, int32_t xid, int64_t zxid,
			 const char *op, int32_t type, uint64_t t_recv_ns)
{
	uint64_t now = dp_sess_round_now(p);
	uint64_t us = now > t_recv_ns ? (now - t_recv_ns) / 1000 : 0;
	int64_t ms = (int64_t)(us / 1000);

	if (xid >= 0)
		s->last_cxid = xid;
	s->last_zxid = zxid;
	s->last_op = op;
	s->last_resp_ms = (int64_t)(now / 1000000);
	s->last_lat = ms;
	if (ms < s->min_lat)
		s->min_lat = ms;
	if (ms > s->max_lat)
		s->max_lat = ms;
	s->lat_count++;
	s->total_lat += ms;

	if (!p->lat_count || us < p->lat_min_us)
		ST_SET(p->lat_min_us, us);
	if (us > p->lat_max_us)
		ST_SET(p->lat_max_us, us);
	ST_ADD(p->lat_sum_us, us);
	ST_ADD(p->lat_count, 1);
	hist_add(op_has_txn(type) ? &p->lat_update_us : &p->lat_read_us, us);
	/* FinalRequestProcessor's RESPONSE_BYTES: the reply dp_sess_reply_out sent. */
	ST_ADD(p->resp_bytes, p->reply_bytes);
	p->reply_bytes = 0;
}

void dp_proto_latency(const struct dp_proto *p, struct hist *read_us, struct hist *update_us)
{
	hist_read(&p->lat_read_us, read_us);
	hist_read(&p->lat_update_us, update_us);
}

void dp_proto_watch_fired(const struct dp_proto *p, struct hist *out)
{
	for (int i = 0; i < 4; i++)
		hist_read(&p->watch_fired[i], &out[i]);
}

void dp_sess_stats_reset(struct dp_sess *s)
{
	s->packets_received = s->packets_sent = 0;
	s->min_lat = INT64_MAX;
	s->max_lat = 0;
	s->last_op = "NA";
	s->last_cxid = -1;
	s->last_zxid = -1;
	s->last_resp_ms = 0;
	s->last_lat = 0;
	s->lat_count = 0;
	s->total_lat = 0;
}
