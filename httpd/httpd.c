/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP daemon set-up the AdminServer and /metrics share (httpd.h).
 *
 * Both serve HTTP from libmicrohttpd's own thread
 * (MHD_USE_INTERNAL_POLLING_THREAD with poll(2)), and each has a thread
 * of its own that owns its figures or commands and starts the daemon, so
 * that the daemon's thread inherits that thread's CPUs: off the
 * configured dataplane and broadcast cores (cfg_leave_pinned_cores).
 *
 * Why not MHD_USE_EPOLL driven by a thread of ours: with libmicrohttpd
 * 0.9.75 that mode wedged for good once its connection limit was reached
 * by clients that sent half a request and closed: the closed connections
 * stayed in CLOSE-WAIT, were never timed out, and nothing was answered
 * again (tests/integration/test_adminserver.py and test_metrics.py,
 * robustness).  Its internal poll(2) thread times them out.
 *
 * The bounds (connections, memory per connection, idle timeout) are the
 * caller's; malformed requests get libmicrohttpd's 400, a request line or
 * headers over the memory bound 414 or 431.
 *
 * Thread: the caller's service thread (httpd.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/log.h"
#include "config/config.h"
#include "httpd/httpd.h"

/* libmicrohttpd's messages, one line each; cls is the owner's name. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("%s: %s", (const char *)cls, buf);
}

int httpd_start(const struct cfg *c, const struct httpd_opts *o, struct MHD_Daemon **d,
		uint16_t *port)
{
	const union MHD_DaemonInfo *info;
	int e = cfg_leave_pinned_cores(c);

	if (e)
		log_warn("%s: cannot keep off the dataplane cores: %s", o->who, strerror(e));
	errno = 0;
	*d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0,
			      NULL, NULL, o->handler, o->handler_cls, MHD_OPTION_SOCK_ADDR, o->addr,
			      MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
			      MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s,
			      MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->connection_memory,
			      MHD_OPTION_NOTIFY_COMPLETED, o->completed, NULL,
			      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)o->who, MHD_OPTION_END);
	if (!*d)
		return errno ? -errno : -EADDRINUSE;
	info = MHD_get_daemon_info(*d, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : ntohs(o->addr->sin_port);
	return 0;
}
