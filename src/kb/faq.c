/* FAQ pairs: CRUD, JSONL import/export, and the matcher (an in-memory index
 * per KB of the folded questions' tokens, scored by an IDF-weighted Dice
 * coefficient). See faq.h. */
#include "kb/faq.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/norm.h"
#include "text/tok.h"
#include "text/utf8.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Change tracking: a generation per hash bucket of KB ids. A collision only
 * costs an unneeded rebuild. */

#define GEN_SLOTS 256
static _Atomic uint64_t g_gens[GEN_SLOTS];

static uint64_t gen_of(int64_t kb_id)
{
    return atomic_load(&g_gens[(uint64_t)kb_id % GEN_SLOTS]);
}

void faq_changed(int64_t kb_id)
{
    atomic_fetch_add(&g_gens[(uint64_t)kb_id % GEN_SLOTS], 1);
}

/* ------------------------------------------------------------------ */
/* The match key: folded text without punctuation, particles and question
 * words. */

enum { PH_DROP, PH_KEEP, PH_DROP2 /* drop the first two characters only */ };
struct phrase {
    const char *s;
    int action;
};
/* Folded (simplified) forms. The longest phrase at a position wins, so a
 * KEEP entry protects a word that contains a dropped character. */
static const struct phrase k_phrases[] = {
    {"怎么办理", PH_DROP2}, {"了解", PH_KEEP},     {"为了", PH_KEEP},     {"除了", PH_KEEP},
    {"目的", PH_KEEP},      {"的确", PH_KEEP},     {"我行", PH_KEEP},     {"请问一下", PH_DROP},
    {"请问", PH_DROP},      {"请教一下", PH_DROP}, {"请教", PH_DROP},     {"麻烦问一下", PH_DROP},
    {"麻烦问下", PH_DROP},  {"麻烦", PH_DROP},     {"想问一下", PH_DROP}, {"想问下", PH_DROP},
    {"我想问", PH_DROP},    {"想问", PH_DROP},     {"我想知道", PH_DROP}, {"想知道", PH_DROP},
    {"我想了解", PH_DROP},  {"想了解", PH_DROP},   {"问一下", PH_DROP},   {"问下", PH_DROP},
    {"您好", PH_DROP},      {"你好", PH_DROP},     {"谢谢", PH_DROP},     {"多谢", PH_DROP},
    {"怎么样", PH_DROP},    {"怎么办", PH_DROP},   {"怎么", PH_DROP},     {"怎样", PH_DROP},
    {"如何", PH_DROP},      {"什么样", PH_DROP},   {"什么", PH_DROP},     {"哪些", PH_DROP},
    {"哪个", PH_DROP},      {"哪里", PH_DROP},     {"哪儿", PH_DROP},     {"哪", PH_DROP},
    {"多少", PH_DROP},      {"是否", PH_DROP},     {"能否", PH_DROP},     {"可否", PH_DROP},
    {"能不能", PH_DROP},    {"可不可以", PH_DROP}, {"是不是", PH_DROP},   {"有没有", PH_DROP},
    {"要不要", PH_DROP},    {"会不会", PH_DROP},   {"为什么", PH_DROP},   {"为何", PH_DROP},
    {"吗", PH_DROP},        {"呢", PH_DROP},       {"吧", PH_DROP},       {"啊", PH_DROP},
    {"呀", PH_DROP},        {"嘛", PH_DROP},       {"哦", PH_DROP},       {"的", PH_DROP},
    {"了", PH_DROP},        {"我们", PH_DROP},     {"我", PH_DROP},       {"一下", PH_DROP},
};

static int is_sep_cp(uint32_t cp)
{
    if (cp < 0x80)
        return !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'));
    return (cp >= 0x80 && cp <= 0xBF) || (cp >= 0x2000 && cp <= 0x206F) ||
           (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
           (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
           (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) || cp == 0xFFFD;
}

static int is_alnum_byte(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Appends the match key of text to out (reset first). RC_OK or RC_TOO_BIG. */
static int match_key(const char *text, struct buf *out)
{
    struct buf f = BUF_INIT;
    buf_init(&f, 4 * FAQ_ANSWER_MAX);
    buf_reset(out);
    int rc = norm_fold(text, strlen(text), &f);
    if (rc)
        goto out;
    const char *p = buf_str(&f);
    size_t n = f.len, i = 0;
    int sep = 0;
    while (i < n) {
        size_t best = 0;
        int action = PH_DROP;
        for (size_t k = 0; k < sizeof k_phrases / sizeof k_phrases[0]; k++) {
            size_t l = strlen(k_phrases[k].s);
            if (l > best && l <= n - i && memcmp(p + i, k_phrases[k].s, l) == 0) {
                best = l;
                action = k_phrases[k].action;
            }
        }
        if (best && action == PH_DROP2) {
            i += 6; /* two CJK characters of three bytes each */
            sep = 1;
            continue;
        }
        if (best && action == PH_DROP) {
            i += best;
            sep = 1;
            continue;
        }
        size_t len = best;
        if (!len) {
            uint32_t cp;
            len = utf8_decode(p + i, n - i, &cp);
            if (is_sep_cp(cp)) {
                i += len;
                sep = 1;
                continue;
            }
        }
        /* Keep ASCII words apart ("atm 机" stays two tokens either way;
         * "abc def" must not become "abcdef"). */
        if (sep && out->len && is_alnum_byte(out->p[out->len - 1]) && is_alnum_byte(p[i]))
            rc = buf_addc(out, ' ');
        if (!rc)
            rc = buf_add(out, p + i, len);
        if (rc)
            goto out;
        sep = 0;
        i += len;
    }
    if (!out->p)
        rc = buf_add(out, "", 0);
out:
    buf_release(&f);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Token sets. */

#define W_UNIGRAM 0.25 /* a lone CJK character says little on its own */

struct qtok {
    char *s;
    size_t n;
    double w; /* the type weight */
};
struct qtoks {
    struct qtok *a;
    size_t n, cap;
};

static int tok_collect(void *ctx, const char *tok, size_t n, size_t start, size_t end)
{
    (void)start;
    (void)end;
    struct qtoks *t = ctx;
    if (!n)
        return 0;
    uint32_t cp;
    size_t l = utf8_decode(tok, n, &cp);
    double w = (l == n && (utf8_is_cjk(cp) || cp >= 0x3040)) ? W_UNIGRAM : 1.0;
    t->a = xgrow(t->a, &t->cap, t->n + 1, sizeof *t->a);
    t->a[t->n++] = (struct qtok){xstrndup(tok, n), n, w};
    return 0;
}

static int qtok_cmp(const void *a, const void *b)
{
    const struct qtok *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, m);
    if (c)
        return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

static void qtoks_release(struct qtoks *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->a[i].s);
    free(t->a);
    memset(t, 0, sizeof *t);
}

/* The distinct tokens of a question's key, sorted. */
static int question_tokens(const char *q, struct qtoks *out)
{
    struct buf key = BUF_INIT;
    memset(out, 0, sizeof *out);
    int rc = match_key(q, &key);
    if (rc)
        goto out;
    rc = tok_run(buf_str(&key), key.len, TOK_BIGRAMS | TOK_WORDS | TOK_UNIGRAMS, tok_collect, out);
    if (rc)
        goto out;
    if (out->n > 1) {
        qsort(out->a, out->n, sizeof *out->a, qtok_cmp);
        size_t j = 0;
        for (size_t i = 0; i < out->n; i++) {
            if (j && qtok_cmp(&out->a[j - 1], &out->a[i]) == 0) {
                free(out->a[i].s);
                continue;
            }
            out->a[j++] = out->a[i];
        }
        out->n = j;
    }
out:
    buf_release(&key);
    return rc;
}

double faq_similarity(const char *a, const char *b)
{
    struct qtoks ta, tb;
    double wa = 0, wb = 0, both = 0;
    if (!a || !b || question_tokens(a, &ta))
        return 0;
    if (question_tokens(b, &tb)) {
        qtoks_release(&ta);
        return 0;
    }
    size_t i = 0, j = 0, shared = 0;
    for (size_t k = 0; k < ta.n; k++)
        wa += ta.a[k].w;
    for (size_t k = 0; k < tb.n; k++)
        wb += tb.a[k].w;
    while (i < ta.n && j < tb.n) {
        int c = qtok_cmp(&ta.a[i], &tb.a[j]);
        if (c == 0) {
            both += ta.a[i].w;
            shared++;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    double s = (wa + wb > 0) ? 2 * both / (wa + wb) : 0;
    if (shared && shared == ta.n && shared == tb.n)
        s = 1.0;
    qtoks_release(&ta);
    qtoks_release(&tb);
    return s;
}

/* ------------------------------------------------------------------ */
/* The per-KB index. Immutable once built; shared by reference count. */

struct ix_tok {
    char *s;
    size_t n;
    double w; /* type weight × idf */
    uint32_t *post;
    size_t npost, cap;
};
struct ix_text {
    int64_t faq_id;
    char *text;
    int similar;
    uint32_t ntoks;
    double wsum;
};
struct sig {
    double v[6];
};
struct kbix {
    int64_t kb_id;
    int refs; /* under the cache mutex */
    uint64_t gen;
    struct sig sig;
    struct ix_tok *toks; /* open addressing, nslots a power of two */
    size_t nslots, ntoks;
    struct ix_text *texts;
    size_t ntexts, captexts;
    double idf_unseen;
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

static struct ix_tok *ix_find(struct kbix *ix, const char *s, size_t n)
{
    if (!ix->nslots)
        return NULL;
    size_t m = ix->nslots - 1, i = hash_bytes(s, n) & m;
    while (ix->toks[i].s) {
        if (ix->toks[i].n == n && memcmp(ix->toks[i].s, s, n) == 0)
            return &ix->toks[i];
        i = (i + 1) & m;
    }
    return NULL;
}

static void ix_grow(struct kbix *ix)
{
    size_t nn = ix->nslots ? ix->nslots * 2 : 1024;
    struct ix_tok *a = xcalloc(nn, sizeof *a);
    for (size_t i = 0; i < ix->nslots; i++) {
        if (!ix->toks[i].s)
            continue;
        size_t j = hash_bytes(ix->toks[i].s, ix->toks[i].n) & (nn - 1);
        while (a[j].s)
            j = (j + 1) & (nn - 1);
        a[j] = ix->toks[i];
    }
    free(ix->toks);
    ix->toks = a;
    ix->nslots = nn;
}

static struct ix_tok *ix_intern(struct kbix *ix, const struct qtok *t)
{
    struct ix_tok *k = ix_find(ix, t->s, t->n);
    if (k)
        return k;
    if ((ix->ntoks + 1) * 2 > ix->nslots)
        ix_grow(ix);
    size_t m = ix->nslots - 1, i = hash_bytes(t->s, t->n) & m;
    while (ix->toks[i].s)
        i = (i + 1) & m;
    ix->toks[i] = (struct ix_tok){xstrndup(t->s, t->n), t->n, t->w, NULL, 0, 0};
    ix->ntoks++;
    return &ix->toks[i];
}

static void kbix_free(struct kbix *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->nslots; i++) {
        free(ix->toks[i].s);
        free(ix->toks[i].post);
    }
    free(ix->toks);
    for (size_t i = 0; i < ix->ntexts; i++)
        free(ix->texts[i].text);
    free(ix->texts);
    free(ix);
}

static int ix_add_text(struct kbix *ix, int64_t faq_id, const char *text, int similar)
{
    struct qtoks t;
    int rc = question_tokens(text, &t);
    if (rc)
        return rc;
    uint32_t idx = (uint32_t)ix->ntexts;
    ix->texts = xgrow(ix->texts, &ix->captexts, ix->ntexts + 1, sizeof *ix->texts);
    ix->texts[ix->ntexts++] = (struct ix_text){faq_id, xstrdup(text), similar, (uint32_t)t.n, 0};
    for (size_t i = 0; i < t.n; i++) {
        struct ix_tok *k = ix_intern(ix, &t.a[i]);
        k->post = xgrow(k->post, &k->cap, k->npost + 1, sizeof *k->post);
        k->post[k->npost++] = idx;
    }
    qtoks_release(&t);
    return RC_OK;
}

/* IDF weights (1 + ln((N+1)/df)), then each text's total weight. */
static void ix_finish(struct kbix *ix)
{
    double N = (double)ix->ntexts;
    ix->idf_unseen = 1 + log(N + 1);
    for (size_t i = 0; i < ix->nslots; i++) {
        struct ix_tok *k = &ix->toks[i];
        if (!k->s)
            continue;
        k->w *= 1 + log((N + 1) / (double)k->npost);
        for (size_t j = 0; j < k->npost; j++)
            ix->texts[k->post[j]].wsum += k->w;
    }
}

static int load_sig(struct db_conn *c, int64_t kb_id, struct sig *out)
{
    int rc = RC_DB;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT count(*), total(id), coalesce(max(updated_at), 0),"
                                         " total(length(question)) FROM faqs WHERE kb_id = ?");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, kb_id);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    for (int i = 0; i < 4; i++)
        out->v[i] = sqlite3_column_double(st, i);
    sqlite3_reset(st);
    st = db_stmt(c->cache, "SELECT count(*), total(q.id) FROM faq_questions q"
                           " JOIN faqs f ON f.id = q.faq_id WHERE f.kb_id = ?");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, kb_id);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    out->v[4] = sqlite3_column_double(st, 0);
    out->v[5] = sqlite3_column_double(st, 1);
    rc = RC_OK;
out:
    if (st)
        sqlite3_reset(st);
    return rc;
}

/* Builds the index of kb_id from the store: the signature first, then the
 * rows, so that a write in between only causes another rebuild. */
static int kbix_build(struct db_conn *c, int64_t kb_id, struct kbix **out)
{
    struct kbix *ix = xcalloc(1, sizeof *ix);
    ix->kb_id = kb_id;
    ix->gen = gen_of(kb_id);
    int rc = load_sig(c, kb_id, &ix->sig);
    if (rc)
        goto out;
    rc = RC_DB;
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT id, question FROM faqs WHERE kb_id = ? ORDER BY id");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, kb_id);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *q = (const char *)sqlite3_column_text(st, 1);
        if (ix_add_text(ix, sqlite3_column_int64(st, 0), q ? q : "", 0) != RC_OK)
            continue; /* an oversized row cannot match; skip it */
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    st = db_stmt(c->cache, "SELECT q.faq_id, q.question FROM faq_questions q"
                           " JOIN faqs f ON f.id = q.faq_id WHERE f.kb_id = ? ORDER BY q.id");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, kb_id);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *q = (const char *)sqlite3_column_text(st, 1);
        if (ix_add_text(ix, sqlite3_column_int64(st, 0), q ? q : "", 1) != RC_OK)
            continue;
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    ix_finish(ix);
    rc = RC_OK;
out:
    if (rc) {
        kbix_free(ix);
        ix = NULL;
    }
    *out = ix;
    return rc;
}

/* ------------------------------------------------------------------ */
/* The cache of indexes. */

#define CACHE_MAX 512   /* KB indexes kept; the least recently used goes */
#define CHECK_MS 1000.0 /* how often the store signature is compared */

struct cache_ent {
    int64_t kb_id;
    struct kbix *ix;
    double checked_ms, used_ms;
};
struct faq_index {
    pthread_mutex_t mu;
    struct cache_ent *a;
    size_t n, cap;
};

struct faq_index *faq_index_new(void)
{
    struct faq_index *x = xcalloc(1, sizeof *x);
    pthread_mutex_init(&x->mu, NULL);
    return x;
}

void faq_index_free(struct faq_index *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n; i++)
        if (--x->a[i].ix->refs == 0)
            kbix_free(x->a[i].ix);
    free(x->a);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

static void ix_unref(struct faq_index *x, struct kbix *ix)
{
    if (!ix)
        return;
    pthread_mutex_lock(&x->mu);
    int last = --ix->refs == 0;
    pthread_mutex_unlock(&x->mu);
    if (last)
        kbix_free(ix);
}

/* Installs ix as kb's index (the cache takes one reference). */
static void cache_put(struct faq_index *x, struct kbix *ix, double now)
{
    struct kbix *old = NULL;
    pthread_mutex_lock(&x->mu);
    ix->refs++;
    size_t i;
    for (i = 0; i < x->n; i++)
        if (x->a[i].kb_id == ix->kb_id)
            break;
    if (i == x->n && x->n >= CACHE_MAX) {
        size_t lru = 0;
        for (size_t j = 1; j < x->n; j++)
            if (x->a[j].used_ms < x->a[lru].used_ms)
                lru = j;
        i = lru;
        old = x->a[i].ix;
    } else if (i == x->n) {
        x->a = xgrow(x->a, &x->cap, x->n + 1, sizeof *x->a);
        x->n++;
    } else {
        old = x->a[i].ix;
    }
    x->a[i] = (struct cache_ent){ix->kb_id, ix, now, now};
    int last = old && --old->refs == 0;
    pthread_mutex_unlock(&x->mu);
    if (last)
        kbix_free(old);
}

/* A reference to a current index of kb_id (the caller unrefs it). */
static int cache_get(struct faq_index *x, struct db_conn *c, int64_t kb_id, struct kbix **out)
{
    struct kbix *ix = NULL;
    double now = now_ms(), checked = 0;
    int rc = RC_OK;
    *out = NULL;
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->n; i++)
        if (x->a[i].kb_id == kb_id) {
            ix = x->a[i].ix;
            ix->refs++;
            checked = x->a[i].checked_ms;
            x->a[i].used_ms = now;
            break;
        }
    pthread_mutex_unlock(&x->mu);
    if (ix && ix->gen == gen_of(kb_id)) {
        if (now - checked < CHECK_MS)
            goto out;
        struct sig s;
        rc = load_sig(c, kb_id, &s);
        if (rc)
            goto out;
        if (memcmp(&s, &ix->sig, sizeof s) == 0) {
            pthread_mutex_lock(&x->mu);
            for (size_t i = 0; i < x->n; i++)
                if (x->a[i].ix == ix)
                    x->a[i].checked_ms = now;
            pthread_mutex_unlock(&x->mu);
            goto out;
        }
    }
    ix_unref(x, ix);
    ix = NULL;
    rc = kbix_build(c, kb_id, &ix);
    if (rc)
        goto out;
    ix->refs = 1; /* ours */
    cache_put(x, ix, now);
out:
    if (rc) {
        ix_unref(x, ix);
        ix = NULL;
    }
    *out = ix;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Matching. */

struct best {
    double score;
    int64_t faq_id, kb_id;
    int similar;
    const char *text;
    struct kbix *ix; /* referenced */
};

static void score_kb(struct kbix *ix, const struct qtoks *q, struct best *b, struct faq_index *x)
{
    if (!ix->ntexts || !q->n)
        return;
    double *acc = xcalloc(ix->ntexts, sizeof *acc);
    uint32_t *nacc = xcalloc(ix->ntexts, sizeof *nacc);
    uint32_t *touched = xmalloc(ix->ntexts * sizeof *touched);
    size_t ntouched = 0;
    double qw = 0;
    for (size_t i = 0; i < q->n; i++) {
        struct ix_tok *k = ix_find(ix, q->a[i].s, q->a[i].n);
        if (!k) {
            qw += q->a[i].w * ix->idf_unseen;
            continue;
        }
        qw += k->w;
        for (size_t j = 0; j < k->npost; j++) {
            uint32_t t = k->post[j];
            if (!nacc[t])
                touched[ntouched++] = t;
            acc[t] += k->w;
            nacc[t]++;
        }
    }
    for (size_t i = 0; i < ntouched; i++) {
        const struct ix_text *t = &ix->texts[touched[i]];
        double s = 2 * acc[touched[i]] / (qw + t->wsum);
        if (nacc[touched[i]] == q->n && t->ntoks == q->n)
            s = 1.0; /* the same tokens: exact after folding */
        if (s > 1)
            s = 1;
        /* Ties: the standard question, then the older FAQ. */
        if (s > b->score ||
            (s == b->score && b->ix &&
             (t->similar < b->similar || (t->similar == b->similar && t->faq_id < b->faq_id)))) {
            if (b->ix != ix) {
                pthread_mutex_lock(&x->mu);
                ix->refs++;
                pthread_mutex_unlock(&x->mu);
                ix_unref(x, b->ix);
                b->ix = ix;
            }
            b->score = s;
            b->faq_id = t->faq_id;
            b->kb_id = ix->kb_id;
            b->similar = t->similar;
            b->text = t->text;
        }
    }
    free(acc);
    free(nacc);
    free(touched);
}

void faq_match_release(struct faq_match *m)
{
    if (!m)
        return;
    free(m->question);
    free(m->answer);
    free(m->source);
    free(m->matched);
    memset(m, 0, sizeof *m);
}

int faq_match(struct faq_index *x, struct db_conn *c, const int64_t *kb_ids, size_t nkb,
              const char *question, double threshold, struct faq_match *out)
{
    struct qtoks q = {0};
    struct best b = {0};
    int rc;
    memset(out, 0, sizeof *out);
    if (!question || !*question || strlen(question) > FAQ_QUESTION_MAX * 8 ||
        !utf8_valid(question, strlen(question))) {
        rc = RC_INVALID;
        goto out;
    }
    rc = question_tokens(question, &q);
    if (rc)
        goto out;
    for (size_t i = 0; i < nkb; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= kb_ids[j] == kb_ids[i];
        if (dup)
            continue;
        struct kbix *ix;
        rc = cache_get(x, c, kb_ids[i], &ix);
        if (rc)
            goto out;
        score_kb(ix, &q, &b, x);
        ix_unref(x, ix);
    }
    out->score = b.score;
    if (!b.ix || b.score <= 0 || b.score < threshold) {
        rc = RC_NOT_FOUND;
        goto out;
    }
    rc = RC_DB;
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT question, answer, source FROM faqs WHERE id = ? AND kb_id = ?");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, b.faq_id);
    sqlite3_bind_int64(st, 2, b.kb_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        out->faq_id = b.faq_id;
        out->kb_id = b.kb_id;
        out->question = db_col_str(st, 0);
        out->answer = db_col_str(st, 1);
        out->source = db_col_str(st, 2);
        out->matched = xstrdup(b.text);
        rc = RC_OK;
    } else if (s == SQLITE_DONE) {
        faq_changed(b.kb_id); /* deleted since the index was built */
        rc = RC_NOT_FOUND;
    }
    sqlite3_reset(st);
out:
    ix_unref(x, b.ix);
    qtoks_release(&q);
    return rc;
}

json_t *faq_match_citation_json(const struct faq_match *m)
{
    struct buf cite = BUF_INIT;
    buf_addf(&cite, "常见问题：%s", m->question ? m->question : "");
    json_t *o = json_pack("{si sI sI ss ss ss ss ss ss ss ss sf}", "n", 1, "kb_id",
                          (json_int_t)m->kb_id, "faq_id", (json_int_t)m->faq_id, "cite",
                          buf_str(&cite), "document", "", "title", "", "label", "", "heading", "",
                          "text", m->answer ? m->answer : "", "source", m->source ? m->source : "",
                          "matched", m->matched ? m->matched : "", "score", m->score);
    buf_release(&cite);
    return o;
}

int faq_eval(struct faq_index *x, struct db_conn *c, const int64_t *kb_ids, size_t nkb,
             const struct faq_eval_case *cases, size_t n, double threshold,
             struct faq_eval_result *out)
{
    int rc = RC_OK;
    memset(out, 0, sizeof *out);
    out->min_hit = 1;
    for (size_t i = 0; i < n; i++) {
        struct faq_match m;
        rc = faq_match(x, c, kb_ids, nkb, cases[i].question, 0, &m);
        if (rc && rc != RC_NOT_FOUND) {
            faq_match_release(&m);
            goto out;
        }
        rc = RC_OK;
        int64_t got = m.faq_id;
        double s = m.score;
        faq_match_release(&m);
        out->n++;
        int right = got && got == cases[i].want_faq_id;
        if (right && s < out->min_hit)
            out->min_hit = s;
        if (got && !right && cases[i].want_faq_id && s > out->max_wrong)
            out->max_wrong = s;
        if (!cases[i].want_faq_id && s > out->max_reject)
            out->max_reject = s;
        if (!got || s < threshold) {
            if (cases[i].want_faq_id)
                out->missed++;
            else
                out->rejected++;
        } else if (right) {
            out->hit++;
        } else {
            out->wrong++;
        }
    }
out:
    return rc;
}

/* ------------------------------------------------------------------ */
/* CRUD. */

void faq_release(struct faq *f)
{
    if (!f)
        return;
    free(f->question);
    free(f->answer);
    free(f->source);
    for (size_t i = 0; i < f->nsimilar; i++)
        free(f->similar[i]);
    free(f->similar);
    memset(f, 0, sizeof *f);
}

json_t *faq_json(const struct faq *f)
{
    json_t *sim = json_array();
    for (size_t i = 0; i < f->nsimilar; i++)
        json_array_append_new(sim, json_string(f->similar[i]));
    return json_pack("{sI sI ss ss ss so sI sI sI}", "id", (json_int_t)f->id, "kb_id",
                     (json_int_t)f->kb_id, "question", f->question ? f->question : "", "answer",
                     f->answer ? f->answer : "", "source", f->source ? f->source : "", "similar",
                     sim, "created_by", (json_int_t)f->created_by, "created_at",
                     (json_int_t)f->created_at, "updated_at", (json_int_t)f->updated_at);
}

static int is_space_at(const char *p, size_t n, size_t *len)
{
    if (n >= 1 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\n' || p[0] == '\r' || p[0] == '\f' ||
                   p[0] == '\v')) {
        *len = 1;
        return 1;
    }
    if (n >= 3 && memcmp(p, "\xE3\x80\x80", 3) == 0) { /* U+3000 ideographic space */
        *len = 3;
        return 1;
    }
    return 0;
}

/* A trimmed copy of s, validated: required (non-empty), within max bytes,
 * valid UTF-8. RC_INVALID with a message naming the field. */
static int clean_field(const char *s, size_t max, int required, const char *zh, const char *en,
                       char **out, struct buf *err)
{
    *out = NULL;
    if (!s)
        s = "";
    size_t n = strlen(s), l;
    if (!utf8_valid(s, n)) {
        buf_addf(err, "%s不是有效的 UTF-8 / %s is not valid UTF-8", zh, en);
        return RC_INVALID;
    }
    while (n && is_space_at(s, n, &l)) {
        s += l;
        n -= l;
    }
    while (n) {
        if (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')
            n--;
        else if (n >= 3 && memcmp(s + n - 3, "\xE3\x80\x80", 3) == 0)
            n -= 3;
        else
            break;
    }
    if (required && !n) {
        buf_addf(err, "%s不能为空 / %s is required", zh, en);
        return RC_INVALID;
    }
    if (n > max) {
        buf_addf(err, "%s过长（最多 %zu 字节）/ %s is too long (at most %zu bytes)", zh, max, en,
                 max);
        return RC_INVALID;
    }
    *out = xstrndup(s, n);
    return RC_OK;
}

/* A validated FAQ: the similar questions deduplicated by match key. */
struct clean {
    char *question, *answer, *source;
    char **similar;
    size_t nsimilar;
};

static void clean_release(struct clean *k)
{
    free(k->question);
    free(k->answer);
    free(k->source);
    for (size_t i = 0; i < k->nsimilar; i++)
        free(k->similar[i]);
    free(k->similar);
    memset(k, 0, sizeof *k);
}

/* Validates in. With required, question and answer must be there (source
 * defaults to ""); otherwise NULL fields stay NULL (unchanged). Similar
 * questions (with_similar) are deduplicated against the standard question
 * (the new one, else cur_question) and each other by match key. */
static int clean_input(const struct faq_input *in, int required, const char *cur_question,
                       int with_similar, struct clean *k, struct buf *err)
{
    struct buf key = BUF_INIT;
    int rc = RC_OK;
    memset(k, 0, sizeof *k);
    if (in->question || required)
        rc = clean_field(in->question, FAQ_QUESTION_MAX, 1, "问题", "question", &k->question, err);
    if (!rc && (in->answer || required))
        rc = clean_field(in->answer, FAQ_ANSWER_MAX, 1, "答案", "answer", &k->answer, err);
    if (!rc && (in->source || required))
        rc = clean_field(in->source, FAQ_SOURCE_MAX, 0, "来源", "source", &k->source, err);
    if (rc || !with_similar)
        goto out;
    if (in->nsimilar > FAQ_SIMILAR_MAX) {
        buf_addf(err, "相似问法过多（最多 %d 条）/ too many similar questions (at most %d)",
                 FAQ_SIMILAR_MAX, FAQ_SIMILAR_MAX);
        rc = RC_INVALID;
        goto out;
    }
    const char *std = k->question ? k->question : cur_question;
    k->similar = xcalloc(in->nsimilar + 1, sizeof *k->similar);
    struct buf *keys = xcalloc(in->nsimilar + 1, sizeof *keys);
    for (size_t j = 0; j <= in->nsimilar; j++)
        buf_init(&keys[j], BUF_NOMAX);
    size_t nkeys = 0;
    rc = match_key(std ? std : "", &keys[nkeys]);
    nkeys++;
    for (size_t i = 0; !rc && i < in->nsimilar; i++) {
        char *s = NULL;
        rc = clean_field(in->similar[i], FAQ_QUESTION_MAX, 0, "相似问法", "similar question", &s,
                         err);
        if (rc || !*s) {
            free(s);
            continue;
        }
        rc = match_key(s, &key);
        int dup = 0;
        for (size_t j = 0; !rc && j < nkeys; j++)
            dup |= key.len == keys[j].len && memcmp(buf_str(&key), buf_str(&keys[j]), key.len) == 0;
        if (rc || dup) {
            free(s);
            continue;
        }
        keys[nkeys++] = key;
        buf_init(&key, BUF_NOMAX);
        k->similar[k->nsimilar++] = s;
    }
    for (size_t j = 0; j < nkeys; j++)
        buf_release(&keys[j]);
    free(keys);
out:
    buf_release(&key);
    if (rc)
        clean_release(k);
    return rc;
}

static int insert_similar(struct db_conn *c, int64_t faq_id, const struct clean *k)
{
    for (size_t i = 0; i < k->nsimilar; i++) {
        sqlite3_stmt *st =
            db_stmt(c->cache, "INSERT INTO faq_questions(faq_id, question) VALUES (?, ?)");
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, faq_id);
        sqlite3_bind_text(st, 2, k->similar[i], -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        sqlite3_reset(st);
        if (s != SQLITE_DONE)
            return RC_DB;
    }
    return RC_OK;
}

static int kb_exists(struct db_conn *c, int64_t kb_id)
{
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT 1 FROM kbs WHERE id = ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_ROW ? RC_OK : s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

/* Inserts a validated FAQ (inside the caller's transaction). */
static int insert_faq(struct db_conn *c, int64_t kb_id, const struct clean *k, int64_t created_by,
                      int64_t *id)
{
    int64_t now = now_unix();
    sqlite3_stmt *st = db_stmt(c->cache, "INSERT INTO faqs(kb_id, question, answer, source,"
                                         " created_by, created_at, updated_at)"
                                         " VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_text(st, 2, k->question, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->answer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->source ? k->source : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, created_by);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, now);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    int64_t fid = sqlite3_last_insert_rowid(c->db);
    if (id)
        *id = fid;
    return insert_similar(c, fid, k);
}

int faq_add(struct db_conn *c, int64_t kb_id, const struct faq_input *in, int64_t created_by,
            int64_t *id, struct buf *err)
{
    struct clean k;
    struct db_tx tx;
    int rc = clean_input(in, 1, NULL, 1, &k, err);
    if (rc)
        return rc;
    rc = db_tx_begin(c->db, &tx);
    if (rc)
        goto out;
    rc = kb_exists(c, kb_id);
    if (rc == RC_NOT_FOUND)
        buf_addf(err, "知识库不存在 / no such knowledge base");
    if (!rc)
        rc = insert_faq(c, kb_id, &k, created_by, id);
    int rc2 = db_tx_end(c->db, &tx, rc == RC_OK);
    if (!rc)
        rc = rc2;
    if (!rc)
        faq_changed(kb_id);
out:
    clean_release(&k);
    return rc;
}

/* The current standard question of FAQ id in kb_id (malloc'd). */
static int current_question(struct db_conn *c, int64_t kb_id, int64_t id, char **q)
{
    *q = NULL;
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT question FROM faqs WHERE id = ? AND kb_id = ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, kb_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *q = db_col_str(st, 0);
    sqlite3_reset(st);
    return s == SQLITE_ROW ? RC_OK : s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

/* Updates a FAQ inside the caller's transaction. */
static int update_faq(struct db_conn *c, int64_t kb_id, int64_t id, const struct clean *k,
                      int set_similar)
{
    sqlite3_stmt *st = db_stmt(c->cache, "UPDATE faqs SET question = coalesce(?, question),"
                                         " answer = coalesce(?, answer),"
                                         " source = coalesce(?, source), updated_at = ?"
                                         " WHERE id = ? AND kb_id = ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_text(st, 1, k->question, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->answer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_unix());
    sqlite3_bind_int64(st, 5, id);
    sqlite3_bind_int64(st, 6, kb_id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    if (sqlite3_changes(c->db) == 0)
        return RC_NOT_FOUND;
    if (!set_similar)
        return RC_OK;
    st = db_stmt(c->cache, "DELETE FROM faq_questions WHERE faq_id = ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    return insert_similar(c, id, k);
}

int faq_update(struct db_conn *c, int64_t kb_id, int64_t id, const struct faq_input *in,
               int set_similar, struct buf *err)
{
    struct clean k = {0};
    struct db_tx tx;
    char *cur = NULL;
    int rc = db_tx_begin(c->db, &tx);
    if (rc)
        return rc;
    rc = current_question(c, kb_id, id, &cur);
    if (!rc)
        rc = clean_input(in, 0, cur, set_similar, &k, err);
    if (!rc)
        rc = update_faq(c, kb_id, id, &k, set_similar);
    int rc2 = db_tx_end(c->db, &tx, rc == RC_OK);
    if (!rc)
        rc = rc2;
    if (!rc)
        faq_changed(kb_id);
    free(cur);
    clean_release(&k);
    return rc;
}

int faq_delete(struct db_conn *c, int64_t kb_id, int64_t id)
{
    sqlite3_stmt *st = db_stmt(c->cache, "DELETE FROM faqs WHERE id = ? AND kb_id = ?");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, kb_id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return RC_DB;
    if (sqlite3_changes(c->db) == 0)
        return RC_NOT_FOUND;
    faq_changed(kb_id);
    return RC_OK;
}

/* Loads FAQs of kb_id (one when id > 0) with their similar questions. */
static int load_faqs(struct db_conn *c, int64_t kb_id, int64_t id, struct faq **out, size_t *n)
{
    struct faq *a = NULL;
    size_t na = 0, cap = 0;
    int rc = RC_DB, s;
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT id, question, answer, source, created_by,"
                                         " created_at, updated_at FROM faqs"
                                         " WHERE kb_id = ?1 AND (?2 = 0 OR id = ?2) ORDER BY id");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_int64(st, 2, id);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        a = xgrow(a, &cap, na + 1, sizeof *a);
        struct faq *f = &a[na++];
        memset(f, 0, sizeof *f);
        f->id = sqlite3_column_int64(st, 0);
        f->kb_id = kb_id;
        f->question = db_col_str(st, 1);
        f->answer = db_col_str(st, 2);
        f->source = db_col_str(st, 3);
        f->created_by = sqlite3_column_int64(st, 4);
        f->created_at = sqlite3_column_int64(st, 5);
        f->updated_at = sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    st = db_stmt(c->cache, "SELECT q.faq_id, q.question FROM faq_questions q"
                           " JOIN faqs f ON f.id = q.faq_id"
                           " WHERE f.kb_id = ?1 AND (?2 = 0 OR f.id = ?2)"
                           " ORDER BY q.faq_id, q.id");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_int64(st, 2, id);
    size_t j = 0, capsim = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t fid = sqlite3_column_int64(st, 0);
        while (j < na && a[j].id < fid) {
            j++;
            capsim = 0;
        }
        if (j == na || a[j].id != fid)
            continue;
        a[j].similar = xgrow(a[j].similar, &capsim, a[j].nsimilar + 1, sizeof *a[j].similar);
        a[j].similar[a[j].nsimilar++] = db_col_str(st, 1);
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        goto out;
    rc = RC_OK;
out:
    if (rc) {
        for (size_t i = 0; i < na; i++)
            faq_release(&a[i]);
        free(a);
        a = NULL;
        na = 0;
    }
    *out = a;
    *n = na;
    return rc;
}

static void faqs_free(struct faq *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        faq_release(&a[i]);
    free(a);
}

int faq_get(struct db_conn *c, int64_t kb_id, int64_t id, struct faq *out)
{
    struct faq *a;
    size_t n;
    memset(out, 0, sizeof *out);
    if (id <= 0)
        return RC_NOT_FOUND;
    int rc = load_faqs(c, kb_id, id, &a, &n);
    if (rc)
        return rc;
    if (!n) {
        free(a);
        return RC_NOT_FOUND;
    }
    *out = a[0];
    free(a);
    return RC_OK;
}

int faq_list(struct db_conn *c, int64_t kb_id, json_t **out)
{
    struct faq *a;
    size_t n;
    *out = NULL;
    int rc = load_faqs(c, kb_id, 0, &a, &n);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, faq_json(&a[i]));
    *out = json_pack("{so sI}", "faqs", arr, "total", (json_int_t)n);
    faqs_free(a, n);
    return RC_OK;
}

int faq_export_jsonl(struct db_conn *c, int64_t kb_id, struct buf *out)
{
    struct faq *a;
    size_t n;
    int rc = load_faqs(c, kb_id, 0, &a, &n);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *sim = json_array();
        for (size_t j = 0; j < a[i].nsimilar; j++)
            json_array_append_new(sim, json_string(a[i].similar[j]));
        json_t *o = json_pack("{ss ss so ss}", "question", a[i].question, "answer", a[i].answer,
                              "similar", sim, "source", a[i].source);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (!line) {
            rc = RC_INTERNAL;
            break;
        }
        rc = buf_adds(out, line);
        if (!rc)
            rc = buf_addc(out, '\n');
        free(line);
    }
    faqs_free(a, n);
    return rc;
}

/* Parses one JSONL line into in (pointers into the json_t o, which the
 * caller keeps). RC_INVALID with a message. */
static int parse_line(json_t *o, struct faq_input *in, const char ***sim, struct buf *err)
{
    memset(in, 0, sizeof *in);
    *sim = NULL;
    if (!json_is_object(o)) {
        buf_adds(err, "不是 JSON 对象 / not a JSON object");
        return RC_INVALID;
    }
    json_t *q = json_object_get(o, "question"), *a = json_object_get(o, "answer");
    json_t *s = json_object_get(o, "source"), *sm = json_object_get(o, "similar");
    if (!json_is_string(q) || !json_is_string(a)) {
        buf_adds(err, "需要字符串字段 question 和 answer / \"question\" and \"answer\" must be "
                      "strings");
        return RC_INVALID;
    }
    if ((s && !json_is_string(s) && !json_is_null(s)) ||
        (sm && !json_is_array(sm) && !json_is_null(sm))) {
        buf_adds(err, "source 须为字符串，similar 须为字符串数组 / \"source\" must be a string and "
                      "\"similar\" an array of strings");
        return RC_INVALID;
    }
    in->question = json_string_value(q);
    in->answer = json_string_value(a);
    in->source = json_is_string(s) ? json_string_value(s) : "";
    size_t n = json_is_array(sm) ? json_array_size(sm) : 0;
    if (n > FAQ_SIMILAR_MAX) {
        buf_addf(err, "相似问法过多（最多 %d 条）/ too many similar questions (at most %d)",
                 FAQ_SIMILAR_MAX, FAQ_SIMILAR_MAX);
        return RC_INVALID;
    }
    const char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(sm, i);
        if (!json_is_string(e)) {
            free(v);
            buf_adds(err, "similar 须为字符串数组 / \"similar\" must be an array of strings");
            return RC_INVALID;
        }
        v[i] = json_string_value(e);
    }
    in->similar = v;
    in->nsimilar = n;
    *sim = v;
    return RC_OK;
}

int faq_import_jsonl(struct db_conn *c, int64_t kb_id, const char *data, size_t n,
                     int64_t created_by, size_t *added, size_t *updated, struct buf *err)
{
    struct clean *items = NULL;
    size_t nitems = 0, cap = 0, nadd = 0, nupd = 0, line = 0;
    struct db_tx tx;
    int rc = RC_OK, in_tx = 0;
    if (added)
        *added = 0;
    if (updated)
        *updated = 0;
    /* Validate everything first. */
    for (size_t i = 0; i < n && !rc;) {
        const char *e = memchr(data + i, '\n', n - i);
        size_t len = e ? (size_t)(e - (data + i)) : n - i;
        const char *p = data + i;
        i += len + (e ? 1 : 0);
        line++;
        size_t b = 0;
        while (b < len && (p[b] == ' ' || p[b] == '\t' || p[b] == '\r'))
            b++;
        if (b == len)
            continue;
        if (line > FAQ_IMPORT_MAX) {
            buf_addf(err, "行数过多（最多 %d 行）/ too many lines (at most %d)", FAQ_IMPORT_MAX,
                     FAQ_IMPORT_MAX);
            rc = RC_TOO_BIG;
            break;
        }
        struct buf msg = BUF_INIT;
        json_error_t je;
        json_t *o = json_loadb(p, len, 0, &je);
        struct faq_input in;
        const char **sim = NULL;
        if (!o) {
            buf_addf(&msg, "JSON 无效 / invalid JSON: %s", je.text);
            rc = RC_INVALID;
        } else {
            rc = parse_line(o, &in, &sim, &msg);
        }
        if (!rc) {
            items = xgrow(items, &cap, nitems + 1, sizeof *items);
            rc = clean_input(&in, 1, NULL, 1, &items[nitems], &msg);
            if (!rc)
                nitems++;
        }
        if (rc)
            buf_addf(err, "第%zu行 / line %zu: %s", line, line, buf_str(&msg));
        free(sim);
        json_decref(o);
        buf_release(&msg);
    }
    if (rc)
        goto out;
    rc = db_tx_begin(c->db, &tx);
    if (rc)
        goto out;
    in_tx = 1;
    rc = kb_exists(c, kb_id);
    if (rc == RC_NOT_FOUND)
        buf_addf(err, "知识库不存在 / no such knowledge base");
    for (size_t i = 0; !rc && i < nitems; i++) {
        sqlite3_stmt *st = db_stmt(c->cache, "SELECT id FROM faqs WHERE kb_id = ? AND question = ?"
                                             " ORDER BY id LIMIT 1");
        if (!st) {
            rc = RC_DB;
            break;
        }
        sqlite3_bind_int64(st, 1, kb_id);
        sqlite3_bind_text(st, 2, items[i].question, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        int64_t id = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (s != SQLITE_ROW && s != SQLITE_DONE) {
            rc = RC_DB;
        } else if (id) {
            rc = update_faq(c, kb_id, id, &items[i], 1);
            nupd++;
        } else {
            rc = insert_faq(c, kb_id, &items[i], created_by, NULL);
            nadd++;
        }
    }
out:
    if (in_tx) {
        int rc2 = db_tx_end(c->db, &tx, rc == RC_OK);
        if (!rc)
            rc = rc2;
        if (!rc)
            faq_changed(kb_id);
    }
    if (!rc) {
        if (added)
            *added = nadd;
        if (updated)
            *updated = nupd;
    }
    for (size_t i = 0; i < nitems; i++)
        clean_release(&items[i]);
    free(items);
    return rc;
}
