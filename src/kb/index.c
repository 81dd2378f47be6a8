/* In-memory BM25F index: a hash-table term dictionary and CSR postings with
 * per-field term frequencies. Built in one pass (tokenize, collect
 * (term, doc, tf) triples, counting-sort by term); searched with a dense
 * score accumulator kept per thread. */
#include "kb/index.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "text/tok.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const struct idx_params idx_default_params = {
    .k1 = 1.2f,
    .b = {0.3f, 0.5f, 0.5f},
    .w = {1.5f, 1.5f, 1.0f},
    .cue_boost = 0.2f,
    .coverage_power = 1.0f,
};

/* Terms in more than this share of the chunks are skipped at query time. */
#define MAX_DF_SHARE 0.5f
/* Terms in more than this share of the chunks only add to chunks that a
 * rarer term found. */
#define ADD_DF_SHARE 0.03f
#define ADD_DF_MIN 128.0f /* … and never below this many chunks: small KBs keep every term */

/* A term's entry for one chunk: the BM25F saturation of its field-weighted
 * frequency, tf*(k1+1)/(k1+tf), computed once at build time. */
struct posting {
    uint32_t doc;
    float impact;
};

/* Collected while building: frequencies per field, before normalisation. */
struct triple {
    uint32_t term;
    uint32_t doc;
    uint16_t tf[IDX_NFIELDS];
};

/* Term dictionary shared by builder and index. */
struct dict {
    uint32_t *slots; /* term id + 1, 0 = empty */
    size_t nslots;   /* power of two */
    uint32_t *off;   /* term id -> offset of its text in chars */
    uint16_t *len;
    size_t nterms, cap;
    struct buf chars;
};

struct kb_index {
    struct dict dict;
    uint32_t *start; /* nterms + 1 */
    struct posting *post;
    size_t npost;
    int64_t *chunk_ids;
    uint8_t *cues; /* doc -> answer-type cues */
    uint16_t (*lens)[IDX_NFIELDS];
    size_t ndocs;
    float avg[IDX_NFIELDS];
    struct idx_params params; /* what the impacts were computed with */
};

/* The BM25F weight of one term frequency in field f of a document. */
static inline float field_weight(const struct idx_params *pp, unsigned f, float len, float avg)
{
    return pp->w[f] / (1.0f - pp->b[f] + pp->b[f] * len / avg);
}

struct idx_builder {
    struct dict dict;
    unsigned tok_flags;
    struct triple *tr;
    size_t ntr, captr;
    int64_t *chunk_ids;
    uint8_t *cues;
    uint16_t (*lens)[IDX_NFIELDS];
    size_t ndocs, capdocs;
    /* per-chunk scratch: term<<2 | field */
    uint64_t *scratch;
    size_t nscratch, capscratch;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int32_t dict_find(const struct dict *d, const char *p, size_t n, size_t *slot_out)
{
    if (!d->nslots)
        return -1;
    size_t mask = d->nslots - 1;
    size_t i = (size_t)hash_bytes(p, n) & mask;
    for (;;) {
        uint32_t v = d->slots[i];
        if (!v) {
            if (slot_out)
                *slot_out = i;
            return -1;
        }
        uint32_t t = v - 1;
        if (d->len[t] == n && memcmp(d->chars.p + d->off[t], p, n) == 0)
            return (int32_t)t;
        i = (i + 1) & mask;
    }
}

static void dict_rehash(struct dict *d, size_t nslots)
{
    free(d->slots);
    d->slots = xcalloc(nslots, sizeof *d->slots);
    d->nslots = nslots;
    for (size_t t = 0; t < d->nterms; t++) {
        size_t i = (size_t)hash_bytes(d->chars.p + d->off[t], d->len[t]) & (nslots - 1);
        while (d->slots[i])
            i = (i + 1) & (nslots - 1);
        d->slots[i] = (uint32_t)t + 1;
    }
}

static uint32_t dict_intern(struct dict *d, const char *p, size_t n)
{
    if ((d->nterms + 1) * 2 > d->nslots)
        dict_rehash(d, d->nslots ? d->nslots * 2 : 1024);
    size_t slot = 0;
    int32_t t = dict_find(d, p, n, &slot);
    if (t >= 0)
        return (uint32_t)t;
    if (d->nterms >= d->cap) {
        size_t cap = d->cap;
        d->off = xgrow(d->off, &cap, d->nterms + 1, sizeof *d->off);
        d->len = xrealloc(d->len, cap * sizeof *d->len);
        d->cap = cap;
    }
    d->off[d->nterms] = (uint32_t)d->chars.len;
    d->len[d->nterms] = (uint16_t)n;
    buf_add(&d->chars, p, n);
    d->slots[slot] = (uint32_t)d->nterms + 1;
    return (uint32_t)d->nterms++;
}

static void dict_release(struct dict *d)
{
    free(d->slots);
    free(d->off);
    free(d->len);
    buf_release(&d->chars);
}

struct idx_builder *idx_builder_new(unsigned tok_flags)
{
    struct idx_builder *b = xcalloc(1, sizeof *b);
    b->tok_flags = tok_flags;
    buf_init(&b->dict.chars, BUF_NOMAX);
    return b;
}

struct add_ctx {
    struct idx_builder *b;
    unsigned field;
    uint32_t ntok;
};

static int on_token(void *ctx, const char *tok, size_t n, size_t start, size_t end)
{
    struct add_ctx *a = ctx;
    if (n == 0 || n > 255)
        return 0;
    uint32_t t = dict_intern(&a->b->dict, tok, n);
    struct idx_builder *b = a->b;
    b->scratch = xgrow(b->scratch, &b->capscratch, b->nscratch + 1, sizeof *b->scratch);
    b->scratch[b->nscratch++] = ((uint64_t)t << 2) | a->field;
    a->ntok++;
    return 0;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

void idx_builder_add(struct idx_builder *b, int64_t chunk_id, unsigned cues,
                     const char *const fields[IDX_NFIELDS])
{
    uint32_t doc = (uint32_t)b->ndocs;
    if (b->ndocs >= b->capdocs) {
        size_t cap = b->capdocs;
        b->chunk_ids = xgrow(b->chunk_ids, &cap, b->ndocs + 1, sizeof *b->chunk_ids);
        b->lens = xrealloc(b->lens, cap * sizeof *b->lens);
        b->cues = xrealloc(b->cues, cap * sizeof *b->cues);
        b->capdocs = cap;
    }
    b->chunk_ids[doc] = chunk_id;
    b->cues[doc] = (uint8_t)cues;
    b->nscratch = 0;
    for (unsigned f = 0; f < IDX_NFIELDS; f++) {
        struct add_ctx a = {b, f, 0};
        const char *s = fields[f] ? fields[f] : "";
        tok_run(s, strlen(s), b->tok_flags, on_token, &a);
        b->lens[doc][f] = (uint16_t)(a.ntok > 65535 ? 65535 : a.ntok);
    }
    b->ndocs++;
    qsort(b->scratch, b->nscratch, sizeof *b->scratch, cmp_u64);
    for (size_t i = 0; i < b->nscratch;) {
        uint32_t term = (uint32_t)(b->scratch[i] >> 2);
        struct triple tr = {term, doc, {0, 0, 0}};
        while (i < b->nscratch && (uint32_t)(b->scratch[i] >> 2) == term) {
            unsigned f = (unsigned)(b->scratch[i] & 3);
            if (tr.tf[f] < 65535)
                tr.tf[f]++;
            i++;
        }
        b->tr = xgrow(b->tr, &b->captr, b->ntr + 1, sizeof *b->tr);
        b->tr[b->ntr++] = tr;
    }
}

struct kb_index *idx_builder_finish(struct idx_builder *b, const struct idx_params *params)
{
    struct kb_index *ix = xcalloc(1, sizeof *ix);
    ix->params = params ? *params : idx_default_params;
    const struct idx_params *pp = &ix->params;
    ix->dict = b->dict;
    ix->chunk_ids = b->chunk_ids;
    ix->cues = b->cues;
    ix->lens = b->lens;
    ix->ndocs = b->ndocs;
    for (unsigned f = 0; f < IDX_NFIELDS; f++) {
        double sum = 0;
        for (size_t d = 0; d < ix->ndocs; d++)
            sum += ix->lens[d][f];
        ix->avg[f] = ix->ndocs && sum > 0 ? (float)(sum / (double)ix->ndocs) : 1.0f;
    }
    size_t nterms = ix->dict.nterms;
    ix->start = xcalloc(nterms + 1, sizeof *ix->start);
    for (size_t i = 0; i < b->ntr; i++)
        ix->start[b->tr[i].term + 1]++;
    for (size_t t = 0; t < nterms; t++)
        ix->start[t + 1] += ix->start[t];
    ix->post = xmalloc((b->ntr ? b->ntr : 1) * sizeof *ix->post);
    uint32_t *fill = xmalloc((nterms ? nterms : 1) * sizeof *fill);
    if (nterms)
        memcpy(fill, ix->start, nterms * sizeof *fill);
    /* Triples were appended in doc order, so each term's postings stay sorted by doc. */
    for (size_t i = 0; i < b->ntr; i++) {
        const struct triple *tr = &b->tr[i];
        float tf = 0;
        for (unsigned f = 0; f < IDX_NFIELDS; f++)
            if (tr->tf[f])
                tf += tr->tf[f] * field_weight(pp, f, ix->lens[tr->doc][f], ix->avg[f]);
        ix->post[fill[tr->term]++] =
            (struct posting){tr->doc, tf * (pp->k1 + 1.0f) / (pp->k1 + tf)};
    }
    free(fill);
    ix->npost = b->ntr;
    free(b->tr);
    free(b->scratch);
    free(b);
    return ix;
}

void kb_index_free(struct kb_index *ix)
{
    if (!ix)
        return;
    dict_release(&ix->dict);
    free(ix->start);
    free(ix->post);
    free(ix->chunk_ids);
    free(ix->cues);
    free(ix->lens);
    free(ix);
}

size_t kb_index_docs(const struct kb_index *ix)
{
    return ix->ndocs;
}

int64_t kb_index_chunk_id(const struct kb_index *ix, uint32_t doc)
{
    return doc < ix->ndocs ? ix->chunk_ids[doc] : -1;
}

size_t kb_index_bytes(const struct kb_index *ix)
{
    return ix->dict.nslots * 4 + ix->dict.cap * 6 + ix->dict.chars.cap + (ix->dict.nterms + 1) * 4 +
           ix->npost * sizeof(struct posting) + ix->ndocs * (8 + sizeof *ix->lens);
}

const char *kb_index_term_str(const struct kb_index *ix, int32_t term, size_t *n)
{
    if (term < 0 || (size_t)term >= ix->dict.nterms) {
        *n = 0;
        return NULL;
    }
    *n = ix->dict.len[term];
    return ix->dict.chars.p + ix->dict.off[term];
}

int32_t kb_index_term(const struct kb_index *ix, const char *tok, size_t n)
{
    return dict_find(&ix->dict, tok, n, NULL);
}

float kb_index_idf(const struct kb_index *ix, int32_t term)
{
    if (term < 0 || (size_t)term >= ix->dict.nterms)
        return 0;
    double df = ix->start[term + 1] - ix->start[term];
    double n = (double)ix->ndocs;
    return (float)log(1.0 + (n - df + 0.5) / (df + 0.5));
}

/* Per-thread accumulators, grown to the largest index searched, freed when
 * the thread exits (server pool threads come and go). */
/* One chunk's running sums, kept together for cache locality. */
struct acc {
    float score, cov, key;
};

struct scratch {
    struct acc *acc;
    uint32_t *touched;
    size_t cap;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    struct scratch *sc = p;
    free(sc->acc);
    free(sc->touched);
    free(sc);
}

static void scratch_key_init(void)
{
    if (pthread_key_create(&scratch_key, scratch_free) != 0)
        abort();
}

static struct scratch *scratch_get(size_t n)
{
    pthread_once(&scratch_once, scratch_key_init);
    struct scratch *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = xcalloc(1, sizeof *sc);
        if (pthread_setspecific(scratch_key, sc) != 0)
            abort();
    }
    if (n > sc->cap) {
        free(sc->acc);
        free(sc->touched);
        sc->acc = xcalloc(n, sizeof *sc->acc);
        sc->touched = xmalloc(n * sizeof *sc->touched);
        sc->cap = n;
    }
    return sc;
}

static int hit_better(const struct idx_hit *a, const struct idx_hit *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return a->doc < b->doc;
}

/* Min-heap of the best k hits: heap[0] is the worst kept. */
static void heap_sift_down(struct idx_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && hit_better(&h[m], &h[l]))
            m = l;
        if (r < n && hit_better(&h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        struct idx_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_sift_up(struct idx_hit *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hit_better(&h[p], &h[i]))
            return;
        struct idx_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static int cmp_hit_desc(const void *x, const void *y)
{
    const struct idx_hit *a = x, *b = y;
    return hit_better(a, b) ? -1 : hit_better(b, a) ? 1 : 0;
}

size_t kb_index_search(const struct kb_index *ix, const struct idx_qterm *q, size_t nq,
                       unsigned qcues, size_t k, struct idx_hit *out)
{
    const struct idx_params *pp = &ix->params;
    if (!ix->ndocs || !k)
        return 0;
    struct scratch *sc = scratch_get(ix->ndocs);
    struct acc *acc = sc->acc;
    uint32_t *touched = sc->touched;
    size_t ntouched = 0;
    /* A question term the KB has never seen counts against coverage as much
     * as the rarest term it has: it names something the KB does not talk
     * about. (df = 0 itself would let two unseen words outweigh everything
     * in a small KB.) */
    double unseen_idf = log(1.0 + ((double)ix->ndocs - 0.5) / 1.5);
    double total_mass = 0, key_mass = 0;
    for (size_t i = 0; i < nq; i++)
        if (q[i].original) {
            double m = q[i].cover * (q[i].term >= 0 ? kb_index_idf(ix, q[i].term) : unseen_idf);
            total_mass += m;
            if (q[i].key)
                key_mass += m;
        }

    /* Rare terms first: a common term (in more than ADD_DF_SHARE of the
     * chunks) then only adds to chunks a rarer term already found, so the
     * candidate set, and the work of ranking it, stays small. */
    uint32_t order[IDX_MAX_QTERMS];
    size_t no = 0;
    for (size_t i = 0; i < nq && no < IDX_MAX_QTERMS; i++)
        if (q[i].term >= 0)
            order[no++] = (uint32_t)i;
    for (size_t i = 1; i < no; i++) { /* insertion sort by document frequency */
        uint32_t x = order[i];
        uint32_t dfx = ix->start[q[x].term + 1] - ix->start[q[x].term];
        size_t j = i;
        while (j > 0 &&
               ix->start[q[order[j - 1]].term + 1] - ix->start[q[order[j - 1]].term] > dfx) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    for (size_t o = 0; o < no; o++) {
        size_t i = order[o];
        int32_t t = q[i].term;
        float idf = kb_index_idf(ix, t);
        float df = (float)(ix->start[t + 1] - ix->start[t]);
        /* A term in most chunks (的, 银行 in a bank's KB) adds almost nothing
         * but costs a long postings walk. In a small KB (a personal one with
         * a single document) every term is kept: there the walk is short and
         * a term in every chunk may be all the question has. */
        if (df > MAX_DF_SHARE * (float)ix->ndocs && df > ADD_DF_MIN)
            continue;
        float wq = q[i].weight * idf;
        float mass = q[i].cover * idf;
        float kmass = q[i].key ? mass : 0;
        if (!(wq > 0))
            continue;
        int may_add = df <= ADD_DF_SHARE * (float)ix->ndocs || df <= ADD_DF_MIN || ntouched == 0;
        const struct posting *p = ix->post + ix->start[t], *end = ix->post + ix->start[t + 1];
        for (; p < end; p++) {
            struct acc *a = &acc[p->doc];
            if (a->score == 0) { /* impacts are > 0, so 0 means untouched */
                if (!may_add)
                    continue;
                touched[ntouched++] = p->doc;
            }
            a->score += wq * p->impact;
            a->cov += mass;
            a->key += kmass;
        }
    }
    size_t nh = 0;
    for (size_t i = 0; i < ntouched; i++) {
        uint32_t d = touched[i];
        struct acc *a = &acc[d];
        float score = a->score;
        if (qcues & ix->cues[d])
            score *= 1.0f + pp->cue_boost;
        float cov = total_mass > 0 ? (float)(a->cov / total_mass) : 0.0f;
        float kcov = key_mass > 0 ? (float)(a->key / key_mass) : 0.0f;
        if (cov > 1.0f) /* synonyms of the same words can over-cover */
            cov = 1.0f;
        if (kcov > 1.0f)
            kcov = 1.0f;
        if (pp->coverage_power == 1.0f)
            score *= cov > 0.01f ? cov : 0.01f;
        else if (pp->coverage_power > 0)
            score *= powf(cov > 0.01f ? cov : 0.01f, pp->coverage_power);
        struct idx_hit h = {d, score, kcov};
        *a = (struct acc){0, 0, 0};
        if (nh < k) {
            out[nh] = h;
            heap_sift_up(out, nh++);
        } else if (hit_better(&h, &out[0])) {
            out[0] = h;
            heap_sift_down(out, nh, 0);
        }
    }
    qsort(out, nh, sizeof *out, cmp_hit_desc);
    return nh;
}
