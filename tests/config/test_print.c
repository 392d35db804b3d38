// SPDX-License-Identifier: Apache-2.0
/*
 * cfg_print(): the effective settings as a zoo.cfg that, loaded again,
 * gives the same configuration.
 */
#include "helpers.h"

static void assert_same_str(const char *a, const char *b)
{
	cr_assert_eq(!a, !b, "%s vs %s", a ? a : "(unset)", b ? b : "(unset)");
	if (a)
		cr_assert_str_eq(a, b);
}

/* The TLS settings of one side (client port or quorum links). */
static void assert_same_tls(const struct cfg_tls *a, const struct cfg_tls *b)
{
	cr_assert_eq(a->secure_client_port, b->secure_client_port);
	assert_same_str(a->secure_client_port_address, b->secure_client_port_address);
	assert_same_str(a->cnxn_factory, b->cnxn_factory);
	assert_same_str(a->keystore, b->keystore);
	assert_same_str(a->keystore_password, b->keystore_password);
	assert_same_str(a->keystore_password_path, b->keystore_password_path);
	cr_assert_eq(a->keystore_type, b->keystore_type);
	assert_same_str(a->keystore_type_name, b->keystore_type_name);
	assert_same_str(a->truststore, b->truststore);
	assert_same_str(a->truststore_password, b->truststore_password);
	assert_same_str(a->truststore_password_path, b->truststore_password_path);
	cr_assert_eq(a->truststore_type, b->truststore_type);
	assert_same_str(a->truststore_type_name, b->truststore_type_name);
	cr_assert_eq(a->client_auth, b->client_auth);
	assert_same_str(a->protocol, b->protocol);
	assert_same_str(a->enabled_protocols, b->enabled_protocols);
	assert_same_str(a->ciphersuites, b->ciphersuites);
	cr_assert_eq(a->hostname_verification, b->hostname_verification);
	cr_assert_eq(a->port_unification, b->port_unification);
	cr_assert_eq(a->cert_reload, b->cert_reload);
	assert_same_str(a->auth_provider, b->auth_provider);
	assert_same_str(a->x509_super_user, b->x509_super_user);
	cr_assert_eq(a->x509_provider, b->x509_provider);
}

/* Field-by-field equality of two finalized configurations. */
static void assert_same(const struct cfg *a, const struct cfg *b)
{
	cr_assert_eq(a->tick_time, b->tick_time);
	cr_assert_eq(a->init_limit, b->init_limit);
	cr_assert_eq(a->sync_limit, b->sync_limit);
	cr_assert_str_eq(a->data_dir, b->data_dir);
	cr_assert_str_eq(a->data_log_dir, b->data_log_dir);
	cr_assert_eq(a->client_port, b->client_port);
	cr_assert_eq(!a->client_port_address, !b->client_port_address);
	if (a->client_port_address)
		cr_assert_str_eq(a->client_port_address, b->client_port_address);
	cr_assert_eq(a->client_port_listen_backlog, b->client_port_listen_backlog);
	cr_assert_eq(a->max_client_cnxns, b->max_client_cnxns);
	cr_assert_eq(a->min_session_timeout, b->min_session_timeout);
	cr_assert_eq(a->max_session_timeout, b->max_session_timeout);
	cr_assert_eq(a->snap_retain_count, b->snap_retain_count);
	cr_assert_eq(a->purge_interval, b->purge_interval);
	cr_assert_eq(a->election_alg, b->election_alg);
	cr_assert_eq(a->peer_type, b->peer_type);
	cr_assert_eq(a->standalone_enabled, b->standalone_enabled);
	cr_assert_eq(a->reconfig_enabled, b->reconfig_enabled);
	cr_assert_eq(a->local_sessions_enabled, b->local_sessions_enabled);
	cr_assert_eq(a->local_sessions_upgrading_enabled, b->local_sessions_upgrading_enabled);
	cr_assert_eq(a->quorum_listen_on_all_ips, b->quorum_listen_on_all_ips);
	cr_assert_eq(a->sync_enabled, b->sync_enabled);
	cr_assert_eq(a->version, b->version);
	cr_assert_eq(a->n_servers, b->n_servers);
	for (size_t i = 0; i < a->n_servers; i++) {
		const struct cfg_server *x = &a->servers[i], *y = &b->servers[i];

		cr_assert_eq(x->id, y->id);
		cr_assert_str_eq(x->host, y->host);
		cr_assert_eq(x->quorum_port, y->quorum_port);
		cr_assert_eq(x->election_port, y->election_port);
		cr_assert_eq(x->type, y->type);
		cr_assert_eq(!x->client_host, !y->client_host);
		if (x->client_host)
			cr_assert_str_eq(x->client_host, y->client_host);
		cr_assert_eq(x->client_port, y->client_port);
	}
	cr_assert_eq(a->snap_count, b->snap_count);
	cr_assert_eq(a->snap_size_limit_kb, b->snap_size_limit_kb);
	cr_assert_eq(a->pre_alloc_size_kb, b->pre_alloc_size_kb);
	cr_assert_eq(a->jute_max_buffer, b->jute_max_buffer);
	cr_assert_eq(a->global_outstanding_limit, b->global_outstanding_limit);
	cr_assert_eq(a->max_cnxns, b->max_cnxns);
	cr_assert_eq(a->force_sync, b->force_sync);
	cr_assert_eq(a->extended_types_enabled, b->extended_types_enabled);
	cr_assert_eq(a->four_letter_words, b->four_letter_words);
	cr_assert_eq(a->container_check_interval_ms, b->container_check_interval_ms);
	cr_assert_eq(a->container_max_per_minute, b->container_max_per_minute);
	cr_assert_eq(a->container_max_never_used_ms, b->container_max_never_used_ms);
	cr_assert_eq(a->dataplane, b->dataplane);
	cr_assert_eq(memcmp(a->dp_cores, b->dp_cores, sizeof(a->dp_cores)), 0);
	cr_assert_eq(a->n_dp_cores, b->n_dp_cores);
	cr_assert_eq(a->broadcast_core, b->broadcast_core);
	cr_assert_eq(a->dpdk_eal_argc, b->dpdk_eal_argc);
	for (int i = 0; i < a->dpdk_eal_argc; i++)
		cr_assert_str_eq(a->dpdk_eal_argv[i], b->dpdk_eal_argv[i]);
	cr_assert_eq(a->port_ip.s_addr, b->port_ip.s_addr);
	cr_assert_eq(a->port_netmask.s_addr, b->port_netmask.s_addr);
	cr_assert_eq(a->port_gateway.s_addr, b->port_gateway.s_addr);
	cr_assert_eq(a->log_level, b->log_level);
	cr_assert_eq(a->read_only_mode, b->read_only_mode);
	assert_same_str(a->super_digest, b->super_digest);
	assert_same_str(a->jaas_config, b->jaas_config);
	assert_same_str(a->sasl_login_context, b->sasl_login_context);
	cr_assert_eq(a->sasl_provider, b->sasl_provider);
	cr_assert_eq(a->krb_remove_host, b->krb_remove_host);
	cr_assert_eq(a->krb_remove_realm, b->krb_remove_realm);
	assert_same_str(a->auth_to_local, b->auth_to_local);
	cr_assert_eq(a->n_super_users, b->n_super_users);
	for (size_t i = 0; i < a->n_super_users; i++) {
		cr_assert_str_eq(a->super_users[i].key, b->super_users[i].key);
		cr_assert_str_eq(a->super_users[i].value, b->super_users[i].value);
	}
	assert_same_str(a->sasl_super_password, b->sasl_super_password);
	assert_same_str(a->let_any_sasl_user, b->let_any_sasl_user);
	cr_assert_eq(a->allow_sasl_failed, b->allow_sasl_failed);
	cr_assert_eq(a->enforce_auth, b->enforce_auth);
	assert_same_str(a->enforce_schemes, b->enforce_schemes);
	cr_assert_eq(a->require_sasl, b->require_sasl);
	cr_assert_eq(a->quorum_sasl, b->quorum_sasl);
	cr_assert_eq(a->quorum_learner_require, b->quorum_learner_require);
	cr_assert_eq(a->quorum_server_require, b->quorum_server_require);
	assert_same_str(a->quorum_learner_context, b->quorum_learner_context);
	assert_same_str(a->quorum_server_context, b->quorum_server_context);
	assert_same_str(a->quorum_service_principal, b->quorum_service_principal);
	cr_assert_eq(a->metrics_enable, b->metrics_enable);
	assert_same_str(a->metrics_host, b->metrics_host);
	cr_assert_eq(a->metrics_port, b->metrics_port);
	cr_assert_eq(a->dp_workers, b->dp_workers);
	cr_assert_eq(a->dpdk_idle, b->dpdk_idle);
	cr_assert_str_eq(a->dpdk_exception, b->dpdk_exception);
	cr_assert_eq(a->dpdk_max_connections, b->dpdk_max_connections);
	cr_assert_eq(a->tcp_rto_min_ms, b->tcp_rto_min_ms);
	cr_assert_eq(a->dpdk_tso, b->dpdk_tso);
	cr_assert_eq(a->dpdk_tso_max_bytes, b->dpdk_tso_max_bytes);
	cr_assert_eq(a->txlog_inflight, b->txlog_inflight);
	assert_same_tls(&a->tls, &b->tls);
	cr_assert_eq(a->ssl_quorum, b->ssl_quorum);
	assert_same_tls(&a->quorum_tls, &b->quorum_tls);
	cr_assert_eq(a->admin_enable, b->admin_enable);
	assert_same_str(a->admin_address, b->admin_address);
	cr_assert_eq(a->admin_port, b->admin_port);
	assert_same_str(a->admin_command_url, b->admin_command_url);
	cr_assert_eq(a->admin_idle_timeout_ms, b->admin_idle_timeout_ms);
	cr_assert_eq(a->admin_snapshot_enable, b->admin_snapshot_enable);
	cr_assert_eq(a->admin_restore_enable, b->admin_restore_enable);
	cr_assert_eq(a->admin_rate_limit_ms, b->admin_rate_limit_ms);
	cr_assert_eq(a->distributed, b->distributed);
	cr_assert_eq(a->n_extras, b->n_extras);
	for (size_t i = 0; i < a->n_extras; i++) {
		cr_assert_str_eq(a->extras[i].key, b->extras[i].key);
		cr_assert_str_eq(a->extras[i].value, b->extras[i].value);
		cr_assert_eq(a->extras[i].known, b->extras[i].known);
	}
}

/* Parses text, prints, parses the print, and checks both agree. */
static void round_trip(const char *text)
{
	struct cfg a, b;
	char *first, *second;

	parse_ok(&a, text);
	first = print_to_string(&a);
	parse_ok(&b, first);
	second = print_to_string(&b);
	assert_same(&a, &b);
	cr_assert_str_eq(first, second, "printing is a fixed point");
	free(first);
	free(second);
	cfg_free(&a);
	cfg_free(&b);
}

Test(print, builtin_default_round_trips)
{
	round_trip(cfg_builtin_text);
}

Test(print, builtin_default_shows_loopback_and_data)
{
	struct cfg_error err;
	struct cfg c;
	char *v;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_builtin(&c, &err), 0);
	cr_assert_eq(cfg_finalize(&c, &err), 0);
	v = printed_value(&c, "clientPortAddress");
	cr_assert_str_eq(v, "127.0.0.1");
	free(v);
	v = printed_value(&c, "clientPort");
	cr_assert_str_eq(v, "2181");
	free(v);
	v = printed_value(&c, "dataDir");
	cr_assert_str_eq(v, "./data");
	free(v);
	v = printed_value(&c, "minSessionTimeout");
	cr_assert_str_eq(v, "4000");
	free(v);
	v = printed_value(&c, "4lw.commands.whitelist");
	cr_assert_str_eq(v, "srvr");
	free(v);
	cfg_free(&c);
}

Test(print, quorum_round_trips)
{
	round_trip("dataDir=/var/lib/zookeeper\n"
		   "dataLogDir=/var/log/zk txn\n"
		   "clientPort=2181\n"
		   "clientPortAddress=::\n"
		   "tickTime=1000\ninitLimit=10\nsyncLimit=5\n"
		   "minSessionTimeout=3000\n"
		   "maxClientCnxns=0\n"
		   "clientPortListenBacklog=64\n"
		   "autopurge.snapRetainCount=10\nautopurge.purgeInterval=1\n"
		   "peerType=observer\nreconfigEnabled=true\n"
		   "localSessionsEnabled=true\nlocalSessionsUpgradingEnabled=true\n"
		   "quorumListenOnAllIPs=true\nsyncEnabled=false\n"
		   "version=1a\n"
		   "server.3=[2001:db8::3]:2888:3888;[2001:db8::3]:2181\n"
		   "server.1=zk1:2888:3888:participant;2181\n"
		   "server.2=zk2:2888:3888\n"
		   "server.4=zk4:2888:3888:observer;10.0.0.4:2181\n"
		   "snapCount=50000\nsnapSizeLimitInKb=0\npreAllocSize=16384\n"
		   "jute.maxbuffer=0x400000\nglobalOutstandingLimit=5000\n"
		   "maxCnxns=1000\nforceSync=no\nextendedTypesEnabled=true\n"
		   "4lw.commands.whitelist=ruok, stat, mntr, conf, isro\n");
}

/* System properties Cheetah acts on print with the typed keys, not as extras. */
Test(print, container_manager_keys_round_trip)
{
	struct cfg c;
	char *v, *all;

	round_trip(BASE "znode.container.checkIntervalMs=0x1f4\n"
			"zookeeper.znode.container.maxPerMinute=120\n"
			"znode.container.maxNeverUsedIntervalMs=86400000000\n");
	parse_ok(&c, BASE "zookeeper.znode.container.checkIntervalMs=500\n");
	v = printed_value(&c, "znode.container.checkIntervalMs");
	cr_assert_str_eq(v, "500");
	free(v);
	v = printed_value(&c, "znode.container.maxPerMinute");
	cr_assert_str_eq(v, "10000");
	free(v);
	v = printed_value(&c, "znode.container.maxNeverUsedIntervalMs");
	cr_assert_str_eq(v, "0");
	free(v);
	all = print_to_string(&c);
	cr_assert_null(strstr(all, "# Accepted but not used"), "%s", all);
	free(all);
	cfg_free(&c);
}

Test(print, cheetah_keys_round_trip)
{
	round_trip(BASE "cheetah.dataplane=dpdk\n"
			"cheetah.dataplane.cores=1-4,7,9-10,1023\n"
			"cheetah.broadcast.core=0\n"
			"cheetah.dpdk.eal=-l 0-10 --no-huge --vdev=net_tap0,iface=t0\n"
			"cheetah.dpdk.idle=spin\n"
			"cheetah.dpdk.exception=cht-mgmt0\n"
			"cheetah.port.ip=192.168.7.2\n"
			"cheetah.port.gateway=192.168.7.1\n"
			"cheetah.log.level=debug\n"
			"cheetah.tcp.rto_min_ms=50\n"
			"cheetah.txlog.inflight=1\n");
}

Test(print, all_four_letter_words_print_as_star)
{
	struct cfg c;
	char *v;

	parse_ok(&c, BASE "4lw.commands.whitelist=*\n");
	v = printed_value(&c, "4lw.commands.whitelist");
	cr_assert_str_eq(v, "*");
	free(v);
	cfg_free(&c);
	round_trip(BASE "4lw.commands.whitelist=*\n");
}

Test(print, extras_with_awkward_characters_round_trip)
{
	round_trip(BASE
		   "odd\\ key\\=with\\:seps=value with = and : and # inside\n"
		   "\\#notacomment=1\n"
		   "\\!alsonot=2\n"
		   "tabs=a\\tb\\nc\\rd\\fe\n"
		   "back=\\\\server\\\\share\n"
		   "ctl=\\u0001\\u007f\n"
		   "utf=caf\\u00e9 \xe2\x82\xac\n"
		   "empty=\n"
		   "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n"
		   "observerMasterPort=2281\n"
		   "metricsProvider.httpPort=7000\n"
		   "dataLogDir=/path/with\\\\backslash and space\n");
}

Test(print, sasl_settings_round_trip)
{
	round_trip(BASE "quorum.auth.enableSasl=true\n"
			"quorum.auth.learnerRequireSasl=true\n"
			"quorum.auth.serverRequireSasl=true\n");
}

Test(print, client_sasl_round_trips)
{
	round_trip(BASE
		   "java.security.auth.login.config=/etc/cheetah/jaas.conf\n"
		   "zookeeper.sasl.serverconfig=Server2\n"
		   "authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n"
		   "kerberos.removeHostFromPrincipal=true\n"
		   "security.auth_to_local=RULE:[1:$1]\n"
		   "superUser=alice\nzookeeper.superUser.ops=bob\n"
		   "SASLAuthenticationProvider.superPassword=s3cret\n"
		   "letAnySaslUserDoX=\n"
		   "allowSaslFailedClients=true\n"
		   "sessionRequireClientSASLAuth=true\n");
}

Test(print, header_and_extras_section_are_comments)
{
	struct cfg c;
	char *text;

	parse_ok(&c, BASE "mystery=1\n");
	text = print_to_string(&c);
	cr_assert_eq(strncmp(text, "# Cheetah ", 10), 0, "%s", text);
	cr_assert_not_null(strstr(text, "\n# Accepted but not used by Cheetah\nmystery=1\n"), "%s",
			   text);
	free(text);
	cfg_free(&c);
}

/*
 * The config / fuzz finding (CI, fuzz_config's round-trip abort): a
 * secureClientPort was printed without the key store it needs, so the
 * printed form failed to load ("secureClientPort needs
 * ssl.keyStore.location").  This is the fuzzer's reproducer cut down.
 */
Test(print, secure_client_port_keeps_its_key_store)
{
	struct cfg c;
	char *v;

	round_trip("dataDir=/d\nclientPort=2181\nsecureClientPort=2281\n"
		   "ssl.keyStore.location=/k.pem\n");
	parse_ok(&c, BASE "secureClientPort=2281\nzookeeper.ssl.keyStore.location=/k.pem\n");
	v = printed_value(&c, "ssl.keyStore.location");
	cr_assert_str_eq(v, "/k.pem");
	free(v);
	cfg_free(&c);
}

Test(print, client_tls_round_trips)
{
	round_trip(BASE "secureClientPort=2281\n"
			"secureClientPortAddress=127.0.0.1\n"
			"serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
			"ssl.keyStore.location=/etc/cheetah/server.bundle\n"
			"ssl.keyStore.type=pkcs12\n"
			"ssl.keyStore.password=p\\u00e4ss = word\n"
			"ssl.trustStore.location=/etc/cheetah/ca.pem\n"
			"ssl.trustStore.passwordPath=/etc/cheetah/ca.pw\n"
			"ssl.clientAuth=want\n"
			"ssl.protocol=TLSv1.3\n"
			"ssl.enabledProtocols=TLSv1.3,TLSv1.2\n"
			"ssl.ciphersuites=TLS_AES_128_GCM_SHA256\n"
			"ssl.hostnameVerification=false\n"
			"client.certReload=true\n"
			"ssl.authProvider=x509\n"
			"X509AuthenticationProvider.superUser=CN=admin,O=Example\n");
	/* TLS and plain on one port, and a provider named without TLS. */
	round_trip(BASE "client.portUnification=true\nssl.keyStore.location=/k.p12\n"
			"ssl.clientAuth=none\n");
	round_trip(BASE "authProvider.7=org.apache.zookeeper.server.auth."
			"X509AuthenticationProvider\nssl.keyStore.location=/unused.pem\n");
}

Test(print, quorum_tls_round_trips)
{
	round_trip("dataDir=/d\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n"
		   "server.1=a:2888:3888\nserver.2=b:2888:3888\nserver.3=c:2888:3888\n"
		   "sslQuorum=true\nsslQuorumReloadCertFiles=true\n"
		   "ssl.quorum.keyStore.location=/q/key.pem\n"
		   "ssl.quorum.keyStore.password=secret\n"
		   "ssl.quorum.trustStore.location=/q/trust\n"
		   "ssl.quorum.trustStore.type=PEM\n"
		   "ssl.quorum.protocol=TLSv1.3\n"
		   "ssl.quorum.ciphersuites=TLS_AES_256_GCM_SHA384\n"
		   "ssl.quorum.hostnameVerification=false\n");
}

Test(print, admin_and_read_only_round_trip)
{
	round_trip(BASE "admin.enableServer=false\n"
			"admin.serverAddress=127.0.0.1\n"
			"admin.serverPort=0x1f90\n"
			"zookeeper.admin.commandURL=/cmds\n"
			"admin.idleTimeout=1000\n"
			"admin.snapshot.enabled=false\n"
			"admin.restore.enabled=false\n"
			"admin.rateLimiterIntervalInMS=0\n"
			"readonlymode.enabled=true\n");
}

/*
 * What the CI finding's input was known to hold (a mutated every-key.cfg:
 * "key: value", 0xff bytes inside key names, keys run together), and the
 * other shapes of key java.util.Properties allows: each prints to a form
 * that loads back to the same keys and values.
 */
Test(print, mutated_keys_round_trip)
{
	struct cfg c;
	char *v;

	round_trip("dataDir : /d\n"
		   "clientPort 2181\n"
		   "syncLimit: 6\n"
		   "initLimit=5\n"
		   "my\xffkey=1\n"
		   "\xff\xff=2\n"
		   "k\xff"
		   "e\xffy: v\xff\n"
		   "a\\=b\\:c\\ d=e\n"
		   "zookeeper.skipACL=yes\n"
		   "skipACL=no\n"
		   "my.tick=2000dataDir=/x\n"
		   "my.own=1my.own=2\n"
		   "my.own=3\n"
		   "cont=a\\\n   b\\\n\tc\n"
		   "uni=\\u00ff\\u0041\n"
		   "superUser.a=x\n"
		   "zookeeper.superUser.a=y\n"
		   "ssl.foo=1\n"
		   "zookeeper.ssl.foo=2\n"
		   "emulate353TTLNodes=false\n"
		   "zookeeper.emulate353TTLNodes=true\n"
		   "cheetah.dpdk.eal=-l 1\\u000b2 \\\\x\n"
		   "=empty key\n"
		   ":colon\n"
		   " key\\\n  continued=v\n");
	/* Keys run together: the second key is part of the first one's value. */
	parse_ok(&c, BASE "my.own=1my.own=2\n");
	v = printed_value(&c, "my.own");
	cr_assert_str_eq(v, "1my.own=2");
	free(v);
	cfg_free(&c);
	/* A 0xff byte in a Cheetah key's name makes it an unknown, kept key. */
	parse_ok(&c, BASE "ch\xff"
			  "eetah.dataplane=dpdk\n");
	cr_assert_eq(c.dataplane, CFG_DATAPLANE_SOCK);
	v = printed_value(&c, "ch\xff"
			      "eetah.dataplane");
	cr_assert_str_eq(v, "dpdk");
	free(v);
	cfg_free(&c);
}
