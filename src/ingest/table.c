/* A table builder shared by the HTML, DOCX and XLSX parsers: rows are kept
 * compact (only up to their last cell) while reading, and become the dense
 * nrows x ncols array of doc_add_table at the end, within the cell cap. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void ingest_tb_cell(struct ingest_tb *t, size_t col, char *text)
{
    if (col >= INGEST_TABLE_MAX_COLS || t->too_big) {
        free(text);
        return;
    }
    free(t->row[col]);
    t->row[col] = text;
    if (col + 1 > t->row_n)
        t->row_n = col + 1;
}

void ingest_tb_end_row(struct ingest_tb *t)
{
    size_t wide = t->row_n > t->ncols ? t->row_n : t->ncols;
    if (t->row_n == 0)
        goto out;
    if ((t->nrows + 1) * wide > INGEST_TABLE_MAX_CELLS ||
        (t->total && *t->total + t->row_n > INGEST_TABLE_MAX_CELLS)) {
        t->too_big = 1;
        goto out;
    }
    t->flat = xgrow(t->flat, &t->flat_cap, t->nflat + t->row_n, sizeof *t->flat);
    size_t cap = t->rows_cap;
    t->off = xgrow(t->off, &cap, t->nrows + 1, sizeof *t->off);
    cap = t->rows_cap;
    t->len = xgrow(t->len, &cap, t->nrows + 1, sizeof *t->len);
    t->rows_cap = cap;
    memcpy(t->flat + t->nflat, t->row, t->row_n * sizeof *t->row);
    memset(t->row, 0, t->row_n * sizeof *t->row);
    t->off[t->nrows] = t->nflat;
    t->len[t->nrows] = t->row_n;
    t->nflat += t->row_n;
    if (t->total)
        *t->total += t->row_n;
    t->nrows++;
    t->ncols = wide;
out:
    for (size_t i = 0; i < t->row_n; i++) {
        free(t->row[i]);
        t->row[i] = NULL;
    }
    t->row_n = 0;
}

void ingest_tb_release(struct ingest_tb *t)
{
    for (size_t i = 0; i < t->nflat; i++)
        free(t->flat[i]);
    for (size_t i = 0; i < INGEST_TABLE_MAX_COLS; i++)
        free(t->row[i]);
    free(t->flat);
    free(t->off);
    free(t->len);
    size_t *total = t->total;
    memset(t, 0, sizeof *t);
    t->total = total;
}

int ingest_tb_finish(struct ingest_tb *t, struct doc *out)
{
    int added = 0;
    ingest_tb_end_row(t);
    if (t->nrows && t->ncols) {
        char **cells = xmalloc(t->nrows * t->ncols * sizeof *cells);
        for (size_t i = 0; i < t->nrows; i++)
            for (size_t j = 0; j < t->ncols; j++) {
                char **c = j < t->len[i] ? &t->flat[t->off[i] + j] : NULL;
                cells[i * t->ncols + j] = c && *c ? *c : xstrdup("");
                if (c)
                    *c = NULL;
            }
        size_t before = out->nblocks;
        doc_add_table(out, t->nrows, t->ncols, cells);
        added = out->nblocks > before;
    }
    ingest_tb_release(t);
    return added;
}
