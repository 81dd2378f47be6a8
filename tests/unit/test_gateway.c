/* Tests for src/llm/gateway: the model registry (CRUD, defaults, keys never
 * shown), routing to the default, fail-over, cooldown, concurrency limits,
 * first-token timeouts, call records and the config fallback, against
 * tests/fake_model.py (the shared server, plus own ones in slow and stall
 * modes, plus closed ports for endpoints that are down). */
#include "test.h"

#include "common/config.h"
#include "common/rc.h"
#include "common/util.h"
#include "fake_model.h"
#include "llm/gateway.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

struct fx {
    struct config cfg;
    char path[512];
    sqlite3 *db;
    struct db_conn d;
    struct gw *gw;
    const struct fake_model *fm; /* the shared server, mode ok */
};

/* A fresh store; the shared fake server when want_fake (0 = skip test). */
static int fx_open(struct fx *f, const char *name, int want_fake)
{
    struct buf err = BUF_INIT;
    memset(f, 0, sizeof *f);
    if (want_fake) {
        f->fm = fake_model_shared("ok", 0, 0);
        if (!f->fm)
            return 0;
    }
    unsetenv("ATRIUM_CHAT_URL");
    unsetenv("ATRIUM_EMBED_URL");
    unsetenv("ATRIUM_RERANK_URL");
    int rc = config_load(&f->cfg, NULL, &err);
    f->cfg.connect_timeout_ms = 1000;
    f->cfg.first_token_timeout_ms = 2000;
    f->cfg.total_timeout_ms = 5000;
    f->cfg.model_cooldown_s = 30;
    snprintf(f->path, sizeof f->path, "%s/gw-%s.db", test_tmpdir(), name);
    if (!rc)
        rc = db_open(f->path, &f->db, &err);
    if (rc) {
        test_fail(__FILE__, __LINE__, "setup %s: %s", name, buf_str(&err));
        buf_release(&err);
        return 0;
    }
    f->d.db = f->db;
    f->d.cache = db_cache_new(f->db);
    buf_release(&err);
    return 1;
}

/* Starts the gateway (after the config is as the test wants it). */
static int fx_gw(struct fx *f)
{
    struct buf err = BUF_INIT;
    int rc = gw_new(&f->cfg, f->path, &f->gw, &err);
    if (rc)
        test_fail(__FILE__, __LINE__, "gw_new: %s", buf_str(&err));
    buf_release(&err);
    return rc == RC_OK;
}

static void fx_close(struct fx *f)
{
    gw_free(f->gw);
    db_cache_free(f->d.cache);
    db_close(f->db);
    config_release(&f->cfg);
}

static int64_t sql_int(struct fx *f, const char *q)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(f->db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t add_model(struct fx *f, const char *name, enum gw_purpose p, const char *url,
                         const char *upstream, const char *key, int conc, int is_default)
{
    struct gw_model_spec m = {name, p, NULL, is_default};
    struct gw_endpoint_spec ep = {url, upstream, key, conc, 1, 1};
    int64_t id = 0;
    struct buf err = BUF_INIT;
    int rc = gw_model_add(&f->d, &m, url ? &ep : NULL, &id, &err);
    if (rc)
        test_fail(__FILE__, __LINE__, "gw_model_add %s: %s", name, buf_str(&err));
    buf_release(&err);
    return id;
}

static int64_t add_ep(struct fx *f, int64_t model, const char *url, const char *upstream, int conc)
{
    struct gw_endpoint_spec ep = {url, upstream, NULL, conc, 1, 1};
    int64_t id = 0;
    struct buf err = BUF_INIT;
    int rc = gw_endpoint_add(&f->d, model, &ep, &id, &err);
    if (rc)
        test_fail(__FILE__, __LINE__, "gw_endpoint_add: %s", buf_str(&err));
    buf_release(&err);
    return id;
}

static int is_default(struct fx *f, int64_t id)
{
    json_t *j = NULL;
    if (gw_model_json(NULL, &f->d, id, &j) != RC_OK)
        return -1;
    int v = json_is_true(json_object_get(j, "default"));
    json_decref(j);
    return v;
}

static const struct llm_msg HELLO[] = {{.role = "user", .content = "你好"}};

static int chat(struct fx *f, const char *model, struct gw_call_info *info, struct buf *err)
{
    struct llm_result res;
    struct gw_call_opts o = {.user_id = 42};
    int rc = gw_chat(f->gw, model, HELLO, 1, NULL, NULL, &res, info, &o, err);
    if (rc == RC_OK)
        CHECK(res.content[0] != 0);
    llm_result_release(&res);
    return rc;
}

TEST(gateway_registry_crud_and_defaults)
{
    struct fx f;
    if (!fx_open(&f, "crud", 0))
        return;
    struct buf err = BUF_INIT;
    int64_t a = add_model(&f, "qwen-a", GW_CHAT, "http://127.0.0.1:1/v1", "qwen", NULL, 0, 0);
    CHECK_INT(is_default(&f, a), 1); /* the first of its purpose */
    int64_t b = add_model(&f, "qwen-b", GW_CHAT, "http://127.0.0.1:1/v1", "qwen", NULL, 4, 1);
    CHECK_INT(is_default(&f, a), 0);
    CHECK_INT(is_default(&f, b), 1);
    int64_t e = add_model(&f, "bge", GW_EMBEDDING, "http://127.0.0.1:1/v1", "bge-m3", NULL, 0, 0);
    CHECK_INT(is_default(&f, e), 1);
    CHECK_INT(is_default(&f, b), 1); /* other purposes keep theirs */

    struct gw_model_spec dup = {"qwen-a", GW_CHAT, NULL, 0};
    CHECK_INT(gw_model_add(&f.d, &dup, NULL, NULL, &err), RC_EXISTS);
    struct gw_model_spec bad = {"has space", GW_CHAT, NULL, 0};
    CHECK_INT(gw_model_add(&f.d, &bad, NULL, NULL, &err), RC_INVALID);
    struct gw_model_spec num = {"123", GW_CHAT, NULL, 0};
    CHECK_INT(gw_model_add(&f.d, &num, NULL, NULL, &err), RC_INVALID);
    struct gw_model_spec badp = {"p", GW_CHAT, "[1]", 0};
    CHECK_INT(gw_model_add(&f.d, &badp, NULL, NULL, &err), RC_INVALID);
    struct gw_endpoint_spec badurl = {"ftp://x/v1", "m", NULL, 0, 0, 1};
    CHECK_INT(gw_endpoint_add(&f.d, a, &badurl, NULL, &err), RC_INVALID);
    struct gw_endpoint_spec badw = {"http://x/v1", "m", NULL, 0, 5000, 1};
    CHECK_INT(gw_endpoint_add(&f.d, a, &badw, NULL, &err), RC_INVALID);
    struct gw_endpoint_spec ok = {"http://x/v1", "m", NULL, 0, 0, 1};
    CHECK_INT(gw_endpoint_add(&f.d, 9999, &ok, NULL, &err), RC_NOT_FOUND);

    int64_t id = 0;
    CHECK_INT(gw_model_find(&f.d, "qwen-b", &id), RC_OK);
    CHECK_INT(id, b);
    char num_s[32];
    snprintf(num_s, sizeof num_s, "%lld", (long long)a);
    CHECK_INT(gw_model_find(&f.d, num_s, &id), RC_OK);
    CHECK_INT(id, a);
    CHECK_INT(gw_model_find(&f.d, "nope", &id), RC_NOT_FOUND);

    /* endpoints */
    int64_t ep2 = add_ep(&f, a, "http://127.0.0.2:1/v1", "qwen", 2);
    json_t *j = NULL;
    CHECK_INT(gw_model_json(NULL, &f.d, a, &j), RC_OK);
    CHECK_INT(json_array_size(json_object_get(j, "endpoints")), 2);
    json_decref(j);
    CHECK_INT(gw_endpoint_set_enabled(&f.d, a, ep2, 0), RC_OK);
    CHECK_INT(gw_endpoint_remove(&f.d, b, ep2), RC_NOT_FOUND); /* not b's */
    CHECK_INT(gw_endpoint_remove(&f.d, a, ep2), RC_OK);
    CHECK_INT(gw_endpoint_remove(&f.d, a, ep2), RC_NOT_FOUND);

    /* update, default moves */
    struct gw_model_update u = {"qwen-a2", "{\"temperature\":0.2}", 1};
    CHECK_INT(gw_model_update(&f.d, a, &u, &err), RC_OK);
    CHECK_INT(is_default(&f, a), 1);
    CHECK_INT(is_default(&f, b), 0);
    CHECK_INT(gw_model_json(NULL, &f.d, a, &j), RC_OK);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "qwen-a2");
    CHECK(json_real_value(json_object_get(json_object_get(j, "params"), "temperature")) == 0.2);
    json_decref(j);
    struct gw_model_update taken = {"qwen-b", NULL, 0};
    CHECK_INT(gw_model_update(&f.d, a, &taken, &err), RC_EXISTS);
    CHECK_INT(gw_model_set_default(&f.d, b), RC_OK);
    CHECK_INT(is_default(&f, a), 0);

    /* removing the default promotes the oldest remaining one */
    CHECK_INT(gw_model_remove(&f.d, b), RC_OK);
    CHECK_INT(is_default(&f, a), 1);
    CHECK_INT(gw_model_remove(&f.d, b), RC_NOT_FOUND);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM model_endpoints WHERE model_id NOT IN (SELECT id "
                          "FROM models)"),
              0);
    CHECK_INT(gw_model_set_default(&f.d, 9999), RC_NOT_FOUND);
    buf_release(&err);
    fx_close(&f);
}

TEST(gateway_api_key_never_in_json)
{
    struct fx f;
    if (!fx_open(&f, "keys", 0))
        return;
    int64_t a = add_model(&f, "secret-chat", GW_CHAT, "http://127.0.0.1:1/v1", "qwen",
                          "sk-verysecret-123", 0, 0);
    add_ep(&f, a, "http://127.0.0.1:2/v1", "qwen", 0);
    struct buf err = BUF_INIT;
    CHECK_INT(config_set(&f.cfg, "rerank_url", "http://127.0.0.1:3/v1", &err), RC_OK);
    CHECK_INT(config_set(&f.cfg, "rerank_api_key", "sk-configsecret-9", &err), RC_OK);
    buf_release(&err);
    json_t *all = NULL;
    CHECK_INT(gw_models_json(NULL, &f.d, &f.cfg, &all), RC_OK);
    char *s = json_dumps(all, 0);
    CHECK(s && !strstr(s, "verysecret"));
    CHECK(s && !strstr(s, "configsecret"));
    CHECK_CONTAINS(s, "\"api_key_set\": true");
    CHECK_CONTAINS(s, "\"api_key_set\": false");
    CHECK_CONTAINS(s, "\"source\": \"config\""); /* rerank from the config */
    free(s);
    CHECK_INT(json_array_size(all), 2);
    json_decref(all);
    /* the key is stored */
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM model_endpoints WHERE api_key='sk-verysecret-123'"),
              1);
    fx_close(&f);
}

TEST(gateway_routes_to_the_default_and_by_name)
{
    struct fx f;
    if (!fx_open(&f, "route", 1))
        return;
    add_model(&f, "m-one", GW_CHAT, f.fm->base_url, "upstream-one", "sk-k1", 0, 0);
    int64_t two = add_model(&f, "m-two", GW_CHAT, f.fm->base_url, "upstream-two", NULL, 0, 1);
    if (!fx_gw(&f))
        goto out;
    CHECK(fake_model_clear(f.fm));
    struct gw_call_info info;
    struct buf err = BUF_INIT;
    CHECK_INT(chat(&f, NULL, &info, &err), RC_OK);
    CHECK_STR(info.model, "m-two");
    CHECK_STR(info.upstream, "upstream-two");
    CHECK_INT(info.model_id, two);
    CHECK_INT(info.attempts, 1);
    CHECK(info.first_token_ms >= 0 && info.total_ms >= info.first_token_ms);
    CHECK_INT(chat(&f, "m-one", &info, &err), RC_OK);
    CHECK_STR(info.upstream, "upstream-one");
    json_t *reqs = fake_model_requests(f.fm, "/v1/chat/completions");
    CHECK_INT(json_array_size(reqs), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(reqs, 0), "model")), "upstream-two");
    CHECK_STR(json_string_value(json_object_get(json_array_get(reqs, 1), "model")), "upstream-one");
    struct buf raw = BUF_INIT;
    CHECK_INT(fake_model_http(f.fm, "GET", "/requests", NULL, &raw), 200);
    CHECK_CONTAINS(buf_str(&raw), "Bearer sk-k1");
    buf_release(&raw);
    json_decref(reqs);
    /* a registry change is seen by the next call */
    int64_t one = 0;
    CHECK_INT(gw_model_find(&f.d, "m-one", &one), RC_OK);
    CHECK_INT(gw_model_set_default(&f.d, one), RC_OK);
    CHECK_INT(chat(&f, "", &info, &err), RC_OK);
    CHECK_STR(info.model, "m-one");
    /* unknown name, wrong purpose */
    buf_reset(&err);
    CHECK_INT(chat(&f, "nope", &info, &err), RC_NOT_FOUND);
    CHECK_CONTAINS(buf_str(&err), "nope");
    add_model(&f, "emb", GW_EMBEDDING, f.fm->base_url, "e", NULL, 0, 0);
    CHECK_INT(chat(&f, "emb", &info, &err), RC_INVALID);
    buf_release(&err);
out:
    fx_close(&f);
}

/* A model's registry params go with every request, under the caller's own
 * (which win), and never over the members the client owns. */
TEST(gateway_sends_the_models_params)
{
    struct fx f;
    if (!fx_open(&f, "params", 1))
        return;
    struct gw_model_spec m = {"tuned", GW_CHAT,
                              "{\"temperature\":0.2,\"max_tokens\":77,\"stream\":false}", 1};
    struct gw_endpoint_spec ep = {f.fm->base_url, "up", NULL, 0, 1, 1};
    struct buf err = BUF_INIT;
    CHECK_INT(gw_model_add(&f.d, &m, &ep, NULL, &err), RC_OK);
    if (!fx_gw(&f))
        goto out;
    CHECK(fake_model_clear(f.fm));
    struct llm_result res;
    struct gw_call_opts o = {.user_id = 1};
    CHECK_INT(gw_chat(f.gw, NULL, HELLO, 1, NULL, NULL, &res, NULL, &o, &err), RC_OK);
    llm_result_release(&res);
    o.chat.params = "{\"max_tokens\":5}";
    CHECK_INT(gw_chat(f.gw, NULL, HELLO, 1, NULL, NULL, &res, NULL, &o, &err), RC_OK);
    llm_result_release(&res);
    json_t *reqs = fake_model_requests(f.fm, "/v1/chat/completions");
    CHECK_INT(json_array_size(reqs), 2);
    json_t *r0 = json_array_get(reqs, 0), *r1 = json_array_get(reqs, 1);
    CHECK(fabs(json_number_value(json_object_get(r0, "temperature")) - 0.2) < 1e-9);
    CHECK_INT(json_integer_value(json_object_get(r0, "max_tokens")), 77);
    CHECK(json_is_true(json_object_get(r0, "stream"))); /* not the registry's false */
    CHECK(fabs(json_number_value(json_object_get(r1, "temperature")) - 0.2) < 1e-9);
    CHECK_INT(json_integer_value(json_object_get(r1, "max_tokens")), 5);
    json_decref(reqs);
out:
    buf_release(&err);
    fx_close(&f);
}

TEST(gateway_fails_over_and_cools_down_a_dead_endpoint)
{
    struct fx f;
    if (!fx_open(&f, "failover", 1))
        return;
    char dead[64];
    fake_model_closed_url(dead, sizeof dead);
    int64_t m = add_model(&f, "pool", GW_CHAT, dead, "up", NULL, 0, 0);
    int64_t live = add_ep(&f, m, f.fm->base_url, "up", 0);
    if (!fx_gw(&f))
        goto out;
    struct gw_call_info info;
    struct buf err = BUF_INIT;
    CHECK_INT(chat(&f, "pool", &info, &err), RC_OK);
    CHECK_INT(info.attempts, 2); /* the dead one comes first (equal weights, order) */
    CHECK_INT(info.endpoint_id, live);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(chat(&f, "pool", &info, &err), RC_OK);
        CHECK_INT(info.attempts, 1); /* resting: skipped */
        CHECK_INT(info.endpoint_id, live);
    }
    json_t *j = NULL;
    CHECK_INT(gw_model_json(f.gw, &f.d, m, &j), RC_OK);
    json_t *e0 = json_array_get(json_object_get(j, "endpoints"), 0);
    CHECK(json_real_value(json_object_get(e0, "cooldown_s")) > 20);
    CHECK(json_string_length(json_object_get(e0, "last_error")) > 0);
    json_decref(j);
    /* the active check keeps it down and clears nothing that works */
    CHECK_INT(gw_check_all(f.gw), 1);
    buf_release(&err);
out:
    fx_close(&f);
}

/* One call of purpose p on the default model (chat with HELLO, an
 * embedding of one text, a rerank of two documents). */
static int call_purpose(struct fx *f, enum gw_purpose p, struct gw_call_info *info, struct buf *err)
{
    static const char *const texts[] = {"个人住房贷款利率", "信用卡"};
    if (p == GW_CHAT)
        return chat(f, NULL, info, err);
    if (p == GW_EMBEDDING) {
        float *v = NULL;
        size_t dim = 0;
        int rc = gw_embed(f->gw, NULL, texts, 1, &v, &dim, info, NULL, err);
        CHECK(rc == RC_OK ? v != NULL && dim == 64 : v == NULL);
        free(v);
        return rc;
    }
    double scores[2] = {0, 0};
    return gw_rerank(f->gw, NULL, "住房贷款", texts, 2, scores, info, NULL, err);
}

static const char *purpose_path(enum gw_purpose p)
{
    return p == GW_CHAT        ? "/v1/chat/completions"
           : p == GW_EMBEDDING ? "/v1/embeddings"
                               : "/v1/rerank";
}

static int nrequests(const struct fake_model *fm, const char *path)
{
    json_t *r = fake_model_requests(fm, path);
    int n = r ? (int)json_array_size(r) : -1;
    json_decref(r);
    return n;
}

/* A model of purpose p whose first endpoint (`bad`, in mode fail) answers
 * HTTP `status` and whose second (the shared server) works, on a fresh
 * gateway, so the first call tries `bad` first (weighted round-robin starts
 * at the first endpoint). The gateway decides on the status as a value:
 * want_failover says whether the call must go on to the second endpoint and
 * rest the first, or end at once with the first one's error. */
/* The shared fake (the live endpoint) and a second one in mode fail, whose
 * status each status_case sets through /control. 0 when either is missing. */
static int failing_model_start(struct fake_model *bad)
{
    if (!fake_model_shared("ok", 0, 0))
        return 0;
    const char *extra[] = {"--mode", "fail", NULL};
    if (fake_model_start(bad, extra) != 1) {
        test_fail(__FILE__, __LINE__, "failing fake server did not start");
        return 0;
    }
    return 1;
}

static void status_case(struct fake_model *bad, enum gw_purpose p, int status, int want_failover)
{
    struct fx f;
    char name[64], body[64], want_text[32];
    snprintf(name, sizeof name, "status-%s-%d", gw_purpose_name(p), status);
    if (!fx_open(&f, name, 1))
        return;
    struct buf err = BUF_INIT;
    snprintf(body, sizeof body, "{\"fail_status\":%d}", status);
    CHECK_INT(fake_model_http(bad, "POST", "/control", body, NULL), 200);
    int64_t m = add_model(&f, "pool", p, bad->base_url, "up", NULL, 0, 0);
    int64_t bad_id = 0;
    json_t *j = NULL;
    CHECK_INT(gw_model_json(NULL, &f.d, m, &j), RC_OK);
    bad_id = json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "endpoints"), 0), "id"));
    json_decref(j);
    int64_t live = add_ep(&f, m, f.fm->base_url, "up", 0);
    if (!fx_gw(&f))
        goto out;
    CHECK(fake_model_clear(bad));
    CHECK(fake_model_clear(f.fm));
    struct gw_call_info info;
    int rc = call_purpose(&f, p, &info, &err);
    snprintf(want_text, sizeof want_text, "HTTP %d", status);
    CHECK_INT(nrequests(bad, purpose_path(p)), 1);
    if (want_failover) {
        CHECK_INT(rc, RC_OK);
        CHECK_INT(info.attempts, 2);
        CHECK_INT(info.endpoint_id, live);
        CHECK_INT(info.http_status, 200);
        CHECK_INT(nrequests(f.fm, purpose_path(p)), 1);
    } else {
        CHECK_INT(rc, RC_UPSTREAM);
        CHECK_INT(info.attempts, 1);
        CHECK_INT(info.endpoint_id, bad_id);
        CHECK_INT(info.http_status, status);
        CHECK_CONTAINS(buf_str(&err), want_text); /* the text stays for logs and users */
        CHECK_INT(nrequests(f.fm, purpose_path(p)), 0);
    }
    CHECK_INT(gw_model_json(f.gw, &f.d, m, &j), RC_OK);
    json_t *e0 = json_array_get(json_object_get(j, "endpoints"), 0);
    CHECK_INT(json_integer_value(json_object_get(e0, "id")), bad_id);
    if (want_failover)
        CHECK(json_real_value(json_object_get(e0, "cooldown_s")) > 20);
    else
        CHECK(json_real_value(json_object_get(e0, "cooldown_s")) == 0);
    CHECK_CONTAINS(json_string_value(json_object_get(e0, "last_error")), want_text);
    json_decref(j);
out:
    buf_release(&err);
    fx_close(&f);
}

/* A request the model refuses (400, 422: a prompt too long, a bad
 * parameter) would fail on every endpoint: no fail-over, no cooldown. */
TEST(gateway_http_4xx_refusal_is_not_failed_over_nor_cooled_down)
{
    struct fake_model bad;
    if (!failing_model_start(&bad))
        return;
    status_case(&bad, GW_CHAT, 400, 0);
    status_case(&bad, GW_CHAT, 422, 0);
    status_case(&bad, GW_EMBEDDING, 400, 0);
    status_case(&bad, GW_RERANK, 400, 0);
    fake_model_stop(&bad);
}

/* 5xx, 429 (load) and 401/403/404/408 (that endpoint's key, model name or
 * time) are the endpoint's trouble: fail over and rest it. */
TEST(gateway_http_5xx_429_and_auth_fail_over_and_cool_down)
{
    struct fake_model bad;
    if (!failing_model_start(&bad))
        return;
    status_case(&bad, GW_CHAT, 503, 1);
    status_case(&bad, GW_CHAT, 500, 1);
    status_case(&bad, GW_CHAT, 429, 1);
    status_case(&bad, GW_CHAT, 401, 1);
    status_case(&bad, GW_CHAT, 404, 1);
    status_case(&bad, GW_EMBEDDING, 503, 1);
    status_case(&bad, GW_RERANK, 429, 1);
    fake_model_stop(&bad);
}

TEST(gateway_all_endpoints_down_fails_fast)
{
    struct fx f;
    if (!fx_open(&f, "alldown", 0))
        return;
    char d1[64], d2[64];
    fake_model_closed_url(d1, sizeof d1);
    fake_model_closed_url(d2, sizeof d2);
    int64_t m = add_model(&f, "down", GW_CHAT, d1, "up", NULL, 0, 0);
    add_ep(&f, m, d2, "up", 0);
    if (!fx_gw(&f))
        goto out;
    struct gw_call_info info;
    struct buf err = BUF_INIT;
    double t = now_ms();
    CHECK_INT(chat(&f, NULL, &info, &err), RC_UPSTREAM);
    CHECK_INT(info.attempts, 2);
    CHECK(now_ms() - t < 1000);
    buf_reset(&err);
    t = now_ms();
    CHECK_INT(chat(&f, NULL, &info, &err), RC_UPSTREAM);
    CHECK(now_ms() - t < 50);
    CHECK_CONTAINS(buf_str(&err), "no healthy endpoint");
    /* a test of the model says so too */
    json_t *rep = NULL;
    CHECK_INT(gw_test_model(f.gw, &f.cfg, &f.d, m, 1, &rep), RC_UPSTREAM);
    CHECK(json_is_false(json_object_get(rep, "ok")));
    CHECK_INT(json_array_size(json_object_get(rep, "endpoints")), 2);
    json_decref(rep);
    buf_release(&err);
out:
    fx_close(&f);
}

struct bg_call {
    struct fx *f;
    const char *model;
    int rc;
    struct gw_call_info info;
};

static void *bg_chat(void *p)
{
    struct bg_call *b = p;
    struct buf err = BUF_INIT;
    b->rc = chat(b->f, b->model, &b->info, &err);
    buf_release(&err);
    return NULL;
}

static int in_flight(struct fx *f, int64_t model, size_t ep_index)
{
    json_t *j = NULL;
    if (gw_model_json(f->gw, &f->d, model, &j) != RC_OK)
        return -1;
    int n = (int)json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "endpoints"), ep_index), "in_flight"));
    json_decref(j);
    return n;
}

TEST(gateway_concurrency_limit_tries_others_then_busy)
{
    struct fx f;
    if (!fx_open(&f, "busy", 1))
        return;
    struct fake_model slow;
    const char *extra[] = {"--mode", "slow", "--tokens", "4", "--delay-ms", "150", NULL};
    if (fake_model_start(&slow, extra) != 1) {
        test_fail(__FILE__, __LINE__, "slow fake server did not start");
        fx_close(&f);
        return;
    }
    int64_t m = add_model(&f, "one-slot", GW_CHAT, slow.base_url, "up", NULL, 1, 0);
    if (!fx_gw(&f))
        goto out;
    struct bg_call b;
    memset(&b, 0, sizeof b);
    b.f = &f;
    b.model = "one-slot";
    b.rc = -1;
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, bg_chat, &b), 0);
    for (int i = 0; i < 200 && in_flight(&f, m, 0) < 1; i++)
        usleep(5000);
    CHECK_INT(in_flight(&f, m, 0), 1);
    struct gw_call_info info;
    struct buf err = BUF_INIT;
    double t = now_ms();
    CHECK_INT(chat(&f, "one-slot", &info, &err), RC_BUSY); /* no waiting */
    CHECK(now_ms() - t < 50);
    pthread_join(th, NULL);
    CHECK_INT(b.rc, RC_OK);
    CHECK_INT(in_flight(&f, m, 0), 0);

    /* with a second endpoint, the second call goes there */
    int64_t other = add_ep(&f, m, f.fm->base_url, "up", 1);
    b.rc = -1;
    CHECK_INT(pthread_create(&th, NULL, bg_chat, &b), 0);
    for (int i = 0; i < 200 && in_flight(&f, m, 0) + in_flight(&f, m, 1) < 1; i++)
        usleep(5000);
    int slow_busy = in_flight(&f, m, 0) == 1;
    CHECK_INT(chat(&f, "one-slot", &info, &err), RC_OK);
    if (slow_busy)
        CHECK_INT(info.endpoint_id, other);
    pthread_join(th, NULL);
    CHECK_INT(b.rc, RC_OK);
    buf_release(&err);
out:
    fx_close(&f);
    fake_model_stop(&slow);
}

/* A fake model that never sends a token; on failure the fixture is closed
 * and the test has failed. */
static int start_stalled(struct fx *f, struct fake_model *stall)
{
    const char *extra[] = {"--mode", "stall", NULL};
    if (fake_model_start(stall, extra) == 1)
        return 1;
    test_fail(__FILE__, __LINE__, "stall fake server did not start");
    fx_close(f);
    return 0;
}

TEST(gateway_first_token_timeout_fails_over_and_is_recorded)
{
    struct fx f;
    if (!fx_open(&f, "stall", 1))
        return;
    struct fake_model stall;
    if (!start_stalled(&f, &stall))
        return;
    f.cfg.first_token_timeout_ms = 300;
    int64_t m = add_model(&f, "stally", GW_CHAT, stall.base_url, "up", NULL, 0, 0);
    int64_t live = add_ep(&f, m, f.fm->base_url, "up", 0);
    if (!fx_gw(&f))
        goto out;
    struct gw_call_info info;
    struct buf err = BUF_INIT;
    double t = now_ms();
    CHECK_INT(chat(&f, NULL, &info, &err), RC_OK);
    CHECK(now_ms() - t < 2000);
    CHECK_INT(info.attempts, 2);
    CHECK_INT(info.endpoint_id, live);
    CHECK(info.first_token_ms >= 300); /* the caller waited for the stalled one first */
    CHECK(info.completion_tokens > 0);
    gw_flush(f.gw);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM model_calls"), 2);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM model_calls WHERE ok=0 AND error LIKE '%%' AND "
                          "first_token_ms=-1 AND purpose='chat' AND user_id=42"),
              1);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM model_calls WHERE ok=1 AND endpoint_id=%lld AND model_id=%lld "
             "AND completion_tokens>0 AND prompt_tokens>0 AND total_ms>0 AND first_token_ms>=0 "
             "AND user_id=42 AND ts>1600000000000",
             (long long)live, (long long)m);
    CHECK_INT(sql_int(&f, q), 1);
    buf_release(&err);
out:
    fx_close(&f);
    fake_model_stop(&stall);
}

TEST(gateway_caller_deadline_ends_the_wait_without_cooldown)
{
    /* A stalled model with a 2 s first-token timeout and a caller with
     * 400 ms left: RC_TIMEOUT at the caller's deadline, said in
     * info.out_of_time, no fail-over to the second endpoint and no cooldown
     * (the endpoint did nothing wrong); past the deadline nothing starts. */
    struct fx f;
    if (!fx_open(&f, "deadline", 1))
        return;
    struct fake_model stall;
    if (!start_stalled(&f, &stall))
        return;
    int64_t m = add_model(&f, "stally", GW_CHAT, stall.base_url, "up", NULL, 0, 0);
    (void)add_ep(&f, m, f.fm->base_url, "up", 0);
    if (!fx_gw(&f))
        goto out;
    struct gw_call_info info;
    struct buf err = BUF_INIT;
    struct llm_result res;
    /* the stalled endpoint first: weighted round-robin starts at the first */
    struct gw_call_opts o = {.user_id = 42, .deadline_ms = now_ms() + 400};
    double t = now_ms();
    int rc = gw_chat(f.gw, NULL, HELLO, 1, NULL, NULL, &res, &info, &o, &err);
    double took = now_ms() - t;
    llm_result_release(&res);
    if (rc == RC_OK) { /* the live one was picked first: the stalled one must be next */
        o.deadline_ms = now_ms() + 400;
        t = now_ms();
        rc = gw_chat(f.gw, NULL, HELLO, 1, NULL, NULL, &res, &info, &o, &err);
        took = now_ms() - t;
        llm_result_release(&res);
    }
    CHECK_INT(rc, RC_TIMEOUT);
    CHECK(info.out_of_time);
    CHECK_INT(info.attempts, 1);
    CHECK(took >= 350 && took < 1500);
    json_t *st = NULL;
    CHECK_INT(gw_model_json(f.gw, &f.d, m, &st), RC_OK);
    json_t *eps = json_object_get(st, "endpoints");
    for (size_t i = 0; i < json_array_size(eps); i++)
        CHECK(json_real_value(json_object_get(json_array_get(eps, i), "cooldown_s")) == 0);
    CHECK_INT((long)json_array_size(eps), 2);
    json_decref(st);
    /* a deadline already past: nothing is sent */
    o.deadline_ms = now_ms() - 1;
    buf_reset(&err);
    CHECK_INT(gw_chat(f.gw, NULL, HELLO, 1, NULL, NULL, &res, &info, &o, &err), RC_TIMEOUT);
    llm_result_release(&res);
    CHECK(info.out_of_time);
    CHECK_INT(info.attempts, 0);
    CHECK_CONTAINS(buf_str(&err), "time limit");
    buf_release(&err);
out:
    fx_close(&f);
    fake_model_stop(&stall);
}

TEST(gateway_config_fallback_when_registry_empty)
{
    struct fx f;
    if (!fx_open(&f, "fallback", 1))
        return;
    struct buf err = BUF_INIT;
    CHECK_INT(config_set(&f.cfg, "chat_url", f.fm->base_url, &err), RC_OK);
    CHECK_INT(config_set(&f.cfg, "chat_model", "cfg-model", &err), RC_OK);
    CHECK_INT(config_set(&f.cfg, "embed_url", f.fm->base_url, &err), RC_OK);
    CHECK_INT(config_set(&f.cfg, "embed_model", "cfg-embed", &err), RC_OK);
    if (!fx_gw(&f))
        goto out;
    struct gw_call_info info;
    CHECK_INT(chat(&f, NULL, &info, &err), RC_OK);
    CHECK_STR(info.model, "default");
    CHECK_STR(info.upstream, "cfg-model");
    CHECK_INT(info.model_id, 0);
    CHECK_INT(chat(&f, "default", &info, &err), RC_OK);
    int64_t id = -1;
    CHECK_INT(gw_resolve(f.gw, NULL, GW_CHAT, &id), RC_OK);
    CHECK_INT(id, 0);
    CHECK_INT(gw_resolve(f.gw, NULL, GW_RERANK, &id), RC_NOT_FOUND);

    const char *texts[] = {"个人住房贷款", "定期存款"};
    float *vecs = NULL;
    size_t dim = 0;
    CHECK_INT(gw_embed(f.gw, NULL, texts, 2, &vecs, &dim, &info, NULL, &err), RC_OK);
    CHECK_INT(dim, 64);
    CHECK_STR(info.upstream, "cfg-embed");
    free(vecs);

    /* a registry model of the purpose takes over */
    int64_t m = add_model(&f, "reg-chat", GW_CHAT, f.fm->base_url, "reg-up", NULL, 0, 0);
    CHECK_INT(chat(&f, NULL, &info, &err), RC_OK);
    CHECK_STR(info.model, "reg-chat");
    CHECK_INT(gw_resolve(f.gw, NULL, GW_CHAT, &id), RC_OK);
    CHECK_INT(id, m);
    /* rerank through the registry */
    add_model(&f, "rr", GW_RERANK, f.fm->base_url, "rr-up", NULL, 0, 0);
    const char *docs[] = {"个人住房贷款利率", "信用卡"};
    double scores[2] = {0, 0};
    CHECK_INT(gw_rerank(f.gw, NULL, "住房贷款", docs, 2, scores, &info, NULL, &err), RC_OK);
    CHECK(scores[0] > scores[1]);
    CHECK_STR(info.model, "rr");
    /* the list shows config entries only where the registry has none */
    json_t *all = NULL;
    CHECK_INT(gw_models_json(f.gw, &f.d, &f.cfg, &all), RC_OK);
    CHECK_INT(json_array_size(all), 3); /* reg-chat, rr, and the config's embedding */
    json_decref(all);
    gw_flush(f.gw);
    CHECK_INT(sql_int(&f, "SELECT count(*) FROM model_calls WHERE purpose='embedding' AND "
                          "model_id=0 AND ok=1"),
              1);
out:
    buf_release(&err);
    fx_close(&f);
}

TEST(gateway_test_model_reports_endpoints)
{
    struct fx f;
    if (!fx_open(&f, "testmodel", 1))
        return;
    char dead[64];
    fake_model_closed_url(dead, sizeof dead);
    int64_t m = add_model(&f, "mixed", GW_CHAT, f.fm->base_url, "up", NULL, 0, 0);
    add_ep(&f, m, dead, "up", 0);
    json_t *rep = NULL;
    CHECK_INT(gw_test_model(NULL, &f.cfg, &f.d, m, 1, &rep), RC_OK);
    CHECK(json_is_true(json_object_get(rep, "ok")));
    json_t *eps = json_object_get(rep, "endpoints");
    CHECK(json_is_true(json_object_get(json_array_get(eps, 0), "ok")));
    CHECK(json_is_number(json_object_get(json_array_get(eps, 0), "chat_ms")));
    CHECK(json_is_false(json_object_get(json_array_get(eps, 1), "ok")));
    CHECK(json_string_length(json_object_get(json_array_get(eps, 1), "error")) > 0);
    json_decref(rep);
    CHECK_INT(gw_test_model(NULL, &f.cfg, &f.d, 9999, 1, &rep), RC_NOT_FOUND);
    fx_close(&f);
}
