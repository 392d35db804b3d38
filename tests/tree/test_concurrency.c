// SPDX-License-Identifier: Apache-2.0
/*
 * Readers hammer the tree while the writer creates, sets and deletes.
 *
 * Every value the writer stores names its own node and version
 * ("<slot>:<version>"), so a reader can check that what it got is one
 * consistent version: data matches Stat.version and dataLength, a child
 * listing matches numChildren, names are unique.  Memory freed under the
 * readers' feet would show up as garbage here and as errors under ASan;
 * anything not freed at the end shows up as a leak under LeakSanitizer.
 *
 * No sleeps: the writer keeps going until every reader has done enough
 * reads (or a hard cap on writes), and readers stop when the writer says.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu-qsbr.h>
#include <urcu/uatomic.h>

#include "tests/common/leakcheck.h"
#include "tree_test_util.h"
#include "tree/tree_priv.h"

#define SLOTS 256
#define READERS 3
#define MIN_WRITES 60000
#define MAX_WRITES 3000000
#define MIN_READS 20000

static struct tree *t;
static int writer_done;
static unsigned long reads_done[READERS];
static unsigned long bad[READERS];

struct reader_arg {
	int id;
	unsigned seed;
};

static void slot_path(char *buf, size_t n, int slot)
{
	snprintf(buf, n, "/c/n%03d", slot);
}

static void check_node(int id, int slot, const struct tree_node *n)
{
	struct zk_stat st;
	struct jute_buf data;
	char want[32];

	tree_node_read(n, &st, &data);
	snprintf(want, sizeof(want), "%d:%d", slot, st.version);
	if (data.len != (int32_t)strlen(want) || memcmp(data.p, want, (size_t)data.len) != 0 ||
	    st.data_length != data.len || st.mzxid < st.czxid) {
		fprintf(stderr, "reader %d: slot %d version %d data '%.*s'\n", id, slot,
			st.version, data.len > 0 ? data.len : 0, data.p);
		bad[id]++;
	}
}

static void check_children(int id, struct tree_children *kids)
{
	const struct tree_node *c = tree_lookup(t, "/c", 2);
	struct zk_stat st;
	bool seen[SLOTS] = { false };

	if (tree_node_children(t, c, kids, &st) != 0 || kids->count != (uint32_t)st.num_children) {
		bad[id]++;
		return;
	}
	for (uint32_t i = 0; i < kids->count; i++) {
		int k = atoi((const char *)kids->names[i].p + 1);
		if (kids->names[i].len != 4 || k < 0 || k >= SLOTS || seen[k])
			bad[id]++;
		else
			seen[k] = true;
	}
}

static void *reader(void *p)
{
	struct reader_arg *a = p;
	struct tree_children kids = { 0 };
	char path[32];

	urcu_qsbr_register_thread();
	while (!uatomic_read(&writer_done)) {
		int slot = (int)(rand_r(&a->seed) % SLOTS);
		slot_path(path, sizeof(path), slot);
		const struct tree_node *n = tree_lookup(t, path, strlen(path));
		if (n)
			check_node(a->id, slot, n);
		if (slot % 16 == 0)
			check_children(a->id, &kids);
		uatomic_set(&reads_done[a->id], reads_done[a->id] + 1);
		urcu_qsbr_quiescent_state();
	}
	tree_children_release(&kids);
	urcu_qsbr_unregister_thread();
	return NULL;
}

static bool readers_satisfied(void)
{
	for (int i = 0; i < READERS; i++)
		if (uatomic_read(&reads_done[i]) < MIN_READS)
			return false;
	return true;
}

/* One random valid write on a slot, as prep would produce it. */
static void write_one(struct tree_apply_out *out, struct test_acl *acl, unsigned *seed,
		      int64_t zxid, int32_t *versions)
{
	int slot = (int)(rand_r(seed) % SLOTS);
	char path[32], data[32];
	struct tree_txn txn;

	slot_path(path, sizeof(path), slot);
	if (versions[slot] < 0) {
		test_txn(&txn, ZK_OP_CREATE, zxid);
		versions[slot] = 0;
	} else if (rand_r(seed) % 10 < 7) {
		test_txn(&txn, ZK_OP_SETDATA, zxid);
		txn.ops[0].version = ++versions[slot];
	} else {
		test_txn(&txn, ZK_OP_DELETE, zxid);
		versions[slot] = -1;
	}
	snprintf(data, sizeof(data), "%d:%d", slot, versions[slot]);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf(data);
	txn.ops[0].acl = acl->list;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, out), 0);
	cr_assert_eq(out->results[0].err, ZK_OK, "zxid %ld: %d", (long)zxid, out->results[0].err);
}

Test(tree_concurrency, readers_see_consistent_versions_while_writer_runs, .timeout = 240)
{
	struct tree_opts opts = { .max_data = 1 << 20 };
	struct tree_apply_out out = { 0 };
	struct reader_arg args[READERS];
	pthread_t th[READERS];
	int32_t versions[SLOTS];
	struct test_acl acl;
	unsigned seed = 12345;
	int64_t zxid = 1;

	urcu_qsbr_register_thread();
	t = tree_new(&opts);
	cr_assert_not_null(t);
	test_acl_make(&acl, ZK_PERM_ALL, "world", "anyone");
	for (int i = 0; i < SLOTS; i++)
		versions[i] = -1;
	struct tree_txn txn;
	test_txn(&txn, ZK_OP_CREATE, zxid++);
	txn.ops[0].path = test_buf("/c");
	txn.ops[0].acl = acl.list;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);

	for (int i = 0; i < READERS; i++) {
		args[i] = (struct reader_arg){ i, 1000u + (unsigned)i };
		cr_assert_eq(pthread_create(&th[i], NULL, reader, &args[i]), 0);
	}
	long writes = 0;
	while (writes < MAX_WRITES && (writes < MIN_WRITES || !readers_satisfied())) {
		write_one(&out, &acl, &seed, zxid++, versions);
		writes++;
		if (writes % 32 == 0)
			tree_reclaim_flush(t);
		urcu_qsbr_quiescent_state();
	}
	uatomic_set(&writer_done, 1);
	/* Readers need our quiescent states to finish; go offline while joining. */
	urcu_qsbr_thread_offline();
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	urcu_qsbr_thread_online();

	for (int i = 0; i < READERS; i++) {
		cr_assert_eq(bad[i], 0, "reader %d saw %lu inconsistent reads", i, bad[i]);
		cr_assert_geq(reads_done[i], MIN_READS, "reader %d starved", i);
	}
	/* The final tree matches the writer's model exactly. */
	uint64_t live = 0;
	for (int i = 0; i < SLOTS; i++) {
		char path[32];
		slot_path(path, sizeof(path), i);
		const struct tree_node *n = tree_lookup(t, path, strlen(path));
		cr_assert_eq(n != NULL, versions[i] >= 0, "slot %d", i);
		if (n) {
			struct zk_stat st;
			tree_node_read(n, &st, NULL);
			cr_assert_eq(st.version, versions[i]);
			live++;
		}
	}
	cr_assert_eq(tree_node_count(t), 5 + live);
	tree_apply_out_release(&out);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_assert_no_leaks();
}

/*
 * The path index under a real tree: readers look up nodes that stay
 * (and read them) while the writer creates and deletes tens of thousands
 * of others, so the index grows several times and moves entries at its
 * load limit, and deleted nodes' memory goes back to nslab.c after each
 * grace period and is handed out again to new nodes.  A lookup must never
 * miss a node that stays, and a node found under a path must carry that
 * path and a consistent version (a recycled region read too early would
 * not).  The readers above never leave a table of 1024 slots.
 */
enum { GROW_STAY = 2000, GROW_CHURN = 30000, GROW_READERS = 2, GROW_MIN_LOOKUPS = 20000 };

static int grow_done;
static unsigned long grow_lookups[GROW_READERS], grow_bad[GROW_READERS];

static void *grow_reader(void *p)
{
	int id = (int)(intptr_t)p;
	unsigned seed = 77u + (unsigned)id;
	char path[32], want[32];
	struct zk_stat st;
	struct jute_buf data;

	urcu_qsbr_register_thread();
	while (!uatomic_read(&grow_done)) {
		unsigned i = (unsigned)rand_r(&seed) % GROW_STAY;
		snprintf(path, sizeof(path), "/s/%u", i);
		const struct tree_node *n = tree_lookup(t, path, strlen(path));
		if (!n) {
			grow_bad[id]++;
		} else {
			tree_node_read(n, &st, &data);
			snprintf(want, sizeof(want), "%u:%d", i, st.version);
			if (data.len != (int32_t)strlen(want) || memcmp(data.p, want, strlen(want)))
				grow_bad[id]++;
		}
		/*
		 * Churning paths: absent or present, but never another node,
		 * and a node found stays intact until our quiescent state
		 * (checked after the other lookups, while the writer deletes).
		 */
		const struct tree_node *held[8];
		unsigned which[8];
		for (int k = 0; k < 8; k++) {
			which[k] = (unsigned)rand_r(&seed) % GROW_CHURN;
			snprintf(path, sizeof(path), "/g/%u", which[k]);
			held[k] = tree_lookup(t, path, strlen(path));
		}
		for (int k = 0; k < 8; k++) {
			snprintf(path, sizeof(path), "/g/%u", which[k]);
			if (!held[k])
				continue;
			struct jute_buf got = tree_node_path(held[k]);
			tree_node_read(held[k], &st, &data);
			if (got.len != (int32_t)strlen(path) || memcmp(got.p, path, strlen(path)) ||
			    data.len != 8 || memcmp(data.p, "abcdefgh", 8))
				grow_bad[id]++;
		}
		uatomic_set(&grow_lookups[id], grow_lookups[id] + 1);
		urcu_qsbr_quiescent_state();
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

static void grow_op(struct tree_apply_out *out, struct test_acl *acl, int32_t type,
		    const char *path, const char *data, int32_t version, int64_t zxid)
{
	struct tree_txn txn;

	test_txn(&txn, type, zxid);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf(data);
	txn.ops[0].acl = acl->list;
	txn.ops[0].parent_cversion = -1;
	txn.ops[0].version = version;
	cr_assert_eq(tree_apply(t, &txn, out), 0);
	cr_assert_eq(out->results[0].err, ZK_OK, "zxid %ld %s", (long)zxid, path);
}

Test(tree_concurrency, lookups_never_miss_while_the_index_grows_and_nodes_are_recycled,
     .timeout = 240)
{
	struct tree_opts opts = {.max_data = 1 << 20};
	struct tree_apply_out out = {0};
	static bool live[GROW_CHURN];
	static int32_t version[GROW_STAY];
	pthread_t th[GROW_READERS];
	struct test_acl acl;
	char path[32], data[32];
	unsigned seed = 4242;
	int64_t zxid = 1;

	urcu_qsbr_register_thread();
	t = tree_new(&opts);
	cr_assert_not_null(t);
	test_acl_make(&acl, ZK_PERM_ALL, "world", "anyone");
	grow_op(&out, &acl, ZK_OP_CREATE, "/s", NULL, 0, zxid++);
	grow_op(&out, &acl, ZK_OP_CREATE, "/g", NULL, 0, zxid++);
	for (unsigned i = 0; i < GROW_STAY; i++) {
		snprintf(path, sizeof(path), "/s/%u", i);
		snprintf(data, sizeof(data), "%u:0", i);
		grow_op(&out, &acl, ZK_OP_CREATE, path, data, 0, zxid++);
	}
	uint64_t slots0 = pidx_slots(&t->nodes);
	uint32_t moves0 = t->nodes.moves;
	for (int i = 0; i < GROW_READERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, grow_reader, (void *)(intptr_t)i), 0);
	bool satisfied = false;
	for (unsigned round = 0; round < 2 || (!satisfied && round < 20); round++) {
		/* Up to GROW_CHURN live (the index grows); one add in three deletes one. */
		for (unsigned i = 0; i < GROW_CHURN; i++) {
			if (!live[i]) {
				snprintf(path, sizeof(path), "/g/%u", i);
				grow_op(&out, &acl, ZK_OP_CREATE, path, "abcdefgh", 0, zxid++);
				live[i] = true;
			}
			unsigned v = (unsigned)rand_r(&seed) % (i + 1);
			if (i % 3 == 0 && live[v]) {
				snprintf(path, sizeof(path), "/g/%u", v);
				grow_op(&out, &acl, ZK_OP_DELETE, path, NULL, -1, zxid++);
				live[v] = false;
			}
			if (i % 7 == 0) {
				unsigned s = (unsigned)rand_r(&seed) % GROW_STAY;
				snprintf(path, sizeof(path), "/s/%u", s);
				snprintf(data, sizeof(data), "%u:%d", s, ++version[s]);
				grow_op(&out, &acl, ZK_OP_SETDATA, path, data, version[s], zxid++);
			}
			if (i % 64 == 0) {
				/* Batches to call_rcu now: freed regions come back soon. */
				tree_reclaim_flush(t);
				urcu_qsbr_quiescent_state();
			}
		}
		/* Then back down to about a quarter. */
		for (unsigned i = 0; i < GROW_CHURN; i++) {
			if (live[i] && rand_r(&seed) % 4) {
				snprintf(path, sizeof(path), "/g/%u", i);
				grow_op(&out, &acl, ZK_OP_DELETE, path, NULL, -1, zxid++);
				live[i] = false;
			}
			if (i % 64 == 0) {
				tree_reclaim_flush(t);
				urcu_qsbr_quiescent_state();
			}
		}
		satisfied = true;
		for (int i = 0; i < GROW_READERS; i++)
			satisfied &= uatomic_read(&grow_lookups[i]) >= GROW_MIN_LOOKUPS;
	}
	uatomic_set(&grow_done, 1);
	urcu_qsbr_thread_offline();
	for (int i = 0; i < GROW_READERS; i++)
		pthread_join(th[i], NULL);
	urcu_qsbr_thread_online();

	cr_assert_geq(pidx_slots(&t->nodes), 8 * slots0, "the index grew from %llu slots",
		      (unsigned long long)slots0);
	cr_assert_gt(t->nodes.moves - moves0, 0, "no add had to move entries");
	for (int i = 0; i < GROW_READERS; i++) {
		cr_assert_eq(grow_bad[i], 0, "reader %d: %lu of %lu lookups missed or read wrong",
			     i, grow_bad[i], grow_lookups[i]);
		cr_assert_gt(grow_lookups[i], 0, "reader %d never ran", i);
	}
	uint64_t n = 0;
	for (unsigned i = 0; i < GROW_CHURN; i++) {
		snprintf(path, sizeof(path), "/g/%u", i);
		cr_assert_eq(tree_lookup(t, path, strlen(path)) != NULL, live[i], "%s", path);
		n += live[i];
	}
	cr_assert_eq(tree_node_count(t), 4 + 2 + GROW_STAY + n);
	tree_apply_out_release(&out);
	tree_free(t);
	urcu_qsbr_unregister_thread();
	test_assert_no_leaks();
}
