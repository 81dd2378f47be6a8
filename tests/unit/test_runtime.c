/* Tests for src/agents/runtime.c against the fake model (tests/fake_model.py,
 * modes agent / agent_loop / agent_slow / fail): the tool-calling loop and
 * its trace, the KB permission intersection of kb_search, the step and time
 * limits, the extractive fallbacks, PII masking both ways, conversations,
 * stop, and the trace listing. */
#include "test.h"

#include "agents/agent.h"
#include "agents/runtime.h"
#include "agents/spec.h"
#include "assist/conv.h"
#include "assist/safety.h"
#include "auth/acl.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/rc.h"
#include "common/util.h"
#include "fake_model.h"
#include "kb/kb.h"
#include "llm/gateway.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_CARD "11010519491231002X"

static const char DOC_A[] =
    "# 柜面操作手册\n\n"
    "第一条 个人客户办理挂失，应当出具本人有效证件，挂失止付有效期七日。\n\n"
    "第二条 客户 " ID_CARD " 的账户已于三月冻结，解冻须经支行行长审批。\n";
static const char DOC_B[] = "# 内部机密办法\n\n"
                            "第一条 挂失业务的机密风控阈值为绝密数字九九八八七七，不得外传。\n";

struct rfx {
    struct config cfg;
    struct kb_engine *e;
    struct kb_conn *c;
    struct gw *gw;
    const struct fake_model *fm;
    struct auth_principal who; /* may read KB A only */
    int64_t kb_a, kb_b;
    struct agent agent;
    struct agent_version ver;
    struct agent_runtime *rt;
};

static int64_t sql_int(struct rfx *f, const char *q, int64_t a)
{
    sqlite3 *db = kb_conn_store(f->c)->db;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static int exec(struct rfx *f, const char *q)
{
    return sqlite3_exec(kb_conn_store(f->c)->db, q, NULL, NULL, NULL) == SQLITE_OK ? RC_OK : RC_DB;
}

/* The spec of the test agent over KBs A and B (tools as given). */
static int set_spec(struct rfx *f, const char *tools, int max_steps, int max_seconds)
{
    char js[512];
    snprintf(js, sizeof js,
             "{\"prompt\":\"你是柜面业务助手。\",\"kbs\":[%lld,%lld],\"tools\":%s,"
             "\"max_steps\":%d,\"max_seconds\":%d}",
             (long long)f->kb_a, (long long)f->kb_b, tools, max_steps, max_seconds);
    spec_release(&f->ver.spec);
    struct buf err = BUF_INIT;
    int rc = spec_parse(js, &f->ver.spec, &err);
    if (rc)
        test_fail(__FILE__, __LINE__, "spec: %s", buf_str(&err));
    buf_release(&err);
    return rc;
}

/* A store with KBs A (readable by the user) and B (not), the fake model as
 * the default chat model, and agent "helper" (id 1, version 1). want_model
 * 0: no gateway at all. Returns 0 to skip (no python3). */
static int setup(struct rfx *f, const char *name, const char *mode, int want_model)
{
    struct buf err = BUF_INIT;
    memset(f, 0, sizeof *f);
    f->fm = fake_model_shared(mode, 0, 0);
    if (!f->fm)
        return 0;
    fake_model_clear(f->fm);
    unsetenv("ATRIUM_CHAT_URL");
    unsetenv("ATRIUM_EMBED_URL");
    unsetenv("ATRIUM_RERANK_URL");
    int rc = config_load(&f->cfg, NULL, &err);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rt-%s", test_tmpdir(), name);
    if (!rc)
        rc = config_set(&f->cfg, "data_dir", dir, &err);
    if (!rc)
        rc = config_set(&f->cfg, "answer_min_score", "0.2", &err);
    if (!rc && want_model) {
        rc = config_set(&f->cfg, "chat_url", f->fm->base_url, &err);
        if (!rc)
            rc = config_set(&f->cfg, "chat_model", "fake-chat", &err);
    }
    f->cfg.connect_timeout_ms = 1000;
    f->cfg.first_token_timeout_ms = 3000;
    f->cfg.total_timeout_ms = 6000;
    if (!rc)
        rc = kb_engine_open(&f->cfg, &f->e, &err);
    if (!rc)
        rc = kb_conn_open(f->e, &f->c, &err);
    if (!rc && want_model)
        rc = gw_new(&f->cfg, kb_engine_db_path(f->e), &f->gw, &err);
    struct kb_info a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (!rc)
        rc = kb_create(f->c, "柜面", &a, &err);
    if (!rc)
        rc = kb_create(f->c, "机密", &b, &err);
    f->kb_a = a.id;
    f->kb_b = b.id;
    kb_info_release(&a);
    kb_info_release(&b);
    struct kb_ingest_report rep;
    if (!rc) {
        memset(&rep, 0, sizeof rep);
        rc = kb_ingest_bytes(f->c, f->kb_a, "手册.md", DOC_A, strlen(DOC_A), &rep);
        kb_ingest_report_release(&rep);
    }
    if (!rc) {
        memset(&rep, 0, sizeof rep);
        rc = kb_ingest_bytes(f->c, f->kb_b, "机密.md", DOC_B, strlen(DOC_B), &rep);
        kb_ingest_report_release(&rep);
    }
    if (!rc)
        rc = exec(f, "INSERT INTO users(username, created_at, updated_at) VALUES ('teller',0,0);"
                     "INSERT INTO agents(name,title,status,published_version,created_at,"
                     "updated_at) VALUES('helper','柜面助手','published',1,0,0);");
    f->who.user_id = sql_int(f, "SELECT id FROM users WHERE username='teller' AND ?1=?1", 0);
    snprintf(f->who.username, sizeof f->who.username, "teller");
    f->who.via = AUTH_VIA_SESSION;
    int64_t gid = 0;
    if (!rc)
        rc = acl_grant(kb_conn_store(f->c), f->kb_a, ACL_SUBJ_USER, "teller", ACL_READ, &gid, &err);
    f->agent.id = sql_int(f, "SELECT id FROM agents WHERE name='helper' AND ?1=?1", 0);
    f->agent.name = strdup("helper");
    f->agent.status = strdup("published");
    f->agent.published_version = 1;
    f->ver.agent_id = f->agent.id;
    f->ver.version = 1;
    if (!rc)
        rc = set_spec(f, "[\"kb_search\",\"calculator\"]", 4, 30);
    if (!rc)
        rc = agent_runtime_new(&f->cfg, f->gw, NULL, NULL, &f->rt, &err);
    if (rc) {
        test_fail(__FILE__, __LINE__, "setup %s: %s", name, buf_str(&err));
        buf_release(&err);
        return 0;
    }
    buf_release(&err);
    return 1;
}

static void teardown(struct rfx *f)
{
    agent_runtime_free(f->rt);
    spec_release(&f->ver.spec);
    free(f->agent.name);
    free(f->agent.status);
    gw_free(f->gw);
    kb_conn_close(f->c);
    kb_engine_close(f->e);
    config_release(&f->cfg);
}

/* Records what the runtime streamed. */
struct rec {
    struct buf delta, notice;
    int ndelta;
    int stop_at_notice; /* the client goes away at the first notice */
};

static int rec_cb(void *ctx, enum assist_event ev, const char *p, size_t n)
{
    struct rec *r = ctx;
    if (ev == AE_DELTA) {
        (void)buf_add(&r->delta, p, n);
        r->ndelta++;
    } else if (ev == AE_NOTICE) {
        (void)buf_add(&r->notice, p, n);
        (void)buf_adds(&r->notice, "\n");
        return r->stop_at_notice;
    }
    return 0;
}

static void rec_release(struct rec *r)
{
    buf_release(&r->delta);
    buf_release(&r->notice);
}

static int control(struct rfx *f, const char *json)
{
    return fake_model_http(f->fm, "POST", "/control", json, NULL) == 200;
}

static int run(struct rfx *f, const char *q, int no_model, struct rec *r, struct assist_answer *ans,
               int64_t *tid)
{
    struct agent_run_request rq;
    memset(&rq, 0, sizeof rq);
    rq.who = &f->who;
    rq.ip = "127.0.0.1";
    rq.agent = &f->agent;
    rq.version = &f->ver;
    rq.question = q;
    rq.no_model = no_model;
    struct buf err = BUF_INIT;
    int rc = agent_run(f->rt, f->c, &rq, rec_cb, r, ans, tid, &err);
    if (rc)
        test_fail(__FILE__, __LINE__, "agent_run: %d %s", rc, buf_str(&err));
    buf_release(&err);
    return rc;
}

/* The recorded chat requests as one JSON text. */
static char *requests_text(struct rfx *f)
{
    json_t *reqs = fake_model_requests(f->fm, "/v1/chat/completions");
    char *s = reqs ? json_dumps(reqs, JSON_COMPACT) : NULL;
    json_decref(reqs);
    return s ? s : strdup("");
}

static json_t *trace(struct rfx *f, int64_t tid)
{
    json_t *j = NULL;
    CHECK_INT(agent_trace_json(kb_conn_store(f->c), f->agent.id, tid, &j), RC_OK);
    return j;
}

static const char *step_str(json_t *t, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(t, "steps"), i), key));
}

TEST(runtime_tool_loop_calculator_then_answer)
{
    struct rfx f;
    if (!setup(&f, "loop", "agent", 1))
        return;
    CHECK(control(&f, "{\"tool\":\"calculator\",\"arguments\":{\"expression\":\"12.5*4\"}}"));
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "请计算12.5乘以4", 0, &r, &ans, &tid), RC_OK);
    CHECK_STR(ans.mode, "model");
    CHECK_CONTAINS(ans.text, "根据工具结果");
    CHECK_CONTAINS(ans.text, "50");
    CHECK_STR(buf_str(&r.delta), ans.text);
    CHECK_CONTAINS(buf_str(&r.notice), "正在使用工具：计算器 / using tool: calculator");
    CHECK(!strstr(buf_str(&r.notice), "12.5")); /* never the arguments */
    CHECK(tid > 0);
    json_t *t = trace(&f, tid);
    CHECK_INT(json_array_size(json_object_get(t, "steps")), 3);
    CHECK_STR(step_str(t, 0, "kind"), "model");
    CHECK_STR(step_str(t, 1, "kind"), "tool");
    CHECK_STR(step_str(t, 1, "tool"), "calculator");
    CHECK_CONTAINS(step_str(t, 1, "arguments"), "12.5*4");
    CHECK_STR(step_str(t, 2, "kind"), "model");
    CHECK_STR(json_string_value(json_object_get(t, "status")), "done");
    CHECK_STR(json_string_value(json_object_get(t, "mode")), "model");
    CHECK(json_is_true(json_object_get(t, "answered")));
    CHECK(json_integer_value(
              json_object_get(json_array_get(json_object_get(t, "steps"), 1), "result_bytes")) > 0);
    json_decref(t);
    /* the second request carried the tool's result back to the model */
    json_t *reqs = fake_model_requests(f.fm, "/v1/chat/completions");
    CHECK_INT(json_array_size(reqs), 2);
    json_t *msgs = json_object_get(json_array_get(reqs, 1), "messages");
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    CHECK_STR(json_string_value(json_object_get(last, "role")), "tool");
    CHECK_CONTAINS(json_string_value(json_object_get(last, "content")), "50");
    CHECK(json_array_size(json_object_get(json_array_get(reqs, 0), "tools")) >= 2);
    const char *sys = json_string_value(json_object_get(
        json_array_get(json_object_get(json_array_get(reqs, 0), "messages"), 0), "content"));
    CHECK_CONTAINS(sys, "你是柜面业务助手。");
    CHECK_CONTAINS(sys, "[1]");
    json_decref(reqs);
    assist_answer_release(&ans);
    rec_release(&r);
    teardown(&f);
}

TEST(runtime_kb_search_only_readable_kbs)
{
    struct rfx f;
    if (!setup(&f, "perm", "agent", 1))
        return;
    CHECK_INT(kb_readable(f.c, &f.who, f.kb_a), RC_OK);
    CHECK(kb_readable(f.c, &f.who, f.kb_b) != RC_OK);
    CHECK(control(&f, "{\"tool\":\"kb_search\",\"arguments\":{\"query\":\"挂失\"}}"));
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "挂失有什么规定？", 0, &r, &ans, &tid), RC_OK);
    CHECK_STR(ans.mode, "model");
    CHECK_CONTAINS(buf_str(&r.notice), "知识检索");
    char *sent = requests_text(&f);
    CHECK_CONTAINS(sent, "挂失止付");     /* A's text reached the model */
    CHECK(!strstr(sent, "九九八八七七")); /* B's never did */
    CHECK(!strstr(sent, "机密风控"));
    free(sent);
    /* the citations are A's */
    CHECK(json_array_size(ans.citations) >= 1);
    size_t i;
    json_t *c;
    json_array_foreach(ans.citations, i, c)
    {
        CHECK_INT(json_integer_value(json_object_get(c, "kb_id")), f.kb_a);
    }
    /* without the model, the extractive answer keeps to A as well */
    assist_answer_release(&ans);
    rec_release(&r);
    struct rec r2 = {BUF_INIT, BUF_INIT, 0, 0};
    CHECK_INT(run(&f, "挂失 机密 风控阈值", 1, &r2, &ans, &tid), RC_OK);
    CHECK(!strstr(ans.text, "九九八八七七"));
    assist_answer_release(&ans);
    rec_release(&r2);
    teardown(&f);
}

TEST(runtime_step_limit)
{
    struct rfx f;
    if (!setup(&f, "steps", "agent_loop", 1))
        return;
    CHECK_INT(set_spec(&f, "[\"calculator\"]", 2, 30), RC_OK);
    CHECK(control(&f, "{\"tool\":\"calculator\",\"arguments\":{\"expression\":\"1+1\"}}"));
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "挂失止付有效期多久？", 0, &r, &ans, &tid), RC_OK);
    CHECK_CONTAINS(ans.notice, "步骤");
    CHECK_CONTAINS(buf_str(&r.notice), "step limit");
    CHECK(strcmp(ans.mode, "extractive") == 0 || strcmp(ans.mode, "none") == 0);
    json_t *reqs = fake_model_requests(f.fm, "/v1/chat/completions");
    CHECK_INT(json_array_size(reqs), 2);
    json_decref(reqs);
    json_t *t = trace(&f, tid);
    CHECK_STR(json_string_value(json_object_get(t, "status")), "step_limit");
    CHECK_INT(json_array_size(json_object_get(t, "steps")), 4); /* 2 turns + 2 tool calls */
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    teardown(&f);
}

TEST(runtime_time_limit)
{
    struct rfx f;
    if (!setup(&f, "time", "agent_slow", 1))
        return;
    CHECK_INT(set_spec(&f, "[\"calculator\"]", 20, 1), RC_OK);
    CHECK(control(&f, "{\"delay_ms\":600,\"tool\":\"calculator\","
                      "\"arguments\":{\"expression\":\"2+2\"}}"));
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    double t0 = now_ms();
    CHECK_INT(run(&f, "挂失止付有效期多久？", 0, &r, &ans, &tid), RC_OK);
    CHECK(now_ms() - t0 < 4000);
    CHECK_CONTAINS(ans.notice, "时间");
    json_t *t = trace(&f, tid);
    CHECK_STR(json_string_value(json_object_get(t, "status")), "time_limit");
    CHECK(json_array_size(json_object_get(t, "steps")) < 20);
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    teardown(&f);
}

TEST(runtime_stalled_model_bounded_by_max_seconds)
{
    /* A model that sends its headers and then nothing: the agent's
     * max_seconds (1 s) ends the wait, not the gateway's first-token
     * timeout (3 s in this fixture). */
    struct rfx f;
    if (!setup(&f, "stall", "stall", 1))
        return;
    CHECK_INT(set_spec(&f, "[\"calculator\"]", 4, 1), RC_OK);
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    double t0 = now_ms();
    CHECK_INT(run(&f, "挂失止付有效期多久？", 0, &r, &ans, &tid), RC_OK);
    double took = now_ms() - t0;
    CHECK(took >= 900 && took < 2500);
    CHECK_CONTAINS(ans.notice, "时间");
    json_t *t = trace(&f, tid);
    CHECK_STR(json_string_value(json_object_get(t, "status")), "time_limit");
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    teardown(&f);
}

TEST(runtime_model_down_extractive_with_notice)
{
    struct rfx f;
    if (!setup(&f, "down", "fail", 1))
        return;
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "挂失止付的有效期是多久？", 0, &r, &ans, &tid), RC_OK);
    CHECK_STR(ans.mode, "extractive");
    CHECK_CONTAINS(ans.text, "七日");
    CHECK_CONTAINS(ans.notice, "摘录");
    CHECK_CONTAINS(buf_str(&r.notice), "extractive");
    CHECK(json_array_size(ans.citations) >= 1);
    json_t *t = trace(&f, tid);
    CHECK_STR(json_string_value(json_object_get(t, "mode")), "extractive");
    CHECK(json_is_true(json_object_get(t, "answered")));
    CHECK_STR(step_str(t, 0, "kind"), "model");
    CHECK(json_is_false(json_object_get(json_array_get(json_object_get(t, "steps"), 0), "ok")));
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    teardown(&f);
}

TEST(runtime_no_model_extractive_and_none)
{
    struct rfx f;
    if (!setup(&f, "nomodel", "ok", 0))
        return;
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "挂失止付的有效期是多久？", 0, &r, &ans, &tid), RC_OK);
    CHECK_STR(ans.mode, "extractive");
    CHECK_CONTAINS(ans.text, "七日");
    CHECK(ans.notice == NULL);
    CHECK_INT(r.ndelta, 1);
    json_t *t = trace(&f, tid);
    CHECK_INT(json_array_size(json_object_get(t, "steps")), 0);
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    struct rec r2 = {BUF_INIT, BUF_INIT, 0, 0};
    CHECK_INT(run(&f, "外汇期权的希腊字母怎么对冲？", 0, &r2, &ans, &tid), RC_OK);
    CHECK_STR(ans.mode, "none");
    CHECK_CONTAINS(ans.text, "抱歉");
    t = trace(&f, tid);
    CHECK(json_is_false(json_object_get(t, "answered")));
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r2);
    teardown(&f);
}

TEST(runtime_pii_masked_for_model_unmasked_for_tool)
{
    struct rfx f;
    if (!setup(&f, "pii", "agent", 1))
        return;
    /* the model asks for the placeholder it was given: the tool must search
     * the real number, and its result goes back masked */
    CHECK(control(&f, "{\"tool\":\"kb_search\",\"arguments\":{\"query\":\"[身份证1] 冻结\"}}"));
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "客户" ID_CARD "的账户为什么冻结？", 0, &r, &ans, &tid), RC_OK);
    char *sent = requests_text(&f);
    CHECK(!strstr(sent, ID_CARD));
    CHECK_CONTAINS(sent, "[身份证1]");
    CHECK_CONTAINS(sent, "支行行长审批"); /* the tool found the document */
    free(sent);
    CHECK_STR(ans.mode, "model");
    CHECK_CONTAINS(ans.text, ID_CARD); /* the user reads their data back */
    json_t *t = trace(&f, tid);
    CHECK(!strstr(step_str(t, 1, "arguments"), ID_CARD));
    CHECK(!strstr(json_string_value(json_object_get(t, "question")), ID_CARD));
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    teardown(&f);
}

TEST(runtime_conversation_history_and_traces_list)
{
    struct rfx f;
    if (!setup(&f, "conv", "agent", 1))
        return;
    CHECK(control(&f, "{\"tool\":\"calculator\",\"arguments\":{\"expression\":\"3*3\"}}"));
    struct db_conn *d = kb_conn_store(f.c);
    struct buf err = BUF_INIT;
    int64_t conv = 0, other = 0;
    struct conv_new cn = {.assistant = "agent:helper"}, plain = {0};
    CHECK_INT(conv_create(d, f.who.user_id, &cn, &conv, &err), RC_OK);
    CHECK_INT(conv_create(d, f.who.user_id, &plain, &other, &err), RC_OK);
    struct agent_run_request rq;
    memset(&rq, 0, sizeof rq);
    rq.who = &f.who;
    rq.agent = &f.agent;
    rq.version = &f.ver;
    rq.question = "三乘三等于几？";
    rq.conv_id = conv;
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(agent_run(f.rt, f.c, &rq, NULL, NULL, &ans, &tid, &err), RC_OK);
    CHECK(ans.msg_id > 0 && ans.user_msg_id > 0);
    CHECK_CONTAINS(ans.text, "9");
    struct conv_msg m;
    CHECK_INT(conv_msg_get(d, f.who.user_id, ans.msg_id, &m), RC_OK);
    CHECK_STR(m.status, "done");
    CHECK_STR(m.content, ans.text);
    conv_msg_release(&m);
    CHECK_INT(sql_int(&f, "SELECT conv_id FROM agent_traces WHERE id=?1", tid), conv);
    assist_answer_release(&ans);
    /* the second question carries the first turn as history */
    fake_model_clear(f.fm);
    rq.question = "再乘以二呢？";
    CHECK_INT(agent_run(f.rt, f.c, &rq, NULL, NULL, &ans, &tid, &err), RC_OK);
    char *sent = requests_text(&f);
    CHECK_CONTAINS(sent, "三乘三等于几");
    free(sent);
    assist_answer_release(&ans);
    /* regenerate answers the last question again */
    rq.regenerate = 1;
    rq.question = NULL;
    CHECK_INT(agent_run(f.rt, f.c, &rq, NULL, NULL, &ans, &tid, &err), RC_OK);
    CHECK_STR(ans.query, "再乘以二呢？");
    assist_answer_release(&ans);
    /* a conversation of another assistant is refused */
    rq.regenerate = 0;
    rq.question = "你好";
    rq.conv_id = other;
    CHECK_INT(agent_run(f.rt, f.c, &rq, NULL, NULL, &ans, &tid, &err), RC_INVALID);
    assist_answer_release(&ans);
    /* no one is running: stop finds nothing */
    CHECK_INT(agent_run_stop(f.who.user_id, conv), RC_NOT_FOUND);
    json_t *list = NULL;
    CHECK_INT(agent_traces_list(d, f.agent.id, 2, 0, &list), RC_OK);
    CHECK_INT(json_integer_value(json_object_get(list, "total")), 3);
    CHECK_INT(json_array_size(json_object_get(list, "traces")), 2);
    CHECK(json_object_get(json_array_get(json_object_get(list, "traces"), 0), "steps") == NULL);
    json_decref(list);
    CHECK_INT(agent_traces_list(d, f.agent.id, 500, 0, &list), RC_INVALID);
    json_t *j = NULL;
    CHECK_INT(agent_trace_json(d, f.agent.id + 1, tid, &j), RC_NOT_FOUND);
    buf_release(&err);
    teardown(&f);
}

TEST(runtime_rejects_bad_input)
{
    struct rfx f;
    if (!setup(&f, "bad", "ok", 0))
        return;
    struct agent_run_request rq;
    memset(&rq, 0, sizeof rq);
    rq.who = &f.who;
    rq.agent = &f.agent;
    rq.version = &f.ver;
    rq.question = "";
    struct assist_answer ans;
    struct buf err = BUF_INIT;
    CHECK_INT(agent_run(f.rt, f.c, &rq, NULL, NULL, &ans, NULL, &err), RC_INVALID);
    assist_answer_release(&ans);
    rq.question = "\xff\xfe";
    CHECK_INT(agent_run(f.rt, f.c, &rq, NULL, NULL, &ans, NULL, &err), RC_INVALID);
    assist_answer_release(&ans);
    rq.agent = NULL;
    rq.question = "你好";
    CHECK_INT(agent_run(f.rt, f.c, &rq, NULL, NULL, &ans, NULL, &err), RC_INVALID);
    assist_answer_release(&ans);
    CHECK_STR(agent_tool_display_name("calculator"), "计算器 / calculator");
    CHECK_STR(agent_tool_display_name("rm -rf"), "工具 / tool");
    buf_release(&err);
    teardown(&f);
}

TEST(runtime_stopped_by_the_client)
{
    struct rfx f;
    if (!setup(&f, "stop", "agent", 1))
        return;
    CHECK(control(&f, "{\"tool\":\"calculator\",\"arguments\":{\"expression\":\"1+2\"}}"));
    struct rec r = {BUF_INIT, BUF_INIT, 0, 1};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "一加二等于几？", 0, &r, &ans, &tid), RC_OK);
    CHECK(ans.stopped);
    json_t *reqs = fake_model_requests(f.fm, "/v1/chat/completions");
    CHECK_INT(json_array_size(reqs), 1); /* no second turn after the stop */
    json_decref(reqs);
    json_t *t = trace(&f, tid);
    CHECK_STR(json_string_value(json_object_get(t, "status")), "stopped");
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    teardown(&f);
}

TEST(runtime_sensitive_words_block_without_the_model)
{
    struct rfx f;
    if (!setup(&f, "words", "agent", 1))
        return;
    struct safety *sf = safety_new(0, 1);
    CHECK_INT(safety_word_add(kb_conn_store(f.c), sf, "洗钱通道", SAFETY_BLOCK), RC_OK);
    agent_runtime_free(f.rt);
    struct buf err = BUF_INIT;
    CHECK_INT(agent_runtime_new(&f.cfg, f.gw, sf, NULL, &f.rt, &err), RC_OK);
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "怎么开一个洗钱通道？", 0, &r, &ans, &tid), RC_OK);
    CHECK_STR(ans.mode, "blocked");
    CHECK_CONTAINS(buf_str(&r.delta), "抱歉");
    json_t *reqs = fake_model_requests(f.fm, "/v1/chat/completions");
    CHECK_INT(json_array_size(reqs), 0);
    json_decref(reqs);
    json_t *t = trace(&f, tid);
    CHECK(json_is_false(json_object_get(t, "answered")));
    CHECK_STR(json_string_value(json_object_get(t, "mode")), "blocked");
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    buf_release(&err);
    teardown(&f);
    safety_free(sf);
}

TEST(runtime_model_garbage_falls_back)
{
    struct rfx f;
    if (!setup(&f, "garbage", "garbage", 1))
        return;
    struct rec r = {BUF_INIT, BUF_INIT, 0, 0};
    struct assist_answer ans;
    int64_t tid = 0;
    CHECK_INT(run(&f, "大额现金支取要预约吗？", 0, &r, &ans, &tid), RC_OK);
    CHECK(strcmp(ans.mode, "extractive") == 0 || strcmp(ans.mode, "none") == 0);
    CHECK(ans.notice != NULL);
    CHECK(!strstr(ans.text, "not json"));
    json_t *t = trace(&f, tid);
    CHECK_STR(json_string_value(json_object_get(t, "status")), "done");
    CHECK(json_is_false(json_object_get(json_array_get(json_object_get(t, "steps"), 0), "ok")));
    json_decref(t);
    assist_answer_release(&ans);
    rec_release(&r);
    teardown(&f);
}
