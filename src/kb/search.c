/* Retrieval: query folding and synonym expansion, BM25F over the in-memory
 * index (or SQLite FTS5 bm25(), or the FTS5 trigram baseline), optional
 * dense vectors fused by reciprocal rank, optional rerank, then hit rows
 * with highlighted matches. */
#include "kb/kbint.h"
#include "auth/acl.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "kb/cues.h"
#include "text/norm.h"
#include "text/tok.h"
#include "text/utf8.h"

#include <math.h>
#include <unicode/ubrk.h>
#include <unicode/ustring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_MAX_BYTES 4096
#define SYN_WEIGHT 0.5f
#define FUSE_DEPTH 50
#define RERANK_DEPTH 20
#define RRF_K 60.0

/* ---- query terms ---- */

/* A query bigram that straddles two words of the question ("户说" in
 * "客户说") is a weaker clue than one inside a word: it keeps this weight. */
#define CROSS_WORD_WEIGHT 0.6f

/* Byte ranges of the ICU words of the folded query (at most cap). */
struct wspan {
    size_t s, e;
};

/* Each thread's word break iterator, closed when the thread exits. */
static pthread_key_t brk_key;
static pthread_once_t brk_once = PTHREAD_ONCE_INIT;

static void brk_close(void *p)
{
    ubrk_close(p);
}

static void brk_key_init(void)
{
    if (pthread_key_create(&brk_key, brk_close) != 0)
        abort();
}

static size_t query_words(const char *q, size_t n, struct wspan *out, size_t cap)
{
    UErrorCode err = U_ZERO_ERROR;
    pthread_once(&brk_once, brk_key_init);
    UBreakIterator *query_brk = pthread_getspecific(brk_key);
    if (!query_brk) {
        query_brk = ubrk_open(UBRK_WORD, "zh", NULL, 0, &err);
        if (!query_brk || U_FAILURE(err))
            return 0;
        if (pthread_setspecific(brk_key, query_brk) != 0) {
            ubrk_close(query_brk);
            return 0;
        }
    }
    /* On the heap: 40 KB of arrays in the frame made every answer thread's
     * stack resident that deep (docs/BENCHMARKS.md, round six). A UTF-8
     * text has no more UTF-16 units than bytes. */
    UChar *u = xmalloc((n + 2) * sizeof *u);
    size_t *map = xmalloc((n + 3) * sizeof *map);
    int32_t ulen = 0;
    size_t i = 0;
    while (i < n && ulen < QUERY_MAX_BYTES - 2) {
        uint32_t cp;
        size_t l = utf8_decode(q + i, n - i, &cp);
        map[ulen] = i;
        if (cp >= 0x10000)
            map[ulen + 1] = i;
        U16_APPEND_UNSAFE(u, ulen, cp);
        i += l;
    }
    map[ulen] = i;
    size_t nw = 0;
    ubrk_setText(query_brk, u, ulen, &err);
    if (U_SUCCESS(err)) {
        int32_t prev = ubrk_first(query_brk), next;
        while ((next = ubrk_next(query_brk)) != UBRK_DONE && nw < cap) {
            out[nw++] = (struct wspan){map[prev], map[next]};
            prev = next;
        }
    }
    /* the iterator keeps the text: leave it none that is freed */
    err = U_ZERO_ERROR;
    ubrk_setText(query_brk, NULL, 0, &err);
    free(u);
    free(map);
    return nw;
}

/* Question words and fillers of colloquial questions ("能不能", "怎么办",
 * "是不是"): their bigrams say how something is asked, not what about, so
 * they keep a small weight. Regulations rarely use them. */
static const char *const question_bigrams[] = {
    "什么", "怎么", "怎样", "如何", "哪些", "哪个", "哪里", "能不", "不能", "可不",
    "不可", "可以", "是不", "不是", "是否", "有没", "没有", "多少", "多久", "几天",
    "几年", "为什", "么办", "么处", "么算", "么样", "要不", "算不", "不算", "么时",
    "时候", "一下", "请问", "还能", "还要", "需要", "应该", "得多", "能否", "有哪",
    "要多", "么情", "怎么", "么要", "么条", "吗",   "呢",   "吧",   NULL,
};
#define QUESTION_WEIGHT 0.25f

static int is_question_bigram(const char *tok, size_t n)
{
    for (const char *const *q = question_bigrams; *q; q++)
        if (strlen(*q) == n && memcmp(*q, tok, n) == 0)
            return 1;
    return 0;
}

/* Single characters are matched too (a colloquial 取出来 still meets 提取),
 * at this weight relative to a bigram. */
#define UNIGRAM_WEIGHT 1.0f

struct qbuild {
    const struct kb_index *ix;
    struct idx_qterm *q;
    size_t n, cap;
    float weight;
    float cover; /* for expansion terms: coverage share per unit of idf */
    int original;
    const struct wspan *words; /* the question's words, for original terms */
    size_t nwords;
    const char *folded; /* the folded question the words point into */
};

/* The question's word that starts at or covers byte `at`; NULL if none. */
static const struct wspan *word_at(const struct qbuild *qb, size_t at)
{
    for (size_t i = 0; i < qb->nwords; i++)
        if (qb->words[i].s <= at && at < qb->words[i].e)
            return &qb->words[i];
    return NULL;
}

/* A bigram [start, end) straddles two words when a word boundary falls
 * inside it and one of its characters belongs to a longer word. Two lone
 * characters side by side are usually a name ICU does not know (月代,
 * 于乐): that bigram is kept whole. */
/* Whether the word [s, e) of the folded question is a lone function
 * character (的 了 着 过 地 得 之 and sentence particles): a bigram made with
 * one ("上的" of 火星/上/的) says nothing about what is asked. */
static int is_particle_word(const struct qbuild *qb, const struct wspan *w)
{
    static const char *const particles[] = {"的", "了", "着", "过", "地", "得", "之",
                                            "吗", "呢", "吧", "啊", "嘛", "么", NULL};
    size_t n = w->e - w->s;
    for (const char *const *p = particles; *p; p++)
        if (strlen(*p) == n && memcmp(*p, qb->folded + w->s, n) == 0)
            return 1;
    return 0;
}

static int is_cross_word(const struct qbuild *qb, size_t start, size_t end)
{
    const struct wspan *a = word_at(qb, start), *b = word_at(qb, end - 1);
    if (!a || !b || a == b)
        return 0;
    return (a->e - a->s) > (start < end ? (end - start) / 2 : 0) ||
           (b->e - b->s) > (start < end ? (end - start) / 2 : 0) || is_particle_word(qb, a) ||
           is_particle_word(qb, b);
}

/* True when the character at `at` lies in a question word (什么, 怎么 …). */
static int in_question_word(const struct qbuild *qb, size_t at)
{
    const struct wspan *w = word_at(qb, at);
    return w && w->e - w->s >= 4 && is_question_bigram(qb->folded + w->s, w->e - w->s);
}

static int add_qterm(void *ctx, const char *tok, size_t n, size_t start, size_t end)
{
    struct qbuild *qb = ctx;
    int32_t t = kb_index_term(qb->ix, tok, n);
    for (size_t i = 0; i < qb->n; i++)
        if (qb->q[i].term == t && t >= 0) {
            if (qb->original && qb->q[i].original && qb->q[i].weight < 2.0f)
                qb->q[i].weight += 0.5f; /* repeated in the question: a little more weight */
            return 0;
        }
    if (t < 0 && !qb->original)
        return 0;
    float w = qb->weight;
    int cross = 0;
    uint32_t cp;
    int single = utf8_decode(tok, n, &cp) == n && utf8_is_cjk(cp);
    if (qb->original && (is_question_bigram(tok, n) || (single && in_question_word(qb, start))))
        w *= QUESTION_WEIGHT;
    if (single && qb->original)
        w *= UNIGRAM_WEIGHT;
    if (qb->original && qb->nwords && !single)
        cross = is_cross_word(qb, start, end);
    if (cross)
        w *= CROSS_WORD_WEIGHT;
    /* Single characters widen recall, and bigrams across two words are
     * mostly noise: both count towards the ranking's coverage, not the
     * reported one that decides whether the KB answers the question at all. */
    float cover = qb->original ? w : qb->cover;
    qb->q = xgrow(qb->q, &qb->cap, qb->n + 1, sizeof *qb->q);
    qb->q[qb->n++] = (struct idx_qterm){t, w, cover, qb->original, !single && !cross};
    return 0;
}

struct idf_sum {
    const struct kb_index *ix;
    double sum;
};

static int add_idf(void *ctx, const char *tok, size_t n, size_t start, size_t end)
{
    struct idf_sum *is = ctx;
    is->sum += kb_index_idf(is->ix, kb_index_term(is->ix, tok, n));
    return 0;
}

/* The idf mass of a term's tokens in this index. */
static double term_mass(const struct kb_index *ix, const char *t, unsigned flags)
{
    struct idf_sum is = {ix, 0};
    tok_run(t, strlen(t), flags, add_idf, &is);
    return is.sum;
}

/* Adds the tokens of every synonym of a group member found in the query.
 * A synonym that matches fully covers the member it stands for at the
 * synonym weight (half as much as the member itself). */
static void expand_synonyms(const struct kb_snapshot *s, const char *folded, struct qbuild *qb)
{
    qb->weight = SYN_WEIGHT;
    qb->original = 0;
    /* A bitmap of the query's first bytes of characters: a term whose first
     * character's last byte is absent cannot occur, so most strstr calls are
     * skipped. */
    uint8_t seen[32] = {0};
    for (const unsigned char *p = (const unsigned char *)folded; *p; p++)
        seen[*p >> 3] |= (uint8_t)(1u << (*p & 7));
    for (size_t g = 0; g < s->nsyn; g++) {
        char **terms = s->syn[g];
        const char *hit = NULL;
        for (char **t = terms; *t && !hit; t++) {
            const unsigned char *u = (const unsigned char *)*t;
            if (!u[0])
                continue;
            /* test the byte that varies most: the last byte of the first character */
            size_t l = u[0] < 0x80 ? 1 : u[0] < 0xe0 ? 2 : u[0] < 0xf0 ? 3 : 4;
            unsigned char b = u[l - 1];
            if ((seen[b >> 3] & (1u << (b & 7))) && strstr(folded, *t))
                hit = *t;
        }
        if (!hit)
            continue;
        double covered = term_mass(s->ix, hit, KB_INDEX_TOKENS & ~TOK_WORDS);
        for (char **t = terms; *t; t++) {
            if (strstr(folded, *t))
                continue;
            double mass = term_mass(s->ix, *t, KB_INDEX_TOKENS);
            /* weaker evidence than the user's own word: the same discount
             * as in the score */
            qb->cover = mass > 0 ? SYN_WEIGHT * (float)(covered / mass) : 0;
            tok_run(*t, strlen(*t), KB_INDEX_TOKENS, add_qterm, qb);
        }
    }
}

/* ---- hits ---- */

static void hit_release(struct kb_hit *x)
{
    free(x->doc_name);
    free(x->doc_title);
    free(x->heading);
    free(x->label);
    free(x->text);
    free(x->highlight);
}

void kb_hits_release(struct kb_hits *h)
{
    for (size_t i = 0; i < h->n; i++)
        hit_release(&h->a[i]);
    free(h->a);
    h->a = NULL;
    h->n = 0;
}

json_t *kb_hits_json(const struct kb_hits *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n; i++) {
        const struct kb_hit *x = &h->a[i];
        char *cite = kb_cite_string(x->doc_title, x->label, x->heading);
        struct buf path = BUF_INIT;
        buf_addf(&path, "《%s》%s%s", x->doc_title, x->heading[0] ? " › " : "", x->heading);
        json_t *o = json_pack(
            "{sI sI sI ss ss ss ss ss ss ss sf sf}", "kb_id", (json_int_t)x->kb_id, "chunk_id",
            (json_int_t)x->chunk_id, "doc_id", (json_int_t)x->doc_id, "document", x->doc_name,
            "title", x->doc_title, "heading", x->heading, "path", buf_str(&path), "label", x->label,
            "cite", cite, "text", x->text, "score", x->score, "coverage", x->coverage);
        if (x->highlight)
            json_object_set_new(o, "highlight", json_string(x->highlight));
        json_array_append_new(a, o);
        free(cite);
        buf_release(&path);
    }
    return a;
}

/* The query's terms as a tiny hash set of their strings: highlighting looks
 * up every bigram of every hit, and a 256-slot table stays in cache where
 * the KB's dictionary would not. */
#define HL_SLOTS 256

struct hl_set {
    const char *str[HL_SLOTS];
    uint16_t len[HL_SLOTS];
};

static uint32_t hl_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static void hl_set_build(struct hl_set *set, const struct kb_index *ix, const struct idx_qterm *q,
                         size_t nq)
{
    memset(set, 0, sizeof *set);
    size_t used = 0;
    for (size_t i = 0; i < nq && used < HL_SLOTS / 2; i++) {
        size_t n = 0;
        const char *t = q[i].term >= 0 ? kb_index_term_str(ix, q[i].term, &n) : NULL;
        if (!t || n < 4) /* lone characters are not highlighted: too noisy */
            continue;
        uint32_t h = hl_hash(t, n) & (HL_SLOTS - 1);
        while (set->str[h] && !(set->len[h] == n && memcmp(set->str[h], t, n) == 0))
            h = (h + 1) & (HL_SLOTS - 1);
        if (!set->str[h]) {
            set->str[h] = t;
            set->len[h] = (uint16_t)n;
            used++;
        }
    }
}

static int hl_set_has(const struct hl_set *set, const char *t, size_t n)
{
    uint32_t h = hl_hash(t, n) & (HL_SLOTS - 1);
    while (set->str[h]) {
        if (set->len[h] == n && memcmp(set->str[h], t, n) == 0)
            return 1;
        h = (h + 1) & (HL_SLOTS - 1);
    }
    return 0;
}

static int json_field(struct buf *b, const char *name, const char *v)
{
    int rc = buf_addf(b, ",\"%s\":", name);
    return rc ? rc : buf_add_json_str(b, v, strlen(v));
}

int kb_hits_write_json(const struct kb_hits *h, struct buf *out)
{
    int rc = buf_adds(out, "{\"hits\":[");
    for (size_t i = 0; i < h->n && !rc; i++) {
        const struct kb_hit *x = &h->a[i];
        char *cite = kb_cite_string(x->doc_title, x->label, x->heading);
        struct buf path = BUF_INIT;
        buf_addf(&path, "《%s》%s%s", x->doc_title, x->heading[0] ? " › " : "", x->heading);
        rc |= buf_addf(out, "%s{\"kb_id\":%lld,\"chunk_id\":%lld,\"doc_id\":%lld", i ? "," : "",
                       (long long)x->kb_id, (long long)x->chunk_id, (long long)x->doc_id);
        rc |= json_field(out, "document", x->doc_name);
        rc |= json_field(out, "title", x->doc_title);
        rc |= json_field(out, "heading", x->heading);
        rc |= json_field(out, "path", buf_str(&path));
        rc |= json_field(out, "label", x->label);
        rc |= json_field(out, "cite", cite);
        rc |= json_field(out, "text", x->text);
        rc |= buf_addf(out, ",\"score\":%.6g,\"coverage\":%.6g", x->score, x->coverage);
        if (x->highlight)
            rc |= json_field(out, "highlight", x->highlight);
        rc |= buf_addc(out, '}');
        buf_release(&path);
        free(cite);
    }
    if (!rc)
        rc = buf_adds(out, "]}");
    return rc ? RC_TOO_BIG : RC_OK;
}

struct hl_ctx {
    const struct hl_set *set;
    size_t *ranges; /* start,end pairs in text bytes, in order */
    size_t n, cap;
};

static int hl_token(void *ctx, const char *tok, size_t n, size_t start, size_t end)
{
    struct hl_ctx *h = ctx;
    if (!hl_set_has(h->set, tok, n))
        return 0;
    if (h->n && start <= h->ranges[2 * h->n - 1]) { /* overlaps the previous range: merge */
        if (end > h->ranges[2 * h->n - 1])
            h->ranges[2 * h->n - 1] = end;
        return 0;
    }
    h->ranges = xgrow(h->ranges, &h->cap, 2 * h->n + 2, sizeof *h->ranges);
    h->ranges[2 * h->n] = start;
    h->ranges[2 * h->n + 1] = end;
    h->n++;
    return 0;
}

/* Appends text with <, >, & and " escaped, copying the runs between them whole. */
static void add_escaped(struct buf *b, const char *p, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = p[i] == '<'   ? "&lt;"
                          : p[i] == '>' ? "&gt;"
                          : p[i] == '&' ? "&amp;"
                          : p[i] == '"' ? "&quot;"
                                        : NULL;
        if (!esc)
            continue;
        buf_add(b, p + run, i - run);
        buf_adds(b, esc);
        run = i + 1;
    }
    buf_add(b, p + run, n - run);
}

static char *highlight(const struct hl_set *set, const char *text)
{
    struct hl_ctx h = {set, NULL, 0, 0};
    size_t len = strlen(text);
    /* Bigrams cover every dictionary word of the query, and skip ICU's cost. */
    tok_run(text, len, TOK_BIGRAMS, hl_token, &h);
    struct buf b = BUF_INIT;
    size_t pos = 0;
    for (size_t i = 0; i < h.n; i++) {
        size_t s = h.ranges[2 * i], e = h.ranges[2 * i + 1];
        if (s < pos || e > len)
            continue;
        add_escaped(&b, text + pos, s - pos);
        buf_adds(&b, "<em>");
        add_escaped(&b, text + s, e - s);
        buf_adds(&b, "</em>");
        pos = e;
    }
    add_escaped(&b, text + pos, len - pos);
    free(h.ranges);
    return buf_detach(&b, NULL);
}

/* Fills a hit from the snapshot's in-memory copy of the chunk. */
static void snap_hit(const struct kb_snapshot *s, uint32_t doc, struct kb_hit *x)
{
    const struct kb_chunk_meta *m = &s->meta[doc];
    const char *a = s->arena.p;
    x->chunk_id = kb_index_chunk_id(s->ix, doc);
    x->doc_id = m->doc_id;
    x->doc_name = xstrdup(a + m->doc_name);
    x->doc_title = xstrdup(a + m->title);
    x->heading = xstrdup(a + m->heading);
    x->label = xstrdup(a + m->label);
    x->text = xstrdup(a + m->text);
}

/* Loads the row of one chunk into a hit. RC_NOT_FOUND when it vanished. */
static int load_hit(struct kb_conn *c, int64_t chunk_id, struct kb_hit *x)
{
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT c.doc_id, d.name, d.title, c.heading, c.label, c.text"
                          " FROM chunks c JOIN documents d ON d.id = c.doc_id"
                          " WHERE c.id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, chunk_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        x->chunk_id = chunk_id;
        x->doc_id = sqlite3_column_int64(st, 0);
        x->doc_name = db_col_str(st, 1);
        x->doc_title = db_col_str(st, 2);
        x->heading = db_col_str(st, 3);
        x->label = db_col_str(st, 4);
        x->text = db_col_str(st, 5);
    }
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

/* ---- definitions ---- */

/* A "what is X / does X include" question is best answered by the article
 * that defines X. Among the candidates, those that define a term the
 * question names are boosted; the list is re-sorted. */
#define DEFINITION_BOOST 1.5f

static int cmp_hit_score(const void *x, const void *y);

static void boost_definitions(const struct kb_snapshot *s, const char *question,
                              struct idx_hit *hits, size_t nh)
{
    int any = 0;
    for (size_t i = 0; i < nh; i++)
        if (cue_defines(s->arena.p + s->meta[hits[i].doc].text, question)) {
            hits[i].score *= DEFINITION_BOOST;
            any = 1;
        }
    if (any)
        qsort(hits, nh, sizeof *hits, cmp_hit_score);
}

/* ---- dense vectors and rerank ---- */

static int cmp_hit_score(const void *x, const void *y)
{
    const struct idx_hit *a = x, *b = y;
    return a->score < b->score   ? 1
           : a->score > b->score ? -1
                                 : (a->doc > b->doc) - (a->doc < b->doc);
}

/* Fuses BM25 hits with the nearest chunks by cosine (reciprocal rank
 * fusion). On any failure the BM25 list is kept as it is. */
static size_t fuse_vectors(struct kb_conn *c, const struct kb_snapshot *s, const char *query,
                           struct idx_hit *hits, size_t nh, size_t cap)
{
    struct llm_endpoint ep;
    if (!s->vecs || !s->dim || !kb_embed_endpoint(c->e, &ep))
        return nh;
    /* Vectors from another model live in another space: never compare them. */
    if (!s->vec_model || strcmp(s->vec_model, c->e->cfg->embed_model) != 0) {
        log_warn("stored vectors come from another embedding model; BM25 only until re-ingest");
        return nh;
    }
    float *qv = NULL;
    size_t dim = 0;
    struct buf err = BUF_INIT;
    const char *texts[1] = {query};
    if (llm_embed(&ep, texts, 1, &qv, &dim, NULL, &err) || dim != s->dim) {
        log_warn("query embedding failed, BM25 only: %s", buf_str(&err));
        buf_release(&err);
        free(qv);
        return nh;
    }
    buf_release(&err);
    size_t ndocs = kb_index_docs(s->ix);
    struct idx_hit *vh = xmalloc((ndocs ? ndocs : 1) * sizeof *vh);
    for (size_t d = 0; d < ndocs; d++) {
        const float *v = s->vecs + d * dim;
        float dot = 0;
        for (size_t i = 0; i < dim; i++)
            dot += v[i] * qv[i];
        vh[d] = (struct idx_hit){(uint32_t)d, dot, 0};
    }
    free(qv);
    qsort(vh, ndocs, sizeof *vh, cmp_hit_score);
    size_t nv = ndocs < FUSE_DEPTH ? ndocs : FUSE_DEPTH;
    /* RRF over the union; coverage is carried over from the BM25 list. */
    struct idx_hit *fused = xmalloc((nh + nv + 1) * sizeof *fused);
    size_t nf = 0;
    for (size_t i = 0; i < nh; i++)
        fused[nf++] =
            (struct idx_hit){hits[i].doc, (float)(1.0 / (RRF_K + i + 1)), hits[i].coverage};
    for (size_t i = 0; i < nv; i++) {
        size_t j;
        for (j = 0; j < nf && fused[j].doc != vh[i].doc; j++)
            ;
        if (j == nf)
            fused[nf++] = (struct idx_hit){vh[i].doc, 0, 0};
        fused[j].score += (float)(1.0 / (RRF_K + i + 1));
    }
    qsort(fused, nf, sizeof *fused, cmp_hit_score);
    size_t n = nf < cap ? nf : cap;
    memcpy(hits, fused, n * sizeof *hits);
    free(fused);
    free(vh);
    return n;
}

/* Reorders the top hits by a rerank model's scores; keeps the order on failure. */
static void rerank(struct kb_conn *c, const char *query, struct kb_hits *out)
{
    const struct config *cfg = c->e->cfg;
    if (!cfg->rerank_url || !cfg->rerank_url[0] || out->n < 2)
        return;
    struct llm_endpoint ep = {
        cfg->rerank_url,         cfg->rerank_model,           cfg->rerank_api_key,
        cfg->connect_timeout_ms, cfg->first_token_timeout_ms, cfg->total_timeout_ms};
    size_t n = out->n;
    const char **docs = xcalloc(n, sizeof *docs);
    char **owned = xcalloc(n, sizeof *owned);
    double *scores = xcalloc(n, sizeof *scores);
    for (size_t i = 0; i < n; i++) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "%s %s\n", out->a[i].doc_title, out->a[i].heading);
        buf_add(&b, out->a[i].text, utf8_prefix(out->a[i].text, strlen(out->a[i].text), 512));
        owned[i] = buf_detach(&b, NULL);
        docs[i] = owned[i];
    }
    struct buf err = BUF_INIT;
    if (llm_rerank(&ep, query, docs, n, scores, NULL, &err) == RC_OK) {
        for (size_t i = 0; i < n; i++)
            out->a[i].score = scores[i];
        /* insertion sort: n is small and the order must be stable */
        for (size_t i = 1; i < n; i++) {
            struct kb_hit h = out->a[i];
            size_t j = i;
            while (j > 0 && out->a[j - 1].score < h.score) {
                out->a[j] = out->a[j - 1];
                j--;
            }
            out->a[j] = h;
        }
    } else {
        log_warn("rerank failed, keeping retrieval order: %s", buf_str(&err));
    }
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    free(owned);
    free(docs);
    free(scores);
    buf_release(&err);
}

/* ---- SQLite FTS5 engines (comparison and baseline) ---- */

struct fts_q {
    struct buf *match;
    int trigram;
};

static int add_fts_token(void *ctx, const char *tok, size_t n, size_t start, size_t end)
{
    struct fts_q *f = ctx;
    if (f->match->len)
        buf_adds(f->match, " OR ");
    buf_addc(f->match, '"');
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '"')
            buf_addc(f->match, '"');
        buf_addc(f->match, tok[i]);
    }
    buf_addc(f->match, '"');
    return 0;
}

/* For the trigram baseline: every 3-character window of each run of
 * letters, digits and ideographs in the folded query, OR-ed. */
static void trigram_match(const char *folded, struct buf *match)
{
    size_t n = strlen(folded);
    size_t *starts = xmalloc((n + 1) * sizeof *starts); /* not in the frame: see query_words */
    size_t ns = 0;
    size_t i = 0;
    while (i <= n) {
        uint32_t cp = 0;
        size_t l = i < n ? utf8_decode(folded + i, n - i, &cp) : 1;
        int word = i < n && (utf8_is_cjk(cp) || (cp < 128 && (cp >= '0' && cp <= '9')) ||
                             (cp >= 'a' && cp <= 'z'));
        if (word) {
            starts[ns++] = i;
        } else {
            for (size_t k = 0; k + 2 < ns; k++) {
                size_t e = k + 3 < ns ? starts[k + 3] : i;
                if (match->len)
                    buf_adds(match, " OR ");
                buf_addc(match, '"');
                buf_add(match, folded + starts[k], e - starts[k]);
                buf_addc(match, '"');
            }
            ns = 0;
        }
        i += l;
    }
    free(starts);
}

unsigned kb_fts_present(struct kb_conn *c)
{
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                         " AND name IN ('chunks_fts', 'chunks_tri')");
    if (!st)
        return 0;
    unsigned have = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(st, 0);
        have |= n && strcmp(n, "chunks_fts") == 0 ? KB_FTS_ATRIUM : KB_FTS_TRIGRAM;
    }
    sqlite3_reset(st);
    return have;
}

int kb_fts_ensure(struct kb_conn *c, enum kb_fts which)
{
    if (kb_fts_present(c) & which)
        return RC_OK;
    log_info("building the FTS5 %s index over all chunks",
             which == KB_FTS_ATRIUM ? "atrium" : "trigram");
    if (db_begin(c->db))
        return RC_DB;
    /* Another connection may have built it while we waited for the lock. */
    int rc = RC_OK;
    if (!(kb_fts_present(c) & which))
        rc = db_exec(c->db, which == KB_FTS_ATRIUM
                                ? "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, heading, text,"
                                  " content='chunks', content_rowid='id', tokenize='atrium');"
                                  "INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');"
                                : "CREATE VIRTUAL TABLE chunks_tri USING fts5(title, heading, text,"
                                  " content='chunks', content_rowid='id', tokenize='trigram');"
                                  "INSERT INTO chunks_tri(chunks_tri) VALUES ('rebuild');");
    if (rc || db_commit(c->db)) {
        db_rollback(c->db);
        return RC_DB;
    }
    return RC_OK;
}

static int search_fts(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                      const char *folded, int k, int trigram, struct idx_hit **hits, int64_t **ids,
                      size_t *nh)
{
    struct buf match = BUF_INIT;
    if (kb_fts_ensure(c, trigram ? KB_FTS_TRIGRAM : KB_FTS_ATRIUM))
        return RC_DB;
    if (trigram) {
        trigram_match(folded, &match);
    } else {
        struct fts_q f = {&match, 0};
        /* bigrams only: the atrium FTS5 index holds no dictionary words */
        tok_run(folded, strlen(folded), TOK_BIGRAMS, add_fts_token, &f);
    }
    *nh = 0;
    if (!match.len) {
        buf_release(&match);
        return RC_OK;
    }
    sqlite3_stmt *st =
        trigram ? db_stmt(c->cache, "SELECT t.rowid, -bm25(chunks_tri, 1.5, 1.5, 1.0) AS s"
                                    " FROM chunks_tri t JOIN chunks c ON c.id = t.rowid"
                                    " JOIN kbs k ON k.id = c.kb_id"
                                    " WHERE chunks_tri MATCH ?3 AND c.kb_id = ?4"
                                    "   AND " ACL_KB_LEVEL_SQL " >= 1 ORDER BY s DESC LIMIT ?5")
                : db_stmt(c->cache, "SELECT t.rowid, -bm25(chunks_fts, 1.5, 1.5, 1.0) AS s"
                                    " FROM chunks_fts t JOIN chunks c ON c.id = t.rowid"
                                    " JOIN kbs k ON k.id = c.kb_id"
                                    " WHERE chunks_fts MATCH ?3 AND c.kb_id = ?4"
                                    "   AND " ACL_KB_LEVEL_SQL " >= 1 ORDER BY s DESC LIMIT ?5");
    if (!st) {
        buf_release(&match);
        return RC_DB;
    }
    acl_bind(st, who);
    sqlite3_bind_text(st, 3, match.p, (int)match.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, kb_id);
    sqlite3_bind_int(st, 5, k);
    *hits = xcalloc((size_t)k, sizeof **hits);
    *ids = xcalloc((size_t)k, sizeof **ids);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && *nh < (size_t)k) {
        (*ids)[*nh] = sqlite3_column_int64(st, 0);
        (*hits)[*nh] = (struct idx_hit){0, (float)sqlite3_column_double(st, 1), 1.0f};
        (*nh)++;
    }
    sqlite3_reset(st);
    buf_release(&match);
    return r == SQLITE_DONE || r == SQLITE_ROW ? RC_OK : RC_DB;
}

/* ---- the search entry point ---- */

int kb_search(struct kb_conn *c, int64_t kb_id, const char *query, const struct kb_search_opts *o,
              struct kb_hits *out, struct buf *err)
{
    out->a = NULL;
    out->n = 0;
    size_t qlen = query ? strlen(query) : 0;
    int k = o && o->k > 0 ? o->k : 5;
    unsigned flags = o ? o->flags : 0;
    if (k > 100)
        k = 100;
    if (!qlen || qlen > QUERY_MAX_BYTES || !utf8_valid(query, qlen)) {
        buf_addf(err, "查询为空、过长或不是有效的 UTF-8 / query is empty, too long or not UTF-8");
        return RC_INVALID;
    }
    /* The permission filter: the in-memory index holds one KB, and the
     * query that picks it also checks who may read it, so nothing of a KB
     * they may not read is ranked; the FTS5 engines repeat the rule in
     * their own SQL. */
    struct kb_snapshot *s = NULL;
    int arc = kb_snapshot_get_for(c, o ? o->who : NULL, kb_id, &s);
    if (arc) {
        buf_addf(err, arc == RC_NOT_FOUND ? "知识库不存在 / unknown knowledge base"
                                          : "存储错误 / store error");
        return arc;
    }
    struct buf folded = BUF_INIT;
    norm_fold(query, qlen, &folded);
    struct wspan words[256];
    struct qbuild qb = {s->ix, NULL, 0, 0, 1.0f, 0, 1, words, 0, folded.p};
    qb.nwords = query_words(folded.p, folded.len, words, 256);
    /* Bigrams from the tokenizer; dictionary words (>= 3 characters, as
     * TOK_WORDS indexes them) from the segmentation just made, so ICU runs
     * once per query. */
    tok_run(folded.p, folded.len, KB_INDEX_TOKENS & ~TOK_WORDS, add_qterm, &qb);
    for (size_t i = 0; i < qb.nwords; i++) {
        size_t ws = words[i].s, we = words[i].e;
        uint32_t cp;
        /* an unseen word is already counted through its bigrams */
        if (utf8_count(folded.p + ws, we - ws) >= 3 && utf8_decode(folded.p + ws, we - ws, &cp) &&
            utf8_is_cjk(cp) && kb_index_term(s->ix, folded.p + ws, we - ws) >= 0)
            add_qterm(&qb, folded.p + ws, we - ws, ws, we);
    }
    if (!(flags & KB_NO_SYNONYMS))
        expand_synonyms(s, folded.p, &qb);

    int rc = RC_OK;
    size_t cap = (size_t)k > FUSE_DEPTH ? (size_t)k : FUSE_DEPTH;
    struct idx_hit *hits = NULL;
    int64_t *ids = NULL;
    size_t nh = 0;
    if (flags & (KB_FTS5 | KB_TRIGRAM)) {
        rc = search_fts(c, o ? o->who : NULL, kb_id, folded.p, k, !!(flags & KB_TRIGRAM), &hits,
                        &ids, &nh);
        if (rc)
            goto out;
    } else {
        hits = xmalloc(cap * sizeof *hits);
        int fuse = s->vecs && !(flags & KB_NO_VECTORS);
        int want_rerank = !(flags & KB_NO_RERANK) && c->e->cfg->rerank_url[0];
        unsigned qcues = cue_question(folded.p, folded.len);
        /* fusion, rerank and definitions reorder a deeper candidate list */
        int deep = fuse || want_rerank || (qcues & CUE_DEFINITION);
        nh = kb_index_search(s->ix, qb.q, qb.n, qcues, deep ? FUSE_DEPTH : (size_t)k, hits);
        if (fuse)
            nh = fuse_vectors(c, s, query, hits, nh, cap);
        if (qcues & CUE_DEFINITION)
            boost_definitions(s, folded.p, hits, nh);
        size_t keep = want_rerank ? RERANK_DEPTH : (size_t)k;
        if (keep < (size_t)k)
            keep = (size_t)k;
        if (nh > keep)
            nh = keep;
    }
    int from_sql =
        !!(flags & (KB_FTS5 | KB_TRIGRAM)); /* else ids is NULL: hits index the snapshot */
    out->a = xcalloc(nh ? nh : 1, sizeof *out->a);
    for (size_t i = 0; i < nh; i++) {
        struct kb_hit *x = &out->a[out->n];
        if (!from_sql)
            snap_hit(s, hits[i].doc, x);
        else if (load_hit(c, ids[i], x) != RC_OK)
            continue; /* deleted since the FTS query ran */
        x->kb_id = kb_id;
        x->score = hits[i].score;
        x->coverage = hits[i].coverage;
        out->n++;
    }
    if (!(flags & (KB_FTS5 | KB_TRIGRAM | KB_NO_RERANK)))
        rerank(c, query, out);
    if (out->n > (size_t)k) {
        for (size_t i = (size_t)k; i < out->n; i++)
            hit_release(&out->a[i]);
        out->n = (size_t)k;
    }
    if (!(flags & KB_NO_HIGHLIGHT) && out->n) {
        struct hl_set set;
        hl_set_build(&set, s->ix, qb.q, qb.n);
        for (size_t i = 0; i < out->n; i++)
            out->a[i].highlight = highlight(&set, out->a[i].text);
    }
out:
    free(hits);
    free(ids);
    free(qb.q);
    buf_release(&folded);
    kb_snapshot_put(s);
    return rc;
}

/* ---- several KBs ---- */

struct merged {
    double key;
    size_t kb, i; /* the hit out of per[kb].a[i] */
};

static int cmp_merged(const void *a, const void *b)
{
    double x = ((const struct merged *)a)->key, y = ((const struct merged *)b)->key;
    return x > y ? -1 : x < y;
}

int kb_search_many(struct kb_conn *c, const int64_t *kb_ids, size_t n, const char *query,
                   const struct kb_search_opts *o, struct kb_hits *out, struct buf *err)
{
    out->a = NULL;
    out->n = 0;
    int k = o && o->k > 0 ? (o->k > 100 ? 100 : o->k) : 5;
    struct kb_hits *per = xcalloc(n ? n : 1, sizeof *per);
    struct merged *m = NULL;
    size_t nm = 0, cap = 0;
    int rc = RC_OK;
    for (size_t j = 0; j < n; j++) {
        struct buf e = BUF_INIT;
        int r = kb_search(c, kb_ids[j], query, o, &per[j], &e);
        if (r == RC_NOT_FOUND) { /* not readable, or gone: as if absent */
            buf_release(&e);
            continue;
        }
        if (r != RC_OK) {
            (void)buf_adds(err, buf_str(&e));
            buf_release(&e);
            rc = r;
            goto out;
        }
        buf_release(&e);
        double best = per[j].n ? per[j].a[0].score : 0;
        for (size_t i = 0; i < per[j].n; i++) {
            const struct kb_hit *x = &per[j].a[i];
            double rel = best > 0 ? x->score / best : 1.0;
            m = xgrow(m, &cap, nm + 1, sizeof *m);
            m[nm++] = (struct merged){x->coverage * (0.5 + 0.5 * rel), j, i};
        }
    }
    if (nm) /* qsort wants a valid pointer even for no elements */
        qsort(m, nm, sizeof *m, cmp_merged);
    size_t take = nm < (size_t)k ? nm : (size_t)k;
    out->a = xcalloc(take ? take : 1, sizeof *out->a);
    for (size_t t = 0; t < take; t++) {
        struct kb_hit *src = &per[m[t].kb].a[m[t].i];
        out->a[out->n++] = *src; /* moved: the per-KB copy is cleared below */
        memset(src, 0, sizeof *src);
    }
out:
    for (size_t j = 0; j < n; j++)
        kb_hits_release(&per[j]);
    free(per);
    free(m);
    return rc;
}
