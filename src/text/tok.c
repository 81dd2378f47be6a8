/* The Chinese search tokenizer: folds the input one code point at a time
 * (norm.h) while remembering each folded code point's original byte range,
 * then cuts words, numbers, CJK bigrams and (optionally) ICU dictionary words.
 * Nothing is allocated per call (ICU may allocate inside); ICU runs only for
 * TOK_WORDS, on CJK runs of three or more characters. */
#include "text/tok.h"

#include "common/log.h"
#include "common/rc.h"
#include "text/norm.h"
#include "text/utf8.h"

#include <pthread.h>
#include <string.h>
#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/utf16.h>

#define RUN_CAP 256  /* CJK code points handled per chunk (bounds ICU work) */
#define WORD_CAP 64  /* bytes per word token */
#define MAX_SPANS 96 /* dictionary words per chunk (>= 3 chars each: <= RUN_CAP/3+1) */

enum { CLS_SEP = 0, CLS_WORD = 1, CLS_CJK = 2 };

/* A folded code point and the original bytes it came from. */
struct el {
    uint32_t cp;
    size_t start, end;
};

struct span {
    uint16_t s, e; /* code point indexes into the chunk, [s, e) */
};

struct tk {
    unsigned flags;
    tok_cb_ex cb;
    void *ctx;
    int rc; /* non-zero once the callback asked to stop */

    struct el run[RUN_CAP];
    size_t nrun;
    int cont; /* run[0] was carried over from a full chunk */

    char word[WORD_CAP + 8];
    size_t wlen, wstart, wend;
    int wdigit;    /* last char of word is an ASCII digit */
    uint32_t pend; /* '.' or ',' seen after a digit, waiting for a digit */
};

static uint8_t g_cls[0x10000];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_brk_key;
static int g_key_ok;

static _Thread_local UBreakIterator *t_brk;
static _Thread_local int t_brk_failed;

static int is_cjk_class(uint32_t c)
{
    return utf8_is_cjk(c) || c == 0x3005 || c == 0x3007 || /* 々 〇 */
           (c >= 0x3041 && c <= 0x309F) ||                 /* hiragana */
           (c >= 0x30A0 && c <= 0x30FF && c != 0x30FB) ||  /* katakana, not ・ */
           (c >= 0xAC00 && c <= 0xD7AF);                   /* hangul syllables */
}

static uint8_t classify(uint32_t c)
{
    if (c < 0x80) {
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return CLS_WORD;
        return CLS_SEP;
    }
    if (is_cjk_class(c))
        return CLS_CJK;
    if (u_isalnum((UChar32)c))
        return CLS_WORD;
    switch (u_charType((UChar32)c)) {
    case U_NON_SPACING_MARK:
    case U_COMBINING_SPACING_MARK:
    case U_ENCLOSING_MARK:
        return CLS_WORD;
    default:
        return CLS_SEP;
    }
}

static inline uint8_t cls_of(uint32_t c)
{
    return c < 0x10000 ? g_cls[c] : classify(c);
}

/* Thread-exit destructor (runs on the exiting thread). */
static void brk_free(void *p)
{
    if (p)
        ubrk_close((UBreakIterator *)p);
    if (t_brk == p)
        t_brk = NULL; /* a later tok_run on this thread reopens it */
}

static void init_once(void)
{
    (void)norm_init();
    for (uint32_t c = 0; c < 0x10000; c++)
        g_cls[c] = (c >= 0xD800 && c <= 0xDFFF) ? CLS_SEP : classify(c);
    g_key_ok = pthread_key_create(&g_brk_key, brk_free) == 0;
}

/* This thread's word break iterator, opened on first use; NULL if ICU fails
 * (dictionary words are then skipped). Closed at thread exit. */
static UBreakIterator *brk_get(void)
{
    UErrorCode err = U_ZERO_ERROR;

    if (t_brk || t_brk_failed)
        return t_brk;
    t_brk = ubrk_open(UBRK_WORD, "zh", NULL, 0, &err);
    if (U_FAILURE(err) || !t_brk) {
        log_warn("tok: ubrk_open failed (%s); dictionary words disabled", u_errorName(err));
        t_brk = NULL;
        t_brk_failed = 1;
        goto out;
    }
    if (g_key_ok && pthread_setspecific(g_brk_key, t_brk) != 0)
        log_debug("tok: cannot register break iterator for thread exit");
out:
    return t_brk;
}

static void emit(struct tk *t, const char *s, size_t n, size_t a, size_t b, unsigned tf)
{
    if (t->rc == 0)
        t->rc = t->cb(t->ctx, s, n, a, b, tf);
}

/* Emits the folded code points e[0..k) (k <= RUN_CAP) as one token. */
static void emit_cps(struct tk *t, const struct el *e, size_t k, unsigned tf)
{
    char s[RUN_CAP * 4];
    size_t n = 0;

    for (size_t i = 0; i < k; i++)
        n += utf8_encode(e[i].cp, s + n);
    emit(t, s, n, e[0].start, e[k - 1].end, tf);
}

/* ICU dictionary words of >= 3 code points in run[0..n); returns the count,
 * sorted by start. */
static size_t icu_words(struct tk *t, size_t n, struct span *sp)
{
    UChar u[RUN_CAP * 2];
    uint16_t map[RUN_CAP * 2 + 1];
    int32_t len = 0, prev, next;
    UErrorCode err = U_ZERO_ERROR;
    UBreakIterator *brk = brk_get();
    size_t ns = 0;

    if (!brk)
        goto out;
    for (size_t i = 0; i < n; i++) {
        map[len] = (uint16_t)i;
        if (t->run[i].cp >= 0x10000)
            map[len + 1] = (uint16_t)i;
        U16_APPEND_UNSAFE(u, len, t->run[i].cp);
    }
    map[len] = (uint16_t)n;
    ubrk_setText(brk, u, len, &err);
    if (U_FAILURE(err))
        goto out;
    prev = ubrk_first(brk);
    while ((next = ubrk_next(brk)) != UBRK_DONE && ns < MAX_SPANS) {
        if (prev >= 0 && next <= len && prev < next && map[next] - map[prev] >= 3) {
            sp[ns].s = map[prev];
            sp[ns].e = map[next];
            ns++;
        }
        prev = next;
    }
out:
    return ns;
}

/* Emits the dictionary words that start at character i (colocated unless
 * they are the primary tokens, i.e. words-only mode). */
static void emit_words(struct tk *t, const struct span *sp, size_t ns, size_t *w, size_t i,
                       unsigned tf)
{
    for (; *w < ns && sp[*w].s <= i; (*w)++)
        if (sp[*w].s == i)
            emit_cps(t, t->run + i, (size_t)(sp[*w].e - sp[*w].s), tf);
}

/* Emits the tokens of run[0..nrun). A chunk that is not final (the run goes
 * on) keeps its last character as run[0] of the next chunk, so bigrams and
 * positions continue seamlessly. */
static void run_flush(struct tk *t, int final)
{
    struct span sp[MAX_SPANS];
    size_t n = t->nrun, ns = 0, w = 0;
    int big = (t->flags & TOK_BIGRAMS) != 0, uni = (t->flags & TOK_UNIGRAMS) != 0;
    int edges = uni || (t->flags & TOK_EDGES);

    if (n == 0 || t->rc)
        goto out;
    if ((t->flags & TOK_WORDS) && n >= 3)
        ns = icu_words(t, n, sp);
    if (big && n == 1) {
        if (!t->cont)
            emit_cps(t, t->run, 1, 0);
        else if (edges) /* the last character of a run that filled a chunk */
            emit_cps(t, t->run, 1, TOK_COLOCATED);
    } else if (big) {
        for (size_t i = 0; i + 1 < n; i++) {
            emit_cps(t, t->run + i, 2, 0);
            if (uni || (edges && i == 0 && !t->cont))
                emit_cps(t, t->run + i, 1, TOK_COLOCATED);
            if (edges && final && i + 2 == n)
                emit_cps(t, t->run + i + 1, 1, TOK_COLOCATED);
            emit_words(t, sp, ns, &w, i, TOK_COLOCATED);
        }
    } else if (uni) {
        size_t count = final ? n : n - 1;
        for (size_t i = 0; i < count; i++) {
            emit_cps(t, t->run + i, 1, 0);
            emit_words(t, sp, ns, &w, i, TOK_COLOCATED);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            emit_words(t, sp, ns, &w, i, 0);
    }
out:
    if (!final && n > 0) {
        t->run[0] = t->run[n - 1];
        t->nrun = 1;
        t->cont = 1;
    } else {
        t->nrun = 0;
        t->cont = 0;
    }
}

static void word_flush(struct tk *t)
{
    if (t->wlen > 0 && t->rc == 0)
        emit(t, t->word, t->wlen, t->wstart, t->wend, 0);
    t->wlen = 0;
    t->wdigit = 0;
    t->pend = 0;
}

static void word_add(struct tk *t, const struct el *e)
{
    char u[4];
    size_t k = utf8_encode(e->cp, u);

    if (t->pend) {
        /* A '.' or ',' after a digit: keep the number whole if a digit follows. */
        if (e->cp >= '0' && e->cp <= '9' && t->wlen + 1 + k <= WORD_CAP) {
            if (t->pend == '.')
                t->word[t->wlen++] = '.';
            t->pend = 0;
        } else {
            word_flush(t);
        }
    }
    if (t->wlen + k > WORD_CAP)
        word_flush(t);
    if (t->wlen == 0)
        t->wstart = e->start;
    memcpy(t->word + t->wlen, u, k);
    t->wlen += k;
    t->wend = e->end;
    t->wdigit = e->cp >= '0' && e->cp <= '9';
}

static void feed(struct tk *t, const struct el *e)
{
    switch (cls_of(e->cp)) {
    case CLS_CJK:
        word_flush(t);
        if (t->nrun == RUN_CAP)
            run_flush(t, 0);
        t->run[t->nrun++] = *e;
        break;
    case CLS_WORD:
        if (t->nrun)
            run_flush(t, 1);
        word_add(t, e);
        break;
    default:
        if (t->nrun)
            run_flush(t, 1);
        /* "3.5" and "50,000" (ASCII comma only: '，' is a clause break). */
        if (t->wdigit && !t->pend && (e->cp == '.' || (e->cp == ',' && e->end - e->start == 1))) {
            t->pend = e->cp;
            t->wdigit = 0;
        } else {
            word_flush(t);
        }
        break;
    }
}

struct adapter {
    tok_cb cb;
    void *ctx;
};

static int adapt(void *ctx, const char *tok, size_t n, size_t start, size_t end, unsigned tflags)
{
    struct adapter *a = ctx;
    (void)tflags;
    return a->cb(a->ctx, tok, n, start, end);
}

int tok_run(const char *text, size_t n, unsigned flags, tok_cb cb, void *ctx)
{
    struct adapter a = {cb, ctx};
    return tok_run_ex(text, n, flags, adapt, &a);
}

int tok_run_ex(const char *text, size_t n, unsigned flags, tok_cb_ex cb, void *ctx)
{
    struct tk t;
    size_t i = 0;

    (void)pthread_once(&g_once, init_once);
    t.flags = flags & (TOK_BIGRAMS | TOK_WORDS | TOK_UNIGRAMS | TOK_EDGES);
    if ((t.flags & ~(unsigned)TOK_EDGES) == 0)
        t.flags |= TOK_DEFAULT;
    t.cb = cb;
    t.ctx = ctx;
    t.rc = 0;
    t.nrun = 0;
    t.cont = 0;
    t.wlen = t.wstart = t.wend = 0;
    t.wdigit = 0;
    t.pend = 0;

    while (i < n && t.rc == 0) {
        struct el e;
        uint32_t cp, out[8];
        size_t len, k;
        unsigned char b = (unsigned char)text[i];

        if (b < 0x80) {
            cp = b;
            len = 1;
        } else {
            len = utf8_decode(text + i, n - i, &cp);
        }
        k = norm_fold_cp(cp, out);
        e.start = i;
        e.end = i + len;
        for (size_t j = 0; j < k; j++) {
            e.cp = out[j];
            feed(&t, &e);
        }
        i += len;
    }
    if (t.nrun)
        run_flush(&t, 1);
    word_flush(&t);
    return t.rc;
}
