// SPDX-License-Identifier: Apache-2.0
/*
 * sasl_aux (config/sasl_aux.c): the user table (a JAAS section's
 * user_<name> options in order, the last password of a name winning as
 * in ZooKeeper's map, other options ignored, sasl_aux_free leaving it
 * empty) and the Cyrus options both SASL users give.  The plug-in's
 * lookups through Cyrus are exercised by the SASL integration tests
 * (client port and quorum) and fuzz_sasl.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <sasl/sasl.h>

#include "config/config.h"
#include "config/sasl_aux.h"

Test(sasl_aux, users_of_a_section_last_wins)
{
	const char *text = "Server {\n"
			   "  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
			   "    user_bob=\"b1\" username=\"x\" user_amy=\"a1\";\n"
			   "  other.Module optional user_bob=\"b2\";\n"
			   "};\n";
	struct cfg_error err = {""};
	struct cfg_jaas j;
	struct sasl_aux a = {0};

	cr_assert_eq(cfg_jaas_parse("jaas.conf", text, strlen(text), &j, &err), 0, "%s", err.msg);
	cr_assert_eq(sasl_aux_add_section(&a, cfg_jaas_find(&j, "Server")), 0);
	cfg_jaas_free(&j);
	cr_assert_eq(a.n_users, 2);
	cr_assert_str_eq(a.users[0].name, "bob");
	cr_assert_str_eq(a.users[0].password, "b2");
	cr_assert_str_eq(a.users[1].name, "amy");
	cr_assert_str_eq(a.users[1].password, "a1");

	/* superPassword replaces a user_super's (the client port's use). */
	cr_assert_eq(sasl_aux_add(&a, "super", "s1"), 0);
	cr_assert_eq(sasl_aux_add(&a, "super", "s2"), 0);
	cr_assert_eq(a.n_users, 3);
	cr_assert_str_eq(a.users[2].password, "s2");

	sasl_aux_free(&a);
	cr_assert_eq(a.n_users, 0);
	cr_assert_null(a.users);
	sasl_aux_free(&a); /* twice: harmless */
}

Test(sasl_aux, options)
{
	const char *r = NULL;
	unsigned len = 0;

	cr_assert_eq(sasl_aux_option("p", "DIGEST-MD5", "auxprop_plugin", &r, &len), SASL_OK);
	cr_assert_str_eq(r, "p");
	cr_assert_eq(len, 1);
	cr_assert_eq(sasl_aux_option("p", "DIGEST-MD5", "mech_list", &r, NULL), SASL_OK);
	cr_assert_str_eq(r, "DIGEST-MD5");
	cr_assert_eq(sasl_aux_option("p", "GSSAPI", "pwcheck_method", &r, &len), SASL_OK);
	cr_assert_str_eq(r, "auxprop");
	cr_assert_eq(len, 7);
	cr_assert_eq(sasl_aux_option("p", "GSSAPI", "reauth_timeout", &r, &len), SASL_OK);
	cr_assert_str_eq(r, "0");
	cr_assert_eq(sasl_aux_option("p", "GSSAPI", "log_level", &r, &len), SASL_FAIL);
}
