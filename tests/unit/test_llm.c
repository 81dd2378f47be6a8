/* Tests for src/llm: the SSE parser on hand-made streams split at every byte,
 * and the model client against tests/fake_model.py (streaming, reasoning,
 * tool calls, usage, failures, timeouts, cancel, embeddings, rerank), and
 * the gateway's thread priority. */
#define _GNU_SOURCE /* gettid */
#include "test.h"

#include "fake_model.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"
#include "llm/llm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

/* The shared fake server (tests/unit/fake_model.h) in `mode`, or NULL
 * (skip: python3 missing; a start failure is recorded as a test failure). */
static const struct fake_model *fake(const char *mode, int tokens, int delay_ms)
{
    return fake_model_shared(mode, tokens, delay_ms);
}

#define API_KEY "sk-test-secret-0123456789"

static struct llm_endpoint endpoint(const struct fake_model *fm)
{
    struct llm_endpoint ep = {fm->base_url, "fake-chat", API_KEY, 1000, 2000, 5000};
    return ep;
}

/* Collects deltas: text per kind, the order of kinds, and can cancel. */
struct deltas {
    struct buf content, reasoning;
    char order[256]; /* 'c' or 'r' per call */
    size_t ncalls;
    int cancel_after; /* cancel on this call (1-based); 0 never */
};

static int on_delta(void *ctx, enum llm_delta_kind kind, const char *p, size_t n)
{
    struct deltas *d = ctx;
    if (d->ncalls < sizeof d->order - 1)
        d->order[d->ncalls] = kind == LLM_CONTENT ? 'c' : 'r';
    d->ncalls++;
    CHECK(buf_add(kind == LLM_CONTENT ? &d->content : &d->reasoning, p, n) == RC_OK);
    return d->cancel_after && d->ncalls >= (size_t)d->cancel_after;
}

static void deltas_release(struct deltas *d)
{
    buf_release(&d->content);
    buf_release(&d->reasoning);
}

/* ------------------------------------------------------------------------
 * SSE parser
 * ------------------------------------------------------------------------ */

/* Events joined with '|' so one string compares a whole parse. */
static int join_event(void *ctx, const char *p, size_t n)
{
    struct buf *b = ctx;
    CHECK(p[n] == '\0');
    if (buf_add(b, p, n) != RC_OK || buf_addc(b, '|') != RC_OK)
        return RC_TOO_BIG;
    return 0;
}

/* A stream with every feature: comments, other fields, CRLF, a lone CR,
 * "data:" without the space, multi-line data, CJK split anywhere, [DONE]. */
static const char sample[] = ": keep-alive\n"
                             "event: message\n"
                             "id: 7\n"
                             "data: {\"a\":\"账户\"}\n"
                             "\n"
                             "data:no-space\r\n"
                             "\r\n"
                             "data: line one\n"
                             "data: line two\n"
                             "\n"
                             "data: crlf one\r\n"
                             "data: crlf two\r\n"
                             "\r\n"
                             "retry: 100\n"
                             "data: lone cr\r"
                             "\r"
                             "data:  two spaces\n"
                             "\n"
                             "data: [DONE]\n"
                             "\n";
static const char sample_events[] = "{\"a\":\"账户\"}|no-space|line one\nline two|"
                                    "crlf one\ncrlf two|lone cr|"
                                    " two spaces|[DONE]|";

TEST(sse_whole_stream)
{
    struct buf out = BUF_INIT;
    struct sse_parser s;
    sse_init(&s, join_event, &out);
    CHECK_INT(sse_feed(&s, sample, sizeof sample - 1), RC_OK);
    CHECK_INT(sse_finish(&s), RC_OK);
    CHECK_STR(buf_str(&out), sample_events);
    sse_release(&s);
    buf_release(&out);
}

TEST(sse_split_at_every_byte)
{
    size_t n = sizeof sample - 1;
    for (size_t k = 0; k <= n; k++) {
        struct buf out = BUF_INIT;
        struct sse_parser s;
        sse_init(&s, join_event, &out);
        CHECK_INT(sse_feed(&s, sample, k), RC_OK);
        CHECK_INT(sse_feed(&s, sample + k, n - k), RC_OK);
        CHECK_INT(sse_finish(&s), RC_OK);
        if (strcmp(buf_str(&out), sample_events) != 0)
            test_fail(__FILE__, __LINE__, "split at %zu gave \"%s\"", k, buf_str(&out));
        sse_release(&s);
        buf_release(&out);
    }
    /* And one byte at a time. */
    struct buf out = BUF_INIT;
    struct sse_parser s;
    sse_init(&s, join_event, &out);
    for (size_t i = 0; i < n; i++)
        CHECK_INT(sse_feed(&s, sample + i, 1), RC_OK);
    CHECK_INT(sse_finish(&s), RC_OK);
    CHECK_STR(buf_str(&out), sample_events);
    sse_release(&s);
    buf_release(&out);
}

TEST(sse_fields_and_finish)
{
    struct buf out = BUF_INIT;
    struct sse_parser s;
    sse_init(&s, join_event, &out);
    /* A bare "data" field is an empty payload; other fields alone dispatch
     * nothing; a blank line with no data dispatches nothing; a final event
     * without its blank line comes out of sse_finish. */
    const char *in = "data\n\nevent: x\n\n\n\n:only a comment\n\ndata: tail\r";
    CHECK_INT(sse_feed(&s, in, strlen(in)), RC_OK);
    CHECK_STR(buf_str(&out), "|");
    CHECK_INT(sse_finish(&s), RC_OK);
    CHECK_STR(buf_str(&out), "|tail|");
    sse_release(&s);
    buf_release(&out);
}

static int stop_seven(void *ctx, const char *p, size_t n)
{
    (*(int *)ctx)++;
    return 7;
}

TEST(sse_callback_stops_and_caps)
{
    int calls = 0;
    struct sse_parser s;
    sse_init(&s, stop_seven, &calls);
    CHECK_INT(sse_feed(&s, "data: a\n\ndata: b\n\n", 18), 7);
    CHECK_INT(calls, 1);
    sse_release(&s);

    /* One line past 1 MB, with no newline ever. */
    size_t big = 1024 * 1024 + 16;
    char *p = malloc(big);
    memset(p, 'x', big);
    memcpy(p, "data: ", 6);
    sse_init(&s, stop_seven, &calls);
    int rc = RC_OK;
    for (size_t off = 0; off < big && rc == RC_OK; off += 4096)
        rc = sse_feed(&s, p + off, big - off < 4096 ? big - off : 4096);
    CHECK_INT(rc, RC_TOO_BIG);
    sse_release(&s);

    /* Many short data lines that add up to more than 1 MB in one event. */
    sse_init(&s, stop_seven, &calls);
    rc = RC_OK;
    for (int i = 0; i < 20000 && rc == RC_OK; i++)
        rc = sse_feed(&s, "data: 0123456789012345678901234567890123456789012345678901234\n", 62);
    CHECK_INT(rc, RC_TOO_BIG);
    CHECK_INT(calls, 1); /* nothing was dispatched */
    sse_release(&s);
    free(p);
}

/* ------------------------------------------------------------------------
 * Chat client against the fake model
 * ------------------------------------------------------------------------ */

TEST(fake_model_side_doors)
{
    const struct fake_model *fm = fake("ok", 0, 0);
    if (!fm)
        return;
    struct buf out = BUF_INIT;
    CHECK_INT(fake_model_http(fm, "GET", "/v1/models", NULL, &out), 200);
    CHECK_CONTAINS(buf_str(&out), "\"fake-chat\"");
    CHECK_INT(fake_model_http(fm, "POST", "/control", "{\"mode\":\"bogus\"}", NULL), 400);
    buf_reset(&out);
    CHECK_INT(fake_model_http(fm, "GET", "/control", NULL, &out), 200);
    CHECK_CONTAINS(buf_str(&out), "\"mode\": \"ok\"");
    CHECK_INT(fake_model_http(fm, "DELETE", "/requests", NULL, NULL), 200);
    buf_reset(&out);
    CHECK_INT(fake_model_http(fm, "GET", "/requests", NULL, &out), 200);
    CHECK_STR(buf_str(&out), "[]");
    buf_release(&out);
}

static const struct llm_msg grounded_msgs[] = {
    {.role = "system", .content = "只根据资料回答，并标注来源。"},
    {.role = "user",
     .content = "个人账户年费是多少？\n[1] 个人账户年费为10元。开户满一年后收取。\n"
                "[2] 对公账户另有规定。"},
};

TEST(llm_chat_streams_grounded_answer)
{
    const struct fake_model *fm = fake("ok", 0, 0);
    if (!fm)
        return;
    CHECK_INT(fake_model_http(fm, "DELETE", "/requests", NULL, NULL), 200);
    char base[80];
    snprintf(base, sizeof base, "%s/", fm->base_url); /* trailing slash must work too */
    struct llm_endpoint ep = endpoint(fm);
    ep.base_url = base;
    struct llm_result res;
    struct deltas d = {BUF_INIT, BUF_INIT, {0}, 0, 0};
    struct buf err = BUF_INIT;
    CHECK_INT(llm_chat(&ep, grounded_msgs, 2, on_delta, &d, &res, &err), RC_OK);
    CHECK_STR(res.content, "根据资料：个人账户年费为10元。[1]");
    CHECK_STR(buf_str(&d.content), res.content);
    CHECK(d.ncalls > 1); /* it really streamed */
    CHECK_STR(res.reasoning, "");
    CHECK_STR(res.finish_reason, "stop");
    CHECK(res.tool_calls == NULL);
    CHECK_INT(res.completion_tokens, 7);   /* the fake sends 3-character chunks */
    CHECK_INT(res.prompt_tokens, 14 + 49); /* characters, as the fake counts */
    CHECK(res.first_token_ms >= 0 && res.first_token_ms <= res.total_ms);
    CHECK_INT(res.cancelled, 0);
    CHECK_INT(err.len, 0);
    llm_result_release(&res);
    deltas_release(&d);

    /* What the server received. */
    struct buf reqs = BUF_INIT;
    CHECK_INT(fake_model_http(fm, "GET", "/requests", NULL, &reqs), 200);
    json_t *j = json_loads(buf_str(&reqs), 0, NULL);
    CHECK(json_is_array(j) && json_array_size(j) == 1);
    json_t *r0 = json_array_get(j, 0);
    json_t *body = json_object_get(r0, "body");
    CHECK_STR(json_string_value(json_object_get(r0, "path")), "/v1/chat/completions");
    CHECK_STR(json_string_value(json_object_get(r0, "authorization")), "Bearer " API_KEY);
    CHECK_STR(json_string_value(json_object_get(body, "model")), "fake-chat");
    CHECK(json_is_true(json_object_get(body, "stream")));
    CHECK(json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage")));
    json_t *m1 = json_array_get(json_object_get(body, "messages"), 1);
    CHECK_STR(json_string_value(json_object_get(m1, "role")), "user");
    CHECK_STR(json_string_value(json_object_get(m1, "content")), grounded_msgs[1].content);
    json_decref(j);
    buf_release(&reqs);
    buf_release(&err);
}

TEST(llm_chat_separates_reasoning)
{
    const struct fake_model *fm = fake("thinking", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    struct llm_msg m = {.role = "user", .content = "你好"};
    struct llm_result res;
    struct deltas d = {BUF_INIT, BUF_INIT, {0}, 0, 0};
    CHECK_INT(llm_chat(&ep, &m, 1, on_delta, &d, &res, NULL), RC_OK);
    CHECK_STR(res.reasoning, "让我想一想：先找到相关条款，再组织回答。");
    CHECK_STR(res.content, "这是测试模型的固定回答。This is the fake model's fixed reply.");
    CHECK_STR(buf_str(&d.reasoning), res.reasoning);
    CHECK_STR(buf_str(&d.content), res.content);
    /* All reasoning deltas come before the first content delta. */
    const char *first_c = strchr(d.order, 'c');
    CHECK(d.order[0] == 'r' && first_c && !strchr(first_c, 'r'));
    llm_result_release(&res);
    deltas_release(&d);
}

TEST(llm_chat_assembles_tool_calls)
{
    const struct fake_model *fm = fake("tools", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    struct llm_msg m = {.role = "user", .content = "查一下年费"};
    struct llm_result res;
    CHECK_INT(llm_chat(&ep, &m, 1, NULL, NULL, &res, NULL), RC_OK);
    CHECK_STR(res.content, "");
    CHECK_STR(res.finish_reason, "tool_calls");
    json_t *calls = res.tool_calls ? json_loads(res.tool_calls, 0, NULL) : NULL;
    CHECK(json_is_array(calls) && json_array_size(calls) == 1);
    json_t *c0 = json_array_get(calls, 0);
    json_t *fn = json_object_get(c0, "function");
    CHECK_STR(json_string_value(json_object_get(c0, "id")), "call_fake_1");
    CHECK_STR(json_string_value(json_object_get(fn, "name")), "search_kb");
    const char *argtext = json_string_value(json_object_get(fn, "arguments"));
    json_t *args = json_loads(argtext ? argtext : "", 0, NULL);
    CHECK_STR(json_string_value(json_object_get(args, "query")), "查一下年费");
    json_decref(args);
    json_decref(calls);
    llm_result_release(&res);
}

TEST(llm_chat_accepts_plain_json_completion)
{
    const struct fake_model *fm = fake("json", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    struct llm_msg m = {.role = "user", .content = "hi"};
    struct llm_result res;
    struct deltas d = {BUF_INIT, BUF_INIT, {0}, 0, 0};
    CHECK_INT(llm_chat(&ep, &m, 1, on_delta, &d, &res, NULL), RC_OK);
    CHECK_STR(res.content, "这是测试模型的固定回答。This is the fake model's fixed reply.");
    CHECK_STR(buf_str(&d.content), res.content);
    CHECK(res.prompt_tokens == 2 && res.completion_tokens > 0);
    llm_result_release(&res);
    deltas_release(&d);
}

/* Runs a chat that must fail with `want`; returns how long it took. */
static double chat_fails(const struct llm_endpoint *ep, int want, const char *err_has)
{
    struct llm_msg m = {.role = "user", .content = "hi"};
    struct llm_result res;
    struct buf err = BUF_INIT;
    double t0 = now_ms();
    CHECK_INT(llm_chat(ep, &m, 1, NULL, NULL, &res, &err), want);
    double took = now_ms() - t0;
    if (err_has)
        CHECK_CONTAINS(buf_str(&err), err_has);
    CHECK(err.len > 0);
    CHECK(!strstr(buf_str(&err), API_KEY));
    CHECK(res.content && res.reasoning && res.finish_reason); /* safe to use and release */
    llm_result_release(&res);
    buf_release(&err);
    return took;
}

TEST(llm_chat_upstream_failures)
{
    const struct fake_model *fm = fake("fail", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    chat_fails(&ep, RC_UPSTREAM, "HTTP 500");
    chat_fails(&ep, RC_UPSTREAM, "fake model failure");
    fake("garbage", 0, 0);
    chat_fails(&ep, RC_UPSTREAM, "not a JSON object");
    fake("empty", 0, 0);
    chat_fails(&ep, RC_UPSTREAM, NULL);
    /* An unknown path is a 404 from the server. */
    char base[96];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/nope", fm->port);
    ep.base_url = base;
    fake("ok", 0, 0);
    chat_fails(&ep, RC_UPSTREAM, "HTTP 404");
}

TEST(llm_chat_first_token_timeout)
{
    const struct fake_model *fm = fake("stall", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    ep.first_token_timeout_ms = 300;
    double took = chat_fails(&ep, RC_TIMEOUT, "300 ms");
    CHECK(took >= 290 && took < 1000);
    fake("ok", 0, 0);
}

TEST(llm_chat_timeouts_first_token_vs_total)
{
    /* Tokens every 100 ms: a 300 ms first-token limit is met... */
    const struct fake_model *fm = fake("slow", 4, 100);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    ep.first_token_timeout_ms = 300;
    struct llm_msg m = {.role = "user", .content = "hi"};
    struct llm_result res;
    CHECK_INT(llm_chat(&ep, &m, 1, NULL, NULL, &res, NULL), RC_OK);
    CHECK(res.first_token_ms >= 90 && res.first_token_ms < 300);
    CHECK(res.total_ms >= 390);
    llm_result_release(&res);
    /* ...but a 250 ms total limit is not, and says so. */
    ep.total_timeout_ms = 250;
    double took = chat_fails(&ep, RC_TIMEOUT, "timed out");
    CHECK(took >= 240 && took < 800);
    fake("ok", 0, 0);
}

struct chat_job {
    const struct llm_endpoint *ep;
    int rc;
    int same;
};

static void *chat_thread(void *arg)
{
    struct chat_job *j = arg;
    struct llm_result res;
    j->rc = llm_chat(j->ep, grounded_msgs, 2, NULL, NULL, &res, NULL);
    j->same = strcmp(res.content, "根据资料：个人账户年费为10元。[1]") == 0;
    llm_result_release(&res);
    return NULL;
}

TEST(llm_chat_from_several_threads)
{
    const struct fake_model *fm = fake("ok", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    pthread_t t[4];
    struct chat_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct chat_job){&ep, -1, 0};
        CHECK(pthread_create(&t[i], NULL, chat_thread, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK_INT(jobs[i].rc, RC_OK);
        CHECK(jobs[i].same);
    }
}

TEST(llm_chat_connection_refused)
{
    char base[64];
    fake_model_closed_url(base, sizeof base);
    struct llm_endpoint ep = {base, "m", API_KEY, 1000, 2000, 5000};
    double took = chat_fails(&ep, RC_UPSTREAM, NULL);
    CHECK(took < 500);
}

TEST(llm_chat_cancel_from_callback)
{
    const struct fake_model *fm = fake("slow", 20, 50); /* 20 chunks, 50 ms apart: 1 s */
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    struct llm_msg m = {.role = "user", .content = "hi"};
    struct llm_result res;
    struct deltas d = {BUF_INIT, BUF_INIT, {0}, 0, 2};
    CHECK_INT(llm_chat(&ep, &m, 1, on_delta, &d, &res, NULL), RC_OK);
    CHECK_INT(res.cancelled, 1);
    CHECK_INT(d.ncalls, 2);
    CHECK_STR(res.content, buf_str(&d.content));
    CHECK(res.total_ms < 600);
    llm_result_release(&res);
    deltas_release(&d);
    fake("ok", 0, 0);
}

TEST(llm_chat_rejects_bad_endpoints)
{
    struct llm_msg m = {.role = "user", .content = "hi"};
    struct llm_result res;
    struct buf err = BUF_INIT;
    struct llm_endpoint ep = {"ftp://127.0.0.1/v1", "m", NULL, 0, 0, 0};
    CHECK_INT(llm_chat(&ep, &m, 1, NULL, NULL, &res, &err), RC_INVALID);
    llm_result_release(&res);
    ep.base_url = "http://127.0.0.1:1/v1";
    ep.api_key = "sk-bad\r\nX-Injected: 1";
    CHECK_INT(llm_chat(&ep, &m, 1, NULL, NULL, &res, &err), RC_INVALID);
    CHECK(!strstr(buf_str(&err), "sk-bad"));
    llm_result_release(&res);
    ep.api_key = NULL;
    ep.model = NULL;
    CHECK_INT(llm_chat(&ep, &m, 1, NULL, NULL, &res, &err), RC_INVALID);
    llm_result_release(&res);
    struct llm_msg bad = {.role = "user", .content = "\xff\xfe"};
    ep.model = "m";
    CHECK_INT(llm_chat(&ep, &bad, 1, NULL, NULL, &res, &err), RC_INVALID);
    llm_result_release(&res);
    char longurl[3000];
    memset(longurl, 'a', sizeof longurl - 1);
    longurl[sizeof longurl - 1] = '\0';
    memcpy(longurl, "http://", 7);
    ep.base_url = longurl;
    CHECK_INT(llm_chat(&ep, &m, 1, NULL, NULL, &res, &err), RC_INVALID);
    llm_result_release(&res);
    buf_release(&err);
}

/* ------------------------------------------------------------------------
 * Embeddings and rerank
 * ------------------------------------------------------------------------ */

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

TEST(llm_embed_shapes_and_similarity)
{
    const struct fake_model *fm = fake("ok", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    const char *texts[] = {"个人账户年费标准", "个人账户的年费标准是多少", "今天天气晴朗适合出游"};
    float *v = NULL;
    size_t dim = 0;
    struct buf err = BUF_INIT;
    CHECK_INT(llm_embed(&ep, texts, 3, &v, &dim, NULL, &err), RC_OK);
    CHECK_INT(dim, 64);
    if (v && dim == 64) {
        for (int i = 0; i < 3; i++)
            CHECK(fabs(dot(v + i * dim, v + i * dim, dim) - 1.0) < 1e-5);
        CHECK(dot(v, v + dim, dim) > dot(v, v + 2 * dim, dim) + 0.2);
    }
    free(v);

    CHECK_INT(llm_embed(&ep, texts, 0, &v, &dim, NULL, &err), RC_OK);
    CHECK(v == NULL && dim == 0);

    fake("garbage", 0, 0); /* one vector short and one ragged */
    CHECK_INT(llm_embed(&ep, texts, 3, &v, &dim, NULL, &err), RC_UPSTREAM);
    CHECK(v == NULL);
    fake("fail", 0, 0);
    buf_reset(&err);
    CHECK_INT(llm_embed(&ep, texts, 3, &v, &dim, NULL, &err), RC_UPSTREAM);
    CHECK_CONTAINS(buf_str(&err), "HTTP 500");
    fake("ok", 0, 0);
    buf_release(&err);
}

TEST(llm_rerank_scores_by_index)
{
    const struct fake_model *fm = fake("ok", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    const char *docs[] = {"今天天气很好", "个人账户年费为十元", "个人账户开户"};
    double s[3] = {-1, -1, -1};
    struct buf err = BUF_INIT;
    CHECK_INT(llm_rerank(&ep, "账户年费", docs, 3, s, NULL, &err), RC_OK);
    CHECK(s[1] == 1.0);
    CHECK(s[1] > s[2] && s[2] > s[0]);
    CHECK(s[0] == 0.0);

    double t[3] = {-1, -1, -1};
    fake("garbage", 0, 0); /* an index out of range */
    CHECK_INT(llm_rerank(&ep, "账户年费", docs, 3, t, NULL, &err), RC_UPSTREAM);
    CHECK(t[0] == -1 && t[1] == -1 && t[2] == -1);
    fake("ok", 0, 0);
    buf_release(&err);
}

/* Every call reports the HTTP status of the model's reply as a value, on
 * success and failure alike (the gateway decides fail-over on it), and 0
 * when no reply came; the error text still says the status for people. */
static void check_status_of_all(const struct llm_endpoint *ep, int want_rc, long want_status)
{
    struct llm_msg m = {.role = "user", .content = "hi"};
    const char *texts[] = {"个人账户年费"};
    struct llm_result res;
    struct buf err = BUF_INIT;
    float *v = NULL;
    size_t dim = 0;
    double score = -1;
    long st = -1;
    char want_text[32];
    snprintf(want_text, sizeof want_text, "HTTP %ld", want_status);

    CHECK_INT(llm_chat(ep, &m, 1, NULL, NULL, &res, &err), want_rc);
    CHECK_INT(res.http_status, want_status);
    if (want_rc == RC_UPSTREAM && want_status >= 400)
        CHECK_CONTAINS(buf_str(&err), want_text);
    llm_result_release(&res);

    buf_reset(&err);
    CHECK_INT(llm_embed(ep, texts, 1, &v, &dim, &st, &err), want_rc);
    CHECK_INT(st, want_status);
    if (want_rc == RC_UPSTREAM && want_status >= 400)
        CHECK_CONTAINS(buf_str(&err), want_text);
    CHECK(want_rc == RC_OK ? v != NULL : v == NULL);
    free(v);

    buf_reset(&err);
    st = -1;
    CHECK_INT(llm_rerank(ep, "年费", texts, 1, &score, &st, &err), want_rc);
    CHECK_INT(st, want_status);
    if (want_rc == RC_UPSTREAM && want_status >= 400)
        CHECK_CONTAINS(buf_str(&err), want_text);
    buf_release(&err);
}

TEST(llm_calls_report_the_http_status)
{
    const struct fake_model *fm = fake("ok", 0, 0);
    if (!fm)
        return;
    struct llm_endpoint ep = endpoint(fm);
    check_status_of_all(&ep, RC_OK, 200);

    /* mode fail answers 500, or the status /control "fail_status" says */
    if (!fake("fail", 0, 0))
        return;
    check_status_of_all(&ep, RC_UPSTREAM, 500);
    static const int statuses[] = {503, 400, 429, 401};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"fail_status\":%d}", statuses[i]);
        CHECK_INT(fake_model_http(fm, "POST", "/control", body, NULL), 200);
        check_status_of_all(&ep, RC_UPSTREAM, statuses[i]);
    }
    CHECK_INT(fake_model_http(fm, "POST", "/control", "{\"fail_status\":200}", NULL), 400);
    CHECK_INT(fake_model_http(fm, "POST", "/control", "{\"fail_status\":\"503\"}", NULL), 400);
    /* setting the mode puts the status back to 500 */
    if (!fake("fail", 0, 0))
        return;
    check_status_of_all(&ep, RC_UPSTREAM, 500);
    fake("ok", 0, 0);

    /* connection refused: no reply, status 0 */
    char base[64];
    fake_model_closed_url(base, sizeof base);
    struct llm_endpoint down = {base, "m", API_KEY, 1000, 2000, 5000};
    check_status_of_all(&down, RC_UPSTREAM, 0);

    /* a request refused before sending: 0 too */
    struct llm_endpoint bad = endpoint(fm);
    bad.model = NULL;
    check_status_of_all(&bad, RC_INVALID, 0);
}

/* ------------------------------------------------------------------------
 * The API key never reaches an error message
 * ------------------------------------------------------------------------ */

/* A one-shot HTTP server: accepts one connection, reads the request
 * headers, answers with `status` and `body`, closes. */
struct one_shot {
    int fd;
    int status;
    const char *body;
};

static void *one_shot_thread(void *arg)
{
    struct one_shot *o = arg;
    int c = accept(o->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char req[8192];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t k = read(c, req + got, sizeof req - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d Oops\r\nContent-Type: text/plain\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      o->status, strlen(o->body));
    if (hn > 0 && write(c, head, (size_t)hn) == hn &&
        write(c, o->body, strlen(o->body)) == (ssize_t)strlen(o->body))
        (void)shutdown(c, SHUT_WR);
    /* Drain until the client closes, so it reads the whole answer. */
    while (read(c, req, sizeof req) > 0)
        ;
    close(c);
    return NULL;
}

/* Runs llm_chat against a server answering `status` + `body`; returns the
 * error message (caller frees). */
static char *error_for_body(int status, const char *body, const char *key)
{
    struct one_shot o = {socket(AF_INET, SOCK_STREAM, 0), status, body};
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(o.fd >= 0 && bind(o.fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(o.fd, (struct sockaddr *)&a, &alen) == 0 && listen(o.fd, 1) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, one_shot_thread, &o) == 0);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", ntohs(a.sin_port));
    struct llm_endpoint ep = {base, "m", key, 1000, 2000, 5000};
    struct llm_msg m = {.role = "user", .content = "hi"};
    struct llm_result res;
    struct buf err = BUF_INIT;
    CHECK_INT(llm_chat(&ep, &m, 1, NULL, NULL, &res, &err), RC_UPSTREAM);
    llm_result_release(&res);
    CHECK(pthread_join(t, NULL) == 0);
    close(o.fd);
    return buf_detach(&err, NULL);
}

TEST(llm_error_snippet_never_holds_the_key)
{
    /* A proxy echoing the request headers in its error page, with the key
     * placed so that the 200-byte snippet cuts through it at every offset. */
    const char *key = "sk-live-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij";
    size_t klen = strlen(key);
    for (size_t cut = 1; cut < klen; cut += 7) {
        char body[512];
        size_t pad = 200 - cut;
        memset(body, '.', pad);
        snprintf(body + pad, sizeof body - pad, "%s tail", key);
        char *msg = error_for_body(502, body, key);
        CHECK_CONTAINS(msg, "HTTP 502");
        /* Not even a prefix of four bytes or more past "sk-". */
        char probe[8];
        memcpy(probe, key + 3, 5);
        probe[5] = '\0';
        if (cut >= 8 && strstr(msg, probe))
            test_fail(__FILE__, __LINE__, "cut %zu leaks a key prefix: %s", cut, msg);
        CHECK(!strstr(msg, key));
        free(msg);
    }
    /* The whole key in the body is masked too; other text survives. */
    char body[256];
    snprintf(body, sizeof body, "denied for Bearer %s.", key);
    char *msg = error_for_body(401, body, key);
    CHECK_CONTAINS(msg, "denied for Bearer ");
    CHECK(!strstr(msg, "live-ABCD"));
    free(msg);
}

/* The gateway's section at the loops' priority, and back after; with
 * ATRIUM_MODEL_LOOP_RT=rt. */
static void prio_round_trip(const char *rt)
{
    CHECK_INT(setenv("ATRIUM_MODEL_LOOP_RT", rt, 1), 0);
    errno = 0;
    int before = getpriority(PRIO_PROCESS, (id_t)gettid());
    CHECK(errno == 0);
    CHECK_INT(sched_getscheduler(0), SCHED_OTHER);
    struct llm_prio p;
    llm_prio_enter(&p);
    int policy = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
    int inside = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (p.rt) {
        struct sched_param sp;
        CHECK_INT(policy, SCHED_RR);
        CHECK_INT(sched_getparam(0, &sp), 0);
        CHECK_INT(sp.sched_priority, 1);
        CHECK(!p.changed);
    } else if (p.changed) {
        CHECK_INT(policy, SCHED_OTHER);
        CHECK_INT(inside, -10);
        CHECK_INT(p.prev, before);
    } else {
        CHECK_INT(policy, SCHED_OTHER);
        CHECK_INT(inside, before);
    }
    if (strcmp(rt, "0") == 0)
        CHECK(!p.rt);
    llm_prio_leave(&p);
    CHECK_INT(sched_getscheduler(0), SCHED_OTHER);
    CHECK_INT(getpriority(PRIO_PROCESS, (id_t)gettid()), before);
    CHECK_INT(unsetenv("ATRIUM_MODEL_LOOP_RT"), 0);
}

TEST(llm_prio_raises_and_puts_back)
{
    /* real-time where the process may, when asked; else nice -10 where it
     * may; the thread's own scheduling comes back after */
    prio_round_trip("1");
    prio_round_trip("0");
}

/* A loop's thread: real-time where allowed, and a thread it starts is a
 * normal one (SCHED_RESET_ON_FORK). */
static void *child_policy(void *arg)
{
    *(int *)arg = sched_getscheduler(0);
    return NULL;
}

static void *loop_sched(void *arg)
{
    int *out = arg; /* [mode, policy, priority, child's policy] */
    out[0] = (int)llm_sched_loop_thread();
    out[1] = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
    struct sched_param sp = {0};
    (void)sched_getparam(0, &sp);
    out[2] = sp.sched_priority;
    pthread_t t;
    out[3] = -1;
    if (pthread_create(&t, NULL, child_policy, &out[3]) == 0)
        (void)pthread_join(t, NULL);
    return NULL;
}

/* 1 when the calling thread may become SCHED_RR (it then goes back). */
static void *rr_probe(void *arg)
{
    struct sched_param sp = {.sched_priority = 1}, none = {.sched_priority = 0};
    *(int *)arg = sched_setscheduler(0, SCHED_RR, &sp) == 0;
    (void)sched_setscheduler(0, SCHED_OTHER, &none);
    return NULL;
}

TEST(llm_loop_thread_runs_real_time_where_allowed)
{
    int out[4] = {-1, -1, -1, -1};
    pthread_t t;
    /* not by default */
    CHECK_INT(pthread_create(&t, NULL, loop_sched, out), 0);
    CHECK_INT(pthread_join(t, NULL), 0);
    CHECK(out[0] == LLM_SCHED_NICE || out[0] == LLM_SCHED_NORMAL);
    CHECK_INT(out[1], SCHED_OTHER);
    /* asked for */
    CHECK_INT(setenv("ATRIUM_MODEL_LOOP_RT", "1", 1), 0);
    CHECK_INT(pthread_create(&t, NULL, loop_sched, out), 0);
    CHECK_INT(pthread_join(t, NULL), 0);
    CHECK_INT(unsetenv("ATRIUM_MODEL_LOOP_RT"), 0);
    if (out[0] == LLM_SCHED_RT) {
        CHECK_INT(out[1], SCHED_RR);
        CHECK_INT(out[2], 1);
        CHECK_INT(out[3], SCHED_OTHER); /* reset on fork */
    } else {
        CHECK_INT(out[1], SCHED_OTHER);
        CHECK(out[0] == LLM_SCHED_NICE || out[0] == LLM_SCHED_NORMAL);
    }
    /* where a thread of this process may be SCHED_RR, a loop's is */
    int probe = -1;
    CHECK_INT(pthread_create(&t, NULL, rr_probe, &probe), 0);
    CHECK_INT(pthread_join(t, NULL), 0);
    if (probe == 1)
        CHECK_INT(out[0], LLM_SCHED_RT);
}

/* Drops CAP_SYS_NICE from the calling thread's effective set (capabilities
 * are per thread); 0 when the thread has no such capability to drop. */
static int drop_sys_nice(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0 || !(d[0].effective & (1u << CAP_SYS_NICE)))
        return 0;
    d[0].effective &= ~(1u << CAP_SYS_NICE);
    return syscall(SYS_capset, &h, d) == 0;
}

static void *unprivileged_prio(void *arg)
{
    int *ok = arg;
    if (!drop_sys_nice() || setrlimit(RLIMIT_NICE, &(struct rlimit){0, 0}) != 0 ||
        setrlimit(RLIMIT_RTPRIO, &(struct rlimit){0, 0}) != 0) {
        *ok = -1; /* not root here: the test above already ran unprivileged */
        return NULL;
    }
    int before = getpriority(PRIO_PROCESS, (id_t)gettid());
    struct llm_prio p;
    llm_prio_enter(&p); /* ATRIUM_MODEL_LOOP_RT=1: set by the test */
    int inside = getpriority(PRIO_PROCESS, (id_t)gettid());
    int policy = sched_getscheduler(0);
    llm_prio_leave(&p);
    /* and a loop's thread stays as it is */
    enum llm_sched mode = llm_sched_loop_thread();
    *ok = !p.changed && !p.rt && inside == before && policy == SCHED_OTHER &&
          getpriority(PRIO_PROCESS, (id_t)gettid()) == before && mode == LLM_SCHED_NORMAL &&
          sched_getscheduler(0) == SCHED_OTHER;
    return NULL;
}

TEST(llm_prio_without_privilege_changes_nothing)
{
    /* Without CAP_SYS_NICE and with RLIMIT_NICE and RLIMIT_RTPRIO 0 (an
     * ordinary service user), entering the gateway's priority fails
     * quietly: nothing changes and leaving does not touch the thread
     * either; a loop's thread stays normal. The capability
     * is dropped on a thread of its own; RLIMIT_NICE is per process, so it
     * is put back after. */
    struct rlimit old, old_rt;
    CHECK_INT(getrlimit(RLIMIT_NICE, &old), 0);
    CHECK_INT(getrlimit(RLIMIT_RTPRIO, &old_rt), 0);
    pthread_t t;
    int ok = 0;
    CHECK_INT(setenv("ATRIUM_MODEL_LOOP_RT", "1", 1), 0);
    CHECK_INT(pthread_create(&t, NULL, unprivileged_prio, &ok), 0);
    CHECK_INT(pthread_join(t, NULL), 0);
    CHECK_INT(unsetenv("ATRIUM_MODEL_LOOP_RT"), 0);
    CHECK_INT(setrlimit(RLIMIT_NICE, &old), 0);
    CHECK_INT(setrlimit(RLIMIT_RTPRIO, &old_rt), 0);
    if (ok != -1)
        CHECK_INT(ok, 1);
}

/* A model loop sleeps until its next timer, rounded up to whole ms: a timer
 * a fraction of a millisecond away must not make epoll_wait return at once
 * (the loop then spun until it was due). */
TEST(llm_loop_wait_rounds_up_and_never_spins_early)
{
    /* curl's timer 0.3 ms away: one ms, not zero */
    CHECK_INT(llm_loop_wait_ms(100.0, 5000.0, 100.3), 1);
    CHECK_INT(llm_loop_wait_ms(100.0, 5000.0, 102.5), 3);
    /* due now or overdue: at once */
    CHECK_INT(llm_loop_wait_ms(100.0, 5000.0, 100.0), 0);
    CHECK_INT(llm_loop_wait_ms(100.0, 5000.0, 90.0), 0);
    /* no curl timer: the first-token check (plus 1 ms), at most a second */
    CHECK_INT(llm_loop_wait_ms(100.0, 120.2, -1), 22);
    CHECK_INT(llm_loop_wait_ms(100.0, 99.5, -1), 1);
    CHECK_INT(llm_loop_wait_ms(100.0, 1e9, -1), 1000);
    CHECK_INT(llm_loop_wait_ms(100.0, 1e9, 5000.0), 1000);
}

/* A loop takes new requests first, then the transfers still waiting for
 * their first token, then the later chunks, each group in epoll's order. */
TEST(llm_loop_order_takes_first_tokens_before_streaming_chunks)
{
    /* sockets 10..15 and the wake-up eventfd 3; 11 and 14 await a first token */
    int fds[] = {10, 11, 3, 12, 14, 15};
    unsigned char first[] = {0, 1, 0, 0, 1, 0};
    int order[6];
    int nfirst = llm_loop_order(fds, first, 6, 3, order);
    CHECK_INT(nfirst, 3);
    int want[] = {2, 1, 4, 0, 3, 5};
    for (int i = 0; i < 6; i++)
        CHECK_INT(order[i], want[i]);
    /* nothing waits for a first token: epoll's order, the wake-up first */
    unsigned char none[] = {0, 0, 0, 0, 0, 0};
    CHECK_INT(llm_loop_order(fds, none, 6, 3, order), 1);
    int want2[] = {2, 0, 1, 3, 4, 5};
    for (int i = 0; i < 6; i++)
        CHECK_INT(order[i], want2[i]);
    /* each event is taken once */
    CHECK_INT(llm_loop_order(fds, first, 1, 3, order), 0);
    CHECK_INT(order[0], 0);
}
