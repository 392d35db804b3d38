// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of replication/raft/snap_stream.c: the chunked snapshot
 * transfer's sender (window, go-back, restarts, giving up) and receiver
 * (in-order reassembly, checksum, rival streams), over a hand-driven
 * network that can lose, reorder and duplicate chunks and acks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "replication/raft/snap_stream.h"

#define CHUNK 8
#define MAXSZ 256

struct src {
	uint8_t data[MAXSZ];
	uint64_t size;
	int corrupt_reads; /* this many reads return a flipped byte */
	int reads;
};

static int src_read(void *arg, uint64_t off, void *buf, uint32_t len)
{
	struct src *s = arg;
	cr_assert_leq(off + len, s->size, "read past the snapshot");
	memcpy(buf, s->data + off, len);
	s->reads++;
	if (s->corrupt_reads > 0) {
		s->corrupt_reads--;
		((uint8_t *)buf)[0] ^= 0x40;
	}
	return 0;
}

/* A chunk in flight: its message and a copy of its bytes. */
struct wire {
	struct raft_msg m;
	uint8_t bytes[CHUNK + 4];
};

struct dst {
	struct snap_recv rs;
	uint8_t file[MAXSZ];
	uint64_t written; /* bytes in file (in order) */
	int completes, restarts;
};

static void to_file(struct dst *d, const struct snap_recv_out *o)
{
	if (o->restart) {
		d->written = 0;
		d->restarts++;
	}
	if (o->len) {
		cr_assert_eq(o->off, d->written, "written in order");
		memcpy(d->file + o->off, o->data, o->len);
		d->written += o->len;
	}
	d->completes += o->complete;
}

static const struct snap_send_cfg cfg = {.chunk = CHUNK, .window = 3, .rto = 4, .give_up = 40};

static struct raft_snap_meta meta(uint64_t index)
{
	struct raft_snap_meta m = {.index = index, .term = 3, .zxid = 3ull << 32 | 9};
	m.conf.n = 1;
	m.conf.m[0] = (struct raft_member){1, true};
	return m;
}

static void fill(struct src *s, uint64_t size, uint8_t seed)
{
	s->size = size;
	for (uint64_t k = 0; k < size; k++)
		s->data[k] = (uint8_t)(seed + k * 7);
}

/*
 * Runs the transfer for up to `ticks`; `lose` says whether the n-th chunk
 * sent (0-based) is lost; acks are never lost here.  Chunks of one poll
 * round are delivered in reverse order when `reverse`.
 */
static enum snap_send_state run(struct snap_send *ss, struct src *src, struct dst *d, int ticks,
				bool (*lose)(int n), bool reverse)
{
	int sent = 0;
	uint8_t buf[CHUNK + 4];
	for (uint64_t now = 0; now < (uint64_t)ticks && ss->state == SNAP_SENDING; now++) {
		struct wire w[16];
		int n = 0;
		struct raft_msg m;
		while (n < 16 && snap_send_poll(ss, now, buf, src_read, src, &m) == 1) {
			bool lost = lose && lose(sent);
			sent++;
			if (lost)
				continue;
			w[n].m = m;
			memcpy(w[n].bytes, m.data, m.len);
			w[n].m.data = w[n].bytes;
			n++;
		}
		for (int k = 0; k < n; k++) {
			struct wire *x = &w[reverse ? n - 1 - k : k];
			struct snap_recv_out o;
			cr_assert_eq(snap_recv_chunk(&d->rs, 2, &x->m, &o), 0);
			to_file(d, &o);
			cr_assert_eq(snap_send_ack(ss, &o.ack, now), 0);
		}
	}
	return ss->state;
}

static void assert_received(const struct src *s, const struct dst *d)
{
	cr_assert_eq(d->completes, 1, "complete exactly once");
	cr_assert_eq(d->written, s->size);
	cr_assert_eq(memcmp(d->file, s->data, s->size), 0, "the bytes are the snapshot's");
	struct raft_msg m;
	snap_recv_msg(&d->rs, 2, &m);
	cr_assert_eq(m.type, RAFT_MSG_SNAP);
	cr_assert_eq(m.from, 1);
	cr_assert_eq(m.snap.index, 50);
}

Test(snap_stream, transfers_every_size_exactly)
{
	uint64_t sizes[] = {0, 1, 7, 8, 9, 16, 17, 100, MAXSZ};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct src s = {0};
		fill(&s, sizes[k], (uint8_t)k);
		struct dst d;
		snap_recv_init(&d.rs);
		d.written = 0;
		d.completes = d.restarts = 0;
		struct snap_send ss;
		struct raft_snap_meta mt = meta(50);
		cr_assert_eq(
		    snap_send_init(&ss, &cfg, &mt, 1, 2, 7, s.size, crc32c(0, s.data, s.size), 0),
		    0);
		cr_assert_eq(run(&ss, &s, &d, 200, NULL, false), SNAP_DONE, "size %llu",
			     (unsigned long long)sizes[k]);
		assert_received(&s, &d);
		/* every byte read once: no retransmission without loss */
		cr_assert_eq(s.reads, (int)((s.size + CHUNK - 1) / CHUNK));
	}
}

/* a third of the chunks, pseudo-randomly (a periodic pattern can starve go-back-N) */
static bool every_third(int n)
{
	return ((uint32_t)n * 2654435761u >> 13) % 3 == 0;
}

static bool first_five(int n)
{
	return n < 5;
}

Test(snap_stream, lost_and_reordered_chunks_are_sent_again)
{
	bool (*loss[])(int) = {every_third, first_five};
	for (int k = 0; k < 2; k++) {
		for (int rev = 0; rev < 2; rev++) {
			struct src s = {0};
			fill(&s, 100, 3);
			struct dst d;
			snap_recv_init(&d.rs);
			d.written = 0;
			d.completes = d.restarts = 0;
			struct snap_send ss;
			struct raft_snap_meta mt = meta(50);
			snap_send_init(&ss, &cfg, &mt, 1, 2, 7, s.size, crc32c(0, s.data, s.size),
				       0);
			cr_assert_eq(run(&ss, &s, &d, 400, loss[k], rev), SNAP_DONE,
				     "loss %d reverse %d: acked %llu next %llu", k, rev,
				     (unsigned long long)ss.acked, (unsigned long long)ss.next);
			assert_received(&s, &d);
			cr_assert_gt(s.reads, 13, "lost chunks were read and sent again");
		}
	}
}

Test(snap_stream, a_checksum_mismatch_restarts_then_fails)
{
	/* one bad read: the receiver refuses the whole, the sender starts over */
	struct src s = {0};
	fill(&s, 40, 9);
	s.corrupt_reads = 1;
	struct dst d;
	snap_recv_init(&d.rs);
	d.written = 0;
	d.completes = d.restarts = 0;
	struct snap_send ss;
	struct raft_snap_meta mt = meta(50);
	snap_send_init(&ss, &cfg, &mt, 1, 2, 7, s.size, crc32c(0, s.data, s.size), 0);
	cr_assert_eq(run(&ss, &s, &d, 400, NULL, false), SNAP_DONE);
	assert_received(&s, &d);
	cr_assert_eq(ss.restarts, 1);
	cr_assert_eq(d.restarts, 2, "the first stream and the restart after the mismatch");

	/* every read bad: the sender fails after SNAP_MAX_RESTARTS restarts */
	fill(&s, 40, 9);
	s.corrupt_reads = 1 << 30;
	snap_recv_init(&d.rs);
	d.written = 0;
	d.completes = d.restarts = 0;
	snap_send_init(&ss, &cfg, &mt, 1, 2, 7, s.size, crc32c(0, s.data, s.size), 0);
	cr_assert_eq(run(&ss, &s, &d, 400, NULL, false), SNAP_FAILED);
	cr_assert_eq(d.completes, 0, "never installed");
	cr_assert_eq(ss.restarts, SNAP_MAX_RESTARTS + 1);
}

static bool all(int n)
{
	(void)n;
	return true;
}

Test(snap_stream, gives_up_without_progress)
{
	struct src s = {0};
	fill(&s, 100, 1);
	struct dst d;
	snap_recv_init(&d.rs);
	struct snap_send ss;
	struct raft_snap_meta mt = meta(50);
	snap_send_init(&ss, &cfg, &mt, 1, 2, 7, s.size, crc32c(0, s.data, s.size), 0);
	cr_assert_eq(run(&ss, &s, &d, 1000, all, false), SNAP_FAILED);
	/* went back to offset 0 every rto ticks until give_up */
	cr_assert_geq(s.reads, (int)(cfg.give_up / cfg.rto) * 3 - 3);
	uint8_t buf[CHUNK + 4];
	struct raft_msg m;
	cr_assert_eq(snap_send_poll(&ss, 2000, buf, src_read, &s, &m), 0, "over");
}

static struct raft_msg chunk(uint32_t from, uint64_t term, uint64_t index, uint64_t off,
			     const uint8_t *data, uint32_t len, bool last)
{
	return (struct raft_msg){.type = RAFT_MSG_SNAP_CHUNK,
				 .from = from,
				 .to = 2,
				 .term = term,
				 .snap = meta(index),
				 .offset = off,
				 .data = data,
				 .len = len,
				 .flags = last ? RAFT_F_LAST : 0};
}

Test(snap_stream, receiver_takes_newer_streams_and_refuses_older_or_rival_ones)
{
	struct snap_recv rs;
	snap_recv_init(&rs);
	struct snap_recv_out o;
	uint8_t data[CHUNK] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct raft_msg m = chunk(1, 5, 50, 0, data, CHUNK, false);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(o.restart && o.len == CHUNK && o.ack.offset == CHUNK);
	/* a duplicate is re-acknowledged, not written twice */
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(!o.restart && o.len == 0 && o.ack.offset == CHUNK);
	/* a chunk ahead of a lost one: not written, the ack names the gap */
	m = chunk(1, 5, 50, 2 * CHUNK, data, CHUNK, false);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(o.len == 0 && o.ack.offset == CHUNK);
	/* an older term's stream, and a rival leader's of the same term */
	m = chunk(3, 4, 60, 0, data, CHUNK, false);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(o.len == 0 && (o.ack.flags & RAFT_F_REJECT) && o.ack.to == 3);
	m = chunk(3, 5, 60, 0, data, CHUNK, false);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(o.len == 0 && (o.ack.flags & RAFT_F_REJECT));
	cr_assert_eq(rs.off, CHUNK, "the stream in progress is kept");
	/* a newer term's stream replaces it */
	m = chunk(3, 6, 40, 0, data, CHUNK, false);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(o.restart && o.len == CHUNK && !(o.ack.flags & RAFT_F_REJECT));
	cr_assert_eq(rs.meta.index, 40);
	/* malformed: a LAST chunk without room for the checksum, an empty one */
	m = chunk(3, 6, 40, CHUNK, data, 3, true);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), -EINVAL);
	m = chunk(3, 6, 40, CHUNK, data, 0, false);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), -EINVAL);
	m = chunk(3, 6, 40, CHUNK, data, CHUNK, false);
	m.to = 9;
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), -EINVAL);
	/* the end with the right checksum completes it */
	uint8_t tail[8] = {9, 9, 9, 9};
	uint32_t c = crc32c(crc32c(0, data, CHUNK), tail, 4);
	tail[4] = (uint8_t)(c >> 24);
	tail[5] = (uint8_t)(c >> 16);
	tail[6] = (uint8_t)(c >> 8);
	tail[7] = (uint8_t)c;
	m = chunk(3, 6, 40, CHUNK, tail, 8, true);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(o.complete && o.len == 4 && o.off == CHUNK && o.ack.offset == CHUNK + 8);
	/* the last chunk again (its ack was lost): acknowledged, not completed twice */
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(!o.complete && o.len == 0 && o.ack.offset == CHUNK + 8);
	/* the same snapshot from offset 0 after completion: taken afresh */
	m = chunk(3, 6, 40, 0, data, CHUNK, false);
	cr_assert_eq(snap_recv_chunk(&rs, 2, &m, &o), 0);
	cr_assert(o.restart && o.len == CHUNK && o.ack.offset == CHUNK && !rs.complete);
}

Test(snap_stream, sender_ignores_acks_of_other_snapshots_and_bad_offsets)
{
	struct snap_send ss;
	struct raft_snap_meta mt = meta(50);
	cr_assert_eq(snap_send_init(&ss, &cfg, &mt, 1, 2, 7, 100, 0, 0), 0);
	struct raft_msg a = {
	    .type = RAFT_MSG_SNAP_ACK, .from = 2, .to = 1, .index = 49, .offset = 8};
	cr_assert_eq(snap_send_ack(&ss, &a, 1), -ESTALE);
	a.index = 50;
	a.offset = 5; /* no chunk ends there */
	cr_assert_eq(snap_send_ack(&ss, &a, 1), -ESTALE);
	a.offset = 1000;
	cr_assert_eq(snap_send_ack(&ss, &a, 1), -ESTALE);
	a.from = 3;
	a.offset = 8;
	cr_assert_eq(snap_send_ack(&ss, &a, 1), -ESTALE);
	cr_assert_eq(ss.acked, 0);
	struct snap_send_cfg bad = cfg;
	bad.give_up = bad.rto;
	cr_assert_eq(snap_send_init(&ss, &bad, &mt, 1, 2, 7, 100, 0, 0), -EINVAL);
	cr_assert_eq(snap_send_init(&ss, &cfg, &mt, 1, 1, 7, 100, 0, 0), -EINVAL);
}

/* The stream's checksum tail, byte for byte: big-endian (snap_stream.h). */
Test(snap_stream, checksum_tail_golden_bytes)
{
	static const uint8_t golden[7] = {'a', 'b', 'c', 0x36, 0x4b, 0x3f, 0xb7};
	struct src s = {0};
	struct snap_send ss;
	struct snap_recv rs;
	struct snap_recv_out o;
	struct raft_snap_meta mt = meta(50);
	struct raft_msg m, c;
	uint8_t buf[CHUNK + 4], bytes[sizeof(golden)];

	memcpy(s.data, "abc", 3);
	s.size = 3;
	cr_assert_eq(crc32c(0, "abc", 3), 0x364b3fb7u);
	cr_assert_eq(snap_send_init(&ss, &cfg, &mt, 1, 2, 7, 3, 0x364b3fb7u, 0), 0);
	cr_assert_eq(snap_send_poll(&ss, 0, buf, src_read, &s, &m), 1);
	cr_assert(m.flags & RAFT_F_LAST);
	cr_assert_eq(m.offset, 0);
	cr_assert_eq(m.len, sizeof(golden));
	cr_assert_arr_eq(m.data, golden, sizeof(golden));

	/* The literal bytes are taken; the tail in the other byte order is not. */
	snap_recv_init(&rs);
	c = m;
	memcpy(bytes, golden, sizeof(bytes));
	c.data = bytes;
	cr_assert_eq(snap_recv_chunk(&rs, 2, &c, &o), 0);
	cr_assert(o.complete);
	cr_assert(o.len == 3 && !memcmp(o.data, "abc", 3));
	snap_recv_init(&rs);
	bytes[3] = 0xb7;
	bytes[4] = 0x3f;
	bytes[5] = 0x4b;
	bytes[6] = 0x36;
	cr_assert_eq(snap_recv_chunk(&rs, 2, &c, &o), 0);
	cr_assert_not(o.complete);
	cr_assert(o.ack.flags & RAFT_F_REJECT);
	/* Shorter than the checksum: malformed. */
	snap_recv_init(&rs);
	c.len = 3;
	cr_assert_eq(snap_recv_chunk(&rs, 2, &c, &o), -EINVAL);
}

static void dst_init(struct dst *d)
{
	snap_recv_init(&d->rs);
	d->written = 0;
	d->completes = d->restarts = 0;
}

Test(snap_stream, lazy_checksum_is_computed_from_the_reads)
{
	/* every size, with loss and reordering: the CRC read along is the data's */
	uint64_t sizes[] = {0, 1, 7, 8, 9, 16, 17, 100, MAXSZ};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (int lossy = 0; lossy < 2; lossy++) {
			struct src s = {0};
			fill(&s, sizes[k], (uint8_t)(k + 11));
			struct dst d;
			dst_init(&d);
			struct snap_send ss;
			struct raft_snap_meta mt = meta(50);
			cr_assert_eq(snap_send_init_lazy(&ss, &cfg, &mt, 1, 2, 7, s.size, 0), 0);
			cr_assert_eq(run(&ss, &s, &d, 400, lossy ? every_third : NULL, lossy),
				     SNAP_DONE, "size %llu lossy %d", (unsigned long long)sizes[k],
				     lossy);
			assert_received(&s, &d);
			cr_assert_eq(ss.crc, crc32c(0, s.data, s.size));
			cr_assert_eq(ss.crc_off, s.size);
			if (!lossy)
				cr_assert_eq(s.reads, (int)((s.size + CHUNK - 1) / CHUNK),
					     "no extra pass over the data for the checksum");
		}
	}
}

Test(snap_stream, lazy_checksum_reads_what_a_resuming_receiver_skipped)
{
	/* a first sender gets 9 chunks across, then goes away (its leader's
	 * transfer failed); a second one of the same name starts at 0, the
	 * receiver resumes at 72: the sender never sent 24..72, but its CRC
	 * must cover them */
	struct src s = {0};
	fill(&s, 100, 5);
	struct dst d;
	dst_init(&d);
	struct snap_send a, b;
	struct raft_snap_meta mt = meta(50);
	cr_assert_eq(snap_send_init_lazy(&a, &cfg, &mt, 1, 2, 7, s.size, 0), 0);
	cr_assert_eq(run(&a, &s, &d, 3, NULL, false), SNAP_SENDING);
	cr_assert_eq(d.rs.off, 9 * CHUNK);
	s.reads = 0;
	cr_assert_eq(snap_send_init_lazy(&b, &cfg, &mt, 1, 2, 7, s.size, 0), 0);
	cr_assert_eq(run(&b, &s, &d, 400, NULL, false), SNAP_DONE);
	assert_received(&s, &d);
	cr_assert_eq(b.crc, crc32c(0, s.data, s.size));
	cr_assert_eq(d.restarts, 1, "resumed, not restarted");
	/* 3 chunks before the resume, 6 for the gap, 4 to the end */
	cr_assert_eq(s.reads, 13);
}

Test(snap_stream, lazy_checksum_of_a_bad_first_read_is_read_anew)
{
	struct src s = {0};
	fill(&s, 40, 9);
	s.corrupt_reads = 1;
	struct dst d;
	dst_init(&d);
	struct snap_send ss;
	struct raft_snap_meta mt = meta(50);
	cr_assert_eq(snap_send_init_lazy(&ss, &cfg, &mt, 1, 2, 7, s.size, 0), 0);
	/* the bad read is in the CRC and in the data: the stream holds
	 * together and completes (only the snapshot's own block checksums
	 * can tell, at load) */
	cr_assert_eq(run(&ss, &s, &d, 400, NULL, false), SNAP_DONE);
	cr_assert_eq(d.completes, 1);
	cr_assert_neq(memcmp(d.file, s.data, s.size), 0);

	/* a bad RE-read (a retransmission) is caught: REJECT, the CRC starts
	 * over with the stream, and the transfer completes with the right bytes */
	fill(&s, 40, 9);
	s.reads = 0;
	dst_init(&d);
	cr_assert_eq(snap_send_init_lazy(&ss, &cfg, &mt, 1, 2, 7, s.size, 0), 0);
	cr_assert_eq(run(&ss, &s, &d, 1, first_five, false), SNAP_SENDING);
	s.corrupt_reads = 1; /* the first chunk, sent again after the loss */
	cr_assert_eq(run(&ss, &s, &d, 400, NULL, false), SNAP_DONE);
	assert_received(&s, &d);
	cr_assert_geq(ss.restarts, 1);
}
