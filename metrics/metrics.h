/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /metrics: ZooKeeper's PrometheusMetricsProvider for Cheetah
 * (metricsProvider.className=org.apache.zookeeper.metrics.prometheus
 * .PrometheusMetricsProvider, metricsProvider.httpHost (0.0.0.0),
 * metricsProvider.httpPort (7000)).  GET /metrics answers the Prometheus
 * text format (0.0.4) with ZooKeeper's metric names, types and summary
 * quantiles for every figure Cheetah has a real value for, then
 * Cheetah's own under cheetah_ (docs/OPERATIONS.md, "Monitoring").
 *
 * It runs on a thread of its own (never a dataplane worker or the
 * broadcast core, kept off their configured CPUs), with its own
 * libmicrohttpd daemon, apart from the AdminServer: either can be on
 * without the other, and neither's clients queue behind the other's.
 * Its figures come through one call (met_source_fn: dp_stats_snapshot in
 * the server), which takes no lock a worker or the core waits on.
 *
 * Life cycle, from the main thread:
 *
 *	met_start(&{cfg, source, ctx, rcu}, &m);  binds and starts the thread
 *	...
 *	met_stop(m);                              joins, frees
 */
#ifndef CHEETAH_METRICS_METRICS_H
#define CHEETAH_METRICS_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct cfg;
struct dp_stats;
struct met;

/*
 * The figures: fills *out (dp_stats.h) and returns 0, or a negative errno
 * (then /metrics answers 503).  Called on the metrics thread, an offline
 * RCU (QSBR) reader when opts.rcu.
 */
typedef int (*met_source_fn)(void *ctx, struct dp_stats *out);

struct met_opts {
	const struct cfg *cfg; /* finalized; must outlive the server */
	met_source_fn source;
	void *ctx;
	bool rcu; /* register the thread with RCU (the server: true) */
};

/* Bounds (docs/OPERATIONS.md). */
enum {
	MET_MAX_CONNECTIONS = 32,     /* open HTTP connections at once */
	MET_CONNECTION_MEMORY = 8192, /* per connection: request line + headers */
	MET_IDLE_TIMEOUT_S = 10,      /* an idle connection is closed after this */
	MET_CACHE_MS = 100,	      /* scrapes closer than this share one text */
};

/*
 * Starts /metrics when cfg->metrics_enable (else returns 0 with *out
 * NULL): binds metricsProvider.httpHost:httpPort (0: an ephemeral port,
 * see met_port) and starts the thread.  Returns 0, or a negative errno
 * with nothing left running: -EADDRINUSE, -EADDRNOTAVAIL (host), -ENOMEM,
 * or the failing call's errno; logged.  ZooKeeper refuses to start when
 * its metrics provider cannot; the caller decides.  Main thread.
 */
int met_start(const struct met_opts *opts, struct met **out);

/* The TCP port it listens on. */
uint16_t met_port(const struct met *m);

/* Stops the thread, closes its connections, frees m (NULL: no-op).  Main thread. */
void met_stop(struct met *m);

#endif
