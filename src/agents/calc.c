/* The calculator: a recursive-descent parser over an ASCII-folded copy of
 * the expression, evaluating into arbitrary-precision decimals (calc.h). */
#include "agents/calc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/rc.h"

#define BASE 1000000000u

/* ---- big unsigned integers: base 10^9 limbs, little-endian, no leading zero limbs ---- */
struct bn {
    uint32_t *d;
    size_t n; /* 0 = zero */
};

static void bn_free(struct bn *a)
{
    free(a->d);
    a->d = NULL;
    a->n = 0;
}

static struct bn bn_alloc(size_t n)
{
    struct bn r;
    r.d = n ? xcalloc(n, sizeof *r.d) : NULL;
    r.n = n;
    return r;
}

static void bn_trim(struct bn *a)
{
    while (a->n && a->d[a->n - 1] == 0)
        a->n--;
}

static struct bn bn_copy(const struct bn *a)
{
    struct bn r = bn_alloc(a->n);
    if (a->n)
        memcpy(r.d, a->d, a->n * sizeof *a->d);
    return r;
}

static struct bn bn_small(uint32_t v)
{
    struct bn r = bn_alloc(v ? 1 : 0);
    if (v)
        r.d[0] = v;
    return r;
}

static int bn_cmp(const struct bn *a, const struct bn *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (size_t i = a->n; i-- > 0;)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static struct bn bn_add(const struct bn *a, const struct bn *b)
{
    size_t n = (a->n > b->n ? a->n : b->n) + 1;
    struct bn r = bn_alloc(n);
    uint32_t carry = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = (uint64_t)carry + (i < a->n ? a->d[i] : 0) + (i < b->n ? b->d[i] : 0);
        r.d[i] = (uint32_t)(s % BASE);
        carry = (uint32_t)(s / BASE);
    }
    bn_trim(&r);
    return r;
}

/* a - b with a >= b. */
static struct bn bn_sub(const struct bn *a, const struct bn *b)
{
    struct bn r = bn_alloc(a->n);
    int64_t borrow = 0;
    for (size_t i = 0; i < a->n; i++) {
        int64_t s = (int64_t)a->d[i] - borrow - (i < b->n ? b->d[i] : 0);
        borrow = 0;
        if (s < 0) {
            s += BASE;
            borrow = 1;
        }
        r.d[i] = (uint32_t)s;
    }
    bn_trim(&r);
    return r;
}

static struct bn bn_mul(const struct bn *a, const struct bn *b)
{
    if (!a->n || !b->n)
        return bn_alloc(0);
    struct bn r = bn_alloc(a->n + b->n);
    for (size_t i = 0; i < a->n; i++) {
        uint64_t carry = 0;
        for (size_t j = 0; j < b->n; j++) {
            uint64_t t = (uint64_t)a->d[i] * b->d[j] + r.d[i + j] + carry;
            r.d[i + j] = (uint32_t)(t % BASE);
            carry = t / BASE;
        }
        size_t k = i + b->n;
        while (carry) {
            uint64_t t = (uint64_t)r.d[k] + carry;
            r.d[k] = (uint32_t)(t % BASE);
            carry = t / BASE;
            k++;
        }
    }
    bn_trim(&r);
    return r;
}

/* a * m + add in place (m, add < BASE). */
static void bn_muladd_small(struct bn *a, uint32_t m, uint32_t add)
{
    uint64_t carry = add;
    for (size_t i = 0; i < a->n; i++) {
        uint64_t t = (uint64_t)a->d[i] * m + carry;
        a->d[i] = (uint32_t)(t % BASE);
        carry = t / BASE;
    }
    if (carry) {
        a->d = xrealloc(a->d, (a->n + 1) * sizeof *a->d);
        a->d[a->n++] = (uint32_t)carry;
    }
    bn_trim(a);
}

static struct bn bn_pow10(size_t k)
{
    struct bn r = bn_alloc(k / 9 + 1);
    uint32_t v = 1;
    for (size_t i = 0; i < k % 9; i++)
        v *= 10;
    r.d[k / 9] = v;
    return r;
}

/* Knuth algorithm D: q = a / b, r = a % b (b != 0). Either out may be NULL. */
static void bn_divmod(const struct bn *a, const struct bn *b, struct bn *q, struct bn *r)
{
    if (bn_cmp(a, b) < 0) {
        if (q)
            *q = bn_alloc(0);
        if (r)
            *r = bn_copy(a);
        return;
    }
    size_t n = b->n, m = a->n - b->n;
    if (n == 1) {
        struct bn qq = bn_alloc(a->n);
        uint64_t rem = 0;
        for (size_t i = a->n; i-- > 0;) {
            uint64_t cur = rem * BASE + a->d[i];
            qq.d[i] = (uint32_t)(cur / b->d[0]);
            rem = cur % b->d[0];
        }
        bn_trim(&qq);
        if (q)
            *q = qq;
        else
            bn_free(&qq);
        if (r)
            *r = bn_small((uint32_t)rem);
        return;
    }
    uint32_t f = (uint32_t)(BASE / ((uint64_t)b->d[n - 1] + 1));
    struct bn u = bn_alloc(a->n + 1), v = bn_copy(b);
    memcpy(u.d, a->d, a->n * sizeof *u.d);
    u.n = a->n;
    {
        uint64_t carry = 0;
        for (size_t i = 0; i < u.n; i++) {
            uint64_t t = (uint64_t)u.d[i] * f + carry;
            u.d[i] = (uint32_t)(t % BASE);
            carry = t / BASE;
        }
        u.d[a->n] = (uint32_t)carry;
        u.n = a->n + 1;
        carry = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t t = (uint64_t)v.d[i] * f + carry;
            v.d[i] = (uint32_t)(t % BASE);
            carry = t / BASE;
        }
    }
    struct bn qq = bn_alloc(m + 1);
    uint64_t vt = v.d[n - 1], vs = v.d[n - 2];
    for (size_t j = m + 1; j-- > 0;) {
        uint64_t num = (uint64_t)u.d[j + n] * BASE + u.d[j + n - 1];
        uint64_t qhat = num / vt, rhat = num % vt;
        while (qhat >= BASE || qhat * vs > rhat * BASE + u.d[j + n - 2]) {
            qhat--;
            rhat += vt;
            if (rhat >= BASE)
                break;
        }
        int64_t borrow = 0;
        uint64_t carry = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t p = qhat * v.d[i] + carry;
            carry = p / BASE;
            int64_t t = (int64_t)u.d[i + j] - (int64_t)(p % BASE) - borrow;
            borrow = 0;
            if (t < 0) {
                t += BASE;
                borrow = 1;
            }
            u.d[i + j] = (uint32_t)t;
        }
        int64_t t = (int64_t)u.d[j + n] - (int64_t)carry - borrow;
        if (t < 0) {
            u.d[j + n] = (uint32_t)(t + BASE);
            /* qhat was one too big: add v back */
            qhat--;
            uint64_t c = 0;
            for (size_t i = 0; i < n; i++) {
                uint64_t s = (uint64_t)u.d[i + j] + v.d[i] + c;
                u.d[i + j] = (uint32_t)(s % BASE);
                c = s / BASE;
            }
            u.d[j + n] = (uint32_t)(((uint64_t)u.d[j + n] + c) % BASE);
        } else {
            u.d[j + n] = (uint32_t)t;
        }
        qq.d[j] = (uint32_t)qhat;
    }
    bn_trim(&qq);
    if (q)
        *q = qq;
    else
        bn_free(&qq);
    if (r) {
        u.n = n;
        bn_trim(&u);
        uint64_t rem = 0;
        for (size_t i = u.n; i-- > 0;) {
            uint64_t cur = rem * BASE + u.d[i];
            u.d[i] = (uint32_t)(cur / f);
            rem = cur % f;
        }
        bn_trim(&u);
        *r = u;
        u.d = NULL;
    }
    bn_free(&u);
    bn_free(&v);
}

static size_t bn_ndigits(const struct bn *a)
{
    if (!a->n)
        return 0;
    size_t d = (a->n - 1) * 9;
    for (uint32_t t = a->d[a->n - 1]; t; t /= 10)
        d++;
    return d;
}

/* Decimal digits, at least one ("0"). */
static char *bn_str(const struct bn *a)
{
    if (!a->n)
        return xstrdup("0");
    char *s = xmalloc(a->n * 9 + 1), *p = s;
    for (size_t i = a->n; i-- > 0;) {
        char tmp[10];
        int k = 0;
        uint32_t t = a->d[i];
        for (int j = 0; j < 9; j++) {
            tmp[k++] = (char)('0' + t % 10);
            t /= 10;
        }
        int start = 8;
        if (i == a->n - 1)
            while (start > 0 && tmp[start] == '0')
                start--;
        for (int j = start; j >= 0; j--)
            *p++ = tmp[j];
    }
    *p = '\0';
    return s;
}

/* ---- decimals: (-1)^neg * m / 10^scale ---- */
struct dec {
    struct bn m;
    int neg;
    size_t scale;
    int inexact;
};

enum rmode { R_HALF_UP, R_HALF_EVEN, R_FLOOR, R_CEIL, R_TRUNC };

static void dec_free(struct dec *a)
{
    bn_free(&a->m);
}

static int dec_is_zero(const struct dec *a)
{
    return a->m.n == 0;
}

static struct bn bn_scale_up(const struct bn *a, size_t k)
{
    if (!k)
        return bn_copy(a);
    struct bn p = bn_pow10(k);
    struct bn r = bn_mul(a, &p);
    bn_free(&p);
    return r;
}

/* Drops trailing fractional zeros. */
static void dec_strip(struct dec *a)
{
    if (!a->m.n) {
        a->scale = 0;
        a->neg = 0;
        return;
    }
    while (a->scale > 0) {
        size_t k = a->scale < 9 ? a->scale : 9;
        uint32_t p = 1;
        for (size_t i = 0; i < k; i++)
            p *= 10;
        /* find how many of the k lowest digits are zero */
        uint32_t low = a->m.d[0] % p;
        if (low != 0) {
            size_t z = 0;
            while (low % 10 == 0) {
                low /= 10;
                z++;
            }
            if (!z)
                return;
            k = z;
            p = 1;
            for (size_t i = 0; i < k; i++)
                p *= 10;
        }
        struct bn div = bn_small(p), q;
        bn_divmod(&a->m, &div, &q, NULL);
        bn_free(&div);
        bn_free(&a->m);
        a->m = q;
        a->scale -= k;
    }
}

/* Rounds a to `places` decimal places (a no-op when it has fewer). */
static void dec_round(struct dec *a, size_t places, enum rmode mode)
{
    if (a->scale <= places)
        return;
    struct bn p = bn_pow10(a->scale - places), q, r;
    bn_divmod(&a->m, &p, &q, &r);
    int up = 0;
    if (r.n) {
        struct bn r2 = bn_add(&r, &r);
        int c = bn_cmp(&r2, &p);
        bn_free(&r2);
        switch (mode) {
        case R_HALF_UP:
            up = c >= 0;
            break;
        case R_HALF_EVEN:
            up = c > 0 || (c == 0 && q.n && (q.d[0] & 1));
            break;
        case R_FLOOR:
            up = a->neg;
            break;
        case R_CEIL:
            up = !a->neg;
            break;
        case R_TRUNC:
            up = 0;
            break;
        }
    }
    if (up)
        bn_muladd_small(&q, 1, 1);
    bn_free(&p);
    bn_free(&r);
    bn_free(&a->m);
    a->m = q;
    a->scale = places;
    if (!a->m.n)
        a->neg = 0;
}

/* The plain decimal text with exactly `places` places (pads zeros). */
static char *dec_str(const struct dec *a, size_t places)
{
    char *digits = bn_str(&a->m);
    size_t nd = strlen(digits);
    struct buf b = BUF_INIT;
    if (a->neg && a->m.n)
        (void)buf_addc(&b, '-');
    size_t sc = a->scale;
    if (nd <= sc) {
        (void)buf_addc(&b, '0');
        if (places) {
            (void)buf_addc(&b, '.');
            for (size_t i = nd; i < sc; i++)
                (void)buf_addc(&b, '0');
            (void)buf_add(&b, digits, nd);
        }
    } else {
        (void)buf_add(&b, digits, nd - sc);
        if (places) {
            (void)buf_addc(&b, '.');
            (void)buf_add(&b, digits + nd - sc, sc);
        }
    }
    if (places > sc) {
        for (size_t i = sc; i < places; i++)
            (void)buf_addc(&b, '0');
    }
    free(digits);
    return buf_detach(&b, NULL);
}

/* ---- the parser ---- */
struct tokc {
    char c;     /* the ASCII-folded character */
    size_t pos; /* 1-based character position in the original */
};

struct parser {
    struct tokc *s;
    size_t n, i;
    int depth;
    int rc;
    struct buf *err;
};

static size_t here(const struct parser *p)
{
    return p->i < p->n ? p->s[p->i].pos : (p->n ? p->s[p->n - 1].pos + 1 : 1);
}

static void fail(struct parser *p, int rc, const char *zh, const char *en)
{
    if (p->rc)
        return;
    p->rc = rc;
    if (p->err)
        (void)buf_addf(p->err, "%s / %s", zh, en);
}

static void fail_at(struct parser *p, const char *zh, const char *en)
{
    if (p->rc)
        return;
    size_t pos = here(p);
    p->rc = RC_INVALID;
    if (p->err)
        (void)buf_addf(p->err, "表达式第 %zu 个字符处%s / %s at character %zu", pos, zh, en, pos);
}

/* Checks the digit limit; frees nothing. */
static int check_size(struct parser *p, struct dec *a)
{
    dec_strip(a);
    size_t nd = bn_ndigits(&a->m);
    if (nd > CALC_MAX_DIGITS || a->scale > CALC_MAX_DIGITS) {
        fail(p, RC_TOO_BIG, "数值超过 1000 位数字", "a value exceeds 1000 digits");
        return 0;
    }
    return 1;
}

static struct dec dec_zero(void)
{
    struct dec z = {{NULL, 0}, 0, 0, 0};
    return z;
}

static struct dec dec_addsub(struct parser *p, struct dec *a, struct dec *b, int negb)
{
    struct dec r = dec_zero();
    size_t sc = a->scale > b->scale ? a->scale : b->scale;
    struct bn am = bn_scale_up(&a->m, sc - a->scale), bm = bn_scale_up(&b->m, sc - b->scale);
    int bneg = b->neg ^ negb;
    if (a->neg == bneg) {
        r.m = bn_add(&am, &bm);
        r.neg = a->neg;
    } else if (bn_cmp(&am, &bm) >= 0) {
        r.m = bn_sub(&am, &bm);
        r.neg = a->neg;
    } else {
        r.m = bn_sub(&bm, &am);
        r.neg = bneg;
    }
    r.scale = sc;
    r.inexact = a->inexact | b->inexact;
    bn_free(&am);
    bn_free(&bm);
    (void)check_size(p, &r);
    return r;
}

static struct dec dec_mul(struct parser *p, struct dec *a, struct dec *b)
{
    struct dec r = dec_zero();
    r.m = bn_mul(&a->m, &b->m);
    r.neg = a->neg ^ b->neg;
    r.scale = a->scale + b->scale;
    r.inexact = a->inexact | b->inexact;
    (void)check_size(p, &r);
    return r;
}

static struct dec dec_div(struct parser *p, struct dec *a, struct dec *b)
{
    struct dec r = dec_zero();
    if (dec_is_zero(b)) {
        fail(p, RC_INVALID, "除数为零", "division by zero");
        return r;
    }
    size_t R = a->scale > CALC_DIV_PLACES ? a->scale : CALC_DIV_PLACES;
    /* q = a.m * 10^(R + b.scale - a.scale) / b.m, scale R */
    struct bn num = bn_scale_up(&a->m, R + b->scale - a->scale), q, rem;
    bn_divmod(&num, &b->m, &q, &rem);
    if (rem.n) {
        r.inexact = 1;
        struct bn r2 = bn_add(&rem, &rem);
        if (bn_cmp(&r2, &b->m) >= 0)
            bn_muladd_small(&q, 1, 1);
        bn_free(&r2);
    }
    bn_free(&num);
    bn_free(&rem);
    r.m = q;
    r.scale = R;
    r.neg = a->neg ^ b->neg;
    r.inexact |= a->inexact | b->inexact;
    (void)check_size(p, &r);
    return r;
}

/* An integer value of a, within [lo, hi]; 0 and a failure otherwise. */
static int dec_int(struct parser *p, struct dec *a, long lo, long hi, long *out, const char *zh,
                   const char *en)
{
    dec_strip(a);
    if (a->scale != 0 || a->m.n > 1 || (a->m.n && a->m.d[0] > 1000000)) {
        fail(p, RC_INVALID, zh, en);
        return 0;
    }
    long v = a->m.n ? (long)a->m.d[0] : 0;
    if (a->neg)
        v = -v;
    if (v < lo || v > hi) {
        fail(p, RC_INVALID, zh, en);
        return 0;
    }
    *out = v;
    return 1;
}

static struct dec dec_pow(struct parser *p, struct dec *a, struct dec *e)
{
    struct dec r = dec_zero();
    long n;
    if (!dec_int(p, e, -CALC_MAX_EXP, CALC_MAX_EXP, &n, "指数须为 -10000 到 10000 之间的整数",
                 "the exponent must be an integer between -10000 and 10000"))
        return r;
    unsigned long k = (unsigned long)(n < 0 ? -n : n);
    if (dec_is_zero(a) && n < 0) {
        fail(p, RC_INVALID, "除数为零", "division by zero");
        return r;
    }
    struct dec acc = dec_zero(), base = dec_zero();
    acc.m = bn_small(1);
    base.m = bn_copy(&a->m);
    base.neg = a->neg;
    base.scale = a->scale;
    base.inexact = a->inexact;
    acc.inexact = a->inexact;
    while (k && !p->rc) {
        if (k & 1) {
            struct dec t = dec_mul(p, &acc, &base);
            dec_free(&acc);
            acc = t;
        }
        k >>= 1;
        if (k && !p->rc) {
            struct dec t = dec_mul(p, &base, &base);
            dec_free(&base);
            base = t;
        }
    }
    dec_free(&base);
    if (p->rc) {
        dec_free(&acc);
        return r;
    }
    if (n < 0) {
        struct dec one = dec_zero();
        one.m = bn_small(1);
        r = dec_div(p, &one, &acc);
        dec_free(&one);
        dec_free(&acc);
        return r;
    }
    return acc;
}

static struct dec parse_expr(struct parser *p);

static void skip_ws(struct parser *p)
{
    while (p->i < p->n && p->s[p->i].c == ' ')
        p->i++;
}

static int peek(struct parser *p)
{
    skip_ws(p);
    return p->i < p->n ? p->s[p->i].c : 0;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static struct dec parse_number(struct parser *p)
{
    struct dec r = dec_zero();
    size_t nd = 0, frac = 0;
    int seen_dot = 0, seen_digit = 0;
    while (p->i < p->n) {
        char c = p->s[p->i].c;
        if (is_digit(c)) {
            seen_digit = 1;
            /* A leading zero of the integer part ("0.5", "007") is not a
             * digit of the value: the limit counts what check_size counts,
             * so every printed result parses again. */
            int leading_zero = !seen_dot && c == '0' && r.m.n == 0;
            if (!leading_zero && ++nd > CALC_MAX_DIGITS) {
                fail(p, RC_TOO_BIG, "数值超过 1000 位数字", "a value exceeds 1000 digits");
                return r;
            }
            bn_muladd_small(&r.m, 10, (uint32_t)(c - '0'));
            if (seen_dot)
                frac++;
        } else if (c == '.' && !seen_dot) {
            seen_dot = 1;
        } else {
            break;
        }
        p->i++;
    }
    if (!seen_digit) {
        fail_at(p, "数字不完整", "incomplete number");
        return r;
    }
    r.scale = frac;
    if (p->i < p->n) {
        char c = p->s[p->i].c;
        if (c == '.') {
            fail_at(p, "数字中有多余的小数点", "extra decimal point in a number");
            return r;
        }
        if ((c >= 'a' && c <= 'z') || c == '_') {
            fail_at(p, "数字后不能直接跟字母（不支持科学计数法）",
                    "a letter right after a number (no exponent notation)");
            return r;
        }
        if (c == ',' && !seen_dot && p->i + 3 < p->n + 1) {
            /* "1,000": a thousands separator, refused rather than guessed */
            size_t j = p->i + 1, k = 0;
            while (j < p->n && is_digit(p->s[j].c))
                j++, k++;
            if (k == 3 && (j >= p->n || p->s[j].c != '.')) {
                fail_at(p, "不支持千位分隔符，请去掉逗号",
                        "thousands separators are not accepted: remove the commas");
                return r;
            }
        }
    }
    skip_ws(p);
    if (p->i < p->n && p->s[p->i].c == '%') {
        p->i++;
        r.scale += 2;
    }
    (void)check_size(p, &r);
    return r;
}

struct fn {
    const char *name;
    int kind; /* 0 round-like (x[, n]), 1 min, 2 max, 3 abs */
    enum rmode mode;
};

static const struct fn fns[] = {
    {"round", 0, R_HALF_UP}, {"round_even", 0, R_HALF_EVEN},
    {"floor", 0, R_FLOOR},   {"ceil", 0, R_CEIL},
    {"trunc", 0, R_TRUNC},   {"min", 1, R_TRUNC},
    {"max", 2, R_TRUNC},     {"abs", 3, R_TRUNC},
};

static int dec_cmp(const struct dec *a, const struct dec *b)
{
    int sa = dec_is_zero(a) ? 0 : (a->neg ? -1 : 1), sb = dec_is_zero(b) ? 0 : (b->neg ? -1 : 1);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (!sa)
        return 0;
    size_t sc = a->scale > b->scale ? a->scale : b->scale;
    struct bn am = bn_scale_up(&a->m, sc - a->scale), bm = bn_scale_up(&b->m, sc - b->scale);
    int c = bn_cmp(&am, &bm);
    bn_free(&am);
    bn_free(&bm);
    return sa < 0 ? -c : c;
}

static struct dec parse_call(struct parser *p, const char *name, size_t namelen, size_t namepos)
{
    struct dec r = dec_zero();
    const struct fn *f = NULL;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strlen(fns[i].name) == namelen && !memcmp(fns[i].name, name, namelen))
            f = &fns[i];
    if (!f) {
        if (!p->rc && p->err)
            (void)buf_addf(p->err,
                           "表达式第 %zu 个字符处：未知函数 %.*s / unknown function %.*s at "
                           "character %zu",
                           namepos, (int)namelen, name, (int)namelen, name, namepos);
        if (!p->rc)
            p->rc = RC_INVALID;
        return r;
    }
    if (peek(p) != '(') {
        fail_at(p, "函数名后须有括号", "a function name must be followed by '('");
        return r;
    }
    p->i++;
    struct dec args[64];
    size_t na = 0;
    if (peek(p) != ')') {
        for (;;) {
            if (na == 64) {
                fail_at(p, "函数参数过多", "too many function arguments");
                break;
            }
            args[na++] = parse_expr(p);
            if (p->rc)
                break;
            int c = peek(p);
            if (c == ',') {
                p->i++;
                continue;
            }
            if (c != ')')
                fail_at(p, "缺少右括号或逗号", "expected ')' or ','");
            break;
        }
    }
    if (!p->rc && peek(p) == ')')
        p->i++;
    else if (!p->rc)
        fail_at(p, "缺少右括号", "expected ')'");
    if (p->rc)
        goto out;
    if (f->kind == 0) {
        long places = 0;
        if (na < 1 || na > 2) {
            fail(p, RC_INVALID, "round/floor/ceil 需要 1 或 2 个参数 (x, 小数位数)",
                 "round/floor/ceil take 1 or 2 arguments (x, places)");
            goto out;
        }
        if (na == 2 &&
            !dec_int(p, &args[1], 0, CALC_MAX_SCALE, &places, "小数位数须为 0 到 100 的整数",
                     "places must be an integer from 0 to 100"))
            goto out;
        r = args[0];
        args[0] = dec_zero();
        dec_round(&r, (size_t)places, f->mode);
        r.inexact = 0; /* a rounded value is exactly what was asked for */
        dec_strip(&r);
    } else if (f->kind == 3) {
        if (na != 1) {
            fail(p, RC_INVALID, "abs 需要 1 个参数", "abs takes 1 argument");
            goto out;
        }
        r = args[0];
        args[0] = dec_zero();
        r.neg = 0;
    } else {
        if (na < 1) {
            fail(p, RC_INVALID, "min/max 至少需要 1 个参数", "min/max take at least 1 argument");
            goto out;
        }
        size_t best = 0;
        for (size_t i = 1; i < na; i++) {
            int c = dec_cmp(&args[i], &args[best]);
            if ((f->kind == 1 && c < 0) || (f->kind == 2 && c > 0))
                best = i;
        }
        r = args[best];
        args[best] = dec_zero();
    }
out:
    for (size_t i = 0; i < na; i++)
        dec_free(&args[i]);
    return r;
}

static struct dec parse_unary(struct parser *p);

static struct dec parse_primary(struct parser *p)
{
    struct dec r = dec_zero();
    int c = peek(p);
    if (is_digit(c) || c == '.')
        return parse_number(p);
    if (c == '(') {
        p->i++;
        r = parse_expr(p);
        if (p->rc)
            return r;
        if (peek(p) != ')') {
            fail_at(p, "缺少右括号", "expected ')'");
            return r;
        }
        p->i++;
        return r;
    }
    if ((c >= 'a' && c <= 'z') || c == '_') {
        char name[32];
        size_t len = 0, pos = here(p);
        while (p->i < p->n && ((p->s[p->i].c >= 'a' && p->s[p->i].c <= 'z') ||
                               p->s[p->i].c == '_' || is_digit(p->s[p->i].c))) {
            if (len < sizeof name)
                name[len] = p->s[p->i].c;
            len++;
            p->i++;
        }
        if (len > sizeof name)
            len = sizeof name;
        return parse_call(p, name, len, pos);
    }
    if (!c)
        fail_at(p, "表达式不完整", "unexpected end of expression");
    else
        fail_at(p, "出现意外的符号", "unexpected symbol");
    return r;
}

static struct dec parse_power(struct parser *p)
{
    struct dec a = parse_primary(p);
    if (p->rc || peek(p) != '^')
        return a;
    p->i++;
    struct dec e = parse_unary(p); /* right-associative, 2^-1 allowed */
    struct dec r = dec_zero();
    if (!p->rc)
        r = dec_pow(p, &a, &e);
    dec_free(&a);
    dec_free(&e);
    return r;
}

static struct dec parse_unary(struct parser *p)
{
    struct dec r = dec_zero();
    if (++p->depth > CALC_MAX_DEPTH) {
        fail(p, RC_TOO_BIG, "表达式嵌套过深", "the expression is nested too deeply");
        goto out;
    }
    int c = peek(p);
    if (c == '-' || c == '+') {
        p->i++;
        r = parse_unary(p);
        if (c == '-' && !dec_is_zero(&r))
            r.neg = !r.neg;
        goto out;
    }
    r = parse_power(p);
out:
    p->depth--;
    return r;
}

static struct dec parse_term(struct parser *p)
{
    struct dec a = parse_unary(p);
    for (;;) {
        if (p->rc)
            return a;
        int c = peek(p);
        if (c != '*' && c != '/')
            return a;
        p->i++;
        struct dec b = parse_unary(p), r = dec_zero();
        if (!p->rc)
            r = c == '*' ? dec_mul(p, &a, &b) : dec_div(p, &a, &b);
        dec_free(&a);
        dec_free(&b);
        a = r;
    }
}

static struct dec parse_expr(struct parser *p)
{
    struct dec a = dec_zero();
    if (++p->depth > CALC_MAX_DEPTH) {
        fail(p, RC_TOO_BIG, "表达式嵌套过深", "the expression is nested too deeply");
        goto out;
    }
    a = parse_term(p);
    for (;;) {
        if (p->rc)
            break;
        int c = peek(p);
        if (c != '+' && c != '-')
            break;
        p->i++;
        struct dec b = parse_term(p), r = dec_zero();
        if (!p->rc)
            r = dec_addsub(p, &a, &b, c == '-');
        dec_free(&a);
        dec_free(&b);
        a = r;
    }
out:
    p->depth--;
    return a;
}

/* Decodes one UTF-8 sequence; returns its length, 0 when invalid. */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = (s[0] & 0xE0) == 0xC0   ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (!len || len > n)
        return 0;
    uint32_t v = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* Folds one code point to the ASCII character of the language, or 0. */
static char fold_cp(uint32_t cp)
{
    if (cp < 0x80) {
        if (cp == '\t' || cp == '\n' || cp == '\r')
            return ' ';
        if (cp >= 'A' && cp <= 'Z')
            return (char)(cp - 'A' + 'a');
        if (strchr("0123456789+-*/^().,% _abcdefghijklmnopqrstuvwxyz", (int)cp) && cp)
            return (char)cp;
        return 0;
    }
    if (cp >= 0xFF01 && cp <= 0xFF5E) /* full-width ASCII */
        return fold_cp(cp - 0xFF01 + 0x21);
    switch (cp) {
    case 0x3000: /* ideographic space */
    case 0x00A0:
        return ' ';
    case 0x00D7: /* × */
        return '*';
    case 0x00F7: /* ÷ */
        return '/';
    case 0x2212: /* − minus sign */
        return '-';
    case 0x3002: /* 。 used as a decimal point */
        return '.';
    }
    return 0;
}

int calc_eval(const char *expr, int scale, char **out, int *inexact, struct buf *err)
{
    struct parser p = {0};
    struct dec r = dec_zero();
    int rc = RC_OK;
    *out = NULL;
    if (inexact)
        *inexact = 0;
    p.err = err;
    size_t len = expr ? strlen(expr) : 0;
    if (len > CALC_MAX_INPUT) {
        rc = RC_TOO_BIG;
        if (err)
            (void)buf_addf(err, "表达式超过 %d 字节 / the expression exceeds %d bytes",
                           CALC_MAX_INPUT, CALC_MAX_INPUT);
        goto out;
    }
    if (scale > CALC_MAX_SCALE) {
        rc = RC_INVALID;
        if (err)
            (void)buf_addf(err, "scale 须为 0 到 %d / scale must be 0 to %d", CALC_MAX_SCALE,
                           CALC_MAX_SCALE);
        goto out;
    }
    p.s = xmalloc((len + 1) * sizeof *p.s);
    for (size_t i = 0, pos = 1; i < len; pos++) {
        uint32_t cp = 0;
        size_t k = utf8_dec((const unsigned char *)expr + i, len - i, &cp);
        char c = k ? fold_cp(cp) : 0;
        if (!c) {
            rc = RC_INVALID;
            if (err)
                (void)buf_addf(err,
                               "表达式第 %zu 个字符无法识别 / unrecognised character at "
                               "character %zu",
                               pos, pos);
            goto out;
        }
        p.s[p.n].c = c;
        p.s[p.n].pos = pos;
        p.n++;
        i += k;
    }
    if (peek(&p) == 0) {
        rc = RC_INVALID;
        if (err)
            (void)buf_adds(err, "表达式为空 / the expression is empty");
        goto out;
    }
    r = parse_expr(&p);
    if (!p.rc && peek(&p) != 0)
        fail_at(&p, "出现多余的内容", "unexpected trailing input");
    if (p.rc) {
        rc = p.rc;
        goto out;
    }
    dec_strip(&r);
    size_t places;
    if (scale >= 0) {
        places = (size_t)scale;
        dec_round(&r, places, R_HALF_UP);
    } else if (r.inexact) {
        places = CALC_INEXACT_PLACES;
        dec_round(&r, places, R_HALF_UP);
        dec_strip(&r);
        places = r.scale;
    } else {
        places = r.scale;
    }
    if (inexact)
        *inexact = r.inexact;
    *out = dec_str(&r, places);
out:
    dec_free(&r);
    free(p.s);
    return rc;
}

int calc_tool(const json_t *args, json_t **out, struct buf *err)
{
    *out = NULL;
    const json_t *e = json_object_get(args, "expression"), *s = json_object_get(args, "scale");
    if (!json_is_object(args) || !json_is_string(e)) {
        (void)buf_adds(err, "缺少 expression 参数 / missing the expression argument");
        return RC_INVALID;
    }
    int scale = -1;
    if (s && !json_is_null(s)) {
        if (!json_is_integer(s) || json_integer_value(s) < 0 ||
            json_integer_value(s) > CALC_MAX_SCALE) {
            (void)buf_addf(err, "scale 须为 0 到 %d 的整数 / scale must be an integer from 0 to %d",
                           CALC_MAX_SCALE, CALC_MAX_SCALE);
            return RC_INVALID;
        }
        scale = (int)json_integer_value(s);
    }
    char *res = NULL;
    int inexact = 0;
    int rc = calc_eval(json_string_value(e), scale, &res, &inexact, err);
    if (rc != RC_OK)
        return rc;
    *out = json_pack("{ss ss sb}", "result", res, "expression", json_string_value(e), "exact",
                     !inexact);
    free(res);
    return RC_OK;
}
