/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The words that need every worker's view (fourlw.c's opening comment,
 * "The admin mailbox" and after): the per-worker mailboxes, requests
 * posted to every worker (wchs, crst, srst) and gathered back, answers
 * streamed a chunk at a time (wchc, wchp, cons, stat), and dump's parts
 * (the core's session tracker, the ephemerals, the connections sorted by
 * expiry bucket).
 *
 * Thread: the worker owning the connection builds and sends; each worker
 * serves its own mailbox (dp_admin_poll).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/nsstat.h"
#include "config/config.h"
#include "dataplane/admin/admin_priv.h"
#include "dataplane/admin/admin.h"
#include "dataplane/dp_info.h"
#include "dataplane/io/io_priv.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"
#include "tree/tree.h"

void dp_admin_answer(struct dp_conn *c, struct jute_out *o)
{
	if (o->err) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		dp_conn_abort(c, NULL);
		return;
	}
	dp_conn_send(c, o->buf, o->len);
	dp_conn_close(c, NULL);
}

/* ---- The admin mailbox ---- */

void dp_admin_mailbox_init(struct dp_mailbox *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
}

/*
 * A chunked answer in progress (dp_conn's stream), in parts: every
 * worker's listing in turn (PART_WORKERS: wchc, wchp, cons, stat), or
 * dump's tracker, ephemerals, connections (gathered from every worker,
 * then sorted by bucket) and their listing.
 */
enum { PART_WORKERS, PART_TRACKER, PART_EPH, PART_GATHER, PART_CONNS };

struct cnxn_line {
	int64_t bucket;
	uint32_t seq;
	uint32_t len;
	const char *text; /* "\tip: ...\n" */
};

struct dp_4lw_stream {
	const struct dp_4lw_word *wd;
	uint8_t part;
	uint32_t worker; /* whose listing is being sent (or gathered) */
	bool asked;      /* a chunk request is out */
	struct dp_describe_cursor cur;
	/* dump */
	struct repl_sessions *sessions; /* the core's tracker (may be NULL) */
	struct dp_eph_walk *eph;
	struct jute_out gathered;       /* every worker's "<bucket>\t<line>" text */
	struct cnxn_line *lines;        /* into gathered, sorted */
	uint32_t nlines, nsets;
	int64_t now_ms, wall_ms;        /* when the connections were sorted */
};

void dp_admin_stream_free(void *stream)
{
	struct dp_4lw_stream *st = stream;

	if (!st)
		return;
	free(st->sessions);
	dp_proto_eph_end(st->eph);
	jute_out_free(&st->gathered);
	free(st->lines);
	free(st);
}

static void req_free(struct dp_admin_req *r)
{
	if (r->waiter) {
		pthread_mutex_destroy(&r->waiter->lock);
		pthread_cond_destroy(&r->waiter->cond);
		free(r->waiter);
	}
	for (uint32_t i = 0; i < r->nworkers; i++)
		jute_out_free(&r->out[i]);
	free(r->sessions);
	free(r->infos);
	free(r);
}

void dp_admin_mailbox_fini(struct dp_mailbox *m)
{
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
	pthread_mutex_destroy(&m->lock);
}

static int mailbox_push(struct dp_mailbox *m, struct dp_admin_req *r)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->n == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 8;
		struct dp_admin_req **v = realloc(m->v, cap * sizeof(*v));

		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = r;
	__atomic_store_n(&m->count, m->n, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* Takes everything out: *v (caller frees) holds *n requests. */
static void mailbox_take(struct dp_mailbox *m, struct dp_admin_req ***v, uint32_t *n)
{
	pthread_mutex_lock(&m->lock);
	*v = m->v;
	*n = m->n;
	m->v = NULL;
	m->n = m->cap = 0;
	__atomic_store_n(&m->count, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&m->lock);
}

/* True when the mailbox holds work (cheap; any thread). */
bool dp_admin_pending(struct dp_worker *w)
{
	return __atomic_load_n(&dp_admin_worker_of(w)->inbox.count, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&dp_admin_worker_of(w)->done.count, __ATOMIC_ACQUIRE);
}

/* One worker's part is in: the last one hands the request back. */
static void answered(struct dp_worker *w, struct dp_admin_req *r)
{
	struct dp_worker *asker;

	if (__atomic_sub_fetch(&r->pending, 1, __ATOMIC_ACQ_REL))
		return;
	if (r->waiter) {
		/* The AdminServer's request: wake it; the last of us two frees. */
		pthread_mutex_lock(&r->waiter->lock);
		r->waiter->done = true;
		pthread_cond_signal(&r->waiter->cond);
		pthread_mutex_unlock(&r->waiter->lock);
		if (!__atomic_sub_fetch(&r->waiter->refs, 1, __ATOMIC_ACQ_REL))
			req_free(r);
		return;
	}
	asker = w->dp->workers[r->requester];
	if (mailbox_push(&dp_admin_worker_of(asker)->done, r)) {
		log_error("dataplane: out of memory answering a four-letter word");
		req_free(r);
		return;
	}
	if (asker != w)
		dp_worker_wake(asker);
}

/* Asks the stream's current worker for its next chunk. */
static void post_chunk(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	struct dp_4lw_stream *st = c->stream;
	bool local = st->part != PART_WORKERS && st->part != PART_GATHER;
	struct dp_worker *x = local ? w : w->dp->workers[st->worker];
	struct dp_admin_req *r;

	assert(!st->asked && (local || st->worker < w->dp->nworkers));
	r = calloc(1, sizeof(*r) + sizeof(r->out[0]));
	if (!r) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		dp_conn_abort(c, NULL);
		return;
	}
	r->wd = st->wd;
	r->requester = w->index;
	r->conn = c->id;
	r->nworkers = 1;
	r->pending = 1;
	r->chunk = true;
	r->local = local;
	r->target = x->index;
	r->budget = DP_4LW_CHUNK;
	r->cur = st->cur;
	jute_out_init(&r->out[0], 0);
	if (mailbox_push(&dp_admin_worker_of(x)->inbox, r)) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		req_free(r);
		dp_conn_abort(c, NULL);
		return;
	}
	st->asked = true;
	if (x != w)
		dp_worker_wake(x);
}

/* c's output fell below DP_STREAM_LOW_WATER: ask for its next chunk if none is asked. */
void dp_admin_stream_more(struct dp_conn *c)
{
	struct dp_4lw_stream *st = c->stream;

	if (st && !st->asked && c->state == DP_CONN_RAW)
		post_chunk(c);
}

/*
 * wchc, wchp, cons, stat: the first chunk of worker 0's listing; dump
 * (sessions: the core's tracker, may be NULL): its tracker part first.
 */
void dp_admin_stream_start(struct dp_conn *c, const struct dp_4lw_word *wd, struct repl_sessions *sessions)
{
	struct dp_4lw_stream *st = calloc(1, sizeof(*st));

	if (!st) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		free(sessions);
		dp_conn_abort(c, NULL);
		return;
	}
	st->wd = wd;
	st->sessions = sessions;
	jute_out_init(&st->gathered, 0);
	dp_conn_stream_begin(c, st);
	if (wd->bit == CFG_4LW_STAT) {
		char head[256];

		/* StatCommand's lines (dp_admin_version_lines), then the listing. */
		snprintf(head, sizeof(head), "Zookeeper version: %s\n%sClients:\n", dp_admin_zk_version(),
			 strcmp(dp_admin_server_state(c->w->dp), "read-only")
			     ? ""
			     : "READ-ONLY mode; serving only read-only clients\n");
		if (dp_conn_send(c, head, strlen(head)))
			return;
	} else if (wd->kind == DP_4LW_DUMP) {
		st->part = PART_TRACKER;
		if (dp_conn_send(c, "SessionTracker dump:\n", 21))
			return;
	}
	post_chunk(c);
}

static bool gathered_sort(struct dp_4lw_stream *st);

/*
 * The part that was being produced is complete: go on with the next
 * one.  Returns true when the answer is complete (c is then closing).
 */
static bool next_part(struct dp_conn *c, struct dp_4lw_stream *st)
{
	struct dp_worker *w = c->w;
	struct jute_out o;
	struct dp_admin_totals t;

	memset(&st->cur, 0, sizeof(st->cur));
	switch (st->part) {
	case PART_WORKERS:
		if (++st->worker < w->dp->nworkers)
			return false;
		/* the empty line; stat: then the server's figures (StatCommand) */
		jute_out_init(&o, 0);
		dp_admin_outs(&o, "\n");
		if (st->wd->bit == CFG_4LW_STAT) {
			dp_admin_totals(w->dp, &t);
			dp_admin_server_stats(w->dp, &t, &o);
		}
		dp_conn_stream_end(c);
		dp_admin_answer(c, &o);
		jute_out_free(&o);
		return true;
	case PART_TRACKER:
		st->part = PART_EPH;
		return dp_conn_send(c, "ephemeral nodes dump:\n", 22) != 0;
	case PART_EPH:
		dp_proto_eph_end(st->eph);
		st->eph = NULL;
		st->part = PART_GATHER;
		st->worker = 0;
		return false;
	case PART_GATHER:
		if (++st->worker < w->dp->nworkers)
			return false;
		if (!gathered_sort(st)) {
			log_error("connection %s: out of memory for a four-letter word", c->peer);
			dp_conn_abort(c, NULL);
			return true;
		}
		st->part = PART_CONNS;
		return dp_conn_send(c, "Connections dump:\n", 18) != 0;
	default:
		dp_conn_stream_end(c);
		dp_conn_close(c, NULL);
		return true;
	}
}

/* A chunk is back: queue it, then go on, or end with the empty line. */
static void chunk_done(struct dp_worker *w, struct dp_admin_req *r)
{
	struct dp_conn *c = dp_conn_get(w, r->conn);
	struct dp_4lw_stream *st;

	if (!c || c->state != DP_CONN_RAW || !c->stream)
		return; /* the client left */
	st = c->stream;
	assert(st->asked && (r->local || st->worker == r->target));
	st->asked = false;
	if (st->part == PART_GATHER && r->out[0].len)
		jute_put_raw(&st->gathered, r->out[0].buf, r->out[0].len);
	if (r->out[0].err || st->gathered.err) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		dp_conn_abort(c, NULL);
		return;
	}
	if (st->part != PART_GATHER && r->out[0].len &&
	    dp_conn_send(c, r->out[0].buf, r->out[0].len))
		return; /* being closed */
	if (!r->local)
		st->cur = r->cur;
	if (r->end && next_part(c, st))
		return;
	/* Gathering sends nothing: the next part at once. */
	if (st->part == PART_GATHER || dp_conn_unsent(c) < DP_STREAM_LOW_WATER)
		post_chunk(c);
}

/* sessions (dump's, may be NULL) goes with the request. */
void dp_admin_post(struct dp_conn *c, const struct dp_4lw_word *wd, struct repl_sessions *sessions)
{
	struct dp_worker *w = c->w;
	struct dp *dp = w->dp;
	struct dp_admin_req *r;

	r = calloc(1, sizeof(*r) + dp->nworkers * sizeof(r->out[0]));
	if (!r) {
		log_error("connection %s: out of memory for a four-letter word", c->peer);
		free(sessions);
		dp_conn_abort(c, NULL);
		return;
	}
	r->wd = wd;
	r->sessions = sessions;
	r->requester = w->index;
	r->conn = c->id;
	r->nworkers = dp->nworkers;
	r->pending = dp->nworkers;
	for (uint32_t i = 0; i < dp->nworkers; i++)
		jute_out_init(&r->out[i], 0);
	for (uint32_t i = 0; i < dp->nworkers; i++) {
		struct dp_worker *x = dp->workers[i];

		if (mailbox_push(&dp_admin_worker_of(x)->inbox, r)) {
			log_error("dataplane: out of memory posting a four-letter word");
			answered(w, r); /* worker i's part stays empty */
			continue;
		}
		if (x != w)
			dp_worker_wake(x);
	}
}

void dp_admin_wchs_sum(const struct dp_admin_req *r, struct jute_out *o)
{
	unsigned long long conns = 0, paths = 0, total = 0;

	for (uint32_t i = 0; i < r->nworkers; i++) {
		const struct jute_out *x = &r->out[i];
		char text[160];
		unsigned long long a, b, c;
		size_t n = x->len < sizeof(text) - 1 ? x->len : sizeof(text) - 1;

		if (!n)
			continue;
		memcpy(text, x->buf, n);
		text[n] = '\0';
		if (sscanf(text, "%llu connections watching %llu paths\nTotal watches:%llu", &a, &b,
			   &c) == 3) {
			conns += a;
			paths += b;
			total += c;
		}
	}
	jute_out_printf(o, "%llu connections watching %llu paths\nTotal watches:%llu\n", conns, paths, total);
}

/*
 * java.util.Date.toString() of ms since the epoch: "EEE MMM dd HH:mm:ss
 * zzz yyyy" in the server's time zone, English names whatever the locale.
 */
static void java_date(int64_t ms, char *buf, size_t len)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	time_t sec = (time_t)(ms >= 0 ? ms / 1000 : -((999 - ms) / 1000));
	struct tm tm;

	if (!localtime_r(&sec, &tm)) {
		snprintf(buf, len, "%" PRId64, ms);
		return;
	}
	snprintf(buf, len, "%.3s %.3s %02d %02d:%02d:%02d %s %d", days + 3 * tm.tm_wday,
		 months + 3 * tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 tm.tm_zone ? tm.tm_zone : "GMT", tm.tm_year + 1900);
}

/*
 * SessionTrackerImpl.dumpSessions: "Session " then ExpiryQueue.dump, from
 * the core's copy, a chunk at a time: cur.tag is 1 once the first line
 * is out, cur.i the set, cur.j 0 before its line, else 1 + the next id.
 */
static bool tracker_chunk(struct dp_4lw_stream *st, size_t budget, struct jute_out *o)
{
	const struct repl_sessions *d = st->sessions;
	struct dp_describe_cursor *cur = &st->cur;
	size_t start = o->len;
	const int64_t *ids;
	char date[64];

	if (!d)
		return true;
	ids = repl_sessions_ids(d);
	if (!cur->tag) {
		jute_out_printf(o, "Session Sets (%u)/(%u):\n", d->nsets, d->nsessions);
		cur->tag = 1;
	}
	for (; cur->i < d->nsets; cur->i++, cur->j = 0) {
		if (cur->j == 0) {
			if (o->len - start >= budget)
				return false;
			java_date(d->wall_ms + d->sets[cur->i].expiry_ms - d->now_ms, date,
				  sizeof(date));
			jute_out_printf(o, "%u expire at %s:\n", d->sets[cur->i].n, date);
			cur->j = 1;
		}
		for (; cur->j - 1 < d->sets[cur->i].n; cur->j++) {
			if (o->len - start >= budget)
				return false;
			jute_out_printf(o, "\t0x%llx\n",
					(unsigned long long)ids[d->sets[cur->i].first + cur->j - 1]);
		}
	}
	return true;
}

static int cnxn_cmp(const void *a, const void *b)
{
	const struct cnxn_line *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * NIOServerCnxnFactory.dumpConnections groups by expiry bucket: the
 * workers' "<bucket>\t<line>" texts, gathered whole, are indexed and
 * sorted once (O(n log n) in the connections).  False on ENOMEM.
 */
static bool gathered_sort(struct dp_4lw_stream *st)
{
	const char *p = (const char *)st->gathered.buf, *end = p + st->gathered.len;
	uint32_t cap = 0;

	st->now_ms = (int64_t)(clock_mono_ns() / 1000000);
	st->wall_ms = clock_wall_ms();
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *tab;

		nl = nl ? nl + 1 : end;
		tab = memchr(p, '\t', (size_t)(nl - p));
		if (tab && st->nlines == cap) {
			uint32_t nc = cap ? cap * 2 : 64;
			struct cnxn_line *g = realloc(st->lines, (size_t)nc * sizeof(*g));

			if (!g)
				return false;
			st->lines = g;
			cap = nc;
		}
		if (tab) {
			st->lines[st->nlines] = (struct cnxn_line){ strtoll(p, NULL, 10), st->nlines,
								    (uint32_t)(nl - tab), tab };
			st->nlines++;
		}
		p = nl;
	}
	if (st->nlines)
		qsort(st->lines, st->nlines, sizeof(*st->lines), cnxn_cmp);
	for (uint32_t i = 0; i < st->nlines; i++)
		st->nsets += i == 0 || st->lines[i].bucket != st->lines[i - 1].bucket;
	return true;
}

/* ExpiryQueue.dump of the sorted connections, a chunk at a time (cur.i: next line). */
static bool conns_chunk(struct dp_4lw_stream *st, size_t budget, struct jute_out *o)
{
	struct dp_describe_cursor *cur = &st->cur;
	size_t start = o->len;
	char date[64];

	if (!cur->tag) {
		jute_out_printf(o, "Connections Sets (%u)/(%u):\n", st->nsets, st->nlines);
		cur->tag = 1;
	}
	for (; cur->i < st->nlines; cur->i++) {
		const struct cnxn_line *v = &st->lines[cur->i];

		if (o->len - start >= budget)
			return false;
		if (cur->i == 0 || v->bucket != v[-1].bucket) {
			uint32_t k = cur->i;

			while (k < st->nlines && st->lines[k].bucket == v->bucket)
				k++;
			java_date(st->wall_ms + v->bucket - st->now_ms, date, sizeof(date));
			jute_out_printf(o, "%u expire at %s:\n", k - cur->i, date);
		}
		jute_put_raw(o, v->text, v->len);
	}
	return true;
}

/* A local part's next chunk (on the asker, for its connection r->conn). */
static bool local_chunk(struct dp_worker *w, struct dp_admin_req *r)
{
	struct dp_conn *c = dp_conn_get(w, r->conn);
	struct dp_4lw_stream *st = c ? c->stream : NULL;

	if (!st || c->state != DP_CONN_RAW)
		return true; /* the client left: chunk_done drops it */
	switch (st->part) {
	case PART_TRACKER:
		return tracker_chunk(st, r->budget, &r->out[0]);
	case PART_EPH:
		if (!dp_admin_proto_of(w))
			return true;
		if (!st->eph && !st->cur.tag) {
			st->cur.tag = 1; /* begun (NULL: out of memory, logged: nothing listed) */
			st->eph = dp_proto_eph_begin(dp_admin_proto_of(w));
		}
		return !st->eph || dp_proto_eph_chunk(dp_admin_proto_of(w), st->eph, r->budget, &r->out[0]);
	case PART_CONNS:
		return conns_chunk(st, r->budget, &r->out[0]);
	default:
		return true;
	}
}

/* Every worker has answered r: build the text and reply. */
static void finish(struct dp_worker *w, struct dp_admin_req *r)
{
	struct dp_conn *c;
	struct jute_out o;

	if (r->chunk) {
		chunk_done(w, r);
		return;
	}
	c = dp_conn_get(w, r->conn);
	if (!c || c->state != DP_CONN_RAW)
		return; /* the client left */
	jute_out_init(&o, 0);
	r->wd->finish(r, &o);
	dp_admin_answer(c, &o);
	jute_out_free(&o);
}

static void sessions_done(struct dp_worker *w, uint32_t conn, struct repl_sessions *d);

/* Serves this worker's mailbox; finishes requests it made. */
void dp_admin_poll(struct dp_worker *w)
{
	struct dp_proto *p = dp_admin_proto_of(w);
	struct dp_admin_req **v;
	uint32_t n;

	mailbox_take(&dp_admin_worker_of(w)->inbox, &v, &n);
	for (uint32_t i = 0; i < n; i++) {
		struct dp_admin_req *r = v[i];

		if (r->wd->bit == CFG_4LW_SRST) {
			/* ServerMetrics.resetAll: this worker's I/O counters too. */
			__atomic_store_n(&dp_admin_worker_of(w)->fourlw, 0, __ATOMIC_RELAXED);
			dp_worker_stats_reset(w);
			/* And, once, the core's (the log writer's summaries). */
			if (w->index == 0 && w->dp->repl) {
				repl_reset_stats(w->dp->repl);
				dp_admin_repl_counters_reset(w->dp);
			}
			/* And, once, the per-namespace summaries' (every table's). */
			if (w->index == 0 && w->dp->ns)
				nsstat_reset(w->dp->ns);
		}
		if (r->infos) {
			/* dp_info_connections: a chunk of this worker's connections. */
			assert(r->target == w->index);
			r->end = !p || dp_proto_conn_infos(p, &r->cur.i, r->infos, DP_INFO_CHUNK,
							   &r->ninfos);
		} else if (r->ask_sessions) {
			/* dp_info_sessions: answered when the core's tracker comes (sessions_done). */
			struct dp_admin_worker *aw = dp_admin_worker_of(w);

			if (p && !aw->info_sessions &&
			    !dp_proto_ask_sessions(p, DP_ADMIN_INFO_CONN, sessions_done)) {
				aw->info_sessions = r;
				continue;
			}
		} else if (r->chunk && r->local) {
			assert(r->target == w->index && r->requester == w->index);
			r->end = local_chunk(w, r);
		} else if (r->chunk) {
			assert(r->target == w->index);
			r->end = !p || dp_proto_describe_chunk(p, r->wd->bit, &r->cur, r->budget,
							       &r->out[0]);
		} else if (p) {
			dp_proto_describe(p, r->wd->bit, &r->out[w->index]);
		}
		answered(w, r);
	}
	free(v);
	mailbox_take(&dp_admin_worker_of(w)->done, &v, &n);
	for (uint32_t i = 0; i < n; i++) {
		finish(w, v[i]);
		req_free(v[i]);
	}
	free(v);
}

/*
 * Shutdown (the worker's own last act, then dp_stop for every worker,
 * twice, once no thread runs): queued requests are answered empty, which
 * may hand them to another worker's done list; finished ones are freed.
 */
void dp_admin_drain(struct dp_worker *w)
{
	struct dp_admin_req **v;
	uint32_t n;

	mailbox_take(&dp_admin_worker_of(w)->inbox, &v, &n);
	for (uint32_t i = 0; i < n; i++)
		answered(w, v[i]);
	free(v);
	if (dp_admin_worker_of(w)->info_sessions) {
		/* the core will not answer any more: the waiter gets no tracker */
		answered(w, dp_admin_worker_of(w)->info_sessions);
		dp_admin_worker_of(w)->info_sessions = NULL;
	}
	mailbox_take(&dp_admin_worker_of(w)->done, &v, &n);
	for (uint32_t i = 0; i < n; i++)
		req_free(v[i]);
	free(v);
}

/* The core's answer to dp_proto_ask_sessions (dump): d is ours (NULL: out of memory). */
static void sessions_done(struct dp_worker *w, uint32_t conn, struct repl_sessions *d)
{
	struct dp_conn *c;

	if (conn == DP_ADMIN_INFO_CONN) {
		/* dp_info_sessions' (info.c): the waiter takes d. */
		struct dp_admin_req *r = dp_admin_worker_of(w)->info_sessions;

		dp_admin_worker_of(w)->info_sessions = NULL;
		if (!r) {
			free(d);
			return;
		}
		r->sessions = d;
		answered(w, r);
		return;
	}
	c = dp_conn_get(w, conn);

	if (!c || c->state != DP_CONN_RAW) {
		free(d); /* the client left */
		return;
	}
	dp_admin_stream_start(c, dp_admin_worker_of(w)->dump, d);
}

/* dump: the core's session tracker first (sessions_done goes on). */
void dp_admin_ask_sessions(struct dp_conn *c, const struct dp_4lw_word *wd)
{
	struct dp_proto *p = dp_admin_proto_of(c->w);

	dp_admin_worker_of(c->w)->dump = wd;
	if (!p || dp_proto_ask_sessions(p, c->id, sessions_done))
		dp_admin_stream_start(c, wd, NULL);
}

/*
 * The AdminServer's gathered words (dp.h): the request goes to every
 * worker's mailbox as a connection's would; the caller waits, at most
 * DP_ADMIN_GATHER_WAIT_MS, on a condition the last worker to answer
 * signals, then builds the text with the word's finish().  On a timeout
 * the request is left to the workers, the last of which frees it.
 */
#define DP_ADMIN_GATHER_WAIT_MS 5000
/* The most text of a listing (wchc, wchp) the AdminServer takes. */
#define DP_ADMIN_LISTING_MAX (32u << 20)

static struct dp_admin_req *waited_req(const struct dp_4lw_word *wd, uint32_t nparts)
{
	struct dp_admin_req *r = calloc(1, sizeof(*r) + nparts * sizeof(r->out[0]));
	struct dp_admin_waiter *wt = calloc(1, sizeof(*wt));
	pthread_condattr_t ca;

	if (!r || !wt) {
		free(r);
		free(wt);
		return NULL;
	}
	pthread_mutex_init(&wt->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wt->cond, &ca);
	pthread_condattr_destroy(&ca);
	wt->refs = 2;
	r->waiter = wt;
	r->wd = wd;
	r->requester = UINT32_MAX; /* no worker: the waiter */
	r->nworkers = nparts;
	r->pending = nparts;
	for (uint32_t i = 0; i < nparts; i++)
		jute_out_init(&r->out[i], 0);
	return r;
}

/* Waits until the last worker answered r, at most DP_ADMIN_GATHER_WAIT_MS. */
static bool wait_answered(struct dp_admin_req *r)
{
	struct dp_admin_waiter *wt = r->waiter;
	struct timespec until;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += DP_ADMIN_GATHER_WAIT_MS / 1000;
	pthread_mutex_lock(&wt->lock);
	while (!wt->done)
		if (pthread_cond_timedwait(&wt->cond, &wt->lock, &until) == ETIMEDOUT)
			break;
	done = wt->done;
	pthread_mutex_unlock(&wt->lock);
	return done;
}

/* The waiter lets go of r (the last of it and the workers frees it). */
static void waiter_done(struct dp_admin_req *r)
{
	if (!__atomic_sub_fetch(&r->waiter->refs, 1, __ATOMIC_ACQ_REL))
		req_free(r);
}

struct dp_admin_req *dp_admin_waited_req(const struct dp_4lw_word *wd, uint32_t nparts)
{
	return waited_req(wd, nparts);
}

int dp_admin_push(struct dp_worker *x, struct dp_admin_req *r)
{
	int rc = mailbox_push(&dp_admin_worker_of(x)->inbox, r);

	if (!rc)
		dp_worker_wake(x);
	return rc;
}

bool dp_admin_wait_answered(struct dp_admin_req *r)
{
	return wait_answered(r);
}

void dp_admin_waiter_done(struct dp_admin_req *r)
{
	waiter_done(r);
}

/*
 * wchc and wchp for the AdminServer: each worker's listing in turn, a
 * chunk (DP_4LW_CHUNK) per request, as a client's stream asks for them,
 * so no worker spends longer on it between two turns of its loop; then
 * the empty line.  At most DP_ADMIN_LISTING_MAX bytes (-E2BIG).
 */
static int dp_admin_listing_text(struct dp *dp, const char *word, char **out, size_t *len)
{
	const struct dp_4lw_word *wd = dp_admin_listing_word(word);
	struct jute_out o;
	int ret = 0;

	if (!wd)
		return -ENOENT;
	if (wd->serving && !strcmp(dp_admin_server_state(dp), "looking"))
		return -EAGAIN;
	jute_out_init(&o, 0);
	for (uint32_t i = 0; i < dp->nworkers && !ret; i++) {
		struct dp_describe_cursor cur;
		bool end = false;

		memset(&cur, 0, sizeof(cur));
		while (!end && !ret) {
			struct dp_worker *x = dp->workers[i];
			struct dp_admin_req *r = waited_req(wd, 1);

			if (!r) {
				ret = -ENOMEM;
				break;
			}
			r->chunk = true;
			r->target = i;
			r->budget = DP_4LW_CHUNK;
			r->cur = cur;
			if (mailbox_push(&dp_admin_worker_of(x)->inbox, r)) {
				r->waiter->refs = 1;
				req_free(r);
				ret = -ENOMEM;
				break;
			}
			dp_worker_wake(x);
			if (!wait_answered(r)) {
				log_warn("AdminServer: worker %u did not answer %s within %d ms", i, word,
					 DP_ADMIN_GATHER_WAIT_MS);
				ret = -ETIMEDOUT;
			} else {
				jute_put_raw(&o, r->out[0].buf, r->out[0].len);
				cur = r->cur;
				end = r->end;
				if (o.len > DP_ADMIN_LISTING_MAX)
					ret = -E2BIG;
			}
			waiter_done(r);
		}
	}
	dp_admin_outs(&o, "\n");
	jute_put_raw(&o, "", 1); /* the NUL */
	if (!ret && o.err)
		ret = -ENOMEM;
	if (ret) {
		jute_out_free(&o);
		return ret;
	}
	*out = (char *)o.buf;
	*len = o.len - 1;
	return 0;
}

int dp_admin_gather_text(struct dp *dp, const char *word, char **out, size_t *len)
{
	const struct dp_4lw_word *wd = dp_admin_gather_word(word);
	struct dp_admin_req *r;
	struct jute_out o;
	int ret = 0;

	*out = NULL;
	*len = 0;
	if (!wd)
		return dp_admin_listing_text(dp, word, out, len);
	if (wd->serving && !strcmp(dp_admin_server_state(dp), "looking"))
		return -EAGAIN;
	r = waited_req(wd, dp->nworkers);
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < dp->nworkers; i++) {
		struct dp_worker *x = dp->workers[i];

		if (mailbox_push(&dp_admin_worker_of(x)->inbox, r)) {
			answered(x, r); /* worker i's part stays empty */
			continue;
		}
		dp_worker_wake(x);
	}
	if (wait_answered(r)) {
		jute_out_init(&o, 0);
		wd->finish(r, &o);
		jute_put_raw(&o, "", 1); /* the NUL */
		if (o.err) {
			jute_out_free(&o);
			ret = -ENOMEM;
		} else {
			*out = (char *)o.buf;
			*len = o.len - 1;
		}
	} else {
		log_warn("AdminServer: the workers did not answer %s within %d ms", word,
			 DP_ADMIN_GATHER_WAIT_MS);
		ret = -ETIMEDOUT;
	}
	waiter_done(r);
	return ret;
}
