// SPDX-License-Identifier: Apache-2.0
/*
 * The dynamic configuration as text (config/cfg_dynamic.c): one server line
 * parsed from bytes that come off the wire (a ReconfigRequest's
 * joiningServers), and the membership written as ZooKeeper 3.8 writes
 * /zookeeper/config and zoo.cfg.dynamic.<version>.  The expected strings
 * are what Apache ZooKeeper 3.8 returned in tests/integration/
 * test_reconfig.py's runs (QuorumMaj.toString()).
 */
#include "helpers.h"

static int parse_line(const char *s, struct cfg_server *out, struct cfg_error *err)
{
	err->msg[0] = '\0';
	return cfg_server_parse(s, strlen(s), out, err);
}

Test(dynamic, parses_a_joiner_line)
{
	struct cfg_server s;
	struct cfg_error err;

	cr_assert_eq(
	    parse_line("server.4=127.0.0.1:38905:60897:participant;127.0.0.1:59633", &s, &err), 0,
	    "%s", err.msg);
	cr_assert_eq(s.id, 4);
	cr_assert_str_eq(s.host, "127.0.0.1");
	cr_assert_eq(s.quorum_port, 38905);
	cr_assert_eq(s.election_port, 60897);
	cr_assert_eq(s.type, CFG_PARTICIPANT);
	cr_assert_str_eq(s.client_host, "127.0.0.1");
	cr_assert_eq(s.client_port, 59633);
	cfg_server_release(&s);

	cr_assert_eq(parse_line(" server.12 = [::1]:1:2:observer;3 ", &s, &err), 0, "%s", err.msg);
	cr_assert_eq(s.id, 12);
	cr_assert_str_eq(s.host, "::1");
	cr_assert_eq(s.type, CFG_OBSERVER);
	cr_assert_str_eq(s.client_host, "0.0.0.0");
	cr_assert_eq(s.client_port, 3);
	cfg_server_release(&s);
	cfg_server_release(&s); /* twice is harmless */
}

Test(dynamic, refuses_bad_lines_with_a_reason)
{
	static const struct {
		const char *line, *msg;
	} bad[] = {
	    {"", "empty server line"},
	    {"server.1", "is not of the form"},
	    {"srv.1=h:1:2", "does not start with server.N"},
	    {"server.=h:1:2", "does not start with server.N"},
	    {"server.0=h:1:2", "the server id must be a positive integer"},
	    {"server.x=h:1:2", "the server id must be a positive integer"},
	    {"server.1=h:1", "does not have the form"},
	    {"server.1=h:1:2:3:4", "does not have the form"},
	    {"server.1=h:0:2", "the quorum port must be a port number"},
	    {"server.1=h:1:65536", "the election port must be a port number"},
	    {"server.1=h:1:1", "must differ"},
	    {"server.1=h:1:2:leader", "the role must be participant or observer"},
	    {"server.1=h:1:2;x", "the client port must be a port number"},
	    {"server.1=h:1:2;1;2", "does not have the form"},
	    {"server.1=h|g:1:2", "multiple addresses"},
	    {"server.1=[::1:1:2", "does not have the form"},
	};
	struct cfg_server s;
	struct cfg_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse_line(bad[i].line, &s, &err), -EINVAL, "accepted \"%s\"",
			     bad[i].line);
		cr_assert(strstr(err.msg, bad[i].msg), "\"%s\": got \"%s\", want \"%s\"",
			  bad[i].line, err.msg, bad[i].msg);
		cr_assert_null(s.host);
	}
}

Test(dynamic, checks_every_length)
{
	struct cfg_server s;
	struct cfg_error err;
	char big[CFG_SERVER_LINE_MAX + 2];
	static const char nul[] = "server.1=h:1:2\0;3";

	/* NULL and zero length */
	cr_assert_eq(cfg_server_parse(NULL, 5, &s, &err), -EINVAL);
	cr_assert_eq(cfg_server_parse("server.1=h:1:2", 0, &s, &err), -EINVAL);
	/* the length given is what is read: a prefix that stops early */
	cr_assert_eq(cfg_server_parse("server.1=h:1:2;3", 12, &s, &err), -EINVAL);
	cr_assert(strstr(err.msg, "does not have the form"), "%s", err.msg);
	cr_assert_eq(cfg_server_parse("server.1=h:1:2;3", 14, &s, &err), 0, "%s", err.msg);
	cr_assert_null(s.client_host);
	cfg_server_release(&s);
	/* an embedded NUL is refused, not cut at */
	cr_assert_eq(cfg_server_parse(nul, sizeof(nul) - 1, &s, &err), -EINVAL);
	cr_assert(strstr(err.msg, "NUL"), "%s", err.msg);
	/* exactly the limit is read; one more is refused */
	memset(big, 'a', sizeof(big));
	memcpy(big, "server.1=", 9);
	memcpy(big + CFG_SERVER_LINE_MAX - 4, ":1:2", 4);
	cr_assert_eq(cfg_server_parse(big, CFG_SERVER_LINE_MAX, &s, &err), -EINVAL);
	cr_assert(strstr(err.msg, "host must be"), "%s", err.msg); /* > 253 bytes */
	cr_assert_eq(cfg_server_parse(big, CFG_SERVER_LINE_MAX + 1, &s, &err), -EINVAL);
	cr_assert(strstr(err.msg, "too long"), "%s", err.msg);
}

static struct cfg_server srv(int64_t id, const char *host, uint16_t q, uint16_t e,
			     enum cfg_learner_type t, const char *ch, uint16_t cp)
{
	return (struct cfg_server){.id = id,
				   .host = (char *)host,
				   .quorum_port = q,
				   .election_port = e,
				   .type = t,
				   .client_host = (char *)ch,
				   .client_port = ch ? cp : 0};
}

Test(dynamic, writes_what_zookeeper_writes)
{
	struct cfg_server s[3] = {
	    srv(1, "127.0.0.1", 57229, 54631, CFG_PARTICIPANT, NULL, 0),
	    srv(2, "127.0.0.1", 47217, 54665, CFG_OBSERVER, NULL, 0),
	    srv(3, "127.0.0.1", 39751, 54073, CFG_PARTICIPANT, "127.0.0.1", 49397),
	};
	/* ZooKeeper 3.8, a 3-server ensemble without reconfigEnabled */
	static const char zk[] = "server.1=127.0.0.1:57229:54631:participant\n"
				 "server.2=127.0.0.1:47217:54665:observer\n"
				 "server.3=127.0.0.1:39751:54073:participant;127.0.0.1:49397\n"
				 "version=0";
	static const char dyn[] = "server.1=127.0.0.1:57229:54631:participant\n"
				  "server.2=127.0.0.1:47217:54665:observer\n"
				  "server.3=127.0.0.1:39751:54073:participant;127.0.0.1:49397";
	char buf[512];

	cr_assert_eq(cfg_dynamic_format(s, 3, 0, true, buf, sizeof(buf)), (int)strlen(zk));
	cr_assert_str_eq(buf, zk);
	cr_assert_eq(cfg_dynamic_format(s, 3, 0x100000002ull, false, buf, sizeof(buf)),
		     (int)strlen(dyn));
	cr_assert_str_eq(buf, dyn);
	static const char one[] = "server.1=127.0.0.1:57229:54631:participant\nversion=100000002";
	cr_assert_eq(cfg_dynamic_format(s, 1, 0x100000002ull, true, buf, sizeof(buf)),
		     (int)strlen(one));
	cr_assert_str_eq(buf, one);
	cr_assert_eq(cfg_dynamic_format(NULL, 0, 0xabc, true, buf, sizeof(buf)), 11);
	cr_assert_str_eq(buf, "version=abc");

	s[0] = srv(6, "2001:db8::6", 1, 2, CFG_OBSERVER, "::1", 3);
	cr_assert_eq(cfg_server_format(&s[0], buf, sizeof(buf)),
		     (int)strlen("[2001:db8::6]:1:2:observer;[::1]:3"));
	cr_assert_str_eq(buf, "[2001:db8::6]:1:2:observer;[::1]:3");
}

Test(dynamic, never_writes_past_the_buffer)
{
	struct cfg_server s[2] = {
	    srv(1, "10.0.0.1", 2888, 3888, CFG_PARTICIPANT, "10.0.0.1", 2181),
	    srv(2, "10.0.0.2", 2888, 3888, CFG_PARTICIPANT, NULL, 0),
	};
	char full[256], buf[256];
	int len = cfg_dynamic_format(s, 2, 0x200000001ull, true, full, sizeof(full));

	cr_assert_gt(len, 0);
	/* every capacity below len + 1 fails cleanly, len + 1 succeeds */
	for (int cap = 1; cap <= len + 1; cap++) {
		memset(buf, 'X', sizeof(buf));
		int rc = cfg_dynamic_format(s, 2, 0x200000001ull, true, buf, (size_t)cap);

		if (cap <= len) {
			cr_assert_eq(rc, -ENOSPC, "cap %d", cap);
			cr_assert_eq(buf[0], '\0');
		} else {
			cr_assert_eq(rc, len);
			cr_assert_str_eq(buf, full);
		}
		for (size_t k = (size_t)cap; k < sizeof(buf); k++)
			cr_assert_eq(buf[k], 'X', "cap %d: byte %zu written", cap, k);
	}
	cr_assert_eq(cfg_dynamic_format(s, 2, 1, true, buf, 0), -EINVAL);
	cr_assert_eq(cfg_dynamic_format(NULL, 2, 1, true, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(cfg_server_format(&s[0], buf, 5), -ENOSPC);
	cr_assert_str_eq(buf, "");
	cr_assert_eq(cfg_server_format(NULL, buf, sizeof(buf)), -EINVAL);
}

Test(dynamic, round_trips)
{
	static const char *lines[] = {
	    "server.1=h1:1:2:participant",
	    "server.2=h2:3:4:observer;0.0.0.0:5",
	    "server.3=[fe80::1]:6:7:participant;[fe80::2]:8",
	};
	for (size_t i = 0; i < 3; i++) {
		struct cfg_server s;
		struct cfg_error err;
		char buf[128], line[160];

		cr_assert_eq(parse_line(lines[i], &s, &err), 0, "%s", err.msg);
		cr_assert_gt(cfg_server_format(&s, buf, sizeof(buf)), 0);
		snprintf(line, sizeof(line), "server.%lld=%s", (long long)s.id, buf);
		cr_assert_str_eq(line, lines[i]);
		cfg_server_release(&s);
	}
}
