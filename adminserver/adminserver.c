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
 * Routes (ZooKeeper 3.8's JettyAdminServer, with 3.9's POST): <commandURL>
 * and <commandURL>/ list the commands as HTML links; <commandURL>/<name>
 * runs one (GET, HEAD); POST runs restore (its body, a snapshot, is
 * spooled to an unlinked file in dataDir, at most ADM_MAX_RESTORE bytes,
 * else 413, and only when the request's credentials would be let
 * through: a refused one's body is dropped, so nobody without the right
 * can fill dataDir) and is 405 for the other commands, as in ZooKeeper 3.8; any
 * other path is 404.  A command may answer with its own status and
 * headers, or stream a file (snapshot: application/octet-stream).
 *
 * restore and snapshot run on this thread, as every command: while a
 * restore loads and writes its snapshot (about a second per million
 * znodes) the AdminServer answers nothing else; the clients, workers and
 * broadcast core go on (replication/restore.c).
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

/*
 * Per request (libmicrohttpd's con_cls): how much body came; a POST to
 * restore spools it to body_fd (an unlinked file in dataDir), any other
 * body is dropped.
 */
struct req {
	uint64_t body;
	int body_fd;	/* restore: the spooled body, or -1 */
	int spool_err;	/* restore: why the body could not be kept (-errno), 0 */
	bool refused;	/* restore without the right: its body is dropped, not kept */
};

static bool is_post_command(const char *name)
{
	return !strcmp(name, "restore") || !strcmp(name, "rest");
}

/* The command name of url, or NULL when url is not under the command URL. */
static const char *command_name(const struct adm *a, const char *url)
{
	if (strncmp(url, a->url, a->url_len) || (url[a->url_len] && url[a->url_len] != '/'))
		return NULL;
	return url[a->url_len] ? url + a->url_len + 1 : "";
}

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

/* The client's IPv4 address as text in buf, or NULL. */
static const char *peer_ip(struct MHD_Connection *c, char buf[INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (!ci || !ci->client_addr || ci->client_addr->sa_family != AF_INET)
		return NULL;
	return inet_ntop(AF_INET,
			 &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, buf,
			 INET6_ADDRSTRLEN);
}

static const char *query_arg(void *argctx, const char *key)
{
	return MHD_lookup_connection_value(argctx, MHD_GET_ARGUMENT_KIND, key);
}

/*
 * Runs a command for an HTTP request (the source and the info ops go
 * online, RCU, as they need) and queues its answer: JSON, or the file a
 * command streams (snapshot), with the command's status and headers.
 */
static enum MHD_Result run_command(struct adm *a, struct MHD_Connection *c, const char *name,
				   bool post, struct req *q)
{
	struct adm_call call = {.arg = query_arg, .argctx = c, .post = post, .body_fd = -1,
				.stream_fd = -1, .status = MHD_HTTP_OK};
	char ip[INET6_ADDRSTRLEN];
	struct MHD_Response *resp;
	enum MHD_Result ret;
	json_t *r;
	char *body;

	call.peer_ip = peer_ip(c, ip);
	call.auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (post && q->body_fd >= 0 && !q->spool_err)
		call.body_fd = q->body_fd;
	r = adm_run_call(&a->env, name, &call);
	if (!r) {
		if (call.stream_fd >= 0)
			close(call.stream_fd);
		return MHD_NO;
	}
	if (call.stream_fd >= 0) {
		json_decref(r);
		resp = MHD_create_response_from_fd64(call.stream_len, call.stream_fd);
		if (!resp) {
			close(call.stream_fd);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/octet-stream");
	} else {
		body = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(r);
		if (!body)
			return MHD_NO;
		resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(body);
			return MHD_NO;
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	}
	for (int i = 0; i < 2; i++)
		if (call.hdr[i][0][0])
			MHD_add_response_header(resp, call.hdr[i][0], call.hdr[i][1]);
	ret = MHD_queue_response(c, call.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Appends a restore body's chunk to its spool file. */
static void spool(struct req *q, const char *data, size_t len)
{
	while (len && !q->spool_err) {
		ssize_t w = write(q->body_fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			q->spool_err = w < 0 ? -errno : -EIO;
			log_warn("AdminServer: cannot keep a restore body: %s", strerror(-q->spool_err));
			return;
		}
		data += w;
		len -= (size_t)w;
	}
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct adm *a = cls;
	struct req *q = *con_cls;
	const char *name;
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
	char ip[INET6_ADDRSTRLEN];

	(void)version;
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->body_fd = -1;
		*con_cls = q;
		name = command_name(a, url);
		if (post && name && is_post_command(name) &&
		    !adm_may_restore(&a->env,
				     MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								 MHD_HTTP_HEADER_AUTHORIZATION),
				     peer_ip(c, ip))) {
			/* answered 401/403/503 once the body is dropped */
			q->refused = true;
		} else if (post && name && is_post_command(name)) {
			q->body_fd = adm_spool_fd(a->env.cfg);
			if (q->body_fd < 0) {
				q->spool_err = q->body_fd;
				log_warn("AdminServer: cannot create a file for a restore body: %s",
					 strerror(-q->spool_err));
			}
		}
		return MHD_YES; /* headers seen; the body (if any) comes next */
	}
	if (*upload_size) {
		q->body += *upload_size;
		if (q->body_fd >= 0 && q->body <= ADM_MAX_RESTORE)
			spool(q, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES; /* kept or dropped; judged once complete */
	}
	if (!q->refused &&
	    q->body > (q->body_fd >= 0 ? ADM_MAX_RESTORE : (uint64_t)ADM_MAX_BODY))
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain",
			     strdup("request body too large\n"));
	name = command_name(a, url);
	if (!name)
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("Not Found\n"));
	if (post && is_post_command(name))
		return run_command(a, c, name, true, q);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		char msg[64];

		snprintf(msg, sizeof(msg), "HTTP method %.16s is not supported by this URL",
			 method);
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json",
			     error_json(name, msg));
	}
	if (!*name)
		return reply(c, MHD_HTTP_OK, "text/html", links(a));
	return run_command(a, c, name, false, q);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode why)
{
	struct req *q = *con_cls;

	(void)cls;
	(void)c;
	(void)why;
	if (q && q->body_fd >= 0)
		close(q->body_fd);
	free(q);
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
	a->env = (struct adm_env){.cfg = cfg, .source = o->source, .ctx = o->ctx, .info = o->info};
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
