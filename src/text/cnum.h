/* Chinese numerals as used in legal numbering: 一百二十三, 二十, 十二, 〇, 两,
 * and Arabic digits, in labels such as 第一百二十三条 / 第12条. */
#ifndef ATRIUM_CNUM_H
#define ATRIUM_CNUM_H

#include <stddef.h>

/* Parses a Chinese or Arabic numeral occupying all of p[0..n). Returns the
 * value (0..99999), or -1 when p is not a numeral. */
long cnum_parse(const char *p, size_t n);

/* Writes the canonical Chinese form of v (1..99999) into out, e.g. 123 →
 * "一百二十三", 10 → "十", 12 → "十二". Returns the length, or 0 when it
 * does not fit in cap bytes. */
size_t cnum_format(long v, char *out, size_t cap);

#endif
