/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_stats_snapshot (dp_stats.h): the server's figures as a structure,
 * for /metrics, from the same sources as the four-letter words (stats.c's
 * dp_admin_totals for the workers' counters summed, the log writer's
 * summaries, the core's published quorum view, the tree), plus what the
 * words have no use for: each worker's counters on their own, the reply
 * latency histograms (never reset, unlike srst's min/avg/max), and
 * ephemerals_count over every session in the tree (ZooKeeper's
 * DataTree.getEphemeralsCount; mntr sums the connected sessions' only,
 * which each worker keeps up to date on its tick).  The replication
 * side of ZooKeeper's ServerMetrics (proposals, commits, syncs, start-up
 * and snapshot times, propagation latencies) comes from repl_zk_stats and
 * repl_zk_hist, which the core, the loader and the snapshot worker publish
 * without a lock the core takes.
 *
 * Why a structure next to the texts: a consumer that needs numbers
 * (Prometheus' text format, JSON) should not parse text that was built
 * to look like ZooKeeper's; the AdminServer's commands can move to it
 * (docs/ARCHITECTURE.md, "Metrics").
 *
 * Thread: any registered RCU reader that is neither a worker nor the
 * broadcast core (it reads the tree online, for O(sessions with
 * ephemerals)); takes no lock.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <urcu/urcu-qsbr.h>

#include "common/clock.h"
#include "dataplane/admin/admin_priv.h"
#include "dataplane/dp_stats.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"
#include "tree/tree.h"

static void add_ephemerals(void *arg, int64_t session)
{
	struct {
		struct tree *t;
		uint64_t n;
	} *a = arg;

	a->n += tree_session_ephemeral_count(a->t, session);
}

/* The tree's figures; online RCU reader. */
static void tree_figures(struct dp *dp, struct dp_stats *s)
{
	struct tree *t = dp_admin_tree(dp);
	struct {
		struct tree *t;
		uint64_t n;
	} a = {t, 0};

	if (!t)
		return;
	s->znode_count = tree_node_count(t) + 1; /* DataTree counts the root twice */
	s->approximate_data_size = tree_approximate_data_size(t);
	s->last_zxid = tree_last_zxid(t);
	tree_ephemeral_sessions_foreach(t, add_ephemerals, &a);
	s->ephemerals_count = a.n;
}

_Static_assert(DP_STATS_MAX_ACK == REPL_ACK_KEYS, "a dp_stats slot per ack_latency key");
_Static_assert((int)DP_STATS_NET_COUNTER == (int)DP_IO_COUNTER &&
		   (int)DP_STATS_NET_GAUGE == (int)DP_IO_GAUGE &&
		   (int)DP_STATS_NET_DEVICE == (int)DP_IO_DEVICE,
	       "dp_stats.h and io_priv.h name the kinds alike");

/* The backend's own counters of worker w into c (names and kinds into s, once). */
static void net_figures(struct dp_worker *w, struct dp_stats *s, struct dp_stats_core *c)
{
	struct dp_io_counter v[DP_STATS_MAX_NET];
	size_t n;

	if (!w->ops->counters)
		return;
	n = w->ops->counters(w->io, v, DP_STATS_MAX_NET);
	assert(n <= DP_STATS_MAX_NET);
	if (!s->nnet) {
		for (size_t i = 0; i < n; i++) {
			s->net_name[i] = v[i].name;
			s->net_kind[i] = v[i].kind;
		}
		s->nnet = (uint32_t)n;
	}
	assert(n == s->nnet); /* the same list from every worker */
	for (size_t i = 0; i < n; i++)
		c->net[i] = v[i].value;
}

/*
 * Each worker's own figures (cores[]) and its histograms merged; the
 * sums over the workers are dp_admin_totals'.
 */
static void core_figures(struct dp *dp, struct dp_stats *s)
{
	struct hist r, u, fired[4];

	s->ncores = 0;
	for (uint32_t i = 0; i < dp->nworkers; i++) {
		struct dp_worker *w = dp->workers[i];
		struct dp_proto *p = dp_admin_proto_of(w);
		struct dp_stats_core *c = i < DP_STATS_MAX_CORES ? &s->cores[s->ncores] : NULL;
		struct dp_proto_stats ps = {0};

		if (p) {
			dp_proto_stats(p, &ps);
			dp_proto_latency(p, &r, &u);
			hist_merge(&s->read_us, &r);
			hist_merge(&s->update_us, &u);
			dp_proto_watch_fired(p, fired);
			for (int k = 0; k < 4; k++)
				hist_merge(&s->watch_fired[k], &fired[k]);
		} else {
			r.count = u.count = 0;
		}
		if (!c)
			continue;
		s->ncores++;
		c->worker = i;
		c->cpu = w->core;
		c->packets_received =
		    ps.packets_received +
		    __atomic_load_n(&dp_admin_worker_of(w)->fourlw, __ATOMIC_RELAXED);
		c->packets_sent = ps.packets_sent;
		c->bytes_received = __atomic_load_n(&w->st.bytes_received, __ATOMIC_RELAXED);
		c->rejected = __atomic_load_n(&w->st.rejected, __ATOMIC_RELAXED);
		c->requests = r.count + u.count;
		c->outstanding = ps.outstanding;
		c->watches = ps.watches;
		c->connections = ps.connections;
		c->sessions = ps.sessions;
		net_figures(w, s, c);
	}
}

/* Every table's histograms per slot and kind (nsstat_merge: lock-free). */
static void namespace_figures(const struct nsstat *ns, struct dp_stats *s)
{
	struct nsstat_fig *f = malloc(sizeof(*f));

	if (!f)
		return; /* out of memory: the sets are exported empty */
	s->ns_nkeys = nsstat_nkeys(ns);
	for (uint32_t i = 0; i < NSSTAT_SLOTS; i++) {
		if (i >= s->ns_nkeys && i != NSSTAT_OTHER)
			continue;
		snprintf(s->ns_key[i], sizeof(s->ns_key[i]), "%s", nsstat_key(ns, i));
		for (uint32_t k = 0; k < NSSTAT_KINDS; k++) {
			nsstat_merge(ns, k, i, 1, f);
			s->ns_hist[k][i] = f->h;
		}
	}
	free(f);
}

int dp_stats_snapshot(struct dp *dp, struct dp_stats *s)
{
	struct dp_admin_totals t;
	struct dp_admin_repl_counters rc;
	struct repl_summary batch = {0}, fsync = {0};
	struct repl_quorum q;
	struct rlimit rl;
	bool online;

	memset(s, 0, sizeof(*s));
	if (!dp->repl)
		return -EAGAIN;
	dp_admin_totals(dp, &t);
	s->version = dp_admin_zk_version();
	s->uptime_ms = (clock_mono_ns() - dp->start_ns) / 1000000;
	s->server_state = dp_admin_server_state(dp);
	s->packets_received = t.p.packets_received;
	s->packets_sent = t.p.packets_sent;
	s->outstanding = t.p.outstanding;
	s->connections = t.conns;
	s->bytes_received = t.bytes_received;
	s->rejected = t.rejected;
	s->watches = t.p.watches;
	s->response_bytes = t.p.response_bytes;
	s->watch_bytes = t.p.watch_bytes;
	s->sessionless_expired = t.p.sessionless_expired;
	s->conn_revalidate = t.p.conn_revalidate;
	s->last_response_size = t.resp_last;
	s->min_response_size = t.resp_min;
	s->max_response_size = t.resp_max;
	s->have_latency = t.have_latency;
	s->latency_min_us = t.p.latency_min_us;
	s->latency_max_us = t.p.latency_max_us;
	s->latency_sum_us = t.p.latency_sum_us;
	s->latency_count = t.p.latency_count;
	s->global_sessions = repl_session_count(dp->repl);
	s->open_fds = dp_admin_open_fds();
	s->max_fds = getrlimit(RLIMIT_NOFILE, &rl) ? 0 : (uint64_t)rl.rlim_cur;
	core_figures(dp, s);

	repl_sync_summaries(dp->repl, &batch, &fsync);
	s->batch_size = (struct dp_stats_summary){batch.cnt, batch.sum, batch.min, batch.max};
	s->fsync_ms = (struct dp_stats_summary){fsync.cnt, fsync.sum, fsync.min, fsync.max};
	repl_sync_hists(dp->repl, &s->batch_hist, &s->fsync_us_hist);
	dp_admin_repl_counters(dp, false, &rc, &s->election_ms);
	s->looking_count = rc.looking;
	s->stale_expired = rc.stale;
	s->revalidate = rc.revalidate;
	s->diff_count = rc.diffs;
	s->unrecoverable_error_count = rc.unrecoverable;
	s->proposal_count = rc.proposals;
	s->commit_count = rc.commits;
	s->snap_count = rc.snaps;
	s->learner_proposal_count = rc.learner_proposals;
	s->learner_commit_count = rc.learner_commits;
	repl_zk_hist(dp->repl, REPL_ZK_DB_INIT_MS, &s->db_init_ms);
	repl_zk_hist(dp->repl, REPL_ZK_SNAP_LOAD_MS, &s->startup_snap_ms);
	repl_zk_hist(dp->repl, REPL_ZK_TXNS_LOAD_MS, &s->startup_txns_ms);
	repl_zk_hist(dp->repl, REPL_ZK_TXNS_LOADED, &s->startup_txns_loaded);
	repl_zk_hist(dp->repl, REPL_ZK_SNAPSHOT_MS, &s->snapshot_ms);
	repl_zk_hist(dp->repl, REPL_ZK_INFLIGHT_SNAPS, &s->inflight_snaps);
	repl_zk_hist(dp->repl, REPL_ZK_UNAVAILABLE_MS, &s->unavailable_ms);
	repl_zk_hist(dp->repl, REPL_ZK_LEADER_UNAVAILABLE_MS, &s->leader_unavailable_ms);
	repl_zk_hist(dp->repl, REPL_ZK_PROPAGATION_MS, &s->propagation_ms);
	repl_zk_hist(dp->repl, REPL_ZK_QUORUM_ACK_MS, &s->quorum_ack_ms);
	repl_zk_hist(dp->repl, REPL_ZK_COMMIT_PROPAGATION_MS, &s->commit_propagation_ms);
	repl_zk_hist(dp->repl, REPL_ZK_PROPOSAL_MS, &s->proposal_ms);
	repl_zk_hist(dp->repl, REPL_ZK_FOLLOWER_SYNC_MS, &s->follower_sync_ms);
	repl_zk_hist(dp->repl, REPL_ZK_OBSERVER_SYNC_MS, &s->observer_sync_ms);
	repl_zk_hist(dp->repl, REPL_ZK_PROPOSAL_ACK_MS, &s->proposal_ack_ms);
	s->nack = repl_ack_hists(dp->repl, s->ack_id, s->ack_ms, DP_STATS_MAX_ACK);

	s->myid = repl_myid(dp->repl);
	s->leader_id = repl_leader_id(dp->repl);
	if (repl_quorum_stats(dp->repl, &q)) {
		s->leader = true;
		s->learners = q.learners;
		s->synced_followers = q.synced_followers;
		s->synced_observers = q.synced_observers;
		s->pending_syncs = q.pending_syncs;
		s->quorum_size = q.quorum_size;
		s->leader_uptime_ms = q.leader_uptime_ms;
		s->last_proposal_size = q.last_proposal_size;
		s->min_proposal_size = q.min_proposal_size;
		s->max_proposal_size = q.max_proposal_size;
		for (uint32_t id = 1; id < 256; id++) {
			if (!(q.lag_mask[id / 64] >> (id % 64) & 1))
				continue;
			assert(s->nlag < sizeof(s->lag_id) / sizeof(s->lag_id[0]));
			s->lag_id[s->nlag] = id;
			s->lag_entries[s->nlag++] = q.lag[id];
		}
	}

	if (dp->ns)
		namespace_figures(dp->ns, s);

	online = urcu_qsbr_read_ongoing();
	if (!online)
		urcu_qsbr_thread_online();
	tree_figures(dp, s);
	if (!online)
		urcu_qsbr_thread_offline();
	if (s->leader && q.epoch_zxid > s->last_zxid)
		s->last_zxid = q.epoch_zxid; /* as srvr's Zxid: a new leader's epoch at once */
	assert(s->ncores <= DP_STATS_MAX_CORES);
	return 0;
}
