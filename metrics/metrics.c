/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /metrics over HTTP (libmicrohttpd) on a thread of its own.
 *
 * The thread is set up as the AdminServer's (adminserver/adminserver.c):
 * the daemon runs without threads of its own (MHD_USE_EPOLL), our thread
 * polls its epoll descriptor and a stop eventfd and calls MHD_run, so that
 * the thread can be an RCU (QSBR) reader, offline but while the source
 * reads the tree; it keeps off the configured dataplane and broadcast
 * CPUs.  A daemon of its own and not a route of the AdminServer's:
 * ZooKeeper serves them on two ports with separate switches
 * (admin.enableServer, metricsProvider.className), and a slow command
 * there must not delay a scrape here.
 *
 * One owner per state: the snapshot buffer, the summaries' window and the
 * cached text belong to this thread alone.
 *
 * Bounds against junk and floods: at most MET_MAX_CONNECTIONS
 * connections (more are closed at once by libmicrohttpd),
 * MET_CONNECTION_MEMORY bytes of request line and headers each (longer:
 * 414 or 431), idle connections closed after MET_IDLE_TIMEOUT_S, request
 * bodies dropped unread past what libmicrohttpd buffers, malformed
 * requests answered 400 by libmicrohttpd.  Scrapes closer together than
 * MET_CACHE_MS get the same text, so a flood of GETs costs one snapshot
 * per 100 ms, not one per request.
 *
 * Routes (ZooKeeper's Jetty context): GET or HEAD /metrics; any other
 * path 404; another method on /metrics 405.
 *
 * Thread: met_start and met_stop on the main thread; everything else on
 * the metrics thread.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <urcu/urcu-qsbr.h>

#include "common/clock.h"
#include "common/jute.h"
#include "common/log.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "metrics/metrics_priv.h"

#define MET_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct met {
	struct MHD_Daemon *d;
	const struct cfg *cfg;
	met_source_fn source;
	void *ctx;
	bool rcu;
	int stop_fd;
	pthread_t thread;
	bool started;
	uint16_t port;

	/* The metrics thread's own. */
	struct dp_stats *stats;
	struct met_window window;
	char *text; /* last rendered, text_len bytes, at text_ms */
	size_t text_len;
	uint64_t text_ms;
};

static uint64_t now_ms(void)
{
	return clock_mono_ns() / 1000000;
}

/* Renders a fresh text, or keeps the last one when it is recent.  0 or -errno. */
static int refresh(struct met *m)
{
	uint64_t now = now_ms();
	struct jute_out o;
	int ret;

	if (m->text && now - m->text_ms < MET_CACHE_MS)
		return 0;
	ret = m->source(m->ctx, m->stats);
	if (ret)
		return ret;
	jute_out_init(&o, 16384);
	met_render(&m->window, m->stats, now, &o);
	if (o.err) {
		jute_out_free(&o);
		return -ENOMEM;
	}
	free(m->text);
	m->text = (char *)o.buf;
	m->text_len = o.len;
	m->text_ms = now;
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const char *body, size_t len, bool copy)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body,
					    copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static const char not_found[] = "Not Found\n", not_allowed[] = "Method Not Allowed\n",
			  unavailable[] = "metrics unavailable\n";
	struct met *m = cls;
	static int seen;

	(void)version;
	(void)upload;
	if (!*con_cls) {
		*con_cls = &seen; /* headers seen; a body, if any, comes next */
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* dropped */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof(not_found) - 1,
			     false);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
			     sizeof(not_allowed) - 1, false);
	if (refresh(m))
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", unavailable,
			     sizeof(unavailable) - 1, false);
	/* A copy: the next scrape may replace m->text while this one is still being sent. */
	return reply(c, MHD_HTTP_OK, MET_CONTENT_TYPE, m->text, m->text_len, true);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("metrics: %s", buf);
}

/* As the AdminServer's: off the configured dataplane and broadcast CPUs when any is left. */
static void off_pinned_cores(const struct cfg *cfg)
{
	cpu_set_t set;
	int left = 0;

	if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set))
		return;
	for (unsigned c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		if (cfg_dp_core_isset(cfg, c) ||
		    (cfg->broadcast_core >= 0 && (unsigned)cfg->broadcast_core == c))
			CPU_CLR(c, &set);
		else
			left++;
	}
	if (!left)
		return;
	left = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (left)
		log_warn("metrics: cannot keep off the dataplane cores: %s", strerror(left));
}

static void *loop(void *arg)
{
	struct met *m = arg;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	int epfd = info ? info->epoll_fd : -1;

	off_pinned_cores(m->cfg);
	if (m->rcu) {
		urcu_qsbr_register_thread();
		urcu_qsbr_thread_offline();
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = m->stop_fd, .events = POLLIN},
				      {.fd = epfd, .events = POLLIN}};
		MHD_UNSIGNED_LONG_LONG to;
		int ms = 1000;

		if (MHD_get_timeout(m->d, &to) == MHD_YES && to < 1000)
			ms = (int)to;
		if (poll(p, epfd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		MHD_run(m->d);
	}
	if (m->rcu) {
		urcu_qsbr_thread_online();
		urcu_qsbr_unregister_thread();
	}
	return NULL;
}

static int bind_address(const struct cfg *cfg, struct sockaddr_in *sa)
{
	const char *host = cfg->metrics_host ? cfg->metrics_host : "0.0.0.0";
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)cfg->metrics_port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	if (getaddrinfo(host, NULL, &hints, &res))
		return -EADDRNOTAVAIL;
	sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

static void met_free(struct met *m)
{
	if (m->d)
		MHD_stop_daemon(m->d);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	free(m->stats);
	free(m->text);
	free(m);
}

int met_start(const struct met_opts *o, struct met **out)
{
	const struct cfg *cfg = o->cfg;
	const char *host = cfg->metrics_host ? cfg->metrics_host : "0.0.0.0";
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sa;
	struct met *m;
	int ret;

	*out = NULL;
	if (!cfg->metrics_enable)
		return 0;
	ret = bind_address(cfg, &sa);
	if (ret) {
		log_error("metrics: cannot resolve metricsProvider.httpHost %s", host);
		return ret;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = cfg;
	m->source = o->source;
	m->ctx = o->ctx;
	m->rcu = o->rcu;
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->stats = malloc(sizeof(*m->stats));
	if (m->stop_fd < 0 || !m->stats) {
		ret = m->stop_fd < 0 ? -errno : -ENOMEM;
		met_free(m);
		return ret;
	}
	met_window_init(&m->window, now_ms());
	errno = 0;
	m->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, m,
				MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)MET_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)MET_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				(size_t)MET_CONNECTION_MEMORY, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
				NULL, MHD_OPTION_END);
	if (!m->d) {
		ret = errno ? -errno : -EADDRINUSE;
		log_error("metrics: cannot listen on %s:%d: %s", host, cfg->metrics_port,
			  strerror(-ret));
		met_free(m);
		return ret;
	}
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : (uint16_t)cfg->metrics_port;
	ret = pthread_create(&m->thread, NULL, loop, m);
	if (ret) {
		met_free(m);
		return -ret;
	}
	pthread_setname_np(m->thread, "cheetah-metrics");
	m->started = true;
	log_info("metrics: serving /metrics on %s:%u", host, m->port);
	*out = m;
	return 0;
}

uint16_t met_port(const struct met *m)
{
	return m->port;
}

void met_stop(struct met *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	if (m->started) {
		if (write(m->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_error("metrics: cannot wake its thread: %s", strerror(errno));
		pthread_join(m->thread, NULL);
	}
	met_free(m);
}
