/* Growable byte buffers with a cap. */
#include "common/buf.h"

#include "common/alloc.h"
#include "common/rc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

static int ensure(struct buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return RC_TOO_BIG;
    size_t need = b->len + extra + 1;
    if (need > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < need)
            c *= 2;
        b->p = xrealloc(b->p, c);
        b->cap = c;
    }
    return RC_OK;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
    int rc = ensure(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return RC_OK;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return RC_INVALID;
    int rc = ensure(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return RC_OK;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Zero when none of the eight bytes in x needs an escape (a control
 * character, '"' or '\\'), non-zero otherwise: the classic "has a zero byte"
 * and "has a byte less than n" tests, each exact about whether any byte
 * matches (though not about which). */
static uint64_t word_special(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"');
    uint64_t bs = x ^ (ONES * '\\');
    return (((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs)) & HIGHS;
}

/* The first i' >= i such that s[i'..i'+16) may hold a byte that needs an
 * escape, or fewer than 16 bytes are left: the hot loop, two words a turn. */
static size_t skip_clean(const char *s, size_t i, size_t n)
{
    while (n - i >= 16) {
        uint64_t x, y;
        memcpy(&x, s + i, 8);
        memcpy(&y, s + i + 8, 8);
        if (word_special(x) | word_special(y))
            break;
        i += 16;
    }
    return i;
}

int buf_add_json_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = buf_addc(b, '"');
    size_t run = 0, i = 0;
    while (i < n && rc == RC_OK) {
        i = skip_clean(s, i, n);
        size_t end = n - i >= 16 ? i + 16 : n; /* then byte by byte */
        for (; i < end && rc == RC_OK; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch >= 0x20 && ch != '"' && ch != '\\')
                continue;
            char esc[6] = {'\\', (char)ch, 0, 0, 0, 0};
            size_t len = 2;
            switch (ch) {
            case '"':
            case '\\':
                break;
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[ch >> 4];
                esc[5] = hex[ch & 15];
                len = 6;
            }
            rc = buf_add(b, s + run, i - run);
            if (rc == RC_OK)
                rc = buf_add(b, esc, len);
            run = i + 1;
        }
    }
    if (rc == RC_OK)
        rc = buf_add(b, s + run, n - run);
    return rc ? rc : buf_addc(b, '"');
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void buf_truncate(struct buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->p[len] = '\0';
}

void buf_release(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *p = b->p ? b->p : xstrdup("");
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *buf_str(const struct buf *b)
{
    return b->p ? b->p : "";
}
