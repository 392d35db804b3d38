/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Cyrus SASL pieces the client port and the quorum links share
 * (sasl_aux.h): pthread mutexes, and DIGEST-MD5's passwords from the
 * JAAS file through an auxiliary-property plug-in.
 *
 * Why a plug-in: Cyrus's DIGEST-MD5 asks the auxprop layer for the
 * user's "*userPassword"; the stock plug-ins read sasldb files or LDAP,
 * and ZooKeeper keeps its users in the JAAS file, so a plug-in of ours
 * answers from a table in memory.  Cyrus is one per process and both
 * the client port and the quorum links may run it at once, each with its
 * own users: each table is registered under its own name and each side's
 * GETOPT callback names its own (auxprop_plugin).
 *
 * Cyrus's plug-in entry point is given only the name it was registered
 * under, so the registered tables sit in a small list here, looked up by
 * that name (Cyrus calls the entry point from sasl_auxprop_add_plugin,
 * on the registering thread).  Cyrus keeps the plug-in structure's
 * address until its last sasl_server_done, which may come after the
 * table's owner has shut its side down (the other side still runs):
 * so the structures live here, in static storage, and point at the
 * table (glob_context), which its owner keeps in static storage too
 * and zeroes when done: a lookup then finds no user.
 *
 * Thread: sasl_aux.h.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "config/config.h"
#include "config/sasl_aux.h"

#define USER_PREFIX "user_"
/* The client port's and the quorum links' tables. */
#define MAX_TABLES 4

/* The registered tables; a plug-in, once Cyrus has it, lives as long as the process. */
static struct {
	const char *name;
	sasl_auxprop_plug_t plug; /* glob_context: the table */
} tables[MAX_TABLES];

/* ---- Cyrus's mutexes: pthread ones ---- */

static void *mutex_alloc(void)
{
	pthread_mutex_t *m = malloc(sizeof(*m));

	if (m && pthread_mutex_init(m, NULL)) {
		free(m);
		return NULL;
	}
	return m;
}

static int mutex_lock(void *m)
{
	return pthread_mutex_lock(m) ? SASL_FAIL : SASL_OK;
}

static int mutex_unlock(void *m)
{
	return pthread_mutex_unlock(m) ? SASL_FAIL : SASL_OK;
}

static void mutex_free(void *m)
{
	pthread_mutex_destroy(m);
	free(m);
}

/* ---- the options ---- */

int sasl_aux_option(const char *name, const char *mech, const char *option, const char **result,
		    unsigned *len)
{
	if (!strcmp(option, "auxprop_plugin"))
		*result = name;
	else if (!strcmp(option, "mech_list"))
		*result = mech;
	else if (!strcmp(option, "pwcheck_method"))
		*result = "auxprop";
	else if (!strcmp(option, "reauth_timeout"))
		*result = "0";
	else
		return SASL_FAIL;
	if (len)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

/* ---- the users ---- */

int sasl_aux_add(struct sasl_aux *a, const char *name, const char *password)
{
	struct sasl_aux_user *v;

	for (size_t i = 0; i < a->n_users; i++) {
		if (!strcmp(a->users[i].name, name)) {
			char *p = strdup(password);

			if (!p)
				return -ENOMEM;
			explicit_bzero(a->users[i].password, strlen(a->users[i].password));
			free(a->users[i].password);
			a->users[i].password = p;
			return 0;
		}
	}
	v = realloc(a->users, (a->n_users + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	a->users = v;
	v[a->n_users].name = strdup(name);
	v[a->n_users].password = strdup(password);
	if (!v[a->n_users].name || !v[a->n_users].password) {
		free(v[a->n_users].name);
		free(v[a->n_users].password);
		return -ENOMEM;
	}
	a->n_users++;
	return 0;
}

int sasl_aux_add_section(struct sasl_aux *a, const struct cfg_jaas_section *s)
{
	for (size_t i = 0; i < s->n_entries; i++) {
		const struct cfg_jaas_entry *e = &s->entries[i];

		for (size_t k = 0; k < e->n_options; k++) {
			const struct cfg_jaas_option *o = &e->options[k];

			if (!strncmp(o->key, USER_PREFIX, strlen(USER_PREFIX)) &&
			    sasl_aux_add(a, o->key + strlen(USER_PREFIX), o->value))
				return -ENOMEM;
		}
	}
	return 0;
}

void sasl_aux_free(struct sasl_aux *a)
{
	for (size_t i = 0; i < a->n_users; i++) {
		/* Passwords do not outlive their use. */
		explicit_bzero(a->users[i].password, strlen(a->users[i].password));
		free(a->users[i].name);
		free(a->users[i].password);
	}
	free(a->users);
	a->users = NULL;
	a->n_users = 0;
	a->realm = NULL;
}

/* ---- the auxprop plug-in ---- */

static const struct sasl_aux_user *find_user(const struct sasl_aux *a, const char *user,
					     unsigned ulen)
{
	const char *at = memchr(user, '@', ulen);

	for (size_t i = 0; i < a->n_users; i++) {
		const struct sasl_aux_user *u = &a->users[i];

		if (strlen(u->name) == ulen && !memcmp(u->name, user, ulen))
			return u;
	}
	/* Cyrus may qualify the name with the realm. */
	if (at && a->realm && (size_t)(user + ulen - at - 1) == strlen(a->realm) &&
	    !memcmp(at + 1, a->realm, strlen(a->realm)))
		return find_user(a, user, (unsigned)(at - user));
	return NULL;
}

static int aux_lookup(void *glob, sasl_server_params_t *sp, unsigned flags, const char *user,
		      unsigned ulen)
{
	const struct sasl_aux *a = glob;
	const struct propval *want;
	const struct sasl_aux_user *u;

	if (!sp || !user || (flags & SASL_AUXPROP_AUTHZID))
		return SASL_OK; /* nothing is kept about authorization ids */
	u = find_user(a, user, ulen);
	if (!u)
		return SASL_NOUSER;
	want = sp->utils->prop_get(sp->propctx);
	for (; want && want->name; want++) {
		/* Authentication-id properties are the ones starting with '*'. */
		if (want->name[0] != '*' || strcmp(want->name + 1, SASL_AUX_PASSWORD_PROP))
			continue;
		if (want->values && !(flags & SASL_AUXPROP_OVERRIDE))
			continue;
		if (want->values)
			sp->utils->prop_erase(sp->propctx, want->name);
		sp->utils->prop_set(sp->propctx, want->name, u->password, (int)strlen(u->password));
	}
	return SASL_OK;
}

static int aux_init(const sasl_utils_t *utils, int max_version, int *out_version,
		    sasl_auxprop_plug_t **plug, const char *name)
{
	(void)utils;
	if (max_version < SASL_AUXPROP_PLUG_VERSION)
		return SASL_BADVERS;
	for (size_t i = 0; i < MAX_TABLES; i++) {
		if (tables[i].name && name && !strcmp(tables[i].name, name)) {
			*out_version = SASL_AUXPROP_PLUG_VERSION;
			*plug = &tables[i].plug;
			return SASL_OK;
		}
	}
	return SASL_FAIL;
}

int sasl_aux_register(struct sasl_aux *a, const char *name, const char *realm)
{
	size_t i;

	for (i = 0; i < MAX_TABLES; i++)
		if (!tables[i].name || !strcmp(tables[i].name, name))
			break;
	assert(i < MAX_TABLES); /* one per SASL user: the client port and the quorum */
	if (i == MAX_TABLES)
		return SASL_FAIL;
	a->realm = realm;
	tables[i].name = name;
	tables[i].plug = (sasl_auxprop_plug_t){
	    .glob_context = a,
	    .auxprop_lookup = aux_lookup,
	    .name = (char *)name,
	};
	sasl_set_mutex(mutex_alloc, mutex_lock, mutex_unlock, mutex_free);
	return sasl_auxprop_add_plugin(name, aux_init);
}
