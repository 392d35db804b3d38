/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin layer: ZooKeeper's four-letter words on the client port,
 * above the I/O layer (io/io.h) and the protocol layer (session.h).
 *
 * It is the layer the I/O layer calls (struct dp_upper_ops): it looks at
 * each connection's first 4 bytes for a word and answers it, passes
 * every other connection, frame and worker-loop turn on to the protocol
 * layer (dp_proto_*), and runs its own per-worker mailbox, through which
 * a word asked on one worker gathers every worker's part (fourlw.c).
 *
 * Thread: the hooks run where struct dp_upper_ops says.
 */
#ifndef CHEETAH_DATAPLANE_ADMIN_ADMIN_H
#define CHEETAH_DATAPLANE_ADMIN_ADMIN_H

#include "dataplane/io/io.h"

/*
 * A chunked answer (wchc, wchp, cons, stat, dump) is produced about
 * DP_4LW_CHUNK bytes at a time, while fewer than DP_STREAM_LOW_WATER
 * (io.h) bytes wait to be written.
 */
#define DP_4LW_CHUNK (64u * 1024)

/* The table dp_open gives the I/O layer (dataplane/dp.c). */
extern const struct dp_upper_ops dp_admin_upper;

#endif
