/* Chinese numerals in legal numbering (第一百零五条, 第十二章, 第12条): a strict
 * parser that rejects malformed forms ("十十", "一百二") so that numbering
 * stays unambiguous, and the canonical formatter (12 → 十二, 105 → 一百零五). */
#include "text/cnum.h"

#include <stdint.h>
#include <string.h>

#include "text/utf8.h"

#define CNUM_MAX 99999L

/* Digit value 0..9 of a Chinese digit, or -1. */
static int cn_digit(uint32_t cp)
{
    switch (cp) {
    case 0x3007: /* 〇 */
    case 0x96F6: /* 零 */
        return 0;
    case 0x4E00: /* 一 */
        return 1;
    case 0x4E8C: /* 二 */
    case 0x4E24: /* 两 */
        return 2;
    case 0x4E09: /* 三 */
        return 3;
    case 0x56DB: /* 四 */
        return 4;
    case 0x4E94: /* 五 */
        return 5;
    case 0x516D: /* 六 */
        return 6;
    case 0x4E03: /* 七 */
        return 7;
    case 0x516B: /* 八 */
        return 8;
    case 0x4E5D: /* 九 */
        return 9;
    default:
        return -1;
    }
}

/* Unit value of 十/百/千/万, or 0. */
static long cn_unit(uint32_t cp)
{
    switch (cp) {
    case 0x5341: /* 十 */
        return 10;
    case 0x767E: /* 百 */
        return 100;
    case 0x5343: /* 千 */
        return 1000;
    case 0x4E07: /* 万 */
        return 10000;
    default:
        return 0;
    }
}

/* Value of an ASCII or full-width digit, or -1. */
static int ar_digit(uint32_t cp)
{
    if (cp >= '0' && cp <= '9')
        return (int)(cp - '0');
    if (cp >= 0xFF10 && cp <= 0xFF19)
        return (int)(cp - 0xFF10);
    return -1;
}

/* Arabic digits (ASCII or full-width), at most 5 of them. */
static long parse_arabic(const char *p, size_t n)
{
    long v = 0;
    size_t i = 0, nd = 0;

    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode(p + i, n - i, &cp);
        int d = ar_digit(cp);
        if (d < 0 || ++nd > 5)
            return -1;
        v = v * 10 + d;
        i += k;
    }
    return nd ? v : -1;
}

/* Positional Chinese digits without units, e.g. 一〇五 = 105 (as in years). */
static long parse_positional(const uint32_t *cps, size_t ncp)
{
    long v = 0;

    if (ncp > 5)
        return -1;
    for (size_t i = 0; i < ncp; i++) {
        int d = cn_digit(cps[i]);
        if (d < 0)
            return -1;
        v = v * 10 + d;
    }
    return v;
}

/* The usual form with units. `section` collects the part below 万; units
 * inside a section must strictly decrease; 零 marks skipped units; a bare
 * leading 十 means 一十. A digit after 百/千 without 零 ("一百二") is
 * ambiguous shorthand and rejected. */
static long parse_units(const uint32_t *cps, size_t ncp)
{
    long total = 0, section = 0, last_unit = CNUM_MAX + 1;
    int pending = -1, zero = 0, saw_wan = 0;

    for (size_t i = 0; i < ncp; i++) {
        int d = cn_digit(cps[i]);
        long u = cn_unit(cps[i]);
        if (d == 0) {
            /* 零 only between a unit and what follows it */
            if (pending >= 0 || zero || (section == 0 && total == 0) || i + 1 == ncp)
                return -1;
            zero = 1;
        } else if (d > 0) {
            if (pending >= 0)
                return -1;
            pending = d;
        } else if (u == 10000) {
            if (saw_wan)
                return -1;
            if (pending >= 0) {
                if (!zero && last_unit > 10 && last_unit <= 1000)
                    return -1;
                section += pending;
            }
            if (section <= 0 || section > 9)
                return -1; /* we only go to 99999: one digit before 万 */
            total = section * 10000;
            section = 0;
            pending = -1;
            zero = 0;
            saw_wan = 1;
            last_unit = CNUM_MAX + 1;
        } else if (u > 0) {
            if (u >= last_unit)
                return -1;
            if (pending < 0) {
                /* 十 alone at the very start (十二 = 12, also 一万零十 is not canonical but clear)
                 */
                if (u != 10 || section != 0 || (total != 0 && !zero))
                    return -1;
                pending = 1;
            }
            section += (long)pending * u;
            pending = -1;
            zero = 0;
            last_unit = u;
        } else {
            return -1;
        }
    }
    if (pending >= 0) {
        if (!zero && last_unit > 10 && last_unit <= 1000)
            return -1; /* 一百二 */
        if (!zero && saw_wan && last_unit > 1000)
            return -1; /* 一万二 */
        section += pending;
    }
    total += section;
    return total;
}

long cnum_parse(const char *p, size_t n)
{
    uint32_t cps[16];
    size_t ncp = 0, i = 0;
    int has_unit = 0;

    if (!p || n == 0)
        return -1;
    {
        uint32_t cp;
        utf8_decode(p, n, &cp);
        if (ar_digit(cp) >= 0)
            return parse_arabic(p, n);
    }
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode(p + i, n - i, &cp);
        if (ncp == sizeof cps / sizeof cps[0])
            return -1;
        if (cn_digit(cp) < 0 && cn_unit(cp) == 0)
            return -1;
        if (cn_unit(cp))
            has_unit = 1;
        cps[ncp++] = cp;
        i += k;
    }
    if (!has_unit)
        return ncp == 1 || cn_digit(cps[0]) > 0 ? parse_positional(cps, ncp) : -1;
    return parse_units(cps, ncp);
}

/* Appends the UTF-8 of one character; 0 when it does not fit. */
static int put(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > cap)
        return 0;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return 1;
}

static const char *const cn_digits[10] = {"〇", "一", "二", "三", "四",
                                          "五", "六", "七", "八", "九"};
static const char *const cn_units[4] = {"", "十", "百", "千"};

/* Formats 0 < g < 10000. `top`: g opens the number, so 1x reads 十x. */
static int format_group(long g, int top, char *out, size_t cap, size_t *len)
{
    int started = 0, zero = 0;
    long div = 1000;

    for (int pos = 3; pos >= 0; pos--, div /= 10) {
        int d = (int)(g / div % 10);
        if (d == 0) {
            if (started)
                zero = 1;
            continue;
        }
        if (zero && !put(out, cap, len, "零"))
            return 0;
        zero = 0;
        if (!(pos == 1 && d == 1 && top && !started) && !put(out, cap, len, cn_digits[d]))
            return 0;
        if (!put(out, cap, len, cn_units[pos]))
            return 0;
        started = 1;
    }
    return 1;
}

size_t cnum_format(long v, char *out, size_t cap)
{
    size_t len = 0;
    int ok = 0;

    if (!out || cap == 0)
        return 0;
    out[0] = '\0';
    if (v < 0 || v > CNUM_MAX)
        goto out;
    if (v == 0) {
        ok = put(out, cap, &len, cn_digits[0]);
    } else if (v >= 10000) {
        long r = v % 10000;
        ok = put(out, cap, &len, cn_digits[v / 10000]) && put(out, cap, &len, "万") &&
             (r == 0 || r >= 1000 || put(out, cap, &len, "零")) &&
             (r == 0 || format_group(r, 0, out, cap, &len));
    } else {
        ok = format_group(v, 1, out, cap, &len);
    }
out:
    if (!ok) {
        out[0] = '\0';
        len = 0;
    }
    return len;
}
