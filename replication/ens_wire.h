/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ensemble driver's own byte formats (ensemble.c): the payloads of
 * its peer frames F_REQ, F_ANS and F_TOUCH, the header it puts before
 * raft's payload in a log entry, the batch inside a DATA entry, and the
 * snapshot meta it writes with snapdir_meta_put.  Internal to
 * replication/.
 *
 * Byte order: LITTLE-ENDIAN, every multi-byte field, at the offsets
 * below, with no padding other than the reserved bytes shown (written as
 * zero).  These formats were host structs copied raw before; x86 wrote
 * exactly these bytes, so data dirs and members of earlier releases read
 * the same.  What travels inside them keeps its own order: jute
 * (big-endian) records, repl_write's wire form (repl.h, little-endian),
 * raft_conf_encode's CONF payload (big-endian).
 *
 * F_REQ payload, follower -> leader: ENS_FWD_REQ_SIZE bytes, then
 * body_len bytes (a forwarded write: repl_write_encode's bytes)
 *   0  u8  kind (ensemble.c's enum fwd_kind)   1  3 bytes zero
 *   4  i32 cxid                                8  i64 session
 *   16 i32 timeout, ms                         20 u32 body_len
 * F_ANS payload, leader -> follower: exactly ENS_FWD_ANS_SIZE bytes
 *   0  i64 session      8  i64 after (zxid)    16 i32 cxid   20 i32 err
 * F_TOUCH payload, follower -> leader: n x ENS_FWD_TOUCH_SIZE bytes
 *   0  i64 session      8  i32 timeout, ms     12 4 bytes zero
 *
 * Log entry payload (the txlog record's payload in an ensemble; the
 * record header itself is txlog's, big-endian): ENS_ENTRY_HDR bytes,
 * then raft's payload of the entry
 *   0  u8  type (enum raft_entry_type, 0..2)   1  3 bytes zero
 *   4  u32 count (zxids the entry reserves)
 * DATA entry payload (raft's; on the wire in raft appends and on disk
 * after the header above): count records, each
 *   0  u32 length n (>= 1)                     4  n bytes: one txn record
 *
 * Snapshot meta (ensmeta.<zxid>'s payload, after snapdir's header):
 * ENS_META_SIZE bytes, a raft_snap_meta
 *   0  u64 index        8  u64 term            16 u64 zxid
 *   24 u32 conf.n (<= RAFT_MAX_MEMBERS)
 *   28 + 8k, k < RAFT_MAX_MEMBERS: u32 id, u8 voter (0 or 1), 3 bytes zero
 *      (members k >= n: all zero)
 *   156 4 bytes zero
 *
 * Decoders check the length first (and never read outside [p, p + len)),
 * then the values whose range the format fixes; they return 0 or
 * -EBADMSG.  Reserved bytes are written as zero and not checked on read
 * (the entry header's are: they tell an ensemble entry from a standalone
 * server's record), as before.  Pure functions, any thread.
 */
#ifndef CHEETAH_REPLICATION_ENS_WIRE_H
#define CHEETAH_REPLICATION_ENS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define ENS_FWD_REQ_SIZE 24u
#define ENS_FWD_ANS_SIZE 24u
#define ENS_FWD_TOUCH_SIZE 16u
#define ENS_ENTRY_HDR 8u
#define ENS_BATCH_LEN 4u /* a DATA entry record's length prefix */
#define ENS_META_SIZE (28u + 8u * RAFT_MAX_MEMBERS + 4u)

struct ens_fwd_req {
	uint8_t kind;
	int32_t cxid;	 /* the request's xid (0 for a connect) */
	int64_t session; /* a connect: the id the follower chose */
	int32_t timeout; /* a connect: negotiated, ms */
	uint32_t body_len;
};

struct ens_fwd_ans {
	int64_t session;
	int64_t after; /* answer once this zxid is applied */
	int32_t cxid;
	int32_t err;
};

struct ens_fwd_touch {
	int64_t session;
	int32_t timeout;
};

void ens_fwd_req_encode(const struct ens_fwd_req *h, uint8_t out[ENS_FWD_REQ_SIZE]);
/* Reads the header at p[0..len): -EBADMSG when len < ENS_FWD_REQ_SIZE. */
int ens_fwd_req_decode(const uint8_t *p, size_t len, struct ens_fwd_req *h);

void ens_fwd_ans_encode(const struct ens_fwd_ans *a, uint8_t out[ENS_FWD_ANS_SIZE]);
/* -EBADMSG unless len == ENS_FWD_ANS_SIZE. */
int ens_fwd_ans_decode(const uint8_t *p, size_t len, struct ens_fwd_ans *a);

void ens_fwd_touch_encode(const struct ens_fwd_touch *t, uint8_t out[ENS_FWD_TOUCH_SIZE]);
/* Reads one touch at p[0..len): -EBADMSG when len < ENS_FWD_TOUCH_SIZE. */
int ens_fwd_touch_decode(const uint8_t *p, size_t len, struct ens_fwd_touch *t);

void ens_entry_hdr_encode(uint32_t type, uint32_t count, uint8_t out[ENS_ENTRY_HDR]);
/*
 * Reads the header at p[0..len): -EBADMSG when len < ENS_ENTRY_HDR, the
 * type is not a raft_entry_type or a reserved byte is not zero.
 */
int ens_entry_hdr_decode(const uint8_t *p, size_t len, uint32_t *type, uint32_t *count);

/* Writes one DATA record (prefix and len bytes of rec) at out; returns 4 + len. */
size_t ens_batch_put(uint8_t *out, const void *rec, uint32_t len);
/*
 * Takes the next DATA record from [*p, end): its bytes in *rec, *len, and
 * *p moves past it.  -EBADMSG (nothing moved) when fewer than 4 bytes or
 * fewer than the length's are left.  A zero length is returned as such
 * (the caller decides).
 */
int ens_batch_next(const uint8_t **p, const uint8_t *end, const uint8_t **rec, uint32_t *len);

/* m->conf.n <= RAFT_MAX_MEMBERS (asserted). */
void ens_meta_encode(const struct raft_snap_meta *m, uint8_t out[ENS_META_SIZE]);
/*
 * -EBADMSG unless len == ENS_META_SIZE, conf.n <= RAFT_MAX_MEMBERS and
 * every voter byte is 0 or 1; members past n come back zeroed.
 */
int ens_meta_decode(const uint8_t *p, size_t len, struct raft_snap_meta *m);

#endif
