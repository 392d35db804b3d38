// SPDX-License-Identifier: Apache-2.0
/*
 * The AdminServer over HTTP on loopback with a fake source: the command
 * listing, ZooKeeper's JSON for a command and its alias (types from the
 * four-letter words' text), an unknown command, a failing source, the
 * HTTP errors (405, 404, 414) and that it serves on after junk.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adminserver/adm_priv.h"
#include "adminserver/adminserver.h"
#include "config/config.h"
#include "dataplane/dp_info.h"
#include "dataplane/dp_stats.h"

static int calls;
/* The fake's ensemble state: 0 standalone, 1 a leader with an observer, 2 looking. */
static int member;

static int fake(void *ctx, const char *word, char **out, size_t *len)
{
	const char *t = NULL;

	(void)ctx;
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	if (!strcmp(word, "ruok"))
		t = "imok";
	else if (!strcmp(word, "isro"))
		t = "rw";
	else if (!strcmp(word, "gtmk"))
		t = "306";
	else if (!strcmp(word, "ensemble"))
		t = member == 1	  ? "state: leader\nmyid: 2\nleader_id: 2\nsynced_observers: 2\n"
				    "observer_ids: 4 7\n"
		    : member == 2 ? "state: looking\nmyid: 2\nleader_id: 0\n"
				  : "state: standalone\nmyid: 0\nleader_id: 0\n";
	else if (!strcmp(word, "conf") && member)
		t = "clientPort=2181\nserverId=2\nmembership: \n"
		    "server.1=10.0.0.1:2888:3888:participant\n"
		    "server.2=10.0.0.2:2888:3888:participant;10.0.0.2:2182\n"
		    "server.4=10.0.0.4:2888:3888:observer\nserver.7=10.0.0.7:2888:3888:observer\n"
		    "version=100000000";
	else if (!strcmp(word, "srvr"))
		t = "Zookeeper version: x\nZxid: 0x1f\nMode: standalone\n";
	else if (!strcmp(word, "dirs"))
		t = "datadir_size: 457\nlogdir_size: 12\n";
	else if (!strcmp(word, "conf"))
		t = "clientPort=2181\nsecureClientPort=-1\ndataDir=/d/cheetah-1\ntickTime=2000\n"
		    "serverId=0\n";
	else if (!strcmp(word, "wchs"))
		t = "3 connections watching 5 paths\nTotal watches:9\n";
	else if (!strcmp(word, "wchc"))
		t = "0x100000000000001\n\t/a\n\t/b\n0x2\n\t/a\n0x100000000000001\n\t/c\n\n";
	else if (!strcmp(word, "wchp"))
		t = "/a\n\t0x100000000000001\n\t0x2\n/b\n\t0x100000000000001\n\n";
	else if (!strcmp(word, "srst"))
		t = "Server stats reset.\n";
	else if (!strcmp(word, "envi"))
		t = "Environment:\nzookeeper.version=3.8.0-x\nos.arch=amd64\n";
	if (!t)
		return -EIO;
	*out = strdup(t);
	*len = strlen(t);
	return *out ? 0 : -ENOMEM;
}

/* A read-only server's figures instead of member's state, when set. */
static bool read_only_state;
static int stats_rc;

/* The server's figures (adm_info_ops.stats): the fake struct. */
static int fake_stats(void *ctx, struct dp_stats *s)
{
	(void)ctx;
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	if (stats_rc)
		return stats_rc;
	memset(s, 0, sizeof(*s));
	s->version = "3.8.0-x, built on y";
	s->server_state = read_only_state ? "read-only"
			  : member == 1	  ? "leader"
			  : member == 2	  ? "looking"
					  : "standalone";
	s->uptime_ms = 12345;
	s->packets_received = 5;
	s->packets_sent = 12;
	s->outstanding = 4;
	s->connections = 3;
	s->znode_count = 7;
	s->last_zxid = 0x1f;
	s->have_latency = true;
	s->latency_min_us = 1500;
	s->latency_max_us = 2100;
	s->latency_sum_us = 3700; /* 2 requests: 1.85 ms */
	s->latency_count = 2;
	return 0;
}

/* monitor's fields (adm_info_ops.monitor): mntr's typed list, as dp_info_monitor gives it. */
static int fake_monitor(void *ctx, void (*fn)(void *, const struct dp_mntr_field *), void *arg)
{
	const struct dp_mntr_field f[] = {
	    {.key = "version", .zk = true, .type = DP_MNTR_STR, .s = "3.8.0-x, built on y"},
	    {.key = "server_state", .zk = true, .type = DP_MNTR_STR, .s = "standalone"},
	    {.key = "avg_latency", .zk = true, .type = DP_MNTR_REAL, .d = 0.5},
	    {.key = "znode_count", .zk = true, .type = DP_MNTR_UINT, .u = 7},
	    {.key = "packets_sent", .zk = true, .type = DP_MNTR_UINT, .u = 12},
	    {.key = "last_client_response_size", .zk = true, .type = DP_MNTR_INT, .i = -1},
	    {.key = "avg_2_ack_latency", .zk = true, .type = DP_MNTR_REAL, .d = 0},
	    {.key = "huge", .zk = true, .type = DP_MNTR_UINT, .u = UINT64_MAX},
	    {.key = "cheetah_net_rx", .zk = false, .type = DP_MNTR_UINT, .u = 3},
	};

	(void)ctx;
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	if (member == 2)
		return -EAGAIN; /* looking */
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		fn(arg, &f[i]);
	return 0;
}

static const struct adm_info_ops ops = {.stats = fake_stats, .monitor = fake_monitor};

static struct cfg cfg;
static struct adm *adm;

static void setup(void)
{
	cr_assert_eq(cfg_defaults(&cfg), 0);
	cfg.admin_address = strdup("127.0.0.1");
	cfg.admin_port = 0;
	cfg.admin_idle_timeout_ms = 1000;
	cr_assert_eq(adm_start(&(struct adm_opts){.cfg = &cfg, .source = fake, .info = &ops}, &adm),
		     0);
	cr_assert_not_null(adm);
	cr_assert_neq(adm_port(adm), 0);
}

static void teardown(void)
{
	adm_stop(adm);
	cfg_free(&cfg);
}

/* Sends req, returns everything until the server closes (malloc'd). */
static char *exchange(const void *req, size_t n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(adm_port(adm))};
	struct timeval tv = {10, 0};
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t r;

	cr_assert_not_null(buf);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(send(fd, req, n, MSG_NOSIGNAL), (ssize_t)n);
	while ((r = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
		len += (size_t)r;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static char *http(const char *method, const char *path)
{
	char *req, *r;
	int n =
	    asprintf(&req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path);

	cr_assert_gt(n, 0);
	r = exchange(req, (size_t)n);
	free(req);
	return r;
}

/* The JSON body of a 200 answer. */
static json_t *get_json(const char *path)
{
	char *r = http("GET", path);
	char *body = strstr(r, "\r\n\r\n");
	json_error_t e;
	json_t *j;

	cr_assert(!strncmp(r, "HTTP/1.1 200", 12), "%s", r);
	cr_assert_not_null(strstr(r, "application/json"), "%s", r);
	cr_assert_not_null(body);
	j = json_loads(body + 4, 0, &e);
	cr_assert_not_null(j, "%s: %s", e.text, body);
	free(r);
	return j;
}

TestSuite(http, .init = setup, .fini = teardown);

Test(http, lists_every_command_as_a_link)
{
	char *r = http("GET", "/commands");

	cr_assert(!strncmp(r, "HTTP/1.1 200", 12), "%s", r);
	for (size_t i = 0; i < adm_n_cmds; i++) {
		char link[128];

		snprintf(link, sizeof(link), "<a href=\"/commands/%s\">%s</a>", adm_cmd_names[i],
			 adm_cmd_names[i]);
		cr_assert_not_null(strstr(r, link), "%s", link);
	}
	free(r);
	r = http("GET", "/commands/");
	cr_assert_not_null(strstr(r, "<a href=\"/commands/monitor\">monitor</a>"), "%s", r);
	free(r);
}

Test(http, unknown_command_as_zookeeper)
{
	json_t *j = get_json("/commands/nosuch");

	cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "nosuch");
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "Unknown command: nosuch");
	cr_assert_eq(json_object_size(j), 2);
	json_decref(j);
}

Test(http, monitor_and_its_alias_type_the_values)
{
	const char *names[] = {"/commands/monitor", "/commands/mntr"};

	for (int i = 0; i < 2; i++) {
		json_t *j = get_json(names[i]);

		cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "monitor");
		cr_assert(json_is_null(json_object_get(j, "error")));
		cr_assert_str_eq(json_string_value(json_object_get(j, "version")),
				 "3.8.0-x, built on y");
		cr_assert(json_is_real(json_object_get(j, "avg_latency")));
		cr_assert_eq(json_integer_value(json_object_get(j, "znode_count")), 7);
		cr_assert(json_is_integer(json_object_get(j, "znode_count")));
		cr_assert_eq(json_integer_value(json_object_get(j, "last_client_response_size")),
			     -1);
		cr_assert_eq(json_integer_value(json_object_get(j, "cheetah_net_rx")), 3);
		/* a Java double 0 is a real (ZooKeeper's 0.0), a ulong past a long a string */
		cr_assert(json_is_real(json_object_get(j, "avg_2_ack_latency")));
		cr_assert_str_eq(json_string_value(json_object_get(j, "huge")),
				 "18446744073709551615");
		cr_assert_null(json_object_get(j, "zk_version"));
		json_decref(j);
	}
}

Test(http, monitor_not_serving_while_looking)
{
	json_t *j;

	member = 2;
	j = get_json("/commands/monitor");
	member = 0;
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
			 "This ZooKeeper instance is not currently serving requests");
	cr_assert_null(json_object_get(j, "version"));
	json_decref(j);
}

static json_int_t ival(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	cr_assert(json_is_integer(v), "%s is not an integer", k);
	return json_integer_value(v);
}

/* server_stats from the fake struct (and dirs' text): every field, ZooKeeper's types. */
Test(http, server_stats_from_the_figures)
{
	json_t *j = get_json("/commands/srvr"), *ss, *cr;

	cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "server_stats");
	cr_assert(json_is_null(json_object_get(j, "error")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "version")), "3.8.0-x, built on y");
	cr_assert(json_is_false(json_object_get(j, "read_only")));
	cr_assert_eq(ival(j, "node_count"), 7);
	ss = json_object_get(j, "server_stats");
	cr_assert(json_is_object(ss));
	cr_assert_eq(json_object_size(ss), 18);
	cr_assert_eq(ival(ss, "packets_sent"), 12);
	cr_assert_eq(ival(ss, "packets_received"), 5);
	cr_assert_eq(ival(ss, "fsync_threshold_exceed_count"), 0);
	cr_assert_eq(ival(ss, "data_dir_size"), 457);
	cr_assert_eq(ival(ss, "log_dir_size"), 12);
	cr_assert(json_is_false(json_object_get(ss, "provider_null")));
	cr_assert_str_eq(json_string_value(json_object_get(ss, "server_state")), "standalone");
	cr_assert_eq(ival(ss, "last_processed_zxid"), 0x1f);
	cr_assert_eq(ival(ss, "outstanding_requests"), 4);
	cr_assert(json_is_real(json_object_get(ss, "avg_latency")));
	cr_assert_float_eq(json_real_value(json_object_get(ss, "avg_latency")), 1.85, 1e-9);
	cr_assert_eq(ival(ss, "min_latency"), 1);
	cr_assert_eq(ival(ss, "max_latency"), 3); /* rounded up, as srvr */
	cr_assert_eq(ival(ss, "num_alive_client_connections"), 3);
	cr_assert_eq(ival(ss, "uptime"), 12345);
	cr_assert_eq(ival(ss, "auth_failed_count"), 0);
	cr_assert_eq(ival(ss, "non_mtlsremote_conn_count"), 0);
	cr_assert_eq(ival(ss, "non_mtlslocal_conn_count"), 0);
	cr = json_object_get(ss, "client_response_stats");
	cr_assert(json_equal(cr, json_object_get(j, "client_response")));
	cr_assert_eq(ival(cr, "last_buffer_size"), -1);
	cr_assert_eq(ival(cr, "min_buffer_size"), -1);
	cr_assert_eq(ival(cr, "max_buffer_size"), -1);
	json_decref(j);
}

/* While electing: server_stats refused as ZooKeeper's CommandBase; a failing source. */
Test(http, server_stats_not_serving_and_source_errors)
{
	json_t *j;

	member = 2;
	j = get_json("/commands/server_stats");
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
			 "This ZooKeeper instance is not currently serving requests");
	cr_assert_null(json_object_get(j, "server_stats"));
	json_decref(j);
	member = 0;
	stats_rc = -ENOMEM;
	j = get_json("/commands/is_read_only");
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "Out of memory");
	cr_assert_null(json_object_get(j, "read_only"));
	json_decref(j);
	stats_rc = 0;
}

Test(http, read_only_from_the_state)
{
	json_t *j;

	read_only_state = true;
	j = get_json("/commands/isro");
	cr_assert(json_is_true(json_object_get(j, "read_only")));
	json_decref(j);
	j = get_json("/commands/server_stats");
	cr_assert(json_is_true(json_object_get(j, "read_only")));
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(j, "server_stats"), "server_state")),
	    "read-only");
	json_decref(j);
	read_only_state = false;
}

Test(http, configuration_keeps_zookeepers_fields_only)
{
	json_t *j = get_json("/commands/conf");

	cr_assert_eq(json_integer_value(json_object_get(j, "client_port")), 2181);
	cr_assert_str_eq(json_string_value(json_object_get(j, "data_dir")), "/d/cheetah-1");
	cr_assert_eq(json_integer_value(json_object_get(j, "tick_time")), 2000);
	cr_assert_null(json_object_get(j, "secureClientPort"));
	cr_assert_null(json_object_get(j, "secure_client_port"));
	json_decref(j);
	j = get_json("/commands/envi");
	cr_assert_str_eq(json_string_value(json_object_get(j, "os.arch")), "amd64");
	cr_assert_null(json_object_get(j, "Environment:"));
	json_decref(j);
}

Test(http, small_commands)
{
	json_t *j = get_json("/commands/ruok");

	cr_assert(json_is_null(json_object_get(j, "error")));
	cr_assert_eq(json_object_size(j), 2);
	json_decref(j);
	j = get_json("/commands/isro");
	cr_assert(json_is_false(json_object_get(j, "read_only")));
	json_decref(j);
	j = get_json("/commands/gtmk");
	cr_assert_eq(json_integer_value(json_object_get(j, "tracemask")), 306);
	json_decref(j);
	j = get_json("/commands/leader");
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
			 "server is not initialized");
	json_decref(j);
}

/* A leader (id 2) of voters 1 and 2 with observers 4 and 7 synced. */
Test(http, ensemble_commands_on_a_leader)
{
	json_t *j, *v;

	member = 1;
	j = get_json("/commands/leader");
	cr_assert(json_is_null(json_object_get(j, "error")));
	cr_assert(json_is_true(json_object_get(j, "is_leader")));
	cr_assert_eq(json_integer_value(json_object_get(j, "leader_id")), 2);
	cr_assert_str_eq(json_string_value(json_object_get(j, "leader_ip")), "10.0.0.2");
	json_decref(j);
	j = get_json("/commands/voting_view");
	v = json_object_get(j, "current_config");
	cr_assert_eq(json_object_size(v), 2); /* the observers do not vote */
	cr_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(json_object_get(v, "1"), "server_addresses"), 0)),
			 "10.0.0.1:2888");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(v, "1"), "client_address")), "");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(v, "2"), "client_address")),
	    "10.0.0.2:2182");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(v, "2"), "learner_type")),
	    "participant");
	json_decref(j);
	j = get_json("/commands/zabstate");
	cr_assert(json_is_null(json_object_get(j, "error")));
	cr_assert_eq(json_integer_value(json_object_get(j, "myid")), 2);
	cr_assert(json_is_true(json_object_get(j, "voting")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "zabstate")), "broadcast");
	cr_assert_str_eq(json_string_value(json_object_get(j, "last_zxid")), "0x1f");
	cr_assert_eq(json_integer_value(json_object_get(j, "zab_counter")), 31);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(j, "quorum_address"), "one")),
	    "10.0.0.2:2888");
	json_decref(j);
	j = get_json("/commands/observers");
	cr_assert_eq(json_integer_value(json_object_get(j, "synced_observers")), 2);
	v = json_object_get(j, "observers");
	cr_assert_eq(json_array_size(v), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(v, 1), "sid")), 7);
	json_decref(j);
	member = 0;
}

/* No leader: ZooKeeper's CommandBase refuses, zabstate answers without a quorum server. */
Test(http, ensemble_commands_while_looking)
{
	json_t *j;

	member = 2;
	j = get_json("/commands/leader");
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
			 "This ZooKeeper instance is not currently serving requests");
	json_decref(j);
	j = get_json("/commands/zabstate");
	cr_assert(json_is_null(json_object_get(j, "error")));
	cr_assert(json_is_false(json_object_get(j, "voting")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "zabstate")), "");
	json_decref(j);
	member = 0;
}

Test(http, gathered_commands)
{
	json_t *j = get_json("/commands/wchs");

	cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "watch_summary");
	cr_assert_eq(json_integer_value(json_object_get(j, "num_connections")), 3);
	cr_assert_eq(json_integer_value(json_object_get(j, "num_paths")), 5);
	cr_assert_eq(json_integer_value(json_object_get(j, "num_total_watches")), 9);
	json_decref(j);
	j = get_json("/commands/stat_reset");
	cr_assert(json_is_null(json_object_get(j, "error")));
	json_decref(j);
	/* the fake source fails crst: the failure is the JSON's error */
	j = get_json("/commands/crst");
	cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "connection_stat_reset");
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "Internal error");
	json_decref(j);
}

Test(http, watch_listings_as_zookeepers_maps)
{
	json_t *j = get_json("/commands/wchc"), *m, *v;

	cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "watches");
	m = json_object_get(j, "session_id_to_watched_paths");
	cr_assert_eq(json_object_size(m), 2);
	/* a session listed by two workers: merged */
	v = json_object_get(m, "72057594037927937");
	cr_assert_eq(json_array_size(v), 3);
	cr_assert_str_eq(json_string_value(json_array_get(v, 2)), "/c");
	cr_assert_eq(json_array_size(json_object_get(m, "2")), 1);
	json_decref(j);
	j = get_json("/commands/watches_by_path");
	m = json_object_get(j, "path_to_session_ids");
	v = json_object_get(m, "/a");
	cr_assert_eq(json_array_size(v), 2);
	cr_assert_eq(json_integer_value(json_array_get(v, 0)), 0x100000000000001);
	cr_assert_eq(json_integer_value(json_array_get(v, 1)), 2);
	json_decref(j);
}

Test(http, bad_requests)
{
	char *r = http("POST", "/commands/ruok");
	char big[20000];

	cr_assert(!strncmp(r, "HTTP/1.1 405", 12), "%s", r);
	cr_assert_not_null(strstr(r, "\"error\""), "%s", r);
	free(r);
	r = http("GET", "/elsewhere");
	cr_assert(!strncmp(r, "HTTP/1.1 404", 12), "%s", r);
	free(r);
	r = http("GET", "/commandsX");
	cr_assert(!strncmp(r, "HTTP/1.1 404", 12), "%s", r);
	free(r);
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	r = http("GET", big);
	cr_assert(!strncmp(r, "HTTP/1.1 414", 12), "%.40s", r);
	free(r);
	r = exchange("\x00\x01\x02\r\n\r\n", 7);
	free(r);
	r = exchange("GET\r\n\r\n", 7);
	free(r);
	/* still serving */
	json_decref(get_json("/commands/ruok"));
}

Test(http, a_failing_source_is_an_error_not_a_crash)
{
	/* initial_configuration with no file: an error in the JSON */
	json_t *j = get_json("/commands/initial_configuration");

	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "no configuration file");
	json_decref(j);
}

Test(values, java_numbers)
{
	json_t *v;

	v = adm_value("42");
	cr_assert(json_is_integer(v));
	json_decref(v);
	v = adm_value("-1");
	cr_assert_eq(json_integer_value(v), -1);
	json_decref(v);
	v = adm_value("0.0");
	cr_assert(json_is_real(v));
	json_decref(v);
	v = adm_value("1.5E7");
	cr_assert(json_is_real(v));
	json_decref(v);
	v = adm_value("following - broadcast");
	cr_assert(json_is_string(v));
	json_decref(v);
	v = adm_value("");
	cr_assert_str_eq(json_string_value(v), "");
	json_decref(v);
	v = adm_value("99999999999999999999999");
	cr_assert(json_is_string(v));
	json_decref(v);
	v = adm_value("Eleven.");
	cr_assert(json_is_string(v));
	json_decref(v);
}
