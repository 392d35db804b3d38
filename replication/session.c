/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session tracker: which sessions exist, who holds them, and when
 * each expires.  It reproduces Apache ZooKeeper's SessionTrackerImpl and
 * ExpiryQueue, and ZooKeeperServer's password scheme.
 *
 * Ids.  A session id is <server id:8 bits><elapsed ms:40 bits><0:16 bits>
 * at start-up (initializeNextSessionId; ">>> 8" keeps the top byte the
 * server's) and counts up from there.  Unlike ZooKeeper we also skip an
 * id that is still tracked: CLOCK_MONOTONIC restarts at boot, so a server
 * restarted soon after a reboot could otherwise hand out the id of a
 * recovered session that has not expired yet.
 *
 * Passwords.  generatePasswd(id) = 16 bytes of java.util.Random seeded
 * with id ^ superSecret (0xB3415C00): the 48-bit LCG (multiplier
 * 0x5DEECE66D, addend 11, seed scrambled by xor with the multiplier),
 * nextBytes taking each nextInt() low byte first.  A client proves it owns
 * a session by sending these bytes back; they carry no security weight
 * (ZooKeeper says so too).
 *
 * Expiry.  Time is cut into buckets tickTime wide.  A touch moves the
 * session to the bucket roundToNextInterval(now + timeout) =
 * ((now + timeout) / tick + 1) * tick; the tracker expires the bucket
 * whose time has come, one tick after another (nextExpirationTime starts
 * at roundToNextInterval(start) and advances by tick per poll).  So a
 * session lives at least its timeout after its last touch and at most one
 * tick more, and sessions expire in batches.  Buckets are the slots of a
 * timing wheel indexed by bucket time / tick; a slot can hold sessions of
 * a later lap (timeouts above slots x tick), which a poll leaves alone by
 * comparing each session's own expiry time.  Clock: monotonic ms, as
 * ZooKeeper's Time.currentElapsedTime().
 *
 * Dump.  ExpiryQueue keeps a bucket's set once made, even when every
 * session has moved on, until the bucket's time comes ("we don't need to
 * worry about removing empty sets"); the dump four-letter word shows
 * those as "0 expire at ...".  Each wheel slot remembers the latest
 * bucket time a session was put in (made[]), cleared when that bucket
 * expires, so sess_dump lists the same sets.  Only an emptied bucket of
 * an earlier lap sharing a slot with a later one (a timeout above 4096
 * ticks) goes unlisted.
 *
 * Closing.  Once a closeSession is prepped (client close or expiry) the
 * session is "closing": out of the buckets, touches fail, reconnects are
 * refused; it is removed when the closeSession txn is applied.
 *
 * Thread: the broadcast core only (no locking).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repl_priv.h"

#define WHEEL_SLOTS 4096u /* power of two */
#define HASH_INIT 256u	  /* power of two */

#define JAVA_MULT 0x5DEECE66DULL
#define JAVA_ADD 0xBULL
#define JAVA_MASK ((1ULL << 48) - 1)

struct sess_tracker {
	int64_t tick;
	int64_t next_expiry; /* ExpiryQueue.nextExpirationTime */
	int64_t next_id;     /* SessionTrackerImpl.nextSessionId */
	struct sess **hash;
	uint32_t hmask;
	uint32_t count;
	struct sess *wheel[WHEEL_SLOTS];
	int64_t made[WHEEL_SLOTS]; /* latest bucket time given a set per slot, 0: none */
};

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finaliser: ids differ in their middle bits only */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static int64_t round_to_next(const struct sess_tracker *t, int64_t ms)
{
	return (ms / t->tick + 1) * t->tick;
}

static struct sess **slot_of(struct sess_tracker *t, int64_t expiry)
{
	return &t->wheel[(uint64_t)(expiry / t->tick) & (WHEEL_SLOTS - 1)];
}

static void bucket_unlink(struct sess_tracker *t, struct sess *s)
{
	if (!s->expiry_ms)
		return;
	if (s->bprev)
		s->bprev->bnext = s->bnext;
	else
		*slot_of(t, s->expiry_ms) = s->bnext;
	if (s->bnext)
		s->bnext->bprev = s->bprev;
	s->bprev = s->bnext = NULL;
	s->expiry_ms = 0;
}

static void bucket_link(struct sess_tracker *t, struct sess *s, int64_t expiry)
{
	struct sess **slot = slot_of(t, expiry);
	int64_t *made = &t->made[slot - t->wheel];

	if (*made < expiry)
		*made = expiry;
	s->expiry_ms = expiry;
	s->bprev = NULL;
	s->bnext = *slot;
	if (*slot)
		(*slot)->bprev = s;
	*slot = s;
}

/* ExpiryQueue.update */
static void update_expiry(struct sess_tracker *t, struct sess *s, int32_t timeout, int64_t now)
{
	int64_t expiry = round_to_next(t, now + (timeout > 0 ? timeout : 0));

	if (expiry == s->expiry_ms)
		return;
	bucket_unlink(t, s);
	bucket_link(t, s, expiry);
}

int64_t sess_initial_id(int64_t server_id, int64_t now_ms)
{
	uint64_t sid = ((uint64_t)now_ms << 24) >> 8;

	sid |= (uint64_t)server_id << 56;
	if ((int64_t)sid == TREE_OWNER_CONTAINER)
		sid++;
	return (int64_t)sid;
}

struct sess_tracker *sess_tracker_new(int32_t tick_ms, int64_t server_id, int64_t now_ms)
{
	struct sess_tracker *t;

	if (tick_ms <= 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->hash = calloc(HASH_INIT, sizeof(*t->hash));
	if (!t->hash) {
		free(t);
		return NULL;
	}
	t->hmask = HASH_INIT - 1;
	t->tick = tick_ms;
	t->next_expiry = round_to_next(t, now_ms);
	t->next_id = sess_initial_id(server_id, now_ms);
	return t;
}

void sess_tracker_free(struct sess_tracker *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i <= t->hmask; i++) {
		struct sess *s = t->hash[i], *next;

		for (; s; s = next) {
			next = s->hnext;
			free(s);
		}
	}
	free(t->hash);
	free(t);
}

struct sess *sess_find(struct sess_tracker *t, int64_t id)
{
	struct sess *s = t->hash[mix64((uint64_t)id) & t->hmask];

	while (s && s->id != id)
		s = s->hnext;
	return s;
}

int64_t sess_new_id(struct sess_tracker *t)
{
	int64_t id;

	do {
		id = t->next_id++;
	} while (id == 0 || id == TREE_OWNER_CONTAINER || sess_find(t, id));
	return id;
}

static void grow(struct sess_tracker *t)
{
	uint32_t n = (t->hmask + 1) * 2;
	struct sess **h = calloc(n, sizeof(*h));

	if (!h)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i <= t->hmask; i++) {
		struct sess *s = t->hash[i], *next;

		for (; s; s = next) {
			next = s->hnext;
			s->hnext = h[mix64((uint64_t)s->id) & (n - 1)];
			h[mix64((uint64_t)s->id) & (n - 1)] = s;
		}
	}
	free(t->hash);
	t->hash = h;
	t->hmask = n - 1;
}

int sess_track(struct sess_tracker *t, int64_t id, int32_t timeout, int64_t now_ms,
	       struct sess **out)
{
	struct sess *s = sess_find(t, id);

	if (!s) {
		struct sess **b;

		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->id = id;
		s->timeout = timeout;
		b = &t->hash[mix64((uint64_t)id) & t->hmask];
		s->hnext = *b;
		*b = s;
		if (++t->count > t->hmask + 1)
			grow(t);
	}
	if (!s->closing)
		update_expiry(t, s, timeout, now_ms);
	if (out)
		*out = s;
	return 0;
}

bool sess_touch(struct sess_tracker *t, int64_t id, int32_t timeout, int64_t now_ms)
{
	struct sess *s = sess_find(t, id);

	if (!s || s->closing)
		return false;
	s->timeout = timeout;
	update_expiry(t, s, timeout, now_ms);
	return true;
}

void sess_remove(struct sess_tracker *t, int64_t id)
{
	struct sess **p = &t->hash[mix64((uint64_t)id) & t->hmask];

	while (*p && (*p)->id != id)
		p = &(*p)->hnext;
	if (!*p)
		return;
	struct sess *s = *p;
	*p = s->hnext;
	bucket_unlink(t, s);
	t->count--;
	free(s);
}

void sess_set_closing(struct sess_tracker *t, struct sess *s)
{
	bucket_unlink(t, s);
	s->closing = true;
}

void sess_unset_closing(struct sess_tracker *t, struct sess *s, int64_t now_ms)
{
	s->closing = false;
	update_expiry(t, s, s->timeout, now_ms);
}

int64_t sess_next_expiry(const struct sess_tracker *t)
{
	return t->next_expiry;
}

uint32_t sess_expire(struct sess_tracker *t, int64_t now_ms, void (*fn)(void *arg, struct sess *s),
		     void *arg)
{
	uint32_t n = 0;

	while (now_ms >= t->next_expiry) {
		int64_t when = t->next_expiry;
		struct sess *s, *next, *due = NULL;

		t->next_expiry += t->tick;
		/* ExpiryQueue.poll drops the bucket's set. */
		if (t->made[slot_of(t, when) - t->wheel] == when)
			t->made[slot_of(t, when) - t->wheel] = 0;
		/* Detach the bucket first: fn may change the lists. */
		for (s = *slot_of(t, when); s; s = next) {
			next = s->bnext;
			if (s->expiry_ms != when)
				continue; /* a later lap of the wheel */
			bucket_unlink(t, s);
			s->closing = true;
			s->bnext = due;
			due = s;
		}
		for (s = due; s; s = next) {
			next = s->bnext;
			s->bnext = NULL;
			n++;
			fn(arg, s);
		}
	}
	return n;
}

uint32_t sess_count(const struct sess_tracker *t)
{
	return t->count;
}

void sess_foreach(struct sess_tracker *t, void (*fn)(void *arg, struct sess *s), void *arg)
{
	for (uint32_t i = 0; i <= t->hmask; i++) {
		struct sess *s = t->hash[i], *next;

		for (; s; s = next) {
			next = s->hnext;
			fn(arg, s);
		}
	}
}

/* One line of the dump before grouping: a session in its bucket, or a bucket's set (id 0). */
struct dump_ent {
	int64_t expiry;
	int64_t id;
	bool session;
};

static int dump_cmp(const void *a, const void *b)
{
	const struct dump_ent *x = a, *y = b;

	if (x->expiry != y->expiry)
		return x->expiry < y->expiry ? -1 : 1;
	if (x->session != y->session)
		return x->session ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct repl_sessions *sess_dump(const struct sess_tracker *t, int64_t now_ms, int64_t wall_ms)
{
	struct dump_ent *e = malloc(((size_t)t->count + WHEEL_SLOTS) * sizeof(*e));
	struct repl_sessions *d = NULL;
	uint32_t n = 0, nsets = 0, nids = 0;
	int64_t *ids;

	if (!e)
		return NULL;
	for (uint32_t i = 0; i < WHEEL_SLOTS; i++) {
		if (t->made[i] >= t->next_expiry)
			e[n++] = (struct dump_ent){t->made[i], 0, false};
		for (const struct sess *s = t->wheel[i]; s; s = s->bnext)
			e[n++] = (struct dump_ent){s->expiry_ms, s->id, true};
	}
	qsort(e, n, sizeof(*e), dump_cmp);
	for (uint32_t i = 0; i < n; i++) {
		if (i == 0 || e[i].expiry != e[i - 1].expiry)
			nsets++;
		nids += e[i].session;
	}
	d = malloc(sizeof(*d) + (size_t)nsets * sizeof(d->sets[0]) + (size_t)nids * sizeof(*ids));
	if (!d)
		goto out;
	d->now_ms = now_ms;
	d->wall_ms = wall_ms;
	d->nsessions = t->count;
	d->nsets = nsets;
	ids = (int64_t *)(void *)&d->sets[nsets];
	nsets = nids = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i == 0 || e[i].expiry != e[i - 1].expiry) {
			d->sets[nsets].expiry_ms = e[i].expiry;
			d->sets[nsets].first = nids;
			d->sets[nsets].n = 0;
			nsets++;
		}
		if (e[i].session) {
			ids[nids++] = e[i].id;
			d->sets[nsets - 1].n++;
		}
	}
out:
	free(e);
	return d;
}

void sess_password(int64_t id, uint8_t out[SESS_PASSWD_LEN])
{
	uint64_t seed = ((uint64_t)id ^ (uint64_t)SESS_SUPER_SECRET ^ JAVA_MULT) & JAVA_MASK;
	unsigned i = 0;

	while (i < SESS_PASSWD_LEN) {
		uint32_t rnd;

		/* Random.next(32), i.e. nextInt() */
		seed = (seed * JAVA_MULT + JAVA_ADD) & JAVA_MASK;
		rnd = (uint32_t)(seed >> 16);
		for (unsigned n = 0; n < 4 && i < SESS_PASSWD_LEN; n++, rnd >>= 8)
			out[i++] = (uint8_t)rnd;
	}
}

bool sess_password_ok(int64_t id, const uint8_t *passwd, size_t len)
{
	uint8_t want[SESS_PASSWD_LEN];

	if (id == 0 || len != SESS_PASSWD_LEN)
		return false;
	sess_password(id, want);
	return memcmp(want, passwd, SESS_PASSWD_LEN) == 0;
}
