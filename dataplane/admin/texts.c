/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The words answered from configuration and the process: conf
 * (ZooKeeperServer.dumpConf and, in an ensemble, the quorum part), dirs
 * (DirsCommand: the sizes of the snapshot and log directories), envi
 * (EnvCommand, Environment.list) and hash (DigestCommand).
 *
 * Thread: the worker answering the word.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "dataplane/admin/admin_priv.h"
#include "dataplane/admin/admin.h"
#include "dataplane/io/io_priv.h"
#include "dataplane/session/session.h"
#include "replication/repl.h"
#include "tree/tree.h"

/* ZooKeeper's snapshot/log directory under dataDir/dataLogDir, absolute. */
static void store_dir(const char *dir, char *buf, size_t len)
{
	char abs[PATH_MAX];

	if (!dir)
		dir = ".";
	if (!realpath(dir, abs))
		snprintf(abs, sizeof(abs), "%s", dir);
	snprintf(buf, len, "%s/cheetah-1", abs);
}

/* Bytes in a directory tree (DirsCommand's getDirSize). */
static long long dir_size(const char *path, int depth)
{
	struct stat st;
	long long sum = 0;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st))
		return 0;
	if (!S_ISDIR(st.st_mode))
		return st.st_size;
	if (depth > 8 || !(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		char sub[PATH_MAX];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= sizeof(sub))
			continue;
		sum += dir_size(sub, depth + 1);
	}
	closedir(d);
	return sum;
}

/*
 * conf's tail: "serverId=0" on a standalone server; on an ensemble member
 * QuorumZooKeeperServer.dumpConf's lines, its own ports from its server.N
 * line, then "membership: " and the QuorumVerifier's text, which is what
 * /zookeeper/config holds (server lines, "version=<hex>", no final
 * newline).
 */
static void conf_quorum(struct dp *dp, struct jute_out *o)
{
	const struct cfg *cfg = dp->cfg;
	uint32_t myid = dp->repl ? repl_myid(dp->repl) : 0;
	const struct cfg_server *me = NULL;
	struct tree *t = dp_admin_tree(dp);
	const struct tree_node *n;

	jute_out_printf(o, "serverId=%u\n", myid);
	if (!myid)
		return;
	for (size_t i = 0; i < cfg->n_servers; i++)
		if (cfg->servers[i].id == (int64_t)myid)
			me = &cfg->servers[i];
	jute_out_printf(o, "initLimit=%d\n", cfg->init_limit);
	jute_out_printf(o, "syncLimit=%d\n", cfg->sync_limit);
	jute_out_printf(o, "electionAlg=%d\n", cfg->election_alg);
	jute_out_printf(o, "electionPort=%u\n", me ? me->election_port : 0);
	jute_out_printf(o, "quorumPort=%u\n", me ? me->quorum_port : 0);
	jute_out_printf(o, "peerType=%d\n", (int)(me ? me->type : cfg->peer_type));
	dp_admin_outs(o, "membership: \n");
	n = t ? tree_lookup(t, "/zookeeper/config", 17) : NULL;
	if (n) {
		struct zk_stat st;
		struct jute_buf data = {NULL, -1};

		tree_node_read(n, &st, &data);
		if (data.len > 0)
			jute_put_raw(o, data.p, (size_t)data.len);
	}
}

void dp_admin_conf(struct dp *dp, struct jute_out *o)
{
	const struct cfg *cfg = dp->cfg;
	char data[PATH_MAX + 16], log[PATH_MAX + 16];

	store_dir(cfg->data_dir, data, sizeof(data));
	store_dir(cfg->data_log_dir ? cfg->data_log_dir : cfg->data_dir, log, sizeof(log));
	/* ServerCnxnFactory.getLocalPort, -1 without that factory */
	jute_out_printf(o, "clientPort=%d\n", dp->port ? (int)dp->port : -1);
	jute_out_printf(o, "secureClientPort=%d\n", dp->secure_port ? (int)dp->secure_port : -1);
	jute_out_printf(o, "dataDir=%s\n", data);
	jute_out_printf(o, "dataDirSize=%lld\n", dir_size(data, 0));
	jute_out_printf(o, "dataLogDir=%s\n", log);
	jute_out_printf(o, "dataLogSize=%lld\n", dir_size(log, 0));
	jute_out_printf(o, "tickTime=%d\n", cfg->tick_time);
	jute_out_printf(o, "maxClientCnxns=%d\n", cfg->max_client_cnxns);
	jute_out_printf(o, "minSessionTimeout=%d\n", cfg->min_session_timeout);
	jute_out_printf(o, "maxSessionTimeout=%d\n", cfg->max_session_timeout);
	jute_out_printf(o, "clientPortListenBacklog=%d\n", cfg->client_port_listen_backlog);
	conf_quorum(dp, o);
}

void dp_admin_ensemble(struct dp *dp, struct jute_out *o)
{
	struct repl_quorum q;

	jute_out_printf(o, "state: %s\n", dp_admin_server_state(dp));
	jute_out_printf(o, "myid: %u\n", dp->repl ? repl_myid(dp->repl) : 0);
	jute_out_printf(o, "leader_id: %u\n", dp->repl ? repl_leader_id(dp->repl) : 0);
	if (!dp->repl || !repl_quorum_stats(dp->repl, &q))
		return;
	jute_out_printf(o, "synced_observers: %u\nobserver_ids:", q.synced_observers);
	for (uint32_t id = 1; id < 256; id++)
		if (q.observer_mask[id / 64] & (1ull << (id % 64)))
			jute_out_printf(o, " %u", id);
	dp_admin_outs(o, "\n");
}

void dp_admin_dirs(struct dp *dp, struct jute_out *o)
{
	const struct cfg *cfg = dp->cfg;
	char data[PATH_MAX + 16], log[PATH_MAX + 16];

	store_dir(cfg->data_dir, data, sizeof(data));
	store_dir(cfg->data_log_dir ? cfg->data_log_dir : cfg->data_dir, log, sizeof(log));
	jute_out_printf(o, "datadir_size: %lld\n", dir_size(data, 0));
	jute_out_printf(o, "logdir_size: %lld\n", dir_size(log, 0));
}

void dp_admin_envi(struct jute_out *o)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long rss = 0, vsz;
	struct passwd *pw = getpwuid(geteuid());
	char host[256] = "<NA>", cwd[PATH_MAX] = "<NA>";
	const char *tmp = getenv("TMPDIR");
	struct utsname u;
	FILE *f;

	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), "<NA>");
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%llu %llu", &vsz, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	dp_admin_outs(o, "Environment:\n");
	jute_out_printf(o, "zookeeper.version=%s\n", dp_admin_zk_version());
	jute_out_printf(o, "host.name=%s\n", host);
	/* Java's properties have no meaning here; Java prints <NA> for a missing one. */
	dp_admin_outs(o, "java.version=<NA>\njava.vendor=<NA>\njava.home=<NA>\njava.class.path=<NA>\n"
		"java.library.path=<NA>\n");
	jute_out_printf(o, "java.io.tmpdir=%s\n", tmp && *tmp ? tmp : "/tmp");
	dp_admin_outs(o, "java.compiler=<NA>\n");
	jute_out_printf(o, "os.name=%s\n", u.sysname);
	jute_out_printf(o, "os.arch=%s\n", !strcmp(u.machine, "x86_64") ? "amd64" : u.machine);
	jute_out_printf(o, "os.version=%s\n", u.release);
	jute_out_printf(o, "user.name=%s\n", pw ? pw->pw_name : "<NA>");
	jute_out_printf(o, "user.home=%s\n", pw ? pw->pw_dir : "<NA>");
	jute_out_printf(o, "user.dir=%s\n", cwd);
	/* The JVM's heap figures become the machine's and the process's. */
	jute_out_printf(o, "os.memory.free=%lluMB\n",
	     (unsigned long long)sysconf(_SC_AVPHYS_PAGES) * (unsigned long long)page >> 20);
	jute_out_printf(o, "os.memory.max=%lluMB\n",
	     (unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)page >> 20);
	jute_out_printf(o, "os.memory.total=%lluMB\n", rss * (unsigned long long)page >> 20);
}

void dp_admin_hash(struct dp *dp, struct jute_out *o)
{
	struct tree *t = dp_admin_tree(dp);
	struct tree_zxid_digest *log;
	size_t n;

	if (!t)
		return;
	/* DigestCommand: the digest history, "<zxid hex>: <digest as a Java long>" lines. */
	log = malloc(TREE_DIGEST_LOG_LIMIT * sizeof(*log));
	if (!log) {
		o->err = -ENOMEM;
		return;
	}
	n = tree_digest_log(t, log, TREE_DIGEST_LOG_LIMIT);
	for (size_t i = 0; i < n; i++)
		jute_out_printf(o, "%" PRIx64 ": %" PRId64 "\n", (uint64_t)log[i].zxid,
				(int64_t)log[i].digest);
	free(log);
}
