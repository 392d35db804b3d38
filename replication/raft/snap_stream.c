// SPDX-License-Identifier: Apache-2.0
/*
 * snap_stream.c - the snapshot transfer of snap_stream.h: a go-back-N
 * sender and an in-order receiver with an end-to-end CRC32C.
 *
 * Why go-back-N and not selective repeat: the peer link is one ordered
 * TCP connection in the real transport, where chunks are lost only with
 * the connection (then the whole transfer is reported failed and the core
 * sends a fresh SNAP); the simulator's network also reorders and drops, so
 * the protocol must be correct there, and it need not be clever.  The
 * receiver's state is one offset and one running CRC, so it writes every
 * byte once, in order, and never buffers a chunk.
 *
 * Invariants (asserted): acked <= next <= size + 4; acked and next are
 * chunk boundaries (multiples of cfg.chunk) or the end of the stream; the
 * receiver's offset only grows within one stream; the last chunk goes
 * out with a CRC covering all the data (crc_off == size).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "replication/raft/snap_stream.h"

static void check(bool c, const char *what)
{
	if (!c) {
		fprintf(stderr, "snap_stream: assertion failed: %s\n", what);
		abort();
	}
}

static uint64_t stream_len(const struct snap_send *ss)
{
	return ss->size + 4;
}

int snap_send_init(struct snap_send *ss, const struct snap_send_cfg *cfg,
		   const struct raft_snap_meta *meta, uint32_t from, uint32_t to, uint64_t term,
		   uint64_t size, uint32_t crc, uint64_t now)
{
	if (!cfg->chunk || !cfg->window || !cfg->rto || cfg->give_up <= cfg->rto || !from || !to ||
	    from == to || size > UINT64_MAX / 2)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	ss->cfg = *cfg;
	ss->meta = *meta;
	ss->from = from;
	ss->to = to;
	ss->term = term;
	ss->size = size;
	ss->crc = crc;
	ss->moved = ss->active = now;
	ss->state = SNAP_SENDING;
	ss->crc_off = size;
	return 0;
}

int snap_send_init_lazy(struct snap_send *ss, const struct snap_send_cfg *cfg,
			const struct raft_snap_meta *meta, uint32_t from, uint32_t to,
			uint64_t term, uint64_t size, uint64_t now)
{
	int rc = snap_send_init(ss, cfg, meta, from, to, term, size, 0, now);

	if (!rc) {
		ss->crc_off = 0;
		ss->crc_lazy = true;
	}
	return rc;
}

/*
 * The lazy CRC: extends it over [crc_off, off) (data an ack let us skip:
 * read here, in chunks, through buf) and then, when the chunk read at off
 * starts where the CRC ends, over that chunk.  Reads before crc_off (a
 * go-back) leave it alone.  Returns 0 or the read's -errno.
 */
static int crc_upto(struct snap_send *ss, uint64_t off, uint8_t *buf, snap_read_fn read, void *arg)
{
	while (ss->crc_off < off) {
		uint64_t left = off - ss->crc_off;
		uint32_t n = left < ss->cfg.chunk ? (uint32_t)left : ss->cfg.chunk;
		int rc = read(arg, ss->crc_off, buf, n);

		if (rc)
			return rc;
		ss->crc = crc32c(ss->crc, buf, n);
		ss->crc_off += n;
	}
	return 0;
}

static bool boundary(const struct snap_send *ss, uint64_t off)
{
	return off == stream_len(ss) || (off % ss->cfg.chunk == 0 && off <= ss->size);
}

int snap_send_poll(struct snap_send *ss, uint64_t now, uint8_t *buf, snap_read_fn read, void *arg,
		   struct raft_msg *m)
{
	if (ss->state != SNAP_SENDING)
		return 0;
	check(ss->acked <= ss->next && ss->next <= stream_len(ss), "acked <= next <= end");
	check(boundary(ss, ss->acked) && boundary(ss, ss->next), "chunk boundaries");
	if (now - ss->active >= ss->cfg.give_up) {
		ss->state = SNAP_FAILED;
		return 0;
	}
	if (ss->next > ss->acked && now - ss->moved >= ss->cfg.rto) {
		ss->next = ss->acked; /* no progress: go back */
		ss->moved = now;
	}
	if (ss->next >= stream_len(ss) ||
	    ss->next >= ss->acked + (uint64_t)ss->cfg.window * ss->cfg.chunk)
		return 0;
	uint64_t off = ss->next;
	bool last = off + ss->cfg.chunk >= ss->size;
	uint32_t dlen = (uint32_t)(last ? ss->size - off : ss->cfg.chunk);
	if (dlen || off > ss->crc_off) {
		int rc = crc_upto(ss, off, buf, read, arg);
		if (!rc && dlen)
			rc = read(arg, off, buf, dlen);
		if (rc) {
			ss->state = SNAP_FAILED;
			return rc;
		}
		if (off == ss->crc_off) {
			ss->crc = crc32c(ss->crc, buf, dlen);
			ss->crc_off += dlen;
		}
	}
	check(!last || ss->crc_off == ss->size, "the checksum covers the data before the end");
	uint32_t len = dlen;
	if (last) {
		buf[len++] = (uint8_t)(ss->crc >> 24);
		buf[len++] = (uint8_t)(ss->crc >> 16);
		buf[len++] = (uint8_t)(ss->crc >> 8);
		buf[len++] = (uint8_t)ss->crc;
	}
	*m = (struct raft_msg){
	    .type = RAFT_MSG_SNAP_CHUNK,
	    .flags = last ? RAFT_F_LAST : 0,
	    .from = ss->from,
	    .to = ss->to,
	    .term = ss->term,
	    .snap = ss->meta,
	    .offset = off,
	    .data = buf,
	    .len = len,
	};
	ss->next = last ? stream_len(ss) : off + ss->cfg.chunk;
	return 1;
}

int snap_send_ack(struct snap_send *ss, const struct raft_msg *ack, uint64_t now)
{
	if (ack->type != RAFT_MSG_SNAP_ACK || ack->from != ss->to || ack->to != ss->from ||
	    ack->index != ss->meta.index)
		return -ESTALE;
	if (ss->state != SNAP_SENDING)
		return 0;
	if (ack->flags & RAFT_F_REJECT) {
		/* checksum mismatch, or the receiver will not take this stream */
		if (++ss->restarts > SNAP_MAX_RESTARTS) {
			ss->state = SNAP_FAILED;
			return 0;
		}
		ss->acked = ss->next = 0;
		if (ss->crc_lazy) {
			ss->crc = 0; /* a bad first read: read it anew */
			ss->crc_off = 0;
		}
		ss->moved = ss->active = now;
		ss->dup_acks = 0;
		return 0;
	}
	uint64_t o = ack->offset;
	if (o > stream_len(ss) || !boundary(ss, o))
		return -ESTALE; /* no chunk ends there */
	if (o > ss->acked) {
		ss->acked = o;
		ss->moved = ss->active = now;
		ss->dup_acks = 0;
		if (ss->next < o)
			ss->next = o;
		if (o == stream_len(ss))
			ss->state = SNAP_DONE;
	} else if (o == ss->acked && ss->next > o && ++ss->dup_acks >= 2) {
		ss->next = o; /* the receiver waits for a chunk that was lost */
		ss->dup_acks = 0;
		ss->moved = now;
	}
	return 0;
}

void snap_recv_init(struct snap_recv *rs)
{
	memset(rs, 0, sizeof(*rs));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int snap_recv_chunk(struct snap_recv *rs, uint32_t self, const struct raft_msg *m,
		    struct snap_recv_out *out)
{
	bool last = m->flags & RAFT_F_LAST;
	if (m->type != RAFT_MSG_SNAP_CHUNK || m->to != self || !m->from || m->from == self ||
	    (last ? m->len < 4 : !m->len) || (m->len && !m->data))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->ack = (struct raft_msg){
	    .type = RAFT_MSG_SNAP_ACK,
	    .from = self,
	    .to = m->from,
	    .term = m->term,
	    .index = m->snap.index,
	};
	bool same = rs->active && rs->from == m->from && rs->term == m->term &&
		    rs->meta.index == m->snap.index && rs->meta.term == m->snap.term;
	/* the sender began again after we completed (it never saw the last
	 * ack, gave up, and the core announced the snapshot anew): take it
	 * afresh rather than assume the same bytes */
	bool again = same && rs->complete && m->offset == 0;
	if (!same || again) {
		bool newer =
		    again || !rs->active || m->term > rs->term ||
		    (m->term == rs->term && m->from == rs->from && m->snap.index > rs->meta.index);
		if (!newer) {
			out->ack.flags = RAFT_F_REJECT; /* an older or a rival stream */
			return 0;
		}
		rs->active = true;
		rs->meta = m->snap;
		rs->from = m->from;
		rs->term = m->term;
		rs->off = 0;
		rs->crc = 0;
		rs->complete = false;
		out->restart = true;
	}
	if (rs->complete || m->offset != rs->off) {
		out->ack.offset = rs->off; /* a duplicate, or ahead of a lost chunk */
		return 0;
	}
	uint32_t dlen = last ? m->len - 4 : m->len;
	uint64_t before = rs->off;
	rs->crc = crc32c(rs->crc, m->data, dlen);
	rs->off += m->len;
	check(rs->off > before, "the receiver's offset grows");
	if (last && get32(m->data + dlen) != rs->crc) {
		/* corrupt somewhere: everything written goes, the sender restarts */
		rs->off = 0;
		rs->crc = 0;
		out->restart = true;
		out->ack.flags = RAFT_F_REJECT;
		return 0;
	}
	out->off = before;
	out->data = m->data;
	out->len = dlen;
	out->complete = rs->complete = last;
	out->ack.offset = rs->off;
	return 0;
}

void snap_recv_msg(const struct snap_recv *rs, uint32_t self, struct raft_msg *m)
{
	*m = (struct raft_msg){
	    .type = RAFT_MSG_SNAP,
	    .from = rs->from,
	    .to = self,
	    .term = rs->term,
	    .snap = rs->meta,
	};
}
