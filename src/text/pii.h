/* PII masking: finds 居民身份证号 (MOD 11-2 check digit, plausible birth date),
 * bank card numbers (16-19 digits, Luhn), mainland mobile numbers and e-mail
 * addresses in UTF-8 text, replaces them by placeholders ("[身份证1]") before
 * text goes to a model, and restores them in the model's answer (also when it
 * streams). Pure functions, no store; values are never logged. */
#ifndef ATRIUM_PII_H
#define ATRIUM_PII_H

#include <stddef.h>

#include "common/buf.h"

enum pii_kind { PII_IDCARD, PII_BANKCARD, PII_PHONE, PII_EMAIL, PII_NKINDS };

/* Stable ASCII name for audit and JSON ("idcard", "bankcard", "phone",
 * "email"), and the placeholder label ("身份证", "银行卡", "手机号", "邮箱").
 * Never NULL ("?" for an unknown kind). */
const char *pii_kind_name(int kind);
const char *pii_kind_label(int kind);

/* One detected occurrence: a byte range of the input. */
struct pii_hit {
    int kind; /* enum pii_kind */
    size_t off, len;
};

/* Finds the PII in p[0..n) (any bytes; malformed UTF-8 just separates).
 * Writes up to `max` hits, in text order and never overlapping, into hits
 * (may be NULL when max is 0) and returns how many there are in all (which
 * may exceed max). Digits may be ASCII or full-width (０-９); a match is never
 * part of a longer run of digits or ASCII letters; an 18-digit number that is
 * a valid ID number is an ID card, not a bank card; an e-mail wins over the
 * digits inside it. */
size_t pii_find(const char *p, size_t n, struct pii_hit *hits, size_t max);

/* Counts the occurrences of each kind in p[0..n) into counts[PII_NKINDS]
 * (overwritten). For tests and the audit (kinds and counts, never values). */
void pii_count(const char *p, size_t n, size_t counts[PII_NKINDS]);

/* A mapping between placeholders and original values, for one conversation.
 * The same original (byte for byte) always gets the same placeholder; numbers
 * count per kind from 1 and skip numbers that already appear literally as
 * placeholder-shaped text in masked input, so that unmask(mask(x)) == x. */
struct pii_map;

/* A new, empty mapping (never NULL: allocation failure aborts). */
struct pii_map *pii_map_new(void);
void pii_map_free(struct pii_map *m);

/* Number of distinct values in the mapping, all kinds or one kind. */
size_t pii_map_size(const struct pii_map *m);
size_t pii_map_kind_size(const struct pii_map *m, int kind);

/* Appends p[0..n) to out with every PII occurrence replaced by its
 * placeholder, adding new values to m (a map may be used for many texts of
 * one conversation: earlier placeholders keep their numbers). RC_OK, or
 * RC_TOO_BIG when out's cap is hit (out then holds a prefix; m may have
 * gained entries) or the map holds too many values (PII_MAP_MAX). */
#define PII_MAP_MAX 100000
int pii_mask(struct pii_map *m, const char *p, size_t n, struct buf *out);

/* Appends p[0..n) to out with every placeholder of m ("[手机号1]") replaced
 * by its original value. Placeholder-shaped text not in m (the model made it
 * up) is copied as it is. RC_OK or RC_TOO_BIG (out holds a prefix). */
int pii_unmask(const struct pii_map *m, const char *p, size_t n, struct buf *out);

/* Streaming unmask for a model's answer arriving in deltas. Feed each delta;
 * text that is decided is appended to out, while a tail that may still be
 * the start of a placeholder ("[手", "[手机号1") is held back (at most
 * PII_HOLD_MAX bytes) until the next delta or pii_unmasker_finish decides.
 * Feeding any split of a text then finishing gives exactly pii_unmask of the
 * whole text. The map must outlive the unmasker and must not change while
 * it is in use by another thread. */
#define PII_HOLD_MAX 32
struct pii_unmasker {
    const struct pii_map *map;
    char hold[PII_HOLD_MAX];
    size_t nhold;
};
/* Starts a stream over m (no allocation; nothing to release). */
void pii_unmasker_init(struct pii_unmasker *u, const struct pii_map *m);
/* RC_OK or RC_TOO_BIG (out's cap hit; the stream is then unusable). */
int pii_unmasker_feed(struct pii_unmasker *u, const char *p, size_t n, struct buf *out);
/* Flushes the held-back tail (copied as it is when not a placeholder).
 * RC_OK or RC_TOO_BIG. The unmasker may be reused after it. */
int pii_unmasker_finish(struct pii_unmasker *u, struct buf *out);

/* Checks used by the detector, exported for tests: an 18-character ID
 * number (ASCII digits, last may be X/x) with a valid MOD 11-2 check digit
 * and birth date; a digit string passing Luhn. */
int pii_idcard_valid(const char *s18);
int pii_luhn_valid(const char *digits, size_t n);

#endif
