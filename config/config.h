/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cheetah's configuration: Apache ZooKeeper's zoo.cfg, read the way
 * ZooKeeper 3.8 reads it (java.util.Properties syntax, QuorumPeerConfig's
 * keys, defaults and checks, ZooKeeper system properties given as
 * "key=value" lines), plus Cheetah's own keys under "cheetah.".
 *
 * Life cycle, all on one thread at start-up:
 *
 *	struct cfg c;
 *	struct cfg_error err;
 *
 *	cfg_defaults(&c);                       ZooKeeper's defaults
 *	cfg_load_file(&c, "zoo.cfg", &err);     or cfg_load_builtin()
 *	cfg_set(&c, "tickTime=3000", &err);     --set overrides, any number
 *	cfg_finalize(&c, &err);                 cross-key checks, derived values
 *	... read the fields ...
 *	cfg_free(&c);
 *
 * Every function that can fail returns 0 or a negative errno and, when
 * err is not NULL, leaves one line in err->msg naming the place:
 * "zoo.cfg:12: tickTime must be a positive integer, got \"abc\"", or
 * "--set: ..." for a command-line override, or "zoo.cfg: dataDir is not
 * set" for a check that belongs to no single line.  After a failure the
 * struct stays valid for cfg_free() only.
 *
 * Strings and arrays in struct cfg belong to it and are freed by
 * cfg_free(); callers read them and never free or keep them past that.
 * The module does no I/O except reading the configuration file and the
 * dynamic configuration file it names; it never resolves host names.
 * Warnings (keys Cheetah accepts but does not act on, duplicates, values
 * ZooKeeper corrects) are collected in cfg->warnings, not printed; the
 * caller logs them with cfg_log_warnings() once the log level is set.
 *
 * Threads: loading, setting and finalizing happen on one thread at
 * start-up.  After cfg_finalize() nothing changes the struct, so any thread
 * may read it until cfg_free().
 */
#ifndef CHEETAH_CONFIG_CONFIG_H
#define CHEETAH_CONFIG_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"

/* Highest core number + 1 accepted in cheetah.dataplane.cores and friends. */
#define CFG_MAX_CORES 1024

/* Largest configuration file read (a zoo.cfg is a few kilobytes). */
#define CFG_MAX_FILE_SIZE (1u << 20)

/* ZooKeeperServerMain's ContainerManager defaults (znode.container.*). */
#define CFG_CONTAINER_CHECK_INTERVAL_MS 60000
#define CFG_CONTAINER_MAX_PER_MINUTE 10000

/* cheetah.txlog.inflight: batches of the transaction log written and
 * not yet durable at once (the pipelined group commit, replication/txlog.c;
 * 1 = the next batch waits for the previous one's fdatasync).  1 by
 * default: on a quiet machine it beat 2 at 10 and 30 % reads with both
 * fast (0.2 ms) and emulated slow (2 ms) syncs (docs/BENCHMARKS.md). */
#define CFG_TXLOG_INFLIGHT 1
#define CFG_TXLOG_INFLIGHT_MAX 4
/* cheetah.tcp.rto_min_ms: the dpdk stack's RTO minimum (Linux's 200 ms;
 * RFC 6298 2.4 says 1 s SHOULD, lower MAY; dataplane/net/tcp_timer.c) */
#define CFG_TCP_RTO_MIN_MS 200
#define CFG_DPDK_TSO_MAX_BYTES 65000
/* cheetah.dpdk.max_connections: connections one dpdk worker can hold (its
 * stack's control blocks and packet pool are sized from it, net_size_for). */
#define CFG_DPDK_MAX_CONNECTIONS 32768

struct cfg_error {
	char msg[256];
};

enum cfg_dataplane {
	CFG_DATAPLANE_SOCK = 0, /* kernel TCP sockets (default) */
	CFG_DATAPLANE_DPDK = 1, /* user-space TCP over DPDK */
};

/* cheetah.dpdk.idle: what a polled dataplane core does when idle. */
enum cfg_dpdk_idle {
	CFG_DPDK_IDLE_BACKOFF = 0, /* sleep in short, growing steps (default) */
	CFG_DPDK_IDLE_SPIN = 1,	   /* never sleep: a dedicated core */
};

/* QuorumPeer.LearnerType. */
enum cfg_learner_type {
	CFG_PARTICIPANT = 0,
	CFG_OBSERVER = 1,
};

/*
 * The four-letter words ZooKeeper knows (FourLetterCommands: 3.8's set plus
 * icfg and sysp from later releases), as bits of cfg->four_letter_words.
 */
enum cfg_4lw {
	CFG_4LW_CONF = 1u << 0,
	CFG_4LW_CONS = 1u << 1,
	CFG_4LW_CRST = 1u << 2,
	CFG_4LW_DIRS = 1u << 3,
	CFG_4LW_DUMP = 1u << 4,
	CFG_4LW_ENVI = 1u << 5,
	CFG_4LW_GTMK = 1u << 6,
	CFG_4LW_RUOK = 1u << 7,
	CFG_4LW_STMK = 1u << 8,
	CFG_4LW_SRST = 1u << 9,
	CFG_4LW_SRVR = 1u << 10,
	CFG_4LW_STAT = 1u << 11,
	CFG_4LW_WCHC = 1u << 12,
	CFG_4LW_WCHP = 1u << 13,
	CFG_4LW_WCHS = 1u << 14,
	CFG_4LW_MNTR = 1u << 15,
	CFG_4LW_ISRO = 1u << 16,
	CFG_4LW_HASH = 1u << 17,
	CFG_4LW_ICFG = 1u << 18,
	CFG_4LW_SYSP = 1u << 19,
	CFG_4LW_ALL = (1u << 20) - 1,
};

/* One server.N line: server.N=host:quorumPort:electionPort[:type][;[host:]port] */
struct cfg_server {
	int64_t id; /* N, >= 1 */
	char *host; /* without the [] of an IPv6 literal */
	uint16_t quorum_port;
	uint16_t election_port;
	enum cfg_learner_type type;
	char *client_host;    /* NULL: the line has no client part */
	uint16_t client_port; /* 0 when client_host is NULL */
};

/*
 * A key that has no typed field below: ZooKeeper keys Cheetah accepts but
 * does not act on (secureClientPort, admin.*, ssl.*, ...) and unknown keys,
 * which ZooKeeper turns into Java system properties "zookeeper.<key>".
 */
struct cfg_extra {
	char *key;   /* as written in the file (trimmed) */
	char *value; /* last value given */
	bool known;  /* a key ZooKeeper knows; false: unknown to ZooKeeper too */
};

/* ssl.clientAuth (X509Util.ClientAuth). */
enum cfg_client_auth {
	CFG_CLIENT_AUTH_NEED = 0, /* "need" or unset: a client certificate is required */
	CFG_CLIENT_AUTH_WANT = 1, /* asked for, optional */
	CFG_CLIENT_AUTH_NONE = 2, /* not asked for */
};

/* A key or trust store's format (ssl.*Store.type, else the file's extension). */
enum cfg_store_type {
	CFG_STORE_PEM = 0,
	CFG_STORE_PKCS12 = 1,
};

/*
 * TLS on the client port: ZooKeeper's ClientX509Util keys ("zookeeper."
 * optional), read by dataplane/io/tls.c.  Strings are owned by the cfg;
 * NULL when unset.  Only the sock backend serves TLS (cfg_finalize
 * refuses these keys with cheetah.dataplane=dpdk).
 */
struct cfg_tls {
	uint16_t secure_client_port;	  /* secureClientPort; 0 = none */
	char *secure_client_port_address; /* secureClientPortAddress; finalize: 0.0.0.0 */
	char *cnxn_factory;	      /* serverCnxnFactory (accepted; Netty expected with TLS) */
	char *keystore;		      /* ssl.keyStore.location */
	char *keystore_password;      /* ssl.keyStore.password */
	char *keystore_password_path; /* ssl.keyStore.passwordPath */
	enum cfg_store_type keystore_type;   /* ssl.keyStore.type or the extension */
	char *truststore;		     /* ssl.trustStore.location */
	char *truststore_password;	     /* ssl.trustStore.password */
	char *truststore_password_path;	     /* ssl.trustStore.passwordPath */
	enum cfg_store_type truststore_type; /* ssl.trustStore.type or the extension */
	char *keystore_type_name;	     /* ssl.keyStore.type as written */
	char *truststore_type_name;	     /* ssl.trustStore.type as written */
	enum cfg_client_auth client_auth;    /* ssl.clientAuth (need) */
	char *protocol;			     /* ssl.protocol; NULL: TLSv1.2 */
	char *enabled_protocols;    /* ssl.enabledProtocols, comma-separated; NULL: protocol */
	char *ciphersuites;	    /* ssl.ciphersuites, IANA names; NULL: ZooKeeper's list */
	bool hostname_verification; /* ssl.hostnameVerification (true; client side only) */
	bool port_unification;	    /* client.portUnification: TLS and plain on clientPort */
	bool cert_reload;	    /* client.certReload (quorum_tls: sslQuorumReloadCertFiles):
				     * reload changed store files */
	char *auth_provider;	    /* ssl.authProvider; NULL: "x509" */
	char *x509_super_user;	    /* X509AuthenticationProvider.superUser */
	bool x509_provider;	    /* an authProvider.* names X509AuthenticationProvider,
				     * or TLS is on (registered then, as ZooKeeper does) */
};

/* True when the configuration asks for TLS anywhere on the client side. */
static inline bool cfg_tls_wanted(const struct cfg_tls *t)
{
	return t->secure_client_port || t->port_unification;
}

struct cfg_priv;

struct cfg {
	/* ---- QuorumPeerConfig ---- */
	int32_t tick_time;		       /* tickTime, ms (ZooKeeper default 3000) */
	int32_t init_limit;		       /* initLimit, ticks; 0 = not set */
	int32_t sync_limit;		       /* syncLimit, ticks; 0 = not set */
	char *data_dir;			       /* dataDir; required */
	char *data_log_dir;		       /* dataLogDir; finalize: dataDir if unset */
	uint16_t client_port;		       /* clientPort; 0 = not set */
	char *client_port_address;	       /* clientPortAddress; finalize: "0.0.0.0" if unset */
	int32_t client_port_listen_backlog;    /* clientPortListenBacklog; -1 = OS default */
	int32_t max_client_cnxns;	       /* maxClientCnxns per client IP; 0 = no limit */
	int32_t min_session_timeout;	       /* ms; -1 until finalize derives 2 x tickTime */
	int32_t max_session_timeout;	       /* ms; -1 until finalize derives 20 x tickTime */
	int32_t snap_retain_count;	       /* autopurge.snapRetainCount, >= 3 */
	int32_t purge_interval;		       /* autopurge.purgeInterval, hours; 0 = off */
	int32_t election_alg;		       /* electionAlg, always 3 */
	enum cfg_learner_type peer_type;       /* peerType */
	bool standalone_enabled;	       /* standaloneEnabled (default true) */
	bool reconfig_enabled;		       /* reconfigEnabled (default false) */
	bool local_sessions_enabled;	       /* localSessionsEnabled */
	bool local_sessions_upgrading_enabled; /* localSessionsUpgradingEnabled */
	bool quorum_listen_on_all_ips;	       /* quorumListenOnAllIPs */
	bool sync_enabled;		       /* syncEnabled: observers log txns (default true) */
	char *dynamic_config_file;	       /* dynamicConfigFile; NULL if unset */
	char *config_file;		       /* the first file cfg_load_file() read; NULL: none */
	uint64_t version;		       /* "version" (hex) or the dynamic file's suffix */
	struct cfg_server *servers;	       /* server.N, sorted by id after finalize */
	size_t n_servers;

	/* ---- ZooKeeper system properties ("zookeeper." prefix optional) ---- */
	int32_t snap_count;		  /* snapCount (default 100000, >= 2) */
	int64_t snap_size_limit_kb;	  /* snapSizeLimitInKb; <= 0 = no size trigger */
	int64_t pre_alloc_size_kb;	  /* preAllocSize, KiB (default 65536) */
	int32_t jute_max_buffer;	  /* jute.maxbuffer, bytes (default 0xfffff) */
	int32_t global_outstanding_limit; /* globalOutstandingLimit (default 1000) */
	int32_t max_cnxns;		  /* maxCnxns, whole server; 0 = no limit */
	bool force_sync;		  /* forceSync: anything but "no" is yes */
	bool extended_types_enabled;	  /* extendedTypesEnabled: TTL nodes */
	bool read_only_mode;		  /* readonlymode.enabled */
	uint32_t four_letter_words;	  /* 4lw.commands.whitelist, enum cfg_4lw bits */
	/* ContainerManager's, read by ZooKeeper without the prefix (-D flags) */
	int32_t container_check_interval_ms; /* znode.container.checkIntervalMs, ms (60000) */
	int32_t container_max_per_minute;    /* znode.container.maxPerMinute (10000) */
	int64_t container_max_never_used_ms; /* znode.container.maxNeverUsedIntervalMs; 0 = off */
	/* DigestAuthenticationProvider.superDigest: "user:base64(sha1)", NULL if unset */
	char *super_digest;

	/* ---- TLS on the quorum links (replication/peer/peer.c) ---- */
	bool ssl_quorum;	   /* sslQuorum */
	struct cfg_tls quorum_tls; /* ssl.quorum.* (QuorumX509Util); only the store,
				    * protocol, cipher and hostname fields are used */

	/* ---- SASL on the client port (dataplane/session/sasl.c) ---- */
	char *jaas_config;	  /* java.security.auth.login.config; NULL: no SASL */
	char *sasl_login_context; /* sasl.serverconfig: the JAAS section; NULL: "Server" */
	bool sasl_provider;	  /* authProvider.N=...auth.SASLAuthenticationProvider */
	bool krb_remove_host;	  /* kerberos.removeHostFromPrincipal */
	bool krb_remove_realm;	  /* kerberos.removeRealmFromPrincipal */
	char *auth_to_local;	  /* security.auth_to_local; NULL: "DEFAULT" */
	/* superUser and superUser.<anything>: SASL ids that become super */
	struct cfg_extra *super_users;
	size_t n_super_users;
	char *sasl_super_password; /* SASLAuthenticationProvider.superPassword */
	char *let_any_sasl_user;   /* letAnySaslUserDoX */
	bool allow_sasl_failed;	   /* allowSaslFailedClients */
	bool enforce_auth;	   /* enforce.auth.enabled (or sessionRequireClientSASLAuth) */
	char *enforce_schemes;	   /* enforce.auth.schemes, comma-separated; NULL: none */
	bool require_sasl;	   /* sessionRequireClientSASLAuth */

	/* ---- SASL between the servers (replication/peer/peer_sasl.c) ---- */
	bool quorum_sasl;	     /* quorum.auth.enableSasl */
	bool quorum_learner_require; /* quorum.auth.learnerRequireSasl */
	bool quorum_server_require;  /* quorum.auth.serverRequireSasl */
	char
	    *quorum_learner_context; /* quorum.auth.learner.saslLoginContext; NULL: QuorumLearner */
	char *quorum_server_context; /* quorum.auth.server.saslLoginContext; NULL: QuorumServer */
	char *quorum_service_principal; /* quorum.auth.kerberos.servicePrincipal (GSSAPI) */

	/* ---- Cheetah ---- */
	enum cfg_dataplane dataplane;	       /* cheetah.dataplane: sock | dpdk */
	uint64_t dp_cores[CFG_MAX_CORES / 64]; /* cheetah.dataplane.cores bitmap */
	unsigned n_dp_cores;		       /* 0: not set, the dataplane chooses */
	/* cheetah.dataplane.workers: unpinned sock workers when no core is set (1) */
	int32_t dp_workers;
	int broadcast_core;   /* cheetah.broadcast.core; -1 = not set */
	char **dpdk_eal_argv; /* cheetah.dpdk.eal split on blanks, NULL-terminated */
	int dpdk_eal_argc;
	enum cfg_dpdk_idle dpdk_idle; /* cheetah.dpdk.idle: backoff | spin */
	/* cheetah.dpdk.exception: the kernel TAP interface's name that frames
	 * not for Cheetah go to (and whose frames go out of the port); "" = off */
	char dpdk_exception[16];
	struct in_addr port_ip;	      /* cheetah.port.ip; 0 = not set */
	struct in_addr port_netmask;  /* cheetah.port.netmask; finalize: /24 with dpdk */
	struct in_addr port_gateway;  /* cheetah.port.gateway; 0 = none */
	enum log_level log_level;     /* cheetah.log.level (default info) */
	int32_t dpdk_max_connections; /* cheetah.dpdk.max_connections: per worker (32768) */
	int32_t tcp_rto_min_ms;	      /* cheetah.tcp.rto_min_ms: dpdk's TCP RTO floor (200) */
	bool dpdk_tso;		      /* cheetah.dpdk.tso: use the device's TSO (true) */
	int32_t dpdk_tso_max_bytes;   /* cheetah.dpdk.tso_max_bytes: super-segment cap (65000) */
	int32_t txlog_inflight;	      /* cheetah.txlog.inflight: log batches in flight (1) */

	/* ---- The AdminServer (adminserver/), ZooKeeper's admin.* keys ---- */
	bool admin_enable;	       /* admin.enableServer (true) */
	char *admin_address;	       /* admin.serverAddress; NULL: 0.0.0.0 */
	int32_t admin_port;	       /* admin.serverPort (8080) */
	char *admin_command_url;       /* admin.commandURL; NULL: /commands */
	int32_t admin_idle_timeout_ms; /* admin.idleTimeout (30000) */
	/* ZooKeeper 3.9's zookeeper.admin.snapshot.enabled / restore.enabled (true) */
	bool admin_snapshot_enable;
	bool admin_restore_enable;
	/* zookeeper.admin.rateLimiterIntervalInMS (300000): snapshot and restore, one each per
	 * interval */
	int32_t admin_rate_limit_ms;

	/* ---- /metrics (metrics/), ZooKeeper's metricsProvider.* keys ---- */
	bool metrics_enable;  /* metricsProvider.className is the Prometheus provider */
	char *metrics_host;   /* metricsProvider.httpHost; NULL: 0.0.0.0 */
	int32_t metrics_port; /* metricsProvider.httpPort (7000; 0: an ephemeral port) */

	/* ---- TLS on the client port (ClientX509Util's keys) ---- */
	struct cfg_tls tls;

	/* ---- Derived by cfg_finalize() ---- */
	bool distributed; /* quorum mode (QuorumPeerConfig.isDistributed) */
	size_t n_participants;
	size_t n_observers;

	/* ---- Everything else, and what was said about it ---- */
	struct cfg_extra *extras; /* in order of first appearance */
	size_t n_extras;
	char **warnings; /* "zoo.cfg:7: ..." lines, in order */
	size_t n_warnings;

	struct cfg_priv *priv; /* parser bookkeeping; not for callers */
};

/*
 * Fills *c with ZooKeeper's defaults: what an empty zoo.cfg gives, which
 * cfg_finalize() rejects because dataDir is not set.  Any previous content
 * is overwritten without being freed.  Returns 0 or -ENOMEM.
 */
int cfg_defaults(struct cfg *c);

/*
 * Reads a zoo.cfg and applies its keys over what *c holds.  path is used
 * as given in messages.  Returns 0; -EINVAL for bad content; -ENOENT,
 * -EACCES, -EISDIR, -EFBIG or another errno when the file cannot be read;
 * -ENOMEM.  A key given twice in one file: the last value wins (as with
 * java.util.Properties) and a warning is recorded.
 */
int cfg_load_file(struct cfg *c, const char *path, struct cfg_error *err);

/*
 * As cfg_load_file() for text held in memory; name stands for the file in
 * messages.  Returns 0, -EINVAL or -ENOMEM.
 */
int cfg_load_string(struct cfg *c, const char *name, const char *text, struct cfg_error *err);

/*
 * Applies Cheetah's embedded default configuration, used when no file is
 * given: standalone, clientPortAddress=127.0.0.1, clientPort=2181,
 * dataDir=./data, tickTime=2000.  Returns 0 or -ENOMEM.
 */
int cfg_load_builtin(struct cfg *c, struct cfg_error *err);

/* The text cfg_load_builtin() applies, in zoo.cfg syntax. */
extern const char cfg_builtin_text[];

/*
 * Applies the -Dkey=value words of a JVM flags string (the environment
 * variables SERVER_JVMFLAGS and JVMFLAGS that ZooKeeper's zkServer.sh
 * passes to java, split on blanks as the shell splits them) whose key is
 * a SASL setting (cfg_jvmflag_key); other words are skipped.  name
 * stands for the variable in messages.  Apply before the files: zoo.cfg
 * wins, as ZooKeeper's System.setProperty of zoo.cfg keys does.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int cfg_load_jvmflags(struct cfg *c, const char *name, const char *flags, struct cfg_error *err);

/* Whether a -D key (without "-D") is one cfg_load_jvmflags takes. */
bool cfg_jvmflag_key(const char *key);

/*
 * Applies one command-line override "key=value" (split at the first '=',
 * both sides trimmed, no escapes) with the same checks as a file line;
 * messages start with "--set:".  Later calls win over earlier ones and
 * over files.  Returns 0, -EINVAL or -ENOMEM.
 */
int cfg_set(struct cfg *c, const char *key_eq_value, struct cfg_error *err);

/*
 * Cross-key validation and derived values, once, after every load and
 * set: dataDir required, dataLogDir and session timeouts derived, the
 * dynamic configuration file read, quorum membership checked (initLimit
 * and syncLimit required in quorum mode), Cheetah's dataplane settings
 * checked.  Returns 0, -EINVAL, -EALREADY if called twice, -ENOMEM, or the
 * errno of reading dynamicConfigFile.
 */
int cfg_finalize(struct cfg *c, struct cfg_error *err);

/*
 * Writes the effective settings to fp, one "key=value" per line in zoo.cfg
 * syntax (escaped as java.util.Properties needs), typed keys first, then
 * every extra key.  Loading the output and finalizing gives the same
 * configuration (tests/config/test_print.c, fuzz_config): every setting a
 * cfg_finalize() check reads is printed, TLS stores and passwords
 * included.  Call after a successful cfg_finalize().
 */
void cfg_print(const struct cfg *c, FILE *fp);

/* Logs every recorded warning once with log_warn(). */
void cfg_log_warnings(const struct cfg *c);

/*
 * Value of a key without a typed field, looked up as written and, failing
 * that, with the "zookeeper." prefix added or removed, so
 * cfg_extra_get(c, "zookeeper.DigestAuthenticationProvider.superDigest")
 * finds the zoo.cfg line "DigestAuthenticationProvider.superDigest=...".
 * Returns NULL if absent; the string belongs to c.
 */
const char *cfg_extra_get(const struct cfg *c, const char *key);

/* True when core is in cheetah.dataplane.cores. */
static inline bool cfg_dp_core_isset(const struct cfg *c, unsigned core)
{
	return core < CFG_MAX_CORES && (c->dp_cores[core / 64] >> (core % 64) & 1);
}

/*
 * The bit of a four-letter word ("ruok") in enum cfg_4lw, or 0 if ZooKeeper
 * does not know it.
 */
uint32_t cfg_4lw_bit(const char *word);

/* True when the four-letter word is enabled by 4lw.commands.whitelist. */
static inline bool cfg_4lw_enabled(const struct cfg *c, const char *word)
{
	uint32_t bit = cfg_4lw_bit(word);

	return bit && (c->four_letter_words & bit);
}

/* Frees everything *c owns and zeroes it; safe on a zeroed struct. */
void cfg_free(struct cfg *c);

/* Cheetah's release ("0.1.0"). */
const char *cfg_version(void);

/* ---- The dynamic configuration as text (cfg_dynamic.c) ---- */

/* The longest "server.N=..." line cfg_server_parse() accepts. */
#define CFG_SERVER_LINE_MAX 1024

/*
 * Parses one "server.N=host:quorumPort:electionPort[:role][;[host:]port]"
 * line of len bytes (not NUL-terminated; e.g. one of a ReconfigRequest's
 * joiningServers) with zoo.cfg's rules.  Returns 0 and *out (release with
 * cfg_server_release()), -EINVAL with err->msg saying why (empty, longer
 * than CFG_SERVER_LINE_MAX, a NUL byte, no '=', not server.N, a bad
 * spec), or -ENOMEM.  Any thread.
 */
int cfg_server_parse(const char *line, size_t len, struct cfg_server *out, struct cfg_error *err);
void cfg_server_release(struct cfg_server *s);

/*
 * Writes s as ZooKeeper 3.8's QuorumServer.toString() does
 * ("host:q:e:participant;chost:cport", the client part only if the line
 * had one, IPv6 literals in brackets) into buf[0..cap) with a NUL.
 * Returns the length written (without the NUL), -EINVAL, or -ENOSPC (buf
 * is left as "").
 */
int cfg_server_format(const struct cfg_server *s, char *buf, size_t cap);

/*
 * Writes the membership s[0..n) in the given order: with_version, the
 * data of /zookeeper/config ("server.N=...\n" each, then "version=<hex>",
 * no final newline); without, the body of zoo.cfg.dynamic.<version>
 * (lines joined by '\n', none after the last).  Returns the length (NUL
 * not counted), -EINVAL or -ENOSPC (buf left as "").
 */
int cfg_dynamic_format(const struct cfg_server *s, size_t n, uint64_t version, bool with_version,
		       char *buf, size_t cap);

/* ---- JAAS login configuration files (jaas.c) ---- */

/* An entry's control flag, as the JDK spells it (any case). */
enum cfg_jaas_flag {
	CFG_JAAS_REQUIRED,
	CFG_JAAS_REQUISITE,
	CFG_JAAS_SUFFICIENT,
	CFG_JAAS_OPTIONAL,
};

struct cfg_jaas_option {
	char *key;
	char *value; /* unquoted, escapes resolved */
};

/* One "LoginModuleClass flag key=value ... ;" */
struct cfg_jaas_entry {
	char *module;
	enum cfg_jaas_flag flag;
	struct cfg_jaas_option *options; /* a key appears once (the last value given) */
	size_t n_options;
};

/* One "Name { entries };" (at least one entry). */
struct cfg_jaas_section {
	char *name;
	struct cfg_jaas_entry *entries;
	size_t n_entries;
};

struct cfg_jaas {
	struct cfg_jaas_section *sections; /* names unique */
	size_t n_sections;
};

/*
 * Parses the text of a JAAS file (jaas.c's opening comment: the syntax,
 * and what is refused).  name stands for the file in messages
 * ("name:line: ...").  Returns 0 and *out (release with
 * cfg_jaas_free), -EINVAL with err->msg, or -ENOMEM.  Any thread.
 */
int cfg_jaas_parse(const char *name, const char *text, size_t len, struct cfg_jaas *out,
		   struct cfg_error *err);

/*
 * Reads and parses the file at path (a regular file of at most 1 MiB).
 * Returns as cfg_jaas_parse, or a negative errno when it cannot be read
 * (err->msg says so).
 */
int cfg_jaas_load(const char *path, struct cfg_jaas *out, struct cfg_error *err);

/* The section called name, or NULL.  Views into j. */
const struct cfg_jaas_section *cfg_jaas_find(const struct cfg_jaas *j, const char *name);
/* The value of option key in e, or NULL.  A view into e. */
const char *cfg_jaas_option(const struct cfg_jaas_entry *e, const char *key);
/* Frees what *j holds and zeroes it; safe on a zeroed struct. */
void cfg_jaas_free(struct cfg_jaas *j);


/*
 * Moves the calling thread off the configured dataplane cores and the
 * broadcast core (the CPUs the process may use, minus those), for service
 * threads such as the AdminServer's and /metrics'.  When nothing would be
 * left, as on a machine whose every CPU is configured, it stays where it is.
 * Returns 0 or a positive errno from pthread_setaffinity_np.
 */
int cfg_leave_pinned_cores(const struct cfg *c);

/*
 * host (NULL: the wildcard) and port as an IPv4 socket address: a dotted
 * quad, or a name resolved once (blocking: start-up only).  0 or
 * -EADDRNOTAVAIL.
 */
struct sockaddr_in;
int cfg_ipv4_address(const char *host, int port, struct sockaddr_in *sa);

#endif
