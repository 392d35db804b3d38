/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snap_stream.h - the chunked transfer of a snapshot to a lagging replica
 * (RAFT_MSG_SNAP_CHUNK / RAFT_MSG_SNAP_ACK), as two pure state machines:
 * the sender's window and retransmission, the receiver's in-order
 * reassembly and end-to-end checksum.  Time comes in as ticks; no thread,
 * clock, socket or file inside: the sender reads the snapshot through a
 * callback, the receiver tells the driver which bytes to write where.
 *
 * THE STREAM
 *   The snapshot's `size` bytes, then 4 bytes: their CRC32C, big-endian.
 *   Offsets count stream bytes.  Every chunk carries the snapshot meta
 *   (which snapshot it belongs to), its offset (a multiple of `chunk`) and
 *   up to `chunk` data bytes; the LAST chunk (the one reaching the end of
 *   the data) carries the 4 checksum bytes after its data.  The
 *   frame CRC of raft_msg.c guards each chunk on the wire; the stream
 *   checksum guards the whole against a bad read, a bad write or a
 *   chunk put in the wrong place.
 *
 * PROTOCOL (go-back-N)
 *   A stream is named by (sender, term, snapshot index and term): one
 *   sender sends the same bytes for one name, since a receiver resumes a
 *   name's stream where it stopped (a complete one starts over only when
 *   offset 0 comes again).
 *   The receiver takes only the chunk at the offset it expects; every
 *   chunk is answered with a SNAP_ACK naming the snapshot (index) and the
 *   offset it expects next (cumulative), so an ack that names the whole
 *   stream means "complete and checksummed".  A checksum mismatch, or a
 *   stream the receiver will not take (an older term's, another leader's
 *   of the same term), is answered with the REJECT flag: the sender starts
 *   over from 0, at most SNAP_MAX_RESTARTS times, then fails.  The sender
 *   keeps `window` chunks in flight past the acknowledged offset; when
 *   `rto` ticks pass without progress, or two duplicate acks arrive, it
 *   goes back to the acknowledged offset; after `give_up` ticks without
 *   progress it fails.
 *
 * WITH THE CORE (raft.h "SNAPSHOTS")
 *   A RAFT_MSG_SNAP in rd.msgs starts a snap_send to its destination (it
 *   is not sent as such); SNAP_DONE -> raft_report_snapshot(id, true),
 *   SNAP_FAILED or a lost connection -> raft_report_snapshot(id, false).
 *   The receiving driver writes what snap_recv_chunk() says, makes it
 *   durable once complete, and only then steps a RAFT_MSG_SNAP built with
 *   snap_recv_msg() into its core.  Any thread, one owner per object.
 */
#ifndef CHEETAH_REPLICATION_SNAP_STREAM_H
#define CHEETAH_REPLICATION_SNAP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replication/raft/raft.h"

#define SNAP_MAX_RESTARTS 3

enum snap_send_state { SNAP_SENDING, SNAP_DONE, SNAP_FAILED };

struct snap_send_cfg {
	uint32_t chunk;	  /* data bytes per chunk, >= 1 */
	uint32_t window;  /* chunks in flight, >= 1 */
	uint32_t rto;	  /* ticks without progress before going back, >= 1 */
	uint32_t give_up; /* ticks without progress before failing, > rto */
};

/* Reads len bytes of the snapshot at off into buf; returns 0 or -errno. */
typedef int (*snap_read_fn)(void *arg, uint64_t off, void *buf, uint32_t len);

struct snap_send {
	struct snap_send_cfg cfg;
	struct raft_snap_meta meta;
	uint32_t from, to;
	uint64_t term;
	uint64_t size; /* data bytes; the stream is size + 4 */
	uint32_t crc;
	uint64_t crc_off; /* crc covers data [0, crc_off) (size: given at init) */
	bool crc_lazy;	  /* snap_send_init_lazy: crc computed from the reads */
	uint64_t acked;	 /* stream bytes acknowledged */
	uint64_t next;	 /* next stream offset to send */
	uint64_t moved;	 /* tick of the last progress (or go-back) */
	uint64_t active; /* tick of the last progress */
	uint32_t dup_acks, restarts;
	enum snap_send_state state;
};

/*
 * Starts sending the snapshot `meta` of `size` bytes whose CRC32C is crc,
 * from `from` (in term `term`) to `to`.  Returns 0 or -EINVAL (bad cfg).
 */
int snap_send_init(struct snap_send *ss, const struct snap_send_cfg *cfg,
		   const struct raft_snap_meta *meta, uint32_t from, uint32_t to, uint64_t term,
		   uint64_t size, uint32_t crc, uint64_t now);

/*
 * As snap_send_init, for a snapshot whose CRC32C is not known in advance
 * (read from a file: no pass over it before the first chunk goes out).
 * The sender computes it from the data it reads, in stream order: a chunk
 * read for the first time extends it; data before an acknowledged offset
 * that was never read (a receiver resuming a stream it had begun) is read
 * once for the CRC before the next chunk.  By the last chunk it covers
 * all size bytes.  It then guards the wire, the receiver's writes and
 * every re-read for a retransmission, not the first read itself (as a CRC
 * of a buffer read once from disk would not either); a REJECT (checksum
 * mismatch) restarts the CRC with the stream, so a bad first read is
 * read anew.
 */
int snap_send_init_lazy(struct snap_send *ss, const struct snap_send_cfg *cfg,
			const struct raft_snap_meta *meta, uint32_t from, uint32_t to,
			uint64_t term, uint64_t size, uint64_t now);

/*
 * The next chunk to send at tick `now`: fills *m (type SNAP_CHUNK; m->data
 * points into buf, which must hold cfg.chunk + 4 bytes) reading the data
 * with read(arg, ...).  Returns 1 (send *m), 0 (nothing to send now: the
 * window is full, or the transfer is over: see ss->state), or the read
 * callback's -errno (the transfer fails).  Call until it returns 0.
 */
int snap_send_poll(struct snap_send *ss, uint64_t now, uint8_t *buf, snap_read_fn read, void *arg,
		   struct raft_msg *m);

/*
 * A SNAP_ACK from the receiver.  Returns 0, or -ESTALE when it names
 * another snapshot or peer (ignored).  Check ss->state afterwards.
 */
int snap_send_ack(struct snap_send *ss, const struct raft_msg *ack, uint64_t now);

struct snap_recv {
	bool active;
	struct raft_snap_meta meta;
	uint32_t from;
	uint64_t term;
	uint64_t off; /* stream bytes received in order */
	uint32_t crc; /* CRC32C of the data received */
	bool complete;
};

struct snap_recv_out {
	bool restart;	     /* a new stream: discard every byte written before */
	uint64_t off;	     /* write data[0..len) at this data offset */
	const uint8_t *data; /* points into the chunk message */
	uint32_t len;
	bool complete;	     /* whole and checksummed: persist, then install */
	struct raft_msg ack; /* send it (type SNAP_ACK) */
};

/* An empty receiver (no stream). */
void snap_recv_init(struct snap_recv *rs);

/*
 * A SNAP_CHUNK addressed to node `self`.  Returns 0 (*out says what to
 * write and the ack to send) or -EINVAL (malformed: not a chunk, a LAST
 * chunk shorter than the checksum, an empty chunk; nothing to do).
 */
int snap_recv_chunk(struct snap_recv *rs, uint32_t self, const struct raft_msg *m,
		    struct snap_recv_out *out);

/* The RAFT_MSG_SNAP to step into the core once the stream is complete. */
void snap_recv_msg(const struct snap_recv *rs, uint32_t self, struct raft_msg *m);

#endif
