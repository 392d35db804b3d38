/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ZooKeeper's KerberosName (a copy of Hadoop's) and the name mapping of
 * SaslServerCallbackHandler, reproduced:
 *
 *  - A name "service[/host]@realm" splits on the first '/' and the '@'
 *    (Java: "([^/@]*)(/([^/@]*))?@([^/@]*)" must match the whole name);
 *    a name without '@' is a simple name (service only, no host, no
 *    realm); anything else with an '@' is malformed.
 *  - getShortName: a simple name is itself; otherwise the rules of
 *    zookeeper.security.auth_to_local are tried in order with the
 *    parameters [realm, service] or [realm, service, host]: DEFAULT gives
 *    the service when the realm is krb5.conf's default realm;
 *    RULE:[n:fmt](match)s/from/to/[g] applies when the name has n
 *    components, formats fmt ($0 realm, $1 service, $2 host), and keeps
 *    the result if it matches `match` (the whole of it), after the
 *    substitution.  A result with '/' or '@' is an error ("non-simple").
 *    No rule: an error too.
 *  - handleAuthorizeCallback then appends "/host" and "@realm" unless
 *    kerberos.removeHostFromPrincipal / removeRealmFromPrincipal; when
 *    getShortName fails it keeps the authorization id unchanged.
 *
 * So with the defaults a DIGEST-MD5 user "bob" is "bob", and a Kerberos
 * principal "kafka/broker1@EXAMPLE.COM" in the default realm stays
 * "kafka/broker1@EXAMPLE.COM" (short name "kafka", host and realm put
 * back); with both remove flags it is "kafka".
 *
 * Regexes are POSIX extended (regcomp), compiled once at start-up;
 * java.util.regex differs in rarely used constructs (lazy quantifiers,
 * \d, lookaround), which regcomp refuses: a start-up error, not a
 * silent difference.  The replacement text takes $N groups as Java's
 * replaceFirst/replaceAll do.
 *
 * Pure functions; the rules are read-only after parsing (any thread).
 */
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/session/krb_name.h"

#define NAME_MAX_LEN 1024

struct rule {
	bool is_default;
	int ncomp;
	char *format;
	bool has_match, has_sub, repeat;
	regex_t match, from;
	char *to;
};

struct dp_krb_rules {
	char *default_realm;
	struct rule *v;
	size_t n;
};

/* ---- names ---- */

struct kname {
	const char *service, *host, *realm; /* into buf; host/realm NULL if absent */
	char buf[NAME_MAX_LEN];
};

/* 0, or -EINVAL: malformed (has '@' but not the Kerberos form), or -ENOSPC. */
static int kname_parse(const char *name, size_t len, struct kname *k)
{
	const char *at, *slash;
	size_t i;

	if (len >= sizeof(k->buf))
		return -ENOSPC;
	memcpy(k->buf, name, len);
	k->buf[len] = '\0';
	if (memchr(k->buf, '\0', len))
		return -EINVAL;
	k->host = k->realm = NULL;
	k->service = k->buf;
	at = strchr(k->buf, '@');
	if (!at)
		return 0;
	/* One '@'; before it at most one '/'; nothing after it has '/' or '@'. */
	if (strpbrk(at + 1, "/@"))
		return -EINVAL;
	slash = memchr(k->buf, '/', (size_t)(at - k->buf));
	if (slash && memchr(slash + 1, '/', (size_t)(at - slash - 1)))
		return -EINVAL;
	i = (size_t)(at - k->buf);
	k->buf[i] = '\0';
	k->realm = k->buf + i + 1;
	if (slash) {
		k->buf[slash - k->buf] = '\0';
		k->host = slash + 1;
	}
	return 0;
}

bool dp_krb_name_valid(const char *id, size_t len)
{
	struct kname k;

	return kname_parse(id, len, &k) == 0;
}

/* ---- rules ---- */

static void rule_free(struct rule *r)
{
	free(r->format);
	free(r->to);
	if (r->has_match)
		regfree(&r->match);
	if (r->has_sub)
		regfree(&r->from);
}

void dp_krb_rules_free(struct dp_krb_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		rule_free(&r->v[i]);
	free(r->v);
	free(r->default_realm);
	free(r);
}

/* Copies [p, end) up to the first stop character into *out; returns the stop or NULL. */
static const char *take_until(const char *p, char stop, char **out)
{
	const char *e = strchr(p, stop);

	if (!e)
		return NULL;
	*out = strndup(p, (size_t)(e - p));
	return *out ? e : NULL;
}

static int compile(regex_t *re, const char *pat, bool whole, char *err, size_t errlen)
{
	size_t n = strlen(pat) + 8;
	char *full = malloc(n);
	int rc;

	if (!full)
		return -ENOMEM;
	snprintf(full, n, whole ? "^(%s)$" : "%s", pat);
	rc = regcomp(re, full, REG_EXTENDED);
	free(full);
	if (rc) {
		snprintf(err, errlen, "security.auth_to_local: bad regular expression \"%s\"", pat);
		return -EINVAL;
	}
	return 0;
}

/* One RULE:[n:fmt](match)s/from/to/g at *pp (after "RULE:"). */
static int parse_rule(const char **pp, struct rule *r, char *err, size_t errlen)
{
	const char *p = *pp;
	char *tmp = NULL;
	int rc = -EINVAL;

	if (*p++ != '[' || !isdigit((unsigned char)*p))
		goto bad;
	r->ncomp = 0;
	while (isdigit((unsigned char)*p)) {
		if (r->ncomp > 1000)
			goto bad;
		r->ncomp = r->ncomp * 10 + (*p++ - '0');
	}
	if (*p++ != ':')
		goto bad;
	p = take_until(p, ']', &r->format);
	if (!p)
		goto bad;
	p++;
	if (*p == '(') {
		p = take_until(p + 1, ')', &tmp);
		if (!p)
			goto bad;
		p++;
		rc = compile(&r->match, tmp, true, err, errlen);
		free(tmp);
		tmp = NULL;
		if (rc)
			return rc;
		r->has_match = true;
		rc = -EINVAL;
	}
	if (p[0] == 's' && p[1] == '/') {
		p = take_until(p + 2, '/', &tmp);
		if (!p)
			goto bad;
		p = take_until(p + 1, '/', &r->to);
		if (!p)
			goto bad;
		p++;
		rc = compile(&r->from, tmp, false, err, errlen);
		free(tmp);
		tmp = NULL;
		if (rc)
			return rc;
		r->has_sub = true;
		if (*p == 'g') {
			r->repeat = true;
			p++;
		}
	}
	*pp = p;
	return 0;
bad:
	free(tmp);
	snprintf(err, errlen, "security.auth_to_local: invalid rule: %.120s", *pp - 5);
	return rc;
}

int dp_krb_rules_parse(const char *text, const char *default_realm, struct dp_krb_rules **out,
		       char *err, size_t errlen)
{
	struct dp_krb_rules *r = calloc(1, sizeof(*r));
	const char *p = text ? text : "DEFAULT";
	int rc = 0;

	if (!r)
		return -ENOMEM;
	r->default_realm = strdup(default_realm ? default_realm : "");
	if (!r->default_realm) {
		free(r);
		return -ENOMEM;
	}
	for (;;) {
		struct rule *v;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		v = realloc(r->v, (r->n + 1) * sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
			break;
		}
		r->v = v;
		memset(&v[r->n], 0, sizeof(*v));
		r->n++;
		if (!strncmp(p, "DEFAULT", 7)) {
			v[r->n - 1].is_default = true;
			p += 7;
		} else if (!strncmp(p, "RULE:", 5)) {
			p += 5;
			rc = parse_rule(&p, &v[r->n - 1], err, errlen);
			if (rc)
				break;
		} else {
			snprintf(err, errlen, "security.auth_to_local: invalid rule: %.120s", p);
			rc = -EINVAL;
			break;
		}
	}
	if (rc) {
		dp_krb_rules_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* Appends s[0..n) to out; -ENOSPC past cap. */
static int put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (n >= cap - *len)
		return -ENOSPC;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

/* replaceParameters: $N -> params[N]. */
static int format_params(const char *fmt, const char *const *params, int nparams, char *out,
			 size_t cap)
{
	size_t len = 0;

	out[0] = '\0';
	for (const char *p = fmt; *p;) {
		if (*p != '$') {
			if (put(out, cap, &len, p++, 1))
				return -ENOSPC;
			continue;
		}
		p++;
		if (!isdigit((unsigned char)*p))
			continue; /* "$" without digits: Java appends nothing */
		int num = 0;
		while (isdigit((unsigned char)*p)) {
			if (num > 1000)
				return -EINVAL;
			num = num * 10 + (*p++ - '0');
		}
		if (num >= nparams)
			return -EINVAL;
		if (put(out, cap, &len, params[num], strlen(params[num])))
			return -ENOSPC;
	}
	return 0;
}

/* Matcher.replaceFirst / replaceAll with $N groups in `to`. */
static int substitute(const regex_t *re, const char *to, bool all, const char *in, char *out,
		      size_t cap)
{
	regmatch_t m[10];
	size_t len = 0;
	const char *p = in;
	int flags = 0;

	out[0] = '\0';
	while (*p && !regexec(re, p, 10, m, flags)) {
		if (put(out, cap, &len, p, (size_t)m[0].rm_so))
			return -ENOSPC;
		for (const char *t = to; *t; t++) {
			if (*t == '\\' && t[1]) {
				t++;
				if (put(out, cap, &len, t, 1))
					return -ENOSPC;
			} else if (*t == '$' && isdigit((unsigned char)t[1])) {
				int g = *++t - '0';
				if (g >= 10 || m[g].rm_so < 0)
					return -EINVAL;
				if (put(out, cap, &len, p + m[g].rm_so,
					(size_t)(m[g].rm_eo - m[g].rm_so)))
					return -ENOSPC;
			} else if (put(out, cap, &len, t, 1)) {
				return -ENOSPC;
			}
		}
		if (m[0].rm_eo == m[0].rm_so) {
			/* An empty match: copy one character and go on. */
			if (!p[m[0].rm_eo])
				break;
			if (put(out, cap, &len, p + m[0].rm_eo, 1))
				return -ENOSPC;
			p += m[0].rm_eo + 1;
		} else {
			p += m[0].rm_eo;
		}
		flags = REG_NOTBOL;
		if (!all)
			break;
	}
	return put(out, cap, &len, p, strlen(p));
}

/*
 * Rule.apply: 1 and out set when the rule gives a name, 0 when it does
 * not apply, -EINVAL for a non-simple result or a bad format.
 */
static int rule_apply(const struct dp_krb_rules *rs, const struct rule *r,
		      const char *const *params, int nparams, char *out, size_t cap)
{
	char base[NAME_MAX_LEN];
	int rc;

	if (r->is_default) {
		if (strcmp(rs->default_realm, params[0]))
			return 0;
		if (strlen(params[1]) >= cap)
			return -ENOSPC;
		strcpy(out, params[1]);
	} else {
		if (nparams - 1 != r->ncomp)
			return 0;
		rc = format_params(r->format, params, nparams, base, sizeof(base));
		if (rc)
			return rc;
		if (r->has_match && regexec(&r->match, base, 0, NULL, 0))
			return 0;
		if (r->has_sub) {
			rc = substitute(&r->from, r->to, r->repeat, base, out, cap);
			if (rc)
				return rc;
		} else {
			if (strlen(base) >= cap)
				return -ENOSPC;
			strcpy(out, base);
		}
	}
	return strpbrk(out, "/@") ? -EINVAL : 1;
}

int dp_krb_authorized_id(const struct dp_krb_rules *r, const char *authcid, const char *authzid,
			 bool remove_host, bool remove_realm, char *out, size_t cap)
{
	struct kname k;
	char shortname[NAME_MAX_LEN];
	const char *params[3];
	size_t len = 0;
	int rc = kname_parse(authcid, strlen(authcid), &k);

	if (rc)
		return rc;
	if (!k.realm) {
		snprintf(shortname, sizeof(shortname), "%s", k.service);
		rc = 1;
	} else {
		int nparams = k.host ? 3 : 2;

		params[0] = k.realm;
		params[1] = k.service;
		params[2] = k.host;
		rc = 0;
		for (size_t i = 0; r && i < r->n && rc == 0; i++)
			rc = rule_apply(r, &r->v[i], params, nparams, shortname, sizeof(shortname));
	}
	if (rc <= 0) {
		/* NoMatchingRule / a bad rule: the authorization id stays. */
		const char *keep = authzid && *authzid ? authzid : authcid;
		if (strlen(keep) >= cap)
			return -ENOSPC;
		strcpy(out, keep);
		return 0;
	}
	out[0] = '\0';
	if (put(out, cap, &len, shortname, strlen(shortname)))
		return -ENOSPC;
	if (!remove_host && k.host &&
	    (put(out, cap, &len, "/", 1) || put(out, cap, &len, k.host, strlen(k.host))))
		return -ENOSPC;
	if (!remove_realm && k.realm &&
	    (put(out, cap, &len, "@", 1) || put(out, cap, &len, k.realm, strlen(k.realm))))
		return -ENOSPC;
	return 0;
}
