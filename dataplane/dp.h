/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dataplane: everything between the wire and a decoded request.
 *
 * One worker thread per configured core (cheetah.dataplane.cores; one
 * worker when none is set), each pinned to its core when cores are
 * configured.  A worker owns its connections, their sessions' wire state
 * and their watches; it talks to the broadcast core only through its pair
 * of rings (replication/repl.h) and serves reads from the tree under RCU
 * (it is a QSBR reader: it announces a quiescent state once per loop and
 * goes offline while it sleeps in the kernel).
 *
 * The I/O backend is chosen by name from cfg->dataplane at start-up
 * (dp_io.h): "sock" (kernel TCP, epoll, one SO_REUSEPORT listener per
 * worker) is built; "dpdk" is refused with a clear error until its
 * backend exists.
 *
 * Life cycle, from the main thread:
 *
 *	n = dp_worker_count(cfg);             before repl_open (one ring pair each)
 *	repl_open(&{cfg, n, ...}, &repl);
 *	dp_start(&{cfg, repl}, &dp);          binds, starts the workers
 *	repl_start(repl);
 *	... serve until SIGTERM ...
 *	dp_stop(dp);                          closes connections, joins
 *	repl_stop(repl);
 */
#ifndef CHEETAH_DATAPLANE_DP_H
#define CHEETAH_DATAPLANE_DP_H

#include <stdint.h>

struct cfg;
struct repl;
struct dp;

struct dp_opts {
	const struct cfg *cfg; /* finalized; must outlive the dataplane */
	struct repl *repl;     /* opened with dp_worker_count(cfg) workers */
};

/* Number of workers the configuration asks for (>= 1). */
uint32_t dp_worker_count(const struct cfg *cfg);

/*
 * Checks, without binding anything, that the configured backend is built
 * (main calls it before touching the data directory).  Returns 0 or
 * -EPROTONOSUPPORT, logged.
 */
int dp_check(const struct cfg *cfg);

/*
 * Chooses the backend, binds clientPortAddress:clientPort (port 0: an
 * ephemeral port, see dp_port), registers each worker's wakeup with the
 * broadcast core and starts the workers; returns once every worker is
 * serving.  Returns 0 or a negative errno, logged once with its cause:
 * -EPROTONOSUPPORT (backend not built), -EADDRINUSE (the port is taken by
 * another process), -EADDRNOTAVAIL / -EINVAL (bad address or core),
 * -ENOMEM, or the errno of the failing socket call.  Nothing is left
 * running or allocated on failure.  Call from the main thread, once the
 * rings exist (repl_open) and before the core pushes to them.
 */
int dp_start(const struct dp_opts *opts, struct dp **out);

/* The TCP port the workers listen on (the real one when clientPort=0). */
uint16_t dp_port(const struct dp *dp);
uint32_t dp_nworkers(const struct dp *dp);
/* The backend's name ("sock"). */
const char *dp_backend(const struct dp *dp);

/*
 * Stops every worker: each closes its connections (the protocol layer
 * sees dp_proto_closed for each), frees its protocol state and exits;
 * joins them and frees the dataplane.  After it returns no worker pushes
 * to a ring any more, so the core may be stopped.  Main thread only.
 */
void dp_stop(struct dp *dp);

/* The DPDK release the dpdk backend is compiled against ("DPDK 22.11.11"). */
const char *dp_dpdk_version(void);

#endif
