// SPDX-License-Identifier: Apache-2.0
/*
 * Snapshots: round trips of empty, large and odd trees (ephemerals,
 * containers, TTLs, sessions, null vs empty data, data at max_data, many
 * ACLs, changed system nodes); a fuzzy snapshot taken by a reader thread
 * while the writer applies random transactions, which after replay of the
 * log from its zxid must equal the live tree node for node; and corrupt
 * files (every byte flipped, every truncation, crafted records with valid
 * checksums) that must load as -EBADMSG without crashing or leaking.
 *
 * Every node of one tree is compared with the other: persisted Stat
 * (numChildren included), data (null and empty kept apart), ACL bytes,
 * kind; plus node counts, digests, sessions and ephemeral lists.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu-qsbr.h>
#include <urcu/uatomic.h>

#include "tests/common/leakcheck.h"
#include "tree_test_util.h"
#include "tree/tree_priv.h"

/*
 * One test at a time: the fuzzy test wants both cores for its writer and
 * snapshot threads, and criterion 2.4's runner, running this suite's
 * longer tests two at a time, leaks a few of its own blocks at exit
 * (LeakSanitizer: "4 objects allocated from libcriterion.so.3"), which
 * fails the sanitizer build.  CRITERION_JOBS set by the caller still wins.
 */
__attribute__((constructor)) static void one_job_at_a_time(void)
{
	setenv("CRITERION_JOBS", "1", 0);
}

/* ---- Files ---- */

static int mem_fd(void)
{
	int fd = memfd_create("snapshot", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	return fd;
}

static size_t fd_size(int fd)
{
	struct stat sb;

	cr_assert_eq(fstat(fd, &sb), 0);
	return (size_t)sb.st_size;
}

static uint8_t *fd_bytes(int fd, size_t *len)
{
	size_t n = fd_size(fd);
	uint8_t *b = malloc(n ? n : 1);

	cr_assert_not_null(b);
	cr_assert_eq(pread(fd, b, n, 0), (ssize_t)n);
	*len = n;
	return b;
}

static int bytes_fd(const uint8_t *b, size_t n)
{
	int fd = mem_fd();

	cr_assert_eq(write(fd, b, n), (ssize_t)n);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static int load_bytes(const uint8_t *b, size_t n, const struct tree_opts *opts, struct tree **out,
		      int64_t *zxid)
{
	int fd = bytes_fd(b, n);
	int rc = tree_snapshot_load(fd, opts, out, zxid);

	close(fd);
	return rc;
}

/* Sends stderr to a file while many loads log their complaints. */
static int quiet_begin(FILE **log)
{
	int saved = dup(STDERR_FILENO);

	*log = tmpfile();
	cr_assert_not_null(*log);
	dup2(fileno(*log), STDERR_FILENO);
	return saved;
}

static char *quiet_end(int saved, FILE *log)
{
	long n;
	char *text;

	dup2(saved, STDERR_FILENO);
	close(saved);
	fseek(log, 0, SEEK_END);
	n = ftell(log);
	text = calloc(1, (size_t)n + 1);
	fseek(log, 0, SEEK_SET);
	if (n > 0 && fread(text, 1, (size_t)n, log) != (size_t)n)
		text[0] = '\0';
	fclose(log);
	return text;
}

/* ---- Freeing ---- */

/* Trees are freed with tree_free, which unlinks online (see tree.c). */
static void free_tree(struct tree *t)
{
	tree_free(t);
}

/* ---- Comparing two trees ---- */

struct cmp_session {
	int64_t id;
	int32_t timeout;
};

struct cmp_sessions {
	struct cmp_session v[4096];
	uint32_t n;
};

static void collect_session(void *arg, int64_t id, int32_t timeout)
{
	struct cmp_sessions *s = arg;

	cr_assert_lt(s->n, 4096);
	s->v[s->n++] = (struct cmp_session){id, timeout};
}

static int cmp_session_id(const void *a, const void *b)
{
	int64_t x = ((const struct cmp_session *)a)->id, y = ((const struct cmp_session *)b)->id;
	return x < y ? -1 : x > y;
}

static void compare_node(struct tree *a, struct tree *b, const char *path, size_t len)
{
	struct tree_node *na = tree_find(a, path, len), *nb = tree_find(b, path, len);
	struct tree_pstat pa, pb;
	struct tree_data *da, *db;
	uint32_t acla, aclb;

	cr_assert_not_null(na, "%s", path);
	cr_assert_not_null(nb, "%s missing from the loaded tree", path);
	tree_node_snapshot(na, &pa, &da, &acla);
	tree_node_snapshot(nb, &pb, &db, &aclb);
	cr_assert_eq(pa.czxid, pb.czxid, "%s czxid", path);
	cr_assert_eq(pa.mzxid, pb.mzxid, "%s mzxid", path);
	cr_assert_eq(pa.pzxid, pb.pzxid, "%s pzxid %lx vs %lx", path, (long)pa.pzxid,
		     (long)pb.pzxid);
	cr_assert_eq(pa.ctime, pb.ctime, "%s ctime", path);
	cr_assert_eq(pa.mtime, pb.mtime, "%s mtime", path);
	cr_assert_eq(pa.ephemeral_owner, pb.ephemeral_owner, "%s owner", path);
	cr_assert_eq(pa.version, pb.version, "%s version", path);
	cr_assert_eq(pa.cversion, pb.cversion, "%s cversion %d vs %d", path, pa.cversion,
		     pb.cversion);
	cr_assert_eq(pa.aversion, pb.aversion, "%s aversion", path);
	cr_assert_eq(pa.num_children, pb.num_children, "%s numChildren %d vs %d", path,
		     pa.num_children, pb.num_children);
	cr_assert_eq(na->kind, nb->kind, "%s kind", path);
	cr_assert_eq(da == NULL, db == NULL, "%s null data", path);
	if (da) {
		cr_assert_eq(da->len, db->len, "%s data length", path);
		cr_assert(memcmp(da->bytes, db->bytes, da->len) == 0, "%s data", path);
	}
	struct jute_acl_list la = acl_table_get(a, acla), lb = acl_table_get(b, aclb);
	cr_assert_eq(la.raw_len, lb.raw_len, "%s ACL length", path);
	cr_assert(memcmp(la.raw, lb.raw, la.raw_len) == 0, "%s ACL", path);
	if (na->kind == NODE_EPHEMERAL) {
		struct tree_session *sa = tree_find_session(a, pa.ephemeral_owner);
		struct tree_session *sb = tree_find_session(b, pa.ephemeral_owner);
		cr_assert(sa && sb, "%s: owner session", path);
		cr_assert_eq(sa->neph, sb->neph, "%s: session ephemerals", path);
		cr_assert_eq(sa->timeout, sb->timeout, "%s: session timeout", path);
	}
}

/* Every node of a is in b with the same everything; counts make it a bijection. */
static void compare_trees(struct tree *a, struct tree *b)
{
	struct tree_children kids = {0};
	char **stack = malloc(sizeof(char *) * 1024);
	size_t depth = 0, cap = 1024;
	uint64_t seen = 0;

	stack[depth++] = strdup("/");
	while (depth) {
		char *path = stack[--depth];
		size_t len = strlen(path);
		const struct tree_node *n = tree_lookup(a, path, len);

		compare_node(a, b, path, len);
		seen++;
		cr_assert_eq(tree_node_children(a, n, &kids, NULL), 0);
		for (uint32_t i = 0; i < kids.count; i++) {
			size_t cl = (len > 1 ? len : 0) + 1 + (size_t)kids.names[i].len;
			char *c = malloc(cl + 1);
			snprintf(c, cl + 1, "%s/%.*s", len > 1 ? path : "", kids.names[i].len,
				 (const char *)kids.names[i].p);
			if (depth == cap) {
				cap *= 2;
				stack = realloc(stack, cap * sizeof(*stack));
			}
			stack[depth++] = c;
		}
		free(path);
	}
	free(stack);
	tree_children_release(&kids);
	cr_assert_eq(seen, tree_node_count(a));
	cr_assert_eq(tree_node_count(a), tree_node_count(b), "node counts %lu vs %lu",
		     (unsigned long)tree_node_count(a), (unsigned long)tree_node_count(b));
	cr_assert_eq(tree_digest(a), tree_digest(b), "digests %lx vs %lx",
		     (unsigned long)tree_digest(a), (unsigned long)tree_digest(b));
	cr_assert_eq(tree_approximate_data_size(a), tree_approximate_data_size(b));
	cr_assert_eq(a->containers.live, b->containers.live, "containers");
	cr_assert_eq(a->ttls.live, b->ttls.live, "TTL nodes");
	cr_assert_eq(acl_table_size(a->acls), acl_table_size(b->acls), "ACL table sizes %u vs %u",
		     acl_table_size(a->acls), acl_table_size(b->acls));

	struct cmp_sessions *sa = calloc(1, sizeof(*sa)), *sb = calloc(1, sizeof(*sb));
	tree_sessions_foreach(a, collect_session, sa);
	tree_sessions_foreach(b, collect_session, sb);
	cr_assert_eq(sa->n, sb->n, "sessions %u vs %u", sa->n, sb->n);
	qsort(sa->v, sa->n, sizeof(sa->v[0]), cmp_session_id);
	qsort(sb->v, sb->n, sizeof(sb->v[0]), cmp_session_id);
	for (uint32_t i = 0; i < sa->n; i++) {
		cr_assert_eq(sa->v[i].id, sb->v[i].id);
		cr_assert_eq(sa->v[i].timeout, sb->v[i].timeout);
	}
	free(sa);
	free(sb);
}

/* ---- A random workload that is always valid for the tree it runs on ---- */

struct mnode {
	char *path;
	size_t idx;
	int64_t owner;
	enum node_kind kind;
};

struct gen {
	struct tree *t;
	unsigned seed;
	int64_t zxid;
	struct mnode **nodes; /* alive, excluding the /zookeeper subtree */
	size_t n, cap;
	int64_t sessions[32];
	int nsessions;
	int64_t next_session;
	uint64_t name_ctr;
	struct test_acl *acls;
	int nacl;
	uint32_t max_data;
	bool big_data;
	bool no_close; /* no closeSession (see the fuzzy test) */
	struct tree_apply_out out;
	/* the transaction log, encoded */
	bool record;
	struct jute_out log;
	size_t *log_off;
	size_t nlog, log_cap;
};

static unsigned rnd(struct gen *g, unsigned n)
{
	return (unsigned)rand_r(&g->seed) % n;
}

static void gen_add(struct gen *g, const char *path, int64_t owner)
{
	struct mnode *m = calloc(1, sizeof(*m));

	m->path = strdup(path);
	m->owner = owner;
	m->kind = tree_owner_kind(g->t, owner);
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 1024;
		g->nodes = realloc(g->nodes, g->cap * sizeof(*g->nodes));
	}
	m->idx = g->n;
	g->nodes[g->n++] = m;
}

static void gen_del(struct gen *g, struct mnode *m)
{
	g->nodes[m->idx] = g->nodes[--g->n];
	g->nodes[m->idx]->idx = m->idx;
	free(m->path);
	free(m);
}

static void gen_init(struct gen *g, struct tree *t, unsigned seed, int nacl)
{
	memset(g, 0, sizeof(*g));
	g->t = t;
	g->seed = seed;
	g->zxid = tree_last_zxid(t);
	g->next_session = 0x1000000;
	g->max_data = t->opts.max_data;
	g->nacl = nacl;
	g->acls = calloc((size_t)nacl, sizeof(*g->acls));
	for (int i = 0; i < nacl; i++) {
		char id[64];
		snprintf(id, sizeof(id), "user%d:hash%08x", i, (unsigned)i * 2654435761u);
		test_acl_make(&g->acls[i], i == 0 ? ZK_PERM_ALL : 1 + i % 31,
			      i == 0 ? "world" : "digest", i == 0 ? "anyone" : id);
	}
	gen_add(g, "/", 0);
	jute_out_init(&g->log, 1 << 16);
}

static void gen_free(struct gen *g)
{
	while (g->n)
		gen_del(g, g->nodes[g->n - 1]);
	free(g->nodes);
	free(g->acls);
	free(g->log_off);
	jute_out_free(&g->log);
	tree_apply_out_release(&g->out);
}

static struct tree_pstat pstat_of(struct tree *t, const char *path)
{
	struct tree_node *n = tree_find(t, path, strlen(path));
	struct tree_pstat ps;
	struct tree_data *d;
	uint32_t acl;

	cr_assert_not_null(n, "%s", path);
	tree_node_snapshot(n, &ps, &d, &acl);
	return ps;
}

static void gen_apply(struct gen *g, struct tree_txn *txn)
{
	if (g->record) {
		if (g->nlog == g->log_cap) {
			g->log_cap = g->log_cap ? g->log_cap * 2 : 4096;
			g->log_off = realloc(g->log_off, (g->log_cap + 1) * sizeof(*g->log_off));
		}
		g->log_off[g->nlog++] = g->log.len;
		tree_txn_encode(txn, &g->log);
		cr_assert_eq(g->log.err, 0);
		g->log_off[g->nlog] = g->log.len;
	}
	cr_assert_eq(tree_apply(g->t, txn, &g->out), 0);
	for (uint32_t i = 0; i < g->out.nresults; i++) {
		int32_t want = txn->ops[i].type == ZK_OP_ERROR ? txn->ops[i].err : ZK_OK;
		if (txn->type == ZK_OP_MULTI && txn->ops[i].type != ZK_OP_ERROR) {
			bool failed = false, post = false;
			for (uint32_t k = 0; k < txn->nops; k++) {
				failed |= txn->ops[k].type == ZK_OP_ERROR;
				post |= k < i && txn->ops[k].type == ZK_OP_ERROR;
			}
			if (failed)
				want = post ? ZK_RUNTIMEINCONSISTENCY : ZK_OK;
		}
		cr_assert_eq(g->out.results[i].err, want, "zxid %ld op %u type %d: err %d",
			     (long)txn->zxid, i, txn->ops[i].type, g->out.results[i].err);
	}
}

static void txn_init(struct gen *g, struct tree_txn *txn, int32_t type)
{
	memset(txn, 0, sizeof(*txn));
	txn->type = type;
	txn->zxid = ++g->zxid;
	txn->time = 1700000000000LL + g->zxid;
	txn->session = g->nsessions ? g->sessions[0] : 0x77;
	txn->cxid = (int32_t)g->zxid;
	txn->nops = 1;
	txn->ops = &txn->inline_op;
	txn->inline_op.type = type;
}

/* Random data: null, empty or bytes; sometimes big. */
static struct jute_buf gen_data(struct gen *g, uint8_t *buf, size_t cap)
{
	unsigned r = rnd(g, 100);
	size_t len;

	if (r < 10)
		return (struct jute_buf){NULL, -1};
	if (r < 20)
		return (struct jute_buf){buf, 0};
	len = 1 + rnd(g, 64);
	if (g->big_data && r >= 99)
		len = 1 + rnd(g, g->max_data < cap ? g->max_data : (unsigned)cap);
	if (len > cap)
		len = cap;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rand_r(&g->seed);
	return (struct jute_buf){buf, (int32_t)len};
}

static struct mnode *pick(struct gen *g)
{
	return g->nodes[rnd(g, (unsigned)g->n)];
}

/* A random node that can have children. */
static struct mnode *pick_parent(struct gen *g)
{
	for (;;) {
		struct mnode *m = pick(g);
		if (m->kind != NODE_EPHEMERAL)
			return m;
	}
}

static void child_path(struct gen *g, const char *parent, char *out, size_t n)
{
	bool seq = rnd(g, 4) == 0;

	if (seq)
		snprintf(out, n, "%s/seq-%010llu", strcmp(parent, "/") ? parent : "",
			 (unsigned long long)g->name_ctr++);
	else
		snprintf(out, n, "%s/n%llu", strcmp(parent, "/") ? parent : "",
			 (unsigned long long)g->name_ctr++);
}

static void fill_create(struct gen *g, struct tree_op *op, const char *parent, const char *path,
			int32_t parent_cversion, uint8_t *dbuf, size_t dcap)
{
	unsigned r = rnd(g, 100);

	(void)parent;
	op->type = rnd(g, 2) ? ZK_OP_CREATE : ZK_OP_CREATE2;
	op->ephemeral_owner = 0;
	if (r < 20 && g->nsessions) {
		op->ephemeral_owner = g->sessions[rnd(g, (unsigned)g->nsessions)];
	} else if (r < 30) {
		op->type = ZK_OP_CREATECONTAINER;
		op->ephemeral_owner = TREE_OWNER_CONTAINER;
	} else if (r < 40 && g->t->opts.extended_types) {
		op->type = ZK_OP_CREATETTL;
		op->ephemeral_owner = tree_owner_ttl(1 + rnd(g, 100000));
	}
	op->path = (struct jute_buf){(const uint8_t *)path, (int32_t)strlen(path)};
	op->data = gen_data(g, dbuf, dcap);
	op->acl = g->acls[rnd(g, (unsigned)g->nacl)].list;
	op->parent_cversion = parent_cversion;
}

static void gen_create(struct gen *g)
{
	static uint8_t dbuf[ZK_DEFAULT_MAX_BUFFER];
	struct mnode *p = pick_parent(g);
	struct tree_txn txn;
	char path[512];

	if (strlen(p->path) > 400)
		return;
	child_path(g, p->path, path, sizeof(path));
	txn_init(g, &txn, ZK_OP_CREATE);
	fill_create(g, &txn.inline_op, p->path, path, pstat_of(g->t, p->path).cversion + 1, dbuf,
		    sizeof(dbuf));
	txn.type = txn.inline_op.type;
	gen_apply(g, &txn);
	gen_add(g, path, txn.inline_op.ephemeral_owner);
}

static void gen_delete(struct gen *g)
{
	struct mnode *m = pick(g);
	struct tree_txn txn;

	if (!strcmp(m->path, "/") || pstat_of(g->t, m->path).num_children)
		return;
	txn_init(g, &txn,
		 m->kind == NODE_CONTAINER && rnd(g, 2) ? ZK_OP_DELETECONTAINER : ZK_OP_DELETE);
	txn.inline_op.path = test_buf(m->path);
	gen_apply(g, &txn);
	gen_del(g, m);
}

static void gen_set_data(struct gen *g)
{
	static uint8_t dbuf[ZK_DEFAULT_MAX_BUFFER];
	struct mnode *m = pick(g);
	struct tree_txn txn;

	txn_init(g, &txn, ZK_OP_SETDATA);
	txn.inline_op.path = test_buf(m->path);
	txn.inline_op.data = gen_data(g, dbuf, sizeof(dbuf));
	txn.inline_op.version = pstat_of(g->t, m->path).version + 1;
	gen_apply(g, &txn);
}

static void gen_set_acl(struct gen *g)
{
	struct mnode *m = pick(g);
	struct tree_txn txn;

	txn_init(g, &txn, ZK_OP_SETACL);
	txn.inline_op.path = test_buf(m->path);
	txn.inline_op.acl = g->acls[rnd(g, (unsigned)g->nacl)].list;
	txn.inline_op.version = pstat_of(g->t, m->path).aversion + 1;
	gen_apply(g, &txn);
}

/* create P/x, create P/x/y, setData Q — or a failed multi that changes nothing. */
static void gen_multi(struct gen *g)
{
	static uint8_t dbuf[3][256];
	struct tree_op ops[3];
	struct tree_txn txn;
	struct mnode *p = pick_parent(g), *q = pick(g);
	char x[512], y[600];

	if (strlen(p->path) > 400)
		return;
	txn_init(g, &txn, ZK_OP_MULTI);
	txn.ops = ops;
	txn.nops = 3;
	memset(ops, 0, sizeof(ops));
	if (rnd(g, 5) == 0) {
		ops[0] = (struct tree_op){.type = ZK_OP_ERROR, .err = ZK_OK};
		ops[1] = (struct tree_op){.type = ZK_OP_ERROR, .err = ZK_NONODE};
		ops[2] = (struct tree_op){.type = ZK_OP_ERROR, .err = ZK_RUNTIMEINCONSISTENCY};
		gen_apply(g, &txn);
		return;
	}
	child_path(g, p->path, x, sizeof(x));
	snprintf(y, sizeof(y), "%s/leaf", x);
	struct tree_pstat qs = pstat_of(g->t, q->path);
	fill_create(g, &ops[0], p->path, x, pstat_of(g->t, p->path).cversion + 1, dbuf[0],
		    sizeof(dbuf[0]));
	if (ops[0].ephemeral_owner &&
	    tree_owner_kind(g->t, ops[0].ephemeral_owner) == NODE_EPHEMERAL) {
		ops[0].type = ZK_OP_CREATE;
		ops[0].ephemeral_owner = 0;
	}
	fill_create(g, &ops[1], x, y, 1, dbuf[1], sizeof(dbuf[1]));
	ops[2].type = ZK_OP_SETDATA;
	ops[2].path = test_buf(q->path);
	ops[2].data = gen_data(g, dbuf[2], sizeof(dbuf[2]));
	ops[2].version = qs.version + 1;
	gen_apply(g, &txn);
	gen_add(g, x, ops[0].ephemeral_owner);
	gen_add(g, y, ops[1].ephemeral_owner);
}

static void gen_session(struct gen *g)
{
	struct tree_txn txn;

	if (g->nsessions < 32 && (g->nsessions < 4 || rnd(g, 2) || g->no_close)) {
		txn_init(g, &txn, ZK_OP_CREATESESSION);
		txn.session = g->next_session++;
		txn.timeout = 4000 + (int32_t)rnd(g, 30000);
		txn.nops = 0;
		gen_apply(g, &txn);
		g->sessions[g->nsessions++] = txn.session;
		return;
	}
	if (!g->nsessions || g->no_close)
		return;
	/* closeSession: list (most of) the session's ephemerals, as prep does. */
	int k = (int)rnd(g, (unsigned)g->nsessions);
	int64_t sid = g->sessions[k];
	struct tree_op *ops = NULL;
	char **paths = NULL;
	uint32_t n = 0;
	for (size_t i = 0; i < g->n; i++) {
		if (g->nodes[i]->kind != NODE_EPHEMERAL || g->nodes[i]->owner != sid)
			continue;
		ops = realloc(ops, (n + 1) * sizeof(*ops));
		paths = realloc(paths, (n + 1) * sizeof(*paths));
		paths[n] = strdup(g->nodes[i]->path);
		ops[n] = (struct tree_op){.type = ZK_OP_DELETE, .path = test_buf(paths[n])};
		n++;
	}
	txn_init(g, &txn, ZK_OP_CLOSESESSION);
	txn.session = sid;
	txn.nops = n;
	txn.ops = ops;
	gen_apply(g, &txn);
	for (size_t i = 0; i < g->n;) {
		if (g->nodes[i]->kind == NODE_EPHEMERAL && g->nodes[i]->owner == sid)
			gen_del(g, g->nodes[i]);
		else
			i++;
	}
	for (uint32_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(ops);
	g->sessions[k] = g->sessions[--g->nsessions];
}

static void gen_error(struct gen *g)
{
	struct tree_txn txn;

	txn_init(g, &txn, ZK_OP_ERROR);
	txn.inline_op.err = ZK_NODEEXISTS;
	gen_apply(g, &txn);
}

/* One random transaction; create-heavy while the tree is small. */
static void gen_step(struct gen *g, unsigned create_pct)
{
	unsigned r = rnd(g, 100);

	if (r < create_pct)
		gen_create(g);
	else if (r < create_pct + (100 - create_pct) * 30 / 100)
		gen_set_data(g);
	else if (r < create_pct + (100 - create_pct) * 60 / 100)
		gen_delete(g);
	else if (r < create_pct + (100 - create_pct) * 72 / 100)
		gen_set_acl(g);
	else if (r < create_pct + (100 - create_pct) * 86 / 100)
		gen_multi(g);
	else if (r < create_pct + (100 - create_pct) * 96 / 100)
		gen_session(g);
	else
		gen_error(g);
}

/* ---- Fixture ---- */

static struct tree_opts opts = {.max_data = ZK_DEFAULT_MAX_BUFFER, .extended_types = true};

static void setup(void)
{
	urcu_qsbr_register_thread();
}

static void teardown(void)
{
	urcu_qsbr_unregister_thread();
	test_fini_no_leaks();
}

TestSuite(tree_snapshot, .init = setup, .fini = teardown, .timeout = 120);

/* Writes t, loads it back, checks zxids and compares; returns the loaded tree. */
static struct tree *round_trip(struct tree *t, size_t *size)
{
	int fd = mem_fd();
	int64_t wz = -1, lz = -1;
	struct tree *b = NULL;

	cr_assert_eq(tree_snapshot_write(t, fd, &wz), 0);
	cr_assert_eq(wz, tree_last_zxid(t));
	if (size)
		*size = fd_size(fd);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	cr_assert_eq(tree_snapshot_load(fd, &t->opts, &b, &lz), 0);
	close(fd);
	cr_assert_not_null(b);
	cr_assert_eq(lz, wz);
	cr_assert_eq(tree_last_zxid(b), wz);
	compare_trees(t, b);
	return b;
}

Test(tree_snapshot, empty_tree_round_trips)
{
	struct tree *t = tree_new(&opts), *b;
	size_t size;

	b = round_trip(t, &size);
	cr_assert_eq(tree_node_count(b), 4);
	cr_assert_lt(size, 1024);
	/* The loaded tree is a working one: it takes writes. */
	struct test_acl acl;
	struct tree_txn txn;
	struct tree_apply_out out = {0};
	test_acl_make(&acl, ZK_PERM_ALL, "world", "anyone");
	test_txn(&txn, ZK_OP_CREATE, 1);
	txn.ops[0].path = test_buf("/x");
	txn.ops[0].acl = acl.list;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(b, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_OK);
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	compare_trees(t, b);
	tree_apply_out_release(&out);
	free_tree(t);
	free_tree(b);
}

Test(tree_snapshot, random_tree_of_10k_nodes_round_trips, .timeout = 240)
{
	struct tree *t = tree_new(&opts), *b;
	struct gen g;

	gen_init(&g, t, 7, 40);
	while (tree_node_count(t) < 10000)
		gen_step(&g, 70);
	cr_assert_gt(t->containers.live, 0);
	cr_assert_gt(t->ttls.live, 0);
	cr_assert_gt(g.nsessions, 0);
	b = round_trip(t, NULL);
	gen_free(&g);
	free_tree(t);
	free_tree(b);
}

Test(tree_snapshot, loaded_tree_replays_like_the_original)
{
	struct tree *t = tree_new(&opts), *b;
	struct gen g;
	int64_t zxid;

	gen_init(&g, t, 99, 10);
	while (tree_node_count(t) < 2000)
		gen_step(&g, 70);
	zxid = tree_last_zxid(t);
	b = round_trip(t, NULL);
	/* More txns on the live tree, recorded, then replayed on the loaded one. */
	g.record = true;
	for (int i = 0; i < 3000; i++)
		gen_step(&g, 40);
	struct tree_apply_out out = {0};
	for (size_t i = 0; i < g.nlog; i++) {
		struct tree_txn txn;
		cr_assert_eq(tree_txn_decode(g.log.buf + g.log_off[i],
					     g.log_off[i + 1] - g.log_off[i], opts.max_data, &txn),
			     0);
		cr_assert_gt(txn.zxid, zxid);
		cr_assert_eq(tree_apply(b, &txn, &out), 0);
		tree_txn_release(&txn);
	}
	compare_trees(t, b);
	tree_apply_out_release(&out);
	gen_free(&g);
	free_tree(t);
	free_tree(b);
}

static void apply_one(struct tree *t, int32_t type, const char *path, const char *data,
		      const struct jute_acl_list *acl, int64_t owner, int32_t version, int64_t zxid)
{
	struct tree_apply_out out = {0};
	struct tree_txn txn;

	test_txn(&txn, type, zxid);
	txn.ops[0].path = test_buf(path);
	txn.ops[0].data = test_buf(data);
	if (acl)
		txn.ops[0].acl = *acl;
	txn.ops[0].ephemeral_owner = owner;
	txn.ops[0].version = version;
	txn.ops[0].parent_cversion = -1;
	cr_assert_eq(tree_apply(t, &txn, &out), 0);
	cr_assert_eq(out.results[0].err, ZK_OK, "%s: %d", path, out.results[0].err);
	tree_apply_out_release(&out);
}

Test(tree_snapshot, null_empty_and_max_data_and_system_nodes_round_trip)
{
	struct tree *t = tree_new(&opts), *b;
	struct test_acl acl, dig;
	static char big[ZK_DEFAULT_MAX_BUFFER + 1];

	test_acl_make(&acl, ZK_PERM_ALL, "world", "anyone");
	test_acl_make(&dig, ZK_PERM_READ | ZK_PERM_ADMIN, "digest", "bob:xyz");
	memset(big, 'z', ZK_DEFAULT_MAX_BUFFER);
	apply_one(t, ZK_OP_CREATE, "/null", NULL, &acl.list, 0, 0, 1);
	apply_one(t, ZK_OP_CREATE, "/empty", "", &acl.list, 0, 0, 2);
	apply_one(t, ZK_OP_CREATE, "/big", big, &dig.list, 0, 0, 3);
	apply_one(t, ZK_OP_CREATE, "/big2", big + 1000, &dig.list, 0, 0, 4);
	apply_one(t, ZK_OP_SETDATA, "/zookeeper/config", "server.1=a:1:2", NULL, 0, 1, 5);
	apply_one(t, ZK_OP_SETACL, "/zookeeper/quota", NULL, &dig.list, 0, 1, 6);
	apply_one(t, ZK_OP_SETDATA, "/", "rootdata", NULL, 0, 3, 7);
	apply_one(t, ZK_OP_CREATE, "/zookeeper/quota/app", "", &acl.list, 0, 0, 8);
	apply_one(t, ZK_OP_CREATE, "/zookeeper/x", NULL, &acl.list, 0, 0, 9);
	b = round_trip(t, NULL);
	struct jute_buf d;
	tree_node_read(tree_lookup(b, "/null", 5), NULL, &d);
	cr_assert_eq(d.len, -1);
	tree_node_read(tree_lookup(b, "/empty", 6), NULL, &d);
	cr_assert_eq(d.len, 0);
	tree_node_read(tree_lookup(b, "/big", 4), NULL, &d);
	cr_assert_eq(d.len, ZK_DEFAULT_MAX_BUFFER);
	/* A loader with a smaller jute.maxbuffer refuses it. */
	struct tree_opts small = opts;
	struct tree *c = NULL;
	int fd = mem_fd();
	int64_t z;
	cr_assert_eq(tree_snapshot_write(t, fd, &z), 0);
	lseek(fd, 0, SEEK_SET);
	small.max_data = 4096;
	cr_assert_eq(tree_snapshot_load(fd, &small, &c, &z), -EBADMSG);
	cr_assert_null(c);
	close(fd);
	free_tree(t);
	free_tree(b);
}

Test(tree_snapshot, many_distinct_acls_round_trip, .timeout = 240)
{
	struct tree *t = tree_new(&opts), *b;
	struct gen g;

	gen_init(&g, t, 3, 3000);
	while (tree_node_count(t) < 6000)
		gen_step(&g, 85);
	cr_assert_gt(acl_table_size(t->acls), 1000);
	b = round_trip(t, NULL);
	gen_free(&g);
	free_tree(t);
	free_tree(b);
}

Test(tree_snapshot, big_data_and_deep_paths_round_trip, .timeout = 240)
{
	struct tree *t = tree_new(&opts), *b;
	struct test_acl acl;
	char path[4096] = "";
	struct gen g;

	test_acl_make(&acl, ZK_PERM_ALL, "world", "anyone");
	for (int i = 0; i < 300; i++) {
		strcat(path, "/d");
		apply_one(t, ZK_OP_CREATE, path, "x", &acl.list, 0, 0, 1 + i);
	}
	gen_init(&g, t, 11, 5);
	g.big_data = true;
	while (tree_node_count(t) < 3000)
		gen_step(&g, 70);
	b = round_trip(t, NULL);
	gen_free(&g);
	free_tree(t);
	free_tree(b);
}

Test(tree_snapshot, loads_from_a_pipe)
{
	struct tree *t = tree_new(&opts), *b = NULL;
	struct gen g;
	int fd = mem_fd(), p[2];
	size_t n;
	int64_t z;

	gen_init(&g, t, 5, 4);
	while (tree_node_count(t) < 200)
		gen_step(&g, 80);
	cr_assert_eq(tree_snapshot_write(t, fd, &z), 0);
	uint8_t *bytes = fd_bytes(fd, &n);
	close(fd);
	cr_assert_lt(n, 65536, "fits the pipe buffer");
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], bytes, n), (ssize_t)n);
	close(p[1]);
	cr_assert_eq(tree_snapshot_load(p[0], &opts, &b, &z), 0);
	close(p[0]);
	compare_trees(t, b);
	free(bytes);
	gen_free(&g);
	free_tree(t);
	free_tree(b);
}

Test(tree_snapshot, write_fails_cleanly_on_a_bad_fd)
{
	struct tree *t = tree_new(&opts);
	int fd = open("/dev/null", O_RDONLY);
	int64_t z;
	FILE *log;
	int saved = quiet_begin(&log);

	cr_assert_eq(tree_snapshot_write(t, fd, &z), -EBADF);
	free(quiet_end(saved, log));
	close(fd);
	free_tree(t);
}

/* ---- Fuzzy: a reader thread snapshots while the writer goes on ---- */

struct snap_thread {
	struct tree *t;
	int fd;
	int go;
	int done;
	int rc;
	int64_t zxid;
};

static void *snapshot_thread(void *arg)
{
	struct snap_thread *s = arg;

	urcu_qsbr_register_thread();
	/* Bounded wait for the writer's signal (60 s). */
	for (long i = 0; !uatomic_read(&s->go) && i < 60L * 100000; i++) {
		urcu_qsbr_quiescent_state();
		usleep(10);
	}
	s->rc = tree_snapshot_write(s->t, s->fd, &s->zxid);
	uatomic_set(&s->done, 1);
	urcu_qsbr_unregister_thread();
	return NULL;
}

/* The end record's zxid: the last 53 bytes before the 32-byte trailer. */
static int64_t end_zxid_of(int fd)
{
	size_t n = fd_size(fd);
	uint8_t b[8];

	cr_assert_gt(n, 85);
	cr_assert_eq(pread(fd, b, 8, (off_t)(n - 32 - 53 + 1)), 8);
	return (int64_t)jute_be64(b);
}

/*
 * closeSession runs in the fuzzy phase too: tree.c replays it as DataTree
 * does (a listed ephemeral that is gone still raises its parent's pzxid;
 * see closesession_replay_over_fuzzy_snapshot below).
 */
static const bool close_sessions_while_fuzzy = true;

static bool fuzzy_round(unsigned seed, int initial)
{
	struct tree *t = tree_new(&opts), *b = NULL;
	struct snap_thread s = {.t = t, .fd = mem_fd()};
	struct tree_apply_out out = {0};
	pthread_t th;
	struct gen g;
	long after = 0, steps = 0;
	int64_t lz, endz;

	gen_init(&g, t, seed, 30);
	while (tree_node_count(t) < (uint64_t)initial)
		gen_step(&g, 75);
	g.record = true;
	g.no_close = !close_sessions_while_fuzzy;
	cr_assert_eq(pthread_create(&th, NULL, snapshot_thread, &s), 0);
	uatomic_set(&s.go, 1);
	/* Keep writing until the snapshot is done and 2000 txns more (bounded). */
	while (steps < 400000 && after < 2000) {
		gen_step(&g, 35);
		steps++;
		if (uatomic_read(&s.done))
			after++;
		if (steps % 32 == 0)
			tree_reclaim_flush(t);
		urcu_qsbr_quiescent_state();
	}
	urcu_qsbr_thread_offline();
	pthread_join(th, NULL);
	urcu_qsbr_thread_online();
	cr_assert_eq(s.rc, 0);
	cr_assert_eq(uatomic_read(&s.done), 1, "snapshot did not finish");
	endz = end_zxid_of(s.fd);

	cr_assert_eq(lseek(s.fd, 0, SEEK_SET), 0);
	cr_assert_eq(tree_snapshot_load(s.fd, &opts, &b, &lz), 0);
	close(s.fd);
	cr_assert_eq(lz, s.zxid);
	cr_assert_eq(tree_last_zxid(b), s.zxid);
	size_t replayed = 0;
	for (size_t i = 0; i < g.nlog; i++) {
		struct tree_txn txn;
		cr_assert_eq(tree_txn_decode(g.log.buf + g.log_off[i],
					     g.log_off[i + 1] - g.log_off[i], opts.max_data, &txn),
			     0);
		if (txn.zxid > s.zxid) {
			cr_assert_eq(tree_apply(b, &txn, &out), 0);
			replayed++;
		}
		tree_txn_release(&txn);
		if (i % 32 == 0)
			tree_reclaim_flush(b);
	}
	cr_assert_gt(replayed, 0);
	compare_trees(t, b);
	cr_log_info("fuzzy round seed %u: start 0x%lx end 0x%lx, %zu txns replayed", seed,
		    (long)s.zxid, (long)endz, replayed);
	tree_apply_out_release(&out);
	gen_free(&g);
	free_tree(t);
	free_tree(b);
	return endz > s.zxid;
}

Test(tree_snapshot, fuzzy_snapshot_plus_replay_equals_live_tree, .timeout = 300)
{
	int fuzzy = 0;

	for (unsigned r = 0; r < 8; r++)
		fuzzy += fuzzy_round(1000 + r, 5000 + 5000 * (int)(r % 4));
	cr_assert_gt(fuzzy, 0, "no round overlapped the writer; nothing fuzzy was tested");
}

/*
 * The fuzzy case closeSession must survive, made deterministic: the
 * snapshot holds /p as it was before the close but not its ephemeral
 * child (the walk reached it after the close deleted it).  DataTree's
 * killSession -> deleteNode raises /p's pzxid even though the child is
 * gone; tree.c's apply_close_session used to skip a missing listed path without
 * doing so, so the replayed tree ended with an older pzxid.
 */
Test(tree_snapshot, closesession_replay_over_fuzzy_snapshot)
{
	struct tree *live = tree_new(&opts), *fuzzy = tree_new(&opts), *b = NULL;
	struct tree_apply_out out = {0};
	struct test_acl acl;
	struct tree_txn txn;
	struct tree_op del = {.type = ZK_OP_DELETE, .path = test_buf("/p/e")};
	int fd = mem_fd();
	int64_t z;

	test_acl_make(&acl, ZK_PERM_ALL, "world", "anyone");
	for (int i = 0; i < 2; i++) {
		struct tree *t = i ? fuzzy : live;
		test_txn(&txn, ZK_OP_CREATESESSION, 1);
		txn.session = 0x55;
		txn.timeout = 5000;
		txn.nops = 0;
		cr_assert_eq(tree_apply(t, &txn, &out), 0);
		apply_one(t, ZK_OP_CREATE, "/p", "", &acl.list, 0, 0, 2);
		apply_one(t, ZK_OP_CREATE, "/p/e", "", &acl.list, 0x55, 0, 3);
	}
	/* The state the walk saw: /p as of zxid 3, /p/e gone (a delete that moves no zxid). */
	test_txn(&txn, ZK_OP_DELETE, 3);
	txn.ops[0].path = test_buf("/p/e");
	cr_assert_eq(tree_apply(fuzzy, &txn, &out), 0);
	cr_assert_eq(tree_snapshot_write(fuzzy, fd, &z), 0);
	cr_assert_eq(z, 3);
	lseek(fd, 0, SEEK_SET);
	cr_assert_eq(tree_snapshot_load(fd, &opts, &b, &z), 0);
	close(fd);
	/* closeSession 0x55 at zxid 4, listing /p/e, on both. */
	memset(&txn, 0, sizeof(txn));
	txn.type = ZK_OP_CLOSESESSION;
	txn.session = 0x55;
	txn.zxid = 4;
	txn.time = 1004;
	txn.ops = &del;
	txn.nops = 1;
	cr_assert_eq(tree_apply(live, &txn, &out), 0);
	cr_assert_eq(tree_apply(b, &txn, &out), 0);
	compare_trees(live, b);
	tree_apply_out_release(&out);
	free_tree(live);
	free_tree(fuzzy);
	free_tree(b);
}

/* ---- Corruption ---- */

/* A small snapshot with a bit of everything. */
static uint8_t *small_snapshot(size_t *n)
{
	struct tree *t = tree_new(&opts);
	struct gen g;
	int fd = mem_fd();
	int64_t z;
	uint8_t *b;

	gen_init(&g, t, 21, 4);
	while (tree_node_count(t) < 12)
		gen_step(&g, 70);
	if (!g.nsessions)
		gen_session(&g);
	cr_assert_eq(tree_snapshot_write(t, fd, &z), 0);
	b = fd_bytes(fd, n);
	close(fd);
	gen_free(&g);
	free_tree(t);
	return b;
}

Test(tree_snapshot, every_flipped_byte_is_rejected, .timeout = 300)
{
	size_t n;
	uint8_t *good = small_snapshot(&n);
	uint8_t *b = malloc(n);
	struct tree *out;
	int64_t z;
	FILE *log;
	int saved;

	cr_assert_lt(n, 4096);
	cr_assert_eq(load_bytes(good, n, &opts, &out, &z), 0);
	free_tree(out);
	saved = quiet_begin(&log);
	for (size_t i = 0; i < n; i++) {
		static const uint8_t flips[] = {0xff, 0x01, 0x80};
		for (size_t k = 0; k < sizeof(flips); k++) {
			memcpy(b, good, n);
			b[i] ^= flips[k];
			out = (struct tree *)1;
			int rc = load_bytes(b, n, &opts, &out, &z);
			if (rc != -EBADMSG || out) {
				free(quiet_end(saved, log));
				cr_assert_fail("byte %zu ^ 0x%02x: rc %d", i, flips[k], rc);
			}
		}
	}
	char *text = quiet_end(saved, log);
	cr_assert_not_null(strstr(text, "checksum mismatch"));
	cr_assert_not_null(strstr(text, "offset 0:"));
	free(text);
	free(b);
	free(good);
}

Test(tree_snapshot, every_truncation_and_extension_is_rejected, .timeout = 300)
{
	size_t n;
	uint8_t *good = small_snapshot(&n);
	uint8_t *b = malloc(n + 16);
	struct tree *out;
	int64_t z;
	FILE *log;
	int saved = quiet_begin(&log);

	for (size_t len = 0; len < n; len++) {
		out = (struct tree *)1;
		int rc = load_bytes(good, len, &opts, &out, &z);
		if (rc != -EBADMSG || out) {
			free(quiet_end(saved, log));
			cr_assert_fail("truncated to %zu of %zu: rc %d", len, n, rc);
		}
	}
	memcpy(b, good, n);
	memset(b + n, 0, 16);
	for (size_t extra = 1; extra <= 16; extra++)
		cr_assert_eq(load_bytes(b, n + extra, &opts, &out, &z), -EBADMSG);
	char *text = quiet_end(saved, log);
	cr_assert_not_null(strstr(text, "file ends inside"));
	cr_assert_not_null(strstr(text, "bytes after the trailer"));
	free(text);
	free(b);
	free(good);
}

/* ---- Crafted files: valid checksums around bad contents ---- */

static uint32_t test_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

Test(tree_snapshot, crc32c_check_value)
{
	cr_assert_eq(test_crc32c(0, (const uint8_t *)"123456789", 9), 0xe3069283u);
}

static void put_u32(struct jute_out *o, uint32_t v)
{
	jute_put_int(o, (int32_t)v);
}

/* header + one block per call of craft_block + trailer */
struct craft {
	struct jute_out file;
	uint32_t nblocks;
};

static void craft_begin(struct craft *c, int64_t start)
{
	jute_out_init(&c->file, 4096);
	jute_put_raw(&c->file, "CHEETSNP", 8);
	put_u32(&c->file, 1);
	put_u32(&c->file, 40);
	jute_put_long(&c->file, start);
	jute_put_long(&c->file, 0);
	put_u32(&c->file, 0);
	put_u32(&c->file, test_crc32c(0, c->file.buf, 36));
	c->nblocks = 0;
}

static void craft_block(struct craft *c, const struct jute_out *recs)
{
	size_t at = c->file.len;

	put_u32(&c->file, (uint32_t)recs->len);
	put_u32(&c->file, c->nblocks++);
	uint32_t crc = test_crc32c(0, c->file.buf + at, 8);
	put_u32(&c->file, test_crc32c(crc, recs->buf, recs->len));
	jute_put_raw(&c->file, recs->buf, recs->len);
}

static void craft_end(struct craft *c)
{
	size_t at = c->file.len;

	put_u32(&c->file, 0xffffffffu);
	put_u32(&c->file, c->nblocks);
	jute_put_long(&c->file, (int64_t)at);
	jute_put_raw(&c->file, "CHEETEND", 8);
	put_u32(&c->file, 0);
	put_u32(&c->file, test_crc32c(0, c->file.buf + at, 28));
}

static void rec_session(struct jute_out *o, int64_t id, int32_t timeout)
{
	jute_put_raw(o, "S", 1);
	jute_put_long(o, id);
	jute_put_int(o, timeout);
}

static void rec_acl(struct jute_out *o, uint32_t id, const struct jute_acl_list *l)
{
	jute_put_raw(o, "A", 1);
	put_u32(o, id);
	put_u32(o, l->raw_len);
	jute_put_raw(o, l->raw, l->raw_len);
}

static uint64_t rec_node(struct jute_out *o, const char *path, const struct tree_pstat *ps,
			 const char *data, uint32_t acl)
{
	struct {
		struct tree_data d;
		uint8_t bytes[64];
	} d;

	jute_put_raw(o, "N", 1);
	jute_put_string(o, path);
	jute_put_long(o, ps->czxid);
	jute_put_long(o, ps->mzxid);
	jute_put_long(o, ps->pzxid);
	jute_put_long(o, ps->ctime);
	jute_put_long(o, ps->mtime);
	jute_put_long(o, ps->ephemeral_owner);
	jute_put_int(o, ps->version);
	jute_put_int(o, ps->cversion);
	jute_put_int(o, ps->aversion);
	jute_put_string(o, data);
	put_u32(o, acl);
	if (data) {
		d.d.len = (uint32_t)strlen(data);
		memcpy(d.d.bytes, data, d.d.len);
	}
	return tree_node_digest(path, strlen(path), data ? &d.d : NULL, ps);
}

static void rec_end(struct jute_out *o, int64_t zxid, uint64_t tree_digest_, uint64_t walk,
		    uint64_t ns, uint64_t na, uint64_t nn, uint32_t flags)
{
	jute_put_raw(o, "E", 1);
	jute_put_long(o, zxid);
	jute_put_long(o, (int64_t)tree_digest_);
	jute_put_long(o, (int64_t)walk);
	jute_put_long(o, (int64_t)ns);
	jute_put_long(o, (int64_t)na);
	jute_put_long(o, (int64_t)nn);
	put_u32(o, flags);
}

enum defect {
	OK_FILE,
	DUP_PATH,
	CHILD_BEFORE_PARENT,
	LEFT_SUBTREE_AND_CAME_BACK,
	UNKNOWN_ACL,
	DUP_ACL_ID,
	MALFORMED_ACL,
	BAD_PATH,
	TRAILING_SLASH,
	SESSION_AFTER_NODES,
	DUP_SESSION,
	NEGATIVE_TIMEOUT,
	CHILD_OF_EPHEMERAL,
	MISSING_SYSTEM_NODE,
	ROOT_NOT_FIRST,
	WRONG_DIGEST,
	WRONG_CONSISTENT_DIGEST,
	WRONG_COUNT,
	NO_END,
	RECORD_AFTER_END,
	UNKNOWN_TAG,
	DATA_TOO_LONG,
	LENGTH_PAST_BLOCK,
	SYSTEM_NODE_EPHEMERAL,
	END_ZXID_BELOW_START,
	NDEFECTS,
};

static uint8_t *craft(enum defect d, size_t *n)
{
	struct test_acl all, read, other;
	struct jute_out r;
	struct craft c;
	struct tree_pstat zero = {0}, cfg = {.aversion = -1};
	struct tree_pstat a = {.czxid = 5,
			       .mzxid = 6,
			       .pzxid = 9,
			       .ctime = 100,
			       .mtime = 200,
			       .version = 1,
			       .cversion = 2,
			       .aversion = 0};
	struct tree_pstat eph = {.czxid = 7,
				 .mzxid = 7,
				 .pzxid = 7,
				 .ctime = 300,
				 .mtime = 300,
				 .ephemeral_owner = 0x55};
	uint64_t walk = 0, nn = 0;

	test_acl_make(&all, ZK_PERM_ALL, "world", "anyone");
	test_acl_make(&read, ZK_PERM_READ, "world", "anyone");
	test_acl_make(&other, ZK_PERM_READ, "digest", "u:p");
	jute_out_init(&r, 4096);
	craft_begin(&c, 9);
	if (d != SESSION_AFTER_NODES)
		rec_session(&r, 0x55, 3000);
	if (d == DUP_SESSION)
		rec_session(&r, 0x55, 3000);
	if (d == NEGATIVE_TIMEOUT)
		rec_session(&r, 0x56, -5);
	rec_acl(&r, 7, &all.list);
	rec_acl(&r, 9, &read.list);
	if (d == DUP_ACL_ID)
		rec_acl(&r, 9, &other.list);
	if (d == MALFORMED_ACL) {
		jute_put_raw(&r, "A", 1);
		put_u32(&r, 11);
		put_u32(&r, 8);
		put_u32(&r, 5); /* five entries in four bytes */
		put_u32(&r, 0);
	}
	if (d == UNKNOWN_TAG)
		jute_put_raw(&r, "Z", 1);
	if (d == ROOT_NOT_FIRST) {
		walk += rec_node(&r, "/zookeeper", &zero, "", 7);
		nn++;
	}
	walk += rec_node(&r, "/", &zero, "", 7);
	if (d == CHILD_BEFORE_PARENT)
		walk += rec_node(&r, "/zookeeper/quota", &zero, "", 7), nn++;
	if (d != ROOT_NOT_FIRST)
		walk += rec_node(&r, "/zookeeper", &zero, "", 7), nn++;
	if (d != CHILD_BEFORE_PARENT)
		walk += rec_node(&r, "/zookeeper/quota", &zero, "", 7), nn++;
	if (d != MISSING_SYSTEM_NODE)
		walk += rec_node(&r, "/zookeeper/config", &cfg, "", 9), nn++;
	walk += rec_node(&r, "/a", &a, "x", d == UNKNOWN_ACL ? 8 : 9);
	if (d == SYSTEM_NODE_EPHEMERAL) {
		struct tree_pstat bad = zero;
		bad.ephemeral_owner = 0x55;
		rec_node(&r, "/zookeeper", &bad, "", 7);
	}
	if (d == DUP_PATH)
		walk += rec_node(&r, "/a", &a, "x", 9), nn++;
	if (d == LEFT_SUBTREE_AND_CAME_BACK)
		walk += rec_node(&r, "/zookeeper/quota/q", &a, "x", 9), nn++;
	if (d == BAD_PATH)
		walk += rec_node(&r, "/a/./b", &a, "x", 9), nn++;
	if (d == TRAILING_SLASH)
		walk += rec_node(&r, "/a/", &a, "x", 9), nn++;
	walk += rec_node(&r, "/a/e", &eph, NULL, 7);
	nn += 3;
	if (d == CHILD_OF_EPHEMERAL)
		walk += rec_node(&r, "/a/e/x", &a, NULL, 7), nn++;
	if (d == DATA_TOO_LONG) {
		jute_put_raw(&r, "N", 1);
		jute_put_string(&r, "/a/big");
		for (int i = 0; i < 6; i++)
			jute_put_long(&r, 1);
		for (int i = 0; i < 3; i++)
			jute_put_int(&r, 0);
		jute_put_int(&r, 8000); /* loader's max_data is 4096 */
		for (int i = 0; i < 8000; i++)
			jute_put_raw(&r, "d", 1);
		put_u32(&r, 7);
	}
	if (d == LENGTH_PAST_BLOCK) {
		jute_put_raw(&r, "N", 1);
		jute_put_int(&r, 3000);
		jute_put_raw(&r, "/b", 2);
	}
	if (d == SESSION_AFTER_NODES)
		rec_session(&r, 0x55, 3000);
	if (d != NO_END) {
		uint64_t wd = walk + (d == WRONG_DIGEST);
		uint64_t td = d == WRONG_CONSISTENT_DIGEST ? walk + 1 : walk;
		rec_end(&r, d == END_ZXID_BELOW_START ? 8 : 9, td, wd, 1, 2 + (d == DUP_ACL_ID),
			nn + (d == WRONG_COUNT), 1);
	}
	craft_block(&c, &r);
	if (d == RECORD_AFTER_END) {
		r.len = 0;
		rec_session(&r, 0x99, 1);
		craft_block(&c, &r);
	}
	craft_end(&c);
	jute_out_free(&r);
	cr_assert_eq(c.file.err, 0);
	*n = c.file.len;
	return c.file.buf;
}

Test(tree_snapshot, crafted_file_loads)
{
	struct tree_opts o = {.max_data = 4096};
	struct tree *t = NULL;
	size_t n;
	uint8_t *b = craft(OK_FILE, &n);
	int64_t z;

	cr_assert_eq(load_bytes(b, n, &o, &t, &z), 0);
	cr_assert_eq(z, 9);
	cr_assert_eq(tree_node_count(t), 6);
	cr_assert_eq(tree_session_timeout(t, 0x55), 3000);
	struct zk_stat st;
	struct jute_buf d;
	tree_node_read(tree_lookup(t, "/a", 2), &st, &d);
	cr_assert_eq(st.version, 1);
	cr_assert_eq(st.cversion, 2 * 2 - 1);
	cr_assert_eq(st.num_children, 1);
	cr_assert_eq(d.len, 1);
	tree_node_read(tree_lookup(t, "/a/e", 4), &st, &d);
	cr_assert_eq(st.ephemeral_owner, 0x55);
	cr_assert_eq(d.len, -1);
	struct jute_acl_list acl;
	tree_node_acl(t, tree_lookup(t, "/zookeeper/config", 17), &st, &acl);
	cr_assert_eq(st.aversion, -1);
	struct test_acl read;
	test_acl_make(&read, ZK_PERM_READ, "world", "anyone");
	cr_assert_eq(acl.raw_len, read.list.raw_len);
	cr_assert(memcmp(acl.raw, read.list.raw, acl.raw_len) == 0);
	/* Only lists in use remain: world ALL, world READ (no extra references). */
	cr_assert_eq(acl_table_size(t->acls), 2);
	free_tree(t);
	free(b);
}

Test(tree_snapshot, crafted_defects_are_rejected_with_their_offset)
{
	static const char *const expect[NDEFECTS] = {
	    [DUP_PATH] = "appears twice",
	    [CHILD_BEFORE_PARENT] = "pre-order",
	    [LEFT_SUBTREE_AND_CAME_BACK] = "pre-order",
	    [UNKNOWN_ACL] = "not defined",
	    [DUP_ACL_ID] = "defined twice",
	    [MALFORMED_ACL] = "malformed list",
	    [BAD_PATH] = "invalid path",
	    [TRAILING_SLASH] = "invalid path",
	    [SESSION_AFTER_NODES] = "session record after",
	    [DUP_SESSION] = "appears twice",
	    [NEGATIVE_TIMEOUT] = "negative timeout",
	    [CHILD_OF_EPHEMERAL] = "parent is ephemeral",
	    [MISSING_SYSTEM_NODE] = "system node /zookeeper/config missing",
	    [ROOT_NOT_FIRST] = "not \"/\"",
	    [WRONG_DIGEST] = "digest mismatch",
	    [WRONG_CONSISTENT_DIGEST] = "digest mismatch",
	    [WRONG_COUNT] = "end record counts",
	    [NO_END] = "no end record",
	    [RECORD_AFTER_END] = "block after the end record",
	    [UNKNOWN_TAG] = "unknown record tag",
	    [DATA_TOO_LONG] = "malformed",
	    [LENGTH_PAST_BLOCK] = "malformed",
	    [SYSTEM_NODE_EPHEMERAL] = "appears twice",
	    [END_ZXID_BELOW_START] = "below start zxid",
	};
	struct tree_opts o = {.max_data = 4096};

	for (int d = 1; d < NDEFECTS; d++) {
		size_t n;
		uint8_t *b = craft((enum defect)d, &n);
		struct tree *t = (struct tree *)1;
		int64_t z;
		FILE *log;
		int saved = quiet_begin(&log);
		int rc = load_bytes(b, n, &o, &t, &z);
		char *text = quiet_end(saved, log);

		cr_assert_eq(rc, -EBADMSG, "defect %d: rc %d", d, rc);
		cr_assert_null(t, "defect %d", d);
		cr_assert_not_null(strstr(text, expect[d]), "defect %d: log says %s", d, text);
		cr_assert_not_null(strstr(text, "offset "), "defect %d: %s", d, text);
		free(text);
		free(b);
	}
}

Test(tree_snapshot, crafted_system_node_owner_is_checked)
{
	/* A system node claiming an ephemeral owner before its first appearance. */
	struct test_acl all;
	struct jute_out r;
	struct craft c;
	struct tree_pstat zero = {0}, eph = {.ephemeral_owner = 0x55};
	struct tree_opts o = {.max_data = 4096};
	struct tree *t = (struct tree *)1;
	size_t n;
	int64_t z;
	FILE *log;

	test_acl_make(&all, ZK_PERM_ALL, "world", "anyone");
	jute_out_init(&r, 1024);
	craft_begin(&c, 1);
	rec_acl(&r, 1, &all.list);
	rec_node(&r, "/", &zero, "", 1);
	rec_node(&r, "/zookeeper", &eph, "", 1);
	craft_block(&c, &r);
	craft_end(&c);
	n = c.file.len;
	int saved = quiet_begin(&log);
	int rc = load_bytes(c.file.buf, n, &o, &t, &z);
	char *text = quiet_end(saved, log);
	cr_assert_eq(rc, -EBADMSG);
	cr_assert_null(t);
	cr_assert_not_null(strstr(text, "has ephemeralOwner"), "%s", text);
	free(text);
	jute_out_free(&r);
	jute_out_free(&c.file);
}

/*
 * The loader adds nodes to the path index in batches, after parsing them
 * (tree_load_index), so a path met twice is found only then: it must still
 * be refused, naming one of its two records' offsets, however far apart
 * they are (the same batch here; different batches in the small-batch
 * build, "tree / snapshot small batches"), and leak nothing.
 */
Test(tree_snapshot, duplicate_path_far_apart_is_rejected_at_one_of_its_records)
{
	struct test_acl all, read;
	struct tree_pstat zero = {0}, cfg = {.aversion = -1}, a = {.czxid = 3, .mzxid = 3};
	struct tree_opts o = {.max_data = 4096};
	const size_t blk = 40 + 12; /* the one block's payload starts here */
	uint64_t walk = 0, nn = 0, first = 0, second = 0;
	char path[64], want1[64], want2[64];
	struct jute_out r;
	struct craft c;

	test_acl_make(&all, ZK_PERM_ALL, "world", "anyone");
	test_acl_make(&read, ZK_PERM_READ, "world", "anyone");
	for (int where = 0; where < 3; where++) {
		jute_out_init(&r, 4096);
		craft_begin(&c, 9);
		rec_acl(&r, 1, &all.list);
		rec_acl(&r, 2, &read.list);
		walk = rec_node(&r, "/", &zero, "", 1);
		walk += rec_node(&r, "/zookeeper", &zero, "", 1);
		walk += rec_node(&r, "/zookeeper/quota", &zero, "", 1);
		walk += rec_node(&r, "/zookeeper/config", &cfg, "", 2);
		nn = 3;
		/*
		 * "/d" with 40 children, then "/e" with 40; the copy: where 0,
		 * "/d" again at the end; 1, "/d/k7" again after "/d/k39"; 2,
		 * "/e/f3" again at the end.
		 */
		first = blk + r.len;
		walk += rec_node(&r, "/d", &a, "x", 1), nn++;
		for (int k = 0; k < 40; k++) {
			snprintf(path, sizeof(path), "/d/k%d", k);
			if (k == 7 && where == 1)
				first = blk + r.len;
			walk += rec_node(&r, path, &a, "y", 1), nn++;
		}
		if (where == 1) {
			second = blk + r.len;
			walk += rec_node(&r, "/d/k7", &a, "y", 1), nn++;
		}
		walk += rec_node(&r, "/e", &a, "", 1), nn++;
		for (int k = 0; k < 40; k++) {
			snprintf(path, sizeof(path), "/e/f%d", k);
			if (k == 3 && where == 2)
				first = blk + r.len;
			walk += rec_node(&r, path, &a, "z", 1), nn++;
		}
		if (where != 1) {
			second = blk + r.len;
			walk += rec_node(&r, where == 0 ? "/d" : "/e/f3", &a, "z", 1), nn++;
		}
		rec_end(&r, 9, walk, walk, 0, 2, nn, 1);
		craft_block(&c, &r);
		craft_end(&c);
		cr_assert_eq(c.file.err, 0);

		struct tree *t = (struct tree *)1;
		int64_t z;
		FILE *log;
		int saved = quiet_begin(&log);
		int rc = load_bytes(c.file.buf, c.file.len, &o, &t, &z);
		char *text = quiet_end(saved, log);

		cr_assert_eq(rc, -EBADMSG, "case %d: rc %d", where, rc);
		cr_assert_null(t);
		cr_assert_not_null(strstr(text, "appears twice"), "case %d: %s", where, text);
		snprintf(want1, sizeof(want1), "offset %zu: ", (size_t)first);
		snprintf(want2, sizeof(want2), "offset %zu: ", (size_t)second);
		cr_assert(strstr(text, want1) || strstr(text, want2),
			  "case %d: log names neither offset %zu nor %zu: %s", where, (size_t)first,
			  (size_t)second, text);
		free(text);
		jute_out_free(&r);
		jute_out_free(&c.file);
	}
}

/*
 * Above a few thousand nodes the loader adds half of them to the path
 * index from a second thread, split on the top bit of the bucket number
 * (tree.c, tree_load_index).  A path met twice in either half, or one in
 * each, must be refused like any other and leak nothing (the sanitizer
 * build checks that).  9,000 children of "/d" and one or two repeated
 * after them; which half a path falls in is computed as tree.c does, for
 * an index of 16,384 buckets (the next power of two above the count).
 */
static int half_of(const char *path)
{
	return (int)((tree_hash_path(path, strlen(path)) & 16383) >> 13);
}

Test(tree_snapshot, duplicate_path_in_either_half_of_a_big_load_is_rejected, .timeout = 240)
{
	enum { NCHILD = 9000 };
	struct test_acl all, read;
	struct tree_pstat zero = {0}, cfg = {.aversion = -1}, a = {.czxid = 3, .mzxid = 3};
	struct tree_opts o = {.max_data = 4096};
	char path[64];
	int in_half[2] = {-1, -1};

	test_acl_make(&all, ZK_PERM_ALL, "world", "anyone");
	test_acl_make(&read, ZK_PERM_READ, "world", "anyone");
	for (int k = 0; k < NCHILD && (in_half[0] < 0 || in_half[1] < 0); k++) {
		snprintf(path, sizeof(path), "/d/k%d", k);
		if (in_half[half_of(path)] < 0)
			in_half[half_of(path)] = k;
	}
	cr_assert(in_half[0] >= 0 && in_half[1] >= 0);
	/* case 0: a repeat in the low half; 1: in the high half; 2: one in each. */
	for (int c = 0; c < 3; c++) {
		int reps[2] = {in_half[c == 1], in_half[1]}, nreps = c == 2 ? 2 : 1;
		uint64_t walk, nn, offs[4];
		size_t noffs = 0;
		struct jute_out r;
		struct craft cr;

		jute_out_init(&r, 1 << 16);
		craft_begin(&cr, 9);
		rec_acl(&r, 1, &all.list);
		rec_acl(&r, 2, &read.list);
		walk = rec_node(&r, "/", &zero, "", 1);
		walk += rec_node(&r, "/zookeeper", &zero, "", 1);
		walk += rec_node(&r, "/zookeeper/quota", &zero, "", 1);
		walk += rec_node(&r, "/zookeeper/config", &cfg, "", 2);
		walk += rec_node(&r, "/d", &a, "x", 1);
		nn = 5;
		for (int k = 0; k < NCHILD + nreps; k++) {
			int child = k < NCHILD ? k : reps[k - NCHILD];
			/* Blocks of about 60,000 bytes, as the writer's. */
			if (r.len > 60000) {
				craft_block(&cr, &r);
				r.len = 0;
			}
			if (child == reps[0] || (nreps == 2 && child == reps[1]))
				offs[noffs++] = cr.file.len + 12 + r.len; /* + the block header */
			snprintf(path, sizeof(path), "/d/k%d", child);
			walk += rec_node(&r, path, &a, "y", 1), nn++;
		}
		rec_end(&r, 9, walk, walk, 0, 2, nn, 1);
		craft_block(&cr, &r);
		craft_end(&cr);
		cr_assert_eq(cr.file.err, 0);

		struct tree *t = (struct tree *)1;
		int64_t z;
		FILE *log;
		int saved = quiet_begin(&log);
		int rc = load_bytes(cr.file.buf, cr.file.len, &o, &t, &z);
		char *text = quiet_end(saved, log);

		cr_assert_eq(rc, -EBADMSG, "case %d: rc %d", c, rc);
		cr_assert_null(t);
		cr_assert_not_null(strstr(text, "appears twice"), "case %d: %s", c, text);
		bool named = false;
		for (size_t i = 0; i < noffs; i++) {
			char want[64];
			snprintf(want, sizeof(want), "offset %llu: ", (unsigned long long)offs[i]);
			named |= strstr(text, want) != NULL;
		}
		cr_assert(named, "case %d: log names none of the %zu records: %s", c, noffs, text);
		free(text);
		jute_out_free(&r);
		jute_out_free(&cr.file);
	}
}

/* ---- Seeds for fuzz_snapshot.c ---- */

/* Writes mode byte + snapshot to dir/name when dir is set; checks it loads. */
static void seed(const char *dir, const char *name, uint8_t mode, struct tree *t)
{
	struct tree_opts o = {.max_data = (mode & 4) ? 4096 : ZK_DEFAULT_MAX_BUFFER,
			      .extended_types = (mode & 2) != 0};
	struct tree *b = NULL;
	int fd = mem_fd();
	uint8_t *bytes;
	size_t n;
	int64_t z;

	cr_assert_eq(tree_snapshot_write(t, fd, &z), 0);
	bytes = fd_bytes(fd, &n);
	close(fd);
	cr_assert_lt(n, 10000, "%s: seeds stay small", name);
	cr_assert_eq(load_bytes(bytes, n, &o, &b, &z), 0, "%s", name);
	free_tree(b);
	if (dir) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		FILE *f = fopen(path, "wb");
		cr_assert_not_null(f, "%s", path);
		cr_assert_eq(fwrite(&mode, 1, 1, f), 1);
		cr_assert_eq(fwrite(bytes, 1, n, f), n);
		fclose(f);
	}
	free(bytes);
}

/*
 * The fuzzer's seed corpus (tests/tree/corpus_snapshot): regenerate with
 *   CHEETAH_SNAPSHOT_SEEDS=tests/tree/corpus_snapshot \
 *     build/tests/tree/test_tree_snapshot --filter '*seed_corpus*'
 */
Test(tree_snapshot, seed_corpus_for_the_fuzzer)
{
	const char *dir = getenv("CHEETAH_SNAPSHOT_SEEDS");
	struct tree_opts small = {.max_data = 4096, .extended_types = true};
	struct tree *t = tree_new(&small);
	struct test_acl acl, dig;
	struct gen g;

	seed(dir, "empty", 0, t);
	seed(dir, "empty-repair", 1, t);
	test_acl_make(&acl, ZK_PERM_ALL, "world", "anyone");
	test_acl_make(&dig, ZK_PERM_READ, "digest", "bob:xyz");
	apply_one(t, ZK_OP_CREATE, "/null", NULL, &acl.list, 0, 0, 1);
	apply_one(t, ZK_OP_CREATE, "/empty", "", &dig.list, 0, 0, 2);
	apply_one(t, ZK_OP_SETDATA, "/zookeeper/config", "server.1=a:1:2", NULL, 0, 1, 3);
	apply_one(t, ZK_OP_SETACL, "/zookeeper/quota", NULL, &dig.list, 0, 1, 4);
	apply_one(t, ZK_OP_CREATE, "/zookeeper/quota/app", "", &acl.list, 0, 0, 5);
	seed(dir, "system", 1, t);
	gen_init(&g, t, 77, 4);
	while (tree_node_count(t) < 30)
		gen_step(&g, 70);
	if (!g.nsessions)
		gen_session(&g);
	seed(dir, "mixed", 1 | 2 | 4, t);
	seed(dir, "mixed-no-repair", 2 | 4, t);
	while (tree_node_count(t) < 60)
		gen_step(&g, 60);
	seed(dir, "mixed-60", 1 | 2 | 4, t);
	gen_free(&g);
	free_tree(t);
}
