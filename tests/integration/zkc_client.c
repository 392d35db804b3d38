/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ZooKeeper C client (libzookeeper_mt, Debian's 3.8) against a server:
 * the main operations with their error codes, Stat fields, watches of each
 * one-shot kind and their order, a multi that commits and one that fails,
 * digest auth and ACL denial, container and TTL creates.
 *
 * usage: zkc_client HOST:PORT
 * Prints one line per check; exits 0 when all pass, 1 at the first
 * failure (with what was expected and what came back).  Every wait is
 * bounded (WAIT_MS).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef THREADED
#define THREADED /* the synchronous API of libzookeeper_mt */
#endif
#include <zookeeper/zookeeper.h>

#define WAIT_MS 15000
#define MAX_EVENTS 64

struct event {
	int type;
	char path[256];
};

struct recorder {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int connected;
	int n;
	struct event ev[MAX_EVENTS];
};

int zoo_sync_(zhandle_t *zh, const char *path);

static struct recorder rec = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {{0, ""}}};
static int checks;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stdout, "FAIL: ");
	vfprintf(stdout, fmt, ap);
	fprintf(stdout, "\n");
	va_end(ap);
	fflush(stdout);
	exit(1);
}

#define CHECK_RC(call, want)                                                                   \
	do {                                                                                   \
		int rc_ = (call);                                                              \
		if (rc_ != (want))                                                             \
			fail("%s:%d: %s returned %d (%s), expected %d (%s)", __FILE__,         \
			     __LINE__, #call, rc_, zerror(rc_), (want), zerror(want));         \
		checks++;                                                                      \
	} while (0)

#define CHECK(cond, ...)                                                                       \
	do {                                                                                   \
		if (!(cond))                                                                   \
			fail(__VA_ARGS__);                                                     \
		checks++;                                                                      \
	} while (0)

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh;
	(void)ctx;
	pthread_mutex_lock(&rec.lock);
	if (type == ZOO_SESSION_EVENT) {
		rec.connected = (state == ZOO_CONNECTED_STATE);
	} else if (rec.n < MAX_EVENTS) {
		rec.ev[rec.n].type = type;
		snprintf(rec.ev[rec.n].path, sizeof(rec.ev[rec.n].path), "%s", path ? path : "");
		rec.n++;
	}
	pthread_cond_broadcast(&rec.cond);
	pthread_mutex_unlock(&rec.lock);
}

/* Wait (bounded) until at least n events were recorded. */
static void wait_events(int n)
{
	struct timespec ts;
	int err = 0;

	deadline_in(&ts, WAIT_MS);
	pthread_mutex_lock(&rec.lock);
	while (rec.n < n && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&rec.cond, &rec.lock, &ts);
	pthread_mutex_unlock(&rec.lock);
	if (rec.n < n)
		fail("timed out waiting for %d watch events (have %d)", n, rec.n);
}

static void expect_event(int i, int type, const char *path)
{
	wait_events(i + 1);
	CHECK(rec.ev[i].type == type && strcmp(rec.ev[i].path, path) == 0,
	      "event %d: got type %d path %s, expected type %d path %s", i, rec.ev[i].type,
	      rec.ev[i].path, type, path);
}

static zhandle_t *connect_to(const char *hosts)
{
	struct timespec ts;
	int err = 0;
	zhandle_t *zh = zookeeper_init(hosts, watcher, 10000, NULL, NULL, 0);

	if (!zh)
		fail("zookeeper_init: %s", strerror(errno));
	deadline_in(&ts, WAIT_MS);
	pthread_mutex_lock(&rec.lock);
	while (zoo_state(zh) != ZOO_CONNECTED_STATE && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&rec.cond, &rec.lock, &ts);
	pthread_mutex_unlock(&rec.lock);
	if (zoo_state(zh) != ZOO_CONNECTED_STATE)
		fail("not connected to %s within %d ms", hosts, WAIT_MS);
	return zh;
}

static void test_basic(zhandle_t *zh)
{
	char buf[512], path[512];
	int len;
	struct Stat st, st2;
	struct String_vector kids;

	CHECK_RC(zoo_create(zh, "/c", "root", 4, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, path,
			    sizeof(path)),
		 ZOK);
	CHECK(strcmp(path, "/c") == 0, "created path %s", path);
	CHECK_RC(zoo_create(zh, "/c", "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0),
		 ZNODEEXISTS);
	CHECK_RC(zoo_create(zh, "/c/none/x", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0),
		 ZNONODE);
	CHECK_RC(zoo_create2(zh, "/c/s-", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_SEQUENTIAL,
			     path, sizeof(path), &st),
		 ZOK);
	CHECK(strcmp(path, "/c/s-0000000000") == 0, "sequential name %s", path);
	CHECK(st.czxid == st.mzxid && st.version == 0, "create2 stat");
	CHECK_RC(zoo_create(zh, "/c/e", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0), ZOK);
	CHECK_RC(zoo_create(zh, "/c/e/x", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0),
		 ZNOCHILDRENFOREPHEMERALS);
	CHECK_RC(zoo_exists(zh, "/c/e", 0, &st), ZOK);
	CHECK(st.ephemeralOwner == zoo_client_id(zh)->client_id, "ephemeral owner %llx",
	      (unsigned long long)st.ephemeralOwner);
	CHECK_RC(zoo_create2(zh, "/c/cont", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_CONTAINER, path,
			     sizeof(path), &st),
		 ZOK);
	CHECK(st.ephemeralOwner == 0, "container owner");
	CHECK_RC(zoo_create2_ttl(zh, "/c/ttl", "", 0, &ZOO_OPEN_ACL_UNSAFE,
				 ZOO_PERSISTENT_WITH_TTL, 3600000, path, sizeof(path), &st),
		 ZOK);
	CHECK_RC(zoo_create2_ttl(zh, "/c/ttl0", "", 0, &ZOO_OPEN_ACL_UNSAFE,
				 ZOO_PERSISTENT_WITH_TTL, 0, path, sizeof(path), &st),
		 ZBADARGUMENTS);

	len = sizeof(buf);
	CHECK_RC(zoo_get(zh, "/c", 0, buf, &len, &st), ZOK);
	CHECK(len == 4 && memcmp(buf, "root", 4) == 0, "get /c data");
	CHECK(st.numChildren == 4 && st.cversion == 4, "numChildren %d cversion %d",
	      st.numChildren, st.cversion);
	CHECK_RC(zoo_set2(zh, "/c", "v1", 2, 0, &st2), ZOK);
	CHECK(st2.version == 1 && st2.mzxid > st.mzxid && st2.ctime == st.ctime, "set2 stat");
	CHECK_RC(zoo_set(zh, "/c", "v2", 2, 0), ZBADVERSION);
	CHECK_RC(zoo_set(zh, "/c/none", "v2", 2, -1), ZNONODE);
	CHECK_RC(zoo_delete(zh, "/c", -1), ZNOTEMPTY);
	CHECK_RC(zoo_delete(zh, "/c/s-0000000000", 5), ZBADVERSION);
	CHECK_RC(zoo_delete(zh, "/c/s-0000000000", 0), ZOK);
	CHECK_RC(zoo_exists(zh, "/c/s-0000000000", 0, &st), ZNONODE);
	CHECK_RC(zoo_get_children2(zh, "/c", 0, &kids, &st), ZOK);
	CHECK(kids.count == 3 && st.numChildren == 3 && st.cversion == 5, "children %d", kids.count);
	deallocate_String_vector(&kids);
	len = sizeof(buf);
	CHECK_RC(zoo_get(zh, "/c/none", 0, buf, &len, &st), ZNONODE);
	CHECK_RC(zoo_sync_(zh, "/c"), ZOK);
	puts("ok basic operations");
}

/* zoo_async sync helper: wait for the completion. */
static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cond = PTHREAD_COND_INITIALIZER;
static int sync_rc = 1;

static void sync_done(int rc, const char *value, const void *data)
{
	(void)value;
	(void)data;
	pthread_mutex_lock(&sync_lock);
	sync_rc = rc;
	pthread_cond_broadcast(&sync_cond);
	pthread_mutex_unlock(&sync_lock);
}

/* Synchronous sync (the C client has only zoo_async). */
int zoo_sync_(zhandle_t *zh, const char *path)
{
	struct timespec ts;
	int err = 0, rc;

	sync_rc = 1;
	rc = zoo_async(zh, path, sync_done, NULL);
	if (rc != ZOK)
		return rc;
	deadline_in(&ts, WAIT_MS);
	pthread_mutex_lock(&sync_lock);
	while (sync_rc == 1 && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&sync_cond, &sync_lock, &ts);
	rc = sync_rc;
	pthread_mutex_unlock(&sync_lock);
	return rc == 1 ? ZOPERATIONTIMEOUT : rc;
}

static void test_watches(zhandle_t *zh, zhandle_t *other)
{
	char buf[64];
	int len = sizeof(buf);
	struct Stat st;
	struct String_vector kids;

	rec.n = 0;
	CHECK_RC(zoo_create(other, "/w", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0),
		 ZOK);
	CHECK_RC(zoo_get(zh, "/w", 1, buf, &len, &st), ZOK);
	CHECK_RC(zoo_exists(zh, "/w/a", 1, &st), ZNONODE);
	CHECK_RC(zoo_get_children(zh, "/w", 1, &kids), ZOK);
	deallocate_String_vector(&kids);
	/* one create: NodeCreated of /w/a, then NodeChildrenChanged of /w */
	CHECK_RC(zoo_create(other, "/w/a", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0),
		 ZOK);
	expect_event(0, ZOO_CREATED_EVENT, "/w/a");
	expect_event(1, ZOO_CHILD_EVENT, "/w");
	CHECK_RC(zoo_set(other, "/w", "1", 1, -1), ZOK);
	expect_event(2, ZOO_CHANGED_EVENT, "/w");
	/* one-shot: no second event for the same watch */
	CHECK_RC(zoo_set(other, "/w", "2", 1, -1), ZOK);
	CHECK_RC(zoo_get(zh, "/w/a", 1, buf, &len, &st), ZOK);
	CHECK_RC(zoo_delete(other, "/w/a", -1), ZOK);
	expect_event(3, ZOO_DELETED_EVENT, "/w/a");
	CHECK_RC(zoo_sync_(zh, "/"), ZOK);
	CHECK(rec.n == 4, "%d events, expected 4 (a one-shot watch fired twice?)", rec.n);
	puts("ok watches");
}

static void test_multi(zhandle_t *zh)
{
	zoo_op_t ops[4];
	zoo_op_result_t res[4];
	char p1[64], p2[64];
	struct Stat st;

	zoo_create_op_init(&ops[0], "/m", "m", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, p1,
			   sizeof(p1));
	zoo_create_op_init(&ops[1], "/m/s-", "", 0, &ZOO_OPEN_ACL_UNSAFE,
			   ZOO_PERSISTENT_SEQUENTIAL, p2, sizeof(p2));
	zoo_set_op_init(&ops[2], "/m", "n", 1, 0, &st);
	zoo_check_op_init(&ops[3], "/m", 1);
	CHECK_RC(zoo_multi(zh, 4, ops, res), ZOK);
	CHECK(strcmp(p1, "/m") == 0 && strcmp(p2, "/m/s-0000000000") == 0, "multi paths %s %s",
	      p1, p2);
	CHECK(res[0].err == ZOK && res[1].err == ZOK && res[2].err == ZOK && res[3].err == ZOK,
	      "multi results");
	CHECK(st.version == 1, "multi setData stat version %d", st.version);

	zoo_create_op_init(&ops[0], "/m/x", "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
	zoo_delete_op_init(&ops[1], "/m/none", -1);
	zoo_set_op_init(&ops[2], "/m", "z", 1, -1, NULL);
	CHECK_RC(zoo_multi(zh, 3, ops, res), ZNONODE);
	CHECK(res[0].err == ZOK && res[1].err == ZNONODE && res[2].err == ZRUNTIMEINCONSISTENCY,
	      "failed multi results %d %d %d", res[0].err, res[1].err, res[2].err);
	CHECK_RC(zoo_exists(zh, "/m/x", 0, &st), ZNONODE);
	CHECK_RC(zoo_exists(zh, "/m", 0, &st), ZOK);
	CHECK(st.version == 1, "failed multi changed /m");
	puts("ok multi");
}

static void test_acl(zhandle_t *zh, zhandle_t *other)
{
	struct ACL_vector acl;
	struct Stat st;
	char buf[16];
	int len = sizeof(buf);
	struct ACL one = {ZOO_PERM_ALL, {"auth", ""}};
	struct ACL_vector creator = {1, &one};
	struct ACL ro = {ZOO_PERM_READ, {"world", "anyone"}};
	struct ACL_vector read_only = {1, &ro};

	CHECK_RC(zoo_create(zh, "/a-fail", "", 0, &creator, ZOO_PERSISTENT, NULL, 0),
		 ZINVALIDACL);
	CHECK_RC(zoo_add_auth(zh, "digest", "carol:pw", 8, NULL, NULL), ZOK);
	CHECK_RC(zoo_sync_(zh, "/"), ZOK);
	CHECK_RC(zoo_create(zh, "/a", "secret", 6, &creator, ZOO_PERSISTENT, NULL, 0), ZOK);
	CHECK_RC(zoo_get_acl(zh, "/a", &acl, &st), ZOK);
	CHECK(acl.count == 1 && strcmp(acl.data[0].id.scheme, "digest") == 0 &&
		  strncmp(acl.data[0].id.id, "carol:", 6) == 0 && acl.data[0].perms == ZOO_PERM_ALL,
	      "creator ACL became %s:%s", acl.data[0].id.scheme, acl.data[0].id.id);
	deallocate_ACL_vector(&acl);
	CHECK_RC(zoo_get(other, "/a", 0, buf, &len, &st), ZNOAUTH);
	CHECK_RC(zoo_set(other, "/a", "x", 1, -1), ZNOAUTH);
	CHECK_RC(zoo_set_acl(zh, "/a", 5, &read_only), ZBADVERSION);
	CHECK_RC(zoo_set_acl(zh, "/a", 0, &read_only), ZOK);
	len = sizeof(buf);
	CHECK_RC(zoo_get(other, "/a", 0, buf, &len, &st), ZOK);
	CHECK(st.aversion == 1 && len == 6, "after setACL aversion %d", st.aversion);
	CHECK_RC(zoo_set(zh, "/a", "x", 1, -1), ZNOAUTH);
	puts("ok acl and auth");
}

int main(int argc, char **argv)
{
	zhandle_t *zh, *other;
	const clientid_t *cid;

	if (argc != 2) {
		fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
	zh = connect_to(argv[1]);
	other = connect_to(argv[1]);
	cid = zoo_client_id(zh);
	printf("connected, session 0x%llx, timeout %d ms\n", (unsigned long long)cid->client_id,
	       zoo_recv_timeout(zh));
	test_basic(zh);
	test_watches(zh, other);
	test_multi(zh);
	test_acl(zh, other);
	CHECK_RC(zookeeper_close(zh), ZOK);
	{
		struct Stat st;

		CHECK_RC(zoo_exists(other, "/c/e", 0, &st), ZNONODE); /* ephemeral gone on close */
	}
	CHECK_RC(zookeeper_close(other), ZOK);
	printf("all %d checks passed\n", checks);
	return 0;
}
