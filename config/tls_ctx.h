/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_ctx.h - an OpenSSL context from ZooKeeper's X509Util keys (struct
 * cfg_tls): the client port's (ssl.*, dataplane/io/tls.c) and the quorum
 * links' (ssl.quorum.*, replication/peer/peer.c) are built by the same
 * code, so PEM and PKCS12 loading, the Java cipher-name mapping and the
 * protocol rules are one implementation.
 *
 * THREADS: any; the functions touch no global state of their own.
 */
#ifndef CHEETAH_CONFIG_TLS_CTX_H
#define CHEETAH_CONFIG_TLS_CTX_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

struct cfg_tls;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX, without including OpenSSL here */

enum tls_ctx_role {
	/*
	 * The client port: TLS_server_method, ssl.clientAuth decides whether
	 * a client certificate is asked for (and the trust store is loaded
	 * only then), no session cache.
	 */
	TLS_CTX_CLIENT_PORT = 1,
	/*
	 * A quorum link, either end (TLS_method): the peer's certificate is
	 * always required and verified against the trust store on both
	 * sides (QuorumX509Util: a server is both a TLS client and server),
	 * no session tickets (links are long-lived).
	 */
	TLS_CTX_QUORUM = 2,
};

/*
 * Builds a context from t: protocols (enabledProtocols, else protocol,
 * else TLSv1.2), cipher suites (ciphersuites as Java's IANA names, else
 * ZooKeeper's defaults), the key store (PEM: key and chain; PKCS12 with
 * its password or passwordPath), the trust store (PEM or PKCS12; none:
 * the system's CAs).  pfx names the keys in log lines ("ssl",
 * "ssl.quorum").  Returns 0 and *out (the caller frees it with
 * SSL_CTX_free), -EINVAL after one log line naming the key and the file
 * at fault, or -ENOMEM.
 */
int tls_ctx_build(const struct cfg_tls *t, const char *pfx, enum tls_ctx_role role,
		  struct ssl_ctx_st **out);

/*
 * What identifies one version of a store file for reload
 * (sslQuorumReloadCertFiles): a replaced file (write + rename) has another
 * inode, a file written in place another size, mtime or ctime.  A file
 * that cannot be stat()ed (removed mid-rename, no path) has ok false.
 */
struct tls_file_id {
	bool ok;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* Fills *f from stat(path) (path NULL or missing: all zero, ok false).  No I/O but stat. */
void tls_file_id_read(const char *path, struct tls_file_id *f);

/* True when a and b describe the same version of a file (pure). */
bool tls_file_id_same(const struct tls_file_id *a, const struct tls_file_id *b);

/* The reason of OpenSSL's last queued error on this thread, for a log line. */
const char *tls_ctx_reason(void);

#endif
