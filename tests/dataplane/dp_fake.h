/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake I/O layer and a fake broadcast core for testing the protocol
 * layer (dataplane/session/) on one thread, no sockets,
 * no sleeps.
 *
 *  - I/O: dp_conn_* and dp_worker_* of io.h (part 3); a connection records
 *    every byte the protocol layer sends and whether it asked to close.
 *  - Core: the rings of repl.h and a synchronous core (fake_core_run)
 *    that really preps and applies writes on a real tree (tree_prep_*,
 *    tree_apply), answers sessions, and pushes events before results as
 *    repl.c does; REPL_IN_SESSIONS gets a canned tracker dump (one bucket
 *    holding the session id 0x42).  Tests can also stop it halfway (apply
 *    without publishing) or push canned messages.
 *  - Client: encode a request with the codec, hand it over as a frame,
 *    decode what came back with the codec.
 */
#ifndef CHEETAH_TESTS_DATAPLANE_DP_FAKE_H
#define CHEETAH_TESTS_DATAPLANE_DP_FAKE_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "dataplane/io/io.h"
#include "dataplane/session/session.h"
#include "dataplane/session/session_priv.h"
#include "dataplane/zkproto/proto.h"
#include "replication/repl.h"
#include "tree/tree.h"

#define FAKE_MAX_CONNS 128

struct dp_conn {
	uint32_t id;
	char ip[64];
	char peer[80];
	const char *x509_id; /* dp_conn_x509_id: a TLS client certificate's subject, or NULL */
	void *user;
	bool closing;       /* dp_conn_close was called */
	bool reported;      /* dp_proto_closed was called */
	struct jute_out sent;
	size_t read_off;    /* client side: frames consumed */
	bool connected;     /* client side: ConnectResponse consumed */
	int32_t ops[4096];  /* client side: opcode per xid (xid % 4096) */
};

struct dp_worker {
	uint32_t index;
	struct cfg *cfg;
	struct repl *repl;
	struct dp_proto *proto;
	struct dp_conn *conns[FAKE_MAX_CONNS];
	uint32_t nconns;
};

struct repl {
	struct ring in, out;
	struct tree *tree;
	struct tree_prep *prep;
	int64_t published;
	int64_t zxid;       /* last assigned */
	uint32_t kicks;
	uint32_t reads;     /* reads run by the core (a REPL_IN_READ carries one or more) */
	uint32_t read_msgs; /* REPL_IN_READ messages */
	int32_t read_err;   /* answer the next REPL_IN_READ with this error instead (0: run it) */
	uint32_t read_bad;  /* 1 + the read of the next REPL_IN_READ to garble (0: none) */
	bool reject_all;    /* answer every connect with SESSIONEXPIRED */
	uint64_t tree_gen;  /* repl_tree_switched: the generation acknowledged */
	struct tree_apply_out aout;
	struct jute_out enc;
};

struct fake_world {
	struct dp_worker w;
	struct repl r;
	struct cfg cfg;
	struct cfg_extra extras[4];
	/* fake_sessions_done: the last answer the protocol layer handed over */
	uint32_t sessions_calls;
	uint32_t sessions_conn;
	struct repl_sessions *sessions;
};

extern struct fake_world fw;

/* Sets up tree, rings, worker and protocol layer (registers the thread with RCU). */
void fake_setup(void);
void fake_teardown(void);
/* dp_proto_ask_sessions's callback: keeps d and conn in fw (sessions, sessions_conn). */
void fake_sessions_done(struct dp_worker *w, uint32_t conn, struct repl_sessions *d);

/* A new connection from ip (dp_proto_opened). */
struct dp_conn *fake_conn(const char *ip, uint16_t port);
/* The I/O layer closes it (dp_proto_closed). */
void fake_conn_gone(struct dp_conn *c);

/* Hands one frame (payload) to dp_proto_frame; returns its result. */
int fake_frame(struct dp_conn *c, const void *payload, uint32_t len);
/* Encodes a ConnectRequest / request and hands it over. */
int fake_send_connect(struct dp_conn *c, int64_t session, int64_t last_zxid, int32_t timeout,
		      const uint8_t *passwd, bool with_read_only);
int fake_send(struct dp_conn *c, const struct proto_request *req);

/* Client side: the next unread frame the server sent, or false. */
bool fake_next(struct dp_conn *c, const uint8_t **payload, uint32_t *len);
/* Decodes the next frame as a reply (op from the xid map); false when none. */
bool fake_reply(struct dp_conn *c, struct proto_reply *rep);
/* Number of unread frames. */
uint32_t fake_pending(struct dp_conn *c);

/* The core: processes everything in the in ring; returns messages handled. */
uint32_t fake_core_run(void);
/*
 * Applies one write/close the way the core does but without pushing
 * anything or publishing: for tests of rule 2.  fake_core_publish then
 * pushes what was held and publishes.
 */
uint32_t fake_core_apply_held(void);
void fake_core_publish(void);
/* Applies a txn built by the test directly (another worker's write). */
int64_t fake_apply_setdata(const char *path, const char *data, bool publish);
int64_t fake_apply_create(const char *path, const char *data, bool publish);
int64_t fake_apply_create_acl(const char *path, const struct jute_acl_list *acl, bool publish);
int64_t fake_apply_delete(const char *path, bool publish);
int64_t fake_apply_setacl(const char *path, const struct jute_acl_list *acl, bool publish);

/* dp_proto_poll. */
void fake_poll(void);

/* Connects and completes the handshake; returns the connection. */
struct dp_conn *fake_session(const char *ip, int64_t *session);

/* The fake core's password for a session id. */
void fake_passwd(int64_t session, uint8_t out[16]);

/*
 * A real DIGEST-MD5 client (Cyrus's client side, in-process): its next
 * token for the server's last challenge (len 0 if Cyrus gives none),
 * service "zookeeper" on "zk-sasl-md5" as ZooKeeper's clients.  The
 * token is valid until the next call; fake_sasl_client_free disposes.
 * The first call runs sasl_client_init; sasl_client_done is never
 * called (it unloads Cyrus's plugins, whose static state then shows as
 * leaked at exit).
 */
struct fake_sasl_client {
	void *conn; /* sasl_conn_t */
	bool started;
};
struct jute_buf fake_sasl_client_token(struct fake_sasl_client *cl, struct jute_buf challenge,
				       const char *user, const char *password);
void fake_sasl_client_free(struct fake_sasl_client *cl);

/* Request builders. */
struct proto_request fake_req(int32_t xid, int32_t type);
struct jute_buf fake_buf(const char *s);

#endif
