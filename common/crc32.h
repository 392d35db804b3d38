/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC-32 (ISO-HDLC / IEEE 802.3, reflected polynomial 0xedb88320): the
 * same values as zlib's crc32(), which ZooKeeper's DigestCalculator uses
 * (java.util.zip.CRC32) and so the tree digest must too.  Carry-less
 * multiplication (PCLMULQDQ) on x86-64, slicing-by-8 tables elsewhere;
 * both are checked against the standard check value ("123456789" ->
 * 0xcbf43926) and each other once per process, and the table version is
 * used if the PCLMULQDQ one fails.
 *
 * For Cheetah's own checksums use crc32c (common/crc32c.h), not this.
 *
 * Thread-safe: the tables and folding constants are built once
 * (pthread_once) on first use.
 */
#ifndef CHEETAH_COMMON_CRC32_H
#define CHEETAH_COMMON_CRC32_H

#include <stddef.h>
#include <stdint.h>

/*
 * The CRC-32 of buf[0..n) continued from crc, exactly zlib's
 * crc32(crc, buf, n): crc32_ieee(0, ...) starts a checksum and
 * crc32_ieee(crc32_ieee(0, a, na), b, nb) == crc32_ieee(0, a||b, na + nb).
 * buf may be NULL when n is 0.
 */
uint32_t crc32_ieee(uint32_t crc, const void *buf, size_t n);

/* The table (portable) implementation, same contract; for tests. */
uint32_t crc32_ieee_portable(uint32_t crc, const void *buf, size_t n);

#endif
