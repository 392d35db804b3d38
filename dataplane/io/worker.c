/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dataplane workers: start-up, the event loop, shutdown.
 *
 * One thread per configured core (cheetah.dataplane.cores, pinned), or
 * cheetah.dataplane.workers unpinned ones (default 1) when no core is
 * configured.  Each worker owns a
 * backend instance with its own listener, its connections (conn.c) and
 * the state of the layers above (dp_upper_ops.worker_new on the main
 * thread, worker_start on the worker's own thread: the protocol state
 * and its pair of rings to the broadcast core).
 *
 * The loop, once per iteration:
 *   1. announce an RCU quiescent state (the worker is a QSBR reader: it
 *      holds no znode across iterations; the tree itself changes only by
 *      REPL_OUT_TREE, which the worker acknowledges, repl.h);
 *   2. poll the backend: without waiting when the last poll filled its
 *      batch or the layer above has work (ring, mailbox, a closed
 *      connection's watches: dp_upper_ops.has_work), else until the next
 *      tick, at most 1 ms while it waits for the core (.pending);
 *      a backend that sleeps in the kernel (DP_IO_CAP_SLEEPS) does so
 *      RCU-offline, so grace periods never wait for an idle worker;
 *   3. accept, read (framing hands requests to the layer above), write;
 *   4. dp_upper_ops.poll: the admin mailbox (four-letter words asked on
 *      other workers), then the protocol layer's poll: the ring from the
 *      core (results, events), a slice of a closed connection's watches;
 *   5. dp_upper_ops.tick every tickTime/2 (ZooKeeper's session timeouts
 *      are multiples of tickTime, so half of it bounds the error), which
 *      also gives oversized scratch space back, and trim the output pool;
 *      close TLS handshakes past their deadline and (worker 0, with
 *      client.certReload) look at the key and trust store files;
 *   6. write every connection's queued output (one send per connection
 *      per iteration, however many frames were queued), reap closed ones.
 *
 * TLS (io/tls.c): with secureClientPort each worker has a second
 * listener (the backend's listen_secure); the process-wide OpenSSL
 * context is made here, before the workers, so a bad key store stops
 * the start with one line.
 *
 * Wakeups.  A sleeping worker is woken by its eventfd, which the core
 * writes after pushing to the worker's ring (dp.c registers it with
 * repl_set_worker_wakeup) and which other workers write after posting to
 * its mailbox.  Before sleeping the worker asks the layer above once more
 * (has_work looks at the ring and the mailbox), so a push that raced
 * with the decision to sleep is not left waiting for the tick.
 *
 * Threads: dp_io_open, dp_io_start and dp_io_free run on the main thread; everything else
 * on the worker.  The stop flag is the only field of struct dp a worker
 * reads that the main thread writes after start-up.
 */
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "common/clock.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "config/config.h"
#include "dataplane/io/io_priv.h"

#define POLL_BATCH 64
#define ACCEPT_BUDGET 64
#define OUT_BOUND_MIN (4u << 20)
#define ACCEPT_LOG_INTERVAL_NS (10ull * 1000000000)

/* ---- Worker facts (io.h part 3) ---- */

uint32_t dp_worker_index(const struct dp_worker *w)
{
	return w->index;
}

const struct cfg *dp_worker_cfg(const struct dp_worker *w)
{
	return w->dp->cfg;
}

struct repl *dp_worker_repl(const struct dp_worker *w)
{
	return w->dp->repl;
}

struct nsstat *dp_worker_nsstat(const struct dp_worker *w)
{
	return w->dp->ns;
}

void dp_worker_stats_reset(struct dp_worker *w)
{
	__atomic_store_n(&w->st.bytes_received, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&w->st.rejected, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&w->st.tls_failed, 0, __ATOMIC_RELAXED);
}

uint32_t dp_worker_count(const struct cfg *cfg)
{
	/* One per listed core, pinned; else cheetah.dataplane.workers, unpinned (1). */
	if (cfg->n_dp_cores)
		return cfg->n_dp_cores;
	return cfg->dp_workers > 1 ? (uint32_t)cfg->dp_workers : 1;
}

uint16_t dp_port(const struct dp *dp)
{
	return dp->port;
}

uint32_t dp_nworkers(const struct dp *dp)
{
	return dp->nworkers;
}

uint16_t dp_secure_port(const struct dp *dp)
{
	return dp->secure_port;
}

const char *dp_backend(const struct dp *dp)
{
	return dp->ops->name;
}

void dp_worker_wake(struct dp_worker *w)
{
	uint64_t one = 1;

	if (w->efd >= 0 && write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("dataplane worker %u: eventfd write: %s", w->index, strerror(errno));
}

static bool stopping(const struct dp *dp)
{
	return __atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE) != 0;
}

/* ---- The loop ---- */

/*
 * accept failed for lack of resources: the backend shed `shed` pending
 * connections and paused.  One line per 10 s at most, with the count,
 * naming the cause (a flood used to log this every 10 ms).
 */
static void accept_starved(struct dp_worker *w, int err, uint64_t shed)
{
	struct dp_accept_log *l = &w->accept_log;
	uint64_t held;
	char why[192];

	__atomic_store_n(&w->st.rejected, w->st.rejected + shed, __ATOMIC_RELAXED);
	l->shed += shed;
	if (!log_every(&l->every, clock_mono_ns(), ACCEPT_LOG_INTERVAL_NS, &held))
		return;
	log_warn("dataplane worker %u: cannot accept connections: %s; %llu connections closed "
		 "unanswered (%llu failures) since the last such line; accepts pause and back off "
		 "up to 1 s",
		 w->index, fd_exhausted(err) ? fd_strerror(err, why, sizeof(why)) : strerror(-err),
		 (unsigned long long)l->shed, (unsigned long long)held + 1);
	l->shed = 0;
}

static void accept_some(struct dp_worker *w, bool secure)
{
	for (int i = 0; i < ACCEPT_BUDGET; i++) {
		struct sockaddr_storage peer;
		dp_io_handle h = 0;
		int ret = secure ? w->ops->accept_secure(w->io, &h, &peer)
				 : w->ops->accept(w->io, &h, &peer);

		if (ret == -EMFILE || ret == -ENFILE || ret == -ENOBUFS || ret == -ENOMEM) {
			accept_starved(w, ret, h);
			return;
		}
		if (ret)
			return;
		dp_conn_accepted(w, h, &peer, secure);
	}
}

static void drain_eventfd(struct dp_worker *w)
{
	uint64_t v;

	if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("dataplane worker %u: eventfd read: %s", w->index, strerror(errno));
}

static void worker_loop(struct dp_worker *w)
{
	struct dp *dp = w->dp;
	const struct dp_upper_ops *up = dp->upper;
	bool sleeps = dp->ops->caps & DP_IO_CAP_SLEEPS;
	struct dp_io_event ev[POLL_BATCH];
	bool busy = false;
	uint64_t now = clock_mono_ns();

	w->next_tick_ns = now + dp->tick_ns_half;
	while (!stopping(dp)) {
		int timeout = 0, n;

		urcu_qsbr_quiescent_state();
		/* A polling backend idles (its back-off) only when this says so. */
		if (!busy) {
			now = clock_mono_ns();
			if (now < w->next_tick_ns)
				timeout = (int)((w->next_tick_ns - now + 999999) / 1000000);
			if (timeout && up->has_work(w))
				timeout = 0;
			if (timeout > 1 && up->pending(w))
				timeout = 1;
		}
		if (timeout && sleeps)
			urcu_qsbr_thread_offline();
		n = dp->ops->poll(w->io, timeout, ev, POLL_BATCH);
		if (timeout && sleeps)
			urcu_qsbr_thread_online();
		if (n < 0) {
			log_error("dataplane worker %u: poll: %s", w->index, strerror(-n));
			n = 0;
		}
		busy = n == POLL_BATCH;
		for (int i = 0; i < n; i++) {
			if (ev[i].cookie == DP_IO_COOKIE_LISTEN)
				accept_some(w, false);
			else if (ev[i].cookie == DP_IO_COOKIE_LISTEN_SECURE)
				accept_some(w, true);
			else if (ev[i].cookie == DP_IO_COOKIE_WAKE)
				drain_eventfd(w);
			else
				dp_conn_io(w, (uint32_t)ev[i].cookie, ev[i].what);
		}
		up->poll(w);
		now = clock_mono_ns();
		if (now >= w->next_tick_ns) {
			up->tick(w, now);
			dp_conn_trim_pool(w);
			dp_conn_tls_tick(w, now);
			if (w->index == 0)
				dp_tls_reload(dp->tls); /* client.certReload */
			w->next_tick_ns = now + dp->tick_ns_half;
		}
		dp_conn_flush_all(w);
		dp_conn_reap(w, now);
	}
}

static void report_start(struct dp_worker *w, bool ok)
{
	struct dp *dp = w->dp;

	pthread_mutex_lock(&dp->start_lock);
	if (ok)
		dp->nready++;
	else
		dp->nfailed++;
	pthread_cond_broadcast(&dp->start_cond);
	pthread_mutex_unlock(&dp->start_lock);
}

static void *worker_main(void *arg)
{
	struct dp_worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "cheetah-dp%u", w->index);
	pthread_setname_np(pthread_self(), name);
	if (w->core >= 0) {
		cpu_set_t set;
		int ret;

		CPU_ZERO(&set);
		CPU_SET(w->core, &set);
		ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (ret) {
			log_error("dataplane worker %u: cannot pin to core %d "
				  "(cheetah.dataplane.cores): %s",
				  w->index, w->core, strerror(ret));
			report_start(w, false);
			return NULL;
		}
	}
	urcu_qsbr_register_thread();
	if (w->dp->upper->worker_start(w)) {
		log_error("dataplane worker %u: cannot create its protocol state", w->index);
		urcu_qsbr_unregister_thread();
		report_start(w, false);
		return NULL;
	}
	report_start(w, true);
	worker_loop(w);

	/*
	 * Shutdown: last writes, then every connection goes.  The protocol
	 * state is freed (worker_stop) only once every worker has left its
	 * loop, since a four-letter word on another worker may be reading
	 * its counters.
	 */
	dp_conn_flush_all(w);
	dp_conn_close_all(w);
	w->dp->upper->worker_drain(w);
	pthread_mutex_lock(&w->dp->start_lock);
	w->dp->nleft++;
	pthread_cond_broadcast(&w->dp->start_cond);
	while (w->dp->nleft < w->dp->nready)
		pthread_cond_wait(&w->dp->start_cond, &w->dp->start_lock);
	pthread_mutex_unlock(&w->dp->start_lock);
	w->dp->upper->worker_stop(w);
	urcu_qsbr_unregister_thread();
	return NULL;
}

/* ---- Start and stop ---- */

static const struct dp_io_ops *find_backend(const struct cfg *cfg)
{
	static const struct {
		enum cfg_dataplane kind;
		const char *name;
		const struct dp_io_ops *ops;
	} backends[] = {
		{ CFG_DATAPLANE_SOCK, "sock", &dp_io_sock_ops },
		{ CFG_DATAPLANE_DPDK, "dpdk", &dp_io_dpdk_ops },
	};

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (backends[i].kind != cfg->dataplane)
			continue;
		if (!backends[i].ops)
			log_error("cheetah.dataplane=%s: the %s backend is not built yet; use "
				  "cheetah.dataplane=sock",
				  backends[i].name, backends[i].name);
		return backends[i].ops;
	}
	log_error("cheetah.dataplane: unknown backend %d", (int)cfg->dataplane);
	return NULL;
}

int dp_check(const struct cfg *cfg)
{
	return find_backend(cfg) ? 0 : -EPROTONOSUPPORT;
}

/* The i-th configured core, or -1 when none is configured. */
static int nth_core(const struct cfg *cfg, uint32_t i)
{
	if (!cfg->n_dp_cores)
		return -1;
	for (unsigned core = 0; core < CFG_MAX_CORES; core++)
		if (cfg_dp_core_isset(cfg, core) && i-- == 0)
			return (int)core;
	return -1;
}

static int resolve(const char *key, const char *host, uint16_t portno,
		   struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	}, *res;
	char port[8];
	int ret;

	snprintf(port, sizeof(port), "%u", portno);
	ret = getaddrinfo(host && *host ? host : NULL, port, &hints, &res);
	if (ret) {
		log_error("cannot serve on %s %s: %s", key, host ? host : "(any)",
			  gai_strerror(ret));
		return -EADDRNOTAVAIL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void worker_free(struct dp *dp, struct dp_worker *w)
{
	if (!w)
		return;
	if (w->io)
		w->ops->fini(w->io);
	if (w->efd >= 0)
		close(w->efd); /* dp.c unregistered it from the core first */
	if (w->upper)
		dp->upper->worker_free(w);
	free(w->slots);
	free(w->scratch);
	jute_out_free(&w->sink);
	while (w->out_pool_n)
		jute_out_free(&w->out_pool[--w->out_pool_n]);
	free(w);
}

static int worker_new(struct dp *dp, uint32_t index, const struct sockaddr *addr, socklen_t alen,
		      const struct sockaddr *saddr, socklen_t salen, struct dp_worker **out)
{
	const struct cfg *cfg = dp->cfg;
	struct dp_worker *w;
	int ret;

	w = aligned_alloc(64, (sizeof(*w) + 63) / 64 * 64);
	if (!w)
		return -ENOMEM;
	memset(w, 0, sizeof(*w));
	w->dp = dp;
	w->index = index;
	w->core = nth_core(cfg, index);
	w->ops = dp->ops;
	w->efd = -1;
	w->free_head = w->free_tail = UINT32_MAX;
	jute_out_init(&w->sink, 0);
	*out = w;
	w->scratch = malloc(DP_RECV_CHUNK);
	if (!w->scratch)
		return -ENOMEM;
	ret = dp->upper->worker_new(w);
	if (ret)
		return ret;
	ret = dp->ops->init(&w->io, index);
	if (ret)
		return ret;
	if (dp->ops->caps & DP_IO_CAP_SLEEPS) {
		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->efd < 0) {
			ret = -errno;
			log_error("dataplane worker %u: eventfd: %s", index, strerror(errno));
			return ret;
		}
		ret = dp->ops->watch_fd(w->io, w->efd, DP_IO_COOKIE_WAKE);
		if (ret) {
			log_error("dataplane worker %u: cannot watch its eventfd: %s", index,
				  strerror(-ret));
			return ret;
		}
	}
	ret = 0;
	if (addr)
		ret = dp->ops->listen(w->io, addr, alen, cfg->client_port_listen_backlog,
				      index == 0, &w->port);
	if (!ret && saddr)
		ret = dp->ops->listen_secure(w->io, saddr, salen, cfg->client_port_listen_backlog,
					     index == 0, &w->secure_port);
	return ret;
}

static void free_all(struct dp *dp)
{
	/* Answering a request may hand it to any worker's done list: two passes. */
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < dp->nworkers; i++)
			if (dp->workers[i] && dp->workers[i]->upper)
				dp->upper->worker_drain(dp->workers[i]);
	for (uint32_t i = 0; i < dp->nworkers; i++)
		worker_free(dp, dp->workers[i]);
	free(dp->workers);
	dp_tls_close(dp->tls);
	if (dp->opened && dp->ops->close_all)
		dp->ops->close_all();
	if (dp->upper_dp)
		dp->upper->close(dp);
	dp_limits_fini(dp);
	pthread_mutex_destroy(&dp->start_lock);
	pthread_cond_destroy(&dp->start_cond);
	free(dp);
}

void dp_io_stop_threads(struct dp *dp)
{
	if (__atomic_load_n(&dp->stop, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&dp->stop, 1, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < dp->nworkers; i++)
		if (dp->workers[i] && dp->workers[i]->started)
			dp_worker_wake(dp->workers[i]);
	for (uint32_t i = 0; i < dp->nworkers; i++)
		if (dp->workers[i] && dp->workers[i]->started)
			pthread_join(dp->workers[i]->thread, NULL);
}

int dp_io_open(const struct cfg *cfg, const struct dp_upper_ops *upper, struct dp **out)
{
	struct sockaddr_storage addr = { 0 }, saddr = { 0 };
	socklen_t alen = 0, salen = 0;
	bool have_secure = false, have_plain = false;
	struct dp *dp;
	uint64_t half;
	int ret;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->cfg = cfg;
	dp->upper = upper;
	dp->nworkers = dp_worker_count(cfg);
	dp->max_frame = (uint32_t)cfg->jute_max_buffer;
	dp->out_bound = 2 * (size_t)cfg->jute_max_buffer;
	if (dp->out_bound < OUT_BOUND_MIN)
		dp->out_bound = OUT_BOUND_MIN;
	half = (uint64_t)(cfg->tick_time > 0 ? cfg->tick_time : 2000) * 1000000ull / 2;
	dp->tick_ns_half = half;
	dp->start_ns = clock_mono_ns();
	dp->start_wall_ms = (uint64_t)clock_wall_ms();
	pthread_mutex_init(&dp->start_lock, NULL);
	pthread_cond_init(&dp->start_cond, NULL);
	dp->workers = calloc(dp->nworkers, sizeof(*dp->workers));
	ret = dp->workers ? dp_limits_init(dp) : -ENOMEM;
	if (!ret)
		ret = upper->open(dp);
	if (ret) {
		dp->nworkers = 0;
		free_all(dp);
		return ret;
	}
	dp->ops = find_backend(cfg);
	if (!dp->ops) {
		free_all(dp);
		return -EPROTONOSUPPORT;
	}
	/*
	 * secureClientPort alone: no plain listener.  cfg_finalize sets
	 * clientPortAddress exactly when clientPort is set (tests then put
	 * clientPort 0 for an ephemeral port).
	 */
	ret = 0;
	if (cfg->client_port_address) {
		ret = resolve("clientPortAddress", cfg->client_port_address, cfg->client_port,
			      &addr, &alen);
		have_plain = ret == 0;
	}
	if (!ret && cfg_tls_wanted(&cfg->tls)) {
		/* config refuses TLS with a backend that cannot (dpdk); this is the backstop. */
		if (!(dp->ops->caps & DP_IO_CAP_TLS)) {
			log_error("TLS (secureClientPort, client.portUnification) is not served by "
				  "cheetah.dataplane=%s",
				  dp->ops->name);
			ret = -EPROTONOSUPPORT;
		} else {
			ret = dp_tls_open(cfg, &dp->tls);
			if (ret == -EINVAL)
				ret = -EPROTONOSUPPORT; /* logged, with the key at fault */
		}
	}
	if (!ret && cfg->tls.secure_client_port) {
		ret = resolve("secureClientPortAddress", cfg->tls.secure_client_port_address,
			      cfg->tls.secure_client_port, &saddr, &salen);
		have_secure = ret == 0;
	}
	if (!ret && dp->ops->open) {
		ret = dp->ops->open(cfg, dp->nworkers);
		dp->opened = ret == 0;
	}
	for (uint32_t i = 0; !ret && i < dp->nworkers; i++) {
		ret = worker_new(dp, i, have_plain ? (struct sockaddr *)&addr : NULL, alen,
				 have_secure ? (struct sockaddr *)&saddr : NULL, salen,
				 &dp->workers[i]);
		if (!ret && i == 0) {
			/* The others join the group on the port the first one got. */
			dp->port = dp->workers[0]->port;
			((struct sockaddr_in *)&addr)->sin_port = htons(dp->port);
			dp->secure_port = dp->workers[0]->secure_port;
			((struct sockaddr_in *)&saddr)->sin_port = htons(dp->secure_port);
		}
	}
	if (ret) {
		if (ret == -ENOMEM)
			log_error("dataplane: out of memory");
		free_all(dp);
		return ret;
	}
	*out = dp;
	return 0;
}

int dp_io_prepare(struct dp *dp, struct repl *repl)
{
	dp->repl = repl;
	return dp_limits_fds(dp);
}

struct repl *dp_io_repl(const struct dp *dp)
{
	return dp->repl;
}

int dp_io_wake_fd(const struct dp *dp, uint32_t i)
{
	assert(i < dp->nworkers);
	return dp->workers[i]->efd;
}

int dp_io_start(struct dp *dp)
{
	int ret = 0;

	for (uint32_t i = 0; i < dp->nworkers; i++) {
		ret = pthread_create(&dp->workers[i]->thread, NULL, worker_main, dp->workers[i]);
		if (ret) {
			log_error("dataplane: cannot start worker %u: %s", i, strerror(ret));
			ret = -ret;
			break;
		}
		dp->workers[i]->started = true;
	}
	if (!ret) {
		pthread_mutex_lock(&dp->start_lock);
		while (dp->nready + dp->nfailed < dp->nworkers)
			pthread_cond_wait(&dp->start_cond, &dp->start_lock);
		if (dp->nfailed)
			ret = -EINVAL;
		pthread_mutex_unlock(&dp->start_lock);
	}
	if (ret)
		dp_io_stop_threads(dp);
	return ret;
}

void dp_io_free(struct dp *dp)
{
	for (uint32_t i = 0; i < dp->nworkers; i++)
		assert(!dp->workers[i] || !dp->workers[i]->started || dp->stop);
	free_all(dp);
}
