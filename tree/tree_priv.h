/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the znode store, shared by tree.c (store and apply), txn.c,
 * acl.c, prep.c and snapshot.c.  Nothing outside tree/ includes this.
 *
 * Layout of a znode (see struct tree_node; docs/PERFORMANCE.md has the
 * byte accounting):
 *  - One allocation (nslab.c up to NSLAB_MAX bytes: 8-byte granularity,
 *    else malloc) holds an optional prefix (NODE_EPHEMERAL: owner and the
 *    session-list link; NODE_TTL: owner; before it, for a node whose
 *    czxid and ctime the stamp table cannot encode, the two in full), the
 *    40-byte header (czxid and ctime in an 8-byte stamp, stamp.c), the
 *    NUL-terminated path and, when the node was made with at most
 *    TREE_DATA_INLINE_MAX bytes of data, that data (struct tree_data).
 *    Persistent and container nodes have no prefix: their ephemeralOwner
 *    is 0 and TREE_OWNER_CONTAINER.  Pointers to a node point at the
 *    header; node_base() gives the allocation.
 *  - The path is stored inline; the path index (pindex.c) holds full
 *    paths' hashes and node pointers, nothing in the node, so a lookup is
 *    one hash and at most two buckets, never a walk down the tree.
 *  - pzxid, mzxid, mtime, version, cversion, aversion, numChildren, the
 *    ACL id, the first child, the data pointer and the sequence counter
 *    live in a 64-byte ext block (struct tree_node_ext) that only nodes
 *    needing a value other than the default have (a leaf never given a
 *    child, a setACL or a setData, and made with inline or null data, has
 *    none): made before the first such change, freed with the node.  So a
 *    node without one never changes (its siblings' links aside), and a
 *    reader that finds no ext block needs no retry loop.
 *  - Children: the parent holds its first child (RCU pointer, in ext), each child
 *    the next sibling (RCU pointer, NULL after the last) and the previous
 *    one (writer only; the first child's points at the last, so appends
 *    and unlinks are O(1)).  Readers walk first child -> next.  An
 *    unlinked node keeps its next pointer, so a reader standing on it
 *    walks on through the list it was in (as cds_list_del_rcu).
 *  - Data is an immutable struct tree_data: without an ext block the
 *    inline copy (data_inline) or null; with one, ext's RCU pointer (set
 *    to the inline copy or null when ext is made, and to a block of its
 *    own by setData and for data too big to be inline).  A setData never
 *    writes the bytes a reader may hold: it publishes a new out-of-line
 *    block and the inline copy, if it was the current one, stays (dead)
 *    until the node is freed.  A snapshot load makes every small data
 *    inline again.
 *  - The Stat is the persisted one (StatPersisted) minus ephemeralOwner
 *    (kind and prefix, above): cversion counts creates only; the client's
 *    view is derived in tree_client_stat().
 *  - A per-node sequence counter in the ext block (odd while the writer
 *    changes the node) gives readers a consistent copy of Stat + data +
 *    ACL + children.
 *  - No rcu_head per object: freed memory goes to a limbo batch that is
 *    handed to call_rcu as a whole (tree_defer_free), never freed sooner,
 *    even when no batch can be allocated (a reserve batch, refilled
 *    before each op by tree_limbo_reserve, covers that).
 */
#ifndef CHEETAH_TREE_TREE_PRIV_H
#define CHEETAH_TREE_TREE_PRIV_H

#include <pthread.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <urcu/rculist.h>
/* _rcu_dereference: the inline form (liburcu allows it in any code). */
#include <urcu/static/pointer.h>

#include "tree.h"

/* How a node's ephemeralOwner is to be read (EphemeralType). */
enum node_kind {
	NODE_PERSISTENT = 0,
	NODE_EPHEMERAL = 1,
	NODE_CONTAINER = 2,
	NODE_TTL = 3,
};

/* StatPersisted (dataLength and numChildren are derived elsewhere). */
struct tree_pstat {
	int64_t czxid;
	int64_t mzxid;
	int64_t pzxid;
	int64_t ctime;
	int64_t mtime;
	int64_t ephemeral_owner;
	int32_t version;
	int32_t cversion; /* number of creates under this node */
	int32_t aversion;
	int32_t num_children;
};

/* Immutable once published; replaced whole by setData. */
struct tree_data {
	uint32_t len;
	uint8_t bytes[];
};

/*
 * Data up to this size may be stored in the node's own allocation when
 * the node is made (create, snapshot load).  The bound caps what a
 * setData leaves behind (the dead inline copy) per rewritten node.
 */
#define TREE_DATA_INLINE_MAX 256

/*
 * ---- stamp.c: czxid and ctime in 8 bytes (see there) ----
 *
 * A stamp is base index (16 bits) | czxid - base.zxid (24) | ctime -
 * base.time (24); index STAMP_WIDE: the node carries both values in a
 * prefix (tree_node_wide).
 */
#define STAMP_MASK ((1ull << 24) - 1)
#define STAMP_WIDE 0xffffu
#define STAMP_BASES 0xffffu /* indexes 0 .. STAMP_WIDE - 1 */
#define STAMP_WIDE_VALUE ((uint64_t)STAMP_WIDE << 48)

struct stamp_base {
	int64_t zxid; /* low 24 bits clear */
	int64_t time; /* low 24 bits clear */
};

/* Written once each by stamp_encode, never changed or freed; read by anyone. */
extern struct stamp_base stamp_bases[STAMP_BASES];

/* The calling thread's last base (stamp_encode's fast path). */
struct stamp_cache {
	int64_t zxid, time;
	uint64_t hi; /* the base's index << 48 */
	bool ok;
};
extern __thread struct stamp_cache stamp_cache;

/* stamp_encode when the thread's last base does not fit (stamp.c). */
uint64_t stamp_encode_slow(int64_t czxid, int64_t ctime);

/*
 * The stamp of (czxid, ctime), adding a base when needed; STAMP_WIDE_VALUE
 * when the table is full.  Any thread (a mutex on a miss of the thread's
 * last base).
 */
static inline uint64_t stamp_encode(int64_t czxid, int64_t ctime)
{
	uint64_t dz = (uint64_t)czxid - (uint64_t)stamp_cache.zxid;
	uint64_t dt = (uint64_t)ctime - (uint64_t)stamp_cache.time;

	if (caa_likely(stamp_cache.ok && dz <= STAMP_MASK && dt <= STAMP_MASK))
		return stamp_cache.hi | dz << 24 | dt;
	return stamp_encode_slow(czxid, ctime);
}
/* Bases in use (tests, stats). */
uint32_t stamp_bases_used(void);
/* Tests: at most n bases (n <= STAMP_BASES); later encodes go wide. */
void stamp_set_limit(uint32_t n);

static inline bool stamp_is_wide(uint64_t s)
{
	return (s >> 48) == STAMP_WIDE;
}

/* Decodes a stamp that is not wide (any thread). */
static inline int64_t stamp_czxid(uint64_t s)
{
	return (int64_t)((uint64_t)stamp_bases[s >> 48].zxid + ((s >> 24) & STAMP_MASK));
}

static inline int64_t stamp_ctime(uint64_t s)
{
	return (int64_t)((uint64_t)stamp_bases[s >> 48].time + (s & STAMP_MASK));
}

/* The prefix of a wide node's allocation: its full czxid and ctime. */
struct tree_node_wide {
	int64_t czxid;
	int64_t ctime;
};

/*
 * What only directories, ACL-changed and data-changed nodes (and nodes
 * made with data too big to be inline) need, in a block of its own (64
 * bytes) that the node points at; a node without one (ext NULL) has no
 * children, its inline data (data_inline) or null data, pzxid == mzxid ==
 * czxid, mtime == ctime, version == cversion == aversion == 0 and the
 * header's ACL id, and never changes.  Made by the writer (node_ext)
 * before the first change and published with those values (no
 * reader-visible change), then changed in place inside the node's write
 * bracket (seq); freed with the node, never sooner.
 */
struct tree_node_ext {
	struct tree_node *child; /* RCU: first child, NULL for none (always for NODE_EPHEMERAL) */
	struct tree_data *data;	 /* RCU: the node's data (NULL = null data) */
	int64_t pzxid;
	int64_t mzxid;
	int64_t mtime;
	int32_t cversion; /* number of creates under this node */
	int32_t aversion;
	int32_t num_children;
	int32_t version;
	uint32_t seq; /* odd while the writer changes the node */
	uint32_t acl; /* ACL table id (the header's is the one the node was made with) */
};

struct tree_node {
	struct tree_node *next;	   /* RCU: next sibling, NULL after the last */
	struct tree_node *prev;	   /* writer only: previous sibling; first child: the last */
	struct tree_node_ext *ext; /* RCU pointer; NULL = the defaults (struct tree_node_ext) */
	uint64_t stamp;		   /* czxid and ctime (stamp.c); immutable */
	uint32_t acl; /* ACL table id while ext is NULL (then stale: ext's counts) */
	uint32_t path_len : 29; /* at most TREE_PATH_MAX */
	uint32_t kind : 2;
	uint32_t data_inline : 1; /* made with its data inline (tree_node_inline_data) */
	char path[]; /* NUL-terminated; then the inline data, if any */
};

_Static_assert(sizeof(struct tree_node) == 40, "the node header");

/* Bytes before a node's header for its kind (owner, session link). */
static inline size_t tree_node_prefix(enum node_kind kind)
{
	return kind == NODE_EPHEMERAL ? 3 * sizeof(int64_t) : kind == NODE_TTL ? sizeof(int64_t) : 0;
}

/*
 * A wide node's czxid and ctime (stamp_is_wide): the 16 bytes before its
 * kind's prefix.
 */
static inline const struct tree_node_wide *tree_node_wide(const struct tree_node *n)
{
	return (const struct tree_node_wide *)((const char *)n -
					       tree_node_prefix((enum node_kind)n->kind)) -
	       1;
}

/* czxid and ctime (immutable: any thread that can reach the node). */
static inline int64_t tree_node_czxid(const struct tree_node *n)
{
	return caa_unlikely(stamp_is_wide(n->stamp)) ? tree_node_wide(n)->czxid
						      : stamp_czxid(n->stamp);
}

static inline int64_t tree_node_ctime(const struct tree_node *n)
{
	return caa_unlikely(stamp_is_wide(n->stamp)) ? tree_node_wide(n)->ctime
						      : stamp_ctime(n->stamp);
}

/*
 * The ext fields with their defaults: writer, or inside a read bracket
 * with e = _rcu_dereference(n->ext) taken in the same bracket (the inline
 * rcu_dereference: the library call costs a read about 5 instructions).
 */
static inline struct tree_node *tree_ext_child(const struct tree_node_ext *e)
{
	return e ? _rcu_dereference(e->child) : NULL;
}

static inline int64_t tree_ext_pzxid(const struct tree_node *n, const struct tree_node_ext *e)
{
	return e ? CMM_LOAD_SHARED(e->pzxid) : tree_node_czxid(n);
}

static inline int64_t tree_ext_mzxid(const struct tree_node *n, const struct tree_node_ext *e)
{
	return e ? CMM_LOAD_SHARED(e->mzxid) : tree_node_czxid(n);
}

static inline int64_t tree_ext_mtime(const struct tree_node *n, const struct tree_node_ext *e)
{
	return e ? CMM_LOAD_SHARED(e->mtime) : tree_node_ctime(n);
}

static inline int32_t tree_ext_cversion(const struct tree_node_ext *e)
{
	return e ? CMM_LOAD_SHARED(e->cversion) : 0;
}

static inline int32_t tree_ext_aversion(const struct tree_node_ext *e)
{
	return e ? CMM_LOAD_SHARED(e->aversion) : 0;
}

static inline int32_t tree_ext_num_children(const struct tree_node_ext *e)
{
	return e ? CMM_LOAD_SHARED(e->num_children) : 0;
}

static inline int32_t tree_ext_version(const struct tree_node_ext *e)
{
	return e ? CMM_LOAD_SHARED(e->version) : 0;
}

/* The node's ACL id (same rules as the ext fields above). */
static inline uint32_t tree_node_acl_id(const struct tree_node *n, const struct tree_node_ext *e)
{
	return e ? CMM_LOAD_SHARED(e->acl) : n->acl;
}

/* A node's first child (writer, or a reader: RCU walk first child -> next). */
static inline struct tree_node *tree_node_child(const struct tree_node *n)
{
	return tree_ext_child(_rcu_dereference(n->ext));
}

/* Where a node's inline data sits (meaningful when data_inline is set). */
static inline struct tree_data *tree_node_inline_data(const struct tree_node *n)
{
	uintptr_t p = (uintptr_t)(n->path + n->path_len + 1);

	return (struct tree_data *)((p + 3) & ~(uintptr_t)3);
}

/*
 * The node's data (NULL: null data): ext's once it has one, else the
 * inline copy or null.  Writer, or inside a read bracket with e =
 * _rcu_dereference(n->ext) taken in the same bracket.
 */
static inline struct tree_data *tree_node_data(const struct tree_node *n,
					       const struct tree_node_ext *e)
{
	if (e)
		return _rcu_dereference(e->data);
	return n->data_inline ? tree_node_inline_data(n) : NULL;
}

/* True when d is the node's inline copy (freed with the node, never alone). */
static inline bool tree_node_data_is_inline(const struct tree_node *n, const struct tree_data *d)
{
	return d && n->data_inline && d == tree_node_inline_data(n);
}

/* The prefix of a NODE_EPHEMERAL node's allocation (NODE_TTL: owner only). */
struct tree_node_eph {
	int64_t owner;
	struct cds_list_head eph; /* in the session's ephemerals (RCU list) */
};

_Static_assert(sizeof(struct tree_node_eph) == 3 * sizeof(int64_t), "tree_node_prefix");

/* All the bytes before a node's header: wide stamp, then kind's prefix. */
static inline size_t tree_node_prefix_all(const struct tree_node *n)
{
	return tree_node_prefix((enum node_kind)n->kind) +
	       (stamp_is_wide(n->stamp) ? sizeof(struct tree_node_wide) : 0);
}

/* The start of the node's allocation (what malloc returned). */
static inline void *tree_node_base(const struct tree_node *n)
{
	return (char *)n - tree_node_prefix_all(n);
}

/* The raw ephemeralOwner (immutable). */
static inline int64_t tree_node_owner(const struct tree_node *n)
{
	switch (n->kind) {
	case NODE_EPHEMERAL:
	case NODE_TTL:
		/* The owner opens the kind's prefix: 3 (ephemeral) or 1 (TTL) words back. */
		return *(const int64_t *)((const char *)n -
					  tree_node_prefix((enum node_kind)n->kind));
	case NODE_CONTAINER:
		return TREE_OWNER_CONTAINER;
	default:
		return 0;
	}
}

/* NODE_EPHEMERAL only: the session-list link, and back. */
static inline struct cds_list_head *tree_node_eph(struct tree_node *n)
{
	return &((struct tree_node_eph *)n - 1)->eph;
}

static inline struct tree_node *tree_eph_node(struct cds_list_head *h)
{
	return (struct tree_node *)(caa_container_of(h, struct tree_node_eph, eph) + 1);
}

/* Iterates a session's ephemerals (RCU list walk; writer or reader). */
#define tree_for_each_eph(n, head)                                                                 \
	for (struct cds_list_head *eph_pos_ = rcu_dereference((head)->next);                       \
	     eph_pos_ != (head) && ((n) = tree_eph_node(eph_pos_), 1);                             \
	     eph_pos_ = rcu_dereference(eph_pos_->next))

/* The same, for a writer that may unlink (and free) n in the body. */
#define tree_for_each_eph_safe(n, head)                                                            \
	for (struct cds_list_head *eph_pos_ = (head)->next, *eph_nx_ = eph_pos_->next;            \
	     eph_pos_ != (head) && ((n) = tree_eph_node(eph_pos_), 1);                             \
	     eph_pos_ = eph_nx_, eph_nx_ = eph_pos_->next)

/*
 * The persisted Stat of a node but its ephemeral_owner (writer, or inside
 * a read bracket with e = _rcu_dereference(n->ext) taken once for it):
 * the owner is immutable, so a reader that may retry fills it once, after
 * the bracket.
 */
static inline void tree_node_pstat_ext(const struct tree_node *n, const struct tree_node_ext *e,
				       struct tree_pstat *ps)
{
	ps->czxid = tree_node_czxid(n);
	ps->mzxid = tree_ext_mzxid(n, e);
	ps->pzxid = tree_ext_pzxid(n, e);
	ps->ctime = tree_node_ctime(n);
	ps->mtime = tree_ext_mtime(n, e);
	ps->version = tree_ext_version(e);
	ps->cversion = tree_ext_cversion(e);
	ps->aversion = tree_ext_aversion(e);
	ps->num_children = tree_ext_num_children(e);
}

/* The full persisted Stat of a node (writer). */
static inline void tree_node_pstat(const struct tree_node *n, struct tree_pstat *ps)
{
	tree_node_pstat_ext(n, n->ext, ps);
	ps->ephemeral_owner = tree_node_owner(n);
}

/* An open session, or a holder of ephemerals whose session is unknown. */
struct tree_session {
	struct cds_lfht_node hnode;
	struct cds_list_head ephemerals; /* RCU list of tree_node_eph.eph */
	int64_t id;
	int32_t timeout; /* -1: not opened by a createSession the tree saw */
	uint32_t neph;
	bool had_ephemerals; /* owned one since opened or loaded (DataTree.ephemerals key) */
};

/* Writer-only set of node pointers (containers, TTL nodes). */
struct node_set {
	struct tree_node **slots;
	uint32_t cap; /* power of two, or 0 */
	uint32_t used; /* live + tombstones */
	uint32_t live;
};

struct acl_table; /* acl.c */

struct limbo_batch;

/*
 * DataTree.digestLog: the digest after every txn whose zxid is a multiple
 * of TREE_DIGEST_LOG_INTERVAL, the newest TREE_DIGEST_LOG_LIMIT kept.
 * Written by the writer only; each entry under its own sequence count
 * (odd while being written), head counts the entries ever logged.
 */
struct tree_digest_ring {
	uint64_t head; /* release-stored after the entry is complete */
	struct {
		uint64_t seq;
		int64_t zxid;
		uint64_t digest;
	} e[TREE_DIGEST_LOG_LIMIT];
};

/*
 * The path index (pindex.c): a cuckoo table of tagged node pointers, 8
 * bytes a slot and nothing in the node.  Readers: pidx_find, any
 * registered thread inside a read-side section.  Everything else: the
 * writer.
 */
struct pidx_table;
struct pidx {
	struct pidx_table *tab; /* RCU */
	uint32_t moves;		/* odd while the writer relocates entries */
	uint64_t count;		/* entries (writer) */
	/* The hash growth rehashes paths with: tree_hash_path (tests: their own). */
	uint64_t (*rehash)(const char *path, size_t len);
};

/* Makes an empty index.  Returns 0 or -ENOMEM. */
int pidx_init(struct pidx *x);
/* Frees the table (no reader may remain; the nodes are the caller's). */
void pidx_destroy(struct pidx *x);
/* The node with this path (h = tree_hash_path), or NULL. */
struct tree_node *pidx_find(const struct pidx *x, uint64_t h, const char *path, size_t len);
/*
 * Adds n (absent: the caller checked), growing the table when needed.
 * Returns 0 or -ENOMEM (nothing changed).
 */
int pidx_add(struct pidx *x, uint64_t h, struct tree_node *n);
/*
 * Adds n unless a node with its path is indexed: returns that node (n not
 * added, *rc 0), or NULL with *rc 0 (added) or -ENOMEM (not added).
 */
struct tree_node *pidx_add_unique(struct pidx *x, uint64_t h, struct tree_node *n, int *rc);
/*
 * Removes n, which is indexed with hash h.  Under a wrong h (a bug) it
 * asserts; in an NDEBUG build it logs and removes n found by address.
 */
void pidx_del(struct pidx *x, uint64_t h, const struct tree_node *n);
/*
 * Grows the table so that count entries fit.  Returns 0 or -ENOMEM (also
 * when no table of at most 2^33 slots holds count; the table is unchanged).
 */
int pidx_reserve(struct pidx *x, uint64_t count);
/* Slots in the table (sizing; tests). */
uint64_t pidx_slots(const struct pidx *x);
/* Entries in the stash: equal-hash overflow (tests). */
uint32_t pidx_stashed(const struct pidx *x);
/* Writes every indexed node to out (x->count entries).  Returns the count. */
size_t pidx_collect(const struct pidx *x, struct tree_node **out);

#define TREE_WLOCKS 64u /* a power of two */
struct tree {
	struct pidx nodes;	   /* path -> tree_node */
	struct cds_lfht *sessions; /* id -> tree_session */
	struct acl_table *acls;
	struct tree_opts opts;
	uint64_t node_count;
	int64_t data_size; /* sum of path + data lengths */
	int64_t last_zxid;
	int64_t applying_zxid; /* published before the txn's first mutation */
	int64_t acl_zxid;      /* the last setACL's, published before it (tree_acl_zxid) */
	uint64_t digest;
	struct tree_digest_ring *digest_log; /* tree_digest_log; NULL until the first entry */
	struct node_set containers;
	struct node_set ttls;
	struct limbo_batch *limbo;
	struct limbo_batch *limbo_spare; /* the reserve (tree_limbo_reserve) */
	uint64_t limbo_leaked; /* objects tree_defer_free had no batch for */
	size_t limbo_bytes;
	uint64_t limbo_seq;  /* number of the newest batch */
	uint64_t limbo_done; /* newest batch freed (written by call_rcu thread) */
	uint32_t world_acl; /* world:anyone ALL, held by the system nodes */
	/* Writer locks, one per stripe of nodes (node_wlock, tree.c): the
	 * writer holds one across each seq bracket; a reader takes it only
	 * after TREE_CHILDREN_RETRIES failed lock-free reads. */
	pthread_mutex_t wlock[TREE_WLOCKS];
};

/*
 * Tests only (NULL otherwise): called by tree_node_children after each
 * lock-free walk of the list, before it checks the node's seq, on the
 * reader's thread; it may act as the writer (tree_apply) to make the
 * read race a change deterministically.
 */
extern void (*tree_children_test_hook)(struct tree *t, const struct tree_node *n);

/* ---- nslab.c: node memory (see there) ---- */

/* Nodes up to this size come from nslab_alloc, bigger ones from malloc. */
#define NSLAB_MAX 512
/* What nslab_alloc hands out for size bytes (size rounded up to 8). */
size_t nslab_size(size_t size);
/* size in 1..NSLAB_MAX; 8-byte aligned.  Returns NULL on allocation failure. */
void *nslab_alloc(size_t size);
/* Frees what nslab_alloc returned (any thread). */
void nslab_free(void *p);

/* ---- tree.c ---- */

/*
 * SipHash-1-3 of the bytes, keyed with a random per-process secret (read
 * from getrandom before main): clients cannot choose colliding paths or
 * ACLs.  Differs between processes: for in-memory tables only, never for
 * anything persisted or compared between servers (the digest is not it).
 */
uint64_t tree_hash_path(const char *path, size_t len);
struct tree_node *tree_find(struct tree *t, const char *path, size_t len);
struct tree_session *tree_find_session(struct tree *t, int64_t id);
/* Length of the parent's path ("/a" -> 1 for "/"); path must not be "/". */
size_t tree_parent_len(const char *path, size_t len);
/* Kind of a raw ephemeralOwner, honouring extended types as ZooKeeper does. */
static inline enum node_kind tree_owner_kind(const struct tree *t, int64_t owner)
{
	if (!owner)
		return NODE_PERSISTENT;
	if (t->opts.extended_types &&
	    (owner & TREE_OWNER_EXTENDED_MASK) == TREE_OWNER_EXTENDED_MASK)
		return NODE_TTL;
	if (owner == TREE_OWNER_CONTAINER)
		return NODE_CONTAINER;
	return NODE_EPHEMERAL;
}
/* The client-visible Stat of a node from a consistent copy. */
void tree_client_stat(const struct tree_pstat *ps, const struct tree_data *d, struct zk_stat *st);
/* Copies a node's persisted stat, data pointer and ACL id consistently. */
void tree_node_snapshot(const struct tree_node *n, struct tree_pstat *ps, struct tree_data **d,
			uint32_t *acl);

/*
 * Inserts a node as loaded from a snapshot (writer, before readers):
 * parent must exist; acl is an id already referenced for this node.
 * Returns 0, -EEXIST, -ENOENT (no parent), -EBADMSG (len above
 * TREE_PATH_MAX, logged) or -ENOMEM.
 */
int tree_insert_loaded(struct tree *t, const char *path, size_t len, const struct tree_pstat *ps,
		       struct jute_buf data, uint32_t acl);
/*
 * Replaces, in place, the persisted Stat (czxid and ctime included,
 * numChildren kept), data (len -1: null) and ACL of a node of a tree no
 * reader has seen yet: the system nodes tree_new made, when a snapshot or
 * an import brings their saved versions.  acl is a reference already
 * taken for the node; the old one is released and the old data freed at
 * once.  Returns 0, -EINVAL (ps's ephemeralOwner is not the node's:
 * nothing changed) or -ENOMEM (nothing changed; also when the node's
 * stamp is narrow and the stamp table has no room for the new values).
 */
int tree_replace_loaded(struct tree *t, struct tree_node *n, const struct tree_pstat *ps,
			struct jute_buf data, uint32_t acl);

/*
 * Bulk loading (snapshot.c), writer only, while the tree is not yet
 * published: nodes are made and linked one by one, then added to the
 * path index in batches, in the order that suits the index.
 *
 * tree_index_reserve grows the path index so that nodes entries fit now
 * (on -ENOMEM it stays, and tree_load_index grows it or fails).
 *
 * tree_load_node makes a node under parent (never NULL, never ephemeral:
 * the caller checked) with the persisted Stat ps (numChildren ignored),
 * data (len -1: null) and acl (a reference already taken for it), links
 * it into parent's children, its session's ephemerals or the container /
 * TTL set, and counts it (node count, data size, digest), but leaves it
 * out of the path index: tree_find does not see it, and tree_free would
 * not free it, until tree_load_index adds it.  The caller keeps it in an
 * entry with tree_hash_path of its path.  Returns 0, -EBADMSG (len above
 * TREE_PATH_MAX, logged) or -ENOMEM (nothing changed).
 *
 * tree_load_index reorders ents by bucket (in place) and adds them to
 * the path index in that order.  Returns 0, -ENOMEM or -EEXIST when
 * ents[*dup]'s path is in the index already (another entry's, in any
 * order, or a node made otherwise): on either error ents[*dup..n) are not
 * indexed, and the caller, which fails the load, frees them with
 * tree_load_discard before tree_free.
 */
struct tree_load_ent {
	uint64_t hash;
	struct tree_node *node;
	uint64_t tag; /* the caller's (snapshot.c: the record's offset) */
};

void tree_index_reserve(struct tree *t, uint64_t nodes);
int tree_load_node(struct tree *t, struct tree_node *parent, const char *path, size_t len,
		   const struct tree_pstat *ps, struct jute_buf data, uint32_t acl,
		   struct tree_node **out);
int tree_load_index(struct tree *t, struct tree_load_ent *ents, size_t n, size_t *dup);
void tree_load_discard(struct tree_load_ent *ents, size_t n);

/* Records a session (createSession or snapshot).  Returns 0 or -ENOMEM. */
int tree_session_open(struct tree *t, int64_t id, int32_t timeout);
void tree_set_last_zxid(struct tree *t, int64_t zxid);

/*
 * Frees p after a grace period (writer only): never before, so a caller
 * may keep using p (an event's path, an ACL view) until its next
 * quiescent state.  Returns the number of the batch holding it: once
 * tree_limbo_done() reaches it, the grace period is over (0: p was
 * NULL; UINT64_MAX: p is leaked, see below).
 *
 * A batch holds LIMBO_BATCH (64) pointers.  When malloc fails for a new
 * one, the tree's reserve batch is used; a writer that mutates calls
 * tree_limbo_reserve first, and then up to 63 frees are covered however
 * memory stands.  Without any batch (a caller that did not reserve, and
 * malloc failing) p is leaked and logged: it is never freed early.
 */
uint64_t tree_defer_free(struct tree *t, void *p, size_t bytes);
/*
 * Writer, before a mutation that may defer frees (at most 63): makes
 * sure the reserve batch exists, and hands a batch that passed the
 * byte limit to call_rcu.  Returns 0 or -ENOMEM (then do not mutate).
 */
int tree_limbo_reserve(struct tree *t);
/* The limbo batch allocator (malloc); weak, for tests that make it fail. */
void *tree_limbo_alloc(size_t bytes);
uint64_t tree_limbo_done(const struct tree *t);

/* ---- acl.c ---- */

struct acl_table *acl_table_new(void);
/* Frees the table; no readers may remain.  Call registered and offline. */
void acl_table_free(struct acl_table *a);
/*
 * Returns the id of the list with these bytes (a validated jute ACL list),
 * adding it or taking one more reference.  Returns 0 on success, -ENOMEM.
 */
int acl_table_intern(struct tree *t, const struct jute_acl_list *l, uint32_t *id);
void acl_table_ref(struct tree *t, uint32_t id);
void acl_table_unref(struct tree *t, uint32_t id);
/* Reader: the list for an id (count 0 when unknown). */
struct jute_acl_list acl_table_get(struct tree *t, uint32_t id);
/*
 * Reader: the same, and in *world tree_acl_world_perms of the list,
 * computed when it was interned (0 when the id is unknown).
 */
struct jute_acl_list acl_table_get_world(struct tree *t, uint32_t id, int32_t *world);
/* Number of distinct lists held (tests, snapshot). */
uint32_t acl_table_size(const struct acl_table *a);
/* Calls fn for each live entry: id, references, list. */
void acl_table_foreach(struct tree *t, void (*fn)(void *arg, uint32_t id, uint32_t refs,
						  const struct jute_acl_list *l),
		       void *arg);

/* ---- digest (tree.c) ---- */

/* DigestCalculator: CRC32 of path, data and the persisted Stat; 0 for /zookeeper/... */
uint32_t tree_node_digest(const char *path, size_t len, const struct tree_data *d,
			  const struct tree_pstat *ps);

#endif
