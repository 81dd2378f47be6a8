/* The document model every parser produces (doc.h): text normalisation
 * (trim, collapse whitespace, drop control characters, repair bad UTF-8)
 * happens here once, so parsers can hand over raw text runs. */
#include "ingest/doc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "text/utf8.h"

void doc_init(struct doc *d)
{
    d->title = xstrdup("");
    d->blocks = NULL;
    d->nblocks = d->cap = 0;
}

static void table_free(struct doc_table *t)
{
    if (!t->cells)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->ncols = 0;
}

void doc_release(struct doc *d)
{
    for (size_t i = 0; i < d->nblocks; i++) {
        free(d->blocks[i].text);
        table_free(&d->blocks[i].table);
    }
    free(d->blocks);
    free(d->title);
    d->title = NULL;
    d->blocks = NULL;
    d->nblocks = d->cap = 0;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0
 * (overlongs, surrogates, > U+10FFFF and truncation are all malformed). */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (k == 0 || k > n)
        return 0;
    for (size_t j = 1; j < k; j++)
        if ((s[j] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return k;
}

/* Whitespace for trimming and collapsing: ASCII space and controls (NUL
 * included, so no NUL survives), DEL, and by their bytes U+0080-U+00A0
 * (C1 controls, no-break space), U+1680, U+2000-U+200B (EN/EM/thin spaces,
 * as in the Civil Code files, and the zero-width space), U+2028, U+2029,
 * U+202F, U+205F, U+3000 and U+FEFF (stray BOMs). */
static int is_space_seq(const unsigned char *s, size_t k)
{
    if (k == 2)
        return s[0] == 0xC2 && s[1] <= 0xA0;
    if (k != 3)
        return 0;
    if (s[0] == 0xE2 && s[1] == 0x80) /* U+2000-U+203F */
        return s[2] <= 0x8B || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF;
    return (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) ||
           (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) ||
           (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) ||
           (s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF);
}

/* Normalises p[0..n) into a fresh malloc'd string; *len gets its length. */
static char *normalize(const char *p, size_t n, size_t *len)
{
    char *out = xmalloc(n * 3 + 1); /* a bad byte becomes U+FFFD: 1 -> 3 bytes */
    size_t o = 0;
    int pending_space = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            if (c <= 0x20 || c == 0x7F) {
                pending_space = 1;
            } else {
                if (pending_space && o > 0)
                    out[o++] = ' ';
                pending_space = 0;
                out[o++] = (char)c;
            }
            i++;
            continue;
        }
        size_t k = seq_len((const unsigned char *)p + i, n - i);
        int bad = k == 0;
        if (bad)
            k = 1;
        if (!bad && is_space_seq((const unsigned char *)p + i, k)) {
            pending_space = 1;
        } else {
            if (pending_space && o > 0)
                out[o++] = ' ';
            pending_space = 0;
            if (bad) {
                memcpy(out + o, "\xEF\xBF\xBD", 3); /* repair, never pass bad bytes on */
                o += 3;
            } else {
                memcpy(out + o, p + i, k);
                o += k;
            }
        }
        i += k;
    }
    out[o] = '\0';
    *len = o;
    return o * 2 + 16 < n * 3 ? xrealloc(out, o + 1) : out; /* give back the worst-case room */
}

void doc_set_title(struct doc *d, const char *p, size_t n)
{
    size_t len, i = 0, nc = 0;
    char *t = normalize(p, n, &len);
    /* Every chunk row stores the title: a 1 MB <title> or first heading
     * must not be copied thousands of times. Cut at a character boundary. */
    while (i < len && nc < DOC_TITLE_MAX_CHARS) {
        i++;
        while (i < len && ((unsigned char)t[i] & 0xC0) == 0x80)
            i++;
        nc++;
    }
    if (i < len) {
        while (i > 0 && t[i - 1] == ' ')
            i--;
        t[i] = '\0';
    }
    free(d->title);
    d->title = t;
}

static struct doc_block *push(struct doc *d)
{
    d->blocks = xgrow(d->blocks, &d->cap, d->nblocks + 1, sizeof *d->blocks);
    struct doc_block *b = &d->blocks[d->nblocks++];
    memset(b, 0, sizeof *b);
    return b;
}

static void add_text(struct doc *d, enum doc_block_kind kind, int level, const char *p, size_t n)
{
    size_t len;
    char *t = normalize(p, n, &len);
    if (len == 0) {
        free(t);
        return;
    }
    struct doc_block *b = push(d);
    b->kind = kind;
    b->level = level;
    b->text = t;
}

void doc_add_heading(struct doc *d, int level, const char *p, size_t n)
{
    if (level < 1)
        level = 1;
    if (level > 9)
        level = 9;
    add_text(d, DOC_HEADING, level, p, n);
}

void doc_add_para(struct doc *d, const char *p, size_t n)
{
    add_text(d, DOC_PARA, 0, p, n);
}

void doc_add_table(struct doc *d, size_t nrows, size_t ncols, char **cells)
{
    struct doc_table t = {nrows, ncols, cells};
    if (!cells)
        return;
    if (nrows == 0 || ncols == 0) {
        table_free(&t);
        return;
    }
    int any = 0;
    for (size_t i = 0; i < nrows * ncols; i++) {
        size_t len;
        char *c = cells[i] ? normalize(cells[i], strlen(cells[i]), &len) : xstrdup("");
        free(cells[i]);
        cells[i] = c;
        any |= c[0] != '\0';
    }
    if (!any) {
        table_free(&t);
        return;
    }
    struct doc_block *b = push(d);
    b->kind = DOC_TABLE;
    b->table = t;
}

size_t doc_chars(const struct doc *d)
{
    size_t total = 0;
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        if (b->text)
            total += utf8_count(b->text, strlen(b->text));
        for (size_t j = 0; b->kind == DOC_TABLE && j < b->table.nrows * b->table.ncols; j++)
            total += utf8_count(b->table.cells[j], strlen(b->table.cells[j]));
    }
    return total;
}
