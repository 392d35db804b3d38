// SPDX-License-Identifier: Apache-2.0
/*
 * Real files: the checked-in every-key.cfg, the sample zoo.cfg shipped by
 * Debian's zookeeper package, unreadable files, and dynamicConfigFile.
 */
#include "helpers.h"

#include <arpa/inet.h>
#include <sys/stat.h>

static const char *testdata(const char *name)
{
	static char path[4096];
	const char *dir = getenv("CHEETAH_CONFIG_TESTDATA");

	cr_assert_not_null(dir, "CHEETAH_CONFIG_TESTDATA is not set (run through meson test)");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void load_file_ok(struct cfg *c, const char *path)
{
	struct cfg_error err = {""};

	cr_assert_eq(cfg_defaults(c), 0);
	cr_assert_eq(cfg_load_file(c, path, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_finalize(c, &err), 0, "%s", err.msg);
}

Test(files, every_key)
{
	const char *path = testdata("every-key.cfg");
	struct cfg c;

	load_file_ok(&c, path);

	cr_assert_eq(c.tick_time, 1000);
	cr_assert_eq(c.init_limit, 12);
	cr_assert_eq(c.sync_limit, 6);
	cr_assert_str_eq(c.data_dir, "/var/lib/cheetah/data");
	cr_assert_str_eq(c.data_log_dir, "/var/lib/cheetah/txnlog");
	cr_assert_eq(c.client_port, 12181);
	cr_assert_str_eq(c.client_port_address, "10.0.0.1");
	cr_assert_eq(c.client_port_listen_backlog, 256);
	cr_assert_eq(c.max_client_cnxns, 100);
	cr_assert_eq(c.min_session_timeout, 3000);
	cr_assert_eq(c.max_session_timeout, 90000);
	cr_assert_eq(c.snap_retain_count, 5);
	cr_assert_eq(c.purge_interval, 12);
	cr_assert_eq(c.election_alg, 3);
	cr_assert_eq(c.peer_type, CFG_PARTICIPANT);
	cr_assert_not(c.standalone_enabled);
	cr_assert(c.reconfig_enabled);
	cr_assert(c.local_sessions_enabled);
	cr_assert(c.local_sessions_upgrading_enabled);
	cr_assert(c.quorum_listen_on_all_ips);
	cr_assert_not(c.sync_enabled);
	cr_assert_eq(c.version, 0x100000000ull);
	cr_assert_eq(c.n_servers, 4);
	cr_assert_str_eq(c.servers[0].host, "10.0.0.1");
	cr_assert_null(c.servers[0].client_host);
	cr_assert_str_eq(c.servers[1].client_host, "0.0.0.0");
	cr_assert_eq(c.servers[1].client_port, 2181);
	cr_assert_str_eq(c.servers[2].host, "zk3.example.com");
	cr_assert_str_eq(c.servers[2].client_host, "10.0.0.3");
	cr_assert_str_eq(c.servers[3].host, "fd00::4");
	cr_assert_eq(c.servers[3].type, CFG_OBSERVER);
	cr_assert(c.distributed);
	cr_assert_eq(c.n_participants, 3);
	cr_assert_eq(c.n_observers, 1);

	cr_assert_eq(c.snap_count, 50000);
	cr_assert_eq(c.snap_size_limit_kb, 1048576);
	cr_assert_eq(c.pre_alloc_size_kb, 16384);
	cr_assert_eq(c.jute_max_buffer, 0x400000);
	cr_assert_eq(c.global_outstanding_limit, 2000);
	cr_assert_eq(c.max_cnxns, 5000);
	cr_assert_not(c.force_sync);
	cr_assert(c.extended_types_enabled);
	cr_assert_eq(c.four_letter_words, CFG_4LW_RUOK | CFG_4LW_SRVR | CFG_4LW_STAT |
					      CFG_4LW_MNTR | CFG_4LW_CONF | CFG_4LW_ISRO);

	cr_assert_eq(c.dataplane, CFG_DATAPLANE_DPDK);
	cr_assert_eq(c.n_dp_cores, 5);
	cr_assert(cfg_dp_core_isset(&c, 7));
	cr_assert_not(cfg_dp_core_isset(&c, 6));
	cr_assert_eq(c.broadcast_core, 1);
	cr_assert_eq(c.dpdk_eal_argc, 4);
	cr_assert_str_eq(c.dpdk_eal_argv[3], "--vdev=net_tap0,iface=cheetah0");
	cr_assert_eq(c.dpdk_idle, CFG_DPDK_IDLE_SPIN);
	cr_assert_eq(ntohl(c.port_ip.s_addr), 0x0a000001);
	cr_assert_eq(ntohl(c.port_netmask.s_addr), 0xffffff00);
	cr_assert_eq(ntohl(c.port_gateway.s_addr), 0x0a0000fe);
	cr_assert_eq(c.log_level, LOG_LVL_DEBUG);

	cr_assert(c.admin_enable);
	cr_assert_eq(c.admin_port, 8080);

	cr_assert(c.metrics_enable);
	cr_assert_eq(c.metrics_port, 7000);

	/* 17 ignored or unknown keys, each kept (authProvider.1, quorum.auth.*,
	 * sslQuorum, sslQuorumReloadCertFiles and ssl.quorum.* are acted on;
	 * ssl.keyStore.location is a TLS setting, kept in c.tls, unused
	 * without secureClientPort). */
	cr_assert_eq(c.n_extras, 17);
	cr_assert(c.quorum_tls.cert_reload);
	cr_assert(c.ssl_quorum);
	cr_assert_str_eq(c.quorum_tls.keystore, "/etc/cheetah/quorum.pem");
	cr_assert_eq(c.quorum_tls.truststore_type, CFG_STORE_PEM);
	cr_assert(c.quorum_sasl && c.quorum_learner_require && c.quorum_server_require);
	cr_assert_str_eq(c.quorum_server_context, "QuorumServer");
	cr_assert(c.sasl_provider);
	cr_assert_str_eq(c.tls.keystore, "/etc/cheetah/keystore.jks");
	cr_assert_eq(c.tls.secure_client_port, 0);
	cr_assert_str_eq(c.super_digest, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
	cr_assert_str_eq(cfg_extra_get(&c, "my.own.setting"), "42");
	cr_assert_null(cfg_extra_get(&c, "metricsProvider.httpPort"));
	cr_assert_str_eq(cfg_extra_get(&c, "ssl.crl"), "true");

	/* One warning per extra key (authProvider.1 is acted on). */
	cr_assert_eq(count_warnings(&c, "unknown key"), 1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "ignored"), 17, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "non-optimal configuration"), 0, "3 participants");
	cr_assert_eq(c.n_warnings, 17, "%s", all_warnings(&c));
	char want[4200];

	snprintf(want, sizeof(want), "%s:49: ssl.crl: this TLS setting", path);
	cr_assert_eq(count_warnings(&c, want), 1, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(files, debian_sample_zoo_cfg)
{
	const char *path = getenv("CHEETAH_DEBIAN_ZOO_CFG");
	struct cfg c;

	cr_assert_not_null(path, "CHEETAH_DEBIAN_ZOO_CFG is not set (run through meson test)");
	cr_assert_eq(access(path, R_OK), 0,
		     "%s is missing: Debian's zookeeper package is not installed "
		     "(apt-get install zookeeper; build.sh installs it)",
		     path);
	load_file_ok(&c, path);
	/* The sample: tickTime=2000, initLimit=10, syncLimit=5,
	 * dataDir=/tmp/zookeeper, clientPort=2181, the rest commented out. */
	cr_assert_eq(c.tick_time, 2000);
	cr_assert_eq(c.init_limit, 10);
	cr_assert_eq(c.sync_limit, 5);
	cr_assert_str_eq(c.data_dir, "/tmp/zookeeper");
	cr_assert_str_eq(c.data_log_dir, "/tmp/zookeeper");
	cr_assert_eq(c.client_port, 2181);
	cr_assert_str_eq(c.client_port_address, "0.0.0.0");
	cr_assert_eq(c.max_client_cnxns, 60);
	cr_assert_eq(c.min_session_timeout, 4000);
	cr_assert_eq(c.max_session_timeout, 40000);
	cr_assert_eq(c.snap_retain_count, 3);
	cr_assert_eq(c.purge_interval, 0);
	cr_assert_not(c.distributed);
	cr_assert_eq(c.n_extras, 0);
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(files, unreadable_files)
{
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_file(&c, "/nonexistent/zoo.cfg", &err), -ENOENT);
	cr_assert_str_eq(err.msg, "/nonexistent/zoo.cfg: cannot read: No such file or directory");
	cr_assert_eq(cfg_load_file(&c, "/tmp", &err), -EISDIR);
	cr_assert_str_eq(err.msg, "/tmp: cannot read: Is a directory");
	cfg_free(&c);
}

Test(files, too_large)
{
	char path[] = "/tmp/cheetah-cfg-big-XXXXXX";
	struct cfg_error err;
	struct cfg c;
	int fd = mkstemp(path);
	char msg[128];

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, CFG_MAX_FILE_SIZE + 1), 0);
	close(fd);
	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_file(&c, path, &err), -EFBIG);
	snprintf(msg, sizeof(msg), "%s: cannot read: larger than %u bytes", path,
		 CFG_MAX_FILE_SIZE);
	cr_assert_str_eq(err.msg, msg);
	unlink(path);
	cfg_free(&c);
}

/* A scratch directory with files written by the test. */
struct scratch {
	char dir[64];
};

static void scratch_init(struct scratch *s)
{
	strcpy(s->dir, "/tmp/cheetah-cfg-XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir));
}

/* Writes dir/name; returns its path, which the caller frees. */
static char *scratch_write(struct scratch *s, const char *name, const char *text)
{
	char *path;
	FILE *fp;

	cr_assert_gt(asprintf(&path, "%s/%s", s->dir, name), 0);
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void scratch_fini(struct scratch *s, const char *const *names, size_t n)
{
	char path[128];

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, names[i]);
		unlink(path);
	}
	rmdir(s->dir);
}

Test(files, file_line_in_messages_uses_the_given_path)
{
	static const char *const names[] = {"zoo.cfg"};
	struct scratch s;
	struct cfg_error err;
	struct cfg c;
	char want[256];
	char *path;

	scratch_init(&s);
	path = scratch_write(&s, "zoo.cfg", "dataDir=/d\nclientPort=2181\n\ntickTime=abc\n");
	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_file(&c, path, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: tickTime must be a positive integer, got \"abc\"",
		 path);
	cr_assert_str_eq(err.msg, want);
	cfg_free(&c);
	free(path);
	scratch_fini(&s, names, 1);
}

Test(files, dynamic_config_file)
{
	static const char *const names[] = {"zoo.cfg", "zoo.cfg.dynamic.100000000"};
	struct scratch s;
	char text[256];
	struct cfg c;
	char *dyn, *path, *printed;

	scratch_init(&s);
	dyn = scratch_write(&s, names[1],
			    "server.1=a:2888:3888:participant;2181\n"
			    "server.2=b:2888:3888:participant;2181\n"
			    "server.3=c:2888:3888:participant;2181\n");
	snprintf(
	    text, sizeof(text),
	    "dataDir=/d\ninitLimit=5\nsyncLimit=2\nreconfigEnabled=true\ndynamicConfigFile=%s\n",
	    dyn);
	path = scratch_write(&s, names[0], text);
	load_file_ok(&c, path);
	cr_assert_eq(c.n_servers, 3);
	cr_assert(c.distributed);
	cr_assert_eq(c.version, 0x100000000ull, "version from the file name");
	cr_assert_eq(c.client_port, 0);
	printed = print_to_string(&c);
	cr_assert_not_null(strstr(printed, "\n# server.2=b:2888:3888:participant;0.0.0.0:2181\n"),
			   "%s", printed);
	free(printed);
	cfg_free(&c);
	free(dyn);
	free(path);
	scratch_fini(&s, names, 2);
}

Test(files, dynamic_config_file_errors)
{
	static const char *const names[] = {"zoo.cfg", "zoo.cfg.dynamic"};
	struct scratch s;
	struct cfg_error err;
	char text[256], want[320];
	struct cfg c;
	char *dyn, *path;

	scratch_init(&s);
	dyn = scratch_write(&s, names[1], "server.1=a:2888:3888;2181\nversion=5\n");
	snprintf(text, sizeof(text), BASE "dynamicConfigFile=%s\n", dyn);
	path = scratch_write(&s, names[0], text);
	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_file(&c, path, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_finalize(&c, &err), -EINVAL);
	snprintf(
	    want, sizeof(want),
	    "%s:2: a dynamic configuration file must not set version (it comes from the file name)",
	    dyn);
	cr_assert_str_eq(err.msg, want);
	cfg_free(&c);

	free(scratch_write(&s, names[1], "server.1=a:2888:3888;2181\ntickTime=5\n"));
	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_file(&c, path, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_finalize(&c, &err), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:2: tickTime is not allowed in a dynamic configuration file (only server.N)",
		 dyn);
	cr_assert_str_eq(err.msg, want);
	cfg_free(&c);

	snprintf(text, sizeof(text), BASE "server.9=z:1:2\ndynamicConfigFile=%s\n", dyn);
	free(path);
	path = scratch_write(&s, names[0], text);
	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_file(&c, path, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_finalize(&c, &err), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: server.9 must be in the dynamic configuration file %s, not here", path,
		 dyn);
	cr_assert_str_eq(err.msg, want);
	cfg_free(&c);
	free(dyn);
	free(path);
	scratch_fini(&s, names, 2);

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(
	    cfg_load_string(&c, "zoo.cfg", BASE "dynamicConfigFile=/nonexistent/dyn\n", &err), 0);
	cr_assert_eq(cfg_finalize(&c, &err), -ENOENT);
	cr_assert_str_eq(err.msg, "/nonexistent/dyn: cannot read: No such file or directory");
	cfg_free(&c);
}
