/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "sock" backend: kernel TCP through non-blocking sockets and epoll,
 * one instance per worker thread (no state is shared between instances).
 *
 * Each worker has its own listening socket on clientPortAddress:clientPort
 * with SO_REUSEPORT, so the kernel spreads incoming connections over the
 * workers and no accept lock exists (nginx's "reuseport", Seastar's posix
 * stack).  SO_REUSEPORT would also let a second Cheetah started by mistake
 * join the group and silently take half of the connections, so the first
 * worker probes the port first with a plain socket (SO_REUSEADDR only,
 * which does not share a port that is listened on): if that bind fails
 * the port is in use and start-up stops with EADDRINUSE, as ZooKeeper's
 * would.
 *
 * epoll is level-triggered: a connection that still has bytes after its
 * read budget is reported again by the next poll, which keeps one busy
 * client from starving the others.  Writes go out with send (a
 * connection's queued frames are one buffer; sendmsg for a gathered
 * list), MSG_NOSIGNAL so a reset peer is an error, not a signal.
 *
 * Out of descriptors at accept (EMFILE, ENFILE; the dataplane's own cap
 * normally refuses connections before that, conn.c "Limits"): the
 * pending connection would stay in the backlog and keep the listener
 * readable, so a level-triggered loop would spin on it (and log every
 * 10 ms, as it did).  Instead, as nginx and Redis do, each instance keeps
 * one spare descriptor (/dev/null) open: on EMFILE it closes the spare,
 * accepts and closes the pending connections (the clients see the
 * connection closed at once and can try another server), and reopens the
 * spare; then it takes the listener out of the wait set for a back-off
 * that doubles from ACCEPT_PAUSE_MIN_NS to ACCEPT_PAUSE_MAX_NS while the
 * condition lasts and resets after a successful accept.  ENOBUFS and
 * ENOMEM only back off.  The count of connections shed goes back to the
 * worker, which logs it (rate-limited, worker.c).
 *
 * A second listener serves secureClientPort (TLS, io/tls.c) the same way,
 * with its own cookie, back-off and probe; the handles it gives are
 * sockets like the others, which OpenSSL drives itself (DP_IO_CAP_TLS).
 *
 * Thread: every function runs on the worker that owns the instance.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "dataplane/io/io_priv.h"

#define ACCEPT_PAUSE_MIN_NS (10ull * 1000 * 1000)
#define ACCEPT_PAUSE_MAX_NS (1000ull * 1000 * 1000)
/* Pending connections shed per EMFILE, at most. */
#define ACCEPT_SHED_MAX 1024

/* A listener: the client port, or the secure client port (TLS). */
struct sock_listener {
	int fd;
	uint64_t cookie;           /* DP_IO_COOKIE_LISTEN or DP_IO_COOKIE_LISTEN_SECURE */
	uint64_t accept_resume_ns; /* 0: listener in the wait set */
	uint64_t accept_pause_ns;  /* the current back-off; 0 after a good accept */
};

struct dp_io {
	uint32_t worker;
	int epfd;
	struct sock_listener l[2]; /* [0] clientPort, [1] secureClientPort */
	int spare;                 /* kept open for the EMFILE trick; -1 when lost */
	struct epoll_event evs[256];
};

static void addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		snprintf(buf, len, "?");
	}
}

static int sock_init(struct dp_io **out, uint32_t worker)
{
	struct dp_io *io = calloc(1, sizeof(*io));

	if (!io)
		return -ENOMEM;
	io->worker = worker;
	io->l[0] = (struct sock_listener){ .fd = -1, .cookie = DP_IO_COOKIE_LISTEN };
	io->l[1] = (struct sock_listener){ .fd = -1, .cookie = DP_IO_COOKIE_LISTEN_SECURE };
	io->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (io->epfd < 0) {
		int err = -errno;

		log_error("dataplane worker %u: epoll_create1: %s", worker, strerror(errno));
		if (io->spare >= 0)
			close(io->spare);
		free(io);
		return err;
	}
	*out = io;
	return 0;
}

static void sock_fini(struct dp_io *io)
{
	if (!io)
		return;
	for (int i = 0; i < 2; i++)
		if (io->l[i].fd >= 0)
			close(io->l[i].fd);
	if (io->spare >= 0)
		close(io->spare);
	close(io->epfd);
	free(io);
}

static int set_opt(int fd, int level, int name, int on)
{
	return setsockopt(fd, level, name, &on, sizeof(on));
}

/* True when a plain socket can bind the address: nothing serves it. */
static int probe_port(const struct sockaddr *addr, socklen_t len)
{
	char where[INET6_ADDRSTRLEN + 8];
	int fd, err = 0;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (bind(fd, addr, len) < 0) {
		err = -errno;
		addr_str(addr, where, sizeof(where));
		if (err == -EADDRINUSE)
			log_error("cannot serve on %s: the address is already in use", where);
		else
			log_error("cannot serve on %s: bind: %s", where, strerror(-err));
	}
	close(fd);
	return err;
}

static int listen_on(struct dp_io *io, struct sock_listener *l, const struct sockaddr *addr,
		     socklen_t len, int backlog, bool first, uint16_t *port)
{
	char where[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	struct epoll_event ev = { .events = EPOLLIN };
	int fd, err;

	addr_str(addr, where, sizeof(where));
	if (first && ((const struct sockaddr_in *)addr)->sin_port != 0) {
		/* sin_port and sin6_port sit at the same offset. */
		err = probe_port(addr, len);
		if (err)
			return err;
	}
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		log_error("cannot serve on %s: socket: %s", where, strerror(errno));
		return err;
	}
	if (set_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 ||
	    set_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0) {
		err = -errno;
		log_error("cannot serve on %s: setsockopt: %s", where, strerror(errno));
		goto fail;
	}
	if (bind(fd, addr, len) < 0) {
		err = -errno;
		if (err == -EADDRINUSE)
			log_error("cannot serve on %s: the address is already in use", where);
		else
			log_error("cannot serve on %s: bind: %s", where, strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		err = -errno;
		log_error("cannot serve on %s: listen: %s", where, strerror(errno));
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
		err = -errno;
		goto fail;
	}
	ev.data.u64 = l->cookie;
	if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		log_error("dataplane worker %u: epoll_ctl(listener): %s", io->worker, strerror(errno));
		goto fail;
	}
	*port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	l->fd = fd;
	return 0;
fail:
	close(fd);
	return err;
}

static int sock_listen(struct dp_io *io, const struct sockaddr *addr, socklen_t len, int backlog,
		       bool first, uint16_t *port)
{
	return listen_on(io, &io->l[0], addr, len, backlog, first, port);
}

static int sock_listen_secure(struct dp_io *io, const struct sockaddr *addr, socklen_t len,
			      int backlog, bool first, uint16_t *port)
{
	return listen_on(io, &io->l[1], addr, len, backlog, first, port);
}

static int sock_watch_fd(struct dp_io *io, int fd, uint64_t cookie)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = cookie };

	if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static void pause_accept(struct dp_io *io, struct sock_listener *l)
{
	l->accept_pause_ns = l->accept_pause_ns ? l->accept_pause_ns * 2 : ACCEPT_PAUSE_MIN_NS;
	if (l->accept_pause_ns > ACCEPT_PAUSE_MAX_NS)
		l->accept_pause_ns = ACCEPT_PAUSE_MAX_NS;
	epoll_ctl(io->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	l->accept_resume_ns = clock_mono_ns() + l->accept_pause_ns;
}

/*
 * Out of descriptors: frees the spare, accepts and closes what is
 * pending, takes the spare back.  Returns the number of connections shed.
 */
static uint32_t shed_pending(struct dp_io *io, struct sock_listener *l)
{
	uint32_t n = 0;

	if (io->spare < 0)
		io->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (io->spare < 0)
		return 0; /* not even one descriptor: the back-off is all we can do */
	close(io->spare);
	io->spare = -1;
	while (n < ACCEPT_SHED_MAX) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0) {
			close(fd);
			n++;
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		break;
	}
	io->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return n;
}

static void maybe_resume_accept(struct dp_io *io, struct sock_listener *l, int *timeout_ms)
{
	uint64_t now;

	if (!l->accept_resume_ns)
		return;
	now = clock_mono_ns();
	if (now >= l->accept_resume_ns) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = l->cookie };

		if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, l->fd, &ev) == 0)
			l->accept_resume_ns = 0;
		return;
	}
	int left = (int)((l->accept_resume_ns - now + 999999) / 1000000);

	if (*timeout_ms < 0 || *timeout_ms > left)
		*timeout_ms = left;
}

static int sock_poll(struct dp_io *io, int timeout_ms, struct dp_io_event *ev, unsigned max)
{
	int n;

	maybe_resume_accept(io, &io->l[0], &timeout_ms);
	maybe_resume_accept(io, &io->l[1], &timeout_ms);
	if (max > sizeof(io->evs) / sizeof(io->evs[0]))
		max = sizeof(io->evs) / sizeof(io->evs[0]);
	n = epoll_wait(io->epfd, io->evs, (int)max, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint32_t e = io->evs[i].events, what = 0;

		if (e & (EPOLLIN | EPOLLRDHUP))
			what |= DP_IO_READ;
		if (e & EPOLLOUT)
			what |= DP_IO_WRITE;
		if (e & (EPOLLERR | EPOLLHUP))
			what |= DP_IO_ERROR;
		ev[i].cookie = io->evs[i].data.u64;
		ev[i].what = what;
	}
	return n;
}

static int accept_on(struct dp_io *io, struct sock_listener *l, dp_io_handle *h,
		     struct sockaddr_storage *peer)
{
	socklen_t len = sizeof(*peer);
	int fd;

	if (l->fd < 0 || l->accept_resume_ns)
		return -EAGAIN;
	for (;;) {
		fd = accept4(l->fd, (struct sockaddr *)peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue; /* that one is gone; try the next */
		case EAGAIN:
			return -EAGAIN;
		case EMFILE:
		case ENFILE: {
			int err = -errno;

			*h = shed_pending(io, l);
			pause_accept(io, l);
			return err;
		}
		case ENOBUFS:
		case ENOMEM: {
			int err = -errno;

			*h = 0;
			pause_accept(io, l);
			return err;
		}
		default:
			log_warn("dataplane worker %u: accept: %s", io->worker, strerror(errno));
			return -errno;
		}
	}
	l->accept_pause_ns = 0;
	/* Replies are small and latency matters (ZooKeeper sets it too). */
	set_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	*h = (dp_io_handle)fd;
	return 0;
}

static int sock_accept(struct dp_io *io, dp_io_handle *h, struct sockaddr_storage *peer)
{
	return accept_on(io, &io->l[0], h, peer);
}

static int sock_accept_secure(struct dp_io *io, dp_io_handle *h, struct sockaddr_storage *peer)
{
	return accept_on(io, &io->l[1], h, peer);
}

static int sock_arm(struct dp_io *io, dp_io_handle h, uint64_t cookie, uint32_t want)
{
	struct epoll_event ev = { .data.u64 = cookie };
	int fd = (int)h;

	if (want & DP_IO_READ)
		ev.events |= EPOLLIN;
	if (want & DP_IO_WRITE)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(io->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	if (errno == ENOENT && epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	return -errno;
}

static ssize_t sock_recv(struct dp_io *io, dp_io_handle h, void *buf, size_t len)
{
	ssize_t n;

	(void)io;
	do {
		n = recv((int)h, buf, len, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static ssize_t sock_send(struct dp_io *io, dp_io_handle h, const struct iovec *iov, int iovcnt)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;

	(void)io;
	/* One buffer (what conn.c always passes): send(2) skips the msghdr copy-in. */
	do {
		if (iovcnt == 1)
			n = send((int)h, iov[0].iov_base, iov[0].iov_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = sendmsg((int)h, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static void sock_close(struct dp_io *io, dp_io_handle h)
{
	/* close() removes the descriptor from the epoll set. */
	(void)io;
	close((int)h);
}

const struct dp_io_ops dp_io_sock_ops = {
	.name = "sock",
	.caps = DP_IO_CAP_SLEEPS | DP_IO_CAP_CONN_FDS | DP_IO_CAP_TLS,
	.init = sock_init,
	.fini = sock_fini,
	.listen = sock_listen,
	.listen_secure = sock_listen_secure,
	.accept_secure = sock_accept_secure,
	.watch_fd = sock_watch_fd,
	.poll = sock_poll,
	.accept = sock_accept,
	.arm = sock_arm,
	.recv = sock_recv,
	.send = sock_send,
	.close = sock_close,
};
