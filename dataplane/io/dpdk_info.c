/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Build facts about the DPDK backend.  Kept apart from protocol code so
 * only this file (and later dpdk.c) sees DPDK headers and their
 * -march/-include flags.
 */
#include <rte_version.h>

#include "dataplane/dp.h"

const char *dp_dpdk_version(void)
{
	return rte_version();
}
