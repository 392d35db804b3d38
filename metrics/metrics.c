/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /metrics over HTTP (libmicrohttpd) with a thread of its own.
 *
 * Two threads, one owner each.  The metrics thread owns the figures: it
 * is a registered RCU (QSBR) reader, offline but while the source reads
 * the tree, takes the snapshot, moves the summaries' window and renders
 * the text, only when a scrape asks for one.  libmicrohttpd's own
 * thread (MHD_USE_INTERNAL_POLLING_THREAD with poll(2), started by the
 * metrics thread so that it inherits its CPUs) owns the connections; its
 * handler copies the last text when it is less than MET_CACHE_MS old,
 * else asks the metrics thread for a new one and waits for it (at most
 * MET_WAIT_S, then 503).  The two meet under one mutex that no worker or
 * broadcast core ever takes.  Both keep off the configured dataplane and
 * broadcast CPUs (unless those are all there are).
 *
 * The daemon is started as the AdminServer's is (httpd/httpd.c, which
 * says why not MHD_USE_EPOLL driven by our own thread, so that the
 * handler itself could be an RCU reader).  Why not a route of the
 * AdminServer: ZooKeeper serves them on two ports with separate
 * switches, and a slow command there must not delay a scrape here.
 *
 * Bounds against junk and floods: at most MET_MAX_CONNECTIONS
 * connections (more wait in the kernel's backlog), MET_CONNECTION_MEMORY
 * bytes of request line and headers each (longer: 414 or 431), idle
 * connections closed after MET_IDLE_TIMEOUT_S, request bodies dropped,
 * malformed requests answered 400 by libmicrohttpd.  Scrapes closer
 * together than MET_CACHE_MS share one text, so a flood costs at most ten
 * snapshots a second.
 *
 * Routes (ZooKeeper's Jetty context): GET or HEAD /metrics; any other
 * path 404; another method on /metrics 405.
 *
 * Thread: met_start and met_stop on the main thread.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <urcu/urcu-qsbr.h>

#include "common/clock.h"
#include "common/jute.h"
#include "common/log.h"
#include "config/config.h"
#include "httpd/httpd.h"
#include "metrics/metrics.h"
#include "metrics/metrics_priv.h"

#define MET_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct met {
	const struct cfg *cfg;
	met_source_fn source;
	void *ctx;
	bool rcu;
	pthread_t thread;
	bool started;
	uint16_t port;

	/* Shared by the metrics thread and libmicrohttpd's, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool start_done;
	int start_ret;
	bool stop;
	uint64_t want_gen; /* texts asked for */
	uint64_t have_gen; /* texts made (the want_gen they answer) */
	int text_err;	   /* the last refresh's result */
	char *text;	   /* the last text, text_len bytes, made at text_ms */
	size_t text_len;
	uint64_t text_ms;

	/* The metrics thread's own. */
	struct MHD_Daemon *d;
	struct dp_stats *stats;
	struct met_window window;
};

static uint64_t now_ms(void)
{
	return clock_mono_ns() / 1000000;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * On libmicrohttpd's thread: a copy of a text no older than MET_CACHE_MS,
 * asking the metrics thread for a new one when needed and waiting for it
 * at most MET_WAIT_S.  Returns the copy (malloc'd) or NULL.
 */
#define MET_WAIT_S 5

static char *current_text(struct met *m, size_t *len)
{
	struct timespec deadline;
	char *copy = NULL;
	uint64_t gen;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += MET_WAIT_S;
	pthread_mutex_lock(&m->lock);
	if (!m->text || m->text_err || now_ms() - m->text_ms >= MET_CACHE_MS) {
		gen = ++m->want_gen;
		pthread_cond_broadcast(&m->cond);
		while (m->have_gen < gen && !m->stop)
			if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT)
				break;
		if (m->have_gen < gen)
			goto out;
	}
	if (m->text && !m->text_err) {
		copy = malloc(m->text_len ? m->text_len : 1);
		if (copy) {
			memcpy(copy, m->text, m->text_len);
			*len = m->text_len;
		}
	}
out:
	pthread_mutex_unlock(&m->lock);
	return copy;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static const char not_found[] = "Not Found\n", not_allowed[] = "Method Not Allowed\n",
			  unavailable[] = "metrics unavailable\n";
	struct met *m = cls;
	static int seen;
	size_t len = 0;
	char *text;

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
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", (void *)not_found,
			     sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", (void *)not_allowed,
			     sizeof(not_allowed) - 1, MHD_RESPMEM_PERSISTENT);
	text = current_text(m, &len);
	if (!text)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", (void *)unavailable,
			     sizeof(unavailable) - 1, MHD_RESPMEM_PERSISTENT);
	return reply(c, MHD_HTTP_OK, MET_CONTENT_TYPE, text, len, MHD_RESPMEM_MUST_FREE);
}

/* On the metrics thread: a new text, published under the lock. */
static void refresh(struct met *m, uint64_t gen)
{
	uint64_t now = now_ms();
	struct jute_out o;
	int ret;

	jute_out_init(&o, 16384);
	ret = m->source(m->ctx, m->stats);
	if (!ret) {
		met_render(&m->window, m->stats, now, &o);
		if (o.err)
			ret = -ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	m->text_err = ret;
	if (!ret) {
		free(m->text);
		m->text = (char *)o.buf;
		m->text_len = o.len;
		m->text_ms = now;
		o.buf = NULL;
	}
	m->have_gen = gen;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (o.buf)
		jute_out_free(&o);
}

static void started(struct met *m, int ret)
{
	pthread_mutex_lock(&m->lock);
	m->start_ret = ret;
	m->start_done = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/*
 * The metrics thread: starts the daemon (whose own thread inherits this
 * one's CPUs), then makes a text whenever one is asked for, until stopped.
 */
static void *loop(void *arg)
{
	struct met *m = arg;
	struct sockaddr_in sa;
	const struct httpd_opts ho = {
	    .who = "metrics",
	    .addr = &sa,
	    .max_connections = MET_MAX_CONNECTIONS,
	    .idle_timeout_s = MET_IDLE_TIMEOUT_S,
	    .connection_memory = MET_CONNECTION_MEMORY,
	    .handler = handle,
	    .handler_cls = m,
	};
	int ret = cfg_ipv4_address(m->cfg->metrics_host, m->cfg->metrics_port, &sa);

	if (!ret)
		ret = httpd_start(m->cfg, &ho, &m->d, &m->port);
	if (ret) {
		started(m, ret);
		return NULL;
	}
	if (m->rcu) {
		urcu_qsbr_register_thread();
		urcu_qsbr_thread_offline();
	}
	started(m, 0);
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		uint64_t gen = m->want_gen;

		if (gen == m->have_gen) {
			pthread_cond_wait(&m->cond, &m->lock);
			continue;
		}
		pthread_mutex_unlock(&m->lock);
		refresh(m, gen);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	/* Its handlers see stop and return 503 at once, so this does not wait on us. */
	MHD_stop_daemon(m->d);
	m->d = NULL;
	if (m->rcu) {
		urcu_qsbr_thread_online();
		urcu_qsbr_unregister_thread();
	}
	return NULL;
}

static void met_free(struct met *m)
{
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m->stats);
	free(m->text);
	free(m);
}

int met_start(const struct met_opts *o, struct met **out)
{
	const struct cfg *cfg = o->cfg;
	const char *host = cfg->metrics_host ? cfg->metrics_host : "0.0.0.0";
	pthread_condattr_t ca;
	struct met *m;
	int ret;

	*out = NULL;
	if (!cfg->metrics_enable)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = cfg;
	m->source = o->source;
	m->ctx = o->ctx;
	m->rcu = o->rcu;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	m->stats = malloc(sizeof(*m->stats));
	if (!m->stats) {
		met_free(m);
		return -ENOMEM;
	}
	met_window_init(&m->window, now_ms());
	ret = pthread_create(&m->thread, NULL, loop, m);
	if (ret) {
		met_free(m);
		return -ret;
	}
	pthread_setname_np(m->thread, "cheetah-metrics");
	pthread_mutex_lock(&m->lock);
	while (!m->start_done)
		pthread_cond_wait(&m->cond, &m->lock);
	ret = m->start_ret;
	pthread_mutex_unlock(&m->lock);
	if (ret) {
		pthread_join(m->thread, NULL);
		if (ret == -EADDRNOTAVAIL)
			log_error("metrics: cannot resolve metricsProvider.httpHost %s", host);
		else
			log_error("metrics: cannot listen on %s:%d: %s", host, cfg->metrics_port,
				  strerror(-ret));
		met_free(m);
		return ret;
	}
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
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	met_free(m);
}
