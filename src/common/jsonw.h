/* A fast compact serialiser for jansson trees into a struct buf, for the hot
 * paths (SSE events, stored citations, model request bodies). The output is
 * byte for byte what json_dumps(j, JSON_COMPACT | flags) gives, but strings
 * are escaped by a word-at-a-time byte scan instead of jansson's code point
 * by code point walk (jansson strings are valid UTF-8 already). */
#ifndef ATRIUM_JSONW_H
#define ATRIUM_JSONW_H

#include "common/buf.h"

#include <jansson.h>
#include <stddef.h>

/* Deeper trees (or a tree that contains itself) are refused with RC_INVALID. */
#define JSONW_MAX_DEPTH 64

/* Appends the compact JSON text of j to b, like json_dumps(j, JSON_COMPACT):
 * objects in jansson's iteration (insertion) order, reals as "%.17g" made to
 * read back as reals, any value accepted at the top (as JSON_ENCODE_ANY).
 * RC_OK; RC_TOO_BIG when b's max is hit; RC_INVALID for a NULL j, a tree
 * deeper than JSONW_MAX_DEPTH or a non-finite real. On failure b keeps what
 * it had before the call (it is truncated back). */
int jsonw_dump(struct buf *b, const json_t *j);

/* jsonw_dump with jansson's dump flags: JSON_REAL_PRECISION(n) and
 * JSON_SORT_KEYS are honoured; JSON_COMPACT, JSON_ENCODE_ANY and
 * JSON_PRESERVE_ORDER are accepted (the output is always compact, any value
 * is encoded, order is always kept); JSON_INDENT(n), JSON_ENSURE_ASCII,
 * JSON_ESCAPE_SLASH and JSON_EMBED give RC_INVALID. Same results as
 * jsonw_dump otherwise. */
int jsonw_dump_flags(struct buf *b, const json_t *j, size_t flags);

/* The compact JSON text of j (as jsonw_dump) as a malloc'd C string the
 * caller frees, or NULL on failure (NULL j, too deep, non-finite real). */
char *jsonw_str(const json_t *j);

#endif
