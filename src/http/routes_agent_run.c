/* Running digital employees over HTTP (agents/runtime.h): one-off
 * questions to an agent, its traces for its admins, and the hooks through
 * which conversations with assistant "agent:<name>" and the OpenAI API's
 * model "agent:<name>" reach the runtime. docs/AGENTS.md describes them.
 *
 *   POST /api/v1/agents/{s}/ask {"question","stream","no_model"}  users of the agent
 *   GET  /api/v1/agents/{s}/traces?limit&offset                   agents.manage
 *   GET  /api/v1/agents/{s}/traces/{id}                           agents.manage */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agent.h"
#include "agents/runtime.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "http/http_int.h"

#define AGENT_GONE                                                                                               \
    "数字员工不存在、未发布、已停用或无权使用 / no such agent, or it is not published, was " \
    "retired or is not yours to use"

struct http_agent_ref {
    struct agent agent;
    struct agent_version version;
};

void http_agent_ref_free(struct http_agent_ref *ref)
{
    if (!ref)
        return;
    agent_release(&ref->agent);
    agent_version_release(&ref->version);
    free(ref);
}

int http_agent_load(struct kb_conn *c, const struct auth_principal *who, const char *name,
                    struct http_agent_ref **out, struct buf *err)
{
    *out = NULL;
    struct db_conn *d = kb_conn_store(c);
    struct http_agent_ref *ref = xcalloc(1, sizeof *ref);
    struct buf verr = BUF_INIT;
    int rc = agent_get_for(d, who, name, &ref->agent);
    if (rc == RC_OK && ref->agent.published_version <= 0)
        rc = RC_NOT_FOUND;
    if (rc == RC_OK)
        rc = agent_version_get(d, ref->agent.id, 0, &ref->version, &verr);
    if (rc == RC_NOT_FOUND)
        (void)buf_adds(err, AGENT_GONE);
    else if (rc)
        (void)buf_adds(err, verr.len ? buf_str(&verr) : "无法读取数字员工 / cannot read the agent");
    buf_release(&verr);
    if (rc) {
        http_agent_ref_free(ref);
        return rc;
    }
    *out = ref;
    return RC_OK;
}

int http_agent_conv_check(struct kb_conn *c, const struct auth_principal *who,
                          const char *assistant)
{
    if (!assistant || strncmp(assistant, "agent:", 6) != 0)
        return RC_OK;
    struct http_agent_ref *ref = NULL;
    struct buf err = BUF_INIT;
    int rc = http_agent_load(c, who, assistant + 6, &ref, &err);
    buf_release(&err);
    http_agent_ref_free(ref);
    return rc;
}

int http_agent_answer(struct http_server *srv, struct kb_conn *c, const struct http_agent_ref *ref,
                      const struct assist_request *arq, assist_cb cb, void *ctx,
                      struct assist_answer *out, int64_t *trace_id, struct buf *err)
{
    struct agent_runtime *rt = NULL;
    /* The runtime holds only borrowed pointers: one per answer costs nothing
     * and needs no change to the server's start-up. */
    int rc = agent_runtime_new(srv->cfg, srv->gw, srv->safety, srv->audit, &rt, err);
    if (rc) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    struct agent_run_request rq;
    memset(&rq, 0, sizeof rq);
    rq.who = arq->who;
    rq.ip = arq->ip;
    rq.agent = &ref->agent;
    rq.version = &ref->version;
    rq.question = arq->question;
    rq.conv_id = arq->conv_id;
    rq.regenerate = arq->regenerate;
    rq.history = arq->history;
    rq.nhistory = arq->nhistory;
    rq.no_model = arq->no_model;
    rq.conn_lend = arq->conn_lend;
    rq.conn_take = arq->conn_take;
    rq.conn_ctx = arq->conn_ctx;
    rc = agent_run(rt, c, &rq, cb, ctx, out, trace_id, err);
    agent_runtime_free(rt);
    return rc;
}

void http_agent_models(struct kb_conn *c, const struct auth_principal *who, json_t *data)
{
    json_t *agents = NULL;
    if (agent_list_usable(kb_conn_store(c), who, &agents) != RC_OK) {
        log_warn("http: the agents were left out of /v1/models");
        return;
    }
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a)
    {
        const char *name = json_string_value(json_object_get(a, "name"));
        if (!name)
            continue;
        char id[AGENT_NAME_MAX + 8];
        snprintf(id, sizeof id, "agent:%s", name);
        json_t *created = json_object_get(a, "created_at");
        (void)json_array_append_new(
            data,
            json_pack("{s:s,s:s,s:I,s:s}", "id", id, "object", "model", "created",
                      (json_int_t)(json_is_integer(created) ? json_integer_value(created) : 0),
                      "owned_by", "atrium"));
    }
    json_decref(agents);
}

/* ---- POST /api/v1/agents/{s}/ask ---- */

struct agent_ask {
    struct http_server *srv;
    struct auth_principal who;
    char ip[48];
    struct http_agent_ref *ref;
    char *question;
    int no_model;
    struct http_stream *st;
};

static void agent_ask_free(void *p)
{
    struct agent_ask *a = p;
    http_agent_ref_free(a->ref);
    free(a->question);
    free(a);
}

static void fill(struct agent_ask *a, struct assist_request *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->conn_lend = http_conn_lend_cb;
    rq->conn_take = http_conn_take_cb;
    rq->conn_ctx = a->srv;
    rq->who = &a->who;
    rq->ip = a->ip;
    rq->question = a->question;
    rq->no_model = a->no_model;
}

static int sse_cb(void *ctx, enum assist_event ev, const char *p, size_t n)
{
    struct agent_ask *a = ctx;
    static const char *names[] = {"", "delta", "thinking", "notice"};
    json_t *d = json_pack("{s:s%}", "text", p, n);
    if (!d)
        return 0;
    return http_sse_event(a->st, names[ev], d);
}

static int quiet_cb(void *ctx, enum assist_event ev, const char *p, size_t n)
{
    (void)ctx;
    (void)ev;
    (void)p;
    (void)n;
    return 0;
}

static json_t *answer_json(const struct assist_answer *ans, int64_t trace_id)
{
    json_t *j = assist_answer_json(ans);
    (void)json_object_set_new(j, "trace_id", json_integer(trace_id));
    (void)json_object_set_new(j, "stopped", json_boolean(ans->stopped));
    return j;
}

static void ask_sse(void *ctx, struct kb_conn *c, struct http_stream *st)
{
    struct agent_ask *a = ctx;
    a->st = st;
    struct assist_request rq;
    fill(a, &rq);
    struct assist_answer ans;
    struct buf err = BUF_INIT;
    int64_t tid = 0;
    int rc = http_agent_answer(a->srv, c, a->ref, &rq, sse_cb, a, &ans, &tid, &err);
    if (rc) {
        (void)http_sse_event(st, "error",
                             json_pack("{s:s,s:s}", "code", rc_code(rc), "message",
                                       err.len ? buf_str(&err) : "回答失败 / answer failed"));
    } else {
        (void)http_sse_event(st, "citations", json_incref(ans.citations));
        json_t *done = answer_json(&ans, tid);
        (void)json_object_del(done, "answer"); /* already streamed */
        (void)json_object_del(done, "citations");
        (void)http_sse_event(st, "done", done);
    }
    assist_answer_release(&ans);
    buf_release(&err);
}

static void ask_json(void *ctx, struct kb_conn *c, struct http_task_result *res)
{
    struct agent_ask *a = ctx;
    struct assist_request rq;
    fill(a, &rq);
    struct assist_answer ans;
    struct buf err = BUF_INIT;
    int64_t tid = 0;
    int rc = http_agent_answer(a->srv, c, a->ref, &rq, quiet_cb, a, &ans, &tid, &err);
    if (rc) {
        res->status = rc_http_status(rc);
        res->body = json_pack("{s:{s:s,s:s}}", "error", "code", rc_code(rc), "message",
                              err.len ? buf_str(&err) : "回答失败 / answer failed");
    } else {
        res->status = 200;
        res->body = answer_json(&ans, tid);
    }
    assist_answer_release(&ans);
    buf_release(&err);
}

enum MHD_Result http_h_agent_ask(struct http_req *r, struct kb_conn *c)
{
    enum MHD_Result res = MHD_NO;
    json_t *j = http_body_json(r, &res);
    if (!j)
        return res;
    int bad = 0;
    const char *q = http_json_str(j, "question", &bad);
    json_t *stream = json_object_get(j, "stream"), *nm = json_object_get(j, "no_model");
    if (bad || !q || !*q || (stream && !json_is_boolean(stream)) || (nm && !json_is_boolean(nm))) {
        json_decref(j);
        return http_send_rc(r, RC_INVALID,
                            "需要 question（字符串），stream/no_model 为布尔值 / question must be "
                            "a string, stream/no_model booleans");
    }
    struct buf err = BUF_INIT;
    struct http_agent_ref *ref = NULL;
    int rc = http_agent_load(c, &r->who, r->arg_str, &ref, &err);
    if (rc) {
        json_decref(j);
        res = http_send_service_error(r, rc, &err);
        buf_release(&err);
        return res;
    }
    buf_release(&err);
    int retry = 0;
    if (http_rate_check(r, &retry) != RC_OK) {
        http_agent_ref_free(ref);
        json_decref(j);
        return http_send_rate_limited(r, retry);
    }
    struct agent_ask *a = xcalloc(1, sizeof *a);
    a->srv = r->srv;
    a->who = r->who;
    memcpy(a->ip, r->ip, sizeof a->ip);
    a->ref = ref;
    a->question = xstrdup(q);
    a->no_model = json_is_true(nm);
    int sse = json_is_true(stream);
    json_decref(j);
    return sse ? http_sse(r, ask_sse, a, agent_ask_free)
               : http_defer(r, ask_json, a, agent_ask_free);
}

/* ---- traces (agents.manage: the route table checks it) ---- */

static int64_t query_i64(struct http_req *r, const char *key, int64_t dflt, int *bad)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
    int64_t x = dflt;
    if (v && *v && parse_i64(v, 0, INT64_MAX, &x) != RC_OK)
        *bad = 1;
    return x;
}

enum MHD_Result http_h_agent_traces(struct http_req *r, struct kb_conn *c)
{
    struct db_conn *d = kb_conn_store(c);
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    int bad = 0;
    int64_t lim = query_i64(r, "limit", 0, &bad), off = query_i64(r, "offset", 0, &bad);
    json_t *j = NULL;
    int rc = bad ? RC_INVALID : agent_traces_list(d, a.id, lim, off, &j);
    agent_release(&a);
    if (rc == RC_INVALID)
        return http_send_rc(r, rc, "limit 为 1–200，offset ≥ 0 / limit 1–200, offset >= 0");
    return rc ? http_send_service_error(r, rc, NULL) : http_send_json(r, 200, j);
}

enum MHD_Result http_h_agent_trace(struct http_req *r, struct kb_conn *c)
{
    struct db_conn *d = kb_conn_store(c);
    struct agent a;
    enum MHD_Result res = MHD_NO;
    if (http_agent_of_path(r, c, &a, &res))
        return res;
    json_t *j = NULL;
    int rc = agent_trace_json(d, a.id, r->arg_id, &j);
    agent_release(&a);
    if (rc == RC_NOT_FOUND)
        return http_send_rc(r, rc, "没有这条追踪记录 / no such trace");
    return rc ? http_send_service_error(r, rc, NULL) : http_send_json(r, 200, j);
}
