/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numeric constants of the Apache ZooKeeper client protocol.
 *
 * Every value here is fixed by the wire protocol and must match
 * ZooDefs.java (OpCode, Perms), KeeperException.java (Code),
 * CreateMode.java, Watcher.java (EventType, KeeperState, WatcherType),
 * AddWatchMode.java and ClientCnxn.java (special xids).  They carry a ZK_
 * prefix so they never clash with the C client's zookeeper.h in tests.
 *
 * ZooKeeper error codes are their own type (enum zk_err) and are never
 * mixed with negative errno values.
 */
#ifndef CHEETAH_COMMON_ZKDEFS_H
#define CHEETAH_COMMON_ZKDEFS_H

#include <stdint.h>

/* OpCode (ZooDefs.OpCode). */
enum zk_op {
	ZK_OP_NOTIFICATION = 0,
	ZK_OP_CREATE = 1,
	ZK_OP_DELETE = 2,
	ZK_OP_EXISTS = 3,
	ZK_OP_GETDATA = 4,
	ZK_OP_SETDATA = 5,
	ZK_OP_GETACL = 6,
	ZK_OP_SETACL = 7,
	ZK_OP_GETCHILDREN = 8,
	ZK_OP_SYNC = 9,
	ZK_OP_PING = 11,
	ZK_OP_GETCHILDREN2 = 12,
	ZK_OP_CHECK = 13,
	ZK_OP_MULTI = 14,
	ZK_OP_CREATE2 = 15,
	ZK_OP_RECONFIG = 16,
	ZK_OP_CHECKWATCHES = 17,
	ZK_OP_REMOVEWATCHES = 18,
	ZK_OP_CREATECONTAINER = 19,
	ZK_OP_DELETECONTAINER = 20,
	ZK_OP_CREATETTL = 21,
	ZK_OP_MULTIREAD = 22,
	ZK_OP_AUTH = 100,
	ZK_OP_SETWATCHES = 101,
	ZK_OP_SASL = 102,
	ZK_OP_GETEPHEMERALS = 103,
	ZK_OP_GETALLCHILDRENNUMBER = 104,
	ZK_OP_SETWATCHES2 = 105,
	ZK_OP_ADDWATCH = 106,
	ZK_OP_WHOAMI = 107,
	ZK_OP_CREATESESSION = -10,
	ZK_OP_CLOSESESSION = -11,
	ZK_OP_ERROR = -1,
};

/* KeeperException.Code. */
enum zk_err {
	ZK_OK = 0,
	ZK_SYSTEMERROR = -1,
	ZK_RUNTIMEINCONSISTENCY = -2,
	ZK_DATAINCONSISTENCY = -3,
	ZK_CONNECTIONLOSS = -4,
	ZK_MARSHALLINGERROR = -5,
	ZK_UNIMPLEMENTED = -6,
	ZK_OPERATIONTIMEOUT = -7,
	ZK_BADARGUMENTS = -8,
	ZK_UNKNOWNSESSION = -12,
	ZK_NEWCONFIGNOQUORUM = -13,
	ZK_RECONFIGINPROGRESS = -14,
	ZK_APIERROR = -100,
	ZK_NONODE = -101,
	ZK_NOAUTH = -102,
	ZK_BADVERSION = -103,
	ZK_NOCHILDRENFOREPHEMERALS = -108,
	ZK_NODEEXISTS = -110,
	ZK_NOTEMPTY = -111,
	ZK_SESSIONEXPIRED = -112,
	ZK_INVALIDCALLBACK = -113,
	ZK_INVALIDACL = -114,
	ZK_AUTHFAILED = -115,
	ZK_SESSIONMOVED = -118,
	ZK_NOTREADONLY = -119,
	ZK_EPHEMERALONLOCALSESSION = -120,
	ZK_NOWATCHER = -121,
	ZK_REQUESTTIMEOUT = -122,
	ZK_RECONFIGDISABLED = -123,
	ZK_SESSIONCLOSEDREQUIRESASLAUTH = -124,
	ZK_QUOTAEXCEEDED = -125,
	ZK_THROTTLEDOP = -127,
};

/* ZooDefs.Perms. */
enum {
	ZK_PERM_READ = 1 << 0,
	ZK_PERM_WRITE = 1 << 1,
	ZK_PERM_CREATE = 1 << 2,
	ZK_PERM_DELETE = 1 << 3,
	ZK_PERM_ADMIN = 1 << 4,
	ZK_PERM_ALL = 0x1f,
};

/* CreateMode flags as sent in CreateRequest.flags. */
enum zk_create_mode {
	ZK_CREATE_PERSISTENT = 0,
	ZK_CREATE_EPHEMERAL = 1,
	ZK_CREATE_PERSISTENT_SEQUENTIAL = 2,
	ZK_CREATE_EPHEMERAL_SEQUENTIAL = 3,
	ZK_CREATE_CONTAINER = 4,
	ZK_CREATE_PERSISTENT_WITH_TTL = 5,
	ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL = 6,
};

/* Watcher.Event.EventType. */
enum zk_event_type {
	ZK_EVENT_NONE = -1,
	ZK_EVENT_NODE_CREATED = 1,
	ZK_EVENT_NODE_DELETED = 2,
	ZK_EVENT_NODE_DATA_CHANGED = 3,
	ZK_EVENT_NODE_CHILDREN_CHANGED = 4,
	ZK_EVENT_DATA_WATCH_REMOVED = 5,
	ZK_EVENT_CHILD_WATCH_REMOVED = 6,
	ZK_EVENT_PERSISTENT_WATCH_REMOVED = 7,
};

/* Watcher.Event.KeeperState. */
enum zk_keeper_state {
	ZK_STATE_DISCONNECTED = 0,
	ZK_STATE_SYNC_CONNECTED = 3,
	ZK_STATE_AUTH_FAILED = 4,
	ZK_STATE_CONNECTED_READ_ONLY = 5,
	ZK_STATE_SASL_AUTHENTICATED = 6,
	ZK_STATE_CLOSED = 7,
	ZK_STATE_EXPIRED = -112,
};

/* Watcher.WatcherType, used by checkWatches/removeWatches. */
enum zk_watcher_type {
	ZK_WATCHER_CHILDREN = 1,
	ZK_WATCHER_DATA = 2,
	ZK_WATCHER_ANY = 3,
};

/* AddWatchMode. */
enum zk_add_watch_mode {
	ZK_ADD_WATCH_PERSISTENT = 0,
	ZK_ADD_WATCH_PERSISTENT_RECURSIVE = 1,
};

/* Reserved xids (ClientCnxn). */
enum {
	ZK_XID_NOTIFICATION = -1,
	ZK_XID_PING = -2,
	ZK_XID_AUTH = -4,
	ZK_XID_SET_WATCHES = -8,
};

/* org.apache.zookeeper.data.Stat, field for field (wire order). */
struct zk_stat {
	int64_t czxid;
	int64_t mzxid;
	int64_t ctime;
	int64_t mtime;
	int32_t version;
	int32_t cversion;
	int32_t aversion;
	int64_t ephemeral_owner;
	int32_t data_length;
	int32_t num_children;
	int64_t pzxid;
};

/* Default jute.maxbuffer: 0xfffff (1 MiB - 1), as ZooKeeper's BinaryInputArchive. */
#define ZK_DEFAULT_MAX_BUFFER 0xfffff

#endif
