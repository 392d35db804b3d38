/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building an OpenSSL context from ZooKeeper's X509Util keys, shared by
 * the client port (dataplane/io/tls.c) and the quorum links
 * (replication/peer/peer.c).
 *
 * Why one module: the two ends read the same kinds of files (PEM key and
 * chain, PKCS12 with a password or passwordPath), map the same Java
 * cipher-suite names to OpenSSL's and apply the same protocol rules
 * (SSLContextAndOptions); only the key prefix (ssl. or ssl.quorum.) and
 * the verification policy differ (enum tls_ctx_role).  A copy would drift.
 *
 * Files are read when the context is built, on the calling thread (the
 * main thread at start-up; a worker on client.certReload).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "config/config.h"
#include "config/tls_ctx.h"

/* Longest password read from a passwordPath file. */
#define PASSWORD_MAX 1024

/* X509Util's default cipher suites for Java 9+ (GCM first, then CBC). */
static const char *const zk_default_ciphers[] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
};

const char *tls_ctx_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

/*
 * X509Util.getPasswordFromConfigPropertyOrFile: passwordPath, when set,
 * wins over password; SecretUtils.readSecret takes the whole file and
 * drops one trailing line separator ("\n").  Returns a malloc'ed string
 * ("" when neither is set) or NULL (logged).
 */
static char *password_of(const char *pw, const char *path, const char *pfx, const char *store)
{
	char buf[PASSWORD_MAX + 1];
	size_t n;
	FILE *fp;

	if (!path)
		return strdup(pw ? pw : "");
	fp = fopen(path, "rb");
	if (!fp) {
		log_error("%s.%s.passwordPath %s: %s", pfx, store, path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	if (n > PASSWORD_MAX) {
		log_error("%s.%s.passwordPath %s: longer than %d bytes", pfx, store, path,
			  PASSWORD_MAX);
		return NULL;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return strdup(buf);
}

static int pem_pw_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t n = strlen(pw);

	(void)rwflag;
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pw, n);
	return (int)n;
}

static PKCS12 *read_p12(const char *path)
{
	FILE *fp = fopen(path, "rb");
	PKCS12 *p12;

	if (!fp)
		return NULL;
	p12 = d2i_PKCS12_fp(fp, NULL);
	fclose(fp);
	return p12;
}

/* ssl.keyStore.*: the server's certificate chain and private key. */
static int load_keystore(SSL_CTX *ctx, const struct cfg_tls *t, const char *pfx)
{
	char *pw = password_of(t->keystore_password, t->keystore_password_path, pfx, "keyStore");
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	int ret = -EINVAL;

	if (!pw)
		return -EINVAL;
	ERR_clear_error();
	if (t->keystore_type == CFG_STORE_PEM) {
		BIO *b = BIO_new_file(t->keystore, "r");

		if (!b) {
			log_error("%s.keyStore.location %s: cannot open: %s", pfx, t->keystore,
				  strerror(errno));
			goto out;
		}
		key = PEM_read_bio_PrivateKey(b, NULL, pem_pw_cb, pw);
		BIO_free(b);
		if (!key) {
			log_error("%s.keyStore.location %s: no private key readable with "
				  "%s.keyStore.password (%s)",
				  pfx, t->keystore, pfx, tls_ctx_reason());
			goto out;
		}
		if (SSL_CTX_use_certificate_chain_file(ctx, t->keystore) != 1) {
			log_error("%s.keyStore.location %s: no certificate (%s)", pfx, t->keystore,
				  tls_ctx_reason());
			goto out;
		}
	} else {
		PKCS12 *p12 = read_p12(t->keystore);

		if (!p12) {
			log_error("%s.keyStore.location %s: not a readable PKCS12 file (%s)", pfx,
				  t->keystore, errno ? strerror(errno) : tls_ctx_reason());
			goto out;
		}
		if (PKCS12_parse(p12, pw, &key, &cert, &ca) != 1 || !key || !cert) {
			log_error("%s.keyStore.location %s: no key and certificate readable with "
				  "%s.keyStore.password (%s)",
				  pfx, t->keystore, pfx, tls_ctx_reason());
			PKCS12_free(p12);
			goto out;
		}
		PKCS12_free(p12);
		if (SSL_CTX_use_certificate(ctx, cert) != 1) {
			log_error("%s.keyStore.location %s: certificate refused (%s)", pfx,
				  t->keystore, tls_ctx_reason());
			goto out;
		}
		for (int i = 0; ca && i < sk_X509_num(ca); i++)
			SSL_CTX_add1_chain_cert(ctx, sk_X509_value(ca, i));
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		log_error("%s.keyStore.location %s: the private key does not match the "
			  "certificate (%s)",
			  pfx, t->keystore, tls_ctx_reason());
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	free(pw);
	return ret;
}

/* ssl.trustStore.*: the CAs client certificates must chain to. */
static int load_truststore(SSL_CTX *ctx, const struct cfg_tls *t, const char *pfx)
{
	char *pw;
	int ret = -EINVAL;

	ERR_clear_error();
	if (!t->truststore) {
		/* ZooKeeper then trusts the JVM's default CAs: ours are the system's. */
		return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -EINVAL;
	}
	if (t->truststore_type == CFG_STORE_PEM) {
		if (SSL_CTX_load_verify_locations(ctx, t->truststore, NULL) != 1) {
			log_error("%s.trustStore.location %s: no certificate readable (%s)", pfx,
				  t->truststore, tls_ctx_reason());
			return -EINVAL;
		}
		return 0;
	}
	pw = password_of(t->truststore_password, t->truststore_password_path, pfx, "trustStore");
	if (!pw)
		return -EINVAL;
	PKCS12 *p12 = read_p12(t->truststore);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int n = 0;

	if (!p12) {
		log_error("%s.trustStore.location %s: not a readable PKCS12 file", pfx,
			  t->truststore);
		goto out;
	}
	if (PKCS12_parse(p12, pw, &key, &cert, &ca) != 1) {
		log_error("%s.trustStore.location %s: not readable with %s.trustStore.password "
			  "(%s)",
			  pfx, t->truststore, pfx, tls_ctx_reason());
		goto out;
	}
	if (cert && X509_STORE_add_cert(store, cert) == 1)
		n++;
	for (int i = 0; ca && i < sk_X509_num(ca); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(ca, i)) == 1)
			n++;
	if (!n) {
		log_error("%s.trustStore.location %s: holds no certificate", pfx, t->truststore);
		goto out;
	}
	ret = 0;
out:
	PKCS12_free(p12);
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	free(pw);
	return ret;
}

static int proto_version(const char *name)
{
	static const struct {
		const char *name;
		int v;
	} protos[] = {
	    {"TLSv1", TLS1_VERSION},
	    {"TLSv1.1", TLS1_1_VERSION},
	    {"TLSv1.2", TLS1_2_VERSION},
	    {"TLSv1.3", TLS1_3_VERSION},
	};

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcmp(name, protos[i].name) == 0)
			return protos[i].v;
	return 0;
}

/*
 * ssl.enabledProtocols (else ssl.protocol, else TLSv1.2: SSLContextAndOptions
 * enables exactly the context's protocol): the versions between the
 * lowest and the highest named, the ones in between not named switched off.
 */
static int set_protocols(SSL_CTX *ctx, const struct cfg_tls *t, const char *pfx)
{
	const char *list = t->enabled_protocols ? t->enabled_protocols
			   : t->protocol	? t->protocol
						: "TLSv1.2";
	const char *key = t->enabled_protocols ? "enabledProtocols" : "protocol";
	bool on[4] = {false};
	int lo = 0, hi = 0;
	char *copy = strdup(list), *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ')
			p++;
		char *e = p + strlen(p);
		while (e > p && e[-1] == ' ')
			*--e = '\0';
		int v = proto_version(p);

		if (!v) {
			log_error(
			    "%s.%s: unknown protocol \"%s\" (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)",
			    pfx, key, p);
			free(copy);
			return -EINVAL;
		}
		on[v - TLS1_VERSION] = true;
		lo = !lo || v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	free(copy);
	if (!lo) {
		log_error("%s.%s: no protocol named", pfx, key);
		return -EINVAL;
	}
	SSL_CTX_set_min_proto_version(ctx, lo);
	SSL_CTX_set_max_proto_version(ctx, hi);
	if (!on[1] && lo < TLS1_1_VERSION && hi > TLS1_1_VERSION)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TLSv1_1);
	if (!on[2] && lo < TLS1_2_VERSION && hi > TLS1_2_VERSION)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TLSv1_2);
	return 0;
}

/*
 * ssl.ciphersuites (Java's IANA names; else X509Util's defaults): TLS 1.3
 * suites go to SSL_CTX_set_ciphersuites, the others are looked up by
 * their standard name among OpenSSL's.  Names OpenSSL does not know are
 * skipped with a warning; none left is an error.
 */
static int set_ciphers(SSL_CTX *ctx, const struct cfg_tls *t, const char *pfx, bool *tls12,
		       bool *tls13)
{
	STACK_OF(SSL_CIPHER) * all;
	SSL_CTX *probe = SSL_CTX_new(TLS_server_method());
	char *copy = NULL, *save = NULL;
	char list12[4096] = "", list13[1024] = "";
	size_t n12 = 0, n13 = 0;
	int ret = -EINVAL;

	if (!probe)
		return -ENOMEM;
	SSL_CTX_set_security_level(probe, 0);
	if (SSL_CTX_set_cipher_list(probe, "ALL:COMPLEMENTOFALL") != 1)
		goto out;
	all = SSL_CTX_get_ciphers(probe);
	if (t->ciphersuites) {
		copy = strdup(t->ciphersuites);
	} else {
		size_t len = 0;

		for (size_t i = 0; i < sizeof(zk_default_ciphers) / sizeof(zk_default_ciphers[0]);
		     i++)
			len += strlen(zk_default_ciphers[i]) + 1;
		copy = calloc(1, len + 1);
		for (size_t i = 0;
		     copy && i < sizeof(zk_default_ciphers) / sizeof(zk_default_ciphers[0]); i++) {
			strcat(copy, zk_default_ciphers[i]);
			strcat(copy, ",");
		}
	}
	if (!copy) {
		ret = -ENOMEM;
		goto out;
	}
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ')
			p++;
		char *e = p + strlen(p);
		while (e > p && e[-1] == ' ')
			*--e = '\0';
		if (!*p)
			continue;
		if (!strncmp(p, "TLS_AES_", 8) || !strncmp(p, "TLS_CHACHA20_", 13)) {
			if (n13 + strlen(p) + 2 < sizeof(list13))
				n13 += (size_t)snprintf(list13 + n13, sizeof(list13) - n13, "%s%s",
							n13 ? ":" : "", p);
			continue;
		}
		const char *found = NULL;

		for (int i = 0; all && i < sk_SSL_CIPHER_num(all); i++) {
			const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
			const char *std = SSL_CIPHER_standard_name(c);

			if (std && strcmp(std, p) == 0) {
				found = SSL_CIPHER_get_name(c);
				break;
			}
		}
		if (!found) {
			if (t->ciphersuites)
				log_warn(
				    "%s.ciphersuites: %s is not a cipher suite OpenSSL offers; "
				    "skipped",
				    pfx, p);
			continue;
		}
		if (n12 + strlen(found) + 2 < sizeof(list12))
			n12 += (size_t)snprintf(list12 + n12, sizeof(list12) - n12, "%s%s",
						n12 ? ":" : "", found);
	}
	if (!n12 && !n13) {
		log_error("%s.ciphersuites: no cipher suite OpenSSL offers in \"%s\"", pfx,
			  t->ciphersuites ? t->ciphersuites : "(defaults)");
		goto out;
	}
	/* An empty TLS 1.2 list would refuse TLS 1.2 altogether, which is what Java does. */
	if (SSL_CTX_set_cipher_list(ctx, n12 ? list12 : "aNULL:!aNULL") != 1 && n12) {
		log_error("%s.ciphersuites: OpenSSL refused \"%s\" (%s)", pfx, list12,
			  tls_ctx_reason());
		goto out;
	}
	/* ZooKeeper's default list has no TLS 1.3 suite either. */
	if (SSL_CTX_set_ciphersuites(ctx, list13) != 1 && n13) {
		log_error("%s.ciphersuites: OpenSSL refused \"%s\" (%s)", pfx, list13,
			  tls_ctx_reason());
		goto out;
	}
	*tls12 = n12 > 0;
	*tls13 = n13 > 0;
	ret = 0;
out:
	ERR_clear_error();
	free(copy);
	SSL_CTX_free(probe);
	return ret;
}

int tls_ctx_build(const struct cfg_tls *t, const char *pfx, enum tls_ctx_role role,
		  struct ssl_ctx_st **out)
{
	bool quorum = role == TLS_CTX_QUORUM;
	SSL_CTX *ctx = SSL_CTX_new(quorum ? TLS_method() : TLS_server_method());
	int verify = SSL_VERIFY_NONE, ret;
	bool tls12 = false, tls13 = false;

	if (!ctx) {
		log_error("%s: cannot create an OpenSSL context (%s)", pfx, tls_ctx_reason());
		return -ENOMEM;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"cheetah", 7);
	/*
	 * No server-side session cache: it kept every handshake's session
	 * (and the client's certificate) for 5 minutes after the connection,
	 * memory a stream of clients could grow to 20,480 entries; resumption
	 * still works through session tickets, which the server does not store.
	 * Quorum links live long and are few: no tickets either.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (quorum)
		SSL_CTX_set_num_tickets(ctx, 0);
	ret = set_protocols(ctx, t, pfx);
	if (!ret)
		ret = set_ciphers(ctx, t, pfx, &tls12, &tls13);
	/* Only TLS 1.3 suites named: no older protocol can be negotiated (Java neither). */
	if (!ret && !tls12) {
		if (SSL_CTX_get_max_proto_version(ctx) != TLS1_3_VERSION) {
			log_error("%s.ciphersuites names only TLS 1.3 suites but TLSv1.3 is not "
				  "enabled (%s.protocol, %s.enabledProtocols)",
				  pfx, pfx, pfx);
			ret = -EINVAL;
		} else {
			SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
		}
	}
	if (!ret && !tls13 && SSL_CTX_get_max_proto_version(ctx) == TLS1_3_VERSION) {
		/*
		 * No TLS 1.3 suite: Java then never negotiates TLS 1.3, and
		 * OpenSSL would refuse every handshake ("no ciphers available").
		 */
		if (SSL_CTX_get_min_proto_version(ctx) == TLS1_3_VERSION) {
			log_error("%s.protocol/%s.enabledProtocols: TLSv1.3 needs TLS 1.3 suites "
				  "in %s.ciphersuites (TLS_AES_128_GCM_SHA256, "
				  "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)",
				  pfx, pfx, pfx);
			ret = -EINVAL;
		} else {
			SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
		}
	}
	if (!ret)
		ret = load_keystore(ctx, t, pfx);
	if (!ret && (quorum || t->client_auth != CFG_CLIENT_AUTH_NONE))
		ret = load_truststore(ctx, t, pfx);
	if (ret) {
		SSL_CTX_free(ctx);
		return ret;
	}
	if (quorum || t->client_auth == CFG_CLIENT_AUTH_NEED)
		verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	else if (t->client_auth == CFG_CLIENT_AUTH_WANT)
		verify = SSL_VERIFY_PEER;
	SSL_CTX_set_verify(ctx, verify, NULL);
	ERR_clear_error();
	*out = ctx;
	return 0;
}

void tls_file_id_read(const char *path, struct tls_file_id *f)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (!path || stat(path, &st))
		return;
	f->ok = true;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->ctime = st.st_ctim;
}

bool tls_file_id_same(const struct tls_file_id *a, const struct tls_file_id *b)
{
	return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}
