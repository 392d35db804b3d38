/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every key Cheetah understands, its value syntax and its checks.
 *
 * Three kinds of ZooKeeper keys reach a zoo.cfg (ZooKeeper 3.8,
 * QuorumPeerConfig.parseProperties):
 *  - QuorumPeerConfig's own (tickTime, dataDir, server.N, ...).  Integers
 *    are Integer.parseInt (decimal), booleans "true"/"false" in any case.
 *  - Everything else becomes the Java system property "zookeeper.<key>",
 *    which some ZooKeeper class may read: snapCount, preAllocSize,
 *    forceSync, 4lw.commands.whitelist, ...  Those integers are read with
 *    Integer.getInteger, i.e. Integer.decode ("0x100", "#100", "0400");
 *    preAllocSize alone uses Long.parseLong.  Cheetah also accepts them
 *    spelled with the "zookeeper." prefix, as on a JVM command line.
 *    A few system properties ZooKeeper reads under their own name and
 *    never from zoo.cfg (the container manager's znode.container.*, given
 *    as -D flags) are read from zoo.cfg too, like jute.maxbuffer.
 *  - Keys nobody reads.  They are kept (cfg_extra_get) and warned about.
 *
 * Where ZooKeeper is lenient to the point of hiding mistakes, Cheetah
 * refuses the value with a message: non-numbers where ZooKeeper's
 * Integer.getInteger silently falls back to its default, negative
 * timeouts, ports outside 1..65535.  Where ZooKeeper corrects a value
 * with a warning (snapCount < 2, autopurge.snapRetainCount < 3) Cheetah
 * does the same.  jute.maxbuffer is honoured from zoo.cfg although
 * ZooKeeper only reads it as the JVM flag -Djute.maxbuffer.  The
 * znode.container.* keys follow ZooKeeper instead: a value that is not
 * a Java int (long) falls back to the default, with a warning; a number
 * ZooKeeper cannot run with (a check interval <= 0, which its Timer
 * refuses at start, a rate of 0, which fails every check) is refused.
 *
 * Keys ZooKeeper knows but Cheetah does not act on are accepted, checked
 * for the value type ZooKeeper expects, kept as extras and warned about
 * once.  Unknown keys under "cheetah." are errors: that namespace is ours
 * and a typo there must not pass silently.
 *
 * Start-up only, single thread.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_priv.h"

#define ZK_PREFIX "zookeeper."
#define NO_FIELD ((size_t)-1)

struct key_def;

static int keep_extra(struct cfg *c, const char *key, const char *value, bool known);

/* One key = value being applied. */
struct ctx {
	struct cfg *c;
	struct cfg_loc loc;
	const char *key; /* as written */
	const char *value;
	struct cfg_error *err;
	const struct key_def *def;
	struct cfg_seen *seen; /* the key's bookkeeping (NULL with K_OWN_SEEN) */
};

enum {
	K_PREFIX = 1 << 0,	 /* name is a prefix ("server.") */
	K_SYSPROP = 1 << 1,	 /* ZooKeeper system property: "zookeeper." allowed */
	K_IGNORED = 1 << 2,	 /* accepted, not acted on: kept and warned */
	K_IGNORED_TRUE = 1 << 3, /* as K_IGNORED, warned only when true */
	K_OWN_SEEN = 1 << 4,	 /* the handler tracks duplicates itself */
};

struct key_def {
	const char *name;
	unsigned flags;
	int (*set)(struct ctx *x);
	size_t off;	  /* field in struct cfg for generic setters */
	int64_t min, max; /* integer range */
	const char *why;  /* for ignored keys: what Cheetah does not do */
	int64_t def;	  /* set_get_int/set_get_long: what a non-number falls back to */
};

const char *const cfg_4lw_names[CFG_4LW_COUNT] = {
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst",
    "srvr", "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash", "icfg", "sysp",
};

uint32_t cfg_4lw_bit(const char *word)
{
	for (unsigned i = 0; i < CFG_4LW_COUNT; i++) {
		if (strcmp(word, cfg_4lw_names[i]) == 0)
			return 1u << i;
	}
	return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void *field(struct cfg *c, size_t off)
{
	return (char *)c + off;
}

static int fail(struct ctx *x, const char *what)
{
	return cfg_errf(x->c, x->err, x->loc, "%s must be %s, got \"%s\"", x->key, what, x->value);
}

/* ---- Numbers, Java style ---- */

static int parse_digits(const char *p, int base, bool neg, int64_t min, int64_t max, int64_t *out)
{
	const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t mag = 0;
	int64_t v;

	if (!*p)
		return -EINVAL;
	for (; *p; p++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return -EINVAL;
		if (d >= base)
			return -EINVAL;
		if (mag > (limit - (uint64_t)d) / (uint64_t)base)
			return -EINVAL;
		mag = mag * (uint64_t)base + (uint64_t)d;
	}
	if (neg)
		v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		v = (int64_t)mag;
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int cfg_parse_java_long(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	return parse_digits(s, 10, neg, min, max, out);
}

int cfg_parse_java_decode(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false;
	int base = 10;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '#') {
		base = 16;
		s++;
	} else if (s[0] == '0' && s[1]) {
		base = 8;
		s++;
	}
	if (*s == '-' || *s == '+')
		return -EINVAL;
	return parse_digits(s, base, neg, min, max, out);
}

/* "a positive integer", "a non-negative integer" or an explicit range. */
static const char *range_words(const struct key_def *d, char *buf, size_t size)
{
	bool top = d->max == INT32_MAX || d->max == INT64_MAX;

	if ((d->min == INT32_MIN || d->min == INT64_MIN) && top)
		return "an integer";
	if (d->min == 1 && top)
		return "a positive integer";
	if (d->min == 0 && top)
		return "a non-negative integer";
	if (d->min == -1 && top)
		return "a positive integer or -1";
	snprintf(buf, size, "an integer from %" PRId64 " to %" PRId64, d->min, d->max);
	return buf;
}

static int set_integer(struct ctx *x, bool decode, int width)
{
	const struct key_def *d = x->def;
	char words[64];
	int64_t v;
	int ret;

	if (decode)
		ret = cfg_parse_java_decode(x->value, d->min, d->max, &v);
	else
		ret = cfg_parse_java_long(x->value, d->min, d->max, &v);
	if (ret || (d->min == -1 && v == 0))
		return fail(x, range_words(d, words, sizeof(words)));
	if (d->off == NO_FIELD)
		return 0;
	if (width == 32)
		*(int32_t *)field(x->c, d->off) = (int32_t)v;
	else
		*(int64_t *)field(x->c, d->off) = v;
	return 0;
}

/* Integer.parseInt into an int32_t field. */
static int set_int(struct ctx *x)
{
	return set_integer(x, false, 32);
}

/* Long.parseLong into an int64_t field. */
static int set_long(struct ctx *x)
{
	return set_integer(x, false, 64);
}

/* Integer.getInteger (Integer.decode) into an int32_t field. */
static int set_dec_int(struct ctx *x)
{
	return set_integer(x, true, 32);
}

/* Long.getLong (Long.decode) into an int64_t field. */
static int set_dec_long(struct ctx *x)
{
	return set_integer(x, true, 64);
}

/*
 * Integer.getInteger / Long.getLong(name, default), as ZooKeeper reads
 * the system properties it has no zoo.cfg key for: a value that is not a
 * Java int (long) in Integer.decode syntax means the default; ZooKeeper
 * says nothing, Cheetah warns.  A number outside [min, max] is refused.
 */
static int set_get_number(struct ctx *x, int width)
{
	const struct key_def *d = x->def;
	int64_t lo = width == 32 ? INT32_MIN : INT64_MIN;
	int64_t hi = width == 32 ? INT32_MAX : INT64_MAX;
	char words[64];
	int64_t v;
	int ret = 0;

	if (cfg_parse_java_decode(x->value, lo, hi, &v)) {
		v = d->def;
		ret = cfg_warnf(x->c, x->loc,
				"%s=\"%s\" is not a%s; using the default %" PRId64
				", as ZooKeeper does",
				x->key, x->value, width == 32 ? "n int" : " long", v);
	} else if (v < d->min || v > d->max) {
		return fail(x, range_words(d, words, sizeof(words)));
	}
	if (width == 32)
		*(int32_t *)field(x->c, d->off) = (int32_t)v;
	else
		*(int64_t *)field(x->c, d->off) = v;
	return ret;
}

static int set_get_int(struct ctx *x)
{
	return set_get_number(x, 32);
}

static int set_get_long(struct ctx *x)
{
	return set_get_number(x, 64);
}

static int parse_port(const char *s, uint16_t *out)
{
	int64_t v;

	if (cfg_parse_java_long(s, 1, 65535, &v))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int set_port(struct ctx *x)
{
	uint16_t port;

	if (parse_port(x->value, &port))
		return fail(x, "a port number (1-65535)");
	if (x->def->off != NO_FIELD)
		*(uint16_t *)field(x->c, x->def->off) = port;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcasecmp(s, "false") == 0) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int set_bool(struct ctx *x)
{
	bool v;

	if (parse_bool(x->value, &v))
		return fail(x, "true or false");
	if (x->def->off != NO_FIELD)
		*(bool *)field(x->c, x->def->off) = v;
	return 0;
}

static int set_string(struct cfg *c, size_t off, const char *value)
{
	char **slot = field(c, off);
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

/*
 * DigestAuthenticationProvider's "super:<base64 sha1>" digest: ZooKeeper
 * takes the whole value as the digest and compares it with each auth
 * attempt's "user:base64(sha1(user:password))", so a value without a
 * colon could never match anyone; say so rather than let it sit unused.
 */
static int set_super_digest(struct ctx *x)
{
	const char *colon = strchr(x->value, ':');

	if (!colon || colon == x->value || !colon[1])
		return cfg_errf(x->c, x->err, x->loc,
				"%s must look like user:base64-digest (see ZooKeeper's "
				"DigestAuthenticationProvider.generateDigest)",
				x->key);
	return set_string(x->c, x->def->off, x->value);
}

/* Any value at all, including empty (kept as an extra when ignored). */
static int set_any(struct ctx *x)
{
	if (x->def->off == NO_FIELD)
		return 0;
	return set_string(x->c, x->def->off, x->value);
}

static int set_path(struct ctx *x)
{
	if (!*x->value)
		return cfg_errf(x->c, x->err, x->loc, "%s must not be empty", x->key);
	return set_any(x);
}

/*
 * dataDir and dataLogDir: VerifyingFileFactory.warnForRelativePath() warns
 * about a relative path unless it starts with "./".
 */
static int set_dir(struct ctx *x)
{
	int ret = set_path(x);

	if (ret || x->value[0] == '/' || strncmp(x->value, "./", 2) == 0)
		return ret;
	return cfg_warnf(x->c, x->loc,
			 "%s %s is relative to the working directory; prepend ./ to show it is "
			 "meant, as ZooKeeper asks",
			 x->key, x->value);
}

/*
 * A host as InetAddress.getByName takes it, checked without resolving:
 * an IPv4 or IPv6 literal or a DNS name.  Something made only of digits
 * and dots must be a valid IPv4 address.
 */
static bool valid_host(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	size_t n = strlen(s);
	bool numeric = true;

	if (n == 0 || n > 253)
		return false;
	if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
		return true;
	for (const char *p = s; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
			return false;
		if (!isdigit((unsigned char)*p) && *p != '.')
			numeric = false;
	}
	return !numeric && s[0] != '-' && s[0] != '.';
}

static int set_host(struct ctx *x)
{
	if (!valid_host(x->value))
		return fail(x, "an IP address or host name");
	return set_any(x);
}

/* admin.commandURL: a path of its own under which the commands are served. */
static int set_command_url(struct ctx *x)
{
	size_t n = strlen(x->value);

	if (n < 2 || n > 200 || x->value[0] != '/' || x->value[n - 1] == '/')
		return fail(x, "a path such as /commands (not /, no trailing /)");
	for (const char *p = x->value; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/-._~", *p))
			return fail(x, "a path of letters, digits and / - . _ ~");
	return set_any(x);
}

/*
 * metricsProvider.className (MetricsProviderBootstrap): ZooKeeper loads
 * the class and refuses to start when it cannot; Cheetah has two.
 */
#define CFG_PROMETHEUS_PROVIDER "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
#define CFG_DEFAULT_PROVIDER "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"

static int set_metrics_class(struct ctx *x)
{
	if (!strcmp(x->value, CFG_PROMETHEUS_PROVIDER))
		x->c->metrics_enable = true;
	else if (!strcmp(x->value, CFG_DEFAULT_PROVIDER))
		x->c->metrics_enable = false;
	else
		return cfg_errf(x->c, x->err, x->loc,
				"metricsProvider.className %s is not available in Cheetah; it has "
				"%s (/metrics) and %s (none, the default)",
				x->value, CFG_PROMETHEUS_PROVIDER, CFG_DEFAULT_PROVIDER);
	return 0;
}

/* ---- QuorumPeerConfig's own keys ---- */

static int set_election_alg(struct ctx *x)
{
	int64_t v;

	if (cfg_parse_java_long(x->value, INT32_MIN, INT32_MAX, &v))
		return fail(x, "an integer");
	if (v != 3)
		return cfg_errf(x->c, x->err, x->loc,
				"invalid electionAlg value %" PRId64
				"; only 3 (fast leader election) is supported",
				v);
	x->c->election_alg = 3;
	return 0;
}

static int parse_learner_type(const char *s, enum cfg_learner_type *out)
{
	if (strcasecmp(s, "participant") == 0) {
		*out = CFG_PARTICIPANT;
		return 0;
	}
	if (strcasecmp(s, "observer") == 0) {
		*out = CFG_OBSERVER;
		return 0;
	}
	return -EINVAL;
}

static int set_peer_type(struct ctx *x)
{
	if (parse_learner_type(x->value, &x->c->peer_type))
		return fail(x, "participant or observer");
	return 0;
}

/* DatadirCleanupManager/PurgeTxnLog keep at least 3 snapshots. */
static int set_snap_retain(struct ctx *x)
{
	int64_t v;

	if (cfg_parse_java_long(x->value, INT32_MIN, INT32_MAX, &v))
		return fail(x, "an integer");
	if (v < 3) {
		x->c->snap_retain_count = 3;
		return cfg_warnf(x->c, x->loc,
				 "invalid autopurge.snapRetainCount: %" PRId64
				 "; defaulting to 3, as ZooKeeper does",
				 v);
	}
	x->c->snap_retain_count = (int32_t)v;
	return 0;
}

int cfg_parse_hex(const char *s, uint64_t *out)
{
	int64_t v;

	if (parse_digits(s, 16, false, 0, INT64_MAX, &v))
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

/* Long.parseLong(value, 16), as QuorumMaj reads "version". */
static int set_version(struct ctx *x)
{
	if (cfg_parse_hex(x->value, &x->c->version))
		return fail(x, "a hexadecimal number");
	return 0;
}

static int set_sasl(struct ctx *x)
{
	struct cfg_priv *p = x->c->priv;
	bool v;

	if (parse_bool(x->value, &v))
		return fail(x, "true or false");
	if (strcmp(x->def->name, "quorum.auth.enableSasl") == 0)
		p->sasl_enable = x->c->quorum_sasl = v;
	else if (strcmp(x->def->name, "quorum.auth.serverRequireSasl") == 0)
		p->sasl_server_require = x->c->quorum_server_require = v;
	else
		p->sasl_learner_require = x->c->quorum_learner_require = v;
	return 0;
}

/*
 * authProvider.N: ProviderRegistry loads the named class.  The SASL
 * provider is Cheetah's sasl scheme; ZooKeeper's two built-in providers
 * are always there; any other class is a plug-in Cheetah cannot load
 * (ZooKeeper only warns when a class fails to load, so this warns too).
 */
static int set_auth_provider(struct ctx *x)
{
	static const char *const builtin[] = {
	    "org.apache.zookeeper.server.auth.DigestAuthenticationProvider",
	    "org.apache.zookeeper.server.auth.IPAuthenticationProvider",
	};

	if (strcmp(x->value, "org.apache.zookeeper.server.auth.SASLAuthenticationProvider") == 0) {
		x->c->sasl_provider = true;
		return 0;
	}
	/* X509AuthenticationProvider: TLS client certificates (dataplane/io/tls.c). */
	if (strcmp(x->value, "org.apache.zookeeper.server.auth.X509AuthenticationProvider") == 0) {
		x->c->tls.x509_provider = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(x->value, builtin[i]) == 0)
			return 0;
	return cfg_warnf(x->c, x->loc,
			 "%s: authentication provider %s is not supported by Cheetah (it has ip, "
			 "digest, org.apache.zookeeper.server.auth.SASLAuthenticationProvider and "
			 "org.apache.zookeeper.server.auth.X509AuthenticationProvider); ignored",
			 x->key, x->value);
}

/*
 * kerberos.removeHostFromPrincipal / removeRealmFromPrincipal:
 * SaslServerCallbackHandler compares the value with "true" exactly, so
 * "TRUE" means false there; anything but "true" or "false" is refused
 * here rather than read one way or the other.
 */
static int set_exact_bool(struct ctx *x)
{
	if (strcmp(x->value, "true") && strcmp(x->value, "false"))
		return fail(x, "true or false (lower case: ZooKeeper compares with \"true\")");
	*(bool *)field(x->c, x->def->off) = strcmp(x->value, "true") == 0;
	return 0;
}

/*
 * superUser, superUser.<anything> (ZooKeeperServer.isSaslSuperUser: every
 * system property named so): each value is a SASL id made super.  A key
 * set again replaces its value.
 */
static int set_super_user(struct ctx *x)
{
	const char *bare = starts_with(x->key, ZK_PREFIX) ? x->key + strlen(ZK_PREFIX) : x->key;
	struct cfg *c = x->c;
	struct cfg_extra *v;
	char *k, *val;

	if (strcmp(bare, "superUser") && !starts_with(bare, "superUser."))
		return cfg_warnf(c, x->loc,
				 "%s: not a ZooKeeper setting (superUser or superUser.<name> is); "
				 "ignored",
				 x->key);
	for (size_t i = 0; i < c->n_super_users; i++) {
		if (strcmp(c->super_users[i].key, bare) == 0) {
			val = strdup(x->value);
			if (!val)
				return -ENOMEM;
			free(c->super_users[i].value);
			c->super_users[i].value = val;
			return 0;
		}
	}
	v = realloc(c->super_users, (c->n_super_users + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->super_users = v;
	k = strdup(bare);
	val = strdup(x->value);
	if (!k || !val) {
		free(k);
		free(val);
		return -ENOMEM;
	}
	v[c->n_super_users++] = (struct cfg_extra){k, val, true};
	return 0;
}

static int refuse_hierarchical(struct ctx *x)
{
	return cfg_errf(x->c, x->err, x->loc,
			"%s: hierarchical quorums (group/weight) are not supported by Cheetah; use "
			"majority quorums",
			x->key);
}

/* ---- server.N ---- */

static int bad_server(struct cfg *c, struct cfg_loc loc, const char *key, const char *value,
		      struct cfg_error *err)
{
	return cfg_errf(
	    c, err, loc,
	    "%s: \"%s\" does not have the form host:port:port[:participant|observer][;[host:]port]",
	    key, value);
}

/*
 * ConfigUtils.getHostAndPort: "[v6]:a:b" or "h:a:b" split at ':'.  Fills
 * up to max parts (pointers into s, which is modified); returns the count
 * or -EINVAL.  Parts are trimmed; unlike Java's split(), empty parts are
 * refused rather than dropped at the end.
 */
static int split_host_port(char *s, char **parts, int max)
{
	int n = 0;
	char *p = s;

	if (*s == '[') {
		char *close = strchr(s, ']');

		if (!close || close[1] != ':' || close[2] == '\0')
			return -EINVAL;
		*close = '\0';
		parts[n++] = s + 1;
		p = close + 2;
	}
	for (;;) {
		char *colon = strchr(p, ':');

		if (n == max)
			return -EINVAL;
		parts[n++] = p;
		if (!colon)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	for (int i = 0; i < n; i++) {
		parts[i] = cfg_java_trim(parts[i]);
		if (!*parts[i])
			return -EINVAL;
	}
	return n;
}

static int server_port(struct cfg *c, struct cfg_loc loc, const char *key, const char *what,
		       const char *s, uint16_t *out, struct cfg_error *err)
{
	if (parse_port(s, out))
		return cfg_errf(c, err, loc, "%s: %s must be a port number (1-65535), got \"%s\"",
				key, what, s);
	return 0;
}

int cfg_parse_server(struct cfg *c, struct cfg_loc loc, const char *key, const char *value,
		     struct cfg_server *s, struct cfg_error *err)
{
	char *copy = strdup(value), *semi, *client = NULL, *parts[5];
	int n, ret = -EINVAL;
	int64_t id;

	memset(s, 0, sizeof(*s));
	if (!copy)
		return -ENOMEM;
	if (cfg_parse_java_long(key + strlen("server."), 1, INT64_MAX, &id)) {
		ret = cfg_errf(c, err, loc, "%s: the server id must be a positive integer", key);
		goto out;
	}
	s->id = id;
	if (strchr(copy, '|')) {
		ret = cfg_errf(c, err, loc,
			       "%s: multiple addresses per server (|) are not supported by Cheetah",
			       key);
		goto out;
	}
	semi = strchr(copy, ';');
	if (semi) {
		*semi = '\0';
		client = semi + 1;
		if (strchr(client, ';')) {
			ret = bad_server(c, loc, key, value, err);
			goto out;
		}
	}
	n = split_host_port(copy, parts, 5);
	if (n < 3 || n > 4) {
		ret = bad_server(c, loc, key, value, err);
		goto out;
	}
	if (!valid_host(parts[0])) {
		ret =
		    cfg_errf(c, err, loc, "%s: host must be an IP address or host name, got \"%s\"",
			     key, parts[0]);
		goto out;
	}
	ret = server_port(c, loc, key, "the quorum port", parts[1], &s->quorum_port, err);
	if (!ret)
		ret =
		    server_port(c, loc, key, "the election port", parts[2], &s->election_port, err);
	if (ret)
		goto out;
	if (s->quorum_port == s->election_port) {
		ret = cfg_errf(c, err, loc, "%s: the quorum and election ports must differ", key);
		goto out;
	}
	if (n == 4 && parse_learner_type(parts[3], &s->type)) {
		ret = cfg_errf(c, err, loc,
			       "%s: the role must be participant or observer, got \"%s\"", key,
			       parts[3]);
		goto out;
	}
	s->host = strdup(parts[0]);
	if (!s->host) {
		ret = -ENOMEM;
		goto out;
	}
	if (client) {
		const char *chost = "0.0.0.0";

		n = split_host_port(cfg_java_trim(client), parts, 2);
		if (n < 1) {
			ret = bad_server(c, loc, key, value, err);
			goto out;
		}
		if (n == 2) {
			chost = parts[0];
			if (!valid_host(chost)) {
				ret = cfg_errf(c, err, loc,
					       "%s: client host must be an IP address or host "
					       "name, got \"%s\"",
					       key, chost);
				goto out;
			}
		}
		ret =
		    server_port(c, loc, key, "the client port", parts[n - 1], &s->client_port, err);
		if (ret)
			goto out;
		s->client_host = strdup(chost);
		if (!s->client_host) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = 0;
out:
	free(copy);
	if (ret) {
		free(s->host);
		free(s->client_host);
		memset(s, 0, sizeof(*s));
	}
	return ret;
}

struct cfg_server *cfg_server_find(struct cfg *c, int64_t id)
{
	for (size_t i = 0; i < c->n_servers; i++) {
		if (c->servers[i].id == id)
			return &c->servers[i];
	}
	return NULL;
}

/* QuorumMaj: a later line for the same id replaces the earlier one. */
static int set_server(struct ctx *x)
{
	struct cfg *c = x->c;
	struct cfg_server s, *old;
	char canon[40];
	unsigned dup;
	int ret;

	ret = cfg_parse_server(c, x->loc, x->key, x->value, &s, x->err);
	if (ret)
		return ret;
	snprintf(canon, sizeof(canon), "server.%" PRId64, s.id);
	if (!cfg_seen_note(c, canon, x->loc, &dup))
		goto nomem;
	if (dup &&
	    cfg_warnf(c, x->loc,
		      "server id %" PRId64 " given twice (also at line %u); the last one wins",
		      s.id, dup))
		goto nomem;
	old = cfg_server_find(c, s.id);
	if (old) {
		free(old->host);
		free(old->client_host);
		*old = s;
		return 0;
	}
	old = realloc(c->servers, (c->n_servers + 1) * sizeof(*old));
	if (!old)
		goto nomem;
	c->servers = old;
	c->servers[c->n_servers++] = s;
	return 0;
nomem:
	free(s.host);
	free(s.client_host);
	return -ENOMEM;
}

/* ---- ZooKeeper system properties ---- */

/* ZooKeeperServer.getSnapCount(): below 2 is reset to 2 with a warning. */
static int set_snap_count(struct ctx *x)
{
	int64_t v;

	if (cfg_parse_java_decode(x->value, INT32_MIN, INT32_MAX, &v))
		return fail(x, "an integer");
	if (v < 2) {
		x->c->snap_count = 2;
		return cfg_warnf(x->c, x->loc,
				 "snapCount should be 2 or more; %" PRId64
				 " is reset to 2, as ZooKeeper does",
				 v);
	}
	x->c->snap_count = (int32_t)v;
	return 0;
}

/* FileTxnLog: forceSync is off only for exactly "no". */
static int set_force_sync(struct ctx *x)
{
	x->c->force_sync = strcmp(x->value, "no") != 0;
	if (x->c->force_sync && strcmp(x->value, "yes") != 0)
		return cfg_warnf(x->c, x->loc,
				 "forceSync=\"%s\" is not \"no\", so the log is fsynced, as "
				 "ZooKeeper does; write yes or no",
				 x->value);
	return 0;
}

/* FourLetterCommands.isEnabled(): comma list, "*" = all, srvr always. */
static int set_4lw(struct ctx *x)
{
	char *copy = strdup(x->value), *save = NULL;
	uint32_t mask = CFG_4LW_SRVR;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		uint32_t bit;

		w = cfg_java_trim(w);
		if (!*w)
			continue;
		if (strcmp(w, "*") == 0) {
			mask = CFG_4LW_ALL;
			break;
		}
		bit = cfg_4lw_bit(w);
		if (!bit) {
			ret = cfg_warnf(
			    x->c, x->loc,
			    "4lw.commands.whitelist: unknown four-letter word \"%s\" ignored", w);
			if (ret)
				break;
		}
		mask |= bit;
	}
	free(copy);
	x->c->four_letter_words = mask;
	return ret;
}

/* ---- Cheetah's keys ---- */

static int set_dataplane(struct ctx *x)
{
	if (strcmp(x->value, "sock") == 0)
		x->c->dataplane = CFG_DATAPLANE_SOCK;
	else if (strcmp(x->value, "dpdk") == 0)
		x->c->dataplane = CFG_DATAPLANE_DPDK;
	else
		return fail(x, "sock or dpdk");
	return 0;
}

static int set_dpdk_idle(struct ctx *x)
{
	if (strcmp(x->value, "backoff") == 0)
		x->c->dpdk_idle = CFG_DPDK_IDLE_BACKOFF;
	else if (strcmp(x->value, "spin") == 0)
		x->c->dpdk_idle = CFG_DPDK_IDLE_SPIN;
	else
		return fail(x, "backoff or spin");
	return 0;
}

/* An interface name: 1..15 of [A-Za-z0-9_.-] (IFNAMSIZ), or "off". */
static int set_dpdk_exception(struct ctx *x)
{
	size_t n = strlen(x->value);

	if (strcmp(x->value, "off") == 0) {
		x->c->dpdk_exception[0] = '\0';
		return 0;
	}
	if (n == 0 || n >= sizeof(x->c->dpdk_exception) ||
	    strspn(x->value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
		n ||
	    strcmp(x->value, ".") == 0 || strcmp(x->value, "..") == 0)
		return fail(x, "off or a network interface name (1-15 of A-Z a-z 0-9 _ . -)");
	memcpy(x->c->dpdk_exception, x->value, n + 1);
	return 0;
}

static int parse_core(const char *s, int64_t *out)
{
	return cfg_parse_java_long(s, 0, CFG_MAX_CORES - 1, out);
}

static int set_cores(struct ctx *x)
{
	uint64_t bits[CFG_MAX_CORES / 64] = {0};
	char *copy = strdup(x->value), *item, *save = NULL;
	unsigned n = 0;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	if (!*copy)
		ret = fail(x, "a list of cores such as 0,1 or 2-5");
	for (item = strtok_r(copy, ",", &save); item && !ret; item = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(item, '-');
		int64_t lo, hi;

		if (dash)
			*dash = '\0';
		if (parse_core(cfg_java_trim(item), &lo) ||
		    (dash && parse_core(cfg_java_trim(dash + 1), &hi))) {
			ret = cfg_errf(
			    x->c, x->err, x->loc,
			    "%s must list cores from 0 to %d such as 0,1 or 2-5, got \"%s\"",
			    x->key, CFG_MAX_CORES - 1, x->value);
			break;
		}
		if (!dash)
			hi = lo;
		if (hi < lo) {
			ret = cfg_errf(x->c, x->err, x->loc,
				       "%s: range %" PRId64 "-%" PRId64 " is backwards", x->key, lo,
				       hi);
			break;
		}
		for (int64_t i = lo; i <= hi; i++) {
			if (bits[i / 64] >> (i % 64) & 1) {
				ret = cfg_errf(x->c, x->err, x->loc,
					       "%s: core %" PRId64 " is listed twice", x->key, i);
				break;
			}
			bits[i / 64] |= 1ull << (i % 64);
			n++;
		}
	}
	if (!ret && n == 0)
		ret = fail(x, "a list of cores such as 0,1 or 2-5");
	free(copy);
	if (ret)
		return ret;
	memcpy(x->c->dp_cores, bits, sizeof(bits));
	x->c->n_dp_cores = n;
	return 0;
}

static int set_broadcast_core(struct ctx *x)
{
	int64_t v;

	if (parse_core(x->value, &v)) {
		char words[64];

		snprintf(words, sizeof(words), "a core number from 0 to %d", CFG_MAX_CORES - 1);
		return fail(x, words);
	}
	x->c->broadcast_core = (int)v;
	return 0;
}

static void free_argv(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

static int set_eal(struct ctx *x)
{
	char *copy = strdup(x->value), *save = NULL;
	char **argv = calloc(1, sizeof(*argv));
	int argc = 0;

	if (!copy || !argv)
		goto nomem;
	for (char *a = strtok_r(copy, " \t\f\r\n", &save); a;
	     a = strtok_r(NULL, " \t\f\r\n", &save)) {
		char **grown = realloc(argv, (size_t)(argc + 2) * sizeof(*argv));

		if (!grown)
			goto nomem;
		argv = grown;
		argv[argc] = strdup(a);
		argv[argc + 1] = NULL;
		if (!argv[argc])
			goto nomem;
		argc++;
	}
	free(copy);
	free_argv(x->c->dpdk_eal_argv);
	x->c->dpdk_eal_argv = argv;
	x->c->dpdk_eal_argc = argc;
	return 0;
nomem:
	free(copy);
	free_argv(argv);
	return -ENOMEM;
}

static bool netmask_ok(uint32_t m)
{
	uint32_t inv = ~m;

	return m != 0 && (inv & (inv + 1)) == 0;
}

static int set_ipv4(struct ctx *x)
{
	struct in_addr a;
	uint32_t h;

	if (inet_pton(AF_INET, x->value, &a) != 1)
		return fail(x, "a dotted IPv4 address");
	h = ntohl(a.s_addr);
	if (strcmp(x->def->name, "cheetah.port.netmask") == 0) {
		if (!netmask_ok(h))
			return fail(x, "a contiguous IPv4 netmask such as 255.255.255.0");
	} else if (h == 0 || h == 0xffffffffu || (h >> 28) == 0xe || (h >> 24) == 127) {
		return fail(x, "a unicast IPv4 address");
	}
	*(struct in_addr *)field(x->c, x->def->off) = a;
	return 0;
}

static int set_log_level(struct ctx *x)
{
	if (log_parse_level(x->value, &x->c->log_level))
		return fail(x, "error, warn, info or debug");
	return 0;
}

/* ---- TLS on the client port (ClientX509Util's keys) ---- */

/* ssl.clientAuth: X509Util.ClientAuth.fromPropertyValue (empty: need). */
static int set_client_auth(struct ctx *x)
{
	enum cfg_client_auth *a = &x->c->tls.client_auth;

	if (!*x->value || strcasecmp(x->value, "need") == 0)
		*a = CFG_CLIENT_AUTH_NEED;
	else if (strcasecmp(x->value, "want") == 0)
		*a = CFG_CLIENT_AUTH_WANT;
	else if (strcasecmp(x->value, "none") == 0)
		*a = CFG_CLIENT_AUTH_NONE;
	else
		return fail(x, "need, want or none");
	return 0;
}

/*
 * ssl.keyStore.type / ssl.trustStore.type as written (KeyStoreFileType:
 * JKS, PEM, PKCS12, BCFKS in any case, or empty); cfg_finalize resolves
 * them with the file names and refuses the Java-only formats.
 */
static int set_store_type(struct ctx *x)
{
	static const char *const types[] = {"", "PEM", "PKCS12", "JKS", "BCFKS"};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(x->value, types[i]) == 0)
			return set_any(x);
	return fail(x, "PEM, PKCS12, JKS or BCFKS");
}

/* serverCnxnFactory: a class name; ZooKeeper needs Netty's for TLS. */
static int set_cnxn_factory(struct ctx *x)
{
	if (!*x->value)
		return fail(x, "a ServerCnxnFactory class name");
	return set_any(x);
}

/* ---- The table ---- */

#define F(member) offsetof(struct cfg, member)
#define INT(n, member, lo, hi)                                                                     \
	{                                                                                          \
		n, 0, set_int, F(member), lo, hi, NULL                                             \
	}
#define BOOL(n, member)                                                                            \
	{                                                                                          \
		n, 0, set_bool, F(member), 0, 0, NULL                                              \
	}
#define IGN(n, fn, lo, hi, why)                                                                    \
	{                                                                                          \
		n, K_IGNORED, fn, NO_FIELD, lo, hi, why                                            \
	}
#define IGN_TRUE(n, why)                                                                           \
	{                                                                                          \
		n, K_IGNORED_TRUE, set_bool, NO_FIELD, 0, 0, why                                   \
	}
#define SYS(n, fn, member, lo, hi)                                                                 \
	{                                                                                          \
		n, K_SYSPROP, fn, F(member), lo, hi, NULL                                          \
	}
/* A system property read with Integer.getInteger/Long.getLong: def on a non-number. */
#define GETNUM(n, fn, member, lo, hi, def)                                                         \
	{                                                                                          \
		n, K_SYSPROP, fn, F(member), lo, hi, NULL, def                                     \
	}

#define WHY_TLS "TLS is not supported by Cheetah"
#define WHY_JVM "JVM pause monitoring does not apply to Cheetah"
#define WHY_MULTI "multiple addresses per server are not supported by Cheetah"
#define WHY_OBSMASTER                                                                              \
	"observers syncing from followers (observer master) are not supported by Cheetah"

/* Exact names first: find_key() takes the first match. */
static const struct key_def keys[] = {
    /* QuorumPeerConfig */
    {"dataDir", 0, set_dir, F(data_dir), 0, 0, NULL},
    {"dataLogDir", 0, set_dir, F(data_log_dir), 0, 0, NULL},
    {"clientPort", 0, set_port, F(client_port), 0, 0, NULL},
    {"clientPortAddress", 0, set_host, F(client_port_address), 0, 0, NULL},
    BOOL("localSessionsEnabled", local_sessions_enabled),
    BOOL("localSessionsUpgradingEnabled", local_sessions_upgrading_enabled),
    {"secureClientPort", 0, set_port, F(tls.secure_client_port), 0, 0, NULL},
    {"secureClientPortAddress", 0, set_host, F(tls.secure_client_port_address), 0, 0, NULL},
    IGN("observerMasterPort", set_port, 0, 0, WHY_OBSMASTER),
    {"clientPortListenBacklog", 0, set_int, F(client_port_listen_backlog), -1, INT32_MAX, NULL},
    INT("tickTime", tick_time, 1, INT32_MAX),
    INT("maxClientCnxns", max_client_cnxns, 0, INT32_MAX),
    {"minSessionTimeout", 0, set_int, F(min_session_timeout), -1, INT32_MAX, NULL},
    {"maxSessionTimeout", 0, set_int, F(max_session_timeout), -1, INT32_MAX, NULL},
    INT("initLimit", init_limit, 0, INT32_MAX),
    INT("syncLimit", sync_limit, 0, INT32_MAX),
    IGN("connectToLearnerMasterLimit", set_int, 0, INT32_MAX, WHY_OBSMASTER),
    {"electionAlg", 0, set_election_alg, 0, 0, 0, NULL},
    BOOL("quorumListenOnAllIPs", quorum_listen_on_all_ips),
    {"peerType", 0, set_peer_type, 0, 0, 0, NULL},
    BOOL("syncEnabled", sync_enabled),
    {"dynamicConfigFile", 0, set_path, F(dynamic_config_file), 0, 0, NULL},
    {"autopurge.snapRetainCount", 0, set_snap_retain, 0, 0, 0, NULL},
    INT("autopurge.purgeInterval", purge_interval, 0, INT32_MAX),
    BOOL("standaloneEnabled", standalone_enabled),
    BOOL("reconfigEnabled", reconfig_enabled),
    BOOL("sslQuorum", ssl_quorum),
    IGN_TRUE("portUnification", WHY_TLS),
    BOOL("sslQuorumReloadCertFiles", quorum_tls.cert_reload),
    /* Quorum SASL (replication/peer/peer_sasl.c): DIGEST-MD5 or GSSAPI. */
    {"quorum.auth.enableSasl", 0, set_sasl, NO_FIELD, 0, 0, NULL},
    {"quorum.auth.serverRequireSasl", 0, set_sasl, NO_FIELD, 0, 0, NULL},
    {"quorum.auth.learnerRequireSasl", 0, set_sasl, NO_FIELD, 0, 0, NULL},
    {"quorum.auth.learner.saslLoginContext", 0, set_path, F(quorum_learner_context), 0, 0, NULL},
    {"quorum.auth.server.saslLoginContext", 0, set_path, F(quorum_server_context), 0, 0, NULL},
    {"quorum.auth.kerberos.servicePrincipal", 0, set_path, F(quorum_service_principal), 0, 0, NULL},
    IGN("quorum.cnxn.threads.size", set_int, INT32_MIN, INT32_MAX,
	"Cheetah's quorum links need no connection thread pool"),
    IGN("jvm.pause.info-threshold.ms", set_long, INT64_MIN, INT64_MAX, WHY_JVM),
    IGN("jvm.pause.warn-threshold.ms", set_long, INT64_MIN, INT64_MAX, WHY_JVM),
    IGN("jvm.pause.sleep.time.ms", set_long, INT64_MIN, INT64_MAX, WHY_JVM),
    IGN_TRUE("jvm.pause.monitor", WHY_JVM),
    /* The Prometheus provider's keys (metrics/): ZooKeeper passes them without the prefix. */
    {"metricsProvider.className", 0, set_metrics_class, 0, 0, 0, NULL},
    {"metricsProvider.httpHost", 0, set_host, F(metrics_host), 0, 0, NULL},
    INT("metricsProvider.httpPort", metrics_port, 0, 65535),
    IGN("metricsProvider.exportJvmInfo", set_any, 0, 0,
	"Cheetah has no JVM: there are no jvm_* metrics to export"),
    IGN_TRUE("multiAddress.enabled", WHY_MULTI),
    IGN("multiAddress.reachabilityCheckTimeoutMs", set_int, INT32_MIN, INT32_MAX, WHY_MULTI),
    IGN("multiAddress.reachabilityCheckEnabled", set_bool, 0, 0, WHY_MULTI),
    IGN("oraclePath", set_any, 0, 0, "the oracle quorum verifier is not supported by Cheetah"),
    {"version", 0, set_version, 0, 0, 0, NULL},

    /* System properties ZooKeeper reads as zookeeper.<key> */
    {"snapCount", K_SYSPROP, set_snap_count, 0, 0, 0, NULL},
    SYS("snapSizeLimitInKb", set_dec_long, snap_size_limit_kb, INT64_MIN, INT64_MAX / 1024),
    SYS("preAllocSize", set_long, pre_alloc_size_kb, 1, INT64_MAX / 1024),
    SYS("jute.maxbuffer", set_dec_int, jute_max_buffer, 1, INT32_MAX),
    SYS("globalOutstandingLimit", set_dec_int, global_outstanding_limit, 1, INT32_MAX),
    SYS("maxCnxns", set_dec_int, max_cnxns, 0, INT32_MAX),
    {"forceSync", K_SYSPROP, set_force_sync, 0, 0, 0, NULL},
    SYS("extendedTypesEnabled", set_bool, extended_types_enabled, 0, 0),
    /* QuorumPeer reads Boolean.getBoolean("readonlymode.enabled"): no prefix. */
    BOOL("readonlymode.enabled", read_only_mode),
    {"4lw.commands.whitelist", K_SYSPROP, set_4lw, 0, 0, 0, NULL},
    SYS("DigestAuthenticationProvider.superDigest", set_super_digest, super_digest, 0, 0),
    GETNUM("znode.container.checkIntervalMs", set_get_int, container_check_interval_ms, 1,
	   INT32_MAX, CFG_CONTAINER_CHECK_INTERVAL_MS),
    GETNUM("znode.container.maxPerMinute", set_get_int, container_max_per_minute, 1, INT32_MAX,
	   CFG_CONTAINER_MAX_PER_MINUTE),
    GETNUM("znode.container.maxNeverUsedIntervalMs", set_get_long, container_max_never_used_ms, 0,
	   INT64_MAX, 0),
    {"emulate353TTLNodes", K_SYSPROP | K_IGNORED_TRUE, set_bool, NO_FIELD, 0, 0,
     "ZooKeeper 3.5.3's TTL encoding is not supported by Cheetah"},
    /* The AdminServer (adminserver/): Boolean/Integer/String system properties. */
    SYS("admin.enableServer", set_bool, admin_enable, 0, 0),
    {"admin.serverAddress", K_SYSPROP, set_host, F(admin_address), 0, 0, NULL},
    GETNUM("admin.serverPort", set_get_int, admin_port, 0, 65535, 8080),
    {"admin.commandURL", K_SYSPROP, set_command_url, F(admin_command_url), 0, 0, NULL},
    GETNUM("admin.idleTimeout", set_get_int, admin_idle_timeout_ms, 1, INT32_MAX, 30000),
    SYS("admin.snapshot.enabled", set_bool, admin_snapshot_enable, 0, 0),
    SYS("admin.restore.enabled", set_bool, admin_restore_enable, 0, 0),
    GETNUM("admin.rateLimiterIntervalInMS", set_get_int, admin_rate_limit_ms, 0, INT32_MAX, 300000),
    /* SASL on the client port (ZooKeeperSaslServer, SaslServerCallbackHandler,
     * AuthenticationHelper; the JAAS file's name is the JVM's own property). */
    {"java.security.auth.login.config", 0, set_path, F(jaas_config), 0, 0, NULL},
    {"sasl.serverconfig", K_SYSPROP, set_path, F(sasl_login_context), 0, 0, NULL},
    {"kerberos.removeHostFromPrincipal", K_SYSPROP, set_exact_bool, F(krb_remove_host), 0, 0, NULL},
    {"kerberos.removeRealmFromPrincipal", K_SYSPROP, set_exact_bool, F(krb_remove_realm), 0, 0,
     NULL},
    {"security.auth_to_local", K_SYSPROP, set_path, F(auth_to_local), 0, 0, NULL},
    SYS("SASLAuthenticationProvider.superPassword", set_any, sasl_super_password, 0, 0),
    SYS("letAnySaslUserDoX", set_any, let_any_sasl_user, 0, 0),
    SYS("allowSaslFailedClients", set_bool, allow_sasl_failed, 0, 0),
    SYS("enforce.auth.enabled", set_bool, enforce_auth, 0, 0),
    SYS("enforce.auth.schemes", set_any, enforce_schemes, 0, 0),
    SYS("sessionRequireClientSASLAuth", set_bool, require_sasl, 0, 0),

    /* TLS on the client port: ClientX509Util ("zookeeper.ssl.*") and Netty's factory */
    {"serverCnxnFactory", K_SYSPROP, set_cnxn_factory, F(tls.cnxn_factory), 0, 0, NULL},
    {"ssl.keyStore.location", K_SYSPROP, set_path, F(tls.keystore), 0, 0, NULL},
    {"ssl.keyStore.password", K_SYSPROP, set_any, F(tls.keystore_password), 0, 0, NULL},
    {"ssl.keyStore.passwordPath", K_SYSPROP, set_path, F(tls.keystore_password_path), 0, 0, NULL},
    {"ssl.keyStore.type", K_SYSPROP, set_store_type, F(tls.keystore_type_name), 0, 0, NULL},
    {"ssl.trustStore.location", K_SYSPROP, set_path, F(tls.truststore), 0, 0, NULL},
    {"ssl.trustStore.password", K_SYSPROP, set_any, F(tls.truststore_password), 0, 0, NULL},
    {"ssl.trustStore.passwordPath", K_SYSPROP, set_path, F(tls.truststore_password_path), 0, 0,
     NULL},
    {"ssl.trustStore.type", K_SYSPROP, set_store_type, F(tls.truststore_type_name), 0, 0, NULL},
    {"ssl.clientAuth", K_SYSPROP, set_client_auth, 0, 0, 0, NULL},
    {"ssl.protocol", K_SYSPROP, set_path, F(tls.protocol), 0, 0, NULL},
    {"ssl.enabledProtocols", K_SYSPROP, set_path, F(tls.enabled_protocols), 0, 0, NULL},
    {"ssl.ciphersuites", K_SYSPROP, set_path, F(tls.ciphersuites), 0, 0, NULL},
    SYS("ssl.hostnameVerification", set_bool, tls.hostname_verification, 0, 0),
    /* TLS on the quorum links: QuorumX509Util ("zookeeper.ssl.quorum.*") */
    {"ssl.quorum.keyStore.location", K_SYSPROP, set_path, F(quorum_tls.keystore), 0, 0, NULL},
    {"ssl.quorum.keyStore.password", K_SYSPROP, set_any, F(quorum_tls.keystore_password), 0, 0,
     NULL},
    {"ssl.quorum.keyStore.passwordPath", K_SYSPROP, set_path, F(quorum_tls.keystore_password_path),
     0, 0, NULL},
    {"ssl.quorum.keyStore.type", K_SYSPROP, set_store_type, F(quorum_tls.keystore_type_name), 0, 0,
     NULL},
    {"ssl.quorum.trustStore.location", K_SYSPROP, set_path, F(quorum_tls.truststore), 0, 0, NULL},
    {"ssl.quorum.trustStore.password", K_SYSPROP, set_any, F(quorum_tls.truststore_password), 0, 0,
     NULL},
    {"ssl.quorum.trustStore.passwordPath", K_SYSPROP, set_path,
     F(quorum_tls.truststore_password_path), 0, 0, NULL},
    {"ssl.quorum.trustStore.type", K_SYSPROP, set_store_type, F(quorum_tls.truststore_type_name), 0,
     0, NULL},
    {"ssl.quorum.protocol", K_SYSPROP, set_path, F(quorum_tls.protocol), 0, 0, NULL},
    {"ssl.quorum.enabledProtocols", K_SYSPROP, set_path, F(quorum_tls.enabled_protocols), 0, 0,
     NULL},
    {"ssl.quorum.ciphersuites", K_SYSPROP, set_path, F(quorum_tls.ciphersuites), 0, 0, NULL},
    SYS("ssl.quorum.hostnameVerification", set_bool, quorum_tls.hostname_verification, 0, 0),
    {"ssl.authProvider", K_SYSPROP, set_path, F(tls.auth_provider), 0, 0, NULL},
    SYS("client.portUnification", set_bool, tls.port_unification, 0, 0),
    SYS("client.certReload", set_bool, tls.cert_reload, 0, 0),
    {"X509AuthenticationProvider.superUser", K_SYSPROP, set_path, F(tls.x509_super_user), 0, 0,
     NULL},

    /* Cheetah */
    {"cheetah.dataplane", 0, set_dataplane, 0, 0, 0, NULL},
    {"cheetah.dataplane.cores", 0, set_cores, 0, 0, 0, NULL},
    INT("cheetah.dataplane.workers", dp_workers, 1, CFG_MAX_CORES),
    {"cheetah.broadcast.core", 0, set_broadcast_core, 0, 0, 0, NULL},
    {"cheetah.dpdk.eal", 0, set_eal, 0, 0, 0, NULL},
    {"cheetah.dpdk.idle", 0, set_dpdk_idle, 0, 0, 0, NULL},
    {"cheetah.dpdk.exception", 0, set_dpdk_exception, 0, 0, 0, NULL},
    {"cheetah.port.ip", 0, set_ipv4, F(port_ip), 0, 0, NULL},
    {"cheetah.port.netmask", 0, set_ipv4, F(port_netmask), 0, 0, NULL},
    {"cheetah.port.gateway", 0, set_ipv4, F(port_gateway), 0, 0, NULL},
    {"cheetah.log.level", 0, set_log_level, 0, 0, 0, NULL},
    INT("cheetah.dpdk.max_connections", dpdk_max_connections, 1, 1048576),
    INT("cheetah.tcp.rto_min_ms", tcp_rto_min_ms, 1, 60000),
    BOOL("cheetah.dpdk.tso", dpdk_tso),
    INT("cheetah.dpdk.tso_max_bytes", dpdk_tso_max_bytes, 3000, 65000),
    INT("cheetah.txlog.inflight", txlog_inflight, 1, CFG_TXLOG_INFLIGHT_MAX),

    /* Prefixes */
    {"server.", K_PREFIX | K_OWN_SEEN, set_server, 0, 0, 0, NULL},
    {"group", K_PREFIX, refuse_hierarchical, 0, 0, 0, NULL},
    {"weight", K_PREFIX, refuse_hierarchical, 0, 0, 0, NULL},
    {"metricsProvider.", K_PREFIX | K_IGNORED, set_any, NO_FIELD, 0, 0,
     "this metrics provider setting is not supported by Cheetah (its /metrics has no "
     "worker queue, HTTPS or JVM metrics)"},
    {"admin.", K_PREFIX | K_SYSPROP | K_IGNORED, set_any, NO_FIELD, 0, 0,
     "this AdminServer setting is not supported by Cheetah (HTTPS, portUnification "
     "and client certificates are not implemented)"},
    {"ssl.", K_PREFIX | K_SYSPROP | K_IGNORED, set_any, NO_FIELD, 0, 0,
     "this TLS setting is not supported by Cheetah (CRL, OCSP, context suppliers, "
     "ssl.quorum.clientAuth (quorum links always require the peer's certificate) "
     "and handshake detection timeouts are not implemented)"},
    {"authProvider.", K_PREFIX | K_SYSPROP, set_auth_provider, NO_FIELD, 0, 0, NULL},
    {"superUser", K_PREFIX | K_SYSPROP, set_super_user, NO_FIELD, 0, 0, NULL},
};

/*
 * Other system properties ZooKeeper 3.8's server reads as
 * "zookeeper.<name>"; Cheetah keeps them as extras with a warning that
 * names them as ZooKeeper settings rather than unknown keys.
 */
static const char *const zk_sysprops[] = {
    "DigestAuthenticationProvider.digestAlg",
    "DigestAuthenticationProvider.enabled",
    "audit.enable",
    "audit.impl.class",
    "bitHashCacheSize",
    "closeSessionTxn.enabled",
    "cnxTimeout",
    "commitLogCount",
    "commitProcessor.maxCommitBatchSize",
    "commitProcessor.maxReadBatchSize",
    "commitProcessor.numWorkerThreads",
    "commitProcessor.shutdownTimeout",
    "connection_throttle_decrease_ratio",
    "connection_throttle_drop_decrease",
    "connection_throttle_drop_increase",
    "connection_throttle_fill_count",
    "connection_throttle_fill_time",
    "connection_throttle_freeze_time",
    "connection_throttle_global_session_weight",
    "connection_throttle_local_session_weight",
    "connection_throttle_renew_session_weight",
    "connection_throttle_tokens",
    "connection_throttle_weight_enabled",
    "datadir.autocreate",
    "db.autocreate",
    "digest.enabled",
    "electionPortBindRetry",
    "enableEagerACLCheck",
    "enforceQuota",
    "ensembleAuthName",
    "fastleader.maxNotificationInterval",
    "fastleader.minNotificationInterval",
    "flushDelay",
    "follower.skipLearnerRequestToNextProcessor",
    "forceSnapshotSync",
    "forward_learner_requests_to_commit_processor_disabled",
    "fsync.warningthresholdms",
    "intBufferStartingSizeBytes",
    "jmx.log4j.disable",
    "jmx.log4j.mbean",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
    "leader.ackLoggingFrequency",
    "leader.closeSocketAsync",
    "leader.maxConcurrentDiffSyncs",
    "leader.maxConcurrentSnapSyncs",
    "leader.maxTimeToWaitForEpoch",
    "leaderConnectDelayDuringRetryMs",
    "leaderServes",
    "learner.asyncSending",
    "learner.closeSocketAsync",
    "maxBatchSize",
    "maxGetChildrenResponseCacheSize",
    "maxInProcessingDeadWatchers",
    "maxResponseCacheSize",
    "maxWriteQueuePollTime",
    "messageTracker.BufferSize",
    "messageTracker.Enabled",
    "netty.advancedFlowControl.enabled",
    "netty.server.earlyDropSecureConnectionHandshakes",
    "netty.server.outstandingHandshake.limit",
    "nio.directBufferBytes",
    "nio.numSelectorThreads",
    "nio.numWorkerThreads",
    "nio.sessionlessCnxnTimeout",
    "nio.shutdownTimeout",
    "observer.election.DelayMs",
    "observer.reconnectDelayMs",
    "observerMaster.sizeLimit",
    "pathStats.delay",
    "pathStats.enabled",
    "pathStats.initialDelay",
    "pathStats.maxDepth",
    "pathStats.sampleRate",
    "pathStats.slotCapacity",
    "pathStats.slotDuration",
    "pathStats.topPathMax",
    "quorumCnxnTimeoutMs",
    "request_stale_connection_check",
    "request_stale_latency_check",
    "request_throttle_drop_stale",
    "request_throttle_max_requests",
    "request_throttle_stall_time",
    "request_throttler.shutdownTimeout",
    "skipACL",
    "snapshot.compression.method",
    "snapshot.trust.empty",
    "snapshotSizeFactor",
    "tcpKeepAlive",
    "throttled_op_wait_time",
    "txnLogSizeLimitInKb",
    "watchManagerName",
    "watcherCleanIntervalInSeconds",
    "watcherCleanThreadsNum",
    "watcherCleanThreshold",
};

static bool name_matches(const struct key_def *d, const char *key)
{
	if (d->flags & K_PREFIX)
		return starts_with(key, d->name);
	return strcmp(key, d->name) == 0;
}

/* Finds the definition for key; *bare is key without "zookeeper.". */
static const struct key_def *find_key(const char *key, const char **bare)
{
	const char *rest = starts_with(key, ZK_PREFIX) ? key + strlen(ZK_PREFIX) : NULL;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key_def *d = &keys[i];

		if (name_matches(d, key)) {
			*bare = key;
			return d;
		}
		if (rest && (d->flags & K_SYSPROP) && name_matches(d, rest)) {
			*bare = rest;
			return d;
		}
	}
	*bare = rest ? rest : key;
	return NULL;
}

static bool known_sysprop(const char *bare)
{
	for (size_t i = 0; i < sizeof(zk_sysprops) / sizeof(zk_sysprops[0]); i++) {
		if (strcmp(bare, zk_sysprops[i]) == 0)
			return true;
	}
	return false;
}

static int keep_extra(struct cfg *c, const char *key, const char *value, bool known)
{
	struct cfg_extra *e;
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_extras; i++) {
		if (strcmp(c->extras[i].key, key) == 0) {
			free(c->extras[i].value);
			c->extras[i].value = v;
			return 0;
		}
	}
	e = realloc(c->extras, (c->n_extras + 1) * sizeof(*e));
	if (!e)
		goto nomem;
	c->extras = e;
	e = &c->extras[c->n_extras];
	e->key = strdup(key);
	if (!e->key)
		goto nomem;
	e->value = v;
	e->known = known;
	c->n_extras++;
	return 0;
nomem:
	free(v);
	return -ENOMEM;
}

/* Notes canonical at loc and warns about a repeat within one source. */
static struct cfg_seen *note(struct cfg *c, struct cfg_loc loc, const char *canonical,
			     const char *key)
{
	struct cfg_seen *seen;
	unsigned dup;

	seen = cfg_seen_note(c, canonical, loc, &dup);
	if (seen && dup &&
	    cfg_warnf(c, loc,
		      "duplicate key %s (also at line %u); the last value wins, as in ZooKeeper",
		      key, dup))
		return NULL;
	return seen;
}

static int apply_unknown(struct cfg *c, struct cfg_loc loc, const char *key, const char *bare,
			 const char *value, struct cfg_error *err)
{
	bool known = known_sysprop(bare);
	struct cfg_seen *seen;
	int ret;

	if (starts_with(key, "cheetah."))
		return cfg_errf(c, err, loc, "unknown Cheetah key %s", key);
	seen = note(c, loc, key, key);
	if (!seen)
		return -ENOMEM;
	ret = keep_extra(c, key, value, known);
	if (ret || seen->warned)
		return ret;
	seen->warned = true;
	if (known)
		return cfg_warnf(c, loc,
				 "%s: ZooKeeper setting not implemented by Cheetah; ignored", key);
	return cfg_warnf(c, loc,
			 "%s: unknown key, not a ZooKeeper or Cheetah setting; ignored (ZooKeeper "
			 "would set the Java system property zookeeper.%s)",
			 key, key);
}

int cfg_apply(struct cfg *c, struct cfg_loc loc, const char *key, const char *value,
	      struct cfg_error *err)
{
	const char *bare;
	const struct key_def *d = find_key(key, &bare);
	struct cfg_seen *seen = NULL;
	struct ctx x = {c, loc, key, value, err, d};
	bool v;
	int ret;

	if (!d)
		return apply_unknown(c, loc, key, bare, value, err);
	if (!(d->flags & K_OWN_SEEN)) {
		seen = note(c, loc, (d->flags & K_PREFIX) ? bare : d->name, key);
		if (!seen)
			return -ENOMEM;
	}
	x.seen = seen;
	ret = d->set(&x);
	if (ret || !(d->flags & (K_IGNORED | K_IGNORED_TRUE)))
		return ret;
	ret = keep_extra(c, key, value, true);
	if (ret || seen->warned)
		return ret;
	if ((d->flags & K_IGNORED_TRUE) && (parse_bool(value, &v) || !v))
		return 0;
	seen->warned = true;
	return cfg_warnf(c, loc, "%s: %s; ignored", key, d->why);
}

void cfg_format_cores(const uint64_t *bits, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < CFG_MAX_CORES; i++) {
		unsigned j = i;
		int n;

		if (!(bits[i / 64] >> (i % 64) & 1))
			continue;
		while (j + 1 < CFG_MAX_CORES && (bits[(j + 1) / 64] >> ((j + 1) % 64) & 1))
			j++;
		if (j == i)
			n = snprintf(buf + len, size - len, "%s%u", len ? "," : "", i);
		else
			n = snprintf(buf + len, size - len, "%s%u-%u", len ? "," : "", i, j);
		if (n < 0 || (size_t)n >= size - len)
			return;
		len += (size_t)n;
		i = j;
	}
}
