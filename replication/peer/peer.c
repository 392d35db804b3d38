// SPDX-License-Identifier: Apache-2.0
/*
 * The peer transport (contract in peer.h).  Why it looks like this:
 *
 * - One epoll fd, level-triggered, holds the listeners and every link; the
 *   caller polls it and calls peer_poll().  Level triggering lets a read be
 *   cut short by a budget (fairness between peers, no starvation of the
 *   caller's core) without bookkeeping: the fd stays readable and the next
 *   peer_poll() continues.  Epoll tags are kind << 32 | slot.
 * - Each remote member has one slot (struct node) with its outbound link
 *   (dial, handshake, send queue) and its inbound link (receive buffer).
 *   Accepted connections sit in a small pending table until their hello
 *   names a member; then they move into that member's slot.
 * - Invariants, checked below: an outbound fd exists iff the link is
 *   CONNECTING, TLS, HELLO, AUTH or UP; the queue is empty unless the
 *   link is UP; queued bytes and frames equal the sums over the queue; an inbound
 *   buffer's fill never exceeds its capacity, which never exceeds
 *   max_frame + PEER_FRAME_HDR.
 * - peer_send() does no I/O, so no callback can run inside it and no link
 *   can close under a callback that sends: callbacks only ever see
 *   consistent state.
 * - Quorum SASL (peer.h) runs inside the same state machines: a dialer in
 *   PEER_LINK_AUTH, an accepted connection still in the pending table.
 *   A DIGEST-MD5 step stays on the owner thread: microseconds of
 *   computation on whole messages already read without blocking
 *   (peer_sasl.c).  A GSSAPI step (keytab, replay cache, KDC) goes to
 *   peer_sasl's helper thread: the link waits (owait / pending.wait;
 *   the other side owes us nothing meanwhile, so a byte from it ends the
 *   link) until the helper's eventfd (T_WAKE) says it is done, and the
 *   handshake deadlines still bound the wait.  The sockets stay the
 *   owner's: the helper only computes tokens.
 * - Quorum TLS (peer.h) wraps the socket with OpenSSL driving it itself
 *   (SSL_set_fd), as the client port does (dataplane/io/tls.c): its reads
 *   and writes return "want read" / "want write" where the state machines
 *   already wait, so link_recv/link_send stand in for recv/send and the
 *   handshake is one more state before the hello.  OpenSSL's read-ahead
 *   is off, so the only bytes it can hold after SSL_read are the rest of
 *   one record: peer_poll reads an inbound link again while SSL_pending
 *   says so, since epoll cannot report them.
 * Thread: the owner's (broadcast core) only.
 */
#include "peer.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "config/config.h"
#include "config/tls_ctx.h"
#include "peer_sasl.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* ---------------------------------------------------------------- codec */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void peer_hello_encode(const struct peer_hello *h, uint8_t out[PEER_HELLO_SIZE])
{
	put32(out, h->magic);
	put16(out + 4, h->version);
	put16(out + 6, h->flags);
	put32(out + 8, (uint32_t)(h->ensemble >> 32));
	put32(out + 12, (uint32_t)h->ensemble);
	put32(out + 16, h->from);
	put32(out + 20, h->to);
	put32(out + 24, crc32c(0, out, 24));
}

int peer_hello_parse(const uint8_t *buf, size_t n, struct peer_hello *h)
{
	assert(buf || n == 0);
	if (n < PEER_HELLO_SIZE)
		return 0;
	if (get32(buf) != PEER_MAGIC || get32(buf + 24) != crc32c(0, buf, 24))
		return -EBADMSG;
	h->magic = PEER_MAGIC;
	h->version = get16(buf + 4);
	h->flags = get16(buf + 6);
	h->ensemble = (uint64_t)get32(buf + 8) << 32 | get32(buf + 12);
	h->from = get32(buf + 16);
	h->to = get32(buf + 20);
	if (h->version != PEER_VERSION)
		return -EPROTONOSUPPORT;
	if (h->flags & ~PEER_HELLO_F_SASL)
		return -EBADMSG;
	return PEER_HELLO_SIZE;
}

void peer_frame_header(uint16_t type, const void *payload, uint32_t len,
		       uint8_t out[PEER_FRAME_HDR])
{
	assert(type != 0);
	assert(payload || len == 0);
	put32(out, len);
	put16(out + 4, type);
	put16(out + 6, 0);
	put32(out + 8, crc32c(crc32c(0, out, 8), payload, len));
}

int peer_frame_parse(const uint8_t *buf, size_t n, uint32_t max_frame, struct peer_frame *f,
		     size_t *need)
{
	assert(buf || n == 0);
	if (need)
		*need = PEER_FRAME_HDR;
	if (n < PEER_FRAME_HDR)
		return 0;
	uint32_t len = get32(buf);
	if (len > max_frame)
		return -EMSGSIZE;
	if (get16(buf + 4) == 0 || get16(buf + 6) != 0)
		return -EBADMSG;
	size_t total = PEER_FRAME_HDR + (size_t)len;
	if (need)
		*need = total;
	if (n < total)
		return 0;
	if (get32(buf + 8) != crc32c(crc32c(0, buf, 8), buf + PEER_FRAME_HDR, len))
		return -EBADMSG;
	f->type = get16(buf + 4);
	f->len = len;
	f->payload = buf + PEER_FRAME_HDR;
	assert(total <= INT32_MAX);
	return (int)total;
}

void peer_auth_header(enum peer_auth_status st, uint32_t len, uint8_t out[PEER_AUTH_HDR])
{
	put32(out, (uint32_t)st);
	put32(out + 4, len);
}

int peer_auth_parse(const uint8_t *buf, size_t n, enum peer_auth_status *st, const uint8_t **tok,
		    uint32_t *len)
{
	uint32_t s, l;

	assert(buf || n == 0);
	if (n < PEER_AUTH_HDR)
		return 0;
	s = get32(buf);
	l = get32(buf + 4);
	if (s > PEER_AUTH_ERROR || l > PEER_AUTH_TOKEN_MAX)
		return -EBADMSG;
	if (n - PEER_AUTH_HDR < l)
		return 0;
	*st = (enum peer_auth_status)s;
	*tok = buf + PEER_AUTH_HDR;
	*len = l;
	return (int)(PEER_AUTH_HDR + l);
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t peer_ensemble_id(const struct peer_member *m, size_t n, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint32_t last = 0;

	/* Selection by increasing id: n is at most a few dozen. */
	for (size_t k = 0; k < n; k++) {
		const struct peer_member *best = NULL;
		for (size_t i = 0; i < n; i++)
			if (m[i].id > last && (!best || m[i].id < best->id))
				best = &m[i];
		if (!best)
			break;
		uint8_t rec[9];
		put32(rec, best->id);
		rec[4] = best->observer;
		put16(rec + 5, best->quorum_port);
		put16(rec + 7, best->election_port);
		h = fnv(h, rec, sizeof(rec));
		last = best->id;
	}
	if (name)
		h = fnv(h, name, strlen(name) + 1);
	return h ? h : 1;
}

/* ---------------------------------------------------------------- state */

enum tag_kind { T_LQ = 1, T_LE = 2, T_OUT = 3, T_IN = 4, T_PEND = 5, T_WAKE = 6 };

struct qframe {
	struct qframe *next;
	uint32_t size; /* header + payload */
	uint8_t data[];
};

struct node {
	uint32_t id; /* 0: a free slot (a member removed by peer_remove) */
	struct sockaddr_storage sa;
	socklen_t salen;
	char name[96]; /* "server 3 (host:port)" */

	/* outbound: we dial, we send */
	int ofd;
	enum peer_link ost;
	uint64_t odeadline; /* CONNECTING/HELLO: dial + handshake bound */
	uint64_t retry_at;  /* IDLE: next dial */
	uint32_t backoff_ms;
	uint32_t oevents; /* epoll interest registered for ofd */
	uint8_t hello[PEER_HELLO_SIZE];
	size_t hello_got;
	char host[256];		      /* server.N's host, for TLS hostname verification */
	SSL *ossl;		      /* sslQuorum: the outbound link's TLS, from TLS on */
	SSL *issl;		      /* sslQuorum: the inbound link's TLS */
	struct peer_sasl_conn *osasl; /* AUTH: our learner side */
	uint8_t *abuf;		      /* AUTH: PEER_AUTH_HDR + PEER_AUTH_TOKEN_MAX */
	size_t agot;
	bool owait;		   /* AUTH: a GSSAPI step is with peer_sasl's helper */
	bool ofirst;		   /* ... and it is our first one (no answer yet) */
	enum peer_auth_status ast; /* ... the status of the answer it steps */
	struct qframe *qhead, *qtail;
	size_t head_off; /* bytes of qhead already written */
	uint64_t last_progress;

	/* inbound: it dialled, we receive */
	int ifd;
	uint8_t *rbuf;
	size_t rlen, rcap;

	struct peer_stats st;
	uint64_t log_at;
	bool logged;
	uint64_t ilog_at; /* the inbound direction's limiter */
	bool ilogged;
	/*
	 * Quorum SASL ties a pair's two links together, as ZooKeeper's one
	 * connection per pair: while it refuses our credentials we take no
	 * link from it (out_auth_bad), while we refuse its credentials (or
	 * its lack of them) we use no link to it (in_auth_bad).  Each clears
	 * when the refused direction authenticates.
	 */
	bool out_auth_bad, in_auth_bad;
};

struct pending {
	int fd; /* -1: free slot */
	uint64_t deadline;
	uint8_t buf[PEER_HELLO_SIZE];
	size_t got;
	char from[64];
	SSL *ssl;      /* sslQuorum: NULL when off */
	bool tls_done; /* its TLS handshake completed */
	/* quorum SASL, after the hello: the member it claims, our server side */
	struct node *n;
	struct peer_sasl_conn *sasl;
	uint8_t *abuf;
	size_t agot;
	unsigned steps;
	bool wait; /* a GSSAPI step is with peer_sasl's helper */
};

struct peer {
	uint32_t self;
	uint64_t ensemble;
	uint32_t max_frame, q_bytes, q_frames;
	uint32_t dial_ms, hs_ms, stall_ms, bo_min, bo_max;
	struct peer_callbacks cb;
	const struct peer_sasl *sasl;
	SSL_CTX *tls;  /* sslQuorum: NULL when off */
	bool tls_host; /* ssl.quorum.hostnameVerification */
	/* sslQuorumReloadCertFiles: the keys, the stores as last loaded (or failed). */
	const struct cfg_tls *tls_cfg; /* NULL: no reload */
	struct tls_file_id tls_ks, tls_ts;
	uint64_t tls_check_at; /* next stat of the store files, ms */
	uint64_t tls_log_at;
	bool tls_logged;
	uint64_t rng;
	uint64_t now;
	bool in_poll;

	int epfd, lq, le;
	bool listen_paused;
	uint64_t listen_retry_at;

	struct node nodes[PEER_MAX_MEMBERS];
	size_t n; /* members other than self */
	struct pending pend[PEER_PENDING_MAX];

	struct peer_global_stats gs;
	uint64_t glog_at;
	bool glogged;
};

static uint64_t tag(enum tag_kind k, size_t i)
{
	return (uint64_t)k << 32 | i;
}

static int ep(struct peer *p, int op, int fd, uint32_t events, uint64_t t)
{
	struct epoll_event ev = {.events = events, .data.u64 = t};

	if (epoll_ctl(p->epfd, op, fd, &ev) < 0) {
		int e = errno;
		log_error("peer: epoll_ctl(%d, fd %d): %s", op, fd, strerror(e));
		return -e;
	}
	return 0;
}

static uint64_t rnd(struct peer *p)
{
	/* splitmix64 */
	uint64_t z = (p->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool rate_ok(uint64_t now, uint64_t *at, bool *done)
{
	if (*done && now - *at < PEER_LOG_INTERVAL_MS)
		return false;
	*at = now;
	*done = true;
	return true;
}

/*
 * Records why (stats' last_error) and logs it, rate-limited per node and
 * direction (inbound: refusals of its dials, so a refusal is not hidden
 * by our own dial's failure line in the same interval).
 */
__attribute__((format(printf, 4, 0))) static void vnote(struct peer *p, struct node *n, bool in,
							const char *fmt, va_list ap)
{
	char *dst = n ? n->st.last_error : p->gs.last_error;
	size_t cap = n ? sizeof(n->st.last_error) : sizeof(p->gs.last_error);
	bool ok;

	vsnprintf(dst, cap, fmt, ap);
	if (!n)
		ok = rate_ok(p->now, &p->glog_at, &p->glogged);
	else if (in)
		ok = rate_ok(p->now, &n->ilog_at, &n->ilogged);
	else
		ok = rate_ok(p->now, &n->log_at, &n->logged);
	if (ok)
		log_warn("peer %u: %s", p->self, dst);
}

__attribute__((format(printf, 3, 4))) static void note(struct peer *p, struct node *n,
						       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(p, n, false, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void note_in(struct peer *p, struct node *n,
							  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(p, n, true, fmt, ap);
	va_end(ap);
}

static struct node *find(struct peer *p, uint32_t id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < p->n; i++)
		if (p->nodes[i].id == id)
			return &p->nodes[i];
	return NULL;
}

static void check_queue(const struct node *n)
{
#ifndef NDEBUG
	uint64_t b = 0;
	uint32_t f = 0;
	for (const struct qframe *q = n->qhead; q; q = q->next) {
		b += q->size - PEER_FRAME_HDR;
		f++;
	}
	assert(b == n->st.queued_bytes && f == n->st.queued_frames);
	assert(n->ost == PEER_LINK_UP || f == 0);
#else
	(void)n;
#endif
}

/* ---------------------------------------------------------------- TLS */

/*
 * recv() and send() on a link, through TLS when ssl is set: bytes (> 0),
 * 0 at the end of the stream, or -1 with errno (EAGAIN: wait for the
 * socket; EPROTO: TLS failure or a bad record).
 */
static ssize_t link_recv(SSL *ssl, int fd, void *buf, size_t len)
{
	if (!ssl)
		return recv(fd, buf, len, 0);
	if (len > INT32_MAX)
		len = INT32_MAX;
	ERR_clear_error();
	int r = SSL_read(ssl, buf, (int)len);
	if (r > 0)
		return r;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno && errno != EAGAIN)
			return -1;
		return 0; /* EOF without close_notify */
	default:
		errno = EPROTO;
		return -1;
	}
}

static ssize_t link_send(SSL *ssl, int fd, const void *buf, size_t len)
{
	if (!ssl)
		return send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (len > 16384)
		len = 16384; /* one record per call; partial writes are enabled */
	ERR_clear_error();
	int w = SSL_write(ssl, buf, (int)len);
	if (w > 0)
		return w;
	switch (SSL_get_error(ssl, w)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_SYSCALL:
		if (!errno)
			errno = EPIPE;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

/*
 * One step of ssl's handshake.  1: done; 0: in progress (*want_write:
 * it waits for the socket to take bytes); -1: failed, why says why (the
 * certificate's verification error, else OpenSSL's reason).
 */
static int tls_step(SSL *ssl, bool *want_write, char *why, size_t whylen)
{
	ERR_clear_error();
	int r = SSL_do_handshake(ssl);
	if (r == 1)
		return 1;
	int e = SSL_get_error(ssl, r);
	*want_write = e == SSL_ERROR_WANT_WRITE;
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	long v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK)
		snprintf(why, whylen, "its certificate: %s", X509_verify_cert_error_string(v));
	else if (ERR_peek_last_error())
		snprintf(why, whylen, "%s", tls_ctx_reason());
	else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
		snprintf(why, whylen, "closed by the other end (%s)",
			 errno ? strerror(errno) : "end of stream");
	else
		snprintf(why, whylen, "TLS error %d", e);
	ERR_clear_error();
	return -1;
}

/* A TLS object on fd for one end of a link.  NULL: out of memory (logged). */
static SSL *tls_new(struct peer *p, int fd, bool client, const char *host,
		    const struct sockaddr_storage *from)
{
	SSL *ssl = SSL_new(p->tls);

	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		log_error("peer %u: cannot create a TLS connection (%s)", p->self,
			  tls_ctx_reason());
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	if (client)
		SSL_set_connect_state(ssl);
	else
		SSL_set_accept_state(ssl);
	if (p->tls_host) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		int ok = 1;

		if (client) {
			/* An address is checked against IP SANs, a name against DNS SANs/CN. */
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
				ok = X509_VERIFY_PARAM_set1_host(vp, host, 0);
		} else if (from->ss_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)from;
			ok = X509_VERIFY_PARAM_set1_ip(vp, (const unsigned char *)&a->sin_addr, 4);
		} else if (from->ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)from;
			ok =
			    X509_VERIFY_PARAM_set1_ip(vp, (const unsigned char *)&a->sin6_addr, 16);
		}
		if (ok != 1) {
			log_error("peer %u: cannot set TLS hostname verification (%s)", p->self,
				  tls_ctx_reason());
			SSL_free(ssl);
			ERR_clear_error();
			return NULL;
		}
	}
	return ssl;
}

/* ---------------------------------------------------------------- outbound */

static void drop_queue(struct node *n)
{
	struct qframe *q = n->qhead;

	while (q) {
		struct qframe *next = q->next;
		free(q);
		n->st.drops_down++;
		q = next;
	}
	n->qhead = n->qtail = NULL;
	n->head_off = 0;
	n->st.queued_bytes = 0;
	n->st.queued_frames = 0;
}

/* The next dial: uniform in [b/2, b], then b doubles up to bo_max. */
static void schedule_retry(struct peer *p, struct node *n)
{
	uint32_t b = n->backoff_ms;

	assert(b >= 1 && b <= p->bo_max);
	n->retry_at = p->now + b / 2 + rnd(p) % (b / 2 + 1);
	n->backoff_ms = b > p->bo_max / 2 ? p->bo_max : b * 2;
}

static void out_auth_free(struct node *n)
{
	peer_sasl_conn_free(n->osasl);
	n->osasl = NULL;
	free(n->abuf);
	n->abuf = NULL;
	n->agot = 0;
	n->owait = false;
}

/* Sends one auth message whole (a fresh socket's buffer holds it). */
static int auth_send(SSL *ssl, int fd, enum peer_auth_status st, const uint8_t *tok, size_t len)
{
	uint8_t m[PEER_AUTH_HDR + PEER_AUTH_TOKEN_MAX];

	if (len > PEER_AUTH_TOKEN_MAX)
		return -EMSGSIZE;
	peer_auth_header(st, (uint32_t)len, m);
	if (len)
		memcpy(m + PEER_AUTH_HDR, tok, len);
	ssize_t w = link_send(ssl, fd, m, PEER_AUTH_HDR + len);
	if (w < 0)
		return -errno;
	return (size_t)w == PEER_AUTH_HDR + len ? 0 : -EAGAIN;
}

/*
 * One read towards an auth message in buf (PEER_AUTH_HDR +
 * PEER_AUTH_TOKEN_MAX bytes, *got of them held).  Returns 1 with *st and
 * the token (tok, tl: inside buf, valid until the next read) when a whole
 * message is in and nothing after it (*got is then 0 for the next one),
 * 0 when more must come, -EPIPE when the link reached end of stream, the
 * negative errno of a failed read, or -EBADMSG for bytes that are not one
 * message.
 */
static int auth_recv(SSL *ssl, int fd, uint8_t *buf, size_t *got, enum peer_auth_status *st,
		     const uint8_t **tok, uint32_t *tl)
{
	ssize_t r = link_recv(ssl, fd, buf + *got, PEER_AUTH_HDR + PEER_AUTH_TOKEN_MAX - *got);
	int k;

	if (r == 0)
		return -EPIPE;
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	*got += (size_t)r;
	k = peer_auth_parse(buf, *got, st, tok, tl);
	if (k == 0)
		return 0;
	if (k < 0 || (size_t)k != *got)
		return -EBADMSG;
	*got = 0;
	return 1;
}

/* Closes the outbound link, drops its queue, schedules the next dial. */
static void out_down(struct peer *p, struct node *n)
{
	bool was_up = n->ost == PEER_LINK_UP;

	assert(n->ofd >= 0);
	SSL_free(n->ossl);
	n->ossl = NULL;
	close(n->ofd); /* also leaves the epoll set */
	n->ofd = -1;
	n->oevents = 0;
	out_auth_free(n);
	drop_queue(n);
	n->ost = PEER_LINK_IDLE;
	schedule_retry(p, n);
	if (was_up) {
		n->st.losses++;
		if (p->cb.on_event)
			p->cb.on_event(p->cb.arg, n->id, PEER_EV_LOST);
	} else {
		n->st.dial_failures++;
	}
	check_queue(n);
}

static void out_interest(struct peer *p, struct node *n, uint32_t events)
{
	if (n->oevents == events)
		return;
	if (ep(p, EPOLL_CTL_MOD, n->ofd, events, tag(T_OUT, (size_t)(n - p->nodes))) == 0)
		n->oevents = events;
}

/* The TCP connection is established: send our hello, wait for theirs. */
static void out_connected(struct peer *p, struct node *n)
{
	uint16_t fl = p->sasl && p->sasl->learner_require ? PEER_HELLO_F_SASL : 0;
	struct peer_hello h = {PEER_MAGIC, PEER_VERSION, fl, p->ensemble, p->self, n->id};
	uint8_t b[PEER_HELLO_SIZE];

	peer_hello_encode(&h, b);
	/* A fresh socket's send buffer holds far more than 28 bytes. */
	ssize_t w = link_send(n->ossl, n->ofd, b, sizeof(b));
	if (w != (ssize_t)sizeof(b)) {
		note(p, n, "dialling %s: sending the handshake: %s", n->name,
		     w < 0 ? strerror(errno) : "short write");
		out_down(p, n);
		return;
	}
	n->ost = PEER_LINK_HELLO;
	n->hello_got = 0;
	out_interest(p, n, EPOLLIN);
}

/* One step of our TLS client handshake; the hello follows it. */
static void out_tls_event(struct peer *p, struct node *n)
{
	char why[200] = "";
	bool ww = false;
	int r = tls_step(n->ossl, &ww, why, sizeof(why));

	if (r < 0) {
		note(p, n, "dialling %s: TLS handshake failed (sslQuorum): %s", n->name, why);
		out_down(p, n);
	} else if (r == 0) {
		out_interest(p, n, ww ? EPOLLOUT : EPOLLIN);
	} else {
		out_connected(p, n);
	}
}

/* The TCP connection is established: TLS first with sslQuorum, else the hello. */
static void out_tcp_up(struct peer *p, struct node *n)
{
	if (!p->tls) {
		out_connected(p, n);
		return;
	}
	n->ossl = tls_new(p, n->ofd, true, n->host, NULL);
	if (!n->ossl) {
		out_down(p, n);
		return;
	}
	n->ost = PEER_LINK_TLS;
	out_tls_event(p, n);
}

static void dial(struct peer *p, struct node *n)
{
	assert(n->ost == PEER_LINK_IDLE && n->ofd < 0);
	int fd = socket(n->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		char eb[160];
		if (fd_exhausted(-e))
			p->gs.emfile++;
		note(p, n, "dialling %s: socket: %s (retrying)", n->name,
		     fd_strerror(-e, eb, sizeof(eb)));
		n->st.dial_failures++;
		schedule_retry(p, n);
		return;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n->ofd = fd;
	n->ost = PEER_LINK_CONNECTING;
	n->odeadline = p->now + p->dial_ms;
	int r = connect(fd, (struct sockaddr *)&n->sa, n->salen);
	int e = errno;
	n->oevents = r == 0 ? EPOLLIN : EPOLLOUT;
	if (ep(p, EPOLL_CTL_ADD, fd, n->oevents, tag(T_OUT, (size_t)(n - p->nodes))) < 0) {
		out_down(p, n);
		return;
	}
	if (r == 0) {
		out_tcp_up(p, n);
	} else if (e != EINPROGRESS) {
		note(p, n, "dialling %s: %s", n->name, strerror(e));
		out_down(p, n);
	}
}

static void flush(struct peer *p, struct node *n)
{
	assert(n->ost == PEER_LINK_UP);
	while (n->qhead) {
		struct iovec iov[64];
		int cnt = 0;
		for (struct qframe *q = n->qhead; q && cnt < 64; q = q->next, cnt++) {
			size_t off = cnt == 0 ? n->head_off : 0;
			iov[cnt].iov_base = q->data + off;
			iov[cnt].iov_len = q->size - off;
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
		/* TLS: one frame (at most a record) per SSL_write. */
		ssize_t w = n->ossl ? link_send(n->ossl, n->ofd, iov[0].iov_base, iov[0].iov_len)
				    : sendmsg(n->ofd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			note(p, n, "sending to %s: %s", n->name, strerror(errno));
			out_down(p, n);
			return;
		}
		n->last_progress = p->now;
		size_t left = (size_t)w;
		while (left && n->qhead) {
			struct qframe *q = n->qhead;
			size_t rest = q->size - n->head_off;
			if (left < rest) {
				n->head_off += left;
				left = 0;
				break;
			}
			left -= rest;
			n->head_off = 0;
			n->qhead = q->next;
			if (!n->qhead)
				n->qtail = NULL;
			n->st.frames_sent++;
			n->st.bytes_sent += q->size - PEER_FRAME_HDR;
			n->st.queued_frames--;
			n->st.queued_bytes -= q->size - PEER_FRAME_HDR;
			free(q);
		}
		assert(left == 0);
	}
	out_interest(p, n, n->qhead ? EPOLLIN | EPOLLOUT : EPOLLIN);
	check_queue(n);
}

static void in_close(struct peer *p, struct node *n);

/* We refused n's credentials: our link to it is not used either. */
static void in_auth_refused(struct peer *p, struct node *n)
{
	n->in_auth_bad = true;
	if (n->ost == PEER_LINK_UP)
		out_down(p, n);
}

/* n refused our credentials: its link to us is not taken either. */
static void out_auth_refused(struct peer *p, struct node *n)
{
	n->out_auth_bad = true;
	if (n->ifd >= 0)
		in_close(p, n);
}

static void out_up(struct peer *p, struct node *n)
{
	if (n->in_auth_bad) {
		note(p, n,
		     "link to %s not used: we refused its quorum authentication, and a pair "
		     "of servers is linked both ways or not at all",
		     n->name);
		out_down(p, n);
		return;
	}
	n->out_auth_bad = false;
	out_auth_free(n);
	n->ost = PEER_LINK_UP;
	n->backoff_ms = p->bo_min;
	n->last_progress = p->now;
	n->st.connects++;
	if (p->cb.on_event)
		p->cb.on_event(p->cb.arg, n->id, PEER_EV_CONNECTED);
}

static void out_auth_after(struct peer *p, struct node *n, enum peer_auth_status st, int rc,
			   const uint8_t *out, size_t ol, const char *why);

/* The first token (our step done, inline or by the helper): send it. */
static void out_auth_first(struct peer *p, struct node *n, int rc, const uint8_t *tok, size_t tl,
			   const char *why)
{
	if (rc >= 0)
		rc = auth_send(n->ossl, n->ofd, PEER_AUTH_TOKEN, tok, tl);
	else
		rc = -EACCES;
	if (rc) {
		note(p, n, "dialling %s: cannot start quorum SASL (JAAS section %s): %s", n->name,
		     p->sasl->learner_ctx, why[0] ? why : strerror(-rc));
		out_down(p, n);
	}
}

/* Our learner side: quorum.auth.learnerRequireSasl, the acceptor answered. */
static void out_auth_start(struct peer *p, struct node *n)
{
	char why[160] = "";
	const uint8_t *tok = NULL;
	size_t tl = 0;
	int rc;

	n->abuf = malloc(PEER_AUTH_HDR + PEER_AUTH_TOKEN_MAX);
	rc = n->abuf ? peer_sasl_conn_new(false, n->host, &n->osasl, why, sizeof(why)) : -ENOMEM;
	if (rc) {
		note(p, n, "dialling %s: cannot start quorum SASL (JAAS section %s): %s", n->name,
		     p->sasl->learner_ctx, why[0] ? why : strerror(-rc));
		out_down(p, n);
		return;
	}
	n->agot = 0;
	n->ost = PEER_LINK_AUTH;
	rc = peer_sasl_step(n->osasl, NULL, 0, &tok, &tl, why, sizeof(why));
	if (rc == -EINPROGRESS) {
		n->owait = true;
		n->ofirst = true;
		return;
	}
	out_auth_first(p, n, rc, tok, tl, why);
}

/* Ends a wait for the helper: the acceptor owes us nothing meanwhile. */
static void out_auth_wait_event(struct peer *p, struct node *n)
{
	uint8_t b[1];
	ssize_t r = link_recv(n->ossl, n->ofd, b, sizeof(b));

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	note(p, n, "dialling %s: %s during our quorum SASL step", n->name,
	     r == 0  ? "closed"
	     : r > 0 ? "it sent bytes out of turn (protocol error)"
		     : strerror(errno));
	out_down(p, n);
}

static void out_auth_event(struct peer *p, struct node *n)
{
	if (n->owait) {
		out_auth_wait_event(p, n);
		return;
	}
	enum peer_auth_status st;
	const uint8_t *tok, *out;
	uint32_t tl;
	size_t ol;
	char why[160] = "";
	int rc = auth_recv(n->ossl, n->ofd, n->abuf, &n->agot, &st, &tok, &tl);

	if (rc == 0)
		return;
	if (rc < 0 && rc != -EBADMSG) {
		note(p, n,
		     "dialling %s: closed during quorum SASL (%s); does it have "
		     "quorum.auth.enableSasl=true? (see its log)",
		     n->name, rc == -EPIPE ? "end of stream" : strerror(-rc));
		out_down(p, n);
		return;
	}
	if (rc < 0 || st == PEER_AUTH_TOKEN) {
		note(p, n, "dialling %s: malformed quorum SASL message: refused", n->name);
		out_down(p, n);
		return;
	}
	if (st == PEER_AUTH_ERROR) {
		note(p, n,
		     "dialling %s: it refused our quorum SASL credentials (JAAS section %s; "
		     "see its section %s and its log)",
		     n->name, p->sasl->learner_ctx, p->sasl->server_ctx);
		out_down(p, n);
		out_auth_refused(p, n);
		return;
	}
	rc = peer_sasl_step(n->osasl, tok, tl, &out, &ol, why, sizeof(why));
	if (rc == -EINPROGRESS) {
		n->owait = true;
		n->ofirst = false;
		n->ast = st;
		return;
	}
	out_auth_after(p, n, st, rc, out, ol, why);
}

/* Our step on the acceptor's answer st is done (inline or by the helper). */
static void out_auth_after(struct peer *p, struct node *n, enum peer_auth_status st, int rc,
			   const uint8_t *out, size_t ol, const char *why)
{
	if (rc < 0 || (st == PEER_AUTH_SUCCESS && rc != 0)) {
		note(p, n, "dialling %s: quorum SASL failed on our side (JAAS section %s): %s",
		     n->name, p->sasl->learner_ctx, why[0] ? why : "the server ended early");
		out_down(p, n);
		return;
	}
	if (st == PEER_AUTH_SUCCESS) {
		log_info("peer %u: authenticated to %s with quorum SASL", p->self, n->name);
		out_up(p, n);
		return;
	}
	rc = auth_send(n->ossl, n->ofd, PEER_AUTH_TOKEN, out, ol);
	if (rc) {
		note(p, n, "dialling %s: sending a quorum SASL token: %s", n->name, strerror(-rc));
		out_down(p, n);
	}
}

static void out_event(struct peer *p, struct node *n, uint32_t events)
{
	if (n->ofd < 0)
		return; /* closed earlier in this batch */
	if (n->ost == PEER_LINK_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(n->ofd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			note(p, n, "dialling %s: %s", n->name, strerror(err));
			out_down(p, n);
		} else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			out_tcp_up(p, n);
		}
		return;
	}
	if (n->ost == PEER_LINK_TLS) {
		out_tls_event(p, n);
		return;
	}
	if (n->ost == PEER_LINK_HELLO) {
		ssize_t r = link_recv(n->ossl, n->ofd, n->hello + n->hello_got,
				      PEER_HELLO_SIZE - n->hello_got);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			note(p, n,
			     "dialling %s: closed during the handshake (%s; see its log: it "
			     "refused us?)",
			     n->name, r == 0 ? "end of stream" : strerror(errno));
			out_down(p, n);
			return;
		}
		if (r < 0)
			return;
		n->hello_got += (size_t)r;
		struct peer_hello h;
		int k = peer_hello_parse(n->hello, n->hello_got, &h);
		if (k == 0)
			return;
		if (k < 0)
			note(p, n, "dialling %s: its answer is not a Cheetah peer handshake (%s)",
			     n->name,
			     k == -EPROTONOSUPPORT ? "another protocol version"
						   : "bad magic or checksum");
		else if (h.ensemble != p->ensemble || h.from != n->id || h.to != p->self)
			note(p, n,
			     "dialling %s: it says it is server %u of ensemble %016llx talking to "
			     "server %u, "
			     "we are server %u of ensemble %016llx: refused",
			     n->name, h.from, (unsigned long long)h.ensemble, h.to, p->self,
			     (unsigned long long)p->ensemble);
		if (k < 0 || h.ensemble != p->ensemble || h.from != n->id || h.to != p->self) {
			out_down(p, n);
			return;
		}
		if (p->sasl && p->sasl->learner_require)
			out_auth_start(p, n);
		else
			out_up(p, n);
		return;
	}
	if (n->ost == PEER_LINK_AUTH) {
		out_auth_event(p, n);
		return;
	}
	assert(n->ost == PEER_LINK_UP);
	/* EPOLLERR/EPOLLHUP come even without interest: recv() reports them. */
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		uint8_t junk[64];
		ssize_t r = link_recv(n->ossl, n->ofd, junk, sizeof(junk));
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			note(p, n, "link to %s closed (%s)", n->name,
			     r == 0 ? "end of stream" : strerror(errno));
			out_down(p, n);
			return;
		}
		if (r > 0) {
			note(p, n,
			     "link to %s: the acceptor sent %zd bytes after its handshake "
			     "(protocol error)",
			     n->name, r);
			out_down(p, n);
			return;
		}
	}
	if (n->ofd >= 0 && (events & EPOLLOUT))
		flush(p, n);
}

/* ---------------------------------------------------------------- inbound */

static void in_close(struct peer *p, struct node *n)
{
	(void)p;
	assert(n->ifd >= 0);
	SSL_free(n->issl);
	n->issl = NULL;
	close(n->ifd);
	n->ifd = -1;
	free(n->rbuf);
	n->rbuf = NULL;
	n->rlen = n->rcap = 0;
	n->st.in_up = false;
}

static void in_event(struct peer *p, struct node *n)
{
	size_t budget = 4u << 20;
	size_t cap_max = (size_t)p->max_frame + PEER_FRAME_HDR;

	while (n->ifd >= 0 && budget) {
		if (!n->rbuf) {
			n->rcap = PEER_RBUF_MIN < cap_max ? PEER_RBUF_MIN : cap_max;
			n->rbuf = malloc(n->rcap);
			if (!n->rbuf) {
				n->rcap = 0;
				note(p, n,
				     "link from %s: no memory for its receive buffer; closing it",
				     n->name);
				in_close(p, n);
				return;
			}
		}
		assert(n->rlen < n->rcap && n->rcap <= cap_max);
		ssize_t r = link_recv(n->issl, n->ifd, n->rbuf + n->rlen, n->rcap - n->rlen);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			log_debug("peer %u: inbound link from %s closed", p->self, n->name);
			in_close(p, n);
			return;
		}
		if (r < 0)
			return;
		n->rlen += (size_t)r;
		budget = (size_t)r < budget ? budget - (size_t)r : 0;
		size_t off = 0, need = 0;
		for (;;) {
			struct peer_frame f;
			int k =
			    peer_frame_parse(n->rbuf + off, n->rlen - off, p->max_frame, &f, &need);
			if (k == 0)
				break;
			if (k < 0) {
				n->st.bad_frames++;
				note(p, n, "link from %s: %s; closing it", n->name,
				     k == -EMSGSIZE ? "frame length above the maximum"
						    : "corrupt frame (checksum, type or flags)");
				in_close(p, n);
				return;
			}
			n->st.frames_recv++;
			n->st.bytes_recv += f.len;
			if (p->cb.on_frame)
				p->cb.on_frame(p->cb.arg, n->id, f.type, f.payload, f.len);
			off += (size_t)k;
		}
		if (off) {
			memmove(n->rbuf, n->rbuf + off, n->rlen - off);
			n->rlen -= off;
		}
		assert(need <= cap_max);
		if (need > n->rcap || n->rlen == n->rcap) {
			size_t nc = n->rcap * 2 > need ? n->rcap * 2 : need;
			if (nc > cap_max)
				nc = cap_max;
			uint8_t *nb = realloc(n->rbuf, nc);
			if (!nb) {
				note(p, n,
				     "link from %s: no memory for a %zu-byte frame; closing it",
				     n->name, need);
				in_close(p, n);
				return;
			}
			n->rbuf = nb;
			n->rcap = nc;
		}
	}
}

static void pend_close_state(struct pending *pd)
{
	peer_sasl_conn_free(pd->sasl);
	pd->sasl = NULL;
	free(pd->abuf);
	pd->abuf = NULL;
	pd->agot = 0;
	pd->steps = 0;
	pd->wait = false;
	pd->n = NULL;
}

static void pend_close(struct pending *pd)
{
	SSL_free(pd->ssl);
	pd->ssl = NULL;
	close(pd->fd);
	pd->fd = -1;
	pend_close_state(pd);
}

/* The connection pd from member n is accepted: it becomes n's inbound link. */
static void pend_promote(struct peer *p, struct pending *pd, struct node *n)
{
	if (n->out_auth_bad) {
		n->st.refused++;
		note_in(p, n,
			"link from %s (%s) not taken: it refuses our quorum credentials (JAAS "
			"section %s), and a pair of servers is linked both ways or not at all",
			n->name, pd->from, p->sasl ? p->sasl->learner_ctx : "?");
		pend_close(pd);
		return;
	}
	n->in_auth_bad = false;
	if (n->ifd >= 0) {
		log_info("peer %u: a new connection from %s replaces the old one", p->self,
			 n->name);
		in_close(p, n);
	}
	if (ep(p, EPOLL_CTL_MOD, pd->fd, EPOLLIN, tag(T_IN, (size_t)(n - p->nodes))) < 0) {
		pend_close(pd);
		return;
	}
	n->ifd = pd->fd;
	n->issl = pd->ssl;
	pd->ssl = NULL;
	n->st.in_up = true;
	memcpy(n->st.in_from, pd->from, sizeof(n->st.in_from) - 1);
	n->st.in_from[sizeof(n->st.in_from) - 1] = '\0';
	n->st.in_since_wall = clock_wall_ms();
	pd->fd = -1;
	pend_close_state(pd);
}

static void pend_auth_after(struct peer *p, struct pending *pd, int rc, const uint8_t *out,
			    size_t ol, const char *why);

/* Our server side of quorum SASL: one read, whole messages stepped. */
static void pend_auth_event(struct peer *p, struct pending *pd)
{
	struct node *n = pd->n;
	if (pd->wait) {
		/* The learner owes us nothing while the helper has our step. */
		uint8_t b[1];
		ssize_t w = link_recv(pd->ssl, pd->fd, b, sizeof(b));
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		n->st.refused++;
		note_in(p, n, "%s (%s) %s during quorum SASL", n->name, pd->from,
			w == 0 ? "closed its link" : "sent bytes out of turn");
		pend_close(pd);
		return;
	}
	enum peer_auth_status st;
	const uint8_t *tok, *out;
	uint32_t tl;
	size_t ol;
	char why[160] = "";
	int rc = auth_recv(pd->ssl, pd->fd, pd->abuf, &pd->agot, &st, &tok, &tl);

	if (rc == 0)
		return;
	if (rc < 0 && rc != -EBADMSG) {
		n->st.refused++;
		note_in(p, n, "%s (%s) closed its link during quorum SASL", n->name, pd->from);
		pend_close(pd);
		return;
	}
	if (rc < 0 || st != PEER_AUTH_TOKEN || ++pd->steps > PEER_AUTH_MAX_STEPS) {
		n->st.refused++;
		note_in(p, n, "%s (%s): malformed or too long quorum SASL exchange: refused",
			n->name, pd->from);
		(void)auth_send(pd->ssl, pd->fd, PEER_AUTH_ERROR, NULL, 0);
		pend_close(pd);
		in_auth_refused(p, n);
		return;
	}
	rc = peer_sasl_step(pd->sasl, tok, tl, &out, &ol, why, sizeof(why));
	if (rc == -EINPROGRESS) {
		pd->wait = true;
		return;
	}
	pend_auth_after(p, pd, rc, out, ol, why);
}

/* Our server step is done (inline or by the helper): answer. */
static void pend_auth_after(struct peer *p, struct pending *pd, int rc, const uint8_t *out,
			    size_t ol, const char *why)
{
	struct node *n = pd->n;

	if (rc < 0) {
		/*
		 * ZooKeeper without serverRequireSasl keeps the connection after
		 * a failed exchange, but its learner gives up on the ERROR it
		 * gets, so the link never carries anything either way: we close.
		 */
		n->st.refused++;
		note_in(p, n,
			"%s (%s) failed quorum SASL against JAAS section %s (its %s "
			"credentials): %s: refused",
			n->name, pd->from, p->sasl->server_ctx, p->sasl->learner_ctx,
			why[0] ? why : "authentication failure");
		(void)auth_send(pd->ssl, pd->fd, PEER_AUTH_ERROR, NULL, 0);
		pend_close(pd);
		in_auth_refused(p, n);
		return;
	}
	if (rc == 0) {
		log_info("peer %u: %s authenticated with quorum SASL as %s", p->self, n->name,
			 peer_sasl_user(pd->sasl));
		rc = auth_send(pd->ssl, pd->fd, PEER_AUTH_SUCCESS, out, ol);
		if (rc) {
			note_in(p, n, "answering quorum SASL of %s: %s", n->name, strerror(-rc));
			pend_close(pd);
			return;
		}
		pend_promote(p, pd, n);
		return;
	}
	rc = auth_send(pd->ssl, pd->fd, PEER_AUTH_IN_PROGRESS, out, ol);
	if (rc) {
		note_in(p, n, "answering quorum SASL of %s: %s", n->name, strerror(-rc));
		pend_close(pd);
	}
}

/* peer_sasl's helper finished steps: finish them as the inline path does. */
static void auth_wake(struct peer *p)
{
	const uint8_t *out;
	size_t ol;
	char why[160];
	int rc;

	peer_sasl_wake_drain();
	for (size_t i = 0; i < p->n; i++) {
		struct node *n = &p->nodes[i];
		if (!n->id || n->ofd < 0 || n->ost != PEER_LINK_AUTH || !n->owait)
			continue;
		why[0] = '\0';
		rc = peer_sasl_result(n->osasl, &out, &ol, why, sizeof(why));
		if (rc == -EINPROGRESS)
			continue;
		n->owait = false;
		if (n->ofirst)
			out_auth_first(p, n, rc, out, ol, why);
		else
			out_auth_after(p, n, n->ast, rc, out, ol, why);
	}
	for (size_t j = 0; j < PEER_PENDING_MAX; j++) {
		struct pending *pd = &p->pend[j];
		if (pd->fd < 0 || !pd->sasl || !pd->wait)
			continue;
		why[0] = '\0';
		rc = peer_sasl_result(pd->sasl, &out, &ol, why, sizeof(why));
		if (rc == -EINPROGRESS)
			continue;
		pd->wait = false;
		pend_auth_after(p, pd, rc, out, ol, why);
	}
}

static void pend_event(struct peer *p, struct pending *pd)
{
	if (pd->fd < 0)
		return;
	if (pd->sasl) {
		pend_auth_event(p, pd);
		return;
	}
	if (pd->ssl && !pd->tls_done) {
		char why[200] = "";
		bool ww = false;
		int t = tls_step(pd->ssl, &ww, why, sizeof(why));

		if (t < 0) {
			p->gs.refused_unknown++;
			note(p, NULL, "connection from %s: TLS handshake failed (sslQuorum): %s",
			     pd->from, why);
			pend_close(pd);
			return;
		}
		ep(p, EPOLL_CTL_MOD, pd->fd, t == 0 && ww ? EPOLLOUT : EPOLLIN,
		   tag(T_PEND, (size_t)(pd - p->pend)));
		if (t == 0)
			return;
		pd->tls_done = true; /* the hello may already be here: read on */
	}
	ssize_t r = link_recv(pd->ssl, pd->fd, pd->buf + pd->got, PEER_HELLO_SIZE - pd->got);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		p->gs.refused_unknown++;
		note(p, NULL, "connection from %s closed before its handshake", pd->from);
		pend_close(pd);
		return;
	}
	if (r < 0)
		return;
	pd->got += (size_t)r;
	struct peer_hello h;
	int k = peer_hello_parse(pd->buf, pd->got, &h);
	if (k == 0)
		return;
	if (k < 0) {
		p->gs.refused_unknown++;
		if (k == -EPROTONOSUPPORT)
			note(p, NULL,
			     "connection from %s speaks peer protocol version %u, we speak %u: "
			     "refused",
			     pd->from, h.version, PEER_VERSION);
		else
			note(p, NULL,
			     "connection from %s is not a Cheetah peer handshake (bad magic or "
			     "checksum): refused",
			     pd->from);
		pend_close(pd);
		return;
	}
	struct node *n = find(p, h.from);
	const char *why = NULL;
	if (h.ensemble != p->ensemble)
		why = "another ensemble";
	else if (h.from == p->self)
		why = "it claims our own id";
	else if (!n)
		why = "unknown id";
	else if (h.to != p->self)
		why = "wrong id: it meant to dial another server";

	if (why) {
		if (n && h.from != p->self)
			n->st.refused++;
		else
			p->gs.refused_unknown++;
		note_in(p, h.from != p->self ? n : NULL,
			"peer %s says it is server %u of ensemble %016llx talking to server %u, "
			"we are server %u of ensemble %016llx: refused (%s)",
			pd->from, h.from, (unsigned long long)h.ensemble, h.to, p->self,
			(unsigned long long)p->ensemble, why);
		pend_close(pd);
		return;
	}
	/* ZooKeeper's NullQuorumAuthServer / SaslQuorumAuthServer decisions. */
	if ((h.flags & PEER_HELLO_F_SASL) && !p->sasl)
		why = "wants quorum SASL (its quorum.auth.learnerRequireSasl=true) but "
		      "quorum.auth.enableSasl is false here";
	else if (!(h.flags & PEER_HELLO_F_SASL) && p->sasl && p->sasl->server_require)
		why = "does not authenticate (its quorum.auth.learnerRequireSasl=false) and "
		      "quorum.auth.serverRequireSasl is true here";
	if (why) {
		n->st.refused++;
		note_in(p, n, "%s (%s) refused: it %s", n->name, pd->from, why);
		pend_close(pd);
		in_auth_refused(p, n);
		return;
	}
	struct peer_hello ans = {PEER_MAGIC, PEER_VERSION, 0, p->ensemble, p->self, n->id};
	uint8_t b[PEER_HELLO_SIZE];
	peer_hello_encode(&ans, b);
	if (link_send(pd->ssl, pd->fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		note(p, n, "answering the handshake of %s: %s", n->name, strerror(errno));
		pend_close(pd);
		return;
	}
	if (h.flags & PEER_HELLO_F_SASL) {
		char e[160] = "";
		int rc;
		pd->abuf = malloc(PEER_AUTH_HDR + PEER_AUTH_TOKEN_MAX);
		rc = pd->abuf ? peer_sasl_conn_new(true, NULL, &pd->sasl, e, sizeof(e)) : -ENOMEM;
		if (rc) {
			note_in(p, n, "quorum SASL for %s: %s", n->name, e[0] ? e : strerror(-rc));
			pend_close(pd);
			return;
		}
		pd->n = n;
		pd->agot = 0;
		pd->steps = 0;
		return; /* the pending deadline (handshake_timeout_ms) still runs */
	}
	pend_promote(p, pd, n);
}

static void pause_listen(struct peer *p)
{
	if (p->listen_paused)
		return;
	p->listen_paused = true;
	p->listen_retry_at = p->now + PEER_EMFILE_RETRY_MS;
	ep(p, EPOLL_CTL_MOD, p->lq, 0, tag(T_LQ, 0));
	if (p->le >= 0)
		ep(p, EPOLL_CTL_MOD, p->le, 0, tag(T_LE, 0));
}

static void addr_str(const struct sockaddr_storage *sa, char *out, size_t cap)
{
	char h[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;
		inet_ntop(AF_INET, &s->sin_addr, h, sizeof(h));
		port = ntohs(s->sin_port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, h, sizeof(h));
		port = ntohs(s->sin6_port);
	}
	snprintf(out, cap, "%s:%u", h, port);
}

static void accept_on(struct peer *p, int lfd, bool election)
{
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (fd_exhausted(-e)) {
				char eb[160];
				p->gs.emfile++;
				note(p, NULL, "accept: %s; accepting again in %u ms",
				     fd_strerror(-e, eb, sizeof(eb)), PEER_EMFILE_RETRY_MS);
				pause_listen(p);
				return;
			}
			if (e == ECONNABORTED || e == EINTR)
				continue;
			if (e != EAGAIN && e != EWOULDBLOCK)
				note(p, NULL, "accept: %s", strerror(e));
			return;
		}
		char from[64];
		addr_str(&sa, from, sizeof(from));
		if (election) {
			p->gs.election_port_conns++;
			note(p, NULL,
			     "connection from %s to the election port closed: the election port "
			     "carries "
			     "nothing in Cheetah (elections use the quorum port); a ZooKeeper "
			     "server in the ensemble?",
			     from);
			close(fd);
			continue;
		}
		struct pending *pd = NULL;
		for (size_t j = 0; j < PEER_PENDING_MAX && !pd; j++)
			if (p->pend[j].fd < 0)
				pd = &p->pend[j];
		if (!pd) {
			p->gs.pending_overflow++;
			note(p, NULL, "connection from %s closed: %d handshakes already pending",
			     from, PEER_PENDING_MAX);
			close(fd);
			continue;
		}
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (ep(p, EPOLL_CTL_ADD, fd, EPOLLIN, tag(T_PEND, (size_t)(pd - p->pend))) < 0) {
			close(fd);
			continue;
		}
		if (p->tls) {
			pd->ssl = tls_new(p, fd, false, NULL, &sa);
			if (!pd->ssl) {
				close(fd); /* also leaves the epoll set */
				continue;
			}
			pd->tls_done = false;
		}
		pd->fd = fd;
		pd->got = 0;
		pd->deadline = p->now + p->hs_ms;
		snprintf(pd->from, sizeof(pd->from), "%s", from);
	}
}

/* ---------------------------------------------------------------- life cycle */

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *sa, socklen_t *sl)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char ps[8];

	snprintf(ps, sizeof(ps), "%u", port);
	int r = getaddrinfo(host, ps, &hints, &res);
	if (r != 0 || !res) {
		log_error("peer: cannot resolve %s: %s", host, gai_strerror(r));
		return -EINVAL;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*sl = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int listen_on(struct peer *p, const struct sockaddr_storage *sa0, socklen_t sl,
		     uint16_t port, bool all, enum tag_kind k, int *out)
{
	struct sockaddr_storage sa = *sa0;

	if (sa.ss_family == AF_INET) {
		struct sockaddr_in *s = (void *)&sa;
		s->sin_port = htons(port);
		if (all)
			s->sin_addr.s_addr = htonl(INADDR_ANY);
	} else {
		struct sockaddr_in6 *s = (void *)&sa;
		s->sin6_port = htons(port);
		if (all)
			s->sin6_addr = in6addr_any;
	}
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sl) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		char a[64];
		addr_str(&sa, a, sizeof(a));
		log_error("peer: cannot listen on %s: %s", a, strerror(e));
		close(fd);
		return -e;
	}
	int r = ep(p, EPOLL_CTL_ADD, fd, EPOLLIN, tag(k, 0));
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

int peer_new(const struct peer_config *cfg, const struct peer_callbacks *cb, struct peer **out)
{
	const struct peer_member *self = NULL;

	if (!cfg || !out || !cfg->members || cfg->n_members == 0 ||
	    cfg->n_members > PEER_MAX_MEMBERS || cfg->ensemble == 0 ||
	    cfg->max_frame > PEER_FRAME_LIMIT) {
		log_error("peer: bad configuration (members, ensemble or max_frame)");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_members; i++) {
		const struct peer_member *m = &cfg->members[i];
		if (m->id == 0 || !m->host || m->quorum_port == 0) {
			log_error("peer: member %zu: id, host and quorum port are required", i);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (cfg->members[j].id == m->id) {
				log_error("peer: server.%u listed twice", m->id);
				return -EINVAL;
			}
		if (m->id == cfg->self_id)
			self = m;
	}
	if (!self) {
		log_error("peer: our id %u is not among the servers", cfg->self_id);
		return -EINVAL;
	}

	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->self = cfg->self_id;
	p->ensemble = cfg->ensemble;
#define DEF(x, d) ((x) ? (x) : (d))
	p->max_frame = DEF(cfg->max_frame, PEER_DEFAULT_MAX_FRAME);
	p->q_bytes = DEF(cfg->queue_max_bytes, PEER_DEFAULT_QUEUE_BYTES);
	p->q_frames = DEF(cfg->queue_max_frames, PEER_DEFAULT_QUEUE_FRAMES);
	p->dial_ms = DEF(cfg->dial_timeout_ms, PEER_DEFAULT_DIAL_TIMEOUT_MS);
	p->hs_ms = DEF(cfg->handshake_timeout_ms, PEER_DEFAULT_HANDSHAKE_TIMEOUT_MS);
	p->stall_ms = DEF(cfg->stall_timeout_ms, PEER_DEFAULT_STALL_TIMEOUT_MS);
	p->bo_min = DEF(cfg->backoff_min_ms, PEER_DEFAULT_BACKOFF_MIN_MS);
	p->bo_max = DEF(cfg->backoff_max_ms, PEER_DEFAULT_BACKOFF_MAX_MS);
	p->sasl = cfg->sasl;
#undef DEF
	if (p->bo_max < p->bo_min)
		p->bo_max = p->bo_min;
	if (p->q_bytes < p->max_frame) {
		log_error("peer: queue_max_bytes %u is below max_frame %u: the largest frame could "
			  "never be queued",
			  p->q_bytes, p->max_frame);
		free(p);
		return -EINVAL;
	}
	if (cb)
		p->cb = *cb;
	p->rng = cfg->seed ^ (uint64_t)cfg->self_id << 40;
	p->lq = p->le = -1;
	for (size_t j = 0; j < PEER_PENDING_MAX; j++)
		p->pend[j].fd = -1;

	int r = 0;
	for (size_t i = 0; i < cfg->n_members && r == 0; i++) {
		const struct peer_member *m = &cfg->members[i];
		if (m == self)
			continue;
		struct node *n = &p->nodes[p->n++];
		n->id = m->id;
		n->st.id = m->id;
		n->ofd = n->ifd = -1;
		n->backoff_ms = p->bo_min;
		snprintf(n->name, sizeof(n->name), "server %u (%s:%u)", m->id, m->host,
			 m->quorum_port);
		snprintf(n->host, sizeof(n->host), "%s", m->host);
		r = resolve(m->host, m->quorum_port, &n->sa, &n->salen);
	}
	if (r == 0 && cfg->tls) {
		if (cfg->tls->cert_reload) {
			/* Before building: a change during the build is seen at the next check. */
			p->tls_cfg = cfg->tls;
			tls_file_id_read(cfg->tls->keystore, &p->tls_ks);
			tls_file_id_read(cfg->tls->truststore, &p->tls_ts);
		}
		r = tls_ctx_build(cfg->tls, "ssl.quorum", TLS_CTX_QUORUM, &p->tls);
		p->tls_host = cfg->tls->hostname_verification;
	}
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0 && r == 0)
		r = -errno;
	struct sockaddr_storage ssa;
	socklen_t ssl;
	/* GSSAPI quorum SASL: the helper's eventfd says a step finished. */
	if (r == 0 && p->sasl && peer_sasl_wake_fd() >= 0)
		r = ep(p, EPOLL_CTL_ADD, peer_sasl_wake_fd(), EPOLLIN, tag(T_WAKE, 0));
	if (r == 0)
		r = resolve(self->host, self->quorum_port, &ssa, &ssl);
	if (r == 0)
		r = listen_on(p, &ssa, ssl, self->quorum_port, cfg->listen_all, T_LQ, &p->lq);
	if (r == 0 && self->election_port)
		r = listen_on(p, &ssa, ssl, self->election_port, cfg->listen_all, T_LE, &p->le);
	if (r < 0) {
		if (p->lq >= 0)
			close(p->lq);
		if (p->epfd >= 0)
			close(p->epfd);
		SSL_CTX_free(p->tls);
		free(p);
		return r;
	}
	*out = p;
	return 0;
}

void peer_destroy(struct peer *p)
{
	if (!p)
		return;
	assert(!p->in_poll);
	for (size_t i = 0; i < p->n; i++) {
		struct node *n = &p->nodes[i];
		SSL_free(n->ossl);
		if (n->ofd >= 0)
			close(n->ofd);
		out_auth_free(n);
		drop_queue(n);
		if (n->ifd >= 0)
			in_close(p, n);
	}
	for (size_t j = 0; j < PEER_PENDING_MAX; j++)
		if (p->pend[j].fd >= 0)
			pend_close(&p->pend[j]);
	if (p->le >= 0)
		close(p->le);
	close(p->lq);
	close(p->epfd);
	SSL_CTX_free(p->tls);
	free(p);
}

int peer_fd(const struct peer *p)
{
	return p->epfd;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * sslQuorumReloadCertFiles (ZooKeeper: X509Util.enableCertFileReloading,
 * whose FileChangeWatcher resets the context when the key or trust store
 * file changes).  Runs on the owner thread, from peer_poll, at most once
 * per PEER_TLS_CHECK_MS: two stat() calls; only when a file changed does
 * it build a context, which reads the two store files (local files of a
 * few kB; PKCS12's key derivation included, a few ms once per change).
 * That is bounded and short, so no helper thread: it delays the other
 * links' events by that much once per change.  Links made afterwards use
 * the new context (SSL_new takes a reference), existing links keep the
 * old one until they close.  A context that fails to build (a half
 * written or wrong file) is logged, rate-limited, and the old one stays;
 * it is tried again when a file changes again.
 */
static void tls_reload(struct peer *p)
{
	struct tls_file_id ks, ts;
	SSL_CTX *ctx;

	if (!p->tls_cfg || p->now < p->tls_check_at)
		return;
	p->tls_check_at = p->now + PEER_TLS_CHECK_MS;
	tls_file_id_read(p->tls_cfg->keystore, &ks);
	tls_file_id_read(p->tls_cfg->truststore, &ts);
	if (tls_file_id_same(&ks, &p->tls_ks) && tls_file_id_same(&ts, &p->tls_ts))
		return;
	p->tls_ks = ks;
	p->tls_ts = ts;
	if (tls_ctx_build(p->tls_cfg, "ssl.quorum", TLS_CTX_QUORUM, &ctx)) {
		ERR_clear_error();
		if (rate_ok(p->now, &p->tls_log_at, &p->tls_logged))
			log_error("peer %u: sslQuorumReloadCertFiles: the changed quorum key or "
				  "trust store could not be loaded (line above); new links keep "
				  "the previous certificates",
				  p->self);
		return;
	}
	assert(p->tls);
	SSL_CTX_free(p->tls); /* links made with it hold their own reference */
	p->tls = ctx;
	log_info("peer %u: sslQuorumReloadCertFiles: reloaded the quorum key and trust stores "
		 "(%s%s%s); new links use them",
		 p->self, p->tls_cfg->keystore ? p->tls_cfg->keystore : "",
		 p->tls_cfg->truststore ? ", " : "",
		 p->tls_cfg->truststore ? p->tls_cfg->truststore : "");
}

int peer_poll(struct peer *p, uint64_t now_ms, uint64_t *next_ms)
{
	struct epoll_event evs[64];
	int ret = 0;

	assert(!p->in_poll);
	assert(now_ms >= p->now);
	p->in_poll = true;
	p->now = now_ms;
	tls_reload(p);

	int k = epoll_wait(p->epfd, evs, 64, 0);
	if (k < 0) {
		if (errno != EINTR)
			ret = -errno;
		k = 0;
	}
	for (int i = 0; i < k; i++) {
		enum tag_kind kind = (enum tag_kind)(evs[i].data.u64 >> 32);
		size_t idx = (size_t)(uint32_t)evs[i].data.u64;
		switch (kind) {
		case T_LQ:
			accept_on(p, p->lq, false);
			break;
		case T_LE:
			accept_on(p, p->le, true);
			break;
		case T_OUT:
			assert(idx < p->n);
			if (p->nodes[idx].id && p->nodes[idx].ofd >= 0)
				out_event(p, &p->nodes[idx], evs[i].events);
			break;
		case T_IN:
			assert(idx < p->n);
			if (p->nodes[idx].id && p->nodes[idx].ifd >= 0)
				in_event(p, &p->nodes[idx]);
			break;
		case T_PEND:
			assert(idx < PEER_PENDING_MAX);
			pend_event(p, &p->pend[idx]);
			break;
		case T_WAKE:
			auth_wake(p);
			break;
		}
	}

	uint64_t next = UINT64_MAX;
	if (p->tls_cfg)
		next = min64(next, p->tls_check_at);
	/* Bytes OpenSSL holds (the rest of a record) raise no epoll event. */
	for (size_t i = 0; i < p->n; i++) {
		struct node *n = &p->nodes[i];
		if (n->id && n->ifd >= 0 && n->issl && SSL_pending(n->issl) > 0)
			in_event(p, n);
		if (n->id && n->ifd >= 0 && n->issl && SSL_pending(n->issl) > 0)
			next = now_ms; /* the read budget ran out: again at once */
	}
	if (p->listen_paused) {
		if (now_ms >= p->listen_retry_at) {
			p->listen_paused = false;
			ep(p, EPOLL_CTL_MOD, p->lq, EPOLLIN, tag(T_LQ, 0));
			if (p->le >= 0)
				ep(p, EPOLL_CTL_MOD, p->le, EPOLLIN, tag(T_LE, 0));
		} else {
			next = min64(next, p->listen_retry_at);
		}
	}
	for (size_t j = 0; j < PEER_PENDING_MAX; j++) {
		struct pending *pd = &p->pend[j];
		if (pd->fd < 0)
			continue;
		if (now_ms >= pd->deadline) {
			p->gs.refused_unknown++;
			note(p, NULL, "connection from %s: no handshake within %u ms: closed",
			     pd->from, p->hs_ms);
			pend_close(pd);
		} else {
			next = min64(next, pd->deadline);
		}
	}
	for (size_t i = 0; i < p->n; i++) {
		struct node *n = &p->nodes[i];
		if (!n->id)
			continue; /* removed */
		if (n->ost == PEER_LINK_IDLE && now_ms >= n->retry_at)
			dial(p, n);
		if ((n->ost == PEER_LINK_CONNECTING || n->ost == PEER_LINK_HELLO ||
		     n->ost == PEER_LINK_AUTH || n->ost == PEER_LINK_TLS) &&
		    now_ms >= n->odeadline) {
			note(p, n, "dialling %s: no %s within %u ms", n->name,
			     n->ost == PEER_LINK_CONNECTING ? "connection"
			     : n->ost == PEER_LINK_HELLO    ? "handshake answer"
			     : n->ost == PEER_LINK_TLS	    ? "TLS handshake"
							    : "quorum SASL answer",
			     p->dial_ms);
			out_down(p, n);
		}
		if (n->ost == PEER_LINK_UP && n->qhead) {
			flush(p, n);
			if (n->ost == PEER_LINK_UP && n->qhead &&
			    now_ms - n->last_progress >= p->stall_ms) {
				n->st.stalls++;
				note(p, n,
				     "link to %s: it read nothing for %u ms with %u frames "
				     "waiting: closed",
				     n->name, p->stall_ms, n->st.queued_frames);
				out_down(p, n);
			}
		}
		switch (n->ost) {
		case PEER_LINK_IDLE:
			next = min64(next, n->retry_at);
			break;
		case PEER_LINK_CONNECTING:
		case PEER_LINK_HELLO:
		case PEER_LINK_AUTH:
		case PEER_LINK_TLS:
			next = min64(next, n->odeadline);
			break;
		case PEER_LINK_UP:
			if (n->qhead)
				next = min64(next, n->last_progress + p->stall_ms);
			break;
		}
		assert((n->ofd >= 0) == (n->ost != PEER_LINK_IDLE));
		check_queue(n);
	}
	p->in_poll = false;
	if (next_ms)
		*next_ms = next;
	return ret;
}

/*
 * The frame of len payload bytes queued for `to`: the payload comes from
 * payload, or enc writes it in place (peer_send_encoded); the header and
 * its checksum are written after the payload.
 */
static int queue_frame(struct peer *p, uint32_t to, uint16_t type, const void *payload, size_t len,
		       int (*enc)(void *arg, uint8_t *buf, size_t len), void *arg)
{
	struct node *n = find(p, to);
	int rc;

	if (!n || type == 0 || (!payload && !enc && len))
		return -EINVAL;
	if (len > p->max_frame)
		return -EMSGSIZE;
	if (n->ost != PEER_LINK_UP) {
		n->st.drops_down++;
		return -ENOTCONN;
	}
	if (n->st.queued_frames >= p->q_frames || n->st.queued_bytes + len > p->q_bytes) {
		n->st.drops_full++;
		return -ENOBUFS;
	}
	struct qframe *q = malloc(sizeof(*q) + PEER_FRAME_HDR + len);
	if (!q)
		return -ENOMEM;
	q->next = NULL;
	q->size = (uint32_t)(PEER_FRAME_HDR + len);
	if (enc) {
		rc = enc(arg, q->data + PEER_FRAME_HDR, len);
		if (rc) {
			assert(rc < 0);
			free(q);
			return rc;
		}
	} else if (len) {
		memcpy(q->data + PEER_FRAME_HDR, payload, len);
	}
	peer_frame_header(type, q->data + PEER_FRAME_HDR, (uint32_t)len, q->data);
	if (!n->qhead)
		n->last_progress = p->now; /* the stall clock starts now */
	if (n->qtail)
		n->qtail->next = q;
	else
		n->qhead = q;
	n->qtail = q;
	n->st.queued_frames++;
	n->st.queued_bytes += len;
	return 0;
}

int peer_send(struct peer *p, uint32_t to, uint16_t type, const void *payload, size_t len)
{
	return queue_frame(p, to, type, payload, len, NULL, NULL);
}

int peer_send_encoded(struct peer *p, uint32_t to, uint16_t type, size_t len,
		      int (*enc)(void *arg, uint8_t *buf, size_t len), void *arg)
{
	if (!enc)
		return -EINVAL;
	return queue_frame(p, to, type, NULL, len, enc, arg);
}

bool peer_has_pending(const struct peer *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->nodes[i].qhead)
			return true;
	return false;
}

int peer_stats(const struct peer *p, uint32_t id, struct peer_stats *out)
{
	for (size_t i = 0; i < p->n && id; i++)
		if (p->nodes[i].id == id) {
			*out = p->nodes[i].st;
			out->out_state = p->nodes[i].ost;
			return 0;
		}
	return -EINVAL;
}

void peer_global_stats(const struct peer *p, struct peer_global_stats *out)
{
	*out = p->gs;
}

/* ---------------------------------------------------------- membership */

int peer_add(struct peer *p, const struct peer_member *m)
{
	struct node *n = NULL;
	int r;

	assert(!p->in_poll);
	if (!m || !m->id || !m->host || !m->quorum_port || m->id == p->self)
		return -EINVAL;
	if (find(p, m->id))
		return -EEXIST;
	for (size_t i = 0; i < p->n && !n; i++)
		if (!p->nodes[i].id)
			n = &p->nodes[i];
	if (!n) {
		if (p->n >= PEER_MAX_MEMBERS - 1)
			return -ENOSPC;
		n = &p->nodes[p->n++];
	}
	memset(n, 0, sizeof(*n));
	n->ofd = n->ifd = -1;
	n->backoff_ms = p->bo_min;
	snprintf(n->name, sizeof(n->name), "server %u (%s:%u)", m->id, m->host, m->quorum_port);
	snprintf(n->host, sizeof(n->host), "%s", m->host);
	r = resolve(m->host, m->quorum_port, &n->sa, &n->salen);
	if (r) {
		n->name[0] = '\0';
		return r; /* the slot stays free (id 0) */
	}
	n->id = m->id;
	n->st.id = m->id;
	n->ost = PEER_LINK_IDLE;
	n->retry_at = p->now; /* dial at the next poll */
	log_info("peer %u: %s added", p->self, n->name);
	return 0;
}

int peer_remove(struct peer *p, uint32_t id)
{
	struct node *n = find(p, id);

	assert(!p->in_poll);
	if (!n)
		return -EINVAL;
	log_info("peer %u: %s removed", p->self, n->name);
	if (n->ofd >= 0) {
		close(n->ofd); /* closing drops it from the epoll set */
		n->ofd = -1;
		out_auth_free(n);
	}
	for (size_t j = 0; j < PEER_PENDING_MAX; j++)
		if (p->pend[j].fd >= 0 && p->pend[j].n == n)
			pend_close(&p->pend[j]);
	drop_queue(n);
	if (n->ifd >= 0)
		in_close(p, n);
	n->ost = PEER_LINK_IDLE;
	n->id = 0;
	n->st.id = 0;
	return 0;
}
