/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A blocking ZooKeeper session for cheetah-bench's main thread: connect,
 * send one request, wait for its reply (watch notifications are skipped),
 * close with closeSession.  Used to create the benchmark's root and to
 * fire the watch storm, never for the measured load.  Every wait is
 * bounded (30 s); one struct bench_call per thread.
 */
#ifndef CHEETAH_PERF_BENCH_CALL_H
#define CHEETAH_PERF_BENCH_CALL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/jute.h"
#include "dataplane/zkproto/proto.h"

struct bench_call {
	int fd;
	int32_t xid;
	struct jute_out out;
	uint8_t *buf;
	size_t cap;
};

/*
 * Connects and opens a session asking for timeout_ms.  Returns 0, a
 * negative errno, or -ECONNREFUSED when the server refuses the session.
 * Call bench_call_close afterwards in every case.
 */
int bench_call_open(struct bench_call *c, const struct sockaddr *addr, socklen_t addrlen,
		    int timeout_ms);
/* Sends req (its xid is set here); returns the reply's ZooKeeper error code or -errno. */
int bench_call_do(struct bench_call *c, struct proto_request *req);
/* create path with no data and the open ACL; NODEEXISTS counts as success. */
int bench_call_create(struct bench_call *c, const char *path);
/* closeSession (when connected), then frees everything. */
void bench_call_close(struct bench_call *c);

#endif
