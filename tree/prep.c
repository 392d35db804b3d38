/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prep: validation of writes before they get into the log, reproducing
 * Apache ZooKeeper's PrepRequestProcessor (3.9 line / master: ZOOKEEPER-4743
 * version wrap, setACL publishing the new ACL to pipelined requests).  A
 * request either becomes its transaction or an ERROR transaction carrying
 * the ZooKeeper error code, with exactly ZooKeeper's order of checks (see
 * the prep_* functions; each lists the order).
 *
 * Outstanding changes.  Writes are pipelined: request n+1 is prepped
 * before request n is applied, yet must see it (create a parent, then a
 * child; delete, then re-create; sequential names).  As ZooKeeper's
 * outstandingChanges / outstandingChangesForPath, every accepted write
 * leaves change records: a FIFO of all records (zxid order) plus a map
 * path -> newest record.  A lookup takes the map's record, else the node
 * in the tree.  A record holds the persisted Stat (raw cversion = number
 * of creates, raw ephemeralOwner), the child count and the ACL, or says
 * "deleted".  Records own copies of their path and ACL bytes (ACL blobs
 * are shared between records of one node), since request buffers go away.
 * tree_prep_applied(zxid) pops records with zxid <= zxid from the FIFO and
 * drops a path from the map only when the popped record is still its
 * newest (FinalRequestProcessor / ZooKeeperServer.processTxn).
 *
 * Keys are ZooKeeper's: the parent of "/a" is "" (the root's key as a
 * parent) while the root itself is "/", so records of the root as a
 * parent and as a node are distinct, as in ZooKeeper.
 *
 * Multi: one zxid; ops are prepped in order and see earlier ops' records;
 * at the first failure every record of the multi is rolled back (an undo
 * log restores the map as it was before the multi, which is what
 * rollbackPendingChanges does for the paths it saved) and the multi
 * becomes ERROR ops (ZK_OK before, the code, ZK_RUNTIMEINCONSISTENCY
 * after), as tree.h documents.  Ops of a multi take the type ZooKeeper's
 * MultiOperationRecord gives them: a create's type comes from its flags
 * (TTL mode -> createTTL, container -> createContainer, else create), so
 * create2 in a multi is a plain create; a create/create2/createContainer
 * header with TTL flags makes ZooKeeper throw ClassCastException, which
 * turns the whole request into an ERROR(MARSHALLINGERROR).  Types a multi
 * cannot carry (setACL, deleteContainer, ...) fail its decoding in
 * ZooKeeper: ERROR(MARSHALLINGERROR) as well.  So the decoder hands prep a
 * multi's ops with the MultiHeader types as sent, unconverted.
 *
 * Allocation failure: nothing of the request is recorded, nothing is
 * appended, out->err = -ENOMEM and tree_prep_write returns ZK_SYSTEMERROR
 * (the zxid was not used).
 *
 * Departures from ZooKeeper, all in cases where ZooKeeper is broken:
 *  - top-level createTTL with a non-TTL mode and ttl < 0 passes
 *    ZooKeeper's prep and then throws in DataTree; here: BADARGUMENTS;
 *  - ZooKeeper keeps the records of ops before a ClassCastException, and
 *    its rollback forgets an earlier record of a sequential create's final
 *    path; here every record of a failed request is undone exactly;
 *  - no quota checks: zookeeper.enforceQuota is off by default and master's
 *    validateQuotaData guards quota bookkeeping the tree does not keep.
 *
 * Session checks (SESSIONEXPIRED, SESSIONMOVED, EPHEMERALONLOCALSESSION)
 * are the session tracker's, before prep.  Data size limits are the
 * wire's (jute.maxbuffer).
 *
 * Thread: the writer (broadcast core) only, registered and online; prep
 * reads the tree directly (no other mutator runs concurrently).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/log.h"
#include "prep_priv.h"
#include "tree_priv.h"

/* ---- Records ---- */

/* An ACL list in jute encoding, shared by the records of one node. */
struct acl_blob {
	uint32_t refs;
	struct jute_acl_list list; /* raw points at bytes */
	uint8_t bytes[];
};

/* ZooKeeperServer.ChangeRecord. */
struct change {
	struct change *next; /* FIFO, oldest first */
	struct change *prev;
	struct change *hnext; /* bucket chain, while in the map */
	uint64_t hash;
	int64_t zxid;
	struct tree_pstat st; /* num_children unused: child_count */
	int32_t child_count;
	bool exists; /* false: a pending delete (stat == null) */
	bool in_map;
	struct acl_blob *acl; /* NULL when !exists */
	uint32_t path_len;
	char path[];
};

/* The map held added's path at prev (NULL: absent) before added went in. */
struct undo {
	struct change *added;
	struct change *prev;
};

struct tree_prep {
	struct tree *t;
	struct change *head, *tail;
	struct change **buckets;
	uint32_t nbuckets; /* power of two */
	uint32_t nmap;
	struct undo *undo; /* for the request being prepped */
	uint32_t nundo, undo_cap;
	struct jute_out scratch; /* fixupACL output */
	int err; /* -ENOMEM met while prepping the current request */
};

/* A record as read: a pending change, or the node in the tree. */
struct rec {
	struct change *c; /* NULL: from the tree */
	uint64_t hash;	  /* tree_hash_path of the record's path */
	struct tree_pstat st;
	int32_t child_count;
	struct jute_acl_list acl;
};

/* The request being prepped. */
struct ctx {
	struct tree_prep *p;
	const struct tree_txn *hdr;
	const struct tree_auth *auth;
	/*
	 * Bytes of ACL lists fixupACL may still write for this request:
	 * jute.maxbuffer in all.  Literal ACLs come from the request, which
	 * is no longer than that, so only "auth" expansion can run out.
	 */
	size_t acl_budget;
};

static struct acl_blob *blob_new(struct tree_prep *p, const struct jute_acl_list *l)
{
	struct acl_blob *b = malloc(sizeof(*b) + l->raw_len);

	if (!b) {
		p->err = -ENOMEM;
		return NULL;
	}
	b->refs = 1;
	memcpy(b->bytes, l->raw, l->raw_len);
	b->list.raw = b->bytes;
	b->list.raw_len = l->raw_len;
	b->list.count = l->count < 0 ? 0 : l->count;
	return b;
}

static void blob_unref(struct acl_blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

/*
 * A record for path (whose tree_hash_path is hash) with room for extra
 * more path bytes; not linked.
 */
static struct change *change_alloc_hashed(struct tree_prep *p, const char *path, size_t len,
					  size_t extra, uint64_t hash)
{
	struct change *c = calloc(1, sizeof(*c) + len + extra + 1);

	if (!c) {
		p->err = -ENOMEM;
		return NULL;
	}
	if (len)
		memcpy(c->path, path, len);
	c->path_len = (uint32_t)len;
	c->hash = hash;
	return c;
}

static struct change *change_alloc(struct tree_prep *p, const char *path, size_t len, size_t extra)
{
	return change_alloc_hashed(p, path, len, extra, tree_hash_path(path, len));
}

static void change_free(struct change *c)
{
	if (c) {
		blob_unref(c->acl);
		free(c);
	}
}

/*
 * ChangeRecord.duplicate(zxid): same path, stat, child count and ACL.
 * path is the one r was read for (get_record), whose hash r carries.
 */
static struct change *change_dup(struct tree_prep *p, const struct rec *r, const char *path,
				 size_t len, int64_t zxid)
{
	struct change *c = change_alloc_hashed(p, path, len, 0, r->hash);

	if (!c)
		return NULL;
	if (r->c) {
		c->acl = r->c->acl;
		c->acl->refs++;
	} else if (!(c->acl = blob_new(p, &r->acl))) {
		free(c);
		return NULL;
	}
	c->zxid = zxid;
	c->st = r->st;
	c->child_count = r->child_count;
	c->exists = true;
	return c;
}

/* ---- The path map ---- */

static struct change **bucket(struct tree_prep *p, uint64_t hash)
{
	return &p->buckets[hash & (p->nbuckets - 1)];
}

static struct change *map_find(struct tree_prep *p, const char *path, size_t len, uint64_t hash)
{
	for (struct change *c = *bucket(p, hash); c; c = c->hnext)
		if (c->hash == hash && c->path_len == len && memcmp(c->path, path, len) == 0)
			return c;
	return NULL;
}

/* Grows the table; on failure chains just get longer. */
static void map_grow(struct tree_prep *p)
{
	uint32_t n = p->nbuckets * 2;
	struct change **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;
	for (uint32_t i = 0; i < p->nbuckets; i++) {
		struct change *c = p->buckets[i], *next;
		for (; c; c = next) {
			next = c->hnext;
			c->hnext = nb[c->hash & (n - 1)];
			nb[c->hash & (n - 1)] = c;
		}
	}
	free(p->buckets);
	p->buckets = nb;
	p->nbuckets = n;
}

static void map_link(struct tree_prep *p, struct change *c)
{
	struct change **b = bucket(p, c->hash);

	c->hnext = *b;
	*b = c;
	c->in_map = true;
	if (++p->nmap > p->nbuckets)
		map_grow(p);
}

static void map_unlink(struct tree_prep *p, struct change *c)
{
	struct change **pp = bucket(p, c->hash);

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			c->hnext = NULL;
			c->in_map = false;
			p->nmap--;
			return;
		}
	}
}

static int reserve_undo(struct tree_prep *p, uint32_t n)
{
	if (p->undo_cap - p->nundo >= n)
		return 0;
	uint32_t cap = p->undo_cap ? p->undo_cap : 16;
	while (cap - p->nundo < n)
		cap *= 2;
	struct undo *u = realloc(p->undo, cap * sizeof(*u));
	if (!u) {
		p->err = -ENOMEM;
		return -ENOMEM;
	}
	p->undo = u;
	p->undo_cap = cap;
	return 0;
}

/* addChangeRecord: appends to the FIFO, becomes the path's newest (undo reserved). */
static void add_change(struct tree_prep *p, struct change *c)
{
	struct change *prev = map_find(p, c->path, c->path_len, c->hash);

	c->prev = p->tail;
	c->next = NULL;
	if (p->tail)
		p->tail->next = c;
	else
		p->head = c;
	p->tail = c;
	if (prev)
		map_unlink(p, prev);
	map_link(p, c);
	p->undo[p->nundo++] = (struct undo){ c, prev };
}

static struct change *begin_request(struct tree_prep *p)
{
	p->nundo = 0;
	p->err = 0;
	return p->tail;
}

/* Undoes every record the current request added after mark. */
static void rollback(struct tree_prep *p, struct change *mark)
{
	struct change *c, *next;

	while (p->nundo > 0) {
		struct undo *u = &p->undo[--p->nundo];
		if (u->added->in_map)
			map_unlink(p, u->added);
		if (u->prev)
			map_link(p, u->prev);
	}
	c = mark ? mark->next : p->head;
	if (mark)
		mark->next = NULL;
	else
		p->head = NULL;
	p->tail = mark;
	for (; c; c = next) {
		next = c->next;
		change_free(c);
	}
}

/* getRecordForPath: the newest pending record, else the tree's node. */
static enum zk_err get_record(struct tree_prep *p, const char *path, size_t len, struct rec *r)
{
	uint64_t h = tree_hash_path(path, len);
	struct change *c = map_find(p, path, len, h);
	struct tree_node *n;

	r->hash = h;
	if (c) {
		if (!c->exists)
			return ZK_NONODE;
		r->c = c;
		r->st = c->st;
		r->child_count = c->child_count;
		r->acl = c->acl->list;
		return ZK_OK;
	}
	/* DataTree maps both "" and "/" to the root. */
	n = len ? pidx_find(&p->t->nodes, h, path, len) : tree_find(p->t, "/", 1);
	if (!n)
		return ZK_NONODE;
	r->c = NULL;
	tree_node_pstat(n, &r->st);
	r->child_count = r->st.num_children;
	r->acl = acl_table_get(p->t, tree_node_acl_id(n, n->ext));
	return ZK_OK;
}

/* ---- Rules shared by the ops ---- */

/* CreateMode.fromFlag. */
struct create_mode {
	bool ephemeral, sequential, container, ttl;
};

static bool create_mode_from_flag(int32_t flags, struct create_mode *m)
{
	static const struct create_mode modes[] = {
		[ZK_CREATE_PERSISTENT] = { false, false, false, false },
		[ZK_CREATE_EPHEMERAL] = { true, false, false, false },
		[ZK_CREATE_PERSISTENT_SEQUENTIAL] = { false, true, false, false },
		[ZK_CREATE_EPHEMERAL_SEQUENTIAL] = { true, true, false, false },
		[ZK_CREATE_CONTAINER] = { false, false, true, false },
		[ZK_CREATE_PERSISTENT_WITH_TTL] = { false, false, false, true },
		[ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL] = { false, true, false, true },
	};

	if (flags < 0 || flags > ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL)
		return false;
	*m = modes[flags];
	return true;
}

/* Op.Create's opcode: from CreateMode.fromFlag(flags, PERSISTENT). */
static int32_t multi_create_type(int32_t flags)
{
	struct create_mode m;

	if (!create_mode_from_flag(flags, &m))
		return ZK_OP_CREATE;
	if (m.ttl)
		return ZK_OP_CREATETTL;
	return m.container ? ZK_OP_CREATECONTAINER : ZK_OP_CREATE;
}

/* checkAndIncVersion, with ZOOKEEPER-4743: never hand out -1. */
static enum zk_err check_and_inc(int32_t current, int32_t expected, int32_t *next)
{
	int32_t n;

	if (expected != -1 && expected != current)
		return ZK_BADVERSION;
	n = (int32_t)((uint32_t)current + 1);
	*next = n == -1 ? 0 : n;
	return ZK_OK;
}

static bool is_special_path(const char *path, size_t len)
{
	static const char *const special[] = { "/", "/zookeeper", "/zookeeper/quota",
					       "/zookeeper/config" };

	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (strlen(special[i]) == len && memcmp(special[i], path, len) == 0)
			return true;
	return false;
}

/* lastIndexOf('/') (or -1) when the path has no NUL, else -2. */
static ssize_t last_slash(const char *path, size_t len)
{
	const char *s;

	if (len == 0)
		return -1;
	if (memchr(path, '\0', len))
		return -2;
	s = memrchr(path, '/', len);
	return s ? s - path : -1;
}

/* getParentPathAndValidate: the parent's length, or -1 for BADARGUMENTS. */
static ssize_t parent_and_validate(const char *path, size_t len)
{
	ssize_t slash = last_slash(path, len);

	if (slash < 0 || is_special_path(path, len))
		return -1;
	return slash;
}

static bool path_valid(struct jute_buf path)
{
	return path.len >= 0 &&
	       tree_validate_path((const char *)path.p, (size_t)path.len, false) == ZK_OK;
}

/* fixupACL into p->scratch; *list views it. */
static enum zk_err fixup(struct ctx *x, const struct jute_acl_list *acl, struct jute_acl_list *list)
{
	struct jute_out *s = &x->p->scratch;
	enum zk_err rc;

	s->len = 0;
	s->err = 0;
	rc = prep_fixup_acl(acl, x->auth, x->acl_budget, s);
	if (s->err) {
		x->p->err = s->err;
		return ZK_SYSTEMERROR;
	}
	if (rc != ZK_OK)
		return rc;
	assert(s->len <= x->acl_budget);
	x->acl_budget -= s->len;
	list->raw = s->buf;
	list->raw_len = (uint32_t)s->len;
	list->count = (int32_t)jute_be32(s->buf);
	return ZK_OK;
}

/* ---- The ops: each returns the ZooKeeper result and fills op on success ---- */

/*
 * pRequest2TxnCreate.  Order: BADARGUMENTS (flags) -> UNIMPLEMENTED (TTL
 * without extended types) -> BADARGUMENTS (ttl) -> MARSHALLINGERROR (null
 * path) -> BADARGUMENTS (no '/', NUL) -> INVALIDACL -> NONODE (parent) ->
 * NOAUTH (CREATE on parent) -> BADARGUMENTS (final path) -> NODEEXISTS ->
 * NOCHILDRENFOREPHEMERALS.
 */
static enum zk_err prep_create(struct ctx *x, int32_t type, int64_t ttl, const struct tree_req *r,
			       struct tree_op *op)
{
	struct tree_prep *p = x->p;
	const char *path = (const char *)r->path.p;
	struct create_mode m;
	struct jute_acl_list acl;
	struct rec parent, existing;
	struct change *pc, *nc;
	int64_t zxid = x->hdr->zxid, rec_owner, txn_owner;
	size_t len, flen;
	ssize_t plen;
	int32_t new_cv;
	enum zk_err rc;

	if (!create_mode_from_flag(r->flags, &m))
		return ZK_BADARGUMENTS;
	if (m.ttl && !p->t->opts.extended_types)
		return ZK_UNIMPLEMENTED;
	/* EphemeralType.validateTTL */
	if (m.ttl ? (ttl <= 0 || ttl > TREE_TTL_MAX) : ttl >= 0)
		return ZK_BADARGUMENTS;
	if (type == ZK_OP_CREATETTL && !m.ttl)
		return ZK_BADARGUMENTS; /* ZooKeeper's DataTree would throw */
	if (r->path.len < 0)
		return ZK_MARSHALLINGERROR; /* NullPointerException */
	len = (size_t)r->path.len;
	plen = last_slash(path, len); /* validatePathForCreate */
	if (plen < 0)
		return ZK_BADARGUMENTS;
	if ((rc = fixup(x, &r->acl, &acl)) != ZK_OK)
		return rc;
	if ((rc = get_record(p, path, (size_t)plen, &parent)) != ZK_OK)
		return rc;
	if ((rc = tree_acl_check(&parent.acl, ZK_PERM_CREATE, x->auth)) != ZK_OK)
		return rc;

	/* Room for String.format("%010d", cversion): at most 11 chars. */
	nc = change_alloc(p, path, len, 11);
	if (!nc)
		return ZK_SYSTEMERROR;
	flen = len;
	if (m.sequential)
		flen += (size_t)snprintf(nc->path + len, 12, "%010d", parent.st.cversion);
	nc->path_len = (uint32_t)flen;
	nc->hash = tree_hash_path(nc->path, flen);
	rc = ZK_OK;
	if (tree_validate_path(nc->path, flen, false) != ZK_OK)
		rc = ZK_BADARGUMENTS;
	else if (get_record(p, nc->path, flen, &existing) == ZK_OK)
		rc = ZK_NODEEXISTS;
	else if (tree_owner_kind(p->t, parent.st.ephemeral_owner) == NODE_EPHEMERAL)
		rc = ZK_NOCHILDRENFOREPHEMERALS;
	if (rc != ZK_OK) {
		change_free(nc);
		return rc;
	}
	new_cv = (int32_t)((uint32_t)parent.st.cversion + 1);

	/* The record follows the mode, the txn its opcode (as DataTree reads it). */
	if (m.container)
		rec_owner = TREE_OWNER_CONTAINER;
	else if (m.ttl)
		rec_owner = tree_owner_ttl(ttl);
	else
		rec_owner = m.ephemeral ? x->hdr->session : 0;
	if (type == ZK_OP_CREATECONTAINER)
		txn_owner = TREE_OWNER_CONTAINER;
	else if (type == ZK_OP_CREATETTL)
		txn_owner = tree_owner_ttl(ttl);
	else
		txn_owner = m.ephemeral ? x->hdr->session : 0;

	pc = change_dup(p, &parent, path, (size_t)plen, zxid);
	if (!pc || !(nc->acl = blob_new(p, &acl)) || reserve_undo(p, 2)) {
		change_free(pc);
		change_free(nc);
		return ZK_SYSTEMERROR;
	}
	pc->child_count++;
	pc->st.cversion = new_cv;
	pc->st.pzxid = zxid;
	add_change(p, pc);
	nc->zxid = zxid;
	nc->exists = true;
	nc->st = (struct tree_pstat){ .czxid = zxid, .mzxid = zxid, .pzxid = zxid,
				      .ctime = x->hdr->time, .mtime = x->hdr->time,
				      .ephemeral_owner = rec_owner };
	add_change(p, nc);

	op->type = type;
	op->path = (struct jute_buf){ (const uint8_t *)nc->path, (int32_t)flen };
	op->data = r->data;
	op->acl = nc->acl->list;
	op->ephemeral_owner = txn_owner;
	op->parent_cversion = new_cv;
	return ZK_OK;
}

/*
 * delete: MARSHALLINGERROR (null path) -> BADARGUMENTS (no '/', NUL,
 * special path) -> NONODE (parent) -> NOAUTH (DELETE on parent) -> NONODE
 * -> BADVERSION -> NOTEMPTY.  No PathUtils validation.
 * deleteContainer (ContainerManager): BADARGUMENTS -> NONODE -> NOTEMPTY
 * -> BADVERSION (a session's ephemeral) -> NONODE (parent); no ACL, no
 * version.
 */
static enum zk_err prep_delete(struct ctx *x, const struct tree_req *r, bool container,
			       struct tree_op *op)
{
	struct tree_prep *p = x->p;
	const char *path = (const char *)r->path.p;
	struct rec parent, node;
	struct change *pc, *nc;
	int32_t next;
	ssize_t plen;
	size_t len;
	enum zk_err rc;

	if (r->path.len < 0)
		return ZK_MARSHALLINGERROR;
	len = (size_t)r->path.len;
	if ((plen = parent_and_validate(path, len)) < 0)
		return ZK_BADARGUMENTS;
	if (!container) {
		if ((rc = get_record(p, path, (size_t)plen, &parent)) != ZK_OK)
			return rc;
		if ((rc = tree_acl_check(&parent.acl, ZK_PERM_DELETE, x->auth)) != ZK_OK)
			return rc;
		if ((rc = get_record(p, path, len, &node)) != ZK_OK)
			return rc;
		if ((rc = check_and_inc(node.st.version, r->version, &next)) != ZK_OK)
			return rc;
		if (node.child_count > 0)
			return ZK_NOTEMPTY;
	} else {
		if ((rc = get_record(p, path, len, &node)) != ZK_OK)
			return rc;
		if (node.child_count > 0)
			return ZK_NOTEMPTY;
		if (tree_owner_kind(p->t, node.st.ephemeral_owner) == NODE_EPHEMERAL)
			return ZK_BADVERSION;
		if ((rc = get_record(p, path, (size_t)plen, &parent)) != ZK_OK)
			return rc;
	}
	pc = change_dup(p, &parent, path, (size_t)plen, x->hdr->zxid);
	nc = pc ? change_alloc(p, path, len, 0) : NULL;
	if (!nc || reserve_undo(p, 2)) {
		change_free(pc);
		change_free(nc);
		return ZK_SYSTEMERROR;
	}
	pc->child_count--;
	pc->st.pzxid = x->hdr->zxid;
	add_change(p, pc);
	nc->zxid = x->hdr->zxid;
	add_change(p, nc);

	op->type = container ? ZK_OP_DELETECONTAINER : ZK_OP_DELETE;
	op->path = (struct jute_buf){ (const uint8_t *)nc->path, (int32_t)len };
	return ZK_OK;
}

/* setData: BADARGUMENTS (path) -> NONODE -> NOAUTH (WRITE) -> BADVERSION. */
static enum zk_err prep_set_data(struct ctx *x, const struct tree_req *r, struct tree_op *op)
{
	struct tree_prep *p = x->p;
	struct rec node;
	struct change *nc;
	int32_t next;
	enum zk_err rc;

	if (!path_valid(r->path))
		return ZK_BADARGUMENTS;
	if ((rc = get_record(p, (const char *)r->path.p, (size_t)r->path.len, &node)) != ZK_OK)
		return rc;
	if ((rc = tree_acl_check(&node.acl, ZK_PERM_WRITE, x->auth)) != ZK_OK)
		return rc;
	if ((rc = check_and_inc(node.st.version, r->version, &next)) != ZK_OK)
		return rc;
	nc = change_dup(p, &node, (const char *)r->path.p, (size_t)r->path.len, x->hdr->zxid);
	if (!nc || reserve_undo(p, 1)) {
		change_free(nc);
		return ZK_SYSTEMERROR;
	}
	nc->st.version = next;
	nc->st.mtime = x->hdr->time;
	nc->st.mzxid = x->hdr->zxid;
	add_change(p, nc);

	op->type = ZK_OP_SETDATA;
	op->path = (struct jute_buf){ (const uint8_t *)nc->path, r->path.len };
	op->data = r->data;
	op->version = next;
	return ZK_OK;
}

/*
 * setACL: BADARGUMENTS (path) -> INVALIDACL -> NONODE -> NOAUTH (ADMIN)
 * -> BADVERSION (aversion).  The new ACL goes on the record, so requests
 * pipelined behind it are checked against it (ZooKeeper master).
 */
static enum zk_err prep_set_acl(struct ctx *x, const struct tree_req *r, struct tree_op *op)
{
	struct tree_prep *p = x->p;
	struct jute_acl_list acl;
	struct acl_blob *blob;
	struct rec node;
	struct change *nc;
	int32_t next;
	enum zk_err rc;

	if (!path_valid(r->path))
		return ZK_BADARGUMENTS;
	if ((rc = fixup(x, &r->acl, &acl)) != ZK_OK)
		return rc;
	if ((rc = get_record(p, (const char *)r->path.p, (size_t)r->path.len, &node)) != ZK_OK)
		return rc;
	if ((rc = tree_acl_check(&node.acl, ZK_PERM_ADMIN, x->auth)) != ZK_OK)
		return rc;
	if ((rc = check_and_inc(node.st.aversion, r->version, &next)) != ZK_OK)
		return rc;
	nc = change_dup(p, &node, (const char *)r->path.p, (size_t)r->path.len, x->hdr->zxid);
	blob = nc ? blob_new(p, &acl) : NULL;
	if (!blob || reserve_undo(p, 1)) {
		blob_unref(blob);
		change_free(nc);
		return ZK_SYSTEMERROR;
	}
	blob_unref(nc->acl);
	nc->acl = blob;
	nc->st.aversion = next;
	add_change(p, nc);

	op->type = ZK_OP_SETACL;
	op->path = (struct jute_buf){ (const uint8_t *)nc->path, r->path.len };
	op->acl = blob->list;
	op->version = next;
	return ZK_OK;
}

/* check: BADARGUMENTS (path) -> NONODE -> NOAUTH (READ) -> BADVERSION; no record. */
static enum zk_err prep_check(struct ctx *x, const struct tree_req *r, struct tree_op *op)
{
	struct rec node;
	int32_t next;
	enum zk_err rc;

	if (!path_valid(r->path))
		return ZK_BADARGUMENTS;
	if ((rc = get_record(x->p, (const char *)r->path.p, (size_t)r->path.len, &node)) != ZK_OK)
		return rc;
	if ((rc = tree_acl_check(&node.acl, ZK_PERM_READ, x->auth)) != ZK_OK)
		return rc;
	if ((rc = check_and_inc(node.st.version, r->version, &next)) != ZK_OK)
		return rc;
	op->type = ZK_OP_CHECK;
	op->path = r->path;
	op->version = next;
	return ZK_OK;
}

/*
 * pRequest2Txn for one request or one op of a multi.  *fatal is set when
 * ZooKeeper would throw something other than a KeeperException (the
 * whole request then becomes ERROR(MARSHALLINGERROR)).
 */
static enum zk_err prep_one(struct ctx *x, const struct tree_req *r, bool in_multi,
			    struct tree_op *op, bool *fatal)
{
	int32_t type = r->type;
	int64_t ttl = -1;

	memset(op, 0, sizeof(*op));
	switch (type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		if (in_multi) {
			int32_t t = multi_create_type(r->flags);
			if (t == ZK_OP_CREATETTL && type != ZK_OP_CREATETTL) {
				/* a CreateRequest cast to CreateTTLRequest */
				*fatal = true;
				return ZK_MARSHALLINGERROR;
			}
			type = t;
		}
		if (type == ZK_OP_CREATETTL)
			ttl = r->ttl;
		return prep_create(x, type, ttl, r, op);
	case ZK_OP_DELETE:
		return prep_delete(x, r, false, op);
	case ZK_OP_DELETECONTAINER:
		return prep_delete(x, r, true, op);
	case ZK_OP_SETDATA:
		return prep_set_data(x, r, op);
	case ZK_OP_SETACL:
		return prep_set_acl(x, r, op);
	case ZK_OP_CHECK:
		return prep_check(x, r, op);
	default:
		*fatal = true;
		return ZK_MARSHALLINGERROR;
	}
}

/* The op types MultiOperationRecord decodes for a write multi. */
static bool multi_type_ok(int32_t type)
{
	switch (type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
	case ZK_OP_DELETE:
	case ZK_OP_SETDATA:
	case ZK_OP_CHECK:
		return true;
	default:
		return false;
	}
}

static void txn_from_hdr(struct tree_txn *txn, const struct tree_txn *hdr, int32_t type)
{
	memset(txn, 0, sizeof(*txn));
	txn->session = hdr->session;
	txn->cxid = hdr->cxid;
	txn->zxid = hdr->zxid;
	txn->time = hdr->time;
	txn->type = type;
}

static void encode_error(const struct tree_txn *hdr, enum zk_err err, struct jute_out *out)
{
	struct tree_txn txn;

	txn_from_hdr(&txn, hdr, ZK_OP_ERROR);
	txn.inline_op.type = ZK_OP_ERROR;
	txn.inline_op.err = err;
	txn.ops = &txn.inline_op;
	txn.nops = 1;
	tree_txn_encode(&txn, out);
}

/* ---- Public API ---- */

struct tree_prep *tree_prep_new(struct tree *t)
{
	struct tree_prep *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->t = t;
	p->nbuckets = 64;
	p->buckets = calloc(p->nbuckets, sizeof(*p->buckets));
	jute_out_init(&p->scratch, 256);
	if (!p->buckets || p->scratch.err) {
		tree_prep_free(p);
		return NULL;
	}
	return p;
}

void tree_prep_free(struct tree_prep *p)
{
	struct change *c, *next;

	if (!p)
		return;
	for (c = p->head; c; c = next) {
		next = c->next;
		change_free(c);
	}
	free(p->buckets);
	free(p->undo);
	jute_out_free(&p->scratch);
	free(p);
}

void tree_prep_applied(struct tree_prep *p, int64_t zxid)
{
	struct change *c;

	while ((c = p->head) && c->zxid <= zxid) {
		p->head = c->next;
		if (p->head)
			p->head->prev = NULL;
		else
			p->tail = NULL;
		/* A newer record of the same path stays the path's view. */
		if (c->in_map)
			map_unlink(p, c);
		change_free(c);
	}
}

enum zk_err tree_prep_write(struct tree_prep *p, const struct tree_txn *txn_hdr,
			    const struct tree_req *reqs, uint32_t nreqs, bool multi,
			    const struct tree_auth *auth, struct jute_out *out)
{
	struct ctx x = { p, txn_hdr, auth, p->t->opts.max_data };
	struct change *mark;
	struct tree_txn txn;
	struct tree_op *ops = NULL;
	size_t out_start = out->len;
	enum zk_err rc = ZK_OK;
	bool fatal = false;

	if (out->err)
		return ZK_SYSTEMERROR;
	if (!multi && nreqs != 1) {
		out->err = -EINVAL;
		return ZK_SYSTEMERROR;
	}
	mark = begin_request(p);
	if (!multi) {
		txn_from_hdr(&txn, txn_hdr, 0);
		rc = prep_one(&x, &reqs[0], false, &txn.inline_op, &fatal);
		if (p->err)
			goto nomem;
		if (rc != ZK_OK) {
			encode_error(txn_hdr, rc, out);
		} else {
			txn.type = txn.inline_op.type;
			txn.ops = &txn.inline_op;
			txn.nops = 1;
			tree_txn_encode(&txn, out);
		}
		goto encoded;
	}

	for (uint32_t i = 0; i < nreqs; i++) {
		if (!multi_type_ok(reqs[i].type)) {
			/* MultiOperationRecord: "Invalid type of op" (IOException) */
			rc = ZK_MARSHALLINGERROR;
			encode_error(txn_hdr, rc, out);
			goto encoded;
		}
	}
	ops = calloc(nreqs ? nreqs : 1, sizeof(*ops));
	if (!ops) {
		p->err = -ENOMEM;
		goto nomem;
	}
	for (uint32_t i = 0; i < nreqs; i++) {
		enum zk_err e;

		if (rc != ZK_OK) {
			ops[i].type = ZK_OP_ERROR;
			ops[i].err = ZK_RUNTIMEINCONSISTENCY;
			continue;
		}
		e = prep_one(&x, &reqs[i], true, &ops[i], &fatal);
		if (p->err)
			goto nomem;
		if (fatal) {
			rollback(p, mark);
			rc = e;
			encode_error(txn_hdr, rc, out);
			goto encoded;
		}
		if (e != ZK_OK) {
			rc = e;
			rollback(p, mark);
			for (uint32_t j = 0; j < i; j++)
				ops[j] = (struct tree_op){ .type = ZK_OP_ERROR, .err = ZK_OK };
			ops[i] = (struct tree_op){ .type = ZK_OP_ERROR, .err = e };
		}
	}
	txn_from_hdr(&txn, txn_hdr, ZK_OP_MULTI);
	txn.ops = ops;
	txn.nops = nreqs;
	tree_txn_encode(&txn, out);

encoded:
	free(ops);
	if (out->err) {
		log_error("prep: cannot encode txn 0x%llx of session 0x%llx: %s",
			  (unsigned long long)txn_hdr->zxid, (unsigned long long)txn_hdr->session,
			  strerror(-out->err));
		rollback(p, mark);
		out->len = out_start;
		return ZK_SYSTEMERROR;
	}
	return rc;

nomem:
	free(ops);
	log_error("prep: out of memory prepping txn 0x%llx of session 0x%llx",
		  (unsigned long long)txn_hdr->zxid, (unsigned long long)txn_hdr->session);
	rollback(p, mark);
	out->err = -ENOMEM;
	return ZK_SYSTEMERROR;
}

void tree_prep_create_session(struct tree_prep *p, const struct tree_txn *txn_hdr,
			      int32_t timeout, struct jute_out *out)
{
	struct tree_txn txn;

	(void)p; /* CreateSessionTxn touches no record */
	txn_from_hdr(&txn, txn_hdr, ZK_OP_CREATESESSION);
	txn.timeout = timeout;
	tree_txn_encode(&txn, out);
}

/* ---- closeSession: the session's ephemerals, pending ones included ---- */

/* A set of paths in insertion order (Java's HashSet order is unspecified). */
struct path_set {
	struct path_ent {
		const char *path;
		uint32_t len;
		bool live;
	} *v;
	uint32_t n, cap;
	uint32_t *idx; /* open addressing: index + 1 */
	uint32_t icap;
	uint32_t live;
};

static int path_set_index(struct path_set *s, const char *path, size_t len, bool add)
{
	uint32_t i;

	if (add && (s->n + 1) * 2 > s->icap) {
		uint32_t icap = s->icap ? s->icap * 2 : 64;
		uint32_t *idx = calloc(icap, sizeof(*idx));
		if (!idx)
			return -ENOMEM;
		for (uint32_t k = 0; k < s->n; k++) {
			i = (uint32_t)tree_hash_path(s->v[k].path, s->v[k].len) & (icap - 1);
			while (idx[i])
				i = (i + 1) & (icap - 1);
			idx[i] = k + 1;
		}
		free(s->idx);
		s->idx = idx;
		s->icap = icap;
	}
	if (!s->icap)
		return -1;
	i = (uint32_t)tree_hash_path(path, len) & (s->icap - 1);
	for (; s->idx[i]; i = (i + 1) & (s->icap - 1)) {
		struct path_ent *e = &s->v[s->idx[i] - 1];
		if (e->len == len && memcmp(e->path, path, len) == 0)
			return (int)(s->idx[i] - 1);
	}
	if (!add)
		return -1;
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 32;
		struct path_ent *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n] = (struct path_ent){ path, (uint32_t)len, false };
	s->idx[i] = ++s->n;
	return (int)(s->n - 1);
}

static int path_set_add(struct path_set *s, const char *path, size_t len)
{
	int i = path_set_index(s, path, len, true);

	if (i < 0)
		return -ENOMEM;
	if (!s->v[i].live) {
		s->v[i].live = true;
		s->live++;
	}
	return 0;
}

static void path_set_remove(struct path_set *s, const char *path, size_t len)
{
	int i = path_set_index(s, path, len, false);

	if (i >= 0 && s->v[i].live) {
		s->v[i].live = false;
		s->live--;
	}
}

static void path_set_free(struct path_set *s)
{
	free(s->v);
	free(s->idx);
}

/*
 * closeSession: the ephemerals the tree lists for the session, minus
 * pending deletes, plus pending records the session owns, in FIFO order
 * (the lock-protected walk of outstandingChanges).  For each: the
 * parent's record with pzxid = zxid (ZooKeeper does this when digests are
 * on, the default; the child count stays), then a "deleted" record.
 */
void tree_prep_close_session(struct tree_prep *p, const struct tree_txn *txn_hdr,
			     struct jute_out *out)
{
	struct path_set es = { 0 };
	struct tree_session *s = tree_find_session(p->t, txn_hdr->session);
	struct tree_node *n;
	struct change *mark, *c;
	struct tree_txn txn;
	struct tree_op *ops = NULL;
	size_t out_start = out->len;
	uint32_t k = 0;
	enum zk_err rc = ZK_OK;

	if (out->err)
		return;
	mark = begin_request(p);
	if (s) {
		tree_for_each_eph(n, &s->ephemerals) {
			if (path_set_add(&es, n->path, n->path_len))
				goto nomem;
		}
	}
	for (c = p->head; c; c = c->next) {
		if (!c->exists)
			path_set_remove(&es, c->path, c->path_len);
		else if (c->st.ephemeral_owner == txn_hdr->session &&
			 path_set_add(&es, c->path, c->path_len))
			goto nomem;
	}
	if (es.live && !(ops = calloc(es.live, sizeof(*ops))))
		goto nomem;
	for (uint32_t i = 0; i < es.n; i++) {
		const struct path_ent *e = &es.v[i];
		struct rec parent;
		struct change *pc, *nc;
		ssize_t plen;

		if (!e->live)
			continue;
		plen = parent_and_validate(e->path, e->len);
		if (plen < 0)
			rc = ZK_BADARGUMENTS;
		else
			rc = get_record(p, e->path, (size_t)plen, &parent);
		if (rc != ZK_OK) {
			/* Cannot happen: an ephemeral's parent outlives it. */
			log_error("prep: closeSession 0x%llx: %.*s: parent error %d",
				  (unsigned long long)txn_hdr->session, (int)e->len, e->path, rc);
			rollback(p, mark);
			free(ops);
			path_set_free(&es);
			encode_error(txn_hdr, rc, out);
			return;
		}
		pc = change_dup(p, &parent, e->path, (size_t)plen, txn_hdr->zxid);
		nc = pc ? change_alloc(p, e->path, e->len, 0) : NULL;
		if (!nc || reserve_undo(p, 2)) {
			change_free(pc);
			change_free(nc);
			goto nomem;
		}
		pc->st.pzxid = txn_hdr->zxid;
		add_change(p, pc);
		nc->zxid = txn_hdr->zxid;
		add_change(p, nc);
		ops[k].type = ZK_OP_DELETE;
		ops[k].path = (struct jute_buf){ (const uint8_t *)nc->path, (int32_t)nc->path_len };
		k++;
	}
	txn_from_hdr(&txn, txn_hdr, ZK_OP_CLOSESESSION);
	txn.ops = ops;
	txn.nops = k;
	tree_txn_encode(&txn, out);
	free(ops);
	path_set_free(&es);
	if (out->err) {
		rollback(p, mark);
		out->len = out_start;
	}
	return;

nomem:
	log_error("prep: out of memory closing session 0x%llx",
		  (unsigned long long)txn_hdr->session);
	rollback(p, mark);
	free(ops);
	path_set_free(&es);
	out->err = -ENOMEM;
}
