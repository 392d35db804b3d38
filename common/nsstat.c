/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-namespace byte counts (nsstat.h): the registry of namespaces and
 * the per-thread tables.
 *
 * Why a registry of fixed slots.  ZooKeeper keeps a map from namespace
 * to summary that grows without bound (a client creating /x1../x1000000
 * makes a million Prometheus series).  The dataplane's getData path
 * must stay a few nanoseconds and allocation-free, so the namespaces get
 * NSSTAT_KEYS fixed slots, first come first served, and a table is an
 * array indexed by slot.  The hot path: the table's last namespace
 * compared with the path's first 16 bytes in two masked words (a hit
 * for a run of reads in one namespace), else the first '/' found 8
 * bytes at a time, a multiply hash, one bin load and a two-word
 * compare; then the path's UTF-16 length (ASCII: 8 bytes at a time),
 * hist_add and two compares into the slot's first cache line.
 * Everything past the bound goes to one overflow slot, so totals over
 * all keys stay exact; the registry is one for all tables so that a
 * namespace has the same slot on every thread and a merge never splits
 * it between its key and the overflow.
 *
 * Layout.  The registry's 128 bins (uint8_t: slot + 1, 0 empty; open
 * addressing, at most 64 used, so a miss stops at an empty bin within a
 * few probes) and its counters share the first cache lines; they are
 * written only when a namespace is added (64 times at most) or by srst,
 * so every core keeps them cached.  A table is written by one thread
 * only; a slot's since-srst bases, min and max, then its histogram's
 * count and sum lie in one 64-byte line, the bucket in another.
 *
 * Invariants: nkeys only grows, to NSSTAT_KEYS at most; key[i] is
 * written before bin and nkeys publish it (release) and never changes;
 * a table's count - count_base is its adds since the srst it applied.
 *
 * Thread: nsstat_add on a table's writer; the rest on any thread.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/nsstat.h"

#define NSSTAT_BINS 128

/* A key: its first 16 bytes as two little-endian words (zero past the end) compare it. */
struct nsstat_key {
	uint64_t w0, w1;
	uint32_t hash;
	uint32_t len;
	char name[NSSTAT_KEY_MAX + 1];
};

struct nsstat {
	uint8_t bin[NSSTAT_BINS]; /* slot + 1, 0: empty; acquire/release */
	uint32_t nkeys;		  /* acquire/release */
	uint32_t epoch;		  /* srsts so far */
	uint64_t seq;		  /* first-counted order, fetch_add (rare) */
	uint32_t ntabs;		  /* acquire/release */
	pthread_mutex_t lock;	  /* adding a key or a table */
	struct nsstat_tab *tabs[NSSTAT_MAX_TABS];
	struct nsstat_key key[NSSTAT_KEYS];
};

struct nsstat_slot {
	uint64_t count_base, sum_base; /* h.count and h.sum at the srst last applied */
	uint64_t min, max;	       /* since then, when h.count > count_base */
	uint64_t first;		       /* ns->seq + 1 when first counted, 0: never */
	struct hist h;		       /* since start */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct nsstat_slot, h) + 2 * sizeof(uint64_t) <= 64,
	       "a slot's bases, min, max, count and sum in one cache line");

struct nsstat_tab {
	struct nsstat *ns;
	uint32_t kind;
	uint32_t epoch_seen; /* the srst applied (release) */
	uint32_t overhead;   /* NSSTAT_STAT_OVERHEAD for reads */
	/*
	 * The writer's last key of at most 16 bytes, its words, the masks of
	 * its bytes in them, and its slot (c_n 0: none).
	 */
	uint32_t c_n, c_slot;
	uint64_t c_w0, c_w1, c_m0, c_m1;
	struct nsstat_slot s[NSSTAT_SLOTS]; /* from the second cache line on */
};

_Static_assert(offsetof(struct nsstat_tab, s) == 64, "a table's header in one cache line");

struct nsstat *nsstat_new(void)
{
	struct nsstat *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return NULL;
	if (pthread_mutex_init(&ns->lock, NULL)) {
		free(ns);
		return NULL;
	}
	return ns;
}

void nsstat_free(struct nsstat *ns)
{
	if (!ns)
		return;
	for (uint32_t i = 0; i < ns->ntabs; i++)
		free(ns->tabs[i]);
	pthread_mutex_destroy(&ns->lock);
	free(ns);
}

struct nsstat_tab *nsstat_tab_new(struct nsstat *ns, enum nsstat_kind kind)
{
	struct nsstat_tab *t = NULL;

	assert(ns && kind < NSSTAT_KINDS);
	if (posix_memalign((void **)&t, 64, sizeof(*t)))
		return NULL;
	memset(t, 0, sizeof(*t));
	t->ns = ns;
	t->kind = kind;
	t->overhead = kind == NSSTAT_READ ? NSSTAT_STAT_OVERHEAD : 0;
	pthread_mutex_lock(&ns->lock);
	if (ns->ntabs == NSSTAT_MAX_TABS) {
		pthread_mutex_unlock(&ns->lock);
		log_error("nsstat: more than %d tables; not counting a thread's namespaces",
			  NSSTAT_MAX_TABS);
		free(t);
		return NULL;
	}
	t->epoch_seen = __atomic_load_n(&ns->epoch, __ATOMIC_ACQUIRE);
	ns->tabs[ns->ntabs] = t;
	__atomic_store_n(&ns->ntabs, ns->ntabs + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&ns->lock);
	return t;
}

/* Java's String.length() of valid UTF-8 that is not all ASCII. */
static __attribute__((noinline)) size_t utf16_len_slow(const uint8_t *p, size_t len)
{
	size_t n = 0;

	/* Every byte but a continuation starts a code point; 4-byte ones are two units. */
	for (size_t i = 0; i < len; i++)
		n += ((p[i] & 0xc0) != 0x80) + (p[i] >= 0xf0);
	return n;
}

static inline size_t utf16_len(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	uint64_t hi = 0, w;

	/* ASCII (nearly every path): the byte length, found 8 bytes at a time. */
	if (len >= 8) {
		for (size_t i = 0; i + 8 < len; i += 8) {
			memcpy(&w, p + i, sizeof(w));
			hi |= w;
		}
		memcpy(&w, p + len - 8, sizeof(w)); /* the last 8, overlapping */
		hi |= w;
	} else {
		for (size_t i = 0; i < len; i++)
			hi |= p[i];
	}
	return hi & 0x8080808080808080ull ? utf16_len_slow(p, len) : len;
}

size_t nsstat_utf16_len(const char *s, size_t len)
{
	return utf16_len(s, len);
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "words are read little-endian");

/* The n (<= 8) bytes at p as a little-endian word, zero above them. */
static inline uint64_t load_le(const char *p, size_t n)
{
	uint64_t w = 0;

	if (n >= 8) {
		memcpy(&w, p, sizeof(w));
		return w;
	}
	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)(uint8_t)p[i] << (8 * i);
	return w;
}

/* The low n (< 8) bytes of w. */
static inline uint64_t low_bytes(uint64_t w, size_t n)
{
	return w & ((1ull << (8 * n)) - 1);
}

/*
 * A high bit in each byte of w that is '/' or above one (the classic
 * has-zero test on w ^ "////////"): its lowest set bit marks the first
 * '/' exactly.  Zero padding is not '/'.
 */
static inline uint64_t slashes(uint64_t w)
{
	uint64_t x = w ^ 0x2f2f2f2f2f2f2f2full;

	return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

/* A key's words and hash (a multiply per word; bytes past 16 FNV-1a'd: rare). */
struct key {
	const char *p;
	size_t n;
	uint64_t w0, w1;
	uint32_t h;
};

static inline void key_hash(struct key *k)
{
	uint64_t h = (k->w0 * 0x9e3779b97f4a7c15ull) ^ (k->w1 * 0xc2b2ae3d27d4eb4full) ^ k->n;

	for (size_t i = 16; i < k->n; i++)
		h = (h ^ (uint8_t)k->p[i]) * 0x100000001b3ull;
	k->h = (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/*
 * The first component of a path's rest (after its leading '/', rest > 0
 * bytes): found and loaded 8 bytes at a time, memchr only past 16 bytes;
 * not hashed yet.
 */
static inline void key_of_path(struct key *k, const char *p, size_t rest)
{
	uint64_t m;

	k->p = p;
	k->w1 = 0;
	k->w0 = load_le(p, rest < 8 ? rest : 8);
	m = slashes(k->w0);
	if (m) {
		k->n = (size_t)__builtin_ctzll(m) >> 3;
		k->w0 = low_bytes(k->w0, k->n);
	} else if (rest <= 8) {
		k->n = rest;
	} else {
		k->w1 = load_le(p + 8, rest - 8 < 8 ? rest - 8 : 8);
		m = slashes(k->w1);
		if (m) {
			k->n = 8 + ((size_t)__builtin_ctzll(m) >> 3);
			k->w1 = low_bytes(k->w1, k->n - 8);
		} else if (rest <= 16) {
			k->n = rest;
		} else {
			const char *e = memchr(p + 16, '/', rest - 16);

			k->n = e ? (size_t)(e - p) : rest;
		}
	}
}

/* The slot of key k, or NSSTAT_KEYS when it has none (then *empty: where it would go). */
static uint32_t find(const struct nsstat *ns, const struct key *k, uint32_t *empty)
{
	for (uint32_t j = 0; j < NSSTAT_BINS; j++) {
		uint32_t b = (k->h + j) & (NSSTAT_BINS - 1);
		uint8_t v = __atomic_load_n(&ns->bin[b], __ATOMIC_ACQUIRE);
		const struct nsstat_key *e;

		if (!v) {
			*empty = b;
			return NSSTAT_KEYS;
		}
		assert(v <= NSSTAT_KEYS);
		e = &ns->key[v - 1];
		if (e->w0 == k->w0 && e->w1 == k->w1 && e->len == k->n &&
		    (k->n <= 16 || !memcmp(e->name + 16, k->p + 16, k->n - 16)))
			return v - 1u;
	}
	/* Never: at most NSSTAT_KEYS of the NSSTAT_BINS bins are used. */
	assert(!"no empty bin");
	*empty = NSSTAT_BINS;
	return NSSTAT_KEYS;
}

/* A new namespace: a slot while there is one (under the lock), else the overflow. */
static uint32_t add_key(struct nsstat *ns, const struct key *k)
{
	uint32_t i, empty = NSSTAT_BINS;

	pthread_mutex_lock(&ns->lock);
	i = find(ns, k, &empty);
	if (i == NSSTAT_KEYS && ns->nkeys < NSSTAT_KEYS && empty < NSSTAT_BINS) {
		struct nsstat_key *e = &ns->key[ns->nkeys];

		i = ns->nkeys;
		e->w0 = k->w0;
		e->w1 = k->w1;
		e->hash = k->h;
		e->len = (uint32_t)k->n;
		memcpy(e->name, k->p, k->n);
		e->name[k->n] = '\0';
		__atomic_store_n(&ns->bin[empty], (uint8_t)(i + 1), __ATOMIC_RELEASE);
		__atomic_store_n(&ns->nkeys, i + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&ns->lock);
	return i == NSSTAT_KEYS ? NSSTAT_OTHER : i;
}

/* The registry's slot for a key the table's cache does not hold (out of line). */
static __attribute__((noinline)) uint32_t slot_of(struct nsstat *ns, struct key *k)
{
	uint32_t i, empty;

	if (k->n > NSSTAT_KEY_MAX)
		return NSSTAT_OTHER; /* never hashed: its length is unbounded */
	key_hash(k);
	i = find(ns, k, &empty);
	if (i < NSSTAT_KEYS)
		return i;
	if (__atomic_load_n(&ns->nkeys, __ATOMIC_ACQUIRE) >= NSSTAT_KEYS) {
		/* Full: look again, as the last key may have been published since. */
		i = find(ns, k, &empty);
		return i < NSSTAT_KEYS ? i : NSSTAT_OTHER;
	}
	return add_key(ns, k);
}

/* The writer applies srst number ep: its since-srst figures start again. */
static __attribute__((noinline)) void tab_reset(struct nsstat_tab *t, uint32_t ep)
{
	for (uint32_t i = 0; i < NSSTAT_SLOTS; i++) {
		struct nsstat_slot *s = &t->s[i];

		if (!s->h.count)
			continue;
		__atomic_store_n(&s->count_base, s->h.count, __ATOMIC_RELAXED);
		__atomic_store_n(&s->sum_base, s->h.sum, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&t->epoch_seen, ep, __ATOMIC_RELEASE);
}

void nsstat_add(struct nsstat_tab *t, const char *path, size_t len, uint64_t bytes)
{
	const char *p = path + 1;
	struct nsstat *ns;
	struct nsstat_slot *s;
	struct key k;
	uint64_t v, a, b;
	size_t rest = len - 1;
	uint32_t ep, i;

	if (!t || len < 2)
		return; /* "/" has no namespace */
	assert(path[0] == '/');
	ns = t->ns;
	ep = __atomic_load_n(&ns->epoch, __ATOMIC_RELAXED);
	if (__builtin_expect(ep != t->epoch_seen, 0))
		tab_reset(t, ep);
	/*
	 * The same namespace as last time (a slot never changes its key, and a
	 * key sent to the overflow stays there): its bytes and the '/' or end
	 * after them, compared in two words; no search, hash or registry.
	 */
	if (rest >= 16 && t->c_n) {
		memcpy(&a, p, sizeof(a));
		memcpy(&b, p + 8, sizeof(b));
		if ((a & t->c_m0) == t->c_w0 && (b & t->c_m1) == t->c_w1 &&
		    (rest == t->c_n || p[t->c_n] == '/')) {
			i = t->c_slot;
			goto count;
		}
	}
	key_of_path(&k, p, rest);
	if (!k.n)
		return; /* "//...": no stored path */
	i = slot_of(ns, &k);
	if (k.n <= 16) {
		t->c_w0 = k.w0;
		t->c_w1 = k.w1;
		t->c_m0 = k.n >= 8 ? ~0ull : low_bytes(~0ull, k.n);
		t->c_m1 = k.n >= 16 ? ~0ull : k.n <= 8 ? 0 : low_bytes(~0ull, k.n - 8);
		t->c_n = (uint32_t)k.n;
		t->c_slot = i;
	}
count:
	assert(i < NSSTAT_SLOTS);
	s = &t->s[i];
	v = utf16_len(path, len) + bytes + t->overhead;
	if (__builtin_expect(s->h.count == s->count_base, 0)) {
		/* The first add since start (count and base 0) or since srst. */
		if (!s->h.count)
			__atomic_store_n(&s->first,
					 __atomic_fetch_add(&ns->seq, 1, __ATOMIC_RELAXED) + 1,
					 __ATOMIC_RELAXED);
		__atomic_store_n(&s->min, v, __ATOMIC_RELAXED);
		__atomic_store_n(&s->max, v, __ATOMIC_RELAXED);
	} else {
		if (v < s->min)
			__atomic_store_n(&s->min, v, __ATOMIC_RELAXED);
		if (v > s->max)
			__atomic_store_n(&s->max, v, __ATOMIC_RELAXED);
	}
	hist_add(&s->h, v); /* count last (release): a reader seeing it sees min and max */
}

void nsstat_reset(struct nsstat *ns)
{
	__atomic_add_fetch(&ns->epoch, 1, __ATOMIC_RELEASE);
}

uint32_t nsstat_nkeys(const struct nsstat *ns)
{
	return __atomic_load_n(&ns->nkeys, __ATOMIC_ACQUIRE);
}

const char *nsstat_key(const struct nsstat *ns, uint32_t i)
{
	assert(i == NSSTAT_OTHER || i < nsstat_nkeys(ns));
	return i == NSSTAT_OTHER ? NSSTAT_OTHER_KEY : ns->key[i].name;
}

uint32_t nsstat_java_hash(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	uint32_t h = 0;

	/* Over UTF-16 code units: decode each code point, split those above U+FFFF. */
	while (*p) {
		uint32_t c = *p, need = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;

		c &= need == 0 ? 0x7f : need == 1 ? 0x1f : need == 2 ? 0x0f : 0x07;
		for (p++; need && (*p & 0xc0) == 0x80; need--, p++)
			c = c << 6 | (*p & 0x3f);
		if (c > 0xffff) {
			c -= 0x10000;
			h = 31 * h + (0xd800 + (c >> 10));
			h = 31 * h + (0xdc00 + (c & 0x3ff));
		} else {
			h = 31 * h + c;
		}
	}
	return h;
}

struct ordered {
	uint32_t slot, bin;
	uint64_t first;
};

static int ordered_cmp(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;

	if (x->bin != y->bin)
		return x->bin < y->bin ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

uint32_t nsstat_order(const struct nsstat *ns, enum nsstat_kind kind, uint32_t *slots)
{
	struct ordered o[NSSTAT_SLOTS];
	uint32_t nkeys = nsstat_nkeys(ns), n = 0, table = 16;
	struct nsstat_fig *f = malloc(sizeof(*f));

	if (!f)
		return 0;
	for (uint32_t i = 0; i < NSSTAT_SLOTS; i++) {
		if (i >= nkeys && i != NSSTAT_OTHER)
			continue;
		nsstat_merge(ns, kind, i, 0, f);
		if (f->total)
			o[n++] = (struct ordered){i, 0, f->first};
	}
	free(f);
	/* ConcurrentHashMap doubles its table once the count reaches 3/4 of it. */
	while (n >= table - table / 4)
		table *= 2;
	for (uint32_t j = 0; j < n; j++) {
		uint32_t h = nsstat_java_hash(nsstat_key(ns, o[j].slot));

		o[j].bin = ((h ^ (h >> 16)) & 0x7fffffff) & (table - 1);
	}
	qsort(o, n, sizeof(o[0]), ordered_cmp);
	for (uint32_t j = 0; j < n; j++)
		slots[j] = o[j].slot;
	return n;
}

void nsstat_merge(const struct nsstat *ns, enum nsstat_kind kind, uint32_t i, int with_hist,
		  struct nsstat_fig *out)
{
	uint32_t n = __atomic_load_n(&ns->ntabs, __ATOMIC_ACQUIRE);
	uint32_t ep = __atomic_load_n(&ns->epoch, __ATOMIC_ACQUIRE);

	assert(i < NSSTAT_SLOTS && kind < NSSTAT_KINDS);
	memset(out, 0, sizeof(*out));
	out->first = UINT64_MAX;
	for (uint32_t k = 0; k < n; k++) {
		const struct nsstat_tab *t = ns->tabs[k];
		const struct nsstat_slot *s = &t->s[i];
		uint64_t cnt, sum, first, cb, sb, mn, mx;

		if (t->kind != kind)
			continue;
		/* Count first (acquire): the rest of that add is visible. */
		cnt = __atomic_load_n(&s->h.count, __ATOMIC_ACQUIRE);
		if (!cnt)
			continue;
		sum = __atomic_load_n(&s->h.sum, __ATOMIC_RELAXED);
		first = __atomic_load_n(&s->first, __ATOMIC_RELAXED);
		out->total += cnt;
		if (first && first - 1 < out->first)
			out->first = first - 1;
		if (with_hist) {
			struct hist c;

			hist_read(&s->h, &c);
			hist_merge(&out->h, &c);
		}
		/* A table that has not applied the last srst yet counts as reset. */
		if (__atomic_load_n(&t->epoch_seen, __ATOMIC_ACQUIRE) != ep)
			continue;
		cb = __atomic_load_n(&s->count_base, __ATOMIC_RELAXED);
		sb = __atomic_load_n(&s->sum_base, __ATOMIC_RELAXED);
		if (cnt <= cb)
			continue;
		mn = __atomic_load_n(&s->min, __ATOMIC_RELAXED);
		mx = __atomic_load_n(&s->max, __ATOMIC_RELAXED);
		if (!out->cnt || mn < out->min)
			out->min = mn;
		if (mx > out->max)
			out->max = mx;
		out->cnt += cnt - cb;
		out->sum += sum >= sb ? sum - sb : 0;
	}
}
