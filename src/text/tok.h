/* The Chinese search tokenizer, used for both indexing and queries (and
 * registered as the FTS5 tokenizer "atrium"). On folded text (norm.h) it
 * emits: lower-cased ASCII words and numbers; for each run of CJK characters
 * its character bigrams (a lone character is emitted as a unigram); and,
 * with TOK_WORDS, ICU dictionary words of three or more characters, which
 * bigrams alone cannot express. */
#ifndef ATRIUM_TOK_H
#define ATRIUM_TOK_H

#include <stddef.h>

enum tok_flags {
    TOK_BIGRAMS = 1,  /* CJK character bigrams (+ unigrams for lone chars) */
    TOK_WORDS = 2,    /* ICU dictionary words of >= 3 CJK chars */
    TOK_UNIGRAMS = 4, /* every CJK character as well */
    TOK_DEFAULT = TOK_BIGRAMS | TOK_WORDS,
};

/* Called once per token. `tok`/`n` is the folded token (not NUL-terminated);
 * [start, end) is its byte range in the original input. Return non-zero to
 * stop; tok_run then returns that value. */
typedef int (*tok_cb)(void *ctx, const char *tok, size_t n, size_t start, size_t end);

/* Tokenizes valid UTF-8 text (invalid bytes are skipped as separators).
 * Thread-safe (per-thread ICU state). Returns RC_OK or the callback's value. */
int tok_run(const char *text, size_t n, unsigned flags, tok_cb cb, void *ctx);

#endif
