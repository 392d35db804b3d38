// SPDX-License-Identifier: Apache-2.0
/* PathUtils.validatePath on UTF-8, case by case. */
#include "tree_test_util.h"

static enum zk_err check(const char *p, bool seq)
{
	return tree_validate_path(p, strlen(p), seq);
}

Test(tree_path, accepts_ordinary_paths)
{
	const char *ok[] = { "/", "/a", "/a/b/c", "/a.b", "/...", "/.a", "/a.", "/a..b",
			     "/zookeeper", "/with space", "/\xc3\xa9t\xc3\xa9", "/\xe4\xb8\xad",
			     "/a-b_c:d", "/a/.b/c", "/a/b..", "/x/..y/z", "/~!@#$%^&*()" };
	for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert_eq(check(ok[i], false), ZK_OK, "%s", ok[i]);
}

Test(tree_path, rejects_what_zookeeper_rejects)
{
	const char *bad[] = { "", "a", "a/b", "/a/", "//", "/a//b", "/.", "/..", "/a/.", "/a/..",
			      "/./a", "/../a", "/a/./b", "/a/../b", "/a b/./c", "/a\x01", "/a\x1f", "/a\x7f",
			      "/\xc2\x80", /* U+0080 */
			      "/\xc2\x9f", /* U+009F */
			      "/\xed\x9f\xbf\xee\x80\x80", /* U+D7FF ok, then U+E000 private */
			      "/\xef\xbf\xbd", /* U+FFFD */
			      "/\xf0\x9f\x98\x80", /* emoji: a surrogate pair in Java */
			      "/\xc3", /* truncated UTF-8 */
			      "/\xc0\xaf", /* overlong '/' */
			      "/\xff" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(check(bad[i], false), ZK_BADARGUMENTS, "case %u", i);
	cr_assert_eq(tree_validate_path(NULL, 0, false), ZK_BADARGUMENTS);
	cr_assert_eq(tree_validate_path("/a\0b", 4, false), ZK_BADARGUMENTS, "NUL inside");
	cr_assert_eq(check("/\xed\x9f\xbf", false), ZK_OK, "U+D7FF is allowed");
}

Test(tree_path, sequential_paths_may_end_in_slash)
{
	cr_assert_eq(check("/a/", true), ZK_OK);
	cr_assert_eq(check("/a/", false), ZK_BADARGUMENTS);
	cr_assert_eq(check("/a/..", true), ZK_OK, "becomes ..1");
	cr_assert_eq(check("//", true), ZK_BADARGUMENTS);
	cr_assert_eq(check("/", true), ZK_OK);
}

Test(tree_path, rejects_paths_the_store_cannot_hold)
{
	/* The length is checked before any byte past the first is read. */
	cr_assert_eq(tree_validate_path("/a", (size_t)TREE_PATH_MAX + 1, false), ZK_BADARGUMENTS);
	cr_assert_eq(tree_validate_path("/a", (size_t)TREE_PATH_MAX - 9, true), ZK_BADARGUMENTS);
}
