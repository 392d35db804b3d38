// SPDX-License-Identifier: Apache-2.0
/*
 * Cheetah's own keys (cheetah.*): dataplane backend, cores, DPDK EAL
 * arguments, the DPDK port's IPv4 settings, log level, and their checks.
 */
#include "helpers.h"

#include <arpa/inet.h>

#define DPDK BASE "cheetah.dataplane=dpdk\ncheetah.port.ip=10.0.0.2\n"

static uint32_t host_order(struct in_addr a)
{
	return ntohl(a.s_addr);
}

Test(cheetah_keys, defaults)
{
	struct cfg c;

	parse_ok(&c, BASE);
	cr_assert_eq(c.dataplane, CFG_DATAPLANE_SOCK);
	cr_assert_eq(c.n_dp_cores, 0);
	cr_assert_eq(c.broadcast_core, -1);
	cr_assert_eq(c.dpdk_eal_argc, 0);
	cr_assert_null(c.dpdk_eal_argv);
	cr_assert_eq(c.dpdk_idle, CFG_DPDK_IDLE_BACKOFF);
	cr_assert_eq(c.port_ip.s_addr, 0);
	cr_assert_eq(c.port_netmask.s_addr, 0);
	cr_assert_eq(c.port_gateway.s_addr, 0);
	cr_assert_eq(c.log_level, LOG_LVL_INFO);
	cr_assert_eq(c.tcp_rto_min_ms, 200);
	cr_assert(c.dpdk_tso);
	cr_assert_eq(c.dpdk_tso_max_bytes, 65000);
	cr_assert_eq(c.txlog_inflight, 1);
	cr_assert_eq(c.dp_workers, 1);
	cr_assert_eq(c.dpdk_max_connections, CFG_DPDK_MAX_CONNECTIONS);
	cfg_free(&c);
}

Test(cheetah_keys, dpdk_max_connections)
{
	struct cfg c;

	parse_ok(&c, DPDK "cheetah.dpdk.max_connections=20000\n");
	cr_assert_eq(c.dpdk_max_connections, 20000);
	cfg_free(&c);
	parse_ok(&c, DPDK "cheetah.dpdk.max_connections=1048576\n");
	cr_assert_eq(c.dpdk_max_connections, 1048576);
	cfg_free(&c);
}

Test(cheetah_keys, unpinned_workers)
{
	struct cfg c;

	parse_ok(&c, BASE "cheetah.dataplane.workers=4\n");
	cr_assert_eq(c.dp_workers, 4);
	cr_assert_eq(c.n_dp_cores, 0);
	cfg_free(&c);
	parse_ok(&c, BASE "cheetah.dataplane.workers=1024\n");
	cr_assert_eq(c.dp_workers, 1024);
	cfg_free(&c);
	/* Pinned workers are one per core: the two ways do not mix. */
	parse_fails(BASE "cheetah.dataplane.cores=0,1\ncheetah.dataplane.workers=2\n",
		    "zoo.cfg:4: cheetah.dataplane.workers is for unpinned sock workers; with "
		    "cheetah.dataplane.cores the workers are one per core of "
		    "cheetah.dataplane.cores");
	parse_fails(DPDK "cheetah.dataplane.workers=2\n",
		    "zoo.cfg:5: cheetah.dataplane.workers is for unpinned sock workers; with "
		    "cheetah.dataplane=dpdk the workers are one per core of "
		    "cheetah.dataplane.cores");
}

Test(cheetah_keys, tcp_rto_min)
{
	struct cfg c;

	parse_ok(&c, DPDK "cheetah.tcp.rto_min_ms=1000\n");
	cr_assert_eq(c.tcp_rto_min_ms, 1000);
	cfg_free(&c);
	parse_ok(&c, DPDK "cheetah.tcp.rto_min_ms=1\n");
	cr_assert_eq(c.tcp_rto_min_ms, 1);
	cfg_free(&c);
	parse_ok(&c, DPDK "cheetah.tcp.rto_min_ms=60000\n");
	cr_assert_eq(c.tcp_rto_min_ms, 60000);
	cfg_free(&c);
}

Test(cheetah_keys, dpdk_tso)
{
	struct cfg c;

	parse_ok(&c, DPDK "cheetah.dpdk.tso=false\ncheetah.dpdk.tso_max_bytes=16000\n");
	cr_assert_not(c.dpdk_tso);
	cr_assert_eq(c.dpdk_tso_max_bytes, 16000);
	cfg_free(&c);
}

Test(cheetah_keys, txlog_inflight)
{
	struct cfg c;

	parse_ok(&c, BASE "cheetah.txlog.inflight=1\n");
	cr_assert_eq(c.txlog_inflight, 1);
	cfg_free(&c);
	parse_ok(&c, BASE "cheetah.txlog.inflight=4\n");
	cr_assert_eq(c.txlog_inflight, 4);
	cfg_free(&c);
}

Test(cheetah_keys, dpdk_with_port_settings)
{
	struct cfg c;

	parse_ok(&c, DPDK "cheetah.port.netmask=255.255.0.0\n"
			  "cheetah.port.gateway=10.0.255.254\n"
			  "cheetah.dataplane.cores=2-5, 8,10-10\n"
			  "cheetah.broadcast.core=1\n"
			  "cheetah.dpdk.eal=-l 1-5  --no-huge\t--vdev=net_tap0,iface=cht0\n"
			  "cheetah.dpdk.idle=spin\n"
			  "cheetah.dpdk.exception=cht0.mgmt\n"
			  "cheetah.log.level=debug\n");
	cr_assert_str_eq(c.dpdk_exception, "cht0.mgmt");
	cr_assert_eq(c.dataplane, CFG_DATAPLANE_DPDK);
	cr_assert_eq(host_order(c.port_ip), 0x0a000002);
	cr_assert_eq(host_order(c.port_netmask), 0xffff0000);
	cr_assert_eq(host_order(c.port_gateway), 0x0a00fffe);
	cr_assert_eq(c.n_dp_cores, 6);
	for (unsigned i = 0; i < 12; i++)
		cr_assert_eq(cfg_dp_core_isset(&c, i), (i >= 2 && i <= 5) || i == 8 || i == 10,
			     "core %u", i);
	cr_assert_not(cfg_dp_core_isset(&c, CFG_MAX_CORES));
	cr_assert_eq(c.broadcast_core, 1);
	cr_assert_eq(c.dpdk_eal_argc, 4);
	cr_assert_str_eq(c.dpdk_eal_argv[0], "-l");
	cr_assert_str_eq(c.dpdk_eal_argv[1], "1-5");
	cr_assert_str_eq(c.dpdk_eal_argv[2], "--no-huge");
	cr_assert_str_eq(c.dpdk_eal_argv[3], "--vdev=net_tap0,iface=cht0");
	cr_assert_null(c.dpdk_eal_argv[4]);
	cr_assert_eq(c.dpdk_idle, CFG_DPDK_IDLE_SPIN);
	cr_assert_eq(c.log_level, LOG_LVL_DEBUG);
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(cheetah_keys, dpdk_netmask_defaults_to_24)
{
	struct cfg c;

	parse_ok(&c, DPDK);
	cr_assert_eq(host_order(c.port_netmask), 0xffffff00);
	cfg_free(&c);
}

Test(cheetah_keys, highest_core)
{
	struct cfg c;

	parse_ok(&c, BASE "cheetah.dataplane.cores=1023\ncheetah.broadcast.core=0\n");
	cr_assert(cfg_dp_core_isset(&c, 1023));
	cr_assert_eq(c.n_dp_cores, 1);
	cfg_free(&c);
}

Test(cheetah_keys, log_levels)
{
	static const struct {
		const char *name;
		enum log_level lvl;
	} levels[] = {
	    {"error", LOG_LVL_ERROR},
	    {"warn", LOG_LVL_WARN},
	    {"info", LOG_LVL_INFO},
	    {"debug", LOG_LVL_DEBUG},
	};

	for (size_t i = 0; i < 4; i++) {
		char text[128];
		struct cfg c;

		snprintf(text, sizeof(text), BASE "cheetah.log.level=%s\n", levels[i].name);
		parse_ok(&c, text);
		cr_assert_eq(c.log_level, levels[i].lvl);
		cfg_free(&c);
	}
}

Test(cheetah_keys, empty_eal_clears_arguments)
{
	struct cfg c;

	parse_ok(&c, DPDK "cheetah.dpdk.eal=-l 1\ncheetah.dpdk.eal=\n");
	cr_assert_eq(c.dpdk_eal_argc, 0);
	cr_assert_not_null(c.dpdk_eal_argv);
	cr_assert_null(c.dpdk_eal_argv[0]);
	cfg_free(&c);
}

Test(cheetah_keys, bad_values)
{
	static const struct {
		const char *line;
		const char *msg;
	} bad[] = {
	    {"cheetah.dataplane=kernel", "cheetah.dataplane must be sock or dpdk, got \"kernel\""},
	    {"cheetah.dataplane=DPDK", "cheetah.dataplane must be sock or dpdk, got \"DPDK\""},
	    {"cheetah.dpdk.idle=poll", "cheetah.dpdk.idle must be backoff or spin, got \"poll\""},
	    {"cheetah.dpdk.exception=a/b",
	     "cheetah.dpdk.exception must be off or a network "
	     "interface name (1-15 of A-Z a-z 0-9 _ . -), got \"a/b\""},
	    {"cheetah.dpdk.exception=0123456789abcdef",
	     "cheetah.dpdk.exception must be off or a network interface name "
	     "(1-15 of A-Z a-z 0-9 _ . -), got \"0123456789abcdef\""},
	    {"cheetah.dpdk.max_connections=0",
	     "cheetah.dpdk.max_connections must be an integer from 1 to 1048576, got \"0\""},
	    {"cheetah.dpdk.max_connections=1048577",
	     "cheetah.dpdk.max_connections must be an integer from 1 to 1048576, got \"1048577\""},
	    {"cheetah.dpdk.tso=maybe", "cheetah.dpdk.tso must be true or false, got \"maybe\""},
	    {"cheetah.dpdk.tso_max_bytes=2999",
	     "cheetah.dpdk.tso_max_bytes must be an integer from 3000 to 65000, got \"2999\""},
	    {"cheetah.dpdk.tso_max_bytes=65001",
	     "cheetah.dpdk.tso_max_bytes must be an integer from 3000 to 65000, got \"65001\""},
	    {"cheetah.tcp.rto_min_ms=0",
	     "cheetah.tcp.rto_min_ms must be an integer from 1 to 60000, got \"0\""},
	    {"cheetah.tcp.rto_min_ms=60001",
	     "cheetah.tcp.rto_min_ms must be an integer from 1 to 60000, got \"60001\""},
	    {"cheetah.txlog.inflight=0",
	     "cheetah.txlog.inflight must be an integer from 1 to 4, got \"0\""},
	    {"cheetah.txlog.inflight=5",
	     "cheetah.txlog.inflight must be an integer from 1 to 4, got \"5\""},
	    {"cheetah.tcp.rto_min_ms=fast",
	     "cheetah.tcp.rto_min_ms must be an integer from 1 to 60000, got \"fast\""},
	    {"cheetah.dataplane.workers=0",
	     "cheetah.dataplane.workers must be an integer from 1 to 1024, got \"0\""},
	    {"cheetah.dataplane.workers=1025",
	     "cheetah.dataplane.workers must be an integer from 1 to 1024, got \"1025\""},
	    {"cheetah.dataplane.cores=",
	     "cheetah.dataplane.cores must be a list of cores such as 0,1 or 2-5, got \"\""},
	    {"cheetah.dataplane.cores=,",
	     "cheetah.dataplane.cores must be a list of cores such as 0,1 or 2-5, got \",\""},
	    {"cheetah.dataplane.cores=1024", "cheetah.dataplane.cores must list cores from 0 to "
					     "1023 such as 0,1 or 2-5, got \"1024\""},
	    {"cheetah.dataplane.cores=0,x", "cheetah.dataplane.cores must list cores from 0 to "
					    "1023 such as 0,1 or 2-5, got \"0,x\""},
	    {"cheetah.dataplane.cores=-1", "cheetah.dataplane.cores must list cores from 0 to 1023 "
					   "such as 0,1 or 2-5, got \"-1\""},
	    {"cheetah.dataplane.cores=2-", "cheetah.dataplane.cores must list cores from 0 to 1023 "
					   "such as 0,1 or 2-5, got \"2-\""},
	    {"cheetah.dataplane.cores=1-2-3", "cheetah.dataplane.cores must list cores from 0 to "
					      "1023 such as 0,1 or 2-5, got \"1-2-3\""},
	    {"cheetah.dataplane.cores=5-2", "cheetah.dataplane.cores: range 5-2 is backwards"},
	    {"cheetah.dataplane.cores=1,2-4,3", "cheetah.dataplane.cores: core 3 is listed twice"},
	    {"cheetah.broadcast.core=1024",
	     "cheetah.broadcast.core must be a core number from 0 to 1023, got \"1024\""},
	    {"cheetah.broadcast.core=one",
	     "cheetah.broadcast.core must be a core number from 0 to 1023, got \"one\""},
	    {"cheetah.port.ip=10.0.0",
	     "cheetah.port.ip must be a dotted IPv4 address, got \"10.0.0\""},
	    {"cheetah.port.ip=10.0.0.256",
	     "cheetah.port.ip must be a dotted IPv4 address, got \"10.0.0.256\""},
	    {"cheetah.port.ip=fe80::1",
	     "cheetah.port.ip must be a dotted IPv4 address, got \"fe80::1\""},
	    {"cheetah.port.ip=0.0.0.0",
	     "cheetah.port.ip must be a unicast IPv4 address, got \"0.0.0.0\""},
	    {"cheetah.port.ip=224.0.0.1",
	     "cheetah.port.ip must be a unicast IPv4 address, got \"224.0.0.1\""},
	    {"cheetah.port.ip=255.255.255.255",
	     "cheetah.port.ip must be a unicast IPv4 address, got \"255.255.255.255\""},
	    {"cheetah.port.ip=127.0.0.1",
	     "cheetah.port.ip must be a unicast IPv4 address, got \"127.0.0.1\""},
	    {"cheetah.port.netmask=255.0.255.0",
	     "cheetah.port.netmask must be a contiguous IPv4 netmask such as 255.255.255.0, got "
	     "\"255.0.255.0\""},
	    {"cheetah.port.netmask=0.0.0.0", "cheetah.port.netmask must be a contiguous IPv4 "
					     "netmask such as 255.255.255.0, got \"0.0.0.0\""},
	    {"cheetah.port.netmask=24",
	     "cheetah.port.netmask must be a dotted IPv4 address, got \"24\""},
	    {"cheetah.port.gateway=gw",
	     "cheetah.port.gateway must be a dotted IPv4 address, got \"gw\""},
	    {"cheetah.log.level=trace",
	     "cheetah.log.level must be error, warn, info or debug, got \"trace\""},
	    {"cheetah.log.level=INFO",
	     "cheetah.log.level must be error, warn, info or debug, got \"INFO\""},
	    {"cheetah.dataplanes=sock", "unknown Cheetah key cheetah.dataplanes"},
	    {"cheetah.=x", "unknown Cheetah key cheetah."},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], msg[320];

		snprintf(text, sizeof(text), BASE "%s\n", bad[i].line);
		snprintf(msg, sizeof(msg), "zoo.cfg:3: %s", bad[i].msg);
		parse_fails(text, msg);
	}
}

Test(cheetah_keys, dpdk_requires_a_port_ip)
{
	parse_fails(BASE "cheetah.dataplane=dpdk\n",
		    "zoo.cfg:3: cheetah.dataplane=dpdk requires cheetah.port.ip");
}

Test(cheetah_keys, port_ip_must_be_a_host_of_its_subnet)
{
	parse_fails(BASE "cheetah.dataplane=dpdk\ncheetah.port.ip=10.0.0.0\n",
		    "zoo.cfg:4: cheetah.port.ip is the network or broadcast address of its subnet");
	parse_fails(BASE "cheetah.dataplane=dpdk\ncheetah.port.ip=10.0.0.255\n",
		    "zoo.cfg:4: cheetah.port.ip is the network or broadcast address of its subnet");

	struct cfg c;

	/* A /31 or /32 has no network or broadcast address. */
	parse_ok(&c, BASE "cheetah.dataplane=dpdk\ncheetah.port.ip=10.0.0.0\n"
			  "cheetah.port.netmask=255.255.255.254\n");
	cfg_free(&c);
}

Test(cheetah_keys, gateway_must_be_in_the_subnet)
{
	parse_fails(
	    DPDK "cheetah.port.gateway=10.0.1.1\n",
	    "zoo.cfg:5: cheetah.port.gateway must be another address in cheetah.port.ip's subnet");
	parse_fails(
	    DPDK "cheetah.port.gateway=10.0.0.2\n",
	    "zoo.cfg:5: cheetah.port.gateway must be another address in cheetah.port.ip's subnet");
}

Test(cheetah_keys, broadcast_core_must_be_dedicated)
{
	parse_fails(BASE "cheetah.dataplane.cores=0-3\ncheetah.broadcast.core=2\n",
		    "zoo.cfg:4: cheetah.broadcast.core 2 is also in cheetah.dataplane.cores; the "
		    "broadcast core must be dedicated");
}

Test(cheetah_keys, dpdk_settings_with_sock_are_warned_about)
{
	struct cfg c;

	parse_ok(&c, BASE "cheetah.dpdk.eal=--no-huge\ncheetah.port.ip=10.0.0.2\n"
			  "cheetah.port.netmask=255.255.255.0\ncheetah.port.gateway=10.0.0.1\n"
			  "cheetah.dpdk.idle=spin\n");
	cr_assert_eq(count_warnings(&c, "is ignored with cheetah.dataplane=sock"), 5, "%s",
		     all_warnings(&c));
	cr_assert_eq(count_warnings(&c, "zoo.cfg:3: cheetah.dpdk.eal is ignored"), 1);
	cfg_free(&c);
}

Test(cheetah_keys, dpdk_serves_on_the_port_ip)
{
	struct cfg c;

	parse_ok(&c, DPDK "clientPortAddress=127.0.0.1\n");
	cr_assert_eq(
	    count_warnings(
		&c, "zoo.cfg:5: clientPortAddress 127.0.0.1 is not used by the dpdk dataplane"),
	    1, "%s", all_warnings(&c));
	cfg_free(&c);

	parse_ok(&c, DPDK "clientPortAddress=10.0.0.2\n");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);

	parse_ok(&c, DPDK);
	cr_assert_str_eq(c.client_port_address, "0.0.0.0");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}
