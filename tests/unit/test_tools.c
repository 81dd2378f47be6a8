/* Tests for src/agents/tools.c and httptool.c: the definitions, kb_search
 * through the asking user's permissions (an agent never widens access) with
 * continued citation numbers, calculator and workdays calls, refused calls
 * (unknown tool, bad JSON, schema failures), and the HTTP tool against a
 * loopback peer (tests/fake_http.py): GET/POST, non-2xx, redirects, content
 * types, truncation, timeouts and allow-list bypass attempts. */
#include "fake_searxng.h"
#include "test.h"

#include "agents/httptool.h"
#include "agents/tools.h"
#include "auth/acl.h"
#include "auth/auth.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/rc.h"
#include "fake_proc.h"
#include "kb/kb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct fx {
    struct config cfg;
    struct kb_engine *e;
    struct kb_conn *c;
    struct kb_info open_kb, secret_kb;
    int64_t alice, bob;
};

static int64_t add_user(struct db_conn *d, const char *name)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(d->db,
                           "INSERT INTO users(username, created_at, updated_at) VALUES (?1, 0, 0)",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
        id = sqlite3_last_insert_rowid(d->db);
    sqlite3_finalize(st);
    return id;
}

static int ingest(struct fx *f, int64_t kb, const char *name, const char *text)
{
    struct kb_ingest_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = kb_ingest_bytes(f->c, kb, name, text, strlen(text), &rep);
    kb_ingest_report_release(&rep);
    return rc;
}

static int setup(struct fx *f, const char *name)
{
    struct buf err = BUF_INIT;
    memset(f, 0, sizeof *f);
    unsetenv("ATRIUM_CHAT_URL");
    unsetenv("ATRIUM_EMBED_URL");
    unsetenv("ATRIUM_RERANK_URL");
    config_load(&f->cfg, NULL, &err);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
    config_set(&f->cfg, "data_dir", dir, &err);
    int rc = kb_engine_open(&f->cfg, &f->e, &err);
    if (!rc)
        rc = kb_conn_open(f->e, &f->c, &err);
    if (!rc)
        rc = kb_create(f->c, "公开制度", &f->open_kb, &err);
    if (!rc)
        rc = kb_create(f->c, "机密制度", &f->secret_kb, &err);
    if (!rc)
        rc = ingest(f, f->open_kb.id, "挂失.md",
                    "# 存单挂失办法\n\n第三条 存款人遗失存单的，应当立即办理挂失止付手续。\n");
    if (!rc)
        rc = ingest(f, f->secret_kb.id, "内部.md",
                    "# 内部挂失审批细则\n\n第九条 挂失止付的内部审批额度为五十万元。\n");
    struct db_conn *d = f->c ? kb_conn_store(f->c) : NULL;
    if (!rc) {
        f->alice = add_user(d, "alice");
        f->bob = add_user(d, "bob");
        int64_t gid;
        rc = f->alice && f->bob
                 ? acl_grant(d, f->open_kb.id, ACL_SUBJ_USER, "alice", ACL_READ, &gid, &err)
                 : RC_DB;
    }
    if (rc)
        fprintf(stderr, "tools setup failed: %s\n", buf_str(&err));
    buf_release(&err);
    return rc;
}

static void teardown(struct fx *f)
{
    kb_info_release(&f->open_kb);
    kb_info_release(&f->secret_kb);
    kb_conn_close(f->c);
    kb_engine_close(f->e);
    config_release(&f->cfg);
}

static struct auth_principal user(int64_t id)
{
    struct auth_principal p;
    memset(&p, 0, sizeof p);
    p.user_id = id;
    return p;
}

/* A spec with both KBs and the tools under test (not spec_parse: the
 * struct is the contract). */
struct tspec {
    struct agent_spec s;
    int64_t kbs[2];
    char *tools[8];
    struct spec_http_tool http[4];
};

static void make_spec(struct tspec *t, const struct fx *f, int port)
{
    static char url[4][128];
    memset(t, 0, sizeof *t);
    t->kbs[0] = f->open_kb.id;
    t->kbs[1] = f->secret_kb.id;
    t->s.kbs = t->kbs;
    t->s.nkbs = 2;
    t->tools[0] = "kb_search";
    t->tools[1] = "calculator";
    t->tools[2] = "workdays";
    t->tools[3] = "http:echo";
    t->tools[4] = "http:post";
    t->tools[5] = "http:admin";
    t->tools[6] = "http:status";
    t->tools[7] = "web_search";
    t->s.tools = t->tools;
    t->s.ntools = 8;
    snprintf(url[0], sizeof url[0], "http://127.0.0.1:%d/api/echo", port);
    snprintf(url[1], sizeof url[1], "http://127.0.0.1:%d/api/echo", port);
    snprintf(url[2], sizeof url[2], "http://127.0.0.1:%d/admin/secret", port);
    snprintf(url[3], sizeof url[3], "http://127.0.0.1:%d/api/status/500", port);
    const char *names[4] = {"echo", "post", "admin", "status"};
    for (int i = 0; i < 4; i++) {
        t->http[i].name = (char *)names[i];
        t->http[i].description = "测试";
        t->http[i].method = i == 1 ? "POST" : "GET";
        t->http[i].url = url[i];
        t->http[i].args_schema = NULL;
    }
    t->s.http_tools = t->http;
    t->s.nhttp_tools = 4;
    t->s.max_steps = 6;
    t->s.max_seconds = 60;
}

TEST(tools_known_and_definitions)
{
    CHECK(tools_known("kb_search"));
    CHECK(tools_known("calculator"));
    CHECK(tools_known("workdays"));
    CHECK(tools_known("web_search"));
    CHECK(tools_known("http:rates"));
    CHECK(!tools_known("http:"));
    CHECK(!tools_known("http:Rates"));
    CHECK(!tools_known("shell"));
    CHECK(!tools_known(NULL));
    struct fx f;
    if (setup(&f, "tools_defs")) {
        CHECK(0);
        return;
    }
    struct tspec t;
    make_spec(&t, &f, 1);
    json_t *defs = tools_definitions(&f.cfg, &t.s);
    CHECK_INT(json_array_size(defs), 7); /* web_search is off in this config */
    size_t i;
    json_t *d;
    int seen_echo = 0;
    json_array_foreach(defs, i, d)
    {
        const char *n = json_string_value(json_object_get(json_object_get(d, "function"), "name"));
        CHECK_STR(json_string_value(json_object_get(d, "type")), "function");
        CHECK(n && strcmp(n, "web_search") != 0);
        seen_echo |= n && !strcmp(n, "http_echo");
        CHECK(json_is_object(json_object_get(json_object_get(d, "function"), "parameters")));
    }
    CHECK(seen_echo);
    json_decref(defs);
    defs = tools_definitions(&f.cfg, NULL);
    CHECK_INT(json_array_size(defs), 0);
    json_decref(defs);
    teardown(&f);
}

TEST(tools_kb_search_respects_the_user)
{
    struct fx f;
    if (setup(&f, "tools_kb")) {
        CHECK(0);
        return;
    }
    struct tspec t;
    make_spec(&t, &f, 1);
    struct auth_principal alice = user(f.alice), bob = user(f.bob);
    struct tool_ctx ctx = {&f.cfg, f.c, &alice, &t.s, json_array()};
    (void)json_array_append_new(ctx.citations, json_pack("{si ss}", "n", 1, "kind", "kb"));
    struct buf err = BUF_INIT;
    char *out = NULL;
    CHECK_INT(tools_call(&ctx, "kb_search", "{\"query\":\"挂失止付\"}", &out, &err), RC_OK);
    CHECK_CONTAINS(out, "立即办理挂失止付");
    CHECK(!strstr(out, "五十万元")); /* the KB alice may not read is never searched */
    CHECK_CONTAINS(out, "\"n\":2");
    CHECK(json_array_size(ctx.citations) >= 2);
    json_t *c = json_array_get(ctx.citations, 1);
    CHECK_INT(json_integer_value(json_object_get(c, "n")), 2);
    CHECK_STR(json_string_value(json_object_get(c, "kind")), "kb");
    CHECK_INT(json_integer_value(json_object_get(c, "kb_id")), f.open_kb.id);
    CHECK(json_integer_value(json_object_get(c, "chunk_id")) > 0);
    CHECK(json_integer_value(json_object_get(c, "doc_id")) > 0);
    CHECK(json_is_string(json_object_get(c, "cite")));
    size_t i;
    json_t *x;
    json_array_foreach(ctx.citations, i, x) if (i > 0)
        CHECK_INT(json_integer_value(json_object_get(x, "kb_id")), f.open_kb.id);
    free(out);
    /* bob may read neither: nothing, and no citations */
    size_t before = json_array_size(ctx.citations);
    ctx.who = &bob;
    CHECK_INT(tools_call(&ctx, "kb_search", "{\"query\":\"挂失\",\"k\":3}", &out, &err), RC_OK);
    CHECK(!strstr(out, "五十万元"));
    CHECK(!strstr(out, "挂失止付手续"));
    CHECK_INT(json_array_size(ctx.citations), before);
    free(out);
    json_decref(ctx.citations);
    buf_release(&err);
    teardown(&f);
}

TEST(tools_calls_and_refusals)
{
    struct fx f;
    if (setup(&f, "tools_calls")) {
        CHECK(0);
        return;
    }
    struct tspec t;
    make_spec(&t, &f, 1);
    struct auth_principal alice = user(f.alice);
    struct tool_ctx ctx = {&f.cfg, f.c, &alice, &t.s, json_array()};
    struct buf err = BUF_INIT;
    char *out = NULL;
    CHECK_INT(tools_call(&ctx, "calculator",
                         "{\"expression\":\"1000000*3.45%*90/360\",\"scale\":2}", &out, &err),
              RC_OK);
    CHECK_CONTAINS(out, "\"result\":\"8625.00\"");
    free(out);
    CHECK_INT(tools_call(&ctx, "workdays",
                         "{\"op\":\"add_workdays\",\"date\":\"2026-09-30\",\"days\":1}", &out,
                         &err),
              RC_OK);
    CHECK_CONTAINS(out, "\"result\":\"2026-10-08\"");
    free(out);
    /* refusals the model may correct */
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "calculator", "{\"expression\":", &out, &err), RC_INVALID);
    CHECK(out == NULL);
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "calculator", "[1]", &out, &err), RC_INVALID);
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "calculator", "{\"expr\":\"1\"}", &out, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "$.");
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "kb_search", "{\"query\":\"x\",\"k\":50}", &out, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "$.k");
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "calculator", "{\"expression\":\"1/0\"}", &out, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "division by zero");
    /* tools the agent does not have */
    CHECK_INT(tools_call(&ctx, "web_search", "{\"query\":\"x\"}", &out, &err), RC_NOT_FOUND);
    CHECK_INT(tools_call(&ctx, "http_nope", "{}", &out, &err), RC_NOT_FOUND);
    CHECK_INT(tools_call(&ctx, "shell", "{}", &out, &err), RC_NOT_FOUND);
    t.s.ntools = 1; /* only kb_search now */
    CHECK_INT(tools_call(&ctx, "calculator", "{\"expression\":\"1\"}", &out, &err), RC_NOT_FOUND);
    CHECK_INT(tools_call(&ctx, "http_echo", "{}", &out, &err), RC_NOT_FOUND);
    CHECK(out == NULL);
    json_decref(ctx.citations);
    buf_release(&err);
    teardown(&f);
}

/* web_search through the fake SearXNG: results numbered on from the
 * sources already shown, each appended as a web citation; off (not a tool
 * of this agent) when the config has no web search. */
TEST(tools_web_search)
{
    const struct fake_searxng *fs = fake_searxng_shared("ok", 8, 0);
    if (!fs)
        return;
    struct fx f;
    if (setup(&f, "tools_web")) {
        CHECK(0);
        return;
    }
    struct tspec t;
    make_spec(&t, &f, 1);
    struct auth_principal alice = user(f.alice);
    struct tool_ctx ctx = {&f.cfg, f.c, &alice, &t.s, json_array()};
    struct buf err = BUF_INIT;
    char *out = NULL;
    /* no web search configured: the model is told the tool is not there */
    CHECK_INT(tools_call(&ctx, "web_search", "{\"query\":\"票据法\"}", &out, &err), RC_NOT_FOUND);
    json_t *defs = tools_definitions(&f.cfg, &t.s);
    char *dtext = json_dumps(defs, JSON_COMPACT);
    CHECK(dtext && !strstr(dtext, "web_search"));
    free(dtext);
    json_decref(defs);

    CHECK_INT(config_set(&f.cfg, "websearch_url", fs->base_url, &err), RC_OK);
    defs = tools_definitions(&f.cfg, &t.s);
    dtext = json_dumps(defs, JSON_COMPACT);
    CHECK_CONTAINS(dtext, "\"web_search\"");
    free(dtext);
    json_decref(defs);
    /* one KB source shown already: web results go on from [2] */
    (void)json_array_append_new(ctx.citations, json_pack("{si ss}", "n", 1, "kind", "kb"));
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "web_search", "{\"query\":\"票据法\",\"k\":3}", &out, &err), RC_OK);
    CHECK_CONTAINS(out, "结果 1：票据法");
    CHECK_CONTAINS(out, "\"n\":2");
    free(out);
    CHECK_INT(json_array_size(ctx.citations), 4);
    json_t *c2 = json_array_get(ctx.citations, 1);
    CHECK_STR(json_string_value(json_object_get(c2, "kind")), "web");
    CHECK_INT(json_integer_value(json_object_get(c2, "n")), 2);
    CHECK_STR(json_string_value(json_object_get(c2, "url")), "https://example.com/r/1");
    /* what SearXNG was asked */
    struct buf raw = BUF_INIT;
    CHECK_INT(fake_searxng_http(fs, "GET", "/requests", NULL, &raw), 200);
    CHECK_CONTAINS(buf_str(&raw), "票据法");
    buf_release(&raw);
    json_decref(ctx.citations);
    buf_release(&err);
    teardown(&f);
}

TEST(tools_http_allow_list)
{
    const char *allow = "http://core.bank/api/, https://fx.bank:8443/rates";
    static const struct {
        const char *url;
        int rc;
    } cases[] = {
        {"http://core.bank/api/x", RC_OK},
        {"HTTP://CORE.BANK/api/x?a=1", RC_OK},
        {"http://core.bank:80/api/x", RC_OK},
        {"https://fx.bank:8443/rates", RC_OK},
        {"https://fx.bank:8443/rates/usd", RC_OK},
        {"https://fx.bank:8443/ratesx", RC_DENIED},
        {"https://fx.bank/rates", RC_DENIED},
        {"http://core.bank/api/../admin", RC_INVALID},
        {"http://core.bank/api/%2e%2e/admin", RC_INVALID},
        {"http://core.bank/api/%2E%2E/admin", RC_INVALID},
        {"http://core.bank/api/./x", RC_INVALID},
        {"http://core.bank/api/a%2fb", RC_INVALID},
        {"http://core.bank/api\\..\\admin", RC_INVALID},
        {"http://core.bank.evil/api/x", RC_DENIED},
        {"http://core.bank@evil.com/api/x", RC_INVALID},
        {"http://evil.com@core.bank/api/x", RC_INVALID},
        {"http://core.bank/api/x#frag", RC_INVALID},
        {"http://core.bank:8080/api/x", RC_DENIED},
        {"https://core.bank/api/x", RC_DENIED},
        {"ftp://core.bank/api/x", RC_INVALID},
        {"http://core.bank/apix", RC_DENIED},
        {"http://core.bank/api", RC_DENIED},
        {"http://core.bank/admin", RC_DENIED},
        {"http://core.bank./api/x", RC_INVALID},
        {"http://core.bank/api/ x", RC_INVALID},
        {"http://core.bank:99999/api/x", RC_INVALID},
        {"http:///api/x", RC_INVALID},
        {"http://core.bank/api/%zz", RC_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = httptool_url_allowed(allow, cases[i].url, NULL);
        if (rc != cases[i].rc)
            test_fail(__FILE__, __LINE__, "%s: rc %d, expected %d", cases[i].url, rc, cases[i].rc);
    }
    CHECK_INT(httptool_url_allowed("", "http://core.bank/api/x", NULL), RC_DENIED);
    CHECK_INT(httptool_url_allowed(NULL, "http://core.bank/api/x", NULL), RC_DENIED);
    CHECK_INT(httptool_url_allowed("http://core.bank", "http://core.bank/anything", NULL), RC_OK);
}

TEST(tools_http_calls)
{
    pid_t pid = 0;
    int port = 0;
    int st = fake_proc_start("tests/fake_http.py", "fake HTTP peer", NULL, 1, &pid, &port);
    if (st == 0)
        return; /* no python3 */
    CHECK_INT(st, 1);
    if (st != 1)
        return;
    struct fx f;
    if (setup(&f, "tools_http")) {
        CHECK(0);
        fake_proc_stop(&pid);
        return;
    }
    struct buf err = BUF_INIT;
    char allow[128];
    snprintf(allow, sizeof allow, "http://127.0.0.1:%d/api/", port);
    config_set(&f.cfg, "agent_http_allow", allow, &err);
    config_set(&f.cfg, "agent_http_timeout_ms", "1000", &err);
    struct tspec t;
    make_spec(&t, &f, port);
    t.http[0].args_schema =
        json_pack("{ss s{s{ss s[ss]} s{ss si}} s[s] sb}", "type", "object", "properties", "ccy",
                  "type", "string", "enum", "USD", "EUR", "amt", "type", "number", "minimum", 0,
                  "required", "ccy", "additionalProperties", 0);
    struct auth_principal alice = user(f.alice);
    struct tool_ctx ctx = {&f.cfg, f.c, &alice, &t.s, json_array()};
    char *out = NULL;
    /* GET: the arguments in the query string */
    CHECK_INT(tools_call(&ctx, "http_echo", "{\"ccy\":\"USD\",\"amt\":1.5}", &out, &err), RC_OK);
    CHECK_CONTAINS(out, "\"method\": \"GET\"");
    CHECK_CONTAINS(out, "ccy=USD");
    CHECK_CONTAINS(out, "amt=1.5");
    free(out);
    /* schema failures never reach the peer */
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "http_echo", "{\"ccy\":\"JPY\"}", &out, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "$.ccy");
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "http_echo", "{\"amt\":1}", &out, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "$.ccy");
    /* POST: a JSON body */
    CHECK_INT(tools_call(&ctx, "http_post", "{\"acct\":\"62220001\",\"n\":2}", &out, &err), RC_OK);
    CHECK_CONTAINS(out, "\"method\": \"POST\"");
    CHECK_CONTAINS(out, "application/json");
    CHECK_CONTAINS(out, "62220001");
    free(out);
    /* outside the allow-list */
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "http_admin", "{}", &out, &err), RC_DENIED);
    CHECK(out == NULL);
    /* non-2xx */
    buf_reset(&err);
    CHECK_INT(tools_call(&ctx, "http_status", "{}", &out, &err), RC_UPSTREAM);
    CHECK_CONTAINS(buf_str(&err), "500");
    char url[160];
    /* a redirect is not followed */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/redirect", port);
    buf_reset(&err);
    CHECK_INT(httptool_call(allow, 1000, "GET", url, NULL, TOOL_RESULT_MAX, &out, &err),
              RC_UPSTREAM);
    CHECK_CONTAINS(buf_str(&err), "302");
    /* binary content is refused */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/bin", port);
    CHECK_INT(httptool_call(allow, 1000, "GET", url, NULL, TOOL_RESULT_MAX, &out, &err),
              RC_UPSTREAM);
    /* a big body is cut on a character boundary with the marker */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/big", port);
    CHECK_INT(httptool_call(allow, 1000, "GET", url, NULL, TOOL_RESULT_MAX, &out, &err), RC_OK);
    CHECK(out && strlen(out) <= TOOL_RESULT_MAX);
    CHECK(out && strlen(out) > TOOL_RESULT_MAX - 100);
    CHECK_CONTAINS(out, HTTPTOOL_TRUNCATED);
    CHECK(out && !strncmp(out, "汇率汇率", 12));
    free(out);
    out = NULL;
    /* a slow peer times out */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/slow", port);
    buf_reset(&err);
    CHECK_INT(httptool_call(allow, 300, "GET", url, NULL, TOOL_RESULT_MAX, &out, &err), RC_TIMEOUT);
    CHECK(out == NULL);
    /* a dot segment is refused before any call */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/../admin/secret", port);
    CHECK_INT(httptool_call(allow, 1000, "GET", url, NULL, TOOL_RESULT_MAX, &out, &err),
              RC_INVALID);
    CHECK(out == NULL);
    json_decref(t.http[0].args_schema);
    json_decref(ctx.citations);
    buf_release(&err);
    teardown(&f);
    fake_proc_stop(&pid);
}
