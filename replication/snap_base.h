/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside replication/: whether a snapshot received from the leader and
 * loaded for a live install (ensemble.c install_finish) is the one its
 * raft meta names, judged by zxids alone.  A pure function, in a header so
 * that it is unit-tested (tests/replication/test_snap_base.c).
 *
 * Why this rule.  The meta's zxid is the zxid of the raft entry at the
 * snapshot's base index.  A snapshot is a fuzzy walk that started after
 * that entry was applied, so its tree holds every txn up to the base:
 * its last zxid is at least the meta's, or later (txns applied during the
 * walk).  One exception: the base entry may be a new leader's no-op,
 * whose zxid is (term << 32) with counter 0 and which carries no txn.
 * The tree's last zxid is then the last txn of an EARLIER term, below
 * the meta's, and that is the snapshot the leader meant (commit 681aa35:
 * refusing it stopped a wiped member for good, leaving no quorum).
 * Anything else below the meta's zxid is an older snapshot than the one
 * named (a file of that name replaced, a leader's bug): refused, and the
 * member stops rather than apply the log on the wrong state.
 *
 * Threads: any (no state).
 */
#ifndef CHEETAH_REPLICATION_SNAP_BASE_H
#define CHEETAH_REPLICATION_SNAP_BASE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * True when a snapshot whose tree holds txns up to zxid `loaded` may be
 * installed as the snapshot of a raft meta whose base entry has zxid
 * `meta_zxid`: loaded >= meta_zxid, or the base is a no-op (counter 0:
 * the tree's zxid is an earlier term's, any loaded below it will do).  A
 * negative `loaded` (no tree zxid) is never right.
 */
static inline bool snap_base_ok(int64_t loaded, uint64_t meta_zxid)
{
	if (loaded < 0 || meta_zxid > INT64_MAX)
		return false;
	/* the base, or later (fuzzy) */
	if ((uint64_t)loaded >= meta_zxid)
		return true;
	/* below it: only under a no-op base, whose tree ends in an earlier term */
	return (meta_zxid & 0xffffffffu) == 0;
}

#endif
