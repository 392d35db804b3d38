/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The path index: full path -> znode, read without locks by any
 * registered QSBR thread, written by the tree's one writer.
 *
 * Why not liburcu's rculfhash any more: it costs 16 bytes inside every
 * znode (its list node) plus a 16-byte bucket per znode, 32 bytes of a
 * 1M-znode tree's ~240.  This index costs 8 bytes a slot and nothing in
 * the node: a bucketised cuckoo table (two candidate buckets per path,
 * 8 slots of 8 bytes = one cache line each), filled up to 31/32 of its
 * slots, so about 8.3 to 16.5 bytes per znode depending on where the
 * count sits between two doublings.
 *
 * A slot is 0 (empty) or the node's address (user space addresses fit
 * 48 bits: asserted) with the top 16 bits of the path's hash (the tag)
 * above it.  A lookup reads its two buckets (cache lines) and compares
 * the path of a node only on a tag match; rculfhash's walk read the
 * bucket, then every chained node's first line.
 *
 * Buckets of a hash h: b1 = h & mask and b2 = b1 ^ f(tag), so the other
 * bucket of an entry is known from its slot alone (partial-key cuckoo
 * hashing): moving entries never needs their paths.  Growth rehashes the
 * paths into a table twice as big (or more, for a reserve), published with one pointer
 * store; the old table is freed after a grace period (call_rcu).
 *
 * Read rules:
 *  - A slot holds a node from the moment it is published (one 8-byte
 *    store after cmm_smp_wmb: the node is complete) until its delete
 *    (one store of 0); a found node stays readable until the reader's
 *    next quiescent state (the tree frees nodes after a grace period).
 *  - An insert that finds both buckets full moves entries along a path
 *    to a free slot (breadth-first search, at most PIDX_BFS_MAX buckets),
 *    last entry first, so every entry is always in at least one slot; but
 *    a reader may read an entry's new slot before the move and its old
 *    slot after it.  The writer brackets the moves with the moves
 *    counter (odd while moving, as a seqlock); a reader that found
 *    nothing retries when the counter was odd or changed.  A hit needs no
 *    check: the node was indexed while the reader looked.
 *  - The table pointer is loaded once per attempt; a reader on a table
 *    replaced by a growth sees the index as it was (nodes deleted since
 *    are still readable, see above) and the table itself stays until a
 *    grace period has passed.
 *
 * The stash: paths with the same hash share both buckets, so at most 16
 * of them fit at any table size, and growing cannot help them.  The hash
 * is keyed with a per-process secret (tree_hash_path), so a client
 * cannot choose such paths, but an add in apply must still never fail
 * because of where hashes fall: when both buckets are full, the
 * displacement search finds no room and the table is at most half full,
 * the entry goes to the table's stash, a small array every lookup that
 * missed both buckets scans, instead of growing the table (growth is
 * for real load only).  A stash slot follows the rules of a table slot
 * (published with one store after cmm_smp_wmb, deleted with one store of
 * 0); a full stash is replaced by a bigger copy, published with one
 * pointer store, the old one freed after a grace period.  The stash
 * belongs to its table: a growth reinserts the entries into the new
 * table (or its stash), and both are published together.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tree_priv.h"

#define PIDX_WAYS 8 /* slots per bucket: one 64-byte cache line */
#define PIDX_TAG_SHIFT 48
#define PIDX_PTR_MASK ((UINT64_C(1) << PIDX_TAG_SHIFT) - 1)
#define PIDX_MIN_SLOTS 1024u
#define PIDX_MAX_SLOTS (UINT64_C(1) << 33)
/* Buckets a displacement search may visit before the table grows. */
#define PIDX_BFS_MAX 512
/* Slots of a stash when it is first made (then doubled when full). */
#define PIDX_STASH_MIN 8u

struct pidx_stash {
	struct rcu_head rcu;
	uint32_t cap;
	uint64_t v[]; /* slot values, 0: empty */
};

struct pidx_table {
	struct rcu_head rcu;
	uint64_t mask;		  /* buckets - 1 */
	uint64_t *slots;	  /* (mask + 1) * PIDX_WAYS, 64-byte aligned */
	struct pidx_stash *stash; /* RCU; NULL: none */
	uint32_t stashed;	  /* entries in the stash (writer) */
};

_Static_assert(PIDX_WAYS * sizeof(uint64_t) == 64, "a bucket is one cache line");

/* The other bucket of an entry in bucket b with hash tag tag (an involution). */
static inline uint64_t alt_bucket(uint64_t b, uint64_t tag, uint64_t mask)
{
	uint64_t x = (tag + 1) * UINT64_C(0xc6a4a7935bd1e995);

	return (b ^ (x >> 20)) & mask;
}

static inline struct tree_node *slot_node(uint64_t v)
{
	return (struct tree_node *)(uintptr_t)(v & PIDX_PTR_MASK);
}

static inline uint64_t slot_value(uint64_t h, const struct tree_node *n)
{
	assert(((uintptr_t)n & ~PIDX_PTR_MASK) == 0);
	return (h & ~PIDX_PTR_MASK) | (uint64_t)(uintptr_t)n;
}

static struct pidx_table *table_new(uint64_t slots)
{
	struct pidx_table *tb = malloc(sizeof(*tb));

	assert(slots >= PIDX_WAYS && !(slots & (slots - 1)));
	if (!tb)
		return NULL;
	tb->slots = aligned_alloc(64, slots * sizeof(uint64_t));
	if (!tb->slots) {
		free(tb);
		return NULL;
	}
	memset(tb->slots, 0, slots * sizeof(uint64_t));
	tb->mask = slots / PIDX_WAYS - 1;
	tb->stash = NULL;
	tb->stashed = 0;
	return tb;
}

static void table_free(struct pidx_table *tb)
{
	if (tb) {
		free(tb->stash);
		free(tb->slots);
		free(tb);
	}
}

static void stash_free_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct pidx_stash, rcu));
}

static void table_free_rcu(struct rcu_head *h)
{
	table_free(caa_container_of(h, struct pidx_table, rcu));
}

static inline uint64_t table_slots(const struct pidx_table *tb)
{
	return (tb->mask + 1) * PIDX_WAYS;
}

int pidx_init(struct pidx *x)
{
	x->moves = 0;
	x->count = 0;
	x->rehash = tree_hash_path;
	x->tab = table_new(PIDX_MIN_SLOTS);
	return x->tab ? 0 : -ENOMEM;
}

void pidx_destroy(struct pidx *x)
{
	table_free(x->tab);
	x->tab = NULL;
}

uint64_t pidx_slots(const struct pidx *x)
{
	return table_slots(x->tab);
}

uint32_t pidx_stashed(const struct pidx *x)
{
	return x->tab->stashed;
}

/* ---- Reads ---- */

static inline struct tree_node *bucket_find(const uint64_t *b, uint64_t tagbits, const char *path,
					    size_t len)
{
	for (unsigned i = 0; i < PIDX_WAYS; i++) {
		uint64_t v = CMM_LOAD_SHARED(b[i]);

		if (((v ^ tagbits) >> PIDX_TAG_SHIFT) == 0 && v) {
			struct tree_node *n = slot_node(v);

			cmm_smp_read_barrier_depends();
			if (n->path_len == len && memcmp(n->path, path, len) == 0)
				return n;
		}
	}
	return NULL;
}

/* The stash's node with this path, or NULL (cold: only after both buckets missed). */
static struct tree_node *stash_find(const struct pidx_stash *st, uint64_t tagbits, const char *path,
				    size_t len)
{
	for (uint32_t i = 0; i < st->cap; i++) {
		uint64_t v = CMM_LOAD_SHARED(st->v[i]);

		if (((v ^ tagbits) >> PIDX_TAG_SHIFT) == 0 && v) {
			struct tree_node *n = slot_node(v);

			cmm_smp_read_barrier_depends();
			if (n->path_len == len && memcmp(n->path, path, len) == 0)
				return n;
		}
	}
	return NULL;
}

struct tree_node *pidx_find(const struct pidx *x, uint64_t h, const char *path, size_t len)
{
	for (;;) {
		uint32_t mv = CMM_LOAD_SHARED(x->moves);
		cmm_smp_rmb();
		const struct pidx_table *tb = _rcu_dereference(x->tab);
		uint64_t b1 = h & tb->mask;
		struct tree_node *n;

		n = bucket_find(tb->slots + b1 * PIDX_WAYS, h, path, len);
		if (n)
			return n;
		n = bucket_find(tb->slots +
				    alt_bucket(b1, h >> PIDX_TAG_SHIFT, tb->mask) * PIDX_WAYS,
				h, path, len);
		if (n)
			return n;
		const struct pidx_stash *st = _rcu_dereference(tb->stash);
		if (caa_unlikely(st != NULL) && (n = stash_find(st, h, path, len)))
			return n;
		cmm_smp_rmb();
		if (!(mv & 1) && CMM_LOAD_SHARED(x->moves) == mv)
			return NULL;
		caa_cpu_relax(); /* an entry moved while we looked: look again */
	}
}

/* ---- Writes (the tree's writer only) ---- */

static inline uint64_t *free_slot(uint64_t *slots, uint64_t b)
{
	uint64_t *s = slots + b * PIDX_WAYS;

	for (unsigned i = 0; i < PIDX_WAYS; i++)
		if (!s[i])
			return &s[i];
	return NULL;
}

/* A breadth-first search node: a bucket, reached by moving the entry in way of parent's. */
struct bfs_ent {
	uint64_t bucket;
	int32_t parent; /* -1: one of the new entry's own buckets */
	uint32_t way;
};

static bool on_path(const struct bfs_ent *q, int32_t i, uint64_t bucket)
{
	for (; i >= 0; i = q[i].parent)
		if (q[i].bucket == bucket)
			return true;
	return false;
}

/*
 * Puts v (hash h) into tb.  moves is the counter to bracket relocations
 * with (NULL for a table no reader sees).  Returns 0, or -ENOSPC when no
 * free slot was found within PIDX_BFS_MAX buckets (nothing changed).
 */
static int table_insert(struct pidx_table *tb, uint32_t *moves, uint64_t h, uint64_t v)
{
	uint64_t mask = tb->mask, b1 = h & mask;
	uint64_t b2 = alt_bucket(b1, h >> PIDX_TAG_SHIFT, mask);
	struct bfs_ent q[PIDX_BFS_MAX];
	uint64_t *dst;
	int32_t tail = 0;

	if ((dst = free_slot(tb->slots, b1)) || (dst = free_slot(tb->slots, b2))) {
		cmm_smp_wmb(); /* the node is complete before it is reachable */
		CMM_STORE_SHARED(*dst, v);
		return 0;
	}
	q[tail++] = (struct bfs_ent){b1, -1, 0};
	if (b2 != b1)
		q[tail++] = (struct bfs_ent){b2, -1, 0};
	for (int32_t head = 0; head < tail; head++) {
		uint64_t b = q[head].bucket;

		for (uint32_t w = 0; w < PIDX_WAYS; w++) {
			uint64_t a =
			    alt_bucket(b, tb->slots[b * PIDX_WAYS + w] >> PIDX_TAG_SHIFT, mask);

			if (on_path(q, head, a))
				continue;
			if (tail == PIDX_BFS_MAX)
				return -ENOSPC;
			q[tail] = (struct bfs_ent){a, head, w};
			dst = free_slot(tb->slots, a);
			if (!dst) {
				tail++;
				continue;
			}
			/* Move along the path, last entry first: each is always in a slot. */
			if (moves) {
				CMM_STORE_SHARED(*moves, *moves + 1);
				cmm_smp_wmb();
			}
			for (int32_t i = tail; q[i].parent >= 0; i = q[i].parent) {
				uint64_t *src =
				    tb->slots + q[q[i].parent].bucket * PIDX_WAYS + q[i].way;

				CMM_STORE_SHARED(*dst, *src);
				dst = src;
			}
			/* dst: the slot in b1 or b2 the first move emptied. */
			cmm_smp_wmb();
			CMM_STORE_SHARED(*dst, v);
			if (moves) {
				cmm_smp_wmb();
				CMM_STORE_SHARED(*moves, *moves + 1);
			}
			return 0;
		}
	}
	return -ENOSPC;
}

/*
 * Puts v into tb's stash: in a free slot, or in a copy twice as big that
 * replaces the stash (the old one freed after a grace period when
 * published is set, at once otherwise).  Returns 0 or -ENOMEM.
 */
static int stash_add(struct pidx_table *tb, uint64_t v, bool published)
{
	struct pidx_stash *st = tb->stash, *nst;

	if (st)
		for (uint32_t i = 0; i < st->cap; i++)
			if (!st->v[i]) {
				cmm_smp_wmb(); /* the node is complete before it is reachable */
				CMM_STORE_SHARED(st->v[i], v);
				tb->stashed++;
				return 0;
			}
	uint32_t cap = st ? st->cap * 2 : PIDX_STASH_MIN, k = 0;
	nst = calloc(1, sizeof(*nst) + cap * sizeof(uint64_t));
	if (!nst)
		return -ENOMEM;
	nst->cap = cap;
	if (st)
		for (uint32_t i = 0; i < st->cap; i++)
			if (st->v[i])
				nst->v[k++] = st->v[i];
	assert(k == tb->stashed);
	nst->v[k] = v;
	rcu_assign_pointer(tb->stash, nst); /* orders v's node and the copy before */
	tb->stashed++;
	if (st) {
		if (published)
			call_rcu(&st->rcu, stash_free_rcu);
		else
			free(st);
	}
	return 0;
}

/* Whether count entries fit tb under the load limit (31/32 of the slots). */
static inline bool fits(uint64_t slots, uint64_t count)
{
	return count <= slots - slots / 32;
}

/*
 * Replaces the table by one of at least want slots holding every entry
 * (paths rehashed); the old one is freed after a grace period.
 */
static int grow(struct pidx *x, uint64_t want)
{
	struct pidx_table *old = x->tab, *tb;
	uint64_t slots = table_slots(old) * 2;
	uint64_t n = table_slots(old), i;
	uint32_t ns = old->stash ? old->stash->cap : 0;
	int rc = 0;

	while (slots < want)
		slots *= 2;
	if (slots > PIDX_MAX_SLOTS || !(tb = table_new(slots)))
		return -ENOMEM;
	for (i = 0; i < n + ns && !rc; i++) {
		uint64_t v = i < n ? old->slots[i] : old->stash->v[i - n];
		if (i + 8 < n && old->slots[i + 8])
			__builtin_prefetch(slot_node(old->slots[i + 8]));
		if (!v)
			continue;
		const struct tree_node *nd = slot_node(v);
		rc = table_insert(tb, NULL, x->rehash(nd->path, nd->path_len), v);
		/*
		 * The new table is at most about half full: no room means a
		 * cluster of equal hashes, which a bigger table would not split
		 * either (the old code doubled again, without bound).
		 */
		if (rc == -ENOSPC)
			rc = stash_add(tb, v, false);
	}
	if (rc) {
		table_free(tb);
		return rc;
	}
	rcu_assign_pointer(x->tab, tb);
	call_rcu(&old->rcu, table_free_rcu);
	return 0;
}

int pidx_reserve(struct pidx *x, uint64_t count)
{
	uint64_t slots = table_slots(x->tab);

	if (fits(slots, count))
		return 0;
	uint64_t want = slots;
	while (!fits(want, count)) {
		/* Doubling past the cap would wrap to 0, which never fits. */
		if (want >= PIDX_MAX_SLOTS)
			return -ENOMEM;
		want *= 2;
	}
	return grow(x, want);
}

int pidx_add(struct pidx *x, uint64_t h, struct tree_node *n)
{
	int rc;

	if ((rc = pidx_reserve(x, x->count + 1)))
		return rc;
	while ((rc = table_insert(x->tab, &x->moves, h, slot_value(h, n))) == -ENOSPC) {
		/* Lightly loaded: a cluster of equal hashes, which growth cannot split. */
		if (x->count < table_slots(x->tab) / 2) {
			rc = stash_add(x->tab, slot_value(h, n), true);
			break;
		}
		if ((rc = grow(x, table_slots(x->tab) * 2)))
			return rc;
	}
	if (!rc)
		x->count++;
	return rc;
}

/* The node in bucket b with n's path, if any; *dst: b's first free slot, unless set. */
static inline struct tree_node *bucket_dup(uint64_t *b, uint64_t h, const struct tree_node *n,
					   uint64_t **dst)
{
	for (unsigned i = 0; i < PIDX_WAYS; i++) {
		uint64_t v = b[i];

		if (!v) {
			if (!*dst)
				*dst = &b[i];
		} else if (((v ^ h) >> PIDX_TAG_SHIFT) == 0) {
			struct tree_node *o = slot_node(v);
			if (o->path_len == n->path_len &&
			    memcmp(o->path, n->path, n->path_len) == 0)
				return o;
		}
	}
	return NULL;
}

struct tree_node *pidx_add_unique(struct pidx *x, uint64_t h, struct tree_node *n, int *rc)
{
	struct tree_node *o;

	*rc = 0;
	if (fits(table_slots(x->tab), x->count + 1)) {
		/* One pass over both buckets: the duplicate check and a free slot. */
		struct pidx_table *tb = x->tab;
		uint64_t b1 = h & tb->mask;
		uint64_t b2 = alt_bucket(b1, h >> PIDX_TAG_SHIFT, tb->mask);
		uint64_t *dst = NULL;

		if ((o = bucket_dup(tb->slots + b1 * PIDX_WAYS, h, n, &dst)) ||
		    (o = bucket_dup(tb->slots + b2 * PIDX_WAYS, h, n, &dst)))
			return o;
		if (caa_unlikely(tb->stash != NULL) &&
		    (o = stash_find(tb->stash, h, n->path, n->path_len)))
			return o;
		if (dst) {
			cmm_smp_wmb(); /* the node is complete before it is reachable */
			CMM_STORE_SHARED(*dst, slot_value(h, n));
			x->count++;
			return NULL;
		}
	} else if ((o = pidx_find(x, h, n->path, n->path_len))) {
		return o;
	}
	*rc = pidx_add(x, h, n);
	return NULL;
}

/* Clears the slot of tb or its stash holding n, searched by address.  Returns whether found. */
static bool del_by_address(struct pidx *x, struct pidx_table *tb, const struct tree_node *n)
{
	uint64_t slots = table_slots(tb);

	for (uint64_t i = 0; i < slots; i++)
		if (tb->slots[i] && slot_node(tb->slots[i]) == n) {
			CMM_STORE_SHARED(tb->slots[i], 0);
			x->count--;
			return true;
		}
	for (uint32_t i = 0; tb->stash && i < tb->stash->cap; i++)
		if (tb->stash->v[i] && slot_node(tb->stash->v[i]) == n) {
			CMM_STORE_SHARED(tb->stash->v[i], 0);
			tb->stashed--;
			x->count--;
			return true;
		}
	return false;
}

void pidx_del(struct pidx *x, uint64_t h, const struct tree_node *n)
{
	struct pidx_table *tb = x->tab;
	uint64_t v = slot_value(h, n), b1 = h & tb->mask;
	uint64_t b2 = alt_bucket(b1, h >> PIDX_TAG_SHIFT, tb->mask);

	for (unsigned i = 0; i < 2 * PIDX_WAYS; i++) {
		uint64_t *s = tb->slots + (i < PIDX_WAYS ? b1 : b2) * PIDX_WAYS + i % PIDX_WAYS;
		if (*s == v) {
			CMM_STORE_SHARED(*s, 0);
			x->count--;
			return;
		}
	}
	for (uint32_t i = 0; tb->stash && i < tb->stash->cap; i++)
		if (tb->stash->v[i] == v) {
			CMM_STORE_SHARED(tb->stash->v[i], 0);
			tb->stashed--;
			x->count--;
			return;
		}
	/*
	 * A wrong hash (a bug): never leave the node reachable after its
	 * caller frees it, find it by address over the whole table.
	 */
	bool found = del_by_address(x, tb, n);
	log_error("pidx_del: %.*s not indexed under its hash (%s)", (int)n->path_len, n->path,
		  found ? "removed by address" : "not indexed at all");
	assert(!"pidx_del: node not indexed under its hash");
}

size_t pidx_collect(const struct pidx *x, struct tree_node **out)
{
	const struct pidx_table *tb = x->tab;
	uint64_t n = table_slots(tb);
	size_t k = 0;

	for (uint64_t i = 0; i < n; i++)
		if (tb->slots[i])
			out[k++] = slot_node(tb->slots[i]);
	for (uint32_t i = 0; tb->stash && i < tb->stash->cap; i++)
		if (tb->stash->v[i])
			out[k++] = slot_node(tb->stash->v[i]);
	assert(k == x->count);
	return k;
}
