/* The one document model every parser produces: a title and a flat list of
 * blocks (headings with a level, paragraphs, tables). The heading tree is the
 * sequence of heading levels; the chunker (kb/chunk.h) builds paths from it.
 * All text is valid UTF-8, trimmed, without NUL bytes. */
#ifndef ATRIUM_DOC_H
#define ATRIUM_DOC_H

#include <stddef.h>

enum doc_block_kind { DOC_HEADING = 1, DOC_PARA, DOC_TABLE };

struct doc_table {
    size_t nrows, ncols;
    char **cells; /* nrows * ncols strings, row-major; "" for empty, never NULL */
};

struct doc_block {
    enum doc_block_kind kind;
    int level;              /* DOC_HEADING: 1 (top) .. 9; otherwise 0 */
    char *text;             /* DOC_HEADING, DOC_PARA: the text; DOC_TABLE: NULL */
    struct doc_table table; /* DOC_TABLE only; the first row is the header row */
};

struct doc {
    char *title; /* never NULL after doc_init ("" until set) */
    struct doc_block *blocks;
    size_t nblocks, cap;
};

void doc_init(struct doc *d);
void doc_release(struct doc *d);
/* Longest title kept, in characters (code points). */
#define DOC_TITLE_MAX_CHARS 200
/* Sets the title: normalised like paragraph text (below), then cut to
 * DOC_TITLE_MAX_CHARS characters (every chunk of the document carries it). */
void doc_set_title(struct doc *d, const char *p, size_t n);
/* These copy the text, trim surrounding whitespace (ASCII, U+3000 and the
 * Unicode spaces U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F),
 * collapse internal runs of whitespace to one space, and skip empty text.
 * The text must be valid UTF-8. (Defensively: control characters, NUL,
 * U+00A0, U+FEFF and U+200B count as whitespace, and a malformed byte is
 * replaced by U+FFFD, so the model's invariants hold for any input.) */
void doc_add_heading(struct doc *d, int level, const char *p, size_t n);
void doc_add_para(struct doc *d, const char *p, size_t n);
/* Takes ownership of `cells` (nrows*ncols malloc'd strings in a malloc'd
 * array; a NULL cell becomes ""). Each cell is normalised like paragraph
 * text. Tables with no rows or only empty cells are freed and skipped. */
void doc_add_table(struct doc *d, size_t nrows, size_t ncols, char **cells);
/* Total characters (code points) of text in the document: headings,
 * paragraphs and table cells (not the title). */
size_t doc_chars(const struct doc *d);

#endif
