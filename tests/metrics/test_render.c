// SPDX-License-Identifier: Apache-2.0
/*
 * metrics/prom.h and met_render: the text format's escaping (HELP,
 * label values), value spellings, a summary's lines, and /metrics' text
 * for made-up figures: ZooKeeper's names and types, the leader-only
 * gauges only on a leader, per-worker labels, and the summaries' 10
 * minute window.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist.h"
#include "common/jute.h"
#include "metrics/metrics_priv.h"
#include "metrics/prom.h"
#include "tests/common/leakcheck.h"

static struct jute_out o;

static void setup(void)
{
	jute_out_init(&o, 0);
}

static void teardown(void)
{
	jute_out_free(&o);
}

/* o's text so far, NUL-terminated. */
static const char *text(void)
{
	jute_put_raw(&o, "", 1);
	o.len--;
	cr_assert_eq(o.err, 0);
	return (const char *)o.buf;
}

TestSuite(prom, .init = setup, .fini = teardown);

Test(prom, help_escapes_backslash_and_newline_only)
{
	prom_family(&o, "m", "gauge", "a \\ b\nc \"q\"");
	cr_assert_str_eq(text(), "# HELP m a \\\\ b\\nc \"q\"\n# TYPE m gauge\n");
}

Test(prom, label_values_escape_backslash_quote_newline)
{
	struct prom_label l[2] = {{"path", "/a\"b\\c\nd"}, {"k", ""}};

	prom_sample(&o, "m", "_sum", l, 2, 3);
	cr_assert_str_eq(text(), "m_sum{path=\"/a\\\"b\\\\c\\nd\",k=\"\"} 3\n");
}

Test(prom, values_as_prometheus_parses_them)
{
	static const struct {
		double v;
		const char *s;
	} cases[] = {
	    {0, "0"},
	    {-0.0, "-0"},
	    {42, "42"},
	    {0.1, "0.1"},
	    {6.6217, "6.6217"},
	    {-2.5, "-2.5"},
	    {1e-05, "1e-05"},
	    {1e20, "1e+20"},
	    {18446744073709551615.0, "1.8446744073709552e+19"},
	    {NAN, "NaN"},
	    {INFINITY, "+Inf"},
	    {-INFINITY, "-Inf"},
	};
	char buf[40];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		prom_value(buf, sizeof(buf), cases[i].v);
		cr_assert_str_eq(buf, cases[i].s);
		if (!isnan(cases[i].v))
			cr_assert_eq(strtod(buf, NULL), cases[i].v, "%s reads back", buf);
	}
}

Test(prom, summary_quantiles_count_and_sum)
{
	static struct hist h;
	static const double qs[] = {0.5, 0.9, 0.99};
	struct prom_label l = {"key", "x"};

	for (int i = 0; i < 4; i++)
		hist_add(&h, 2000); /* 2000 us: the bucket [1920, 2048) */
	prom_summary(&o, "lat", &l, 1, qs, 3, &h, 1e-3, 10, 5000);
	cr_assert_str_eq(text(), "lat{key=\"x\",quantile=\"0.5\"} 1.9835\n"
				 "lat{key=\"x\",quantile=\"0.9\"} 1.9835\n"
				 "lat{key=\"x\",quantile=\"0.99\"} 1.9835\n"
				 "lat_count{key=\"x\"} 10\n"
				 "lat_sum{key=\"x\"} 5\n");
}

Test(prom, summary_without_observations_says_nan)
{
	static struct hist h;
	static const double qs[] = {0.5};

	prom_summary(&o, "s", NULL, 0, qs, 1, &h, 1, 0, 0);
	cr_assert_str_eq(text(), "s{quantile=\"0.5\"} NaN\ns_count 0\ns_sum 0\n");
}

/* Made-up figures: a standalone server with two workers, one pinned. */
static void figures(struct dp_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->uptime_ms = 5000;
	s->server_state = "standalone";
	s->packets_received = 30;
	s->packets_sent = 29;
	s->connections = 2;
	s->znode_count = 15;
	s->ephemerals_count = 3;
	s->approximate_data_size = 119;
	s->global_sessions = 4;
	s->open_fds = 17;
	s->max_fds = 1024;
	s->bytes_received = 719;
	s->have_latency = true;
	s->latency_min_us = 200;
	s->latency_max_us = 3500;
	s->latency_sum_us = 10000;
	s->latency_count = 3;
	for (int i = 0; i < 13; i++) {
		hist_add(&s->fsync_us_hist, i < 12 ? 2000 : 50000); /* 2 ms, one of 50 ms */
		hist_add(&s->batch_hist, i < 6 ? 1 : 2);
	}
	s->ncores = 2;
	s->cores[0] =
	    (struct dp_stats_core){.worker = 0, .cpu = 3, .packets_received = 10, .connections = 1};
	s->cores[1] = (struct dp_stats_core){
	    .worker = 1, .cpu = -1, .packets_received = 20, .connections = 1};
}

static bool has_line(const char *t, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = t; (p = strstr(p, line)); p++)
		if ((p == t || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

Test(prom, render_zookeeper_names_types_and_cheetah_labels)
{
	static struct dp_stats s;
	static struct met_window w;
	const char *t;

	figures(&s);
	met_window_init(&w, 1000);
	met_render(&w, &s, 1000, &o);
	t = text();
	cr_assert(has_line(t, "# TYPE znode_count gauge"), "%s", t);
	cr_assert(has_line(t, "znode_count 15"));
	cr_assert(has_line(t, "# HELP znode_count znode_count"));
	cr_assert(has_line(t, "ephemerals_count 3"));
	cr_assert(has_line(t, "avg_latency 3.3333"));
	cr_assert(has_line(t, "min_latency 0"));
	cr_assert(has_line(t, "max_latency 4"));
	cr_assert(has_line(t, "# TYPE bytes_received_count counter"));
	cr_assert(has_line(t, "bytes_received_count 719"));
	cr_assert(has_line(t, "# TYPE looking_count counter"));
	cr_assert(has_line(t, "looking_count 0"));
	cr_assert(has_line(t, "election_time{quantile=\"0.5\"} NaN"));
	cr_assert(has_line(t, "election_time_count 0"));
	cr_assert(has_line(t, "# TYPE readlatency summary"));
	cr_assert(has_line(t, "readlatency{quantile=\"0.99\"} NaN"));
	cr_assert(has_line(t, "fsynctime{quantile=\"0.5\"} 1.9835"), "%s", t);
	cr_assert(has_line(t, "fsynctime_count 13"));
	cr_assert(has_line(t, "fsynctime_sum 74"));
	cr_assert(has_line(t, "sync_processor_batch_size{quantile=\"0.5\"} 2"));
	cr_assert(has_line(t, "sync_processor_batch_size_sum 20"));
	cr_assert_null(strstr(t, "sync_processor_batch_size{quantile=\"0.9\"}"));
	cr_assert(has_line(t, "cheetah_group_commit_records{quantile=\"0.99\"} 2"));
	cr_assert(has_line(t, "cheetah_group_commit_records_count 13"));
	cr_assert(
	    has_line(t, "cheetah_dataplane_packets_received_total{worker=\"0\",core=\"3\"} 10"));
	cr_assert(has_line(
	    t, "cheetah_dataplane_packets_received_total{worker=\"1\",core=\"unpinned\"} 20"));
	cr_assert(has_line(t, "# TYPE cheetah_dataplane_connections gauge"));
	/* Leader-only gauges only on a serving leader; leader id only in an ensemble. */
	cr_assert_null(strstr(t, "learners"));
	cr_assert_null(strstr(t, "cheetah_leader_id"));
	/* No constant for what Cheetah lacks. */
	cr_assert_null(strstr(t, "connection_drop_probability"));
	cr_assert_null(strstr(t, "jvm_"));
}

/* The dataplane's response and watch figures (metricsdp). */
Test(prom, render_dataplane_response_and_watch_metrics)
{
	static struct dp_stats s;
	static struct met_window w;
	const char *t;

	figures(&s);
	s.last_response_size = 84;
	s.min_response_size = 16;
	s.max_response_size = 1088;
	s.response_bytes = 1210;
	s.watch_bytes = 278;
	s.sessionless_expired = 1;
	s.conn_revalidate = 2;
	s.stale_expired = 5;
	s.revalidate = 6;
	hist_add(&s.watch_fired[2], 3); /* NodeDataChanged to 3 watchers */
	hist_add(&s.watch_fired[2], 1);
	met_window_init(&w, 1000);
	met_render(&w, &s, 1000, &o);
	t = text();
	cr_assert(has_line(t, "# TYPE last_client_response_size gauge"), "%s", t);
	cr_assert(has_line(t, "last_client_response_size 84"));
	cr_assert(has_line(t, "min_client_response_size 16"));
	cr_assert(has_line(t, "max_client_response_size 1088"));
	cr_assert(has_line(t, "# TYPE response_bytes counter"));
	cr_assert(has_line(t, "response_bytes 1210"));
	cr_assert(has_line(t, "watch_bytes 278"));
	cr_assert(
	    has_line(t, "# HELP sessionless_connections_expired sessionless_connections_expired"));
	cr_assert(has_line(t, "sessionless_connections_expired 1"));
	cr_assert(has_line(t, "connection_revalidate_count 2"));
	cr_assert(has_line(t, "# TYPE stale_sessions_expired counter"));
	cr_assert(has_line(t, "stale_sessions_expired 5"));
	cr_assert(has_line(t, "revalidate_count 6"));
	cr_assert(has_line(t, "# TYPE node_changed_watch_count summary"));
	cr_assert(has_line(t, "node_changed_watch_count_count 2"));
	cr_assert(has_line(t, "node_changed_watch_count_sum 4"));
	cr_assert_null(strstr(t, "node_changed_watch_count{quantile=\"0.9\"}")); /* BASIC */
	cr_assert(has_line(t, "node_created_watch_count{quantile=\"0.5\"} NaN"));
	cr_assert(has_line(t, "node_deleted_watch_count_count 0"));
	cr_assert(has_line(t, "node_children_watch_count_sum 0"));

	/* -1 until a frame went out (BufferStats.INIT_VALUE). */
	s.last_response_size = s.min_response_size = s.max_response_size = -1;
	o.len = 0;
	met_render(&w, &s, 1000, &o);
	t = text();
	cr_assert(has_line(t, "last_client_response_size -1"), "%s", t);
	cr_assert(has_line(t, "min_client_response_size -1"));
	cr_assert(has_line(t, "max_client_response_size -1"));
}

Test(prom, render_leader_gauges)
{
	static struct dp_stats s;
	static struct met_window w;
	const char *t;

	figures(&s);
	s.leader = true;
	s.myid = s.leader_id = 2;
	s.learners = 2;
	s.synced_followers = 2;
	s.quorum_size = 3;
	s.last_proposal_size = -1;
	s.nlag = 2;
	s.lag_id[0] = 1;
	s.lag_entries[0] = 0;
	s.lag_id[1] = 3;
	s.lag_entries[1] = 17;
	met_window_init(&w, 0);
	met_render(&w, &s, 0, &o);
	t = text();
	cr_assert(has_line(t, "learners 2"), "%s", t);
	cr_assert(has_line(t, "synced_followers 2"));
	cr_assert(has_line(t, "last_proposal_size -1"));
	cr_assert(has_line(t, "cheetah_leader_id 2"));
	cr_assert(has_line(t, "cheetah_quorum_size 3"));
	cr_assert(has_line(t, "# TYPE cheetah_follower_lag_entries gauge"));
	cr_assert(has_line(t, "cheetah_follower_lag_entries{follower=\"1\"} 0"));
	cr_assert(has_line(t, "cheetah_follower_lag_entries{follower=\"3\"} 17"));
}

Test(prom, render_backend_counters_per_worker)
{
	static struct dp_stats s;
	static struct met_window w;
	const char *t;

	figures(&s);
	s.nnet = 3;
	s.net_name[0] = "tcp_retrans";
	s.net_kind[0] = DP_STATS_NET_COUNTER;
	s.net_name[1] = "socks";
	s.net_kind[1] = DP_STATS_NET_GAUGE;
	s.net_name[2] = "dev_rx_missed";
	s.net_kind[2] = DP_STATS_NET_DEVICE;
	s.cores[0].net[0] = 7;
	s.cores[1].net[0] = 9;
	s.cores[0].net[1] = 2;
	s.cores[1].net[1] = 3;
	s.cores[0].net[2] = 11; /* worker 0 reads the device's counters */
	met_window_init(&w, 0);
	met_render(&w, &s, 0, &o);
	t = text();
	cr_assert(has_line(t, "# TYPE cheetah_net_tcp_retrans_total counter"), "%s", t);
	cr_assert(has_line(t, "cheetah_net_tcp_retrans_total{worker=\"0\",core=\"3\"} 7"));
	cr_assert(has_line(t, "cheetah_net_tcp_retrans_total{worker=\"1\",core=\"unpinned\"} 9"));
	cr_assert(has_line(t, "# TYPE cheetah_net_socks gauge"));
	cr_assert(has_line(t, "cheetah_net_socks{worker=\"1\",core=\"unpinned\"} 3"));
	cr_assert(has_line(t, "# TYPE cheetah_net_dev_rx_missed_total counter"));
	cr_assert(has_line(t, "cheetah_net_dev_rx_missed_total 11"));
}

/* The quantile of readlatency in text t. */
static double quantile(const char *t, const char *q)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\nreadlatency{quantile=\"%s\"} ", q);
	p = strstr(t, key);
	cr_assert_not_null(p, "%s", t);
	return strtod(p + strlen(key), NULL);
}

Test(prom, summary_window_forgets_after_ten_minutes)
{
	static struct dp_stats s;
	static struct met_window w;
	uint64_t t0 = 5000;

	figures(&s);
	met_window_init(&w, t0);
	for (int i = 0; i < 100; i++)
		hist_add(&s.read_us, 50000);	/* 50 ms */
	met_render(&w, &s, t0 + 3 * 60000, &o); /* keeps a copy dated minute 3 */
	cr_assert(fabs(quantile(text(), "0.5") - 50) < 50 / 16.0);

	/* Minute 9, new fast reads: in the window with the slow ones. */
	for (int i = 0; i < 300; i++)
		hist_add(&s.read_us, 1000); /* 1 ms */
	o.len = 0;
	met_render(&w, &s, t0 + 9 * 60000, &o);
	cr_assert(fabs(quantile(text(), "0.5") - 1) < 1 / 16.0 + 0.01);
	cr_assert(fabs(quantile(text(), "0.99") - 50) < 50 / 16.0);

	/* Minute 12: the window starts at minute 3, after the slow reads. */
	o.len = 0;
	met_render(&w, &s, t0 + 12 * 60000, &o);
	cr_assert(fabs(quantile(text(), "0.99") - 1) < 1 / 16.0 + 0.01, "%s", text());
	/* _count and _sum stay cumulative. */
	cr_assert(has_line(text(), "readlatency_count 400"));
	cr_assert(has_line(text(), "readlatency_sum 5300"));

	/* 25 minutes on, nothing new: no observation in the window. */
	o.len = 0;
	met_render(&w, &s, t0 + 25 * 60000, &o);
	cr_assert(isnan(quantile(text(), "0.5")));
	test_assert_no_leaks();
}

/* The replication side (metricsrepl): counters, BASIC and ADVANCED summaries. */
Test(prom, render_replication_metrics)
{
	static struct dp_stats s;
	static struct met_window w;
	const char *t;

	figures(&s);
	s.proposal_count = 12;
	s.commit_count = 11;
	s.snap_count = 1;
	s.diff_count = 2;
	s.learner_proposal_count = 5;
	s.learner_commit_count = 4;
	hist_add(&s.db_init_ms, 112);
	hist_add(&s.startup_txns_loaded, 33);
	hist_add(&s.snapshot_ms, 3);
	hist_add(&s.snapshot_ms, 5);
	hist_add(&s.inflight_snaps, 1);
	hist_add(&s.inflight_snaps, 0);
	for (uint64_t v = 1; v <= 100; v++)
		hist_add(&s.quorum_ack_ms, v < 100 ? 2 : 7);
	hist_add(&s.follower_sync_ms, 40); /* a snapshot install to serving */
	hist_add(&s.follower_sync_ms, 24);
	met_window_init(&w, 1000);
	met_render(&w, &s, 1000, &o);
	t = text();
	cr_assert(has_line(t, "# TYPE proposal_count counter"), "%s", t);
	cr_assert(has_line(t, "# HELP proposal_count proposal_count"));
	cr_assert(has_line(t, "proposal_count 12"));
	cr_assert(has_line(t, "commit_count 11"));
	cr_assert(has_line(t, "snap_count 1"));
	cr_assert(has_line(t, "diff_count 2"));
	cr_assert(has_line(t, "learner_proposal_received_count 5"));
	cr_assert(has_line(t, "learner_commit_received_count 4"));
	cr_assert(has_line(t, "# TYPE unrecoverable_error_count counter"));
	cr_assert(has_line(t, "unrecoverable_error_count 0"));
	cr_assert(has_line(t, "# TYPE dbinittime summary"));
	cr_assert(has_line(t, "dbinittime_count 1"));
	cr_assert(has_line(t, "dbinittime_sum 112"));
	cr_assert_null(strstr(t, "dbinittime{quantile=\"0.9\"}")); /* BASIC: median only */
	cr_assert(has_line(t, "startup_txns_loaded_sum 33"));
	cr_assert(has_line(t, "startup_txns_load_time_count 0"));
	cr_assert(has_line(t, "startup_txns_load_time{quantile=\"0.5\"} NaN"));
	cr_assert(has_line(t, "snapshottime_count 2"));
	cr_assert(has_line(t, "snapshottime_sum 8"));
	cr_assert(has_line(t, "inflight_snap_count_count 2"));
	cr_assert(has_line(t, "inflight_snap_count_sum 1"));
	cr_assert(has_line(t, "# TYPE unavailable_time summary"));
	cr_assert(has_line(t, "leader_unavailable_time_count 0"));
	cr_assert(has_line(t, "# TYPE follower_sync_time summary"));
	cr_assert(has_line(t, "# HELP follower_sync_time follower_sync_time"));
	cr_assert(has_line(t, "follower_sync_time_count 2"));
	cr_assert(has_line(t, "follower_sync_time_sum 64"));
	/* the median in the bucket of 24, [24, 26): within 1/16 */
	cr_assert(has_line(t, "follower_sync_time{quantile=\"0.5\"} 24.5"), "%s", t);
	cr_assert(has_line(t, "# TYPE observer_sync_time summary"));
	cr_assert(has_line(t, "observer_sync_time_count 0"));
	cr_assert(has_line(t, "observer_sync_time{quantile=\"0.5\"} NaN"));
	/* ADVANCED: three quantiles */
	cr_assert(has_line(t, "quorum_ack_latency{quantile=\"0.5\"} 2"), "%s", t);
	cr_assert(has_line(t, "quorum_ack_latency{quantile=\"0.99\"} 2"));
	cr_assert(has_line(t, "quorum_ack_latency_count 100"));
	cr_assert(has_line(t, "quorum_ack_latency_sum 205"));
	cr_assert(has_line(t, "propagation_latency{quantile=\"0.9\"} NaN"));
	cr_assert(has_line(t, "commit_propagation_latency_count 0"));
	cr_assert(has_line(t, "# TYPE proposal_latency summary"));
	cr_assert(has_line(t, "proposal_latency{quantile=\"0.99\"} NaN"));
	/* ACK_LATENCY's family with no key yet; PROPOSAL_ACK_CREATION_LATENCY empty */
	cr_assert(has_line(t, "# TYPE ack_latency summary"));
	cr_assert_null(strstr(t, "ack_latency{key="));
	cr_assert(has_line(t, "proposal_ack_creation_latency_count 0"));
}

Test(prom, render_ack_latencies)
{
	static struct dp_stats s;
	static struct met_window w;
	const char *t;

	figures(&s);
	for (uint64_t v = 1; v <= 10; v++)
		hist_add(&s.proposal_ack_ms, 3);
	s.nack = 2;
	s.ack_id[0] = 1; /* the leader's own */
	s.ack_id[1] = 3;
	hist_add(&s.ack_ms[0], 2);
	hist_add(&s.ack_ms[1], 5);
	hist_add(&s.ack_ms[1], 5);
	met_window_init(&w, 1000);
	met_render(&w, &s, 1000, &o);
	t = text();
	cr_assert(has_line(t, "# TYPE proposal_ack_creation_latency summary"), "%s", t);
	cr_assert(
	    has_line(t, "# HELP proposal_ack_creation_latency proposal_ack_creation_latency"));
	cr_assert(has_line(t, "proposal_ack_creation_latency{quantile=\"0.9\"} 3"));
	cr_assert(has_line(t, "proposal_ack_creation_latency_count 10"));
	cr_assert(has_line(t, "proposal_ack_creation_latency_sum 30"));
	/* a SummarySet: label "key", the member id; ADVANCED quantiles */
	cr_assert(has_line(t, "# TYPE ack_latency summary"), "%s", t);
	cr_assert(has_line(t, "ack_latency{key=\"1\",quantile=\"0.5\"} 2"), "%s", t);
	cr_assert(has_line(t, "ack_latency{key=\"3\",quantile=\"0.99\"} 5"));
	cr_assert(has_line(t, "ack_latency_count{key=\"3\"} 2"));
	cr_assert(has_line(t, "ack_latency_sum{key=\"3\"} 10"));
	cr_assert(has_line(t, "ack_latency_count{key=\"1\"} 1"));
}

/*
 * read_per_namespace / write_per_namespace: BASIC summary sets (HELP and
 * TYPE before any key; per key quantile 0.5, _count, _sum, label "key"
 * first and escaped), only the keys a set counted, the overflow key
 * "/other", and the median over the window while _count and _sum stay
 * since start.
 */
Test(prom, render_namespace_summary_sets)
{
	static struct dp_stats s;
	static struct met_window w;
	const char *t;

	figures(&s);
	met_window_init(&w, 1000);
	met_render(&w, &s, 1000, &o);
	t = text();
	cr_assert(has_line(t, "# HELP read_per_namespace read_per_namespace"), "%s", t);
	cr_assert(has_line(t, "# TYPE read_per_namespace summary"));
	cr_assert(has_line(t, "# TYPE write_per_namespace summary"));
	cr_assert_null(strstr(t, "read_per_namespace{"));
	cr_assert_null(strstr(t, "read_per_namespace_count"));

	s.ns_nkeys = 2;
	snprintf(s.ns_key[0], sizeof(s.ns_key[0]), "app");
	snprintf(s.ns_key[1], sizeof(s.ns_key[1]), "q\"b\\s");
	snprintf(s.ns_key[NSSTAT_OTHER], sizeof(s.ns_key[0]), NSSTAT_OTHER_KEY);
	hist_add(&s.ns_hist[NSSTAT_READ][0], 79);
	hist_add(&s.ns_hist[NSSTAT_READ][0], 77);
	hist_add(&s.ns_hist[NSSTAT_READ][0], 5);
	hist_add(&s.ns_hist[NSSTAT_WRITE][1], 11);
	hist_add(&s.ns_hist[NSSTAT_WRITE][NSSTAT_OTHER], 7);
	o.len = 0;
	met_render(&w, &s, 2000, &o);
	t = text();
	/* Median by rank 2 of {5, 77, 79}: the midpoint of 77's bucket [72, 80). */
	cr_assert(has_line(t, "read_per_namespace{key=\"app\",quantile=\"0.5\"} 75.5"), "%s", t);
	cr_assert(has_line(t, "read_per_namespace_count{key=\"app\"} 3"));
	cr_assert(has_line(t, "read_per_namespace_sum{key=\"app\"} 161"));
	cr_assert(has_line(t, "write_per_namespace{key=\"q\\\"b\\\\s\",quantile=\"0.5\"} 11"));
	cr_assert(has_line(t, "write_per_namespace_count{key=\"q\\\"b\\\\s\"} 1"));
	cr_assert(has_line(t, "write_per_namespace_sum{key=\"/other\"} 7"));
	/* A set lists only the keys it counted. */
	cr_assert_null(strstr(t, "read_per_namespace_count{key=\"q"));
	cr_assert_null(strstr(t, "write_per_namespace_count{key=\"app\"}"));
	cr_assert_null(strstr(t, "read_per_namespace_count{key=\"/other\"}"));

	/* 25 minutes on, nothing new: no median, the totals stay. */
	o.len = 0;
	met_render(&w, &s, 2000 + 25 * 60000, &o);
	met_render(&w, &s, 2000 + 26 * 60000, &o);
	o.len = 0;
	met_render(&w, &s, 2000 + 27 * 60000, &o);
	t = text();
	cr_assert(has_line(t, "read_per_namespace{key=\"app\",quantile=\"0.5\"} NaN"), "%s", t);
	cr_assert(has_line(t, "read_per_namespace_count{key=\"app\"} 3"));
}
