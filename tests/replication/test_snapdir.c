// SPDX-License-Identifier: Apache-2.0
/*
 * Snapshot files: the worker writes snapshot.<zxid> atomically (tmp,
 * fsync, rename), loading takes the newest that loads and sets damaged
 * ones aside as .corrupt, unfinished .tmp and .recv files are deleted at
 * open, a received snapshot is written at its offsets and named once
 * whole, one job at a time (-EBUSY), failed writes leave nothing behind, and purge
 * keeps the retain newest snapshots and the log files they need.
 *
 * This executable defines fsync(): snapdir's calls bind to it, so a test
 * can hold the worker inside one (a gate, to see -EBUSY deterministically)
 * or make it fail.  Waits are bounded; nothing sleeps to synchronise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/byteorder.h"
#include "common/clock.h"
#include "common/log.h"
#include "replication/repl_priv.h"
#include "replication/txlog.h"
#include "tests/common/leakcheck.h"

/* ---- fsync interposition ---- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static int gate_waiting;
static bool fsync_fail;

int fsync(int fd)
{
	struct timespec dl;

	pthread_mutex_lock(&gate_mu);
	if (gate_closed) {
		gate_waiting++;
		pthread_cond_broadcast(&gate_cv);
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 10;
		while (gate_closed)
			if (pthread_cond_timedwait(&gate_cv, &gate_mu, &dl) == ETIMEDOUT)
				break;
		gate_waiting--;
	}
	pthread_mutex_unlock(&gate_mu);
	if (__atomic_load_n(&fsync_fail, __ATOMIC_SEQ_CST)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

static void gate_set(bool closed)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static void gate_wait_held(void)
{
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&gate_mu);
	while (!gate_waiting && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&gate_cv, &gate_mu, &dl);
	pthread_mutex_unlock(&gate_mu);
	cr_assert_eq(rc, 0, "the worker never reached fsync");
}

/* ---- Fixture ---- */

static char tdir[512], sdir[600];
static struct tree_opts topts = {.max_data = 0xfffff};

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

	log_set_level(LOG_LVL_ERROR);
	snprintf(tdir, sizeof(tdir), "%s/cheetah-snapdir-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(tdir));
	snprintf(sdir, sizeof(sdir), "%s/%s", tdir, SNAPDIR_SUBDIR);
	urcu_qsbr_register_thread();
	gate_set(false);
	__atomic_store_n(&fsync_fail, false, __ATOMIC_SEQ_CST);
}

static void teardown(void)
{
	gate_set(false);
	urcu_qsbr_unregister_thread();
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	test_fini_no_leaks();
}

TestSuite(snapdir, .init = setup, .fini = teardown, .timeout = 60);

/* Applies createSession + n creates "/s<i>" from zxid first on. */
static int64_t grow_tree(struct tree *t, int64_t first, int n)
{
	struct tree_apply_out out = {0};
	uint8_t acl[64];
	struct jute_out o;
	int64_t z = first;

	jute_out_init_fixed(&o, acl, sizeof(acl));
	jute_put_int(&o, 1);
	jute_put_int(&o, ZK_PERM_ALL);
	jute_put_string(&o, "world");
	jute_put_string(&o, "anyone");
	for (int i = 0; i < n; i++, z++) {
		struct tree_txn txn = {0};
		char path[32];

		snprintf(path, sizeof(path), "/s%" PRId64, z);
		txn.session = 0x100;
		txn.zxid = z;
		txn.time = 1000 + z;
		txn.type = ZK_OP_CREATE;
		txn.nops = 1;
		txn.ops = &txn.inline_op;
		txn.inline_op.type = ZK_OP_CREATE;
		txn.inline_op.parent_cversion = -1;
		txn.inline_op.path =
		    (struct jute_buf){(const uint8_t *)path, (int32_t)strlen(path)};
		txn.inline_op.data = (struct jute_buf){(const uint8_t *)"d", 1};
		txn.inline_op.acl = (struct jute_acl_list){acl, (uint32_t)o.len, 1};
		cr_assert_eq(tree_apply(t, &txn, &out), 0);
		cr_assert_eq(out.results[0].err, ZK_OK);
	}
	tree_apply_out_release(&out);
	return z - 1;
}

static void wait_jobs(struct snapdir *sd, uint64_t snapshots, uint64_t errors, uint64_t purges)
{
	struct snapdir_stats st;
	uint64_t end = clock_mono_ns() + 10000000000ull;

	do {
		snapdir_stats(sd, &st);
		if (st.snapshots >= snapshots && st.snapshot_errors >= errors &&
		    st.purges >= purges && !st.busy)
			return;
		urcu_qsbr_thread_offline();
		sched_yield();
		urcu_qsbr_thread_online();
	} while (clock_mono_ns() < end);
	cr_assert_fail("jobs not done: %" PRIu64 " snapshots, %" PRIu64 " errors, %" PRIu64
		       " purges",
		       st.snapshots, st.snapshot_errors, st.purges);
}

static bool file_exists(const char *name)
{
	char p[800];

	snprintf(p, sizeof(p), "%s/%s", sdir, name);
	return access(p, F_OK) == 0;
}

static int count_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void snapshot_now(struct snapdir *sd, struct tree *t, uint64_t nth)
{
	cr_assert_eq(snapdir_request_snapshot(sd, t), 0);
	wait_jobs(sd, nth, 0, 0);
}

Test(snapdir, empty_directory_has_nothing_to_load)
{
	struct snapdir *sd;
	struct tree *t;
	int64_t z;

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	cr_assert_eq(snapdir_load(sd, &topts, &t, &z), -ENOENT);
	snapdir_close(sd);
	test_assert_no_leaks();
}

Test(snapdir, snapshot_round_trip_names_the_file_by_zxid)
{
	struct snapdir *sd;
	struct tree *t = tree_new(&topts), *back;
	struct snapdir_stats st;
	int64_t z, last;

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	last = grow_tree(t, 1, 50);
	snapshot_now(sd, t, 1);
	snapdir_stats(sd, &st);
	cr_assert_eq(st.last_zxid, last);
	cr_assert(file_exists("snapshot.0000000000000032"));
	cr_assert_eq(count_prefix(sdir, "snapshot."), 1, "no .tmp left");
	cr_assert_eq(snapdir_load(sd, &topts, &back, &z), 0);
	cr_assert_eq(z, 50);
	cr_assert_eq(tree_digest(back), tree_digest(t));
	cr_assert_eq(tree_node_count(back), tree_node_count(t));
	snapdir_close(sd);
	urcu_qsbr_thread_offline();
	tree_free(back);
	tree_free(t);
	urcu_qsbr_thread_online();
	test_assert_no_leaks();
}

Test(snapdir, damaged_newest_snapshot_falls_back_and_is_set_aside)
{
	struct snapdir *sd;
	struct tree *t = tree_new(&topts), *back;
	uint64_t digest10;
	int64_t z;
	char p[800];
	int fd;

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	grow_tree(t, 1, 10);
	digest10 = tree_digest(t);
	snapshot_now(sd, t, 1);
	grow_tree(t, 11, 10);
	snapshot_now(sd, t, 2);
	/* Flip a byte in the middle of the newest. */
	snprintf(p, sizeof(p), "%s/snapshot.0000000000000014", sdir);
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "\xff\xfe", 2, 100), 2);
	close(fd);

	cr_assert_eq(snapdir_load(sd, &topts, &back, &z), 0);
	cr_assert_eq(z, 10, "the older one");
	cr_assert_eq(tree_digest(back), digest10);
	cr_assert(file_exists("snapshot.0000000000000014.corrupt"));
	cr_assert_not(file_exists("snapshot.0000000000000014"));
	snapdir_close(sd);
	urcu_qsbr_thread_offline();
	tree_free(back);
	tree_free(t);
	urcu_qsbr_thread_online();
	test_assert_no_leaks();
}

Test(snapdir, unfinished_tmp_files_are_deleted_at_open)
{
	struct snapdir *sd;
	char p[800];
	int fd;

	cr_assert_eq(snapdir_mkdirs(sdir), 0);
	snprintf(p, sizeof(p), "%s/snapshot.0000000000000007.tmp", sdir);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/snapshot.notmine.tmp", sdir);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	close(fd);
	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	cr_assert_not(file_exists("snapshot.0000000000000007.tmp"));
	cr_assert(file_exists("snapshot.notmine.tmp"), "files not ours are left alone");
	snapdir_close(sd);
	test_assert_no_leaks();
}

Test(snapdir, one_job_at_a_time)
{
	struct snapdir *sd;
	struct tree *t = tree_new(&topts);

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	grow_tree(t, 1, 5);
	gate_set(true);
	cr_assert_eq(snapdir_request_snapshot(sd, t), 0);
	gate_wait_held();
	cr_assert_eq(snapdir_request_snapshot(sd, t), -EBUSY, "Too busy to snap, skipping");
	cr_assert_eq(snapdir_request_purge(sd, NULL, 3), -EBUSY);
	gate_set(false);
	wait_jobs(sd, 1, 0, 0);
	cr_assert_eq(snapdir_request_purge(sd, NULL, 3), 0);
	wait_jobs(sd, 1, 0, 1);
	snapdir_close(sd);
	urcu_qsbr_thread_offline();
	tree_free(t);
	urcu_qsbr_thread_online();
	test_assert_no_leaks();
}

Test(snapdir, failed_snapshot_leaves_nothing)
{
	struct snapdir *sd;
	struct tree *t = tree_new(&topts);

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	grow_tree(t, 1, 5);
	__atomic_store_n(&fsync_fail, true, __ATOMIC_SEQ_CST);
	cr_assert_eq(snapdir_request_snapshot(sd, t), 0);
	wait_jobs(sd, 0, 1, 0);
	__atomic_store_n(&fsync_fail, false, __ATOMIC_SEQ_CST);
	cr_assert_eq(count_prefix(sdir, "snapshot."), 0);
	snapdir_close(sd);
	urcu_qsbr_thread_offline();
	tree_free(t);
	urcu_qsbr_thread_online();
	test_assert_no_leaks();
}

Test(snapdir, purge_keeps_retain_snapshots_and_the_logs_they_need)
{
	struct snapdir *sd;
	struct tree *t = tree_new(&topts);
	struct txlog_opts lo = {.dir = tdir, .no_sync = true, .prealloc = 4096};
	struct txlog *log;
	struct snapdir_stats st;
	char ldir[700];
	int64_t z = 0;
	uint64_t n = 0;

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	cr_assert_eq(txlog_open(&lo, &log), 0);
	/* Five rounds: 10 txns logged (one file each), then a snapshot. */
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 10; i++) {
			z++;
			cr_assert_eq(txlog_append(log, z, "x", 1), 0);
		}
		cr_assert_eq(txlog_wait_durable(log, z, 5000), 0);
		grow_tree(t, z - 9, 10);
		snapshot_now(sd, t, ++n);
		cr_assert_eq(txlog_roll(log), 0);
	}
	snprintf(ldir, sizeof(ldir), "%s/%s", tdir, TXLOG_SUBDIR);
	cr_assert_eq(count_prefix(ldir, "log."), 5);
	cr_assert_eq(count_prefix(sdir, "snapshot."), 5);

	cr_assert_eq(snapdir_request_purge(sd, log, 3), 0);
	wait_jobs(sd, 5, 0, 1);
	snapdir_stats(sd, &st);
	cr_assert_eq(st.purged_snapshots, 2);
	cr_assert_eq(count_prefix(sdir, "snapshot."), 3);
	cr_assert(file_exists("snapshot.000000000000001e"), "the oldest kept: zxid 30");
	/* Snapshot 30 needs 31..: log.1 and log.b go, log.15 (21..30) goes too. */
	cr_assert_eq(st.purged_logs, 3);
	cr_assert_eq(count_prefix(ldir, "log."), 2);
	cr_assert_eq(txlog_close(log), 0);
	snapdir_close(sd);
	urcu_qsbr_thread_offline();
	tree_free(t);
	urcu_qsbr_thread_online();
	test_assert_no_leaks();
}

Test(snapdir, mkdirs_creates_every_level)
{
	char p[800];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/a/b//c/", tdir);
	cr_assert_eq(snapdir_mkdirs(p), 0);
	snprintf(p, sizeof(p), "%s/a/b/c", tdir);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert_eq(snapdir_mkdirs(p), 0, "existing is fine");
}

/*
 * Ensemble snapshots: the meta next to a snapshot round-trips and is
 * checked; snapdir_load_meta skips snapshots without one; the meta purge
 * keeps the log from the oldest kept snapshot's keep_from (an index that
 * may lie below its zxid: a fuzzy snapshot), deletes purged snapshots'
 * metas, and purges no log when the oldest kept snapshot has no meta.
 */
Test(snapdir, ensemble_meta_load_and_purge)
{
	struct snapdir *sd;
	struct tree *t = tree_new(&topts), *back = NULL;
	struct txlog_opts lo = {.dir = tdir, .no_sync = true, .prealloc = 4096};
	struct txlog *log;
	struct snapdir_stats st;
	char ldir[700], path[800];
	int64_t z = 0, from, lz = -1;
	uint64_t n = 0, meta = 0, got = 0;
	int fd;

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	cr_assert_eq(txlog_open(&lo, &log), 0);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 10; i++) {
			z++;
			cr_assert_eq(txlog_append(log, z, "x", 1), 0);
		}
		cr_assert_eq(txlog_wait_durable(log, z, 5000), 0);
		grow_tree(t, z - 9, 10);
		snapshot_now(sd, t, ++n);
		/* The newest snapshot gets no meta (a crash before it was written). */
		if (round < 4) {
			meta = (uint64_t)round + 100;
			/* keep from 5 below the snapshot: its base lies before its zxid */
			cr_assert_eq(snapdir_meta_put(sd, z, z - 5, &meta, sizeof(meta)), 0);
		}
		cr_assert_eq(txlog_roll(log), 0);
	}
	cr_assert_eq(count_prefix(sdir, "ensmeta."), 4);
	cr_assert_eq(snapdir_meta_get(sd, 40, &got, sizeof(got), &from), 0);
	cr_assert_eq(got, 103);
	cr_assert_eq(from, 35);
	cr_assert_eq(snapdir_meta_get(sd, 50, &got, sizeof(got), &from), -ENOENT);
	cr_assert_eq(snapdir_meta_get(sd, 40, &got, 4, &from), -EBADMSG, "length differs");

	/* Loading skips snapshot 50 (no meta) and returns 40's meta. */
	cr_assert_eq(snapdir_load_meta(sd, &topts, &back, &lz, &got, sizeof(got), NULL), 0);
	cr_assert_eq(lz, 40);
	cr_assert_eq(got, 103);
	urcu_qsbr_thread_offline();
	tree_free(back);
	urcu_qsbr_thread_online();

	/* A damaged meta is refused. */
	snprintf(path, sizeof(path), "%s/ensmeta.0000000000000028", sdir);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "\xff", 1, 30), 1);
	close(fd);
	cr_assert_eq(snapdir_meta_get(sd, 40, &got, sizeof(got), &from), -EBADMSG);

	/* Keep 3: 50, 40, 30.  30's keep_from is 25: log.15 (21..30) stays. */
	cr_assert_eq(snapdir_request_purge_meta(sd, log, 3), 0);
	wait_jobs(sd, 5, 0, 1);
	snapdir_stats(sd, &st);
	cr_assert_eq(st.purged_snapshots, 2);
	cr_assert_eq(count_prefix(sdir, "ensmeta."), 2, "10's and 20's metas went with them");
	snprintf(ldir, sizeof(ldir), "%s/%s", tdir, TXLOG_SUBDIR);
	cr_assert_eq(st.purged_logs, 2);
	cr_assert_eq(count_prefix(ldir, "log."), 3);

	/* Keep 1: 50 has no meta, so no log file may go. */
	cr_assert_eq(snapdir_request_purge_meta(sd, log, 1), 0);
	wait_jobs(sd, 5, 0, 2);
	snapdir_stats(sd, &st);
	cr_assert_eq(st.purged_snapshots, 4);
	cr_assert_eq(st.purged_logs, 2);
	cr_assert_eq(count_prefix(ldir, "log."), 3);
	cr_assert_eq(txlog_close(log), 0);
	snapdir_close(sd);
	urcu_qsbr_thread_offline();
	tree_free(t);
	urcu_qsbr_thread_online();
	test_assert_no_leaks();
}

/* snapdir_load_meta's check: a meta whose content it refuses is skipped as a damaged one. */
static int meta_not_bad(const void *p, size_t len)
{
	return len == 8 && le_get64(p) == 0xbad ? -EBADMSG : 0;
}

Test(snapdir, ensemble_meta_check_skips_refused_content)
{
	struct snapdir *sd;
	struct tree *t = tree_new(&topts), *back = NULL;
	uint8_t meta[8], got[8];
	int64_t z, lz = -1;

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	z = grow_tree(t, 1, 10);
	snapshot_now(sd, t, 1);
	le_put64(meta, 7);
	cr_assert_eq(snapdir_meta_put(sd, z, z + 1, meta, sizeof(meta)), 0);
	z = grow_tree(t, z + 1, 10);
	snapshot_now(sd, t, 2);
	le_put64(meta, 0xbad);
	cr_assert_eq(snapdir_meta_put(sd, z, z + 1, meta, sizeof(meta)), 0);

	cr_assert_eq(snapdir_load_meta(sd, &topts, &back, &lz, got, sizeof(got), meta_not_bad), 0);
	cr_assert_eq(lz, 10, "the newest snapshot's meta was refused: the older one loads");
	cr_assert_eq(le_get64(got), 7);
	urcu_qsbr_thread_offline();
	tree_free(back);
	back = NULL;
	urcu_qsbr_thread_online();
	cr_assert_eq(snapdir_load_meta(sd, &topts, &back, &lz, got, sizeof(got), NULL), 0);
	cr_assert_eq(lz, 20, "without a check the newest loads");
	snapdir_close(sd);
	urcu_qsbr_thread_offline();
	tree_free(back);
	tree_free(t);
	urcu_qsbr_thread_online();
	test_assert_no_leaks();
}

/*
 * A snapshot sent to a peer and received from one, as the ensemble does:
 * the sender preads it from the open file (which a purge may delete
 * meanwhile), the receiver pwrites chunks at their offsets into
 * snapshot.<zxid>.recv and commits it under its name only once whole.
 */
Test(snapdir, snapshot_streams_from_a_file_into_a_recv_file)
{
	struct snapdir *sd;
	struct tree *t = tree_new(&topts), *back;
	uint64_t size, size2;
	int64_t last, loaded;
	uint8_t buf[1000];
	int in, out;
	char p[800];

	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	last = grow_tree(t, 1, 300);
	snapshot_now(sd, t, 1);
	cr_assert_eq(snapdir_open_file(sd, 0x77, &in, &size), -ENOENT);
	cr_assert_eq(snapdir_open_file(sd, last, &in, &size), 0);
	cr_assert_gt(size, 3 * sizeof(buf), "several chunks");
	/* a purge deletes it under the transfer: the open fd still reads it */
	snprintf(p, sizeof(p), "%s/snapshot.%016" PRIx64, sdir, (uint64_t)last);
	cr_assert_eq(unlink(p), 0);

	/* a stream begun, then restarted from 0: the file starts empty again */
	cr_assert_eq(snapdir_recv_open(sd, 0x99, &out), 0);
	cr_assert_eq(snapdir_pwrite(out, 0, "garbage", 7), 0);
	snapdir_recv_abort(sd, 0x99, out);
	cr_assert_not(file_exists("snapshot.0000000000000099.recv"), "abort deletes it");
	cr_assert_eq(snapdir_recv_open(sd, 0x99, &out), 0);
	cr_assert_eq(snapdir_pwrite(out, 0, "garbage", 7), 0);
	close(out);
	cr_assert_eq(snapdir_recv_open(sd, 0x99, &out), 0);
	{
		struct stat st;

		cr_assert_eq(fstat(out, &st), 0);
		cr_assert_eq(st.st_size, 0, "opened anew: emptied");
	}
	/* chunks at their offsets, last first: only the offsets place them */
	for (uint64_t off = (size - 1) / sizeof(buf) * sizeof(buf);; off -= sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

		cr_assert_eq(snapdir_pread(in, off, buf, n), 0);
		cr_assert_eq(snapdir_pwrite(out, off, buf, n), 0);
		if (!off)
			break;
	}
	cr_assert_eq(snapdir_pread(in, size - 1, buf, 2), -EIO, "past the end");
	cr_assert(file_exists("snapshot.0000000000000099.recv"));
	cr_assert_not(file_exists("snapshot.0000000000000099"), "not named before it is whole");
	cr_assert_eq(snapdir_recv_commit(sd, 0x99, out, size), 0);
	cr_assert_not(file_exists("snapshot.0000000000000099.recv"));
	cr_assert_eq(snapdir_open_file(sd, 0x99, &out, &size2), 0);
	cr_assert_eq(size2, size);
	close(out);
	close(in);
	cr_assert_eq(snapdir_load_file(sd, 0x99, &topts, &back, &loaded), 0);
	cr_assert_eq(loaded, last);
	cr_assert_eq(tree_digest(back), tree_digest(t));

	/* a file of another length than the stream's is never named */
	cr_assert_eq(snapdir_recv_open(sd, 0xaa, &out), 0);
	cr_assert_eq(snapdir_pwrite(out, 0, buf, 10), 0);
	cr_assert_eq(snapdir_recv_commit(sd, 0xaa, out, 11), -EIO);
	cr_assert_not(file_exists("snapshot.00000000000000aa"));
	cr_assert_not(file_exists("snapshot.00000000000000aa.recv"));
	/* nor one whose fsync failed */
	cr_assert_eq(snapdir_recv_open(sd, 0xab, &out), 0);
	cr_assert_eq(snapdir_pwrite(out, 0, buf, 10), 0);
	__atomic_store_n(&fsync_fail, true, __ATOMIC_SEQ_CST);
	cr_assert_eq(snapdir_recv_commit(sd, 0xab, out, 10), -EIO);
	__atomic_store_n(&fsync_fail, false, __ATOMIC_SEQ_CST);
	cr_assert_not(file_exists("snapshot.00000000000000ab"));
	cr_assert_not(file_exists("snapshot.00000000000000ab.recv"));

	/* one left over by a crash mid-stream is deleted at the next open */
	cr_assert_eq(snapdir_recv_open(sd, 0xac, &out), 0);
	close(out);
	snapdir_close(sd);
	cr_assert(file_exists("snapshot.00000000000000ac.recv"));
	cr_assert_eq(snapdir_open(tdir, &sd), 0);
	cr_assert_not(file_exists("snapshot.00000000000000ac.recv"));
	cr_assert(file_exists("snapshot.0000000000000099"));
	snapdir_close(sd);
	urcu_qsbr_thread_offline();
	tree_free(back);
	tree_free(t);
	urcu_qsbr_thread_online();
	test_assert_no_leaks();
}
