/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro-benchmarks of the znode store, against the aims of the tree:
 *   lookup   tree_lookup + tree_node_read of random existing paths at N
 *            znodes, with 1, 2, 4... reader threads, alone and while one
 *            writer thread applies setData/create/delete continuously:
 *            lookups/s in total and per thread, ns per lookup (wall and
 *            the readers' own CPU time, which a shared machine does not
 *            inflate), writer txns/s.  Run on the tree the snapshot loader
 *            built (its path index sized up front) and, one reader only,
 *            on the tree tree_apply built (index as auto-resize left it).
 *   memory   bytes per znode at N znodes with 100-byte data and paths like
 *            /bench/a07/b42/node-0000123456: allocator bytes (jemalloc
 *            "stats.allocated" when linked with jemalloc, else mallinfo2)
 *            and RSS before and after building, and the overhead beyond
 *            path and data.
 *   snapshot time to write (tree_snapshot_write from a reader thread),
 *            fsync and load (tree_snapshot_load) N znodes through a file in
 *            a scratch directory under $TMPDIR (or kept at the path given
 *            by --snapshot-file), and the file size.
 *   load     only loads the snapshot at --snapshot-file (one written by
 *            "snapshot" with that option), in a fresh process, as a
 *            recovering replica does: no tree is built first, so the
 *            heap is as cold as at start-up.  Time (wall and the
 *            process's CPU: the load's helper thread counts), node count
 *            and digest.  Run it several times for a median.
 *
 * Output: one JSON object per line on stdout (machine-readable, one per
 * measurement, plus one describing the machine); a human summary on
 * stderr.  Benchmarks never decide whether anything passes.
 *
 * Threads: main builds the tree (as the writer) and goes offline while
 * the measured threads run; every thread that touches the tree is a
 * registered QSBR thread announcing quiescent states in its loop.
 *
 * Usage: bench_tree [--nodes N] [--seconds S] [--threads 1,2,4]
 *                   [--bench lookup,memory,snapshot|load] [--snapshot-file F]
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <urcu-qsbr.h>
#include <urcu/uatomic.h>

#ifdef HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "tree/tree.h"

#define DATA_LEN 100
#define PER_DIR 100
#define MAX_READERS 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* ---- Paths: /bench/aXX/bYY/node-NNNNNNNNNN, 100 per directory ---- */

static char *put_digits(char *p, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* Formats node i's path into buf (>= 64 bytes); returns its length. */
static size_t node_path(char *buf, uint64_t i)
{
	uint64_t dir = i / PER_DIR;
	char *p = buf;

	memcpy(p, "/bench/a", 8);
	p = put_digits(p + 8, dir / 100, dir / 100 >= 100 ? 4 : 2);
	memcpy(p, "/b", 2);
	p = put_digits(p + 2, dir % 100, 2);
	memcpy(p, "/node-", 6);
	p = put_digits(p + 6, i, 10);
	*p = '\0';
	return (size_t)(p - buf);
}

static size_t dir_path(char *buf, uint64_t dir, bool leaf_dir)
{
	char *p = buf;

	memcpy(p, "/bench/a", 8);
	p = put_digits(p + 8, dir / 100, dir / 100 >= 100 ? 4 : 2);
	if (leaf_dir) {
		memcpy(p, "/b", 2);
		p = put_digits(p + 2, dir % 100, 2);
	}
	*p = '\0';
	return (size_t)(p - buf);
}

/* ---- Transactions ---- */

static uint8_t acl_buf[64];
static struct jute_acl_list open_acl;
static uint8_t data_buf[DATA_LEN];

static void make_acl(void)
{
	struct jute_out o;
	struct jute_in in;

	jute_out_init_fixed(&o, acl_buf, sizeof(acl_buf));
	jute_put_int(&o, 1);
	jute_put_int(&o, ZK_PERM_ALL);
	jute_put_string(&o, "world");
	jute_put_string(&o, "anyone");
	jute_in_init(&in, acl_buf, o.len);
	if (jute_get_acl_list(&in, &open_acl, 64)) {
		fprintf(stderr, "bench_tree: cannot encode the ACL\n");
		exit(1);
	}
	for (int i = 0; i < DATA_LEN; i++)
		data_buf[i] = (uint8_t)('a' + i % 26);
}

struct writer_state {
	struct tree *t;
	struct tree_apply_out out;
	int64_t zxid;
};

static int apply1(struct writer_state *w, int32_t type, const char *path, size_t len,
		  int32_t version)
{
	struct tree_txn txn = {0};

	txn.type = type;
	txn.zxid = ++w->zxid;
	txn.time = 1700000000000LL + w->zxid;
	txn.session = 1;
	txn.nops = 1;
	txn.ops = &txn.inline_op;
	txn.inline_op.type = type;
	txn.inline_op.path = (struct jute_buf){(const uint8_t *)path, (int32_t)len};
	txn.inline_op.data = (struct jute_buf){data_buf, DATA_LEN};
	txn.inline_op.acl = open_acl;
	txn.inline_op.parent_cversion = -1;
	txn.inline_op.version = version;
	if (tree_apply(w->t, &txn, &w->out))
		return -ENOMEM;
	return w->out.nresults && w->out.results[0].err ? -EINVAL : 0;
}

/* Builds N znodes (plus their directories); returns the average path length. */
static double build(struct writer_state *w, uint64_t n)
{
	char path[64];
	uint64_t dirs = (n + PER_DIR - 1) / PER_DIR, total_len = 0, count = 0;

	if (apply1(w, ZK_OP_CREATE, "/bench", 6, 0) || apply1(w, ZK_OP_CREATE, "/bench/w", 8, 0))
		goto fail;
	for (uint64_t d = 0; d < dirs; d++) {
		size_t len;
		if (d % 100 == 0) {
			len = dir_path(path, d, false);
			if (apply1(w, ZK_OP_CREATE, path, len, 0))
				goto fail;
			total_len += len;
			count++;
		}
		len = dir_path(path, d, true);
		if (apply1(w, ZK_OP_CREATE, path, len, 0))
			goto fail;
		total_len += len;
		count++;
	}
	for (uint64_t i = 0; i < n; i++) {
		size_t len = node_path(path, i);
		if (apply1(w, ZK_OP_CREATE, path, len, 0))
			goto fail;
		total_len += len;
		count++;
		if (i % 1024 == 0) {
			tree_reclaim_flush(w->t);
			urcu_qsbr_quiescent_state();
		}
	}
	return (double)total_len / (double)count;
fail:
	fprintf(stderr, "bench_tree: building the tree failed at zxid %lld\n", (long long)w->zxid);
	exit(1);
}

/* ---- Lookup benchmark ---- */

struct reader_arg {
	struct tree *t;
	uint64_t n;
	uint64_t seed;
	int *stop;
	uint64_t ops;
	uint64_t misses;
	uint64_t sink;
	double cpu_s; /* the thread's own CPU time: immune to time-slicing */
};

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The whole process's CPU time: a load uses a helper thread for half of
 * its path-index work (tree.c), which the caller's thread time misses.
 * Only the loading thread and that helper run while a load is timed.
 */
static double process_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *reader_main(void *p)
{
	struct reader_arg *a = p;
	char path[64];
	uint64_t ops = 0, misses = 0, sink = 0;

	urcu_qsbr_register_thread();
	double c0 = thread_cpu();
	while (!uatomic_read(a->stop)) {
		for (int k = 0; k < 64; k++) {
			size_t len = node_path(path, xorshift(&a->seed) % a->n);
			const struct tree_node *node = tree_lookup(a->t, path, len);
			struct zk_stat st;
			struct jute_buf data;
			if (!node) {
				misses++;
				continue;
			}
			tree_node_read(node, &st, &data);
			sink += (uint64_t)st.version + (data.len > 0 ? data.p[0] : 0);
		}
		ops += 64;
		urcu_qsbr_quiescent_state();
	}
	a->cpu_s = thread_cpu() - c0;
	a->ops = ops;
	a->misses = misses;
	a->sink = sink;
	urcu_qsbr_unregister_thread();
	return NULL;
}

struct writer_arg {
	struct writer_state *w;
	uint64_t n;
	int *stop;
	uint64_t txns;
	double cpu_s;
	int err;
};

/* 80% setData on a random base znode, 20% create/delete under /bench/w. */
static void *writer_main(void *p)
{
	struct writer_arg *a = p;
	struct writer_state *w = a->w;
	uint64_t seed = 0x9e3779b97f4a7c15ULL, created = 0, deleted = 0, txns = 0;
	char path[64];

	urcu_qsbr_register_thread();
	double c0 = thread_cpu();
	while (!uatomic_read(a->stop) && !a->err) {
		uint64_t r = xorshift(&seed) % 100;
		size_t len;
		if (r < 80) {
			len = node_path(path, xorshift(&seed) % a->n);
			/* The version is the node's own; replays tolerate any. */
			a->err = apply1(w, ZK_OP_SETDATA, path, len, (int32_t)txns);
		} else if (r < 90 || created - deleted < 1000) {
			len = (size_t)snprintf(path, sizeof(path), "/bench/w/x-%010llu",
					       (unsigned long long)created++);
			a->err = apply1(w, ZK_OP_CREATE, path, len, 0);
		} else {
			len = (size_t)snprintf(path, sizeof(path), "/bench/w/x-%010llu",
					       (unsigned long long)deleted++);
			a->err = apply1(w, ZK_OP_DELETE, path, len, 0);
		}
		txns++;
		if (txns % 32 == 0)
			tree_reclaim_flush(w->t);
		urcu_qsbr_quiescent_state();
	}
	a->cpu_s = thread_cpu() - c0;
	/* Leave /bench/w as it was, so runs compare. */
	while (deleted < created && !a->err) {
		size_t len = (size_t)snprintf(path, sizeof(path), "/bench/w/x-%010llu",
					      (unsigned long long)deleted++);
		a->err = apply1(w, ZK_OP_DELETE, path, len, 0);
		urcu_qsbr_quiescent_state();
	}
	tree_reclaim_flush(w->t);
	a->txns = txns;
	urcu_qsbr_unregister_thread();
	return NULL;
}

static double format_ns(uint64_t n)
{
	char path[64];
	uint64_t seed = 42, sink = 0, iters = 20000000;
	double t0 = now();

	for (uint64_t i = 0; i < iters; i++)
		sink += node_path(path, xorshift(&seed) % n) + (uint8_t)path[20];
	double dt = now() - t0;
	if (sink == 1)
		fprintf(stderr, " ");
	return dt * 1e9 / (double)iters;
}

static void bench_lookup(struct writer_state *w, const char *which, uint64_t n, int readers,
			 bool writer, double seconds, double fmt_ns)
{
	struct reader_arg ra[MAX_READERS];
	struct writer_arg wa = {.w = w, .n = n};
	pthread_t rt[MAX_READERS], wt;
	int stop = 0;
	double t0, dt, cpu = 0;
	uint64_t total = 0, misses = 0;

	wa.stop = &stop;
	for (int i = 0; i < readers; i++) {
		ra[i] = (struct reader_arg){
		    .t = w->t, .n = n, .seed = 0x1234567ULL * (uint64_t)(i + 1), .stop = &stop};
		pthread_create(&rt[i], NULL, reader_main, &ra[i]);
	}
	if (writer)
		pthread_create(&wt, NULL, writer_main, &wa);
	t0 = now();
	while (now() - t0 < seconds)
		usleep(10000);
	uatomic_set(&stop, 1);
	for (int i = 0; i < readers; i++)
		pthread_join(rt[i], NULL);
	if (writer)
		pthread_join(wt, NULL);
	dt = now() - t0;
	for (int i = 0; i < readers; i++) {
		total += ra[i].ops;
		misses += ra[i].misses;
		cpu += ra[i].cpu_s;
	}
	if (wa.err) {
		fprintf(stderr, "bench_tree: writer failed (%d)\n", wa.err);
		exit(1);
	}
	double rate = (double)total / dt, per = rate / readers;
	double cpu_ns = cpu * 1e9 / (double)total;
	double wrate = writer ? (double)wa.txns / dt : 0.0;
	double wcpu = writer && wa.txns ? wa.cpu_s * 1e9 / (double)wa.txns : 0.0;
	printf("{\"bench\":\"lookup\",\"tree\":\"%s\",\"nodes\":%llu,\"readers\":%d,"
	       "\"writer\":%s,\"seconds\":%.3f,\"lookups\":%llu,\"misses\":%llu,"
	       "\"lookups_per_s\":%.0f,\"lookups_per_s_per_thread\":%.0f,"
	       "\"wall_ns_per_lookup\":%.1f,\"cpu_ns_per_lookup\":%.1f,"
	       "\"cpu_ns_per_lookup_excl_path_format\":%.1f,\"path_format_ns\":%.1f,"
	       "\"reader_cpu_share\":%.2f,\"writer_txns_per_s\":%.0f,\"writer_cpu_ns_per_txn\":%."
	       "0f}\n",
	       which, (unsigned long long)n, readers, writer ? "true" : "false", dt,
	       (unsigned long long)total, (unsigned long long)misses, rate, per, 1e9 / per, cpu_ns,
	       cpu_ns - fmt_ns, fmt_ns, cpu / (dt * readers), wrate, wcpu);
	fflush(stdout);
	fprintf(stderr,
		"lookup  %-6s %d reader%s%s: %6.2f M/s total, %5.2f M/s/thread, %6.0f ns/lookup "
		"wall, %5.0f ns CPU (%3.0f%% of a core each)",
		which, readers, readers > 1 ? "s" : " ", writer ? " + writer" : "         ",
		rate / 1e6, per / 1e6, 1e9 / per, cpu_ns, 100.0 * cpu / (dt * readers));
	if (writer)
		fprintf(stderr, "; writer %.0f txns/s (%.0f ns CPU each)", wrate, wcpu);
	fputc('\n', stderr);
}

/* ---- Memory ---- */

static uint64_t allocated_bytes(const char **how)
{
#ifdef HAVE_JEMALLOC
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch), allocated = 0, asz = sizeof(allocated);

	mallctl("epoch", &epoch, &sz, &epoch, sz);
	if (mallctl("stats.allocated", &allocated, &asz, NULL, 0) == 0) {
		*how = "jemalloc stats.allocated";
		return allocated;
	}
#endif
	struct mallinfo2 mi = mallinfo2();
	*how = "glibc mallinfo2 uordblks+hblkhd";
	return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void report_memory(const char *which, const char *how, uint64_t bytes, uint64_t rss,
			  uint64_t count, double avg_path)
{
	double per = (double)bytes / (double)count, rper = (double)rss / (double)count;

	printf(
	    "{\"bench\":\"memory\",\"tree\":\"%s\",\"znodes\":%llu,\"allocator\":\"%s\","
	    "\"allocated_bytes\":%llu,\"bytes_per_znode\":%.1f,\"rss_bytes_per_znode\":%.1f,"
	    "\"avg_path_bytes\":%.1f,\"data_bytes\":%d,"
	    "\"overhead_beyond_path_and_data\":%.1f,\"rss_overhead_beyond_path_and_data\":%.1f}\n",
	    which, (unsigned long long)count, how, (unsigned long long)bytes, per, rper, avg_path,
	    DATA_LEN, per - avg_path - DATA_LEN, rper - avg_path - DATA_LEN);
	fflush(stdout);
	fprintf(stderr,
		"memory  %-6s %llu znodes: %.1f bytes/znode allocated, %.1f RSS; path %.1f + data "
		"%d => overhead %.1f allocated, %.1f RSS\n",
		which, (unsigned long long)count, per, rper, avg_path, DATA_LEN,
		per - avg_path - DATA_LEN, rper - avg_path - DATA_LEN);
}

/* ---- Snapshot ---- */

struct snap_arg {
	struct tree *t;
	int fd;
	int rc;
	int64_t zxid;
	double seconds;
	double cpu_s;
};

static void *snap_main(void *p)
{
	struct snap_arg *a = p;
	double t0;

	urcu_qsbr_register_thread();
	t0 = now();
	double c0 = thread_cpu();
	a->rc = tree_snapshot_write(a->t, a->fd, &a->zxid);
	a->cpu_s = thread_cpu() - c0;
	a->seconds = now() - t0;
	urcu_qsbr_unregister_thread();
	return NULL;
}

/*
 * Saves t, loads it back; returns the loaded tree (path index sized by the
 * loader).  keep: the file's path, kept afterwards (NULL: a scratch file).
 */
static struct tree *bench_snapshot(struct tree *t, double avg_path, const char *keep)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], file[4200];
	struct snap_arg a = {.t = t};
	pthread_t th;
	struct stat sb;
	struct tree *loaded = NULL;
	const char *how;
	int64_t zxid;
	double t0, c0, fsync_s, load_s, load_cpu;

	if (keep) {
		snprintf(file, sizeof(file), "%s", keep);
	} else {
		snprintf(dir, sizeof(dir), "%s/bench_tree.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror("bench_tree: mkdtemp");
			exit(1);
		}
		snprintf(file, sizeof(file), "%s/snapshot", dir);
	}
	a.fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (a.fd < 0) {
		perror("bench_tree: open");
		exit(1);
	}
	urcu_qsbr_thread_offline();
	pthread_create(&th, NULL, snap_main, &a);
	pthread_join(th, NULL);
	t0 = now();
	fsync(a.fd);
	fsync_s = now() - t0;
	urcu_qsbr_thread_online();
	if (a.rc) {
		fprintf(stderr, "bench_tree: snapshot write failed (%d)\n", a.rc);
		exit(1);
	}
	fstat(a.fd, &sb);
	lseek(a.fd, 0, SEEK_SET);
	uint64_t m0 = allocated_bytes(&how), r0 = rss_bytes();
	t0 = now();
	c0 = process_cpu();
	int rc = tree_snapshot_load(a.fd, &(struct tree_opts){.max_data = ZK_DEFAULT_MAX_BUFFER},
				    &loaded, &zxid);
	load_cpu = process_cpu() - c0;
	load_s = now() - t0;
	if (rc || tree_digest(loaded) != tree_digest(t) ||
	    tree_node_count(loaded) != tree_node_count(t)) {
		fprintf(stderr, "bench_tree: snapshot load failed (%d) or differs\n", rc);
		exit(1);
	}
	urcu_qsbr_thread_offline();
	urcu_qsbr_barrier();
	urcu_qsbr_thread_online();
	uint64_t m1 = allocated_bytes(&how), r1 = rss_bytes();
	close(a.fd);
	if (!keep) {
		unlink(file);
		rmdir(dir);
	}
	uint64_t count = tree_node_count(t);
	double mb = (double)sb.st_size / 1e6;
	printf("{\"bench\":\"snapshot\",\"znodes\":%llu,\"file_bytes\":%lld,\"file_bytes_per_"
	       "znode\":%.1f,"
	       "\"write_s\":%.3f,\"write_cpu_s\":%.3f,\"write_mb_per_s\":%.0f,\"fsync_s\":%.3f,"
	       "\"load_s\":%.3f,\"load_cpu_s\":%.3f,\"load_mb_per_s\":%.0f,\"load_znodes_per_s\":%."
	       "0f}\n",
	       (unsigned long long)count, (long long)sb.st_size, (double)sb.st_size / (double)count,
	       a.seconds, a.cpu_s, mb / a.seconds, fsync_s, load_s, load_cpu, mb / load_s,
	       (double)count / load_s);
	fflush(stdout);
	fprintf(stderr,
		"snapshot %llu znodes: %.1f MB file; write %.3f s (%.3f s CPU, %.0f MB/s), fsync "
		"%.3f s, load %.3f s (%.3f s CPU, %.0f MB/s, %.2f M znodes/s)\n",
		(unsigned long long)count, mb, a.seconds, a.cpu_s, mb / a.seconds, fsync_s, load_s,
		load_cpu, mb / load_s, (double)count / load_s / 1e6);
	report_memory("loaded", how, m1 - m0, r1 - r0, count, avg_path);
	return loaded;
}

/* Loads the snapshot at file into a fresh process's heap; reports and exits. */
static int bench_load(const char *file)
{
	struct tree *loaded = NULL;
	struct stat sb;
	const char *how;
	int64_t zxid;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb)) {
		perror("bench_tree: open snapshot");
		return 1;
	}
	uint64_t m0 = allocated_bytes(&how), r0 = rss_bytes();
	double t0 = now(), c0 = process_cpu();
	int rc = tree_snapshot_load(fd, &(struct tree_opts){.max_data = ZK_DEFAULT_MAX_BUFFER},
				    &loaded, &zxid);
	double load_cpu = process_cpu() - c0, load_s = now() - t0;
	close(fd);
	if (rc) {
		fprintf(stderr, "bench_tree: snapshot load failed (%d)\n", rc);
		return 1;
	}
	uint64_t m1 = allocated_bytes(&how), r1 = rss_bytes();
	uint64_t count = tree_node_count(loaded);
	double mb = (double)sb.st_size / 1e6;
	printf("{\"bench\":\"load\",\"znodes\":%llu,\"file_bytes\":%lld,\"load_s\":%.3f,"
	       "\"load_cpu_s\":%.3f,\"load_mb_per_s\":%.0f,\"digest\":\"%016llx\","
	       "\"allocated_bytes\":%llu,\"rss_bytes\":%llu}\n",
	       (unsigned long long)count, (long long)sb.st_size, load_s, load_cpu, mb / load_s,
	       (unsigned long long)tree_digest(loaded), (unsigned long long)(m1 - m0),
	       (unsigned long long)(r1 - r0));
	fflush(stdout);
	fprintf(stderr,
		"load %llu znodes: %.1f MB file; load %.3f s (%.3f s CPU, %.0f MB/s), digest "
		"%016llx, %.1f bytes/znode allocated (%s), %.1f RSS\n",
		(unsigned long long)count, mb, load_s, load_cpu, mb / load_s,
		(unsigned long long)tree_digest(loaded), (double)(m1 - m0) / (double)count, how,
		(double)(r1 - r0) / (double)count);
	/* Left to exit, as the other trees. */
	return 0;
}

/* ---- Machine ---- */

static void machine(void)
{
	char line[512], cpu[256] = "unknown";
	unsigned long long mem_kb = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");
	const char *how;

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "model name", 10)) {
				char *c = strchr(line, ':');
				if (c) {
					snprintf(cpu, sizeof(cpu), "%s", c + 2);
					cpu[strcspn(cpu, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	f = fopen("/proc/meminfo", "r");
	if (f) {
		if (fscanf(f, "MemTotal: %llu kB", &mem_kb) != 1)
			mem_kb = 0;
		fclose(f);
	}
	allocated_bytes(&how);
	for (char *c = cpu; *c; c++)
		if (*c == '"' || *c == '\\')
			*c = ' ';
	printf("{\"bench\":\"machine\",\"nproc\":%ld,\"cpu\":\"%s\",\"mem_kb\":%llu,\"allocator\":"
	       "\"%s\"}\n",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, mem_kb, how);
	fprintf(stderr, "machine: %ld CPUs (%s), %.1f GiB RAM, allocator stats: %s\n",
		sysconf(_SC_NPROCESSORS_ONLN), cpu, (double)mem_kb / (1024.0 * 1024.0), how);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_tree [--nodes N] [--seconds S] [--threads 1,2,4] "
			"[--bench lookup,memory,snapshot|load] [--snapshot-file F]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000;
	double seconds = 5;
	int threads[16] = {1, 2, 4}, nthreads = 3;
	const char *which = "lookup,memory,snapshot";
	const char *snap_file = NULL;
	struct writer_state w = {0};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--nodes") && i + 1 < argc) {
			n = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			char *s = argv[++i], *end;
			nthreads = 0;
			while (*s && nthreads < 16) {
				long v = strtol(s, &end, 10);
				if (end == s || v < 1 || v > MAX_READERS)
					usage();
				threads[nthreads++] = (int)v;
				s = *end == ',' ? end + 1 : end;
			}
		} else if (!strcmp(argv[i], "--bench") && i + 1 < argc) {
			which = argv[++i];
		} else if (!strcmp(argv[i], "--snapshot-file") && i + 1 < argc) {
			snap_file = argv[++i];
		} else {
			usage();
		}
	}
	if (n < 1 || seconds <= 0 || !nthreads)
		usage();
	make_acl();
	machine();
	urcu_qsbr_register_thread();
	if (!strcmp(which, "load")) {
		if (!snap_file)
			usage();
		int rc = bench_load(snap_file);
		urcu_qsbr_unregister_thread();
		return rc;
	}

	const char *how;
	uint64_t a0 = allocated_bytes(&how), r0 = rss_bytes();
	uint64_t count0;
	w.t = tree_new(&(struct tree_opts){.max_data = ZK_DEFAULT_MAX_BUFFER});
	if (!w.t) {
		fprintf(stderr, "bench_tree: tree_new failed\n");
		return 1;
	}
	count0 = tree_node_count(w.t);
	double t0 = now();
	double avg_path = build(&w, n);
	double build_s = now() - t0;
	tree_reclaim_flush(w.t);
	/* Let pending hash-table resizes and frees finish before measuring. */
	urcu_qsbr_thread_offline();
	urcu_qsbr_barrier();
	sleep(1);
	urcu_qsbr_thread_online();
	uint64_t a1 = allocated_bytes(&how), r1 = rss_bytes();
	uint64_t added = tree_node_count(w.t) - count0;
	fprintf(stderr, "built %llu znodes in %.2f s (%.0f creates/s through tree_apply)\n",
		(unsigned long long)added, build_s, (double)added / build_s);
	if (strstr(which, "memory"))
		report_memory("built", how, a1 - a0, r1 - r0, added, avg_path);

	struct writer_state lw = {0};
	if (strstr(which, "snapshot")) {
		lw.t = bench_snapshot(w.t, avg_path, snap_file);
		lw.zxid = tree_last_zxid(lw.t);
	}
	if (strstr(which, "lookup")) {
		double fmt = format_ns(n);
		urcu_qsbr_thread_offline();
		/* The tree as tree_apply built it: its index is as big as auto-resize made it. */
		bench_lookup(&w, "built", n, 1, false, seconds, fmt);
		struct writer_state *target = lw.t ? &lw : &w;
		const char *name = lw.t ? "loaded" : "built";
		/* Readers alone (scaling with cores), then with the writer going. */
		for (int i = 0; i < nthreads; i++)
			bench_lookup(target, name, n, threads[i], false, seconds, fmt);
		for (int i = 0; i < nthreads; i++)
			bench_lookup(target, name, n, threads[i], true, seconds, fmt);
		urcu_qsbr_thread_online();
	}
	/*
	 * The trees are left to exit: freeing a million znodes takes time,
	 * and tree_free() races rculfhash's resize worker on big tables
	 * (see docs/PERFORMANCE.md).
	 */
	tree_apply_out_release(&lw.out);
	tree_apply_out_release(&w.out);
	urcu_qsbr_unregister_thread();
	return 0;
}
