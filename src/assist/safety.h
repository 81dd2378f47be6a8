/* Safety layer of the assistant: the sensitive-word list (stored in the table
 * sensitive_words, matched with Aho–Corasick over folded code points, on whole
 * texts and on streamed deltas) and per-user rate limits (token buckets).
 * PII masking is in text/pii.h. See docs/SAFETY.md. */
#ifndef ATRIUM_SAFETY_H
#define ATRIUM_SAFETY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/db.h"

enum safety_action { SAFETY_BLOCK = 1, SAFETY_MASK = 2 };

/* "block" / "mask" (NULL for an unknown action), and back: the action, or 0
 * when the name is unknown. */
const char *safety_action_name(int action);
int safety_action_parse(const char *name);

/* A process-wide safety service: caches the compiled word matcher and holds
 * the rate limiter. Thread-safe. One per server (the CLI may pass NULL where
 * a function takes it). */
struct safety;

/* rate_per_min <= 0 means no rate limit; burst < 1 is taken as 1. Never NULL. */
struct safety *safety_new(int rate_per_min, int rate_burst);
void safety_free(struct safety *s);

/* ---- the word list (table sensitive_words) ---- */

#define SAFETY_WORD_MAX_CHARS 64 /* code points of one word */

struct safety_word {
    int64_t id;
    char *word;
    int action; /* enum safety_action */
    int64_t created_at;
};

/* Adds a word (trimmed of surrounding white space). RC_INVALID when it is
 * empty, not UTF-8, has control characters, is longer than
 * SAFETY_WORD_MAX_CHARS, folds to nothing, or action is unknown; RC_EXISTS
 * when the same word is already listed; RC_DB. On success bumps s's
 * generation (s may be NULL) so the next safety_matcher_get rebuilds. */
int safety_word_add(struct db_conn *d, struct safety *s, const char *word, int action);
/* Removes a word (exact, after trimming). RC_OK, RC_NOT_FOUND, RC_DB. */
int safety_word_remove(struct db_conn *d, struct safety *s, const char *word);
/* All words ordered by word into a malloc'd array (free with
 * safety_words_free). RC_OK or RC_DB (*out NULL, *n 0). */
int safety_word_list(struct db_conn *d, struct safety_word **out, size_t *n);
void safety_words_free(struct safety_word *w, size_t n);

/* ---- matching ---- */

/* An immutable compiled list, reference counted, shareable between threads. */
struct safety_matcher;

/* Compiles words (only .word and .action are read; words that fold to
 * nothing are skipped). Never NULL; an empty list matches nothing. The
 * caller holds one reference. */
struct safety_matcher *safety_matcher_build(const struct safety_word *w, size_t n);
/* Adds / drops a reference (unref frees at zero; NULL is a no-op). */
struct safety_matcher *safety_matcher_ref(struct safety_matcher *m);
void safety_matcher_unref(struct safety_matcher *m);
size_t safety_matcher_size(const struct safety_matcher *m);

/* The current matcher for s, with a reference for the caller (unref it when
 * the text or stream is done). Rebuilt from the table when the list changed
 * through safety_word_add/remove on s, and otherwise re-validated against
 * the table at most every 2 s (cheap fingerprint query) to notice changes
 * made by another process. On a store error the last good matcher is kept;
 * RC_DB only when there has never been one (*out NULL). */
int safety_matcher_get(struct safety *s, struct db_conn *d, struct safety_matcher **out);

enum safety_verdict { SAFETY_PASS = 0, SAFETY_MASKED = 1, SAFETY_BLOCKED = 2 };

/* What a check found; `word` is the configured word that blocked (for the
 * audit log, never for the user), "" otherwise. */
struct safety_result {
    int verdict;    /* enum safety_verdict */
    size_t nmasked; /* occurrences of mask words */
    char word[SAFETY_WORD_MAX_CHARS * 4 + 1];
};

/* Checks p[0..n): matching is on folded text (NFKC, traditional→simplified,
 * lower case; see text/norm.h), substring-wise, so 「ＡＢＣ」 and 「帳戶」
 * variants are caught. Unless blocked, appends the text to out with each
 * character covered by a mask word replaced by one '*'. Returns RC_OK (see
 * res->verdict) or RC_TOO_BIG (out's cap). On SAFETY_BLOCKED out holds an
 * unspecified prefix: do not show it. */
int safety_check(const struct safety_matcher *m, const char *p, size_t n, struct buf *out,
                 struct safety_result *res);

/* Streaming filter for model output: feed deltas, get filtered text. A tail
 * that may be the start of a word (at most the longest word's length in
 * characters, plus an incomplete UTF-8 sequence) is held back until decided,
 * so a word split over deltas is still caught. Feeding any split and then
 * finishing yields exactly safety_check of the whole text. Once blocked,
 * feed/finish return at once and emit nothing more. */
struct safety_stream;
/* Takes its own reference on m. Never NULL. */
struct safety_stream *safety_stream_new(struct safety_matcher *m);
void safety_stream_free(struct safety_stream *st);
/* Appends decided text to out; res (may be NULL) gets the verdict so far.
 * RC_OK or RC_TOO_BIG. */
int safety_stream_feed(struct safety_stream *st, const char *p, size_t n, struct buf *out,
                       struct safety_result *res);
/* Flushes what is held back (end of the answer). RC_OK or RC_TOO_BIG. */
int safety_stream_finish(struct safety_stream *st, struct buf *out, struct safety_result *res);

#define SAFETY_QUESTION_MAX 8192 /* bytes of a question */

/* What every asked question goes through first, the assistant's and an
 * agent's: *question (malloc'd) must be 1..SAFETY_QUESTION_MAX bytes of
 * UTF-8 (else RC_INVALID, err set). Then s's sensitive words (s may be
 * NULL: none; a list that cannot be read is skipped, as safety_matcher_get
 * says): *blocked is set for a blocked question, a masked one is replaced
 * by its starred text, and *filter gets a stream filter for the answer
 * when the list has words (left as it is otherwise). */
int safety_screen_question(struct safety *s, struct db_conn *d, char **question, int *blocked,
                           struct safety_stream **filter, struct buf *err);

/* ---- rate limits ---- */

/* Takes one request token from user_id's bucket (capacity rate_burst,
 * refilled at rate_per_min per minute). RC_OK, or RC_BUSY with
 * *retry_after_s (>= 1) set to the seconds until a token is available (for
 * HTTP 429 + Retry-After). Thread-safe; memory is bounded: idle users
 * (whose bucket is full again) are evicted when the table fills. The _at
 * form takes the time (monotonic milliseconds) so tests need no sleep. */
int safety_rate_take(struct safety *s, int64_t user_id, int *retry_after_s);
int safety_rate_take_at(struct safety *s, int64_t user_id, uint64_t now_ms, int *retry_after_s);
/* Users currently tracked (for tests and metrics). */
size_t safety_rate_users(struct safety *s);
/* Caps the tracked users (default 65536) for tests of eviction. */
void safety_rate_set_max_users(struct safety *s, size_t max);

#endif
