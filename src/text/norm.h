/* Text normalisation for search: NFKC (full-width → half-width, compatibility
 * forms), traditional → simplified (OpenCC t2s plus bank characters it misses,
 * e.g. 帳→账), lower-casing (ASCII, plus ICU's simple mappings for other
 * scripts); controls, format characters (ZWSP, BOM, soft hyphen) and variation
 * selectors are dropped. Folding is per code point, so a folded token can
 * always be mapped back to a byte range of the original text. */
#ifndef ATRIUM_NORM_H
#define ATRIUM_NORM_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Loads the folding tables (ICU, OpenCC). Safe to call many times and from
 * many threads; the first call does the work (~30-40 ms of CPU, most of it
 * OpenCC). RC_OK, or RC_UNSUPPORTED when ICU or OpenCC cannot be opened:
 * folding then degrades (without ICU: ASCII lower-casing and full-width
 * ASCII only; without OpenCC: no t2s beyond the bank table), never crashes.
 * Every other norm_ function calls it itself. */
int norm_init(void);

/* Milliseconds the first norm_init took to build the tables (calls
 * norm_init). For startup diagnostics and benchmarks. */
double norm_init_ms(void);

/* Folds one code point into out (up to 8 code points, e.g. ㈠ → (一));
 * returns how many were written (0 means: drop it, e.g. a control char). */
size_t norm_fold_cp(uint32_t cp, uint32_t out[8]);

/* Folds UTF-8 text, appending to out (malformed bytes become U+FFFD).
 * RC_OK, or RC_TOO_BIG when out's cap is hit (out then holds a prefix of the
 * folded text). Lower-casing covers ASCII and ICU's simple case mappings. */
int norm_fold(const char *p, size_t n, struct buf *out);

/* For comparing answers: norm_fold, then drop all whitespace and fold
 * Chinese/ASCII punctuation variants to one form. */
int norm_for_match(const char *p, size_t n, struct buf *out);

#endif
