/* The knowledge-base routes under /api/v1/kbs: thin handlers that validate
 * the request, call kb/ with this thread's connection and the caller's
 * principal, and turn the result (or the result code) into JSON. Uploads
 * live in upload.c, streams in stream.c. {kb} is a numeric id or a name,
 * resolved in server.c with the caller's access level (routes.c says which
 * level each route needs; docs/API.md has the full list).
 * Errors: {"error":{"code","message"}} with rc_code()/rc_http_status(). */
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "auth/acl.h"
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>

#define send_kb_error http_send_service_error

/* Wraps a list that kb/ may return bare or already inside an object. */
static json_t *wrap(const char *key, json_t *v)
{
    if (!v || json_is_object(v))
        return v;
    return json_pack("{s:o}", key, v);
}

enum MHD_Result http_h_kbs_list(struct http_req *r, struct kb_conn *c)
{
    struct kb_info *a = NULL;
    size_t n = 0;
    int rc = kb_list_for(c, &r->who, &a, &n);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, kb_info_json(&a[i])) != 0)
            log_warn("http: dropped a knowledge base from the list");
    kb_infos_free(a, n);
    return http_send_json(r, 200, json_pack("{s:o}", "kbs", arr));
}

/* {"name", "kind": "enterprise" (needs kb.create) | "personal" (anyone:
 * their own)}. The creator of an enterprise KB becomes its admin. */
enum MHD_Result http_h_kbs_create(struct http_req *r, struct kb_conn *c)
{
    struct buf err = BUF_INIT;
    struct kb_info info;
    enum MHD_Result res = MHD_NO;
    memset(&info, 0, sizeof info);
    json_t *j = http_body_json(r, &res);
    if (!j)
        goto out;
    int bad = 0;
    const char *name = http_json_str(j, "name", &bad);
    const char *kind = http_json_str(j, "kind", &bad);
    if (bad || !name || !*name) {
        res =
            http_send_rc(r, RC_INVALID, "缺少字符串字段 \"name\" / missing string field \"name\"");
        goto out;
    }
    if (!kind)
        kind = "enterprise";
    int personal = strcmp(kind, "personal") == 0;
    if (!personal && strcmp(kind, "enterprise") != 0) {
        res =
            http_send_rc(r, RC_INVALID,
                         "kind 须为 enterprise 或 personal / kind must be enterprise or personal");
        goto out;
    }
    if (!personal && !(r->who.perms & AUTH_P_KB_CREATE)) {
        res = http_send_error(r, 403, "forbidden",
                              "没有创建企业知识库的权限 / you may not create enterprise KBs");
        goto out;
    }
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = send_kb_error(r, RC_DB, NULL);
        goto out;
    }
    int rc = kb_create_ex(c, name, kind, personal ? r->who.user_id : 0, &info, &err);
    char idstr[32], target[40];
    snprintf(idstr, sizeof idstr, "%lld", (long long)info.id);
    snprintf(target, sizeof target, "kb:%s", idstr);
    if (rc == RC_OK && !personal && r->who.user_id > 0 && !(r->who.perms & AUTH_P_KB_ADMIN)) {
        char uid[32];
        snprintf(uid, sizeof uid, "%lld", (long long)r->who.user_id);
        int64_t gid = 0;
        rc = acl_grant(kb_conn_store(c), info.id, ACL_SUBJ_USER, uid, ACL_ADMIN, &gid, &err);
    }
    rc = http_change_end(r, c, &tx, rc, "kb.create", target,
                         json_pack("{s:s,s:s}", "name", name, "kind", kind));
    if (rc != RC_OK) {
        res = send_kb_error(r, rc, &err);
        goto out;
    }
    kb_info_release(&info); /* again with the creator's access level */
    rc = kb_get_for(c, &r->who, idstr, ACL_READ, &info);
    res = rc == RC_OK ? http_send_json(r, 201, kb_info_json(&info)) : send_kb_error(r, rc, NULL);
out:
    kb_info_release(&info);
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_kb_get(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    return http_send_json(r, 200, kb_info_json(&r->kb));
}

enum MHD_Result http_h_docs_list(struct http_req *r, struct kb_conn *c)
{
    struct kb_doc_info *a = NULL;
    size_t n = 0;
    int rc = kb_docs(c, &r->who, r->kb.id, &a, &n);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, kb_doc_json(&a[i])) != 0)
            log_warn("http: dropped a document from the list");
    kb_docs_free(a, n);
    return http_send_json(r, 200, json_pack("{s:o}", "documents", arr));
}

enum MHD_Result http_h_doc_get(struct http_req *r, struct kb_conn *c)
{
    struct kb_doc_info d;
    int rc = kb_doc_get(c, &r->who, r->kb.id, r->arg_id, &d);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    json_t *j = kb_doc_json(&d);
    kb_docs_free_one(&d);
    return http_send_json(r, 200, j);
}

/* RFC 5987 filename*: UTF-8, percent-encoded except unreserved bytes. */
static void content_disposition(struct buf *out, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    (void)buf_adds(out, "attachment; filename=\"download\"; filename*=UTF-8''");
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '-' || *p == '_' || *p == '~') {
            (void)buf_add(out, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            (void)buf_add(out, e, 3);
        }
    }
}

enum MHD_Result http_h_doc_content(struct http_req *r, struct kb_conn *c)
{
    struct kb_file f;
    int rc = kb_doc_file(c, &r->who, r->kb.id, r->arg_id, &f);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    char target[64];
    snprintf(target, sizeof target, "kb:%lld/doc:%lld", (long long)r->kb.id, (long long)r->arg_id);
    if (r->method != HM_HEAD)
        http_audit_later(r, "doc.download", target, NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(f.n, f.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        kb_file_release(&f);
        return MHD_NO;
    }
    size_t n = f.n;
    f.data = NULL; /* the response owns it */
    struct buf cd = BUF_INIT;
    content_disposition(&cd, f.name);
    /* Always an attachment and never sniffed: an uploaded HTML file must
     * not run as a page of ours. */
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f.mime) != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, buf_str(&cd)) !=
            MHD_YES ||
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
        MHD_add_response_header(resp, "Content-Security-Policy", "sandbox") != MHD_YES)
        log_warn("http: cannot add a download header");
    buf_release(&cd);
    kb_file_release(&f);
    return http_respond(r, 200, resp, n);
}

enum MHD_Result http_h_doc_delete(struct http_req *r, struct kb_conn *c)
{
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return send_kb_error(r, RC_DB, NULL);
    int rc = kb_doc_delete(c, r->kb.id, r->arg_id);
    char target[64];
    snprintf(target, sizeof target, "kb:%lld/doc:%lld", (long long)r->kb.id, (long long)r->arg_id);
    rc = http_change_end(r, c, &tx, rc, "doc.delete", target, NULL);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_empty(r, 204);
}

enum MHD_Result http_h_chunk_get(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = kb_chunk_get(c, &r->who, r->kb.id, r->arg_id, &j);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_json(r, 200, j);
}

/* The whole text, chunk by chunk: audited like a download. */
enum MHD_Result http_h_doc_chunks(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = kb_doc_chunks(c, &r->who, r->kb.id, r->arg_id, &j);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    char target[64];
    snprintf(target, sizeof target, "kb:%lld/doc:%lld", (long long)r->kb.id, (long long)r->arg_id);
    http_audit_later(r, "doc.text", target, NULL);
    return http_send_json(r, 200, j);
}

enum MHD_Result http_h_job_get(struct http_req *r, struct kb_conn *c)
{
    struct kb_job job;
    memset(&job, 0, sizeof job);
    int rc = kb_job_get(c, r->kb.id, r->arg_id, &job);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    json_t *j = kb_job_json(&job);
    kb_job_release(&job);
    return http_send_json(r, 200, j);
}

/* Who searched what, and which chunks they were shown. */
static void audit_search(struct http_req *r, const char *query, const struct kb_hits *hits)
{
    json_t *chunks = json_array();
    for (size_t i = 0; i < hits->n; i++)
        (void)json_array_append_new(chunks, json_integer(hits->a[i].chunk_id));
    json_t *detail = json_pack("{s:s, s:[I], s:o}", "query", query, "kbs", (json_int_t)r->kb.id,
                               "chunks", chunks);
    char target[32];
    snprintf(target, sizeof target, "kb:%lld", (long long)r->kb.id);
    http_audit_later(r, "kb.search", target, detail);
    json_decref(detail);
}

enum MHD_Result http_h_search(struct http_req *r, struct kb_conn *c)
{
    struct http_query_body q;
    struct buf err = BUF_INIT;
    struct kb_hits hits;
    enum MHD_Result res;
    memset(&hits, 0, sizeof hits);
    int rc = http_parse_query_body(r->body.p, r->body.len, "query", &q, &err);
    if (rc != RC_OK) {
        res = http_send_rc(r, rc, buf_str(&err));
        goto out;
    }
    struct kb_search_opts o = {.k = q.k, .flags = 0, .who = &r->who};
    rc = kb_search(c, r->kb.id, q.text, &o, &hits, &err);
    if (rc != RC_OK) {
        res = send_kb_error(r, rc, &err);
        goto out;
    }
    audit_search(r, q.text, &hits);
    struct buf body = BUF_INIT;
    if (kb_hits_write_json(&hits, &body) == RC_OK) {
        size_t n = 0;
        char *p = buf_detach(&body, &n);
        res = http_send_json_text(r, 200, p, n);
    } else {
        buf_release(&body);
        res = http_send_rc(r, RC_INTERNAL, "内部错误 / internal error");
    }
    kb_hits_release(&hits);
out:
    http_query_body_release(&q);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_ask(struct http_req *r, struct kb_conn *c)
{
    (void)c;
    struct http_query_body q;
    struct buf err = BUF_INIT;
    enum MHD_Result res;
    int rc = http_parse_query_body(r->body.p, r->body.len, "question", &q, &err);
    if (rc != RC_OK)
        res = http_send_rc(r, rc, buf_str(&err));
    else if (q.stream) /* SSE fed by a worker */
        res = http_ask_stream(r, &q);
    else /* the model may take seconds: a worker answers, the pool thread moves on */
        res = http_ask_deferred(r, &q);
    http_query_body_release(&q);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_synonyms_list(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = kb_synonyms(c, r->kb.id, &j);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_json(r, 200, wrap("synonyms", j));
}

#define SYN_TERMS_MAX 64

enum MHD_Result http_h_synonyms_add(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    struct buf err = BUF_INIT;
    const char *terms[SYN_TERMS_MAX];
    enum MHD_Result res;
    int rc = http_parse_json_body(r->body.p, r->body.len, &j, &err);
    if (rc != RC_OK) {
        res = http_send_rc(r, rc, buf_str(&err));
        goto out;
    }
    json_t *arr = json_object_get(j, "terms");
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n < 2 || n > SYN_TERMS_MAX) {
        res = http_send_rc(r, RC_INVALID,
                           "terms 须为 2 至 64 个字符串 / terms must be 2 to 64 strings");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        if (!json_is_string(t) || json_string_length(t) == 0 ||
            strlen(json_string_value(t)) != json_string_length(t)) {
            res = http_send_rc(r, RC_INVALID,
                               "terms 须为非空字符串 / terms must be non-empty strings");
            goto out;
        }
        terms[i] = json_string_value(t);
    }
    int64_t gid = 0;
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = send_kb_error(r, RC_DB, NULL);
        goto out;
    }
    rc = kb_synonym_add(c, r->kb.id, terms, n, &gid, &err);
    char target[32];
    snprintf(target, sizeof target, "kb:%lld", (long long)r->kb.id);
    rc = http_change_end(r, c, &tx, rc, "synonym.add", target,
                         json_pack("{s:I,s:O}", "group", (json_int_t)gid, "terms", arr));
    if (rc != RC_OK) {
        res = send_kb_error(r, rc, &err);
        goto out;
    }
    res = http_send_json(r, 201, json_pack("{s:I,s:O}", "id", (json_int_t)gid, "terms", arr));
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_synonym_delete(struct http_req *r, struct kb_conn *c)
{
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return send_kb_error(r, RC_DB, NULL);
    int rc = kb_synonym_delete(c, r->kb.id, r->arg_id);
    char target[32];
    snprintf(target, sizeof target, "kb:%lld", (long long)r->kb.id);
    rc = http_change_end(r, c, &tx, rc, "synonym.delete", target,
                         json_pack("{s:I}", "group", (json_int_t)r->arg_id));
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_empty(r, 204);
}

/* ---- access ---- */

enum MHD_Result http_h_acl_list(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = acl_list(kb_conn_store(c), r->kb.id, &j);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_json(r, 200, wrap("grants", j));
}

/* {"subject_type":"org|position|role|user","subject":"id or name",
 *  "level":"read|write|admin"} → 201 {"id", …grants} */
enum MHD_Result http_h_acl_grant(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    struct buf err = BUF_INIT;
    json_t *j = http_body_json(r, &res);
    if (!j)
        goto out;
    int bad = 0;
    const char *type = http_json_str(j, "subject_type", &bad);
    const char *subject = http_json_str(j, "subject", &bad);
    const char *level = http_json_str(j, "level", &bad);
    json_t *sj = json_object_get(j, "subject");
    char idbuf[32];
    if (json_is_integer(sj)) { /* an id given as a number */
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(sj));
        subject = idbuf;
        bad = 0;
    }
    enum acl_subject st = type ? acl_subject_parse(type) : 0;
    int lv = level ? acl_level_parse(level) : ACL_READ;
    if (bad || !st || !subject || !*subject || !lv) {
        res = http_send_rc(r, RC_INVALID,
                           "需要 subject_type（org/position/role/user）、subject 与 level"
                           "（read/write/admin） / need subject_type, subject and level");
        goto out;
    }
    struct db_conn *d = kb_conn_store(c);
    struct db_tx tx;
    if (http_change_begin(c, &tx)) {
        res = send_kb_error(r, RC_DB, NULL);
        goto out;
    }
    int64_t gid = 0;
    int rc = acl_grant(d, r->kb.id, st, subject, lv, &gid, &err);
    char target[32];
    snprintf(target, sizeof target, "kb:%lld", (long long)r->kb.id);
    rc = http_change_end(r, c, &tx, rc, "kb.grant", target,
                         json_pack("{s:I,s:s,s:s,s:s}", "grant", (json_int_t)gid, "subject_type",
                                   acl_subject_name(st), "subject", subject, "level",
                                   acl_level_name(lv)));
    if (rc != RC_OK) {
        res = send_kb_error(r, rc, &err);
        goto out;
    }
    json_t *list = NULL;
    rc = acl_list(d, r->kb.id, &list);
    if (rc != RC_OK) {
        res = send_kb_error(r, rc, NULL);
        goto out;
    }
    res = http_send_json(r, 201, json_pack("{s:I,s:o}", "id", (json_int_t)gid, "grants", list));
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

/* Non-zero when grant_id is the KB's only admin grant: revoking it would
 * leave the KB to kb.admin holders alone. */
static int last_admin_grant(struct db_conn *d, int64_t kb_id, int64_t grant_id)
{
    json_t *list = NULL;
    if (acl_list(d, kb_id, &list) != RC_OK)
        return 0; /* cannot tell: the revoke itself will report the store error */
    size_t i;
    json_t *g;
    int admins = 0, target_admin = 0;
    json_array_foreach(list, i, g)
    {
        const char *lv = json_string_value(json_object_get(g, "level"));
        int admin = lv && strcmp(lv, "admin") == 0;
        admins += admin;
        if (json_integer_value(json_object_get(g, "id")) == grant_id)
            target_admin = admin;
    }
    json_decref(list);
    return target_admin && admins == 1;
}

enum MHD_Result http_h_acl_revoke(struct http_req *r, struct kb_conn *c)
{
    struct db_conn *d = kb_conn_store(c);
    struct db_tx tx;
    if (http_change_begin(c, &tx))
        return send_kb_error(r, RC_DB, NULL);
    if (last_admin_grant(d, r->kb.id, r->arg_id)) {
        (void)db_tx_end(d->db, &tx, 0);
        return http_send_error(r, 409, rc_code(RC_EXISTS),
                               "这是该知识库最后一个管理授权，请先授予他人管理权限 / this is the "
                               "KB's last admin grant: grant admin to someone else first");
    }
    int rc = acl_revoke(d, r->kb.id, r->arg_id);
    char target[32];
    snprintf(target, sizeof target, "kb:%lld", (long long)r->kb.id);
    rc = http_change_end(r, c, &tx, rc, "kb.revoke", target,
                         json_pack("{s:I}", "grant", (json_int_t)r->arg_id));
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_empty(r, 204);
}
