/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections of one worker: ids, input framing, bounded output, closing,
 * and the connection limits.
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
 * connection are checked for a four-letter word (ZooKeeper checks them
 * only while the connection is not yet initialized, i.e. before its
 * ConnectRequest): a word is answered and the connection closed; "stmk"
 * is followed by an 8-byte mask, read as if it were a frame of 8 bytes.
 * The payload pointer given to dp_proto_frame is valid during the call
 * only.
 *
 * Output.  Frames are appended to one contiguous buffer per connection
 * (so dp_conn_out_begin can hand out a jute_out to build a frame in
 * place) and written once per loop iteration with one send per
 * connection, whatever the number of frames queued in between.  A
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
 * short (dp_4lw.c), so they never hold more than a chunk or two.
 *
 * Closing.  dp_conn_close stops reading, lets queued output drain (for at
 * most DP_CLOSE_LINGER_MS) and then closes; dp_conn_abort (errors, end of
 * stream, overflow) drops the output.  The protocol layer hears
 * dp_proto_closed once, from the worker loop (dp_conn_reap), never from
 * inside one of its own calls, and a closing connection is no longer
 * found by dp_conn_lookup; sends to it are dropped.
 *
 * Limits.  maxCnxns (whole server) and maxClientCnxns (per client IP) are
 * counted over all workers, as ZooKeeper's limits are per server, in one
 * small table guarded by one mutex, taken only when a connection is
 * accepted or freed (never on the request path).  It is the only mutable
 * state the workers share.  A refused connection is closed at once with
 * ZooKeeper's log line ("Too many connections from /ip - max is N").
 *
 * File descriptors are a third limit: running out of them used to kill
 * the server at its next log roll ("cannot create ... Too many open
 * files"), and every later accept failed.  dp_limits_fds (at start, once
 * the log and snapshots are open) sets fd_cap = RLIMIT_NOFILE - the
 * descriptors open then - a reserve (DP_FD_RESERVE_*: log, snapshots,
 * peer links, four-letter words); a connection beyond fd_cap is accepted
 * and closed at once, so the client fails fast and may try another
 * server, and the reserve is never eaten by clients.  The count is the
 * connection count the table keeps anyway (nconns), so the check costs
 * nothing; its log line comes at most every 10 s with the number refused
 * meanwhile, and names RLIMIT_NOFILE and its value.  Should accept itself
 * fail with EMFILE (descriptors taken elsewhere), the backend sheds the
 * pending connections and pauses its listener (dp_sock.c).
 * Only a backend whose connections hold descriptors (DP_IO_CAP_CONN_FDS:
 * sock) is bounded so; dpdk's connections are control blocks of its own
 * stack (DPDK_MAX_SOCKS per worker), and a 512-descriptor limit once
 * refused all but 450 of them.
 *
 * Thread: everything here runs on the worker that owns the connection,
 * except the limits table (any worker, under its lock).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "config/config.h"
#include "dataplane/zkproto/proto.h"
#include "dataplane/io/io.h"

#define ID_GEN_MASK ((1u << (32 - DP_CONN_SLOT_BITS)) - 1)
#define NO_SLOT UINT32_MAX
/* Buffers larger than this are freed once empty, not kept for reuse. */
#define KEEP_BUF (64u * 1024)

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

struct dp_ipcount {
	struct dp_ipcount *next;
	uint8_t family;
	uint8_t addr[16];
	uint32_t n;
};

int dp_limits_init(struct dp *dp)
{
	dp->fd_cap = UINT32_MAX; /* until dp_limits_fds */
	dp->ip_nbuckets = 256;
	dp->ip_buckets = calloc(dp->ip_nbuckets, sizeof(*dp->ip_buckets));
	if (!dp->ip_buckets)
		return -ENOMEM;
	pthread_mutex_init(&dp->limits_lock, NULL);
	return 0;
}

void dp_limits_fini(struct dp *dp)
{
	if (!dp->ip_buckets)
		return;
	for (uint32_t i = 0; i < dp->ip_nbuckets; i++) {
		struct dp_ipcount *e = dp->ip_buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(dp->ip_buckets);
	dp->ip_buckets = NULL;
	pthread_mutex_destroy(&dp->limits_lock);
}

/* The IP as a key: family and address bytes (v4-mapped v6 is v4). */
static void ip_key(const struct sockaddr_storage *ss, uint8_t *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET6) {
		*family = AF_INET6;
		memcpy(addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else {
		*family = AF_INET;
		memcpy(addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static uint32_t ip_hash(uint8_t family, const uint8_t addr[16])
{
	uint32_t h = 2166136261u ^ family;

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h;
}

static struct dp_ipcount **ip_find(struct dp *dp, uint8_t family, const uint8_t addr[16])
{
	struct dp_ipcount **pp = &dp->ip_buckets[ip_hash(family, addr) % dp->ip_nbuckets];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->family == family && memcmp((*pp)->addr, addr, 16) == 0)
			break;
	return pp;
}

/* Rate-limited refusal log (ZooKeeper rate-limits it too). */
static void log_refusal(struct dp_worker *w, const char *msg)
{
	static __thread uint64_t last_ns;
	static __thread uint32_t suppressed;
	uint64_t now = clock_mono_ns();

	(void)w;
	if (last_ns && now - last_ns < 1000000000ull) {
		suppressed++;
		return;
	}
	if (suppressed)
		log_warn("Error accepting new connection: %s (%u more refused in the last second)",
			 msg, suppressed);
	else
		log_warn("Error accepting new connection: %s", msg);
	last_ns = now;
	suppressed = 0;
}

int dp_limits_fds(struct dp *dp)
{
	const struct cfg *cfg = dp->cfg;
	uint64_t limit = fd_limit(), need;
	long open = fd_count();

	dp->fd_reserve = DP_FD_RESERVE_BASE + DP_FD_RESERVE_PER_WORKER * dp->nworkers +
			 DP_FD_RESERVE_PER_SERVER * (uint32_t)cfg->n_servers;
	dp->fd_limit = limit;
	if (open < 0) {
		log_warn("cannot count open file descriptors (/proc/self/fd: %s); assuming 64",
			 strerror((int)-open));
		open = 64;
	}
	need = (uint64_t)open + dp->fd_reserve;
	if (!(dp->ops->caps & DP_IO_CAP_CONN_FDS) || limit == UINT64_MAX ||
	    (limit > need && limit - need >= DP_CONN_MAX_SLOTS * (uint64_t)dp->nworkers)) {
		dp->fd_cap = UINT32_MAX;
		return 0;
	}
	if (limit <= need) {
		log_error("the file descriptor limit (RLIMIT_NOFILE) is %llu: %ld are open and %u "
			  "are kept in reserve for the log, snapshots, peer links and four-letter "
			  "words, which leaves none for clients; raise it (ulimit -n, systemd "
			  "LimitNOFILE=)",
			  (unsigned long long)limit, open, dp->fd_reserve);
		return -EMFILE;
	}
	dp->fd_cap = (uint32_t)(limit - need);
	log_info("file descriptors: RLIMIT_NOFILE %llu, %ld open, %u kept in reserve: at most "
		 "%u client connections",
		 (unsigned long long)limit, open, dp->fd_reserve, dp->fd_cap);
	return 0;
}

/* Counts the connection in; false (logged) when a limit refuses it. */
static bool limits_admit(struct dp_worker *w, struct dp_conn *c)
{
	struct dp *dp = w->dp;
	const struct cfg *cfg = dp->cfg;
	struct dp_ipcount **pp = NULL;
	uint8_t family, addr[16];
	uint64_t held;
	char msg[160];

	ip_key(&c->peer_addr, &family, addr);
	pthread_mutex_lock(&dp->limits_lock);
	if (dp->nconns >= dp->fd_cap) {
		bool say = log_every(&dp->fd_log, clock_mono_ns(), 10ull * 1000000000, &held);

		pthread_mutex_unlock(&dp->limits_lock);
		if (say)
			log_warn("refusing connections: %u are open, as many as the file "
				 "descriptor limit allows (RLIMIT_NOFILE is %llu, %u kept in "
				 "reserve for the log, snapshots and peer links); %llu more "
				 "refused since the last such line; raise the limit (ulimit -n)",
				 dp->fd_cap, (unsigned long long)dp->fd_limit, dp->fd_reserve,
				 (unsigned long long)held);
		return false;
	}
	if (cfg->max_cnxns > 0 && dp->nconns >= (uint32_t)cfg->max_cnxns) {
		pthread_mutex_unlock(&dp->limits_lock);
		snprintf(msg, sizeof(msg), "Too many connections max allowed is %d", cfg->max_cnxns);
		log_refusal(w, msg);
		return false;
	}
	if (cfg->max_client_cnxns > 0) {
		pp = ip_find(dp, family, addr);
		if (*pp && (*pp)->n >= (uint32_t)cfg->max_client_cnxns) {
			pthread_mutex_unlock(&dp->limits_lock);
			snprintf(msg, sizeof(msg), "Too many connections from /%s - max is %d",
				 c->peer_ip, cfg->max_client_cnxns);
			log_refusal(w, msg);
			return false;
		}
		if (!*pp) {
			*pp = calloc(1, sizeof(**pp));
			if (!*pp) {
				pthread_mutex_unlock(&dp->limits_lock);
				log_refusal(w, "out of memory");
				return false;
			}
			(*pp)->family = family;
			memcpy((*pp)->addr, addr, 16);
		}
		(*pp)->n++;
	}
	__atomic_store_n(&dp->nconns, dp->nconns + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&dp->limits_lock);
	return true;
}

static void limits_release(struct dp_worker *w, struct dp_conn *c)
{
	struct dp *dp = w->dp;
	uint8_t family, addr[16];

	ip_key(&c->peer_addr, &family, addr);
	pthread_mutex_lock(&dp->limits_lock);
	if (dp->cfg->max_client_cnxns > 0) {
		struct dp_ipcount **pp = ip_find(dp, family, addr);

		if (*pp && --(*pp)->n == 0) {
			struct dp_ipcount *e = *pp;

			*pp = e->next;
			free(e);
		}
	}
	__atomic_store_n(&dp->nconns, dp->nconns - 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&dp->limits_lock);
}

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
/* Services to the protocol layer (dp_priv.h)                          */
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
	if (unsent(c))
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
	while (c->head_end <= c->out_off && end - c->head_end >= PROTO_LEN_SIZE)
		c->head_end += PROTO_LEN_SIZE + (size_t)jute_be32(c->out.buf + c->head_end);
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

void dp_conn_accepted(struct dp_worker *w, dp_io_handle h, const struct sockaddr_storage *peer)
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
	if (!limits_admit(w, c)) {
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
		limits_release(w, c);
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
		limits_release(w, c);
		w->ops->close(w->io, h);
		free(c);
		return;
	}
	c->armed = DP_IO_READ;
	w->slots[idx].c = c;
	w->nconns++;
	log_debug("accepted connection %s on worker %u (id %#x)", c->peer, w->index, c->id);
	dp_proto_opened(w->proto, c);
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

void dp_conn_stream_begin(struct dp_conn *c, struct dp_4lw_stream *s)
{
	struct dp_worker *w = c->w;

	assert(!c->stream && c->state == DP_CONN_4LW);
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
	dp_4lw_stream_free(c->stream);
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
	w->ops->close(w->io, c->h);
	limits_release(w, c);
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
			dp_proto_closed(w->proto, c);
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
	/* dp_proto_closed may have closed others meanwhile. */
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
			dp_proto_closed(w->proto, c);
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
		ssize_t n = w->ops->send(w->io, c->h, &iov, 1);

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
	if (c->stream && c->state == DP_CONN_4LW && unsent(c) < DP_4LW_LOW_WATER)
		dp_4lw_more(c); /* posts a request: nothing is queued from here */
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

void dp_conn_flush_all(struct dp_worker *w)
{
	struct dp_conn *list = w->dirty, *c;

	w->dirty = NULL;
	while (list) {
		c = list;
		list = c->next_dirty;
		c->dirty = false;
		if (!c->abort)
			conn_flush(c);
	}
}

/* ------------------------------------------------------------------ */
/* Input                                                               */
/* ------------------------------------------------------------------ */

void dp_conn_enter_4lw(struct dp_conn *c)
{
	c->state = DP_CONN_4LW;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	rearm(c);
}

/*
 * A frame header is complete.  Returns 0 with *len the payload length to
 * read; 1 when the connection stopped framing (four-letter word, closed).
 */
static int on_header(struct dp_conn *c, const uint8_t *hdr, uint32_t *len)
{
	struct dp_worker *w = c->w;
	int ret;

	if (c->first) {
		uint32_t bit = dp_4lw_match(hdr);

		c->first = false;
		if (bit) {
			__atomic_store_n(&w->st.fourlw, w->st.fourlw + 1, __ATOMIC_RELAXED);
			if (bit == CFG_4LW_STMK && (w->dp->cfg->four_letter_words & bit)) {
				/* Its 8-byte mask follows: read it as a frame. */
				c->stmk = true;
				*len = 8;
				return 0;
			}
			dp_conn_enter_4lw(c);
			dp_4lw_run(c, bit);
			return 1;
		}
	}
	ret = proto_frame_len(hdr, PROTO_LEN_SIZE, w->dp->max_frame, len);
	if (ret == -EMSGSIZE) {
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

	if (c->stmk) {
		uint8_t mask[8];

		/* Entering 4lw mode frees c->in, where the mask may be. */
		memcpy(mask, payload, sizeof(mask));
		c->stmk = false;
		dp_conn_enter_4lw(c);
		dp_4lw_stmk(c, mask, len);
		return false;
	}
	if (dp_proto_frame(w->proto, c, payload, len) < 0)
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
		if (c->in_len < PROTO_LEN_SIZE) {
			uint32_t take = PROTO_LEN_SIZE - c->in_len;

			if (take > n)
				take = (uint32_t)n;
			memcpy(c->in + c->in_len, p, take);
			c->in_len += take;
			p += take;
			n -= take;
			if (c->in_len < PROTO_LEN_SIZE)
				return;
			if (on_header(c, c->in, &len))
				return;
			if (reserve_in(c, PROTO_LEN_SIZE + len))
				return;
			/* The 4lw check used up "first"; the frame length is in c->in. */
			c->in_len = PROTO_LEN_SIZE;
		}
		len = c->stmk ? 8 : jute_be32(c->in);
		uint32_t need = PROTO_LEN_SIZE + len - c->in_len;
		uint32_t take = need < n ? need : (uint32_t)n;

		memcpy(c->in + c->in_len, p, take);
		c->in_len += take;
		p += take;
		n -= take;
		if (c->in_len < PROTO_LEN_SIZE + len)
			return;
		more = deliver(c, c->in + PROTO_LEN_SIZE, len);
		in_done(c);
		if (!more)
			return;
	}
	/* Whole frames straight from the receive buffer. */
	while (n && c->state == DP_CONN_OPEN) {
		if (n < PROTO_LEN_SIZE) {
			if (reserve_in(c, PROTO_LEN_SIZE))
				return;
			memcpy(c->in, p, n);
			c->in_len = (uint32_t)n;
			return;
		}
		if (on_header(c, p, &len))
			return;
		if ((size_t)PROTO_LEN_SIZE + len > n) {
			if (reserve_in(c, PROTO_LEN_SIZE + len))
				return;
			memcpy(c->in, p, n);
			c->in_len = (uint32_t)n;
			return;
		}
		if (!deliver(c, p + PROTO_LEN_SIZE, len))
			return;
		p += PROTO_LEN_SIZE + len;
		n -= PROTO_LEN_SIZE + len;
	}
}

static void conn_read(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	size_t budget = DP_RECV_BUDGET;

	while (budget && c->state == DP_CONN_OPEN) {
		ssize_t n = w->ops->recv(w->io, c->h, w->scratch, DP_RECV_CHUNK);

		if (n == -EAGAIN)
			return;
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
		if ((size_t)n < DP_RECV_CHUNK)
			return; /* drained, most likely; level-triggered polling says if not */
		budget = budget > (size_t)n ? budget - (size_t)n : 0;
	}
}

void dp_conn_io(struct dp_worker *w, uint32_t id, uint32_t what)
{
	struct dp_conn *c = dp_conn_get(w, id);

	if (!c || c->abort)
		return;
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
