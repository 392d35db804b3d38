/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The I/O layer (io/) as the layers above it see it: workers and
 * connections as opaque handles, the services they may call, and the one
 * table through which the I/O layer calls them (struct dp_upper_ops).
 * The I/O layer knows no ZooKeeper: it frames input by a 4-byte length,
 * queues whole frames for output and hands connections, frames and the
 * worker loop's turns to the layer above.  Its own state, the backend
 * table and its internal calls are in io_priv.h.
 *
 * Thread: every service runs on the thread of the worker that owns the
 * connection, unless it says otherwise.
 */
#ifndef CHEETAH_DATAPLANE_IO_IO_H
#define CHEETAH_DATAPLANE_IO_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jute.h"
#include "dataplane/dp.h"

struct cfg;
struct repl;
struct dp_conn;   /* one client connection */
struct dp_worker; /* one worker thread */
struct nsstat;

/* What dp_upper_ops.first makes of a connection's first 4 bytes. */
enum dp_first {
	DP_FIRST_FRAME = 0, /* a frame length: framing goes on */
	DP_FIRST_RAW,       /* read *len more bytes as one unit for dp_upper_ops.raw */
	DP_FIRST_TAKEN,     /* the layer took the connection (dp_conn_enter_raw) or closed it */
};

/*
 * The layer above the I/O layer (the admin layer, admin.h, which passes
 * frames on to the protocol layer).  Every hook is called on the thread
 * of the worker it concerns unless it says otherwise; c->w is the worker.
 */
struct dp_upper_ops {
	/* Process-wide state (dp->upper_dp), main thread; 0 or -ENOMEM. */
	int (*open)(struct dp *dp);
	void (*close)(struct dp *dp);
	/* Per-worker state (w->upper), main thread, before/after its thread. */
	int (*worker_new)(struct dp_worker *w);
	void (*worker_free)(struct dp_worker *w);
	/* On the worker's thread before it serves (0 or -errno; it then
	 * stops), and once every worker has left its loop. */
	int (*worker_start)(struct dp_worker *w);
	void (*worker_stop)(struct dp_worker *w);
	/* Shutdown: after the worker closed its connections, and from
	 * dp_io_free for every worker (twice) once no thread runs. */
	void (*worker_drain)(struct dp_worker *w);

	/* A new connection was accepted (before any byte). */
	void (*opened)(struct dp_conn *c);
	/* The first 4 bytes of a connection (enum dp_first; *len for RAW). */
	int (*first)(struct dp_conn *c, const uint8_t hdr[4], uint32_t *len);
	/* The raw unit asked for by first (c is still framing: it may take it). */
	void (*raw)(struct dp_conn *c, const uint8_t *buf, uint32_t len);
	/*
	 * One complete frame (length prefix removed; valid during the call).
	 * Returns 0, or a negative errno after which the I/O layer closes
	 * the connection (the layer logged why, once, with the peer).
	 */
	int (*frame)(struct dp_conn *c, const uint8_t *payload, uint32_t len);
	/* The connection closed (either side); called once, from dp_conn_reap. */
	void (*closed)(struct dp_conn *c);
	/* c's chunked answer has room for more (dp_conn_stream_begin). */
	void (*stream_more)(struct dp_conn *c);
	/* Frees a chunked answer (with its connection, or dp_conn_stream_end). */
	void (*stream_free)(void *stream);

	/* Once per loop iteration, after the backend's events. */
	void (*poll)(struct dp_worker *w);
	/* Work no event announces: the worker polls without sleeping. */
	bool (*has_work)(struct dp_worker *w);
	/* Something waits for another thread: the worker sleeps at most 1 ms. */
	bool (*pending)(struct dp_worker *w);
	/* At least every tickTime/2. */
	void (*tick)(struct dp_worker *w, uint64_t now_ns);
};

/* ---- Services to the layers above (their worker's thread) ---- */

/* Stable id of a connection within its worker (used in repl messages). */
uint32_t dp_conn_id(const struct dp_conn *c);
/* The connection with that id, or NULL once it closed. */
struct dp_conn *dp_conn_lookup(struct dp_worker *w, uint32_t id);

/*
 * The first connection in a slot >= *slot (any state, until the layer
 * above has heard it closed), with *slot set to its slot; NULL when none
 * is left.  For listings that resume between calls (cons, stat, dump):
 * the caller goes on from *slot + 1.
 */
struct dp_conn *dp_conn_next(struct dp_worker *w, uint32_t *slot);

/*
 * Queues bytes (whole frames) for sending.  Returns 0, or -ENOBUFS when
 * the connection's output bound is exceeded: the connection is then being
 * closed (a client that stops reading is dropped, not buffered forever).
 */
int dp_conn_send(struct dp_conn *c, const void *buf, size_t len);
/*
 * As dp_conn_send, but when nothing is queued on c the bytes are written
 * at once from buf (the caller's, which may be shared by many
 * connections: a watch event encoded once), and only what the socket
 * does not take is queued.  Behind queued bytes it queues, so the
 * connection's output keeps its order either way.  A write error closes
 * the connection as a failed flush does (returns 0, the bytes dropped).
 * Costs one send call now instead of a copy and the send at the end of
 * the loop iteration: worth it when the next frames for c are unlikely
 * in the same iteration (a large fan-out).
 */
int dp_conn_send_now(struct dp_conn *c, const void *buf, size_t len);
/* Start/commit a frame built in place in the output queue. */
struct jute_out *dp_conn_out_begin(struct dp_conn *c);
int dp_conn_out_commit(struct dp_conn *c);

/*
 * Writes every connection's queued output now, as the worker loop does
 * at the end of each iteration (one send per connection, in queue order,
 * so nothing is reordered).  Returns the number of connections it wrote
 * to.  For the protocol layer after a large watch fan-out, which times
 * the sends.
 */
uint32_t dp_worker_flush(struct dp_worker *w);

/* Closes after the queued output is written; reason is logged once with the peer. */
void dp_conn_close(struct dp_conn *c, const char *reason);

/* The peer's address ("127.0.0.1") and "ip:port" for logs. */
const char *dp_conn_peer_ip(const struct dp_conn *c);
const char *dp_conn_peer(const struct dp_conn *c);

/*
 * The TLS client certificate's subject DN as Java's X500Principal
 * .getName() writes it (the x509 identity), or NULL: plain connection, no
 * certificate, or ssl.clientAuth=none.  Valid while c is open.
 */
const char *dp_conn_x509_id(const struct dp_conn *c);

/* The protocol layer's per-connection state. */
void *dp_conn_user(const struct dp_conn *c);
void dp_conn_set_user(struct dp_conn *c, void *user);

/* Worker facts. */
uint32_t dp_worker_index(const struct dp_worker *w);
const struct cfg *dp_worker_cfg(const struct dp_worker *w);
/* The broadcast core given to dp_run (NULL before). */
struct repl *dp_worker_repl(const struct dp_worker *w);
/* The per-namespace byte counts given to dp_set_nsstat (NULL: none). */
struct nsstat *dp_worker_nsstat(const struct dp_worker *w);
/* Wakes a worker (its eventfd; any thread); no-op for polling backends. */
void dp_worker_wake(struct dp_worker *w);
/* srst: zeroes this worker's I/O counters (struct dp_io_stats). */
void dp_worker_stats_reset(struct dp_worker *w);

/* ---- Connections answered outside framing (the admin layer) ---- */

/* Any state, including closing; NULL for a stale id. */
struct dp_conn *dp_conn_get(struct dp_worker *w, uint32_t id);
/* Closes now, dropping queued output; reason logged at info when not NULL. */
void dp_conn_abort(struct dp_conn *c, const char *reason);
/* Takes a connection out of framing: it answers outside it (input ignored). */
void dp_conn_enter_raw(struct dp_conn *c);
/* Bytes queued and not yet written. */
size_t dp_conn_unsent(const struct dp_conn *c);
/*
 * A chunked answer is produced only while fewer than DP_STREAM_LOW_WATER
 * bytes wait to be written.
 */
#define DP_STREAM_LOW_WATER (64u * 1024)
/*
 * Makes s c's chunked answer (c in DP_CONN_RAW): owned by c from now on,
 * freed with dp_upper_ops.stream_free when c is.  dp_upper_ops.stream_more
 * is called whenever fewer than DP_STREAM_LOW_WATER bytes are left to
 * write.
 */
void dp_conn_stream_begin(struct dp_conn *c, void *s);
/* Ends c's chunked answer (frees it); the caller then closes c. */
void dp_conn_stream_end(struct dp_conn *c);

/* ---- Life cycle (dataplane/dp.c) ---- */

/*
 * The life cycle behind dp.h's dp_open, dp_run and dp_stop (dp.c adds
 * the broadcast core's wakeups):
 *  dp_io_open     dp_open with the layer above's table (returns as dp_open);
 *  dp_io_prepare  keeps repl for the layers above, sizes the descriptor
 *                 limit (dp_limits_fds); 0 or -EMFILE;
 *  dp_io_wake_fd  worker i's eventfd, -1 for a polling backend;
 *  dp_io_start    starts the workers, returns once each serves (as dp_run);
 *  dp_io_stop_threads  stops and joins the workers (no-op when stopped);
 *  dp_io_free     frees everything (as dp_stop, after dp_io_stop_threads).
 * Main thread.
 */
int dp_io_open(const struct cfg *cfg, const struct dp_upper_ops *upper, struct dp **out);
int dp_io_prepare(struct dp *dp, struct repl *repl);
int dp_io_wake_fd(const struct dp *dp, uint32_t i);
int dp_io_start(struct dp *dp);
void dp_io_stop_threads(struct dp *dp);
void dp_io_free(struct dp *dp);
/* The broadcast core given to dp_io_prepare (NULL before). */
struct repl *dp_io_repl(const struct dp *dp);

#endif
