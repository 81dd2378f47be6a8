/* The super assistant's routes: conversations, asking in them (streamed
 * over SSE or as JSON, off the request threads), stop and regenerate,
 * Markdown export, files uploaded into a conversation, 👍/👎 feedback, the
 * FAQ of a KB and its review queue. docs/ASSISTANT.md describes them.
 *
 *   GET, POST          /api/v1/conversations
 *   GET, PATCH, DELETE /api/v1/conversations/{id}
 *   GET                /api/v1/conversations/{id}/messages
 *   GET                /api/v1/conversations/{id}/export         text/markdown
 *   POST               /api/v1/conversations/{id}/ask {"question","stream","no_model","k"}
 *   POST               /api/v1/conversations/{id}/regenerate {"stream"}
 *   POST               /api/v1/conversations/{id}/stop
 *   POST               /api/v1/conversations/{id}/files           multipart, like KB uploads
 *   POST               /api/v1/messages/{id}/feedback {"rating":1|-1,"comment"}
 *   GET, POST          /api/v1/kbs/{kb}/faqs            (read / write)
 *   PATCH, DELETE      /api/v1/kbs/{kb}/faqs/{id}       (write)
 *   GET                /api/v1/kbs/{kb}/feedback        the review queue (admin)
 *   POST               /api/v1/kbs/{kb}/feedback/{id}/resolve {"question","answer"} (admin)
 *   POST               /api/v1/kbs/{kb}/feedback/{id}/dismiss (admin) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/runtime.h" /* H3: agent_run_stop */
#include "assist/assist.h"
#include "assist/conv.h"
#include "assist/feedback.h"
#include "assist/safety.h"
#include "auth/acl.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "http/http_int.h"
#include "kb/faq.h"

/* ---- conversations ---- */

static int64_t query_i64(struct http_req *r, const char *key, int64_t dflt, int *bad)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
    int64_t x = dflt;
    if (v && *v && parse_i64(v, 0, INT64_MAX, &x) != RC_OK)
        *bad = 1;
    return x;
}

enum MHD_Result http_h_convs_list(struct http_req *r, struct kb_conn *c)
{
    int bad = 0;
    int64_t off = query_i64(r, "offset", 0, &bad), lim = query_i64(r, "limit", 0, &bad);
    json_t *j = NULL;
    int rc = bad ? RC_INVALID : conv_list(kb_conn_store(c), r->who.user_id, off, lim, &j);
    return rc ? http_send_service_error(r, rc, NULL) : http_send_json(r, 200, j);
}

/* {"title","kbs":"all"|[ids],"web","assistant"} */
enum MHD_Result http_h_convs_create(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct buf err = BUF_INIT;
    int bad = 0;
    struct conv_new p = {http_json_str(j, "title", &bad), NULL, 0,
                         http_json_str(j, "assistant", &bad)};
    json_t *kbs = json_object_get(j, "kbs");
    char *kbs_text = kbs ? json_dumps(kbs, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    p.kbs = kbs_text;
    json_t *web = json_object_get(j, "web");
    if (web && !json_is_boolean(web))
        bad = 1;
    p.web = json_is_true(web);
    int64_t id = 0;
    struct db_conn *d = kb_conn_store(c);
    int rc = bad ? RC_INVALID : http_agent_conv_check(c, &r->who, p.assistant); /* H3 */
    if (rc == RC_NOT_FOUND)
        (void)buf_adds(&err, "数字员工不存在或无权使用 / no such agent, or not yours to use");
    if (rc == RC_OK)
        rc = conv_create(d, r->who.user_id, &p, &id, &err);
    struct conv cv;
    memset(&cv, 0, sizeof cv);
    if (rc == RC_OK)
        rc = conv_get(d, r->who.user_id, id, &cv);
    res = rc ? http_send_service_error(r, rc, &err) : http_send_json(r, 201, conv_json(&cv));
    conv_release(&cv);
    free(kbs_text);
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_conv_get(struct http_req *r, struct kb_conn *c)
{
    struct conv cv;
    int rc = conv_get(kb_conn_store(c), r->who.user_id, r->arg_id, &cv);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    json_t *j = conv_json(&cv);
    conv_release(&cv);
    return http_send_json(r, 200, j);
}

/* PATCH {"title","kbs","web","assistant"}: each optional. */
enum MHD_Result http_h_conv_update(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct db_conn *d = kb_conn_store(c);
    struct buf err = BUF_INIT;
    int bad = 0;
    const char *title = http_json_str(j, "title", &bad);
    const char *assistant = http_json_str(j, "assistant", &bad);
    json_t *kbs = json_object_get(j, "kbs"), *web = json_object_get(j, "web");
    if (web && !json_is_boolean(web))
        bad = 1;
    char *kbs_text = kbs ? json_dumps(kbs, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = bad ? RC_INVALID : http_agent_conv_check(c, &r->who, assistant); /* H3 */
    if (rc == RC_NOT_FOUND)
        (void)buf_adds(&err, "数字员工不存在或无权使用 / no such agent, or not yours to use");
    if (rc == RC_OK && title)
        rc = conv_rename(d, r->who.user_id, r->arg_id, title, &err);
    if (rc == RC_OK && (kbs_text || web || assistant))
        rc = conv_update(d, r->who.user_id, r->arg_id, kbs_text, web ? json_is_true(web) : -1,
                         assistant, &err);
    free(kbs_text);
    json_decref(j);
    if (rc) {
        res = http_send_service_error(r, rc, &err);
        buf_release(&err);
        return res;
    }
    buf_release(&err);
    return http_h_conv_get(r, c);
}

enum MHD_Result http_h_conv_delete(struct http_req *r, struct kb_conn *c)
{
    int rc = conv_delete(kb_conn_store(c), r->who.user_id, r->arg_id);
    return rc ? http_send_service_error(r, rc, NULL) : http_send_empty(r, 204);
}

enum MHD_Result http_h_conv_messages(struct http_req *r, struct kb_conn *c)
{
    int bad = 0;
    int64_t off = query_i64(r, "offset", 0, &bad), lim = query_i64(r, "limit", 0, &bad);
    json_t *j = NULL;
    int rc =
        bad ? RC_INVALID : conv_messages(kb_conn_store(c), r->who.user_id, r->arg_id, off, lim, &j);
    return rc ? http_send_service_error(r, rc, NULL) : http_send_json(r, 200, j);
}

enum MHD_Result http_h_conv_export(struct http_req *r, struct kb_conn *c)
{
    struct buf md;
    buf_init(&md, 16u << 20);
    int rc = conv_export_md(kb_conn_store(c), r->who.user_id, r->arg_id, &md);
    if (rc) {
        buf_release(&md);
        return http_send_service_error(r, rc, NULL);
    }
    size_t n = 0;
    char *p = buf_detach(&md, &n);
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(p);
        return MHD_NO;
    }
    char cd[96];
    snprintf(cd, sizeof cd, "attachment; filename=\"conversation-%lld.md\"", (long long)r->arg_id);
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/markdown; charset=utf-8") != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd) != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES)
        log_warn("http: cannot add an export header");
    return http_respond(r, 200, resp, n);
}

/* ---- asking ---- */

struct ask_ctx {
    struct http_server *srv;
    struct auth_principal who;
    char ip[48];
    int64_t conv_id;
    char *question;
    int regenerate, no_model, k;
    struct http_stream *st;       /* SSE only */
    struct http_agent_ref *agent; /* H3: a conversation with "agent:<name>" */
};

static void ask_free(void *p)
{
    struct ask_ctx *a = p;
    http_agent_ref_free(a->agent);
    free(a->question);
    free(a);
}

static int sse_cb(void *ctx, enum assist_event ev, const char *p, size_t n)
{
    struct ask_ctx *a = ctx;
    static const char *names[] = {"", "delta", "thinking", "notice"};
    return http_sse_text(a->st, names[ev], p, n); /* framed from the text, no JSON tree */
}

static int json_cb(void *ctx, enum assist_event ev, const char *p, size_t n)
{
    (void)ctx;
    (void)ev;
    (void)p;
    (void)n;
    return 0;
}

static void fill_request(struct ask_ctx *a, struct assist_request *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->conn_lend = http_conn_lend_cb;
    rq->conn_take = http_conn_take_cb;
    rq->conn_ctx = a->srv;
    rq->who = &a->who;
    rq->ip = a->ip;
    rq->question = a->question;
    rq->conv_id = a->conv_id;
    rq->regenerate = a->regenerate;
    rq->no_model = a->no_model;
    rq->k = a->k;
}

static void ask_sse(void *ctx, struct kb_conn *c, struct http_stream *st)
{
    struct ask_ctx *a = ctx;
    a->st = st;
    struct assist_request rq;
    fill_request(a, &rq);
    struct assist_answer ans;
    struct buf err = BUF_INIT;
    int rc = a->agent ? http_agent_answer(a->srv, c, a->agent, &rq, sse_cb, a, &ans, NULL, &err)
                      : assist_ask(a->srv->assist, c, &rq, sse_cb, a, &ans, &err);
    if (rc) {
        (void)http_sse_event(st, "error",
                             json_pack("{s:s,s:s}", "code", rc_code(rc), "message",
                                       err.len ? buf_str(&err) : "回答失败 / answer failed"));
    } else {
        (void)http_sse_event(st, "citations", json_incref(ans.citations));
        json_t *done = assist_answer_json(&ans);
        (void)json_object_del(done, "answer"); /* already streamed */
        (void)json_object_del(done, "citations");
        (void)json_object_set_new(done, "stopped", json_boolean(ans.stopped));
        (void)http_sse_event(st, "done", done);
    }
    assist_answer_release(&ans);
    buf_release(&err);
}

static void ask_json(void *ctx, struct kb_conn *c, struct http_task_result *res)
{
    struct ask_ctx *a = ctx;
    struct assist_request rq;
    fill_request(a, &rq);
    struct assist_answer ans;
    struct buf err = BUF_INIT;
    int rc = a->agent ? http_agent_answer(a->srv, c, a->agent, &rq, json_cb, a, &ans, NULL, &err)
                      : assist_ask(a->srv->assist, c, &rq, json_cb, a, &ans, &err);
    if (rc) {
        res->status = rc_http_status(rc);
        res->body = json_pack("{s:{s:s,s:s}}", "error", "code", rc_code(rc), "message",
                              err.len ? buf_str(&err) : "回答失败 / answer failed");
    } else {
        res->status = 200;
        res->body = assist_answer_json(&ans);
    }
    assist_answer_release(&ans);
    buf_release(&err);
}

static enum MHD_Result start_ask(struct http_req *r, struct kb_conn *c, int regenerate)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = r->body.len ? http_body_json(r, &res) : json_object();
    if (!j)
        return res;
    int bad = 0;
    const char *q = http_json_str(j, "question", &bad);
    json_t *stream = json_object_get(j, "stream"), *nm = json_object_get(j, "no_model");
    json_t *k = json_object_get(j, "k");
    if (bad || (!regenerate && (!q || !*q)) || (stream && !json_is_boolean(stream)) ||
        (nm && !json_is_boolean(nm)) ||
        (k && (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > 20))) {
        json_decref(j);
        return http_send_rc(r, RC_INVALID,
                            "需要 question（字符串），stream/no_model 为布尔值，k 为 1–20 / "
                            "question must be a string, stream/no_model booleans, k 1–20");
    }
    /* H3: a conversation with a digital employee is answered by it, while
     * the caller may still use it (and it is still published) */
    struct http_agent_ref *agent = NULL;
    struct conv cv;
    if (conv_get(kb_conn_store(c), r->who.user_id, r->arg_id, &cv) == RC_OK) {
        struct buf aerr = BUF_INIT;
        int arc = strncmp(cv.assistant, "agent:", 6) == 0
                      ? http_agent_load(c, &r->who, cv.assistant + 6, &agent, &aerr)
                      : RC_OK;
        conv_release(&cv);
        if (arc) {
            json_decref(j);
            res = http_send_service_error(r, arc, &aerr);
            buf_release(&aerr);
            return res;
        }
        buf_release(&aerr);
    }
    int retry = 0;
    if (http_rate_check(r, &retry) != RC_OK) {
        http_agent_ref_free(agent);
        json_decref(j);
        return http_send_rate_limited(r, retry);
    }
    struct ask_ctx *a = xcalloc(1, sizeof *a);
    a->agent = agent;
    a->srv = r->srv;
    a->who = r->who;
    memcpy(a->ip, r->ip, sizeof a->ip);
    a->conv_id = r->arg_id;
    a->question = xstrdup(q ? q : "");
    a->regenerate = regenerate;
    a->no_model = json_is_true(nm);
    a->k = k ? (int)json_integer_value(k) : 0;
    int sse = json_is_true(stream);
    json_decref(j);
    return sse ? http_sse(r, ask_sse, a, ask_free) : http_defer(r, ask_json, a, ask_free);
}

enum MHD_Result http_h_conv_ask(struct http_req *r, struct kb_conn *c)
{
    return start_ask(r, c, 0);
}

enum MHD_Result http_h_conv_regenerate(struct http_req *r, struct kb_conn *c)
{
    return start_ask(r, c, 1);
}

enum MHD_Result http_h_conv_stop(struct http_req *r, struct kb_conn *c)
{
    struct conv cv;
    int rc = conv_get(kb_conn_store(c), r->who.user_id, r->arg_id, &cv);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    conv_release(&cv);
    rc = assist_stop(r->srv->assist, r->who.user_id, r->arg_id);
    if (rc == RC_NOT_FOUND) /* H3: or a digital employee answering */
        rc = agent_run_stop(r->who.user_id, r->arg_id);
    if (rc == RC_NOT_FOUND)
        return http_send_error(r, 409, rc_code(RC_EXISTS),
                               "该会话没有正在进行的回答 / no answer is running here");
    return http_send_empty(r, 204);
}

/* ---- feedback ---- */

/* {"rating":1|-1,"comment"} on an answer in one of the caller's conversations. */
enum MHD_Result http_h_msg_feedback(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    int bad = 0;
    const char *comment = http_json_str(j, "comment", &bad);
    json_t *rating = json_object_get(j, "rating");
    struct buf err = BUF_INIT;
    int64_t id = 0;
    int rc = bad || !json_is_integer(rating)
                 ? RC_INVALID
                 : feedback_record(kb_conn_store(c), r->who.user_id, r->arg_id,
                                   (int)json_integer_value(rating), comment, &id, &err);
    json_decref(j);
    res = rc ? http_send_service_error(r, rc, &err)
             : http_send_json(r, 201, json_pack("{s:I}", "id", (json_int_t)id));
    buf_release(&err);
    return res;
}

/* ---- FAQ of a KB ---- */

enum MHD_Result http_h_faqs_list(struct http_req *r, struct kb_conn *c)
{
    json_t *j = NULL;
    int rc = faq_list(kb_conn_store(c), r->kb.id, &j);
    return rc ? http_send_service_error(r, rc, NULL)
              : http_send_json(r, 200, json_is_object(j) ? j : json_pack("{s:o}", "faqs", j));
}

/* {"question","answer","source","similar":[…]} → a faq_input. */
static int faq_input_of(json_t *j, struct faq_input *in, const char **similar, size_t cap)
{
    int bad = 0;
    memset(in, 0, sizeof *in);
    in->question = http_json_str(j, "question", &bad);
    in->answer = http_json_str(j, "answer", &bad);
    in->source = http_json_str(j, "source", &bad);
    json_t *sim = json_object_get(j, "similar");
    if (sim) {
        if (!json_is_array(sim) || json_array_size(sim) > cap)
            return RC_INVALID;
        size_t i;
        json_t *v;
        json_array_foreach(sim, i, v)
        {
            if (!json_is_string(v))
                return RC_INVALID;
            similar[i] = json_string_value(v);
        }
        in->similar = similar;
        in->nsimilar = json_array_size(sim);
    }
    return bad ? RC_INVALID : RC_OK;
}

enum MHD_Result http_h_faqs_add(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct faq_input in;
    const char *similar[FAQ_SIMILAR_MAX];
    struct buf err = BUF_INIT;
    int64_t id = 0;
    struct db_conn *d = kb_conn_store(c);
    struct db_tx tx;
    int rc = faq_input_of(j, &in, similar, FAQ_SIMILAR_MAX);
    if (rc == RC_OK && (rc = http_change_begin(c, &tx)) == RC_OK) {
        rc = faq_add(d, r->kb.id, &in, r->who.user_id, &id, &err);
        char target[48];
        snprintf(target, sizeof target, "kb:%lld/faq:%lld", (long long)r->kb.id, (long long)id);
        rc = http_change_end(r, c, &tx, rc, "faq.add", target, NULL);
    }
    if (rc == RC_OK)
        faq_changed(r->kb.id);
    struct faq f;
    memset(&f, 0, sizeof f);
    if (rc == RC_OK)
        rc = faq_get(d, r->kb.id, id, &f);
    res = rc ? http_send_service_error(r, rc, &err) : http_send_json(r, 201, faq_json(&f));
    faq_release(&f);
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_faq_update(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    struct faq_input in;
    const char *similar[FAQ_SIMILAR_MAX];
    struct buf err = BUF_INIT;
    struct db_conn *d = kb_conn_store(c);
    int rc = faq_input_of(j, &in, similar, FAQ_SIMILAR_MAX);
    if (rc == RC_OK)
        rc = faq_update(d, r->kb.id, r->arg_id, &in, json_object_get(j, "similar") != NULL, &err);
    if (rc == RC_OK) {
        char target[48];
        snprintf(target, sizeof target, "kb:%lld/faq:%lld", (long long)r->kb.id,
                 (long long)r->arg_id);
        http_audit_later(r, "faq.update", target, NULL);
        faq_changed(r->kb.id);
    }
    struct faq f;
    memset(&f, 0, sizeof f);
    if (rc == RC_OK)
        rc = faq_get(d, r->kb.id, r->arg_id, &f);
    res = rc ? http_send_service_error(r, rc, &err) : http_send_json(r, 200, faq_json(&f));
    faq_release(&f);
    json_decref(j);
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_faq_delete(struct http_req *r, struct kb_conn *c)
{
    int rc = faq_delete(kb_conn_store(c), r->kb.id, r->arg_id);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    char target[48];
    snprintf(target, sizeof target, "kb:%lld/faq:%lld", (long long)r->kb.id, (long long)r->arg_id);
    http_audit_later(r, "faq.delete", target, NULL);
    faq_changed(r->kb.id);
    return http_send_empty(r, 204);
}

/* ---- the review queue of a KB ---- */

enum MHD_Result http_h_kb_feedback(struct http_req *r, struct kb_conn *c)
{
    int bad = 0;
    struct feedback_list_opts o = {
        &r->kb.id,
        1,
        MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "status"),
        0,
        query_i64(r, "before_id", 0, &bad),
        query_i64(r, "limit", 0, &bad)};
    json_t *j = NULL;
    int rc = bad ? RC_INVALID : feedback_list(kb_conn_store(c), &o, &j);
    return rc ? http_send_service_error(r, rc, NULL) : http_send_json(r, 200, j);
}

/* RC_OK when feedback item id concerns the KB in the path (its answer cited
 * or searched it): a KB's admins review their KB's items only. */
static int feedback_in_kb(struct http_req *r, struct kb_conn *c)
{
    json_t *item = NULL;
    int rc = feedback_get(kb_conn_store(c), r->arg_id, &item);
    if (rc)
        return rc;
    rc = RC_NOT_FOUND;
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(item, "kb_ids"), i, k)
    {
        if (json_integer_value(k) == r->kb.id)
            rc = RC_OK;
    }
    json_decref(item);
    return rc;
}

/* {"question","answer"}: the corrected FAQ entry this bad answer becomes. */
enum MHD_Result http_h_kb_feedback_resolve(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    int in = feedback_in_kb(r, c);
    if (in)
        return http_send_service_error(r, in, NULL);
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    int bad = 0;
    const char *q = http_json_str(j, "question", &bad);
    const char *ans = http_json_str(j, "answer", &bad);
    struct buf err = BUF_INIT;
    int64_t faq_id = 0;
    int rc = bad || !ans ? RC_INVALID
                         : feedback_resolve(kb_conn_store(c), r->arg_id, r->kb.id, q, ans,
                                            r->who.user_id, &faq_id, &err);
    if (rc == RC_OK) {
        char target[48];
        snprintf(target, sizeof target, "kb:%lld/feedback:%lld", (long long)r->kb.id,
                 (long long)r->arg_id);
        json_t *detail = json_pack("{s:I}", "faq", (json_int_t)faq_id);
        http_audit_later(r, "feedback.resolve", target, detail);
        json_decref(detail);
        faq_changed(r->kb.id);
    }
    json_decref(j);
    res = rc ? http_send_service_error(r, rc, &err)
             : http_send_json(r, 201, json_pack("{s:I}", "faq_id", (json_int_t)faq_id));
    buf_release(&err);
    return res;
}

enum MHD_Result http_h_kb_feedback_dismiss(struct http_req *r, struct kb_conn *c)
{
    struct buf err = BUF_INIT;
    int rc = feedback_in_kb(r, c);
    if (rc == RC_OK)
        rc = feedback_dismiss(kb_conn_store(c), r->arg_id, &err);
    if (rc == RC_OK) {
        char target[48];
        snprintf(target, sizeof target, "kb:%lld/feedback:%lld", (long long)r->kb.id,
                 (long long)r->arg_id);
        http_audit_later(r, "feedback.dismiss", target, NULL);
    }
    enum MHD_Result res = rc ? http_send_service_error(r, rc, &err) : http_send_empty(r, 204);
    buf_release(&err);
    return res;
}

/* ---- files uploaded into a conversation ---- */

int http_conv_files_kb(struct http_req *r)
{
    struct kb_conn *c = http_conn(r->srv);
    if (!c) {
        http_req_fail_rc(r, RC_DB, "存储不可用 / store unavailable");
        return RC_DB;
    }
    struct db_conn *d = kb_conn_store(c);
    struct conv cv;
    struct buf err = BUF_INIT;
    int rc = conv_get(d, r->who.user_id, r->arg_id, &cv);
    if (rc) {
        http_req_fail(r, 404, "not_found", "会话不存在 / no such conversation");
        return rc;
    }
    int64_t kb_id = cv.files_kb_id;
    conv_release(&cv);
    if (!kb_id) {
        char name[64];
        snprintf(name, sizeof name, "会话文件-%lld", (long long)r->arg_id);
        struct kb_info kb;
        struct db_tx tx;
        rc = db_tx_begin(d->db, &tx);
        if (rc == RC_OK) {
            rc = kb_create_ex(c, name, "conversation", r->who.user_id, &kb, &err);
            if (rc == RC_OK)
                rc = conv_set_files_kb(d, r->who.user_id, r->arg_id, kb.id, &err);
            if (rc == RC_OK)
                kb_id = kb.id;
            kb_info_release(&kb);
            if (db_tx_end(d->db, &tx, rc == RC_OK) && rc == RC_OK)
                rc = RC_DB;
        }
        if (rc) {
            http_req_fail_rc(r, rc,
                             err.len ? buf_str(&err)
                                     : "无法创建会话文件库 / cannot "
                                       "create the conversation's files");
            buf_release(&err);
            return rc;
        }
    }
    buf_release(&err);
    char idstr[32];
    snprintf(idstr, sizeof idstr, "%lld", (long long)kb_id);
    rc = kb_get_for(c, &r->who, idstr, ACL_WRITE, &r->kb);
    if (rc) {
        http_req_fail(r, 404, "not_found", "会话不存在 / no such conversation");
        return rc;
    }
    r->has_kb = 1;
    return RC_OK;
}

/* The documents uploaded into the conversation (GET). */
enum MHD_Result http_h_conv_files(struct http_req *r, struct kb_conn *c)
{
    struct conv cv;
    int rc = conv_get(kb_conn_store(c), r->who.user_id, r->arg_id, &cv);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    int64_t kb_id = cv.files_kb_id;
    conv_release(&cv);
    json_t *arr = json_array();
    if (kb_id) {
        struct kb_doc_info *a = NULL;
        size_t n = 0;
        rc = kb_docs(c, &r->who, kb_id, &a, &n);
        if (rc) {
            json_decref(arr);
            return http_send_service_error(r, rc, NULL);
        }
        for (size_t i = 0; i < n; i++)
            (void)json_array_append_new(arr, kb_doc_json(&a[i]));
        kb_docs_free(a, n);
    }
    return http_send_json(r, 200,
                          json_pack("{s:o,s:o}", "kb_id", kb_id ? json_integer(kb_id) : json_null(),
                                    "documents", arr));
}

/* ---- the sensitive-word list (models.manage) ---- */

enum MHD_Result http_h_words_list(struct http_req *r, struct kb_conn *c)
{
    struct safety_word *w = NULL;
    size_t n = 0;
    int rc = safety_word_list(kb_conn_store(c), &w, &n);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        (void)json_array_append_new(arr, json_pack("{s:s,s:s}", "word", w[i].word, "action",
                                                   w[i].action == SAFETY_BLOCK ? "block" : "mask"));
    safety_words_free(w, n);
    return http_send_json(r, 200, json_pack("{s:o}", "words", arr));
}

/* {"word","action":"block"|"mask"} */
enum MHD_Result http_h_words_add(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    int bad = 0;
    const char *word = http_json_str(j, "word", &bad);
    const char *action = http_json_str(j, "action", &bad);
    int act = action ? safety_action_parse(action) : SAFETY_BLOCK;
    struct db_conn *d = kb_conn_store(c);
    struct db_tx tx;
    int rc = bad || !word || act <= 0 ? RC_INVALID : http_change_begin(c, &tx);
    if (rc == RC_OK) {
        rc = safety_word_add(d, r->srv->safety, word, act);
        /* the word itself is not logged: it may be what it hides */
        rc = http_change_end(r, c, &tx, rc, "safety.word_add", "",
                             json_pack("{s:s}", "action", act == SAFETY_BLOCK ? "block" : "mask"));
    }
    json_decref(j);
    return rc ? http_send_service_error(r, rc, NULL) : http_send_empty(r, 201);
}

enum MHD_Result http_h_words_delete(struct http_req *r, struct kb_conn *c)
{
    struct db_tx tx;
    int rc = http_change_begin(c, &tx);
    if (rc == RC_OK) {
        rc = safety_word_remove(kb_conn_store(c), r->srv->safety, r->arg_str);
        rc = http_change_end(r, c, &tx, rc, "safety.word_remove", "", NULL);
    }
    return rc ? http_send_service_error(r, rc, NULL) : http_send_empty(r, 204);
}
