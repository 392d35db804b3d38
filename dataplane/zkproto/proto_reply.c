/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ZooKeeper wire codec, part 2: replies (ReplyHeader + response record)
 * and watch notifications.
 *
 * Which record answers which request is FinalRequestProcessor's choice
 * (plus ZooKeeperServer.processSasl for sasl and the header-only replies
 * to ping, auth and setWatches); the table lives in proto.c.  Two
 * surprises kept on purpose: addWatch is answered with an ErrorResponse
 * carrying 0, and reconfig with a GetDataResponse (the new
 * configuration).
 *
 * A client decodes a record only when ReplyHeader.err is ZK_OK, and a
 * reply with xid -1 is always a notification (ClientCnxn.SendThread
 * .readResponse); proto_decode_reply() does the same.  The server side
 * writes no record for an error (FinalRequestProcessor leaves rsp null
 * when it catches the KeeperException), which the caller expresses by
 * passing body NULL.
 *
 * Same rules as proto.c: bounds-checked views, no allocation, any thread.
 */
#include "proto_priv.h"

static int get_response_body(struct jute_in *in, enum proto_rec rec, struct proto_response *b)
{
	switch (rec) {
	case REC_NONE:
		break;
	case REC_PATH:
		b->path = proto_get_str(in);
		break;
	case REC_PATH_STAT:
		b->path_stat.path = proto_get_str(in);
		return proto_get_stat(in, &b->path_stat.stat);
	case REC_STAT:
		return proto_get_stat(in, &b->stat);
	case REC_DATA_STAT:
		b->data_stat.data = proto_get_str(in);
		return proto_get_stat(in, &b->data_stat.stat);
	case REC_ACL_STAT:
		if (jute_get_acl_list(in, &b->acl_stat.acl, PROTO_FIELD_MAX))
			return in->err;
		return proto_get_stat(in, &b->acl_stat.stat);
	case REC_STR_LIST:
		return proto_get_str_list(in, &b->children);
	case REC_CHILDREN_STAT:
		if (proto_get_str_list(in, &b->children_stat.children))
			return in->err;
		return proto_get_stat(in, &b->children_stat.stat);
	case REC_TOTAL:
		b->total = jute_get_int(in);
		break;
	case REC_ERR:
		b->err = jute_get_int(in);
		break;
	case REC_CLIENT_INFO:
		return proto_get_client_info_list(in, &b->client_info);
	case REC_TOKEN:
		b->sasl_token = proto_get_str(in);
		break;
	case REC_MULTI_RESP:
		return proto_get_multi_resp(in, &b->multi);
	case REC_EVENT:
		b->event.type = jute_get_int(in);
		b->event.state = jute_get_int(in);
		b->event.path = proto_get_str(in);
		break;
	default:
		return jute_in_fail(in);
	}
	return in->err;
}

int proto_decode_reply(const void *payload, size_t len, int32_t op, struct proto_reply *rep)
{
	struct jute_in in;
	enum proto_rec rec;

	memset(rep, 0, sizeof(*rep));
	jute_in_init(&in, payload, len);
	rep->hdr.xid = jute_get_int(&in);
	rep->hdr.zxid = jute_get_long(&in);
	rep->hdr.err = jute_get_int(&in);
	rep->op = op;
	if (in.err)
		return in.err;
	if (rep->hdr.xid == ZK_XID_NOTIFICATION) {
		rep->op = ZK_OP_NOTIFICATION;
		rec = REC_EVENT;
	} else {
		rec = proto_op_info(op)->resp;
		if (rec == REC_UNKNOWN) {
			rep->trailing = (uint32_t)jute_in_left(&in);
			return -EOPNOTSUPP;
		}
		if (rep->hdr.err != ZK_OK)
			rec = REC_NONE;
	}
	if (get_response_body(&in, rec, &rep->body))
		return -EBADMSG;
	rep->has_body = rec != REC_NONE;
	rep->trailing = (uint32_t)jute_in_left(&in);
	return 0;
}

static void put_response_body(struct jute_out *out, enum proto_rec rec, const struct proto_response *b)
{
	switch (rec) {
	case REC_NONE:
		break;
	case REC_PATH:
		jute_put_buf(out, b->path);
		break;
	case REC_PATH_STAT:
		jute_put_buf(out, b->path_stat.path);
		proto_put_stat(out, &b->path_stat.stat);
		break;
	case REC_STAT:
		proto_put_stat(out, &b->stat);
		break;
	case REC_DATA_STAT:
		jute_put_buf(out, b->data_stat.data);
		proto_put_stat(out, &b->data_stat.stat);
		break;
	case REC_ACL_STAT:
		proto_put_acl_list(out, &b->acl_stat.acl);
		proto_put_stat(out, &b->acl_stat.stat);
		break;
	case REC_STR_LIST:
		proto_put_str_list(out, &b->children);
		break;
	case REC_CHILDREN_STAT:
		proto_put_str_list(out, &b->children_stat.children);
		proto_put_stat(out, &b->children_stat.stat);
		break;
	case REC_TOTAL:
		jute_put_int(out, b->total);
		break;
	case REC_ERR:
		jute_put_int(out, b->err);
		break;
	case REC_CLIENT_INFO:
		proto_put_client_info_list(out, &b->client_info);
		break;
	case REC_TOKEN:
		jute_put_buf(out, b->sasl_token);
		break;
	case REC_MULTI_RESP:
		proto_put_multi_resp(out, &b->multi);
		break;
	case REC_EVENT:
		jute_put_int(out, b->event.type);
		jute_put_int(out, b->event.state);
		jute_put_buf(out, b->event.path);
		break;
	default:
		proto_out_fail(out, -EINVAL);
		break;
	}
}

void proto_put_response(struct jute_out *out, int32_t op, const struct proto_response *body)
{
	put_response_body(out, proto_op_info(op)->resp, body);
}

void proto_reply_begin(struct jute_out *out, struct proto_frame *f, const struct proto_reply_hdr *hdr)
{
	uint8_t *p;

	proto_frame_begin(out, f);
	p = jute_out_reserve(out, PROTO_REPLY_HDR_SIZE);
	if (!p)
		return;
	jute_put_be32(p, (uint32_t)hdr->xid);
	jute_put_be64(p + 4, (uint64_t)hdr->zxid);
	jute_put_be32(p + 12, (uint32_t)hdr->err);
}

int proto_encode_reply(struct jute_out *out, const struct proto_reply_hdr *hdr, int32_t op,
		       const struct proto_response *body)
{
	struct proto_frame f;
	enum proto_rec rec = proto_op_info(op)->resp;

	proto_reply_begin(out, &f, hdr);
	if (body)
		put_response_body(out, rec, body);
	return proto_frame_end(out, &f);
}

int proto_encode_stat_reply(struct jute_out *out, const struct proto_reply_hdr *hdr,
			    const struct jute_buf *data, const struct zk_stat *st)
{
	bool null = !data || data->len < 0 || !data->p;
	size_t dlen = null ? 0 : (size_t)data->len;
	size_t body = PROTO_REPLY_HDR_SIZE + (data ? 4 + dlen : 0) + PROTO_STAT_SIZE;
	int err = out->err;
	uint8_t *p;

	if (err)
		return err;
	if (body > (size_t)INT32_MAX)
		return -EMSGSIZE;
	p = jute_out_reserve(out, PROTO_LEN_SIZE + body);
	if (!p) {
		/* As proto_frame_end: the frame is dropped, out->err restored. */
		err = out->err;
		out->err = 0;
		return err;
	}
	jute_put_be32(p, (uint32_t)body);
	jute_put_be32(p + 4, (uint32_t)hdr->xid);
	jute_put_be64(p + 8, (uint64_t)hdr->zxid);
	jute_put_be32(p + 16, (uint32_t)hdr->err);
	p += PROTO_LEN_SIZE + PROTO_REPLY_HDR_SIZE;
	if (data) {
		jute_put_be32(p, null ? UINT32_MAX : (uint32_t)dlen);
		if (dlen)
			memcpy(p + 4, data->p, dlen);
		p += 4 + dlen;
	}
	proto_stat_write(p, st);
	return 0;
}

int proto_encode_event(struct jute_out *out, int64_t zxid, const struct proto_watcher_event *ev)
{
	struct proto_reply_hdr hdr = { ZK_XID_NOTIFICATION, zxid, ZK_OK };
	struct proto_frame f;

	proto_reply_begin(out, &f, &hdr);
	jute_put_int(out, ev->type);
	jute_put_int(out, ev->state);
	jute_put_buf(out, ev->path);
	return proto_frame_end(out, &f);
}
