/* The scanner for the common streamed chunk (fastchunk.h). It accepts a
 * strict subset of what jansson accepts: values of keys it does not read
 * must be strings, null, true, false or small integers; keys must not be
 * escaped; a key it reads must not repeat; choices holds at most one
 * object. Every "no" is a fallback, never an error. */
#include "llm/fastchunk.h"

#include "common/rc.h"

#include <stdint.h>
#include <string.h>

/* A string found by the scanner: in the input (off into p) or decoded into
 * scratch (off into scratch->p). */
struct fstr {
    size_t off, len;
    int scratch, present;
};

struct scan {
    const char *p;
    size_t n, i;
    struct buf *scratch;
};

static void skip_ws(struct scan *s)
{
    while (s->i < s->n) {
        char c = s->p[s->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        s->i++;
    }
}

static int expect(struct scan *s, char c)
{
    skip_ws(s);
    if (s->i >= s->n || s->p[s->i] != c)
        return 0;
    s->i++;
    return 1;
}

/* Length of the valid UTF-8 sequence (2–4 bytes, no overlong form, no
 * surrogate, at most U+10FFFF) at p[0..n), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && p[1] < 0xA0) /* overlong */
            return 0;
        if (c == 0xED && p[1] >= 0xA0) /* surrogate */
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xF4 && p[1] >= 0x90) /* past U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

static int hex4(const char *p, unsigned *v)
{
    unsigned r = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        r <<= 4;
        if (c >= '0' && c <= '9')
            r |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            r |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            r |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *v = r;
    return 1;
}

static int put_utf8(struct buf *b, uint32_t cp)
{
    char e[4];
    size_t len;
    if (cp < 0x80) {
        e[0] = (char)cp;
        len = 1;
    } else if (cp < 0x800) {
        e[0] = (char)(0xC0 | (cp >> 6));
        e[1] = (char)(0x80 | (cp & 0x3F));
        len = 2;
    } else if (cp < 0x10000) {
        e[0] = (char)(0xE0 | (cp >> 12));
        e[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        e[2] = (char)(0x80 | (cp & 0x3F));
        len = 3;
    } else {
        e[0] = (char)(0xF0 | (cp >> 18));
        e[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        e[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        e[3] = (char)(0x80 | (cp & 0x3F));
        len = 4;
    }
    return buf_add(b, e, len) == RC_OK;
}

/* One escape at s->p[s->i] (just after the backslash), decoded into b.
 * \u0000 and lone surrogates are refused, as jansson refuses them. */
static int unescape(struct scan *s, struct buf *b)
{
    if (s->i >= s->n)
        return 0;
    char c = s->p[s->i++];
    switch (c) {
    case '"':
    case '\\':
    case '/':
        return buf_addc(b, c) == RC_OK;
    case 'b':
        return buf_addc(b, '\b') == RC_OK;
    case 'f':
        return buf_addc(b, '\f') == RC_OK;
    case 'n':
        return buf_addc(b, '\n') == RC_OK;
    case 'r':
        return buf_addc(b, '\r') == RC_OK;
    case 't':
        return buf_addc(b, '\t') == RC_OK;
    case 'u':
        break;
    default:
        return 0;
    }
    unsigned v, lo;
    if (s->n - s->i < 4 || !hex4(s->p + s->i, &v))
        return 0;
    s->i += 4;
    if (v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return 0;
    if (v >= 0xD800 && v <= 0xDBFF) {
        if (s->n - s->i < 6 || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u' ||
            !hex4(s->p + s->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return 0;
        s->i += 6;
        return put_utf8(b, 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00));
    }
    return put_utf8(b, v);
}

/* A string starting at the opening quote. Without escapes it is left in
 * the input; with them (allowed only when may_escape) it is decoded into
 * scratch. */
static int scan_string(struct scan *s, struct fstr *out, int may_escape)
{
    skip_ws(s);
    if (s->i >= s->n || s->p[s->i] != '"')
        return 0;
    size_t start = ++s->i, run = start;
    int esc = 0;
    size_t soff = 0;
    while (s->i < s->n) {
        unsigned char c = (unsigned char)s->p[s->i];
        if (c == '"') {
            if (esc) {
                if (buf_add(s->scratch, s->p + run, s->i - run) != RC_OK)
                    return 0;
                out->off = soff;
                out->len = s->scratch->len - soff;
                out->scratch = 1;
            } else {
                out->off = start;
                out->len = s->i - start;
                out->scratch = 0;
            }
            out->present = 1;
            s->i++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (!may_escape)
                return 0;
            if (!esc) {
                esc = 1;
                soff = s->scratch->len;
            }
            if (buf_add(s->scratch, s->p + run, s->i - run) != RC_OK)
                return 0;
            s->i++;
            if (!unescape(s, s->scratch))
                return 0;
            run = s->i;
            continue;
        }
        if (c < 0x80) {
            s->i++;
            continue;
        }
        size_t k = utf8_len((const unsigned char *)s->p + s->i, s->n - s->i);
        if (!k)
            return 0;
        s->i += k;
    }
    return 0;
}

/* The value of a key nobody reads: a string, a literal or a small integer.
 * *is_null tells null apart. */
static int skip_simple(struct scan *s, int *is_null)
{
    struct fstr tmp;
    skip_ws(s);
    if (is_null)
        *is_null = 0;
    if (s->i >= s->n)
        return 0;
    const char *q = s->p + s->i;
    size_t left = s->n - s->i;
    switch (*q) {
    case '"': {
        size_t mark = s->scratch->len;
        int ok = scan_string(s, &tmp, 1);
        s->scratch->len = mark; /* the text is not kept */
        return ok;
    }
    case 'n':
        if (left >= 4 && memcmp(q, "null", 4) == 0) {
            s->i += 4;
            if (is_null)
                *is_null = 1;
            return 1;
        }
        return 0;
    case 't':
        if (left >= 4 && memcmp(q, "true", 4) == 0) {
            s->i += 4;
            return 1;
        }
        return 0;
    case 'f':
        if (left >= 5 && memcmp(q, "false", 5) == 0) {
            s->i += 5;
            return 1;
        }
        return 0;
    default:
        break;
    }
    size_t k = 0;
    if (q[0] == '-')
        k++;
    if (k < left && q[k] == '0') {
        k++;
    } else {
        size_t d = 0;
        while (k < left && q[k] >= '0' && q[k] <= '9' && d < 16) {
            k++;
            d++;
        }
        if (d == 0 || d > 15)
            return 0;
    }
    s->i += k;
    return 1; /* a '.', 'e' or digit after it fails the next expect() */
}

/* A string or null for a key that is read. */
static int str_or_null(struct scan *s, struct fstr *f)
{
    skip_ws(s);
    if (s->i < s->n && s->p[s->i] == '"')
        return scan_string(s, f, 1);
    int is_null;
    return skip_simple(s, &is_null) && is_null;
}

/* Walks the members of an object (the '{' already read), handing each key
 * to member(); member returns 1 when it took the value. */
typedef int (*member_fn)(struct scan *s, const char *key, size_t klen, void *ud);

static int walk_object(struct scan *s, member_fn member, void *ud)
{
    skip_ws(s);
    if (s->i < s->n && s->p[s->i] == '}') {
        s->i++;
        return 1;
    }
    for (;;) {
        struct fstr k;
        if (!scan_string(s, &k, 0) || !expect(s, ':'))
            return 0;
        if (!member(s, s->p + k.off, k.len, ud))
            return 0;
        skip_ws(s);
        if (s->i >= s->n)
            return 0;
        char c = s->p[s->i++];
        if (c == '}')
            return 1;
        if (c != ',')
            return 0;
    }
}

#define KEY(k, lit) (klen == sizeof lit - 1 && memcmp(k, lit, sizeof lit - 1) == 0)

struct delta_state {
    struct fstr content, reasoning_content, reasoning;
    unsigned seen;
};

static int delta_member(struct scan *s, const char *key, size_t klen, void *ud)
{
    struct delta_state *d = ud;
    struct fstr *f = NULL;
    unsigned bit = 0;
    if (KEY(key, "content")) {
        f = &d->content;
        bit = 1;
    } else if (KEY(key, "reasoning_content")) {
        f = &d->reasoning_content;
        bit = 2;
    } else if (KEY(key, "reasoning")) {
        f = &d->reasoning;
        bit = 4;
    } else if (KEY(key, "tool_calls")) {
        return 0;
    }
    if (!f)
        return skip_simple(s, NULL);
    if (d->seen & bit)
        return 0;
    d->seen |= bit;
    return str_or_null(s, f);
}

struct choice_state {
    struct delta_state delta;
    struct fstr finish;
    unsigned seen;
};

static int choice_member(struct scan *s, const char *key, size_t klen, void *ud)
{
    struct choice_state *c = ud;
    if (KEY(key, "delta")) {
        if (c->seen & 1)
            return 0;
        c->seen |= 1;
        return expect(s, '{') && walk_object(s, delta_member, &c->delta);
    }
    if (KEY(key, "finish_reason")) {
        if (c->seen & 2)
            return 0;
        c->seen |= 2;
        return str_or_null(s, &c->finish);
    }
    if (KEY(key, "message"))
        return 0;
    return skip_simple(s, NULL);
}

struct top_state {
    struct choice_state choice;
    int nchoices;
    unsigned seen;
};

static int top_member(struct scan *s, const char *key, size_t klen, void *ud)
{
    struct top_state *t = ud;
    int is_null;
    if (KEY(key, "choices")) {
        if (t->seen & 1)
            return 0;
        t->seen |= 1;
        if (!expect(s, '['))
            return 0;
        skip_ws(s);
        if (s->i < s->n && s->p[s->i] == ']') {
            s->i++;
            return 1;
        }
        t->nchoices = 1;
        return expect(s, '{') && walk_object(s, choice_member, &t->choice) && expect(s, ']');
    }
    if (KEY(key, "error") || KEY(key, "usage")) /* only null is taken */
        return skip_simple(s, &is_null) && is_null;
    return skip_simple(s, NULL);
}

static void resolve(const struct scan *s, const struct fstr *f, const char **p, size_t *len,
                    int *has)
{
    *has = f->present;
    *p = f->present ? (f->scratch ? s->scratch->p : s->p) + f->off : NULL;
    *len = f->present ? f->len : 0;
}

int fastchunk_scan(const char *p, size_t n, struct buf *scratch, struct fastchunk *out)
{
    struct scan s = {p, n, 0, scratch};
    struct top_state t;
    memset(&t, 0, sizeof t);
    memset(out, 0, sizeof *out);
    buf_reset(scratch);
    if (!p || !expect(&s, '{') || !walk_object(&s, top_member, &t))
        return 0;
    skip_ws(&s);
    if (s.i != n)
        return 0;
    if (!t.nchoices)
        return 1;
    const struct choice_state *c = &t.choice;
    resolve(&s, &c->finish, &out->finish, &out->finish_len, &out->has_finish);
    resolve(&s, &c->delta.content, &out->content, &out->content_len, &out->has_content);
    const struct fstr *r =
        c->delta.reasoning_content.present ? &c->delta.reasoning_content : &c->delta.reasoning;
    resolve(&s, r, &out->reasoning, &out->reasoning_len, &out->has_reasoning);
    return 1;
}
