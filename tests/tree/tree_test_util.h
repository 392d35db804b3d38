/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for the tree unit tests: building ACL lists and transactions,
 * applying them, reading Stat back.  Header-only, test code only.
 */
#ifndef CHEETAH_TESTS_TREE_TEST_UTIL_H
#define CHEETAH_TESTS_TREE_TEST_UTIL_H

#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>

#include "tree/tree.h"

/* An ACL list with one entry, in a static buffer per call site slot. */
struct test_acl {
	uint8_t buf[256];
	struct jute_acl_list list;
};

static inline void test_acl_make(struct test_acl *a, int32_t perms, const char *scheme,
				 const char *id)
{
	struct jute_out o;
	struct jute_in in;

	jute_out_init_fixed(&o, a->buf, sizeof(a->buf));
	jute_put_int(&o, 1);
	jute_put_int(&o, perms);
	jute_put_string(&o, scheme);
	jute_put_string(&o, id);
	cr_assert_eq(o.err, 0);
	jute_in_init(&in, a->buf, o.len);
	cr_assert_eq(jute_get_acl_list(&in, &a->list, 1024), 0);
}

static inline struct jute_buf test_buf(const char *s)
{
	return (struct jute_buf){ (const uint8_t *)s, s ? (int32_t)strlen(s) : -1 };
}

/* A one-op transaction; ops points at the inline storage. */
static inline void test_txn(struct tree_txn *txn, int32_t type, int64_t zxid)
{
	memset(txn, 0, sizeof(*txn));
	txn->type = type;
	txn->zxid = zxid;
	txn->time = 1000 + zxid;
	txn->session = 0x100;
	txn->nops = 1;
	txn->ops = &txn->inline_op;
	txn->inline_op.type = type;
}

/*
 * A path of len bytes ("/a" then NUL bytes) in an anonymous mapping that
 * reserves no memory: pages never written read as the zero page, so a
 * path above TREE_PATH_MAX (512 MiB) costs only what is touched.  Unmap
 * with munmap(p, len).
 */
static inline char *test_long_path(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	cr_assert_neq(p, MAP_FAILED, "mmap of %zu bytes (no reserve) failed", len);
	p[0] = '/';
	p[1] = 'a';
	return p;
}

#endif
