/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol layer's part of the listing four-letter words: cons, stat
 * and dump's connection lines, wchs/wchc/wchp through the watch manager,
 * crst's counter reset, and dump's ephemeral nodes in the order
 * ZooKeeper's hash maps iterate them (java_hash.c).  The admin layer
 * (admin/) assembles the answer from every worker's part; dump's session
 * tracker comes from the core (dp_proto_ask_sessions).
 *
 * Thread: the worker owning the connections; dp_proto_eph_* read the tree
 * lock-free on the asking worker.
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

/* ---- four-letter words ---- */

/* ServerCnxn.dumpConnectionInfo (NIO: interest ops 1 = OP_READ). */
static void conn_info(const struct dp_sess *s, bool brief, struct jute_out *o)
{
	jute_out_printf(o, " /%s[%s](queued=%u,recved=%llu,sent=%llu", dp_conn_peer(s->conn),
	     s->state == DP_SESS_CONNECTING ? "0" : "1", s->nqueued,
	     (unsigned long long)s->packets_received, (unsigned long long)s->packets_sent);
	if (!brief && s->session && s->state == DP_SESS_OPEN) {
		jute_out_printf(o, ",sid=0x%llx,lop=%s,est=%lld,to=%d", sid(s), s->last_op,
		     (long long)s->established_ms, s->timeout);
		if (s->last_cxid >= 0)
			jute_out_printf(o, ",lcxid=0x%llx", (unsigned long long)s->last_cxid);
		jute_out_printf(o, ",lzxid=0x%llx,lresp=%lld,llat=%lld,minlat=%lld,avglat=%lld,maxlat=%lld",
		     (unsigned long long)s->last_zxid, (long long)s->last_resp_ms,
		     (long long)s->last_lat, (long long)(s->min_lat == INT64_MAX ? 0 : s->min_lat),
		     (long long)(s->lat_count ? s->total_lat / s->lat_count : 0),
		     (long long)s->max_lat);
	}
	jute_out_printf(o, ")");
}

/*
 * One connection's line of cons ("stat": the brief form) or of dump's
 * connection list: "<bucket>\tip: /<peer> sessionId: 0x<id>\n", the line
 * of ExpiryQueue.dump (NIOServerCnxn.toString()) after its bucket:
 * NIOServerCnxnFactory touches a connection on I/O with its session
 * timeout (sessionlessCnxnTimeout before it has one), in buckets
 * sessionlessCnxnTimeout wide.
 */
static void conn_line(const struct dp_sess *s, uint32_t word, struct jute_out *out)
{
	if (word == CFG_4LW_DUMP) {
		int64_t last = (int64_t)(s->last_io_ns / 1000000);
		int64_t to = s->state == DP_SESS_OPEN ? s->timeout : SESSIONLESS_TIMEOUT_MS;
		int64_t bucket = ((last + to) / SESSIONLESS_TIMEOUT_MS + 1) * SESSIONLESS_TIMEOUT_MS;

		jute_out_printf(out, "%lld\tip: /%s sessionId: 0x%llx\n", (long long)bucket,
				dp_conn_peer(s->conn), sid(s));
		return;
	}
	conn_info(s, word == CFG_4LW_STAT, out);
	jute_out_printf(out, "\n");
}

/*
 * cons, stat, dump: the connections in the I/O layer's slot order, cur->i
 * the next slot, so a listing resumes where it stopped whatever closed
 * or opened in between (a connection opened behind the cursor is not
 * listed, as in ZooKeeper's walk of a concurrent set).
 */
static bool describe_conn_lines(const struct dp_proto *p, uint32_t word,
				struct dp_describe_cursor *cur, size_t budget, struct jute_out *out)
{
	size_t start = out->len;
	struct dp_conn *c;

	while ((c = dp_conn_next(p->w, &cur->i))) {
		const struct dp_sess *s = dp_conn_user(c);

		if (s) {
			if (out->len - start >= budget)
				return false;
			conn_line(s, word, out);
		}
		cur->i++;
	}
	return true;
}

/* The watch manager's listing a word asks for, or 0 for another word. */
static enum dp_watch_list watch_list(uint32_t word)
{
	switch (word) {
	case CFG_4LW_WCHS: return DP_WATCH_LIST_SUMMARY;
	case CFG_4LW_WCHC: return DP_WATCH_LIST_BY_CONN;
	case CFG_4LW_WCHP: return DP_WATCH_LIST_BY_PATH;
	default: return 0;
	}
}

/* cons, stat, dump: one line per connection. */
static bool conn_lines(uint32_t word)
{
	return word == CFG_4LW_CONS || word == CFG_4LW_STAT || word == CFG_4LW_DUMP;
}

bool dp_proto_describe_chunk(const struct dp_proto *p, uint32_t word,
			     struct dp_describe_cursor *cur, size_t budget, struct jute_out *out)
{
	if (conn_lines(word))
		return describe_conn_lines(p, word, cur, budget, out);
	if (watch_list(word))
		return dp_watch_describe_chunk(p->watch, watch_list(word), cur, budget, out);
	return true;
}

void dp_proto_describe(const struct dp_proto *p, uint32_t word, struct jute_out *out)
{
	struct dp_proto *mp = (struct dp_proto *)p; /* runs on p's own thread */

	if (watch_list(word)) {
		dp_watch_describe(p->watch, watch_list(word), out);
	} else if (conn_lines(word)) {
		/* ConsCommand / StatCommand / dump: one line per connection. */
		struct dp_describe_cursor cur = { 0 };

		describe_conn_lines(p, word, &cur, SIZE_MAX, out);
	} else if (word == CFG_4LW_CRST) {
		for (struct dp_sess *s = mp->sessions; s; s = s->next)
			dp_sess_stats_reset(s);
	} else if (word == CFG_4LW_SRST) {
		/* ServerStats.reset: latency and packet counters. */
		ST_SET(mp->lat_min_us, 0);
		ST_SET(mp->lat_max_us, 0);
		ST_SET(mp->lat_sum_us, 0);
		ST_SET(mp->lat_count, 0);
		ST_SET(mp->packets_received, 0);
		ST_SET(mp->packets_sent, 0);
		/* ... and clientResponseStats.reset. */
		ST_SET(mp->resp_last_ns, 0);
		ST_SET(mp->resp_last, 0);
		ST_SET(mp->resp_min, UINT32_MAX);
		ST_SET(mp->resp_max, 0);
		/* ... and ServerMetrics.resetAll (mntr's view; /metrics counts on). */
		ST_SET(mp->srst_resp_bytes, mp->resp_bytes);
		ST_SET(mp->srst_watch_bytes, mp->watch_bytes);
		ST_SET(mp->srst_sessionless, mp->sessionless_expired);
		ST_SET(mp->srst_revalidate, mp->conn_revalidate);
		/* mntr's readlatency and updatelatency (their AvgMinMaxCounters). */
		hist_reset(&mp->lat_read_us);
		hist_reset(&mp->lat_update_us);
		for (int k = 0; k < 4; k++) {
			ST_SET(mp->wf_cnt[k], 0);
			ST_SET(mp->wf_sum[k], 0);
			ST_SET(mp->wf_min[k], 0);
			ST_SET(mp->wf_max[k], 0);
		}
	}
}

int dp_proto_ask_sessions(struct dp_proto *p, uint32_t conn, dp_sessions_done *done)
{
	struct repl_in m = { .kind = REPL_IN_SESSIONS, .conn = conn };

	assert(done);
	p->sessions_done = done;
	return dp_sess_push_in(p, &m);
}

/*
 * DataTree.dumpEphemerals iterates two Java hash maps, and so does this:
 * DataTree.ephemerals, a ConcurrentHashMap keyed by session id (bin =
 * spread(Long.hashCode(id)) & (table - 1); the table starts at 16 and
 * doubles when it reaches 3/4 full), and per session a HashSet<String> of
 * paths (bin = (h ^ h >>> 16) & (table - 1) of String.hashCode; 16,
 * doubled past 3/4 full), each in bin order.  Within a bin ZooKeeper
 * keeps insertion order: paths here are in creation order (the tree's
 * list, as ZooKeeper's for a server that has not restarted since), and
 * sessions by id, which is their creation order rather than the order of
 * their first ephemeral.  Tables are sized from today's counts; Java's
 * never shrink, so after many deletions ZooKeeper's order can differ.
 */
struct eph_session {
	int64_t id;
	uint32_t bin;
};

struct eph_sessions {
	struct eph_session *v;
	uint32_t n, cap;
	bool oom;
};

struct eph_path {
	struct jute_buf path;
	uint32_t bin;
	uint32_t seq; /* creation order */
};

struct eph_paths {
	struct eph_path *v;
	uint32_t n, cap;
};

static void eph_session(void *arg, int64_t session)
{
	struct eph_sessions *e = arg;

	if (e->n == e->cap) {
		uint32_t cap = e->cap ? e->cap * 2 : 64;
		struct eph_session *v = realloc(e->v, (size_t)cap * sizeof(*v));

		if (!v) {
			e->oom = true;
			return;
		}
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = (struct eph_session){ session, 0 };
}

static int eph_path(void *arg, const struct tree_node *n)
{
	struct eph_paths *e = arg;

	if (e->n == e->cap) {
		uint32_t cap = e->cap ? e->cap * 2 : 16;
		struct eph_path *v = realloc(e->v, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n] = (struct eph_path){ tree_node_path(n), 0, e->n };
	e->n++;
	return 0;
}

static int eph_session_cmp(const void *a, const void *b)
{
	const struct eph_session *x = a, *y = b;

	if (x->bin != y->bin)
		return x->bin < y->bin ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int eph_path_cmp(const void *a, const void *b)
{
	const struct eph_path *x = a, *y = b;

	if (x->bin != y->bin)
		return x->bin < y->bin ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* dump's ephemeral listing in progress: the sessions, sorted, and where it is. */
struct dp_eph_walk {
	struct eph_sessions ss;
	struct eph_paths ps;
	uint32_t next;   /* the next session to list */
	bool started;    /* the "Sessions with Ephemerals" line is out */
};

struct dp_eph_walk *dp_proto_eph_begin(const struct dp_proto *p)
{
	struct dp_eph_walk *e = calloc(1, sizeof(*e));

	if (!e)
		goto oom;
	tree_ephemeral_sessions_foreach(p->tree, eph_session, &e->ss);
	if (e->ss.oom)
		goto oom;
	for (uint32_t i = 0, table = dp_java_chm_table(e->ss.n); i < e->ss.n; i++)
		e->ss.v[i].bin = dp_java_long_bin(e->ss.v[i].id, table);
	if (e->ss.n)
		qsort(e->ss.v, e->ss.n, sizeof(*e->ss.v), eph_session_cmp);
	return e;
oom:
	log_error("dataplane: out of memory listing ephemerals for the dump four-letter word");
	dp_proto_eph_end(e);
	return NULL;
}

bool dp_proto_eph_chunk(const struct dp_proto *p, struct dp_eph_walk *e, size_t budget,
			struct jute_out *out)
{
	size_t start = out->len;

	if (!e->started) {
		jute_out_printf(out, "Sessions with Ephemerals (%u):\n", e->ss.n);
		e->started = true;
	}
	for (; e->next < e->ss.n; e->next++) {
		int64_t id = e->ss.v[e->next].id;
		uint32_t table;

		if (out->len - start >= budget)
			return false;
		jute_out_printf(out, "0x%llx:\n", (unsigned long long)id);
		/* The session's paths, read now: the tree may have changed since. */
		e->ps.n = 0;
		if (tree_session_ephemerals(p->tree, id, "", 0, eph_path, &e->ps)) {
			log_error("dataplane: out of memory listing ephemerals for the dump "
				  "four-letter word");
			out->err = -ENOMEM;
			return true;
		}
		table = dp_java_hash_set_table(e->ps.n);
		for (uint32_t k = 0; k < e->ps.n; k++)
			e->ps.v[k].bin =
			    dp_java_spread((uint32_t)dp_java_string_hash(e->ps.v[k].path)) & (table - 1);
		if (e->ps.n)
			qsort(e->ps.v, e->ps.n, sizeof(*e->ps.v), eph_path_cmp);
		for (uint32_t k = 0; k < e->ps.n; k++) {
			jute_put_raw(out, "\t", 1);
			jute_put_raw(out, e->ps.v[k].path.p, (size_t)e->ps.v[k].path.len);
			jute_put_raw(out, "\n", 1);
		}
		e->ps.n = 0; /* its path pointers are the tree's: not kept past this call */
	}
	return true;
}

void dp_proto_eph_end(struct dp_eph_walk *e)
{
	if (!e)
		return;
	free(e->ss.v);
	free(e->ps.v);
	free(e);
}

void dp_proto_ephemerals(const struct dp_proto *p, struct jute_out *out)
{
	struct dp_eph_walk *e = dp_proto_eph_begin(p);

	if (!e)
		return;
	dp_proto_eph_chunk(p, e, SIZE_MAX, out);
	dp_proto_eph_end(e);
}
