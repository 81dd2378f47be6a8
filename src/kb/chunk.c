/* Structure-aware chunking of a struct doc: one chunk per 条 for laws and
 * regulations, one per section or numbered clause for manuals, a few rows per
 * chunk for tables. Every step is a single linear pass over the blocks. */
#include "kb/chunk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rc.h"
#include "text/cnum.h"
#include "text/utf8.h"

#define DEF_MAX_CHARS 800
#define DEF_TARGET_CHARS 500
#define DEF_TABLE_ROWS 10
#define MAX_HEADINGS 16       /* deeper heading stacks keep their last entry replaced */
#define TITLE_MAX_CHARS 30    /* a clause or 章 line this short without punctuation is a heading */
#define HEADING_MAX_CHARS 200 /* longer heading blocks are cut: every chunk copies its path */
#define SEP " › "
#define SEP_CHARS 3        /* code points of SEP */
#define ELLIPSIS_CHARS 4   /* "…" SEP in front of a cut path */
#define PATH_MAX_CHARS 240 /* a chunk's heading path; longer ones lose leading parts */

/* Semantic rank of a structural heading: 编 (or a manual's 部分) > 分编 >
 * 章 > 节; 0 = not one. */
enum sem { SEM_NONE = 0, SEM_BIAN, SEM_FENBIAN, SEM_ZHANG, SEM_JIE };

/* Clause numbering styles, outermost first. */
enum clause_type {
    CL_NONE = 0,
    CL_CN,      /* 一、 */
    CL_CNPAREN, /* （一） */
    CL_ARABIC,  /* 1. 1、 1． */
    CL_ARPAREN, /* (1) （1） */
    CL_CIRCLED, /* ① */
    CL_COUNT
};

struct hentry {
    int level;
    enum sem sem;
    char *text;
};

struct centry {
    enum clause_type type;
    char *text;
};

/* The chunk being accumulated. */
struct pending {
    int active;
    enum chunk_kind kind;
    char *label, *heading;
    struct buf text;
    size_t first, last;
    enum clause_type body_type; /* deeper clauses are part of this chunk */
};

struct state {
    const struct doc *d;
    size_t max_chars, target_chars, table_rows;
    struct chunk_list *out;
    struct hentry hs[MAX_HEADINGS];
    size_t nh;
    struct centry cs[CL_COUNT];
    size_t nc;
    long last_art;
    int law;
    struct pending cur;
};

/* Appends to a buffer without a cap: only out-of-memory could fail, and the
 * allocator aborts on that, so a failure here is a broken invariant. */
static void badd(struct buf *b, const void *p, size_t n)
{
    if (buf_add(b, p, n) != RC_OK)
        abort();
}

static void badds(struct buf *b, const char *s)
{
    badd(b, s, strlen(s));
}

static size_t cp_count(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

static size_t dec(const char *p, size_t n, uint32_t *cp)
{
    if (n == 0) {
        *cp = 0;
        return 0;
    }
    return utf8_decode(p, n, cp);
}

static int is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x3000 || cp == 0xA0 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F;
}

static int is_numeral_cp(uint32_t cp)
{
    static const uint32_t cn[] = {0x3007, 0x96F6, 0x4E00, 0x4E8C, 0x4E24, 0x4E09, 0x56DB, 0x4E94,
                                  0x516D, 0x4E03, 0x516B, 0x4E5D, 0x5341, 0x767E, 0x5343, 0x4E07};
    if ((cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19))
        return 1;
    for (size_t i = 0; i < sizeof cn / sizeof cn[0]; i++)
        if (cn[i] == cp)
            return 1;
    return 0;
}

static int is_ascii_digit_cp(uint32_t cp)
{
    return (cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19);
}

/* Bytes of the numeral run at p (at most 12 characters), 0 when none. */
static size_t numeral_run(const char *p, size_t n)
{
    size_t i = 0, nc = 0;
    while (i < n && nc < 12) {
        uint32_t cp;
        size_t k = dec(p + i, n - i, &cp);
        if (!is_numeral_cp(cp))
            break;
        i += k;
        nc++;
    }
    return i;
}

static int starts_with(const char *p, size_t n, const char *w)
{
    size_t k = strlen(w);
    return n >= k && memcmp(p, w, k) == 0;
}

/* Matches 第<numeral> at p; sets *num and returns the bytes consumed, or 0. */
static size_t match_di(const char *p, size_t n, long *num)
{
    size_t k, r;
    if (!starts_with(p, n, "第"))
        return 0;
    k = strlen("第");
    r = numeral_run(p + k, n - k);
    if (r == 0)
        return 0;
    *num = cnum_parse(p + k, r);
    if (*num <= 0)
        return 0;
    return k + r;
}

/* Matches an article label 第N条 or 第N条之M at p. Returns its byte length
 * (0 when none) and sets *num, *sub (0 without 之). */
static size_t article_label(const char *p, size_t n, long *num, long *sub)
{
    size_t k = match_di(p, n, num);
    if (k == 0 || !starts_with(p + k, n - k, "条"))
        return 0;
    k += strlen("条");
    *sub = 0;
    if (starts_with(p + k, n - k, "之")) {
        size_t z = k + strlen("之");
        size_t r = numeral_run(p + z, n - z);
        long s = r ? cnum_parse(p + z, r) : -1;
        if (s > 0 && s < 100 && !is_ascii_digit_cp((unsigned char)p[z])) {
            *sub = s;
            k = z + r;
        }
    }
    return k;
}

/* Characters that, right after 第N条, mark a cross-reference rather than the
 * start of an article: 第十二条规定的, 第十二条第二款, 第十二条、第十三条 … */
static int xref_follower(uint32_t cp)
{
    static const uint32_t f[] = {0x89C4 /* 规 */,
                                 0x7684 /* 的 */,
                                 0x7B2C /* 第 */,
                                 0x3001 /* 、 */,
                                 0xFF0C /* ， */,
                                 0x548C /* 和 */,
                                 0x81F3 /* 至 */,
                                 0x6240 /* 所 */,
                                 0x4E2D /* 中 */,
                                 0x6216 /* 或 */,
                                 0x53CA /* 及 */,
                                 0x4E0E /* 与 */,
                                 0x4E4B /* 之 */,
                                 0x3002 /* 。 */,
                                 0xFF1B /* ； */,
                                 ',',
                                 ';'};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i] == cp)
            return 1;
    return 0;
}

/* Does the paragraph open an article? A label followed by whitespace or by
 * nothing always does; a label followed directly by text only when it is the
 * number we expect next, so that "第十二条规定的…" stays a paragraph. */
static size_t article_start(const struct state *st, const char *p, size_t n, long *num)
{
    long sub = 0;
    uint32_t cp;
    size_t k = article_label(p, n, num, &sub);
    if (k == 0)
        return 0;
    if (k == n)
        return k;
    dec(p + k, n - k, &cp);
    if (is_space(cp))
        return k;
    if (xref_follower(cp))
        return 0;
    if (sub ? *num == st->last_art : *num == st->last_art + 1)
        return k;
    return 0;
}

static int sentence_punct(uint32_t cp)
{
    switch (cp) {
    case 0x3002: /* 。 */
    case 0xFF1B: /* ； */
    case 0xFF0C: /* ， */
    case 0xFF1A: /* ： */
    case 0xFF01: /* ！ */
    case 0xFF1F: /* ？ */
    case ',':
    case ';':
    case ':':
    case '!':
    case '?':
        return 1;
    default:
        return 0;
    }
}

/* Short and without sentence punctuation: reads as a title, not as prose. */
static int title_like(const char *p, size_t n)
{
    size_t i = 0, nc = 0;
    while (i < n) {
        uint32_t cp;
        i += dec(p + i, n - i, &cp);
        if (++nc > TITLE_MAX_CHARS || sentence_punct(cp))
            return 0;
    }
    return 1;
}

/* 第N编 / 第N分编 / 第N章 / 第N节 at p; returns its semantic rank or SEM_NONE.
 * With `alone`, the whole text must be such a heading plus a short name. */
static enum sem struct_heading(const char *p, size_t n, int alone)
{
    static const struct {
        const char *w;
        enum sem s;
    } kinds[] = {{"分编", SEM_FENBIAN},
                 {"编", SEM_BIAN},
                 {"部分", SEM_BIAN}, /* manuals */
                 {"章", SEM_ZHANG},
                 {"节", SEM_JIE}};
    long num;
    size_t k = match_di(p, n, &num);
    if (k == 0)
        return SEM_NONE;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (!starts_with(p + k, n - k, kinds[i].w))
            continue;
        k += strlen(kinds[i].w);
        if (alone && !title_like(p + k, n - k))
            return SEM_NONE;
        return kinds[i].s;
    }
    return SEM_NONE;
}

/* A numbered clause at the start of a manual's paragraph: 一、 （一） 1.
 * 1、 (1) （1） ①. Sets *type, returns the label's byte length or 0. */
static size_t clause_start(const char *p, size_t n, enum clause_type *type)
{
    uint32_t cp;
    size_t k = dec(p, n, &cp), r;

    if (k == 0)
        return 0;
    if (cp >= 0x2460 && cp <= 0x2473) { /* ① .. ⑳ */
        *type = CL_CIRCLED;
        return k;
    }
    if (cp == '(' || cp == 0xFF08) { /* ( （ */
        uint32_t c2, close;
        size_t k2;
        r = numeral_run(p + k, n - k);
        if (r == 0 || r > 9)
            return 0;
        k2 = dec(p + k + r, n - k - r, &close);
        if (close != ')' && close != 0xFF09)
            return 0;
        dec(p + k, n - k, &c2);
        if (cnum_parse(p + k, r) <= 0)
            return 0;
        *type = is_ascii_digit_cp(c2) ? CL_ARPAREN : CL_CNPAREN;
        return k + r + k2;
    }
    r = numeral_run(p, n);
    if (r == 0 || cnum_parse(p, r) <= 0)
        return 0;
    if (is_ascii_digit_cp(cp)) {
        uint32_t sep, next;
        size_t ks;
        if (r > 3)
            return 0;
        ks = dec(p + r, n - r, &sep);
        if (sep != '.' && sep != 0xFF0E && sep != 0x3001) /* . ． 、 */
            return 0;
        dec(p + r + ks, n - r - ks, &next);
        if (is_ascii_digit_cp(next)) /* 1.5 or 1.1.2: not a clause of ours */
            return 0;
        *type = CL_ARABIC;
        return r + ks;
    }
    if (starts_with(p + r, n - r, "、")) {
        *type = CL_CN;
        return r + strlen("、");
    }
    return 0;
}

/* The heading path (headings, then title-like clauses), plus `label`, at
 * most PATH_MAX_CHARS characters: every chunk copies its path, so 16 deep
 * 200-character headings over 200k short clauses made 600 MB of chunks out
 * of 2 MB of text. When too long, leading parts give way to "…" (the
 * deepest heading and the label are what the chunk is about). */
static char *path_with(const struct state *st, const char *label)
{
    const char *part[MAX_HEADINGS + CL_COUNT + 1];
    size_t np = 0, keep = 0, chars = 0;
    struct buf b = BUF_INIT;

    for (size_t i = 0; i < st->nh; i++)
        part[np++] = st->hs[i].text;
    for (size_t i = 0; i < st->nc; i++)
        part[np++] = st->cs[i].text;
    if (label && *label)
        part[np++] = label;
    /* the longest tail of parts that fits (always at least the last one) */
    while (keep < np) {
        const char *t = part[np - 1 - keep];
        size_t c = cp_count(t, strlen(t)) + (keep ? SEP_CHARS : 0);
        if (keep > 0 && chars + c > PATH_MAX_CHARS)
            break;
        chars += c;
        keep++;
    }
    if (keep < np) {
        while (keep > 1 && chars + ELLIPSIS_CHARS > PATH_MAX_CHARS) {
            const char *t = part[np - keep]; /* the first part kept */
            chars -= cp_count(t, strlen(t)) + SEP_CHARS;
            keep--;
        }
        badds(&b, "…" SEP);
    }
    for (size_t i = np - keep; i < np; i++) {
        if (i > np - keep)
            badds(&b, SEP);
        badds(&b, part[i]);
    }
    return buf_detach(&b, NULL);
}

static void list_push(struct chunk_list *l, enum chunk_kind kind, const char *label,
                      const char *heading, const char *text, size_t len, int part, int nparts,
                      size_t first, size_t last)
{
    struct chunk *c;
    l->a = xgrow(l->a, &l->cap, l->n + 1, sizeof *l->a);
    c = &l->a[l->n++];
    c->kind = kind;
    c->label = xstrdup(label);
    c->heading = xstrdup(heading);
    c->text = xstrndup(text, len);
    c->part = part;
    c->nparts = nparts;
    c->block_first = first;
    c->block_last = last;
}

static int is_split_space(char c)
{
    return c == '\n' || c == ' ' || c == '\t' || c == '\r';
}

/* A sentence ends after 。！？； (or ASCII !?;) or a newline, together with
 * up to four closing quotes or brackets right after it. Returns the end offset of
 * the boundary at p+i (i points at a character start), or 0 when none. */
static size_t boundary_end(const char *p, size_t n, size_t i, size_t k, uint32_t cp)
{
    size_t e = i + k, nq = 0;
    if (!(cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B || cp == '!' || cp == '?' ||
          cp == ';' || cp == '\n'))
        return 0;
    while (e < n && nq++ < 4) {
        uint32_t c2;
        size_t k2 = dec(p + e, n - e, &c2);
        if (c2 != 0x201D && c2 != 0x2019 && c2 != 0x300D && c2 != 0x300F && c2 != 0xFF09 &&
            c2 != ')')
            break;
        e += k2;
    }
    return e;
}

/* Emits text as one chunk, or, when longer than max_chars, as parts of about
 * target_chars cut at sentence boundaries (a hard cut when a sentence is
 * longer than max_chars). Every part keeps kind, label and heading. */
static void emit(struct state *st, enum chunk_kind kind, const char *label, const char *heading,
                 const char *text, size_t len, size_t first, size_t last)
{
    size_t total = cp_count(text, len), done = 0, pos = 0, nparts = 0, cap = 0;
    size_t *cuts = NULL; /* pairs: start, end */

    if (total <= st->max_chars) {
        list_push(st->out, kind, label, heading, text, len, 1, 1, first, last);
        return;
    }
    while (pos < len) {
        size_t end, i, cnt = 0, best = 0, best_cnt = 0, after = 0, hard = 0, s, e;
        while (pos < len && is_split_space(text[pos])) {
            pos++;
            done++;
        }
        if (pos >= len)
            break;
        if (total - done <= st->max_chars) {
            end = len;
        } else {
            for (i = pos; i < len && cnt < st->max_chars;) {
                uint32_t cp;
                size_t k = dec(text + i, len - i, &cp), b;
                cnt++;
                i += k;
                if (cnt == st->max_chars)
                    hard = i;
                b = boundary_end(text, len, i - k, k, cp);
                if (!b)
                    continue;
                if (cnt <= st->target_chars) {
                    best = b;
                    best_cnt = cnt;
                } else if (!after) {
                    after = b;
                }
            }
            if (!hard)
                hard = i;
            if (best && (best_cnt * 2 >= st->target_chars || !after))
                end = best;
            else if (after)
                end = after;
            else
                end = hard;
            if (end > hard) /* closing quotes past the maximum */
                end = hard;
        }
        s = pos;
        e = end;
        while (e > s && is_split_space(text[e - 1]))
            e--;
        if (e > s) {
            cuts = xgrow(cuts, &cap, 2 * nparts + 2, sizeof *cuts);
            cuts[2 * nparts] = s;
            cuts[2 * nparts + 1] = e;
            nparts++;
        }
        done += cp_count(text + pos, end - pos);
        pos = end;
    }
    for (size_t j = 0; j < nparts; j++)
        list_push(st->out, kind, label, heading, text + cuts[2 * j], cuts[2 * j + 1] - cuts[2 * j],
                  (int)j + 1, (int)nparts, first, last);
    free(cuts);
}

static void cur_flush(struct state *st)
{
    struct pending *c = &st->cur;
    if (!c->active)
        return;
    if (c->text.len > 0)
        emit(st, c->kind, c->label, c->heading, c->text.p, c->text.len, c->first, c->last);
    free(c->label);
    free(c->heading);
    c->label = c->heading = NULL;
    buf_reset(&c->text);
    c->active = 0;
    c->body_type = CL_NONE;
}

/* Starts a chunk; takes ownership of label and heading. */
static void cur_start(struct state *st, enum chunk_kind kind, char *label, char *heading,
                      size_t block, enum clause_type body_type)
{
    struct pending *c = &st->cur;
    cur_flush(st);
    c->active = 1;
    c->kind = kind;
    c->label = label;
    c->heading = heading;
    c->first = c->last = block;
    c->body_type = body_type;
}

static void cur_add(struct state *st, const char *p, size_t block)
{
    struct pending *c = &st->cur;
    if (!c->active)
        cur_start(st, CHUNK_SECTION, xstrdup(""), path_with(st, NULL), block, CL_NONE);
    if (c->text.len > 0)
        badd(&c->text, "\n", 1);
    badds(&c->text, p);
    c->last = block;
}

static void clauses_clear(struct state *st, enum clause_type from)
{
    while (st->nc > 0 && st->cs[st->nc - 1].type >= from)
        free(st->cs[--st->nc].text);
}

/* A copy of a heading for the path: runs of any Unicode space become one
 * ASCII space ("第一分编\u2002\u2002通则" → "第一分编 通则"), cut at
 * HEADING_MAX_CHARS code points. */
static char *heading_copy(const char *t)
{
    size_t n = strlen(t), i = 0, o = 0, nc = 0;
    char *out = xmalloc(n + 1);
    int space = 0;

    while (i < n && nc < HEADING_MAX_CHARS) {
        uint32_t cp;
        size_t k = dec(t + i, n - i, &cp);
        if (is_space(cp)) {
            space = 1;
        } else {
            if (space && o > 0) {
                out[o++] = ' ';
                nc++;
            }
            space = 0;
            memcpy(out + o, t + i, k);
            o += k;
            nc++;
        }
        i += k;
    }
    out[o] = '\0';
    return out;
}

/* Callers pop the entries of the same or a deeper type first, so the stack
 * holds at most one entry per type. */
static void clause_push(struct state *st, enum clause_type type, const char *text)
{
    if (st->nc == CL_COUNT)
        return;
    st->cs[st->nc].type = type;
    st->cs[st->nc].text = heading_copy(text);
    st->nc++;
}

/* Does the block after `block` open the next article? */
static int next_is_article(const struct state *st, size_t block)
{
    const struct doc_block *b;
    long num;
    if (block + 1 >= st->d->nblocks)
        return 0;
    b = &st->d->blocks[block + 1];
    return b->kind == DOC_PARA && b->text && article_start(st, b->text, strlen(b->text), &num);
}

static void heading_push(struct state *st, int level, enum sem sem, const char *text)
{
    while (st->nh > 0 && st->hs[st->nh - 1].level >= level)
        free(st->hs[--st->nh].text);
    if (st->nh == MAX_HEADINGS)
        free(st->hs[--st->nh].text);
    st->hs[st->nh].level = level;
    st->hs[st->nh].sem = sem;
    st->hs[st->nh].text = heading_copy(text);
    st->nh++;
}

/* The level a 编/章/节 paragraph takes in the heading stack: the level of
 * one of the same rank, else that of the shallowest lower-ranked one (a 章
 * after a 节 replaces it), else one below the deepest heading. */
static int para_heading_level(const struct state *st, enum sem sem)
{
    int lower = 0;
    for (size_t i = 0; i < st->nh; i++) {
        if (st->hs[i].sem == sem)
            return st->hs[i].level;
        if (st->hs[i].sem > sem && !lower)
            lower = st->hs[i].level;
    }
    if (lower)
        return lower;
    return st->nh ? st->hs[st->nh - 1].level + 1 : 1;
}

/* Is there at least one article in the document? Decides law vs manual. */
static int detect_law(struct state *st)
{
    for (size_t i = 0; i < st->d->nblocks; i++) {
        const struct doc_block *b = &st->d->blocks[i];
        long num;
        if ((b->kind == DOC_PARA || b->kind == DOC_HEADING) && b->text &&
            article_start(st, b->text, strlen(b->text), &num))
            return 1;
    }
    return 0;
}

static void table_cells(struct buf *b, const struct doc_table *t, size_t row)
{
    for (size_t j = 0; j < t->ncols; j++) {
        const char *cell = t->cells[row * t->ncols + j];
        if (j)
            badds(b, " | ");
        badds(b, cell ? cell : "");
    }
}

/* A table inside an article or clause: what comes before it is emitted
 * first (reading order), and the text after it goes on under the same
 * label and heading. */
static void do_table(struct state *st, const struct doc_table *t, size_t block)
{
    struct buf b = BUF_INIT, hb = BUF_INIT;
    char *heading;
    size_t hlen;
    size_t data, nchunks;
    struct pending *c = &st->cur;

    if (t->nrows == 0 || t->ncols == 0 || !t->cells)
        return;
    if (c->active && c->text.len > 0) {
        enum chunk_kind kind = c->kind;
        enum clause_type body = c->body_type;
        char *label = xstrdup(c->label), *head = xstrdup(c->heading);
        cur_start(st, kind, label, head, block + 1, body); /* flushes the text so far */
    }
    heading = path_with(st, NULL);
    /* the header row is repeated in every chunk: at most max_chars of it */
    table_cells(&hb, t, 0);
    hlen = utf8_prefix(buf_str(&hb), hb.len, st->max_chars);
    data = t->nrows - 1;
    nchunks = data == 0 ? 1 : (data + st->table_rows - 1) / st->table_rows;
    for (size_t k = 0; k < nchunks; k++) {
        size_t r0 = 1 + k * st->table_rows, r1 = r0 + st->table_rows;
        if (r1 > t->nrows)
            r1 = t->nrows;
        buf_reset(&b);
        badd(&b, buf_str(&hb), hlen);
        for (size_t r = r0; r < r1; r++) {
            if (b.len > 0)
                badd(&b, "\n", 1);
            table_cells(&b, t, r);
        }
        list_push(st->out, CHUNK_TABLE, "", heading, buf_str(&b), b.len, (int)k + 1, (int)nchunks,
                  block, block);
    }
    buf_release(&b);
    buf_release(&hb);
    free(heading);
}

static void do_para(struct state *st, const char *t, size_t block);

static void do_heading(struct state *st, const struct doc_block *b, size_t block)
{
    const char *t = b->text;
    long num;
    if (!t || !*t)
        return;
    if (b->level <= 1 && st->d->title && strcmp(t, st->d->title) == 0)
        return; /* the title repeated as a heading */
    if (st->law && article_start(st, t, strlen(t), &num)) {
        do_para(st, t, block); /* word processors style some 条 as headings */
        return;
    }
    cur_flush(st);
    clauses_clear(st, CL_NONE);
    heading_push(st, b->level, struct_heading(t, strlen(t), 0), t);
}

static void do_para(struct state *st, const char *t, size_t block)
{
    size_t n = strlen(t), k;
    enum sem sem;
    enum clause_type type;
    long num;

    if (n == 0)
        return;
    sem = struct_heading(t, n, 1);
    if (sem != SEM_NONE) {
        cur_flush(st);
        clauses_clear(st, CL_NONE);
        heading_push(st, para_heading_level(st, sem), sem, t);
        return;
    }
    if (st->law) {
        k = article_start(st, t, n, &num);
        if (k) {
            char *label = xstrndup(t, k);
            cur_start(st, CHUNK_ARTICLE, label, path_with(st, label), block, CL_NONE);
            st->last_art = num;
        } else if (clause_start(t, n, &type) && title_like(t, n) && next_is_article(st, block)) {
            /* "（二）不动产抵押" right before an article: a sub-heading */
            cur_flush(st);
            clauses_clear(st, type);
            clause_push(st, type, t);
            return;
        }
        cur_add(st, t, block);
        return;
    }
    k = clause_start(t, n, &type);
    if (k) {
        char *label;
        if (st->cur.active && st->cur.body_type != CL_NONE && st->cur.body_type < type) {
            cur_add(st, t, block); /* a 项 inside a numbered item */
            return;
        }
        cur_flush(st);
        clauses_clear(st, type);
        if (title_like(t, n)) {
            clause_push(st, type, t);
            return;
        }
        label = xstrndup(t, k);
        cur_start(st, CHUNK_SECTION, label, path_with(st, label), block, type);
    }
    cur_add(st, t, block);
}

void chunk_doc(const struct doc *d, const struct chunk_opts *opts, struct chunk_list *out)
{
    struct state st;

    memset(out, 0, sizeof *out);
    memset(&st, 0, sizeof st);
    if (!d)
        return;
    st.d = d;
    st.out = out;
    st.max_chars = opts && opts->max_chars ? opts->max_chars : DEF_MAX_CHARS;
    st.target_chars = opts && opts->target_chars ? opts->target_chars : DEF_TARGET_CHARS;
    st.table_rows = opts && opts->table_rows ? opts->table_rows : DEF_TABLE_ROWS;
    if (st.target_chars > st.max_chars)
        st.target_chars = st.max_chars;
    buf_init(&st.cur.text, BUF_NOMAX);
    st.law = detect_law(&st);
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        switch (b->kind) {
        case DOC_HEADING:
            do_heading(&st, b, i);
            break;
        case DOC_PARA:
            if (b->text)
                do_para(&st, b->text, i);
            break;
        case DOC_TABLE:
            do_table(&st, &b->table, i);
            break;
        }
    }
    cur_flush(&st);
    buf_release(&st.cur.text);
    clauses_clear(&st, CL_NONE);
    while (st.nh > 0)
        free(st.hs[--st.nh].text);
}

void chunk_list_release(struct chunk_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].label);
        free(l->a[i].heading);
        free(l->a[i].text);
    }
    free(l->a);
    l->a = NULL;
    l->n = l->cap = 0;
}

char *chunk_path(const char *title, const struct chunk *c)
{
    struct buf b = BUF_INIT;
    const char *h = c && c->heading ? c->heading : "";
    size_t tl = title ? strlen(title) : 0;

    if (tl > 0) {
        int quoted = starts_with(title, tl, "《") && tl >= 6 &&
                     memcmp(title + tl - strlen("》"), "》", strlen("》")) == 0;
        if (!quoted)
            badds(&b, "《");
        badd(&b, title, tl);
        if (!quoted)
            badds(&b, "》");
        if (*h)
            badds(&b, SEP);
    }
    badds(&b, h);
    return buf_detach(&b, NULL);
}
