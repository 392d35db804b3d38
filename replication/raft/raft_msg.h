/* SPDX-License-Identifier: Apache-2.0 */
/*
 * raft_msg.h - the peer wire format of the consensus core's messages.
 *
 * One frame per message, big-endian:
 *
 *   off  size
 *     0  u32   frame length, this field and the CRC included
 *     4  u8    version (RAFT_MSG_VERSION)
 *     5  u8    type (enum raft_msg_type)
 *     6  u16   flags (RAFT_F_*)
 *     8  u32   from
 *    12  u32   to
 *    16  u64   term
 *    24  ...   the fields of the type, in this order, when it has them:
 *              index u64, log_term u64, commit u64, hint u64, ctx u64,
 *              snapshot meta (index, term, zxid u64; conf: u32 n, n x
 *              (u32 id, u8 voter)), offset u64, chunk (u32 len, bytes),
 *              entries (u32 n, n x (index, term, zxid u64; type, count,
 *              len u32; len bytes))
 *   end-4  u32 CRC32C of every byte before it
 *
 * Which type has which field is a table in raft_msg.c.  The decoder checks
 * every length against the frame, the CRC, the version, the type, and
 * that nothing is left over; it never reads outside [buf, buf + len).
 * Pure functions, any thread.
 */
#ifndef CHEETAH_REPLICATION_RAFT_MSG_H
#define CHEETAH_REPLICATION_RAFT_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "replication/raft/raft.h"

#define RAFT_MSG_VERSION 1
#define RAFT_MSG_HEADER 24
#define RAFT_MSG_MAX_FRAME (64u << 20)

/* Bytes the encoding of m takes (m->entries and m->data must be set). */
size_t raft_msg_size(const struct raft_msg *m);

/*
 * Encodes m into buf[0..cap).  Returns the frame length, or -ENOSPC if cap
 * is too small, -EMSGSIZE above RAFT_MSG_MAX_FRAME, -EINVAL bad type.
 */
long raft_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap);

/*
 * Decodes the frame at the start of buf[0..len).  Entry and chunk payloads
 * point into buf (zero copy: keep buf while m is used); entries are
 * written to ents[0..max_ents).  Returns the frame length consumed, or
 * -EAGAIN (buf holds less than one frame: read more), -EINVAL (corrupt:
 * bad length, CRC, version, type or field), -EMSGSIZE (more entries than
 * max_ents, or a frame above RAFT_MSG_MAX_FRAME).
 */
long raft_msg_decode(const uint8_t *buf, size_t len, struct raft_msg *m, struct raft_entry *ents,
		     uint32_t max_ents);

#endif
