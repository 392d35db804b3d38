/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol layer of a dataplane worker: the dp_proto_* hooks of
 * dp_priv.h.  It turns the frames of a connection into ZooKeeper
 * requests and answers them exactly as ZooKeeper 3.9 does, serving reads
 * from the tree (dp_read.c), handing writes to the broadcast core
 * (replication/repl.h) and firing watches (dp_watch.c).
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
 * it has run.  Answers leave in queue order (on_result, on_read,
 * reply_out).  auth and sasl are queued like the rest: ZooKeeper answers them
 * out of band, but the client matches them by their reserved xids, and
 * queueing them gives requests sent before an auth packet the identities
 * they had, as ZooKeeper's Request captures cnxn.getAuthInfo().
 *
 * Watch order (guarantee 4, repl.h rules 1 and 2).  seen_zxid is the
 * newest zxid whose events this worker has delivered.  A write's answer
 * arrives after its events on the ring, so it goes out at once.  A local
 * answer carries zxid L (dp_read.c); while L > seen_zxid it is parked:
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
 * its session tracker, whose REPL_OUT_SESSIONS answer goes to the I/O
 * layer (dp_4lw_sessions).
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
#include "common/ring.h"
#include "config/config.h"
#include "dataplane/session/session_priv.h"

/* NIOServerCnxnFactory's sessionlessCnxnTimeout default. */
#define SESSIONLESS_TIMEOUT_MS 10000
/* Frames a connection may have queued (ZooKeeper stops reading instead). */
#define MAX_QUEUED 65536
/*
 * How long a parked reply waits for the core to publish its zxid: busy for
 * CATCH_UP_BUSY_NS (the core is usually a few microseconds from done),
 * then yielding the CPU between looks, since the core may be waiting for
 * this very CPU (both threads on one core; a pure spin there burned its
 * whole budget every time and cut mixed read/write throughput by half).
 */
#define CATCH_UP_SPIN_NS 200000
#define CATCH_UP_BUSY_NS 5000

/* ---- statistics written by this worker, read by any ---- */

#define ST_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define ST_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define ST_ADD(field, n) ST_SET(field, (field) + (n))

static inline int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static int oom(const struct dp_sess *s, const char *what)
{
	log_error("dataplane: out of memory %s for %s (session 0x%016llx); closing the connection",
		  what, dp_conn_peer(s->conn), (unsigned long long)s->session);
	return -ENOMEM;
}

static inline unsigned long long sid(const struct dp_sess *s)
{
	return (unsigned long long)s->session;
}

/* ================================================================== */
/* Digest authentication (DigestAuthenticationProvider)                */
/* ================================================================== */

/* SHA-1 (FIPS 180-4). */
struct sha1 {
	uint32_t h[5];
	uint64_t len;
	uint8_t buf[64];
	uint32_t n;
};

static inline uint32_t rol(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

static void sha1_block(struct sha1 *c, const uint8_t *p)
{
	uint32_t w[80], a = c->h[0], b = c->h[1], d = c->h[3], e = c->h[4], cc = c->h[2];

	for (int i = 0; i < 16; i++)
		w[i] = jute_be32(p + 4 * i);
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;
		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ cc ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = rol(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

static void sha1_init(struct sha1 *c)
{
	static const uint32_t iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
					0xc3d2e1f0 };

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->n = 0;
}

static void sha1_update(struct sha1 *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	c->len += len;
	while (len) {
		size_t k = 64 - c->n < len ? 64 - c->n : len;
		memcpy(c->buf + c->n, p, k);
		c->n += (uint32_t)k;
		p += k;
		len -= k;
		if (c->n == 64) {
			sha1_block(c, c->buf);
			c->n = 0;
		}
	}
}

static void sha1_final(struct sha1 *c, uint8_t out[20])
{
	uint64_t bits = c->len * 8;
	uint8_t pad = 0x80, zero = 0, lenb[8];

	sha1_update(c, &pad, 1);
	while (c->n != 56)
		sha1_update(c, &zero, 1);
	jute_put_be64(lenb, bits);
	sha1_update(c, lenb, 8);
	for (int i = 0; i < 5; i++)
		jute_put_be32(out + 4 * i, c->h[i]);
}

/* Base64 with '=' padding, as DigestAuthenticationProvider.base64Encode. */
static size_t base64(const uint8_t *in, size_t n, char *out)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	return o;
}

/*
 * new String(bytes, UTF_8).getBytes(UTF_8): each maximal ill-formed
 * subsequence becomes U+FFFD (EF BF BD), as Java's decoder replaces it.
 * out must hold 3 * len bytes.
 */
static size_t java_utf8(const uint8_t *p, size_t len, uint8_t *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		uint8_t b = p[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t need, k;

		if (b < 0x80) {
			out[o++] = b;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			if (b == 0xe0)
				lo = 0xa0;
			else if (b == 0xed)
				hi = 0x9f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			if (b == 0xf0)
				lo = 0x90;
			else if (b == 0xf4)
				hi = 0x8f;
		} else {
			need = 0;
		}
		for (k = 0; need && k < need; k++) {
			size_t j = i + 1 + k;
			uint8_t l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xbf;
			if (j >= len || p[j] < l || p[j] > h)
				break;
		}
		if (need && k == need) {
			memcpy(out + o, p + i, need + 1);
			o += need + 1;
			i += need + 1;
		} else {
			out[o++] = 0xef;
			out[o++] = 0xbf;
			out[o++] = 0xbd;
			i += 1 + k; /* the lead byte and the valid continuation bytes */
		}
	}
	return o;
}

size_t dp_digest_id(const uint8_t *auth, size_t len, char *out)
{
	uint8_t *norm = malloc(len * 3 + 1), md[20];
	const uint8_t *colon;
	struct sha1 c;
	size_t n, user;

	if (!norm)
		return 0;
	n = java_utf8(auth, len, norm);
	/* generateDigest: idPassword.split(":", 2)[0] + ":" + base64(sha1(idPassword)) */
	colon = memchr(norm, ':', n);
	user = colon ? (size_t)(colon - norm) : n;
	sha1_init(&c);
	sha1_update(&c, norm, n);
	sha1_final(&c, md);
	memcpy(out, norm, user);
	out[user] = ':';
	n = user + 1 + base64(md, sizeof(md), out + user + 1);
	free(norm);
	return n;
}

/* ================================================================== */
/* Identities (ServerCnxn.authInfo)                                    */
/* ================================================================== */

/*
 * The order ZooKeeper iterates a session's identities in (fixupACL's
 * "auth" expansion, whoAmI): ServerCnxn.authInfo is a set backed by a
 * ConcurrentHashMap, so it is bin order, bin = spread(Id.hashCode()) &
 * (table - 1), insertion order within a bin; the table starts at 16 and
 * doubles when it reaches 3/4 full.  Exact up to 12 ids; beyond the first
 * resize CHM's list split can reorder a bin, which is not reproduced.
 *
 * Cost (issue 8: 20,000 addAuth took 35 s when each add re-sorted and
 * scanned the whole set): an add is one probe of a hash index and an
 * append; the order is computed only when whoAmI or a write needs it.  A
 * session holds at most TREE_AUTH_MAX_IDS ids and jute.maxbuffer bytes of
 * them, because every write copies them to the core and every "auth" ACL
 * entry expands to all of them; the add beyond is AUTHFAILED, the one
 * error an addAuth reply can carry that clients act on (the Java client
 * ignores any other), and the connection closes as ZooKeeper closes it
 * after AUTHFAILED.
 */
static int32_t java_string_hash(struct jute_buf b)
{
	uint32_t h = 0;

	/* String.hashCode over UTF-16 code units; bad UTF-8 is U+FFFD, as Java decodes it. */
	for (int32_t i = 0; i < b.len;) {
		uint32_t c = b.p[i], need = 0, cp;

		if (c < 0x80)
			need = 0, cp = c;
		else if ((c & 0xe0) == 0xc0)
			need = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			need = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			need = 3, cp = c & 0x07;
		else
			need = UINT32_MAX, cp = 0xfffd;
		i++;
		for (uint32_t k = 0; need != UINT32_MAX && k < need; k++, i++) {
			if (i >= b.len || (b.p[i] & 0xc0) != 0x80) {
				cp = 0xfffd;
				break;
			}
			cp = cp << 6 | (b.p[i] & 0x3f);
		}
		if (cp > 0xffff) {
			cp -= 0x10000;
			h = 31 * h + (0xd800 + (cp >> 10));
			h = 31 * h + (0xdc00 + (cp & 0x3ff));
		} else {
			h = 31 * h + cp;
		}
	}
	return (int32_t)h;
}

/* Jute's generated Id.hashCode(). */
static uint32_t id_hash(const struct tree_auth_id *a)
{
	uint32_t r = 17;

	r = 37 * r + (uint32_t)java_string_hash(a->scheme);
	r = 37 * r + (uint32_t)java_string_hash(a->id);
	return r;
}

static uint32_t chm_bin(const struct tree_auth_id *a, uint32_t table)
{
	uint32_t h = id_hash(a);

	return ((h ^ (h >> 16)) & 0x7fffffff) & (table - 1);
}

#define AUTH_SLOTS (2 * TREE_AUTH_MAX_IDS)

/*
 * The slot of (scheme, id) in s->auth_slot: the one holding it, or the
 * empty one where it would go.  The table is at most half full, so the
 * probe ends.
 */
static uint32_t auth_slot_of(const struct dp_sess *s, const char *scheme, size_t sl, const char *id,
			     size_t il)
{
	struct jute_buf sb = { (const uint8_t *)scheme, (int32_t)sl };
	struct jute_buf ib = { (const uint8_t *)id, (int32_t)il };
	uint32_t j = tree_auth_hash(sb, ib) & (AUTH_SLOTS - 1);

	_Static_assert(TREE_AUTH_MAX_IDS < 256, "auth_slot holds index + 1 in a byte");
	_Static_assert(sizeof(((struct dp_sess *)0)->auth_slot) == AUTH_SLOTS, "table size");
	for (; s->auth_slot[j]; j = (j + 1) & (AUTH_SLOTS - 1)) {
		const struct tree_auth_id *a = &s->auth[s->auth_slot[j] - 1];
		if ((size_t)a->scheme.len == sl && (size_t)a->id.len == il &&
		    !memcmp(a->scheme.p, scheme, sl) && !memcmp(a->id.p, id, il))
			break;
	}
	return j;
}

static void auth_reindex(struct dp_sess *s)
{
	memset(s->auth_slot, 0, sizeof(s->auth_slot));
	for (uint32_t i = 0; i < s->nauth; i++) {
		const struct tree_auth_id *a = &s->auth[i];
		uint32_t j = auth_slot_of(s, (const char *)a->scheme.p, (size_t)a->scheme.len,
					  (const char *)a->id.p, (size_t)a->id.len);
		assert(!s->auth_slot[j]); /* a set: no duplicates */
		s->auth_slot[j] = (uint8_t)(i + 1);
	}
}

/*
 * Stable sort by bin for the current table size.  Sorting the array
 * again after more adds gives the same result as sorting insertion order
 * once: the table only grows, and a bin for a larger table determines
 * the bin for a smaller one, so ties keep insertion order.
 */
const struct tree_auth_id *dp_sess_auth_ordered(struct dp_sess *s)
{
	uint32_t bins[TREE_AUTH_MAX_IDS], table = 16;

	if (s->auth_ordered)
		return s->auth;
	assert(s->nauth <= TREE_AUTH_MAX_IDS);
	while (s->nauth >= table / 4 * 3)
		table *= 2;
	for (uint32_t i = 0; i < s->nauth; i++)
		bins[i] = chm_bin(&s->auth[i], table);
	for (uint32_t i = 1; i < s->nauth; i++) {
		struct tree_auth_id cur = s->auth[i];
		uint32_t bin = bins[i], j = i;

		while (j > 0 && bins[j - 1] > bin) {
			s->auth[j] = s->auth[j - 1];
			bins[j] = bins[j - 1];
			j--;
		}
		s->auth[j] = cur;
		bins[j] = bin;
	}
	auth_reindex(s);
	s->auth_ordered = true;
	return s->auth;
}

/*
 * Adds an identity unless present (authInfo is a set).  0, -ENOSPC
 * beyond TREE_AUTH_MAX_IDS or max_bytes of identities, or -ENOMEM.
 */
static int auth_add(struct dp_sess *s, const char *scheme, size_t sl, const char *id, size_t il,
		    size_t max_bytes)
{
	uint32_t j = auth_slot_of(s, scheme, sl, id, il);
	char *mem;

	if (s->auth_slot[j])
		return 0;
	if (s->nauth == TREE_AUTH_MAX_IDS || sl + il > max_bytes ||
	    s->auth_bytes > max_bytes - sl - il)
		return -ENOSPC;
	if (s->nauth == s->auth_cap) {
		uint32_t nc = s->auth_cap ? s->auth_cap * 2 : 4;
		struct tree_auth_id *n = realloc(s->auth, (size_t)nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->auth = n;
		s->auth_cap = nc;
	}
	mem = malloc(sl + il + 2);
	if (!mem)
		return -ENOMEM;
	memcpy(mem, scheme, sl);
	mem[sl] = '\0';
	memcpy(mem + sl + 1, id, il);
	mem[sl + 1 + il] = '\0';
	s->auth[s->nauth].scheme = (struct jute_buf){ (const uint8_t *)mem, (int32_t)sl };
	s->auth[s->nauth].id = (struct jute_buf){ (const uint8_t *)mem + sl + 1, (int32_t)il };
	s->nauth++;
	s->auth_slot[j] = (uint8_t)s->nauth;
	s->auth_bytes += (uint32_t)(sl + il);
	/* One id (the connection's ip) is in order by itself. */
	s->auth_ordered = s->nauth == 1;
	return 0;
}

static void auth_free(struct dp_sess *s)
{
	for (uint32_t i = 0; i < s->nauth; i++)
		free((void *)s->auth[i].scheme.p);
	free(s->auth);
	s->auth = NULL;
	s->nauth = s->auth_cap = s->auth_bytes = 0;
	memset(s->auth_slot, 0, sizeof(s->auth_slot));
}

/*
 * The peer address as Java's InetAddress.getHostAddress() prints it:
 * dotted quad for IPv4 (and IPv4-mapped IPv6), eight uncompressed
 * lowercase groups for IPv6.
 */
static void java_host_address(const char *ip, char *out, size_t cap)
{
	struct in6_addr a6;

	snprintf(out, cap, "%s", ip ? ip : "");
	if (!ip || !strchr(ip, ':') || inet_pton(AF_INET6, ip, &a6) != 1)
		return;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)cap);
		return;
	}
	snprintf(out, cap, "%x:%x:%x:%x:%x:%x:%x:%x", a6.s6_addr[0] << 8 | a6.s6_addr[1],
		 a6.s6_addr[2] << 8 | a6.s6_addr[3], a6.s6_addr[4] << 8 | a6.s6_addr[5],
		 a6.s6_addr[6] << 8 | a6.s6_addr[7], a6.s6_addr[8] << 8 | a6.s6_addr[9],
		 a6.s6_addr[10] << 8 | a6.s6_addr[11], a6.s6_addr[12] << 8 | a6.s6_addr[13],
		 a6.s6_addr[14] << 8 | a6.s6_addr[15]);
}

/* auth_add for dp_sess_auth: ZK_OK, or ZK_AUTHFAILED (logged) past the bounds. */
static int32_t auth_add_checked(struct dp_sess *s, const char *scheme, size_t sl, const char *id,
				size_t il)
{
	int rc = auth_add(s, scheme, sl, id, il, s->p->max_frame);

	if (rc == -ENOSPC)
		log_warn("Session 0x%016llx: auth for scheme %s refused: a session may hold %d "
			 "identities of at most %u bytes in all (it has %u, %u bytes; this one is "
			 "%zu bytes) (client %s)",
			 sid(s), scheme, TREE_AUTH_MAX_IDS, s->p->max_frame, s->nauth,
			 s->auth_bytes, sl + il, dp_conn_peer(s->conn));
	else if (rc)
		log_error("Session 0x%016llx: out of memory adding an identity (client %s)", sid(s),
			  dp_conn_peer(s->conn));
	return rc ? ZK_AUTHFAILED : ZK_OK;
}

int32_t dp_sess_auth(struct dp_sess *s, const struct proto_auth_req *a)
{
	struct dp_proto *p = s->p;
	char scheme[64];

	snprintf(scheme, sizeof(scheme), "%.*s", a->scheme.len > 0 ? (int)a->scheme.len : 0,
		 a->scheme.len > 0 ? (const char *)a->scheme.p : "");
	if (jute_buf_eq(a->scheme, "digest") && a->auth.len >= 0) {
		char *id = malloc((size_t)a->auth.len * 3 + 32);
		size_t n;

		if (!id)
			return ZK_AUTHFAILED;
		n = dp_digest_id(a->auth.p, (size_t)a->auth.len, id);
		if (!n || auth_add_checked(s, "digest", 6, id, n) != ZK_OK) {
			free(id);
			return ZK_AUTHFAILED;
		}
		if (p->super_digest && strlen(p->super_digest) == n && !memcmp(p->super_digest, id, n)) {
			if (auth_add_checked(s, "super", 5, "", 0) != ZK_OK) {
				free(id);
				return ZK_AUTHFAILED;
			}
			s->super = true;
		}
		free(id);
	} else if (jute_buf_eq(a->scheme, "ip")) {
		/* IPAuthenticationProvider: the connection's own address. */
		char ip[64];
		java_host_address(dp_conn_peer_ip(s->conn), ip, sizeof(ip));
		if (auth_add_checked(s, "ip", 2, ip, strlen(ip)) != ZK_OK)
			return ZK_AUTHFAILED;
	} else {
		log_warn("No authentication provider for scheme: %s has [ip, digest] "
			 "(client %s, session 0x%016llx)",
			 scheme, dp_conn_peer(s->conn), sid(s));
		return ZK_AUTHFAILED;
	}
	log_info("Session 0x%016llx: auth success for scheme %s and address /%s", sid(s), scheme,
		 dp_conn_peer(s->conn));
	return ZK_OK;
}

/* ================================================================== */
/* Messages to the core                                                */
/* ================================================================== */

static void backlog_flush(struct dp_proto *p)
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
static int push_in(struct dp_proto *p, struct repl_in *m)
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
	backlog_flush(p);
	return 0;
}

static int push_simple(struct dp_proto *p, struct dp_sess *s, uint8_t kind, int32_t xid)
{
	struct repl_in m = { .kind = kind, .conn = s->conn_id, .xid = xid, .session = s->session };

	return push_in(p, &m);
}

/* ================================================================== */
/* Output                                                              */
/* ================================================================== */

static void close_conn(struct dp_sess *s, const char *reason)
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
static uint64_t round_now(struct dp_proto *p)
{
	if (!p->round_ns)
		p->round_ns = clock_mono_ns();
	return p->round_ns;
}

static void send_frames(struct dp_proto *p, struct dp_sess *s, const void *buf, size_t len,
			uint32_t nframes)
{
	if (s->state == DP_SESS_CLOSING || !len)
		return;
	if (dp_conn_send(s->conn, buf, len) == -ENOBUFS) {
		/* The I/O layer is dropping the client ("not reading"). */
		s->state = DP_SESS_CLOSING;
		return;
	}
	ST_ADD(p->packets_sent, nframes);
	s->packets_sent += nframes;
	s->last_io_ns = round_now(p);
}

/* ServerCnxn.updateStatsForResponse + ServerStats.updateLatency. */
static void reply_stats(struct dp_proto *p, struct dp_sess *s, int32_t xid, int64_t zxid,
			const char *op, uint64_t t_recv_ns)
{
	uint64_t now = round_now(p);
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
}

static void conn_stats_reset(struct dp_sess *s)
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

/* ================================================================== */
/* The request queue                                                   */
/* ================================================================== */

/* dp_op_is_core, and reconfig on a member with reconfigEnabled (else dp_read answers it). */
static bool op_is_core(const struct dp_proto *p, int32_t op)
{
	return dp_op_is_core(op) ||
	       (op == ZK_OP_RECONFIG && p->cfg && p->cfg->reconfig_enabled && p->cfg->distributed);
}

static struct dp_req *req_new(struct dp_proto *p, struct dp_sess *s, int32_t xid, int32_t op,
			      uint64_t t_recv)
{
	struct dp_req *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->xid = xid;
	e->op = op;
	e->core = op != DP_OP_RAW && op_is_core(p, op);
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
static bool core_read(const struct dp_req *e)
{
	return !e->core && dp_read_core_op(e->op);
}

/* e is queued behind something: counts it as a later write's obstacle or not. */
static void req_queued(struct dp_sess *s, struct dp_req *e)
{
	if (core_read(e)) {
		e->qread = true;
		s->nqreads++;
	} else {
		e->blocks = true;
		s->nblock++;
	}
}

/* e leaves the QUEUED state (pushed, executed or dropped). */
static void req_unqueue(struct dp_sess *s, struct dp_req *e)
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

static void req_pop(struct dp_proto *p, struct dp_sess *s)
{
	struct dp_req *e = s->head;

	s->head = e->next;
	if (!s->head)
		s->tail = NULL;
	s->nqueued--;
	if (e->state != DP_REQ_SENT)
		s->nunsent--;
	req_unqueue(s, e);
	if (s->last_sent == e)
		s->last_sent = NULL;
	ST_SET(p->outstanding, p->outstanding - 1);
	free(e->buf);
	free(e);
}

/* buf may point into e->buf (a sync keeps the path of its own frame). */
static int req_copy(struct dp_req *e, const void *buf, size_t len)
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

static void armed_add(struct dp_proto *p, struct dp_sess *s)
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

static void parked_add(struct dp_proto *p, struct dp_sess *s)
{
	if (s->on_parked)
		return;
	s->on_parked = true;
	s->parked_next = p->parked;
	p->parked = s;
}

static void arms_clear(struct dp_proto *p, struct dp_sess *s)
{
	for (uint32_t i = 0; i < s->narms; i++)
		free(s->arms[i].path);
	s->narms = 0;
	armed_del(p, s);
}

/* Enters the arms still standing in the watch table.  0 or -ENOMEM. */
static int arms_commit(struct dp_proto *p, struct dp_sess *s)
{
	int rc = 0;

	for (uint32_t i = 0; i < s->narms; i++) {
		struct dp_arm *a = &s->arms[i];
		if (!rc && a->bits && s->has_widx)
			rc = dp_watch_add(p->watch, s->widx, a->path, a->len, a->bits);
	}
	arms_clear(p, s);
	return rc;
}

/* A held-event buffer larger than this is freed once empty (issue 8, item 6). */
#define HELD_KEEP_BYTES (64u * 1024)

static int held_add(struct dp_sess *s, const void *buf, size_t len)
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
static void held_send_upto(struct dp_proto *p, struct dp_sess *s, int64_t upto)
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
	send_frames(p, s, s->held, end, n);
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
static int64_t reply_out(struct dp_proto *p, struct dp_sess *s, uint8_t *buf, size_t len,
			 uint32_t nframes, int64_t raw)
{
	int64_t hdr = raw > 0 ? max64(raw, s->sent_zxid) : raw;
	size_t off = 0;

	if (s->held_len)
		held_send_upto(p, s, hdr);
	while (len - off >= FRAME_HDR_SIZE) {
		uint8_t *f = buf + off;
		uint32_t flen = jute_be32(f);
		int64_t z = (int64_t)jute_be64(f + FRAME_ZXID_OFF);

		assert(flen + 4 <= len - off && flen + 4 >= FRAME_HDR_SIZE);
		if ((int32_t)jute_be32(f + FRAME_XID_OFF) != ZK_XID_NOTIFICATION && z > 0) {
			z = hdr;
			jute_put_be64(f + FRAME_ZXID_OFF, (uint64_t)hdr);
		}
		s->sent_zxid = max64(s->sent_zxid, z);
		off += 4 + (size_t)flen;
	}
	send_frames(p, s, buf, len, nframes);
	return hdr;
}

/*
 * Once nothing holds them any more (no parked reply), the rest of the
 * held events go out.  Called where a session's queue stops moving,
 * after the replies that came before them by zxid.
 */
static void held_settle(struct dp_proto *p, struct dp_sess *s)
{
	if (s->held_len && !s->hold)
		held_send_upto(p, s, INT64_MAX);
}

static void watch_fail(struct dp_sess *s)
{
	log_error("dataplane: out of memory registering a watch for %s (session 0x%016llx); "
		  "closing the connection",
		  dp_conn_peer(s->conn), sid(s));
	close_conn(s, NULL);
}

/* ================================================================== */
/* Writes: the frame to a struct repl_write                            */
/* ================================================================== */

/* The span of storage that view b of the frame at payload becomes (same offsets). */
static struct repl_span span_of(const uint8_t *payload, const uint8_t *p, int32_t len)
{
	return (struct repl_span){ p && len >= 0 ? (uint32_t)(p - payload) : 0, p ? len : -1 };
}

static void req_from_op(struct repl_write_req *t, const struct proto_multi_op *op,
			const uint8_t *payload)
{
	memset(t, 0, sizeof(*t));
	t->type = op->type;
	t->version = -1;
	t->path = t->data = t->acl = (struct repl_span){ 0, -1 };
	switch (op->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		t->flags = op->create.flags;
		t->ttl = op->create.ttl;
		t->path = span_of(payload, op->create.path.p, op->create.path.len);
		t->data = span_of(payload, op->create.data.p, op->create.data.len);
		t->acl = span_of(payload, op->create.acl.raw, (int32_t)op->create.acl.raw_len);
		t->acl_count = op->create.acl.count;
		break;
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		t->path = span_of(payload, op->path_version.path.p, op->path_version.path.len);
		t->version = op->path_version.version;
		break;
	case ZK_OP_SETDATA:
		t->path = span_of(payload, op->set_data.path.p, op->set_data.path.len);
		t->data = span_of(payload, op->set_data.data.p, op->set_data.data.len);
		t->version = op->set_data.version;
		break;
	}
}

/*
 * Copies the session's identities (sids: s->auth in ZooKeeper's order)
 * and, with_slots, their index into w's storage from offset off, which is
 * where they go (the storage was sized for them).
 */
static void put_ids(const struct dp_sess *s, const struct tree_auth_id *sids,
		    struct repl_write *w, size_t off, bool with_slots)
{
	struct repl_write_id *ids = repl_write_ids(w);

	for (uint32_t i = 0; i < s->nauth; i++) {
		size_t sl = (size_t)sids[i].scheme.len, il = (size_t)sids[i].id.len;
		memcpy(w->storage + off, sids[i].scheme.p, sl);
		ids[i].scheme = (struct repl_span){ (uint32_t)off, (int32_t)sl };
		off += sl;
		memcpy(w->storage + off, sids[i].id.p, il);
		ids[i].id = (struct repl_span){ (uint32_t)off, (int32_t)il };
		off += il;
	}
	w->super = s->super;
	if (with_slots) {
		/* sids is s->auth, which auth_slot indexes: the same positions. */
		assert(sids == s->auth && off + sizeof(s->auth_slot) == w->storage_len);
		memcpy(w->storage + off, s->auth_slot, sizeof(s->auth_slot));
		w->slots = (struct repl_span){ (uint32_t)off, (int32_t)sizeof(s->auth_slot) };
		off += sizeof(s->auth_slot);
	}
	assert(off == w->storage_len && repl_write_check(w, w->size) == 0);
}

/*
 * Builds the REPL_IN_WRITE body for a write frame; NULL on allocation
 * failure.  r is the frame decoded on arrival (views into payload), or
 * NULL when it was queued and is decoded here: either way the frame is
 * decoded once, and the write holds spans (offsets into its copy of the
 * frame, which are the offsets into payload).
 */
static struct repl_write *build_write(struct dp_sess *s, const struct proto_request *r,
				      const uint8_t *payload, uint32_t len)
{
	/* fixupACL expands "auth" in ZooKeeper's order of the ids. */
	const struct tree_auth_id *sids = dp_sess_auth_ordered(s);
	struct proto_request dec;
	struct repl_write *w;
	struct repl_write_req *reqs;
	size_t storage = len;
	uint32_t nreqs;

	if (!r) {
		if (proto_decode_request(payload, len, &dec))
			return NULL; /* validated on arrival */
		r = &dec;
	}
	nreqs = r->hdr.type == ZK_OP_MULTI ? (uint32_t)(r->multi.count > 0 ? r->multi.count : 0) : 1;
	/* the ids' bytes, then their index (ACL checks on the core use it) */
	storage += s->auth_bytes + sizeof(s->auth_slot);
	w = repl_write_new(storage, nreqs, s->nauth);
	if (!w)
		return NULL;
	reqs = repl_write_reqs(w);
	w->op = r->hdr.type;
	w->multi = r->hdr.type == ZK_OP_MULTI;
	memcpy(w->storage, payload, len);
	switch (r->hdr.type) {
	case ZK_OP_MULTI: {
		struct proto_iter it;
		struct proto_multi_op op;
		uint32_t i = 0;
		proto_multi_iter(&it, &r->multi);
		while (i < nreqs && proto_multi_next(&it, &op))
			req_from_op(&reqs[i++], &op, payload);
		break;
	}
	case ZK_OP_DELETECONTAINER: {
		/*
		 * PrepRequestProcessor reads the path from the whole packet, header
		 * included, so a client's deleteContainer fails validation there.
		 */
		struct proto_multi_op op = { .type = ZK_OP_DELETECONTAINER };
		req_from_op(&reqs[0], &op, payload);
		reqs[0].path = (struct repl_span){ 0, (int32_t)len };
		break;
	}
	case ZK_OP_RECONFIG:
		/* repl.h's reconfig layout: path, data, acl spans and ttl */
		memset(&reqs[0], 0, sizeof(reqs[0]));
		reqs[0].type = ZK_OP_RECONFIG;
		reqs[0].version = -1;
		reqs[0].path = span_of(payload, r->reconfig.joining_servers.p,
				       r->reconfig.joining_servers.len);
		reqs[0].data = span_of(payload, r->reconfig.leaving_servers.p,
				       r->reconfig.leaving_servers.len);
		reqs[0].acl =
		    span_of(payload, r->reconfig.new_members.p, r->reconfig.new_members.len);
		reqs[0].acl_count = 0;
		reqs[0].ttl = r->reconfig.cur_config_id;
		break;
	case ZK_OP_SETACL: {
		struct proto_multi_op op = { .type = ZK_OP_SETACL };
		req_from_op(&reqs[0], &op, payload);
		reqs[0].path = span_of(payload, r->set_acl.path.p, r->set_acl.path.len);
		reqs[0].acl = span_of(payload, r->set_acl.acl.raw, (int32_t)r->set_acl.acl.raw_len);
		reqs[0].acl_count = r->set_acl.acl.count;
		reqs[0].version = r->set_acl.version;
		break;
	}
	default: {
		struct proto_multi_op op = { .type = r->hdr.type };
		if (r->hdr.type == ZK_OP_DELETE)
			op.path_version = r->path_version;
		else if (r->hdr.type == ZK_OP_SETDATA)
			op.set_data = r->set_data;
		else
			op.create = r->create;
		req_from_op(&reqs[0], &op, payload);
		break;
	}
	}
	put_ids(s, sids, w, len, true);
	return w;
}

/*
 * The REPL_IN_READ body for the n queued reads from first on (repl.h):
 * their frames one after the other (storage bytes in all), each spanned
 * by its op's data, and the session's identities, without their index
 * (a read checks one ACL or a few; tree_acl_check scans a few ids or
 * indexes them itself, and the core need not check 128 more bytes).
 * NULL on allocation failure.
 */
static struct repl_write *build_reads(struct dp_sess *s, struct dp_req *first, uint32_t n,
				      size_t bytes)
{
	const struct tree_auth_id *sids = dp_sess_auth_ordered(s);
	struct repl_write *w = repl_write_new(bytes + s->auth_bytes, n, s->nauth);
	struct repl_write_req *rq;
	size_t off = 0;
	uint32_t i = 0;

	if (!w)
		return NULL;
	rq = repl_write_reqs(w);
	w->op = first->op;
	for (struct dp_req *x = first; i < n; x = x->next) {
		if (x->state != DP_REQ_QUEUED)
			continue;
		assert(core_read(x));
		memcpy(w->storage + off, x->buf, x->len);
		rq[i].type = x->op;
		rq[i].version = -1;
		rq[i].path = rq[i].acl = (struct repl_span){ 0, -1 };
		rq[i].data = (struct repl_span){ (uint32_t)off, (int32_t)x->len };
		off += x->len;
		i++;
	}
	assert(off == bytes);
	put_ids(s, sids, w, bytes, false);
	return w;
}

/* Reads per REPL_IN_READ at most, and frame bytes beyond which no other read joins. */
#define READ_BATCH_MAX 64u
#define READ_BATCH_BYTES (64u << 10)

/*
 * Hands the queued reads from first up to (not including) upto to the
 * core, in order, as few REPL_IN_READ messages (one per READ_BATCH_MAX
 * reads or READ_BATCH_BYTES of frames): every queued entry in that
 * stretch is such a read.  0 or a negative errno (logged).
 */
static int push_read_batch(struct dp_proto *p, struct dp_sess *s, struct dp_req *first,
			   const struct dp_req *upto)
{
	while (first && first != upto) {
		struct repl_in m = { .kind = REPL_IN_READ, .conn = s->conn_id, .session = s->session };
		struct dp_req *x, *lead = NULL;
		size_t bytes = 0;
		uint32_t n = 0;

		for (x = first; x && x != upto; x = x->next) {
			if (x->state != DP_REQ_QUEUED)
				continue;
			if (n == READ_BATCH_MAX || (n && bytes + x->len > READ_BATCH_BYTES))
				break;
			if (!lead)
				lead = x;
			bytes += x->len;
			n++;
		}
		if (!n)
			return 0;
		m.xid = lead->xid;
		m.body = build_reads(s, lead, n, bytes);
		if (!m.body)
			return oom(s, "handing reads to the core");
		lead->nbatch = n;
		for (x = lead; n; x = x->next) {
			if (x->state != DP_REQ_QUEUED)
				continue;
			req_copy(x, NULL, 0);
			s->nunsent--;
			req_unqueue(s, x);
			x->state = DP_REQ_SENT;
			s->last_sent = x;
			n--;
		}
		if (push_in(p, &m))
			return -ENOMEM;
		first = s->last_sent->next;
	}
	return 0;
}

/*
 * Hands a core request to the core (dec: the frame as decoded on
 * arrival, or NULL for a queued one).  0 or a negative errno (logged).
 */
static int push_core(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
		     const struct proto_request *dec, const uint8_t *payload, uint32_t len)
{
	struct repl_in m = { .conn = s->conn_id, .xid = e->xid, .session = s->session };

	switch (e->op) {
	case ZK_OP_SYNC: {
		struct proto_request r;
		m.kind = REPL_IN_SYNC;
		/* SyncResponse echoes the request's path (validated on arrival). */
		if (proto_decode_request(payload, len, &r))
			r.path.path = (struct jute_buf){ NULL, -1 };
		if (r.path.path.len < 0) {
			req_copy(e, NULL, 0);
			e->len = UINT32_MAX; /* null path */
		} else if (req_copy(e, r.path.path.p, (size_t)r.path.path.len)) {
			goto oom;
		}
		break;
	}
	case ZK_OP_CLOSESESSION:
		m.kind = REPL_IN_CLOSE;
		s->gone_sent = true;
		req_copy(e, NULL, 0);
		break;
	default:
		assert(e->core); /* reads go with push_read_batch */
		m.kind = REPL_IN_WRITE;
		m.body = build_write(s, dec, payload, len);
		if (!m.body)
			goto oom;
		req_copy(e, NULL, 0);
		break;
	}
	if (e->state != DP_REQ_SENT)
		s->nunsent--;
	req_unqueue(s, e);
	e->state = DP_REQ_SENT;
	s->last_sent = e;
	/* The core touches the session for every request it takes but reads. */
	s->last_touch_ns = clock_mono_ns();
	s->touched = false;
	return push_in(p, &m);
oom:
	return oom(s, "handing a request to the core");
}

/* ================================================================== */
/* Running a session's queue                                           */
/* ================================================================== */

static void sess_run(struct dp_proto *p, struct dp_sess *s);

/*
 * Sends a parked (or just built) reply showing the tree at zxid; the
 * events it held back are released by held_settle once the queue stops.
 */
static void local_done(struct dp_proto *p, struct dp_sess *s, uint8_t *frames, size_t len,
		       uint32_t nframes, int32_t xid, int64_t zxid, const char *last_op, bool stats,
		       bool close_after, uint64_t t_recv)
{
	zxid = reply_out(p, s, frames, len, nframes, zxid);
	if (arms_commit(p, s))
		watch_fail(s);
	s->hold = false;
	if (stats)
		reply_stats(p, s, xid, zxid, last_op, t_recv);
	if (close_after) {
		log_info("dataplane: closing %s (session 0x%016llx) after a failed auth",
			 dp_conn_peer(s->conn), sid(s));
		close_conn(s, NULL);
	}
}

/*
 * Executes a local request (e NULL: straight from the frame, the queue
 * being empty, and dec the frame on_request decoded; else dec NULL and
 * the frame is decoded again from e).  Sends the reply now or parks it
 * in e.
 */
static void exec_local(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
		       const struct proto_request *dec, const uint8_t *payload, uint32_t len,
		       uint64_t t_recv)
{
	struct proto_request own;
	const struct proto_request *req = dec ? dec : &own;
	struct dp_local_res res;
	int rc;

	if (e)
		req_unqueue(s, e);
	if (!dec && proto_decode_request(payload, len, &own)) {
		close_conn(s, NULL); /* validated on arrival: cannot happen */
		return;
	}
	p->scratch.len = 0;
	p->scratch.err = 0;
	rc = dp_read_exec(p, s, req, payload, len, &res);
	if (rc) {
		arms_clear(p, s);
		close_conn(s, NULL);
		return;
	}
	if (res.zxid <= p->seen_zxid) {
		local_done(p, s, p->scratch.buf, p->scratch.len, res.nframes, req->hdr.xid, res.zxid,
			   res.last_op, res.stats, res.close_after, t_recv);
		if (e)
			req_pop(p, s);
		else
			held_settle(p, s);
		return;
	}
	if (!e) {
		e = req_new(p, s, req->hdr.xid, req->hdr.type, t_recv);
		if (!e)
			goto oom;
	}
	if (req_copy(e, p->scratch.buf, p->scratch.len))
		goto oom;
	e->state = DP_REQ_PARKED;
	e->wait_zxid = res.zxid;
	e->nframes = res.nframes;
	e->last_op = res.last_op;
	e->stats = res.stats;
	e->close_after = res.close_after;
	if (s->narms)
		armed_add(p, s);
	parked_add(p, s);
	return;
oom:
	log_error("dataplane: out of memory parking a reply for %s (session 0x%016llx); closing",
		  dp_conn_peer(s->conn), sid(s));
	arms_clear(p, s);
	close_conn(s, NULL);
}

static void sess_run_queue(struct dp_proto *p, struct dp_sess *s)
{
	struct dp_req *e;

	while (s->state == DP_SESS_OPEN && (e = s->head)) {
		if (e->state == DP_REQ_SENT)
			return;
		if (e->state == DP_REQ_PARKED) {
			if (e->wait_zxid > p->seen_zxid) {
				parked_add(p, s);
				return;
			}
			local_done(p, s, e->buf, e->len, e->nframes, e->xid, e->wait_zxid, e->last_op,
				   e->stats, e->close_after, e->t_recv_ns);
			req_pop(p, s);
			continue;
		}
		if (e->core) {
			/*
			 * This one and the core requests right behind it, with the
			 * reads between them (the core runs those in place).
			 */
			struct dp_req *last = e, *reads = NULL, *next;
			for (struct dp_req *x = e->next; x && x->state == DP_REQ_QUEUED; x = x->next) {
				if (x->core)
					last = x;
				else if (!core_read(x))
					break;
			}
			for (struct dp_req *x = e;; x = next) {
				next = x->next;
				if (!x->core) {
					if (!reads)
						reads = x;
					continue;
				}
				if ((reads && push_read_batch(p, s, reads, x)) ||
				    push_core(p, s, x, NULL, x->buf, x->len)) {
					close_conn(s, NULL);
					return;
				}
				reads = NULL;
				if (x == last)
					break;
			}
			return;
		}
		exec_local(p, s, e, NULL, e->buf, e->len, e->t_recv_ns);
	}
}

static void sess_run(struct dp_proto *p, struct dp_sess *s)
{
	sess_run_queue(p, s);
	if (s->state == DP_SESS_OPEN)
		held_settle(p, s);
}

/* ================================================================== */
/* Requests                                                            */
/* ================================================================== */

/* Answers UNIMPLEMENTED and closes (proto.h, UnimplementedRequestProcessor). */
static void unimplemented(struct dp_proto *p, struct dp_sess *s, int32_t xid, int32_t type)
{
	struct proto_reply_hdr h = { xid, -1, ZK_UNIMPLEMENTED };

	log_warn("dataplane: %s (session 0x%016llx) sent request type %d, which ZooKeeper does not "
		 "process; answering UNIMPLEMENTED and closing",
		 dp_conn_peer(s->conn), sid(s), type);
	p->scratch.len = 0;
	p->scratch.err = 0;
	if (!proto_encode_reply(&p->scratch, &h, type, NULL))
		send_frames(p, s, p->scratch.buf, p->scratch.len, 1);
	close_conn(s, NULL);
}

/*
 * Pipelining writes past queued reads.  ZooKeeper's pipeline logs a
 * session's write while an earlier read of that session still waits for
 * an earlier write; CommitProcessor applies the write only once that
 * read is answered.  Here a read queued behind a pending write normally
 * runs on this worker once that write's result is back; a later write
 * of the session would then wait for it, and a pipelined mixed load
 * would go at the pace of one round trip to the core per read.  So when
 * a write (any core request) arrives and everything queued ahead of it
 * is at the core, parked (executed already) or a read the core can run
 * (core_read), those reads go to the core first, in queue order, as
 * REPL_IN_READ, and the write right behind them: the core runs each read
 * on the tree at its place in the txn order (after everything before
 * it, before the write; dp_core_read), exactly what ZooKeeper answers.
 * A run of such reads travels as one message and comes back as one
 * answer (push_read_batch, reads_answered): at 90 % reads nearly every
 * read goes this way (the write behind them is usually in the same
 * group commit as the one ahead), and one message per read cost about
 * 700 instructions per request more than running it here.
 * Anything else queued ahead (auth, watch management, a queued write,
 * getEphemerals, ...) keeps the write queued until it has run.
 */
static bool is_ancestor(const char *a, uint32_t alen, const char *path, size_t len)
{
	if (alen >= len)
		return false;
	if (alen == 1 && a[0] == '/')
		return true;
	return !memcmp(a, path, alen) && path[alen] == '/';
}

/* Pushes the queued reads ahead of upto to the core (nothing blocks: s->nblock 0). */
static int push_reads(struct dp_proto *p, struct dp_sess *s, const struct dp_req *upto)
{
	assert(!s->nblock);
	if (push_read_batch(p, s, s->last_sent ? s->last_sent->next : s->head, upto))
		return -ENOMEM;
	assert(!s->nqreads);
	return 0;
}

static int on_request(struct dp_proto *p, struct dp_sess *s, const uint8_t *payload, uint32_t len,
		      uint64_t t_recv)
{
	struct proto_request req;
	struct dp_req *e;
	int rc = proto_decode_request(payload, len, &req);

	if (rc == -EOPNOTSUPP) {
		unimplemented(p, s, req.hdr.xid, req.hdr.type);
		return 0;
	}
	if (rc || req.hdr.type == ZK_OP_CREATESESSION) {
		if (len >= PROTO_REQ_HDR_SIZE)
			log_warn("dataplane: malformed %s request (%u bytes) from %s, session 0x%016llx; "
				 "closing the connection",
				 proto_op_name(req.hdr.type), len, dp_conn_peer(s->conn), sid(s));
		else
			log_warn("dataplane: malformed request header (%u bytes) from %s, session "
				 "0x%016llx; closing the connection",
				 len, dp_conn_peer(s->conn), sid(s));
		return -EBADMSG;
	}
	if (s->nqueued >= MAX_QUEUED) {
		log_warn("dataplane: %s (session 0x%016llx) has %u requests waiting; closing the "
			 "connection",
			 dp_conn_peer(s->conn), sid(s), s->nqueued);
		return -ENOBUFS;
	}
	s->touched = true;
	if (op_is_core(p, req.hdr.type)) {
		e = req_new(p, s, req.hdr.xid, req.hdr.type, t_recv);
		if (!e)
			return oom(s, "queueing a request");
		if (s->nblock) {
			req_queued(s, e);
			return req_copy(e, payload, len) ? oom(s, "queueing a request") : 0;
		}
		if (s->nqreads && push_reads(p, s, e))
			return -ENOMEM; /* logged */
		return push_core(p, s, e, &req, payload, len);
	}
	if (!s->head) {
		exec_local(p, s, NULL, &req, payload, len, t_recv);
		return 0;
	}
	e = req_new(p, s, req.hdr.xid, req.hdr.type, t_recv);
	if (!e || req_copy(e, payload, len))
		return oom(s, "queueing a request");
	req_queued(s, e);
	return 0;
}

/* ================================================================== */
/* Handshake                                                           */
/* ================================================================== */

static int on_connect_req(struct dp_proto *p, struct dp_sess *s, const uint8_t *payload,
			  uint32_t len)
{
	struct proto_connect_req cr;
	struct repl_connect *rc;
	struct repl_in m;
	int64_t last = tree_last_zxid(p->tree);
	int32_t to;

	if (proto_decode_connect_req(payload, len, &cr)) {
		log_warn("dataplane: %s did not start with a ConnectRequest (%u-byte frame); closing",
			 dp_conn_peer(s->conn), len);
		return -EBADMSG;
	}
	if (cr.last_zxid_seen > last) {
		log_info("Refusing session request for client /%s as it has seen zxid 0x%llx our last "
			 "zxid is 0x%llx client must try another server",
			 dp_conn_peer(s->conn), (unsigned long long)cr.last_zxid_seen,
			 (unsigned long long)last);
		close_conn(s, NULL);
		return 0;
	}
	to = cr.timeout;
	if (p->min_timeout > 0 && to < p->min_timeout)
		to = p->min_timeout;
	if (p->max_timeout > 0 && to > p->max_timeout)
		to = p->max_timeout;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return oom(s, "starting a session");
	rc->session = cr.session_id;
	rc->last_zxid_seen = cr.last_zxid_seen;
	rc->timeout = to;
	if (cr.passwd.len > 0) {
		memcpy(rc->passwd, cr.passwd.p, cr.passwd.len < 16 ? (size_t)cr.passwd.len : 16);
		rc->passwd_len = cr.passwd.len > 255 ? 255 : (uint8_t)cr.passwd.len;
	}
	rc->read_only = cr.read_only;
	s->old_client = !cr.has_read_only;
	s->session = cr.session_id;
	s->timeout = to;
	/* Echoed by CONNECTED; never 0 (0: no CONNECT pushed). */
	p->connect_seq = (int32_t)((uint32_t)p->connect_seq + 1);
	if (!p->connect_seq)
		p->connect_seq = 1;
	s->connect_seq = p->connect_seq;
	s->state = DP_SESS_CONNECTING;
	m = (struct repl_in){ .kind = REPL_IN_CONNECT, .conn = s->conn_id, .xid = s->connect_seq,
			      .session = cr.session_id, .body = rc };
	return push_in(p, &m);
}

static void on_connected(struct dp_proto *p, struct repl_out *m)
{
	struct dp_conn *c = dp_conn_lookup(p->w, m->conn);
	struct dp_sess *s = c ? dp_conn_user(c) : NULL;
	struct repl_connected *ans = m->body;
	static const uint8_t zero[16];
	struct proto_connect_resp r;
	struct dp_req *raw;

	if (!s || s->state != DP_SESS_CONNECTING || m->xid != s->connect_seq || !ans)
		return;
	memset(&r, 0, sizeof(r));
	r.has_read_only = !s->old_client;
	r.passwd = (struct jute_buf){ zero, 16 };
	p->scratch.len = 0;
	p->scratch.err = 0;
	if (ans->err != ZK_OK) {
		/* finishSessionInit(valid = false) */
		proto_encode_connect_resp(&p->scratch, &r);
		send_frames(p, s, p->scratch.buf, p->scratch.len, 1);
		log_info("Invalid session 0x%llx for client /%s, probably expired",
			 (unsigned long long)ans->session, dp_conn_peer(s->conn));
		s->expired = true;
		close_conn(s, NULL);
		return;
	}
	s->session = ans->session;
	s->timeout = ans->timeout;
	if (dp_watch_conn_new(p->watch, s->conn_id, s->session, &s->widx)) {
		log_error("dataplane: out of memory opening session 0x%016llx for %s; closing", sid(s),
			  dp_conn_peer(s->conn));
		close_conn(s, NULL);
		return;
	}
	s->has_widx = true;
	r.timeout = ans->timeout;
	r.read_only = ans->read_only;
	r.session_id = ans->session;
	r.passwd = (struct jute_buf){ ans->passwd, 16 };
	proto_encode_connect_resp(&p->scratch, &r);
	send_frames(p, s, p->scratch.buf, p->scratch.len, 1);
	s->state = DP_SESS_OPEN;
	s->last_touch_ns = clock_mono_ns();
	s->touched = false;
	ST_ADD(p->nsessions, 1);
	log_debug("dataplane: session 0x%016llx established for %s, timeout %d ms", sid(s),
		  dp_conn_peer(s->conn), s->timeout);

	/* What arrived meanwhile, in order, as if received now. */
	raw = s->head;
	s->head = s->tail = NULL;
	while (raw) {
		struct dp_req *next = raw->next;
		s->nqueued--;
		s->nunsent--; /* raw frames are never SENT */
		ST_SET(p->outstanding, p->outstanding - 1);
		if (s->state == DP_SESS_OPEN && on_request(p, s, raw->buf, raw->len, raw->t_recv_ns))
			close_conn(s, NULL);
		free(raw->buf);
		free(raw);
		raw = next;
	}
	sess_run(p, s);
}

/* ================================================================== */
/* From the core                                                       */
/* ================================================================== */

static void put_result(struct jute_out *o, const struct repl_result *res, uint32_t i)
{
	const char *paths = repl_result_paths(res);
	struct proto_multi_result r;

	memset(&r, 0, sizeof(r));
	switch (res->results[i].type) {
	case ZK_OP_CREATE:
		r.type = ZK_OP_CREATE;
		r.path = (struct jute_buf){ (const uint8_t *)paths + res->results[i].path_off,
					    (int32_t)res->results[i].path_len };
		break;
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		/* OpResult.CreateResult(path, stat) is typed create2. */
		r.type = ZK_OP_CREATE2;
		r.path_stat.path = (struct jute_buf){ (const uint8_t *)paths + res->results[i].path_off,
						      (int32_t)res->results[i].path_len };
		r.path_stat.stat = res->results[i].stat;
		break;
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		r.type = ZK_OP_DELETE;
		break;
	case ZK_OP_SETDATA:
		r.type = ZK_OP_SETDATA;
		r.stat = res->results[i].stat;
		break;
	case ZK_OP_CHECK:
		r.type = ZK_OP_CHECK;
		break;
	default:
		r.type = ZK_OP_ERROR;
		r.err = res->results[i].err;
		r.error = res->results[i].err;
		break;
	}
	if (res->err != ZK_OK || res->results[i].err != ZK_OK) {
		/* A failed multi is all ERROR ops (0 before the failure, -2 after). */
		memset(&r, 0, sizeof(r));
		r.type = ZK_OP_ERROR;
		r.err = res->results[i].err;
		r.error = res->results[i].err;
	}
	proto_put_multi_result(o, &r);
}

static const char *write_last_op(int32_t op, int32_t err)
{
	switch (op) {
	case ZK_OP_MULTI: return "MULT";
	case ZK_OP_SYNC: return "SYNC";
	case ZK_OP_CLOSESESSION: return "CLOS";
	default: break;
	}
	if (err != ZK_OK)
		return "NA"; /* an ERROR txn: FinalRequestProcessor throws before its switch */
	switch (op) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL: return "CREA";
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER: return "DELE";
	case ZK_OP_SETDATA: return "SETD";
	case ZK_OP_SETACL: return "SETA";
	default: return "NA";
	}
}

static void reads_answered(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
			   struct repl_read_out *ro, int32_t err, int64_t zxid);

static void on_result(struct dp_proto *p, struct repl_out *m)
{
	struct dp_conn *c = dp_conn_lookup(p->w, m->conn);
	struct dp_sess *s = c ? dp_conn_user(c) : NULL;
	const struct repl_result *res = m->body;
	struct jute_out *o = &p->scratch;
	struct proto_reply_hdr h;
	struct proto_response body;
	struct dp_req *e;
	int32_t err;

	/* Results come in the order writes were sent: the first SENT entry. */
	e = s && s->state == DP_SESS_OPEN && s->session == m->session ? s->head : NULL;
	while (e && e->state != DP_REQ_SENT)
		e = e->next;
	if (!e || e->xid != m->xid) {
		log_debug("dataplane: result for xid %d of session 0x%016llx on connection %u "
			  "dropped (connection gone)",
			  m->xid, (unsigned long long)m->session, m->conn);
		return;
	}
	err = res ? res->err : ZK_SYSTEMERROR;
	if (!e->core) {
		/* Reads the core did not run (unknown session, ...): all fail alike. */
		if (e->nbatch)
			reads_answered(p, s, e, NULL, err != ZK_OK ? err : ZK_SYSTEMERROR, m->zxid);
		else
			close_conn(s, NULL);
		return;
	}
	h = (struct proto_reply_hdr){ e->xid, m->zxid, err };
	memset(&body, 0, sizeof(body));
	o->len = 0;
	o->err = 0;
	if (e->op == ZK_OP_MULTI && res && res->txn_type != ZK_OP_ERROR &&
	    (err == ZK_OK || res->nresults)) {
		struct proto_frame f;
		/* FinalRequestProcessor: the header's err stays 0 for a multi. */
		h.err = ZK_OK;
		proto_reply_begin(o, &f, &h);
		for (uint32_t i = 0; i < res->nresults; i++)
			put_result(o, res, i);
		proto_put_multi_end(o);
		proto_frame_end(o, &f);
	} else if (err != ZK_OK) {
		proto_encode_reply(o, &h, e->op, NULL);
	} else {
		const char *paths = res ? repl_result_paths(res) : NULL;
		bool has = res && res->nresults > 0;
		switch (e->op) {
		case ZK_OP_CREATE:
			if (has)
				body.path = (struct jute_buf){ (const uint8_t *)paths +
								       res->results[0].path_off,
							       (int32_t)res->results[0].path_len };
			break;
		case ZK_OP_CREATE2:
		case ZK_OP_CREATECONTAINER:
		case ZK_OP_CREATETTL:
			if (has) {
				body.path_stat.path = (struct jute_buf){
					(const uint8_t *)paths + res->results[0].path_off,
					(int32_t)res->results[0].path_len
				};
				body.path_stat.stat = res->results[0].stat;
			}
			break;
		case ZK_OP_SETDATA:
		case ZK_OP_SETACL:
			if (has)
				body.stat = res->results[0].stat;
			break;
		case ZK_OP_RECONFIG:
			/* GetDataResponse: the configuration the txn set, and its Stat */
			body.data_stat.data = (struct jute_buf){(const uint8_t *)"", 0};
			if (has) {
				body.data_stat.data = (struct jute_buf){
				    (const uint8_t *)paths + res->results[0].path_off,
				    (int32_t)res->results[0].path_len};
				body.data_stat.stat = res->results[0].stat;
			}
			break;
		case ZK_OP_SYNC:
			body.path = e->len == UINT32_MAX ? (struct jute_buf){ NULL, -1 }
							 : (struct jute_buf){ e->buf ? e->buf
										     : (const uint8_t *)"",
									     (int32_t)e->len };
			break;
		default:
			break;
		}
		proto_encode_reply(o, &h, e->op, &body);
	}
	if (o->err) {
		log_error("dataplane: cannot encode the %s reply for %s (session 0x%016llx): %s; "
			  "closing",
			  proto_op_name(e->op), dp_conn_peer(s->conn), sid(s), strerror(-o->err));
		close_conn(s, NULL);
		return;
	}
	if (e != s->head) {
		/* It went to the core past a parked reply: it waits for it (FIFO). */
		if (req_copy(e, o->buf, o->len)) {
			log_error("dataplane: out of memory keeping a reply for %s (session "
				  "0x%016llx); closing",
				  dp_conn_peer(s->conn), sid(s));
			close_conn(s, NULL);
			return;
		}
		e->state = DP_REQ_PARKED;
		s->nunsent++;
		e->wait_zxid = m->zxid;
		e->nframes = 1;
		e->last_op = write_last_op(e->op, err);
		e->stats = true;
		e->close_after = false;
		return;
	}
	reply_stats(p, s, e->xid,
		    reply_out(p, s, o->buf, o->len, 1, m->zxid),
		    write_last_op(e->op, err), e->t_recv_ns);
	if (e->op == ZK_OP_CLOSESESSION) {
		/* FinalRequestProcessor: reply, then cnxn.sendCloseSession(). */
		req_pop(p, s);
		close_conn(s, NULL);
		return;
	}
	req_pop(p, s);
	sess_run(p, s);
}

/*
 * One read the core ran (or refused) in its place gets its reply: the
 * frames (len bytes, nframes of them) go out now if it is the queue's
 * head, else they wait behind the parked replies ahead of it (FIFO).
 * err != ZK_OK: no frames, a bare ReplyHeader.  Returns false when the
 * connection is being closed (out of memory).
 */
static bool read_reply(struct dp_proto *p, struct dp_sess *s, struct dp_req *e, uint8_t *frames,
		       size_t len, uint32_t nframes, int32_t err, int64_t zxid)
{
	const char *last_op = err == ZK_OK ? dp_read_last_op(e->op) : "NA";

	if (err != ZK_OK) {
		struct proto_reply_hdr h = { e->xid, zxid, err };

		p->scratch.len = 0;
		p->scratch.err = 0;
		if (proto_encode_reply(&p->scratch, &h, e->op, NULL) || p->scratch.err) {
			close_conn(s, NULL);
			return false;
		}
		frames = p->scratch.buf;
		len = p->scratch.len;
		nframes = 1;
	}
	if (e != s->head) {
		if (req_copy(e, frames, len)) {
			log_error("dataplane: out of memory keeping a reply for %s (session "
				  "0x%016llx); closing",
				  dp_conn_peer(s->conn), sid(s));
			close_conn(s, NULL);
			return false;
		}
		e->state = DP_REQ_PARKED;
		s->nunsent++;
		e->wait_zxid = zxid;
		e->nframes = nframes;
		e->last_op = last_op;
		e->stats = true;
		e->close_after = false;
		return true;
	}
	reply_stats(p, s, e->xid, reply_out(p, s, frames, len, nframes, zxid), last_op,
		    e->t_recv_ns);
	req_pop(p, s);
	return true;
}

/* The first SENT request of the session m answers, or NULL (connection gone). */
static struct dp_req *first_sent(struct dp_proto *p, const struct repl_out *m, struct dp_sess **sp)
{
	struct dp_conn *c = dp_conn_lookup(p->w, m->conn);
	struct dp_sess *s = c ? dp_conn_user(c) : NULL;
	struct dp_req *e;

	/* Answers come in the order requests were sent: the first SENT entry. */
	e = s && s->state == DP_SESS_OPEN && s->session == m->session ? s->head : NULL;
	while (e && e->state != DP_REQ_SENT)
		e = e->next;
	*sp = s;
	return e;
}

/*
 * The answer to reads the core ran in their place (one REPL_IN_READ,
 * led by e): every event of a txn before them has been delivered here,
 * every later one comes after it on the ring, so their watches are
 * entered at once (no arming) and each reply goes out in FIFO order
 * (read_reply).  ro NULL: all of them fail with err (zxid the core's).
 * The batch's reads are the next SENT entries from e: nothing else was
 * sent between them, and only parked replies sit in between.
 */
static void reads_answered(struct dp_proto *p, struct dp_sess *s, struct dp_req *e,
			   struct repl_read_out *ro, int32_t err, int64_t zxid)
{
	uint32_t n = e->nbatch, nw = 0;
	struct repl_read_ans *ans = ro ? repl_read_answers(ro) : NULL;
	size_t off = 0;

	if (ro && ro->nreads != n) {
		log_error("dataplane: %u answers for %u reads of %s (session 0x%016llx); closing",
			  ro->nreads, n, dp_conn_peer(s->conn), sid(s));
		close_conn(s, NULL);
		return;
	}
	for (uint32_t i = 0; ro && i < ro->nwatches; i++) {
		const char *path = (const char *)repl_read_bytes(ro) + ro->watches[i].path_off;
		if (s->has_widx && dp_watch_add(p->watch, s->widx, path, ro->watches[i].path_len,
						ro->watches[i].bits)) {
			watch_fail(s);
			return;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		struct dp_req *next;

		while (e && e->state != DP_REQ_SENT)
			e = e->next;
		if (!e || e->core || (i && e->nbatch) || (ans && e->xid != ans[i].xid)) {
			log_error("dataplane: the core's answers to %s's reads (session 0x%016llx) "
				  "do not match its queue; closing",
				  dp_conn_peer(s->conn), sid(s));
			close_conn(s, NULL);
			return;
		}
		next = e->next;
		if (ans) {
			if (ans[i].len > ro->len - off || ans[i].nwatches > ro->nwatches - nw) {
				close_conn(s, NULL);
				return;
			}
			if (!read_reply(p, s, e, repl_read_bytes(ro) + off, ans[i].len,
					ans[i].nframes, ans[i].err, ro->zxid))
				return;
			off += ans[i].len;
			nw += ans[i].nwatches;
		} else if (!read_reply(p, s, e, NULL, 0, 0, err, zxid)) {
			return;
		}
		e = next;
	}
	sess_run(p, s);
}

static void on_read(struct dp_proto *p, struct repl_out *m)
{
	struct dp_sess *s;
	struct dp_req *e = first_sent(p, m, &s);

	if (!e || e->xid != m->xid || e->core || !e->nbatch || !m->body) {
		log_debug("dataplane: read answer for xid %d of session 0x%016llx on connection %u "
			  "dropped (connection gone)",
			  m->xid, (unsigned long long)m->session, m->conn);
		return;
	}
	reads_answered(p, s, e, m->body, ZK_OK, m->zxid);
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
		close_conn(s, NULL);
		return;
	}
	/* Connection ids are reused: only if it still holds that session. */
	if (s->session != m->session)
		return;
	log_info("dataplane: session 0x%016llx expired, closed or moved; closing %s", sid(s),
		 dp_conn_peer(s->conn));
	s->expired = true;
	s->gone_sent = true;
	close_conn(s, NULL);
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
		    struct jute_buf carried)
{
	const uint32_t *w;
	uint32_t n, nrec = 0, stamp;
	const struct tree_node *node;
	struct jute_acl_list acl;
	bool check = false;
	struct proto_watcher_event ev;

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
	for (uint32_t i = 0; i < nrec; i++) {
		struct dp_sess *s = p->rec[i];
		struct tree_auth auth = dp_sess_tree_auth(s);
		if (check && tree_acl_check(&acl, ZK_PERM_READ, &auth) != ZK_OK)
			continue;
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
				held_send_upto(p, s, INT64_MAX); /* keep txn order */
			send_frames(p, s, p->ev_out.buf, p->ev_out.len, 1);
			s->sent_zxid = max64(s->sent_zxid, zxid);
		} else if (held_add(s, p->ev_out.buf, p->ev_out.len)) {
			log_error("dataplane: out of memory holding a watch event for %s (session "
				  "0x%016llx); closing",
				  dp_conn_peer(s->conn), sid(s));
			close_conn(s, NULL);
		}
	}
}

static void on_events(struct dp_proto *p, struct repl_out *m)
{
	const struct repl_events *evs = m->body;
	const char *paths;

	if (!evs)
		return;
	paths = repl_events_paths(evs);
	for (uint32_t i = 0; i < evs->n; i++)
		deliver(p, evs->ev[i].type, paths + evs->ev[i].path_off, evs->ev[i].path_len,
			evs->zxid,
			(struct jute_buf){ (const uint8_t *)paths + evs->ev[i].acl_off,
					   (int32_t)evs->ev[i].acl_len });
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
		close_conn(s, NULL);
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
		on_result(p, m);
		break;
	case REPL_OUT_READ:
		on_read(p, m);
		break;
	case REPL_OUT_CONNECTED:
		on_connected(p, m);
		break;
	case REPL_OUT_EXPIRE:
		on_expire(p, m);
		break;
	case REPL_OUT_SESSIONS:
		dp_4lw_sessions(p->w, m->conn, m->body);
		m->body = NULL;
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

static void drain(struct dp_proto *p)
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

static void release_parked(struct dp_proto *p)
{
	struct dp_sess *list = p->parked;

	p->parked = NULL;
	while (list) {
		struct dp_sess *s = list;
		list = s->parked_next;
		s->parked_next = NULL;
		s->on_parked = false;
		sess_run(p, s);
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
static void catch_up(struct dp_proto *p)
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
		drain(p);
		release_parked(p);
	}
}

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
	p->cfg = dp_worker_cfg(w);
	p->repl = dp_worker_repl(w);
	p->tree = repl_tree(p->repl);
	p->in = repl_in_ring(p->repl, idx);
	p->out = repl_out_ring(p->repl, idx);
	p->watch = dp_watch_new();
	if (!p->watch || !p->in || !p->out || !p->tree) {
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
	drain(p);
	return p;
}

static void sess_free(struct dp_proto *p, struct dp_sess *s)
{
	while (s->head)
		req_pop(p, s);
	arms_clear(p, s);
	free(s->arms);
	free(s->held);
	auth_free(s);
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
	conn_stats_reset(s);
	/* NIOServerCnxn's constructor: authInfo gets ("ip", peer address). */
	java_host_address(dp_conn_peer_ip(c), ip, sizeof(ip));
	if (auth_add(s, "ip", 2, ip, strlen(ip), SIZE_MAX)) {
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
		(void)push_simple(p, s, REPL_IN_GONE, 0);
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
	uint64_t now = round_now(p);
	int rc = 0;

	if (!s)
		return -ENOTCONN;
	ST_ADD(p->packets_received, 1);
	s->packets_received++;
	s->last_io_ns = now;
	switch (s->state) {
	case DP_SESS_NEW:
		rc = on_connect_req(p, s, payload, len);
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
		e = req_new(p, s, 0, DP_OP_RAW, now);
		if (!e || req_copy(e, payload, len))
			rc = oom(s, "queueing a request");
		break;
	}
	case DP_SESS_OPEN:
		rc = on_request(p, s, payload, len, now);
		break;
	default:
		break;
	}
	if (rc)
		s->state = DP_SESS_CLOSING; /* the I/O layer closes it */
	if (p->parked)
		catch_up(p);
	publish_counts(p);
	return rc;
}

bool dp_proto_has_work(const struct dp_proto *p)
{
	return dp_watch_detached(p->watch) != 0;
}

void dp_proto_poll(struct dp_proto *p)
{
	p->round_ns = 0; /* the frames' round is over; this one ends it too */
	/* A closed connection's watches, a slice per loop iteration. */
	(void)dp_watch_reclaim(p->watch, DP_WATCH_RECLAIM_SLICE);
	backlog_flush(p);
	drain(p);
	release_parked(p);
	if (p->parked)
		catch_up(p);
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
	backlog_flush(p);
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
			    !push_simple(p, s, REPL_IN_TOUCH, 0)) {
				s->last_touch_ns = now_ns;
				s->touched = false;
			}
			eph += tree_session_ephemeral_count(p->tree, s->session);
		}
		if (limit && idle_ms > limit) {
			log_info("dataplane: closing %s (session 0x%016llx): no traffic for %llu ms",
				 dp_conn_peer(s->conn), sid(s), (unsigned long long)idle_ms);
			close_conn(s, NULL);
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
	st->sessions = ST_GET(p->nsessions);
}

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
static void conn_line(const struct dp_sess *s, const char *word, struct jute_out *out)
{
	if (!strcmp(word, "dump")) {
		int64_t last = (int64_t)(s->last_io_ns / 1000000);
		int64_t to = s->state == DP_SESS_OPEN ? s->timeout : SESSIONLESS_TIMEOUT_MS;
		int64_t bucket = ((last + to) / SESSIONLESS_TIMEOUT_MS + 1) * SESSIONLESS_TIMEOUT_MS;

		jute_out_printf(out, "%lld\tip: /%s sessionId: 0x%llx\n", (long long)bucket,
				dp_conn_peer(s->conn), sid(s));
		return;
	}
	conn_info(s, !strcmp(word, "stat"), out);
	jute_out_printf(out, "\n");
}

/*
 * cons, stat, dump: the connections in the I/O layer's slot order, cur->i
 * the next slot, so a listing resumes where it stopped whatever closed
 * or opened in between (a connection opened behind the cursor is not
 * listed, as in ZooKeeper's walk of a concurrent set).
 */
static bool describe_conn_lines(const struct dp_proto *p, const char *word,
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

bool dp_proto_describe_chunk(const struct dp_proto *p, const char *word,
			     struct dp_describe_cursor *cur, size_t budget, struct jute_out *out)
{
	if (!strcmp(word, "cons") || !strcmp(word, "stat") || !strcmp(word, "dump"))
		return describe_conn_lines(p, word, cur, budget, out);
	return dp_watch_describe_chunk(p->watch, word, cur, budget, out);
}

void dp_proto_describe(const struct dp_proto *p, const char *word, struct jute_out *out)
{
	struct dp_proto *mp = (struct dp_proto *)p; /* runs on p's own thread */

	if (!strcmp(word, "wchs") || !strcmp(word, "wchc") || !strcmp(word, "wchp")) {
		dp_watch_describe(p->watch, word, out);
	} else if (!strcmp(word, "cons") || !strcmp(word, "stat") || !strcmp(word, "dump")) {
		/* ConsCommand / StatCommand / dump: one line per connection. */
		struct dp_describe_cursor cur = { 0 };

		describe_conn_lines(p, word, &cur, SIZE_MAX, out);
	} else if (!strcmp(word, "crst")) {
		for (struct dp_sess *s = mp->sessions; s; s = s->next)
			conn_stats_reset(s);
	} else if (!strcmp(word, "srst")) {
		/* ServerStats.reset: latency and packet counters. */
		ST_SET(mp->lat_min_us, 0);
		ST_SET(mp->lat_max_us, 0);
		ST_SET(mp->lat_sum_us, 0);
		ST_SET(mp->lat_count, 0);
		ST_SET(mp->packets_received, 0);
		ST_SET(mp->packets_sent, 0);
	}
}

int dp_proto_ask_sessions(struct dp_proto *p, uint32_t conn)
{
	struct repl_in m = { .kind = REPL_IN_SESSIONS, .conn = conn };

	return push_in(p, &m);
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

static uint32_t java_spread(uint32_t h)
{
	return (h ^ (h >> 16)) & 0x7fffffff;
}

static uint32_t long_bin(int64_t id, uint32_t table)
{
	uint64_t v = (uint64_t)id;

	return java_spread((uint32_t)(v ^ (v >> 32))) & (table - 1);
}

static uint32_t chm_table(uint32_t count)
{
	uint32_t table = 16;

	while (table < (1u << 30) && count >= table - table / 4)
		table *= 2;
	return table;
}

static uint32_t hash_set_table(uint32_t count)
{
	uint32_t table = 16;

	while (table < (1u << 30) && count > table / 4 * 3)
		table *= 2;
	return table;
}

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
	for (uint32_t i = 0, table = chm_table(e->ss.n); i < e->ss.n; i++)
		e->ss.v[i].bin = long_bin(e->ss.v[i].id, table);
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
		table = hash_set_table(e->ps.n);
		for (uint32_t k = 0; k < e->ps.n; k++)
			e->ps.v[k].bin =
			    java_spread((uint32_t)java_string_hash(e->ps.v[k].path)) & (table - 1);
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
