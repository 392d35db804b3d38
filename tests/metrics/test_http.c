// SPDX-License-Identifier: Apache-2.0
/*
 * /metrics over HTTP on loopback with a fake source: the text and its
 * content type, HEAD, 404 and 405, 503 when the source fails, scrapes
 * within MET_CACHE_MS sharing one snapshot, and that junk, oversized
 * headers, half-open connections beyond the limit and a flood leave it
 * serving.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "dataplane/dp_stats.h"
#include "metrics/metrics.h"
#include "tests/common/leakcheck.h"

static uint32_t calls;
static int fail;

static int fake(void *ctx, struct dp_stats *s)
{
	(void)ctx;
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&fail, __ATOMIC_RELAXED))
		return -EIO;
	memset(s, 0, sizeof(*s));
	s->znode_count = 42;
	s->ncores = 1;
	s->cores[0].cpu = -1;
	return 0;
}

static struct cfg cfg;
static struct met *met;

static void start(void)
{
	cr_assert_eq(cfg_defaults(&cfg), 0);
	cfg.metrics_enable = true;
	cfg.metrics_host = strdup("127.0.0.1");
	cfg.metrics_port = 0;
	cr_assert_eq(met_start(&(struct met_opts){.cfg = &cfg, .source = fake}, &met), 0);
	cr_assert_not_null(met);
}

static void stop(void)
{
	met_stop(met);
	cfg_free(&cfg);
	test_fini_no_leaks();
}

TestSuite(metrics_http, .init = start, .fini = stop, .timeout = 30);

static int dial(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(met_port(met))};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	return fd;
}

/* Sends req and reads the whole answer (the server closes: Connection: close). */
static char *exchange(const char *req, size_t len)
{
	int fd = dial();
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	ssize_t r;

	cr_assert_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		cr_assert_eq(poll(&p, 1, 10000), 1, "no answer within 10 s");
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		cr_assert_lt(n, cap - 1);
	}
	buf[n] = '\0';
	close(fd);
	return buf;
}

static char *get(const char *method, const char *path)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			 method, path);

	return exchange(req, (size_t)n);
}

Test(metrics_http, get_metrics)
{
	char *a = get("GET", "/metrics");

	cr_assert(!strncmp(a, "HTTP/1.1 200", 12), "%s", a);
	cr_assert_not_null(strstr(a, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
			   "%s", a);
	cr_assert_not_null(strstr(a, "\r\n\r\n# HELP avg_latency avg_latency\n"), "%s", a);
	cr_assert_not_null(strstr(a, "\nznode_count 42\n"), "%s", a);
	free(a);
	a = get("HEAD", "/metrics");
	cr_assert(!strncmp(a, "HTTP/1.1 200", 12), "%s", a);
	cr_assert_null(strstr(a, "znode_count"));
	free(a);
}

Test(metrics_http, other_paths_and_methods)
{
	char *a = get("GET", "/");

	cr_assert(!strncmp(a, "HTTP/1.1 404", 12), "%s", a);
	free(a);
	a = get("GET", "/metrics/x");
	cr_assert(!strncmp(a, "HTTP/1.1 404", 12), "%s", a);
	free(a);
	a = get("POST", "/metrics");
	cr_assert(!strncmp(a, "HTTP/1.1 405", 12), "%s", a);
	free(a);
	a = get("DELETE", "/metrics");
	cr_assert(!strncmp(a, "HTTP/1.1 405", 12), "%s", a);
	free(a);
}

Test(metrics_http, source_failure_is_503_then_recovers)
{
	char *a;

	__atomic_store_n(&fail, 1, __ATOMIC_RELAXED);
	a = get("GET", "/metrics");
	cr_assert(!strncmp(a, "HTTP/1.1 503", 12), "%s", a);
	free(a);
	__atomic_store_n(&fail, 0, __ATOMIC_RELAXED);
	a = get("GET", "/metrics");
	cr_assert(!strncmp(a, "HTTP/1.1 200", 12), "%s", a);
	free(a);
}

Test(metrics_http, close_scrapes_share_one_snapshot)
{
	uint32_t before = __atomic_load_n(&calls, __ATOMIC_RELAXED), n = 0;
	char *a;

	/* Scrapes 0 ms apart: many answers, few snapshots (one per MET_CACHE_MS). */
	for (int i = 0; i < 20; i++) {
		a = get("GET", "/metrics");
		cr_assert(!strncmp(a, "HTTP/1.1 200", 12));
		free(a);
	}
	n = __atomic_load_n(&calls, __ATOMIC_RELAXED) - before;
	cr_assert_geq(n, 1);
	cr_assert_lt(n, 20, "%u snapshots for 20 scrapes", n);
}

Test(metrics_http, junk_and_floods_leave_it_serving)
{
	static const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
	char *big = malloc(64 * 1024), *a;
	int held[40];

	a = exchange(junk, sizeof(junk) - 1);
	cr_assert(!strncmp(a, "HTTP/1.1 400", 12) || !*a, "%s", a);
	free(a);
	/* A request line longer than MET_CONNECTION_MEMORY. */
	memset(big, 'a', 64 * 1024);
	memcpy(big, "GET /", 5);
	memcpy(big + 64 * 1024 - 30, " HTTP/1.1\r\nHost: x\r\n\r\n", 23);
	a = exchange(big, 64 * 1024 - 7);
	cr_assert(!strncmp(a, "HTTP/1.1 414", 12) || !strncmp(a, "HTTP/1.1 431", 12) || !*a,
		  "%.100s", a);
	free(a);
	free(big);
	/* More silent connections than the limit, held open. */
	for (int i = 0; i < 40; i++)
		held[i] = dial();
	for (int i = 0; i < 40; i++)
		close(held[i]);
	/* A flood of scrapes. */
	for (int i = 0; i < 200; i++) {
		a = get("GET", "/metrics");
		cr_assert(!strncmp(a, "HTTP/1.1 200", 12), "scrape %d: %s", i, a);
		free(a);
	}
}
