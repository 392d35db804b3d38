/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS inside the I/O layer (io/tls.c): the server's OpenSSL context, built
 * from ZooKeeper's ClientX509Util keys (struct cfg_tls), and one
 * connection's TLS state, driven without blocking from the worker's
 * readiness loop (conn.c).  Only backends whose handles are kernel
 * sockets serve it (DP_IO_CAP_TLS).
 *
 * Threads: dp_tls_open and dp_tls_close on the main thread; dp_tls_reload
 * on any one worker (it takes the context's lock); everything about a
 * connection on the worker that owns it.
 */
#ifndef CHEETAH_DATAPLANE_IO_TLS_H
#define CHEETAH_DATAPLANE_IO_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cfg;
struct dp_tls;	    /* process-wide: the SSL_CTX, its files, the reload state */
struct dp_tls_conn; /* one connection */

/* How long a client may take to finish its handshake (Netty's default). */
#define DP_TLS_HANDSHAKE_MS 10000
/* The longest x509 identity (subject DN) accepted; longer: the connection is refused. */
#define DP_TLS_MAX_ID 4096

/*
 * Builds the context from cfg->tls: the key store (PEM: key and chain;
 * PKCS12 with its password), the trust store (PEM certificates or
 * PKCS12; none: the system's CAs), ssl.clientAuth, the protocols and
 * cipher suites.  0, or -EINVAL after one log line naming the key and
 * the file at fault, or -ENOMEM.
 */
int dp_tls_open(const struct cfg *cfg, struct dp_tls **out);
void dp_tls_close(struct dp_tls *t);

/*
 * client.certReload: when a store file changed (mtime, size or inode)
 * since it was loaded, builds a new context from the files; new
 * connections use it, open ones keep theirs.  A context that fails to
 * build is logged once per change and the old one stays.  Call every
 * tick from one worker; cheap when nothing changed (two stat calls).
 */
void dp_tls_reload(struct dp_tls *t);

/*
 * Port unification (client.portUnification): looks at the first byte of
 * a connection on the plain port without taking it.  1: a TLS record
 * (0x16, a handshake), 0: plain, -EAGAIN: nothing yet, -ECONNRESET at
 * end of stream, -errno.
 */
int dp_tls_sniff(int fd);

/* Logs (rate-limited, as failures) that peer's handshake ran out of time. */
void dp_tls_log_timeout(const char *peer);

/* A server-side TLS connection on socket fd.  0, -ENOMEM (logged). */
int dp_tls_conn_new(struct dp_tls *t, int fd, struct dp_tls_conn **out);
/*
 * Frees; first sends close_notify when notify (an orderly close) and the
 * socket takes it without waiting.
 */
void dp_tls_conn_free(struct dp_tls_conn *tc, bool notify);

/*
 * Plaintext in: drives the handshake first.  Bytes (> 0), 0 at the end
 * of the stream (close_notify or EOF), -EAGAIN (see dp_tls_want_write),
 * or -EPROTO after a failed handshake, a refused certificate or a bad
 * record (logged at info, rate-limited: the peer controls the rate).
 * peer names the client in logs.
 */
ssize_t dp_tls_recv(struct dp_tls_conn *tc, void *buf, size_t len, const char *peer);
/*
 * Plaintext out: bytes taken (> 0, maybe fewer than len), -EAGAIN (also
 * during the handshake), -EPIPE.  After -EAGAIN the next call must
 * offer at least the same bytes again (the output queue only grows).
 */
ssize_t dp_tls_send(struct dp_tls_conn *tc, const void *buf, size_t len);

/* The last call waits for the socket to be writable (handshake, renegotiation). */
bool dp_tls_want_write(const struct dp_tls_conn *tc);
/*
 * Bytes wait inside OpenSSL (decrypted, or read from the socket and not
 * yet processed): read again without a readiness event.  When false,
 * whatever is left is in the socket, which readiness reports.
 */
bool dp_tls_pending(const struct dp_tls_conn *tc);
/* The handshake is not finished. */
bool dp_tls_handshaking(const struct dp_tls_conn *tc);
/*
 * The client certificate's subject as X500Principal.getName() writes it
 * (RFC 2253), the x509 identity; NULL without a certificate.  Valid
 * while tc lives.
 */
const char *dp_tls_x509_id(const struct dp_tls_conn *tc);

/*
 * Formats an X509_NAME (passed as void * so that this header needs no
 * OpenSSL) as Java's X500Principal.getName(): RDNs last to first, joined
 * by ','; CN, C, L, ST, O, OU, STREET, DC and UID by keyword with
 * RFC 2253 escapes, other attributes as OID=#hex of their DER value.
 * Returns the length, or -ENAMETOOLONG when it does not fit in cap.
 */
int dp_tls_dn_java(const void *x509_name, char *out, size_t cap);

#endif
