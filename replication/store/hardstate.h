/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The consensus core's hard state on disk: the current term and the vote
 * cast in it (Raft's currentTerm and votedFor), which must be durable
 * before the core answers a vote or accepts a leader of a newer term.
 * Internal to replication/.
 *
 * One small file, <dir>/hardstate, replaced atomically: the new contents
 * go to hardstate.tmp, which is fsync'ed and renamed over hardstate, then
 * the directory is fsync'ed.  A crash at any point leaves either the old
 * or the new file whole; a leftover hardstate.tmp is deleted at open.
 *
 * Format (big-endian, HARDSTATE_SIZE bytes):
 *   0  char[4] magic "CHHS"      4  u32 format version (1)
 *   8  u64 term                  16 u64 voted for (server id, 0 = none)
 *   24 u32 zero                  28 u32 crc32c of bytes 0..27
 *
 * Threads: one owner (the broadcast core) per handle; no locking.
 * Errors: 0 or a negative errno, logged where detected.
 */
#ifndef CHEETAH_REPLICATION_STORE_HARDSTATE_H
#define CHEETAH_REPLICATION_STORE_HARDSTATE_H

#include <stddef.h>
#include <stdint.h>

#define HARDSTATE_FILE "hardstate"
#define HARDSTATE_MAGIC "CHHS"
#define HARDSTATE_VERSION 1u
#define HARDSTATE_SIZE 32u

struct hardstate {
	uint64_t term;
	uint64_t voted_for; /* 0: no vote in this term */
};

struct hardstate_file;

/*
 * Opens dir (which must exist), deletes a leftover hardstate.tmp and
 * reads hardstate into *cur: {0, 0} when there is none (a new server).
 * Returns 0, -EBADMSG (the file is damaged: short, bad magic, CRC,
 * version or reserved bytes; the message names it — a server must not
 * forget its vote, so it refuses to start), -ENOMEM, or the errno of a
 * failed system call.  *out is set only on success.
 */
int hardstate_open(const char *dir, struct hardstate_file **out, struct hardstate *cur);

/*
 * Makes *hs durable, replacing the previous state atomically.  Raft's
 * rules are checked against the last state opened or saved: the term
 * never decreases, and within one term a vote, once cast, never changes
 * (0 -> id is allowed, id -> other id or 0 is not).  Returns 0, -EINVAL
 * (a rule broken: nothing written), or the errno of a failed system call
 * (the file on disk is then the old or the new state; the handle keeps
 * the old one, and the caller must not act on the new state).
 */
int hardstate_save(struct hardstate_file *f, const struct hardstate *hs);

/* Frees the handle; NULL is a no-op. */
void hardstate_close(struct hardstate_file *f);

/* Encodes / decodes the file bytes (for tests and tools); decode: 0 or -EBADMSG. */
void hardstate_encode(const struct hardstate *hs, uint8_t out[HARDSTATE_SIZE]);
int hardstate_decode(const uint8_t *buf, size_t len, struct hardstate *out, const char **why);

#endif
