// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the peer transport's pure decoders
 * (peer_hello_parse, peer_frame_parse, peer_auth_parse): input = byte 0 (a max_frame
 * selector) then a byte stream that starts with a hello and continues
 * with frames, parsed the way the transport parses a link.  Checks that
 * nothing reads out of bounds (ASan), that every accepted hello and frame
 * re-encodes to the same bytes, and that the parser never claims more
 * bytes than it was given.  Seeds: tests/replication/corpus_peer/.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replication/peer/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const uint32_t maxes[4] = {0, 16, 4096, PEER_DEFAULT_MAX_FRAME};
	uint32_t max = maxes[data[0] & 3];
	data++;
	size--;

	/* A private copy, so ASan catches any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);

	/* The same bytes as quorum SASL messages (peer.h, QUORUM SASL). */
	for (size_t ao = 0;;) {
		enum peer_auth_status st;
		const uint8_t *tok;
		uint32_t tl;
		int r = peer_auth_parse(buf + ao, size - ao, &st, &tok, &tl);
		if (r <= 0) {
			assert(r == 0 || r == -EBADMSG);
			break;
		}
		assert((size_t)r == PEER_AUTH_HDR + tl && (size_t)r <= size - ao &&
		       tl <= PEER_AUTH_TOKEN_MAX && st <= PEER_AUTH_ERROR && tok == buf + ao + 8);
		uint8_t hdr[PEER_AUTH_HDR];
		peer_auth_header(st, tl, hdr);
		assert(memcmp(hdr, buf + ao, PEER_AUTH_HDR) == 0);
		ao += (size_t)r;
	}

	struct peer_hello h;
	int k = peer_hello_parse(buf, size, &h);
	assert(k == 0 || k == PEER_HELLO_SIZE || k == -EBADMSG || k == -EPROTONOSUPPORT);
	size_t off = 0;
	if (k == PEER_HELLO_SIZE) {
		uint8_t again[PEER_HELLO_SIZE];
		peer_hello_encode(&h, again);
		assert(memcmp(again, buf, PEER_HELLO_SIZE) == 0);
		off = PEER_HELLO_SIZE;
	}
	for (;;) {
		struct peer_frame f;
		size_t need = 0;
		int r = peer_frame_parse(buf + off, size - off, max, &f, &need);
		if (r == 0) {
			assert(need > size - off && need <= (size_t)max + PEER_FRAME_HDR);
			break;
		}
		if (r < 0) {
			assert(r == -EMSGSIZE || r == -EBADMSG);
			break;
		}
		assert((size_t)r <= size - off && (size_t)r == PEER_FRAME_HDR + f.len &&
		       f.len <= max);
		uint8_t hdr[PEER_FRAME_HDR];
		peer_frame_header(f.type, f.payload, f.len, hdr);
		assert(memcmp(hdr, buf + off, PEER_FRAME_HDR) == 0);
		off += (size_t)r;
	}
	free(buf);
	return 0;
}
