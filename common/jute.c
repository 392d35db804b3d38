/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Out-of-line parts of the jute primitives: the growable output buffer and
 * ACL list validation.  See jute.h for the format.
 */
#include "jute.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void jute_out_init(struct jute_out *out, size_t initial_cap)
{
	out->buf = NULL;
	out->len = 0;
	out->cap = 0;
	out->err = 0;
	out->fixed = false;
	if (initial_cap) {
		out->buf = malloc(initial_cap);
		if (out->buf)
			out->cap = initial_cap;
		else
			out->err = -ENOMEM;
	}
}

void jute_out_init_fixed(struct jute_out *out, void *buf, size_t cap)
{
	out->buf = buf;
	out->len = 0;
	out->cap = cap;
	out->err = 0;
	out->fixed = true;
}

void jute_out_free(struct jute_out *out)
{
	if (!out->fixed)
		free(out->buf);
	out->buf = NULL;
	out->len = out->cap = 0;
}

uint8_t *jute_out_reserve(struct jute_out *out, size_t n)
{
	if (out->err)
		return NULL;
	if (n > out->cap - out->len) {
		if (out->fixed) {
			out->err = -ENOSPC;
			return NULL;
		}
		size_t want = out->cap ? out->cap : 64;
		while (want - out->len < n) {
			if (want > SIZE_MAX / 2) {
				out->err = -ENOMEM;
				return NULL;
			}
			want *= 2;
		}
		uint8_t *nb = realloc(out->buf, want);
		if (!nb) {
			out->err = -ENOMEM;
			return NULL;
		}
		out->buf = nb;
		out->cap = want;
	}
	uint8_t *p = out->buf + out->len;
	out->len += n;
	return p;
}

int jute_get_acl_list(struct jute_in *in, struct jute_acl_list *out, uint32_t max_str)
{
	const uint8_t *start = in->p;
	/* perms + two length prefixes */
	int32_t n = jute_get_vector_len(in, 12);

	out->raw = start;
	out->raw_len = 0;
	out->count = 0;
	if (in->err)
		return in->err;
	for (int32_t i = 0; i < n; i++) {
		jute_get_int(in);
		/* Null strings are legal jute: kazoo sends CREATOR_ALL_ACL's
		 * empty id as null, and ZooKeeper's fixupACL, not its decoder,
		 * decides what a null means. */
		jute_get_buffer(in, max_str);
		jute_get_buffer(in, max_str);
		if (in->err)
			return in->err;
	}
	out->raw_len = (uint32_t)(in->p - start);
	out->count = n;
	return 0;
}

void jute_acl_iter_init(struct jute_acl_iter *it, const struct jute_acl_list *l)
{
	jute_in_init(&it->in, l->raw, l->raw_len);
	it->left = jute_get_int(&it->in);
}

bool jute_acl_next(struct jute_acl_iter *it, struct jute_acl *acl)
{
	if (it->left <= 0 || it->in.err)
		return false;
	it->left--;
	acl->perms = jute_get_int(&it->in);
	acl->scheme = jute_get_buffer(&it->in, UINT32_MAX);
	acl->id = jute_get_buffer(&it->in, UINT32_MAX);
	return it->in.err == 0;
}

void jute_out_printf(struct jute_out *out, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!out->err)
			out->err = -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		jute_put_raw(out, small, (size_t)n);
		return;
	}
	/* Too long for the stack buffer: format again straight into out. */
	uint8_t *p = jute_out_reserve(out, (size_t)n + 1);
	if (!p)
		return;
	va_start(ap, fmt);
	vsnprintf((char *)p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	out->len--; /* the NUL */
}
