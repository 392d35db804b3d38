/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A load client on the ZooKeeper C client (libzookeeper_mt) that records
 * its history for lincheck.py: test_ensemble_faults.py runs a few of these
 * beside its kazoo sessions, so the same faults are seen through the C
 * client's own connection handling (host list, reconnect, session
 * expiry, its error codes).
 *
 * usage: zkc_history HOSTS ROOT NKEYS SECONDS SEED ID
 * Runs a seeded mix on ROOT/k0..k(NKEYS-1) until SIGTERM (at most SECONDS;
 * the operation under way is finished and printed first) (create, setData,
 * conditional setData on the version last seen, delete, sync+getData,
 * getData) plus unique durable creates ROOT/d/C<ID>-<n>, and prints one
 * line per operation, times from CLOCK_MONOTONIC (time.monotonic() in
 * Python), written before the next operation starts:
 *   op KIND KEY CALL RET OUTCOME DATA EXPECT VERSION MZXID
 *     KIND create|set|delete|read|plainread; RET '-' for unknown;
 *     OUTCOME ok|nonode|nodeexists|badversion|unknown; DATA '-' or the
 *     value (ASCII, no spaces); VERSION/MZXID -1 when none
 *   durable PATH         an acknowledged durable create
 *   session 0xID         a new session (start, or after expiry)
 * Exits 0 after SIGTERM or SECONDS, 2 on bad arguments or a failed connect.
 * A write whose reply was lost (connection loss, timeout, expiry) is
 * 'unknown'; a read without a reply is left out.  Every wait is bounded.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef THREADED
#define THREADED /* the synchronous API of libzookeeper_mt */
#endif
#include <zookeeper/zookeeper.h>

#define WAIT_MS 30000
#define SESSION_MS 15000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int connected;
static int expired;
static int sync_rc;
static int sync_done_flag;
static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh;
	(void)path;
	(void)ctx;
	if (type != ZOO_SESSION_EVENT)
		return;
	pthread_mutex_lock(&lock);
	connected = state == ZOO_CONNECTED_STATE;
	if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
		expired = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

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

/* Returns 1 once connected, 0 after WAIT_MS. */
static int wait_connected(void)
{
	struct timespec ts;
	int ok;

	deadline_in(&ts, WAIT_MS);
	pthread_mutex_lock(&lock);
	while (!connected && !expired)
		if (pthread_cond_timedwait(&cond, &lock, &ts) != 0)
			break;
	ok = connected;
	pthread_mutex_unlock(&lock);
	return ok;
}

static zhandle_t *open_session(const char *hosts)
{
	zhandle_t *zh;

	pthread_mutex_lock(&lock);
	connected = 0;
	expired = 0;
	pthread_mutex_unlock(&lock);
	zh = zookeeper_init(hosts, watcher, SESSION_MS, NULL, NULL, 0);
	if (!zh)
		return NULL;
	if (!wait_connected()) {
		zookeeper_close(zh);
		return NULL;
	}
	printf("session 0x%llx\n", (unsigned long long)zoo_client_id(zh)->client_id);
	fflush(stdout);
	return zh;
}

static void sync_completion(int rc, const char *value, const void *data)
{
	(void)value;
	(void)data;
	pthread_mutex_lock(&lock);
	sync_rc = rc;
	sync_done_flag = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* zoo_async with a bounded wait: the C client has no synchronous sync. */
static int sync_path(zhandle_t *zh, const char *path)
{
	struct timespec ts;
	int rc;

	pthread_mutex_lock(&lock);
	sync_done_flag = 0;
	pthread_mutex_unlock(&lock);
	rc = zoo_async(zh, path, sync_completion, NULL);
	if (rc != ZOK)
		return rc;
	deadline_in(&ts, WAIT_MS);
	pthread_mutex_lock(&lock);
	while (!sync_done_flag)
		if (pthread_cond_timedwait(&cond, &lock, &ts) != 0)
			break;
	rc = sync_done_flag ? sync_rc : ZOPERATIONTIMEOUT;
	pthread_mutex_unlock(&lock);
	return rc;
}

static const char *outcome(int rc)
{
	switch (rc) {
	case ZOK:
		return "ok";
	case ZNONODE:
		return "nonode";
	case ZNODEEXISTS:
		return "nodeexists";
	case ZBADVERSION:
		return "badversion";
	default:
		return "unknown";
	}
}

static int definite(int rc)
{
	return rc == ZOK || rc == ZNONODE || rc == ZNODEEXISTS || rc == ZBADVERSION;
}

static void emit(const char *kind, const char *key, double call, double ret, int rc,
		 const char *data, int expect, long version, long long mzxid)
{
	if (definite(rc))
		printf("op %s %s %.9f %.9f %s %s %d %ld %lld\n", kind, key, call, ret, outcome(rc),
		       data && *data ? data : "-", expect, version, mzxid);
	else
		printf("op %s %s %.9f - unknown %s %d -1 -1\n", kind, key, call,
		       data && *data ? data : "-", expect);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *hosts, *root;
	int nkeys, id, versions[64];
	double end;
	unsigned int seed;
	zhandle_t *zh;
	long seq = 0;

	if (argc != 7) {
		fprintf(stderr, "usage: zkc_history HOSTS ROOT NKEYS SECONDS SEED ID\n");
		return 2;
	}
	hosts = argv[1];
	root = argv[2];
	nkeys = atoi(argv[3]);
	end = now() + atof(argv[4]);
	seed = (unsigned int)strtoul(argv[5], NULL, 10);
	id = atoi(argv[6]);
	if (nkeys < 1 || nkeys > 64 || strlen(root) > 200) {
		fprintf(stderr, "zkc_history: NKEYS must be 1..64, ROOT at most 200 bytes\n");
		return 2;
	}
	for (int i = 0; i < nkeys; i++)
		versions[i] = 0;
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGTERM, &sa, NULL);
	}
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	zh = open_session(hosts);
	if (!zh) {
		fprintf(stderr, "zkc_history: no session with %s in %d ms\n", hosts, WAIT_MS);
		return 2;
	}
	while (!stopping && now() < end) {
		char key[256], data[64], buf[128], path[300];
		int k = (int)(rand_r(&seed) % (unsigned int)nkeys);
		double r = (double)rand_r(&seed) / RAND_MAX, call, ret;
		struct Stat st;
		int rc, len = (int)sizeof(buf) - 1;

		pthread_mutex_lock(&lock);
		if (expired) {
			pthread_mutex_unlock(&lock);
			zookeeper_close(zh);
			zh = open_session(hosts);
			if (!zh) {
				fprintf(stderr, "zkc_history: no new session in %d ms\n", WAIT_MS);
				return 2;
			}
			continue;
		}
		pthread_mutex_unlock(&lock);
		/*
		 * Disconnected: the C client fails calls at once with
		 * CONNECTIONLOSS; wait (bounded) for the connection instead
		 * of piling up 'unknown' writes that were never sent.
		 */
		if (!wait_connected())
			continue;
		snprintf(key, sizeof(key), "%s/k%d", root, k);
		snprintf(data, sizeof(data), "C%d-%ld", id, ++seq);
		memset(&st, 0, sizeof(st));
		call = now();
		if (r < 0.12) {
			rc = zoo_create2(zh, key, data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE, 0,
					 NULL, 0, &st);
			ret = now();
			if (rc == ZOK)
				versions[k] = 0;
			emit("create", key, call, ret, rc, data, -1, rc == ZOK ? 0 : -1,
			     rc == ZOK ? (long long)st.mzxid : -1);
		} else if (r < 0.55) {
			int expect = r < 0.35 ? -1 : versions[k];

			rc = zoo_set2(zh, key, data, (int)strlen(data), expect, &st);
			ret = now();
			if (rc == ZOK)
				versions[k] = st.version;
			emit("set", key, call, ret, rc, data, expect, rc == ZOK ? st.version : -1,
			     rc == ZOK ? (long long)st.mzxid : -1);
		} else if (r < 0.60) {
			rc = zoo_delete(zh, key, -1);
			emit("delete", key, call, now(), rc, NULL, -1, -1, -1);
		} else if (r < 0.92) {
			int linear = r < 0.80;

			rc = linear ? sync_path(zh, key) : ZOK;
			if (rc == ZOK)
				rc = zoo_get(zh, key, 0, buf, &len, &st);
			ret = now();
			if (rc == ZOK) {
				buf[len < 0 ? 0 : len] = 0;
				versions[k] = st.version;
				emit(linear ? "read" : "plainread", key, call, ret, rc, buf, -1,
				     st.version, (long long)st.mzxid);
			} else if (rc == ZNONODE) {
				emit(linear ? "read" : "plainread", key, call, ret, rc, NULL, -1,
				     -1, -1);
			}
		} else {
			snprintf(path, sizeof(path), "%s/d/C%d-%ld", root, id, seq);
			rc = zoo_create(zh, path, "durable", 7, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
			if (rc == ZOK) {
				printf("durable %s\n", path);
				fflush(stdout);
			}
		}
	}
	zookeeper_close(zh);
	return 0;
}
