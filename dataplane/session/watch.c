/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The watch manager of one dataplane worker: which connection watches
 * which path in which mode, and who an event notifies.
 *
 * Behaviour: ZooKeeper 3.9's WatchManager (with WatchStats, several
 * modes per connection and path, ZOOKEEPER-4466) times the two instances
 * DataTree keeps, dataWatches and childWatches, merged into one table:
 * each (connection, path) entry carries a byte of DP_WATCH_* bits (see
 * watch.h and dp_watch_fires for the trigger rule).  What
 * DataTree.containsWatcher / removeWatch do per WatcherType is in
 * dp_watch_contains / dp_watch_remove.
 *
 * Layout, chosen so a watch costs ~20 bytes, not a Java HashSet entry:
 *  - paths are interned once per worker in a table of struct wpath
 *    (index-addressed, free list) with a chained hash index over it;
 *  - a path holds a vector of 8-byte slots {watcher index, index of the
 *    entry in that watcher's vector};
 *  - a watcher (connection) holds a vector of 12-byte entries {path
 *    index, slot index, bits}.
 * The two back-indices make every removal O(1) (swap-remove on both
 * sides, fixing the one moved element's partner), so dropping a
 * connection costs its own watches only, and a one-shot watch fired on
 * a hot path does not scan the other watchers.
 *
 * Shrinking after a spike.  The tables give memory back as watches go,
 * so one session that set a million watches and left does not pin its
 * high-water mark for the worker's lifetime (issue 8, item 6): a slot or
 * entry vector is halved once it is a quarter full, and when the live
 * paths drop to a quarter of the path table (above SHRINK_MIN slots) the
 * table is compacted: live paths (found through the hash index) move to
 * a new table, each one's watchers'
 * entries are re-pointed through its slots, and the hash index is rebuilt
 * at the new size.  Both rules have a factor of two between growing and
 * shrinking, so the cost stays amortised O(1) per watch.  Compaction runs
 * only at the end of a public call (never inside a loop over the table)
 * and renumbers paths, so it waits while a chunked wchp/wchc listing,
 * which keeps a path index between chunks, handed out a chunk since the
 * last tick (dp_watch_tick retries it); a listing whose reader stalls
 * for over a tick may then miss paths that moved.
 *
 * Closing a connection that holds many watches (issue 8).  Freeing
 * 300,000 entries took 0.1-0.75 s in one go, a stall for every other
 * connection of the worker.  dp_watch_conn_detach instead marks the
 * watcher detached at once (O(1)): no event names it any more (a trigger
 * that meets one of its slots unlinks that slot instead, O(1) each), no
 * listing shows it, and its index is not reused; its entries wait on the
 * detached list and dp_watch_reclaim, called once per worker loop
 * iteration, frees at most its budget of them per call.  A detached
 * watcher's entries still count in dp_watch_counts until freed.
 *
 * Ancestors are visited only while some watch on this worker is
 * recursive (WatchManager.getPathParentIterator does the same).  Each
 * trigger notifies a watcher once (a per-watcher mark stamped with the
 * trigger's sequence number).
 *
 * Single-threaded: the owning worker only.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/session/watch.h"

#define NIL UINT32_MAX
/* The path table is compacted only above this many slots. */
#define SHRINK_MIN 64u
/* A vector is shrunk only above this capacity (elements). */
#define VEC_MIN 8u

struct wslot {
	uint32_t widx; /* watcher */
	uint32_t cidx; /* index of the entry in the watcher's vector */
};

struct wcent {
	uint32_t pidx; /* path */
	uint32_t sidx; /* index of the slot in the path's vector */
	uint8_t bits;
};

struct wpath {
	char *path; /* NUL-terminated copy; NULL while on the free list */
	uint32_t len;
	uint32_t hash;
	uint32_t next; /* hash chain, or free list */
	uint32_t n, cap;
	uint32_t ndata;  /* slots with data bits */
	uint32_t nchild; /* slots with child bits */
	struct wslot *slots;
};

struct wconn {
	int64_t session;
	uint32_t conn;
	uint32_t n, cap;
	uint32_t ndata;
	uint32_t mark;
	uint32_t next_free; /* free list, or the detached list */
	bool used;
	bool detached; /* closed: entries wait for dp_watch_reclaim */
	struct wcent *v;
};

struct dp_watch {
	struct wpath *paths;
	uint32_t paths_len, paths_cap, paths_free, paths_live;
	uint32_t *buckets;
	uint32_t nbuckets; /* power of two */

	struct wconn *conns;
	uint32_t conns_len, conns_cap, conns_free;
	/* Detached watchers (FIFO through next_free) and their entries. */
	uint32_t detached_head, detached_tail;
	uint64_t detached_entries;

	uint32_t mark_seq;
	uint32_t *out;
	uint32_t out_n, out_cap;

	uint64_t data_watches, child_watches, data_paths, data_conns, entries, recursive;
	uint64_t path_bytes;

	/*
	 * Chunked listings (wchp/wchc) keep a path index between chunks, so
	 * no compaction while one may be under way: chunks counts the chunks
	 * handed out, chunks_at_tick its value at the last dp_watch_tick, and
	 * listing is true while a chunk went out during the last tick.
	 */
	uint32_t chunks, chunks_at_tick;
	bool listing;
};

/* ---- hashing and the path table ---- */

static uint32_t hash_path(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ull;
	}
	return (uint32_t)(h ^ (h >> 32));
}

static uint32_t find_path(const struct dp_watch *wm, const char *path, size_t len, uint32_t h)
{
	if (!wm->nbuckets)
		return NIL;
	for (uint32_t i = wm->buckets[h & (wm->nbuckets - 1)]; i != NIL; i = wm->paths[i].next) {
		const struct wpath *wp = &wm->paths[i];
		if (wp->hash == h && wp->len == len && memcmp(wp->path, path, len) == 0)
			return i;
	}
	return NIL;
}

static int grow_buckets(struct dp_watch *wm)
{
	uint32_t nb = wm->nbuckets ? wm->nbuckets * 2 : 64;
	uint32_t *b = malloc((size_t)nb * sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < nb; i++)
		b[i] = NIL;
	for (uint32_t i = 0; i < wm->paths_len; i++) {
		struct wpath *wp = &wm->paths[i];
		if (!wp->path)
			continue;
		wp->next = b[wp->hash & (nb - 1)];
		b[wp->hash & (nb - 1)] = i;
	}
	free(wm->buckets);
	wm->buckets = b;
	wm->nbuckets = nb;
	return 0;
}

/* Interns path; returns its index or NIL on allocation failure. */
static uint32_t intern_path(struct dp_watch *wm, const char *path, size_t len)
{
	uint32_t h = hash_path(path, len);
	uint32_t i = find_path(wm, path, len, h);
	struct wpath *wp;
	char *copy;

	if (i != NIL)
		return i;
	if (len > UINT32_MAX - 1)
		return NIL;
	if (wm->paths_live + 1 > wm->nbuckets && grow_buckets(wm))
		return NIL;
	copy = malloc(len + 1);
	if (!copy)
		return NIL;
	memcpy(copy, path, len);
	copy[len] = '\0';
	if (wm->paths_free != NIL) {
		i = wm->paths_free;
		wm->paths_free = wm->paths[i].next;
	} else {
		if (wm->paths_len == wm->paths_cap) {
			uint32_t nc = wm->paths_cap ? wm->paths_cap * 2 : 64;
			struct wpath *np = realloc(wm->paths, (size_t)nc * sizeof(*np));
			if (!np) {
				free(copy);
				return NIL;
			}
			wm->paths = np;
			wm->paths_cap = nc;
		}
		i = wm->paths_len++;
	}
	wp = &wm->paths[i];
	memset(wp, 0, sizeof(*wp));
	wp->path = copy;
	wp->len = (uint32_t)len;
	wp->hash = h;
	wp->next = wm->buckets[h & (wm->nbuckets - 1)];
	wm->buckets[h & (wm->nbuckets - 1)] = i;
	wm->paths_live++;
	wm->path_bytes += len + 1;
	return i;
}

static void release_path(struct dp_watch *wm, uint32_t i)
{
	struct wpath *wp = &wm->paths[i];
	uint32_t *link = &wm->buckets[wp->hash & (wm->nbuckets - 1)];

	while (*link != i)
		link = &wm->paths[*link].next;
	*link = wp->next;
	wm->path_bytes -= wp->len + 1;
	free(wp->path);
	free(wp->slots);
	memset(wp, 0, sizeof(*wp));
	wp->next = wm->paths_free;
	wm->paths_free = i;
	wm->paths_live--;
}

/* ---- watchers ---- */

struct dp_watch *dp_watch_new(void)
{
	struct dp_watch *wm = calloc(1, sizeof(*wm));

	if (!wm)
		return NULL;
	wm->paths_free = NIL;
	wm->conns_free = NIL;
	wm->detached_head = wm->detached_tail = NIL;
	if (grow_buckets(wm)) {
		free(wm);
		return NULL;
	}
	return wm;
}

void dp_watch_free(struct dp_watch *wm)
{
	if (!wm)
		return;
	for (uint32_t i = 0; i < wm->paths_len; i++) {
		free(wm->paths[i].path);
		free(wm->paths[i].slots);
	}
	for (uint32_t i = 0; i < wm->conns_len; i++)
		free(wm->conns[i].v);
	free(wm->paths);
	free(wm->buckets);
	free(wm->conns);
	free(wm->out);
	free(wm);
}

int dp_watch_conn_new(struct dp_watch *wm, uint32_t conn, int64_t session, uint32_t *widx)
{
	uint32_t i;

	if (wm->conns_free != NIL) {
		i = wm->conns_free;
		wm->conns_free = wm->conns[i].next_free;
	} else {
		if (wm->conns_len == wm->conns_cap) {
			uint32_t nc = wm->conns_cap ? wm->conns_cap * 2 : 16;
			struct wconn *n = realloc(wm->conns, (size_t)nc * sizeof(*n));
			if (!n)
				return -ENOMEM;
			wm->conns = n;
			wm->conns_cap = nc;
		}
		i = wm->conns_len++;
	}
	memset(&wm->conns[i], 0, sizeof(wm->conns[i]));
	wm->conns[i].conn = conn;
	wm->conns[i].session = session;
	wm->conns[i].used = true;
	*widx = i;
	return 0;
}

uint32_t dp_watch_conn_id(const struct dp_watch *wm, uint32_t widx)
{
	return wm->conns[widx].conn;
}

/* ---- entries ---- */

/* Keeps the counters right when an entry's bits go from old to new. */
static void account(struct dp_watch *wm, struct wpath *wp, struct wconn *wc, uint8_t old, uint8_t new)
{
	bool od = old & DP_WATCH_DATA_ANY, nd = new & DP_WATCH_DATA_ANY;
	bool oc = old & DP_WATCH_CHILD_ANY, nc = new & DP_WATCH_CHILD_ANY;
	bool orr = old & DP_WATCH_DATA_RECURSIVE, nr = new & DP_WATCH_DATA_RECURSIVE;

	if (od != nd) {
		if (nd) {
			wm->data_watches++;
			if (wp->ndata++ == 0)
				wm->data_paths++;
			if (wc->ndata++ == 0)
				wm->data_conns++;
		} else {
			wm->data_watches--;
			if (--wp->ndata == 0)
				wm->data_paths--;
			if (--wc->ndata == 0)
				wm->data_conns--;
		}
	}
	if (oc != nc) {
		if (nc) {
			wm->child_watches++;
			wp->nchild++;
		} else {
			wm->child_watches--;
			wp->nchild--;
		}
	}
	if (orr != nr) {
		if (nr)
			wm->recursive++;
		else
			wm->recursive--;
	}
}

/* The entry of widx on path pidx, or NULL: scans the shorter vector. */
static struct wcent *find_entry(const struct dp_watch *wm, uint32_t widx, uint32_t pidx)
{
	const struct wpath *wp = &wm->paths[pidx];
	const struct wconn *wc = &wm->conns[widx];

	if (wp->n <= wc->n) {
		for (uint32_t i = 0; i < wp->n; i++)
			if (wp->slots[i].widx == widx)
				return &wc->v[wp->slots[i].cidx];
	} else {
		for (uint32_t i = 0; i < wc->n; i++)
			if (wc->v[i].pidx == pidx)
				return &wc->v[i];
	}
	return NULL;
}

/* Halves a vector holding n elements once it is a quarter full. */
static void shrink(void **v, uint32_t n, uint32_t *cap, size_t esize)
{
	uint32_t nc = *cap / 2;
	void *p;

	if (*cap <= VEC_MIN || n > *cap / 4)
		return;
	assert(n <= nc);
	p = realloc(*v, (size_t)nc * esize);
	if (!p)
		return; /* keeping the larger block is harmless */
	*v = p;
	*cap = nc;
}

/*
 * Moves the live paths to the front of a table sized for twice their
 * number and rebuilds the hash index; see "Shrinking" above.  On
 * allocation failure the table stays as it was (still correct).
 */
static void compact(struct dp_watch *wm)
{
	uint32_t ncap = 64, nb = 64, j = 0;
	struct wpath *np;
	uint32_t *b;

	/*
	 * Not while detached entries are being freed either: it would run at
	 * every halving of the table during the reclaim (a 1M-path table's
	 * compaction took ~20 ms, longer than a slice); once, at the end.
	 */
	if (wm->listing || wm->detached_head != NIL || wm->paths_cap <= SHRINK_MIN ||
	    wm->paths_live > wm->paths_cap / 4)
		return;
	while (ncap < 2 * wm->paths_live)
		ncap *= 2;
	while (nb < ncap)
		nb *= 2;
	np = malloc((size_t)ncap * sizeof(*np));
	b = malloc((size_t)nb * sizeof(*b));
	if (!np || !b) {
		free(np);
		free(b);
		return;
	}
	for (uint32_t i = 0; i < nb; i++)
		b[i] = NIL;
	/*
	 * The live paths are found through the hash chains: a table left
	 * by two million paths is 96 MB of struct wpath, its index 8 MB, and
	 * walking the table took 15 ms.
	 */
	for (uint32_t h = 0; h < wm->nbuckets; h++) {
		for (uint32_t i = wm->buckets[h], next; i != NIL; i = next) {
			struct wpath *wp = &wm->paths[i];

			next = wp->next;
			assert(wp->path);
			np[j] = *wp;
			for (uint32_t k = 0; k < wp->n; k++) {
				struct wslot *sl = &wp->slots[k];
				struct wcent *e = &wm->conns[sl->widx].v[sl->cidx];

				assert(e->pidx == i);
				e->pidx = j;
			}
			np[j].next = b[wp->hash & (nb - 1)];
			b[wp->hash & (nb - 1)] = j;
			j++;
		}
	}
	assert(j == wm->paths_live);
	free(wm->paths);
	free(wm->buckets);
	wm->paths = np;
	wm->paths_len = j;
	wm->paths_cap = ncap;
	wm->paths_free = NIL;
	wm->buckets = b;
	wm->nbuckets = nb;
}

/* Removes the entry at cidx of watcher widx (bits already accounted to 0). */
static void unlink_entry(struct dp_watch *wm, uint32_t widx, uint32_t cidx, bool free_empty_path)
{
	struct wconn *wc = &wm->conns[widx];
	struct wcent e = wc->v[cidx];
	struct wpath *wp = &wm->paths[e.pidx];
	uint32_t last;

	/* path side: move the last slot into e.sidx */
	last = wp->n - 1;
	if (e.sidx != last) {
		struct wslot moved = wp->slots[last];
		wp->slots[e.sidx] = moved;
		wm->conns[moved.widx].v[moved.cidx].sidx = e.sidx;
	}
	wp->n--;
	/* watcher side: move the last entry into cidx */
	last = wc->n - 1;
	if (cidx != last) {
		struct wcent moved = wc->v[last];
		wc->v[cidx] = moved;
		wm->paths[moved.pidx].slots[moved.sidx].cidx = cidx;
	}
	wc->n--;
	wm->entries--;
	shrink((void **)&wp->slots, wp->n, &wp->cap, sizeof(*wp->slots));
	if (wc->detached)
		wm->detached_entries--; /* its vector goes whole, once empty */
	else
		shrink((void **)&wc->v, wc->n, &wc->cap, sizeof(*wc->v));
	if (free_empty_path && wp->n == 0)
		release_path(wm, e.pidx);
}

static void set_bits(struct dp_watch *wm, uint32_t widx, struct wcent *e, uint8_t bits,
		     bool free_empty_path)
{
	struct wconn *wc = &wm->conns[widx];
	struct wpath *wp = &wm->paths[e->pidx];

	if (e->bits == bits)
		return;
	account(wm, wp, wc, e->bits, bits);
	e->bits = bits;
	if (!bits)
		unlink_entry(wm, widx, (uint32_t)(e - wc->v), free_empty_path);
}

static int grow(void **v, uint32_t *cap, size_t esize)
{
	uint32_t nc = *cap ? *cap * 2 : 2;
	void *n;

	if (*cap > UINT32_MAX / 2)
		return -ENOMEM;
	n = realloc(*v, (size_t)nc * esize);
	if (!n)
		return -ENOMEM;
	*v = n;
	*cap = nc;
	return 0;
}

int dp_watch_add(struct dp_watch *wm, uint32_t widx, const char *path, size_t len, uint8_t bits)
{
	struct wconn *wc = &wm->conns[widx];
	struct wpath *wp;
	struct wcent *e;
	uint32_t pidx;

	bits &= DP_WATCH_ALL;
	if (!bits)
		return 0;
	pidx = intern_path(wm, path, len);
	if (pidx == NIL)
		return -ENOMEM;
	e = find_entry(wm, widx, pidx);
	if (e) {
		set_bits(wm, widx, e, e->bits | bits, true);
		return 0;
	}
	wp = &wm->paths[pidx];
	if ((wp->n == wp->cap && grow((void **)&wp->slots, &wp->cap, sizeof(*wp->slots))) ||
	    (wc->n == wc->cap && grow((void **)&wc->v, &wc->cap, sizeof(*wc->v)))) {
		if (wp->n == 0)
			release_path(wm, pidx);
		return -ENOMEM;
	}
	wp->slots[wp->n] = (struct wslot){ widx, wc->n };
	wc->v[wc->n] = (struct wcent){ pidx, wp->n, 0 };
	wp->n++;
	wc->n++;
	wm->entries++;
	set_bits(wm, widx, &wc->v[wc->n - 1], bits, true);
	return 0;
}

/* Frees a detached watcher's last entries (at most budget); true once it is empty. */
static bool drain_conn(struct dp_watch *wm, uint32_t widx, uint32_t *budget)
{
	struct wconn *wc = &wm->conns[widx];

	assert(wc->detached);
	while (wc->n && *budget) {
		set_bits(wm, widx, &wc->v[wc->n - 1], 0, true);
		(*budget)--;
	}
	return wc->n == 0;
}

/* The empty detached watcher goes to the free list: widx may be reused. */
static void release_conn(struct dp_watch *wm, uint32_t widx)
{
	struct wconn *wc = &wm->conns[widx];

	assert(wc->detached && wc->n == 0);
	free(wc->v);
	memset(wc, 0, sizeof(*wc));
	wc->next_free = wm->conns_free;
	wm->conns_free = widx;
}

void dp_watch_conn_detach(struct dp_watch *wm, uint32_t widx)
{
	struct wconn *wc = &wm->conns[widx];
	uint32_t budget = DP_WATCH_RECLAIM_SLICE;

	assert(wc->used && !wc->detached);
	wc->detached = true;
	wm->detached_entries += wc->n;
	if (wc->n <= budget) {
		/* Small: gone at once, as before. */
		drain_conn(wm, widx, &budget);
		release_conn(wm, widx);
		compact(wm);
		return;
	}
	wc->next_free = NIL;
	if (wm->detached_tail == NIL)
		wm->detached_head = widx;
	else
		wm->conns[wm->detached_tail].next_free = widx;
	wm->detached_tail = widx;
}

uint64_t dp_watch_reclaim(struct dp_watch *wm, uint32_t budget)
{
	bool freed = false;

	while (wm->detached_head != NIL) {
		uint32_t widx = wm->detached_head;

		freed = true;
		if (!drain_conn(wm, widx, &budget))
			break;
		wm->detached_head = wm->conns[widx].next_free;
		if (wm->detached_head == NIL)
			wm->detached_tail = NIL;
		release_conn(wm, widx);
	}
	if (freed)
		compact(wm);
	assert(wm->detached_head != NIL || wm->detached_entries == 0);
	return wm->detached_entries;
}

uint64_t dp_watch_detached(const struct dp_watch *wm)
{
	return wm->detached_entries;
}

void dp_watch_conn_free(struct dp_watch *wm, uint32_t widx)
{
	dp_watch_conn_detach(wm, widx);
	while (dp_watch_reclaim(wm, UINT32_MAX))
		;
}

uint8_t dp_watch_bits(const struct dp_watch *wm, uint32_t widx, const char *path, size_t len)
{
	uint32_t pidx = find_path(wm, path, len, hash_path(path, len));
	const struct wcent *e;

	if (pidx == NIL)
		return 0;
	e = find_entry(wm, widx, pidx);
	return e ? e->bits : 0;
}

/*
 * DataTree.containsWatcher (3.9): Children and Data look for the
 * STANDARD mode of their manager, Persistent for the data manager's
 * PERSISTENT, PersistentRecursive for PERSISTENT_RECURSIVE, Any for any
 * mode in either manager.
 */
static uint8_t wtype_contains_mask(int32_t wtype)
{
	switch (wtype) {
	case DP_WTYPE_CHILDREN:
		return DP_WATCH_CHILD;
	case DP_WTYPE_DATA:
		return DP_WATCH_DATA;
	case DP_WTYPE_PERSISTENT:
		return DP_WATCH_DATA_PERSIST;
	case DP_WTYPE_PERSISTENT_RECURSIVE:
		return DP_WATCH_DATA_RECURSIVE;
	case DP_WTYPE_ANY:
		return DP_WATCH_ALL;
	default:
		return 0;
	}
}

/* DataTree.removeWatch (3.9): Persistent removes the mode from both managers. */
static uint8_t wtype_remove_mask(int32_t wtype)
{
	if (wtype == DP_WTYPE_PERSISTENT)
		return DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST;
	return wtype_contains_mask(wtype);
}

bool dp_watch_contains(const struct dp_watch *wm, uint32_t widx, const char *path, size_t len,
		       int32_t wtype)
{
	return dp_watch_bits(wm, widx, path, len) & wtype_contains_mask(wtype);
}

bool dp_watch_remove(struct dp_watch *wm, uint32_t widx, const char *path, size_t len,
		     int32_t wtype)
{
	uint32_t pidx = find_path(wm, path, len, hash_path(path, len));
	uint8_t mask = wtype_remove_mask(wtype);
	struct wcent *e;

	if (pidx == NIL)
		return false;
	e = find_entry(wm, widx, pidx);
	if (!e || !(e->bits & mask))
		return false;
	set_bits(wm, widx, e, e->bits & ~mask, true);
	compact(wm);
	return true;
}

/* ---- triggering ---- */

static int add_recipient(struct dp_watch *wm, uint32_t widx)
{
	struct wconn *wc = &wm->conns[widx];

	if (wc->mark == wm->mark_seq)
		return 0;
	if (wm->out_n == wm->out_cap && grow((void **)&wm->out, &wm->out_cap, sizeof(*wm->out)))
		return -ENOMEM;
	wc->mark = wm->mark_seq;
	wm->out[wm->out_n++] = widx;
	return 0;
}

static void next_mark(struct dp_watch *wm)
{
	if (++wm->mark_seq == 0) {
		for (uint32_t i = 0; i < wm->conns_len; i++)
			wm->conns[i].mark = 0;
		wm->mark_seq = 1;
	}
}

/* One path's watchers; at_path false for an ancestor. */
static void trigger_path(struct dp_watch *wm, uint32_t pidx, bool at_path, int32_t type)
{
	struct wpath *wp = &wm->paths[pidx];

	/* Downwards: a swap-remove only moves an already visited slot. */
	for (uint32_t i = wp->n; i-- > 0;) {
		struct wslot s = wp->slots[i];
		struct wcent *e = &wm->conns[s.widx].v[s.cidx];
		uint8_t left;

		if (wm->conns[s.widx].detached) {
			set_bits(wm, s.widx, e, 0, false); /* closed: never notified */
			continue;
		}
		if (!dp_watch_fires(e->bits, at_path, type, &left))
			continue;
		/*
		 * Out of memory for the recipient list: the watcher misses
		 * this event, as a client whose connection fails would.
		 */
		(void)add_recipient(wm, s.widx);
		if (left != e->bits)
			set_bits(wm, s.widx, e, left, false);
	}
	if (wp->n == 0)
		release_path(wm, pidx);
}

uint32_t dp_watch_trigger(struct dp_watch *wm, int32_t type, const char *path, size_t len,
			  const uint32_t **out)
{
	uint32_t pidx;

	next_mark(wm);
	wm->out_n = 0;
	pidx = find_path(wm, path, len, hash_path(path, len));
	if (pidx != NIL)
		trigger_path(wm, pidx, true, type);
	/* PathParentIterator.forAll: the parents up to "/". */
	if (wm->recursive && type != ZK_EVENT_NODE_CHILDREN_CHANGED) {
		size_t l = len;
		while (l > 1) {
			while (l > 0 && path[l - 1] != '/')
				l--;
			if (l == 0)
				break;
			size_t plen = l > 1 ? l - 1 : 1; /* "/a/b" -> "/a" -> "/" */
			pidx = find_path(wm, path, plen, hash_path(path, plen));
			if (pidx != NIL)
				trigger_path(wm, pidx, false, type);
			l = plen;
		}
	}
	compact(wm);
	*out = wm->out;
	return wm->out_n;
}

bool dp_watch_has_recursive(const struct dp_watch *wm)
{
	return wm->recursive != 0;
}

uint64_t dp_watch_bytes(const struct dp_watch *wm)
{
	uint64_t bytes = sizeof(*wm);

	bytes += (uint64_t)wm->paths_cap * sizeof(struct wpath);
	bytes += (uint64_t)wm->nbuckets * sizeof(uint32_t);
	bytes += (uint64_t)wm->conns_cap * sizeof(struct wconn);
	bytes += (uint64_t)wm->out_cap * sizeof(uint32_t);
	bytes += wm->path_bytes;
	for (uint32_t i = 0; i < wm->paths_len; i++)
		bytes += (uint64_t)wm->paths[i].cap * sizeof(struct wslot);
	for (uint32_t i = 0; i < wm->conns_len; i++)
		bytes += (uint64_t)wm->conns[i].cap * sizeof(struct wcent);
	return bytes;
}

void dp_watch_counts(const struct dp_watch *wm, struct dp_watch_counts *c)
{
	c->data_watches = wm->data_watches;
	c->child_watches = wm->child_watches;
	c->data_paths = wm->data_paths;
	c->data_conns = wm->data_conns;
	c->paths = wm->paths_live;
	c->entries = wm->entries;
	c->recursive = wm->recursive;
}

/* ---- listings ---- */

/*
 * wchp: per path with data watches "<path>\n", then "\t0x<session>\n"
 * per data watcher.  cur->i is the path index, cur->j 0 before its
 * header, else 1 + the next slot; cur->tag names the path (hash and
 * length) so that a path freed and reused between two chunks is not
 * continued as if it were the same.
 */
static bool describe_paths(const struct dp_watch *wm, struct dp_describe_cursor *cur, size_t budget,
			   struct jute_out *out)
{
	size_t start = out->len;

	for (; cur->i < wm->paths_len; cur->i++, cur->j = 0) {
		const struct wpath *wp = &wm->paths[cur->i];
		uint64_t tag;

		if (!wp->path || !wp->ndata)
			continue;
		tag = (uint64_t)wp->hash << 32 | wp->len;
		if (cur->j == 0) {
			uint32_t k = 0;

			/* A path only detached watchers hold is not listed. */
			while (k < wp->n && (wm->conns[wp->slots[k].widx].detached ||
					     !(wm->conns[wp->slots[k].widx].v[wp->slots[k].cidx].bits &
					       DP_WATCH_DATA_ANY)))
				k++;
			if (k == wp->n)
				continue;
			if (out->len - start >= budget)
				return false;
			jute_put_raw(out, wp->path, wp->len);
			jute_put_raw(out, "\n", 1);
			cur->j = 1 + k;
			cur->tag = tag;
		} else if (cur->tag != tag) {
			continue; /* not the path we were listing: its rest is gone */
		}
		for (; cur->j - 1 < wp->n; cur->j++) {
			const struct wslot *sl = &wp->slots[cur->j - 1];
			const struct wconn *wc = &wm->conns[sl->widx];

			if (wc->detached || !(wc->v[sl->cidx].bits & DP_WATCH_DATA_ANY))
				continue;
			if (out->len - start >= budget)
				return false;
			jute_out_printf(out, "\t0x%" PRIx64 "\n", (uint64_t)wc->session);
		}
	}
	return true;
}

/* wchc: the same walk over connections ("0x<session>\n", "\t<path>\n"). */
static bool describe_conns(const struct dp_watch *wm, struct dp_describe_cursor *cur, size_t budget,
			   struct jute_out *out)
{
	size_t start = out->len;

	for (; cur->i < wm->conns_len; cur->i++, cur->j = 0) {
		const struct wconn *wc = &wm->conns[cur->i];
		uint64_t tag;

		if (!wc->used || wc->detached || !wc->ndata)
			continue;
		tag = (uint64_t)wc->conn << 32 ^ (uint64_t)wc->session;
		if (cur->j == 0) {
			if (out->len - start >= budget)
				return false;
			jute_out_printf(out, "0x%" PRIx64 "\n", (uint64_t)wc->session);
			cur->j = 1;
			cur->tag = tag;
		} else if (cur->tag != tag) {
			continue;
		}
		for (; cur->j - 1 < wc->n; cur->j++) {
			const struct wcent *e = &wc->v[cur->j - 1];
			const struct wpath *wp = &wm->paths[e->pidx];

			if (!(e->bits & DP_WATCH_DATA_ANY))
				continue;
			if (out->len - start >= budget)
				return false;
			jute_put_raw(out, "\t", 1);
			jute_put_raw(out, wp->path, wp->len);
			jute_put_raw(out, "\n", 1);
		}
	}
	return true;
}

bool dp_watch_describe_chunk(struct dp_watch *wm, enum dp_watch_list what,
			     struct dp_describe_cursor *cur, size_t budget, struct jute_out *out)
{
	bool done = true;

	if (what == DP_WATCH_LIST_BY_PATH)
		done = describe_paths(wm, cur, budget, out);
	else if (what == DP_WATCH_LIST_BY_CONN)
		done = describe_conns(wm, cur, budget, out);
	if (!done) {
		wm->chunks++;
		wm->listing = true; /* no compaction until a tick without chunks */
	}
	return done;
}

void dp_watch_tick(struct dp_watch *wm)
{
	wm->listing = wm->chunks != wm->chunks_at_tick;
	wm->chunks_at_tick = wm->chunks;
	compact(wm);
}

void dp_watch_describe(struct dp_watch *wm, enum dp_watch_list what, struct jute_out *out)
{
	struct dp_describe_cursor cur = { 0 };

	if (what == DP_WATCH_LIST_SUMMARY) {
		/* WatchManager.toString() of dataWatches. */
		jute_out_printf(out, "%" PRIu64 " connections watching %" PRIu64 " paths\nTotal watches:%" PRIu64,
			 wm->data_conns, wm->data_paths, wm->data_watches);
		return;
	}
	dp_watch_describe_chunk(wm, what, &cur, SIZE_MAX, out);
}
