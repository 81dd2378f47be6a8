/* The sensitive-word list, its Aho–Corasick matcher over folded code points
 * (whole texts and streamed deltas), and per-user token-bucket rate limits.
 *
 * Matcher: the words are folded with norm_fold_cp (NFKC, t2s, lower case)
 * and put in a trie whose edges live in one open-addressing hash keyed by
 * (node, code point); failure links are computed breadth-first, and each node
 * carries the first block word and the longest mask word among its suffixes,
 * so one step per folded code point (plus amortised failure hops) finds every
 * match. Input is folded one source code point at a time, and each source
 * code point remembers which folded positions it produced, so a match maps
 * back to the original characters that get the '*'. */
#include "assist/safety.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/norm.h"
#include "text/utf8.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

const char *safety_action_name(int action)
{
    return action == SAFETY_BLOCK ? "block" : action == SAFETY_MASK ? "mask" : NULL;
}

int safety_action_parse(const char *name)
{
    if (name && strcmp(name, "block") == 0)
        return SAFETY_BLOCK;
    if (name && strcmp(name, "mask") == 0)
        return SAFETY_MASK;
    return 0;
}

/* ---- the matcher ---- */

#define NONE UINT32_MAX

struct node {
    uint32_t fail;
    uint32_t depth;
    uint32_t mask_len; /* longest mask word ending here (suffix chain), 0: none */
    uint32_t block;    /* block word index + 1 along the suffix chain, 0: none */
    uint32_t first_child, next_sibling;
    uint32_t cp; /* label of the edge into this node */
};

struct edge {
    /* node << 32 | cp; 0 marks an empty slot: it would be (root, U+0000),
     * and U+0000 is never a folded code point (controls fold to nothing). */
    uint64_t key;
    uint32_t child;
};

struct safety_matcher {
    atomic_int refs;
    struct node *nodes;
    size_t nnodes, capnodes;
    struct edge *edges;
    size_t nedges, capedges; /* capedges: a power of two */
    char **words;            /* the configured words, for the result */
    size_t nwords;
};

static uint64_t edge_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static uint32_t go(const struct safety_matcher *m, uint32_t node, uint32_t cp)
{
    uint64_t key = ((uint64_t)node << 32) | cp;
    size_t mask = m->capedges - 1;
    if (m->capedges == 0)
        return NONE;
    for (size_t i = (size_t)edge_hash(key) & mask;; i = (i + 1) & mask) {
        if (m->edges[i].key == key)
            return m->edges[i].child;
        if (m->edges[i].key == 0)
            return NONE;
    }
}

static void edge_put(struct safety_matcher *m, uint32_t node, uint32_t cp, uint32_t child)
{
    if (2 * (m->nedges + 1) > m->capedges) {
        struct edge *old = m->edges;
        size_t oldcap = m->capedges;
        m->capedges = oldcap ? oldcap * 2 : 64;
        m->edges = xcalloc(m->capedges, sizeof *m->edges);
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i].key)
                continue;
            size_t j = (size_t)edge_hash(old[i].key) & (m->capedges - 1);
            while (m->edges[j].key)
                j = (j + 1) & (m->capedges - 1);
            m->edges[j] = old[i];
        }
        free(old);
    }
    uint64_t key = ((uint64_t)node << 32) | cp;
    size_t j = (size_t)edge_hash(key) & (m->capedges - 1);
    while (m->edges[j].key)
        j = (j + 1) & (m->capedges - 1);
    m->edges[j].key = key;
    m->edges[j].child = child;
    m->nedges++;
}

static uint32_t node_new(struct safety_matcher *m, uint32_t cp, uint32_t depth)
{
    if (m->nnodes == m->capnodes) {
        m->capnodes = m->capnodes ? m->capnodes * 2 : 64;
        m->nodes = xrealloc(m->nodes, m->capnodes * sizeof *m->nodes);
    }
    struct node *n = &m->nodes[m->nnodes];
    memset(n, 0, sizeof *n);
    n->fail = 0;
    n->depth = depth;
    n->first_child = n->next_sibling = NONE;
    n->cp = cp;
    return (uint32_t)m->nnodes++;
}

/* Folds a word into at most cap code points; returns how many (0: nothing
 * left, or too long). */
static size_t fold_word(const char *w, uint32_t *out, size_t cap)
{
    size_t n = strlen(w), k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp, f[8];
        i += utf8_decode(w + i, n - i, &cp);
        size_t nf = norm_fold_cp(cp, f);
        for (size_t j = 0; j < nf; j++) {
            if (k == cap)
                return 0;
            out[k++] = f[j];
        }
    }
    return k;
}

#define FOLD_CAP (SAFETY_WORD_MAX_CHARS * 8)

struct safety_matcher *safety_matcher_build(const struct safety_word *w, size_t n)
{
    struct safety_matcher *m = xcalloc(1, sizeof *m);
    uint32_t *f = xmalloc(FOLD_CAP * sizeof *f);
    uint32_t *queue = NULL;

    atomic_init(&m->refs, 1);
    (void)norm_init();
    node_new(m, 0, 0);
    m->words = xcalloc(n ? n : 1, sizeof *m->words);
    for (size_t i = 0; i < n; i++) {
        if (!w[i].word || (w[i].action != SAFETY_BLOCK && w[i].action != SAFETY_MASK))
            continue;
        size_t k = fold_word(w[i].word, f, FOLD_CAP);
        if (k == 0)
            continue;
        uint32_t cur = 0;
        for (size_t j = 0; j < k; j++) {
            uint32_t nx = go(m, cur, f[j]);
            if (nx == NONE) {
                nx = node_new(m, f[j], (uint32_t)j + 1);
                edge_put(m, cur, f[j], nx);
                m->nodes[nx].next_sibling = m->nodes[cur].first_child;
                m->nodes[cur].first_child = nx;
            }
            cur = nx;
        }
        uint32_t idx = (uint32_t)m->nwords;
        m->words[m->nwords++] = xstrdup(w[i].word);
        if (w[i].action == SAFETY_BLOCK) {
            if (!m->nodes[cur].block)
                m->nodes[cur].block = idx + 1;
        } else if (m->nodes[cur].mask_len < k) {
            m->nodes[cur].mask_len = (uint32_t)k;
        }
    }
    /* Breadth-first: failure links and the suffix-chain outputs. */
    queue = xmalloc(m->nnodes * sizeof *queue);
    size_t qh = 0, qt = 0;
    for (uint32_t c = m->nodes[0].first_child; c != NONE; c = m->nodes[c].next_sibling) {
        m->nodes[c].fail = 0;
        queue[qt++] = c;
    }
    while (qh < qt) {
        uint32_t u = queue[qh++];
        for (uint32_t c = m->nodes[u].first_child; c != NONE; c = m->nodes[c].next_sibling) {
            uint32_t cp = m->nodes[c].cp, v = m->nodes[u].fail, t = NONE;
            for (;;) {
                t = go(m, v, cp);
                if (t != NONE || v == 0)
                    break;
                v = m->nodes[v].fail;
            }
            struct node *cn = &m->nodes[c];
            cn->fail = t == NONE ? 0 : t;
            const struct node *fn = &m->nodes[cn->fail];
            if (!cn->block)
                cn->block = fn->block;
            if (cn->mask_len < fn->mask_len)
                cn->mask_len = fn->mask_len;
            queue[qt++] = c;
        }
    }
    free(queue);
    free(f);
    return m;
}

struct safety_matcher *safety_matcher_ref(struct safety_matcher *m)
{
    if (m)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

void safety_matcher_unref(struct safety_matcher *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    for (size_t i = 0; i < m->nwords; i++)
        free(m->words[i]);
    free(m->words);
    free(m->nodes);
    free(m->edges);
    free(m);
}

size_t safety_matcher_size(const struct safety_matcher *m)
{
    return m ? m->nwords : 0;
}

static uint32_t step(const struct safety_matcher *m, uint32_t node, uint32_t cp)
{
    for (;;) {
        uint32_t t = go(m, node, cp);
        if (t != NONE)
            return t;
        if (node == 0)
            return 0;
        node = m->nodes[node].fail;
    }
}

/* ---- the streaming filter (safety_check runs it on one whole text) ---- */

struct pcp {
    uint32_t blen;
    uint64_t fstart, fend; /* folded positions [fstart, fend) it produced */
    int masked;
};

struct safety_stream {
    const struct safety_matcher *m;
    int owns_ref;
    uint32_t node;
    uint64_t fpos;
    struct buf pend; /* bytes of the pending code points, from pend_off */
    size_t pend_off;
    struct pcp *q;
    size_t qh, qn, qcap; /* pending code points q[qh .. qh+qn) */
    char part[4];        /* an incomplete UTF-8 sequence at the end of a delta */
    size_t npart;
    int blocked;
    size_t nmasked;
    uint32_t word; /* blocking word index + 1 */
};

static void stream_init(struct safety_stream *st, const struct safety_matcher *m)
{
    memset(st, 0, sizeof *st);
    st->m = m;
    buf_init(&st->pend, BUF_NOMAX);
}

static void stream_release(struct safety_stream *st)
{
    buf_release(&st->pend);
    free(st->q);
    st->q = NULL;
}

static void fill_result(const struct safety_stream *st, struct safety_result *res)
{
    if (!res)
        return;
    memset(res, 0, sizeof *res);
    res->verdict = st->blocked ? SAFETY_BLOCKED : st->nmasked ? SAFETY_MASKED : SAFETY_PASS;
    res->nmasked = st->nmasked;
    if (st->blocked && st->word) {
        const char *w = st->m->words[st->word - 1];
        size_t len = strlen(w);
        if (len >= sizeof res->word)
            len = sizeof res->word - 1;
        memcpy(res->word, w, len);
        res->word[len] = '\0';
    }
}

/* Emits pending code points whose folded positions all lie before `upto`. */
static int emit(struct safety_stream *st, uint64_t upto, struct buf *out)
{
    int rc = RC_OK;
    while (st->qn && st->q[st->qh].fend <= upto) {
        const struct pcp *c = &st->q[st->qh];
        rc = c->masked ? buf_addc(out, '*') : buf_add(out, st->pend.p + st->pend_off, c->blen);
        if (rc != RC_OK)
            goto out;
        st->pend_off += c->blen;
        st->qh++;
        st->qn--;
    }
    if (st->qn == 0) {
        st->qh = 0;
        st->pend_off = 0;
        buf_reset(&st->pend);
    } else if (st->pend_off > 4096 && st->pend_off > st->pend.len / 2) {
        memmove(st->pend.p, st->pend.p + st->pend_off, st->pend.len - st->pend_off);
        st->pend.len -= st->pend_off;
        st->pend_off = 0;
    }
out:
    return rc;
}

/* Processes one source code point of blen bytes at b. */
static int process_cp(struct safety_stream *st, const char *b, size_t blen, uint32_t cp,
                      struct buf *out)
{
    uint32_t f[8];
    size_t nf = norm_fold_cp(cp, f);
    int rc;

    if (st->qh + st->qn == st->qcap) {
        if (st->qh > 0) {
            memmove(st->q, st->q + st->qh, st->qn * sizeof *st->q);
            st->qh = 0;
        } else {
            st->qcap = st->qcap ? st->qcap * 2 : 32;
            st->q = xrealloc(st->q, st->qcap * sizeof *st->q);
        }
    }
    struct pcp *c = &st->q[st->qh + st->qn++];
    c->blen = (uint32_t)blen;
    c->fstart = st->fpos;
    c->fend = st->fpos + nf;
    c->masked = 0;
    if ((rc = buf_add(&st->pend, b, blen)) != RC_OK)
        return rc;
    for (size_t j = 0; j < nf; j++) {
        const struct node *nd;
        st->node = step(st->m, st->node, f[j]);
        st->fpos++;
        nd = &st->m->nodes[st->node];
        if (nd->block) {
            st->blocked = 1;
            st->word = nd->block;
            return RC_OK;
        }
        if (nd->mask_len) {
            uint64_t lo = st->fpos - nd->mask_len;
            st->nmasked++;
            for (size_t i = st->qn; i > 0; i--) {
                struct pcp *x = &st->q[st->qh + i - 1];
                if (x->fend <= lo)
                    break;
                x->masked = 1;
            }
        }
    }
    /* A future match starts at or after fpos - depth: all before is decided. */
    return emit(st, st->fpos - st->m->nodes[st->node].depth, out);
}

/* Bytes a sequence starting with lead byte c needs (1 for a byte that never
 * starts one: it decodes as U+FFFD on its own). */
static size_t seq_need(unsigned char c)
{
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 1;
}

static int feed_bytes(struct safety_stream *st, const char *p, size_t n, int eof, struct buf *out)
{
    size_t i = 0;
    int rc = RC_OK;

    while (i < n && !st->blocked) {
        size_t need = seq_need((unsigned char)p[i]);
        if (!eof && n - i < need) {
            size_t j = i + 1;
            while (j < n && ((unsigned char)p[j] & 0xC0) == 0x80)
                j++;
            if (j == n) { /* a sequence cut by the delta: wait for the rest */
                memcpy(st->part, p + i, n - i);
                st->npart = n - i;
                break;
            }
        }
        uint32_t cp;
        size_t len = utf8_decode(p + i, n - i, &cp);
        if ((rc = process_cp(st, p + i, len, cp, out)) != RC_OK)
            goto out;
        i += len;
    }
out:
    return rc;
}

static int stream_feed(struct safety_stream *st, const char *p, size_t n, int eof, struct buf *out)
{
    struct buf tmp = BUF_INIT;
    int rc = RC_OK;

    if (st->blocked)
        goto out;
    if (st->npart) {
        if ((rc = buf_add(&tmp, st->part, st->npart)) != RC_OK || (rc = buf_add(&tmp, p, n)))
            goto out;
        st->npart = 0;
        p = tmp.p;
        n = tmp.len;
    }
    if (n && (rc = feed_bytes(st, p, n, eof, out)) != RC_OK)
        goto out;
    if (eof && !st->blocked)
        rc = emit(st, UINT64_MAX, out);
out:
    buf_release(&tmp);
    return rc;
}

struct safety_stream *safety_stream_new(struct safety_matcher *m)
{
    struct safety_stream *st = xmalloc(sizeof *st);
    stream_init(st, safety_matcher_ref(m));
    st->owns_ref = 1;
    return st;
}

void safety_stream_free(struct safety_stream *st)
{
    if (!st)
        return;
    stream_release(st);
    if (st->owns_ref)
        safety_matcher_unref((struct safety_matcher *)st->m);
    free(st);
}

int safety_stream_feed(struct safety_stream *st, const char *p, size_t n, struct buf *out,
                       struct safety_result *res)
{
    int rc = stream_feed(st, p, n, 0, out);
    fill_result(st, res);
    return rc;
}

int safety_stream_finish(struct safety_stream *st, struct buf *out, struct safety_result *res)
{
    int rc = stream_feed(st, "", 0, 1, out);
    fill_result(st, res);
    return rc;
}

int safety_check(const struct safety_matcher *m, const char *p, size_t n, struct buf *out,
                 struct safety_result *res)
{
    struct safety_stream st;
    int rc;

    stream_init(&st, m);
    rc = stream_feed(&st, p ? p : "", p ? n : 0, 1, out);
    fill_result(&st, res);
    stream_release(&st);
    return rc;
}

/* ---- the service: matcher cache and rate limiter ---- */

struct bucket {
    int64_t uid;
    double tokens;
    uint64_t last_ms;
    int used;
};

struct safety {
    pthread_mutex_t mu; /* the matcher cache */
    struct safety_matcher *cur;
    uint64_t gen, cur_gen;
    double checked_ms;
    int64_t fp[4];

    pthread_mutex_t rmu; /* the rate limiter */
    double per_ms, burst;
    struct bucket *b;
    size_t nb, capb, maxusers;
};

#define RATE_DEFAULT_USERS 65536
#define RECHECK_MS 2000.0

static size_t cap_for(size_t maxusers)
{
    size_t c = 16;
    while (c < 2 * maxusers)
        c *= 2;
    return c;
}

struct safety *safety_new(int rate_per_min, int rate_burst)
{
    struct safety *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    s->gen = 1;
    s->per_ms = rate_per_min > 0 ? rate_per_min / 60000.0 : 0;
    s->burst = rate_burst < 1 ? 1 : rate_burst;
    s->maxusers = RATE_DEFAULT_USERS;
    s->capb = cap_for(s->maxusers);
    s->b = xcalloc(s->capb, sizeof *s->b);
    return s;
}

void safety_free(struct safety *s)
{
    if (!s)
        return;
    safety_matcher_unref(s->cur);
    free(s->b);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->rmu);
    free(s);
}

static void bump(struct safety *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->gen++;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the word list ---- */

static int step_write(sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(sqlite3_db_handle(st));
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return RC_OK;
    if (ext == SQLITE_CONSTRAINT_UNIQUE)
        return RC_EXISTS;
    return RC_DB;
}

/* Trims ASCII white space and U+3000 from both ends into a malloc'd copy. */
static char *trim_word(const char *w)
{
    size_t n = strlen(w), a = 0;
    for (;;) {
        if (a < n && (w[a] == ' ' || w[a] == '\t' || w[a] == '\r' || w[a] == '\n'))
            a++;
        else if (n - a >= 3 && memcmp(w + a, "\xe3\x80\x80", 3) == 0)
            a += 3;
        else
            break;
    }
    for (;;) {
        if (n > a && (w[n - 1] == ' ' || w[n - 1] == '\t' || w[n - 1] == '\r' || w[n - 1] == '\n'))
            n--;
        else if (n - a >= 3 && memcmp(w + n - 3, "\xe3\x80\x80", 3) == 0)
            n -= 3;
        else
            break;
    }
    return xstrndup(w + a, n - a);
}

static int word_ok(const char *w)
{
    size_t n = strlen(w), chars = 0;
    uint32_t f[FOLD_CAP];

    if (n == 0 || !utf8_valid(w, n))
        return 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_decode(w + i, n - i, &cp);
        if (cp < 0x20 || cp == 0x7F)
            return 0;
        chars++;
    }
    return chars <= SAFETY_WORD_MAX_CHARS && fold_word(w, f, FOLD_CAP) > 0;
}

int safety_word_add(struct db_conn *d, struct safety *s, const char *word, int action)
{
    char *w = NULL;
    int rc = RC_INVALID;
    sqlite3_stmt *st;

    if (!word || !safety_action_name(action))
        goto out;
    w = trim_word(word);
    if (!word_ok(w))
        goto out;
    rc = RC_DB;
    st = db_stmt(d->cache, "INSERT INTO sensitive_words(word, action, created_at)"
                           " VALUES (?1, ?2, ?3)");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, w, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, safety_action_name(action), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_unix());
    rc = step_write(st);
    sqlite3_clear_bindings(st);
    if (rc == RC_OK)
        bump(s);
out:
    free(w);
    return rc;
}

int safety_word_remove(struct db_conn *d, struct safety *s, const char *word)
{
    char *w = NULL;
    int rc = RC_NOT_FOUND;
    sqlite3_stmt *st;

    if (!word)
        goto out;
    w = trim_word(word);
    rc = RC_DB;
    st = db_stmt(d->cache, "DELETE FROM sensitive_words WHERE word = ?1");
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, w, -1, SQLITE_STATIC);
    rc = step_write(st);
    sqlite3_clear_bindings(st);
    if (rc == RC_OK) {
        if (sqlite3_changes(d->db) == 0)
            rc = RC_NOT_FOUND;
        else
            bump(s);
    }
out:
    free(w);
    return rc;
}

void safety_words_free(struct safety_word *w, size_t n)
{
    if (!w)
        return;
    for (size_t i = 0; i < n; i++)
        free(w[i].word);
    free(w);
}

int safety_word_list(struct db_conn *d, struct safety_word **out, size_t *n)
{
    struct safety_word *w = NULL;
    size_t nw = 0, cap = 0;
    int rc = RC_DB, r;
    sqlite3_stmt *st;

    *out = NULL;
    *n = 0;
    st =
        db_stmt(d->cache, "SELECT id, word, action, created_at FROM sensitive_words ORDER BY word");
    if (!st)
        goto out;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        w = xgrow(w, &cap, nw + 1, sizeof *w);
        w[nw].id = sqlite3_column_int64(st, 0);
        w[nw].word = db_col_str(st, 1);
        w[nw].action = safety_action_parse((const char *)sqlite3_column_text(st, 2));
        w[nw].created_at = sqlite3_column_int64(st, 3);
        nw++;
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE)
        goto out;
    *out = w;
    *n = nw;
    w = NULL;
    rc = RC_OK;
out:
    safety_words_free(w, nw);
    return rc;
}

/* A cheap summary of the table that changes when a word is added, removed
 * or changed by anyone (another process included). */
static int fingerprint(struct db_conn *d, int64_t fp[4])
{
    sqlite3_stmt *st = db_stmt(d->cache, "SELECT count(*), coalesce(sum(id), 0),"
                                         " coalesce(max(created_at), 0),"
                                         " coalesce(sum(length(word) * (CASE action WHEN"
                                         " 'block' THEN 3 ELSE 7 END) * id), 0)"
                                         " FROM sensitive_words");
    int rc = RC_DB;
    if (!st)
        return RC_DB;
    if (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < 4; i++)
            fp[i] = sqlite3_column_int64(st, i);
        rc = RC_OK;
    }
    sqlite3_reset(st);
    return rc;
}

int safety_matcher_get(struct safety *s, struct db_conn *d, struct safety_matcher **out)
{
    struct safety_word *w = NULL;
    size_t nw = 0;
    int64_t fp[4];
    double now = now_ms();
    int rc = RC_OK;

    *out = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->cur && s->cur_gen == s->gen && now - s->checked_ms < RECHECK_MS)
        goto done;
    if (s->cur && s->cur_gen == s->gen && fingerprint(d, fp) == RC_OK &&
        memcmp(fp, s->fp, sizeof fp) == 0) {
        s->checked_ms = now;
        goto done;
    }
    uint64_t gen = s->gen;
    if (fingerprint(d, fp) != RC_OK || safety_word_list(d, &w, &nw) != RC_OK) {
        if (!s->cur) {
            rc = RC_DB;
            goto unlock;
        }
        log_warn("safety: cannot reload the sensitive words; keeping the last list");
        s->checked_ms = now;
        goto done;
    }
    safety_matcher_unref(s->cur);
    s->cur = safety_matcher_build(w, nw);
    s->cur_gen = gen;
    s->checked_ms = now;
    memcpy(s->fp, fp, sizeof fp);
done:
    *out = safety_matcher_ref(s->cur);
unlock:
    pthread_mutex_unlock(&s->mu);
    safety_words_free(w, nw);
    return rc;
}

int safety_screen_question(struct safety *s, struct db_conn *d, char **question, int *blocked,
                           struct safety_stream **filter, struct buf *err)
{
    size_t qlen = strlen(*question);
    if (!qlen || qlen > SAFETY_QUESTION_MAX || !utf8_valid(*question, qlen)) {
        (void)buf_adds(err, "问题为空、过长或不是有效的 UTF-8 / the question is empty, too long "
                            "or not UTF-8");
        return RC_INVALID;
    }
    struct safety_matcher *m = NULL;
    if (!s || safety_matcher_get(s, d, &m) != RC_OK || !m)
        return RC_OK;
    struct buf masked = BUF_INIT;
    struct safety_result sr;
    memset(&sr, 0, sizeof sr);
    if (safety_check(m, *question, qlen, &masked, &sr) == RC_OK) {
        if (sr.verdict == SAFETY_BLOCKED) {
            *blocked = 1;
        } else if (sr.verdict == SAFETY_MASKED) {
            free(*question);
            *question = buf_detach(&masked, NULL);
        }
    }
    buf_release(&masked);
    if (safety_matcher_size(m) > 0)     /* nothing to hold back for an empty list */
        *filter = safety_stream_new(m); /* its own reference */
    safety_matcher_unref(m);
    return RC_OK;
}

/* ---- rate limits ---- */

static size_t bslot(const struct bucket *b, size_t cap, int64_t uid)
{
    size_t i = (size_t)edge_hash((uint64_t)uid) & (cap - 1);
    while (b[i].used && b[i].uid != uid)
        i = (i + 1) & (cap - 1);
    return i;
}

static void refill(const struct safety *s, struct bucket *b, uint64_t now)
{
    if (now > b->last_ms) {
        b->tokens += (double)(now - b->last_ms) * s->per_ms;
        if (b->tokens > s->burst)
            b->tokens = s->burst;
        b->last_ms = now;
    }
}

/* Makes room: drops users whose bucket is full again (forgetting them
 * changes nothing: a new user starts full); when none is idle, also drops
 * the one seen longest ago. Rebuilds the table (no tombstones). */
static void sweep(struct safety *s, uint64_t now)
{
    struct bucket *old = s->b;
    size_t oldcap = s->capb, oldest = SIZE_MAX;
    size_t kept = 0;

    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].used)
            continue;
        refill(s, &old[i], now);
        if (old[i].tokens >= s->burst)
            old[i].used = 0;
        else if (oldest == SIZE_MAX || old[i].last_ms < old[oldest].last_ms)
            oldest = i;
    }
    for (size_t i = 0; i < oldcap; i++)
        kept += old[i].used;
    if (kept >= s->maxusers && oldest != SIZE_MAX) {
        old[oldest].used = 0;
        kept--;
    }
    s->capb = cap_for(kept > s->maxusers ? kept : s->maxusers);
    s->b = xcalloc(s->capb, sizeof *s->b);
    s->nb = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].used)
            continue;
        s->b[bslot(s->b, s->capb, old[i].uid)] = old[i];
        s->nb++;
    }
    free(old);
}

int safety_rate_take_at(struct safety *s, int64_t user_id, uint64_t now, int *retry_after_s)
{
    int rc = RC_OK;

    *retry_after_s = 0;
    if (s->per_ms <= 0)
        return RC_OK;
    pthread_mutex_lock(&s->rmu);
    size_t i = bslot(s->b, s->capb, user_id);
    if (!s->b[i].used) {
        if (s->nb >= s->maxusers) {
            sweep(s, now);
            i = bslot(s->b, s->capb, user_id);
        }
        s->b[i].used = 1;
        s->b[i].uid = user_id;
        s->b[i].tokens = s->burst;
        s->b[i].last_ms = now;
        s->nb++;
    }
    struct bucket *b = &s->b[i];
    refill(s, b, now);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        double wait_ms = (1.0 - b->tokens) / s->per_ms;
        long secs = (long)((wait_ms + 999.0) / 1000.0);
        *retry_after_s = secs < 1 ? 1 : secs > 86400 ? 86400 : (int)secs;
        rc = RC_BUSY;
    }
    pthread_mutex_unlock(&s->rmu);
    return rc;
}

int safety_rate_take(struct safety *s, int64_t user_id, int *retry_after_s)
{
    return safety_rate_take_at(s, user_id, (uint64_t)now_ms(), retry_after_s);
}

size_t safety_rate_users(struct safety *s)
{
    size_t n;
    pthread_mutex_lock(&s->rmu);
    n = s->nb;
    pthread_mutex_unlock(&s->rmu);
    return n;
}

void safety_rate_set_max_users(struct safety *s, size_t max)
{
    pthread_mutex_lock(&s->rmu);
    s->maxusers = max < 1 ? 1 : max;
    sweep(s, 0);
    pthread_mutex_unlock(&s->rmu);
}
