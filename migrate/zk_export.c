/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cheetah export: a tree written as an Apache ZooKeeper snapshot, in the
 * layout zk_read.c documents (FileSnap.serialize and what it calls), so
 * that ZooKeeper starts from it with every znode, Stat, ACL and session:
 *
 *   FileHeader "ZKSN", 2, dbid -1; sessions; the ACL cache, one id per
 *   distinct list (numbered from 1, as ReferenceCountedACLCache does);
 *   the nodes in pre-order, the root as ""; "/"; the Adler-32 seal; the
 *   ZxidDigest (zxid = the tree's last zxid, DigestCalculator version 2,
 *   the tree digest, which Cheetah computes exactly as ZooKeeper) and a
 *   second seal.  No lastProcessedZxid trailer: 3.9.3+ reads the zxid
 *   from the name when it is absent, older versions would not expect it.
 *
 * The file is named snapshot.<zxid in hex, as Long.toHexString> under
 * OUT_DIR/version-2; no log is needed (FileTxnSnapLog.restore replays
 * none) and a standalone server needs no epoch files.  The snapshot is
 * built in memory, written to a temporary name, fsync'ed and renamed, so
 * ZooKeeper never sees half a file.
 *
 * The tree must not change meanwhile (an offline tree: cheetah export
 * recovers it from the data directory first); views into it are held
 * across the walk.  One registered, online RCU thread.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/jute.h"
#include "common/zkdefs.h"
#include "migrate.h"
#include "migrate_priv.h"

/* ACL list bytes -> id, open addressing (a table at most half full). */
struct acl_map {
	struct acl_slot {
		const uint8_t *raw;
		uint32_t len;
		uint32_t hash;
		int64_t id;
	} * slots;
	size_t cap, n;
};

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static int acl_map_grow(struct acl_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct acl_slot *s = calloc(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].raw)
			continue;
		size_t j = m->slots[i].hash & (cap - 1);
		while (s[j].raw)
			j = (j + 1) & (cap - 1);
		s[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = s;
	m->cap = cap;
	return 0;
}

static int acl_map_id(struct acl_map *m, const struct jute_acl_list *l, int64_t *id)
{
	uint32_t h = hash_bytes(l->raw, l->raw_len);
	size_t j;

	if (2 * (m->n + 1) > m->cap && acl_map_grow(m))
		return -ENOMEM;
	for (j = h & (m->cap - 1); m->slots[j].raw; j = (j + 1) & (m->cap - 1))
		if (m->slots[j].hash == h && m->slots[j].len == l->raw_len &&
		    !memcmp(m->slots[j].raw, l->raw, l->raw_len)) {
			*id = m->slots[j].id;
			return 0;
		}
	m->n++;
	m->slots[j] = (struct acl_slot){l->raw, l->raw_len, h, (int64_t)m->n};
	*id = (int64_t)m->n;
	return 0;
}

static void put_stat(struct jute_out *o, const struct zk_stat *st)
{
	jute_put_long(o, st->czxid);
	jute_put_long(o, st->mzxid);
	jute_put_long(o, st->ctime);
	jute_put_long(o, st->mtime);
	jute_put_int(o, st->version);
	jute_put_int(o, st->cversion);
	jute_put_int(o, st->aversion);
	jute_put_long(o, st->ephemeral_owner);
	jute_put_long(o, st->pzxid);
}

/* One node record: path ("" for the root), data, ACL id, StatPersisted. */
static int put_node(struct tree *t, const struct tree_node *n, struct acl_map *acls,
		    struct jute_out *o, uint64_t *count)
{
	struct zk_stat st, ast;
	struct jute_buf path = tree_node_path(n), data;
	struct jute_acl_list acl;
	int64_t id;

	tree_node_read(n, NULL, &data);
	tree_export_stat(n, &st);
	tree_node_acl(t, n, &ast, &acl);
	if (acl_map_id(acls, &acl, &id))
		return -ENOMEM;
	if (path.len == 1)
		jute_put_buffer(o, "", 0);
	else
		jute_put_buf(o, path);
	jute_put_buf(o, data);
	jute_put_long(o, id);
	put_stat(o, &st);
	(*count)++;
	return o->err;
}

struct frame {
	const struct tree_node *n;
	struct tree_children ch;
	uint32_t next;
};

/* DataTree.serializeNode's pre-order, with an explicit stack. */
static int put_nodes(struct tree *t, struct acl_map *acls, struct jute_out *o, uint64_t *count)
{
	struct frame *stack = NULL;
	size_t depth = 0, cap = 0;
	char *path = NULL;
	size_t path_cap = 0;
	int rc;
	const struct tree_node *root = tree_lookup(t, "/", 1);

	if (!root)
		return -EINVAL;
	rc = put_node(t, root, acls, o, count);
	if (rc)
		return rc;
	cap = 64;
	stack = calloc(cap, sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	stack[depth++].n = root;
	if ((rc = tree_node_children(t, root, &stack[0].ch, NULL)))
		goto out;
	while (depth) {
		struct frame *f = &stack[depth - 1];

		if (f->next == f->ch.count) {
			tree_children_release(&f->ch);
			depth--;
			continue;
		}
		struct jute_buf name = f->ch.names[f->next++];
		struct jute_buf ppath = tree_node_path(f->n);
		size_t plen = ppath.len == 1 ? 0 : (size_t)ppath.len;
		size_t need = plen + 1 + (size_t)name.len + 1;
		if (need > path_cap) {
			char *np = realloc(path, need * 2);
			if (!np) {
				rc = -ENOMEM;
				goto out;
			}
			path = np;
			path_cap = need * 2;
		}
		memcpy(path, ppath.p, plen);
		path[plen] = '/';
		memcpy(path + plen + 1, name.p, (size_t)name.len);
		const struct tree_node *c = tree_lookup(t, path, plen + 1 + (size_t)name.len);
		if (!c) {
			rc = -EINVAL; /* the tree changed under the walk */
			goto out;
		}
		if ((rc = put_node(t, c, acls, o, count)))
			goto out;
		if (depth == cap) {
			struct frame *ns = realloc(stack, cap * 2 * sizeof(*stack));
			if (!ns) {
				rc = -ENOMEM;
				goto out;
			}
			memset(ns + cap, 0, cap * sizeof(*ns));
			stack = ns;
			cap *= 2;
		}
		stack[depth].n = c;
		stack[depth].next = 0;
		if ((rc = tree_node_children(t, c, &stack[depth].ch, NULL)))
			goto out;
		depth++;
	}
out:
	while (depth)
		tree_children_release(&stack[--depth].ch);
	free(stack);
	free(path);
	return rc;
}

struct sess_acc {
	struct jute_out *o;
	uint64_t n;
};

static void put_session(void *arg, int64_t id, int32_t timeout)
{
	struct sess_acc *a = arg;

	jute_put_long(a->o, id);
	jute_put_int(a->o, timeout);
	a->n++;
}

static void put_seal(struct jute_out *o, uLong *adler, size_t *summed)
{
	*adler = adler32(*adler, o->buf + *summed, (uInt)(o->len - *summed));
	jute_put_long(o, (int64_t)*adler);
	jute_put_string(o, "/");
	if (!o->err)
		*adler = adler32(*adler, o->buf + o->len - 13, 13);
	*summed = o->len;
}

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t len,
		      struct mig_error *err)
{
	char tmp[PATH_MAX + 300], final[PATH_MAX + 300];
	int fd, rc = 0;

	mig_fmt(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	mig_fmt(final, sizeof(final), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		mig_seterr(err, "%s: cannot create: %s", tmp, strerror(-rc));
		return rc;
	}
	while (len) {
		ssize_t k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k < 0 ? -errno : -EIO;
			break;
		}
		p += k;
		len -= (size_t)k;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, final) < 0)
		rc = -errno;
	if (!rc) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) < 0)
				rc = -errno;
			close(dfd);
		}
	}
	if (rc) {
		unlink(tmp);
		mig_seterr(err, "%s: cannot write: %s", final, strerror(-rc));
	}
	return rc;
}

/* Refuses to mix with an existing ZooKeeper database in dir. */
static int scan_existing(const char *dir, struct mig_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		rc = -errno;
		mig_seterr(err, "%s: cannot open: %s", dir, strerror(-rc));
		return rc;
	}
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "snapshot.", 9) || !strncmp(e->d_name, "log.", 4)) {
			mig_seterr(err,
				   "%s: holds ZooKeeper data already (%s): export into an empty "
				   "directory",
				   dir, e->d_name);
			rc = -EEXIST;
			break;
		}
	closedir(d);
	return rc;
}

int mig_zk_export(struct tree *t, const char *out_dir, struct mig_export_stats *st,
		  struct mig_error *err)
{
	char dir[PATH_MAX], name[64];
	struct jute_out o, nodes;
	struct acl_map acls = {0};
	struct acl_slot **order = NULL;
	struct sess_acc sa;
	uLong adler = adler32(0, NULL, 0);
	size_t summed = 0;
	int rc;

	assert(t && out_dir && st && err);
	memset(st, 0, sizeof(*st));
	err->msg[0] = 0;
	if (snprintf(dir, sizeof(dir), "%s/version-2", out_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	if ((mkdir(out_dir, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0755) < 0 && errno != EEXIST)) {
		rc = -errno;
		mig_seterr(err, "%s: cannot create: %s", dir, strerror(-rc));
		return rc;
	}
	if ((rc = scan_existing(dir, err)))
		return rc;
	jute_out_init(&o, 1 << 16);
	jute_out_init(&nodes, 1 << 16);
	rc = put_nodes(t, &acls, &nodes, &st->nodes);
	if (!rc)
		rc = nodes.err;
	if (rc) {
		mig_seterr(err, "%s: cannot walk the tree: %s", out_dir, strerror(-rc));
		goto out;
	}
	jute_put_int(&o, MIG_ZK_SNAP_MAGIC);
	jute_put_int(&o, MIG_ZK_VERSION);
	jute_put_long(&o, -1);
	/* Sessions: the count first, patched once known. */
	size_t count_at = o.len;
	jute_put_int(&o, 0);
	sa = (struct sess_acc){&o, 0};
	tree_sessions_foreach(t, put_session, &sa);
	if (!o.err)
		jute_put_be32(o.buf + count_at, (uint32_t)sa.n);
	st->sessions = sa.n;
	/* The ACL cache, in id order. */
	jute_put_int(&o, (int32_t)acls.n);
	order = calloc(acls.n + 1, sizeof(*order));
	if (!order) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < acls.cap; j++)
		if (acls.slots[j].raw)
			order[acls.slots[j].id - 1] = &acls.slots[j];
	for (size_t i = 0; i < acls.n; i++) {
		jute_put_long(&o, order[i]->id);
		jute_put_raw(&o, order[i]->raw, order[i]->len);
	}
	st->acls = acls.n;
	jute_put_raw(&o, nodes.buf, nodes.len);
	jute_put_string(&o, "/");
	put_seal(&o, &adler, &summed);
	st->zxid = tree_last_zxid(t);
	jute_put_long(&o, st->zxid);
	jute_put_int(&o, 2); /* DigestCalculator.DIGEST_VERSION */
	jute_put_long(&o, (int64_t)tree_digest(t));
	put_seal(&o, &adler, &summed);
	if (o.err) {
		rc = o.err;
		mig_seterr(err, "%s: out of memory", out_dir);
		goto out;
	}
	snprintf(name, sizeof(name), "snapshot.%" PRIx64, (uint64_t)st->zxid);
	mig_fmt(st->path, sizeof(st->path), "%s/%s", dir, name);
	rc = write_file(dir, name, o.buf, o.len, err);
out:
	free(order);
	free(acls.slots);
	jute_out_free(&o);
	jute_out_free(&nodes);
	return rc;
}
