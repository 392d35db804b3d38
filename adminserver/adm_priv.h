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
};

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
json_t *adm_run(const struct adm_env *e, const char *name);

/* Parses a Java-style number of a four-letter word's text into a JSON value. */
json_t *adm_value(const char *s);

#endif
