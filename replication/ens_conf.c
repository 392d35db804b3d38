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
