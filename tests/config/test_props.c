// SPDX-License-Identifier: Apache-2.0
/*
 * The java.util.Properties syntax zoo.cfg is written in: separators,
 * comments, blank lines, continuations, escapes, trimming, line numbers.
 */
#include "helpers.h"

Test(props, equals_colon_and_blank_are_all_separators)
{
	struct cfg c;

	parse_ok(&c, "dataDir=/a\n"
		     "clientPort:2181\n"
		     "tickTime 1000\n"
		     "initLimit \t = 7\n"
		     "syncLimit\t:\t3\n"
		     "maxClientCnxns   \f 11\n");
	cr_assert_str_eq(c.data_dir, "/a");
	cr_assert_eq(c.client_port, 2181);
	cr_assert_eq(c.tick_time, 1000);
	cr_assert_eq(c.init_limit, 7);
	cr_assert_eq(c.sync_limit, 3);
	cr_assert_eq(c.max_client_cnxns, 11);
	cfg_free(&c);
}

Test(props, only_the_first_separator_counts)
{
	struct cfg c;

	/* "key = = v": the value is "= v"; "key: =v": the value is "=v". */
	parse_ok(&c, BASE "foo = = v\nbar: =w\nbaz=a=b:c\n");
	cr_assert_str_eq(cfg_extra_get(&c, "foo"), "= v");
	cr_assert_str_eq(cfg_extra_get(&c, "bar"), "=w");
	cr_assert_str_eq(cfg_extra_get(&c, "baz"), "a=b:c");
	cfg_free(&c);
}

Test(props, hash_and_bang_comments_and_blank_lines_are_skipped)
{
	struct cfg c;

	parse_ok(&c, "# comment\n"
		     "! also a comment\n"
		     "   # indented comment\n"
		     "\n"
		     "   \t\n"
		     "dataDir=/d # not a comment\n"
		     "clientPort=2181\n"
		     "#tickTime=abc\n"
		     "!tickTime=abc\n");
	cr_assert_str_eq(c.data_dir, "/d # not a comment");
	cr_assert_eq(c.tick_time, 3000);
	cfg_free(&c);
}

Test(props, surrounding_whitespace_is_trimmed)
{
	struct cfg c;

	parse_ok(&c, "   dataDir   =   /with/trailing   \t\n"
		     "\tclientPort=2181  \r\n"
		     "tickTime=\t1500\t\n");
	cr_assert_str_eq(c.data_dir, "/with/trailing");
	cr_assert_eq(c.client_port, 2181);
	cr_assert_eq(c.tick_time, 1500);
	cfg_free(&c);
}

Test(props, crlf_and_cr_line_ends)
{
	struct cfg c;
	struct cfg_error err;

	parse_ok(&c, "dataDir=/d\r\nclientPort=2181\r\ntickTime=100\rinitLimit=4\n");
	cr_assert_eq(c.tick_time, 100);
	cr_assert_eq(c.init_limit, 4);
	cfg_free(&c);

	cr_assert_eq(parse(&c, "dataDir=/d\r\n\r\nclientPort=x\r\n", &err), -EINVAL);
	cr_assert_str_eq(err.msg,
			 "zoo.cfg:3: clientPort must be a port number (1-65535), got \"x\"");
	cfg_free(&c);
}

Test(props, backslash_continues_a_line)
{
	struct cfg c;

	parse_ok(&c, BASE "4lw.commands.whitelist=ruok, \\\n"
			  "        stat, \\\n"
			  "\tmntr\n"
			  "tickTime=2000\n");
	cr_assert_eq(c.four_letter_words,
		     CFG_4LW_RUOK | CFG_4LW_STAT | CFG_4LW_MNTR | CFG_4LW_SRVR);
	cr_assert_eq(c.tick_time, 2000);
	cfg_free(&c);
}

Test(props, even_backslashes_do_not_continue)
{
	struct cfg c;

	parse_ok(&c, BASE "foo=a\\\\\ntickTime=1234\n");
	cr_assert_str_eq(cfg_extra_get(&c, "foo"), "a\\");
	cr_assert_eq(c.tick_time, 1234);
	cfg_free(&c);
}

Test(props, comment_lines_never_continue)
{
	struct cfg c;

	parse_ok(&c, BASE "# a comment \\\ntickTime=1234\n");
	cr_assert_eq(c.tick_time, 1234);
	cfg_free(&c);
}

Test(props, continuation_into_an_empty_line_ends_the_value)
{
	struct cfg c;

	parse_ok(&c, BASE "foo=a\\\n\ntickTime=1234\n");
	cr_assert_str_eq(cfg_extra_get(&c, "foo"), "a");
	cr_assert_eq(c.tick_time, 1234);
	cfg_free(&c);
}

Test(props, backslash_at_end_of_file_is_dropped)
{
	struct cfg c;

	parse_ok(&c, BASE "foo=abc\\");
	cr_assert_str_eq(cfg_extra_get(&c, "foo"), "abc");
	cfg_free(&c);
}

Test(props, last_line_without_newline)
{
	struct cfg c;

	parse_ok(&c, BASE "tickTime=777");
	cr_assert_eq(c.tick_time, 777);
	cfg_free(&c);
}

Test(props, escapes_in_keys_and_values)
{
	struct cfg c;

	parse_ok(&c, BASE "a\\=b=1\n"
			  "c\\:d:2\n"
			  "e\\ f 3\n"
			  "tabs=x\\ty\\nz\\rw\\fv\n"
			  "other=\\q\\#\\!\n"
			  "dataLogDir=/logs/\\u00e9t\\u00E9\n"
			  "emoji=\\uD83D\\uDE00\n"
			  "lone=\\uD83Dx\n");
	cr_assert_str_eq(cfg_extra_get(&c, "a=b"), "1");
	cr_assert_str_eq(cfg_extra_get(&c, "c:d"), "2");
	cr_assert_str_eq(cfg_extra_get(&c, "e f"), "3");
	cr_assert_str_eq(cfg_extra_get(&c, "tabs"), "x\ty\nz\rw\fv");
	cr_assert_str_eq(cfg_extra_get(&c, "other"), "q#!");
	cr_assert_str_eq(c.data_log_dir, "/logs/\xc3\xa9t\xc3\xa9");
	cr_assert_str_eq(cfg_extra_get(&c, "emoji"), "\xf0\x9f\x98\x80");
	cr_assert_str_eq(cfg_extra_get(&c, "lone"), "?x");
	cfg_free(&c);
}

Test(props, raw_utf8_bytes_are_kept)
{
	struct cfg c;

	parse_ok(&c, "dataDir=/données/zk\nclientPort=2181\n");
	cr_assert_str_eq(c.data_dir, "/données/zk");
	cfg_free(&c);
}

Test(props, escaped_blanks_survive_until_trim)
{
	struct cfg c;

	/* Properties keeps "\ " but ZooKeeper's String.trim() removes it. */
	parse_ok(&c, BASE "foo=\\ \\ bar\\ \n");
	cr_assert_str_eq(cfg_extra_get(&c, "foo"), "bar");
	cfg_free(&c);
}

Test(props, key_without_value)
{
	struct cfg c;

	parse_ok(&c, BASE "lonely\nalso:\n");
	cr_assert_str_eq(cfg_extra_get(&c, "lonely"), "");
	cr_assert_str_eq(cfg_extra_get(&c, "also"), "");
	cfg_free(&c);
}

Test(props, malformed_unicode_escape_names_the_line)
{
	parse_fails(BASE "\n# x\nfoo=\\u12x4\n", "zoo.cfg:5: malformed \\uxxxx encoding");
	parse_fails(BASE "foo=\\u12", "zoo.cfg:3: malformed \\uxxxx encoding");
	parse_fails(BASE "foo=\\u0000\n", "zoo.cfg:3: NUL character (\\u0000) in a key or value");
}

Test(props, nul_byte_is_refused)
{
	static const char text[] = "dataDir=/d\nclientPort=2181\nfoo=a\0b\n";
	struct cfg_error err;
	struct cfg c;

	cr_assert_eq(cfg_defaults(&c), 0);
	/* cfg_load_string stops at the NUL; the file reader sees it. */
	char path[] = "/tmp/cheetah-cfg-nul-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	cr_assert_eq(cfg_load_file(&c, path, &err), -EINVAL);
	char want[128];

	snprintf(want, sizeof(want), "%s:3: NUL byte in the file", path);
	cr_assert_str_eq(err.msg, want);
	unlink(path);
	cfg_free(&c);
}

Test(props, error_line_is_where_the_logical_line_starts)
{
	parse_fails(BASE "# one\n\n   tickTime = \\\n    abc\n",
		    "zoo.cfg:5: tickTime must be a positive integer, got \"abc\"");
	parse_fails(BASE "foo=a\\\n  b\\\n  c\ntickTime=x\n",
		    "zoo.cfg:6: tickTime must be a positive integer, got \"x\"");
}

Test(props, duplicate_key_last_wins_with_warning)
{
	struct cfg c;

	parse_ok(&c, BASE "tickTime=1000\n\ntickTime=1500\n");
	cr_assert_eq(c.tick_time, 1500);
	cr_assert_eq(count_warnings(&c, "zoo.cfg:5: duplicate key tickTime (also at line 3)"), 1,
		     "%s", all_warnings(&c));
	cfg_free(&c);
}

Test(props, empty_file_gives_zookeeper_defaults_and_needs_data_dir)
{
	parse_fails("", "zoo.cfg: dataDir is not set");
	parse_fails("# only comments\n\n", "zoo.cfg: dataDir is not set");
}

Test(props, comment_after_a_lone_continuation_is_still_a_comment)
{
	struct cfg c;

	/* Java 9+ LineReader: a line is a comment while nothing is collected. */
	parse_ok(&c, BASE "\\\n#tickTime=abc\n  \\\n  !x=1\ntickTime=1234\n");
	cr_assert_eq(c.tick_time, 1234);
	cr_assert_eq(c.n_extras, 0);
	cfg_free(&c);
}

Test(props, lone_backslash_at_the_end_makes_an_empty_key)
{
	struct cfg c;

	/* Properties.load() records "" = "" here; so does Cheetah. */
	parse_ok(&c, BASE "\\\n");
	cr_assert_str_eq(cfg_extra_get(&c, ""), "");
	cfg_free(&c);
}
