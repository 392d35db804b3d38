// SPDX-License-Identifier: Apache-2.0
/*
 * cfg_set(): command-line overrides (--set key=value), applied after the
 * file with the same checks, named "--set" in messages.
 */
#include "helpers.h"

static int load_and_set(struct cfg *c, const char *text, const char *const *sets, size_t n,
			struct cfg_error *err)
{
	int ret;

	err->msg[0] = '\0';
	cr_assert_eq(cfg_defaults(c), 0);
	ret = cfg_load_string(c, "zoo.cfg", text, err);
	for (size_t i = 0; !ret && i < n; i++)
		ret = cfg_set(c, sets[i], err);
	if (!ret)
		ret = cfg_finalize(c, err);
	return ret;
}

Test(set, overrides_the_file)
{
	static const char *const sets[] = {
	    "tickTime=1000",
	    " clientPort = 2182 ",
	    "4lw.commands.whitelist=ruok,mntr",
	    "server.1=a:1:2",
	    "cheetah.log.level=warn",
	    "dataDir=/override",
	    "DigestAuthenticationProvider.superDigest=super:x=y",
	};
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(load_and_set(&c, BASE "tickTime=3000\n", sets, 7, &err), 0, "%s", err.msg);
	cr_assert_eq(c.tick_time, 1000);
	cr_assert_eq(c.client_port, 2182);
	cr_assert_eq(c.four_letter_words, CFG_4LW_RUOK | CFG_4LW_MNTR | CFG_4LW_SRVR);
	cr_assert_eq(c.n_servers, 1);
	cr_assert_eq(c.log_level, LOG_LVL_WARN);
	cr_assert_str_eq(c.data_dir, "/override");
	cr_assert_str_eq(c.super_digest, "super:x=y", "split at the first '='");
	cr_assert_eq(count_warnings(&c, "duplicate"), 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(set, later_overrides_win)
{
	static const char *const sets[] = {"tickTime=1000", "tickTime=1500"};
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(load_and_set(&c, BASE, sets, 2, &err), 0, "%s", err.msg);
	cr_assert_eq(c.tick_time, 1500);
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(set, errors_name_set_instead_of_file_and_line)
{
	static const struct {
		const char *arg;
		const char *msg;
	} bad[] = {
	    {"tickTime=abc", "--set: tickTime must be a positive integer, got \"abc\""},
	    {"clientPort=70000",
	     "--set: clientPort must be a port number (1-65535), got \"70000\""},
	    {"server.1=a:1", "--set: server.1: \"a:1\" does not have the form "
			     "host:port:port[:participant|observer][;[host:]port]"},
	    {"cheetah.nope=1", "--set: unknown Cheetah key cheetah.nope"},
	    {"tickTime", "--set: expected key=value, got \"tickTime\""},
	    {"=5", "--set: expected key=value, got \"=5\""},
	    {"  =5", "--set: expected key=value, got \"  =5\""},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cfg_error err;
		struct cfg c;

		cr_assert_eq(load_and_set(&c, BASE, &bad[i].arg, 1, &err), -EINVAL, "%s",
			     bad[i].arg);
		cr_assert_str_eq(err.msg, bad[i].msg);
		cfg_free(&c);
	}
}

Test(set, cross_key_errors_point_at_the_override)
{
	static const char *const sets[] = {"minSessionTimeout=90000"};
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(load_and_set(&c, BASE "tickTime=2000\n", sets, 1, &err), -EINVAL);
	cr_assert_str_eq(
	    err.msg,
	    "--set: minSessionTimeout must not be larger than maxSessionTimeout (90000 > 40000)");
	cfg_free(&c);
}

Test(set, value_is_literal_and_trimmed)
{
	static const char *const sets[] = {"dataLogDir= /path/with\\backslash ", "empty="};
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(load_and_set(&c, BASE, sets, 2, &err), 0, "%s", err.msg);
	cr_assert_str_eq(c.data_log_dir, "/path/with\\backslash", "no Properties escapes in --set");
	cr_assert_str_eq(cfg_extra_get(&c, "empty"), "");
	cfg_free(&c);
}

Test(set, works_over_the_builtin_default)
{
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_builtin(&c, &err), 0);
	cr_assert_eq(cfg_set(&c, "clientPortAddress=0.0.0.0", &err), 0);
	cr_assert_eq(cfg_set(&c, "clientPort=12181", &err), 0);
	cr_assert_eq(cfg_finalize(&c, &err), 0, "%s", err.msg);
	cr_assert_str_eq(c.client_port_address, "0.0.0.0");
	cr_assert_eq(c.client_port, 12181);
	cr_assert_str_eq(c.data_dir, "./data");
	cfg_free(&c);
}

Test(set, without_any_file)
{
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_set(&c, "clientPort=2181", &err), 0);
	cr_assert_eq(cfg_finalize(&c, &err), -EINVAL);
	cr_assert_str_eq(err.msg, "configuration: dataDir is not set");
	cfg_free(&c);
}
