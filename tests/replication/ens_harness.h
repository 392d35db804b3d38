/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The step-by-step ensemble harness: three ensemble members (repl.c +
 * ensemble.c + raft, the real code) in one process, driven step by step
 * on a simulated clock.  Shared by the scripted tests (test_ensemble.c)
 * and the randomized driver (test_ensrand.c).
 *
 * The seams (nothing in the code under test changes for them):
 *   - the peer transport (replication/peer/peer.h) is this harness's: a
 *     network of FIFO links the test cuts and heals (each direction on
 *     its own), frames delivered when the receiver polls; the
 *     executable's peer_* definitions are the ones the library's calls
 *     bind to (peer.c is not linked);
 *   - time: each member has its own clock, given to repl_step() and
 *     returned by clock_gettime(CLOCK_MONOTONIC) while that member
 *     steps (the harness's definition: the code's few direct clock
 *     reads see the member's time);
 *   - getrandom() is the harness's: the same seeds every run, so
 *     elections come out the same (rnd_state);
 *   - each member has one worker whose rings the test reads and writes
 *     (a fake dataplane); its reads (REPL_IN_READ) run through
 *     harness_read_exec;
 *   - the log's writer thread writes (pwrite to a log.* file, the
 *     harness's pwrite) only between steps, when step() waits until
 *     the member's log is durable: no durability shows in the middle of
 *     a step, so the thread's speed decides nothing;
 *   - a live install's loader thread (ensemble.c, install_begin): a
 *     member's step first waits until its loader is done, so the swap
 *     comes in the member's step after the one that started the load;
 *     the log is the loader's meanwhile, step() leaves it alone.
 * So a run's path is the script's (the same elections, zxids and
 * answers every run), but for the members' own snapshots (snapdir's
 * thread), left to real time: a test that wants them waits with short
 * sleeps between rounds.  Every loop is bounded by a round count.
 *
 * The test file declares its suite with .init = setup, .fini = teardown.
 * Everything runs on the test's one thread (registered with RCU).
 */
#ifndef CHEETAH_TESTS_ENS_HARNESS_H
#define CHEETAH_TESTS_ENS_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "replication/repl.h"

struct stat;
struct FTW;

#define N 3
#define TICK_TIME 100		   /* ms: raft's tick is 50 ms */
#define SILENCE_MS (5 * TICK_TIME) /* syncLimit ticks: ensemble.c's silence_ms */

/* Frame types of ensemble.c (its enum frame_type), its forwarded-write kind. */
#define F_RAFT 1
#define F_REQ 2
#define F_ANS 3
#define FK_WRITE 1

/* repl.c's RING_SIZE: messages each worker ring holds. */
#define RING_SIZE_TEST 4096u

/* ---- The network ---- */

struct frame {
	struct frame *next;
	uint32_t from, to;
	uint16_t type;
	size_t len;
	uint8_t data[];
};

extern struct peer *P[N + 1];
extern bool link_up[N + 1][N + 1]; /* [from][to]: frames from -> to pass */
extern struct frame *fq_head, **fq_tail;
/* Frames of type cut_type from cut_from to cut_to: the first one passes, the link breaks after it. */
extern uint32_t cut_from, cut_to;
extern uint16_t cut_type;
extern uint32_t bad_answers; /* F_ANS naming a zxid not in its sender's log */
/* One step of member late_to: its first peer_poll finds nothing (ensemble.c's late poll reads). */
extern uint32_t late_to, late_polls;
/*
 * Called for every frame a member sends with peer_send, queued or
 * refused (its link down), with the sender's state as it is when it
 * sends; NULL: none.  The randomized driver watches the leader's
 * answers with it.
 */
extern void (*frame_sent_hook)(const struct frame *f);
/* Called before (after false) and after (true) member f->to handles frame f; NULL: none. */
extern void (*frame_recv_hook)(const struct frame *f, bool after);

/* Drops what is queued on from -> to (a broken link loses its queue). */
void drop_queued(uint32_t from, uint32_t to);
/* Every link of member i, both ways, up or down (down: their queues lost). */
void set_links(uint32_t i, bool up);
/* Whether a frame waits for member i on a live link (its peer fd would wake it). */
bool frames_for(uint32_t i);
/* The frames of type queued from -> to. */
uint32_t frames_of(uint32_t from, uint32_t to, uint16_t type);

/* ---- The members ---- */

struct member {
	struct repl *r;
	struct cfg cfg;
	int64_t now_ms;
	bool paused; /* not stepped (SIGSTOP) */
	int wake;
	/* What its worker received, in ring order (repl_out, bodies kept). */
	struct repl_out *out;
	uint32_t nout, out_cap;
};

extern struct member M[N + 1];
extern char tdir[512];		  /* the test's directory: member i's data dir is tdir/m<i> */
extern uint64_t rnd_state;	  /* getrandom()'s state */
extern int64_t fake_ns;		  /* what CLOCK_MONOTONIC says now (0: the real clock) */
extern const char *restore_src;	  /* member_open copies its files into <dataDir>/cheetah-1 */
extern uint32_t obs_id;		  /* the member listed as an observer, 0: none */

void setup(void);
void teardown(void);
int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw);
struct repl *repl_of(uint32_t id);
/*
 * Opens member i on tdir/m<i> (made if missing: a member reopened finds
 * its data there), with zoo.cfg lines extra (NULL-terminated, or NULL).
 */
void member_open(uint32_t i, const char *const *extra);
/* Every link up, every member opened. */
void cluster_open(const char *const *extra);
/* Stops member i (a clean shutdown: it is not started, nothing drains); its clock stays. */
void member_close(uint32_t i);

/* Takes what member i's worker got (the worker's side of a tree switch too). */
void collect(uint32_t i);
/* Called before (after false) and after (true, its output collected) every step; NULL: none. */
extern void (*step_hook)(uint32_t i, bool after);
/* One step of member i at its clock, its log then made durable; returns the step's work. */
uint32_t step(uint32_t i);
/* Steps member i at its clock until it would sleep (core_main at one instant); returns the steps. */
uint32_t settle(uint32_t i);
/* The network at one instant, no clock moving: settles every member a frame waits for. */
void deliver(void);
/* rounds rounds: every member not paused advances ms, then steps, in id order. */
void run(uint32_t rounds, int64_t ms);
bool is_state(uint32_t i, const char *s);
/* Runs until one member leads and the others not paused follow (or observe); returns it. */
uint32_t elect(void);
/* The other member than a (and b, when given). */
uint32_t other(uint32_t a, uint32_t b);

/* ---- The fake worker ---- */

void push(uint32_t i, uint8_t kind, uint32_t conn, int32_t xid, int64_t session, void *body);
/* The index in member i's first answer (result, read, connect, close) at or after from for conn, or -1. */
int find_out(uint32_t i, uint32_t from, uint32_t conn);
/* Runs until member i's worker got an answer for conn after message from. */
struct repl_out *wait_out(uint32_t i, uint32_t from, uint32_t conn);
/* A new session through member i's connection conn; 0 when refused. */
int64_t connect_new(uint32_t i, uint32_t conn, bool read_only);
/* world:anyone, all permissions, in jute encoding (at most 64 bytes). */
size_t put_world_acl(uint8_t *p);
/* A create of path (persistent, no data) through member i's connection conn. */
void push_create(uint32_t i, uint32_t conn, int32_t xid, int64_t session, const char *path);
/* A read of path's child count (REPL_IN_READ, run by harness_read_exec) through member i's conn. */
void push_read(uint32_t i, uint32_t conn, int32_t xid, int64_t session, const char *path);
/* A REPL_OUT_RESULT's error (the first op's for a write). */
int32_t result_err(const struct repl_out *o);
bool exists(uint32_t i, const char *path);
/* A create /<path>'s F_REQ frame from -> to, as a follower forwards it. */
void inject_create(uint32_t from, uint32_t to, int64_t session, int32_t xid, const char *path);
/* The F_ANS frames queued from -> to for session with err, counted; *min_xid their least cxid. */
uint32_t answers_of(uint32_t from, uint32_t to, int64_t session, int32_t err, int32_t *min_xid);

/*
 * The harness's repl_opts.read_exec: each read's frame (repl_write_data)
 * is a path; its answer is one frame of 4 bytes, the path's child count
 * where the core runs the read (0xffffffff: no such node), and the
 * answer's zxid is the tree's last applied zxid.
 */
int harness_read_exec(void *ctx, struct tree *t, const struct repl_write *req,
		      struct repl_read_out **out);

#endif
