// SPDX-License-Identifier: Apache-2.0
/*
 * cfg_dynamic.c - the dynamic configuration as text: one server line parsed
 * on its own (a ReconfigRequest's joiningServers come from the wire), and
 * the membership written back as ZooKeeper 3.8 writes it, in the data of
 * /zookeeper/config and in zoo.cfg.dynamic.<version>.
 *
 * The format is QuorumMaj.toString(): for each member
 * "server.<id>=<QuorumServer.toString()>\n", then "version=<hex>" with no
 * newline after it.  QuorumServer.toString() is
 * "host:quorumPort:electionPort:participant|observer", then
 * ";clientHost:clientPort" only when the line had a client part (an
 * address taken from clientPort is not printed); an IPv6 literal is
 * written in brackets.  ZooKeeper iterates a HashMap, which for small ids
 * is id order; we always write id order (the caller sorts).
 *
 * Bounds: a server line is at most CFG_SERVER_LINE_MAX bytes (a host name
 * is at most 253 bytes; anything longer is an error, not truncated), and
 * the formatters never write past the caller's buffer: they return
 * -ENOSPC instead.  No I/O here, no allocation except the parsed strings.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"

static int line_err(struct cfg_error *err, const char *fmt, const char *what)
{
	if (err)
		snprintf(err->msg, sizeof(err->msg), fmt, what);
	return -EINVAL;
}

int cfg_server_parse(const char *line, size_t len, struct cfg_server *out, struct cfg_error *err)
{
	char buf[CFG_SERVER_LINE_MAX + 1], *eq, *key, *value;
	struct cfg tmp;
	struct cfg_loc loc = {-1, 0};
	struct cfg_error e;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!line || len == 0)
		return line_err(err, "%s", "empty server line");
	if (len > CFG_SERVER_LINE_MAX)
		return line_err(err, "%s", "server line too long (more than 1024 bytes)");
	if (memchr(line, '\0', len))
		return line_err(err, "%s", "server line contains a NUL byte");
	memcpy(buf, line, len);
	buf[len] = '\0';
	eq = strchr(buf, '=');
	if (!eq)
		return line_err(
		    err,
		    "\"%.64s\" is not of the form server.N=host:port:port[:role][;[host:]port]",
		    buf);
	*eq = '\0';
	key = cfg_java_trim(buf);
	value = cfg_java_trim(eq + 1);
	if (strncmp(key, "server.", 7) != 0 || !key[7])
		return line_err(err, "\"%.64s\" does not start with server.N", key);
	memset(&tmp, 0, sizeof(tmp));
	rc = cfg_parse_server(&tmp, loc, key, value, out, &e);
	if (rc == -EINVAL && err) {
		/* "configuration: " is the prefix of a message without a source */
		const char *m = strncmp(e.msg, "configuration: ", 15) == 0 ? e.msg + 15 : e.msg;

		snprintf(err->msg, sizeof(err->msg), "%s", m);
	}
	return rc;
}

void cfg_server_release(struct cfg_server *s)
{
	if (!s)
		return;
	free(s->host);
	free(s->client_host);
	memset(s, 0, sizeof(*s));
}

/* Appends to buf[*off..cap); -ENOSPC when it does not fit (NUL included). */
static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= cap)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *off)
		return -ENOSPC;
	*off += (size_t)n;
	return 0;
}

static int put_host(char *buf, size_t cap, size_t *off, const char *host)
{
	return strchr(host, ':') ? put(buf, cap, off, "[%s]", host)
				 : put(buf, cap, off, "%s", host);
}

int cfg_server_format(const struct cfg_server *s, char *buf, size_t cap)
{
	size_t off = 0;
	int rc;

	if (!s || !s->host || !buf)
		return -EINVAL;
	rc = put_host(buf, cap, &off, s->host);
	if (!rc)
		rc = put(buf, cap, &off, ":%u:%u:%s", s->quorum_port, s->election_port,
			 s->type == CFG_OBSERVER ? "observer" : "participant");
	if (!rc && s->client_host) {
		rc = put(buf, cap, &off, ";");
		if (!rc)
			rc = put_host(buf, cap, &off, s->client_host);
		if (!rc)
			rc = put(buf, cap, &off, ":%u", s->client_port);
	}
	if (rc) {
		if (cap)
			buf[0] = '\0';
		return rc;
	}
	return (int)off;
}

int cfg_dynamic_format(const struct cfg_server *s, size_t n, uint64_t version, bool with_version,
		       char *buf, size_t cap)
{
	size_t off = 0;
	int rc = 0;

	if ((!s && n) || !buf || cap == 0)
		return -EINVAL;
	buf[0] = '\0';
	for (size_t i = 0; i < n && !rc; i++) {
		rc = put(buf, cap, &off, "server.%" PRId64 "=", s[i].id);
		if (!rc) {
			int k = cfg_server_format(&s[i], buf + off, cap - off);

			if (k < 0)
				rc = k;
			else
				off += (size_t)k;
		}
		/* QuorumMaj: '\n' after every server; the dynamic file ends there */
		if (!rc && (with_version || i + 1 < n))
			rc = put(buf, cap, &off, "\n");
	}
	if (!rc && with_version)
		rc = put(buf, cap, &off, "version=%" PRIx64, version);
	if (rc) {
		buf[0] = '\0';
		return rc;
	}
	if (off > INT32_MAX)
		return -ENOSPC;
	return (int)off;
}
