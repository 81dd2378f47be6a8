/* The digital employees' runtime (see runtime.h): one question through an
 * agent version's OpenAI tool-calling loop, behind the same PII mask and
 * sensitive-word filter as the super assistant, with the extractive answer
 * as the fallback, and one trace per run written at its end. The model
 * only ever sees masked text; tools (internal) get the real values. */
#include "agents/runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/tools.h"
#include "assist/conv.h"
#include "assist/safety.h"
#include "auth/audit.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "llm/gateway.h"
#include "text/pii.h"
#include "text/utf8.h"

#define HISTORY_TURNS 3     /* earlier turns given to the model */
#define TRACE_ARGS_MAX 2048 /* bytes of a step's arguments kept in the trace */
#define TRACE_ERROR_MAX 500 /* bytes of a step's error kept in the trace */
#define TRACE_TOOL_MAX 64   /* bytes of a tool name kept in the trace */
#define TRACE_PAGE_MAX 200
#define ANSWER_MAX (4u << 20)
#define NONE_TEXT                                                                                                           \
    "抱歉，我掌握的资料中没有找到与该问题相关的内容，无法回答。/ Sorry, the knowledge I have " \
    "does not cover this question."
#define BLOCKED_TEXT                                                                                                    \
    "抱歉，您的问题包含不允许讨论的内容，无法回答。/ Sorry, this question touches a topic that " \
    "cannot be answered here."
#define FALLBACK_NOTICE "模型不可用，已改用摘录答案 / the model is unavailable: extractive answer"
#define STEP_NOTICE "已达到最多步骤数 / the step limit was reached"
#define TIME_NOTICE "已达到时间上限 / the time limit was reached"
#define CUT_NOTICE "回答中断 / the answer was cut off"
#define WITHDRAWN_NOTICE "回答包含不允许的内容，已撤回 / the answer was withdrawn"

/* What every agent is told after its role prompt. */
static const char INSTRUCTIONS[] =
    "\n\n【作答要求】需要资料或计算时调用提供的工具；依据工具结果作答，"
    "引用资料时在句末用工具结果中的编号标注出处，例如 [1]；"
    "资料不足以回答时，直接说明掌握的资料中没有相关内容，不要编造。"
    "形如 [身份证1]、[手机号1] 的占位符代表客户信息，原样保留，不要猜测其内容。";

struct agent_runtime {
    const struct config *cfg;
    struct gw *gw;
    struct safety *safety;
    struct audit_writer *audit;
};

int agent_runtime_new(const struct config *cfg, struct gw *gw, struct safety *safety,
                      struct audit_writer *audit, struct agent_runtime **out, struct buf *err)
{
    if (!cfg) {
        (void)buf_adds(err, "缺少配置 / no configuration");
        return RC_INVALID;
    }
    struct agent_runtime *rt = xcalloc(1, sizeof *rt);
    rt->cfg = cfg;
    rt->gw = gw;
    rt->safety = safety;
    rt->audit = audit;
    *out = rt;
    return RC_OK;
}

void agent_runtime_free(struct agent_runtime *rt)
{
    free(rt);
}

const char *agent_tool_display_name(const char *tool)
{
    static const struct {
        const char *name, *shown;
    } names[] = {
        {"kb_search", "知识检索 / knowledge search"},
        {"web_search", "联网搜索 / web search"},
        {"calculator", "计算器 / calculator"},
        {"workdays", "工作日计算 / workdays"},
    };
    for (size_t i = 0; tool && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(tool, names[i].name) == 0)
            return names[i].shown;
    if (tool && strncmp(tool, "http_", 5) == 0)
        return "业务接口 / business API";
    return "工具 / tool";
}

/* ---- running answers (stop), process-wide ---- */

struct running {
    int64_t user_id, conv_id;
    volatile int stop;
    struct running *next;
};
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct running *g_running;

static struct running *run_begin(int64_t user_id, int64_t conv_id)
{
    pthread_mutex_lock(&g_mu);
    for (struct running *r = g_running; r; r = r->next)
        if (r->conv_id == conv_id) {
            pthread_mutex_unlock(&g_mu);
            return NULL;
        }
    struct running *r = xcalloc(1, sizeof *r);
    r->user_id = user_id;
    r->conv_id = conv_id;
    r->next = g_running;
    g_running = r;
    pthread_mutex_unlock(&g_mu);
    return r;
}

static void run_end(struct running *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&g_mu);
    for (struct running **p = &g_running; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    pthread_mutex_unlock(&g_mu);
    free(r);
}

int agent_run_stop(int64_t user_id, int64_t conv_id)
{
    int rc = RC_NOT_FOUND;
    pthread_mutex_lock(&g_mu);
    for (struct running *r = g_running; r; r = r->next)
        if (r->conv_id == conv_id && r->user_id == user_id) {
            r->stop = 1;
            rc = RC_OK;
        }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/* ---- trace steps ---- */

struct step {
    const char *kind; /* "model" | "tool" */
    char *tool, *args, *error;
    long result_bytes;
    double latency_ms;
    int ok;
};
struct steps {
    struct step *a;
    size_t n, cap;
};

/* A copy of s cut to at most max bytes on a character boundary. */
static char *cap_dup(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n <= max)
        return xstrdup(s ? s : "");
    size_t cut = 0;
    while (cut < n) {
        uint32_t cp;
        size_t used = utf8_decode(s + cut, n - cut, &cp);
        if (!used || cut + used > max)
            break;
        cut += used;
    }
    char *p = xmalloc(cut + 1);
    memcpy(p, s, cut);
    p[cut] = 0;
    return p;
}

static void steps_add(struct steps *s, const char *kind, const char *tool, const char *args,
                      long result_bytes, double latency_ms, int ok, const char *error)
{
    s->a = xgrow(s->a, &s->cap, s->n + 1, sizeof *s->a);
    struct step *p = &s->a[s->n++];
    p->kind = kind;
    p->tool = cap_dup(tool, TRACE_TOOL_MAX);
    p->args = cap_dup(args, TRACE_ARGS_MAX);
    p->error = cap_dup(error, TRACE_ERROR_MAX);
    p->result_bytes = result_bytes;
    p->latency_ms = latency_ms;
    p->ok = ok;
}

static void steps_release(struct steps *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->a[i].tool);
        free(s->a[i].args);
        free(s->a[i].error);
    }
    free(s->a);
    memset(s, 0, sizeof *s);
}

/* ---- the conversation with the model: owned messages ---- */

struct msgs {
    struct llm_msg *a; /* content, tool_calls, tool_call_id malloc'd (or NULL) */
    size_t n, cap;
};

static void msgs_add(struct msgs *m, const char *role, char *content, char *tool_calls,
                     char *tool_call_id)
{
    m->a = xgrow(m->a, &m->cap, m->n + 1, sizeof *m->a);
    m->a[m->n++] = (struct llm_msg){role, content, tool_calls, tool_call_id};
}

static void msgs_release(struct msgs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free((char *)m->a[i].content);
        free((char *)m->a[i].tool_calls);
        free((char *)m->a[i].tool_call_id);
    }
    free(m->a);
    memset(m, 0, sizeof *m);
}

/* s with its PII replaced by m's placeholders (malloc'd), or NULL when the
 * map is full: then nothing of it may go to the model. */
static char *mask_dup(struct pii_map *m, const char *s)
{
    struct buf b = BUF_INIT;
    if (pii_mask(m, s ? s : "", s ? strlen(s) : 0, &b) != RC_OK) {
        buf_release(&b);
        return NULL;
    }
    if (!b.p)
        return xstrdup("");
    return buf_detach(&b, NULL);
}

static char *unmask_dup(const struct pii_map *m, const char *s)
{
    struct buf b = BUF_INIT;
    if (pii_unmask(m, s ? s : "", s ? strlen(s) : 0, &b) != RC_OK) {
        buf_release(&b);
        return xstrdup(s ? s : "");
    }
    if (!b.p)
        return xstrdup("");
    return buf_detach(&b, NULL);
}

/* ---- streaming the answer back, unmasked and filtered ---- */

struct stream {
    struct running *run;
    assist_cb cb;
    void *ctx;
    struct pii_unmasker um, umt;
    struct safety_stream *filter; /* or NULL */
    int blocked;
    struct buf shown, thinking;
    int stopped, time_up;
    double t0, first_ms, deadline;
};

static int stopped(struct stream *s)
{
    return s->stopped || (s->run && s->run->stop);
}

static int emit(struct stream *s, enum assist_event ev, const char *p, size_t n)
{
    if (!n)
        return stopped(s);
    if (s->first_ms < 0 && ev == AE_DELTA)
        s->first_ms = now_ms() - s->t0;
    if (s->cb && s->cb(s->ctx, ev, p, n))
        s->stopped = 1;
    return stopped(s);
}

/* Answer text decided by the unmasker: through the word filter, then out. */
static int show(struct stream *s, const char *p, size_t n, int final)
{
    struct buf f = BUF_INIT;
    if (s->filter) {
        struct safety_result sr;
        memset(&sr, 0, sizeof sr);
        if (safety_stream_feed(s->filter, p ? p : "", n, &f, &sr) != RC_OK ||
            sr.verdict == SAFETY_BLOCKED ||
            (final &&
             (safety_stream_finish(s->filter, &f, &sr) != RC_OK || sr.verdict == SAFETY_BLOCKED))) {
            s->blocked = 1;
            buf_release(&f);
            return 1;
        }
        p = f.p;
        n = f.len;
    }
    (void)buf_add(&s->shown, p ? p : "", n);
    int stop = emit(s, AE_DELTA, p, n);
    buf_release(&f);
    return stop;
}

static int on_delta(void *ctx, enum llm_delta_kind kind, const char *p, size_t n)
{
    struct stream *s = ctx;
    if (stopped(s))
        return 1;
    if (now_ms() > s->deadline) {
        s->time_up = 1;
        return 1;
    }
    struct buf out = BUF_INIT;
    int thinking = kind == LLM_REASONING, stop;
    if (pii_unmasker_feed(thinking ? &s->umt : &s->um, p, n, &out) != RC_OK) {
        buf_release(&out);
        return 1;
    }
    if (thinking) {
        (void)buf_add(&s->thinking, out.p ? out.p : "", out.len);
        stop = emit(s, AE_THINKING, out.p, out.len);
    } else {
        stop = show(s, out.p, out.len, 0);
    }
    buf_release(&out);
    return stop || s->blocked;
}

/* The end of one model turn: what the unmaskers held back goes out. */
static void turn_flush(struct stream *s)
{
    struct buf tail = BUF_INIT;
    (void)pii_unmasker_finish(&s->um, &tail);
    if (tail.len)
        (void)show(s, tail.p, tail.len, 0);
    buf_release(&tail);
    (void)pii_unmasker_finish(&s->umt, &tail);
    (void)buf_add(&s->thinking, tail.p ? tail.p : "", tail.len);
    buf_release(&tail);
}

/* ---- the connection, lent while waiting on the model ---- */

static void conn_pause(const struct agent_run_request *rq)
{
    if (rq->conn_lend && rq->conn_take)
        rq->conn_lend(rq->conn_ctx);
}

static int conn_resume(const struct agent_run_request *rq, struct kb_conn **c, struct db_conn **d)
{
    if (!rq->conn_lend || !rq->conn_take)
        return RC_OK;
    struct kb_conn *n = rq->conn_take(rq->conn_ctx);
    if (!n) { /* the old one was lent: never touch it again */
        *c = NULL;
        *d = NULL;
        return RC_DB;
    }
    *c = n;
    *d = kb_conn_store(n);
    return RC_OK;
}

/* ---- pieces of an answer ---- */

static json_t *kb_cites_json(const struct kb_answer *ka)
{
    json_t *arr = kb_citations_json(ka);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)(void) json_object_set_new(c, "kind", json_string("kb"));
    return arr;
}

/* The extractive answer over the agent's KBs that who may read (the
 * permission is in kb_search's query). */
static int extractive(const struct config *cfg, struct kb_conn *c,
                      const struct agent_run_request *rq, const char *question,
                      struct assist_answer *out, struct buf *err)
{
    const struct agent_spec *sp = &rq->version->spec;
    struct kb_hits hits = {0};
    struct kb_answer ka;
    memset(&ka, 0, sizeof ka);
    int rc = RC_OK;
    if (sp->nkbs) {
        struct kb_search_opts so = {5, KB_NO_HIGHLIGHT, rq->who};
        struct buf serr = BUF_INIT;
        rc = kb_search_many(c, sp->kbs, sp->nkbs, question, &so, &hits, &serr);
        if (rc == RC_INVALID) /* a question with nothing to search for */
            rc = RC_OK;
        else if (rc)
            (void)buf_adds(err, buf_str(&serr));
        buf_release(&serr);
        if (rc)
            goto out;
    }
    kb_answer_extractive(&hits, cfg->min_score, &ka);
    int none = ka.mode == KB_ANSWER_NONE || !ka.text;
    out->mode = xstrdup(none ? "none" : "extractive");
    out->text = xstrdup(none ? NONE_TEXT : ka.text);
    json_decref(out->citations);
    out->citations = none ? json_array() : kb_cites_json(&ka);
out:
    kb_hits_release(&hits);
    kb_answer_release(&ka);
    return rc;
}

/* The sources of tool results the answer cites with [n] (all of them when
 * it cites none), as a new array. */
static json_t *cited(json_t *all, const char *text)
{
    json_t *used = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(all, i, c)
    {
        char mark[32];
        snprintf(mark, sizeof mark, "[%lld]",
                 (long long)json_integer_value(json_object_get(c, "n")));
        if (text && strstr(text, mark))
            (void)json_array_append(used, c);
    }
    if (!json_array_size(used))
        (void)json_array_extend(used, all);
    return used;
}

/* One tool call the model asked for (members borrowed from the parsed
 * array). */
struct call {
    const char *id, *name, *args;
};

/* Parses llm_result.tool_calls: *calls into arr (which owns the strings);
 * *norm the array as it goes back to the model (ids filled in). RC_OK with
 * *n 0 when there are none; RC_UPSTREAM when they are malformed. */
static int parse_calls(const char *text, int turn, json_t **arr, struct call **calls, size_t *n,
                       char **norm)
{
    *arr = NULL;
    *calls = NULL;
    *n = 0;
    *norm = NULL;
    if (!text || !*text)
        return RC_OK;
    json_t *in = json_loads(text, 0, NULL);
    if (!json_is_array(in)) {
        json_decref(in);
        return RC_UPSTREAM;
    }
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(in, i, c)
    {
        json_t *fn = json_object_get(c, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        json_t *a = json_object_get(fn, "arguments");
        if (!name || !*name) {
            json_decref(in);
            json_decref(out);
            return RC_UPSTREAM;
        }
        char *args = json_is_string(a) ? xstrdup(json_string_value(a))
                     : a               ? json_dumps(a, JSON_COMPACT)
                                       : xstrdup("{}");
        const char *id = json_string_value(json_object_get(c, "id"));
        char idbuf[48];
        if (!id || !*id) {
            snprintf(idbuf, sizeof idbuf, "call_%d_%zu", turn, i);
            id = idbuf;
        }
        (void)json_array_append_new(out, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type",
                                                   "function", "function", "name", name,
                                                   "arguments", args ? args : "{}"));
        free(args);
    }
    json_decref(in);
    *n = json_array_size(out);
    if (*n) {
        *calls = xcalloc(*n, sizeof **calls);
        json_array_foreach(out, i, c)
        {
            json_t *fn = json_object_get(c, "function");
            (*calls)[i] = (struct call){json_string_value(json_object_get(c, "id")),
                                        json_string_value(json_object_get(fn, "name")),
                                        json_string_value(json_object_get(fn, "arguments"))};
        }
        *norm = json_dumps(out, JSON_COMPACT);
    }
    *arr = out;
    return RC_OK;
}

static void audit_run(struct agent_runtime *rt, const struct agent_run_request *rq,
                      const char *mode, json_t *citations)
{
    if (!rt->audit || rq->eval_run_id > 0)
        return;
    json_t *chunks = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(citations, i, c)
    {
        json_t *id = json_object_get(c, "chunk_id");
        if (json_is_integer(id))
            (void)json_array_append(chunks, id);
    }
    json_t *detail =
        json_pack("{s:s,s:i,s:s,s:o}", "agent", rq->agent->name ? rq->agent->name : "", "version",
                  rq->version->version, "mode", mode ? mode : "", "chunks", chunks);
    char target[96];
    snprintf(target, sizeof target, "agent:%s", rq->agent->name ? rq->agent->name : "");
    struct audit_entry e;
    audit_entry_from(&e, rq->who);
    e.action = "agent.ask";
    e.target = target;
    e.detail = detail;
    e.ip = rq->ip ? rq->ip : "";
    audit_writer_post(rt->audit, &e);
    json_decref(detail);
}

/* The trace row and its steps, in one short transaction. */
struct trace_row {
    const char *question, *mode, *status;
    int answered;
    double latency_ms;
    long prompt_tokens, completion_tokens;
    int64_t msg_id;
};

static int trace_write(struct db_conn *d, const struct agent_run_request *rq,
                       const struct trace_row *t, const struct steps *s, int64_t *id)
{
    struct db_tx tx;
    int rc = db_tx_begin(d->db, &tx);
    if (rc)
        return rc;
    sqlite3_stmt *st =
        db_stmt(d->cache, "INSERT INTO agent_traces(agent_id,version,user_id,conv_id,"
                          "message_id,eval_run_id,question,mode,answered,status,steps,"
                          "latency_ms,prompt_tokens,completion_tokens,created_at) "
                          "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    rc = RC_DB;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, rq->agent->id);
    sqlite3_bind_int(st, 2, rq->version->version);
    sqlite3_bind_int64(st, 3, rq->who->user_id);
    sqlite3_bind_int64(st, 4, rq->conv_id > 0 ? rq->conv_id : 0);
    sqlite3_bind_int64(st, 5, t->msg_id);
    sqlite3_bind_int64(st, 6, rq->eval_run_id > 0 ? rq->eval_run_id : 0);
    sqlite3_bind_text(st, 7, t->question, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, t->mode, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, t->answered);
    sqlite3_bind_text(st, 10, t->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)s->n);
    sqlite3_bind_double(st, 12, t->latency_ms);
    sqlite3_bind_int64(st, 13, t->prompt_tokens);
    sqlite3_bind_int64(st, 14, t->completion_tokens);
    sqlite3_bind_int64(st, 15, now_unix());
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    *id = sqlite3_last_insert_rowid(d->db);
    for (size_t i = 0; i < s->n; i++) {
        const struct step *p = &s->a[i];
        st = db_stmt(d->cache, "INSERT INTO agent_trace_steps(trace_id,seq,kind,tool,arguments,"
                               "result_bytes,latency_ms,ok,error) VALUES(?,?,?,?,?,?,?,?,?)");
        if (!st)
            goto out;
        sqlite3_bind_int64(st, 1, *id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i + 1);
        sqlite3_bind_text(st, 3, p->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->tool, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, p->args, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, p->result_bytes);
        sqlite3_bind_double(st, 7, p->latency_ms);
        sqlite3_bind_int(st, 8, p->ok);
        sqlite3_bind_text(st, 9, p->error, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto out;
    }
    rc = RC_OK;
out:
    if (db_tx_end(d->db, &tx, rc == RC_OK) != RC_OK)
        rc = RC_DB;
    if (rc)
        *id = 0;
    return rc;
}

/* ---- the run ---- */

int agent_run(struct agent_runtime *rt, struct kb_conn *c, const struct agent_run_request *rq,
              assist_cb cb, void *ctx, struct assist_answer *out, int64_t *trace_id,
              struct buf *err)
{
    memset(out, 0, sizeof *out);
    if (trace_id)
        *trace_id = 0;
    if (!rt || !c || !rq || !rq->who || !rq->agent || !rq->version) {
        (void)buf_adds(err, "缺少数字员工或提问者 / no agent or no asker");
        return RC_INVALID;
    }
    const struct config *cfg = rt->cfg;
    const struct agent_spec *sp = &rq->version->spec;
    struct db_conn *d = kb_conn_store(c);
    int64_t uid = rq->who->user_id;
    double t0 = now_ms();
    struct conv conv;
    memset(&conv, 0, sizeof conv);
    struct conv_history hist = {0};
    struct running *run = NULL;
    struct stream st;
    memset(&st, 0, sizeof st);
    struct pii_map *map = pii_map_new();
    struct steps steps = {0};
    struct msgs ms = {0};
    json_t *tools = NULL, *sources = json_array();
    char *tools_text = NULL, *params = NULL;
    char *question = NULL, *masked_q = NULL;
    const char *status = "done", *notice = NULL;
    int blocked_in = 0, rc = RC_OK, use_model = 0;
    buf_init(&st.shown, ANSWER_MAX);
    buf_init(&st.thinking, ANSWER_MAX);
    st.run = NULL;
    st.cb = cb;
    st.ctx = ctx;
    st.t0 = t0;
    st.first_ms = -1;
    st.deadline = t0 + 1000.0 * (sp->max_seconds > 0 ? sp->max_seconds : SPEC_DEFAULT_SECONDS);

    /* 1. the question and its conversation */
    if (rq->conv_id > 0) {
        rc = conv_get(d, uid, rq->conv_id, &conv);
        if (rc)
            goto out;
        char want[AGENT_NAME_MAX + 8];
        snprintf(want, sizeof want, "agent:%s", rq->agent->name ? rq->agent->name : "");
        if (strcmp(conv.assistant, want) != 0) {
            (void)buf_adds(err, "该会话不属于这个数字员工 / this conversation is not this agent's");
            rc = RC_INVALID;
            goto out;
        }
        run = run_begin(uid, rq->conv_id);
        if (!run) {
            (void)buf_adds(err, "该会话正在回答中 / an answer is already running here");
            rc = RC_BUSY;
            goto out;
        }
        st.run = run;
        if (rq->regenerate) {
            rc = conv_regenerate(d, uid, rq->conv_id, &out->user_msg_id, &question, NULL);
            if (rc)
                goto out;
        }
    }
    if (!question)
        question = xstrdup(rq->question ? rq->question : "");
    /* length, UTF-8 and sensitive words, as the assistant does */
    if ((rc = safety_screen_question(rt->safety, d, &question, &blocked_in, &st.filter, err)) !=
        RC_OK)
        goto out;
    if (blocked_in)
        log_info("agent: a question was blocked by the sensitive-word list");
    masked_q = mask_dup(map, question);
    if (!masked_q) {
        (void)buf_adds(err, "问题包含过多客户信息 / too much personal data in the question");
        rc = RC_TOO_BIG;
        goto out;
    }
    const char *model = sp->model && sp->model[0] ? sp->model : NULL;
    int64_t mid = 0;
    use_model =
        !rq->no_model && !blocked_in && rt->gw && gw_resolve(rt->gw, model, GW_CHAT, &mid) == RC_OK;

    /* 2. history, then the question and the answer's row */
    if (rq->conv_id > 0) {
        rc = conv_history(d, uid, rq->conv_id, HISTORY_TURNS, out->user_msg_id, &hist);
        if (rc)
            goto out;
        if (!rq->regenerate) {
            rc = conv_msg_add_user(d, uid, rq->conv_id, question, question, &out->user_msg_id, err);
            if (rc)
                goto out;
        }
        rc = conv_msg_start(d, uid, rq->conv_id, use_model ? model : NULL, &out->msg_id);
        if (rc)
            goto out;
    }
    out->query = xstrdup(question);

    if (blocked_in) {
        out->mode = xstrdup("blocked");
        out->text = xstrdup(BLOCKED_TEXT);
        out->citations = json_array();
        (void)emit(&st, AE_DELTA, out->text, strlen(out->text));
        goto done;
    }
    if (!use_model)
        goto fallback;

    /* 3. the messages: role prompt + instructions, history, question — all
     * masked with the one map of this question */
    {
        struct buf sys = BUF_INIT;
        (void)buf_adds(&sys, sp->prompt ? sp->prompt : "");
        (void)buf_adds(&sys, INSTRUCTIONS);
        char *m = mask_dup(map, buf_str(&sys));
        buf_release(&sys);
        if (!m)
            goto fallback;
        msgs_add(&ms, "system", m, NULL, NULL);
        if (rq->conv_id > 0) {
            for (size_t i = 0; i < hist.n; i++) {
                char *q = mask_dup(map, hist.turns[i].question);
                char *a = mask_dup(map, hist.turns[i].answer);
                if (q)
                    msgs_add(&ms, "user", q, NULL, NULL);
                if (q && a && a[0])
                    msgs_add(&ms, "assistant", a, NULL, NULL);
                else
                    free(a);
            }
        } else {
            for (size_t i = 0; i < rq->nhistory; i++) {
                const char *role = rq->history[i].role;
                if (!role || !rq->history[i].content ||
                    (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
                    continue;
                char *h = mask_dup(map, rq->history[i].content);
                if (h)
                    msgs_add(&ms, strcmp(role, "user") == 0 ? "user" : "assistant", h, NULL, NULL);
            }
        }
        msgs_add(&ms, "user", xstrdup(masked_q), NULL, NULL);
    }
    tools = tools_definitions(cfg, sp);
    if (json_array_size(tools))
        tools_text = json_dumps(tools, JSON_COMPACT);
    if (sp->temperature >= 0) {
        json_t *pj = json_pack("{s:f}", "temperature", sp->temperature);
        params = json_dumps(pj, JSON_COMPACT);
        json_decref(pj);
    }
    /* the model's first token is bounded by max_seconds too, not only by the
     * gateway's first-token timeout */
    struct gw_call_opts go = {.user_id = uid, .deadline_ms = st.deadline};
    go.chat.tools = tools_text;
    go.chat.tool_choice = tools_text ? "auto" : NULL;
    go.chat.params = params;
    struct tool_ctx tc = {cfg, c, rq->who, sp, sources};
    int finished = 0, failed = 0, turns = 0;
    long ptok = -1, ctok = -1;
    char *answered_by = NULL;

    /* 4. the loop: a model turn, its tool calls, their results back */
    for (turns = 0; turns < sp->max_steps && !finished && !failed; turns++) {
        if (now_ms() >= st.deadline) {
            st.time_up = 1;
            break;
        }
        if (stopped(&st))
            break;
        struct llm_result res;
        memset(&res, 0, sizeof res);
        struct gw_call_info info;
        memset(&info, 0, sizeof info);
        struct buf why = BUF_INIT;
        pii_unmasker_init(&st.um, map);
        pii_unmasker_init(&st.umt, map);
        double ts = now_ms();
        conn_pause(rq);
        int mrc = gw_chat(rt->gw, model, ms.a, ms.n, on_delta, &st, &res, &info, &go, &why);
        if (conn_resume(rq, &c, &d) != RC_OK) {
            llm_result_release(&res);
            buf_release(&why);
            free(answered_by);
            rc = RC_DB;
            goto out;
        }
        tc.c = c;
        if (info.out_of_time)
            st.time_up = 1; /* the gateway gave up at the agent's deadline */
        turn_flush(&st);
        if (info.prompt_tokens >= 0)
            ptok = (ptok < 0 ? 0 : ptok) + info.prompt_tokens;
        if (info.completion_tokens >= 0)
            ctok = (ctok < 0 ? 0 : ctok) + info.completion_tokens;
        if (info.model[0] && !answered_by)
            answered_by = xstrdup(info.model);
        size_t rbytes =
            (res.content ? strlen(res.content) : 0) + (res.tool_calls ? strlen(res.tool_calls) : 0);
        const char *merr = mrc == RC_OK ? "" : why.len ? buf_str(&why) : rc_code(mrc);
        if (mrc == RC_OK && st.time_up)
            merr = "time limit";
        steps_add(&steps, "model", "", "", (long)rbytes, now_ms() - ts, mrc == RC_OK && !st.time_up,
                  merr);
        if (mrc != RC_OK)
            log_warn("agent: model turn failed: %s", buf_str(&why));
        buf_release(&why);
        json_t *carr = NULL;
        struct call *calls = NULL;
        size_t ncalls = 0;
        char *norm = NULL;
        if (st.blocked || st.time_up || stopped(&st)) {
            finished = !st.time_up;
        } else if (mrc != RC_OK) {
            failed = 1;
        } else if (parse_calls(res.tool_calls, turns + 1, &carr, &calls, &ncalls, &norm) != RC_OK) {
            log_warn("agent: the model's tool calls are malformed");
            steps.a[steps.n - 1].ok = 0;
            free(steps.a[steps.n - 1].error);
            steps.a[steps.n - 1].error = xstrdup("malformed tool calls");
            failed = 1;
        } else if (!ncalls) {
            /* the answer: done, unless it is empty */
            if (st.shown.len)
                finished = 1;
            else
                failed = 1;
        } else {
            msgs_add(&ms, "assistant", xstrdup(res.content ? res.content : ""), norm, NULL);
            norm = NULL;
            for (size_t i = 0; i < ncalls; i++) {
                if (stopped(&st))
                    break;
                if (now_ms() >= st.deadline) {
                    st.time_up = 1;
                    break;
                }
                /* "计算器 / calculator" → "正在使用工具：计算器 / using tool: calculator" */
                const char *shown = agent_tool_display_name(calls[i].name);
                const char *slash = strstr(shown, " / ");
                char note[160];
                snprintf(note, sizeof note, "正在使用工具：%.*s / using tool: %s",
                         (int)(slash - shown), shown, slash + 3);
                if (emit(&st, AE_NOTICE, note, strlen(note)))
                    break; /* the client went away */
                char *real = unmask_dup(map, calls[i].args);
                char *targs = mask_dup(map, calls[i].args);
                char *result = NULL;
                struct buf terr = BUF_INIT;
                double tt = now_ms();
                int trc = tools_call(&tc, calls[i].name, real, &result, &terr);
                double tl = now_ms() - tt;
                if (trc == RC_OK && !result)
                    result = xstrdup("");
                steps_add(&steps, "tool", calls[i].name, targs ? targs : "",
                          trc == RC_OK ? (long)strlen(result) : 0, tl, trc == RC_OK,
                          trc == RC_OK ? ""
                          : terr.len   ? buf_str(&terr)
                                       : rc_code(trc));
                struct buf tm = BUF_INIT;
                if (trc == RC_OK)
                    (void)buf_adds(&tm, result);
                else
                    (void)buf_addf(&tm, "错误 / error: %s",
                                   terr.len ? buf_str(&terr) : rc_code(trc));
                char *masked = mask_dup(map, buf_str(&tm));
                msgs_add(&ms, "tool", masked ? masked : xstrdup("错误 / error: too big"), NULL,
                         xstrdup(calls[i].id));
                buf_release(&tm);
                buf_release(&terr);
                free(result);
                free(real);
                free(targs);
            }
            if (now_ms() >= st.deadline)
                st.time_up = 1;
        }
        free(norm);
        free(calls);
        json_decref(carr);
        llm_result_release(&res);
        if (st.time_up)
            break;
    }
    if (!finished && !failed && !st.blocked && !stopped(&st) && !st.time_up &&
        turns >= sp->max_steps)
        status = "step_limit";
    if (st.time_up)
        status = "time_limit";
    if (stopped(&st))
        status = "stopped";
    out->prompt_tokens = ptok;
    out->completion_tokens = ctok;
    out->model = answered_by;
    answered_by = NULL;
    /* the end of the answer: what the word filter held back */
    if (!st.blocked)
        (void)show(&st, NULL, 0, 1);
    if (st.blocked) {
        out->mode = xstrdup("blocked");
        out->text = xstrdup(BLOCKED_TEXT);
        out->citations = json_array();
        out->notice = xstrdup(WITHDRAWN_NOTICE);
        (void)emit(&st, AE_NOTICE, out->notice, strlen(out->notice));
        goto done;
    }
    if (finished || stopped(&st) || st.shown.len) {
        out->mode = xstrdup("model");
        out->text = xstrdup(buf_str(&st.shown));
        out->thinking = xstrdup(buf_str(&st.thinking));
        out->citations = cited(sources, out->text);
        if (!finished && !stopped(&st)) {
            notice = failed                              ? CUT_NOTICE
                     : strcmp(status, "step_limit") == 0 ? STEP_NOTICE
                                                         : TIME_NOTICE;
            out->notice = xstrdup(notice);
            (void)emit(&st, AE_NOTICE, out->notice, strlen(out->notice));
        }
        goto done;
    }
    notice = failed                              ? FALLBACK_NOTICE
             : strcmp(status, "step_limit") == 0 ? STEP_NOTICE
                                                 : TIME_NOTICE;

fallback:
    if (notice || use_model) {
        out->notice = xstrdup(notice ? notice : FALLBACK_NOTICE);
        (void)emit(&st, AE_NOTICE, out->notice, strlen(out->notice));
    }
    free(out->mode);
    free(out->text);
    out->mode = out->text = NULL;
    rc = extractive(cfg, c, rq, question, out, err);
    if (rc)
        goto out;
    (void)emit(&st, AE_DELTA, out->text, strlen(out->text));

done:
    if (!out->model)
        out->model = xstrdup("");
    if (!out->citations)
        out->citations = json_array();
    out->stopped = stopped(&st);
    out->latency_ms = now_ms() - t0;
    out->first_token_ms = st.first_ms;
    if (out->msg_id) {
        struct conv_finish f = {out->stopped ? "stopped" : "done",
                                out->text,
                                out->citations,
                                out->thinking,
                                out->mode,
                                out->model[0] ? out->model : NULL,
                                out->latency_ms,
                                out->prompt_tokens,
                                out->completion_tokens};
        struct buf ferr = BUF_INIT;
        if (conv_msg_finish(d, uid, out->msg_id, &f, &ferr) != RC_OK)
            log_warn("agent: the answer was not stored: %s", buf_str(&ferr));
        buf_release(&ferr);
    }
    audit_run(rt, rq, out->mode, out->citations);
    rc = RC_OK;
out:
    if (rc && out->msg_id && d) {
        struct conv_finish f = {"failed", "", NULL, NULL, "none", NULL, now_ms() - t0, -1, -1};
        (void)conv_msg_finish(d, uid, out->msg_id, &f, NULL);
    }
    /* the trace: one row per run that got as far as a question */
    if (d && masked_q) {
        const char *mode = rc ? "error" : out->mode ? out->mode : "error";
        struct trace_row t = {masked_q,
                              mode,
                              rc ? "failed" : status,
                              !rc && strcmp(mode, "none") != 0 && strcmp(mode, "blocked") != 0 &&
                                  strcmp(mode, "error") != 0,
                              now_ms() - t0,
                              out->prompt_tokens > 0 ? out->prompt_tokens : -1,
                              out->completion_tokens > 0 ? out->completion_tokens : -1,
                              out->msg_id};
        int64_t tid = 0;
        if (trace_write(d, rq, &t, &steps, &tid) != RC_OK)
            log_warn("agent: the trace was not written");
        if (trace_id)
            *trace_id = tid;
    }
    run_end(run);
    conv_release(&conv);
    conv_history_release(&hist);
    buf_release(&st.shown);
    buf_release(&st.thinking);
    safety_stream_free(st.filter);
    pii_map_free(map);
    steps_release(&steps);
    msgs_release(&ms);
    json_decref(tools);
    json_decref(sources);
    free(tools_text);
    free(params);
    free(question);
    free(masked_q);
    return rc;
}

/* ---- traces ---- */

static json_t *trace_row_json(sqlite3_stmt *st)
{
    char *q = db_col_str(st, 7), *mode = db_col_str(st, 8), *status = db_col_str(st, 10);
    json_t *j = json_pack(
        "{s:I,s:I,s:i,s:I,s:I,s:I,s:I,s:s,s:s,s:b,s:s,s:i,s:f,s:I,s:I,s:I}", "id",
        (json_int_t)sqlite3_column_int64(st, 0), "agent_id",
        (json_int_t)sqlite3_column_int64(st, 1), "version", sqlite3_column_int(st, 2), "user_id",
        (json_int_t)sqlite3_column_int64(st, 3), "conv_id", (json_int_t)sqlite3_column_int64(st, 4),
        "message_id", (json_int_t)sqlite3_column_int64(st, 5), "eval_run_id",
        (json_int_t)sqlite3_column_int64(st, 6), "question", q ? q : "", "mode", mode ? mode : "",
        "answered", sqlite3_column_int(st, 9), "status", status ? status : "", "nsteps",
        sqlite3_column_int(st, 11), "latency_ms", sqlite3_column_double(st, 12), "prompt_tokens",
        (json_int_t)sqlite3_column_int64(st, 13), "completion_tokens",
        (json_int_t)sqlite3_column_int64(st, 14), "created_at",
        (json_int_t)sqlite3_column_int64(st, 15));
    free(q);
    free(mode);
    free(status);
    return j;
}

#define TRACE_COLS                                                                                 \
    "id,agent_id,version,user_id,conv_id,message_id,eval_run_id,question,mode,answered,status,"    \
    "steps,latency_ms,prompt_tokens,completion_tokens,created_at"

int agent_trace_json(struct db_conn *d, int64_t agent_id, int64_t trace_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st =
        db_stmt(d->cache, "SELECT " TRACE_COLS " FROM agent_traces WHERE id=? AND agent_id=?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, trace_id);
    sqlite3_bind_int64(st, 2, agent_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE)
        return RC_NOT_FOUND;
    if (s != SQLITE_ROW)
        return RC_DB;
    json_t *j = trace_row_json(st);
    sqlite3_reset(st);
    json_t *steps = json_array();
    st = db_stmt(d->cache, "SELECT seq,kind,tool,arguments,result_bytes,latency_ms,ok,error "
                           "FROM agent_trace_steps WHERE trace_id=? ORDER BY seq");
    if (!st) {
        json_decref(j);
        json_decref(steps);
        return RC_DB;
    }
    sqlite3_bind_int64(st, 1, trace_id);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        char *kind = db_col_str(st, 1), *tool = db_col_str(st, 2), *args = db_col_str(st, 3),
             *error = db_col_str(st, 7);
        (void)json_array_append_new(
            steps,
            json_pack("{s:i,s:s,s:s,s:s,s:I,s:f,s:b,s:s}", "seq", sqlite3_column_int(st, 0), "kind",
                      kind ? kind : "", "tool", tool ? tool : "", "arguments", args ? args : "",
                      "result_bytes", (json_int_t)sqlite3_column_int64(st, 4), "latency_ms",
                      sqlite3_column_double(st, 5), "ok", sqlite3_column_int(st, 6), "error",
                      error ? error : ""));
        free(kind);
        free(tool);
        free(args);
        free(error);
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        json_decref(j);
        json_decref(steps);
        return RC_DB;
    }
    (void)json_object_set_new(j, "steps", steps);
    *out = j;
    return RC_OK;
}

int agent_traces_list(struct db_conn *d, int64_t agent_id, int64_t limit, int64_t offset,
                      json_t **out)
{
    *out = NULL;
    if (limit == 0)
        limit = 50;
    if (limit < 1 || limit > TRACE_PAGE_MAX || offset < 0)
        return RC_INVALID;
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT count(*) FROM agent_traces WHERE agent_id=?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return RC_DB;
    }
    int64_t total = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    st = db_stmt(d->cache, "SELECT " TRACE_COLS " FROM agent_traces WHERE agent_id=? "
                           "ORDER BY id DESC LIMIT ? OFFSET ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, agent_id);
    sqlite3_bind_int64(st, 2, limit);
    sqlite3_bind_int64(st, 3, offset);
    json_t *arr = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        (void)json_array_append_new(arr, trace_row_json(st));
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        json_decref(arr);
        return RC_DB;
    }
    *out = json_pack("{s:o,s:I,s:I,s:I}", "traces", arr, "total", (json_int_t)total, "limit",
                     (json_int_t)limit, "offset", (json_int_t)offset);
    return RC_OK;
}
