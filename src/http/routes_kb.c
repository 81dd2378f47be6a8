/* The knowledge-base routes under /api/v1/kbs: thin handlers that validate
 * the request, call kb/ with this thread's connection and turn the result
 * (or the result code) into JSON. Uploads live in upload.c, streams in
 * stream.c. {kb} is a numeric id or a name (resolved in server.c).
 *
 *   GET    /healthz                          {"status":"ok"}
 *   GET    /api/v1/kbs                       {"kbs":[kb...]}
 *   POST   /api/v1/kbs {"name"}              201 kb (409 when taken)
 *   GET    /api/v1/kbs/{kb}                  kb
 *   POST   /api/v1/kbs/{kb}/documents        202 {"jobs":[{"id","filename","status"}]}
 *          multipart "file" parts, or application/octet-stream + ?filename=
 *   GET    /api/v1/kbs/{kb}/documents        {"documents":[...]}
 *   DELETE /api/v1/kbs/{kb}/documents/{id}   204
 *   GET    /api/v1/kbs/{kb}/jobs/{id}        job (status, result)
 *   POST   /api/v1/kbs/{kb}/search {"query","k"}             {"hits":[...]}
 *   POST   /api/v1/kbs/{kb}/ask {"question","k","stream"}    answer, or SSE:
 *          event: delta {"text"} ... event: citations [...] event: done
 *          {"mode","notice",...}; event: error {"code","message"}
 *   GET    /api/v1/kbs/{kb}/synonyms         {"synonyms":[...]}
 *   POST   /api/v1/kbs/{kb}/synonyms {"terms":[...]}         201 {"id","terms"}
 *   DELETE /api/v1/kbs/{kb}/synonyms/{id}    204
 * Errors: {"error":{"code","message"}} with rc_code()/rc_http_status(). */
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "http/http_int.h"

static const char *default_message(int rc)
{
    switch (rc) {
    case RC_INVALID:
        return "请求无效 / invalid request";
    case RC_NOT_FOUND:
        return "资源不存在 / not found";
    case RC_EXISTS:
        return "名称已存在 / name already exists";
    case RC_TOO_BIG:
        return "超出大小限制 / size limit exceeded";
    case RC_DB:
        return "存储错误 / store error";
    case RC_UPSTREAM:
        return "上游服务错误 / upstream service failed";
    case RC_TIMEOUT:
        return "上游服务超时 / upstream service timed out";
    case RC_BUSY:
        return "服务繁忙 / server busy";
    case RC_UNSUPPORTED:
        return "不支持的类型 / unsupported media type";
    case RC_PARSE:
        return "内容无法解析 / content cannot be processed";
    case RC_IO:
        return "读写失败 / input/output error";
    case RC_DENIED:
        return "没有权限 / forbidden";
    default:
        return "内部错误 / internal error";
    }
}

/* Answers a kb/ failure with its own message when it gave one. */
static enum MHD_Result send_kb_error(struct http_req *r, int rc, const struct buf *err)
{
    if (rc >= RC_IO && rc != RC_UPSTREAM && rc != RC_TIMEOUT && rc != RC_BUSY)
        log_error("http: %s failed: %s %s", r->path, rc_code(rc), err ? buf_str(err) : "");
    const char *msg = err && err->len ? buf_str(err) : default_message(rc);
    return http_send_rc(r, rc, msg);
}

/* Wraps a list that kb/ may return bare or already inside an object. */
static json_t *wrap(const char *key, json_t *v)
{
    if (!v || json_is_object(v))
        return v;
    return json_pack("{s:o}", key, v);
}

static struct kb_conn *conn_or_fail(struct http_req *r)
{
    struct kb_conn *c = http_conn(r->srv);
    if (!c)
        (void)http_send_rc(r, RC_DB, "存储不可用 / store unavailable");
    return c;
}

static enum MHD_Result kbs_list(struct http_req *r, struct kb_conn *c)
{
    struct kb_info *a = NULL;
    size_t n = 0;
    int rc = kb_list(c, &a, &n);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, kb_info_json(&a[i])) != 0)
            log_warn("http: dropped a knowledge base from the list");
    kb_infos_free(a, n);
    return http_send_json(r, 200, json_pack("{s:o}", "kbs", arr));
}

static enum MHD_Result kbs_create(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    struct buf err = BUF_INIT;
    struct kb_info info;
    enum MHD_Result res;
    memset(&info, 0, sizeof info);
    int rc = http_parse_json_body(r->body.p, r->body.len, &j, &err);
    if (rc != RC_OK) {
        res = http_send_rc(r, rc, buf_str(&err));
        goto out;
    }
    json_t *name = json_object_get(j, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        strlen(json_string_value(name)) != json_string_length(name)) {
        res =
            http_send_rc(r, RC_INVALID, "缺少字符串字段 \"name\" / missing string field \"name\"");
        goto out;
    }
    rc = kb_create(c, json_string_value(name), &info, &err);
    if (rc != RC_OK) {
        res = send_kb_error(r, rc, &err);
        goto out;
    }
    res = http_send_json(r, 201, kb_info_json(&info));
    kb_info_release(&info);
out:
    json_decref(j);
    buf_release(&err);
    return res;
}

static enum MHD_Result docs_list(struct http_req *r, struct kb_conn *c)
{
    struct kb_doc_info *a = NULL;
    size_t n = 0;
    int rc = kb_docs(c, r->kb.id, &a, &n);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, kb_doc_json(&a[i])) != 0)
            log_warn("http: dropped a document from the list");
    kb_docs_free(a, n);
    return http_send_json(r, 200, json_pack("{s:o}", "documents", arr));
}

static enum MHD_Result doc_delete(struct http_req *r, struct kb_conn *c)
{
    int rc = kb_doc_delete(c, r->kb.id, r->arg_id);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_empty(r, 204);
}

static enum MHD_Result job_get(struct http_req *r, struct kb_conn *c)
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

static enum MHD_Result search(struct http_req *r, struct kb_conn *c)
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
    struct kb_search_opts o = {.k = q.k, .flags = 0};
    rc = kb_search(c, r->kb.id, q.text, &o, &hits, &err);
    if (rc != RC_OK) {
        res = send_kb_error(r, rc, &err);
        goto out;
    }
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

static enum MHD_Result ask(struct http_req *r)
{
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

static enum MHD_Result synonyms_list(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = kb_synonyms(c, r->kb.id, &j);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_json(r, 200, wrap("synonyms", j));
}

#define SYN_TERMS_MAX 64

static enum MHD_Result synonyms_add(struct http_req *r, struct kb_conn *c)
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
    rc = kb_synonym_add(c, r->kb.id, terms, n, &gid, &err);
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

static enum MHD_Result synonym_delete(struct http_req *r, struct kb_conn *c)
{
    int rc = kb_synonym_delete(c, r->kb.id, r->arg_id);
    if (rc != RC_OK)
        return send_kb_error(r, rc, NULL);
    return http_send_empty(r, 204);
}

enum MHD_Result http_route_dispatch(struct http_req *r)
{
    if (r->route == HR_HEALTH)
        return http_send_json(r, 200, json_pack("{s:s}", "status", "ok"));
    struct kb_conn *c = conn_or_fail(r);
    if (!c)
        return r->responded ? MHD_YES : MHD_NO;
    switch (r->route) {
    case HR_KBS:
        return r->method == HM_POST ? kbs_create(r, c) : kbs_list(r, c);
    case HR_KB:
        return http_send_json(r, 200, kb_info_json(&r->kb));
    case HR_DOCS:
        return docs_list(r, c);
    case HR_DOC:
        return doc_delete(r, c);
    case HR_JOB:
        return job_get(r, c);
    case HR_SEARCH:
        return search(r, c);
    case HR_ASK:
        return ask(r);
    case HR_SYNS:
        return r->method == HM_POST ? synonyms_add(r, c) : synonyms_list(r, c);
    case HR_SYN:
        return synonym_delete(r, c);
    default:
        return http_send_error(r, 404, "not_found", "接口不存在 / no such endpoint");
    }
}
