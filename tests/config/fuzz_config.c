// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the zoo.cfg reader: any input either fails with a
 * message or gives a configuration whose printed form loads back to the
 * same printed form.  dynamicConfigFile is dropped before cfg_finalize()
 * so the fuzzer never makes the parser open files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loads text and finalizes it; returns the printed form or NULL. */
static char *load_and_print(const char *text)
{
	struct cfg_error err;
	struct cfg c;
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	if (cfg_defaults(&c))
		return NULL;
	if (cfg_load_string(&c, "fuzz.cfg", text, &err) == 0) {
		free(c.dynamic_config_file);
		c.dynamic_config_file = NULL;
		if (cfg_finalize(&c, &err) == 0) {
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *first, *second;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	first = load_and_print(text);
	if (first) {
		second = load_and_print(first);
		if (!second || strcmp(first, second) != 0) {
			fprintf(stderr,
				"printed configuration does not load back the same:\n%s\n---\n%s\n",
				first, second ? second : "(failed)");
			abort();
		}
		free(second);
	}
	free(first);
	free(text);
	return 0;
}
