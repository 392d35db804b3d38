// SPDX-License-Identifier: Apache-2.0
/*
 * httpd_start (httpd/httpd.c): a daemon on a free loopback port answers
 * through its handler and reports the port it bound; a second one on that
 * port fails with a negative errno and no daemon.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "httpd/httpd.h"

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static const char body[] = "hello\n";
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	__atomic_add_fetch((unsigned *)cls, 1, __ATOMIC_RELAXED);
	r = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, strcmp(url, "/x") ? MHD_HTTP_NOT_FOUND : MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* GET path on 127.0.0.1:port; the whole reply into buf (at most 5 s). */
static size_t get(uint16_t port, const char *path, char *buf, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char req[128];
	size_t got = 0;

	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		cr_assert_eq(poll(&p, 1, 5000), 1, "no reply in 5 s");
		n = read(fd, buf + got, len - 1 - got);
		cr_assert_geq(n, 0);
		if (n == 0 || got + (size_t)n == len - 1) {
			got += (size_t)n;
			break;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return got;
}

Test(httpd, serves_on_the_port_it_reports, .timeout = 30)
{
	struct sockaddr_in sa;
	struct cfg cfg;
	unsigned calls = 0;
	struct httpd_opts o = {
	    .who = "test",
	    .addr = &sa,
	    .max_connections = 4,
	    .idle_timeout_s = 5,
	    .connection_memory = 8192,
	    .handler = handle,
	    .handler_cls = &calls,
	};
	struct MHD_Daemon *d, *d2 = (void *)&o;
	uint16_t port = 0, port2 = 0;
	char buf[1024];

	cr_assert_eq(cfg_defaults(&cfg), 0);
	cr_assert_eq(cfg_ipv4_address("127.0.0.1", 0, &sa), 0);
	cr_assert_eq(httpd_start(&cfg, &o, &d, &port), 0);
	cr_assert_not_null(d);
	cr_assert_neq(port, 0, "the bound port, not the configured 0");

	get(port, "/x", buf, sizeof(buf));
	cr_assert(!strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
	cr_assert_not_null(strstr(buf, "\r\n\r\nhello\n"), "%s", buf);
	get(port, "/y", buf, sizeof(buf));
	cr_assert(!strncmp(buf, "HTTP/1.1 404", 12), "%s", buf);
	cr_assert_eq(__atomic_load_n(&calls, __ATOMIC_RELAXED), 2);

	/* The same port again: libmicrohttpd's errno, no daemon. */
	sa.sin_port = htons(port);
	cr_assert_lt(httpd_start(&cfg, &o, &d2, &port2), 0);
	cr_assert_null(d2);

	MHD_stop_daemon(d);
	cfg_free(&cfg);
}
