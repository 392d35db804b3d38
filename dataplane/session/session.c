/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol layer of a dataplane worker: the dp_proto_* hooks of
 * session.h.  It turns the frames of a connection into ZooKeeper
 * requests and answers them exactly as ZooKeeper 3.9 does, serving reads
 * from the tree (read.c), handing writes to the broadcast core
 * (replication/repl.h) and firing watches (watch.c).
 *
 * The handshake (ZooKeeperServer.processConnectRequest and
 * finishSessionInit): the first frame is a ConnectRequest; a client that
 * has seen a zxid newer than the tree is refused with ZooKeeper's log
 * line and the connection closed; otherwise REPL_IN_CONNECT goes to the
 * core and frames arriving meanwhile wait unread-as-it-were (ZooKeeper
 * disables receiving until the session is set up), then are processed in
 * order.  REPL_OUT_CONNECTED gives the ConnectResponse (the readOnly byte
 * only for a client that sent one); an invalid session gets timeout 0,
 * session 0, a zero password, and the connection is closed.
 *
 * FIFO per session (guarantee 2).  A session's requests form one queue in
 * arrival order.  Requests for the core (writes, sync, closeSession) are
 * pushed as soon as every request ahead of them is also at the core, so
 * consecutive writes pipeline; a read waits until the writes ahead of it
 * have been answered and is then executed here.  A write arriving behind
 * such waiting reads takes them to the core with it, ahead of it, and the
 * core runs them at their place in the txn order (push_reads; repl.h
 * REPL_IN_READ): the write is applied only after they are answered, as
 * in ZooKeeper, yet does not wait for their turn here.  Behind anything
 * the core cannot run (auth, watch management, ...) a write waits until
 * it has run.  Answers leave in queue order (dp_sess_on_result, dp_sess_on_read,
 * dp_sess_reply_out).  auth and sasl are queued like the rest: ZooKeeper answers them
 * out of band, but the client matches them by their reserved xids, and
 * queueing them gives requests sent before an auth packet the identities
 * they had, as ZooKeeper's Request captures cnxn.getAuthInfo().
 *
 * Watch order (guarantee 4, repl.h rules 1 and 2).  seen_zxid is the
 * newest zxid whose events this worker has delivered.  A write's answer
 * arrives after its events on the ring, so it goes out at once.  A local
 * answer carries zxid L (read.c); while L > seen_zxid it is parked:
 * the worker spins briefly for repl_published_zxid() to reach L, drains
 * its ring (delivering events) and then sends it.  A watch set by a
 * parked request is armed (struct dp_arm): events newer than what the
 * request read fire it, and they, and every later event of that
 * connection, are held back until the parked reply is out, since the
 * client only registers its watcher when the reply arrives.
 *
 * Reply zxids (FinalRequestProcessor: the last processed zxid, so never
 * lower on a session; clients overwrite lastZxid with each reply's and
 * present it on reconnect): a session keeps the newest zxid it sent and
 * no reply header is below it.
 *
 * Watch events carry the zxid of the txn that fired them (ZooKeeper 3.9,
 * ZOOKEEPER-4655; 3.8 sends -1, clients ignore it) and reach a
 * connection only if it may READ the node (ZooKeeper 3.9.2/3.8.4,
 * CVE-2024-23944).  For NodeDeleted the core ships the node's ACL as it
 * was when the txn ran (the tree no longer has the node); other events
 * look the ACL up in the tree on delivery, so a setACL applied in between
 * is seen (ZooKeeper checks the ACL it had when the watch fired).
 *
 * Writes.  The frame is copied into a struct repl_write together with
 * the session's identities (ServerCnxn.authInfo: "ip:<peer>", digests,
 * "super"), and the tree_req views point into that copy; the core's
 * result becomes ZooKeeper's reply (FinalRequestProcessor: CreateResponse
 * for create, Create2Response for create2/createTTL/createContainer,
 * Stat for setData/setACL, nothing for delete, MultiResponse with header
 * err 0 for a multi, a bare ReplyHeader for errors).
 *
 * Sessions.  The core learns of activity from the writes themselves and
 * from REPL_IN_TOUCH, sent at most once per timeout/3 for a session that
 * had traffic.  REPL_OUT_EXPIRE closes the connection without another
 * byte (the client learns SESSIONEXPIRED when it reconnects).  A closed
 * connection drops its watches and tells the core (REPL_IN_GONE); its
 * session lives on.  A connection idle for its session timeout (10 s
 * before it has a session) is closed, as NIOServerCnxnFactory's
 * connection expiry does.
 *
 * Bad input: an unknown opcode is answered UNIMPLEMENTED and the
 * connection closed (proto.h); a malformed frame is logged once with the
 * peer and session and the connection closed (ZooKeeper answers
 * MARSHALLINGERROR to a malformed record and keeps the connection; see
 * docs/ARCHITECTURE.md: malformed input closes).
 *
 * The tree replaced (REPL_OUT_TREE: an ensemble member installed its
 * leader's snapshot live): every connection is closed at that point of
 * the ring, then the worker reads the new tree and acknowledges it
 * (on_tree); the clients reconnect and set their watches again.
 *
 * Four-letter words: dp_proto_describe gives this worker's connections
 * and watches; for dump, dp_proto_ephemerals lists the tree's ephemerals
 * in ZooKeeper's hash order and dp_proto_ask_sessions asks the core for
 * its session tracker, whose REPL_OUT_SESSIONS answer goes to the
 * asker's callback (the admin layer's).
 *
 * Files (one section of this comment each, mostly): session.c the
 * dp_proto_* hooks; handshake.c; run.c the queue's execution and new
 * requests; queue.c the queue, arms, held events and parked replies;
 * write.c requests for the core; results.c and from_core.c what comes
 * back (results, read answers, expiries, events, a new tree; draining
 * and catching up); output.c messages to the core and frames to the
 * client; ident.c identities, digest.c DigestAuthenticationProvider,
 * java_hash.c Java's hash orders; listing.c the four-letter-word parts;
 * read.c reads; watch.c the watch manager.  session_priv.h is their
 * shared header; session.h what the layers above see.
 *
 * Thread: the worker owning the connections, an online RCU (QSBR) reader;
 * dp_proto_stats is also called by other workers and reads only relaxed
 * atomics.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/nsstat.h"
#include "common/ring.h"
#include "config/config.h"
#include "dataplane/session/session_priv.h"

/* ================================================================== */
/* Hooks                                                               */
/* ================================================================== */

static void publish_counts(struct dp_proto *p)
{
	struct dp_watch_counts c;

	dp_watch_counts(p->watch, &c);
	ST_SET(p->watches, c.data_watches + c.child_watches);
	ST_SET(p->watched_paths, c.data_paths);
}

struct dp_proto *dp_proto_new(struct dp_worker *w)
{
	struct dp_proto *p = calloc(1, sizeof(*p));
	uint32_t idx = dp_worker_index(w);

	if (!p)
		return NULL;
	p->w = w;
	hist_keep_base(&p->lat_read_us, p->lat_base[0]);
	hist_keep_base(&p->lat_update_us, p->lat_base[1]);
	p->resp_min = UINT32_MAX;
	p->cfg = dp_worker_cfg(w);
	p->repl = dp_worker_repl(w);
	p->tree = repl_tree(p->repl);
	p->in = repl_in_ring(p->repl, idx);
	p->out = repl_out_ring(p->repl, idx);
	p->watch = dp_watch_new();
	/* Freed with the registry (main, after every worker stopped). */
	if (dp_worker_nsstat(w) && p->watch)
		p->ns_reads = nsstat_tab_new(dp_worker_nsstat(w), NSSTAT_READ);
	if (!p->watch || !p->in || !p->out || !p->tree ||
	    (dp_worker_nsstat(w) && !p->ns_reads)) {
		log_error("dataplane: worker %u: cannot set up the protocol layer%s", idx,
			  p->watch ? " (no rings or tree)" : " (out of memory)");
		dp_watch_free(p->watch);
		free(p);
		return NULL;
	}
	if (p->cfg) {
		p->super_digest = p->cfg->super_digest;
		p->min_timeout = p->cfg->min_session_timeout;
		p->max_timeout = p->cfg->max_session_timeout;
	}
	p->max_frame = p->cfg && p->cfg->jute_max_buffer > 0 ? (uint32_t)p->cfg->jute_max_buffer
							     : ZK_DEFAULT_MAX_BUFFER;
	jute_out_init(&p->scratch, 0);
	jute_out_init(&p->ev_out, 0);
	/* Events already in the ring concern no connection yet. */
	dp_sess_drain(p);
	return p;
}

static void sess_free(struct dp_proto *p, struct dp_sess *s)
{
	while (s->head)
		dp_req_pop(p, s);
	dp_sess_arms_clear(p, s);
	free(s->arms);
	free(s->held);
	dp_sess_auth_free(s);
	dp_sess_sasl_free(s);
	if (s->has_widx)
		dp_watch_conn_detach(p->watch, s->widx); /* freed by dp_proto_poll's slices */
	if (s->prev)
		s->prev->next = s->next;
	else
		p->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->on_parked) {
		struct dp_sess **l = &p->parked;
		while (*l != s)
			l = &(*l)->parked_next;
		*l = s->parked_next;
	}
	free(s);
}

void dp_proto_free(struct dp_proto *p)
{
	struct dp_backlog *b;

	if (!p)
		return;
	while (p->sessions) {
		struct dp_sess *s = p->sessions;
		dp_conn_set_user(s->conn, NULL);
		sess_free(p, s);
	}
	dp_sess_sasl_forget(p);
	b = &p->backlog;
	for (uint32_t i = 0; i < b->n; i++)
		repl_in_free(&b->msgs[(b->head + i) % b->cap]);
	free(b->msgs);
	dp_watch_free(p->watch);
	jute_out_free(&p->scratch);
	jute_out_free(&p->ev_out);
	tree_children_release(&p->children);
	free(p->rec);
	free(p);
}

void dp_proto_opened(struct dp_proto *p, struct dp_conn *c)
{
	struct dp_sess *s = calloc(1, sizeof(*s));
	char ip[64];

	if (!s) {
		log_error("dataplane: out of memory accepting %s; closing", dp_conn_peer(c));
		dp_conn_close(c, NULL);
		return;
	}
	s->p = p;
	s->conn = c;
	s->conn_id = dp_conn_id(c);
	s->opened_ns = s->last_io_ns = clock_mono_ns();
	s->established_ms = clock_wall_ms();
	dp_sess_stats_reset(s);
	/* NIOServerCnxn's constructor: authInfo gets ("ip", peer address). */
	dp_java_host_address(dp_conn_peer_ip(c), ip, sizeof(ip));
	if (dp_sess_auth_add(s, "ip", 2, ip, strlen(ip), SIZE_MAX)) {
		log_error("dataplane: out of memory accepting %s; closing", dp_conn_peer(c));
		free(s);
		dp_conn_close(c, NULL);
		return;
	}
	s->next = p->sessions;
	if (p->sessions)
		p->sessions->prev = s;
	p->sessions = s;
	dp_conn_set_user(c, s);
	ST_ADD(p->nconns, 1);
}

void dp_proto_closed(struct dp_proto *p, struct dp_conn *c)
{
	struct dp_sess *s = dp_conn_user(c);

	if (!s)
		return;
	/*
	 * The session outlives its connection (until it expires).  A
	 * reconnect still in flight is told too: the core handles GONE after
	 * the CONNECT it follows on the ring.
	 */
	if (s->session && !s->gone_sent && !s->expired && s->connect_seq)
		(void)dp_sess_push_simple(p, s, REPL_IN_GONE, 0);
	if (s->has_widx)
		ST_SET(p->nsessions, p->nsessions - 1);
	dp_conn_set_user(c, NULL);
	sess_free(p, s);
	ST_SET(p->nconns, p->nconns - 1);
	publish_counts(p);
}

int dp_proto_frame(struct dp_proto *p, struct dp_conn *c, const uint8_t *payload, uint32_t len)
{
	struct dp_sess *s = dp_conn_user(c);
	uint64_t now = dp_sess_round_now(p);
	int rc = 0;

	if (!s)
		return -ENOTCONN;
	ST_ADD(p->packets_received, 1);
	s->packets_received++;
	s->last_io_ns = now;
	switch (s->state) {
	case DP_SESS_NEW:
		rc = dp_sess_connect_req(p, s, payload, len);
		break;
	case DP_SESS_CONNECTING: {
		/* ZooKeeper reads nothing more until the session is set up. */
		struct dp_req *e;
		if (s->nqueued >= MAX_QUEUED) {
			log_warn("dataplane: %s sent %u requests before its session was set up; "
				 "closing",
				 dp_conn_peer(c), s->nqueued);
			return -ENOBUFS;
		}
		e = dp_req_new(p, s, 0, DP_OP_RAW, now);
		if (!e || dp_req_copy(e, payload, len))
			rc = dp_sess_oom(s, "queueing a request");
		break;
	}
	case DP_SESS_OPEN:
		rc = dp_sess_request(p, s, payload, len, now);
		break;
	default:
		break;
	}
	if (rc)
		s->state = DP_SESS_CLOSING; /* the I/O layer closes it */
	if (p->parked)
		dp_sess_catch_up(p);
	publish_counts(p);
	return rc;
}

bool dp_proto_has_work(const struct dp_proto *p)
{
	/* The ring is looked at here too: a push that raced with going to sleep. */
	return ring_count(p->out) || dp_watch_detached(p->watch) != 0 ||
	       __atomic_load_n(&p->sasl_ndone, __ATOMIC_RELAXED);
}

void dp_proto_poll(struct dp_proto *p)
{
	p->round_ns = 0; /* the frames' round is over; this one ends it too */
	/* A closed connection's watches, a slice per loop iteration. */
	(void)dp_watch_reclaim(p->watch, DP_WATCH_RECLAIM_SLICE);
	dp_sess_backlog_flush(p);
	p->polling = true;
	dp_sess_drain(p);
	p->polling = false;
	dp_sess_sasl_poll(p);
	dp_sess_release_parked(p);
	if (p->parked)
		dp_sess_catch_up(p);
	publish_counts(p);
	p->round_ns = 0;
}

/*
 * Scratch space larger than this goes back to the allocator at the next
 * tick: one 5 MB getChildren or a burst of writes must not pin its
 * high-water mark for the worker's lifetime (issue 8, item 6).  Every
 * buffer here is empty between two requests, so freeing at a tick costs
 * at most one regrowth per tick for a client that keeps needing it.
 */
#define TRIM_KEEP_BYTES (64u * 1024)

static void trim_scratch(struct dp_proto *p)
{
	struct dp_backlog *b = &p->backlog;

	assert(b->n <= b->cap);
	if (p->scratch.cap > TRIM_KEEP_BYTES) {
		jute_out_free(&p->scratch);
		jute_out_init(&p->scratch, 0);
	}
	if (p->ev_out.cap > TRIM_KEEP_BYTES) {
		jute_out_free(&p->ev_out);
		jute_out_init(&p->ev_out, 0);
	}
	if ((size_t)p->children.cap * sizeof(*p->children.names) > TRIM_KEEP_BYTES)
		tree_children_release(&p->children);
	if ((size_t)p->rec_cap * sizeof(*p->rec) > TRIM_KEEP_BYTES) {
		free(p->rec);
		p->rec = NULL;
		p->rec_cap = 0;
	}
	if (!b->n && (size_t)b->cap * sizeof(*b->msgs) > TRIM_KEEP_BYTES) {
		free(b->msgs);
		b->msgs = NULL;
		b->cap = b->head = 0;
	}
}

void dp_proto_tick(struct dp_proto *p, uint64_t now_ns)
{
	uint64_t eph = 0;

	p->round_ns = 0;
	dp_sess_backlog_flush(p);
	trim_scratch(p);
	dp_watch_tick(p->watch);
	for (struct dp_sess *s = p->sessions; s; s = s->next) {
		uint64_t idle_ms = now_ns > s->last_io_ns ? (now_ns - s->last_io_ns) / 1000000 : 0;
		uint64_t limit = s->state == DP_SESS_OPEN ? (uint64_t)s->timeout
							  : SESSIONLESS_TIMEOUT_MS;

		if (s->state == DP_SESS_CLOSING)
			continue;
		if (s->state == DP_SESS_OPEN) {
			uint64_t third = (uint64_t)s->timeout * 1000000 / 3;
			if (s->touched && now_ns - s->last_touch_ns >= third &&
			    !dp_sess_push_simple(p, s, REPL_IN_TOUCH, 0)) {
				s->last_touch_ns = now_ns;
				s->touched = false;
			}
			eph += tree_session_ephemeral_count(p->tree, s->session);
		}
		if (limit && idle_ms > limit) {
			ST_ADD(p->sessionless_expired, 1); /* NIO's ConnectionExpirerThread */
			log_info("dataplane: closing %s (session 0x%016llx): no traffic for %llu ms",
				 dp_conn_peer(s->conn), sid(s), (unsigned long long)idle_ms);
			dp_sess_close(s, NULL);
		}
	}
	ST_SET(p->ephemerals, eph);
	dp_proto_poll(p);
}

void dp_proto_stats(const struct dp_proto *p, struct dp_proto_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->packets_received = ST_GET(p->packets_received);
	st->packets_sent = ST_GET(p->packets_sent);
	st->outstanding = ST_GET(p->outstanding);
	st->watches = ST_GET(p->watches);
	st->watched_paths = ST_GET(p->watched_paths);
	st->ephemerals_hint = ST_GET(p->ephemerals);
	st->latency_min_us = ST_GET(p->lat_min_us);
	st->latency_max_us = ST_GET(p->lat_max_us);
	st->latency_sum_us = ST_GET(p->lat_sum_us);
	st->latency_count = ST_GET(p->lat_count);
	st->connections = ST_GET(p->nconns);
	st->response_bytes = ST_GET(p->resp_bytes);
	st->watch_bytes = ST_GET(p->watch_bytes);
	st->resp_last_ns = ST_GET(p->resp_last_ns);
	st->resp_last = ST_GET(p->resp_last);
	st->resp_min = ST_GET(p->resp_min);
	st->resp_max = ST_GET(p->resp_max);
	st->sessionless_expired = ST_GET(p->sessionless_expired);
	st->conn_revalidate = ST_GET(p->conn_revalidate);
	st->srst_response_bytes = ST_GET(p->srst_resp_bytes);
	st->srst_watch_bytes = ST_GET(p->srst_watch_bytes);
	st->srst_sessionless = ST_GET(p->srst_sessionless);
	st->srst_revalidate = ST_GET(p->srst_revalidate);
	for (int k = 0; k < 4; k++) {
		st->watch_fired[k].cnt = ST_GET(p->wf_cnt[k]);
		st->watch_fired[k].sum = ST_GET(p->wf_sum[k]);
		st->watch_fired[k].min = ST_GET(p->wf_min[k]);
		st->watch_fired[k].max = ST_GET(p->wf_max[k]);
	}
	st->sessions = ST_GET(p->nsessions);
	st->stage.reads_at_once = ST_GET(p->stage.reads_at_once);
	st->stage.reads_queued = ST_GET(p->stage.reads_queued);
	st->stage.reads_queued_ns = ST_GET(p->stage.reads_queued_ns);
	st->stage.reads_core = ST_GET(p->stage.reads_core);
	st->stage.reads_core_ns = ST_GET(p->stage.reads_core_ns);
	st->stage.writes = ST_GET(p->stage.writes);
	st->stage.writes_ns = ST_GET(p->stage.writes_ns);
	st->stage.parked = ST_GET(p->stage.parked);
	st->stage.parked_ns = ST_GET(p->stage.parked_ns);
	st->stage.behind = ST_GET(p->stage.behind);
	st->stage.behind_ns = ST_GET(p->stage.behind_ns);
}

