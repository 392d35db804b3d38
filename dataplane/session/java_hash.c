/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Java hash-order emulation.  Several answers list things in the order a
 * Java hash map iterates them (ServerCnxn.authInfo for whoAmI and the
 * "auth" ACL expansion; DataTree.ephemerals and its per-session path sets
 * for dump), and clients and tests compare those lists with ZooKeeper's
 * byte for byte.  The order is bin order: bin = spread(hashCode) &
 * (table - 1), the table starting at 16 and doubling past 3/4 full, so
 * what is needed is String.hashCode (over UTF-16 code units, decoding
 * UTF-8 as Java does), Long.hashCode, jute's Id.hashCode and the table
 * sizing rules of ConcurrentHashMap and HashSet.  Also InetAddress's text
 * form of an address, which the "ip" identity and cons print.
 *
 * Thread: any; no state.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ring.h"
#include "config/config.h"
#include "dataplane/session/session_priv.h"

int32_t dp_java_string_hash(struct jute_buf b)
{
	uint32_t h = 0;

	/* String.hashCode over UTF-16 code units; bad UTF-8 is U+FFFD, as Java decodes it. */
	for (int32_t i = 0; i < b.len;) {
		uint32_t c = b.p[i], need = 0, cp;

		if (c < 0x80)
			need = 0, cp = c;
		else if ((c & 0xe0) == 0xc0)
			need = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			need = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			need = 3, cp = c & 0x07;
		else
			need = UINT32_MAX, cp = 0xfffd;
		i++;
		for (uint32_t k = 0; need != UINT32_MAX && k < need; k++, i++) {
			if (i >= b.len || (b.p[i] & 0xc0) != 0x80) {
				cp = 0xfffd;
				break;
			}
			cp = cp << 6 | (b.p[i] & 0x3f);
		}
		if (cp > 0xffff) {
			cp -= 0x10000;
			h = 31 * h + (0xd800 + (cp >> 10));
			h = 31 * h + (0xdc00 + (cp & 0x3ff));
		} else {
			h = 31 * h + cp;
		}
	}
	return (int32_t)h;
}

/* Jute's generated Id.hashCode(). */
static uint32_t id_hash(const struct tree_auth_id *a)
{
	uint32_t r = 17;

	r = 37 * r + (uint32_t)dp_java_string_hash(a->scheme);
	r = 37 * r + (uint32_t)dp_java_string_hash(a->id);
	return r;
}

uint32_t dp_java_chm_bin(const struct tree_auth_id *a, uint32_t table)
{
	uint32_t h = id_hash(a);

	return ((h ^ (h >> 16)) & 0x7fffffff) & (table - 1);
}

/*
 * The peer address as Java's InetAddress.getHostAddress() prints it:
 * dotted quad for IPv4 (and IPv4-mapped IPv6), eight uncompressed
 * lowercase groups for IPv6.
 */
void dp_java_host_address(const char *ip, char *out, size_t cap)
{
	struct in6_addr a6;

	snprintf(out, cap, "%s", ip ? ip : "");
	if (!ip || !strchr(ip, ':') || inet_pton(AF_INET6, ip, &a6) != 1)
		return;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)cap);
		return;
	}
	snprintf(out, cap, "%x:%x:%x:%x:%x:%x:%x:%x", a6.s6_addr[0] << 8 | a6.s6_addr[1],
		 a6.s6_addr[2] << 8 | a6.s6_addr[3], a6.s6_addr[4] << 8 | a6.s6_addr[5],
		 a6.s6_addr[6] << 8 | a6.s6_addr[7], a6.s6_addr[8] << 8 | a6.s6_addr[9],
		 a6.s6_addr[10] << 8 | a6.s6_addr[11], a6.s6_addr[12] << 8 | a6.s6_addr[13],
		 a6.s6_addr[14] << 8 | a6.s6_addr[15]);
}

uint32_t dp_java_spread(uint32_t h)
{
	return (h ^ (h >> 16)) & 0x7fffffff;
}

uint32_t dp_java_long_bin(int64_t id, uint32_t table)
{
	uint64_t v = (uint64_t)id;

	return dp_java_spread((uint32_t)(v ^ (v >> 32))) & (table - 1);
}

uint32_t dp_java_chm_table(uint32_t count)
{
	uint32_t table = 16;

	while (table < (1u << 30) && count >= table - table / 4)
		table *= 2;
	return table;
}

uint32_t dp_java_hash_set_table(uint32_t count)
{
	uint32_t table = 16;

	while (table < (1u << 30) && count > table / 4 * 3)
		table *= 2;
	return table;
}
