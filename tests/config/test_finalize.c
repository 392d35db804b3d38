// SPDX-License-Identifier: Apache-2.0
/*
 * cfg_finalize(): the embedded default, derived values (dataLogDir,
 * clientPortAddress, session timeouts) and the checks that span keys.
 */
#include "helpers.h"

Test(finalize, embedded_default_configuration)
{
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_builtin(&c, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg_finalize(&c, &err), 0, "%s", err.msg);
	cr_assert_not(c.distributed);
	cr_assert_str_eq(c.client_port_address, "127.0.0.1");
	cr_assert_eq(c.client_port, 2181);
	cr_assert_str_eq(c.data_dir, "./data");
	cr_assert_str_eq(c.data_log_dir, "./data");
	cr_assert_eq(c.tick_time, 2000);
	cr_assert_eq(c.min_session_timeout, 4000);
	cr_assert_eq(c.max_session_timeout, 40000);
	cr_assert_eq(c.max_client_cnxns, 60);
	cr_assert_eq(c.snap_count, 100000);
	cr_assert_eq(c.pre_alloc_size_kb, 65536);
	cr_assert_eq(c.jute_max_buffer, 0xfffff);
	cr_assert_eq(c.global_outstanding_limit, 1000);
	cr_assert(c.force_sync);
	cr_assert_eq(c.snap_retain_count, 3);
	cr_assert_eq(c.purge_interval, 0);
	cr_assert_eq(c.four_letter_words, CFG_4LW_SRVR);
	cr_assert_eq(c.dataplane, CFG_DATAPLANE_SOCK);
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(finalize, derived_session_timeouts)
{
	struct cfg c;

	parse_ok(&c, BASE "tickTime=500\n");
	cr_assert_eq(c.min_session_timeout, 1000);
	cr_assert_eq(c.max_session_timeout, 10000);
	cfg_free(&c);

	parse_ok(&c, BASE "tickTime=500\nminSessionTimeout=9000\n");
	cr_assert_eq(c.min_session_timeout, 9000);
	cr_assert_eq(c.max_session_timeout, 10000);
	cfg_free(&c);

	parse_ok(&c, BASE "tickTime=500\nmaxSessionTimeout=1000\n");
	cr_assert_eq(c.min_session_timeout, 1000);
	cr_assert_eq(c.max_session_timeout, 1000);
	cfg_free(&c);

	/* The derivation uses the final tickTime, wherever it appears. */
	parse_ok(&c, "minSessionTimeout=-1\n" BASE "tickTime=100\n");
	cr_assert_eq(c.min_session_timeout, 200);
	cfg_free(&c);
}

Test(finalize, min_session_timeout_must_not_exceed_max)
{
	parse_fails(
	    BASE "minSessionTimeout=5000\nmaxSessionTimeout=4000\n",
	    "zoo.cfg:3: minSessionTimeout must not be larger than maxSessionTimeout (5000 > 4000)");
	parse_fails(
	    BASE "tickTime=1000\nmaxSessionTimeout=1999\n",
	    "zoo.cfg:4: minSessionTimeout must not be larger than maxSessionTimeout (2000 > 1999)");
	parse_fails(BASE "tickTime=1000\nminSessionTimeout=20001\n",
		    "zoo.cfg:4: minSessionTimeout must not be larger than maxSessionTimeout (20001 "
		    "> 20000)");
}

Test(finalize, huge_tick_time_cannot_derive_timeouts)
{
	struct cfg c;

	parse_fails(BASE "tickTime=200000000\n",
		    "zoo.cfg:3: tickTime 200000000 is too large: the default session timeouts (2 "
		    "and 20 x tickTime) must fit in 32 bits");
	parse_ok(&c,
		 BASE "tickTime=200000000\nminSessionTimeout=1\nmaxSessionTimeout=2147483647\n");
	cr_assert_eq(c.max_session_timeout, INT32_MAX);
	cfg_free(&c);
}

Test(finalize, data_dir_is_required_and_data_log_dir_follows_it)
{
	struct cfg c;

	parse_fails("clientPort=2181\n", "zoo.cfg: dataDir is not set");
	parse_ok(&c, "clientPort=2181\ndataDir=/a\n");
	cr_assert_str_eq(c.data_log_dir, "/a");
	cfg_free(&c);
	parse_ok(&c, "clientPort=2181\ndataDir=/a\ndataLogDir=/b\n");
	cr_assert_str_eq(c.data_dir, "/a");
	cr_assert_str_eq(c.data_log_dir, "/b");
	cfg_free(&c);
}

Test(finalize, relative_data_dirs_are_warned_about)
{
	struct cfg c;

	parse_ok(&c, "clientPort=2181\ndataDir=data\ndataLogDir=../txn\n");
	cr_assert_str_eq(c.data_dir, "data");
	cr_assert_eq(
	    count_warnings(
		&c, "zoo.cfg:2: dataDir data is relative to the working directory; prepend ./"),
	    1, "%s", all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "zoo.cfg:3: dataLogDir ../txn is relative"), 1, "%s",
		     all_warnings(&c));
	cfg_free(&c);

	parse_ok(&c, "clientPort=2181\ndataDir=./data\ndataLogDir=/abs\n");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(finalize, client_port_rules)
{
	struct cfg c;

	parse_fails("dataDir=/a\n", "zoo.cfg: clientPort is not set");
	parse_fails("dataDir=/a\nclientPortAddress=127.0.0.1\n",
		    "zoo.cfg:2: clientPortAddress is set but clientPort is not set");
	parse_ok(&c, "dataDir=/a\nclientPort=2181\n");
	cr_assert_str_eq(c.client_port_address, "0.0.0.0", "ZooKeeper listens on all addresses");
	cfg_free(&c);
}

Test(finalize, messages_without_a_file)
{
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_finalize(&c, &err), -EINVAL);
	cr_assert_str_eq(err.msg, "configuration: dataDir is not set");
	cfg_free(&c);
}

Test(finalize, only_once)
{
	struct cfg_error err;
	struct cfg c;

	parse_ok(&c, BASE);
	cr_assert_eq(cfg_finalize(&c, &err), -EALREADY);
	cr_assert_str_eq(err.msg, "configuration: already finalized");
	cfg_free(&c);
}

Test(finalize, null_error_pointer_is_allowed)
{
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_load_string(&c, "zoo.cfg", "tickTime=x\n", NULL), -EINVAL);
	cfg_free(&c);
	cr_assert_eq(cfg_defaults(&c), 0);
	cr_assert_eq(cfg_finalize(&c, NULL), -EINVAL);
	cfg_free(&c);
}

Test(finalize, free_is_idempotent)
{
	struct cfg c;

	parse_ok(&c, BASE "foo=bar\nserver.1=a:1:2\ncheetah.dpdk.eal=-l 1\n");
	cfg_free(&c);
	cfg_free(&c);
	cr_assert_null(c.priv);
	cr_assert_eq(c.n_extras, 0);
}

Test(finalize, version_string)
{
	cr_assert_not_null(cfg_version());
	cr_assert_gt(strlen(cfg_version()), 0);
}
