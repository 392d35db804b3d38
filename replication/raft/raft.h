/* SPDX-License-Identifier: Apache-2.0 */
/*
 * raft.h - Cheetah's consensus core: Raft (Ongaro's thesis and TLA+ spec)
 * with ZooKeeper's client-visible semantics on top, as a pure state machine.
 *
 * WHAT GOES IN, WHAT COMES OUT
 *   In:  raft_step() (a decoded peer message), raft_tick() (one clock
 *        tick), raft_persisted() ("the Ready numbered seq is durable"),
 *        raft_propose*(), raft_read_index(), raft_transfer_leader(),
 *        raft_peer_lost(), raft_compact(), raft_report_snapshot().
 *   Out: raft_ready(): hard state and entries to persist, a snapshot to
 *        install, messages to send, committed entries to apply, answered
 *        read-index requests.  raft_advance() hands the Ready back.
 *   The core owns no thread, clock, socket or file.  Randomness (election
 *   timeouts) comes from cfg.seed, so the same inputs give the same
 *   outputs: the simulator (tests/replication/sim/) replays a run exactly.
 *   One thread (the broadcast core) calls everything; nothing is locked.
 *
 * THE READY / ADVANCE / PERSISTED CONTRACT (what the driver must do)
 *   loop:
 *     while (raft_has_ready(r)) {
 *       raft_ready(r, &rd);
 *       1. send rd.msgs (in any order, at once; they may be dropped);
 *       2. if rd.seq != 0, start persisting, in this order and as one unit:
 *          rd.hs (term, vote) if rd.hs_changed, then rd.snap if
 *          rd.has_snap (install: the tree is replaced by the snapshot's,
 *          the whole log is discarded), then discard log entries with
 *          index >= rd.truncate_from (if non-zero), then append rd.entries.
 *          A crash may keep any prefix of that order (a torn unit), never
 *          a later step without the earlier ones.  Units are made durable
 *          in seq order;
 *          when unit seq is durable call raft_persisted(r, seq) (it may be
 *          much later: the leader keeps working while its fsync runs);
 *       3. apply rd.committed in order (each is durable locally and
 *          committed on a quorum); answer rd.reads;
 *       4. raft_advance(r, &rd).
 *     }
 *   Between raft_ready() and raft_advance() the driver calls no other raft
 *   function; everything rd points to (entries, payloads, messages) stays
 *   valid until raft_advance().  Copy (encode) what must outlive it.
 *
 *   Persistence ordering is the core's job, not the driver's: a message
 *   whose meaning depends on local state being durable (a vote, a vote
 *   request carrying our own vote, an append or snapshot acknowledgement,
 *   any answer of a follower or candidate) is held inside the core until
 *   raft_persisted() covers every unit that existed when the message was
 *   made; only then does it appear in rd.msgs.  So "term and vote durable
 *   before any vote or ack leaves" holds whatever the driver's timing.
 *   One exception: a heartbeat answer, once the current term is durable,
 *   leaves at once even while later units are being written: it
 *   acknowledges no entry and no vote, so a follower's slow fsync cannot
 *   cost its leader the check-quorum (the leader learns nothing from it
 *   but "still followed in this term", which needs no disk).
 *   A leader's own entries count towards the quorum only once persisted;
 *   its AppendEntries go out before that (the leader sends while its own
 *   fsync runs).  Entries are applied only once durable locally.  A
 *   candidate becomes leader only once its term and vote are durable (a
 *   single voter, elected by its own vote, waits for raft_persisted()).
 *
 *   After a crash the driver rebuilds the core with raft_new() from what
 *   it had acknowledged through raft_persisted() (or more: a torn tail
 *   that survived with valid checksums is fine, it was never acknowledged
 *   to anyone): the hard state, the newest snapshot's meta and the log
 *   after it.
 *
 * ZXIDS AND BATCHES
 *   zxid = term << 32 | counter.  A new leader's first entry is a no-op with
 *   counter 0; it commits the earlier terms' entries (a leader advances the
 *   commit index only over an entry of its own term: the Figure-8 rule).
 *   One log entry holds one group-commit batch of `count` transactions and
 *   reserves `count` consecutive counters: the entry's zxid is the first
 *   transaction's, transaction k (0-based) has zxid + k, as ZooKeeper gives
 *   every transaction its own zxid.  The payload is opaque to the core.
 *   A proposal that would pass cfg.max_counter fails with -ERANGE and the
 *   leader starts a new term at once (it campaigns as a transferee, so the
 *   followers' leases do not block it); the driver retries after that.
 *
 * ELECTION
 *   Pre-vote and check-quorum are always on.  A follower that heard from a
 *   leader within election_ticks ignores (pre-)vote requests (leader lease),
 *   unless they come from a leadership transfer; a leader that did not hear
 *   from a quorum of voters within election_ticks steps down.  The timeout
 *   is drawn uniformly from [election_ticks, 2 * election_ticks).  From
 *   zoo.cfg: one tick = tickTime / 2, heartbeat_ticks = 1 (ZooKeeper pings
 *   every half tick), election_ticks = 2 * syncLimit (a follower gives up on
 *   a silent leader after syncLimit ticks, as ZooKeeper's does); initLimit
 *   bounds the snapshot transfer, which is the transport's business.
 *   raft_peer_lost() on the leader's connection starts a pre-vote at once.
 *
 * REPLICATION
 *   Per peer progress as etcd's: PROBE (one append in flight until an
 *   answer), REPLICATE (a window of at most max_inflight_msgs appends and
 *   max_inflight_bytes of payload in flight), SNAPSHOT (waiting for the
 *   transfer of the snapshot announced by a RAFT_MSG_SNAP).  Observers are
 *   sent committed entries only, never campaign and are never counted in a
 *   quorum: a candidate counts only the votes of its configuration's
 *   voters (any node answers a vote request, as Raft processes RPCs without
 *   consulting its configuration: a node whose log is behind may not know
 *   yet that it became a voter).  A peer whose appends were lost (its match
 *   does not move for three heartbeats while it answers them) is probed
 *   again from match + 1.  A rejected append names the follower's last
 *   index whose term is <= the leader's term at the probe, so the leader
 *   skips a divergent term per round trip, not an entry.
 *
 * SNAPSHOTS
 *   raft_compact(meta) says a snapshot with that base exists durably; the log
 *   up to meta.index is dropped.  A peer whose next index is below the log
 *   gets one RAFT_MSG_SNAP (the meta); the transport streams the data in
 *   RAFT_MSG_SNAP_CHUNK / RAFT_MSG_SNAP_ACK frames (raft_msg.h) and, on the
 *   receiving side, once the whole snapshot is stored, hands the SNAP meta to
 *   raft_step(); on failure the sender calls raft_report_snapshot(false).
 *   snap_stream.h is that transfer as pure state machines (sender window
 *   and retransmission, receiver reassembly and checksum), for the driver.
 *
 * MEMBERSHIP
 *   The bootstrap membership comes from configuration (zoo.cfg server.N).
 *   Changes go through the log, one server at a time (the voter sets of the
 *   old and new configuration differ by at most one server), one pending
 *   at a time, and only after the leader's no-op committed; a configuration
 *   takes effect on a node as soon as its entry is in that node's log (and
 *   is undone if the entry is truncated).  A leader that is not a voter of
 *   the committed configuration steps down.  A node campaigns if it is a
 *   voter of its newest configuration, or of the one before while the
 *   newest is uncommitted (a leader that removed itself and lost its new
 *   quorum before the change committed may hold the only log the old
 *   voters can elect); votes are counted in the newest configuration.
 *
 * PEER INPUT IS NOT TRUSTED (refusals)
 *   raft_step() never aborts on what a peer sends.  A message that passed
 *   the codec but is impossible for a correct peer is dropped without
 *   touching the node's state, counted in raft_get_stats() (per reason,
 *   with the last refused message's sender, type and term, so the driver
 *   can log each new reason once) and answered by raft_step() with -EINVAL
 *   (malformed: addressing, a term above RAFT_MAX_TERM, an index above
 *   RAFT_MAX_INDEX, entries out of order or overflowing their term's zxid
 *   counters, a snapshot meta that is not a snapshot's) or -EPROTO (well
 *   formed, but contradicting what this node knows: a leader's message for
 *   a term in which another node leads here, a vote request from a node
 *   that is not a voter here and whose log is not ahead of ours (it cannot
 *   know a configuration we lack), a TIMEOUT_NOW from a node that is not
 *   our leader, an answer to a read round not sent yet, an append whose
 *   zxids would not increase).  Dropping a message is always safe in Raft
 *   (the network may lose it); every refusal is one a correct peer never
 *   causes.  Invariants of the node's own state stay asserted.  A leader's
 *   messages from an id outside our configuration are followed (ours may
 *   lag the one that added it); answers and vote grants of non-members and
 *   observers are ignored, as before.
 *   A term reaching RAFT_MAX_TERM ends elections: the node no longer
 *   campaigns (counted in term_exhausted) instead of overflowing the zxid.
 *
 *   A voter whose disk was wiped and that rejoins with the same id breaks
 *   Raft's assumptions (it may vote twice in a term; entries it
 *   acknowledged were counted for commit): the core survives what follows
 *   (conflicting leaders are refused, not asserted) but cannot make it
 *   safe; such a server must rejoin through a membership change (removed,
 *   then added back), as in etcd.  See docs/ARCHITECTURE.md.
 *
 * SYNC (read index)
 *   raft_read_index(ctx): the leader notes its commit index (once its no-op
 *   is committed), confirms its leadership with a heartbeat round answered
 *   by a quorum, and returns {ctx, index}; a follower or observer forwards
 *   the request to the leader and returns the leader's answer.  The driver
 *   answers ZooKeeper's sync once it has applied up to index.  With no
 *   known leader raft_read_index() returns -EAGAIN; a request whose leader
 *   loses leadership comes back with err = -EAGAIN; a forwarded one whose
 *   message is lost never comes back: the driver keeps a timeout.
 */
#ifndef CHEETAH_REPLICATION_RAFT_H
#define CHEETAH_REPLICATION_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFT_MAX_MEMBERS 16
#define RAFT_MAX_COUNTER 0xfffffffeu /* ZooKeeper rolls the epoch at 0xffffffff */
/* zxid = term << 32 | counter stays positive as ZooKeeper's signed long */
#define RAFT_MAX_TERM 0x7fffffffull
/* every entry takes at least one zxid: there cannot be more entries */
#define RAFT_MAX_INDEX (RAFT_MAX_TERM << 32 | 0xffffffffull)

enum raft_role { RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

enum raft_entry_type {
	RAFT_ENTRY_NOOP = 0, /* a new leader's first entry, counter 0 */
	RAFT_ENTRY_DATA = 1, /* a batch of `count` transactions */
	RAFT_ENTRY_CONF = 2, /* a membership, encoded by raft_conf_encode() */
};

struct raft_member {
	uint32_t id; /* 1..; zoo.cfg's server.N */
	bool voter;  /* false: observer */
};

struct raft_conf {
	uint32_t n;
	struct raft_member m[RAFT_MAX_MEMBERS];
};

struct raft_entry {
	uint64_t index;
	uint64_t term;
	uint64_t zxid;	/* first transaction's; term << 32 | counter */
	uint32_t type;	/* enum raft_entry_type */
	uint32_t count; /* zxids reserved: zxid .. zxid + count - 1 (>= 1) */
	uint32_t len;
	const uint8_t *data; /* owned by the core (or by the message buffer) */
};

struct raft_snap_meta {
	uint64_t index; /* last entry the snapshot covers */
	uint64_t term;
	uint64_t zxid;	       /* last zxid it covers */
	struct raft_conf conf; /* membership as of index */
};

struct raft_hard_state {
	uint64_t term;
	uint32_t vote;
};

enum raft_msg_type {
	RAFT_MSG_APPEND = 1,	  /* index/log_term = prev, entries, commit */
	RAFT_MSG_APPEND_RESP,	  /* index = match (or rejected prev); hint, log_term */
	RAFT_MSG_PREVOTE,	  /* term = proposed, index/log_term = last */
	RAFT_MSG_PREVOTE_RESP,	  /* reject flag */
	RAFT_MSG_VOTE,		  /* index/log_term = last; TRANSFER flag */
	RAFT_MSG_VOTE_RESP,	  /* reject flag */
	RAFT_MSG_HEARTBEAT,	  /* commit, ctx = read round */
	RAFT_MSG_HEARTBEAT_RESP,  /* ctx = read round */
	RAFT_MSG_SNAP,		  /* snap meta: "a snapshot follows" */
	RAFT_MSG_TIMEOUT_NOW,	  /* leadership transfer: campaign now */
	RAFT_MSG_READ_INDEX,	  /* ctx = request id */
	RAFT_MSG_READ_INDEX_RESP, /* ctx, index; reject flag: failed */
	RAFT_MSG_SNAP_CHUNK,	  /* transport only: snap meta, offset, data; LAST flag */
	RAFT_MSG_SNAP_ACK,	  /* transport only: index = snapshot index, offset; reject flag */
	RAFT_MSG_TYPE_MAX = RAFT_MSG_SNAP_ACK,
};

#define RAFT_F_REJECT 0x01u
#define RAFT_F_TRANSFER 0x02u
#define RAFT_F_LAST 0x04u

struct raft_msg {
	uint32_t type; /* enum raft_msg_type */
	uint32_t flags;
	uint32_t from, to;
	uint64_t term;
	uint64_t index;
	uint64_t log_term;
	uint64_t commit;
	uint64_t hint;
	uint64_t ctx;
	const struct raft_entry *entries;
	uint32_t n_entries;
	struct raft_snap_meta snap; /* SNAP, SNAP_CHUNK */
	uint64_t offset;	    /* SNAP_CHUNK, SNAP_ACK */
	const uint8_t *data;	    /* SNAP_CHUNK */
	uint32_t len;
};

struct raft_read {
	uint64_t ctx;
	uint64_t index; /* answer once applied >= index */
	int err;	/* 0, or -EAGAIN: leadership lost, retry */
};

struct raft_config {
	uint32_t id;
	struct raft_conf conf;	     /* bootstrap membership (before any snapshot or log) */
	uint32_t election_ticks;     /* >= 2 * heartbeat_ticks */
	uint32_t heartbeat_ticks;    /* >= 1 */
	uint64_t seed;		     /* election timeout randomness */
	uint32_t max_inflight_msgs;  /* per peer, >= 1 */
	uint64_t max_inflight_bytes; /* per peer, payload bytes */
	uint64_t max_msg_bytes;	     /* payload per append (one entry at least) */
	uint32_t max_msg_entries;    /* entries per append, >= 1 */
	uint32_t max_counter;	     /* 0: RAFT_MAX_COUNTER; small in tests */
	uint32_t max_uncommitted;    /* entries past commit a leader takes; 0: 4096 */
};

struct raft_ready {
	uint64_t seq; /* 0: nothing to persist; else report via raft_persisted() */
	bool hs_changed;
	struct raft_hard_state hs;
	bool has_snap;
	struct raft_snap_meta snap;
	uint64_t truncate_from;
	const struct raft_entry *entries;
	size_t n_entries;
	const struct raft_msg *msgs;
	size_t n_msgs;
	const struct raft_entry *committed;
	size_t n_committed;
	const struct raft_read *reads;
	size_t n_reads;
};

struct raft_status {
	uint32_t id;
	enum raft_role role;
	uint32_t leader; /* 0: unknown */
	uint64_t term;
	uint32_t vote;
	uint64_t commit;
	uint64_t applied;
	uint64_t durable;
	uint64_t first_index; /* first entry in the log (snapshot base + 1) */
	uint64_t last_index;
	uint64_t last_zxid;
	bool voter;
	uint32_t transfer_to;
};

/* Why raft_step() refused a message (see "PEER INPUT IS NOT TRUSTED"). */
enum raft_refusal {
	RAFT_REFUSE_MALFORMED,	  /* -EINVAL: fails the semantic checks of its type */
	RAFT_REFUSE_TWO_LEADERS,  /* a leader's message for a term another leads here */
	RAFT_REFUSE_NOT_VOTER,	  /* a (pre-)vote request from a non-voter not ahead of us */
	RAFT_REFUSE_NOT_LEADER,	  /* TIMEOUT_NOW from a node that is not our leader */
	RAFT_REFUSE_FUTURE_ROUND, /* a heartbeat answer naming a read round not sent */
	RAFT_REFUSE_ZXID_ORDER,	  /* an append whose zxids would not increase here */
	RAFT_REFUSE_MAX,
};

struct raft_stats {
	uint64_t refused[RAFT_REFUSE_MAX]; /* messages refused, per reason */
	uint64_t term_exhausted;	   /* campaigns not started: term at RAFT_MAX_TERM */
	/* a leader's: members caught up from its log (PROBE -> REPLICATE), not by a snapshot */
	uint64_t log_catchups;
	/* the last refused message (n_refused == 0: none yet) */
	uint64_t n_refused;
	uint32_t last_reason, last_type, last_from;
	uint64_t last_term;
};

struct raft;

/*
 * Creates a core from configuration and the durable state (hs may be NULL:
 * term 0; snap may be NULL: no snapshot; ents[0..n) must follow the snapshot
 * or index 1 contiguously, with terms and zxids in order).  The data are
 * copied.  Returns 0, -EINVAL (bad config or log) or -ENOMEM.
 */
int raft_new(const struct raft_config *cfg, const struct raft_hard_state *hs,
	     const struct raft_snap_meta *snap, const struct raft_entry *ents, size_t n,
	     struct raft **out);
void raft_free(struct raft *r);

/* One tick of the logical clock. */
void raft_tick(struct raft *r);

/*
 * A decoded message addressed to this node.  Returns 0, or -EINVAL for a
 * message that is malformed for its type, -EPROTO for one that contradicts
 * what this node knows (both ignored and counted: see "PEER INPUT IS NOT
 * TRUSTED"), -ENOMEM.  Messages from the past, duplicated or reordered are
 * safe.  The core copies what it keeps.
 */
int raft_step(struct raft *r, const struct raft_msg *m);

/*
 * Leader only: appends one entry of `count` (>= 1) transactions with the
 * opaque payload data[0..len).  On success *zxid is the first zxid of the
 * batch and *index the entry's index.  Returns 0; -EPERM not the leader;
 * -EBUSY a leadership transfer is running; -ERANGE the zxid counter is
 * exhausted (a new term is being started); -EAGAIN max_uncommitted entries
 * wait for commit already (push back, as txlog_append does); -EINVAL (also
 * count > max_counter: the batch would not fit even a fresh term); -ENOMEM.
 */
int raft_propose(struct raft *r, uint32_t count, const void *data, uint32_t len, uint64_t *zxid,
		 uint64_t *index);

/*
 * Leader only: proposes membership conf (one voter added or removed, any
 * observer changes).  Returns 0; -EPERM not leader; -EBUSY a change or a
 * transfer is pending; -EAGAIN the leader's no-op is not committed yet;
 * -EINVAL a bad or multi-voter change; -ERANGE; -ENOMEM.
 */
int raft_propose_conf(struct raft *r, const struct raft_conf *conf, uint64_t *index);

/*
 * As raft_propose_conf(), the entry's payload followed by extra[0..len)
 * (at most RAFT_CONF_MAX_EXTRA bytes, copied; the core never reads them:
 * the driver's, found again with raft_conf_trailer()).  -EINVAL also for
 * a trailer too long.
 */
#define RAFT_CONF_MAX_EXTRA (256u << 10)
int raft_propose_conf_ex(struct raft *r, const struct raft_conf *conf, const void *extra,
			 uint32_t extra_len, uint64_t *index);

/* A configuration entry is in the log but not committed yet. */
bool raft_conf_pending(const struct raft *r);

/* Sync: see above.  Returns 0, or -EAGAIN (no known leader), -ENOMEM. */
int raft_read_index(struct raft *r, uint64_t ctx);

/*
 * Leader only: hand leadership to `to` (0: the most up-to-date voter).
 * Returns 0, -EPERM not leader, -EINVAL `to` is not another voter.  The
 * transfer is abandoned after election_ticks if it did not happen.
 */
int raft_transfer_leader(struct raft *r, uint32_t to);

/* The connection to peer `id` was lost (from the transport). */
void raft_peer_lost(struct raft *r, uint32_t id);

/*
 * Starts a pre-vote now, as an election timeout would: for a driver that
 * gave up on its leader (raft_peer_lost) and, no leader known since, asks
 * again sooner than the randomised timeout.  A pre-vote changes no term,
 * so asking again is always safe; it passes only once a majority has
 * lost its leader too.  Returns 0 (started), -EBUSY (a leader is known,
 * or this node is a candidate or the leader), -EPERM (not a voter).
 */
int raft_pre_vote(struct raft *r);

/*
 * Leader only (else a no-op): forget what peer `id` is known to hold
 * (match 0) and probe it from the end of the log.  For a peer that may
 * have restarted with less than it acknowledged (a disk restored from a
 * backup, or wiped): otherwise its match stays above its log, every
 * probe starts there, and heartbeats carry a commit index its log does
 * not back.  Lowering a match only delays commits; it is always safe.
 */
void raft_peer_reset(struct raft *r, uint32_t id);

/* The transfer of a snapshot announced to `id` finished or failed. */
void raft_report_snapshot(struct raft *r, uint32_t id, bool ok);

/*
 * Fills *meta for a snapshot of the state at `index` (<= applied, and
 * still in the log or the current snapshot base).  Returns 0 or -EINVAL.
 */
int raft_snapshot_meta(const struct raft *r, uint64_t index, struct raft_snap_meta *meta);

/* A snapshot with this meta is durable: the log up to meta->index may go. */
int raft_compact(struct raft *r, const struct raft_snap_meta *meta);

bool raft_has_ready(const struct raft *r);
void raft_ready(struct raft *r, struct raft_ready *rd);
void raft_advance(struct raft *r, const struct raft_ready *rd);
void raft_persisted(struct raft *r, uint64_t seq);

void raft_get_status(const struct raft *r, struct raft_status *st);
/* Refusal counters (any time; the driver logs a reason when it moves). */
void raft_get_stats(const struct raft *r, struct raft_stats *st);
/* "malformed", "two leaders", ...; "?" for an unknown value. */
const char *raft_refusal_name(uint32_t reason);
/* The membership in effect on this node (the newest in its log). */
void raft_get_conf(const struct raft *r, struct raft_conf *c);
/*
 * On a leader: the highest index known replicated (durable) on peer id,
 * into *match; returns false (nothing stored) on a node that is not the
 * leader or for an id it does not replicate to (itself included).
 */
bool raft_peer_match(const struct raft *r, uint32_t id, uint64_t *match);
/* The entry at index, or NULL if not in the log.  Valid until the next call. */
const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index);

/* Membership helpers. */
const struct raft_member *raft_conf_find(const struct raft_conf *c, uint32_t id);
uint32_t raft_conf_voters(const struct raft_conf *c);
/* Validates ids (1.., unique, <= RAFT_MAX_MEMBERS entries, >= 1 voter). */
int raft_conf_check(const struct raft_conf *c);
/* Encoding of a CONF entry's payload: 4 + 5 * n bytes. */
#define RAFT_CONF_MAX_BYTES (4 + 5 * RAFT_MAX_MEMBERS)
size_t raft_conf_encode(const struct raft_conf *c, uint8_t *buf);
int raft_conf_decode(const uint8_t *buf, size_t len, struct raft_conf *c);
/* The same, bytes after the membership allowed (*used: its length; may be NULL). */
int raft_conf_decode_prefix(const uint8_t *buf, size_t len, struct raft_conf *c, size_t *used);
/*
 * The driver's bytes after a CONF entry's membership (raft_propose_conf_ex):
 * *data, *len (0 when none).  Returns 0, or -EINVAL (not a valid CONF entry).
 */
int raft_conf_trailer(const struct raft_entry *e, const uint8_t **data, size_t *len);

#endif
