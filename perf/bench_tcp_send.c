/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_tcp_send: what one small send on its own kernel TCP connection
 * costs, the floor of a watch fan-out on the sock backend (one send per
 * watcher; docs/BENCHMARKS.md, "Watch fan-out on kernel sockets").
 *
 * It opens N loopback connections (default 5000), then, per round,
 * writes one 100-byte message (a watch event's size) to each server-side
 * socket with send(2) and then with sendmsg(2), and reads them back in
 * between.  Printed per call: the thread's CPU time and the wall time.
 * Nobody waits on the receiving sockets, so no wakeup is counted; over
 * loopback the receiver's TCP input runs inside the sender's call
 * (softirq), as it does in the storm.  Reads nothing of Cheetah.
 *
 *   build/perf/bench_tcp_send [N [ROUNDS]]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double clock_s(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void round_of(const char *how, const int *srv, const int *cli, int n, int use_sendmsg)
{
	char buf[100];
	double w0, c0;

	memset(buf, 'e', sizeof(buf));
	w0 = clock_s(CLOCK_MONOTONIC);
	c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	for (int i = 0; i < n; i++) {
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t r = use_sendmsg ? sendmsg(srv[i], &m, MSG_NOSIGNAL | MSG_DONTWAIT)
					: send(srv[i], buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r != (ssize_t)sizeof(buf)) {
			perror("send");
			exit(1);
		}
	}
	printf("%-8s x %d: %.2f us of CPU, %.2f us of wall per call\n", how, n,
	       (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e6 / n,
	       (clock_s(CLOCK_MONOTONIC) - w0) * 1e6 / n);
	for (int i = 0; i < n; i++)
		if (recv(cli[i], buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
			perror("recv");
			exit(1);
		}
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000, rounds = argc > 2 ? atoi(argv[2]) : 3;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
	int *srv = calloc((size_t)n, sizeof(int)), *cli = calloc((size_t)n, sizeof(int));

	if (n <= 0 || rounds <= 0 || !srv || !cli || l < 0 || bind(l, (void *)&a, sizeof(a)) ||
	    getsockname(l, (void *)&a, &alen) || listen(l, 4096)) {
		fprintf(stderr, "usage: bench_tcp_send [N [ROUNDS]] (or: cannot listen)\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		cli[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (cli[i] < 0 || connect(cli[i], (void *)&a, sizeof(a))) {
			perror("connect (open-file limit? ulimit -n)");
			return 1;
		}
		srv[i] = accept(l, NULL, NULL);
		if (srv[i] < 0) {
			perror("accept");
			return 1;
		}
		setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	for (int r = 0; r < rounds; r++) {
		round_of("send", srv, cli, n, 0);
		round_of("sendmsg", srv, cli, n, 1);
	}
	return 0;
}
