/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the AdminServer: the command table and the JSON it answers,
 * apart from HTTP so that unit tests can run the commands on a fake
 * source.  Thread: the AdminServer's.
 */
#ifndef CHEETAH_ADMINSERVER_ADM_PRIV_H
#define CHEETAH_ADMINSERVER_ADM_PRIV_H

#include <jansson.h>

#include "adminserver.h"

struct adm_env {
	const struct cfg *cfg;
	adm_source_fn source;
	void *ctx;
	const struct adm_info_ops *info; /* may be NULL */
	/* Rate limiters of snapshot and restore (ZooKeeper's RateLimiter, one each). */
	struct adm_rate {
		int64_t last_ms; /* monotonic ms of the last reset */
		int remained;
	} rate_snapshot, rate_restore;
};

/*
 * One HTTP request as a command sees it, and what the command answers
 * besides its JSON.  NULL where unit tests run a command without HTTP.
 */
struct adm_call {
	const char *(*arg)(void *argctx, const char *key); /* a query parameter, NULL: absent */
	void *argctx;
	const char *auth;    /* the Authorization header, NULL: absent */
	const char *peer_ip; /* the client's address */
	bool post;
	int body_fd; /* POST restore: the body, spooled (-1: none) */
	/* out */
	unsigned status;     /* HTTP status; 200 unless the command says otherwise */
	char hdr[2][2][40];  /* up to two response headers: name, value ("" unused) */
	int stream_fd;       /* >= 0: send this file (application/octet-stream), not JSON */
	uint64_t stream_len;
};

/*
 * adm_run for an HTTP request: the command's flags decide what call must
 * hold (POST commands need call->post and a body; commands with an
 * AuthRequest check call->auth).  adm_run(e, name) is this with a GET
 * call without arguments, headers or peer.
 */
json_t *adm_run_call(struct adm_env *e, const char *name, struct adm_call *call);

/* The structured commands (adm_structured.c), run by adm_run_call's table. */
int adm_c_connections(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_stats(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_dump(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_last_snapshot(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_hash(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_system_properties(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_set_trace_mask(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_observers(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_observer_reset(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_snapshot(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);
int adm_c_restore(struct adm_env *e, struct adm_call *c, json_t *r, const char **err);

/*
 * Whether a restore request with these credentials would be let through
 * (enabled, and authorized on "/"): the HTTP side spools a restore body
 * to disk only then, so that nobody without the right can fill dataDir.
 */
bool adm_may_restore(struct adm_env *e, const char *auth, const char *peer_ip);

/* An unlinked file in dataDir (else /tmp) for a snapshot or a restore body: fd or -errno. */
int adm_spool_fd(const struct cfg *cfg);

/* srvr's JSON (adm_commands.c), which stats extends. */
int adm_server_stats(const struct adm_env *e, json_t *r, const char **err);
/* The JSON of the observers command without per-link figures (adm_commands.c). */
int adm_observers_base(const struct adm_env *e, json_t *r, const char **err);
/* A JSON string for any bytes: invalid UTF-8 becomes '?' (adm_commands.c). */
json_t *adm_any_string(const char *s);
/* "Not serving" as ZooKeeper says it, or NULL when the server serves (adm_commands.c). */
const char *adm_not_serving(const struct adm_env *e);

/* Primary names, in ZooKeeper's order (GET <commandURL> lists them). */
extern const char *const adm_cmd_names[];
extern const size_t adm_n_cmds;

/*
 * Runs the command called name (primary or alias) and returns ZooKeeper's
 * response object: the command's fields, then "command" and "error"
 * (ZooKeeper answers an unknown command, and a failing one, with HTTP
 * 200 and a message in "error").  NULL only when out of memory.  The
 * caller owns the object.
 */
json_t *adm_run(struct adm_env *e, const char *name);

/* Parses a Java-style number of a four-letter word's text into a JSON value. */
json_t *adm_value(const char *s);

#endif
