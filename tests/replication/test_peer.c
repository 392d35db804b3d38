// SPDX-License-Identifier: Apache-2.0
/*
 * The peer transport (replication/peer/peer.h) over real loopback sockets.
 * Time is the test's: a fake monotonic now_ms advanced by one per pump
 * iteration (or jumped), so back-off, stall and handshake timers are
 * exact; every wait is a bounded loop of poll() calls with a short
 * timeout, never a sleep.  Each test ends by checking that no fd (counted
 * in /proc/self/fd) and, under ASan, no memory leaked.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "config/config.h"
#include "replication/peer/peer.h"
#include "replication/peer/peer_sasl.h"
#include "../common/leakcheck.h"

#define MAXEP 3
#define ENSEMBLE 0x1234567890abcdefull

struct rx {
	uint32_t from;
	uint16_t type;
	uint32_t len;
	uint32_t crc;
};

struct ep {
	struct peer *p;
	uint32_t id;
	struct rx *rx;
	size_t nrx, caprx;
	int connected[MAXEP + 2];
	int lost[MAXEP + 2];
	uint64_t next;
};

static uint64_t now = 1000;
static struct peer_member members[MAXEP];
static uint16_t eports[MAXEP];
static int fds_before;

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	cr_assert(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);

	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void on_frame(void *arg, uint32_t from, uint16_t type, const void *payload, size_t len)
{
	struct ep *e = arg;

	if (e->nrx == e->caprx) {
		e->caprx = e->caprx ? 2 * e->caprx : 64;
		e->rx = realloc(e->rx, e->caprx * sizeof(*e->rx));
		cr_assert(e->rx);
	}
	e->rx[e->nrx++] = (struct rx){from, type, (uint32_t)len, crc32c(0, payload, len)};
}

static void on_event(void *arg, uint32_t id, enum peer_event ev)
{
	struct ep *e = arg;

	cr_assert(id >= 1 && id <= MAXEP);
	if (ev == PEER_EV_CONNECTED) {
		cr_assert_eq(e->connected[id], e->lost[id], "CONNECTED twice without LOST");
		e->connected[id]++;
	} else {
		cr_assert_eq(e->connected[id], e->lost[id] + 1, "LOST without CONNECTED");
		e->lost[id]++;
	}
}

static void setup(void)
{
	fds_before = count_fds();
	for (int i = 0; i < MAXEP; i++) {
		members[i] = (struct peer_member){(uint32_t)i + 1, "127.0.0.1", free_port(),
						  free_port(), false};
		eports[i] = members[i].election_port;
	}
}

static void teardown(void)
{
}

static struct peer_config base_cfg(uint32_t id, size_t n)
{
	return (struct peer_config){
	    .self_id = id,
	    .ensemble = ENSEMBLE,
	    .members = members,
	    .n_members = n,
	    .seed = 42 + id,
	    .backoff_min_ms = 20,
	    .backoff_max_ms = 200,
	};
}

static void ep_start(struct ep *e, const struct peer_config *cfg)
{
	struct peer_callbacks cb = {on_frame, on_event, e};

	memset(e->connected, 0, sizeof(e->connected));
	memset(e->lost, 0, sizeof(e->lost));
	e->id = cfg->self_id;
	e->next = UINT64_MAX;
	cr_assert_eq(peer_new(cfg, &cb, &e->p), 0);
}

static void ep_stop(struct ep *e)
{
	peer_destroy(e->p);
	e->p = NULL;
	free(e->rx);
	e->rx = NULL;
	e->nrx = e->caprx = 0;
}

/* One round: poll every live endpoint's fd (1 ms at most), tick, peer_poll all. */
static void pump(struct ep **eps, size_t n, uint64_t step)
{
	struct pollfd pf[MAXEP];
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (eps[i]->p)
			pf[k++] = (struct pollfd){.fd = peer_fd(eps[i]->p), .events = POLLIN};
	(void)poll(pf, k, 1);
	now += step;
	for (size_t i = 0; i < n; i++)
		if (eps[i]->p)
			cr_assert_eq(peer_poll(eps[i]->p, now, &eps[i]->next), 0);
}

#define WAIT(eps, n, cond)                                                                         \
	do {                                                                                       \
		int it_ = 0;                                                                       \
		while (!(cond) && it_++ < 4000)                                                    \
			pump(eps, n, 1);                                                           \
		cr_assert(cond, "timed out waiting for " #cond);                                   \
	} while (0)

static bool all_connected(struct ep **eps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (i != j && eps[i]->connected[eps[j]->id] != 1 + eps[i]->lost[eps[j]->id])
				return false;
	return true;
}

static void finish(void)
{
	cr_assert_eq(count_fds(), fds_before, "file descriptors leaked");
	test_assert_no_leaks();
}

/* A raw client socket, connected (blocking) to a port of 127.0.0.1. */
static int raw_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	cr_assert(fd >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Pumps until the raw socket sees end of stream (the peer closed it). */
static void wait_closed(struct ep **eps, size_t n, int fd)
{
	for (int it = 0; it < 4000; it++) {
		pump(eps, n, 1);
		char b[256];
		ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return;
	}
	cr_assert_fail("the peer did not close the raw connection");
}

static void send_hello(int fd, uint64_t ens, uint32_t from, uint32_t to)
{
	struct peer_hello h = {PEER_MAGIC, PEER_VERSION, 0, ens, from, to};
	uint8_t b[PEER_HELLO_SIZE];

	peer_hello_encode(&h, b);
	cr_assert_eq(send(fd, b, sizeof(b), MSG_NOSIGNAL), (ssize_t)sizeof(b));
}

/* ------------------------------------------------------------------ codec */

/* The big-endian layouts of peer.h, byte for byte, both ways. */
Test(peer_codec, hello_and_frame_header_golden_bytes)
{
	static const uint8_t hello[PEER_HELLO_SIZE] = {
	    0x43, 0x48, 0x50, 0x52,			    /* "CHPR" */
	    0x00, 0x01, 0x00, 0x00,			    /* version 1, flags 0 */
	    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* ensemble */
	    0x00, 0x00, 0x00, 0x03,			    /* from 3 */
	    0x00, 0x00, 0x00, 0x02,			    /* to 2 */
	    0xaa, 0xf2, 0x76, 0x3b,			    /* crc32c of bytes 0..23 */
	};
	static const uint8_t frame[PEER_FRAME_HDR + 3] = {
	    0x00, 0x00, 0x00, 0x03, /* length 3 */
	    0x00, 0x02, 0x00, 0x00, /* type 2, flags 0 */
	    0xfc, 0x36, 0x0d, 0x9f, /* crc32c of bytes 0..7 and the payload */
	    'a',  'b',	'c',
	};
	struct peer_hello h = {PEER_MAGIC, PEER_VERSION, 0, 0x0102030405060708ull, 3, 2}, g;
	uint8_t b[PEER_HELLO_SIZE];
	struct peer_frame f;

	peer_hello_encode(&h, b);
	cr_assert_arr_eq(b, hello, sizeof(hello));
	cr_assert_eq(crc32c(0, hello, 24), 0xaaf2763bu);
	cr_assert_eq(peer_hello_parse(hello, sizeof(hello), &g), PEER_HELLO_SIZE);
	cr_assert(g.ensemble == 0x0102030405060708ull && g.from == 3 && g.to == 2);
	for (size_t n = 0; n < PEER_HELLO_SIZE; n++)
		cr_assert_eq(peer_hello_parse(hello, n, &g), 0, "%zu bytes: more needed", n);

	peer_frame_header(2, "abc", 3, b);
	cr_assert_arr_eq(b, frame, PEER_FRAME_HDR);
	cr_assert_eq(crc32c(crc32c(0, frame, 8), "abc", 3), 0xfc360d9fu);
	cr_assert_eq(peer_frame_parse(frame, sizeof(frame), 100, &f, NULL), (int)sizeof(frame));
	cr_assert(f.type == 2 && f.len == 3 && !memcmp(f.payload, "abc", 3));
	for (size_t n = 0; n < sizeof(frame); n++)
		cr_assert_eq(peer_frame_parse(frame, n, 100, &f, NULL), 0, "%zu bytes: more needed",
			     n);
}

Test(peer_codec, hello_round_trip_and_damage)
{
	struct peer_hello h = {PEER_MAGIC, PEER_VERSION, 0, ENSEMBLE, 3, 2}, g;
	uint8_t b[PEER_HELLO_SIZE];

	peer_hello_encode(&h, b);
	cr_assert_eq(peer_hello_parse(b, sizeof(b) - 1, &g), 0);
	cr_assert_eq(peer_hello_parse(b, sizeof(b), &g), PEER_HELLO_SIZE);
	cr_assert(g.ensemble == ENSEMBLE && g.from == 3 && g.to == 2);
	for (size_t i = 0; i < sizeof(b); i++) {
		b[i] ^= 0x10;
		cr_assert_lt(peer_hello_parse(b, sizeof(b), &g), 0, "flip at byte %zu accepted", i);
		b[i] ^= 0x10;
	}
	h.version = PEER_VERSION + 1;
	peer_hello_encode(&h, b);
	cr_assert_eq(peer_hello_parse(b, sizeof(b), &g), -EPROTONOSUPPORT);
}

Test(peer_codec, frame_round_trip_limits_and_damage)
{
	uint8_t buf[PEER_FRAME_HDR + 100];
	struct peer_frame f;
	size_t need;

	for (int i = 0; i < 100; i++)
		buf[PEER_FRAME_HDR + i] = (uint8_t)(i * 7);
	peer_frame_header(9, buf + PEER_FRAME_HDR, 100, buf);
	cr_assert_eq(peer_frame_parse(buf, 5, 100, &f, &need), 0);
	cr_assert_eq(need, PEER_FRAME_HDR);
	cr_assert_eq(peer_frame_parse(buf, 50, 100, &f, &need), 0);
	cr_assert_eq(need, sizeof(buf));
	cr_assert_eq(peer_frame_parse(buf, sizeof(buf), 100, &f, NULL), (int)sizeof(buf));
	cr_assert(f.type == 9 && f.len == 100 && f.payload == buf + PEER_FRAME_HDR);
	cr_assert_eq(peer_frame_parse(buf, sizeof(buf), 99, &f, NULL), -EMSGSIZE);
	for (size_t i = 4; i < sizeof(buf); i++) {
		buf[i] ^= 1;
		cr_assert_eq(peer_frame_parse(buf, sizeof(buf), 100, &f, NULL), -EBADMSG,
			     "flip at %zu", i);
		buf[i] ^= 1;
	}
	peer_frame_header(1, NULL, 0, buf);
	cr_assert_eq(peer_frame_parse(buf, PEER_FRAME_HDR, 0, &f, NULL), PEER_FRAME_HDR);
	cr_assert_eq(f.len, 0);
}

Test(peer_codec, ensemble_id_ignores_order_and_hosts)
{
	struct peer_member a[2] = {{1, "a", 2888, 3888, false}, {2, "b", 2889, 3889, true}};
	struct peer_member b[2] = {{2, "0.0.0.0", 2889, 3889, true}, {1, "x", 2888, 3888, false}};

	cr_assert_eq(peer_ensemble_id(a, 2, NULL), peer_ensemble_id(b, 2, NULL));
	cr_assert_neq(peer_ensemble_id(a, 2, NULL), peer_ensemble_id(a, 2, "prod"));
	b[0].observer = false;
	cr_assert_neq(peer_ensemble_id(a, 2, NULL), peer_ensemble_id(b, 2, NULL));
	cr_assert_neq(peer_ensemble_id(a, 1, NULL), 0);
}

/* --------------------------------------------------------------- transport */

TestSuite(peer, .init = setup, .fini = teardown, .timeout = 120);

Test(peer, three_endpoints_exchange_in_all_directions)
{
	struct ep e[3] = {0};
	struct ep *eps[3] = {&e[0], &e[1], &e[2]};

	for (int i = 0; i < 3; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 3);
		ep_start(&e[i], &c);
	}
	WAIT(eps, 3, all_connected(eps, 3));
	for (int round = 0; round < 20; round++)
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++) {
				if (i == j)
					continue;
				uint8_t msg[64];
				size_t len = (size_t)(round * 3 + j) % sizeof(msg);
				memset(msg, 'a' + i, len);
				if (len)
					msg[0] = (uint8_t)round;
				cr_assert_eq(
				    peer_send(e[i].p, e[j].id, (uint16_t)(100 + round), msg, len),
				    0);
			}
	WAIT(eps, 3, e[0].nrx == 40 && e[1].nrx == 40 && e[2].nrx == 40);
	for (int j = 0; j < 3; j++) {
		int seen[4] = {0};
		for (size_t k = 0; k < e[j].nrx; k++) {
			struct rx *r = &e[j].rx[k];
			cr_assert(r->from >= 1 && r->from <= 3 && r->from != e[j].id);
			int round = seen[r->from]++;
			cr_assert_eq(r->type, 100 + round, "frames from %u out of order", r->from);
			size_t len = (size_t)(round * 3 + j) % 64;
			uint8_t msg[64];
			memset(msg, 'a' + (int)r->from - 1, len);
			if (len)
				msg[0] = (uint8_t)round;
			cr_assert_eq(r->len, len);
			cr_assert_eq(r->crc, crc32c(0, msg, len));
		}
		struct peer_stats st;
		uint32_t other = (uint32_t)(j + 1) % 3 + 1;
		cr_assert_eq(peer_stats(e[j].p, other, &st), 0);
		cr_assert_eq(st.frames_sent, 20);
		cr_assert_eq(st.frames_recv, 20);
		cr_assert_eq(st.out_state, PEER_LINK_UP);
		cr_assert(st.in_up);
		cr_assert_eq(peer_stats(e[j].p, e[j].id, &st), -EINVAL);
	}
	for (int i = 0; i < 3; i++)
		ep_stop(&e[i]);
	finish();
}

struct enc_arg {
	uint8_t fill;
	int calls;
	int rc; /* what enc returns */
};

static int enc_fill(void *arg, uint8_t *buf, size_t len)
{
	struct enc_arg *a = arg;

	a->calls++;
	if (a->rc)
		return a->rc;
	memset(buf, a->fill, len);
	if (len)
		buf[0] = (uint8_t)len;
	return 0;
}

/*
 * peer_send_encoded: the frame enc writes in place arrives as peer_send's
 * would (same length, checksum, order among peer_send frames); a failing
 * enc queues nothing; enc is never called for a frame that is refused.
 */
Test(peer, encoded_frames_arrive_as_copied_ones)
{
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};
	struct enc_arg a = {.fill = 'q'};
	uint8_t msg[300];
	struct peer_stats st;

	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		ep_start(&e[i], &c);
	}
	WAIT(eps, 2, all_connected(eps, 2));
	cr_assert_eq(peer_send_encoded(e[0].p, 2, 9, 10, NULL, &a), -EINVAL);
	cr_assert_eq(peer_send_encoded(e[0].p, 7, 9, 10, enc_fill, &a), -EINVAL);
	cr_assert_eq(peer_send_encoded(e[0].p, 2, 0, 10, enc_fill, &a), -EINVAL);
	cr_assert_eq(peer_send_encoded(e[0].p, 2, 9, (size_t)1 << 30, enc_fill, &a), -EMSGSIZE);
	cr_assert_eq(a.calls, 0, "enc called for a refused frame");
	a.rc = -EBADMSG;
	cr_assert_eq(peer_send_encoded(e[0].p, 2, 9, 10, enc_fill, &a), -EBADMSG);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert_eq(st.queued_frames, 0, "a failed encoding left a frame");
	a.rc = 0;
	for (int k = 0; k < 3; k++) {
		size_t len = (size_t)k * 140; /* 0, 140, 280 */

		cr_assert_eq(
		    peer_send_encoded(e[0].p, 2, (uint16_t)(20 + 2 * k), len, enc_fill, &a), 0);
		memset(msg, 'c', sizeof(msg));
		cr_assert_eq(peer_send(e[0].p, 2, (uint16_t)(21 + 2 * k), msg, len), 0);
	}
	WAIT(eps, 2, e[1].nrx == 6);
	for (int k = 0; k < 3; k++) {
		size_t len = (size_t)k * 140;
		struct rx *x = &e[1].rx[2 * k];

		memset(msg, 'q', sizeof(msg));
		if (len)
			msg[0] = (uint8_t)len;
		cr_assert_eq(x->from, 1);
		cr_assert_eq(x->type, 20 + 2 * k);
		cr_assert_eq(x->len, len);
		cr_assert_eq(x->crc, crc32c(0, msg, len));
		x++;
		memset(msg, 'c', sizeof(msg));
		cr_assert_eq(x->type, 21 + 2 * k);
		cr_assert_eq(x->len, len);
		cr_assert_eq(x->crc, crc32c(0, msg, len));
	}
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	/* a link that is not up: refused before enc runs */
	{
		struct ep lone = {0};
		struct peer_config c = base_cfg(1, 2);

		ep_start(&lone, &c);
		a.calls = 0;
		cr_assert_eq(peer_send_encoded(lone.p, 2, 9, 10, enc_fill, &a), -ENOTCONN);
		cr_assert_eq(a.calls, 0);
		ep_stop(&lone);
	}
	finish();
}

/* Reconfig: 1 and 2 start alone, 3 joins by peer_add, then 2 leaves by peer_remove. */
Test(peer, members_added_and_removed_at_run_time)
{
	struct ep e[3] = {0};
	struct ep *eps[3] = {&e[0], &e[1], &e[2]};
	struct peer_stats st;

	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		ep_start(&e[i], &c);
	}
	{
		struct peer_config c = base_cfg(3, 3); /* the joiner knows everyone */
		ep_start(&e[2], &c);
	}
	WAIT(eps, 2, all_connected(eps, 2));
	/* 3 is unknown to 1 and 2: its links are refused */
	cr_assert_eq(peer_stats(e[0].p, 3, &st), -EINVAL);
	cr_assert_eq(peer_send(e[0].p, 3, 7, "x", 1), -EINVAL);
	/* bad additions */
	struct peer_member bad = members[2];
	bad.id = 1;
	cr_assert_eq(peer_add(e[0].p, &bad), -EINVAL, "self");
	bad.id = 2;
	cr_assert_eq(peer_add(e[0].p, &bad), -EEXIST);
	bad.id = 9;
	bad.host = NULL;
	cr_assert_eq(peer_add(e[0].p, &bad), -EINVAL);
	cr_assert_eq(peer_add(e[0].p, NULL), -EINVAL);
	cr_assert_eq(peer_remove(e[0].p, 9), -EINVAL);
	cr_assert_eq(peer_remove(e[0].p, 0), -EINVAL);
	/* 3 joins */
	cr_assert_eq(peer_add(e[0].p, &members[2]), 0);
	cr_assert_eq(peer_add(e[1].p, &members[2]), 0);
	WAIT(eps, 3, all_connected(eps, 3));
	cr_assert_eq(peer_send(e[0].p, 3, 7, "x", 1), 0);
	WAIT(eps, 3, e[2].nrx == 1);
	cr_assert_eq(e[2].rx[0].from, 1);
	/* 2 leaves: 1 and 3 forget it; its frames are refused from then on */
	cr_assert_eq(peer_remove(e[0].p, 2), 0);
	cr_assert_eq(peer_remove(e[2].p, 2), 0);
	cr_assert_eq(peer_stats(e[0].p, 2, &st), -EINVAL);
	cr_assert_eq(peer_send(e[0].p, 2, 7, "x", 1), -EINVAL);
	cr_assert_eq(peer_send(e[2].p, 1, 8, "yz", 2), 0);
	WAIT(eps, 3, e[0].nrx == 1);
	cr_assert_eq(e[0].rx[0].from, 3);
	cr_assert_eq(peer_stats(e[0].p, 3, &st), 0);
	cr_assert_eq(st.out_state, PEER_LINK_UP);
	/* the freed slot is reused */
	cr_assert_eq(peer_add(e[0].p, &members[1]), 0);
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	for (int i = 0; i < 3; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer, frames_of_every_size_up_to_the_max)
{
	const uint32_t max = 70000;
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};
	uint8_t *big = malloc(max + 1);

	for (uint32_t i = 0; i <= max; i++)
		big[i] = (uint8_t)(i * 31 + (i >> 8));
	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		c.max_frame = max;
		c.queue_max_bytes = 64u << 20;
		ep_start(&e[i], &c);
	}
	WAIT(eps, 2, all_connected(eps, 2));
	/* Every size 0..300 (header boundaries), then a ramp to the max. */
	size_t sent = 0;
	uint32_t sizes[600];
	for (uint32_t s = 0; s <= 300; s++)
		sizes[sent++] = s;
	for (uint32_t s = 301; s < max; s = s * 5 / 4 + 7)
		sizes[sent++] = s;
	sizes[sent++] = max - 1;
	sizes[sent++] = max;
	for (size_t k = 0; k < sent; k++) {
		cr_assert_eq(peer_send(e[0].p, 2, 7, big, sizes[k]), 0);
		if (k % 16 == 0)
			pump(eps, 2, 1);
	}
	cr_assert_eq(peer_send(e[0].p, 2, 7, big, max + 1), -EMSGSIZE);
	WAIT(eps, 2, e[1].nrx == sent);
	for (size_t k = 0; k < sent; k++) {
		cr_assert_eq(e[1].rx[k].len, sizes[k]);
		cr_assert_eq(e[1].rx[k].crc, crc32c(0, big, sizes[k]), "frame %zu corrupted", k);
	}

	/* One over the max on the wire: an impostor of server 1 (the newest
	 * inbound link wins) sends a header announcing max + 1 bytes. */
	int fd = raw_connect(members[1].quorum_port);
	send_hello(fd, ENSEMBLE, 1, 2);
	uint8_t hdr[PEER_FRAME_HDR];
	peer_frame_header(7, big, max + 1, hdr);
	cr_assert_eq(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
	wait_closed(eps, 2, fd);
	close(fd);
	struct peer_stats st;
	cr_assert_eq(peer_stats(e[1].p, 1, &st), 0);
	cr_assert_eq(st.bad_frames, 1);
	cr_assert(strstr(st.last_error, "length above the maximum"), "%s", st.last_error);
	cr_assert(strstr(st.last_error, "server 1"), "%s", st.last_error);
	free(big);
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer, a_frame_of_the_default_maximum_crosses)
{
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};
	uint8_t *big = malloc(PEER_DEFAULT_MAX_FRAME + 1);

	for (uint32_t i = 0; i <= PEER_DEFAULT_MAX_FRAME; i++)
		big[i] = (uint8_t)(i ^ (i >> 11));
	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		ep_start(&e[i], &c);
	}
	WAIT(eps, 2, all_connected(eps, 2));
	cr_assert_eq(peer_send(e[1].p, 1, 2, big, PEER_DEFAULT_MAX_FRAME + 1), -EMSGSIZE);
	cr_assert_eq(peer_send(e[1].p, 1, 2, big, PEER_DEFAULT_MAX_FRAME), 0);
	WAIT(eps, 2, e[0].nrx == 1);
	cr_assert_eq(e[0].rx[0].len, PEER_DEFAULT_MAX_FRAME);
	cr_assert_eq(e[0].rx[0].crc, crc32c(0, big, PEER_DEFAULT_MAX_FRAME));
	free(big);
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer, corrupt_frame_closes_the_link_and_it_reconnects)
{
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};

	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		ep_start(&e[i], &c);
	}
	WAIT(eps, 2, all_connected(eps, 2));
	/* An impostor of server 2 replaces 2's inbound link at 1 (so the real
	 * 2 loses its link), then sends a frame with one flipped bit. */
	int fd = raw_connect(members[0].quorum_port);
	send_hello(fd, ENSEMBLE, 2, 1);
	uint8_t fr[PEER_FRAME_HDR + 10] = {0};
	memcpy(fr + PEER_FRAME_HDR, "0123456789", 10);
	peer_frame_header(5, fr + PEER_FRAME_HDR, 10, fr);
	fr[PEER_FRAME_HDR + 3] ^= 4;
	cr_assert_eq(send(fd, fr, sizeof(fr), MSG_NOSIGNAL), (ssize_t)sizeof(fr));
	wait_closed(eps, 2, fd);
	close(fd);
	struct peer_stats st;
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert_eq(st.bad_frames, 1);
	cr_assert(strstr(st.last_error, "corrupt frame"), "%s", st.last_error);
	cr_assert_eq(e[0].nrx, 0, "a corrupt frame was delivered");
	/* The real server 2 lost its link, reconnects after its back-off. */
	WAIT(eps, 2, e[1].lost[1] == 1 && e[1].connected[1] == 2);
	cr_assert_eq(peer_send(e[1].p, 1, 3, "hi", 2), 0);
	WAIT(eps, 2, e[0].nrx == 1);
	cr_assert_eq(e[0].rx[0].from, 2);
	cr_assert_eq(e[0].rx[0].crc, crc32c(0, "hi", 2));
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer, handshakes_refused_with_the_reason)
{
	struct ep e[1] = {0};
	struct ep *eps[1] = {&e[0]};
	struct peer_config c = base_cfg(1, 3);
	struct peer_stats st;
	struct peer_global_stats gs;
	int fd;

	ep_start(&e[0], &c);
	pump(eps, 1, 1);

	fd = raw_connect(members[0].quorum_port); /* another ensemble */
	send_hello(fd, 0x77, 2, 1);
	wait_closed(eps, 1, fd);
	close(fd);
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert(
	    strstr(st.last_error,
		   "says it is server 2 of ensemble 0000000000000077 talking to server 1, "
		   "we are server 1 of ensemble 1234567890abcdef: refused (another ensemble)"),
	    "%s", st.last_error);

	fd = raw_connect(members[0].quorum_port); /* unknown id */
	send_hello(fd, ENSEMBLE, 9, 1);
	wait_closed(eps, 1, fd);
	close(fd);
	peer_global_stats(e[0].p, &gs);
	cr_assert(strstr(gs.last_error, "server 9") && strstr(gs.last_error, "(unknown id)"), "%s",
		  gs.last_error);

	fd = raw_connect(members[0].quorum_port); /* our own id */
	send_hello(fd, ENSEMBLE, 1, 1);
	wait_closed(eps, 1, fd);
	close(fd);
	peer_global_stats(e[0].p, &gs);
	cr_assert(strstr(gs.last_error, "our own id"), "%s", gs.last_error);

	fd = raw_connect(members[0].quorum_port); /* wrong id: meant server 3 */
	send_hello(fd, ENSEMBLE, 2, 3);
	wait_closed(eps, 1, fd);
	close(fd);
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert_eq(st.refused, 2);
	cr_assert(strstr(st.last_error, "talking to server 3") && strstr(st.last_error, "wrong id"),
		  "%s", st.last_error);
	cr_assert(!st.in_up);

	fd = raw_connect(members[0].quorum_port); /* not our protocol */
	cr_assert_eq(send(fd, "GET / HTTP/1.0\r\n\r\nxxxxxxxxxxxxxx", 32, MSG_NOSIGNAL), 32);
	wait_closed(eps, 1, fd);
	close(fd);
	peer_global_stats(e[0].p, &gs);
	cr_assert(strstr(gs.last_error, "not a Cheetah peer handshake"), "%s", gs.last_error);

	fd = raw_connect(members[0].quorum_port); /* silent: handshake timeout */
	for (int i = 0; i < 10; i++)
		pump(eps, 1, 1);
	now += PEER_DEFAULT_HANDSHAKE_TIMEOUT_MS;
	wait_closed(eps, 1, fd);
	close(fd);
	peer_global_stats(e[0].p, &gs);
	cr_assert(strstr(gs.last_error, "no handshake within"), "%s", gs.last_error);

	fd = raw_connect(eports[0]); /* the election port */
	wait_closed(eps, 1, fd);
	close(fd);
	peer_global_stats(e[0].p, &gs);
	cr_assert_eq(gs.election_port_conns, 1);
	cr_assert(strstr(gs.last_error, "election port"), "%s", gs.last_error);
	cr_assert_eq(gs.refused_unknown, 4);
	cr_assert_eq(e[0].nrx, 0);
	ep_stop(&e[0]);
	finish();
}

/* Counts the lines of fd (from its start) that contain needle. */
static int count_lines(int fd, const char *needle)
{
	static char buf[1 << 16];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	int c = 0;

	cr_assert(n >= 0);
	buf[n] = 0;
	for (char *q = buf; (q = strstr(q, needle)); q += strlen(needle))
		c++;
	return c;
}

Test(peer, refusals_are_logged_once_per_interval)
{
	struct ep e[1] = {0};
	struct ep *eps[1] = {&e[0]};
	struct peer_config c = base_cfg(1, 3);
	int logfd = memfd_create("peerlog", MFD_CLOEXEC);
	int saved = dup(STDERR_FILENO);

	cr_assert(logfd >= 0 && saved >= 0);
	ep_start(&e[0], &c);
	cr_assert_eq(dup2(logfd, STDERR_FILENO), STDERR_FILENO);
	for (int k = 0; k < 4; k++) {
		if (k == 3)
			now += PEER_LOG_INTERVAL_MS;
		int fd = raw_connect(members[0].quorum_port);
		send_hello(fd, ENSEMBLE, 9, 1);
		wait_closed(eps, 1, fd);
		close(fd);
	}
	cr_assert_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	struct peer_global_stats gs;
	peer_global_stats(e[0].p, &gs);
	cr_assert_eq(gs.refused_unknown, 4);
	/* Three refusals within the interval: one line; after it: one more. */
	cr_assert_eq(count_lines(logfd, "(unknown id)"), 2);
	close(logfd);
	ep_stop(&e[0]);
	finish();
}

Test(peer, real_servers_of_different_ensembles_never_connect)
{
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};

	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		c.ensemble = ENSEMBLE + (uint64_t)i;
		ep_start(&e[i], &c);
	}
	for (int i = 0; i < 500; i++)
		pump(eps, 2, 1);
	for (int i = 0; i < 2; i++) {
		struct peer_stats st;
		cr_assert_eq(peer_stats(e[i].p, 2 - (uint32_t)i, &st), 0);
		cr_assert_eq(e[i].connected[2 - i], 0);
		cr_assert_gt(st.refused, 0);
		cr_assert_gt(st.dial_failures, 1);
		cr_assert_eq(peer_send(e[i].p, 2 - (uint32_t)i, 1, "x", 1), -ENOTCONN);
	}
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer, dialler_refuses_the_wrong_server_behind_an_address)
{
	/* Server 1 believes server 2 lives at server 3's port. */
	struct peer_member swapped[3];
	struct ep e[3] = {0};
	struct ep *eps[3] = {&e[0], &e[1], &e[2]};

	memcpy(swapped, members, sizeof(swapped));
	uint16_t t = swapped[1].quorum_port;
	swapped[1].quorum_port = swapped[2].quorum_port;
	swapped[2].quorum_port = t;
	for (int i = 0; i < 3; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 3);
		if (i == 0)
			c.members = swapped;
		ep_start(&e[i], &c);
	}
	for (int i = 0; i < 300; i++)
		pump(eps, 3, 1);
	struct peer_stats st;
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert_eq(e[0].connected[2], 0);
	cr_assert(strstr(st.last_error, "closed during the handshake"), "%s", st.last_error);
	cr_assert_eq(peer_stats(e[2].p, 1, &st), 0);
	cr_assert(strstr(st.last_error, "wrong id"), "%s", st.last_error);
	cr_assert_eq(e[1].connected[3], 1); /* the others are fine */
	for (int i = 0; i < 3; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer, dialler_checks_the_acceptors_answer)
{
	/* Server 2 is a raw socket that accepts anything and answers as 3. */
	struct ep e[1] = {0};
	struct ep *eps[1] = {&e[0]};
	struct peer_config c = base_cfg(1, 2);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(members[1].quorum_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;

	cr_assert(lfd >= 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	ep_start(&e[0], &c);
	int fd = -1;
	for (int it = 0; it < 2000 && fd < 0; it++) {
		pump(eps, 1, 1);
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	cr_assert(fd >= 0);
	uint8_t b[PEER_HELLO_SIZE];
	size_t got = 0;
	for (int it = 0; it < 2000 && got < sizeof(b); it++) {
		pump(eps, 1, 0);
		ssize_t r = recv(fd, b + got, sizeof(b) - got, 0);
		if (r > 0)
			got += (size_t)r;
	}
	struct peer_hello h;
	cr_assert_eq(peer_hello_parse(b, got, &h), PEER_HELLO_SIZE);
	cr_assert(h.from == 1 && h.to == 2 && h.ensemble == ENSEMBLE);
	send_hello(fd, ENSEMBLE, 3, 1);
	wait_closed(eps, 1, fd);
	close(fd);
	close(lfd);
	struct peer_stats st;
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert(strstr(st.last_error,
			 "it says it is server 3 of ensemble 1234567890abcdef talking to server 1, "
			 "we are server 1 of ensemble 1234567890abcdef: refused"),
		  "%s", st.last_error);
	cr_assert_eq(e[0].connected[2], 0);
	cr_assert_eq(st.connects, 0);
	ep_stop(&e[0]);
	finish();
}

Test(peer, full_queue_drops_without_blocking_and_a_stalled_peer_is_cut)
{
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};
	static uint8_t chunk[65536];

	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		c.queue_max_bytes = 1u << 20;
		c.max_frame = 1u << 20;
		c.queue_max_frames = 64;
		c.stall_timeout_ms = 3000;
		ep_start(&e[i], &c);
	}
	WAIT(eps, 2, all_connected(eps, 2));
	/* Server 2 stops reading: only 1 is polled from now on. */
	int r = 0, it;
	for (it = 0; it < 100000 && r == 0; it++) {
		r = peer_send(e[0].p, 2, 1, chunk, sizeof(chunk));
		if (r == 0 && it % 4 == 0)
			pump(eps, 1, 0);
	}
	cr_assert_eq(r, -ENOBUFS, "never filled: %d after %d sends", r, it);
	struct peer_stats st;
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert_eq(st.drops_full, 1);
	cr_assert_leq(st.queued_bytes, 1u << 20);
	cr_assert(peer_has_pending(e[0].p));
	/* Frames count too. */
	while (st.queued_frames < 64 && peer_send(e[0].p, 2, 1, "", 0) == 0)
		cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert_eq(peer_send(e[0].p, 2, 1, "", 0), -ENOBUFS);
	/* No progress for the stall timeout: the link is cut, once.  The
	 * kernel may still move a few bytes from 1's send buffer into 2's
	 * receive window for a while (progress, which restarts the clock), so
	 * the cut comes at least 3000 ms after the queue filled. */
	uint64_t t_full = now;
	for (int i = 0; i < 400 && e[0].lost[2] == 0; i++)
		pump(eps, 1, 100);
	cr_assert_eq(e[0].lost[2], 1);
	cr_assert_geq(now - t_full, 3000);
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert_eq(st.stalls, 1);
	cr_assert_eq(st.queued_frames, 0);
	cr_assert(strstr(st.last_error, "read nothing"), "%s", st.last_error);
	cr_assert_eq(peer_send(e[0].p, 2, 1, "x", 1), -ENOTCONN);
	/* Server 2 reads again: everything delivered was whole, then 1 redials. */
	WAIT(eps, 2, e[0].connected[2] == 2);
	for (size_t k = 0; k < e[1].nrx; k++)
		cr_assert(e[1].rx[k].len == sizeof(chunk) || e[1].rx[k].len == 0);
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer, peer_down_then_up_backs_off_and_reconnects_once)
{
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};
	struct peer_config c2 = base_cfg(2, 2);

	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		ep_start(&e[i], &c);
	}
	WAIT(eps, 2, all_connected(eps, 2));
	ep_stop(&e[1]);
	WAIT(eps, 2, e[0].lost[2] == 1);
	/* Down for 3 s of fake time: redials spaced by the back-off. */
	struct peer_stats st;
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	uint64_t f0 = st.dial_failures, t0 = now;
	uint64_t gap_max = 0, last = now;
	while (now - t0 < 3000) {
		uint64_t before = st.dial_failures;
		pump(eps, 2, 1);
		cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
		if (st.dial_failures != before) {
			if (now - last > gap_max)
				gap_max = now - last;
			last = now;
		}
		cr_assert_eq(st.out_state == PEER_LINK_UP, false);
	}
	uint64_t fails = st.dial_failures - f0;
	/* 20 ms doubling to a 200 ms cap, each wait in [b/2, b]: about
	 * 3000 / 150 tries, far fewer than one per ms; no gap above the cap
	 * (plus slack for the refusal to come back on a loaded machine: each
	 * pump is 1 fake ms per real poll of up to 1 ms). */
	cr_assert_geq(fails, 10, "%lu", (unsigned long)fails);
	cr_assert_leq(fails, 3000 / 10 / 2, "%lu", (unsigned long)fails);
	cr_assert_leq(gap_max, 200 + 100, "%lu", (unsigned long)gap_max);
	cr_assert_eq(e[0].lost[2], 1);
	cr_assert_eq(e[0].connected[2], 1);
	cr_assert_eq(peer_send(e[0].p, 2, 1, "x", 1), -ENOTCONN);
	ep_start(&e[1], &c2);
	WAIT(eps, 2, e[0].connected[2] == 2 && e[1].connected[1] == 1);
	cr_assert_eq(e[0].lost[2], 1);
	cr_assert_eq(peer_send(e[0].p, 2, 4, "back", 4), 0);
	WAIT(eps, 2, e[1].nrx == 1);
	cr_assert_eq(peer_stats(e[0].p, 2, &st), 0);
	cr_assert_eq(st.connects, 2);
	cr_assert_eq(st.losses, 1);
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer, out_of_descriptors_is_retried_not_fatal)
{
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};
	struct rlimit old, low;

	for (int i = 0; i < 2; i++) {
		struct peer_config c = base_cfg((uint32_t)i + 1, 2);
		ep_start(&e[i], &c);
	}
	/* Room for one more descriptor: one dial gets its socket, the other
	 * dial and the accept of the first hit EMFILE. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)count_fds() + 1;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (int i = 0; i < 60; i++)
		pump(eps, 2, 1);
	struct peer_global_stats g0, g1;
	peer_global_stats(e[0].p, &g0);
	peer_global_stats(e[1].p, &g1);
	cr_assert_gt(g0.emfile + g1.emfile, 0);
	struct peer_stats s0, s1;
	cr_assert_eq(peer_stats(e[0].p, 2, &s0), 0);
	cr_assert_eq(peer_stats(e[1].p, 1, &s1), 0);
	cr_assert(
	    strstr(s0.last_error, "RLIMIT_NOFILE") || strstr(s1.last_error, "RLIMIT_NOFILE") ||
		strstr(g0.last_error, "RLIMIT_NOFILE") || strstr(g1.last_error, "RLIMIT_NOFILE"),
	    "the exhaustion is not named: %s / %s", s0.last_error, s1.last_error);
	cr_assert(!all_connected(eps, 2));
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	WAIT(eps, 2, all_connected(eps, 2));
	cr_assert_eq(peer_send(e[0].p, 2, 1, "ok", 2), 0);
	WAIT(eps, 2, e[1].nrx == 1);
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	finish();
}

Test(peer_config, bad_configurations_are_refused)
{
	struct peer_member m[2] = {{1, "127.0.0.1", 1, 0, false}, {1, "127.0.0.1", 2, 0, false}};
	struct peer_config c = {.self_id = 1, .ensemble = 1, .members = m, .n_members = 2};
	struct peer *p = NULL;

	cr_assert_eq(peer_new(&c, NULL, &p), -EINVAL); /* duplicate id */
	m[1].id = 2;
	c.self_id = 3;
	cr_assert_eq(peer_new(&c, NULL, &p), -EINVAL); /* self not listed */
	c.self_id = 1;
	c.ensemble = 0;
	cr_assert_eq(peer_new(&c, NULL, &p), -EINVAL);
	c.ensemble = 1;
	c.max_frame = PEER_FRAME_LIMIT + 1;
	cr_assert_eq(peer_new(&c, NULL, &p), -EINVAL);
	c.max_frame = 1000;
	c.queue_max_bytes = 999;
	cr_assert_eq(peer_new(&c, NULL, &p), -EINVAL);
	cr_assert_null(p);
}

Test(peer_config, from_zoo_cfg)
{
	static const char text[] = "dataDir=/var/lib/zookeeper\nclientPort=2181\n"
				   "initLimit=10\nsyncLimit=5\nquorumListenOnAllIPs=true\n"
				   "server.3=zk3:2890:3890:observer\n"
				   "server.1=0.0.0.0:2888:3888\n"
				   "server.2=10.0.0.2:2889:3889;2181\n";
	struct cfg c;
	struct cfg_error err;
	struct peer_member m[PEER_MAX_MEMBERS];
	struct peer_config pc;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_string(&c, "zoo.cfg", text, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_finalize(&c, &err), 0, "%s", err.msg);
	cr_assert_eq(peer_config_from_cfg(&c, 1, m, &pc), 0);
	cr_assert_eq(pc.n_members, 3);
	cr_assert_eq(pc.self_id, 1);
	cr_assert(pc.listen_all);
	cr_assert_eq(pc.members, m);
	/* Sorted by id by cfg_finalize(); server 3 is an observer. */
	cr_assert(m[0].id == 1 && m[0].quorum_port == 2888 && m[0].election_port == 3888 &&
		  !m[0].observer);
	cr_assert(m[1].id == 2 && m[1].quorum_port == 2889 && !strcmp(m[1].host, "10.0.0.2"));
	cr_assert(m[2].id == 3 && m[2].observer);
	/* Every server derives the same identity, whatever it calls itself. */
	struct peer_member other[3] = {{1, "10.0.0.1", 2888, 3888, false},
				       {2, "0.0.0.0", 2889, 3889, false},
				       {3, "zk3", 2890, 3890, true}};
	cr_assert_eq(pc.ensemble, peer_ensemble_id(other, 3, NULL));
	cr_assert_eq(peer_config_from_cfg(&c, 4, m, &pc), -EINVAL);
	cfg_free(&c);
}

/* ------------------------------------------------------------ quorum SASL */

/*
 * Quorum SASL (peer.h, QUORUM SASL): the credentials are process-wide
 * (peer_sasl_init from a JAAS file), the learner/server "require" flags
 * per endpoint (struct peer_sasl), so one process holds the mixed
 * ensembles of ZooKeeper's table.
 */
TestSuite(peer_sasl, .init = setup, .fini = teardown, .timeout = 120);

static char jaas_path[64];

static void sasl_setup(const char *learner_password)
{
	struct cfg c;
	char err[512] = "";
	FILE *f;
	int fd;

	strcpy(jaas_path, "/tmp/test_peer_jaas.XXXXXX");
	fd = mkstemp(jaas_path);
	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	cr_assert(f);
	fprintf(f,
		"QuorumServer {\n"
		"  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
		"  user_quorum=\"s3cret\";\n};\n"
		"QuorumLearner {\n"
		"  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
		"  username=\"quorum\" password=\"%s\";\n};\n",
		learner_password);
	fclose(f);
	cr_assert_eq(cfg_defaults(&c), 0);
	c.quorum_sasl = c.quorum_learner_require = c.quorum_server_require = true;
	c.jaas_config = strdup(jaas_path);
	c.n_servers = 1; /* only tested for non-zero */
	cr_assert_eq(peer_sasl_init(&c, err, sizeof(err)), 0, "%s", err);
	c.n_servers = 0;
	cfg_free(&c);
	unlink(jaas_path);
	cr_assert(peer_sasl_get());
}

/*
 * Cyrus's sasl_server_done/sasl_client_done leave a fixed few hundred
 * bytes of its plug-ins' behind (measured with a bare init/done program:
 * 440 bytes, whatever the connections did), so the leak check runs while
 * Cyrus is still up (its state is reachable) and peer_sasl_fini() after.
 */
static void finish_sasl(void)
{
	finish();
	peer_sasl_fini();
}

static const struct peer_sasl *flags(bool learner, bool server)
{
	static struct peer_sasl s[2][2];

	s[learner][server] = (struct peer_sasl){learner, server, "QuorumLearner", "QuorumServer"};
	return &s[learner][server];
}

Test(peer_sasl, authenticated_links_form_and_carry_frames)
{
	struct ep e[3] = {0};
	struct ep *eps[3] = {&e[0], &e[1], &e[2]};
	struct peer_stats st;

	sasl_setup("s3cret");
	for (uint32_t i = 0; i < 3; i++) {
		struct peer_config c = base_cfg(i + 1, 3);
		c.sasl = flags(true, true);
		ep_start(&e[i], &c);
	}
	WAIT(eps, 3, all_connected(eps, 3));
	cr_assert_eq(peer_send(e[0].p, 2, 7, "abc", 3), 0);
	cr_assert_eq(peer_send(e[2].p, 1, 7, "xyz", 3), 0);
	WAIT(eps, 3, e[1].nrx == 1 && e[0].nrx == 1);
	cr_assert_eq(peer_stats(e[1].p, 1, &st), 0);
	cr_assert(st.in_up && st.refused == 0);
	for (int i = 0; i < 3; i++)
		ep_stop(&e[i]);
	finish_sasl();
}

Test(peer_sasl, a_wrong_password_never_joins_and_says_why)
{
	struct ep e[2] = {0};
	struct ep *eps[2] = {&e[0], &e[1]};
	struct peer_stats st1, st2;

	sasl_setup("wrong");
	for (uint32_t i = 0; i < 2; i++) {
		struct peer_config c = base_cfg(i + 1, 2);
		c.sasl = flags(true, true);
		ep_start(&e[i], &c);
	}
	for (int it = 0; it < 300; it++)
		pump(eps, 2, 1);
	cr_assert_eq(e[0].connected[2] + e[1].connected[1], 0, "a link came up");
	cr_assert_eq(peer_stats(e[0].p, 2, &st1), 0);
	cr_assert_eq(peer_stats(e[1].p, 1, &st2), 0);
	cr_assert(!st1.in_up && !st2.in_up);
	cr_assert(st1.refused > 0 && st1.dial_failures > 0);
	/* Either side's last line names the section that failed. */
	cr_assert(strstr(st1.last_error, "QuorumServer") || strstr(st1.last_error, "QuorumLearner"),
		  "%s", st1.last_error);
	cr_assert(strstr(st1.last_error, "quorum SASL"), "%s", st1.last_error);
	for (int i = 0; i < 2; i++)
		ep_stop(&e[i]);
	finish_sasl();
}

/*
 * ZooKeeper's table (SaslQuorumAuthLearner/Server): the dialer
 * authenticates iff learnerRequireSasl; the acceptor refuses a dialer that
 * does not iff serverRequireSasl, and one that does when SASL is off.  A
 * pair is linked both ways or not at all (peer.c: in/out_auth_bad).
 * 1: enableSasl only; 2: SASL off; 3: learnerRequireSasl + serverRequireSasl.
 */
Test(peer_sasl, mixed_configurations_follow_zookeepers_table)
{
	struct ep e[3] = {0};
	struct ep *eps[3] = {&e[0], &e[1], &e[2]};
	const struct peer_sasl *s[3] = {flags(false, false), NULL, flags(true, true)};
	struct peer_stats st;
	int logfd = memfd_create("peerlog", MFD_CLOEXEC);
	int saved = dup(STDERR_FILENO);

	cr_assert(logfd >= 0 && saved >= 0);
	sasl_setup("s3cret");
	cr_assert_eq(dup2(logfd, STDERR_FILENO), STDERR_FILENO);
	for (uint32_t i = 0; i < 3; i++) {
		struct peer_config c = base_cfg(i + 1, 3);
		c.sasl = s[i];
		ep_start(&e[i], &c);
	}
	/* Up: 1->2, 2->1 (nobody offers, nobody requires). */
	WAIT(eps, 3, e[0].connected[2] == 1 && e[1].connected[1] == 1);
	for (int it = 0; it < 300; it++)
		pump(eps, 3, 1);
	/*
	 * Never: 1->3 and 2->3 (3 requires SASL), 3->2 (2 has it off), and so
	 * 3->1 either, although 1 accepts 3's credentials (the pair rule).
	 */
	cr_assert_eq(e[0].connected[3], 0);
	cr_assert_eq(e[1].connected[3], 0);
	cr_assert_eq(e[2].connected[2], 0);
	cr_assert_eq(e[2].connected[1], 0);
	cr_assert_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	cr_assert_eq(peer_stats(e[2].p, 2, &st), 0);
	cr_assert(st.refused > 0 && !st.in_up);
	cr_assert_eq(peer_stats(e[1].p, 3, &st), 0);
	cr_assert(st.refused > 0 && !st.in_up);
	/* Each refusal logged once in the interval, by the refusing side, with the key. */
	cr_assert_eq(count_lines(logfd, "peer 3: server"), 2);
	cr_assert_eq(count_lines(logfd, "quorum.auth.serverRequireSasl is true here"), 2);
	cr_assert_eq(count_lines(logfd, "peer 2: server 3"), 1);
	cr_assert_eq(count_lines(logfd, "quorum.auth.enableSasl is false here"), 1);
	close(logfd);
	for (int i = 0; i < 3; i++)
		ep_stop(&e[i]);
	finish_sasl();
}

Test(peer_codec, auth_messages_round_trip_and_damage)
{
	uint8_t b[PEER_AUTH_HDR + 3];
	enum peer_auth_status st;
	const uint8_t *tok;
	uint32_t len;

	peer_auth_header(PEER_AUTH_IN_PROGRESS, 3, b);
	memcpy(b + PEER_AUTH_HDR, "abc", 3);
	cr_assert_eq(b[3], 1);
	cr_assert_eq(b[7], 3);
	for (size_t n = 0; n < sizeof(b); n++)
		cr_assert_eq(peer_auth_parse(b, n, &st, &tok, &len), 0);
	cr_assert_eq(peer_auth_parse(b, sizeof(b), &st, &tok, &len), (int)sizeof(b));
	cr_assert(st == PEER_AUTH_IN_PROGRESS && len == 3 && !memcmp(tok, "abc", 3));
	b[3] = 4; /* unknown status */
	cr_assert_eq(peer_auth_parse(b, sizeof(b), &st, &tok, &len), -EBADMSG);
	peer_auth_header(PEER_AUTH_TOKEN, PEER_AUTH_TOKEN_MAX + 1, b);
	cr_assert_eq(peer_auth_parse(b, PEER_AUTH_HDR, &st, &tok, &len), -EBADMSG);
}

/*
 * Quorum TLS (peer.h, QUORUM TLS): certificates made with the openssl
 * command line in a temporary directory: ca signs m.pem (the members'),
 * other signs rogue.pem (a server of another CA).  Both with SAN
 * IP:127.0.0.1, so hostname verification passes for the members.
 */
TestSuite(peer_tls, .init = setup, .fini = teardown, .timeout = 120);

static char tls_dir[64];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void tls_certs(void)
{
	strcpy(tls_dir, "/tmp/test_peer_tls.XXXXXX");
	cr_assert(mkdtemp(tls_dir));
	for (int i = 0; i < 2; i++) {
		const char *ca = i ? "other" : "ca", *leaf = i ? "rogue" : "m";

		sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		   "-nodes -keyout %s.key -out %s.pem -days 30 -subj /CN=%s "
		   "-addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1",
		   tls_dir, ca, ca, ca);
		sh("cd %s && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		   "-nodes -keyout %s.key -out %s.csr -subj /CN=localhost >/dev/null 2>&1 && "
		   "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > %s.ext && "
		   "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
		   "-out %s.crt -days 30 -extfile %s.ext >/dev/null 2>&1 && "
		   "cat %s.key %s.crt > %s.pem",
		   tls_dir, leaf, leaf, leaf, leaf, ca, ca, leaf, leaf, leaf, leaf, leaf);
	}
}

static void tls_cleanup(void)
{
	sh("rm -rf %s", tls_dir);
}

/* The ssl.quorum.* settings of a member with key store leaf.pem, trusting ca.pem. */
static void tls_cfg(struct cfg_tls *t, char *ks, char *ts, const char *leaf)
{
	memset(t, 0, sizeof(*t));
	snprintf(ks, 128, "%s/%s.pem", tls_dir, leaf);
	snprintf(ts, 128, "%s/ca.pem", tls_dir);
	t->keystore = ks;
	t->truststore = ts;
	t->keystore_type = t->truststore_type = CFG_STORE_PEM;
	t->client_auth = CFG_CLIENT_AUTH_NEED;
	t->hostname_verification = true;
}

Test(peer_tls, three_members_form_with_sasl_inside_and_carry_frames)
{
	struct ep e[3] = {0};
	struct ep *eps[3] = {&e[0], &e[1], &e[2]};
	struct cfg_tls t;
	char ks[128], ts[128];
	static uint8_t big[300000];
	struct peer_stats st;

	signal(SIGPIPE, SIG_IGN); /* OpenSSL writes with write(2), as cheetah.c sets it */
	tls_certs();
	tls_cfg(&t, ks, ts, "m");
	sasl_setup("s3cret");
	for (uint32_t i = 0; i < 3; i++) {
		struct peer_config c = base_cfg(i + 1, 3);
		c.tls = &t;
		c.sasl = flags(true, true);
		ep_start(&e[i], &c);
	}
	WAIT(eps, 3, all_connected(eps, 3));
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	cr_assert_eq(peer_send(e[0].p, 2, 7, "abc", 3), 0);
	cr_assert_eq(peer_send(e[2].p, 1, 7, big, sizeof(big)), 0);
	WAIT(eps, 3, e[1].nrx == 1 && e[0].nrx == 1);
	cr_assert_eq(e[0].rx[0].len, (uint32_t)sizeof(big));
	cr_assert_eq(e[1].rx[0].len, 3u);
	cr_assert_eq(peer_stats(e[1].p, 1, &st), 0);
	cr_assert(st.in_up && st.refused == 0);
	for (int i = 0; i < 3; i++)
		ep_stop(&e[i]);
	tls_cleanup();
	finish_sasl();
}

Test(peer_tls, a_member_of_another_ca_never_joins_and_the_log_says_why)
{
	struct ep e[3] = {0};
	struct ep *eps[3] = {&e[0], &e[1], &e[2]};
	struct cfg_tls t, rogue;
	char ks[128], ts[128], rks[128], rts[128];
	struct peer_stats st;
	struct peer_global_stats gs;

	signal(SIGPIPE, SIG_IGN); /* OpenSSL writes with write(2), as cheetah.c sets it */
	tls_certs();
	tls_cfg(&t, ks, ts, "m");
	tls_cfg(&rogue, rks, rts, "rogue");
	for (uint32_t i = 0; i < 3; i++) {
		struct peer_config c = base_cfg(i + 1, 3);
		c.tls = i == 2 ? &rogue : &t;
		ep_start(&e[i], &c);
	}
	WAIT(eps, 3, e[0].connected[2] == 1 && e[1].connected[1] == 1);
	for (int it = 0; it < 300; it++)
		pump(eps, 3, 1);
	cr_assert_eq(e[0].connected[3] + e[1].connected[3] + e[2].connected[1] + e[2].connected[2],
		     0, "the rogue member linked");
	cr_assert_eq(peer_stats(e[0].p, 3, &st), 0);
	cr_assert(!st.in_up && st.dial_failures > 0);
	cr_assert(strstr(st.last_error, "TLS handshake failed"), "%s", st.last_error);
	peer_global_stats(e[0].p, &gs);
	cr_assert(strstr(gs.last_error, "TLS handshake failed") &&
		      strstr(gs.last_error, "certificate"),
		  "%s", gs.last_error);
	/* The members still talk. */
	cr_assert_eq(peer_send(e[0].p, 2, 9, "ok", 2), 0);
	WAIT(eps, 3, e[1].nrx == 1);
	/* A plain (non-TLS) hello of a real member on a TLS port: refused, closed. */
	int fd = raw_connect(members[0].quorum_port);
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	char from[64];

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
	snprintf(from, sizeof(from), "connection from 127.0.0.1:%u: TLS handshake failed",
		 ntohs(me.sin_port));
	send_hello(fd, ENSEMBLE, 2, 1);
	wait_closed(eps, 3, fd);
	close(fd);
	peer_global_stats(e[0].p, &gs);
	cr_assert(strstr(gs.last_error, from), "%s", gs.last_error);
	cr_assert_eq(e[0].connected[2], 1, "the plain hello disturbed the TLS link");
	for (int i = 0; i < 3; i++)
		ep_stop(&e[i]);
	tls_cleanup();
	finish();
}

/* ---- Kerberos quorum SASL: ZooKeeper's principal rules (pure) ---- */

Test(peer_sasl_krb, host_substitution_as_getServerPrincipal)
{
	char svc[64], host[64];

	/* "service/_HOST" takes the dialled host, lower-cased */
	cr_assert_eq(
	    peer_sasl_target("zkquorum/_HOST", "ZK1.Example", svc, sizeof(svc), host, sizeof(host)),
	    0);
	cr_assert_str_eq(svc, "zkquorum");
	cr_assert_str_eq(host, "zk1.example");
	/* with a realm, "_HOST@R" is not "_HOST": no substitution (as ZooKeeper) */
	cr_assert_eq(
	    peer_sasl_target("zkquorum/_HOST@R", "zk1", svc, sizeof(svc), host, sizeof(host)), 0);
	cr_assert_str_eq(host, "_HOST");
	cr_assert_eq(
	    peer_sasl_target("zkquorum/localhost", "zk1", svc, sizeof(svc), host, sizeof(host)), 0);
	cr_assert_str_eq(svc, "zkquorum");
	cr_assert_str_eq(host, "localhost");
	cr_assert_eq(peer_sasl_target("zkquorum/h@R", "x", svc, sizeof(svc), host, sizeof(host)),
		     0);
	cr_assert_str_eq(host, "h");
	/* malformed: no service, no host, two slashes, too long */
	cr_assert_eq(peer_sasl_target("zkquorum", "x", svc, sizeof(svc), host, sizeof(host)),
		     -EINVAL);
	cr_assert_eq(peer_sasl_target("/h", "x", svc, sizeof(svc), host, sizeof(host)), -EINVAL);
	cr_assert_eq(peer_sasl_target("s/@R", "x", svc, sizeof(svc), host, sizeof(host)), -EINVAL);
	cr_assert_eq(peer_sasl_target("s/a/b", "x", svc, sizeof(svc), host, sizeof(host)), -EINVAL);
	cr_assert_eq(peer_sasl_target("s/_HOST", "", svc, sizeof(svc), host, sizeof(host)),
		     -EINVAL);
	cr_assert_eq(peer_sasl_target("s/hostname", "x", svc, sizeof(svc), host, 4), -EINVAL);
}

Test(peer_sasl_krb, authorized_hosts_as_SaslQuorumServerCallbackHandler)
{
	const char *hosts[] = {"zk1", "zk2", "localhost"};

	cr_assert(peer_sasl_host_authorized("zkquorum/zk2@R", hosts, 3));
	cr_assert(peer_sasl_host_authorized("zkquorum/localhost@R", hosts, 3));
	/* Cyrus drops the default realm */
	cr_assert(peer_sasl_host_authorized("zkquorum/zk1", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("zkquorum/zk3@R", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("zkquorum/ZK1@R", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("zk1@R", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("a/zk1/b@R", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("a/zk1@R@S", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("a/zk1@", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("/zk1@R", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("a/@R", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("a/zk@R", hosts, 3));
	cr_assert_not(peer_sasl_host_authorized("zkquorum/zk1@R", hosts, 0));
}
