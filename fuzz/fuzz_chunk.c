/* libFuzzer driver for the chunker and Chinese numerals: the input's lines
 * become a document ('#' lines are headings, '|' lines table rows, others
 * paragraphs; the first byte picks small chunk sizes), then every chunk is
 * checked: strings present, valid UTF-8, parts in range, size caps held. */
#include "ingest/doc.h"
#include "kb/chunk.h"
#include "text/cnum.h"
#include "text/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

#define MAX_COLS 4

/* Adds the pending table rows (cells split at '|') as one table. */
static void flush_table(struct doc *d, const char **rows, const size_t *lens, size_t nrows)
{
    char **cells;
    if (nrows == 0)
        return;
    cells = xcalloc(nrows * MAX_COLS, sizeof *cells);
    for (size_t r = 0; r < nrows; r++) {
        const char *p = rows[r] + 1, *end = rows[r] + lens[r];
        for (size_t c = 0; c < MAX_COLS; c++) {
            const char *bar = p < end ? memchr(p, '|', (size_t)(end - p)) : NULL;
            const char *stop = bar ? bar : end;
            cells[r * MAX_COLS + c] = p < end ? xstrndup(p, (size_t)(stop - p)) : xstrdup("");
            p = bar ? bar + 1 : end;
        }
    }
    doc_add_table(d, nrows, MAX_COLS, cells);
}

static void check(const struct doc *d, const struct chunk_list *l, const struct chunk_opts *o)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct chunk *c = &l->a[i];
        char *path;
        size_t ll, hl;
        if (!c->label || !c->heading || !c->text)
            abort();
        if (c->part < 1 || c->part > c->nparts)
            abort();
        if (c->block_first > c->block_last || c->block_last >= d->nblocks)
            abort();
        if (!utf8_valid(c->text, strlen(c->text)) || !utf8_valid(c->label, strlen(c->label)) ||
            !utf8_valid(c->heading, strlen(c->heading)))
            abort();
        if (c->kind != CHUNK_TABLE && utf8_count(c->text, strlen(c->text)) > o->max_chars)
            abort();
        if (c->kind != CHUNK_TABLE && c->text[0] == '\0')
            abort();
        ll = strlen(c->label);
        hl = strlen(c->heading);
        if (ll > hl || memcmp(c->heading + hl - ll, c->label, ll) != 0)
            abort(); /* the heading ends with the label */
        path = chunk_path(d->title, c);
        if (!path)
            abort();
        free(path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct doc d;
    struct chunk_list l;
    struct chunk_opts o = {0, 0, 0};
    const char *rows[64];
    size_t lens[64], nrows = 0;
    const char *p, *end;

    if (size == 0 || size > 65536)
        return 0;
    {
        /* numerals: in range, and the canonical form reads back the same */
        char nb[64];
        long v = cnum_parse((const char *)data + 1, size - 1), w;
        size_t nl;
        if (v < -1 || v > 99999)
            abort();
        if (v > 0) {
            nl = cnum_format(v, nb, sizeof nb);
            w = nl ? cnum_parse(nb, nl) : -1;
            if (w != v)
                abort();
        }
    }
    /* first byte: small sizes so that splitting is exercised */
    o.max_chars = 1 + (data[0] & 0x1F) * 4;
    o.target_chars = 1 + (data[0] >> 5) * 20;
    o.table_rows = 1 + (data[0] & 3);
    doc_init(&d);
    p = (const char *)data + 1;
    end = (const char *)data + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!utf8_valid(p, n) || memchr(p, '\0', n)) {
            /* doc.h wants valid UTF-8 without NUL */
        } else if (n > 0 && p[0] == '|') {
            if (nrows == 64) {
                flush_table(&d, rows, lens, nrows);
                nrows = 0;
            }
            rows[nrows] = p;
            lens[nrows++] = n;
        } else {
            flush_table(&d, rows, lens, nrows);
            nrows = 0;
            if (n > 0 && p[0] == '#') {
                size_t lv = 0;
                while (lv < n && p[lv] == '#')
                    lv++;
                doc_add_heading(&d, (int)lv, p + lv, n - lv);
            } else if (n > 2 && p[0] == 'T' && p[1] == ':') {
                doc_set_title(&d, p + 2, n - 2);
            } else {
                doc_add_para(&d, p, n);
            }
        }
        p = nl ? nl + 1 : end;
    }
    flush_table(&d, rows, lens, nrows);
    chunk_doc(&d, &o, &l);
    /* chunk_doc applies target <= max itself; the check needs the max only */
    check(&d, &l, &o);
    chunk_list_release(&l);
    doc_release(&d);
    return 0;
}
