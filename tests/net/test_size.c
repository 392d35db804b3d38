/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_size_for: the dpdk backend sizes each worker's stack from the
 * connections it must hold (cheetah.dpdk.max_connections).  The sizes must
 * leave room for every connection plus its close, keep the packet pool
 * within its 16-bit index, and a stack created with them must hold that
 * many control blocks.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "dataplane/net/net.h"
#include "net_test.h"

Test(size, rejects_zero_and_too_many)
{
	struct net_size sz;

	cr_assert_eq(net_size_for(0, &sz), -EINVAL);
	cr_assert_eq(net_size_for(NET_SIZE_MAX_CONNS + 1, &sz), -EINVAL);
	cr_assert_eq(net_size_for(NET_SIZE_MAX_CONNS, &sz), 0);
	cr_assert_leq(sz.pool_size, 65535u);
}

Test(size, control_blocks_exceed_connections)
{
	static const uint32_t conns[] = {1, 1024, 8191, 8192, 14000, 20000, 32768, 65536};

	for (unsigned i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
		struct net_size sz;

		cr_assert_eq(net_size_for(conns[i], &sz), 0);
		/* Every connection, a quarter more closing, and the listener. */
		cr_assert_geq(sz.max_socks, conns[i] + conns[i] / 4 + 1, "conns %u", conns[i]);
		cr_assert_geq(sz.pool_size, NET_SIZE_POOL_MIN);
		cr_assert_leq(sz.pool_size, 65535u);
		cr_assert_gt(sz.bytes, (uint64_t)sz.pool_size * NET_PKT_BUFSZ);
	}
}

Test(size, pool_grows_with_connections)
{
	struct net_size a, b, c;

	cr_assert_eq(net_size_for(1000, &a), 0);
	cr_assert_eq(net_size_for(20000, &b), 0);
	cr_assert_eq(net_size_for(200000, &c), 0);
	cr_assert_eq(a.pool_size, NET_SIZE_POOL_MIN);
	cr_assert_gt(b.pool_size, NET_SIZE_POOL_MIN); /* the old fixed 8192 was too few */
	cr_assert_eq(c.pool_size, 65535u);
	cr_assert_gt(b.max_socks, 20000u);
}

/* The old fixed limit was 8192 control blocks: a stack sized for 20000
 * connections must hand out more than that, and no more than it was
 * sized for. */
static struct net_size sz20k;

static void cfg_20k(struct net_cfg *c)
{
	c->max_socks = sz20k.max_socks;
	c->pool_size = sz20k.pool_size;
}

Test(size, stack_holds_its_control_blocks, .fini = nt_fini)
{
	struct net_sock **so;
	uint32_t n = 0;

	cr_assert_eq(net_size_for(20000, &sz20k), 0);
	nt_setup(cfg_20k);
	so = calloc(sz20k.max_socks + 1, sizeof(*so));
	cr_assert_not_null(so);
	for (uint32_t port = 1; port <= 65535 && n <= sz20k.max_socks; port++) {
		if (net_listen(nt.s, (uint16_t)port, 1, &so[n]) != 0)
			break;
		n++;
	}
	cr_assert_eq(n, sz20k.max_socks, "got %u of %u control blocks", n, sz20k.max_socks);
	cr_assert_eq(net_stack_socks_in_use(nt.s), sz20k.max_socks);
	for (uint32_t i = 0; i < n; i++)
		net_close(so[i], nt.now);
	free(so);
	nt_check_no_leaks();
}
