/* Compact JSON text of jansson trees, byte-identical to json_dumps with
 * JSON_COMPACT; strings go through buf_add_json_str, which escapes as
 * jansson does with a word-at-a-time scan. */
#include "common/jsonw.h"

#include "common/alloc.h"
#include "common/rc.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAGS_PRECISION(f) ((int)(((f) >> 11) & 0x1F))
#define FLAGS_REFUSED (JSON_MAX_INDENT | JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH | JSON_EMBED)

struct jw {
    struct buf *b;
    int precision; /* for "%.*g" */
    int sort;      /* JSON_SORT_KEYS */
};

static int add_int(struct buf *b, json_int_t v)
{
    char t[24];
    char *p = t + sizeof t;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return buf_add(b, p, (size_t)(t + sizeof t - p));
}

/* jansson's real format: "%.*g", the locale's decimal point made '.', ".0"
 * added when neither '.' nor 'e' is there (so it reads back as a real), and
 * the exponent without '+' or leading zeros ("1e+300" → "1e300"). */
static int add_real(struct buf *b, double v, int precision)
{
    char t[100];
    if (!isfinite(v))
        return RC_INVALID;
    int n = snprintf(t, sizeof t, "%.*g", precision, v);
    if (n < 0 || (size_t)n + 3 >= sizeof t)
        return RC_INVALID;
    size_t len = (size_t)n;
    const char *point = localeconv()->decimal_point;
    if (point[0] != '.' && point[0] != '\0') {
        char *pos = strchr(t, point[0]);
        if (pos)
            *pos = '.';
    }
    char *e = strchr(t, 'e');
    if (!e && !strchr(t, '.')) {
        t[len++] = '.';
        t[len++] = '0';
        t[len] = '\0';
    }
    if (e) {
        char *start = e + 1;
        char *digits = start + 1;
        if (*start == '-')
            start++;
        while (*digits == '0')
            digits++;
        if (digits != start) {
            memmove(start, digits, len - (size_t)(digits - t) + 1);
            len -= (size_t)(digits - start);
        }
    }
    return buf_add(b, t, len);
}

struct key {
    const char *p;
    size_t len;
};

/* jansson's key order for JSON_SORT_KEYS: bytes, then the shorter first. */
static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int dump(struct jw *w, const json_t *j, int depth);

static int dump_member(struct jw *w, const char *key, size_t klen, const json_t *v, int first,
                       int depth)
{
    int rc = first ? RC_OK : buf_addc(w->b, ',');
    if (rc == RC_OK)
        rc = buf_add_json_str(w->b, key, klen);
    if (rc == RC_OK)
        rc = buf_addc(w->b, ':');
    if (rc == RC_OK)
        rc = dump(w, v, depth);
    return rc;
}

static int dump_object(struct jw *w, const json_t *j, int depth)
{
    json_t *o = (json_t *)j; /* jansson's iterators take non-const trees; nothing is changed */
    struct key *keys = NULL;
    int rc = buf_addc(w->b, '{');
    if (rc)
        goto out;
    if (w->sort && json_object_size(o) > 1) {
        size_t n = 0, cap = json_object_size(o);
        keys = xmalloc(cap * sizeof *keys);
        for (void *it = json_object_iter(o); it && n < cap; it = json_object_iter_next(o, it)) {
            keys[n].p = json_object_iter_key(it);
            keys[n].len = json_object_iter_key_len(it);
            n++;
        }
        qsort(keys, n, sizeof *keys, key_cmp);
        for (size_t i = 0; i < n && rc == RC_OK; i++)
            rc = dump_member(w, keys[i].p, keys[i].len, json_object_getn(o, keys[i].p, keys[i].len),
                             i == 0, depth);
    } else {
        int first = 1;
        for (void *it = json_object_iter(o); it && rc == RC_OK; it = json_object_iter_next(o, it)) {
            rc = dump_member(w, json_object_iter_key(it), json_object_iter_key_len(it),
                             json_object_iter_value(it), first, depth);
            first = 0;
        }
    }
    if (rc == RC_OK)
        rc = buf_addc(w->b, '}');
out:
    free(keys);
    return rc;
}

static int dump(struct jw *w, const json_t *j, int depth)
{
    if (!j)
        return RC_INVALID;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (depth >= JSONW_MAX_DEPTH)
            return RC_INVALID; /* too deep, or a tree that contains itself */
        break;
    default:
        break;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return dump_object(w, j, depth + 1);
    case JSON_ARRAY: {
        int rc = buf_addc(w->b, '[');
        size_t n = json_array_size(j);
        for (size_t i = 0; i < n && rc == RC_OK; i++) {
            if (i)
                rc = buf_addc(w->b, ',');
            if (rc == RC_OK)
                rc = dump(w, json_array_get(j, i), depth + 1);
        }
        return rc ? rc : buf_addc(w->b, ']');
    }
    case JSON_STRING:
        return buf_add_json_str(w->b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return add_int(w->b, json_integer_value(j));
    case JSON_REAL:
        return add_real(w->b, json_real_value(j), w->precision);
    case JSON_TRUE:
        return buf_add(w->b, "true", 4);
    case JSON_FALSE:
        return buf_add(w->b, "false", 5);
    case JSON_NULL:
        return buf_add(w->b, "null", 4);
    }
    return RC_INVALID;
}

int jsonw_dump_flags(struct buf *b, const json_t *j, size_t flags)
{
    size_t len0 = b->len;
    int precision = FLAGS_PRECISION(flags);
    struct jw w = {b, precision ? precision : 17, (flags & JSON_SORT_KEYS) != 0};
    int rc = (flags & FLAGS_REFUSED) ? RC_INVALID : dump(&w, j, 0);
    if (rc != RC_OK)
        buf_truncate(b, len0); /* no half-written value */
    return rc;
}

int jsonw_dump(struct buf *b, const json_t *j)
{
    return jsonw_dump_flags(b, j, JSON_COMPACT);
}

char *jsonw_str(const json_t *j)
{
    struct buf b = BUF_INIT;
    if (jsonw_dump(&b, j) != RC_OK) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}
