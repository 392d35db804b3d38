/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node memory: znodes of up to NSLAB_MAX bytes carved at 8-byte
 * granularity from 64 KiB chunks, one chunk list per size.
 *
 * Why: jemalloc rounds 129-256 bytes up to 32-byte steps (160, 192, 224,
 * 256), so a znode of 184 bytes takes 192 and one of 200 takes 224; and
 * it keeps a 128-byte extent record per slab of a few pages.  A
 * million-znode tree pays both a million times.  Here a region is the
 * node's size rounded up to 8, and a chunk's 64-byte header is all the
 * bookkeeping for some 300 nodes.
 *
 * A chunk (64 KiB, 64 KiB-aligned, so a region finds its chunk by
 * masking) holds regions of one size: never-used ones from a bump offset,
 * freed ones on a list through their first word.  A chunk with room is on
 * its size's list; an empty one goes back to malloc at once.
 *
 * Threads: the tree's writer allocates and frees (node_free_now), the
 * call_rcu thread frees (limbo batches); one mutex covers it all (one
 * uncontended lock per create or delete).  Shared by every tree of the
 * process.
 */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "tree_priv.h"

#define NSLAB_CHUNK ((size_t)64 << 10)
#define NSLAB_GRAN 8
#define NSLAB_CLASSES (NSLAB_MAX / NSLAB_GRAN)
#define NSLAB_HEADER 64

struct nslab_chunk {
	struct nslab_chunk *prev, *next; /* on its size's list while it has room */
	void *free;			 /* freed regions, linked through their first word */
	uint32_t size;			 /* region size */
	uint32_t used;			 /* regions handed out */
	uint32_t bump;			 /* offset of the first never-used region */
	uint32_t listed;
};

_Static_assert(sizeof(struct nslab_chunk) <= NSLAB_HEADER, "chunk header");

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct nslab_chunk *avail[NSLAB_CLASSES];

static void unlist(struct nslab_chunk *c, unsigned cls)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		avail[cls] = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->listed = 0;
}

static void list(struct nslab_chunk *c, unsigned cls)
{
	c->prev = NULL;
	c->next = avail[cls];
	if (c->next)
		c->next->prev = c;
	avail[cls] = c;
	c->listed = 1;
}

static inline bool chunk_full(const struct nslab_chunk *c)
{
	return !c->free && c->bump + c->size > NSLAB_CHUNK;
}

size_t nslab_size(size_t size)
{
	return (size + NSLAB_GRAN - 1) & ~(size_t)(NSLAB_GRAN - 1);
}

void *nslab_alloc(size_t size)
{
	unsigned cls;
	struct nslab_chunk *c;
	void *p;

	assert(size > 0 && size <= NSLAB_MAX);
	size = nslab_size(size);
	cls = (unsigned)(size / NSLAB_GRAN) - 1;
	pthread_mutex_lock(&lock);
	c = avail[cls];
	if (!c) {
		c = aligned_alloc(NSLAB_CHUNK, NSLAB_CHUNK);
		if (!c) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		*c = (struct nslab_chunk){.size = (uint32_t)size, .bump = NSLAB_HEADER};
		list(c, cls);
	}
	if (c->free) {
		p = c->free;
		c->free = *(void **)p;
	} else {
		p = (char *)c + c->bump;
		c->bump += c->size;
	}
	c->used++;
	if (chunk_full(c))
		unlist(c, cls);
	pthread_mutex_unlock(&lock);
	return p;
}

void nslab_free(void *p)
{
	struct nslab_chunk *c;
	unsigned cls;

	if (!p)
		return;
	c = (struct nslab_chunk *)((uintptr_t)p & ~(uintptr_t)(NSLAB_CHUNK - 1));
	cls = c->size / NSLAB_GRAN - 1;
	pthread_mutex_lock(&lock);
	assert(c->used > 0);
	*(void **)p = c->free;
	c->free = p;
	c->used--;
	if (!c->used) {
		if (c->listed)
			unlist(c, cls);
		free(c);
	} else if (!c->listed) {
		list(c, cls);
	}
	pthread_mutex_unlock(&lock);
}
