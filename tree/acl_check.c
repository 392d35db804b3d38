/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Access control as ZooKeeper does it: ZooKeeperServer.checkACL (may this
 * session do perm on a node with this ACL?) and PrepRequestProcessor
 * .fixupACL (is this ACL list acceptable for a create/setACL, and what
 * does "auth" expand to?), with the two built-in authentication providers
 * of ProviderRegistry:
 *
 *  - digest (DigestAuthenticationProvider): authenticated; an id is valid
 *    when Java's id.split(":") yields two fields (so "a:b", ":b" and
 *    "a:b::" are valid, "a:" and "a:b:c" are not); ids match exactly.
 *  - ip (IPAuthenticationProvider, IPv6-aware version): not
 *    authenticated; an id is "addr[/bits]" where addr is IPv4 dotted quad
 *    (any string with a '.' and no ':') or IPv6 (any string with a ':':
 *    eight hex groups or one "::"); a session's ip id matches when both
 *    addresses have the same family and agree in the first bits bits.
 *
 * Numbers are parsed as Java's Integer.parseInt does (optional sign,
 * leading zeros, overflow is an error) except that only ASCII digits are
 * accepted: Java also takes other Unicode decimal digits, whose set
 * depends on the JDK's Unicode version.
 *
 *  - sasl (SASLAuthenticationProvider), only when configured
 *    (tree_acl_set_sasl): authenticated; an id is valid when it parses as
 *    a KerberosName (no '@', or "name[/host]@realm" with no other '/' or
 *    '@'); a session's sasl id matches an entry with the same id, and
 *    the session's sasl id "super" matches every sasl entry, as does any
 *    sasl id an entry naming zookeeper.letAnySaslUserDoX.
 *
 *  - x509 (X509AuthenticationProvider): ids are TLS client certificates'
 *    subject DNs (dataplane/io/tls.c) and match exactly.
 *
 * world:anyone is special-cased by both checks; any other "world" id, and
 * every scheme without a provider (sasl, super, ...), is refused by
 * fixupACL and never matches in checkACL.  A session holding a "super" id
 * (or auth->super) passes every check.
 *
 * Cost, since a client controls both sides (up to TREE_AUTH_MAX_IDS
 * identities, ACLs of tens of thousands of entries): checkACL finds a
 * session's digest ids through a hash index (the session's own, kept by
 * the dataplane as ids are added), so a check is O(ids + ACL bytes) where
 * ZooKeeper's is O(ids x entries); fixupACL's "auth" expansion is
 * entries x ids and is cut off at the caller's byte bound.
 *
 * Pure functions of their arguments; any thread.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prep_priv.h"
#include "tree_priv.h"

/* ---- Java Integer.parseInt ---- */

static int digit_value(uint8_t c, int radix)
{
	int d;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'z')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'Z')
		d = c - 'A' + 10;
	else
		return -1;
	return d < radix ? d : -1;
}

/* False where Java throws NumberFormatException. */
static bool parse_java_int(const uint8_t *p, size_t n, int radix, int32_t *out)
{
	bool neg = false;
	int64_t v = 0;
	size_t i = 0;

	if (n == 0)
		return false;
	if (p[0] == '-' || p[0] == '+') {
		if (n == 1)
			return false;
		neg = p[0] == '-';
		i = 1;
	}
	for (; i < n; i++) {
		int d = digit_value(p[i], radix);
		if (d < 0)
			return false;
		v = v * radix + d;
		if (v > (int64_t)INT32_MAX + 1)
			return false;
	}
	if (neg)
		v = -v;
	if (v > INT32_MAX)
		return false;
	*out = (int32_t)v;
	return true;
}

/* ---- ip provider ---- */

static bool parse_v4(const uint8_t *p, size_t n, uint8_t addr[16])
{
	size_t start = 0;
	int part = 0;

	/* addr.split("\\.", -1) must give exactly four parts. */
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '.')
			continue;
		int32_t v;
		if (part == 4 || !parse_java_int(p + start, i - start, 10, &v) || v < 0 || v > 255)
			return false;
		addr[part++] = (uint8_t)v;
		start = i + 1;
	}
	return part == 4;
}

/* Parses ':'-separated hex groups into addr at *pos; false on any bad group. */
static bool parse_v6_groups(const uint8_t *p, size_t n, uint8_t addr[16], size_t pos,
			    size_t *ngroups, bool store)
{
	size_t start = 0, count = 0;

	if (n == 0) {
		*ngroups = 0;
		return true;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != ':')
			continue;
		size_t len = i - start;
		int32_t v;
		/* empty segment, segment too long, bad hex (a sign is allowed) */
		if (len == 0 || len > 4 || !parse_java_int(p + start, len, 16, &v))
			return false;
		if (store) {
			if (pos + 2 > 16)
				return false;
			addr[pos++] = (uint8_t)((uint32_t)v >> 8);
			addr[pos++] = (uint8_t)v;
		}
		count++;
		start = i + 1;
	}
	*ngroups = count;
	return true;
}

/* IPAuthenticationProvider.parseV6addr. */
static bool parse_v6(const uint8_t *p, size_t n, uint8_t addr[16])
{
	size_t cut = n, nparts = 1, n1, n2;

	/* ipv6Addr.split("::", -1): non-overlapping, left to right. */
	for (size_t i = 0; i + 1 < n;) {
		if (p[i] == ':' && p[i + 1] == ':') {
			if (nparts == 1)
				cut = i;
			nparts++;
			i += 2;
		} else {
			i++;
		}
	}
	memset(addr, 0, 16);
	if (nparts == 1) {
		if (!parse_v6_groups(p, n, addr, 0, &n1, false) || n1 != 8)
			return false;
		return parse_v6_groups(p, n, addr, 0, &n1, true);
	}
	if (nparts != 2)
		return false;
	const uint8_t *tail = p + cut + 2;
	size_t tail_len = n - cut - 2;
	if (!parse_v6_groups(p, cut, addr, 0, &n1, false) ||
	    !parse_v6_groups(tail, tail_len, addr, 0, &n2, false) || n1 + n2 >= 8)
		return false;
	return parse_v6_groups(p, cut, addr, 0, &n1, true) &&
	       parse_v6_groups(tail, tail_len, addr, 16 - 2 * n2, &n2, true);
}

/* addr2Bytes: IPv6 if there is a ':', else IPv4 if there is a '.'; returns the length or 0. */
static size_t addr_to_bytes(const uint8_t *p, size_t n, uint8_t addr[16])
{
	if (n == 0)
		return 0;
	if (memchr(p, ':', n))
		return parse_v6(p, n, addr) ? 16 : 0;
	if (memchr(p, '.', n))
		return parse_v4(p, n, addr) ? 4 : 0;
	return 0;
}

/* Parses "addr[/bits]" (id.split("/", 2)); returns the address length or 0. */
static size_t parse_ip_expr(struct jute_buf id, uint8_t addr[16], int32_t *bits)
{
	const uint8_t *slash = id.len > 0 ? memchr(id.p, '/', (size_t)id.len) : NULL;
	size_t alen = slash ? (size_t)(slash - id.p) : (size_t)id.len;
	size_t len = addr_to_bytes(id.p, alen, addr);

	if (!len)
		return 0;
	*bits = (int32_t)len * 8;
	if (slash) {
		size_t blen = (size_t)id.len - alen - 1;
		if (!parse_java_int(slash + 1, blen, 10, bits) || *bits < 0 ||
		    *bits > (int32_t)len * 8)
			return 0;
	}
	return len;
}

static void mask_bits(uint8_t *b, size_t len, int32_t bits)
{
	size_t start = (size_t)bits / 8;
	uint8_t m = (uint8_t)~((1u << (8 - bits % 8)) - 1);

	for (; start < len; start++) {
		b[start] &= m;
		m = 0;
	}
}

static bool ip_valid(struct jute_buf id)
{
	uint8_t addr[16];
	int32_t bits;

	return id.len >= 0 && parse_ip_expr(id, addr, &bits) != 0;
}

static bool ip_matches(struct jute_buf id, struct jute_buf expr)
{
	uint8_t acl[16], remote[16];
	int32_t bits;
	size_t alen, rlen;

	if (id.len < 0 || expr.len < 0 || !(alen = parse_ip_expr(expr, acl, &bits)))
		return false;
	mask_bits(acl, alen, bits);
	rlen = addr_to_bytes(id.p, (size_t)id.len, remote);
	if (!rlen)
		return false;
	mask_bits(remote, rlen, bits);
	return rlen == alen && memcmp(remote, acl, alen) == 0;
}

/* ---- digest provider ---- */

static bool digest_valid(struct jute_buf id)
{
	size_t n = id.len > 0 ? (size_t)id.len : 0;
	size_t colons = 0;

	/* Java's split drops trailing empty fields; two fields must remain. */
	while (n > 0 && id.p[n - 1] == ':')
		n--;
	for (size_t i = 0; i < n; i++)
		colons += id.p[i] == ':';
	return n > 0 && colons == 1;
}

static bool buf_same(struct jute_buf a, struct jute_buf b)
{
	return a.len == b.len && (a.len <= 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

static bool digest_matches(struct jute_buf id, struct jute_buf expr)
{
	return id.len >= 0 && buf_same(id, expr);
}

/* ---- sasl provider ---- */

static bool sasl_enabled;
static const char *sasl_let_any;

void tree_acl_set_sasl(bool enabled, const char *let_any_user)
{
	sasl_enabled = enabled;
	sasl_let_any = let_any_user;
}

/* KerberosName's constructor: "([^/@]*)(/([^/@]*))?@([^/@]*)" or no '@'. */
static bool sasl_valid(struct jute_buf id)
{
	const uint8_t *at, *slash;
	size_t n;

	if (id.len < 0)
		return false;
	n = (size_t)id.len;
	at = memchr(id.p, '@', n);
	if (!at)
		return true;
	if (memchr(at + 1, '@', n - (size_t)(at - id.p) - 1) ||
	    memchr(at + 1, '/', n - (size_t)(at - id.p) - 1))
		return false;
	slash = memchr(id.p, '/', (size_t)(at - id.p));
	return !slash || !memchr(slash + 1, '/', (size_t)(at - slash - 1));
}

static bool sasl_matches(struct jute_buf id, struct jute_buf expr)
{
	if (id.len < 0 || expr.len < 0)
		return false;
	if (jute_buf_eq(id, "super") || buf_same(id, expr))
		return true;
	return sasl_let_any && jute_buf_eq(expr, sasl_let_any);
}

/* ---- ProviderRegistry ---- */

struct provider {
	const char *scheme;
	bool authenticated;
	bool (*valid)(struct jute_buf id);
	bool (*matches)(struct jute_buf id, struct jute_buf expr);
};

/*
 * x509 (X509AuthenticationProvider): authenticated; ids match exactly
 * (the superUser's "super" id passes every check anyway).  ZooKeeper
 * validates an id with new X500Principal(id); here it must be a
 * non-empty "type=value[,...]" text, which every DN X500Principal
 * accepts is, and an id that is no DN can never match a certificate.
 */
static bool x509_valid(struct jute_buf id)
{
	return id.len > 0 && memchr(id.p, '=', (size_t)id.len) != NULL;
}

/* Not digest_matches itself: that one is looked up through the digest index. */
static bool x509_matches(struct jute_buf id, struct jute_buf expr)
{
	return id.len >= 0 && buf_same(id, expr);
}

static const struct provider providers[] = {
	{ "ip", false, ip_valid, ip_matches },
	{ "digest", true, digest_valid, digest_matches },
};

static const struct provider sasl_provider = { "sasl", true, sasl_valid, sasl_matches };
static const struct provider x509_provider = { "x509", true, x509_valid, x509_matches };

/* ZooKeeper registers X509AuthenticationProvider only with TLS or authProvider.N. */
static bool x509_enabled;

void tree_acl_set_x509(bool enabled)
{
	x509_enabled = enabled;
}

static const struct provider *find_provider(struct jute_buf scheme)
{
	if (sasl_enabled && jute_buf_eq(scheme, "sasl"))
		return &sasl_provider;
	if (x509_enabled && jute_buf_eq(scheme, "x509"))
		return &x509_provider;
	for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		if (jute_buf_eq(scheme, providers[i].scheme))
			return &providers[i];
	return NULL;
}

static bool is_world_anyone(const struct jute_acl *a)
{
	return jute_buf_eq(a->scheme, "world") && jute_buf_eq(a->id, "anyone");
}

/* ---- checkACL ---- */

/* Below this many ids a plain scan is cheaper than building an index. */
#define SCAN_IDS 8
#define INDEX_SLOTS (2 * TREE_AUTH_MAX_IDS)

uint32_t tree_auth_hash(struct jute_buf scheme, struct jute_buf id)
{
	/* FNV-1a over scheme, a byte that is never UTF-8 text, and id. */
	uint32_t h = 2166136261u;

	for (int32_t i = 0; i < scheme.len; i++)
		h = (h ^ scheme.p[i]) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (int32_t i = 0; i < id.len; i++)
		h = (h ^ id.p[i]) * 16777619u;
	return h;
}

/*
 * The ids of one check, sorted for lookups: digest ids found through a
 * slot table (auth->slots, or one built here), the others (ip: one per
 * session) in a short list.
 */
struct id_index {
	const uint8_t *slots;
	uint32_t mask;
	uint8_t other[TREE_AUTH_MAX_IDS];
	uint32_t nother;
	uint8_t own[INDEX_SLOTS];
};

static void index_build(struct id_index *x, const struct tree_auth *auth)
{
	_Static_assert(TREE_AUTH_MAX_IDS < 256, "slots hold index + 1 in a byte");
	assert(auth->n <= TREE_AUTH_MAX_IDS);
	assert(!auth->slots || (auth->nslots >= 2 * auth->n &&
				!(auth->nslots & (auth->nslots - 1))));
	x->nother = 0;
	for (uint32_t i = 0; i < auth->n; i++)
		if (!jute_buf_eq(auth->ids[i].scheme, "digest"))
			x->other[x->nother++] = (uint8_t)i;
	if (auth->slots) {
		x->slots = auth->slots;
		x->mask = auth->nslots - 1;
		return;
	}
	memset(x->own, 0, sizeof(x->own));
	x->slots = x->own;
	x->mask = INDEX_SLOTS - 1;
	for (uint32_t i = 0; i < auth->n; i++) {
		const struct tree_auth_id *a = &auth->ids[i];
		uint32_t j = tree_auth_hash(a->scheme, a->id) & x->mask;
		while (x->own[j])
			j = (j + 1) & x->mask;
		x->own[j] = (uint8_t)(i + 1);
	}
}

static bool index_has_digest(const struct id_index *x, const struct tree_auth *auth,
			     struct jute_buf expr)
{
	static const struct jute_buf digest = { (const uint8_t *)"digest", 6 };

	if (expr.len < 0)
		return false;
	for (uint32_t j = tree_auth_hash(digest, expr) & x->mask; x->slots[j];
	     j = (j + 1) & x->mask) {
		const struct tree_auth_id *a = &auth->ids[x->slots[j] - 1];
		if (buf_same(a->id, expr) && buf_same(a->scheme, digest))
			return true;
	}
	return false;
}

enum zk_err tree_acl_check(const struct jute_acl_list *acl, int32_t perm,
			   const struct tree_auth *auth)
{
	struct jute_acl_iter it;
	struct jute_acl a;
	uint32_t nids = auth ? auth->n : 0;
	struct id_index idx;
	bool indexed = nids <= TREE_AUTH_MAX_IDS && (nids > SCAN_IDS || (auth && auth->slots));

	if (!acl || acl->count <= 0)
		return ZK_OK;
	if (auth && auth->super)
		return ZK_OK;
	for (uint32_t i = 0; i < nids; i++)
		if (jute_buf_eq(auth->ids[i].scheme, "super"))
			return ZK_OK;
	if (indexed)
		index_build(&idx, auth);
	jute_acl_iter_init(&it, acl);
	while (jute_acl_next(&it, &a)) {
		if (!(a.perms & perm))
			continue;
		if (is_world_anyone(&a))
			return ZK_OK;
		const struct provider *prov = find_provider(a.scheme);
		if (!prov)
			continue;
		if (indexed && prov->matches == digest_matches) {
			if (index_has_digest(&idx, auth, a.id))
				return ZK_OK;
			continue;
		}
		for (uint32_t k = 0; k < (indexed ? idx.nother : nids); k++) {
			uint32_t i = indexed ? idx.other[k] : k;
			if (buf_same(auth->ids[i].scheme, a.scheme) &&
			    prov->matches(auth->ids[i].id, a.id))
				return ZK_OK;
		}
	}
	return ZK_NOAUTH;
}

int32_t tree_acl_world_perms(const struct jute_acl_list *acl)
{
	struct jute_acl_iter it;
	struct jute_acl a;
	int32_t world = 0;

	if (!acl)
		return 0;
	/* The same walk as tree_acl_check's: it stops where that one stops. */
	jute_acl_iter_init(&it, acl);
	while (jute_acl_next(&it, &a))
		if (is_world_anyone(&a))
			world |= a.perms;
	return world;
}

/* ---- fixupACL ---- */

static bool acl_same(const struct jute_acl *x, const struct jute_acl *y)
{
	return x->perms == y->perms && buf_same(x->scheme, y->scheme) && buf_same(x->id, y->id);
}

/* Null scheme or id (length -1) hash as their own value, not as bytes. */
static uint64_t buf_hash(struct jute_buf b)
{
	return b.len < 0 ? 0x5bd1e995u : tree_hash_path((const char *)b.p, (size_t)b.len);
}

static uint64_t acl_hash(const struct jute_acl *a)
{
	uint64_t h = buf_hash(a->scheme);

	h ^= buf_hash(a->id) * 0x9e3779b97f4a7c15ULL;
	return h ^ (uint32_t)a->perms;
}

/*
 * removeDuplicates: keeps the first of equal entries, in order.  A hash
 * index keeps it linear; a request may carry tens of thousands of entries.
 * Returns the number kept, or -ENOMEM.
 */
static int32_t dedup(struct jute_acl *v, int32_t n)
{
	uint32_t cap = 16, *slot;
	int32_t kept = 0;

	while (cap < (uint32_t)n * 2)
		cap *= 2;
	slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	for (int32_t i = 0; i < n; i++) {
		uint32_t j = (uint32_t)acl_hash(&v[i]) & (cap - 1);
		bool dup = false;
		for (; slot[j]; j = (j + 1) & (cap - 1)) {
			if (acl_same(&v[slot[j] - 1], &v[i])) {
				dup = true;
				break;
			}
		}
		if (dup)
			continue;
		v[kept] = v[i];
		slot[j] = (uint32_t)++kept;
	}
	free(slot);
	return kept;
}

static void put_acl(struct jute_out *out, int32_t perms, struct jute_buf scheme, struct jute_buf id)
{
	jute_put_int(out, perms);
	jute_put_buf(out, scheme);
	jute_put_buf(out, id);
}

enum zk_err prep_fixup_acl(const struct jute_acl_list *acl, const struct tree_auth *auth,
			   size_t max_len, struct jute_out *out)
{
	struct jute_acl_iter it;
	struct jute_acl *v;
	int32_t n = 0, kept, written = 0;
	uint32_t nids = auth ? auth->n : 0;
	size_t start = out->len;
	enum zk_err rc = ZK_OK;

	if (!acl || acl->count <= 0)
		return ZK_INVALIDACL;
	v = malloc((size_t)acl->count * sizeof(*v));
	if (!v) {
		out->err = -ENOMEM;
		return ZK_OK;
	}
	jute_acl_iter_init(&it, acl);
	while (n < acl->count && jute_acl_next(&it, &v[n]))
		n++;
	kept = dedup(v, n);
	if (kept < 0) {
		free(v);
		out->err = -ENOMEM;
		return ZK_OK;
	}
	jute_put_int(out, 0); /* the count, patched below */
	for (int32_t i = 0; i < kept && rc == ZK_OK; i++) {
		const struct jute_acl *a = &v[i];
		const struct provider *prov;

		if (is_world_anyone(a)) {
			put_acl(out, a->perms, a->scheme, a->id);
			written++;
		} else if (jute_buf_eq(a->scheme, "auth")) {
			/* The entry's own id is ignored: it stands for the caller. */
			bool any = false;
			for (uint32_t j = 0; j < nids; j++) {
				prov = find_provider(auth->ids[j].scheme);
				if (!prov || !prov->authenticated)
					continue;
				put_acl(out, a->perms, auth->ids[j].scheme, auth->ids[j].id);
				written++;
				any = true;
				if (out->len - start > max_len)
					break; /* refused below */
			}
			if (!any)
				rc = ZK_INVALIDACL;
		} else {
			prov = find_provider(a->scheme);
			if (!prov || !prov->valid(a->id)) {
				rc = ZK_INVALIDACL;
			} else {
				put_acl(out, a->perms, a->scheme, a->id);
				written++;
			}
		}
		if (rc == ZK_OK && out->len - start > max_len)
			rc = ZK_INVALIDACL; /* "auth" expanded beyond the bound */
	}
	free(v);
	if (rc != ZK_OK) {
		if (!out->err)
			out->len = start;
		return rc;
	}
	if (!out->err)
		jute_put_be32(out->buf + start, (uint32_t)written);
	return ZK_OK;
}
