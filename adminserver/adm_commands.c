/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AdminServer's commands (ZooKeeper's admin/Commands.java) as JSON.
 *
 * Why from the four-letter words' text.  Each command here has a
 * four-letter word whose text the dataplane already builds from its
 * counters, the tree and the configuration (dataplane/admin/, checked against
 * ZooKeeper 3.8); ZooKeeper's JSON is the same data under other names
 * (monitor is mntr's map without the "zk_" prefix).  Taking the text through one
 * call (adm_source) keeps the AdminServer out of the dataplane's
 * internals while it is being reorganised; the parse is strict (a line
 * that does not split is skipped, a number that does not parse stays a
 * string) so a change in a text shows up as a changed JSON type in the
 * integration test that compares with ZooKeeper, not as a crash.
 *
 * server_stats, stats' server part, is_read_only, zabstate's zxid and the
 * "not serving" check take the server's figures as a struct instead
 * (adm_info_ops.stats, dataplane/dp_stats.h), not srvr's or isro's text;
 * monitor takes mntr's typed fields (adm_info_ops.monitor,
 * dp_info_monitor): the list mntr's text is printed from, so the two
 * carry the same keys, values and types (a Java double is a JSON real,
 * a long a JSON integer, a string a string).
 *
 * The words that need every worker's part at once (wchs, crst, srst) come
 * through the workers' mailboxes (dp_admin_gather_text), as on the client
 * port, and so do wchc and wchp, a chunk at a time per worker.  The
 * commands added since (connections, stats, dump, last_snapshot, hash,
 * system_properties, set_trace_mask, the observers' link figures,
 * snapshot, restore) take C structs instead of text: adm_structured.c,
 * with run2 in the table below.  Commands about the ensemble
 * (leader, zabstate, voting_view, observers) read the "ensemble" text
 * (the core's published role, leader and synced observers) and conf's
 * membership; see them below.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adm_priv.h"
#include "common/zkdefs.h"
#include "config/config.h"
#include "dataplane/dp_info.h"
#include "dataplane/dp_stats.h"

#define NOT_SERVING "This ZooKeeper instance is not currently serving requests"

/* What a command needs besides its data (ZooKeeper's CommandBase and AuthRequest). */
enum {
	CMD_SERVER = 1, /* refused while the server is not serving (structured commands) */
	CMD_AUTH = 2,	/* AuthRequest(Perms.ALL, "/"): Authorization header, root's ACL */
	CMD_POST = 4,	/* a PostCommand (restore): POST only */
};

struct cmd {
	const char *names[4]; /* primary first; NULL-terminated */
	int (*run)(const struct adm_env *e, json_t *resp, const char **err);
	/* The structured commands (adm_structured.c), with their HTTP request. */
	int (*run2)(struct adm_env *e, struct adm_call *c, json_t *resp, const char **err);
	uint8_t flags;
};

/* ---- Text helpers ---- */

json_t *adm_value(const char *s)
{
	char *end;

	if (!*s)
		return json_string(s);
	errno = 0;
	long long v = strtoll(s, &end, 10);

	if (!*end && !errno)
		return json_integer(v);
	if ((isdigit((unsigned char)s[0]) || s[0] == '-') && strpbrk(s, ".E")) {
		double d = strtod(s, &end);

		if (!*end)
			return json_real(d);
	}
	return json_string(s);
}

/* A JSON string for any bytes: invalid UTF-8 becomes '?'. */
static json_t *any_string(const char *s);

json_t *adm_any_string(const char *s)
{
	return any_string(s);
}

static json_t *any_string(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* ZooKeeper's words for a source's -errno. */
static const char *source_error(int ret)
{
	switch (ret) {
	case -ENOMEM:
		return "Out of memory";
	case -EAGAIN:
		return NOT_SERVING;
	case -E2BIG:
		return "The listing is too large for the AdminServer (over 32 MiB); use the "
		       "four-letter word";
	case -ETIMEDOUT:
		return "The dataplane workers did not answer within 5 s";
	default:
		return "Internal error";
	}
}

/* The source's text of word, or NULL with *err set. */
static char *text_of(const struct adm_env *e, const char *word, const char **err)
{
	char *t = NULL;
	size_t len = 0;
	int ret = e->source(e->ctx, word, &t, &len);

	if (ret) {
		*err = source_error(ret);
		return NULL;
	}
	return t;
}

/*
 * The server's figures (adm_info_ops.stats, malloc'd: about 100 KiB), or
 * NULL with *err set; with serving, also NULL while the server elects
 * (state "looking"), as the words that CommandBase refuses then.
 */
static struct dp_stats *stats_of(const struct adm_env *e, bool serving, const char **err)
{
	struct dp_stats *s;
	int ret;

	if (!e->info || !e->info->stats) {
		*err = "The server's figures are not available";
		return NULL;
	}
	s = malloc(sizeof(*s));
	if (!s) {
		*err = "Out of memory";
		return NULL;
	}
	ret = e->info->stats(e->ctx, s);
	if (!ret && (!s->server_state || !s->version))
		ret = -EIO; /* a source that left the strings out */
	if (!ret && serving && !strcmp(s->server_state, "looking"))
		ret = -EAGAIN;
	if (ret) {
		*err = source_error(ret);
		free(s);
		return NULL;
	}
	return s;
}

/*
 * Calls fn(key, value, arg) for each line "key<sep>value" of text
 * (the text is cut in place); lines without sep are skipped.
 */
static void each_pair(char *text, const char *sep,
		      void (*fn)(const char *k, const char *v, void *arg), void *arg)
{
	size_t seplen = strlen(sep);
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s = strstr(line, sep);

		if (!s || s == line)
			continue;
		*s = '\0';
		fn(line, s + seplen, arg);
	}
}

static int set_new(json_t *o, const char *k, json_t *v)
{
	if (!v || json_object_set_new(o, k, v))
		return -ENOMEM;
	return 0;
}

/* The "ensemble" text's "key: value" lines into a map (adm_value types). */
static void put_pair(const char *k, const char *v, void *arg)
{
	json_object_set_new(arg, k, adm_value(v));
}

/* monitor's fields into its object: ZooKeeper's keys without "zk_", Cheetah's whole. */
struct monitor_out {
	json_t *r;
	int err;
};

static void monitor_field(void *arg, const struct dp_mntr_field *f)
{
	struct monitor_out *m = arg;
	char u[24];
	json_t *v = NULL;

	switch (f->type) {
	case DP_MNTR_INT:
		v = json_integer(f->i);
		break;
	case DP_MNTR_UINT:
		/* Above a long: mntr's digits, which a long does not read (a string). */
		snprintf(u, sizeof(u), "%" PRIu64, f->u);
		v = f->u <= INT64_MAX ? json_integer((json_int_t)f->u) : json_string(u);
		break;
	case DP_MNTR_REAL:
		v = json_real(f->d);
		break;
	case DP_MNTR_STR:
		v = any_string(f->s);
		break;
	}
	if (set_new(m->r, f->key, v))
		m->err = -ENOMEM;
}

static json_int_t num(json_t *m, const char *k)
{
	return json_integer_value(json_object_get(m, k));
}

static const char *str(json_t *m, const char *k)
{
	const char *s = json_string_value(json_object_get(m, k));

	return s ? s : "";
}

/* ---- Commands ---- */

static int c_ruok(const struct adm_env *e, json_t *r, const char **err)
{
	char *t = text_of(e, "ruok", err);

	(void)r;
	if (!t)
		return 0;
	if (strcmp(t, "imok"))
		*err = NOT_SERVING;
	free(t);
	return 0;
}

static int c_monitor(const struct adm_env *e, json_t *r, const char **err)
{
	struct monitor_out m = {r, 0};
	int ret;

	if (!e->info || !e->info->monitor) {
		*err = "The server's figures are not available";
		return 0;
	}
	ret = e->info->monitor(e->ctx, monitor_field, &m);
	if (ret)
		*err = source_error(ret);
	return m.err;
}

/* ReadOnlyZooKeeperServer is read-only, every other server not (isro's "ro"/"rw"). */
static bool read_only(const struct dp_stats *s)
{
	return !strcmp(s->server_state, "read-only");
}

static int c_is_read_only(const struct adm_env *e, json_t *r, const char **err)
{
	struct dp_stats *s = stats_of(e, false, err);
	int ret;

	if (!s)
		return 0;
	ret = set_new(r, "read_only", json_boolean(read_only(s)));
	free(s);
	return ret;
}

static int c_get_trace_mask(const struct adm_env *e, json_t *r, const char **err)
{
	char *t = text_of(e, "gtmk", err);
	int ret;

	if (!t)
		return 0;
	ret = set_new(r, "tracemask", adm_value(t));
	free(t);
	return ret;
}

struct dirs {
	json_int_t data, log;
};

static void put_dirs(const char *k, const char *v, void *arg)
{
	struct dirs *d = arg;

	if (!strcmp(k, "datadir_size"))
		d->data = strtoll(v, NULL, 10);
	else if (!strcmp(k, "logdir_size"))
		d->log = strtoll(v, NULL, 10);
}

static int dir_sizes(const struct adm_env *e, struct dirs *d, const char **err)
{
	char *t = text_of(e, "dirs", err);

	d->data = d->log = 0;
	if (!t)
		return -1;
	each_pair(t, ": ", put_dirs, d);
	free(t);
	return 0;
}

static int c_dirs(const struct adm_env *e, json_t *r, const char **err)
{
	struct dirs d;

	if (dir_sizes(e, &d, err))
		return 0;
	if (set_new(r, "datadir_size", json_integer(d.data)) ||
	    set_new(r, "logdir_size", json_integer(d.log)))
		return -ENOMEM;
	return 0;
}

/*
 * ServerStats' latencies in ms as srvr and mntr print them (min, avg to 4
 * decimals HALF_UP, max rounded up: dataplane/admin/stats.c); 0 before
 * any request.
 */
static json_int_t lat_min_ms(const struct dp_stats *s)
{
	return s->have_latency ? (json_int_t)(s->latency_min_us / 1000) : 0;
}

static json_int_t lat_max_ms(const struct dp_stats *s)
{
	return s->have_latency ? (json_int_t)((s->latency_max_us + 999) / 1000) : 0;
}

static double lat_avg_ms(const struct dp_stats *s)
{
	double avg;

	if (!s->latency_count)
		return 0;
	avg = (double)s->latency_sum_us / 1000.0 / (double)s->latency_count;
	return floor(avg * 10000.0 + 0.5) / 10000.0;
}

/*
 * ZooKeeper's ServerStats and BufferStats objects (StatCommand's JSON),
 * from the server's figures.  Cheetah keeps no response sizes: BufferStats
 * before any response (-1), as mntr prints; the TLS and auth-failure
 * counters it has no counterpart for are 0, as in mntr.
 */
static int c_server_stats(const struct adm_env *e, json_t *r, const char **err)
{
	struct dp_stats *s = stats_of(e, true, err);
	json_t *ss = NULL, *crs = NULL, *cr = NULL;
	struct dirs d;
	int ret = -ENOMEM;

	if (!s)
		return 0;
	if (dir_sizes(e, &d, err)) {
		free(s);
		return 0;
	}
	ss = json_object();
	crs = json_pack("{s:I,s:I,s:I}", "last_buffer_size", (json_int_t)-1, "min_buffer_size",
			(json_int_t)-1, "max_buffer_size", (json_int_t)-1);
	cr = json_deep_copy(crs);
	if (!ss || !crs || !cr)
		goto out;
	if (set_new(ss, "packets_sent", json_integer((json_int_t)s->packets_sent)) ||
	    set_new(ss, "packets_received", json_integer((json_int_t)s->packets_received)) ||
	    set_new(ss, "fsync_threshold_exceed_count", json_integer(0)) ||
	    set_new(ss, "client_response_stats", json_incref(crs)) ||
	    set_new(ss, "data_dir_size", json_integer(d.data)) ||
	    set_new(ss, "log_dir_size", json_integer(d.log)) ||
	    set_new(ss, "provider_null", json_false()) ||
	    set_new(ss, "server_state", json_string(s->server_state)) ||
	    set_new(ss, "last_processed_zxid", json_integer(s->last_zxid)) ||
	    set_new(ss, "outstanding_requests", json_integer((json_int_t)s->outstanding)) ||
	    set_new(ss, "avg_latency", json_real(lat_avg_ms(s))) ||
	    set_new(ss, "max_latency", json_integer(lat_max_ms(s))) ||
	    set_new(ss, "min_latency", json_integer(lat_min_ms(s))) ||
	    set_new(ss, "num_alive_client_connections", json_integer(s->connections)) ||
	    set_new(ss, "uptime", json_integer((json_int_t)s->uptime_ms)) ||
	    set_new(ss, "auth_failed_count", json_integer(0)) ||
	    set_new(ss, "non_mtlsremote_conn_count", json_integer(0)) ||
	    set_new(ss, "non_mtlslocal_conn_count", json_integer(0)))
		goto out;
	if (set_new(r, "version", any_string(s->version)) ||
	    set_new(r, "read_only", json_boolean(read_only(s))) ||
	    set_new(r, "server_stats", json_incref(ss)) ||
	    set_new(r, "client_response", json_incref(cr)) ||
	    set_new(r, "node_count", json_integer((json_int_t)s->znode_count)))
		goto out;
	ret = 0;
out:
	json_decref(ss);
	json_decref(crs);
	json_decref(cr);
	free(s);
	return ret;
}

int adm_server_stats(const struct adm_env *e, json_t *r, const char **err)
{
	return c_server_stats(e, r, err);
}

const char *adm_not_serving(const struct adm_env *e)
{
	const char *err = NULL;

	free(stats_of(e, true, &err));
	return err;
}

/* ZooKeeperServerConf's fields, from conf's "key=value" lines. */
static const struct {
	const char *conf, *json;
} conf_keys[] = {
    {"clientPort", "client_port"},
    {"dataDir", "data_dir"},
    {"dataLogDir", "data_log_dir"},
    {"tickTime", "tick_time"},
    {"maxClientCnxns", "max_client_cnxns"},
    {"minSessionTimeout", "min_session_timeout"},
    {"maxSessionTimeout", "max_session_timeout"},
    {"serverId", "server_id"},
    {"clientPortListenBacklog", "client_port_listen_backlog"},
};

static void put_conf(const char *k, const char *v, void *arg)
{
	for (size_t i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++)
		if (!strcmp(k, conf_keys[i].conf))
			json_object_set_new(arg, conf_keys[i].json, adm_value(v));
}

static int c_configuration(const struct adm_env *e, json_t *r, const char **err)
{
	char *t = text_of(e, "conf", err);
	json_t *m = json_object();

	if (!t || !m) {
		free(t);
		json_decref(m);
		return t ? -ENOMEM : 0;
	}
	each_pair(t, "=", put_conf, m);
	free(t);
	/* In ZooKeeperServerConf's order, whatever order the text had. */
	for (size_t i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++) {
		json_t *v = json_object_get(m, conf_keys[i].json);

		if (v && json_object_set(r, conf_keys[i].json, v)) {
			json_decref(m);
			return -ENOMEM;
		}
	}
	json_decref(m);
	return 0;
}

/* Environment.list: every value a string. */
static void put_env(const char *k, const char *v, void *arg)
{
	json_object_set_new(arg, k, any_string(v));
}

static int c_environment(const struct adm_env *e, json_t *r, const char **err)
{
	char *t = text_of(e, "envi", err);

	if (!t)
		return 0;
	each_pair(t, "=", put_env, r);
	free(t);
	return 0;
}

/* The configuration file as it was read at start-up, whole. */
static int c_initial_configuration(const struct adm_env *e, json_t *r, const char **err)
{
	const char *path = e->cfg ? e->cfg->config_file : NULL;
	char *buf;
	size_t n;
	FILE *f;
	int ret;

	if (!path) {
		*err = "no configuration file";
		return 0;
	}
	f = fopen(path, "r");
	if (!f) {
		*err = "cannot read the configuration file";
		return 0;
	}
	buf = malloc(ADM_MAX_INITIAL_CONFIG + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, ADM_MAX_INITIAL_CONFIG, f);
	fclose(f);
	buf[n] = '\0';
	ret = set_new(r, "initial_configuration", any_string(buf));
	free(buf);
	return ret;
}

/* wchs: "N connections watching M paths\nTotal watches:K" (WatchesSummary). */
static int c_watch_summary(const struct adm_env *e, json_t *r, const char **err)
{
	char *t = text_of(e, "wchs", err);
	long long conns, paths, total;
	int ret = 0;

	if (!t)
		return 0;
	if (sscanf(t, "%lld connections watching %lld paths\nTotal watches:%lld", &conns, &paths,
		   &total) != 3)
		*err = "Internal error";
	else if (set_new(r, "num_connections", json_integer(conns)) ||
		 set_new(r, "num_paths", json_integer(paths)) ||
		 set_new(r, "num_total_watches", json_integer(total)))
		ret = -ENOMEM;
	free(t);
	return ret;
}

/*
 * wchc ("0x<session>" lines, each followed by "\t<path>" lines) and wchp
 * ("<path>" lines, each followed by "\t0x<session>" lines) as
 * ZooKeeper's maps: session id (decimal, as Jackson writes a Long key) to
 * paths, path to session ids.  A worker lists its own connections, so a
 * session or path on two workers comes twice; their entries are merged.
 */
static int listing(const struct adm_env *e, const char *word, const char *field, bool by_path,
		   json_t *r, const char **err)
{
	char *t = text_of(e, word, err), *save = NULL;
	json_t *map = json_object(), *cur = NULL;
	int ret = 0;

	if (!t || !map) {
		free(t);
		json_decref(map);
		return t ? -ENOMEM : 0;
	}
	for (char *line = strtok_r(t, "\n", &save); line && !ret;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != '\t') {
			char key[32];
			const char *k = line;

			if (!by_path) {
				snprintf(key, sizeof(key), "%lld",
					 (long long)strtoull(line, NULL, 16));
				k = key;
			}
			cur = json_object_get(map, k);
			if (!cur && (json_object_set_new(map, k, json_array()) ||
				     !(cur = json_object_get(map, k))))
				ret = -ENOMEM;
		} else if (cur) {
			json_t *v = by_path ? json_integer((json_int_t)strtoull(line + 1, NULL, 16))
					    : any_string(line + 1);

			if (!v || json_array_append_new(cur, v))
				ret = -ENOMEM;
		}
	}
	free(t);
	if (!ret)
		ret = set_new(r, field, json_incref(map));
	json_decref(map);
	return ret;
}

static int c_watches(const struct adm_env *e, json_t *r, const char **err)
{
	return listing(e, "wchc", "session_id_to_watched_paths", false, r, err);
}

static int c_watches_by_path(const struct adm_env *e, json_t *r, const char **err)
{
	return listing(e, "wchp", "path_to_session_ids", true, r, err);
}

/* srst and crst: the reset is the answer (ZooKeeper's JSON has no field). */
static int reset(const struct adm_env *e, const char *word, const char **err)
{
	char *t = text_of(e, word, err);

	free(t);
	return 0;
}

static int c_stat_reset(const struct adm_env *e, json_t *r, const char **err)
{
	(void)r;
	return reset(e, "srst", err);
}

static int c_connection_stat_reset(const struct adm_env *e, json_t *r, const char **err)
{
	(void)r;
	return reset(e, "crst", err);
}

/*
 * The ensemble commands.  The member's role, its leader's id and the
 * leader's synced observers come from the "ensemble" text (the core
 * publishes them with relaxed atomics, as for mntr: nothing here waits
 * on the broadcast core); the members from conf's "membership:" lines,
 * which are /zookeeper/config's (so a reconfig shows); myid and the
 * last zxid from conf and srvr.  A standalone or read-only server is not
 * a QuorumZooKeeperServer: ZooKeeper's answers for that case.
 */
struct quorum {
	json_t *ens;		  /* the "ensemble" text's map */
	struct cfg_server s[256]; /* s[id]: server.id of the membership (id 0: none) */
	json_int_t client_port;
};

static void put_member(const char *k, const char *v, void *arg)
{
	struct quorum *q = arg;
	char line[CFG_SERVER_LINE_MAX + 1];
	struct cfg_server sv;
	struct cfg_error ce;
	int n;

	if (!strcmp(k, "clientPort")) {
		q->client_port = strtoll(v, NULL, 10);
		return;
	}
	if (strncmp(k, "server.", 7))
		return;
	n = snprintf(line, sizeof(line), "%s=%s", k, v);
	if (n < 0 || (size_t)n >= sizeof(line) || cfg_server_parse(line, (size_t)n, &sv, &ce))
		return;
	if (sv.id < 1 || sv.id > 255 || q->s[sv.id].id) {
		cfg_server_release(&sv);
		return;
	}
	q->s[sv.id] = sv;
}

static void quorum_free(struct quorum *q)
{
	json_decref(q->ens);
	for (size_t i = 0; i < 256; i++)
		if (q->s[i].id)
			cfg_server_release(&q->s[i]);
	free(q);
}

/*
 * The member's state, or NULL: *err set (not serving), or *alone (a
 * standalone or read-only server; then nothing else is read).
 */
static struct quorum *quorum_of(const struct adm_env *e, bool *alone, const char **err)
{
	char *t = text_of(e, "ensemble", err);
	struct quorum *q;
	const char *st;

	*alone = false;
	if (!t)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q || !(q->ens = json_object())) {
		free(t);
		free(q);
		*err = "Out of memory";
		return NULL;
	}
	each_pair(t, ": ", put_pair, q->ens);
	free(t);
	st = str(q->ens, "state");
	if (!strcmp(st, "standalone") || !strcmp(st, "read-only")) {
		*alone = true;
	} else if (!strcmp(st, "looking")) {
		*err = NOT_SERVING;
	} else if ((t = text_of(e, "conf", err))) {
		each_pair(t, "=", put_member, q);
		free(t);
		return q;
	}
	quorum_free(q);
	return NULL;
}

static const struct cfg_server *member(const struct quorum *q, json_int_t id)
{
	return id >= 1 && id <= 255 && q->s[id].id ? &q->s[id] : NULL;
}

/* "host:port" as Java's InetSocketAddress.getHostString() + ":" + port. */
static json_t *hostport(const char *host, unsigned port)
{
	char buf[CFG_SERVER_LINE_MAX + 16];
	bool v6 = strchr(host, ':') != NULL;

	snprintf(buf, sizeof(buf), "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
	return any_string(buf);
}

static json_t *one_list(json_t *v)
{
	json_t *a = json_array();

	if (!a || !v || json_array_append_new(a, v)) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* A server's client address: its line's client part; this member's own: its listener. */
static json_t *client_address(const struct adm_env *e, const struct quorum *q,
			      const struct cfg_server *s, bool me)
{
	if (s && s->client_host)
		return hostport(s->client_host, s->client_port);
	if (!me)
		return json_string("");
	return hostport(e->cfg && e->cfg->client_port_address ? e->cfg->client_port_address
							      : "0.0.0.0",
			(unsigned)q->client_port);
}

static int c_leader(const struct adm_env *e, json_t *r, const char **err)
{
	bool alone;
	struct quorum *q = quorum_of(e, &alone, err);
	const struct cfg_server *l;
	int ret = 0;

	if (!q) {
		if (alone)
			*err = "server is not initialized"; /* LeaderCommand off a quorum */
		return 0;
	}
	l = member(q, num(q->ens, "leader_id"));
	if (set_new(r, "is_leader", json_boolean(!strcmp(str(q->ens, "state"), "leader"))) ||
	    set_new(r, "leader_id", json_integer(num(q->ens, "leader_id"))) ||
	    set_new(r, "leader_ip", any_string(l ? l->host : "")))
		ret = -ENOMEM;
	quorum_free(q);
	return ret;
}

/* VotingViewCommand's QuorumServerView of each voting member. */
static int c_voting_view(const struct adm_env *e, json_t *r, const char **err)
{
	bool alone;
	struct quorum *q = quorum_of(e, &alone, err);
	json_t *view = json_object();
	json_int_t myid;
	int ret = -ENOMEM;

	if (!q || !view) {
		json_decref(view);
		if (q)
			quorum_free(q);
		else if (alone)
			return set_new(r, "current_config", json_object());
		return q ? -ENOMEM : 0;
	}
	myid = num(q->ens, "myid");
	for (json_int_t id = 1; id <= 255; id++) {
		const struct cfg_server *s = member(q, id);
		json_t *v;
		char key[8];

		if (!s || s->type != CFG_PARTICIPANT)
			continue;
		snprintf(key, sizeof(key), "%d", (int)id);
		v = json_object();
		if (!v || set_new(view, key, v) ||
		    set_new(v, "server_addresses", one_list(hostport(s->host, s->quorum_port))) ||
		    set_new(v, "election_addresses",
			    one_list(hostport(s->host, s->election_port))) ||
		    set_new(v, "client_address", client_address(e, q, s, id == myid)) ||
		    set_new(v, "learner_type", json_string("participant")))
			goto out;
	}
	ret = set_new(r, "current_config", json_incref(view));
out:
	json_decref(view);
	quorum_free(q);
	return ret;
}

/* Jackson's view of a MultipleAddresses holding host:port (its getters). */
static json_t *multi_address(const char *host, unsigned port)
{
	json_t *a = json_object();

	if (!a || set_new(a, "empty", json_false()) ||
	    set_new(a, "all_addresses", one_list(hostport(host, port))) ||
	    set_new(a, "all_reachable_addresses", one_list(hostport(host, port))) ||
	    set_new(a, "one", hostport(host, port)) ||
	    set_new(a, "reachable_address", hostport(host, port)) ||
	    set_new(a, "wildcard_addresses", one_list(hostport("0.0.0.0", port))) ||
	    set_new(a, "all_ports", one_list(json_integer(port))) ||
	    set_new(a, "all_host_strings", one_list(any_string(host))) ||
	    set_new(a, "all_reachable_addresses_or_all", one_list(hostport(host, port))) ||
	    set_new(a, "reachable_or_one", hostport(host, port))) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static int c_zabstate(const struct adm_env *e, json_t *r, const char **err)
{
	bool alone;
	struct quorum *q = quorum_of(e, &alone, err);
	const struct cfg_server *me;
	json_int_t myid, zxid = 0;
	struct dp_stats *s;
	char hex[24];
	int ret = -ENOMEM;

	if (!q) {
		if (!alone && strcmp(*err, NOT_SERVING))
			return 0;
		/* No QuorumZooKeeperServer (standalone, or electing): not an error here. */
		*err = NULL;
		if (set_new(r, "voting", json_false()) || set_new(r, "zabstate", json_string("")))
			return -ENOMEM;
		return 0;
	}
	s = stats_of(e, true, err);
	if (!s) {
		quorum_free(q);
		return 0;
	}
	zxid = s->last_zxid;
	free(s);
	myid = num(q->ens, "myid");
	me = member(q, myid);
	snprintf(hex, sizeof(hex), "0x%" PRIx64, (uint64_t)zxid);
	if (set_new(r, "myid", json_integer(myid)) ||
	    set_new(r, "is_leader", json_boolean(!strcmp(str(q->ens, "state"), "leader"))) ||
	    (me && (set_new(r, "quorum_address", multi_address(me->host, me->quorum_port)) ||
		    set_new(r, "election_address", multi_address(me->host, me->election_port)))) ||
	    set_new(r, "client_address", client_address(e, q, NULL, true)) ||
	    set_new(r, "voting", json_boolean(me && me->type == CFG_PARTICIPANT)) ||
	    set_new(r, "last_zxid", json_string(hex)) ||
	    set_new(r, "zab_epoch", json_integer((json_int_t)((uint64_t)zxid >> 32))) ||
	    set_new(r, "zab_counter", json_integer(zxid & 0xffffffff)) ||
	    set_new(r, "zabstate", json_string("broadcast")))
		goto out;
	ret = 0;
out:
	quorum_free(q);
	return ret;
}

/*
 * The leader's synced observers (SyncedObserverConsCommand); a follower
 * has none (no observer master), nor has an observer.  Each entry holds
 * the observer's "sid" here; adm_structured.c's adm_c_observers adds
 * the link's figures (ZooKeeper's LearnerHandler info) from the core.
 */
static int c_observers(const struct adm_env *e, json_t *r, const char **err)
{
	bool alone;
	struct quorum *q = quorum_of(e, &alone, err);
	json_t *list = json_array(), *ids;
	json_int_t n = 0;
	int ret = -ENOMEM;

	if (!list || (!q && !alone)) {
		json_decref(list);
		if (q)
			quorum_free(q);
		return list ? 0 : -ENOMEM;
	}
	if (q && !strcmp(str(q->ens, "state"), "leader")) {
		n = num(q->ens, "synced_observers");
		ids = json_object_get(q->ens, "observer_ids");
		if (json_is_integer(ids)) {
			json_t *o = json_pack("{s:I}", "sid", json_integer_value(ids));

			if (!o || json_array_append_new(list, o))
				goto out;
		} else if (json_is_string(ids)) {
			const char *p = json_string_value(ids);
			char *end;

			for (long long id = strtoll(p, &end, 10); end != p;
			     p = end, id = strtoll(p, &end, 10)) {
				json_t *o = json_pack("{s:I}", "sid", (json_int_t)id);

				if (!o || json_array_append_new(list, o))
					goto out;
			}
		}
	}
	if (set_new(r, "synced_observers", json_integer(n)) ||
	    set_new(r, "observers", json_incref(list)))
		goto out;
	ret = 0;
out:
	json_decref(list);
	if (q)
		quorum_free(q);
	return ret;
}

int adm_observers_base(const struct adm_env *e, json_t *r, const char **err)
{
	return c_observers(e, r, err);
}

static const struct cmd cmds[] = {
    {{"configuration", "conf", "config"}, c_configuration},
    {{"connection_stat_reset", "crst"}, c_connection_stat_reset},
    {{"connections", "cons"}, NULL, adm_c_connections, CMD_SERVER},
    {{"dirs"}, c_dirs},
    {{"dump"}, NULL, adm_c_dump, CMD_SERVER},
    {{"environment", "env", "envi"}, c_environment},
    {{"get_trace_mask", "gtmk"}, c_get_trace_mask},
    {{"hash"}, NULL, adm_c_hash, CMD_SERVER},
    {{"initial_configuration", "icfg"}, c_initial_configuration},
    {{"is_read_only", "isro"}, c_is_read_only},
    {{"last_snapshot", "lsnp"}, NULL, adm_c_last_snapshot, CMD_SERVER},
    {{"leader", "lead"}, c_leader},
    {{"monitor", "mntr"}, c_monitor},
    {{"observer_connection_stat_reset", "orst"}, NULL, adm_c_observer_reset, CMD_SERVER},
    {{"observers", "obsr"}, NULL, adm_c_observers, 0},
    {{"restore", "rest"}, NULL, adm_c_restore, CMD_SERVER | CMD_AUTH | CMD_POST},
    {{"ruok"}, c_ruok},
    {{"server_stats", "srvr"}, c_server_stats},
    {{"set_trace_mask", "stmk"}, NULL, adm_c_set_trace_mask, 0},
    {{"snapshot", "snap"}, NULL, adm_c_snapshot, CMD_SERVER | CMD_AUTH},
    {{"stat_reset", "srst"}, c_stat_reset},
    {{"stats", "stat"}, NULL, adm_c_stats, CMD_SERVER},
    {{"system_properties", "sysp"}, NULL, adm_c_system_properties, 0},
    {{"voting_view"}, c_voting_view},
    {{"watch_summary", "wchs"}, c_watch_summary},
    {{"watches", "wchc"}, c_watches},
    {{"watches_by_path", "wchp"}, c_watches_by_path},
    {{"zabstate"}, c_zabstate},
};

const char *const adm_cmd_names[] = {
    "configuration",
    "connection_stat_reset",
    "connections",
    "dirs",
    "dump",
    "environment",
    "get_trace_mask",
    "hash",
    "initial_configuration",
    "is_read_only",
    "last_snapshot",
    "leader",
    "monitor",
    "observer_connection_stat_reset",
    "observers",
    "restore",
    "ruok",
    "server_stats",
    "set_trace_mask",
    "snapshot",
    "stat_reset",
    "stats",
    "system_properties",
    "voting_view",
    "watch_summary",
    "watches",
    "watches_by_path",
    "zabstate",
};
const size_t adm_n_cmds = sizeof(adm_cmd_names) / sizeof(adm_cmd_names[0]);

static const struct cmd *find(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		for (size_t j = 0; j < 4 && cmds[i].names[j]; j++)
			if (!strcmp(name, cmds[i].names[j]))
				return &cmds[i];
	return NULL;
}

json_t *adm_run(struct adm_env *e, const char *name)
{
	struct adm_call call = {.body_fd = -1, .stream_fd = -1, .status = 200};
	json_t *r = adm_run_call(e, name, &call);

	if (call.stream_fd >= 0)
		close(call.stream_fd);
	return r;
}

/*
 * Commands.runCommand's checks, in its order: unknown command (200),
 * server required and not serving (200), then the AuthRequest: no
 * header 401 "Auth info is missing for the command", no identity 401
 * "Not authenticated", the ACL 403 "Not authorized", anything else 500
 * "Error occurred during auth".  Returns the error to answer (c->status
 * set), or NULL to run the command.
 */
static const char *precheck(struct adm_env *e, const struct cmd *cmd, struct adm_call *c)
{
	const char *err;
	int rc;

	if ((cmd->flags & CMD_POST) && !c->post) {
		c->status = 405; /* a PostCommand has no runGet */
		return "HTTP method GET is not supported by this URL";
	}
	if ((cmd->flags & CMD_SERVER) && (err = adm_not_serving(e)))
		return err;
	if (!(cmd->flags & CMD_AUTH))
		return NULL;
	if (!c->auth) {
		c->status = 401;
		return "Auth info is missing for the command";
	}
	if (!e->info || !e->info->authorize) {
		c->status = 500;
		return "Error occurred during auth";
	}
	rc = e->info->authorize(e->ctx, c->auth, c->peer_ip, ZK_PERM_ALL, "/");
	switch (rc) {
	case 0:
		return NULL;
	case -ENOKEY:
		c->status = 401;
		return "Auth info is missing for the command";
	case -EACCES:
		c->status = 401;
		return "Not authenticated";
	case -EPERM:
		c->status = 403;
		return "Not authorized";
	default:
		c->status = 500;
		return "Error occurred during auth";
	}
}

bool adm_may_restore(struct adm_env *e, const char *auth, const char *peer_ip)
{
	if (e->cfg && !e->cfg->admin_restore_enable)
		return false;
	if (!auth || !e->info || !e->info->authorize)
		return false;
	return e->info->authorize(e->ctx, auth, peer_ip, ZK_PERM_ALL, "/") == 0;
}

json_t *adm_run_call(struct adm_env *e, const char *name, struct adm_call *call)
{
	_Static_assert(sizeof(cmds) / sizeof(cmds[0]) ==
			   sizeof(adm_cmd_names) / sizeof(adm_cmd_names[0]),
		       "every command listed");
	const struct cmd *c = find(name);
	const char *err = NULL;
	char *unknown = NULL;
	json_t *r = json_object();

	assert(call && call->stream_fd < 0);
	if (!r)
		return NULL;
	if (!c) {
		/* ZooKeeper: HTTP 200, "Unknown command: <name>". */
		if (asprintf(&unknown, "Unknown command: %s", name) < 0) {
			json_decref(r);
			return NULL;
		}
		err = unknown;
	} else if ((err = precheck(e, c, call))) {
		/* answered with err */
	} else if (c->run2 ? c->run2(e, call, r, &err) : c->run(e, r, &err)) {
		json_decref(r);
		return NULL;
	}
	if (err) {
		/* ZooKeeper's CommandResponse: an error drops nothing, but callers see only it. */
		json_object_clear(r);
	}
	if (set_new(r, "command", any_string(c ? c->names[0] : name)) ||
	    set_new(r, "error", err ? any_string(err) : json_null())) {
		json_decref(r);
		r = NULL;
	}
	free(unknown);
	return r;
}
