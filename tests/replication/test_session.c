// SPDX-License-Identifier: Apache-2.0
/*
 * The session tracker: ZooKeeper-compatible passwords (checked against
 * bytes computed by the JDK), id layout, expiry buckets (touch, closing,
 * remove, wheel laps, catching up after a stall), the id hash under
 * growth and the dump (ExpiryQueue.dump's sets, emptied ones included).
 * Time is passed in explicitly, so nothing here waits.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "replication/repl_priv.h"
#include "tests/common/leakcheck.h"

/*
 * Expected passwords, computed once with OpenJDK 17:
 *   Random r = new Random(id ^ 0XB3415C00L); byte[] p = new byte[16];
 *   r.nextBytes(p);
 * which is ZooKeeperServer.generatePasswd(id).
 */
static const struct {
	int64_t id;
	uint8_t pw[16];
} java_vectors[] = {
    {0x0100000000000000LL,
     {0xf2, 0x2a, 0xcd, 0x4a, 0x97, 0xe6, 0x9d, 0x6d, 0x20, 0xa4, 0x9b, 0xb6, 0x38, 0xea, 0xdb,
      0x38}},
    {0x01000a1b2c3d0000LL,
     {0x99, 0x54, 0x01, 0x15, 0xb2, 0xac, 0x33, 0x9b, 0x9f, 0x3f, 0x41, 0xba, 0x4b, 0x39, 0x27,
      0x0b}},
    {0x01ffffffffffffffLL,
     {0x20, 0xf6, 0x2c, 0xb5, 0x64, 0x8d, 0xc2, 0xd7, 0x71, 0x47, 0x1c, 0x8a, 0x24, 0x86, 0xa9,
      0xee}},
    {1,
     {0x05, 0x4c, 0xc7, 0x4a, 0x37, 0x32, 0x7d, 0xb2, 0x15, 0xe7, 0x02, 0xe2, 0x0c, 0x73, 0xf0,
      0x05}},
};

Test(session_password, matches_java_random)
{
	for (size_t i = 0; i < sizeof(java_vectors) / sizeof(java_vectors[0]); i++) {
		uint8_t pw[SESS_PASSWD_LEN];

		sess_password(java_vectors[i].id, pw);
		cr_assert_arr_eq(pw, java_vectors[i].pw, 16, "password of 0x%llx",
				 (unsigned long long)java_vectors[i].id);
		cr_assert(sess_password_ok(java_vectors[i].id, java_vectors[i].pw, 16));
	}
}

Test(session_password, check_rejects_wrong_bytes_length_and_id_zero)
{
	uint8_t pw[SESS_PASSWD_LEN];

	sess_password(0x0100000000000000LL, pw);
	cr_assert_not(sess_password_ok(0x0100000000000000LL, pw, 15));
	cr_assert_not(sess_password_ok(0x0100000000000001LL, pw, 16));
	pw[15] ^= 1;
	cr_assert_not(sess_password_ok(0x0100000000000000LL, pw, 16));
	sess_password(0, pw);
	cr_assert_not(sess_password_ok(0, pw, 16), "checkPasswd refuses session 0");
}

Test(session_id, layout_as_initialize_next_session_id)
{
	/* (t << 24) >>> 8 | id << 56: 40 bits of time above 16 zero bits */
	cr_assert_eq(sess_initial_id(1, 0x123456789aLL), 0x01123456789a0000LL);
	cr_assert_eq(sess_initial_id(1, 0xff123456789aLL), 0x01123456789a0000LL);
	/* ">>> 8": the top byte is the server id's alone */
	cr_assert_eq(sess_initial_id(2, 0x8000000000LL), 0x0280000000000000LL);
	/* server id 0x80 with time 0 would be the container owner */
	cr_assert_eq(sess_initial_id(0x80, 0), TREE_OWNER_CONTAINER + 1);
}

Test(session_id, counts_up_and_skips_tracked_ids)
{
	struct sess_tracker *t = sess_tracker_new(100, 1, 0x10000);
	int64_t base = sess_initial_id(1, 0x10000);

	cr_assert_not_null(t);
	cr_assert_eq(sess_new_id(t), base);
	cr_assert_eq(sess_track(t, base + 1, 1000, 0x10000, NULL), 0);
	cr_assert_eq(sess_new_id(t), base + 2, "an id still tracked is skipped");
	cr_assert_eq(sess_new_id(t), base + 3);
	sess_tracker_free(t);
	test_assert_no_leaks();
}

/* ---- Expiry ---- */

struct expired {
	int64_t ids[64];
	uint32_t n;
};

static void on_expire(void *arg, struct sess *s)
{
	struct expired *e = arg;

	cr_assert(s->closing);
	cr_assert_lt(e->n, 64u);
	e->ids[e->n++] = s->id;
}

Test(session_expiry, buckets_round_up_to_the_next_tick)
{
	struct sess_tracker *t = sess_tracker_new(100, 1, 1000);
	struct expired e = {0};
	struct sess *s;

	cr_assert_eq(sess_next_expiry(t), 1100, "roundToNextInterval(now)");
	cr_assert_eq(sess_track(t, 7, 250, 1000, &s), 0);
	cr_assert_eq(s->expiry_ms, 1300, "(1250 / 100 + 1) * 100");
	cr_assert_eq(sess_track(t, 8, 300, 1000, NULL), 0);
	cr_assert_eq(sess_find(t, 8)->expiry_ms, 1400, "an exact multiple still rounds up");

	cr_assert_eq(sess_expire(t, 1299, on_expire, &e), 0);
	cr_assert_eq(sess_next_expiry(t), 1300);
	cr_assert_eq(sess_expire(t, 1300, on_expire, &e), 1);
	cr_assert_eq(e.ids[0], 7);
	cr_assert(sess_find(t, 7)->closing, "expired sessions stay, closing, until removed");
	cr_assert_not(sess_touch(t, 7, 250, 1300), "a closing session cannot be touched");
	cr_assert_eq(sess_expire(t, 1400, on_expire, &e), 1);
	cr_assert_eq(e.ids[1], 8);
	sess_remove(t, 7);
	sess_remove(t, 8);
	cr_assert_eq(sess_count(t), 0);
	sess_tracker_free(t);
	test_assert_no_leaks();
}

Test(session_expiry, touch_moves_the_deadline_with_the_new_timeout)
{
	struct sess_tracker *t = sess_tracker_new(100, 1, 0);
	struct expired e = {0};

	cr_assert_eq(sess_track(t, 1, 1000, 0, NULL), 0);
	cr_assert(sess_touch(t, 1, 1000, 900));
	cr_assert_eq(sess_expire(t, 1500, on_expire, &e), 0, "touched at 900: due at 2000");
	cr_assert(sess_touch(t, 1, 400, 1500), "a reconnect negotiates a new timeout");
	cr_assert_eq(sess_find(t, 1)->timeout, 400);
	cr_assert_eq(sess_expire(t, 1999, on_expire, &e), 0);
	cr_assert_eq(sess_expire(t, 2000, on_expire, &e), 1, "due at (1900 / 100 + 1) * 100");
	cr_assert_not(sess_touch(t, 99, 1000, 2000), "unknown sessions cannot be touched");
	sess_tracker_free(t);
	test_assert_no_leaks();
}

Test(session_expiry, closing_and_unclosing)
{
	struct sess_tracker *t = sess_tracker_new(10, 1, 0);
	struct expired e = {0};
	struct sess *s;

	cr_assert_eq(sess_track(t, 5, 100, 0, &s), 0);
	sess_set_closing(t, s);
	cr_assert_eq(sess_expire(t, 1000, on_expire, &e), 0, "closing: out of the buckets");
	sess_unset_closing(t, s, 1000);
	cr_assert_not(s->closing);
	cr_assert_eq(sess_expire(t, 1109, on_expire, &e), 0);
	cr_assert_eq(sess_expire(t, 1110, on_expire, &e), 1);
	sess_tracker_free(t);
	test_assert_no_leaks();
}

Test(session_expiry, timeouts_longer_than_the_wheel_wait_their_lap)
{
	struct sess_tracker *t = sess_tracker_new(1, 1, 0);
	struct expired e = {0};

	/* due at 5001: slot 905, visited at 905 of the first lap and skipped */
	cr_assert_eq(sess_track(t, 1, 5000, 0, NULL), 0);
	cr_assert_eq(sess_track(t, 2, 903, 0, NULL), 0);
	cr_assert_eq(sess_expire(t, 4000, on_expire, &e), 1);
	cr_assert_eq(e.ids[0], 2);
	cr_assert_eq(sess_expire(t, 5000, on_expire, &e), 0);
	cr_assert_eq(sess_expire(t, 5001, on_expire, &e), 1);
	cr_assert_eq(e.ids[1], 1);
	sess_tracker_free(t);
	test_assert_no_leaks();
}

struct remover {
	struct sess_tracker *t;
	uint32_t n;
};

static void remove_on_expire(void *arg, struct sess *s)
{
	struct remover *r = arg;

	r->n++;
	sess_remove(r->t, s->id);
}

Test(session_expiry, many_sessions_grow_the_hash_and_expire_in_batches)
{
	struct sess_tracker *t = sess_tracker_new(50, 1, 0);
	struct remover r = {t, 0};
	uint32_t total = 0;

	for (int64_t i = 0; i < 20000; i++) {
		int64_t id = sess_new_id(t);
		cr_assert_eq(sess_track(t, id, 100 + (int32_t)(i % 1000), 0, NULL), 0);
	}
	cr_assert_eq(sess_count(t), 20000);
	/* Catch up bucket by bucket, as after a stall. */
	for (int64_t now = 0; now <= 1200; now += 200)
		total += sess_expire(t, now, remove_on_expire, &r);
	cr_assert_eq(total, 20000);
	cr_assert_eq(r.n, 20000);
	cr_assert_eq(sess_count(t), 0);
	sess_tracker_free(t);
	test_assert_no_leaks();
}

static void count_cb(void *arg, struct sess *s)
{
	(void)s;
	(*(uint32_t *)arg)++;
}

Test(session_tracker, track_is_idempotent_and_foreach_sees_all)
{
	struct sess_tracker *t = sess_tracker_new(100, 1, 0);
	uint32_t n = 0;
	struct sess *a, *b;

	cr_assert_eq(sess_track(t, 11, 1000, 0, &a), 0);
	cr_assert_eq(sess_track(t, 11, 1000, 500, &b), 0);
	cr_assert_eq(a, b);
	cr_assert_eq(b->expiry_ms, 1600);
	cr_assert_eq(sess_track(t, 12, 1000, 0, NULL), 0);
	sess_foreach(t, count_cb, &n);
	cr_assert_eq(n, 2);
	sess_remove(t, 99); /* unknown: nothing */
	sess_remove(t, 11);
	cr_assert_null(sess_find(t, 11));
	cr_assert_eq(sess_count(t), 1);
	sess_tracker_free(t);
	test_assert_no_leaks();
}

/* ---- dump (ExpiryQueue.dump's data) ---- */

static void expect_set(const struct repl_sessions *d, uint32_t i, int64_t expiry, uint32_t n,
		       const int64_t *ids)
{
	cr_assert_lt(i, d->nsets);
	cr_assert_eq(d->sets[i].expiry_ms, expiry, "set %u: expiry %lld", i,
		     (long long)d->sets[i].expiry_ms);
	cr_assert_eq(d->sets[i].n, n, "set %u: %u sessions", i, d->sets[i].n);
	for (uint32_t k = 0; k < n; k++)
		cr_assert_eq(repl_sessions_ids(d)[d->sets[i].first + k], ids[k], "set %u id %u", i,
			     k);
}

Test(session_dump, sets_in_time_order_with_ids_ascending)
{
	struct sess_tracker *t = sess_tracker_new(100, 1, 0);
	struct repl_sessions *d;

	cr_assert_eq(sess_track(t, 30, 250, 0, NULL), 0); /* 300 */
	cr_assert_eq(sess_track(t, 10, 250, 0, NULL), 0); /* 300 */
	cr_assert_eq(sess_track(t, 20, 50, 0, NULL), 0);  /* 100 */
	d = sess_dump(t, 7, 1234567);
	cr_assert_not_null(d);
	cr_assert_eq(d->now_ms, 7);
	cr_assert_eq(d->wall_ms, 1234567);
	cr_assert_eq(d->nsessions, 3);
	cr_assert_eq(d->nsets, 2);
	expect_set(d, 0, 100, 1, (int64_t[]){20});
	expect_set(d, 1, 300, 2, (int64_t[]){10, 30});
	free(d);
	sess_tracker_free(t);
	test_assert_no_leaks();
}

/*
 * ExpiryQueue keeps a set every session has left until its time: after a
 * touch the old bucket shows as empty; a removed session's bucket too;
 * once polled it is gone.
 */
Test(session_dump, emptied_sets_stay_until_their_time)
{
	struct sess_tracker *t = sess_tracker_new(100, 1, 0);
	struct expired e = {0};
	struct repl_sessions *d;

	cr_assert_eq(sess_track(t, 1, 150, 0, NULL), 0); /* 200 */
	cr_assert_eq(sess_track(t, 2, 250, 0, NULL), 0); /* 300 */
	cr_assert(sess_touch(t, 1, 150, 120));		 /* 200 -> 300 */
	cr_assert(sess_touch(t, 2, 400, 120));		 /* 300 -> 600 */
	d = sess_dump(t, 120, 0);
	cr_assert_not_null(d);
	cr_assert_eq(d->nsessions, 2);
	cr_assert_eq(d->nsets, 3);
	expect_set(d, 0, 200, 0, NULL);
	expect_set(d, 1, 300, 1, (int64_t[]){1});
	expect_set(d, 2, 600, 1, (int64_t[]){2});
	free(d);

	sess_remove(t, 1);
	cr_assert_eq(sess_expire(t, 200, on_expire, &e), 0);
	d = sess_dump(t, 200, 0);
	cr_assert_not_null(d);
	cr_assert_eq(d->nsessions, 1);
	cr_assert_eq(d->nsets, 2, "200 polled; 300 emptied by the removal stays");
	expect_set(d, 0, 300, 0, NULL);
	expect_set(d, 1, 600, 1, (int64_t[]){2});
	free(d);

	cr_assert_eq(sess_expire(t, 600, on_expire, &e), 1);
	d = sess_dump(t, 600, 0);
	cr_assert_not_null(d);
	cr_assert_eq(d->nsessions, 1, "expired but not removed: still tracked");
	cr_assert_eq(d->nsets, 0);
	free(d);
	sess_tracker_free(t);
	test_assert_no_leaks();
}

Test(session_dump, empty_tracker_and_later_laps)
{
	struct sess_tracker *t = sess_tracker_new(1, 1, 0);
	struct repl_sessions *d = sess_dump(t, 0, 0);

	cr_assert_not_null(d);
	cr_assert_eq(d->nsessions, 0);
	cr_assert_eq(d->nsets, 0);
	free(d);
	/* 5001 and 905 share a wheel slot: both listed, in time order. */
	cr_assert_eq(sess_track(t, 1, 5000, 0, NULL), 0);
	cr_assert_eq(sess_track(t, 2, 904, 0, NULL), 0);
	d = sess_dump(t, 0, 0);
	cr_assert_not_null(d);
	cr_assert_eq(d->nsets, 2);
	expect_set(d, 0, 905, 1, (int64_t[]){2});
	expect_set(d, 1, 5001, 1, (int64_t[]){1});
	free(d);
	sess_tracker_free(t);
	test_assert_no_leaks();
}
