/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ZooKeeper wire codec, part 4: the records other records embed, Stat
 * (in replies and multi results), CreateRequest (alone and in a multi)
 * and the ACL list it carries, used by requests (proto.c), lists and
 * multis (proto_list.c) and replies (proto_reply.c) alike.  Kept apart
 * so that those files call this one and never each other in a circle.
 *
 * Same rules as proto.c: bounds-checked views, no allocation, any thread.
 */
#include "proto_priv.h"

#include <string.h>

/* ---- Stat ---- */

int proto_get_stat(struct jute_in *in, struct zk_stat *st)
{
	if (jute_in_left(in) < PROTO_STAT_SIZE) {
		memset(st, 0, sizeof(*st));
		return jute_in_fail(in);
	}
	st->czxid = jute_get_long(in);
	st->mzxid = jute_get_long(in);
	st->ctime = jute_get_long(in);
	st->mtime = jute_get_long(in);
	st->version = jute_get_int(in);
	st->cversion = jute_get_int(in);
	st->aversion = jute_get_int(in);
	st->ephemeral_owner = jute_get_long(in);
	st->data_length = jute_get_int(in);
	st->num_children = jute_get_int(in);
	st->pzxid = jute_get_long(in);
	return in->err;
}

void proto_put_stat(struct jute_out *out, const struct zk_stat *st)
{
	uint8_t *p = jute_out_reserve(out, PROTO_STAT_SIZE);

	if (p)
		proto_stat_write(p, st);
}

/* ---- CreateRequest and its ACL list ---- */

int proto_get_create(struct jute_in *in, struct proto_create_req *c, bool ttl)
{
	c->path = proto_get_str(in);
	c->data = proto_get_str(in);
	if (jute_get_acl_list(in, &c->acl, PROTO_FIELD_MAX))
		return in->err;
	c->flags = jute_get_int(in);
	c->ttl = ttl ? jute_get_long(in) : 0;
	return in->err;
}

void proto_put_create(struct jute_out *out, const struct proto_create_req *c, bool ttl)
{
	jute_put_buf(out, c->path);
	jute_put_buf(out, c->data);
	proto_put_acl_list(out, &c->acl);
	jute_put_int(out, c->flags);
	if (ttl)
		jute_put_long(out, c->ttl);
}

void proto_put_acl_list(struct jute_out *out, const struct jute_acl_list *acl)
{
	proto_put_raw_list(out, NULL, acl->raw, acl->raw_len, acl->count);
}
