/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's figures as C structs, for the AdminServer (adminserver/),
 * which turns them into ZooKeeper's JSON, and for any other reader that
 * wants data rather than four-letter-word text.  Implemented by
 * dataplane/admin/info.c (gathering) on top of the protocol layer
 * (session/info.c: one connection's figures) and the broadcast core
 * (repl.h).
 *
 * How the per-connection listings stay off the workers' backs: a
 * connection, its session's wire state and its counters belong to one
 * worker, so each worker copies its own, through the admin mailbox the
 * four-letter words use (admin_priv.h), DP_INFO_CHUNK connections per
 * request: between two turns of its loop a worker copies at most that
 * many fixed-size structs and goes back to its clients; the caller asks
 * for the next chunk only once the previous one is in.  20,000
 * connections on one worker are 79 requests, each a few microseconds of
 * the worker's time.  No worker ever waits for the caller.
 *
 * Threads: every function here is for a thread that is neither a
 * dataplane worker nor the broadcast core (the AdminServer's), registered
 * as an RCU (QSBR) reader and offline (it goes online only while it reads
 * the tree), between dp_run and dp_stop.  None takes a lock a worker or
 * the core waits on; those that ask the workers wait at most
 * DP_INFO_WAIT_MS per answer (-ETIMEDOUT).
 */
#ifndef CHEETAH_DATAPLANE_DP_INFO_H
#define CHEETAH_DATAPLANE_DP_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp;
struct tree;
struct repl_sessions;
struct repl_learner_info;

/*
 * mntr's map (MonitorCommand, ZooKeeperServer.dumpMonitorValues) as typed
 * fields, in mntr's order: one list from which both mntr's text and the
 * AdminServer's monitor JSON are made.  key is ZooKeeper's key without
 * "zk_" when zk is set (mntr prints "zk_<key>"), else Cheetah's whole key
 * (cheetah_stage_*, cheetah_net_*); key and s are valid during the call only.
 */
enum dp_mntr_type {
	DP_MNTR_INT,  /* i */
	DP_MNTR_UINT, /* u */
	DP_MNTR_REAL, /* d: a Java double (mntr prints it as Double.toString) */
	DP_MNTR_STR,  /* s */
};
struct dp_mntr_field {
	const char *key;
	bool zk;
	enum dp_mntr_type type;
	int64_t i;
	uint64_t u;
	double d;
	const char *s;
};
typedef void (*dp_mntr_fn)(void *arg, const struct dp_mntr_field *f);

/*
 * Calls fn for each of mntr's fields (above), as the mntr word answers
 * them; srst resets what mntr resets.  Returns 0, or -EAGAIN while the
 * server is not serving (looking), as mntr's CommandBase.
 */
int dp_info_monitor(struct dp *dp, dp_mntr_fn fn, void *arg);

/* Connections a worker copies per request. */
#define DP_INFO_CHUNK 256u
/* The longest a caller waits for one answer of a worker or the core. */
#define DP_INFO_WAIT_MS 5000
/* The most connections dp_info_connections lists. */
#define DP_INFO_MAX_CONNS (1u << 20)

/*
 * One client connection (ZooKeeper's ServerCnxn.getConnectionInfo).  The
 * fields after packets_sent mean something once the session is open
 * (has_session); before that they hold ZooKeeper's initial values.
 */
struct dp_conn_info {
	char peer[64];	       /* "host:port" (getRemoteSocketAddress) */
	uint32_t interest_ops; /* NIO's: 1 (OP_READ) once the connect is read, else 0 */
	uint32_t outstanding;  /* requests queued or in flight */
	uint64_t packets_received;
	uint64_t packets_sent;
	bool has_session;
	int64_t session;	/* 0 before the session is open */
	char last_op[8];	/* "NA" before any request */
	int64_t established_ms; /* wall clock */
	int32_t timeout;	/* negotiated, ms */
	int64_t last_cxid;	/* -1: none */
	int64_t last_zxid;
	int64_t last_resp_ms;			     /* monotonic ms (Time.currentElapsedTime) */
	int64_t last_lat, min_lat, avg_lat, max_lat; /* ms */
};

/*
 * Every worker's connections, worker 0's first, each worker's in its slot
 * order (a connection opened or closed meanwhile may be missing or
 * listed), at most DP_INFO_MAX_CONNS.  Returns 0 with *out (malloc'd,
 * the caller frees; NULL when *n is 0) and *n, -ENOMEM or -ETIMEDOUT.
 */
int dp_info_connections(struct dp *dp, struct dp_conn_info **out, size_t *n);

/*
 * The core's session tracker (ZooKeeper's getSessionExpiryMap; struct
 * repl_sessions in repl.h), asked through worker 0's ring as the dump
 * word does.  Returns 0 with *out (malloc'd, the caller frees), -ENOMEM,
 * -ETIMEDOUT, or -EAGAIN when the server is not serving.
 */
int dp_info_sessions(struct dp *dp, struct repl_sessions **out);

/*
 * DataTree.getEphemerals: fn(arg, session, path, len) for every path of
 * every session that has held an ephemeral since it was opened or the
 * tree loaded (a session whose ephemerals are all gone is given once with
 * path NULL), sessions by id, paths in creation order.  Read from the
 * tree lock-free on the calling thread, which passes a quiescent state
 * after each session; path lives until fn returns.  fn returns non-zero
 * to stop (returned).  Returns 0, -ENOMEM, or fn's value.
 */
int dp_info_ephemerals(struct dp *dp,
		       int (*fn)(void *arg, int64_t session, const char *path, size_t len),
		       void *arg);

/* The newest snapshot (repl_last_snapshot): 0, -ENOENT (none) or -errno. */
int dp_info_last_snapshot(struct dp *dp, int64_t *zxid, int64_t *mtime_s);

/*
 * ZooKeeper's digest history (tree_digest_log): at most max (zxid,
 * digest) pairs into zxids[] and digests[], oldest first; returns how
 * many.
 */
size_t dp_info_digests(struct dp *dp, int64_t *zxids, uint64_t *digests, size_t max);

/* The trace mask (gtmk/stmk's), and setting it as stmk does. */
int64_t dp_info_trace_mask(struct dp *dp);
void dp_info_set_trace_mask(struct dp *dp, int64_t mask);

/* ObserverCnxnStatResetCommand (repl_reset_observer_stats). */
void dp_info_reset_observers(struct dp *dp);

/* The leader's synced observers' link figures (repl_observers). */
uint32_t dp_info_observers(struct dp *dp, struct repl_learner_info *out, uint32_t max);

/*
 * The AdminServer's authentication and authorization (ZooKeeper 3.9's
 * Commands.handleAuthentication + handleAuthorization): the
 * Authorization header "scheme[ auth]" (NULL: missing) of a request from
 * peer_ip is turned into identities by the scheme's provider ("digest
 * user:password" -> digest:user:base64(sha1), superDigest -> super;
 * "ip" -> ip:peer_ip; "x509" needs a client certificate, which this
 * plain-HTTP AdminServer never has), then each bit of perm is checked
 * against the ACL of path.  Returns 0, -ENOKEY (no header), -EACCES (not
 * authenticated: unknown scheme, malformed, no identity), -EPERM (not
 * authorized by the ACL), -ENOENT (no such node).
 */
int dp_info_authorize(struct dp *dp, const char *header, const char *peer_ip, int32_t perm,
		      const char *path);

/*
 * The snapshot command: writes a snapshot of the tree being served, in
 * Cheetah's snapshot file format (tree/snapshot.c), to fd, walking it on
 * the calling thread (a fuzzy walk, as ZooKeeper's takeSnapshot; tries
 * up to 3 walks for one during which nothing was applied).  Returns 0
 * with *zxid (the snapshot's zxid: every txn up to it is in it) and
 * *consistent (no txn applied during the walk), or -errno.
 */
int dp_info_snapshot(struct dp *dp, int fd, int64_t *zxid, bool *consistent);

/*
 * The restore command: loads the snapshot in fd (the snapshot command's
 * format; every length, checksum and reference checked: anything wrong is
 * -EBADMSG, logged with its offset, and nothing changes), then replaces
 * the tree (repl_restore: standalone only).  Returns 0 with *zxid,
 * -EBADMSG, -EOPNOTSUPP (an ensemble member), -EBUSY, or -errno.
 */
int dp_info_restore(struct dp *dp, int fd, int64_t *zxid);

/* True on an ensemble member (the restore command is refused there). */
bool dp_info_ensemble(struct dp *dp);

#endif
