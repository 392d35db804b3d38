/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS on the client port with OpenSSL, as ZooKeeper's
 * NettyServerCnxnFactory serves it (ClientX509Util's keys,
 * X509AuthenticationProvider's identities).
 *
 * Why OpenSSL drives the socket itself (SSL_set_fd) rather than memory
 * BIOs: the sock backend's handles are non-blocking kernel sockets, so
 * OpenSSL's own reads and writes return "want read" / "want write"
 * exactly where the worker's readiness loop can take them, and no
 * ciphertext ever needs a queue of ours.  The price is that only a
 * backend whose handles are sockets can serve TLS (DP_IO_CAP_TLS); the
 * dpdk backend is refused at start-up (config/config.c, check_tls).
 *
 * Never blocking.  The handshake runs inside dp_tls_recv, one step per
 * readiness event; a step that needs to write while the socket is full
 * sets want_write, and conn.c then arms the socket for writing and calls
 * dp_tls_recv again when it is writable.  A client that stalls mid
 * handshake is closed after DP_TLS_HANDSHAKE_MS (conn.c's tick).
 * OpenSSL's read-ahead is off, so after SSL_read the only bytes it holds
 * are the rest of one record (<= 16 KiB), which conn.c reads at once
 * (dp_tls_pending).  SSL_MODE_RELEASE_BUFFERS gives record buffers
 * back between records; still, an idle TLS connection measured about
 * 28 kB of RSS against 2.4 kB for a plain one (2,000 idle connections on
 * loopback: +56 MB against +4.9 MB), which is OpenSSL's per-connection
 * state (the SSL object, cipher contexts, the peer's certificate).
 *
 * Bounded output.  dp_tls_send writes at most 16 KiB (one record) per
 * call, with partial writes enabled and a moving buffer accepted, from
 * the connection's own output queue, so conn.c's output bound applies
 * unchanged; after "want write" the same bytes are offered again (the
 * queue only grows at its end).
 *
 * Context and reload.  One SSL_CTX for the process, behind a mutex
 * taken only to pick it for a new connection (SSL_new holds a reference,
 * so a replaced context lives until its last connection closes).  With
 * client.certReload, one worker stats the key and trust store files at
 * every tick and builds a new context when one changed (ZooKeeper's
 * FileChangeWatcher + X509Util.resetContext); a context that fails to
 * build (a file half written) leaves the old one in place and is tried
 * again when the file changes again.
 *
 * Identities.  With ssl.clientAuth need or want and a certificate
 * presented, the subject DN becomes the x509 identity, formatted as
 * Java's X500Principal.getName() (dp_tls_dn_java), which is what
 * X509AuthenticationProvider.getClientId puts in x509 ACLs.  ZooKeeper
 * registers that provider itself when TLS is on
 * (QuorumPeerConfig.configureSSLAuth), so every certificate the trust
 * store accepts gives an identity.
 *
 * Logging.  Handshake failures are the peer's doing: one line per second
 * at most, with the count of the ones not logged.
 *
 * OpenSSL writes to the socket with write(2), not send(MSG_NOSIGNAL): a
 * peer that reset the connection raises SIGPIPE, which the server
 * ignores process-wide (cheetah.c), as the tests do.
 *
 * Reload builds the new context on the worker that calls dp_tls_reload
 * (reading and parsing the files: milliseconds, once per change).
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "config/tls_ctx.h"
#include "dataplane/io/tls.h"

/* A record's worth of plaintext per SSL_write. */
#define SEND_MAX 16384

struct dp_tls {
	const struct cfg *cfg;
	pthread_mutex_t lock; /* guards ctx */
	SSL_CTX *ctx;
	struct tls_file_id ks, ts; /* the files as last loaded (or last failed) */
};

enum { HS = 1, OPEN, DEAD };

struct dp_tls_conn {
	SSL *ssl;
	uint8_t state;
	bool want_write;
	uint32_t wlen; /* bytes of an SSL_write to offer again; 0: none */
	char *x509_id;
};

/* ---- Rate-limited lines about what peers do ---- */

static uint64_t peer_log_next_ns;
static uint64_t peer_log_held;

static void peer_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void peer_log(const char *fmt, ...)
{
	uint64_t now = clock_mono_ns(), next = __atomic_load_n(&peer_log_next_ns, __ATOMIC_RELAXED);
	char line[512];
	va_list ap;

	if (now < next ||
	    !__atomic_compare_exchange_n(&peer_log_next_ns, &next, now + 1000000000ull, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&peer_log_held, 1, __ATOMIC_RELAXED);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	uint64_t held = __atomic_exchange_n(&peer_log_held, 0, __ATOMIC_RELAXED);
	if (held)
		log_info("%s (%llu more TLS failures in the last second not logged)", line,
			 (unsigned long long)held);
	else
		log_info("%s", line);
}

void dp_tls_log_timeout(const char *peer)
{
	peer_log("TLS client %s: handshake not finished within %d ms; closing", peer,
		 DP_TLS_HANDSHAKE_MS);
}

static int build_ctx(const struct cfg *cfg, SSL_CTX **out)
{
	return tls_ctx_build(&cfg->tls, "ssl", TLS_CTX_CLIENT_PORT, out);
}

int dp_tls_open(const struct cfg *cfg, struct dp_tls **out)
{
	struct dp_tls *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	pthread_mutex_init(&t->lock, NULL);
	tls_file_id_read(cfg->tls.keystore, &t->ks);
	tls_file_id_read(cfg->tls.truststore, &t->ts);
	ret = build_ctx(cfg, &t->ctx);
	if (ret) {
		dp_tls_close(t);
		return ret;
	}
	*out = t;
	return 0;
}

void dp_tls_close(struct dp_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void dp_tls_reload(struct dp_tls *t)
{
	struct tls_file_id ks, ts;
	SSL_CTX *ctx, *old;

	if (!t || !t->cfg->tls.cert_reload)
		return;
	tls_file_id_read(t->cfg->tls.keystore, &ks);
	tls_file_id_read(t->cfg->tls.truststore, &ts);
	if (tls_file_id_same(&ks, &t->ks) && tls_file_id_same(&ts, &t->ts))
		return;
	/* Remembered before building: a failure is not retried until the next change. */
	t->ks = ks;
	t->ts = ts;
	if (build_ctx(t->cfg, &ctx)) {
		log_error("TLS: the changed key or trust store could not be loaded; new "
			  "connections keep the previous certificates");
		return;
	}
	pthread_mutex_lock(&t->lock);
	old = t->ctx;
	t->ctx = ctx;
	pthread_mutex_unlock(&t->lock);
	SSL_CTX_free(old); /* connections made with it hold their own reference */
	log_info("TLS: reloaded the key and trust stores (%s%s%s)", t->cfg->tls.keystore,
		 t->cfg->tls.truststore ? ", " : "",
		 t->cfg->tls.truststore ? t->cfg->tls.truststore : "");
}

/* ---- Connections ---- */

int dp_tls_sniff(int fd)
{
	uint8_t b;
	ssize_t n;

	do {
		n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* SslHandler.isEncrypted starts from the record type: 22 is a handshake. */
	return b == 0x16;
}

int dp_tls_conn_new(struct dp_tls *t, int fd, struct dp_tls_conn **out)
{
	struct dp_tls_conn *tc = calloc(1, sizeof(*tc));

	if (!tc)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	tc->ssl = SSL_new(t->ctx);
	pthread_mutex_unlock(&t->lock);
	if (!tc->ssl || SSL_set_fd(tc->ssl, fd) != 1) {
		log_error("TLS: cannot create a connection's state (%s)", tls_ctx_reason());
		ERR_clear_error();
		SSL_free(tc->ssl);
		free(tc);
		return -ENOMEM;
	}
	SSL_set_accept_state(tc->ssl);
	SSL_set_app_data(tc->ssl, t);
	tc->state = HS;
	*out = tc;
	return 0;
}

void dp_tls_conn_free(struct dp_tls_conn *tc, bool notify)
{
	if (!tc)
		return;
	if (notify && tc->state == OPEN) {
		/* close_notify if the socket takes it now; never waits for the peer's. */
		ERR_clear_error();
		SSL_shutdown(tc->ssl);
		ERR_clear_error();
	}
	SSL_free(tc->ssl);
	free(tc->x509_id);
	free(tc);
}

/*
 * The handshake finished: the certificate policy of
 * NettyServerCnxnFactory.CertificateVerifier.  0, or -EPROTO (logged).
 */
static int verified(struct dp_tls_conn *tc, const char *peer)
{
	struct dp_tls *t = SSL_get_app_data(tc->ssl);
	const struct cfg_tls *ct = &t->cfg->tls;
	X509 *cert;
	char *id;
	int n;

	if (ct->client_auth == CFG_CLIENT_AUTH_NONE)
		return 0;
	cert = SSL_get1_peer_certificate(tc->ssl);
	if (!cert)
		return 0;	   /* "want" without a certificate: no identity */
	assert(ct->x509_provider); /* cfg_finalize registers it with TLS on */
	id = malloc(DP_TLS_MAX_ID);
	n = id ? dp_tls_dn_java(X509_get_subject_name(cert), id, DP_TLS_MAX_ID) : -ENOMEM;
	X509_free(cert);
	if (n < 0) {
		free(id);
		peer_log("TLS client %s: certificate subject %s; closing", peer,
			 n == -ENOMEM ? "cannot be stored (out of memory)" : "too long");
		return -EPROTO;
	}
	tc->x509_id = id;
	log_info("TLS client %s: authenticated Id '%s' for Scheme 'x509'", peer, id);
	return 0;
}

static ssize_t failed(struct dp_tls_conn *tc, int err, const char *what, const char *peer)
{
	if (err == SSL_ERROR_SYSCALL && !ERR_peek_error()) {
		/* The peer went away (EOF or reset) without close_notify. */
		tc->state = DEAD;
		return 0;
	}
	peer_log("TLS client %s: %s: %s", peer, what, tls_ctx_reason());
	ERR_clear_error();
	tc->state = DEAD;
	return -EPROTO;
}

ssize_t dp_tls_recv(struct dp_tls_conn *tc, void *buf, size_t len, const char *peer)
{
	int r, err;

	assert(tc && buf);
	if (tc->state == DEAD)
		return -EPROTO;
	tc->want_write = false;
	if (tc->state == HS) {
		ERR_clear_error();
		r = SSL_do_handshake(tc->ssl);
		if (r != 1) {
			err = SSL_get_error(tc->ssl, r);
			if (err == SSL_ERROR_WANT_READ)
				return -EAGAIN;
			if (err == SSL_ERROR_WANT_WRITE) {
				tc->want_write = true;
				return -EAGAIN;
			}
			return failed(tc, err, "handshake failed", peer);
		}
		tc->state = OPEN;
		if (verified(tc, peer)) {
			tc->state = DEAD;
			return -EPROTO;
		}
	}
	if (len > INT32_MAX)
		len = INT32_MAX;
	ERR_clear_error();
	r = SSL_read(tc->ssl, buf, (int)len);
	if (r > 0)
		return r;
	err = SSL_get_error(tc->ssl, r);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		tc->want_write = true;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		return failed(tc, err, "read failed", peer);
	}
}

ssize_t dp_tls_send(struct dp_tls_conn *tc, const void *buf, size_t len)
{
	size_t n = len < SEND_MAX ? len : SEND_MAX;
	int r, err;

	if (tc->state == HS)
		return -EAGAIN;
	if (tc->state == DEAD)
		return -EPIPE;
	if (tc->wlen) {
		/* OpenSSL wants the bytes it was offered again, at least. */
		assert(len >= tc->wlen);
		n = tc->wlen;
	}
	if (!n)
		return 0;
	ERR_clear_error();
	r = SSL_write(tc->ssl, buf, (int)n);
	if (r > 0) {
		tc->wlen = 0;
		return r;
	}
	err = SSL_get_error(tc->ssl, r);
	if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
		tc->wlen = (uint32_t)n;
		return -EAGAIN;
	}
	ERR_clear_error();
	tc->state = DEAD;
	return -EPIPE;
}

bool dp_tls_want_write(const struct dp_tls_conn *tc)
{
	return tc->want_write;
}

bool dp_tls_pending(const struct dp_tls_conn *tc)
{
	/* Decrypted bytes, or record bytes read from the socket and not processed. */
	return tc->state == OPEN && SSL_has_pending(tc->ssl);
}

bool dp_tls_handshaking(const struct dp_tls_conn *tc)
{
	return tc->state == HS;
}

const char *dp_tls_x509_id(const struct dp_tls_conn *tc)
{
	return tc->x509_id;
}

/* ---- The subject DN as Java writes it ---- */

struct dn_out {
	char *p;
	size_t len, cap;
	bool over;
};

static void put_c(struct dn_out *o, char c)
{
	if (o->len + 1 >= o->cap) {
		o->over = true;
		return;
	}
	o->p[o->len++] = c;
}

static void put_s(struct dn_out *o, const char *s)
{
	for (; *s; s++)
		put_c(o, *s);
}

static const char *java_keyword(int nid)
{
	switch (nid) {
	case NID_commonName:
		return "CN";
	case NID_countryName:
		return "C";
	case NID_localityName:
		return "L";
	case NID_stateOrProvinceName:
		return "ST";
	case NID_organizationName:
		return "O";
	case NID_organizationalUnitName:
		return "OU";
	case NID_streetAddress:
		return "STREET";
	case NID_domainComponent:
		return "DC";
	case NID_userId:
		return "UID";
	default:
		return NULL;
	}
}

/* AVA.isDerString(value, false): the string types Java prints as text. */
static bool java_der_string(int type)
{
	switch (type) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_T61STRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_GENERALSTRING:
	case V_ASN1_BMPSTRING:
	case V_ASN1_UTF8STRING:
		return true;
	default:
		return false;
	}
}

/* "#" and the DER encoding of a universal primitive value, lower-case hex. */
static void put_hex_der(struct dn_out *o, const ASN1_STRING *v)
{
	static const char hex[] = "0123456789abcdef";
	int len = ASN1_STRING_length(v);
	const unsigned char *d = ASN1_STRING_get0_data(v);
	unsigned char hdr[6];
	size_t h = 0;

	hdr[h++] = (unsigned char)(ASN1_STRING_type(v) & 0x1f);
	if (len < 0x80) {
		hdr[h++] = (unsigned char)len;
	} else if (len < 0x100) {
		hdr[h++] = 0x81;
		hdr[h++] = (unsigned char)len;
	} else if (len < 0x10000) {
		hdr[h++] = 0x82;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x83;
		hdr[h++] = (unsigned char)(len >> 16);
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	}
	put_c(o, '#');
	for (size_t i = 0; i < h; i++) {
		put_c(o, hex[hdr[i] >> 4]);
		put_c(o, hex[hdr[i] & 15]);
	}
	for (int i = 0; i < len; i++) {
		put_c(o, hex[d[i] >> 4]);
		put_c(o, hex[d[i] & 15]);
	}
}

/* AVA.toRFC2253String's escapes: ",=+<>#;\"\\" anywhere, NUL as \00, blanks at the ends. */
static void put_value(struct dn_out *o, const unsigned char *s, size_t n)
{
	size_t lead = 0, trail = n;

	while (lead < n && (s[lead] == ' ' || s[lead] == '\r'))
		lead++;
	while (trail > lead && (s[trail - 1] == ' ' || s[trail - 1] == '\r'))
		trail--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];

		if (i < lead || i >= trail) {
			put_c(o, '\\');
			put_c(o, (char)ch);
		} else if (ch == 0) {
			put_s(o, "\\00");
		} else {
			if (strchr(",=+<>#;\"\\", ch))
				put_c(o, '\\');
			put_c(o, (char)ch);
		}
	}
}

int dp_tls_dn_java(const void *x509_name, char *out, size_t cap)
{
	const X509_NAME *name = x509_name;
	struct dn_out o = {out, 0, cap, false};
	int n = X509_NAME_entry_count(name), prev_set = -1;

	assert(out && cap > 0);
	for (int i = n - 1; i >= 0; i--) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
		int set = X509_NAME_ENTRY_set(e);
		const char *kw = java_keyword(OBJ_obj2nid(obj));

		/* Several values of one RDN: DER order, joined by '+'. */
		if (i != n - 1)
			put_c(&o, set == prev_set ? '+' : ',');
		prev_set = set;
		if (kw) {
			put_s(&o, kw);
		} else {
			char oid[128];

			OBJ_obj2txt(oid, sizeof(oid), obj, 1);
			put_s(&o, oid);
		}
		put_c(&o, '=');
		if (!kw || !java_der_string(ASN1_STRING_type(v))) {
			put_hex_der(&o, v);
			continue;
		}
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, v);

		if (len < 0) {
			put_hex_der(&o, v);
			continue;
		}
		put_value(&o, utf8, (size_t)len);
		OPENSSL_free(utf8);
	}
	if (o.over)
		return -ENAMETOOLONG;
	out[o.len] = '\0';
	return (int)o.len;
}
