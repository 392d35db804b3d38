/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HTTP daemon (libmicrohttpd) on a service thread: the set-up the
 * AdminServer (adminserver/) and /metrics (metrics/) share.  Each keeps
 * its own routes, bounds and thread; this starts the daemon the one way
 * both want it (httpd.c says why).
 */
#ifndef CHEETAH_HTTPD_H
#define CHEETAH_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

struct cfg;
struct sockaddr_in;

/* What differs between the daemons. */
struct httpd_opts {
	const char *who;		   /* the log lines' prefix ("AdminServer", "metrics") */
	const struct sockaddr_in *addr;	   /* where to listen (port 0: any free one) */
	unsigned max_connections;	   /* open connections at once */
	unsigned idle_timeout_s;	   /* an idle connection is closed after this */
	size_t connection_memory;	   /* per connection: request line and headers */
	MHD_AccessHandlerCallback handler; /* every request, with handler_cls */
	void *handler_cls;
	MHD_RequestCompletedCallback completed; /* when a request ends; NULL: none */
};

/*
 * Moves the calling thread off the configured dataplane and broadcast
 * cores (cfg_leave_pinned_cores; when that fails, a warning and on), then
 * starts a libmicrohttpd daemon with its own internal poll(2) thread,
 * which inherits the caller's CPUs.  libmicrohttpd's messages go to the
 * log at debug level, "<who>: <message>".
 *
 * Returns 0 with *d the daemon (stop it with MHD_stop_daemon) and *port
 * the port it listens on; or the negative errno libmicrohttpd left
 * (-EADDRINUSE when it left none), *d NULL.  o and the strings it points
 * to are not kept, but o->who must outlive the daemon.
 *
 * Thread: the daemon's owner's service thread, at its start (never a
 * worker or the broadcast core: its CPUs change).
 */
int httpd_start(const struct cfg *c, const struct httpd_opts *o, struct MHD_Daemon **d,
		uint16_t *port);

#endif
