// SPDX-License-Identifier: Apache-2.0
/*
 * Keys without a typed field: kept (ZooKeeper makes them Java system
 * properties "zookeeper.<key>"), reachable through cfg_extra_get() with or
 * without the prefix, and warned about once each.
 */
#include "helpers.h"

Test(extras, unknown_keys_are_kept_and_warned_once)
{
	struct cfg c;

	parse_ok(&c, BASE "tickTim=2000\n"
			  "skipACL=yes\n"
			  "tickTim=3000\n");
	cr_assert_eq(c.n_extras, 2);
	cr_assert_str_eq(c.extras[0].key, "tickTim");
	cr_assert_str_eq(c.extras[0].value, "3000", "last value wins");
	cr_assert_not(c.extras[0].known);
	cr_assert_str_eq(c.extras[1].key, "skipACL");
	cr_assert_str_eq(c.extras[1].value, "yes");
	cr_assert(c.extras[1].known);

	cr_assert_eq(count_warnings(&c, "tickTim: unknown key"), 1, "%s", all_warnings(&c));
	cr_assert_eq(
	    count_warnings(
		&c, "zoo.cfg:3: tickTim: unknown key, not a ZooKeeper or Cheetah setting; ignored "
		    "(ZooKeeper would set the Java system property zookeeper.tickTim)"),
	    1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "zoo.cfg:5: duplicate key tickTim (also at line 3)"), 1,
		     "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "zoo.cfg:4: skipACL: "
					"ZooKeeper setting not implemented by Cheetah; ignored"),
		     1, "%s", all_warnings(&c));
	cr_assert_eq(c.n_warnings, 3, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(extras, lookup_with_and_without_the_zookeeper_prefix)
{
	struct cfg c;

	parse_ok(&c, BASE "jute.maxbuffer.extrasize=5\n"
			  "zookeeper.skipACL=yes\n"
			  "plain=1\n");
	cr_assert_str_eq(cfg_extra_get(&c, "jute.maxbuffer.extrasize"), "5");
	cr_assert_str_eq(cfg_extra_get(&c, "zookeeper.jute.maxbuffer.extrasize"), "5");
	cr_assert_str_eq(cfg_extra_get(&c, "skipACL"), "yes");
	cr_assert_str_eq(cfg_extra_get(&c, "zookeeper.skipACL"), "yes");
	cr_assert_str_eq(cfg_extra_get(&c, "plain"), "1");
	cr_assert_null(cfg_extra_get(&c, "missing"));
	cr_assert_null(cfg_extra_get(&c, "zookeeper.missing"));
	cr_assert_null(cfg_extra_get(&c, "tickTime"), "typed keys are not extras");
	cr_assert_eq(count_warnings(&c, "zookeeper.skipACL: ZooKeeper setting not implemented"), 1,
		     "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(extras, exact_key_wins_over_the_other_spelling)
{
	struct cfg c;

	parse_ok(&c, BASE "zookeeper.foo=prefixed\nfoo=bare\n");
	cr_assert_str_eq(cfg_extra_get(&c, "foo"), "bare");
	cr_assert_str_eq(cfg_extra_get(&c, "zookeeper.foo"), "prefixed");
	cfg_free(&c);
}

Test(extras, known_zookeeper_system_properties)
{
	static const char *const keys[] = {
	    "skipACL",
	    "digest.enabled",
	    "txnLogSizeLimitInKb",
	    "leaderServes",
	    "tcpKeepAlive",
	    "nio.numWorkerThreads",
	    "fsync.warningthresholdms",
	    "maxBatchSize",
	    "watcherCleanThreadsNum",
	    "enforceQuota",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char text[256], want[256];
		struct cfg c;

		snprintf(text, sizeof(text), BASE "%s=1\n", keys[i]);
		parse_ok(&c, text);
		cr_assert(c.extras[0].known, "%s", keys[i]);
		snprintf(want, sizeof(want), "%s: ZooKeeper setting not implemented by Cheetah",
			 keys[i]);
		cr_assert_eq(count_warnings(&c, want), 1, "%s", all_warnings(&c));
		cfg_free(&c);
	}
}

Test(extras, warned_once_across_file_and_set)
{
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(
	    cfg_load_string(&c, "zoo.cfg", BASE "observerMasterPort=2281\nmystery=1\n", &err), 0);
	cr_assert_eq(cfg_set(&c, "observerMasterPort=2282", &err), 0);
	cr_assert_eq(cfg_set(&c, "mystery=2", &err), 0);
	cr_assert_eq(cfg_finalize(&c, &err), 0, "%s", err.msg);
	cr_assert_eq(count_warnings(&c, "observerMasterPort: observers"), 1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "mystery: unknown key"), 1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "duplicate"), 0, "an override is no duplicate");
	cr_assert_str_eq(cfg_extra_get(&c, "observerMasterPort"), "2282");
	cr_assert_str_eq(cfg_extra_get(&c, "mystery"), "2");
	cfg_free(&c);
}

Test(extras, warnings_are_logged_on_request)
{
	struct cfg c;
	int fds[2];
	char buf[4096];
	ssize_t n;
	int saved;

	parse_ok(&c, BASE "mystery=1\n");
	cr_assert_eq(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	log_set_level(LOG_LVL_INFO);
	cfg_log_warnings(&c);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert_not_null(strstr(buf, " WARN zoo.cfg:3: mystery: unknown key"), "%s", buf);
	cfg_free(&c);
}

/* A system property Cheetah acts on: a typed field, no warning, either spelling. */
Test(extras, super_digest_is_acted_on)
{
	struct cfg c;

	parse_ok(&c, BASE "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n");
	cr_assert_str_eq(c.super_digest, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
	cr_assert_null(cfg_extra_get(&c, "DigestAuthenticationProvider.superDigest"));
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);

	parse_ok(&c, BASE "zookeeper.DigestAuthenticationProvider.superDigest=root:abc=\n");
	cr_assert_str_eq(c.super_digest, "root:abc=");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(extras, super_digest_without_user_and_digest_is_refused)
{
	static const char *const bad[] = {"nocolon", ":digest", "super:"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		struct cfg_error err;
		struct cfg c;

		snprintf(text, sizeof(text), BASE "DigestAuthenticationProvider.superDigest=%s\n",
			 bad[i]);
		cr_assert_eq(parse(&c, text, &err), -EINVAL, "%s accepted", bad[i]);
		cr_assert(strstr(err.msg, "user:base64-digest"), "%s", err.msg);
		cfg_free(&c);
	}
}
