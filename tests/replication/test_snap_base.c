// SPDX-License-Identifier: Apache-2.0
/*
 * replication/snap_base.h: which snapshot a live install accepts as the
 * one its raft meta names.  The case that matters: a base that is a new
 * leader's no-op (zxid term << 32, counter 0) holds an earlier term's last
 * txn (commit 681aa35; before it the wiped member of ensemble faults
 * empty_disk stopped on such a snapshot, leaving no quorum).
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "replication/snap_base.h"

static uint64_t zx(uint32_t epoch, uint32_t counter)
{
	return (uint64_t)epoch << 32 | counter;
}

Test(snap_base, a_no_op_base_holding_an_earlier_terms_zxid_is_accepted)
{
	/* leader of epoch 5 snapshotted at its no-op: the tree ends in epoch 3 */
	cr_assert(snap_base_ok((int64_t)zx(3, 0x41), zx(5, 0)));
	cr_assert(snap_base_ok((int64_t)zx(4, 0xffffffffu), zx(5, 0)));
	/* the first term's no-op over an empty tree */
	cr_assert(snap_base_ok(0, zx(1, 0)));
	/* and the no-op's own zxid, or later (fuzzy), of course */
	cr_assert(snap_base_ok((int64_t)zx(5, 0), zx(5, 0)));
	cr_assert(snap_base_ok((int64_t)zx(5, 9), zx(5, 0)));
}

Test(snap_base, the_base_itself_or_later_is_accepted)
{
	cr_assert(snap_base_ok((int64_t)zx(2, 7), zx(2, 7)), "equal");
	cr_assert(snap_base_ok((int64_t)zx(2, 8), zx(2, 7)), "fuzzy: txns applied during the walk");
	cr_assert(snap_base_ok((int64_t)zx(3, 1), zx(2, 7)), "fuzzy, into the next term");
	cr_assert(snap_base_ok(0, 0), "the empty tree of index 0");
}

Test(snap_base, an_older_snapshot_than_the_meta_is_refused)
{
	cr_assert_not(snap_base_ok((int64_t)zx(2, 6), zx(2, 7)), "one txn short");
	cr_assert_not(snap_base_ok((int64_t)zx(1, 900), zx(2, 7)), "an earlier term's");
	cr_assert_not(snap_base_ok(0, zx(2, 1)), "empty, for a base with txns");
}

Test(snap_base, impossible_zxids_are_refused)
{
	cr_assert_not(snap_base_ok(-1, zx(2, 0)), "no tree zxid");
	cr_assert_not(snap_base_ok(-1, 0));
	cr_assert_not(snap_base_ok(INT64_MAX, UINT64_MAX - 0xffffffffu), "a meta zxid above int64");
}
