/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78): the one checksum
 * of Cheetah's own storage and wire framing (snapshots, the transaction
 * log from format 2 on, the hard-state file, peer frames).  Hardware on
 * x86-64 (SSE4.2), slicing-by-8 tables elsewhere; both are checked
 * against the standard check value ("123456789" -> 0xe3069283) once per
 * process and the table version is used if the hardware one fails.
 *
 * Not ZooKeeper's CRC32 (zlib's, the tree digest: part of the protocol).
 *
 * Thread-safe: the tables are built once (pthread_once) on first use.
 */
#ifndef CHEETAH_COMMON_CRC32C_H
#define CHEETAH_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * The CRC-32C of buf[0..n) continued from crc: crc32c(0, ...) starts a
 * checksum, crc32c(crc32c(0, a, na), b, nb) == crc32c(0, a||b, na + nb)
 * (zlib's crc32 convention).  buf may be NULL when n is 0.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t n);

/* The table (portable) implementation, same contract; for tests. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t n);

#endif
