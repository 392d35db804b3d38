/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_info.h: the server's figures as C structs for the AdminServer.
 *
 * Kept apart from the four-letter words' texts (fourlw.c, gather.c,
 * mntr.c, texts.c) on purpose: this file gathers data, it prints
 * nothing, and other readers (a metrics exporter) can take the same
 * structs.  Where the data lives decides how it is fetched:
 *  - a worker's connections: the worker copies them itself, DP_INFO_CHUNK
 *    at a time, through the admin mailbox (dp_admin_push), and the caller
 *    waits for each chunk (at most DP_INFO_WAIT_MS); a worker never waits
 *    for the caller and never spends longer than one chunk's copy;
 *  - the core's session tracker: asked through worker 0's ring, as the
 *    dump word does (REPL_IN_SESSIONS), answered into the request;
 *  - the tree (ephemerals, digests, ACLs, snapshots): read lock-free on
 *    the calling thread, online only while it reads, with a quiescent
 *    state after each session of a listing;
 *  - the core's published figures (observers, the newest snapshot) and
 *    the restore: through repl.h.
 *
 * Thread: the AdminServer's (dp_info.h).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu/urcu-qsbr.h>

#include "common/log.h"
#include "config/config.h"
#include "dataplane/admin/admin_priv.h"
#include "dataplane/dp_info.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"
#include "tree/tree.h"

/* The word a structured request carries (dp_admin_poll reads r->wd->bit). */
static const struct dp_4lw_word info_word = {.name = "info", .bit = 0, .kind = DP_4LW_GATHER};

/* Runs fn online (RCU), returning to the state the thread was in. */
#define ONLINE(stmt)                                                                               \
	do {                                                                                       \
		bool online_ = urcu_qsbr_read_ongoing();                                           \
		if (!online_)                                                                      \
			urcu_qsbr_thread_online();                                                 \
		stmt;                                                                              \
		if (!online_)                                                                      \
			urcu_qsbr_thread_offline();                                                \
	} while (0)

/* ---- Connections ---- */

/* One chunk of worker i's connections from *slot on: appended to *v. */
static int conn_chunk(struct dp *dp, uint32_t i, uint32_t *slot, bool *end, struct dp_conn_info **v,
		      size_t *n, size_t *cap)
{
	struct dp_admin_req *r = dp_admin_waited_req(&info_word, 1);
	int rc = 0;

	if (!r)
		return -ENOMEM;
	r->infos = malloc(DP_INFO_CHUNK * sizeof(*r->infos));
	if (!r->infos) {
		r->waiter->refs = 1;
		dp_admin_waiter_done(r);
		return -ENOMEM;
	}
	r->chunk = true;
	r->target = i;
	r->cur.i = *slot;
	if (dp_admin_push(dp->workers[i], r)) {
		r->waiter->refs = 1; /* no worker has it */
		dp_admin_waiter_done(r);
		return -ENOMEM;
	}
	if (!dp_admin_wait_answered(r)) {
		log_warn("AdminServer: worker %u did not list its connections within %d ms", i,
			 DP_INFO_WAIT_MS);
		rc = -ETIMEDOUT;
	} else {
		assert(r->ninfos <= DP_INFO_CHUNK);
		if (*n + r->ninfos > *cap) {
			size_t nc = *cap ? *cap * 2 : DP_INFO_CHUNK;
			struct dp_conn_info *g;

			while (nc < *n + r->ninfos)
				nc *= 2;
			g = realloc(*v, nc * sizeof(*g));
			if (!g)
				rc = -ENOMEM;
			else {
				*v = g;
				*cap = nc;
			}
		}
		if (!rc) {
			memcpy(*v + *n, r->infos, r->ninfos * sizeof(**v));
			*n += r->ninfos;
			*slot = r->cur.i;
			*end = r->end;
		}
	}
	dp_admin_waiter_done(r);
	return rc;
}

int dp_info_connections(struct dp *dp, struct dp_conn_info **out, size_t *n)
{
	struct dp_conn_info *v = NULL;
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	for (uint32_t i = 0; i < dp->nworkers && !rc; i++) {
		uint32_t slot = 0;
		bool end = false;

		while (!end && !rc && *n < DP_INFO_MAX_CONNS)
			rc = conn_chunk(dp, i, &slot, &end, &v, n, &cap);
	}
	if (rc) {
		free(v);
		*n = 0;
		return rc;
	}
	*out = v;
	return 0;
}

/* ---- The session tracker ---- */

int dp_info_sessions(struct dp *dp, struct repl_sessions **out)
{
	struct dp_admin_req *r;
	int rc = 0;

	*out = NULL;
	if (!strcmp(dp_admin_server_state(dp), "looking"))
		return -EAGAIN;
	r = dp_admin_waited_req(&info_word, 1);
	if (!r)
		return -ENOMEM;
	r->ask_sessions = true;
	r->target = 0;
	if (dp_admin_push(dp->workers[0], r)) {
		r->waiter->refs = 1;
		dp_admin_waiter_done(r);
		return -ENOMEM;
	}
	if (!dp_admin_wait_answered(r)) {
		log_warn("AdminServer: the session tracker did not come within %d ms",
			 DP_INFO_WAIT_MS);
		rc = -ETIMEDOUT;
	} else if (!r->sessions) {
		rc = -ENOMEM; /* the core ran out of memory, or another ask was pending */
	} else {
		*out = r->sessions;
		r->sessions = NULL;
	}
	dp_admin_waiter_done(r);
	return rc;
}

/* ---- Ephemerals (DataTree.getEphemerals) ---- */

struct ids {
	int64_t *v;
	size_t n, cap;
	bool oom;
};

static void add_id(void *arg, int64_t session)
{
	struct ids *d = arg;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		int64_t *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			d->oom = true;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n++] = session;
}

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct eph_call {
	int (*fn)(void *arg, int64_t session, const char *path, size_t len);
	void *arg;
	int64_t session;
	uint32_t paths;
};

static int eph_path(void *arg, const struct tree_node *n)
{
	struct eph_call *c = arg;
	struct jute_buf p = tree_node_path(n);

	c->paths++;
	return c->fn(c->arg, c->session, (const char *)p.p, (size_t)p.len);
}

int dp_info_ephemerals(struct dp *dp,
		       int (*fn)(void *arg, int64_t session, const char *path, size_t len),
		       void *arg)
{
	struct ids ids = {0};
	int rc = 0;

	ONLINE({
		struct tree *t = dp_admin_tree(dp);

		if (t)
			tree_ephemeral_sessions_foreach(t, add_id, &ids);
	});
	if (ids.oom) {
		free(ids.v);
		return -ENOMEM;
	}
	if (ids.n)
		qsort(ids.v, ids.n, sizeof(*ids.v), id_cmp);
	for (size_t i = 0; i < ids.n && !rc; i++) {
		struct eph_call c = {fn, arg, ids.v[i], 0};

		/* One session at a time, then a quiescent state (the tree may be replaced). */
		ONLINE({
			struct tree *t = dp_admin_tree(dp);

			if (t)
				rc = tree_session_ephemerals(t, ids.v[i], "/", 1, eph_path, &c);
			if (!rc && !c.paths)
				rc = fn(arg, ids.v[i], NULL, 0);
			urcu_qsbr_quiescent_state();
		});
	}
	free(ids.v);
	return rc;
}

/* ---- The core's and the tree's small figures ---- */

int dp_info_last_snapshot(struct dp *dp, int64_t *zxid, int64_t *mtime_s)
{
	return dp->repl ? repl_last_snapshot(dp->repl, zxid, mtime_s) : -ENOENT;
}

size_t dp_info_digests(struct dp *dp, int64_t *zxids, uint64_t *digests, size_t max)
{
	struct tree_zxid_digest d[64];
	size_t n = 0, got = 0;

	if (!max)
		return 0;
	ONLINE({
		struct tree *t = dp_admin_tree(dp);
		struct tree_zxid_digest *all = NULL;

		if (t && max <= 64) {
			got = tree_digest_log(t, d, max);
			all = d;
		} else if (t && (all = malloc(max * sizeof(*all)))) {
			got = tree_digest_log(t, all, max);
		}
		for (n = 0; n < got; n++) {
			zxids[n] = all[n].zxid;
			digests[n] = all[n].digest;
		}
		if (all != d)
			free(all);
	});
	return n;
}

int64_t dp_info_trace_mask(struct dp *dp)
{
	return __atomic_load_n(&dp_admin_of(dp)->trace_mask, __ATOMIC_RELAXED);
}

void dp_info_set_trace_mask(struct dp *dp, int64_t mask)
{
	__atomic_store_n(&dp_admin_of(dp)->trace_mask, mask, __ATOMIC_RELAXED);
}

void dp_info_reset_observers(struct dp *dp)
{
	if (dp->repl)
		repl_reset_observer_stats(dp->repl);
}

uint32_t dp_info_observers(struct dp *dp, struct repl_learner_info *out, uint32_t max)
{
	return dp->repl ? repl_observers(dp->repl, out, max) : 0;
}

bool dp_info_ensemble(struct dp *dp)
{
	return dp->repl && repl_myid(dp->repl) != 0;
}

/* ---- Authentication (Commands.handleAuthentication / handleAuthorization) ---- */

int dp_info_authorize(struct dp *dp, const char *header, const char *peer_ip, int32_t perm,
		      const char *path)
{
	struct tree_auth_id id;
	struct tree_auth auth = {.ids = &id, .n = 1};
	const char *sp, *scheme = header, *data = NULL;
	char digest[1024];
	size_t slen;
	int rc = 0;

	if (!header)
		return -ENOKEY;
	/* authInfo.split(" "): one or two parts (Java drops trailing empty ones). */
	sp = strchr(header, ' ');
	slen = sp ? (size_t)(sp - header) : strlen(header);
	if (sp) {
		data = sp + 1;
		if (strchr(data, ' '))
			return -EACCES; /* three parts or more */
		if (!*data)
			data = NULL; /* "scheme ": Java's split drops the empty part */
	}
	if (slen == 6 && !memcmp(scheme, "digest", 6)) {
		size_t len;

		/* dp_digest_id may triple the user part (bad UTF-8 becomes U+FFFD). */
		if (!data || strlen(data) * 3 + 32 > sizeof(digest))
			return -EACCES; /* null authData: the provider throws */
		len = dp_digest_id((const uint8_t *)data, strlen(data), digest);
		id = (struct tree_auth_id){{(const uint8_t *)"digest", 6},
					   {(const uint8_t *)digest, (int32_t)len}};
		auth.super = dp->cfg->super_digest && strlen(dp->cfg->super_digest) == len &&
			     !memcmp(dp->cfg->super_digest, digest, len);
	} else if (slen == 2 && !memcmp(scheme, "ip", 2)) {
		if (!peer_ip)
			return -EACCES;
		id = (struct tree_auth_id){{(const uint8_t *)"ip", 2},
					   {(const uint8_t *)peer_ip, (int32_t)strlen(peer_ip)}};
	} else {
		/*
		 * x509 needs the client certificate of a TLS connection (this
		 * AdminServer speaks plain HTTP); any other scheme has no
		 * provider (ProviderRegistry: ip and digest).
		 */
		return -EACCES;
	}
	ONLINE({
		struct tree *t = dp_admin_tree(dp);
		const struct tree_node *n = t ? tree_lookup(t, path, strlen(path)) : NULL;
		struct jute_acl_list acl;

		if (!n) {
			rc = -ENOENT;
		} else {
			tree_node_acl(t, n, NULL, &acl);
			/* Each bit of perm on its own, as handleAuthorization does. */
			for (int b = 0; b < 31 && !rc; b++)
				if ((perm & (1 << b)) &&
				    tree_acl_check(&acl, 1 << b, &auth) != ZK_OK)
					rc = -EPERM;
		}
	});
	return rc;
}

/* ---- Snapshot and restore ---- */

#define SNAPSHOT_TRIES 3

int dp_info_snapshot(struct dp *dp, int fd, int64_t *zxid, bool *consistent)
{
	int rc = 0;

	*consistent = false;
	for (int i = 0; i < SNAPSHOT_TRIES; i++) {
		int64_t end = -1;

		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			return -errno;
		ONLINE({
			struct tree *t = dp_admin_tree(dp);

			rc = t ? tree_snapshot_write(t, fd, zxid) : -EAGAIN;
			if (!rc)
				end = tree_last_zxid(t);
		});
		if (rc)
			return rc;
		*consistent = end == *zxid;
		if (*consistent)
			break;
	}
	return 0;
}

int dp_info_restore(struct dp *dp, int fd, int64_t *zxid)
{
	const struct cfg *c = dp->cfg;
	struct tree_opts o = {
	    .max_data = c->jute_max_buffer > 0 ? (uint32_t)c->jute_max_buffer : 0xfffff,
	    .extended_types = c->extended_types_enabled,
	};
	struct tree *t = NULL;
	int64_t loaded = -1;
	int rc;

	if (dp_info_ensemble(dp))
		return -EOPNOTSUPP; /* before reading a byte */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	ONLINE(rc = tree_snapshot_load(fd, &o, &t, &loaded));
	if (rc)
		return rc;
	rc = repl_restore(dp->repl, t, zxid);
	if (rc)
		tree_free(t); /* still ours; this thread is offline */
	return rc;
}

int dp_info_monitor(struct dp *dp, dp_mntr_fn fn, void *arg)
{
	bool online;

	assert(fn);
	if (!strcmp(dp_admin_server_state(dp), "looking"))
		return -EAGAIN; /* mntr's CommandBase: not currently serving */
	online = urcu_qsbr_read_ongoing();
	if (!online)
		urcu_qsbr_thread_online();
	dp_admin_mntr_fields(dp, fn, arg);
	if (!online)
		urcu_qsbr_thread_offline();
	return 0;
}
