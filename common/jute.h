/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Jute primitives: the big-endian serialisation ZooKeeper uses on the wire
 * (BinaryInputArchive / BinaryOutputArchive) and that Cheetah reuses for its
 * own transaction records and snapshots.
 *
 *   int     4 bytes big-endian          long   8 bytes big-endian
 *   boolean 1 byte (0 = false)          buffer int length + bytes (-1 = null)
 *   ustring as buffer, UTF-8            vector int count + elements (-1 = null)
 *
 * Readers never copy: a buffer or string comes back as a view into the
 * input.  Errors are sticky: after the first short read or bad length every
 * getter returns zero/empty and jute_in.err stays -EBADMSG, so a record
 * decoder reads all its fields and checks err once at the end.
 *
 * No locks, no global state; safe from any thread on distinct objects.
 */
#ifndef CHEETAH_COMMON_JUTE_H
#define CHEETAH_COMMON_JUTE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A view of a jute buffer or ustring.  len == -1 means null (p == NULL). */
struct jute_buf {
	const uint8_t *p;
	int32_t len;
};

struct jute_in {
	const uint8_t *p;
	const uint8_t *end;
	int err; /* 0, or -EBADMSG once anything failed */
};

static inline void jute_in_init(struct jute_in *in, const void *buf, size_t len)
{
	in->p = buf;
	in->end = in->p + len;
	in->err = 0;
}

static inline size_t jute_in_left(const struct jute_in *in)
{
	return (size_t)(in->end - in->p);
}

/* Marks the stream bad; returns the error for tail calls. */
static inline int jute_in_fail(struct jute_in *in)
{
	in->err = -EBADMSG;
	in->p = in->end;
	return in->err;
}

static inline uint32_t jute_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t jute_be64(const uint8_t *p)
{
	return (uint64_t)jute_be32(p) << 32 | jute_be32(p + 4);
}

static inline void jute_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static inline void jute_put_be64(uint8_t *p, uint64_t v)
{
	jute_put_be32(p, v >> 32);
	jute_put_be32(p + 4, (uint32_t)v);
}

static inline int32_t jute_get_int(struct jute_in *in)
{
	if (jute_in_left(in) < 4) {
		jute_in_fail(in);
		return 0;
	}
	int32_t v = (int32_t)jute_be32(in->p);
	in->p += 4;
	return v;
}

static inline int64_t jute_get_long(struct jute_in *in)
{
	if (jute_in_left(in) < 8) {
		jute_in_fail(in);
		return 0;
	}
	int64_t v = (int64_t)jute_be64(in->p);
	in->p += 8;
	return v;
}

static inline bool jute_get_bool(struct jute_in *in)
{
	if (jute_in_left(in) < 1) {
		jute_in_fail(in);
		return false;
	}
	return *in->p++ != 0;
}

/*
 * Reads a buffer or ustring.  A length of -1 gives a null view; any other
 * negative length, a length above max, or one past the end of the input
 * fails the stream.
 */
static inline struct jute_buf jute_get_buffer(struct jute_in *in, uint32_t max)
{
	struct jute_buf b = { NULL, -1 };
	int32_t len = jute_get_int(in);

	if (in->err || len == -1)
		return b;
	if (len < 0 || (uint32_t)len > max || (size_t)len > jute_in_left(in)) {
		jute_in_fail(in);
		return b;
	}
	b.p = in->p;
	b.len = len;
	in->p += len;
	return b;
}

/*
 * Reads a vector count.  Each element occupies at least min_elem bytes, so a
 * count that cannot fit in what is left fails the stream (this bounds any
 * allocation a caller makes from the count).  -1 (null vector) is returned
 * as -1; the caller decides whether it treats it as empty.
 */
static inline int32_t jute_get_vector_len(struct jute_in *in, uint32_t min_elem)
{
	int32_t n = jute_get_int(in);

	if (in->err || n == -1)
		return n;
	if (n < 0 || (uint64_t)n * (min_elem ? min_elem : 1) > jute_in_left(in)) {
		jute_in_fail(in);
		return 0;
	}
	return n;
}

/* True when the view equals the NUL-terminated string s. */
static inline bool jute_buf_eq(struct jute_buf b, const char *s)
{
	size_t n = strlen(s);
	return b.len >= 0 && (size_t)b.len == n && memcmp(b.p, s, n) == 0;
}

/*
 * Output.  A growable buffer (jute_out_init) reallocates as needed; a fixed
 * one (jute_out_init_fixed) sets err = -ENOSPC instead of overflowing.
 * Errors are sticky like the reader's.
 */
struct jute_out {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;
	bool fixed;
};

void jute_out_init(struct jute_out *out, size_t initial_cap);
void jute_out_init_fixed(struct jute_out *out, void *buf, size_t cap);
/* Frees a growable buffer's memory; no-op on a fixed one. */
void jute_out_free(struct jute_out *out);
/*
 * Makes room for n more bytes; returns a pointer to them (already counted
 * in len) or NULL after setting err.
 */
uint8_t *jute_out_reserve(struct jute_out *out, size_t n);
/*
 * Appends printf-formatted text (no NUL), whatever its length; a failure
 * is recorded in out->err like any other write.  For the four-letter
 * words' text answers, not for jute records.
 */
void jute_out_printf(struct jute_out *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void jute_put_int(struct jute_out *out, int32_t v)
{
	uint8_t *p = jute_out_reserve(out, 4);
	if (p)
		jute_put_be32(p, (uint32_t)v);
}

static inline void jute_put_long(struct jute_out *out, int64_t v)
{
	uint8_t *p = jute_out_reserve(out, 8);
	if (p)
		jute_put_be64(p, (uint64_t)v);
}

static inline void jute_put_bool(struct jute_out *out, bool v)
{
	uint8_t *p = jute_out_reserve(out, 1);
	if (p)
		*p = v ? 1 : 0;
}

static inline void jute_put_raw(struct jute_out *out, const void *data, size_t n)
{
	uint8_t *p = jute_out_reserve(out, n);
	if (p && n)
		memcpy(p, data, n);
}

/* Writes a buffer; data == NULL with len -1 writes the null buffer. */
static inline void jute_put_buffer(struct jute_out *out, const void *data, int32_t len)
{
	if (len < 0 || !data) {
		jute_put_int(out, -1);
		return;
	}
	jute_put_int(out, len);
	jute_put_raw(out, data, (size_t)len);
}

static inline void jute_put_buf(struct jute_out *out, struct jute_buf b)
{
	jute_put_buffer(out, b.p, b.len);
}

static inline void jute_put_string(struct jute_out *out, const char *s)
{
	if (!s) {
		jute_put_int(out, -1);
		return;
	}
	jute_put_buffer(out, s, (int32_t)strlen(s));
}

/*
 * ACL lists (vector<org.apache.zookeeper.data.ACL>): int count, then per
 * entry int perms, ustring scheme, ustring id.  Cheetah keeps ACL lists in
 * exactly this encoding everywhere (requests, transactions, the tree's ACL
 * table, snapshots), so a getACL reply is a copy of stored bytes.
 */
struct jute_acl {
	int32_t perms;
	struct jute_buf scheme;
	struct jute_buf id;
};

/* A validated ACL list: raw covers the count and every entry. */
struct jute_acl_list {
	const uint8_t *raw;
	uint32_t raw_len;
	int32_t count; /* -1 when the wire carried a null vector */
};

/*
 * Reads and validates an ACL list (every entry's lengths checked; a null
 * scheme or id is kept as a null view, as ZooKeeper's decoder keeps it:
 * prep's fixupACL judges it).  Returns 0 or -EBADMSG.
 */
int jute_get_acl_list(struct jute_in *in, struct jute_acl_list *out, uint32_t max_str);

/* Iterates entries of a list returned by jute_get_acl_list. */
struct jute_acl_iter {
	struct jute_in in;
	int32_t left;
};

void jute_acl_iter_init(struct jute_acl_iter *it, const struct jute_acl_list *l);
/* Returns true and fills *acl while entries remain. */
bool jute_acl_next(struct jute_acl_iter *it, struct jute_acl *acl);

#endif
