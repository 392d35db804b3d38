/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The znode store.
 *
 * Concurrency contract (liburcu QSBR):
 *  - Exactly one thread, the writer (the broadcast core), mutates a tree,
 *    and only through tree_apply() and the tree_prep_*() functions.
 *  - Any number of reader threads read it without locks.  Every thread
 *    that touches a tree, the writer included, is registered with
 *    urcu_qsbr_register_thread() and online.  A pointer or view obtained
 *    from a read function stays valid until the calling thread's next
 *    urcu_qsbr_quiescent_state() (or going offline); copy what must
 *    outlive that.
 *  - Readers never block the writer and the writer never blocks readers:
 *    replaced and deleted nodes, data and ACLs are freed after a grace
 *    period (batched behind call_rcu), never in place.
 *  - Reads of one node's Stat, data and children are mutually consistent
 *    (a per-node sequence counter; readers retry, the writer never waits).
 *
 * Semantics follow Apache ZooKeeper's DataTree (Stat fields, sequential
 * names, ephemeral/container/TTL owners, watch events, digest).
 */
#ifndef CHEETAH_TREE_TREE_H
#define CHEETAH_TREE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jute.h"
#include "common/zkdefs.h"

struct tree;
struct tree_node;

/* ephemeralOwner encodings of EphemeralType (extended types). */
#define TREE_OWNER_CONTAINER ((int64_t)INT64_MIN)
#define TREE_OWNER_TTL_MASK ((int64_t)0xff00000000000000ULL)
#define TREE_OWNER_EXTENDED_MASK ((int64_t)0xff00000000000000ULL)
#define TREE_TTL_MAX ((int64_t)0x000000ffffffffffLL)

/* True when ephemeralOwner marks a TTL node (TTL in the low bits). */
static inline bool tree_owner_is_ttl(int64_t owner)
{
	return owner != TREE_OWNER_CONTAINER &&
	       (owner & TREE_OWNER_EXTENDED_MASK) == TREE_OWNER_TTL_MASK;
}

static inline int64_t tree_owner_ttl(int64_t ttl)
{
	return TREE_OWNER_TTL_MASK | ttl;
}

struct nsstat_tab;

struct tree_opts {
	uint32_t max_data;       /* jute.maxbuffer: largest znode data */
	bool extended_types;     /* extendedTypesEnabled: TTL nodes allowed */
	/*
	 * write_per_namespace (common/nsstat.h), the writer's table, or NULL:
	 * where DataTree.updateWriteStat counts, every create (path + data),
	 * delete (path, a closing session's ephemerals too) and setData (path
	 * + data) applied, multi ops one by one, and tree_set_config's
	 * setData of /zookeeper/config; never snapshot loads or imports.
	 */
	struct nsstat_tab *ns_writes;
};

/*
 * Creates a tree holding "/", "/zookeeper", "/zookeeper/quota" and
 * "/zookeeper/config" as a fresh ZooKeeper DataTree does.  Returns NULL on
 * allocation failure.  Call from a registered RCU thread.
 */
struct tree *tree_new(const struct tree_opts *opts);

/*
 * Writer only: sets the data of /zookeeper/config outside any txn, as
 * ZooKeeper's ZKDatabase.initConfigInZKDatabase() does when a quorum peer
 * starts (version -1, mzxid = the configuration's version, mtime = the
 * caller's wall clock).  No watch fires (nobody can be watching yet).
 * Returns 0, -EINVAL (len above INT32_MAX) or -ENOMEM (unchanged).
 */
int tree_set_config(struct tree *t, const void *data, size_t len, int64_t mzxid, int64_t mtime);

/*
 * Frees the tree and everything in it.  No reader may use it any more; the
 * call waits for a grace period (rcu_barrier) so pending frees finish.
 * Call from a registered thread that is offline or the only user.
 */
void tree_free(struct tree *t);

/* Writer: counts its writes in tab from now on (tree_opts.ns_writes; NULL: not). */
void tree_set_ns_writes(struct tree *t, struct nsstat_tab *tab);

/* Writer: hands deferred frees collected so far to call_rcu now. */
void tree_reclaim_flush(struct tree *t);

/* ---- Reads (any registered, online thread; lock-free) ---- */

/* Number of znodes, including "/" and the system nodes. */
uint64_t tree_node_count(const struct tree *t);

/* Looks a node up by its full path; NULL when absent. */
const struct tree_node *tree_lookup(struct tree *t, const char *path, size_t len);

/* The node's full path and its last component ("" for "/"). */
struct jute_buf tree_node_path(const struct tree_node *n);
struct jute_buf tree_node_name(const struct tree_node *n);

/*
 * Copies the node's Stat and returns a view of its data (len -1 when the
 * node was created with null data), both from the same version.  Either
 * output may be NULL.
 */
void tree_node_read(const struct tree_node *n, struct zk_stat *st, struct jute_buf *data);

/* The node's ACL list in jute encoding, consistent with *st when given. */
void tree_node_acl(struct tree *t, const struct tree_node *n, struct zk_stat *st,
		   struct jute_acl_list *acl);

/*
 * The read of getData, exists and getChildren in one snapshot: copies the
 * node's Stat into *st, a view of its data into *data (may be NULL), and
 * returns ZooKeeper's checkACL of perm for auth on the node's ACL, all of
 * one version of the node: exactly what tree_acl_check(ACL, perm, auth)
 * returns (ZK_OK or ZK_NOAUTH).  An ACL whose world:anyone entries grant
 * perm (a mask computed once, when the ACL was interned) is answered
 * ZK_OK without looking at auth or at the list.  Any registered, online
 * thread; the views live until the next quiescent state.
 */
struct tree_auth;
enum zk_err tree_node_read_check(struct tree *t, const struct tree_node *n, int32_t perm,
				 const struct tree_auth *auth, struct zk_stat *st,
				 struct jute_buf *data);

/*
 * Children names of a node, consistent with the Stat copied into *st (if
 * not NULL).  names[] holds views into the children; the vector is the
 * caller's and is reused across calls (tree_children_release frees it).
 * retries: how many times the last call read the list again because the
 * writer changed the node meanwhile (at most TREE_CHILDREN_RETRIES: then
 * the read takes the node's writer lock for one more walk and the
 * writer waits for it: node_wlock in tree.c says why).  Any registered,
 * online thread (the writer's own reads never retry), with n a node of
 * t, which must stay in its tree until the call returns.  Returns 0 or
 * -ENOMEM.
 */
#define TREE_CHILDREN_RETRIES 4u
struct tree_children {
	struct jute_buf *names;
	uint32_t count;
	uint32_t cap;
	uint32_t retries;
};

int tree_node_children(struct tree *t, const struct tree_node *n, struct tree_children *out,
		       struct zk_stat *st);
void tree_children_release(struct tree_children *c);

/* Number of descendants of a node (getAllChildrenNumber), itself excluded. */
int64_t tree_count_descendants(const struct tree_node *n);

/*
 * The number of ephemeral nodes session owns, O(1) (the dataplane's tick
 * sums it for mntr's zk_ephemerals_count; walking them cost a tick 10-17
 * ms with 300,000 ephemerals).  Any thread, inside an RCU read-side
 * section.
 */
uint32_t tree_session_ephemeral_count(struct tree *t, int64_t session);

/*
 * Calls fn for each ephemeral node owned by session whose path starts with
 * prefix (getEphemerals; prefix "/" or empty matches all).  Stops early
 * when fn returns non-zero and returns that value; else 0.
 */
int tree_session_ephemerals(struct tree *t, int64_t session, const char *prefix, size_t prefix_len,
			    int (*fn)(void *arg, const struct tree_node *n), void *arg);

/* The session's negotiated timeout in ms, or -1 when the tree has no such session. */
int32_t tree_session_timeout(struct tree *t, int64_t session);

/* Calls fn for every open session (snapshot, session tracker start-up). */
void tree_sessions_foreach(struct tree *t, void (*fn)(void *arg, int64_t session, int32_t timeout),
			   void *arg);

/*
 * Calls fn for every session that has owned an ephemeral node since it
 * was opened or the tree was loaded, even if none is left: the keys of
 * ZooKeeper's DataTree.ephemerals (deleting a session's last ephemeral
 * keeps its entry; closeSession removes it), for the dump four-letter
 * word.  Order: the index's.  Any registered, online thread.
 */
void tree_ephemeral_sessions_foreach(struct tree *t, void (*fn)(void *arg, int64_t session),
				     void *arg);

/*
 * Writer: calls fn for each node ContainerManager would delete now: a
 * container with no children that has had some (persisted cversion > 0),
 * or, when max_never_used_ms > 0, that has had none for longer than that
 * since its mtime; a TTL node with no children whose TTL has elapsed since
 * its mtime.  The path view is valid until the next mutation.  Returns the
 * number of candidates.  Deletion itself goes through prep (deleteContainer).
 */
uint32_t tree_expired_nodes(struct tree *t, int64_t now_ms, int64_t max_never_used_ms,
			    void (*fn)(void *arg, struct jute_buf path), void *arg);

/*
 * DataTree.approximateDataSize(): the sum over znodes of path length plus
 * data length (44 for a fresh tree), for mntr.  Maintained by the writer.
 */
int64_t tree_approximate_data_size(const struct tree *t);

/*
 * The zxid of the txn tree_apply is applying, or of the last one applied:
 * stored before any of that txn's effects becomes visible.  A reader that
 * saw an effect of txn X and then samples this (the function orders the
 * load after the reader's earlier loads) gets X or more.  The dataplane
 * uses it for repl.h rule 2; tree_last_zxid is the wrong one there, since
 * it moves only once a txn is wholly applied.
 */
int64_t tree_applying_zxid(const struct tree *t);

/*
 * The zxid of the last setACL applied (0 for none since the tree was
 * made or loaded), stored before the new ACL becomes visible, with the
 * ordering of tree_applying_zxid: a reader that saw an ACL with aversion
 * > 0 and then samples this gets that ACL's txn or a later one.  A Stat
 * has no zxid for an ACL change; the dataplane uses this for what a read
 * of such a node reveals.  Any thread.
 */
int64_t tree_acl_zxid(const struct tree *t);

/* Highest zxid wholly applied so far (a fuzzy snapshot starts from it). */
int64_t tree_last_zxid(const struct tree *t);

/*
 * ZooKeeper 3.6+ tree digest: the sum over all nodes of each node's
 * digest; updated incrementally by every mutation.
 */
uint64_t tree_digest(const struct tree *t);

/*
 * ZooKeeper's digest history (DataTree.getDigestLog, the "hash" command):
 * the tree digest after each applied txn whose zxid is a multiple of
 * TREE_DIGEST_LOG_INTERVAL, the newest TREE_DIGEST_LOG_LIMIT of them, since
 * the tree was made or loaded (ZooKeeper's is in memory only too).
 * tree_digest_log copies at most max of them, oldest first, into out and
 * returns how many; an entry the writer overwrites while it is copied is
 * left out.  Any thread (no RCU section needed: the ring lives as long as
 * the tree).  digest_version is ZooKeeper's DigestCalculator version (2).
 */
#define TREE_DIGEST_LOG_INTERVAL 128
#define TREE_DIGEST_LOG_LIMIT 1024
#define TREE_DIGEST_VERSION 2
struct tree_zxid_digest {
	int64_t zxid;
	uint64_t digest;
};
size_t tree_digest_log(const struct tree *t, struct tree_zxid_digest *out, size_t max);

/* ---- Transactions ---- */

/*
 * One operation of a transaction.  Byte fields are views into the encoded
 * record (or the caller's memory when building one).
 *  create family (CREATE, CREATE2, CREATECONTAINER, CREATETTL):
 *      path (final, sequence suffix included), data, acl, ephemeral_owner
 *      (0, session id, TREE_OWNER_CONTAINER or tree_owner_ttl(ttl)),
 *      parent_cversion (the parent's cversion after this create)
 *  DELETE, DELETECONTAINER: path
 *  SETDATA: path, data, version (the node's version after the change)
 *  SETACL: path, acl, version (the node's aversion after the change)
 *  CHECK: path, version
 *  ERROR: err (a failed request, or one failed member of a multi)
 */
struct tree_op {
	int32_t type;
	int32_t version;
	int32_t parent_cversion;
	int32_t err;
	int64_t ephemeral_owner;
	struct jute_buf path;
	struct jute_buf data;
	struct jute_acl_list acl;
};

/*
 * A transaction: the unit logged, replicated and applied.
 *  type: a single op's type (nops == 1), ZK_OP_MULTI (nops >= 0),
 *        ZK_OP_CREATESESSION (timeout), ZK_OP_CLOSESESSION (ops: DELETEs
 *        of the session's ephemerals), ZK_OP_ERROR (ops[0] is the ERROR).
 */
struct tree_txn {
	int64_t session;
	int32_t cxid;
	int32_t type;
	int64_t zxid;
	int64_t time; /* leader's wall clock, ms */
	int32_t timeout;
	uint32_t nops;
	struct tree_op *ops;
	struct tree_op inline_op; /* storage for the common single-op case */
};

#define TREE_TXN_FORMAT 1

/*
 * Encodes a transaction (format TREE_TXN_FORMAT, jute primitives, stable
 * across releases).  Errors are left in out->err.
 */
void tree_txn_encode(const struct tree_txn *txn, struct jute_out *out);

/*
 * Decodes a record produced by tree_txn_encode.  Views point into buf,
 * which must outlive txn.  Every length is checked against the record and
 * max_data, and a path against TREE_PATH_MAX (logged).  Returns 0,
 * -EBADMSG (malformed, unknown format or type, a path too long) or
 * -ENOMEM.  Release with tree_txn_release.
 */
int tree_txn_decode(const void *buf, size_t len, uint32_t max_data, struct tree_txn *txn);

/*
 * The time (the leader's wall clock, ms) of a record tree_txn_encode
 * produced, without decoding the rest: for latencies on a hot path.
 * Returns 0, or -EBADMSG (too short, an unknown format).  Any thread.
 */
int tree_txn_time(const void *buf, size_t len, int64_t *time);
void tree_txn_release(struct tree_txn *txn);

/*
 * A watch trigger produced by applying a transaction.  For NodeDeleted,
 * acl is the deleted node's ACL (watchers need READ on it, ZooKeeper
 * 3.9.2, and the tree no longer has the node); other events carry none
 * (raw_len 0).  Views live as long as the event paths.
 */
struct tree_event {
	int32_t type; /* ZK_EVENT_NODE_* */
	struct jute_buf path; /* view into the applied txn or the deleted node */
	struct jute_acl_list acl;
};

/* The outcome of one op: error and, for creates/setData/setACL, the new Stat. */
struct tree_op_result {
	int32_t err;
	struct zk_stat stat;
};

struct tree_apply_out {
	struct tree_op_result *results; /* one per op; grown by tree_apply */
	uint32_t nresults;
	uint32_t results_cap;
	struct tree_event *events;
	uint32_t nevents;
	uint32_t events_cap;
};

/*
 * Applies a transaction (writer only) and publishes the result to readers.
 * Fills out (reset first) with per-op results and the watch events to fire,
 * in ZooKeeper's order.  Ops were validated by prep, so an op that does not
 * fit the tree only happens on log replay over a fuzzy snapshot; it is
 * skipped and its error reported in results, as ZooKeeper does.
 * Returns 0 or -ENOMEM (tree unchanged by the failing op).
 * It may pass a quiescent state before it changes anything (growing the
 * path index), so views from earlier reads or applies must not be held
 * across it; the event paths it returns live until the writer's next
 * quiescent state.
 */
int tree_apply(struct tree *t, const struct tree_txn *txn, struct tree_apply_out *out);
void tree_apply_out_release(struct tree_apply_out *out);

/* ---- Paths ---- */

/* The longest path the store holds (tree_validate_path refuses longer). */
#define TREE_PATH_MAX ((1u << 29) - 1)

/*
 * ZooKeeper's PathUtils.validatePath on UTF-8 input: returns ZK_OK or
 * ZK_BADARGUMENTS (also for a path longer than TREE_PATH_MAX, which
 * ZooKeeper has no bound for but no jute.maxbuffer in use reaches).
 * sequential: the path will get a sequence suffix (so a trailing '/' is
 * allowed).
 */
enum zk_err tree_validate_path(const char *path, size_t len, bool sequential);

/* ---- Access control (read side too: the dataplane checks reads) ---- */

/* One authenticated identity of a session, e.g. digest:"bob:hash", ip:"127.0.0.1". */
struct tree_auth_id {
	struct jute_buf scheme;
	struct jute_buf id;
};

/*
 * The most identities one session may hold.  ZooKeeper has no bound; a
 * session with thousands of identities is abuse (every write carries them
 * to the core, every "auth" ACL expands to all of them), so the dataplane
 * answers the addAuth that would exceed it AUTHFAILED (docs/OPERATIONS.md).
 * tree_acl_check indexes up to this many ids per check.
 */
#define TREE_AUTH_MAX_IDS 64

/*
 * What a session has proven (ServerCnxn.authInfo); super skips ACL checks.
 * slots, when not NULL, indexes ids by (scheme, id) for tree_acl_check:
 * an open-addressing table of nslots bytes (a power of two, at most half
 * full), each 0 (empty) or the index + 1 of an id; an id sits at the
 * first empty-or-its-own slot from tree_auth_hash(scheme, id) & (nslots -
 * 1) on, stepping by one.  Without it a check indexes the ids itself when
 * there are more than a few (hashing them all).
 */
struct tree_auth {
	const struct tree_auth_id *ids;
	uint32_t n;
	bool super;
	const uint8_t *slots;
	uint32_t nslots;
};

/* The hash struct tree_auth's slots are keyed by.  Any thread. */
uint32_t tree_auth_hash(struct jute_buf scheme, struct jute_buf id);

/*
 * ZooKeeper's checkACL: ZK_OK when some entry of acl grants perm to an id
 * of auth (world:anyone, digest exact match, ip with optional /bits mask,
 * super), else ZK_NOAUTH.  An empty list grants everything.  Cost: one
 * pass over auth's ids comparing schemes, then per digest entry of acl
 * one hash of the entry's id and a probe of auth->slots (or of an index
 * built on the stack, hashing every id, when there is none and more than
 * a few ids), per ip entry a look at each non-digest id (a session has
 * one); so O(ids + ACL bytes), never O(ids x entries), for at most
 * TREE_AUTH_MAX_IDS ids.
 */
enum zk_err tree_acl_check(const struct jute_acl_list *acl, int32_t perm, const struct tree_auth *auth);

/*
 * ProviderRegistry's configurable part: whether the sasl scheme has its
 * provider (authProvider.N=...SASLAuthenticationProvider) and
 * zookeeper.letAnySaslUserDoX (an ACL id any sasl id matches; NULL:
 * none; the string must outlive every check).  Without the provider a
 * sasl ACL entry is INVALIDACL in a create/setACL and matches nobody.
 * Call once at start-up before any thread checks an ACL; read-only
 * after.
 */
void tree_acl_set_sasl(bool enabled, const char *let_any_user);

/*
 * Whether the x509 scheme has its provider: ZooKeeper registers
 * X509AuthenticationProvider when TLS is on (configureSSLAuth) or an
 * authProvider.N names it; without it an x509 ACL entry is INVALIDACL in
 * a create/setACL and matches nobody.  Same rules as tree_acl_set_sasl.
 */
void tree_acl_set_x509(bool enabled);

/*
 * The permissions acl grants to world:anyone: the OR of the perms of its
 * world:anyone entries, over the entries tree_acl_check would look at.
 * So for every auth, (tree_acl_world_perms(acl) & perm) != 0 implies
 * tree_acl_check(acl, perm, auth) == ZK_OK.  Any thread.
 */
int32_t tree_acl_world_perms(const struct jute_acl_list *acl);

/* ---- Prep: validation of writes for the pipeline (writer only) ---- */

/* A write request as decoded from the client, fields as views. */
struct tree_req {
	int32_t type;      /* ZK_OP_CREATE..ZK_OP_CREATETTL, DELETE, DELETECONTAINER,
			      SETDATA, SETACL, CHECK */
	int32_t flags;     /* create mode (enum zk_create_mode) */
	int32_t version;   /* expected version; -1 matches any */
	int64_t ttl;       /* createTTL */
	struct jute_buf path;
	struct jute_buf data;
	struct jute_acl_list acl;
};

struct tree_prep;

/*
 * The validation state: the tree plus outstanding changes (requests
 * prepped but not yet applied), so pipelined writes see each other as in
 * ZooKeeper's PrepRequestProcessor.  One per tree, writer only.
 */
struct tree_prep *tree_prep_new(struct tree *t);
void tree_prep_free(struct tree_prep *p);

/*
 * Validates a write (nreqs == 1, multi false) or a multi (any nreqs) of
 * txn_hdr->session with txn_hdr's cxid, zxid and time, and appends the
 * encoded transaction to out: the real one on success; on failure an ERROR
 * txn, or for a multi a MULTI of ERROR ops (the failing op's code, ZK_OK
 * before it, ZK_RUNTIMEINCONSISTENCY after it).  ZooKeeper logs the real
 * sub-txns before the failing op and turns them into ERROR(0) only when
 * applying; clients see the same results either way.  A multi's op types
 * are passed as sent on the wire (create flags decide the create kind, as
 * ZooKeeper's multi decoder does).  Returns the request's ZooKeeper result
 * (for a multi, the first failing op's error).  Other fields of txn_hdr
 * are ignored.  On allocation failure, or nreqs != 1 without multi, it
 * records and appends nothing, sets out->err (-ENOMEM / -EINVAL) and
 * returns ZK_SYSTEMERROR.
 */
enum zk_err tree_prep_write(struct tree_prep *p, const struct tree_txn *txn_hdr,
			    const struct tree_req *reqs, uint32_t nreqs, bool multi,
			    const struct tree_auth *auth, struct jute_out *out);

/* Encodes createSession / closeSession (listing the ephemerals to delete). */
void tree_prep_create_session(struct tree_prep *p, const struct tree_txn *txn_hdr,
			      int32_t timeout, struct jute_out *out);
void tree_prep_close_session(struct tree_prep *p, const struct tree_txn *txn_hdr,
			     struct jute_out *out);

/* Drops outstanding changes made by transactions with zxid <= zxid (applied now). */
void tree_prep_applied(struct tree_prep *p, int64_t zxid);

/* ---- Snapshots ---- */

/*
 * Writes a fuzzy snapshot of t to fd while the writer goes on, as
 * ZooKeeper does: the result, plus replay of the log from *zxid_out + 1,
 * gives a consistent tree.  Call from a registered reader thread that is
 * not the writer.  It stays in the read side for the whole walk, so grace
 * periods (and frees) wait for it.  Returns 0 or a negative errno (I/O).
 */
int tree_snapshot_write(struct tree *t, int fd, int64_t *zxid_out);

/*
 * Loads a snapshot, validating every length and the checksums.  Returns 0
 * and a new tree, -EBADMSG for a malformed or corrupt file (logged with
 * the offset), or another negative errno.  Call from a registered, online
 * thread; it passes quiescent states (and goes offline while it grows the
 * new tree's path index): the caller may hold no RCU-protected pointer
 * across it.  Memory: the tree, plus 24 bytes per znode (at most 4M of
 * them at a time) until it returns.
 */
int tree_snapshot_load(int fd, const struct tree_opts *opts, struct tree **out, int64_t *zxid_out);

/* ---- Import (cheetah import: a tree from another server's files) ---- */

/*
 * Writer of a tree no reader has seen yet (made by tree_new, not
 * published), on a registered, online RCU thread.
 *
 * tree_import_reserve sizes the path index for about nodes znodes (it
 * passes a quiescent state).
 *
 * tree_import_node adds a znode with its persisted Stat exactly as given
 * (czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion,
 * ephemeralOwner; dataLength and numChildren are derived), data (len -1:
 * null) and ACL (a validated list; copied).  The system nodes tree_new
 * made ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config") are
 * replaced in place.  Returns 0, -EINVAL (invalid path, data above
 * max_data, null ACL, or a system node given another kind), -EEXIST (the
 * path is there already), -ENOENT (no parent, or an ephemeral one) or
 * -ENOMEM (tree unchanged).
 *
 * tree_import_session records an open session: 0, -EINVAL (timeout < 0),
 * -EEXIST or -ENOMEM.
 *
 * tree_import_finish raises tree_last_zxid() to zxid (never lowers it):
 * the zxid the imported state stands for, before replay or after it.
 */
void tree_import_reserve(struct tree *t, uint64_t nodes);
int tree_import_node(struct tree *t, struct jute_buf path, const struct zk_stat *st,
		     struct jute_buf data, const struct jute_acl_list *acl);
int tree_import_session(struct tree *t, int64_t id, int32_t timeout);
void tree_import_finish(struct tree *t, int64_t zxid);

/*
 * The node's Stat as ZooKeeper persists it (StatPersisted, for cheetah
 * export): the client-visible Stat except cversion, which counts the
 * creates under the node (DataNode.copyStat derives the visible one as
 * 2 * cversion - numChildren).  Any registered, online thread.
 */
void tree_export_stat(const struct tree_node *n, struct zk_stat *st);

#endif
