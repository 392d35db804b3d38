/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transaction records: the bytes that go to the transaction log and to the
 * other replicas.  Jute primitives, big-endian, one format byte first so a
 * later release can read older logs:
 *
 *   byte format (TREE_TXN_FORMAT)
 *   long session, int cxid, long zxid, long time, int type
 *   CREATESESSION  int timeout
 *   CLOSESESSION   int n, n x ustring path
 *   MULTI          int n, n x op
 *   anything else  one op (its type equals the txn type)
 *
 *   op: int type, then
 *     CREATE, CREATE2, CREATECONTAINER, CREATETTL:
 *                    ustring path, buffer data, vector<ACL> acl,
 *                    long ephemeralOwner, int parentCVersion
 *     DELETE, DELETECONTAINER: ustring path
 *     SETDATA:       ustring path, buffer data, int version
 *     SETACL:        ustring path, vector<ACL> acl, int version
 *     CHECK:         ustring path, int version
 *     ERROR:         int err
 *
 * The record carries no checksum of its own: the log and the peer link
 * frame it with one.  Pure functions; any thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tree_priv.h"

static void encode_op(const struct tree_op *op, struct jute_out *out)
{
	jute_put_int(out, op->type);
	switch (op->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		jute_put_buf(out, op->path);
		jute_put_buf(out, op->data);
		if (op->acl.raw_len)
			jute_put_raw(out, op->acl.raw, op->acl.raw_len);
		else
			jute_put_int(out, 0);
		jute_put_long(out, op->ephemeral_owner);
		jute_put_int(out, op->parent_cversion);
		break;
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		jute_put_buf(out, op->path);
		break;
	case ZK_OP_SETDATA:
		jute_put_buf(out, op->path);
		jute_put_buf(out, op->data);
		jute_put_int(out, op->version);
		break;
	case ZK_OP_SETACL:
		jute_put_buf(out, op->path);
		if (op->acl.raw_len)
			jute_put_raw(out, op->acl.raw, op->acl.raw_len);
		else
			jute_put_int(out, 0);
		jute_put_int(out, op->version);
		break;
	case ZK_OP_CHECK:
		jute_put_buf(out, op->path);
		jute_put_int(out, op->version);
		break;
	case ZK_OP_ERROR:
		jute_put_int(out, op->err);
		break;
	default:
		out->err = -EINVAL;
		break;
	}
}

/* format, session, cxid, zxid: where tree_txn_encode puts the time */
#define TXN_TIME_OFF (1 + 8 + 4 + 8)

int tree_txn_time(const void *buf, size_t len, int64_t *time)
{
	const uint8_t *p = buf;

	if (len < TXN_TIME_OFF + 8 || p[0] != TREE_TXN_FORMAT)
		return -EBADMSG;
	*time = (int64_t)jute_be64(p + TXN_TIME_OFF);
	return 0;
}

void tree_txn_encode(const struct tree_txn *txn, struct jute_out *out)
{
	uint8_t *fmt = jute_out_reserve(out, 1);

	if (fmt)
		*fmt = TREE_TXN_FORMAT;
	jute_put_long(out, txn->session);
	jute_put_int(out, txn->cxid);
	jute_put_long(out, txn->zxid);
	jute_put_long(out, txn->time);
	jute_put_int(out, txn->type);
	switch (txn->type) {
	case ZK_OP_CREATESESSION:
		jute_put_int(out, txn->timeout);
		break;
	case ZK_OP_CLOSESESSION:
		jute_put_int(out, (int32_t)txn->nops);
		for (uint32_t i = 0; i < txn->nops; i++)
			jute_put_buf(out, txn->ops[i].path);
		break;
	case ZK_OP_MULTI:
		jute_put_int(out, (int32_t)txn->nops);
		for (uint32_t i = 0; i < txn->nops; i++)
			encode_op(&txn->ops[i], out);
		break;
	default:
		if (txn->nops != 1 || txn->ops[0].type != txn->type) {
			out->err = -EINVAL;
			return;
		}
		encode_op(&txn->ops[0], out);
		break;
	}
}

/*
 * A path in a record: present, absolute, no longer than the data limit
 * or TREE_PATH_MAX (what the store holds; a jute.maxbuffer of 512 MiB
 * or more lets a longer one through the first bound).
 */
static struct jute_buf get_path(struct jute_in *in, uint32_t max)
{
	struct jute_buf p = jute_get_buffer(in, max);

	if (!in->err && p.len > 0 && (uint32_t)p.len > TREE_PATH_MAX) {
		log_error("tree: txn path of %d bytes, above the limit of %u", p.len,
			  TREE_PATH_MAX);
		jute_in_fail(in);
	} else if (!in->err && (p.len < 1 || p.p[0] != '/')) {
		jute_in_fail(in);
	}
	return p;
}

static void get_acl(struct jute_in *in, struct jute_acl_list *acl, uint32_t max)
{
	if (jute_get_acl_list(in, acl, max) == 0 && acl->count < 0)
		jute_in_fail(in); /* a txn always carries a list */
}

static void decode_op(struct jute_in *in, uint32_t max, bool in_multi, struct tree_op *op)
{
	memset(op, 0, sizeof(*op));
	op->type = jute_get_int(in);
	switch (op->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		op->path = get_path(in, max);
		op->data = jute_get_buffer(in, max);
		get_acl(in, &op->acl, max);
		op->ephemeral_owner = jute_get_long(in);
		op->parent_cversion = jute_get_int(in);
		break;
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		op->path = get_path(in, max);
		break;
	case ZK_OP_SETDATA:
		op->path = get_path(in, max);
		op->data = jute_get_buffer(in, max);
		op->version = jute_get_int(in);
		break;
	case ZK_OP_SETACL:
		if (in_multi)
			jute_in_fail(in); /* ZooKeeper's multi admits no setACL */
		op->path = get_path(in, max);
		get_acl(in, &op->acl, max);
		op->version = jute_get_int(in);
		break;
	case ZK_OP_CHECK:
		op->path = get_path(in, max);
		op->version = jute_get_int(in);
		break;
	case ZK_OP_ERROR:
		op->err = jute_get_int(in);
		break;
	default:
		jute_in_fail(in);
		break;
	}
}

int tree_txn_decode(const void *buf, size_t len, uint32_t max_data, struct tree_txn *txn)
{
	struct jute_in in;
	int32_t n;

	memset(txn, 0, sizeof(*txn));
	if (len < 1 || *(const uint8_t *)buf != TREE_TXN_FORMAT)
		return -EBADMSG;
	jute_in_init(&in, (const uint8_t *)buf + 1, len - 1);
	txn->session = jute_get_long(&in);
	txn->cxid = jute_get_int(&in);
	txn->zxid = jute_get_long(&in);
	txn->time = jute_get_long(&in);
	txn->type = jute_get_int(&in);
	if (in.err)
		return -EBADMSG;
	switch (txn->type) {
	case ZK_OP_CREATESESSION:
		txn->timeout = jute_get_int(&in);
		break;
	case ZK_OP_CLOSESESSION:
	case ZK_OP_MULTI:
		/* An op is at least 4 bytes, a path at least 5. */
		n = jute_get_vector_len(&in, 4);
		if (in.err || n < 0)
			return -EBADMSG;
		if (n > 0) {
			txn->ops = calloc((size_t)n, sizeof(*txn->ops));
			if (!txn->ops)
				return -ENOMEM;
		}
		txn->nops = (uint32_t)n;
		for (int32_t i = 0; i < n && !in.err; i++) {
			if (txn->type == ZK_OP_MULTI) {
				decode_op(&in, max_data, true, &txn->ops[i]);
			} else {
				txn->ops[i].type = ZK_OP_DELETE;
				txn->ops[i].path = get_path(&in, max_data);
			}
		}
		break;
	default:
		txn->ops = &txn->inline_op;
		txn->nops = 1;
		decode_op(&in, max_data, false, txn->ops);
		if (!in.err && txn->ops->type != txn->type)
			jute_in_fail(&in);
		break;
	}
	if (!in.err && jute_in_left(&in) != 0)
		jute_in_fail(&in); /* a record is exactly its fields */
	if (in.err) {
		tree_txn_release(txn);
		return -EBADMSG;
	}
	return 0;
}

void tree_txn_release(struct tree_txn *txn)
{
	if (txn->ops && txn->ops != &txn->inline_op)
		free(txn->ops);
	txn->ops = NULL;
	txn->nops = 0;
}
