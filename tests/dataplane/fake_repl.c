// SPDX-License-Identifier: Apache-2.0
/*
 * A stand-in for the broadcast core, enough for the I/O layer: rings that
 * stay empty, the wakeup registration, and no tree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist.h"
#include "fake.h"
#include "replication/repl.h"

#define MAX_WORKERS 16

struct repl {
	struct ring out[MAX_WORKERS];
	int wakeup[MAX_WORKERS];
	struct repl_summary batch_size, fsync_ms; /* fake_repl_set_summaries */
	uint32_t resets;                          /* repl_reset_stats calls */
	struct repl_zk_stats zk;		  /* fake_repl_set_counters */
	uint64_t stale, revalidate, looking;
	/* fake_repl_zk_add, fake_repl_ack_add: the test thread is their one writer */
	struct hist zk_hist[REPL_ZK_NHIST];
	uint32_t ack_n;
	uint32_t ack_id[REPL_ACK_KEYS];
	struct hist ack_hist[REPL_ACK_KEYS];
	uint64_t zk_base[REPL_ZK_NHIST][HIST_BUCKETS];
	uint64_t ack_base[REPL_ACK_KEYS][HIST_BUCKETS];
};

struct repl *fake_repl_new(void)
{
	struct repl *r = calloc(1, sizeof(*r));

	for (int i = 0; i < REPL_ZK_NHIST; i++)
		hist_keep_base(&r->zk_hist[i], r->zk_base[i]);
	for (int i = 0; i < REPL_ACK_KEYS; i++)
		hist_keep_base(&r->ack_hist[i], r->ack_base[i]);
	for (int i = 0; i < MAX_WORKERS; i++) {
		ring_init(&r->out[i], 64, sizeof(struct repl_out));
		r->wakeup[i] = -1;
	}
	return r;
}

void fake_repl_free(struct repl *r)
{
	for (int i = 0; i < MAX_WORKERS; i++)
		ring_fini(&r->out[i]);
	free(r);
}

int fake_repl_wakeup(struct repl *r, uint32_t w)
{
	return r->wakeup[w];
}

void repl_set_worker_wakeup(struct repl *r, uint32_t w, int eventfd)
{
	r->wakeup[w] = eventfd;
}

struct ring *repl_out_ring(struct repl *r, uint32_t w)
{
	return &r->out[w];
}

struct tree *repl_tree(struct repl *r)
{
	(void)r;
	return NULL;
}

const char *repl_server_state(const struct repl *r)
{
	(void)r;
	return "standalone";
}

uint32_t repl_myid(const struct repl *r)
{
	(void)r;
	return 0; /* standalone */
}

uint32_t repl_leader_id(const struct repl *r)
{
	(void)r;
	return 0; /* standalone */
}

bool repl_quorum_stats(const struct repl *r, struct repl_quorum *q)
{
	(void)r;
	memset(q, 0, sizeof(*q));
	return false;
}

uint32_t repl_quorum_size(const struct repl *r)
{
	(void)r;
	return 0;
}

uint32_t repl_session_count(const struct repl *r)
{
	(void)r;
	return 0;
}

void repl_sync_summaries(const struct repl *r, struct repl_summary *batch_size,
			 struct repl_summary *fsync_ms)
{
	*batch_size = r->batch_size;
	*fsync_ms = r->fsync_ms;
}

/* Standalone: no elections. */
/* No session tracker here: nothing expires. */
uint64_t repl_stale_sessions_expired(const struct repl *r)
{
	return __atomic_load_n(&r->stale, __ATOMIC_RELAXED);
}

/* Standalone: no learners revalidate. */
uint64_t repl_revalidate_count(const struct repl *r)
{
	return __atomic_load_n(&r->revalidate, __ATOMIC_RELAXED);
}

void repl_election_stats(const struct repl *r, uint64_t *looking_count, struct hist *election_ms)
{
	*looking_count = __atomic_load_n(&r->looking, __ATOMIC_RELAXED);
	memset(election_ms, 0, sizeof(*election_ms));
}

/* No replication here: zeros and empty histograms. */
void repl_zk_stats(const struct repl *r, struct repl_zk_stats *out)
{
	out->proposals = __atomic_load_n(&r->zk.proposals, __ATOMIC_RELAXED);
	out->commits = __atomic_load_n(&r->zk.commits, __ATOMIC_RELAXED);
	out->learner_proposals = __atomic_load_n(&r->zk.learner_proposals, __ATOMIC_RELAXED);
	out->learner_commits = __atomic_load_n(&r->zk.learner_commits, __ATOMIC_RELAXED);
	out->snaps = __atomic_load_n(&r->zk.snaps, __ATOMIC_RELAXED);
	out->diffs = __atomic_load_n(&r->zk.diffs, __ATOMIC_RELAXED);
	out->unrecoverable = __atomic_load_n(&r->zk.unrecoverable, __ATOMIC_RELAXED);
}

void fake_repl_set_counters(struct repl *r, const struct repl_zk_stats *zk, uint64_t stale,
			    uint64_t revalidate, uint64_t looking)
{
	__atomic_store_n(&r->zk.proposals, zk->proposals, __ATOMIC_RELAXED);
	__atomic_store_n(&r->zk.commits, zk->commits, __ATOMIC_RELAXED);
	__atomic_store_n(&r->zk.learner_proposals, zk->learner_proposals, __ATOMIC_RELAXED);
	__atomic_store_n(&r->zk.learner_commits, zk->learner_commits, __ATOMIC_RELAXED);
	__atomic_store_n(&r->zk.snaps, zk->snaps, __ATOMIC_RELAXED);
	__atomic_store_n(&r->zk.diffs, zk->diffs, __ATOMIC_RELAXED);
	__atomic_store_n(&r->zk.unrecoverable, zk->unrecoverable, __ATOMIC_RELAXED);
	__atomic_store_n(&r->stale, stale, __ATOMIC_RELAXED);
	__atomic_store_n(&r->revalidate, revalidate, __ATOMIC_RELAXED);
	__atomic_store_n(&r->looking, looking, __ATOMIC_RELAXED);
}

void repl_zk_hist(struct repl *r, enum repl_zk_hist which, struct hist *out)
{
	hist_read(&r->zk_hist[which], out);
}

void fake_repl_zk_add(struct repl *r, enum repl_zk_hist which, uint64_t v)
{
	hist_add(&r->zk_hist[which], v);
}

void fake_repl_ack_add(struct repl *r, uint32_t id, uint64_t v)
{
	uint32_t i;

	for (i = 0; i < r->ack_n && r->ack_id[i] != id; i++)
		;
	if (i == REPL_ACK_KEYS)
		return;
	if (i == r->ack_n) {
		r->ack_id[i] = id;
		__atomic_store_n(&r->ack_n, i + 1, __ATOMIC_RELEASE);
	}
	hist_add(&r->ack_hist[i], v);
}

uint32_t repl_ack_hists(const struct repl *r, uint32_t *ids, struct hist *out, uint32_t max)
{
	uint32_t n = __atomic_load_n(&r->ack_n, __ATOMIC_ACQUIRE);

	n = n < max ? n : max;
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = r->ack_id[i];
		hist_read(&r->ack_hist[i], &out[i]);
	}
	return n;
}

/* No log writer here: empty histograms. */
void repl_sync_hists(const struct repl *r, struct hist *batch_size, struct hist *fsync_us)
{
	(void)r;
	memset(batch_size, 0, sizeof(*batch_size));
	memset(fsync_us, 0, sizeof(*fsync_us));
}

/* No core here: nothing waited in it. */
void repl_stage_stats(struct repl *r, struct repl_stages *out)
{
	(void)r;
	memset(out, 0, sizeof(*out));
}

/* As the real core: readers see zeros from the call on. */
void repl_reset_stats(struct repl *r)
{
	r->batch_size = (struct repl_summary){0};
	r->fsync_ms = (struct repl_summary){0};
	for (int i = 0; i < REPL_ZK_NHIST; i++)
		hist_reset(&r->zk_hist[i]);
	for (uint32_t i = 0; i < REPL_ACK_KEYS; i++)
		hist_reset(&r->ack_hist[i]);
	__atomic_add_fetch(&r->resets, 1, __ATOMIC_RELAXED);
}

void fake_repl_set_summaries(struct repl *r, const struct repl_summary *batch_size,
			     const struct repl_summary *fsync_ms)
{
	r->batch_size = *batch_size;
	r->fsync_ms = *fsync_ms;
}

uint32_t fake_repl_resets(struct repl *r)
{
	return __atomic_load_n(&r->resets, __ATOMIC_RELAXED);
}

/* The AdminServer's structured data (dataplane/admin/info.c): nothing here. */
int repl_last_snapshot(struct repl *r, int64_t *zxid, int64_t *mtime_s)
{
	(void)r;
	(void)zxid;
	(void)mtime_s;
	return -ENOENT;
}

uint32_t repl_observers(const struct repl *r, struct repl_learner_info *out, uint32_t max)
{
	(void)r;
	(void)out;
	(void)max;
	return 0;
}

void repl_reset_observer_stats(struct repl *r)
{
	(void)r;
}

int repl_restore(struct repl *r, struct tree *t, int64_t *zxid)
{
	(void)r;
	(void)t;
	(void)zxid;
	return -EOPNOTSUPP;
}
