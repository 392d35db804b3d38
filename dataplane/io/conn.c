/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections of one worker: ids, input framing, bounded output, closing.
 *
 * Ids.  A connection's id is its slot index (low DP_CONN_SLOT_BITS bits)
 * and the slot's generation (the 12 bits above, never 0), so an id is
 * never 0, dp_conn_lookup is one array access, and an id kept by a ring
 * message after its connection closed finds nothing: a freed slot's
 * generation moves on, and freed slots are reused in FIFO order, so the
 * same slot comes back only after every other free slot did (a stale id
 * would have to outlive 4095 reuses of its slot to match again).
 *
 * Input.  Bytes are received into the worker's scratch buffer and framed
 * there (4-byte big-endian length, then the payload): a complete frame is
 * handed to the protocol layer straight from the scratch buffer, and only
 * the tail of a frame split across reads is copied into the connection's
 * own buffer, sized for that frame.  A length below 0 or above
 * jute.maxbuffer closes the connection with "Len error", as ZooKeeper's
 * NIOServerCnxn.readLength.  Before any framing the first 4 bytes of a
 * connection go to the layer above (dp_upper_ops.first: the admin layer
 * checks them for a four-letter word, as ZooKeeper does before a
 * connection's ConnectRequest), which may take the connection out of
 * framing (a word is answered and the connection closed) or ask for a
 * few more bytes as one unit ("stmk"'s 8-byte mask, read as if it were
 * a frame of 8 bytes).  The payload pointer given to dp_upper_ops.frame
 * is valid during the call only.
 *
 * Output.  Frames are appended to one contiguous buffer per connection
 * (so dp_conn_out_begin can hand out a jute_out to build a frame in
 * place) and written once per loop iteration with one send per
 * connection, whatever the number of frames queued in between
 * (dp_conn_send_now, for a large watch fan-out, writes a frame at once
 * from the caller's shared buffer when nothing is queued, and queues
 * only what the socket did not take).  A
 * connection holds a buffer only while it has unsent bytes: a drained one
 * goes back to the worker's small pool (out_pool), so memory follows the
 * connections that are sending, not every connection's busiest moment.
 * The pool itself shrinks too: buffers below its low-water mark were not
 * taken during a whole tick and are freed then (dp_conn_trim_pool), so a
 * burst of large replies does not keep 64 buffers after it.
 *
 * The output bound.  What a client that stops reading can make us hold is
 * the backlog *behind* the frame being written (the head: the first frame
 * with unsent bytes), not that frame itself: one reply may be of any size
 * (a getChildren of 200,000 children is 5.6 MB; ZooKeeper sends it and
 * kazoo reads it), and it is being written.  A send is refused, and the
 * client dropped ("client not reading"), when bytes already wait behind
 * the head and the send would take them past max(2 x jute.maxbuffer,
 * 4 MiB) (dp->out_bound); the first send behind the head is always taken,
 * so two large replies in a row pass too.  A slow reader thus holds at
 * most the head, one more frame of any size and the bound.  The head is
 * found by walking the 4-byte length prefixes of the queued frames
 * (head_end, advanced lazily at each send); protocol output is whole
 * frames, though a frame may come in several sends (prefix first).  A
 * four-letter word's text is not framed: its output is one unit, and the
 * long ones (wchc, wchp) are produced in chunks only while the queue is
 * short (dp_conn_stream_begin; admin/fourlw.c), so they never hold more
 * than a chunk or two.
 *
 * Closing.  dp_conn_close stops reading, lets queued output drain (for at
 * most DP_CLOSE_LINGER_MS) and then closes; dp_conn_abort (errors, end of
 * stream, overflow) drops the output.  The layer above hears
 * dp_upper_ops.closed once, from the worker loop (dp_conn_reap), never from
 * inside one of its own calls, and a closing connection is no longer
 * found by dp_conn_lookup; sends to it are dropped.
 *
 * Limits (maxCnxns, maxClientCnxns, file descriptors) are limits.c's:
 * dp_limits_admit counts a connection in before it is served,
 * dp_limits_release out when it is freed.
 *
 * TLS (io/tls.c).  A connection from the secure client port, or one on
 * the plain port whose first byte is a TLS handshake record with
 * client.portUnification (looked at without taking it, dp_tls_sniff),
 * reads and writes through OpenSSL instead of the backend; framing,
 * four-letter words, bounds and closing are the same.  A TLS read that
 * needs the socket writable arms it for writing and is retried when it
 * is; a handshake not finished within DP_TLS_HANDSHAKE_MS is closed
 * (dp_conn_tls_tick).  A TLS read returns one record at a time, so a
 * short one ends the turn only when OpenSSL holds no more bytes (what is
 * left is then in the socket, which level-triggered readiness reports).
 *
 * Thread: everything here runs on the worker that owns the connection.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "config/config.h"
#include "dataplane/io/io_priv.h"
#include "replication/repl.h"

/* The core keeps state per slot on the reuse rule above (repl.h). */
_Static_assert(DP_CONN_SLOT_BITS == REPL_CONN_SLOT_BITS, "connection id layout");

#define ID_GEN_MASK ((1u << (32 - DP_CONN_SLOT_BITS)) - 1)
#define NO_SLOT UINT32_MAX
/* Buffers larger than this are freed once empty, not kept for reuse. */
#define KEEP_BUF (64u * 1024)

/* ------------------------------------------------------------------ */
/* Ids and slots                                                       */
/* ------------------------------------------------------------------ */

static uint32_t slot_alloc(struct dp_worker *w)
{
	uint32_t idx;

	if (w->free_head == NO_SLOT) {
		uint32_t old = w->nslots, n = old ? old * 2 : 64;
		struct dp_slot *s;

		if (old >= DP_CONN_MAX_SLOTS)
			return NO_SLOT;
		if (n > DP_CONN_MAX_SLOTS)
			n = DP_CONN_MAX_SLOTS;
		s = realloc(w->slots, n * sizeof(*s));
		if (!s)
			return NO_SLOT;
		for (uint32_t i = old; i < n; i++)
			s[i] = (struct dp_slot){ NULL, 1, i + 1 < n ? i + 1 : NO_SLOT };
		w->slots = s;
		w->nslots = n;
		w->free_head = old;
		w->free_tail = n - 1;
	}
	idx = w->free_head;
	w->free_head = w->slots[idx].next;
	if (w->free_head == NO_SLOT)
		w->free_tail = NO_SLOT;
	return idx;
}

static void slot_free(struct dp_worker *w, uint32_t idx)
{
	struct dp_slot *s = &w->slots[idx];

	s->c = NULL;
	s->gen = (s->gen + 1) & ID_GEN_MASK;
	if (!s->gen)
		s->gen = 1;
	s->next = NO_SLOT;
	if (w->free_tail == NO_SLOT)
		w->free_head = idx;
	else
		w->slots[w->free_tail].next = idx;
	w->free_tail = idx;
}

struct dp_conn *dp_conn_get(struct dp_worker *w, uint32_t id)
{
	uint32_t idx = id & (DP_CONN_MAX_SLOTS - 1);
	struct dp_slot *s;

	if (idx >= w->nslots)
		return NULL;
	s = &w->slots[idx];
	if (!s->c || s->gen != id >> DP_CONN_SLOT_BITS)
		return NULL;
	return s->c;
}

/* ------------------------------------------------------------------ */
/* Services to the layers above (io.h)                                 */
/* ------------------------------------------------------------------ */

uint32_t dp_conn_id(const struct dp_conn *c)
{
	return c->id;
}

struct dp_conn *dp_conn_lookup(struct dp_worker *w, uint32_t id)
{
	struct dp_conn *c = dp_conn_get(w, id);

	return c && c->state != DP_CONN_CLOSING ? c : NULL;
}

struct dp_conn *dp_conn_next(struct dp_worker *w, uint32_t *slot)
{
	for (uint32_t i = *slot; i < w->nslots; i++) {
		if (w->slots[i].c) {
			*slot = i;
			return w->slots[i].c;
		}
	}
	*slot = w->nslots;
	return NULL;
}

const char *dp_conn_peer_ip(const struct dp_conn *c)
{
	return c->peer_ip;
}

const char *dp_conn_peer(const struct dp_conn *c)
{
	return c->peer;
}

const char *dp_conn_x509_id(const struct dp_conn *c)
{
	return c->tls ? dp_tls_x509_id(c->tls) : NULL;
}

void *dp_conn_user(const struct dp_conn *c)
{
	return c->user;
}

void dp_conn_set_user(struct dp_conn *c, void *user)
{
	c->user = user;
}

static size_t unsent(const struct dp_conn *c)
{
	return c->out.len - c->out_off;
}

size_t dp_conn_unsent(const struct dp_conn *c)
{
	return unsent(c);
}

static void mark_dirty(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = w->dirty;
	w->dirty = c;
}

static void rearm(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	uint32_t want = 0;
	int ret;

	if (c->state == DP_CONN_OPEN)
		want |= DP_IO_READ;
	/* Nothing is written before a TLS handshake ends: no writability to wait for. */
	if ((unsent(c) && !(c->tls && dp_tls_handshaking(c->tls))) ||
	    (c->tls && dp_tls_want_write(c->tls)))
		want |= DP_IO_WRITE;
	if (want == c->armed || c->abort)
		return;
	ret = w->ops->arm(w->io, c->h, c->id, want);
	if (ret) {
		log_warn("connection %s: cannot watch it: %s", c->peer, strerror(-ret));
		dp_conn_abort(c, NULL);
		return;
	}
	c->armed = want;
}

static void enter_closing(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	if (c->state != DP_CONN_CLOSING) {
		c->state = DP_CONN_CLOSING;
		c->close_deadline_ns = clock_mono_ns() + DP_CLOSE_LINGER_MS * 1000000ull;
	}
	if (!c->queued_close) {
		c->queued_close = true;
		c->next_closing = w->closing;
		w->closing = c;
	}
	rearm(c);
}

void dp_conn_close(struct dp_conn *c, const char *reason)
{
	if (c->state == DP_CONN_CLOSING)
		return;
	if (reason)
		log_info("closing connection %s: %s", c->peer, reason);
	enter_closing(c);
}

void dp_conn_abort(struct dp_conn *c, const char *reason)
{
	if (c->abort)
		return;
	if (reason)
		log_info("closing connection %s: %s", c->peer, reason);
	c->abort = true;
	enter_closing(c);
}

/*
 * Moves head_end to the end of the head frame (the first one with unsent
 * bytes) among the bytes queued up to end.  Outside DP_CONN_OPEN the
 * output is a four-letter word's text: all of it is the head.
 */
static void head_advance(struct dp_conn *c, size_t end)
{
	if (c->state != DP_CONN_OPEN) {
		c->head_end = end;
		return;
	}
	while (c->head_end <= c->out_off && end - c->head_end >= DP_LEN_SIZE)
		c->head_end += DP_LEN_SIZE + (size_t)jute_be32(c->out.buf + c->head_end);
}

/* Bytes queued (up to end) behind the head frame. */
static size_t backlog(struct dp_conn *c, size_t end)
{
	if (c->out_off >= end)
		return 0;
	head_advance(c, end);
	return end > c->head_end ? end - c->head_end : 0;
}

/* Whether len more bytes may join the end bytes queued (see "The output bound"). */
static bool admit(struct dp_conn *c, size_t end, size_t len)
{
	size_t behind = backlog(c, end);

	return behind == 0 || behind + len <= c->w->dp->out_bound;
}

static void overflow(struct dp_conn *c, size_t end, size_t more)
{
	log_warn("closing connection %s: client not reading (%zu bytes queued behind the "
		 "%zu-byte reply being sent, %zu more to queue; limit %zu)",
		 c->peer, backlog(c, end), c->head_end - c->out_off, more, c->w->dp->out_bound);
	dp_conn_abort(c, NULL);
}

/* A connection without an output buffer takes a pooled one (their first
 * frame would otherwise grow a fresh buffer from 64 bytes, a realloc at
 * each doubling). */
static void out_take(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	if (!c->out.buf && w->out_pool_n) {
		c->out = w->out_pool[--w->out_pool_n];
		if (w->out_pool_n < w->out_pool_low)
			w->out_pool_low = w->out_pool_n;
	}
}

int dp_conn_send(struct dp_conn *c, const void *buf, size_t len)
{
	if (c->state == DP_CONN_CLOSING)
		return 0;
	out_take(c);
	if (!admit(c, c->out.len, len)) {
		overflow(c, c->out.len, len);
		return -ENOBUFS;
	}
	jute_put_raw(&c->out, buf, len);
	if (c->out.err) {
		c->out.err = 0;
		log_error("connection %s: out of memory queueing %zu bytes", c->peer, len);
		dp_conn_abort(c, NULL);
		return -ENOBUFS;
	}
	mark_dirty(c);
	return 0;
}

int dp_conn_send_now(struct dp_conn *c, const void *buf, size_t len)
{
	struct dp_worker *w = c->w;
	struct iovec iov = { (void *)buf, len };
	ssize_t n;
	int ret;

	/*
	 * Bytes queued (sent or not), or not plain framed output: in order,
	 * behind them.  A TLS connection's bytes go through its record layer
	 * in the flush, never to the socket as they are.
	 */
	if (c->state != DP_CONN_OPEN || c->abort || c->out.len || !len || c->tls)
		return dp_conn_send(c, buf, len);
	assert(!unsent(c) && c->out_off == 0 && c->head_end == 0);
	n = w->ops->send(w->io, c->h, &iov, 1);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && n != -EAGAIN) {
		log_info("closing connection %s: send: %s", c->peer, strerror((int)-n));
		dp_conn_abort(c, NULL);
		return 0;
	}
	/* The rest waits for the flush: whole frames queued, the written part skipped. */
	ret = dp_conn_send(c, buf, len);
	if (ret)
		return ret;
	assert(c->out.len == len);
	c->out_off = n > 0 ? (size_t)n : 0;
	return 0;
}

struct jute_out *dp_conn_out_begin(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	if (c->state == DP_CONN_CLOSING) {
		w->sink.len = 0;
		w->sink.err = 0;
		return &w->sink;
	}
	out_take(c);
	c->out_mark = c->out.len;
	return &c->out;
}

int dp_conn_out_commit(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	int err;

	if (c->state == DP_CONN_CLOSING && c->out.len == c->out_mark) {
		/* Built in the sink (or nothing built): dropped. */
		w->sink.len = 0;
		w->sink.err = 0;
		return 0;
	}
	if (c->out.err) {
		err = c->out.err;
		c->out.len = c->out_mark;
		c->out.err = 0;
		return err;
	}
	if (!admit(c, c->out_mark, c->out.len - c->out_mark)) {
		size_t frame = c->out.len - c->out_mark;

		c->out.len = c->out_mark;
		overflow(c, c->out.len, frame);
		return -ENOBUFS;
	}
	c->out_mark = c->out.len;
	if (unsent(c))
		mark_dirty(c);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Accepting and freeing                                               */
/* ------------------------------------------------------------------ */

static void format_peer(struct dp_conn *c, const struct sockaddr_storage *ss)
{
	uint16_t port;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			/* A v4 client of a dual-stack listener is a v4 client. */
			struct sockaddr_in *in = (struct sockaddr_in *)&c->peer_addr;

			memset(&c->peer_addr, 0, sizeof(c->peer_addr));
			in->sin_family = AF_INET;
			in->sin_port = in6->sin6_port;
			memcpy(&in->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
			inet_ntop(AF_INET, &in->sin_addr, c->peer_ip, sizeof(c->peer_ip));
			snprintf(c->peer, sizeof(c->peer), "%s:%u", c->peer_ip, port);
			return;
		}
		c->peer_addr = *ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, c->peer_ip, sizeof(c->peer_ip));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", c->peer_ip, port);
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		c->peer_addr = *ss;
		port = ntohs(in->sin_port);
		inet_ntop(AF_INET, &in->sin_addr, c->peer_ip, sizeof(c->peer_ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", c->peer_ip, port);
	}
}

/* A TLS handshake failed or ran out of time (mntr's unsuccessful_handshake). */
static void tls_failed(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	__atomic_store_n(&w->st.tls_failed, w->st.tls_failed + 1, __ATOMIC_RELAXED);
}

/* c becomes a TLS connection (secure port, or sniffed); false: aborted (logged). */
static bool tls_start(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	assert(w->dp->tls && !c->tls);
	if (dp_tls_conn_new(w->dp->tls, (int)c->h, &c->tls)) {
		dp_conn_abort(c, NULL);
		return false;
	}
	c->tls_deadline_ns = clock_mono_ns() + DP_TLS_HANDSHAKE_MS * 1000000ull;
	w->tls_handshakes++;
	return true;
}

void dp_conn_accepted(struct dp_worker *w, dp_io_handle h, const struct sockaddr_storage *peer,
		      bool secure)
{
	struct dp_conn *c = calloc(1, sizeof(*c));
	uint32_t idx;
	int ret;

	if (!c) {
		log_error("dataplane worker %u: out of memory accepting a connection", w->index);
		w->ops->close(w->io, h);
		return;
	}
	format_peer(c, peer);
	if (!dp_limits_admit(w, c)) {
		__atomic_store_n(&w->st.rejected, w->st.rejected + 1, __ATOMIC_RELAXED);
		w->ops->close(w->io, h);
		free(c);
		return;
	}
	idx = slot_alloc(w);
	if (idx == NO_SLOT) {
		log_warn("Error accepting new connection from %s: worker %u has no free "
			 "connection slot",
			 c->peer, w->index);
		__atomic_store_n(&w->st.rejected, w->st.rejected + 1, __ATOMIC_RELAXED);
		dp_limits_release(w, c);
		w->ops->close(w->io, h);
		free(c);
		return;
	}
	c->w = w;
	c->id = w->slots[idx].gen << DP_CONN_SLOT_BITS | idx;
	c->state = DP_CONN_OPEN;
	c->first = true;
	c->h = h;
	ret = w->ops->arm(w->io, h, c->id, DP_IO_READ);
	if (ret) {
		log_warn("connection %s: cannot watch it: %s", c->peer, strerror(-ret));
		slot_free(w, idx);
		dp_limits_release(w, c);
		w->ops->close(w->io, h);
		free(c);
		return;
	}
	c->armed = DP_IO_READ;
	w->slots[idx].c = c;
	w->nconns++;
	log_debug("accepted connection %s on worker %u (id %#x)%s", c->peer, w->index, c->id,
		  secure ? " on the secure port" : "");
	if (secure)
		tls_start(c);
	else if (w->dp->tls && w->dp->cfg->tls.port_unification)
		c->sniff = true;
	w->dp->upper->opened(c);
}

static void unlink_dirty(struct dp_conn *c)
{
	struct dp_conn **pp = &c->w->dirty;

	for (; *pp; pp = &(*pp)->next_dirty) {
		if (*pp == c) {
			*pp = c->next_dirty;
			break;
		}
	}
	c->dirty = false;
}

void dp_conn_stream_begin(struct dp_conn *c, void *s)
{
	struct dp_worker *w = c->w;

	assert(s && !c->stream && c->state == DP_CONN_RAW);
	c->stream = s;
	c->stream_progress_ns = clock_mono_ns();
	c->next_stream = w->streams;
	w->streams = c;
}

void dp_conn_stream_end(struct dp_conn *c)
{
	struct dp_conn **pp = &c->w->streams;

	if (!c->stream)
		return;
	for (; *pp; pp = &(*pp)->next_stream) {
		if (*pp == c) {
			*pp = c->next_stream;
			break;
		}
	}
	c->w->dp->upper->stream_free(c->stream);
	c->stream = NULL;
	c->next_stream = NULL;
}

/*
 * A chunked answer whose output has not moved for DP_CLOSE_LINGER_MS:
 * the client stopped reading; nothing else would ever end it.
 */
static void streams_check(struct dp_worker *w, uint64_t now_ns)
{
	struct dp_conn *c = w->streams, *next;

	for (; c; c = next) {
		next = c->next_stream;
		/* Stamped after the loop sampled now_ns, maybe. */
		if (!unsent(c) || now_ns < c->stream_progress_ns ||
		    now_ns - c->stream_progress_ns < DP_CLOSE_LINGER_MS * 1000000ull)
			continue;
		log_info("closing connection %s: four-letter word output not read for %d ms "
			 "(%zu bytes unsent)",
			 c->peer, DP_CLOSE_LINGER_MS, unsent(c));
		dp_conn_stream_end(c);
		dp_conn_abort(c, NULL);
	}
}

static void release(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	uint32_t idx = c->id & (DP_CONN_MAX_SLOTS - 1);

	dp_conn_stream_end(c);
	if (c->dirty)
		unlink_dirty(c);
	if (c->tls) {
		if (dp_tls_handshaking(c->tls))
			w->tls_handshakes--;
		dp_tls_conn_free(c->tls, !c->abort);
	}
	w->ops->close(w->io, c->h);
	dp_limits_release(w, c);
	slot_free(w, idx);
	w->nconns--;
	free(c->in);
	jute_out_free(&c->out);
	free(c);
}

void dp_conn_reap(struct dp_worker *w, uint64_t now_ns)
{
	struct dp_conn *list, *c, *keep = NULL;

	if (w->streams)
		streams_check(w, now_ns);
	list = w->closing;

	w->closing = NULL;
	while (list) {
		c = list;
		list = c->next_closing;
		c->queued_close = false;
		if (!c->told) {
			c->told = true;
			w->dp->upper->closed(c);
		}
		if (c->abort || !unsent(c)) {
			release(c);
			continue;
		}
		if (now_ns >= c->close_deadline_ns) {
			log_info("connection %s: closed with %zu bytes unsent after %d ms", c->peer,
				 unsent(c), DP_CLOSE_LINGER_MS);
			release(c);
			continue;
		}
		c->queued_close = true;
		c->next_closing = keep;
		keep = c;
	}
	/* dp_upper_ops.closed may have closed others meanwhile. */
	while (keep) {
		c = keep;
		keep = c->next_closing;
		c->next_closing = w->closing;
		w->closing = c;
	}
}

void dp_conn_close_all(struct dp_worker *w)
{
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct dp_conn *c = w->slots[i].c;

		if (!c)
			continue;
		if (!c->told) {
			c->told = true;
			w->dp->upper->closed(c);
		}
	}
	for (uint32_t i = 0; i < w->nslots; i++)
		if (w->slots[i].c)
			release(w->slots[i].c);
	w->closing = NULL;
	w->dirty = NULL;
	w->streams = NULL;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static void conn_flush(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	while (unsent(c)) {
		struct iovec iov = { c->out.buf + c->out_off, unsent(c) };
		ssize_t n = c->tls ? dp_tls_send(c->tls, iov.iov_base, iov.iov_len)
				   : w->ops->send(w->io, c->h, &iov, 1);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			log_info("closing connection %s: send: %s", c->peer, strerror((int)-n));
			dp_conn_abort(c, NULL);
			return;
		}
		c->out_off += (size_t)n;
		if (c->stream && n)
			c->stream_progress_ns = clock_mono_ns();
	}
	if (c->stream && !unsent(c))
		c->stream_progress_ns = clock_mono_ns(); /* waiting for a chunk, not the client */
	if (c->stream && c->state == DP_CONN_RAW && unsent(c) < DP_STREAM_LOW_WATER)
		w->dp->upper->stream_more(c); /* posts a request: nothing is queued from here */
	if (!unsent(c)) {
		c->out.len = c->out_off = c->out_mark = c->head_end = 0;
		c->out.err = 0;
		if (c->out.cap <= KEEP_BUF && w->out_pool_n < DP_OUT_POOL) {
			w->out_pool[w->out_pool_n++] = c->out;
			jute_out_init(&c->out, 0);
		} else {
			jute_out_free(&c->out);
		}
	} else if (c->out_off >= KEEP_BUF && c->out_off * 2 >= c->out.len) {
		/* head_end must not point below out_off before the move. */
		head_advance(c, c->out.len);
		assert(c->head_end >= c->out_off);
		c->head_end -= c->out_off;
		memmove(c->out.buf, c->out.buf + c->out_off, unsent(c));
		c->out.len -= c->out_off;
		c->out_off = 0;
		c->out_mark = c->out.len;
	}
	rearm(c);
}

void dp_conn_trim_pool(struct dp_worker *w)
{
	uint32_t idle = w->out_pool_low;

	assert(idle <= w->out_pool_n && w->out_pool_n <= DP_OUT_POOL);
	for (uint32_t i = 0; i < idle; i++)
		jute_out_free(&w->out_pool[i]);
	memmove(w->out_pool, w->out_pool + idle, (w->out_pool_n - idle) * sizeof(w->out_pool[0]));
	w->out_pool_n -= idle;
	w->out_pool_low = w->out_pool_n;
}

uint32_t dp_conn_flush_all(struct dp_worker *w)
{
	struct dp_conn *list = w->dirty, *c;
	uint32_t n = 0;

	w->dirty = NULL;
	while (list) {
		c = list;
		list = c->next_dirty;
		c->dirty = false;
		if (!c->abort) {
			conn_flush(c);
			n++;
		}
	}
	return n;
}

uint32_t dp_worker_flush(struct dp_worker *w)
{
	return dp_conn_flush_all(w);
}

/* ------------------------------------------------------------------ */
/* Input                                                               */
/* ------------------------------------------------------------------ */

void dp_conn_enter_raw(struct dp_conn *c)
{
	c->state = DP_CONN_RAW;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	rearm(c);
}

/*
 * A frame header is complete.  Returns 0 with *len the payload length to
 * read; 1 when the connection stopped framing (taken by the layer above,
 * closed).
 */
static int on_header(struct dp_conn *c, const uint8_t *hdr, uint32_t *len)
{
	struct dp_worker *w = c->w;

	if (c->first) {
		int first;

		c->first = false;
		first = w->dp->upper->first(c, hdr, len);
		if (first == DP_FIRST_RAW) {
			/* Read as if it were a frame of *len bytes. */
			assert(*len <= DP_RAW_MAX);
			c->raw = true;
			c->raw_len = *len;
			return 0;
		}
		if (first != DP_FIRST_FRAME)
			return 1;
	}
	*len = jute_be32(hdr);
	if ((int32_t)*len < 0 || *len > w->dp->max_frame) {
		log_warn("Len error %d from %s; closing the connection", (int32_t)*len, c->peer);
		dp_conn_abort(c, NULL);
		return 1;
	}
	return 0;
}

/* Hands a complete frame over; false when the connection stopped framing. */
static bool deliver(struct dp_conn *c, const uint8_t *payload, uint32_t len)
{
	struct dp_worker *w = c->w;

	if (c->raw) {
		uint8_t unit[DP_RAW_MAX];

		/* The layer may take c out of framing, which frees c->in, where the unit may be. */
		assert(len <= sizeof(unit));
		memcpy(unit, payload, len);
		c->raw = false;
		w->dp->upper->raw(c, unit, len);
		return c->state == DP_CONN_OPEN;
	}
	if (w->dp->upper->frame(c, payload, len) < 0)
		dp_conn_close(c, NULL); /* the protocol layer logged why */
	return c->state == DP_CONN_OPEN;
}

static int reserve_in(struct dp_conn *c, uint32_t need)
{
	uint32_t cap;
	uint8_t *p;

	if (c->in_cap >= need)
		return 0;
	cap = need < 256 ? 256 : need;
	p = realloc(c->in, cap);
	if (!p) {
		log_error("connection %s: out of memory for a %u-byte frame", c->peer, need);
		dp_conn_abort(c, NULL);
		return -ENOMEM;
	}
	c->in = p;
	c->in_cap = cap;
	return 0;
}

static void in_done(struct dp_conn *c)
{
	c->in_len = 0;
	if (c->in_cap > KEEP_BUF) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/*
 * Frames n bytes received on c.  Complete frames go to the protocol layer
 * from p itself; a partial one is kept in c->in.  Stops as soon as the
 * connection leaves DP_CONN_OPEN.
 */
static void conn_input(struct dp_conn *c, const uint8_t *p, size_t n)
{
	uint32_t len;
	bool more;

	/* Finish the frame started in an earlier read. */
	while (c->in_len && n && c->state == DP_CONN_OPEN) {
		if (c->in_len < DP_LEN_SIZE) {
			uint32_t take = DP_LEN_SIZE - c->in_len;

			if (take > n)
				take = (uint32_t)n;
			memcpy(c->in + c->in_len, p, take);
			c->in_len += take;
			p += take;
			n -= take;
			if (c->in_len < DP_LEN_SIZE)
				return;
			if (on_header(c, c->in, &len))
				return;
			if (reserve_in(c, DP_LEN_SIZE + len))
				return;
			/* dp_upper_ops.first used up "first"; the frame length is in c->in. */
			c->in_len = DP_LEN_SIZE;
		}
		len = c->raw ? c->raw_len : jute_be32(c->in);
		uint32_t need = DP_LEN_SIZE + len - c->in_len;
		uint32_t take = need < n ? need : (uint32_t)n;

		memcpy(c->in + c->in_len, p, take);
		c->in_len += take;
		p += take;
		n -= take;
		if (c->in_len < DP_LEN_SIZE + len)
			return;
		more = deliver(c, c->in + DP_LEN_SIZE, len);
		in_done(c);
		if (!more)
			return;
	}
	/* Whole frames straight from the receive buffer. */
	while (n && c->state == DP_CONN_OPEN) {
		if (n < DP_LEN_SIZE) {
			if (reserve_in(c, DP_LEN_SIZE))
				return;
			memcpy(c->in, p, n);
			c->in_len = (uint32_t)n;
			return;
		}
		if (on_header(c, p, &len))
			return;
		if ((size_t)DP_LEN_SIZE + len > n) {
			if (reserve_in(c, DP_LEN_SIZE + len))
				return;
			memcpy(c->in, p, n);
			c->in_len = (uint32_t)n;
			return;
		}
		if (!deliver(c, p + DP_LEN_SIZE, len))
			return;
		p += DP_LEN_SIZE + len;
		n -= DP_LEN_SIZE + len;
	}
}

/*
 * client.portUnification: the first byte decides.  True when reading
 * goes on (plain, or TLS started); false to wait or when closed.
 */
static bool sniff(struct dp_conn *c)
{
	int ret = dp_tls_sniff((int)c->h);

	if (ret == -EAGAIN)
		return false;
	if (ret < 0) {
		log_debug("connection %s closed before its first byte", c->peer);
		dp_conn_abort(c, NULL);
		return false;
	}
	c->sniff = false;
	return ret == 0 || tls_start(c);
}

/* Reads through TLS or the backend (the backend's conventions). */
static ssize_t conn_recv(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	bool hs;
	ssize_t n;

	if (!c->tls)
		return w->ops->recv(w->io, c->h, w->scratch, DP_RECV_CHUNK);
	hs = dp_tls_handshaking(c->tls);
	n = dp_tls_recv(c->tls, w->scratch, DP_RECV_CHUNK, c->peer);
	if (hs && !dp_tls_handshaking(c->tls)) {
		w->tls_handshakes--;
		if (n == -EPROTO || n == 0) /* refused, or the peer left mid-handshake */
			tls_failed(c);
	}
	if (dp_tls_want_write(c->tls))
		rearm(c);
	return n;
}

static void conn_read(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	size_t budget = DP_RECV_BUDGET;

	if (c->sniff && !sniff(c))
		return;
	/* TLS: the rest of a record held by OpenSSL is read past the budget (<= 16 KiB). */
	while ((budget || (c->tls && dp_tls_pending(c->tls))) && c->state == DP_CONN_OPEN) {
		ssize_t n = conn_recv(c);

		if (n == -EAGAIN)
			return;
		if (n == -EPROTO && c->tls) {
			dp_conn_abort(c, NULL); /* tls.c logged why */
			return;
		}
		if (n == 0) {
			log_debug("connection %s closed by the client", c->peer);
			dp_conn_abort(c, NULL);
			return;
		}
		if (n < 0) {
			log_info("closing connection %s: recv: %s", c->peer, strerror((int)-n));
			dp_conn_abort(c, NULL);
			return;
		}
		__atomic_store_n(&w->st.bytes_received, w->st.bytes_received + (uint64_t)n,
				 __ATOMIC_RELAXED);
		conn_input(c, w->scratch, (size_t)n);
		/* Drained, most likely; level-triggered polling says if not.  TLS
		 * returns a record at a time: only when OpenSSL holds nothing more. */
		if ((size_t)n < DP_RECV_CHUNK && (!c->tls || !dp_tls_pending(c->tls)))
			return;
		budget = budget > (size_t)n ? budget - (size_t)n : 0;
	}
}

void dp_conn_io(struct dp_worker *w, uint32_t id, uint32_t what)
{
	struct dp_conn *c = dp_conn_get(w, id);

	if (!c || c->abort)
		return;
	/* A TLS read (the handshake) waiting for room to write. */
	if ((what & DP_IO_WRITE) && c->tls && dp_tls_want_write(c->tls))
		what |= DP_IO_READ;
	if (what & DP_IO_WRITE)
		conn_flush(c);
	if ((what & (DP_IO_READ | DP_IO_ERROR)) && c->state == DP_CONN_OPEN) {
		conn_read(c);
	} else if ((what & DP_IO_ERROR) && !c->abort) {
		/* Reset while answering a word or draining: nobody to talk to. */
		log_debug("connection %s reset while closing", c->peer);
		dp_conn_abort(c, NULL);
	}
}

void dp_conn_tls_tick(struct dp_worker *w, uint64_t now_ns)
{
	uint32_t seen = 0;

	if (!w->tls_handshakes)
		return;
	for (uint32_t i = 0; i < w->nslots && seen < w->tls_handshakes; i++) {
		struct dp_conn *c = w->slots[i].c;

		if (!c || !c->tls || !dp_tls_handshaking(c->tls))
			continue;
		seen++;
		if (c->abort || now_ns < c->tls_deadline_ns)
			continue;
		dp_tls_log_timeout(c->peer);
		tls_failed(c);
		dp_conn_abort(c, NULL);
	}
}
