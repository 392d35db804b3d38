// SPDX-License-Identifier: Apache-2.0
/*
 * sim.c - the deterministic cluster, its driver of the real core and the
 * checker (see sim.h).  One PRNG (xoshiro256**, seeded by splitmix64)
 * decides everything, so a seed replays exactly.
 *
 * The driver does what replication/raft/raft.h asks of the broadcast core:
 * sends rd.msgs (encoded with raft_msg.c, decoded at delivery), queues
 * rd.seq's unit as a pending write, applies rd.committed, and calls
 * raft_persisted() only when the simulated disk completes that write.  A
 * crash forgets pending writes (the oldest may survive torn: its hard
 * state, then its snapshot and truncation, then a prefix of its entries).
 *
 * The snapshot transfer is the transport's, modelled with the real
 * replication/raft/snap_stream.c: a SNAP in a Ready starts a stream of
 * chunks over the same lossy network, the receiver reassembles and
 * checksums it, then steps the SNAP into its core; the bytes carry the
 * state they stand for (see "snapshot streams" below).
 *
 * Byzantine-lite: sim_inject() steps forged copies of messages that a
 * correct core must refuse; sim_wipe() empties a crashed node's disk, after
 * which Raft's safety does not hold and the cross-node checks go off
 * (s->unsafe): the cores must still never abort.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replication/raft/raft_msg.h"
#include "sim.h"

#define MAX_DECODE_ENTRIES 1024

/* ---- randomness ---- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rand(struct sim *s)
{
	uint64_t *q = s->rng;
	uint64_t res = rotl(q[1] * 5, 7) * 9, t = q[1] << 17;
	q[2] ^= q[0];
	q[3] ^= q[1];
	q[1] ^= q[2];
	q[0] ^= q[3];
	q[2] ^= t;
	q[3] = rotl(q[3], 45);
	return res;
}

uint64_t sim_below(struct sim *s, uint64_t n)
{
	return n ? sim_rand(s) % n : 0;
}

static uint64_t mix(uint64_t x)
{
	return splitmix(&x);
}

/* ---- failure ---- */

/*
 * A broken invariant inside the core aborts there (RAFT_ASSERT); the
 * handler names the seed and step that got it so it can be replayed.
 */
static const struct sim *current;

static void on_crash(int sig)
{
	char buf[160];
	int n = snprintf(
	    buf, sizeof(buf),
	    "sim: crashed (signal %d) in seed %llu step %llu; replay with: sim --seed %llu\n", sig,
	    current ? (unsigned long long)current->seed : 0ull,
	    current ? (unsigned long long)current->step : 0ull,
	    current ? (unsigned long long)current->seed : 0ull);
	if (n > 0 && write(2, buf, (size_t)n) < 0)
		n = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "sim: FAILED seed %llu step %llu tick %llu: ", (unsigned long long)s->seed,
		(unsigned long long)s->step, (unsigned long long)s->now);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsim: replay with: sim %s--seed %llu\n",
		s->replay_flags ? s->replay_flags : "", (unsigned long long)s->seed);
	abort();
}

#define CHECK(s, c, ...)                                                                           \
	do {                                                                                       \
		if (!(c))                                                                          \
			sim_fail(s, __VA_ARGS__);                                                  \
	} while (0)

static void *grow(void *v, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return v;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	v = realloc(v, c * size);
	if (!v)
		abort();
	memset((char *)v + *cap * size, 0, (c - *cap) * size);
	*cap = c;
	return v;
}

/* ---- logs ---- */

static uint64_t ent_hash(uint64_t prev, const struct raft_entry *e)
{
	uint64_t h = mix(prev ^ mix(e->index) ^ mix(e->term * 31 + 1) ^ mix(e->zxid * 7 + 3) ^
			 mix((uint64_t)e->type << 40 | e->count));
	for (uint32_t k = 0; k < e->len; k++)
		h = (h ^ e->data[k]) * 0x100000001b3ull;
	return h ? h : 1;
}

static uint64_t log_last(const struct sim_log *l)
{
	return l->base + l->n;
}

static struct sim_ent *log_at(const struct sim_log *l, uint64_t i)
{
	if (i <= l->base || i > log_last(l))
		return NULL;
	return &l->v[i - l->base - 1];
}

static uint64_t log_chain(const struct sim_log *l, uint64_t i)
{
	if (i == l->base)
		return l->base_chain;
	struct sim_ent *e = log_at(l, i);
	return e ? e->chain : 0;
}

static void log_clear(struct sim_log *l, bool own_data)
{
	for (size_t k = 0; own_data && k < l->n; k++)
		free((void *)l->v[k].e.data);
	l->n = 0;
}

static void log_truncate(struct sim_log *l, uint64_t from, bool own_data)
{
	if (from <= l->base) {
		log_clear(l, own_data);
		return;
	}
	while (log_last(l) >= from) {
		if (own_data)
			free((void *)l->v[l->n - 1].e.data);
		l->n--;
	}
}

static void log_push(struct sim_log *l, const struct sim_ent *e, bool own_data)
{
	l->v = grow(l->v, &l->cap, l->n + 1, sizeof(*l->v));
	struct sim_ent *d = &l->v[l->n++];
	*d = *e;
	if (own_data && e->e.len) {
		uint8_t *p = malloc(e->e.len);
		memcpy(p, e->e.data, e->e.len);
		d->e.data = p;
	} else if (!own_data) {
		d->e.data = NULL;
		d->e.len = 0;
	}
}

static void log_drop_upto(struct sim_log *l, uint64_t index, uint64_t term, uint64_t zxid,
			  uint64_t chain)
{
	size_t k = 0;
	while (k < l->n && l->v[k].e.index <= index) {
		free((void *)l->v[k].e.data);
		k++;
	}
	if (k) {
		memmove(l->v, l->v + k, (l->n - k) * sizeof(*l->v));
		l->n -= k;
	}
	l->base = index;
	l->base_term = term;
	l->base_zxid = zxid;
	l->base_chain = chain;
}

/* ---- checker tables ---- */

static struct sim_committed *committed_at(struct sim *s, uint64_t i)
{
	s->committed = grow(s->committed, &s->cap_committed, i + 1, sizeof(*s->committed));
	return &s->committed[i];
}

static void kv_check(struct sim *s, uint64_t index, uint64_t term, uint64_t chain)
{
	if (s->unsafe)
		return;
	if (s->kv_n * 2 >= s->kv_cap) {
		uint64_t oc = s->kv_cap;
		void *old = s->kv;
		s->kv_cap = oc ? oc * 2 : 4096;
		s->kv = calloc(s->kv_cap, sizeof(*s->kv));
		s->kv_n = 0;
		for (uint64_t k = 0; k < oc; k++) {
			__typeof__(s->kv) o = (__typeof__(s->kv))old + k;
			if (o->chain)
				kv_check(s, o->index, o->term, o->chain);
		}
		free(old);
	}
	uint64_t h = mix(index * 1000003 + term) & (s->kv_cap - 1);
	for (;;) {
		if (!s->kv[h].chain) {
			s->kv[h].index = index;
			s->kv[h].term = term;
			s->kv[h].chain = chain;
			s->kv_n++;
			return;
		}
		if (s->kv[h].index == index && s->kv[h].term == term) {
			CHECK(s, s->kv[h].chain == chain,
			      "log matching: two different histories end in index %llu term %llu",
			      (unsigned long long)index, (unsigned long long)term);
			return;
		}
		h = (h + 1) & (s->kv_cap - 1);
	}
}

static void note_committed(struct sim *s, uint32_t id, const struct sim_log *l, uint64_t i)
{
	if (s->unsafe)
		return;
	uint64_t chain = log_chain(l, i);
	CHECK(s, chain, "node %u: committed index %llu not in its log", id, (unsigned long long)i);
	struct sim_committed *c = committed_at(s, i);
	if (c->chain) {
		CHECK(s, c->chain == chain,
		      "node %u: committed entry %llu differs from the committed one", id,
		      (unsigned long long)i);
		return;
	}
	c->chain = chain;
	const struct sim_ent *e = log_at(l, i);
	c->term = e ? e->e.term : l->base_term;
	c->zxid = e ? e->e.zxid + e->e.count - 1 : l->base_zxid; /* last zxid */
}

/* ---- network ---- */

static void report_snap(struct sim *s, uint32_t from, uint32_t to, bool ok)
{
	struct sim_node *n = &s->nodes[from];
	if (n->up) {
		raft_report_snapshot(n->r, to, ok);
		sim_process(s, from);
	}
}

static void enqueue(struct sim *s, const struct raft_msg *m)
{
	size_t size = raft_msg_size(m);
	uint8_t *buf = malloc(size);
	long n = raft_msg_encode(m, buf, size);
	CHECK(s, n == (long)size, "encode of type %u failed: %ld", m->type, n);
	s->net = grow(s->net, &s->cap_net, s->n_net + 1, sizeof(*s->net));
	s->net[s->n_net++] = (struct sim_msg){
	    .from = m->from,
	    .to = m->to,
	    .at = s->now + (s->o.straggle_permille && sim_below(s, 1000) < s->o.straggle_permille
				? sim_below(s, 4 * (s->o.election_ticks ? s->o.election_ticks : 10))
				: sim_below(s, s->o.max_delay + 1)),
	    .buf = buf,
	    .len = size,
	};
}

/* returns true if the message went on the wire (or was lost in it) */
static bool send_msg(struct sim *s, const struct raft_msg *m)
{
	CHECK(s, m->to >= 1 && m->to <= SIM_MAX_NODES && m->to != m->from, "bad destination %u",
	      m->to);
	if (!s->nodes[m->to].exists || s->cut[m->from][m->to] ||
	    (s->o.drop_pct && sim_below(s, 100) < s->o.drop_pct)) {
		s->n_dropped++;
		return false;
	}
	enqueue(s, m);
	if (s->o.dup_pct && sim_below(s, 100) < s->o.dup_pct)
		enqueue(s, m);
	return true;
}

/*
 * ---- snapshot streams (replication/raft/snap_stream.h) ----
 *
 * A RAFT_MSG_SNAP in a Ready starts a stream instead of going on the
 * wire.  The snapshot's bytes are made up, but they carry what it stands
 * for: a header (index, term, last zxid, chained hash of the history up to
 * index) and filler derived from it, so the receiver learns the state it
 * installs from the bytes it reassembled, and the checker compares that
 * with the committed history.  Chunks and acks travel through the lossy
 * network; one chunk in 256 is corrupted at the source (the frame CRC
 * cannot see that; the stream checksum must).
 */
#define SNAP_HDR 32

static const struct snap_send_cfg stream_cfg = {
    .chunk = SIM_SNAP_CHUNK, .window = 3, .rto = 3, .give_up = 40};

static void put64(uint8_t *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (uint8_t)(v >> (56 - 8 * k));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int k = 0; k < 8; k++)
		v = v << 8 | p[k];
	return v;
}

static int stream_read(void *arg, uint64_t off, void *buf, uint32_t len)
{
	const struct sim_stream *st = arg;
	if (off + len > st->size)
		return -EIO;
	memcpy(buf, st->data + off, len);
	return 0;
}

static void stream_stop(struct sim *s, uint32_t from, uint32_t to)
{
	struct sim_stream *st = &s->streams[from][to];
	free(st->data);
	memset(st, 0, sizeof(*st));
}

/* Sends what the stream's window allows; reports the end to the core. */
static void stream_poll(struct sim *s, uint32_t from, uint32_t to)
{
	struct sim_stream *st = &s->streams[from][to];
	uint8_t buf[SIM_SNAP_CHUNK + 4];
	struct raft_msg m;
	while (st->on && snap_send_poll(&st->ss, s->now, buf, stream_read, st, &m) == 1) {
		if (m.len > 4 && sim_below(s, 256) == 0)
			buf[sim_below(s, m.len - 4)] ^= 0x10; /* a bad read at the source */
		s->n_chunks++;
		send_msg(s, &m);
	}
	if (st->on && st->ss.state != SNAP_SENDING) {
		bool ok = st->ss.state == SNAP_DONE;
		s->n_streams_failed += !ok;
		stream_stop(s, from, to);
		report_snap(s, from, to, ok);
	}
}

static void stream_start(struct sim *s, struct sim_node *n, const struct raft_msg *m)
{
	stream_stop(s, n->id, m->to);
	struct sim_stream *st = &s->streams[n->id][m->to];
	uint64_t chain = log_chain(&n->view, m->snap.index);
	/* one snapshot, one content: its size comes from what it holds */
	st->size = SNAP_HDR + mix(chain ^ m->snap.index) % (5 * SIM_SNAP_CHUNK);
	st->data = malloc(st->size);
	put64(st->data, m->snap.index);
	put64(st->data + 8, m->snap.term);
	put64(st->data + 16, m->snap.zxid);
	put64(st->data + 24, chain);
	for (uint64_t k = SNAP_HDR; k < st->size; k++)
		st->data[k] = (uint8_t)mix(chain ^ k);
	/* the CRC computed from the reads, as the ensemble's sender does (from its file) */
	int rc = snap_send_init_lazy(&st->ss, &stream_cfg, &m->snap, n->id, m->to, m->term,
				     st->size, s->now);
	CHECK(s, rc == 0, "snap_send_init: %d", rc);
	st->on = true;
}

void sim_poll_streams(struct sim *s)
{
	for (uint32_t a = 1; a <= SIM_MAX_NODES; a++)
		for (uint32_t b = 1; b <= SIM_MAX_NODES; b++)
			if (s->streams[a][b].on)
				stream_poll(s, a, b);
}

/* The transport's connection between a and b is gone: so are its streams. */
static void streams_cut(struct sim *s, uint32_t a, uint32_t b)
{
	if (s->streams[a][b].on) {
		stream_stop(s, a, b);
		s->n_streams_failed++;
		report_snap(s, a, b, false);
	}
	if (s->streams[b][a].on) {
		stream_stop(s, b, a);
		s->n_streams_failed++;
		report_snap(s, b, a, false);
	}
}

static void deliver_chunk(struct sim *s, struct sim_node *to, const struct raft_msg *m)
{
	struct snap_recv_out o;
	int rc = snap_recv_chunk(&to->rx, to->id, m, &o);
	CHECK(s, rc == 0, "node %u: snap_recv_chunk: %d", to->id, rc);
	if (o.restart)
		to->rx_len = 0;
	if (o.ack.flags & RAFT_F_REJECT)
		s->n_stream_rejects++;
	if (o.len) {
		CHECK(s, o.off == to->rx_len, "node %u: chunk written at %llu, file has %llu",
		      to->id, (unsigned long long)o.off, (unsigned long long)to->rx_len);
		to->rx_file = grow(to->rx_file, &to->rx_cap, to->rx_len + o.len, 1);
		memcpy(to->rx_file + to->rx_len, o.data, o.len);
		to->rx_len += o.len;
	}
	send_msg(s, &o.ack);
	if (!o.complete)
		return;
	/* whole and checksummed: the bytes say which state it is */
	CHECK(s,
	      to->rx_len >= SNAP_HDR && get64(to->rx_file) == m->snap.index &&
		  get64(to->rx_file + 8) == m->snap.term && get64(to->rx_file + 16) == m->snap.zxid,
	      "node %u: a checksummed snapshot stream holds another snapshot", to->id);
	uint64_t chain = get64(to->rx_file + 24);
	for (uint64_t k = SNAP_HDR; k < to->rx_len; k++)
		CHECK(s, to->rx_file[k] == (uint8_t)mix(chain ^ k),
		      "node %u: snapshot byte %llu differs from the sender's", to->id,
		      (unsigned long long)k);
	to->rx_index = m->snap.index;
	to->rx_chain = chain;
	s->n_streams_done++;
	struct raft_msg sn;
	snap_recv_msg(&to->rx, to->id, &sn);
	rc = raft_step(to->r, &sn);
	CHECK(s, rc == 0 || (s->unsafe && rc == -EPROTO),
	      "node %u refused the snapshot it received from %u: %d", to->id, sn.from, rc);
	sim_process(s, to->id);
}

static void deliver_snap_ack(struct sim *s, uint32_t sender, uint32_t receiver,
			     const struct raft_msg *m)
{
	struct sim_stream *st = &s->streams[sender][receiver];
	if (!st->on || snap_send_ack(&st->ss, m, s->now))
		return; /* a stream that ended, or another one's */
	stream_poll(s, sender, receiver);
}

void sim_deliver(struct sim *s, size_t k)
{
	CHECK(s, k < s->n_net, "no message %zu", k);
	struct sim_msg sm = s->net[k];
	memmove(s->net + k, s->net + k + 1, (s->n_net - k - 1) * sizeof(*s->net));
	s->n_net--;
	struct raft_msg m;
	static struct raft_entry ents[MAX_DECODE_ENTRIES];
	long n = raft_msg_decode(sm.buf, sm.len, &m, ents, MAX_DECODE_ENTRIES);
	CHECK(s, n == (long)sm.len, "decode failed: %ld", n);
	struct sim_node *to = &s->nodes[sm.to];
	if (!to->up || s->cut[sm.from][sm.to] || (s->drop && s->drop(&m, s->drop_arg))) {
		s->n_dropped++;
		free(sm.buf);
		return;
	}
	s->n_delivered++;
	if (m.type == RAFT_MSG_SNAP_CHUNK || m.type == RAFT_MSG_SNAP_ACK) {
		/* the transport's: never stepped into the core */
		if (m.type == RAFT_MSG_SNAP_CHUNK)
			deliver_chunk(s, to, &m);
		else
			deliver_snap_ack(s, sm.to, sm.from, &m);
		free(sm.buf);
		return;
	}
	if (m.type == RAFT_MSG_READ_INDEX_RESP && !(m.flags & RAFT_F_REJECT))
		for (size_t j = 0; j < s->n_syncs; j++)
			if (s->syncs[j].node == sm.to && s->syncs[j].ctx == m.ctx)
				s->syncs[j].answer_term = m.term;
	int rc = raft_step(to->r, &m);
	if (rc == -EPROTO && !s->unsafe) {
		/* the one refusal a correct peer causes: a vote request from a
		 * node our configuration (behind or ahead) makes a non-voter */
		struct raft_stats rs;
		raft_get_stats(to->r, &rs);
		CHECK(s, rs.last_reason == RAFT_REFUSE_NOT_VOTER,
		      "node %u refused a message of type %u from %u: %s", sm.to, m.type, sm.from,
		      raft_refusal_name(rs.last_reason));
		s->n_refused++;
	} else {
		CHECK(s, rc == 0 || (s->unsafe && rc == -EPROTO),
		      "node %u refused a message of type %u from %u: %d", sm.to, m.type, sm.from,
		      rc);
	}
	free(sm.buf);
	sim_process(s, sm.to);
}

/*
 * Byzantine-lite: a copy of message k of the network, with one field made
 * impossible for a correct peer, goes to its destination; the core must
 * refuse it (the expected code and reason are known for each mutation)
 * and its state must not move.  The original stays in the network.
 */
void sim_inject(struct sim *s, size_t k)
{
	CHECK(s, k < s->n_net, "no message %zu", k);
	struct sim_msg *sm = &s->net[k];
	struct sim_node *to = &s->nodes[sm->to];
	if (!to->up)
		return;
	struct raft_msg m;
	static struct raft_entry ents[MAX_DECODE_ENTRIES];
	long n = raft_msg_decode(sm->buf, sm->len, &m, ents, MAX_DECODE_ENTRIES);
	CHECK(s, n == (long)sm->len, "decode failed: %ld", n);
	struct raft_status st;
	raft_get_status(to->r, &st);
	struct raft_conf conf;
	raft_get_conf(to->r, &conf);
	int want = -EINVAL;
	uint32_t why = RAFT_REFUSE_MALFORMED;
	switch (sim_below(s, 9)) {
	case 0: {
		static const uint64_t terms[] = {RAFT_MAX_TERM + 1, 0xffffffffull, UINT64_MAX};
		m.term = terms[sim_below(s, 3)];
		break;
	}
	case 1:
		m.index = RAFT_MAX_INDEX + 1 + sim_below(s, 1000);
		break;
	case 2:
		m.commit = UINT64_MAX - sim_below(s, 1000);
		break;
	case 3:
		if (m.term >= RAFT_MAX_TERM)
			return;
		m.log_term = m.term + 1 + sim_below(s, 3);
		break;
	case 4:
		m.from = sim_below(s, 2) ? 0 : m.to;
		break;
	case 5:
		if (m.n_entries) {
			struct raft_entry *e = &ents[sim_below(s, m.n_entries)];
			if (sim_below(s, 2))
				e->term = 0;
			else
				e->count = 0;
		} else if (m.type == RAFT_MSG_SNAP) {
			m.snap.zxid ^= 1ull << (32 + sim_below(s, 8));
		} else {
			m.type = RAFT_MSG_SNAP_CHUNK + (uint32_t)sim_below(s, 2); /* transport's */
		}
		break;
	case 6: {
		/* a vote request from an id outside the configuration, log equal */
		uint32_t id = 1 + (uint32_t)sim_below(s, SIM_MAX_NODES);
		if (id == m.to || raft_conf_find(&conf, id))
			return;
		m = (struct raft_msg){.type = sim_below(s, 2) ? RAFT_MSG_VOTE : RAFT_MSG_PREVOTE,
				      .from = id,
				      .to = m.to,
				      .term = st.term + 1,
				      .index = st.last_index,
				      .log_term = 0,
				      .flags = RAFT_F_TRANSFER};
		const struct raft_entry *e = raft_entry_at(to->r, st.last_index);
		if (!e)
			return; /* the base's term is not in the status */
		m.log_term = e->term;
		want = -EPROTO;
		why = RAFT_REFUSE_NOT_VOTER;
		break;
	}
	case 7: {
		/* a second leader of the term the destination follows (or leads) */
		uint32_t id = 1 + (uint32_t)sim_below(s, SIM_MAX_NODES);
		if (!st.leader || id == m.to || id == st.leader || !st.term)
			return;
		m = (struct raft_msg){.type =
					  sim_below(s, 2) ? RAFT_MSG_HEARTBEAT : RAFT_MSG_APPEND,
				      .from = id,
				      .to = m.to,
				      .term = st.term,
				      .index = st.commit,
				      .commit = st.commit};
		if (m.type == RAFT_MSG_APPEND) {
			const struct raft_entry *e = raft_entry_at(to->r, st.commit);
			if (!e)
				return;
			m.log_term = e->term;
		}
		want = -EPROTO;
		why = RAFT_REFUSE_TWO_LEADERS;
		break;
	}
	default: {
		/* a leadership transfer from someone who is not our leader */
		uint32_t id = 1 + (uint32_t)sim_below(s, SIM_MAX_NODES);
		if (!st.leader || id == m.to || id == st.leader || st.role == RAFT_LEADER)
			return;
		m = (struct raft_msg){
		    .type = RAFT_MSG_TIMEOUT_NOW, .from = id, .to = m.to, .term = st.term};
		want = -EPROTO;
		why = RAFT_REFUSE_NOT_LEADER;
		break;
	}
	}
	struct raft_stats before, after;
	raft_get_stats(to->r, &before);
	int rc = raft_step(to->r, &m);
	raft_get_stats(to->r, &after);
	struct raft_status st2;
	raft_get_status(to->r, &st2);
	CHECK(s, rc == want && after.refused[why] == before.refused[why] + 1,
	      "node %u: a forged message of type %u from %u got %d, want %d (%s)", m.to, m.type,
	      m.from, rc, want, raft_refusal_name(why));
	CHECK(s,
	      st2.term == st.term && st2.vote == st.vote && st2.role == st.role &&
		  st2.leader == st.leader && st2.commit == st.commit &&
		  st2.last_index == st.last_index && st2.first_index == st.first_index,
	      "node %u: a refused message of type %u changed its state", m.to, m.type);
	s->n_injected++;
	sim_process(s, m.to);
}

/* ---- disk ---- */

static void write_free(struct sim_write *w)
{
	for (size_t k = 0; k < w->n; k++)
		free((void *)w->ents[k].e.data);
	free(w->ents);
}

/* Applies (a prefix of) write w to the disk; n_ents = entries kept. */
static void disk_apply(struct sim_node *n, const struct sim_write *w, bool hs, size_t n_ents)
{
	if (hs && w->hs_changed)
		n->d_hs = w->hs;
	if (!hs && w->hs_changed)
		return; /* a torn unit keeps a prefix of its steps only */
	if (w->has_snap) {
		n->d_has_snap = true;
		n->d_snap = w->snap;
		log_clear(&n->d_log, true);
		n->d_log.base = w->snap.index;
		n->d_log.base_term = w->snap.term;
		n->d_log.base_zxid = w->snap.zxid;
		n->d_log.base_chain = w->snap_chain;
	}
	if (w->trunc)
		log_truncate(&n->d_log, w->trunc, true);
	for (size_t k = 0; k < n_ents; k++) {
		if (w->ents[k].e.index != log_last(&n->d_log) + 1)
			abort();
		log_push(&n->d_log, &w->ents[k], true);
	}
}

size_t sim_flush(struct sim *s, uint32_t id, size_t k)
{
	struct sim_node *n = &s->nodes[id];
	if (!n->up || !n->n_pend)
		return 0;
	if (!k || k > n->n_pend)
		k = n->n_pend;
	size_t due = 0; /* a slow disk completes a write disk_delay ticks after it began */
	while (due < k && n->pend[due].at <= s->now)
		due++;
	if (!due)
		return 0;
	/* Writes already on the disk behind them count now, in order. */
	while (due < n->n_pend && n->pend[due].done)
		due++;
	k = due;
	uint64_t seq = 0;
	for (size_t i = 0; i < k; i++) {
		disk_apply(n, &n->pend[i], true, n->pend[i].n);
		seq = n->pend[i].seq;
		write_free(&n->pend[i]);
	}
	memmove(n->pend, n->pend + k, (n->n_pend - k) * sizeof(*n->pend));
	n->n_pend -= k;
	raft_persisted(n->r, seq);
	sim_process(s, id);
	return k;
}

/* ---- the driver ---- */

static void view_apply(struct sim *s, struct sim_node *n, const struct raft_ready *rd,
		       struct sim_write *w)
{
	struct sim_log *v = &n->view;
	if (rd->has_snap) {
		static struct sim_committed none;
		struct sim_committed *c = s->unsafe ? &none : committed_at(s, rd->snap.index);
		CHECK(s,
		      s->unsafe ||
			  (c->chain && c->term == rd->snap.term && c->zxid == rd->snap.zxid),
		      "node %u: installs a snapshot at %llu that is not the committed prefix",
		      n->id, (unsigned long long)rd->snap.index);
		/* (forged SNAP messages, stepped without a stream, exist only in unsafe runs) */
		CHECK(s, s->unsafe || (n->rx_index == rd->snap.index && n->rx_chain == c->chain),
		      "node %u: installs a snapshot at %llu whose bytes hold another state", n->id,
		      (unsigned long long)rd->snap.index);
		if (n->rx_index != rd->snap.index)
			n->rx_chain = 0;
		log_clear(v, false);
		v->base = rd->snap.index;
		v->base_term = rd->snap.term;
		v->base_zxid = rd->snap.zxid;
		v->base_chain = n->rx_chain;
		w->snap_chain = n->rx_chain;
		if (n->applied < rd->snap.index)
			n->applied = rd->snap.index;
		s->n_snap_installs++;
	}
	if (rd->truncate_from) {
		CHECK(s, rd->truncate_from > v->base, "node %u: truncation below its base", n->id);
		for (uint64_t i = rd->truncate_from; i <= log_last(v); i++) {
			const struct sim_committed *c =
			    i < s->cap_committed ? &s->committed[i] : NULL;
			CHECK(s, s->unsafe || !c || !c->chain || c->chain != log_at(v, i)->chain,
			      "node %u: truncates committed entry %llu", n->id,
			      (unsigned long long)i);
		}
		log_truncate(v, rd->truncate_from, false);
	}
	w->ents = rd->n_entries ? calloc(rd->n_entries, sizeof(*w->ents)) : NULL;
	for (size_t k = 0; k < rd->n_entries; k++) {
		const struct raft_entry *e = &rd->entries[k];
		uint64_t last = log_last(v);
		const struct sim_ent *p = log_at(v, last);
		uint64_t prev_zxid = p ? p->e.zxid + p->e.count - 1 : v->base_zxid;
		CHECK(s, e->index == last + 1, "node %u: entry %llu does not follow %llu", n->id,
		      (unsigned long long)e->index, (unsigned long long)last);
		CHECK(s, e->zxid >> 32 == e->term && (last == 0 || e->zxid > prev_zxid),
		      "node %u: zxid %llx at %llu does not increase (prev %llx)", n->id,
		      (unsigned long long)e->zxid, (unsigned long long)e->index,
		      (unsigned long long)prev_zxid);
		struct sim_ent se = {.e = *e, .chain = ent_hash(log_chain(v, last), e)};
		kv_check(s, e->index, e->term, se.chain);
		log_push(v, &se, false);
		w->ents[k] = se;
		if (e->len) {
			uint8_t *d = malloc(e->len);
			memcpy(d, e->data, e->len);
			w->ents[k].e.data = d;
		}
	}
	w->n = rd->n_entries;
}

static void apply_committed(struct sim *s, struct sim_node *n, const struct raft_ready *rd)
{
	struct raft_status st;
	raft_get_status(n->r, &st);
	for (size_t k = 0; k < rd->n_committed; k++) {
		const struct raft_entry *e = &rd->committed[k];
		CHECK(s, e->index == n->applied + 1, "node %u applies %llu after %llu", n->id,
		      (unsigned long long)e->index, (unsigned long long)n->applied);
		note_committed(s, n->id, &n->view, e->index);
		n->applied = e->index;
		/* a leader applying an entry of its own term acknowledges it */
		if (st.role == RAFT_LEADER && e->term == st.term && e->type == RAFT_ENTRY_DATA) {
			s->acks = grow(s->acks, &s->cap_acks, s->n_acks + 1, sizeof(*s->acks));
			s->acks[s->n_acks++] =
			    (struct sim_ack){e->index, log_chain(&n->view, e->index)};
			s->n_acked++;
		}
	}
}

static void answer_reads(struct sim *s, struct sim_node *n, const struct raft_ready *rd)
{
	for (size_t k = 0; k < rd->n_reads; k++) {
		const struct raft_read *r = &rd->reads[k];
		for (size_t j = 0; j < s->n_syncs; j++) {
			struct sim_sync *y = &s->syncs[j];
			if (y->node != n->id || y->ctx != r->ctx)
				continue;
			if (!r->err && !s->unsafe) {
				struct raft_status st;
				raft_get_status(n->r, &st);
				uint64_t t = y->answer_term ? y->answer_term : st.term;
				CHECK(s, y->answer_term || st.role == RAFT_LEADER,
				      "node %u: a sync answered without a leader's answer", n->id);
				CHECK(s, t >= y->min_term,
				      "sync at node %u answered by the leader of term %llu, but a "
				      "leader of term %llu was elected before it was issued",
				      n->id, (unsigned long long)t,
				      (unsigned long long)y->min_term);
				CHECK(s, r->index >= y->min_index,
				      "sync at node %u returned index %llu < %llu committed before "
				      "it",
				      n->id, (unsigned long long)r->index,
				      (unsigned long long)y->min_index);
				s->n_synced++;
			}
			s->syncs[j] = s->syncs[--s->n_syncs];
			break;
		}
	}
}

/*
 * The persistence contract (raft.h): a message leaves only once the state
 * it vouches for is on the sender's disk.  A message that moved on (the
 * sender's term is past the message's) only needs what it acknowledged
 * to be on disk, not to equal the sender's current log; once the disk's
 * term is past it, a newer leader may have replaced that entry durably
 * (an acknowledgement is a fact about its term: seed 5006866 released one
 * after the truncation that followed it was written too).
 */
static void check_msg_durable(struct sim *s, const struct sim_node *n, const struct raft_msg *m,
			      const struct raft_status *st)
{
	if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_PREVOTE_RESP ||
	    m->type == RAFT_MSG_READ_INDEX || m->type == RAFT_MSG_READ_INDEX_RESP)
		return; /* they vouch for nothing durable */
	const struct raft_hard_state *d = &n->d_hs;
	CHECK(s, d->term >= m->term,
	      "node %u sends a type %u message of term %llu while its disk has term %llu", n->id,
	      m->type, (unsigned long long)m->term, (unsigned long long)d->term);
	bool reject = m->flags & RAFT_F_REJECT;
	if (m->type == RAFT_MSG_VOTE)
		CHECK(s, d->term > m->term || d->vote == n->id,
		      "node %u asks for votes in term %llu before its own vote is durable", n->id,
		      (unsigned long long)m->term);
	if (m->type == RAFT_MSG_VOTE_RESP && !reject)
		CHECK(s, d->term > m->term || d->vote == m->to,
		      "node %u grants its vote to %u in term %llu before it is durable (disk vote "
		      "%u)",
		      n->id, m->to, (unsigned long long)m->term, d->vote);
	if (m->type == RAFT_MSG_APPEND_RESP && !reject) {
		uint64_t i = m->index;
		bool ok =
		    i <= n->d_log.base || d->term > m->term ||
		    (log_at(&n->d_log, i) && (st->term > m->term || i <= n->view.base ||
					      log_chain(&n->d_log, i) == log_chain(&n->view, i)));
		CHECK(s, ok,
		      "node %u acknowledges index %llu (term %llu) that is not on its disk "
		      "(disk %llu..%llu)",
		      n->id, (unsigned long long)i, (unsigned long long)m->term,
		      (unsigned long long)n->d_log.base, (unsigned long long)log_last(&n->d_log));
	}
}

/*
 * A commit index this leader counted names an entry on the disks of a
 * quorum of its voters (an inherited one was counted by an earlier leader,
 * in its configuration).
 */
static void check_commit_durable(struct sim *s, struct sim_node *n, const struct raft_status *st)
{
	if (st->commit == n->commit_checked || st->commit <= n->view.base)
		return;
	n->commit_checked = st->commit;
	uint64_t want = log_chain(&n->view, st->commit);
	struct raft_conf c;
	raft_get_conf(n->r, &c);
	uint32_t on = 0;
	for (uint32_t k = 0; k < c.n; k++) {
		const struct sim_node *p = &s->nodes[c.m[k].id];
		if (!c.m[k].voter || !p->exists)
			continue;
		on += st->commit <= p->d_log.base || log_chain(&p->d_log, st->commit) == want;
	}
	CHECK(s, on >= raft_conf_voters(&c) / 2 + 1,
	      "leader %u commits %llu (term %llu) that is on the disks of %u of %u voters", n->id,
	      (unsigned long long)st->commit, (unsigned long long)st->term, on,
	      raft_conf_voters(&c));
}

static void check_node(struct sim *s, struct sim_node *n)
{
	struct raft_status st;
	raft_get_status(n->r, &st);
	if (st.commit > s->max_commit)
		s->max_commit = st.commit;
	if (s->unsafe) {
		/* only count leader changes: the cross-node checks are off */
		if (st.role == RAFT_LEADER &&
		    (n->last_role != RAFT_LEADER || n->last_term != st.term))
			s->n_elections++;
		n->last_role = st.role;
		n->last_term = st.term;
		return;
	}
	/* everything the node holds committed is the committed history */
	for (uint64_t i = st.commit; i > n->view.base; i--) {
		struct sim_committed *c = committed_at(s, i);
		if (c->chain) {
			CHECK(s, c->chain == log_chain(&n->view, i),
			      "node %u: committed prefix at %llu differs", n->id,
			      (unsigned long long)i);
			break; /* chained: the rest below agrees */
		}
		note_committed(s, n->id, &n->view, i);
	}
	if (st.role != RAFT_LEADER) {
		n->last_role = st.role;
		return;
	}
	if (n->last_role != RAFT_LEADER || n->last_term != st.term)
		n->commit_checked = st.commit; /* counted by an earlier leader */
	check_commit_durable(s, n, &st);
	s->leaders = grow(s->leaders, &s->cap_leaders, st.term + 1, sizeof(*s->leaders));
	CHECK(s, !s->leaders[st.term] || s->leaders[st.term] == n->id,
	      "two leaders in term %llu: %llu and %u", (unsigned long long)st.term,
	      (unsigned long long)s->leaders[st.term], n->id);
	if (st.term > s->max_leader_term)
		s->max_leader_term = st.term;
	if (n->last_role != RAFT_LEADER || n->last_term != st.term) {
		s->leaders[st.term] = n->id;
		s->n_elections++;
		/* leader completeness: every acknowledged write is here */
		for (size_t k = 0; k < s->n_acks; k++) {
			const struct sim_ack *a = &s->acks[k];
			if (a->index <= n->view.base)
				continue;
			CHECK(s, log_chain(&n->view, a->index) == a->chain,
			      "acknowledged entry %llu is missing from new leader %u (term %llu)",
			      (unsigned long long)a->index, n->id, (unsigned long long)st.term);
		}
	}
	n->last_role = st.role;
	n->last_term = st.term;
}

void sim_process(struct sim *s, uint32_t id)
{
	struct sim_node *n = &s->nodes[id];
	if (!n->up)
		return;
	while (raft_has_ready(n->r)) {
		struct raft_ready rd;
		uint32_t snap_fail[64];
		size_t n_fail = 0;
		raft_ready(n->r, &rd);
		struct raft_status rst;
		raft_get_status(n->r, &rst);
		for (size_t k = 0; k < rd.n_msgs; k++) {
			CHECK(s, rd.msgs[k].from == id, "message from %u sent by %u",
			      rd.msgs[k].from, id);
			check_msg_durable(s, n, &rd.msgs[k], &rst);
			const struct raft_msg *m = &rd.msgs[k];
			if (m->type != RAFT_MSG_SNAP) {
				send_msg(s, m);
			} else if (!s->nodes[m->to].up || s->cut[id][m->to]) {
				if (n_fail < 64) /* no connection to stream on */
					snap_fail[n_fail++] = m->to;
			} else {
				stream_start(s, n, m);
			}
		}
		if (rd.seq) {
			struct sim_write w = {
			    .seq = rd.seq,
			    .at = s->now + n->disk_delay,
			    .hs_changed = rd.hs_changed,
			    .hs = rd.hs,
			    .has_snap = rd.has_snap,
			    .snap = rd.snap,
			    .trunc = rd.truncate_from,
			};
			view_apply(s, n, &rd, &w);
			n->pend = grow(n->pend, &n->cap_pend, n->n_pend + 1, sizeof(*n->pend));
			n->pend[n->n_pend++] = w;
		} else {
			CHECK(s,
			      !rd.n_entries && !rd.has_snap && !rd.truncate_from && !rd.hs_changed,
			      "node %u: state to persist without a unit", id);
		}
		apply_committed(s, n, &rd);
		answer_reads(s, n, &rd);
		raft_advance(n->r, &rd);
		for (size_t k = 0; k < n_fail; k++)
			raft_report_snapshot(n->r, snap_fail[k], false);
		for (uint32_t p = 1; p <= SIM_MAX_NODES; p++)
			if (s->streams[id][p].on && s->streams[id][p].ss.next == 0)
				stream_poll(s, id, p); /* a new stream's first window */
		if (s->o.auto_flush && n->n_pend && sim_flush(s, id, 0))
			return; /* sim_flush processed the rest */
	}
	check_node(s, n);
}

/* ---- nodes ---- */

void sim_start(struct sim *s, uint32_t id, const struct raft_conf *conf)
{
	CHECK(s, id >= 1 && id <= SIM_MAX_NODES, "bad node id %u", id);
	struct sim_node *n = &s->nodes[id];
	if (n->up)
		return;
	if (!n->exists) {
		memset(n, 0, sizeof(*n));
		n->exists = true;
		n->id = id;
		n->cfg = (struct raft_config){
		    .id = id,
		    .conf = *conf,
		    .election_ticks = s->o.election_ticks ? s->o.election_ticks : 10,
		    .heartbeat_ticks = 2,
		    .seed = s->seed * 31 + id,
		    .max_inflight_msgs = 4,
		    .max_inflight_bytes = 4096,
		    .max_msg_bytes = 512,
		    .max_msg_entries = s->o.max_msg_entries ? s->o.max_msg_entries : 8,
		    .max_counter = s->o.max_counter,
		    .max_uncommitted = 64,
		};
	}
	struct raft_entry *ents = calloc(n->d_log.n + 1, sizeof(*ents));
	for (size_t k = 0; k < n->d_log.n; k++)
		ents[k] = n->d_log.v[k].e;
	int rc =
	    raft_new(&n->cfg, &n->d_hs, n->d_has_snap ? &n->d_snap : NULL, ents, n->d_log.n, &n->r);
	free(ents);
	CHECK(s, rc == 0, "node %u: raft_new from its disk failed: %d", id, rc);
	/* the core's log is the disk's; the state machine is the snapshot */
	log_clear(&n->view, false);
	n->view.base = n->d_log.base;
	n->view.base_term = n->d_log.base_term;
	n->view.base_zxid = n->d_log.base_zxid;
	n->view.base_chain = n->d_log.base_chain;
	for (size_t k = 0; k < n->d_log.n; k++)
		log_push(&n->view, &n->d_log.v[k], false);
	n->applied = n->d_log.base;
	n->last_role = RAFT_FOLLOWER;
	n->up = true;
	sim_process(s, id);
}

void sim_flush_later(struct sim *s, uint32_t id)
{
	struct sim_node *n = &s->nodes[id];
	struct sim_write *w;

	if (!n->up || n->n_pend < 2)
		return;
	w = &n->pend[1];
	if (w->at > s->now || w->hs_changed || w->has_snap || w->trunc || !w->n)
		return;
	if (!w->done)
		s->n_early++;
	w->done = true;
}

void sim_crash(struct sim *s, uint32_t id, bool tear)
{
	struct sim_node *n = &s->nodes[id];
	if (!n->up)
		return;
	if (tear && n->n_pend) {
		struct sim_write *w = &n->pend[0];
		bool hs = sim_below(s, 2);
		size_t kept = hs ? sim_below(s, w->n + 1) : 0;
		disk_apply(n, w, hs, kept);
		/* the first survived whole: a later write already on the disk stays */
		if ((hs || !w->hs_changed) && kept == w->n && n->n_pend > 1 && n->pend[1].done) {
			disk_apply(n, &n->pend[1], true, n->pend[1].n);
			s->n_early_kept++;
			n->pend[1].done = false;
		}
	}
	if (n->n_pend > 1 && n->pend[1].done)
		s->n_early_lost++;
	for (size_t k = 0; k < n->n_pend; k++)
		write_free(&n->pend[k]);
	n->n_pend = 0;
	raft_free(n->r);
	n->r = NULL;
	n->up = false;
	s->n_crashes++;
	/* its transfers die with it; the partial file is not kept */
	snap_recv_init(&n->rx);
	n->rx_len = 0;
	for (uint32_t p = 1; p <= SIM_MAX_NODES; p++)
		stream_stop(s, id, p);
	for (uint32_t p = 1; p <= SIM_MAX_NODES; p++)
		streams_cut(s, p, id);
	/* the others see their connections to it reset */
	for (uint32_t p = 1; p <= SIM_MAX_NODES && !s->o.silent; p++) {
		if (s->nodes[p].up) {
			raft_peer_lost(s->nodes[p].r, id);
			sim_process(s, p);
		}
	}
}

void sim_wipe(struct sim *s, uint32_t id)
{
	struct sim_node *n = &s->nodes[id];
	if (!n->exists || n->up)
		return;
	n->d_hs = (struct raft_hard_state){0, 0};
	n->d_has_snap = false;
	memset(&n->d_snap, 0, sizeof(n->d_snap));
	log_clear(&n->d_log, true);
	n->d_log.base = n->d_log.base_term = n->d_log.base_zxid = n->d_log.base_chain = 0;
	s->unsafe = true;
	s->n_wipes++;
}

void sim_tick_node(struct sim *s, uint32_t id)
{
	if (!s->nodes[id].up)
		return;
	raft_tick(s->nodes[id].r);
	sim_process(s, id);
}

static void trace(struct sim *s)
{
	static int on = -1;
	if (on < 0)
		on = getenv("SIM_TRACE") != NULL;
	if (!on)
		return;
	fprintf(stderr, "tick %llu step %llu:", (unsigned long long)s->now,
		(unsigned long long)s->step);
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++) {
		struct sim_node *n = &s->nodes[id];
		if (!n->exists)
			continue;
		if (!n->up) {
			fprintf(stderr, " [%u down]", id);
			continue;
		}
		struct raft_status st;
		raft_get_status(n->r, &st);
		struct raft_conf c;
		raft_get_conf(n->r, &c);
		fprintf(stderr, " {");
		for (uint32_t k = 0; k < c.n; k++)
			fprintf(stderr, "%u%s", c.m[k].id, c.m[k].voter ? "" : "o");
		fprintf(stderr, "}");
		fprintf(stderr, "[%u %c t%llu c%llu a%llu d%llu l%llu p%zu]", id, "FPCL"[st.role],
			(unsigned long long)st.term, (unsigned long long)st.commit,
			(unsigned long long)st.applied, (unsigned long long)st.durable,
			(unsigned long long)st.last_index, n->n_pend);
	}
	fprintf(stderr, " net %zu\n", s->n_net);
}

void sim_tick(struct sim *s)
{
	trace(s);
	s->now++;
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++)
		sim_tick_node(s, id);
	sim_poll_streams(s);
}

void sim_settle(struct sim *s, int max_rounds)
{
	for (int round = 0; round < max_rounds; round++) {
		bool any = false;
		for (size_t k = 0; k < s->n_net;) {
			if (s->net[k].at <= s->now) {
				sim_deliver(s, k);
				any = true;
			} else {
				k++;
			}
		}
		for (uint32_t id = 1; id <= SIM_MAX_NODES; id++) {
			if (s->nodes[id].up && s->nodes[id].n_pend && sim_flush(s, id, 0))
				any = true;
		}
		if (!any)
			return;
	}
}

void sim_partition(struct sim *s, uint32_t a, uint32_t b, bool cut)
{
	bool was = s->cut[a][b];
	s->cut[a][b] = s->cut[b][a] = cut;
	if (cut && !was)
		streams_cut(s, a, b);
	if (cut && !was && !s->o.silent) {
		if (s->nodes[a].up) {
			raft_peer_lost(s->nodes[a].r, b);
			sim_process(s, a);
		}
		if (s->nodes[b].up) {
			raft_peer_lost(s->nodes[b].r, a);
			sim_process(s, b);
		}
	}
}

void sim_isolate(struct sim *s, uint32_t id, bool cut)
{
	for (uint32_t p = 1; p <= SIM_MAX_NODES; p++)
		if (p != id)
			sim_partition(s, id, p, cut);
}

void sim_heal(struct sim *s)
{
	memset(s->cut, 0, sizeof(s->cut));
}

int sim_propose(struct sim *s, uint32_t id, uint32_t count, uint64_t *index)
{
	struct sim_node *n = &s->nodes[id];
	if (!n->up)
		return -ENOTCONN;
	uint8_t data[64];
	uint32_t len = (uint32_t)sim_below(s, sizeof(data) + 1);
	for (uint32_t k = 0; k < len; k++)
		data[k] = (uint8_t)sim_rand(s);
	uint64_t zxid = 0, idx = 0;
	int rc = raft_propose(n->r, count, data, len, &zxid, &idx);
	if (rc == 0) {
		struct raft_status st;
		raft_get_status(n->r, &st);
		CHECK(s, zxid >> 32 == st.term && (zxid & 0xffffffffu) >= 1,
		      "node %u: proposal got zxid %llx in term %llu", id, (unsigned long long)zxid,
		      (unsigned long long)st.term);
		if (index)
			*index = idx;
	}
	sim_process(s, id);
	return rc;
}

int sim_sync(struct sim *s, uint32_t id)
{
	struct sim_node *n = &s->nodes[id];
	if (!n->up)
		return -ENOTCONN;
	uint64_t ctx = ++s->sync_ctx;
	int rc = raft_read_index(n->r, ctx);
	if (rc == 0) {
		s->syncs = grow(s->syncs, &s->cap_syncs, s->n_syncs + 1, sizeof(*s->syncs));
		s->syncs[s->n_syncs++] =
		    (struct sim_sync){id, ctx, s->max_commit, s->max_leader_term, 0};
	}
	sim_process(s, id);
	return rc;
}

void sim_force_campaign(struct sim *s, uint32_t id)
{
	struct sim_node *n = &s->nodes[id];
	struct raft_status st;
	raft_get_status(n->r, &st);
	struct raft_msg m = {
	    .type = RAFT_MSG_TIMEOUT_NOW,
	    .from = st.leader && st.leader != id ? st.leader
		    : id == 1			 ? 2
						 : 1,
	    .to = id,
	    .term = st.term,
	};
	int rc = raft_step(n->r, &m);
	CHECK(s, rc == 0, "timeout-now refused: %d", rc);
	sim_process(s, id);
}

void sim_snapshot(struct sim *s, uint32_t id, uint64_t lag)
{
	struct sim_node *n = &s->nodes[id];
	if (!n->up)
		return;
	for (size_t k = 0; k < n->n_pend; k++)
		if (n->pend[k].has_snap)
			return; /* an install is on its way to disk */
	struct raft_status st;
	raft_get_status(n->r, &st);
	uint64_t idx = st.applied > lag ? st.applied - lag : 0;
	if (idx <= n->d_log.base || idx < st.first_index)
		return;
	struct raft_snap_meta meta;
	int rc = raft_snapshot_meta(n->r, idx, &meta);
	CHECK(s, rc == 0, "node %u: snapshot meta at %llu: %d", id, (unsigned long long)idx, rc);
	CHECK(s, log_at(&n->d_log, idx), "node %u: applied %llu is not on its disk", id,
	      (unsigned long long)idx);
	n->d_has_snap = true;
	n->d_snap = meta;
	log_drop_upto(&n->d_log, idx, meta.term, meta.zxid, log_chain(&n->view, idx));
	rc = raft_compact(n->r, &meta);
	CHECK(s, rc == 0, "node %u: compact at %llu: %d", id, (unsigned long long)idx, rc);
	sim_process(s, id);
}

uint32_t sim_leader(struct sim *s)
{
	uint32_t best = 0;
	uint64_t best_term = 0;
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++) {
		struct sim_node *n = &s->nodes[id];
		if (!n->up)
			continue;
		struct raft_status st;
		raft_get_status(n->r, &st);
		if (st.role == RAFT_LEADER && st.term >= best_term) {
			best = id;
			best_term = st.term;
		}
	}
	return best;
}

void sim_check(struct sim *s)
{
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++) {
		struct sim_node *n = &s->nodes[id];
		if (!n->up)
			continue;
		struct raft_status st;
		raft_get_status(n->r, &st);
		CHECK(s, st.last_index == log_last(&n->view),
		      "node %u: core log ends at %llu, driver saw %llu", id,
		      (unsigned long long)st.last_index, (unsigned long long)log_last(&n->view));
		CHECK(s, n->applied <= st.commit || n->applied == n->view.base,
		      "node %u: applied %llu beyond commit %llu", id,
		      (unsigned long long)n->applied, (unsigned long long)st.commit);
		check_node(s, n);
	}
}

void sim_init(struct sim *s, uint64_t seed, const struct sim_opts *o)
{
	memset(s, 0, sizeof(*s));
	current = s;
	signal(SIGABRT, on_crash);
	signal(SIGSEGV, on_crash);
	s->seed = seed;
	s->o = *o;
	uint64_t x = seed;
	for (int k = 0; k < 4; k++)
		s->rng[k] = splitmix(&x);
}

void sim_free(struct sim *s)
{
	if (current == s)
		current = NULL;
	for (uint32_t id = 1; id <= SIM_MAX_NODES; id++) {
		struct sim_node *n = &s->nodes[id];
		if (n->r)
			raft_free(n->r);
		for (size_t k = 0; k < n->n_pend; k++)
			write_free(&n->pend[k]);
		free(n->pend);
		free(n->rx_file);
		log_clear(&n->d_log, true);
		free(n->d_log.v);
		free(n->view.v);
	}
	for (uint32_t a = 1; a <= SIM_MAX_NODES; a++)
		for (uint32_t b = 1; b <= SIM_MAX_NODES; b++)
			free(s->streams[a][b].data);
	for (size_t k = 0; k < s->n_net; k++)
		free(s->net[k].buf);
	free(s->net);
	free(s->committed);
	free(s->leaders);
	free(s->acks);
	free(s->syncs);
	free(s->kv);
}
