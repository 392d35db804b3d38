/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building a tree from another server's persisted state (cheetah import:
 * migrate/ reads Apache ZooKeeper's snapshot and hands each znode here
 * with its StatPersisted as ZooKeeper wrote it).  Unlike tree_apply,
 * which derives a Stat from the txn, this keeps every field as given, so
 * that the imported tree serves exactly the Stats ZooKeeper served.
 *
 * The tree is private to the importing thread: no reader exists yet, so
 * the system nodes ("/", "/zookeeper", ...) that tree_new made are
 * replaced in place and their old data freed at once, as snapshot.c does
 * for its own files.  Everything goes through tree.c's loading helpers
 * (tree_insert_loaded, the ACL table), so kinds, the ephemeral index,
 * the container/TTL sets, counts and the digest stay right.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tree_priv.h"

void tree_import_reserve(struct tree *t, uint64_t nodes)
{
	assert(t);
	tree_index_reserve(t, nodes);
}

/* The in-place replacement of a node tree_new made (snapshot.c does the same). */
static int replace_node(struct tree *t, struct tree_node *n, const struct tree_pstat *ps,
			struct jute_buf data, uint32_t acl)
{
	struct tree_data *nd = NULL, *old = n->data;
	uint32_t old_acl = n->acl;
	int32_t nchildren = n->st.num_children;

	if (tree_owner_kind(t, ps->ephemeral_owner) != n->kind)
		return -EINVAL;
	if (data.len >= 0) {
		nd = malloc(sizeof(*nd) + (size_t)data.len);
		if (!nd)
			return -ENOMEM;
		nd->len = (uint32_t)data.len;
		if (data.len)
			memcpy(nd->bytes, data.p, (size_t)data.len);
	}
	t->digest -= tree_node_digest(n->path, n->path_len, n->data, &n->st);
	t->data_size += (int64_t)(nd ? nd->len : 0) - (old ? old->len : 0);
	n->st = *ps;
	n->st.num_children = nchildren;
	n->data = nd;
	n->acl = acl;
	t->digest += tree_node_digest(n->path, n->path_len, n->data, &n->st);
	acl_table_unref(t, old_acl);
	free(old); /* unpublished tree: no reader can hold it */
	return 0;
}

static bool is_system(const char *p, size_t len)
{
	static const char *const sys[] = {"/", "/zookeeper", "/zookeeper/quota",
					  "/zookeeper/config"};

	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (strlen(sys[i]) == len && !memcmp(sys[i], p, len))
			return true;
	return false;
}

int tree_import_node(struct tree *t, struct jute_buf path, const struct zk_stat *st,
		     struct jute_buf data, const struct jute_acl_list *acl)
{
	struct tree_pstat ps = {0};
	struct tree_node *n;
	uint32_t id;
	int rc;

	assert(t && st && acl);
	if (path.len <= 0 || !path.p || (data.len >= 0 && !data.p && data.len) ||
	    (data.len >= 0 && (uint32_t)data.len > t->opts.max_data) || acl->count < 0 ||
	    tree_validate_path((const char *)path.p, (size_t)path.len, false) != ZK_OK)
		return -EINVAL;
	ps.czxid = st->czxid;
	ps.mzxid = st->mzxid;
	ps.pzxid = st->pzxid;
	ps.ctime = st->ctime;
	ps.mtime = st->mtime;
	ps.ephemeral_owner = st->ephemeral_owner;
	ps.version = st->version;
	ps.cversion = st->cversion;
	ps.aversion = st->aversion;
	rc = acl_table_intern(t, acl, &id);
	if (rc)
		return rc;
	n = tree_find(t, (const char *)path.p, (size_t)path.len);
	if (n && is_system(n->path, n->path_len))
		rc = replace_node(t, n, &ps, data, id); /* a node tree_new made */
	else if (n)
		rc = -EEXIST;
	else
		rc = tree_insert_loaded(t, (const char *)path.p, (size_t)path.len, &ps, data, id);
	if (rc)
		acl_table_unref(t, id);
	return rc;
}

int tree_import_session(struct tree *t, int64_t id, int32_t timeout)
{
	assert(t);
	if (timeout < 0)
		return -EINVAL;
	if (tree_session_timeout(t, id) >= 0)
		return -EEXIST;
	return tree_session_open(t, id, timeout);
}

void tree_import_finish(struct tree *t, int64_t zxid)
{
	assert(t);
	tree_set_last_zxid(t, zxid); /* only ever raises it */
}

void tree_export_stat(const struct tree_node *n, struct zk_stat *st)
{
	struct tree_pstat ps;
	struct tree_data *d;
	uint32_t acl;

	assert(n && st);
	tree_node_snapshot(n, &ps, &d, &acl);
	tree_client_stat(&ps, d, st);
	st->cversion = ps.cversion; /* StatPersisted's: creates, not changes */
	st->ephemeral_owner = ps.ephemeral_owner;
}
