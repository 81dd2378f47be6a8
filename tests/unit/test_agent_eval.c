/* Unit tests for agents/eval: case expectations (validation), scoring of
 * keywords / citations / refusals with their edge cases, run scores,
 * eval sets in the store, run cancel and crash recovery, the case-by-case
 * comparison, the quality gate, and a whole run through the runtime
 * without a model. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/agent.h"
#include "agents/eval.h"
#include "agents/runtime.h"
#include "auth/auth.h"
#include "common/config.h"
#include "common/rc.h"
#include "kb/kb.h"

static json_t *J(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    if (!j)
        test_fail(__FILE__, __LINE__, "bad JSON in test: %s", s);
    return j;
}

static int expect_rc(const char *s, struct buf *err)
{
    json_t *j = J(s);
    struct eval_expect x;
    buf_reset(err);
    int rc = eval_expect_parse(j, &x, err);
    eval_expect_release(&x);
    json_decref(j);
    return rc;
}

TEST(agent_eval_expect_validation)
{
    struct buf err = BUF_INIT;
    CHECK_INT(expect_rc("{\"keywords\":[\"10元\",\"满一年\"]}", &err), RC_OK);
    CHECK_INT(expect_rc("{\"refuse\":true}", &err), RC_OK);
    CHECK_INT(expect_rc("{\"refuse\":false}", &err), RC_OK);
    CHECK_INT(expect_rc("{\"citations\":[\"办法\"],\"keywords\":[\"a\"]}", &err), RC_OK);
    CHECK_INT(expect_rc("{}", &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "at least one check");
    CHECK_INT(expect_rc("{\"keyword\":[\"a\"]}", &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "unknown member");
    CHECK_INT(expect_rc("{\"keywords\":[]}", &err), RC_INVALID);
    CHECK_INT(expect_rc("{\"keywords\":\"a\"}", &err), RC_INVALID);
    CHECK_INT(expect_rc("{\"keywords\":[\"\"]}", &err), RC_INVALID);
    CHECK_INT(expect_rc("{\"keywords\":[1]}", &err), RC_INVALID);
    CHECK_INT(expect_rc("{\"refuse\":1}", &err), RC_INVALID);
    CHECK_INT(expect_rc("[\"a\"]", &err), RC_INVALID);
    /* sizes: a keyword over EVAL_CHECK_MAX bytes, more than EVAL_CHECKS_MAX */
    char big[EVAL_CHECK_MAX + 40];
    memset(big, 'x', sizeof big);
    big[EVAL_CHECK_MAX + 1] = '\0';
    json_t *j = json_pack("{s[s]}", "keywords", big);
    struct eval_expect x;
    CHECK_INT(eval_expect_parse(j, &x, &err), RC_INVALID);
    eval_expect_release(&x);
    json_decref(j);
    j = json_pack("{s[]}", "keywords");
    for (int i = 0; i <= EVAL_CHECKS_MAX; i++)
        json_array_append_new(json_object_get(j, "keywords"), json_string("k"));
    CHECK_INT(eval_expect_parse(j, &x, &err), RC_INVALID);
    eval_expect_release(&x);
    json_decref(j);
    buf_release(&err);
}

static struct eval_case_score score(const char *expect, const char *answer, const char *mode,
                                    const char *citations)
{
    struct eval_expect x;
    struct buf err = BUF_INIT;
    json_t *e = J(expect), *c = citations ? J(citations) : NULL;
    struct eval_case_score s;
    memset(&s, 0, sizeof s);
    if (eval_expect_parse(e, &x, &err) != RC_OK)
        test_fail(__FILE__, __LINE__, "expect: %s", buf_str(&err));
    eval_score_case(&x, answer, mode, c, &s);
    eval_expect_release(&x);
    json_decref(e);
    json_decref(c);
    buf_release(&err);
    return s;
}

TEST(agent_eval_score_keywords)
{
    /* width, case and traditional characters are folded */
    struct eval_case_score s = score("{\"keywords\":[\"ＡＴＭ\",\"10元\",\"帳戶\"]}",
                                     "在atm上取款收１０元，账户不变。", "model", NULL);
    CHECK(s.keyword_score > 0.999);
    CHECK(s.passed);
    CHECK_INT(s.citation_ok, -1);
    CHECK_INT(s.refusal_ok, -1);
    s = score("{\"keywords\":[\"10元\",\"满一年\"]}", "收费 10 元", "model", NULL);
    CHECK(s.keyword_score > 0.49 && s.keyword_score < 0.51);
    CHECK(!s.passed);
    CHECK(s.score > 0.49 && s.score < 0.51);
    s = score("{\"keywords\":[\"10元\"]}", "", "none", NULL);
    CHECK(s.keyword_score < 0.001);
    CHECK(!s.passed);
    s = score("{\"keywords\":[\"10元\"]}", NULL, "model", NULL);
    CHECK(s.score < 0.001);
}

TEST(agent_eval_score_citations)
{
    const char *cits = "[{\"n\":1,\"kind\":\"kb\",\"title\":\"个人账户管理办法\","
                       "\"cite\":\"《个人账户管理办法》第十二条\"},"
                       "{\"n\":2,\"kind\":\"kb\",\"title\":\"收费标准\",\"cite\":\"\"}]";
    struct eval_case_score s = score("{\"citations\":[\"账户管理办法\"]}", "…", "model", cits);
    CHECK_INT(s.citation_ok, 1);
    CHECK(s.passed);
    /* every expected string must be found, in title or cite */
    s = score("{\"citations\":[\"第十二条\",\"收费标准\"]}", "…", "model", cits);
    CHECK_INT(s.citation_ok, 1);
    s = score("{\"citations\":[\"第十二条\",\"票据法\"]}", "…", "model", cits);
    CHECK_INT(s.citation_ok, 0);
    CHECK(!s.passed);
    s = score("{\"citations\":[\"办法\"]}", "…", "model", NULL);
    CHECK_INT(s.citation_ok, 0);
    s = score("{\"citations\":[\"办法\"]}", "…", "model", "[]");
    CHECK_INT(s.citation_ok, 0);
    /* keywords and citations: the mean of the two checks */
    s = score("{\"keywords\":[\"十元\"],\"citations\":[\"票据法\"]}", "收费十元", "model", cits);
    CHECK(s.score > 0.49 && s.score < 0.51);
}

TEST(agent_eval_refusal_rule)
{
    CHECK(eval_is_refusal("知识库里有这个答案", "none"));
    CHECK(eval_is_refusal("您的问题含有敏感内容", "blocked"));
    CHECK(eval_is_refusal("", "model"));
    CHECK(eval_is_refusal("  \n", "model"));
    CHECK(eval_is_refusal(NULL, "model"));
    CHECK(eval_is_refusal("抱歉，知识库中没有找到与该问题相关的内容。", "model"));
    CHECK(eval_is_refusal("很抱歉，这个问题超出了知识库的范围，无法回答。", "model"));
    CHECK(eval_is_refusal("Sorry, this question is NOT  covered by the knowledge base.", "model"));
    CHECK(eval_is_refusal("未找到相关规定。", "model"));
    /* a real answer that says 未找到 later is not a refusal */
    CHECK(!eval_is_refusal("存折遗失时应当立即办理挂失止付手续，挂失止付的有效期为七日。"
                           "期满后应补办正式挂失；正式挂失后七日内如存折被找到，可以撤销挂失；"
                           "若存折始终未找到，则按规定办理补发。",
                           "model"));
    /* extractive answers quote the knowledge: never a refusal */
    CHECK(!eval_is_refusal("未找到存单的，应当立即办理挂失。", "extractive"));
    CHECK(!eval_is_refusal("挂失止付的有效期为七日。", "model"));
    CHECK(!eval_is_refusal("有效期为七日；若存单未找到，应当办理挂失。", "model"));
    CHECK(eval_is_refusal("抱歉，未找到\n相关内容", "model"));

    struct eval_case_score s = score("{\"refuse\":true}", "抱歉，没有找到相关内容", "model", NULL);
    CHECK_INT(s.refusal_ok, 1);
    CHECK(s.passed);
    s = score("{\"refuse\":true}", "汇率是 7.1", "model", NULL);
    CHECK_INT(s.refusal_ok, 0);
    CHECK(!s.passed);
    s = score("{\"refuse\":false,\"keywords\":[\"七日\"]}", "有效期为七日", "extractive", NULL);
    CHECK_INT(s.refusal_ok, 1);
    CHECK(s.passed);
    s = score("{\"refuse\":false}", "", "none", NULL);
    CHECK_INT(s.refusal_ok, 0);
}

TEST(agent_eval_scores_json)
{
    struct eval_expect x[4];
    struct eval_case_score s[4];
    struct buf err = BUF_INIT;
    const char *ex[4] = {"{\"keywords\":[\"a\",\"b\"]}", "{\"refuse\":true}",
                         "{\"keywords\":[\"a\"],\"citations\":[\"c\"]}", "{\"refuse\":true}"};
    for (int i = 0; i < 4; i++) {
        json_t *j = J(ex[i]);
        CHECK_INT(eval_expect_parse(j, &x[i], &err), RC_OK);
        json_decref(j);
        memset(&s[i], 0, sizeof s[i]);
    }
    s[0].latency_ms = 100;
    eval_score_case(&x[0], "a only", "model", NULL, &s[0]); /* 0.5 */
    s[1].latency_ms = 400;
    eval_score_case(&x[1], "", "none", NULL, &s[1]); /* 1 */
    s[2].latency_ms = 200;
    json_t *cit = J("[{\"title\":\"c\"}]");
    eval_score_case(&x[2], "a", "model", cit, &s[2]); /* 1 */
    json_decref(cit);
    s[3].latency_ms = 300;
    eval_score_case(&x[3], "answer", "model", NULL, &s[3]); /* 0 */
    json_t *j = eval_scores_json(x, s, 4);
    CHECK(json_real_value(json_object_get(j, "score")) > 0.624 &&
          json_real_value(json_object_get(j, "score")) < 0.626); /* (0.5+1+1+0)/4 */
    CHECK(json_real_value(json_object_get(j, "pass_rate")) > 0.49 &&
          json_real_value(json_object_get(j, "pass_rate")) < 0.51);
    CHECK(json_real_value(json_object_get(j, "keyword_accuracy")) > 0.74 &&
          json_real_value(json_object_get(j, "keyword_accuracy")) < 0.76); /* (0.5+1)/2 */
    CHECK(json_real_value(json_object_get(j, "citation_accuracy")) > 0.999);
    CHECK(json_real_value(json_object_get(j, "refusal_accuracy")) > 0.49 &&
          json_real_value(json_object_get(j, "refusal_accuracy")) < 0.51);
    /* nearest rank over 100, 200, 300, 400: p50 = 200, p95 = 400 */
    CHECK(json_real_value(json_object_get(j, "latency_ms_p50")) > 199.9 &&
          json_real_value(json_object_get(j, "latency_ms_p50")) < 200.1);
    CHECK(json_real_value(json_object_get(j, "latency_ms_p95")) > 399.9);
    CHECK_INT(json_integer_value(json_object_get(j, "cases")), 4);
    CHECK_INT(json_integer_value(json_object_get(j, "passed")), 2);
    json_decref(j);
    /* no case names citations: null, not 0 */
    j = eval_scores_json(x, s, 2);
    CHECK(json_is_null(json_object_get(j, "citation_accuracy")));
    json_decref(j);
    j = eval_scores_json(NULL, NULL, 0);
    CHECK(json_is_null(json_object_get(j, "score")));
    json_decref(j);
    for (int i = 0; i < 4; i++)
        eval_expect_release(&x[i]);
    buf_release(&err);
}

/* ---- the store ---- */

struct fx {
    struct config cfg;
    struct kb_engine *e;
    struct kb_conn *c;
    struct db_conn *d;
    int64_t agent_id;
    int64_t kb_id;
};

static const char REG[] = "# 示范银行账户管理办法\n\n"
                          "## 第三章 挂失\n\n"
                          "第三条 存款人遗失存单的，应当立即办理挂失止付手续。\n\n"
                          "挂失止付的有效期为七日。\n";

static int64_t insert_i(struct db_conn *d, const char *sql, int64_t a, int64_t b, const char *s)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(d->db));
        return 0;
    }
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    sqlite3_bind_text(st, 3, s ? s : "", -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
        id = sqlite3_last_insert_rowid(d->db);
    else
        fprintf(stderr, "step: %s\n", sqlite3_errmsg(d->db));
    sqlite3_finalize(st);
    return id;
}

static int setup(struct fx *f, const char *name, int with_doc)
{
    struct buf err = BUF_INIT;
    memset(f, 0, sizeof *f);
    unsetenv("ATRIUM_CHAT_URL");
    unsetenv("ATRIUM_EMBED_URL");
    unsetenv("ATRIUM_RERANK_URL");
    config_load(&f->cfg, NULL, &err);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/agent_eval_%s", test_tmpdir(), name);
    config_set(&f->cfg, "data_dir", dir, &err);
    config_set(&f->cfg, "answer_min_score", "0.3", &err);
    struct kb_info kb;
    memset(&kb, 0, sizeof kb);
    int rc = kb_engine_open(&f->cfg, &f->e, &err);
    if (!rc)
        rc = kb_conn_open(f->e, &f->c, &err);
    if (!rc)
        rc = kb_create(f->c, "规章", &kb, &err);
    if (!rc && with_doc) {
        struct kb_ingest_report rep = {0};
        rc = kb_ingest_bytes(f->c, kb.id, "账户管理办法.md", REG, strlen(REG), &rep);
        kb_ingest_report_release(&rep);
    }
    if (rc) {
        fprintf(stderr, "setup: %s\n", buf_str(&err));
        buf_release(&err);
        return rc;
    }
    f->kb_id = kb.id;
    kb_info_release(&kb);
    f->d = kb_conn_store(f->c);
    f->agent_id = insert_i(f->d,
                           "INSERT INTO agents(name, title, created_at, updated_at)"
                           " VALUES ('teller', '柜面助手', ?1, ?1 + ?2 * 0)",
                           1700000000, 0, NULL);
    char spec[200];
    snprintf(spec, sizeof spec,
             "{\"prompt\":\"你是柜面助手\",\"kbs\":[%lld],\"tools\":[\"kb_search\"]}",
             (long long)f->kb_id);
    for (int v = 1; v <= 2; v++)
        insert_i(f->d,
                 "INSERT INTO agent_versions(agent_id, version, spec, created_at)"
                 " VALUES (?1, ?2, ?3, 1700000000)",
                 f->agent_id, v, spec);
    buf_release(&err);
    return f->agent_id ? RC_OK : RC_DB;
}

static void teardown(struct fx *f)
{
    kb_conn_close(f->c);
    kb_engine_close(f->e);
    config_release(&f->cfg);
}

static const char CASES[] =
    "[{\"question\":\"存单丢了怎么办\",\"expect\":{\"keywords\":[\"挂失止付\"]}},"
    " {\"question\":\"挂失止付多久有效\",\"expect\":{\"keywords\":[\"七日\"],"
    "  \"citations\":[\"账户管理办法\"]}},"
    " {\"question\":\"今天美元汇率多少\",\"expect\":{\"refuse\":true}}]";

TEST(agent_eval_sets_store)
{
    struct fx f;
    if (setup(&f, "sets", 0))
        CHECK(0);
    struct buf err = BUF_INIT;
    json_t *cases = J(CASES), *j = NULL;
    int64_t id = 0, id2 = 0, found = 0;
    CHECK_INT(eval_set_create(f.d, f.agent_id, "基础", "柜面常见问题", cases, &id, &err), RC_OK);
    CHECK(id > 0);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "基础", "", cases, &id2, &err), RC_EXISTS);
    buf_reset(&err);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "123", "", cases, &id2, &err), RC_INVALID);
    buf_reset(&err);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "", "", cases, &id2, &err), RC_INVALID);
    /* a bad case names itself; nothing is stored */
    json_t *bad = J("[{\"question\":\"q\",\"expect\":{\"keywords\":[\"a\"]}},"
                    " {\"question\":\"q2\",\"expect\":{\"refuse\":\"yes\"}}]");
    buf_reset(&err);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "坏", "", bad, &id2, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "cases[1]");
    CHECK_INT(eval_set_find(f.d, f.agent_id, "坏", &found), RC_NOT_FOUND);
    json_decref(bad);
    bad = J("[{\"question\":\"q\",\"expect\":{\"keywords\":[\"a\"]},\"extra\":1}]");
    buf_reset(&err);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "坏", "", bad, &id2, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "extra");
    json_decref(bad);
    bad = J("[]");
    CHECK_INT(eval_set_create(f.d, f.agent_id, "坏", "", bad, &id2, &err), RC_INVALID);
    json_decref(bad);
    bad = J("[{\"question\":\"\",\"expect\":{\"refuse\":true}}]");
    CHECK_INT(eval_set_create(f.d, f.agent_id, "坏", "", bad, &id2, &err), RC_INVALID);
    json_decref(bad);

    CHECK_INT(eval_set_find(f.d, f.agent_id, "基础", &found), RC_OK);
    CHECK(found == id);
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    CHECK_INT(eval_set_find(f.d, f.agent_id, idbuf, &found), RC_OK);
    CHECK(found == id);
    CHECK_INT(eval_set_find(f.d, f.agent_id + 1, "基础", &found), RC_NOT_FOUND);

    CHECK_INT(eval_set_json(f.d, f.agent_id, id, &j), RC_OK);
    CHECK_INT(json_array_size(json_object_get(j, "cases")), 3);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(j, "cases"), 1), "question")),
              "挂失止付多久有效");
    json_decref(j);

    json_t *one = J("[{\"question\":\"新问题\",\"expect\":{\"refuse\":false}}]");
    CHECK_INT(eval_set_update(f.d, f.agent_id, id, "新说明", one, &err), RC_OK);
    CHECK_INT(eval_set_json(f.d, f.agent_id, id, &j), RC_OK);
    CHECK_INT(json_array_size(json_object_get(j, "cases")), 1);
    CHECK_STR(json_string_value(json_object_get(j, "description")), "新说明");
    json_decref(j);
    CHECK_INT(eval_set_update(f.d, f.agent_id, id + 100, NULL, one, &err), RC_NOT_FOUND);
    json_decref(one);

    CHECK_INT(eval_set_list(f.d, f.agent_id, &j), RC_OK);
    CHECK_INT(json_array_size(j), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(j, 0), "cases")), 1);
    json_decref(j);

    /* deleting the gate's set clears the gate */
    insert_i(f.d, "UPDATE agents SET gate_set_id = ?2, gate_min_score = 0.8 WHERE id = ?1",
             f.agent_id, id, NULL);
    CHECK_INT(eval_set_delete(f.d, f.agent_id, id), RC_OK);
    CHECK_INT(eval_set_delete(f.d, f.agent_id, id), RC_NOT_FOUND);
    struct agent a;
    memset(&a, 0, sizeof a);
    CHECK_INT(agent_get_for(f.d, NULL, "teller", &a), RC_OK);
    CHECK(a.gate_set_id == 0);
    agent_release(&a);
    json_decref(cases);
    buf_release(&err);
    teardown(&f);
}

/* A finished run with hand-made results: scores[i] per case (passed at 1). */
static int64_t fake_run(struct fx *f, int64_t set_id, int version, const double *scores, size_t n,
                        const int64_t *case_ids, double run_score)
{
    sqlite3_stmt *st = NULL;
    char sc[64];
    int64_t run = 0;
    snprintf(sc, sizeof sc, "{\"score\":%.3f}", run_score);
    if (sqlite3_prepare_v2(f->d->db,
                           "INSERT INTO eval_runs(agent_id, version, set_id, status, total, done,"
                           " scores, created_at) VALUES (?1, ?2, ?3, 'done', ?4, ?4, ?5, 1)",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, f->agent_id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_int64(st, 3, set_id);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)n);
    sqlite3_bind_text(st, 5, sc, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_DONE)
        run = sqlite3_last_insert_rowid(f->d->db);
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++) {
        if (sqlite3_prepare_v2(f->d->db,
                               "INSERT INTO eval_results(run_id, case_id, answer, score, passed)"
                               " VALUES (?1, ?2, '答', ?3, ?3 >= 0.999)",
                               -1, &st, NULL) != SQLITE_OK)
            return 0;
        sqlite3_bind_int64(st, 1, run);
        sqlite3_bind_int64(st, 2, case_ids[i]);
        sqlite3_bind_double(st, 3, scores[i]);
        if (sqlite3_step(st) != SQLITE_DONE)
            run = 0;
        sqlite3_finalize(st);
    }
    CHECK(run > 0);
    return run;
}

static void case_ids(struct fx *f, int64_t set_id, int64_t out[3])
{
    json_t *j = NULL;
    CHECK_INT(eval_set_json(f->d, f->agent_id, set_id, &j), RC_OK);
    for (int i = 0; i < 3; i++)
        out[i] = json_integer_value(
            json_object_get(json_array_get(json_object_get(j, "cases"), i), "id"));
    json_decref(j);
}

TEST(agent_eval_compare_runs)
{
    struct fx f;
    if (setup(&f, "compare", 0))
        CHECK(0);
    struct buf err = BUF_INIT;
    json_t *cases = J(CASES), *j = NULL;
    int64_t set = 0, other = 0, ids[3];
    CHECK_INT(eval_set_create(f.d, f.agent_id, "基础", "", cases, &set, &err), RC_OK);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "其他", "", cases, &other, &err), RC_OK);
    case_ids(&f, set, ids);
    const double sa[3] = {1, 0.5, 1}, sb[3] = {1, 1, 0};
    int64_t ra = fake_run(&f, set, 1, sa, 3, ids, 0.833);
    int64_t rb = fake_run(&f, set, 2, sb, 2, ids, 0.667); /* b lacks case 3 */
    CHECK_INT(eval_compare(f.d, f.agent_id, ra, rb, &j, &err), RC_OK);
    json_t *cs = json_object_get(j, "cases");
    CHECK_INT(json_array_size(cs), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(cs, 0), "change")), "same");
    CHECK_STR(json_string_value(json_object_get(json_array_get(cs, 1), "change")), "improved");
    CHECK_STR(json_string_value(json_object_get(json_array_get(cs, 2), "change")), "regressed");
    CHECK(json_is_null(json_object_get(json_array_get(cs, 2), "b")));
    CHECK(json_is_true(json_object_get(json_object_get(json_array_get(cs, 1), "b"), "passed")));
    CHECK_INT(json_integer_value(json_object_get(j, "improved")), 1);
    CHECK_INT(json_integer_value(json_object_get(j, "regressed")), 1);
    CHECK_INT(json_integer_value(json_object_get(j, "same")), 1);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "b"), "version")), 2);
    CHECK(json_object_get(json_object_get(j, "a"), "results") == NULL);
    json_decref(j);
    /* different sets, unknown run */
    int64_t rc_ = fake_run(&f, other, 2, sb, 0, ids, 0);
    CHECK_INT(eval_compare(f.d, f.agent_id, ra, rc_, &j, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "different");
    CHECK_INT(eval_compare(f.d, f.agent_id, ra, rb + 1000, &j, &err), RC_NOT_FOUND);
    CHECK_INT(eval_compare(f.d, f.agent_id + 1, ra, rb, &j, &err), RC_NOT_FOUND);
    json_decref(cases);
    buf_release(&err);
    teardown(&f);
}

TEST(agent_eval_quality_gate)
{
    struct fx f;
    if (setup(&f, "gate", 0))
        CHECK(0);
    struct buf err = BUF_INIT;
    json_t *cases = J(CASES);
    int64_t set = 0, other = 0, ids[3];
    CHECK_INT(eval_set_create(f.d, f.agent_id, "门禁", "", cases, &set, &err), RC_OK);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "其他", "", cases, &other, &err), RC_OK);
    case_ids(&f, set, ids);
    struct agent a;
    memset(&a, 0, sizeof a);
    a.id = f.agent_id;
    /* no gate */
    CHECK_INT(eval_gate_check(f.d, &a, 2, &err), RC_OK);
    a.gate_set_id = set;
    a.gate_min_score = 0.8;
    /* no run yet */
    CHECK_INT(eval_gate_check(f.d, &a, 2, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "no finished run");
    /* a run over another set, and another version's good run, do not count */
    fake_run(&f, other, 2, NULL, 0, ids, 1.0);
    fake_run(&f, set, 1, NULL, 0, ids, 1.0);
    buf_reset(&err);
    CHECK_INT(eval_gate_check(f.d, &a, 2, &err), RC_DENIED);
    /* below the threshold */
    fake_run(&f, set, 2, NULL, 0, ids, 0.62);
    buf_reset(&err);
    CHECK_INT(eval_gate_check(f.d, &a, 2, &err), RC_DENIED);
    CHECK_CONTAINS(buf_str(&err), "0.620");
    CHECK_CONTAINS(buf_str(&err), "0.80");
    /* at the threshold: passes; a cancelled run after it does not count */
    fake_run(&f, set, 2, NULL, 0, ids, 0.8);
    int64_t late = fake_run(&f, set, 2, NULL, 0, ids, 0.1);
    insert_i(f.d, "UPDATE eval_runs SET status = 'cancelled' WHERE id = ?1 AND ?2 = ?2", late, 0,
             NULL);
    buf_reset(&err);
    CHECK_INT(eval_gate_check(f.d, &a, 2, &err), RC_OK);
    /* the latest finished run decides */
    fake_run(&f, set, 2, NULL, 0, ids, 0.79);
    CHECK_INT(eval_gate_check(f.d, &a, 2, &err), RC_DENIED);
    json_decref(cases);
    buf_release(&err);
    teardown(&f);
}

TEST(agent_eval_run_cancel_recover)
{
    struct fx f;
    if (setup(&f, "cancel", 0))
        CHECK(0);
    struct buf err = BUF_INIT;
    json_t *cases = J(CASES), *j = NULL;
    int64_t set = 0, run = 0, run2 = 0;
    struct agent a;
    memset(&a, 0, sizeof a);
    a.id = f.agent_id;
    struct auth_principal who;
    auth_principal_cli(&who);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "基础", "", cases, &set, &err), RC_OK);
    CHECK_INT(eval_run_create(f.d, &who, &a, 7, set, 1, &run, &err), RC_NOT_FOUND);
    CHECK_INT(eval_run_create(f.d, &who, &a, 1, set + 99, 1, &run, &err), RC_NOT_FOUND);
    /* version 0: the newest (2) */
    CHECK_INT(eval_run_create(f.d, &who, &a, 0, set, 1, &run, &err), RC_OK);
    CHECK_INT(eval_run_json(f.d, f.agent_id, run, 0, &j), RC_OK);
    CHECK_INT(json_integer_value(json_object_get(j, "version")), 2);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "queued");
    CHECK_INT(json_integer_value(json_object_get(j, "total")), 3);
    CHECK(json_is_true(json_object_get(j, "no_model")));
    json_decref(j);
    CHECK_INT(eval_run_cancel(f.d, f.agent_id + 1, run), RC_NOT_FOUND);
    CHECK_INT(eval_run_cancel(f.d, f.agent_id, run), RC_OK);
    CHECK_INT(eval_run_cancel(f.d, f.agent_id, run), RC_EXISTS);
    /* a run left running by a crash is failed at start */
    CHECK_INT(eval_run_create(f.d, &who, &a, 1, set, 1, &run2, &err), RC_OK);
    insert_i(f.d, "UPDATE eval_runs SET status = 'running' WHERE id = ?1 AND ?2 = ?2", run2, 0,
             NULL);
    CHECK_INT(eval_runs_recover(f.d), 1);
    CHECK_INT(eval_run_json(f.d, f.agent_id, run2, 0, &j), RC_OK);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "failed");
    CHECK_CONTAINS(json_string_value(json_object_get(j, "error")), "restart");
    json_decref(j);
    CHECK_INT(eval_run_list(f.d, f.agent_id, 10, &j), RC_OK);
    CHECK_INT(json_array_size(j), 2);
    CHECK(json_integer_value(json_object_get(json_array_get(j, 0), "id")) == run2);
    json_decref(j);
    json_decref(cases);
    buf_release(&err);
    teardown(&f);
}

static int nprogress;
static void on_progress(void *ctx, int done, int total)
{
    (void)ctx;
    if (done == nprogress + 1 && total == 3)
        nprogress++;
}

/* A whole run through the runtime without a model: the extractive answer
 * over the agent's KB. */
TEST(agent_eval_run_sync_no_model)
{
    struct fx f;
    if (setup(&f, "sync", 1))
        CHECK(0);
    struct buf err = BUF_INIT;
    json_t *cases = J(CASES), *scores = NULL, *j = NULL;
    int64_t set = 0, run = 0;
    struct agent_runtime *rt = NULL;
    struct agent a;
    memset(&a, 0, sizeof a);
    struct auth_principal who;
    auth_principal_cli(&who);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "基础", "", cases, &set, &err), RC_OK);
    CHECK_INT(agent_get_for(f.d, NULL, "teller", &a), RC_OK);
    CHECK_INT(agent_runtime_new(&f.cfg, NULL, NULL, NULL, &rt, &err), RC_OK);
    nprogress = 0;
    int rc = eval_run_sync(rt, f.c, &who, &a, 1, set, 1, on_progress, NULL, &run, &scores, &err);
    if (rc != RC_OK)
        fprintf(stderr, "eval_run_sync: %s\n", buf_str(&err));
    CHECK_INT(rc, RC_OK);
    CHECK_INT(nprogress, 3);
    CHECK(scores != NULL);
    CHECK_INT(json_integer_value(json_object_get(scores, "cases")), 3);
    CHECK_INT(eval_run_json(f.d, f.agent_id, run, 1, &j), RC_OK);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "done");
    CHECK_INT(json_integer_value(json_object_get(j, "done")), 3);
    json_t *res = json_object_get(j, "results");
    CHECK_INT(json_array_size(res), 3);
    /* the KB covers 挂失 (keyword found, cited), not exchange rates (refused) */
    CHECK(json_is_true(json_object_get(json_array_get(res, 0), "passed")));
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(res, 1), "answer")), "七日");
    CHECK(json_is_true(json_object_get(json_array_get(res, 1), "citation_ok")));
    CHECK(json_is_true(json_object_get(json_array_get(res, 2), "refusal_ok")));
    CHECK(json_number_value(json_object_get(scores, "score")) > 0.999);
    /* evaluation traces are marked, so analytics leave them out */
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(f.d->db,
                                 "SELECT count(*) FROM agent_traces WHERE eval_run_id = ?1", -1,
                                 &st, NULL),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, run);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 3);
    sqlite3_finalize(st);
    json_decref(j);
    json_decref(scores);
    scores = NULL;

    /* The set's cases replaced (new ids): the first run keeps the questions
     * it answered, and a comparison still pairs the cases by question. */
    CHECK_INT(eval_set_update(f.d, f.agent_id, set, NULL, cases, &err), RC_OK);
    int64_t run2 = 0;
    CHECK_INT(eval_run_sync(rt, f.c, &who, &a, 1, set, 1, NULL, NULL, &run2, &scores, &err), RC_OK);
    CHECK_INT(eval_run_json(f.d, f.agent_id, run, 1, &j), RC_OK);
    res = json_object_get(j, "results");
    CHECK_INT(json_array_size(res), 3);
    CHECK(json_string_length(json_object_get(json_array_get(res, 0), "question")) > 0);
    CHECK(json_is_object(json_object_get(json_array_get(res, 0), "expect")));
    json_decref(j);
    CHECK_INT(eval_compare(f.d, f.agent_id, run, run2, &j, &err), RC_OK);
    CHECK_INT(json_array_size(json_object_get(j, "cases")), 3);
    CHECK_INT(json_integer_value(json_object_get(j, "same")), 3);
    json_decref(j);
    json_decref(scores);
    agent_runtime_free(rt);
    agent_release(&a);
    json_decref(cases);
    buf_release(&err);
    teardown(&f);
}

/* The background runner runs a queued run as the user who queued it: a
 * user without access to the agent's KB gets no knowledge (the refusal case
 * passes, the knowledge cases do not); a run of a user since deleted fails. */
TEST(agent_eval_runner_as_user)
{
    struct fx f;
    if (setup(&f, "runner", 1))
        CHECK(0);
    struct buf err = BUF_INIT;
    json_t *cases = J(CASES), *j = NULL;
    int64_t set = 0, run = 0, run2 = 0;
    struct agent a;
    memset(&a, 0, sizeof a);
    a.id = f.agent_id;
    int64_t uid = insert_i(f.d,
                           "INSERT INTO users(username, created_at, updated_at)"
                           " VALUES (?3, ?1, ?2)",
                           1, 1, "clerk");
    CHECK(uid > 0);
    struct auth_principal who;
    CHECK_INT(auth_principal_load(f.d, uid, &who), RC_OK);
    CHECK_INT(eval_set_create(f.d, f.agent_id, "基础", "", cases, &set, &err), RC_OK);
    CHECK_INT(eval_run_create(f.d, &who, &a, 1, set, 1, &run, &err), RC_OK);
    struct auth_principal ghost = who;
    ghost.user_id = uid + 1000;
    CHECK_INT(eval_run_create(f.d, &ghost, &a, 1, set, 1, &run2, &err), RC_OK);
    struct eval_runner *r = NULL;
    CHECK_INT(eval_runner_start(&f.cfg, f.e, NULL, NULL, NULL, &r, &err), RC_OK);
    eval_runner_kick(r);
    const char *status = "";
    for (int i = 0; i < 200; i++) {
        json_decref(j);
        j = NULL;
        CHECK_INT(eval_run_json(f.d, f.agent_id, run, 1, &j), RC_OK);
        status = json_string_value(json_object_get(j, "status"));
        if (status && strcmp(status, "queued") && strcmp(status, "running"))
            break;
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK_STR(status, "done");
    json_t *res = json_object_get(j, "results");
    CHECK_INT(json_array_size(res), 3);
    CHECK(!json_is_true(json_object_get(json_array_get(res, 1), "passed")));
    CHECK(json_is_true(json_object_get(json_array_get(res, 2), "passed")));
    for (size_t i = 0; i < 3; i++) /* answered (refused), not failed */
        CHECK_STR(json_string_value(json_object_get(json_array_get(res, i), "error")), "");
    CHECK_INT(json_integer_value(json_object_get(j, "done")), 3);
    json_decref(j);
    j = NULL;
    for (int i = 0; i < 200; i++) {
        json_decref(j);
        CHECK_INT(eval_run_json(f.d, f.agent_id, run2, 0, &j), RC_OK);
        status = json_string_value(json_object_get(j, "status"));
        if (status && strcmp(status, "queued") && strcmp(status, "running"))
            break;
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK_STR(status, "failed");
    json_decref(j);
    eval_runner_stop(r);
    json_decref(cases);
    buf_release(&err);
    teardown(&f);
}
