/* Tests for src/kb: ingest (add, unchanged, replace, failures), search
 * ranking and highlights, synonyms, extractive answers and "not found",
 * jobs, and the in-memory index against hand-computed BM25. */
#include "test.h"

#include "auth/auth.h"
#include "common/config.h"
#include "common/rc.h"
#include "kb/index.h"
#include "kb/kb.h"
#include "text/tok.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

static const char REG_V1[] = "# 示范银行账户管理办法\n\n"
                             "## 第一章 总则\n\n"
                             "第一条 为规范银行账户的开立和使用，制定本办法。\n\n"
                             "第二条 存款人开立基本存款账户，应当出具营业执照正本。\n\n"
                             "## 第二章 挂失\n\n"
                             "第三条 存款人遗失存单的，应当立即办理挂失止付手续。\n\n"
                             "挂失止付的有效期为七日。\n\n"
                             "第四条 依照本办法第三条的规定办理挂失后，银行应当出具回单。\n";

static const char REG_V2[] =
    "# 示范银行账户管理办法\n\n"
    "## 第一章 总则\n\n"
    "第一条 为规范银行账户的开立和使用，制定本办法。\n\n"
    "第二条 存款人开立基本存款账户，应当出具营业执照正本和法定代表人身份证件。\n";

struct fixture {
    struct config cfg;
    struct kb_engine *e;
    struct kb_conn *c;
    struct kb_info kb;
};

static int setup(struct fixture *f, const char *name)
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
    config_set(&f->cfg, "answer_min_score", "0.3", &err);
    int rc = kb_engine_open(&f->cfg, &f->e, &err);
    if (!rc)
        rc = kb_conn_open(f->e, &f->c, &err);
    if (!rc)
        rc = kb_create(f->c, "规章", &f->kb, &err);
    if (rc)
        fprintf(stderr, "setup failed: %s\n", buf_str(&err));
    buf_release(&err);
    return rc;
}

static void teardown(struct fixture *f)
{
    kb_info_release(&f->kb);
    kb_conn_close(f->c);
    kb_engine_close(f->e);
    config_release(&f->cfg);
}

TEST(kb_create_validates_and_rejects_duplicates)
{
    struct fixture f;
    if (setup(&f, "create")) {
        CHECK(0);
        return;
    }
    struct buf err = BUF_INIT;
    struct kb_info k;
    CHECK_INT(kb_create(f.c, "规章", &k, &err), RC_EXISTS);
    CHECK_INT(kb_create(f.c, "a/b", &k, &err), RC_INVALID);
    CHECK_INT(kb_create(f.c, "123", &k, &err), RC_INVALID);
    CHECK_INT(kb_get(f.c, "规章", &k), RC_OK);
    CHECK_INT(k.id, f.kb.id);
    kb_info_release(&k);
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)f.kb.id);
    CHECK_INT(kb_get(f.c, id, &k), RC_OK);
    CHECK_STR(k.name, "规章");
    kb_info_release(&k);
    CHECK_INT(kb_get(f.c, "nope", &k), RC_NOT_FOUND);
    CHECK_INT(kb_warm(f.c), 1);
    buf_release(&err);
    teardown(&f);
}

TEST(kb_ingest_add_unchanged_replace_and_fail)
{
    struct fixture f;
    if (setup(&f, "ingest")) {
        CHECK(0);
        return;
    }
    struct kb_ingest_report rep = {0};
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "dir/账户办法.md", REG_V1, strlen(REG_V1), &rep),
              RC_OK);
    CHECK_INT(rep.added, 1);
    CHECK_INT(rep.chunks, 4);
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "账户办法.md", REG_V1, strlen(REG_V1), &rep), RC_OK);
    CHECK_INT(rep.unchanged, 1);
    struct kb_info k;
    CHECK_INT(kb_get(f.c, "规章", &k), RC_OK);
    CHECK_INT(k.ndocs, 1);
    CHECK_INT(k.nchunks, 4);
    kb_info_release(&k);
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "账户办法.md", REG_V2, strlen(REG_V2), &rep), RC_OK);
    CHECK_INT(rep.replaced, 1);
    CHECK_INT(kb_get(f.c, "规章", &k), RC_OK);
    CHECK_INT(k.ndocs, 1);
    CHECK_INT(k.nchunks, 2);
    kb_info_release(&k);
    static const char junk[] = "\x01\x02\x03\xff\xfe\x00\x00garbage";
    CHECK(kb_ingest_bytes(f.c, f.kb.id, "x.bin", junk, sizeof junk, &rep) != RC_OK);
    CHECK_INT(rep.failed, 1);
    CHECK(rep.a[rep.n - 1].error != NULL);

    struct kb_doc_info *docs = NULL;
    size_t n = 0;
    CHECK_INT(kb_docs(f.c, NULL, f.kb.id, &docs, &n), RC_OK);
    CHECK_INT(n, 1);
    if (n == 1) {
        CHECK_STR(docs[0].name, "账户办法.md");
        CHECK_STR(docs[0].title, "示范银行账户管理办法");
        CHECK_INT(docs[0].version, 2);
        CHECK_INT(docs[0].nchunks, 2);
    }
    /* The replaced version is what search sees. */
    struct kb_hits hits = {0};
    struct buf err = BUF_INIT;
    struct kb_search_opts so = {5, 0, NULL};
    CHECK_INT(kb_search(f.c, f.kb.id, "挂失止付", &so, &hits, &err), RC_OK);
    for (size_t i = 0; i < hits.n; i++)
        CHECK(strstr(hits.a[i].text, "挂失") == NULL);
    kb_hits_release(&hits);
    if (n == 1)
        CHECK_INT(kb_doc_delete(f.c, f.kb.id, docs[0].id), RC_OK);
    CHECK_INT(kb_doc_delete(f.c, f.kb.id, 999999), RC_NOT_FOUND);
    kb_docs_free(docs, n);
    CHECK_INT(kb_get(f.c, "规章", &k), RC_OK);
    CHECK_INT(k.ndocs, 0);
    CHECK_INT(k.nchunks, 0);
    CHECK_INT(k.nchars, 0);
    kb_info_release(&k);
    CHECK_INT(kb_search(f.c, f.kb.id, "营业执照", &so, &hits, &err), RC_OK);
    CHECK_INT(hits.n, 0);
    kb_hits_release(&hits);
    kb_ingest_report_release(&rep);
    buf_release(&err);
    teardown(&f);
}

TEST(kb_search_ranks_article_with_path_and_highlight)
{
    struct fixture f;
    if (setup(&f, "search")) {
        CHECK(0);
        return;
    }
    struct kb_ingest_report rep = {0};
    kb_ingest_bytes(f.c, f.kb.id, "账户办法.md", REG_V1, strlen(REG_V1), &rep);
    struct kb_hits hits = {0};
    struct buf err = BUF_INIT;
    struct kb_search_opts so = {3, 0, NULL};
    CHECK_INT(kb_search(f.c, f.kb.id, "存单丢了怎么挂失", &so, &hits, &err), RC_OK);
    CHECK(hits.n >= 1);
    if (hits.n >= 1) {
        CHECK_STR(hits.a[0].label, "第三条");
        CHECK_CONTAINS(hits.a[0].heading, "第二章 挂失");
        CHECK_CONTAINS(hits.a[0].highlight, "<em>挂失");
        CHECK_STR(hits.a[0].doc_name, "账户办法.md");
        CHECK(hits.a[0].coverage > 0 && hits.a[0].coverage <= 1.0001);
    }
    kb_hits_release(&hits);
    /* The same through SQLite FTS5 with our tokenizer, and the trigram baseline. */
    so.flags = KB_FTS5;
    CHECK_INT(kb_search(f.c, f.kb.id, "挂失止付", &so, &hits, &err), RC_OK);
    CHECK(hits.n >= 1 && strcmp(hits.a[0].label, "第三条") == 0);
    kb_hits_release(&hits);
    so.flags = KB_TRIGRAM;
    CHECK_INT(kb_search(f.c, f.kb.id, "挂失止付手续", &so, &hits, &err), RC_OK);
    CHECK(hits.n >= 1 && strcmp(hits.a[0].label, "第三条") == 0);
    kb_hits_release(&hits);
    /* Bad queries. */
    CHECK_INT(kb_search(f.c, f.kb.id, "", &so, &hits, &err), RC_INVALID);
    CHECK_INT(kb_search(f.c, f.kb.id, "\xff\xfe", &so, &hits, &err), RC_INVALID);
    kb_ingest_report_release(&rep);
    buf_release(&err);
    teardown(&f);
}

TEST(kb_synonyms_expand_queries)
{
    struct fixture f;
    if (setup(&f, "syn")) {
        CHECK(0);
        return;
    }
    struct kb_ingest_report rep = {0};
    kb_ingest_bytes(f.c, f.kb.id, "账户办法.md", REG_V1, strlen(REG_V1), &rep);
    struct kb_hits hits = {0};
    struct buf err = BUF_INIT;
    struct kb_search_opts so = {3, KB_NO_SYNONYMS, NULL};
    /* "收据" appears nowhere; without synonyms nothing matches. */
    CHECK_INT(kb_search(f.c, f.kb.id, "收据", &so, &hits, &err), RC_OK);
    CHECK_INT(hits.n, 0);
    kb_hits_release(&hits);
    const char *terms[] = {"收据", "回单"};
    int64_t gid = 0;
    CHECK_INT(kb_synonym_add(f.c, f.kb.id, terms, 2, &gid, &err), RC_OK);
    so.flags = 0;
    CHECK_INT(kb_search(f.c, f.kb.id, "收据", &so, &hits, &err), RC_OK);
    CHECK(hits.n >= 1 && strcmp(hits.a[0].label, "第四条") == 0);
    kb_hits_release(&hits);
    const char *bad[] = {"回 执", "x"};
    CHECK_INT(kb_synonym_add(f.c, f.kb.id, bad, 2, &gid, &err), RC_INVALID);
    const char *twice[] = {"回单", "回单"};
    CHECK_INT(kb_synonym_add(f.c, f.kb.id, twice, 2, &gid, &err), RC_INVALID);
    CHECK_INT(kb_synonym_delete(f.c, f.kb.id, gid), RC_OK);
    CHECK_INT(kb_synonym_delete(f.c, f.kb.id, gid), RC_NOT_FOUND);
    CHECK_INT(kb_search(f.c, f.kb.id, "收据", &so, &hits, &err), RC_OK);
    CHECK_INT(hits.n, 0);
    kb_hits_release(&hits);
    json_t *j = NULL;
    CHECK_INT(kb_synonyms(f.c, f.kb.id, &j), RC_OK);
    CHECK(json_array_size(json_object_get(j, "groups")) > 50); /* the default dictionary */
    json_decref(j);
    kb_ingest_report_release(&rep);
    buf_release(&err);
    teardown(&f);
}

static int collect(void *ctx, const char *p, size_t n)
{
    return buf_add(ctx, p, n) != RC_OK;
}

/* A question that shares only a bigram made with a function character (上的
 * of 火星/上/的, found in 以上的) is not covered: "not found", not an
 * unrelated article. */
TEST(kb_ask_particle_bigram_is_not_coverage)
{
    struct fixture f;
    if (setup(&f, "particle")) {
        CHECK(0);
        return;
    }
    static const char DOC[] = "# 现金业务规程\n\n"
                              "第五条 柜员办理现金业务，应当当面点清，一笔一清。\n\n"
                              "第六条 发现假币，应当当面收缴并出具收缴凭证。\n\n"
                              "第七条 现金尾箱每日营业终了入库保管。\n\n"
                              "第八条 残损人民币按照兑换标准办理兑换。\n\n"
                              "第九条 个人客户单笔提取现金5万元以上的，应当提前一个工作日预约。\n\n"
                              "第十条 单笔现金存取5万元以上的，应当登记大额现金登记簿。\n";
    struct kb_ingest_report rep = {0};
    kb_ingest_bytes(f.c, f.kb.id, "现金.md", DOC, strlen(DOC), &rep);
    struct kb_answer a;
    struct buf err = BUF_INIT;
    /* The coverage that decides whether the KB answers at all (the default
     * answer_min_score is 0.1; this fixture's is 0.3). */
    struct kb_hits hits = {0};
    CHECK_INT(kb_search(f.c, f.kb.id, "火星上的美元汇率是多少", NULL, &hits, &err), RC_OK);
    for (size_t i = 0; i < hits.n; i++)
        CHECK(hits.a[i].coverage < 0.05);
    kb_hits_release(&hits);
    CHECK_INT(kb_ask(f.c, f.kb.id, "火星上的美元汇率是多少", NULL, NULL, NULL, &a, &err), RC_OK);
    CHECK_INT(a.mode, KB_ANSWER_NONE);
    kb_answer_release(&a);
    CHECK_INT(kb_ask(f.c, f.kb.id, "取现5万元以上要预约吗", NULL, NULL, NULL, &a, &err), RC_OK);
    CHECK_INT(a.mode, KB_ANSWER_EXTRACTIVE);
    CHECK_CONTAINS(a.text, "第九条");
    kb_answer_release(&a);
    kb_ingest_report_release(&rep);
    buf_release(&err);
    teardown(&f);
}

TEST(kb_ask_extractive_and_not_found)
{
    struct fixture f;
    if (setup(&f, "ask")) {
        CHECK(0);
        return;
    }
    struct kb_ingest_report rep = {0};
    kb_ingest_bytes(f.c, f.kb.id, "账户办法.md", REG_V1, strlen(REG_V1), &rep);
    struct kb_answer a;
    struct buf err = BUF_INIT, streamed = BUF_INIT;
    CHECK_INT(kb_ask(f.c, f.kb.id, "挂失止付的有效期是几天", NULL, collect, &streamed, &a, &err),
              RC_OK);
    CHECK_INT(a.mode, KB_ANSWER_EXTRACTIVE);
    CHECK_CONTAINS(a.text, "七日");
    CHECK_CONTAINS(a.text, "《示范银行账户管理办法》第三条");
    CHECK_STR(buf_str(&streamed), a.text);
    CHECK(a.ncites >= 1);
    if (a.ncites)
        CHECK_STR(a.cites[0].cite, "《示范银行账户管理办法》第三条");
    json_t *j = kb_answer_json(&a);
    CHECK_STR(json_string_value(json_object_get(j, "mode")), "extractive");
    json_decref(j);
    kb_answer_release(&a);

    CHECK_INT(kb_ask(f.c, f.kb.id, "今天天气预报怎么样", NULL, NULL, NULL, &a, &err), RC_OK);
    CHECK_INT(a.mode, KB_ANSWER_NONE);
    CHECK_CONTAINS(a.text, "知识库中未找到相关规定");
    CHECK_INT(a.ncites, 0);
    kb_answer_release(&a);
    kb_ingest_report_release(&rep);
    buf_release(&err);
    buf_release(&streamed);
    teardown(&f);
}

TEST(kb_jobs_run_uploads)
{
    struct fixture f;
    if (setup(&f, "jobs")) {
        CHECK(0);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/upload-1", test_tmpdir());
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (!fp)
        return;
    fputs(REG_V1, fp);
    fclose(fp);
    int64_t id = 0;
    CHECK_INT(kb_job_create(f.c, f.kb.id, "账户办法.md", path, &id), RC_OK);
    struct kb_job j;
    CHECK_INT(kb_job_claim(f.c, &j), RC_OK);
    CHECK_INT(j.id, id);
    CHECK_STR(j.status, "running");
    CHECK_INT(kb_job_run(f.c, &j), RC_OK);
    kb_job_release(&j);
    CHECK_INT(kb_job_claim(f.c, &j), RC_NOT_FOUND);
    CHECK_INT(kb_job_get(f.c, f.kb.id, id, &j), RC_OK);
    CHECK_STR(j.status, "done");
    CHECK_CONTAINS(j.result, "\"added\":1");
    kb_job_release(&j);
    CHECK_INT(kb_job_get(f.c, f.kb.id + 1, id, &j), RC_NOT_FOUND);
    CHECK(access(path, F_OK) != 0); /* the upload was removed */
    teardown(&f);
}

TEST(kb_index_bm25_matches_hand_computation)
{
    struct idx_builder *b = idx_builder_new(TOK_BIGRAMS);
    const char *d0[IDX_NFIELDS] = {"", "", "存款 账户"};
    const char *d1[IDX_NFIELDS] = {"", "", "账户 账户 挂失"};
    const char *d2[IDX_NFIELDS] = {"", "", "现金"};
    idx_builder_add(b, 10, 0, d0);
    idx_builder_add(b, 11, 0, d1);
    idx_builder_add(b, 12, 0, d2);
    const char *d3[IDX_NFIELDS] = {"", "", "利息"};
    const char *d4[IDX_NFIELDS] = {"", "", "转账"};
    idx_builder_add(b, 13, 0, d3);
    idx_builder_add(b, 14, 0, d4);
    struct kb_index *ix = idx_builder_finish(b, NULL);
    CHECK_INT(kb_index_docs(ix), 5);
    int32_t t = kb_index_term(ix, "账户", strlen("账户"));
    CHECK(t >= 0);
    CHECK_INT(kb_index_term(ix, "没有", strlen("没有")), -1);
    struct idx_qterm q = {t, 1.0f, 1.0f, 1, 1};
    struct idx_hit hits[3];
    size_t n = kb_index_search(ix, &q, 1, 0, 3, hits);
    CHECK_INT(n, 2);
    /* Hand-computed BM25 (body field only, weight 1, b = .5, k1 = 1.2):
     * lengths 2, 3, 1, 1, 1 tokens (avg 1.6); df = 2 of N = 5. */
    double idf = log(1.0 + (5 - 2 + 0.5) / (2 + 0.5));
    double tf1 = 2.0 / (1 - 0.5 + 0.5 * 3 / 1.6);
    double tf0 = 1.0 / (1 - 0.5 + 0.5 * 2 / 1.6);
    double s1 = idf * tf1 * 2.2 / (1.2 + tf1), s0 = idf * tf0 * 2.2 / (1.2 + tf0);
    if (n == 2) {
        CHECK_INT(kb_index_chunk_id(ix, hits[0].doc), 11);
        CHECK(fabs(hits[0].score - s1) < 1e-4);
        CHECK(fabs(hits[1].score - s0) < 1e-4);
        CHECK(fabs(hits[0].coverage - 1.0) < 1e-6);
    }
    kb_index_free(ix);
}

TEST(kb_hits_write_json_matches_jansson)
{
    struct kb_hit hit = {
        .chunk_id = 7,
        .doc_id = 3,
        .doc_name = "a\"b.md",
        .doc_title = "标题\\x",
        .heading = "第一章 › 第二条",
        .label = "第二条",
        .text = "第二条 line\nnext\ttab \x01 <em>&",
        .highlight = "<em>第二</em>条",
        .score = 1.25,
        .coverage = 0.5,
    };
    struct kb_hits h = {&hit, 1};
    struct buf out = BUF_INIT;
    CHECK_INT(kb_hits_write_json(&h, &out), RC_OK);
    json_error_t e;
    json_t *fast = json_loads(buf_str(&out), 0, &e);
    CHECK(fast != NULL);
    json_t *slow = json_pack("{so}", "hits", kb_hits_json(&h));
    CHECK(fast && json_equal(fast, slow));
    json_decref(fast);
    json_decref(slow);
    buf_release(&out);
    struct kb_hits empty = {NULL, 0};
    CHECK_INT(kb_hits_write_json(&empty, &out), RC_OK);
    CHECK_STR(buf_str(&out), "{\"hits\":[]}");
    buf_release(&out);
}

TEST(kb_batch_documents_atomic_and_searchable_inside)
{
    struct fixture f;
    if (setup(&f, "batch")) {
        CHECK(0);
        return;
    }
    struct kb_ingest_report rep = {0};
    struct kb_hits hits = {0};
    struct buf err = BUF_INIT;
    struct kb_search_opts so = {3, 0, NULL};
    CHECK_INT(kb_batch_begin(f.c), RC_OK);
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "账户办法.md", REG_V1, strlen(REG_V1), &rep), RC_OK);
    /* a search inside the batch sees the batch's own writes */
    CHECK_INT(kb_search(f.c, f.kb.id, "挂失止付", &so, &hits, &err), RC_OK);
    CHECK(hits.n >= 1);
    kb_hits_release(&hits);
    CHECK_INT(kb_batch_end(f.c, 0), RC_OK); /* rolled back: as if never ingested */
    struct kb_info k;
    CHECK_INT(kb_get(f.c, "规章", &k), RC_OK);
    CHECK_INT(k.ndocs, 0);
    kb_info_release(&k);
    /* Other content committed at the generation number the rolled-back batch
     * had used: search must show the new content, not the rolled-back one. */
    CHECK_INT(kb_batch_begin(f.c), RC_OK);
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "账户办法.md", REG_V2, strlen(REG_V2), &rep), RC_OK);
    CHECK_INT(kb_batch_end(f.c, 1), RC_OK);
    CHECK_INT(kb_get(f.c, "规章", &k), RC_OK);
    CHECK_INT(k.ndocs, 1);
    kb_info_release(&k);
    CHECK_INT(kb_search(f.c, f.kb.id, "挂失止付", &so, &hits, &err), RC_OK);
    for (size_t i = 0; i < hits.n; i++)
        CHECK(strstr(hits.a[i].text, "挂失") == NULL);
    kb_hits_release(&hits);
    CHECK_INT(kb_search(f.c, f.kb.id, "营业执照", &so, &hits, &err), RC_OK);
    CHECK(hits.n >= 1 && strcmp(hits.a[0].label, "第二条") == 0);
    kb_hits_release(&hits);
    kb_ingest_report_release(&rep);
    buf_release(&err);
    teardown(&f);
}

/* A KB with a single chunk (a personal KB holding one short note): every
 * term is in every chunk, and search must still find it. */
TEST(kb_search_single_chunk_kb)
{
    struct fixture f;
    if (setup(&f, "single") != RC_OK)
        return;
    struct kb_ingest_report rep = {0};
    static const char note[] = "尾箱交接必须双人核对签章。";
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "笔记.txt", note, strlen(note), &rep), RC_OK);
    kb_ingest_report_release(&rep);
    struct kb_hits h = {0};
    struct buf err = BUF_INIT;
    struct kb_search_opts so = {3, 0, NULL};
    CHECK_INT(kb_search(f.c, f.kb.id, "尾箱交接", &so, &h, &err), RC_OK);
    CHECK_INT(h.n, 1);
    if (h.n)
        CHECK_CONTAINS(h.a[0].text, "双人核对");
    kb_hits_release(&h);
    buf_release(&err);
    teardown(&f);
}

/* Several KBs at once: hits from each readable KB, merged best first; a KB
 * the principal may not read adds nothing (and is not an error). */
TEST(kb_search_many_merges_readable_kbs)
{
    struct fixture f;
    if (setup(&f, "many") != RC_OK)
        return;
    struct buf err = BUF_INIT;
    struct kb_info other, secret;
    CHECK_INT(kb_create(f.c, "手册", &other, &err), RC_OK);
    CHECK_INT(kb_create(f.c, "机密", &secret, &err), RC_OK);
    struct kb_ingest_report rep = {0};
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "a.md", REG_V1, strlen(REG_V1), &rep), RC_OK);
    static const char m[] = "# 柜面手册\n\n第一条 存单挂失应当核对存款人身份证件。\n\n"
                            "第二条 大额取现须提前预约。\n";
    CHECK_INT(kb_ingest_bytes(f.c, other.id, "m.md", m, strlen(m), &rep), RC_OK);
    static const char x[] = "# 机密\n\n第一条 存单挂失的内部复核口令。\n\n第二条 其他。\n";
    CHECK_INT(kb_ingest_bytes(f.c, secret.id, "x.md", x, strlen(x), &rep), RC_OK);
    kb_ingest_report_release(&rep);
    /* a user granted the first two KBs only */
    sqlite3 *db = kb_conn_store(f.c)->db;
    CHECK_INT(sqlite3_exec(db,
                           "INSERT INTO users(id, username, created_at, updated_at)"
                           " VALUES (77, 'u77', 0, 0);"
                           "INSERT INTO kb_acl(kb_id, subject_type, subject_id, level, created_at)"
                           " SELECT id, 'user', 77, 1, 0 FROM kbs WHERE name IN ('规章', '手册');",
                           NULL, NULL, NULL),
              SQLITE_OK);
    struct auth_principal who;
    memset(&who, 0, sizeof who);
    who.user_id = 77;
    who.via = AUTH_VIA_TOKEN;
    int64_t ids[3] = {f.kb.id, other.id, secret.id};
    struct kb_search_opts so = {5, KB_NO_HIGHLIGHT, &who};
    struct kb_hits h = {0};
    CHECK_INT(kb_search_many(f.c, ids, 3, "存单挂失", &so, &h, &err), RC_OK);
    int seen_main = 0, seen_other = 0;
    for (size_t i = 0; i < h.n; i++) {
        CHECK(h.a[i].kb_id != secret.id);
        seen_main |= h.a[i].kb_id == f.kb.id;
        seen_other |= h.a[i].kb_id == other.id;
    }
    CHECK(seen_main && seen_other);
    kb_hits_release(&h);
    /* without a principal the secret KB contributes too */
    so.who = NULL;
    CHECK_INT(kb_search_many(f.c, ids, 3, "内部复核口令", &so, &h, &err), RC_OK);
    CHECK(h.n > 0 && h.a[0].kb_id == secret.id);
    kb_hits_release(&h);
    kb_info_release(&other);
    kb_info_release(&secret);
    buf_release(&err);
    teardown(&f);
}

/* Upload files no queued job refers to, older than the limit, are removed;
 * a queued job's file and a fresh file stay. */
TEST(kb_jobs_sweep_removes_orphans_only)
{
    struct fixture f;
    if (setup(&f, "sweep") != RC_OK)
        return;
    char dir[600], orphan[700], queued[700], fresh[700];
    snprintf(dir, sizeof dir, "%s/sweep-uploads", test_tmpdir());
    mkdir(dir, 0700);
    snprintf(orphan, sizeof orphan, "%s/orphan", dir);
    snprintf(queued, sizeof queued, "%s/queued", dir);
    snprintf(fresh, sizeof fresh, "%s/fresh", dir);
    const char *paths[3] = {orphan, queued, fresh};
    for (int i = 0; i < 3; i++) {
        FILE *fp = fopen(paths[i], "w");
        CHECK(fp != NULL);
        if (fp) {
            fputs("x", fp);
            fclose(fp);
        }
    }
    struct utimbuf old = {time(NULL) - 7200, time(NULL) - 7200};
    CHECK_INT(utime(orphan, &old), 0);
    CHECK_INT(utime(queued, &old), 0);
    int64_t job = 0;
    CHECK_INT(kb_job_create(f.c, f.kb.id, "q.md", queued, &job), RC_OK);
    CHECK_INT(kb_jobs_sweep(f.c, dir, 3600), 1);
    CHECK(access(orphan, F_OK) != 0);
    CHECK(access(queued, F_OK) == 0);
    CHECK(access(fresh, F_OK) == 0);
    teardown(&f);
}
