/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation of SPSC rings; the fast paths are inline in ring.h. */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>

int ring_init(struct ring *r, uint32_t count, uint32_t esize)
{
	if (count < 2 || (count & (count - 1)) || esize == 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->slots = aligned_alloc(RING_CACHE_LINE,
				 ((size_t)count * esize + RING_CACHE_LINE - 1) & ~(size_t)(RING_CACHE_LINE - 1));
	if (!r->slots)
		return -ENOMEM;
	r->mask = count - 1;
	r->esize = esize;
	return 0;
}

void ring_fini(struct ring *r)
{
	free(r->slots);
	r->slots = NULL;
}
