/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cheetah server's entry point: command line → configuration → (with
 * the server) tree, replication, dataplane.  Only the configuration exists
 * so far, so the program validates it, prints the effective settings and
 * says plainly that the server is not built yet.
 *
 * Exit status: 0 for --check-config, --version and --help; 1 when asked to
 * serve (not built yet); 2 for a usage error or an invalid configuration,
 * whose message names the file and line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config/config.h"
#include "dataplane/dp.h"

#define EXIT_USAGE 2

static void usage(FILE *fp)
{
	fprintf(fp, "usage: cheetah [--config FILE] [--set key=value ...] [--check-config]\n"
		    "       cheetah --version | --help\n"
		    "\n"
		    "  --config FILE    a ZooKeeper zoo.cfg (default: built-in standalone\n"
		    "                   configuration on 127.0.0.1:2181, data in ./data)\n"
		    "  --set key=value  override one setting after the file; repeatable\n"
		    "  --check-config   validate, print the effective settings, exit\n"
		    "  --version        print the version and the DPDK release built against\n"
		    "  --help           print this help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
	    {"check-config", no_argument, NULL, 'k'}, {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL;
	bool check_only = false;
	struct cfg_error err = {""};
	struct cfg cfg;
	char **sets;
	int n_sets = 0, opt, ret;

	sets = calloc((size_t)argc, sizeof(*sets));
	if (!sets) {
		fprintf(stderr, "cheetah: out of memory\n");
		return 1;
	}
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 's':
			sets[n_sets++] = optarg;
			break;
		case 'k':
			check_only = true;
			break;
		case 'V':
			printf("cheetah %s\n%s\n", cfg_version(), dp_dpdk_version());
			free(sets);
			return 0;
		case 'h':
			usage(stdout);
			free(sets);
			return 0;
		case ':':
			fprintf(stderr, "cheetah: %s needs an argument\n", argv[optind - 1]);
			usage(stderr);
			free(sets);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "cheetah: unknown option %s\n", argv[optind - 1]);
			usage(stderr);
			free(sets);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cheetah: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		free(sets);
		return EXIT_USAGE;
	}

	ret = cfg_defaults(&cfg);
	if (!ret)
		ret = config_path ? cfg_load_file(&cfg, config_path, &err)
				  : cfg_load_builtin(&cfg, &err);
	for (int i = 0; !ret && i < n_sets; i++)
		ret = cfg_set(&cfg, sets[i], &err);
	if (!ret)
		ret = cfg_finalize(&cfg, &err);
	free(sets);
	log_set_level(cfg.log_level);
	cfg_log_warnings(&cfg);
	if (ret) {
		if (ret == -ENOMEM)
			fprintf(stderr, "cheetah: out of memory\n");
		else
			fprintf(stderr, "%s\n", err.msg);
		cfg_free(&cfg);
		return ret == -ENOMEM ? 1 : EXIT_USAGE;
	}

	cfg_print(&cfg, stdout);
	fflush(stdout);
	cfg_free(&cfg);
	if (check_only)
		return 0;
	fprintf(stderr, "cheetah: the configuration is valid, but the server itself is not built "
			"yet; nothing is served\n");
	return 1;
}
