/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the config tests: load a zoo.cfg held in a string
 * (named "zoo.cfg" in messages), finalize it, look at errors and warnings.
 */
#ifndef CHEETAH_TESTS_CONFIG_HELPERS_H
#define CHEETAH_TESTS_CONFIG_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

/* Two lines every standalone test config needs; keys under test start at line 3. */
#define BASE "dataDir=/var/lib/zookeeper\nclientPort=2181\n"

/* Defaults + text + finalize; returns the first failure. */
static inline int parse(struct cfg *c, const char *text, struct cfg_error *err)
{
	int ret;

	err->msg[0] = '\0';
	cr_assert_eq(cfg_defaults(c), 0);
	ret = cfg_load_string(c, "zoo.cfg", text, err);
	if (!ret)
		ret = cfg_finalize(c, err);
	return ret;
}

/* Parses text that must be valid. */
static inline void parse_ok(struct cfg *c, const char *text)
{
	struct cfg_error err;
	int ret = parse(c, text, &err);

	cr_assert_eq(ret, 0, "unexpected error %d: %s\n--- config:\n%s", ret, err.msg, text);
}

/* Parses text that must fail with exactly msg. */
static inline void parse_fails(const char *text, const char *msg)
{
	struct cfg_error err;
	struct cfg c;
	int ret = parse(&c, text, &err);

	cr_assert_eq(ret, -EINVAL, "expected -EINVAL for:\n%s\ngot %d", text, ret);
	cr_assert_str_eq(err.msg, msg);
	cfg_free(&c);
}

/* Number of warnings containing substr. */
static inline size_t count_warnings(const struct cfg *c, const char *substr)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_warnings; i++)
		n += strstr(c->warnings[i], substr) != NULL;
	return n;
}

/* The warnings, one per line, for assertion messages. */
static inline const char *all_warnings(const struct cfg *c)
{
	static char buf[8192];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n_warnings && len < sizeof(buf) - 1; i++) {
		int n = snprintf(buf + len, sizeof(buf) - len, "%s\n", c->warnings[i]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
	return buf;
}

/* Prints c into a malloc'ed string. */
static inline char *print_to_string(const struct cfg *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	cr_assert_not_null(fp);
	cfg_print(c, fp);
	fclose(fp);
	return buf;
}

/* The value printed for key ("key=value" line), or NULL; caller frees. */
static inline char *printed_value(const struct cfg *c, const char *key)
{
	char *text = print_to_string(c), *line, *save = NULL, *found = NULL;
	size_t klen = strlen(key);

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
			found = strdup(line + klen + 1);
			break;
		}
	}
	free(text);
	return found;
}

#endif
