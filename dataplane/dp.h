/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dataplane: I/O backends (sock, dpdk), connections and sessions as the
 * client sees them, serving reads, watches, four-letter words.  Only the
 * build-time facts exist so far; the backends come with the server.
 */
#ifndef CHEETAH_DATAPLANE_DP_H
#define CHEETAH_DATAPLANE_DP_H

/* The DPDK release the dpdk backend is compiled against ("DPDK 22.11.11"). */
const char *dp_dpdk_version(void);

#endif
