/* UTF-8 validation and decoding. Every byte from outside is checked here
 * before any other text function sees it. */
#ifndef ATRIUM_UTF8_H
#define ATRIUM_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* True when p[0..n) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). NUL bytes are allowed by this check. */
int utf8_valid(const char *p, size_t n);

/* Decodes one code point at p (n bytes available). Returns the number of
 * bytes consumed (1..4) and sets *cp; on a malformed sequence returns 1 and
 * sets *cp to U+FFFD. n must be > 0. */
size_t utf8_decode(const char *p, size_t n, uint32_t *cp);

/* Encodes cp into out (4 bytes available); returns the length. */
size_t utf8_encode(uint32_t cp, char out[4]);

/* Number of code points in a valid UTF-8 string. */
size_t utf8_count(const char *p, size_t n);

/* Byte length of the longest prefix of p[0..n) that has at most `chars`
 * code points and does not cut a sequence. */
size_t utf8_prefix(const char *p, size_t n, size_t chars);

/* True for CJK ideographs (URO, Ext A–F, compatibility ideographs). */
int utf8_is_cjk(uint32_t cp);

#endif
