// SPDX-License-Identifier: Apache-2.0
/*
 * The dataplane's connections over real loopback sockets, with a fake
 * protocol layer that echoes frames (fake_proto.c): framing at every
 * split point, many frames per read, four-letter words only at the start,
 * the jute.maxbuffer bound, the output bound, maxClientCnxns counted over
 * all workers, stale connection ids, closing after a flush, start-up
 * errors and a clean shutdown.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/jute.h"
#include "dataplane/dp_io.h"
#include "fake.h"
#include "tests/common/leakcheck.h"

static void expect_echo(int fd, const char *want)
{
	char buf[1024];
	int n = test_read_frame(fd, buf, sizeof(buf));

	cr_assert_geq(n, 0, "reading the echo of \"%s\": %s", want, strerror(-n));
	cr_assert_str_eq(buf, want);
}

Test(conn, echoes_frames_and_counts_them)
{
	struct test_server s;
	int fd;

	test_server_start(&s, NULL);
	fd = test_connect(s.port);
	test_send_str_frame(fd, "hello");
	expect_echo(fd, "hello");
	test_send_frame(fd, "", 0);
	expect_echo(fd, "");
	close(fd);
	cr_assert(test_wait_closed(1));
	cr_assert_eq(fake_opened, 1);
	cr_assert_eq(fake_frames, 2);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/* Appends a frame to buf at *len. */
static void put_frame(uint8_t *buf, size_t *len, const void *payload, uint32_t n)
{
	jute_put_be32(buf + *len, n);
	memcpy(buf + *len + 4, payload, n);
	*len += 4 + n;
}

Test(conn, frames_split_at_every_byte_boundary)
{
	static uint8_t stream[1024];
	char big[301];
	struct test_server s;
	size_t len = 0;
	uint64_t seen;

	memset(big, 'x', 300);
	big[300] = '\0';
	put_frame(stream, &len, "alpha", 5);
	put_frame(stream, &len, "", 0);
	put_frame(stream, &len, big, 300);
	put_frame(stream, &len, "omega", 5);
	test_server_start(&s, "maxClientCnxns=0");
	seen = 0;
	for (size_t k = 1; k < len; k++) {
		int fd = test_connect(s.port);

		/* The server must have read exactly the first k bytes before the rest. */
		test_send(fd, stream, k);
		cr_assert(test_wait_bytes_in(&s, seen + k), "split %zu: first part not read", k);
		test_send(fd, stream + k, len - k);
		expect_echo(fd, "alpha");
		expect_echo(fd, "");
		expect_echo(fd, big);
		expect_echo(fd, "omega");
		seen += len;
		close(fd);
	}
	cr_assert_eq(fake_frames, 4 * (len - 1));
	cr_assert(test_wait_closed((uint32_t)(len - 1)));
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, many_frames_in_one_read_keep_their_order)
{
	static uint8_t stream[8192];
	struct test_server s;
	size_t len = 0;
	char want[16];
	int fd;

	for (int i = 0; i < 300; i++) {
		int n = snprintf(want, sizeof(want), "f%d", i);

		put_frame(stream, &len, want, (uint32_t)n);
	}
	test_server_start(&s, NULL);
	fd = test_connect(s.port);
	test_send(fd, stream, len);
	for (int i = 0; i < 300; i++) {
		snprintf(want, sizeof(want), "f%d", i);
		expect_echo(fd, want);
	}
	close(fd);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, four_letter_word_only_at_connection_start)
{
	struct test_server s;
	char *out;
	long n;
	int fd;

	test_server_start(&s, "4lw.commands.whitelist=ruok");
	/* Split over two reads, still the connection's first 4 bytes. */
	fd = test_connect(s.port);
	test_send(fd, "ru", 2);
	cr_assert(test_wait_bytes_in(&s, 2));
	test_send(fd, "ok", 2);
	n = test_read_all(fd, &out);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(out, "imok");
	free(out);
	close(fd);

	/* After a frame the same bytes are a length: far above jute.maxbuffer. */
	fd = test_connect(s.port);
	test_send_str_frame(fd, "hello");
	expect_echo(fd, "hello");
	test_send(fd, "ruok", 4);
	n = test_read_all(fd, &out);
	cr_assert_eq(n, 0, "a word after the first frame must not be answered");
	free(out);
	close(fd);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, length_above_jute_maxbuffer_closes)
{
	static uint8_t payload[4096];
	struct test_server s;
	uint8_t hdr[4];
	char *out;
	int fd;

	test_server_start(&s, "jute.maxbuffer=4096");
	/* Exactly jute.maxbuffer is allowed. */
	fd = test_connect(s.port);
	memset(payload, 'y', sizeof(payload));
	test_send_frame(fd, payload, sizeof(payload));
	char *echo = malloc(sizeof(payload) + 1);

	cr_assert_eq(test_read_frame(fd, echo, sizeof(payload) + 1), (int)sizeof(payload));
	free(echo);
	/* One more byte: "Len error", closed without a reply. */
	jute_put_be32(hdr, sizeof(payload) + 1);
	test_send(fd, hdr, 4);
	cr_assert_eq(test_read_all(fd, &out), 0);
	free(out);
	close(fd);

	/* A negative length too, even as the very first frame. */
	fd = test_connect(s.port);
	jute_put_be32(hdr, 0xffffffffu);
	test_send(fd, hdr, 4);
	cr_assert_eq(test_read_all(fd, &out), 0);
	free(out);
	close(fd);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, output_bound_drops_a_client_that_does_not_read)
{
	struct test_server s;
	int fd;

	/* jute.maxbuffer=4096: the bound is the 4 MiB floor. */
	test_server_start(&s, "jute.maxbuffer=4096");
	fd = test_connect(s.port);
	test_send_str_frame(fd, "flood 6000000");
	cr_assert(test_closed_by_server(fd));
	cr_assert_eq(fake_flood_result, -ENOBUFS);
	close(fd);

	fd = test_connect(s.port);
	test_send_str_frame(fd, "send 6000000");
	cr_assert(test_closed_by_server(fd));
	cr_assert_eq(fake_flood_result, -ENOBUFS);
	close(fd);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, output_under_the_bound_is_all_delivered)
{
	struct test_server s;
	uint64_t total = 3000000, got = 0;
	char *buf = malloc(64 * 1024);
	int fd;

	test_server_start(&s, "jute.maxbuffer=4096");
	fd = test_connect(s.port);
	test_send_str_frame(fd, "flood 3000000");
	while (got < total) {
		int n = test_read_frame(fd, buf, 64 * 1024);

		cr_assert_gt(n, 0, "after %llu bytes: %s", (unsigned long long)got,
			     strerror(-n));
		got += (uint64_t)n;
	}
	cr_assert_eq(got, total);
	cr_assert_eq(fake_flood_result, 0);
	free(buf);
	close(fd);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/* A connection the server keeps: true when it answers an echo. */
static bool admitted(int fd)
{
	char buf[64];

	test_send_str_frame(fd, "ping");
	return test_read_frame(fd, buf, sizeof(buf)) == 4;
}

Test(conn, max_client_cnxns_counts_over_all_workers)
{
	struct test_server s;
	int fds[8], extra;
	bool ok = false;

	test_server_start(&s, "maxClientCnxns=3\ncheetah.dataplane.cores=0,1");
	cr_assert_eq(dp_nworkers(s.dp), 2);
	for (int i = 0; i < 3; i++) {
		fds[i] = test_connect(s.port);
		cr_assert(admitted(fds[i]), "connection %d refused", i);
	}
	/* Whichever worker gets them, the 4th to 7th are refused. */
	for (int i = 3; i < 8; i++) {
		fds[i] = test_connect(s.port);
		cr_assert_not(admitted(fds[i]), "connection %d admitted", i);
		close(fds[i]);
	}
	uint64_t rejected = 0;

	for (uint32_t i = 0; i < 2; i++)
		rejected += s.dp->workers[i]->st.rejected;
	cr_assert_eq(rejected, 5);

	/* One leaves: a place frees up (once the server has seen it go). */
	close(fds[0]);
	cr_assert(test_wait_closed(1));
	extra = test_connect(s.port);
	ok = admitted(extra);
	cr_assert(ok);
	close(extra);
	close(fds[1]);
	close(fds[2]);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, max_cnxns_limits_the_whole_server)
{
	struct test_server s;
	int a, b;

	test_server_start(&s, "maxCnxns=1\nmaxClientCnxns=0");
	a = test_connect(s.port);
	cr_assert(admitted(a));
	b = test_connect(s.port);
	cr_assert_not(admitted(b));
	close(b);
	close(a);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, stale_ids_never_find_a_new_connection)
{
	struct test_server s;
	uint32_t ids[200], keep_id;
	char buf[64], cmd[64];
	int keep;

	test_server_start(&s, "maxClientCnxns=0");
	keep = test_connect(s.port);
	test_send_str_frame(keep, "id");
	cr_assert_gt(test_read_frame(keep, buf, sizeof(buf)), 0);
	keep_id = (uint32_t)strtoul(buf, NULL, 10);
	cr_assert_neq(keep_id, 0);
	/* 200 connections one after the other: slots get reused. */
	for (int i = 0; i < 200; i++) {
		int fd = test_connect(s.port);

		test_send_str_frame(fd, "id");
		cr_assert_gt(test_read_frame(fd, buf, sizeof(buf)), 0);
		ids[i] = (uint32_t)strtoul(buf, NULL, 10);
		cr_assert_neq(ids[i], 0);
		for (int j = 0; j < i; j++)
			cr_assert_neq(ids[i], ids[j], "id %#x given twice", ids[i]);
		close(fd);
		cr_assert(test_wait_closed((uint32_t)i + 1));
	}
	for (int i = 0; i < 200; i++) {
		snprintf(cmd, sizeof(cmd), "lookup %u", ids[i]);
		test_send_str_frame(keep, cmd);
		expect_echo(keep, "none");
	}
	snprintf(cmd, sizeof(cmd), "lookup %u", keep_id);
	test_send_str_frame(keep, cmd);
	expect_echo(keep, "found");
	/* Slot 0 was reused: the same index with a newer generation. */
	uint32_t mask = DP_CONN_MAX_SLOTS - 1;
	bool reused = false;

	for (int i = 0; i < 200; i++)
		for (int j = 0; j < i; j++)
			reused |= (ids[i] & mask) == (ids[j] & mask);
	cr_assert(reused, "the test did not reuse a slot");
	close(keep);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, close_sends_queued_output_first)
{
	struct test_server s;
	char *out;
	int fd;

	test_server_start(&s, NULL);
	fd = test_connect(s.port);
	test_send_str_frame(fd, "close");
	expect_echo(fd, "bye");
	cr_assert_eq(test_read_all(fd, &out), 0, "nothing after the close");
	free(out);
	cr_assert(test_wait_closed(1));
	close(fd);

	/* A protocol error closes too. */
	fd = test_connect(s.port);
	test_send_str_frame(fd, "fail");
	cr_assert(test_closed_by_server(fd));
	close(fd);
	test_server_stop(&s);
	test_assert_no_leaks();
}

Test(conn, ticks_every_half_tick_time)
{
	struct test_server s;
	uint64_t end;

	test_server_start(&s, "tickTime=20");
	end = clock_mono_ns() + TEST_WAIT_MS * 1000000ull;
	while (__atomic_load_n(&fake_ticks, __ATOMIC_SEQ_CST) < 5 && clock_mono_ns() < end)
		sched_yield();
	cr_assert_geq(fake_ticks, 5);
	test_server_stop(&s);
	test_assert_no_leaks();
}

/*
 * Issue 8, item 6: pooled output buffers that no connection took during a
 * whole tick are freed at the tick; the ones in use survive.
 */
Test(conn, output_pool_frees_buffers_unused_for_a_tick)
{
	static struct dp_worker w;
	struct dp_conn c;

	memset(&w, 0, sizeof(w));
	memset(&c, 0, sizeof(c));
	for (uint32_t i = 0; i < 8; i++)
		jute_out_init(&w.out_pool[i], 64 * 1024);
	w.out_pool_n = 8;
	dp_conn_trim_pool(&w); /* the first mark: nothing known unused yet */
	cr_assert_eq(w.out_pool_n, 8);

	c.w = &w;
	c.state = DP_CONN_OPEN;
	for (int round = 0; round < 3; round++) {
		struct jute_out *o = dp_conn_out_begin(&c);

		cr_assert_eq(o, &c.out);
		cr_assert_not_null(c.out.buf, "a pooled buffer is taken");
		cr_assert_eq(w.out_pool_n, 7);
		w.out_pool[w.out_pool_n++] = c.out; /* drained, as conn_flush returns it */
		jute_out_init(&c.out, 0);
	}
	dp_conn_trim_pool(&w);
	cr_assert_eq(w.out_pool_n, 1, "only the buffer taken this tick stays");
	dp_conn_trim_pool(&w);
	cr_assert_eq(w.out_pool_n, 0, "and it goes after a tick unused");
	test_assert_no_leaks();
}

Test(conn, shutdown_closes_every_connection)
{
	struct test_server s;
	int fds[6];

	test_server_start(&s, "cheetah.dataplane.cores=0,1");
	for (int i = 0; i < 6; i++) {
		fds[i] = test_connect(s.port);
		cr_assert(admitted(fds[i]));
	}
	test_server_stop(&s);
	for (int i = 0; i < 6; i++) {
		cr_assert(test_closed_by_server(fds[i]));
		close(fds[i]);
	}
	cr_assert_eq(fake_opened, 6);
	cr_assert_eq(fake_closed, 6);
	test_assert_no_leaks();
}

Test(conn, wakeup_eventfd_is_registered_with_the_core)
{
	struct test_server s;

	test_server_start(&s, "cheetah.dataplane.cores=0,1");
	cr_assert_geq(fake_repl_wakeup(s.repl, 0), 0);
	cr_assert_geq(fake_repl_wakeup(s.repl, 1), 0);
	dp_stop(s.dp);
	/* Unregistered before the eventfds close. */
	cr_assert_eq(fake_repl_wakeup(s.repl, 0), -1);
	cr_assert_eq(fake_repl_wakeup(s.repl, 1), -1);
	fake_repl_free(s.repl);
	cfg_free(&s.cfg);
	test_assert_no_leaks();
}

Test(conn, port_in_use_is_refused)
{
	struct test_server a;
	struct cfg_error err = { "" };
	struct cfg c;
	struct dp *dp = NULL;
	struct repl *r = fake_repl_new();

	test_server_start(&a, NULL);
	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_string(&c, "b.cfg",
				     "dataDir=/tmp/x\nclientPort=2181\nclientPortAddress=127.0.0.1\n",
				     &err),
		     0);
	cr_assert_eq(cfg_finalize(&c, &err), 0);
	c.client_port = a.port;
	cr_assert_eq(dp_start(&(struct dp_opts){ &c, r }, &dp), -EADDRINUSE);
	cfg_free(&c);
	fake_repl_free(r);
	test_server_stop(&a);
	test_assert_no_leaks();
}

Test(conn, dpdk_backend_is_refused_until_built)
{
	struct cfg_error err = { "" };
	struct cfg c;
	struct dp *dp = NULL;
	struct repl *r = fake_repl_new();

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_string(&c, "d.cfg",
				     "dataDir=/tmp/x\nclientPort=2181\n"
				     "cheetah.dataplane=dpdk\ncheetah.port.ip=10.0.0.2\n",
				     &err),
		     0, "%s", err.msg);
	cr_assert_eq(cfg_finalize(&c, &err), 0, "%s", err.msg);
	cr_assert_eq(dp_start(&(struct dp_opts){ &c, r }, &dp), -EPROTONOSUPPORT);
	cfg_free(&c);
	fake_repl_free(r);
	test_assert_no_leaks();
}
