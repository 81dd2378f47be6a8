/* ingest_jsonl: a corpus of {"id","title","text"} lines, one document per
 * line. Bad lines are reported ("line N: ...") and skipped, never fatal. */
#include "ingest/ingest.h"
#include "ingest/ingest_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/rc.h"

#define MAX_REPORTED 20 /* bad lines described in err; the rest are counted */

static void bad_line(struct buf *err, size_t *nbad, size_t lineno, const char *zh, const char *en)
{
    if (*nbad < MAX_REPORTED)
        ingest_errf(err, "%sline %zu: %s / %s", err && err->len ? "\n" : "", lineno, zh, en);
    (*nbad)++;
}

int ingest_json_line_ok(const char *p, size_t n)
{
    size_t values = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if ((c == '{' || c == '[' || c == ',') && ++values > INGEST_JSON_MAX_VALUES) {
            return 0;
        }
    }
    return 1;
}

int ingest_jsonl(const void *data, size_t n, ingest_jsonl_cb cb, void *ctx, struct buf *err)
{
    int rc = RC_OK;
    const char *p = data ? (const char *)data : "";
    size_t i = 0, lineno = 0, nbad = 0;
    if (!data)
        n = 0;
    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - p) : n, a = i, b = end;
        i = end + 1;
        lineno++;
        while (a < b && (p[a] == ' ' || p[a] == '\t' || p[a] == '\r'))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\r'))
            b--;
        if (a == b)
            continue;
        if (!ingest_json_line_ok(p + a, b - a)) {
            bad_line(err, &nbad, lineno, "JSON 值过多", "too many JSON values in one line");
            continue;
        }
        json_error_t je;
        json_t *j = json_loadb(p + a, b - a, JSON_REJECT_DUPLICATES, &je);
        if (!j || !json_is_object(j)) {
            bad_line(err, &nbad, lineno, "不是有效的 JSON 对象", "not a valid JSON object");
            json_decref(j);
            continue;
        }
        json_t *jid = json_object_get(j, "id"), *jtext = json_object_get(j, "text");
        json_t *jtitle = json_object_get(j, "title");
        char idbuf[32];
        const char *id = NULL;
        if (json_is_string(jid) && json_string_length(jid) > 0)
            id = json_string_value(jid);
        else if (json_is_integer(jid) && snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT,
                                                  json_integer_value(jid)) > 0)
            id = idbuf;
        if (!id || memchr(id, '\0', json_is_string(jid) ? json_string_length(jid) : 0)) {
            bad_line(err, &nbad, lineno, "缺少 id", "missing id");
            json_decref(j);
            continue;
        }
        if (!json_is_string(jtext)) {
            bad_line(err, &nbad, lineno, "缺少 text", "missing text");
            json_decref(j);
            continue;
        }
        struct doc d;
        doc_init(&d);
        const char *t = json_string_value(jtext);
        size_t tn = json_string_length(jtext), k = 0;
        while (k < tn) {
            const char *e = memchr(t + k, '\n', tn - k);
            size_t stop = e ? (size_t)(e - t) : tn;
            doc_add_para(&d, t + k, stop - k);
            k = stop + 1;
        }
        if (json_is_string(jtitle))
            doc_set_title(&d, json_string_value(jtitle), json_string_length(jtitle));
        if (d.title[0] == '\0')
            doc_set_title(&d, id, strlen(id));
        if (d.nblocks == 0) {
            bad_line(err, &nbad, lineno, "text 为空", "empty text");
            doc_release(&d);
            json_decref(j);
            continue;
        }
        int stop = cb(ctx, id, &d);
        doc_release(&d);
        json_decref(j);
        if (stop) {
            rc = stop;
            goto out;
        }
    }
    if (nbad > MAX_REPORTED)
        ingest_errf(err, "\n另有 %zu 行错误 / %zu more bad lines", nbad - MAX_REPORTED,
                    nbad - MAX_REPORTED);
    if (nbad)
        rc = RC_PARSE;
out:
    return rc;
}
