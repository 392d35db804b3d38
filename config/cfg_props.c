/* SPDX-License-Identifier: Apache-2.0 */
/*
 * java.util.Properties text format, as Properties.load(InputStream) reads
 * it and ZooKeeper's QuorumPeerConfig then trims it.
 *
 * A natural line ends at \n, \r or \r\n.  Blanks are ' ', '\t' and '\f'.
 * A logical line starts at the first non-blank character; blank lines are
 * skipped.  A line ending in an odd number of backslashes continues on the
 * next natural line, whose leading blanks are dropped.  While nothing has
 * been collected for a logical line (also after a continuation of a lone
 * backslash), a '#' or '!' makes the rest of the natural line a comment;
 * comments never continue.  This is Java 9+'s LineReader, the one ZooKeeper
 * 3.8 runs on; test_props_java.sh checks it against the JDK.
 * The key runs to the first unescaped '=', ':' or blank; then blanks, at
 * most one '=' or ':', and blanks again are skipped; the rest is the
 * value.  Escapes in both: \t \n \r \f, \uXXXX (exactly four hex digits,
 * else "Malformed \uxxxx encoding"), and backslash before any other
 * character stands for that character.  ZooKeeper then applies
 * String.trim() (every character <= ' ') to key and value.
 *
 * Bytes are kept as they are.  Java reads the stream as ISO-8859-1 and
 * would turn UTF-8 paths into mojibake; keeping bytes is what a user means.
 * \uXXXX escapes (with surrogate pairs) are written as UTF-8, as Java does
 * when the string becomes a file name; a lone surrogate becomes '?' like
 * Java's encoder.  NUL, which C strings cannot carry, is refused.
 *
 * Pure function of its input; no global state; any thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"

struct strbuf {
	char *p;
	size_t len;
	size_t cap;
};

static int sb_put(struct strbuf *b, char ch)
{
	if (b->len + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;
		char *p = realloc(b->p, cap);

		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	b->p[b->len++] = ch;
	b->p[b->len] = '\0';
	return 0;
}

/* Empties b, allocating it if needed so b->p is a valid string. */
static int sb_reset(struct strbuf *b)
{
	if (!b->p && sb_put(b, 'x'))
		return -ENOMEM;
	b->len = 0;
	b->p[0] = '\0';
	return 0;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\f';
}

char *cfg_java_trim(char *s)
{
	size_t n;

	while (*s && (unsigned char)*s <= ' ')
		s++;
	n = strlen(s);
	while (n > 0 && (unsigned char)s[n - 1] <= ' ')
		s[--n] = '\0';
	return s;
}

static int put_utf8(struct strbuf *b, unsigned cp)
{
	int ret = 0;

	if (cp < 0x80) {
		ret |= sb_put(b, (char)cp);
	} else if (cp < 0x800) {
		ret |= sb_put(b, (char)(0xc0 | cp >> 6));
		ret |= sb_put(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		ret |= sb_put(b, (char)(0xe0 | cp >> 12));
		ret |= sb_put(b, (char)(0x80 | (cp >> 6 & 0x3f)));
		ret |= sb_put(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		ret |= sb_put(b, (char)(0xf0 | cp >> 18));
		ret |= sb_put(b, (char)(0x80 | (cp >> 12 & 0x3f)));
		ret |= sb_put(b, (char)(0x80 | (cp >> 6 & 0x3f)));
		ret |= sb_put(b, (char)(0x80 | (cp & 0x3f)));
	}
	return ret ? -ENOMEM : 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Reads "\uXXXX" at in[*i] (the backslash); -EINVAL if malformed. */
static int read_u_escape(const char *in, size_t end, size_t *i, unsigned *out)
{
	unsigned v = 0;

	if (*i + 6 > end || in[*i] != '\\' || in[*i + 1] != 'u')
		return -EINVAL;
	for (size_t k = *i + 2; k < *i + 6; k++) {
		int h = hexval(in[k]);

		if (h < 0)
			return -EINVAL;
		v = v << 4 | (unsigned)h;
	}
	*i += 6;
	*out = v;
	return 0;
}

/* Properties.loadConvert() on in[0..end) into out (cleared first). */
static int load_convert(const char *in, size_t end, struct strbuf *out, const char **reason)
{
	size_t i = 0;
	int ret;

	if (sb_reset(out))
		return -ENOMEM;
	while (i < end) {
		char ch = in[i];

		if (ch != '\\') {
			if (sb_put(out, ch))
				return -ENOMEM;
			i++;
			continue;
		}
		if (i + 1 >= end) {
			/* A lone trailing backslash escapes nothing. */
			i++;
			continue;
		}
		ch = in[i + 1];
		if (ch == 'u') {
			unsigned cp, lo;

			if (read_u_escape(in, end, &i, &cp)) {
				*reason = "malformed \\uxxxx encoding";
				return -EINVAL;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				size_t j = i;

				if (read_u_escape(in, end, &j, &lo) == 0 && lo >= 0xdc00 &&
				    lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					i = j;
				} else {
					cp = '?';
				}
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				cp = '?';
			}
			if (cp == 0) {
				*reason = "NUL character (\\u0000) in a key or value";
				return -EINVAL;
			}
			ret = put_utf8(out, cp);
			if (ret)
				return ret;
			continue;
		}
		switch (ch) {
		case 't':
			ch = '\t';
			break;
		case 'r':
			ch = '\r';
			break;
		case 'n':
			ch = '\n';
			break;
		case 'f':
			ch = '\f';
			break;
		default:
			break;
		}
		if (sb_put(out, ch))
			return -ENOMEM;
		i += 2;
	}
	return 0;
}

/*
 * Splits one logical line as Properties.load0() does and hands key and
 * value to fn.
 */
static int emit(const char *line, size_t limit, unsigned lineno, struct strbuf *kb,
		struct strbuf *vb, cfg_prop_fn fn, void *arg, struct cfg_prop_err *perr)
{
	size_t key_len = 0, value_start = limit;
	bool has_sep = false, backslash = false;
	const char *reason = NULL;
	int ret;

	while (key_len < limit) {
		char ch = line[key_len];

		if ((ch == '=' || ch == ':') && !backslash) {
			value_start = key_len + 1;
			has_sep = true;
			break;
		} else if (is_blank(ch) && !backslash) {
			value_start = key_len + 1;
			break;
		}
		backslash = ch == '\\' ? !backslash : false;
		key_len++;
	}
	while (value_start < limit) {
		char ch = line[value_start];

		if (!is_blank(ch)) {
			if (!has_sep && (ch == '=' || ch == ':'))
				has_sep = true;
			else
				break;
		}
		value_start++;
	}
	ret = load_convert(line, key_len, kb, &reason);
	if (!ret)
		ret = load_convert(line + value_start, limit - value_start, vb, &reason);
	if (ret == -EINVAL) {
		perr->line = lineno;
		perr->reason = reason;
		return ret;
	}
	if (ret)
		return ret;
	return fn(arg, cfg_java_trim(kb->p), cfg_java_trim(vb->p), lineno);
}

/* The input, with the line number of the next byte. */
struct input {
	const char *buf;
	size_t len;
	size_t off;
	unsigned line;
};

/* Reads one byte; counts \n, and \r not followed by \n, as line ends. */
static char next_byte(struct input *in)
{
	char ch = in->buf[in->off++];

	if (ch == '\n' || (ch == '\r' && (in->off >= in->len || in->buf[in->off] != '\n')))
		in->line++;
	return ch;
}

/*
 * Properties.LineReader.readLine() (Java 9 and later, which ZooKeeper 3.8
 * runs on): collects one logical line into *line, its first line number
 * into *start.  Returns 1 with a line (possibly empty: a lone backslash
 * before the end of the input still makes one, as in Java), 0 at the end.
 */
static int read_logical_line(struct input *in, struct strbuf *line, unsigned *start)
{
	bool skip_blank = true, appended = false, backslash = false;
	char ch;

	line->len = 0;
	line->p[0] = '\0';
	for (;;) {
		if (in->off >= in->len) {
			if (line->len == 0)
				return 0;
			if (backslash)
				line->p[--line->len] = '\0';
			return 1;
		}
		if (line->len == 0)
			*start = in->line;
		ch = next_byte(in);
		if (skip_blank) {
			if (is_blank(ch))
				continue;
			if (!appended && (ch == '\r' || ch == '\n'))
				continue;
			skip_blank = false;
			appended = false;
		}
		if (line->len == 0 && (ch == '#' || ch == '!')) {
			/* A comment runs to the end of its natural line. */
			while (in->off < in->len) {
				ch = next_byte(in);
				if (ch == '\r' || ch == '\n')
					break;
			}
			if (in->off >= in->len && ch != '\r' && ch != '\n')
				return 0;
			skip_blank = true;
			continue;
		}
		if (ch != '\n' && ch != '\r') {
			if (sb_put(line, ch))
				return -ENOMEM;
			backslash = ch == '\\' ? !backslash : false;
			continue;
		}
		/* End of a natural line. */
		if (line->len == 0) {
			skip_blank = true;
			continue;
		}
		if (in->off >= in->len || !backslash) {
			if (backslash)
				line->p[--line->len] = '\0';
			return 1;
		}
		/* Continuation: drop the backslash, skip the next line's blanks. */
		line->p[--line->len] = '\0';
		skip_blank = true;
		appended = true;
		backslash = false;
		if (ch == '\r' && in->off < in->len && in->buf[in->off] == '\n')
			next_byte(in);
	}
}

int cfg_props_parse(const char *buf, size_t len, cfg_prop_fn fn, void *arg,
		    struct cfg_prop_err *perr)
{
	struct strbuf line = {0}, kb = {0}, vb = {0};
	struct input in = {buf, len, 0, 1};
	const char *nul = memchr(buf, '\0', len);
	unsigned start = 1;
	int ret;

	if (nul) {
		perr->line = 1;
		for (const char *p = buf; p < nul; p++)
			perr->line += *p == '\n';
		perr->reason = "NUL byte in the file";
		return -EINVAL;
	}
	if (sb_reset(&line))
		return -ENOMEM;
	while ((ret = read_logical_line(&in, &line, &start)) == 1) {
		ret = emit(line.p, line.len, start, &kb, &vb, fn, arg, perr);
		if (ret)
			break;
	}
	free(line.p);
	free(kb.p);
	free(vb.p);
	return ret;
}
