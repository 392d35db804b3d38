/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ZooKeeper wire codec, part 1: framing, the opcode table, the connect
 * handshake and requests (RequestHeader + request records).
 *
 * The layouts are zookeeper.jute's, field for field; where ZooKeeper's
 * behaviour is not in the .jute file it is reproduced from the Java
 * sources named next to the code:
 *
 *  - frame lengths: NIOServerCnxn.readLength / ClientCnxnSocket.readLength
 *    (0 <= len <= jute.maxbuffer);
 *  - ConnectRequest's optional trailing readOnly byte:
 *    ZooKeeperServer.processConnectRequest (isOldClient);
 *  - which types a server processes: Request.isValid (3.9, with
 *    ZOOKEEPER-2623 making a standalone check invalid) plus auth and sasl
 *    (ZooKeeperServer.processPacket);
 *  - the record each type carries: PrepRequestProcessor /
 *    FinalRequestProcessor (deleteContainer and createSession read raw
 *    bytes, not records).
 *
 * Invariants: decoders never read outside [payload, payload + len) (every
 * read goes through jute_in), never allocate, and leave views into the
 * payload; encoders only append to the jute_out and undo a failed frame.
 *
 * Runs on whichever thread calls it (dataplane workers, cheetah-bench,
 * tests); no shared state besides the constant tables.
 */
#include "proto_priv.h"

#include <limits.h>

/* ---- framing ---- */

int proto_frame_len(const void *buf, size_t avail, uint32_t max_frame, uint32_t *len)
{
	if (avail < PROTO_LEN_SIZE)
		return -EAGAIN;
	uint32_t raw = jute_be32(buf);
	*len = raw;
	if ((int32_t)raw < 0 || raw > max_frame)
		return -EMSGSIZE;
	return 0;
}

void proto_frame_begin(struct jute_out *out, struct proto_frame *f)
{
	f->start = out->len;
	f->err = out->err;
	jute_out_reserve(out, PROTO_LEN_SIZE);
}

int proto_frame_end(struct jute_out *out, const struct proto_frame *f)
{
	int err = out->err;

	if (!err && out->len - f->start - PROTO_LEN_SIZE > (size_t)INT32_MAX)
		err = -EMSGSIZE;
	if (err) {
		if (out->len > f->start)
			out->len = f->start;
		out->err = f->err;
		return err;
	}
	jute_put_be32(out->buf + f->start, (uint32_t)(out->len - f->start - PROTO_LEN_SIZE));
	return 0;
}

/* ---- opcode table ---- */

#define OP_MIN ZK_OP_CLOSESESSION
#define OP_MAX ZK_OP_WHOAMI
#define OP(op, nm, rq, rs, ok) \
	[(op) - OP_MIN] = { .name = (nm), .req = (rq), .resp = (rs), .valid = (ok) }

static const struct proto_op_info op_table[OP_MAX - OP_MIN + 1] = {
	OP(ZK_OP_NOTIFICATION, "notification", REC_UNKNOWN, REC_EVENT, false),
	OP(ZK_OP_CREATE, "create", REC_CREATE, REC_PATH, true),
	OP(ZK_OP_DELETE, "delete", REC_PATH_VERSION, REC_NONE, true),
	OP(ZK_OP_EXISTS, "exists", REC_PATH_WATCH, REC_STAT, true),
	OP(ZK_OP_GETDATA, "getData", REC_PATH_WATCH, REC_DATA_STAT, true),
	OP(ZK_OP_SETDATA, "setData", REC_SET_DATA, REC_STAT, true),
	OP(ZK_OP_GETACL, "getACL", REC_PATH, REC_ACL_STAT, true),
	OP(ZK_OP_SETACL, "setACL", REC_SET_ACL, REC_STAT, true),
	OP(ZK_OP_GETCHILDREN, "getChildren", REC_PATH_WATCH, REC_STR_LIST, true),
	OP(ZK_OP_SYNC, "sync", REC_PATH, REC_PATH, true),
	OP(ZK_OP_PING, "ping", REC_NONE, REC_NONE, true),
	OP(ZK_OP_GETCHILDREN2, "getChildren2", REC_PATH_WATCH, REC_CHILDREN_STAT, true),
	/* ZOOKEEPER-2623: only inside a multi since 3.9. */
	OP(ZK_OP_CHECK, "check", REC_PATH_VERSION, REC_NONE, false),
	OP(ZK_OP_MULTI, "multi", REC_MULTI, REC_MULTI_RESP, true),
	OP(ZK_OP_CREATE2, "create2", REC_CREATE, REC_PATH_STAT, true),
	OP(ZK_OP_RECONFIG, "reconfig", REC_RECONFIG, REC_DATA_STAT, true),
	OP(ZK_OP_CHECKWATCHES, "checkWatches", REC_WATCHES, REC_NONE, true),
	OP(ZK_OP_REMOVEWATCHES, "removeWatches", REC_WATCHES, REC_NONE, true),
	OP(ZK_OP_CREATECONTAINER, "createContainer", REC_CREATE, REC_PATH_STAT, true),
	OP(ZK_OP_DELETECONTAINER, "deleteContainer", REC_RAW_PATH, REC_NONE, true),
	OP(ZK_OP_CREATETTL, "createTTL", REC_CREATE_TTL, REC_PATH_STAT, true),
	OP(ZK_OP_MULTIREAD, "multiRead", REC_MULTI, REC_MULTI_RESP, true),
	OP(ZK_OP_AUTH, "auth", REC_AUTH, REC_NONE, true),
	OP(ZK_OP_SETWATCHES, "setWatches", REC_SET_WATCHES, REC_NONE, true),
	OP(ZK_OP_SASL, "sasl", REC_TOKEN, REC_TOKEN, true),
	OP(ZK_OP_GETEPHEMERALS, "getEphemerals", REC_PATH, REC_STR_LIST, true),
	OP(ZK_OP_GETALLCHILDRENNUMBER, "getAllChildrenNumber", REC_PATH, REC_TOTAL, true),
	OP(ZK_OP_SETWATCHES2, "setWatches2", REC_SET_WATCHES2, REC_NONE, true),
	OP(ZK_OP_ADDWATCH, "addWatch", REC_ADD_WATCH, REC_ERR, true),
	OP(ZK_OP_WHOAMI, "whoAmI", REC_NONE, REC_CLIENT_INFO, true),
	OP(ZK_OP_CREATESESSION, "createSession", REC_INT, REC_NONE, true),
	OP(ZK_OP_CLOSESESSION, "closeSession", REC_NONE, REC_NONE, true),
	OP(ZK_OP_ERROR, "error", REC_UNKNOWN, REC_UNKNOWN, false),
};

static const struct proto_op_info op_unknown = { NULL, REC_UNKNOWN, REC_UNKNOWN, false };

const struct proto_op_info *proto_op_info(int32_t op)
{
	if (op < OP_MIN || op > OP_MAX || !op_table[op - OP_MIN].name)
		return &op_unknown;
	return &op_table[op - OP_MIN];
}

bool proto_op_valid(int32_t op)
{
	return proto_op_info(op)->valid;
}

const char *proto_op_name(int32_t op)
{
	const char *n = proto_op_info(op)->name;

	return n ? n : "unknown";
}

/* world:anyone, perms ALL: count 1, perms 0x1f, "world", "anyone". */
static const uint8_t open_unsafe_raw[] = {
	0, 0, 0, 1, 0, 0, 0, ZK_PERM_ALL,
	0, 0, 0, 5, 'w', 'o', 'r', 'l', 'd',
	0, 0, 0, 6, 'a', 'n', 'y', 'o', 'n', 'e',
};

const struct jute_acl_list proto_acl_open_unsafe = {
	.raw = open_unsafe_raw,
	.raw_len = sizeof(open_unsafe_raw),
	.count = 1,
};

/* ---- connect handshake ---- */

int proto_decode_connect_req(const void *payload, size_t len, struct proto_connect_req *req)
{
	struct jute_in in;

	jute_in_init(&in, payload, len);
	req->protocol_version = jute_get_int(&in);
	req->last_zxid_seen = jute_get_long(&in);
	req->timeout = jute_get_int(&in);
	req->session_id = jute_get_long(&in);
	req->passwd = proto_get_str(&in);
	req->read_only = false;
	req->has_read_only = false;
	if (in.err)
		return in.err;
	/* processConnectRequest: readBool, EOF means an old client. */
	if (jute_in_left(&in)) {
		req->read_only = jute_get_bool(&in);
		req->has_read_only = true;
	}
	return 0;
}

int proto_decode_connect_resp(const void *payload, size_t len, struct proto_connect_resp *resp)
{
	struct jute_in in;

	jute_in_init(&in, payload, len);
	resp->protocol_version = jute_get_int(&in);
	resp->timeout = jute_get_int(&in);
	resp->session_id = jute_get_long(&in);
	resp->passwd = proto_get_str(&in);
	resp->read_only = false;
	resp->has_read_only = false;
	if (in.err)
		return in.err;
	/* ClientCnxnSocket.readConnectResult: EOF means an old server. */
	if (jute_in_left(&in)) {
		resp->read_only = jute_get_bool(&in);
		resp->has_read_only = true;
	}
	return 0;
}

int proto_encode_connect_req(struct jute_out *out, const struct proto_connect_req *req)
{
	struct proto_frame f;

	proto_frame_begin(out, &f);
	jute_put_int(out, req->protocol_version);
	jute_put_long(out, req->last_zxid_seen);
	jute_put_int(out, req->timeout);
	jute_put_long(out, req->session_id);
	jute_put_buf(out, req->passwd);
	if (req->has_read_only)
		jute_put_bool(out, req->read_only);
	return proto_frame_end(out, &f);
}

int proto_encode_connect_resp(struct jute_out *out, const struct proto_connect_resp *resp)
{
	struct proto_frame f;

	proto_frame_begin(out, &f);
	jute_put_int(out, resp->protocol_version);
	jute_put_int(out, resp->timeout);
	jute_put_long(out, resp->session_id);
	jute_put_buf(out, resp->passwd);
	if (resp->has_read_only)
		jute_put_bool(out, resp->read_only);
	return proto_frame_end(out, &f);
}

/* ---- request records ---- */

static int get_set_watches(struct jute_in *in, struct proto_set_watches_req *w, bool v2)
{
	static const struct proto_str_list none = { NULL, NULL, 0, 0 };

	w->relative_zxid = jute_get_long(in);
	if (proto_get_str_list(in, &w->data) || proto_get_str_list(in, &w->exist) ||
	    proto_get_str_list(in, &w->child))
		return in->err;
	w->persistent = none;
	w->persistent_recursive = none;
	if (v2 && (proto_get_str_list(in, &w->persistent) ||
		   proto_get_str_list(in, &w->persistent_recursive)))
		return in->err;
	return in->err;
}

/* Reads the record of layout rec into req's union. */
static int get_request_body(struct jute_in *in, enum proto_rec rec, struct proto_request *req)
{
	switch (rec) {
	case REC_NONE:
		break;
	case REC_CREATE:
	case REC_CREATE_TTL:
		return proto_get_create(in, &req->create, rec == REC_CREATE_TTL);
	case REC_PATH_VERSION:
		req->path_version.path = proto_get_str(in);
		req->path_version.version = jute_get_int(in);
		break;
	case REC_PATH_WATCH:
		req->path_watch.path = proto_get_str(in);
		req->path_watch.watch = jute_get_bool(in);
		break;
	case REC_SET_DATA:
		req->set_data.path = proto_get_str(in);
		req->set_data.data = proto_get_str(in);
		req->set_data.version = jute_get_int(in);
		break;
	case REC_PATH:
		req->path.path = proto_get_str(in);
		break;
	case REC_RAW_PATH:
		/*
		 * PrepRequestProcessor: new String(request.request.array()),
		 * the raw bytes; the rest of the payload here.
		 */
		if (jute_in_left(in) > PROTO_FIELD_MAX)
			return jute_in_fail(in);
		req->path.path.p = in->p;
		req->path.path.len = (int32_t)jute_in_left(in);
		in->p = in->end;
		break;
	case REC_SET_ACL:
		req->set_acl.path = proto_get_str(in);
		if (jute_get_acl_list(in, &req->set_acl.acl, PROTO_FIELD_MAX))
			return in->err;
		req->set_acl.version = jute_get_int(in);
		break;
	case REC_MULTI:
		return proto_get_multi_req(in, &req->multi);
	case REC_RECONFIG:
		req->reconfig.joining_servers = proto_get_str(in);
		req->reconfig.leaving_servers = proto_get_str(in);
		req->reconfig.new_members = proto_get_str(in);
		req->reconfig.cur_config_id = jute_get_long(in);
		break;
	case REC_WATCHES:
		req->watches.path = proto_get_str(in);
		req->watches.type = jute_get_int(in);
		break;
	case REC_ADD_WATCH:
		req->add_watch.path = proto_get_str(in);
		req->add_watch.mode = jute_get_int(in);
		break;
	case REC_AUTH:
		req->auth.type = jute_get_int(in);
		req->auth.scheme = proto_get_str(in);
		req->auth.auth = proto_get_str(in);
		break;
	case REC_SET_WATCHES:
	case REC_SET_WATCHES2:
		return get_set_watches(in, &req->set_watches, rec == REC_SET_WATCHES2);
	case REC_TOKEN:
		req->sasl_token = proto_get_str(in);
		break;
	case REC_INT:
		/* PrepRequestProcessor createSession: request.getInt(). */
		req->session_timeout = jute_get_int(in);
		break;
	default:
		return jute_in_fail(in);
	}
	return in->err;
}

int proto_decode_request(const void *payload, size_t len, struct proto_request *req)
{
	struct jute_in in;

	memset(req, 0, sizeof(*req));
	jute_in_init(&in, payload, len);
	req->hdr.xid = jute_get_int(&in);
	req->hdr.type = jute_get_int(&in);
	if (in.err)
		return in.err;
	const struct proto_op_info *info = proto_op_info(req->hdr.type);
	if (!info->valid) {
		req->trailing = (uint32_t)jute_in_left(&in);
		return -EOPNOTSUPP;
	}
	if (get_request_body(&in, info->req, req))
		return -EBADMSG;
	req->trailing = (uint32_t)jute_in_left(&in);
	return 0;
}

static void put_request_body(struct jute_out *out, enum proto_rec rec, const struct proto_request *req)
{
	const struct proto_set_watches_req *w = &req->set_watches;

	switch (rec) {
	case REC_NONE:
		break;
	case REC_CREATE:
	case REC_CREATE_TTL:
		proto_put_create(out, &req->create, rec == REC_CREATE_TTL);
		break;
	case REC_PATH_VERSION:
		jute_put_buf(out, req->path_version.path);
		jute_put_int(out, req->path_version.version);
		break;
	case REC_PATH_WATCH:
		jute_put_buf(out, req->path_watch.path);
		jute_put_bool(out, req->path_watch.watch);
		break;
	case REC_SET_DATA:
		jute_put_buf(out, req->set_data.path);
		jute_put_buf(out, req->set_data.data);
		jute_put_int(out, req->set_data.version);
		break;
	case REC_PATH:
		jute_put_buf(out, req->path.path);
		break;
	case REC_RAW_PATH:
		if (req->path.path.len > 0)
			jute_put_raw(out, req->path.path.p, (size_t)req->path.path.len);
		break;
	case REC_SET_ACL:
		jute_put_buf(out, req->set_acl.path);
		proto_put_acl_list(out, &req->set_acl.acl);
		jute_put_int(out, req->set_acl.version);
		break;
	case REC_MULTI:
		proto_put_multi_req(out, &req->multi);
		break;
	case REC_RECONFIG:
		jute_put_buf(out, req->reconfig.joining_servers);
		jute_put_buf(out, req->reconfig.leaving_servers);
		jute_put_buf(out, req->reconfig.new_members);
		jute_put_long(out, req->reconfig.cur_config_id);
		break;
	case REC_WATCHES:
		jute_put_buf(out, req->watches.path);
		jute_put_int(out, req->watches.type);
		break;
	case REC_ADD_WATCH:
		jute_put_buf(out, req->add_watch.path);
		jute_put_int(out, req->add_watch.mode);
		break;
	case REC_AUTH:
		jute_put_int(out, req->auth.type);
		jute_put_buf(out, req->auth.scheme);
		jute_put_buf(out, req->auth.auth);
		break;
	case REC_SET_WATCHES:
	case REC_SET_WATCHES2:
		jute_put_long(out, w->relative_zxid);
		proto_put_str_list(out, &w->data);
		proto_put_str_list(out, &w->exist);
		proto_put_str_list(out, &w->child);
		if (rec == REC_SET_WATCHES2) {
			proto_put_str_list(out, &w->persistent);
			proto_put_str_list(out, &w->persistent_recursive);
		}
		break;
	case REC_TOKEN:
		jute_put_buf(out, req->sasl_token);
		break;
	case REC_INT:
		jute_put_int(out, req->session_timeout);
		break;
	default:
		proto_out_fail(out, -EINVAL);
		break;
	}
}

int proto_encode_request(struct jute_out *out, const struct proto_request *req)
{
	struct proto_frame f;

	proto_frame_begin(out, &f);
	jute_put_int(out, req->hdr.xid);
	jute_put_int(out, req->hdr.type);
	put_request_body(out, proto_op_info(req->hdr.type)->req, req);
	return proto_frame_end(out, &f);
}
