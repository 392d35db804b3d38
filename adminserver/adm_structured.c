/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AdminServer's commands whose data comes as C structs (struct
 * adm_info_ops: the dataplane's dp_info.h in the server), not as a
 * four-letter word's text: connections, stats, dump, last_snapshot,
 * hash, system_properties, set_trace_mask, observers with their links'
 * figures, observer_connection_stat_reset, and ZooKeeper 3.9's snapshot
 * and restore.  JSON as ZooKeeper's Commands.java builds it (Jackson,
 * snake_case getters; a Map<Long, ...> key as its decimal string; a Date
 * as ms since the epoch).
 *
 * Snapshot and restore (3.9's SnapshotCommand, RestoreCommand): both carry
 * AuthRequest(Perms.ALL, "/") (checked by adm_commands.c's precheck), a
 * feature flag (admin.snapshot.enabled / admin.restore.enabled, 503 when
 * off) and a rate limiter of one request per admin.rateLimiterIntervalInMS
 * (429 when over it; ZooKeeper builds the snapshot's limiter with
 * TimeUnit.MICROSECONDS, so its snapshot interval is that many
 * microseconds, kept here: 300 ms by default, restore 5 minutes).  The
 * snapshot is Cheetah's own snapshot file (tree/snapshot.c: header,
 * CRC32C-checked blocks, trailer), written to an unlinked file in dataDir
 * and streamed from it; restore takes that format back (POST body, spooled
 * the same way) and refuses anything else before touching the tree.
 *
 * Thread: the AdminServer's, offline (the ops go online as they need).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "adm_priv.h"
#include "tree/tree.h"
#include "common/clock.h"
#include "config/config.h"
#include "dataplane/dp_info.h"
#include "replication/repl.h"

#define NO_INFO "This command is not available"

static int set_new(json_t *o, const char *k, json_t *v)
{
	if (!v || json_object_set_new(o, k, v))
		return -ENOMEM;
	return 0;
}

/* ServerCnxn.getConnectionInfo(brief). */
static json_t *conn_json(const struct dp_conn_info *c, bool brief)
{
	json_t *o = json_object();

	if (!o || set_new(o, "remote_socket_address", adm_any_string(c->peer)) ||
	    set_new(o, "interest_ops", json_integer(c->interest_ops)) ||
	    set_new(o, "outstanding_requests", json_integer(c->outstanding)) ||
	    set_new(o, "packets_received", json_integer((json_int_t)c->packets_received)) ||
	    set_new(o, "packets_sent", json_integer((json_int_t)c->packets_sent)))
		goto fail;
	if (brief)
		return o;
	if (set_new(o, "session_id", json_integer(c->session)) ||
	    set_new(o, "last_operation", adm_any_string(c->last_op)) ||
	    set_new(o, "established", json_integer(c->established_ms)) ||
	    set_new(o, "session_timeout", json_integer(c->timeout)) ||
	    set_new(o, "last_cxid", json_integer(c->last_cxid)) ||
	    set_new(o, "last_zxid", json_integer(c->last_zxid)) ||
	    set_new(o, "last_response_time", json_integer(c->last_resp_ms)) ||
	    set_new(o, "last_latency", json_integer(c->last_lat)) ||
	    set_new(o, "min_latency", json_integer(c->min_lat)) ||
	    set_new(o, "avg_latency", json_integer(c->avg_lat)) ||
	    set_new(o, "max_latency", json_integer(c->max_lat)))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static const char *info_err(int rc)
{
	switch (rc) {
	case -ENOMEM:
		return "Out of memory";
	case -EAGAIN:
		return "This ZooKeeper instance is not currently serving requests";
	case -ETIMEDOUT:
		return "The dataplane workers did not answer within 5 s";
	default:
		return "Internal error";
	}
}

/* "connections" and "secure_connections" (no TLS port: always empty). */
static int put_connections(struct adm_env *e, json_t *r, bool brief, const char **err)
{
	struct dp_conn_info *v = NULL;
	json_t *list;
	size_t n = 0;
	int rc;

	if (!e->info || !e->info->connections) {
		*err = NO_INFO;
		return 0;
	}
	rc = e->info->connections(e->ctx, &v, &n);
	if (rc) {
		*err = info_err(rc);
		return 0;
	}
	list = json_array();
	rc = list ? 0 : -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++)
		if (json_array_append_new(list, conn_json(&v[i], brief)))
			rc = -ENOMEM;
	free(v);
	if (!rc)
		rc = set_new(r, "connections", json_incref(list));
	json_decref(list);
	if (!rc)
		rc = set_new(r, "secure_connections", json_array());
	return rc;
}

int adm_c_connections(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	(void)c;
	return put_connections(e, r, false, err);
}

/* StatCommand: SrvrCommand's fields, then the brief connection list. */
int adm_c_stats(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	int rc = adm_server_stats(e, r, err);

	(void)c;
	if (rc || *err)
		return rc;
	return put_connections(e, r, true, err);
}

/* ---- dump ---- */

struct eph {
	json_t *map;
	json_int_t last; /* the session whose array is cur */
	json_t *cur;
};

static int put_eph(void *arg, int64_t session, const char *path, size_t len)
{
	struct eph *x = arg;

	if (!x->cur || x->last != session) {
		char key[24];

		snprintf(key, sizeof(key), "%" PRId64, session);
		x->cur = json_array();
		if (!x->cur || json_object_set_new(x->map, key, x->cur))
			return -ENOMEM;
		x->last = session;
	}
	if (!path)
		return 0;
	json_t *v = json_stringn(path, len);

	if (!v) {
		/* not UTF-8 (or a NUL): the bytes with '?' for the bad ones */
		char *copy = strndup(path, len);

		v = copy ? adm_any_string(copy) : NULL;
		free(copy);
	}
	return json_array_append_new(x->cur, v) ? -ENOMEM : 0;
}

/*
 * DumpCommand: getSessionExpiryMap (expiry time -> session ids, the
 * core's tracker) and getEphemerals (session -> ephemeral paths).
 */
int adm_c_dump(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	struct repl_sessions *d = NULL;
	json_t *exp = NULL;
	struct eph x = {0};
	int rc;

	(void)c;
	if (!e->info || !e->info->sessions || !e->info->ephemerals) {
		*err = NO_INFO;
		return 0;
	}
	rc = e->info->sessions(e->ctx, &d);
	if (rc) {
		*err = info_err(rc);
		return 0;
	}
	exp = json_object();
	x.map = json_object();
	rc = exp && x.map ? 0 : -ENOMEM;
	for (uint32_t i = 0; i < d->nsets && !rc; i++) {
		const int64_t *ids = repl_sessions_ids(d);
		json_t *a = json_array();
		char key[24];

		snprintf(key, sizeof(key), "%" PRId64, d->sets[i].expiry_ms);
		if (!a || json_object_set_new(exp, key, a))
			rc = -ENOMEM;
		for (uint32_t j = 0; j < d->sets[i].n && !rc; j++)
			if (json_array_append_new(a, json_integer(ids[d->sets[i].first + j])))
				rc = -ENOMEM;
	}
	free(d);
	if (!rc) {
		rc = e->info->ephemerals(e->ctx, put_eph, &x);
		if (rc && rc != -ENOMEM) {
			*err = info_err(rc);
			rc = 0;
		}
	}
	if (!rc && !*err)
		rc = set_new(r, "expiry_time_to_session_ids", json_incref(exp));
	if (!rc && !*err)
		rc = set_new(r, "session_id_to_ephemeral_paths", json_incref(x.map));
	json_decref(exp);
	json_decref(x.map);
	return rc;
}

/* LastSnapshotCommand: zxid as Long.toHexString, timestamp in s; -1 for none. */
int adm_c_last_snapshot(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	int64_t zxid = -1, ts = -1;
	char hex[24];

	(void)c;
	if (!e->info || !e->info->last_snapshot) {
		*err = NO_INFO;
		return 0;
	}
	if (e->info->last_snapshot(e->ctx, &zxid, &ts))
		zxid = ts = -1;
	snprintf(hex, sizeof(hex), "%" PRIx64, (uint64_t)zxid);
	if (set_new(r, "zxid", json_string(hex)) || set_new(r, "timestamp", json_integer(ts)))
		return -ENOMEM;
	return 0;
}

/* DigestCommand: DataTree.getDigestLog's ZxidDigest objects. */
int adm_c_hash(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	enum { MAX = TREE_DIGEST_LOG_LIMIT };
	int64_t *z = NULL;
	uint64_t *d = NULL;
	json_t *list;
	size_t n;
	int rc = 0;

	(void)c;
	if (!e->info || !e->info->digests) {
		*err = NO_INFO;
		return 0;
	}
	z = malloc(MAX * sizeof(*z));
	d = malloc(MAX * sizeof(*d));
	list = json_array();
	if (!z || !d || !list) {
		rc = -ENOMEM;
		goto out;
	}
	n = e->info->digests(e->ctx, z, d, MAX);
	for (size_t i = 0; i < n && !rc; i++) {
		json_t *o = json_pack("{s:I,s:i,s:I}", "zxid", (json_int_t)z[i], "digest_version",
				      TREE_DIGEST_VERSION, "digest", (json_int_t)(int64_t)d[i]);

		if (!o || json_array_append_new(list, o))
			rc = -ENOMEM;
	}
	if (!rc)
		rc = set_new(r, "digests", json_incref(list));
out:
	json_decref(list);
	free(z);
	free(d);
	return rc;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * SystemPropertiesCommand: Java's system properties, sorted.  Cheetah has
 * no JVM: the platform's (os.*, user.*, the separators, as the JVM
 * derives them) and "zookeeper.<key>" for each zoo.cfg key ZooKeeper
 * would have turned into a system property (the AdminServer's, and every
 * key without a typed field).  Every value is a string.
 */
int adm_c_system_properties(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	const struct cfg *cfg = e->cfg;
	struct utsname u;
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024], cwd[4096], num[32];
	json_t *m = json_object();
	int rc = m ? 0 : -ENOMEM;

	(void)c;
	(void)err;
#define PUT(k, v) (rc = rc ? rc : set_new(m, (k), adm_any_string(v)))
	if (!uname(&u)) {
		PUT("os.name", u.sysname);
		PUT("os.arch", !strcmp(u.machine, "x86_64") ? "amd64" : u.machine);
		PUT("os.version", u.release);
	}
	if (!getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) && pwp) {
		PUT("user.name", pw.pw_name);
		PUT("user.home", pw.pw_dir);
	}
	if (getcwd(cwd, sizeof(cwd)))
		PUT("user.dir", cwd);
	PUT("file.separator", "/");
	PUT("path.separator", ":");
	PUT("line.separator", "\n");
	if (cfg) {
		PUT("zookeeper.admin.enableServer", cfg->admin_enable ? "true" : "false");
		if (cfg->admin_address)
			PUT("zookeeper.admin.serverAddress", cfg->admin_address);
		snprintf(num, sizeof(num), "%d", cfg->admin_port);
		PUT("zookeeper.admin.serverPort", num);
		snprintf(num, sizeof(num), "%d", cfg->admin_idle_timeout_ms);
		PUT("zookeeper.admin.idleTimeout", num);
		if (cfg->admin_command_url)
			PUT("zookeeper.admin.commandURL", cfg->admin_command_url);
		for (size_t i = 0; i < cfg->n_extras; i++) {
			char key[512];

			snprintf(key, sizeof(key), "%s%s",
				 strncmp(cfg->extras[i].key, "zookeeper.", 10) ? "zookeeper." : "",
				 cfg->extras[i].key);
			PUT(key, cfg->extras[i].value);
		}
	}
#undef PUT
	/* TreeMap order. */
	if (!rc) {
		const char **keys = malloc(json_object_size(m) * sizeof(*keys) + 1);
		const char *k;
		json_t *v;
		size_t n = 0;

		if (!keys)
			rc = -ENOMEM;
		if (keys) {
			json_object_foreach(m, k, v) keys[n++] = k;
			qsort(keys, n, sizeof(*keys), key_cmp);
			for (size_t i = 0; i < n && !rc; i++)
				rc = json_object_set(r, keys[i], json_object_get(m, keys[i]));
			free(keys);
		}
	}
	json_decref(m);
	return rc;
}

/*
 * SetTraceMaskCommand: kwargs "traceMask", Long.parseLong (an optional
 * sign, decimal digits, in range); its errors are put in "error".
 */
int adm_c_set_trace_mask(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	static char msg[160];
	const char *v = c && c->arg ? c->arg(c->argctx, "traceMask") : NULL;
	const char *p;
	char *end;
	long long mask;

	if (!v) {
		*err = "setTraceMask requires long traceMask argument";
		return 0;
	}
	p = v + (*v == '-' || *v == '+');
	errno = 0;
	mask = strtoll(v, &end, 10);
	if (!*p || *end || errno || strspn(p, "0123456789") != strlen(p)) {
		snprintf(msg, sizeof(msg),
			 "setTraceMask requires long traceMask argument, got %.100s", v);
		*err = msg;
		return 0;
	}
	if (e->info && e->info->set_trace_mask)
		e->info->set_trace_mask(e->ctx, mask);
	return set_new(r, "tracemask", json_integer(mask));
}

/* LearnerHandler.getLearnerHandlerInfo of each synced observer. */
int adm_c_observers(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	struct repl_learner_info v[REPL_OBSERVERS_MAX];
	json_t *list;
	uint32_t n = 0;
	int rc = adm_observers_base(e, r, err);

	(void)c;
	if (rc || *err || !e->info || !e->info->observers)
		return rc;
	list = json_object_get(r, "observers");
	if (!json_array_size(list))
		return 0;
	n = e->info->observers(e->ctx, v, REPL_OBSERVERS_MAX);
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *o = json_array_get(list, i);
		json_int_t sid = json_integer_value(json_object_get(o, "sid"));
		const struct repl_learner_info *l = NULL;

		for (uint32_t k = 0; k < n && !l; k++)
			if ((json_int_t)v[k].sid == sid)
				l = &v[k];
		if (!l)
			continue; /* its link went down meanwhile: the sid alone */
		json_object_clear(o);
		if (set_new(o, "remote_socket_address", adm_any_string(l->remote)) ||
		    set_new(o, "sid", json_integer(sid)) ||
		    set_new(o, "established", json_integer(l->established_ms)) ||
		    set_new(o, "queued_packets", json_integer(l->queued_packets)) ||
		    set_new(o, "queued_packets_size", json_integer((json_int_t)l->queued_bytes)) ||
		    set_new(o, "packets_received", json_integer((json_int_t)l->packets_received)) ||
		    set_new(o, "packets_sent", json_integer((json_int_t)l->packets_sent)) ||
		    set_new(o, "requests", json_integer((json_int_t)l->requests)) ||
		    set_new(o, "last_zxid", json_integer(l->last_zxid)))
			return -ENOMEM;
	}
	return 0;
}

/* ObserverCnxnStatResetCommand: no fields. */
int adm_c_observer_reset(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	(void)c;
	(void)r;
	(void)err;
	if (e->info && e->info->reset_observers)
		e->info->reset_observers(e->ctx);
	return 0;
}

/*
 * ZooKeeper's RateLimiter(1, interval): one per interval, the first at
 * once; an interval of 0 (below 1 ms for the snapshot's) lets everything
 * through (ZooKeeper's would still refuse a second request in the same
 * millisecond).
 */
static bool rate_allow(struct adm_rate *rt, int64_t interval_ms)
{
	int64_t now = (int64_t)(clock_mono_ns() / 1000000);

	if (!rt->last_ms) {
		rt->last_ms = now;
		rt->remained = 1;
	}
	if (interval_ms <= 0 || now > rt->last_ms + interval_ms) {
		rt->remained = 1;
		rt->last_ms = now;
	}
	if (rt->remained <= 0)
		return false;
	rt->remained--;
	return true;
}

int adm_spool_fd(const struct cfg *cfg)
{
	const char *dir = cfg && cfg->data_dir ? cfg->data_dir : "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

/*
 * SnapshotCommand: headers last_zxid ("0x" + hex) and snapshot_size;
 * streaming (default true, Boolean.parseBoolean of "streaming") sends the
 * file as application/octet-stream, else the JSON alone.
 */
int adm_c_snapshot(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	const char *streaming = c->arg ? c->arg(c->argctx, "streaming") : NULL;
	bool consistent = false;
	int64_t zxid = -1;
	struct stat st;
	int fd, rc;

	(void)r;
	if (e->cfg && !e->cfg->admin_snapshot_enable) {
		c->status = 503;
		return 0;
	}
	if (!rate_allow(&e->rate_snapshot, e->cfg ? e->cfg->admin_rate_limit_ms / 1000 : 300)) {
		/* TimeUnit.MICROSECONDS in ZooKeeper's SnapshotCommand: interval / 1000 ms */
		c->status = 429;
		return 0;
	}
	if (!e->info || !e->info->snapshot) {
		*err = NO_INFO;
		c->status = 500;
		return 0;
	}
	fd = adm_spool_fd(e->cfg);
	if (fd < 0) {
		c->status = 500;
		*err = "Cannot create the snapshot file";
		return 0;
	}
	rc = e->info->snapshot(e->ctx, fd, &zxid, &consistent);
	if (rc || fstat(fd, &st) < 0 || st.st_size == 0) {
		close(fd);
		c->status = 500;
		*err = "Taking the snapshot failed";
		return 0;
	}
	snprintf(c->hdr[0][0], sizeof(c->hdr[0][0]), "last_zxid");
	snprintf(c->hdr[0][1], sizeof(c->hdr[0][1]), "0x%" PRIx64, (uint64_t)zxid);
	snprintf(c->hdr[1][0], sizeof(c->hdr[1][0]), "snapshot_size");
	snprintf(c->hdr[1][1], sizeof(c->hdr[1][1]), "%lld", (long long)st.st_size);
	if (streaming && strcasecmp(streaming, "true")) {
		close(fd);
		return 0;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		c->status = 500;
		*err = "Taking the snapshot failed";
		return 0;
	}
	c->stream_fd = fd;
	c->stream_len = (uint64_t)st.st_size;
	return 0;
}

/*
 * RestoreCommand: the POST body (a snapshot as the snapshot command sends
 * it, spooled to c->body_fd) replaces the tree; "last_zxid" is the
 * restored tree's zxid.  Anything wrong with the body is refused before
 * the tree is touched (HTTP 500, as ZooKeeper; the reason in "error").
 */
int adm_c_restore(struct adm_env *e, struct adm_call *c, json_t *r, const char **err)
{
	int64_t zxid = -1;
	int rc;

	if (e->cfg && !e->cfg->admin_restore_enable) {
		c->status = 503;
		return 0;
	}
	if (c->body_fd < 0) {
		c->status = 400; /* ZooKeeper: the InputStream is null */
		return 0;
	}
	if (!rate_allow(&e->rate_restore, e->cfg ? e->cfg->admin_rate_limit_ms : 300000)) {
		c->status = 429;
		return 0;
	}
	if (!e->info || !e->info->restore) {
		c->status = 500;
		*err = NO_INFO;
		return 0;
	}
	rc = e->info->restore(e->ctx, c->body_fd, &zxid);
	switch (rc) {
	case 0:
		return set_new(r, "last_zxid", json_integer(zxid));
	case -EBADMSG:
		*err =
		    "Invalid snapshot: the body is not a snapshot taken by the snapshot command, "
		    "or it is damaged; nothing was changed";
		break;
	case -EOPNOTSUPP:
		*err = "Restore is not supported on a member of an ensemble (it would fork the "
		       "ensemble's history): restore a standalone server";
		break;
	case -EBUSY:
		*err = "Another restore is in progress";
		break;
	case -ETIMEDOUT:
		*err = "Requests stayed in flight for 30 s; nothing was changed";
		break;
	case -ENOMEM:
		*err = "Out of memory loading the snapshot; nothing was changed";
		break;
	default:
		*err = "Restore failed; nothing was changed";
	}
	c->status = 500;
	return 0;
}
