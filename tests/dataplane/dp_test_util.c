// SPDX-License-Identifier: Apache-2.0
/*
 * Helpers for the dataplane tests: a server on an ephemeral loopback port
 * with the fake protocol layer and core, and blocking clients whose every
 * wait is bounded by TEST_WAIT_MS (poll, never sleep).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/jute.h"
#include "dataplane/io/io_priv.h"
#include "fake.h"

void test_server_start(struct test_server *s, const char *extra)
{
	struct cfg_error err = { "" };
	char text[2048];
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(text, sizeof(text),
		 "tickTime=2000\ndataDir=/tmp/cheetah-dp-test\nclientPort=2181\n"
		 "clientPortAddress=127.0.0.1\n%s\n",
		 extra ? extra : "");
	cr_assert_eq(cfg_defaults(&s->cfg), 0);
	ret = cfg_load_string(&s->cfg, "test.cfg", text, &err);
	cr_assert_eq(ret, 0, "%s", err.msg);
	ret = cfg_finalize(&s->cfg, &err);
	cr_assert_eq(ret, 0, "%s", err.msg);
	s->cfg.client_port = 0; /* any free port: read back with dp_port */
	s->repl = fake_repl_new();
	cr_assert_not_null(s->repl);
	ret = dp_start(&(struct dp_opts){ &s->cfg, s->repl }, &s->dp);
	cr_assert_eq(ret, 0, "dp_start: %s", strerror(-ret));
	s->port = dp_port(s->dp);
	cr_assert_neq(s->port, 0);
}

void test_server_stop(struct test_server *s)
{
	dp_stop(s->dp);
	fake_repl_free(s->repl);
	cfg_free(&s->cfg);
}

uint64_t test_server_bytes_in(struct test_server *s)
{
	struct dp *dp = s->dp;
	uint64_t n = 0;

	for (uint32_t i = 0; i < dp->nworkers; i++)
		n += __atomic_load_n(&dp->workers[i]->st.bytes_received, __ATOMIC_RELAXED);
	return n;
}

static bool wait_until(bool (*done)(void *), void *arg)
{
	uint64_t end = clock_mono_ns() + TEST_WAIT_MS * 1000000ull;

	while (!done(arg)) {
		if (clock_mono_ns() > end)
			return false;
		sched_yield();
	}
	return true;
}

static bool closed_reached(void *arg)
{
	return __atomic_load_n(&fake_closed, __ATOMIC_SEQ_CST) >= *(uint32_t *)arg;
}

bool test_wait_closed(uint32_t n)
{
	return wait_until(closed_reached, &n);
}

struct bytes_arg {
	struct test_server *s;
	uint64_t n;
};

static bool bytes_reached(void *arg)
{
	struct bytes_arg *a = arg;

	return test_server_bytes_in(a->s) >= a->n;
}

bool test_wait_bytes_in(struct test_server *s, uint64_t n)
{
	struct bytes_arg a = { s, n };

	return wait_until(bytes_reached, &a);
}

int test_connect(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert_geq(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "connect: %s",
		     strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

void test_send(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void test_send_frame(int fd, const void *payload, size_t len)
{
	uint8_t *buf = malloc(len + 4);

	jute_put_be32(buf, (uint32_t)len);
	memcpy(buf + 4, payload, len);
	test_send(fd, buf, len + 4);
	free(buf);
}

void test_send_str_frame(int fd, const char *s)
{
	test_send_frame(fd, s, strlen(s));
}

static int wait_readable(int fd, uint64_t end)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t now = clock_mono_ns();
	int ret;

	if (now >= end)
		return -ETIMEDOUT;
	ret = poll(&pfd, 1, (int)((end - now) / 1000000) + 1);
	if (ret == 0)
		return -ETIMEDOUT;
	return ret < 0 ? -errno : 0;
}

int test_read(int fd, void *buf, size_t len)
{
	uint64_t end = clock_mono_ns() + TEST_WAIT_MS * 1000000ull;
	uint8_t *p = buf;

	while (len) {
		int ret = wait_readable(fd, end);
		ssize_t n;

		if (ret)
			return ret;
		n = recv(fd, p, len, 0);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int test_read_frame(int fd, char *buf, size_t cap)
{
	uint8_t hdr[4];
	uint32_t len;
	int ret = test_read(fd, hdr, 4);

	if (ret)
		return ret;
	len = jute_be32(hdr);
	if (len + 1 > cap)
		return -EMSGSIZE;
	ret = test_read(fd, buf, len);
	if (ret)
		return ret;
	buf[len] = '\0';
	return (int)len;
}

long test_read_all(int fd, char **out)
{
	uint64_t end = clock_mono_ns() + TEST_WAIT_MS * 1000000ull;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	for (;;) {
		int ret = wait_readable(fd, end);
		ssize_t n;

		if (ret) {
			free(buf);
			return ret;
		}
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n == 0)
			break;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	return (long)len;
}

bool test_closed_by_server(int fd)
{
	uint64_t end = clock_mono_ns() + TEST_WAIT_MS * 1000000ull;
	char buf[4096];

	for (;;) {
		ssize_t n;

		if (wait_readable(fd, end))
			return false;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
}

char *test_4lw(uint16_t port, const char *word)
{
	int fd = test_connect(port);
	char *out = NULL;
	long n;

	test_send(fd, word, strlen(word));
	n = test_read_all(fd, &out);
	cr_assert_geq(n, 0, "%s: %s", word, strerror((int)-n));
	close(fd);
	return out;
}
