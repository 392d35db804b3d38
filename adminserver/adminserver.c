/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AdminServer's HTTP side (libmicrohttpd) and its thread.
 *
 * Two threads, one owner each (as metrics/metrics.c).  libmicrohttpd's
 * own thread (MHD_USE_INTERNAL_POLLING_THREAD with poll(2)) owns the
 * connections; the AdminServer's thread owns the commands: it is a
 * registered RCU (QSBR) reader, offline but while the source reads the
 * tree (never while it waits for the workers), and runs each command
 * (and restore's permission check) that a handler hands it, one at a
 * time, while that handler waits (on_thread).  They meet under one mutex
 * that no worker or broadcast core ever takes.  The AdminServer's thread
 * starts the daemon, so both keep off the configured dataplane and
 * broadcast cores (cfg_leave_pinned_cores).
 *
 * The daemon is started as /metrics' is (httpd/httpd.c, which says why
 * libmicrohttpd's internal poll(2) thread and not MHD_USE_EPOLL driven
 * by our own, as before).
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
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <urcu/urcu-qsbr.h>

#include "adm_priv.h"
#include "common/log.h"
#include "config/config.h"
#include "httpd/httpd.h"

struct adm {
	struct adm_env env; /* the AdminServer's thread's own */
	const char *url;    /* commandURL */
	size_t url_len;
	bool rcu;
	unsigned idle_s; /* admin.idleTimeout, whole seconds */
	struct sockaddr_in sa;
	pthread_t thread;
	bool started;
	uint16_t port;
	struct MHD_Daemon *d;

	/* Shared by the AdminServer's thread and libmicrohttpd's, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool start_done;
	int start_ret;
	bool stop;
	void (*job)(struct adm *a, void *arg); /* handed over by on_thread, or NULL */
	void *job_arg;
	uint64_t job_gen;   /* jobs handed over */
	uint64_t taken_gen; /* jobs the AdminServer's thread has started */
	uint64_t done_gen;  /* jobs done */
};

/*
 * On libmicrohttpd's thread: runs fn(a, arg) on the AdminServer's thread
 * and waits for it (arg may live on the caller's stack: a job once taken
 * is always waited for).  Returns 0, or -ECANCELED when the AdminServer
 * stops before taking it (fn did not run).  No time bound: a command ends by itself (the
 * workers' gathers have theirs), and only one handler runs at a time.
 */
static int on_thread(struct adm *a, void (*fn)(struct adm *a, void *arg), void *arg)
{
	uint64_t gen;
	int ret = 0;

	pthread_mutex_lock(&a->lock);
	assert(!a->job);
	a->job = fn;
	a->job_arg = arg;
	gen = ++a->job_gen;
	pthread_cond_broadcast(&a->cond);
	while (a->done_gen < gen && !(a->stop && a->taken_gen < gen))
		pthread_cond_wait(&a->cond, &a->lock);
	if (a->done_gen < gen) {
		assert(a->job == fn && a->taken_gen < gen);
		a->job = NULL;
		ret = -ECANCELED;
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

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

struct run_job {
	const char *name;
	struct adm_call *call;
	json_t *r;
};

static void run_job(struct adm *a, void *arg)
{
	struct run_job *j = arg;

	j->r = adm_run_call(&a->env, j->name, j->call);
}

struct may_job {
	const char *auth;
	const char *ip;
	bool may;
};

static void may_job(struct adm *a, void *arg)
{
	struct may_job *j = arg;

	j->may = adm_may_restore(&a->env, j->auth, j->ip);
}

/*
 * Runs a command for an HTTP request on the AdminServer's thread (the
 * source and the info ops go online, RCU, as they need) and queues its
 * answer: JSON, or the file a
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
	struct run_job j = {.name = name, .call = &call};

	if (on_thread(a, run_job, &j))
		return MHD_NO; /* stopping: libmicrohttpd closes the connection */
	r = j.r;
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
		if (post && name && is_post_command(name)) {
			struct may_job j = {.auth = MHD_lookup_connection_value(
						c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
					    .ip = peer_ip(c, ip)};

			if (on_thread(a, may_job, &j))
				return MHD_NO;
			/* refused: answered 401/403/503 once the body is dropped */
			q->refused = !j.may;
		}
		if (post && name && is_post_command(name) && !q->refused) {
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

static void started(struct adm *a, int ret)
{
	pthread_mutex_lock(&a->lock);
	a->start_ret = ret;
	a->start_done = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

/*
 * The AdminServer's thread: starts the daemon (whose own thread inherits
 * this one's CPUs), then runs the jobs its handlers hand over, until
 * stopped; then stops the daemon (its handlers see stop and return at
 * once, so this does not wait on us).
 */
static void *loop(void *arg)
{
	struct adm *a = arg;
	const struct httpd_opts ho = {
	    .who = "AdminServer",
	    .addr = &a->sa,
	    .max_connections = ADM_MAX_CONNECTIONS,
	    .idle_timeout_s = a->idle_s,
	    .connection_memory = ADM_CONNECTION_MEMORY,
	    .handler = handle,
	    .handler_cls = a,
	    .completed = completed,
	};
	int ret = httpd_start(a->env.cfg, &ho, &a->d, &a->port);

	if (ret) {
		started(a, ret);
		return NULL;
	}
	if (a->rcu) {
		urcu_qsbr_register_thread();
		urcu_qsbr_thread_offline();
	}
	started(a, 0);
	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		void (*fn)(struct adm *, void *) = a->job;
		void *fn_arg = a->job_arg;
		uint64_t gen = a->job_gen;

		if (!fn) {
			pthread_cond_wait(&a->cond, &a->lock);
			continue;
		}
		a->job = NULL;
		a->taken_gen = gen;
		pthread_mutex_unlock(&a->lock);
		fn(a, fn_arg);
		pthread_mutex_lock(&a->lock);
		a->done_gen = gen;
		pthread_cond_broadcast(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	MHD_stop_daemon(a->d);
	a->d = NULL;
	if (a->rcu) {
		urcu_qsbr_thread_online();
		urcu_qsbr_unregister_thread();
	}
	return NULL;
}

static void adm_free(struct adm *a)
{
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int adm_start(const struct adm_opts *o, struct adm **out)
{
	const struct cfg *cfg = o->cfg;
	const char *host = cfg->admin_address ? cfg->admin_address : "0.0.0.0";
	struct adm *a;
	int ret;

	*out = NULL;
	if (!cfg->admin_enable)
		return 0;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	ret = cfg_ipv4_address(cfg->admin_address, cfg->admin_port, &a->sa);
	if (ret) {
		log_warn("AdminServer: cannot resolve admin.serverAddress %s", host);
		free(a);
		return ret;
	}
	a->env = (struct adm_env){.cfg = cfg, .source = o->source, .ctx = o->ctx, .info = o->info};
	a->url = cfg->admin_command_url ? cfg->admin_command_url : "/commands";
	a->url_len = strlen(a->url);
	a->rcu = o->rcu;
	a->idle_s = (unsigned)((cfg->admin_idle_timeout_ms + 999) / 1000);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	ret = pthread_create(&a->thread, NULL, loop, a);
	if (ret) {
		adm_free(a);
		return -ret;
	}
	pthread_setname_np(a->thread, "cheetah-admin");
	pthread_mutex_lock(&a->lock);
	while (!a->start_done)
		pthread_cond_wait(&a->cond, &a->lock);
	ret = a->start_ret;
	pthread_mutex_unlock(&a->lock);
	if (ret) {
		pthread_join(a->thread, NULL);
		log_warn("AdminServer: cannot listen on %s:%d: %s (the server runs without it)",
			 host, cfg->admin_port, strerror(-ret));
		adm_free(a);
		return ret;
	}
	a->started = true;
	log_info("AdminServer: serving %s on %s:%u", a->url, host, a->port);
	*out = a;
	return 0;
}

uint16_t adm_port(const struct adm *a)
{
	return a->port;
}

void adm_stop(struct adm *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	adm_free(a);
}
