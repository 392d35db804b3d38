// SPDX-License-Identifier: Apache-2.0
/*
 * The ensemble driver: the broadcast core (repl.c) drives the consensus
 * core (raft/raft.h) and the peer transport (peer/peer.h) on its own
 * thread, so that a server listed with others in zoo.cfg replicates its
 * writes to a quorum before it acknowledges them.  Why one thread: the
 * core owns the tree, the prep state, the log and the session tracker
 * already; raft is a pure state machine and peer a non-blocking poller,
 * so both fit the same loop without a lock.
 *
 * The leader (serving: its no-op of the term is applied, so the tree holds
 * everything before its proposals) preps as a standalone server does, and
 * each loop iteration's prepped txns become ONE log entry (raft_propose:
 * the entry reserves `count` zxids, its payload is the txns' encoded
 * records with their headers, so every replica applies the same txns).
 * Its own pendings are matched to committed txns by zxid (the FIFO r->q).
 * Raft's Ready units are persisted in order: hard state (hardstate.c,
 * synchronous: rare), truncation (after everything earlier is durable),
 * entries through the log's group commit; raft_persisted(seq) is called
 * once the log's durable index reaches what the unit appended, so the
 * leader sends its appends while its own fsync runs.  Committed entries
 * are applied in order on every member (tree_apply, events to the
 * workers); "committed_zxid" is therefore "committed by raft and durable
 * locally", raft's own rule.
 *
 * Followers (the learner side, in this file).  A follower never preps: a
 * write, close, connect (new session: the follower picks the id, its myid
 * in the top byte as ZooKeeper's trackers do) or sync of its clients is
 * forwarded to the leader (F_REQ) and remembered in the learner FIFO.
 * The leader preps it like a local request (origin = the follower);
 * what it answers without a txn (SESSIONEXPIRED, a sync once its read
 * index is confirmed) comes back as F_ANS as soon as the txns prepped
 * before it are proposed, naming the last of them (ens_answer_marker: so
 * it is on the link before any commit of a later txn, and names no zxid
 * that could be reused), answered once the follower applied as much.
 * Everything else is answered when the follower applies the txn whose
 * (session, cxid) matches.  One TCP link carries a follower's requests
 * in order and the leader preps them in arrival order, so txns commit in
 * forward order: when a txn matches entry k, every entry before k still
 * waiting was lost (a dropped frame, a leader that changed) and its
 * connection is closed without an answer (the client sees a connection
 * loss, reconnects and retries: never a wrong answer), as ZooKeeper's
 * learners do when their leader goes.  A leader change, no known leader,
 * a broken link to the leader (learner_link_lost: what was on it is in
 * doubt) or a wait longer than LQ_TIMEOUT_TICKS closes the same way; so
 * does an F_ANS of ZK_CONNECTIONLOSS, the leader's word that it never
 * runs the request: one beyond its bound (fwd_admit), one that came
 * while it did not serve (on_req), one it prepped and dropped unproposed
 * when it stopped serving (stop_serving), a sync it could not confirm
 * (sync_lost).  So the follower need not wait out the timeout, deaf to
 * its clients at its forwarding bound; and the first three cut the
 * session (cut_session): the follower's next request of it must not
 * run without the refused one.  The
 * follower closes a refused request's connection on the answer, before
 * the entry reaches the head (lq_refused): the cut lasts one term only.
 *
 * Sessions.  createSession and closeSession go through the log; every
 * member tracks sessions by applying them; only the serving leader
 * expires (repl.c's timers); followers send their sessions' activity
 * (touches) to the leader in batches every TOUCH_TICKS; a new leader
 * gives every session a fresh timeout.  A client reconnecting to a
 * follower is checked there (password, known session) as repl.c does;
 * a wrong password is answered at once (ZooKeeperServer.reopenSession
 * checks it first); every other reconnect is first revalidated
 * (ZooKeeper's Learner.revalidate):
 * the leader records the follower as the session's owner and names how
 * far to catch up (F_REQ kind FK_REVALIDATE; the session may not be
 * known here yet), then the follower checks.  SESSIONMOVED, as
 * ZooKeeper's PrepRequestProcessor / SessionTrackerImpl.checkSession:
 * the serving leader keeps each session's owner member in memory (set by
 * createSession and by a reconnect, on the leader or revalidated; a new
 * leader knows none, and the first write or sync names it); a write
 * from another member, or a sync of the leader's own client of a session
 * owned elsewhere, is answered SESSIONMOVED, which closes that connection
 * without a reply (FinalRequestProcessor).  A follower's sync and
 * closeSession are not checked (ZooKeeper's are not), nor reads
 * (ZooKeeper checks those its leader runs for its own clients; a known
 * difference).  A member without a leader closes its clients'
 * connections, as ZooKeeper's servers do during an election, and a
 * connect request at once (send_refuse_connect: by the connect's xid,
 * the connection has no session id yet), never SESSIONEXPIRED: this
 * member may lag; except for a tick after it lost its leader, when it
 * holds connects for the next one (hold_connect), which in turn holds
 * forwarded requests until it serves (electing).
 *
 * Read-only mode (readonlymode.enabled=true; ZooKeeper's
 * ReadOnlyZooKeeperServer).  A member without a leader for max(2 s,
 * tickTime) (QuorumPeer's grace period while LOOKING) serves clients that
 * connected with canBeReadOnly: the ConnectResponse says readOnly, the
 * session is local (tracked here only, never in the log; its id from this
 * member's tracker, myid in the top byte), reads run on this member's
 * tree, writes and syncs answer NOTREADONLY, closeSession forgets it.  A
 * client not asking for read-only, or reconnecting with a session of the
 * quorum, is closed; an unknown session id is answered SESSIONEXPIRED.
 * A local session expires timeout ms after its last touch, as ZooKeeper's
 * LocalSessionTracker's (ro_expire); its client may reconnect to it on
 * this member until then.  When a
 * leader is known again, every read-only session's connection is closed
 * and the session forgotten: clients reconnect as normal sessions.
 *
 * sync.  The leader asks raft for a read index (a quorum confirms it
 * still leads) before the sync joins r->q; input is held meanwhile, so
 * nothing a session sent after its sync is queued before it.  A deposed
 * leader therefore never answers a sync with stale data.
 *
 * Time.  One tick = tickTime / 2 (raft.h); ticks come START_TICK_DIV
 * times faster until a leader is first known (a fresh ensemble elects in
 * seconds).  Followers report a dead leader's closed link to raft in
 * turns (on_event), so their votes do not split; a leader silent for
 * syncLimit tickTimes is given up to the millisecond (ens_next_ms wakes
 * the loop then), and a follower without a leader asks for a pre-vote
 * again every round of turns (leader_gone).  On a reconnected link
 * the leader resets the peer's progress (raft_peer_reset): the peer may
 * have restarted with less than it acknowledged.  SIGTERM on the leader
 * hands leadership over first (ens_stop, ens_transferring).  The core
 * sleeps after a pass that reports no work; a pass that leaves work
 * behind (a forwarded write prepped after its proposal step, frames its
 * late peer_poll read: unfinished) reports it, so none waits for a tick.
 *
 * Frames on the peer link (peer_send types; every payload in a fixed,
 * documented byte order, never a host struct):
 *   F_RAFT  a raft message (raft_msg.h: big-endian, its own CRC)
 *   F_REQ   follower -> leader: an ens_fwd_req header (ens_wire.h,
 *           little-endian), then a write's wire form (repl.h,
 *           repl_write_decode checks it on arrival)
 *   F_ANS   leader -> follower: an ens_fwd_ans (ens_wire.h)
 *   F_TOUCH follower -> leader: ens_fwd_touch records (ens_wire.h)
 * Log entries and snapshot metas: ens_wire.h too.
 * Everything off the wire is checked (lengths, ids, raft_msg_decode)
 * before raft_step or prep sees it; bad input is logged (rate-limited)
 * and dropped, never fatal.
 *
 * Snapshots (ens_snapshot, below): every member snapshots on its own
 * after snapCount applied txns; once durable, its meta (ensmeta.<zxid>)
 * is written and raft drops the log up to the previous snapshot.  A
 * restart loads the newest snapshot with a meta and raft replays the log
 * after it.
 *
 * A peer below the leader's log: raft's RAFT_MSG_SNAP is not sent as such;
 * the leader streams raft's base snapshot file (pread chunk by chunk,
 * never whole in memory) in SNAP_CHUNK / SNAP_ACK frames (snap_stream.h,
 * go-back-N, whole-stream CRC).  The follower takes chunks from its
 * leader of the current term only, writes each at its offset into
 * snapshot.<zxid>.recv, stores the whole (fsync, rename) and its meta
 * durably, then steps the SNAP into raft, whose install (persist ->
 * install_begin .. install_finish) is carried out live: the file is
 * loaded into a fresh tree on a loader thread while the core goes on
 * (acknowledging nothing past the snapshot until the swap), the whole
 * log is discarded (the entry at the base too: its term may differ), and
 * repl_install_tree swaps tree, prep state and session
 * tracker and sends REPL_OUT_TREE to every worker, which closes all its
 * connections there (their watches were set on the old tree, and the
 * events in between were never made) and reads the new tree from then
 * on; the old tree is freed once every worker acknowledged
 * (repl_reclaim_trees).  The member applies from base + 1 and refuses
 * client connections until it applied its leader's commit index as a
 * read index asked after the install (catch_up): the snapshot is a fuzzy
 * walk, a consistent state only once the log is replayed to where the
 * walk ended.  A snapshot that cannot be loaded stops the member
 * (-ESTALE, exit status 1), to load it at its next start.
 *
 * Not yet: membership changes.
 */
#include "ensemble.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/hist.h"
#include "common/log.h"
#include "config/config.h"
#include "ens_conf.h"
#include "ens_wire.h"
#include "peer/peer.h"
#include "peer/peer_sasl.h"
#include "raft/raft.h"
#include "raft/raft_msg.h"
#include "raft/snap_stream.h"
#include "repl_core.h"
#include "repl_priv.h"
#include "snap_base.h"
#include "store/hardstate.h"
#include "txlog.h"

enum frame_type { F_RAFT = 1, F_REQ = 2, F_ANS = 3, F_TOUCH = 4 };

enum fwd_kind { FK_WRITE = 1, FK_CLOSE, FK_CONNECT, FK_SYNC, FK_REVALIDATE };

#define PROPOSE_MAX (1u << 20)	   /* payload bytes per entry (one txn may exceed) */
#define MAX_MSG_ENTRIES 64u	   /* raft's per-append limit */
#define DECODE_ENTRIES 1024u	   /* decoder's room: above what any peer should send */
#define PEER_MAX_FRAME (64u << 20) /* a batch of large txns */
#define PEER_QUEUE_BYTES (128u << 20)
#define LQ_TIMEOUT_TICKS 40	/* a forwarded request unanswered this long is lost */
#define TOUCH_TICKS 1		/* followers send touches every tick */
#define TOUCH_MAX 4096u		/* touches per frame */
#define LOST_STAGGER_DIV 10	/* followers react to a dead leader a tenth of a tick apart, */
#define LOST_STAGGER_MIN_MS 20	/* and at least this much */
#define START_TICK_DIV 4	/* ticks before the first leader is known */
#define HOLD_MAX 4096u		/* connects held while a leader is elected */
#define SNAP_CHUNK (256u << 10) /* snapshot transfer: bytes per chunk, */
#define SNAP_WINDOW 8u		/* chunks in flight, */
#define SNAP_RTO 4u		/* ticks without progress before going back, */
#define SNAP_GIVE_UP 40u	/* and before failing */

enum lq_kind { LQ_WRITE = 1, LQ_CLOSE, LQ_CONNECT, LQ_SYNC, LQ_LOCAL, LQ_RECONNECT };
enum lq_state { LQ_WAIT = 1, LQ_ANSWERED, LQ_LOST };
#define LQ_HASH 1024

/* A follower's request waiting for the leader (the learner FIFO). */
struct lent {
	uint8_t kind;
	uint8_t state;
	int32_t err;
	uint32_t worker;
	uint32_t conn;
	int32_t xid;
	int64_t session;
	int32_t timeout;
	int64_t after;
	int64_t deadline;	       /* ms */
	bool requeue;		       /* a connect lost with its leader: held (hold_connect) */
	bool closed;		       /* its connection closed already (lq_refused) */
	struct repl_connect req;       /* connects: LQ_RECONNECT checks it here once caught up */
	struct rd *reads, *reads_last; /* run once this one is answered (learner_read) */
	uint32_t bytes;		       /* the forwarded frame's (lq_bytes) */
};

/* A connect held while a leader is elected (hold_connect). */
struct hconn {
	uint32_t worker;
	uint32_t conn;
	int32_t xid;
	int64_t session;
	struct repl_connect req;
};

/* A leader's sync waiting for its read index. */
struct psync {
	uint64_t ctx;
	uint32_t worker;
	uint32_t conn;
	int32_t xid;
	int64_t session;
	uint32_t origin;
	int64_t deadline; /* ms: not confirmed by then, it is lost */
};

/* A follower's request frame held while a sync waits (processed in order). */
struct held {
	struct held *next;
	uint32_t from;
	size_t len;
	uint8_t data[];
};

struct punit {
	uint64_t seq;
	int64_t target; /* durable once the log's durable index reaches it */
};

struct ens {
	uint32_t myid;
	struct ens_members members; /* with addresses: /zookeeper/config */
	/* A reconfig prepped (in r->q) and not applied yet: its pending's zxid. */
	int64_t conf_zxid;
	struct raft_conf conf_next; /* raft's view of it, for ens_propose */
	struct raft *raft;
	struct peer *peer;
	struct hardstate_file *hsf;
	int64_t tick_ms;
	int64_t next_tick;
	uint64_t peer_next;
	/* Frames and link events peer_poll handed over (ens_iterate's late poll). */
	uint32_t delivered;
	/* ens_propose left txns in r->q: raft refused them (retried after a commit). */
	bool propose_refused;
	/* Ready units waiting for the disk. */
	struct punit *pq;
	uint32_t pq_cap, pq_head, pq_len;
	uint64_t durable_seq; /* units found durable inside a Ready, reported after it */
	/* What the core reported and what we did about it. */
	enum raft_role role;
	uint32_t leader;
	uint64_t term;
	bool serving;
	bool observer;
	uint64_t applied_index, applied_term;
	uint64_t applied_txns;
	/* Learner FIFO (circular), and the bytes of its forwarded frames. */
	struct lent *lq;
	uint32_t lq_cap, lq_head, lq_len;
	uint64_t lq_bytes;
	/* Entries in LQ_WAIT per session hash: most applied txns match none. */
	uint32_t lq_wait[LQ_HASH];
	/* Touches to send to the leader, encoded (ENS_FWD_TOUCH_SIZE each). */
	uint8_t *touch;
	uint32_t ntouch, touch_cap;
	int64_t next_touch;
	/* Buffers. */
	struct raft_entry *dents;
	uint8_t *pbuf;
	size_t pbuf_cap;
	/* Leader syncs waiting for a read index; frames held meanwhile. */
	struct psync *ps;
	uint32_t nps, ps_cap;
	uint64_t read_ctx;
	struct held *held_head, *held_tail;
	/* Frames held per member, and their bytes (fwd_admit's bound). */
	uint32_t held_n[256];
	uint64_t held_bytes[256];
	/* Forwarded requests refused over FWD_LEADER_MAX (logged every 10 s). */
	uint64_t fwd_refused;
	int64_t last_fwd_log;
	bool transferring;    /* stopping: leadership being handed over */
	bool seen_leader;     /* a leader was known since start */
	uint32_t lost_id;     /* the leader's link closed: raft_peer_lost at lost_at */
	int64_t heard_leader; /* ms: last message from the leader */
	int64_t heard[256];   /* ms: last raft message from each server id */
	int64_t silence_ms;   /* a follower gives up on a silent leader after this */
	int64_t lost_at;
	uint64_t owners_term; /* sess->member is this member's knowledge as leader of it */
	int64_t revote_at;    /* ms: pre-vote again if still no leader (0: no) */
	int64_t revote_until; /* ms: after this raft's own timeout takes over */
	int64_t revote_gap;   /* ms between this member's own attempts */
	/* Connects held while a leader is elected (hold_connect). */
	struct hconn *hc;
	uint32_t nhc, hc_cap;
	int64_t hold_until; /* ms: connects arriving without a leader are held until then */
	int64_t elected_at; /* ms: this member became raft's leader (electing()) */
	uint64_t bad_frames;
	int64_t last_bad_log;
	/* Published for srvr/mntr and the AdminServer (relaxed atomics). */
	int state; /* 0 looking, 1 leader, 2 follower, 3 observer, 4 read-only */
	/* the leader's id while state is 1..3, else 0 */
	uint32_t pub_leader;
	/* Read-only mode (readonlymode.enabled): see the opening comment. */
	bool ro_enabled;
	int64_t ro_grace_ms;   /* max(2000, tickTime) */
	int64_t looking_since; /* ms: no leader since (0: a leader is known) */
	int64_t ro_next_check; /* ms: ro_expire's next scan */
	int64_t *ro_ids;       /* the local sessions, unordered */
	uint32_t nro, ro_cap;
	uint32_t q_learners, q_synced, q_observers, q_syncs, q_voters;
	uint64_t q_obs_mask[4]; /* the synced observers' ids (bit id), ids < 256 */
	/*
	 * Elections for /metrics (ZooKeeper's looking_count and
	 * election_time): entries into LOOKING (read-only mode counts as
	 * looking, as in ZooKeeper) and the ms each took until a leader was
	 * known.  Written by the core only (looking_count relaxed, the
	 * histogram as hist.h's single writer).
	 */
	bool elect_looking;
	int64_t elect_start;
	uint64_t looking_count;
	struct hist election_ms;
	/*
	 * PROPOSAL_ACK_CREATION_LATENCY and the leader's own ACK_LATENCY
	 * (acks_made): entries up to ack_idx are counted, or were durable
	 * before this process appended anything.
	 */
	uint64_t ack_idx;
	/*
	 * The last zxid of the log this member loaded at start: entries up
	 * to it are its own log replayed, which ZooKeeper loads at start;
	 * the commit counters and latencies count only those after it.
	 */
	uint64_t live_zxid;
	/* Learners' revalidations answered as leader (REVALIDATE_COUNT): core, relaxed. */
	uint64_t revalidate_count;
	uint64_t q_lag_mask[4]; /* members with a q_lag (bit id), ids < 256 */
	uint64_t q_lag[256];	/* entries of the leader's log not durable on member id */
	/*
	 * Per-observer link figures for the AdminServer (repl_observers):
	 * the core counts requests forwarded per member and the last zxid
	 * appended to each, and publishes the synced observers' figures in
	 * publish_stats under obs_seq (odd while it writes; readers retry).
	 * obs_base: the counters at the last reset (orst), asked through
	 * obs_reset (any thread) and carried out by the core.
	 */
	uint64_t fwd_req[256];
	int64_t link_zxid[256];
	struct {
		uint64_t sent, recv, req;
	} obs_base[256];
	uint32_t obs_reset, obs_reset_done;
	uint32_t obs_seq;
	uint32_t obs_n;
	struct repl_learner_info obs[REPL_OBSERVERS_MAX];
	int64_t lead_since;
	int64_t next_stats;
	int64_t prop_last, prop_min, prop_max; /* -1: none */
	uint64_t lead_term;		       /* the term it serves */
	/* Snapshots (ens_snapshot). */
	int64_t skip_zxid;  /* txns up to this are in the loaded snapshot */
	bool snap_due;	    /* snapCount txns applied since the last one */
	bool snap_pending;  /* the worker writes the snapshot of snap_meta */
	uint64_t snap_jobs; /* snapdir jobs finished when it was requested */
	struct raft_snap_meta snap_meta;
	struct raft_snap_meta prev_meta; /* the newest durable snapshot's (index 0: none) */
	/* raft's base: the snapshot file a lagging peer is sent (-1: none) */
	struct raft_snap_meta base_meta;
	int64_t base_file, prev_file;
	uint64_t ticks;
	/* Transfers: to each peer (leader), from the leader (follower). */
	struct sout *sout[256];
	bool sout_live; /* some sout may be asked or active (snap_out_idle) */
	struct snap_recv srecv;
	int rfd; /* snapshot.<rzxid>.recv being written (-1: none) */
	int64_t rzxid;
	uint64_t rlen; /* bytes written to it, in order */
	/* A live install whose snapshot loads on the loader thread (install_begin). */
	bool installing;
	struct raft_snap_meta inst_meta;
	struct inst_job *inst;
	pthread_t inst_thread;
	bool inst_threaded;	  /* inst_thread runs (else loaded inline) */
	uint64_t inst_t0;	  /* ns: install_begin */
	int64_t inst_next;	  /* ms: the core looks at the loader again then */
	struct inst_unit *iunits; /* Ready units persisted meanwhile, in order */
	uint32_t niunits, iunits_cap;
	struct raft_entry *ients; /* their entries (data copied), written at the swap */
	uint32_t nients, ients_cap;
	/* After a live install: not serving clients until caught up (catch_up). */
	enum { CU_NONE, CU_LOAD, CU_ASK, CU_WAIT, CU_APPLY } cu;
	uint64_t cu_ctx;     /* the read index asked for */
	uint64_t cu_target;  /* the leader's commit index it answered */
	int64_t cu_deadline; /* ms: CU_WAIT asks again after this */
	int64_t cu_since;    /* ms: the install */
};

/* The loader thread's job: snapshot.<zxid> into a fresh tree. */
struct inst_job {
	struct snapdir *snap;
	const struct tree_opts *topts;
	struct txlog *log; /* its caller side is the loader's until done */
	int64_t zxid;	   /* the file's name: the meta's zxid */
	struct tree *t;	   /* out: the loaded tree (the core's once done) */
	int64_t loaded;	   /* out: its last zxid */
	int rc;		   /* out: 0, or why the snapshot cannot be installed */
	int log_rc;	   /* out: 0, or the log's truncation failed (disk) */
	bool done;	   /* atomic: the thread wrote the outs and is finishing */
};

/* A Ready unit persisted while the snapshot loads: reported after the swap. */
struct inst_unit {
	uint64_t seq;
	uint64_t last; /* the last entry index it covers (0: none after the base) */
};

/* A snapshot being sent to one peer (snap_stream.h). */
struct sout {
	bool asked; /* raft asked (RAFT_MSG_SNAP): start at the next iteration */
	bool active;
	struct raft_snap_meta meta;
	uint64_t term;
	struct snap_send ss;
	int fd; /* the snapshot file, open while active (-1 otherwise) */
	uint64_t size;
	uint8_t chunk[SNAP_CHUNK + 4];
};

/* ---- Small helpers ---- */

bool ens_configured(const struct cfg *c)
{
	return c && c->n_servers >= 2;
}

int ens_read_myid(const struct cfg *c, uint32_t *id)
{
	char path[4096], buf[64];
	unsigned long v;
	char *end;
	ssize_t n;
	int fd, rc;

	if (snprintf(path, sizeof(path), "%s/myid", c->data_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_error("ensemble: zoo.cfg lists %zu servers but %s cannot be read (%s): each "
			  "member needs its id there, as ZooKeeper's",
			  c->n_servers, path, strerror(-rc));
		return rc;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 10);
	while (*end && isspace((unsigned char)*end))
		end++;
	if (errno || end == buf || *end || v < 1 || v > 255) {
		log_error("ensemble: %s does not hold a server id between 1 and 255", path);
		return -EINVAL;
	}
	*id = (uint32_t)v;
	return 0;
}

static struct ens *E(const struct repl *r)
{
	return r->ens;
}

bool ens_serving(const struct repl *r)
{
	return r->ens && r->ens->serving;
}

int ens_fd(const struct repl *r)
{
	return peer_fd(E(r)->peer);
}

int64_t ens_next_ms(const struct repl *r)
{
	const struct ens *e = E(r);
	int64_t t = e->next_tick;

	if (e->peer_next < (uint64_t)t)
		t = (int64_t)e->peer_next;
	if (e->ntouch && e->next_touch < t)
		t = e->next_touch;
	if (e->lost_id && e->lost_at < t)
		t = e->lost_at;
	if (e->installing && e->inst_next < t)
		t = e->inst_next; /* the loader does not wake the core: it looks */
	if (e->revote_at && e->revote_at < t)
		t = e->revote_at;
	if (e->nhc && e->hold_until < t)
		t = e->hold_until;
	if (e->held_head && e->role == RAFT_LEADER && !e->serving && e->elected_at + e->tick_ms < t)
		t = e->elected_at + e->tick_ms;
	/*
	 * A silent leader is given up at syncLimit tickTimes to the
	 * millisecond (ens_iterate), as ZooKeeper's follower's read timeout
	 * fires, not at the next tick after it.
	 */
	if (!e->lost_id && e->role == RAFT_FOLLOWER && e->leader && e->leader != e->myid &&
	    e->heard_leader + e->silence_ms + 1 < t)
		t = e->heard_leader + e->silence_ms + 1;
	return t;
}

uint32_t ens_myid(const struct repl *r)
{
	return E(r)->myid;
}

const char *ens_state(const struct repl *r)
{
	static const char *const names[] = {"looking", "leader", "follower", "observer",
					    "read-only"};
	int s = __atomic_load_n(&E(r)->state, __ATOMIC_RELAXED);

	assert(s >= 0 && s <= 4);
	return names[s];
}

static void bad_input(struct ens *e, int64_t now, uint32_t from, const char *what)
{
	e->bad_frames++;
	if (now - e->last_bad_log >= 10000 || e->last_bad_log == 0) {
		e->last_bad_log = now;
		log_warn("ensemble: dropped a frame from server %u: %s (%" PRIu64
			 " bad frames so far; logged every 10 s)",
			 from, what, e->bad_frames);
	}
}

/*
 * Writes ensmeta.<file> (snapdir_meta_put): sm in its fixed little-endian
 * form (ens_wire.h), the log kept from sm->index + 1.
 */
static int meta_put(struct repl *r, int64_t file, const struct raft_snap_meta *sm)
{
	uint8_t b[ENS_META_SIZE];

	ens_meta_encode(sm, b);
	return snapdir_meta_put(r->snap, file, (int64_t)sm->index + 1, b, sizeof(b));
}

/* ---- Learner FIFO ---- */

static struct lent *lq_at(struct ens *e, uint32_t i)
{
	return &e->lq[(e->lq_head + i) & (e->lq_cap - 1)];
}

static struct lent *lq_push(struct ens *e)
{
	struct lent *l;

	if (e->lq_len == e->lq_cap) {
		uint32_t ncap = e->lq_cap ? e->lq_cap * 2 : 256;
		struct lent *n = malloc((size_t)ncap * sizeof(*n));

		if (!n)
			return NULL;
		for (uint32_t i = 0; i < e->lq_len; i++)
			n[i] = *lq_at(e, i);
		free(e->lq);
		e->lq = n;
		e->lq_cap = ncap;
		e->lq_head = 0;
	}
	l = &e->lq[(e->lq_head + e->lq_len) & (e->lq_cap - 1)];
	memset(l, 0, sizeof(*l));
	e->lq_len++;
	return l;
}

/*
 * Pops the head, answered: the reads of its session that followed it
 * run now, before anything later is applied; when its connection was
 * closed instead (lost), they are dropped with it.
 */
/*
 * Drops the reads that followed a request whose connection was closed
 * unanswered.  A read of the session on another connection (the session
 * moved) closes that connection too: else it would wait for ever.
 */
static void drop_reads(struct repl *r, struct rd *d, uint32_t worker, uint32_t conn)
{
	while (d) {
		struct rd *next = d->next;

		if (d->worker != worker || d->conn != conn)
			send_expire(r, d->worker, d->conn, d->session);
		rd_put(r, d);
		d = next;
	}
}

static void lq_pop(struct repl *r, bool lost)
{
	struct ens *e = E(r);
	struct lent *l = lq_at(e, 0);
	struct rd *d = l->reads;
	uint32_t worker = l->worker, conn = l->conn;

	assert(e->lq_len > 0 && e->lq_bytes >= l->bytes);
	e->lq_bytes -= l->bytes;
	e->lq_head = (e->lq_head + 1) & (e->lq_cap - 1);
	e->lq_len--;
	if (lost) {
		drop_reads(r, d, worker, conn);
		return;
	}
	while (d) {
		struct rd *next = d->next;

		exec_read(r, d);
		d = next;
	}
}

static uint32_t sess_slot(int64_t session)
{
	return (uint32_t)(((uint64_t)session * 0x9e3779b97f4a7c15ull) >> 54) & (LQ_HASH - 1);
}

/* Every way out of LQ_WAIT goes through here (the per-session counts). */
static void lq_set(struct ens *e, struct lent *l, uint8_t state)
{
	if (l->state == LQ_WAIT) {
		assert(e->lq_wait[sess_slot(l->session)] > 0);
		e->lq_wait[sess_slot(l->session)]--;
	}
	l->state = state;
}

static void answer_err(struct repl *r, uint32_t wi, uint32_t conn, int32_t xid, int64_t session,
		       int32_t err)
{
	struct repl_result *res;

	if (wi >= r->nworkers)
		return;
	if (err == ZK_SESSIONMOVED) {
		/* A connection-level error: closed, no reply (FinalRequestProcessor). */
		log_info("ensemble: session 0x%" PRIx64 " moved to another server; closing its "
			 "connection here",
			 (uint64_t)session);
		send_expire(r, wi, conn, session);
		return;
	}
	res = result_new(err, 0, 0);
	if (!res)
		die_oom("answering a request", r->last_applied);
	send_simple(r, wi, REPL_OUT_RESULT, conn, xid, session, r->last_applied, res);
}

static bool hold_connect(struct repl *r, uint32_t wi, uint32_t conn, int32_t xid, int64_t session,
			 const struct repl_connect *c);

/* Sends the head's answer if it has one; false when the head must wait. */
static bool lq_answer_head(struct repl *r)
{
	struct ens *e = E(r);
	struct lent *l = lq_at(e, 0);

	if (l->state == LQ_WAIT) {
		if (r->now < l->deadline)
			return false;
		log_info("ensemble: no answer from the leader for session 0x%" PRIx64
			 " within %d ticks; closing its connection",
			 (uint64_t)l->session, LQ_TIMEOUT_TICKS);
		lq_set(e, l, LQ_LOST);
	}
	if (l->state == LQ_ANSWERED && l->after > r->last_applied) {
		if (r->now < l->deadline)
			return false;
		l->state = LQ_LOST; /* the leader named a zxid we never applied */
	}
	if (l->state == LQ_ANSWERED && l->kind == LQ_RECONNECT) {
		/* Caught up with the leader: the session is known here if it lives. */
		struct repl_in m = {.kind = REPL_IN_CONNECT,
				    .conn = l->conn,
				    .xid = l->xid,
				    .session = l->session,
				    .body = &l->req};

		do_connect(r, l->worker, &m);
	} else if (l->state == LQ_LOST || (l->kind == LQ_CONNECT && l->err != ZK_OK) ||
		   l->err == ZK_SESSIONMOVED) {
		/* Connection loss: the client reconnects (elsewhere) and retries. */
		if (l->kind == LQ_CONNECT || l->kind == LQ_RECONNECT) {
			/* A connect lost with its leader waits for the next one. */
			if (!l->requeue || l->state != LQ_LOST ||
			    !hold_connect(r, l->worker, l->conn, l->xid, l->req.session, &l->req))
				send_refuse_pending(r, l->worker, l->conn, l->xid, l->session);
		} else if (!l->closed)
			send_expire(r, l->worker, l->conn, l->session);
		lq_pop(r, true);
		return true;
	} else {
		answer_err(r, l->worker, l->conn, l->xid, l->session, l->err);
	}
	lq_pop(r, false);
	return true;
}

static uint32_t lq_drain(struct repl *r)
{
	struct ens *e = E(r);
	uint32_t n = 0;

	while (e->lq_len && lq_answer_head(r))
		n++;
	return n;
}

/*
 * Every request waiting for the leader is lost (leader gone or changed);
 * a connect among them is held for the next leader (hold_connect).
 */
static void lq_all_lost(struct repl *r)
{
	struct ens *e = E(r);

	for (uint32_t i = 0; i < e->lq_len; i++) {
		struct lent *l = lq_at(e, i);

		if (l->state != LQ_WAIT)
			continue;
		l->requeue = l->kind == LQ_CONNECT || l->kind == LQ_RECONNECT;
		lq_set(e, l, LQ_LOST);
	}
	lq_drain(r);
}

/*
 * Before a live install swaps the tree and the session tracker: the
 * whole learner FIFO goes.  An answer the old tree satisfies (after
 * applied) is given now, in order; every other entry, waiting or
 * answered with an after not applied yet, is lost: after the swap it
 * would run against the new tree and tracker (a snapshot past its
 * after, or a session the snapshot does not hold), and its txn may
 * never be applied here (skip_zxid).  The client reconnects.
 */
static void lq_all_lost_install(struct repl *r)
{
	struct ens *e = E(r);

	for (uint32_t i = 0; i < e->lq_len; i++) {
		struct lent *l = lq_at(e, i);

		if (l->state == LQ_WAIT)
			lq_set(e, l, LQ_LOST);
		else if (l->state == LQ_ANSWERED && l->after > r->last_applied)
			l->state = LQ_LOST;
	}
	lq_drain(r);
	assert(e->lq_len == 0);
}

static bool lq_matches(const struct lent *l, const struct tree_txn *t)
{
	if (l->state != LQ_WAIT || l->session != t->session)
		return false;
	switch (l->kind) {
	case LQ_CONNECT:
		return t->type == ZK_OP_CREATESESSION;
	case LQ_CLOSE:
		return t->type == ZK_OP_CLOSESESSION;
	case LQ_WRITE:
		return t->type != ZK_OP_CREATESESSION && t->type != ZK_OP_CLOSESESSION &&
		       t->cxid == l->xid;
	default:
		return false;
	}
}

/*
 * The first txn of a newer epoch is about to be applied: an answer whose
 * after names a txn not applied yet waited for a txn of a deposed leader
 * that never committed (an epoch's committed txns all come before the
 * next epoch's; ens_answer_marker), so it is lost: the connection closes,
 * the client retries.
 */
static void lq_epoch_lost(struct repl *r)
{
	struct ens *e = E(r);

	for (uint32_t i = 0; i < e->lq_len; i++) {
		struct lent *l = lq_at(e, i);

		if (l->state == LQ_ANSWERED && l->after > r->last_applied)
			l->state = LQ_LOST;
	}
}

/*
 * The learner entry a committed txn answers, moved to the head (entries
 * before it answered or closed), or NULL.
 */
static struct lent *lq_match(struct repl *r, const struct tree_txn *t)
{
	struct ens *e = E(r);
	uint32_t k;

	if (t->session == 0 || !e->lq_wait[sess_slot(t->session)])
		return NULL;
	for (k = 0; k < e->lq_len; k++)
		if (lq_matches(lq_at(e, k), t))
			break;
	if (k == e->lq_len)
		return NULL;
	/*
	 * Forward order is commit order: what waits before k is lost, and an
	 * answer before k names a zxid before this txn (applied already; a
	 * peer claiming more is not believed: answered now).
	 */
	for (uint32_t i = 0; i < k; i++) {
		struct lent *l = lq_at(e, i);

		if (l->state == LQ_WAIT)
			lq_set(e, l, LQ_LOST);
		if (l->after > r->last_applied)
			l->after = r->last_applied;
	}
	while (k--)
		lq_answer_head(r);
	return lq_at(e, 0);
}

/* ---- Sending ---- */

/* A frame's queueing result, logged as send_frame and send_raft need. */
static int sent(struct repl *r, uint32_t to, size_t len, int rc)
{
	/*
	 * -EINVAL for an id raft knows and the transport not yet: a server
	 * being added is linked once its configuration entry commits
	 * (conf_apply); until then raft's messages to it are lost, as on a
	 * down link.
	 */
	if (rc == -EINVAL && ens_members_find(&E(r)->members, to) == NULL)
		return rc;
	if (rc && rc != -ENOTCONN && rc != -ENOBUFS)
		log_warn("ensemble: cannot queue a frame of %zu bytes for server %u: %s", len, to,
			 strerror(-rc));
	return rc;
}

static int send_frame(struct repl *r, uint32_t to, uint16_t type, const void *p, size_t len)
{
	return sent(r, to, len, peer_send(E(r)->peer, to, type, p, len));
}

/* peer_send_encoded's encoder of a raft message (raft_msg_size bytes). */
static int raft_enc(void *arg, uint8_t *buf, size_t len)
{
	const struct raft_msg *m = arg;
	long n = raft_msg_encode(m, buf, len);

	if (n < 0) {
		log_error("ensemble: cannot encode a raft message (type %u) for server %u: %s",
			  m->type, m->to, strerror((int)-n));
		return -EBADMSG; /* logged: send_raft logs no more */
	}
	assert((size_t)n == len);
	return 0;
}

static void send_raft(struct repl *r, const struct raft_msg *m)
{
	struct ens *e = E(r);
	size_t need;
	int rc;

	if (m->type == RAFT_MSG_SNAP) {
		/* Not sent as such: streamed in chunks (snap_out_start, next iteration). */
		struct sout *so = m->to < 256 ? e->sout[m->to] : NULL;

		if (m->to >= 256)
			return;
		if (!so) {
			if (!(so = e->sout[m->to] = calloc(1, sizeof(*so))))
				return; /* raft_report_snapshot never comes: the probe times out */
			so->fd = -1;
		}
		if (!so->active) {
			so->asked = true;
			e->sout_live = true;
			so->meta = m->snap;
			so->term = m->term;
		}
		return;
	}
	/*
	 * Encoded straight into the peer's queue: an append to each follower
	 * was encoded into mbuf and copied by peer_send, one more copy of
	 * every write per follower (2 x 175 instructions per write on a
	 * leader of 3, callgrind).
	 */
	need = raft_msg_size(m);
	rc = peer_send_encoded(e->peer, m->to, F_RAFT, need, raft_enc, (void *)m);
	if (!rc && m->n_entries && m->to < 256) {
		const struct raft_entry *x = &m->entries[m->n_entries - 1];

		/* LearnerHandler's lastZxid: the last zxid sent (an entry's last txn's). */
		e->link_zxid[m->to] = (int64_t)(x->zxid + x->count - 1);
	}
	if (rc != -EBADMSG)
		sent(r, m->to, need, rc);
}

/* An F_ANS to member `to` (ens_wire.h). */
static void send_ans(struct repl *r, uint32_t to, int64_t session, int64_t after, int32_t cxid,
		     int32_t err)
{
	struct ens_fwd_ans a = {.session = session, .after = after, .cxid = cxid, .err = err};
	uint8_t b[ENS_FWD_ANS_SIZE];

	ens_fwd_ans_encode(&a, b);
	send_frame(r, to, F_ANS, b, sizeof(b));
}

/*
 * The zxid of the last txn in r->q (prepped, maybe not committed yet),
 * or the last applied when none: what a follower must apply before it
 * answers a request prepped now.  Not r->last_zxid: at a term's start
 * that is term << 32, which no member ever applies.  The scan from the
 * tail passes markers only (local ones, held forwarded ones), bounded by
 * the requests in flight.
 */
static int64_t prepped_zxid(struct repl *r)
{
	for (uint32_t i = r->qlen; i-- > 0;)
		if (q_at(r, i)->zxid)
			return q_at(r, i)->zxid;
	return r->last_applied;
}

/*
 * A forwarded request the leader answers without a txn (a marker of
 * origin p->origin: an error found by prep, a sync once its read index
 * is confirmed) is answered as soon as every txn prepped before it is
 * proposed to raft, with after = the last txn prepped before it: the
 * follower answers once it applied that much.
 *
 * Why not when the marker reaches the head of r->q, as a local one is:
 * the commit index that lets the follower apply the txns prepped after
 * the marker leaves in raft's appends (rd.msgs) BEFORE the leader
 * applies them and reaches the marker, so the follower saw a later txn
 * of its own FIFO commit while the marker's F_ANS was still to come,
 * took the marker for lost and closed a healthy connection.  The F_ANS
 * goes on the link to the follower before ens_propose turns anything
 * prepped after the marker into a log entry (here at prep time, or in
 * ens_propose right after the raft_propose that carries the last txn
 * before it: append_backlog runs before ens_iterate's handle_ready), so
 * before any append or commit index that carries such a txn (one link
 * per direction, FIFO).
 *
 * Why not at prep time always: a txn prepped but not yet proposed (it
 * goes to raft in the next append_backlog, later on -EAGAIN) is dropped
 * by stop_serving when the leader stops serving WITHOUT a term change
 * (hears_quorum failed), and start_serving then restarts r->last_zxid at
 * raft's last zxid: the same zxid names another txn of the same epoch,
 * lq_epoch_lost never fires, and the follower would answer, say,
 * NODEEXISTS after a conflicting create that never committed.  An
 * after that is in raft's log keeps its txn for this term: a leader
 * never truncates its own log, and serving resumes only with all of it
 * applied (track_role).  So an F_ANS names only a proposed zxid; a held
 * marker dropped by stop_serving is answered ZK_CONNECTIONLOSS instead,
 * as everything forwarded it drops unproposed (the client reconnects).
 * after may still name a txn that never commits (the leader is
 * deposed); the next leader's txns then carry a higher epoch, and the
 * follower takes the answer for lost when it applies the first of them
 * without having reached after (apply_txn): never a wrong answer.
 */
static void send_marker(struct repl *r, const struct pending *p, int64_t after)
{
	assert(p->origin && p->zxid == 0);
	send_ans(r, p->origin, p->session, after, p->xid, p->kind == P_SYNC ? ZK_OK : p->err);
}

bool ens_answer_marker(struct repl *r, const struct pending *p)
{
	/* The last txn in r->q is proposed iff all are (proposed in order). */
	for (uint32_t i = r->qlen; i-- > 0;) {
		const struct pending *t = q_at(r, i);

		if (t->zxid) {
			if (!t->appended)
				return false; /* held: ens_propose sends it */
			break;
		}
	}
	send_marker(r, p, prepped_zxid(r));
	return true;
}

/*
 * Sends the F_ANS of the held forwarded markers in r->q[from, to), every
 * txn before each of them proposed now (ens_propose).  after: the last
 * txn before it, found by a scan back over markers only.
 */
static void send_held_markers(struct repl *r, uint32_t from, uint32_t to)
{
	for (uint32_t k = from; k < to; k++) {
		struct pending *p = q_at(r, k);
		int64_t after = r->last_applied;

		if (p->zxid || !p->origin || p->appended)
			continue;
		for (uint32_t i = k; i-- > 0;) {
			const struct pending *t = q_at(r, i);

			if (t->zxid) {
				/* Never an F_ANS naming a txn not in raft's log. */
				assert(t->appended);
				after = t->zxid;
				break;
			}
		}
		send_marker(r, p, after);
		p->appended = true; /* sent: popped silently at the head */
	}
}

void ens_session_claim(const struct repl *r, struct sess *s)
{
	s->member = r->cur_origin ? r->cur_origin : E(r)->myid;
}

bool ens_session_owned(const struct repl *r, struct sess *s)
{
	uint32_t member = r->cur_origin ? r->cur_origin : E(r)->myid;

	if (!s->member)
		s->member = member; /* checkSession: a session without owner takes this one */
	return s->member == member;
}

void ens_answer_remote(struct repl *r, const struct pending *p, int32_t err)
{
	send_ans(r, p->origin, p->session, r->last_applied, p->xid, err);
}

static void send_touches(struct repl *r)
{
	struct ens *e = E(r);

	if (e->ntouch && e->leader && e->leader != e->myid)
		send_frame(r, e->leader, F_TOUCH, e->touch, e->ntouch * ENS_FWD_TOUCH_SIZE);
	e->ntouch = 0;
	e->next_touch = r->now + e->tick_ms * TOUCH_TICKS;
}

static void queue_touch(struct repl *r, int64_t session, int32_t timeout)
{
	struct ens *e = E(r);

	if (e->ntouch == e->touch_cap) {
		uint32_t ncap = e->touch_cap ? e->touch_cap * 2 : 64;
		uint8_t *n;

		if (ncap > TOUCH_MAX) {
			send_touches(r);
		} else {
			n = realloc(e->touch, (size_t)ncap * ENS_FWD_TOUCH_SIZE);
			if (!n)
				return; /* the next touch tells the leader */
			e->touch = n;
			e->touch_cap = ncap;
		}
	}
	if (e->ntouch == 0)
		e->next_touch = r->now + e->tick_ms * TOUCH_TICKS;
	ens_fwd_touch_encode(&(struct ens_fwd_touch){.session = session, .timeout = timeout},
			     e->touch + (size_t)e->ntouch++ * ENS_FWD_TOUCH_SIZE);
}

/* ---- The learner side of worker requests ---- */

static int32_t clamp_timeout(const struct repl *r, int32_t t)
{
	if (t < r->min_to)
		t = r->min_to;
	if (t > r->max_to)
		t = r->max_to;
	return t;
}

/*
 * Closes the connection of a request that cannot be forwarded: a connect
 * by its xid (the connection holds no session yet, or the one it asked
 * for), anything else by its session.
 */
static void refuse(struct repl *r, uint32_t wi, const struct repl_in *m, int64_t session)
{
	if (m->kind == REPL_IN_CONNECT)
		send_refuse_connect(r, wi, m);
	else
		send_expire(r, wi, m->conn, session);
}

/*
 * Queues a learner entry and sends the request, with the wire form of w
 * (checked) when not NULL; NULL when refused at once.
 */
static struct lent *forward(struct repl *r, uint32_t wi, const struct repl_in *m, uint8_t fkind,
			    uint8_t lkind, int64_t session, int32_t cxid, int32_t timeout,
			    const struct repl_write *w)
{
	struct ens *e = E(r);
	size_t body_len = w ? repl_write_wire_size(w) : 0;
	struct ens_fwd_req h = {
	    .kind = fkind,
	    .cxid = cxid,
	    .session = session,
	    .timeout = timeout,
	    .body_len = (uint32_t)body_len,
	};
	struct lent *l;
	uint8_t *buf;
	int rc;

	if (!e->leader || e->leader == e->myid) {
		/* An election is running: clients reconnect, as ZooKeeper's do. */
		refuse(r, wi, m, session);
		return NULL;
	}
	l = lq_push(e);
	buf = (w && !body_len) || body_len > UINT32_MAX - ENS_FWD_REQ_SIZE
		  ? NULL
		  : malloc(ENS_FWD_REQ_SIZE + body_len);
	if (!l || !buf) {
		free(buf);
		if (l)
			e->lq_len--;
		log_error("ensemble: out of memory forwarding a request of session 0x%" PRIx64,
			  (uint64_t)session);
		refuse(r, wi, m, session);
		return NULL;
	}
	ens_fwd_req_encode(&h, buf);
	if (w)
		repl_write_encode(w, buf + ENS_FWD_REQ_SIZE);
	rc = send_frame(r, e->leader, F_REQ, buf, ENS_FWD_REQ_SIZE + body_len);
	free(buf);
	*l = (struct lent){
	    .kind = lkind,
	    .state = rc ? LQ_LOST : LQ_WAIT,
	    .worker = wi,
	    .conn = m->conn,
	    .xid = m->xid,
	    .session = session,
	    .timeout = timeout,
	    .deadline = r->now + LQ_TIMEOUT_TICKS * e->tick_ms,
	    .bytes = (uint32_t)(ENS_FWD_REQ_SIZE + body_len),
	};
	e->lq_bytes += l->bytes;
	if (l->state == LQ_WAIT)
		e->lq_wait[sess_slot(session)]++;
	return l;
}

static void local_answer(struct repl *r, uint32_t wi, const struct repl_in *m, int32_t err)
{
	struct lent *l = lq_push(E(r));

	if (!l) {
		send_expire(r, wi, m->conn, m->session);
		return;
	}
	*l = (struct lent){
	    .kind = LQ_LOCAL,
	    .state = LQ_ANSWERED,
	    .err = err,
	    .worker = wi,
	    .conn = m->conn,
	    .xid = m->xid,
	    .session = m->session,
	};
}

/* ---- Read-only mode (the core thread only) ---- */

static void learner_read(struct repl *r, uint32_t wi, struct repl_in *m);

static bool ro_mode(const struct ens *e)
{
	return e->state == 4;
}

static int64_t *ro_find(struct ens *e, int64_t id)
{
	for (uint32_t i = 0; i < e->nro; i++)
		if (e->ro_ids[i] == id)
			return &e->ro_ids[i];
	return NULL;
}

/* Forgets a local session (NULL-safe on other ids); its connection stays. */
static void ro_forget(struct repl *r, int64_t id)
{
	struct ens *e = E(r);
	int64_t *p = ro_find(e, id);

	if (!p)
		return;
	*p = e->ro_ids[--e->nro];
	sess_remove(r->sess, id);
}

/*
 * Local sessions expire as ZooKeeper's LocalSessionTracker's: timeout ms
 * after their last touch (the workers' REPL_IN_TOUCH), connected or not.
 * Checked once a tick: O(local sessions).
 */
static void ro_expire(struct repl *r)
{
	struct ens *e = E(r);

	if (r->now < e->ro_next_check)
		return;
	e->ro_next_check = r->now + e->tick_ms;
	for (uint32_t i = e->nro; i-- > 0;) {
		struct sess *s = sess_find(r->sess, e->ro_ids[i]);

		if (s && r->now < s->expiry_ms)
			continue;
		if (s && s->owned)
			send_expire(r, s->owner_worker, s->owner_conn, s->id);
		log_debug("ensemble: read-only session 0x%" PRIx64 " expired",
			  (uint64_t)e->ro_ids[i]);
		ro_forget(r, e->ro_ids[i]); /* moves the last one to i: done already */
	}
}

/* Leaving read-only mode: every local session's connection closes. */
static void ro_close_all(struct repl *r)
{
	struct ens *e = E(r);

	while (e->nro) {
		struct sess *s = sess_find(r->sess, e->ro_ids[e->nro - 1]);

		if (s && s->owned)
			send_expire(r, s->owner_worker, s->owner_conn, s->id);
		ro_forget(r, e->ro_ids[e->nro - 1]);
	}
}

static void ro_answer(struct repl *r, uint32_t wi, const struct repl_in *m, int64_t id, int32_t err,
		      int32_t to)
{
	struct repl_connected *ans = calloc(1, sizeof(*ans));

	if (!ans) {
		log_error("ensemble: out of memory answering a read-only connect");
		send_refuse_connect(r, wi, m);
		return;
	}
	ans->err = err;
	ans->session = id;
	if (err == ZK_OK) {
		ans->timeout = to;
		ans->read_only = true;
		sess_password(id, ans->passwd);
	}
	send_simple(r, wi, REPL_OUT_CONNECTED, m->conn, m->xid, id, r->last_applied, ans);
}

/*
 * A connect in read-only mode: ZooKeeperServer.processConnectRequest on a
 * ReadOnlyZooKeeperServer (validateSession refuses the quorum's sessions).
 */
static void ro_connect(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	struct ens *e = E(r);
	const struct repl_connect *c = m->body;
	int32_t to = clamp_timeout(r, c->timeout);
	struct sess *s;
	int64_t id;

	if (!c->read_only) {
		log_info("ensemble: refusing session request for a not-read-only client in "
			 "read-only mode");
		send_refuse_connect(r, wi, m);
		return;
	}
	if (e->cu != CU_NONE) {
		/*
		 * A live install not caught up yet (track_role does not enter
		 * read-only mode then; an install while in it, before the
		 * leader is noticed, lands here): the tree is a fuzzy walk.
		 * Closed as learner_connect does.
		 */
		send_refuse_connect(r, wi, m);
		return;
	}
	if (c->last_zxid_seen > r->last_applied) {
		send_refuse_connect(r, wi, m);
		return;
	}
	if (c->session != 0) {
		s = sess_find(r->sess, c->session);
		if (s && !ro_find(e, c->session)) {
			log_info("ensemble: refusing reconnection of session 0x%" PRIx64
				 " of the quorum in read-only mode",
				 (uint64_t)c->session);
			send_refuse_connect(r, wi, m);
			return;
		}
		if (!s || !sess_password_ok(c->session, c->passwd, c->passwd_len)) {
			ro_answer(r, wi, m, c->session, ZK_SESSIONEXPIRED, 0);
			return;
		}
		if (s->owned && (s->owner_worker != wi || s->owner_conn != m->conn))
			send_expire(r, s->owner_worker, s->owner_conn, s->id);
		sess_touch(r->sess, s->id, to, r->now);
		s->owned = true;
		s->owner_worker = wi;
		s->owner_conn = m->conn;
		ro_answer(r, wi, m, s->id, ZK_OK, to);
		return;
	}
	if (e->nro == e->ro_cap) {
		uint32_t ncap = e->ro_cap ? e->ro_cap * 2 : 16;
		int64_t *n = realloc(e->ro_ids, ncap * sizeof(*n));

		if (!n) {
			log_error("ensemble: out of memory creating a read-only session");
			send_refuse_connect(r, wi, m);
			return;
		}
		e->ro_ids = n;
		e->ro_cap = ncap;
	}
	id = sess_new_id(r->sess);
	if (sess_track(r->sess, id, to, r->now, &s)) {
		log_error("ensemble: out of memory creating a read-only session");
		send_refuse_connect(r, wi, m);
		return;
	}
	e->ro_ids[e->nro++] = id;
	s->owned = true;
	s->owner_worker = wi;
	s->owner_conn = m->conn;
	log_debug("ensemble: read-only session 0x%" PRIx64 ", timeout %d ms", (uint64_t)id, to);
	ro_answer(r, wi, m, id, ZK_OK, to);
}

/* A request of a session in read-only mode (ReadOnlyRequestProcessor). */
static void ro_in(struct repl *r, uint32_t wi, struct repl_in *m)
{
	switch (m->kind) {
	case REPL_IN_CONNECT:
		if (m->body)
			ro_connect(r, wi, m);
		break;
	case REPL_IN_WRITE:
	case REPL_IN_SYNC:
		local_answer(r, wi, m,
			     live_session(r, m->session) ? ZK_NOTREADONLY : ZK_SESSIONEXPIRED);
		break;
	case REPL_IN_CLOSE:
		ro_forget(r, m->session);
		local_answer(r, wi, m, ZK_OK);
		break;
	case REPL_IN_READ:
		/* No read-only session outlives an install (ro_close_all there). */
		assert(E(r)->cu == CU_NONE || E(r)->nro == 0);
		learner_read(r, wi, m);
		break;
	case REPL_IN_TOUCH:
		live_session(r, m->session);
		break;
	case REPL_IN_GONE:
		conn_gone(r, wi, m); /* lives on until its timeout (ro_expire) */
		break;
	default:
		log_error("ensemble: worker %u sent a message of unknown kind %u; dropped", wi,
			  m->kind);
		break;
	}
}

static void learner_connect(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	struct ens *e = E(r);
	const struct repl_connect *c = m->body;
	struct lent *l;
	int32_t to;
	int64_t id;

	if (!c)
		return;
	if (e->cu != CU_NONE) {
		/*
		 * It installed its leader's snapshot and has not caught up
		 * yet: not serving (ZooKeeper's follower takes no client
		 * before its sync is done); closed as below, the client tries
		 * another server.
		 */
		send_refuse_connect(r, wi, m);
		return;
	}
	if (!e->leader || e->leader == e->myid) {
		/*
		 * No leader (an election; or ours, not serving yet): held while
		 * a leader is elected (hold_connect), else closed at once, new
		 * session or not, as ZooKeeper's server that is not running
		 * closes a connect (NIOServerCnxn.readConnectRequest).  Never
		 * SESSIONEXPIRED from here: this member may lag.
		 */
		if (!hold_connect(r, wi, m->conn, m->xid, m->session, c))
			send_refuse_connect(r, wi, m);
		return;
	}
	if (c->session != 0 && c->last_zxid_seen <= r->last_applied &&
	    !sess_password_ok(c->session, c->passwd, c->passwd_len)) {
		/*
		 * The password first, as ZooKeeperServer.reopenSession
		 * (checkPasswd, then revalidateSession): a wrong one is never
		 * revalidated, so it neither moves the session's owner (its
		 * real client's next write would fail SESSIONMOVED) nor
		 * refreshes its timeout.  The password is a function of the id
		 * alone: no need to know the session here.  do_connect answers
		 * it expired.
		 */
		do_connect(r, wi, m);
		return;
	}
	if (c->session != 0 && c->last_zxid_seen <= r->last_applied) {
		/*
		 * Every reconnect is revalidated by the leader first, as
		 * ZooKeeper's Learner.revalidate: the leader records this
		 * member as the session's owner (a write of the session's old
		 * connection on another member then fails SESSIONMOVED) and
		 * names how far to catch up (this member may lag: the session
		 * may not be known here yet); then it is checked here (F_ANS).
		 */
		l = forward(r, wi, m, FK_REVALIDATE, LQ_RECONNECT, c->session, 0, c->timeout, NULL);
		if (l)
			l->req = *c;
		return;
	}
	if (c->session != 0) {
		/* A reconnect is checked here (password, known session). */
		struct sess *s;

		do_connect(r, wi, m);
		s = sess_find(r->sess, c->session);
		if (s && s->owned)
			queue_touch(r, s->id, s->timeout);
		return;
	}
	if (c->last_zxid_seen > r->last_applied) {
		send_refuse_connect(r, wi, m);
		return;
	}
	to = clamp_timeout(r, c->timeout);
	id = sess_new_id(r->sess);
	l = forward(r, wi, m, FK_CONNECT, LQ_CONNECT, id, 0, to, NULL);
	if (l)
		l->req = *c;
}

/*
 * Connects held while a leader is elected.  A member that lost its
 * leader closes its clients' connections (track_role) and, for one tick
 * after that (hold_until), holds the connects it gets instead of closing
 * them at once as ZooKeeper does (NIOServerCnxn: "ZooKeeperServer not
 * running"), and so the reconnects it was revalidating with the lost
 * leader (lq_all_lost).  Why: the clients of a paused or cut-off leader,
 * and those whose writes hung with it, are on their way to the other
 * members when those give up on it.  Closed there during the election
 * (a few turns of a tenth of a tick), a client tried the next server in
 * its list, often the lost leader itself, whose kernel still accepts the
 * connection, and waited out its connect timeout (sessionTimeout /
 * servers, 3.3 s for 10 s and three servers) there.  Held, a connect is
 * handled as if it arrived when the new leader is known (hc_release).
 * A member still without a leader when the tick is over closes them as
 * before; one without a leader for longer (cut off) closes at once.
 */
static bool hold_connect(struct repl *r, uint32_t wi, uint32_t conn, int32_t xid, int64_t session,
			 const struct repl_connect *c)
{
	struct ens *e = E(r);

	if (r->now >= e->hold_until || e->nhc >= HOLD_MAX)
		return false;
	if (e->nhc == e->hc_cap) {
		uint32_t ncap = e->hc_cap ? e->hc_cap * 2 : 16;
		struct hconn *n = realloc(e->hc, ncap * sizeof(*n));

		if (!n)
			return false;
		e->hc = n;
		e->hc_cap = ncap;
	}
	e->hc[e->nhc++] = (struct hconn){
	    .worker = wi,
	    .conn = conn,
	    .xid = xid,
	    .session = session,
	    .req = *c,
	};
	return true;
}

/* The held connect of a connection that closed is forgotten. */
static void hc_forget(struct ens *e, uint32_t wi, const struct repl_in *m)
{
	for (uint32_t i = 0; i < e->nhc; i++) {
		if (e->hc[i].worker == wi && e->hc[i].conn == m->conn &&
		    e->hc[i].req.session == m->session) {
			e->hc[i] = e->hc[--e->nhc];
			return;
		}
	}
}

/*
 * Held connects go on once a leader is known (forwarded to it, or taken
 * here if this member serves) and are closed when the hold is over.
 * Returns how many were handled.
 */
static uint32_t hc_release(struct repl *r)
{
	struct ens *e = E(r);
	bool ready = e->serving || (e->leader && e->leader != e->myid);
	struct hconn *list = e->hc;
	uint32_t n = e->nhc;

	if (!n || (!ready && r->now < e->hold_until) || (e->serving && ens_holding(r)))
		return 0;
	e->hc = NULL;
	e->nhc = e->hc_cap = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct repl_in m = {
		    .kind = REPL_IN_CONNECT,
		    .conn = list[i].conn,
		    .xid = list[i].xid,
		    .session = list[i].session,
		    .body = &list[i].req,
		};

		if (!ready)
			send_refuse_connect(r, list[i].worker, &m);
		else if (e->serving)
			do_connect(r, list[i].worker, &m);
		else
			learner_connect(r, list[i].worker, &m);
	}
	free(list);
	return n;
}

/*
 * REPL_IN_READ on a follower: the read runs once its session's newest
 * entry in the learner FIFO is answered (lq_pop), so after the session's
 * earlier requests are applied here and before anything applied after
 * them; at once when the session has none waiting.  Errors are answered
 * in FIFO order.  The scan from the tail is bounded by the requests in
 * flight to the leader.
 */
static void learner_read(struct repl *r, uint32_t wi, struct repl_in *m)
{
	struct ens *e = E(r);
	struct lent *after = NULL;
	struct rd *d;
	int32_t err = read_take(r, wi, m, &d);

	if (err != ZK_OK) {
		local_answer(r, wi, m, err);
		return;
	}
	for (uint32_t i = e->lq_len; i-- > 0;) {
		if (lq_at(e, i)->session == m->session) {
			after = lq_at(e, i);
			break;
		}
	}
	if (!after) {
		exec_read(r, d);
		return;
	}
	if (after->reads)
		after->reads_last->next = d;
	else
		after->reads = d;
	after->reads_last = d;
}

void ens_learner_in(struct repl *r, uint32_t wi, struct repl_in *m)
{
	const struct repl_write *w;
	struct sess *s;

	if (m->kind == REPL_IN_GONE && E(r)->nhc)
		hc_forget(E(r), wi, m);
	if (ro_mode(E(r))) {
		ro_in(r, wi, m);
		return;
	}
	switch (m->kind) {
	case REPL_IN_CONNECT:
		learner_connect(r, wi, m);
		break;
	case REPL_IN_WRITE:
	case REPL_IN_SYNC:
	case REPL_IN_CLOSE:
		s = live_session(r, m->session);
		if (!s) {
			local_answer(r, wi, m,
				     m->kind == REPL_IN_CLOSE ? ZK_OK : ZK_SESSIONEXPIRED);
			break;
		}
		queue_touch(r, s->id, s->timeout);
		if (m->kind == REPL_IN_SYNC) {
			forward(r, wi, m, FK_SYNC, LQ_SYNC, m->session, m->xid, 0, NULL);
		} else if (m->kind == REPL_IN_CLOSE) {
			forward(r, wi, m, FK_CLOSE, LQ_CLOSE, m->session, m->xid, 0, NULL);
		} else {
			w = m->body;
			if (!w || repl_write_check(w, w->size)) {
				local_answer(r, wi, m, ZK_MARSHALLINGERROR);
				break;
			}
			forward(r, wi, m, FK_WRITE, LQ_WRITE, m->session, m->xid, 0, w);
		}
		break;
	case REPL_IN_READ:
		learner_read(r, wi, m);
		break;
	case REPL_IN_TOUCH:
		s = live_session(r, m->session);
		if (s)
			queue_touch(r, s->id, s->timeout);
		break;
	case REPL_IN_GONE:
		conn_gone(r, wi, m);
		break;
	default:
		log_error("ensemble: worker %u sent a message of unknown kind %u; dropped", wi,
			  m->kind);
		break;
	}
}

/* ---- The leader side of forwarded requests ---- */

static void remote_refuse(struct repl *r, uint32_t from, const struct ens_fwd_req *h, int32_t err)
{
	send_ans(r, from, h->session, r->last_applied, h->cxid, err);
}

/*
 * The serving leader's bound on one member's forwarded requests: those
 * it prepped and has not applied yet (r->fwd_n, fwd_bytes) and those it
 * holds (held_n, held_bytes).  A follower keeps at most ENS_FWD_MAX
 * requests and ENS_FWD_MAX_BYTES in flight (ens_learner_full), but
 * those it gave up on (LQ_TIMEOUT_TICKS, a lost frame) may still be
 * here, hence the factor.  Beyond it, a request is refused, never
 * dropped silently: the follower gets ZK_CONNECTIONLOSS and closes the
 * client's connection.  And so that no later request of that session
 * runs without this one (FIFO order), the session, when this member
 * owns it, belongs to no member from now on (SESS_MEMBER_CUT): its
 * later writes, from anywhere, are answered SESSIONMOVED until a
 * reconnect claims it (ens_session_claim).
 * Returns true when the frame may go on.
 */
#define FWD_LEADER_MAX (4u * ENS_FWD_MAX)
#define FWD_LEADER_MAX_BYTES (4ull * ENS_FWD_MAX_BYTES)
#define SESS_MEMBER_CUT UINT32_MAX

/*
 * The sessions' owners (sess->member) are this member's knowledge as the
 * leader of owners_term: a leader of a new term knows none (ZooKeeper's
 * neither: another leader may have moved them meanwhile), but one that
 * serves again in the same term (it stopped for want of a quorum) knows
 * them still: nobody else could claim a session meanwhile.  Forgetting
 * them then let a stale request of a moved session, forwarded by the
 * member its client had left, claim it back and run after the client's
 * later writes elsewhere (test_ensrand seed 160000973).
 */
static void forget_owner(void *arg, struct sess *s)
{
	(void)arg;
	s->member = 0;
}

static void owners_of_term(struct repl *r, uint64_t term)
{
	struct ens *e = E(r);

	if (e->owners_term == term)
		return;
	sess_foreach(r->sess, forget_owner, r);
	e->owners_term = term;
}

/*
 * A request of session from member `from` is not run (refused, or
 * dropped by stop_serving): so that no later request of the session that
 * member forwards runs without it, the session, when that member owns it
 * (or none does), belongs to no member until a reconnect claims it.
 * Connects are not concerned (the session is not the client's yet).
 */
static void cut_session(struct repl *r, uint32_t from, uint8_t kind, int64_t session)
{
	struct raft_status st;
	struct sess *s;

	raft_get_status(E(r)->raft, &st);
	owners_of_term(r, st.term);
	if (kind != FK_CONNECT && (s = sess_find(r->sess, session)) &&
	    (s->member == from || s->member == 0))
		s->member = SESS_MEMBER_CUT;
}

static bool fwd_admit(struct repl *r, uint32_t from, const uint8_t *p, size_t len)
{
	struct ens *e = E(r);
	struct ens_fwd_req h;

	if (from >= 256 || (r->fwd_n[from] + e->held_n[from] < FWD_LEADER_MAX &&
			    r->fwd_bytes[from] + e->held_bytes[from] < FWD_LEADER_MAX_BYTES))
		return true;
	if (ens_fwd_req_decode(p, len, &h)) {
		bad_input(e, r->now, from, "short request");
		return false;
	}
	e->fwd_refused++;
	if (r->now - e->last_fwd_log >= 10000 || e->last_fwd_log == 0) {
		e->last_fwd_log = r->now;
		log_warn("ensemble: server %u has %u requests (%" PRIu64 " bytes) forwarded here "
			 "and not applied: refused one of session 0x%" PRIx64 " (%" PRIu64
			 " refused so far; logged every 10 s)",
			 from, r->fwd_n[from] + e->held_n[from],
			 r->fwd_bytes[from] + e->held_bytes[from], (uint64_t)h.session,
			 e->fwd_refused);
	}
	/*
	 * Cut only a session this member owns (or one no member owns yet,
	 * which its next request would claim): another member's session
	 * has nothing here to protect (this member's requests of it are
	 * answered SESSIONMOVED anyway), and its client, connected there,
	 * must not lose its connection for a stale frame of this one.
	 */
	cut_session(r, from, h.kind, h.session);
	remote_refuse(r, from, &h, ZK_CONNECTIONLOSS);
	return false;
}

static void leader_connect(struct repl *r, const struct ens_fwd_req *h)
{
	int32_t to = clamp_timeout(r, h->timeout);
	int64_t zxid = zxid_next(r);
	struct repl_in m = {.kind = REPL_IN_CONNECT, .xid = 0, .session = h->session};
	struct tree_txn t;
	struct sess *s;

	if (sess_find(r->sess, h->session) || ((uint64_t)h->session >> 56) != r->cur_origin) {
		/* An id in use, or not the follower's own: refuse, it retries. */
		q_marker(r, P_ANSWER, ZK_SESSIONEXPIRED, NO_WORKER, &m);
		return;
	}
	if (sess_track(r->sess, h->session, to, r->now, &s)) {
		q_marker(r, P_ANSWER, ZK_SYSTEMERROR, NO_WORKER, &m);
		return;
	}
	ens_session_claim(r, s); /* the follower (cur_origin) */
	txn_hdr(&t, h->session, 0, zxid);
	r->enc.len = 0;
	tree_prep_create_session(r->prep, &t, to, &r->enc);
	if (r->enc.err || q_txn(r, P_CONNECT, zxid, NO_WORKER, &m)) {
		r->enc.err = 0;
		sess_remove(r->sess, h->session);
		q_marker(r, P_ANSWER, ZK_SYSTEMERROR, NO_WORKER, &m);
		return;
	}
	q_at(r, r->qlen - 1)->timeout = to;
	zxid_claim(r, zxid);
}

static void on_req(struct repl *r, uint32_t from, const uint8_t *p, size_t len)
{
	struct ens *e = E(r);
	struct ens_fwd_req h;
	struct repl_in m;
	struct repl_write *w = NULL;
	int rc;

	if (ens_fwd_req_decode(p, len, &h)) {
		bad_input(e, r->now, from, "short request");
		return;
	}
	if (h.body_len != len - ENS_FWD_REQ_SIZE || h.kind < FK_WRITE || h.kind > FK_REVALIDATE ||
	    (h.kind == FK_WRITE) != (h.body_len > 0)) {
		bad_input(e, r->now, from, "malformed request");
		return;
	}
	if (!e->serving || r->failed) {
		/*
		 * Cut as fwd_admit does: this member may serve again without a
		 * term change (track_role), and the follower may already have
		 * sent the session's next request (test_ensrand seed 780: a
		 * create refused here, the next one applied once serving).
		 */
		cut_session(r, from, h.kind, h.session);
		remote_refuse(r, from, &h, ZK_CONNECTIONLOSS);
		return;
	}
	if (h.kind == FK_WRITE) {
		rc = repl_write_decode(p + ENS_FWD_REQ_SIZE, h.body_len, &w);
		if (rc == -ENOMEM) {
			remote_refuse(r, from, &h, ZK_CONNECTIONLOSS);
			return;
		}
		if (rc) {
			bad_input(e, r->now, from, "malformed write");
			remote_refuse(r, from, &h, ZK_MARSHALLINGERROR);
			return;
		}
	}
	m = (struct repl_in){.conn = 0, .xid = h.cxid, .session = h.session, .body = w};
	if (from < 256)
		e->fwd_req[from]++; /* LearnerHandler's requestsReceived */
	r->cur_origin = from;
	r->cur_fwd_len = (uint32_t)len;
	switch (h.kind) {
	case FK_WRITE:
		m.kind = REPL_IN_WRITE;
		do_write(r, NO_WORKER, &m);
		break;
	case FK_CLOSE:
		m.kind = REPL_IN_CLOSE;
		do_close(r, NO_WORKER, &m);
		break;
	case FK_SYNC:
		m.kind = REPL_IN_SYNC;
		ens_leader_sync(r, NO_WORKER, &m);
		break;
	case FK_CONNECT:
		leader_connect(r, &h);
		break;
	case FK_REVALIDATE: {
		/*
		 * The follower does not know the session yet: tell it how far
		 * to catch up (everything prepped here, createSession included)
		 * before it checks the session itself (prepped_zxid).
		 */
		struct sess *s = live_session(r, h.session);

		/* LearnerHandler: REVALIDATE_COUNT for every REVALIDATE packet. */
		__atomic_store_n(&e->revalidate_count, e->revalidate_count + 1, __ATOMIC_RELAXED);
		/* Leader.revalidateSession: the follower owns the session now. */
		if (s)
			ens_session_claim(r, s);

		send_ans(r, from, h.session, prepped_zxid(r), 0, s ? ZK_OK : ZK_SESSIONEXPIRED);
		break;
	}
	}
	r->cur_origin = 0;
	r->cur_fwd_len = 0;
	free(w);
}

/*
 * The leader refused l (ZK_CONNECTIONLOSS: it never runs it): l's
 * connection is closed now, not when l reaches the head of the FIFO,
 * so that the core drops what its client sends next on it (repl.c,
 * closed_input).  Left open behind a request still waiting, it
 * forwarded those later requests, and the leader's cut (cut_session),
 * which answers them SESSIONMOVED, lasts only for its term: a leader of
 * a new term, the same member re-elected included, ran them without
 * the refused one (test_ensrand seed 501351 with ENSRAND_NO_FLAP).  l
 * stays in the FIFO, lost, and is popped in order; the requests before
 * it may still be answered (to a closed connection: never seen).  A
 * connect is refused at the head as before: nothing follows it on its
 * connection.
 */
static void lq_refused(struct repl *r, struct lent *l)
{
	struct ens *e = E(r);

	if (l->kind == LQ_CONNECT || l->kind == LQ_RECONNECT || l->closed)
		return;
	send_expire(r, l->worker, l->conn, l->session);
	/*
	 * Closed once: a second close at another entry's pop could come
	 * after the worker gave the slot to a newer connection the core
	 * closed too, and overwrite that one's record in repl.c's table of
	 * closed connections, letting its late input through.
	 */
	for (uint32_t i = 0; i < e->lq_len; i++) {
		struct lent *o = lq_at(e, i);

		if (o->worker == l->worker && o->conn == l->conn && o->session == l->session)
			o->closed = true;
	}
	assert(l->closed);
}

static void on_ans(struct repl *r, uint32_t from, const uint8_t *p, size_t len)
{
	struct ens *e = E(r);
	struct ens_fwd_ans a;

	if (ens_fwd_ans_decode(p, len, &a)) {
		bad_input(e, r->now, from, "malformed answer");
		return;
	}
	if (from != e->leader)
		return; /* from a former leader: its requests were closed already */
	for (uint32_t i = 0; i < e->lq_len; i++) {
		struct lent *l = lq_at(e, i);

		if (l->state == LQ_WAIT && l->session == a.session &&
		    (l->kind == LQ_CONNECT || l->kind == LQ_RECONNECT ? 0 : l->xid) == a.cxid) {
			lq_set(e, l, a.err == ZK_CONNECTIONLOSS ? LQ_LOST : LQ_ANSWERED);
			l->err = a.err;
			l->after = a.after;
			if (a.err == ZK_CONNECTIONLOSS)
				lq_refused(r, l);
			break;
		}
	}
	lq_drain(r);
}

static void on_touch(struct repl *r, uint32_t from, const uint8_t *p, size_t len)
{
	struct ens *e = E(r);

	if (len % ENS_FWD_TOUCH_SIZE) {
		bad_input(e, r->now, from, "malformed touch");
		return;
	}
	if (!e->serving)
		return;
	for (size_t off = 0; off < len; off += ENS_FWD_TOUCH_SIZE) {
		struct ens_fwd_touch t;

		if (ens_fwd_touch_decode(p + off, len - off, &t))
			break; /* cannot happen: len is a multiple */
		live_session(r, t.session);
	}
}

/* ---- Leader syncs: raft's read index ---- */

bool ens_holding(const struct repl *r)
{
	return r->ens && r->ens->nps > 0;
}

bool ens_learner_full(const struct repl *r)
{
	const struct ens *e = r->ens;

	return e && !e->serving && (e->lq_len >= ENS_FWD_MAX || e->lq_bytes >= ENS_FWD_MAX_BYTES);
}

/* A sync that cannot be confirmed: the client reconnects and retries. */
static void sync_lost(struct repl *r, const struct psync *ps)
{
	if (ps->origin) {
		send_ans(r, ps->origin, ps->session, r->last_applied, ps->xid, ZK_CONNECTIONLOSS);
	} else {
		send_expire(r, ps->worker, ps->conn, ps->session);
	}
}

void ens_leader_sync(struct repl *r, uint32_t wi, const struct repl_in *m)
{
	struct ens *e = E(r);
	struct psync ps = {
	    .worker = wi,
	    .conn = m->conn,
	    .xid = m->xid,
	    .session = m->session,
	    .origin = r->cur_origin,
	    .deadline = r->now + LQ_TIMEOUT_TICKS * e->tick_ms,
	};

	struct sess *s = live_session(r, m->session);

	if (!s) {
		q_marker(r, P_ANSWER, ZK_SESSIONEXPIRED, wi, m);
		return;
	}
	/*
	 * PrepRequestProcessor runs checkSession for a sync too (claiming an
	 * owner-less session).  Its SessionMovedException closes a local
	 * client's connection (FinalRequestProcessor), but a follower's sync
	 * (LearnerSyncRequest) is answered regardless: ProposalRequestProcessor
	 * hands it to Leader.processSync, which never looks at the exception.
	 */
	if (!ens_session_owned(r, s) && !r->cur_origin) {
		q_marker(r, P_ANSWER, ZK_SESSIONMOVED, wi, m);
		return;
	}
	if (e->nps == e->ps_cap) {
		uint32_t ncap = e->ps_cap ? e->ps_cap * 2 : 16;
		struct psync *n = realloc(e->ps, ncap * sizeof(*n));

		if (!n) {
			sync_lost(r, &ps);
			return;
		}
		e->ps = n;
		e->ps_cap = ncap;
	}
	ps.ctx = ++e->read_ctx;
	if (raft_read_index(e->raft, ps.ctx)) {
		sync_lost(r, &ps);
		return;
	}
	e->ps[e->nps++] = ps;
}

static void hold_req(struct repl *r, uint32_t from, const void *p, size_t len)
{
	struct ens *e = E(r);
	struct held *h = malloc(sizeof(*h) + len);

	if (!h) {
		/* Dropped: the follower's wait times out and closes the connection. */
		log_error("ensemble: out of memory holding a request from server %u", from);
		return;
	}
	h->next = NULL;
	h->from = from;
	h->len = len;
	memcpy(h->data, p, len);
	if (from < 256) {
		e->held_n[from]++;
		e->held_bytes[from] += len;
	}
	if (e->held_tail)
		e->held_tail->next = h;
	else
		e->held_head = h;
	e->held_tail = h;
}

static void on_req(struct repl *r, uint32_t from, const uint8_t *p, size_t len);

/*
 * Elected and not serving yet (its no-op of the term not applied), for at
 * most a tick: the requests its followers forward meanwhile are held and
 * run once it serves, instead of being refused.  A follower learns of the
 * new leader from its first append, before the leader serves; the
 * connects it held during the election (hold_connect) reach the leader
 * then, and would be closed.
 */
static bool electing(const struct repl *r)
{
	const struct ens *e = E(r);

	return e->role == RAFT_LEADER && !e->serving && !r->failed &&
	       r->now - e->elected_at < e->tick_ms;
}

/* Held frames, in order, until a sync holds input again. */
static uint32_t release_held(struct repl *r)
{
	struct ens *e = E(r);
	uint32_t n = 0;

	while (e->held_head && !e->nps && !electing(r)) {
		struct held *h = e->held_head;

		e->held_head = h->next;
		if (!e->held_head)
			e->held_tail = NULL;
		if (h->from < 256) {
			assert(e->held_n[h->from] > 0 && e->held_bytes[h->from] >= h->len);
			e->held_n[h->from]--;
			e->held_bytes[h->from] -= h->len;
		}
		on_req(r, h->from, h->data, h->len);
		free(h);
		n++;
	}
	return n;
}

/* A read index came back (rd.reads): the sync joins the FIFO, or is lost. */
static void on_read(struct repl *r, const struct raft_read *rr)
{
	struct ens *e = E(r);

	if (e->cu == CU_WAIT && rr->ctx == e->cu_ctx) {
		/* catch_up's question: how far the leader has committed. */
		if (rr->err) {
			e->cu = CU_ASK;
		} else {
			e->cu = CU_APPLY;
			e->cu_target = rr->index;
		}
		return;
	}

	for (uint32_t i = 0; i < e->nps; i++) {
		struct psync ps = e->ps[i];

		if (ps.ctx != rr->ctx)
			continue;
		memmove(&e->ps[i], &e->ps[i + 1], (e->nps - i - 1) * sizeof(ps));
		e->nps--;
		if (rr->err || !e->serving) {
			sync_lost(r, &ps);
		} else {
			/*
			 * Everything proposed before the sync is in r->q ahead of
			 * the marker (input was held), so once the marker is at the
			 * head the member applied at least the read index.
			 */
			struct repl_in m = {.kind = REPL_IN_SYNC,
					    .conn = ps.conn,
					    .xid = ps.xid,
					    .session = ps.session};

			r->cur_origin = ps.origin;
			q_marker(r, P_SYNC, ZK_OK, ps.worker, &m);
			r->cur_origin = 0;
		}
		return;
	}
}

/* A read index that never came back (its round was lost): input goes on. */
static void syncs_expire(struct repl *r)
{
	struct ens *e = E(r);

	for (uint32_t i = 0; i < e->nps;) {
		if (r->now < e->ps[i].deadline) {
			i++;
			continue;
		}
		log_info("ensemble: a sync of session 0x%" PRIx64 " was not confirmed within %d "
			 "ticks; closing its connection",
			 (uint64_t)e->ps[i].session, LQ_TIMEOUT_TICKS);
		sync_lost(r, &e->ps[i]);
		memmove(&e->ps[i], &e->ps[i + 1], (e->nps - i - 1) * sizeof(e->ps[0]));
		e->nps--;
	}
}

static void syncs_lost(struct repl *r)
{
	struct ens *e = E(r);

	for (uint32_t i = 0; i < e->nps; i++)
		sync_lost(r, &e->ps[i]);
	e->nps = 0;
}

/* ---- Peer callbacks ---- */

/*
 * A DATA entry's payload must be exactly `count` records, each a u32
 * length (little-endian, ens_wire.h) and that many bytes (what
 * ens_propose builds); checked before raft_step, so a malformed entry is
 * never stored, let alone committed.
 */
/*
 * A CONF entry's trailer, if any, is the SetDataTxn of /zookeeper/config
 * with a membership that parses (what conf_apply will need).
 */
static bool conf_well_formed(const struct repl *r, const struct raft_entry *ent)
{
	const uint8_t *tr;
	size_t tlen;
	struct tree_txn txn;
	struct ens_members mb;
	char why[sizeof(struct cfg_error) + 64];
	bool ok;

	if (raft_conf_trailer(ent, &tr, &tlen))
		return false;
	if (tlen == 0)
		return true;
	if (tree_txn_decode(tr, tlen, r->max_record, &txn))
		return false;
	ok = txn.type == ZK_OP_SETDATA && txn.nops == 1 && txn.ops[0].type == ZK_OP_SETDATA &&
	     txn.ops[0].path.len == 17 && !memcmp(txn.ops[0].path.p, "/zookeeper/config", 17) &&
	     txn.zxid == (int64_t)ent->zxid && txn.ops[0].data.len > 0 &&
	     ens_members_parse(&mb, (const char *)txn.ops[0].data.p, (size_t)txn.ops[0].data.len,
			       why, sizeof(why)) == 0;
	if (ok)
		ens_members_free(&mb);
	tree_txn_release(&txn);
	return ok;
}

static bool entries_well_formed(const struct repl *r, const struct raft_msg *m)
{
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *ent = &m->entries[i];
		const uint8_t *p = ent->data, *end = ent->data + ent->len;
		uint32_t k;

		if (ent->type == RAFT_ENTRY_CONF && !conf_well_formed(r, ent))
			return false;
		if (ent->type != RAFT_ENTRY_DATA)
			continue;
		for (k = 0; k < ent->count; k++) {
			const uint8_t *rec;
			uint32_t n;

			if (ens_batch_next(&p, end, &rec, &n) || n == 0)
				return false;
		}
		if (p != end)
			return false;
	}
	return true;
}

/* ---- Snapshot transfer (snap_stream.h over F_RAFT frames) ---- */

/* Snapshot transfers under way (INFLIGHT_SNAP_COUNT); only as one starts or ends. */
static uint64_t snaps_in_flight(const struct ens *e)
{
	uint64_t n = 0;

	for (uint32_t id = 1; id < 256; id++)
		n += e->sout[id] && e->sout[id]->active;
	return n;
}

static void snap_out_end(struct repl *r, uint32_t id, bool ok)
{
	struct ens *e = E(r);
	struct sout *so = e->sout[id];

	log_info("ensemble: snapshot at index %" PRIu64 " %s server %u", so->meta.index,
		 ok ? "sent to" : "could not be sent to", id);
	if (so->fd >= 0)
		close(so->fd);
	so->fd = -1;
	so->active = false;
	so->asked = false;
	hist_add(&r->zk_hist[REPL_ZK_INFLIGHT_SNAPS], snaps_in_flight(e)); /* as it ends */
	raft_report_snapshot(e->raft, id, ok);
}

/* snap_send's reads: straight from the file, one chunk at a time. */
static int snap_read(void *arg, uint64_t off, void *buf, uint32_t len)
{
	struct sout *so = arg;

	if (off > so->size || len > so->size - off)
		return -EINVAL;
	return snapdir_pread(so->fd, off, buf, len);
}

/*
 * Starts the transfers raft asked for: raft's base snapshot, streamed from
 * its file.  The file stays open for the whole transfer and each chunk is
 * read with pread when it is sent (or sent again); the stream CRC is
 * computed from those reads (snap_send_init_lazy: the snapshot format has
 * only per-block checksums, none of the whole file to reuse).  Nothing
 * holds the whole snapshot in memory.  A purge that deletes the file, or
 * a newer base replacing it as raft's, does not disturb a transfer under
 * way: the open fd keeps the (immutable) bytes of the snapshot the stream
 * is named after, and the next transfer opens the new base.
 */
static void snap_out_start(struct repl *r, uint32_t id)
{
	struct ens *e = E(r);
	struct sout *so = e->sout[id];
	struct snap_send_cfg cfg = {SNAP_CHUNK, SNAP_WINDOW, SNAP_RTO, SNAP_GIVE_UP};
	int rc = -ENOENT;

	so->asked = false;
	assert(so->fd < 0);
	if (e->base_file >= 0 && so->meta.index == e->base_meta.index &&
	    so->meta.term == e->base_meta.term)
		rc = snapdir_open_file(r->snap, e->base_file, &so->fd, &so->size);
	if (!rc)
		rc = snap_send_init_lazy(&so->ss, &cfg, &so->meta, e->myid, id, so->term, so->size,
					 e->ticks);
	if (rc) {
		log_warn("ensemble: cannot send the snapshot at index %" PRIu64 " to server %u: %s",
			 so->meta.index, id, strerror(-rc));
		if (so->fd >= 0)
			close(so->fd);
		so->fd = -1;
		raft_report_snapshot(e->raft, id, false);
		return;
	}
	so->active = true;
	repl_count(&r->zk.snaps, 1); /* LearnerHandler's SNAP: SNAP_COUNT */
	hist_add(&r->zk_hist[REPL_ZK_INFLIGHT_SNAPS], snaps_in_flight(e));
	log_info("ensemble: sending the snapshot at index %" PRIu64 " (0x%" PRIx64 ", %" PRIu64
		 " bytes) to server %u",
		 so->meta.index, (uint64_t)e->base_file, so->size, id);
}

static uint32_t snap_out_poll(struct repl *r)
{
	struct ens *e = E(r);
	uint32_t work = 0;

	for (uint32_t id = 1; id < 256; id++) {
		struct sout *so = e->sout[id];
		struct raft_msg m;
		int rc;

		if (!so)
			continue;
		if (so->asked && !so->active)
			snap_out_start(r, id);
		if (!so->active)
			continue;
		while ((rc = snap_send_poll(&so->ss, e->ticks, so->chunk, snap_read, so, &m)) ==
		       1) {
			send_raft(r, &m);
			work++;
		}
		if (rc < 0 || so->ss.state == SNAP_FAILED)
			snap_out_end(r, id, false);
		else if (so->ss.state == SNAP_DONE)
			snap_out_end(r, id, true);
	}
	return work;
}

static void snap_out_ack(struct repl *r, uint32_t from, const struct raft_msg *m)
{
	struct ens *e = E(r);
	struct sout *so = from < 256 ? e->sout[from] : NULL;

	if (!so || !so->active || snap_send_ack(&so->ss, m, e->ticks))
		return; /* a stale ack */
	if (so->ss.state == SNAP_DONE)
		snap_out_end(r, from, true);
	else if (so->ss.state == SNAP_FAILED)
		snap_out_end(r, from, false);
}

/* The snapshot being received goes (its .recv file deleted). */
static void snap_in_drop(struct repl *r)
{
	struct ens *e = E(r);

	if (e->rfd >= 0)
		snapdir_recv_abort(r->snap, e->rzxid, e->rfd);
	e->rfd = -1;
	e->rlen = 0;
}

/*
 * A chunk from the leader.  The stream goes to disk as it comes: each
 * chunk's data is pwritten at its offset into snapshot.<zxid>.recv (a
 * restart of the stream empties the file; a stream of another snapshot
 * replaces it), so the receiver holds no more than a chunk in memory
 * whatever the snapshot's size: only the disk bounds it.  Once whole and
 * checksummed the file is fsync'ed and renamed to its snapshot name, its
 * meta written (durable), and only then is the SNAP stepped into raft,
 * which installs it (persist()).  A disk error stops the member
 * (disk_failed), as one of the log's does.
 */
static void snap_in_chunk(struct repl *r, uint32_t from, const struct raft_msg *m)
{
	struct ens *e = E(r);
	const struct raft_snap_meta *sm = &e->srecv.meta;
	struct snap_recv_out out;
	struct raft_msg snap;
	int rc = 0;

	if (snap_recv_chunk(&e->srecv, e->myid, m, &out)) {
		bad_input(e, r->now, from, "malformed snapshot chunk");
		return;
	}
	if (out.restart) {
		if (e->rfd >= 0 && e->rzxid == (int64_t)sm->zxid) {
			if (ftruncate(e->rfd, 0) < 0)
				rc = -errno;
		} else {
			snap_in_drop(r);
			rc = snapdir_recv_open(r->snap, (int64_t)sm->zxid, &e->rfd);
			e->rzxid = (int64_t)sm->zxid;
		}
		e->rlen = 0;
	}
	if (!rc && out.len) {
		/* snap_recv writes in order, each byte once, into the stream it opened */
		if (e->rfd < 0 || out.off != e->rlen) {
			bad_input(e, r->now, from, "snapshot chunk out of place");
			return;
		}
		rc = snapdir_pwrite(e->rfd, out.off, out.data, out.len);
		e->rlen += out.len;
	}
	if (!rc && out.complete) {
		rc = snapdir_recv_commit(r->snap, e->rzxid, e->rfd, e->rlen);
		e->rfd = -1; /* closed (and deleted if it failed) */
		if (!rc)
			rc = meta_put(r, (int64_t)sm->zxid, sm);
		if (!rc)
			log_info("ensemble: received the leader's snapshot at index %" PRIu64
				 " (zxid 0x%" PRIx64 ", %" PRIu64 " bytes)",
				 sm->index, sm->zxid, e->rlen);
	}
	if (rc) {
		log_error("ensemble: cannot store the snapshot received from server %u: %s", from,
			  strerror(-rc));
		snap_in_drop(r);
		disk_failed(r, rc);
		return;
	}
	send_raft(r, &out.ack);
	if (out.complete) {
		e->rlen = 0;
		snap_recv_msg(&e->srecv, e->myid, &snap);
		if (raft_step(e->raft, &snap) == -EINVAL)
			bad_input(e, r->now, from, "snapshot refused by the core");
	}
}

/* The time of an entry's first txn (its batch's first record), peeked: false if none. */
static bool entry_time(const struct raft_entry *en, int64_t *t)
{
	const uint8_t *p = en->data, *end = en->data + en->len, *rec;
	uint32_t n;

	if (en->type != RAFT_ENTRY_DATA || !en->len)
		return false;
	return !ens_batch_next(&p, end, &rec, &n) && !tree_txn_time(rec, n, t);
}

/*
 * Entries that became durable in this member's log since the last call:
 * the acknowledgement raft makes from raft_persisted (a follower's append
 * response, the leader's own vote for the entry).  Each txn's age then is
 * PROPOSAL_ACK_CREATION_LATENCY (SendAckRequestProcessor,
 * AckRequestProcessor) and, on the leader, its own ACK_LATENCY
 * (Leader.processAck of its own id).  Observers make no ZooKeeper ACK.
 * Entries of the log loaded at start (live_zxid) are not counted.
 */
static void acks_made(struct repl *r)
{
	struct ens *e = E(r);
	struct raft_status st;
	int64_t now = 0, t;
	uint64_t i;

	raft_get_status(e->raft, &st);
	if (st.durable < e->ack_idx)
		e->ack_idx = st.durable; /* an install restarts the durable index */
	i = e->ack_idx + 1 > st.first_index ? e->ack_idx + 1 : st.first_index;
	for (; i <= st.durable && !e->observer; i++) {
		const struct raft_entry *en = raft_entry_at(e->raft, i);

		if (!en || en->zxid <= e->live_zxid || !entry_time(en, &t))
			continue;
		if (!now)
			now = clock_wall_ms();
		if (now < t)
			continue; /* the clocks disagree: ZooKeeper drops it too */
		hist_add_n(&r->zk_hist[REPL_ZK_PROPOSAL_ACK_MS], (uint64_t)(now - t), en->count);
		if (st.role == RAFT_LEADER)
			repl_zk_ack(r, e->myid, (uint64_t)(now - t), en->count);
	}
	e->ack_idx = st.durable;
}

/*
 * The leader heard member from's append response, which raised its match
 * index from before to after: ACK_LATENCY keyed by its id for each txn
 * of the entries it acknowledged (Leader.processAck), voters only.
 */
static void acks_received(struct repl *r, uint32_t from, uint64_t before, uint64_t after)
{
	struct ens *e = E(r);
	const struct cfg_server *m = ens_members_find(&e->members, from);
	int64_t now = 0, t;

	assert(after > before);
	if (!m || m->type == CFG_OBSERVER)
		return;
	for (uint64_t i = before + 1; i <= after; i++) {
		const struct raft_entry *en = raft_entry_at(e->raft, i);

		if (!en || en->zxid <= e->live_zxid || !entry_time(en, &t))
			continue;
		if (!now)
			now = clock_wall_ms();
		if (now >= t)
			repl_zk_ack(r, from, (uint64_t)(now - t), en->count);
	}
}

static void on_frame(void *arg, uint32_t from, uint16_t type, const void *payload, size_t len)
{
	struct repl *r = arg;
	struct ens *e = E(r);
	struct raft_msg m;
	long n;

	if (r->failed)
		return;
	e->delivered++;
	switch (type) {
	case F_RAFT:
		n = raft_msg_decode(payload, len, &m, e->dents, DECODE_ENTRIES);
		if (n < 0 || (size_t)n != len) {
			bad_input(e, r->now, from, "undecodable raft message");
			return;
		}
		if (m.from != from || m.to != e->myid) {
			bad_input(e, r->now, from, "raft message with wrong from/to");
			return;
		}
		if (!entries_well_formed(r, &m)) {
			bad_input(e, r->now, from, "append with a malformed batch");
			return;
		}
		if (m.type == RAFT_MSG_SNAP) {
			bad_input(e, r->now, from, "a snapshot announced without its data");
			return;
		}
		if (m.type == RAFT_MSG_SNAP_ACK) {
			snap_out_ack(r, from, &m);
			return;
		}
		if (m.type == RAFT_MSG_SNAP_CHUNK) {
			/* Only our leader's of its term (a stale one after a change is dropped). */
			if (from != e->leader || m.term != e->term || e->role != RAFT_FOLLOWER)
				return;
			/* Not while one loads (install_begin): the leader goes back, or
			 * fails the transfer and tries again later. */
			if (e->installing)
				return;
			e->heard_leader = r->now;
			snap_in_chunk(r, from, &m);
			return;
		}
		if (from == e->leader)
			e->heard_leader = r->now;
		if (from < 256)
			e->heard[from] = r->now;
		uint64_t before, after;
		bool ack = m.type == RAFT_MSG_APPEND_RESP && e->role == RAFT_LEADER &&
			   raft_peer_match(e->raft, from, &before);

		if (raft_step(e->raft, &m) == -EINVAL)
			bad_input(e, r->now, from, "raft message refused by the core");
		else if (ack && raft_peer_match(e->raft, from, &after) && after > before)
			acks_received(r, from, before, after);
		break;
	case F_REQ:
		if (!fwd_admit(r, from, payload, len))
			break;
		if (e->nps || e->held_head || electing(r))
			hold_req(r, from, payload, len);
		else
			on_req(r, from, payload, len);
		break;
	case F_ANS:
		on_ans(r, from, payload, len);
		break;
	case F_TOUCH:
		on_touch(r, from, payload, len);
		break;
	default:
		bad_input(e, r->now, from, "unknown frame type");
		break;
	}
}

/*
 * The leader's connection closed (killed: its kernel closed the socket).
 * Every follower learns it at once; if all campaigned at once their
 * pre-votes would pass and their votes split, costing a whole randomised
 * election timeout.  So the followers take turns, by rank among the other
 * voters (lowest id first), a turn being a tenth of a tick (at least
 * LOST_STAGGER_MIN_MS): an early one's pre-vote fails against the leases
 * of those still waiting, and grants the later ones' (it forgot the
 * leader), so the quorum-th survivor is elected after about (quorum - 1)
 * turns.  A turn must outlast a pre-vote's trip between followers, else
 * two may pass their pre-votes together (then they may split, as before).
 *
 * A follower whose turn came while another still held the lost leader's
 * lease (it heard the leader a little later: raft counts the lease in
 * whole ticks) had its pre-vote dropped; if the later one's log is
 * behind, its own pre-vote is refused too, and both waited for raft's
 * randomised timeout, 1-2 x syncLimit tickTimes more.  So, with no leader
 * known yet, each asks again every round of turns (revote_gap: keeping
 * its place in the order) for syncLimit tickTimes, after which raft's
 * own timeout takes over.  A pre-vote changes no term: asking again is
 * always safe.
 */
static void close_owner(void *arg, struct sess *s);

/*
 * What this learner forwarded on a link to its leader that broke (or,
 * for an observer, to a leader silent for syncLimit) is in doubt: the
 * frames still queued on it are lost, those the leader read may still
 * be applied.  Every waiting request's connection is closed now
 * (lq_all_lost; the forwarded-bytes count drops with them), and so is
 * the connection of an answer that waits for a txn the broken link did
 * not bring (applied later, or never if the leader changes): left at
 * the head, it would keep the waiting entries behind it, and their
 * connections, open.  Closed now, before anything later of those
 * connections is forwarded on the link's successor: the core drops
 * their input still in the ring (repl.c, closed_input), so no request
 * runs without one its client sent before it on the same connection.
 * Returns the requests failed.
 */
static uint32_t learner_link_lost(struct repl *r)
{
	struct ens *e = E(r);
	uint32_t n = 0;

	assert(!e->serving);
	for (uint32_t i = 0; i < e->lq_len; i++) {
		struct lent *l = lq_at(e, i);

		if (l->state == LQ_ANSWERED && l->after > r->last_applied)
			l->state = LQ_LOST;
		n += l->state == LQ_WAIT || l->state == LQ_LOST;
	}
	lq_all_lost(r);
	assert(e->lq_len == 0 && e->lq_bytes == 0);
	return n;
}

/*
 * An observer's link to its leader broke, or its leader was silent for
 * syncLimit tickTimes (ZooKeeper's learner socket read timeout; given up
 * once per such silence, ens_iterate).  A follower forgets its leader
 * at its turn (raft_peer_lost starts a pre-vote: track_role then loses
 * the learner FIFO and closes its clients' connections), but raft keeps
 * a non-voter's leader, so what the observer forwarded would wait out
 * LQ_TIMEOUT_TICKS, and while the FIFO is at its bound
 * (ens_learner_full) the observer would take no worker input at all,
 * touches included, for that long.  What it forwarded is failed now
 * (learner_link_lost), and every client connection is closed, as
 * ZooKeeper's Observer does (observeLeader fails, Learner.shutdown ->
 * closeAllConnections): its clients reconnect and retry.  The leader is
 * kept: the link comes back to it, and until then a forward fails at
 * once (send_frame: its connection closed too).
 */
static void observer_lost_leader(struct repl *r, uint32_t id, const char *why)
{
	struct ens *e = E(r);
	uint32_t n;

	assert(e->observer && !e->serving && id == e->leader);
	n = learner_link_lost(r);
	log_info("ensemble: observer %u lost its leader %u (%s); closed %u waiting requests' "
		 "and every client's connections",
		 e->myid, id, why, n);
	sess_foreach(r->sess, close_owner, r);
}

/*
 * A follower's link to its leader broke.  It gives the leader up only
 * at its turn (leader_gone), and the link may be back before that: a
 * request lost with the old link and a later one of the same connection
 * sent on the new one would leave a gap (the later applied without the
 * earlier).  So what it forwarded is failed now (learner_link_lost).
 * ZooKeeper's follower closes every client connection instead (its
 * followLeader fails, Learner.shutdown -> closeAllConnections, and it
 * elects).  Failing only the connections with a request in doubt is
 * enough to keep every connection's order: any other connection has
 * nothing in flight (each request it sent was answered, or is not
 * forwarded yet and will go, in order, on the link's successor, which
 * the leader reads in order), and this follower's tree stays its log's
 * committed prefix, which the leader's log extends (raft repairs the
 * follower's log, never what it applied), so its reads and watches stay
 * valid, unlike a ZooKeeper follower that may be resynchronised with a
 * TRUNC or SNAP.  If the follower does give the leader up at its turn,
 * track_role closes every connection then, as ZooKeeper does.
 */
static void follower_lost_link(struct repl *r, uint32_t id)
{
	struct ens *e = E(r);
	uint32_t n;

	assert(!e->observer && !e->serving && id == e->leader);
	n = learner_link_lost(r);
	if (n)
		log_info("ensemble: follower %u lost its link to its leader %u; closed the "
			 "connections of %u requests in doubt",
			 e->myid, id, n);
}

/* The leader `id` is gone: raft_peer_lost() at this follower's turn. */
static void leader_gone(struct repl *r, uint32_t id)
{
	struct ens *e = E(r);
	struct raft_conf conf;
	uint32_t rank = 0, others = 0;
	int64_t stagger;

	raft_get_conf(e->raft, &conf);
	for (uint32_t i = 0; i < conf.n; i++) {
		if (!conf.m[i].voter || conf.m[i].id == id)
			continue;
		others++;
		if (conf.m[i].id < e->myid)
			rank++;
	}
	e->lost_id = id;
	stagger = e->tick_ms / LOST_STAGGER_DIV;
	if (stagger < LOST_STAGGER_MIN_MS)
		stagger = LOST_STAGGER_MIN_MS;
	e->lost_at = r->now + (int64_t)rank * stagger;
	e->revote_gap = (int64_t)(others > 1 ? others : 2) * stagger;
	e->revote_at = e->lost_at + e->revote_gap;
	e->revote_until = e->lost_at + e->silence_ms;
}

static void on_event(void *arg, uint32_t id, enum peer_event ev)
{
	struct repl *r = arg;
	struct ens *e = E(r);

	if (r->failed)
		return;
	e->delivered++;
	if (ev == PEER_EV_CONNECTED) {
		/* It may have restarted with less than it acknowledged. */
		raft_peer_reset(e->raft, id);
		return;
	}
	if (ev != PEER_EV_LOST)
		return;
	if (id < 256 && e->sout[id] && e->sout[id]->active)
		snap_out_end(r, id, false);
	if (id != e->leader || e->serving) {
		raft_peer_lost(e->raft, id);
		return;
	}
	if (e->observer)
		observer_lost_leader(r, id, "its link broke");
	else
		follower_lost_link(r, id);
	leader_gone(r, id);
}

/* ---- Applying committed txns ---- */

static void apply_txn(struct repl *r, const uint8_t *rec, size_t len, int64_t zxid)
{
	struct ens *e = E(r);
	struct pending *p = NULL;
	struct lent *l = NULL;
	struct tree_txn txn;
	struct sess *s;
	int rc;

	rc = tree_txn_decode(rec, len, r->max_record, &txn);
	if (rc == -ENOMEM)
		die_oom("decoding a txn", zxid);
	if (rc || txn.zxid != zxid) {
		log_error("ensemble: committed txn 0x%" PRIx64 " cannot be applied (%s); this "
			  "member stops acknowledging writes",
			  (uint64_t)zxid, rc ? strerror(-rc) : "its header names another zxid");
		if (!rc)
			tree_txn_release(&txn);
		disk_failed(r, -EBADMSG);
		return;
	}
	if (zxid <= e->skip_zxid) {
		/* In the snapshot this member loaded (fuzzy: replay from its base). */
		tree_txn_release(&txn);
		return;
	}
	if ((uint64_t)zxid > e->live_zxid) /* not its own log's, replayed at start */
		repl_zk_applied(r, txn.time,
				e->role == RAFT_LEADER ? REPL_ZK_QUORUM_ACK_MS
						       : REPL_ZK_COMMIT_PROPAGATION_MS);
	if (e->serving) {
		/* Markers ahead of it were queued before it: answer them first. */
		while (r->qlen && q_at(r, 0)->zxid == 0 && q_at(r, 0)->kind != 0) {
			struct pending *m = q_at(r, 0);

			if (m->origin)
				assert(m->appended); /* its F_ANS left (send_held_markers) */
			else if (m->worker < r->nworkers)
				answer_err(r, m->worker, m->conn, m->xid, m->session,
					   m->kind == P_SYNC ? ZK_OK : m->err);
			q_pop(r);
		}
		if (r->qlen && q_at(r, 0)->zxid == zxid)
			p = q_at(r, 0);
	} else {
		if ((uint64_t)zxid >> 32 > (uint64_t)r->last_applied >> 32)
			lq_epoch_lost(r);
		l = lq_match(r, &txn);
	}
	if (tree_apply(r->tree, &txn, &r->aout))
		die_oom("applying a txn", zxid);
	tree_prep_applied(r->prep, zxid);
	if (r->aout.nevents)
		send_events(r, &txn);

	switch (txn.type) {
	case ZK_OP_CREATESESSION:
		s = sess_find(r->sess, txn.session);
		if (!s && sess_track(r->sess, txn.session, txn.timeout, r->now, &s))
			die_oom("tracking a session", zxid);
		if (p && p->kind == P_CONNECT && !p->origin && p->worker < r->nworkers) {
			struct repl_connected *c = calloc(1, sizeof(*c));

			if (!c)
				die_oom("answering a connect", zxid);
			c->err = ZK_OK;
			c->session = p->session;
			c->timeout = p->timeout;
			sess_password(p->session, c->passwd);
			send_simple(r, p->worker, REPL_OUT_CONNECTED, p->conn, p->xid, p->session,
				    zxid, c);
		} else if (l && l->kind == LQ_CONNECT) {
			struct repl_connected *c = calloc(1, sizeof(*c));

			if (!c)
				die_oom("answering a connect", zxid);
			s->owned = true;
			s->owner_worker = l->worker;
			s->owner_conn = l->conn;
			c->err = ZK_OK;
			c->session = l->session;
			c->timeout = txn.timeout;
			sess_password(l->session, c->passwd);
			send_simple(r, l->worker, REPL_OUT_CONNECTED, l->conn, l->xid, l->session,
				    zxid, c);
		}
		break;
	case ZK_OP_CLOSESESSION: {
		uint32_t cw = NO_WORKER, cc = 0;
		bool answer = false;

		if (p && p->kind == P_CLOSE && !p->origin) {
			cw = p->worker;
			cc = p->conn;
			answer = true;
		} else if (l && l->kind == LQ_CLOSE) {
			cw = l->worker;
			cc = l->conn;
			answer = true;
		}
		s = sess_find(r->sess, txn.session);
		if (s && s->owned && (!answer || s->owner_worker != cw || s->owner_conn != cc))
			send_simple(r, s->owner_worker, REPL_OUT_EXPIRE, s->owner_conn, 0, s->id,
				    zxid, NULL);
		sess_remove(r->sess, txn.session);
		if (answer && cw < r->nworkers) {
			struct repl_result *res = result_new(ZK_OK, 0, 0);

			if (!res)
				die_oom("answering a close", zxid);
			send_simple(r, cw, REPL_OUT_RESULT, cc, p ? p->xid : l->xid, txn.session,
				    zxid, res);
		}
		break;
	}
	default:
		if (p && p->kind == P_WRITE && !p->origin) {
			send_result(r, p, &txn);
		} else if (l && l->kind == LQ_WRITE) {
			struct pending fake = {
			    .worker = l->worker,
			    .conn = l->conn,
			    .xid = l->xid,
			    .session = l->session,
			};

			send_result(r, &fake, &txn);
		}
		break;
	}
	/*
	 * Applied: the reads that waited for this txn (q_pop, lq_pop) run on
	 * the tree that holds it and must show its zxid, not the one before.
	 */
	r->last_applied = zxid;
	if (p)
		q_pop(r);
	if (l) {
		assert(l == lq_at(e, 0));
		lq_set(e, l, LQ_ANSWERED);
		lq_pop(r, false);
	}
	tree_txn_release(&txn);
	publish(r);
}

/*
 * zoo.cfg.dynamic.<version> next to zoo.cfg, as ZooKeeper's
 * QuorumPeer.writeDynamicConfig (written to a temporary file, fsync'ed,
 * renamed).  zoo.cfg itself is not rewritten: a restarted member takes
 * its membership from its snapshot and log (ens_open), and the file is
 * there for an operator who points dynamicConfigFile at it.
 */
static int publish_config(struct repl *r, int64_t mtime);

static void conf_persist(struct repl *r)
{
	struct ens *e = E(r);
	const char *cf = r->cfg->config_file;
	char *text = NULL, path[4096], tmp[4200];
	const char *slash;
	size_t dir;
	int len, fd = -1;

	if (!cf)
		return; /* a built-in or string configuration: no directory */
	slash = strrchr(cf, '/');
	dir = slash ? (size_t)(slash - cf + 1) : 0;
	if (dir + 64 > sizeof(path)) {
		log_warn("ensemble: configuration directory path too long; %s",
			 "zoo.cfg.dynamic not written");
		return;
	}
	snprintf(path, sizeof(path), "%.*szoo.cfg.dynamic.%" PRIx64, (int)dir, cf,
		 e->members.version);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	text = malloc(ENS_CONF_TEXT_MAX);
	len = text ? ens_members_text(&e->members, false, text, ENS_CONF_TEXT_MAX) : -ENOMEM;
	if (len >= 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (len < 0 || fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) ||
	    rename(tmp, path)) {
		log_warn("ensemble: cannot write %s: %s", path,
			 len < 0 ? strerror(-len) : strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
	if (fd >= 0)
		close(fd);
	free(text);
}

/* Brings the peer links in line with e->members (after a reconfig). */
static void conf_links(struct repl *r, const struct ens_members *old)
{
	struct ens *e = E(r);

	for (size_t i = 0; i < old->n; i++) {
		const struct cfg_server *o = &old->s[i];
		const struct cfg_server *n = ens_members_find(&e->members, o->id);

		if (o->id == e->myid)
			continue;
		if (!n || strcmp(n->host, o->host) || n->quorum_port != o->quorum_port)
			peer_remove(e->peer, (uint32_t)o->id);
	}
	for (size_t i = 0; i < e->members.n; i++) {
		const struct cfg_server *n = &e->members.s[i];
		struct peer_stats st;
		struct peer_member pm = {
		    .id = (uint32_t)n->id,
		    .host = n->host,
		    .quorum_port = n->quorum_port,
		    .election_port = n->election_port,
		    .observer = n->type == CFG_OBSERVER,
		};
		int rc;

		if (n->id == e->myid || peer_stats(e->peer, pm.id, &st) == 0)
			continue;
		rc = peer_add(e->peer, &pm);
		if (rc)
			log_error("ensemble: cannot link to new server.%u (%s:%u): %s", pm.id,
				  pm.host, pm.quorum_port, strerror(-rc));
	}
}

/*
 * A committed CONF entry: its trailer is the SETDATA txn of
 * /zookeeper/config (applied as any txn: the client that asked is
 * answered, watchers fire), whose data is the new membership with
 * addresses; the peer links follow it, and it is persisted next to
 * zoo.cfg as ZooKeeper does.  A member that is no longer listed stops
 * counting (raft) and, with no leader sending to it, stops serving.
 */
static void conf_apply(struct repl *r, const struct raft_entry *ent)
{
	struct ens *e = E(r);
	const uint8_t *tr = NULL;
	size_t tlen = 0;
	struct tree_txn txn;
	struct ens_members next, old;
	char why[160];
	int rc;

	if (raft_conf_trailer(ent, &tr, &tlen) || tlen == 0) {
		log_warn("ensemble: configuration entry %" PRIu64 " carries no server lines; "
			 "/zookeeper/config unchanged",
			 ent->index);
		return;
	}
	apply_txn(r, tr, tlen, (int64_t)ent->zxid);
	if (r->failed)
		return;
	if ((int64_t)ent->zxid == e->conf_zxid)
		e->conf_zxid = 0;
	rc = tree_txn_decode(tr, tlen, r->max_record, &txn);
	if (rc == -ENOMEM)
		die_oom("decoding a reconfig", (int64_t)ent->zxid);
	if (rc || txn.nops != 1 || txn.ops[0].data.len < 0) {
		if (!rc)
			tree_txn_release(&txn);
		log_error("ensemble: reconfig 0x%" PRIx64 " is not a /zookeeper/config txn; "
			  "membership unchanged",
			  ent->zxid);
		return;
	}
	rc = ens_members_parse(&next, (const char *)txn.ops[0].data.p, (size_t)txn.ops[0].data.len,
			       why, sizeof(why));
	tree_txn_release(&txn);
	if (rc) {
		log_error("ensemble: reconfig 0x%" PRIx64 ": %s; membership unchanged", ent->zxid,
			  why);
		return;
	}
	old = e->members;
	e->members = next;
	{
		const struct cfg_server *me = ens_members_find(&e->members, e->myid);

		if (me)
			e->observer = me->type == CFG_OBSERVER; /* srvr's Mode */
	}
	conf_links(r, &old);
	ens_members_free(&old);
	conf_persist(r);
	log_info("ensemble: configuration version %" PRIx64 " in effect: %zu servers%s",
		 e->members.version, e->members.n,
		 ens_members_find(&e->members, e->myid) ? "" : "; this server is not one of them");
}

static void apply_entry(struct repl *r, const struct raft_entry *ent)
{
	struct ens *e = E(r);

	/* In order, from the loaded or installed snapshot's base + 1 on. */
	assert(ent->index == e->applied_index + 1);

	if (ent->type == RAFT_ENTRY_DATA && !r->failed) {
		const uint8_t *p = ent->data, *end = ent->data + ent->len;

		for (uint32_t k = 0; k < ent->count && !r->failed; k++) {
			const uint8_t *rec;
			uint32_t n;

			if (ens_batch_next(&p, end, &rec, &n)) {
				apply_txn(r, p, 0, ent->zxid + k); /* reports the damage */
				break;
			}
			apply_txn(r, rec, n, (int64_t)ent->zxid + k);
			/* SyncRequestProcessor.shouldSnapshot, counted as applied */
			r->txns_since_roll++;
			r->bytes_since_roll += n;
			if (++e->applied_txns % 1024 == 0) {
				/*
				 * A restarted member applies its whole log in a
				 * few Readies: let frees and readers' grace
				 * periods go on, as the standalone replay does
				 * (nothing holds a tree reference between txns).
				 */
				tree_reclaim_flush(r->tree);
				urcu_qsbr_quiescent_state();
			}
		}
	}
	if (ent->type == RAFT_ENTRY_CONF && !r->failed)
		conf_apply(r, ent);
	if (ent->type == RAFT_ENTRY_NOOP && r->cfg->reconfig_enabled && e->members.version == 0 &&
	    !r->failed) {
		/*
		 * ZOOKEEPER-1783: a configuration without a version gets the
		 * first leader's epoch zxid (term << 32: its no-op's), on every
		 * member alike since all apply this entry.
		 */
		e->members.version = ent->zxid;
		if (publish_config(r, clock_wall_ms()))
			die_oom("publishing /zookeeper/config", (int64_t)ent->zxid);
		conf_persist(r);
	}
	e->applied_index = ent->index;
	e->applied_term = ent->term;
	if (r->txns_since_roll > r->snap_count / 2 + r->rand_roll ||
	    (r->snap_size > 0 && r->bytes_since_roll > r->snap_size / 2 + r->rand_size))
		e->snap_due = true;
}

/* ---- Snapshots ---- */

/*
 * Every member snapshots on its own, as ZooKeeper's servers do: after
 * snapCount applied txns (randomised), the log is rolled and the worker
 * walks the tree (fuzzy) while the core goes on.  The meta recorded is
 * the last entry applied when the snapshot was asked for: the walk
 * starts later, so the tree holds at least that much, and replaying the
 * log from meta.index + 1 over it is what standalone recovery does
 * (txns the snapshot already holds are skipped by zxid, the fuzzy rest
 * is tolerated by tree_apply).  Once the file is durable its meta is
 * written next to it (snapdir_meta_put, keep_from = meta.index + 1:
 * the log is indexed by raft index, and the purge keeps it from
 * there), and raft drops its in-memory log up to the PREVIOUS snapshot's
 * base: a follower behind by less than snapCount txns still
 * catches up from the log, and memory stays bounded by about two
 * snapCounts of entries.
 */
static void ens_snapshot(struct repl *r)
{
	struct ens *e = E(r);
	struct snapdir_stats st;
	struct raft_status rs;
	int rc;

	if (r->failed || e->installing)
		return; /* (installing: install_begin) */
	if (e->snap_pending) {
		snapdir_stats(r->snap, &st);
		if (st.busy || st.snapshots + st.snapshot_errors == e->snap_jobs)
			return;
		e->snap_pending = false;
		if (st.snapshots + st.snapshot_errors != e->snap_jobs + 1 || st.snapshots == 0 ||
		    st.last_zxid < 0)
			return; /* failed (logged by snapdir): tried again after snapCount */
		rc = meta_put(r, st.last_zxid, &e->snap_meta);
		if (rc)
			return; /* logged; the snapshot is skipped at load without it */
		if (e->prev_meta.index) {
			rc = raft_compact(e->raft, &e->prev_meta);
			if (rc) {
				log_warn("ensemble: compacting the log to index %" PRIu64
					 " failed: %s",
					 e->prev_meta.index, strerror(-rc));
			} else {
				e->base_meta = e->prev_meta;
				e->base_file = e->prev_file;
			}
		}
		e->prev_meta = e->snap_meta;
		e->prev_file = st.last_zxid;
		raft_get_status(e->raft, &rs);
		log_info("ensemble: snapshot 0x%" PRIx64 " covers index %" PRIu64 " term %" PRIu64
			 " zxid 0x%" PRIx64 "; log in memory: %" PRIu64 " entries (%" PRIu64
			 "..%" PRIu64 ")",
			 (uint64_t)st.last_zxid, e->snap_meta.index, e->snap_meta.term,
			 e->snap_meta.zxid, rs.last_index + 1 - rs.first_index, rs.first_index,
			 rs.last_index);
		return;
	}
	if (!e->snap_due)
		return;
	e->snap_due = false;
	reset_snapshot_stats(r);
	rc = raft_snapshot_meta(e->raft, e->applied_index, &e->snap_meta);
	if (rc) {
		log_warn("ensemble: no snapshot meta for index %" PRIu64 ": %s", e->applied_index,
			 strerror(-rc));
		return;
	}
	rc = txlog_roll(r->log);
	if (rc) {
		disk_failed(r, rc);
		return;
	}
	snapdir_stats(r->snap, &st);
	e->snap_jobs = st.snapshots + st.snapshot_errors;
	if (snapdir_request_snapshot(r->snap, r->tree) == -EBUSY) {
		log_warn("ensemble: too busy to snapshot, skipping");
		return;
	}
	e->snap_pending = true;
}

/* ---- Persisting Ready units ---- */

static int append_entry(struct repl *r, const struct raft_entry *ent)
{
	uint8_t hdr[ENS_ENTRY_HDR];
	struct txlog_entry te;
	int rc;

	/* The header and the payload go to the log's batch without a copy in between. */
	ens_entry_hdr_encode(ent->type, ent->count, hdr);
	te = (struct txlog_entry){
	    .index = (int64_t)ent->index,
	    .term = ent->term,
	    .zxid = (int64_t)ent->zxid,
	    .head = hdr,
	    .head_len = ENS_ENTRY_HDR,
	    .data = ent->data,
	    .len = ent->len,
	};
	for (;;) {
		rc = txlog_append_entry(r->log, &te);
		if (rc != -EAGAIN)
			return rc;
		/* The batch is full: hand it over and wait for room. */
		int64_t last;
		uint64_t lt;

		txlog_last(r->log, &last, &lt);
		rc = txlog_wait_durable(r->log, last, -1);
		if (rc)
			return rc;
	}
}

static int pq_push(struct ens *e, uint64_t seq, int64_t target)
{
	if (e->pq_len == e->pq_cap) {
		uint32_t ncap = e->pq_cap ? e->pq_cap * 2 : 64;
		struct punit *n = malloc((size_t)ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (uint32_t i = 0; i < e->pq_len; i++)
			n[i] = e->pq[(e->pq_head + i) & (e->pq_cap - 1)];
		free(e->pq);
		e->pq = n;
		e->pq_cap = ncap;
		e->pq_head = 0;
	}
	e->pq[(e->pq_head + e->pq_len) & (e->pq_cap - 1)] = (struct punit){seq, target};
	e->pq_len++;
	return 0;
}

/*
 * Takes every unit whose bytes are durable off the queue; returns how
 * many and raises *seq to the newest.
 */
static uint32_t take_durable(struct ens *e, int64_t durable, uint64_t *seq)
{
	uint32_t n = 0;

	while (e->pq_len) {
		struct punit *u = &e->pq[e->pq_head];

		if (u->target > durable)
			break;
		*seq = u->seq;
		e->pq_head = (e->pq_head + 1) & (e->pq_cap - 1);
		e->pq_len--;
		n++;
	}
	return n;
}

/*
 * Reports every unit whose bytes are durable, and those a truncation
 * found durable (persist).  Never between raft_ready and raft_advance:
 * raft takes no input then.  Returns the units reported.
 */
static uint32_t report_durable(struct repl *r)
{
	struct ens *e = E(r);
	uint64_t seq = e->durable_seq;
	uint32_t n = take_durable(e, txlog_durable_zxid(r->log), &seq);

	e->durable_seq = 0;
	if (seq) {
		raft_persisted(e->raft, seq);
		acks_made(r);
	}
	return n;
}

/*
 * raft installed the leader's snapshot (RAFT_MSG_SNAP after the whole
 * stream: the file and its meta are durable, snap_in_chunk).  The load
 * runs OFF the broadcast core (about a second at 1M znodes), in three
 * steps:
 *  install_begin (inside the Ready's persistence unit U, from persist()):
 *     every earlier unit is made durable and taken as such (reported
 *     after raft_advance, as ever), the loader thread starts, and the
 *     member is INSTALLING;
 *  the loader thread (install_work) reads the file into a fresh tree,
 *     checks its base (snap_base_ok) and only then discards the WHOLE log
 *     (raft.h: on install the snapshot is the new base; our entry at or
 *     below it may be of another term): the log's caller side is the
 *     loader's while INSTALLING, the core making no caller-side txlog
 *     call meanwhile (txlog.h: one caller thread);
 *  while INSTALLING the core goes on: it steps raft, ticks, sends what
 *     raft says and answers heartbeats; persist() writes hard states at
 *     once but keeps U and every later unit's entries in memory
 *     (install_defer), in order, and reports none of them durable;
 *  install_finish (on the core, once the loader is done, install_poll):
 *     the tree, prep state and session tracker are replaced
 *     (repl_install_tree: every worker closes all its connections and
 *     switches to the new tree at one point of its ring; the old tree is
 *     freed once all have), the kept
 *     entries are written to the log after it and U and the later units
 *     join the queue of units reported as the log's fsync covers them
 *     (report_durable).  Then the member applies from base + 1 and takes
 *     no client until it applied what its leader had committed after the
 *     install (catch_up): the snapshot is fuzzy.
 *
 * Why this is safe against raft's contract (raft.h READY/ADVANCE/
 * PERSISTED, SNAPSHOTS): nothing from U on is reported to raft_persisted
 * before the swap, and raft makes everything that depends on U wait for
 * that report.
 *  - Apply: raft sets its durable index to 0 when it installs and hands
 *    out committed entries only up to min(commit, durable) (apply_limit),
 *    durable rising only with raft_persisted(U or later): no entry past
 *    the base is applied to the OLD tree (asserted: n_committed == 0
 *    while installing).
 *  - Acknowledge: the snapshot's ack, the acks of entries appended
 *    meanwhile and any vote are held inside raft until raft_persisted
 *    covers the unit they were made in (>= U): the leader counts nothing
 *    of ours before our state is the snapshot's, so nothing is committed
 *    on the strength of a member that would lose it in a crash.  Only
 *    heartbeat answers leave (they acknowledge nothing), so the leader
 *    keeps us as a live follower.
 *  - Lead: a candidate's vote request is held the same way, so the
 *    member cannot be elected (start_serving asserts it) before the swap.
 *  - Crash while INSTALLING: the snapshot and its meta are durable, the
 *    old log whole, truncated or torn: the restart loads the received
 *    snapshot (the newest with a meta) and discard_stale drops what is
 *    left of the old log if it is not the snapshot's history; the entries
 *    kept in memory were never acknowledged (held), so losing them is a
 *    lost message.
 *  - Load fails: the member stops (-ESTALE, exit status 1) with its log
 *    untouched, to load the snapshot at its next start, as before.
 *  - A second install cannot start meanwhile: chunks are dropped while
 *    INSTALLING (the leader's transfer goes back, then fails and is tried
 *    again later), so no stream completes and no SNAP is stepped.
 *  - Own snapshots: none is started or given a meta meanwhile
 *    (ens_snapshot returns; a walk of the old tree under way loses its
 *    meta, as before), so raft_compact never sees an index below the base.
 * Client-facing, the member behaves as when the core was blocked in the
 * load: workers serve reads from the old tree until their switch, new
 * connections are refused (catch_up's CU_LOAD), requests forwarded
 * meanwhile are lost at the swap (their clients reconnect).
 */
static void stop_serving(struct repl *r);

/*
 * After a live install: the snapshot's /zookeeper/config may hold a newer
 * membership than ours (a reconfig committed while we were away, e.g. the
 * one that added us): take it, as members_open does at a restart, and
 * bring the peer links and zoo.cfg.dynamic in line.  Later changes come
 * through the log (conf_apply).
 */
static void members_from_installed(struct repl *r)
{
	struct ens *e = E(r);
	const struct tree_node *n = tree_lookup(r->tree, "/zookeeper/config", 17);
	struct jute_buf data = {NULL, -1};
	struct ens_members snap, old;
	struct zk_stat st;
	char why[160];

	if (n)
		tree_node_read(n, &st, &data);
	if (data.len <= 0 ||
	    ens_members_parse(&snap, (const char *)data.p, (size_t)data.len, why, sizeof(why)))
		return;
	if (snap.version <= e->members.version) {
		ens_members_free(&snap);
		return;
	}
	old = e->members;
	e->members = snap;
	{
		const struct cfg_server *me = ens_members_find(&e->members, e->myid);

		if (me)
			e->observer = me->type == CFG_OBSERVER;
	}
	conf_links(r, &old);
	ens_members_free(&old);
	conf_persist(r);
	log_info("ensemble: configuration version %" PRIx64
		 " from the leader's snapshot: %zu servers",
		 e->members.version, e->members.n);
}

/*
 * The loader's work: the file into a fresh tree, its base checked
 * (snap_base_ok), then the WHOLE log discarded, as raft discarded its
 * own: not only the part after the base, since our entry AT the base (or
 * before it) may be of another term than the snapshot's, and the log
 * refuses an append whose term or zxid is below its last one.  Only once
 * the snapshot loaded: one that cannot be installed leaves the log as it
 * was.  A crash during the truncation leaves a prefix of the old log:
 * ens_open discards it (discard_stale).  The core makes no caller-side
 * txlog call while installing (nothing is appended meanwhile), so the log
 * is this thread's to truncate (txlog.h: one caller thread at a time).
 */
static void install_work(struct inst_job *j)
{
	int64_t last;
	uint64_t lt;

	j->rc = snapdir_load_file(j->snap, j->zxid, j->topts, &j->t, &j->loaded);
	if (!j->rc && !snap_base_ok(j->loaded, (uint64_t)j->zxid)) {
		log_error("ensemble: the leader's snapshot holds zxid 0x%" PRIx64
			  ", before its meta's 0x%" PRIx64,
			  (uint64_t)j->loaded, (uint64_t)j->zxid);
		j->rc = -EBADMSG; /* the tree is freed by the core (RCU-registered) */
	}
	if (j->rc)
		return;
	txlog_last(j->log, &last, &lt);
	if (last > 0)
		j->log_rc = txlog_truncate_suffix(j->log, 1);
}

/* The loader thread (install_begin): install_work, then publish the result. */
static void *install_load(void *arg)
{
	struct inst_job *j = arg;

	urcu_qsbr_register_thread(); /* tree_snapshot_load: online, quiescent between blocks */
	install_work(j);
	urcu_qsbr_unregister_thread();
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Waits for the loader thread, if any; its outs are then the core's. */
static void install_join(struct ens *e)
{
	if (e->inst_threaded)
		pthread_join(e->inst_thread, NULL);
	e->inst_threaded = false;
	assert(__atomic_load_n(&e->inst->done, __ATOMIC_ACQUIRE));
}

/* Drops what install_defer kept. */
static void install_forget(struct ens *e)
{
	for (uint32_t i = 0; i < e->nients; i++)
		free((void *)e->ients[i].data);
	e->nients = 0;
	e->niunits = 0;
}

static int install_begin(struct repl *r, const struct raft_snap_meta *sm)
{
	struct ens *e = E(r);
	sigset_t all, old;
	int64_t last;
	uint64_t lt;
	int rc;

	if (e->serving)
		stop_serving(r); /* (raft installs only as a follower: track_role did it) */
	assert(!e->serving && r->qlen == 0 && !e->installing);
	assert(sm->index > e->applied_index);
	/* Every earlier unit durable, and taken as such (they come before U). */
	txlog_last(r->log, &last, &lt);
	if (last > 0 && (rc = txlog_wait_durable(r->log, last, -1)) && rc != -EINVAL)
		return rc;
	take_durable(e, last > 0 ? last : 0, &e->durable_seq);
	assert(e->pq_len == 0);
	if (!e->inst && !(e->inst = malloc(sizeof(*e->inst))))
		return -ENOMEM;
	*e->inst = (struct inst_job){
	    .snap = r->snap, .topts = &r->topts, .log = r->log, .zxid = (int64_t)sm->zxid};
	e->installing = true;
	e->inst_meta = *sm;
	e->inst_t0 = clock_mono_ns();
	e->inst_next = r->now;
	e->snap_pending = false; /* a walk of the old tree: no meta, skipped at load */
	e->snap_due = false;
	e->cu = CU_LOAD;
	install_forget(e);
	log_info("ensemble: loading the leader's snapshot at index %" PRIu64 " (zxid 0x%" PRIx64
		 ") on the loader thread",
		 sm->index, sm->zxid);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&e->inst_thread, NULL, install_load, e->inst);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	e->inst_threaded = rc == 0;
	if (rc) {
		struct inst_job *j = e->inst;

		log_warn("ensemble: cannot start the snapshot loader thread (%s); loading on the "
			 "broadcast thread",
			 strerror(rc));
		install_work(j);
		__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	}
	return 0;
}

/*
 * A Ready unit while INSTALLING (persist): its entries are kept in memory
 * (raft's point to its own log, valid only until raft_advance), a
 * truncation drops kept ones, and the unit is remembered with the last
 * index it covers.  Written and reported by install_finish.
 */
static int install_defer(struct repl *r, const struct raft_ready *rd)
{
	struct ens *e = E(r);
	uint64_t last = e->nients ? e->ients[e->nients - 1].index : 0;

	/* U first (a second install is refused by install_begin's assert: chunks
	 * are dropped while installing, no SNAP is stepped) */
	assert(!rd->has_snap || e->niunits == 0);
	if (rd->truncate_from) {
		/* as raft caps its records: an earlier unit covers what is left */
		assert(rd->truncate_from > e->inst_meta.index);
		while (e->nients && e->ients[e->nients - 1].index >= rd->truncate_from)
			free((void *)e->ients[--e->nients].data);
		last = e->nients ? e->ients[e->nients - 1].index : 0;
		for (uint32_t i = 0; i < e->niunits; i++)
			if (e->iunits[i].last > last)
				e->iunits[i].last = last;
	}
	if (e->nients + rd->n_entries > e->ients_cap) {
		uint32_t ncap = e->ients_cap ? e->ients_cap : 64;
		struct raft_entry *n;

		while (ncap < e->nients + rd->n_entries)
			ncap *= 2;
		if (!(n = realloc(e->ients, ncap * sizeof(*n))))
			return -ENOMEM;
		e->ients = n;
		e->ients_cap = ncap;
	}
	for (size_t i = 0; i < rd->n_entries; i++) {
		struct raft_entry en = rd->entries[i];
		void *d = NULL;

		assert(en.index ==
		       (e->nients ? e->ients[e->nients - 1].index : e->inst_meta.index) + 1);
		if (en.len && !(d = malloc(en.len)))
			return -ENOMEM;
		if (en.len)
			memcpy(d, en.data, en.len);
		en.data = d;
		e->ients[e->nients++] = en;
		last = en.index;
	}
	if (e->niunits == e->iunits_cap) {
		uint32_t ncap = e->iunits_cap ? e->iunits_cap * 2 : 64;
		struct inst_unit *n = realloc(e->iunits, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		e->iunits = n;
		e->iunits_cap = ncap;
	}
	e->iunits[e->niunits++] = (struct inst_unit){rd->seq, last};
	return 0;
}

/* The loader is done (the log discarded): swap, write the kept units. */
static int install_finish(struct repl *r)
{
	struct ens *e = E(r);
	const struct raft_snap_meta *sm = &e->inst_meta;
	struct tree *t = e->inst->t;
	int64_t loaded = e->inst->loaded, last;
	uint64_t lt, t0 = clock_mono_ns();
	int rc = e->inst->rc;

	e->inst->t = NULL;
	e->installing = false;
	if (rc) {
		if (t)
			tree_free(t);
		log_error("ensemble: installed the leader's snapshot at index %" PRIu64
			  " (zxid 0x%" PRIx64 ") in %s but cannot load it (%s); stopping: restart "
			  "this server to load it",
			  sm->index, sm->zxid, snapdir_path(r->snap), strerror(-rc));
		install_forget(e);
		return -ESTALE;
	}
	if ((rc = e->inst->log_rc)) {
		tree_free(t);
		install_forget(e);
		return rc;
	}
	assert(!e->serving && r->qlen == 0 && e->pq_len == 0);
	txlog_last(r->log, &last, &lt);
	assert(last == 0 && txlog_durable_zxid(r->log) <= 0);
	lq_all_lost_install(r);
	if (e->nro)
		ro_close_all(r);
	if (repl_install_tree(r, t, e->myid))
		die_oom("installing the leader's snapshot", (int64_t)sm->zxid);
	e->skip_zxid = loaded;
	e->applied_index = sm->index;
	e->applied_term = sm->term;
	e->prev_meta = e->base_meta = *sm;
	e->prev_file = e->base_file = (int64_t)sm->zxid;
	e->snap_pending = false;
	e->snap_due = false;
	reset_snapshot_stats(r);
	e->cu = CU_ASK;
	e->cu_target = 0;
	e->cu_since = (int64_t)(clock_mono_ns() / 1000000u);
	members_from_installed(r);
	/* The swap's invariants: the tree is the snapshot's, applied is its base. */
	assert(r->tree == t && e->applied_index == sm->index);
	assert(tree_last_zxid(r->tree) == loaded && r->last_applied == loaded);
	/* Now U and the units after it: their entries go to the log, in order. */
	for (uint32_t i = 0, k = 0; i < e->niunits; i++) {
		for (; k < e->nients && e->ients[k].index <= e->iunits[i].last; k++)
			if ((rc = append_entry(r, &e->ients[k])))
				goto fail;
		txlog_last(r->log, &last, &lt);
		assert((uint64_t)(last > 0 ? last : 0) == e->iunits[i].last);
		if ((rc = pq_push(e, e->iunits[i].seq, last)))
			goto fail;
	}
	log_info("ensemble: installed the leader's snapshot at index %" PRIu64 " (zxid 0x%" PRIx64
		 ", tree at 0x%" PRIx64 ", %" PRIu64 " znodes, %u sessions) live in %" PRIu64
		 " ms (loaded off the broadcast thread; the swap took %" PRIu64
		 " us; %u entries kept meanwhile); log discarded; catching up before serving "
		 "clients",
		 sm->index, sm->zxid, (uint64_t)loaded, tree_node_count(t), sess_count(r->sess),
		 (clock_mono_ns() - e->inst_t0) / 1000000u, (clock_mono_ns() - t0) / 1000u,
		 e->nients);
	install_forget(e);
	return 0;
fail:
	install_forget(e);
	return rc;
}

/*
 * On the core, every iteration: once the loader is done, the swap.  A
 * load that failed stops the member as handle_ready does; a disk error
 * of the swap goes to disk_failed.
 */
static uint32_t install_poll(struct repl *r)
{
	struct ens *e = E(r);
	uint64_t next;
	int rc;

	if (!e->installing || r->failed)
		return 0;
	if (!__atomic_load_n(&e->inst->done, __ATOMIC_ACQUIRE)) {
		e->inst_next = r->now + 1; /* looked at again within a millisecond */
		return 0;
	}
	install_join(e);
	rc = install_finish(r);
	if (rc == -ESTALE) {
		r->failed = true;
		__atomic_store_n(&r->err, rc, __ATOMIC_RELEASE);
		peer_poll(e->peer, (uint64_t)r->now, &next);
	} else if (rc) {
		log_error("ensemble: cannot persist the log: %s", strerror(-rc));
		disk_failed(r, rc);
	}
	return 1;
}

/*
 * After a live install: the member asks its leader how far it has
 * committed (a read index: confirmed by a quorum, so at least everything
 * committed when the snapshot was sent, hence past the end of its fuzzy
 * walk) and serves clients again once it applied that far.  Until then
 * learner_connect refuses connections.  A member that becomes leader
 * serves only with its whole log applied (track_role): nothing to wait for.
 */
static void catch_up(struct repl *r)
{
	struct ens *e = E(r);
	enum repl_zk_hist sync_h;

	if (e->cu == CU_NONE || e->cu == CU_LOAD || r->failed)
		return; /* (CU_LOAD: install_finish moves on to CU_ASK) */
	if (e->role == RAFT_LEADER) {
		e->cu = CU_NONE;
		return;
	}
	switch (e->cu) {
	case CU_ASK:
		if (!e->leader || e->leader == e->myid)
			return;
		e->cu_ctx = ++e->read_ctx;
		if (raft_read_index(e->raft, e->cu_ctx))
			return;
		e->cu = CU_WAIT;
		e->cu_deadline = r->now + LQ_TIMEOUT_TICKS * e->tick_ms;
		break;
	case CU_WAIT:
		if (r->now >= e->cu_deadline)
			e->cu = CU_ASK; /* its answer was lost */
		break;
	case CU_APPLY:
		if (e->applied_index < e->cu_target)
			break;
		e->cu = CU_NONE;
		/* Follower's / Observer's syncWithLeader: FOLLOWER_SYNC_TIME, OBSERVER_SYNC_TIME */
		sync_h = e->observer ? REPL_ZK_OBSERVER_SYNC_MS : REPL_ZK_FOLLOWER_SYNC_MS;
		hist_add(&r->zk_hist[sync_h], (clock_mono_ns() - e->inst_t0) / 1000000u);
		log_info("ensemble: server %u caught up with its leader (index %" PRIu64
			 ", zxid 0x%" PRIx64 ") %" PRId64 " ms after installing its snapshot; "
			 "serving clients",
			 e->myid, e->applied_index, (uint64_t)r->last_applied,
			 (int64_t)(clock_mono_ns() / 1000000u) - e->cu_since);
		break;
	default:
		break;
	}
}

/*
 * A learner's PROPOSAL: LEARNER_PROPOSAL_RECEIVED_COUNT, and each txn's
 * age as PROPOSAL_LATENCY (its time peeked, not decoded).
 */
static void proposal_received(struct repl *r, const struct raft_entry *en)
{
	const uint8_t *p = en->data, *end = en->data + en->len, *rec;
	uint32_t n;
	int64_t t;

	repl_count(&r->zk.learner_proposals, en->count);
	for (uint32_t k = 0; k < en->count && !ens_batch_next(&p, end, &rec, &n); k++)
		if (!tree_txn_time(rec, n, &t))
			repl_zk_age(r, t, REPL_ZK_PROPOSAL_MS);
}

static int persist(struct repl *r, const struct raft_ready *rd)
{
	struct ens *e = E(r);
	int64_t last;
	uint64_t lt;
	int rc;

	if (rd->hs_changed) {
		struct hardstate hs = {.term = rd->hs.term, .voted_for = rd->hs.vote};

		rc = hardstate_save(e->hsf, &hs);
		if (rc)
			return rc;
	}
	if (rd->has_snap && (rc = install_begin(r, &rd->snap)))
		return rc;
	if (e->installing)
		return install_defer(r, rd); /* U and later: after the swap */
	if (rd->truncate_from) {
		/* Every earlier unit is durable first: units become durable in order. */
		txlog_last(r->log, &last, &lt);
		if (last > 0 && (rc = txlog_wait_durable(r->log, last, -1)))
			return rc;
		/*
		 * Taken now, before the truncation lowers the durable index,
		 * but reported after raft_advance (report_durable): inside a
		 * Ready raft takes no input (a paused leader resumed into a
		 * new term aborted here).
		 */
		take_durable(e, last > 0 ? last : 0, &e->durable_seq);
		if (e->ack_idx >= rd->truncate_from)
			e->ack_idx = rd->truncate_from - 1; /* those entries are replaced */
		rc = txlog_truncate_suffix(r->log, (int64_t)rd->truncate_from);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < rd->n_entries; i++) {
		rc = append_entry(r, &rd->entries[i]);
		if (rc)
			return rc;
		/* Follower.processPacket's PROPOSAL: LEARNER_PROPOSAL_RECEIVED_COUNT */
		if (e->role != RAFT_LEADER && rd->entries[i].type == RAFT_ENTRY_DATA)
			proposal_received(r, &rd->entries[i]);
	}
	txlog_last(r->log, &last, &lt);
	return pq_push(e, rd->seq, last);
}

static uint32_t handle_ready(struct repl *r)
{
	struct ens *e = E(r);
	struct raft_ready rd;
	uint32_t work = 0;
	int rc;

	while (!r->failed && raft_has_ready(e->raft)) {
		raft_ready(e->raft, &rd);
		r->zk_wall_ms = 0; /* the latencies' clock, read once a Ready */
		for (size_t i = 0; i < rd.n_msgs; i++)
			send_raft(r, &rd.msgs[i]);
		if (rd.seq && (rc = persist(r, &rd)) == -ESTALE) {
			/* A snapshot stored but not loadable live: stop, to load it at restart. */
			uint64_t next;

			r->failed = true;
			__atomic_store_n(&r->err, rc, __ATOMIC_RELEASE);
			peer_poll(e->peer, (uint64_t)r->now, &next); /* the last ack leaves */
		} else if (rd.seq && rc) {
			log_error("ensemble: cannot persist the log: %s", strerror(-rc));
			disk_failed(r, rc);
		}
		/* raft applies nothing past the base before the swap (install_begin) */
		assert(!e->installing || rd.n_committed == 0);
		for (size_t i = 0; i < rd.n_committed && !r->failed; i++) {
			const struct raft_entry *c = &rd.committed[i];

			apply_entry(r, c);
			/* Leader.commit: COMMIT_COUNT; a learner's COMMIT/INFORM */
			if (c->type == RAFT_ENTRY_DATA && c->zxid > e->live_zxid)
				repl_count(e->role == RAFT_LEADER ? &r->zk.commits
								  : &r->zk.learner_commits,
					   c->count);
		}
		for (size_t i = 0; i < rd.n_reads; i++)
			on_read(r, &rd.reads[i]);
		raft_advance(e->raft, &rd);
		work++;
		if (!r->failed && !e->installing) { /* (installing: the loader's log) */
			rc = txlog_flush(r->log);
			if (rc && rc != -EAGAIN)
				disk_failed(r, rc);
		}
		work += report_durable(r);
	}
	return work;
}

/* ---- Role changes ---- */

static void refresh(void *arg, struct sess *s)
{
	struct repl *r = arg;

	sess_touch(r->sess, s->id, s->timeout, r->now);
}

static void start_serving(struct repl *r, const struct raft_status *st)
{
	struct ens *e = E(r);

	assert(r->qlen == 0 && !e->installing); /* its vote requests are held meanwhile */
	lq_all_lost(r);
	tree_prep_applied(r->prep, INT64_MAX);
	r->last_zxid = (int64_t)st->last_zxid;
	r->qappended = 0;
	/*
	 * A new leader gives every session a fresh timeout, and knows no
	 * owner but in the term whose owners it knows (owners_of_term: a cut
	 * made while it did not serve stays).
	 */
	sess_foreach(r->sess, refresh, r);
	owners_of_term(r, st->term);
	e->serving = true;
	e->next_stats = 0;
	__atomic_store_n(&e->lead_since, (int64_t)(clock_mono_ns() / 1000000u), __ATOMIC_RELAXED);
	__atomic_store_n(&e->lead_term, st->term, __ATOMIC_RELAXED);
	log_info("ensemble: server %u leads term %" PRIu64 " from zxid 0x%" PRIx64, e->myid,
		 st->term, (uint64_t)r->last_zxid);
}

static void stop_serving(struct repl *r)
{
	struct ens *e = E(r);
	uint32_t closed = 0, refused = 0;
	bool txn_ahead = false;

	e->serving = false;
	e->conf_zxid = 0; /* dropped with r->q below, if not appended */
	syncs_lost(r);
	/*
	 * What was prepped may or may not commit: its clients reconnect.  An
	 * answer without a txn (NODEEXISTS, BADVERSION, ...) is given only
	 * when no txn is ahead of it: else it may rest on a write that never
	 * commits (prep saw it as outstanding).
	 */
	while (r->qlen) {
		struct pending *p = q_at(r, 0);
		struct sess *s;

		if (p->origin && p->session && !p->appended) {
			/*
			 * Dropped unproposed: refused as fwd_admit refuses (the
			 * follower closes the client's connection, or refuses
			 * its connect, now rather than after LQ_TIMEOUT_TICKS
			 * at its forwarding bound, deaf to its clients), and
			 * cut: its follower's next request must not run
			 * without it.  A connect's xid is 0 (leader_connect),
			 * which is what the follower matches it by.
			 */
			cut_session(r, p->origin, p->kind == P_CONNECT ? FK_CONNECT : FK_WRITE,
				    p->session);
			send_ans(r, p->origin, p->session, r->last_applied, p->xid,
				 ZK_CONNECTIONLOSS);
			refused++;
		} else if (p->kind == P_ANSWER && !p->origin && !txn_ahead) {
			answer_err(r, p->worker, p->conn, p->xid, p->session, p->err);
		} else if (!p->origin && p->worker < r->nworkers) {
			if (p->kind == P_CONNECT) /* by its xid: not the connection's id yet */
				send_refuse_pending(r, p->worker, p->conn, p->xid, p->session);
			else
				send_expire(r, p->worker, p->conn, p->session);
			closed++;
			drop_reads(r, p->reads, p->worker, p->conn);
			p->reads = p->reads_last = NULL;
		}
		if (p->zxid)
			txn_ahead = true;
		if (p->zxid && p->kind == P_CONNECT)
			sess_remove(r->sess, p->session); /* tracked again if it commits */
		if (p->zxid && (p->kind == P_CLOSE || p->kind == P_EXPIRE) &&
		    (s = sess_find(r->sess, p->session)))
			sess_unset_closing(r->sess, s, r->now);
		q_pop(r);
	}
	r->qappended = 0;
	tree_prep_applied(r->prep, INT64_MAX);
	log_info("ensemble: server %u stops leading (%u requests in flight closed, %u "
		 "forwarded ones refused)",
		 e->myid, closed, refused);
}

bool ens_quorum_stats(const struct repl *r, struct repl_quorum *q)
{
	const struct ens *e = E(r);

	if (__atomic_load_n(&e->state, __ATOMIC_RELAXED) != 1)
		return false;
	q->learners = __atomic_load_n(&e->q_learners, __ATOMIC_RELAXED);
	q->synced_followers = __atomic_load_n(&e->q_synced, __ATOMIC_RELAXED);
	q->synced_observers = __atomic_load_n(&e->q_observers, __ATOMIC_RELAXED);
	q->pending_syncs = __atomic_load_n(&e->q_syncs, __ATOMIC_RELAXED);
	q->quorum_size = __atomic_load_n(&e->q_voters, __ATOMIC_RELAXED);
	q->leader_uptime_ms = (uint64_t)((int64_t)(clock_mono_ns() / 1000000u) -
					 __atomic_load_n(&e->lead_since, __ATOMIC_RELAXED));
	q->epoch_zxid = (int64_t)(__atomic_load_n(&e->lead_term, __ATOMIC_RELAXED) << 32);
	q->last_proposal_size = __atomic_load_n(&e->prop_last, __ATOMIC_RELAXED);
	q->min_proposal_size = __atomic_load_n(&e->prop_min, __ATOMIC_RELAXED);
	q->max_proposal_size = __atomic_load_n(&e->prop_max, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++) {
		q->observer_mask[i] = __atomic_load_n(&e->q_obs_mask[i], __ATOMIC_RELAXED);
		q->lag_mask[i] = __atomic_load_n(&e->q_lag_mask[i], __ATOMIC_RELAXED);
	}
	for (int i = 0; i < 256; i++)
		q->lag[i] = (q->lag_mask[i / 64] >> (i % 64) & 1)
				? __atomic_load_n(&e->q_lag[i], __ATOMIC_RELAXED)
				: 0;
	return true;
}

uint32_t ens_quorum_size(const struct repl *r)
{
	return __atomic_load_n(&E(r)->q_voters, __ATOMIC_RELAXED);
}

uint32_t ens_leader_id(const struct repl *r)
{
	return __atomic_load_n(&E(r)->pub_leader, __ATOMIC_RELAXED);
}

/*
 * The synced observers' link figures (repl_observers), after the reset
 * an AdminServer asked for, if any.  Core thread, from publish_stats.
 */
static void publish_observers(struct ens *e, const struct raft_conf *conf,
			      const uint64_t obs_mask[4])
{
	uint32_t want = __atomic_load_n(&e->obs_reset, __ATOMIC_ACQUIRE);
	bool reset = want != e->obs_reset_done;
	struct peer_stats ps;
	uint32_t n = 0;

	__atomic_store_n(&e->obs_seq, e->obs_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint32_t i = 0; i < conf->n; i++) {
		uint32_t id = conf->m[i].id;

		if (id >= 256 || peer_stats(e->peer, id, &ps))
			continue;
		if (reset) {
			e->obs_base[id].sent = ps.frames_sent;
			e->obs_base[id].recv = ps.frames_recv;
			e->obs_base[id].req = e->fwd_req[id];
			e->link_zxid[id] = -1;
		}
		if (!(obs_mask[id / 64] & 1ull << (id % 64)) || n == REPL_OBSERVERS_MAX)
			continue;
		struct repl_learner_info *o = &e->obs[n++];

		o->sid = id;
		/* InetSocketAddress.toString(), as LearnerHandler.getRemoteAddress gives it */
		snprintf(o->remote, sizeof(o->remote), "/%s", ps.in_from);
		o->established_ms = ps.in_since_wall;
		o->queued_packets = ps.queued_frames;
		o->queued_bytes = ps.queued_bytes;
		o->packets_received = ps.frames_recv - e->obs_base[id].recv;
		o->packets_sent = ps.frames_sent - e->obs_base[id].sent;
		o->requests = e->fwd_req[id] - e->obs_base[id].req;
		o->last_zxid = e->link_zxid[id];
	}
	e->obs_n = n;
	e->obs_reset_done = want;
	__atomic_store_n(&e->obs_seq, e->obs_seq + 1, __ATOMIC_RELEASE);
}

uint32_t ens_observers(const struct repl *r, struct repl_learner_info *out, uint32_t max)
{
	const struct ens *e = E(r);

	if (__atomic_load_n(&e->state, __ATOMIC_RELAXED) != 1)
		return 0;
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t s1 = __atomic_load_n(&e->obs_seq, __ATOMIC_ACQUIRE), n;

		if (s1 & 1)
			continue;
		n = __atomic_load_n(&e->obs_n, __ATOMIC_RELAXED);
		if (n > max)
			n = max;
		if (n > REPL_OBSERVERS_MAX)
			n = REPL_OBSERVERS_MAX;
		/* A torn copy is thrown away below (the sequence moved). */
		__builtin_memcpy(out, (const void *)e->obs, n * sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&e->obs_seq, __ATOMIC_RELAXED) == s1)
			return n;
	}
	return 0;
}

void ens_reset_observer_stats(struct repl *r)
{
	__atomic_add_fetch(&E(r)->obs_reset, 1, __ATOMIC_RELEASE);
}

/* The leader's figures for mntr, about once a tick. */
static void publish_stats(struct repl *r)
{
	struct ens *e = E(r);
	uint32_t learners = 0, synced = 0, observers = 0, voters = 0;
	uint64_t obs_mask[4] = {0}, lag_mask[4] = {0}, match;
	struct raft_status st;
	struct raft_conf conf;
	struct peer_stats ps;
	struct raft_stats rst;

	if (r->now < e->next_stats)
		return;
	e->next_stats = r->now + e->tick_ms;
	if (!e->serving) {
		/* quorum_size on every member (QuorumZooKeeperServer's gauge) */
		raft_get_conf(e->raft, &conf);
		for (uint32_t i = 0; i < conf.n; i++)
			voters += conf.m[i].voter;
		__atomic_store_n(&e->q_voters, voters, __ATOMIC_RELAXED);
		return;
	}
	raft_get_stats(e->raft, &rst); /* LearnerHandler's DIFF: DIFF_COUNT */
	__atomic_store_n(&r->zk.diffs, rst.log_catchups, __ATOMIC_RELAXED);
	raft_get_conf(e->raft, &conf);
	raft_get_status(e->raft, &st);
	for (uint32_t i = 0; i < conf.n; i++) {
		const struct raft_member *m = &conf.m[i];

		/* /metrics' cheetah_follower_lag_entries */
		if (m->id < 256 && raft_peer_match(e->raft, m->id, &match)) {
			assert(match <= st.last_index);
			__atomic_store_n(&e->q_lag[m->id], st.last_index - match, __ATOMIC_RELAXED);
			lag_mask[m->id / 64] |= 1ull << (m->id % 64);
		}
		voters += m->voter;
		if (m->id == e->myid || peer_stats(e->peer, m->id, &ps))
			continue;
		if (ps.out_state == PEER_LINK_UP && ps.in_up) {
			learners++;
			synced += m->voter;
			observers += !m->voter;
			if (!m->voter && m->id < 256)
				obs_mask[m->id / 64] |= 1ull << (m->id % 64);
		}
	}
	for (int i = 0; i < 4; i++) {
		__atomic_store_n(&e->q_obs_mask[i], obs_mask[i], __ATOMIC_RELAXED);
		__atomic_store_n(&e->q_lag_mask[i], lag_mask[i], __ATOMIC_RELAXED);
	}
	publish_observers(e, &conf, obs_mask);
	__atomic_store_n(&e->q_learners, learners, __ATOMIC_RELAXED);
	__atomic_store_n(&e->q_synced, synced, __ATOMIC_RELAXED);
	__atomic_store_n(&e->q_observers, observers, __ATOMIC_RELAXED);
	__atomic_store_n(&e->q_syncs, e->nps, __ATOMIC_RELAXED);
	__atomic_store_n(&e->q_voters, voters, __ATOMIC_RELAXED);
}

static void close_owner(void *arg, struct sess *s)
{
	struct repl *r = arg;

	if (s->owned) {
		send_expire(r, s->owner_worker, s->owner_conn, s->id);
		s->owned = false;
	}
}

/*
 * A leader serves only while a majority of voters was heard from within
 * syncLimit tickTimes, as ZooKeeper's leader gives up when it cannot sync
 * a quorum.  Raft's check-quorum steps it down too, but only at its next
 * round (up to twice that); meanwhile a cut-off leader would keep its
 * clients' writes hanging instead of sending them elsewhere.
 */
static bool hears_quorum(struct repl *r)
{
	struct ens *e = E(r);
	struct raft_conf conf;
	uint32_t voters = 0, heard = 0;

	raft_get_conf(e->raft, &conf);
	for (uint32_t i = 0; i < conf.n; i++) {
		uint32_t id = conf.m[i].id;

		if (!conf.m[i].voter)
			continue;
		voters++;
		if (id == e->myid || (id < 256 && r->now - e->heard[id] <= e->silence_ms))
			heard++;
	}
	if (heard * 2 > voters)
		return true;
	if (e->serving)
		log_warn("ensemble: server %u heard from %u of %u voters within %" PRId64
			 " ms; it stops serving until it hears from a majority",
			 e->myid, heard, voters, e->silence_ms);
	return false;
}

/*
 * QuorumPeer's LOOKING_COUNT and Leader/Learner's ELECTION_TIME, on the
 * core; UNAVAILABLE_TIME (and LEADER_UNAVAILABLE_TIME) end at the same
 * moment here: a follower serves once it knows its leader, a leader once
 * its log is applied (state 1), which is where ZooKeeper's BROADCAST is.
 */
static void count_election(struct repl *r, struct ens *e, int state, int64_t now)
{
	bool looking = state == 0 || state == 4;

	if (looking && !e->elect_looking) {
		e->elect_looking = true;
		e->elect_start = now;
		__atomic_store_n(&e->looking_count, e->looking_count + 1, __ATOMIC_RELAXED);
	} else if (!looking && e->elect_looking) {
		e->elect_looking = false;
		assert(now >= e->elect_start);
		hist_add(&e->election_ms, (uint64_t)(now - e->elect_start));
		hist_add(&r->zk_hist[REPL_ZK_UNAVAILABLE_MS], (uint64_t)(now - e->elect_start));
		if (state == 1)
			hist_add(&r->zk_hist[REPL_ZK_LEADER_UNAVAILABLE_MS],
				 (uint64_t)(now - e->elect_start));
	}
}

void ens_election_stats(const struct repl *r, uint64_t *looking_count, struct hist *election_ms)
{
	const struct ens *e = E(r);

	*looking_count = __atomic_load_n(&e->looking_count, __ATOMIC_RELAXED);
	hist_read(&e->election_ms, election_ms);
}

void ens_election_reset(struct repl *r)
{
	hist_reset(&E(r)->election_ms);
}

uint64_t ens_revalidate_count(const struct repl *r)
{
	return __atomic_load_n(&E(r)->revalidate_count, __ATOMIC_RELAXED);
}

static void track_role(struct repl *r)
{
	struct ens *e = E(r);
	struct raft_status st;
	bool serve;
	int state;

	raft_get_status(e->raft, &st);
	/*
	 * Serving starts only with everything in the log applied: prep starts
	 * from the tree alone, so proposals of an earlier serving period of
	 * this term (before a quorum was lost) must be in the tree first.
	 */
	serve = !r->failed && !e->installing && st.role == RAFT_LEADER &&
		e->applied_term == st.term && e->applied_index >= 1 &&
		(st.role != RAFT_LEADER || hears_quorum(r)) &&
		(e->serving || e->applied_index == st.last_index);
	if (e->serving && (!serve || st.term != e->term))
		stop_serving(r);
	if (e->state == 4 && st.leader) {
		/* ReadOnlyZooKeeperServer.shutdown once LOOKING ends. */
		log_info("ensemble: server %u has a leader again; closing %u read-only sessions",
			 e->myid, e->nro);
		ro_close_all(r);
	}
	if (st.leader != e->leader || st.term != e->term) {
		if (st.leader != e->leader)
			log_info("ensemble: term %" PRIu64 ", leader %u", st.term, st.leader);
		/* Connects are held for the next leader for a tick (hold_connect). */
		if (e->leader && st.leader != e->leader)
			e->hold_until = r->now + e->tick_ms;
		lq_all_lost(r);
	}
	if (st.role == RAFT_LEADER && e->role != RAFT_LEADER)
		e->elected_at = r->now;
	if (st.leader != e->leader)
		e->heard_leader = r->now;
	e->role = st.role;
	e->leader = st.leader;
	e->seen_leader |= st.leader != 0;
	e->term = st.term;
	if (serve && !e->serving)
		start_serving(r, &st);
	if (e->serving)
		state = 1;
	else if (st.leader && st.leader != e->myid)
		state = e->observer ? 3 : 2;
	else
		state = 0;
	if (state == 0 && e->state != 0 && e->state != 4) {
		/*
		 * Cut off from a leader: like ZooKeeper's servers during an
		 * election, close every client connection (the clients move on
		 * to a server of the quorum; their sessions live on there).
		 */
		log_info("ensemble: server %u has no leader; closing client connections", e->myid);
		sess_foreach(r->sess, close_owner, r);
	}
	if (state != 0 || st.leader) {
		e->looking_since = 0;
	} else if (e->state == 4) {
		state = 4;
	} else if (!e->looking_since) {
		e->looking_since = r->now;
	} else if (e->ro_enabled && r->now - e->looking_since >= e->ro_grace_ms &&
		   e->cu == CU_NONE) {
		/*
		 * (Not while a live install has not caught up: its tree is the
		 * leader's fuzzy walk, no state any client may read; catch_up.)
		 */
		/* QuorumPeer starts its ReadOnlyZooKeeperServer after as long. */
		log_info("ensemble: server %u has had no leader for %" PRId64
			 " ms; serving read-only clients (readonlymode.enabled)",
			 e->myid, r->now - e->looking_since);
		state = 4;
	}
	assert(state == 4 || e->nro == 0);
	if (state == 4)
		ro_expire(r);
	count_election(r, e, state, r->now);
	__atomic_store_n(&e->pub_leader, state >= 1 && state <= 3 ? st.leader : 0,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&e->state, state, __ATOMIC_RELAXED);
}

/* ---- Reconfig (PrepRequestProcessor's OpCode.reconfig) ---- */

static const char *span_str(const struct repl_write *w, struct repl_span sp, size_t *len)
{
	if (sp.len < 0) {
		*len = 0;
		return NULL;
	}
	*len = (size_t)sp.len;
	return (const char *)w->storage + sp.off;
}

/* Java's Long.parseLong of a trimmed decimal; false if it is not one. */
static bool parse_id(const char *p, size_t len, int64_t *out)
{
	char buf[24];
	char *end;

	while (len && (unsigned char)*p <= ' ')
		p++, len--;
	while (len && (unsigned char)p[len - 1] <= ' ')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, p, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoll(buf, &end, 10);
	return !errno && !*end && isdigit((unsigned char)buf[len - 1]);
}

/*
 * The next membership from the request (incremental: leaving ids, then
 * joining lines replacing by id; non-incremental: newMembers alone).
 * Returns ZK_OK or ZK_BADARGUMENTS with why[] filled.
 */
static int32_t reconfig_next(struct ens *e, const struct repl_write *w,
			     const struct repl_write_req *rq, struct ens_members *next, char *why,
			     size_t cap)
{
	size_t jl, ll, nl;
	const char *join = span_str(w, rq->path, &jl), *leave = span_str(w, rq->data, &ll);
	const char *newm = span_str(w, rq->acl, &nl);
	const char *list = newm ? newm : join;
	size_t list_len = newm ? nl : jl;

	if (newm)
		memset(next, 0, sizeof(*next));
	else if (ens_members_copy(next, &e->members))
		return ZK_SYSTEMERROR;
	/* leaving: comma-separated ids (absent ones are no change, as ZooKeeper) */
	for (size_t off = 0; !newm && leave && off < ll;) {
		const char *c = memchr(leave + off, ',', ll - off);
		size_t l = c ? (size_t)(c - leave - off) : ll - off;
		int64_t id;

		if (!parse_id(leave + off, l, &id)) {
			/* ZooKeeper: Long.parseLong throws, the request fails as marshalling */
			snprintf(why, cap, "leaving server \"%.*s\" is not a server id",
				 (int)(l > 32 ? 32 : l), leave + off);
			return ZK_MARSHALLINGERROR;
		}
		ens_members_drop(next, id);
		off += l + 1;
	}
	/* joining (or the whole new membership): server lines, ',' or '\n' apart */
	for (size_t off = 0; list && off < list_len;) {
		const char *p = list + off;
		size_t l = 0;
		struct cfg_server sv;
		struct cfg_error err;
		int rc;

		while (off + l < list_len && p[l] != ',' && p[l] != '\n')
			l++;
		off += l + 1;
		if (l == 0 || (l == 1 && p[0] == '\r'))
			continue;
		{
			/* ZooKeeper parses the id after the key's last '.' first */
			const char *eq = memchr(p, '=', l), *dot = NULL;
			int64_t id;

			for (const char *q = p; eq && q < eq; q++)
				if (*q == '.')
					dot = q;
			if (eq && dot && !parse_id(dot + 1, (size_t)(eq - dot - 1), &id)) {
				snprintf(why, cap, "server id of \"%.*s\" is not a number",
					 (int)(eq - p > 32 ? 32 : eq - p), p);
				return ZK_MARSHALLINGERROR;
			}
		}
		rc = cfg_server_parse(p, l, &sv, &err);
		if (rc == -ENOMEM)
			return ZK_SYSTEMERROR;
		if (rc) {
			snprintf(why, cap, "%s", err.msg);
			return ZK_BADARGUMENTS;
		}
		if (!sv.client_host) {
			cfg_server_release(&sv);
			snprintf(why, cap,
				 "Wrong format of server string - each server should "
				 "have 3 ports specified");
			return ZK_BADARGUMENTS;
		}
		for (size_t i = 0; i < next->n; i++) {
			const struct cfg_server *o = &next->s[i];

			if (o->id != sv.id && !strcmp(o->host, sv.host) &&
			    (o->quorum_port == sv.quorum_port ||
			     o->election_port == sv.election_port ||
			     o->quorum_port == sv.election_port ||
			     o->election_port == sv.quorum_port)) {
				snprintf(why, cap,
					 "server.%" PRId64 " uses a port of server.%" PRId64, sv.id,
					 o->id);
				cfg_server_release(&sv);
				return ZK_BADARGUMENTS;
			}
		}
		rc = ens_members_put(next, &sv);
		cfg_server_release(&sv);
		if (rc) {
			snprintf(why, cap, "%s",
				 rc == -ENOSPC ? "too many servers" : "out of memory");
			return rc == -ENOSPC ? ZK_BADARGUMENTS : ZK_SYSTEMERROR;
		}
	}
	return ZK_OK;
}

/* Whether a quorum of next's voters is with us now (Leader.isQuorumSynced). */
static bool quorum_connected(struct ens *e, const struct raft_conf *next)
{
	uint32_t voters = raft_conf_voters(next), up = 0;

	for (uint32_t i = 0; i < next->n; i++) {
		struct peer_stats st;

		if (!next->m[i].voter)
			continue;
		if (next->m[i].id == e->myid)
			up++;
		else if (peer_stats(e->peer, next->m[i].id, &st) == 0 &&
			 st.out_state == PEER_LINK_UP && st.in_up)
			up++;
	}
	return up > voters / 2;
}

int32_t ens_reconfig(struct repl *r, uint32_t wi, const struct repl_in *m,
		     const struct repl_write *w, const struct tree_auth *auth)
{
	struct ens *e = E(r);
	const struct repl_write_req *rq = repl_write_reqs((struct repl_write *)w);
	struct ens_members next;
	struct raft_conf rc_next, cur;
	struct raft_status st;
	char why[sizeof(struct cfg_error) + 64] = "";
	int32_t err;
	uint32_t changed = 0;
	int64_t zxid;

	if (!r->cfg->reconfig_enabled)
		return ZK_RECONFIGDISABLED;
	if (w->nreqs != 1 || rq->type != ZK_OP_RECONFIG)
		return ZK_MARSHALLINGERROR;
	raft_get_status(e->raft, &st);
	if (e->conf_zxid || raft_conf_pending(e->raft) || st.transfer_to)
		return ZK_RECONFIGINPROGRESS;
	if (rq->ttl != -1 && (uint64_t)rq->ttl != e->members.version) {
		log_info("ensemble: reconfig from version %" PRIx64 " refused: the last seen "
			 "version is %" PRIx64,
			 (uint64_t)rq->ttl, e->members.version);
		return ZK_BADVERSION;
	}
	err = reconfig_next(e, w, rq, &next, why, sizeof(why));
	if (err == ZK_OK && ens_members_raft(&next, &rc_next))
		snprintf(why, sizeof(why), "no participant left"), err = ZK_BADARGUMENTS;
	if (err == ZK_OK && raft_conf_voters(&rc_next) < (r->cfg->standalone_enabled ? 2u : 1u))
		snprintf(why, sizeof(why),
			 "Reconfig failed - new configuration must include at "
			 "least %d followers",
			 r->cfg->standalone_enabled ? 2 : 1),
		    err = ZK_BADARGUMENTS;
	if (err == ZK_OK) {
		/* Cheetah's consensus changes one voter at a time (raft_conf.c) */
		raft_get_conf(e->raft, &cur);
		for (uint32_t i = 0; i < rc_next.n; i++) {
			const struct raft_member *o = raft_conf_find(&cur, rc_next.m[i].id);
			changed += rc_next.m[i].voter && !(o && o->voter);
		}
		for (uint32_t i = 0; i < cur.n; i++) {
			const struct raft_member *n = raft_conf_find(&rc_next, cur.m[i].id);
			changed += cur.m[i].voter && !(n && n->voter);
		}
		if (changed > 1)
			snprintf(why, sizeof(why),
				 "Reconfig failed - Cheetah adds or removes one "
				 "participant per reconfig (%u asked)",
				 changed),
			    err = ZK_BADARGUMENTS;
	}
	if (err != ZK_OK) {
		log_info("ensemble: reconfig of session 0x%" PRIx64 " refused: %s",
			 (uint64_t)m->session, why);
		ens_members_free(&next);
		return err;
	}
	if (!quorum_connected(e, &rc_next)) {
		log_info("ensemble: reconfig refused: no quorum of the new configuration is "
			 "connected");
		ens_members_free(&next);
		return ZK_NEWCONFIGNOQUORUM;
	}
	{
		const struct tree_node *n = tree_lookup(r->tree, "/zookeeper/config", 17);
		struct jute_acl_list acl;

		assert(n);
		tree_node_acl(r->tree, n, NULL, &acl);
		err = auth->super ? ZK_OK : tree_acl_check(&acl, ZK_PERM_WRITE, auth);
		if (err != ZK_OK) {
			ens_members_free(&next);
			return err;
		}
	}
	/* The txn: SetDataTxn(/zookeeper/config, QuorumMaj.toString(), -1). */
	zxid = zxid_next(r);
	next.version = (uint64_t)zxid;
	{
		char *text = malloc(ENS_CONF_TEXT_MAX);
		struct tree_op op = {.type = ZK_OP_SETDATA, .version = -1};
		struct tree_txn t;
		int len;

		if (!text) {
			ens_members_free(&next);
			return ZK_SYSTEMERROR;
		}
		len = ens_members_text(&next, true, text, ENS_CONF_TEXT_MAX);
		ens_members_free(&next);
		if (len < 0) {
			free(text);
			return ZK_SYSTEMERROR;
		}
		txn_hdr(&t, m->session, m->xid, zxid);
		t.type = ZK_OP_SETDATA;
		t.nops = 1;
		op.path = (struct jute_buf){(const uint8_t *)"/zookeeper/config", 17};
		op.data = (struct jute_buf){(const uint8_t *)text, len};
		t.ops = &op;
		r->enc.len = 0;
		r->enc.err = 0;
		tree_txn_encode(&t, &r->enc);
		free(text);
		if (r->enc.err) {
			r->enc.err = 0;
			return ZK_SYSTEMERROR;
		}
	}
	if (q_txn(r, P_WRITE, zxid, wi, m))
		die_oom("queueing a reconfig", zxid);
	zxid_claim(r, zxid);
	e->conf_zxid = zxid;
	e->conf_next = rc_next;
	log_info("ensemble: reconfig of session 0x%" PRIx64 " prepped at zxid 0x%" PRIx64,
		 (uint64_t)m->session, (uint64_t)zxid);
	return ZK_OK;
}

/* ---- Proposals ---- */

/* Proposal sizes for srvr and mntr (ZooKeeper's BufferStats: -1 until one). */
static void note_proposal(struct ens *e, int64_t bytes)
{
	int64_t mn = __atomic_load_n(&e->prop_min, __ATOMIC_RELAXED);
	int64_t mx = __atomic_load_n(&e->prop_max, __ATOMIC_RELAXED);

	__atomic_store_n(&e->prop_last, bytes, __ATOMIC_RELAXED);
	if (mn < 0 || bytes < mn)
		__atomic_store_n(&e->prop_min, bytes, __ATOMIC_RELAXED);
	if (bytes > mx)
		__atomic_store_n(&e->prop_max, bytes, __ATOMIC_RELAXED);
}

/*
 * The reconfig's CONF entry: raft's membership, then the SETDATA txn of
 * /zookeeper/config that prep encoded (its zxid is the entry's: one zxid
 * per CONF entry, as for a batch of one).  False: not proposed (retried,
 * or leadership dropped as for a failed batch).
 */
static bool conf_propose(struct repl *r, struct pending *p)
{
	struct ens *e = E(r);
	uint64_t index;
	const struct raft_entry *ent;
	int rc;

	rc = raft_propose_conf_ex(e->raft, &e->conf_next, p->rec, p->len, &index);
	if (rc == -EAGAIN || rc == -ENOMEM)
		return false;
	ent = rc ? NULL : raft_entry_at(e->raft, index);
	if (!ent || (int64_t)ent->zxid != p->zxid) {
		log_warn("ensemble: reconfig proposal at zxid 0x%" PRIx64 " failed (%s)",
			 (uint64_t)p->zxid, rc ? strerror(-rc) : "zxid moved");
		stop_serving(r);
		return false;
	}
	p->appended = true;
	r->qappended++;
	r->last_appended = p->zxid;
	note_proposal(e, (int64_t)p->len);
	log_info("ensemble: reconfig proposed at zxid 0x%" PRIx64 " (index %" PRIu64 ")",
		 (uint64_t)p->zxid, index);
	return true;
}

uint32_t ens_propose(struct repl *r)
{
	struct ens *e = E(r);
	uint32_t proposed = 0;

	if (!e->serving || r->failed)
		return 0;
	while (r->qappended < r->qlen) {
		uint32_t i = r->qappended, count = 0;
		size_t bytes = 0;
		int64_t first = 0;
		uint64_t zxid, index;
		int rc;

		/* A reconfig is one CONF entry of its own (conf_propose). */
		while (i < r->qlen && !q_at(r, i)->zxid)
			i++; /* markers: nothing to propose */
		if (e->conf_zxid && i < r->qlen && q_at(r, i)->zxid == e->conf_zxid) {
			send_held_markers(r, r->qappended, i);
			r->qappended = i;
			if (!conf_propose(r, q_at(r, i)))
				break;
			proposed++;
			continue;
		}
		i = r->qappended;
		/* One entry: the txns from qappended on, up to PROPOSE_MAX bytes. */
		for (; i < r->qlen; i++) {
			struct pending *p = q_at(r, i);

			if (!p->zxid)
				continue;
			if (p->zxid == e->conf_zxid)
				break; /* the next entry */
			if (count && bytes + ENS_BATCH_LEN + p->len > PROPOSE_MAX)
				break;
			if (!count)
				first = p->zxid;
			bytes += ENS_BATCH_LEN + p->len;
			count++;
		}
		if (!count) {
			send_held_markers(r, r->qappended, r->qlen);
			r->qappended = r->qlen; /* only markers */
			break;
		}
		if (bytes > e->pbuf_cap) {
			uint8_t *b = realloc(e->pbuf, bytes);

			if (!b)
				break; /* retried next iteration */
			e->pbuf = b;
			e->pbuf_cap = bytes;
		}
		bytes = 0;
		for (uint32_t k = r->qappended; k < i; k++) {
			struct pending *p = q_at(r, k);

			if (!p->zxid)
				continue;
			bytes += ens_batch_put(e->pbuf + bytes, p->rec, p->len);
		}
		rc = raft_propose(e->raft, count, e->pbuf, (uint32_t)bytes, &zxid, &index);
		if (rc == -EAGAIN || rc == -ENOMEM)
			break; /* too much uncommitted: input waits (input_paused) */
		if (rc || (int64_t)zxid != first) {
			log_warn("ensemble: proposal of %u txns from zxid 0x%" PRIx64
				 " failed (%s, zxid 0x%" PRIx64 ")",
				 count, (uint64_t)first, rc ? strerror(-rc) : "zxid moved",
				 (uint64_t)zxid);
			stop_serving(r);
			break;
		}
		for (uint32_t k = r->qappended; k < i; k++)
			if (q_at(r, k)->zxid)
				q_at(r, k)->appended = true;
		/* Before handle_ready sends the append (ens_answer_marker). */
		send_held_markers(r, r->qappended, i);
		r->qappended = i;
		r->last_appended = (int64_t)zxid + count - 1;
		proposed += count;
		repl_count(&r->zk.proposals, count); /* Leader.propose: PROPOSAL_COUNT */
		note_proposal(e, (int64_t)bytes);
	}
	/* Refused (-EAGAIN: too much uncommitted, -ENOMEM): a commit retries. */
	e->propose_refused = r->qappended < r->qlen;
	return proposed;
}

/* ---- The step ---- */

/*
 * No transfer asked or under way: snap_out_poll (a scan of 255 slots)
 * is skipped until raft asks for one again (send_raft sets sout_live).
 * Measured: that scan, run on every iteration of the core (idle spins
 * included), was 4 % of a leader's CPU under a write load.
 */
static bool snap_out_idle(const struct ens *e)
{
	for (uint32_t id = 1; id < 256; id++)
		if (e->sout[id] && (e->sout[id]->asked || e->sout[id]->active))
			return false;
	return true;
}

/*
 * Whether this pass leaves work behind that only another pass does (the
 * core sleeps after a pass that reports no work, until its next timer or
 * an fd: issue 13).  ens_iterate runs after the pass's proposal step
 * (append_backlog), and some of its steps learn what an earlier step
 * would have handled: a follower's forwarded write arrives in peer_poll
 * after the proposal step; catch_up's read index, a request released by
 * release_held or hc_release give raft work after the last handle_ready.
 * The peer fd does not wake the core for frames already read, so the
 * state decides: anything raft has for us (messages to send, entries to
 * persist, commits to apply, reads), txns prepped and not proposed (but
 * not those raft refused: a commit, which wakes the core, retries them).
 * Neither stays true across a pass that handles it: the core cannot spin
 * on them.  (Frames the late peer_poll reads count as work there; a unit
 * the log makes durable fires its eventfd.)
 */
static bool unfinished(struct repl *r)
{
	struct ens *e = E(r);

	if (r->failed)
		return false;
	if (raft_has_ready(e->raft))
		return true;
	assert(r->qappended <= r->qlen);
	return e->serving && r->qappended < r->qlen && !e->propose_refused;
}

uint32_t ens_iterate(struct repl *r)
{
	struct ens *e = E(r);
	uint32_t work = 0;
	uint64_t next;
	int rc;

	if (r->failed) {
		/* Silent: the others elect without us; main exits on repl_error. */
		return 0;
	}
	if (r->now - e->next_tick > 10 * e->tick_ms)
		e->next_tick = r->now; /* a stall: no burst of ticks */
	while (r->now >= e->next_tick) {
		raft_tick(e->raft);
		e->ticks++;
		/*
		 * Until a leader is known for the first time, ticks come
		 * START_TICK_DIV times faster: a fresh or restarted ensemble
		 * elects in a second or two, not after 2-4 x syncLimit ticks
		 * (ZooKeeper elects at start-up at once).  Heartbeats keep the
		 * normal period: a member joining a running ensemble hears its
		 * leader within one tick, before it could campaign, and pre-vote
		 * keeps it from disrupting anyone.
		 */
		e->next_tick += e->seen_leader ? e->tick_ms : e->tick_ms / START_TICK_DIV + 1;
		work++;
	}
	rc = peer_poll(e->peer, (uint64_t)r->now, &next);
	if (rc)
		log_warn("ensemble: peer poll: %s", strerror(-rc));
	e->peer_next = next;
	/*
	 * A leader silent for syncLimit tickTimes (paused, cut off) is given
	 * up at once, in turns, as ZooKeeper's followers do, instead of after
	 * raft's randomised timeout of up to twice that: pre-vote still needs
	 * a majority that lost it too.
	 */
	if (!e->lost_id && e->role == RAFT_FOLLOWER && e->leader && e->leader != e->myid &&
	    r->now - e->heard_leader > e->silence_ms) {
		if (e->observer) {
			/* Raft keeps its leader: once per syncLimit of silence. */
			observer_lost_leader(r, e->leader, "silent for syncLimit x tickTime");
			e->heard_leader = r->now;
		} else {
			log_info("ensemble: server %u heard nothing from its leader %u for %" PRId64
				 " ms (syncLimit x tickTime); electing another",
				 e->myid, e->leader, r->now - e->heard_leader);
			leader_gone(r, e->leader);
		}
	}
	if (e->lost_id && r->now >= e->lost_at) {
		if (e->lost_id == e->leader && e->role == RAFT_FOLLOWER)
			raft_peer_lost(e->raft, e->lost_id);
		e->lost_id = 0;
	}
	if (e->revote_at && !e->lost_id && r->now >= e->revote_at) {
		struct raft_status st;

		raft_get_status(e->raft, &st);
		e->revote_at = 0;
		/* -EBUSY: a candidate (its votes are on the way) or a leader known. */
		if (!st.leader && r->now < e->revote_until && raft_pre_vote(e->raft) != -EPERM)
			e->revote_at = r->now + e->revote_gap;
	}
	work += handle_ready(r);
	rc = e->installing ? 0 : txlog_flush(r->log); /* (installing: the loader's log) */
	if (rc && rc != -EAGAIN && !r->failed)
		disk_failed(r, rc);
	else if (!r->failed && (rc = txlog_error(r->log)))
		disk_failed(r, rc);
	work += install_poll(r);
	work += report_durable(r);
	work += handle_ready(r);
	ens_snapshot(r);
	if (!r->failed && e->sout_live) {
		work += snap_out_poll(r);
		e->sout_live = !snap_out_idle(e);
	}
	track_role(r);
	catch_up(r);
	work += hc_release(r);
	if (e->ntouch && r->now >= e->next_touch)
		send_touches(r);
	work += lq_drain(r);
	if (e->nps)
		syncs_expire(r);
	work += release_held(r);
	publish_stats(r);
	if (peer_has_pending(e->peer)) {
		/*
		 * It reads too (epoll): an append, an ack, an answer read here
		 * comes after the steps that handle it (handle_ready,
		 * lq_drain): the next pass does, at once.
		 */
		e->delivered = 0;
		peer_poll(e->peer, (uint64_t)r->now, &next);
		e->peer_next = next;
		work += e->delivered;
	}
	if (unfinished(r))
		work++;
	return work;
}

void ens_stop(struct repl *r)
{
	struct ens *e = E(r);
	uint64_t next;
	int rc;

	if (e->serving && !r->failed) {
		rc = raft_transfer_leader(e->raft, 0);
		if (rc)
			log_info("ensemble: stopping without a leadership transfer: %s",
				 strerror(-rc));
		else
			log_info("ensemble: stopping: handing leadership over");
		e->transferring = rc == 0;
	}
	peer_poll(e->peer, (uint64_t)r->now, &next);
}

bool ens_installing(const struct repl *r, bool *loaded)
{
	const struct ens *e = E(r);

	if (loaded)
		*loaded = e->installing && __atomic_load_n(&e->inst->done, __ATOMIC_ACQUIRE);
	return e->installing;
}

bool ens_transferring(const struct repl *r)
{
	struct ens *e = E(r);
	struct raft_status st;

	if (!e->transferring || r->failed)
		return false;
	raft_get_status(e->raft, &st);
	if (st.role != RAFT_LEADER || st.transfer_to == 0) {
		e->transferring = false;
		log_info("ensemble: leadership %s (term %" PRIu64 ", leader %u)",
			 st.role != RAFT_LEADER ? "handed over" : "transfer abandoned", st.term,
			 st.leader);
	}
	return e->transferring;
}

/* ---- Open and close ---- */

struct loaded {
	struct raft_entry *ents;
	size_t n, cap;
	const char *dir;
	int rc;
	uint64_t base;	    /* the loaded snapshot's index: entries up to it are skipped, */
	bool base_seen;	    /* but the one at the base is looked at */
	uint64_t base_term; /* (its term) */
};

/*
 * /zookeeper/config from the membership, as ZKDatabase's
 * initConfigInZKDatabase: version -1, mzxid = the config's version.
 */
static int publish_config(struct repl *r, int64_t mtime)
{
	struct ens *e = E(r);
	char *buf = malloc(ENS_CONF_TEXT_MAX);
	int len;

	if (!buf)
		return -ENOMEM;
	len = ens_members_text(&e->members, true, buf, ENS_CONF_TEXT_MAX);
	if (len >= 0)
		len =
		    tree_set_config(r->tree, buf, (size_t)len, (int64_t)e->members.version, mtime);
	free(buf);
	return len < 0 ? len : 0;
}

/*
 * The membership a member starts with: zoo.cfg's, unless its snapshot's
 * /zookeeper/config holds a newer one (a reconfig before the snapshot;
 * the log after it replays later ones through conf_apply).
 */
static int members_open(struct repl *r)
{
	struct ens *e = E(r);
	const struct tree_node *n = tree_lookup(r->tree, "/zookeeper/config", 17);
	struct ens_members snap;
	struct jute_buf data = {NULL, -1};
	struct zk_stat st;
	char why[160];
	int rc = ens_members_from_cfg(&e->members, r->cfg);

	if (rc)
		return rc;
	if (n)
		tree_node_read(n, &st, &data);
	if (data.len > 0 && ens_members_parse(&snap, (const char *)data.p, (size_t)data.len, why,
					      sizeof(why)) == 0) {
		if (snap.version > e->members.version) {
			log_info("ensemble: configuration version %" PRIx64
				 " from the snapshot (zoo.cfg has version %" PRIx64 ")",
				 snap.version, e->members.version);
			ens_members_free(&e->members);
			e->members = snap;
			return 0; /* the tree holds it already */
		}
		ens_members_free(&snap);
	}
	return publish_config(r, clock_wall_ms());
}

/*
 * The transport's members from the membership in effect.  With
 * reconfigEnabled the ensemble identity leaves the membership out (it
 * changes; a joiner starts with a list the others do not have yet): the
 * id checks of the handshake still refuse a wrong server.
 */
static int peer_config_from_members(struct repl *r, struct peer_member members[PEER_MAX_MEMBERS],
				    struct peer_config *pc)
{
	struct ens *e = E(r);
	const struct cfg_server *s;
	size_t n = 0;
	bool self = false;

	if (e->members.n > PEER_MAX_MEMBERS)
		return -EINVAL;
	for (size_t i = 0; i < e->members.n; i++) {
		s = &e->members.s[i];
		members[n++] = (struct peer_member){
		    .id = (uint32_t)s->id,
		    .host = s->host,
		    .quorum_port = s->quorum_port,
		    .election_port = s->election_port,
		    .observer = s->type == CFG_OBSERVER,
		};
		self |= s->id == e->myid;
	}
	/*
	 * A joiner restarted on a snapshot from before the reconfig that
	 * added it (the log after the snapshot adds it): its own line comes
	 * from zoo.cfg, for its listening ports.
	 */
	s = NULL;
	for (size_t i = 0; !self && i < r->cfg->n_servers; i++)
		if (r->cfg->servers[i].id == e->myid)
			s = &r->cfg->servers[i];
	if (s && n < PEER_MAX_MEMBERS) {
		members[n++] = (struct peer_member){
		    .id = (uint32_t)s->id,
		    .host = s->host,
		    .quorum_port = s->quorum_port,
		    .election_port = s->election_port,
		    .observer = s->type == CFG_OBSERVER,
		};
		self = true;
	}
	if (!self) {
		log_error("ensemble: myid %u is not in the configuration (version %" PRIx64 ")",
			  e->myid, e->members.version);
		return -EINVAL;
	}
	*pc = (struct peer_config){
	    .self_id = e->myid,
	    .ensemble = r->cfg->reconfig_enabled ? peer_ensemble_id(NULL, 0, "reconfigEnabled")
						 : peer_ensemble_id(members, n, NULL),
	    .members = members,
	    .n_members = n,
	    .listen_all = r->cfg->quorum_listen_on_all_ips,
	};
	return 0;
}

static int load_entry(void *arg, const struct txlog_entry *te)
{
	struct loaded *ld = arg;
	const uint8_t *p = te->data;
	struct raft_entry *ent;
	uint32_t type, cnt;
	uint8_t *copy;

	if (ens_entry_hdr_decode(p, te->len, &type, &cnt)) {
		log_error("ensemble: log entry %" PRId64 " in %s/%s is not an ensemble entry (a "
			  "standalone server's log?); start the member with an empty dataLogDir",
			  te->index, ld->dir, TXLOG_SUBDIR);
		return -EBADMSG;
	}
	if ((uint64_t)te->index <= ld->base) {
		if ((uint64_t)te->index == ld->base) {
			ld->base_seen = true;
			ld->base_term = te->term;
		}
		return 0;
	}
	if (ld->n == ld->cap) {
		size_t ncap = ld->cap ? ld->cap * 2 : 1024;
		struct raft_entry *n = realloc(ld->ents, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		ld->ents = n;
		ld->cap = ncap;
	}
	copy = malloc(te->len - ENS_ENTRY_HDR + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, p + ENS_ENTRY_HDR, te->len - ENS_ENTRY_HDR);
	ent = &ld->ents[ld->n++];
	*ent = (struct raft_entry){
	    .index = (uint64_t)te->index,
	    .term = te->term,
	    .zxid = (uint64_t)te->zxid,
	    .type = type,
	    .count = cnt,
	    .len = (uint32_t)(te->len - ENS_ENTRY_HDR),
	    .data = copy,
	};
	return 0;
}

static void free_loaded(struct loaded *ld)
{
	for (size_t i = 0; i < ld->n; i++)
		free((void *)ld->ents[i].data);
	free(ld->ents);
	ld->ents = NULL;
	ld->n = ld->cap = 0;
}

/*
 * A snapshot installed from the leader discards the whole log (persist);
 * a crash during that truncation leaves a prefix of the old log, whose
 * entries may belong to another history than the snapshot's.  Such a log
 * is recognised by its entry at the snapshot's base (another term than
 * the snapshot's) or by ending before the base (an own snapshot always
 * covers entries its log holds), and discarded here: the snapshot holds
 * everything up to the base, raft asks its leader for the rest.  A log
 * whose entry at the base was purged but holds entries after it is kept
 * (it is the normal case after an autopurge).  Returns 0 or -errno.
 */
static int discard_stale(struct repl *r, struct loaded *ld)
{
	const struct raft_snap_meta *m = r->ens_meta;
	int64_t last;
	uint64_t lt;
	int rc;

	txlog_last(r->log, &last, &lt);
	if (!m || last <= 0)
		return 0;
	if (ld->base_seen ? ld->base_term == m->term : (uint64_t)last >= m->index)
		return 0;
	log_warn("ensemble: the log (last index %" PRId64 " term %" PRIu64
		 ") is not the snapshot's history (index %" PRIu64 " term %" PRIu64
		 "%s): an interrupted snapshot install; discarding it",
		 last, lt, m->index, m->term,
		 ld->base_seen ? ", another term at that index" : ", the log ends before it");
	free_loaded(ld);
	rc = txlog_truncate_suffix(r->log, 1);
	if (rc)
		log_error("ensemble: cannot discard the log: %s", strerror(-rc));
	return rc;
}

int ens_open(struct repl *r, uint32_t myid)
{
	const struct cfg *c = r->cfg;
	struct peer_member members[PEER_MAX_MEMBERS];
	struct peer_config pc;
	struct peer_callbacks cb = {.on_frame = on_frame, .on_event = on_event, .arg = r};
	struct raft_config rc_cfg = {0};
	struct raft_hard_state rhs;
	struct raft_status rst;
	struct hardstate hs;
	struct loaded ld = {.dir = c->data_log_dir};
	size_t nld;
	struct ens *e;
	uint64_t seed;
	int32_t sync_limit;
	int rc;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	r->ens = e;
	e->myid = myid;
	e->prop_last = e->prop_min = e->prop_max = -1;
	for (int i = 0; i < 256; i++)
		e->link_zxid[i] = -1;
	e->rfd = -1;
	e->dents = calloc(DECODE_ENTRIES, sizeof(*e->dents));
	if (!e->dents)
		return -ENOMEM;
	rc = hardstate_open(c->data_dir, &e->hsf, &hs);
	if (rc)
		return rc;
	e->base_file = e->prev_file = -1;
	snap_recv_init(&e->srecv);
	if (r->ens_meta) {
		e->prev_meta = e->base_meta = *r->ens_meta;
		e->prev_file = e->base_file = r->ens_snap_file;
		e->applied_index = r->ens_meta->index;
		e->applied_term = r->ens_meta->term;
		e->skip_zxid = tree_last_zxid(r->tree);
	}
	ld.base = e->applied_index;
	rc = txlog_replay_entries(r->log, e->applied_index ? (int64_t)e->applied_index - 1 : 0,
				  load_entry, &ld);
	if (!rc)
		rc = discard_stale(r, &ld);
	if (rc) {
		free_loaded(&ld);
		return rc;
	}

	rc_cfg.id = myid;
	for (size_t i = 0; i < c->n_servers && i < RAFT_MAX_MEMBERS; i++) {
		rc_cfg.conf.m[rc_cfg.conf.n++] = (struct raft_member){
		    .id = (uint32_t)c->servers[i].id,
		    .voter = c->servers[i].type != CFG_OBSERVER,
		};
		if (c->servers[i].id == myid && c->servers[i].type == CFG_OBSERVER)
			e->observer = true;
	}
	/* raft.h: one tick = tickTime / 2, heartbeat 1 tick, election 2 * syncLimit. */
	sync_limit = c->sync_limit > 0 ? c->sync_limit : 5;
	e->tick_ms = r->tick / 2 > 0 ? r->tick / 2 : 1;
	e->ro_enabled = c->read_only_mode;
	e->ro_grace_ms = r->tick > 2000 ? r->tick : 2000;
	rc_cfg.heartbeat_ticks = 1;
	rc_cfg.election_ticks = 2 * (uint32_t)sync_limit;
	if (rc_cfg.election_ticks < 4)
		rc_cfg.election_ticks = 4;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = clock_mono_ns() ^ myid;
	rc_cfg.seed = seed;
	rc_cfg.max_inflight_msgs = 64;
	rc_cfg.max_inflight_bytes = 32u << 20;
	rc_cfg.max_msg_bytes = 4u << 20;
	rc_cfg.max_msg_entries = MAX_MSG_ENTRIES;
	if (hs.term == 0 && hs.voted_for == 0) {
		/*
		 * No hardstate file, yet a snapshot or log of some term: a
		 * member restored from a backup (docs/OPERATIONS.md: the
		 * snapshot, its meta and the log files, not the hardstate,
		 * which holds this member's own vote).  A term is durable
		 * before any entry of it is appended, so this is the only way
		 * to get here.  Start in the newest term the data holds, with
		 * no vote cast: the vote of a member that voted in it is lost,
		 * as with an empty disk, which is why the procedure restores
		 * the whole ensemble while every member is stopped.  ZooKeeper
		 * does the same (QuorumPeer.loadDataBase: currentEpoch and
		 * acceptedEpoch missing are created from the last zxid's epoch).
		 */
		uint64_t t = r->ens_meta ? r->ens_meta->term : 0;

		if (ld.n && ld.ents[ld.n - 1].term > t)
			t = ld.ents[ld.n - 1].term;
		if (t) {
			hs.term = t;
			rc = hardstate_save(e->hsf, &hs);
			if (rc) {
				free_loaded(&ld);
				return rc;
			}
			log_warn("ensemble: no %s in %s but a snapshot or log of term %" PRIu64
				 " (a restored backup?): starting in that term with no vote cast",
				 HARDSTATE_FILE, c->data_dir, t);
		}
	}
	rhs = (struct raft_hard_state){.term = hs.term, .vote = (uint32_t)hs.voted_for};
	nld = ld.n;
	rc = raft_new(&rc_cfg, &rhs, r->ens_meta, ld.ents, ld.n, &e->raft);
	free_loaded(&ld);
	if (rc) {
		log_error("ensemble: the consensus core refused the recovered state (%zu log "
			  "entries, term %" PRIu64 "): %s",
			  nld, hs.term, strerror(-rc));
		return rc;
	}
	raft_get_status(e->raft, &rst);
	e->live_zxid = rst.last_zxid;

	rc = members_open(r);
	if (rc) {
		log_error("ensemble: cannot set /zookeeper/config: %s", strerror(-rc));
		return rc;
	}
	rc = peer_config_from_members(r, members, &pc);
	if (rc)
		return rc;
	pc.seed = seed ^ 0x9e3779b97f4a7c15ull;
	pc.max_frame = PEER_MAX_FRAME;
	pc.queue_max_bytes = PEER_QUEUE_BYTES;
	/*
	 * Frames, not bytes, bound a queue of small ones: a leader that
	 * stops serving refuses up to FWD_LEADER_MAX forwards of a member
	 * at once (stop_serving), and a follower at its bound has
	 * ENS_FWD_MAX forwards out; a refusal dropped for room (-ENOBUFS)
	 * would leave its request waiting LQ_TIMEOUT_TICKS.
	 */
	pc.queue_max_frames = FWD_LEADER_MAX + PEER_DEFAULT_QUEUE_FRAMES;
	pc.sasl = peer_sasl_get(); /* quorum.auth.*: NULL unless enableSasl (cheetah.c) */
	pc.tls = r->cfg->ssl_quorum ? &r->cfg->quorum_tls : NULL; /* sslQuorum */
	rc = peer_new(&pc, &cb, &e->peer);
	if (rc) {
		log_error("ensemble: cannot start the peer transport: %s", strerror(-rc));
		return rc;
	}
	e->next_tick = r->now + e->tick_ms;
	e->peer_next = 0;
	e->silence_ms = (int64_t)rc_cfg.election_ticks * e->tick_ms;
	log_info("ensemble: server %u of %zu (%s), term %" PRIu64 ", snapshot at index %" PRIu64
		 ", %zu log entries after it, tick %" PRId64 " ms, election after %u ticks",
		 myid, c->n_servers, e->observer ? "observer" : "voter", hs.term, e->applied_index,
		 nld, e->tick_ms, rc_cfg.election_ticks);
	return 0;
}

void ens_close(struct repl *r)
{
	struct ens *e = r->ens;

	if (!e)
		return;
	peer_destroy(e->peer);
	raft_free(e->raft);
	ens_members_free(&e->members);
	hardstate_close(e->hsf);
	while (e->held_head) {
		struct held *h = e->held_head;

		e->held_head = h->next;
		free(h);
	}
	free(e->ps);
	free(e->pq);
	free(e->hc);
	for (uint32_t i = 0; i < e->lq_len; i++) {
		struct lent *l = lq_at(e, i);

		while (l->reads) {
			struct rd *d = l->reads;

			l->reads = d->next;
			rd_put(r, d);
		}
	}
	free(e->lq);
	free(e->touch);
	free(e->ro_ids);
	for (uint32_t id = 0; id < 256; id++) {
		if (e->sout[id] && e->sout[id]->fd >= 0)
			close(e->sout[id]->fd);
		free(e->sout[id]);
	}
	if (e->rfd >= 0)
		close(e->rfd); /* its .recv file is deleted at the next start */
	if (e->inst) {
		if (e->installing)
			install_join(e);
		if (e->inst->t) {
			bool online = urcu_qsbr_read_ongoing();

			if (online)
				urcu_qsbr_thread_offline();
			tree_free(e->inst->t); /* loaded, never installed */
			if (online)
				urcu_qsbr_thread_online();
		}
		free(e->inst);
	}
	install_forget(e);
	free(e->ients);
	free(e->iunits);
	free(e->dents);
	free(e->pbuf);
	free(e);
	r->ens = NULL;
}
