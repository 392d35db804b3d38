/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cheetah-bench's blocking session (bench_call.h): one request at a time,
 * for the set-up and the watch storm's trigger, never for measured load.
 */
#include "perf/bench_call.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/zkproto/proto.h"

#define MAX_FRAME (16 * 1024 * 1024)


static int io_wait(int fd, short what, int ms)
{
	struct pollfd p = {.fd = fd, .events = what};
	int rc = poll(&p, 1, ms);

	return rc == 1 ? 0 : -ETIMEDOUT;
}

/* Sends out's frame and reads one frame back (notifications skipped). */
static int roundtrip(struct bench_call *c, uint32_t *len)
{
	size_t off = 0;

	while (off < c->out.len) {
		ssize_t n = send(c->fd, c->out.buf + off, c->out.len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return -EIO;
		off += (size_t)n;
	}
	c->out.len = 0;
	for (;;) {
		size_t have = 0;
		uint32_t want = 0;
		for (;;) {
			if (have >= PROTO_LEN_SIZE) {
				if (proto_frame_len(c->buf, have, MAX_FRAME, &want) != 0)
					return -EBADMSG;
				if (have >= PROTO_LEN_SIZE + (size_t)want)
					break;
			}
			size_t need = have >= PROTO_LEN_SIZE ? PROTO_LEN_SIZE + want : PROTO_LEN_SIZE;
			if (need > c->cap) {
				uint8_t *b = realloc(c->buf, need);
				if (!b)
					return -ENOMEM;
				c->buf = b;
				c->cap = need;
			}
			if (io_wait(c->fd, POLLIN, 30000))
				return -ETIMEDOUT;
			ssize_t n = recv(c->fd, c->buf + have, need - have, 0);
			if (n <= 0)
				return -EIO;
			have += (size_t)n;
		}
		*len = want;
		if (want >= 4 && (int32_t)jute_be32(c->buf + PROTO_LEN_SIZE) == -1)
			continue; /* a notification */
		return 0;
	}
}

int bench_call_open(struct bench_call *c, const struct sockaddr *addr, socklen_t addrlen,
		    int timeout_ms)
{
	struct proto_connect_req req = {
		.timeout = timeout_ms,
		.passwd = {.p = (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", .len = 16},
		.has_read_only = true,
	};
	struct proto_connect_resp resp;
	uint32_t len;
	int one = 1;

	memset(c, 0, sizeof(*c));
	jute_out_init(&c->out, 256);
	c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, addr, addrlen) != 0)
		return -errno;
	proto_encode_connect_req(&c->out, &req);
	int rc = roundtrip(c, &len);
	if (rc)
		return rc;
	if (proto_decode_connect_resp(c->buf + PROTO_LEN_SIZE, len, &resp) != 0 ||
	    resp.timeout <= 0)
		return -ECONNREFUSED;
	return 0;
}

/* One request; returns the ZooKeeper error code or a negative errno. */
int bench_call_do(struct bench_call *c, struct proto_request *req)
{
	uint32_t len;

	req->hdr.xid = ++c->xid;
	if (proto_encode_request(&c->out, req) != 0)
		return -EINVAL;
	int rc = roundtrip(c, &len);
	if (rc)
		return rc;
	if (len < PROTO_REPLY_HDR_SIZE)
		return -EBADMSG;
	return (int32_t)jute_be32(c->buf + PROTO_LEN_SIZE + 12);
}

void bench_call_close(struct bench_call *c)
{
	struct proto_request req = {.hdr.type = ZK_OP_CLOSESESSION};

	if (c->fd >= 0) {
		bench_call_do(c, &req);
		close(c->fd);
	}
	jute_out_free(&c->out);
	free(c->buf);
}

int bench_call_create(struct bench_call *c, const char *path)
{
	struct proto_request req = {.hdr.type = ZK_OP_CREATE};

	req.create.path = (struct jute_buf){.p = (const uint8_t *)path, .len = (int32_t)strlen(path)};
	req.create.data = (struct jute_buf){.p = NULL, .len = -1};
	req.create.acl = proto_acl_open_unsafe;
	int rc = bench_call_do(c, &req);
	return rc == ZK_NODEEXISTS ? 0 : rc;
}
