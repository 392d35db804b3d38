/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DigestAuthenticationProvider's identity: "user:base64(sha1(user:password))",
 * for the "digest" scheme of auth packets and the superDigest check.  The
 * SHA-1 (FIPS 180-4) and base64 (RFC 4648, with padding) here are the
 * minimum that one needs; the password bytes are hashed as Java's
 * String.getBytes() re-encodes them (bad UTF-8 becomes U+FFFD), so an
 * identity matches the one ZooKeeper computes for the same bytes.
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

/* ================================================================== */
/* Digest authentication (DigestAuthenticationProvider)                */
/* ================================================================== */

/* SHA-1 (FIPS 180-4). */
struct sha1 {
	uint32_t h[5];
	uint64_t len;
	uint8_t buf[64];
	uint32_t n;
};

static inline uint32_t rol(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

static void sha1_block(struct sha1 *c, const uint8_t *p)
{
	uint32_t w[80], a = c->h[0], b = c->h[1], d = c->h[3], e = c->h[4], cc = c->h[2];

	for (int i = 0; i < 16; i++)
		w[i] = jute_be32(p + 4 * i);
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;
		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ cc ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = rol(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

static void sha1_init(struct sha1 *c)
{
	static const uint32_t iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
					0xc3d2e1f0 };

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->n = 0;
}

static void sha1_update(struct sha1 *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	c->len += len;
	while (len) {
		size_t k = 64 - c->n < len ? 64 - c->n : len;
		memcpy(c->buf + c->n, p, k);
		c->n += (uint32_t)k;
		p += k;
		len -= k;
		if (c->n == 64) {
			sha1_block(c, c->buf);
			c->n = 0;
		}
	}
}

static void sha1_final(struct sha1 *c, uint8_t out[20])
{
	uint64_t bits = c->len * 8;
	uint8_t pad = 0x80, zero = 0, lenb[8];

	sha1_update(c, &pad, 1);
	while (c->n != 56)
		sha1_update(c, &zero, 1);
	jute_put_be64(lenb, bits);
	sha1_update(c, lenb, 8);
	for (int i = 0; i < 5; i++)
		jute_put_be32(out + 4 * i, c->h[i]);
}

/* Base64 with '=' padding, as DigestAuthenticationProvider.base64Encode. */
static size_t base64(const uint8_t *in, size_t n, char *out)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	return o;
}

/*
 * new String(bytes, UTF_8).getBytes(UTF_8): each maximal ill-formed
 * subsequence becomes U+FFFD (EF BF BD), as Java's decoder replaces it.
 * out must hold 3 * len bytes.
 */
static size_t java_utf8(const uint8_t *p, size_t len, uint8_t *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		uint8_t b = p[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t need, k;

		if (b < 0x80) {
			out[o++] = b;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			if (b == 0xe0)
				lo = 0xa0;
			else if (b == 0xed)
				hi = 0x9f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			if (b == 0xf0)
				lo = 0x90;
			else if (b == 0xf4)
				hi = 0x8f;
		} else {
			need = 0;
		}
		for (k = 0; need && k < need; k++) {
			size_t j = i + 1 + k;
			uint8_t l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xbf;
			if (j >= len || p[j] < l || p[j] > h)
				break;
		}
		if (need && k == need) {
			memcpy(out + o, p + i, need + 1);
			o += need + 1;
			i += need + 1;
		} else {
			out[o++] = 0xef;
			out[o++] = 0xbf;
			out[o++] = 0xbd;
			i += 1 + k; /* the lead byte and the valid continuation bytes */
		}
	}
	return o;
}

size_t dp_digest_id(const uint8_t *auth, size_t len, char *out)
{
	uint8_t *norm = malloc(len * 3 + 1), md[20];
	const uint8_t *colon;
	struct sha1 c;
	size_t n, user;

	if (!norm)
		return 0;
	n = java_utf8(auth, len, norm);
	/* generateDigest: idPassword.split(":", 2)[0] + ":" + base64(sha1(idPassword)) */
	colon = memchr(norm, ':', n);
	user = colon ? (size_t)(colon - norm) : n;
	sha1_init(&c);
	sha1_update(&c, norm, n);
	sha1_final(&c, md);
	memcpy(out, norm, user);
	out[user] = ':';
	n = user + 1 + base64(md, sizeof(md), out + user + 1);
	free(norm);
	return n;
}
