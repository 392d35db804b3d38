/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A session's request queue (FIFO per session, guarantee 2; struct
 * dp_req), and what waits on it: the watches a parked request armed
 * (struct dp_arm), the events held back behind a parked reply, and the
 * list of sessions whose head reply is parked.
 *
 * A reply is parked when it carries a zxid whose events this worker has
 * not delivered yet (repl.h rule 2); its watches are armed, matched
 * against the events drained meanwhile, and enter the watch table when
 * the reply goes out; events for the connection wait behind it, since the
 * client registers its watcher only when the reply arrives
 * (session.c's opening comment, "Watch order").
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
/* The request queue                                                   */
/* ================================================================== */

/* dp_op_is_core, and reconfig on a member with reconfigEnabled (else dp_read answers it). */
bool dp_sess_op_is_core(const struct dp_proto *p, int32_t op)
{
	return dp_op_is_core(op) ||
	       (op == ZK_OP_RECONFIG && p->cfg && p->cfg->reconfig_enabled && p->cfg->distributed);
}

struct dp_req *dp_req_new(struct dp_proto *p, struct dp_sess *s, int32_t xid, int32_t op,
			  uint64_t t_recv)
{
	struct dp_req *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->xid = xid;
	e->op = op;
	e->core = op != DP_OP_RAW && dp_sess_op_is_core(p, op);
	e->t_recv_ns = t_recv;
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->nqueued++;
	s->nunsent++;
	ST_ADD(p->outstanding, 1);
	return e;
}

/* Whether e is a read the core may run in its place (dp_core_read). */
bool dp_req_core_read(const struct dp_req *e)
{
	return !e->core && dp_read_core_op(e->op);
}

/* e is queued behind something: counts it as a later write's obstacle or not. */
void dp_req_queued(struct dp_sess *s, struct dp_req *e)
{
	if (dp_req_core_read(e)) {
		e->qread = true;
		s->nqreads++;
	} else {
		e->blocks = true;
		s->nblock++;
	}
}

/* e leaves the QUEUED state (pushed, executed or dropped). */
void dp_req_unqueue(struct dp_sess *s, struct dp_req *e)
{
	if (e->blocks) {
		e->blocks = false;
		s->nblock--;
	}
	if (e->qread) {
		e->qread = false;
		s->nqreads--;
	}
}

void dp_req_pop(struct dp_proto *p, struct dp_sess *s)
{
	struct dp_req *e = s->head;

	s->head = e->next;
	if (!s->head)
		s->tail = NULL;
	s->nqueued--;
	if (e->state != DP_REQ_SENT)
		s->nunsent--;
	dp_req_unqueue(s, e);
	if (s->last_sent == e)
		s->last_sent = NULL;
	ST_SET(p->outstanding, p->outstanding - 1);
	free(e->buf);
	free(e);
}

/* buf may point into e->buf (a sync keeps the path of its own frame). */
int dp_req_copy(struct dp_req *e, const void *buf, size_t len)
{
	uint8_t *copy = NULL;

	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, buf, len);
	}
	free(e->buf);
	e->buf = copy;
	e->len = (uint32_t)len;
	return 0;
}

/* ================================================================== */
/* Arms, held events, parked replies                                   */
/* ================================================================== */

int dp_sess_watch(struct dp_sess *s, const char *path, size_t len, uint8_t bits, int64_t after)
{
	struct dp_arm *a;

	if (s->narms == s->arms_cap) {
		uint32_t nc = s->arms_cap ? s->arms_cap * 2 : 4;
		struct dp_arm *n = realloc(s->arms, (size_t)nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->arms = n;
		s->arms_cap = nc;
	}
	a = &s->arms[s->narms];
	a->path = malloc(len + 1);
	if (!a->path)
		return -ENOMEM;
	memcpy(a->path, path, len);
	a->path[len] = '\0';
	a->len = (uint32_t)len;
	a->bits = bits;
	a->after = after;
	s->narms++;
	return 0;
}

void dp_sess_armed_add(struct dp_proto *p, struct dp_sess *s)
{
	if (s->on_armed)
		return;
	s->on_armed = true;
	s->armed_prev = NULL;
	s->armed_next = p->armed;
	if (p->armed)
		p->armed->armed_prev = s;
	p->armed = s;
}

static void armed_del(struct dp_proto *p, struct dp_sess *s)
{
	if (!s->on_armed)
		return;
	if (s->armed_prev)
		s->armed_prev->armed_next = s->armed_next;
	else
		p->armed = s->armed_next;
	if (s->armed_next)
		s->armed_next->armed_prev = s->armed_prev;
	s->on_armed = false;
	s->armed_prev = s->armed_next = NULL;
}

void dp_sess_parked_add(struct dp_proto *p, struct dp_sess *s)
{
	if (s->on_parked)
		return;
	s->on_parked = true;
	s->parked_next = p->parked;
	p->parked = s;
}

void dp_sess_arms_clear(struct dp_proto *p, struct dp_sess *s)
{
	for (uint32_t i = 0; i < s->narms; i++)
		free(s->arms[i].path);
	s->narms = 0;
	armed_del(p, s);
}

/* Enters the arms still standing in the watch table.  0 or -ENOMEM. */
int dp_sess_arms_commit(struct dp_proto *p, struct dp_sess *s)
{
	int rc = 0;

	for (uint32_t i = 0; i < s->narms; i++) {
		struct dp_arm *a = &s->arms[i];
		if (!rc && a->bits && s->has_widx)
			rc = dp_watch_add(p->watch, s->widx, a->path, a->len, a->bits);
	}
	dp_sess_arms_clear(p, s);
	return rc;
}

/* A held-event buffer larger than this is freed once empty (issue 8, item 6). */
#define HELD_KEEP_BYTES (64u * 1024)

int dp_sess_held_add(struct dp_sess *s, const void *buf, size_t len)
{
	if (s->held_cap - s->held_len < len) {
		size_t nc = s->held_cap ? s->held_cap * 2 : 256;
		uint8_t *n;
		while (nc - s->held_len < len)
			nc *= 2;
		n = realloc(s->held, nc);
		if (!n)
			return -ENOMEM;
		s->held = n;
		s->held_cap = nc;
	}
	memcpy(s->held + s->held_len, buf, len);
	s->held_len += len;
	s->held_frames++;
	return 0;
}

/*
 * Frames out of this layer are replies and events: len, xid, zxid, err,
 * then the record (an event's: type, state, path).
 */
#define FRAME_XID_OFF 4
#define FRAME_ZXID_OFF 8
#define FRAME_HDR_SIZE 20

/* The zxid of the next held event at *off; advances *off.  false at the end. */
static bool held_next(const struct dp_sess *s, size_t *off, int64_t *zxid)
{
	const uint8_t *f = s->held + *off;
	size_t left = s->held_len - *off;
	uint32_t flen;

	if (left < FRAME_HDR_SIZE)
		return false;
	flen = jute_be32(f);
	assert(flen + 4 <= left && flen + 4 >= FRAME_HDR_SIZE);
	*zxid = (int64_t)jute_be64(f + FRAME_ZXID_OFF);
	*off += 4 + (size_t)flen;
	return true;
}

/* Sends the held events of txns <= upto (they are in txn order). */
void dp_sess_held_send_upto(struct dp_proto *p, struct dp_sess *s, int64_t upto)
{
	size_t off = 0, end = 0;
	uint32_t n = 0;
	int64_t z;

	while (held_next(s, &off, &z) && z <= upto) {
		end = off;
		n++;
		s->sent_zxid = max64(s->sent_zxid, z);
	}
	if (!n)
		return;
	dp_sess_send_frames(p, s, s->held, end, n);
	memmove(s->held, s->held + end, s->held_len - end);
	s->held_len -= end;
	s->held_frames -= n;
	if (!s->held_len && s->held_cap > HELD_KEEP_BYTES) {
		/* A spike (a burst of events behind a slow write) is over. */
		free(s->held);
		s->held = NULL;
		s->held_cap = 0;
	}
}

/*
 * Sends reply frames (events of a setWatches may come first) of an
 * answer that shows the tree as of zxid raw.  Its header zxid is raised
 * to the newest zxid already sent on the connection, so that it never
 * goes down, and the held events of txns up to it go first: a reply with
 * header zxid h comes after every event of txns <= h, as in ZooKeeper
 * (a client that reconnects with lastZxid h gets no event for them
 * again).  Returns the header zxid.
 */
int64_t dp_sess_reply_out(struct dp_proto *p, struct dp_sess *s, uint8_t *buf, size_t len,
			  uint32_t nframes, int64_t raw)
{
	int64_t hdr = raw > 0 ? max64(raw, s->sent_zxid) : raw;
	size_t off = 0;
	uint32_t reply = 0;

	if (s->held_len)
		dp_sess_held_send_upto(p, s, hdr);
	while (len - off >= FRAME_HDR_SIZE) {
		uint8_t *f = buf + off;
		uint32_t flen = jute_be32(f);
		int64_t z = (int64_t)jute_be64(f + FRAME_ZXID_OFF);
		bool event = (int32_t)jute_be32(f + FRAME_XID_OFF) == ZK_XID_NOTIFICATION;

		assert(flen + 4 <= len - off && flen + 4 >= FRAME_HDR_SIZE);
		if (!event && z > 0) {
			z = hdr;
			jute_put_be64(f + FRAME_ZXID_OFF, (uint64_t)hdr);
		}
		if (!event)
			reply += flen;
		dp_sess_count_frame(p, flen, event);
		s->sent_zxid = max64(s->sent_zxid, z);
		off += 4 + (size_t)flen;
	}
	p->reply_bytes = reply;
	dp_sess_send_frames(p, s, buf, len, nframes);
	return hdr;
}

/*
 * Once nothing holds them any more (no parked reply), the rest of the
 * held events go out.  Called where a session's queue stops moving,
 * after the replies that came before them by zxid.
 */
void dp_sess_held_settle(struct dp_proto *p, struct dp_sess *s)
{
	if (s->held_len && !s->hold)
		dp_sess_held_send_upto(p, s, INT64_MAX);
}

void dp_sess_watch_fail(struct dp_sess *s)
{
	log_error("dataplane: out of memory registering a watch for %s (session 0x%016llx); "
		  "closing the connection",
		  dp_conn_peer(s->conn), sid(s));
	dp_sess_close(s, NULL);
}
