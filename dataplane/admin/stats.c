/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numbers and lines several four-letter words share: the counters summed
 * over every worker (dp_admin_totals: each worker's protocol-layer
 * counters through dp_proto_stats, read-only sharing, plus the admin and
 * I/O layers' own), latencies in ZooKeeper's milliseconds and rounding,
 * the version line, and StatCommand's server figures (ServerStats.toString)
 * for srvr and stat.  See fourlw.c's opening comment, "Where the numbers
 * come from".
 *
 * Thread: any worker (reads other workers' counters with relaxed loads).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hist.h"
#include "common/log.h"
#include "config/config.h"
#include "dataplane/admin/admin_priv.h"
#include "dataplane/admin/admin.h"
#include "dataplane/io/io_priv.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"
#include "tree/tree.h"

/* The ZooKeeper release whose client protocol and admin texts Cheetah speaks. */
#define ZK_COMPAT_VERSION "3.8.0"

/* ---- Text helpers ---- */

/*
 * A double as Java's Double.toString prints it: the shortest digits that
 * read back as the same double, plain between 10^-3 and 10^7 with at
 * least one digit after the point ("0.0", "12.5"), else d.dddE<n>.
 */
void dp_admin_java_double(char *buf, size_t len, double v)
{
	char digits[32];
	int prec, exp10;

	if (v == 0) {
		snprintf(buf, len, "0.0");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(digits, sizeof(digits), "%.*e", prec - 1, v);
		if (strtod(digits, NULL) == v)
			break;
	}
	exp10 = atoi(strchr(digits, 'e') + 1);
	if (fabs(v) >= 1e-3 && fabs(v) < 1e7) {
		int decimals = prec - 1 - exp10;

		snprintf(buf, len, "%.*f", decimals > 0 ? decimals : 1, v);
		return;
	}
	/* d.ddd then E<exp>: the mantissa keeps at least one decimal. */
	char *e = strchr(digits, 'e');

	*e = '\0';
	if (!strchr(digits, '.'))
		strcat(digits, ".0");
	snprintf(buf, len, "%.24sE%d", digits, exp10);
}

/* ZooKeeper's full version line: "3.8.0-cheetah-0.1.0, built on ... UTC". */
static pthread_once_t version_once = PTHREAD_ONCE_INIT;
static char version_text[96];

static void version_init(void)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *date = __DATE__; /* "Mmm dd yyyy" */
	char mon[4] = { date[0], date[1], date[2], 0 };
	const char *m = strstr(months, mon);

	snprintf(version_text, sizeof(version_text), "%s-cheetah-%s, built on %.4s-%02d-%02d %.5s UTC",
		 ZK_COMPAT_VERSION, cfg_version(), date + 7, m ? (int)(m - months) / 3 + 1 : 1,
		 atoi(date + 4), __TIME__);
}

const char *dp_admin_zk_version(void)
{
	pthread_once(&version_once, version_init);
	return version_text;
}

/* ---- Numbers over all workers ---- */

_Static_assert(sizeof(struct dp_admin_repl_counters) == sizeof(((struct dp *)0)->mntr_repl_base),
	       "one baseline per counter");

void dp_admin_repl_counters(struct dp *dp, bool since_srst, struct dp_admin_repl_counters *out,
			    struct hist *election)
{
	struct repl_zk_stats zk;
	uint64_t *v = (uint64_t *)out;

	memset(out, 0, sizeof(*out));
	if (!dp->repl)
		return;
	repl_zk_stats(dp->repl, &zk);
	out->proposals = zk.proposals;
	out->commits = zk.commits;
	out->learner_proposals = zk.learner_proposals;
	out->learner_commits = zk.learner_commits;
	out->snaps = zk.snaps;
	out->diffs = zk.diffs;
	out->unrecoverable = zk.unrecoverable;
	out->stale = repl_stale_sessions_expired(dp->repl);
	out->revalidate = repl_revalidate_count(dp->repl);
	if (election) {
		repl_election_stats(dp->repl, &out->looking, election);
	} else {
		struct hist *h = malloc(sizeof(*h)); /* a few KiB: off the worker's stack */

		if (h) {
			repl_election_stats(dp->repl, &out->looking, h);
			free(h);
		}
	}
	if (!since_srst)
		return;
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++) {
		uint64_t base = __atomic_load_n(&dp->mntr_repl_base[i], __ATOMIC_RELAXED);

		v[i] = v[i] >= base ? v[i] - base : 0; /* counters never go down */
	}
}

void dp_admin_repl_counters_reset(struct dp *dp)
{
	struct dp_admin_repl_counters c;
	const uint64_t *v = (const uint64_t *)&c;

	dp_admin_repl_counters(dp, false, &c, NULL);
	for (size_t i = 0; i < sizeof(c) / sizeof(uint64_t); i++)
		__atomic_store_n(&dp->mntr_repl_base[i], v[i], __ATOMIC_RELAXED);
}

void dp_admin_totals(struct dp *dp, struct dp_admin_totals *t)
{
	uint64_t last_ns = 0;

	memset(t, 0, sizeof(*t));
	t->resp_last = t->resp_min = t->resp_max = -1;
	for (uint32_t i = 0; i < dp->nworkers; i++) {
		struct dp_worker *w = dp->workers[i];
		struct dp_proto *p = dp_admin_proto_of(w);
		struct dp_proto_stats s;

		t->fourlw += __atomic_load_n(&dp_admin_worker_of(w)->fourlw, __ATOMIC_RELAXED);
		t->bytes_received += __atomic_load_n(&w->st.bytes_received, __ATOMIC_RELAXED);
		t->rejected += __atomic_load_n(&w->st.rejected, __ATOMIC_RELAXED);
		t->tls_failed += __atomic_load_n(&w->st.tls_failed, __ATOMIC_RELAXED);
		if (!p)
			continue;
		memset(&s, 0, sizeof(s));
		dp_proto_stats(p, &s);
		t->p.packets_received += s.packets_received;
		t->p.packets_sent += s.packets_sent;
		t->p.outstanding += s.outstanding;
		t->p.watches += s.watches;
		t->p.watched_paths += s.watched_paths;
		t->p.ephemerals_hint += s.ephemerals_hint;
		t->p.sessions += s.sessions;
		t->p.stage.reads_at_once += s.stage.reads_at_once;
		t->p.stage.reads_queued += s.stage.reads_queued;
		t->p.stage.reads_queued_ns += s.stage.reads_queued_ns;
		t->p.stage.reads_core += s.stage.reads_core;
		t->p.stage.reads_core_ns += s.stage.reads_core_ns;
		t->p.stage.writes += s.stage.writes;
		t->p.stage.writes_ns += s.stage.writes_ns;
		t->p.stage.parked += s.stage.parked;
		t->p.stage.parked_ns += s.stage.parked_ns;
		t->p.stage.behind += s.stage.behind;
		t->p.stage.behind_ns += s.stage.behind_ns;
		t->p.response_bytes += s.response_bytes;
		t->p.watch_bytes += s.watch_bytes;
		t->p.sessionless_expired += s.sessionless_expired;
		t->p.conn_revalidate += s.conn_revalidate;
		t->mntr_response_bytes += s.response_bytes - s.srst_response_bytes;
		t->mntr_watch_bytes += s.watch_bytes - s.srst_watch_bytes;
		t->mntr_sessionless += s.sessionless_expired - s.srst_sessionless;
		t->mntr_revalidate += s.conn_revalidate - s.srst_revalidate;
		for (int k = 0; k < 4; k++) {
			struct repl_summary *ws = &t->watch_fired[k];

			if (!s.watch_fired[k].cnt)
				continue;
			if (!ws->cnt || s.watch_fired[k].min < ws->min)
				ws->min = s.watch_fired[k].min;
			if (s.watch_fired[k].max > ws->max)
				ws->max = s.watch_fired[k].max;
			ws->cnt += s.watch_fired[k].cnt;
			ws->sum += s.watch_fired[k].sum;
		}
		if (s.resp_max) { /* a frame since start or srst; newest worker's last */
			if (t->resp_max < 0 || s.resp_last_ns >= last_ns) {
				last_ns = s.resp_last_ns;
				t->resp_last = s.resp_last;
			}
			if (t->resp_min < 0 || s.resp_min < t->resp_min)
				t->resp_min = s.resp_min;
			if ((int64_t)s.resp_max > t->resp_max)
				t->resp_max = s.resp_max;
		}
		if (s.latency_count) {
			if (!t->have_latency || s.latency_min_us < t->p.latency_min_us)
				t->p.latency_min_us = s.latency_min_us;
			if (s.latency_max_us > t->p.latency_max_us)
				t->p.latency_max_us = s.latency_max_us;
			t->p.latency_sum_us += s.latency_sum_us;
			t->p.latency_count += s.latency_count;
			t->have_latency = true;
		}
	}
	t->p.packets_received += t->fourlw;
	t->conns = __atomic_load_n(&dp->nconns, __ATOMIC_RELAXED);
}

int64_t dp_admin_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int64_t n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Latencies in ms as ZooKeeper's AvgMinMaxCounter gives them. */
uint64_t dp_admin_lat_min_ms(const struct dp_admin_totals *t)
{
	return t->have_latency ? t->p.latency_min_us / 1000 : 0;
}

/*
 * ZooKeeper measures whole milliseconds (a difference of two ms clocks),
 * so its max is at least 1 once a request crossed a millisecond; rounding
 * ours up keeps min <= avg <= max as in its output.
 */
uint64_t dp_admin_lat_max_ms(const struct dp_admin_totals *t)
{
	return t->have_latency ? (t->p.latency_max_us + 999) / 1000 : 0;
}

void dp_admin_lat_avg_ms(const struct dp_admin_totals *t, char *buf, size_t len)
{
	double avg = 0;

	if (t->p.latency_count) {
		avg = (double)t->p.latency_sum_us / 1000.0 / (double)t->p.latency_count;
		avg = floor(avg * 10000.0 + 0.5) / 10000.0; /* setScale(4, HALF_UP) */
	}
	dp_admin_java_double(buf, len, avg);
}

/* AvgMinMaxCounter.getAvg: sum / cnt to 4 decimals, HALF_UP; 0 when empty. */
void dp_admin_summary_avg(const struct repl_summary *s, char *buf, size_t len)
{
	dp_admin_java_double(buf, len, dp_admin_avg4(s->sum, s->cnt));
}

double dp_admin_avg4(uint64_t sum, uint64_t cnt)
{
	if (!cnt)
		return 0;
	return floor((double)sum / (double)cnt * 10000.0 + 0.5) / 10000.0;
}

struct tree *dp_admin_tree(struct dp *dp)
{
	return dp->repl ? repl_tree(dp->repl) : NULL;
}

uint64_t dp_admin_node_count(struct dp *dp)
{
	struct tree *t = dp_admin_tree(dp);

	/* DataTree counts the root twice ("" and "/"). */
	return t ? tree_node_count(t) + 1 : 0;
}

static int64_t last_zxid(struct dp *dp)
{
	struct tree *t = dp_admin_tree(dp);
	int64_t z = t ? tree_last_zxid(t) : 0;
	struct repl_quorum q;

	/* A leader reports its new epoch at once, as ZooKeeper's (0x<term>00000000). */
	if (dp->repl && repl_quorum_stats(dp->repl, &q) && q.epoch_zxid > z)
		z = q.epoch_zxid;
	return z;
}

const char *dp_admin_server_state(const struct dp *dp)
{
	return dp->repl ? repl_server_state(dp->repl) : "standalone";
}

/* ---- Commands answered on the spot ---- */

/* StatCommand's first lines (srvr, stat). */
void dp_admin_version_lines(struct dp *dp, struct jute_out *o)
{
	jute_out_printf(o, "Zookeeper version: %s\n", dp_admin_zk_version());
	if (!strcmp(dp_admin_server_state(dp), "read-only"))
		dp_admin_outs(o, "READ-ONLY mode; serving only read-only clients\n");
}

void dp_admin_server_stats(struct dp *dp, const struct dp_admin_totals *t, struct jute_out *o)
{
	char avg[40];

	dp_admin_lat_avg_ms(t, avg, sizeof(avg));
	jute_out_printf(o, "Latency min/avg/max: %" PRIu64 "/%s/%" PRIu64 "\n", dp_admin_lat_min_ms(t), avg,
	     dp_admin_lat_max_ms(t));
	jute_out_printf(o, "Received: %" PRIu64 "\n", t->p.packets_received);
	jute_out_printf(o, "Sent: %" PRIu64 "\n", t->p.packets_sent);
	jute_out_printf(o, "Connections: %u\n", t->conns);
	jute_out_printf(o, "Outstanding: %" PRIu64 "\n", t->p.outstanding);
	jute_out_printf(o, "Zxid: 0x%" PRIx64 "\n", (uint64_t)last_zxid(dp));
	jute_out_printf(o, "Mode: %s\n", dp_admin_server_state(dp));
	jute_out_printf(o, "Node count: %" PRIu64 "\n", dp_admin_node_count(dp));
	/* LeaderZooKeeperServer's ServerStats adds the proposal sizes. */
	struct repl_quorum q;

	if (dp->repl && repl_quorum_stats(dp->repl, &q))
		jute_out_printf(o, "Proposal sizes last/min/max: %" PRId64 "/%" PRId64 "/%" PRId64 "\n",
				q.last_proposal_size, q.min_proposal_size, q.max_proposal_size);
}
