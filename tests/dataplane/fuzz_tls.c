// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the server side of TLS on the client port
 * (dataplane/io/tls.c): the fuzzer's bytes are what a client sends.
 *
 * Why a socketpair and not memory BIOs: tls.c hands OpenSSL the socket
 * itself (SSL_set_fd), so the path under test is exactly the one a
 * worker drives, including port unification's first-byte sniff (a
 * MSG_PEEK on the socket).  Everything stays in this process: the
 * server's key and self-signed certificate are made once, at start, with
 * OpenSSL's APIs, into a PEM file under /tmp; no network.
 *
 * Input: [ctl:1][client stream...].  ctl bits:
 *   0:   the context with ssl.clientAuth=want and the same certificate as
 *        trust store (client certificates are parsed and verified), else
 *        ssl.clientAuth=none;
 *   1-3: the stream is delivered in chunks of 1 << (bits + 2) bytes (4 B
 *        to 512 B), the server stepping after each (partial records);
 *   4:   the client half-closes at the end (EOF), else it just stops;
 *   5:   a real client first (OpenSSL, in-process, on the same socket)
 *        completes the handshake, and the stream follows it: the fuzzer
 *        cannot make a key exchange, so without this the server's read,
 *        send and identity paths after a handshake would stay out of
 *        reach;
 *   6:   (with 5) the real client presents the test certificate (an x509
 *        identity under clientAuth=want);
 *   7:   (with 5) the stream goes through the real client's SSL_write
 *        (valid records of fuzzer plaintext), else raw (bad records), and
 *        the client asks for a KeyUpdate first.
 * The server sniffs the first byte (dp_tls_sniff, as with
 * client.portUnification): a plain first byte ends the run there, as the
 * plain path is another target's.  After the stream, the server reads
 * until it gets something other than -EAGAIN (bounded), and if the
 * handshake finished it sends a frame back.  Asserted: no crash, no leak
 * (LeakSanitizer, libFuzzer's -detect_leaks), results within the
 * documented set (bytes <= the buffer, 0, -EAGAIN, -EPROTO), whatever
 * the server writes to the client is drained (its output is bounded by
 * the socket buffer: a handshake never blocks).  Seeds (tests/dataplane/
 * corpus_tls/) are ClientHellos of a real OpenSSL client.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "config/config.h"
#include "dataplane/io/tls.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dp_tls *tls_none, *tls_want;
static SSL_CTX *client_plain, *client_cert;
/* A context keeps a pointer to its cfg (the server's lives as long): they outlive them. */
static struct cfg cfg_none, cfg_want;
static char dir[64], pem[128];

static void make_pem(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	FILE *fp;

	CHECK(key && x);
	strcpy(dir, "/tmp/cheetah-fuzz-tls-XXXXXX");
	CHECK(mkdtemp(dir));
	snprintf(pem, sizeof(pem), "%s/server.pem", dir);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, n);
	CHECK(X509_sign(x, key, EVP_sha256()) > 0);
	fp = fopen(pem, "w");
	CHECK(fp);
	CHECK(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL));
	CHECK(PEM_write_X509(fp, x));
	CHECK(fclose(fp) == 0);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void cleanup(void)
{
	SSL_CTX_free(client_plain);
	SSL_CTX_free(client_cert);
	dp_tls_close(tls_none);
	dp_tls_close(tls_want);
	cfg_free(&cfg_none);
	cfg_free(&cfg_want);
	unlink(pem);
	rmdir(dir);
}

static struct dp_tls *open_ctx(struct cfg *cp, const char *client_auth, bool trust)
{
	struct cfg_error err;
	struct cfg c;
	struct dp_tls *t = NULL;
	char line[256];

	CHECK(cfg_defaults(&c) == 0);
	CHECK(cfg_set(&c, "dataDir=/tmp", &err) == 0);
	CHECK(cfg_set(&c, "secureClientPort=2281", &err) == 0);
	snprintf(line, sizeof(line), "ssl.keyStore.location=%s", pem);
	CHECK(cfg_set(&c, line, &err) == 0);
	snprintf(line, sizeof(line), "ssl.clientAuth=%s", client_auth);
	CHECK(cfg_set(&c, line, &err) == 0);
	if (trust) {
		snprintf(line, sizeof(line), "ssl.trustStore.location=%s", pem);
		CHECK(cfg_set(&c, line, &err) == 0);
	}
	CHECK(cfg_finalize(&c, &err) == 0);
	*cp = c;
	CHECK(dp_tls_open(cp, &t) == 0);
	return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);     /* as cheetah.c: OpenSSL writes with write(2) */
	log_set_level(LOG_LVL_ERROR); /* handshake failures log at info */
	make_pem();
	tls_none = open_ctx(&cfg_none, "none", false);
	tls_want = open_ctx(&cfg_want, "want", true);
	client_plain = SSL_CTX_new(TLS_client_method());
	client_cert = SSL_CTX_new(TLS_client_method());
	CHECK(client_plain && client_cert);
	CHECK(SSL_CTX_use_certificate_chain_file(client_cert, pem) == 1);
	CHECK(SSL_CTX_use_PrivateKey_file(client_cert, pem, SSL_FILETYPE_PEM) == 1);
	atexit(cleanup);
	return 0;
}

/* The client reads (and drops) whatever the server wrote. */
static void drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* What the real client receives (server records: a reply, a KeyUpdate). */
static void client_drain(SSL *cl)
{
	uint8_t buf[4096];

	while (SSL_read(cl, buf, sizeof(buf)) > 0)
		;
}

/* One server step; checks the result is one tls.h documents. */
static ssize_t step(struct dp_tls_conn *tc, int cli, SSL *cl)
{
	uint8_t buf[512];
	ssize_t r = dp_tls_recv(tc, buf, sizeof(buf), "fuzz:1");

	CHECK(r == -EAGAIN || r == -EPROTO || (r >= 0 && (size_t)r <= sizeof(buf)));
	if (cl)
		client_drain(cl);
	else
		drain(cli);
	return r;
}

/*
 * The real client and the server take turns until both finished the
 * handshake; false when either failed or it took too many turns.
 */
static bool handshake(struct dp_tls_conn *tc, SSL *cl)
{
	uint8_t buf[512];

	for (int i = 0; i < 64; i++) {
		int r = SSL_do_handshake(cl);
		ssize_t n = dp_tls_recv(tc, buf, sizeof(buf), "fuzz:1");

		CHECK(n == -EAGAIN || n == -EPROTO);
		if (n == -EPROTO)
			return false;
		if (r == 1 && !dp_tls_handshaking(tc))
			return true;
		if (r != 1 && SSL_get_error(cl, r) != SSL_ERROR_WANT_READ &&
		    SSL_get_error(cl, r) != SSL_ERROR_WANT_WRITE)
			return false;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_tls_conn *tc = NULL;
	int sv[2], rc;
	size_t chunk, off;
	ssize_t r = -EAGAIN;
	SSL *cl = NULL;
	uint8_t ctl;

	if (size < 2 || size > 65536)
		return -1;
	ctl = data[0];
	data++;
	size--;
	chunk = (size_t)1 << (((ctl >> 1) & 7) + 2);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	/* 64 KiB of input fits in the pair's buffers only when enlarged. */
	rc = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &rc, sizeof(rc));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &rc, sizeof(rc));

	/* Port unification: nothing yet, then the first chunk. */
	CHECK(dp_tls_sniff(sv[0]) == -EAGAIN);
	if (ctl & 32) {
		cl = SSL_new(ctl & 64 ? client_cert : client_plain);
		CHECK(cl && SSL_set_fd(cl, sv[1]) == 1);
		SSL_set_connect_state(cl);
		CHECK(SSL_do_handshake(cl) != 1); /* the ClientHello is out */
		CHECK(dp_tls_sniff(sv[0]) == 1);
		CHECK(dp_tls_conn_new(ctl & 1 ? tls_want : tls_none, sv[0], &tc) == 0);
		CHECK(handshake(tc, cl));
		/* The identity: the certificate's subject exactly when asked and shown. */
		if ((ctl & 1) && (ctl & 64))
			CHECK(dp_tls_x509_id(tc) && !strcmp(dp_tls_x509_id(tc), "CN=localhost"));
		else
			CHECK(!dp_tls_x509_id(tc));
		if (ctl & 128) {
			/* OpenSSL's client may decline (a write pending): then no KeyUpdate. */
			if (SSL_key_update(cl, SSL_KEY_UPDATE_REQUESTED) != 1)
				ERR_clear_error();
			if (size)
				CHECK(SSL_write(cl, data, (int)size) == (int)size);
			size = 0; /* all sent */
		}
	}
	for (off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t w = write(sv[1], data + off, n);

		if (w < 0)
			break; /* the server closed, or the buffer is full: stop sending */
		if (!tc) {
			rc = dp_tls_sniff(sv[0]);
			CHECK(rc == 0 || rc == 1);
			CHECK(rc == (data[0] == 0x16));
			if (rc == 0)
				goto out; /* plain: not this target's path */
			CHECK(dp_tls_conn_new(ctl & 1 ? tls_want : tls_none, sv[0], &tc) == 0);
			CHECK(dp_tls_handshaking(tc));
		}
		r = step(tc, sv[1], cl);
		if (r == -EPROTO || r == 0)
			break;
	}
	if (!tc)
		goto out;
	if (ctl & 16)
		shutdown(sv[1], SHUT_WR);
	/* Whatever is left in the socket or inside OpenSSL, bounded. */
	for (int i = 0; i < 4096 && r != -EPROTO && r != 0; i++) {
		r = step(tc, sv[1], cl);
		if (r == -EAGAIN && !dp_tls_pending(tc) && !dp_tls_want_write(tc))
			break;
	}
	if (r != -EPROTO && !dp_tls_handshaking(tc)) {
		static const uint8_t frame[] = {0, 0, 0, 4, 'p', 'o', 'n', 'g'};
		ssize_t s = dp_tls_send(tc, frame, sizeof(frame));

		CHECK(s == -EPIPE || s == -EAGAIN || (s > 0 && (size_t)s <= sizeof(frame)));
		if (cl)
			client_drain(cl);
		else
			drain(sv[1]);
	}
	if (r == -EPROTO)
		CHECK(dp_tls_recv(tc, (uint8_t[1]){0}, 1, "fuzz:1") == -EPROTO); /* stays dead */
	dp_tls_conn_free(tc, r != -EPROTO);
out:
	SSL_free(cl);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
