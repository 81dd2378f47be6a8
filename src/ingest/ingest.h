/* File type detection and the parsers that turn files into struct doc.
 * Parsers treat every byte as hostile: size caps, zip-bomb checks, no
 * network access (XML_PARSE_NONET), invalid UTF-8 rejected or converted. */
#ifndef ATRIUM_INGEST_H
#define ATRIUM_INGEST_H

#include <stddef.h>

#include "common/buf.h"
#include "ingest/doc.h"

/* Inputs larger than this are refused with RC_TOO_BIG. */
#define INGEST_MAX_INPUT ((size_t)256 << 20)

enum ingest_type {
    INGEST_UNKNOWN = 0,
    INGEST_TXT,
    INGEST_MD,
    INGEST_HTML,
    INGEST_DOCX,
    INGEST_XLSX,
    INGEST_PDF,
    INGEST_JSONL,
};

/* Initialises the libraries the parsers use (libxml2). Call once from the
 * main thread before parsing on several threads; ingest_parse also calls
 * it, which is enough for single-threaded use. Safe to call repeatedly. */
void ingest_global_init(void);

/* Decides the type by content first (PDF magic, zip with word/ or xl/
 * entries, HTML tags, JSON lines), using the file name's extension only to
 * choose between text kinds (md vs txt) and to name a zip too broken to
 * open (x.docx -> INGEST_DOCX, so the parser reports it broken). Binary
 * junk (NUL bytes, neither UTF-8 nor GB18030) and zips that are neither
 * docx nor xlsx are INGEST_UNKNOWN; an empty input is INGEST_TXT (or MD by
 * extension) and ingest_parse then reports it empty. name may be NULL. */
enum ingest_type ingest_detect(const char *name, const void *data, size_t n);

/* "txt", "md", "html", "docx", "xlsx", "pdf", "jsonl" or "unknown". */
const char *ingest_type_name(enum ingest_type t);

/* Parses one file into *out (which the caller has doc_init'ed). What each
 * type yields: txt: a paragraph per non-empty line; md: # headings, pipe
 * tables, paragraphs (wrapped lines joined, no space between CJK), inline
 * markup and HTML comments stripped; html: h1-h6, block elements and <br>
 * as paragraph breaks, data tables (layout tables are read as blocks),
 * script/style/nav skipped; docx: heading styles (ids, styles.xml names,
 * outline levels), paragraphs (w:br splits), tables, text boxes; xlsx: per
 * sheet a level-1 heading (its name) and a table whose first row is the
 * header (numbers, booleans, dates as text); pdf: page text cut into
 * paragraphs heuristically (blank lines, 第X条/一、/（一） starts, short or
 * sentence-ending lines), page-number lines dropped. The title is
 * the document's own title (first heading, <title>, docx core title) or else
 * the file name without extension. Text that is not UTF-8 is converted from
 * GB18030 when that decodes cleanly. On failure returns RC_PARSE (broken
 * file), RC_UNSUPPORTED (INGEST_UNKNOWN / INGEST_JSONL), or RC_TOO_BIG,
 * with a zh-CN / English message appended to err; *out may hold partial
 * content and must still be released. An empty input, or one that yields
 * no text at all (e.g. a scanned PDF), is RC_PARSE. Inputs larger than
 * INGEST_MAX_INPUT are RC_TOO_BIG. Thread-safe (see ingest_global_init).
 * Side effect: the calling thread's libxml2 generic error handler is set
 * to a silent one (libxml2 would otherwise print to stderr). */
int ingest_parse(enum ingest_type t, const char *name, const void *data, size_t n, struct doc *out,
                 struct buf *err);

/* One document from a .jsonl corpus line {"id","title","text"}: text is
 * split into paragraphs at newlines; the title is "title" or else the id.
 * `doc` belongs to ingest_jsonl and is released after the call; to keep
 * it, copy the struct and doc_init(doc). Return non-zero to stop. */
typedef int (*ingest_jsonl_cb)(void *ctx, const char *id, struct doc *doc);

/* Calls cb for each well-formed line. A malformed line (bad JSON, missing
 * id/text, empty text, invalid UTF-8) is reported in err as "line N: ..."
 * (first 20 described, the rest counted) and skipped; so is a line with
 * more than 65536 JSON values (arrays, objects, members), refused before
 * it is parsed (memory). The id may be a string or an integer. Blank lines
 * are ignored.
 * Returns RC_OK when every line was good, RC_PARSE when some were skipped,
 * or the callback's non-zero value if it stopped. */
int ingest_jsonl(const void *data, size_t n, ingest_jsonl_cb cb, void *ctx, struct buf *err);

#endif
