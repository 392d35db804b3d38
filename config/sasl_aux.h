/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sasl_aux.h - the Cyrus SASL set-up the client port
 * (dataplane/session/sasl.c) and the quorum links
 * (replication/peer/peer_sasl.c) share: pthread mutexes for Cyrus, and
 * DIGEST-MD5's passwords from a JAAS section's user_<name>="<password>"
 * options, served to Cyrus by an auxiliary-property plug-in of our own
 * (never a sasldb file).  Each user has its own table under its own
 * plug-in name, which its GETOPT callback names as auxprop_plugin.
 *
 * THREADS: sasl_aux_add, sasl_aux_add_section, sasl_aux_register and
 * sasl_aux_free at start-up and shut-down on the main thread, while no
 * SASL exchange runs; a registered table is then read-only, read by
 * Cyrus on any thread that steps a SASL server.
 */
#ifndef CHEETAH_CONFIG_SASL_AUX_H
#define CHEETAH_CONFIG_SASL_AUX_H

#include <stddef.h>

struct cfg_jaas_section;

/* Cyrus's callback tables take int (*)(void); through void (*)(void) the cast is a plain one. */
#define SASL_AUX_CB(f) ((int (*)(void))(void (*)(void))(f))

struct sasl_aux_user {
	char *name, *password;
};

/* One plug-in's users; zero it before use. */
struct sasl_aux {
	struct sasl_aux_user *users;
	size_t n_users;
	const char *realm; /* set by sasl_aux_register: "name@realm" is looked up as "name" */
};

/*
 * Adds user name with password to a, or replaces the password of a user
 * already there (ZooKeeper's callback handlers keep a map: the last
 * value wins).  Copies both strings.  0 or -ENOMEM (a unchanged).
 */
int sasl_aux_add(struct sasl_aux *a, const char *name, const char *password);

/*
 * Adds the user_<name>="<password>" options of every entry of s, in
 * order (sasl_aux_add).  0 or -ENOMEM (a holds those added before).
 */
int sasl_aux_add_section(struct sasl_aux *a, const struct cfg_jaas_section *s);

/*
 * Hands a to Cyrus as the auxprop plug-in called name (a string that
 * outlives the registration), with realm (the DIGEST realm the server
 * announces; outlives a too, or a is zeroed first): a password lookup
 * for "user" or "user@realm" gets user's password, any other NOUSER.
 * Also sets Cyrus's mutexes to pthread ones (its defaults are no-ops;
 * setting them again is harmless).  Call before sasl_server_init.  a
 * must stay where it is (Cyrus keeps a pointer to it, and may look in it
 * until the process's last sasl_server_done: zeroed, it holds no user);
 * the name may be registered again, with the same or another a.  Returns
 * Cyrus's SASL_OK or its error code (sasl_errstring).
 */
int sasl_aux_register(struct sasl_aux *a, const char *name, const char *realm);

/*
 * The Cyrus options both users give through their GETOPT callback
 * (sasl_getopt_t), for the plug-in registered as name and the one
 * mechanism mech: auxprop_plugin name, mech_list mech, pwcheck_method
 * auxprop, reauth_timeout 0 (no DIGEST-MD5 reauthentication cache).
 * Sets *result (a string that lives as long as name and mech) and, when
 * len is not NULL, *len; returns SASL_OK, or SASL_FAIL for any other
 * option (Cyrus's default then).  Pure.
 */
int sasl_aux_option(const char *name, const char *mech, const char *option, const char **result,
		    unsigned *len);

/* Erases the passwords and frees the users (a lookup then finds none); a stays registered. */
void sasl_aux_free(struct sasl_aux *a);

#endif
