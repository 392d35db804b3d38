/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside replication/: the ensemble's membership as ZooKeeper users see it
 * (ens_conf.c): every member's server line (addresses, ports, role) and
 * the configuration's version, i.e. what /zookeeper/config holds and what
 * zoo.cfg.dynamic.<version> persists.  Raft's own membership (raft_conf:
 * ids and voter flags) is derived from it.
 *
 * Threads: repl_open's thread (ens_open) and the broadcast thread; no
 * locking, one owner.
 */
#ifndef CHEETAH_REPLICATION_ENS_CONF_H
#define CHEETAH_REPLICATION_ENS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "raft/raft.h"

/* The data of /zookeeper/config: 16 lines of at most 1 KiB, and the version. */
#define ENS_CONF_TEXT_MAX (RAFT_MAX_MEMBERS * (CFG_SERVER_LINE_MAX + 32) + 64)

struct ens_members {
	struct cfg_server s[RAFT_MAX_MEMBERS]; /* sorted by id; strings owned */
	size_t n;
	uint64_t version; /* ZooKeeper's config version (a zxid), 0: never set */
};

/*
 * Copies c's server lines (finalized: sorted by id) and version into *m.
 * Returns 0, -EINVAL (more than RAFT_MAX_MEMBERS servers) or -ENOMEM; on
 * failure *m is empty.
 */
int ens_members_from_cfg(struct ens_members *m, const struct cfg *c);

/* Frees the strings; *m becomes empty.  NULL or empty is fine. */
void ens_members_free(struct ens_members *m);

/*
 * Raft's view: ids and voter flags.  Returns 0 or -EINVAL (no member, no
 * voter, duplicates: raft_conf_check()).
 */
int ens_members_raft(const struct ens_members *m, struct raft_conf *out);

/*
 * The data of /zookeeper/config (with_version) or the body of
 * zoo.cfg.dynamic.<version> into buf[0..cap).  Returns the length or
 * -ENOSPC / -EINVAL (cfg_dynamic_format()).
 */
int ens_members_text(const struct ens_members *m, bool with_version, char *buf, size_t cap);

/*
 * Parses the data of /zookeeper/config (server lines and a version line,
 * '\n'-separated, at most ENS_CONF_TEXT_MAX bytes) into *m.  Returns 0,
 * or -EINVAL with why[] saying what is wrong (then *m is empty), -ENOMEM.
 */
int ens_members_parse(struct ens_members *m, const char *text, size_t len, char *why,
		      size_t why_cap);

/* A deep copy.  Returns 0 or -ENOMEM (dst empty). */
int ens_members_copy(struct ens_members *dst, const struct ens_members *src);

/* Adds or replaces (by id) a copy of s.  Returns 0, -ENOSPC or -ENOMEM. */
int ens_members_put(struct ens_members *m, const struct cfg_server *s);

/* Removes id; false when it was not a member. */
bool ens_members_drop(struct ens_members *m, int64_t id);

/* The member with that id, or NULL. */
const struct cfg_server *ens_members_find(const struct ens_members *m, int64_t id);

#endif
