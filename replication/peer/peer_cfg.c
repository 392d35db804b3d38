// SPDX-License-Identifier: Apache-2.0
/*
 * From zoo.cfg (struct cfg) to the transport's configuration: the server.N
 * lines become members, quorumListenOnAllIPs becomes listen_all and the
 * ensemble identity is peer_ensemble_id() over them; quorum SASL is
 * peer_sasl_get()'s (set up from the same cfg by peer_sasl_init()).  In its own file so
 * that peer.c knows nothing of zoo.cfg: tests and the simulator build a
 * peer_config by hand.
 */
#include "peer.h"

#include <assert.h>
#include <errno.h>

#include "common/log.h"
#include "config/config.h"
#include "peer_sasl.h"

int peer_config_from_cfg(const struct cfg *c, uint32_t self_id,
			 struct peer_member members[PEER_MAX_MEMBERS], struct peer_config *out)
{
	bool found = false;

	assert(c && members && out);
	if (c->n_servers < 1 || c->n_servers > PEER_MAX_MEMBERS) {
		log_error("peer: %zu server.N lines; between 1 and %d are supported", c->n_servers,
			  PEER_MAX_MEMBERS);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_servers; i++) {
		const struct cfg_server *s = &c->servers[i];
		if (s->id < 1 || s->id > UINT32_MAX) {
			log_error("peer: server.%lld: id out of range", (long long)s->id);
			return -EINVAL;
		}
		members[i] = (struct peer_member){
		    .id = (uint32_t)s->id,
		    .host = s->host,
		    .quorum_port = s->quorum_port,
		    .election_port = s->election_port,
		    .observer = s->type == CFG_OBSERVER,
		};
		found |= members[i].id == self_id;
	}
	if (!found) {
		log_error("peer: myid %u has no server.%u line", self_id, self_id);
		return -EINVAL;
	}
	*out = (struct peer_config){
	    .self_id = self_id,
	    .ensemble = peer_ensemble_id(members, c->n_servers, NULL),
	    .members = members,
	    .n_members = c->n_servers,
	    .listen_all = c->quorum_listen_on_all_ips,
	    .sasl = peer_sasl_get(), /* NULL unless peer_sasl_init() turned it on */
	    .tls = c->ssl_quorum ? &c->quorum_tls : NULL,
	};
	return 0;
}
