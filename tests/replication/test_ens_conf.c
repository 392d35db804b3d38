// SPDX-License-Identifier: Apache-2.0
/*
 * The ensemble's membership with addresses (replication/ens_conf.c): the
 * data of /zookeeper/config parsed back (what every member does with a
 * committed reconfig, and a restart with its snapshot's node), with bad
 * input of every kind and every length; the edits a reconfig makes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "replication/ens_conf.h"

/* What ZooKeeper 3.8 returned for a four-server ensemble (test_reconfig.py). */
static const char zk4[] = "server.1=127.0.0.1:59977:48991:participant;127.0.0.1:39213\n"
			  "server.2=127.0.0.1:57957:53309:participant;127.0.0.1:56163\n"
			  "server.3=127.0.0.1:49665:33557:observer;127.0.0.1:37969\n"
			  "server.4=127.0.0.1:38905:60897:participant;127.0.0.1:59633\n"
			  "version=100000002";

static int parse(struct ens_members *m, const char *text, size_t len, char *why)
{
	why[0] = '\0';
	return ens_members_parse(m, text, len, why, 200);
}

Test(ens_conf, parses_and_writes_back_zookeepers_text)
{
	struct ens_members m;
	struct raft_conf rc;
	char why[200], buf[ENS_CONF_TEXT_MAX];

	cr_assert_eq(parse(&m, zk4, strlen(zk4), why), 0, "%s", why);
	cr_assert_eq(m.n, 4);
	cr_assert_eq(m.version, 0x100000002ull);
	cr_assert_eq(m.s[2].type, CFG_OBSERVER);
	cr_assert_eq(ens_members_raft(&m, &rc), 0);
	cr_assert_eq(rc.n, 4);
	cr_assert_eq(raft_conf_voters(&rc), 3);
	cr_assert_eq(ens_members_text(&m, true, buf, sizeof(buf)), (int)strlen(zk4));
	cr_assert_str_eq(buf, zk4);
	cr_assert_not_null(ens_members_find(&m, 4));
	cr_assert_null(ens_members_find(&m, 5));
	ens_members_free(&m);
	ens_members_free(&m);
}

Test(ens_conf, ids_out_of_order_are_sorted_and_a_later_line_wins)
{
	static const char t[] = "server.9=h:1:2;3\nserver.2=h:4:5;6\nserver.9=g:7:8;9\n"
				"version=a";
	struct ens_members m;
	char why[200];

	cr_assert_eq(parse(&m, t, strlen(t), why), 0, "%s", why);
	cr_assert_eq(m.n, 2);
	cr_assert_eq(m.s[0].id, 2);
	cr_assert_eq(m.s[1].id, 9);
	cr_assert_str_eq(m.s[1].host, "g");
	cr_assert_eq(m.version, 0xa);
	ens_members_free(&m);
}

Test(ens_conf, refuses_bad_text_with_a_reason)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
	    {"", "no server line"},
	    {"version=1", "no server line"},
	    {"server.1=h:1:2;3", "no version line"},
	    {"server.1=h:1:2;3\nversion=xyz", "bad version"},
	    {"server.1=h:1:2;3\nversion=", "does not start with server.N"},
	    {"server.1=h:1:2;3\nversion=11112222333344445", "version too long"},
	    {"server.1=h:1\nversion=1", "does not have the form"},
	    {"bogus\nversion=1", "is not of the form"},
	    {"server.0=h:1:2;3\nversion=1", "positive integer"},
	};
	struct ens_members m;
	char why[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse(&m, bad[i].text, strlen(bad[i].text), why), -EINVAL, "%s",
			     bad[i].text);
		cr_assert(strstr(why, bad[i].why), "\"%s\": got \"%s\"", bad[i].text, why);
		cr_assert_eq(m.n, 0);
	}
	cr_assert_eq(parse(&m, NULL, 3, why), -EINVAL);
	cr_assert_eq(parse(&m, zk4, ENS_CONF_TEXT_MAX + 1, why), -EINVAL);
	cr_assert(strstr(why, "longer than"), "%s", why);
}

Test(ens_conf, every_prefix_parses_or_fails_cleanly)
{
	struct ens_members m;
	char why[200];

	/* read exactly len bytes: a prefix has no version line, or a cut one */
	for (size_t len = 0; len <= strlen(zk4); len++) {
		char *copy = malloc(len ? len : 1);

		memcpy(copy, zk4, len); /* no NUL: the parser must not read past len */
		int rc = parse(&m, copy, len, why);
		if (len >= strlen(zk4) - 8 && len > strlen(zk4) - strlen("100000002")) {
			cr_assert_eq(rc, 0, "len %zu: %s", len, why);
			ens_members_free(&m);
		} else {
			cr_assert_eq(rc, -EINVAL, "len %zu accepted", len);
			cr_assert_neq(why[0], '\0');
		}
		free(copy);
	}
}

Test(ens_conf, at_most_sixteen_servers)
{
	char text[4096];
	size_t off = 0;
	struct ens_members m;
	char why[200];

	for (int i = 1; i <= RAFT_MAX_MEMBERS + 1; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "server.%d=h:%d:%d;%d\n", i,
					3 * i, 3 * i + 1, 3 * i + 2);
	off += (size_t)snprintf(text + off, sizeof(text) - off, "version=1");
	cr_assert_eq(parse(&m, text, off, why), -EINVAL);
	cr_assert(strstr(why, "more than 16"), "%s", why);
}

Test(ens_conf, put_drop_copy)
{
	struct ens_members m, c;
	struct cfg_server s = {.id = 5,
			       .host = "h5",
			       .quorum_port = 1,
			       .election_port = 2,
			       .client_host = "h5",
			       .client_port = 3};
	char why[200];

	cr_assert_eq(parse(&m, zk4, strlen(zk4), why), 0);
	cr_assert_eq(ens_members_put(&m, &s), 0);
	cr_assert_eq(m.n, 5);
	cr_assert_eq(m.s[4].id, 5);
	s.host = "other";
	cr_assert_eq(ens_members_put(&m, &s), 0, "replaces by id");
	cr_assert_eq(m.n, 5);
	cr_assert_str_eq(m.s[4].host, "other");
	cr_assert(ens_members_drop(&m, 2));
	cr_assert_not(ens_members_drop(&m, 2));
	cr_assert_eq(m.n, 4);
	cr_assert_eq(m.s[1].id, 3);
	cr_assert_eq(ens_members_copy(&c, &m), 0);
	ens_members_free(&m);
	cr_assert_eq(c.n, 4);
	cr_assert_str_eq(c.s[3].host, "other");
	cr_assert_eq(c.version, 0x100000002ull);
	/* the last one cannot be dropped into an invalid raft view silently */
	while (c.n)
		cr_assert(ens_members_drop(&c, c.s[0].id));
	struct raft_conf rc;
	cr_assert_eq(ens_members_raft(&c, &rc), -EINVAL);
	ens_members_free(&c);
}
