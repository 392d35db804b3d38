// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the zoo.cfg reader: any input either fails with a
 * message or gives a configuration whose printed form loads back to the
 * same printed form.  dynamicConfigFile is dropped before cfg_finalize()
 * so the fuzzer never makes the parser open files.
 *
 * On a broken round trip the target says why before it aborts, on stderr
 * (which the config / fuzz test leaves open: nothing else here writes to
 * it): the error the printed form gave when loaded again, or the first
 * line where the two printed forms differ, then both forms whole.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Loads text and finalizes it; returns the printed form, or NULL with the
 * reason in err->msg ("" when memory ran out).
 */
static char *load_and_print(const char *text, struct cfg_error *err)
{
	struct cfg c;
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	err->msg[0] = '\0';
	if (cfg_defaults(&c))
		return NULL;
	if (cfg_load_string(&c, "fuzz.cfg", text, err) == 0) {
		free(c.dynamic_config_file);
		c.dynamic_config_file = NULL;
		if (cfg_finalize(&c, err) == 0) {
			fp = open_memstream(&out, &len);
			if (fp) {
				cfg_print(&c, fp);
				fclose(fp);
			}
		}
	}
	cfg_free(&c);
	return out;
}

/* Prints the first line where a and b differ, with its number. */
static void first_difference(const char *a, const char *b)
{
	unsigned line = 1;
	size_t i = 0, start = 0;

	while (a[i] && a[i] == b[i]) {
		if (a[i] == '\n') {
			line++;
			start = i + 1;
		}
		i++;
	}
	fprintf(stderr, "first difference at line %u:\n< %.*s\n> %.*s\n", line,
		(int)strcspn(a + start, "\n"), a + start, (int)strcspn(b + start, "\n"), b + start);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *first, *second;
	struct cfg_error err;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	first = load_and_print(text, &err);
	if (first) {
		second = load_and_print(first, &err);
		if (!second || strcmp(first, second) != 0) {
			fprintf(stderr, "fuzz_config: the printed configuration does not load back "
					"the same\n");
			if (!second)
				fprintf(stderr, "loading it again failed: %s\n",
					err.msg[0] ? err.msg : "(out of memory)");
			else
				first_difference(first, second);
			fprintf(stderr,
				"---- first printed form\n%s---- second printed form\n%s----\n",
				first, second ? second : "(none)\n");
			fflush(stderr);
			abort();
		}
		free(second);
	}
	free(first);
	free(text);
	return 0;
}
