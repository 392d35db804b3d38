/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bytes read and written per namespace: ZooKeeper's read_per_namespace
 * and write_per_namespace summary sets (ServerMetrics READ_PER_NAMESPACE
 * and WRITE_PER_NAMESPACE, fed by DataTree.updateReadStat and
 * updateWriteStat), counted where Cheetah reads and applies.
 *
 * The namespace of a path is its first component ("/a/b" -> "a"); "/"
 * has none and is not counted, as PathUtils.getTopNamespace.  A read
 * counts the path's length in UTF-16 code units (Java's String.length())
 * plus the bytes it returned plus NSSTAT_STAT_OVERHEAD (a Stat's 68
 * bytes, DataTree.STAT_OVERHEAD_BYTES); a write the path's length plus
 * its data bytes.
 *
 * Two objects:
 *  - struct nsstat, the registry shared by every table: which namespaces
 *    have a slot.  The first NSSTAT_KEYS namespaces the server counts
 *    (any table, reads or writes, in the order first seen) get slots
 *    0..NSSTAT_KEYS-1 for the rest of the process's life; every later
 *    namespace, and every one longer than NSSTAT_KEY_MAX bytes (never
 *    truncated: two would merge), is counted in the overflow slot
 *    NSSTAT_OTHER, reported under the key NSSTAT_OTHER_KEY, which no
 *    namespace can be (a component holds no '/').  One registry for all
 *    tables, so a namespace is in the same slot on every worker and
 *    merging tables never splits one.
 *  - struct nsstat_tab, one thread's table of one set (reads or writes):
 *    one histogram per slot (common/hist.h, never reset: /metrics'
 *    median, _count and _sum), and the same since srst as ZooKeeper's
 *    default provider shows in mntr (AvgMinMaxCounter: count, sum, min,
 *    max).  Each dataplane worker has a read table; the broadcast core a
 *    read table (the reads it runs) and the write table (tree_apply).
 *
 * Concurrency.  A table has one writer thread (nsstat_add); it stores
 * with relaxed atomic stores, no read-modify-write, and takes no lock
 * for a namespace the registry knows or once the registry is full.  The
 * registry's lookup is lock-free (acquire loads of a bin, then the key
 * written before it was published); adding a namespace takes the
 * registry's mutex, at most NSSTAT_KEYS times in the process's life plus
 * the threads that raced for the same new key.  Any thread may read
 * (nsstat_key, nsstat_merge) at any time: a copy racing an add may hold
 * that add in some fields only (hist.h's rule), which a scrape shows as
 * a figure one add behind.  srst (nsstat_reset, any thread) bumps an
 * epoch; each writer applies it on its next add, and a reader treats a
 * table whose writer has not yet done so as reset.
 *
 * Life cycle: nsstat_new, then nsstat_tab_new per writer (before that
 * writer starts), ..., nsstat_free once every writer has stopped (it
 * frees the tables too).
 */
#ifndef CHEETAH_COMMON_NSSTAT_H
#define CHEETAH_COMMON_NSSTAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"

#define NSSTAT_KEYS 64		       /* namespaces with a slot of their own */
#define NSSTAT_OTHER NSSTAT_KEYS       /* the overflow slot */
#define NSSTAT_SLOTS (NSSTAT_KEYS + 1) /* keys and the overflow */
#define NSSTAT_KEY_MAX 255	       /* bytes of the longest namespace with a slot */
#define NSSTAT_OTHER_KEY "/other"      /* the overflow slot's key */
#define NSSTAT_STAT_OVERHEAD 68	       /* DataTree.STAT_OVERHEAD_BYTES: 6 longs, 5 ints */
#define NSSTAT_MAX_TABS 272	       /* tables per registry (workers and the core's) */

enum nsstat_kind {
	NSSTAT_READ,  /* read_per_namespace */
	NSSTAT_WRITE, /* write_per_namespace */
	NSSTAT_KINDS
};

struct nsstat;
struct nsstat_tab;

/* A new empty registry; NULL when out of memory.  Any thread. */
struct nsstat *nsstat_new(void);

/* Frees the registry and every table made from it (NULL: no-op).  No writer may run. */
void nsstat_free(struct nsstat *ns);

/*
 * A new table of kind for one writer thread, registered with ns (so that
 * nsstat_merge and nsstat_reset see it) and freed by nsstat_free.
 * Returns NULL when out of memory or past NSSTAT_MAX_TABS (logged).  Any
 * thread, before the writer uses it.  About 165 KiB, touched only where
 * namespaces are counted.
 */
struct nsstat_tab *nsstat_tab_new(struct nsstat *ns, enum nsstat_kind kind);

/*
 * Counts an access to path (len bytes of valid UTF-8, as every stored
 * path is) that moved bytes: a read adds NSSTAT_STAT_OVERHEAD.  t NULL,
 * or a path without a namespace ("/"): nothing.  The table's writer only;
 * no allocation, no lock once the namespace has its slot or the registry
 * is full.
 */
void nsstat_add(struct nsstat_tab *t, const char *path, size_t len, uint64_t bytes);

/* Java's String.length() of valid UTF-8: code points, two for those above U+FFFF. */
size_t nsstat_utf16_len(const char *s, size_t len);

/* ZooKeeper's srst (ServerMetrics.resetAll) for every table's since-srst figures.  Any thread. */
void nsstat_reset(struct nsstat *ns);

/* The number of namespaces with a slot (0..NSSTAT_KEYS); slots below it have keys.  Any thread. */
uint32_t nsstat_nkeys(const struct nsstat *ns);

/*
 * Slot i's key (NUL-terminated, valid UTF-8, stable for the registry's
 * life): i < nsstat_nkeys, or NSSTAT_OTHER.  Any thread.
 */
const char *nsstat_key(const struct nsstat *ns, uint32_t i);

/* One slot of one kind, every table summed. */
struct nsstat_fig {
	struct hist h;	/* since start: /metrics (with_hist only) */
	uint64_t total; /* adds since start (0: never counted) */
	uint64_t first; /* order first counted (UINT64_MAX: never) */
	/* since srst (mntr): min and max meaningful when cnt > 0 */
	uint64_t cnt, sum, min, max;
};

/*
 * Sums slot i of every table of kind into *out (hist only when with_hist;
 * its count otherwise 0).  Any thread, any time.
 */
void nsstat_merge(const struct nsstat *ns, enum nsstat_kind kind, uint32_t i, int with_hist,
		  struct nsstat_fig *out);

/*
 * The slots kind has counted, in the iteration order of ZooKeeper's
 * AvgMinMaxCounterSet (a ConcurrentHashMap: bin of the key's
 * String.hashCode, spread, in a table sized for the count as the map
 * grows it, then first counted), which mntr prints.  Fills slots (room
 * for NSSTAT_SLOTS) and returns how many.  Any thread.
 */
uint32_t nsstat_order(const struct nsstat *ns, enum nsstat_kind kind, uint32_t *slots);

/* Java's String.hashCode of s (valid UTF-8, NUL-terminated). */
uint32_t nsstat_java_hash(const char *s);

#endif
