/* Request-body validation: UTF-8 first, then jansson, then the fields a
 * route needs with their types and ranges. Kept free of MHD and kb so that
 * fuzz/fuzz_json.c can drive it alone. */
#include "http/http_int.h"

#include <string.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "text/utf8.h"

int http_parse_json_body(const char *p, size_t n, json_t **out, struct buf *err)
{
    int rc = RC_INVALID;
    json_t *j = NULL;
    *out = NULL;
    if (!p || n == 0) {
        (void)buf_adds(err, "请求体为空 / empty request body");
        goto out;
    }
    if (!utf8_valid(p, n)) {
        (void)buf_adds(err, "请求体不是有效的 UTF-8 / request body is not valid UTF-8");
        goto out;
    }
    json_error_t jerr;
    j = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        (void)buf_addf(err, "请求体不是有效的 JSON / malformed JSON body (line %d, column %d)",
                       jerr.line, jerr.column);
        goto out;
    }
    if (!json_is_object(j)) {
        (void)buf_adds(err, "请求体必须是 JSON 对象 / request body must be a JSON object");
        goto out;
    }
    *out = j;
    j = NULL;
    rc = RC_OK;
out:
    json_decref(j);
    return rc;
}

int http_parse_query_body(const char *p, size_t n, const char *field, struct http_query_body *out,
                          struct buf *err)
{
    json_t *j = NULL;
    memset(out, 0, sizeof *out);
    out->k = 5;
    int rc = http_parse_json_body(p, n, &j, err);
    if (rc != RC_OK)
        goto out;
    rc = RC_INVALID;
    json_t *t = json_object_get(j, field);
    if (!json_is_string(t)) {
        (void)buf_addf(err, "缺少字符串字段 \"%s\" / missing string field \"%s\"", field, field);
        goto out;
    }
    size_t len = json_string_length(t);
    const char *s = json_string_value(t);
    if (len == 0 || len > HTTP_TEXT_MAX || memchr(s, '\0', len)) {
        (void)buf_addf(err, "字段 \"%s\" 须为 1 至 %d 字节 / \"%s\" must be 1 to %d bytes", field,
                       HTTP_TEXT_MAX, field, HTTP_TEXT_MAX);
        goto out;
    }
    json_t *k = json_object_get(j, "k");
    if (k && !json_is_null(k)) {
        if (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > 100) {
            (void)buf_adds(err, "k 须为 1 至 100 的整数 / k must be an integer from 1 to 100");
            goto out;
        }
        out->k = (int)json_integer_value(k);
    }
    json_t *st = json_object_get(j, "stream");
    if (st && !json_is_null(st)) {
        if (!json_is_boolean(st)) {
            (void)buf_adds(err, "stream 须为布尔值 / stream must be true or false");
            goto out;
        }
        out->stream = json_is_true(st);
    }
    out->text = xstrndup(s, len);
    rc = RC_OK;
out:
    json_decref(j);
    return rc;
}

void http_query_body_release(struct http_query_body *q)
{
    free(q->text);
    q->text = NULL;
}

size_t http_utf8_whole_prefix(const char *p, size_t n)
{
    /* Walk back over at most 3 continuation bytes to the last lead byte and
     * check whether its sequence is complete. */
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)p[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return n; /* only continuation bytes: nothing to carry, let the caller judge */
    unsigned char lead = (unsigned char)p[i - 1];
    size_t need;
    if (lead < 0x80)
        need = 1;
    else if ((lead & 0xE0) == 0xC0)
        need = 2;
    else if ((lead & 0xF0) == 0xE0)
        need = 3;
    else if ((lead & 0xF8) == 0xF0)
        need = 4;
    else
        return n; /* not a lead byte: malformed, do not carry */
    size_t have = back + 1;
    return have < need ? i - 1 : n;
}

#define NAME_EXT_MAX 16 /* bytes of an extension kept when a name is cut */

/* Characters dropped from file names: C0 and C1 controls, DEL, line and
 * paragraph separators, and the bidi embedding, override and isolate
 * controls (U+202E can make "gpj.exe" read as "exe.jpg" in a list). */
static int name_char_hidden(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

char *http_clean_filename(const char *name)
{
    struct buf b = BUF_INIT;
    char *res = NULL;
    if (!name)
        goto out;
    const char *base = name;
    for (const char *q = name; *q; q++)
        if (*q == '/' || *q == '\\')
            base = q + 1;
    size_t n = strlen(base);
    if (!utf8_valid(base, n))
        goto out;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t used = utf8_decode(base + i, n - i, &cp);
        if (!name_char_hidden(cp) && buf_add(&b, base + i, used) != RC_OK)
            goto out;
        i += used;
    }
    if (b.len > HTTP_NAME_MAX) {
        /* Cut the stem, not the extension: the type is told by the name
         * too (.jsonl, .md). Both cuts fall on whole characters. */
        const char *dot = strrchr(buf_str(&b), '.');
        size_t ext = dot && dot != b.p && b.len - (size_t)(dot - b.p) <= NAME_EXT_MAX
                         ? b.len - (size_t)(dot - b.p)
                         : 0;
        size_t stem = http_utf8_whole_prefix(b.p, HTTP_NAME_MAX - ext);
        memmove(b.p + stem, b.p + b.len - ext, ext);
        b.len = stem + ext;
        b.p[b.len] = '\0';
    }
    if (b.len == 0 || strcmp(buf_str(&b), ".") == 0 || strcmp(buf_str(&b), "..") == 0)
        goto out;
    res = xstrndup(b.p, b.len);
out:
    buf_release(&b);
    return res;
}
