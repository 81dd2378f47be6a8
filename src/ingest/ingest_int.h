/* Private helpers shared by the parsers in src/ingest/ (not for other
 * modules): text decoding, titles from file names, line joining, bounded zip
 * reads and an iterative libxml2 tree walk. Public API: ingest.h, doc.h. */
#ifndef ATRIUM_INGEST_INT_H
#define ATRIUM_INGEST_INT_H

#include <stddef.h>

#include <libxml/tree.h>
#include <zip.h>

#include "common/buf.h"
#include "ingest/doc.h"

/* Caps for zip containers (docx, xlsx): per entry, the sum of entries read,
 * and the largest believable compression ratio for a big entry. */
#define INGEST_ZIP_ENTRY_MAX ((zip_uint64_t)100 << 20)
#define INGEST_ZIP_TOTAL_MAX ((zip_uint64_t)200 << 20)
#define INGEST_ZIP_RATIO_MAX 200
#define INGEST_ZIP_MAX_ENTRIES 20000
/* Tables: columns past this are dropped; more cells than this is RC_TOO_BIG. */
#define INGEST_TABLE_MAX_COLS 256
#define INGEST_TABLE_MAX_CELLS ((size_t)4 << 20)

/* Appends a formatted message to err (which may be NULL); a message cut
 * short by err's cap is accepted silently. */
void ingest_errf(struct buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A table being read: set cells of the current row, end rows, finish.
 * Zero-initialise it ({0}); `total` may point at a counter of cells shared
 * by several tables (a workbook). Rows with no cell set are dropped;
 * columns past INGEST_TABLE_MAX_COLS are ignored; past the cell cap
 * too_big is set and further rows are dropped. */
struct ingest_tb {
    char *row[INGEST_TABLE_MAX_COLS]; /* the current row */
    size_t row_n;                     /* 1 + its last column set */
    char **flat;                      /* kept row i is flat[off[i] .. off[i] + len[i]) */
    size_t nflat, flat_cap, *off, *len, rows_cap, nrows, ncols;
    size_t *total;
    int too_big;
};
/* Sets a cell (takes ownership of the malloc'd text). */
void ingest_tb_cell(struct ingest_tb *t, size_t col, char *text);
void ingest_tb_end_row(struct ingest_tb *t);
/* Ends the row, adds the table to out (doc_add_table) and releases the
 * builder (reusable afterwards). Returns 1 when a table block was added. */
int ingest_tb_finish(struct ingest_tb *t, struct doc *out);
/* Frees everything without adding a table. */
void ingest_tb_release(struct ingest_tb *t);

/* The parsers behind ingest_parse. `p` is never NULL (may be ""), the type
 * is already decided; failures return an rc and append a message to err. */
int ingest_parse_txt(const char *name, const char *p, size_t n, struct doc *out, struct buf *err);
int ingest_parse_md(const char *name, const char *p, size_t n, struct doc *out, struct buf *err);
int ingest_parse_html(const char *name, const char *p, size_t n, struct doc *out, struct buf *err);
int ingest_parse_docx(const char *name, const char *p, size_t n, struct doc *out, struct buf *err);
int ingest_parse_xlsx(const char *name, const char *p, size_t n, struct doc *out, struct buf *err);
int ingest_parse_pdf(const char *name, const char *p, size_t n, struct doc *out, struct buf *err);

/* Text bytes to UTF-8: valid UTF-8 is copied (a BOM dropped); otherwise the
 * bytes are decoded as `charset` (NULL: GB18030) with ICU, failing on any
 * byte that does not decode. On success *out holds NUL-terminated UTF-8
 * (free() it) and its length; on failure RC_PARSE with a message in err. */
int ingest_to_utf8(const char *p, size_t n, const char *charset, char **out, size_t *out_len,
                   struct buf *err);
/* True when p[0..n) decodes as GB18030 without any substitution. */
int ingest_is_gb18030(const char *p, size_t n);

/* Sets the title to the file name without directories and extension
 * (invalid UTF-8 in the name is dropped; "untitled" when nothing is left). */
void ingest_title_from_name(struct doc *d, const char *name);

/* Appends a line to a paragraph being built: no separator when the buffer
 * is empty, when either side of the join is CJK (Chinese wraps
 * mid-sentence), or when a number in Chinese text was wrapped; one space
 * otherwise. RC_OK or RC_TOO_BIG from the buffer. */
int ingest_join_line(struct buf *para, const char *line, size_t n);

/* True when an end-of-central-directory record in the zip's tail (zip64
 * included; any candidate with a plausible central directory) declares
 * more than INGEST_ZIP_MAX_ENTRIES entries. Checked before libzip opens the archive: libzip
 * materialises every entry first (500k entries: 12 s and 200 MB before our check). */
int ingest_zip_too_many(const char *data, size_t n);
/* Opens a zip held in memory (data must outlive the archive). NULL when the
 * bytes are not a readable zip or ingest_zip_too_many says so. */
zip_t *ingest_zip_open(const char *data, size_t n);
/* Reads entry `name` into out (NUL-terminated) after checking its declared
 * size against the per-entry cap, *budget (the bytes still allowed for the
 * whole archive, decreased here) and the compression ratio. RC_OK,
 * RC_NOT_FOUND (no such entry), RC_TOO_BIG (a cap; message in err) or
 * RC_PARSE (unreadable; message in err). `what` names the format ("DOCX"). */
int ingest_zip_read(zip_t *za, const char *name, zip_uint64_t *budget, const char *what,
                    struct buf *out, struct buf *err);
/* Checks every entry's declared sizes up front (zip bombs): RC_OK or
 * RC_TOO_BIG with a message in err. */
int ingest_zip_check(zip_t *za, const char *what, struct buf *err);

/* Reads XML from memory without network access and without entity
 * expansion; NULL when it is not well-formed enough to recover. */
xmlDoc *ingest_xml_read(const char *p, size_t n);

/* Walks the tree under root without recursion (hostile nesting depth cannot
 * overflow the stack). enter returns 1 to visit the node's children, 0 to
 * skip them; leave (may be NULL) is called after the children of nodes that
 * were entered with 1. */
typedef int (*ingest_enter_fn)(void *ctx, xmlNode *node);
typedef void (*ingest_leave_fn)(void *ctx, xmlNode *node);
void ingest_xml_walk(xmlNode *root, ingest_enter_fn enter, ingest_leave_fn leave, void *ctx);

/* Local name equality for elements ("w:p" matches "p"). */
int ingest_xml_is(const xmlNode *node, const char *local);
/* An attribute by local name (any namespace), or NULL. Borrowed until
 * the document is freed. */
const char *ingest_xml_attr(const xmlNode *node, const char *local);

/* DOCX automatic numbering (docx_num.c). ingest_num_load parses
 * word/numbering.xml (NULL when broken); ingest_num_label advances the
 * counters of list num_id at level ilvl (0-based) and appends the rendered
 * label ("第三条 ", "（二）", "1.2 ") to out; unknown lists and bullets
 * append nothing. */
struct ingest_numbering;
struct ingest_numbering *ingest_num_load(const char *p, size_t n);
void ingest_num_free(struct ingest_numbering *nb);
void ingest_num_label(struct ingest_numbering *nb, long num_id, int ilvl, struct buf *out);

/* Appends the direct text children of n (entity references are not
 * expanded: no amplification). */
void ingest_xml_text(const xmlNode *n, struct buf *out);

/* JSON lines: more arrays, objects and members than this in one line and
 * the line is refused before jansson parses it (a 15 MB line of "[],"
 * took 690 MB and 2.4 s; a corpus line has a handful of members). */
#define INGEST_JSON_MAX_VALUES 65536
/* True when p[0..n) has at most INGEST_JSON_MAX_VALUES '{', '[' and ','
 * outside strings (a cheap linear scan; says nothing about validity). */
int ingest_json_line_ok(const char *p, size_t n);

/* Sets out's title from docProps/core.xml dc:title when the archive has a
 * non-empty one; anything missing or broken leaves the title alone. */
void ingest_core_title(zip_t *za, zip_uint64_t *budget, struct doc *out);

#endif
