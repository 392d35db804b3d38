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
 * array indexed by slot: the hot path is a memchr for the first '/', a
 * hash of the (short) first component, one bin load and one compare,
 * then hist_add and two compares into the slot's first cache line.
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

struct nsstat_key {
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
};

_Static_assert(offsetof(struct nsstat_slot, h) + 2 * sizeof(uint64_t) <= 64,
	       "a slot's bases, min, max, count and sum in one cache line");

struct nsstat_tab {
	struct nsstat *ns;
	uint32_t kind;
	uint32_t epoch_seen; /* the srst applied (release) */
	uint8_t pad[48];
	struct nsstat_slot s[NSSTAT_SLOTS];
};

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

size_t nsstat_utf16_len(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	uint64_t hi = 0;
	size_t i = 0, n = 0;

	/* ASCII (nearly every path): the byte length, found 8 bytes at a time. */
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		hi |= w;
	}
	for (; i < len; i++)
		hi |= p[i];
	if (!(hi & 0x8080808080808080ull))
		return len;
	/* Every byte but a continuation starts a code point; 4-byte ones are two units. */
	for (i = 0; i < len; i++)
		n += ((p[i] & 0xc0) != 0x80) + (p[i] >= 0xf0);
	return n;
}

/* FNV-1a: namespaces are short. */
static uint32_t key_hash(const char *k, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)k[i]) * 16777619u;
	return h;
}

/* The slot of key k, or NSSTAT_KEYS when it has none (yet). */
static uint32_t find(const struct nsstat *ns, const char *k, size_t n, uint32_t h, uint32_t *empty)
{
	for (uint32_t j = 0; j < NSSTAT_BINS; j++) {
		uint32_t b = (h + j) & (NSSTAT_BINS - 1);
		uint8_t v = __atomic_load_n(&ns->bin[b], __ATOMIC_ACQUIRE);
		const struct nsstat_key *e;

		if (!v) {
			*empty = b;
			return NSSTAT_KEYS;
		}
		assert(v <= NSSTAT_KEYS);
		e = &ns->key[v - 1];
		if (e->hash == h && e->len == n && !memcmp(e->name, k, n))
			return v - 1u;
	}
	/* Never: at most NSSTAT_KEYS of the NSSTAT_BINS bins are used. */
	assert(!"no empty bin");
	*empty = NSSTAT_BINS;
	return NSSTAT_KEYS;
}

/* A new namespace: a slot while there is one (under the lock), else the overflow. */
static uint32_t add_key(struct nsstat *ns, const char *k, size_t n, uint32_t h)
{
	uint32_t i, empty = NSSTAT_BINS;

	pthread_mutex_lock(&ns->lock);
	i = find(ns, k, n, h, &empty);
	if (i == NSSTAT_KEYS && ns->nkeys < NSSTAT_KEYS && empty < NSSTAT_BINS) {
		struct nsstat_key *e = &ns->key[ns->nkeys];

		i = ns->nkeys;
		e->hash = h;
		e->len = (uint32_t)n;
		memcpy(e->name, k, n);
		e->name[n] = '\0';
		__atomic_store_n(&ns->bin[empty], (uint8_t)(i + 1), __ATOMIC_RELEASE);
		__atomic_store_n(&ns->nkeys, i + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&ns->lock);
	return i == NSSTAT_KEYS ? NSSTAT_OTHER : i;
}

static uint32_t slot_of(struct nsstat *ns, const char *k, size_t n)
{
	uint32_t h, i, empty;

	if (n > NSSTAT_KEY_MAX)
		return NSSTAT_OTHER;
	h = key_hash(k, n);
	i = find(ns, k, n, h, &empty);
	if (i < NSSTAT_KEYS)
		return i;
	if (__atomic_load_n(&ns->nkeys, __ATOMIC_ACQUIRE) >= NSSTAT_KEYS) {
		/* Full: look again, as the last key may have been published since. */
		i = find(ns, k, n, h, &empty);
		return i < NSSTAT_KEYS ? i : NSSTAT_OTHER;
	}
	return add_key(ns, k, n, h);
}

/* The writer applies srst number ep: its since-srst figures start again. */
static void tab_reset(struct nsstat_tab *t, uint32_t ep)
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
	struct nsstat *ns;
	struct nsstat_slot *s;
	const char *key, *end;
	uint64_t v;
	uint32_t ep;
	size_t klen;

	if (!t || len < 2)
		return; /* "/" has no namespace */
	assert(path[0] == '/');
	ns = t->ns;
	key = path + 1;
	end = memchr(key, '/', len - 1);
	klen = end ? (size_t)(end - key) : len - 1;
	if (!klen)
		return; /* "//...": no stored path */
	ep = __atomic_load_n(&ns->epoch, __ATOMIC_RELAXED);
	if (__builtin_expect(ep != t->epoch_seen, 0))
		tab_reset(t, ep);
	s = &t->s[slot_of(ns, key, klen)];
	v = nsstat_utf16_len(path, len) + bytes +
	    (t->kind == NSSTAT_READ ? NSSTAT_STAT_OVERHEAD : 0);
	if (__builtin_expect(!s->h.count, 0))
		__atomic_store_n(&s->first, __atomic_fetch_add(&ns->seq, 1, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
	if (s->h.count == s->count_base || v < s->min)
		__atomic_store_n(&s->min, v, __ATOMIC_RELAXED);
	if (s->h.count == s->count_base || v > s->max)
		__atomic_store_n(&s->max, v, __ATOMIC_RELAXED);
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
