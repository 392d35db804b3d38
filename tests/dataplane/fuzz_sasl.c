// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for SASL on the client port (opcode 102,
 * dataplane/session/sasl.c) through the whole protocol layer: a session
 * made over the fake I/O layer and fake core of dp_fake.h (the ones the
 * session unit tests use), whose sasl packets carry the fuzzer's tokens
 * into the real handler, dp_sess_sasl, and Cyrus's DIGEST-MD5 with our
 * auxprop plug-in (a JAAS file of one user, written once at start).
 *
 * Why a real client is mixed in: DIGEST-MD5's response hashes the
 * server's random nonce, which a fuzzer cannot guess, so alone it would
 * never get past the first challenge.  A token can instead ask for what
 * a real client (Cyrus's client side, in-process, user "alice" with her
 * password or a wrong one) answers to the last challenge the server
 * sent; the fuzzer then reaches a completed exchange, tokens after it,
 * failed steps and re-tries.
 *
 * Input: a series of tokens [op:1][len:2 big-endian][len bytes].  op:
 *   0 (mod 4): the bytes are the token;
 *   1: the real client's next token (right password), bytes ignored;
 *   2: the same with a wrong password;
 *   3: a null token (length -1).
 * At most 16 tokens; a token longer than what is left is cut.  After each
 * packet the reply is checked: err OK, AUTHFAILED or nothing (the
 * connection dropped), a token no longer than jute.maxbuffer, and after a
 * failure the connection closes.  Every input runs on a new connection
 * to one session, made by the first input and kept (the fake core never
 * expires it): the connection goes at the end, so every input leaves
 * the protocol layer as it found it, and LeakSanitizer (-detect_leaks)
 * checks each input.  Why not a session per input, closed at the end:
 * the tree frees a closed session after a grace period, on urcu's
 * call_rcu thread, i.e. during some later input; most inputs then made
 * more allocations than frees, and after 1000 of those libFuzzer turns
 * its per-input leak check off (a leak is then reported only at exit,
 * without the input: how a Cyrus leak once went unexplained in CI).
 * Waiting for those frees (urcu_qsbr_barrier) costs ~10 ms an input.
 * Seeds: tests/dataplane/corpus_sasl/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/log.h"
#include "dataplane/dp.h"
#include "dp_fake.h"
#include "dp_test.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define MAX_TOKENS 16
#define USER "alice"
#define PASSWORD "wonderland"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], jaas[128];
static int64_t session; /* the session every input connects to; 0 before the first */
/* Tokens: the real client's three (a login), then a bad one. */
static const uint8_t warmup[] = {1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 'x'};

/*
 * At exit: the protocol layer goes (fake_teardown checks for leaks), but
 * Cyrus stays.  sasl_server_done / sasl_client_done unload its plugins,
 * whose static state still points at ~228 B (server) and ~440 B (both)
 * that LeakSanitizer then reports from "<unknown module>"; with dlclose
 * made a no-op (LD_PRELOAD) nothing leaks, so it is the plugins' own, once
 * per process and not per input.  Per-input leaks are what -detect_leaks
 * checks, and this keeps them visible.
 */
static void cleanup(void)
{
	fake_teardown();
	unlink(jaas);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];
	FILE *fp;

	(void)argc;
	(void)argv;
	log_set_level(LOG_LVL_ERROR); /* failed authentications log at warn */
	strcpy(dir, "/tmp/cheetah-fuzz-sasl-XXXXXX");
	CHECK(mkdtemp(dir));
	snprintf(jaas, sizeof(jaas), "%s/jaas.conf", dir);
	fp = fopen(jaas, "w");
	CHECK(fp);
	fprintf(fp, "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
		    "  user_" USER "=\"" PASSWORD "\";\n};\n");
	CHECK(fclose(fp) == 0);
	fake_setup();
	fw.cfg.jaas_config = jaas;
	if (dp_sasl_init(&fw.cfg, err, sizeof(err))) {
		fprintf(stderr, "fuzz_sasl: %s\n", err);
		abort();
	}
	atexit(cleanup);
	/*
	 * One login and one failure first, so that what Cyrus and the fake
	 * world make once and keep (sasl_client_init, caches) exists before
	 * the first input: libFuzzer's per-input leak check turns itself off
	 * when an input leaves more allocations than it found.
	 */
	LLVMFuzzerTestOneInput(warmup, sizeof(warmup));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_sasl_client cl = {0};
	uint8_t *challenge = NULL;
	struct jute_buf last = {NULL, 0};
	struct dp_conn *c;
	int32_t xid = 1;

	if (!session) {
		c = fake_session("127.0.0.1", &session);
	} else {
		struct proto_connect_resp cr;
		const uint8_t *p;
		uint8_t pw[16];
		uint32_t plen;

		c = fake_conn("127.0.0.1", 40000);
		fake_passwd(session, pw);
		CHECK(fake_send_connect(c, session, tree_last_zxid(fw.r.tree), 30000, pw, true) ==
		      0);
		settle();
		CHECK(fake_next(c, &p, &plen));
		CHECK(proto_decode_connect_resp(p, plen, &cr) == 0 && cr.session_id == session);
		c->connected = true;
	}
	for (int n = 0; n < MAX_TOKENS && size >= 3 && !c->closing; n++) {
		struct proto_request r = fake_req(xid, ZK_OP_SASL);
		struct proto_reply rep;
		size_t len = (size_t)data[1] << 8 | data[2];
		uint8_t op = data[0] & 3;
		bool got = false;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (op == 0)
			r.sasl_token = (struct jute_buf){data, (int32_t)len};
		else if (op == 3)
			r.sasl_token = (struct jute_buf){NULL, -1};
		else
			r.sasl_token =
			    fake_sasl_client_token(&cl, last, USER, op == 1 ? PASSWORD : "not-it");
		data += len;
		size -= len;
		fake_send(c, &r);
		settle();
		while (fake_reply(c, &rep)) {
			CHECK(!got); /* one reply per packet */
			got = true;
			CHECK(rep.hdr.xid == xid);
			CHECK(rep.hdr.err == ZK_OK || rep.hdr.err == ZK_AUTHFAILED);
			CHECK(rep.has_body == (rep.hdr.err == ZK_OK));
			if (rep.hdr.err == ZK_AUTHFAILED)
				CHECK(c->closing); /* closes after the reply */
			if (rep.has_body) {
				CHECK(rep.body.sasl_token.len <= (int32_t)fw.cfg.jute_max_buffer);
				free(challenge);
				challenge = NULL;
				last = (struct jute_buf){NULL, 0};
				if (rep.body.sasl_token.len > 0) {
					challenge = malloc((size_t)rep.body.sasl_token.len);
					CHECK(challenge);
					memcpy(challenge, rep.body.sasl_token.p,
					       (size_t)rep.body.sasl_token.len);
					last =
					    (struct jute_buf){challenge, rep.body.sasl_token.len};
				}
			}
		}
		/* No reply: only a null token, which drops the connection. */
		CHECK(got || (op == 3 && c->closing));
		xid++;
	}
	free(challenge);
	fake_sasl_client_free(&cl);

	for (uint32_t i = 0; i < fw.w.nconns; i++) {
		if (!fw.w.conns[i]->reported)
			fake_conn_gone(fw.w.conns[i]);
		jute_out_free(&fw.w.conns[i]->sent);
		free(fw.w.conns[i]);
		fw.w.conns[i] = NULL;
	}
	fw.w.nconns = 0;
	settle();
	urcu_qsbr_quiescent_state();
	return 0;
}
