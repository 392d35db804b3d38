/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test doubles for the I/O layer (fake_proto.c, fake_repl.c) and client
 * helpers over loopback TCP (dp_test_util.c).  Every wait is bounded.
 */
#ifndef CHEETAH_TESTS_DATAPLANE_FAKE_H
#define CHEETAH_TESTS_DATAPLANE_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "dataplane/dp.h"
#include "dataplane/io/io.h"
#include "dataplane/session/session.h"

/* fake_proto.c */
extern uint32_t fake_opened;
extern uint32_t fake_closed;
extern uint32_t fake_frames;
extern uint32_t fake_ticks;
extern int fake_flood_result;
/* dump: extra "<bucket>\t<line>\n" lines of worker 0; the canned tracker. */
extern const char *fake_dump_lines;
/* wchc/wchp: lines per worker (0: one fixed line); chunks produced so far. */
extern uint32_t fake_wch_lines;
extern uint32_t fake_chunks;
/* The most bytes one call of the listing appended (one chunk, or a whole listing). */
extern uint32_t fake_max_chunk;
struct repl_sessions *fake_sessions_dump(void);

/* fake_repl.c */
struct repl *fake_repl_new(void);
void fake_repl_free(struct repl *r);
int fake_repl_wakeup(struct repl *r, uint32_t w);
struct repl_summary;
/* What repl_sync_summaries returns until repl_reset_stats zeroes it. */
/* What repl_zk_stats, repl_stale_sessions_expired, repl_revalidate_count
 * and repl_election_stats' looking_count answer from now on (any thread). */
struct repl_zk_stats;
void fake_repl_set_counters(struct repl *r, const struct repl_zk_stats *zk, uint64_t stale,
			    uint64_t revalidate, uint64_t looking);
void fake_repl_set_summaries(struct repl *r, const struct repl_summary *batch_size,
			     const struct repl_summary *fsync_ms);
uint32_t fake_repl_resets(struct repl *r);
/* A data point for repl_zk_hist's which, and for repl_ack_hists' id (the test thread only). */
enum repl_zk_hist;
void fake_repl_zk_add(struct repl *r, enum repl_zk_hist which, uint64_t v);
void fake_repl_ack_add(struct repl *r, uint32_t id, uint64_t v);

/* dp_test_util.c */
#define TEST_WAIT_MS 5000

struct test_server {
	struct cfg cfg;
	struct repl *repl;
	struct dp *dp;
	uint16_t port;
};

/*
 * Starts the dataplane on 127.0.0.1, an ephemeral port, with the fake
 * layers.  extra: zoo.cfg lines added to a minimal standalone config.
 */
void test_server_start(struct test_server *s, const char *extra);
void test_server_stop(struct test_server *s);
/* Bytes the server's workers have received so far. */
uint64_t test_server_bytes_in(struct test_server *s);
/* Waits (bounded) until fake_closed reaches n; false on timeout. */
bool test_wait_closed(uint32_t n);
/* Waits (bounded) until the server has received n bytes in total. */
bool test_wait_bytes_in(struct test_server *s, uint64_t n);

int test_connect(uint16_t port);
void test_send(int fd, const void *buf, size_t len);
void test_send_frame(int fd, const void *payload, size_t len);
void test_send_str_frame(int fd, const char *s);
/*
 * Reads exactly len bytes.  0; -EPIPE at end of stream; -ECONNRESET;
 * -ETIMEDOUT after TEST_WAIT_MS.
 */
int test_read(int fd, void *buf, size_t len);
/* Reads one frame into buf (NUL-terminated when it fits); length or -errno. */
int test_read_frame(int fd, char *buf, size_t cap);
/* Reads until end of stream into a malloc'ed, NUL-terminated buffer; its length or -errno. */
long test_read_all(int fd, char **out);
/* True when the server closed the connection (end of stream or reset) in time. */
bool test_closed_by_server(int fd);
/* Sends a four-letter word on a new connection and returns the whole reply. */
char *test_4lw(uint16_t port, const char *word);

#endif
