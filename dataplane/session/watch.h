/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The watch manager (watch.c): ZooKeeper's WatchManagers of one worker,
 * (connection, path) entries in one interned-path table.  It calls
 * nobody; the protocol layer (session/) and its tests use it.
 *
 * Thread: the worker that owns it; nothing here is shared.
 */
#ifndef CHEETAH_DATAPLANE_SESSION_WATCH_H
#define CHEETAH_DATAPLANE_SESSION_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jute.h"
#include "common/zkdefs.h"

/* Where a chunked listing (wchc, wchp) resumes on one worker; zero: the start. */
struct dp_describe_cursor {
	uint32_t i;   /* table index */
	uint32_t j;   /* 0 before the entry's header line, else 1 + the next item */
	uint64_t tag; /* identity of entry i while j > 0 */
};

/* ================================================================== */
/* The watch manager (watch.c)                                         */
/* ================================================================== */

/*
 * What one connection watches on one path: ZooKeeper's two WatchManagers
 * (dataWatches, childWatches) with their WatchStats modes, merged into
 * one byte.  A connection may hold several modes on one path at once
 * (ZOOKEEPER-4466, the 3.9 WatchManager).
 */
enum {
	DP_WATCH_DATA = 1 << 0,           /* dataWatches STANDARD: getData, exists, setWatches */
	DP_WATCH_DATA_PERSIST = 1 << 1,   /* dataWatches PERSISTENT: addWatch persistent */
	DP_WATCH_DATA_RECURSIVE = 1 << 2, /* dataWatches PERSISTENT_RECURSIVE */
	DP_WATCH_CHILD = 1 << 3,          /* childWatches STANDARD: getChildren(2) */
	DP_WATCH_CHILD_PERSIST = 1 << 4,  /* childWatches PERSISTENT: addWatch persistent */
};
#define DP_WATCH_DATA_ANY (DP_WATCH_DATA | DP_WATCH_DATA_PERSIST | DP_WATCH_DATA_RECURSIVE)
#define DP_WATCH_CHILD_ANY (DP_WATCH_CHILD | DP_WATCH_CHILD_PERSIST)
#define DP_WATCH_ALL (DP_WATCH_DATA_ANY | DP_WATCH_CHILD_ANY)

/*
 * WatcherType of checkWatches/removeWatches, 3.9 numbering (Watcher.java:
 * Children 1, Data 2, Any 3, Persistent 4, PersistentRecursive 5).
 */
enum {
	DP_WTYPE_CHILDREN = 1,
	DP_WTYPE_DATA = 2,
	DP_WTYPE_ANY = 3,
	DP_WTYPE_PERSISTENT = 4,
	DP_WTYPE_PERSISTENT_RECURSIVE = 5,
};

/*
 * WatchManager.triggerWatch's rule for one (connection, path) entry:
 * whether an event of type on `path` notifies a watcher whose bits sit on
 * path itself (at_path) or on one of its ancestors, and which bits remain
 * afterwards (one-shot modes are consumed, persistent ones stay).
 *  - NodeCreated / NodeDataChanged: the data manager at the path (any
 *    data mode), recursive data watches on ancestors.
 *  - NodeChildrenChanged: the child manager at the path only.
 *  - NodeDeleted: both managers at the path (the connection is notified
 *    once: DataTree passes the data manager's watchers as `suppress` to
 *    the child manager), recursive data watches on ancestors.
 * Returns true when the watcher is notified; *left gets the bits kept.
 */
static inline bool dp_watch_fires(uint8_t bits, bool at_path, int32_t type, uint8_t *left)
{
	*left = bits;
	if (!at_path)
		return type != ZK_EVENT_NODE_CHILDREN_CHANGED && (bits & DP_WATCH_DATA_RECURSIVE);
	switch (type) {
	case ZK_EVENT_NODE_CREATED:
	case ZK_EVENT_NODE_DATA_CHANGED:
		*left = bits & ~DP_WATCH_DATA;
		return bits & DP_WATCH_DATA_ANY;
	case ZK_EVENT_NODE_CHILDREN_CHANGED:
		*left = bits & ~DP_WATCH_CHILD;
		return bits & DP_WATCH_CHILD_ANY;
	case ZK_EVENT_NODE_DELETED:
		*left = bits & ~(DP_WATCH_DATA | DP_WATCH_CHILD);
		return bits & DP_WATCH_ALL;
	default:
		return false;
	}
}

struct dp_watch;

/* Counts as ZooKeeper reports them. */
struct dp_watch_counts {
	uint64_t data_watches;  /* dataWatches.size(): (connection, path) pairs */
	uint64_t child_watches; /* childWatches.size() */
	uint64_t data_paths;    /* paths in dataWatches (wchs "watching N paths") */
	uint64_t data_conns;    /* connections in dataWatches (wchs "N connections") */
	uint64_t paths;         /* interned paths (either manager) */
	uint64_t entries;       /* (connection, path) entries, either manager */
	uint64_t recursive;     /* entries holding a recursive watch */
};

/*
 * Creates / frees a worker's watch manager.  dp_watch_new returns NULL on
 * allocation failure.
 */
struct dp_watch *dp_watch_new(void);
void dp_watch_free(struct dp_watch *wm);

/*
 * Registers a watcher (one connection, conn = its dp_conn_id, session for
 * the listings).  Returns 0 and its index in *widx, or -ENOMEM.
 */
int dp_watch_conn_new(struct dp_watch *wm, uint32_t conn, int64_t session, uint32_t *widx);
/*
 * A connection closed: its watcher is detached at once (no event
 * notifies it, no listing shows it, widx is not reused yet), and its
 * entries are freed by dp_watch_reclaim, at once when there are at most
 * DP_WATCH_RECLAIM_SLICE of them.  widx must not be used afterwards.
 */
#define DP_WATCH_RECLAIM_SLICE 4096u
void dp_watch_conn_detach(struct dp_watch *wm, uint32_t widx);
/*
 * Frees at most budget entries of detached watchers (oldest first), then
 * the watchers left empty.  Returns the entries still waiting (0: none).
 * The worker calls it once per loop iteration with DP_WATCH_RECLAIM_SLICE.
 */
uint64_t dp_watch_reclaim(struct dp_watch *wm, uint32_t budget);
/* Entries of detached watchers not freed yet (O(1)). */
uint64_t dp_watch_detached(const struct dp_watch *wm);
/* Detaches and frees everything at once (tests, shutdown). */
void dp_watch_conn_free(struct dp_watch *wm, uint32_t widx);
/* The dp_conn_id a watcher was registered with. */
uint32_t dp_watch_conn_id(const struct dp_watch *wm, uint32_t widx);

/*
 * Adds modes (DP_WATCH_* bits) for widx on path (interned once per
 * worker).  Returns 0 or -ENOMEM (nothing changed).
 */
int dp_watch_add(struct dp_watch *wm, uint32_t widx, const char *path, size_t len, uint8_t bits);

/*
 * checkWatches / removeWatches for a WatcherType (DP_WTYPE_*), as
 * DataTree.containsWatcher / removeWatch in 3.9.  Return whether such a
 * watch existed (removed: whether anything was removed).  The caller has
 * rejected unknown types.
 */
bool dp_watch_contains(const struct dp_watch *wm, uint32_t widx, const char *path, size_t len,
		       int32_t wtype);
bool dp_watch_remove(struct dp_watch *wm, uint32_t widx, const char *path, size_t len,
		     int32_t wtype);

/* Modes widx holds on path (0 when none). */
uint8_t dp_watch_bits(const struct dp_watch *wm, uint32_t widx, const char *path, size_t len);

/*
 * Fires the watches an event of type on path triggers (dp_watch_fires),
 * removing one-shot ones, and returns the watchers to notify, each once,
 * in *out (an array owned by wm, valid until the next call).  Returns
 * their number.
 */
uint32_t dp_watch_trigger(struct dp_watch *wm, int32_t type, const char *path, size_t len,
			  const uint32_t **out);

/* Any recursive watch on this worker (ancestors must be looked at). */
bool dp_watch_has_recursive(const struct dp_watch *wm);

/* The counts (O(1)). */
void dp_watch_counts(const struct dp_watch *wm, struct dp_watch_counts *c);
/* Memory held by the manager, in bytes (walks its tables). */
uint64_t dp_watch_bytes(const struct dp_watch *wm);

/*
 * The four-letter-word listings of the data manager, as DataTree prints
 * them (ZooKeeper lists dataWatches only):
 *  DP_WATCH_LIST_SUMMARY (wchs): "<n> connections watching <m> paths\nTotal watches:<k>"
 *  DP_WATCH_LIST_BY_CONN (wchc): per connection "0x<session hex>\n" then
 *    "\t<path>\n" per path
 *  DP_WATCH_LIST_BY_PATH (wchp): per path "<path>\n" then "\t0x<session hex>\n"
 *    per watcher
 * The command's trailing empty line is the caller's.
 */
enum dp_watch_list {
	DP_WATCH_LIST_SUMMARY = 1,
	DP_WATCH_LIST_BY_CONN,
	DP_WATCH_LIST_BY_PATH,
};
void dp_watch_describe(struct dp_watch *wm, enum dp_watch_list what, struct jute_out *out);
/*
 * The next part of wchc's or wchp's text (as dp_watch_describe prints
 * it) from *cur on (zeroed for the start): whole lines, stopping before
 * the first line that would start once budget bytes are appended.
 * Returns true when the listing is complete.  Between two calls the
 * table may change: the walk goes on by index, and a path or connection
 * replaced mid-listing is skipped (ZooKeeper's listing is not atomic
 * either).
 */
bool dp_watch_describe_chunk(struct dp_watch *wm, enum dp_watch_list what,
			     struct dp_describe_cursor *cur, size_t budget, struct jute_out *out);
/*
 * Once per tick (the worker's dp_proto_tick): the table's compaction,
 * held back while a chunked listing handed out a chunk since the last
 * tick, goes ahead.
 */
void dp_watch_tick(struct dp_watch *wm);

#endif
