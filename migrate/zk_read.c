/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Readers of Apache ZooKeeper's on-disk formats, byte for byte as its
 * sources write them (never guessed; the classes named are ZooKeeper's):
 *
 * Snapshot (FileSnap.serialize, SerializeUtils.serializeSnapshot,
 * DataTree.serialize, ReferenceCountedACLCache.serialize, DataNode,
 * SnapStream.sealStream), jute big-endian throughout:
 *   FileHeader       int magic "ZKSN", int version 2, long dbid
 *   sessions         int count, then (long id, int timeout) each
 *   ACL cache        int count, then (long id, vector<ACL>) each
 *   nodes            (ustring path, buffer data, long acl id,
 *                    StatPersisted: long czxid, mzxid, ctime, mtime, int
 *                    version, cversion, aversion, long ephemeralOwner,
 *                    pzxid) each, in pre-order from the root, whose path
 *                    is ""; then the ustring "/" ends the list
 *   seal             long Adler-32 of every byte before it, ustring "/"
 *   3.6+ digest      long zxid, int digestVersion, long digest (a hex
 *                    ustring when digestVersion < 2), then another seal
 *                    (the running Adler-32 over everything before it)
 *   3.9.3+           long lastProcessedZxid, then another seal
 * An ACL id of -1 is OPEN_ACL_UNSAFE (world:anyone, all), not in the map.
 *
 * Transaction log (FileTxnLog.append, Util.readTxnBytes):
 *   FileHeader       int magic "ZKLG", int version 2, long dbid
 *   records          long Adler-32 of the bytes, int length, the bytes,
 *                    byte 'B'; a zero length ends the log (the file is
 *                    preallocated with zeros)
 *   bytes            TxnHeader (long clientId, int cxid, long zxid, long
 *                    time, int type), the type's txn record, and from 3.6
 *                    on a TxnDigest (int version, long treeDigest)
 *
 * How a record maps to Cheetah's tree_txn follows DataTree.processTxn:
 * CreateTxn's ephemeral flag makes the header's session the owner;
 * createTTL and createContainer owners are EphemeralType's encodings; a
 * multi holding an error sub-txn applies nothing (tree_apply does that
 * from the ERROR ops); closeSession deletes CloseSessionTxn's paths and
 * then whatever the session still owns (tree_apply's closeSession).
 *
 * Every length is checked against the bytes present before it is used;
 * a failure names the file and the offset of the field or record.
 * Single-threaded, no state besides the arguments.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/jute.h"
#include "common/zkdefs.h"
#include "migrate.h"

/* ZooKeeper's own bound on strings in these files is jute.maxbuffer. */
#define PATH_MAX_LEN (1u << 20)
#define ACL_STR_MAX (1u << 20)
#define STAT_PERSISTED_LEN 60u
#define TXN_HDR_LEN 32u
#define TXN_DIGEST_LEN 12u
#define FILE_HDR_LEN 16u

/* A cursor over [base + off, base + end) of one file. */
struct rd {
	const char *file;
	const uint8_t *base;
	size_t off;
	size_t end;
	struct mig_error *err;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct rd *r, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->err->msg, sizeof(r->err->msg), "%s: offset %zu: ", r->file, off);
	if (n < 0 || (size_t)n >= sizeof(r->err->msg))
		return -EBADMSG;
	va_start(ap, fmt);
	vsnprintf(r->err->msg + n, sizeof(r->err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static size_t left(const struct rd *r)
{
	return r->end - r->off;
}

static int need(struct rd *r, size_t n, const char *what)
{
	if (left(r) < n)
		return fail(r, r->off, "%s needs %zu bytes, %zu left: truncated", what, n, left(r));
	return 0;
}

static int get_int(struct rd *r, const char *what, int32_t *v)
{
	int rc = need(r, 4, what);

	if (rc)
		return rc;
	*v = (int32_t)jute_be32(r->base + r->off);
	r->off += 4;
	return 0;
}

static int get_long(struct rd *r, const char *what, int64_t *v)
{
	int rc = need(r, 8, what);

	if (rc)
		return rc;
	*v = (int64_t)jute_be64(r->base + r->off);
	r->off += 8;
	return 0;
}

/* A buffer or ustring: -1 is null, other negatives and lengths past the end fail. */
static int get_buf(struct rd *r, const char *what, uint32_t max, struct jute_buf *b)
{
	size_t at = r->off;
	int32_t n;
	int rc = get_int(r, what, &n);

	if (rc)
		return rc;
	if (n == -1) {
		*b = (struct jute_buf){NULL, -1};
		return 0;
	}
	if (n < 0)
		return fail(r, at, "%s has length %" PRId32, what, n);
	if ((uint32_t)n > max)
		return fail(r, at, "%s has length %" PRId32 ", above the limit %" PRIu32, what, n,
			    max);
	if ((size_t)n > left(r))
		return fail(r, at, "%s has length %" PRId32 ", beyond the end (%zu bytes left)",
			    what, n, left(r));
	*b = (struct jute_buf){r->base + r->off, n};
	r->off += (size_t)n;
	return 0;
}

static int get_acl(struct rd *r, const char *what, struct jute_acl_list *l)
{
	struct jute_in in;

	jute_in_init(&in, r->base + r->off, left(r));
	if (jute_get_acl_list(&in, l, ACL_STR_MAX) || in.err)
		return fail(r, r->off, "%s: malformed ACL list (a count or length beyond the end)",
			    what);
	if (l->count < 0)
		return fail(r, r->off, "%s: null ACL list", what);
	r->off += l->raw_len;
	return 0;
}

static int file_header(struct rd *r, int32_t magic, const char *kind, int64_t *dbid)
{
	int32_t m, v;

	if (left(r) < FILE_HDR_LEN)
		return fail(r, 0, "%zu bytes: too short for a ZooKeeper %s header", left(r), kind);
	get_int(r, "magic", &m);
	if (m != magic)
		return fail(r, 0, "bad magic 0x%08" PRIx32 ": not a ZooKeeper %s (0x%08" PRIx32 ")",
			    (uint32_t)m, kind, (uint32_t)magic);
	get_int(r, "version", &v);
	if (v != MIG_ZK_VERSION)
		return fail(r, 4, "%s format version %" PRId32 " (only %d exists)", kind, v,
			    MIG_ZK_VERSION);
	return get_long(r, "dbid", dbid);
}

/* SnapStream.checkSealIntegrity: the running Adler-32, then the string "/". */
static int seal(struct rd *r, uLong *adler, size_t *summed)
{
	size_t at = r->off;
	int64_t val;
	struct jute_buf slash;
	int rc;

	*adler = adler32(*adler, r->base + *summed, (uInt)(r->off - *summed));
	rc = get_long(r, "checksum", &val);
	if (!rc)
		rc = get_buf(r, "checksum's \"/\"", 1, &slash);
	if (rc)
		return rc;
	if ((uint64_t)val != (uint64_t)*adler)
		return fail(r, at,
			    "checksum mismatch: the file says 0x%08" PRIx64
			    ", its bytes sum to 0x%08lx",
			    (uint64_t)val, (unsigned long)*adler);
	if (!jute_buf_eq(slash, "/"))
		return fail(r, at + 8, "checksum not followed by \"/\"");
	*adler = adler32(*adler, r->base + at, (uInt)(r->off - at));
	*summed = r->off;
	return 0;
}

/* OPEN_ACL_UNSAFE, the list ACL id -1 stands for. */
static const uint8_t open_acl_bytes[] = {0, 0, 0, 1,   0,   0,	 0,   0x1f, 0,
					 0, 0, 5, 'w', 'o', 'r', 'l', 'd',  0,
					 0, 0, 6, 'a', 'n', 'y', 'o', 'n',  'e'};

struct acl_ent {
	int64_t id;
	struct jute_acl_list l;
};

static int acl_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct acl_ent *)a)->id, y = ((const struct acl_ent *)b)->id;

	return x < y ? -1 : x > y;
}

static int read_stat(struct rd *r, struct zk_stat *st)
{
	int rc = need(r, STAT_PERSISTED_LEN, "StatPersisted");

	if (rc)
		return rc;
	get_long(r, "czxid", &st->czxid);
	get_long(r, "mzxid", &st->mzxid);
	get_long(r, "ctime", &st->ctime);
	get_long(r, "mtime", &st->mtime);
	get_int(r, "version", &st->version);
	get_int(r, "cversion", &st->cversion);
	get_int(r, "aversion", &st->aversion);
	get_long(r, "ephemeralOwner", &st->ephemeral_owner);
	get_long(r, "pzxid", &st->pzxid);
	return 0;
}

static int read_nodes(struct rd *r, struct tree *t, const struct acl_ent *acls, size_t nacls,
		      struct mig_snap_info *info)
{
	const struct jute_acl_list open_acl = {open_acl_bytes, sizeof(open_acl_bytes), 1};
	bool root_seen = false;

	for (;;) {
		size_t at = r->off;
		struct jute_buf path, data;
		struct zk_stat st = {0};
		struct jute_acl_list acl;
		int64_t acl_id;
		int rc = get_buf(r, "node path", PATH_MAX_LEN, &path);

		if (rc)
			return rc;
		if (path.len < 0)
			return fail(r, at, "null node path");
		if (jute_buf_eq(path, "/"))
			break; /* DataTree.serializeNodes' end mark */
		rc = get_buf(r, "node data", UINT32_MAX >> 1, &data);
		if (!rc)
			rc = get_long(r, "node ACL id", &acl_id);
		if (!rc)
			rc = read_stat(r, &st);
		if (rc)
			return rc;
		if (acl_id == -1) {
			acl = open_acl;
		} else {
			struct acl_ent key = {.id = acl_id}, *e;

			e = bsearch(&key, acls, nacls, sizeof(*acls), acl_cmp);
			if (!e)
				return fail(r, at,
					    "node %.*s: ACL id %" PRId64
					    " is not in the snapshot's ACL cache",
					    path.len, (const char *)path.p, acl_id);
			acl = e->l;
		}
		if (path.len == 0) {
			/* The root is serialized as "" and comes first. */
			if (root_seen)
				return fail(r, at, "a second root node");
			root_seen = true;
			path = (struct jute_buf){(const uint8_t *)"/", 1};
		} else if (!root_seen) {
			return fail(r, at, "node %.*s before the root", path.len,
				    (const char *)path.p);
		}
		rc = tree_import_node(t, path, &st, data, &acl);
		switch (rc) {
		case 0:
			break;
		case -ENOENT:
			return fail(r, at,
				    "node %.*s: its parent is missing before it, or "
				    "ephemeral (Invalid Datatree)",
				    path.len, (const char *)path.p);
		case -EEXIST:
			return fail(r, at, "node %.*s appears twice", path.len,
				    (const char *)path.p);
		case -EINVAL:
			return fail(r, at,
				    "node %.*s: invalid path, data (%" PRId32 " bytes) above "
				    "jute.maxbuffer, or a system node of another kind",
				    path.len, (const char *)path.p, data.len);
		default:
			return rc;
		}
		/* The path index grows ahead of the nodes (tree_import_reserve). */
		if (++info->nodes >= 4096 && !(info->nodes & (info->nodes - 1)))
			tree_import_reserve(t, 2 * info->nodes);
	}
	if (!root_seen)
		return fail(r, r->off, "no root node");
	return 0;
}

int mig_zk_snap_read(const char *file, const uint8_t *buf, size_t len, struct tree *t,
		     struct mig_snap_info *info, struct mig_error *err)
{
	struct rd r = {file, buf, 0, len, err};
	struct acl_ent *acls = NULL;
	size_t summed = 0;
	uLong adler = adler32(0, NULL, 0);
	int32_t n;
	int rc;

	assert(file && (buf || !len) && t && info && err);
	assert(tree_node_count(t) >= 1); /* a tree_new() tree: "/" exists */
	memset(info, 0, sizeof(*info));
	rc = file_header(&r, MIG_ZK_SNAP_MAGIC, "snapshot", &info->dbid);
	if (rc)
		return rc;
	/* Sessions. */
	size_t at = r.off;
	if ((rc = get_int(&r, "session count", &n)))
		return rc;
	if (n < 0 || (size_t)n > left(&r) / 12)
		return fail(&r, at, "session count %" PRId32 " beyond the end (%zu bytes left)", n,
			    left(&r));
	for (int32_t i = 0; i < n; i++) {
		int64_t id;
		int32_t to;

		at = r.off;
		get_long(&r, "session id", &id);
		get_int(&r, "session timeout", &to);
		rc = tree_import_session(t, id, to);
		if (rc == -EINVAL || rc == -EEXIST)
			return fail(&r, at, "session 0x%" PRIx64 ": %s", (uint64_t)id,
				    rc == -EEXIST ? "listed twice" : "negative timeout");
		if (rc)
			return rc;
	}
	info->sessions = (uint64_t)n;
	/* ACL cache. */
	at = r.off;
	if ((rc = get_int(&r, "ACL cache size", &n)))
		return rc;
	if (n < 0 || (size_t)n > left(&r) / 12)
		return fail(&r, at, "ACL cache size %" PRId32 " beyond the end (%zu bytes left)", n,
			    left(&r));
	acls = calloc((size_t)n + 1, sizeof(*acls));
	if (!acls)
		return -ENOMEM;
	for (int32_t i = 0; i < n; i++) {
		if ((rc = get_long(&r, "ACL id", &acls[i].id)) ||
		    (rc = get_acl(&r, "ACL cache entry", &acls[i].l)))
			goto out;
	}
	qsort(acls, (size_t)n, sizeof(*acls), acl_cmp);
	for (int32_t i = 1; i < n; i++)
		if (acls[i].id == acls[i - 1].id) {
			rc = fail(&r, at, "ACL id %" PRId64 " listed twice", acls[i].id);
			goto out;
		}
	info->acls = (uint64_t)n;
	rc = read_nodes(&r, t, acls, (size_t)n, info);
	if (rc)
		goto out;
	if ((rc = seal(&r, &adler, &summed)))
		goto out;
	/* The optional trailers of later versions, each sealed. */
	if (left(&r)) {
		at = r.off;
		info->has_digest = true;
		if ((rc = get_long(&r, "digest zxid", &info->digest_zxid)) ||
		    (rc = get_int(&r, "digest version", &info->digest_version)))
			goto out;
		if (info->digest_version < 2) {
			struct jute_buf hex;
			char tmp[32];

			if ((rc = get_buf(&r, "digest", 16, &hex)))
				goto out;
			if (hex.len > 0) {
				memcpy(tmp, hex.p, (size_t)hex.len);
				tmp[hex.len] = 0;
				info->digest = (int64_t)strtoull(tmp, NULL, 16);
			}
		} else if ((rc = get_long(&r, "digest", &info->digest))) {
			goto out;
		}
		if ((rc = seal(&r, &adler, &summed)))
			goto out;
	}
	if (left(&r)) {
		info->has_last_zxid = true;
		if ((rc = get_long(&r, "lastProcessedZxid", &info->last_zxid)) ||
		    (rc = seal(&r, &adler, &summed)))
			goto out;
	}
	if (left(&r))
		rc = fail(&r, r.off, "%zu unexpected bytes after the last checksum", left(&r));
out:
	free(acls);
	return rc;
}

int mig_zk_log_read(const char *file, const uint8_t *buf, size_t len, bool torn_tail_ok,
		    int (*fn)(void *arg, const struct mig_log_rec *rec), void *arg,
		    struct mig_error *err)
{
	struct rd r = {file, buf, 0, len, err};
	int64_t dbid;
	int rc;

	assert(file && (buf || !len) && fn && err);
	rc = file_header(&r, MIG_ZK_LOG_MAGIC, "transaction log", &dbid);

	if (rc)
		return rc;
	while (left(&r)) {
		size_t at = r.off;
		int64_t crc;
		int32_t n;

		if (left(&r) < 12) {
			/* Zeros of preallocation, or a record cut short. */
			bool zeros = true;
			for (size_t i = r.off; i < r.end; i++)
				zeros &= buf[i] == 0;
			if (zeros || torn_tail_ok)
				return 0;
			return fail(&r, at, "record header truncated (%zu bytes left)", left(&r));
		}
		get_long(&r, "record checksum", &crc);
		get_int(&r, "record length", &n);
		if (n == 0)
			return 0; /* Util.readTxnBytes: an empty txn is the end */
		if (n < 0)
			return fail(&r, at + 8, "record length %" PRId32, n);
		if ((size_t)n + 1 > left(&r)) {
			if (torn_tail_ok)
				return 0;
			return fail(&r, at + 8,
				    "record length %" PRId32
				    " beyond the end of the file (%zu bytes left): truncated",
				    n, left(&r));
		}
		const uint8_t *p = buf + r.off;
		uLong sum = adler32(adler32(0, NULL, 0), p, (uInt)n);
		if ((uint64_t)crc != (uint64_t)sum)
			return fail(&r, at,
				    "record checksum mismatch: the file says 0x%08" PRIx64
				    ", its %" PRId32 " bytes sum to 0x%08lx",
				    (uint64_t)crc, n, (unsigned long)sum);
		if (p[n] != 'B')
			return fail(&r, r.off + (size_t)n, "record not ended by 'B' (0x%02x)",
				    p[n]);
		r.off += (size_t)n + 1;
		struct mig_log_rec rec = {at, p, (uint32_t)n};
		rc = fn(arg, &rec);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- Txn records ---- */

static bool is_create(int32_t type)
{
	return type == ZK_OP_CREATE || type == ZK_OP_CREATE2 || type == ZK_OP_CREATECONTAINER ||
	       type == ZK_OP_CREATETTL;
}

/*
 * Reads the txn record of one op (a top-level txn's, or a multi's Txn
 * data) into op; session owns ephemerals.  v0: CreateTxnV0 (no
 * parentCVersion).
 */
static int read_op(struct rd *r, int32_t type, int64_t session, uint32_t max_data, bool v0,
		   struct tree_op *op)
{
	size_t at = r->off;
	int rc;

	memset(op, 0, sizeof(*op));
	op->type = type;
	op->data = (struct jute_buf){NULL, -1};
	switch (type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL: {
		bool eph = false;
		int64_t ttl = 0;

		if ((rc = get_buf(r, "path", PATH_MAX_LEN, &op->path)) ||
		    (rc = get_buf(r, "data", max_data, &op->data)) ||
		    (rc = get_acl(r, "acl", &op->acl)))
			return rc;
		if (type == ZK_OP_CREATE || type == ZK_OP_CREATE2) {
			if ((rc = need(r, 1, "ephemeral")))
				return rc;
			eph = r->base[r->off++] != 0;
		}
		op->parent_cversion = -1;
		if (!v0 && (rc = get_int(r, "parentCVersion", &op->parent_cversion)))
			return rc;
		if (type == ZK_OP_CREATETTL) {
			if ((rc = get_long(r, "ttl", &ttl)))
				return rc;
			if (ttl <= 0 || ttl > TREE_TTL_MAX)
				return fail(r, at, "createTTL with ttl %" PRId64, ttl);
			op->ephemeral_owner = tree_owner_ttl(ttl);
		} else if (type == ZK_OP_CREATECONTAINER) {
			op->ephemeral_owner = TREE_OWNER_CONTAINER;
		} else {
			op->ephemeral_owner = eph ? session : 0;
		}
		break;
	}
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		if ((rc = get_buf(r, "path", PATH_MAX_LEN, &op->path)))
			return rc;
		break;
	case ZK_OP_SETDATA:
	case ZK_OP_RECONFIG:
		op->type = ZK_OP_SETDATA; /* reconfig logs a SetDataTxn of /zookeeper/config */
		if ((rc = get_buf(r, "path", PATH_MAX_LEN, &op->path)) ||
		    (rc = get_buf(r, "data", max_data, &op->data)) ||
		    (rc = get_int(r, "version", &op->version)))
			return rc;
		break;
	case ZK_OP_SETACL:
		if ((rc = get_buf(r, "path", PATH_MAX_LEN, &op->path)) ||
		    (rc = get_acl(r, "acl", &op->acl)) ||
		    (rc = get_int(r, "version", &op->version)))
			return rc;
		break;
	case ZK_OP_CHECK:
		if ((rc = get_buf(r, "path", PATH_MAX_LEN, &op->path)) ||
		    (rc = get_int(r, "version", &op->version)))
			return rc;
		break;
	case ZK_OP_ERROR:
		if ((rc = get_int(r, "err", &op->err)))
			return rc;
		break;
	default:
		return fail(r, at, "unsupported txn type %" PRId32, type);
	}
	if (type != ZK_OP_ERROR && op->path.len <= 0)
		return fail(r, at, "txn type %" PRId32 " with an empty or null path", type);
	/* ZooKeeper's prep validated every path it logged; tree_apply relies on it. */
	if (type != ZK_OP_ERROR &&
	    tree_validate_path((const char *)op->path.p, (size_t)op->path.len, false) != ZK_OK)
		return fail(r, at, "txn type %" PRId32 ": invalid path", type);
	if ((is_create(type) || type == ZK_OP_DELETE || type == ZK_OP_DELETECONTAINER) &&
	    op->path.len == 1)
		return fail(r, at, "txn type %" PRId32 " of the root", type);
	return 0;
}

/* What may follow a txn record: nothing, or a TxnDigest. */
static bool tail_ok(const struct rd *r)
{
	return left(r) == 0 || left(r) == TXN_DIGEST_LEN;
}

static int read_multi(struct rd *r, struct tree_txn *txn, uint32_t max_data)
{
	size_t at = r->off;
	int32_t n;
	int rc = get_int(r, "multi count", &n);

	if (rc)
		return rc;
	if (n < 0 || (size_t)n > left(r) / 8)
		return fail(r, at, "multi count %" PRId32 " beyond the end (%zu bytes left)", n,
			    left(r));
	txn->ops = calloc((size_t)n + 1, sizeof(*txn->ops));
	if (!txn->ops)
		return -ENOMEM;
	txn->nops = 0;
	/* DataTree.processTxn: a multi with an error sub-txn applies nothing. */
	size_t save = r->off;
	bool failed = false;
	for (int32_t i = 0; i < n; i++) {
		int32_t type;
		struct jute_buf b;

		if ((rc = get_int(r, "sub-txn type", &type)) ||
		    (rc = get_buf(r, "sub-txn", UINT32_MAX >> 1, &b)))
			return rc;
		failed |= type == ZK_OP_ERROR;
	}
	r->off = save;
	for (int32_t i = 0; i < n; i++) {
		int32_t type;
		struct jute_buf b;
		struct tree_op *op = &txn->ops[i];

		at = r->off;
		get_int(r, "sub-txn type", &type);
		get_buf(r, "sub-txn", UINT32_MAX >> 1, &b);
		if (failed && type != ZK_OP_ERROR) {
			/* Not decoded by ZooKeeper either: tree_apply reports it. */
			memset(op, 0, sizeof(*op));
			op->type = type;
			op->data = (struct jute_buf){NULL, -1};
			txn->nops++;
			continue;
		}
		switch (type) {
		case ZK_OP_CREATE:
		case ZK_OP_CREATE2:
		case ZK_OP_CREATECONTAINER:
		case ZK_OP_CREATETTL:
		case ZK_OP_DELETE:
		case ZK_OP_DELETECONTAINER:
		case ZK_OP_SETDATA:
		case ZK_OP_CHECK:
		case ZK_OP_ERROR:
			break;
		default:
			return fail(r, at,
				    "multi sub-txn %" PRId32 " of type %" PRId32
				    " (DataTree.processTxn refuses it)",
				    i, type);
		}
		struct rd sub = {r->file, r->base, (size_t)(b.p - r->base), 0, r->err};
		sub.end = sub.off + (size_t)b.len;
		if ((rc = read_op(&sub, type, txn->session, max_data, false, op)))
			return rc;
		if (left(&sub))
			return fail(r, at, "multi sub-txn %" PRId32 ": %zu bytes after its record",
				    i, left(&sub));
		txn->nops++;
	}
	return 0;
}

static int read_close(struct rd *r, struct tree_txn *txn)
{
	size_t save = r->off;
	int32_t n;

	/*
	 * A CloseSessionTxn (3.6+ with closeSessionTxn enabled) when one
	 * parses and leaves nothing or a TxnDigest; else none (older logs),
	 * and what is left must be a digest (checked by the caller).
	 */
	txn->nops = 0;
	txn->ops = NULL;
	if (left(r) == 0)
		return 0;
	if (get_int(r, "paths2Delete count", &n) || n < 0 || (size_t)n > left(r) / 4) {
		r->off = save;
		r->err->msg[0] = 0;
		return 0; /* a digest only */
	}
	txn->ops = calloc((size_t)n + 1, sizeof(*txn->ops));
	if (!txn->ops)
		return -ENOMEM;
	for (int32_t i = 0; i < n; i++) {
		struct tree_op *op = &txn->ops[i];

		memset(op, 0, sizeof(*op));
		op->type = ZK_OP_DELETE;
		op->data = (struct jute_buf){NULL, -1};
		if (get_buf(r, "path to delete", PATH_MAX_LEN, &op->path) || op->path.len <= 1 ||
		    tree_validate_path((const char *)op->path.p, (size_t)op->path.len, false) !=
			ZK_OK) {
			free(txn->ops);
			txn->ops = NULL;
			txn->nops = 0;
			r->off = save;
			r->err->msg[0] = 0;
			return 0;
		}
		txn->nops++;
	}
	if (!tail_ok(r)) {
		free(txn->ops);
		txn->ops = NULL;
		txn->nops = 0;
		r->off = save;
	}
	return 0;
}

int mig_zk_txn_decode(const char *file, const struct mig_log_rec *rec, uint32_t max_data,
		      struct tree_txn *txn, bool *has_digest, int64_t *digest,
		      struct mig_error *err)
{
	/* Offsets are the file's: the txn starts 12 bytes into its record. */
	struct rd r = {file, rec->txn - (rec->off + 12), rec->off + 12, rec->off + 12 + rec->len,
		       err};
	size_t body;
	int rc;

	assert(rec && rec->txn && txn && has_digest && digest && err);
	memset(txn, 0, sizeof(*txn));
	*has_digest = false;
	if ((rc = need(&r, TXN_HDR_LEN, "TxnHeader")))
		return rc;
	get_long(&r, "clientId", &txn->session);
	get_int(&r, "cxid", &txn->cxid);
	get_long(&r, "zxid", &txn->zxid);
	get_long(&r, "time", &txn->time);
	get_int(&r, "type", &txn->type);
	body = r.off;
	switch (txn->type) {
	case ZK_OP_CREATESESSION:
		rc = get_int(&r, "timeOut", &txn->timeout);
		if (!rc && txn->timeout < 0)
			rc = fail(&r, body, "createSession with timeout %" PRId32, txn->timeout);
		break;
	case ZK_OP_CLOSESESSION:
		rc = read_close(&r, txn);
		break;
	case ZK_OP_MULTI:
		rc = read_multi(&r, txn, max_data);
		break;
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
	case ZK_OP_SETDATA:
	case ZK_OP_RECONFIG:
	case ZK_OP_SETACL:
	case ZK_OP_ERROR:
		txn->ops = &txn->inline_op;
		txn->nops = 1;
		rc = read_op(&r, txn->type, txn->session, max_data, false, &txn->inline_op);
		if (txn->type == ZK_OP_CREATE && (rc || !tail_ok(&r))) {
			/* SerializeUtils: perhaps a V0 create (no parentCVersion) */
			r.off = body;
			rc = read_op(&r, txn->type, txn->session, max_data, true, &txn->inline_op);
		}
		if (txn->type == ZK_OP_RECONFIG)
			txn->type = ZK_OP_SETDATA;
		break;
	default:
		/* SerializeUtils.deserializeTxn: "Unsupported Txn" (check included). */
		rc = fail(&r, rec->off, "zxid 0x%" PRIx64 ": unsupported txn type %" PRId32,
			  (uint64_t)txn->zxid, txn->type);
		break;
	}
	if (!rc && left(&r) == TXN_DIGEST_LEN) {
		int32_t v;

		get_int(&r, "digest version", &v);
		get_long(&r, "tree digest", digest);
		*has_digest = true;
	} else if (!rc && left(&r)) {
		rc = fail(&r, r.off,
			  "zxid 0x%" PRIx64 " (type %" PRId32
			  "): %zu unexpected bytes after the txn",
			  (uint64_t)txn->zxid, txn->type, left(&r));
	}
	if (rc) {
		tree_txn_release(txn);
		memset(txn, 0, sizeof(*txn));
	}
	return rc;
}
