/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to replication/raft/: the core's state and the functions its
 * files share (raft.c: log, Ready and dispatch; raft_elect.c: election,
 * ticks, transfer; raft_repl.c: progress, replication, commit, snapshots,
 * read index; raft_conf.c: membership).
 */
#ifndef CHEETAH_REPLICATION_RAFT_PRIV_H
#define CHEETAH_REPLICATION_RAFT_PRIV_H

#include "replication/raft/raft.h"

#define RAFT_MAX_INFLIGHT 64

void raft_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));
#define RAFT_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c))                                                                          \
			raft_assert_fail(#c, __FILE__, __LINE__);                                  \
	} while (0)

enum pr_state { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

struct raft_progress {
	uint32_t id;
	bool voter;
	bool active; /* heard from since the last check-quorum round */
	bool paused; /* PROBE: an append is in flight */
	uint8_t state;
	uint64_t match; /* highest index known replicated (durable there) */
	uint64_t next;	/* next index to send; match < next */
	uint64_t pending_snap;
	uint64_t hb_match; /* match at the previous heartbeat */
	uint32_t stall;	   /* heartbeats sent without match moving */
	/* REPLICATE window: last index and payload bytes of each append */
	uint32_t in_head, in_count;
	uint64_t in_bytes;
	struct {
		uint64_t last, bytes;
	} infl[RAFT_MAX_INFLIGHT];
};

/* A message waiting for the Ready; appends name their entries by index. */
struct raft_qmsg {
	struct raft_msg m;
	uint64_t lo;	   /* APPEND: first entry index (n in m.n_entries) */
	uint64_t hi_term;  /* APPEND: term of the last entry, to spot truncation */
	uint64_t hold_seq; /* held until persisted_seq >= hold_seq */
};

struct raft_pending_read {
	uint64_t ctx;
	uint32_t from; /* requester (self for a local request) */
	uint64_t index;
	uint64_t seq; /* heartbeat round; 0 = waiting for the no-op to commit */
	uint32_t acks[RAFT_MAX_MEMBERS];
	uint32_t n_acks;
};

struct qvec {
	void *v;
	size_t n, cap;
};

struct raft_persist_rec {
	uint64_t seq;
	uint64_t last; /* log index covered when that unit is durable */
};

struct raft {
	struct raft_config cfg;
	uint32_t id;
	uint64_t rng;

	/* durable state (as far as the driver is told) */
	uint64_t term;
	uint32_t vote;

	/* the log: entries snap.index + 1 .. snap.index + log_n */
	struct raft_snap_meta snap;
	struct raft_entry *log;
	size_t log_n, log_cap;

	uint64_t commit, applied, durable;
	uint64_t commit_seen; /* commit never decreases (raft_check) */

	/* membership in effect: the newest in the log, or the snapshot's */
	struct raft_conf conf;
	uint64_t conf_index;

	enum raft_role role;
	uint32_t lead;
	uint64_t lead_seen_term; /* at most one leader per term, as seen here */
	uint32_t lead_seen_id;
	uint32_t election_elapsed, heartbeat_elapsed, rand_timeout;
	uint32_t granted[RAFT_MAX_MEMBERS], n_granted;
	uint32_t rejected[RAFT_MAX_MEMBERS], n_rejected;

	/* leader */
	struct raft_progress pr[RAFT_MAX_MEMBERS];
	uint32_t n_pr;
	uint64_t term_start; /* index of this term's no-op */
	uint64_t next_counter;
	uint32_t transfer_to, transfer_elapsed;
	uint64_t read_seq;
	struct qvec reads; /* struct raft_pending_read */

	/* Ready bookkeeping */
	struct raft_hard_state hs_last; /* last handed to the driver */
	uint64_t stable_next;		/* first entry not yet handed out */
	uint64_t truncate_pending;	/* 0 or the lowest index to discard */
	bool snap_pending;
	uint64_t last_seq, persisted_seq;
	uint64_t hs_seq;       /* the unit that carried hs_last (0: from raft_new) */
	struct qvec recs;      /* struct raft_persist_rec, unpersisted units */
	struct qvec outq;      /* struct raft_qmsg, to send at the next Ready */
	struct qvec held;      /* struct raft_qmsg, waiting for durability */
	struct qvec reads_out; /* struct raft_read */
	struct qvec rd_msgs;   /* struct raft_msg handed out by raft_ready() */
	bool in_ready;

	struct raft_stats stats;
};

/* raft.c */
int qvec_push(struct qvec *q, const void *item, size_t size);
uint64_t raft_last_index(const struct raft *r);
uint64_t raft_last_term(const struct raft *r);
bool raft_term_at(const struct raft *r, uint64_t index, uint64_t *term);
struct raft_entry *raft_ent(const struct raft *r, uint64_t index);
int raft_append_local(struct raft *r, uint32_t type, uint32_t count, const void *data, uint32_t len,
		      uint64_t *zxid, uint64_t *index);
int raft_append_copy(struct raft *r, const struct raft_entry *e);
void raft_truncate(struct raft *r, uint64_t from);
int raft_send(struct raft *r, struct raft_msg *m, uint64_t lo, uint64_t hi_term);
void raft_become_follower(struct raft *r, uint64_t term, uint32_t lead);
void raft_note_leader(struct raft *r, uint32_t lead);
void raft_check(struct raft *r);
uint32_t raft_quorum(const struct raft *r);
bool raft_is_voter(const struct raft *r, uint32_t id);
int raft_push_read(struct raft *r, uint64_t ctx, uint64_t index, int err);
/* The current term and vote are on disk (raft_persisted() covered them). */
bool raft_hs_durable(const struct raft *r);
/* Counts a refused message; returns the code raft_step() answers with. */
int raft_refuse(struct raft *r, const struct raft_msg *m, enum raft_refusal why);

/* raft_elect.c */
void raft_reset_timeout(struct raft *r);
void raft_campaign(struct raft *r, bool pre, bool transfer);
int raft_term_check(struct raft *r, const struct raft_msg *m);
int raft_elect_step(struct raft *r, const struct raft_msg *m);
void raft_elect_tick(struct raft *r);
void raft_elect_persisted(struct raft *r);

/* raft_repl.c */
void raft_become_leader(struct raft *r);
void raft_send_append(struct raft *r, struct raft_progress *p, bool send_empty);
void raft_bcast_append(struct raft *r, bool send_empty);
void raft_bcast_heartbeat(struct raft *r, uint64_t ctx);
void raft_maybe_commit(struct raft *r);
struct raft_progress *raft_progress(struct raft *r, uint32_t id);
int raft_repl_step(struct raft *r, const struct raft_msg *m);
void raft_fail_reads(struct raft *r);
void raft_start_read(struct raft *r, uint64_t ctx, uint32_t from);

/* raft_conf.c */
void raft_conf_sync_progress(struct raft *r);
void raft_conf_reload(struct raft *r);
int raft_conf_at(const struct raft *r, uint64_t index, struct raft_conf *out);

#endif
