/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One worker's connections as C structs (struct dp_conn_info, dp_info.h),
 * for the AdminServer's connections and stats commands: the figures
 * cons prints (listing.c's conn_info), copied rather than printed, a
 * bounded number per call so that the worker goes back to its clients
 * between two chunks (admin/info.c asks for them through the mailbox).
 *
 * Thread: the worker owning the connections.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/dp_info.h"
#include "dataplane/session/session_priv.h"

/* ServerCnxn.getConnectionInfo's figures of one connection. */
static void fill(const struct dp_sess *s, struct dp_conn_info *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->peer, sizeof(o->peer), "%s", dp_conn_peer(s->conn));
	o->interest_ops = s->state == DP_SESS_CONNECTING ? 0 : 1;
	o->outstanding = s->nqueued;
	o->packets_received = s->packets_received;
	o->packets_sent = s->packets_sent;
	o->has_session = s->session && s->state == DP_SESS_OPEN;
	o->session = o->has_session ? s->session : 0;
	snprintf(o->last_op, sizeof(o->last_op), "%s", s->last_op ? s->last_op : "NA");
	o->established_ms = s->established_ms;
	o->timeout = s->timeout;
	o->last_cxid = s->last_cxid;
	o->last_zxid = s->last_zxid;
	o->last_resp_ms = s->last_resp_ms;
	o->last_lat = s->last_lat;
	o->min_lat = s->min_lat == INT64_MAX ? 0 : s->min_lat;
	o->avg_lat = s->lat_count ? s->total_lat / s->lat_count : 0;
	o->max_lat = s->max_lat;
}

bool dp_proto_conn_infos(const struct dp_proto *p, uint32_t *slot, struct dp_conn_info *out,
			 uint32_t max, uint32_t *n)
{
	struct dp_conn *c;

	assert(max > 0);
	*n = 0;
	while ((c = dp_conn_next(p->w, slot))) {
		const struct dp_sess *s = dp_conn_user(c);

		if (s) {
			if (*n == max)
				return false;
			fill(s, &out[(*n)++]);
		}
		(*slot)++;
	}
	return true;
}
