/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AdminServer: ZooKeeper's embedded HTTP server for operators
 * (admin.enableServer, admin.serverAddress, admin.serverPort,
 * admin.commandURL, admin.idleTimeout).  GET <commandURL> lists the
 * commands as links; GET <commandURL>/<name> runs one (its primary name
 * or an alias) and answers ZooKeeper's JSON: the command's fields, then
 * "command" (the primary name) and "error" (null, or a message).
 *
 * It runs on a thread of its own, never on a dataplane worker or the
 * broadcast core.  Its data comes through one narrow call (adm_source:
 * the dataplane's dp_admin_text in the server), which reads the
 * counters and the tree the way the four-letter words do, without
 * waiting for any worker.
 *
 * Life cycle, from the main thread:
 *
 *	adm_start(&{cfg, source, ctx}, &adm);  binds and starts the thread
 *	...
 *	adm_stop(adm);                         joins, frees
 */
#ifndef CHEETAH_ADMINSERVER_ADMINSERVER_H
#define CHEETAH_ADMINSERVER_ADMINSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;
struct adm;
struct dp_conn_info;
struct repl_sessions;
struct repl_learner_info;
struct dp_stats;
struct dp_mntr_field;

/*
 * Where the AdminServer's data comes from: the text of a four-letter
 * word answered on the spot ("ruok", "gtmk", "mntr", "conf", "envi",
 * "dirs"), as dp_admin_text gives it: 0 with *out
 * (malloc'd, NUL-terminated, freed by the AdminServer) and *len, or a
 * negative errno.  Called on the AdminServer's thread, a registered RCU
 * (QSBR) reader, offline (the source goes online as it needs).
 */
typedef int (*adm_source_fn)(void *ctx, const char *word, char **out, size_t *len);

/*
 * Where the commands that need data rather than a word's text get it: C
 * structs, with the meaning, errors and threading rules of the dataplane's
 * dp_info.h functions of the same names (the server passes those, ctx
 * being its struct dp; unit tests pass fakes).  Called on the
 * AdminServer's thread, offline.  A NULL member: the command answers
 * that it is not available.
 */
struct adm_info_ops {
	int (*connections)(void *ctx, struct dp_conn_info **out, size_t *n);
	int (*sessions)(void *ctx, struct repl_sessions **out);
	int (*ephemerals)(void *ctx,
			  int (*fn)(void *arg, int64_t session, const char *path, size_t len),
			  void *arg);
	int (*last_snapshot)(void *ctx, int64_t *zxid, int64_t *mtime_s);
	size_t (*digests)(void *ctx, int64_t *zxids, uint64_t *digests, size_t max);
	void (*set_trace_mask)(void *ctx, int64_t mask);
	void (*reset_observers)(void *ctx);
	uint32_t (*observers)(void *ctx, struct repl_learner_info *out, uint32_t max);
	int (*authorize)(void *ctx, const char *header, const char *peer_ip, int32_t perm,
			 const char *path);
	int (*snapshot)(void *ctx, int fd, int64_t *zxid, bool *consistent);
	int (*restore)(void *ctx, int fd, int64_t *zxid);
	/*
	 * The server's figures (dp_stats_snapshot): is_read_only, server_stats,
	 * stats' server part, zabstate's zxid and the "not serving" check take
	 * them from here, not from srvr's or isro's text.
	 */
	int (*stats)(void *ctx, struct dp_stats *out);
	/*
	 * monitor's map: mntr's typed fields in order (dp_info_monitor), the
	 * one list mntr's text is printed from.  0, or -EAGAIN when not serving.
	 */
	int (*monitor)(void *ctx, void (*fn)(void *arg, const struct dp_mntr_field *f), void *arg);
};

struct adm_opts {
	const struct cfg *cfg; /* finalized; must outlive the AdminServer */
	adm_source_fn source;
	void *ctx;
	const struct adm_info_ops *info; /* NULL: those commands answer an error */
	/*
	 * false: the thread does not register with RCU (unit tests with a
	 * source that touches no tree); the server passes true.
	 */
	bool rcu;
};

/* Bounds (docs/OPERATIONS.md). */
enum {
	ADM_MAX_CONNECTIONS = 64,	  /* open HTTP connections at once */
	ADM_CONNECTION_MEMORY = 16384,	  /* per connection: request line + headers */
	ADM_MAX_BODY = 65536,		  /* a POST body is read and dropped up to this */
	ADM_MAX_INITIAL_CONFIG = 1 << 20, /* initial_configuration reads this much */
};
/* The largest restore body (a snapshot) taken, spooled to an unlinked file in dataDir. */
#define ADM_MAX_RESTORE ((uint64_t)4 << 30)

/*
 * Starts the AdminServer when cfg->admin_enable (else returns 0 with
 * *out NULL): binds admin.serverAddress:admin.serverPort (0: an
 * ephemeral port, see adm_port) and starts its thread.  Returns 0, or a
 * negative errno with nothing left running: -EADDRINUSE (port taken),
 * -EADDRNOTAVAIL / -EINVAL (bad address), -ENOMEM, or the errno of the
 * failing call; logged.  ZooKeeper logs a failed AdminServer and serves
 * on; so does the caller.  Main thread.
 */
int adm_start(const struct adm_opts *opts, struct adm **out);

/* The TCP port it listens on (the real one when admin.serverPort=0). */
uint16_t adm_port(const struct adm *a);

/* Stops the thread, closes every connection, frees a (NULL: no-op).  Main thread. */
void adm_stop(struct adm *a);

#endif
