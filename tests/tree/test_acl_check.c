// SPDX-License-Identifier: Apache-2.0
/*
 * ACL checks: ZooKeeperServer.checkACL (tree_acl_check) and
 * PrepRequestProcessor.fixupACL (prep_fixup_acl) with the digest and ip
 * providers, IPv4 and IPv6 masks, super, world:anyone and the "auth"
 * scheme.  Vectors follow the Java code: String.split and
 * Integer.parseInt quirks included.
 */
#include <stdarg.h>
#include <stdio.h>

#include "tests/common/leakcheck.h"
#include "tree/prep_priv.h"
#include "tree_test_util.h"

/* An ACL list of any length: acl_of(&a, n, perms, scheme, id, ...). */
struct acl_buf {
	uint8_t buf[4096];
	struct jute_acl_list list;
};

static void acl_of(struct acl_buf *a, int n, ...)
{
	struct jute_out o;
	struct jute_in in;
	va_list ap;

	jute_out_init_fixed(&o, a->buf, sizeof(a->buf));
	jute_put_int(&o, n);
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		jute_put_int(&o, va_arg(ap, int));
		jute_put_string(&o, va_arg(ap, const char *));
		jute_put_string(&o, va_arg(ap, const char *));
	}
	va_end(ap);
	cr_assert_eq(o.err, 0);
	jute_in_init(&in, a->buf, o.len);
	cr_assert_eq(jute_get_acl_list(&in, &a->list, 1024), 0);
}

/* A session's ids: auth_of(&au, n, scheme, id, ...). */
struct auth_buf {
	struct tree_auth_id ids[8];
	struct tree_auth auth;
};

static const struct tree_auth *auth_of(struct auth_buf *b, int n, ...)
{
	va_list ap;

	cr_assert_leq(n, 8);
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		b->ids[i].scheme = test_buf(va_arg(ap, const char *));
		b->ids[i].id = test_buf(va_arg(ap, const char *));
	}
	va_end(ap);
	b->auth = (struct tree_auth){ b->ids, (uint32_t)n, false };
	return &b->auth;
}

/* Does an ACL with one entry (ALL, scheme:expr) admit a session holding scheme:id? */
static bool admits(const char *scheme, const char *expr, const char *id)
{
	struct acl_buf a;
	struct auth_buf b;

	acl_of(&a, 1, ZK_PERM_ALL, scheme, expr);
	return tree_acl_check(&a.list, ZK_PERM_READ, auth_of(&b, 1, scheme, id)) == ZK_OK;
}

static void teardown(void)
{
	test_fini_no_leaks();
}

TestSuite(tree_acl_check, .fini = teardown, .timeout = 30);
TestSuite(tree_fixup_acl, .fini = teardown, .timeout = 30);

/* ---- checkACL ---- */

Test(tree_acl_check, world_anyone_grants_the_perms_it_lists)
{
	struct acl_buf a;

	acl_of(&a, 1, ZK_PERM_READ | ZK_PERM_WRITE, "world", "anyone");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, NULL), ZK_OK);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_WRITE, NULL), ZK_OK);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_CREATE, NULL), ZK_NOAUTH);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_DELETE, NULL), ZK_NOAUTH);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_ADMIN, NULL), ZK_NOAUTH);
}

Test(tree_acl_check, any_requested_bit_suffices)
{
	struct acl_buf a;

	/* getACL asks for READ|ADMIN: either one granted is enough. */
	acl_of(&a, 1, ZK_PERM_ADMIN, "world", "anyone");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ | ZK_PERM_ADMIN, NULL), ZK_OK);
	acl_of(&a, 1, 0, "world", "anyone");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_ALL, NULL), ZK_NOAUTH);
}

Test(tree_acl_check, empty_or_null_list_grants_everything)
{
	struct acl_buf a;
	static const uint8_t null_vec[] = { 0xff, 0xff, 0xff, 0xff };
	struct jute_acl_list nl = { null_vec, 4, -1 };

	acl_of(&a, 0);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_ALL, NULL), ZK_OK);
	cr_assert_eq(tree_acl_check(&nl, ZK_PERM_ALL, NULL), ZK_OK);
	cr_assert_eq(tree_acl_check(NULL, ZK_PERM_ALL, NULL), ZK_OK);
}

Test(tree_acl_check, super_passes_every_check)
{
	struct acl_buf a;
	struct auth_buf b;
	struct tree_auth flag = { NULL, 0, true };

	acl_of(&a, 1, ZK_PERM_READ, "digest", "bob:hash");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_ADMIN, NULL), ZK_NOAUTH);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_ADMIN, &flag), ZK_OK);
	/* An Id with scheme "super" in authInfo, whatever its id text. */
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_ADMIN,
				    auth_of(&b, 2, "ip", "10.0.0.1", "super", "")),
		     ZK_OK);
	/* Even a list granting nothing to anyone. */
	acl_of(&a, 1, 0, "world", "anyone");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, &flag), ZK_OK);
}

Test(tree_acl_check, digest_ids_match_exactly)
{
	cr_assert(admits("digest", "bob:Xy9=", "bob:Xy9="));
	cr_assert_not(admits("digest", "bob:Xy9=", "bob:xy9="));
	cr_assert_not(admits("digest", "bob:Xy9=", "bob:Xy9= "));
	cr_assert_not(admits("digest", "bob:Xy9=", "bob"));
}

Test(tree_acl_check, scheme_must_match_the_sessions_id)
{
	struct acl_buf a;
	struct auth_buf b;

	acl_of(&a, 1, ZK_PERM_ALL, "digest", "10.0.0.1");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, auth_of(&b, 1, "ip", "10.0.0.1")),
		     ZK_NOAUTH);
	acl_of(&a, 1, ZK_PERM_ALL, "ip", "10.0.0.1");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, auth_of(&b, 1, "digest", "10.0.0.1")),
		     ZK_NOAUTH);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ,
				    auth_of(&b, 2, "digest", "x:y", "ip", "10.0.0.1")),
		     ZK_OK);
}

Test(tree_acl_check, entries_are_tried_in_turn)
{
	struct acl_buf a;
	struct auth_buf b;
	const struct tree_auth *au = auth_of(&b, 2, "digest", "amy:h", "ip", "192.168.1.7");

	acl_of(&a, 3, ZK_PERM_READ, "digest", "bob:h", ZK_PERM_WRITE, "ip", "192.168.1.0/24",
	       ZK_PERM_ADMIN, "digest", "amy:h");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, au), ZK_NOAUTH);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_WRITE, au), ZK_OK);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_ADMIN, au), ZK_OK);
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_DELETE, au), ZK_NOAUTH);
}

Test(tree_acl_check, other_world_ids_and_unknown_schemes_never_match)
{
	cr_assert_not(admits("world", "everyone", "everyone"));
	cr_assert_not(admits("sasl", "bob", "bob"));
	cr_assert_not(admits("auth", "", ""));
	cr_assert_not(admits("World", "anyone", "anyone"));
}

Test(tree_acl_check, ipv4_exact_and_masked)
{
	cr_assert(admits("ip", "10.1.2.3", "10.1.2.3"));
	cr_assert_not(admits("ip", "10.1.2.3", "10.1.2.4"));
	cr_assert(admits("ip", "10.1.2.0/24", "10.1.2.200"));
	cr_assert_not(admits("ip", "10.1.2.0/24", "10.1.3.1"));
	/* The expression's host bits are masked too. */
	cr_assert(admits("ip", "10.1.2.99/24", "10.1.2.1"));
	cr_assert(admits("ip", "10.1.2.3/32", "10.1.2.3"));
	cr_assert(admits("ip", "0.0.0.0/0", "255.1.2.3"));
	cr_assert(admits("ip", "10.128.0.0/9", "10.255.0.1"));
	cr_assert_not(admits("ip", "10.128.0.0/9", "10.127.0.1"));
	cr_assert(admits("ip", "10.1.2.3/31", "10.1.2.2"));
	cr_assert_not(admits("ip", "10.1.2.3/31", "10.1.2.4"));
}

Test(tree_acl_check, ipv4_parsing_follows_java)
{
	/* Integer.parseInt: leading zeros and a sign are accepted. */
	cr_assert(admits("ip", "010.001.002.003", "10.1.2.3"));
	cr_assert(admits("ip", "+10.1.2.3", "10.1.2.3"));
	cr_assert(admits("ip", "-0.1.2.3", "0.1.2.3"));
	cr_assert(admits("ip", "10.1.2.0/+24", "10.1.2.9"));
	cr_assert(admits("ip", "10.1.2.0/024", "10.1.2.9"));
	/* Out of range, too few or too many parts, empty parts, junk. */
	cr_assert_not(admits("ip", "256.1.2.3", "0.1.2.3"));
	cr_assert_not(admits("ip", "-1.1.2.3", "255.1.2.3"));
	cr_assert_not(admits("ip", "10.1.2", "10.1.2"));
	cr_assert_not(admits("ip", "10.1.2.3.4", "10.1.2.3.4"));
	cr_assert_not(admits("ip", "10.1..3", "10.1..3"));
	cr_assert_not(admits("ip", "10.1.2.3.", "10.1.2.3."));
	cr_assert_not(admits("ip", "10.1.2.x", "10.1.2.x"));
	cr_assert_not(admits("ip", "10.1.2.+", "10.1.2.+"));
	cr_assert_not(admits("ip", "10.1.2.99999999999", "10.1.2.99999999999"));
	cr_assert_not(admits("ip", "localhost", "localhost"));
	/* A bad mask never matches. */
	cr_assert_not(admits("ip", "10.1.2.3/33", "10.1.2.3"));
	cr_assert_not(admits("ip", "10.1.2.3/-1", "10.1.2.3"));
	cr_assert_not(admits("ip", "10.1.2.3/", "10.1.2.3"));
	cr_assert_not(admits("ip", "10.1.2.3/8/8", "10.1.2.3"));
	/* The session's id is an address, not an expression. */
	cr_assert_not(admits("ip", "10.1.2.3", "10.1.2.3/32"));
}

Test(tree_acl_check, ipv6_forms_and_masks)
{
	cr_assert(admits("ip", "2001:db8:0:0:0:0:0:1", "2001:db8::1"));
	cr_assert(admits("ip", "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
			 "2001:db8:85a3::8a2e:370:7334"));
	cr_assert(admits("ip", "::1", "0:0:0:0:0:0:0:1"));
	cr_assert(admits("ip", "::", "0:0:0:0:0:0:0:0"));
	cr_assert(admits("ip", "fe80::", "FE80:0:0:0:0:0:0:0"));
	cr_assert(admits("ip", "2001:db8::/32", "2001:db8:ffff::7"));
	cr_assert_not(admits("ip", "2001:db8::/32", "2001:db9::7"));
	cr_assert(admits("ip", "2001:db8:1:2::/64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
	cr_assert_not(admits("ip", "2001:db8:1:2::/64", "2001:db8:1:3::1"));
	cr_assert(admits("ip", "::/0", "1:2:3:4:5:6:7:8"));
	cr_assert(admits("ip", "::1/128", "::1"));
	cr_assert_not(admits("ip", "::1/129", "::1"));
	/* A hex group may carry a sign, as Integer.parseInt(s, 16) allows. */
	cr_assert(admits("ip", "-1::", "ffff::"));
	cr_assert(admits("ip", "+ff::", "ff::"));
}

Test(tree_acl_check, ipv6_rejects_malformed)
{
	cr_assert_not(admits("ip", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7"));
	cr_assert_not(admits("ip", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8:9"));
	cr_assert_not(admits("ip", "1::2::3", "1::2::3"));
	cr_assert_not(admits("ip", "1:2:3:4::5:6:7:8", "1:2:3:4::5:6:7:8"));
	cr_assert_not(admits("ip", "12345::", "12345::"));
	cr_assert_not(admits("ip", "1:::2", "1:::2"));
	cr_assert_not(admits("ip", "g::", "g::"));
	cr_assert_not(admits("ip", "::ffff:1.2.3.4", "::ffff:1.2.3.4"));
	cr_assert_not(admits("ip", "fe80::1%eth0", "fe80::1%eth0"));
	cr_assert_not(admits("ip", "1:2:3:4:5:6:7:", "1:2:3:4:5:6:7:"));
	cr_assert_not(admits("ip", ":1:2:3:4:5:6:7", ":1:2:3:4:5:6:7"));
}

Test(tree_acl_check, ip_families_never_match_each_other)
{
	cr_assert_not(admits("ip", "0.0.0.0/0", "::1"));
	cr_assert_not(admits("ip", "::/0", "127.0.0.1"));
	cr_assert_not(admits("ip", "0.0.0.1", "::1"));
}

/*
 * Issue 8: a session with many identities.  Above a few, checkACL finds
 * digest ids through a hash index built per check (O(ids + entries)
 * instead of ids x entries); the answers are those of the plain scan.
 */
Test(tree_acl_check, many_ids_are_found_by_hash_as_by_scan)
{
	static char names[TREE_AUTH_MAX_IDS][32];
	struct tree_auth_id ids[TREE_AUTH_MAX_IDS];
	struct tree_auth au = { ids, TREE_AUTH_MAX_IDS, false };
	struct jute_out o;
	struct jute_in in;
	struct jute_acl_list l;
	struct acl_buf a;

	ids[0] = (struct tree_auth_id){ test_buf("ip"), test_buf("10.1.2.3") };
	for (int i = 1; i < TREE_AUTH_MAX_IDS; i++) {
		snprintf(names[i], sizeof(names[i]), "u%d:h%d", i, i * 31);
		ids[i] = (struct tree_auth_id){ test_buf("digest"), test_buf(names[i]) };
	}
	/* 20,000 entries none of which matches, then each id in turn */
	jute_out_init(&o, 0);
	jute_put_int(&o, 20001);
	for (int i = 0; i < 20000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "u%d:x", i);
		jute_put_int(&o, ZK_PERM_ALL);
		jute_put_string(&o, "digest");
		jute_put_string(&o, id);
	}
	size_t last = o.len;
	/* the session's own index (as the dataplane keeps it), then none */
	static uint8_t slots[2 * TREE_AUTH_MAX_IDS];
	for (uint32_t i = 0; i < TREE_AUTH_MAX_IDS; i++) {
		uint32_t j = tree_auth_hash(ids[i].scheme, ids[i].id) & (sizeof(slots) - 1);
		while (slots[j])
			j = (j + 1) & (sizeof(slots) - 1);
		slots[j] = (uint8_t)(i + 1);
	}
	au.slots = slots;
	au.nslots = sizeof(slots);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < TREE_AUTH_MAX_IDS; i++) {
			o.len = last;
			jute_put_int(&o, ZK_PERM_READ);
			jute_put_buf(&o, ids[i].scheme);
			jute_put_buf(&o, ids[i].id);
			cr_assert_eq(o.err, 0);
			jute_in_init(&in, o.buf, o.len);
			cr_assert_eq(jute_get_acl_list(&in, &l, 1 << 30), 0);
			cr_assert_eq(tree_acl_check(&l, ZK_PERM_READ, &au), ZK_OK, "id %d", i);
			cr_assert_eq(tree_acl_check(&l, ZK_PERM_WRITE, &au), ZK_NOAUTH, "id %d", i);
		}
		au.slots = NULL;
		au.nslots = 0;
	}
	/* a digest id differing in one byte, an ip range, a null id */
	acl_of(&a, 1, ZK_PERM_ALL, "digest", "u7:h217");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, &au), ZK_OK);
	acl_of(&a, 1, ZK_PERM_ALL, "digest", "u7:h218");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, &au), ZK_NOAUTH);
	acl_of(&a, 1, ZK_PERM_ALL, "ip", "10.1.0.0/16");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, &au), ZK_OK);
	acl_of(&a, 1, ZK_PERM_ALL, "ip", "10.2.0.0/16");
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, &au), ZK_NOAUTH);
	/* a super id anywhere passes everything */
	ids[TREE_AUTH_MAX_IDS - 1] = (struct tree_auth_id){ test_buf("super"), test_buf("") };
	cr_assert_eq(tree_acl_check(&a.list, ZK_PERM_READ, &au), ZK_OK);
	jute_out_free(&o);
}

Test(tree_fixup_acl, auth_expansion_stops_at_the_byte_bound)
{
	struct acl_buf in;
	struct auth_buf b;
	const struct tree_auth *au = auth_of(&b, 2, "digest", "bob:h", "digest", "amy:h");
	struct jute_out o;

	/* 5 distinct "auth" entries x 2 ids = 10 entries of 23 bytes + the count */
	acl_of(&in, 5, ZK_PERM_ALL, "auth", "1", ZK_PERM_ALL, "auth", "2", ZK_PERM_ALL, "auth", "3",
	       ZK_PERM_ALL, "auth", "4", ZK_PERM_ALL, "auth", "5");
	jute_out_init(&o, 0);
	jute_put_int(&o, 7); /* something before: left alone */
	cr_assert_eq(prep_fixup_acl(&in.list, au, 4 + 10 * 23, &o), ZK_OK);
	cr_assert_eq(o.len, 4 + 4 + 10 * 23);
	o.len = 4;
	cr_assert_eq(prep_fixup_acl(&in.list, au, 4 + 10 * 23 - 1, &o), ZK_INVALIDACL);
	cr_assert_eq(o.len, 4);
	cr_assert_eq(o.err, 0);
	jute_out_free(&o);
}

/* ---- fixupACL ---- */

/* Runs fixupACL; on ZK_OK copies the result into res. */
static enum zk_err fixup(const struct acl_buf *in, const struct tree_auth *auth,
			 struct acl_buf *res)
{
	struct jute_out o;
	enum zk_err rc;

	jute_out_init(&o, 0);
	rc = prep_fixup_acl(&in->list, auth, SIZE_MAX, &o);
	cr_assert_eq(o.err, 0);
	if (rc == ZK_OK) {
		struct jute_in ji;
		cr_assert_leq(o.len, sizeof(res->buf));
		memcpy(res->buf, o.buf, o.len);
		jute_in_init(&ji, res->buf, o.len);
		cr_assert_eq(jute_get_acl_list(&ji, &res->list, 1024), 0);
		cr_assert_eq(jute_in_left(&ji), 0);
	} else {
		cr_assert_eq(o.len, 0, "nothing appended on failure");
	}
	jute_out_free(&o);
	return rc;
}

static void assert_same_list(const struct acl_buf *got, const struct acl_buf *want)
{
	cr_assert_eq(got->list.count, want->list.count, "%d entries, want %d", got->list.count,
		     want->list.count);
	cr_assert_eq(got->list.raw_len, want->list.raw_len);
	cr_assert_arr_eq(got->list.raw, want->list.raw, want->list.raw_len);
}

/* fixupACL of a one-entry list scheme:id, no session ids. */
static enum zk_err fixup_one(const char *scheme, const char *id)
{
	struct acl_buf in, res;

	acl_of(&in, 1, ZK_PERM_ALL, scheme, id);
	return fixup(&in, NULL, &res);
}

Test(tree_fixup_acl, rejects_empty_and_null_lists)
{
	struct acl_buf in, res;
	static const uint8_t null_vec[] = { 0xff, 0xff, 0xff, 0xff };
	struct jute_out o;

	acl_of(&in, 0);
	cr_assert_eq(fixup(&in, NULL, &res), ZK_INVALIDACL);
	memcpy(in.buf, null_vec, 4);
	in.list = (struct jute_acl_list){ in.buf, 4, -1 };
	cr_assert_eq(fixup(&in, NULL, &res), ZK_INVALIDACL);
	jute_out_init(&o, 0);
	cr_assert_eq(prep_fixup_acl(NULL, NULL, SIZE_MAX, &o), ZK_INVALIDACL);
	jute_out_free(&o);
}

Test(tree_fixup_acl, keeps_world_anyone_with_any_perms)
{
	struct acl_buf in, res;

	acl_of(&in, 2, 0, "world", "anyone", 0x7fffffff, "world", "anyone");
	cr_assert_eq(fixup(&in, NULL, &res), ZK_OK);
	assert_same_list(&res, &in);
}

Test(tree_fixup_acl, removes_duplicates_keeping_the_first)
{
	struct acl_buf in, res, want;

	acl_of(&in, 5, ZK_PERM_READ, "digest", "a:x", ZK_PERM_ALL, "world", "anyone",
	       ZK_PERM_READ, "digest", "a:x", ZK_PERM_WRITE, "digest", "a:x", ZK_PERM_ALL,
	       "world", "anyone");
	acl_of(&want, 3, ZK_PERM_READ, "digest", "a:x", ZK_PERM_ALL, "world", "anyone",
	       ZK_PERM_WRITE, "digest", "a:x");
	cr_assert_eq(fixup(&in, NULL, &res), ZK_OK);
	assert_same_list(&res, &want);
}

Test(tree_fixup_acl, dedups_long_lists)
{
	struct jute_out o, r;
	struct jute_in ji;
	struct jute_acl_list l;
	char id[32];

	/* 3000 entries, every id twice: 1500 remain, in first-seen order. */
	jute_out_init(&o, 0);
	jute_put_int(&o, 3000);
	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "u%d:h", i % 1500);
		jute_put_int(&o, ZK_PERM_READ);
		jute_put_string(&o, "digest");
		jute_put_string(&o, id);
	}
	cr_assert_eq(o.err, 0);
	jute_in_init(&ji, o.buf, o.len);
	cr_assert_eq(jute_get_acl_list(&ji, &l, 1024), 0);
	jute_out_init(&r, 0);
	cr_assert_eq(prep_fixup_acl(&l, NULL, SIZE_MAX, &r), ZK_OK);
	cr_assert_eq(r.err, 0);
	cr_assert_eq((int32_t)jute_be32(r.buf), 1500);
	cr_assert_eq(r.len, (o.len - 4) / 2 + 4);
	cr_assert_arr_eq(r.buf + 4, o.buf + 4, r.len - 4);
	jute_out_free(&o);
	jute_out_free(&r);
}

Test(tree_fixup_acl, auth_expands_to_the_sessions_digest_ids)
{
	struct acl_buf in, res, want;
	struct auth_buf b;
	const struct tree_auth *au =
		auth_of(&b, 4, "ip", "127.0.0.1", "digest", "bob:h1", "super", "", "digest",
			"amy:h2");

	/* The "auth" entry's own id text is ignored; ip and super are not "authenticated". */
	acl_of(&in, 2, ZK_PERM_READ | ZK_PERM_ADMIN, "auth", "whatever", ZK_PERM_READ, "world",
	       "anyone");
	acl_of(&want, 3, ZK_PERM_READ | ZK_PERM_ADMIN, "digest", "bob:h1",
	       ZK_PERM_READ | ZK_PERM_ADMIN, "digest", "amy:h2", ZK_PERM_READ, "world", "anyone");
	cr_assert_eq(fixup(&in, au, &res), ZK_OK);
	assert_same_list(&res, &want);
}

Test(tree_fixup_acl, auth_expansion_is_not_deduplicated)
{
	struct acl_buf in, res, want;
	struct auth_buf b;

	/* removeDuplicates runs before the expansion only. */
	acl_of(&in, 2, ZK_PERM_ALL, "auth", "", ZK_PERM_ALL, "auth", "x");
	acl_of(&want, 2, ZK_PERM_ALL, "digest", "bob:h", ZK_PERM_ALL, "digest", "bob:h");
	cr_assert_eq(fixup(&in, auth_of(&b, 1, "digest", "bob:h"), &res), ZK_OK);
	assert_same_list(&res, &want);
}

Test(tree_fixup_acl, auth_without_authenticated_ids_is_invalid)
{
	struct acl_buf in, res;
	struct auth_buf b;
	struct tree_auth super_only = { NULL, 0, true };

	acl_of(&in, 1, ZK_PERM_ALL, "auth", "");
	cr_assert_eq(fixup(&in, NULL, &res), ZK_INVALIDACL);
	cr_assert_eq(fixup(&in, auth_of(&b, 1, "ip", "10.0.0.1"), &res), ZK_INVALIDACL);
	cr_assert_eq(fixup(&in, auth_of(&b, 1, "super", ""), &res), ZK_INVALIDACL);
	cr_assert_eq(fixup(&in, auth_of(&b, 1, "sasl", "bob"), &res), ZK_INVALIDACL);
	cr_assert_eq(fixup(&in, &super_only, &res), ZK_INVALIDACL);
	/* One bad entry spoils the list, whatever precedes it. */
	acl_of(&in, 2, ZK_PERM_ALL, "world", "anyone", ZK_PERM_ALL, "auth", "");
	cr_assert_eq(fixup(&in, NULL, &res), ZK_INVALIDACL);
}

Test(tree_fixup_acl, digest_ids_need_two_fields_as_java_split_counts_them)
{
	cr_assert_eq(fixup_one("digest", "bob:hash"), ZK_OK);
	cr_assert_eq(fixup_one("digest", ":hash"), ZK_OK);
	cr_assert_eq(fixup_one("digest", "bob:hash:"), ZK_OK);
	cr_assert_eq(fixup_one("digest", "bob:hash::"), ZK_OK);
	cr_assert_eq(fixup_one("digest", ":b:"), ZK_OK);
	cr_assert_eq(fixup_one("digest", "bob"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("digest", "bob:"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("digest", "a:b:c"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("digest", "a::b"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("digest", ":"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("digest", "::"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("digest", ""), ZK_INVALIDACL);
}

Test(tree_fixup_acl, ip_ids_must_parse)
{
	cr_assert_eq(fixup_one("ip", "10.0.0.1"), ZK_OK);
	cr_assert_eq(fixup_one("ip", "10.0.0.0/8"), ZK_OK);
	cr_assert_eq(fixup_one("ip", "10.0.0.0/0"), ZK_OK);
	cr_assert_eq(fixup_one("ip", "10.0.0.0/32"), ZK_OK);
	cr_assert_eq(fixup_one("ip", "::1"), ZK_OK);
	cr_assert_eq(fixup_one("ip", "2001:db8::/48"), ZK_OK);
	cr_assert_eq(fixup_one("ip", "::/128"), ZK_OK);
	cr_assert_eq(fixup_one("ip", "1:2:3:4:5:6:7:8"), ZK_OK);
	cr_assert_eq(fixup_one("ip", "10.0.0.0/33"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", "::/129"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", "10.0.0.0/x"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", "10.0.0"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", "300.0.0.1"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", "localhost"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", ""), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", "/8"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", "1::2::3"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("ip", "1:2:3:4:5:6:7:8::"), ZK_INVALIDACL);
}

Test(tree_fixup_acl, refuses_schemes_without_a_provider)
{
	cr_assert_eq(fixup_one("world", "everyone"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("world", ""), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("super", ""), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("sasl", "bob"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("Digest", "bob:h"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("", ""), ZK_INVALIDACL);
}

Test(tree_fixup_acl, appends_after_existing_output)
{
	struct acl_buf in;
	struct jute_out o;

	jute_out_init(&o, 0);
	jute_put_int(&o, 42);
	acl_of(&in, 1, ZK_PERM_READ, "world", "anyone");
	cr_assert_eq(prep_fixup_acl(&in.list, NULL, SIZE_MAX, &o), ZK_OK);
	cr_assert_eq(o.len, 4 + in.list.raw_len);
	cr_assert_eq(jute_be32(o.buf), 42);
	cr_assert_arr_eq(o.buf + 4, in.list.raw, in.list.raw_len);
	acl_of(&in, 1, ZK_PERM_READ, "digest", "nope");
	cr_assert_eq(prep_fixup_acl(&in.list, NULL, SIZE_MAX, &o), ZK_INVALIDACL);
	cr_assert_eq(o.len, 4 + 4 + 4 + 4 + 5 + 4 + 6, "failure leaves earlier output alone");
	jute_out_free(&o);
}

/* X509AuthenticationProvider: a certificate's subject DN, matched exactly. */
static void x509_off(void)
{
	tree_acl_set_x509(false);
	test_fini_no_leaks();
}

TestSuite(tree_acl_x509, .fini = x509_off, .timeout = 30);

Test(tree_acl_x509, ids_match_exactly)
{
	tree_acl_set_x509(true);
	cr_assert(admits("x509", "CN=bob,O=Acme", "CN=bob,O=Acme"));
	cr_assert_not(admits("x509", "CN=bob,O=Acme", "CN=bob, O=Acme"));
	cr_assert_not(admits("x509", "CN=bob", "cn=bob"));
	cr_assert_not(admits("digest", "CN=bob", "CN=bob") && admits("x509", "CN=bob", "CN=eve"));
}

Test(tree_acl_x509, needs_a_dn)
{
	tree_acl_set_x509(true);
	cr_assert_eq(fixup_one("x509", "CN=bob"), ZK_OK);
	cr_assert_eq(fixup_one("x509", "CN=bob\\,x,O=Acme"), ZK_OK);
	cr_assert_eq(fixup_one("x509", "bob"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("x509", ""), ZK_INVALIDACL);
}

/* Without TLS or authProvider.N ZooKeeper has no x509 provider: INVALIDACL, no match. */
Test(tree_acl_x509, matches_only_when_configured)
{
	cr_assert_eq(fixup_one("x509", "CN=bob"), ZK_INVALIDACL);
	cr_assert_not(admits("x509", "CN=bob", "CN=bob"));
	tree_acl_set_x509(true);
	cr_assert_eq(fixup_one("x509", "CN=bob"), ZK_OK);
	cr_assert(admits("x509", "CN=bob", "CN=bob"));
}

/* ---- the sasl provider (tree_acl_set_sasl) ---- */

static void sasl_off(void)
{
	tree_acl_set_sasl(false, NULL);
	test_fini_no_leaks();
}

TestSuite(tree_acl_sasl, .fini = sasl_off, .timeout = 30);

Test(tree_acl_sasl, matches_only_when_configured)
{
	cr_assert_not(admits("sasl", "bob", "bob"));
	cr_assert_eq(fixup_one("sasl", "bob"), ZK_INVALIDACL);
	tree_acl_set_sasl(true, NULL);
	cr_assert(admits("sasl", "bob", "bob"));
	cr_assert_not(admits("sasl", "bob", "alice"));
	cr_assert_not(admits("sasl", "bob", "bob@R")); /* ids match exactly */
	/* SASLAuthenticationProvider.matches: the sasl id "super" matches any entry. */
	cr_assert(admits("sasl", "bob", "super"));
	cr_assert_eq(fixup_one("sasl", "bob"), ZK_OK);
	cr_assert_eq(fixup_one("sasl", "kafka/h.example.com@EXAMPLE.COM"), ZK_OK);
	cr_assert_eq(fixup_one("sasl", "a@b@c"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("sasl", "a/b/c@R"), ZK_INVALIDACL);
	cr_assert_eq(fixup_one("sasl", "a@R/x"), ZK_INVALIDACL);
}

Test(tree_acl_sasl, let_any_sasl_user_do_x)
{
	tree_acl_set_sasl(true, "anyone-sasl");
	cr_assert(admits("sasl", "anyone-sasl", "whoever"));
	cr_assert_not(admits("sasl", "bob", "whoever"));
}

Test(tree_acl_sasl, auth_expands_to_sasl_ids)
{
	struct acl_buf in, res, want;
	struct auth_buf b;

	tree_acl_set_sasl(true, NULL);
	acl_of(&in, 1, ZK_PERM_ALL, "auth", "");
	cr_assert_eq(fixup(&in, auth_of(&b, 2, "ip", "127.0.0.1", "sasl", "bob"), &res), ZK_OK);
	acl_of(&want, 1, ZK_PERM_ALL, "sasl", "bob");
	assert_same_list(&res, &want);
}
