/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What prep.c needs from acl_check.c: ZooKeeper's fixupACL, the step that
 * validates the ACL list of a create or setACL and expands the "auth"
 * scheme into the caller's authenticated ids.  Private to tree/.
 */
#ifndef CHEETAH_TREE_PREP_PRIV_H
#define CHEETAH_TREE_PREP_PRIV_H

#include "tree.h"

/*
 * PrepRequestProcessor.fixupACL: drops duplicate entries (first one
 * kept), refuses an empty or null list, keeps world:anyone, replaces each
 * "auth" entry by one entry per authenticated id of auth (digest ids;
 * ip ids are not "authenticated"), and refuses entries whose scheme has
 * no provider (only "digest" and "ip" are registered) or whose id the
 * provider finds invalid.  Entries are never merged after expansion.
 *
 * Appends the resulting list (jute encoding: int count, entries) to out
 * and returns ZK_OK, or returns ZK_INVALIDACL and leaves out's length
 * unchanged.  The list may take at most max_len bytes: "auth" expansion
 * (entries x ids) beyond it is ZK_INVALIDACL, checked as it is written,
 * so a 20-byte request cannot make a 1 GB ACL (ZooKeeper would log it
 * and then fail to read it back: its log reader refuses a record longer
 * than jute.maxbuffer + 1 KiB; tree/snapshot.c refuses an ACL longer than
 * jute.maxbuffer).
 * Allocation failure is left in out->err (then ZK_OK may be returned
 * with nothing appended; the caller checks out->err).  Any thread; no
 * state.
 */
enum zk_err prep_fixup_acl(const struct jute_acl_list *acl, const struct tree_auth *auth,
			   size_t max_len, struct jute_out *out);

#endif
