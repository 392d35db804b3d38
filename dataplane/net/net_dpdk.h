/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_dpdk.h - the DPDK port of the user-space network stack: the EAL, one
 * ethdev port, and one net_port_ops queue pair per dataplane core.
 *
 * This header includes no DPDK header, so its users (the dpdk backend, the
 * tests) compile without DPDK's flags (-march, -include rte_config.h); only
 * net_dpdk.c does.
 *
 * Frames are copied between DPDK mbufs and the stack's own 2 KiB buffers
 * (struct net_pkt) in the burst functions; docs/ARCHITECTURE.md says why.
 *
 * Life cycle (all on one thread, the one that called net_dpdk_eal_init,
 * except the burst functions and counters of a queue, which belong to the
 * thread that owns that queue's stack):
 *
 *   net_dpdk_eal_init(argv)            once per process
 *   net_dpdk_port_open(&p, &cfg)       configure + start the ethdev
 *   for each queue q:
 *     net_stack_create(&st, &ncfg, net_dpdk_port_ops(p), net_dpdk_queue(p, q))
 *     net_dpdk_queue_bind(net_dpdk_queue(p, q), net_stack_pool(st))
 *   ... net_poll(st, now) on the queue's thread ...
 *   net_stack_destroy(st) for each queue (after the last poll)
 *   net_dpdk_port_close(p)             stop, close, free the mempools
 *   net_dpdk_eal_fini()
 */
#ifndef CHEETAH_NET_DPDK_H
#define CHEETAH_NET_DPDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

/* Starts the EAL with argv[0..argc) (argv[0] is not a program name: the
 * arguments start at argv[0], as cheetah.dpdk.eal's words do).  Once per
 * process (DPDK refuses a second init, even after net_dpdk_eal_fini).
 * Returns 0, or -EALREADY, -ENOMEM, or the EAL's error (negative errno,
 * -EINVAL when it gives none) with a one-line reason in err. */
int net_dpdk_eal_init(int argc, char *const argv[], char *err, size_t errlen);
/* The same from one string split on blanks (the rule cheetah.dpdk.eal
 * follows in config/). */
int net_dpdk_eal_init_str(const char *eal, char *err, size_t errlen);
/* Releases the EAL's resources (call after the last port is closed). */
void net_dpdk_eal_fini(void);
/* Ports the EAL probed and that can be opened. */
unsigned net_dpdk_port_count(void);

#define NET_DPDK_MAX_QUEUES 64u

struct net_dpdk_port_cfg {
	uint16_t port_id;  /* ethdev port id, 0 for the first probed device */
	uint16_t n_queues; /* RX/TX queue pairs, one per dataplane core; 0: 1 */
	uint16_t nb_rxd;   /* descriptors per RX queue; 0: 1024 */
	uint16_t nb_txd;   /* descriptors per TX queue; 0: 1024 */
	uint32_t n_mbufs;  /* mbufs per queue's mempool; 0: sized from the rings */
	bool no_offload;   /* ignore the device's checksum offloads (tests) */
	bool no_tso;	   /* ignore the device's TCP segmentation offload */
};

/* Counters of one queue (owned by the queue's thread; a reader on another
 * thread sees a possibly torn but harmless snapshot). */
struct net_dpdk_stats {
	uint64_t rx_pkts, tx_pkts; /* frames handed to / accepted from the stack */
	uint64_t rx_nobuf;	   /* dropped: the stack's pool was empty */
	uint64_t rx_too_big;	   /* dropped: frame longer than NET_PKT_BUFSZ */
	uint64_t rx_csum_bad;	   /* frames the device flagged with a bad checksum */
	uint64_t tx_nombuf;	   /* not sent: the mempool was empty */
	uint64_t tx_full;	   /* not sent: the device's TX ring was full */
	uint64_t tx_bad;	   /* taken and dropped: rte_eth_tx_prepare refused it */
	uint64_t tx_tso;	   /* TSO super-segments among tx_pkts (tried) */
};

struct net_dpdk_port;
struct net_dpdk_queue;

/* Configures and starts port cfg->port_id with n_queues RX/TX pairs, one
 * mempool per queue (on the port's NUMA socket), the checksum offloads the
 * device offers (unless no_offload) and its TCP segmentation offload (unless
 * no_tso too), and RSS over IPv4/TCP with a
 * symmetric key when n_queues > 1 (the hash types the device offers; with
 * none, the device's own queue choice).  Returns 0, -ENODEV (no such port: the
 * EAL probed none, or a --vdev failed to probe), -EINVAL (more queues than
 * the device has), -ENOMEM, or the ethdev's error, with a one-line reason
 * in err. */
int net_dpdk_port_open(struct net_dpdk_port **out, const struct net_dpdk_port_cfg *cfg, char *err,
		       size_t errlen);
/* Stops and closes the port, frees its mempools and p.  Every stack on
 * its queues must be destroyed first.  NULL is ignored. */
void net_dpdk_port_close(struct net_dpdk_port *p);
/* The port's MAC address (for net_cfg.mac). */
void net_dpdk_port_mac(const struct net_dpdk_port *p, uint8_t mac[6]);
/* The operations for net_stack_create; caps tell the offloads in use. */
const struct net_port_ops *net_dpdk_port_ops(const struct net_dpdk_port *p);
/* Link state now (no wait): true when up; *mbps the speed (0: unknown). */
bool net_dpdk_port_link(const struct net_dpdk_port *p, uint32_t *mbps);
/* Whether TCP segmentation offload is on (the device offers it, and
 * neither no_tso nor no_offload). */
bool net_dpdk_port_tso(const struct net_dpdk_port *p);
/* The device's driver name ("net_af_packet", ...). */
const char *net_dpdk_port_driver(const struct net_dpdk_port *p);
uint16_t net_dpdk_port_queues(const struct net_dpdk_port *p);

/* Queue q (< net_dpdk_port_queues) of the port: the port_ctx to pass to
 * net_stack_create. */
struct net_dpdk_queue *net_dpdk_queue(struct net_dpdk_port *p, uint16_t q);
/* Gives the queue the pool it allocates received frames from (the stack's,
 * net_stack_pool); call before the first net_poll. */
void net_dpdk_queue_bind(struct net_dpdk_queue *q, struct net_pool *pool);
const struct net_dpdk_stats *net_dpdk_queue_stats(const struct net_dpdk_queue *q);
/* mbufs of the queue's mempool that are out of it (in the device's rings,
 * or leaked); per-core caches count as in the pool.  Tests check that it
 * returns to its start value. */
unsigned net_dpdk_queue_mbufs_in_use(const struct net_dpdk_queue *q);

#endif
