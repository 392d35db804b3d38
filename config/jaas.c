/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A JAAS login configuration file (the one java.security.auth.login.config
 * names), read the way the JDK's default Configuration reads it
 * (sun.security.provider.ConfigFile), strictly:
 *
 *     Server {
 *         org.apache.zookeeper.server.auth.DigestLoginModule required
 *             user_bob="bobsecret"
 *             user_kafka="kafkasecret";
 *         com.sun.security.auth.module.Krb5LoginModule required
 *             useKeyTab=true keyTab="/etc/zk.keytab"
 *             principal="zookeeper/host.example.com@EXAMPLE.COM";
 *     };
 *
 * A section is NAME { entries } ; and an entry is CLASS FLAG options ;
 * where FLAG is required, requisite, sufficient or optional (any case, as
 * the JDK) and each option is key=value, the value a word or a string in
 * double quotes (backslash escapes \\ \" \n \t \r as Java's
 * StreamTokenizer reads them).  Comments are // to the end of the line
 * and slash-star ... star-slash.  Words are made of letters, digits and
 * . _ $ * - (what the JDK's tokenizer joins into one word token).
 *
 * Where the JDK is lenient or goes further, this parser refuses with
 * "file:line: message" rather than guess: a NUL byte, an unterminated
 * string or comment, ${...} property expansion in a value (the JDK
 * expands system properties there; Cheetah has none to expand), a
 * section given twice (the JDK refuses that too).  An option given twice
 * in one entry keeps the last value (a HashMap, as in the JDK).
 *
 * Start-up only, single thread; no I/O besides reading the file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"

/* Files larger than this are not JAAS configurations. */
#define JAAS_MAX_FILE (1u << 20)

struct lexer {
	const char *name; /* for messages */
	const char *p, *end;
	unsigned line;
	struct cfg_error *err;
};

enum tok { T_EOF, T_WORD, T_STRING, T_LBRACE, T_RBRACE, T_SEMI, T_EQ, T_ERR };

struct token {
	enum tok kind;
	char *text; /* T_WORD, T_STRING: owned by the caller once returned */
	unsigned line;
};

static int lex_err(struct lexer *lx, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lex_err(struct lexer *lx, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!lx->err)
		return -EINVAL;
	n = snprintf(lx->err->msg, sizeof(lx->err->msg), "%s:%u: ", lx->name, line);
	if (n < 0 || (size_t)n >= sizeof(lx->err->msg))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(lx->err->msg + n, sizeof(lx->err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '$' || c == '*' || c == '-' || (unsigned char)c >= 0x80;
}

/* Skips blanks and comments.  0 or -EINVAL (an unterminated comment). */
static int skip_space(struct lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;

		if (c == '\n') {
			lx->line++;
			lx->p++;
		} else if ((unsigned char)c <= ' ' && c != '\0') {
			lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '/') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
			unsigned start = lx->line;

			lx->p += 2;
			while (lx->p + 1 < lx->end && !(lx->p[0] == '*' && lx->p[1] == '/')) {
				if (*lx->p == '\n')
					lx->line++;
				lx->p++;
			}
			if (lx->p + 1 >= lx->end)
				return lex_err(lx, start, "unterminated /* comment");
			lx->p += 2;
		} else {
			break;
		}
	}
	return 0;
}

/* The next token; tok->text is malloc'd for words and strings. */
static int next(struct lexer *lx, struct token *t)
{
	const char *s;
	char *buf;
	size_t n = 0;
	int rc = skip_space(lx);

	memset(t, 0, sizeof(*t));
	if (rc)
		return rc;
	t->line = lx->line;
	if (lx->p >= lx->end) {
		t->kind = T_EOF;
		return 0;
	}
	switch (*lx->p) {
	case '{':
		lx->p++;
		t->kind = T_LBRACE;
		return 0;
	case '}':
		lx->p++;
		t->kind = T_RBRACE;
		return 0;
	case ';':
		lx->p++;
		t->kind = T_SEMI;
		return 0;
	case '=':
		lx->p++;
		t->kind = T_EQ;
		return 0;
	case '\0':
		return lex_err(lx, lx->line, "NUL byte in the file");
	case '"':
		s = ++lx->p;
		buf = malloc((size_t)(lx->end - s) + 1);
		if (!buf)
			return -ENOMEM;
		for (;;) {
			if (lx->p >= lx->end || *lx->p == '\n') {
				free(buf);
				return lex_err(lx, t->line, "unterminated string");
			}
			if (*lx->p == '\0') {
				free(buf);
				return lex_err(lx, lx->line, "NUL byte in a string");
			}
			if (*lx->p == '"')
				break;
			if (*lx->p == '\\' && lx->p + 1 < lx->end) {
				char e = lx->p[1];

				lx->p += 2;
				buf[n++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
				continue;
			}
			buf[n++] = *lx->p++;
		}
		lx->p++;
		buf[n] = '\0';
		t->kind = T_STRING;
		t->text = buf;
		return 0;
	default:
		break;
	}
	if (!word_char(*lx->p)) {
		if ((unsigned char)*lx->p >= 0x20 && (unsigned char)*lx->p < 0x7f)
			return lex_err(lx, lx->line, "unexpected character '%c'", *lx->p);
		return lex_err(lx, lx->line, "unexpected byte 0x%02x", (unsigned char)*lx->p);
	}
	s = lx->p;
	while (lx->p < lx->end && word_char(*lx->p))
		lx->p++;
	t->text = strndup(s, (size_t)(lx->p - s));
	if (!t->text)
		return -ENOMEM;
	t->kind = T_WORD;
	return 0;
}

static const char *tok_name(const struct token *t)
{
	switch (t->kind) {
	case T_EOF:
		return "the end of the file";
	case T_WORD:
		return t->text;
	case T_STRING:
		return "a quoted string";
	case T_LBRACE:
		return "'{'";
	case T_RBRACE:
		return "'}'";
	case T_SEMI:
		return "';'";
	case T_EQ:
		return "'='";
	default:
		return "?";
	}
}

static int parse_flag(const char *w, enum cfg_jaas_flag *out)
{
	static const char *const names[] = {"required", "requisite", "sufficient", "optional"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(w, names[i]) == 0) {
			*out = (enum cfg_jaas_flag)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void entry_free(struct cfg_jaas_entry *e)
{
	for (size_t i = 0; i < e->n_options; i++) {
		free(e->options[i].key);
		/* Values may be passwords (user_<name>): gone with their use. */
		explicit_bzero(e->options[i].value, strlen(e->options[i].value));
		free(e->options[i].value);
	}
	free(e->options);
	free(e->module);
}

static void section_free(struct cfg_jaas_section *s)
{
	for (size_t i = 0; i < s->n_entries; i++)
		entry_free(&s->entries[i]);
	free(s->entries);
	free(s->name);
}

/* Sets key = value in e (takes both strings; the last value wins). */
static int add_option(struct cfg_jaas_entry *e, char *key, char *value)
{
	struct cfg_jaas_option *o;

	for (size_t i = 0; i < e->n_options; i++) {
		if (strcmp(e->options[i].key, key) == 0) {
			explicit_bzero(e->options[i].value, strlen(e->options[i].value));
			free(e->options[i].value);
			e->options[i].value = value;
			free(key);
			return 0;
		}
	}
	o = realloc(e->options, (e->n_options + 1) * sizeof(*o));
	if (!o) {
		free(key);
		free(value);
		return -ENOMEM;
	}
	e->options = o;
	o[e->n_options++] = (struct cfg_jaas_option){key, value};
	return 0;
}

/* CLASS FLAG options ; -- the class word already read into first. */
static int parse_entry(struct lexer *lx, struct token *first, struct cfg_jaas_entry *e)
{
	struct token t, v;
	int rc;

	memset(e, 0, sizeof(*e));
	e->module = first->text;
	first->text = NULL;
	rc = next(lx, &t);
	if (rc)
		return rc;
	if (t.kind != T_WORD || parse_flag(t.text, &e->flag)) {
		rc = lex_err(lx, t.line,
			     "expected a control flag (required, requisite, sufficient, optional) "
			     "after %s, got %s",
			     e->module, tok_name(&t));
		free(t.text);
		return rc;
	}
	free(t.text);
	for (;;) {
		rc = next(lx, &t);
		if (rc)
			return rc;
		if (t.kind == T_SEMI)
			return 0;
		if (t.kind != T_WORD) {
			rc = lex_err(lx, t.line,
				     "expected an option name or ';' in the entry of %s, got %s",
				     e->module, tok_name(&t));
			free(t.text);
			return rc;
		}
		rc = next(lx, &v);
		if (!rc && v.kind != T_EQ)
			rc = lex_err(lx, v.line, "expected '=' after option %s, got %s", t.text,
				     tok_name(&v));
		free(v.text);
		if (!rc)
			rc = next(lx, &v);
		if (!rc && v.kind != T_WORD && v.kind != T_STRING)
			rc = lex_err(lx, v.line, "expected a value for option %s, got %s", t.text,
				     tok_name(&v));
		if (!rc && strstr(v.text, "${"))
			rc = lex_err(
			    lx, v.line,
			    "option %s: ${...} property expansion is not supported by Cheetah; "
			    "write the value out",
			    t.text);
		if (rc) {
			free(t.text);
			free(v.text);
			return rc;
		}
		rc = add_option(e, t.text, v.text);
		if (rc)
			return rc;
	}
}

int cfg_jaas_parse(const char *name, const char *text, size_t len, struct cfg_jaas *out,
		   struct cfg_error *err)
{
	struct lexer lx = {name, text, text + len, 1, err};
	struct cfg_jaas j = {0};
	struct token t;
	int rc;

	for (;;) {
		struct cfg_jaas_section sec = {0}, *ns;

		rc = next(&lx, &t);
		if (rc)
			goto fail;
		if (t.kind == T_EOF)
			break;
		if (t.kind != T_WORD) {
			rc = lex_err(&lx, t.line, "expected a section name, got %s", tok_name(&t));
			free(t.text);
			goto fail;
		}
		if (cfg_jaas_find(&j, t.text)) {
			rc = lex_err(&lx, t.line, "section %s is given twice", t.text);
			free(t.text);
			goto fail;
		}
		sec.name = t.text;
		rc = next(&lx, &t);
		if (!rc && t.kind != T_LBRACE)
			rc = lex_err(&lx, t.line, "expected '{' after section name %s, got %s",
				     sec.name, tok_name(&t));
		free(t.text);
		while (!rc) {
			struct cfg_jaas_entry *ne;

			rc = next(&lx, &t);
			if (rc)
				break;
			if (t.kind == T_RBRACE)
				break;
			if (t.kind != T_WORD) {
				rc = lex_err(
				    &lx, t.line,
				    "expected a login module class or '}' in section %s, got %s",
				    sec.name, tok_name(&t));
				free(t.text);
				break;
			}
			ne = realloc(sec.entries, (sec.n_entries + 1) * sizeof(*ne));
			if (!ne) {
				free(t.text);
				rc = -ENOMEM;
				break;
			}
			sec.entries = ne;
			rc = parse_entry(&lx, &t, &ne[sec.n_entries]);
			free(t.text);
			sec.n_entries++; /* freed with the section even when half parsed */
		}
		if (!rc && !sec.n_entries)
			rc = lex_err(&lx, t.line, "section %s has no login module", sec.name);
		if (!rc) {
			rc = next(&lx, &t);
			if (!rc && t.kind != T_SEMI)
				rc = lex_err(&lx, t.line,
					     "expected ';' after the '}' of section %s, got %s",
					     sec.name, tok_name(&t));
			free(t.text);
		}
		if (!rc) {
			ns = realloc(j.sections, (j.n_sections + 1) * sizeof(*ns));
			if (!ns)
				rc = -ENOMEM;
			else
				j.sections = ns;
		}
		if (rc) {
			section_free(&sec);
			goto fail;
		}
		j.sections[j.n_sections++] = sec;
	}
	*out = j;
	return 0;
fail:
	cfg_jaas_free(&j);
	if (rc == -ENOMEM && err)
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", name);
	return rc;
}

int cfg_jaas_load(const char *path, struct cfg_jaas *out, struct cfg_error *err)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;
	size_t n;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "%s: cannot open the JAAS file: %s", path,
			 strerror(-rc));
		return rc;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > JAAS_MAX_FILE) {
		snprintf(err->msg, sizeof(err->msg), "%s: not a regular file of at most %u bytes",
			 path, JAAS_MAX_FILE);
		fclose(f);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		rc = -EIO;
		snprintf(err->msg, sizeof(err->msg), "%s: read error", path);
	} else {
		rc = cfg_jaas_parse(path, buf, n, out, err);
	}
	fclose(f);
	free(buf);
	return rc;
}

const struct cfg_jaas_section *cfg_jaas_find(const struct cfg_jaas *j, const char *name)
{
	for (size_t i = 0; i < j->n_sections; i++)
		if (strcmp(j->sections[i].name, name) == 0)
			return &j->sections[i];
	return NULL;
}

const char *cfg_jaas_option(const struct cfg_jaas_entry *e, const char *key)
{
	for (size_t i = 0; i < e->n_options; i++)
		if (strcmp(e->options[i].key, key) == 0)
			return e->options[i].value;
	return NULL;
}

void cfg_jaas_free(struct cfg_jaas *j)
{
	for (size_t i = 0; i < j->n_sections; i++)
		section_free(&j->sections[i]);
	free(j->sections);
	memset(j, 0, sizeof(*j));
}
