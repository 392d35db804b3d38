// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the consensus core's peer codec: decodes the input
 * as a stream of frames; every frame that decodes must re-encode to the
 * same bytes (the format has one encoding per message) and decode again
 * to the same length.  Out-of-bounds reads are ASan's to catch; any other
 * violation traps.  Seeds: tests/replication/corpus_raft_msg/.
 */
#include <stdlib.h>
#include <string.h>

#include "replication/raft/raft_msg.h"

#define MAX_ENTS 256

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct raft_entry ents[MAX_ENTS], ents2[MAX_ENTS];
	while (size) {
		struct raft_msg m, m2;
		long n = raft_msg_decode(data, size, &m, ents, MAX_ENTS);
		if (n <= 0)
			break;
		CHECK((size_t)n <= size);
		CHECK(raft_msg_size(&m) == (size_t)n);
		uint8_t *out = malloc((size_t)n);
		CHECK(out);
		CHECK(raft_msg_encode(&m, out, (size_t)n) == n);
		CHECK(memcmp(out, data, (size_t)n) == 0);
		CHECK(raft_msg_decode(out, (size_t)n, &m2, ents2, MAX_ENTS) == n);
		CHECK(m2.type == m.type && m2.term == m.term && m2.n_entries == m.n_entries);
		free(out);
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
