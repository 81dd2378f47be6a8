/* Structure-aware chunking: turns a struct doc into retrieval units.
 * Regulations: 编/章/节 headings (Chinese or Arabic numerals, whether they
 * arrive as heading blocks or as paragraphs) build the path, one chunk per
 * 条 (第十二条, 第12条, 第十二条之一) including its 款 and 项; a cross-reference
 * inside an article ("依照本法第十二条的规定") is never taken for a heading.
 * Long articles are split at sentence boundaries into parts that keep the
 * label. Manuals: heading blocks and numbered clauses (一、 （一） 1. (1))
 * build the path. Tables: chunks of rows with the header row repeated. */
#ifndef ATRIUM_CHUNK_H
#define ATRIUM_CHUNK_H

#include <stddef.h>

#include "ingest/doc.h"

enum chunk_kind { CHUNK_ARTICLE = 1, CHUNK_SECTION, CHUNK_TABLE };

struct chunk {
    enum chunk_kind kind;
    char *label;   /* "第二十七条", "第十二条之一", a clause like "（三）", or "" */
    char *heading; /* path below the title, " › "-joined, ending with the label
                      when there is one: "第二章 汇票 › 第三节 背书 › 第二十七条" */
    char *text;    /* the chunk's text (for tables: header + rows, cells joined by " | ") */
    int part;      /* 1-based part of a split article; 1 when not split */
    int nparts;
    size_t block_first, block_last; /* range of doc blocks the chunk came from */
};

struct chunk_list {
    struct chunk *a;
    size_t n, cap;
};

struct chunk_opts {
    size_t max_chars;    /* split chunks longer than this many code points (default 800) */
    size_t target_chars; /* aim for parts about this long when splitting (default 500) */
    size_t table_rows;   /* data rows per table chunk (default 10) */
};

/* Chunks a document. opts may be NULL for the defaults. The returned list is
 * owned by the caller (chunk_list_release). Never fails except by aborting
 * on out-of-memory; an empty document yields zero chunks. */
void chunk_doc(const struct doc *d, const struct chunk_opts *opts, struct chunk_list *out);
void chunk_list_release(struct chunk_list *l);

/* Formats the citation path shown to users: "《title》 › heading". */
char *chunk_path(const char *title, const struct chunk *c);

#endif
