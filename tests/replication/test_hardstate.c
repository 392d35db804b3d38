// SPDX-License-Identifier: Apache-2.0
/*
 * The hard state file: round trips, a new directory, Raft's rules (term
 * never decreases, one vote per term), torn updates (a hardstate.tmp cut
 * at every length, left by a crash before the rename: the old state
 * wins and the file is deleted), damage to hardstate itself (every
 * prefix, every flipped byte, a longer file: refused), and a failing
 * fsync (this executable's fsync fails on request: the old state stays
 * both on disk and in the handle).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "replication/store/hardstate.h"
#include "tests/common/leakcheck.h"

static int fsync_fail; /* fsync fails with EIO while set */

int fsync(int fd)
{
	if (__atomic_load_n(&fsync_fail, __ATOMIC_SEQ_CST)) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

static char dir[512];

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	log_set_level(LOG_LVL_ERROR);
	snprintf(dir, sizeof(dir), "%s/cheetah-hs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	fsync_fail = 0;
}

static void teardown(void)
{
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	test_fini_no_leaks();
}

TestSuite(hardstate, .init = setup, .fini = teardown, .timeout = 30);

static void write_file(const char *name, const void *p, size_t n)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

static bool exists(const char *name)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static struct hardstate open_state(void)
{
	struct hardstate_file *f = NULL;
	struct hardstate hs = {99, 99};

	cr_assert_eq(hardstate_open(dir, &f, &hs), 0);
	hardstate_close(f);
	return hs;
}

static int open_rc(void)
{
	struct hardstate_file *f = NULL;
	struct hardstate hs;
	int rc = hardstate_open(dir, &f, &hs);

	hardstate_close(f);
	return rc;
}

static void save_state(uint64_t term, uint64_t vote)
{
	struct hardstate_file *f;
	struct hardstate hs;

	cr_assert_eq(hardstate_open(dir, &f, &hs), 0);
	hs = (struct hardstate){term, vote};
	cr_assert_eq(hardstate_save(f, &hs), 0);
	hardstate_close(f);
}

Test(hardstate, new_directory_is_term_zero_without_vote)
{
	struct hardstate hs = open_state();

	cr_assert_eq(hs.term, 0);
	cr_assert_eq(hs.voted_for, 0);
	cr_assert(!exists(HARDSTATE_FILE), "opening writes nothing");
	test_assert_no_leaks();
}

Test(hardstate, saved_state_survives_reopen)
{
	struct hardstate_file *f;
	struct hardstate hs;

	cr_assert_eq(hardstate_open(dir, &f, &hs), 0);
	cr_assert_eq(hardstate_save(f, &(struct hardstate){3, 0}), 0);
	cr_assert_eq(hardstate_save(f, &(struct hardstate){3, 2}), 0);
	cr_assert_eq(hardstate_save(f, &(struct hardstate){3, 2}), 0, "same vote again");
	cr_assert_eq(hardstate_save(f, &(struct hardstate){0x123456789ull, 0}), 0);
	hardstate_close(f);
	hs = open_state();
	cr_assert_eq(hs.term, 0x123456789ull);
	cr_assert_eq(hs.voted_for, 0);
	cr_assert(!exists(HARDSTATE_FILE ".tmp"));
	test_assert_no_leaks();
}

Test(hardstate, raft_rules_are_enforced_and_nothing_is_written)
{
	struct hardstate_file *f;
	struct hardstate hs;

	save_state(5, 1);
	cr_assert_eq(hardstate_open(dir, &f, &hs), 0);
	cr_assert_eq(hardstate_save(f, &(struct hardstate){4, 0}), -EINVAL, "term went down");
	cr_assert_eq(hardstate_save(f, &(struct hardstate){5, 2}), -EINVAL, "second vote");
	cr_assert_eq(hardstate_save(f, &(struct hardstate){5, 0}), -EINVAL, "vote withdrawn");
	cr_assert_eq(hardstate_save(f, &(struct hardstate){6, 2}), 0, "new term, new vote");
	hardstate_close(f);
	hs = open_state();
	cr_assert_eq(hs.term, 6);
	cr_assert_eq(hs.voted_for, 2);
	test_assert_no_leaks();
}

Test(hardstate, torn_update_at_every_length_keeps_the_old_state)
{
	uint8_t good[HARDSTATE_SIZE];

	save_state(7, 3);
	hardstate_encode(&(struct hardstate){8, 1}, good);
	for (size_t n = 0; n <= HARDSTATE_SIZE; n++) {
		struct hardstate hs;

		/* A crash before the rename: the tmp file is whatever reached disk. */
		write_file(HARDSTATE_FILE ".tmp", good, n);
		hs = open_state();
		cr_assert_eq(hs.term, 7, "tmp cut at %zu", n);
		cr_assert_eq(hs.voted_for, 3);
		cr_assert(!exists(HARDSTATE_FILE ".tmp"), "leftover tmp deleted");
	}
	test_assert_no_leaks();
}

Test(hardstate, damaged_file_is_refused_never_reset)
{
	uint8_t good[HARDSTATE_SIZE], bad[HARDSTATE_SIZE + 1];

	hardstate_encode(&(struct hardstate){9, 4}, good);
	for (size_t n = 0; n < HARDSTATE_SIZE; n++) {
		write_file(HARDSTATE_FILE, good, n);
		cr_assert_eq(open_rc(), -EBADMSG, "file cut at %zu", n);
	}
	for (size_t i = 0; i < HARDSTATE_SIZE; i++) {
		memcpy(bad, good, sizeof(good));
		bad[i] ^= 0x10;
		write_file(HARDSTATE_FILE, bad, HARDSTATE_SIZE);
		cr_assert_eq(open_rc(), -EBADMSG, "byte %zu flipped", i);
	}
	memcpy(bad, good, sizeof(good));
	bad[HARDSTATE_SIZE] = 0;
	write_file(HARDSTATE_FILE, bad, HARDSTATE_SIZE + 1);
	cr_assert_eq(open_rc(), -EBADMSG, "a longer file");
	write_file(HARDSTATE_FILE, good, HARDSTATE_SIZE);
	cr_assert_eq(open_state().term, 9);
	test_assert_no_leaks();
}

Test(hardstate, documented_layout)
{
	uint8_t b[HARDSTATE_SIZE];
	struct hardstate hs;
	const char *why = "x";

	hardstate_encode(&(struct hardstate){0x0102030405060708ull, 0x1122334455667788ull}, b);
	cr_assert_eq(memcmp(b, "CHHS\0\0\0\1", 8), 0);
	cr_assert_eq(b[8], 0x01);
	cr_assert_eq(b[15], 0x08);
	cr_assert_eq(b[16], 0x11);
	cr_assert_eq(b[23], 0x88);
	cr_assert_eq(b[24] | b[25] | b[26] | b[27], 0);
	cr_assert_eq(hardstate_decode(b, sizeof(b), &hs, &why), 0);
	cr_assert_null(why);
	cr_assert_eq(hs.term, 0x0102030405060708ull);
	cr_assert_eq(hs.voted_for, 0x1122334455667788ull);
	b[4] = 1; /* version 0x01000001, CRC now wrong too */
	cr_assert_eq(hardstate_decode(b, sizeof(b), &hs, &why), -EBADMSG);
	cr_assert_not_null(why);
}

/* hardstate.h's big-endian layout, byte for byte, both ways. */
Test(hardstate, golden_bytes)
{
	static const uint8_t golden[HARDSTATE_SIZE] = {
	    0x43, 0x48, 0x48, 0x53, 0x00, 0x00, 0x00, 0x01, /* "CHHS", version 1 */
	    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* term */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, /* voted for 3 */
	    0x00, 0x00, 0x00, 0x00,			    /* reserved */
	    0x01, 0xff, 0xa9, 0xa6,			    /* crc32c of bytes 0..27 */
	};
	uint8_t b[HARDSTATE_SIZE];
	struct hardstate hs;

	hardstate_encode(&(struct hardstate){0x0102030405060708ull, 3}, b);
	cr_assert_arr_eq(b, golden, sizeof(golden));
	cr_assert_eq(crc32c(0, golden, 28), 0x01ffa9a6u);
	cr_assert_eq(hardstate_decode(golden, sizeof(golden), &hs, NULL), 0);
	cr_assert(hs.term == 0x0102030405060708ull && hs.voted_for == 3);
	for (size_t n = 0; n < sizeof(golden); n++)
		cr_assert_eq(hardstate_decode(golden, n, &hs, NULL), -EBADMSG, "%zu bytes", n);
}

Test(hardstate, failed_fsync_keeps_the_old_state_on_disk_and_in_the_handle)
{
	struct hardstate_file *f;
	struct hardstate hs;

	save_state(2, 1);
	cr_assert_eq(hardstate_open(dir, &f, &hs), 0);
	__atomic_store_n(&fsync_fail, 1, __ATOMIC_SEQ_CST);
	cr_assert_eq(hardstate_save(f, &(struct hardstate){3, 2}), -EIO);
	__atomic_store_n(&fsync_fail, 0, __ATOMIC_SEQ_CST);
	cr_assert(!exists(HARDSTATE_FILE ".tmp"));
	/* The handle still holds term 2 vote 1: a second vote in term 2 is refused. */
	cr_assert_eq(hardstate_save(f, &(struct hardstate){2, 5}), -EINVAL);
	hardstate_close(f);
	hs = open_state();
	cr_assert_eq(hs.term, 2);
	cr_assert_eq(hs.voted_for, 1);
	test_assert_no_leaks();
}
