/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) with the standard
 * initial value and final xor folded in: crc32c(0, "123456789", 9) ==
 * 0xE3069283, and crc32c(crc32c(0, a, n), b, m) == crc32c(0, a||b, n+m),
 * so a frame can be summed in pieces.  Pure function, any thread.
 */
#ifndef CHEETAH_COMMON_CRC32C_H
#define CHEETAH_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Returns the CRC32C of buf[0..len) continuing from crc (0 to start). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
