/* Strict UTF-8 validation, decoding and encoding (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), plus the CJK ideograph test that the
 * tokenizer and folding tables use. */
#include "text/utf8.h"

/* Decodes one sequence; returns its length, or 0 when it is malformed (too
 * short, bad continuation byte, overlong, surrogate, above U+10FFFF). */
static size_t decode_strict(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c = s[0];
    size_t len = 0;

    if (c < 0x80) {
        *cp = c;
        len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            goto out;
        *cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            goto out;
        if (c == 0xE0 && s[1] < 0xA0) /* overlong */
            goto out;
        if (c == 0xED && s[1] >= 0xA0) /* surrogate D800..DFFF */
            goto out;
        *cp = ((c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        len = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            goto out;
        if (c == 0xF0 && s[1] < 0x90) /* overlong */
            goto out;
        if (c == 0xF4 && s[1] >= 0x90) /* above U+10FFFF */
            goto out;
        *cp = ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
              ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        len = 4;
    }
    /* 0x80..0xC1 and 0xF5..0xFF never start a sequence. */
out:
    return len;
}

int utf8_valid(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    uint32_t cp;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = decode_strict(s + i, n - i, &cp);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

size_t utf8_decode(const char *p, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t len;

    if (n == 0) { /* contract says n > 0; stay safe anyway */
        *cp = 0xFFFD;
        return 0;
    }
    len = decode_strict(s, n, cp);
    if (len == 0) {
        *cp = 0xFFFD;
        len = 1;
    }
    return len;
}

size_t utf8_encode(uint32_t cp, char out[4])
{
    unsigned char *o = (unsigned char *)out;

    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t utf8_count(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t count = 0;

    /* Count every byte that is not a continuation byte; exact for valid
     * input and bounded for anything else. */
    for (size_t i = 0; i < n; i++)
        count += (s[i] & 0xC0) != 0x80;
    return count;
}

size_t utf8_prefix(const char *p, size_t n, size_t chars)
{
    size_t i = 0;
    uint32_t cp;

    while (i < n && chars > 0) {
        i += utf8_decode(p + i, n - i, &cp);
        chars--;
    }
    return i;
}

int utf8_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) ||   /* URO */
           (cp >= 0x3400 && cp <= 0x4DBF) ||   /* Ext A */
           (cp >= 0xF900 && cp <= 0xFAFF) ||   /* compatibility ideographs */
           (cp >= 0x20000 && cp <= 0x2A6DF) || /* Ext B */
           (cp >= 0x2A700 && cp <= 0x2EBEF) || /* Ext C, D, E, F */
           (cp >= 0x2F800 && cp <= 0x2FA1F) || /* compatibility supplement */
           (cp >= 0x30000 && cp <= 0x3134F);   /* Ext G */
}
