/* Tests for src/kb with models configured, against tests/fake_model.py:
 * chunk embeddings stored at ingest, dense vectors fused with BM25 by
 * reciprocal rank, rerank, the fallbacks when a model fails, and the
 * KB_NO_VECTORS / KB_NO_RERANK flags. */
#include "test.h"

#include "fake_model.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/rc.h"
#include "kb/kb.h"
#include "llm/llm.h"
#include "text/utf8.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An original regulation: six articles in three chapters. 第三条 carries a
 * five-star rating, a run of symbols that the search tokenizer drops but the
 * fake's bigram embedding sees. No text here has upper-case letters (the
 * fake lower-cases before taking bigrams). */
static const char REG[] = "# 示范银行理财产品销售管理办法\n\n"
                          "## 第一章 总则\n\n"
                          "第一条 为规范本行理财产品销售行为，保护投资者合法权益，制定本办法。\n\n"
                          "第二条 本办法适用于本行各营业网点和电子渠道销售的理财产品。\n\n"
                          "## 第二章 风险评级\n\n"
                          "第三条 理财产品风险等级分为五级，最高一级标注为★★★★★，"
                          "仅适合进取型投资者购买。\n\n"
                          "第四条 客户首次购买理财产品前，应当完成风险承受能力评估，"
                          "评估结果有效期为一年。\n\n"
                          "## 第三章 销售行为\n\n"
                          "第五条 销售人员不得承诺保本保收益，不得夸大或者片面宣传产品业绩。\n\n"
                          "第六条 销售过程应当同步录音录像，录音录像资料保存期限不少于五年。\n";
#define REG_CHUNKS 6

/* A second, smaller original document. */
static const char RULES[] = "# 示范银行个人存款业务规程\n\n"
                            "第一条 个人客户办理定期存款，应当出示本人有效身份证件。\n\n"
                            "第二条 定期存款提前支取的，按支取日活期存款利率计息。\n\n"
                            "第三条 存单遗失的，存款人应当及时到开户网点办理挂失手续。\n";
#define RULES_CHUNKS 3

#define EMBED_MODEL "fake-embed"
#define RERANK_MODEL "fake-rerank"
#define FAKE_DIM 64

enum { WITH_EMBED = 1, WITH_RERANK = 2 };

struct fixture {
    struct config cfg;
    struct kb_engine *e;
    struct kb_conn *c;
    struct kb_info kb;
    const struct fake_model *fm;
};

/* Opens a fresh store under test_tmpdir()/name with the chosen models
 * pointing at the shared fake server (mode "ok", request log cleared).
 * Returns 1 when ready; 0 when the test must stop (python3 missing: skip;
 * anything else is recorded as a failure). */
static int setup(struct fixture *f, const char *name, unsigned models)
{
    struct buf err = BUF_INIT;
    char dir[512];
    int ok = 0;
    memset(f, 0, sizeof *f);
    f->fm = fake_model_shared("ok", 0, 0);
    if (!f->fm)
        return 0;
    unsetenv("ATRIUM_CHAT_URL");
    unsetenv("ATRIUM_EMBED_URL");
    unsetenv("ATRIUM_RERANK_URL");
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
    int rc = config_load(&f->cfg, NULL, &err);
    if (!rc)
        rc = config_set(&f->cfg, "data_dir", dir, &err);
    if (!rc && (models & WITH_EMBED))
        rc = config_set(&f->cfg, "embed_url", f->fm->base_url, &err) ||
             config_set(&f->cfg, "embed_model", EMBED_MODEL, &err);
    if (!rc && (models & WITH_RERANK))
        rc = config_set(&f->cfg, "rerank_url", f->fm->base_url, &err) ||
             config_set(&f->cfg, "rerank_model", RERANK_MODEL, &err);
    if (!rc)
        rc = kb_engine_open(&f->cfg, &f->e, &err);
    if (!rc)
        rc = kb_conn_open(f->e, &f->c, &err);
    if (!rc)
        rc = kb_create(f->c, "理财", &f->kb, &err);
    if (rc) {
        test_fail(__FILE__, __LINE__, "setup %s failed: %s", name, buf_str(&err));
        goto out;
    }
    if (!fake_model_clear(f->fm)) {
        test_fail(__FILE__, __LINE__, "could not clear the fake model's request log");
        goto out;
    }
    ok = 1;
out:
    buf_release(&err);
    return ok;
}

static void teardown(struct fixture *f)
{
    if (f->fm)
        fake_model_shared("ok", 0, 0); /* leave the shared server as others expect it */
    kb_info_release(&f->kb);
    if (f->c)
        kb_conn_close(f->c);
    if (f->e)
        kb_engine_close(f->e);
    config_release(&f->cfg);
}

static void set_mode(const struct fixture *f, const char *mode)
{
    CHECK(fake_model_shared(mode, 0, 0) == f->fm);
}

static void ingest(struct fixture *f, const char *name, const char *text, size_t want_chunks)
{
    struct kb_ingest_report rep = {0};
    CHECK_INT(kb_ingest_bytes(f->c, f->kb.id, name, text, strlen(text), &rep), RC_OK);
    CHECK_INT(rep.added, 1);
    CHECK_INT(rep.failed, 0);
    CHECK_INT(rep.chunks, want_chunks);
    kb_ingest_report_release(&rep);
}

/* kb_search that must succeed. */
static void search(struct fixture *f, const char *query, int k, unsigned flags, struct kb_hits *out)
{
    struct buf err = BUF_INIT;
    struct kb_search_opts so = {k, flags | KB_NO_HIGHLIGHT, NULL};
    int rc = kb_search(f->c, f->kb.id, query, &so, out, &err);
    if (rc != RC_OK)
        test_fail(__FILE__, __LINE__, "kb_search(%s) = %d: %s", query, rc, buf_str(&err));
    buf_release(&err);
}

/* How many model requests the fake recorded on `path` since the last clear. */
static size_t nrequests(const struct fixture *f, const char *path)
{
    json_t *r = fake_model_requests(f->fm, path);
    size_t n = json_array_size(r);
    json_decref(r);
    return n;
}

/* got holds exactly the first n hits of want: same chunks, order, scores. */
static void check_same_hits(const struct kb_hits *got, const struct kb_hits *want, size_t n)
{
    CHECK_INT(got->n, n);
    CHECK(want->n >= n);
    for (size_t i = 0; i < n && i < got->n && i < want->n; i++) {
        CHECK_INT(got->a[i].chunk_id, want->a[i].chunk_id);
        CHECK(got->a[i].score == want->a[i].score);
    }
}

/* ---- the store, read directly ---- */

/* One chunk of the KB as the store holds it, in the order the search index
 * numbers chunks (doc_id, id), with the text the embedding was asked for. */
struct row {
    int64_t id;
    char *label;
    char *embed_text; /* "title heading\ntext", as kb.c embeds a chunk */
    float *vec;       /* NULL when the chunk has no vector */
    size_t dim;
    char *model;
};

static void rows_free(struct row *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].label);
        free(r[i].embed_text);
        free(r[i].vec);
        free(r[i].model);
    }
    free(r);
}

static char *col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return xstrdup(s ? (const char *)s : "");
}

/* Reads the KB's chunks and vectors from <data_dir>/atrium.db, opened
 * read-only with sqlite3 (not through src/kb). Returns the row count. */
static size_t load_rows(const struct fixture *f, struct row **out)
{
    char path[600];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct row *rows = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    snprintf(path, sizeof path, "%s/atrium.db", f->cfg.data_dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT c.id, c.label, c.title, c.heading, c.text, v.dim, v.vec, v.model"
                           " FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id"
                           " WHERE c.kb_id = ?1 ORDER BY c.doc_id, c.id",
                           -1, &st, NULL) != SQLITE_OK) {
        test_fail(__FILE__, __LINE__, "cannot read %s: %s", path, db ? sqlite3_errmsg(db) : "");
        goto out;
    }
    sqlite3_bind_int64(st, 1, f->kb.id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows = xgrow(rows, &cap, n + 1, sizeof *rows);
        struct row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->label = col_dup(st, 1);
        struct buf b = BUF_INIT;
        CHECK_INT(buf_addf(&b, "%s %s\n%s", sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                           sqlite3_column_text(st, 4)),
                  RC_OK);
        r->embed_text = xstrdup(buf_str(&b));
        buf_release(&b);
        if (sqlite3_column_type(st, 6) == SQLITE_BLOB) {
            r->dim = (size_t)sqlite3_column_int64(st, 5);
            int bytes = sqlite3_column_bytes(st, 6);
            CHECK(r->dim > 0);
            CHECK_INT(bytes, r->dim * sizeof(float));
            r->vec = xcalloc(r->dim ? r->dim : 1, sizeof(float));
            if (r->dim > 0 && (size_t)bytes == r->dim * sizeof(float))
                memcpy(r->vec, sqlite3_column_blob(st, 6), (size_t)bytes);
            r->model = col_dup(st, 7);
        }
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    *out = rows;
    return n;
}

/* Rows in table chunk_vectors (all KBs). */
static long long count_vectors(const struct fixture *f)
{
    char path[600];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    snprintf(path, sizeof path, "%s/atrium.db", f->cfg.data_dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM chunk_vectors", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static const struct row *row_by_id(const struct row *rows, size_t n, int64_t id, size_t *ord)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].id == id) {
            if (ord)
                *ord = i;
            return &rows[i];
        }
    return NULL;
}

/* ---- what the fake computes, recomputed here ---- */

static struct llm_endpoint embed_endpoint(const struct fixture *f)
{
    struct llm_endpoint ep = {f->fm->base_url, EMBED_MODEL, NULL, 1000, 2000, 5000};
    return ep;
}

/* Python's str.split() whitespace, for the characters our texts can hold. */
static int py_space(uint32_t cp)
{
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 ||
           cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* The distinct character bigrams of text as the fake takes them (lower-cased
 * ASCII, whitespace removed; a lone character is its own gram), sorted.
 * Returns the count; *out is malloc'd. */
static size_t fake_bigrams(const char *text, uint64_t **out)
{
    size_t len = strlen(text), ncp = 0;
    uint32_t *cps = xcalloc(len + 1, sizeof *cps);
    uint64_t *g = xcalloc(len + 1, sizeof *g);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += utf8_decode(text + i, len - i, &cp);
        if (py_space(cp))
            continue;
        cps[ncp++] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    }
    size_t ng = 0;
    if (ncp == 1)
        g[ng++] = (uint64_t)cps[0] << 32 | 0xffffffffu; /* never a real second character */
    for (size_t i = 0; i + 1 < ncp; i++)
        g[ng++] = (uint64_t)cps[i] << 32 | cps[i + 1];
    qsort(g, ng, sizeof *g, cmp_u64);
    size_t nd = 0;
    for (size_t i = 0; i < ng; i++)
        if (nd == 0 || g[nd - 1] != g[i])
            g[nd++] = g[i];
    free(cps);
    *out = g;
    return nd;
}

/* The fake's rerank score: the share of the query's distinct bigrams found
 * in the document. */
static double fake_overlap(const char *query, const char *doc)
{
    uint64_t *q = NULL, *d = NULL;
    size_t nq = fake_bigrams(query, &q), nd = fake_bigrams(doc, &d), common = 0;
    for (size_t i = 0; i < nq; i++)
        common += bsearch(&q[i], d, nd, sizeof *d, cmp_u64) != NULL;
    free(q);
    free(d);
    return nq ? (double)common / (double)nq : 0.0;
}

/* ---- reciprocal rank fusion, recomputed ---- */

/* A ranked chunk: its position in the index (ord, the tie-break) and score. */
struct ranked {
    size_t ord;
    float score;
};

static int cmp_ranked(const void *x, const void *y)
{
    const struct ranked *a = x, *b = y;
    return a->score < b->score   ? 1
           : a->score > b->score ? -1
                                 : (a->ord > b->ord) - (a->ord < b->ord);
}

#define RRF_K 60.0   /* as documented for fuse_vectors in src/kb/search.c */
#define RRF_DEPTH 50 /* nearest chunks taken from the vectors */

/* The fused ranking that the BM25 list `bm25` and the cosine ranking of the
 * stored vectors against the fake's embedding of `query` must give: each
 * list adds 1/(60 + rank) (rank from 1) to a chunk's score, chunks without
 * a vector count as the zero vector. Fills out (cap rows) and returns the
 * count. */
static size_t expected_rrf(const struct fixture *f, const struct row *rows, size_t nrows,
                           const char *query, const struct kb_hits *bm25, struct ranked *out,
                           size_t cap)
{
    struct llm_endpoint ep = embed_endpoint(f);
    const char *texts[1] = {query};
    float *qv = NULL;
    size_t dim = 0, nf = 0;
    struct buf err = BUF_INIT;
    CHECK_INT(llm_embed(&ep, texts, 1, &qv, &dim, NULL, &err), RC_OK);
    buf_release(&err);
    struct ranked *vh = xcalloc(nrows + 1, sizeof *vh);
    struct ranked *fused = xcalloc(bm25->n + nrows + 1, sizeof *fused);
    for (size_t d = 0; d < nrows; d++) {
        float dot = 0;
        for (size_t i = 0; qv && rows[d].vec && rows[d].dim == dim && i < dim; i++)
            dot += rows[d].vec[i] * qv[i];
        vh[d] = (struct ranked){d, dot};
    }
    qsort(vh, nrows, sizeof *vh, cmp_ranked);
    for (size_t i = 0; i < bm25->n; i++) {
        size_t ord = 0;
        CHECK(row_by_id(rows, nrows, bm25->a[i].chunk_id, &ord) != NULL);
        fused[nf++] = (struct ranked){ord, (float)(1.0 / (RRF_K + (double)i + 1))};
    }
    size_t nv = nrows < RRF_DEPTH ? nrows : RRF_DEPTH;
    for (size_t i = 0; i < nv; i++) {
        size_t j = 0;
        while (j < nf && fused[j].ord != vh[i].ord)
            j++;
        if (j == nf)
            fused[nf++] = (struct ranked){vh[i].ord, 0};
        fused[j].score += (float)(1.0 / (RRF_K + (double)i + 1));
    }
    qsort(fused, nf, sizeof *fused, cmp_ranked);
    size_t n = nf < cap ? nf : cap;
    memcpy(out, fused, n * sizeof *out);
    free(fused);
    free(vh);
    free(qv);
    return n;
}

/* Checks that the vector-fused search for `query` returns exactly the RRF of
 * its BM25 list (KB_NO_VECTORS) and the cosine ranking. Returns the number
 * of fused hits that the BM25 list did not have. */
static size_t check_fusion(struct fixture *f, const char *query, size_t *nbm25)
{
    struct row *rows = NULL;
    size_t nrows = load_rows(f, &rows);
    struct kb_hits bm25 = {0}, fused = {0};
    search(f, query, 50, KB_NO_VECTORS, &bm25);
    search(f, query, 50, 0, &fused);
    struct ranked *want = xcalloc(nrows + bm25.n + 1, sizeof *want);
    size_t nwant = expected_rrf(f, rows, nrows, query, &bm25, want, 50);
    CHECK_INT(fused.n, nwant);
    size_t extra = 0;
    for (size_t i = 0; i < fused.n && i < nwant; i++) {
        if (fused.a[i].chunk_id != rows[want[i].ord].id || fused.a[i].score != want[i].score)
            test_fail(__FILE__, __LINE__,
                      "query %s, rank %zu: chunk %lld score %.9g, RRF expects chunk %lld score "
                      "%.9g",
                      query, i, (long long)fused.a[i].chunk_id, fused.a[i].score,
                      (long long)rows[want[i].ord].id, (double)want[i].score);
        int in_bm25 = 0;
        for (size_t j = 0; j < bm25.n; j++)
            in_bm25 |= bm25.a[j].chunk_id == fused.a[i].chunk_id;
        extra += !in_bm25;
    }
    if (nbm25)
        *nbm25 = bm25.n;
    free(want);
    kb_hits_release(&bm25);
    kb_hits_release(&fused);
    rows_free(rows, nrows);
    return extra;
}

/* ---- tests ---- */

TEST(kb_models_embeddings_stored_at_ingest)
{
    struct fixture f;
    if (!setup(&f, "embed_ingest", WITH_EMBED))
        goto out;
    ingest(&f, "理财销售办法.md", REG, REG_CHUNKS);

    /* One vector per chunk, of the fake's dimension, tagged with the model. */
    struct row *rows = NULL;
    size_t nrows = load_rows(&f, &rows);
    CHECK_INT(nrows, REG_CHUNKS);
    CHECK_INT(count_vectors(&f), REG_CHUNKS);
    for (size_t i = 0; i < nrows; i++) {
        CHECK(rows[i].vec != NULL);
        CHECK_INT(rows[i].dim, FAKE_DIM);
        CHECK_STR(rows[i].model, EMBED_MODEL);
    }

    /* The fake was asked for exactly the chunk texts, each once. */
    json_t *reqs = fake_model_requests(f.fm, "/v1/embeddings");
    CHECK(json_array_size(reqs) >= 1);
    int *seen = xcalloc(nrows + 1, sizeof *seen);
    size_t ninputs = 0, i;
    json_t *body;
    json_array_foreach(reqs, i, body)
    {
        CHECK_STR(json_string_value(json_object_get(body, "model")), EMBED_MODEL);
        json_t *input = json_object_get(body, "input");
        CHECK(json_is_array(input));
        size_t j;
        json_t *t;
        json_array_foreach(input, j, t)
        {
            const char *s = json_string_value(t);
            size_t r = 0;
            while (r < nrows && !(s && strcmp(s, rows[r].embed_text) == 0))
                r++;
            if (r < nrows)
                seen[r]++;
            else
                test_fail(__FILE__, __LINE__, "embedding input is no chunk: %s", s ? s : "(null)");
            ninputs++;
        }
    }
    CHECK_INT(ninputs, REG_CHUNKS);
    for (size_t r = 0; r < nrows; r++)
        CHECK_INT(seen[r], 1);
    free(seen);
    json_decref(reqs);

    /* Each stored vector is the fake's embedding of its own chunk (not a
     * neighbour's): ask the fake again and compare. */
    const char **texts = xcalloc(nrows + 1, sizeof *texts);
    for (size_t r = 0; r < nrows; r++)
        texts[r] = rows[r].embed_text;
    struct llm_endpoint ep = embed_endpoint(&f);
    float *v = NULL;
    size_t dim = 0;
    struct buf err = BUF_INIT;
    CHECK_INT(llm_embed(&ep, texts, nrows, &v, &dim, NULL, &err), RC_OK);
    for (size_t r = 0; v && r < nrows; r++) {
        double diff = 0;
        for (size_t d = 0; rows[r].vec && d < dim && dim == rows[r].dim; d++)
            diff += fabs((double)rows[r].vec[d] - v[r * dim + d]);
        CHECK(rows[r].vec && dim == rows[r].dim && diff < 1e-5);
    }
    free(v);
    free(texts);
    buf_release(&err);

    /* Search with vectors on still finds the article asked about. */
    struct kb_hits hits = {0};
    CHECK(fake_model_clear(f.fm));
    search(&f, "销售人员可以承诺保本吗", 3, 0, &hits);
    CHECK(hits.n >= 1 && strcmp(hits.a[0].label, "第五条") == 0);
    CHECK_INT(nrequests(&f, "/v1/embeddings"), 1); /* the query's embedding */
    kb_hits_release(&hits);
    search(&f, "录音录像资料保存多久", 3, 0, &hits);
    CHECK(hits.n >= 1 && strcmp(hits.a[0].label, "第六条") == 0);
    kb_hits_release(&hits);
    rows_free(rows, nrows);
out:
    teardown(&f);
}

TEST(kb_models_vectors_fused_by_reciprocal_rank)
{
    struct fixture f;
    if (!setup(&f, "embed_rrf", WITH_EMBED))
        goto out;
    ingest(&f, "理财销售办法.md", REG, REG_CHUNKS);

    /* BM25 finds only the chunks sharing a character with the query; the
     * vectors rank every chunk, so fusion adds the others below them. */
    size_t nbm25 = 0;
    size_t extra = check_fusion(&f, "录像资料保存", &nbm25);
    CHECK(nbm25 >= 1 && nbm25 < REG_CHUNKS);
    CHECK_INT(extra, REG_CHUNKS - nbm25);

    /* Nothing lexical: the tokenizer drops symbols, so BM25 has no term at
     * all. The fake's embedding sees the bigram ★★, which only 第三条 holds
     * (four times), so the vectors alone still find the article. */
    struct kb_hits hits = {0};
    search(&f, "★★★★★", 5, KB_NO_VECTORS, &hits);
    CHECK_INT(hits.n, 0);
    kb_hits_release(&hits);
    search(&f, "★★★★★", 5, 0, &hits);
    CHECK_INT(hits.n, 5);
    CHECK(hits.n >= 1 && strcmp(hits.a[0].label, "第三条") == 0);
    CHECK(hits.n >= 1 && hits.a[0].coverage == 0); /* no lexical coverage to report */
    kb_hits_release(&hits);
    nbm25 = 1;
    CHECK_INT(check_fusion(&f, "★★★★★", &nbm25), REG_CHUNKS);
    CHECK_INT(nbm25, 0);

    /* A query whose BM25 list holds most chunks: fusion reorders them. */
    CHECK_INT(check_fusion(&f, "投资者评估", &nbm25), REG_CHUNKS - nbm25);
    CHECK(nbm25 >= 3);
out:
    teardown(&f);
}

TEST(kb_models_embedding_failures_fall_back_to_bm25)
{
    struct fixture f;
    if (!setup(&f, "embed_fail", WITH_EMBED))
        goto out;
    struct kb_hits hits = {0}, plain = {0};

    /* Ingest while the endpoint fails: the document goes in without vectors. */
    set_mode(&f, "fail");
    ingest(&f, "理财销售办法.md", REG, REG_CHUNKS);
    CHECK(nrequests(&f, "/v1/embeddings") >= 1); /* it was tried */
    CHECK_INT(count_vectors(&f), 0);
    struct kb_info k;
    CHECK_INT(kb_get(f.c, "理财", &k), RC_OK);
    CHECK_INT(k.ndocs, 1);
    CHECK_INT(k.nchunks, REG_CHUNKS);
    kb_info_release(&k);

    /* BM25 serves it; with no vector in the KB the query is not embedded. */
    set_mode(&f, "ok");
    CHECK(fake_model_clear(f.fm));
    search(&f, "风险承受能力评估", 3, 0, &hits);
    CHECK(hits.n >= 1 && strcmp(hits.a[0].label, "第四条") == 0);
    CHECK_INT(nrequests(&f, "/v1/embeddings"), 0);
    kb_hits_release(&hits);

    /* A second document, embedded: vectors for its chunks only, and fusion
     * treats the first document's chunks as having the zero vector. */
    ingest(&f, "存款规程.md", RULES, RULES_CHUNKS);
    CHECK_INT(count_vectors(&f), RULES_CHUNKS);
    check_fusion(&f, "定期存款提前支取", NULL);
    check_fusion(&f, "理财产品风险等级", NULL);

    /* The endpoint fails at query time: the BM25 list comes back unchanged. */
    search(&f, "存单遗失怎么挂失", 5, KB_NO_VECTORS, &plain);
    CHECK(plain.n >= 1 && strcmp(plain.a[0].label, "第三条") == 0 &&
          strcmp(plain.a[0].doc_name, "存款规程.md") == 0);
    set_mode(&f, "fail");
    CHECK(fake_model_clear(f.fm));
    search(&f, "存单遗失怎么挂失", 5, 0, &hits);
    CHECK_INT(nrequests(&f, "/v1/embeddings"), 1);
    check_same_hits(&hits, &plain, plain.n);
    kb_hits_release(&hits);
    kb_hits_release(&plain);

    /* Wrong-shaped answers (a vector short, ragged) are a failure too. */
    set_mode(&f, "garbage");
    search(&f, "风险承受能力评估", 3, KB_NO_VECTORS, &plain);
    search(&f, "风险承受能力评估", 3, 0, &hits);
    check_same_hits(&hits, &plain, plain.n);
    kb_hits_release(&hits);
    kb_hits_release(&plain);

    /* Once the service is back, re-ingesting the same bytes embeds the
     * document stored without vectors (it is not "unchanged"), and a
     * document that has its vectors stays unchanged. */
    set_mode(&f, "ok");
    struct kb_ingest_report rep = {0};
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "理财销售办法.md", REG, strlen(REG), &rep), RC_OK);
    CHECK_INT(rep.replaced, 1);
    CHECK_INT(kb_ingest_bytes(f.c, f.kb.id, "存款规程.md", RULES, strlen(RULES), &rep), RC_OK);
    CHECK_INT(rep.unchanged, 1);
    CHECK_INT(count_vectors(&f), REG_CHUNKS + RULES_CHUNKS);
    kb_ingest_report_release(&rep);
out:
    teardown(&f);
}

/* The document text kb's rerank sends for a hit ("title heading\n" + text;
 * our texts are far below its 512-character cut). */
static char *rerank_doc(const struct kb_hit *h)
{
    struct buf b = BUF_INIT;
    CHECK_INT(buf_addf(&b, "%s %s\n%s", h->doc_title, h->heading, h->text), RC_OK);
    CHECK(utf8_count(h->text, strlen(h->text)) < 512);
    char *s = xstrdup(buf_str(&b));
    buf_release(&b);
    return s;
}

TEST(kb_models_rerank_orders_by_model_scores)
{
    struct fixture f;
    if (!setup(&f, "rerank", WITH_RERANK))
        goto out;
    ingest(&f, "理财销售办法.md", REG, REG_CHUNKS);
    /* BM25 ranks 第三条, 第四条, 第一条 for this question; the fake gives
     * 第一条 (投资者) as much as 第三条 and more than 第四条 (评估 only), so
     * the rerank must visibly move hits. */
    const char *q = "投资者评估";
    const int k = 3;
    struct kb_hits cand = {0}, hits = {0};
    search(&f, q, 20, KB_NO_RERANK, &cand); /* the candidates, in retrieval order */
    CHECK(cand.n > (size_t)k);
    /* How many of them the reranker is given. */
    size_t n = cand.n < 20 ? cand.n : 20;
    if (n > cand.n)
        n = cand.n;
    char **docs = xcalloc(n + 1, sizeof *docs);
    double *score = xcalloc(n + 1, sizeof *score);
    size_t *order = xcalloc(n + 1, sizeof *order);
    for (size_t i = 0; i < n; i++) {
        docs[i] = rerank_doc(&cand.a[i]);
        score[i] = fake_overlap(q, docs[i]);
        order[i] = i;
    }
    /* Expected: a stable sort of the candidates by the fake's score. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && score[order[j - 1]] < score[order[j]]; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int moved = 0;
    for (size_t i = 0; i < n && i < (size_t)k; i++)
        moved |= order[i] != i;
    CHECK(moved); /* else this test could not tell a rerank from none */

    CHECK(fake_model_clear(f.fm));
    search(&f, q, k, 0, &hits);
    json_t *reqs = fake_model_requests(f.fm, "/v1/rerank");
    CHECK_INT(json_array_size(reqs), 1);
    json_t *body = json_array_get(reqs, 0);
    CHECK_STR(json_string_value(json_object_get(body, "query")), q);
    CHECK_STR(json_string_value(json_object_get(body, "model")), RERANK_MODEL);
    json_t *sent = json_object_get(body, "documents");
    CHECK_INT(json_array_size(sent), n);
    for (size_t i = 0; i < n && i < json_array_size(sent); i++) {
        json_t *d = json_array_get(sent, i);
        const char *s = json_is_object(d) ? json_string_value(json_object_get(d, "text"))
                                          : json_string_value(d);
        CHECK_STR(s, docs[i]);
    }
    json_decref(reqs);

    /* The hits come back in the fake's order, carrying its scores. */
    CHECK_INT(hits.n, k);
    for (size_t i = 0; i < hits.n && i < n; i++) {
        CHECK_INT(hits.a[i].chunk_id, cand.a[order[i]].chunk_id);
        CHECK(fabs(hits.a[i].score - score[order[i]]) < 1e-12);
        if (i > 0)
            CHECK(hits.a[i - 1].score >= hits.a[i].score);
    }
    kb_hits_release(&hits);

    /* The reranker fails: the retrieval order stands, with its scores. */
    set_mode(&f, "fail");
    CHECK(fake_model_clear(f.fm));
    search(&f, q, k, 0, &hits);
    CHECK_INT(nrequests(&f, "/v1/rerank"), 1);
    check_same_hits(&hits, &cand, (size_t)k);
    kb_hits_release(&hits);
    set_mode(&f, "garbage"); /* an index out of range */
    search(&f, q, k, 0, &hits);
    check_same_hits(&hits, &cand, (size_t)k);
    kb_hits_release(&hits);

    for (size_t i = 0; i < n; i++)
        free(docs[i]);
    free(docs);
    free(score);
    free(order);
    kb_hits_release(&cand);
out:
    teardown(&f);
}

TEST(kb_models_flags_switch_each_model_off)
{
    struct fixture f;
    if (!setup(&f, "flags", WITH_EMBED | WITH_RERANK))
        goto out;
    ingest(&f, "理财销售办法.md", REG, REG_CHUNKS);
    static const struct {
        unsigned flags;
        size_t embeds, reranks;
    } cases[] = {
        {0, 1, 1},
        {KB_NO_VECTORS, 0, 1},
        {KB_NO_RERANK, 1, 0},
        {KB_NO_VECTORS | KB_NO_RERANK, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kb_hits hits = {0};
        CHECK(fake_model_clear(f.fm));
        search(&f, "投资者评估", 3, cases[i].flags, &hits);
        CHECK_INT(hits.n, 3);
        if (nrequests(&f, "/v1/embeddings") != cases[i].embeds ||
            nrequests(&f, "/v1/rerank") != cases[i].reranks)
            test_fail(__FILE__, __LINE__, "flags %u: %zu embeddings, %zu reranks; want %zu, %zu",
                      cases[i].flags, nrequests(&f, "/v1/embeddings"), nrequests(&f, "/v1/rerank"),
                      cases[i].embeds, cases[i].reranks);
        kb_hits_release(&hits);
    }

    /* With vectors on, fusion lists every chunk, and the reranker is given
     * all of them (fewer than its depth of 20), each once. */
    CHECK(fake_model_clear(f.fm));
    struct kb_hits hits = {0};
    search(&f, "投资者评估", 3, 0, &hits);
    json_t *reqs = fake_model_requests(f.fm, "/v1/rerank");
    json_t *sent = json_object_get(json_array_get(reqs, 0), "documents");
    CHECK_INT(json_array_size(sent), REG_CHUNKS);
    for (size_t i = 0; i < json_array_size(sent); i++)
        for (size_t j = 0; j < i; j++)
            CHECK(!json_equal(json_array_get(sent, i), json_array_get(sent, j)));
    json_decref(reqs);
    kb_hits_release(&hits);
out:
    teardown(&f);
}

TEST(kb_models_ask_with_vectors_answers_what_bm25_answers)
{
    struct fixture f;
    if (!setup(&f, "ask", WITH_EMBED))
        goto out;
    struct buf err = BUF_INIT;
    CHECK_INT(config_set(&f.cfg, "answer_min_score", "0.1", &err), RC_OK);
    ingest(&f, "理财销售办法.md", REG, REG_CHUNKS);
    ingest(&f, "存款规程.md", RULES, RULES_CHUNKS);
    const char *q = "存单丢了怎么办";
    struct kb_answer plain, fused;
    struct kb_ask_opts o = {5, KB_NO_VECTORS, 1, NULL};
    CHECK_INT(kb_ask(f.c, f.kb.id, q, &o, NULL, NULL, &plain, &err), RC_OK);
    CHECK_INT(plain.mode, KB_ANSWER_EXTRACTIVE);
    CHECK(plain.ncites >= 1 && strcmp(plain.cites[0].label, "第三条") == 0 &&
          strcmp(plain.cites[0].doc_name, "存款规程.md") == 0);
    o.flags = 0;
    CHECK_INT(kb_ask(f.c, f.kb.id, q, &o, NULL, NULL, &fused, &err), RC_OK);
    int same = fused.mode == KB_ANSWER_EXTRACTIVE && plain.ncites >= 1 && fused.ncites >= 1 &&
               fused.cites[0].chunk_id == plain.cites[0].chunk_id;
    CHECK(same);
    kb_answer_release(&plain);
    kb_answer_release(&fused);
    buf_release(&err);
out:
    teardown(&f);
}
