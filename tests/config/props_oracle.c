// SPDX-License-Identifier: Apache-2.0
/*
 * Helper for test_props_java.sh, which checks cfg_props_parse() against
 * java.util.Properties itself (PropsDump.java):
 *
 *   props_oracle gen DIR COUNT SEED   writes COUNT random files into DIR
 *   props_oracle dump FILE...         prints them as PropsDump.java does
 *
 * The random files are made of the pieces that matter to the syntax:
 * separators, blanks, comment marks, line ends of all three kinds,
 * backslashes before line ends and before other characters, \uXXXX, and
 * Latin-1 bytes.  No piece can form a \u escape of a non-ASCII character
 * or of NUL, where Cheetah deliberately differs (UTF-8; refusal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_priv.h"

static const char *const pieces[] = {
    "a",    "k",      "key",	  "val ue", "1",	"=",   ":",    " ",	  "\t",	     "\f",
    "\n",   "\r",     "\r\n",	  "#",	    "!",	"\\",  "\\\\", "\\u0041", "\\u007a", "\\t",
    "\\n",  "\\r",    "\\f",	  "\\ ",    "\\=",	"\\:", "\\#",  "\\!",	  "\\x",     "\\\n",
    "\\\r", "\\\r\n", " \\\n   ", "\\\n#",  "\n#x\\\n", "\n!", "\x80", "\xe9",
};

struct kv {
	char *k;
	char *v;
};

static struct kv kvs[4096];
static int n_kvs;

static void put_escaped(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static int collect(void *arg, const char *k, const char *v, unsigned line)
{
	(void)arg;
	(void)line;
	for (int i = 0; i < n_kvs; i++) {
		if (strcmp(kvs[i].k, k) == 0) {
			free(kvs[i].v);
			kvs[i].v = strdup(v);
			return 0;
		}
	}
	if (n_kvs == (int)(sizeof(kvs) / sizeof(kvs[0])))
		return -1;
	kvs[n_kvs].k = strdup(k);
	kvs[n_kvs].v = strdup(v);
	n_kvs++;
	return 0;
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

static int dump(const char *path)
{
	static char buf[1 << 16];
	struct cfg_prop_err perr;
	FILE *fp = fopen(path, "rb");
	size_t len;
	int ret;

	if (!fp) {
		perror(path);
		return 1;
	}
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	printf("== %s\n", path);
	n_kvs = 0;
	ret = cfg_props_parse(buf, len, collect, NULL, &perr);
	if (ret == 0)
		qsort(kvs, (size_t)n_kvs, sizeof(kvs[0]), cmp_kv);
	else
		printf("ERR\n");
	for (int i = 0; i < n_kvs; i++) {
		if (ret == 0) {
			printf("[");
			put_escaped(kvs[i].k);
			printf("]=[");
			put_escaped(kvs[i].v);
			printf("]\n");
		}
		free(kvs[i].k);
		free(kvs[i].v);
	}
	return 0;
}

static int gen(const char *dir, int count, unsigned seed)
{
	srand(seed);
	for (int i = 0; i < count; i++) {
		char path[4096];
		FILE *fp;
		int n = rand() % 60;

		snprintf(path, sizeof(path), "%s/%05d", dir, i);
		fp = fopen(path, "wb");
		if (!fp) {
			perror(path);
			return 1;
		}
		while (n--)
			fputs(pieces[rand() % (int)(sizeof(pieces) / sizeof(pieces[0]))], fp);
		fclose(fp);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int ret = 0;

	if (argc == 5 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], atoi(argv[3]), (unsigned)atoi(argv[4]));
	if (argc >= 2 && strcmp(argv[1], "dump") == 0) {
		for (int i = 2; i < argc; i++)
			ret |= dump(argv[i]);
		return ret;
	}
	fprintf(stderr, "usage: %s gen DIR COUNT SEED | dump FILE...\n", argv[0]);
	return 2;
}
