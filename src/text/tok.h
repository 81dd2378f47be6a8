/* The Chinese search tokenizer, used for both indexing and queries (and
 * registered as the FTS5 tokenizer "atrium"). On folded text (norm.h) it
 * emits: lower-cased ASCII words and numbers; for each run of CJK characters
 * its character bigrams (a lone character is emitted as a unigram); and,
 * with TOK_WORDS, ICU dictionary words of three or more characters, which
 * bigrams alone cannot express. "CJK" here means ideographs (utf8_is_cjk),
 * 々, 〇, kana and Hangul syllables. */
#ifndef ATRIUM_TOK_H
#define ATRIUM_TOK_H

#include <stddef.h>

enum tok_flags {
    TOK_BIGRAMS = 1,  /* CJK character bigrams (+ unigrams for lone chars) */
    TOK_WORDS = 2,    /* ICU dictionary words of >= 3 CJK chars */
    TOK_UNIGRAMS = 4, /* every CJK character as well */
    TOK_DEFAULT = TOK_BIGRAMS | TOK_WORDS,
    /* With TOK_BIGRAMS: also the first and last character of each CJK run,
     * colocated. For indexes: a query whose CJK run is one character next
     * to a number or Latin word (ATM机, 第5条, U盾) is a phrase ending in a
     * unigram, which must match "ATM机每日" too. Never use it for queries:
     * colocated query tokens are alternatives and would widen phrases. */
    TOK_EDGES = 8,
};

/* Called once per token. `tok`/`n` is the folded token (not NUL-terminated);
 * [start, end) is its byte range in the original input. Return non-zero to
 * stop; tok_run then returns that value. */
typedef int (*tok_cb)(void *ctx, const char *tok, size_t n, size_t start, size_t end);

/* Tokenizes valid UTF-8 text (invalid bytes are skipped as separators).
 * Thread-safe (per-thread ICU state). Returns RC_OK or the callback's value.
 * `flags` with none of BIGRAMS/WORDS/UNIGRAMS set means TOK_DEFAULT.
 *
 * Details: ASCII/Latin letters and digits form one lower-cased word token
 * ("ABC123" → abc123, "U盾" → u + 盾); a '.' between digits stays inside
 * ("3.5" → 3.5, "v1.2" → v1.2) and an ASCII ',' between digits is dropped
 * ("50,000" → 50000). Word tokens are cut every 64 bytes. Everything else
 * (punctuation, spaces, symbols, emoji) separates tokens. */
int tok_run(const char *text, size_t n, unsigned flags, tok_cb cb, void *ctx);

/* Token flags passed to tok_cb_ex. TOK_COLOCATED: this token sits at the
 * same position as the previous one (a unigram or dictionary word sharing
 * the position of the bigram that starts at the same character), like
 * FTS5_TOKEN_COLOCATED. The first token is never colocated. */
enum tok_tflags { TOK_COLOCATED = 1 };

typedef int (*tok_cb_ex)(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                         unsigned tflags);

/* tok_run, also telling the callback which tokens are colocated. Position
 * layout of a CJK run c0..ck-1 (k >= 2) with bigrams: bigram i (ci ci+1) is
 * at position i; unigram i (TOK_UNIGRAMS, or an edge with TOK_EDGES) is
 * colocated with bigram min(i, k-2); a word starting at ci is colocated with
 * bigram i. Without bigrams the unigrams take the positions; with words
 * only, words do. Runs longer than 256 characters are processed in chunks
 * with the same layout (a word crossing a chunk border may be missed). */
int tok_run_ex(const char *text, size_t n, unsigned flags, tok_cb_ex cb, void *ctx);

#endif
