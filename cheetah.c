/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cheetah server's entry point: command line -> configuration ->
 * broadcast core (which recovers the tree from disk) -> dataplane workers
 * -> serve until SIGTERM or SIGINT -> stop the workers, then the core
 * (which fsyncs and closes its log).
 *
 * Signals are blocked before any thread exists, so every thread inherits
 * the mask and only the main thread takes them (sigtimedwait).  The main
 * thread is registered with RCU (repl_open needs it) and goes offline
 * while it waits, so grace periods never wait for it.  Once ready it
 * prints one line to stderr, "cheetah: serving on ADDR:PORT (BACKEND, N
 * workers)", which scripts and integration tests wait for.  A sticky disk
 * error in the core stops the server, as ZooKeeper exits on one.
 *
 * Two offline subcommands share the configuration handling: "cheetah
 * import" (Apache ZooKeeper's data directory -> a Cheetah one) and
 * "cheetah export" (a stopped standalone Cheetah's data -> a ZooKeeper
 * snapshot); the work is migrate/'s, the directory writing repl's
 * (repl_seed_data_dir) and the reading repl_open's own recovery.  They
 * exit 0 on success, 1 on a refused input or I/O error (the message
 * names the file and offset), 2 on a usage error.
 *
 * Exit status: 0 after a signal, and for --check-config, --version and
 * --help; 1 when the server cannot start (port in use, bad data
 * directory, backend not built...) or stops on a disk error; 2 for a
 * usage error or an invalid configuration, whose message names the file
 * and line.
 *
 * Memory given back after spikes (issue 8, item 6).  With jemalloc's
 * defaults a freed page is purged only when its arena allocates again,
 * so a worker that went quiet after one session's million watches kept
 * ~90 MB resident for good.  Background threads (background_thread, up
 * to three on a 2-CPU machine, asleep while nothing is dirty: no
 * measurable CPU at idle) purge dirty pages that stayed unused for about
 * dirty_decay_ms, straight to MADV_DONTNEED (muzzy_decay_ms 0: MADV_FREE
 * pages would still count as resident until the kernel is short of
 * memory).  The first is created at jemalloc's initialisation, on the
 * main thread before any pinned worker exists, and creates the others,
 * so they keep the process's CPU set, never a dataplane core's (seen in
 * /proc: jemalloc_bg_thd 0-1 beside cheetah-dp0 pinned to 1).
 * MALLOC_CONF in the environment still overrides these.  Measured
 * figures: docs/OPERATIONS.md, "Memory".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <urcu-qsbr.h>
#ifdef HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "common/fdlimit.h"
#include "adminserver/adminserver.h"
#include "common/log.h"
#include "common/nsstat.h"
#include "config/config.h"
#include "dataplane/dp.h"
#include "dataplane/dp_stats.h"
#include "metrics/metrics.h"
#include "dataplane/dp_info.h"
#include "migrate/migrate.h"
#include "replication/repl.h"
#include "replication/peer/peer_sasl.h"

#define EXIT_USAGE 2

#ifdef HAVE_JEMALLOC
/* Read by jemalloc at its initialisation; see the opening comment. */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";

/* Logs the allocator's effective purging settings (MALLOC_CONF may differ). */
static void log_allocator(void)
{
	ssize_t dirty = -1, muzzy = -1;
	const char *version = "?";
	bool bg = false;
	size_t sz;

	sz = sizeof(version);
	mallctl("version", &version, &sz, NULL, 0);
	sz = sizeof(bg);
	mallctl("background_thread", &bg, &sz, NULL, 0);
	sz = sizeof(dirty);
	mallctl("arenas.dirty_decay_ms", &dirty, &sz, NULL, 0);
	sz = sizeof(muzzy);
	mallctl("arenas.muzzy_decay_ms", &muzzy, &sz, NULL, 0);
	log_info("memory: jemalloc %.5s, background purging %s, dirty_decay_ms %zd, "
		 "muzzy_decay_ms %zd",
		 version, bg ? "on" : "off", dirty, muzzy);
}
#else
static void log_allocator(void)
{
	log_info("memory: the C library's malloc (built without jemalloc)");
}
#endif

static void usage(FILE *fp)
{
	fprintf(fp, "usage: cheetah [--config FILE] [--set key=value ...] [--check-config]\n"
		    "       cheetah import [--config FILE] [--set key=value ...] [--to DIR]\n"
		    "                      [--allow-torn-tail] ZK_DATA_DIR [ZK_DATALOG_DIR]\n"
		    "       cheetah export [--config FILE] [--set key=value ...] CHEETAH_DATA_DIR\n"
		    "                      OUT_DIR\n"
		    "       cheetah --version | --help\n"
		    "\n"
		    "  --config FILE    a ZooKeeper zoo.cfg (default: built-in standalone\n"
		    "                   configuration on 127.0.0.1:2181, data in ./data)\n"
		    "  --set key=value  override one setting after the file; repeatable\n"
		    "  --check-config   validate, print the effective settings, exit\n"
		    "  --version        print the version and the DPDK release built against\n"
		    "  --help           print this help\n"
		    "\n"
		    "  import           build a Cheetah data directory from Apache ZooKeeper's\n"
		    "                   (3.4-3.9): its newest snapshot plus the logs after it;\n"
		    "                   the target is --to DIR (dataDir and dataLogDir), else\n"
		    "                   the configuration's dataDir/dataLogDir, and must hold no\n"
		    "                   snapshot or log yet; jute.maxbuffer and\n"
		    "                   extendedTypesEnabled come from the configuration\n"
		    "  --allow-torn-tail  accept a record cut short at the end of the newest\n"
		    "                   log (as ZooKeeper does after a crash); refused otherwise\n"
		    "  export           write CHEETAH_DATA_DIR's state (a standalone server's,\n"
		    "                   not running) as OUT_DIR/version-2/snapshot.<zxid>, from\n"
		    "                   which Apache ZooKeeper 3.5+ starts (dataDir=OUT_DIR)\n");
}

/* How often the main thread looks at the core's disk error while waiting. */
#define ERROR_POLL_S 1

/* The AdminServer's data: the dataplane's four-letter word texts (at once, or gathered). */
static int admin_source(void *ctx, const char *word, char **out, size_t *len)
{
	int ret = dp_admin_text(ctx, word, out, len);

	return ret == -ENOENT ? dp_admin_gather_text(ctx, word, out, len) : ret;
}

/* /metrics' figures: the dataplane's structured snapshot. */
static int metrics_source(void *ctx, struct dp_stats *out)
{
	return dp_stats_snapshot(ctx, out);
}

/*
 * The AdminServer's structured data (adminserver.h's struct adm_info_ops):
 * the dataplane's dp_info.h, ctx being the struct dp.
 */
static int info_connections(void *ctx, struct dp_conn_info **out, size_t *n)
{
	return dp_info_connections(ctx, out, n);
}

static int info_sessions(void *ctx, struct repl_sessions **out)
{
	return dp_info_sessions(ctx, out);
}

static int info_ephemerals(void *ctx, int (*fn)(void *, int64_t, const char *, size_t), void *arg)
{
	return dp_info_ephemerals(ctx, fn, arg);
}

static int info_last_snapshot(void *ctx, int64_t *zxid, int64_t *mtime_s)
{
	return dp_info_last_snapshot(ctx, zxid, mtime_s);
}

static size_t info_digests(void *ctx, int64_t *zxids, uint64_t *digests, size_t max)
{
	return dp_info_digests(ctx, zxids, digests, max);
}

static void info_set_trace_mask(void *ctx, int64_t mask)
{
	dp_info_set_trace_mask(ctx, mask);
}

static void info_reset_observers(void *ctx)
{
	dp_info_reset_observers(ctx);
}

static uint32_t info_observers(void *ctx, struct repl_learner_info *out, uint32_t max)
{
	return dp_info_observers(ctx, out, max);
}

static int info_authorize(void *ctx, const char *header, const char *peer_ip, int32_t perm,
			  const char *path)
{
	return dp_info_authorize(ctx, header, peer_ip, perm, path);
}

static int info_snapshot(void *ctx, int fd, int64_t *zxid, bool *consistent)
{
	return dp_info_snapshot(ctx, fd, zxid, consistent);
}

static int info_restore(void *ctx, int fd, int64_t *zxid)
{
	return dp_info_restore(ctx, fd, zxid);
}

static int info_monitor(void *ctx, void (*fn)(void *, const struct dp_mntr_field *), void *arg)
{
	return dp_info_monitor(ctx, fn, arg);
}

static const struct adm_info_ops admin_info = {
    .connections = info_connections,
    .sessions = info_sessions,
    .ephemerals = info_ephemerals,
    .last_snapshot = info_last_snapshot,
    .digests = info_digests,
    .set_trace_mask = info_set_trace_mask,
    .reset_observers = info_reset_observers,
    .observers = info_observers,
    .authorize = info_authorize,
    .snapshot = info_snapshot,
    .restore = info_restore,
    .stats = metrics_source,
    .monitor = info_monitor,
};

static int serve(const struct cfg *cfg)
{
	struct repl *repl = NULL;
	struct adm *adm = NULL;
	struct met *met = NULL;
	struct dp *dp = NULL;
	struct dp_core_read_ctx core_reads = {.cfg = cfg};
	struct nsstat_tab *ns_writes;
	struct nsstat *ns;
	struct timespec poll = { ERROR_POLL_S, 0 };
	sigset_t sigs;
	int ret, sig, status = 0;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* ProviderRegistry and the JAAS login (ServerCnxnFactory.configureSaslLogin). */
	tree_acl_set_sasl(cfg->sasl_provider, cfg->let_any_sasl_user);
	tree_acl_set_x509(cfg->tls.x509_provider);
	{
		char why[512];

		ret = dp_sasl_init(cfg, why, sizeof(why));
		if (ret) {
			fprintf(stderr, "cheetah: %s\n",
				ret == -ENOMEM ? "out of memory setting up SASL" : why);
			return 1;
		}
		/* After the client port's: Cyrus's global options stay its. */
		ret = peer_sasl_init(cfg, why, sizeof(why));
		if (ret) {
			fprintf(stderr, "cheetah: %s\n", why);
			dp_sasl_fini();
			return 1;
		}
	}
	/*
	 * read_per_namespace and write_per_namespace: the registry and the
	 * core's tables (its reads, tree_apply's writes) outlive the core;
	 * each worker adds its read table as it starts.
	 */
	ns = nsstat_new();
	core_reads.reads = ns ? nsstat_tab_new(ns, NSSTAT_READ) : NULL;
	ns_writes = ns ? nsstat_tab_new(ns, NSSTAT_WRITE) : NULL;
	if (!core_reads.reads || !ns_writes) {
		fprintf(stderr, "cheetah: out of memory\n");
		nsstat_free(ns);
		peer_sasl_fini();
		dp_sasl_fini();
		return 1;
	}
	ret = dp_open(cfg, &dp); /* binds first, as ZooKeeper does */
	if (ret) {
		nsstat_free(ns);
		peer_sasl_fini();
		dp_sasl_fini();
		/* -EPROTONOSUPPORT and the dpdk backend's errors said it all. */
		if (ret != -EPROTONOSUPPORT && cfg->dataplane != CFG_DATAPLANE_DPDK)
			fprintf(stderr, "cheetah: cannot serve on %s:%u: %s\n",
				cfg->client_port ? cfg->client_port_address
						 : cfg->tls.secure_client_port_address,
				cfg->client_port ? cfg->client_port : cfg->tls.secure_client_port,
				strerror(-ret));
		return 1;
	}
	dp_set_nsstat(dp, ns);
	urcu_qsbr_register_thread();
	ret = repl_open(&(struct repl_opts){.cfg = cfg,
					    .nworkers = dp_worker_count(cfg),
					    .core = cfg->broadcast_core,
					    .read_exec = dp_core_read,
					    .read_ctx = &core_reads,
					    .ns_writes = ns_writes},
			&repl);
	if (ret) {
		fprintf(stderr, "cheetah: cannot open the data in %s (dataLogDir %s): %s\n",
			cfg->data_dir, cfg->data_log_dir, strerror(-ret));
		status = 1;
		goto stop;
	}
	ret = dp_run(dp, repl);
	if (ret) {
		fprintf(stderr, "cheetah: cannot start the dataplane workers: %s\n",
			strerror(-ret));
		status = 1;
		goto stop;
	}
	ret = repl_start(repl);
	if (ret) {
		fprintf(stderr, "cheetah: cannot start the broadcast core: %s\n", strerror(-ret));
		status = 1;
		goto stop;
	}
	/* ZooKeeper refuses to start when its metrics provider cannot (logged). */
	ret = met_start(&(struct met_opts){.cfg = cfg, .source = metrics_source, .ctx = dp,
					   .rcu = true},
			&met);
	if (ret) {
		fprintf(stderr, "cheetah: cannot start the metrics provider: %s\n", strerror(-ret));
		status = 1;
		goto stop;
	}
	log_allocator();
	if (dp_port(dp))
		fprintf(stderr, "cheetah: serving on %s:%u (%s, %u workers)\n",
			cfg->client_port_address, dp_port(dp), dp_backend(dp), dp_nworkers(dp));
	if (dp_secure_port(dp))
		fprintf(stderr, "cheetah: serving TLS on %s:%u\n",
			cfg->tls.secure_client_port_address, dp_secure_port(dp));
	/* ZooKeeper serves on without its AdminServer when that cannot start (logged). */
	adm_start(&(struct adm_opts){.cfg = cfg,
				     .source = admin_source,
				     .ctx = dp,
				     .info = &admin_info,
				     .rcu = true},
		  &adm);

	urcu_qsbr_thread_offline();
	for (;;) {
		sig = sigtimedwait(&sigs, NULL, &poll);
		if (sig > 0) {
			log_info("cheetah: %s received, shutting down", strsignal(sig));
			break;
		}
		ret = repl_error(repl);
		if (ret) {
			char why[192];

			if (ret == -ESTALE) /* ensemble.c: a snapshot from the leader to load */
				log_error(
				    "cheetah: stopping to load the snapshot received from the "
				    "leader; start the server again");
			else if (fd_exhausted(ret))
				log_error("cheetah: stopping: the transaction log failed: %s",
					  fd_strerror(ret, why, sizeof(why)));
			else
				log_error("cheetah: stopping after a disk error: %s", strerror(-ret));
			status = 1;
			break;
		}
	}
	adm_stop(adm);
	met_stop(met);
	urcu_qsbr_thread_online();
stop: /* also a failed start's, online; repl may be NULL */
	dp_stop(dp);
	repl_stop(repl); /* the peer thread uses quorum SASL until it stops */
	peer_sasl_fini();
	dp_sasl_fini();
	urcu_qsbr_unregister_thread();
	nsstat_free(ns); /* after every worker and the core stopped */
	return status;
}

/* cfg_set of key=dir. */
static int set_dir(struct cfg *cfg, const char *key, const char *dir, struct cfg_error *err)
{
	char *kv;
	int ret;

	if (asprintf(&kv, "%s=%s", key, dir) < 0)
		return -ENOMEM;
	ret = cfg_set(cfg, kv, err);
	free(kv);
	return ret;
}

/*
 * Loads the configuration as the server does: the file (or the built-in
 * one), then the --set overrides, then, when data_dir is not NULL,
 * dataDir and dataLogDir both data_dir (import's and export's), then
 * finalize.  Returns 0, or the exit status after printing the error.
 */
static int load_cfg(struct cfg *cfg, const char *config_path, char **sets, int n_sets,
		    const char *data_dir)
{
	struct cfg_error err = {""};
	int ret;

	ret = cfg_defaults(cfg);
	/* zkServer.sh: java ... $SERVER_JVMFLAGS $JVMFLAGS; the later -D wins, zoo.cfg over both. */
	if (!ret)
		ret = cfg_load_jvmflags(cfg, "SERVER_JVMFLAGS", getenv("SERVER_JVMFLAGS"), &err);
	if (!ret)
		ret = cfg_load_jvmflags(cfg, "JVMFLAGS", getenv("JVMFLAGS"), &err);
	if (!ret)
		ret = config_path ? cfg_load_file(cfg, config_path, &err)
				  : cfg_load_builtin(cfg, &err);
	for (int i = 0; !ret && i < n_sets; i++)
		ret = cfg_set(cfg, sets[i], &err);
	if (!ret && data_dir)
		ret = set_dir(cfg, "dataDir", data_dir, &err);
	if (!ret && data_dir)
		ret = set_dir(cfg, "dataLogDir", data_dir, &err);
	if (!ret)
		ret = cfg_finalize(cfg, &err);
	log_set_level(cfg->log_level);
	cfg_log_warnings(cfg);
	if (!ret)
		return 0;
	if (ret == -ENOMEM)
		fprintf(stderr, "cheetah: out of memory\n");
	else
		fprintf(stderr, "%s\n", err.msg);
	cfg_free(cfg);
	return ret == -ENOMEM ? 1 : EXIT_USAGE;
}

static void print_import(const struct mig_import_stats *st, const struct cfg *cfg, int64_t zxid)
{
	static const struct {
		int type;
		const char *name;
	} names[] = {
	    {ZK_OP_CREATESESSION, "createSession"},
	    {ZK_OP_CLOSESESSION, "closeSession"},
	    {ZK_OP_ERROR, "error"},
	    {ZK_OP_CREATE, "create"},
	    {ZK_OP_DELETE, "delete"},
	    {ZK_OP_SETDATA, "setData"},
	    {ZK_OP_SETACL, "setACL"},
	    {ZK_OP_MULTI, "multi"},
	    {ZK_OP_CREATE2, "create2"},
	    {ZK_OP_CREATECONTAINER, "createContainer"},
	    {ZK_OP_DELETECONTAINER, "deleteContainer"},
	    {ZK_OP_CREATETTL, "createTTL"},
	};

	printf("cheetah import: snapshot %s (zxid 0x%" PRIx64 ", %" PRIu64 " znodes, %" PRIu64
	       " sessions, %" PRIu64 " ACLs)\n",
	       st->snapshot, (uint64_t)st->snap_zxid, st->snap.nodes, st->snap.sessions,
	       st->snap.acls);
	printf("cheetah import: %u log file(s), %" PRIu64 " txns replayed:", st->logs, st->txns);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (st->by_type[names[i].type + 16])
			printf(" %s %" PRIu64, names[i].name, st->by_type[names[i].type + 16]);
	printf("\n");
	printf("cheetah import: digests checked %" PRIu64 ", mismatches %" PRIu64 "\n",
	       st->digests_checked, st->digest_mismatches);
	printf("cheetah import: wrote %s (dataLogDir %s) at zxid 0x%" PRIx64 "\n", cfg->data_dir,
	       cfg->data_log_dir, (uint64_t)zxid);
}

/* A subcommand's options: --config and --set as the server's, and import's own. */
struct sub_args {
	const char *config;
	char **sets; /* argc + 1 slots */
	int n_sets;
	const char *to;	   /* import --to */
	bool torn_tail_ok; /* import --allow-torn-tail */
};

/*
 * Parses the options of `cheetah import|export`; import's own are refused
 * for export.  Returns -1 when the operands follow (argv[optind]...), else
 * the exit status (help printed, or a usage error).  a->sets is freed by
 * the caller.
 */
static int sub_parse(const char *name, int argc, char **argv, struct sub_args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"set", required_argument, NULL, 's'},
	    {"to", required_argument, NULL, 't'},
	    {"allow-torn-tail", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool import = !strcmp(name, "import");
	int opt;

	*a = (struct sub_args){.sets = calloc((size_t)argc + 1, sizeof(*a->sets))};
	if (!a->sets)
		return 1;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if ((opt == 't' || opt == 'T') && !import)
			opt = '?';
		switch (opt) {
		case 'c':
			a->config = optarg;
			break;
		case 's':
			a->sets[a->n_sets++] = optarg;
			break;
		case 't':
			a->to = optarg;
			break;
		case 'T':
			a->torn_tail_ok = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "cheetah %s: %s %s%s\n", name, argv[optind - 1],
				opt == ':' ? "needs an argument" : "is not an option of ",
				opt == ':' ? "" : name);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	return -1;
}

/* cheetah import [options] ZK_DATA_DIR [ZK_DATALOG_DIR] */
static int cmd_import(int argc, char **argv)
{
	struct mig_import_opts io = {0};
	struct mig_import_stats *st = NULL;
	struct mig_error err = {""};
	struct tree *t = NULL;
	struct sub_args a;
	struct cfg cfg;
	int ret;
	int64_t zxid = 0;
	char **sets;

	ret = sub_parse("import", argc, argv, &a);
	sets = a.sets;
	if (ret >= 0) {
		free(sets);
		return ret;
	}
	io.torn_tail_ok = a.torn_tail_ok;
	if (argc - optind < 1 || argc - optind > 2) {
		fprintf(stderr, "cheetah import: give ZooKeeper's dataDir and, if separate, its "
				"dataLogDir\n");
		usage(stderr);
		free(sets);
		return EXIT_USAGE;
	}
	ret = load_cfg(&cfg, a.config, sets, a.n_sets, a.to);
	free(sets);
	if (ret)
		return ret;
	io.data_dir = argv[optind];
	io.log_dir = argc - optind == 2 ? argv[optind + 1] : NULL;
	io.topts.max_data = cfg.jute_max_buffer > 0 ? (uint32_t)cfg.jute_max_buffer : 0xfffff;
	io.topts.extended_types = cfg.extended_types_enabled;
	st = calloc(1, sizeof(*st));
	if (!st) {
		cfg_free(&cfg);
		return 1;
	}
	urcu_qsbr_register_thread();
	ret = mig_zk_import(&io, &t, st, &err);
	if (ret) {
		fprintf(stderr, "cheetah import: %s\n",
			err.msg[0] ? err.msg : strerror(-ret));
	} else {
		ret = repl_seed_data_dir(cfg.data_dir, cfg.data_log_dir, t, &zxid);
		if (ret)
			fprintf(stderr, "cheetah import: cannot write %s: %s\n", cfg.data_dir,
				ret == -EEXIST ? "it holds Cheetah data already"
					       : strerror(-ret));
		else
			print_import(st, &cfg, zxid);
	}
	if (t) {
		urcu_qsbr_thread_offline();
		tree_free(t);
		urcu_qsbr_thread_online();
	}
	urcu_qsbr_unregister_thread();
	free(st);
	cfg_free(&cfg);
	return ret ? 1 : 0;
}

/* cheetah export [options] CHEETAH_DATA_DIR OUT_DIR */
static int cmd_export(int argc, char **argv)
{
	struct mig_export_stats *st = NULL;
	struct mig_error err = {""};
	struct repl *repl = NULL;
	struct sub_args a;
	struct cfg cfg;
	char **sets;
	int ret;

	ret = sub_parse("export", argc, argv, &a);
	sets = a.sets;
	if (ret >= 0) {
		free(sets);
		return ret;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "cheetah export: give the Cheetah data directory and the output "
				"directory\n");
		usage(stderr);
		free(sets);
		return EXIT_USAGE;
	}
	ret = load_cfg(&cfg, a.config, sets, a.n_sets, argv[optind]);
	free(sets);
	if (ret)
		return ret;
	if (cfg.n_servers >= 2) {
		fprintf(stderr, "cheetah export: the configuration is an ensemble's; export reads "
				"a standalone data directory (drop the server.N lines)\n");
		cfg_free(&cfg);
		return EXIT_USAGE;
	}
	/* repl_open would make an empty data directory: refuse a wrong path instead. */
	char sub[4096];
	struct stat sb;
	snprintf(sub, sizeof(sub), "%s/cheetah-1", cfg.data_dir);
	if (stat(sub, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "cheetah export: %s: no Cheetah data directory (no cheetah-1 in it)\n",
			cfg.data_dir);
		cfg_free(&cfg);
		return 1;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		cfg_free(&cfg);
		return 1;
	}
	urcu_qsbr_register_thread();
	/* Recovery exactly as the server's start: newest snapshot, then the log. */
	ret = repl_open(&(struct repl_opts){.cfg = &cfg, .nworkers = 1, .core = -1}, &repl);
	if (ret) {
		fprintf(stderr, "cheetah export: cannot open the data in %s: %s\n", cfg.data_dir,
			strerror(-ret));
	} else {
		ret = mig_zk_export(repl_tree(repl), argv[optind + 1], st, &err);
		if (ret)
			fprintf(stderr, "cheetah export: %s\n", err.msg[0] ? err.msg : strerror(-ret));
		else
			printf("cheetah export: wrote %s (zxid 0x%" PRIx64 ", %" PRIu64
			       " znodes, %" PRIu64 " sessions, %" PRIu64 " ACLs)\n",
			       st->path, (uint64_t)st->zxid, st->nodes, st->sessions, st->acls);
		repl_stop(repl);
	}
	urcu_qsbr_unregister_thread();
	free(st);
	cfg_free(&cfg);
	return ret ? 1 : 0;
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
	struct cfg cfg;
	char **sets;
	int n_sets = 0, opt, ret;

	if (argc >= 2 && !strcmp(argv[1], "import"))
		return cmd_import(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "export"))
		return cmd_export(argc - 1, argv + 1);
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

	ret = load_cfg(&cfg, config_path, sets, n_sets, NULL);
	free(sets);
	if (ret)
		return ret;

	if (check_only) {
		cfg_print(&cfg, stdout);
		fflush(stdout);
		cfg_free(&cfg);
		return 0;
	}
	ret = serve(&cfg);
	cfg_free(&cfg);
	return ret;
}
