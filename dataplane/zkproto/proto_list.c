/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ZooKeeper wire codec, part 3: everything with a count: vector<ustring>,
 * vector<ClientInfo>, ACL lists from entries, and the two variable-length
 * sequences of a multi (MultiOperationRecord, MultiResponse).
 *
 * Decoding validates a whole list once and keeps only a raw view plus its
 * count; iterators re-read the view later without any checks failing
 * (the view was validated) and without allocating.  A multi is a sequence
 * of MultiHeader {type, done, err} + record pairs ended by a header with
 * done set.  As in MultiOperationRecord.deserialize: a header with done
 * ends the sequence whatever its type and err; an operation type without
 * a record layout, or read operations (getChildren, getData) mixed with
 * write ones (Op.OpKind), make the record malformed.  MultiResponse
 * .deserialize likewise accepts create, create2, delete, setData, check,
 * getChildren, getData and error results.
 *
 * Encoding copies a decoded (raw) sequence as it is, or writes items with
 * MultiHeader {type, false, -1} before each operation (as the Java, C and
 * Python clients all do) and {type, false, err} before each result; then
 * the done marker {-1, true, -1}, which is what every client and
 * ZooKeeper write.
 *
 * Same rules as proto.c: bounds-checked views, no allocation, any thread.
 */
#include "proto_priv.h"

/*
 * Validates a counted list whose items are strs_per_item strings each (a
 * vector<ustring> or vector<ClientInfo>) and describes it as a raw view:
 * count is the jute count (-1 for a null vector), raw_len the bytes taken.
 * On error the view is empty and in->err is returned.
 */
static int get_str_items(struct jute_in *in, int32_t strs_per_item, const uint8_t **raw,
			 uint32_t *raw_len, int32_t *count)
{
	const uint8_t *start = in->p;
	int32_t n = jute_get_vector_len(in, 4 * strs_per_item);

	*raw = start;
	*raw_len = 0;
	*count = 0;
	if (in->err)
		return in->err;
	for (int32_t i = 0; i < n; i++) {
		for (int32_t k = 0; k < strs_per_item; k++)
			proto_get_str(in);
		if (in->err)
			return in->err;
	}
	*raw_len = (uint32_t)(in->p - start);
	*count = n;
	return 0;
}

/*
 * Starts an iterator over a list held either as items or as a validated raw
 * view; count_prefixed says whether the view opens with the jute count
 * (vectors) or not (a multi's header sequence).
 */
static void iter_start(struct proto_iter *it, const void *items, const uint8_t *raw,
		       uint32_t raw_len, int32_t count, bool count_prefixed)
{
	jute_in_init(&it->in, raw, raw ? raw_len : 0);
	it->items = items;
	it->idx = 0;
	it->count = count;
	if (!items && count_prefixed)
		jute_get_int(&it->in);
}

/*
 * Writes a multi's sequence that is held as a raw view (not as items), then
 * the done marker; returns false when the caller must write the items.
 */
static bool put_raw_multi(struct jute_out *out, const void *items, const uint8_t *raw,
			  uint32_t raw_len, int32_t count)
{
	if (items)
		return false;
	if (count > 0 && !raw)
		proto_out_fail(out, -EINVAL);
	else if (raw_len)
		jute_put_raw(out, raw, raw_len);
	proto_put_multi_end(out);
	return true;
}

/* ---- vector<ustring> ---- */

int proto_get_str_list(struct jute_in *in, struct proto_str_list *l)
{
	l->items = NULL;
	return get_str_items(in, 1, &l->raw, &l->raw_len, &l->count);
}

void proto_put_str_list(struct jute_out *out, const struct proto_str_list *l)
{
	if (proto_put_raw_list(out, l->items, l->raw, l->raw_len, l->count))
		return;
	jute_put_int(out, l->count);
	for (int32_t i = 0; i < l->count; i++)
		jute_put_buf(out, l->items[i]);
}

void proto_str_iter(struct proto_iter *it, const struct proto_str_list *l)
{
	iter_start(it, l->items, l->raw, l->raw_len, l->count, true);
}

bool proto_str_next(struct proto_iter *it, struct jute_buf *s)
{
	if (it->idx >= it->count)
		return false;
	if (it->items) {
		*s = ((const struct jute_buf *)it->items)[it->idx++];
		return true;
	}
	*s = proto_get_str(&it->in);
	it->idx++;
	return it->in.err == 0;
}

/* ---- vector<ClientInfo> ---- */

int proto_get_client_info_list(struct jute_in *in, struct proto_client_info_list *l)
{
	l->items = NULL;
	return get_str_items(in, 2, &l->raw, &l->raw_len, &l->count);
}

void proto_put_client_info_list(struct jute_out *out, const struct proto_client_info_list *l)
{
	if (proto_put_raw_list(out, l->items, l->raw, l->raw_len, l->count))
		return;
	jute_put_int(out, l->count);
	for (int32_t i = 0; i < l->count; i++) {
		jute_put_buf(out, l->items[i].auth_scheme);
		jute_put_buf(out, l->items[i].user);
	}
}

void proto_client_info_iter(struct proto_iter *it, const struct proto_client_info_list *l)
{
	iter_start(it, l->items, l->raw, l->raw_len, l->count, true);
}

bool proto_client_info_next(struct proto_iter *it, struct proto_client_info *ci)
{
	if (it->idx >= it->count)
		return false;
	if (it->items) {
		*ci = ((const struct proto_client_info *)it->items)[it->idx++];
		return true;
	}
	ci->auth_scheme = proto_get_str(&it->in);
	ci->user = proto_get_str(&it->in);
	it->idx++;
	return it->in.err == 0;
}

/* ---- ACL lists ---- */

void proto_put_acl_entries(struct jute_out *out, const struct jute_acl *acls, int32_t count)
{
	if (count <= 0) {
		jute_put_int(out, count < 0 ? -1 : 0);
		return;
	}
	if (!acls) {
		proto_out_fail(out, -EINVAL);
		return;
	}
	jute_put_int(out, count);
	for (int32_t i = 0; i < count; i++) {
		jute_put_int(out, acls[i].perms);
		jute_put_buf(out, acls[i].scheme);
		jute_put_buf(out, acls[i].id);
	}
}

/* ---- multi: operations ---- */

enum op_kind { KIND_NONE, KIND_WRITE, KIND_READ };

/* Reads the record of a multi operation; returns its kind or 0 on error. */
static enum op_kind get_multi_op(struct jute_in *in, struct proto_multi_op *op)
{
	switch (op->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		proto_get_create(in, &op->create, op->type == ZK_OP_CREATETTL);
		return in->err ? KIND_NONE : KIND_WRITE;
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		op->path_version.path = proto_get_str(in);
		op->path_version.version = jute_get_int(in);
		return in->err ? KIND_NONE : KIND_WRITE;
	case ZK_OP_SETDATA:
		op->set_data.path = proto_get_str(in);
		op->set_data.data = proto_get_str(in);
		op->set_data.version = jute_get_int(in);
		return in->err ? KIND_NONE : KIND_WRITE;
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETDATA:
		op->path_watch.path = proto_get_str(in);
		op->path_watch.watch = jute_get_bool(in);
		return in->err ? KIND_NONE : KIND_READ;
	default:
		/* MultiOperationRecord: "Invalid type of op" */
		jute_in_fail(in);
		return KIND_NONE;
	}
}

/* Reads a MultiHeader; returns true when it is the done marker. */
static bool get_multi_hdr(struct jute_in *in, int32_t *type, int32_t *err)
{
	*type = jute_get_int(in);
	bool done = jute_get_bool(in);
	*err = jute_get_int(in);
	return done;
}

int proto_get_multi_req(struct jute_in *in, struct proto_multi_req *m)
{
	const uint8_t *start = in->p;
	enum op_kind kind = KIND_NONE;
	int32_t n = 0;

	m->items = NULL;
	m->raw = start;
	m->raw_len = 0;
	m->count = 0;
	for (;;) {
		const uint8_t *at = in->p;
		struct proto_multi_op op;
		int32_t err;

		bool done = get_multi_hdr(in, &op.type, &err);
		if (in->err)
			return in->err;
		if (done) {
			m->raw_len = (uint32_t)(at - start);
			m->count = n;
			return 0;
		}
		enum op_kind k = get_multi_op(in, &op);
		if (k == KIND_NONE)
			return in->err;
		/* MultiOperationRecord: "Mixing different kind of ops" */
		if (kind != KIND_NONE && k != kind)
			return jute_in_fail(in);
		kind = k;
		n++; /* every op takes >= 9 bytes, so n cannot overflow */
	}
}

void proto_put_multi_op(struct jute_out *out, const struct proto_multi_op *op)
{
	jute_put_int(out, op->type);
	jute_put_bool(out, false);
	jute_put_int(out, -1);
	switch (op->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		proto_put_create(out, &op->create, op->type == ZK_OP_CREATETTL);
		break;
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		jute_put_buf(out, op->path_version.path);
		jute_put_int(out, op->path_version.version);
		break;
	case ZK_OP_SETDATA:
		jute_put_buf(out, op->set_data.path);
		jute_put_buf(out, op->set_data.data);
		jute_put_int(out, op->set_data.version);
		break;
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETDATA:
		jute_put_buf(out, op->path_watch.path);
		jute_put_bool(out, op->path_watch.watch);
		break;
	default:
		proto_out_fail(out, -EINVAL);
		break;
	}
}

void proto_put_multi_end(struct jute_out *out)
{
	jute_put_int(out, -1);
	jute_put_bool(out, true);
	jute_put_int(out, -1);
}

void proto_multi_iter(struct proto_iter *it, const struct proto_multi_req *m)
{
	iter_start(it, m->items, m->raw, m->raw_len, m->count, false);
}

bool proto_multi_next(struct proto_iter *it, struct proto_multi_op *op)
{
	int32_t err;

	if (it->idx >= it->count)
		return false;
	if (it->items) {
		*op = ((const struct proto_multi_op *)it->items)[it->idx++];
		return true;
	}
	if (get_multi_hdr(&it->in, &op->type, &err) || it->in.err)
		return false;
	if (get_multi_op(&it->in, op) == KIND_NONE)
		return false;
	it->idx++;
	return true;
}

int proto_multi_ops(const struct proto_multi_req *m, struct proto_multi_op *ops, uint32_t max)
{
	struct proto_iter it;
	uint32_t n = 0;

	if (m->count > 0 && (uint32_t)m->count > max)
		return -ENOSPC;
	proto_multi_iter(&it, m);
	while (n < max && proto_multi_next(&it, &ops[n]))
		n++;
	return (int)n;
}

void proto_put_multi_req(struct jute_out *out, const struct proto_multi_req *m)
{
	struct proto_iter it;
	struct proto_multi_op op;

	if (put_raw_multi(out, m->items, m->raw, m->raw_len, m->count))
		return;
	proto_multi_iter(&it, m);
	while (proto_multi_next(&it, &op))
		proto_put_multi_op(out, &op);
	proto_put_multi_end(out);
}

/* ---- multi: results ---- */

static int get_multi_result(struct jute_in *in, struct proto_multi_result *r)
{
	switch (r->type) {
	case ZK_OP_CREATE:
		r->path = proto_get_str(in);
		break;
	case ZK_OP_CREATE2:
		r->path_stat.path = proto_get_str(in);
		proto_get_stat(in, &r->path_stat.stat);
		break;
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		break;
	case ZK_OP_SETDATA:
		proto_get_stat(in, &r->stat);
		break;
	case ZK_OP_GETCHILDREN:
		proto_get_str_list(in, &r->children);
		break;
	case ZK_OP_GETDATA:
		r->data_stat.data = proto_get_str(in);
		proto_get_stat(in, &r->data_stat.stat);
		break;
	case ZK_OP_ERROR:
		r->error = jute_get_int(in);
		break;
	default:
		/* MultiResponse: "Invalid type ... in MultiResponse" */
		return jute_in_fail(in);
	}
	return in->err;
}

int proto_get_multi_resp(struct jute_in *in, struct proto_multi_resp *m)
{
	const uint8_t *start = in->p;
	int32_t n = 0;

	m->items = NULL;
	m->raw = start;
	m->raw_len = 0;
	m->count = 0;
	for (;;) {
		const uint8_t *at = in->p;
		struct proto_multi_result r;

		bool done = get_multi_hdr(in, &r.type, &r.err);
		if (in->err)
			return in->err;
		if (done) {
			m->raw_len = (uint32_t)(at - start);
			m->count = n;
			return 0;
		}
		if (get_multi_result(in, &r))
			return in->err;
		if (n == INT32_MAX)
			return jute_in_fail(in);
		n++;
	}
}

void proto_put_multi_result(struct jute_out *out, const struct proto_multi_result *r)
{
	jute_put_int(out, r->type);
	jute_put_bool(out, false);
	jute_put_int(out, r->err);
	switch (r->type) {
	case ZK_OP_CREATE:
		jute_put_buf(out, r->path);
		break;
	case ZK_OP_CREATE2:
		jute_put_buf(out, r->path_stat.path);
		proto_put_stat(out, &r->path_stat.stat);
		break;
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		break;
	case ZK_OP_SETDATA:
		proto_put_stat(out, &r->stat);
		break;
	case ZK_OP_GETCHILDREN:
		proto_put_str_list(out, &r->children);
		break;
	case ZK_OP_GETDATA:
		jute_put_buf(out, r->data_stat.data);
		proto_put_stat(out, &r->data_stat.stat);
		break;
	case ZK_OP_ERROR:
		jute_put_int(out, r->error);
		break;
	default:
		proto_out_fail(out, -EINVAL);
		break;
	}
}

void proto_result_iter(struct proto_iter *it, const struct proto_multi_resp *m)
{
	iter_start(it, m->items, m->raw, m->raw_len, m->count, false);
}

bool proto_result_next(struct proto_iter *it, struct proto_multi_result *r)
{
	if (it->idx >= it->count)
		return false;
	if (it->items) {
		*r = ((const struct proto_multi_result *)it->items)[it->idx++];
		return true;
	}
	if (get_multi_hdr(&it->in, &r->type, &r->err) || it->in.err)
		return false;
	if (get_multi_result(&it->in, r))
		return false;
	it->idx++;
	return true;
}

void proto_put_multi_resp(struct jute_out *out, const struct proto_multi_resp *m)
{
	struct proto_iter it;
	struct proto_multi_result r;

	if (put_raw_multi(out, m->items, m->raw, m->raw_len, m->count))
		return;
	proto_result_iter(&it, m);
	while (proto_result_next(&it, &r))
		proto_put_multi_result(out, &r);
	proto_put_multi_end(out);
}
