/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ACL table: each distinct ACL list is stored once, in its jute wire
 * encoding, with a reference count per znode that uses it, as ZooKeeper's
 * ReferenceCountedACLCache does.  Znodes hold a 32-bit id.
 *
 * Readers map id -> entry through an RCU-published array of pointers; the
 * writer dedups through a hash table keyed by content.  An entry whose
 * last reference goes is freed after a grace period, and its id is reused
 * only after that grace period too, so a reader (a fuzzy snapshot walk
 * included) never sees an id change meaning under it.
 *
 * Each entry also keeps the permissions its world:anyone entries grant
 * (tree_acl_world_perms), computed once when the list is interned: a
 * read on a node whose ACL grants the permission to world:anyone (the
 * usual OPEN_ACL_UNSAFE) is allowed without looking at the session's
 * identities or parsing the list again (tree_node_read_check).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tree_priv.h"

struct acl_entry {
	struct cds_lfht_node hnode;
	uint32_t id;
	uint32_t refs;
	int32_t world; /* tree_acl_world_perms(&list), computed once */
	struct jute_acl_list list; /* raw points at bytes[] */
	uint8_t bytes[];
};

struct acl_vec {
	uint32_t cap;
	struct acl_entry *slot[];
};

struct free_id {
	uint32_t id;
	uint64_t batch; /* reusable once tree_limbo_done() >= batch */
};

struct acl_table {
	struct cds_lfht *by_content;
	struct acl_vec *vec; /* RCU */
	uint32_t next_id;
	uint32_t live;
	/* FIFO of freed ids waiting for their grace period */
	struct free_id *free_ids;
	uint32_t free_head, free_tail, free_cap;
};

static uint64_t content_hash(const uint8_t *p, uint32_t len)
{
	return tree_hash_path((const char *)p, len);
}

struct content_key {
	const uint8_t *p;
	uint32_t len;
};

static int match_content(struct cds_lfht_node *hn, const void *key)
{
	const struct acl_entry *e = caa_container_of(hn, struct acl_entry, hnode);
	const struct content_key *k = key;

	return e->list.raw_len == k->len && memcmp(e->bytes, k->p, k->len) == 0;
}

struct acl_table *acl_table_new(void)
{
	struct acl_table *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->by_content = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	a->vec = calloc(1, sizeof(*a->vec) + 16 * sizeof(a->vec->slot[0]));
	if (!a->by_content || !a->vec) {
		if (a->by_content)
			cds_lfht_destroy(a->by_content, NULL);
		free(a->vec);
		free(a);
		return NULL;
	}
	a->vec->cap = 16;
	return a;
}

void acl_table_free(struct acl_table *a)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *hn;

	/* Unlink online, free after a grace period (see tree.c unlink_table). */
	urcu_qsbr_thread_online();
	cds_lfht_for_each(a->by_content, &it, hn)
		cds_lfht_del(a->by_content, hn);
	urcu_qsbr_thread_offline();
	urcu_qsbr_synchronize_rcu();
	urcu_qsbr_barrier();
	cds_lfht_destroy(a->by_content, NULL);
	for (uint32_t i = 0; i < a->vec->cap; i++)
		free(a->vec->slot[i]);
	free(a->vec);
	free(a->free_ids);
	free(a);
}

static int take_id(struct tree *t, uint32_t *id)
{
	struct acl_table *a = t->acls;

	if (a->free_head != a->free_tail &&
	    a->free_ids[a->free_head].batch <= tree_limbo_done(t)) {
		*id = a->free_ids[a->free_head].id;
		a->free_head = (a->free_head + 1) % a->free_cap;
		return 0;
	}
	if (a->next_id == UINT32_MAX)
		return -ENOMEM;
	if (a->next_id == a->vec->cap) {
		uint32_t cap = a->vec->cap * 2;
		struct acl_vec *nv = malloc(sizeof(*nv) + cap * sizeof(nv->slot[0]));
		if (!nv)
			return -ENOMEM;
		nv->cap = cap;
		memcpy(nv->slot, a->vec->slot, a->vec->cap * sizeof(nv->slot[0]));
		memset(nv->slot + a->vec->cap, 0, (cap - a->vec->cap) * sizeof(nv->slot[0]));
		struct acl_vec *old = a->vec;
		rcu_assign_pointer(a->vec, nv);
		tree_defer_free(t, old, sizeof(*old) + old->cap * sizeof(old->slot[0]));
	}
	*id = a->next_id++;
	return 0;
}

static void put_id(struct tree *t, uint32_t id, uint64_t batch)
{
	struct acl_table *a = t->acls;
	uint32_t next = a->free_cap ? (a->free_tail + 1) % a->free_cap : 0;

	if (!a->free_cap || next == a->free_head) {
		uint32_t cap = a->free_cap ? a->free_cap * 2 : 16;
		struct free_id *q = malloc(cap * sizeof(*q));
		if (!q)
			return; /* the id is simply never reused */
		uint32_t n = 0;
		for (uint32_t i = a->free_head; i != a->free_tail; i = (i + 1) % a->free_cap)
			q[n++] = a->free_ids[i];
		free(a->free_ids);
		a->free_ids = q;
		a->free_cap = cap;
		a->free_head = 0;
		a->free_tail = n;
	}
	a->free_ids[a->free_tail] = (struct free_id){ id, batch };
	a->free_tail = (a->free_tail + 1) % a->free_cap;
}

int acl_table_intern(struct tree *t, const struct jute_acl_list *l, uint32_t *id)
{
	struct acl_table *a = t->acls;
	struct content_key key = { l->raw, l->raw_len };
	uint64_t hash = content_hash(l->raw, l->raw_len);
	struct cds_lfht_iter it;
	struct cds_lfht_node *hn;
	struct acl_entry *e;

	cds_lfht_lookup(a->by_content, hash, match_content, &key, &it);
	hn = cds_lfht_iter_get_node(&it);
	if (hn) {
		e = caa_container_of(hn, struct acl_entry, hnode);
		e->refs++;
		*id = e->id;
		return 0;
	}
	e = malloc(sizeof(*e) + l->raw_len);
	if (!e)
		return -ENOMEM;
	if (take_id(t, &e->id)) {
		free(e);
		return -ENOMEM;
	}
	memcpy(e->bytes, l->raw, l->raw_len);
	e->refs = 1;
	e->list.raw = e->bytes;
	e->list.raw_len = l->raw_len;
	e->list.count = l->count < 0 ? 0 : l->count;
	e->world = tree_acl_world_perms(&e->list);
	cds_lfht_node_init(&e->hnode);
	cds_lfht_add(a->by_content, hash, &e->hnode);
	rcu_assign_pointer(a->vec->slot[e->id], e);
	a->live++;
	*id = e->id;
	return 0;
}

void acl_table_ref(struct tree *t, uint32_t id)
{
	struct acl_table *a = t->acls;

	if (id < a->vec->cap && a->vec->slot[id])
		a->vec->slot[id]->refs++;
}

void acl_table_unref(struct tree *t, uint32_t id)
{
	struct acl_table *a = t->acls;
	struct acl_entry *e;

	if (id >= a->vec->cap || !(e = a->vec->slot[id]))
		return;
	if (--e->refs > 0)
		return;
	cds_lfht_del(a->by_content, &e->hnode);
	rcu_assign_pointer(a->vec->slot[id], NULL);
	a->live--;
	put_id(t, id, tree_defer_free(t, e, sizeof(*e) + e->list.raw_len));
}

struct jute_acl_list acl_table_get(struct tree *t, uint32_t id)
{
	struct acl_vec *v = rcu_dereference(t->acls->vec);
	struct acl_entry *e = id < v->cap ? rcu_dereference(v->slot[id]) : NULL;
	static const uint8_t empty[4];

	if (!e)
		return (struct jute_acl_list){ empty, sizeof(empty), 0 };
	return e->list;
}

struct jute_acl_list acl_table_get_world(struct tree *t, uint32_t id, int32_t *world)
{
	struct acl_vec *v = rcu_dereference(t->acls->vec);
	struct acl_entry *e = id < v->cap ? rcu_dereference(v->slot[id]) : NULL;
	static const uint8_t empty[4];

	if (!e) {
		*world = 0;
		return (struct jute_acl_list){ empty, sizeof(empty), 0 };
	}
	*world = e->world;
	return e->list;
}

uint32_t acl_table_size(const struct acl_table *a)
{
	return a->live;
}

void acl_table_foreach(struct tree *t, void (*fn)(void *arg, uint32_t id, uint32_t refs,
						  const struct jute_acl_list *l),
		       void *arg)
{
	struct acl_vec *v = rcu_dereference(t->acls->vec);

	for (uint32_t i = 0; i < v->cap; i++) {
		struct acl_entry *e = rcu_dereference(v->slot[i]);
		if (e)
			fn(arg, e->id, CMM_LOAD_SHARED(e->refs), &e->list);
	}
}
