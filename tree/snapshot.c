/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots of the znode store, in Cheetah's own file format.  They play
 * the part of ZooKeeper's FileSnap + DataTree.serialize/deserialize +
 * SerializeUtils (sessions, ACL cache, nodes, ZxidDigest), but the bytes are
 * Cheetah's: ZooKeeper cannot read them and need not.
 *
 * File layout (every integer big-endian, as jute):
 *
 *   header, 40 bytes
 *     0  u8[8]  magic "CHEETSNP"
 *     8  u32    format version (SNAP_FORMAT)
 *    12  u32    header length (40)
 *    16  i64    start zxid: tree_last_zxid() before the walk
 *    24  u64    node count at start (a hint for sizing the loader's arrays)
 *    32  u32    reserved, 0
 *    36  u32    crc32c of bytes 0..35
 *   blocks, numbered from 0
 *     0  u32    payload length, 1..max (see block_max)
 *     4  u32    block number
 *     8  u32    crc32c of bytes 0..7 and the payload
 *    12  payload: whole records, never split across blocks
 *   trailer, 32 bytes
 *     0  u32    0xffffffff (no block is that long: tells trailer from block)
 *     4  u32    number of blocks
 *     8  u64    offset of the trailer (the file is exactly 32 bytes longer)
 *    16  u8[8]  magic "CHEETEND"
 *    24  u32    reserved, 0
 *    28  u32    crc32c of bytes 0..27
 *
 * Records, each opening with a one-byte tag, in this order:
 *   'S' session  i64 id, i32 timeout (ms, >= 0)             sessions first
 *   'A' acl      u32 id, buffer list (the jute vector<ACL> encoding)
 *   'N' node     buffer path, i64 czxid, mzxid, pzxid, ctime, mtime,
 *                ephemeralOwner, i32 version, cversion (creates), aversion,
 *                buffer data (-1 = null, 0 = empty), u32 acl id
 *   'E' end      i64 end zxid, u64 tree digest at end, u64 walk digest,
 *                u64 sessions, u64 acls, u64 nodes, u32 flags
 * The ACL table (every live list) precedes the nodes; an 'A' record may
 * also appear between nodes, just before the first node using an id that
 * was added after the table was written.  Nodes come in pre-order (parent
 * before child, each subtree contiguous), starting with "/", and include
 * the system nodes.  'E' is the last record of the last block.  The
 * persisted Stat is StatPersisted (cversion counts creates; numChildren is
 * derived on load), exactly as ZooKeeper serializes DataNode.
 *
 * Checksums: crc32c (common/crc32c.h: hardware on x86-64, why not zlib's
 * crc32) per block of about 64 KiB, so corruption is located to a block
 * and reported with its offset; a snapshot of hundreds of megabytes must
 * load in under a second.  The tree digest stays ZooKeeper's CRC32
 * (tree.c); that one is part of the protocol.
 *
 * Fuzzy snapshots (FileTxnSnapLog / DataTree semantics): the snapshot is
 * written by a registered reader thread while the writer keeps applying.
 *  - The start zxid is read before anything else; each node is copied
 *    consistently (tree_node_snapshot), the tree as a whole is not.
 *  - The walk holds node pointers, so it passes no quiescent state from
 *    start to end: memory the writer frees meanwhile waits (grace periods
 *    stall, the writer's limbo grows, hash-table resizes wait).  Writing
 *    to fd happens inside that section too: keep the fd a local file.
 *  - Nodes whose czxid is above the start zxid are left out with their
 *    subtrees (system nodes excepted: no txn creates them): replay
 *    creates them.  That is what keeps paths unique: a
 *    node deleted and re-created during the walk can be met twice in the
 *    children lists (the old one still linked when visited, the new one at
 *    the tail), but only the old one was created by then.  It relies on
 *    every node's czxid being <= tree_last_zxid(), true of any tree that
 *    has been brought up to date by replay.
 *  - Everything else the walk saw may be newer than the start zxid;
 *    replaying the log from start + 1 through tree_apply converges, as
 *    DataTree's replay does (create of an existing node, delete of a
 *    missing one, parent cversion guards: see tree.c apply_create and
 *    apply_delete).
 *  - ACL ids are reused only after a grace period (acl.c), so an id stays
 *    bound to one list for the whole walk.  A node whose ACL id was
 *    released while we looked at it gets whatever list the table shows
 *    (possibly empty); the change that released it has zxid > start and
 *    replay rewrites it.
 *  - The "walk digest" is the sum of the digests of the nodes as written.
 *    Loading recomputes the tree digest and must get exactly that, fuzzy
 *    or not.  The digest of the live tree at the end (ZooKeeper's
 *    ZxidDigest) is recorded too, and flags bit 0 says the walk was not
 *    fuzzy (start zxid == end zxid and the three digests agree); then the
 *    loaded digest must also equal the live one.
 *
 * Writing is buffered (about 1 MiB per write(2)); fsync and rename are the
 * caller's business.  Loading reads from the fd's current position,
 * validates every length, checksum, ordering and reference (anything wrong
 * is -EBADMSG with one log line naming the byte offset), and builds a new
 * tree from tree_new() so the system nodes exist already: the snapshot's
 * versions replace them in place.  No count read from the file sizes an
 * allocation except the header's node count, which sizes the first array
 * of pending nodes and is capped at what the file's length can hold;
 * memory otherwise follows the bytes actually present.  The path index is
 * sized from the nodes actually read, before they go in
 * (tree_index_reserve: one table, no rehash on the way).  The loading thread
 * passes quiescent states between blocks (deferred frees and hash-table
 * resizes need grace periods), so its caller must hold no RCU pointers
 * across the call.
 *
 * Loading speed (1M znodes in well under a second; docs/BENCHMARKS.md):
 * the tree is private until the call returns, so nodes are built in one
 * pass over the blocks without lookups (tree_load_node: the parent is the
 * pre-order chain's, the children lists are appended in file order) and
 * go into the path index afterwards in one batch sorted by bucket
 * (tree_load_index), which turns a cold miss per node on the index into
 * sequential walks.  A path that appears twice is found there, and
 * reported with the offset of one of its records.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "tree_priv.h"

#define SNAP_MAGIC "CHEETSNP"
#define SNAP_END_MAGIC "CHEETEND"
#define SNAP_FORMAT 1u
#define HDR_LEN 40u
#define BLK_HDR 12u
#define TRAILER_LEN 32u
#define TRAILER_MARK 0xffffffffu
#define BLOCK_TARGET (64u * 1024)
#define FLUSH_AT (1u << 20)
#define READ_CHUNK (4u << 20)

#define TAG_SESSION 'S'
#define TAG_ACL 'A'
#define TAG_NODE 'N'
#define TAG_END 'E'

#define SESSION_REC 13u
#define END_REC 53u
/* A node record without its path and data bytes. */
#define NODE_REC_FIXED (1u + 4 + 6 * 8 + 3 * 4 + 4 + 4)
#define END_FLAG_CONSISTENT 1u

/* The nodes tree_new() creates; they exist in every tree and every snapshot. */
static const char *const system_paths[] = {"/", "/zookeeper", "/zookeeper/quota",
					   "/zookeeper/config"};
#define NSYSTEM (sizeof(system_paths) / sizeof(system_paths[0]))

/* Index of path in system_paths, or NSYSTEM. */
static unsigned system_index(const char *path, size_t len)
{
	for (unsigned i = 0; i < NSYSTEM; i++)
		if (strlen(system_paths[i]) == len && !memcmp(system_paths[i], path, len))
			return i;
	return NSYSTEM;
}

/* ---- Writing ---- */

#define NO_BLOCK SIZE_MAX

struct writer {
	struct tree *t;
	int fd;
	uint8_t *buf;
	size_t len; /* finished blocks, then the open block */
	size_t cap;
	size_t blk;	  /* offset in buf of the open block's header, or NO_BLOCK */
	uint64_t flushed; /* bytes written to fd before buf[0] */
	uint32_t nblocks;
	int err;
	int64_t start_zxid;
	uint64_t walk_digest;
	uint64_t nsessions, nacls, nnodes;
	uint64_t *acl_seen; /* bitmap of ACL ids written */
	size_t acl_words;
};

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			int rc = k < 0 ? -errno : -EIO;
			log_error("snapshot: write at offset %llu failed: %s",
				  (unsigned long long)off, strerror(-rc));
			return rc;
		}
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* Writes every finished block; the open one (if any) moves to the front. */
static void w_flush(struct writer *w)
{
	size_t upto = w->blk == NO_BLOCK ? w->len : w->blk;

	if (w->err || !upto)
		return;
	w->err = write_all(w->fd, w->buf, upto, w->flushed);
	if (w->err)
		return;
	w->flushed += upto;
	memmove(w->buf, w->buf + upto, w->len - upto);
	w->len -= upto;
	if (w->blk != NO_BLOCK)
		w->blk = 0;
}

static int w_reserve_cap(struct writer *w, size_t n)
{
	if (w->cap - w->len >= n)
		return 0;
	size_t cap = w->cap;
	while (cap - w->len < n)
		cap *= 2;
	uint8_t *nb = realloc(w->buf, cap);
	if (!nb) {
		log_error("snapshot: out of memory growing the write buffer to %zu bytes", cap);
		w->err = -ENOMEM;
		return w->err;
	}
	w->buf = nb;
	w->cap = cap;
	return 0;
}

static void w_block_close(struct writer *w)
{
	if (w->err || w->blk == NO_BLOCK)
		return;
	uint8_t *h = w->buf + w->blk;
	size_t plen = w->len - w->blk - BLK_HDR;

	if (!plen) {
		w->len = w->blk; /* nothing in it: drop the header */
	} else {
		jute_put_be32(h, (uint32_t)plen);
		jute_put_be32(h + 4, w->nblocks++);
		uint32_t crc = crc32c(0, h, 8);
		jute_put_be32(h + 8, crc32c(crc, h + BLK_HDR, plen));
	}
	w->blk = NO_BLOCK;
	if (w->len >= FLUSH_AT)
		w_flush(w);
}

/* Room for one record of n bytes in a block; NULL once w->err is set. */
static uint8_t *w_record(struct writer *w, size_t n)
{
	if (w->err)
		return NULL;
	if (w->blk != NO_BLOCK && w->len - w->blk - BLK_HDR + n > BLOCK_TARGET)
		w_block_close(w);
	if (w->blk == NO_BLOCK) {
		if (w_reserve_cap(w, BLK_HDR + n))
			return NULL;
		w->blk = w->len;
		w->len += BLK_HDR;
	}
	if (w_reserve_cap(w, n))
		return NULL;
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	jute_put_be32(p, v);
	return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	jute_put_be64(p, v);
	return p + 8;
}

static void put_session(void *arg, int64_t id, int32_t timeout)
{
	struct writer *w = arg;
	uint8_t *p = w_record(w, SESSION_REC);

	if (!p)
		return;
	*p++ = TAG_SESSION;
	p = put64(p, (uint64_t)id);
	put32(p, (uint32_t)timeout);
	w->nsessions++;
}

/* Marks an ACL id written; returns true when it was already. */
static bool acl_mark(struct writer *w, uint32_t id)
{
	size_t word = id / 64;

	if (word >= w->acl_words) {
		size_t n = w->acl_words ? w->acl_words : 4;
		while (n <= word)
			n *= 2;
		uint64_t *nb = realloc(w->acl_seen, n * sizeof(*nb));
		if (!nb) {
			log_error("snapshot: out of memory for the ACL id set (id %u)", id);
			w->err = -ENOMEM;
			return true;
		}
		memset(nb + w->acl_words, 0, (n - w->acl_words) * sizeof(*nb));
		w->acl_seen = nb;
		w->acl_words = n;
	}
	bool was = w->acl_seen[word] >> (id % 64) & 1;
	w->acl_seen[word] |= 1ull << (id % 64);
	return was;
}

static void put_acl(struct writer *w, uint32_t id, const struct jute_acl_list *l)
{
	uint8_t *p;

	if (acl_mark(w, id) || !(p = w_record(w, 9 + (size_t)l->raw_len)))
		return;
	*p++ = TAG_ACL;
	p = put32(p, id);
	p = put32(p, l->raw_len);
	memcpy(p, l->raw, l->raw_len);
	w->nacls++;
}

static void put_acl_entry(void *arg, uint32_t id, uint32_t refs, const struct jute_acl_list *l)
{
	(void)refs;
	put_acl(arg, id, l);
}

/*
 * Writes one node; returns false when it was left out (created after
 * start).  System nodes are never created by a txn, so they are always
 * written, whatever their czxid.
 */
static bool put_node(struct writer *w, const struct tree_node *n)
{
	struct tree_pstat ps;
	struct tree_data *d;
	uint32_t acl, plen = n->path_len; /* a bit field: read once */
	uint8_t *p;

	tree_node_snapshot(n, &ps, &d, &acl);
	if (ps.czxid > w->start_zxid &&
	    (plen > 17 || system_index(n->path, plen) == NSYSTEM))
		return false;
	if (!(w->acl_words > acl / 64 && (w->acl_seen[acl / 64] >> (acl % 64) & 1))) {
		struct jute_acl_list l = acl_table_get(w->t, acl);
		put_acl(w, acl, &l);
	}
	p = w_record(w, NODE_REC_FIXED + plen + (d ? d->len : 0));
	if (!p)
		return false;
	*p++ = TAG_NODE;
	p = put32(p, plen);
	memcpy(p, n->path, plen);
	p += plen;
	p = put64(p, (uint64_t)ps.czxid);
	p = put64(p, (uint64_t)ps.mzxid);
	p = put64(p, (uint64_t)ps.pzxid);
	p = put64(p, (uint64_t)ps.ctime);
	p = put64(p, (uint64_t)ps.mtime);
	p = put64(p, (uint64_t)ps.ephemeral_owner);
	p = put32(p, (uint32_t)ps.version);
	p = put32(p, (uint32_t)ps.cversion);
	p = put32(p, (uint32_t)ps.aversion);
	if (d) {
		p = put32(p, d->len);
		memcpy(p, d->bytes, d->len);
		p += d->len;
	} else {
		p = put32(p, UINT32_MAX);
	}
	put32(p, acl);
	w->walk_digest += tree_node_digest(n->path, plen, d, &ps);
	w->nnodes++;
	return true;
}

struct frame {
	const struct tree_node *n;
	const struct tree_node *pos; /* last child visited, or NULL before the first */
};

/*
 * Pre-order walk over the children lists with an explicit stack (paths
 * may be deeper than any C stack).  A node unlinked while we stand on it
 * keeps its next pointer, which leads on through the same list.
 */
static void walk(struct writer *w)
{
	struct tree_node *root = tree_find(w->t, "/", 1);
	struct frame *stack = NULL;
	size_t depth = 0, cap = 0;

	if (!root) {
		log_error("snapshot: tree has no root");
		w->err = -EINVAL;
		return;
	}
	put_node(w, root);
	stack = malloc(64 * sizeof(*stack));
	if (!stack) {
		log_error("snapshot: out of memory for the walk stack");
		w->err = -ENOMEM;
		return;
	}
	cap = 64;
	stack[depth++] = (struct frame){root, NULL};
	while (depth && !w->err) {
		struct frame *f = &stack[depth - 1];
		const struct tree_node *c =
		    f->pos ? rcu_dereference(f->pos->next) : tree_node_child(f->n);

		if (!c) {
			depth--;
			continue;
		}
		f->pos = c;
		if (!put_node(w, c) || c->kind == NODE_EPHEMERAL)
			continue;
		if (depth == cap) {
			struct frame *ns = realloc(stack, cap * 2 * sizeof(*ns));
			if (!ns) {
				log_error("snapshot: out of memory for a walk %zu deep", cap * 2);
				w->err = -ENOMEM;
				break;
			}
			stack = ns;
			cap *= 2;
		}
		stack[depth++] = (struct frame){c, NULL};
	}
	free(stack);
}

int tree_snapshot_write(struct tree *t, int fd, int64_t *zxid_out)
{
	struct writer w = {.t = t, .fd = fd, .blk = NO_BLOCK};
	uint64_t digest_start, digest_end;
	int64_t zxid_end;
	uint8_t *p;
	uint32_t flags = 0;

	if (!urcu_qsbr_read_ongoing()) {
		log_error(
		    "snapshot: tree_snapshot_write called from an offline or unregistered thread");
		return -EINVAL;
	}
	w.cap = FLUSH_AT + BLOCK_TARGET + BLK_HDR + TRAILER_LEN;
	w.buf = malloc(w.cap);
	if (!w.buf) {
		log_error("snapshot: out of memory for the write buffer");
		return -ENOMEM;
	}
	/* From here on no quiescent state until the walk is over. */
	w.start_zxid = tree_last_zxid(t);
	digest_start = tree_digest(t);
	cmm_smp_rmb(); /* the walk sees every txn up to start_zxid */

	p = w.buf;
	memcpy(p, SNAP_MAGIC, 8);
	p = put32(p + 8, SNAP_FORMAT);
	p = put32(p, HDR_LEN);
	p = put64(p, (uint64_t)w.start_zxid);
	p = put64(p, tree_node_count(t));
	p = put32(p, 0);
	put32(p, crc32c(0, w.buf, HDR_LEN - 4));
	w.len = HDR_LEN;

	tree_sessions_foreach(t, put_session, &w);
	acl_table_foreach(t, put_acl_entry, &w);
	walk(&w);

	cmm_smp_rmb();
	digest_end = tree_digest(t);
	zxid_end = tree_last_zxid(t);
	if (zxid_end == w.start_zxid && digest_start == digest_end && w.walk_digest == digest_end)
		flags |= END_FLAG_CONSISTENT;
	p = w_record(&w, END_REC);
	if (p) {
		*p++ = TAG_END;
		p = put64(p, (uint64_t)zxid_end);
		p = put64(p, digest_end);
		p = put64(p, w.walk_digest);
		p = put64(p, w.nsessions);
		p = put64(p, w.nacls);
		p = put64(p, w.nnodes);
		put32(p, flags);
	}
	w_block_close(&w);
	if (!w.err && !w_reserve_cap(&w, TRAILER_LEN)) {
		p = w.buf + w.len;
		put32(p, TRAILER_MARK);
		put32(p + 4, w.nblocks);
		put64(p + 8, w.flushed + w.len);
		memcpy(p + 16, SNAP_END_MAGIC, 8);
		put32(p + 24, 0);
		put32(p + 28, crc32c(0, p, TRAILER_LEN - 4));
		w.len += TRAILER_LEN;
		w_flush(&w);
	}
	free(w.buf);
	free(w.acl_seen);
	if (w.err)
		return w.err; /* logged where it happened */
	log_info("snapshot: wrote %llu nodes, %llu sessions, %llu ACLs, %llu bytes, zxid "
		 "0x%llx..0x%llx%s",
		 (unsigned long long)w.nnodes, (unsigned long long)w.nsessions,
		 (unsigned long long)w.nacls, (unsigned long long)w.flushed,
		 (unsigned long long)w.start_zxid, (unsigned long long)zxid_end,
		 (flags & END_FLAG_CONSISTENT) ? "" : " (fuzzy)");
	if (zxid_out)
		*zxid_out = w.start_zxid;
	return 0;
}

/* ---- Loading ---- */

__attribute__((format(printf, 2, 3))) static int bad(uint64_t off, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("snapshot: offset %llu: %s", (unsigned long long)off, msg);
	return -EBADMSG;
}

struct reader {
	int fd;
	uint8_t *buf;
	size_t cap, pos, end; /* unread bytes: buf[pos..end) */
	uint64_t off;	      /* snapshot offset of buf[pos] */
	uint64_t size;	      /* snapshot length when fd is a regular file, else UINT64_MAX */
};

/*
 * Makes n bytes available at buf + pos.  Returns 0, -ENODATA at end of
 * file (the caller says what was cut short), or another negative errno.
 */
static int rd_need(struct reader *r, size_t n)
{
	if (r->end - r->pos >= n)
		return 0;
	if (r->pos) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	if (n > r->cap) {
		size_t cap = r->cap;
		while (cap < n)
			cap *= 2;
		uint8_t *nb = realloc(r->buf, cap);
		if (!nb) {
			log_error("snapshot: out of memory for a %zu-byte read buffer", cap);
			return -ENOMEM;
		}
		r->buf = nb;
		r->cap = cap;
	}
	while (r->end < n) {
		ssize_t k = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			int rc = -errno;
			log_error("snapshot: read at offset %llu failed: %s",
				  (unsigned long long)(r->off + r->end), strerror(-rc));
			return rc;
		}
		if (k == 0)
			return -ENODATA;
		r->end += (size_t)k;
	}
	return 0;
}

static void rd_skip(struct reader *r, size_t n)
{
	r->pos += n;
	r->off += n;
}

/* Snapshot id -> tree id for ACL lists (open addressing). */
struct acl_slot {
	uint32_t snap_id;
	uint32_t tree_id;
	bool used;
};

struct acl_map {
	struct acl_slot *slots;
	uint32_t cap, n;
};

static struct acl_slot *acl_map_find(struct acl_map *m, uint32_t id)
{
	if (!m->cap)
		return NULL;
	for (uint32_t i = (id * 0x9e3779b1u) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->slots[i].used)
			return NULL;
		if (m->slots[i].snap_id == id)
			return &m->slots[i];
	}
}

static int acl_map_add(struct acl_map *m, uint32_t snap_id, uint32_t tree_id)
{
	if ((m->n + 1) * 2 > m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 64;
		struct acl_slot *s = calloc(cap, sizeof(*s));
		if (!s)
			return -ENOMEM;
		for (uint32_t i = 0; i < m->cap; i++) {
			if (!m->slots[i].used)
				continue;
			uint32_t j = (m->slots[i].snap_id * 0x9e3779b1u) & (cap - 1);
			while (s[j].used)
				j = (j + 1) & (cap - 1);
			s[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = s;
		m->cap = cap;
	}
	uint32_t i = (snap_id * 0x9e3779b1u) & (m->cap - 1);
	while (m->slots[i].used)
		i = (i + 1) & (m->cap - 1);
	m->slots[i] = (struct acl_slot){snap_id, tree_id, true};
	m->n++;
	return 0;
}

enum stage {
	STAGE_SESSIONS,
	STAGE_ACLS, /* ACL table, then nodes with ACLs between them */
	STAGE_END,  /* 'E' seen: only the trailer may follow */
};

struct loader {
	struct tree *t; /* created once the first block checks out */
	const struct tree_opts *opts;
	uint32_t max_data;
	enum stage stage;
	struct acl_map acls;
	/*
	 * The last node's path and its ancestors-or-self: their path lengths
	 * and nodes (pre-order: a node's parent is on this chain, so it is
	 * never looked up).
	 */
	char *prev;
	size_t prev_cap;
	uint32_t *chain;
	struct tree_node **chain_nodes;
	size_t depth, chain_cap;
	/* Nodes made but not yet in the path index (tree_load_index). */
	struct tree_load_ent *batch;
	size_t nbatch, batch_cap;
	uint64_t nsessions, nacls, nnodes;
	unsigned system_seen;
	int64_t start_zxid;
	uint64_t hint; /* node count from the header, bounded by the file size: sizes batch */
};

/*
 * Nodes go into the path index in one batch per LOAD_BATCH nodes, sorted
 * by bucket (tree_load_index).  One batch for the whole snapshot is what
 * makes it fast: with rculfhash, a later batch found the earlier
 * batches' nodes, cold, in the bucket chains it walked (64K-node batches
 * spent 36% of a 1M-node load there, against under 5% for one batch); the
 * cuckoo index reads a cold node only on a tag match, but its buckets
 * are still walked in order only within a batch.  Entries take 24 bytes a
 * node, freed at the end of the load; 4M nodes (96 MB of entries) per
 * batch bounds that for trees of over a gigabyte, where it is under 8%
 * of the tree.  The array grows with the nodes actually read, from the
 * header's hint.  Tests and the fuzzer may define a smaller batch.
 */
#ifndef LOAD_BATCH
#define LOAD_BATCH (4u << 20)
#endif

/* Adds the pending nodes to the path index; a path met twice is -EBADMSG, no memory -ENOMEM. */
static int flush_batch(struct loader *l)
{
	size_t dup;
	int rc;

	if (!l->nbatch)
		return 0;
	/* Room for every node read so far, at once. */
	tree_index_reserve(l->t, l->nnodes);
	rc = tree_load_index(l->t, l->batch, l->nbatch, &dup);
	if (rc == -ENOMEM) {
		log_error("snapshot: out of memory indexing %zu nodes", l->nbatch);
		tree_load_discard(l->batch + dup, l->nbatch - dup);
	} else if (rc) {
		const struct tree_load_ent *e = &l->batch[dup];
		rc = bad(e->tag, "%.*s appears twice", (int)e->node->path_len, e->node->path);
		tree_load_discard(l->batch + dup, l->nbatch - dup);
	}
	l->nbatch = 0;
	return rc;
}

/* Room for one more pending node: grows the batch or flushes it. */
static int batch_room(struct loader *l)
{
	if (l->nbatch < l->batch_cap)
		return 0;
	if (l->batch_cap >= LOAD_BATCH)
		return flush_batch(l);
	size_t cap = l->batch_cap ? l->batch_cap * 2 : 256;
	while (cap < l->hint && cap < LOAD_BATCH)
		cap *= 2;
	if (cap > LOAD_BATCH)
		cap = LOAD_BATCH;
	struct tree_load_ent *b = realloc(l->batch, cap * sizeof(*b));
	if (!b) {
		log_error("snapshot: out of memory for %zu pending nodes", cap);
		return -ENOMEM;
	}
	l->batch = b;
	l->batch_cap = cap;
	return 0;
}

static int load_session(struct loader *l, const uint8_t *p, size_t left, uint64_t off)
{
	if (l->stage != STAGE_SESSIONS)
		return bad(off, "session record after the ACL table or nodes");
	if (left < SESSION_REC)
		return bad(off, "session record cut short by the end of its block");
	int64_t id = (int64_t)jute_be64(p + 1);
	int32_t timeout = (int32_t)jute_be32(p + 9);
	if (timeout < 0)
		return bad(off, "session 0x%llx has negative timeout %d", (unsigned long long)id,
			   timeout);
	if (tree_session_timeout(l->t, id) >= 0)
		return bad(off, "session 0x%llx appears twice", (unsigned long long)id);
	if (tree_session_open(l->t, id, timeout))
		return -ENOMEM;
	l->nsessions++;
	return SESSION_REC;
}

static int load_acl(struct loader *l, const uint8_t *p, size_t left, uint64_t off)
{
	struct jute_acl_list list;
	struct jute_in in;
	uint32_t id, len, tid;

	if (l->stage == STAGE_SESSIONS)
		l->stage = STAGE_ACLS;
	if (left < 9)
		return bad(off, "ACL record cut short by the end of its block");
	id = jute_be32(p + 1);
	len = jute_be32(p + 5);
	if (len > left - 9 || len > l->max_data)
		return bad(off, "ACL %u: list length %u exceeds its block or max_data", id, len);
	if (acl_map_find(&l->acls, id))
		return bad(off, "ACL id %u defined twice", id);
	jute_in_init(&in, p + 9, len);
	if (jute_get_acl_list(&in, &list, l->max_data) || list.count < 0 || jute_in_left(&in))
		return bad(off + 9, "ACL %u: malformed list", id);
	if (acl_table_intern(l->t, &list, &tid))
		return -ENOMEM;
	if (acl_map_add(&l->acls, id, tid)) {
		acl_table_unref(l->t, tid);
		return -ENOMEM;
	}
	l->nacls++;
	return (int)(9 + len);
}

/*
 * True when path certainly passes tree_validate_path: plain printable
 * ASCII without '.', no empty component, no trailing '/'.  Anything else
 * (false) goes to tree_validate_path, which alone rejects; this only
 * spares the common case its UTF-8 decoding (5% of a load).
 */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The high bit of each byte of w that is 0, exactly (no borrow between bytes). */
static inline uint64_t zero_bytes(uint64_t w)
{
	uint64_t t = (w & ~HIGHS) + ~HIGHS;

	return ~(t | w | ~HIGHS);
}

static bool path_surely_valid(const uint8_t *p, size_t len)
{
	uint64_t prev_slash = 0; /* high bit of the previous word's last byte: '/' */
	size_t i = 0;

	if (len < 2 || p[0] != '/' || p[len - 1] == '/')
		return false;
	/*
	 * Eight bytes at a time (a load spent 350 instructions per path in
	 * the byte loop): any byte below 0x20 or above 0x7e, any '.', and
	 * any '/' whose previous byte (p[0] included) is '/'.
	 */
	for (; i + 8 <= len; i += 8) {
		uint64_t w, bad, slash;

		memcpy(&w, p + i, 8);
		w = le64toh(w);
		bad = (w - ONES * 0x20) & ~w;          /* a byte < 0x20 (exact test for any) */
		bad |= (w + ONES * (0x7f - 0x7e)) | w; /* a byte > 0x7e */
		bad |= zero_bytes(w ^ (ONES * '.'));
		slash = zero_bytes(w ^ (ONES * '/'));
		if ((bad & HIGHS) || (slash & ((slash << 8) | prev_slash)))
			return false;
		prev_slash = slash >> 56;
	}
	for (uint8_t last = prev_slash ? '/' : 0; i < len; i++) {
		uint8_t c = p[i];
		if (c < 0x20 || c >= 0x7f || c == '.' || (c == '/' && last == '/'))
			return false;
		last = c;
	}
	return true;
}

/*
 * Parent before child, each subtree contiguous: the parent is on the last
 * node's chain.  Pushes the node's length; the caller sets its node.
 */
static int check_preorder(struct loader *l, const char *path, uint32_t len, uint64_t off)
{
	if (len == 1) {
		if (l->nnodes)
			return bad(off, "\"/\" is not the first node");
		l->depth = 0;
	} else {
		size_t plen;
		if (!l->nnodes)
			return bad(off, "first node is %.*s, not \"/\"", (int)len, path);
		plen = tree_parent_len(path, len);
		while (l->depth && l->chain[l->depth - 1] > plen)
			l->depth--;
		if (!l->depth || l->chain[l->depth - 1] != plen || memcmp(l->prev, path, plen))
			return bad(off,
				   "%.*s: parent not written just before its subtree (pre-order)",
				   (int)len, path);
	}
	if (l->depth == l->chain_cap) {
		size_t cap = l->chain_cap ? l->chain_cap * 2 : 64;
		uint32_t *c = realloc(l->chain, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		l->chain = c;
		struct tree_node **cn = realloc(l->chain_nodes, cap * sizeof(*cn));
		if (!cn)
			return -ENOMEM;
		l->chain_nodes = cn;
		l->chain_cap = cap;
	}
	if (len + 1 > l->prev_cap) {
		size_t cap = l->prev_cap ? l->prev_cap : 256;
		while (cap < len + 1)
			cap *= 2;
		char *np = realloc(l->prev, cap);
		if (!np)
			return -ENOMEM;
		l->prev = np;
		l->prev_cap = cap;
	}
	l->chain_nodes[l->depth] = NULL; /* the caller's, once made */
	l->chain[l->depth++] = len;
	memcpy(l->prev, path, len);
	return 0;
}

/*
 * Replaces a system node's persisted Stat, data and ACL by the snapshot's
 * (the tree is not published yet: no reader can see the change).  The
 * node keeps its children count; acl is already referenced for it.
 */
static int update_system_node(struct tree *t, struct tree_node *n, const struct tree_pstat *ps,
			      struct jute_buf data, uint32_t acl)
{
	/* The caller checked the owner: a system node is persistent. */
	int rc = tree_replace_loaded(t, n, ps, data, acl);

	assert(rc != -EINVAL);
	return rc;
}

static int load_node(struct loader *l, const uint8_t *p, size_t left, uint64_t off)
{
	struct tree_pstat ps = {0};
	struct jute_buf path, data;
	struct acl_slot *acl;
	struct jute_in in;
	int rc;

	if (l->stage == STAGE_SESSIONS)
		l->stage = STAGE_ACLS;
	jute_in_init(&in, p + 1, left - 1);
	path = jute_get_buffer(&in, l->max_data);
	ps.czxid = jute_get_long(&in);
	ps.mzxid = jute_get_long(&in);
	ps.pzxid = jute_get_long(&in);
	ps.ctime = jute_get_long(&in);
	ps.mtime = jute_get_long(&in);
	ps.ephemeral_owner = jute_get_long(&in);
	ps.version = jute_get_int(&in);
	ps.cversion = jute_get_int(&in);
	ps.aversion = jute_get_int(&in);
	data = jute_get_buffer(&in, l->max_data);
	uint32_t acl_id = (uint32_t)jute_get_int(&in);
	if (in.err)
		return bad(off,
			   "node record %llu malformed: a length exceeds its block or max_data %u",
			   (unsigned long long)l->nnodes, l->max_data);
	/* Explicit: the fast path below skips tree_validate_path's bound. */
	if (path.len > 0 && (uint32_t)path.len > TREE_PATH_MAX)
		return bad(off, "node record %llu: path of %d bytes, above the limit of %u",
			   (unsigned long long)l->nnodes, path.len, TREE_PATH_MAX);
	if (path.len < 1 || (!path_surely_valid(path.p, (size_t)path.len) &&
			     tree_validate_path((const char *)path.p, (size_t)path.len, false)))
		return bad(off, "node record %llu: invalid path %.*s",
			   (unsigned long long)l->nnodes, path.len > 0 ? path.len : 0,
			   path.p ? (const char *)path.p : "");
	const char *cpath = (const char *)path.p;
	uint32_t plen = (uint32_t)path.len;
	rc = check_preorder(l, cpath, plen, off);
	if (rc)
		return rc;
	acl = acl_map_find(&l->acls, acl_id);
	if (!acl)
		return bad(off, "%.*s: ACL id %u not defined before it", (int)plen, cpath, acl_id);
	unsigned i = plen <= 17 ? system_index(cpath, plen) : NSYSTEM;
	struct tree_node *n;
	if (i != NSYSTEM) {
		/* tree_new made it: the snapshot's version replaces it in place. */
		if (l->system_seen & (1u << i))
			return bad(off, "%.*s appears twice", (int)plen, cpath);
		if (tree_owner_kind(l->t, ps.ephemeral_owner) != NODE_PERSISTENT)
			return bad(off, "system node %s has ephemeralOwner 0x%llx", system_paths[i],
				   (unsigned long long)ps.ephemeral_owner);
		n = tree_find(l->t, cpath, plen);
		assert(n);
		acl_table_ref(l->t, acl->tree_id);
		rc = update_system_node(l->t, n, &ps, data, acl->tree_id);
		if (rc) {
			acl_table_unref(l->t, acl->tree_id);
			return rc;
		}
		l->system_seen |= 1u << i;
	} else {
		/* check_preorder found the parent at depth - 2 ("/" is a system node). */
		struct tree_node *parent = l->chain_nodes[l->depth - 2];
		assert(parent);
		if (parent->kind == NODE_EPHEMERAL)
			return bad(off, "%.*s: parent is ephemeral", (int)plen, cpath);
		if ((rc = batch_room(l)))
			return rc;
		acl_table_ref(l->t, acl->tree_id);
		rc = tree_load_node(l->t, parent, cpath, plen, &ps, data, acl->tree_id, &n);
		if (rc) {
			acl_table_unref(l->t, acl->tree_id);
			return rc;
		}
		l->batch[l->nbatch++] = (struct tree_load_ent){tree_hash_path(cpath, plen), n, off};
	}
	l->chain_nodes[l->depth - 1] = n;
	l->nnodes++;
	return (int)(left - 1 - jute_in_left(&in) + 1);
}

static int load_end(struct loader *l, const uint8_t *p, size_t left, uint64_t off)
{
	if (left != END_REC)
		return bad(off, "end record is %zu bytes and must be the last of its block", left);
	int64_t zxid_end = (int64_t)jute_be64(p + 1);
	uint64_t digest_end = jute_be64(p + 9);
	uint64_t walk_digest = jute_be64(p + 17);
	uint64_t nsessions = jute_be64(p + 25);
	uint64_t nacls = jute_be64(p + 33);
	uint64_t nnodes = jute_be64(p + 41);
	uint32_t flags = jute_be32(p + 49);
	/* Every node indexed first: a path met twice is the error to report. */
	int rc = flush_batch(l);
	if (rc)
		return rc;
	uint64_t digest = tree_digest(l->t);

	if (flags & ~END_FLAG_CONSISTENT)
		return bad(off, "end record: unknown flags 0x%x", flags);
	if (zxid_end < l->start_zxid)
		return bad(off, "end zxid 0x%llx below start zxid 0x%llx",
			   (unsigned long long)zxid_end, (unsigned long long)l->start_zxid);
	if (nsessions != l->nsessions || nacls != l->nacls || nnodes != l->nnodes)
		return bad(off,
			   "end record counts %llu sessions, %llu ACLs, %llu nodes; file holds "
			   "%llu, %llu, %llu",
			   (unsigned long long)nsessions, (unsigned long long)nacls,
			   (unsigned long long)nnodes, (unsigned long long)l->nsessions,
			   (unsigned long long)l->nacls, (unsigned long long)l->nnodes);
	for (unsigned i = 0; i < NSYSTEM; i++)
		if (!(l->system_seen & (1u << i)))
			return bad(off, "system node %s missing", system_paths[i]);
	if (digest != walk_digest)
		return bad(off, "digest mismatch: loaded tree %016llx, snapshot %016llx",
			   (unsigned long long)digest, (unsigned long long)walk_digest);
	if ((flags & END_FLAG_CONSISTENT) && digest != digest_end)
		return bad(off, "digest mismatch: loaded tree %016llx, tree at zxid 0x%llx %016llx",
			   (unsigned long long)digest, (unsigned long long)zxid_end,
			   (unsigned long long)digest_end);
	if (!(flags & END_FLAG_CONSISTENT))
		log_info("snapshot: fuzzy (zxid 0x%llx..0x%llx): replay the log from 0x%llx",
			 (unsigned long long)l->start_zxid, (unsigned long long)zxid_end,
			 (unsigned long long)l->start_zxid + 1);
	l->stage = STAGE_END;
	return END_REC;
}

static int load_block(struct loader *l, const uint8_t *p, size_t len, uint64_t off)
{
	size_t i = 0;

	while (i < len) {
		int rc;
		if (l->stage == STAGE_END)
			return bad(off + i, "record after the end record");
		switch (p[i]) {
		case TAG_SESSION:
			rc = load_session(l, p + i, len - i, off + i);
			break;
		case TAG_ACL:
			rc = load_acl(l, p + i, len - i, off + i);
			break;
		case TAG_NODE:
			rc = load_node(l, p + i, len - i, off + i);
			break;
		case TAG_END:
			rc = load_end(l, p + i, len - i, off + i);
			break;
		default:
			return bad(off + i, "unknown record tag 0x%02x", p[i]);
		}
		if (rc < 0)
			return rc;
		i += (size_t)rc;
	}
	return 0;
}

/* Reads 'what' (n bytes) at the reader's position; a short file is -EBADMSG. */
static int need(struct reader *r, size_t n, const char *what)
{
	int rc = rd_need(r, n);

	if (rc == -ENODATA)
		return bad(r->off, "file ends inside the %s (%zu bytes wanted, %zu left)", what, n,
			   r->end - r->pos);
	return rc;
}

static int load_stream(struct reader *r, struct loader *l)
{
	const uint64_t block_max = 2ull * l->max_data + NODE_REC_FIXED + BLOCK_TARGET;
	uint32_t nblocks = 0;
	const uint8_t *h;
	int rc;

	if ((rc = need(r, HDR_LEN, "header")))
		return rc;
	h = r->buf + r->pos;
	if (memcmp(h, SNAP_MAGIC, 8))
		return bad(0, "not a Cheetah snapshot (bad magic)");
	if (jute_be32(h + 36) != crc32c(0, h, HDR_LEN - 4))
		return bad(0, "header checksum mismatch");
	if (jute_be32(h + 8) != SNAP_FORMAT)
		return bad(8, "unsupported format version %u (this build reads %u)",
			   jute_be32(h + 8), SNAP_FORMAT);
	if (jute_be32(h + 12) != HDR_LEN)
		return bad(12, "header length %u, expected %u", jute_be32(h + 12), HDR_LEN);
	l->start_zxid = (int64_t)jute_be64(h + 16);
	if (l->start_zxid < 0)
		return bad(16, "negative start zxid");
	/* Untrusted: only a sizing hint, capped by what the file can hold. */
	l->hint = jute_be64(h + 24);
	if (r->size != UINT64_MAX && l->hint > r->size / (NODE_REC_FIXED + 1))
		l->hint = r->size / (NODE_REC_FIXED + 1);
	if (r->size == UINT64_MAX && l->hint > (1u << 20))
		l->hint = 1u << 20;
	rd_skip(r, HDR_LEN);

	for (;;) {
		if ((rc = need(r, 4, "next block header")))
			return rc;
		h = r->buf + r->pos;
		uint32_t len = jute_be32(h);
		if (len == TRAILER_MARK)
			break;
		if (l->stage == STAGE_END)
			return bad(r->off, "block after the end record");
		if (len == 0 || len > block_max)
			return bad(r->off, "block %u: length %u outside 1..%llu", nblocks, len,
				   (unsigned long long)block_max);
		if (r->size != UINT64_MAX && r->off + BLK_HDR + len > r->size)
			return bad(r->off,
				   "block %u: length %u runs past the end of the file (%llu bytes)",
				   nblocks, len, (unsigned long long)r->size);
		if ((rc = need(r, BLK_HDR + (size_t)len, "block")))
			return rc;
		h = r->buf + r->pos;
		if (jute_be32(h + 4) != nblocks)
			return bad(r->off + 4, "block number %u, expected %u", jute_be32(h + 4),
				   nblocks);
		uint32_t crc = crc32c(crc32c(0, h, 8), h + BLK_HDR, len);
		if (crc != jute_be32(h + 8))
			return bad(r->off, "block %u: checksum mismatch (%u bytes)", nblocks, len);
		if (!l->t) {
			if (!(l->t = tree_new(l->opts))) {
				log_error("snapshot: out of memory creating the tree");
				return -ENOMEM;
			}
		}
		rc = load_block(l, h + BLK_HDR, len, r->off + BLK_HDR);
		if (rc)
			return rc;
		rd_skip(r, BLK_HDR + (size_t)len);
		nblocks++;
		/* Nothing held across blocks: let grace periods (and resizes) go on. */
		urcu_qsbr_quiescent_state();
	}
	if ((rc = need(r, TRAILER_LEN, "trailer")))
		return rc;
	h = r->buf + r->pos;
	if (jute_be32(h + 28) != crc32c(0, h, TRAILER_LEN - 4))
		return bad(r->off, "trailer checksum mismatch");
	if (memcmp(h + 16, SNAP_END_MAGIC, 8))
		return bad(r->off + 16, "bad trailer magic");
	if (jute_be32(h + 4) != nblocks || jute_be64(h + 8) != r->off)
		return bad(r->off, "trailer says %u blocks ending at %llu; read %u ending at %llu",
			   jute_be32(h + 4), (unsigned long long)jute_be64(h + 8), nblocks,
			   (unsigned long long)r->off);
	if (l->stage != STAGE_END)
		return bad(r->off, "no end record before the trailer");
	rd_skip(r, TRAILER_LEN);
	rc = rd_need(r, 1);
	if (rc == 0)
		return bad(r->off, "bytes after the trailer");
	return rc == -ENODATA ? 0 : rc;
}

int tree_snapshot_load(int fd, const struct tree_opts *opts, struct tree **out, int64_t *zxid_out)
{
	struct reader r = {.fd = fd, .size = UINT64_MAX};
	struct loader l = {.opts = opts, .max_data = opts->max_data};
	struct stat sb;
	int rc;

	*out = NULL;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		off_t at = lseek(fd, 0, SEEK_CUR);
		if (at >= 0 && at <= sb.st_size)
			r.size = (uint64_t)(sb.st_size - at);
	}
	r.cap = READ_CHUNK;
	r.buf = malloc(r.cap);
	if (!r.buf) {
		log_error("snapshot: out of memory starting a load");
		rc = -ENOMEM;
		goto out;
	}
	rc = load_stream(&r, &l);
	if (rc)
		goto out;
	/* ReferenceCountedACLCache.purgeUnused: drop the table's own references. */
	for (uint32_t i = 0; i < l.acls.cap; i++)
		if (l.acls.slots[i].used)
			acl_table_unref(l.t, l.acls.slots[i].tree_id);
	tree_index_reserve(l.t, l.nnodes);
	tree_set_last_zxid(l.t, l.start_zxid);
	tree_reclaim_flush(l.t);
	log_info("snapshot: loaded %llu nodes, %llu sessions, %llu ACLs, zxid 0x%llx",
		 (unsigned long long)l.nnodes, (unsigned long long)l.nsessions,
		 (unsigned long long)l.nacls, (unsigned long long)l.start_zxid);
	*out = l.t;
	l.t = NULL;
	if (zxid_out)
		*zxid_out = l.start_zxid;
out:
	if (rc == -ENOMEM)
		log_error("snapshot: out of memory at offset %llu", (unsigned long long)r.off);
	if (l.nbatch)
		tree_load_discard(l.batch, l.nbatch); /* made, never indexed */
	tree_free(l.t);
	free(r.buf);
	free(l.acls.slots);
	free(l.prev);
	free(l.chain);
	free(l.chain_nodes);
	free(l.batch);
	return rc;
}
