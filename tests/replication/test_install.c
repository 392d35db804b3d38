// SPDX-License-Identifier: Apache-2.0
/*
 * Replacing the broadcast core's tree (repl_install_tree and
 * repl_reclaim_trees, repl_core.h: an ensemble member's live install of
 * its leader's snapshot), on a core that is opened but not started, so
 * the test thread owns it as repl_open's thread does.  What is checked:
 * the new tree is what repl_tree() gives, its sessions are tracked, its
 * zxid published; every worker's ring carries REPL_OUT_TREE naming it
 * (whose body repl_out_free leaves alone); and a replaced tree is freed
 * only once every worker acknowledged a generation at or past the
 * install that replaced it, never before (the invariant that no worker
 * reads a freed tree), also when a second install comes before the
 * first was acknowledged by all.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

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
	snprintf(tdir, sizeof(tdir), "%s/cheetah-install-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(tdir));
	urcu_qsbr_register_thread();
	cr_assert_eq(cfg_defaults(&cfg), 0);
	snprintf(line, sizeof(line), "dataDir=%s/data", tdir);
	cr_assert_eq(cfg_set(&cfg, line, &err), 0, "%s", err.msg);
	snprintf(line, sizeof(line), "dataLogDir=%s/log", tdir);
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

TestSuite(repl_install, .init = setup, .fini = teardown, .timeout = 60);

/* A tree at zxid, holding the one session id. */
static struct tree *tree_with_session(int64_t id, int64_t zxid)
{
	struct tree_opts topts = {.max_data = 0xfffff};
	struct tree_apply_out aout = {0};
	struct tree *t = tree_new(&topts);
	struct tree_prep *prep;
	struct tree_txn h, txn;
	struct jute_out enc;

	cr_assert_not_null(t);
	prep = tree_prep_new(t);
	cr_assert_not_null(prep);
	jute_out_init(&enc, 0);
	txn_hdr(&h, id, 0, zxid);
	tree_prep_create_session(prep, &h, 4000, &enc);
	cr_assert_eq(enc.err, 0);
	cr_assert_eq(tree_txn_decode(enc.buf, enc.len, 0xfffff, &txn), 0);
	cr_assert_eq(tree_apply(t, &txn, &aout), 0);
	tree_txn_release(&txn);
	tree_prep_free(prep);
	jute_out_free(&enc);
	tree_apply_out_release(&aout);
	cr_assert_eq(tree_last_zxid(t), zxid);
	return t;
}

static void expect_tree_msg(uint32_t w, struct tree *t, uint64_t gen, int64_t zxid)
{
	struct repl_out m;

	cr_assert(ring_pop(repl_out_ring(R, w), &m), "worker %u: no message", w);
	cr_assert_eq(m.kind, REPL_OUT_TREE);
	cr_assert_eq(m.body, t);
	cr_assert_eq(m.session, (int64_t)gen);
	cr_assert_eq(m.zxid, zxid);
	repl_out_free(&m); /* never frees the tree */
	cr_assert_null(m.body);
}

Test(repl_install, the_old_tree_lives_until_every_worker_switched)
{
	struct repl_opts o = {.cfg = &cfg, .nworkers = 2, .core = -1};
	const int64_t s1 = 0x0100000000000001LL, s2 = 0x0100000000000002LL;
	struct tree *t1 = tree_with_session(s1, 0x500);
	struct tree *t2 = tree_with_session(s2, 0x600);
	struct tree *t0;

	cr_assert_eq(repl_open(&o, &R), 0);
	t0 = repl_tree(R);
	cr_assert_eq(sess_count(R->sess), 0);

	cr_assert_eq(repl_install_tree(R, t1, 1), 0);
	cr_assert_eq(repl_tree(R), t1);
	cr_assert_eq(R->last_applied, 0x500);
	cr_assert_eq(repl_published_zxid(R), 0x500);
	cr_assert_eq(sess_count(R->sess), 1, "the new tree's sessions are tracked");
	cr_assert_not_null(sess_find(R->sess, s1));
	cr_assert(!sess_find(R->sess, s1)->owned, "no connection holds it here");
	for (uint32_t w = 0; w < 2; w++)
		expect_tree_msg(w, t1, 1, 0x500);
	cr_assert_eq(repl_reclaim_trees(R), 0, "no worker switched yet");
	repl_tree_switched(R, 0, 1);
	cr_assert_eq(repl_reclaim_trees(R), 0, "worker 1 may still read it");
	cr_assert_eq(R->retired->tree, t0);

	/* A second install before every worker acknowledged the first. */
	cr_assert_eq(repl_install_tree(R, t2, 1), 0);
	cr_assert_eq(repl_tree(R), t2);
	cr_assert_null(sess_find(R->sess, s1));
	cr_assert_not_null(sess_find(R->sess, s2));
	for (uint32_t w = 0; w < 2; w++)
		expect_tree_msg(w, t2, 2, 0x600);
	repl_tree_switched(R, 1, 1);
	cr_assert_eq(repl_reclaim_trees(R), 1, "t0: both workers switched past it");
	cr_assert_eq(R->retired->tree, t1);
	cr_assert_null(R->retired->next);
	repl_tree_switched(R, 0, 2);
	cr_assert_eq(repl_reclaim_trees(R), 0, "worker 1 still reads t1");
	repl_tree_switched(R, 1, 2);
	cr_assert_eq(repl_reclaim_trees(R), 1, "t1");
	cr_assert_null(R->retired);
	cr_assert_eq(repl_tree(R), t2); /* repl_stop frees it */
}

/*
 * A fuzzy snapshot's base may precede what the member applied: the
 * published zxid (what the workers take as delivered, dp_session.c drain)
 * drops to the new tree's, and stays at or below it, however far the new
 * tree gets, until every worker switched (publish): a switched worker
 * must never take a txn after the base as in its ring while an earlier
 * message may still sit in an overflow queue behind the old tree's.
 */
Test(repl_install, published_drops_to_the_base_until_every_worker_switched)
{
	struct repl_opts o = {.cfg = &cfg, .nworkers = 2, .core = -1};
	const int64_t s1 = 0x0100000000000001LL, s2 = 0x0100000000000002LL;
	struct tree *t1 = tree_with_session(s1, 0x600);
	struct tree *t2 = tree_with_session(s2, 0x500);

	cr_assert_eq(repl_open(&o, &R), 0);
	cr_assert_eq(repl_install_tree(R, t1, 1), 0);
	cr_assert_eq(repl_published_zxid(R), 0x600);
	for (uint32_t w = 0; w < 2; w++) {
		expect_tree_msg(w, t1, 1, 0x600);
		repl_tree_switched(R, w, 1);
	}
	cr_assert_eq(repl_install_tree(R, t2, 1), 0);
	cr_assert_eq(repl_published_zxid(R), 0x500, "lowered to the new tree's base");
	for (uint32_t w = 0; w < 2; w++)
		expect_tree_msg(w, t2, 2, 0x500);
	R->last_applied = 0x510; /* txns after the base applied (their messages: none here) */
	publish(R);
	cr_assert_eq(repl_published_zxid(R), 0x500, "no worker switched yet");
	repl_tree_switched(R, 0, 2);
	publish(R);
	cr_assert_eq(repl_published_zxid(R), 0x500, "worker 1 has not switched");
	repl_tree_switched(R, 1, 2);
	publish(R);
	cr_assert_eq(repl_published_zxid(R), 0x510);
	cr_assert_eq(repl_reclaim_trees(R), 2);
	cr_assert_eq(repl_tree(R), t2);
}
