// SPDX-License-Identifier: Apache-2.0
/*
 * The AdminServer's structured commands (adm_structured.c) over HTTP on
 * loopback with fake data ops (struct adm_info_ops): the JSON of
 * connections, stats, dump, last_snapshot, hash, set_trace_mask and
 * observers from C structs; snapshot and restore with ZooKeeper 3.9's
 * authentication answers (401 without or with bad credentials, 403 by the
 * ACL), their feature flags (503), rate limits (429), the snapshot's
 * headers and streamed body, and a restore body reaching the restore op
 * byte for byte (and its refusal answered 500 with the reason).
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
#include "replication/repl.h"

static int fake_text(void *ctx, const char *word, char **out, size_t *len)
{
	const char *t = NULL;

	(void)ctx;
	if (!strcmp(word, "isro"))
		t = "rw";
	else if (!strcmp(word, "ensemble"))
		t = "state: leader\nmyid: 2\nleader_id: 2\nsynced_observers: 1\nobserver_ids: 4\n";
	else if (!strcmp(word, "conf"))
		t = "clientPort=2181\nserverId=2\nmembership: \n"
		    "server.2=10.0.0.2:2888:3888:participant\n"
		    "server.4=10.0.0.4:2888:3888:observer\nversion=100000000";
	else if (!strcmp(word, "srvr"))
		t = "Zookeeper version: x\nZxid: 0x1f\nMode: leader\n";
	else if (!strcmp(word, "dirs"))
		t = "datadir_size: 457\nlogdir_size: 12\n";
	if (!t)
		return -EIO;
	*out = strdup(t);
	*len = strlen(t);
	return *out ? 0 : -ENOMEM;
}

static int64_t mask_set = -1;
static char *restored; /* the body the restore op read */
static size_t restored_len;
static int restore_rc;
static int auth_rc;
static char auth_seen[128];

static int f_connections(void *ctx, struct dp_conn_info **out, size_t *n)
{
	struct dp_conn_info *v = calloc(2, sizeof(*v));

	(void)ctx;
	cr_assert_not_null(v);
	snprintf(v[0].peer, sizeof(v[0].peer), "127.0.0.1:5000");
	v[0].interest_ops = 1;
	v[0].packets_received = 7;
	v[0].packets_sent = 6;
	v[0].has_session = true;
	v[0].session = 0x100000000000001;
	snprintf(v[0].last_op, sizeof(v[0].last_op), "GETD");
	v[0].established_ms = 1700000000000;
	v[0].timeout = 10000;
	v[0].last_cxid = 4;
	v[0].last_zxid = 31;
	v[0].max_lat = 9;
	snprintf(v[1].peer, sizeof(v[1].peer), "10.1.1.1:6000");
	snprintf(v[1].last_op, sizeof(v[1].last_op), "NA");
	v[1].last_cxid = -1;
	*out = v;
	*n = 2;
	return 0;
}

static int f_sessions(void *ctx, struct repl_sessions **out)
{
	struct repl_sessions *d = calloc(1, sizeof(*d) + 2 * sizeof(d->sets[0]) + 3 * 8);
	int64_t *ids;

	(void)ctx;
	cr_assert_not_null(d);
	d->nsets = 2;
	d->nsessions = 3;
	d->sets[0].expiry_ms = 4000;
	d->sets[0].first = 0;
	d->sets[0].n = 2;
	d->sets[1].expiry_ms = 6000;
	d->sets[1].first = 2;
	d->sets[1].n = 1;
	ids = (int64_t *)(void *)&d->sets[2];
	ids[0] = 11;
	ids[1] = 12;
	ids[2] = 13;
	*out = d;
	return 0;
}

static int f_ephemerals(void *ctx, int (*fn)(void *, int64_t, const char *, size_t), void *arg)
{
	int rc;

	(void)ctx;
	if ((rc = fn(arg, 11, "/e1", 3)) || (rc = fn(arg, 11, "/e2xx", 3)))
		return rc;
	return fn(arg, 12, NULL, 0); /* all of its ephemerals gone */
}

static int f_last_snapshot(void *ctx, int64_t *zxid, int64_t *mtime_s)
{
	(void)ctx;
	*zxid = 0x1f;
	*mtime_s = 1700000000;
	return 0;
}

static size_t f_digests(void *ctx, int64_t *z, uint64_t *d, size_t max)
{
	(void)ctx;
	cr_assert_geq(max, 2);
	z[0] = 128;
	d[0] = 0xffffffffffffffffull; /* a Java long: -1 */
	z[1] = 256;
	d[1] = 42;
	return 2;
}

static void f_set_trace_mask(void *ctx, int64_t mask)
{
	(void)ctx;
	mask_set = mask;
}

static uint32_t f_observers(void *ctx, struct repl_learner_info *out, uint32_t max)
{
	(void)ctx;
	cr_assert_geq(max, 1);
	memset(out, 0, sizeof(*out));
	out->sid = 4;
	snprintf(out->remote, sizeof(out->remote), "/10.0.0.4:41234");
	out->established_ms = 1700000000123;
	out->queued_packets = 2;
	out->queued_bytes = 300;
	out->packets_received = 50;
	out->packets_sent = 60;
	out->requests = 3;
	out->last_zxid = 0x200000005;
	return 1;
}

static int f_authorize(void *ctx, const char *header, const char *ip, int32_t perm,
		       const char *path)
{
	(void)ctx;
	(void)ip;
	cr_assert_eq(perm, 31);
	cr_assert_str_eq(path, "/");
	snprintf(auth_seen, sizeof(auth_seen), "%s", header);
	return auth_rc;
}

static int f_snapshot(void *ctx, int fd, int64_t *zxid, bool *consistent)
{
	(void)ctx;
	cr_assert_eq(write(fd, "CHEETSNP-body", 13), 13);
	*zxid = 0x1f;
	*consistent = true;
	return 0;
}

static int f_restore(void *ctx, int fd, int64_t *zxid)
{
	char buf[1 << 16];
	ssize_t r;

	(void)ctx;
	free(restored);
	restored = malloc(1 << 20);
	restored_len = 0;
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		memcpy(restored + restored_len, buf, (size_t)r);
		restored_len += (size_t)r;
	}
	*zxid = 0x40;
	return restore_rc;
}

/* The server's figures: a serving leader at zxid 0x1f. */
static int f_stats(void *ctx, struct dp_stats *s)
{
	(void)ctx;
	memset(s, 0, sizeof(*s));
	s->version = "3.8.0-x";
	s->server_state = "leader";
	s->znode_count = 7;
	s->last_zxid = 0x1f;
	return 0;
}

static const struct adm_info_ops ops = {
    .stats = f_stats,
    .connections = f_connections,
    .sessions = f_sessions,
    .ephemerals = f_ephemerals,
    .last_snapshot = f_last_snapshot,
    .digests = f_digests,
    .set_trace_mask = f_set_trace_mask,
    .observers = f_observers,
    .authorize = f_authorize,
    .snapshot = f_snapshot,
    .restore = f_restore,
};

static struct cfg cfg;
static struct adm *adm;

static void start(void)
{
	cr_assert_eq(
	    adm_start(&(struct adm_opts){.cfg = &cfg, .source = fake_text, .info = &ops}, &adm), 0);
	cr_assert_not_null(adm);
}

static void setup(void)
{
	char dir[] = "/tmp/adm-test-XXXXXX";

	cr_assert_eq(cfg_defaults(&cfg), 0);
	cfg.admin_address = strdup("127.0.0.1");
	cfg.admin_port = 0;
	cfg.admin_rate_limit_ms = 0;
	cr_assert_not_null(mkdtemp(dir));
	free(cfg.data_dir);
	cfg.data_dir = strdup(dir);
	auth_rc = 0;
	restore_rc = 0;
	start();
}

static void teardown(void)
{
	adm_stop(adm);
	rmdir(cfg.data_dir);
	cfg_free(&cfg);
	free(restored);
	restored = NULL;
}

TestSuite(structured, .init = setup, .fini = teardown, .timeout = 30);

/* The raw answer to req (everything until the server closes; malloc'd). */
static char *exchange(const void *req, size_t n, size_t *out_len)
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
	if (out_len)
		*out_len = len;
	return buf;
}

static char *request(const char *method, const char *path, const char *auth, const char *body,
		     size_t body_len, size_t *len)
{
	char *req, *r;
	char hdr[256] = "";
	int n;

	if (auth)
		snprintf(hdr, sizeof(hdr), "Authorization: %s\r\n", auth);
	n = asprintf(
	    &req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
	    method, path, hdr, body_len);
	cr_assert_gt(n, 0);
	req = realloc(req, (size_t)n + body_len);
	if (body_len)
		memcpy(req + n, body, body_len);
	r = exchange(req, (size_t)n + body_len, len);
	free(req);
	return r;
}

/* The JSON body of an answer with HTTP status want. */
static json_t *json_of(const char *method, const char *path, const char *auth, unsigned want)
{
	char *r = request(method, path, auth, NULL, 0, NULL);
	char *body = strstr(r, "\r\n\r\n");
	char status[32];
	json_error_t e;
	json_t *j;

	snprintf(status, sizeof(status), "HTTP/1.1 %u", want);
	cr_assert(!strncmp(r, status, strlen(status)), "want %u: %s", want, r);
	cr_assert_not_null(body);
	j = json_loads(body + 4, 0, &e);
	cr_assert_not_null(j, "%s: %s", e.text, body);
	free(r);
	return j;
}

static json_t *get(const char *path)
{
	return json_of("GET", path, NULL, 200);
}

static const char *err_of(json_t *j)
{
	return json_string_value(json_object_get(j, "error"));
}

Test(structured, connections_from_structs)
{
	json_t *j = get("/commands/cons"), *c;

	cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "connections");
	cr_assert(json_is_null(json_object_get(j, "error")));
	cr_assert_eq(json_array_size(json_object_get(j, "secure_connections")), 0);
	cr_assert_eq(json_array_size(json_object_get(j, "connections")), 2);
	c = json_array_get(json_object_get(j, "connections"), 0);
	cr_assert_eq(json_object_size(c), 16, "getConnectionInfo(false)'s 16 keys");
	cr_assert_str_eq(json_string_value(json_object_get(c, "remote_socket_address")),
			 "127.0.0.1:5000");
	cr_assert_eq(json_integer_value(json_object_get(c, "session_id")), 0x100000000000001);
	cr_assert_str_eq(json_string_value(json_object_get(c, "last_operation")), "GETD");
	cr_assert_eq(json_integer_value(json_object_get(c, "established")), 1700000000000);
	cr_assert_eq(json_integer_value(json_object_get(c, "last_zxid")), 31);
	cr_assert_eq(json_integer_value(json_object_get(c, "max_latency")), 9);
	c = json_array_get(json_object_get(j, "connections"), 1);
	cr_assert_eq(json_integer_value(json_object_get(c, "last_cxid")), -1);
	json_decref(j);
}

Test(structured, stats_is_server_stats_and_brief_connections)
{
	json_t *j = get("/commands/stat"), *c;

	cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "stats");
	cr_assert_not_null(json_object_get(j, "server_stats"));
	cr_assert_eq(json_integer_value(json_object_get(j, "node_count")), 7);
	c = json_array_get(json_object_get(j, "connections"), 0);
	cr_assert_eq(json_object_size(c), 5, "getConnectionInfo(true)'s 5 keys");
	cr_assert_eq(json_integer_value(json_object_get(c, "packets_received")), 7);
	json_decref(j);
}

Test(structured, dump_maps_expiry_and_ephemerals)
{
	json_t *j = get("/commands/dump"), *exp, *eph;

	exp = json_object_get(j, "expiry_time_to_session_ids");
	eph = json_object_get(j, "session_id_to_ephemeral_paths");
	cr_assert_eq(json_object_size(exp), 2);
	cr_assert_eq(json_array_size(json_object_get(exp, "4000")), 2);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(exp, "6000"), 0)), 13);
	cr_assert_eq(json_array_size(json_object_get(eph, "11")), 2);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(eph, "11"), 1)), "/e2");
	cr_assert_eq(json_array_size(json_object_get(eph, "12")), 0);
	json_decref(j);
}

Test(structured, last_snapshot_and_hash)
{
	json_t *j = get("/commands/lsnp"), *d;

	cr_assert_str_eq(json_string_value(json_object_get(j, "zxid")), "1f");
	cr_assert_eq(json_integer_value(json_object_get(j, "timestamp")), 1700000000);
	json_decref(j);
	j = get("/commands/hash");
	d = json_object_get(j, "digests");
	cr_assert_eq(json_array_size(d), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(d, 0), "digest")), -1);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(d, 0), "digest_version")),
		     2);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(d, 1), "zxid")), 256);
	json_decref(j);
}

Test(structured, set_trace_mask_parses_a_java_long)
{
	static const struct {
		const char *q;
		long long set; /* -1: refused */
	} cases[] = {
	    {"?traceMask=12", 12},
	    {"?traceMask=-3", -3},
	    {"?traceMask=%2B5", 5},
	    {"?traceMask=x", -1},
	    {"?traceMask=", -1},
	    {"?traceMask=1x", -1},
	    {"?traceMask=99999999999999999999", -1},
	    {"", -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[128];
		json_t *j;

		mask_set = -1;
		snprintf(path, sizeof(path), "/commands/stmk%s", cases[i].q);
		j = get(path);
		cr_assert_str_eq(json_string_value(json_object_get(j, "command")),
				 "set_trace_mask");
		if (cases[i].set >= 0 || cases[i].set == -3) {
			cr_assert_null(err_of(j), "%s: %s", path, err_of(j));
			cr_assert_eq(json_integer_value(json_object_get(j, "tracemask")),
				     cases[i].set);
			cr_assert_eq(mask_set, cases[i].set);
		} else {
			cr_assert_not_null(err_of(j), "%s", path);
			cr_assert(!strncmp(err_of(j),
					   "setTraceMask requires long traceMask argument", 45));
			cr_assert_eq(mask_set, -1, "%s must not set", path);
		}
		json_decref(j);
	}
}

Test(structured, observers_carry_their_link_figures)
{
	json_t *j = get("/commands/obsr"), *o;

	cr_assert_eq(json_integer_value(json_object_get(j, "synced_observers")), 1);
	o = json_array_get(json_object_get(j, "observers"), 0);
	cr_assert_eq(json_object_size(o), 9, "getLearnerHandlerInfo's 9 keys");
	cr_assert_eq(json_integer_value(json_object_get(o, "sid")), 4);
	cr_assert_str_eq(json_string_value(json_object_get(o, "remote_socket_address")),
			 "/10.0.0.4:41234");
	cr_assert_eq(json_integer_value(json_object_get(o, "packets_sent")), 60);
	cr_assert_eq(json_integer_value(json_object_get(o, "queued_packets_size")), 300);
	cr_assert_eq(json_integer_value(json_object_get(o, "last_zxid")), 0x200000005);
	json_decref(j);
}

Test(structured, snapshot_needs_authentication)
{
	json_t *j = json_of("GET", "/commands/snapshot", NULL, 401);

	cr_assert_str_eq(err_of(j), "Auth info is missing for the command");
	json_decref(j);
	auth_rc = -EACCES;
	j = json_of("GET", "/commands/snapshot", "digest u:p", 401);
	cr_assert_str_eq(err_of(j), "Not authenticated");
	cr_assert_str_eq(auth_seen, "digest u:p");
	json_decref(j);
	auth_rc = -EPERM;
	j = json_of("GET", "/commands/snap", "digest u:p", 403);
	cr_assert_str_eq(err_of(j), "Not authorized");
	cr_assert_str_eq(json_string_value(json_object_get(j, "command")), "snapshot");
	json_decref(j);
	auth_rc = -EIO;
	j = json_of("GET", "/commands/snapshot", "digest u:p", 500);
	cr_assert_str_eq(err_of(j), "Error occurred during auth");
	json_decref(j);
}

Test(structured, snapshot_streams_the_file_with_its_headers)
{
	size_t len;
	char *r = request("GET", "/commands/snapshot", "digest u:p", NULL, 0, &len);
	char *body = strstr(r, "\r\n\r\n");
	json_t *j;

	cr_assert(!strncmp(r, "HTTP/1.1 200", 12), "%s", r);
	cr_assert_not_null(strstr(r, "application/octet-stream"), "%s", r);
	cr_assert_not_null(strstr(r, "last_zxid: 0x1f\r\n"), "%s", r);
	cr_assert_not_null(strstr(r, "snapshot_size: 13\r\n"), "%s", r);
	cr_assert_not_null(body);
	cr_assert_eq(len - (size_t)(body + 4 - r), 13);
	cr_assert(!memcmp(body + 4, "CHEETSNP-body", 13));
	free(r);
	/* streaming=false: the JSON alone, with the headers */
	j = json_of("GET", "/commands/snapshot?streaming=false", "digest u:p", 200);
	cr_assert(json_is_null(json_object_get(j, "error")));
	json_decref(j);
}

Test(structured, snapshot_and_restore_rate_limited_and_disabled)
{
	json_t *j;

	adm_stop(adm);
	cfg.admin_rate_limit_ms = 3600 * 1000; /* restore: 1 per hour; snapshot: per 3.6 s */
	start();
	j = json_of("GET", "/commands/snapshot?streaming=false", "digest u:p", 200);
	json_decref(j);
	j = json_of("GET", "/commands/snapshot?streaming=false", "digest u:p", 429);
	cr_assert(json_is_null(json_object_get(j, "error")));
	json_decref(j);
	free(request("POST", "/commands/restore", "digest u:p", "x", 1, NULL));
	j = json_of("POST", "/commands/restore", "digest u:p", 429);
	json_decref(j);
	adm_stop(adm);
	cfg.admin_snapshot_enable = false;
	cfg.admin_restore_enable = false;
	start();
	j = json_of("GET", "/commands/snapshot", "digest u:p", 503);
	json_decref(j);
	j = json_of("POST", "/commands/restore", "digest u:p", 503);
	json_decref(j);
}

Test(structured, restore_is_post_only_and_authenticated)
{
	json_t *j = json_of("GET", "/commands/restore", "digest u:p", 405);

	cr_assert_not_null(err_of(j));
	json_decref(j);
	j = json_of("POST", "/commands/restore", NULL, 401);
	cr_assert_str_eq(err_of(j), "Auth info is missing for the command");
	json_decref(j);
	cr_assert_null(restored, "no restore without credentials");
	/* refused credentials: a large body is dropped, not kept, and answered 403 */
	{
		size_t n = 1 << 20;
		char *big = calloc(1, n), *r;

		auth_rc = -EPERM;
		r = request("POST", "/commands/restore", "digest u:p", big, n, NULL);
		cr_assert(!strncmp(r, "HTTP/1.1 403", 12), "%s", r);
		cr_assert_null(restored);
		free(r);
		free(big);
		auth_rc = 0;
	}
	/* POST stays 405 for the other commands (ZooKeeper 3.8) */
	j = json_of("POST", "/commands/ruok", NULL, 405);
	json_decref(j);
}

Test(structured, restore_body_reaches_the_op_and_its_refusal_is_an_error)
{
	size_t n = 300000;
	char *body = malloc(n), *r;
	json_t *j;

	for (size_t i = 0; i < n; i++)
		body[i] = (char)(i * 7 + 3);
	r = request("POST", "/commands/rest", "digest u:p", body, n, NULL);
	cr_assert(!strncmp(r, "HTTP/1.1 200", 12), "%s", r);
	cr_assert_not_null(strstr(r, "\"last_zxid\": 64"), "%s", r);
	free(r);
	cr_assert_eq(restored_len, n);
	cr_assert(!memcmp(restored, body, n), "the body spooled byte for byte");
	restore_rc = -EBADMSG;
	r = request("POST", "/commands/restore", "digest u:p", "junk", 4, NULL);
	cr_assert(!strncmp(r, "HTTP/1.1 500", 12), "%s", r);
	j = json_loads(strstr(r, "\r\n\r\n") + 4, 0, NULL);
	cr_assert_not_null(j);
	cr_assert(!strncmp(err_of(j), "Invalid snapshot", 16), "%s", err_of(j));
	cr_assert_null(json_object_get(j, "last_zxid"));
	json_decref(j);
	free(r);
	free(body);
}
