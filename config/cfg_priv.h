/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to config/: the Properties reader, the key table and the
 * bookkeeping shared between them.  Not included from outside config/.
 */
#ifndef CHEETAH_CONFIG_CFG_PRIV_H
#define CHEETAH_CONFIG_CFG_PRIV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Where a value came from: a source (file, "--set") and a line (0: none). */
struct cfg_loc {
	int src;
	unsigned line;
};

/* A key seen so far, under its canonical name, for duplicates and checks. */
struct cfg_seen {
	char *key;
	struct cfg_loc loc;
	bool warned; /* the "not supported" warning was given */
};

struct cfg_priv {
	char **srcs; /* source names, indexed by cfg_loc.src */
	size_t n_srcs;
	int origin; /* last file source, -1: none */
	struct cfg_seen *seen;
	size_t n_seen;
	/* QuorumAuth switches, kept only for QuorumPeerConfig's checks. */
	bool sasl_enable;
	bool sasl_server_require;
	bool sasl_learner_require;
	bool dp_loaded; /* reading the dynamic file: only server.N allowed */
	bool finalized;
};

/* The source name used for command-line overrides. */
#define CFG_SET_SOURCE "--set"

/* ---- cfg_props.c: java.util.Properties syntax ---- */

/*
 * Called once per key/value, both unescaped and trimmed as ZooKeeper trims
 * them (String.trim()).  line is the first line of the logical line.  A
 * nonzero return stops the reader, which returns it.
 */
typedef int (*cfg_prop_fn)(void *arg, const char *key, const char *value, unsigned line);

/* Why the reader stopped by itself (malformed input). */
struct cfg_prop_err {
	unsigned line;
	const char *reason;
};

/*
 * Reads buf[0..len) as Properties.load() does (ISO-8859-1 bytes kept as
 * they are, \uXXXX written as UTF-8).  Returns 0, the callback's nonzero
 * value, -EINVAL with *perr filled, or -ENOMEM.
 */
int cfg_props_parse(const char *buf, size_t len, cfg_prop_fn fn, void *arg,
		    struct cfg_prop_err *perr);

/* Removes leading and trailing bytes <= ' ' in place, as String.trim(). */
char *cfg_java_trim(char *s);

/* ---- config.c: shared helpers ---- */

/* Formats "<source>[:line]: message" into err; returns -EINVAL. */
int cfg_errf(const struct cfg *c, struct cfg_error *err, struct cfg_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records a warning "<source>[:line]: message"; returns 0 or -ENOMEM. */
int cfg_warnf(struct cfg *c, struct cfg_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Records that canonical key was set at loc.  Returns the entry (new or
 * existing) or NULL on allocation failure; *dup_line is set to the line of
 * an earlier setting in the same source, else 0.
 */
struct cfg_seen *cfg_seen_note(struct cfg *c, const char *key, struct cfg_loc loc,
			       unsigned *dup_line);

/* The entry for a canonical key, or NULL. */
const struct cfg_seen *cfg_seen_find(const struct cfg *c, const char *key);

/* ---- cfg_keys.c: the keys ---- */

/* Applies one key = value (both trimmed) from loc. */
int cfg_apply(struct cfg *c, struct cfg_loc loc, const char *key, const char *value,
	      struct cfg_error *err);

/* Parses the value of server.<id> into *s (owned strings). */
int cfg_parse_server(struct cfg *c, struct cfg_loc loc, const char *key, const char *value,
		     struct cfg_server *s, struct cfg_error *err);

/* Finds a server by id, or NULL. */
struct cfg_server *cfg_server_find(struct cfg *c, int64_t id);

/* Java Integer.parseInt / Long.parseLong over [min, max]: 0 or -EINVAL. */
int cfg_parse_java_long(const char *s, int64_t min, int64_t max, int64_t *out);

/* Java Long.decode (0x, #, leading-0 octal) over [min, max]: 0 or -EINVAL. */
int cfg_parse_java_decode(const char *s, int64_t min, int64_t max, int64_t *out);

/* Long.parseLong(s, 16) without a sign: 0 or -EINVAL. */
int cfg_parse_hex(const char *s, uint64_t *out);

/* Writes a core set as "0-3,6" into buf. */
void cfg_format_cores(const uint64_t *bits, char *buf, size_t size);

/* Known four-letter words, in enum cfg_4lw bit order. */
extern const char *const cfg_4lw_names[];
#define CFG_4LW_COUNT 20

#endif
