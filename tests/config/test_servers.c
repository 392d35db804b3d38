// SPDX-License-Identifier: Apache-2.0
/*
 * server.N lines (QuorumPeer.QuorumServer, ConfigUtils.getHostAndPort) and
 * the quorum membership rules of QuorumPeerConfig.parseDynamicConfig().
 */
#include "helpers.h"

#define QUORUM BASE "initLimit=10\nsyncLimit=5\n"

Test(servers, every_form_of_a_server_line)
{
	struct cfg c;
	const struct cfg_server *s;

	parse_ok(&c, QUORUM "server.1=zk1.example.com:2888:3888\n"
			    "server.2=10.0.0.2:2888:3888:participant\n"
			    "server.3=zk3:2888:3888:observer\n"
			    "server.4=zk4:2888:3888;2181\n"
			    "server.5=zk5:2888:3888:participant;10.0.0.5:2182\n"
			    "server.6=[2001:db8::6]:2888:3888:OBSERVER;[::1]:2183\n"
			    "server.7= zk7 : 2888 : 3888 ; 2184 \n");
	cr_assert_eq(c.n_servers, 7);
	cr_assert_eq(c.n_participants, 5);
	cr_assert_eq(c.n_observers, 2);
	cr_assert(c.distributed);

	s = &c.servers[0];
	cr_assert_eq(s->id, 1);
	cr_assert_str_eq(s->host, "zk1.example.com");
	cr_assert_eq(s->quorum_port, 2888);
	cr_assert_eq(s->election_port, 3888);
	cr_assert_eq(s->type, CFG_PARTICIPANT);
	cr_assert_null(s->client_host);
	cr_assert_eq(s->client_port, 0);

	s = &c.servers[1];
	cr_assert_str_eq(s->host, "10.0.0.2");
	cr_assert_eq(s->type, CFG_PARTICIPANT);

	s = &c.servers[2];
	cr_assert_eq(s->type, CFG_OBSERVER);

	s = &c.servers[3];
	cr_assert_str_eq(s->client_host, "0.0.0.0", "port only: all addresses");
	cr_assert_eq(s->client_port, 2181);

	s = &c.servers[4];
	cr_assert_str_eq(s->client_host, "10.0.0.5");
	cr_assert_eq(s->client_port, 2182);

	s = &c.servers[5];
	cr_assert_str_eq(s->host, "2001:db8::6");
	cr_assert_eq(s->type, CFG_OBSERVER);
	cr_assert_str_eq(s->client_host, "::1");
	cr_assert_eq(s->client_port, 2183);

	s = &c.servers[6];
	cr_assert_str_eq(s->host, "zk7");
	cr_assert_eq(s->quorum_port, 2888);
	cr_assert_eq(s->client_port, 2184);
	cfg_free(&c);
}

Test(servers, sorted_by_id)
{
	struct cfg c;

	parse_ok(&c, QUORUM "server.30=c:1:2\nserver.2=a:1:2\nserver.10=b:1:2\n");
	cr_assert_eq(c.servers[0].id, 2);
	cr_assert_eq(c.servers[1].id, 10);
	cr_assert_eq(c.servers[2].id, 30);
	cfg_free(&c);
}

Test(servers, bad_lines)
{
	static const struct {
		const char *line;
		const char *msg;
	} bad[] = {
	    {"server.x=a:1:2", "server.x: the server id must be a positive integer"},
	    {"server.0=a:1:2", "server.0: the server id must be a positive integer"},
	    {"server.-1=a:1:2", "server.-1: the server id must be a positive integer"},
	    {"server.=a:1:2", "server.: the server id must be a positive integer"},
	    {"server.1.5=a:1:2", "server.1.5: the server id must be a positive integer"},
	    {"server.1=a:1", "server.1: \"a:1\" does not have the form "
			     "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=a", "server.1: \"a\" does not have the form "
			   "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=", "server.1: \"\" does not have the form "
			  "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=a:1:2:observer:x", "server.1: \"a:1:2:observer:x\" does not have the form "
					  "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=:1:2", "server.1: \":1:2\" does not have the form "
			      "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=a::2", "server.1: \"a::2\" does not have the form "
			      "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=a:1:2;", "server.1: \"a:1:2;\" does not have the form "
				"host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=a:1:2;1;2", "server.1: \"a:1:2;1;2\" does not have the form "
				   "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=a:1:2;h:1:2", "server.1: \"a:1:2;h:1:2\" does not have the form "
				     "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=[::1:1:2", "server.1: \"[::1:1:2\" does not have the form "
				  "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=[::1]", "server.1: \"[::1]\" does not have the form "
			       "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=[::1]:", "server.1: \"[::1]:\" does not have the form "
				"host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=[::1]x1:2", "server.1: \"[::1]x1:2\" does not have the form "
				   "host:port:port[:participant|observer][;[host:]port]"},
	    {"server.1=a b:1:2", "server.1: host must be an IP address or host name, got \"a b\""},
	    {"server.1=a:0:2",
	     "server.1: the quorum port must be a port number (1-65535), got \"0\""},
	    {"server.1=a:1:65536",
	     "server.1: the election port must be a port number (1-65535), got \"65536\""},
	    {"server.1=a:x:2",
	     "server.1: the quorum port must be a port number (1-65535), got \"x\""},
	    {"server.1=a:2888:2888", "server.1: the quorum and election ports must differ"},
	    {"server.1=a:1:2:leader",
	     "server.1: the role must be participant or observer, got \"leader\""},
	    {"server.1=a:1:2;0",
	     "server.1: the client port must be a port number (1-65535), got \"0\""},
	    {"server.1=a:1:2;h:x",
	     "server.1: the client port must be a port number (1-65535), got \"x\""},
	    {"server.1=a:1:2;h h:3",
	     "server.1: client host must be an IP address or host name, got \"h h\""},
	    {"server.1=a:1:2|b:1:2",
	     "server.1: multiple addresses per server (|) are not supported by Cheetah"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], msg[320];

		snprintf(text, sizeof(text), BASE "%s\n", bad[i].line);
		snprintf(msg, sizeof(msg), "zoo.cfg:3: %s", bad[i].msg);
		parse_fails(text, msg);
	}
}

Test(servers, duplicate_id_last_wins_with_warning)
{
	struct cfg c;

	parse_ok(&c,
		 QUORUM "server.1=old:1:2\nserver.2=b:1:2\nserver.01=new:1:2\nserver.3=c:1:2\n");
	cr_assert_eq(c.n_servers, 3);
	cr_assert_str_eq(c.servers[0].host, "new");
	cr_assert_eq(
	    count_warnings(
		&c, "zoo.cfg:7: server id 1 given twice (also at line 5); the last one wins"),
	    1, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(servers, one_participant_is_standalone_with_a_warning)
{
	struct cfg c;

	/* HBase writes such a line; ZooKeeper logs an error and ignores it. */
	parse_ok(&c, BASE "server.1=localhost:2888:3888\n");
	cr_assert_not(c.distributed);
	cr_assert_eq(c.n_servers, 1);
	cr_assert_eq(
	    count_warnings(&c,
			   "zoo.cfg:3: only one server specified; ignored and running standalone"),
	    1, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(servers, one_participant_without_standalone_is_a_quorum)
{
	struct cfg c;

	parse_ok(&c, QUORUM "standaloneEnabled=false\nserver.1=localhost:2888:3888\n");
	cr_assert(c.distributed);
	cfg_free(&c);
}

Test(servers, quorum_size_warnings)
{
	struct cfg c;

	parse_ok(&c, QUORUM "server.1=a:1:2\nserver.2=b:1:2\n");
	cr_assert(c.distributed);
	cr_assert_eq(
	    count_warnings(
		&c, "zoo.cfg: no server failure will be tolerated; you need at least 3 servers"),
	    1, "%s", all_warnings(&c));
	cfg_free(&c);

	parse_ok(&c, QUORUM "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2\n");
	cr_assert_eq(
	    count_warnings(&c,
			   "zoo.cfg: non-optimal configuration, consider an odd number of servers"),
	    1, "%s", all_warnings(&c));
	cfg_free(&c);

	parse_ok(&c, QUORUM
		 "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2:observer\n");
	cr_assert_eq(c.n_warnings, 0, "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(servers, membership_errors)
{
	parse_fails(BASE "standaloneEnabled=false\n",
		    "zoo.cfg:3: standaloneEnabled=false needs at least one participant server.N");
	parse_fails(BASE "server.1=a:1:2:observer\n",
		    "zoo.cfg:3: observers without participants are an invalid configuration");
	parse_fails(BASE "server.1=a:1:2\nserver.2=b:1:2:observer\n",
		    "zoo.cfg:4: observers without a quorum are an invalid configuration");
}

Test(servers, quorum_needs_init_and_sync_limits)
{
	parse_fails(BASE "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n",
		    "zoo.cfg: initLimit is not set");
	parse_fails(BASE "initLimit=5\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n",
		    "zoo.cfg: syncLimit is not set");
	parse_fails(BASE
		    "initLimit=5\nsyncLimit=0\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n",
		    "zoo.cfg: syncLimit is not set");
}

Test(servers, quorum_client_port_from_server_lines)
{
	struct cfg c;

	parse_ok(&c, "dataDir=/d\ninitLimit=5\nsyncLimit=2\n"
		     "server.1=a:1:2;2181\nserver.2=b:1:2;2181\nserver.3=c:1:2;2181\n");
	cr_assert_eq(c.client_port, 0);
	cr_assert_null(c.client_port_address);
	cfg_free(&c);

	parse_fails("dataDir=/d\ninitLimit=5\nsyncLimit=2\n"
		    "server.1=a:1:2;2181\nserver.2=b:1:2\nserver.3=c:1:2;2181\n",
		    "zoo.cfg:5: clientPort is not set and server.2 has no client port");
}

Test(servers, extended_types_limit_server_ids)
{
	struct cfg c;

	parse_ok(&c, QUORUM
		 "extendedTypesEnabled=true\nserver.1=a:1:2\nserver.254=b:1:2\nserver.3=c:1:2\n");
	cfg_free(&c);
	parse_fails(QUORUM
		    "extendedTypesEnabled=true\nserver.1=a:1:2\nserver.255=b:1:2\nserver.3=c:1:2\n",
		    "zoo.cfg:7: extendedTypesEnabled is true but server id 255 is too large; it "
		    "cannot be larger than 254");
}

Test(servers, large_ids_without_extended_types)
{
	struct cfg c;

	parse_ok(&c,
		 QUORUM "server.9223372036854775807=a:1:2\nserver.1000=b:1:2\nserver.3=c:1:2\n");
	cr_assert_eq(c.servers[2].id, INT64_MAX);
	cfg_free(&c);
}
