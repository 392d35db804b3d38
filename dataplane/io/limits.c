/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection limits, shared by every worker of the dataplane.
 *
 * maxCnxns (whole server) and maxClientCnxns (per client IP) are
 * counted over all workers, as ZooKeeper's limits are per server, in one
 * small table guarded by one mutex, taken only when a connection is
 * accepted or freed (never on the request path).  It is the only mutable
 * state the workers share.  A refused connection is closed at once with
 * ZooKeeper's log line ("Too many connections from /ip - max is N").
 *
 * File descriptors are a third limit: running out of them used to kill
 * the server at its next log roll ("cannot create ... Too many open
 * files"), and every later accept failed.  dp_limits_fds (at start, once
 * the log and snapshots are open) sets fd_cap = RLIMIT_NOFILE - the
 * descriptors open then - a reserve (DP_FD_RESERVE_*: log, snapshots,
 * peer links, four-letter words); a connection beyond fd_cap is accepted
 * and closed at once, so the client fails fast and may try another
 * server, and the reserve is never eaten by clients.  The count is the
 * connection count the table keeps anyway (nconns), so the check costs
 * nothing; its log line comes at most every 10 s with the number refused
 * meanwhile, and names RLIMIT_NOFILE and its value.  Should accept itself
 * fail with EMFILE (descriptors taken elsewhere), the backend sheds the
 * pending connections and pauses its listener (sock.c).
 * Only a backend whose connections hold descriptors (DP_IO_CAP_CONN_FDS:
 * sock) is bounded so; dpdk's connections are control blocks of its own
 * stack (cheetah.dpdk.max_connections per worker, dpdk.c), and a 512-descriptor limit once
 * refused all but 450 of them.
 *
 * Thread: any worker, under limits_lock; dp_limits_init, dp_limits_fds
 * and dp_limits_fini on the main thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "config/config.h"
#include "dataplane/io/io_priv.h"

struct dp_ipcount {
	struct dp_ipcount *next;
	uint8_t family;
	uint8_t addr[16];
	uint32_t n;
};

int dp_limits_init(struct dp *dp)
{
	dp->fd_cap = UINT32_MAX; /* until dp_limits_fds */
	dp->ip_nbuckets = 256;
	dp->ip_buckets = calloc(dp->ip_nbuckets, sizeof(*dp->ip_buckets));
	if (!dp->ip_buckets)
		return -ENOMEM;
	pthread_mutex_init(&dp->limits_lock, NULL);
	return 0;
}

void dp_limits_fini(struct dp *dp)
{
	if (!dp->ip_buckets)
		return;
	for (uint32_t i = 0; i < dp->ip_nbuckets; i++) {
		struct dp_ipcount *e = dp->ip_buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(dp->ip_buckets);
	dp->ip_buckets = NULL;
	pthread_mutex_destroy(&dp->limits_lock);
}

/* The IP as a key: family and address bytes (v4-mapped v6 is v4). */
static void ip_key(const struct sockaddr_storage *ss, uint8_t *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET6) {
		*family = AF_INET6;
		memcpy(addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else {
		*family = AF_INET;
		memcpy(addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static uint32_t ip_hash(uint8_t family, const uint8_t addr[16])
{
	uint32_t h = 2166136261u ^ family;

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h;
}

static struct dp_ipcount **ip_find(struct dp *dp, uint8_t family, const uint8_t addr[16])
{
	struct dp_ipcount **pp = &dp->ip_buckets[ip_hash(family, addr) % dp->ip_nbuckets];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->family == family && memcmp((*pp)->addr, addr, 16) == 0)
			break;
	return pp;
}

/* Rate-limited refusal log (ZooKeeper rate-limits it too). */
static void log_refusal(struct dp_worker *w, const char *msg)
{
	static __thread uint64_t last_ns;
	static __thread uint32_t suppressed;
	uint64_t now = clock_mono_ns();

	(void)w;
	if (last_ns && now - last_ns < 1000000000ull) {
		suppressed++;
		return;
	}
	if (suppressed)
		log_warn("Error accepting new connection: %s (%u more refused in the last second)",
			 msg, suppressed);
	else
		log_warn("Error accepting new connection: %s", msg);
	last_ns = now;
	suppressed = 0;
}

int dp_limits_fds(struct dp *dp)
{
	const struct cfg *cfg = dp->cfg;
	uint64_t limit = fd_limit(), need;
	long open = fd_count();

	dp->fd_reserve = DP_FD_RESERVE_BASE + DP_FD_RESERVE_PER_WORKER * dp->nworkers +
			 DP_FD_RESERVE_PER_SERVER * (uint32_t)cfg->n_servers;
	dp->fd_limit = limit;
	if (open < 0) {
		log_warn("cannot count open file descriptors (/proc/self/fd: %s); assuming 64",
			 strerror((int)-open));
		open = 64;
	}
	need = (uint64_t)open + dp->fd_reserve;
	if (!(dp->ops->caps & DP_IO_CAP_CONN_FDS) || limit == UINT64_MAX ||
	    (limit > need && limit - need >= DP_CONN_MAX_SLOTS * (uint64_t)dp->nworkers)) {
		dp->fd_cap = UINT32_MAX;
		return 0;
	}
	if (limit <= need) {
		log_error("the file descriptor limit (RLIMIT_NOFILE) is %llu: %ld are open and %u "
			  "are kept in reserve for the log, snapshots, peer links and four-letter "
			  "words, which leaves none for clients; raise it (ulimit -n, systemd "
			  "LimitNOFILE=)",
			  (unsigned long long)limit, open, dp->fd_reserve);
		return -EMFILE;
	}
	dp->fd_cap = (uint32_t)(limit - need);
	log_info("file descriptors: RLIMIT_NOFILE %llu, %ld open, %u kept in reserve: at most "
		 "%u client connections",
		 (unsigned long long)limit, open, dp->fd_reserve, dp->fd_cap);
	return 0;
}

/* Counts the connection in; false (logged) when a limit refuses it. */
bool dp_limits_admit(struct dp_worker *w, struct dp_conn *c)
{
	struct dp *dp = w->dp;
	const struct cfg *cfg = dp->cfg;
	struct dp_ipcount **pp = NULL;
	uint8_t family, addr[16];
	uint64_t held;
	char msg[160];

	ip_key(&c->peer_addr, &family, addr);
	pthread_mutex_lock(&dp->limits_lock);
	if (dp->nconns >= dp->fd_cap) {
		bool say = log_every(&dp->fd_log, clock_mono_ns(), 10ull * 1000000000, &held);

		pthread_mutex_unlock(&dp->limits_lock);
		if (say)
			log_warn("refusing connections: %u are open, as many as the file "
				 "descriptor limit allows (RLIMIT_NOFILE is %llu, %u kept in "
				 "reserve for the log, snapshots and peer links); %llu more "
				 "refused since the last such line; raise the limit (ulimit -n)",
				 dp->fd_cap, (unsigned long long)dp->fd_limit, dp->fd_reserve,
				 (unsigned long long)held);
		return false;
	}
	if (cfg->max_cnxns > 0 && dp->nconns >= (uint32_t)cfg->max_cnxns) {
		pthread_mutex_unlock(&dp->limits_lock);
		snprintf(msg, sizeof(msg), "Too many connections max allowed is %d", cfg->max_cnxns);
		log_refusal(w, msg);
		return false;
	}
	if (cfg->max_client_cnxns > 0) {
		pp = ip_find(dp, family, addr);
		if (*pp && (*pp)->n >= (uint32_t)cfg->max_client_cnxns) {
			pthread_mutex_unlock(&dp->limits_lock);
			snprintf(msg, sizeof(msg), "Too many connections from /%s - max is %d",
				 c->peer_ip, cfg->max_client_cnxns);
			log_refusal(w, msg);
			return false;
		}
		if (!*pp) {
			*pp = calloc(1, sizeof(**pp));
			if (!*pp) {
				pthread_mutex_unlock(&dp->limits_lock);
				log_refusal(w, "out of memory");
				return false;
			}
			(*pp)->family = family;
			memcpy((*pp)->addr, addr, 16);
		}
		(*pp)->n++;
	}
	__atomic_store_n(&dp->nconns, dp->nconns + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&dp->limits_lock);
	return true;
}

void dp_limits_release(struct dp_worker *w, struct dp_conn *c)
{
	struct dp *dp = w->dp;
	uint8_t family, addr[16];

	ip_key(&c->peer_addr, &family, addr);
	pthread_mutex_lock(&dp->limits_lock);
	if (dp->cfg->max_client_cnxns > 0) {
		struct dp_ipcount **pp = ip_find(dp, family, addr);

		if (*pp && --(*pp)->n == 0) {
			struct dp_ipcount *e = *pp;

			*pp = e->next;
			free(e);
		}
	}
	__atomic_store_n(&dp->nconns, dp->nconns - 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&dp->limits_lock);
}
