/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dataplane as main sees it (dp.h): the I/O layer (io/) with the
 * admin layer (admin/) above it, which passes frames on to the protocol
 * layer (session/).  This file only puts them together and registers
 * the workers' wakeups with the broadcast core, the one thing that
 * concerns both the I/O layer (its eventfds) and the core: the core
 * writes a worker's eventfd after pushing to its ring.  The wakeups are
 * registered before the workers start and unregistered after they
 * stopped and before their eventfds are closed.
 *
 * Thread: the main thread.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "dataplane/admin/admin.h"
#include "dataplane/dp.h"
#include "dataplane/io/io.h"
#include "dataplane/io/io_priv.h"
#include "replication/repl.h"

int dp_open(const struct cfg *cfg, struct dp **out)
{
	return dp_io_open(cfg, &dp_admin_upper, out);
}

static void set_wakeups(struct dp *dp, struct repl *repl, bool on)
{
	for (uint32_t i = 0; i < dp_nworkers(dp); i++) {
		int fd = dp_io_wake_fd(dp, i);

		if (fd >= 0)
			repl_set_worker_wakeup(repl, i, on ? fd : -1);
	}
}

int dp_run(struct dp *dp, struct repl *repl)
{
	int ret = dp_io_prepare(dp, repl);

	if (ret)
		return ret;
	set_wakeups(dp, repl, true);
	return dp_io_start(dp);
}

void dp_set_nsstat(struct dp *dp, struct nsstat *ns)
{
	assert(dp);
	dp->ns = ns;
}

int dp_start(const struct dp_opts *opts, struct dp **out)
{
	struct dp *dp;
	int ret = dp_open(opts->cfg, &dp);

	if (ret)
		return ret;
	ret = dp_run(dp, opts->repl);
	if (ret) {
		dp_stop(dp);
		return ret;
	}
	*out = dp;
	return 0;
}

void dp_stop(struct dp *dp)
{
	if (!dp)
		return;
	dp_io_stop_threads(dp);
	if (dp_io_repl(dp))
		set_wakeups(dp, dp_io_repl(dp), false);
	dp_io_free(dp);
}
