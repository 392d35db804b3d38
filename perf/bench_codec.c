/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro-benchmark of the wire codec (dataplane/proto.h): nanoseconds per
 * record to encode and to decode the records a ZooKeeper session
 * exchanges most, in both directions:
 *
 *   requests  the client encodes (proto_encode_connect_req /
 *             proto_encode_request), the server decodes (proto_frame_len +
 *             proto_decode_connect_req / proto_decode_request);
 *   replies   the server encodes (proto_encode_connect_resp /
 *             proto_encode_reply / proto_encode_event), the client
 *             decodes (proto_frame_len + proto_decode_connect_resp /
 *             proto_decode_reply).
 *
 * Records: ConnectRequest/Response; getData with a GetDataResponse of 100
 * bytes of data and a Stat; setData of 100 bytes and its Stat; create of
 * 100 bytes with OPEN_ACL_UNSAFE and its CreateResponse; getChildren2
 * answered with 10 and with 100 children; a multi of 4 ops (create,
 * setData, delete, check) and its 4 results; a watch notification.
 * Decoding is zero copy: lists stay raw views.  For records with lists a
 * third figure, "walk", is decode plus what a consumer then does: the
 * server copies a multi's ops out (proto_multi_ops), the client iterates
 * the children or the multi results.
 *
 * Method: every encode writes one whole frame into a fixed buffer reset
 * each time; every decode reads the same prepared frame.  The xid changes
 * per iteration, the results feed a sink that is printed, and a compiler
 * barrier separates iterations, so nothing is hoisted or optimised away
 * (the codec lives in another translation unit and no LTO is used).
 * Each measurement is calibrated to about --ms milliseconds of CPU, then
 * repeated --reps times; the figures are the minimum and the median over
 * the repetitions of the thread's own CPU time per record
 * (CLOCK_THREAD_CPUTIME_ID, which time slicing on a shared machine does not
 * inflate), plus the median wall time.  The harness's own cost (an
 * indirect call per record) is measured and printed as "harness".
 * Every prepared frame is checked to decode (rc 0, no trailing bytes)
 * before anything is timed.
 *
 * Output: one JSON object per line on stdout (one describing the machine,
 * then one per record and phase); a human table on stderr.  Benchmarks
 * never decide whether anything passes.  Single-threaded.
 *
 * Usage: bench_codec [--ms MS] [--reps N] [--only SUBSTRING]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/jute.h"
#include "common/zkdefs.h"
#include "dataplane/zkproto/proto.h"

#define DATA_LEN 100
#define MAX_CHILDREN 100
#define MAX_REPS 64

#define barrier() __asm__ __volatile__("" ::: "memory")

/* ---- Sample records ---- */

static uint8_t data100[DATA_LEN];
static const uint8_t passwd16[16];
static struct zk_stat stat_data, stat_parent10, stat_parent100;
static char child_store[MAX_CHILDREN][16];
static struct jute_buf children[MAX_CHILDREN];

#define BUF(s) ((struct jute_buf){(const uint8_t *)(s), (int32_t)(sizeof(s) - 1)})

static const char node_path[] = "/bench/app/node-0000000042";
static const char parent_path[] = "/bench/app";

static void make_samples(void)
{
	for (int i = 0; i < DATA_LEN; i++)
		data100[i] = (uint8_t)('a' + i % 26);
	stat_data = (struct zk_stat){
	    .czxid = 0x100000010LL,
	    .mzxid = 0x100000fa0LL,
	    .ctime = 1700000000000LL,
	    .mtime = 1700000123456LL,
	    .version = 7,
	    .data_length = DATA_LEN,
	    .pzxid = 0x100000010LL,
	};
	stat_parent10 = stat_data;
	stat_parent10.cversion = 10;
	stat_parent10.num_children = 10;
	stat_parent10.data_length = 0;
	stat_parent100 = stat_parent10;
	stat_parent100.cversion = 100;
	stat_parent100.num_children = 100;
	for (int i = 0; i < MAX_CHILDREN; i++) {
		int n = snprintf(child_store[i], sizeof(child_store[i]), "node-%010d", i);
		children[i] = (struct jute_buf){(const uint8_t *)child_store[i], n};
	}
}

/*
 * ---- Encoders: one whole frame each ----
 * The records are built once (make_records); an encoder only sets the xid
 * (or zxid), so the figures are the codec's, not the cost of filling a
 * 144-byte struct proto_request.
 */

static struct proto_connect_req connect_req;
static struct proto_connect_resp connect_resp;
static struct proto_request get_data_req, set_data_req, create_req, children_req, multi_req;
static struct proto_response get_data_resp, set_data_resp, create_resp, children10_resp,
    children100_resp, multi_resp;
static struct proto_watcher_event event;
static struct proto_multi_op multi_ops[4];
static struct proto_multi_result multi_results[4];

static void make_records(void)
{
	connect_req = (struct proto_connect_req){
	    .timeout = 30000, .passwd = {passwd16, 16}, .has_read_only = true};
	connect_resp = (struct proto_connect_resp){
	    .timeout = 30000, .passwd = {passwd16, 16}, .has_read_only = true};

	get_data_req.hdr.type = ZK_OP_GETDATA;
	get_data_req.path_watch = (struct proto_path_watch_req){BUF(node_path), true};
	get_data_resp.data_stat = (struct proto_data_stat){{data100, DATA_LEN}, stat_data};

	set_data_req.hdr.type = ZK_OP_SETDATA;
	set_data_req.set_data = (struct proto_set_data_req){BUF(node_path), {data100, DATA_LEN}, 7};
	set_data_resp.stat = stat_data;

	create_req.hdr.type = ZK_OP_CREATE;
	create_req.create = (struct proto_create_req){
	    BUF(node_path), {data100, DATA_LEN}, proto_acl_open_unsafe, 0, 0};
	create_resp.path = BUF(node_path);

	children_req.hdr.type = ZK_OP_GETCHILDREN2;
	children_req.path_watch = (struct proto_path_watch_req){BUF(parent_path), true};
	children10_resp.children_stat =
	    (struct proto_children_stat){{.items = children, .count = 10}, stat_parent10};
	children100_resp.children_stat =
	    (struct proto_children_stat){{.items = children, .count = 100}, stat_parent100};

	multi_ops[0].type = ZK_OP_CREATE;
	multi_ops[0].create = (struct proto_create_req){
	    BUF("/bench/multi/a"), {data100, DATA_LEN}, proto_acl_open_unsafe, 0, 0};
	multi_ops[1].type = ZK_OP_SETDATA;
	multi_ops[1].set_data = (struct proto_set_data_req){BUF("/bench/multi/b"), {data100, DATA_LEN}, 3};
	multi_ops[2].type = ZK_OP_DELETE;
	multi_ops[2].path_version = (struct proto_path_version_req){BUF("/bench/multi/c"), -1};
	multi_ops[3].type = ZK_OP_CHECK;
	multi_ops[3].path_version = (struct proto_path_version_req){BUF("/bench/multi/d"), 5};
	multi_req.hdr.type = ZK_OP_MULTI;
	multi_req.multi = (struct proto_multi_req){.items = multi_ops, .count = 4};

	multi_results[0].type = ZK_OP_CREATE;
	multi_results[0].path = BUF("/bench/multi/a");
	multi_results[1].type = ZK_OP_SETDATA;
	multi_results[1].stat = stat_data;
	multi_results[2].type = ZK_OP_DELETE;
	multi_results[3].type = ZK_OP_CHECK;
	multi_resp.multi = (struct proto_multi_resp){.items = multi_results, .count = 4};

	event = (struct proto_watcher_event){ZK_EVENT_NODE_DATA_CHANGED, ZK_STATE_SYNC_CONNECTED,
					     BUF(node_path)};
}

static int enc_connect_req(struct jute_out *o, int32_t xid)
{
	connect_req.last_zxid_seen = 0x100000000LL + xid;
	return proto_encode_connect_req(o, &connect_req);
}

static int enc_connect_resp(struct jute_out *o, int32_t xid)
{
	connect_resp.session_id = 0x0100000012345678LL + xid;
	return proto_encode_connect_resp(o, &connect_resp);
}

static int enc_req(struct jute_out *o, struct proto_request *r, int32_t xid)
{
	r->hdr.xid = xid;
	return proto_encode_request(o, r);
}

static int enc_resp(struct jute_out *o, int32_t op, const struct proto_response *b, int32_t xid)
{
	struct proto_reply_hdr h = {xid, 0x100000fa0LL, ZK_OK};

	return proto_encode_reply(o, &h, op, b);
}

static int enc_get_data_req(struct jute_out *o, int32_t xid)
{
	return enc_req(o, &get_data_req, xid);
}

static int enc_get_data_resp(struct jute_out *o, int32_t xid)
{
	return enc_resp(o, ZK_OP_GETDATA, &get_data_resp, xid);
}

static int enc_set_data_req(struct jute_out *o, int32_t xid)
{
	return enc_req(o, &set_data_req, xid);
}

static int enc_set_data_resp(struct jute_out *o, int32_t xid)
{
	return enc_resp(o, ZK_OP_SETDATA, &set_data_resp, xid);
}

static int enc_create_req(struct jute_out *o, int32_t xid)
{
	return enc_req(o, &create_req, xid);
}

static int enc_create_resp(struct jute_out *o, int32_t xid)
{
	return enc_resp(o, ZK_OP_CREATE, &create_resp, xid);
}

static int enc_children_req(struct jute_out *o, int32_t xid)
{
	return enc_req(o, &children_req, xid);
}

static int enc_children10_resp(struct jute_out *o, int32_t xid)
{
	return enc_resp(o, ZK_OP_GETCHILDREN2, &children10_resp, xid);
}

static int enc_children100_resp(struct jute_out *o, int32_t xid)
{
	return enc_resp(o, ZK_OP_GETCHILDREN2, &children100_resp, xid);
}

static int enc_multi_req(struct jute_out *o, int32_t xid)
{
	return enc_req(o, &multi_req, xid);
}

static int enc_multi_resp(struct jute_out *o, int32_t xid)
{
	return enc_resp(o, ZK_OP_MULTI, &multi_resp, xid);
}

static int enc_event(struct jute_out *o, int32_t xid)
{
	return proto_encode_event(o, 0x100000fa0LL + xid, &event);
}

/* ---- Decoders: frame length check + record, as a receiver does ---- */

struct bench_case;
typedef int (*enc_fn)(struct jute_out *o, int32_t xid);
typedef int (*dec_fn)(const struct bench_case *c, const uint8_t *f, size_t n, uint64_t *sink);

struct bench_case {
	const char *record;  /* the jute record(s) */
	const char *op;	     /* opcode name, or "connect" */
	bool request;	     /* client -> server */
	int32_t reply_op;    /* for proto_decode_reply */
	enc_fn encode;
	dec_fn decode;
	dec_fn walk; /* decode + consume the list, or NULL */
	uint8_t *frame;
	size_t frame_len;
};

static int payload_len(const uint8_t *f, size_t n, uint32_t *len)
{
	int rc = proto_frame_len(f, n, ZK_DEFAULT_MAX_BUFFER, len);

	if (!rc && (size_t)*len + PROTO_LEN_SIZE > n)
		rc = -EAGAIN;
	return rc;
}

static int dec_connect_req(const struct bench_case *c, const uint8_t *f, size_t n, uint64_t *sink)
{
	struct proto_connect_req r;
	uint32_t len;
	int rc = payload_len(f, n, &len);

	(void)c;
	if (!rc)
		rc = proto_decode_connect_req(f + PROTO_LEN_SIZE, len, &r);
	if (!rc)
		*sink += (uint64_t)r.timeout + (uint64_t)r.last_zxid_seen + (uint64_t)r.passwd.len;
	return rc;
}

static int dec_connect_resp(const struct bench_case *c, const uint8_t *f, size_t n, uint64_t *sink)
{
	struct proto_connect_resp r;
	uint32_t len;
	int rc = payload_len(f, n, &len);

	(void)c;
	if (!rc)
		rc = proto_decode_connect_resp(f + PROTO_LEN_SIZE, len, &r);
	if (!rc)
		*sink += (uint64_t)r.timeout + (uint64_t)r.session_id + (uint64_t)r.passwd.len;
	return rc;
}

static int dec_request(const struct bench_case *c, const uint8_t *f, size_t n, uint64_t *sink)
{
	struct proto_request r;
	uint32_t len;
	int rc = payload_len(f, n, &len);

	(void)c;
	if (!rc)
		rc = proto_decode_request(f + PROTO_LEN_SIZE, len, &r);
	if (!rc)
		*sink += (uint64_t)r.hdr.xid + (uint64_t)r.hdr.type + r.trailing;
	return rc;
}

static int dec_reply(const struct bench_case *c, const uint8_t *f, size_t n, uint64_t *sink)
{
	struct proto_reply r;
	uint32_t len;
	int rc = payload_len(f, n, &len);

	if (!rc)
		rc = proto_decode_reply(f + PROTO_LEN_SIZE, len, c->reply_op, &r);
	if (!rc)
		*sink += (uint64_t)r.hdr.zxid + (uint64_t)r.has_body + r.trailing;
	return rc;
}

/* The server takes the ops out of a multi it decoded. */
static int walk_multi_req(const struct bench_case *c, const uint8_t *f, size_t n, uint64_t *sink)
{
	struct proto_multi_op ops[8];
	struct proto_request r;
	uint32_t len;
	int rc = payload_len(f, n, &len);

	(void)c;
	if (!rc)
		rc = proto_decode_request(f + PROTO_LEN_SIZE, len, &r);
	if (rc)
		return rc;
	rc = proto_multi_ops(&r.multi, ops, 8);
	if (rc <= 0)
		return rc < 0 ? rc : -EBADMSG;
	*sink += (uint64_t)rc + (uint64_t)ops[rc - 1].type + (uint64_t)ops[0].create.data.len;
	return 0;
}

/* The client iterates the children it got. */
static int walk_children(const struct bench_case *c, const uint8_t *f, size_t n, uint64_t *sink)
{
	struct proto_reply r;
	struct proto_iter it;
	struct jute_buf s;
	uint32_t len;
	int rc = payload_len(f, n, &len);

	if (!rc)
		rc = proto_decode_reply(f + PROTO_LEN_SIZE, len, c->reply_op, &r);
	if (rc)
		return rc;
	proto_str_iter(&it, &r.body.children_stat.children);
	while (proto_str_next(&it, &s))
		*sink += (uint64_t)s.len + s.p[s.len - 1];
	return 0;
}

/* The client iterates the results of its multi. */
static int walk_multi_resp(const struct bench_case *c, const uint8_t *f, size_t n, uint64_t *sink)
{
	struct proto_multi_result res;
	struct proto_reply r;
	struct proto_iter it;
	uint32_t len;
	int rc = payload_len(f, n, &len);

	if (!rc)
		rc = proto_decode_reply(f + PROTO_LEN_SIZE, len, c->reply_op, &r);
	if (rc)
		return rc;
	proto_result_iter(&it, &r.body.multi);
	while (proto_result_next(&it, &res))
		*sink += (uint64_t)res.type + (uint64_t)res.err;
	return 0;
}

static struct bench_case cases[] = {
    {"ConnectRequest", "connect", true, 0, enc_connect_req, dec_connect_req, NULL, NULL, 0},
    {"ConnectResponse", "connect", false, 0, enc_connect_resp, dec_connect_resp, NULL, NULL, 0},
    {"GetDataRequest", "getData", true, 0, enc_get_data_req, dec_request, NULL, NULL, 0},
    {"GetDataResponse(100 B + Stat)", "getData", false, ZK_OP_GETDATA, enc_get_data_resp,
     dec_reply, NULL, NULL, 0},
    {"SetDataRequest(100 B)", "setData", true, 0, enc_set_data_req, dec_request, NULL, NULL, 0},
    {"SetDataResponse(Stat)", "setData", false, ZK_OP_SETDATA, enc_set_data_resp, dec_reply,
     NULL, NULL, 0},
    {"CreateRequest(100 B, OPEN_ACL)", "create", true, 0, enc_create_req, dec_request, NULL, NULL,
     0},
    {"CreateResponse", "create", false, ZK_OP_CREATE, enc_create_resp, dec_reply, NULL, NULL, 0},
    {"GetChildren2Request", "getChildren2", true, 0, enc_children_req, dec_request, NULL, NULL,
     0},
    {"GetChildren2Response(10)", "getChildren2", false, ZK_OP_GETCHILDREN2, enc_children10_resp,
     dec_reply, walk_children, NULL, 0},
    {"GetChildren2Response(100)", "getChildren2", false, ZK_OP_GETCHILDREN2,
     enc_children100_resp, dec_reply, walk_children, NULL, 0},
    {"MultiRequest(4 ops)", "multi", true, 0, enc_multi_req, dec_request, walk_multi_req, NULL,
     0},
    {"MultiResponse(4 results)", "multi", false, ZK_OP_MULTI, enc_multi_resp, dec_reply,
     walk_multi_resp, NULL, 0},
    {"WatcherEvent", "notification", false, ZK_OP_NOTIFICATION, enc_event, dec_reply, NULL, NULL,
     0},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ---- Timing ---- */

static uint8_t enc_buf[64 << 10];

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

enum phase { PH_ENCODE, PH_DECODE, PH_WALK, PH_HARNESS };

static const char *const phase_name[] = {"encode", "decode", "walk", "harness"};

static int noop_enc(struct jute_out *o, int32_t xid)
{
	(void)o;
	return xid == -2;
}

/* Runs iters records of one phase; returns the sink. */
static uint64_t run(const struct bench_case *c, enum phase ph, uint64_t iters)
{
	struct jute_out out;
	uint64_t sink = 0;
	int bad = 0;

	switch (ph) {
	case PH_ENCODE:
		for (uint64_t i = 0; i < iters; i++) {
			jute_out_init_fixed(&out, enc_buf, sizeof(enc_buf));
			bad |= c->encode(&out, (int32_t)i);
			sink += out.len + enc_buf[out.len - 1];
			barrier();
		}
		break;
	case PH_DECODE:
	case PH_WALK: {
		dec_fn fn = ph == PH_WALK ? c->walk : c->decode;

		for (uint64_t i = 0; i < iters; i++) {
			bad |= fn(c, c->frame, c->frame_len, &sink);
			barrier();
		}
		break;
	}
	case PH_HARNESS: {
		enc_fn fn = noop_enc;

		barrier();
		for (uint64_t i = 0; i < iters; i++) {
			jute_out_init_fixed(&out, enc_buf, sizeof(enc_buf));
			bad |= fn(&out, (int32_t)i);
			sink += out.len;
			barrier();
		}
		break;
	}
	}
	if (bad) {
		fprintf(stderr, "bench_codec: %s %s failed while timing\n", c->record,
			phase_name[ph]);
		exit(1);
	}
	return sink;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct result {
	uint64_t iters;
	double cpu_min, cpu_med, wall_med;
};

static uint64_t sink_total;

static struct result measure(const struct bench_case *c, enum phase ph, double ms, int reps)
{
	double cpu[MAX_REPS], wall[MAX_REPS];
	uint64_t iters = 1000;
	struct result r;

	/* Calibrate: grow until a run takes a tenth of the target. */
	for (;;) {
		double c0 = cpu_now();

		sink_total += run(c, ph, iters);
		double dt = cpu_now() - c0;
		if (dt >= ms * 1e5 || iters >= (1ull << 40)) {
			iters = (uint64_t)((double)iters * (ms * 1e6) / (dt > 0 ? dt : 1));
			break;
		}
		iters *= 4;
	}
	if (iters < 1000)
		iters = 1000;
	for (int k = 0; k < reps; k++) {
		double w0 = wall_now(), c0 = cpu_now();

		sink_total += run(c, ph, iters);
		cpu[k] = (cpu_now() - c0) / (double)iters;
		wall[k] = (wall_now() - w0) / (double)iters;
	}
	qsort(cpu, (size_t)reps, sizeof(double), cmp_double);
	qsort(wall, (size_t)reps, sizeof(double), cmp_double);
	r.iters = iters;
	r.cpu_min = cpu[0];
	r.cpu_med = cpu[reps / 2];
	r.wall_med = wall[reps / 2];
	return r;
}

static void report(const struct bench_case *c, enum phase ph, const struct result *r, int reps)
{
	const char *side = ph == PH_HARNESS ? "none"
			   : ph == PH_ENCODE ? (c->request ? "client" : "server")
					     : (c->request ? "server" : "client");

	printf("{\"bench\":\"codec\",\"record\":\"%s\",\"op\":\"%s\",\"direction\":\"%s\","
	       "\"frame_bytes\":%zu,\"phase\":\"%s\",\"side\":\"%s\",\"iterations\":%llu,"
	       "\"reps\":%d,\"cpu_ns_min\":%.1f,\"cpu_ns_median\":%.1f,\"wall_ns_median\":%.1f,"
	       "\"cpu_share\":%.2f}\n",
	       c->record, c->op, c->request ? "request" : "reply", c->frame_len, phase_name[ph],
	       side, (unsigned long long)r->iters, reps, r->cpu_min, r->cpu_med, r->wall_med,
	       r->wall_med > 0 ? r->cpu_med / r->wall_med : 0.0);
	fflush(stdout);
}

/* ---- Machine ---- */

static void loadavg(double la[3])
{
	la[0] = la[1] = la[2] = -1;
	if (getloadavg(la, 3) != 3)
		la[0] = la[1] = la[2] = -1;
}

static void machine(double ms, int reps)
{
	char line[512], cpu[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");
	double la[3];

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "model name", 10)) {
				char *p = strchr(line, ':');
				if (p) {
					snprintf(cpu, sizeof(cpu), "%s", p + 2);
					cpu[strcspn(cpu, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	for (char *p = cpu; *p; p++)
		if (*p == '"' || *p == '\\')
			*p = ' ';
	loadavg(la);
	printf("{\"bench\":\"machine\",\"nproc\":%ld,\"cpu\":\"%s\",\"loadavg\":[%.2f,%.2f,%.2f],"
	       "\"ms_per_rep\":%.0f,\"reps\":%d}\n",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, la[0], la[1], la[2], ms, reps);
	fprintf(stderr, "machine: %ld CPUs (%s), load average %.2f %.2f %.2f; %d reps of ~%.0f ms CPU "
			"each\n",
		sysconf(_SC_NPROCESSORS_ONLN), cpu, la[0], la[1], la[2], reps, ms);
}

/* ---- Main ---- */

/* Encodes every case's frame once and checks that it decodes. */
static void prepare(void)
{
	struct jute_out out;

	for (size_t i = 0; i < NCASES; i++) {
		struct bench_case *c = &cases[i];
		uint64_t sink = 0;
		int rc;

		jute_out_init_fixed(&out, enc_buf, sizeof(enc_buf));
		rc = c->encode(&out, 1);
		if (rc) {
			fprintf(stderr, "bench_codec: encoding %s failed: %s\n", c->record,
				strerror(-rc));
			exit(1);
		}
		c->frame = malloc(out.len);
		if (!c->frame) {
			fprintf(stderr, "bench_codec: out of memory\n");
			exit(1);
		}
		memcpy(c->frame, enc_buf, out.len);
		c->frame_len = out.len;
		rc = c->decode(c, c->frame, c->frame_len, &sink);
		if (!rc && c->walk)
			rc = c->walk(c, c->frame, c->frame_len, &sink);
		if (rc) {
			fprintf(stderr, "bench_codec: %s does not decode: %s\n", c->record,
				strerror(-rc));
			exit(1);
		}
		if (c->decode == dec_request) {
			struct proto_request r;

			proto_decode_request(c->frame + PROTO_LEN_SIZE, c->frame_len - PROTO_LEN_SIZE, &r);
			if (r.trailing) {
				fprintf(stderr, "bench_codec: %s has trailing bytes\n", c->record);
				exit(1);
			}
		}
		sink_total += sink;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_codec [--ms MS] [--reps N] [--only SUBSTRING]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double ms = 200;
	int reps = 5;
	const char *only = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ms") && i + 1 < argc)
			ms = atof(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else
			usage();
	}
	if (ms <= 0 || reps < 1 || reps > MAX_REPS)
		usage();
	make_samples();
	make_records();
	prepare();
	machine(ms, reps);

	struct result h = measure(&cases[0], PH_HARNESS, ms, reps);

	report(&cases[0], PH_HARNESS, &h, reps);
	fprintf(stderr, "harness (indirect call + buffer reset per record): %.1f ns CPU\n\n",
		h.cpu_med);
	fprintf(stderr, "%-31s %-12s %5s  %-22s %-22s %s\n", "record", "op", "bytes",
		"encode ns CPU min/med", "decode ns CPU min/med", "decode+walk min/med");
	for (size_t i = 0; i < NCASES; i++) {
		const struct bench_case *c = &cases[i];
		struct result e, d, w = {0};
		char enc[40], dec[40], wk[40] = "";

		if (only && !strstr(c->record, only) && !strstr(c->op, only))
			continue;
		e = measure(c, PH_ENCODE, ms, reps);
		report(c, PH_ENCODE, &e, reps);
		d = measure(c, PH_DECODE, ms, reps);
		report(c, PH_DECODE, &d, reps);
		if (c->walk) {
			w = measure(c, PH_WALK, ms, reps);
			report(c, PH_WALK, &w, reps);
			snprintf(wk, sizeof(wk), "%6.1f /%6.1f", w.cpu_min, w.cpu_med);
		}
		snprintf(enc, sizeof(enc), "%s %6.1f /%6.1f", c->request ? "C" : "S", e.cpu_min,
			 e.cpu_med);
		snprintf(dec, sizeof(dec), "%s %6.1f /%6.1f", c->request ? "S" : "C", d.cpu_min,
			 d.cpu_med);
		fprintf(stderr, "%-31s %-12s %5zu  %-22s %-22s %s\n", c->record, c->op, c->frame_len,
			enc, dec, wk);
	}

	double la[3];

	loadavg(la);
	fprintf(stderr, "\n(C: client side, S: server side; wall/CPU in the JSON lines)\n"
			"load average at the end: %.2f %.2f %.2f\n",
		la[0], la[1], la[2]);
	printf("{\"bench\":\"codec_end\",\"loadavg\":[%.2f,%.2f,%.2f],\"sink\":%llu}\n", la[0], la[1],
	       la[2], (unsigned long long)sink_total);
	for (size_t i = 0; i < NCASES; i++)
		free(cases[i].frame);
	return 0;
}
