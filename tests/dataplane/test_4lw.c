// SPDX-License-Identifier: Apache-2.0
/*
 * Four-letter words over loopback, as ZooKeeper 3.8 answers them: ruok,
 * the whitelist refusal, srvr/stat/mntr figures summed over workers, the
 * exact mntr key set of a real ZooKeeper 3.8.0 (golden/mntr-3.8.0.keys),
 * the admin mailbox (stat, cons, wchs, wchc, wchp, dump) with two
 * workers, the log writer's summaries in mntr (sync_processor_batch_size,
 * fsynctime) and their reset by srst, and the small ones (isro, gtmk/stmk,
 * conf, envi, dirs, crst, srst, hash).  dump: its three sections, the
 * core's tracker (asked first) from the fake layer's canned copy.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/jute.h"
#include "dataplane/admin/admin.h"
#include "dataplane/io/io_priv.h"
#include "fake.h"
#include "replication/repl.h"
#include "tests/common/leakcheck.h"

#define ALL "4lw.commands.whitelist=*"
#define TWO "4lw.commands.whitelist=*\ncheetah.dataplane.cores=0,1"
#define TWO_MANY TWO "\nmaxClientCnxns=0"

static void expect_word(uint16_t port, const char *word, const char *want)
{
	char *got = test_4lw(port, word);

	cr_assert_str_eq(got, want, "%s: [%s]", word, got);
	free(got);
}

/* The text after "Zookeeper version: ...\n". */
static const char *after_version(const char *text)
{
	const char *nl;

	cr_assert_eq(strncmp(text, "Zookeeper version: 3.8.0-cheetah-", 33), 0, "%s", text);
	cr_assert_not_null(strstr(text, ", built on "));
	nl = strchr(text, '\n');
	cr_assert_not_null(nl);
	return nl + 1;
}

Test(fourlw, ruok_answers_imok)
{
	struct test_server s;

	test_server_start(&s, "4lw.commands.whitelist=ruok");
	expect_word(s.port, "ruok", "imok");
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(fourlw, words_off_the_whitelist_are_refused)
{
	struct test_server s;

	test_server_start(&s, NULL); /* ZooKeeper's default whitelist: srvr only */
	expect_word(s.port, "ruok", "ruok is not executed because it is not in the whitelist.\n");
	expect_word(s.port, "mntr", "mntr is not executed because it is not in the whitelist.\n");
	expect_word(s.port, "stmk", "stmk is not executed because it is not in the whitelist.\n");
	char *srvr = test_4lw(s.port, "srvr");

	cr_assert_not_null(strstr(srvr, "Mode: standalone\n"));
	free(srvr);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(fourlw, srvr_prints_server_stats)
{
	struct test_server s;
	char *got;

	test_server_start(&s, NULL);
	got = test_4lw(s.port, "srvr");
	/* The fake layer's 10 packets + this word; its latencies in ms. */
	cr_assert_str_eq(after_version(got), "Latency min/avg/max: 1/1.2343/3\n"
					     "Received: 11\n"
					     "Sent: 20\n"
					     "Connections: 1\n"
					     "Outstanding: 1\n"
					     "Zxid: 0x0\n"
					     "Mode: standalone\n"
					     "Node count: 0\n");
	free(got);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(fourlw, mntr_has_zookeeper_3_8_keys_in_order)
{
	char path[512], line[256], *got, *save = NULL;
	struct test_server s;
	FILE *golden;
	int n = 0, own = 0;

	snprintf(path, sizeof(path), "%s/mntr-3.8.0.keys", DP_GOLDEN_DIR);
	golden = fopen(path, "r");
	cr_assert_not_null(golden, "%s", path);
	test_server_start(&s, ALL);
	got = test_4lw(s.port, "mntr");
	for (char *l = strtok_r(got, "\n", &save); l; l = strtok_r(NULL, "\n", &save), n++) {
		char *tab = strchr(l, '\t');

		cr_assert_not_null(tab, "line %d has no tab: %s", n, l);
		*tab = '\0';
		/* Cheetah's own lines come after all of ZooKeeper's (issue 13's stages) */
		if (!strncmp(l, "cheetah_", 8)) {
			cr_assert(own || n == 485, "own key %s among ZooKeeper's (line %d)", l, n);
			cr_assert(!strncmp(l, "cheetah_stage_", 14), "unknown own key %s", l);
			own++;
			n--;
			continue;
		}
		cr_assert_eq(own, 0, "ZooKeeper key %s after Cheetah's own", l);
		cr_assert_not_null(fgets(line, sizeof(line), golden), "extra key %s", l);
		line[strcspn(line, "\n")] = '\0';
		cr_assert_str_eq(l, line, "key %d", n);
		if (!strcmp(l, "zk_avg_latency"))
			cr_assert_str_eq(tab + 1, "1.2343");
		if (!strcmp(l, "zk_packets_received"))
			cr_assert_str_eq(tab + 1, "11");
		if (!strcmp(l, "zk_num_alive_connections"))
			cr_assert_str_eq(tab + 1, "1");
		if (!strcmp(l, "zk_server_state"))
			cr_assert_str_eq(tab + 1, "standalone");
		if (!strcmp(l, "zk_watch_count"))
			cr_assert_str_eq(tab + 1, "3");
		if (!strcmp(l, "zk_last_client_response_size"))
			cr_assert_str_eq(tab + 1, "50"); /* fake_proto.c's worker 0 */
		if (!strcmp(l, "zk_avg_fsynctime"))
			cr_assert_str_eq(tab + 1, "0.0");
		if (!strcmp(l, "zk_bytes_received_count"))
			cr_assert_str_eq(tab + 1, "4");
	}
	cr_assert_null(fgets(line, sizeof(line), golden), "missing key %s", line);
	cr_assert_eq(n, 485);
	cr_assert_eq(own, 25, "cheetah_stage_* lines: %d", own);
	fclose(golden);
	free(got);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/* Whether text holds line "zk_<key>\t<value>". */
static bool has_metric(const char *text, const char *key, const char *value)
{
	char line[256];

	snprintf(line, sizeof(line), "\nzk_%s\t%s\n", key, value);
	return strstr(text, line) != NULL;
}

Test(fourlw, mntr_shows_the_log_writer_summaries_and_srst_zeroes_them)
{
	const struct repl_summary batch = {.cnt = 3, .sum = 10, .min = 1, .max = 6};
	const struct repl_summary fsync = {.cnt = 4, .sum = 7, .min = 0, .max = 5};
	struct repl_zk_stats zk = {.proposals = 7,
				   .commits = 6,
				   .learner_proposals = 5,
				   .learner_commits = 4,
				   .snaps = 3,
				   .diffs = 2,
				   .unrecoverable = 1};
	struct test_server s;
	char *got;

	test_server_start(&s, TWO);
	fake_repl_set_summaries(s.repl, &batch, &fsync);
	fake_repl_set_counters(s.repl, &zk, 8, 9, 10);
	got = test_4lw(s.port, "mntr");
	/* The core's counters since start (no srst yet). */
	cr_assert(has_metric(got, "proposal_count", "7"), "%s", got);
	cr_assert(has_metric(got, "commit_count", "6"));
	cr_assert(has_metric(got, "learner_proposal_received_count", "5"));
	cr_assert(has_metric(got, "learner_commit_received_count", "4"));
	cr_assert(has_metric(got, "snap_count", "3"));
	cr_assert(has_metric(got, "diff_count", "2"));
	cr_assert(has_metric(got, "unrecoverable_error_count", "1"));
	cr_assert(has_metric(got, "stale_sessions_expired", "8"));
	cr_assert(has_metric(got, "revalidate_count", "9"));
	cr_assert(has_metric(got, "looking_count", "10"));
	/* AvgMinMaxCounter: avg to 4 decimals (HALF_UP), printed as a Java double. */
	cr_assert(has_metric(got, "avg_sync_processor_batch_size", "3.3333"), "%s", got);
	cr_assert(has_metric(got, "min_sync_processor_batch_size", "1"));
	cr_assert(has_metric(got, "max_sync_processor_batch_size", "6"));
	cr_assert(has_metric(got, "cnt_sync_processor_batch_size", "3"));
	cr_assert(has_metric(got, "sum_sync_processor_batch_size", "10"));
	cr_assert(has_metric(got, "avg_fsynctime", "1.75"), "%s", got);
	cr_assert(has_metric(got, "min_fsynctime", "0"));
	cr_assert(has_metric(got, "max_fsynctime", "5"));
	cr_assert(has_metric(got, "cnt_fsynctime", "4"));
	cr_assert(has_metric(got, "sum_fsynctime", "7"));
	/* The summaries around them stay zero. */
	cr_assert(has_metric(got, "avg_snapshottime", "0.0"));
	cr_assert(has_metric(got, "cnt_node_children_watch_count", "0"));
	/*
	 * The workers' response and watch figures (fake_proto.c's, two
	 * workers): counters since the last srst summed, the newest worker's
	 * last size, the smallest min, the largest max.
	 */
	cr_assert(has_metric(got, "response_bytes", "141"), "%s", got); /* 100 + 101 - 2 * 30 */
	cr_assert(has_metric(got, "watch_bytes", "60"));
	cr_assert(has_metric(got, "sessionless_connections_expired", "6"));
	cr_assert(has_metric(got, "connection_revalidate_count", "4"));
	cr_assert(has_metric(got, "last_client_response_size", "51"));
	cr_assert(has_metric(got, "min_client_response_size", "16"));
	cr_assert(has_metric(got, "max_client_response_size", "201"));
	/* NODE_CREATED_WATCHER over both workers: 4 events, 4 + 6 watchers, 1..4 */
	cr_assert(has_metric(got, "cnt_node_created_watch_count", "4"), "%s", got);
	cr_assert(has_metric(got, "sum_node_created_watch_count", "10"));
	cr_assert(has_metric(got, "min_node_created_watch_count", "1"));
	cr_assert(has_metric(got, "max_node_created_watch_count", "4"));
	cr_assert(has_metric(got, "avg_node_created_watch_count", "2.5"));
	free(got);

	/* srst resets them once (two workers run it), as ServerMetrics.resetAll. */
	expect_word(s.port, "srst", "Server stats reset.\n");
	cr_assert_eq(fake_repl_resets(s.repl), 1);
	got = test_4lw(s.port, "mntr");
	cr_assert(has_metric(got, "avg_sync_processor_batch_size", "0.0"), "%s", got);
	cr_assert(has_metric(got, "max_sync_processor_batch_size", "0"));
	cr_assert(has_metric(got, "cnt_sync_processor_batch_size", "0"));
	cr_assert(has_metric(got, "avg_fsynctime", "0.0"));
	cr_assert(has_metric(got, "sum_fsynctime", "0"));
	/* ... and the core's counters: mntr counts from their values then. */
	cr_assert(has_metric(got, "proposal_count", "0"), "%s", got);
	cr_assert(has_metric(got, "looking_count", "0"));
	cr_assert(has_metric(got, "stale_sessions_expired", "0"));
	free(got);
	zk.proposals += 4;
	zk.unrecoverable = 1;
	fake_repl_set_counters(s.repl, &zk, 8 + 2, 9, 10 + 1);
	got = test_4lw(s.port, "mntr");
	cr_assert(has_metric(got, "proposal_count", "4"), "%s", got);
	cr_assert(has_metric(got, "commit_count", "0"));
	cr_assert(has_metric(got, "unrecoverable_error_count", "0"));
	cr_assert(has_metric(got, "stale_sessions_expired", "2"));
	cr_assert(has_metric(got, "revalidate_count", "0"));
	cr_assert(has_metric(got, "looking_count", "1"));
	free(got);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/*
 * The summaries kept as histograms (hist.h's AvgMinMaxCounter): exact
 * min, max, count and sum since start, then since srst, which resets
 * min and max too (the next data point starts them afresh); ack_latency
 * is one summary per member id after the others.  The percentiles are
 * since start or srst too: nearest rank, exact below 8, a bucket's
 * midpoint above (hist.h), 0 when empty (ZooKeeper's empty reservoir).
 */
Test(fourlw, mntr_histogram_summaries_move_and_srst_resets_them)
{
	struct test_server s;
	char *got;

	test_server_start(&s, TWO);
	fake_repl_zk_add(s.repl, REPL_ZK_SNAPSHOT_MS, 5);
	fake_repl_zk_add(s.repl, REPL_ZK_SNAPSHOT_MS, 9);
	fake_repl_zk_add(s.repl, REPL_ZK_SNAPSHOT_MS, 2);
	fake_repl_zk_add(s.repl, REPL_ZK_PROPOSAL_ACK_MS, 4);
	fake_repl_zk_add(s.repl, REPL_ZK_PROPOSAL_ACK_MS, 6);
	fake_repl_ack_add(s.repl, 2, 3);
	fake_repl_ack_add(s.repl, 2, 7);
	fake_repl_ack_add(s.repl, 3, 1);
	got = test_4lw(s.port, "mntr");
	cr_assert(has_metric(got, "avg_snapshottime", "5.3333"), "%s", got);
	cr_assert(has_metric(got, "min_snapshottime", "2"));
	cr_assert(has_metric(got, "max_snapshottime", "9"));
	cr_assert(has_metric(got, "cnt_snapshottime", "3"));
	cr_assert(has_metric(got, "sum_snapshottime", "16"));
	cr_assert(has_metric(got, "avg_proposal_ack_creation_latency", "5.0"), "%s", got);
	cr_assert(has_metric(got, "min_proposal_ack_creation_latency", "4"));
	cr_assert(has_metric(got, "max_proposal_ack_creation_latency", "6"));
	cr_assert(has_metric(got, "p50_proposal_ack_creation_latency", "4"), "%s", got);
	cr_assert(has_metric(got, "p99_proposal_ack_creation_latency", "6"));
	cr_assert(has_metric(got, "p50_2_ack_latency", "3"));
	cr_assert(has_metric(got, "p95_2_ack_latency", "7"));
	cr_assert(has_metric(got, "avg_2_ack_latency", "5.0"), "%s", got);
	cr_assert(has_metric(got, "min_2_ack_latency", "3"));
	cr_assert(has_metric(got, "max_2_ack_latency", "7"));
	cr_assert(has_metric(got, "cnt_2_ack_latency", "2"));
	cr_assert(has_metric(got, "sum_2_ack_latency", "10"));
	cr_assert(has_metric(got, "p999_2_ack_latency", "7"));
	cr_assert(has_metric(got, "p50_3_ack_latency", "1"));
	/* no counterpart in Cheetah: an empty counter */
	cr_assert(has_metric(got, "p99_jvm_pause_time_ms", "0"));
	cr_assert(has_metric(got, "cnt_3_ack_latency", "1"));
	/* after every ZooKeeper summary, before Cheetah's own lines */
	cr_assert(strstr(got, "zk_p999_write_commitproc_time_ms") <
		  strstr(got, "zk_avg_2_ack_latency"));
	cr_assert(strstr(got, "zk_avg_2_ack_latency") < strstr(got, "cheetah_stage_"));
	free(got);

	expect_word(s.port, "srst", "Server stats reset.\n");
	got = test_4lw(s.port, "mntr");
	cr_assert(has_metric(got, "avg_snapshottime", "0.0"), "%s", got);
	cr_assert(has_metric(got, "min_snapshottime", "0"));
	cr_assert(has_metric(got, "max_snapshottime", "0"));
	cr_assert(has_metric(got, "cnt_snapshottime", "0"));
	cr_assert(has_metric(got, "cnt_proposal_ack_creation_latency", "0"));
	cr_assert(has_metric(got, "cnt_2_ack_latency", "0"), "%s", got);
	cr_assert(has_metric(got, "max_2_ack_latency", "0"));
	cr_assert(has_metric(got, "p50_2_ack_latency", "0"));
	cr_assert(has_metric(got, "p999_2_ack_latency", "0"));
	cr_assert(has_metric(got, "p99_proposal_ack_creation_latency", "0"));
	free(got);

	/* The next point starts min and max afresh (not 2 and 9 from before srst). */
	fake_repl_zk_add(s.repl, REPL_ZK_SNAPSHOT_MS, 11);
	fake_repl_ack_add(s.repl, 2, 20);
	fake_repl_zk_add(s.repl, REPL_ZK_PROPOSAL_ACK_MS, 1);
	got = test_4lw(s.port, "mntr");
	cr_assert(has_metric(got, "min_snapshottime", "11"), "%s", got);
	cr_assert(has_metric(got, "max_snapshottime", "11"));
	cr_assert(has_metric(got, "cnt_snapshottime", "1"));
	cr_assert(has_metric(got, "sum_snapshottime", "11"));
	cr_assert(has_metric(got, "avg_snapshottime", "11.0"));
	cr_assert(has_metric(got, "min_2_ack_latency", "20"), "%s", got);
	/* 20's bucket [20, 22) reads as 20.5, rounded half up; with 3 and 7 it would be 7 */
	cr_assert(has_metric(got, "p50_2_ack_latency", "21"));
	cr_assert(has_metric(got, "p99_proposal_ack_creation_latency", "1"));
	cr_assert(has_metric(got, "cnt_3_ack_latency", "0"));
	free(got);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/* Opens n echo connections and waits until each is served. */
static void open_some(uint16_t port, int *fds, int n)
{
	char buf[16];

	for (int i = 0; i < n; i++) {
		fds[i] = test_connect(port);
		test_send_str_frame(fds[i], "ping");
		cr_assert_eq(test_read_frame(fds[i], buf, sizeof(buf)), 4);
	}
}

static int count_lines_starting(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, strlen(prefix)))
			n++;
	return n;
}

Test(fourlw, stat_lists_clients_of_every_worker)
{
	struct test_server s;
	int fds[6];
	char *got;
	const char *rest;

	test_server_start(&s, TWO);
	open_some(s.port, fds, 6);
	got = test_4lw(s.port, "stat");
	rest = after_version(got);
	cr_assert_eq(strncmp(rest, "Clients:\n", 9), 0, "%s", rest);
	/* The six plus the asking connection itself, as in ZooKeeper. */
	cr_assert_eq(count_lines_starting(rest, " /127.0.0.1:"), 7, "%s", rest);
	cr_assert_not_null(strstr(rest, ")\n\nLatency min/avg/max: 1/1.2343/3\n"
					"Received: 21\nSent: 40\nConnections: 7\n"
					"Outstanding: 2\nZxid: 0x0\nMode: standalone\n"
					"Node count: 0\n"),
			   "%s", rest);
	free(got);

	got = test_4lw(s.port, "cons");
	cr_assert_eq(count_lines_starting(got, " /127.0.0.1:"), 7, "%s", got);
	cr_assert_eq(strcmp(got + strlen(got) - 3, ")\n\n"), 0, "%s", got);
	free(got);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/*
 * Issue 8: cons, stat and dump over many connections are built a chunk
 * at a time by each worker (they used to be built whole while the
 * worker's other connections waited), and the text is still complete.
 */
Test(fourlw, connection_listings_are_streamed_in_chunks, .timeout = 60)
{
	enum { N = 4000 }; /* ~45 bytes a line: 180 kB, 90 kB a worker, over a chunk */
	static int fds[N];
	struct test_server s;
	struct rlimit rl;
	char *got;
	uint32_t chunks;

	/* both ends of N connections live in this process */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2 * N + 256 && rl.rlim_max >= 2 * N + 256) {
		rl.rlim_cur = 2 * N + 256;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	if (rl.rlim_cur < 2 * N + 256)
		cr_skip_test("needs %d file descriptors (RLIMIT_NOFILE hard limit %llu)", 2 * N + 256,
			     (unsigned long long)rl.rlim_max);
	test_server_start(&s, TWO_MANY);
	open_some(s.port, fds, N);
	__atomic_store_n(&fake_max_chunk, 0, __ATOMIC_SEQ_CST);
	chunks = __atomic_load_n(&fake_chunks, __ATOMIC_SEQ_CST);
	got = test_4lw(s.port, "cons");
	cr_assert_eq(count_lines_starting(got, " /127.0.0.1:"), N + 1);
	cr_assert_eq(strcmp(got + strlen(got) - 3, ")\n\n"), 0);
	free(got);
	cr_assert_geq(__atomic_load_n(&fake_chunks, __ATOMIC_SEQ_CST) - chunks, 3,
		      "cons was not produced in chunks");
	cr_assert_leq(__atomic_load_n(&fake_max_chunk, __ATOMIC_SEQ_CST), DP_4LW_CHUNK + 128);

	got = test_4lw(s.port, "stat");
	cr_assert_eq(count_lines_starting(after_version(got), " /127.0.0.1:"), N + 1);
	cr_assert_not_null(strstr(got, ")\n\nLatency min/avg/max: "), "%.200s", got);
	cr_assert_not_null(strstr(got, "\nNode count: 0\n"));
	free(got);

	chunks = __atomic_load_n(&fake_chunks, __ATOMIC_SEQ_CST);
	got = test_4lw(s.port, "dump");
	/* every connection is in the fake's bucket 30000, listed once */
	cr_assert_eq(count_lines_starting(got, "\tip: /127.0.0.1:"), N + 1);
	cr_assert_not_null(strstr(got, "Connections dump:\nConnections Sets (1)/(4001):\n4001 "
				       "expire at "),
			   "%.300s", strstr(got, "Connections dump:"));
	free(got);
	cr_assert_geq(__atomic_load_n(&fake_chunks, __ATOMIC_SEQ_CST) - chunks, 3);
	cr_assert_leq(__atomic_load_n(&fake_max_chunk, __ATOMIC_SEQ_CST), DP_4LW_CHUNK + 128);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(fourlw, watch_words_gather_every_worker)
{
	struct test_server s;

	test_server_start(&s, TWO);
	expect_word(s.port, "wchs", "2 connections watching 4 paths\nTotal watches:6\n");
	expect_word(s.port, "wchc", "0x0\n\t/w0\n0x1\n\t/w1\n\n");
	expect_word(s.port, "wchp", "0x0\n\t/w0\n0x1\n\t/w1\n\n");
	expect_word(s.port, "crst", "Connection stats reset.\n");
	expect_word(s.port, "srst", "Server stats reset.\n");
	/* srst zeroed the word counts: only this srvr is counted now. */
	char *got = test_4lw(s.port, "srvr");

	cr_assert_not_null(strstr(got, "Received: 21\n"), "%s", got);
	free(got);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/* The fake's listing of worker wi with n lines. */
static void fake_listing(char **p, uint32_t wi, uint32_t n)
{
	*p += sprintf(*p, "0x%u\n", wi);
	for (uint32_t k = 0; k < n; k++)
		*p += sprintf(*p, "\t/w%u/%08u\n", wi, k);
}

Test(fourlw, long_watch_listings_are_streamed_whole, .timeout = 60)
{
	/* 2 workers x 300,000 lines of 13 bytes: 7.8 MB, over the 4 MiB bound. */
	const uint32_t n = 300000;
	struct test_server s;
	char *want = malloc(2 * (16 + (size_t)n * 16) + 2), *p = want, *got;
	int fd, by;
	char buf[64];
	long len;

	cr_assert(want);
	fake_wch_lines = n;
	test_server_start(&s, TWO);
	fake_listing(&p, 0, n);
	fake_listing(&p, 1, n);
	strcpy(p, "\n");

	/*
	 * The asker does not read yet: the server produces a chunk or two
	 * and waits; meanwhile another connection is served at once.
	 */
	fd = test_connect(s.port);
	test_send(fd, "wchp", 4);
	by = test_connect(s.port);
	for (int i = 0; i < 20; i++) {
		test_send_str_frame(by, "ping");
		cr_assert_eq(test_read_frame(by, buf, sizeof(buf)), 4);
	}
	len = test_read_all(fd, &got);
	cr_assert_eq(len, (long)strlen(want));
	cr_assert(memcmp(got, want, (size_t)len) == 0, "the text differs");
	free(got);
	close(fd);
	/* No worker built more than a chunk (and a line) at once. */
	cr_assert_leq(__atomic_load_n(&fake_max_chunk, __ATOMIC_SEQ_CST), DP_4LW_CHUNK + 64);

	got = test_4lw(s.port, "wchc");
	cr_assert_str_eq(got, want);
	free(got);
	close(by);
	free(want);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(fourlw, a_listing_nobody_reads_is_dropped, .timeout = 60)
{
	struct test_server s;
	uint64_t t0;
	int fd;

	fake_wch_lines = 3000000; /* 39 MB: never produced whole */
	test_server_start(&s, TWO);
	fd = test_connect(s.port);
	/* A tiny receive buffer: the server's writes stall at once. */
	int one = 4096;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one));
	test_send(fd, "wchp", 4);
	t0 = clock_mono_ns();
	/* Closed after DP_CLOSE_LINGER_MS without progress (and a tick). */
	while (!test_wait_closed(1))
		cr_assert_lt(clock_mono_ns() - t0, 20ull * 1000000000, "never dropped");
	/* 600 chunks in all; the socket buffers hold about 4 MB (64 chunks). */
	cr_assert_lt(__atomic_load_n(&fake_chunks, __ATOMIC_SEQ_CST), 200);
	close(fd);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/*
 * dump: the core's tracker (fake_sessions_dump: buckets at +2 s, +4 s
 * emptied, +20 s after Sun Nov 22 09:30:00 UTC 2026), the ephemerals,
 * then every worker's connections grouped by bucket, earliest first.
 */
Test(fourlw, dump_prints_tracker_ephemerals_and_connections)
{
	static const char want[] = "SessionTracker dump:\n"
				   "Session Sets (3)/(3):\n"
				   "1 expire at Sun Nov 22 09:30:02 UTC 2026:\n"
				   "\t0x1000099e3d60000\n"
				   "0 expire at Sun Nov 22 09:30:04 UTC 2026:\n"
				   "2 expire at Sun Nov 22 09:30:20 UTC 2026:\n"
				   "\t0x1000099e3d60001\n"
				   "\t0x1000099e3d60002\n"
				   "ephemeral nodes dump:\n"
				   "Sessions with Ephemerals (1):\n"
				   "0x1000099e3d60000:\n"
				   "\t/e1\n"
				   "Connections dump:\n"
				   "Connections Sets (2)/(6):\n"
				   "5 expire at ";
	static const char last[] = ":\n\tip: /10.0.0.2:7 sessionId: 0x2\n";
	struct test_server s;
	char *got, day[4], mon[4], zone[4];
	int d, h, m, sec, year, fds[3];

	setenv("TZ", "UTC", 1);
	tzset();
	test_server_start(&s, TWO);
	open_some(s.port, fds, 3);
	/* Worker 0 adds two lines out of order, one in the real lines' bucket. */
	fake_dump_lines = "40000\tip: /10.0.0.2:7 sessionId: 0x2\n"
			  "30000\tip: /10.0.0.1:7 sessionId: 0x1\n";
	got = test_4lw(s.port, "dump");
	fake_dump_lines = NULL;
	cr_assert_eq(strncmp(got, want, strlen(want)), 0, "%s", got);
	cr_assert_eq(sscanf(got + strlen(want), "%3s %3s %2d %2d:%2d:%2d %3s %4d:", day, mon, &d,
			    &h, &m, &sec, zone, &year),
		     8, "%s", got);
	cr_assert_str_eq(zone, "UTC");
	/* The three, the asking connection, then the later bucket. */
	cr_assert_eq(count_lines_starting(got, "\tip: /127.0.0.1:"), 4, "%s", got);
	cr_assert_not_null(strstr(got, "\tip: /10.0.0.1:7 sessionId: 0x1\n"), "%s", got);
	cr_assert(strstr(got, "\tip: /10.0.0.1:7") <
		      strstr(strstr(got, "Connections dump:"), "\n1 expire at "),
		  "%s", got);
	cr_assert_eq(strcmp(got + strlen(got) - strlen(last), last), 0, "%s", got);
	free(got);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(fourlw, small_words)
{
	struct test_server s;
	uint8_t stmk[12] = { 's', 't', 'm', 'k' };
	char *got;
	long n;
	int fd;

	test_server_start(&s, ALL);
	expect_word(s.port, "isro", "rw");
	expect_word(s.port, "gtmk", "306");
	expect_word(s.port, "hash", "");

	jute_put_be64(stmk + 4, 258);
	fd = test_connect(s.port);
	test_send(fd, stmk, 4);
	cr_assert(test_wait_bytes_in(&s, test_server_bytes_in(&s)));
	test_send(fd, stmk + 4, 8);
	n = test_read_all(fd, &got);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(got, "258");
	free(got);
	close(fd);
	expect_word(s.port, "gtmk", "258");

	got = test_4lw(s.port, "conf");
	char want[64];

	snprintf(want, sizeof(want), "clientPort=%u\nsecureClientPort=-1\ndataDir=", s.port);
	cr_assert_eq(strncmp(got, want, strlen(want)), 0, "%s", got);
	cr_assert_not_null(strstr(got, "\ntickTime=2000\nmaxClientCnxns=60\n"
				       "minSessionTimeout=4000\nmaxSessionTimeout=40000\n"
				       "clientPortListenBacklog=-1\nserverId=0\n"),
			   "%s", got);
	free(got);

	got = test_4lw(s.port, "envi");
	cr_assert_eq(strncmp(got, "Environment:\nzookeeper.version=3.8.0-cheetah-", 45), 0, "%s",
		     got);
	cr_assert_not_null(strstr(got, "\nos.name=Linux\n"), "%s", got);
	cr_assert_not_null(strstr(got, "\nos.memory.total="), "%s", got);
	free(got);

	got = test_4lw(s.port, "dirs");
	cr_assert_eq(strncmp(got, "datadir_size: ", 14), 0, "%s", got);
	cr_assert_not_null(strstr(got, "\nlogdir_size: "), "%s", got);
	free(got);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(fourlw, unknown_words_are_frame_lengths)
{
	struct test_server s;
	char *got;

	test_server_start(&s, ALL);
	/* "xxxx" is 0x78787878: above jute.maxbuffer, "Len error", closed. */
	expect_word(s.port, "xxxx", "");
	/* Words of later releases are not 3.8's either. */
	expect_word(s.port, "icfg", "");
	got = test_4lw(s.port, "ruok");
	cr_assert_str_eq(got, "imok");
	free(got);
	test_server_stop(&s);
	test_assert_no_leaks();
}
