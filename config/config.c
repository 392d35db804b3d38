/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration's life cycle: defaults, sources (files, the embedded
 * default, --set overrides), the cross-key checks of cfg_finalize() and
 * printing the effective settings back as a zoo.cfg.
 *
 * Reproduces org.apache.zookeeper.server.quorum.QuorumPeerConfig (3.8):
 * parse() + parseProperties() for defaults and cross-key rules ("dataDir
 * is not set", "clientPortAddress is set but clientPort is not set",
 * session timeouts 2x/20x tickTime, "minSessionTimeout must not be larger
 * than maxSessionTimeout", the quorum.auth checks), parseDynamicConfig()
 * for quorum membership (participants, observers, standaloneEnabled) and
 * checkValidity() for quorum mode (initLimit, syncLimit).  What needs the
 * myid file or name resolution (the server's own id, its client address
 * from the server list) is left to start-up, which owns that I/O.
 *
 * Invariants: every message names its place ("file:line: ", "--set: ",
 * "file: "); a key given twice in one source is a warning, the last value
 * winning as in java.util.Properties; each ignored key is warned about
 * once however often it appears.  Properties iterates a hash table, so
 * ZooKeeper's checks never depend on line order; here too every check that
 * spans keys waits for cfg_finalize().
 *
 * Start-up only, single thread.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cfg_priv.h"
#include "common/zkdefs.h"

const char cfg_builtin_text[] = "# Cheetah's embedded default: one standalone server on loopback.\n"
				"tickTime=2000\n"
				"dataDir=./data\n"
				"clientPort=2181\n"
				"clientPortAddress=127.0.0.1\n"
				"admin.serverAddress=127.0.0.1\n";

#define BUILTIN_SOURCE "built-in defaults"

const char *cfg_version(void)
{
	return CHEETAH_VERSION;
}

/* ---- Sources, messages, warnings ---- */

static const char *src_name(const struct cfg *c, int src)
{
	if (!c->priv || src < 0 || (size_t)src >= c->priv->n_srcs)
		return "configuration";
	return c->priv->srcs[src];
}

static int add_source(struct cfg *c, const char *name)
{
	struct cfg_priv *p = c->priv;
	char **srcs;

	/* All overrides share one source; files get one each. */
	if (strcmp(name, CFG_SET_SOURCE) == 0) {
		for (size_t i = 0; i < p->n_srcs; i++) {
			if (strcmp(p->srcs[i], CFG_SET_SOURCE) == 0)
				return (int)i;
		}
	}
	srcs = realloc(p->srcs, (p->n_srcs + 1) * sizeof(*srcs));
	if (!srcs)
		return -ENOMEM;
	p->srcs = srcs;
	srcs[p->n_srcs] = strdup(name);
	if (!srcs[p->n_srcs])
		return -ENOMEM;
	return (int)p->n_srcs++;
}

static void vformat(const struct cfg *c, char *buf, size_t size, struct cfg_loc loc,
		    const char *fmt, va_list ap)
{
	int n;

	if (loc.line)
		n = snprintf(buf, size, "%s:%u: ", src_name(c, loc.src), loc.line);
	else
		n = snprintf(buf, size, "%s: ", src_name(c, loc.src));
	if (n < 0 || (size_t)n >= size)
		return;
	vsnprintf(buf + n, size - (size_t)n, fmt, ap);
}

int cfg_errf(const struct cfg *c, struct cfg_error *err, struct cfg_loc loc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vformat(c, err->msg, sizeof(err->msg), loc, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int cfg_warnf(struct cfg *c, struct cfg_loc loc, const char *fmt, ...)
{
	char buf[512], **w;
	va_list ap;

	va_start(ap, fmt);
	vformat(c, buf, sizeof(buf), loc, fmt, ap);
	va_end(ap);
	w = realloc(c->warnings, (c->n_warnings + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	c->warnings = w;
	w[c->n_warnings] = strdup(buf);
	if (!w[c->n_warnings])
		return -ENOMEM;
	c->n_warnings++;
	return 0;
}

struct cfg_seen *cfg_seen_note(struct cfg *c, const char *key, struct cfg_loc loc,
			       unsigned *dup_line)
{
	struct cfg_priv *p = c->priv;
	struct cfg_seen *s;

	*dup_line = 0;
	for (size_t i = 0; i < p->n_seen; i++) {
		s = &p->seen[i];
		if (strcmp(s->key, key) != 0)
			continue;
		if (s->loc.src == loc.src && loc.line)
			*dup_line = s->loc.line;
		s->loc = loc;
		return s;
	}
	s = realloc(p->seen, (p->n_seen + 1) * sizeof(*s));
	if (!s)
		return NULL;
	p->seen = s;
	s = &p->seen[p->n_seen];
	s->key = strdup(key);
	if (!s->key)
		return NULL;
	s->loc = loc;
	s->warned = false;
	p->n_seen++;
	return s;
}

const struct cfg_seen *cfg_seen_find(const struct cfg *c, const char *key)
{
	for (size_t i = 0; i < c->priv->n_seen; i++) {
		if (strcmp(c->priv->seen[i].key, key) == 0)
			return &c->priv->seen[i];
	}
	return NULL;
}

/* Where key was last set, or the origin file without a line. */
static struct cfg_loc loc_of(const struct cfg *c, const char *key)
{
	const struct cfg_seen *s = cfg_seen_find(c, key);
	struct cfg_loc origin = {c->priv->origin, 0};

	return s ? s->loc : origin;
}

/* ---- Defaults and loading ---- */

int cfg_defaults(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->priv = calloc(1, sizeof(*c->priv));
	if (!c->priv)
		return -ENOMEM;
	c->priv->origin = -1;

	/* QuorumPeerConfig and ZooKeeperServer. */
	c->tick_time = 3000;
	c->client_port_listen_backlog = -1;
	c->max_client_cnxns = 60;
	c->min_session_timeout = -1;
	c->max_session_timeout = -1;
	c->snap_retain_count = 3;
	c->purge_interval = 0;
	c->election_alg = 3;
	c->peer_type = CFG_PARTICIPANT;
	c->standalone_enabled = true;
	c->reconfig_enabled = false;
	c->sync_enabled = true;

	/* System properties. */
	c->snap_count = 100000;
	c->snap_size_limit_kb = 4194304;
	c->pre_alloc_size_kb = 65536;
	c->jute_max_buffer = ZK_DEFAULT_MAX_BUFFER;
	c->global_outstanding_limit = 1000;
	c->max_cnxns = 0;
	c->force_sync = true;
	c->extended_types_enabled = false;
	c->read_only_mode = false;
	c->four_letter_words = CFG_4LW_SRVR;
	c->container_check_interval_ms = CFG_CONTAINER_CHECK_INTERVAL_MS;
	c->container_max_per_minute = CFG_CONTAINER_MAX_PER_MINUTE;
	c->container_max_never_used_ms = 0;

	/* ClientX509Util: hostname verification is on unless said otherwise. */
	c->tls.hostname_verification = true;
	c->quorum_tls.hostname_verification = true;

	/* Cheetah. */
	c->dataplane = CFG_DATAPLANE_SOCK;
	c->broadcast_core = -1;
	c->dp_workers = 1;
	c->log_level = LOG_LVL_INFO;
	c->dpdk_max_connections = CFG_DPDK_MAX_CONNECTIONS;
	c->tcp_rto_min_ms = CFG_TCP_RTO_MIN_MS;
	c->dpdk_tso = true;
	c->dpdk_tso_max_bytes = CFG_DPDK_TSO_MAX_BYTES;
	c->txlog_inflight = CFG_TXLOG_INFLIGHT;

	/* AdminServer: ZooKeeper's defaults. */
	c->admin_enable = true;
	c->admin_port = 8080;
	c->admin_idle_timeout_ms = 30000;

	/* Metrics: PrometheusMetricsProvider's defaults (off unless named). */
	c->metrics_port = 7000;
	c->admin_snapshot_enable = true;
	c->admin_restore_enable = true;
	c->admin_rate_limit_ms = 300000;
	return 0;
}

struct load_ctx {
	struct cfg *c;
	struct cfg_error *err;
	int src;
	bool dynamic; /* a dynamic configuration file: server.N only */
};

static int on_prop(void *arg, const char *key, const char *value, unsigned line)
{
	struct load_ctx *l = arg;
	struct cfg_loc loc = {l->src, line};

	if (l->dynamic && strncmp(key, "server.", 7) != 0 && strncmp(key, "group", 5) != 0 &&
	    strncmp(key, "weight", 6) != 0) {
		if (strcmp(key, "version") == 0)
			return cfg_errf(l->c, l->err, loc,
					"a dynamic configuration file must not set version (it "
					"comes from the file name)");
		return cfg_errf(l->c, l->err, loc,
				"%s is not allowed in a dynamic configuration file (only server.N)",
				key);
	}
	return cfg_apply(l->c, loc, key, value, l->err);
}

static int load_text(struct cfg *c, const char *name, const char *text, size_t len, bool dynamic,
		     struct cfg_error *err)
{
	struct load_ctx l = {c, err, 0, dynamic};
	struct cfg_prop_err perr = {0, NULL};
	int ret;

	l.src = add_source(c, name);
	if (l.src < 0)
		return l.src;
	if (!dynamic)
		c->priv->origin = l.src;
	ret = cfg_props_parse(text, len, on_prop, &l, &perr);
	if (ret == -EINVAL && perr.reason) {
		struct cfg_loc loc = {l.src, perr.line};

		return cfg_errf(c, err, loc, "%s", perr.reason);
	}
	return ret;
}

int cfg_load_string(struct cfg *c, const char *name, const char *text, struct cfg_error *err)
{
	return load_text(c, name, text, strlen(text), false, err);
}

int cfg_load_builtin(struct cfg *c, struct cfg_error *err)
{
	return cfg_load_string(c, BUILTIN_SOURCE, cfg_builtin_text, err);
}

static int read_error(const char *path, int ret, struct cfg_error *err)
{
	if (err) {
		if (ret == -EFBIG)
			snprintf(err->msg, sizeof(err->msg),
				 "%s: cannot read: larger than %u bytes", path, CFG_MAX_FILE_SIZE);
		else
			snprintf(err->msg, sizeof(err->msg), "%s: cannot read: %s", path,
				 strerror(-ret));
	}
	return ret;
}

/* Reads a whole file of at most CFG_MAX_FILE_SIZE bytes. */
static int slurp(const char *path, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL;
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	for (;;) {
		ssize_t r;

		if (!buf || n == cap) {
			char *grown;

			if (buf)
				cap *= 2;
			if (cap > CFG_MAX_FILE_SIZE + 1)
				cap = CFG_MAX_FILE_SIZE + 1;
			grown = realloc(buf, cap);
			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			buf = grown;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > CFG_MAX_FILE_SIZE) {
			ret = -EFBIG;
			break;
		}
	}
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int load_file(struct cfg *c, const char *path, bool dynamic, struct cfg_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	ret = slurp(path, &text, &len);
	if (ret)
		return read_error(path, ret, err);
	ret = load_text(c, path, text, len, dynamic, err);
	free(text);
	return ret;
}

int cfg_load_file(struct cfg *c, const char *path, struct cfg_error *err)
{
	if (!c->config_file) {
		c->config_file = strdup(path);
		if (!c->config_file)
			return -ENOMEM;
	}
	return load_file(c, path, false, err);
}

int cfg_set(struct cfg *c, const char *key_eq_value, struct cfg_error *err)
{
	char *copy, *eq, *key, *value;
	struct cfg_loc loc = {0, 0};
	int ret;

	loc.src = add_source(c, CFG_SET_SOURCE);
	if (loc.src < 0)
		return loc.src;
	eq = strchr(key_eq_value, '=');
	if (!eq)
		return cfg_errf(c, err, loc, "expected key=value, got \"%s\"", key_eq_value);
	copy = strdup(key_eq_value);
	if (!copy)
		return -ENOMEM;
	copy[eq - key_eq_value] = '\0';
	key = cfg_java_trim(copy);
	value = cfg_java_trim(copy + (eq - key_eq_value) + 1);
	if (!*key)
		ret = cfg_errf(c, err, loc, "expected key=value, got \"%s\"", key_eq_value);
	else
		ret = cfg_apply(c, loc, key, value, err);
	free(copy);
	return ret;
}

/* ---- JVM flags (SERVER_JVMFLAGS, JVMFLAGS) ---- */

bool cfg_jvmflag_key(const char *key)
{
	static const char *const sasl_keys[] = {
	    "sasl.serverconfig",
	    "kerberos.removeHostFromPrincipal",
	    "kerberos.removeRealmFromPrincipal",
	    "security.auth_to_local",
	    "SASLAuthenticationProvider.superPassword",
	    "letAnySaslUserDoX",
	    "allowSaslFailedClients",
	    "enforce.auth.enabled",
	    "enforce.auth.schemes",
	    "sessionRequireClientSASLAuth",
	};
	const char *bare = key + strlen("zookeeper.");

	if (strcmp(key, "java.security.auth.login.config") == 0)
		return true;
	if (strncmp(key, "zookeeper.", strlen("zookeeper.")) != 0)
		return false;
	if (strncmp(bare, "authProvider.", strlen("authProvider.")) == 0 ||
	    strcmp(bare, "superUser") == 0 || strncmp(bare, "superUser.", strlen("superUser.")) == 0)
		return true;
	for (size_t i = 0; i < sizeof(sasl_keys) / sizeof(sasl_keys[0]); i++)
		if (strcmp(bare, sasl_keys[i]) == 0)
			return true;
	return false;
}

int cfg_load_jvmflags(struct cfg *c, const char *name, const char *flags, struct cfg_error *err)
{
	struct cfg_loc loc = {0, 0};
	const char *p = flags;
	int ret = 0;

	if (!flags || !*flags)
		return 0;
	loc.src = add_source(c, name);
	if (loc.src < 0)
		return loc.src;
	/* The shell splits an unquoted $JVMFLAGS on blanks, with no quoting. */
	while (!ret && *p) {
		size_t n;
		char *word, *eq;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		n = strcspn(p, " \t\n");
		if (!n)
			break;
		if (n > 2 && p[0] == '-' && p[1] == 'D') {
			word = strndup(p + 2, n - 2);
			if (!word)
				return -ENOMEM;
			eq = strchr(word, '=');
			if (eq)
				*eq = '\0';
			/* -Dkey alone: Java's value is "". */
			if (cfg_jvmflag_key(word))
				ret = cfg_apply(c, loc, word, eq ? eq + 1 : "", err);
			free(word);
		}
		p += n;
	}
	return ret;
}

/* ---- Finalize ---- */

static int cmp_server(const void *a, const void *b)
{
	const struct cfg_server *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static struct cfg_loc server_loc(const struct cfg *c, int64_t id)
{
	char key[40];

	snprintf(key, sizeof(key), "server.%" PRId64, id);
	return loc_of(c, key);
}

/*
 * QuorumPeerConfig.getVersionFromFilename(): the hex number after the last
 * '.' of "zoo.cfg.dynamic.100000000" is the configuration's version.
 */
static void version_from_filename(struct cfg *c, const char *path)
{
	const char *dot = strrchr(path, '.');
	uint64_t v;

	if (dot && !strchr(dot, '/') && cfg_parse_hex(dot + 1, &v) == 0)
		c->version = v;
}

static int load_dynamic(struct cfg *c, struct cfg_error *err)
{
	int ret;

	/* ZooKeeper: "parameter: server.N must be in a separate dynamic config file". */
	if (c->n_servers)
		return cfg_errf(c, err, server_loc(c, c->servers[0].id),
				"server.%" PRId64
				" must be in the dynamic configuration file %s, not here",
				c->servers[0].id, c->dynamic_config_file);
	ret = load_file(c, c->dynamic_config_file, true, err);
	if (ret)
		return ret;
	version_from_filename(c, c->dynamic_config_file);
	return 0;
}

/* QuorumPeerConfig.parseDynamicConfig(): who votes, who observes. */
static int check_members(struct cfg *c, struct cfg_error *err)
{
	struct cfg_loc origin = {c->priv->origin, 0};
	const struct cfg_server *first_observer = NULL;

	if (c->n_servers)
		qsort(c->servers, c->n_servers, sizeof(*c->servers), cmp_server);
	c->n_participants = 0;
	c->n_observers = 0;
	for (size_t i = 0; i < c->n_servers; i++) {
		if (c->servers[i].type == CFG_PARTICIPANT) {
			c->n_participants++;
		} else {
			c->n_observers++;
			if (!first_observer)
				first_observer = &c->servers[i];
		}
	}
	if (c->n_participants == 0) {
		if (!c->standalone_enabled)
			return cfg_errf(
			    c, err, loc_of(c, "standaloneEnabled"),
			    "standaloneEnabled=false needs at least one participant server.N");
		if (first_observer)
			return cfg_errf(
			    c, err, server_loc(c, first_observer->id),
			    "observers without participants are an invalid configuration");
	} else if (c->n_participants == 1 && c->standalone_enabled) {
		if (first_observer)
			return cfg_errf(c, err, server_loc(c, first_observer->id),
					"observers without a quorum are an invalid configuration");
		if (cfg_warnf(c, server_loc(c, c->servers[0].id),
			      "only one server specified; ignored and running standalone, as "
			      "ZooKeeper does"))
			return -ENOMEM;
	} else if (c->n_participants <= 2) {
		if (cfg_warnf(c, origin,
			      "no server failure will be tolerated; you need at least 3 servers"))
			return -ENOMEM;
	} else if (c->n_participants % 2 == 0) {
		if (cfg_warnf(c, origin,
			      "non-optimal configuration, consider an odd number of servers"))
			return -ENOMEM;
	}
	c->distributed = !c->standalone_enabled || c->n_participants > 1;
	return 0;
}

static int check_quorum(struct cfg *c, struct cfg_error *err)
{
	struct cfg_loc origin = {c->priv->origin, 0};

	if (c->distributed) {
		if (c->init_limit == 0)
			return cfg_errf(c, err, origin, "initLimit is not set");
		if (c->sync_limit == 0)
			return cfg_errf(c, err, origin, "syncLimit is not set");
	}
	/* QuorumPeerConfig: a secureClientPort alone will do. */
	if (c->client_port == 0 && !c->tls.secure_client_port) {
		if (!c->distributed)
			return cfg_errf(c, err, origin, "clientPort is not set");
		for (size_t i = 0; i < c->n_servers; i++) {
			const struct cfg_server *s = &c->servers[i];

			if (!s->client_host)
				return cfg_errf(c, err, server_loc(c, s->id),
						"clientPort is not set and server.%" PRId64
						" has no client port",
						s->id);
		}
	}
	/* EphemeralType.validateServerId(): TTL owners keep 8 bits of id. */
	if (c->extended_types_enabled) {
		for (size_t i = 0; i < c->n_servers; i++) {
			if (c->servers[i].id > 254)
				return cfg_errf(
				    c, err, server_loc(c, c->servers[i].id),
				    "extendedTypesEnabled is true but server id %" PRId64
				    " is too large; it cannot be larger than 254",
				    c->servers[i].id);
		}
	}
	return 0;
}

static int check_sessions(struct cfg *c, struct cfg_error *err)
{
	int64_t min = c->min_session_timeout, max = c->max_session_timeout;

	if ((min == -1 || max == -1) && (int64_t)c->tick_time * 20 > INT32_MAX)
		return cfg_errf(c, err, loc_of(c, "tickTime"),
				"tickTime %" PRId32 " is too large: the default session timeouts "
				"(2 and 20 x tickTime) must fit in 32 bits",
				c->tick_time);
	if (min == -1)
		min = (int64_t)c->tick_time * 2;
	if (max == -1)
		max = (int64_t)c->tick_time * 20;
	if (min > max)
		return cfg_errf(
		    c, err,
		    loc_of(c, c->min_session_timeout != -1 ? "minSessionTimeout"
							   : "maxSessionTimeout"),
		    "minSessionTimeout must not be larger than maxSessionTimeout (%" PRId64
		    " > %" PRId64 ")",
		    min, max);
	c->min_session_timeout = (int32_t)min;
	c->max_session_timeout = (int32_t)max;
	return 0;
}

static int check_sasl(struct cfg *c, struct cfg_error *err)
{
	const struct cfg_priv *p = c->priv;

	if (!p->sasl_enable && p->sasl_server_require)
		return cfg_errf(c, err, loc_of(c, "quorum.auth.serverRequireSasl"),
				"quorum.auth.enableSasl is disabled, so cannot enable "
				"quorum.auth.serverRequireSasl");
	if (!p->sasl_enable && p->sasl_learner_require)
		return cfg_errf(c, err, loc_of(c, "quorum.auth.learnerRequireSasl"),
				"quorum.auth.enableSasl is disabled, so cannot enable "
				"quorum.auth.learnerRequireSasl");
	if (!p->sasl_learner_require && p->sasl_server_require)
		return cfg_errf(c, err, loc_of(c, "quorum.auth.serverRequireSasl"),
				"quorum.auth.learnerRequireSasl is disabled, so cannot enable "
				"quorum.auth.serverRequireSasl");
	return 0;
}

/*
 * AuthenticationHelper's start-up checks: enforcement needs schemes, and
 * each must have a provider (ip, digest, and sasl when its provider is
 * configured); sessionRequireClientSASLAuth means enforcement of "sasl".
 */
static int check_auth(struct cfg *c, struct cfg_error *err)
{
	const char *list = c->enforce_schemes ? c->enforce_schemes : "";
	bool any = false;

	if (c->require_sasl) {
		c->enforce_auth = true;
		free(c->enforce_schemes);
		c->enforce_schemes = strdup("sasl");
		if (!c->enforce_schemes)
			return -ENOMEM;
		list = c->enforce_schemes;
	}
	if (!c->enforce_auth)
		return 0;
	/* Java's split(",") then trim(); empty fields stay (and fail below). */
	for (const char *p = list; *list;) {
		size_t n = strcspn(p, ",");
		char scheme[128];
		size_t a = 0, b = n;

		while (a < b && (unsigned char)p[a] <= ' ')
			a++;
		while (b > a && (unsigned char)p[b - 1] <= ' ')
			b--;
		snprintf(scheme, sizeof(scheme), "%.*s", (int)(b - a), p + a);
		if (strcmp(scheme, "ip") && strcmp(scheme, "digest") &&
		    !(strcmp(scheme, "sasl") == 0 && c->sasl_provider))
			return cfg_errf(
			    c, err,
			    loc_of(c, c->require_sasl ? "sessionRequireClientSASLAuth"
						      : "enforce.auth.schemes"),
			    "Authentication scheme %s is not available (enforce.auth.schemes; the sasl "
			    "scheme needs authProvider.N=org.apache.zookeeper.server.auth."
			    "SASLAuthenticationProvider)",
			    scheme);
		any = true;
		if (!p[n])
			break;
		p += n + 1;
	}
	if (!any)
		return cfg_errf(c, err, loc_of(c, "enforce.auth.enabled"),
				"enforce.auth.enabled is true enforce.auth.schemes must be configured");
	return 0;
}

static int check_cheetah(struct cfg *c, struct cfg_error *err)
{
	bool dpdk = c->dataplane == CFG_DATAPLANE_DPDK;
	static const char *const port_keys[] = {
	    "cheetah.dpdk.eal",	    "cheetah.dpdk.idle",    "cheetah.port.ip",
	    "cheetah.port.netmask", "cheetah.port.gateway", "cheetah.dpdk.exception",
	    "cheetah.dpdk.tso",	    "cheetah.dpdk.tso_max_bytes",
	};
	uint32_t ip = ntohl(c->port_ip.s_addr);
	uint32_t mask = ntohl(c->port_netmask.s_addr);
	uint32_t gw = ntohl(c->port_gateway.s_addr);

	if (c->broadcast_core >= 0 && cfg_dp_core_isset(c, (unsigned)c->broadcast_core))
		return cfg_errf(c, err, loc_of(c, "cheetah.broadcast.core"),
				"cheetah.broadcast.core %d is also in cheetah.dataplane.cores; the "
				"broadcast core must be dedicated",
				c->broadcast_core);
	/*
	 * Workers are either pinned, one per listed core, or (sock only)
	 * unpinned, so that a loaded machine's scheduler may move them; not
	 * both.
	 */
	if (cfg_seen_find(c, "cheetah.dataplane.workers") && (c->n_dp_cores || dpdk))
		return cfg_errf(c, err, loc_of(c, "cheetah.dataplane.workers"),
				"cheetah.dataplane.workers is for unpinned sock workers; with %s "
				"the workers are one per core of cheetah.dataplane.cores",
				dpdk ? "cheetah.dataplane=dpdk" : "cheetah.dataplane.cores");
	if (!dpdk) {
		for (size_t i = 0; i < sizeof(port_keys) / sizeof(port_keys[0]); i++) {
			if (cfg_seen_find(c, port_keys[i]) &&
			    cfg_warnf(c, loc_of(c, port_keys[i]),
				      "%s is ignored with cheetah.dataplane=sock", port_keys[i]))
				return -ENOMEM;
		}
		return 0;
	}
	if (!ip)
		return cfg_errf(c, err, loc_of(c, "cheetah.dataplane"),
				"cheetah.dataplane=dpdk requires cheetah.port.ip");
	if (!mask) {
		mask = 0xffffff00u;
		c->port_netmask.s_addr = htonl(mask);
	}
	if (~mask >= 3 && ((ip & ~mask) == 0 || (ip & ~mask) == ~mask))
		return cfg_errf(
		    c, err, loc_of(c, "cheetah.port.ip"),
		    "cheetah.port.ip is the network or broadcast address of its subnet");
	if (gw && ((gw & mask) != (ip & mask) || gw == ip))
		return cfg_errf(
		    c, err, loc_of(c, "cheetah.port.gateway"),
		    "cheetah.port.gateway must be another address in cheetah.port.ip's subnet");
	if (c->client_port_address && strcmp(c->client_port_address, "0.0.0.0") != 0) {
		struct in_addr a;

		if (inet_pton(AF_INET, c->client_port_address, &a) != 1 ||
		    a.s_addr != c->port_ip.s_addr) {
			if (cfg_warnf(c, loc_of(c, "clientPortAddress"),
				      "clientPortAddress %s is not used by the dpdk dataplane, "
				      "which serves on cheetah.port.ip",
				      c->client_port_address))
				return -ENOMEM;
		}
	}
	return 0;
}


/* KeyStoreFileType.fromPropertyValueOrFileName, then what Cheetah can read. */
static int store_type(struct cfg *c, struct cfg_error *err, const char *key, const char *name,
		      const char *file, enum cfg_store_type *out)
{
	const char *dot = strrchr(file, '.');
	const char *t = name && *name ? name : NULL;

	if (!t && dot && strcasecmp(dot, ".pem") == 0)
		t = "PEM";
	else if (!t && dot && (strcasecmp(dot, ".p12") == 0 || strcasecmp(dot, ".pfx") == 0))
		t = "PKCS12";
	else if (!t && dot && strcasecmp(dot, ".jks") == 0)
		t = "JKS";
	else if (!t && dot && strcasecmp(dot, ".bcfks") == 0)
		t = "BCFKS";
	if (!t)
		return cfg_errf(c, err, loc_of(c, key),
				"%s: cannot tell the store type of %s from its name (.pem, .p12); "
				"set %s.type to PEM or PKCS12",
				key, file, key);
	if (strcasecmp(t, "PEM") == 0) {
		*out = CFG_STORE_PEM;
		return 0;
	}
	if (strcasecmp(t, "PKCS12") == 0) {
		*out = CFG_STORE_PKCS12;
		return 0;
	}
	return cfg_errf(c, err, loc_of(c, key),
			"%s: %s is a %s store, which cannot be read without Java; convert it with "
			"keytool -importkeystore -srckeystore %s -destkeystore store.p12 "
			"-deststoretype PKCS12 and use the .p12 file (or PEM)",
			key, file, t, file);
}

/*
 * TLS on the client port (dataplane/io/tls.c serves it).  Stricter than
 * ZooKeeper, which starts without a key store and fails every handshake.
 */
static int check_tls(struct cfg *c, struct cfg_error *err)
{
	struct cfg_tls *t = &c->tls;
	const char *where = t->secure_client_port ? "secureClientPort" : "client.portUnification";
	int ret;

	if (t->secure_client_port_address && !t->secure_client_port)
		return cfg_errf(c, err, loc_of(c, "secureClientPortAddress"),
				"secureClientPortAddress is set but secureClientPort is not set");
	if (!cfg_tls_wanted(t))
		return 0;
	if (c->dataplane == CFG_DATAPLANE_DPDK)
		return cfg_errf(c, err, loc_of(c, where),
				"%s: TLS is served by the sock backend only; cheetah.dataplane=dpdk "
				"cannot serve it (remove the TLS keys or use cheetah.dataplane=sock)",
				where);
	if (t->secure_client_port && t->secure_client_port == c->client_port)
		return cfg_errf(c, err, loc_of(c, "secureClientPort"),
				"secureClientPort %u is also the clientPort (use "
				"client.portUnification for TLS and plain on one port)",
				t->secure_client_port);
	if (!t->keystore)
		return cfg_errf(c, err, loc_of(c, where),
				"%s needs ssl.keyStore.location (the server's certificate and key)",
				where);
	ret = store_type(c, err, "ssl.keyStore", t->keystore_type_name, t->keystore,
			 &t->keystore_type);
	if (!ret && t->truststore)
		ret = store_type(c, err, "ssl.trustStore", t->truststore_type_name, t->truststore,
				 &t->truststore_type);
	if (ret)
		return ret;
	if (t->auth_provider && strcmp(t->auth_provider, "x509") != 0)
		return cfg_errf(c, err, loc_of(c, "ssl.authProvider"),
				"ssl.authProvider=%s: Cheetah serves only the x509 provider",
				t->auth_provider);
	/* QuorumPeerConfig: the wildcard address, whatever clientPortAddress says. */
	if (t->secure_client_port && !t->secure_client_port_address) {
		t->secure_client_port_address = strdup("0.0.0.0");
		if (!t->secure_client_port_address)
			return -ENOMEM;
	}
	if ((!t->cnxn_factory || !strstr(t->cnxn_factory, "NettyServerCnxnFactory")) &&
	    cfg_warnf(c, loc_of(c, where),
		      "%s: ZooKeeper serves TLS only with "
		      "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory and "
		      "would not start without it; Cheetah serves TLS anyway",
		      where))
		return -ENOMEM;
	/* QuorumPeerConfig.configureSSLAuth registers authProvider.x509 itself. */
	t->x509_provider = true;
	return 0;
}

/*
 * sslQuorum (replication/peer/peer.c encrypts the links): the quorum key
 * and trust stores are required (a trust store too: without one the
 * system's CAs would admit any certificate they sign as a member).
 */
static int check_quorum_tls(struct cfg *c, struct cfg_error *err)
{
	struct cfg_tls *t = &c->quorum_tls;
	int ret;

	if (!c->ssl_quorum)
		return 0;
	if (!t->keystore || !t->truststore)
		return cfg_errf(c, err, loc_of(c, "sslQuorum"),
				"sslQuorum=true needs ssl.quorum.keyStore.location and "
				"ssl.quorum.trustStore.location (this server's certificate and the "
				"CA that signs the members')");
	ret = store_type(c, err, "ssl.quorum.keyStore", t->keystore_type_name, t->keystore,
			 &t->keystore_type);
	if (!ret)
		ret = store_type(c, err, "ssl.quorum.trustStore", t->truststore_type_name,
				 t->truststore, &t->truststore_type);
	t->client_auth = CFG_CLIENT_AUTH_NEED;
	return ret;
}

int cfg_finalize(struct cfg *c, struct cfg_error *err)
{
	struct cfg_loc origin = {c->priv->origin, 0};
	int ret;

	if (c->priv->finalized) {
		if (err)
			snprintf(err->msg, sizeof(err->msg), "configuration: already finalized");
		return -EALREADY;
	}
	if (!c->data_dir)
		return cfg_errf(c, err, origin, "dataDir is not set");
	if (!c->data_log_dir) {
		c->data_log_dir = strdup(c->data_dir);
		if (!c->data_log_dir)
			return -ENOMEM;
	}
	if (c->client_port_address && !c->client_port)
		return cfg_errf(c, err, loc_of(c, "clientPortAddress"),
				"clientPortAddress is set but clientPort is not set");
	ret = check_sasl(c, err);
	if (!ret)
		ret = check_auth(c, err);
	if (!ret)
		ret = check_sessions(c, err);
	if (!ret && c->dynamic_config_file)
		ret = load_dynamic(c, err);
	if (!ret)
		ret = check_members(c, err);
	if (!ret)
		ret = check_quorum(c, err);
	if (ret)
		return ret;
	if (c->client_port && !c->client_port_address) {
		c->client_port_address = strdup("0.0.0.0");
		if (!c->client_port_address)
			return -ENOMEM;
	}
	ret = check_cheetah(c, err);
	if (!ret)
		ret = check_tls(c, err);
	if (!ret)
		ret = check_quorum_tls(c, err);
	if (ret)
		return ret;
	c->priv->finalized = true;
	return 0;
}

/* ---- Printing ---- */

/* Writes s escaped for Properties.load(); key escapes separators too. */
static void put_escaped(FILE *fp, const char *s, bool key)
{
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		switch (ch) {
		case '\\':
			fputs("\\\\", fp);
			break;
		case '\t':
			fputs("\\t", fp);
			break;
		case '\n':
			fputs("\\n", fp);
			break;
		case '\r':
			fputs("\\r", fp);
			break;
		case '\f':
			fputs("\\f", fp);
			break;
		case ' ':
			if (key || p == s)
				fputc('\\', fp);
			fputc(' ', fp);
			break;
		case '=':
		case ':':
		case '#':
		case '!':
			if (key)
				fputc('\\', fp);
			fputc(ch, fp);
			break;
		default:
			if (ch < 0x20 || ch == 0x7f)
				fprintf(fp, "\\u%04x", ch);
			else
				fputc(ch, fp);
		}
	}
}

static void put_kv(FILE *fp, const char *key, const char *value)
{
	put_escaped(fp, key, true);
	fputc('=', fp);
	put_escaped(fp, value, false);
	fputc('\n', fp);
}

/* put_kv() when value is set. */
static void put_str(FILE *fp, const char *key, const char *value)
{
	if (value)
		put_kv(fp, key, value);
}

static void put_int(FILE *fp, const char *key, int64_t v)
{
	fprintf(fp, "%s=%" PRId64 "\n", key, v);
}

static void put_bool(FILE *fp, const char *key, bool v)
{
	fprintf(fp, "%s=%s\n", key, v ? "true" : "false");
}

static void put_host(FILE *fp, const char *host)
{
	if (strchr(host, ':'))
		fprintf(fp, "[%s]", host);
	else
		fputs(host, fp);
}

static void put_server(FILE *fp, const struct cfg_server *s, bool comment)
{
	fprintf(fp, "%sserver.%" PRId64 "=", comment ? "# " : "", s->id);
	put_host(fp, s->host);
	fprintf(fp, ":%u:%u:%s", s->quorum_port, s->election_port,
		s->type == CFG_OBSERVER ? "observer" : "participant");
	if (s->client_host) {
		fputc(';', fp);
		put_host(fp, s->client_host);
		fprintf(fp, ":%u", s->client_port);
	}
	fputc('\n', fp);
}

static void put_ipv4(FILE *fp, const char *key, struct in_addr a)
{
	char buf[INET_ADDRSTRLEN];

	if (a.s_addr && inet_ntop(AF_INET, &a, buf, sizeof(buf)))
		fprintf(fp, "%s=%s\n", key, buf);
}

static void put_4lw(FILE *fp, uint32_t mask)
{
	bool first = true;

	fputs("4lw.commands.whitelist=", fp);
	if (mask == CFG_4LW_ALL) {
		fputs("*\n", fp);
		return;
	}
	for (unsigned i = 0; i < CFG_4LW_COUNT; i++) {
		if (mask & (1u << i)) {
			fprintf(fp, "%s%s", first ? "" : ",", cfg_4lw_names[i]);
			first = false;
		}
	}
	fputc('\n', fp);
}

/*
 * The key and trust stores, protocols and ciphers of one side (prefix
 * "ssl." or "ssl.quorum."): what cfg_finalize() checks a TLS port or
 * sslQuorum against, so a printed TLS port can be loaded again.  The
 * store types are printed as written; finalize derives them again.
 */
static void put_tls_stores(FILE *fp, const char *prefix, const struct cfg_tls *t)
{
	const struct {
		const char *name;
		const char *value;
	} keys[] = {
	    {"keyStore.location", t->keystore},
	    {"keyStore.password", t->keystore_password},
	    {"keyStore.passwordPath", t->keystore_password_path},
	    {"keyStore.type", t->keystore_type_name},
	    {"trustStore.location", t->truststore},
	    {"trustStore.password", t->truststore_password},
	    {"trustStore.passwordPath", t->truststore_password_path},
	    {"trustStore.type", t->truststore_type_name},
	    {"protocol", t->protocol},
	    {"enabledProtocols", t->enabled_protocols},
	    {"ciphersuites", t->ciphersuites},
	};
	char key[64];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(key, sizeof(key), "%s%s", prefix, keys[i].name);
		put_str(fp, key, keys[i].value);
	}
	snprintf(key, sizeof(key), "%shostnameVerification", prefix);
	put_bool(fp, key, t->hostname_verification);
}

void cfg_print(const struct cfg *c, FILE *fp)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};

	fprintf(fp, "# Cheetah %s: effective configuration (zoo.cfg syntax)\n", cfg_version());
	put_int(fp, "tickTime", c->tick_time);
	put_int(fp, "initLimit", c->init_limit);
	put_int(fp, "syncLimit", c->sync_limit);
	if (c->data_dir)
		put_kv(fp, "dataDir", c->data_dir);
	if (c->data_log_dir)
		put_kv(fp, "dataLogDir", c->data_log_dir);
	if (c->client_port) {
		put_int(fp, "clientPort", c->client_port);
		if (c->client_port_address)
			put_kv(fp, "clientPortAddress", c->client_port_address);
	}
	if (c->tls.secure_client_port) {
		put_int(fp, "secureClientPort", c->tls.secure_client_port);
		if (c->tls.secure_client_port_address)
			put_kv(fp, "secureClientPortAddress", c->tls.secure_client_port_address);
	}
	put_int(fp, "clientPortListenBacklog", c->client_port_listen_backlog);
	put_int(fp, "maxClientCnxns", c->max_client_cnxns);
	put_int(fp, "minSessionTimeout", c->min_session_timeout);
	put_int(fp, "maxSessionTimeout", c->max_session_timeout);
	put_int(fp, "autopurge.snapRetainCount", c->snap_retain_count);
	put_int(fp, "autopurge.purgeInterval", c->purge_interval);
	put_int(fp, "electionAlg", c->election_alg);
	fprintf(fp, "peerType=%s\n", c->peer_type == CFG_OBSERVER ? "observer" : "participant");
	put_bool(fp, "standaloneEnabled", c->standalone_enabled);
	put_bool(fp, "reconfigEnabled", c->reconfig_enabled);
	put_bool(fp, "localSessionsEnabled", c->local_sessions_enabled);
	put_bool(fp, "localSessionsUpgradingEnabled", c->local_sessions_upgrading_enabled);
	put_bool(fp, "quorumListenOnAllIPs", c->quorum_listen_on_all_ips);
	put_bool(fp, "syncEnabled", c->sync_enabled);
	if (c->dynamic_config_file) {
		put_kv(fp, "dynamicConfigFile", c->dynamic_config_file);
		for (size_t i = 0; i < c->n_servers; i++)
			put_server(fp, &c->servers[i], true);
	} else {
		if (c->version)
			fprintf(fp, "version=%" PRIx64 "\n", c->version);
		for (size_t i = 0; i < c->n_servers; i++)
			put_server(fp, &c->servers[i], false);
	}

	put_int(fp, "snapCount", c->snap_count);
	put_int(fp, "snapSizeLimitInKb", c->snap_size_limit_kb);
	put_int(fp, "preAllocSize", c->pre_alloc_size_kb);
	put_int(fp, "jute.maxbuffer", c->jute_max_buffer);
	put_int(fp, "globalOutstandingLimit", c->global_outstanding_limit);
	put_int(fp, "maxCnxns", c->max_cnxns);
	fprintf(fp, "forceSync=%s\n", c->force_sync ? "yes" : "no");
	put_bool(fp, "extendedTypesEnabled", c->extended_types_enabled);
	put_4lw(fp, c->four_letter_words);
	put_int(fp, "znode.container.checkIntervalMs", c->container_check_interval_ms);
	put_int(fp, "znode.container.maxPerMinute", c->container_max_per_minute);
	put_int(fp, "znode.container.maxNeverUsedIntervalMs", c->container_max_never_used_ms);
	if (c->super_digest)
		put_kv(fp, "DigestAuthenticationProvider.superDigest", c->super_digest);
	if (c->jaas_config)
		put_kv(fp, "java.security.auth.login.config", c->jaas_config);
	if (c->sasl_login_context)
		put_kv(fp, "sasl.serverconfig", c->sasl_login_context);
	if (c->quorum_sasl)
		put_kv(fp, "quorum.auth.enableSasl", "true");
	if (c->quorum_learner_require)
		put_kv(fp, "quorum.auth.learnerRequireSasl", "true");
	if (c->quorum_server_require)
		put_kv(fp, "quorum.auth.serverRequireSasl", "true");
	if (c->quorum_learner_context)
		put_kv(fp, "quorum.auth.learner.saslLoginContext", c->quorum_learner_context);
	if (c->quorum_server_context)
		put_kv(fp, "quorum.auth.server.saslLoginContext", c->quorum_server_context);
	if (c->quorum_service_principal)
		put_kv(fp, "quorum.auth.kerberos.servicePrincipal", c->quorum_service_principal);
	if (c->sasl_provider)
		put_kv(fp, "authProvider.1",
		       "org.apache.zookeeper.server.auth.SASLAuthenticationProvider");
	put_bool(fp, "kerberos.removeHostFromPrincipal", c->krb_remove_host);
	put_bool(fp, "kerberos.removeRealmFromPrincipal", c->krb_remove_realm);
	if (c->auth_to_local)
		put_kv(fp, "security.auth_to_local", c->auth_to_local);
	for (size_t i = 0; i < c->n_super_users; i++)
		put_kv(fp, c->super_users[i].key, c->super_users[i].value);
	if (c->sasl_super_password)
		put_kv(fp, "SASLAuthenticationProvider.superPassword", c->sasl_super_password);
	if (c->let_any_sasl_user)
		put_kv(fp, "letAnySaslUserDoX", c->let_any_sasl_user);
	put_bool(fp, "allowSaslFailedClients", c->allow_sasl_failed);
	put_bool(fp, "enforce.auth.enabled", c->enforce_auth);
	if (c->enforce_schemes)
		put_kv(fp, "enforce.auth.schemes", c->enforce_schemes);
	put_bool(fp, "sessionRequireClientSASLAuth", c->require_sasl);

	/* TLS on the client port (secureClientPort is printed above). */
	put_str(fp, "serverCnxnFactory", c->tls.cnxn_factory);
	put_tls_stores(fp, "ssl.", &c->tls);
	fprintf(fp, "ssl.clientAuth=%s\n",
		c->tls.client_auth == CFG_CLIENT_AUTH_WANT   ? "want"
		: c->tls.client_auth == CFG_CLIENT_AUTH_NONE ? "none"
							     : "need");
	put_bool(fp, "client.portUnification", c->tls.port_unification);
	put_bool(fp, "client.certReload", c->tls.cert_reload);
	put_str(fp, "ssl.authProvider", c->tls.auth_provider);
	if (c->tls.x509_provider)
		put_kv(fp, "authProvider.2",
		       "org.apache.zookeeper.server.auth.X509AuthenticationProvider");
	put_str(fp, "X509AuthenticationProvider.superUser", c->tls.x509_super_user);
	/* TLS on the quorum links. */
	put_bool(fp, "sslQuorum", c->ssl_quorum);
	put_bool(fp, "sslQuorumReloadCertFiles", c->quorum_tls.cert_reload);
	put_tls_stores(fp, "ssl.quorum.", &c->quorum_tls);
	put_bool(fp, "readonlymode.enabled", c->read_only_mode);

	fprintf(fp, "cheetah.dataplane=%s\n", c->dataplane == CFG_DATAPLANE_DPDK ? "dpdk" : "sock");
	if (c->n_dp_cores) {
		char cores[4096];

		cfg_format_cores(c->dp_cores, cores, sizeof(cores));
		fprintf(fp, "cheetah.dataplane.cores=%s\n", cores);
	}
	if (c->dp_workers != 1)
		put_int(fp, "cheetah.dataplane.workers", c->dp_workers);
	if (c->broadcast_core >= 0)
		put_int(fp, "cheetah.broadcast.core", c->broadcast_core);
	if (c->dpdk_eal_argc) {
		fputs("cheetah.dpdk.eal=", fp);
		for (int i = 0; i < c->dpdk_eal_argc; i++) {
			if (i)
				fputc(' ', fp);
			put_escaped(fp, c->dpdk_eal_argv[i], false);
		}
		fputc('\n', fp);
	}
	fprintf(fp, "cheetah.dpdk.idle=%s\n",
		c->dpdk_idle == CFG_DPDK_IDLE_SPIN ? "spin" : "backoff");
	fprintf(fp, "cheetah.dpdk.exception=%s\n",
		c->dpdk_exception[0] ? c->dpdk_exception : "off");
	put_ipv4(fp, "cheetah.port.ip", c->port_ip);
	put_ipv4(fp, "cheetah.port.netmask", c->port_netmask);
	put_ipv4(fp, "cheetah.port.gateway", c->port_gateway);
	fprintf(fp, "cheetah.log.level=%s\n", levels[c->log_level]);
	put_int(fp, "cheetah.dpdk.max_connections", c->dpdk_max_connections);
	put_int(fp, "cheetah.tcp.rto_min_ms", c->tcp_rto_min_ms);
	fprintf(fp, "cheetah.dpdk.tso=%s\n", c->dpdk_tso ? "true" : "false");
	put_int(fp, "cheetah.dpdk.tso_max_bytes", c->dpdk_tso_max_bytes);
	put_int(fp, "cheetah.txlog.inflight", c->txlog_inflight);
	if (c->metrics_enable) {
		put_kv(fp, "metricsProvider.className",
		       "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider");
		if (c->metrics_host)
			put_kv(fp, "metricsProvider.httpHost", c->metrics_host);
		put_int(fp, "metricsProvider.httpPort", c->metrics_port);
	}
	put_bool(fp, "admin.enableServer", c->admin_enable);
	put_str(fp, "admin.serverAddress", c->admin_address);
	put_int(fp, "admin.serverPort", c->admin_port);
	put_str(fp, "admin.commandURL", c->admin_command_url);
	put_int(fp, "admin.idleTimeout", c->admin_idle_timeout_ms);
	put_bool(fp, "admin.snapshot.enabled", c->admin_snapshot_enable);
	put_bool(fp, "admin.restore.enabled", c->admin_restore_enable);
	put_int(fp, "admin.rateLimiterIntervalInMS", c->admin_rate_limit_ms);

	if (c->n_extras)
		fputs("# Accepted but not used by Cheetah\n", fp);
	for (size_t i = 0; i < c->n_extras; i++)
		put_kv(fp, c->extras[i].key, c->extras[i].value);
}

/* ---- The rest ---- */

void cfg_log_warnings(const struct cfg *c)
{
	for (size_t i = 0; i < c->n_warnings; i++)
		log_warn("%s", c->warnings[i]);
}

const char *cfg_extra_get(const struct cfg *c, const char *key)
{
	static const char prefix[] = "zookeeper.";
	const size_t plen = sizeof(prefix) - 1;
	bool prefixed = strncmp(key, prefix, plen) == 0;

	for (size_t i = 0; i < c->n_extras; i++) {
		if (strcmp(c->extras[i].key, key) == 0)
			return c->extras[i].value;
	}
	for (size_t i = 0; i < c->n_extras; i++) {
		const char *k = c->extras[i].key;

		if (prefixed && strcmp(k, key + plen) == 0)
			return c->extras[i].value;
		if (!prefixed && strncmp(k, prefix, plen) == 0 && strcmp(k + plen, key) == 0)
			return c->extras[i].value;
	}
	return NULL;
}

void cfg_free(struct cfg *c)
{
	struct cfg_priv *p = c->priv;

	free(c->data_dir);
	free(c->data_log_dir);
	free(c->client_port_address);
	free(c->admin_address);
	free(c->admin_command_url);
	free(c->metrics_host);
	free(c->dynamic_config_file);
	free(c->config_file);
	free(c->super_digest);
	free(c->quorum_tls.keystore);
	free(c->quorum_tls.keystore_password);
	free(c->quorum_tls.keystore_password_path);
	free(c->quorum_tls.keystore_type_name);
	free(c->quorum_tls.truststore);
	free(c->quorum_tls.truststore_password);
	free(c->quorum_tls.truststore_password_path);
	free(c->quorum_tls.truststore_type_name);
	free(c->quorum_tls.protocol);
	free(c->quorum_tls.enabled_protocols);
	free(c->quorum_tls.ciphersuites);
	free(c->tls.secure_client_port_address);
	free(c->tls.cnxn_factory);
	free(c->tls.keystore);
	free(c->tls.keystore_password);
	free(c->tls.keystore_password_path);
	free(c->tls.keystore_type_name);
	free(c->tls.truststore);
	free(c->tls.truststore_password);
	free(c->tls.truststore_password_path);
	free(c->tls.truststore_type_name);
	free(c->tls.protocol);
	free(c->tls.enabled_protocols);
	free(c->tls.ciphersuites);
	free(c->tls.auth_provider);
	free(c->tls.x509_super_user);
	free(c->jaas_config);
	free(c->sasl_login_context);
	free(c->quorum_learner_context);
	free(c->quorum_server_context);
	free(c->quorum_service_principal);
	free(c->auth_to_local);
	for (size_t i = 0; i < c->n_super_users; i++) {
		free(c->super_users[i].key);
		free(c->super_users[i].value);
	}
	free(c->super_users);
	free(c->sasl_super_password);
	free(c->let_any_sasl_user);
	free(c->enforce_schemes);
	for (size_t i = 0; i < c->n_servers; i++) {
		free(c->servers[i].host);
		free(c->servers[i].client_host);
	}
	free(c->servers);
	for (char **a = c->dpdk_eal_argv; a && *a; a++)
		free(*a);
	free(c->dpdk_eal_argv);
	for (size_t i = 0; i < c->n_extras; i++) {
		free(c->extras[i].key);
		free(c->extras[i].value);
	}
	free(c->extras);
	for (size_t i = 0; i < c->n_warnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	if (p) {
		for (size_t i = 0; i < p->n_srcs; i++)
			free(p->srcs[i]);
		free(p->srcs);
		for (size_t i = 0; i < p->n_seen; i++)
			free(p->seen[i].key);
		free(p->seen);
		free(p);
	}
	memset(c, 0, sizeof(*c));
}

int cfg_leave_pinned_cores(const struct cfg *c)
{
	cpu_set_t set;
	int left = 0;

	if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set))
		return 0;
	for (unsigned i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (cfg_dp_core_isset(c, i) ||
		    (c->broadcast_core >= 0 && (unsigned)c->broadcast_core == i))
			CPU_CLR(i, &set);
		else
			left++;
	}
	return left ? pthread_setaffinity_np(pthread_self(), sizeof(set), &set) : 0;
}

int cfg_ipv4_address(const char *host, int port, struct sockaddr_in *sa)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;

	if (!host)
		host = "0.0.0.0";
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	if (getaddrinfo(host, NULL, &hints, &res))
		return -EADDRNOTAVAIL;
	sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}
