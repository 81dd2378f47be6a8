/* The OpenAI-compatible API for other bank systems (API tokens; the
 * caller's permissions apply exactly as for a person):
 *
 *   GET  /v1/models            the assistants this token may use: "assistant"
 *                              (every KB it may read) and "kb:<name>" per KB
 *   POST /v1/chat/completions  {"model","messages":[…],"stream"} → a
 *                              chat.completion (or chat.completion.chunk
 *                              events and "data: [DONE]"), with the answer's
 *                              citations in "citations"
 *
 * Published digital employees the token may use are listed as "agent:<name>"
 * and answer through agents/runtime.h (routes_agent_run.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assist/assist.h"
#include "auth/acl.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "http/http_int.h"

#define OAI_MESSAGES_MAX 64
#define ALL_MODEL "assistant"

enum MHD_Result http_h_oai_models(struct http_req *r, struct kb_conn *c)
{
    struct kb_info *kbs = NULL;
    size_t n = 0;
    int rc = kb_list_for(c, &r->who, &kbs, &n);
    if (rc)
        return http_send_service_error(r, rc, NULL);
    json_t *data = json_array();
    (void)json_array_append_new(data,
                                json_pack("{s:s,s:s,s:I,s:s}", "id", ALL_MODEL, "object", "model",
                                          "created", (json_int_t)0, "owned_by", "atrium"));
    for (size_t i = 0; i < n; i++) {
        char id[300];
        snprintf(id, sizeof id, "kb:%s", kbs[i].name);
        (void)json_array_append_new(
            data, json_pack("{s:s,s:s,s:I,s:s}", "id", id, "object", "model", "created",
                            (json_int_t)kbs[i].created_at, "owned_by", "atrium"));
    }
    kb_infos_free(kbs, n);
    http_agent_models(c, &r->who, data); /* H3: "agent:<name>" */
    return http_send_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

struct oai_ctx {
    struct http_server *srv;
    struct auth_principal who;
    char ip[48];
    char model[300];
    int64_t kb_id; /* 0: every KB */
    char *question;
    struct llm_msg hist[OAI_MESSAGES_MAX];
    size_t nhist;
    char id[40];
    int64_t created;
    struct http_stream *st;
    int sent_role;
    struct http_agent_ref *agent; /* H3: model "agent:<name>" */
};

static void oai_free(void *p)
{
    struct oai_ctx *o = p;
    for (size_t i = 0; i < o->nhist; i++)
        free((char *)o->hist[i].content);
    free(o->question);
    http_agent_ref_free(o->agent);
    free(o);
}

static void fill(struct oai_ctx *o, struct assist_request *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->conn_lend = http_conn_lend_cb;
    rq->conn_take = http_conn_take_cb;
    rq->conn_ctx = o->srv;
    rq->who = &o->who;
    rq->ip = o->ip;
    rq->question = o->question;
    rq->kb_ids = o->kb_id ? &o->kb_id : NULL;
    rq->nkbs = o->kb_id ? 1 : 0;
    rq->all_kbs = o->kb_id == 0;
    rq->history = o->hist;
    rq->nhistory = o->nhist;
}

static json_t *chunk(struct oai_ctx *o, json_t *delta, const char *finish)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:s?}]}", "id", o->id, "object",
                     "chat.completion.chunk", "created", (json_int_t)o->created, "model", o->model,
                     "choices", "index", 0, "delta", delta, "finish_reason", finish);
}

static int oai_cb(void *ctx, enum assist_event ev, const char *p, size_t n)
{
    struct oai_ctx *o = ctx;
    if (ev == AE_NOTICE)
        return 0;
    json_t *delta = json_pack("{s:s%}", ev == AE_THINKING ? "reasoning_content" : "content", p, n);
    if (!delta)
        return 0;
    if (!o->sent_role) {
        (void)json_object_set_new(delta, "role", json_string("assistant"));
        o->sent_role = 1;
    }
    return http_sse_event(o->st, NULL, chunk(o, delta, NULL));
}

static int quiet_cb(void *ctx, enum assist_event ev, const char *p, size_t n)
{
    (void)ctx;
    (void)ev;
    (void)p;
    (void)n;
    return 0;
}

static json_t *usage(const struct assist_answer *a)
{
    long p = a->prompt_tokens > 0 ? a->prompt_tokens : 0;
    long c = a->completion_tokens > 0 ? a->completion_tokens : 0;
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)p, "completion_tokens",
                     (json_int_t)c, "total_tokens", (json_int_t)(p + c));
}

static void oai_stream(void *ctx, struct kb_conn *c, struct http_stream *st)
{
    struct oai_ctx *o = ctx;
    o->st = st;
    struct assist_request rq;
    fill(o, &rq);
    struct assist_answer ans;
    struct buf err = BUF_INIT;
    int rc = o->agent ? http_agent_answer(o->srv, c, o->agent, &rq, oai_cb, o, &ans, NULL, &err)
                      : assist_ask(o->srv->assist, c, &rq, oai_cb, o, &ans, &err);
    if (rc) {
        (void)http_sse_event(st, NULL,
                             json_pack("{s:{s:s,s:s,s:s}}", "error", "message",
                                       err.len ? buf_str(&err) : "回答失败 / answer failed", "type",
                                       "server_error", "code", rc_code(rc)));
    } else {
        json_t *last = chunk(o, json_object(), "stop");
        (void)json_object_set(last, "citations", ans.citations);
        (void)json_object_set_new(last, "usage", usage(&ans));
        (void)http_sse_event(st, NULL, last);
    }
    (void)http_sse_done(st);
    assist_answer_release(&ans);
    buf_release(&err);
}

static void oai_json(void *ctx, struct kb_conn *c, struct http_task_result *res)
{
    struct oai_ctx *o = ctx;
    struct assist_request rq;
    fill(o, &rq);
    struct assist_answer ans;
    struct buf err = BUF_INIT;
    int rc = o->agent ? http_agent_answer(o->srv, c, o->agent, &rq, quiet_cb, o, &ans, NULL, &err)
                      : assist_ask(o->srv->assist, c, &rq, quiet_cb, o, &ans, &err);
    if (rc) {
        res->status = rc_http_status(rc);
        res->body = json_pack("{s:{s:s,s:s,s:s}}", "error", "message",
                              err.len ? buf_str(&err) : "回答失败 / answer failed", "type",
                              "server_error", "code", rc_code(rc));
    } else {
        json_t *msg = json_pack("{s:s,s:s}", "role", "assistant", "content", ans.text);
        if (ans.thinking && ans.thinking[0])
            (void)json_object_set_new(msg, "reasoning_content", json_string(ans.thinking));
        res->status = 200;
        res->body = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:s}],s:o,s:O}", "id", o->id, "object",
                              "chat.completion", "created", (json_int_t)o->created, "model",
                              o->model, "choices", "index", 0, "message", msg, "finish_reason",
                              ans.stopped ? "length" : "stop", "usage", usage(&ans), "citations",
                              ans.citations);
    }
    assist_answer_release(&ans);
    buf_release(&err);
}

/* A message's text: a string, or an array of {"type":"text","text"} parts. */
static char *content_text(json_t *c)
{
    if (json_is_string(c))
        return xstrdup(json_string_value(c));
    if (!json_is_array(c))
        return NULL;
    struct buf b = BUF_INIT;
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        const char *t = json_string_value(json_object_get(part, "text"));
        if (t)
            (void)buf_adds(&b, t);
    }
    return buf_detach(&b, NULL);
}

static enum MHD_Result oai_error(struct http_req *r, int status, const char *code, const char *msg)
{
    return http_send_json(r, status,
                          json_pack("{s:{s:s,s:s,s:s}}", "error", "message", msg, "type",
                                    "invalid_request_error", "code", code));
}

enum MHD_Result http_h_oai_chat(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    int bad = 0;
    const char *model = http_json_str(j, "model", &bad);
    json_t *msgs = json_object_get(j, "messages"), *stream = json_object_get(j, "stream");
    size_t n = json_is_array(msgs) ? json_array_size(msgs) : 0;
    if (bad || !model || !n || n > OAI_MESSAGES_MAX || (stream && !json_is_boolean(stream))) {
        json_decref(j);
        return oai_error(r, 400, "invalid_request",
                         "需要 model 与 messages（1–64 条）/ model and 1–64 messages are required");
    }
    struct oai_ctx *o = xcalloc(1, sizeof *o);
    o->srv = r->srv;
    o->who = r->who;
    memcpy(o->ip, r->ip, sizeof o->ip);
    snprintf(o->model, sizeof o->model, "%s", model);
    o->created = now_unix();
    memcpy(o->id, "chatcmpl-", 9);
    random_hex(o->id + 9, 12);
    /* the model: "assistant" (every KB) or "kb:<name or id>" */
    if (strncmp(model, "kb:", 3) == 0) {
        struct kb_info kb;
        if (kb_get_for(c, &r->who, model + 3, ACL_READ, &kb) != RC_OK) {
            oai_free(o);
            json_decref(j);
            return oai_error(r, 404, "model_not_found",
                             "没有这个模型或无权使用 / no such model, or not yours to use");
        }
        o->kb_id = kb.id;
        kb_info_release(&kb);
    } else if (strncmp(model, "agent:", 6) == 0) { /* H3: a digital employee */
        struct buf aerr = BUF_INIT;
        int arc = http_agent_load(c, &r->who, model + 6, &o->agent, &aerr);
        buf_release(&aerr);
        if (arc) {
            oai_free(o);
            json_decref(j);
            return arc == RC_NOT_FOUND
                       ? oai_error(r, 404, "model_not_found",
                                   "没有这个模型或无权使用 / no such model, or not yours to use")
                       : http_send_service_error(r, arc, NULL);
        }
    } else if (strcmp(model, ALL_MODEL) != 0) {
        oai_free(o);
        json_decref(j);
        return oai_error(r, 404, "model_not_found",
                         "没有这个模型或无权使用 / no such model, or not yours to use");
    }
    /* the question is the last user message; the rest is history */
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        char *text = content_text(json_object_get(m, "content"));
        if (!role || !text) {
            free(text);
            oai_free(o);
            json_decref(j);
            return oai_error(r, 400, "invalid_request",
                             "每条消息需要 role 与 content / each message needs role and content");
        }
        if (i + 1 == n) {
            if (strcmp(role, "user") != 0) {
                free(text);
                oai_free(o);
                json_decref(j);
                return oai_error(r, 400, "invalid_request",
                                 "最后一条消息须来自 user / the last message must be the user's");
            }
            o->question = text;
        } else if (strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0) {
            o->hist[o->nhist++] = (struct llm_msg){
                .role = strcmp(role, "user") == 0 ? "user" : "assistant", .content = text};
        } else {
            free(text); /* system prompts are the assistant's own */
        }
    }
    int retry = 0;
    if (http_rate_check(r, &retry) != RC_OK) {
        oai_free(o);
        json_decref(j);
        return http_send_rate_limited(r, retry);
    }
    int sse = json_is_true(stream);
    json_decref(j);
    return sse ? http_sse(r, oai_stream, o, oai_free) : http_defer(r, oai_json, o, oai_free);
}
