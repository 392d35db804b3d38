// SPDX-License-Identifier: Apache-2.0
/*
 * Principal names (dataplane/session/krb_name.c): the sasl ids ZooKeeper's
 * SaslServerCallbackHandler gives, under its kerberos.* switches and the
 * auth_to_local rules; which ids a sasl ACL may name.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/session/krb_name.h"

static struct dp_krb_rules *rules(const char *text, const char *realm)
{
	struct dp_krb_rules *r = NULL;
	char err[256] = "";

	cr_assert_eq(dp_krb_rules_parse(text, realm, &r, err, sizeof(err)), 0, "%s", err);
	return r;
}

static void expect(const struct dp_krb_rules *r, const char *authcid, bool rm_host, bool rm_realm,
		   const char *want)
{
	char out[256];

	cr_assert_eq(dp_krb_authorized_id(r, authcid, NULL, rm_host, rm_realm, out, sizeof(out)), 0,
		     "%s", authcid);
	cr_assert_str_eq(out, want, "%s (host %d realm %d)", authcid, rm_host, rm_realm);
}

Test(krb_name, digest_user_is_itself)
{
	struct dp_krb_rules *r = rules(NULL, "EXAMPLE.COM");

	expect(r, "bob", false, false, "bob");
	expect(r, "bob", true, true, "bob");
	expect(r, "a/b", false, false, "a/b"); /* no '@': a simple name */
	dp_krb_rules_free(r);
}

Test(krb_name, default_rule_in_the_default_realm)
{
	struct dp_krb_rules *r = rules("DEFAULT", "EXAMPLE.COM");

	expect(r, "kafka/broker1.example.com@EXAMPLE.COM", false, false,
	       "kafka/broker1.example.com@EXAMPLE.COM");
	expect(r, "kafka/broker1.example.com@EXAMPLE.COM", true, false, "kafka@EXAMPLE.COM");
	expect(r, "kafka/broker1.example.com@EXAMPLE.COM", false, true,
	       "kafka/broker1.example.com");
	expect(r, "kafka/broker1.example.com@EXAMPLE.COM", true, true, "kafka");
	expect(r, "hbase@EXAMPLE.COM", true, true, "hbase");
	/* Another realm: no rule applies, the name stays whole (NoMatchingRule). */
	expect(r, "kafka/broker1@OTHER.ORG", true, true, "kafka/broker1@OTHER.ORG");
	dp_krb_rules_free(r);
}

Test(krb_name, explicit_rules)
{
	struct dp_krb_rules *r =
	    rules("RULE:[2:$1@$0](kafka@.*EXAMPLE\\.COM)s/@.*// RULE:[1:$1x$0] DEFAULT", "X.ORG");
	char out[64];

	expect(r, "kafka/h@EXAMPLE.COM", true, true, "kafka");
	expect(r, "kafka/h@EXAMPLE.COM", false, false, "kafka/h@EXAMPLE.COM");
	/* [1:$1x$0] gives "userxOTHER" before DEFAULT is tried. */
	expect(r, "user@OTHER", true, true, "userxOTHER");
	/* A non-simple result is an error: the authorization id stays. */
	dp_krb_rules_free(r);
	r = rules("RULE:[1:$1@$0]", "");
	expect(r, "user@R", true, true, "user@R");
	cr_assert_eq(dp_krb_authorized_id(r, "user@R", "proxy", true, true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "proxy");
	cr_assert_eq(dp_krb_authorized_id(r, "user@R", NULL, true, true, out, 4), -ENOSPC);
	dp_krb_rules_free(r);
	r = rules("RULE:[1:$1](a.*)s/a/b/g", "");
	expect(r, "aXa@R", true, true, "bXb");
	dp_krb_rules_free(r);
}

Test(krb_name, malformed_names_and_rules)
{
	struct dp_krb_rules *r = rules(NULL, "R");
	char out[64], err[256];

	cr_assert_eq(dp_krb_authorized_id(r, "a/b/c@R", NULL, false, false, out, sizeof(out)),
		     -EINVAL);
	cr_assert_eq(dp_krb_authorized_id(r, "a@b@c", NULL, false, false, out, sizeof(out)),
		     -EINVAL);
	dp_krb_rules_free(r);
	cr_assert(dp_krb_name_valid("bob", 3));
	cr_assert(dp_krb_name_valid("kafka/h@R", 9));
	cr_assert(dp_krb_name_valid("@", 1));
	cr_assert(!dp_krb_name_valid("a@b@c", 5));
	cr_assert(!dp_krb_name_valid("a/b/c@R", 7));
	cr_assert(!dp_krb_name_valid("a@R/x", 5));
	cr_assert_eq(dp_krb_rules_parse("RULE:[x:$1]", "", &r, err, sizeof(err)), -EINVAL);
	cr_assert_eq(dp_krb_rules_parse("NOPE", "", &r, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "security.auth_to_local: invalid rule: NOPE");
	cr_assert_eq(dp_krb_rules_parse("RULE:[1:$1](a(b)", "", &r, err, sizeof(err)), -EINVAL);
}
