/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dataplane: everything between the wire and a decoded request.
 *
 * One worker thread per configured core (cheetah.dataplane.cores; one
 * worker when none is set), each pinned to its core when cores are
 * configured.  A worker owns its connections, their sessions' wire state
 * and their watches; it talks to the broadcast core only through its pair
 * of rings (replication/repl.h) and serves reads from the tree under RCU
 * (it is a QSBR reader: it announces a quiescent state once per loop and
 * goes offline while it sleeps in the kernel).
 *
 * The I/O backend is chosen by name from cfg->dataplane at start-up
 * (io/io_priv.h): "sock" (kernel TCP, epoll, one SO_REUSEPORT listener per
 * worker) is built; "dpdk" is refused with a clear error until its
 * backend exists.
 *
 * Life cycle, from the main thread:
 *
 *	dp_open(cfg, &dp);                    binds (a taken port fails here)
 *	repl_open(&{cfg, dp_worker_count(cfg), ...}, &repl);
 *	dp_run(dp, repl);                     starts the workers
 *	repl_start(repl);
 *	... serve until SIGTERM ...
 *	dp_stop(dp);                          closes connections, joins
 *	repl_stop(repl);
 */
#ifndef CHEETAH_DATAPLANE_DP_H
#define CHEETAH_DATAPLANE_DP_H

#include <stddef.h>
#include <stdint.h>

struct cfg;
struct repl;
struct dp;
struct tree;
struct repl_write;
struct repl_read_out;
struct nsstat;
struct nsstat_tab;

struct dp_opts {
	const struct cfg *cfg; /* finalized; must outlive the dataplane */
	struct repl *repl;     /* opened with dp_worker_count(cfg) workers */
};

/* What dp_core_read is given (repl_opts.read_ctx). */
struct dp_core_read_ctx {
	const struct cfg *cfg;	  /* finalized */
	struct nsstat_tab *reads; /* read_per_namespace of the core's reads, or NULL */
};

/*
 * The broadcast core's reader (repl_opts.read_exec, ctx: a struct
 * dp_core_read_ctx that outlives the core): runs the reads of a REPL_IN_READ on t, in order, exactly as a
 * worker would for the same session (session/read.c), collecting the watches
 * they set instead of registering them, into one answer (an answer per
 * read; a read it cannot decode gets ZK_MARSHALLINGERROR, one it runs
 * out of memory on ZK_SYSTEMERROR, in its own answer).  Returns ZK_OK
 * with *out, ZK_MARSHALLINGERROR for a message without reads,
 * ZK_SYSTEMERROR when out of memory for the answer.  The core's thread
 * (an online RCU reader).
 */
int dp_core_read(void *ctx, struct tree *t, const struct repl_write *req,
		 struct repl_read_out **out);

/* Number of workers the configuration asks for (>= 1). */
uint32_t dp_worker_count(const struct cfg *cfg);

/*
 * Checks, without binding anything, that the configured backend is built
 * (main calls it before touching the data directory).  Returns 0 or
 * -EPROTONOSUPPORT, logged.
 */
int dp_check(const struct cfg *cfg);

/*
 * dp_open then dp_run: the usual start-up.  Returns 0 or a negative
 * errno (see both); nothing is left running or allocated on failure.
 */
int dp_start(const struct dp_opts *opts, struct dp **out);

/*
 * First half of dp_start, before the broadcast core exists: chooses the
 * backend and binds clientPortAddress:clientPort on every worker (port 0:
 * an ephemeral port, see dp_port), so that a taken port is reported
 * before the data directory is touched (ZooKeeper binds first too).
 * Connections wait in the kernel's backlog until dp_run.  Returns 0 or a
 * negative errno, logged once with its cause: -EPROTONOSUPPORT (backend
 * not built), -EADDRINUSE (the port is served by another process),
 * -EADDRNOTAVAIL (clientPortAddress), -ENOMEM, or the errno of the
 * failing socket call; nothing is left allocated then.  Main thread.
 */
int dp_open(const struct cfg *cfg, struct dp **out);

/*
 * Second half: registers each worker's wakeup with the core (its rings
 * exist: repl_open was called with dp_worker_count workers), starts the
 * workers and returns once every one serves.  Returns 0, -EINVAL (a
 * worker could not be pinned to its core or create its protocol state;
 * logged) or the errno of pthread_create; the workers are stopped then
 * and dp_stop frees the rest.  Main thread, before repl_start.
 */
int dp_run(struct dp *dp, struct repl *repl);

/*
 * The per-namespace byte counts (common/nsstat.h) the workers count
 * their reads in (a read table each, made as they start) and that mntr,
 * srst and dp_stats_snapshot read; NULL (the default): not counted.
 * Main thread, before dp_run; ns must outlive dp_stop.
 */
void dp_set_nsstat(struct dp *dp, struct nsstat *ns);

/* The TCP port the workers listen on (the real one when clientPort=0). */
uint16_t dp_port(const struct dp *dp);
/* The secure client port as bound (TLS; secureClientPort), 0 when none. */
uint16_t dp_secure_port(const struct dp *dp);
uint32_t dp_nworkers(const struct dp *dp);
/* The backend's name ("sock"). */
const char *dp_backend(const struct dp *dp);

/*
 * SASL on the client port (session/sasl.c): reads the JAAS file and sets
 * up Cyrus SASL for the configured mechanism (DIGEST-MD5 or GSSAPI).
 * Returns 0 (also when no SASL is configured), -EINVAL with a message in
 * err (a bad JAAS file, a missing section named by
 * zookeeper.sasl.serverconfig, a bad principal or an unreadable keyTab,
 * bad auth_to_local rules), or -ENOMEM.  Main thread, before dp_run;
 * dp_sasl_fini after dp_stop.
 */
int dp_sasl_init(const struct cfg *cfg, char *err, size_t errlen);
void dp_sasl_fini(void);

/*
 * Stops every worker: each closes its connections (the protocol layer
 * sees dp_proto_closed for each), frees its protocol state and exits;
 * joins them and frees the dataplane (also after dp_open alone, or a
 * failed dp_run).  It unregisters the wakeups (repl_set_worker_wakeup
 * -1) before closing the eventfds.  After it returns no worker pushes
 * to a ring any more, so the core may be stopped.  Main thread only.
 */
void dp_stop(struct dp *dp);

/*
 * For the AdminServer (adminserver/): the text of a four-letter word
 * answered on the spot (ruok isro gtmk srvr mntr conf envi dirs hash)
 * exactly as the client port answers it, whatever 4lw.commands.whitelist
 * says; and "ensemble", no word: the member's role, leader and synced
 * observers (admin_priv.h's dp_admin_ensemble).  Returns 0 with *out (malloc'd, NUL-terminated, the caller frees)
 * and *len (without the NUL), -ENOENT for another word, -EAGAIN when the
 * word needs a serving server and this one is not (looking), -ENOMEM.  Any
 * thread registered as an RCU (QSBR) reader, online or offline (it is
 * online while it reads the tree, and returns in the state it found),
 * between dp_run and dp_stop; it takes no lock a worker or the broadcast
 * core waits on.
 */
int dp_admin_text(struct dp *dp, const char *word, char **out, size_t *len);

/*
 * For the AdminServer: the text of a word that needs every worker's part
 * (wchs, crst, srst at once; wchc, wchp a 64 KiB chunk at a time, at most
 * 32 MiB in all, else -E2BIG) exactly as the client port answers it; crst
 * and srst reset the counters as they do there.  Each worker builds its
 * part on its own thread, between two turns of its loop, as for a
 * client's word; the caller waits for each answer at most 5 s.  Returns
 * as dp_admin_text, or -ETIMEDOUT, -E2BIG.  Any thread but a worker's or the
 * broadcast core's, between dp_run and dp_stop.
 */
int dp_admin_gather_text(struct dp *dp, const char *word, char **out, size_t *len);

/* The DPDK release the dpdk backend is compiled against ("DPDK 22.11.11"). */
const char *dp_dpdk_version(void);

#endif
