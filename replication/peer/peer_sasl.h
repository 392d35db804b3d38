/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer_sasl.h - SASL between the servers of an ensemble (ZooKeeper's
 * quorum.auth.* keys, issue 11 part 3), DIGEST-MD5 or Kerberos (GSSAPI)
 * with Cyrus SASL; GSSAPI steps run on a helper thread (peer_sasl.c).
 * peer.c runs the exchange on its links (see peer.h, QUORUM SASL); this
 * module holds the credentials from the JAAS file and wraps Cyrus.
 *
 * THREADS: peer_sasl_init / peer_sasl_fini on the main thread while no
 * other thread uses Cyrus; the global state is read-only between them.
 * A peer_sasl_conn belongs to the thread that made it (the peer owner).
 */
#ifndef CHEETAH_REPLICATION_PEER_SASL_H
#define CHEETAH_REPLICATION_PEER_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;

/* The process-wide quorum SASL settings; NULL from peer_sasl_get(): off. */
struct peer_sasl {
	bool learner_require;	 /* quorum.auth.learnerRequireSasl: we authenticate when dialling */
	bool server_require;	 /* quorum.auth.serverRequireSasl: dialers must authenticate */
	const char *learner_ctx; /* the JAAS sections' names, for log lines */
	const char *server_ctx;
};

/*
 * Reads the quorum.auth.* keys of c and, with quorum.auth.enableSasl,
 * the JAAS file (java.security.auth.login.config): the server section's
 * user_<name>="<password>" options are the users a dialer may log in as,
 * the learner section's username/password are what we log in with.  A
 * missing file or section, a learner section without username/password
 * (when learnerRequireSasl is set) is an error with the key or section
 * named in err.  Krb5LoginModule entries in both sections select GSSAPI:
 * their keyTab/principal become GSS credentials here (a keytab without
 * the principal's keys, or a learner one the KDC refuses, is an error),
 * quorum.auth.kerberos.servicePrincipal names the service dialled, and
 * the helper thread starts; one section Kerberos and not the other is an
 * error.  Call after dp_sasl_init() (Cyrus's global options stay
 * the client port's; ours are per connection).  Returns 0 or -errno.
 */
int peer_sasl_init(const struct cfg *c, char *err, size_t errlen);
void peer_sasl_fini(void);
const struct peer_sasl *peer_sasl_get(void);

struct peer_sasl_conn;

/*
 * A learner (client, dialer) or server (acceptor) side.  host: the
 * server.N host we dial (a learner with GSSAPI: "_HOST" in
 * quorum.auth.kerberos.servicePrincipal becomes it); NULL for a server.
 * 0, -ENOMEM or -EPROTO (Cyrus).
 */
int peer_sasl_conn_new(bool server, const char *host, struct peer_sasl_conn **out, char *why,
		       size_t whylen);
void peer_sasl_conn_free(struct peer_sasl_conn *c);

/*
 * One step of the exchange.  Server: in is the learner's token (the first
 * call starts the mechanism).  Client: the first call ignores in and
 * gives the initial token; later calls take the server's.  *out (may be
 * empty) is valid until the next call.  Returns 1 (send *out, expect an
 * answer), 0 (complete and authenticated; server side: *out is the last
 * token to send), -EACCES (failed; why says why), or -EINPROGRESS with
 * GSSAPI: the step went to the helper thread (it reads the keytab and
 * replay cache, and a learner asks the KDC for tickets); c must then not
 * be stepped until peer_sasl_result() gives its outcome.  DIGEST-MD5
 * never returns -EINPROGRESS: it is pure computation on memory.
 */
int peer_sasl_step(struct peer_sasl_conn *c, const uint8_t *in, size_t inlen, const uint8_t **out,
		   size_t *outlen, char *why, size_t whylen);

/*
 * The outcome of a step that returned -EINPROGRESS: -EINPROGRESS while
 * the helper still has it, else what peer_sasl_step would have returned
 * (out, why as there).  Poll it when peer_sasl_wake_fd() is readable
 * (drain it first with peer_sasl_wake_drain()).  peer_sasl_conn_free()
 * of a busy conn is allowed: the helper disposes of it.
 */
int peer_sasl_result(struct peer_sasl_conn *c, const uint8_t **out, size_t *outlen, char *why,
		     size_t whylen);

/* The helper's eventfd (readable when a step finished), or -1 without GSSAPI. */
int peer_sasl_wake_fd(void);
void peer_sasl_wake_drain(void);

/*
 * The Kerberos service and host a learner asks a ticket for, from a
 * principal "service/host[@REALM]" (ZooKeeper's SecurityUtils.
 * getServerPrincipal: "service/_HOST" without a realm takes host,
 * lower-cased).  0, or -EINVAL for a principal without '/' or too long.
 */
int peer_sasl_target(const char *principal, const char *host, char *svc, size_t svclen, char *shost,
		     size_t shostlen);

/*
 * ZooKeeper's Kerberos authorization of a learner: id is
 * "name/host@REALM" with host one of hosts (the server.N hosts).
 */
bool peer_sasl_host_authorized(const char *id, const char *const *hosts, size_t n);

/* The authenticated user (server side, after 0), or "". */
const char *peer_sasl_user(const struct peer_sasl_conn *c);

#endif
