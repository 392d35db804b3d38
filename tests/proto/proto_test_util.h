/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the codec's tests and its fuzz target: deep equality
 * of decoded records (by content, lists by iteration, so a raw view and
 * an items array compare equal), encode-to-bytes wrappers, hex parsing
 * and the golden capture reader.
 *
 * The equality functions switch on opcodes themselves instead of using
 * the codec's table, so they double-check it.
 */
#ifndef CHEETAH_TESTS_PROTO_UTIL_H
#define CHEETAH_TESTS_PROTO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/zkproto/proto.h"

bool pt_buf_eq(struct jute_buf a, struct jute_buf b);
bool pt_stat_eq(const struct zk_stat *a, const struct zk_stat *b);
bool pt_acl_eq(const struct jute_acl_list *a, const struct jute_acl_list *b);
bool pt_str_list_eq(const struct proto_str_list *a, const struct proto_str_list *b);
bool pt_client_info_eq(const struct proto_client_info_list *a, const struct proto_client_info_list *b);
bool pt_multi_op_eq(const struct proto_multi_op *a, const struct proto_multi_op *b);
bool pt_multi_req_eq(const struct proto_multi_req *a, const struct proto_multi_req *b);
bool pt_multi_result_eq(const struct proto_multi_result *a, const struct proto_multi_result *b);
bool pt_multi_resp_eq(const struct proto_multi_resp *a, const struct proto_multi_resp *b);
bool pt_connect_req_eq(const struct proto_connect_req *a, const struct proto_connect_req *b);
bool pt_connect_resp_eq(const struct proto_connect_resp *a, const struct proto_connect_resp *b);
/* Headers, trailing counts excluded, and the record of a->hdr.type. */
bool pt_request_eq(const struct proto_request *a, const struct proto_request *b);
/* The record of a reply to op (xid -1: the event). */
bool pt_response_eq(int32_t op, const struct proto_response *a, const struct proto_response *b);
bool pt_reply_eq(const struct proto_reply *a, const struct proto_reply *b);

/* A payload as a view of a jute buffer (for building records in tests). */
struct jute_buf pt_str(const char *s);

/*
 * Parses hex digits (whitespace ignored) into a malloc'ed buffer.
 * Returns the length, or -1 on a bad digit.
 */
long pt_hex_decode(const char *hex, uint8_t **out);

/*
 * The golden captures: lines '<dir> <conn> <hex>' (see
 * tests/proto/golden/<client>.hex); '#' lines are comments.
 */
struct pt_frame {
	char dir;      /* '>' client to server, '<' server to client */
	int conn;
	int line;
	uint8_t *bytes; /* whole frame, length prefix included */
	size_t len;
};

struct pt_capture {
	struct pt_frame *frames;
	size_t count;
	char client[160]; /* from the '# client:' header line */
};

/* Reads one .hex file; returns 0 or -errno. */
int pt_capture_load(const char *path, struct pt_capture *cap);
void pt_capture_free(struct pt_capture *cap);

/*
 * Lists the .hex files of dir (sorted) into a NULL-terminated,
 * malloc'ed array of malloc'ed paths; pt_files_free releases it.
 */
char **pt_list_files(const char *dir, const char *suffix);
void pt_files_free(char **files);

#endif
