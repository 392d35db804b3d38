// SPDX-License-Identifier: Apache-2.0
/*
 * The watch manager alone (dataplane/session/watch.c): every trigger rule of
 * ZooKeeper 3.9's WatchManager pair (one-shot data/exist/child watches,
 * persistent and persistent-recursive ones, several modes on one path),
 * one notification per watcher per trigger, checkWatches/removeWatches
 * per WatcherType, connection drop, the counts and listings, the memory
 * a watch costs, and a randomised comparison against a plain model.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/session/watch.h"
#include "tests/common/leakcheck.h"

static struct dp_watch *wm;

static void setup(void)
{
	wm = dp_watch_new();
	cr_assert_not_null(wm);
}

static void teardown(void)
{
	dp_watch_free(wm);
	test_fini_no_leaks();
}

TestSuite(dp_watch, .init = setup, .fini = teardown, .timeout = 60);

static uint32_t conn(uint32_t id, int64_t session)
{
	uint32_t w;

	cr_assert_eq(dp_watch_conn_new(wm, id, session, &w), 0);
	return w;
}

static void add(uint32_t w, const char *path, uint8_t bits)
{
	cr_assert_eq(dp_watch_add(wm, w, path, strlen(path), bits), 0);
}

/* Fires and returns the recipients as a bitmask of watcher indexes (< 32). */
static uint32_t fire(int32_t type, const char *path)
{
	const uint32_t *out;
	uint32_t n = dp_watch_trigger(wm, type, path, strlen(path), &out);
	uint32_t mask = 0;

	for (uint32_t i = 0; i < n; i++) {
		cr_assert_lt(out[i], 32);
		cr_assert_eq(mask & (1u << out[i]), 0, "watcher %u notified twice", out[i]);
		mask |= 1u << out[i];
	}
	return mask;
}

static uint8_t bits(uint32_t w, const char *path)
{
	return dp_watch_bits(wm, w, path, strlen(path));
}

#define BIT(w) (1u << (w))

Test(dp_watch, data_watch_is_one_shot)
{
	uint32_t a = conn(10, 0x100);

	add(a, "/a", DP_WATCH_DATA);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/a"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/a"), 0);
	cr_assert_eq(dp_watch_conn_id(wm, a), 10);
}

Test(dp_watch, exist_watch_fires_on_create)
{
	uint32_t a = conn(1, 1);

	add(a, "/missing", DP_WATCH_DATA);
	cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/missing"), 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_CREATED, "/missing"), BIT(a));
	cr_assert_eq(bits(a, "/missing"), 0);
}

Test(dp_watch, child_watch_only_on_children_changed_or_deleted)
{
	uint32_t a = conn(1, 1);

	add(a, "/p", DP_WATCH_CHILD);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/p"), 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_CREATED, "/p"), 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/p"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/p"), 0);
	add(a, "/p", DP_WATCH_CHILD);
	cr_assert_eq(fire(ZK_EVENT_NODE_DELETED, "/p"), BIT(a));
	cr_assert_eq(bits(a, "/p"), 0);
}

Test(dp_watch, children_changed_of_parent_does_not_reach_child_watch_of_child)
{
	uint32_t a = conn(1, 1);

	add(a, "/p/c", DP_WATCH_CHILD | DP_WATCH_DATA);
	cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/p"), 0);
	cr_assert_eq(bits(a, "/p/c"), DP_WATCH_CHILD | DP_WATCH_DATA);
}

Test(dp_watch, delete_notifies_data_and_child_watcher_once)
{
	uint32_t a = conn(1, 1), b = conn(2, 2), c = conn(3, 3);

	add(a, "/n", DP_WATCH_DATA | DP_WATCH_CHILD);
	add(b, "/n", DP_WATCH_CHILD);
	add(c, "/n", DP_WATCH_DATA);
	cr_assert_eq(fire(ZK_EVENT_NODE_DELETED, "/n"), BIT(a) | BIT(b) | BIT(c));
	cr_assert_eq(bits(a, "/n"), 0);
	cr_assert_eq(bits(b, "/n"), 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_DELETED, "/n"), 0);
}

Test(dp_watch, persistent_watch_stays_and_sees_data_and_children)
{
	uint32_t a = conn(1, 1);

	add(a, "/p", DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/p"), BIT(a));
		cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/p"), BIT(a));
		cr_assert_eq(fire(ZK_EVENT_NODE_DELETED, "/p"), BIT(a));
		cr_assert_eq(fire(ZK_EVENT_NODE_CREATED, "/p"), BIT(a));
	}
	/* not recursive: nothing from below */
	cr_assert_eq(fire(ZK_EVENT_NODE_CREATED, "/p/c"), 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/p/c"), 0);
	cr_assert_eq(bits(a, "/p"), DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
}

Test(dp_watch, recursive_watch_sees_subtree_but_never_children_changed)
{
	uint32_t a = conn(1, 1);

	add(a, "/a", DP_WATCH_DATA_RECURSIVE);
	cr_assert(dp_watch_has_recursive(wm));
	cr_assert_eq(fire(ZK_EVENT_NODE_CREATED, "/a/b/c"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/a/b/c"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_DELETED, "/a/b"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/a"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_DELETED, "/a"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/a"), 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/a/b"), 0);
	/* a sibling sharing the prefix is not below /a */
	cr_assert_eq(fire(ZK_EVENT_NODE_CREATED, "/ab"), 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_CREATED, "/b/a"), 0);
	cr_assert_eq(bits(a, "/a"), DP_WATCH_DATA_RECURSIVE);
}

Test(dp_watch, recursive_on_root_sees_everything_but_children_changed)
{
	uint32_t a = conn(1, 1);

	add(a, "/", DP_WATCH_DATA_RECURSIVE);
	cr_assert_eq(fire(ZK_EVENT_NODE_CREATED, "/x"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/x/y/z"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/"), BIT(a));
	cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/"), 0);
}

Test(dp_watch, one_notification_per_watcher_per_trigger)
{
	uint32_t a = conn(1, 1), b = conn(2, 2);

	add(a, "/", DP_WATCH_DATA_RECURSIVE);
	add(a, "/x", DP_WATCH_DATA_RECURSIVE | DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	add(a, "/x/y", DP_WATCH_DATA | DP_WATCH_CHILD);
	add(b, "/x/y", DP_WATCH_CHILD);
	/* fire() asserts each watcher appears once */
	cr_assert_eq(fire(ZK_EVENT_NODE_DELETED, "/x/y"), BIT(a) | BIT(b));
	cr_assert_eq(bits(a, "/x/y"), 0, "one-shot watches are consumed");
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/x"), BIT(a));
}

Test(dp_watch, several_modes_on_one_path)
{
	uint32_t a = conn(1, 1);

	/* ZOOKEEPER-4466: a standard watch does not replace a persistent one */
	add(a, "/m", DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	add(a, "/m", DP_WATCH_DATA);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/m"), BIT(a));
	cr_assert_eq(bits(a, "/m"), DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/m"), BIT(a));
}

Test(dp_watch, contains_per_watcher_type)
{
	uint32_t a = conn(1, 1);

	add(a, "/d", DP_WATCH_DATA);
	add(a, "/c", DP_WATCH_CHILD);
	add(a, "/p", DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	add(a, "/r", DP_WATCH_DATA_RECURSIVE);
	struct {
		const char *path;
		bool children, data, any, persistent, recursive;
	} cases[] = {
		{ "/d", false, true, true, false, false },
		{ "/c", true, false, true, false, false },
		{ "/p", false, false, true, true, false },
		{ "/r", false, false, true, false, true },
		{ "/none", false, false, false, false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = cases[i].path;
		size_t l = strlen(p);
		cr_expect_eq(dp_watch_contains(wm, a, p, l, DP_WTYPE_CHILDREN), cases[i].children, "%s", p);
		cr_expect_eq(dp_watch_contains(wm, a, p, l, DP_WTYPE_DATA), cases[i].data, "%s", p);
		cr_expect_eq(dp_watch_contains(wm, a, p, l, DP_WTYPE_ANY), cases[i].any, "%s", p);
		cr_expect_eq(dp_watch_contains(wm, a, p, l, DP_WTYPE_PERSISTENT), cases[i].persistent,
			     "%s", p);
		cr_expect_eq(dp_watch_contains(wm, a, p, l, DP_WTYPE_PERSISTENT_RECURSIVE),
			     cases[i].recursive, "%s", p);
	}
}

Test(dp_watch, remove_per_watcher_type)
{
	uint32_t a = conn(1, 1), b = conn(2, 2);

	add(a, "/x", DP_WATCH_DATA | DP_WATCH_CHILD | DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	add(b, "/x", DP_WATCH_DATA);
	cr_assert(dp_watch_remove(wm, a, "/x", 2, DP_WTYPE_CHILDREN));
	cr_assert(!dp_watch_remove(wm, a, "/x", 2, DP_WTYPE_CHILDREN));
	cr_assert_eq(bits(a, "/x"), DP_WATCH_DATA | DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	cr_assert(dp_watch_remove(wm, a, "/x", 2, DP_WTYPE_DATA));
	cr_assert_eq(bits(a, "/x"), DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	cr_assert(!dp_watch_remove(wm, a, "/x", 2, DP_WTYPE_PERSISTENT_RECURSIVE));
	cr_assert(dp_watch_remove(wm, a, "/x", 2, DP_WTYPE_PERSISTENT));
	cr_assert_eq(bits(a, "/x"), 0);
	cr_assert(!dp_watch_remove(wm, a, "/x", 2, DP_WTYPE_ANY));
	/* b's watch is untouched */
	cr_assert_eq(bits(b, "/x"), DP_WATCH_DATA);
	add(a, "/r", DP_WATCH_DATA_RECURSIVE | DP_WATCH_DATA);
	cr_assert(dp_watch_remove(wm, a, "/r", 2, DP_WTYPE_ANY));
	cr_assert_eq(bits(a, "/r"), 0);
	cr_assert(!dp_watch_has_recursive(wm));
	cr_assert(!dp_watch_remove(wm, a, "/nope", 5, DP_WTYPE_ANY));
}

Test(dp_watch, connection_drop_releases_everything)
{
	uint32_t a = conn(1, 1), b = conn(2, 2);
	struct dp_watch_counts c;

	for (int i = 0; i < 100; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/n%d", i);
		add(a, p, DP_WATCH_DATA | DP_WATCH_CHILD);
		if (i % 2)
			add(b, p, DP_WATCH_DATA_RECURSIVE);
	}
	dp_watch_conn_free(wm, a);
	dp_watch_counts(wm, &c);
	cr_assert_eq(c.entries, 50);
	cr_assert_eq(c.paths, 50);
	cr_assert_eq(c.child_watches, 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/n1"), BIT(b));
	dp_watch_conn_free(wm, b);
	dp_watch_counts(wm, &c);
	cr_assert_eq(c.entries, 0);
	cr_assert_eq(c.paths, 0);
	cr_assert_eq(c.data_watches, 0);
	cr_assert_eq(c.recursive, 0);
	/* indexes are reused */
	uint32_t d = conn(3, 3);
	cr_assert(d == a || d == b);
	add(d, "/n1", DP_WATCH_DATA);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/n1"), BIT(d));
}

/*
 * Issue 8, item 6: after one connection's spike of watches goes, the
 * manager holds about what an empty one does (the path table is
 * compacted, vectors shrink), and the watches that stayed still work.
 */
Test(dp_watch, tables_shrink_after_a_spike_and_survivors_still_fire)
{
	enum { SPIKE = 200000, KEEP = 1000 };
	uint32_t big = conn(1, 1), small = conn(2, 2);
	uint64_t empty = dp_watch_bytes(wm), peak, after;
	struct dp_watch_counts c;
	char p[48];

	for (uint32_t i = 0; i < SPIKE; i++) {
		snprintf(p, sizeof(p), "/spike/n%07u", i);
		add(big, p, DP_WATCH_DATA);
		if (i % (SPIKE / KEEP) == 0)
			add(small, p, DP_WATCH_CHILD);
	}
	peak = dp_watch_bytes(wm);
	dp_watch_conn_free(wm, big);
	after = dp_watch_bytes(wm);
	dp_watch_counts(wm, &c);
	cr_assert_eq(c.entries, KEEP);
	cr_assert_eq(c.paths, KEEP);
	printf("dp_watch spike: %" PRIu64 " bytes empty, %" PRIu64 " at %u watches, %" PRIu64
	       " with %u left\n",
	       empty, peak, SPIKE + KEEP, after, KEEP);
	/*
	 * What KEEP watches cost when set alone: the path table keeps room
	 * for twice the live paths (rounded to a power of two), so up to
	 * ~200 bytes per survivor, against ~115 per watch at the peak.
	 */
	cr_assert_lt(after, empty + (uint64_t)KEEP * 200, "%" PRIu64 " bytes kept", after);
	cr_assert_lt(after * 20, peak);
	/* every survivor is found, fires once and goes (one-shot) */
	for (uint32_t i = 0; i < SPIKE; i += SPIKE / KEEP) {
		snprintf(p, sizeof(p), "/spike/n%07u", i);
		cr_assert_eq(bits(small, p), DP_WATCH_CHILD, "%s", p);
		cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, p), BIT(small), "%s", p);
		cr_assert_eq(bits(small, p), 0);
	}
	dp_watch_counts(wm, &c);
	cr_assert_eq(c.entries, 0);
	cr_assert_eq(c.paths, 0);
	cr_assert_lt(dp_watch_bytes(wm), empty + 4096);
	/* the compacted table grows again */
	add(small, "/again", DP_WATCH_DATA);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/again"), BIT(small));
}

/* A path many connections watched keeps a slot vector sized for those left. */
Test(dp_watch, slot_vector_shrinks_as_watchers_leave)
{
	enum { N = 4096 };
	static uint32_t w[N];
	uint64_t peak, after;

	for (uint32_t i = 0; i < N; i++) {
		w[i] = conn(i, i);
		add(w[i], "/hot", DP_WATCH_DATA);
	}
	peak = dp_watch_bytes(wm);
	for (uint32_t i = 1; i < N; i++)
		cr_assert(dp_watch_remove(wm, w[i], "/hot", 4, DP_WTYPE_DATA));
	after = dp_watch_bytes(wm);
	cr_assert_lt(after + (uint64_t)N * 8 / 2, peak, "%" PRIu64 " -> %" PRIu64, peak, after);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/hot"), 1u);
}

Test(dp_watch, counts_as_zookeeper_reports_them)
{
	uint32_t a = conn(1, 1), b = conn(2, 2);
	struct dp_watch_counts c;

	add(a, "/x", DP_WATCH_DATA);
	add(a, "/x", DP_WATCH_CHILD);
	add(a, "/y", DP_WATCH_CHILD);
	add(b, "/x", DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST);
	add(b, "/z", DP_WATCH_DATA_RECURSIVE);
	dp_watch_counts(wm, &c);
	cr_assert_eq(c.data_watches, 3);  /* a:/x, b:/x, b:/z */
	cr_assert_eq(c.child_watches, 3); /* a:/x, a:/y, b:/x */
	cr_assert_eq(c.data_paths, 2);
	cr_assert_eq(c.data_conns, 2);
	cr_assert_eq(c.paths, 3);
	cr_assert_eq(c.entries, 4);
	cr_assert_eq(c.recursive, 1);
}

Test(dp_watch, listings_in_zookeeper_format)
{
	uint32_t a = conn(1, 0x1234), b = conn(2, (int64_t)0xff00000000000001ULL);
	struct jute_out out;

	add(a, "/x", DP_WATCH_DATA);
	add(a, "/c", DP_WATCH_CHILD); /* child watches are not listed */
	add(b, "/x", DP_WATCH_DATA_RECURSIVE);

	jute_out_init(&out, 0);
	dp_watch_describe(wm, DP_WATCH_LIST_SUMMARY, &out);
	cr_assert_eq(out.len, strlen("2 connections watching 1 paths\nTotal watches:2"));
	cr_assert(memcmp(out.buf, "2 connections watching 1 paths\nTotal watches:2", out.len) == 0);

	out.len = 0;
	dp_watch_describe(wm, DP_WATCH_LIST_BY_PATH, &out);
	const char *wchp = "/x\n\t0x1234\n\t0xff00000000000001\n";
	const char *wchp2 = "/x\n\t0xff00000000000001\n\t0x1234\n";
	cr_assert(out.len == strlen(wchp) &&
		  (!memcmp(out.buf, wchp, out.len) || !memcmp(out.buf, wchp2, out.len)),
		  "%.*s", (int)out.len, (char *)out.buf);

	out.len = 0;
	dp_watch_describe(wm, DP_WATCH_LIST_BY_CONN, &out);
	const char *wchc = "0x1234\n\t/x\n0xff00000000000001\n\t/x\n";
	cr_assert(out.len == strlen(wchc) && !memcmp(out.buf, wchc, out.len), "%.*s",
		  (int)out.len, (char *)out.buf);
	jute_out_free(&out);
}

/* The whole listing of word, asked budget bytes at a time. */
static void listing_in_chunks(enum dp_watch_list word, size_t budget, struct jute_out *out)
{
	struct dp_describe_cursor cur = { 0 };
	int calls = 0;

	while (!dp_watch_describe_chunk(wm, word, &cur, budget, out))
		cr_assert_lt(++calls, 100000, "no progress");
}

Test(dp_watch, chunked_listings_equal_the_whole_one)
{
	uint32_t w[5];
	struct jute_out whole, part;
	char path[32];

	for (uint32_t i = 0; i < 5; i++)
		w[i] = conn(i + 1, 0x100 + i);
	for (uint32_t k = 0; k < 200; k++) {
		snprintf(path, sizeof(path), "/p/%u", k);
		for (uint32_t i = 0; i < 5; i++)
			if ((k + i) % 3)
				add(w[i], path, k % 7 ? DP_WATCH_DATA : DP_WATCH_CHILD);
	}
	jute_out_init(&whole, 0);
	jute_out_init(&part, 0);
	for (int word = 0; word < 2; word++) {
		const char *name = word ? "wchc" : "wchp";
		enum dp_watch_list what = word ? DP_WATCH_LIST_BY_CONN : DP_WATCH_LIST_BY_PATH;

		whole.len = 0;
		dp_watch_describe(wm, what, &whole);
		cr_assert_gt(whole.len, 1000);
		for (size_t budget = 1; budget < 300; budget = budget * 3 + 1) {
			part.len = 0;
			listing_in_chunks(what, budget, &part);
			cr_assert(part.len == whole.len && !memcmp(part.buf, whole.buf, part.len),
				  "%s in chunks of %zu", name, budget);
		}
	}
	jute_out_free(&whole);
	jute_out_free(&part);
}

Test(dp_watch, chunked_listing_survives_changes_between_chunks)
{
	uint32_t a = conn(1, 0xa), b = conn(2, 0xb), c = conn(3, 0xc);
	struct dp_describe_cursor cur = { 0 };
	struct jute_out out;

	add(a, "/one", DP_WATCH_DATA);
	add(b, "/one", DP_WATCH_DATA);
	add(c, "/one", DP_WATCH_DATA);
	add(a, "/two", DP_WATCH_DATA);
	jute_out_init(&out, 0);
	/* "/one\n" and its first watcher, then the path goes and another takes its slot. */
	cr_assert_not(dp_watch_describe_chunk(wm, DP_WATCH_LIST_BY_PATH, &cur, 8, &out));
	fire(ZK_EVENT_NODE_DELETED, "/one");
	add(b, "/three", DP_WATCH_DATA);
	while (!dp_watch_describe_chunk(wm, DP_WATCH_LIST_BY_PATH, &cur, 8, &out))
		;
	/*
	 * "/three" took "/one"'s slot: it is skipped, not listed as if its
	 * watchers were "/one"'s; "/two" (there throughout) is listed; every
	 * line is whole.
	 */
	cr_assert(out.len > 8 && !memcmp(out.buf, "/one\n\t0x", 8), "%.*s", (int)out.len,
		  (char *)out.buf);
	cr_assert_eq(out.buf[out.len - 1], '\n');
	cr_assert_not_null(memmem(out.buf, out.len, "/two\n\t0xa\n", 10), "%.*s",
			   (int)out.len, (char *)out.buf);
	cr_assert_null(memmem(out.buf, out.len, "/three", 6), "%.*s", (int)out.len,
		       (char *)out.buf);
	for (size_t i = 0; i < out.len; i++)
		if (i == 0 || out.buf[i - 1] == '\n')
			cr_assert(out.buf[i] == '/' || !memcmp(out.buf + i, "\t0x", 3));
	jute_out_free(&out);
}

Test(dp_watch, memory_per_watch_is_tens_of_bytes)
{
	enum { CONNS = 1000, PATHS = 100 };
	struct dp_watch_counts c;
	uint32_t w[CONNS];

	for (uint32_t i = 0; i < CONNS; i++)
		w[i] = conn(i, i + 1);
	for (uint32_t j = 0; j < PATHS; j++) {
		char p[64];
		snprintf(p, sizeof(p), "/service/locks/lock-%010u", j);
		for (uint32_t i = 0; i < CONNS; i++)
			add(w[i], p, DP_WATCH_DATA);
	}
	dp_watch_counts(wm, &c);
	cr_assert_eq(c.entries, (uint64_t)CONNS * PATHS);
	uint64_t bytes = dp_watch_bytes(wm);
	double per = (double)bytes / (double)c.entries;
	cr_log_info("watch manager: %" PRIu64 " watches, %" PRIu64 " bytes, %.1f bytes per watch",
		    c.entries, bytes, per);
	printf("dp_watch memory: %.1f bytes per watch (%" PRIu64 " watches)\n", per, c.entries);
	cr_assert_lt(per, 48.0);
	/* all fire: each path once, each connection notified */
	for (uint32_t j = 0; j < PATHS; j++) {
		char p[64];
		const uint32_t *out;
		snprintf(p, sizeof(p), "/service/locks/lock-%010u", j);
		cr_assert_eq(dp_watch_trigger(wm, ZK_EVENT_NODE_DELETED, p, strlen(p), &out), CONNS);
	}
	dp_watch_counts(wm, &c);
	cr_assert_eq(c.entries, 0);
	cr_assert_eq(c.paths, 0);
}

/*
 * Random operations against a dense model of bits[conn][path]: adds,
 * removals, triggers (with the model computing recipients by the rule),
 * connection drops.  Exercises the swap-removes on both sides.
 */
Test(dp_watch, random_operations_match_model)
{
	enum { NC = 8, NP = 12, STEPS = 20000 };
	static const char *paths[NP] = { "/", "/a", "/a/b", "/a/b/c", "/a/c", "/b", "/b/a",
					 "/b/a/x", "/c", "/ab", "/a/bc", "/b/b" };
	uint8_t model[NC][NP] = { { 0 } };
	uint32_t widx[NC];
	bool live[NC];
	uint64_t rng = 88172645463325252ull;

	for (int i = 0; i < NC; i++) {
		widx[i] = conn((uint32_t)i, i);
		live[i] = true;
	}
	for (int step = 0; step < STEPS; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		int c = (int)(rng % NC), pi = (int)((rng >> 8) % NP), op = (int)((rng >> 16) % 10);
		const char *p = paths[pi];
		size_t l = strlen(p);

		if (!live[c]) {
			cr_assert_eq(dp_watch_conn_new(wm, (uint32_t)c, c, &widx[c]), 0);
			live[c] = true;
			memset(model[c], 0, sizeof(model[c]));
			continue;
		}
		if (op < 4) {
			uint8_t b = (uint8_t)(1u << ((rng >> 24) % 5));
			add(widx[c], p, b);
			model[c][pi] |= b;
		} else if (op < 6) {
			int32_t wt = (int32_t)((rng >> 24) % 5) + 1;
			uint8_t mask = wt == DP_WTYPE_CHILDREN ? DP_WATCH_CHILD
				: wt == DP_WTYPE_DATA ? DP_WATCH_DATA
				: wt == DP_WTYPE_PERSISTENT ? (DP_WATCH_DATA_PERSIST | DP_WATCH_CHILD_PERSIST)
				: wt == DP_WTYPE_PERSISTENT_RECURSIVE ? DP_WATCH_DATA_RECURSIVE
				: DP_WATCH_ALL;
			bool had = model[c][pi] & mask;
			cr_assert_eq(dp_watch_remove(wm, widx[c], p, l, wt), had);
			model[c][pi] &= (uint8_t)~mask;
		} else if (op < 9) {
			static const int32_t types[] = { ZK_EVENT_NODE_CREATED, ZK_EVENT_NODE_DELETED,
							 ZK_EVENT_NODE_DATA_CHANGED,
							 ZK_EVENT_NODE_CHILDREN_CHANGED };
			int32_t type = types[(rng >> 24) % 4];
			uint32_t want = 0;
			for (int k = 0; k < NC; k++) {
				if (!live[k])
					continue;
				for (int q = 0; q < NP; q++) {
					size_t ql = strlen(paths[q]);
					bool at = q == pi;
					bool anc = !at && ql < l &&
						   (ql == 1 || (memcmp(paths[q], p, ql) == 0 && p[ql] == '/'));
					uint8_t left;
					if (!at && !anc)
						continue;
					if (dp_watch_fires(model[k][q], at, type, &left)) {
						want |= BIT(widx[k]);
					}
					if (at)
						model[k][q] = left;
				}
			}
			cr_assert_eq(fire(type, p), want, "step %d type %d %s", step, type, p);
		} else {
			dp_watch_conn_free(wm, widx[c]);
			live[c] = false;
			memset(model[c], 0, sizeof(model[c]));
		}
		for (int k = 0; k < NC; k++)
			for (int q = 0; live[k] && q < NP; q++)
				cr_assert_eq(bits(widx[k], paths[q]), model[k][q], "step %d conn %d %s", step,
					     k, paths[q]);
	}
}

/*
 * A chunked listing keeps a path index between chunks: the table is not
 * compacted under it (a spike's connection leaving mid-listing must not
 * make the listing skip paths that stayed), and is once a tick passes
 * without a chunk.
 */
Test(dp_watch, compaction_waits_for_a_chunked_listing)
{
	enum { SPIKE = 5000, KEEP = 50 };
	uint32_t keep = conn(1, 0x1), big = conn(2, 0x2);
	struct dp_describe_cursor cur = { 0 };
	struct jute_out out;
	uint64_t before;
	char p[48];
	int listed = 0;

	for (uint32_t i = 0; i < SPIKE; i++) {
		snprintf(p, sizeof(p), "/s/%05u", i);
		add(big, p, DP_WATCH_DATA);
	}
	for (uint32_t i = 0; i < KEEP; i++) {
		snprintf(p, sizeof(p), "/t/%05u", i);
		add(keep, p, DP_WATCH_DATA);
	}
	jute_out_init(&out, 0);
	cr_assert(!dp_watch_describe_chunk(wm, DP_WATCH_LIST_BY_PATH, &cur, 64, &out), "more than one chunk");
	before = dp_watch_bytes(wm);
	dp_watch_conn_free(wm, big); /* would compact: 50 of 5050 paths left */
	cr_assert_gt(dp_watch_bytes(wm) * 2, before, "compacted under the listing");
	while (!dp_watch_describe_chunk(wm, DP_WATCH_LIST_BY_PATH, &cur, 64, &out))
		;
	for (size_t i = 0; i + 3 <= out.len; i++)
		listed += !memcmp(out.buf + i, "/t/", 3);
	cr_assert_eq(listed, KEEP, "%d of the %d paths that stayed listed", listed, KEEP);
	dp_watch_tick(wm); /* a chunk went out during this tick: still held */
	cr_assert_gt(dp_watch_bytes(wm) * 2, before);
	dp_watch_tick(wm); /* a tick without chunks */
	cr_assert_lt(dp_watch_bytes(wm) * 10, before, "not compacted after the listing");
	jute_out_free(&out);
}

/*
 * Issue 8: closing a connection with 300,000 watches used to free them
 * all in one call (0.1-0.75 s during which the worker served no one).
 * Detaching is O(1) and stops its events and its listing at once; the
 * entries go DP_WATCH_RECLAIM_SLICE at a time, one slice per
 * dp_watch_reclaim (once per worker loop iteration), and its index is
 * reused only once they are all gone.
 */
Test(dp_watch, detach_stops_events_at_once_and_frees_in_bounded_slices)
{
	enum { BIG = 300000 };
	uint32_t big = conn(1, 0xb16), other = conn(2, 0x0e);
	struct dp_watch_counts c;
	struct jute_out out;
	uint64_t left, prev = BIG + 2, calls = 0;
	char p[48];

	for (uint32_t i = 0; i < BIG; i++) {
		snprintf(p, sizeof(p), "/w/%06u", i);
		add(big, p, DP_WATCH_DATA | (i % 3 ? 0 : DP_WATCH_DATA_RECURSIVE));
	}
	add(big, "/shared", DP_WATCH_DATA);
	add(other, "/shared", DP_WATCH_DATA);
	add(big, "/w", DP_WATCH_DATA_RECURSIVE);
	cr_assert_eq(dp_watch_detached(wm), 0);

	dp_watch_conn_detach(wm, big);
	cr_assert_eq(dp_watch_detached(wm), BIG + 2, "nothing freed at detach");
	/* no event reaches it any more, at the path or through an ancestor */
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/shared"), BIT(other));
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/w/000003"), 0);
	cr_assert_eq(fire(ZK_EVENT_NODE_DELETED, "/w/000004/x"), 0);
	/* the slots those triggers met are unlinked on the way (/shared, /w/000003, /w, /w/000004) */
	cr_assert_eq(dp_watch_detached(wm), BIG + 2 - 4);
	/* no listing shows it */
	jute_out_init(&out, 0);
	dp_watch_describe(wm, DP_WATCH_LIST_BY_CONN, &out);
	cr_assert_eq(out.len, 0, "wchc lists a detached watcher: %.*s", (int)out.len, out.buf);
	dp_watch_describe(wm, DP_WATCH_LIST_BY_PATH, &out);
	cr_assert_eq(out.len, 0, "wchp lists a detached watcher");
	jute_out_free(&out);
	/* a new connection does not get its index while entries remain */
	uint32_t fresh = conn(3, 0x3);
	cr_assert_neq(fresh, big);
	add(fresh, "/w/000007", DP_WATCH_DATA);
	cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/w/000007"), BIT(fresh));

	/* each call frees at most its budget */
	prev = dp_watch_detached(wm);
	while ((left = dp_watch_reclaim(wm, DP_WATCH_RECLAIM_SLICE)) != 0) {
		cr_assert_geq(left + DP_WATCH_RECLAIM_SLICE, prev, "%" PRIu64 " -> %" PRIu64, prev, left);
		cr_assert_lt(left, prev);
		calls++;
		cr_assert_eq(fire(ZK_EVENT_NODE_DATA_CHANGED, "/w/299999"), 0);
		prev = dp_watch_detached(wm);
	}
	cr_assert_geq(calls, (BIG - 2) / DP_WATCH_RECLAIM_SLICE, "%" PRIu64 " calls", calls);
	dp_watch_counts(wm, &c);
	/* everything went: the others' one-shot watches fired above */
	cr_assert_eq(c.entries, 0);
	cr_assert_eq(c.paths, 0);
	cr_assert_eq(c.data_watches, 0);
	cr_assert_eq(c.recursive, 0);
	cr_assert_eq(bits(other, "/shared"), 0);
	/* now its index is free again */
	uint32_t again = conn(4, 0x4);
	cr_assert_eq(again, big);
	add(again, "/shared", DP_WATCH_CHILD);
	cr_assert_eq(fire(ZK_EVENT_NODE_CHILDREN_CHANGED, "/shared"), BIT(again));
}

/* A connection with few watches is freed at once, as before. */
Test(dp_watch, small_detach_is_freed_at_once)
{
	uint32_t a = conn(1, 1);
	struct dp_watch_counts c;

	for (int i = 0; i < (int)DP_WATCH_RECLAIM_SLICE; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/n%d", i);
		add(a, p, DP_WATCH_DATA);
	}
	dp_watch_conn_detach(wm, a);
	cr_assert_eq(dp_watch_detached(wm), 0);
	dp_watch_counts(wm, &c);
	cr_assert_eq(c.entries, 0);
	cr_assert_eq(conn(2, 2), a);
}
