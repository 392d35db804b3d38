// SPDX-License-Identifier: Apache-2.0
/* Test helpers for the codec; see proto_test_util.h. */
#include "proto_test_util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pt_buf_eq(struct jute_buf a, struct jute_buf b)
{
	if (a.len < 0 || b.len < 0)
		return a.len < 0 && b.len < 0;
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

struct jute_buf pt_str(const char *s)
{
	struct jute_buf b = { (const uint8_t *)s, s ? (int32_t)strlen(s) : -1 };

	return b;
}

bool pt_stat_eq(const struct zk_stat *a, const struct zk_stat *b)
{
	return a->czxid == b->czxid && a->mzxid == b->mzxid && a->ctime == b->ctime &&
	       a->mtime == b->mtime && a->version == b->version && a->cversion == b->cversion &&
	       a->aversion == b->aversion && a->ephemeral_owner == b->ephemeral_owner &&
	       a->data_length == b->data_length && a->num_children == b->num_children &&
	       a->pzxid == b->pzxid;
}

bool pt_acl_eq(const struct jute_acl_list *a, const struct jute_acl_list *b)
{
	struct jute_acl_iter ia, ib;
	struct jute_acl x, y;

	if (a->count != b->count)
		return false;
	if (a->count <= 0)
		return true;
	jute_acl_iter_init(&ia, a);
	jute_acl_iter_init(&ib, b);
	for (int32_t i = 0; i < a->count; i++) {
		if (!jute_acl_next(&ia, &x) || !jute_acl_next(&ib, &y))
			return false;
		if (x.perms != y.perms || !pt_buf_eq(x.scheme, y.scheme) || !pt_buf_eq(x.id, y.id))
			return false;
	}
	return true;
}

bool pt_str_list_eq(const struct proto_str_list *a, const struct proto_str_list *b)
{
	struct proto_iter ia, ib;
	struct jute_buf x, y;
	int32_t n = 0;

	if (a->count != b->count)
		return false;
	proto_str_iter(&ia, a);
	proto_str_iter(&ib, b);
	while (proto_str_next(&ia, &x)) {
		if (!proto_str_next(&ib, &y) || !pt_buf_eq(x, y))
			return false;
		n++;
	}
	return !proto_str_next(&ib, &y) && n == (a->count > 0 ? a->count : 0);
}

bool pt_client_info_eq(const struct proto_client_info_list *a, const struct proto_client_info_list *b)
{
	struct proto_iter ia, ib;
	struct proto_client_info x, y;
	int32_t n = 0;

	if (a->count != b->count)
		return false;
	proto_client_info_iter(&ia, a);
	proto_client_info_iter(&ib, b);
	while (proto_client_info_next(&ia, &x)) {
		if (!proto_client_info_next(&ib, &y) || !pt_buf_eq(x.auth_scheme, y.auth_scheme) ||
		    !pt_buf_eq(x.user, y.user))
			return false;
		n++;
	}
	return !proto_client_info_next(&ib, &y) && n == (a->count > 0 ? a->count : 0);
}

static bool create_eq(const struct proto_create_req *a, const struct proto_create_req *b, bool ttl)
{
	return pt_buf_eq(a->path, b->path) && pt_buf_eq(a->data, b->data) &&
	       pt_acl_eq(&a->acl, &b->acl) && a->flags == b->flags && (!ttl || a->ttl == b->ttl);
}

bool pt_multi_op_eq(const struct proto_multi_op *a, const struct proto_multi_op *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		return create_eq(&a->create, &b->create, a->type == ZK_OP_CREATETTL);
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		return pt_buf_eq(a->path_version.path, b->path_version.path) &&
		       a->path_version.version == b->path_version.version;
	case ZK_OP_SETDATA:
		return pt_buf_eq(a->set_data.path, b->set_data.path) &&
		       pt_buf_eq(a->set_data.data, b->set_data.data) &&
		       a->set_data.version == b->set_data.version;
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETDATA:
		return pt_buf_eq(a->path_watch.path, b->path_watch.path) &&
		       a->path_watch.watch == b->path_watch.watch;
	default:
		return false;
	}
}

bool pt_multi_req_eq(const struct proto_multi_req *a, const struct proto_multi_req *b)
{
	struct proto_iter ia, ib;
	struct proto_multi_op x, y;
	int32_t n = 0;

	if (a->count != b->count)
		return false;
	proto_multi_iter(&ia, a);
	proto_multi_iter(&ib, b);
	while (proto_multi_next(&ia, &x)) {
		if (!proto_multi_next(&ib, &y) || !pt_multi_op_eq(&x, &y))
			return false;
		n++;
	}
	return !proto_multi_next(&ib, &y) && n == a->count;
}

bool pt_multi_result_eq(const struct proto_multi_result *a, const struct proto_multi_result *b)
{
	if (a->type != b->type || a->err != b->err)
		return false;
	switch (a->type) {
	case ZK_OP_CREATE:
		return pt_buf_eq(a->path, b->path);
	case ZK_OP_CREATE2:
		return pt_buf_eq(a->path_stat.path, b->path_stat.path) &&
		       pt_stat_eq(&a->path_stat.stat, &b->path_stat.stat);
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		return true;
	case ZK_OP_SETDATA:
		return pt_stat_eq(&a->stat, &b->stat);
	case ZK_OP_GETCHILDREN:
		return pt_str_list_eq(&a->children, &b->children);
	case ZK_OP_GETDATA:
		return pt_buf_eq(a->data_stat.data, b->data_stat.data) &&
		       pt_stat_eq(&a->data_stat.stat, &b->data_stat.stat);
	case ZK_OP_ERROR:
		return a->error == b->error;
	default:
		return false;
	}
}

bool pt_multi_resp_eq(const struct proto_multi_resp *a, const struct proto_multi_resp *b)
{
	struct proto_iter ia, ib;
	struct proto_multi_result x, y;
	int32_t n = 0;

	if (a->count != b->count)
		return false;
	proto_result_iter(&ia, a);
	proto_result_iter(&ib, b);
	while (proto_result_next(&ia, &x)) {
		if (!proto_result_next(&ib, &y) || !pt_multi_result_eq(&x, &y))
			return false;
		n++;
	}
	return !proto_result_next(&ib, &y) && n == a->count;
}

bool pt_connect_req_eq(const struct proto_connect_req *a, const struct proto_connect_req *b)
{
	return a->protocol_version == b->protocol_version && a->last_zxid_seen == b->last_zxid_seen &&
	       a->timeout == b->timeout && a->session_id == b->session_id &&
	       pt_buf_eq(a->passwd, b->passwd) && a->has_read_only == b->has_read_only &&
	       (!a->has_read_only || a->read_only == b->read_only);
}

bool pt_connect_resp_eq(const struct proto_connect_resp *a, const struct proto_connect_resp *b)
{
	return a->protocol_version == b->protocol_version && a->timeout == b->timeout &&
	       a->session_id == b->session_id && pt_buf_eq(a->passwd, b->passwd) &&
	       a->has_read_only == b->has_read_only &&
	       (!a->has_read_only || a->read_only == b->read_only);
}

bool pt_request_eq(const struct proto_request *a, const struct proto_request *b)
{
	const struct proto_set_watches_req *wa = &a->set_watches, *wb = &b->set_watches;

	if (a->hdr.xid != b->hdr.xid || a->hdr.type != b->hdr.type)
		return false;
	switch (a->hdr.type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		return create_eq(&a->create, &b->create, a->hdr.type == ZK_OP_CREATETTL);
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		return pt_buf_eq(a->path_version.path, b->path_version.path) &&
		       a->path_version.version == b->path_version.version;
	case ZK_OP_EXISTS:
	case ZK_OP_GETDATA:
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETCHILDREN2:
		return pt_buf_eq(a->path_watch.path, b->path_watch.path) &&
		       a->path_watch.watch == b->path_watch.watch;
	case ZK_OP_SETDATA:
		return pt_buf_eq(a->set_data.path, b->set_data.path) &&
		       pt_buf_eq(a->set_data.data, b->set_data.data) &&
		       a->set_data.version == b->set_data.version;
	case ZK_OP_GETACL:
	case ZK_OP_SYNC:
	case ZK_OP_GETALLCHILDRENNUMBER:
	case ZK_OP_GETEPHEMERALS:
	case ZK_OP_DELETECONTAINER:
		return pt_buf_eq(a->path.path, b->path.path);
	case ZK_OP_SETACL:
		return pt_buf_eq(a->set_acl.path, b->set_acl.path) &&
		       pt_acl_eq(&a->set_acl.acl, &b->set_acl.acl) &&
		       a->set_acl.version == b->set_acl.version;
	case ZK_OP_MULTI:
	case ZK_OP_MULTIREAD:
		return pt_multi_req_eq(&a->multi, &b->multi);
	case ZK_OP_RECONFIG:
		return pt_buf_eq(a->reconfig.joining_servers, b->reconfig.joining_servers) &&
		       pt_buf_eq(a->reconfig.leaving_servers, b->reconfig.leaving_servers) &&
		       pt_buf_eq(a->reconfig.new_members, b->reconfig.new_members) &&
		       a->reconfig.cur_config_id == b->reconfig.cur_config_id;
	case ZK_OP_CHECKWATCHES:
	case ZK_OP_REMOVEWATCHES:
		return pt_buf_eq(a->watches.path, b->watches.path) && a->watches.type == b->watches.type;
	case ZK_OP_ADDWATCH:
		return pt_buf_eq(a->add_watch.path, b->add_watch.path) &&
		       a->add_watch.mode == b->add_watch.mode;
	case ZK_OP_AUTH:
		return a->auth.type == b->auth.type && pt_buf_eq(a->auth.scheme, b->auth.scheme) &&
		       pt_buf_eq(a->auth.auth, b->auth.auth);
	case ZK_OP_SETWATCHES2:
		if (!pt_str_list_eq(&wa->persistent, &wb->persistent) ||
		    !pt_str_list_eq(&wa->persistent_recursive, &wb->persistent_recursive))
			return false;
		/* fall through */
	case ZK_OP_SETWATCHES:
		return wa->relative_zxid == wb->relative_zxid && pt_str_list_eq(&wa->data, &wb->data) &&
		       pt_str_list_eq(&wa->exist, &wb->exist) && pt_str_list_eq(&wa->child, &wb->child);
	case ZK_OP_SASL:
		return pt_buf_eq(a->sasl_token, b->sasl_token);
	case ZK_OP_CREATESESSION:
		return a->session_timeout == b->session_timeout;
	case ZK_OP_PING:
	case ZK_OP_CLOSESESSION:
	case ZK_OP_WHOAMI:
		return true;
	default:
		return false;
	}
}

bool pt_response_eq(int32_t op, const struct proto_response *a, const struct proto_response *b)
{
	switch (op) {
	case ZK_OP_NOTIFICATION:
		return a->event.type == b->event.type && a->event.state == b->event.state &&
		       pt_buf_eq(a->event.path, b->event.path);
	case ZK_OP_CREATE:
	case ZK_OP_SYNC:
		return pt_buf_eq(a->path, b->path);
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		return pt_buf_eq(a->path_stat.path, b->path_stat.path) &&
		       pt_stat_eq(&a->path_stat.stat, &b->path_stat.stat);
	case ZK_OP_EXISTS:
	case ZK_OP_SETDATA:
	case ZK_OP_SETACL:
		return pt_stat_eq(&a->stat, &b->stat);
	case ZK_OP_GETDATA:
	case ZK_OP_RECONFIG:
		return pt_buf_eq(a->data_stat.data, b->data_stat.data) &&
		       pt_stat_eq(&a->data_stat.stat, &b->data_stat.stat);
	case ZK_OP_GETACL:
		return pt_acl_eq(&a->acl_stat.acl, &b->acl_stat.acl) &&
		       pt_stat_eq(&a->acl_stat.stat, &b->acl_stat.stat);
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETEPHEMERALS:
		return pt_str_list_eq(&a->children, &b->children);
	case ZK_OP_GETCHILDREN2:
		return pt_str_list_eq(&a->children_stat.children, &b->children_stat.children) &&
		       pt_stat_eq(&a->children_stat.stat, &b->children_stat.stat);
	case ZK_OP_GETALLCHILDRENNUMBER:
		return a->total == b->total;
	case ZK_OP_ADDWATCH:
		return a->err == b->err;
	case ZK_OP_WHOAMI:
		return pt_client_info_eq(&a->client_info, &b->client_info);
	case ZK_OP_SASL:
		return pt_buf_eq(a->sasl_token, b->sasl_token);
	case ZK_OP_MULTI:
	case ZK_OP_MULTIREAD:
		return pt_multi_resp_eq(&a->multi, &b->multi);
	default:
		/* record-less replies */
		return true;
	}
}

bool pt_reply_eq(const struct proto_reply *a, const struct proto_reply *b)
{
	if (a->hdr.xid != b->hdr.xid || a->hdr.zxid != b->hdr.zxid || a->hdr.err != b->hdr.err ||
	    a->op != b->op || a->has_body != b->has_body)
		return false;
	return !a->has_body || pt_response_eq(a->op, &a->body, &b->body);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

long pt_hex_decode(const char *hex, uint8_t **out)
{
	size_t cap = strlen(hex) / 2 + 1, n = 0;
	uint8_t *b = malloc(cap);
	int hi = -1;

	if (!b)
		return -1;
	for (const char *c = hex; *c; c++) {
		if (isspace((unsigned char)*c))
			continue;
		int v = hexval((unsigned char)*c);
		if (v < 0) {
			free(b);
			return -1;
		}
		if (hi < 0) {
			hi = v;
		} else {
			b[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0) {
		free(b);
		return -1;
	}
	*out = b;
	return (long)n;
}

int pt_capture_load(const char *path, struct pt_capture *cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t lcap = 0, fcap = 0;
	int lineno = 0, err = 0;

	memset(cap, 0, sizeof(*cap));
	if (!f)
		return -errno;
	while (getline(&line, &lcap, f) >= 0) {
		lineno++;
		if (line[0] == '#') {
			if (!strncmp(line, "# client: ", 10) && !cap->client[0]) {
				snprintf(cap->client, sizeof(cap->client), "%s", line + 10);
				cap->client[strcspn(cap->client, "\n")] = 0;
			}
			continue;
		}
		if (line[0] != '>' && line[0] != '<')
			continue;
		char *p = line + 1;
		long conn = strtol(p, &p, 10);
		uint8_t *bytes;
		long n = pt_hex_decode(p, &bytes);
		if (n < 0 || conn <= 0) {
			err = -EINVAL;
			break;
		}
		if (cap->count == fcap) {
			fcap = fcap ? fcap * 2 : 64;
			struct pt_frame *nf = realloc(cap->frames, fcap * sizeof(*nf));
			if (!nf) {
				free(bytes);
				err = -ENOMEM;
				break;
			}
			cap->frames = nf;
		}
		cap->frames[cap->count++] = (struct pt_frame){
			.dir = line[0], .conn = (int)conn, .line = lineno, .bytes = bytes, .len = (size_t)n
		};
	}
	free(line);
	fclose(f);
	if (err)
		pt_capture_free(cap);
	return err;
}

void pt_capture_free(struct pt_capture *cap)
{
	for (size_t i = 0; i < cap->count; i++)
		free(cap->frames[i].bytes);
	free(cap->frames);
	cap->frames = NULL;
	cap->count = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **pt_list_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, cap = 0, sl = strlen(suffix);

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix))
			continue;
		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
		}
		if (asprintf(&v[n], "%s/%s", dir, e->d_name) < 0)
			break;
		n++;
	}
	closedir(d);
	if (!v)
		return NULL;
	v[n] = NULL;
	qsort(v, n, sizeof(*v), cmp_str);
	return v;
}

void pt_files_free(char **files)
{
	if (!files)
		return;
	for (char **f = files; *f; f++)
		free(*f);
	free(files);
}
