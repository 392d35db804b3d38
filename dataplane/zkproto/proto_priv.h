/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the codec (dataplane/proto*.c): the opcode table and the
 * record readers/writers shared between its files.  Readers take a
 * struct jute_in limited to one payload and rely on its sticky error;
 * writers append to a struct jute_out and report through out->err.
 */
#ifndef CHEETAH_DATAPLANE_PROTO_PRIV_H
#define CHEETAH_DATAPLANE_PROTO_PRIV_H

#include "proto.h"

/*
 * Longest field the readers accept on their own.  Every length is also
 * checked against what is left of the payload, which proto_frame_len()
 * bounded by jute.maxbuffer, so this is only a guard for payloads that
 * did not come through it.
 */
#define PROTO_FIELD_MAX ((uint32_t)INT32_MAX)

/* Writes a Stat's PROTO_STAT_SIZE bytes at p (field order of data.Stat). */
static inline void proto_stat_write(uint8_t *p, const struct zk_stat *st)
{
	jute_put_be64(p, (uint64_t)st->czxid);
	jute_put_be64(p + 8, (uint64_t)st->mzxid);
	jute_put_be64(p + 16, (uint64_t)st->ctime);
	jute_put_be64(p + 24, (uint64_t)st->mtime);
	jute_put_be32(p + 32, (uint32_t)st->version);
	jute_put_be32(p + 36, (uint32_t)st->cversion);
	jute_put_be32(p + 40, (uint32_t)st->aversion);
	jute_put_be64(p + 44, (uint64_t)st->ephemeral_owner);
	jute_put_be32(p + 52, (uint32_t)st->data_length);
	jute_put_be32(p + 56, (uint32_t)st->num_children);
	jute_put_be64(p + 60, (uint64_t)st->pzxid);
}

/* Record layouts, for requests and for responses. */
enum proto_rec {
	REC_UNKNOWN = 0,   /* not an opcode of the protocol */
	REC_NONE,          /* no record */
	/* requests */
	REC_CREATE,        /* CreateRequest */
	REC_CREATE_TTL,    /* CreateTTLRequest */
	REC_PATH_VERSION,  /* DeleteRequest, CheckVersionRequest */
	REC_PATH_WATCH,    /* GetDataRequest, ExistsRequest, GetChildren(2)Request */
	REC_SET_DATA,      /* SetDataRequest */
	REC_PATH,          /* one ustring */
	REC_RAW_PATH,      /* deleteContainer: the rest of the payload */
	REC_SET_ACL,       /* SetACLRequest */
	REC_MULTI,         /* MultiOperationRecord */
	REC_RECONFIG,      /* ReconfigRequest */
	REC_WATCHES,       /* CheckWatchesRequest, RemoveWatchesRequest */
	REC_ADD_WATCH,     /* AddWatchRequest */
	REC_AUTH,          /* AuthPacket */
	REC_SET_WATCHES,   /* SetWatches */
	REC_SET_WATCHES2,  /* SetWatches2 */
	REC_TOKEN,         /* GetSASLRequest, SetSASLResponse */
	REC_INT,           /* createSession: raw int */
	/* responses */
	REC_PATH_STAT,     /* Create2Response */
	REC_STAT,          /* ExistsResponse, SetDataResponse, SetACLResponse */
	REC_DATA_STAT,     /* GetDataResponse */
	REC_ACL_STAT,      /* GetACLResponse */
	REC_STR_LIST,      /* GetChildrenResponse, GetEphemeralsResponse */
	REC_CHILDREN_STAT, /* GetChildren2Response */
	REC_TOTAL,         /* GetAllChildrenNumberResponse */
	REC_ERR,           /* ErrorResponse */
	REC_CLIENT_INFO,   /* WhoAmIResponse */
	REC_MULTI_RESP,    /* MultiResponse */
	REC_EVENT,         /* WatcherEvent */
};

struct proto_op_info {
	const char *name;
	uint8_t req;  /* enum proto_rec of the request */
	uint8_t resp; /* enum proto_rec of the response */
	bool valid;   /* processed by a 3.9 server (proto_op_valid) */
};

/* The entry for op; one with name NULL and REC_UNKNOWN when unknown. */
const struct proto_op_info *proto_op_info(int32_t op);

/* ustring / buffer reader bounded only by the payload. */
static inline struct jute_buf proto_get_str(struct jute_in *in)
{
	return jute_get_buffer(in, PROTO_FIELD_MAX);
}

/* Readers: return 0 or in->err (-EBADMSG). */
int proto_get_str_list(struct jute_in *in, struct proto_str_list *l);
int proto_get_client_info_list(struct jute_in *in, struct proto_client_info_list *l);
int proto_get_multi_req(struct jute_in *in, struct proto_multi_req *m);
int proto_get_multi_resp(struct jute_in *in, struct proto_multi_resp *m);
int proto_get_create(struct jute_in *in, struct proto_create_req *c, bool ttl);

/* Writers: failures land in out->err. */
void proto_put_create(struct jute_out *out, const struct proto_create_req *c, bool ttl);
void proto_put_acl_list(struct jute_out *out, const struct jute_acl_list *acl);
void proto_put_client_info_list(struct jute_out *out, const struct proto_client_info_list *l);
void proto_put_multi_req(struct jute_out *out, const struct proto_multi_req *m);
void proto_put_multi_resp(struct jute_out *out, const struct proto_multi_resp *m);

static inline void proto_out_fail(struct jute_out *out, int err)
{
	if (!out->err)
		out->err = err;
}

/*
 * Shared by every list writer (proto_list.c, proto_rec.c): the raw view when there are no items, or
 * just the count for an empty/null list given neither.  Returns true when
 * the list was written that way.
 */
static inline bool proto_put_raw_list(struct jute_out *out, const void *items,
				      const uint8_t *raw, uint32_t raw_len, int32_t count)
{
	if (items && count > 0)
		return false;
	if (raw && raw_len) {
		jute_put_raw(out, raw, raw_len);
	} else if (count <= 0 && count >= -1) {
		jute_put_int(out, count);
	} else {
		proto_out_fail(out, -EINVAL);
	}
	return true;
}

#endif
