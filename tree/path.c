/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ZooKeeper's PathUtils.validatePath, applied to the UTF-8 bytes a client
 * sent.  ZooKeeper decodes the bytes to UTF-16 first and then checks
 * chars, so:
 *  - malformed UTF-8 becomes U+FFFD, which the rules reject;
 *  - any code point above U+FFFF becomes a surrogate pair, which the
 *    rules reject (U+D800..U+F8FF);
 *  - the structural characters '/', '.' and NUL are ASCII in both.
 * Any thread; no state.
 */
#include "tree_priv.h"

/* Decodes one code point at p (n bytes left); returns its length, or 0 if malformed. */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0];
	size_t len;
	uint32_t min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static bool char_invalid(uint32_t c)
{
	return (c > 0x00 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) ||
	       (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff) || c > 0xffff;
}

enum zk_err tree_validate_path(const char *path, size_t len, bool sequential)
{
	const uint8_t *p = (const uint8_t *)path;
	/* A sequential path is validated as if its suffix were there ("1"). */
	size_t total = len + (sequential ? 1 : 0);
	uint8_t last = '/';

	if (!path || len == 0 || p[0] != '/')
		return ZK_BADARGUMENTS;
	/* The node header holds 29 bits of length; a sequential path gets 10 digits. */
	if (len > TREE_PATH_MAX - (sequential ? 10 : 0))
		return ZK_BADARGUMENTS;
	if (total == 1)
		return ZK_OK;
	if (!sequential && p[len - 1] == '/')
		return ZK_BADARGUMENTS;
	for (size_t i = 1; i < len;) {
		uint8_t c = p[i];

		/* Printable ASCII but '/' and '.': most bytes of most paths. */
		if (c >= 0x20 && c < 0x7f && c != '/' && c != '.') {
			last = c;
			i++;
			continue;
		}
		if (c == 0)
			return ZK_BADARGUMENTS;
		if (c == '/' && last == '/')
			return ZK_BADARGUMENTS; /* empty node name */
		if (c == '.') {
			bool comp_end = i + 1 == total || (i + 1 < len && p[i + 1] == '/');

			if (comp_end && p[i - 1] == '/')
				return ZK_BADARGUMENTS; /* "." */
			if (comp_end && last == '.' && p[i - 2] == '/')
				return ZK_BADARGUMENTS; /* ".." */
		} else if (c >= 0x80 || char_invalid(c)) {
			uint32_t cp;
			size_t n = utf8_next(p + i, len - i, &cp);
			if (!n || char_invalid(cp))
				return ZK_BADARGUMENTS;
			last = 0; /* a non-ASCII char is neither '/' nor '.' */
			i += n;
			continue;
		}
		last = c;
		i++;
	}
	return ZK_OK;
}
