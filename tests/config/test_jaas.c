// SPDX-License-Identifier: Apache-2.0
/*
 * The JAAS file parser (config/jaas.c) and the SASL keys of zoo.cfg and
 * of the JVM flags (SERVER_JVMFLAGS / JVMFLAGS).
 */
#include "helpers.h"

static int jparse(const char *text, struct cfg_jaas *j, struct cfg_error *err)
{
	err->msg[0] = '\0';
	return cfg_jaas_parse("jaas.conf", text, strlen(text), j, err);
}

static void jfails(const char *text, const char *msg)
{
	struct cfg_error err;
	struct cfg_jaas j;

	cr_assert_eq(jparse(text, &j, &err), -EINVAL, "accepted:\n%s", text);
	cr_assert_str_eq(err.msg, msg);
}

Test(jaas, zookeeper_server_sections)
{
	const char *text =
	    "// ZooKeeper's documentation example\n"
	    "Server {\n"
	    "  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
	    "    user_super=\"adminsecret\"\n"
	    "    user_bob=\"bob\\\"secret\";\n"
	    "};\n"
	    "/* a Kerberos one\n   over lines */\n"
	    "Kerb {\n"
	    "  com.sun.security.auth.module.Krb5LoginModule REQUIRED useKeyTab=true\n"
	    "  keyTab=\"/etc/zk.keytab\" storeKey=true useTicketCache=false\n"
	    "  principal=\"zookeeper/host.example.com@EXAMPLE.COM\";\n"
	    "  other.Module optional a=1 a=2;\n"
	    "};\n";
	struct cfg_error err;
	struct cfg_jaas j;
	const struct cfg_jaas_section *s;

	cr_assert_eq(jparse(text, &j, &err), 0, "%s", err.msg);
	cr_assert_eq(j.n_sections, 2);
	s = cfg_jaas_find(&j, "Server");
	cr_assert_not_null(s);
	cr_assert_eq(s->n_entries, 1);
	cr_assert_str_eq(s->entries[0].module,
			 "org.apache.zookeeper.server.auth.DigestLoginModule");
	cr_assert_eq(s->entries[0].flag, CFG_JAAS_REQUIRED);
	cr_assert_str_eq(cfg_jaas_option(&s->entries[0], "user_super"), "adminsecret");
	cr_assert_str_eq(cfg_jaas_option(&s->entries[0], "user_bob"), "bob\"secret");
	cr_assert_null(cfg_jaas_option(&s->entries[0], "user_eve"));
	s = cfg_jaas_find(&j, "Kerb");
	cr_assert_eq(s->n_entries, 2);
	cr_assert_str_eq(cfg_jaas_option(&s->entries[0], "useKeyTab"), "true");
	cr_assert_str_eq(cfg_jaas_option(&s->entries[0], "principal"),
			 "zookeeper/host.example.com@EXAMPLE.COM");
	cr_assert_eq(s->entries[1].flag, CFG_JAAS_OPTIONAL);
	cr_assert_eq(s->entries[1].n_options, 1);
	cr_assert_str_eq(cfg_jaas_option(&s->entries[1], "a"), "2"); /* the last wins */
	cr_assert_null(cfg_jaas_find(&j, "Client"));
	cfg_jaas_free(&j);
	cfg_jaas_free(&j); /* zeroed: safe */
}

Test(jaas, empty_file_has_no_sections)
{
	struct cfg_error err;
	struct cfg_jaas j;

	cr_assert_eq(jparse("  // nothing\n", &j, &err), 0);
	cr_assert_eq(j.n_sections, 0);
	cfg_jaas_free(&j);
}

Test(jaas, bad_syntax_names_the_line)
{
	jfails("Server {\n  a.B required x=1\n};\n",
	       "jaas.conf:3: expected an option name or ';' in the entry of a.B, got '}'");
	jfails("Server {\n  a.B mandatory;\n};\n",
	       "jaas.conf:2: expected a control flag (required, requisite, sufficient, optional) "
	       "after a.B, got mandatory");
	jfails("Server {\n  a.B required x=\"open\n};\n", "jaas.conf:2: unterminated string");
	jfails("Server {\n  a.B required x;\n};\n",
	       "jaas.conf:2: expected '=' after option x, got ';'");
	jfails("Server {\n  a.B required x=;\n};\n",
	       "jaas.conf:2: expected a value for option x, got ';'");
	jfails("Server {\n  a.B required;\n}\n",
	       "jaas.conf:4: expected ';' after the '}' of section "
	       "Server, got the end of the file");
	jfails("Server {\n  a.B required;\n",
	       "jaas.conf:3: expected a login module class or '}' in "
	       "section Server, got the end of the file");
	jfails("Server a.B required;\n",
	       "jaas.conf:1: expected '{' after section name Server, got a.B");
	jfails("Server { };\n", "jaas.conf:1: section Server has no login module");
	jfails("S { a required; };\nS { a required; };\n", "jaas.conf:2: section S is given twice");
	jfails("/* open\n\n", "jaas.conf:1: unterminated /* comment");
	jfails(
	    "S { a required k=\"${user.home}\"; };\n",
	    "jaas.conf:1: option k: ${...} property expansion is not supported by Cheetah; write "
	    "the value out");
	jfails("S { a required k=v# ; };\n", "jaas.conf:1: unexpected character '#'");
	jfails("= {", "jaas.conf:1: expected a section name, got '='");
}

Test(jaas, nul_byte_refused)
{
	static const char text[] = "S { a required k=\"x\0y\"; };\n";
	struct cfg_error err;
	struct cfg_jaas j;

	cr_assert_eq(cfg_jaas_parse("jaas.conf", text, sizeof(text) - 1, &j, &err), -EINVAL);
	cr_assert_str_eq(err.msg, "jaas.conf:1: NUL byte in a string");
}

Test(jaas, load_missing_file)
{
	struct cfg_error err;
	struct cfg_jaas j;

	cr_assert_eq(cfg_jaas_load("/nonexistent/jaas.conf", &j, &err), -ENOENT);
	cr_assert_str_eq(
	    err.msg,
	    "/nonexistent/jaas.conf: cannot open the JAAS file: No such file or directory");
}

/* ---- zoo.cfg keys ---- */

Test(sasl_keys, all_keys)
{
	struct cfg c;

	parse_ok(&c,
		 BASE "java.security.auth.login.config=/etc/zk/jaas.conf\n"
		      "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n"
		      "zookeeper.sasl.serverconfig=MyServer\n"
		      "kerberos.removeHostFromPrincipal=true\n"
		      "zookeeper.kerberos.removeRealmFromPrincipal=false\n"
		      "superUser=admin\nzookeeper.superUser.2=root@EXAMPLE.COM\n"
		      "enforce.auth.enabled=true\nenforce.auth.schemes=sasl, digest\n");
	cr_assert_str_eq(c.jaas_config, "/etc/zk/jaas.conf");
	cr_assert(c.sasl_provider);
	cr_assert_str_eq(c.sasl_login_context, "MyServer");
	cr_assert(c.krb_remove_host);
	cr_assert(!c.krb_remove_realm);
	cr_assert_eq(c.n_super_users, 2);
	cr_assert_str_eq(c.super_users[0].value, "admin");
	cr_assert_str_eq(c.super_users[1].key, "superUser.2");
	cr_assert_str_eq(c.super_users[1].value, "root@EXAMPLE.COM");
	cr_assert(c.enforce_auth);
	cr_assert_eq(count_warnings(&c, "authProvider"), 0);
	cfg_free(&c);
}

Test(sasl_keys, require_sasl_needs_the_provider)
{
	struct cfg c;

	parse_fails(
	    BASE "sessionRequireClientSASLAuth=true\n",
	    "zoo.cfg:3: Authentication scheme sasl is not available (enforce.auth.schemes; the "
	    "sasl scheme needs "
	    "authProvider.N=org.apache.zookeeper.server.auth.SASLAuthenticationProvider)");
	parse_fails(
	    BASE "enforce.auth.enabled=true\n",
	    "zoo.cfg:3: enforce.auth.enabled is true enforce.auth.schemes must be configured");
	parse_ok(&c, BASE
		 "zookeeper.sessionRequireClientSASLAuth=true\n"
		 "authProvider.x=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n");
	cr_assert(c.enforce_auth);
	cr_assert_str_eq(c.enforce_schemes, "sasl");
	cfg_free(&c);
}

Test(sasl_keys, strict_values)
{
	parse_fails(
	    BASE "kerberos.removeRealmFromPrincipal=TRUE\n",
	    "zoo.cfg:3: kerberos.removeRealmFromPrincipal must be true or false (lower case: "
	    "ZooKeeper compares with \"true\"), got \"TRUE\"");
	parse_fails(BASE "java.security.auth.login.config=\n",
		    "zoo.cfg:3: java.security.auth.login.config must not be empty");
}

Test(sasl_keys, other_provider_warned)
{
	struct cfg c;

	parse_ok(&c, BASE "authProvider.1=com.example.MyProvider\n");
	cr_assert(!c.sasl_provider);
	cr_assert_eq(count_warnings(&c, "com.example.MyProvider is not supported"), 1);
	cfg_free(&c);
}

Test(sasl_keys, jvmflags)
{
	struct cfg_error err = {""};
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(
	    cfg_load_jvmflags(&c, "SERVER_JVMFLAGS",
			      "-Xmx1g -Djava.security.auth.login.config=/a/jaas.conf "
			      "-Dzookeeper.superUser=x -Djute.maxbuffer=5 "
			      "-Dzookeeper.authProvider.1=org.apache.zookeeper.server.auth."
			      "SASLAuthenticationProvider",
			      &err),
	    0, "%s", err.msg);
	cr_assert_eq(cfg_load_jvmflags(&c, "JVMFLAGS", "  -Dzookeeper.superUser=y\t", &err), 0);
	/* zoo.cfg wins over both. */
	cr_assert_eq(
	    cfg_load_string(&c, "zoo.cfg", BASE "java.security.auth.login.config=/b\n", &err), 0,
	    "%s", err.msg);
	cr_assert_eq(cfg_finalize(&c, &err), 0, "%s", err.msg);
	cr_assert_str_eq(c.jaas_config, "/b");
	cr_assert(c.sasl_provider);
	cr_assert_eq(c.n_super_users, 1);
	cr_assert_str_eq(c.super_users[0].value, "y");
	cr_assert_eq(c.jute_max_buffer, 0xfffff); /* not a SASL key: left to the JVM */
	cfg_free(&c);

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_jvmflags(&c, "JVMFLAGS",
				       "-Dzookeeper.kerberos.removeHostFromPrincipal=1", &err),
		     -EINVAL);
	cr_assert_str_eq(err.msg,
			 "JVMFLAGS: zookeeper.kerberos.removeHostFromPrincipal must be true "
			 "or false (lower case: ZooKeeper compares with \"true\"), got \"1\"");
	cfg_free(&c);
}
