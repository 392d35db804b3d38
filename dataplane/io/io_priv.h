/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the I/O layer (io/): its files, the backends, its tests and the
 * admin layer, which reads its counters and connection states.  What the
 * protocol layer sees is io.h alone.
 *
 * Part 1, the backend table (STYLE.md "Pluggable I/O"): one struct
 * dp_io_ops per backend (sock.c, dpdk.c), chosen by name at
 * start-up.  A backend knows listeners, connection handles and readiness;
 * it knows nothing of frames, ZooKeeper or the protocol layer.  Where
 * backends differ the table says so with a capability bit, never with an
 * "if (dpdk)" in the worker.
 *
 * Part 2, the I/O layer's own state: workers and connections.
 * Everything in a struct dp_worker belongs to its thread, except the
 * fields marked "shared", which other workers read (relaxed atomics;
 * four-letter words only).
 *
 * Then the calls between io/'s own files (conn.c, limits.c, worker.c).
 */
#ifndef CHEETAH_DATAPLANE_IO_IO_PRIV_H
#define CHEETAH_DATAPLANE_IO_IO_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "common/jute.h"
#include "common/log.h"
#include "dataplane/dp.h"
#include "dataplane/io/io.h"
#include "dataplane/io/tls.h"

/* ------------------------------------------------------------------ */
/* Part 1: the backend table                                           */
/* ------------------------------------------------------------------ */

/* A connection as the backend names it (sock: the file descriptor). */
typedef uint64_t dp_io_handle;

/*
 * The backend's poll may block in the kernel: the worker goes RCU-offline
 * around it and wakes through an eventfd (watch_fd).  A polling backend
 * (dpdk) never blocks and needs no eventfd.
 */
#define DP_IO_CAP_SLEEPS (1u << 0)
/*
 * Each connection holds a file descriptor (sock), so RLIMIT_NOFILE bounds
 * the connections (dp_limits_fds).  The dpdk backend's connections live
 * in its user-space stack and hold none: the limit must not refuse them.
 */
#define DP_IO_CAP_CONN_FDS (1u << 1)
/*
 * Handles are non-blocking kernel sockets that OpenSSL can drive itself
 * (io/tls.c): the backend can serve TLS (secureClientPort,
 * client.portUnification) and has listen_secure and accept_secure.
 */
#define DP_IO_CAP_TLS (1u << 2)

/* Interest (arm) and readiness (events). */
#define DP_IO_READ (1u << 0)
#define DP_IO_WRITE (1u << 1)
#define DP_IO_ERROR (1u << 2) /* reported only: reset, or both directions shut */

/* One of a backend's own counters (dp_io_ops.counters). */
enum dp_io_counter_kind {
	DP_IO_COUNTER, /* counts up, this worker's */
	DP_IO_GAUGE,   /* goes up and down, this worker's */
	DP_IO_DEVICE,  /* counts up, the whole device's: worker 0 reads it, the others say 0 */
};
struct dp_io_counter {
	const char *name; /* static: [a-z0-9_]+ */
	uint8_t kind;	  /* enum dp_io_counter_kind */
	uint64_t value;
};

/*
 * Cookies tell events apart.  Connections use their id (32 bits, never
 * 0); the values above 2^32 are reserved.
 */
#define DP_IO_COOKIE_LISTEN (1ull << 32)
#define DP_IO_COOKIE_WAKE (2ull << 32)
#define DP_IO_COOKIE_LISTEN_SECURE (3ull << 32)

struct dp_io_event {
	uint64_t cookie;
	uint32_t what; /* DP_IO_READ | DP_IO_WRITE | DP_IO_ERROR */
};

struct dp_io; /* a backend's per-worker state */
struct dp_upper_ops; /* the layer above (part 3) */

struct dp_io_ops {
	const char *name;
	uint32_t caps; /* DP_IO_CAP_* */

	/*
	 * Optional (NULL: nothing to do): the process-wide part, before the
	 * first init and after the last fini, on the main thread (dpdk: the
	 * EAL and the port).  open logs one line naming what is wrong and
	 * returns -errno.
	 */
	int (*open)(const struct cfg *cfg, uint32_t nworkers);
	void (*close_all)(void);

	/* Per-worker state; worker is the index for log lines.  0 or -errno. */
	int (*init)(struct dp_io **io, uint32_t worker);
	/* Closes the listener and every handle still open. */
	void (*fini)(struct dp_io *io);

	/*
	 * This worker's listener on addr (port 0: any).  first is true for
	 * the first worker: it must fail with -EADDRINUSE when anything else
	 * already serves the port (a worker joining the group does not).
	 * *port gets the bound port.  Logs its failures with the address.
	 */
	int (*listen)(struct dp_io *io, const struct sockaddr *addr, socklen_t len, int backlog,
		      bool first, uint16_t *port);

	/*
	 * With DP_IO_CAP_TLS (NULL otherwise): listen and accept for the
	 * secure client port, reported with DP_IO_COOKIE_LISTEN_SECURE.
	 */
	int (*listen_secure)(struct dp_io *io, const struct sockaddr *addr, socklen_t len,
			     int backlog, bool first, uint16_t *port);
	int (*accept_secure)(struct dp_io *io, dp_io_handle *h, struct sockaddr_storage *peer);

	/* Adds a file descriptor to the wait set (the wakeup eventfd). */
	int (*watch_fd)(struct dp_io *io, int fd, uint64_t cookie);

	/*
	 * Waits up to timeout_ms (0: not at all, -1: forever) and fills up to
	 * max events; returns their number or -errno.  A polling backend
	 * (no DP_IO_CAP_SLEEPS) takes a timeout above 0 as leave to idle
	 * (its back-off, well under a millisecond), 0 as "work is waiting".  The listener reports
	 * DP_IO_READ with DP_IO_COOKIE_LISTEN: call accept until -EAGAIN.
	 */
	int (*poll)(struct dp_io *io, int timeout_ms, struct dp_io_event *ev, unsigned max);

	/*
	 * One pending connection: its handle (non-blocking, TCP_NODELAY) and
	 * the peer's address.  0, -EAGAIN when none is left, or -errno.
	 * Out of resources (-EMFILE, -ENFILE, -ENOBUFS, -ENOMEM) the backend
	 * has closed unanswered the connections it could not take, put their
	 * number in *h, and stopped reporting the listener for a back-off;
	 * the caller logs (rate-limited) and stops accepting for now.
	 */
	int (*accept)(struct dp_io *io, dp_io_handle *h, struct sockaddr_storage *peer);

	/*
	 * Sets what a connection's events are wanted for (DP_IO_READ,
	 * DP_IO_WRITE, or 0: only errors), reported with cookie.  The first
	 * call for a handle starts watching it.  0 or -errno.
	 */
	int (*arm)(struct dp_io *io, dp_io_handle h, uint64_t cookie, uint32_t want);

	/* Bytes read (> 0), 0 at end of stream, -EAGAIN, or -errno. */
	ssize_t (*recv)(struct dp_io *io, dp_io_handle h, void *buf, size_t len);

	/* Writes a batch; bytes taken (>= 0, maybe short), -EAGAIN or -errno. */
	ssize_t (*send)(struct dp_io *io, dp_io_handle h, const struct iovec *iov, int iovcnt);

	/* Forgets and closes the handle. */
	void (*close)(struct dp_io *io, dp_io_handle h);

	/*
	 * Optional (NULL: none): the backend's own mntr fields about all n
	 * workers' instances, put(arg, key, value) each in order (key valid
	 * during the call; mntr prints "key\tvalue").  Runs on any worker's
	 * thread, or the AdminServer's, while the workers run: reads only
	 * what each instance publishes for it (dpdk: its stack's counters).
	 */
	void (*mntr)(struct dp_io *const *ios, uint32_t n,
		     void (*put)(void *arg, const char *key, uint64_t v), void *arg);

	/*
	 * Optional (NULL: none): the same counters of one worker's instance
	 * as numbers, for /metrics (dp_stats_snapshot): fills up to max
	 * entries of out, the same names and kinds in the same order on
	 * every call, and returns how many.  Any thread, as mntr.
	 */
	size_t (*counters)(const struct dp_io *io, struct dp_io_counter *out, size_t max);
};

extern const struct dp_io_ops dp_io_sock_ops;
extern const struct dp_io_ops dp_io_dpdk_ops; /* dpdk.c */

/* ------------------------------------------------------------------ */
/* Part 2: the I/O layer                                               */
/* ------------------------------------------------------------------ */

/* Connection ids: slot index in the low bits, a generation above (repl.h's contract). */
#define DP_CONN_SLOT_BITS 20
#define DP_CONN_MAX_SLOTS (1u << DP_CONN_SLOT_BITS)

/* Frames: a 4-byte big-endian length, then the payload (jute.maxbuffer at most). */
#define DP_LEN_SIZE 4u
/* The largest raw unit dp_upper_ops.first may ask for. */
#define DP_RAW_MAX 8u

/* Receive in chunks of this size (per-worker scratch buffer). */
#define DP_RECV_CHUNK (64u * 1024)
/* Bytes read from one connection per loop iteration, for fairness. */
#define DP_RECV_BUDGET (256u * 1024)
/* How long a closing connection may take to drain its output. */
#define DP_CLOSE_LINGER_MS 5000

enum dp_conn_state {
	DP_CONN_OPEN = 1, /* framing requests */
	DP_CONN_RAW,      /* answered outside framing (a four-letter word); input ignored */
	DP_CONN_CLOSING,  /* draining output, then closed */
};

struct dp_conn {
	struct dp_worker *w;
	uint32_t id;
	uint8_t state;       /* enum dp_conn_state */
	bool first;          /* the first 4 bytes are not seen yet (dp_upper_ops.first) */
	bool raw;            /* the unit being read goes to dp_upper_ops.raw (raw_len bytes) */
	bool abort;          /* closing without draining output */
	bool told;           /* dp_upper_ops.closed was called */
	bool dirty;          /* on the worker's flush list */
	bool queued_close;   /* on the worker's closing list */
	bool sniff;          /* client.portUnification: TLS or plain is decided by the first byte */
	struct dp_tls_conn *tls; /* TLS (io/tls.c); NULL: plain */
	uint64_t tls_deadline_ns; /* the handshake must end by then */
	uint32_t armed;      /* interest given to the backend */
	uint32_t raw_len;
	dp_io_handle h;
	void *user;

	/* A partial frame (length prefix included); NULL when none. */
	uint8_t *in;
	uint32_t in_len;
	uint32_t in_cap;

	/* Output not yet written: out.buf[out_off, out.len). */
	struct jute_out out;
	size_t out_off;
	size_t out_mark;     /* out.len at dp_conn_out_begin */
	size_t head_end;     /* end of the frame being written (conn.c "The output bound") */

	/*
	 * An answer produced in chunks (four-letter words): the upper
	 * layer's state (dp_conn_stream_begin), freed with the connection;
	 * progress_ns is when output last moved, for the stall limit
	 * (DP_CLOSE_LINGER_MS).
	 */
	void *stream;
	struct dp_conn *next_stream;
	uint64_t stream_progress_ns;

	uint64_t close_deadline_ns;
	struct dp_conn *next_dirty;
	struct dp_conn *next_closing;
	const char *close_reason;

	struct sockaddr_storage peer_addr;
	char peer_ip[INET6_ADDRSTRLEN];
	char peer[INET6_ADDRSTRLEN + 8];
};

struct dp_slot {
	struct dp_conn *c; /* NULL when free */
	uint32_t gen;      /* generation of the current or next occupant, never 0 */
	uint32_t next;     /* free list (FIFO), UINT32_MAX at the end */
};

/* Counters of the I/O layer, read by any worker (relaxed atomics). */
struct dp_io_stats {
	uint64_t bytes_received;
	uint64_t rejected;       /* connections refused (limits) */
	uint64_t tls_failed;     /* TLS handshakes failed or timed out (mntr unsuccessful_handshake) */
};

/* A worker's rate-limited line about accept failing for lack of resources. */
struct dp_accept_log {
	struct log_every every;
	uint64_t shed;           /* connections shed since the last line */
};

/* Drained output buffers a worker keeps for reuse. */
#define DP_OUT_POOL 64

struct dp_worker {
	struct dp *dp;
	uint32_t index;
	int core;                /* pinned to, or -1 */
	pthread_t thread;
	bool started;
	const struct dp_io_ops *ops;
	struct dp_io *io;
	int efd;                 /* wakeup eventfd, -1 for polling backends */
	void *upper;             /* shared: the layers above (dp_upper_ops.worker_new) */
	uint16_t port;
	uint16_t secure_port;
	uint32_t tls_handshakes; /* connections in a TLS handshake (conn.c's tick) */

	struct dp_slot *slots;
	uint32_t nslots;
	uint32_t free_head;
	uint32_t free_tail;
	uint32_t nconns;

	struct dp_conn *dirty;   /* connections with output to write */
	struct dp_conn *streams; /* connections answering in chunks */
	struct dp_conn *closing; /* connections to reap */
	uint8_t *scratch;        /* DP_RECV_CHUNK */
	/*
	 * Output buffers of drained connections, for the next connection
	 * with something to send: only connections with unsent output hold
	 * one, so 20,000 idle sessions do not each keep the buffer their
	 * busiest moment grew (conn.c).
	 */
	struct jute_out out_pool[DP_OUT_POOL];
	uint32_t out_pool_n;
	uint32_t out_pool_low;   /* lowest out_pool_n since the last trim */
	struct jute_out sink;    /* out_begin on a closing connection */
	uint64_t next_tick_ns;

	struct dp_io_stats st;   /* shared (read-only for others) */
	struct dp_accept_log accept_log;
};

/* Per-IP connection counts (maxClientCnxns), shared by all workers. */
struct dp_ipcount;

struct dp {
	const struct cfg *cfg;
	struct repl *repl;
	const struct dp_io_ops *ops;
	const struct dp_upper_ops *upper;
	void *upper_dp;          /* the layers above, process-wide (dp_upper_ops.open) */
	bool opened;             /* ops->open succeeded: close_all is due */
	uint32_t nworkers;
	struct dp_worker **workers;
	uint16_t port;
	uint16_t secure_port;    /* secureClientPort as bound; 0: none */
	struct dp_tls *tls;      /* TLS context (io/tls.c); NULL: no TLS configured */
	uint32_t stop;           /* atomic */
	uint64_t start_ns;
	/*
	 * The core's ZooKeeper counters at the last srst (dp_admin_repl_counters'
	 * fields, in its order): mntr prints them less these, as ZooKeeper's
	 * default provider zeroes them.  Worker 0 stores, any worker reads
	 * (relaxed).
	 */
	uint64_t mntr_repl_base[10];
	struct nsstat *ns; /* per-namespace byte counts (dp_set_nsstat), or NULL */
	uint64_t start_wall_ms;
	uint32_t max_frame;      /* jute.maxbuffer */
	size_t out_bound;        /* max bytes queued behind the reply being sent */
	uint64_t tick_ns_half;   /* tickTime/2 in ns */

	/* The only mutable state of this layer that workers share. */
	pthread_mutex_t limits_lock;
	struct dp_ipcount **ip_buckets;
	uint32_t ip_nbuckets;
	uint32_t nconns;         /* atomic: open connections, all workers */
	/*
	 * File descriptors (conn.c "Limits"): connections beyond fd_cap
	 * are refused, so that fd_reserve descriptors stay free for the log,
	 * snapshots, peer links and four-letter words.  Set by dp_run.
	 */
	uint32_t fd_cap;
	uint32_t fd_reserve;
	uint64_t fd_limit;       /* RLIMIT_NOFILE at start */
	struct log_every fd_log; /* under limits_lock */

	/* Start-up handshake. */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	uint32_t nready;
	uint32_t nfailed;
	uint32_t nleft;          /* workers out of their loop (shutdown) */
};

/* ---- conn.c ---- */

/*
 * A new connection from the backend; refused (closed) when over a limit.
 * secure: it came to the secure client port (TLS from the first byte).
 */
void dp_conn_accepted(struct dp_worker *w, dp_io_handle h, const struct sockaddr_storage *peer,
		      bool secure);
/* Closes connections whose TLS handshake ran out of time; call every tick. */
void dp_conn_tls_tick(struct dp_worker *w, uint64_t now_ns);
/* Readiness on a connection. */
void dp_conn_io(struct dp_worker *w, uint32_t id, uint32_t what);
/* Writes every dirty connection's output; returns how many it wrote to. */
uint32_t dp_conn_flush_all(struct dp_worker *w);
/*
 * Frees the pooled output buffers no connection took since the last
 * call (those below the pool's low-water mark); call once per tick.
 */
void dp_conn_trim_pool(struct dp_worker *w);
/* Tells the layer above about closed connections and frees them. */
void dp_conn_reap(struct dp_worker *w, uint64_t now_ns);
/* Closes every connection at once (shutdown). */
void dp_conn_close_all(struct dp_worker *w);

/*
 * Descriptors kept free of client connections: the log (its directory,
 * the current file and the next one while rolling, replay and purge),
 * snapshots (directory walk, the file being written), the peer links of
 * an ensemble (election and quorum, in and out, per server) and their
 * listeners, and four-letter words (dirs walks directories, envi and
 * mntr read /proc) on every worker at once.
 */
#define DP_FD_RESERVE_BASE 32u
#define DP_FD_RESERVE_PER_SERVER 4u
#define DP_FD_RESERVE_PER_WORKER 8u

/* ---- limits.c ---- */

/* Limits, shared by all workers (maxCnxns, maxClientCnxns per IP). */
int dp_limits_init(struct dp *dp);
/*
 * Sizes fd_cap from RLIMIT_NOFILE, the descriptors open now (call once
 * the log and snapshots are open) and the reserve; logs the figures.
 * No bound (fd_cap UINT32_MAX) for a backend without DP_IO_CAP_CONN_FDS.
 * -EMFILE (logged) when the limit leaves no descriptor for clients.
 */
int dp_limits_fds(struct dp *dp);
void dp_limits_fini(struct dp *dp);
/*
 * Counts c (its peer address set) in; false when a limit refuses it (the
 * refusal logged, rate-limited, and counted in w->st.rejected).  The
 * worker's thread.
 */
bool dp_limits_admit(struct dp_worker *w, struct dp_conn *c);
/* Counts c out again (after dp_limits_admit said true). */
void dp_limits_release(struct dp_worker *w, struct dp_conn *c);

#endif
