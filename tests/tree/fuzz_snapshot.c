// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for tree_snapshot_load: arbitrary bytes must load as a
 * tree or fail with -EBADMSG, never crash, hang or leak (ASan + UBSan).
 *
 * Every block of a snapshot carries a crc32c, so random mutations would
 * almost never get past the checksums to the record parser.  The first
 * input byte therefore selects a mode:
 *   bit 0  repair the checksums (header, each block as framed by its
 *          length, trailer) before loading: reaches the records
 *   bit 1  extended types (TTL owners) in the loading tree's options
 *   bit 2  max_data 4096 instead of jute.maxbuffer's default
 * and the rest is the file.  A snapshot that loads is written back
 * (tree_snapshot_write) and must load again: whatever the loader accepts,
 * the writer must be able to reproduce.
 *
 * snapshot.c is compiled into this file (the #include below) so that its
 * static helpers can be checked differentially on every input: the
 * loader's fast path check for paths against tree_validate_path.  The
 * CRC-32C (common/crc32c.c) is checked too: its table and hardware
 * versions against a plain bitwise one (on x86-64 the hardware path serves
 * everything else, so nothing else exercises the table).  The archive's
 * copy of snapshot.o is then never linked (nothing else refers to it).
 * LOAD_BATCH is set small so that the loader's path-index batches end
 * inside every input.
 *
 * Seeds: tests/tree/corpus_snapshot/, written by test_snapshot's
 * seed_corpus test (CHEETAH_SNAPSHOT_SEEDS=dir).  Run with
 * tests/tree/run_fuzz.sh or `meson test --suite fuzz` in a -Dfuzz=true build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "tree/tree.h"

/* Index batches of 5 nodes (millions in the server): batch boundaries get fuzzed too. */
#define LOAD_BATCH 5u
#include "tree/snapshot.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t repair_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	static uint32_t table[256];

	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Rewrites every checksum the framing lets us find (see snapshot.c). */
static void repair(uint8_t *b, size_t n)
{
	size_t pos = 40;

	if (n < 40)
		return;
	put_be32(b + 36, repair_crc32c(0, b, 36));
	while (pos + 4 <= n) {
		uint32_t len = be32(b + pos);
		if (len == 0xffffffffu) {
			if (pos + 32 <= n)
				put_be32(b + pos + 28, repair_crc32c(0, b + pos, 28));
			return;
		}
		if (len > n || pos + 12 + len > n)
			return;
		put_be32(b + pos + 8,
			 repair_crc32c(repair_crc32c(0, b + pos, 8), b + pos + 12, len));
		pos += 12 + (size_t)len;
	}
}

static int fill(int fd, const uint8_t *b, size_t n)
{
	if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	while (n) {
		ssize_t k = write(fd, b, n);
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return lseek(fd, 0, SEEK_SET) == 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int in_fd = -1, out_fd = -1;
	struct tree *t = NULL, *again = NULL;
	uint8_t *buf;
	int64_t zxid;
	int rc;

	if (in_fd < 0) {
		urcu_qsbr_register_thread();
		in_fd = memfd_create("fuzz-in", MFD_CLOEXEC);
		out_fd = memfd_create("fuzz-out", MFD_CLOEXEC);
		if (in_fd < 0 || out_fd < 0)
			abort();
	}
	if (size < 1)
		return 0;
	struct tree_opts opts = {
	    .max_data = (data[0] & 4) ? 4096 : ZK_DEFAULT_MAX_BUFFER,
	    .extended_types = (data[0] & 2) != 0,
	};
	buf = malloc(size);
	if (!buf)
		abort();
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 1)
		repair(buf, size - 1);
	/*
	 * Differential: the loader's fast path check never admits a path the
	 * validator rejects (the input's first bytes, made absolute).
	 */
	uint8_t path[257] = {'/'};
	size_t plen = size - 1 < 256 ? size - 1 : 256;
	memcpy(path + 1, buf, plen);
	for (size_t k = 0; k <= 1; k++)
		if (path_surely_valid(path + k, plen + 1 - k) &&
		    tree_validate_path((const char *)path + k, plen + 1 - k, false) != ZK_OK)
			abort();
	/* Differential: common/crc32c's table and hardware versions against
	 * the plain one here. */
	if (crc32c_portable(0, buf, size - 1) != repair_crc32c(0, buf, size - 1) ||
	    crc32c(0, buf, size - 1) != repair_crc32c(0, buf, size - 1))
		abort();
	if (fill(in_fd, buf, size - 1))
		abort();
	free(buf);

	rc = tree_snapshot_load(in_fd, &opts, &t, &zxid);
	if (rc != 0 && rc != -EBADMSG) {
		fprintf(stderr, "fuzz_snapshot: load returned %d\n", rc);
		abort();
	}
	if (rc == 0) {
		/* What loaded must be writable and load again. */
		int64_t z2;
		if (ftruncate(out_fd, 0) || lseek(out_fd, 0, SEEK_SET) != 0)
			abort();
		if (tree_snapshot_write(t, out_fd, &z2) || z2 != zxid)
			abort();
		if (lseek(out_fd, 0, SEEK_SET) != 0)
			abort();
		if (tree_snapshot_load(out_fd, &opts, &again, &z2) || z2 != zxid) {
			fprintf(stderr,
				"fuzz_snapshot: a loaded snapshot did not survive a rewrite\n");
			abort();
		}
		tree_free(again);
		tree_free(t);
	}
	urcu_qsbr_quiescent_state();
	return 0;
}
