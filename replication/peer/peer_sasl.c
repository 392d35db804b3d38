// SPDX-License-Identifier: Apache-2.0
/*
 * Quorum SASL (ZooKeeper's quorum.auth.*): the credentials and the Cyrus
 * SASL calls of the DIGEST-MD5 exchange peer.c runs when a server dials
 * another.  ZooKeeper's semantics (QuorumCnxManager, SaslQuorumAuthLearner,
 * SaslQuorumAuthServer, SaslQuorumServerCallbackHandler):
 *  - the side that opens a connection is the "learner": it authenticates
 *    only with quorum.auth.learnerRequireSasl, as the QuorumLearner
 *    section's username/password;
 *  - the side that accepts is the "server": with quorum.auth.enableSasl it
 *    checks a dialer that offers SASL against the QuorumServer section's
 *    user_<name>="<password>" options, and lets one that does not offer it
 *    in unless quorum.auth.serverRequireSasl;
 *  - service "zookeeper-quorum", server name (and DIGEST realm)
 *    "zk-quorum-sasl-md5", as ZooKeeper's constants.  Cheetah's peer
 *    protocol is not ZooKeeper's, so these only keep logs comparable.
 *
 * Cyrus is process-wide and dataplane/session/sasl.c may already have
 * started it for the client port with its own global options (its
 * auxprop plug-in over the Server section, its mech_list).  So nothing
 * of ours is global: every connection gets its own callbacks, and Cyrus
 * asks a connection's callbacks before the global ones, so our GETOPT
 * names our own auxprop plug-in ("cheetah-quorum", over the QuorumServer
 * users) and DIGEST-MD5.  sasl_server_init/sasl_client_init count
 * references, so calling them after the client port did is harmless.
 * Cyrus loads every installed mechanism and applies mech_list per
 * connection: with the client port on GSSAPI (global mech_list
 * "GSSAPI"), a connection of ours still starts DIGEST-MD5 (checked with
 * a bare program against Debian's libsasl2 2.1.28).
 *
 * Blocking: DIGEST-MD5 on both sides is computation on memory (MD5 over
 * a few hundred bytes; the passwords are in our table, the nonce comes
 * from Cyrus's PRNG seeded from /dev/urandom when a connection is made,
 * which does not block after boot).  So each step runs inline on the
 * thread that owns the peer sockets, in microseconds, and never waits
 * for the network: peer.c feeds it whole messages it read without
 * blocking.
 *
 * Kerberos (a Krb5LoginModule entry in both sections, as ZooKeeper's
 * Login picks GSSAPI): the acceptor is service/host of the QuorumServer
 * principal with its keyTab; the dialler is the QuorumLearner principal
 * with its keyTab and asks for a ticket to
 * quorum.auth.kerberos.servicePrincipal (default zkquorum/localhost,
 * "_HOST" replaced by the server.N host dialled: peer_sasl_target).  The
 * credentials are GSS ones made at start-up (gss_acquire_cred_from: the
 * acceptor's keytab, the initiator's client keytab with a memory ccache
 * of its own; MIT gets the first ticket-granting ticket there, on the
 * main thread, so a stale keytab stops the start as ZooKeeper's login
 * does) and handed to each Cyrus connection (SASL_GSS_CREDS), so the
 * client port's KRB5_KTNAME and ccache are never ours.  A learner is
 * authorized when its principal's host is one of the server.N hosts
 * (SaslQuorumServerCallbackHandler's check).
 *
 * GSSAPI steps read the keytab and write the replay cache, and a
 * learner's may ask the KDC for a service ticket (or a renewed TGT): a
 * network round trip.  None of that may run on the peer thread, which
 * drives raft.  So with GSSAPI one helper thread runs every step:
 * peer_sasl_step queues the connection (it owns a copy of the token) and
 * returns -EINPROGRESS; the helper steps it and writes an eventfd peer.c
 * polls; peer.c then takes the result (peer_sasl_result) and goes on as
 * the inline path does.  A connection freed while its step is out is
 * left to the helper to dispose of.  One thread serialises all steps; a
 * slow KDC delays authentications, never the peer thread, and the peer
 * handshake deadline bounds how long a link waits.
 */
#include "peer_sasl.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "config/config.h"
#include "config/sasl_aux.h"

#define Q_SERVICE "zookeeper-quorum"
#define Q_SERVER "zk-quorum-sasl-md5"
#define Q_MECH "DIGEST-MD5"
#define Q_GSSAPI "GSSAPI"
#define Q_DEFAULT_PRINCIPAL "zkquorum/localhost"
#define Q_AUXPROP "cheetah-quorum"

static struct {
	bool on;
	bool inited;
	struct peer_sasl pub;
	char *learner_ctx, *server_ctx;
	char *username;		 /* the learner's */
	sasl_secret_t *password; /* the learner's, Cyrus's layout */
	struct sasl_aux users;	 /* the server section's, DIGEST-MD5's passwords */
	/* GSSAPI (Krb5LoginModule in both sections) */
	bool gss;
	char *svc_principal; /* quorum.auth.kerberos.servicePrincipal */
	char *acc_host;	     /* the QuorumServer principal: our service and host */
	char **hosts;	     /* the server.N hosts: who may authenticate to us */
	size_t n_hosts;
	gss_cred_id_t acc_cred, ini_cred;
} g = {.acc_cred = GSS_C_NO_CREDENTIAL, .ini_cred = GSS_C_NO_CREDENTIAL};

struct peer_sasl_conn {
	sasl_conn_t *conn;
	bool server, started, done;
	sasl_callback_t cbs[7];
	/* GSSAPI: the step out with the helper thread (helper.lock guards these) */
	struct peer_sasl_conn *next;
	bool busy, ready, orphan;
	uint8_t *in;
	size_t inlen;
	int res;
	const uint8_t *out;
	size_t outlen;
	char why[160];
};

static int helper_start(void);
static void helper_stop(void);

/* ---- callbacks ---- */

static int getopt_cb(void *ctx, const char *plugin, const char *option, const char **result,
		     unsigned *len)
{
	(void)ctx;
	(void)plugin;
	return sasl_aux_option(Q_AUXPROP, g.gss ? Q_GSSAPI : Q_MECH, option, result, len);
}

/*
 * Cyrus's own lines (a bad password, an unknown user) go to our log at
 * debug level: peer.c logs each refusal itself, rate-limited, and
 * without this callback Cyrus would call syslog() on the core thread at
 * a rate a peer controls.
 */
static int log_cb(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	log_debug("peer: sasl: %s", msg);
	return SASL_OK;
}

static int proxy_cb(sasl_conn_t *conn, void *ctx, const char *requested_user, unsigned rlen,
		    const char *auth_identity, unsigned alen, const char *def_realm, unsigned urlen,
		    struct propctx *propctx)
{
	(void)ctx;
	(void)def_realm;
	(void)urlen;
	(void)propctx;
	/* SaslQuorumServerCallbackHandler: authorized iff authz == authn. */
	if (!(rlen == 0 || (rlen == alen && !memcmp(requested_user, auth_identity, alen))))
		return SASL_NOAUTHZ;
	if (!g.gss)
		return SASL_OK;
	/* ... and with Kerberos, "name/host@REALM" with host one of server.N's. */
	char id[512];
	if (alen >= sizeof(id))
		return SASL_NOAUTHZ;
	memcpy(id, auth_identity, alen);
	id[alen] = '\0';
	if (!peer_sasl_host_authorized(id, (const char *const *)g.hosts, g.n_hosts)) {
		sasl_seterror(conn, 0, "%s: host not in server list", id);
		return SASL_NOAUTHZ;
	}
	return SASL_OK;
}

static int user_cb(void *ctx, int id, const char **result, unsigned *len)
{
	(void)ctx;
	if (id != SASL_CB_USER && id != SASL_CB_AUTHNAME)
		return SASL_BADPARAM;
	*result = g.username;
	if (len)
		*len = (unsigned)strlen(g.username);
	return SASL_OK;
}

static int pass_cb(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
	(void)conn;
	(void)ctx;
	if (id != SASL_CB_PASS)
		return SASL_BADPARAM;
	*psecret = g.password;
	return SASL_OK;
}

static int realm_cb(void *ctx, int id, const char **avail, const char **result)
{
	(void)ctx;
	if (id != SASL_CB_GETREALM)
		return SASL_BADPARAM;
	*result = avail && avail[0] ? avail[0] : Q_SERVER;
	return SASL_OK;
}

/* ---- principals ---- */

int peer_sasl_target(const char *principal, const char *host, char *svc, size_t svclen, char *shost,
		     size_t shostlen)
{
	const char *slash = strchr(principal, '/');
	const char *h, *at;
	size_t sl, hl;

	/*
	 * SecurityUtils.getServerPrincipal: split on '/'; exactly two parts
	 * with the second "_HOST" take the dialled host, lower-cased.  So
	 * "zkquorum/_HOST@REALM" is not substituted (ZooKeeper's behaviour).
	 * Then KerberosName: service before '/', host up to '@'.
	 */
	if (!slash || slash == principal || strchr(slash + 1, '/'))
		return -EINVAL;
	sl = (size_t)(slash - principal);
	h = slash + 1;
	at = strchr(h, '@');
	hl = at ? (size_t)(at - h) : strlen(h);
	if (!at && !strcmp(h, "_HOST")) {
		h = host;
		hl = strlen(host);
	}
	if (hl == 0 || sl >= svclen || hl >= shostlen)
		return -EINVAL;
	memcpy(svc, principal, sl);
	svc[sl] = '\0';
	for (size_t i = 0; i < hl; i++)
		shost[i] = h == host ? (char)tolower((unsigned char)h[i]) : h[i];
	shost[hl] = '\0';
	return 0;
}

bool peer_sasl_host_authorized(const char *id, const char *const *hosts, size_t n)
{
	const char *slash = strchr(id, '/');
	const char *h, *end;

	/*
	 * SaslQuorumServerCallbackHandler: split on [/@], three parts, [1]
	 * listed.  Cyrus's GSSAPI plug-in drops the realm when it is the
	 * default one, so "name/host" stands for name/host@DEFAULT.
	 */
	if (!slash || slash == id)
		return false;
	h = slash + 1;
	end = strchr(h, '@');
	if (!end)
		end = h + strlen(h);
	else if (strchr(end + 1, '@') || strchr(end + 1, '/') || !end[1])
		return false;
	if (end == h || memchr(h, '/', (size_t)(end - h)))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strlen(hosts[i]) == (size_t)(end - h) &&
		    !memcmp(hosts[i], h, (size_t)(end - h)))
			return true;
	return false;
}

/* ---- start-up ---- */

static bool is_krb5(const char *m)
{
	return strstr(m, "Krb5LoginModule") != NULL;
}

static const struct cfg_jaas_entry *krb_entry(const struct cfg_jaas_section *s)
{
	for (size_t i = 0; i < s->n_entries; i++)
		if (is_krb5(s->entries[i].module))
			return &s->entries[i];
	return NULL;
}

static void gss_why(OM_uint32 maj, OM_uint32 min, char *err, size_t errlen)
{
	OM_uint32 m2, ctx = 0;
	gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
	size_t off = strlen(err);

	(void)maj;
	if (gss_display_status(&m2, min, GSS_C_MECH_CODE, (gss_OID)gss_mech_krb5, &ctx, &b) ==
	    GSS_S_COMPLETE) {
		snprintf(err + off, errlen - off, ": %.*s", (int)b.length, (char *)b.value);
		gss_release_buffer(&m2, &b);
	}
}

/*
 * The JAAS entry's keyTab and principal as a GSS credential: the
 * acceptor's from its keytab (read now, at start-up), the initiator's
 * from a client keytab with a memory ccache of its own, so MIT gets its
 * ticket-granting ticket when the first step (on the helper) needs it.
 */
static int krb_cred(const struct cfg *c, const char *section, const struct cfg_jaas_entry *e,
		    bool acceptor, gss_cred_id_t *out, char **host, char *err, size_t errlen)
{
	const char *kt = cfg_jaas_option(e, "keyTab");
	const char *pr = cfg_jaas_option(e, "principal");
	char ktbuf[4200], ccbuf[64], svc[256], h[256];
	gss_key_value_element_desc el[2];
	gss_key_value_set_desc store = {0, el};
	gss_buffer_desc nb;
	gss_name_t name = GSS_C_NO_NAME;
	OM_uint32 maj, min;

	if (!kt || !pr) {
		snprintf(err, errlen,
			 "quorum.auth.enableSasl: JAAS section %s (%s): Krb5LoginModule needs "
			 "keyTab and principal",
			 section, c->jaas_config);
		return -EINVAL;
	}
	if (!strncasecmp(kt, "file:", 5))
		kt += 5;
	if (access(kt, R_OK)) {
		snprintf(err, errlen, "JAAS section %s: keyTab %s: %s", section, kt,
			 strerror(errno));
		return -EINVAL;
	}
	if (acceptor &&
	    (peer_sasl_target(pr, "", svc, sizeof(svc), h, sizeof(h)) || !strcmp(h, "_HOST"))) {
		snprintf(err, errlen, "JAAS section %s: principal '%s' is not service/host@REALM",
			 section, pr);
		return -EINVAL;
	}
	if (acceptor && !(*host = strdup(pr)))
		return -ENOMEM;
	snprintf(ktbuf, sizeof(ktbuf), "FILE:%s", kt);
	el[store.count++] =
	    (gss_key_value_element_desc){acceptor ? "keytab" : "client_keytab", ktbuf};
	if (!acceptor) {
		snprintf(ccbuf, sizeof(ccbuf), "MEMORY:cheetah-quorum-%ld", (long)getpid());
		el[store.count++] = (gss_key_value_element_desc){"ccache", ccbuf};
	}
	nb = (gss_buffer_desc){strlen(pr), (void *)pr};
	maj = gss_import_name(&min, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
	if (!GSS_ERROR(maj))
		maj = gss_acquire_cred_from(&min, name, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
					    acceptor ? GSS_C_ACCEPT : GSS_C_INITIATE, &store, out,
					    NULL, NULL);
	if (name != GSS_C_NO_NAME)
		gss_release_name(&min, &name);
	if (GSS_ERROR(maj)) {
		snprintf(err, errlen, "JAAS section %s: no Kerberos credential for %s in keyTab %s",
			 section, pr, kt);
		gss_why(maj, min, err, errlen);
		return -EINVAL;
	}
	return 0;
}

static int krb_load(const struct cfg *c, const struct cfg_jaas_entry *se,
		    const struct cfg_jaas_entry *le, char *err, size_t errlen)
{
	char svc[256], h[256];
	int rc;

	g.gss = true;
	g.svc_principal =
	    strdup(c->quorum_service_principal ? c->quorum_service_principal : Q_DEFAULT_PRINCIPAL);
	if (!g.svc_principal)
		return -ENOMEM;
	if (peer_sasl_target(g.svc_principal, "localhost", svc, sizeof(svc), h, sizeof(h))) {
		snprintf(err, errlen,
			 "quorum.auth.kerberos.servicePrincipal '%s' is not service/host[@REALM]",
			 g.svc_principal);
		return -EINVAL;
	}
	g.hosts = calloc(c->n_servers, sizeof(*g.hosts));
	if (!g.hosts)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_servers; i++) {
		if (!(g.hosts[i] = strdup(c->servers[i].host)))
			return -ENOMEM;
		g.n_hosts++;
	}
	rc = krb_cred(c, g.server_ctx, se, true, &g.acc_cred, &g.acc_host, err, errlen);
	if (!rc && g.pub.learner_require)
		rc = krb_cred(c, g.learner_ctx, le, false, &g.ini_cred, NULL, err, errlen);
	return rc;
}

static int load(const struct cfg *c, const struct cfg_jaas *j, char *err, size_t errlen)
{
	const struct cfg_jaas_section *ss = cfg_jaas_find(j, g.server_ctx);
	const struct cfg_jaas_section *ls = cfg_jaas_find(j, g.learner_ctx);
	const char *user = NULL, *pass = NULL;

	/* QuorumPeer.initialize: both logins are made whenever SASL is enabled. */
	if (!ss || !ls) {
		snprintf(err, errlen,
			 "quorum.auth.enableSasl: no JAAS section named '%s' (%s) in '%s'",
			 !ss ? g.server_ctx : g.learner_ctx,
			 !ss ? "quorum.auth.server.saslLoginContext"
			     : "quorum.auth.learner.saslLoginContext",
			 c->jaas_config);
		return -EINVAL;
	}
	if (krb_entry(ss) || krb_entry(ls)) {
		if (krb_entry(ss) && krb_entry(ls))
			return krb_load(c, krb_entry(ss), krb_entry(ls), err, errlen);
		snprintf(err, errlen,
			 "quorum.auth.enableSasl: JAAS section %s uses Kerberos "
			 "(Krb5LoginModule) and %s does not: both or neither",
			 krb_entry(ss) ? g.server_ctx : g.learner_ctx,
			 krb_entry(ss) ? g.learner_ctx : g.server_ctx);
		return -EINVAL;
	}
	if (sasl_aux_add_section(&g.users, ss))
		return -ENOMEM;
	for (size_t i = 0; i < ls->n_entries; i++) {
		const struct cfg_jaas_entry *e = &ls->entries[i];
		if (!user)
			user = cfg_jaas_option(e, "username");
		if (!pass)
			pass = cfg_jaas_option(e, "password");
	}
	if (g.pub.learner_require && (!user || !pass)) {
		snprintf(err, errlen,
			 "quorum.auth.learnerRequireSasl: JAAS section %s (%s) has no "
			 "username and password for DIGEST-MD5",
			 g.learner_ctx, c->jaas_config);
		return -EINVAL;
	}
	if (user && pass) {
		size_t pl = strlen(pass);
		g.username = strdup(user);
		g.password = malloc(sizeof(*g.password) + pl + 1);
		if (!g.username || !g.password)
			return -ENOMEM;
		g.password->len = pl;
		memcpy(g.password->data, pass, pl + 1);
	}
	if (!g.users.n_users)
		log_warn("peer: JAAS section %s has no user_<name> entries: no server can "
			 "authenticate to this one",
			 g.server_ctx);
	return 0;
}

int peer_sasl_init(const struct cfg *c, char *err, size_t errlen)
{
	struct cfg_jaas jaas = {0};
	struct cfg_error cerr = {""};
	int rc;

	peer_sasl_fini();
	if (!c->quorum_sasl || c->n_servers == 0)
		return 0;
	g.learner_ctx =
	    strdup(c->quorum_learner_context ? c->quorum_learner_context : "QuorumLearner");
	g.server_ctx = strdup(c->quorum_server_context ? c->quorum_server_context : "QuorumServer");
	if (!g.learner_ctx || !g.server_ctx)
		goto nomem;
	g.pub = (struct peer_sasl){
	    .learner_require = c->quorum_learner_require,
	    .server_require = c->quorum_server_require,
	    .learner_ctx = g.learner_ctx,
	    .server_ctx = g.server_ctx,
	};
	if (!c->jaas_config) {
		snprintf(err, errlen,
			 "quorum.auth.enableSasl=true needs a JAAS file "
			 "(java.security.auth.login.config) with sections %s and %s",
			 g.server_ctx, g.learner_ctx);
		rc = -EINVAL;
		goto fail;
	}
	rc = cfg_jaas_load(c->jaas_config, &jaas, &cerr);
	if (rc) {
		snprintf(err, errlen, "%s", cerr.msg[0] ? cerr.msg : strerror(-rc));
		goto fail;
	}
	rc = load(c, &jaas, err, errlen);
	cfg_jaas_free(&jaas);
	if (rc)
		goto fail;
	/*
	 * Also pthread mutexes for Cyrus: the client port's workers and the
	 * peer owner thread both use it.
	 */
	rc = sasl_aux_register(&g.users, Q_AUXPROP, Q_SERVER);
	if (rc == SASL_OK)
		rc = sasl_server_init(NULL, "cheetah");
	if (rc == SASL_OK) {
		rc = sasl_client_init(NULL);
		if (rc != SASL_OK)
			sasl_server_done();
	}
	if (rc != SASL_OK) {
		snprintf(err, errlen, "quorum SASL: cannot start Cyrus SASL: %s",
			 sasl_errstring(rc, NULL, NULL));
		rc = -EINVAL;
		goto fail;
	}
	g.inited = true;
	if (g.gss && (rc = helper_start())) {
		snprintf(err, errlen, "quorum SASL: cannot start the GSSAPI helper thread: %s",
			 strerror(-rc));
		goto fail;
	}
	g.on = true;
	if (g.gss)
		log_info("peer: quorum SASL (GSSAPI) on: learnerRequireSasl=%s "
			 "serverRequireSasl=%s, JAAS %s sections %s/%s, servicePrincipal %s, "
			 "%zu authorized host(s)",
			 g.pub.learner_require ? "true" : "false",
			 g.pub.server_require ? "true" : "false", c->jaas_config, g.server_ctx,
			 g.learner_ctx, g.svc_principal, g.n_hosts);
	else
		log_info("peer: quorum SASL (DIGEST-MD5) on: learnerRequireSasl=%s "
			 "serverRequireSasl=%s, "
			 "JAAS %s sections %s/%s, %zu server user(s)",
			 g.pub.learner_require ? "true" : "false",
			 g.pub.server_require ? "true" : "false", c->jaas_config, g.server_ctx,
			 g.learner_ctx, g.users.n_users);
	return 0;
nomem:
	snprintf(err, errlen, "out of memory setting up quorum SASL");
	rc = -ENOMEM;
fail:
	peer_sasl_fini();
	return rc;
}

void peer_sasl_fini(void)
{
	OM_uint32 min;

	helper_stop();
	if (g.acc_cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&min, &g.acc_cred);
	if (g.ini_cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&min, &g.ini_cred);
	for (size_t i = 0; i < g.n_hosts; i++)
		free(g.hosts[i]);
	free(g.hosts);
	free(g.svc_principal);
	free(g.acc_host);
	if (g.inited) {
		sasl_client_done();
		sasl_server_done();
	}
	sasl_aux_free(&g.users);
	if (g.password)
		explicit_bzero(g.password->data, g.password->len);
	free(g.password);
	free(g.username);
	free(g.learner_ctx);
	free(g.server_ctx);
	memset(&g, 0, sizeof(g));
	g.acc_cred = g.ini_cred = GSS_C_NO_CREDENTIAL;
}

const struct peer_sasl *peer_sasl_get(void)
{
	return g.on ? &g.pub : NULL;
}

/* ---- GSSAPI steps off the peer thread: one helper ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t tid;
	bool running, stop;
	int efd;
	struct peer_sasl_conn *head, *tail;
} helper = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .efd = -1};

static int step_sync(struct peer_sasl_conn *c, const uint8_t *in, size_t inlen, const uint8_t **out,
		     size_t *outlen, char *why, size_t whylen);

static void *helper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&helper.lock);
	for (;;) {
		struct peer_sasl_conn *c;
		while (!helper.head && !helper.stop)
			pthread_cond_wait(&helper.cond, &helper.lock);
		if (!helper.head)
			break;
		c = helper.head;
		helper.head = c->next;
		if (!helper.head)
			helper.tail = NULL;
		bool gone = c->orphan;
		pthread_mutex_unlock(&helper.lock);
		/* The job owns c: the peer thread does not touch it until ready. */
		if (!gone)
			c->res = step_sync(c, c->in, c->inlen, &c->out, &c->outlen, c->why,
					   sizeof(c->why));
		pthread_mutex_lock(&helper.lock);
		free(c->in);
		c->in = NULL;
		c->busy = false;
		c->ready = true;
		if (c->orphan) {
			pthread_mutex_unlock(&helper.lock);
			sasl_dispose(&c->conn);
			free(c);
			pthread_mutex_lock(&helper.lock);
			continue;
		}
		uint64_t one = 1;
		(void)!write(helper.efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&helper.lock);
	return NULL;
}

static int helper_start(void)
{
	helper.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (helper.efd < 0)
		return -errno;
	helper.stop = false;
	if (pthread_create(&helper.tid, NULL, helper_main, NULL)) {
		close(helper.efd);
		helper.efd = -1;
		return -EAGAIN;
	}
	helper.running = true;
	return 0;
}

static void helper_stop(void)
{
	if (!helper.running)
		return;
	pthread_mutex_lock(&helper.lock);
	helper.stop = true;
	pthread_cond_signal(&helper.cond);
	pthread_mutex_unlock(&helper.lock);
	pthread_join(helper.tid, NULL);
	helper.running = false;
	close(helper.efd);
	helper.efd = -1;
}

int peer_sasl_wake_fd(void)
{
	return helper.running ? helper.efd : -1;
}

void peer_sasl_wake_drain(void)
{
	uint64_t v;

	if (helper.efd >= 0)
		(void)!read(helper.efd, &v, sizeof(v));
}

/* ---- connections ---- */

int peer_sasl_conn_new(bool server, const char *host, struct peer_sasl_conn **out, char *why,
		       size_t whylen)
{
	char svc[256] = Q_SERVICE, shost[256] = Q_SERVER;

	struct peer_sasl_conn *c;
	sasl_security_properties_t sec = {0};
	int rc, i = 0;

	assert(g.on);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->server = server;
	c->cbs[i++] = (sasl_callback_t){SASL_CB_GETOPT, SASL_AUX_CB(getopt_cb), NULL};
	c->cbs[i++] = (sasl_callback_t){SASL_CB_LOG, SASL_AUX_CB(log_cb), NULL};
	if (server) {
		c->cbs[i++] = (sasl_callback_t){SASL_CB_PROXY_POLICY, SASL_AUX_CB(proxy_cb), NULL};
	} else {
		c->cbs[i++] = (sasl_callback_t){SASL_CB_AUTHNAME, SASL_AUX_CB(user_cb), NULL};
		c->cbs[i++] = (sasl_callback_t){SASL_CB_USER, SASL_AUX_CB(user_cb), NULL};
		c->cbs[i++] = (sasl_callback_t){SASL_CB_PASS, SASL_AUX_CB(pass_cb), NULL};
		c->cbs[i++] = (sasl_callback_t){SASL_CB_GETREALM, SASL_AUX_CB(realm_cb), NULL};
	}
	assert(i < (int)(sizeof(c->cbs) / sizeof(c->cbs[0])));
	c->cbs[i] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
	if (g.gss && server) {
		/* checked at start-up: service/host@REALM */
		(void)peer_sasl_target(g.acc_host, "", svc, sizeof(svc), shost, sizeof(shost));
	} else if (g.gss && peer_sasl_target(g.svc_principal, host ? host : "", svc, sizeof(svc),
					     shost, sizeof(shost))) {
		snprintf(why, whylen, "quorum.auth.kerberos.servicePrincipal %s for host %s",
			 g.svc_principal, host ? host : "?");
		free(c);
		return -EPROTO;
	}
	if (!server && !g.gss && !g.username) {
		snprintf(why, whylen, "JAAS section %s has no username/password", g.learner_ctx);
		free(c);
		return -EPROTO;
	}
	/* SUCCESS_DATA: the last token (rspauth) goes with SUCCESS, as Java's. */
	rc = server ? sasl_server_new(svc, shost, NULL, NULL, NULL, c->cbs, SASL_SUCCESS_DATA,
				      &c->conn)
		    : sasl_client_new(svc, shost, NULL, NULL, c->cbs, 0, &c->conn);
	if (rc == SASL_OK && g.gss)
		rc = sasl_setprop(c->conn, SASL_GSS_CREDS, server ? g.acc_cred : g.ini_cred);
	if (rc == SASL_OK) {
		/* ZooKeeper never wraps its quorum traffic: qop "auth". */
		sec.maxbufsize = 65536;
		rc = sasl_setprop(c->conn, SASL_SEC_PROPS, &sec);
	}
	if (rc != SASL_OK) {
		snprintf(why, whylen, "Cyrus SASL: %s", sasl_errstring(rc, NULL, NULL));
		peer_sasl_conn_free(c);
		return -EPROTO;
	}
	*out = c;
	return 0;
}

void peer_sasl_conn_free(struct peer_sasl_conn *c)
{
	if (!c)
		return;
	if (g.gss) {
		pthread_mutex_lock(&helper.lock);
		if (c->busy) {
			c->orphan = true; /* the helper disposes of it */
			pthread_mutex_unlock(&helper.lock);
			return;
		}
		pthread_mutex_unlock(&helper.lock);
	}
	if (c->conn)
		sasl_dispose(&c->conn);
	free(c);
}

int peer_sasl_step(struct peer_sasl_conn *c, const uint8_t *in, size_t inlen, const uint8_t **out,
		   size_t *outlen, char *why, size_t whylen)
{
	assert(c && !c->busy);
	if (!g.gss || c->done)
		return step_sync(c, in, inlen, out, outlen, why, whylen);
	c->in = malloc(inlen ? inlen : 1);
	if (!c->in) {
		snprintf(why, whylen, "out of memory");
		return -EACCES;
	}
	if (inlen)
		memcpy(c->in, in, inlen);
	c->inlen = inlen;
	c->why[0] = '\0';
	c->ready = false;
	pthread_mutex_lock(&helper.lock);
	c->busy = true;
	c->next = NULL;
	if (helper.tail)
		helper.tail->next = c;
	else
		helper.head = c;
	helper.tail = c;
	pthread_cond_signal(&helper.cond);
	pthread_mutex_unlock(&helper.lock);
	return -EINPROGRESS;
}

int peer_sasl_result(struct peer_sasl_conn *c, const uint8_t **out, size_t *outlen, char *why,
		     size_t whylen)
{
	bool ready;

	pthread_mutex_lock(&helper.lock);
	ready = c->ready && !c->busy;
	pthread_mutex_unlock(&helper.lock);
	if (!ready)
		return -EINPROGRESS;
	c->ready = false;
	*out = c->out;
	*outlen = c->outlen;
	snprintf(why, whylen, "%s", c->why);
	return c->res;
}

static int step_sync(struct peer_sasl_conn *c, const uint8_t *in, size_t inlen, const uint8_t **out,
		     size_t *outlen, char *why, size_t whylen)
{
	const char *o = NULL;
	unsigned ol = 0;
	int rc;

	assert(c && c->conn);
	if (c->done) {
		/* Complete: only an empty last token from the server is fine. */
		*out = (const uint8_t *)"";
		*outlen = 0;
		if (!inlen)
			return 0;
		snprintf(why, whylen, "a token after the exchange completed");
		return -EACCES;
	}
	if (inlen > UINT32_MAX / 2)
		inlen = 0;
	if (c->server) {
		if (!c->started)
			rc = sasl_server_start(c->conn, g.gss ? Q_GSSAPI : Q_MECH,
					       inlen ? (const char *)in : NULL, (unsigned)inlen, &o,
					       &ol);
		else
			rc = sasl_server_step(c->conn, (const char *)in, (unsigned)inlen, &o, &ol);
	} else {
		sasl_interact_t *ia = NULL;
		if (!c->started) {
			const char *mech = NULL;
			rc = sasl_client_start(c->conn, g.gss ? Q_GSSAPI : Q_MECH, &ia, &o, &ol,
					       &mech);
		} else {
			rc = sasl_client_step(c->conn, (const char *)in, (unsigned)inlen, &ia, &o,
					      &ol);
		}
		if (rc == SASL_INTERACT)
			rc = SASL_FAIL; /* every callback is given: nothing to ask */
	}
	c->started = true;
	if (rc == SASL_OK || rc == SASL_CONTINUE) {
		*out = (const uint8_t *)(o ? o : "");
		*outlen = o ? ol : 0;
		c->done = rc == SASL_OK;
		return rc == SASL_OK ? 0 : 1;
	}
	snprintf(why, whylen, "%s", sasl_errdetail(c->conn)); /* it names rc's string */
	return -EACCES;
}

const char *peer_sasl_user(const struct peer_sasl_conn *c)
{
	const void *u = NULL;

	if (c && c->server && sasl_getprop(c->conn, SASL_USERNAME, &u) == SASL_OK && u)
		return u;
	return "";
}
