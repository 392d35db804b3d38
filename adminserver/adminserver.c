/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AdminServer's HTTP side (libmicrohttpd) and its thread.
 *
 * Why a thread of its own, polled by us.  libmicrohttpd's own threads
 * could not register with RCU (the commands read the tree), so the
 * daemon runs without one (MHD_USE_EPOLL, no internal thread) and our
 * thread waits on its epoll descriptor and a stop eventfd, then calls
 * MHD_run.  The thread is a registered RCU reader, offline; the source
 * goes online only while it reads the tree (never while it waits for
 * the workers); it is never a dataplane worker or the broadcast core, takes no
 * lock they wait on, and keeps off their configured cores
 * (off_pinned_cores).
 *
 * Bounds against junk, slow clients and floods: at most
 * ADM_MAX_CONNECTIONS connections (more are accepted and closed at once
 * by libmicrohttpd); ADM_CONNECTION_MEMORY bytes per connection for the
 * request line and headers (a longer URL gets 414, longer headers 431);
 * a connection idle for admin.idleTimeout (rounded up to whole seconds,
 * libmicrohttpd's unit) is closed; a request body (POST) is read and
 * dropped, at most ADM_MAX_BODY bytes (more: 413).  Malformed requests
 * get libmicrohttpd's 400.
 *
 * Routes (ZooKeeper 3.8's JettyAdminServer): <commandURL> and
 * <commandURL>/ list the commands as HTML links; <commandURL>/<name>
 * runs one (GET, HEAD); ZooKeeper 3.8 has no POST for them (405), nor
 * any other path (404).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <urcu/urcu-qsbr.h>

#include "adm_priv.h"
#include "common/log.h"
#include "config/config.h"

struct adm {
	struct MHD_Daemon *d;
	struct adm_env env;
	const char *url; /* commandURL */
	size_t url_len;
	bool rcu;
	int stop_fd;
	pthread_t thread;
	bool started;
	uint16_t port;
};

/* Per request: how much body was dropped (libmicrohttpd's con_cls). */
struct req {
	size_t body;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static char *links(const struct adm *a)
{
	size_t cap = 1, n = 0;
	char *s;

	for (size_t i = 0; i < adm_n_cmds; i++)
		cap += 2 * strlen(adm_cmd_names[i]) + a->url_len + 32;
	s = malloc(cap);
	if (!s)
		return NULL;
	for (size_t i = 0; i < adm_n_cmds; i++)
		n += (size_t)snprintf(s + n, cap - n, "<a href=\"%s/%s\">%s</a>\n<br/>\n", a->url,
				      adm_cmd_names[i], adm_cmd_names[i]);
	s[n] = '\0';
	return s;
}

static char *error_json(const char *name, const char *msg)
{
	json_t *j = json_pack("{s:s?,s:s}", "command", NULL, "error", msg);
	json_t *n = json_string(name);
	char *s = NULL;

	if (j && n && !json_object_set(j, "command", n))
		s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(n);
	json_decref(j);
	return s;
}

static char *run_command(struct adm *a, const char *name)
{
	json_t *r;
	char *s;

	r = adm_run(&a->env, name); /* the source goes online (RCU) as it needs */
	if (!r)
		return NULL;
	s = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(r);
	return s;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct adm *a = cls;
	struct req *q = *con_cls;
	const char *name;

	(void)version;
	(void)upload;
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*con_cls = q;
		return MHD_YES; /* headers seen; the body (if any) comes next */
	}
	if (*upload_size) {
		q->body += *upload_size;
		*upload_size = 0;
		return MHD_YES; /* dropped; judged once complete */
	}
	if (q->body > ADM_MAX_BODY)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain",
			     strdup("request body too large\n"));
	if (strncmp(url, a->url, a->url_len) || (url[a->url_len] && url[a->url_len] != '/'))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("Not Found\n"));
	name = url[a->url_len] ? url + a->url_len + 1 : "";
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		char msg[64];

		snprintf(msg, sizeof(msg), "HTTP method %.16s is not supported by this URL",
			 method);
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json",
			     error_json(name, msg));
	}
	if (!*name)
		return reply(c, MHD_HTTP_OK, "text/html", links(a));
	return reply(c, MHD_HTTP_OK, "application/json", run_command(a, name));
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)c;
	(void)why;
	free(*con_cls);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("AdminServer: %s", buf);
}

/*
 * Keeps the thread off the configured dataplane cores and the broadcast
 * core (the CPUs the process may use, minus those); when nothing would
 * be left, as on a machine whose every CPU is configured, it stays on the
 * process's CPUs (the kernel's scheduler then shares them).
 */
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
		log_warn("AdminServer: cannot keep off the dataplane cores: %s", strerror(left));
}

static void *loop(void *arg)
{
	struct adm *a = arg;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_EPOLL_FD);
	int epfd = info ? info->epoll_fd : -1;

	off_pinned_cores(a->env.cfg);
	if (a->rcu) {
		urcu_qsbr_register_thread();
		urcu_qsbr_thread_offline();
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = a->stop_fd, .events = POLLIN},
				      {.fd = epfd, .events = POLLIN}};
		MHD_UNSIGNED_LONG_LONG to;
		int ms = 1000;

		if (MHD_get_timeout(a->d, &to) == MHD_YES && to < 1000)
			ms = (int)to;
		if (poll(p, epfd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		MHD_run(a->d);
	}
	if (a->rcu) {
		urcu_qsbr_thread_online();
		urcu_qsbr_unregister_thread();
	}
	return NULL;
}

static int bind_address(const struct cfg *cfg, struct sockaddr_in *sa)
{
	const char *host = cfg->admin_address ? cfg->admin_address : "0.0.0.0";
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)cfg->admin_port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	if (getaddrinfo(host, NULL, &hints, &res))
		return -EADDRNOTAVAIL;
	sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

int adm_start(const struct adm_opts *o, struct adm **out)
{
	const struct cfg *cfg = o->cfg;
	struct sockaddr_in sa;
	struct adm *a;
	const union MHD_DaemonInfo *info;
	unsigned idle;
	int ret;

	*out = NULL;
	if (!cfg->admin_enable)
		return 0;
	ret = bind_address(cfg, &sa);
	if (ret) {
		log_warn("AdminServer: cannot resolve admin.serverAddress %s", cfg->admin_address);
		return ret;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->env = (struct adm_env){.cfg = cfg, .source = o->source, .ctx = o->ctx};
	a->url = cfg->admin_command_url ? cfg->admin_command_url : "/commands";
	a->url_len = strlen(a->url);
	a->rcu = o->rcu;
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_fd < 0) {
		ret = -errno;
		free(a);
		return ret;
	}
	idle = (unsigned)((cfg->admin_idle_timeout_ms + 999) / 1000);
	errno = 0;
	a->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, a,
				MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)ADM_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, idle,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADM_CONNECTION_MEMORY,
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (!a->d) {
		ret = errno ? -errno : -EADDRINUSE;
		log_warn("AdminServer: cannot listen on %s:%d: %s (the server runs without it)",
			 cfg->admin_address ? cfg->admin_address : "0.0.0.0", cfg->admin_port,
			 strerror(-ret));
		close(a->stop_fd);
		free(a);
		return ret;
	}
	info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
	a->port = info ? info->port : (uint16_t)cfg->admin_port;
	ret = pthread_create(&a->thread, NULL, loop, a);
	if (ret) {
		MHD_stop_daemon(a->d);
		close(a->stop_fd);
		free(a);
		return -ret;
	}
	pthread_setname_np(a->thread, "cheetah-admin");
	a->started = true;
	log_info("AdminServer: serving %s on %s:%u", a->url,
		 cfg->admin_address ? cfg->admin_address : "0.0.0.0", a->port);
	*out = a;
	return 0;
}

uint16_t adm_port(const struct adm *a)
{
	return a->port;
}

void adm_stop(struct adm *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	if (a->started) {
		if (write(a->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_error("AdminServer: cannot wake its thread: %s", strerror(errno));
		pthread_join(a->thread, NULL);
	}
	MHD_stop_daemon(a->d);
	close(a->stop_fd);
	free(a);
}
