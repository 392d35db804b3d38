/* SPDX-License-Identifier: Apache-2.0 */
/*
 * This worker's ring from the broadcast core: results and read answers
 * (results.c), connect answers (handshake.c), expiries, watch events,
 * and a replaced tree; then the parked replies whose zxid has been
 * reached.  Watch events go to the connections whose watches fire
 * (watch.c) and that may READ the node (CVE-2024-23944), in the order of
 * the txns, before any reply that comes after them on the ring (repl.h
 * rules 1 and 2).  A parked reply waits with a bounded spin for the core
 * to publish its zxid (dp_sess_catch_up): busy a few microseconds, then yielding,
 * since the core may be waiting for this very CPU.
 *
 * Fan-out.  An event is encoded once per worker; from FANOUT_SHARED_MIN
 * recipients on it is written at once from that one copy to every
 * connection with nothing queued (dp_sess_send_shared), else copied into
 * the connection's queue behind what waits there.  Either way one send
 * per connection: with kernel sockets that send (TCP on loopback ~7 us
 * on the 2-vCPU test machine, the receiver's side included) is almost
 * all of a fan-out's cost, so a fan-out scales with the workers, each
 * writing to its own connections.  Large ones are timed and logged
 * (fanout_report; docs/BENCHMARKS.md has the figures).
 *
 * Thread: the worker owning the sessions (an online RCU reader).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ring.h"
#include "config/config.h"
#include "dataplane/session/session_priv.h"

/*
 * How long a parked reply waits for the core to publish its zxid: busy for
 * CATCH_UP_BUSY_NS (the core is usually a few microseconds from done),
 * then yielding the CPU between looks, since the core may be waiting for
 * this very CPU (both threads on one core; a pure spin there burned its
 * whole budget every time and cut mixed read/write throughput by half).
 */
#define CATCH_UP_SPIN_NS 200000
#define CATCH_UP_BUSY_NS 5000

/*
 * A txn whose events reach at least FANOUT_LOG_MIN connections of this
 * worker is timed and logged (once per FANOUT_LOG_INTERVAL_NS at most):
 * how long its events took on the ring from the core, to find their
 * recipients and encode (the watch table, the READ checks), and to be
 * written (one send per connection, made at once from the shared copy);
 * what is left queued is written at once too (dp_worker_flush), which
 * the loop would do next anyway.
 */
#define FANOUT_LOG_MIN 1000
#define FANOUT_LOG_INTERVAL_NS (10ull * 1000000000)
/*
 * From this many recipients on, an event is written at once from the one
 * encoded copy to every connection with nothing queued
 * (dp_sess_send_shared), not copied into each output queue and written at
 * the end of the loop iteration: a malloc, a copy and a free less per
 * connection, and the first connections have their event while the
 * others are still being served.  Below it, a session's event and a reply
 * in the same iteration still leave in one send.
 */
#define FANOUT_SHARED_MIN 64

/* The stages of one REPL_OUT_EVENTS message on this worker (fanout_report). */
struct fanout {
	uint64_t t_pop;   /* popped from the ring */
	uint64_t prep_ns; /* watch tables, recipients, ACL checks, encoding */
	uint32_t handed;  /* events sent or held for a parked reply */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static bool is_ancestor(const char *a, uint32_t alen, const char *path, size_t len)
{
	if (alen >= len)
		return false;
	if (alen == 1 && a[0] == '/')
		return true;
	return !memcmp(a, path, alen) && path[alen] == '/';
}

static void on_expire(struct dp_proto *p, struct repl_out *m)
{
	struct dp_conn *c = dp_conn_lookup(p->w, m->conn);
	struct dp_sess *s = c ? dp_conn_user(c) : NULL;

	if (!s || s->state == DP_SESS_CLOSING)
		return;
	if (m->xid) {
		/*
		 * A refused connect (repl.h): only the connection still
		 * waiting for that connect's answer.  Its session is not
		 * compared: a new session's id was picked by the core and is
		 * not s->session yet.
		 */
		if (s->state != DP_SESS_CONNECTING || s->connect_seq != m->xid)
			return;
		log_info("dataplane: session request of %s refused (no leader, or the client "
			 "must try another server); closing",
			 dp_conn_peer(s->conn));
		s->expired = true;
		s->gone_sent = true;
		dp_sess_close(s, NULL);
		return;
	}
	/* Connection ids are reused: only if it still holds that session. */
	if (s->session != m->session)
		return;
	log_info("dataplane: session 0x%016llx expired, closed or moved; closing %s", sid(s),
		 dp_conn_peer(s->conn));
	s->expired = true;
	s->gone_sent = true;
	dp_sess_close(s, NULL);
}

static int rec_add(struct dp_proto *p, uint32_t *n, struct dp_sess *s, uint32_t stamp)
{
	if (s->trigger_stamp == stamp)
		return 0;
	if (*n == p->rec_cap) {
		uint32_t nc = p->rec_cap ? p->rec_cap * 2 : 16;
		struct dp_sess **v = realloc(p->rec, (size_t)nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->rec = v;
		p->rec_cap = nc;
	}
	s->trigger_stamp = stamp;
	p->rec[(*n)++] = s;
	return 0;
}

/* Delivers one watch event of a txn (WatchManager.triggerWatch + process). */
/*
 * carried: the node's ACL as the core shipped it with the event (jute
 * list bytes; len 0 when not carried).  It is what ZooKeeper checks for a
 * NodeDeleted, whose node the tree no longer has.
 */
static void deliver(struct dp_proto *p, int32_t type, const char *path, size_t len, int64_t zxid,
		    struct jute_buf carried, struct fanout *f)
{
	const uint32_t *w;
	uint32_t n, nrec = 0, stamp;
	const struct tree_node *node;
	struct jute_acl_list acl;
	bool check = false;
	struct proto_watcher_event ev;
	uint64_t t0 = clock_mono_ns();
	bool shared;

	if (++p->trigger_seq == 0)
		p->trigger_seq = 1;
	stamp = p->trigger_seq;
	n = dp_watch_trigger(p->watch, type, path, len, &w);
	for (uint32_t i = 0; i < n; i++) {
		struct dp_conn *c = dp_conn_lookup(p->w, dp_watch_conn_id(p->watch, w[i]));
		struct dp_sess *s = c ? dp_conn_user(c) : NULL;
		if (s && s->state == DP_SESS_OPEN)
			(void)rec_add(p, &nrec, s, stamp);
	}
	/* Watches of parked requests: ZooKeeper would already hold them. */
	for (struct dp_sess *s = p->armed; s; s = s->armed_next) {
		bool hit = false;
		for (uint32_t i = 0; i < s->narms; i++) {
			struct dp_arm *a = &s->arms[i];
			bool at = a->len == len && !memcmp(a->path, path, len);
			uint8_t left;
			if (!a->bits || zxid <= a->after ||
			    (!at && !is_ancestor(a->path, a->len, path, len)))
				continue;
			if (dp_watch_fires(a->bits, at, type, &left)) {
				a->bits = left;
				hit = true;
			}
		}
		if (hit && s->state == DP_SESS_OPEN) {
			s->hold = true;
			(void)rec_add(p, &nrec, s, stamp);
		}
	}
	if (!nrec)
		return;
	/* WatchManager.triggerWatch: the watchers, before the ACL check. */
	if (type >= ZK_EVENT_NODE_CREATED && type <= ZK_EVENT_NODE_CHILDREN_CHANGED) {
		unsigned k = (unsigned)(type - ZK_EVENT_NODE_CREATED);

		hist_add(&p->watch_fired[k], nrec);
		if (!p->wf_cnt[k] || nrec < p->wf_min[k])
			ST_SET(p->wf_min[k], nrec);
		if (nrec > p->wf_max[k])
			ST_SET(p->wf_max[k], nrec);
		ST_SET(p->wf_sum[k], p->wf_sum[k] + nrec);
		ST_SET(p->wf_cnt[k], p->wf_cnt[k] + 1);
	}
	/* ServerCnxn.process(event, acl): only connections that may READ the node. */
	if (carried.len > 0) {
		struct jute_in in;

		jute_in_init(&in, carried.p, (size_t)carried.len);
		check = jute_get_acl_list(&in, &acl, UINT32_MAX) == 0;
	} else if ((node = tree_lookup(p->tree, path, len))) {
		tree_node_acl(p->tree, node, NULL, &acl);
		check = true;
	}
	ev = (struct proto_watcher_event){ type, ZK_STATE_SYNC_CONNECTED,
					   { (const uint8_t *)path, (int32_t)len } };
	p->ev_out.len = 0;
	p->ev_out.err = 0;
	if (proto_encode_event(&p->ev_out, zxid, &ev)) {
		log_error("dataplane: cannot encode a watch event for %.*s (zxid 0x%llx); dropped",
			  (int)len, path, (unsigned long long)zxid);
		return;
	}
	shared = nrec >= FANOUT_SHARED_MIN;
	f->prep_ns += clock_mono_ns() - t0;
	for (uint32_t i = 0; i < nrec; i++) {
		struct dp_sess *s = p->rec[i];
		struct tree_auth auth = dp_sess_tree_auth(s);
		if (check && tree_acl_check(&acl, ZK_PERM_READ, &auth) != ZK_OK)
			continue;
		f->handed++;
		dp_sess_count_frame(p, (uint32_t)p->ev_out.len - 4, true);
		/*
		 * A txn newer than anything a parked reply can reveal happened
		 * after that read: ZooKeeper would send its event after the
		 * reply, and so does every later event of the connection.
		 */
		if (!s->hold && s->head && s->head->state == DP_REQ_PARKED &&
		    zxid > s->head->wait_zxid)
			s->hold = true;
		if (!s->hold) {
			if (s->held_len)
				dp_sess_held_send_upto(p, s, INT64_MAX); /* keep txn order */
			if (shared)
				dp_sess_send_shared(p, s, p->ev_out.buf, p->ev_out.len);
			else
				dp_sess_send_frames(p, s, p->ev_out.buf, p->ev_out.len, 1);
			s->sent_zxid = max64(s->sent_zxid, zxid);
		} else if (dp_sess_held_add(s, p->ev_out.buf, p->ev_out.len)) {
			log_error("dataplane: out of memory holding a watch event for %s (session "
				  "0x%016llx); closing",
				  dp_conn_peer(s->conn), sid(s));
			dp_sess_close(s, NULL);
		}
	}
}

/* Times and logs a large fan-out (FANOUT_LOG_MIN); its sends are made now. */
static void fanout_report(struct dp_proto *p, const struct repl_events *evs, const struct fanout *f)
{
	uint64_t t_delivered = clock_mono_ns(), t_flushed, held;
	uint32_t queued = dp_worker_flush(p->w);
	char ring[48] = "";

	t_flushed = clock_mono_ns();
	assert(t_flushed >= t_delivered && t_delivered >= f->t_pop);
	assert(t_delivered - f->t_pop >= f->prep_ns);
	if (!log_every(&p->fanout_log, t_flushed, FANOUT_LOG_INTERVAL_NS, &held))
		return;
	if (evs->made_ns && evs->made_ns <= f->t_pop)
		snprintf(ring, sizeof(ring), " on the ring %.2f ms after the apply,",
			 (double)(f->t_pop - evs->made_ns) / 1e6);
	log_info("dataplane worker %u: watch events of zxid 0x%llx, %u deliveries:%s recipients "
		 "and encoding %.2f ms, written in %.2f ms, then %u queued outputs in %.2f ms; "
		 "%llu such fan-outs not logged before",
		 dp_worker_index(p->w), (unsigned long long)evs->zxid, f->handed, ring,
		 (double)f->prep_ns / 1e6, (double)(t_delivered - f->t_pop - f->prep_ns) / 1e6,
		 queued, (double)(t_flushed - t_delivered) / 1e6, (unsigned long long)held);
}

static void on_events(struct dp_proto *p, struct repl_out *m)
{
	const struct repl_events *evs = m->body;
	struct fanout f = { .t_pop = clock_mono_ns() };
	const char *paths;

	if (!evs)
		return;
	paths = repl_events_paths(evs);
	for (uint32_t i = 0; i < evs->n; i++)
		deliver(p, evs->ev[i].type, paths + evs->ev[i].path_off, evs->ev[i].path_len,
			evs->zxid,
			(struct jute_buf){ (const uint8_t *)paths + evs->ev[i].acl_off,
					   (int32_t)evs->ev[i].acl_len },
			&f);
	/* Not from inside a frame handler: the I/O layer is using a connection there. */
	if (f.handed >= FANOUT_LOG_MIN && p->polling)
		fanout_report(p, evs, &f);
}

/*
 * The core replaced the tree (repl.h REPL_OUT_TREE: an ensemble member
 * installed its leader's snapshot).  Every connection goes: its watches
 * were set on the old tree and the events between the two were never
 * made, and its parked replies and queued reads belong to the old tree.
 * The clients reconnect (to another server while this one catches up)
 * and set their watches again.  Only then does this worker read the new
 * tree; it tells the core so, which frees the old one once every worker
 * has.  The zxid: no event of a txn up to the new tree's will come.
 */
static void on_tree(struct dp_proto *p, struct repl_out *m)
{
	uint32_t closed = 0;

	/* (a worker started after the install read the new tree already) */
	assert(m->body && m->session > 0);
	for (struct dp_sess *s = p->sessions; s; s = s->next) {
		if (s->state == DP_SESS_CLOSING)
			continue;
		dp_sess_close(s, NULL);
		closed++;
	}
	p->tree = m->body;
	/*
	 * The new tree's zxid, not the max with the old seen: a fuzzy
	 * snapshot's base may precede what this worker delivered on the old
	 * tree, and the txns after the base are applied again on the new
	 * one, their events still to come on this ring; a higher seen would
	 * let a read revealing one of them answer before its events (rule
	 * 2).  Going down is safe: every connection is closed (no client of
	 * this worker holds a watch or a reply of the old tree), and a client
	 * that reconnects with a lastZxidSeen past the new tree is refused by
	 * the core (do_connect), not by this.
	 */
	p->seen_zxid = m->zxid;
	p->tree_gen++;
	repl_tree_switched(p->repl, dp_worker_index(p->w), (uint64_t)m->session);
	log_info("dataplane: worker %u reads the tree installed at zxid 0x%llx; %u connections "
		 "closed",
		 dp_worker_index(p->w), (unsigned long long)m->zxid, closed);
}

static void handle_out(struct dp_proto *p, struct repl_out *m)
{
	/*
	 * The ring is in txn order and a txn's events come before its
	 * result: whatever carries zxid z, every event of txns <= z was
	 * before it.
	 */
	if (m->kind == REPL_OUT_RESULT || m->kind == REPL_OUT_CONNECTED ||
	    m->kind == REPL_OUT_READ)
		p->seen_zxid = max64(p->seen_zxid, m->zxid);
	switch (m->kind) {
	case REPL_OUT_EVENTS:
		on_events(p, m);
		p->seen_zxid = max64(p->seen_zxid, m->zxid);
		break;
	case REPL_OUT_RESULT:
		dp_sess_on_result(p, m);
		break;
	case REPL_OUT_READ:
		dp_sess_on_read(p, m);
		break;
	case REPL_OUT_CONNECTED:
		dp_sess_connected(p, m);
		break;
	case REPL_OUT_EXPIRE:
		on_expire(p, m);
		break;
	case REPL_OUT_SESSIONS:
		if (p->sessions_done) {
			p->sessions_done(p->w, m->conn, m->body);
			m->body = NULL;
		}
		break;
	case REPL_OUT_TREE:
		on_tree(p, m);
		break;
	default:
		log_error("dataplane: message of unknown kind %u from the core; dropped", m->kind);
		break;
	}
	repl_out_free(m);
}

/* ================================================================== */
/* Draining and catching up                                            */
/* ================================================================== */

void dp_sess_drain(struct dp_proto *p)
{
	struct repl_out m;
	uint64_t gen;
	int64_t pub;

	if (p->draining)
		return;
	p->draining = true;
	/* Load before popping: everything of txns <= pub is in the ring now. */
	pub = repl_published_zxid(p->repl);
	gen = p->tree_gen;
	while (ring_pop(p->out, &m))
		handle_out(p, &m);
	/* (pub may be of the tree this drain switched from: on_tree) */
	if (p->tree_gen == gen)
		p->seen_zxid = max64(p->seen_zxid, pub);
	p->draining = false;
}

bool dp_proto_pending(const struct dp_proto *p)
{
	return p->parked != NULL;
}

void dp_sess_release_parked(struct dp_proto *p)
{
	struct dp_sess *list = p->parked;

	p->parked = NULL;
	while (list) {
		struct dp_sess *s = list;
		list = s->parked_next;
		s->parked_next = NULL;
		s->on_parked = false;
		dp_sess_run(p, s);
	}
}

/* The newest zxid a parked reply waits for, or 0. */
static int64_t parked_target(const struct dp_proto *p)
{
	int64_t t = 0;

	for (const struct dp_sess *s = p->parked; s; s = s->parked_next)
		if (s->head && s->head->state == DP_REQ_PARKED)
			t = max64(t, s->head->wait_zxid);
	return t;
}

/*
 * repl.h rule 2: a parked reply waits (bounded spin) for the core to
 * publish its zxid, then for the ring to be drained.  A spin that times
 * out leaves it parked for the next dp_proto_poll.
 */
void dp_sess_catch_up(struct dp_proto *p)
{
	int64_t target;
	uint64_t deadline = 0;

	for (int round = 0; round < 4 && p->parked && !p->draining; round++) {
		target = parked_target(p);
		if (!target)
			break;
		if (repl_published_zxid(p->repl) < target) {
			uint64_t now = clock_mono_ns();
			if (!deadline)
				deadline = now + CATCH_UP_SPIN_NS;
			uint64_t busy_until = now + CATCH_UP_BUSY_NS;
			while (repl_published_zxid(p->repl) < target) {
				now = clock_mono_ns();
				if (now > deadline)
					break;
				if (now < busy_until)
					cpu_relax();
				else
					sched_yield();
			}
		}
		dp_sess_drain(p);
		dp_sess_release_parked(p);
	}
}
