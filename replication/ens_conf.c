// SPDX-License-Identifier: Apache-2.0
/*
 * ens_conf.c - the ensemble's membership with addresses, as ZooKeeper's
 * QuorumVerifier holds it: what /zookeeper/config shows and what
 * zoo.cfg.dynamic.<version> persists (ens_conf.h).
 *
 * Invariants: members sorted by id, ids unique, at most RAFT_MAX_MEMBERS,
 * every string owned by the struct.  The text form is config/'s
 * cfg_dynamic_format(), which writes ZooKeeper 3.8's byte for byte (id
 * order; ZooKeeper's HashMap order is id order for the ids seen in
 * practice).
 */
#include "ens_conf.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int copy_server(struct cfg_server *dst, const struct cfg_server *src)
{
	*dst = *src;
	dst->host = strdup(src->host ? src->host : "");
	dst->client_host = src->client_host ? strdup(src->client_host) : NULL;
	if (!dst->host || (src->client_host && !dst->client_host)) {
		free(dst->host);
		free(dst->client_host);
		memset(dst, 0, sizeof(*dst));
		return -ENOMEM;
	}
	return 0;
}

int ens_members_from_cfg(struct ens_members *m, const struct cfg *c)
{
	memset(m, 0, sizeof(*m));
	if (c->n_servers > RAFT_MAX_MEMBERS)
		return -EINVAL;
	for (size_t i = 0; i < c->n_servers; i++) {
		assert(i == 0 || c->servers[i - 1].id < c->servers[i].id);
		if (copy_server(&m->s[i], &c->servers[i])) {
			ens_members_free(m);
			return -ENOMEM;
		}
		m->n = i + 1;
	}
	m->version = c->version;
	return 0;
}

void ens_members_free(struct ens_members *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n && i < RAFT_MAX_MEMBERS; i++)
		cfg_server_release(&m->s[i]);
	memset(m, 0, sizeof(*m));
}

int ens_members_raft(const struct ens_members *m, struct raft_conf *out)
{
	memset(out, 0, sizeof(*out));
	if (m->n > RAFT_MAX_MEMBERS)
		return -EINVAL;
	for (size_t i = 0; i < m->n; i++) {
		if (m->s[i].id < 1 || m->s[i].id > UINT32_MAX)
			return -EINVAL;
		out->m[out->n++] = (struct raft_member){
		    .id = (uint32_t)m->s[i].id,
		    .voter = m->s[i].type != CFG_OBSERVER,
		};
	}
	return raft_conf_check(out);
}

int ens_members_text(const struct ens_members *m, bool with_version, char *buf, size_t cap)
{
	assert(m->n <= RAFT_MAX_MEMBERS);
	return cfg_dynamic_format(m->s, m->n, m->version, with_version, buf, cap);
}

const struct cfg_server *ens_members_find(const struct ens_members *m, int64_t id)
{
	for (size_t i = 0; i < m->n && i < RAFT_MAX_MEMBERS; i++)
		if (m->s[i].id == id)
			return &m->s[i];
	return NULL;
}

/* Inserts s (ownership taken) in id order; a later line for an id replaces it. */
static int insert(struct ens_members *m, struct cfg_server *s)
{
	size_t i = 0;

	while (i < m->n && m->s[i].id < s->id)
		i++;
	if (i < m->n && m->s[i].id == s->id) {
		cfg_server_release(&m->s[i]);
		m->s[i] = *s;
		return 0;
	}
	if (m->n >= RAFT_MAX_MEMBERS)
		return -ENOSPC;
	memmove(&m->s[i + 1], &m->s[i], (m->n - i) * sizeof(m->s[0]));
	m->s[i] = *s;
	m->n++;
	return 0;
}

int ens_members_put(struct ens_members *m, const struct cfg_server *s)
{
	struct cfg_server c;
	int rc = copy_server(&c, s);

	if (!rc && (rc = insert(m, &c)))
		cfg_server_release(&c);
	return rc;
}

bool ens_members_drop(struct ens_members *m, int64_t id)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->s[i].id != id)
			continue;
		cfg_server_release(&m->s[i]);
		memmove(&m->s[i], &m->s[i + 1], (m->n - i - 1) * sizeof(m->s[0]));
		m->n--;
		memset(&m->s[m->n], 0, sizeof(m->s[0]));
		return true;
	}
	return false;
}

int ens_members_copy(struct ens_members *dst, const struct ens_members *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		if (copy_server(&dst->s[i], &src->s[i])) {
			ens_members_free(dst);
			return -ENOMEM;
		}
		dst->n = i + 1;
	}
	dst->version = src->version;
	return 0;
}

int ens_members_parse(struct ens_members *m, const char *text, size_t len, char *why,
		      size_t why_cap)
{
	size_t off = 0;
	bool have_version = false;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (!text || len > ENS_CONF_TEXT_MAX) {
		snprintf(why, why_cap, "the membership text is missing or longer than %u bytes",
			 (unsigned)ENS_CONF_TEXT_MAX);
		return -EINVAL;
	}
	while (off < len && !rc) {
		const char *line = text + off, *nl = memchr(line, '\n', len - off);
		size_t l = nl ? (size_t)(nl - line) : len - off;

		off += l + (nl ? 1 : 0);
		if (l == 0)
			continue;
		if (l > 8 && memcmp(line, "version=", 8) == 0) {
			char hex[17];
			char *end;

			if (l - 8 >= sizeof(hex)) {
				snprintf(why, why_cap, "version too long");
				rc = -EINVAL;
				break;
			}
			memcpy(hex, line + 8, l - 8);
			hex[l - 8] = '\0';
			errno = 0;
			m->version = strtoull(hex, &end, 16);
			if (errno || *end || end == hex) {
				snprintf(why, why_cap, "bad version \"%s\"", hex);
				rc = -EINVAL;
			}
			have_version = true;
			continue;
		}
		struct cfg_server s;
		struct cfg_error err;

		rc = cfg_server_parse(line, l, &s, &err);
		if (rc) {
			snprintf(why, why_cap, "%s", rc == -EINVAL ? err.msg : strerror(-rc));
			break;
		}
		rc = insert(m, &s);
		if (rc) {
			cfg_server_release(&s);
			snprintf(why, why_cap, "more than %d servers", RAFT_MAX_MEMBERS);
			rc = -EINVAL;
		}
	}
	if (!rc && (m->n == 0 || !have_version)) {
		snprintf(why, why_cap, "%s", m->n ? "no version line" : "no server line");
		rc = -EINVAL;
	}
	if (rc)
		ens_members_free(m);
	return rc;
}
