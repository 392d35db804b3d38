// SPDX-License-Identifier: Apache-2.0
/*
 * The AdminServer's restore (repl_restore, replication/restore.c) on a
 * standalone core that is opened but not started: the test thread steps
 * the core (repl_step) as the broadcast thread would while another
 * thread, registered with RCU and offline like the AdminServer's, runs
 * the restore.  What is checked: the restored tree is numbered after both
 * the core's last zxid and its own, is written durable as the newest
 * snapshot before it is installed, is what repl_tree() gives and what
 * every worker is told to switch to, its sessions are tracked; and a
 * core opened again on the directory loads it (the state survives a
 * restart), with the log from before lying behind it.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "replication/repl_core.h"
#include "replication/repl_priv.h"
#include "tests/common/leakcheck.h"

static char tdir[512];
static struct cfg cfg;
static struct repl *R;

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	struct cfg_error err;
	char line[700];

	log_set_level(LOG_LVL_WARN);
	snprintf(tdir, sizeof(tdir), "%s/cheetah-restore-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(tdir));
	urcu_qsbr_register_thread();
	cr_assert_eq(cfg_defaults(&cfg), 0);
	snprintf(line, sizeof(line), "dataDir=%s/data", tdir);
	cr_assert_eq(cfg_set(&cfg, line, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_set(&cfg, "clientPort=2181", &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_set(&cfg, "forceSync=no", &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_finalize(&cfg, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	repl_stop(R);
	R = NULL;
	cfg_free(&cfg);
	urcu_qsbr_unregister_thread();
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	test_fini_no_leaks();
}

TestSuite(repl_restore, .init = setup, .fini = teardown, .timeout = 60);

/* A tree at zxid holding session id and one znode /<name>. */
static struct tree *tree_at(int64_t id, int64_t zxid, const char *name)
{
	struct tree_opts topts = {.max_data = 0xfffff};
	struct tree *t = tree_new(&topts);
	struct zk_stat st = {.czxid = zxid, .mzxid = zxid, .pzxid = zxid};
	const struct tree_node *root;
	struct jute_acl_list acl;
	char path[64];

	cr_assert_not_null(t);
	snprintf(path, sizeof(path), "/%s", name);
	root = tree_lookup(t, "/", 1);
	tree_node_acl(t, root, NULL, &acl);
	cr_assert_eq(
	    tree_import_node(t, (struct jute_buf){(const uint8_t *)path, (int32_t)strlen(path)},
			     &st, (struct jute_buf){(const uint8_t *)"d", 1}, &acl),
	    0);
	cr_assert_eq(tree_import_session(t, id, 6000), 0);
	tree_import_finish(t, zxid);
	return t;
}

struct job {
	struct tree *t;
	int64_t zxid;
	int rc;
	bool done;
};

/* The AdminServer's side: a registered RCU thread, offline. */
static void *restorer(void *arg)
{
	struct job *j = arg;

	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	j->rc = repl_restore(R, j->t, &j->zxid);
	urcu_qsbr_thread_online();
	urcu_qsbr_unregister_thread();
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Runs a restore of t while this thread steps the core; returns its rc. */
static int restore(struct tree *t, int64_t *zxid)
{
	struct job j = {.t = t};
	uint64_t until = clock_mono_ns() + 30ull * 1000000000u;
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, restorer, &j), 0);
	while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE)) {
		cr_assert_lt(clock_mono_ns(), until, "the restore did not finish");
		repl_step(R, clock_mono_ns());
		urcu_qsbr_quiescent_state();
		nanosleep(&(struct timespec){0, 200000}, NULL);
	}
	pthread_join(th, NULL);
	*zxid = j.zxid;
	return j.rc;
}

static bool snapshot_exists(int64_t zxid)
{
	char path[700];
	struct stat st;

	snprintf(path, sizeof(path), "%s/data/" SNAPDIR_SUBDIR "/" SNAPDIR_PREFIX "%016llx", tdir,
		 (unsigned long long)zxid);
	return stat(path, &st) == 0 && st.st_size > 0;
}

Test(repl_restore, numbered_after_both_durable_then_installed_and_reloaded)
{
	struct repl_opts o = {.cfg = &cfg, .nworkers = 2, .core = -1};
	const int64_t s1 = 0x0100000000000007LL;
	struct tree *t = tree_at(s1, 0x300, "restored");
	struct repl_out m;
	int64_t zxid = -1, snap = -1, mtime = -1;

	cr_assert_eq(repl_open(&o, &R), 0);
	cr_assert_eq(repl_last_snapshot(R, &snap, &mtime), -ENOENT, "a fresh data directory");
	R->last_zxid = R->last_applied = 0x500; /* as if 0x500 txns were logged */
	cr_assert_eq(restore(t, &zxid), 0);
	cr_assert_eq(zxid, 0x501, "after the core's last zxid, not the snapshot's 0x300");
	cr_assert_eq(repl_tree(R), t);
	cr_assert_eq(tree_last_zxid(t), 0x501);
	cr_assert_eq(R->last_zxid, 0x501, "the next txn is 0x502");
	cr_assert_not_null(sess_find(R->sess, s1), "the restored sessions are tracked");
	cr_assert(snapshot_exists(0x501), "written durable as the newest snapshot");
	cr_assert_eq(repl_last_snapshot(R, &snap, &mtime), 0);
	cr_assert_eq(snap, 0x501);
	cr_assert_gt(mtime, 1600000000);
	for (uint32_t w = 0; w < 2; w++) {
		cr_assert(ring_pop(repl_out_ring(R, w), &m), "worker %u: told to switch", w);
		cr_assert_eq(m.kind, REPL_OUT_TREE);
		cr_assert_eq(m.body, t);
		repl_out_free(&m);
		repl_tree_switched(R, w, (uint64_t)m.session);
	}

	/* A snapshot whose own zxid is later than the core's: after it. */
	cr_assert_eq(restore(tree_at(s1 + 1, 0x900, "later"), &zxid), 0);
	cr_assert_eq(zxid, 0x901);
	cr_assert(snapshot_exists(0x901));

	/* A restart loads the restored state. */
	repl_stop(R);
	R = NULL;
	cr_assert_eq(repl_open(&o, &R), 0);
	cr_assert_eq(tree_last_zxid(repl_tree(R)), 0x901);
	cr_assert_not_null(tree_lookup(repl_tree(R), "/later", 6));
	cr_assert_null(tree_lookup(repl_tree(R), "/restored", 9), "the newer restore replaced it");
	cr_assert_not_null(sess_find(R->sess, s1 + 1));
	cr_assert_null(sess_find(R->sess, s1));
}

Test(repl_restore, busy_while_another_runs)
{
	struct repl_opts o = {.cfg = &cfg, .nworkers = 1, .core = -1};
	struct repl_restore *fake = (struct repl_restore *)(uintptr_t)1;
	struct tree *t = tree_at(1, 5, "x");
	int64_t zxid = -1;

	cr_assert_eq(repl_open(&o, &R), 0);
	R->restore = fake; /* the slot is taken: no step may see it */
	cr_assert_eq(repl_restore(R, t, &zxid), -EBUSY);
	R->restore = NULL;
	cr_assert_eq(repl_tree(R) != t, true, "nothing installed");
	tree_free(t);
}
