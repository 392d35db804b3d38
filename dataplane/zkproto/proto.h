/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ZooKeeper client protocol codec (the records of zookeeper.jute's
 * org.apache.zookeeper.proto module, as ZooKeeper 3.9 clients and servers
 * exchange them), both directions:
 *
 *   server side: decode ConnectRequest and requests, encode
 *                ConnectResponse, replies and watch notifications;
 *   client side: encode ConnectRequest and requests, decode
 *                ConnectResponse, replies and notifications
 *                (cheetah-bench and the tests are clients).
 *
 * Framing.  Every packet is a 4-byte big-endian length, then that many
 * bytes of payload.  The first payload on a connection is a
 * ConnectRequest (client) / ConnectResponse (server), without any header;
 * every later request is RequestHeader + request record, every later
 * reply is ReplyHeader + response record (no record when ReplyHeader.err
 * is not ZK_OK), and a watch notification is a ReplyHeader with xid -1
 * followed by a WatcherEvent.
 *
 * Zero copy.  Decoders take one payload (the bytes after the length
 * prefix) and return views into it: strings, data, ACL lists, string
 * lists and multi operations all point into the caller's buffer and stay
 * valid exactly as long as it does.  Nothing is allocated on the read
 * path; a multi is walked with an iterator or copied into a
 * caller-provided, bounded array.
 *
 * Lists are dual-use.  A decoder fills a list's raw view (the vector's
 * count and elements exactly as on the wire) and leaves items NULL; an
 * encoder writes items[0..count) when items is not NULL, else copies the
 * raw view, so a decoded list re-encodes byte for byte and a server can
 * encode straight from its own array (for example the tree's children).
 *
 * Bounds.  proto_frame_len() bounds a frame by jute.maxbuffer the way
 * ZooKeeper does; inside a payload every length and count is checked
 * against what is left of the payload, so no field can exceed
 * jute.maxbuffer (ZooKeeper's own per-field check, BinaryInputArchive
 * checkLength, allows maxbuffer + extrasize and can never fire first).
 * A length of -1 is a null buffer/string (view len -1, p NULL) and a
 * count of -1 a null vector (count -1), as in BinaryInputArchive; other
 * negative lengths and counts are malformed (ZooKeeper rejects negative
 * string lengths; for vectors it would silently read an empty one, which
 * no client sends, so Cheetah rejects it).
 *
 * Trailing bytes.  ZooKeeper deserializes a record from the start of the
 * payload and never checks that it consumed all of it
 * (ByteBufferInputStream.byteBuffer2Record, ClientCnxn.readResponse), and
 * an old client's ConnectRequest is recognised by the readOnly byte
 * simply being absent.  The decoders therefore accept trailing bytes
 * after a complete record and report how many there were (`trailing`);
 * everything else malformed fails with -EBADMSG.  ustrings are not
 * checked for UTF-8 (Java decodes bad sequences to U+FFFD and goes on);
 * validating paths is the server's job.
 *
 * Errors: functions return 0 or a negative errno; ZooKeeper error codes
 * (enum zk_err) only ever appear in protocol fields (ReplyHeader.err,
 * MultiHeader.err, ErrorResponse.err).
 *
 * Concurrency: no global mutable state, no locks; every function is safe
 * from any thread on distinct objects.  Encoders write into a struct
 * jute_out owned by the caller (growable or fixed); they append, so
 * several frames can be batched in one buffer.
 *
 * References: zookeeper.jute; ClientCnxn, ClientCnxnSocket,
 * ZooKeeperServer (processConnectRequest, finishSessionInit,
 * processPacket), NIOServerCnxn.readLength, FinalRequestProcessor,
 * MultiOperationRecord, MultiResponse, Request.isValid.
 */
#ifndef CHEETAH_DATAPLANE_PROTO_H
#define CHEETAH_DATAPLANE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jute.h"
#include "common/zkdefs.h"

/* Bytes in the frame length prefix, a RequestHeader and a ReplyHeader. */
#define PROTO_LEN_SIZE 4
#define PROTO_REQ_HDR_SIZE 8
#define PROTO_REPLY_HDR_SIZE 16
/* A Stat on the wire. */
#define PROTO_STAT_SIZE 68

/* ------------------------------------------------------------------ */
/* Framing                                                             */
/* ------------------------------------------------------------------ */

/*
 * Reads the length prefix at buf (avail bytes available) and checks it
 * the way ZooKeeper does: the server (NIOServerCnxn/NettyServerCnxn
 * readLength) and the client (ClientCnxnSocket.readLength, packetLen =
 * jute.maxbuffer) both refuse a length < 0 or > jute.maxbuffer and close
 * the connection ("Len error" / "Packet len is out of range").
 * max_frame is that jute.maxbuffer (ZK_DEFAULT_MAX_BUFFER by default).
 *
 * Returns 0 with *len = payload length (the frame is complete once
 * avail >= PROTO_LEN_SIZE + *len); -EAGAIN when fewer than 4 bytes are
 * available (*len untouched); -EMSGSIZE when the length is negative or
 * above max_frame, with *len = the raw 32-bit value for the log line (and
 * so that a server can still recognise a four-letter word, which it must
 * do before calling this on a connection's first bytes).
 */
int proto_frame_len(const void *buf, size_t avail, uint32_t max_frame, uint32_t *len);

/*
 * Building a frame in place: proto_frame_begin() reserves the 4 length
 * bytes at the end of out, the caller appends the payload, and
 * proto_frame_end() patches the length.
 */
struct proto_frame {
	size_t start; /* offset of the length prefix in out->buf */
	int err;      /* out->err at proto_frame_begin */
};

void proto_frame_begin(struct jute_out *out, struct proto_frame *f);
/*
 * Returns 0; out->err when any write since proto_frame_begin failed
 * (-ENOSPC for a full fixed buffer, -ENOMEM, -EINVAL from a proto_put_*);
 * -EMSGSIZE when the payload exceeds INT32_MAX.  On failure out->len and
 * out->err are restored to their values at proto_frame_begin: the buffer
 * holds exactly the frames written before, and the frame can be retried
 * (for instance after draining a full fixed buffer).
 */
int proto_frame_end(struct jute_out *out, const struct proto_frame *f);

/* ------------------------------------------------------------------ */
/* Headers and the connect handshake                                   */
/* ------------------------------------------------------------------ */

/* RequestHeader. */
struct proto_req_hdr {
	int32_t xid;
	int32_t type; /* enum zk_op */
};

/* ReplyHeader. */
struct proto_reply_hdr {
	int32_t xid;
	int64_t zxid;
	int32_t err; /* enum zk_err */
};

/*
 * ConnectRequest followed by the readOnly boolean that 3.4+ clients
 * append.  An older client omits the byte: ZooKeeperServer's
 * processConnectRequest catches the EOF, treats the client as read-write
 * and marks it isOldClient; has_read_only is false then.
 */
struct proto_connect_req {
	int32_t protocol_version;
	int64_t last_zxid_seen;
	int32_t timeout;
	int64_t session_id;
	struct jute_buf passwd;
	bool read_only;
	bool has_read_only;
};

/*
 * ConnectResponse followed by the readOnly boolean.  ZooKeeperServer's
 * finishSessionInit writes the byte only when the client sent one
 * (!isOldClient): answer in kind with has_read_only = the request's
 * has_read_only.  A client reading an old server's response finds no
 * byte (ClientCnxnSocket.readConnectResult catches the EOF).
 */
struct proto_connect_resp {
	int32_t protocol_version;
	int32_t timeout;
	int64_t session_id;
	struct jute_buf passwd;
	bool read_only;
	bool has_read_only;
};

/* ------------------------------------------------------------------ */
/* Lists                                                               */
/* ------------------------------------------------------------------ */

/* vector<ustring> (children, ephemerals, SetWatches paths). */
struct proto_str_list {
	const struct jute_buf *items; /* encoder input; NULL: use raw */
	const uint8_t *raw;           /* decoder output: count + elements */
	uint32_t raw_len;
	int32_t count;                /* -1: null vector */
};

/* org.apache.zookeeper.data.ClientInfo (WhoAmIResponse). */
struct proto_client_info {
	struct jute_buf auth_scheme;
	struct jute_buf user;
};

struct proto_client_info_list {
	const struct proto_client_info *items;
	const uint8_t *raw;
	uint32_t raw_len;
	int32_t count;
};

/*
 * ACL lists are struct jute_acl_list (common/jute.h): always the wire
 * encoding, validated by the decoder.  proto_acl_open_unsafe is
 * ZooDefs.Ids.OPEN_ACL_UNSAFE (world:anyone, all permissions).
 */
extern const struct jute_acl_list proto_acl_open_unsafe;

/* ------------------------------------------------------------------ */
/* Request records                                                     */
/* ------------------------------------------------------------------ */

/* CreateRequest (create, create2, createContainer); CreateTTLRequest (createTTL). */
struct proto_create_req {
	struct jute_buf path;
	struct jute_buf data;
	struct jute_acl_list acl;
	int32_t flags; /* enum zk_create_mode */
	int64_t ttl;   /* createTTL only */
};

/* DeleteRequest (delete) and CheckVersionRequest (check): same layout. */
struct proto_path_version_req {
	struct jute_buf path;
	int32_t version;
};

/* GetDataRequest, ExistsRequest, GetChildrenRequest, GetChildren2Request. */
struct proto_path_watch_req {
	struct jute_buf path;
	bool watch;
};

/* SetDataRequest. */
struct proto_set_data_req {
	struct jute_buf path;
	struct jute_buf data;
	int32_t version;
};

/*
 * GetACLRequest, SyncRequest, GetAllChildrenNumberRequest,
 * GetEphemeralsRequest (prefixPath).  For deleteContainer the path is the
 * raw bytes of the rest of the payload, not a ustring (see
 * proto_decode_request).
 */
struct proto_path_req {
	struct jute_buf path;
};

/* SetACLRequest. */
struct proto_set_acl_req {
	struct jute_buf path;
	struct jute_acl_list acl;
	int32_t version;
};

/* CheckWatchesRequest / RemoveWatchesRequest. */
struct proto_watches_req {
	struct jute_buf path;
	int32_t type; /* enum zk_watcher_type */
};

/* AddWatchRequest. */
struct proto_add_watch_req {
	struct jute_buf path;
	int32_t mode; /* enum zk_add_watch_mode */
};

/* ReconfigRequest. */
struct proto_reconfig_req {
	struct jute_buf joining_servers;
	struct jute_buf leaving_servers;
	struct jute_buf new_members;
	int64_t cur_config_id;
};

/* AuthPacket. */
struct proto_auth_req {
	int32_t type;
	struct jute_buf scheme;
	struct jute_buf auth;
};

/* SetWatches (setWatches) and SetWatches2 (setWatches2: two more lists). */
struct proto_set_watches_req {
	int64_t relative_zxid;
	struct proto_str_list data;
	struct proto_str_list exist;
	struct proto_str_list child;
	struct proto_str_list persistent;           /* setWatches2 only */
	struct proto_str_list persistent_recursive; /* setWatches2 only */
};

/*
 * One operation of a multi/multiRead (MultiOperationRecord): a MultiHeader
 * {type, done=false, err=-1} then the record for type: CreateRequest
 * (create, create2, createContainer), CreateTTLRequest (createTTL),
 * DeleteRequest (delete), SetDataRequest (setData), CheckVersionRequest
 * (check), GetChildrenRequest (getChildren), GetDataRequest (getData).
 */
struct proto_multi_op {
	int32_t type;
	union {
		struct proto_create_req create;             /* create* */
		struct proto_path_version_req path_version; /* delete, check */
		struct proto_set_data_req set_data;         /* setData */
		struct proto_path_watch_req path_watch;     /* getChildren, getData */
	};
};

/*
 * The operations of a multi.  Decoded: raw covers the operations (not the
 * done marker) and count is their number.  Encoding writes items or the
 * raw operations, then the done marker {-1, true, -1}.
 */
struct proto_multi_req {
	const struct proto_multi_op *items;
	const uint8_t *raw;
	uint32_t raw_len;
	int32_t count;
};

/* A decoded request: header and the record its type selects. */
struct proto_request {
	struct proto_req_hdr hdr;
	uint32_t trailing; /* payload bytes after the record (ignored) */
	union {
		struct proto_create_req create;             /* create, create2, createContainer, createTTL */
		struct proto_path_version_req path_version; /* delete, check */
		struct proto_path_watch_req path_watch;     /* exists, getData, getChildren, getChildren2 */
		struct proto_set_data_req set_data;         /* setData */
		struct proto_path_req path;                 /* getACL, sync, getAllChildrenNumber,
							       getEphemerals, deleteContainer */
		struct proto_set_acl_req set_acl;           /* setACL */
		struct proto_multi_req multi;               /* multi, multiRead */
		struct proto_reconfig_req reconfig;         /* reconfig */
		struct proto_watches_req watches;           /* checkWatches, removeWatches */
		struct proto_add_watch_req add_watch;       /* addWatch */
		struct proto_auth_req auth;                 /* auth */
		struct proto_set_watches_req set_watches;   /* setWatches, setWatches2 */
		struct jute_buf sasl_token;                 /* sasl: GetSASLRequest */
		int32_t session_timeout;                    /* createSession (raw int) */
	};
	/* ping, closeSession, whoAmI: no record */
};

/* ------------------------------------------------------------------ */
/* Response records                                                    */
/* ------------------------------------------------------------------ */

/* Create2Response. */
struct proto_path_stat {
	struct jute_buf path;
	struct zk_stat stat;
};

/* GetDataResponse. */
struct proto_data_stat {
	struct jute_buf data;
	struct zk_stat stat;
};

/* GetACLResponse. */
struct proto_acl_stat {
	struct jute_acl_list acl;
	struct zk_stat stat;
};

/* GetChildren2Response. */
struct proto_children_stat {
	struct proto_str_list children;
	struct zk_stat stat;
};

/* WatcherEvent. */
struct proto_watcher_event {
	int32_t type;  /* enum zk_event_type */
	int32_t state; /* enum zk_keeper_state */
	struct jute_buf path;
};

/*
 * One result of a multi/multiRead (MultiResponse): a MultiHeader {type,
 * done=false, err} then, by type: CreateResponse (create),
 * Create2Response (create2), nothing (delete, check), SetDataResponse
 * (setData), GetChildrenResponse (getChildren), GetDataResponse (getData),
 * ErrorResponse (error = ZK_OP_ERROR).  ZooKeeper writes err = the error
 * code for error results and 0 for the others, and its readers ignore the
 * header's err; it is kept so that decoding and re-encoding is exact.
 */
struct proto_multi_result {
	int32_t type;
	int32_t err; /* MultiHeader.err */
	union {
		struct jute_buf path;                 /* create */
		struct proto_path_stat path_stat;     /* create2 */
		struct zk_stat stat;                  /* setData */
		struct proto_str_list children;       /* getChildren */
		struct proto_data_stat data_stat;     /* getData */
		int32_t error;                        /* error: ErrorResponse.err */
	};
};

/* The results of a multi; like struct proto_multi_req. */
struct proto_multi_resp {
	const struct proto_multi_result *items;
	const uint8_t *raw;
	uint32_t raw_len;
	int32_t count;
};

/*
 * A response record, selected by the opcode of the request it answers
 * (FinalRequestProcessor; ZooKeeperServer.processSasl):
 */
struct proto_response {
	union {
		struct jute_buf path;                       /* create: CreateResponse;
							       sync: SyncResponse */
		struct proto_path_stat path_stat;           /* create2, createContainer, createTTL */
		struct zk_stat stat;                        /* exists, setData, setACL */
		struct proto_data_stat data_stat;           /* getData, reconfig */
		struct proto_acl_stat acl_stat;             /* getACL */
		struct proto_str_list children;             /* getChildren; getEphemerals */
		struct proto_children_stat children_stat;   /* getChildren2 */
		int32_t total;                              /* getAllChildrenNumber */
		int32_t err;                                /* addWatch: ErrorResponse (0) */
		struct proto_client_info_list client_info;  /* whoAmI: WhoAmIResponse */
		struct jute_buf sasl_token;                 /* sasl: SetSASLResponse */
		struct proto_multi_resp multi;              /* multi, multiRead */
		struct proto_watcher_event event;           /* notification (xid -1) */
	};
	/*
	 * No record: delete, deleteContainer, check, closeSession, ping,
	 * auth, setWatches, setWatches2, checkWatches, removeWatches,
	 * createSession; and any reply whose err is not ZK_OK.
	 */
};

/* A decoded reply (client side). */
struct proto_reply {
	struct proto_reply_hdr hdr;
	int32_t op;        /* opcode the body was decoded for (ZK_OP_NOTIFICATION for xid -1) */
	bool has_body;     /* false: header only */
	uint32_t trailing; /* payload bytes after the record (ignored) */
	struct proto_response body;
};

/* ------------------------------------------------------------------ */
/* Opcodes                                                             */
/* ------------------------------------------------------------------ */

/*
 * True when a ZooKeeper 3.9 server processes requests of this type:
 * Request.isValid() plus auth and sasl, which ZooKeeperServer.processPacket
 * handles before that check.  For any other type ZooKeeper
 * (ZooKeeperServer.submitRequestNow -> UnimplementedRequestProcessor)
 * answers ReplyHeader {xid, zxid -1, ZK_UNIMPLEMENTED} with no record
 * and then closes the session's connection.  This includes notification
 * (0), error (-1), unassigned numbers, and check (13) outside a multi
 * (ZOOKEEPER-2623: 3.9 forbids it; 3.8 crashed the connection on it).
 */
bool proto_op_valid(int32_t op);

/* The Java name of an opcode ("getData", "closeSession"), or "unknown". */
const char *proto_op_name(int32_t op);

/* ------------------------------------------------------------------ */
/* Decoding (views into the payload; nothing allocated)                */
/* ------------------------------------------------------------------ */

/*
 * payload/len is one frame's payload (after the length prefix).  All
 * decoders return 0 or -EBADMSG (truncated, a length or count past the
 * end or negative other than -1, a malformed element, a multi without
 * its done marker or mixing read and write operations).
 */
int proto_decode_connect_req(const void *payload, size_t len, struct proto_connect_req *req);
int proto_decode_connect_resp(const void *payload, size_t len, struct proto_connect_resp *resp);

/*
 * Decodes RequestHeader and the record of its type into *req.
 *
 * Returns 0; -EBADMSG when malformed (req->hdr is valid whenever len >=
 * PROTO_REQ_HDR_SIZE: ZooKeeper closes the connection on a bad header or
 * AuthPacket and answers ZK_MARSHALLINGERROR when a known request's record
 * is bad); -EOPNOTSUPP when !proto_op_valid(req->hdr.type): the header is
 * decoded and the record left alone, answer ZK_UNIMPLEMENTED as above.
 *
 * deleteContainer is an internal request of ZooKeeper's ContainerManager
 * whose body is a path in raw UTF-8, not a record; the codec returns the
 * rest of the payload as req->path.path.  (ZooKeeper reads the path from
 * the whole packet including the header bytes, so a client-sent
 * deleteContainer always fails path validation there: ZK_BADARGUMENTS.)
 * createSession likewise carries a raw int (the timeout).
 */
int proto_decode_request(const void *payload, size_t len, struct proto_request *req);

/*
 * Decodes a reply to a request of type op (the caller maps the xid back to
 * the request it sent).  As ClientCnxn.readResponse: xid -1 is a
 * notification whatever op says (rep->op = ZK_OP_NOTIFICATION, body.event);
 * otherwise the record is decoded only when hdr.err == ZK_OK and op has
 * one.  Returns 0; -EBADMSG; -EOPNOTSUPP when op is not a known opcode
 * (header decoded, no body).
 */
int proto_decode_reply(const void *payload, size_t len, int32_t op, struct proto_reply *rep);

/* Stat, for other modules' records. Returns 0 or in->err. */
int proto_get_stat(struct jute_in *in, struct zk_stat *st);

/* ------------------------------------------------------------------ */
/* Iterating lists and multis                                          */
/* ------------------------------------------------------------------ */

/*
 * One iterator type for every list.  Initialise it with the function for
 * the list's type and call the matching *_next until it returns false.
 * Iterating a decoded list cannot fail; a raw view built by hand that is
 * malformed just ends early.
 */
struct proto_iter {
	struct jute_in in;
	const void *items;
	int32_t idx;
	int32_t count;
};

void proto_str_iter(struct proto_iter *it, const struct proto_str_list *l);
bool proto_str_next(struct proto_iter *it, struct jute_buf *s);

void proto_client_info_iter(struct proto_iter *it, const struct proto_client_info_list *l);
bool proto_client_info_next(struct proto_iter *it, struct proto_client_info *ci);

void proto_multi_iter(struct proto_iter *it, const struct proto_multi_req *m);
bool proto_multi_next(struct proto_iter *it, struct proto_multi_op *op);

void proto_result_iter(struct proto_iter *it, const struct proto_multi_resp *m);
bool proto_result_next(struct proto_iter *it, struct proto_multi_result *r);

/*
 * Copies a multi's operations into ops[0..max).  Returns their number, or
 * -ENOSPC when there are more than max (nothing beyond max is written).
 */
int proto_multi_ops(const struct proto_multi_req *m, struct proto_multi_op *ops, uint32_t max);

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/*
 * Whole frames (length prefix included), appended to out.  Each returns 0;
 * -EINVAL when the type has no such record or a list is inconsistent
 * (count > 0 with neither items nor raw);
 * -ENOSPC / -ENOMEM from out; -EMSGSIZE over INT32_MAX.  On failure out is
 * restored as by proto_frame_end().
 */
int proto_encode_connect_req(struct jute_out *out, const struct proto_connect_req *req);
int proto_encode_connect_resp(struct jute_out *out, const struct proto_connect_resp *resp);

/* RequestHeader + the record of req->hdr.type (any type with a record layout). */
int proto_encode_request(struct jute_out *out, const struct proto_request *req);

/*
 * ReplyHeader + body's record for a reply to op; body NULL writes the
 * header only (what ZooKeeper sends for errors and record-less replies;
 * op may then be any value, e.g. an unknown one answered with
 * ZK_UNIMPLEMENTED).  A body for an op whose reply has no record is
 * ignored; a body for an unknown op is -EINVAL.
 * A notification is op ZK_OP_NOTIFICATION with body->event (see also
 * proto_encode_event).
 */
int proto_encode_reply(struct jute_out *out, const struct proto_reply_hdr *hdr, int32_t op,
		       const struct proto_response *body);

/*
 * The successful reply to a getData (data not NULL: GetDataResponse,
 * data then Stat; data->len -1 for null data) or to an exists (data NULL:
 * ExistsResponse, the Stat), written with one reservation: the same bytes
 * as proto_encode_reply(out, hdr, ZK_OP_GETDATA or ZK_OP_EXISTS, body),
 * the same return and, on failure, the same state of out (the frame is
 * dropped and out->err left as it was).  The fast path of the reads.
 */
int proto_encode_stat_reply(struct jute_out *out, const struct proto_reply_hdr *hdr,
			    const struct jute_buf *data, const struct zk_stat *st);

/*
 * A watch notification: ReplyHeader {xid -1, zxid, ZK_OK} + WatcherEvent.
 * ZooKeeper 3.8 sends zxid -1; 3.9 (ZOOKEEPER-4655) sends the zxid of the
 * transaction that fired NodeCreated, NodeDeleted, NodeDataChanged and
 * NodeChildrenChanged, and -1 for the other event types.
 */
int proto_encode_event(struct jute_out *out, int64_t zxid, const struct proto_watcher_event *ev);

/*
 * Pieces, for building a reply without an intermediate array (a server's
 * multi).  proto_reply_begin() starts a frame and writes the header; add
 * records with the proto_put_* functions; finish with proto_frame_end().
 * proto_put_* report failures through out->err (-EINVAL for a type with
 * no record, as well as the buffer's own errors).
 */
void proto_reply_begin(struct jute_out *out, struct proto_frame *f, const struct proto_reply_hdr *hdr);
void proto_put_response(struct jute_out *out, int32_t op, const struct proto_response *body);
void proto_put_multi_op(struct jute_out *out, const struct proto_multi_op *op);
void proto_put_multi_result(struct jute_out *out, const struct proto_multi_result *r);
/* The done marker {-1, true, -1} that ends a multi request or response. */
void proto_put_multi_end(struct jute_out *out);
void proto_put_stat(struct jute_out *out, const struct zk_stat *st);
void proto_put_str_list(struct jute_out *out, const struct proto_str_list *l);
/* A vector<ACL> from entries (to build a raw jute_acl_list). */
void proto_put_acl_entries(struct jute_out *out, const struct jute_acl *acls, int32_t count);

#endif
