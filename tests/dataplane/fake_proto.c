// SPDX-License-Identifier: Apache-2.0
/*
 * A stand-in protocol layer for the I/O layer's tests: it implements the
 * dp_proto_* hooks of dataplane/session/session.h with a tiny text protocol.
 * Every frame's payload is a command; anything unknown is echoed back as
 * a frame:
 *
 *   "id"            reply the connection's id ("%u")
 *   "lookup <id>"   reply "found" or "none" (dp_conn_lookup)
 *   "close"         reply "bye", then dp_conn_close
 *   "fail"          return -EPROTO (the I/O layer closes)
 *   "flood <n>"     queue n bytes in 60 KiB frames built in place
 *                   (dp_conn_out_begin/commit); stops at the first error
 *   "send <n>"      the same through dp_conn_send
 *   "big <n>"       queue one frame of n bytes (byte i is i % 251)
 *
 * dp_proto_describe answers the admin words with fixed per-worker texts
 * the tests can predict (wchc/wchp: dp_proto_describe_chunk's, as long as
 * fake_wch_lines asks; cons/stat/dump: the same lines in chunks too);
 * dp_proto_stats reports fixed numbers per worker.
 * For dump, dp_proto_ask_sessions answers at once with a canned session
 * tracker (fake_sessions_dump), dp_proto_ephemerals with a fixed text, and
 * every connection's dump line is in bucket 30000 (worker 0 adds
 * fake_dump_lines).
 * Counters (fake_*) are global atomics the tests read.
 *
 * Thread: each hook runs on its worker, as the real layer's do.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist.h"
#include "dataplane/zkproto/proto.h"
#include "fake.h"
#include "replication/repl.h"

uint32_t fake_opened;
uint32_t fake_closed;
uint32_t fake_frames;
uint32_t fake_ticks;
int fake_flood_result;
const char *fake_dump_lines;
uint32_t fake_wch_lines;
uint32_t fake_chunks;
uint32_t fake_max_chunk;

struct dp_proto {
	struct dp_worker *w;
	uint32_t ids[4096];
	uint32_t nids;
};

struct dp_proto *dp_proto_new(struct dp_worker *w)
{
	struct dp_proto *p = calloc(1, sizeof(*p));

	if (p)
		p->w = w;
	return p;
}

void dp_proto_free(struct dp_proto *p)
{
	free(p);
}

void dp_proto_opened(struct dp_proto *p, struct dp_conn *c)
{
	if (p->nids < 4096)
		p->ids[p->nids++] = dp_conn_id(c);
	dp_conn_set_user(c, p);
	__atomic_add_fetch(&fake_opened, 1, __ATOMIC_SEQ_CST);
}

void dp_proto_closed(struct dp_proto *p, struct dp_conn *c)
{
	uint32_t id = dp_conn_id(c);

	for (uint32_t i = 0; i < p->nids; i++) {
		if (p->ids[i] == id) {
			p->ids[i] = p->ids[--p->nids];
			break;
		}
	}
	__atomic_add_fetch(&fake_closed, 1, __ATOMIC_SEQ_CST);
}

static void reply(struct dp_conn *c, const void *buf, size_t len)
{
	uint8_t hdr[4];

	jute_put_be32(hdr, (uint32_t)len);
	dp_conn_send(c, hdr, 4);
	dp_conn_send(c, buf, len);
}

static void reply_str(struct dp_conn *c, const char *s)
{
	reply(c, s, strlen(s));
}

static int flood(struct dp_conn *c, uint64_t n, bool in_place)
{
	static uint8_t chunk[60 * 1024];
	int ret = 0;

	while (n && !ret) {
		size_t len = n < sizeof(chunk) ? (size_t)n : sizeof(chunk);

		if (in_place) {
			struct jute_out *o = dp_conn_out_begin(c);
			struct proto_frame f;

			proto_frame_begin(o, &f);
			jute_put_raw(o, chunk, len);
			ret = proto_frame_end(o, &f);
			if (!ret)
				ret = dp_conn_out_commit(c);
		} else {
			uint8_t hdr[4];

			jute_put_be32(hdr, (uint32_t)len);
			ret = dp_conn_send(c, hdr, 4);
			if (!ret)
				ret = dp_conn_send(c, chunk, len);
		}
		n -= len;
	}
	return ret;
}

static int big(struct dp_conn *c, uint64_t n)
{
	struct jute_out *o = dp_conn_out_begin(c);
	struct proto_frame f;
	uint8_t chunk[4096];
	uint64_t at = 0;
	int ret;

	proto_frame_begin(o, &f);
	while (at < n) {
		size_t k = n - at < sizeof(chunk) ? (size_t)(n - at) : sizeof(chunk);

		for (size_t i = 0; i < k; i++)
			chunk[i] = (uint8_t)((at + i) % 251);
		jute_put_raw(o, chunk, k);
		at += k;
	}
	ret = proto_frame_end(o, &f);
	return ret ? ret : dp_conn_out_commit(c);
}

int dp_proto_frame(struct dp_proto *p, struct dp_conn *c, const uint8_t *payload, uint32_t len)
{
	char cmd[64];
	unsigned long long n;
	unsigned id;

	__atomic_add_fetch(&fake_frames, 1, __ATOMIC_SEQ_CST);
	if (dp_conn_user(c) != p)
		return -EINVAL; /* user pointer lost */
	snprintf(cmd, sizeof(cmd), "%.*s", (int)(len < 63 ? len : 63), (const char *)payload);
	if (len < 63 && !strcmp(cmd, "id")) {
		snprintf(cmd, sizeof(cmd), "%u", dp_conn_id(c));
		reply_str(c, cmd);
	} else if (len < 63 && sscanf(cmd, "lookup %u", &id) == 1) {
		reply_str(c, dp_conn_lookup(p->w, id) ? "found" : "none");
	} else if (len < 63 && !strcmp(cmd, "close")) {
		reply_str(c, "bye");
		dp_conn_close(c, "asked to");
		/* Closed connections are no longer found, even by their owner. */
		if (dp_conn_lookup(p->w, dp_conn_id(c)))
			reply_str(c, "still found");
	} else if (len < 63 && !strcmp(cmd, "fail")) {
		return -EPROTO;
	} else if (len < 63 && sscanf(cmd, "flood %llu", &n) == 1) {
		__atomic_store_n(&fake_flood_result, flood(c, n, true), __ATOMIC_SEQ_CST);
	} else if (len < 63 && sscanf(cmd, "big %llu", &n) == 1) {
		__atomic_store_n(&fake_flood_result, big(c, n), __ATOMIC_SEQ_CST);
	} else if (len < 63 && sscanf(cmd, "send %llu", &n) == 1) {
		__atomic_store_n(&fake_flood_result, flood(c, n, false), __ATOMIC_SEQ_CST);
	} else {
		reply(c, payload, len);
	}
	return 0;
}

void dp_proto_poll(struct dp_proto *p)
{
	(void)p;
}

bool dp_proto_pending(const struct dp_proto *p)
{
	(void)p;
	return false;
}

bool dp_proto_has_work(const struct dp_proto *p)
{
	(void)p;
	return false;
}

void dp_proto_tick(struct dp_proto *p, uint64_t now_ns)
{
	(void)p;
	(void)now_ns;
	__atomic_add_fetch(&fake_ticks, 1, __ATOMIC_SEQ_CST);
}

/* No latencies in the fake layer. */
void dp_proto_latency(const struct dp_proto *p, struct hist *read_us, struct hist *update_us)
{
	(void)p;
	memset(read_us, 0, sizeof(*read_us));
	memset(update_us, 0, sizeof(*update_us));
}

/* No watch fired on a fake worker. */
void dp_proto_watch_fired(const struct dp_proto *p, struct hist *out)
{
	(void)p;
	memset(out, 0, 4 * sizeof(*out));
}

void dp_proto_stats(const struct dp_proto *p, struct dp_proto_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->packets_received = 10;
	st->packets_sent = 20;
	st->outstanding = 1;
	st->watches = 3;
	st->watched_paths = 2;
	st->ephemerals_hint = 4;
	st->sessions = p->nids;
	/* Per worker, in ms as ZooKeeper shows them: min 1, max 3 (rounded up), avg 1.2343. */
	st->latency_min_us = 1000;
	st->latency_max_us = 2500;
	st->latency_sum_us = 3703;
	st->latency_count = 3;
	st->connections = p->nids;
	/*
	 * Worker i: response figures 100 + i bytes (30 at the last srst),
	 * last 50 + i (worker i's clock i + 1: the highest worker's is the
	 * newest), min 16 + i, max 200 + i; watch bytes 40 (10 at srst),
	 * 5 sessionless expiries (2), 3 revalidations (1).
	 */
	uint32_t wi = dp_worker_index(p->w);

	st->response_bytes = 100 + wi;
	st->srst_response_bytes = 30;
	st->resp_last_ns = wi + 1;
	st->resp_last = 50 + wi;
	st->resp_min = 16 + wi;
	st->resp_max = 200 + wi;
	st->watch_bytes = 40;
	st->srst_watch_bytes = 10;
	st->sessionless_expired = 5;
	st->srst_sessionless = 2;
	st->conn_revalidate = 3;
	st->srst_revalidate = 1;
	/* NodeCreated: worker i saw 2 events since srst, 1 + i and 3 + i watchers */
	st->watch_fired[0].cnt = 2;
	st->watch_fired[0].sum = 4 + 2 * wi;
	st->watch_fired[0].min = 1 + wi;
	st->watch_fired[0].max = 3 + wi;
}

void dp_proto_describe(const struct dp_proto *p, uint32_t word, struct jute_out *out)
{
	char line[128];
	uint32_t wi = dp_worker_index(p->w);

	if (word == CFG_4LW_WCHS) {
		snprintf(line, sizeof(line), "1 connections watching 2 paths\nTotal watches:3");
	} else if (word == CFG_4LW_CONS || word == CFG_4LW_STAT) {
		line[0] = '\0';
		for (uint32_t i = 0; i < p->nids; i++) {
			struct dp_conn *c = dp_conn_lookup(p->w, p->ids[i]);

			if (c) {
				char one[96];

				snprintf(one, sizeof(one), " /%s[1](queued=0,recved=0,sent=0)\n",
					 dp_conn_peer(c));
				jute_put_raw(out, one, strlen(one));
			}
		}
	} else if (word == CFG_4LW_WCHC || word == CFG_4LW_WCHP) {
		struct dp_describe_cursor cur = { 0 };

		dp_proto_describe_chunk(p, word, &cur, SIZE_MAX, out);
		line[0] = '\0';
	} else if (word == CFG_4LW_DUMP) {
		line[0] = '\0';
		for (uint32_t i = 0; i < p->nids; i++) {
			struct dp_conn *c = dp_conn_lookup(p->w, p->ids[i]);

			if (c) {
				char one[128];

				snprintf(one, sizeof(one), "30000\tip: /%s sessionId: 0x0\n",
					 dp_conn_peer(c));
				jute_put_raw(out, one, strlen(one));
			}
		}
		if (wi == 0 && fake_dump_lines)
			jute_put_raw(out, fake_dump_lines, strlen(fake_dump_lines));
	} else {
		line[0] = '\0';
	}
	jute_put_raw(out, line, strlen(line));
}

/* The largest chunk any worker built, for the tests. */
static void note_chunk(size_t len)
{
	for (uint32_t m = __atomic_load_n(&fake_max_chunk, __ATOMIC_SEQ_CST);
	     len > m && !__atomic_compare_exchange_n(&fake_max_chunk, &m, (uint32_t)len, false,
						     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);)
		;
}

/*
 * wchc/wchp: "0x<worker>\n", then "\t/w<worker>\n" when fake_wch_lines
 * is 0, else fake_wch_lines lines "\t/w<worker>/<k, 8 digits>\n".
 * cur->j is 0 before the header, else 1 + the next k.
 */
bool dp_proto_describe_chunk(const struct dp_proto *p, uint32_t word,
			     struct dp_describe_cursor *cur, size_t budget, struct jute_out *out)
{
	uint32_t wi = dp_worker_index(p->w);
	uint32_t n = fake_wch_lines ? fake_wch_lines : 1;
	size_t start = out->len;

	__atomic_add_fetch(&fake_chunks, 1, __ATOMIC_SEQ_CST);
	if (word == CFG_4LW_CONS || word == CFG_4LW_STAT || word == CFG_4LW_DUMP) {
		/* dp_proto_describe's lines, cur->i the next connection */
		for (; cur->i < p->nids; cur->i++) {
			struct dp_conn *c = dp_conn_lookup(p->w, p->ids[cur->i]);

			if (!c)
				continue;
			if (out->len - start >= budget) {
				note_chunk(out->len - start);
				return false;
			}
			if (word == CFG_4LW_DUMP)
				jute_out_printf(out, "30000\tip: /%s sessionId: 0x0\n", dp_conn_peer(c));
			else
				jute_out_printf(out, " /%s[1](queued=0,recved=0,sent=0)\n",
						dp_conn_peer(c));
		}
		if (word == CFG_4LW_DUMP && wi == 0 && fake_dump_lines && !cur->j) {
			jute_put_raw(out, fake_dump_lines, strlen(fake_dump_lines));
			cur->j = 1;
		}
		note_chunk(out->len - start);
		return true;
	}
	if (cur->j == 0) {
		jute_out_printf(out, "0x%u\n", wi);
		cur->j = 1;
	}
	for (; cur->j - 1 < n; cur->j++) {
		if (out->len - start >= budget)
			break;
		if (fake_wch_lines)
			jute_out_printf(out, "\t/w%u/%08u\n", wi, cur->j - 1);
		else
			jute_out_printf(out, "\t/w%u\n", wi);
	}
	note_chunk(out->len - start);
	return cur->j - 1 >= n;
}

struct repl_sessions *fake_sessions_dump(void)
{
	struct repl_sessions *d = calloc(1, sizeof(*d) + 3 * sizeof(d->sets[0]) + 3 * 8);
	int64_t *ids;

	if (!d)
		return NULL;
	d->now_ms = 1000000;
	d->wall_ms = 1795339800000; /* Sun Nov 22 09:30:00 UTC 2026 */
	d->nsessions = 3;
	d->nsets = 3;
	d->sets[0].expiry_ms = 1002000;
	d->sets[0].n = 1;
	d->sets[1].expiry_ms = 1004000; /* every session left it */
	d->sets[1].first = 1;
	d->sets[2].expiry_ms = 1020000;
	d->sets[2].first = 1;
	d->sets[2].n = 2;
	ids = (int64_t *)(void *)&d->sets[3];
	ids[0] = 0x1000099e3d60000;
	ids[1] = 0x1000099e3d60001;
	ids[2] = 0x1000099e3d60002;
	return d;
}

int dp_proto_ask_sessions(struct dp_proto *p, uint32_t conn, dp_sessions_done *done)
{
	struct repl_sessions *d = fake_sessions_dump();

	if (!d)
		return -ENOMEM;
	done(p->w, conn, d);
	return 0;
}

/* The walk: its fixed text in one part. */
struct dp_eph_walk {
	int unused;
};

struct dp_eph_walk *dp_proto_eph_begin(const struct dp_proto *p)
{
	(void)p;
	return calloc(1, sizeof(struct dp_eph_walk));
}

bool dp_proto_eph_chunk(const struct dp_proto *p, struct dp_eph_walk *e, size_t budget,
			struct jute_out *out)
{
	(void)e;
	(void)budget;
	dp_proto_ephemerals(p, out);
	return true;
}

void dp_proto_eph_end(struct dp_eph_walk *e)
{
	free(e);
}

void dp_proto_ephemerals(const struct dp_proto *p, struct jute_out *out)
{
	static const char text[] = "Sessions with Ephemerals (1):\n0x1000099e3d60000:\n\t/e1\n";

	(void)p;
	jute_put_raw(out, text, sizeof(text) - 1);
}

/* The AdminServer's connections (session/info.c): this fake lists none. */
bool dp_proto_conn_infos(const struct dp_proto *p, uint32_t *slot, struct dp_conn_info *out,
			 uint32_t max, uint32_t *n)
{
	(void)p;
	(void)slot;
	(void)out;
	(void)max;
	*n = 0;
	return true;
}

/* The AdminServer's digest authentication (session/digest.c): not exercised here. */
size_t dp_digest_id(const uint8_t *auth, size_t len, char *out)
{
	(void)auth;
	(void)len;
	out[0] = '\0';
	return 0;
}
