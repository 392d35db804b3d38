/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A session's identities (ServerCnxn.authInfo): the "ip" identity given
 * at connect, "digest" identities added by auth packets, "super" when the
 * superDigest matched.  Bounded (TREE_AUTH_MAX_IDS ids, jute.maxbuffer
 * bytes), indexed by hash for ACL checks, and put into ZooKeeper's
 * iteration order (java_hash.c) only when someone needs the order.
 *
 * Thread: the worker owning the session.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ring.h"
#include "config/config.h"
#include "dataplane/session/session_priv.h"

/* ================================================================== */
/* Identities (ServerCnxn.authInfo)                                    */
/* ================================================================== */

/*
 * The order ZooKeeper iterates a session's identities in (fixupACL's
 * "auth" expansion, whoAmI): ServerCnxn.authInfo is a set backed by a
 * ConcurrentHashMap, so it is bin order, bin = spread(Id.hashCode()) &
 * (table - 1), insertion order within a bin; the table starts at 16 and
 * doubles when it reaches 3/4 full.  Exact up to 12 ids; beyond the first
 * resize CHM's list split can reorder a bin, which is not reproduced.
 *
 * Cost (issue 8: 20,000 addAuth took 35 s when each add re-sorted and
 * scanned the whole set): an add is one probe of a hash index and an
 * append; the order is computed only when whoAmI or a write needs it.  A
 * session holds at most TREE_AUTH_MAX_IDS ids and jute.maxbuffer bytes of
 * them, because every write copies them to the core and every "auth" ACL
 * entry expands to all of them; the add beyond is AUTHFAILED, the one
 * error an addAuth reply can carry that clients act on (the Java client
 * ignores any other), and the connection closes as ZooKeeper closes it
 * after AUTHFAILED.
 */

#define AUTH_SLOTS (2 * TREE_AUTH_MAX_IDS)

/*
 * The slot of (scheme, id) in s->auth_slot: the one holding it, or the
 * empty one where it would go.  The table is at most half full, so the
 * probe ends.
 */
static uint32_t auth_slot_of(const struct dp_sess *s, const char *scheme, size_t sl, const char *id,
			     size_t il)
{
	struct jute_buf sb = { (const uint8_t *)scheme, (int32_t)sl };
	struct jute_buf ib = { (const uint8_t *)id, (int32_t)il };
	uint32_t j = tree_auth_hash(sb, ib) & (AUTH_SLOTS - 1);

	_Static_assert(TREE_AUTH_MAX_IDS < 256, "auth_slot holds index + 1 in a byte");
	_Static_assert(sizeof(((struct dp_sess *)0)->auth_slot) == AUTH_SLOTS, "table size");
	for (; s->auth_slot[j]; j = (j + 1) & (AUTH_SLOTS - 1)) {
		const struct tree_auth_id *a = &s->auth[s->auth_slot[j] - 1];
		if ((size_t)a->scheme.len == sl && (size_t)a->id.len == il &&
		    !memcmp(a->scheme.p, scheme, sl) && !memcmp(a->id.p, id, il))
			break;
	}
	return j;
}

static void auth_reindex(struct dp_sess *s)
{
	memset(s->auth_slot, 0, sizeof(s->auth_slot));
	for (uint32_t i = 0; i < s->nauth; i++) {
		const struct tree_auth_id *a = &s->auth[i];
		uint32_t j = auth_slot_of(s, (const char *)a->scheme.p, (size_t)a->scheme.len,
					  (const char *)a->id.p, (size_t)a->id.len);
		assert(!s->auth_slot[j]); /* a set: no duplicates */
		s->auth_slot[j] = (uint8_t)(i + 1);
	}
}

/*
 * Stable sort by bin for the current table size.  Sorting the array
 * again after more adds gives the same result as sorting insertion order
 * once: the table only grows, and a bin for a larger table determines
 * the bin for a smaller one, so ties keep insertion order.
 */
const struct tree_auth_id *dp_sess_auth_ordered(struct dp_sess *s)
{
	uint32_t bins[TREE_AUTH_MAX_IDS], table = 16;

	if (s->auth_ordered)
		return s->auth;
	assert(s->nauth <= TREE_AUTH_MAX_IDS);
	while (s->nauth >= table / 4 * 3)
		table *= 2;
	for (uint32_t i = 0; i < s->nauth; i++)
		bins[i] = dp_java_chm_bin(&s->auth[i], table);
	for (uint32_t i = 1; i < s->nauth; i++) {
		struct tree_auth_id cur = s->auth[i];
		uint32_t bin = bins[i], j = i;

		while (j > 0 && bins[j - 1] > bin) {
			s->auth[j] = s->auth[j - 1];
			bins[j] = bins[j - 1];
			j--;
		}
		s->auth[j] = cur;
		bins[j] = bin;
	}
	auth_reindex(s);
	s->auth_ordered = true;
	return s->auth;
}

/*
 * Adds an identity unless present (authInfo is a set).  0, -ENOSPC
 * beyond TREE_AUTH_MAX_IDS or max_bytes of identities, or -ENOMEM.
 */
int dp_sess_auth_add(struct dp_sess *s, const char *scheme, size_t sl, const char *id, size_t il,
		     size_t max_bytes)
{
	uint32_t j = auth_slot_of(s, scheme, sl, id, il);
	char *mem;

	if (s->auth_slot[j])
		return 0;
	if (s->nauth == TREE_AUTH_MAX_IDS || sl + il > max_bytes ||
	    s->auth_bytes > max_bytes - sl - il)
		return -ENOSPC;
	if (s->nauth == s->auth_cap) {
		uint32_t nc = s->auth_cap ? s->auth_cap * 2 : 4;
		struct tree_auth_id *n = realloc(s->auth, (size_t)nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->auth = n;
		s->auth_cap = nc;
	}
	mem = malloc(sl + il + 2);
	if (!mem)
		return -ENOMEM;
	memcpy(mem, scheme, sl);
	mem[sl] = '\0';
	memcpy(mem + sl + 1, id, il);
	mem[sl + 1 + il] = '\0';
	s->auth[s->nauth].scheme = (struct jute_buf){ (const uint8_t *)mem, (int32_t)sl };
	s->auth[s->nauth].id = (struct jute_buf){ (const uint8_t *)mem + sl + 1, (int32_t)il };
	s->nauth++;
	s->auth_slot[j] = (uint8_t)s->nauth;
	s->auth_bytes += (uint32_t)(sl + il);
	/* One id (the connection's ip) is in order by itself. */
	s->auth_ordered = s->nauth == 1;
	return 0;
}

void dp_sess_auth_free(struct dp_sess *s)
{
	for (uint32_t i = 0; i < s->nauth; i++)
		free((void *)s->auth[i].scheme.p);
	free(s->auth);
	s->auth = NULL;
	s->nauth = s->auth_cap = s->auth_bytes = 0;
	memset(s->auth_slot, 0, sizeof(s->auth_slot));
}

/* dp_sess_auth_add for dp_sess_auth: ZK_OK, or ZK_AUTHFAILED (logged) past the bounds. */
static int32_t auth_add_checked(struct dp_sess *s, const char *scheme, size_t sl, const char *id,
				size_t il)
{
	int rc = dp_sess_auth_add(s, scheme, sl, id, il, s->p->max_frame);

	if (rc == -ENOSPC)
		log_warn("Session 0x%016llx: auth for scheme %s refused: a session may hold %d "
			 "identities of at most %u bytes in all (it has %u, %u bytes; this one is "
			 "%zu bytes) (client %s)",
			 sid(s), scheme, TREE_AUTH_MAX_IDS, s->p->max_frame, s->nauth,
			 s->auth_bytes, sl + il, dp_conn_peer(s->conn));
	else if (rc)
		log_error("Session 0x%016llx: out of memory adding an identity (client %s)", sid(s),
			  dp_conn_peer(s->conn));
	return rc ? ZK_AUTHFAILED : ZK_OK;
}

bool dp_sess_auth_enforced(struct dp_sess *s)
{
	const struct cfg *c = s->p->cfg;

	if (s->auth_enforced || !c || !c->enforce_auth)
		return true;
	/* isCnxnAuthenticated: any id whose scheme is one of the list (split on ',', trimmed). */
	for (uint32_t i = 0; i < s->nauth && !s->auth_enforced; i++) {
		const char *p = c->enforce_schemes ? c->enforce_schemes : "";
		while (*p) {
			size_t n = strcspn(p, ","), a = 0, b = n;
			while (a < b && (unsigned char)p[a] <= ' ')
				a++;
			while (b > a && (unsigned char)p[b - 1] <= ' ')
				b--;
			if ((int32_t)(b - a) == s->auth[i].scheme.len &&
			    !memcmp(p + a, s->auth[i].scheme.p, b - a)) {
				s->auth_enforced = true;
				break;
			}
			p += n + (p[n] ? 1 : 0);
		}
	}
	return s->auth_enforced;
}

int32_t dp_sess_auth(struct dp_sess *s, const struct proto_auth_req *a)
{
	struct dp_proto *p = s->p;
	char scheme[64];

	snprintf(scheme, sizeof(scheme), "%.*s", a->scheme.len > 0 ? (int)a->scheme.len : 0,
		 a->scheme.len > 0 ? (const char *)a->scheme.p : "");
	if (jute_buf_eq(a->scheme, "digest") && a->auth.len >= 0) {
		char *id = malloc((size_t)a->auth.len * 3 + 32);
		size_t n;

		if (!id)
			return ZK_AUTHFAILED;
		n = dp_digest_id(a->auth.p, (size_t)a->auth.len, id);
		if (!n || auth_add_checked(s, "digest", 6, id, n) != ZK_OK) {
			free(id);
			return ZK_AUTHFAILED;
		}
		if (p->super_digest && strlen(p->super_digest) == n && !memcmp(p->super_digest, id, n)) {
			if (auth_add_checked(s, "super", 5, "", 0) != ZK_OK) {
				free(id);
				return ZK_AUTHFAILED;
			}
			s->super = true;
		}
		free(id);
	} else if (jute_buf_eq(a->scheme, "ip")) {
		/* IPAuthenticationProvider: the connection's own address. */
		char ip[64];
		dp_java_host_address(dp_conn_peer_ip(s->conn), ip, sizeof(ip));
		if (auth_add_checked(s, "ip", 2, ip, strlen(ip)) != ZK_OK)
			return ZK_AUTHFAILED;
	} else {
		log_warn("No authentication provider for scheme: %s has [ip, digest] "
			 "(client %s, session 0x%016llx)",
			 scheme, dp_conn_peer(s->conn), sid(s));
		return ZK_AUTHFAILED;
	}
	log_info("Session 0x%016llx: auth success for scheme %s and address /%s", sid(s), scheme,
		 dp_conn_peer(s->conn));
	return ZK_OK;
}

int dp_sess_auth_x509(struct dp_sess *s)
{
	const char *id = dp_conn_x509_id(s->conn);
	const char *su = s->p->cfg->tls.x509_super_user;
	size_t n;

	if (!id)
		return 0;
	n = strlen(id);
	assert(n < 65536); /* io/tls.c bounds it (DP_TLS_MAX_ID) */
	if (su && strcmp(su, id) == 0) {
		if (dp_sess_auth_add(s, "super", 5, id, n, SIZE_MAX))
			return -ENOMEM;
		s->super = true;
		log_info("Authenticated Id '%s' as super user (client %s)", id,
			 dp_conn_peer(s->conn));
	}
	return dp_sess_auth_add(s, "x509", 4, id, n, SIZE_MAX) ? -ENOMEM : 0;
}
