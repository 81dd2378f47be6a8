/* Unit tests for kb/eval: question-line parsing (both formats, malformed
 * lines), relevance judgement and metrics on synthetic rankings, percentile
 * arithmetic, and answer matching after normalisation. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/rc.h"
#include "kb/eval.h"
#include "text/utf8.h"

static struct eval_question parse_ok(const char *line)
{
    struct eval_question q;
    struct buf err = BUF_INIT;
    int rc = eval_parse_line(line, strlen(line), &q, &err);
    if (rc != RC_OK)
        test_fail(__FILE__, __LINE__, "parse failed: %s (%s)", buf_str(&err), line);
    buf_release(&err);
    return q;
}

TEST(eval_parse_bankregs_single)
{
    struct eval_question q =
        parse_ok("{\"id\":\"b-1\",\"question\":\"汇票丢了怎么办\",\"doc\":\"票据法.md\","
                 "\"article\":\"第十五条\",\"answer_keywords\":[\"挂失止付\",\"公示催告\"],"
                 "\"type\":\"procedure\"}");
    CHECK_INT(q.format, EVAL_BANKREGS);
    CHECK_STR(q.id, "b-1");
    CHECK_STR(q.question, "汇票丢了怎么办");
    CHECK_STR(q.gold_doc, "票据法.md");
    CHECK_INT(q.narticles, 1);
    if (q.narticles == 1)
        CHECK_STR(q.articles[0], "第十五条");
    CHECK_INT(q.nanswers, 2);
    if (q.nanswers == 2)
        CHECK_STR(q.answers[1], "公示催告");
    CHECK_STR(q.type, "procedure");
    eval_question_release(&q);
    CHECK(q.id == NULL);
}

TEST(eval_parse_bankregs_list_and_cmrc)
{
    struct eval_question q = parse_ok(
        "{\"id\":7,\"question\":\"备付金放哪\",\"doc\":\"条例.md\",\"article\":[\"第二十七条\","
        "\"第二十九条\"],\"answer_keywords\":[\"不得挪用\"]}");
    CHECK_STR(q.id, "7");
    CHECK_INT(q.narticles, 2);
    if (q.narticles == 2)
        CHECK_STR(q.articles[1], "第二十九条");
    CHECK(q.type == NULL);
    eval_question_release(&q);

    q = parse_ok(
        "{\"id\":\"DEV_1_QUERY_0\",\"question\":\"锣鼓经是什么？\",\"answers\":[\"打击乐记谱方法\","
        "\"记谱\"],\"context_id\":\"DEV_1\"}");
    CHECK_INT(q.format, EVAL_CMRC2018);
    CHECK_STR(q.gold_doc, "DEV_1");
    CHECK_INT(q.narticles, 0);
    CHECK_INT(q.nanswers, 2);
    eval_question_release(&q);
}

TEST(eval_parse_malformed_lines)
{
    const char *bad[] = {
        "{\"id\":\"x\",\"question\":\"q\"}",                                /* no gold */
        "{\"id\":\"x\",\"doc\":\"a.md\"}",                                  /* no question */
        "[1,2]",                                                            /* not an object */
        "{\"id\":\"x\",\"question\":\"q\",\"doc\":\"a.md\",\"article\":5}", /* bad article */
        "{\"id\":\"x\",\"question\":\"\",\"doc\":\"a.md\"}",                /* empty question */
        "{\"id\":\"x\",\"question\":\"q\",\"context_id\":\"c\",\"answers\":[1]}",
        "{\"id\":\"x\",\"question\":\"q\",\"doc\":\"a.md\"", /* truncated */
        "{\"id\":{},\"question\":\"q\",\"doc\":\"a.md\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct eval_question q;
        struct buf err = BUF_INIT;
        int rc = eval_parse_line(bad[i], strlen(bad[i]), &q, &err);
        if (rc != RC_INVALID)
            test_fail(__FILE__, __LINE__, "line %zu accepted: %s", i, bad[i]);
        CHECK(err.len > 0);
        CHECK(q.id == NULL && q.question == NULL);
        buf_release(&err);
    }
}

TEST(eval_set_counts_bad_lines)
{
    const char *text =
        "{\"id\":\"a\",\"question\":\"q1\",\"doc\":\"d.md\",\"article\":\"第一条\"}\r\n"
        "\n"
        "not json at all\n"
        "   \n"
        "{\"id\":\"b\",\"question\":\"q2\",\"context_id\":\"C1\",\"answers\":[\"x\"]}\n"
        "{\"id\":\"c\"}";
    struct eval_set set = {0};
    CHECK_INT(eval_set_parse(text, strlen(text), &set), RC_OK);
    CHECK_INT(set.n, 2);
    CHECK_INT(set.nbad, 2);
    CHECK_INT(set.nbad_kept, 2);
    if (set.nbad_kept == 2) {
        CHECK_INT(set.bad[0].line, 3);
        CHECK_INT(set.bad[1].line, 6);
    }
    if (set.n == 2) {
        CHECK_STR(set.q[0].id, "a");
        CHECK_STR(set.q[1].gold_doc, "C1");
    }
    eval_set_release(&set);

    /* A file with nothing valid is an error; a missing file is not found. */
    char path[512];
    snprintf(path, sizeof path, "%s/eval-bad.jsonl", test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("garbage\n{}\n", f);
        fclose(f);
    }
    struct buf err = BUF_INIT;
    CHECK_INT(eval_set_load(path, &set, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "no valid question");
    eval_set_release(&set);
    buf_reset(&err);
    snprintf(path, sizeof path, "%s/eval-none.jsonl", test_tmpdir());
    CHECK_INT(eval_set_load(path, &set, &err), RC_NOT_FOUND);
    eval_set_release(&set);
    buf_release(&err);
}

/* Builds a ranking from "doc|label" strings. */
static struct kb_hits make_hits(const char *const *spec, size_t n)
{
    struct kb_hits h = {calloc(n ? n : 1, sizeof(struct kb_hit)), n};
    for (size_t i = 0; i < n; i++) {
        const char *bar = strchr(spec[i], '|');
        size_t dl = bar ? (size_t)(bar - spec[i]) : strlen(spec[i]);
        h.a[i].doc_name = strndup(spec[i], dl);
        h.a[i].label = strdup(bar ? bar + 1 : "");
        h.a[i].score = 1.0 / (double)(i + 1);
    }
    return h;
}

static void free_hits(struct kb_hits *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->a[i].doc_name);
        free(h->a[i].label);
    }
    free(h->a);
}

TEST(eval_judge_rankings)
{
    struct eval_question q = parse_ok("{\"id\":\"1\",\"question\":\"q\",\"doc\":\"票据法.md\","
                                      "\"article\":[\"第十条\",\"第十二条\"]}");
    const char *spec[] = {"民法典.md|第十条", "票据法.md|第九条", "票据法.md|第十二条",
                          "票据法.md|第十二条", "票据法|第十条"};
    struct kb_hits h = make_hits(spec, 5);
    struct eval_result r = {0};
    eval_judge(&q, &h, &r);
    CHECK_INT(r.first_rank, 3);
    CHECK_INT(r.all_found, 1); /* 第十条 matched via the stem "票据法" */
    CHECK_STR(r.top[0], "民法典.md 第十条");
    CHECK_STR(r.top[2], "票据法.md 第十二条");
    CHECK(eval_hit_relevant(&q, &h.a[4]));
    CHECK(!eval_hit_relevant(&q, &h.a[0]));
    /* Arabic and Chinese article numbers name the same article; 之一 differs. */
    struct kb_hit arabic = {.doc_name = "票据法.md", .label = " 第12条"};
    struct kb_hit sub = {.doc_name = "票据法.md", .label = "第十二条之一"};
    struct kb_hit none = {.doc_name = "票据法.md", .label = ""};
    CHECK(eval_hit_relevant(&q, &arabic));
    CHECK(!eval_hit_relevant(&q, &sub));
    CHECK(!eval_hit_relevant(&q, &none));
    eval_result_release(&r);
    free_hits(&h);

    /* Only one of the two articles in the top 10: all_found is 0. */
    const char *spec2[] = {"票据法.md|第十二条", "x.md|", "y.md|"};
    h = make_hits(spec2, 3);
    eval_judge(&q, &h, &r);
    CHECK_INT(r.first_rank, 1);
    CHECK_INT(r.all_found, 0);
    eval_result_release(&r);
    free_hits(&h);
    eval_question_release(&q);

    /* cmrc2018: the document alone decides; a gold past rank 10 still ranks. */
    q = parse_ok("{\"id\":\"c\",\"question\":\"q\",\"context_id\":\"DEV_3\",\"answers\":[\"a\"]}");
    const char *spec3[] = {"DEV_1|", "DEV_2|", "DEV_4|",  "DEV_5|",  "DEV_6|", "DEV_7|",
                           "DEV_8|", "DEV_9|", "DEV_10|", "DEV_11|", "DEV_3|"};
    h = make_hits(spec3, 11);
    eval_judge(&q, &h, &r);
    CHECK_INT(r.first_rank, 11);
    CHECK_INT(r.all_found, -1);
    eval_result_release(&r);
    free_hits(&h);
    eval_question_release(&q);
}

TEST(eval_percentiles_nearest_rank)
{
    double v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    CHECK(eval_percentile(v, 10, 50) == 5);
    CHECK(eval_percentile(v, 10, 95) == 10);
    CHECK(eval_percentile(v, 10, 99) == 10);
    CHECK(eval_percentile(v, 10, 10) == 1);
    CHECK(eval_percentile(v, 10, 0) == 1);
    CHECK(eval_percentile(v, 4, 50) == 2);
    CHECK(eval_percentile(v, 1, 99) == 1);
    CHECK(eval_percentile(v, 0, 50) == 0);
    double w[200];
    for (int i = 0; i < 200; i++)
        w[i] = i + 1;
    CHECK(eval_percentile(w, 200, 95) == 190);
    CHECK(eval_percentile(w, 200, 99) == 198);
}

static int near(double a, double b)
{
    return a - b < 1e-9 && b - a < 1e-9;
}

TEST(eval_metrics_exact)
{
    char *arts[] = {"第一条", "第二条"};
    struct eval_question multi = {.format = EVAL_BANKREGS, .articles = arts, .narticles = 2};
    struct eval_question typed_a = {.format = EVAL_BANKREGS, .type = "fact"};
    struct eval_question typed_b = {.format = EVAL_BANKREGS, .type = "number"};
    /* ranks 1, 3, 7, none, 12, 2; latencies 10..60; one search error */
    struct eval_result r[6] = {
        {.q = &typed_a, .first_rank = 1, .all_found = -1, .answer_ok = 1, .latency_ms = 60},
        {.q = &typed_b, .first_rank = 3, .all_found = -1, .answer_ok = 0, .latency_ms = 10},
        {.q = &multi, .first_rank = 7, .all_found = 1, .answer_ok = -1, .latency_ms = 30},
        {.q = &multi, .first_rank = 0, .all_found = 0, .answer_ok = 0, .latency_ms = 20},
        {.q = &typed_a, .first_rank = 12, .all_found = -1, .answer_ok = 1, .latency_ms = 50},
        {.q = &typed_b,
         .rc = RC_INVALID,
         .first_rank = 0,
         .all_found = -1,
         .answer_ok = -1,
         .latency_ms = 999},
    };
    struct eval_metrics m;
    eval_metrics_compute(r, 6, &m);
    CHECK_INT(m.questions, 6);
    CHECK_INT(m.errors, 1);
    CHECK(near(m.recall1, 1.0 / 6));
    CHECK(near(m.recall5, 2.0 / 6));
    CHECK(near(m.recall10, 3.0 / 6));
    CHECK(near(m.mrr10, (1.0 + 1.0 / 3 + 1.0 / 7) / 6));
    CHECK_INT(m.multi, 2);
    CHECK(near(m.all_articles10, 0.5));
    CHECK_INT(m.answered, 4);
    CHECK(near(m.answer_accuracy, 0.5));
    /* latencies of the 5 good searches: 10 20 30 50 60 → p50 = 30, p95 = p99 = 60 */
    CHECK(near(m.p50, 30));
    CHECK(near(m.p95, 60));
    CHECK(near(m.p99, 60));

    struct eval_report rep = {.r = r, .n = 6};
    eval_report_aggregate(&rep);
    CHECK_INT(rep.ntypes, 2);
    if (rep.ntypes == 2) {
        CHECK_STR(rep.types[0].type, "fact");
        CHECK_INT(rep.types[0].m.questions, 2);
        CHECK(near(rep.types[0].m.recall1, 0.5));
        CHECK(near(rep.types[0].m.recall10, 0.5));
        CHECK_STR(rep.types[1].type, "number");
        CHECK(near(rep.types[1].m.recall5, 0.5));
    }
    json_t *j = eval_report_json(&rep);
    CHECK(json_is_real(json_object_get(j, "recall@10")));
    CHECK(near(json_real_value(json_object_get(j, "recall@10")), 0.5));
    CHECK(json_integer_value(json_object_get(j, "questions")) == 6);
    CHECK(json_is_object(json_object_get(json_object_get(j, "by_type"), "fact")));
    /* misses at 5: ranks 7, none, 12 and the error */
    CHECK_INT(json_array_size(json_object_get(j, "failures")), 4);
    json_decref(j);
    for (size_t i = 0; i < rep.ntypes; i++)
        free(rep.types[i].type);
    free(rep.types);

    eval_metrics_compute(r, 0, &m);
    CHECK_INT(m.questions, 0);
    CHECK(m.recall1 == 0 && m.p99 == 0);
}

TEST(eval_answer_matching_normalised)
{
    struct eval_question q =
        parse_ok("{\"id\":\"1\",\"question\":\"q\",\"doc\":\"a.md\",\"article\":"
                 "\"第一条\",\"answer_keywords\":[\"16周岁以下\",\"户口簿\"]}");
    /* Full-width digits and stray whitespace in the answer still match. */
    CHECK_INT(eval_answer_matches(&q, "不满１６周岁以下的，可以 凭 户口 簿 办理。"), 1);
    CHECK_INT(eval_answer_matches(&q, "16周岁以下的凭身份证"), 0);
    CHECK_INT(eval_answer_matches(&q, ""), 0);
    eval_question_release(&q);

    q = parse_ok(
        "{\"id\":\"2\",\"question\":\"q\",\"context_id\":\"C\",\"answers\":[\"光荣和ω-force\","
        "\"ABC公司\"]}");
    CHECK_INT(eval_answer_matches(&q, "是由ＡＢＣ 公司开发的"), 1);
    CHECK_INT(eval_answer_matches(&q, "由光荣开发"), 0);
    eval_question_release(&q);

    q = parse_ok("{\"id\":\"3\",\"question\":\"q\",\"doc\":\"a.md\"}");
    CHECK_INT(eval_answer_matches(&q, "anything"), -1);
    eval_question_release(&q);
}

/* Hostile question files: every bad line is skipped with a message that is
 * itself valid UTF-8 (it is printed and may be put into JSON), and nothing
 * crashes on a 10 MB line or deep nesting. */
TEST(eval_set_hostile_lines)
{
    static const char *const lines[] = {
        "{\"id\":\"1\",\"question\":\"\xff\xfe\",\"doc\":\"a.md\"}",     /* invalid bytes */
        "{\"id\":\"1\",\"question\":\"\xc0\xaf\",\"doc\":\"a.md\"}",     /* overlong */
        "{\"id\":\"1\",\"question\":\"\xed\xa0\x80\",\"doc\":\"a.md\"}", /* raw surrogate */
        "{\"id\":\"1\",\"question\":\"\\ud800\",\"doc\":\"a.md\"}",   /* escaped lone surrogate */
        "{\"id\":\"1\",\"question\":\"a\\u0000b\",\"doc\":\"a.md\"}", /* NUL */
        "tru\xe8\xb4",                                                /* token cut in a character */
        "{\"id\":\"1\",\"question\":\"q\",\"doc\":\"a.md\"} \xe8\xb4\xa6\xc3", /* junk after */
        "nul\xc3",
        "\xe8\xb4\xa6\xe6",
    };
    struct buf text = BUF_INIT;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        CHECK(buf_adds(&text, lines[i]) == RC_OK);
        CHECK(buf_addc(&text, '\n') == RC_OK);
    }
    /* Deep nesting, then a 10 MB line, then one good question. */
    for (int i = 0; i < 50000; i++)
        CHECK(buf_addc(&text, '[') == RC_OK);
    CHECK(buf_addc(&text, '\n') == RC_OK);
    CHECK(buf_adds(&text, "{\"id\":\"big\",\"question\":\"") == RC_OK);
    for (int i = 0; i < 10 * 1024 * 1024 / 3; i++)
        CHECK(buf_add(&text, "问", 3) == RC_OK);
    CHECK(buf_adds(&text, "\",\"doc\":\"a.md\"}\n") == RC_OK);
    CHECK(buf_adds(&text, "{\"id\":\"ok\",\"question\":\"账户\",\"doc\":\"a.md\"}") == RC_OK);

    struct eval_set set = {0};
    CHECK_INT(eval_set_parse(text.p, text.len, &set), RC_OK);
    size_t nlines = sizeof lines / sizeof lines[0];
    CHECK_INT(set.n, 1);
    CHECK_INT(set.nbad, nlines + 2);
    if (set.n == 1)
        CHECK_STR(set.q[0].id, "ok");
    for (size_t i = 0; i < set.nbad_kept; i++) {
        const char *m = set.bad[i].msg;
        if (!m || !*m || !utf8_valid(m, strlen(m)))
            test_fail(__FILE__, __LINE__, "line %zu: message not valid UTF-8: %s", set.bad[i].line,
                      m ? m : "(null)");
    }
    if (set.nbad_kept == nlines + 2)
        CHECK_CONTAINS(set.bad[nlines + 1].msg, "longer than");
    eval_set_release(&set);
    buf_release(&text);
}
