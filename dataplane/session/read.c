/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests a worker answers itself, from the tree under RCU: the reads
 * (exists, getData, getChildren, getChildren2, getACL,
 * getAllChildrenNumber, getEphemerals, multiRead, whoAmI), ping, the watch
 * requests (setWatches, setWatches2, addWatch, checkWatches,
 * removeWatches), auth, sasl and reconfig.
 *
 * Behaviour: ZooKeeper 3.9's FinalRequestProcessor (reads, watches,
 * whoAmI, getEphemerals), DataTree.setWatches/addWatch/containsWatcher/
 * removeWatch, ZooKeeperServer.processPacket (auth) and processSasl
 * (sasl.c), PrepRequestProcessor's reconfig checks (RECONFIGDISABLED, or
 * UNIMPLEMENTED on a standalone server).  The error rules: reads do not
 * validate paths (a bad path simply does not exist: NONODE), except that
 * exists rejects a path with '\0' (BADARGUMENTS); NONODE comes before
 * NOAUTH; a watch is added only when the read succeeds, except exists,
 * which watches a missing node; getACL needs READ or ADMIN and hides
 * digest ids (":x") from a session without ADMIN; a null path or an
 * unknown WatcherType / AddWatchMode is a Java exception other than
 * KeeperException, i.e. MARSHALLINGERROR.
 *
 * The reply's zxid.  FinalRequestProcessor puts lastProcessedZxid in the
 * ReplyHeader.  Here it is the larger of tree_applying_zxid() sampled
 * after the read (repl.h rule 2: it is published before a txn's first
 * effect, so it covers whatever the read saw, getAllChildrenNumber and
 * getEphemerals included) and every zxid the read can reveal (the czxid,
 * mzxid and pzxid of what was read; for a missing node the pzxid of its
 * nearest existing ancestor, which any delete below it raised).
 * queue.c sends the reply only once this worker has delivered the
 * events up to that zxid.
 *
 * Watches a read adds are handed to dp_sess_watch with the zxid after
 * which events concern them (the mzxid for a data watch, the pzxid for a
 * child watch, the ancestor's pzxid for an exist watch on a missing
 * node): see struct dp_arm.
 *
 * The broadcast core runs some of these reads too (dp_core_read, the
 * reads of dp_read_core_op), at their place in the txn order, for a
 * session whose later write must not wait for them (run.c): the
 * same code, without the session (its identities come with the request,
 * the watches it sets are collected for the answer, and the reply's zxid
 * is the tree's applied zxid, which covers everything it can reveal).
 *
 * read_per_namespace (common/nsstat.h): where DataTree.getData, statNode
 * and getChildren call updateReadStat, i.e. a getData, exists,
 * getChildren or getChildren2 that succeeds, and each such op of a
 * multiRead (counted as it runs, even when the whole reply then turns out
 * larger than jute.maxbuffer: ZooKeeper has counted by then);
 * getAllChildrenNumber, getACL and getEphemerals are not counted, as in
 * ZooKeeper.  The table is the worker's own (the core's for
 * dp_core_read): no lock, no shared line written.
 *
 * Runs on the worker thread, inside its RCU read side (a QSBR reader is
 * online between quiescent states), or (dp_core_read) on the core's;
 * tree views are used before the function returns and never kept.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/nsstat.h"
#include "config/config.h"
#include "dataplane/dp.h"
#include "dataplane/session/session_priv.h"

/* A watch a read run by the core sets (a view into the request frame). */
struct rwatch {
	const char *path;
	uint32_t len;
	uint8_t bits;
};

/*
 * A read's context.  On a worker p and s are set and watches go to
 * dp_sess_watch; on the core (dp_core_read) both are NULL and watches are
 * collected in wl for the answer.
 */
struct rctx {
	struct dp_proto *p;
	struct dp_sess *s;
	struct tree *t;
	struct tree_auth auth;
	struct jute_out *o;	  /* the reply frames */
	struct tree_children *ch; /* getChildren's scratch */
	struct nsstat_tab *ns;	  /* read_per_namespace (this thread's), or NULL */
	uint32_t max_frame;	  /* jute.maxbuffer */
	struct rwatch *wl;
	uint32_t nwl, wl_cap;
	int64_t reveal; /* newest zxid the reply can reveal */
};

static void reveal_stat(struct rctx *x, const struct zk_stat *st)
{
	x->reveal = max64(x->reveal, max64(st->czxid, max64(st->mzxid, st->pzxid)));
}

static inline const char *cpath(struct jute_buf b)
{
	return (const char *)b.p;
}

/* The offset of the k-th '/' (k >= 1) after path[0]. */
static size_t kth_slash(const char *path, size_t len, size_t k)
{
	for (size_t i = 1; i < len; i++)
		if (path[i] == '/' && --k == 0)
			return i;
	assert(!"fewer slashes than counted");
	return len;
}

/*
 * The pzxid of the nearest existing ancestor of a missing path: any
 * create or delete below that ancestor at or before the read raised it.
 * The candidates are path[0..i) for every '/' at i >= 1, then "/".  An
 * existing node's ancestors exist, so existence only goes from true to
 * false along them and a binary search finds the nearest in O(len log len);
 * one lookup per component, each hashing its prefix, was quadratic (a
 * missing 80 kB path "/x/a/a/..." cost 0.35 s of CPU, 1 MB a minute).
 * A concurrent change may be seen half-way, as with any walk; the
 * reply's zxid also covers tree_applying_zxid() sampled after the read.
 */
static int64_t absent_zxid(struct rctx *x, const char *path, size_t len)
{
	const struct tree_node *n = NULL;
	size_t lo = 1, hi = 0;
	struct zk_stat st;

	for (size_t i = 1; i < len; i++)
		hi += path[i] == '/';
	while (lo <= hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct tree_node *m = tree_lookup(x->t, path, kth_slash(path, len, mid));

		if (m) {
			n = m;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	if (!n)
		n = tree_lookup(x->t, "/", 1);
	if (!n)
		return 0;
	tree_node_read(n, &st, NULL);
	return st.pzxid;
}

/* Looks a node up; on a miss records what the miss reveals. */
static const struct tree_node *lookup(struct rctx *x, struct jute_buf path)
{
	const struct tree_node *n = tree_lookup(x->t, cpath(path), (size_t)path.len);

	if (!n)
		x->reveal = max64(x->reveal, absent_zxid(x, cpath(path), (size_t)path.len));
	return n;
}

/*
 * The check reveals the node's ACL, whatever its outcome (a NOAUTH also
 * that the node exists): the ACL it was created with (czxid), or, once
 * changed (aversion > 0), one set by a setACL, whose zxid the Stat does
 * not carry: the last setACL's stands for it.
 */
static void reveal_acl(struct rctx *x, const struct zk_stat *st)
{
	x->reveal = max64(x->reveal, st->czxid);
	if (st->aversion > 0)
		x->reveal = max64(x->reveal, tree_acl_zxid(x->t));
}

/*
 * checkACL for perm, and the node's Stat (and data, when data is not
 * NULL) of the same version (tree_node_read_check: an ACL open to
 * world:anyone for perm is not scanned).
 */
static int32_t check_read(struct rctx *x, const struct tree_node *n, int32_t perm,
			  struct zk_stat *st, struct jute_buf *data)
{
	int32_t err = tree_node_read_check(x->t, n, perm, &x->auth, st, data);

	reveal_acl(x, st);
	return err;
}

static int watch(struct rctx *x, struct jute_buf path, uint8_t bits, int64_t after)
{
	if (x->s)
		return dp_sess_watch(x->s, cpath(path), (size_t)path.len, bits, after);
	if (x->nwl == x->wl_cap) {
		uint32_t nc = x->wl_cap ? x->wl_cap * 2 : 4;
		struct rwatch *n = realloc(x->wl, (size_t)nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		x->wl = n;
		x->wl_cap = nc;
	}
	x->wl[x->nwl++] = (struct rwatch){ cpath(path), (uint32_t)path.len, bits };
	return 0;
}

/* How many watches the request has set so far, and forgetting those after. */
static uint32_t watch_mark(const struct rctx *x)
{
	return x->s ? x->s->narms : x->nwl;
}

static void watch_undo(struct rctx *x, uint32_t mark)
{
	if (!x->s) {
		x->nwl = mark;
		return;
	}
	while (x->s->narms > mark)
		free(x->s->arms[--x->s->narms].path);
}

/* ---- the reads (FinalRequestProcessor) ---- */

static int32_t op_exists(struct rctx *x, const struct proto_path_watch_req *r, struct zk_stat *st,
			 int *rc)
{
	const struct tree_node *n;

	if (r->path.len < 0)
		return ZK_MARSHALLINGERROR;
	if (memchr(r->path.p, '\0', (size_t)r->path.len))
		return ZK_BADARGUMENTS;
	n = tree_lookup(x->t, cpath(r->path), (size_t)r->path.len);
	if (!n) {
		/* Ancestor first, then the node again: a create in between is seen. */
		int64_t after = absent_zxid(x, cpath(r->path), (size_t)r->path.len);

		n = tree_lookup(x->t, cpath(r->path), (size_t)r->path.len);
		if (!n) {
			x->reveal = max64(x->reveal, after);
			/* DataTree.statNode watches before it finds the node missing. */
			if (r->watch)
				*rc = watch(x, r->path, DP_WATCH_DATA, after);
			return ZK_NONODE;
		}
	}
	if (check_read(x, n, ZK_PERM_READ, st, NULL) != ZK_OK)
		return ZK_NOAUTH;
	reveal_stat(x, st);
	if (r->watch)
		*rc = watch(x, r->path, DP_WATCH_DATA, st->mzxid);
	/* DataTree.statNode: updateReadStat(path, 0), on success only. */
	nsstat_add(x->ns, cpath(r->path), (size_t)r->path.len, 0);
	return ZK_OK;
}

static int32_t op_get_data(struct rctx *x, const struct proto_path_watch_req *r,
			   struct proto_data_stat *out, int *rc)
{
	const struct tree_node *n;

	if (r->path.len < 0)
		return ZK_MARSHALLINGERROR;
	n = lookup(x, r->path);
	if (!n)
		return ZK_NONODE;
	if (check_read(x, n, ZK_PERM_READ, &out->stat, &out->data) != ZK_OK)
		return ZK_NOAUTH;
	reveal_stat(x, &out->stat);
	if (r->watch)
		*rc = watch(x, r->path, DP_WATCH_DATA, out->stat.mzxid);
	/* DataTree.getData: updateReadStat(path, data bytes), on success only. */
	nsstat_add(x->ns, cpath(r->path), (size_t)r->path.len,
		   out->data.len > 0 ? (uint64_t)out->data.len : 0);
	return ZK_OK;
}

static int32_t op_get_children(struct rctx *x, const struct proto_path_watch_req *r,
			       struct proto_children_stat *out, int *rc)
{
	struct tree_children *ch = x->ch;
	const struct tree_node *n;

	if (r->path.len < 0)
		return ZK_MARSHALLINGERROR;
	n = lookup(x, r->path);
	if (!n)
		return ZK_NONODE;
	if (check_read(x, n, ZK_PERM_READ, &out->stat, NULL) != ZK_OK)
		return ZK_NOAUTH;
	if (tree_node_children(x->t, n, ch, &out->stat)) {
		*rc = -ENOMEM;
		return ZK_SYSTEMERROR;
	}
	memset(&out->children, 0, sizeof(out->children));
	out->children.items = ch->names;
	out->children.count = (int32_t)ch->count;
	reveal_stat(x, &out->stat);
	if (r->watch)
		*rc = watch(x, r->path, DP_WATCH_CHILD, out->stat.pzxid);
	/* DataTree.getChildren: updateReadStat(path, the names' String.length()s). */
	if (x->ns) {
		uint64_t bytes = 0;

		for (uint32_t i = 0; i < ch->count; i++)
			bytes += nsstat_utf16_len(cpath(ch->names[i]), (size_t)ch->names[i].len);
		nsstat_add(x->ns, cpath(r->path), (size_t)r->path.len, bytes);
	}
	return ZK_OK;
}

/*
 * Java's id.replaceAll(":.*", ":x"): every ':' and the run after it up to
 * a line terminator ('.' does not match \n, \r, U+0085, U+2028, U+2029)
 * become ":x".
 */
static size_t line_terminator(const uint8_t *p, size_t left)
{
	if (p[0] == '\n' || p[0] == '\r')
		return 1;
	if (left >= 2 && p[0] == 0xc2 && p[1] == 0x85)
		return 2;
	if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
		return 3;
	return 0;
}

static void put_redacted(struct jute_out *o, struct jute_buf id)
{
	size_t start, i = 0, n;

	if (id.len < 0) {
		jute_put_buf(o, id); /* a null id stays null */
		return;
	}
	start = o->len;
	n = (size_t)id.len;

	jute_put_int(o, 0); /* length, patched */
	while (i < n) {
		if (id.p[i] != ':') {
			jute_put_raw(o, &id.p[i], 1);
			i++;
			continue;
		}
		jute_put_raw(o, ":x", 2);
		i++;
		while (i < n && !line_terminator(&id.p[i], n - i))
			i++;
	}
	if (!o->err)
		jute_put_be32(o->buf + start, (uint32_t)(o->len - start - 4));
}

static int32_t op_get_acl(struct rctx *x, const struct proto_path_req *r,
			  struct proto_acl_stat *out, struct jute_out *tmp)
{
	const struct tree_node *n;
	struct jute_acl_iter it;
	struct jute_acl a;

	if (r->path.len < 0)
		return ZK_MARSHALLINGERROR;
	n = lookup(x, r->path);
	if (!n)
		return ZK_NONODE;
	tree_node_acl(x->t, n, &out->stat, &out->acl);
	reveal_acl(x, &out->stat);
	if (tree_acl_check(&out->acl, ZK_PERM_READ | ZK_PERM_ADMIN, &x->auth) != ZK_OK)
		return ZK_NOAUTH;
	reveal_stat(x, &out->stat);
	if (tree_acl_check(&out->acl, ZK_PERM_ADMIN, &x->auth) == ZK_OK || out->acl.count <= 0)
		return ZK_OK;
	/* Without ADMIN, digest ids are shown as "user:x". */
	tmp->len = 0;
	jute_put_int(tmp, out->acl.count);
	jute_acl_iter_init(&it, &out->acl);
	while (jute_acl_next(&it, &a)) {
		jute_put_int(tmp, a.perms);
		jute_put_buf(tmp, a.scheme);
		if (jute_buf_eq(a.scheme, "digest"))
			put_redacted(tmp, a.id);
		else
			jute_put_buf(tmp, a.id);
	}
	if (tmp->err)
		return ZK_SYSTEMERROR;
	out->acl.raw = tmp->buf;
	out->acl.raw_len = (uint32_t)tmp->len;
	return ZK_OK;
}

static int32_t op_all_children(struct rctx *x, const struct proto_path_req *r, int32_t *total)
{
	const struct tree_node *n;
	struct zk_stat st;
	int64_t count;

	if (r->path.len < 0)
		return ZK_MARSHALLINGERROR;
	n = lookup(x, r->path);
	if (!n)
		return ZK_NONODE;
	if (check_read(x, n, ZK_PERM_READ, &st, NULL) != ZK_OK)
		return ZK_NOAUTH;
	reveal_stat(x, &st);
	/* DataTree.getAllChildrenNumber: "/" counts every node but the root. */
	if (r->path.len == 1 && r->path.p[0] == '/')
		count = (int64_t)tree_node_count(x->t) - 1;
	else
		count = tree_count_descendants(n);
	*total = (int32_t)count;
	return ZK_OK;
}

struct eph_list {
	struct jute_buf *v;
	uint32_t n, cap;
};

static int eph_add(void *arg, const struct tree_node *n)
{
	struct eph_list *l = arg;

	if (l->n == l->cap) {
		uint32_t nc = l->cap ? l->cap * 2 : 16;
		struct jute_buf *v = realloc(l->v, (size_t)nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = nc;
	}
	l->v[l->n++] = tree_node_path(n);
	return 0;
}

/* Java's String.trim(): strips chars <= ' ' at both ends. */
static void java_trim(const uint8_t **p, size_t *len)
{
	while (*len && (*p)[0] <= ' ') {
		(*p)++;
		(*len)--;
	}
	while (*len && (*p)[*len - 1] <= ' ')
		(*len)--;
}

static int op_get_ephemerals(struct rctx *x, int64_t session, const struct proto_path_req *r,
			     struct eph_list *l)
{
	const uint8_t *tp = r->path.p;
	size_t tl = r->path.len < 0 ? 0 : (size_t)r->path.len;
	const char *prefix = cpath(r->path);
	size_t plen = tl;

	/* null, blank or "/" (after trim): all; otherwise a plain prefix, untrimmed. */
	java_trim(&tp, &tl);
	if (r->path.len < 0 || tl == 0 || (tl == 1 && tp[0] == '/')) {
		prefix = "";
		plen = 0;
	}
	return tree_session_ephemerals(x->t, session, prefix, plen, eph_add, l);
}

/* ---- watches (DataTree.setWatches / addWatch / removeWatch) ---- */

static int put_event(struct jute_out *o, int32_t type, struct jute_buf path, uint32_t *nframes)
{
	struct proto_watcher_event ev = { type, ZK_STATE_SYNC_CONNECTED, path };

	(*nframes)++;
	/* WatchedEvent without a zxid: NO_ZXID (-1). */
	return proto_encode_event(o, -1, &ev);
}

/*
 * One list of setWatches' data or child watches: a path that is gone, or
 * whose node changed after relative_zxid (mzxid for data, pzxid for
 * children), gets its event at once; the others get their watch.
 */
static int32_t reset_watches(struct rctx *x, const struct proto_str_list *l, bool child,
			     int64_t relative_zxid, uint32_t *nframes, int *rc)
{
	struct proto_iter it;
	struct jute_buf path;
	struct zk_stat st;

	proto_str_iter(&it, l);
	while (proto_str_next(&it, &path)) {
		const struct tree_node *n;
		int64_t changed;
		if (path.len < 0)
			return ZK_MARSHALLINGERROR;
		n = lookup(x, path);
		if (!n) {
			put_event(x->o, ZK_EVENT_NODE_DELETED, path, nframes);
			continue;
		}
		tree_node_read(n, &st, NULL);
		reveal_stat(x, &st);
		changed = child ? st.pzxid : st.mzxid;
		if (changed > relative_zxid)
			put_event(x->o,
				  child ? ZK_EVENT_NODE_CHILDREN_CHANGED
					: ZK_EVENT_NODE_DATA_CHANGED,
				  path, nframes);
		else if (!*rc)
			*rc = watch(x, path, child ? DP_WATCH_CHILD : DP_WATCH_DATA, changed);
	}
	return ZK_OK;
}

/* One list of setWatches2's persistent watches: each path gets its watch, as of before. */
static int32_t reset_persistent(struct rctx *x, const struct proto_str_list *l, uint8_t bits,
				int64_t before, int *rc)
{
	struct proto_iter it;
	struct jute_buf path;

	proto_str_iter(&it, l);
	while (proto_str_next(&it, &path)) {
		if (path.len < 0)
			return ZK_MARSHALLINGERROR;
		if (!*rc)
			*rc = watch(x, path, bits, before);
	}
	return ZK_OK;
}

static int32_t op_set_watches(struct rctx *x, const struct proto_set_watches_req *r, bool v2,
			      int64_t before, uint32_t *nframes, int *rc)
{
	struct jute_out *o = x->o;
	struct proto_iter it;
	struct jute_buf path;
	struct zk_stat st;
	int32_t err;

	err = reset_watches(x, &r->data, false, r->relative_zxid, nframes, rc);
	if (err != ZK_OK)
		return err;
	proto_str_iter(&it, &r->exist);
	while (proto_str_next(&it, &path)) {
		const struct tree_node *n;
		int64_t after;
		if (path.len < 0)
			return ZK_MARSHALLINGERROR;
		n = tree_lookup(x->t, cpath(path), (size_t)path.len);
		if (!n) {
			after = absent_zxid(x, cpath(path), (size_t)path.len);
			n = tree_lookup(x->t, cpath(path), (size_t)path.len);
			if (!n) {
				x->reveal = max64(x->reveal, after);
				if (!*rc)
					*rc = watch(x, path, DP_WATCH_DATA, after);
				continue;
			}
		}
		tree_node_read(n, &st, NULL);
		reveal_stat(x, &st);
		put_event(o, ZK_EVENT_NODE_CREATED, path, nframes);
	}
	err = reset_watches(x, &r->child, true, r->relative_zxid, nframes, rc);
	if (err != ZK_OK || !v2)
		return err;
	err = reset_persistent(x, &r->persistent, DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST,
			       before, rc);
	if (err != ZK_OK)
		return err;
	return reset_persistent(x, &r->persistent_recursive, DP_WATCH_DATA_RECURSIVE, before, rc);
}

static bool wtype_valid(int32_t t)
{
	return t >= DP_WTYPE_CHILDREN && t <= DP_WTYPE_PERSISTENT_RECURSIVE;
}

/* ---- whoAmI (AuthUtil.getClientInfos) ---- */

static void put_client_infos(struct jute_out *o, struct dp_sess *s)
{
	const struct tree_auth_id *ids = dp_sess_auth_ordered(s);

	jute_put_int(o, (int32_t)s->nauth);
	for (uint32_t i = 0; i < s->nauth; i++) {
		struct jute_buf scheme = ids[i].scheme, id = ids[i].id, user = id;

		jute_put_buf(o, scheme);
		if (jute_buf_eq(scheme, "digest")) {
			/* DigestAuthenticationProvider.getUserName: id.split(":")[0] */
			const uint8_t *colon = memchr(id.p, ':', (size_t)id.len);
			if (colon)
				user.len = (int32_t)(colon - id.p);
		} else if (jute_buf_eq(scheme, "sasl") && s->p->cfg && s->p->cfg->sasl_provider) {
			/* SASLAuthenticationProvider.getUserName: the id */
		} else if (jute_buf_eq(scheme, "x509")) {
			/* X509AuthenticationProvider (AuthenticationProvider.getUserName): the id */
		} else if (!jute_buf_eq(scheme, "ip")) {
			/* no provider (super, sasl without its provider): user "" */
			user.len = 0;
		}
		jute_put_buf(o, user);
	}
}

/* ---- dispatch ---- */

static const char *last_op_of(int32_t op)
{
	switch (op) {
	case ZK_OP_PING: return "PING";
	case ZK_OP_EXISTS: return "EXIS";
	case ZK_OP_GETDATA: return "GETD";
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETCHILDREN2: return "GETC";
	case ZK_OP_GETACL: return "GETA";
	case ZK_OP_GETALLCHILDRENNUMBER: return "GETACN";
	case ZK_OP_GETEPHEMERALS: return "GETE";
	case ZK_OP_MULTIREAD: return "MLTR";
	case ZK_OP_WHOAMI: return "HOMI";
	case ZK_OP_SETWATCHES: return "SETW";
	case ZK_OP_SETWATCHES2: return "STW2";
	case ZK_OP_ADDWATCH: return "ADDW";
	case ZK_OP_CHECKWATCHES: return "CHKW";
	case ZK_OP_REMOVEWATCHES: return "REMW";
	default: return "NA";
	}
}

/* Encodes a reply whose header zxid is patched once known; returns its offset. */
static size_t reply(struct jute_out *o, int32_t xid, int32_t err, int32_t op,
		    const struct proto_response *body, uint32_t *nframes)
{
	struct proto_reply_hdr h = { xid, 0, err };
	size_t at = o->len;

	(*nframes)++;
	/* The usual answers, written in one pass (the same bytes). */
	if (err == ZK_OK && op == ZK_OP_GETDATA)
		proto_encode_stat_reply(o, &h, &body->data_stat.data, &body->data_stat.stat);
	else if (err == ZK_OK && op == ZK_OP_EXISTS)
		proto_encode_stat_reply(o, &h, NULL, &body->stat);
	else
		proto_encode_reply(o, &h, op, err == ZK_OK ? body : NULL);
	return at;
}

/* MultiHeader (type, done, err): what precedes every result and the end marker. */
#define MULTI_HDR_SIZE 9

/* An upper bound of the bytes proto_put_multi_result writes for r. */
static size_t multi_result_size(const struct proto_multi_result *r)
{
	size_t n = MULTI_HDR_SIZE + 4;

	if (r->type == ZK_OP_GETDATA) {
		n += (r->data_stat.data.len > 0 ? (size_t)r->data_stat.data.len : 0) +
		     PROTO_STAT_SIZE;
	} else if (r->type == ZK_OP_GETCHILDREN) {
		for (int32_t i = 0; i < r->children.count; i++)
			n += 4 +
			     (size_t)(r->children.items[i].len > 0 ? r->children.items[i].len : 0);
	}
	return n;
}

/*
 * multiRead (FinalRequestProcessor).  The reply is bounded while it is
 * built: a client cannot read a frame longer than its jute.maxbuffer
 * (ClientCnxnSocket.readLength: "Packet len N is out of range!", then it
 * drops the connection and every pending request), and ZooKeeper would
 * first serialise the whole reply in memory (1,000 getData of a 1 MB
 * node: 1 GB).  So before each result goes in, the reply's length with it
 * and the end marker is checked against jute.maxbuffer; past it the
 * results are dropped, the watches the request added are forgotten, and
 * the whole multiRead is answered MARSHALLINGERROR with no body (the
 * reply cannot be marshalled for the client; per-op errors would read as
 * facts about those nodes).  The scratch buffer never holds more than
 * jute.maxbuffer plus one op's read (a node's data, a child list).
 */
static int32_t multi_read(struct rctx *x, const struct proto_request *req, int *rc)
{
	struct jute_out *o = x->o;
	struct proto_reply_hdr h = { req->hdr.xid, 0, ZK_OK };
	uint32_t mark = watch_mark(x), max = x->max_frame;
	size_t at = o->len;
	struct proto_frame f;
	struct proto_iter it;
	struct proto_multi_op op;

	assert(max > 0);
	proto_reply_begin(o, &f, &h);
	proto_multi_iter(&it, &req->multi);
	while (proto_multi_next(&it, &op)) {
		struct proto_multi_result r;
		int32_t err;

		memset(&r, 0, sizeof(r));
		if (op.type == ZK_OP_GETCHILDREN) {
			struct proto_children_stat cs;
			err = op_get_children(x, &op.path_watch, &cs, rc);
			r.type = ZK_OP_GETCHILDREN;
			r.children = cs.children;
		} else {
			err = op_get_data(x, &op.path_watch, &r.data_stat, rc);
			r.type = ZK_OP_GETDATA;
		}
		if (err != ZK_OK) {
			r.type = ZK_OP_ERROR;
			r.err = err;
			r.error = err;
		}
		/* The frame's length field counts what follows it. */
		if (o->len - at - PROTO_LEN_SIZE + multi_result_size(&r) + MULTI_HDR_SIZE > max)
			goto too_big;
		proto_put_multi_result(o, &r);
	}
	proto_put_multi_end(o);
	if (proto_frame_end(o, &f) && !*rc)
		*rc = o->err ? o->err : -ENOMEM;
	assert(*rc || o->len - at - PROTO_LEN_SIZE <= max);
	return ZK_OK;

too_big:
	o->len = at;
	watch_undo(x, mark);
	log_warn("dataplane: multiRead from %s (session 0x%016llx) would reply more than "
		 "jute.maxbuffer (%u bytes); answering MARSHALLINGERROR",
		 x->s ? dp_conn_peer(x->s->conn) : "a client",
		 (unsigned long long)(x->s ? x->s->session : 0), max);
	return ZK_MARSHALLINGERROR;
}

const char *dp_read_last_op(int32_t op)
{
	return last_op_of(op);
}

/*
 * The reads the core may run too (dp_read_core_op): encodes the reply
 * into x->o (its offset in *at, its header zxid left 0) and returns true,
 * or false for another op.
 */
static bool read_op(struct rctx *x, const struct proto_request *req, size_t *at,
		    uint32_t *nframes, int *rc)
{
	struct jute_out *o = x->o;
	struct proto_response body;
	int32_t op = req->hdr.type, xid = req->hdr.xid, err;

	/* getData and exists fill all of what their reply shows. */
	switch (op) {
	case ZK_OP_EXISTS:
		err = op_exists(x, &req->path_watch, &body.stat, rc);
		*at = reply(o, xid, err, op, &body, nframes);
		return true;
	case ZK_OP_GETDATA:
		err = op_get_data(x, &req->path_watch, &body.data_stat, rc);
		*at = reply(o, xid, err, op, &body, nframes);
		return true;
	default:
		break;
	}
	memset(&body, 0, sizeof(body));
	switch (op) {
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETCHILDREN2:
		err = op_get_children(x, &req->path_watch, &body.children_stat, rc);
		if (op == ZK_OP_GETCHILDREN)
			body.children = body.children_stat.children;
		*at = reply(o, xid, err, op, &body, nframes);
		return true;
	case ZK_OP_GETACL: {
		struct jute_out tmp;
		jute_out_init(&tmp, 0);
		err = op_get_acl(x, &req->path, &body.acl_stat, &tmp);
		*at = reply(o, xid, err, op, &body, nframes);
		jute_out_free(&tmp);
		return true;
	}
	case ZK_OP_GETALLCHILDRENNUMBER:
		err = op_all_children(x, &req->path, &body.total);
		*at = reply(o, xid, err, op, &body, nframes);
		return true;
	case ZK_OP_MULTIREAD:
		*at = o->len;
		err = multi_read(x, req, rc);
		if (err != ZK_OK)
			reply(o, xid, err, op, NULL, nframes);
		else
			(*nframes)++;
		return true;
	default:
		return false;
	}
}

int dp_read_exec(struct dp_proto *p, struct dp_sess *s, const struct proto_request *req,
		 const uint8_t *payload, uint32_t len, struct dp_local_res *res)
{
	struct rctx x = { .p = p,
			  .s = s,
			  .t = p->tree,
			  .o = &p->scratch,
			  .ch = &p->children,
			  .ns = p->ns_reads,
			  .max_frame = p->max_frame };
	struct jute_out *o = &p->scratch;
	struct proto_response body;
	int64_t before = tree_last_zxid(p->tree);
	int32_t op = req->hdr.type, xid = req->hdr.xid, err = ZK_OK;
	size_t at = SIZE_MAX;
	uint32_t nframes = 0;
	int rc = 0;

	(void)payload;
	(void)len;
	x.auth = dp_sess_tree_auth(s);
	memset(res, 0, sizeof(*res));
	res->last_op = last_op_of(op);
	res->stats = true;

	switch (op) {
	case ZK_OP_PING:
		at = reply(o, ZK_XID_PING, ZK_OK, op, NULL, &nframes);
		break;
	case ZK_OP_EXISTS:
	case ZK_OP_GETDATA:
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETCHILDREN2:
	case ZK_OP_GETACL:
	case ZK_OP_GETALLCHILDRENNUMBER:
	case ZK_OP_MULTIREAD:
		read_op(&x, req, &at, &nframes, &rc);
		break;
	case ZK_OP_GETEPHEMERALS: {
		struct eph_list l = { 0 };
		memset(&body, 0, sizeof(body));
		rc = op_get_ephemerals(&x, s->session, &req->path, &l);
		body.children.items = l.v;
		body.children.count = (int32_t)l.n;
		at = reply(o, xid, ZK_OK, op, &body, &nframes);
		free(l.v);
		break;
	}
	case ZK_OP_WHOAMI: {
		struct proto_reply_hdr h = { xid, 0, ZK_OK };
		struct proto_frame f;
		at = o->len;
		nframes++;
		proto_reply_begin(o, &f, &h);
		put_client_infos(o, s);
		proto_frame_end(o, &f);
		break;
	}
	case ZK_OP_SETWATCHES:
	case ZK_OP_SETWATCHES2:
		err = op_set_watches(&x, &req->set_watches, op == ZK_OP_SETWATCHES2, before, &nframes,
				     &rc);
		at = reply(o, xid, err, op, NULL, &nframes);
		break;
	case ZK_OP_ADDWATCH: {
		uint8_t bits = req->add_watch.mode == ZK_ADD_WATCH_PERSISTENT
				       ? DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST
			       : req->add_watch.mode == ZK_ADD_WATCH_PERSISTENT_RECURSIVE
				       ? DP_WATCH_DATA_RECURSIVE
				       : 0;
		/* WatcherMode.fromZooDef / a null path: not a KeeperException. */
		if (!bits || req->add_watch.path.len < 0)
			err = ZK_MARSHALLINGERROR;
		else
			rc = watch(&x, req->add_watch.path, bits, before);
		memset(&body, 0, sizeof(body));
		body.err = 0; /* ErrorResponse(0) */
		at = reply(o, xid, err, op, &body, &nframes);
		break;
	}
	case ZK_OP_CHECKWATCHES:
	case ZK_OP_REMOVEWATCHES: {
		const struct proto_watches_req *r = &req->watches;
		bool found;
		/* WatcherType.fromInt throws for other values. */
		if (!wtype_valid(r->type) || r->path.len < 0) {
			err = ZK_MARSHALLINGERROR;
		} else {
			if (op == ZK_OP_CHECKWATCHES)
				found = s->has_widx && dp_watch_contains(p->watch, s->widx, cpath(r->path),
									(size_t)r->path.len, r->type);
			else
				found = s->has_widx && dp_watch_remove(p->watch, s->widx, cpath(r->path),
								      (size_t)r->path.len, r->type);
			err = found ? ZK_OK : ZK_NOWATCHER;
		}
		at = reply(o, xid, err, op, NULL, &nframes);
		break;
	}
	case ZK_OP_AUTH:
		/* ZooKeeperServer.processPacket: ReplyHeader(xid, 0, ...), not in the stats. */
		err = dp_sess_auth(s, &req->auth);
		reply(o, xid, err, op, NULL, &nframes);
		res->close_after = err != ZK_OK;
		res->stats = false;
		res->zxid = 0;
		res->nframes = nframes;
		return 0;
	case ZK_OP_SASL: {
		/* processSasl (sasl.c): {xid, 0, err}, SetSASLResponse(token) even on error. */
		struct proto_reply_hdr h = { xid, 0, ZK_OK };
		struct dp_sasl_out so;

		rc = dp_sess_sasl(s, req->sasl_token, &so);
		if (rc) {
			log_error("dataplane: out of memory in a SASL exchange with %s; closing",
				  dp_conn_peer(s->conn));
			return rc;
		}
		if (so.pending) {
			res->pending = true;
			res->stats = false;
			res->zxid = 0;
			return 0;
		}
		if (so.drop) {
			log_debug("dataplane: %s sent a null SASL token or one after the exchange "
				  "ended; closing",
				  dp_conn_peer(s->conn));
			return -EPROTO;
		}
		memset(&body, 0, sizeof(body));
		body.sasl_token = so.token;
		h.err = so.err;
		nframes++;
		if (proto_encode_reply(o, &h, op, &body) || o->err)
			return o->err ? o->err : -ENOMEM;
		res->close_after = so.close;
		res->stats = false;
		res->zxid = 0;
		res->nframes = nframes;
		return 0;
	}
	case ZK_OP_RECONFIG:
		/* PrepRequestProcessor: disabled, else standalone -> UNIMPLEMENTED. */
		err = p->cfg && p->cfg->reconfig_enabled ? ZK_UNIMPLEMENTED : ZK_RECONFIGDISABLED;
		res->last_op = "NA";
		at = reply(o, xid, err, op, NULL, &nframes);
		break;
	default:
		log_error("dataplane: %s from %s (session 0x%016llx) reached the read path; closing",
			  proto_op_name(op), dp_conn_peer(s->conn), (unsigned long long)s->session);
		return -EPROTO;
	}
	if (rc) {
		log_error("dataplane: out of memory serving %s for %s (session 0x%016llx); closing",
			  proto_op_name(op), dp_conn_peer(s->conn), (unsigned long long)s->session);
		return rc < 0 ? rc : -ENOMEM;
	}
	if (o->err) {
		log_error("dataplane: cannot encode the %s reply for %s (session 0x%016llx): %s; closing",
			  proto_op_name(op), dp_conn_peer(s->conn), (unsigned long long)s->session,
			  strerror(-o->err));
		return o->err;
	}
	res->zxid = max64(tree_applying_zxid(p->tree), x.reveal);
	/*
	 * A plain read whose every revealed zxid is one whose events this
	 * worker has delivered shows nothing newer than seen_zxid: it is the
	 * state as of seen_zxid, so it answers with that zxid at once instead
	 * of waiting for the core's newest txn to reach this worker (under a
	 * steady write load nearly every read would wait otherwise).  Only
	 * where reveal is complete: the node's czxid/mzxid/pzxid (children
	 * included), or a missing node's nearest ancestor's pzxid.
	 */
	if ((op == ZK_OP_GETDATA || op == ZK_OP_EXISTS || op == ZK_OP_GETCHILDREN ||
	     op == ZK_OP_GETCHILDREN2) &&
	    x.reveal <= p->seen_zxid && res->zxid > p->seen_zxid)
		res->zxid = p->seen_zxid;
	/* ReplyHeader.zxid: after the 4-byte length and the 4-byte xid. */
	jute_put_be64(o->buf + at + PROTO_LEN_SIZE + 4, (uint64_t)res->zxid);
	res->nframes = nframes;
	return 0;
}

/* The xid of a frame the core could not decode (its first four bytes). */
static int32_t frame_xid(struct jute_buf f)
{
	return f.len >= 4 ? (int32_t)jute_be32(f.p) : 0;
}

int dp_core_read(void *ctx, struct tree *t, const struct repl_write *req,
		 struct repl_read_out **out)
{
	const struct dp_core_read_ctx *c = ctx;
	const struct cfg *cfg = c ? c->cfg : NULL;
	struct tree_auth_id ids[TREE_AUTH_MAX_IDS];
	struct rctx x = { .t = t, .ns = c ? c->reads : NULL };
	struct jute_out out_buf;
	struct jute_out *o = &out_buf;
	struct tree_children ch;
	struct repl_read_out *res = NULL;
	struct repl_read_ans *ans = NULL;
	int64_t zxid = tree_last_zxid(t);
	uint32_t nframes = 0;
	size_t off;
	int32_t err = ZK_OK;

	*out = NULL;
	if (!req->nreqs || req->nauth > TREE_AUTH_MAX_IDS)
		return ZK_MARSHALLINGERROR;
	ans = malloc((size_t)req->nreqs * sizeof(*ans));
	if (!ans) {
		log_error("dataplane: out of memory serving %u reads on the broadcast core",
			  req->nreqs);
		return ZK_SYSTEMERROR;
	}
	repl_write_auth(req, ids, &x.auth);
	memset(&ch, 0, sizeof(ch));
	/* One buffer for every reply of the batch, copied into the answer at the end. */
	jute_out_init(o, 256 * (size_t)(req->nreqs < 64 ? req->nreqs : 64));
	x.o = o;
	x.ch = &ch;
	x.max_frame = cfg && cfg->jute_max_buffer > 0 ? (uint32_t)cfg->jute_max_buffer
						      : ZK_DEFAULT_MAX_BUFFER;
	for (uint32_t i = 0; i < req->nreqs; i++) {
		const struct repl_write_req *rq =
		    (const struct repl_write_req *)((const uint8_t *)req + req->reqs_off) + i;
		struct jute_buf f = repl_write_data(req, i);
		struct proto_request r;
		size_t start = o->len, at = SIZE_MAX;
		uint32_t mark = x.nwl, n = 0;
		int rc = 0;

		ans[i] = (struct repl_read_ans){ .xid = frame_xid(f), .err = ZK_MARSHALLINGERROR };
		if (f.len < 0 || proto_decode_request(f.p, (uint32_t)f.len, &r) ||
		    r.hdr.type != rq->type || !dp_read_core_op(r.hdr.type))
			continue;
		ans[i].xid = r.hdr.xid;
		x.reveal = 0;
		read_op(&x, &r, &at, &n, &rc);
		if (rc || o->err || at == SIZE_MAX || o->len <= at) {
			/* Out of memory (or a frame dropped): this read fails alone. */
			log_error("dataplane: out of memory serving %s on the broadcast core",
				  proto_op_name(r.hdr.type));
			o->len = start;
			o->err = 0;
			x.nwl = mark;
			ans[i].err = ZK_SYSTEMERROR;
			continue;
		}
		/* The reply shows everything applied (the core applies nothing meanwhile). */
		x.reveal = max64(x.reveal, zxid);
		jute_put_be64(o->buf + at + PROTO_LEN_SIZE + 4, (uint64_t)x.reveal);
		zxid = x.reveal;
		ans[i] = (struct repl_read_ans){ r.hdr.xid, ZK_OK, n, (uint32_t)(o->len - start),
						 x.nwl - mark };
		nframes += n;
	}
	off = o->len;
	for (uint32_t i = 0; i < x.nwl; i++)
		off += x.wl[i].len;
	res = malloc(repl_read_out_size(req->nreqs, x.nwl, off));
	if (!res) {
		log_error("dataplane: out of memory answering %u reads on the broadcast core",
			  req->nreqs);
		err = ZK_SYSTEMERROR;
		goto out;
	}
	res->zxid = zxid;
	res->nreads = req->nreqs;
	res->nframes = nframes;
	res->len = (uint32_t)o->len;
	res->nwatches = x.nwl;
	memcpy(repl_read_answers(res), ans, (size_t)req->nreqs * sizeof(*ans));
	memcpy(repl_read_bytes(res), o->buf, o->len);
	off = o->len;
	for (uint32_t i = 0; i < x.nwl; i++) {
		res->watches[i].path_off = (uint32_t)off;
		res->watches[i].path_len = x.wl[i].len;
		res->watches[i].bits = x.wl[i].bits;
		memcpy(repl_read_bytes(res) + off, x.wl[i].path, x.wl[i].len);
		off += x.wl[i].len;
	}
	*out = res;
out:
	free(ans);
	free(x.wl);
	tree_children_release(&ch);
	jute_out_free(o);
	return err;
}
