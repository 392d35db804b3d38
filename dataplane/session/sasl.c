/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SASL on the client protocol (opcode 102), as ZooKeeper 3.8's server
 * does it: ZooKeeperServer.processSasl, ZooKeeperSaslServer,
 * SecurityUtils.createSaslServer, SaslServerCallbackHandler,
 * ServerCnxnFactory.configureSaslLogin.  The mechanisms are Cyrus SASL's
 * (libsasl2 and its DIGEST-MD5 and GSSAPI plugins).
 *
 * What ZooKeeper does, and so what this file does:
 *  - The JAAS file's login section (zookeeper.sasl.serverconfig, default
 *    "Server") decides everything.  No file, or no such section: no SASL
 *    server; a sasl packet then gets {xid, 0, OK} and a null token (the
 *    NullPointerException ZooKeeper catches).  A section with a
 *    Krb5LoginModule entry (its principal "service/host@REALM"): every
 *    connection's mechanism is GSSAPI, as service on host.  Otherwise
 *    DIGEST-MD5, service "zookeeper" on server "zk-sasl-md5" (which is
 *    also the realm in the challenge), with the user_<name>="<password>"
 *    options of the section's entries as the users
 *    (zookeeper.SASLAuthenticationProvider.superPassword replaces user
 *    "super"'s).  One mechanism per server: ZooKeeper offers no choice.
 *  - Each sasl packet's token goes to the connection's SASL server; the
 *    reply is {xid, 0, OK} and SetSASLResponse(token).  When the exchange
 *    completes, the authentication id is mapped to an id (krb_name.c:
 *    the auth_to_local rules, kerberos.removeHost/RealmFromPrincipal),
 *    ("sasl", id) joins the session's identities, and ("super", "") too
 *    when zookeeper.superUser or a zookeeper.superUser.* names it.
 *  - A failed step: with zookeeper.allowSaslFailedClients and SASL not
 *    required, the connection stays (reply OK, null token).  Otherwise
 *    the reply is {xid, 0, AUTHFAILED} (SESSIONCLOSEDREQUIRESASLAUTH when
 *    SASL is required) with a null token, and the connection closes
 *    after it (sendCloseSession): the session itself lives on until it
 *    expires, as in ZooKeeper.
 *  - A token after the exchange completed fails like a bad one (Java's
 *    SaslServer throws a SaslException).  A null token (ZooKeeper: a
 *    NullPointerException outside the catch): the connection closes
 *    without a reply.
 *
 * Cyrus is set up once, at start-up, before any worker runs: the
 * passwords reach DIGEST-MD5 through an auxiliary-property plug-in of
 * our own (never a sasldb file), Cyrus's options come from a callback
 * (auxprop_plugin, mech_list: only the configured mechanism, no
 * DIGEST-MD5 reauthentication cache), its mutexes are pthread ones (its
 * defaults are no-ops); these three are config/sasl_aux.c's, shared with
 * the quorum links.  Security layers are off (ssf 0: ZooKeeper
 * never wraps its traffic, so qop is "auth").  The GSSAPI acceptor's
 * keytab is the JAAS entry's keyTab, given to MIT Kerberos as
 * KRB5_KTNAME before any thread starts.
 *
 * Blocking (a worker must not block).  DIGEST-MD5 runs on the worker:
 * it is computation on memory (the users are in our table, the nonce
 * comes from Cyrus's per-connection PRNG, seeded from /dev/urandom when
 * the connection's SASL server is made, a read that does not block once
 * the kernel's pool is initialised, long before a server accepts
 * clients).  GSSAPI does not: an acceptor contacts no KDC, but MIT's
 * library reads the keytab and krb5.conf and writes its replay cache on
 * every step, i.e. file I/O.  So with GSSAPI one helper thread (started
 * by dp_sasl_init) runs every sasl_server_start/step: the worker copies
 * the token into a job and queues it; the sasl packet waits at the head
 * of its session's queue as DP_REQ_SASL and counts as blocking, so
 * nothing the session sent after it runs meanwhile (FIFO, and a write is
 * never sent with the identities of before the step); the helper puts
 * the result on the worker's done list and wakes it (its eventfd); the
 * worker's dp_proto_poll finishes it exactly as the inline path does
 * (step_done) and runs the queue on.  The job owns the connection's
 * SASL server while it is out: a session closed meanwhile leaves it to
 * be disposed when the job comes back, and a worker going away
 * (dp_sess_sasl_forget) leaves its jobs to the helper.  One thread
 * serialises GSSAPI steps of all clients: they cost tens of
 * microseconds of CPU each, and a slow disk delays authentications, not
 * requests.
 *
 * Logging: nothing per client at a rate the client controls.  Failed
 * authentications and Cyrus's own warnings share one limiter (a line per
 * 10 s with the count held back); successes log at debug.
 *
 * Threads: dp_sasl_init / dp_sasl_fini on the main thread while no worker
 * runs; the rest on the worker owning the session.  The global state is
 * read-only between them.
 */
#include <assert.h>
#include <errno.h>
#include <krb5.h>
#include <pthread.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "config/sasl_aux.h"
#include "dataplane/dp.h"
#include "dataplane/session/krb_name.h"
#include "dataplane/session/session_priv.h"
#include "tree/tree.h"

#define DIGEST_SERVICE "zookeeper"
#define DIGEST_SERVER "zk-sasl-md5"
#define AUXPROP "cheetah" /* our auxprop plug-in's name (sasl_aux.h) */
/* The longest id a SASL authentication may give (a Kerberos principal). */
#define SASL_ID_MAX 1024
#define LOG_INTERVAL_NS (10ull * 1000 * 1000 * 1000)

/* Process-wide, read-only while workers run. */
static struct {
	bool enabled;	  /* a login section: SASL packets go to a SASL server */
	bool inited;	  /* sasl_server_init done */
	const char *mech; /* "DIGEST-MD5" or "GSSAPI" */
	char *service, *fqdn;
	struct sasl_aux users; /* the auxprop plug-in's: DIGEST-MD5's passwords */
	struct dp_krb_rules *rules;
	bool remove_host, remove_realm;
	bool allow_failed, required;
	char **supers;
	size_t n_supers;
	char default_realm[256]; /* MIT's (krb5.conf), "" if none */
} g;

/* The GSSAPI helper thread (below). */
static int helper_start(void);
static void helper_stop(void);

/* The failure and Cyrus-warning limiter (any worker). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_every log_limit;

/* A connection's SASL server (dp_sess.sasl). */
struct dp_sasl_conn {
	sasl_conn_t *conn;
	struct dp_sess *sess; /* NULL once the session is gone while busy */
	bool started;
	bool done;
	bool busy; /* a step is with the helper thread (the job owns this) */
};

/* ---- Cyrus callbacks ---- */

/* True when a rate-limited line may go now; *held: lines held back since. */
static bool may_log(uint64_t *held)
{
	bool ok;

	pthread_mutex_lock(&log_lock);
	ok = log_every(&log_limit, clock_mono_ns(), LOG_INTERVAL_NS, held);
	pthread_mutex_unlock(&log_lock);
	return ok;
}

static int log_cb(void *ctx, int level, const char *msg)
{
	uint64_t held;

	(void)ctx;
	if (level > SASL_LOG_WARN) {
		log_debug("sasl: %s", msg);
		return SASL_OK;
	}
	/* Cyrus logs a client's bad password or ticket: limited. */
	if (may_log(&held))
		log_warn("sasl: %s (%llu similar lines held back in the last 10 s)", msg,
			 (unsigned long long)held);
	return SASL_OK;
}

static int getopt_cb(void *ctx, const char *plugin, const char *option, const char **result,
		     unsigned *len)
{
	(void)ctx;
	(void)plugin;
	return sasl_aux_option(AUXPROP, g.mech, option, result, len);
}

/*
 * Cyrus asks whether the authenticated user may act as the authorization
 * id the client asked for; ZooKeeper's handleAuthorizeCallback always
 * says yes (the id it records comes from the authentication id anyway).
 */
static int proxy_cb(sasl_conn_t *conn, void *ctx, const char *requested_user, unsigned rlen,
		    const char *auth_identity, unsigned alen, const char *def_realm, unsigned urlen,
		    struct propctx *propctx)
{
	(void)conn;
	(void)ctx;
	(void)requested_user;
	(void)rlen;
	(void)auth_identity;
	(void)alen;
	(void)def_realm;
	(void)urlen;
	(void)propctx;
	return SASL_OK;
}

static const sasl_callback_t global_cbs[] = {
    {SASL_CB_GETOPT, SASL_AUX_CB(getopt_cb), NULL},
    {SASL_CB_LOG, SASL_AUX_CB(log_cb), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

static const sasl_callback_t conn_cbs[] = {
    {SASL_CB_PROXY_POLICY, SASL_AUX_CB(proxy_cb), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

/* ---- start-up ---- */

static bool is_krb5_module(const char *m)
{
	return !strcmp(m, "com.sun.security.auth.module.Krb5LoginModule") ||
	       !strcmp(m, "com.ibm.security.auth.module.Krb5LoginModule");
}

/* GSSAPI: the service principal "service/host@REALM" and the keytab. */
static int setup_gssapi(const struct cfg_jaas_entry *e, const char *section, char *err,
			size_t errlen)
{
	const char *principal = cfg_jaas_option(e, "principal");
	const char *keytab = cfg_jaas_option(e, "keyTab");
	const char *slash, *at;
	char kt[4096];

	if (!principal) {
		snprintf(err, errlen,
			 "JAAS section %s: the Krb5LoginModule entry has no principal "
			 "(\"service/host@REALM\")",
			 section);
		return -EINVAL;
	}
	slash = strchr(principal, '/');
	at = slash ? strchr(slash, '@') : NULL;
	if (!slash || !at || slash == principal || at == slash + 1) {
		/* ZooKeeper's substring() fails on these and it serves without a SASL server. */
		snprintf(err, errlen,
			 "JAAS section %s: principal \"%s\" is not of the form service/host@REALM",
			 section, principal);
		return -EINVAL;
	}
	g.service = strndup(principal, (size_t)(slash - principal));
	g.fqdn = strndup(slash + 1, (size_t)(at - slash - 1));
	if (!g.service || !g.fqdn)
		return -ENOMEM;
	if (keytab) {
		if (!strncasecmp(keytab, "file:", 5))
			keytab += 5;
		if (access(keytab, R_OK)) {
			snprintf(err, errlen, "JAAS section %s: keyTab %s cannot be read: %s",
				 section, keytab, strerror(errno));
			return -EINVAL;
		}
		snprintf(kt, sizeof(kt), "FILE:%s", keytab);
		/* Before any thread: MIT reads it when the acceptor needs its key. */
		if (setenv("KRB5_KTNAME", kt, 1))
			return -errno;
	}
	g.mech = "GSSAPI";
	return 0;
}

int dp_sasl_init(const struct cfg *c, char *err, size_t errlen)
{
	const char *section_name = c->sasl_login_context ? c->sasl_login_context : "Server";
	const struct cfg_jaas_section *sec;
	const struct cfg_jaas_entry *krb = NULL;
	struct cfg_error cerr = {""};
	struct cfg_jaas jaas = {0};
	int rc;

	dp_sasl_fini();
	g.remove_host = c->krb_remove_host;
	g.remove_realm = c->krb_remove_realm;
	g.allow_failed = c->allow_sasl_failed;
	/* AuthenticationHelper.isSaslAuthRequired */
	g.required = false;
	if (c->enforce_auth && c->enforce_schemes) {
		for (const char *p = c->enforce_schemes; *p;) {
			size_t n = strcspn(p, ","), a = 0, b = n;
			while (a < b && (unsigned char)p[a] <= ' ')
				a++;
			while (b > a && (unsigned char)p[b - 1] <= ' ')
				b--;
			if (b - a == 4 && !memcmp(p + a, "sasl", 4))
				g.required = true;
			p += n + (p[n] ? 1 : 0);
		}
	}
	for (size_t i = 0; i < c->n_super_users; i++) {
		char **v = realloc(g.supers, (g.n_supers + 1) * sizeof(*v));
		if (!v)
			goto nomem;
		g.supers = v;
		v[g.n_supers] = strdup(c->super_users[i].value);
		if (!v[g.n_supers])
			goto nomem;
		g.n_supers++;
	}
	/* KerberosUtil.getDefaultRealm: krb5.conf's; none: "" as ZooKeeper. */
	{
		krb5_context kc;
		char *realm = NULL;

		if (!krb5_init_context(&kc)) {
			if (!krb5_get_default_realm(kc, &realm) && realm &&
			    strlen(realm) < sizeof(g.default_realm))
				strcpy(g.default_realm, realm);
			krb5_free_default_realm(kc, realm);
			krb5_free_context(kc);
		}
	}
	rc = dp_krb_rules_parse(c->auth_to_local, g.default_realm, &g.rules, err, errlen);
	if (rc)
		goto fail;
	if (!c->jaas_config) {
		if (c->sasl_login_context) {
			snprintf(err, errlen,
				 "zookeeper.sasl.serverconfig is %s but no JAAS file is given "
				 "(java.security.auth.login.config)",
				 section_name);
			rc = -EINVAL;
			goto fail;
		}
		return 0;
	}
	rc = cfg_jaas_load(c->jaas_config, &jaas, &cerr);
	if (rc) {
		snprintf(err, errlen, "%s", cerr.msg[0] ? cerr.msg : strerror(-rc));
		goto fail;
	}
	sec = cfg_jaas_find(&jaas, section_name);
	if (!sec) {
		/*
		 * ServerCnxnFactory.configureSaslLogin: no section, no SASL
		 * server (a JAAS file for other sections is normal); but a
		 * section named explicitly must exist.
		 */
		if (c->sasl_login_context) {
			snprintf(err, errlen,
				 "No JAAS configuration section named '%s' was found in '%s'",
				 section_name, c->jaas_config);
			rc = -EINVAL;
			goto fail;
		}
		log_warn("sasl: %s has no section %s: clients cannot authenticate with SASL",
			 c->jaas_config, section_name);
		cfg_jaas_free(&jaas);
		return 0;
	}
	for (size_t i = 0; i < sec->n_entries; i++) {
		const struct cfg_jaas_entry *e = &sec->entries[i];
		if (is_krb5_module(e->module) && !krb)
			krb = e;
	}
	if (sasl_aux_add_section(&g.users, sec) ||
	    (c->sasl_super_password && sasl_aux_add(&g.users, "super", c->sasl_super_password)))
		goto nomem;
	if (krb) {
		rc = setup_gssapi(krb, section_name, err, errlen);
		if (rc)
			goto fail;
	} else {
		g.mech = "DIGEST-MD5";
		g.service = strdup(DIGEST_SERVICE);
		g.fqdn = strdup(DIGEST_SERVER);
		if (!g.service || !g.fqdn)
			goto nomem;
	}
	cfg_jaas_free(&jaas);
	rc = sasl_aux_register(&g.users, AUXPROP, g.fqdn);
	if (rc == SASL_OK)
		rc = sasl_server_init(global_cbs, "cheetah");
	if (rc != SASL_OK) {
		snprintf(err, errlen, "cannot start Cyrus SASL: %s",
			 sasl_errstring(rc, NULL, NULL));
		dp_sasl_fini();
		return -EINVAL;
	}
	g.inited = true;
	if (krb) {
		rc = helper_start();
		if (rc) {
			snprintf(err, errlen, "cannot start the SASL thread: %s", strerror(-rc));
			dp_sasl_fini();
			return rc;
		}
	}
	g.enabled = true;
	log_info("sasl: %s clients as %s/%s (JAAS %s, section %s%s)", g.mech, g.service, g.fqdn,
		 c->jaas_config, section_name,
		 krb		   ? ""
		 : g.users.n_users ? ""
				   : "; no user_<name> entries: nobody can log in");
	return 0;
nomem:
	rc = -ENOMEM;
	snprintf(err, errlen, "out of memory setting up SASL");
fail:
	cfg_jaas_free(&jaas);
	dp_sasl_fini();
	return rc;
}

void dp_sasl_fini(void)
{
	helper_stop();
	if (g.inited)
		sasl_server_done();
	sasl_aux_free(&g.users);
	for (size_t i = 0; i < g.n_supers; i++)
		free(g.supers[i]);
	free(g.supers);
	free(g.service);
	free(g.fqdn);
	dp_krb_rules_free(g.rules);
	memset(&g, 0, sizeof(g));
}

/* ---- one connection ---- */

static void sc_dispose(struct dp_sasl_conn *sc);

bool dp_sess_sasl_busy(const struct dp_sess *s)
{
	return s->sasl && s->sasl->busy;
}

void dp_sess_sasl_free(struct dp_sess *s)
{
	if (!s->sasl)
		return;
	if (s->sasl->busy)
		s->sasl->sess = NULL; /* the job's now: freed when it comes back */
	else
		sc_dispose(s->sasl);
	s->sasl = NULL;
}

static bool is_super(const char *id)
{
	for (size_t i = 0; i < g.n_supers; i++)
		if (!strcmp(g.supers[i], id))
			return true;
	return false;
}

/* The exchange completed: the session gains ("sasl", id), maybe ("super", ""). */
static int completed(struct dp_sess *s)
{
	const void *authcid = NULL, *authzid = NULL;
	char id[SASL_ID_MAX], principal[SASL_ID_MAX];
	int rc;

	if (sasl_getprop(s->sasl->conn, SASL_AUTHUSER, &authcid) != SASL_OK || !authcid)
		return -EINVAL;
	if (sasl_getprop(s->sasl->conn, SASL_USERNAME, &authzid) != SASL_OK)
		authzid = NULL;
	/* An authorization id is the client's own only when it differs from Cyrus's authcid. */
	if (authzid && !strcmp(authzid, authcid))
		authzid = NULL;
	/*
	 * GSSAPI: Java's authentication id is the client's whole principal
	 * "name[/host]@REALM" (which the rules then map); Cyrus's drops the
	 * realm exactly when it is the default realm, so it is put back.
	 */
	if (!strcmp(g.mech, "GSSAPI") && !strchr(authcid, '@')) {
		if ((size_t)snprintf(principal, sizeof(principal), "%s@%s", (const char *)authcid,
				     g.default_realm) >= sizeof(principal))
			return -EINVAL;
		authcid = principal;
	}
	rc = dp_krb_authorized_id(g.rules, authcid, authzid, g.remove_host, g.remove_realm, id,
				  sizeof(id));
	if (rc)
		return rc;
	/*
	 * Both ids or neither: a failure reported to the client must not
	 * leave the sasl id behind (allowSaslFailedClients keeps the session).
	 */
	if (s->nauth + (is_super(id) ? 2u : 1u) > TREE_AUTH_MAX_IDS ||
	    s->auth_bytes + 4 + strlen(id) + 5 > s->p->max_frame)
		return -ENOSPC;
	rc = dp_sess_auth_add(s, "sasl", 4, id, strlen(id), s->p->max_frame);
	if (rc)
		return rc;
	if (is_super(id)) {
		rc = dp_sess_auth_add(s, "super", 5, "", 0, s->p->max_frame);
		if (rc)
			return rc;
		s->super = true;
	}
	log_debug("Session 0x%016llx: adding SASL authorization for authorizationID: %s%s", sid(s),
		  id, s->super ? " (super user)" : "");
	return 0;
}

/*
 * What a step's outcome (Cyrus's rc and output) means for the client:
 * *out, and the session's identities when it completed.  0 or -ENOMEM.
 */
static int step_done(struct dp_sess *s, int rc, const char *resp, unsigned resp_len,
		     const char *detail, struct dp_sasl_out *out)
{
	struct dp_sasl_conn *sc = s->sasl;
	uint64_t held;

	if (detail)
		goto failed;
	if (resp_len > s->p->max_frame) {
		rc = SASL_FAIL; /* a reply the client could not read */
		resp_len = 0;
	}
	if (rc == SASL_CONTINUE) {
		out->token = (struct jute_buf){(const uint8_t *)resp, (int32_t)resp_len};
		return 0;
	}
	if (rc == SASL_OK) {
		sc->done = true;
		rc = completed(s);
		if (rc == -ENOMEM)
			return rc;
		if (!rc) {
			if (resp && resp_len)
				out->token =
				    (struct jute_buf){(const uint8_t *)resp, (int32_t)resp_len};
			return 0;
		}
		rc = SASL_BADAUTH; /* a name ZooKeeper's KerberosName refuses, or too many ids */
	}
	sc->done = true;
	detail = sasl_errdetail(sc->conn);
failed:
	if (may_log(&held))
		log_warn(
		    "Client %s failed to SASL authenticate (%s): %s (%llu more failures held back "
		    "in the last 10 s)",
		    dp_conn_peer(s->conn), g.mech, detail, (unsigned long long)held);
	if (g.allow_failed && !g.required)
		return 0; /* maintained despite the failure; a later token fails again */
	out->err = g.required ? ZK_SESSIONCLOSEDREQUIRESASLAUTH : ZK_AUTHFAILED;
	out->close = true;
	return 0;
}

/* One Cyrus step on sc (the worker's, or the helper's for a job). */
static int cyrus_step(struct dp_sasl_conn *sc, const uint8_t *tok, unsigned len, const char **resp,
		      unsigned *resp_len)
{
	if (!sc->started) {
		sc->started = true;
		return sasl_server_start(sc->conn, g.mech, len ? (const char *)tok : NULL, len,
					 resp, resp_len);
	}
	return sasl_server_step(sc->conn, (const char *)tok, len, resp, resp_len);
}

/*
 * Whether c may continue a directive name for Cyrus's DIGEST-MD5 parser
 * (2.1.28, plugins/digestmd5.c, skip_token as get_pair calls it): bytes
 * 0x21-0x7e but the separators below ('"' is a name byte there); a
 * byte >= 0x80 is not (Cyrus compares a signed char).
 */
static bool digest_name_char(uint8_t c)
{
	return c > ' ' && c < 0x7f && !strchr("()<>@,;:\\'/[]?={}", c);
}

static bool digest_lws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Cyrus's DIGEST-MD5 server (2.1.28, digestmd5_server_mech_step2) keeps
 * the last of a repeated directive of the client's response and never
 * frees the earlier copy (username, nonce, cnonce, response, charset,
 * authzid, cipher: found by tests/dataplane/fuzz_sasl.c), so a client
 * could grow the server's memory with every token.  RFC 2831 allows each
 * directive once in a digest-response, so a token naming one twice fails
 * here, before Cyrus sees it, as a bad response fails (AUTHFAILED).
 *
 * What Cyrus takes for a directive name (get_pair): after the start, a
 * comma or white space (LWS: space, tab, CR, LF), a run of name bytes
 * (digest_name_char); the byte that ends the run, unless it is '=', is
 * overwritten and skipped whatever it is (so "username\b=", "nonce,=",
 * "cnonce;=" and "authzid\x80 =" all name a directive: this scan missed
 * them once and Cyrus leaked, found by fuzz_sasl); then optional LWS and
 * '='.  This scan counts exactly those, quoted or not, wherever they
 * start, so no way of quoting can hide a second copy that Cyrus's parser
 * would see (the price: a quoted value that itself contains
 * ", username=" is refused); a NUL ends Cyrus's parse, not this scan.
 * A valid response (Java's, Cyrus's client) names each directive once
 * and passes.  O(len).
 */
static bool digest_repeats(const uint8_t *tok, size_t len)
{
	static const char *const names[] = {
	    "username", "realm",  "nonce",   "cnonce", "nc",	  "qop",    "digest-uri",
	    "response", "maxbuf", "charset", "cipher", "authzid", "opaque", "algorithm",
	};
	unsigned seen[sizeof(names) / sizeof(names[0])] = {0};

	for (size_t i = 0; i < len; i++) {
		if (i && tok[i - 1] != ',' && !digest_lws(tok[i - 1]))
			continue;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			size_t n = strlen(names[k]), j = i + n;

			if (j > len || strncasecmp((const char *)tok + i, names[k], n))
				continue;
			if (j < len && digest_name_char(tok[j]))
				continue; /* a longer name ("nc" in "ncx=") */
			if (j < len && tok[j] != '=')
				j++; /* the byte that ended the name, skipped */
			while (j < len && digest_lws(tok[j]))
				j++;
			if (j < len && tok[j] == '=' && ++seen[k] > 1)
				return true;
		}
	}
	return false;
}

/* ---- GSSAPI steps off the workers: one helper thread ---- */

/*
 * A step handed to the helper.  While it is out the session's SASL
 * server belongs to the job (sc->busy); the session's sasl packet waits
 * at the head of its queue as DP_REQ_SASL and counts as blocking, so
 * nothing behind it runs (FIFO; a later write is not sent with the
 * identities of before).  p is the worker to answer, NULL once that
 * worker is gone (the helper then disposes of the job).
 */
struct dp_sasl_job {
	struct dp_sasl_job *next;
	struct dp_proto *p;
	struct dp_sasl_conn *sc;
	uint8_t *token;
	unsigned len;
	int rc;
	char *resp;
	unsigned resp_len;
};

static struct {
	pthread_mutex_t lock; /* everything below, and each job's p and each p's done list */
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	struct dp_sasl_job *head, *tail; /* queued */
	struct dp_sasl_job *current;	 /* being stepped */
} helper = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void sc_dispose(struct dp_sasl_conn *sc)
{
	if (sc->conn)
		sasl_dispose(&sc->conn);
	free(sc);
}

static void job_free(struct dp_sasl_job *j)
{
	free(j->token);
	free(j->resp);
	free(j);
}

static void *helper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&helper.lock);
	for (;;) {
		struct dp_sasl_job *j;
		const char *resp = NULL;
		unsigned resp_len = 0;

		while (!helper.head && !helper.stop)
			pthread_cond_wait(&helper.cond, &helper.lock);
		if (!helper.head)
			break;
		j = helper.head;
		helper.head = j->next;
		if (!helper.head)
			helper.tail = NULL;
		j->next = NULL;
		helper.current = j;
		pthread_mutex_unlock(&helper.lock);

		/* May read the keytab and krb5.conf and write the replay cache: here, not on a
		 * worker. */
		j->rc = cyrus_step(j->sc, j->token, j->len, &resp, &resp_len);
		if (resp && resp_len) {
			j->resp = malloc(resp_len);
			if (j->resp) {
				memcpy(j->resp, resp, resp_len);
				j->resp_len = resp_len;
			} else {
				j->rc = SASL_NOMEM;
			}
		}

		pthread_mutex_lock(&helper.lock);
		helper.current = NULL;
		if (j->p) {
			struct dp_proto *p = j->p;
			j->next = p->sasl_done;
			p->sasl_done = j;
			__atomic_store_n(&p->sasl_ndone, p->sasl_ndone + 1, __ATOMIC_RELEASE);
			dp_worker_wake(p->w);
		} else {
			pthread_mutex_unlock(&helper.lock);
			sc_dispose(j->sc);
			job_free(j);
			pthread_mutex_lock(&helper.lock);
		}
	}
	pthread_mutex_unlock(&helper.lock);
	return NULL;
}

static int helper_start(void)
{
	int rc;

	helper.stop = false;
	rc = pthread_create(&helper.thread, NULL, helper_main, NULL);
	if (rc)
		return -rc;
	helper.running = true;
	return 0;
}

/* After the workers are gone: no job has a worker any more. */
static void helper_stop(void)
{
	struct dp_sasl_job *j;

	if (!helper.running)
		return;
	pthread_mutex_lock(&helper.lock);
	helper.stop = true;
	pthread_cond_signal(&helper.cond);
	pthread_mutex_unlock(&helper.lock);
	pthread_join(helper.thread, NULL);
	helper.running = false;
	while ((j = helper.head)) {
		helper.head = j->next;
		sc_dispose(j->sc);
		job_free(j);
	}
	helper.tail = NULL;
}

void dp_sess_sasl_forget(struct dp_proto *p)
{
	struct dp_sasl_job *done;

	pthread_mutex_lock(&helper.lock);
	for (struct dp_sasl_job *j = helper.head; j; j = j->next)
		if (j->p == p)
			j->p = NULL;
	if (helper.current && helper.current->p == p)
		helper.current->p = NULL;
	done = p->sasl_done;
	p->sasl_done = NULL;
	p->sasl_ndone = 0;
	pthread_mutex_unlock(&helper.lock);
	while (done) {
		struct dp_sasl_job *j = done;
		done = j->next;
		sc_dispose(j->sc);
		job_free(j);
	}
}

/* A finished job on its worker: the parked sasl packet gets its reply. */
static void job_finish(struct dp_proto *p, struct dp_sasl_job *j)
{
	struct dp_sasl_conn *sc = j->sc;
	struct dp_sess *s = sc->sess;
	struct dp_sasl_out out = {.err = ZK_OK, .token = {NULL, -1}};
	struct proto_reply_hdr h = {0, 0, ZK_OK};
	struct proto_response body;
	struct dp_req *e;

	sc->busy = false;
	if (!s) { /* the connection went meanwhile */
		sc_dispose(sc);
		job_free(j);
		return;
	}
	e = s->head;
	assert(e && e->state == DP_REQ_SASL && s->sasl == sc);
	dp_req_unqueue(s, e);
	if (step_done(s, j->rc, j->resp, j->resp_len, NULL, &out)) {
		log_error("dataplane: out of memory in a SASL exchange with %s; closing",
			  dp_conn_peer(s->conn));
		goto close;
	}
	memset(&body, 0, sizeof(body));
	body.sasl_token = out.token;
	h.xid = e->xid;
	h.err = out.err;
	p->scratch.len = 0;
	p->scratch.err = 0;
	if (proto_encode_reply(&p->scratch, &h, ZK_OP_SASL, &body) || p->scratch.err ||
	    dp_req_copy(e, p->scratch.buf, p->scratch.len)) {
		log_error("dataplane: out of memory answering a SASL packet of %s; closing",
			  dp_conn_peer(s->conn));
		goto close;
	}
	job_free(j);
	e->state = DP_REQ_PARKED; /* a reply ready now: zxid 0 */
	e->wait_zxid = 0;
	e->nframes = 1;
	e->stats = false;
	e->last_op = "NA";
	e->close_after = out.close;
	dp_sess_run(p, s);
	return;
close:
	job_free(j);
	dp_sess_close(s, NULL);
}

void dp_sess_sasl_poll(struct dp_proto *p)
{
	struct dp_sasl_job *list, *rev = NULL;

	if (!__atomic_load_n(&p->sasl_ndone, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&helper.lock);
	list = p->sasl_done;
	p->sasl_done = NULL;
	__atomic_store_n(&p->sasl_ndone, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&helper.lock);
	while (list) { /* pushed newest first: answer in completion order */
		struct dp_sasl_job *j = list;
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev) {
		struct dp_sasl_job *j = rev;
		rev = j->next;
		job_finish(p, j);
	}
}

/* Hands the step to the helper: 0 (out->pending), or -ENOMEM. */
static int offload(struct dp_sess *s, struct jute_buf token, struct dp_sasl_out *out)
{
	struct dp_sasl_job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->len = (unsigned)token.len;
	if (token.len > 0) {
		j->token = malloc((size_t)token.len);
		if (!j->token) {
			free(j);
			return -ENOMEM;
		}
		memcpy(j->token, token.p, (size_t)token.len);
	}
	j->p = s->p;
	j->sc = s->sasl;
	s->sasl->busy = true;
	pthread_mutex_lock(&helper.lock);
	if (helper.tail)
		helper.tail->next = j;
	else
		helper.head = j;
	helper.tail = j;
	pthread_cond_signal(&helper.cond);
	pthread_mutex_unlock(&helper.lock);
	out->pending = true;
	return 0;
}

int dp_sess_sasl(struct dp_sess *s, struct jute_buf token, struct dp_sasl_out *out)
{
	const char *resp = NULL;
	unsigned resp_len = 0;
	uint64_t held;
	int rc;

	*out = (struct dp_sasl_out){.err = ZK_OK, .token = {NULL, -1}};
	if (!g.enabled)
		return 0; /* no SASL server: OK and a null token */
	/* The frame bounds the token (jute.maxbuffer); Cyrus takes unsigned. */
	if (token.len < 0 || (uint32_t)token.len > s->p->max_frame) {
		out->drop = true;
		return 0;
	}
	assert(!s->sasl || !s->sasl->busy); /* its packet blocks the queue meanwhile */
	if (s->sasl && s->sasl->done)	    /* Java's SaslServer throws once complete */
		return step_done(s, SASL_FAIL, NULL, 0, "a token after the exchange completed",
				 out);
	if (!s->sasl) {
		sasl_security_properties_t sec = {0};

		s->sasl = calloc(1, sizeof(*s->sasl));
		if (!s->sasl)
			return -ENOMEM;
		s->sasl->sess = s;
		rc = sasl_server_new(g.service, g.fqdn, NULL, NULL, NULL, conn_cbs,
				     SASL_SUCCESS_DATA, &s->sasl->conn);
		if (rc == SASL_OK) {
			/* ssf 0: authentication only, never a security layer. */
			sec.maxbufsize = 65536;
			rc = sasl_setprop(s->sasl->conn, SASL_SEC_PROPS, &sec);
		}
		if (rc != SASL_OK) {
			/* ZooKeeper: no SASL server for this connection -> OK, null token. */
			if (may_log(&held))
				log_error("sasl: cannot make a SASL server for %s: %s",
					  dp_conn_peer(s->conn), sasl_errstring(rc, NULL, NULL));
			dp_sess_sasl_free(s);
			return 0;
		}
	}
	if (!strcmp(g.mech, "DIGEST-MD5") && token.len > 0 &&
	    digest_repeats(token.p, (size_t)token.len)) {
		s->sasl->done = true; /* as a failed Cyrus step: the exchange is over */
		return step_done(s, SASL_BADPROT, NULL, 0,
				 "a DIGEST-MD5 directive given twice (RFC 2831)", out);
	}
	if (helper.running)
		return offload(s, token, out);
	rc = cyrus_step(s->sasl, token.p, (unsigned)token.len, &resp, &resp_len);
	return step_done(s, rc, resp, resp_len, NULL, out);
}
