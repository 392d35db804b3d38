/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The znode store: a lock-free hash table of full paths (pindex.c, a
 * cuckoo table of tagged node pointers) over znodes that link to their children in RCU lists (first child, next
 * sibling; tree_priv.h has the node layout).  It reproduces
 * Apache ZooKeeper's DataTree: the same Stat arithmetic (persisted cversion
 * counts creates, clients see 2*cversion - numChildren), the same ephemeral
 * owner encodings, the same watch triggers and the same incremental digest
 * (DigestCalculator + AdHash).
 *
 * Threads: one writer (the broadcast core) calls tree_apply and the other
 * mutators; readers on any registered QSBR thread call the read functions.
 * The writer publishes with rcu_assign_pointer / list_add_rcu and frees
 * through tree_defer_free; readers retry on a node's odd or changed seq.
 *
 * The read rules of the compact layout:
 *  - Children: a reader loads parent->child, then each child's next, with
 *    rcu_dereference, inside the parent's seq bracket.  The writer links a
 *    new last child by filling it (next NULL) before one store publishes
 *    it (the old last's next, or parent->child), and unlinks by one store
 *    to the predecessor's next (or parent->child); the unlinked node keeps
 *    its next.  prev pointers are the writer's alone.  A reader racing a
 *    change sees the parent's seq move and retries.
 *  - Data: the data pointer (tree_node_data: ext's, else the inline copy)
 *    is loaded once per read (inside the bracket, with the ext pointer
 *    loaded in the same bracket) and the bytes it leads to never change: a setData publishes
 *    a new block (never the inline area, which a reader may hold until
 *    its next quiescent state); the old out-of-line block is freed after
 *    a grace period, an inline one with its node.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32.h"
#include "common/nsstat.h"
#include "common/log.h"
#include "tree_priv.h"

/*
 * The header size docs/PERFORMANCE.md accounts for: a 22-byte path and
 * 100 bytes of data take 40 + 23 + 1 + 4 + 100 = 168 bytes (nslab.c: no
 * rounding beyond 8); the ext block is jemalloc's 64 class exactly.
 */
_Static_assert(offsetof(struct tree_node, path) == 40, "struct tree_node grew");
_Static_assert(sizeof(struct tree_node_ext) == 64, "struct tree_node_ext grew");

/* ---- Deferred reclamation ---- */

#define LIMBO_BATCH 64
/* Flush early once this much memory waits, so large data frees stay prompt. */
#define LIMBO_MAX_BYTES (4u << 20)

/* A limbo pointer with this bit set is nslab memory (nodes: 8-byte aligned). */
#define LIMBO_NSLAB 1u

struct limbo_batch {
	struct rcu_head rcu;
	struct tree *t;
	uint64_t seq;
	uint32_t n;
	void *ptrs[LIMBO_BATCH];
};

/* Runs on the call_rcu thread; tree_free waits for every callback. */
static void limbo_free_cb(struct rcu_head *head)
{
	struct limbo_batch *b = caa_container_of(head, struct limbo_batch, rcu);

	for (uint32_t i = 0; i < b->n; i++) {
		uintptr_t p = (uintptr_t)b->ptrs[i];
		if (p & LIMBO_NSLAB)
			nslab_free((void *)(p & ~(uintptr_t)LIMBO_NSLAB));
		else
			free((void *)p);
	}
	/* Callbacks run in order, so this is the highest finished batch. */
	uatomic_set(&b->t->limbo_done, b->seq);
	free(b);
}

uint64_t tree_limbo_done(const struct tree *t)
{
	return uatomic_read(&t->limbo_done);
}

void tree_reclaim_flush(struct tree *t)
{
	if (!t->limbo)
		return;
	urcu_qsbr_call_rcu(&t->limbo->rcu, limbo_free_cb);
	t->limbo = NULL;
	t->limbo_bytes = 0;
}

/*
 * Allocates a limbo batch.  Weak so that a unit test can make it fail
 * (tests/tree/test_limbo.c); nothing else overrides it.
 */
__attribute__((weak)) void *tree_limbo_alloc(size_t bytes)
{
	return malloc(bytes);
}

static struct limbo_batch *limbo_new(struct tree *t)
{
	struct limbo_batch *b = tree_limbo_alloc(sizeof(*b));

	if (!b) {
		/* The reserve: tree_limbo_reserve kept one for this mutation. */
		b = t->limbo_spare;
		t->limbo_spare = NULL;
		if (!b)
			return NULL;
	}
	b->t = t;
	b->seq = ++t->limbo_seq;
	b->n = 0;
	return b;
}

int tree_limbo_reserve(struct tree *t)
{
	/* A batch past the byte limit goes now (tree_defer_free flushes on count only). */
	if (t->limbo_bytes >= LIMBO_MAX_BYTES)
		tree_reclaim_flush(t);
	if (t->limbo_spare)
		return 0;
	t->limbo_spare = tree_limbo_alloc(sizeof(*t->limbo_spare));
	return t->limbo_spare ? 0 : -ENOMEM;
}

uint64_t tree_defer_free(struct tree *t, void *p, size_t bytes)
{
	uint64_t seq;

	if (!p)
		return 0;
	if (!t->limbo && !(t->limbo = limbo_new(t))) {
		/*
		 * No batch and no reserve: a caller that skipped
		 * tree_limbo_reserve.  Freeing now, even after a grace period,
		 * would pull memory from under a caller that still uses it
		 * (event paths, ACL views), so leak it instead.
		 */
		t->limbo_leaked++;
		log_error("tree: out of memory for deferred frees: leaking %zu bytes (%llu leaked)",
			  bytes, (unsigned long long)t->limbo_leaked);
		return UINT64_MAX;
	}
	seq = t->limbo->seq;
	t->limbo->ptrs[t->limbo->n++] = p;
	t->limbo_bytes += bytes;
	/*
	 * Full: hand it over; the next one comes from malloc or, when that
	 * fails, the reserve.  A flush on bytes waits for tree_limbo_reserve
	 * or tree_reclaim_flush, so one mutation's frees never need two new
	 * batches.
	 */
	if (t->limbo->n == LIMBO_BATCH)
		tree_reclaim_flush(t);
	return seq;
}

/* ---- Hashing and lookup ---- */

static inline uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/*
 * The path hash is SipHash-1-3 (Aumasson and Bernstein's design: an ARX
 * permutation over four 64-bit words, one round per 8-byte word, three
 * to finish) keyed with 128 random bits per process.  The old unkeyed
 * multiply-xor hash was invertible in its last word: a client could make
 * any number of paths with one hash in milliseconds, more than the path
 * index's two buckets hold.  Nothing hashed with it is persisted.
 */
static uint64_t hash_key[2];

__attribute__((constructor)) static void hash_key_init(void)
{
	uint8_t *p = (uint8_t *)hash_key;
	size_t got = 0;

	while (got < sizeof(hash_key)) {
		ssize_t r = getrandom(p + got, sizeof(hash_key) - got, 0);
		if (r > 0) {
			got += (size_t)r;
		} else if (r < 0 && errno != EINTR) {
			break;
		}
	}
	if (got < sizeof(hash_key)) {
		/* No getrandom: the clock and ASLR, weak but unknown to clients. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		hash_key[0] ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec;
		hash_key[1] ^= (uint64_t)(uintptr_t)&got ^ (uint64_t)getpid() << 32 ^
			       (uint64_t)(uintptr_t)hash_key_init;
	}
}

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/*
 * The r < 8 bytes at p as a zero-padded little-endian word, without a
 * call to memcpy: two overlapping 4-byte loads, or up to three bytes.
 */
static inline uint64_t hash_tail(const uint8_t *p, size_t r)
{
	uint32_t lo, hi;

	if (r >= 4) {
		memcpy(&lo, p, 4);
		memcpy(&hi, p + r - 4, 4);
		return (uint64_t)le32toh(lo) | (uint64_t)le32toh(hi) << (8 * (r - 4));
	}
	if (!r)
		return 0;
	return (uint64_t)p[0] | (uint64_t)p[r / 2] << (8 * (r / 2)) |
	       (uint64_t)p[r - 1] << (8 * (r - 1));
}

#define SIP_ROUND(v0, v1, v2, v3)                                                                  \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl64(v1, 13);                                                               \
		v1 ^= v0;                                                                          \
		v0 = rotl64(v0, 32);                                                               \
		v2 += v3;                                                                          \
		v3 = rotl64(v3, 16);                                                               \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl64(v3, 21);                                                               \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl64(v1, 17);                                                               \
		v1 ^= v2;                                                                          \
		v2 = rotl64(v2, 32);                                                               \
	} while (0)

uint64_t tree_hash_path(const char *path, size_t len)
{
	uint64_t k0 = hash_key[0], k1 = hash_key[1];
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&m, path + i, 8);
		m = le64toh(m);
		v3 ^= m;
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	/* The last 0..7 bytes and the length in the top byte (little-endian). */
	m = hash_tail((const uint8_t *)path + i, len - i) | (uint64_t)len << 56;
	v3 ^= m;
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

struct tree_node *tree_find(struct tree *t, const char *path, size_t len)
{
	return pidx_find(&t->nodes, tree_hash_path(path, len), path, len);
}

const struct tree_node *tree_lookup(struct tree *t, const char *path, size_t len)
{
	return tree_find(t, path, len);
}

static int match_session(struct cds_lfht_node *hn, const void *key)
{
	return caa_container_of(hn, struct tree_session, hnode)->id == *(const int64_t *)key;
}

struct tree_session *tree_find_session(struct tree *t, int64_t id)
{
	struct cds_lfht_iter it;

	cds_lfht_lookup(t->sessions, mix64((uint64_t)id), match_session, &id, &it);
	struct cds_lfht_node *hn = cds_lfht_iter_get_node(&it);
	return hn ? caa_container_of(hn, struct tree_session, hnode) : NULL;
}

size_t tree_parent_len(const char *path, size_t len)
{
	const char *slash = memrchr(path, '/', len);

	if (!slash || slash == path)
		return 1;
	return (size_t)(slash - path);
}

/* ---- Node sets (containers, TTL nodes; writer only) ---- */

#define SET_TOMB ((struct tree_node *)1)

static inline uint32_t ptr_slot(const struct tree_node *n, uint32_t cap)
{
	return (uint32_t)mix64((uint64_t)(uintptr_t)n) & (cap - 1);
}

static int set_grow(struct node_set *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : 16;
	struct tree_node **slots;

	if (s->live * 4 < s->cap)
		cap = s->cap; /* mostly tombstones: rehash in place-size */
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->cap; i++) {
		struct tree_node *n = s->slots[i];
		if (!n || n == SET_TOMB)
			continue;
		uint32_t j = ptr_slot(n, cap);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = n;
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	s->used = s->live;
	return 0;
}

static int set_add(struct node_set *s, struct tree_node *n)
{
	if ((s->used + 1) * 2 > s->cap && set_grow(s))
		return -ENOMEM;
	uint32_t i = ptr_slot(n, s->cap);
	while (s->slots[i] && s->slots[i] != SET_TOMB)
		i = (i + 1) & (s->cap - 1);
	if (!s->slots[i])
		s->used++;
	s->slots[i] = n;
	s->live++;
	return 0;
}

static void set_del(struct node_set *s, struct tree_node *n)
{
	if (!s->cap)
		return;
	for (uint32_t i = ptr_slot(n, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1)) {
		if (s->slots[i] == n) {
			s->slots[i] = SET_TOMB;
			s->live--;
			return;
		}
	}
}

/* ---- Stat and digest ---- */

void tree_client_stat(const struct tree_pstat *ps, const struct tree_data *d, struct zk_stat *st)
{
	st->czxid = ps->czxid;
	st->mzxid = ps->mzxid;
	st->ctime = ps->ctime;
	st->mtime = ps->mtime;
	st->version = ps->version;
	/* DataNode.copyStat: count of creates -> count of changes. */
	st->cversion = (int32_t)((uint32_t)ps->cversion * 2 - (uint32_t)ps->num_children);
	st->aversion = ps->aversion;
	st->ephemeral_owner = 0;
	st->data_length = d ? (int32_t)d->len : 0;
	st->num_children = ps->num_children;
	st->pzxid = ps->pzxid;
}

/* The Stat as DigestCalculator feeds it to the CRC (60 bytes). */
#define DIGEST_STAT_LEN 60
/* Path, data and Stat up to this size go to the CRC as one run. */
#define DIGEST_RUN_MAX 512

static inline void be64_at(uint8_t *p, int64_t v)
{
	uint64_t x = __builtin_bswap64((uint64_t)v);

	memcpy(p, &x, sizeof(x));
}

static inline void be32_at(uint8_t *p, int32_t v)
{
	uint32_t x = __builtin_bswap32((uint32_t)v);

	memcpy(p, &x, sizeof(x));
}

/* The Stat bytes of the digest, from a persisted Stat. */
static void digest_pstat(uint8_t *buf, const struct tree_pstat *ps)
{
	be64_at(buf, ps->czxid);
	be64_at(buf + 8, ps->mzxid);
	be64_at(buf + 16, ps->pzxid);
	be64_at(buf + 24, ps->ctime);
	be64_at(buf + 32, ps->mtime);
	be32_at(buf + 40, ps->version);
	be32_at(buf + 44, ps->cversion);
	be32_at(buf + 48, ps->aversion);
	be64_at(buf + 52, ps->ephemeral_owner);
}

/*
 * The same from a node-resident Stat and the node's owner (whole-word
 * byte swaps: with jute_put_be* GCC 12 assembled the owner byte by byte).
 */
static inline __attribute__((always_inline)) void
digest_nstat(uint8_t *buf, const struct tree_node *n, int64_t owner)
{
	const struct tree_node_ext *e = n->ext;

	int64_t czxid = tree_node_czxid(n), ctime = tree_node_ctime(n);

	be64_at(buf, czxid);
	be64_at(buf + 8, e ? e->mzxid : czxid);
	be64_at(buf + 16, e ? e->pzxid : czxid);
	be64_at(buf + 24, ctime);
	be64_at(buf + 32, e ? e->mtime : ctime);
	be32_at(buf + 40, e ? e->version : 0);
	be32_at(buf + 44, e ? e->cversion : 0);
	be32_at(buf + 48, e ? e->aversion : 0);
	be64_at(buf + 52, owner);
}

/* Exactly one of ps and st is given (a constant: each caller gets its own copy). */
static inline __attribute__((always_inline)) void
digest_stat(uint8_t *buf, const struct tree_pstat *ps, const struct tree_node *st, int64_t owner)
{
	if (ps)
		digest_pstat(buf, ps);
	else
		digest_nstat(buf, st, owner);
}

static inline __attribute__((always_inline)) uint32_t
digest_core(const char *path, size_t len, const struct tree_data *d, const struct tree_pstat *ps,
	    const struct tree_node *st, int64_t owner)
{
	static const char sys_prefix[] = "/zookeeper/";
	size_t dlen = d ? d->len : 0;
	uint8_t buf[DIGEST_RUN_MAX];

	if (len >= sizeof(sys_prefix) - 1 && memcmp(path, sys_prefix, sizeof(sys_prefix) - 1) == 0)
		return 0;
	if (len == 1)
		len = 0; /* the root is digested as "" */
	/*
	 * java.util.zip.CRC32 (zlib's crc32, common/crc32.h) of path, data
	 * and Stat.  One run when they fit the buffer: the CRC's fixed cost
	 * is paid once, not three times (a typical znode: about 190 bytes).
	 */
	if (len + dlen <= sizeof(buf) - DIGEST_STAT_LEN) {
		memcpy(buf, path, len);
		if (dlen)
			memcpy(buf + len, d->bytes, dlen);
		digest_stat(buf + len + dlen, ps, st, owner);
		return crc32_ieee(0, buf, len + dlen + DIGEST_STAT_LEN);
	}
	uint32_t crc = crc32_ieee(0, path, len);
	if (d)
		crc = crc32_ieee(crc, d->bytes, d->len);
	digest_stat(buf, ps, st, owner);
	return crc32_ieee(crc, buf, DIGEST_STAT_LEN);
}

uint32_t tree_node_digest(const char *path, size_t len, const struct tree_data *d,
			  const struct tree_pstat *ps)
{
	return digest_core(path, len, d, ps, NULL, 0);
}

static uint32_t node_digest(const char *path, size_t len, const struct tree_data *d,
			    const struct tree_node *st, int64_t owner)
{
	return digest_core(path, len, d, NULL, st, owner);
}

/* Writer only: straight from the node's fields. */
static inline uint32_t digest_of(const struct tree_node *n)
{
	return node_digest(n->path, n->path_len, tree_node_data(n, n->ext), n, tree_node_owner(n));
}

/*
 * ---- Node write side: seq brackets every change readers may see ----
 *
 * Only a node with an ext block changes (node_ext makes it first), so the
 * counter lives there.
 */

/*
 * The writer lock of a node's stripe.  Why a lock at all: a reader of a
 * children list walks it inside the parent's seq bracket, and a list
 * long enough races every change a busy writer makes to the parent (a
 * 20000-child walk retried 27 times while 400000 creates and deletes
 * went by, test_children.c): it could spin for as long as the writer
 * goes on.  The writer therefore holds its node's stripe lock across
 * each bracket (uncontended: one atomic each way, never waited on while
 * readers stay lock-free), and a reader that failed
 * TREE_CHILDREN_RETRIES times takes it for one more walk that cannot
 * fail: with the lock held, no bracket on that node is open (one opened
 * before would hold the lock) and none opens.  The writer waits then,
 * for one walk, on that stripe only; readers never wait on each other
 * (one holder at a time per stripe, for a walk).  The writer never
 * takes a lock inside a bracket, nor blocks (grace periods included)
 * while holding one, so a reader that waits for it online (QSBR) waits
 * for a few stores.
 */
static inline pthread_mutex_t *node_wlock(struct tree *t, const struct tree_node *n)
{
	uintptr_t h = (uintptr_t)n >> 6; /* a hash: the low bits vary little */

	h ^= h >> 11;
	return &t->wlock[h & (TREE_WLOCKS - 1)];
}

static inline void node_write_begin(struct tree *t, struct tree_node *n)
{
	struct tree_node_ext *e = n->ext;
	int rc = pthread_mutex_lock(node_wlock(t, n));

	assert(rc == 0);
	(void)rc;
	assert(e && !(e->seq & 1)); /* brackets never nest */
	CMM_STORE_SHARED(e->seq, e->seq + 1);
	cmm_smp_wmb();
}

static inline void node_write_end(struct tree *t, struct tree_node *n)
{
	struct tree_node_ext *e = n->ext;
	int rc;

	assert(e && (e->seq & 1));
	cmm_smp_wmb();
	CMM_STORE_SHARED(e->seq, e->seq + 1);
	rc = pthread_mutex_unlock(node_wlock(t, n));
	assert(rc == 0);
	(void)rc;
}

/*
 * ---- Reads ----
 *
 * A reader takes e = _rcu_dereference(n->ext) once, and brackets its
 * copy with e's counter; without an ext block (e NULL) nothing it reads
 * can change, so there is no bracket to retry.
 */

static inline uint32_t read_begin(const struct tree_node_ext *e)
{
	uint32_t s;

	if (caa_likely(!e))
		return 0;
	while ((s = CMM_LOAD_SHARED(e->seq)) & 1)
		caa_cpu_relax();
	cmm_smp_rmb();
	return s;
}

static inline bool read_retry(const struct tree_node_ext *e, uint32_t s)
{
	if (caa_likely(!e))
		return false;
	cmm_smp_rmb();
	return CMM_LOAD_SHARED(e->seq) != s;
}

void tree_node_snapshot(const struct tree_node *n, struct tree_pstat *ps, struct tree_data **d,
			uint32_t *acl)
{
	const struct tree_node_ext *e = _rcu_dereference(n->ext);
	uint32_t s;

	do {
		s = read_begin(e);
		tree_node_pstat_ext(n, e, ps);
		*d = tree_node_data(n, e);
		*acl = tree_node_acl_id(n, e);
	} while (read_retry(e, s));
	ps->ephemeral_owner = tree_node_owner(n);
}

static void export_stat(const struct tree_node *n, const struct tree_pstat *ps,
			const struct tree_data *d, struct zk_stat *st)
{
	tree_client_stat(ps, d, st);
	if (n->kind == NODE_EPHEMERAL)
		st->ephemeral_owner = ps->ephemeral_owner;
}

/* The writer's own view of a node's Stat (an op's result), as export_stat. */
static void node_result_stat(const struct tree_node *n, struct zk_stat *st)
{
	const struct tree_node_ext *e = n->ext;
	const struct tree_data *d = tree_node_data(n, e);

	st->czxid = tree_node_czxid(n);
	st->mzxid = tree_ext_mzxid(n, e);
	st->ctime = tree_node_ctime(n);
	st->mtime = tree_ext_mtime(n, e);
	st->version = tree_ext_version(e);
	st->num_children = tree_ext_num_children(e);
	st->cversion = (int32_t)((uint32_t)tree_ext_cversion(e) * 2 - (uint32_t)st->num_children);
	st->aversion = tree_ext_aversion(e);
	st->ephemeral_owner = n->kind == NODE_EPHEMERAL ? tree_node_owner(n) : 0;
	st->data_length = d ? (int32_t)d->len : 0;
	st->pzxid = tree_ext_pzxid(n, e);
}

/*
 * The Stat straight from the node, for getData's two paths: load_stat runs
 * inside the caller's seqlock loop and returns the data it saw;
 * finish_stat derives the rest once the loop has a consistent copy (the
 * owner is immutable).
 */
static inline struct tree_data *load_stat(const struct tree_node *n,
					   const struct tree_node_ext *e, struct zk_stat *st,
					   int32_t *cversion)
{
	int64_t czxid = tree_node_czxid(n);
	int64_t ctime = tree_node_ctime(n);

	st->czxid = czxid;
	st->ctime = ctime;
	if (caa_likely(!e)) {
		st->version = 0;
		st->mzxid = czxid;
		st->mtime = ctime;
		st->pzxid = czxid;
		*cversion = 0;
		st->aversion = 0;
		st->num_children = 0;
	} else {
		st->version = CMM_LOAD_SHARED(e->version);
		st->mzxid = CMM_LOAD_SHARED(e->mzxid);
		st->mtime = CMM_LOAD_SHARED(e->mtime);
		st->pzxid = CMM_LOAD_SHARED(e->pzxid);
		*cversion = CMM_LOAD_SHARED(e->cversion);
		st->aversion = CMM_LOAD_SHARED(e->aversion);
		st->num_children = CMM_LOAD_SHARED(e->num_children);
	}
	return tree_node_data(n, e); /* inline: getData's hot path */
}

static inline void finish_stat(const struct tree_node *n, struct zk_stat *st, int32_t cversion,
			       const struct tree_data *d, struct jute_buf *data)
{
	/* As tree_client_stat (export_stat). */
	st->cversion = (int32_t)((uint32_t)cversion * 2 - (uint32_t)st->num_children);
	st->ephemeral_owner = n->kind == NODE_EPHEMERAL ? tree_node_owner(n) : 0;
	st->data_length = d ? (int32_t)d->len : 0;
	if (data) {
		data->p = d ? d->bytes : NULL;
		data->len = d ? (int32_t)d->len : -1;
	}
}

void tree_node_read(const struct tree_node *n, struct zk_stat *st, struct jute_buf *data)
{
	const struct tree_node_ext *e = _rcu_dereference(n->ext);
	struct zk_stat tmp;
	struct tree_data *d;
	int32_t cversion;
	uint32_t s;

	if (!st)
		st = &tmp;
	/* As tree_node_read_check. */
	do {
		s = read_begin(e);
		d = load_stat(n, e, st, &cversion);
	} while (read_retry(e, s));
	finish_stat(n, st, cversion, d, data);
}

void tree_node_acl(struct tree *t, const struct tree_node *n, struct zk_stat *st,
		   struct jute_acl_list *acl)
{
	const struct tree_node_ext *e = _rcu_dereference(n->ext);
	struct tree_pstat ps;
	struct tree_data *d;
	uint32_t s;

	do {
		s = read_begin(e);
		tree_node_pstat_ext(n, e, &ps);
		d = tree_node_data(n, e);
		*acl = acl_table_get(t, tree_node_acl_id(n, e));
	} while (read_retry(e, s));
	ps.ephemeral_owner = tree_node_owner(n);
	if (st)
		export_stat(n, &ps, d, st);
}

enum zk_err tree_node_read_check(struct tree *t, const struct tree_node *n, int32_t perm,
				 const struct tree_auth *auth, struct zk_stat *st,
				 struct jute_buf *data)
{
	const struct tree_node_ext *e = _rcu_dereference(n->ext);
	struct jute_acl_list acl;
	struct tree_data *d;
	int32_t world, cversion;
	uint32_t s;

	assert(st);
	/*
	 * The Stat straight from the node (no tree_pstat in between: this is
	 * every getData's).  The ACL entry is taken inside the loop: a setACL
	 * may free its id.
	 */
	do {
		s = read_begin(e);
		d = load_stat(n, e, st, &cversion);
		acl = acl_table_get_world(t, tree_node_acl_id(n, e), &world);
	} while (read_retry(e, s));
	finish_stat(n, st, cversion, d, data);
	if (world & perm)
		return ZK_OK;
	return tree_acl_check(&acl, perm, auth);
}

struct jute_buf tree_node_path(const struct tree_node *n)
{
	return (struct jute_buf){ (const uint8_t *)n->path, (int32_t)n->path_len };
}

struct jute_buf tree_node_name(const struct tree_node *n)
{
	/* The path is immutable; "/" has the empty name, as ZooKeeper's root. */
	const char *slash = memrchr(n->path, '/', n->path_len);
	uint32_t off = (uint32_t)(slash - n->path) + 1;

	assert(slash);
	return (struct jute_buf){ (const uint8_t *)n->path + off, (int32_t)(n->path_len - off) };
}

static int children_reserve(struct tree_children *c, uint32_t want)
{
	if (want <= c->cap)
		return 0;
	uint32_t cap = c->cap ? c->cap : 16;
	while (cap < want)
		cap *= 2;
	struct jute_buf *names = realloc(c->names, cap * sizeof(*names));
	if (!names)
		return -ENOMEM;
	c->names = names;
	c->cap = cap;
	return 0;
}

void (*tree_children_test_hook)(struct tree *t, const struct tree_node *n);

int tree_node_children(struct tree *t, const struct tree_node *n, struct tree_children *out,
		       struct zk_stat *st)
{
	const struct tree_node_ext *e = _rcu_dereference(n->ext);
	pthread_mutex_t *lock = NULL;
	struct tree_pstat ps;
	struct tree_data *d;
	struct tree_node *c;
	uint32_t s;
	int rc = 0;

	/*
	 * Lock-free first; after TREE_CHILDREN_RETRIES walks that raced a
	 * change, one walk under the node's writer lock (node_wlock says
	 * why), which no change can race.
	 */
	for (out->retries = 0;; out->retries++) {
		if (out->retries == TREE_CHILDREN_RETRIES) {
			int lrc;

			lock = node_wlock(t, n);
			lrc = pthread_mutex_lock(lock);
			assert(lrc == 0);
			(void)lrc;
		}
		s = read_begin(e);
		tree_node_pstat_ext(n, e, &ps);
		d = tree_node_data(n, e);
		out->count = 0;
		if (n->kind != NODE_EPHEMERAL) {
			if (children_reserve(out, (uint32_t)ps.num_children + 1)) {
				rc = -ENOMEM;
				break;
			}
			for (c = tree_ext_child(e); c; c = rcu_dereference(c->next)) {
				if (out->count == out->cap)
					break; /* raced with an add: retried below */
				out->names[out->count++] = tree_node_name(c);
			}
		}
		if (!lock && tree_children_test_hook)
			tree_children_test_hook(t, n);
		if (!read_retry(e, s))
			break;
		assert(!lock); /* nothing changes a node whose lock we hold */
	}
	assert(out->retries <= TREE_CHILDREN_RETRIES);
	if (lock) {
		int urc = pthread_mutex_unlock(lock);

		assert(urc == 0);
		(void)urc;
	}
	if (rc)
		return rc;
	assert(n->kind == NODE_EPHEMERAL || out->count == (uint32_t)ps.num_children);
	ps.ephemeral_owner = tree_node_owner(n);
	if (st)
		export_stat(n, &ps, d, st);
	return 0;
}

void tree_children_release(struct tree_children *c)
{
	free(c->names);
	c->names = NULL;
	c->count = c->cap = 0;
}

int64_t tree_count_descendants(const struct tree_node *n)
{
	/* Iterative: paths may be deeper than any stack. */
	const struct tree_node **stack = NULL;
	size_t depth = 0, cap = 0;
	int64_t count = 0;
	struct tree_node *c;

	if (n->kind == NODE_EPHEMERAL)
		return 0;
	for (;;) {
		for (c = tree_node_child(n); c; c = rcu_dereference(c->next)) {
			count++;
			if (c->kind == NODE_EPHEMERAL)
				continue;
			if (depth == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				const struct tree_node **ns = realloc(stack, ncap * sizeof(*ns));
				if (!ns) {
					free(stack);
					return -ENOMEM;
				}
				stack = ns;
				cap = ncap;
			}
			stack[depth++] = c;
		}
		if (!depth)
			break;
		n = stack[--depth];
	}
	free(stack);
	return count;
}

int64_t tree_approximate_data_size(const struct tree *t)
{
	return CMM_LOAD_SHARED(t->data_size);
}

static inline int64_t node_size(const struct tree_node *n)
{
	const struct tree_data *d = tree_node_data(n, n->ext);

	return (int64_t)n->path_len + (d ? d->len : 0);
}

uint64_t tree_node_count(const struct tree *t)
{
	return CMM_LOAD_SHARED(t->node_count);
}

int64_t tree_applying_zxid(const struct tree *t)
{
	cmm_smp_rmb();
	return CMM_LOAD_SHARED(t->applying_zxid);
}

int64_t tree_acl_zxid(const struct tree *t)
{
	cmm_smp_rmb();
	return CMM_LOAD_SHARED(t->acl_zxid);
}

int64_t tree_last_zxid(const struct tree *t)
{
	return CMM_LOAD_SHARED(t->last_zxid);
}

void tree_set_last_zxid(struct tree *t, int64_t zxid)
{
	/* Everything the txn changed is visible before its zxid is. */
	cmm_smp_wmb();
	if (zxid > t->last_zxid)
		CMM_STORE_SHARED(t->last_zxid, zxid);
	if (zxid > t->applying_zxid)
		CMM_STORE_SHARED(t->applying_zxid, zxid); /* loaded trees */
}

uint64_t tree_digest(const struct tree *t)
{
	return CMM_LOAD_SHARED(t->digest);
}

/*
 * DataTree.logZxidDigest (writer only).  The ring is allocated on first
 * use; out of memory, the history is simply not kept (it is diagnostic).
 */
static void log_digest(struct tree *t, int64_t zxid)
{
	struct tree_digest_ring *g = t->digest_log;
	uint64_t h;

	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			return;
		__atomic_store_n(&t->digest_log, g, __ATOMIC_RELEASE);
	}
	h = g->head;
	size_t i = h % TREE_DIGEST_LOG_LIMIT;

	assert(!(g->e[i].seq & 1));
	__atomic_store_n(&g->e[i].seq, g->e[i].seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&g->e[i].zxid, zxid, __ATOMIC_RELAXED);
	__atomic_store_n(&g->e[i].digest, t->digest, __ATOMIC_RELAXED);
	__atomic_store_n(&g->e[i].seq, g->e[i].seq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&g->head, h + 1, __ATOMIC_RELEASE);
}

size_t tree_digest_log(const struct tree *t, struct tree_zxid_digest *out, size_t max)
{
	const struct tree_digest_ring *g = __atomic_load_n(&t->digest_log, __ATOMIC_ACQUIRE);
	uint64_t head, from;
	size_t n = 0;

	if (!g)
		return 0;
	head = __atomic_load_n(&g->head, __ATOMIC_ACQUIRE);
	from = head > TREE_DIGEST_LOG_LIMIT ? head - TREE_DIGEST_LOG_LIMIT : 0;
	for (uint64_t k = from; k < head && n < max; k++) {
		size_t i = k % TREE_DIGEST_LOG_LIMIT;
		uint64_t s1 = __atomic_load_n(&g->e[i].seq, __ATOMIC_ACQUIRE);
		struct tree_zxid_digest d = {__atomic_load_n(&g->e[i].zxid, __ATOMIC_RELAXED),
					     __atomic_load_n(&g->e[i].digest, __ATOMIC_RELAXED)};

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		/* Entry k was written by the (k / LIMIT + 1)-th pass: seq 2 * that. */
		if (s1 & 1 || s1 != 2 * (k / TREE_DIGEST_LOG_LIMIT + 1) ||
		    __atomic_load_n(&g->e[i].seq, __ATOMIC_RELAXED) != s1)
			continue;
		out[n++] = d;
	}
	return n;
}

static inline void digest_add(struct tree *t, uint32_t d)
{
	CMM_STORE_SHARED(t->digest, t->digest + d);
}

static inline void digest_sub(struct tree *t, uint32_t d)
{
	CMM_STORE_SHARED(t->digest, t->digest - d);
}

int tree_session_ephemerals(struct tree *t, int64_t session, const char *prefix, size_t prefix_len,
			    int (*fn)(void *arg, const struct tree_node *n), void *arg)
{
	struct tree_session *s = tree_find_session(t, session);
	struct tree_node *n;
	int rc;

	if (!s)
		return 0;
	if (prefix_len == 1 && prefix[0] == '/')
		prefix_len = 0;
	tree_for_each_eph(n, &s->ephemerals) {
		if (n->path_len < prefix_len || memcmp(n->path, prefix, prefix_len) != 0)
			continue;
		rc = fn(arg, n);
		if (rc)
			return rc;
	}
	return 0;
}

uint32_t tree_session_ephemeral_count(struct tree *t, int64_t session)
{
	struct tree_session *s = tree_find_session(t, session);

	return s ? CMM_LOAD_SHARED(s->neph) : 0;
}

int32_t tree_session_timeout(struct tree *t, int64_t session)
{
	struct tree_session *s = tree_find_session(t, session);

	return s ? CMM_LOAD_SHARED(s->timeout) : -1;
}

void tree_sessions_foreach(struct tree *t, void (*fn)(void *arg, int64_t session, int32_t timeout),
			   void *arg)
{
	struct cds_lfht_iter it;
	struct tree_session *s;

	cds_lfht_for_each_entry(t->sessions, &it, s, hnode) {
		int32_t timeout = CMM_LOAD_SHARED(s->timeout);
		if (timeout >= 0)
			fn(arg, s->id, timeout);
	}
}

void tree_ephemeral_sessions_foreach(struct tree *t, void (*fn)(void *arg, int64_t session),
				     void *arg)
{
	struct cds_lfht_iter it;
	struct tree_session *s;

	cds_lfht_for_each_entry(t->sessions, &it, s, hnode) {
		if (CMM_LOAD_SHARED(s->had_ephemerals))
			fn(arg, s->id);
	}
}

/* ContainerManager.getCandidates() over the writer's own sets. */
uint32_t tree_expired_nodes(struct tree *t, int64_t now_ms, int64_t max_never_used_ms,
			    void (*fn)(void *arg, struct jute_buf path), void *arg)
{
	uint32_t found = 0;

	for (uint32_t i = 0; i < t->containers.cap; i++) {
		struct tree_node *n = t->containers.slots[i];
		if (!n || n == SET_TOMB || tree_ext_num_children(n->ext) > 0)
			continue;
		if (tree_ext_cversion(n->ext) > 0 ||
		    (max_never_used_ms > 0 && now_ms - tree_ext_mtime(n, n->ext) > max_never_used_ms)) {
			fn(arg, tree_node_path(n));
			found++;
		}
	}
	for (uint32_t i = 0; i < t->ttls.cap; i++) {
		struct tree_node *n = t->ttls.slots[i];
		if (!n || n == SET_TOMB || tree_ext_num_children(n->ext) > 0)
			continue;
		int64_t ttl = tree_node_owner(n) & TREE_TTL_MAX;
		if (ttl != 0 && now_ms - tree_ext_mtime(n, n->ext) > ttl) {
			fn(arg, tree_node_path(n));
			found++;
		}
	}
	return found;
}

/* ---- Sessions (writer) ---- */

static struct tree_session *session_get(struct tree *t, int64_t id, bool create)
{
	struct tree_session *s = tree_find_session(t, id);

	if (s || !create)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->timeout = -1;
	CDS_INIT_LIST_HEAD(&s->ephemerals);
	cds_lfht_node_init(&s->hnode);
	cds_lfht_add(t->sessions, mix64((uint64_t)id), &s->hnode);
	return s;
}

int tree_session_open(struct tree *t, int64_t id, int32_t timeout)
{
	struct tree_session *s = session_get(t, id, true);

	if (!s)
		return -ENOMEM;
	CMM_STORE_SHARED(s->timeout, timeout);
	return 0;
}

static void session_drop(struct tree *t, struct tree_session *s)
{
	cds_lfht_del(t->sessions, &s->hnode);
	tree_defer_free(t, s, sizeof(*s));
}

/* ---- Node creation and removal (writer) ---- */

static struct tree_data *data_new(struct jute_buf data)
{
	struct tree_data *d;

	if (data.len < 0)
		return NULL;
	d = malloc(sizeof(*d) + (size_t)data.len);
	if (!d)
		return NULL;
	d->len = (uint32_t)data.len;
	if (data.len)
		memcpy(d->bytes, data.p, (size_t)data.len);
	return d;
}

static inline size_t data_size(const struct tree_data *d)
{
	return d ? sizeof(*d) + d->len : 0;
}

/* The node's inline data offset, from the header (as tree_node_inline_data). */
static inline size_t inline_off(size_t len)
{
	return (offsetof(struct tree_node, path) + len + 1 + 3) & ~(size_t)3;
}

/* What node_alloc asked for (the node's own part). */
static inline size_t node_alloc_size(const struct tree_node *n)
{
	size_t sz = tree_node_prefix_all(n) + offsetof(struct tree_node, path) + n->path_len + 1;

	if (n->data_inline)
		sz = tree_node_prefix_all(n) + inline_off(n->path_len) + sizeof(struct tree_data) +
		     tree_node_inline_data(n)->len;
	return sz;
}

/* Node memory: nslab.c up to NSLAB_MAX bytes, malloc above. */
static void *node_mem_alloc(size_t size)
{
	return size <= NSLAB_MAX ? nslab_alloc(size) : malloc(size);
}

/* Frees a node's allocation now (nobody can reach it any more). */
static void node_mem_free(struct tree_node *n)
{
	if (node_alloc_size(n) <= NSLAB_MAX)
		nslab_free(tree_node_base(n));
	else
		free(tree_node_base(n));
}

/* Frees a node's allocation after a grace period (tree_defer_free). */
static void node_mem_defer_free(struct tree *t, struct tree_node *n)
{
	size_t size = node_alloc_size(n);

	if (size <= NSLAB_MAX)
		tree_defer_free(t, (void *)((uintptr_t)tree_node_base(n) | LIMBO_NSLAB),
				nslab_size(size));
	else
		tree_defer_free(t, tree_node_base(n), size);
}

/*
 * Makes an unlinked node: path, kind and owner (from owner, honouring
 * extended types), data (len -1: null; up to TREE_DATA_INLINE_MAX bytes
 * in the same allocation, else a block of its own that an ext block,
 * made now with zero Stat fields, points at: the caller sets them), czxid
 * and ctime (immutable: a stamp, or in full before the prefix when the
 * stamp table is full), version 0, seq 0.  Returns NULL on allocation
 * failure or a path above TREE_PATH_MAX.
 */
static struct tree_node *node_alloc(struct tree *t, const char *path, size_t len, int64_t owner,
				    struct jute_buf data, int64_t czxid, int64_t ctime)
{
	enum node_kind kind = tree_owner_kind(t, owner);
	uint64_t stamp = stamp_encode(czxid, ctime);
	size_t prefix = tree_node_prefix(kind) +
			(stamp_is_wide(stamp) ? sizeof(struct tree_node_wide) : 0);
	size_t plain = offsetof(struct tree_node, path) + len + 1;
	size_t with_data = inline_off(len) + sizeof(struct tree_data) + (size_t)data.len;
	/* Inline when it fits the bound: one exact-size region is never more than two blocks. */
	bool inl = data.len >= 0 && data.len <= TREE_DATA_INLINE_MAX;
	size_t size = inl ? with_data : plain;
	struct tree_node_ext *e = NULL;
	struct tree_node *n;
	char *base;

	if (len > TREE_PATH_MAX)
		return NULL;
	if (data.len > TREE_DATA_INLINE_MAX) {
		e = malloc(sizeof(*e));
		if (!e)
			return NULL;
		*e = (struct tree_node_ext){0};
		if (!(e->data = data_new(data))) {
			free(e);
			return NULL;
		}
	}
	base = node_mem_alloc(prefix + size);
	if (!base) {
		if (e)
			free(e->data);
		free(e);
		return NULL;
	}
	n = (struct tree_node *)(base + prefix);
	if (kind == NODE_EPHEMERAL || kind == NODE_TTL) /* tree_node_owner */
		memcpy((char *)n - tree_node_prefix(kind), &owner, sizeof(owner));
	if (stamp_is_wide(stamp)) /* tree_node_wide */
		memcpy(base, &(struct tree_node_wide){.czxid = czxid, .ctime = ctime},
		       sizeof(struct tree_node_wide));
	/* Every header field, once (no memset: this is every create's and load's). */
	n->next = n->prev = NULL;
	n->ext = e;
	n->stamp = stamp;
	n->acl = 0;
	n->path_len = (uint32_t)len;
	n->kind = kind;
	n->data_inline = inl;
	memcpy(n->path, path, len);
	n->path[len] = '\0';
	if (inl) {
		struct tree_data *d = tree_node_inline_data(n);

		assert((char *)d->bytes + data.len == base + prefix + size);
		d->len = (uint32_t)data.len;
		if (data.len)
			memcpy(d->bytes, data.p, (size_t)data.len);
	}
	return n;
}

/*
 * n's ext block, made with the defaults and published first if n has none
 * (writer; no reader-visible change, so outside any write bracket).
 * Returns NULL on allocation failure (nothing changed).
 */
static struct tree_node_ext *node_ext(struct tree_node *n)
{
	struct tree_node_ext *e = n->ext;

	if (e)
		return e;
	e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	*e = (struct tree_node_ext){.data = tree_node_data(n, NULL),
				    .pzxid = tree_node_czxid(n),
				    .mzxid = tree_node_czxid(n),
				    .mtime = tree_node_ctime(n),
				    .acl = n->acl};
	rcu_assign_pointer(n->ext, e);
	return e;
}

/* Sets the ACL id of a node no reader has seen (its ext block's too, if any). */
static void node_set_acl_unpublished(struct tree_node *n, uint32_t acl)
{
	n->acl = acl;
	if (n->ext)
		n->ext->acl = acl;
}

/* Frees a node that no reader can reach (never linked, or after a grace period). */
static void node_free_now(struct tree_node *n)
{
	struct tree_data *d = tree_node_data(n, n->ext);

	if (!tree_node_data_is_inline(n, d))
		free(d);
	free(n->ext);
	node_mem_free(n);
}

/* Frees a node's data block after a grace period (the inline copy goes with the node). */
static void data_defer_free(struct tree *t, struct tree_node *n, struct tree_data *d)
{
	if (!tree_node_data_is_inline(n, d))
		tree_defer_free(t, d, data_size(d));
}

/*
 * Appends n to parent's children (writer, inside parent's write bracket
 * when readers may see parent): n is filled before one store publishes it.
 */
static void child_append(struct tree_node *parent, struct tree_node *n)
{
	struct tree_node_ext *pe = parent->ext;
	struct tree_node *first = pe->child;

	assert(parent->kind != NODE_EPHEMERAL);
	n->next = NULL;
	if (!first) {
		n->prev = n;
		rcu_assign_pointer(pe->child, n);
		return;
	}
	n->prev = first->prev;
	rcu_assign_pointer(first->prev->next, n);
	first->prev = n;
}

/* Unlinks n from parent's children; n keeps its next for readers on it. */
static void child_unlink(struct tree_node *parent, struct tree_node *n)
{
	struct tree_node_ext *pe = parent->ext;
	struct tree_node *first = pe->child, *next = n->next;

	assert(first);
	if (n == first) {
		rcu_assign_pointer(pe->child, next);
		if (next)
			next->prev = n->prev; /* the last */
		return;
	}
	rcu_assign_pointer(n->prev->next, next);
	if (next)
		next->prev = n->prev;
	else
		first->prev = n->prev; /* n was the last */
}

/*
 * Links a fully initialised node under its parent and into the indexes
 * (the path index too when index is true: bulk loads add it later, see
 * tree_load_index).  The parent's stat changes are the caller's (inside
 * its write bracket).
 */
static int node_link(struct tree *t, struct tree_node *parent, struct tree_node *n, bool index)
{
	struct tree_session *s = NULL;
	struct node_set *set = NULL;

	/* What can fail first, publishing nothing: the session, the writer's sets, the index. */
	switch (n->kind) {
	case NODE_EPHEMERAL:
		if (!(s = session_get(t, tree_node_owner(n), true)))
			return -ENOMEM;
		break;
	case NODE_CONTAINER:
		set = &t->containers;
		break;
	case NODE_TTL:
		set = &t->ttls;
		break;
	default:
		break;
	}
	if (set && set_add(set, n))
		goto fail;
	if (index && pidx_add(&t->nodes, tree_hash_path(n->path, n->path_len), n)) {
		if (set)
			set_del(set, n);
		goto fail;
	}
	if (s) {
		cds_list_add_tail_rcu(tree_node_eph(n), &s->ephemerals);
		CMM_STORE_SHARED(s->neph, s->neph + 1); /* read by tree_session_ephemeral_count */
		CMM_STORE_SHARED(s->had_ephemerals, true);
	}
	if (parent)
		child_append(parent, n);
	CMM_STORE_SHARED(t->node_count, t->node_count + 1);
	CMM_STORE_SHARED(t->data_size, t->data_size + node_size(n));
	digest_add(t, digest_of(n));
	return 0;
fail:
	/* A holder session_get made for n alone goes again (as node_unlink's). */
	if (s && s->neph == 0 && s->timeout < 0)
		session_drop(t, s);
	return -ENOMEM;
}

static void node_unlink(struct tree *t, struct tree_node *n)
{
	struct tree_session *s;

	switch (n->kind) {
	case NODE_EPHEMERAL:
		cds_list_del_rcu(tree_node_eph(n));
		s = tree_find_session(t, tree_node_owner(n));
		if (s)
			CMM_STORE_SHARED(s->neph, s->neph - 1);
		if (s && s->neph == 0 && s->timeout < 0)
			session_drop(t, s);
		break;
	case NODE_CONTAINER:
		set_del(&t->containers, n);
		break;
	case NODE_TTL:
		set_del(&t->ttls, n);
		break;
	default:
		break;
	}
	pidx_del(&t->nodes, tree_hash_path(n->path, n->path_len), n);
	CMM_STORE_SHARED(t->node_count, t->node_count - 1);
	CMM_STORE_SHARED(t->data_size, t->data_size - node_size(n));
	digest_sub(t, digest_of(n));
	acl_table_unref(t, tree_node_acl_id(n, n->ext));
	data_defer_free(t, n, tree_node_data(n, n->ext));
	if (n->ext)
		tree_defer_free(t, n->ext, sizeof(*n->ext));
	node_mem_defer_free(t, n);
}

/* True when a persisted Stat needs an ext block (a value other than the default). */
static inline bool ext_needed(const struct tree_pstat *ps)
{
	return ps->pzxid != ps->czxid || ps->mzxid != ps->czxid || ps->mtime != ps->ctime ||
	       ps->version || ps->cversion || ps->aversion;
}

/* Sets a loaded node's persisted Stat (numChildren counted as children come). */
/*
 * Sets the persisted Stat (numChildren kept) of a node no reader has seen,
 * making its ext block when a value is not the default.  Returns 0 or
 * -ENOMEM (nothing changed).
 */
static inline int set_loaded_stat(struct tree_node *n, const struct tree_pstat *ps)
{
	struct tree_node_ext *e = n->ext;

	if (!e && ext_needed(ps)) {
		e = malloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
		*e = (struct tree_node_ext){.data = tree_node_data(n, NULL), .acl = n->acl};
		n->ext = e;
	}
	/* czxid and ctime: node_alloc's, from ps. */
	if (e) {
		e->version = ps->version;
		e->pzxid = ps->pzxid;
		e->mzxid = ps->mzxid;
		e->mtime = ps->mtime;
		e->cversion = ps->cversion;
		e->aversion = ps->aversion;
	}
	return 0;
}

/* A snapshot's or import's path longer than any client may create is damage. */
static int check_loaded_path(size_t len)
{
	if (len <= TREE_PATH_MAX)
		return 0;
	log_error("tree: refusing to load a path of %zu bytes (at most %u)", len, TREE_PATH_MAX);
	return -EBADMSG;
}

/*
 * Allocates a loaded node under parent (NULL for the root) and links it,
 * indexed now or later by tree_load_index; counts it in the parent.
 */
static int link_loaded(struct tree *t, struct tree_node *parent, const char *path, size_t len,
		       const struct tree_pstat *ps, struct jute_buf data, uint32_t acl, bool index,
		       struct tree_node **out)
{
	struct tree_node *n;

	assert(len <= TREE_PATH_MAX);
	if (parent && !node_ext(parent))
		return -ENOMEM;
	n = node_alloc(t, path, len, ps->ephemeral_owner, data, ps->czxid, ps->ctime);
	if (!n)
		return -ENOMEM;
	if (set_loaded_stat(n, ps)) {
		node_free_now(n);
		return -ENOMEM;
	}
	node_set_acl_unpublished(n, acl);
	/* numChildren is not part of the digest. */
	if (node_link(t, parent, n, index)) {
		node_free_now(n);
		return -ENOMEM;
	}
	if (parent)
		parent->ext->num_children++;
	if (out)
		*out = n;
	return 0;
}

int tree_insert_loaded(struct tree *t, const char *path, size_t len, const struct tree_pstat *ps,
		       struct jute_buf data, uint32_t acl)
{
	struct tree_node *parent = NULL;

	if (check_loaded_path(len))
		return -EBADMSG;
	if (tree_find(t, path, len))
		return -EEXIST;
	if (len > 1) {
		parent = tree_find(t, path, tree_parent_len(path, len));
		if (!parent || parent->kind == NODE_EPHEMERAL)
			return -ENOENT;
	}
	return link_loaded(t, parent, path, len, ps, data, acl, true, NULL);
}

int tree_replace_loaded(struct tree *t, struct tree_node *n, const struct tree_pstat *ps,
			struct jute_buf data, uint32_t acl)
{
	struct tree_data *nd = NULL, *old = tree_node_data(n, n->ext);
	uint32_t old_acl = tree_node_acl_id(n, n->ext);
	bool wide = stamp_is_wide(n->stamp);
	uint64_t stamp = n->stamp;

	if (tree_owner_kind(t, ps->ephemeral_owner) != n->kind ||
	    tree_node_owner(n) != ps->ephemeral_owner)
		return -EINVAL;
	/*
	 * czxid and ctime too (set_loaded_stat leaves them to node_alloc): a
	 * new stamp, or the wide prefix rewritten.  A narrow node cannot grow
	 * the prefix in place, so a full table is -ENOMEM like any other.
	 */
	if (!wide && stamp_is_wide(stamp = stamp_encode(ps->czxid, ps->ctime)))
		return -ENOMEM;
	if (data.len >= 0 && !(nd = data_new(data)))
		return -ENOMEM;
	/* The ext block (it holds replaced data) first, so that nothing changes without it. */
	if (!node_ext(n)) {
		free(nd);
		return -ENOMEM;
	}
	digest_sub(t, digest_of(n));
	if (wide)
		*(struct tree_node_wide *)tree_node_wide(n) =
		    (struct tree_node_wide){.czxid = ps->czxid, .ctime = ps->ctime};
	else
		n->stamp = stamp;
	/* Cannot fail now: the ext block, if needed, exists. */
	(void)set_loaded_stat(n, ps);
	t->data_size += (int64_t)(nd ? nd->len : 0) - (old ? old->len : 0);
	n->ext->data = nd;
	n->ext->acl = acl;
	digest_add(t, digest_of(n));
	acl_table_unref(t, old_acl);
	/* Unpublished tree: no reader can hold it.  The inline copy goes with the node. */
	if (!tree_node_data_is_inline(n, old))
		free(old);
	return 0;
}

/* ---- Bulk load (snapshot.c) ---- */

void tree_index_reserve(struct tree *t, uint64_t nodes)
{
	/* On -ENOMEM the adds grow it or fail (tree_load_index). */
	(void)pidx_reserve(&t->nodes, nodes);
}

int tree_load_node(struct tree *t, struct tree_node *parent, const char *path, size_t len,
		   const struct tree_pstat *ps, struct jute_buf data, uint32_t acl,
		   struct tree_node **out)
{
	assert(parent && parent->kind != NODE_EPHEMERAL && len > 1);
	if (check_loaded_path(len))
		return -EBADMSG;
	return link_loaded(t, parent, path, len, ps, data, acl, false, out);
}

/*
 * The path index finds a path's first bucket as hash & (buckets - 1).
 * Adding nodes in random order makes every add a cold miss on the slot
 * array (8 MB at 1M nodes, a TLB miss too): sorted by bucket, adds walk
 * it in order.  Sorting on the top 12 bits of the bucket number is
 * enough: a group spans at most 16 KiB of slots.  The node lines (the
 * duplicate check reads a path on a tag match) are prefetched.
 */
#define PREFETCH_AHEAD 8

/* One digit (SORT_DIGIT bits) of an entry's sort key: its bucket's top bits. */
#define SORT_DIGIT 6

struct sort_digit {
	uint64_t mask; /* buckets - 1 */
	unsigned shift;
};

static inline uint32_t digit_of(const struct tree_load_ent *e, struct sort_digit d)
{
	return (uint32_t)((e->hash & d.mask) >> d.shift) & ((1u << SORT_DIGIT) - 1);
}

/*
 * One in-place counting-sort pass (American flag) on digit d; bounds[g]
 * is where group g starts afterwards (bounds[NGROUPS] = n).
 */
static void sort_pass(struct tree_load_ent *ents, size_t n, struct sort_digit d,
		      uint32_t bounds[(1u << SORT_DIGIT) + 1])
{
	enum { NGROUPS = 1u << SORT_DIGIT };
	size_t end[NGROUPS] = {0}, next[NGROUPS];
	size_t sum = 0;

	for (size_t i = 0; i < n; i++)
		end[digit_of(&ents[i], d)]++;
	for (uint32_t g = 0; g < NGROUPS; g++) {
		bounds[g] = (uint32_t)sum;
		next[g] = sum;
		sum += end[g];
		end[g] = sum;
	}
	bounds[NGROUPS] = (uint32_t)sum;
	for (uint32_t g = 0; g < NGROUPS; g++) {
		while (next[g] < end[g]) {
			struct tree_load_ent e = ents[next[g]];
			uint32_t k = digit_of(&e, d);
			while (k != g) {
				struct tree_load_ent x = ents[next[k]];
				ents[next[k]++] = e;
				e = x;
				k = digit_of(&e, d);
			}
			ents[next[g]++] = e;
		}
	}
}

int tree_load_index(struct tree *t, struct tree_load_ent *ents, size_t n, size_t *dup)
{
	enum { NGROUPS = 1u << SORT_DIGIT };
	uint32_t outer[NGROUPS + 1], inner[NGROUPS + 1];
	unsigned bits = 0;
	int rc;

	assert(n <= UINT32_MAX);
	*dup = 0;
	if ((rc = pidx_reserve(&t->nodes, t->nodes.count + n)))
		return rc;
	uint64_t buckets = pidx_slots(&t->nodes) / 8;
	while ((1ull << bits) < buckets)
		bits++;
	/* First pass on the top SORT_DIGIT bits of the bucket number, second on the next. */
	struct sort_digit hi = {buckets - 1, bits > SORT_DIGIT ? bits - SORT_DIGIT : 0};
	struct sort_digit lo = {buckets - 1, bits > 2 * SORT_DIGIT ? bits - 2 * SORT_DIGIT : 0};
	sort_pass(ents, n, hi, outer);
	if (bits > SORT_DIGIT)
		for (uint32_t g = 0; g < NGROUPS; g++)
			sort_pass(ents + outer[g], outer[g + 1] - outer[g], lo, inner);
	for (size_t i = 0; i < n; i++) {
		struct tree_node *nd = ents[i].node;

		if (i + PREFETCH_AHEAD < n)
			__builtin_prefetch(ents[i + PREFETCH_AHEAD].node);
		if (pidx_add_unique(&t->nodes, ents[i].hash, nd, &rc) || rc) {
			*dup = i;
			return rc ? rc : -EEXIST;
		}
	}
	return 0;
}

void tree_load_discard(struct tree_load_ent *ents, size_t n)
{
	for (size_t i = 0; i < n; i++)
		node_free_now(ents[i].node);
}

/* ---- Apply ---- */

/*
 * Event space is reserved before a mutation starts, so a mutation never
 * fails half-way for want of memory.
 */
static int out_reserve_events(struct tree_apply_out *out, uint32_t n)
{
	if (out->events_cap - out->nevents >= n)
		return 0;
	uint32_t cap = out->events_cap ? out->events_cap : 8;
	while (cap - out->nevents < n)
		cap *= 2;
	struct tree_event *ev = realloc(out->events, cap * sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	out->events = ev;
	out->events_cap = cap;
	return 0;
}

static void out_event(struct tree_apply_out *out, int32_t type, const char *path, size_t len)
{
	out->events[out->nevents++] = (struct tree_event){
		type, { (const uint8_t *)path, (int32_t)len }, { NULL, 0, 0 } };
}

static struct tree_op_result *out_result(struct tree_apply_out *out)
{
	if (out->nresults == out->results_cap) {
		uint32_t cap = out->results_cap ? out->results_cap * 2 : 4;
		struct tree_op_result *r = realloc(out->results, cap * sizeof(*r));
		if (!r)
			return NULL;
		out->results = r;
		out->results_cap = cap;
	}
	struct tree_op_result *r = &out->results[out->nresults++];
	memset(r, 0, sizeof(*r));
	return r;
}

void tree_apply_out_release(struct tree_apply_out *out)
{
	free(out->results);
	free(out->events);
	memset(out, 0, sizeof(*out));
}

/*
 * Raises parent cversion/pzxid as DataTree.createNode / setCversionPzxid
 * do; the caller made the parent's ext block (node_ext).
 */
static void parent_bump_cversion(struct tree *t, struct tree_node *parent, int32_t parent_cversion,
				 int64_t zxid, int children_delta, struct tree_node *child)
{
	struct tree_node_ext *pe = parent->ext;

	assert(pe);
	digest_sub(t, digest_of(parent));
	node_write_begin(t, parent);
	if (parent_cversion == -1)
		parent_cversion = pe->cversion + 1;
	if (parent_cversion > pe->cversion) {
		CMM_STORE_SHARED(pe->cversion, parent_cversion);
		CMM_STORE_SHARED(pe->pzxid, zxid);
	}
	if (child)
		child_append(parent, child);
	CMM_STORE_SHARED(pe->num_children, pe->num_children + children_delta);
	node_write_end(t, parent);
	digest_add(t, digest_of(parent));
}

/*
 * The parent of an op's path, as DataTree finds it before a create or a
 * delete; NULL with r->err set when the path is malformed or has no parent.
 */
static struct tree_node *op_parent(struct tree *t, const char *path, size_t len, size_t *plen,
				   struct tree_op_result *r)
{
	struct tree_node *parent;

	if (len < 2 || path[0] != '/') {
		r->err = ZK_BADARGUMENTS;
		return NULL;
	}
	*plen = tree_parent_len(path, len);
	parent = tree_find(t, path, *plen);
	if (!parent)
		r->err = ZK_NONODE;
	return parent;
}

/*
 * The apply_* functions return 0 or -ENOMEM (then nothing changed) and put
 * the op's ZooKeeper result in r->err.
 */
static int apply_create(struct tree *t, const struct tree_txn *txn, const struct tree_op *op,
			struct tree_op_result *r, struct tree_apply_out *out)
{
	const char *path = (const char *)op->path.p;
	size_t len = (size_t)op->path.len;
	struct tree_node *parent, *n;
	size_t plen;
	uint32_t acl;

	if (len > TREE_PATH_MAX) {
		/* What tree_validate_path says; node_alloc would fail it as -ENOMEM. */
		log_error("tree: zxid 0x%llx creates a path of %zu bytes (at most %u): refused",
			  (unsigned long long)txn->zxid, len, TREE_PATH_MAX);
		r->err = ZK_BADARGUMENTS;
		return 0;
	}
	parent = op_parent(t, path, len, &plen, r);
	if (!parent)
		return 0;
	if (out_reserve_events(out, 2) || (parent->kind != NODE_EPHEMERAL && !node_ext(parent)) ||
	    acl_table_intern(t, &op->acl, &acl))
		return -ENOMEM;
	n = tree_find(t, path, len);
	if (n) {
		/* Replay over a fuzzy snapshot: DataTree adopts the txn's ACL. */
		uint32_t old;

		if (!node_ext(n)) {
			acl_table_unref(t, acl);
			return -ENOMEM;
		}
		old = n->ext->acl;
		node_write_begin(t, n);
		CMM_STORE_SHARED(n->ext->acl, acl);
		node_write_end(t, n);
		acl_table_unref(t, old);
		if (op->type == ZK_OP_CREATE)
			parent_bump_cversion(t, parent, op->parent_cversion, txn->zxid, 0, NULL);
		r->err = ZK_NODEEXISTS;
		return 0;
	}
	if (parent->kind == NODE_EPHEMERAL) {
		acl_table_unref(t, acl);
		r->err = ZK_NOCHILDRENFOREPHEMERALS;
		return 0;
	}
	n = node_alloc(t, path, len, op->ephemeral_owner, op->data, txn->zxid, txn->time);
	if (!n) {
		acl_table_unref(t, acl);
		return -ENOMEM;
	}
	node_set_acl_unpublished(n, acl);
	/* czxid, ctime: node_alloc's; pzxid, mzxid: czxid, mtime: ctime */
	if (n->ext) { /* made for out-of-line data: the defaults */
		n->ext->pzxid = n->ext->mzxid = txn->zxid;
		n->ext->mtime = txn->time;
	}
	/* Indexed and hashed first; adding it to the parent's list publishes it. */
	if (node_link(t, NULL, n, true)) {
		node_free_now(n);
		acl_table_unref(t, acl);
		return -ENOMEM;
	}
	parent_bump_cversion(t, parent, op->parent_cversion, txn->zxid, 1, n);
	node_result_stat(n, &r->stat);
	/* DataTree.createNode: updateWriteStat(path, data bytes). */
	nsstat_add(t->opts.ns_writes, path, len, op->data.len > 0 ? (uint64_t)op->data.len : 0);
	out_event(out, ZK_EVENT_NODE_CREATED, path, len);
	out_event(out, ZK_EVENT_NODE_CHILDREN_CHANGED, path, plen);
	r->err = ZK_OK;
	return 0;
}

/*
 * Deletes a node with its parent; the caller reserved two events.  The
 * event paths point into the node, which lives until a grace period ends.
 */
static enum zk_err delete_node(struct tree *t, struct tree_node *parent, struct tree_node *n,
			       int64_t zxid, struct tree_apply_out *out)
{
	struct tree_node_ext *pe = parent->ext;

	if (n->kind != NODE_EPHEMERAL && tree_ext_num_children(n->ext) > 0) {
		/* Prep never lets this through; deleting would orphan children. */
		log_error("tree: refusing to delete %s: it still has %d children", n->path,
			  n->ext->num_children);
		return ZK_NOTEMPTY;
	}
	assert(pe); /* it has a child: n */
	digest_sub(t, digest_of(parent));
	node_write_begin(t, parent);
	child_unlink(parent, n);
	CMM_STORE_SHARED(pe->num_children, pe->num_children - 1);
	if (zxid > pe->pzxid)
		CMM_STORE_SHARED(pe->pzxid, zxid);
	node_write_end(t, parent);
	digest_add(t, digest_of(parent));
	out_event(out, ZK_EVENT_NODE_DELETED, n->path, n->path_len);
	/* The ACL entry outlives the unlink below by a grace period, as the path. */
	out->events[out->nevents - 1].acl = acl_table_get(t, tree_node_acl_id(n, n->ext));
	out_event(out, ZK_EVENT_NODE_CHILDREN_CHANGED, parent->path, parent->path_len);
	/* DataTree.deleteNode: updateWriteStat(path, 0), a session's ephemerals too. */
	nsstat_add(t->opts.ns_writes, n->path, n->path_len, 0);
	node_unlink(t, n);
	return ZK_OK;
}

/*
 * DataTree.deleteNode raises the parent's pzxid before it looks for the
 * child.  Returns 0 or -ENOMEM (no ext block could be made: nothing changed).
 */
static int raise_pzxid(struct tree *t, struct tree_node *parent, int64_t zxid)
{
	struct tree_node_ext *pe;

	if (zxid <= tree_ext_pzxid(parent, parent->ext))
		return 0;
	if (!(pe = node_ext(parent)))
		return -ENOMEM;
	digest_sub(t, digest_of(parent));
	node_write_begin(t, parent);
	CMM_STORE_SHARED(pe->pzxid, zxid);
	node_write_end(t, parent);
	digest_add(t, digest_of(parent));	return 0;
}

static int apply_delete(struct tree *t, const struct tree_txn *txn, const struct tree_op *op,
			struct tree_op_result *r, struct tree_apply_out *out)
{
	const char *path = (const char *)op->path.p;
	size_t len = (size_t)op->path.len;
	struct tree_node *parent, *n;
	size_t plen;

	parent = op_parent(t, path, len, &plen, r);
	if (!parent)
		return 0;
	n = tree_find(t, path, len);
	if (!n) {
		if (raise_pzxid(t, parent, txn->zxid))
			return -ENOMEM;
		r->err = ZK_NONODE;
		return 0;
	}
	if (out_reserve_events(out, 2))
		return -ENOMEM;
	r->err = delete_node(t, parent, n, txn->zxid, out);
	return 0;
}

static int apply_set_data(struct tree *t, const struct tree_txn *txn, const struct tree_op *op,
			  struct tree_op_result *r, struct tree_apply_out *out)
{
	struct tree_node *n = tree_find(t, (const char *)op->path.p, (size_t)op->path.len);
	struct tree_data *nd = NULL, *old;
	struct tree_node_ext *e;

	if (!n) {
		r->err = ZK_NONODE;
		return 0;
	}
	/* mzxid and mtime live in the ext block: made first, so nothing changes without it. */
	if (out_reserve_events(out, 1) || !(e = node_ext(n)) ||
	    (op->data.len >= 0 && !(nd = data_new(op->data))))
		return -ENOMEM;
	digest_sub(t, digest_of(n));
	old = e->data;
	CMM_STORE_SHARED(t->data_size, t->data_size - (old ? old->len : 0) + (nd ? nd->len : 0));
	node_write_begin(t, n);
	rcu_assign_pointer(e->data, nd);
	CMM_STORE_SHARED(e->version, op->version);
	CMM_STORE_SHARED(e->mzxid, txn->zxid);
	CMM_STORE_SHARED(e->mtime, txn->time);
	node_write_end(t, n);
	digest_add(t, digest_of(n));
	data_defer_free(t, n, old);
	node_result_stat(n, &r->stat);
	/* DataTree.setData: updateWriteStat(path, data bytes). */
	nsstat_add(t->opts.ns_writes, n->path, n->path_len, nd ? nd->len : 0);
	out_event(out, ZK_EVENT_NODE_DATA_CHANGED, n->path, n->path_len);
	r->err = ZK_OK;
	return 0;
}

int tree_set_config(struct tree *t, const void *data, size_t len, int64_t mzxid, int64_t mtime)
{
	struct tree_node *n = tree_find(t, "/zookeeper/config", strlen("/zookeeper/config"));
	struct tree_data *nd, *old;
	struct tree_node_ext *e;

	assert(n); /* tree_new made it and nothing deletes it (prep refuses) */
	if (len > INT32_MAX)
		return -EINVAL;
	if (tree_limbo_reserve(t) || !(e = node_ext(n)))
		return -ENOMEM;
	nd = data_new((struct jute_buf){data, (int32_t)len});
	if (!nd)
		return -ENOMEM;
	/* System nodes count 0 in the digest (tree.h), so none to update. */
	old = e->data;
	CMM_STORE_SHARED(t->data_size, t->data_size - (old ? old->len : 0) + nd->len);
	node_write_begin(t, n);
	rcu_assign_pointer(e->data, nd);
	CMM_STORE_SHARED(e->version, -1);
	CMM_STORE_SHARED(e->mzxid, mzxid);
	CMM_STORE_SHARED(e->mtime, mtime);
	node_write_end(t, n);
	data_defer_free(t, n, old);
	/* initConfigInZKDatabase goes through DataTree.setData: a write. */
	nsstat_add(t->opts.ns_writes, n->path, n->path_len, nd->len);
	return 0;
}

void tree_set_ns_writes(struct tree *t, struct nsstat_tab *tab)
{
	t->opts.ns_writes = tab;
}

static int apply_set_acl(struct tree *t, const struct tree_op *op, struct tree_op_result *r)
{
	struct tree_node *n = tree_find(t, (const char *)op->path.p, (size_t)op->path.len);
	uint32_t acl, old;

	if (!n) {
		r->err = ZK_NONODE;
		return 0;
	}
	if (!node_ext(n) || acl_table_intern(t, &op->acl, &acl))
		return -ENOMEM;
	digest_sub(t, digest_of(n));
	old = n->ext->acl;
	/* Before the new ACL (tree_acl_zxid); applying_zxid is this txn's. */
	CMM_STORE_SHARED(t->acl_zxid, t->applying_zxid);
	cmm_smp_wmb();
	node_write_begin(t, n);
	CMM_STORE_SHARED(n->ext->acl, acl);
	CMM_STORE_SHARED(n->ext->aversion, op->version);
	node_write_end(t, n);
	digest_add(t, digest_of(n));
	acl_table_unref(t, old);
	node_result_stat(n, &r->stat);
	r->err = ZK_OK;
	return 0;
}

static int apply_op(struct tree *t, const struct tree_txn *txn, const struct tree_op *op,
		    struct tree_op_result *r, struct tree_apply_out *out)
{
	/* Each op frees at most 5 objects (node, data, ACL entry, ACL vector, session). */
	if (tree_limbo_reserve(t))
		return -ENOMEM;
	switch (op->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		return apply_create(t, txn, op, r, out);
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		return apply_delete(t, txn, op, r, out);
	case ZK_OP_SETDATA:
		return apply_set_data(t, txn, op, r, out);
	case ZK_OP_SETACL:
		return apply_set_acl(t, op, r);
	case ZK_OP_CHECK:
		r->err = ZK_OK;
		return 0;
	case ZK_OP_ERROR:
		r->err = op->err;
		return 0;
	default:
		/* tree_txn_decode admits no other type. */
		r->err = ZK_MARSHALLINGERROR;
		return 0;
	}
}

/* Deletes one ephemeral of a closing session (events reserved here). */
static int close_delete(struct tree *t, struct tree_node *n, int64_t zxid,
			struct tree_apply_out *out)
{
	struct tree_node *parent = tree_find(t, n->path, tree_parent_len(n->path, n->path_len));

	if (!parent)
		return 0;
	if (out_reserve_events(out, 2) || tree_limbo_reserve(t))
		return -ENOMEM;
	delete_node(t, parent, n, zxid, out);
	return 0;
}

static int apply_close_session(struct tree *t, const struct tree_txn *txn,
			       struct tree_apply_out *out)
{
	struct tree_session *s;
	struct tree_node *n;

	/* The paths prep listed first, then whatever the session still owns. */
	for (uint32_t i = 0; i < txn->nops; i++) {
		const char *path = (const char *)txn->ops[i].path.p;
		size_t len = (size_t)txn->ops[i].path.len;

		n = tree_find(t, path, len);
		if (!n) {
			/* Gone already (replay): DataTree ignores the NONODE but its
			 * deleteNode has raised the parent's pzxid by then. */
			struct tree_node *parent = len > 1 ?
				tree_find(t, path, tree_parent_len(path, len)) : NULL;
			if (parent && raise_pzxid(t, parent, txn->zxid))
				return -ENOMEM;
			continue;
		}
		if (n->kind != NODE_EPHEMERAL || tree_node_owner(n) != txn->session)
			continue;
		if (close_delete(t, n, txn->zxid, out))
			return -ENOMEM;
	}
	s = tree_find_session(t, txn->session);
	if (!s)
		return 0;
	tree_for_each_eph_safe(n, &s->ephemerals) {
		if (close_delete(t, n, txn->zxid, out))
			return -ENOMEM;
	}
	/* Deleting the last ephemeral drops a session that was never opened. */
	s = tree_find_session(t, txn->session);
	if (!s)
		return 0;
	if (tree_limbo_reserve(t))
		return -ENOMEM;
	session_drop(t, s);
	return 0;
}

int tree_apply(struct tree *t, const struct tree_txn *txn, struct tree_apply_out *out)
{
	struct tree_op_result *r;

	if (txn->zxid > t->applying_zxid) {
		CMM_STORE_SHARED(t->applying_zxid, txn->zxid);
		cmm_smp_wmb(); /* before any of the txn's effects */
	}
	out->nresults = 0;
	out->nevents = 0;
	switch (txn->type) {
	case ZK_OP_CREATESESSION:
		if (tree_session_open(t, txn->session, txn->timeout))
			return -ENOMEM;
		break;
	case ZK_OP_CLOSESESSION:
		if (apply_close_session(t, txn, out))
			return -ENOMEM;
		break;
	case ZK_OP_MULTI: {
		/* DataTree.processTxn: once any op failed, none is applied. */
		bool failed = false, post_failed = false;

		for (uint32_t i = 0; i < txn->nops; i++)
			failed |= txn->ops[i].type == ZK_OP_ERROR;
		for (uint32_t i = 0; i < txn->nops; i++) {
			const struct tree_op *op = &txn->ops[i];
			if (!(r = out_result(out)))
				return -ENOMEM;
			if (op->type == ZK_OP_ERROR) {
				post_failed = true;
				r->err = op->err;
			} else if (failed) {
				r->err = post_failed ? ZK_RUNTIMEINCONSISTENCY : ZK_OK;
			} else if (apply_op(t, txn, op, r, out)) {
				return -ENOMEM;
			}
		}
		break;
	}
	default:
		if (txn->nops != 1)
			return -EINVAL;
		if (!(r = out_result(out)) || apply_op(t, txn, &txn->ops[0], r, out))
			return -ENOMEM;
		break;
	}
	tree_set_last_zxid(t, txn->zxid);
	if (txn->zxid % TREE_DIGEST_LOG_INTERVAL == 0)
		log_digest(t, txn->zxid);
	return 0;
}

/* ---- Construction ---- */

static int add_system_node(struct tree *t, const char *path, uint32_t acl, int32_t aversion)
{
	struct tree_pstat ps = { .aversion = aversion };
	struct jute_buf empty = { (const uint8_t *)"", 0 };

	acl_table_ref(t, acl);
	int rc = tree_insert_loaded(t, path, strlen(path), &ps, empty, acl);
	if (rc)
		acl_table_unref(t, acl);
	return rc;
}

/* Encodes a one-entry ACL list with world:anyone. */
static int world_acl(struct tree *t, int32_t perms, uint32_t *id)
{
	uint8_t buf[64];
	struct jute_out o;
	struct jute_in in;
	struct jute_acl_list l;

	jute_out_init_fixed(&o, buf, sizeof(buf));
	jute_put_int(&o, 1);
	jute_put_int(&o, perms);
	jute_put_string(&o, "world");
	jute_put_string(&o, "anyone");
	jute_in_init(&in, buf, o.len);
	if (jute_get_acl_list(&in, &l, 64))
		return -EINVAL;
	return acl_table_intern(t, &l, id);
}

struct tree *tree_new(const struct tree_opts *opts)
{
	struct tree *t = calloc(1, sizeof(*t));
	uint32_t read_acl;

	if (!t)
		return NULL;
	for (uint32_t i = 0; i < TREE_WLOCKS; i++) {
		int rc = pthread_mutex_init(&t->wlock[i], NULL);

		assert(rc == 0); /* glibc: a default mutex needs no resource */
		(void)rc;
	}
	t->opts = *opts;
	if (tree_limbo_reserve(t) || pidx_init(&t->nodes))
		goto fail;
	t->sessions = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	t->acls = acl_table_new();
	if (!t->sessions || !t->acls)
		goto fail;
	/* The system nodes' ACL is held by the tree itself as well. */
	if (world_acl(t, ZK_PERM_ALL, &t->world_acl) || world_acl(t, ZK_PERM_READ, &read_acl))
		goto fail;
	if (add_system_node(t, "/", t->world_acl, 0) ||
	    add_system_node(t, "/zookeeper", t->world_acl, 0) ||
	    add_system_node(t, "/zookeeper/quota", t->world_acl, 0) ||
	    add_system_node(t, "/zookeeper/config", read_acl, -1))
		goto fail;
	return t;
fail:
	tree_free(t);
	return NULL;
}

static void free_node(void *p)
{
	node_free_now(p);
}

/*
 * Unlinks every entry of a table into *all; the caller frees them after a
 * grace period.  Call online: cds_lfht_del is a read-side operation, and
 * a shrink the deletions start on the lfht worker must wait for us before
 * it frees a bucket level (draining offline crashed about 1 run in 10).
 */
static void unlink_table(struct cds_lfht *ht, size_t hnode_off, void ***all, size_t *n)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *hn;
	size_t cap = 0;

	*all = NULL;
	*n = 0;
	cds_lfht_for_each(ht, &it, hn) {
		cds_lfht_del(ht, hn);
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			void **na = realloc(*all, ncap * sizeof(*na));
			if (!na)
				continue; /* leaks on OOM at exit rather than crash */
			*all = na;
			cap = ncap;
		}
		(*all)[(*n)++] = (char *)hn - hnode_off;
	}
}

void tree_free(struct tree *t)
{
	void **nodes = NULL, **sessions = NULL;
	size_t nn = 0, ns = 0;
	bool online;

	if (!t)
		return;
	tree_reclaim_flush(t);
	online = urcu_qsbr_read_ongoing();
	if (!online)
		urcu_qsbr_thread_online();
	if (t->nodes.tab && t->nodes.count) {
		nodes = malloc(t->nodes.count * sizeof(*nodes));
		if (nodes) /* else leaks on OOM at exit rather than crash */
			nn = pidx_collect(&t->nodes, (struct tree_node **)nodes);
	}
	if (t->sessions)
		unlink_table(t->sessions, offsetof(struct tree_session, hnode), &sessions, &ns);
	urcu_qsbr_thread_offline();
	urcu_qsbr_synchronize_rcu();
	urcu_qsbr_barrier();
	for (size_t i = 0; i < nn; i++)
		free_node(nodes[i]);
	for (size_t i = 0; i < ns; i++)
		free(sessions[i]);
	free(nodes);
	free(sessions);
	pidx_destroy(&t->nodes);
	if (t->sessions)
		cds_lfht_destroy(t->sessions, NULL);
	if (t->acls)
		acl_table_free(t->acls);
	free(t->limbo_spare);
	free(t->digest_log);
	free(t->containers.slots);
	free(t->ttls.slots);
	for (uint32_t i = 0; i < TREE_WLOCKS; i++)
		pthread_mutex_destroy(&t->wlock[i]);
	free(t);
	if (online)
		urcu_qsbr_thread_online();
}
