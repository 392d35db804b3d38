// SPDX-License-Identifier: Apache-2.0
/*
 * Every ZooKeeper key: its default, good values, bad values and the exact
 * "zoo.cfg:<line>: <reason>" message.  Cheetah's own keys are in
 * test_cheetah_keys.c, server.N in test_servers.c.
 */
#include "helpers.h"
#include "config/cfg_priv.h"

struct bad_case {
	const char *line; /* on line 3, after BASE */
	const char *msg;  /* without "zoo.cfg:3: " */
};

static const struct bad_case bad_cases[] = {
    {"tickTime=abc", "tickTime must be a positive integer, got \"abc\""},
    {"tickTime=0", "tickTime must be a positive integer, got \"0\""},
    {"tickTime=-2000", "tickTime must be a positive integer, got \"-2000\""},
    {"tickTime=2000ms", "tickTime must be a positive integer, got \"2000ms\""},
    {"tickTime=2147483648", "tickTime must be a positive integer, got \"2147483648\""},
    {"tickTime=99999999999999999999",
     "tickTime must be a positive integer, got \"99999999999999999999\""},
    {"tickTime=0x10", "tickTime must be a positive integer, got \"0x10\""},
    {"tickTime=", "tickTime must be a positive integer, got \"\""},
    {"tickTime=1 000", "tickTime must be a positive integer, got \"1 000\""},
    {"tickTime=+", "tickTime must be a positive integer, got \"+\""},
    {"initLimit=-1", "initLimit must be a non-negative integer, got \"-1\""},
    {"initLimit=ten", "initLimit must be a non-negative integer, got \"ten\""},
    {"syncLimit=5.0", "syncLimit must be a non-negative integer, got \"5.0\""},
    {"dataDir=", "dataDir must not be empty"},
    {"dataLogDir=   ", "dataLogDir must not be empty"},
    {"clientPort=0", "clientPort must be a port number (1-65535), got \"0\""},
    {"clientPort=65536", "clientPort must be a port number (1-65535), got \"65536\""},
    {"clientPort=-1", "clientPort must be a port number (1-65535), got \"-1\""},
    {"clientPort=http", "clientPort must be a port number (1-65535), got \"http\""},
    {"clientPortAddress=999.1.1.1",
     "clientPortAddress must be an IP address or host name, got \"999.1.1.1\""},
    {"clientPortAddress=a b", "clientPortAddress must be an IP address or host name, got \"a b\""},
    {"clientPortAddress=", "clientPortAddress must be an IP address or host name, got \"\""},
    {"clientPortAddress=-host",
     "clientPortAddress must be an IP address or host name, got \"-host\""},
    {"clientPortListenBacklog=0",
     "clientPortListenBacklog must be a positive integer or -1, got \"0\""},
    {"clientPortListenBacklog=-2",
     "clientPortListenBacklog must be a positive integer or -1, got \"-2\""},
    {"secureClientPort=0", "secureClientPort must be a port number (1-65535), got \"0\""},
    {"secureClientPortAddress=::g",
     "secureClientPortAddress must be an IP address or host name, got \"::g\""},
    {"observerMasterPort=x", "observerMasterPort must be a port number (1-65535), got \"x\""},
    {"maxClientCnxns=-1", "maxClientCnxns must be a non-negative integer, got \"-1\""},
    {"minSessionTimeout=0", "minSessionTimeout must be a positive integer or -1, got \"0\""},
    {"minSessionTimeout=-5", "minSessionTimeout must be a positive integer or -1, got \"-5\""},
    {"maxSessionTimeout=1e5", "maxSessionTimeout must be a positive integer or -1, got \"1e5\""},
    {"connectToLearnerMasterLimit=-1",
     "connectToLearnerMasterLimit must be a non-negative integer, got \"-1\""},
    {"electionAlg=fast", "electionAlg must be an integer, got \"fast\""},
    {"electionAlg=0", "invalid electionAlg value 0; only 3 (fast leader election) is supported"},
    {"electionAlg=1", "invalid electionAlg value 1; only 3 (fast leader election) is supported"},
    {"peerType=leader", "peerType must be participant or observer, got \"leader\""},
    {"autopurge.snapRetainCount=three",
     "autopurge.snapRetainCount must be an integer, got \"three\""},
    {"autopurge.purgeInterval=-1",
     "autopurge.purgeInterval must be a non-negative integer, got \"-1\""},
    {"autopurge.purgeInterval=1h",
     "autopurge.purgeInterval must be a non-negative integer, got \"1h\""},
    {"standaloneEnabled=yes", "standaloneEnabled must be true or false, got \"yes\""},
    {"reconfigEnabled=1", "reconfigEnabled must be true or false, got \"1\""},
    {"localSessionsEnabled=on", "localSessionsEnabled must be true or false, got \"on\""},
    {"localSessionsUpgradingEnabled=",
     "localSessionsUpgradingEnabled must be true or false, got \"\""},
    {"quorumListenOnAllIPs=truee", "quorumListenOnAllIPs must be true or false, got \"truee\""},
    {"syncEnabled=no", "syncEnabled must be true or false, got \"no\""},
    {"sslQuorum=maybe", "sslQuorum must be true or false, got \"maybe\""},
    {"portUnification=2", "portUnification must be true or false, got \"2\""},
    {"sslQuorumReloadCertFiles=x", "sslQuorumReloadCertFiles must be true or false, got \"x\""},
    {"quorum.auth.enableSasl=x", "quorum.auth.enableSasl must be true or false, got \"x\""},
    {"quorum.cnxn.threads.size=many", "quorum.cnxn.threads.size must be an integer, got \"many\""},
    {"jvm.pause.info-threshold.ms=1s",
     "jvm.pause.info-threshold.ms must be an integer, got \"1s\""},
    {"jvm.pause.monitor=yes", "jvm.pause.monitor must be true or false, got \"yes\""},
    {"multiAddress.enabled=1", "multiAddress.enabled must be true or false, got \"1\""},
    {"multiAddress.reachabilityCheckEnabled=x",
     "multiAddress.reachabilityCheckEnabled must be true or false, got \"x\""},
    {"version=xyz", "version must be a hexadecimal number, got \"xyz\""},
    {"version=-1", "version must be a hexadecimal number, got \"-1\""},
    {"snapCount=lots", "snapCount must be an integer, got \"lots\""},
    {"snapCount=0x", "snapCount must be an integer, got \"0x\""},
    {"snapCount=08", "snapCount must be an integer, got \"08\""},
    {"snapCount=0x-5", "snapCount must be an integer, got \"0x-5\""},
    {"zookeeper.snapCount=2147483648",
     "zookeeper.snapCount must be an integer, got \"2147483648\""},
    {"snapSizeLimitInKb=big", "snapSizeLimitInKb must be an integer from -9223372036854775808 to "
			      "9007199254740991, got \"big\""},
    {"preAllocSize=0", "preAllocSize must be an integer from 1 to 9007199254740991, got \"0\""},
    {"preAllocSize=0x100",
     "preAllocSize must be an integer from 1 to 9007199254740991, got \"0x100\""},
    {"preAllocSize=64M", "preAllocSize must be an integer from 1 to 9007199254740991, got \"64M\""},
    {"preAllocSize=9007199254740992",
     "preAllocSize must be an integer from 1 to 9007199254740991, got \"9007199254740992\""},
    {"jute.maxbuffer=0", "jute.maxbuffer must be a positive integer, got \"0\""},
    {"jute.maxbuffer=1M", "jute.maxbuffer must be a positive integer, got \"1M\""},
    {"zookeeper.jute.maxbuffer=-1",
     "zookeeper.jute.maxbuffer must be a positive integer, got \"-1\""},
    {"globalOutstandingLimit=0", "globalOutstandingLimit must be a positive integer, got \"0\""},
    {"maxCnxns=-1", "maxCnxns must be a non-negative integer, got \"-1\""},
    {"extendedTypesEnabled=yes", "extendedTypesEnabled must be true or false, got \"yes\""},
    {"zookeeper.extendedTypesEnabled=1",
     "zookeeper.extendedTypesEnabled must be true or false, got \"1\""},
    {"readonlymode.enabled=yes", "readonlymode.enabled must be true or false, got \"yes\""},
    {"emulate353TTLNodes=x", "emulate353TTLNodes must be true or false, got \"x\""},
    {"admin.enableServer=maybe", "admin.enableServer must be true or false, got \"maybe\""},
    {"admin.serverPort=65536", "admin.serverPort must be an integer from 0 to 65535, got \"65536\""},
    {"admin.serverAddress=-x", "admin.serverAddress must be an IP address or host name, got \"-x\""},
    {"admin.commandURL=commands",
     "admin.commandURL must be a path such as /commands (not /, no trailing /), got \"commands\""},
    {"admin.commandURL=/", "admin.commandURL must be a path such as /commands (not /, no trailing "
			   "/), got \"/\""},
    {"admin.commandURL=/a b", "admin.commandURL must be a path of letters, digits and / - . _ ~, "
			      "got \"/a b\""},
    {"admin.idleTimeout=0", "admin.idleTimeout must be a positive integer, got \"0\""},
    {"metricsProvider.httpPort=70000",
     "metricsProvider.httpPort must be an integer from 0 to 65535, got \"70000\""},
    {"metricsProvider.httpHost=-x",
     "metricsProvider.httpHost must be an IP address or host name, got \"-x\""},
    {"metricsProvider.className=com.example.Mine",
     "metricsProvider.className com.example.Mine is not available in Cheetah; it has "
     "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider (/metrics) and "
     "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider (none, the default)"},
    {"group.1=1:2:3", "group.1: hierarchical quorums (group/weight) are not supported by Cheetah; "
		      "use majority quorums"},
    {"weight.1=2", "weight.1: hierarchical quorums (group/weight) are not supported by Cheetah; "
		   "use majority quorums"},
};

Test(keys, bad_values_are_refused_with_file_line_and_reason)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char text[256], msg[320];

		snprintf(text, sizeof(text), BASE "%s\n", bad_cases[i].line);
		snprintf(msg, sizeof(msg), "zoo.cfg:3: %s", bad_cases[i].msg);
		parse_fails(text, msg);
	}
}

Test(keys, zookeeper_defaults_for_a_file)
{
	struct cfg c;

	parse_ok(&c, BASE);
	cr_assert_eq(c.tick_time, 3000, "ZooKeeperServer.DEFAULT_TICK_TIME");
	cr_assert_eq(c.init_limit, 0);
	cr_assert_eq(c.sync_limit, 0);
	cr_assert_str_eq(c.data_dir, "/var/lib/zookeeper");
	cr_assert_str_eq(c.data_log_dir, "/var/lib/zookeeper");
	cr_assert_eq(c.client_port, 2181);
	cr_assert_str_eq(c.client_port_address, "0.0.0.0");
	cr_assert_eq(c.client_port_listen_backlog, -1);
	cr_assert_eq(c.max_client_cnxns, 60);
	cr_assert_eq(c.min_session_timeout, 6000);
	cr_assert_eq(c.max_session_timeout, 60000);
	cr_assert_eq(c.snap_retain_count, 3);
	cr_assert_eq(c.purge_interval, 0);
	cr_assert_eq(c.election_alg, 3);
	cr_assert_eq(c.peer_type, CFG_PARTICIPANT);
	cr_assert(c.standalone_enabled);
	cr_assert_not(c.reconfig_enabled);
	cr_assert_not(c.local_sessions_enabled);
	cr_assert_not(c.local_sessions_upgrading_enabled);
	cr_assert_not(c.quorum_listen_on_all_ips);
	cr_assert(c.sync_enabled);
	cr_assert_null(c.dynamic_config_file);
	cr_assert_eq(c.version, 0);
	cr_assert_eq(c.n_servers, 0);
	cr_assert_eq(c.snap_count, 100000);
	cr_assert_eq(c.snap_size_limit_kb, 4194304);
	cr_assert_eq(c.pre_alloc_size_kb, 65536);
	cr_assert_eq(c.jute_max_buffer, 0xfffff);
	cr_assert_eq(c.global_outstanding_limit, 1000);
	cr_assert_eq(c.max_cnxns, 0);
	cr_assert(c.force_sync);
	cr_assert_not(c.read_only_mode);
	cr_assert_not(c.extended_types_enabled);
	cr_assert_eq(c.four_letter_words, CFG_4LW_SRVR, "FourLetterCommands: srvr only");
	cr_assert_not(c.distributed);
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(keys, integers_and_booleans_as_zookeeper_reads_them)
{
	struct cfg c;

	parse_ok(&c, BASE "tickTime=+2500\n"
			  "initLimit=010\n"
			  "syncLimit=0\n"
			  "maxClientCnxns=0\n"
			  "clientPortListenBacklog=128\n"
			  "autopurge.purgeInterval=24\n"
			  "autopurge.snapRetainCount=7\n"
			  "standaloneEnabled=TRUE\n"
			  "reconfigEnabled=True\n"
			  "localSessionsEnabled=true\n"
			  "localSessionsUpgradingEnabled=true\n"
			  "readonlymode.enabled=true\n"
			  "quorumListenOnAllIPs=true\n"
			  "syncEnabled=False\n"
			  "electionAlg=3\n"
			  "peerType=Observer\n"
			  "version=100000000\n"
			  "dataLogDir=/var/log/zookeeper\n");
	cr_assert_eq(c.tick_time, 2500);
	cr_assert_eq(c.init_limit, 10, "Integer.parseInt is decimal even with a leading 0");
	cr_assert_eq(c.max_client_cnxns, 0);
	cr_assert_eq(c.client_port_listen_backlog, 128);
	cr_assert_eq(c.purge_interval, 24);
	cr_assert_eq(c.snap_retain_count, 7);
	cr_assert(c.standalone_enabled);
	cr_assert(c.reconfig_enabled);
	cr_assert(c.local_sessions_enabled);
	cr_assert(c.local_sessions_upgrading_enabled);
	cr_assert(c.read_only_mode);
	cr_assert(c.quorum_listen_on_all_ips);
	cr_assert_not(c.sync_enabled);
	cr_assert_eq(c.peer_type, CFG_OBSERVER);
	cr_assert_eq(c.version, 0x100000000ull);
	cr_assert_str_eq(c.data_log_dir, "/var/log/zookeeper");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(keys, client_port_address_forms)
{
	static const char *const good[] = {
	    "127.0.0.1", "0.0.0.0", "::1", "fe80::1", "zk1.example.com", "localhost", "my_host-2",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[128];
		struct cfg c;

		snprintf(text, sizeof(text), BASE "clientPortAddress=%s\n", good[i]);
		parse_ok(&c, text);
		cr_assert_str_eq(c.client_port_address, good[i]);
		cfg_free(&c);
	}
}

Test(keys, session_timeouts_explicit_and_minus_one)
{
	struct cfg c;

	parse_ok(&c, BASE "minSessionTimeout=1000\nmaxSessionTimeout=-1\n");
	cr_assert_eq(c.min_session_timeout, 1000);
	cr_assert_eq(c.max_session_timeout, 60000);
	cfg_free(&c);
}

Test(keys, system_property_integers_use_integer_decode)
{
	struct cfg c;

	parse_ok(&c, BASE "jute.maxbuffer=0x400000\n"
			  "snapCount=#100\n"
			  "globalOutstandingLimit=0100\n"
			  "maxCnxns=-0\n"
			  "snapSizeLimitInKb=-1\n");
	cr_assert_eq(c.jute_max_buffer, 0x400000);
	cr_assert_eq(c.snap_count, 0x100);
	cr_assert_eq(c.global_outstanding_limit, 64, "leading 0 is octal");
	cr_assert_eq(c.max_cnxns, 0);
	cr_assert_eq(c.snap_size_limit_kb, -1);
	cfg_free(&c);
}

Test(keys, system_properties_accept_the_zookeeper_prefix)
{
	struct cfg c;

	parse_ok(&c, BASE "zookeeper.extendedTypesEnabled=true\n"
			  "zookeeper.jute.maxbuffer=4194304\n"
			  "zookeeper.snapCount=5000\n"
			  "zookeeper.preAllocSize=1024\n"
			  "zookeeper.forceSync=no\n"
			  "zookeeper.globalOutstandingLimit=5\n"
			  "zookeeper.maxCnxns=9\n"
			  "zookeeper.4lw.commands.whitelist=ruok\n"
			  "zookeeper.snapSizeLimitInKb=1\n");
	cr_assert(c.extended_types_enabled);
	cr_assert_eq(c.jute_max_buffer, 4194304);
	cr_assert_eq(c.snap_count, 5000);
	cr_assert_eq(c.pre_alloc_size_kb, 1024);
	cr_assert_not(c.force_sync);
	cr_assert_eq(c.global_outstanding_limit, 5);
	cr_assert_eq(c.max_cnxns, 9);
	cr_assert_eq(c.four_letter_words, CFG_4LW_RUOK | CFG_4LW_SRVR);
	cr_assert_eq(c.snap_size_limit_kb, 1);
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

/*
 * ContainerManager's settings (ZooKeeperServerMain reads them with
 * Integer.getInteger / Long.getLong): acted on, so no warning and no
 * extra; Integer.decode syntax; either spelling.
 */
Test(keys, container_manager_properties_are_acted_on)
{
	struct cfg c;

	parse_ok(&c, BASE);
	cr_assert_eq(c.container_check_interval_ms, 60000);
	cr_assert_eq(c.container_max_per_minute, 10000);
	cr_assert_eq(c.container_max_never_used_ms, 0);
	cfg_free(&c);

	parse_ok(&c, BASE "znode.container.checkIntervalMs=0x1f4\n"
			  "zookeeper.znode.container.maxPerMinute=#10\n"
			  "znode.container.maxNeverUsedIntervalMs=86400000000\n");
	cr_assert_eq(c.container_check_interval_ms, 500);
	cr_assert_eq(c.container_max_per_minute, 16);
	cr_assert_eq(c.container_max_never_used_ms, 86400000000LL, "a long");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cr_assert_eq(c.n_extras, 0);
	cr_assert_null(cfg_extra_get(&c, "znode.container.checkIntervalMs"));
	cfg_free(&c);
}

/* Integer.getInteger / Long.getLong fall back to the default on a non-number. */
Test(keys, container_manager_non_numbers_fall_back_with_a_warning)
{
	struct cfg c;

	parse_ok(&c, BASE "znode.container.checkIntervalMs=soon\n"
			  "znode.container.maxPerMinute=2147483648\n"
			  "znode.container.maxNeverUsedIntervalMs=1.5\n"
			  "znode.container.checkIntervalMs=500\n"
			  "zookeeper.znode.container.checkIntervalMs=later\n");
	cr_assert_eq(c.container_check_interval_ms, 60000, "the last line, a non-number");
	cr_assert_eq(c.container_max_per_minute, 10000, "beyond an int");
	cr_assert_eq(c.container_max_never_used_ms, 0);
	cr_assert_eq(count_warnings(&c, "zoo.cfg:3: znode.container.checkIntervalMs=\"soon\" is "
					"not an int; using the default 60000, as ZooKeeper does"),
		     1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "zoo.cfg:4: znode.container.maxPerMinute=\"2147483648\" "
					"is not an int; using the default 10000"),
		     1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "zoo.cfg:5: znode.container.maxNeverUsedIntervalMs="
					"\"1.5\" is not a long; using the default 0"),
		     1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "zoo.cfg:6: duplicate key"), 1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "zoo.cfg:7: zookeeper.znode.container.checkIntervalMs="
					"\"later\" is not an int"),
		     1, "%s", all_warnings(&c));
	cr_assert_eq(c.n_warnings, 6, "%s", all_warnings(&c));
	cfg_free(&c);
}

/*
 * Numbers ZooKeeper cannot run with are refused: a check interval <= 0
 * (its Timer refuses to start), a rate of 0 (every check divides by it
 * and fails) or below, a negative never-used interval.
 */
Test(keys, container_manager_numbers_it_cannot_run_with_are_refused)
{
	parse_fails(BASE "znode.container.checkIntervalMs=0\n",
		    "zoo.cfg:3: znode.container.checkIntervalMs must be a positive integer, got "
		    "\"0\"");
	parse_fails(BASE "zookeeper.znode.container.checkIntervalMs=-60000\n",
		    "zoo.cfg:3: zookeeper.znode.container.checkIntervalMs must be a positive "
		    "integer, got \"-60000\"");
	parse_fails(
	    BASE "znode.container.maxPerMinute=0\n",
	    "zoo.cfg:3: znode.container.maxPerMinute must be a positive integer, got \"0\"");
	parse_fails(BASE "znode.container.maxNeverUsedIntervalMs=-1\n",
		    "zoo.cfg:3: znode.container.maxNeverUsedIntervalMs must be a non-negative "
		    "integer, got \"-1\"");
}

Test(keys, quorum_peer_config_keys_do_not_take_the_prefix)
{
	struct cfg c;

	/* ZooKeeper would set zookeeper.zookeeper.tickTime, read by nobody. */
	parse_ok(&c, BASE "zookeeper.tickTime=1\n");
	cr_assert_eq(c.tick_time, 3000);
	cr_assert_str_eq(cfg_extra_get(&c, "zookeeper.tickTime"), "1");
	cr_assert_eq(count_warnings(&c, "zookeeper.tickTime: unknown key"), 1);
	cfg_free(&c);
}

Test(keys, snap_count_below_two_is_reset_with_a_warning)
{
	struct cfg c;

	parse_ok(&c, BASE "snapCount=1\n");
	cr_assert_eq(c.snap_count, 2);
	cr_assert_eq(
	    count_warnings(&c, "zoo.cfg:3: snapCount should be 2 or more; 1 is reset to 2"), 1,
	    "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(keys, snap_retain_count_below_three_is_reset_with_a_warning)
{
	struct cfg c;

	parse_ok(&c, BASE "autopurge.snapRetainCount=1\n");
	cr_assert_eq(c.snap_retain_count, 3);
	cr_assert_eq(
	    count_warnings(&c, "zoo.cfg:3: invalid autopurge.snapRetainCount: 1; defaulting to 3"),
	    1, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(keys, force_sync_is_off_only_for_no)
{
	struct cfg c;

	parse_ok(&c, BASE "forceSync=no\n");
	cr_assert_not(c.force_sync);
	cr_assert_eq(c.n_warnings, 0);
	cfg_free(&c);

	parse_ok(&c, BASE "forceSync=yes\n");
	cr_assert(c.force_sync);
	cr_assert_eq(c.n_warnings, 0);
	cfg_free(&c);

	parse_ok(&c, BASE "forceSync=false\n");
	cr_assert(c.force_sync, "FileTxnLog: anything but \"no\" means yes");
	cr_assert_eq(count_warnings(
			 &c, "zoo.cfg:3: forceSync=\"false\" is not \"no\", so the log is fsynced"),
		     1, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(keys, four_letter_word_whitelist)
{
	struct cfg c;

	parse_ok(&c, BASE "4lw.commands.whitelist=ruok, stat ,mntr,,conf\n");
	cr_assert_eq(c.four_letter_words,
		     CFG_4LW_RUOK | CFG_4LW_STAT | CFG_4LW_MNTR | CFG_4LW_CONF | CFG_4LW_SRVR);
	cr_assert(cfg_4lw_enabled(&c, "ruok"));
	cr_assert(cfg_4lw_enabled(&c, "srvr"), "srvr is always on (zkServer.sh)");
	cr_assert_not(cfg_4lw_enabled(&c, "dump"));
	cr_assert_not(cfg_4lw_enabled(&c, "nope"));
	cfg_free(&c);

	parse_ok(&c, BASE "4lw.commands.whitelist=*\n");
	cr_assert_eq(c.four_letter_words, CFG_4LW_ALL);
	cr_assert(cfg_4lw_enabled(&c, "wchp"));
	cr_assert(cfg_4lw_enabled(&c, "hash"));
	cfg_free(&c);

	parse_ok(&c, BASE "4lw.commands.whitelist=stat, *\n");
	cr_assert_eq(c.four_letter_words, CFG_4LW_ALL);
	cfg_free(&c);

	parse_ok(&c, BASE "4lw.commands.whitelist=\n");
	cr_assert_eq(c.four_letter_words, CFG_4LW_SRVR);
	cfg_free(&c);

	parse_ok(&c, BASE "4lw.commands.whitelist=ruok,kill\n");
	cr_assert_eq(c.four_letter_words, CFG_4LW_RUOK | CFG_4LW_SRVR);
	cr_assert_eq(
	    count_warnings(
		&c, "zoo.cfg:3: 4lw.commands.whitelist: unknown four-letter word \"kill\" ignored"),
	    1, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(keys, four_letter_word_names)
{
	static const char *const words[] = {
	    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst",
	    "srvr", "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash", "icfg", "sysp",
	};
	uint32_t all = 0;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		uint32_t bit = cfg_4lw_bit(words[i]);

		cr_assert_neq(bit, 0, "%s", words[i]);
		cr_assert_eq(all & bit, 0);
		all |= bit;
	}
	cr_assert_eq(all, CFG_4LW_ALL);
	cr_assert_eq(cfg_4lw_bit("RUOK"), 0, "words are case-sensitive");
}

Test(keys, extended_types_and_jute_maxbuffer)
{
	struct cfg c;

	parse_ok(&c, BASE "extendedTypesEnabled=TRUE\njute.maxbuffer=1048576\n");
	cr_assert(c.extended_types_enabled);
	cr_assert_eq(c.jute_max_buffer, 1048576);
	cfg_free(&c);
}

/* Keys ZooKeeper knows that Cheetah accepts, keeps and warns about. */
Test(keys, ignored_keys_are_kept_and_warned_once)
{
	static const struct {
		const char *line;
		const char *key;
		const char *why;
	} ignored[] = {
	    {"observerMasterPort=2191", "observerMasterPort", "observer master"},
	    {"connectToLearnerMasterLimit=10", "connectToLearnerMasterLimit", "observer master"},
	    {"portUnification=true", "portUnification", "TLS"},
	    {"quorum.cnxn.threads.size=20", "quorum.cnxn.threads.size", "thread pool"},
	    {"jvm.pause.info-threshold.ms=1000", "jvm.pause.info-threshold.ms", "JVM"},
	    {"jvm.pause.warn-threshold.ms=10000", "jvm.pause.warn-threshold.ms", "JVM"},
	    {"jvm.pause.sleep.time.ms=500", "jvm.pause.sleep.time.ms", "JVM"},
	    {"jvm.pause.monitor=true", "jvm.pause.monitor", "JVM"},
	    {"metricsProvider.exportJvmInfo=true", "metricsProvider.exportJvmInfo", "no JVM"},
	    {"metricsProvider.numWorkerThreads=4", "metricsProvider.numWorkerThreads",
	     "metrics provider setting"},
	    {"multiAddress.enabled=true", "multiAddress.enabled", "multiple addresses"},
	    {"multiAddress.reachabilityCheckTimeoutMs=1000",
	     "multiAddress.reachabilityCheckTimeoutMs", "multiple addresses"},
	    {"multiAddress.reachabilityCheckEnabled=false", "multiAddress.reachabilityCheckEnabled",
	     "multiple addresses"},
	    {"oraclePath=/oracle", "oraclePath", "oracle"},
	    {"emulate353TTLNodes=true", "emulate353TTLNodes", "3.5.3"},
	    {"admin.portUnification=true", "admin.portUnification", "AdminServer"},
	    {"zookeeper.admin.forceHttps=true", "zookeeper.admin.forceHttps", "AdminServer"},
	    {"ssl.crl=true", "ssl.crl", "TLS"},
	    {"ssl.quorum.clientAuth=want", "ssl.quorum.clientAuth", "TLS"},
	};

	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		char text[256], want[256];
		const char *eq = strchr(ignored[i].line, '=');
		struct cfg c;

		snprintf(text, sizeof(text), BASE "%s\n%s\n", ignored[i].line, ignored[i].line);
		parse_ok(&c, text);
		cr_assert_str_eq(cfg_extra_get(&c, ignored[i].key), eq + 1);
		cr_assert(c.extras[0].known, "%s", ignored[i].key);
		snprintf(want, sizeof(want), "zoo.cfg:3: %s: ", ignored[i].key);
		cr_assert_eq(count_warnings(&c, want), 1, "%s:\n%s", ignored[i].key,
			     all_warnings(&c));
		cr_assert_not_null(strstr(c.warnings[0], ignored[i].why), "%s:\n%s", ignored[i].key,
				   all_warnings(&c));
		cr_assert_eq(c.n_warnings, 2, "%s:\n%s", ignored[i].key, all_warnings(&c));
		cr_assert_eq(count_warnings(&c, "zoo.cfg:4: duplicate key"), 1, "%s",
			     all_warnings(&c));
		cfg_free(&c);
	}
}

Test(keys, switches_left_off_are_not_warned_about)
{
	struct cfg c;

	parse_ok(&c, BASE "sslQuorum=false\nportUnification=false\n"
			  "admin.enableServer=false\njvm.pause.monitor=false\n"
			  "multiAddress.enabled=false\nquorum.auth.enableSasl=false\n"
			  "emulate353TTLNodes=false\n");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cr_assert_not(c.admin_enable);
	cfg_free(&c);
}

/* Quorum SASL's keys are acted on (replication/peer/peer_sasl.c): kept, not warned. */
Test(keys, quorum_sasl_keys_are_read)
{
	struct cfg c;

	parse_ok(&c, BASE "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n"
			  "quorum.auth.serverRequireSasl=true\n"
			  "quorum.auth.learner.saslLoginContext=L\n"
			  "quorum.auth.server.saslLoginContext=S\n"
			  "quorum.auth.kerberos.servicePrincipal=zkquorum/localhost\n");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cr_assert(c.quorum_sasl && c.quorum_learner_require && c.quorum_server_require);
	cr_assert_str_eq(c.quorum_learner_context, "L");
	cr_assert_str_eq(c.quorum_server_context, "S");
	cr_assert_str_eq(c.quorum_service_principal, "zkquorum/localhost");
	cfg_free(&c);
}

Test(keys, admin_server_keys_as_zookeeper_reads_them)
{
	struct cfg c;

	parse_ok(&c, BASE);
	cr_assert(c.admin_enable, "AdminServer is on by default, as in ZooKeeper");
	cr_assert_null(c.admin_address, "0.0.0.0");
	cr_assert_eq(c.admin_port, 8080);
	cr_assert_null(c.admin_command_url, "/commands");
	cr_assert_eq(c.admin_idle_timeout_ms, 30000);
	cfg_free(&c);

	parse_ok(&c, BASE "zookeeper.admin.enableServer=true\nadmin.serverAddress=127.0.0.1\n"
			  "zookeeper.admin.serverPort=9090\nadmin.commandURL=/ops/cmds\n"
			  "admin.idleTimeout=1500\n");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cr_assert(c.admin_enable);
	cr_assert_str_eq(c.admin_address, "127.0.0.1");
	cr_assert_eq(c.admin_port, 9090);
	cr_assert_str_eq(c.admin_command_url, "/ops/cmds");
	cr_assert_eq(c.admin_idle_timeout_ms, 1500);
	cfg_free(&c);

	/* Integer.getInteger: a non-number means the default (warned). */
	parse_ok(&c, BASE "admin.serverPort=http\n");
	cr_assert_eq(c.admin_port, 8080);
	cr_assert_eq(c.n_warnings, 1, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(keys, metrics_provider_keys)
{
	struct cfg c;

	parse_ok(&c, BASE);
	cr_assert_not(c.metrics_enable);
	cr_assert_eq(c.metrics_port, 7000);
	cr_assert_null(c.metrics_host);
	cfg_free(&c);

	parse_ok(&c, BASE "metricsProvider.className=org.apache.zookeeper.metrics.prometheus."
			  "PrometheusMetricsProvider\nmetricsProvider.httpHost=127.0.0.1\n"
			  "metricsProvider.httpPort=7070\n");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cr_assert(c.metrics_enable);
	cr_assert_str_eq(c.metrics_host, "127.0.0.1");
	cr_assert_eq(c.metrics_port, 7070);
	cfg_free(&c);

	parse_ok(&c, BASE "metricsProvider.className=org.apache.zookeeper.metrics.impl."
			  "DefaultMetricsProvider\n");
	cr_assert_not(c.metrics_enable);
	cfg_free(&c);
}

Test(keys, quorum_sasl_switches_are_checked_as_zookeeper_does)
{
	struct cfg c;

	parse_fails(BASE
		    "quorum.auth.serverRequireSasl=true\nquorum.auth.learnerRequireSasl=true\n",
		    "zoo.cfg:3: quorum.auth.enableSasl is disabled, so cannot enable "
		    "quorum.auth.serverRequireSasl");
	parse_fails(BASE "quorum.auth.learnerRequireSasl=true\n",
		    "zoo.cfg:3: quorum.auth.enableSasl is disabled, so cannot enable "
		    "quorum.auth.learnerRequireSasl");
	parse_fails(BASE "quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true\n",
		    "zoo.cfg:4: quorum.auth.learnerRequireSasl is disabled, so cannot enable "
		    "quorum.auth.serverRequireSasl");
	parse_ok(&c, BASE "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n"
			  "quorum.auth.serverRequireSasl=true\n");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(keys, java_number_parsers)
{
	int64_t v;

	cr_assert_eq(cfg_parse_java_long("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	cr_assert_eq(v, INT64_MIN);
	cr_assert_eq(cfg_parse_java_long("9223372036854775808", INT64_MIN, INT64_MAX, &v), -EINVAL);
	cr_assert_eq(cfg_parse_java_long("-", INT64_MIN, INT64_MAX, &v), -EINVAL);
	cr_assert_eq(cfg_parse_java_long("1_000", INT64_MIN, INT64_MAX, &v), -EINVAL);
	cr_assert_eq(cfg_parse_java_decode("-0x80000000", INT32_MIN, INT32_MAX, &v), 0);
	cr_assert_eq(v, INT32_MIN);
	cr_assert_eq(cfg_parse_java_decode("0X1f", 0, 100, &v), 0);
	cr_assert_eq(v, 31);
	cr_assert_eq(cfg_parse_java_decode("0", 0, 100, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(cfg_parse_java_decode("-#10", -100, 100, &v), 0);
	cr_assert_eq(v, -16);
	cr_assert_eq(cfg_parse_java_decode("0x+1", 0, 100, &v), -EINVAL);
	cr_assert_eq(cfg_parse_java_decode("0xffffffff", INT32_MIN, INT32_MAX, &v), -EINVAL);
}
