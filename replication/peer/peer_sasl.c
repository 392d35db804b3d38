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
 * blocking.  GSSAPI (keytab and replay cache file I/O, KDC round trips
 * on the client side) would not fit there and is refused at start-up.
 */
#include "peer_sasl.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config/config.h"

#define Q_SERVICE "zookeeper-quorum"
#define Q_SERVER "zk-quorum-sasl-md5"
#define Q_MECH "DIGEST-MD5"
#define Q_AUXPROP "cheetah-quorum"
#define USER_PREFIX "user_"

struct q_user {
	char *name, *password;
};

static struct {
	bool on;
	bool inited;
	struct peer_sasl pub;
	char *learner_ctx, *server_ctx;
	char *username;		 /* the learner's */
	sasl_secret_t *password; /* the learner's, Cyrus's layout */
	struct q_user *users;	 /* the server section's */
	size_t n_users;
} g;

struct peer_sasl_conn {
	sasl_conn_t *conn;
	bool server, started, done;
	sasl_callback_t cbs[7];
};

/* ---- callbacks ---- */

static void *mutex_alloc(void)
{
	pthread_mutex_t *m = malloc(sizeof(*m));

	if (m && pthread_mutex_init(m, NULL)) {
		free(m);
		return NULL;
	}
	return m;
}

static int mutex_lock(void *m)
{
	return pthread_mutex_lock(m) ? SASL_FAIL : SASL_OK;
}

static int mutex_unlock(void *m)
{
	return pthread_mutex_unlock(m) ? SASL_FAIL : SASL_OK;
}

static void mutex_free(void *m)
{
	pthread_mutex_destroy(m);
	free(m);
}

static int getopt_cb(void *ctx, const char *plugin, const char *option, const char **result,
		     unsigned *len)
{
	(void)ctx;
	(void)plugin;
	if (!strcmp(option, "auxprop_plugin"))
		*result = Q_AUXPROP;
	else if (!strcmp(option, "mech_list"))
		*result = Q_MECH;
	else if (!strcmp(option, "pwcheck_method"))
		*result = "auxprop";
	else if (!strcmp(option, "reauth_timeout"))
		*result = "0";
	else
		return SASL_FAIL;
	if (len)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
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
	(void)conn;
	(void)ctx;
	(void)requested_user;
	(void)rlen;
	(void)def_realm;
	(void)urlen;
	(void)propctx;
	/* SaslQuorumServerCallbackHandler: authorized iff authz == authn. */
	return rlen == 0 || (rlen == alen && !memcmp(requested_user, auth_identity, alen))
		   ? SASL_OK
		   : SASL_NOAUTHZ;
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

#define CB(f) ((int (*)(void))(void (*)(void))(f))

/* ---- the QuorumServer users, as an auxprop plug-in ---- */

static const struct q_user *find_user(const char *user, unsigned ulen)
{
	const char *at = memchr(user, '@', ulen);

	for (size_t i = 0; i < g.n_users; i++)
		if (strlen(g.users[i].name) == ulen && !memcmp(g.users[i].name, user, ulen))
			return &g.users[i];
	if (at && (size_t)(user + ulen - at - 1) == strlen(Q_SERVER) &&
	    !memcmp(at + 1, Q_SERVER, strlen(Q_SERVER)))
		return find_user(user, (unsigned)(at - user));
	return NULL;
}

static int aux_lookup(void *glob, sasl_server_params_t *sp, unsigned flags, const char *user,
		      unsigned ulen)
{
	const struct propval *want;
	const struct q_user *u;

	(void)glob;
	if (!sp || !user || (flags & SASL_AUXPROP_AUTHZID))
		return SASL_OK;
	u = find_user(user, ulen);
	if (!u)
		return SASL_NOUSER;
	want = sp->utils->prop_get(sp->propctx);
	for (; want && want->name; want++) {
		if (want->name[0] != '*' || strcmp(want->name + 1, SASL_AUX_PASSWORD_PROP))
			continue;
		if (want->values && !(flags & SASL_AUXPROP_OVERRIDE))
			continue;
		if (want->values)
			sp->utils->prop_erase(sp->propctx, want->name);
		sp->utils->prop_set(sp->propctx, want->name, u->password, (int)strlen(u->password));
	}
	return SASL_OK;
}

static sasl_auxprop_plug_t aux_plug = {
    0, 0, NULL, NULL, aux_lookup, Q_AUXPROP, NULL,
};

static int aux_init(const sasl_utils_t *utils, int max_version, int *out_version,
		    sasl_auxprop_plug_t **plug, const char *name)
{
	(void)utils;
	(void)name;
	if (max_version < SASL_AUXPROP_PLUG_VERSION)
		return SASL_BADVERS;
	*out_version = SASL_AUXPROP_PLUG_VERSION;
	*plug = &aux_plug;
	return SASL_OK;
}

/* ---- start-up ---- */

static bool is_krb5(const char *m)
{
	return strstr(m, "Krb5LoginModule") != NULL;
}

static int add_user(const char *name, const char *password)
{
	struct q_user *v = realloc(g.users, (g.n_users + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	g.users = v;
	v[g.n_users].name = strdup(name);
	v[g.n_users].password = strdup(password);
	if (!v[g.n_users].name || !v[g.n_users].password) {
		free(v[g.n_users].name);
		free(v[g.n_users].password);
		return -ENOMEM;
	}
	g.n_users++;
	return 0;
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
	for (size_t i = 0; i < ss->n_entries; i++) {
		const struct cfg_jaas_entry *e = &ss->entries[i];
		if (is_krb5(e->module))
			goto krb;
		for (size_t k = 0; k < e->n_options; k++) {
			const struct cfg_jaas_option *o = &e->options[k];
			if (!strncmp(o->key, USER_PREFIX, strlen(USER_PREFIX)) &&
			    add_user(o->key + strlen(USER_PREFIX), o->value))
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < ls->n_entries; i++) {
		const struct cfg_jaas_entry *e = &ls->entries[i];
		if (is_krb5(e->module))
			goto krb;
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
	if (!g.n_users)
		log_warn("peer: JAAS section %s has no user_<name> entries: no server can "
			 "authenticate to this one",
			 g.server_ctx);
	return 0;
krb:
	snprintf(err, errlen,
		 "quorum.auth.enableSasl: the JAAS sections %s/%s use Kerberos "
		 "(Krb5LoginModule); Cheetah authenticates servers with DIGEST-MD5 only",
		 g.server_ctx, g.learner_ctx);
	return -EINVAL;
}

int peer_sasl_init(const struct cfg *c, char *err, size_t errlen)
{
	struct cfg_jaas jaas = {0};
	struct cfg_error cerr = {""};
	int rc;

	peer_sasl_fini();
	if (!c->quorum_sasl || c->n_servers == 0)
		return 0;
	if (c->quorum_service_principal)
		log_warn("peer: quorum.auth.kerberos.servicePrincipal is ignored: servers "
			 "authenticate with DIGEST-MD5 only");
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
	 * Pthread mutexes (Cyrus's defaults are no-ops): the client port's
	 * workers and the peer owner thread both use Cyrus.  Setting the
	 * same kind again after the client port did is harmless.
	 */
	sasl_set_mutex(mutex_alloc, mutex_lock, mutex_unlock, mutex_free);
	rc = sasl_auxprop_add_plugin(Q_AUXPROP, aux_init);
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
	g.on = true;
	log_info("peer: quorum SASL (DIGEST-MD5) on: learnerRequireSasl=%s serverRequireSasl=%s, "
		 "JAAS %s sections %s/%s, %zu server user(s)",
		 g.pub.learner_require ? "true" : "false", g.pub.server_require ? "true" : "false",
		 c->jaas_config, g.server_ctx, g.learner_ctx, g.n_users);
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
	if (g.inited) {
		sasl_client_done();
		sasl_server_done();
	}
	for (size_t i = 0; i < g.n_users; i++) {
		explicit_bzero(g.users[i].password, strlen(g.users[i].password));
		free(g.users[i].name);
		free(g.users[i].password);
	}
	free(g.users);
	if (g.password)
		explicit_bzero(g.password->data, g.password->len);
	free(g.password);
	free(g.username);
	free(g.learner_ctx);
	free(g.server_ctx);
	memset(&g, 0, sizeof(g));
}

const struct peer_sasl *peer_sasl_get(void)
{
	return g.on ? &g.pub : NULL;
}

/* ---- connections ---- */

int peer_sasl_conn_new(bool server, struct peer_sasl_conn **out, char *why, size_t whylen)
{
	struct peer_sasl_conn *c;
	sasl_security_properties_t sec = {0};
	int rc, i = 0;

	assert(g.on);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->server = server;
	c->cbs[i++] = (sasl_callback_t){SASL_CB_GETOPT, CB(getopt_cb), NULL};
	c->cbs[i++] = (sasl_callback_t){SASL_CB_LOG, CB(log_cb), NULL};
	if (server) {
		c->cbs[i++] = (sasl_callback_t){SASL_CB_PROXY_POLICY, CB(proxy_cb), NULL};
	} else {
		c->cbs[i++] = (sasl_callback_t){SASL_CB_AUTHNAME, CB(user_cb), NULL};
		c->cbs[i++] = (sasl_callback_t){SASL_CB_USER, CB(user_cb), NULL};
		c->cbs[i++] = (sasl_callback_t){SASL_CB_PASS, CB(pass_cb), NULL};
		c->cbs[i++] = (sasl_callback_t){SASL_CB_GETREALM, CB(realm_cb), NULL};
	}
	assert(i < (int)(sizeof(c->cbs) / sizeof(c->cbs[0])));
	c->cbs[i] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
	if (!server && !g.username) {
		snprintf(why, whylen, "JAAS section %s has no username/password", g.learner_ctx);
		free(c);
		return -EPROTO;
	}
	/* SUCCESS_DATA: the last token (rspauth) goes with SUCCESS, as Java's. */
	rc = server ? sasl_server_new(Q_SERVICE, Q_SERVER, NULL, NULL, NULL, c->cbs,
				      SASL_SUCCESS_DATA, &c->conn)
		    : sasl_client_new(Q_SERVICE, Q_SERVER, NULL, NULL, c->cbs, 0, &c->conn);
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
	if (c->conn)
		sasl_dispose(&c->conn);
	free(c);
}

int peer_sasl_step(struct peer_sasl_conn *c, const uint8_t *in, size_t inlen, const uint8_t **out,
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
			rc = sasl_server_start(c->conn, Q_MECH, inlen ? (const char *)in : NULL,
					       (unsigned)inlen, &o, &ol);
		else
			rc = sasl_server_step(c->conn, (const char *)in, (unsigned)inlen, &o, &ol);
	} else {
		sasl_interact_t *ia = NULL;
		if (!c->started) {
			const char *mech = NULL;
			rc = sasl_client_start(c->conn, Q_MECH, &ia, &o, &ol, &mech);
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
	snprintf(why, whylen, "%s (%s)", sasl_errstring(rc, NULL, NULL), sasl_errdetail(c->conn));
	return -EACCES;
}

const char *peer_sasl_user(const struct peer_sasl_conn *c)
{
	const void *u = NULL;

	if (c && c->server && sasl_getprop(c->conn, SASL_USERNAME, &u) == SASL_OK && u)
		return u;
	return "";
}
