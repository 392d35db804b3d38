/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim.h - a deterministic cluster of real consensus cores in one process:
 * a simulated network (messages travel as encoded frames; drop, delay,
 * reorder, duplication, partitions, peer-lost notices), disks (a write is
 * durable only once flushed; a crash loses the rest and may keep a torn
 * prefix of the oldest pending write) and a clock (ticks), all from one
 * seed.  Every input goes through raft.h exactly as the broadcast core
 * will drive it.
 *
 * The checker (sim_check, also run after every Ready) asserts: at most one
 * leader per term; log matching (an (index, term) pair names one entry
 * and one history, via chained hashes); committed entries never change and
 * are never truncated; every acknowledged proposal is in every later
 * leader's log; each replica applies exactly the committed sequence in
 * order; zxids strictly increase along every log; a sync returns an index
 * >= every commit index any replica had when the sync was issued, and
 * comes from a leader whose term is >= that of every leader elected before
 * the sync was issued (read index: no newer leader existed when the read
 * was noted); the
 * persistence contract: a message leaves only once what it vouches for is
 * on the sender's disk (its term; a vote request or grant: the vote; an
 * append acknowledgement: the acknowledged entries), and a leader's commit
 * index names an entry that is on the disks of a quorum of its voters.  A
 * snapshot is installed only from a complete, checksummed stream whose
 * bytes hold the committed prefix it claims; forged messages (sim_inject)
 * are refused with the expected reason and change nothing.  A
 * violation prints the seed and step and aborts.
 *
 * Used by sim_main.c (random runs) and by the scripted unit tests.
 */
#ifndef CHEETAH_TESTS_SIM_H
#define CHEETAH_TESTS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replication/raft/raft.h"
#include "replication/raft/snap_stream.h"

#define SIM_MAX_NODES 7
#define SIM_SNAP_CHUNK 64 /* bytes per snapshot chunk */

struct sim_ent {
	struct raft_entry e;
	uint64_t chain; /* hash of this entry and every one before it */
};

struct sim_log {
	uint64_t base, base_term, base_zxid, base_chain; /* snapshot base */
	struct sim_ent *v;				 /* base + 1 .. base + n */
	size_t n, cap;
};

struct sim_write {
	uint64_t seq;
	uint64_t at; /* tick from which the disk may complete it */
	bool hs_changed;
	struct raft_hard_state hs;
	bool has_snap;
	struct raft_snap_meta snap;
	uint64_t snap_chain;
	uint64_t trunc;
	struct sim_ent *ents;
	size_t n;
	/*
	 * On the disk ahead of the write before it (sim_flush_later): the
	 * pipelined log's second batch in flight, durable only once the one
	 * before it is.
	 */
	bool done;
};

struct sim_node {
	uint32_t id;
	bool exists, up;
	struct raft *r;
	struct raft_config cfg;
	/* disk */
	struct raft_hard_state d_hs;
	bool d_has_snap;
	struct raft_snap_meta d_snap;
	struct sim_log d_log;
	struct sim_write *pend;
	size_t n_pend, cap_pend;
	/* the core's log as the driver saw it (Readies applied) */
	struct sim_log view;
	/* state machine */
	uint64_t applied;
	enum raft_role last_role;
	uint64_t last_term;
	uint64_t commit_checked; /* leader's commit last checked durable on a quorum */
	uint32_t disk_delay;	 /* ticks a write takes on this disk (slow disks) */
	/* snapshot reception: the stream and the file it is written to */
	struct snap_recv rx;
	uint8_t *rx_file;
	size_t rx_cap;
	uint64_t rx_len;
	uint64_t rx_index, rx_chain; /* the last complete one: what it holds */
};

/* A snapshot being sent (by the driver's transport, not the core). */
struct sim_stream {
	bool on;
	struct snap_send ss;
	uint8_t *data;
	uint64_t size;
};

struct sim_msg {
	uint32_t from, to;
	uint64_t at; /* deliverable from this tick */
	uint8_t *buf;
	size_t len;
};

struct sim_committed {
	uint64_t chain, term, zxid;
};

struct sim_ack {
	uint64_t index, chain;
};

struct sim_sync {
	uint32_t node;
	uint64_t ctx, min_index;
	uint64_t min_term;    /* highest term with a leader when it was issued */
	uint64_t answer_term; /* term of the leader whose READ_INDEX_RESP came */
};

struct sim_opts {
	uint32_t voters, observers;
	uint32_t drop_pct, dup_pct, max_delay; /* network faults */
	uint32_t straggle_permille; /* per mille of messages delayed up to 4 election timeouts */
	bool auto_flush;	    /* disks complete at once */
	bool silent;		    /* no peer-lost notices */
	uint32_t max_counter;	    /* raft_config.max_counter */
	uint32_t max_msg_entries;
	uint32_t election_ticks;
	uint32_t min_voters; /* membership changes keep at least this many (0: 3) */
	bool wipe;	     /* restarts may find a wiped disk (sim_wipe) */
};

struct sim {
	uint64_t seed, step, now;
	uint64_t rng[4];
	struct sim_opts o;
	struct sim_node nodes[SIM_MAX_NODES + 1]; /* by id, 1.. */
	bool cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
	struct sim_stream streams[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* [from][to] */
	struct sim_msg *net;
	size_t n_net, cap_net;
	/* checker */
	struct sim_committed *committed; /* by index; chain 0 = unknown */
	size_t cap_committed;
	uint64_t *leaders; /* by term */
	size_t cap_leaders;
	struct sim_ack *acks;
	size_t n_acks, cap_acks;
	struct sim_sync *syncs;
	size_t n_syncs, cap_syncs;
	uint64_t max_commit;
	uint64_t max_leader_term; /* highest term in which a leader was seen */
	uint64_t sync_ctx;
	uint64_t kv_cap;
	struct {
		uint64_t index, term, chain;
	} * kv; /* (index, term) -> chain, open addressing */
	uint64_t kv_n;
	/* scripted tests: a message for which this returns true is lost */
	bool (*drop)(const struct raft_msg *m, void *arg);
	void *drop_arg;
	/* figures */
	uint64_t n_acked, n_synced, n_elections, n_crashes, n_snap_installs, n_conf_changes;
	/* sim_flush_later: writes completed early; crashes that lost one / kept one */
	uint64_t n_early, n_early_lost, n_early_kept;
	uint64_t n_delivered, n_dropped;
	uint64_t n_refused;  /* genuine messages refused (vote requests of non-voters) */
	uint64_t n_injected; /* forged messages refused (sim_inject) */
	uint64_t n_wipes;    /* restarts with a wiped disk */
	uint64_t n_chunks, n_streams_done, n_streams_failed, n_stream_rejects;
	uint64_t n_stuck; /* unsafe runs with no leader after healing */
	uint64_t unsafe_runs;
	const char *replay_flags; /* printed before --seed in the replay command */
	/* Raft's safety no longer holds (a voter restarted with a wiped disk,
	 * forged messages): the cross-node checks are off; every core must
	 * still never abort and keep its own invariants */
	bool unsafe;
};

uint64_t sim_rand(struct sim *s);
uint64_t sim_below(struct sim *s, uint64_t n); /* uniform in [0, n) */

void sim_init(struct sim *s, uint64_t seed, const struct sim_opts *o);
void sim_free(struct sim *s);

/* Creates (empty disk, bootstrap membership conf) or restarts node id. */
void sim_start(struct sim *s, uint32_t id, const struct raft_conf *conf);
void sim_crash(struct sim *s, uint32_t id, bool tear);
/* A crashed node's disk is wiped (it restarts empty); sets s->unsafe. */
void sim_wipe(struct sim *s, uint32_t id);
/* Drains the node's Readies (sends, queues writes, applies). */
void sim_process(struct sim *s, uint32_t id);
/* Completes the oldest k (0 = all) pending writes of the node that are due
 * (disk_delay); returns how many completed. */
size_t sim_flush(struct sim *s, uint32_t id, size_t k);
/*
 * The disk completes node id's second pending write (entries only) before
 * the first, as the pipelined group commit may (two batches in flight,
 * replication/txlog.c): nothing is reported persisted until the first
 * completes (sim_flush then counts both), and a crash before that keeps
 * the second only if the first survives whole (recovery cuts the log at
 * the first one's damage: the second's durable mark is below it).
 */
void sim_flush_later(struct sim *s, uint32_t id);
void sim_tick(struct sim *s);
void sim_tick_node(struct sim *s, uint32_t id);
/* Delivers message k of the network queue (removing it). */
void sim_deliver(struct sim *s, size_t k);
/* Steps a forged copy of message k into its destination; it must be refused. */
void sim_inject(struct sim *s, size_t k);
/* Delivers everything deliverable (with flushes if auto_flush), up to max rounds. */
void sim_settle(struct sim *s, int max_rounds);
void sim_partition(struct sim *s, uint32_t a, uint32_t b, bool cut);
void sim_isolate(struct sim *s, uint32_t id, bool cut);
void sim_heal(struct sim *s);

/* Proposes a batch of count txns at node id; returns raft_propose's rc. */
int sim_propose(struct sim *s, uint32_t id, uint32_t count, uint64_t *index);
int sim_sync(struct sim *s, uint32_t id);
/* Sends what every snapshot stream's window allows (sim_tick does). */
void sim_poll_streams(struct sim *s);
/* Makes node id campaign now (a TIMEOUT_NOW as a transfer would send). */
void sim_force_campaign(struct sim *s, uint32_t id);
/* Snapshot at the node's applied index (minus lag), then compaction. */
void sim_snapshot(struct sim *s, uint32_t id, uint64_t lag);
/* The leader with the highest term among up nodes, or 0. */
uint32_t sim_leader(struct sim *s);

void sim_check(struct sim *s);
void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* One random run: returns 0 or aborts with the seed printed. */
int sim_run(uint64_t seed, uint64_t steps, bool verbose, struct sim *figures);
/* Slow follower disks, no other fault: no leader change allowed. */
int sim_run_slow_disks(uint64_t seed, bool verbose, struct sim *figures);

#endif
