/* libFuzzer driver for the HTTP request-body validation (src/http/json.c):
 * every input goes through http_parse_json_body and the search/ask field
 * validation, and the helpers for stream deltas and upload file names; the
 * promises of src/http/http_int.h are checked on each result. Every input
 * jansson parses also goes through the jsonw serialiser (src/common/jsonw.h),
 * which must give json_dumps' bytes and text that reads back equal.
 * Build and run (20 s):
 *   clang -std=c11 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Isrc \
 *     -fsanitize=fuzzer,address,undefined fuzz/fuzz_json.c src/http/json.c src/text/utf8.c \
 *     src/common/[a-z]*.c $(pkg-config --cflags --libs jansson libsodium) -o /tmp/fuzz_json \
 *     && /tmp/fuzz_json -max_total_time=20 */
#include "common/buf.h"
#include "common/jsonw.h"
#include "common/rc.h"
#include "http/http_int.h"
#include "text/utf8.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int depth_of(const json_t *j)
{
    int d = 0;
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            int dv = depth_of(v);
            d = dv > d ? dv : d;
        }
        return d + 1;
    }
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
        {
            int dv = depth_of(v);
            d = dv > d ? dv : d;
        }
        return d + 1;
    }
    return 0;
}

/* jsonw gives json_dumps' bytes for each flag set the callers use, the text
 * reads back as an equal tree, and only a tree over the depth cap fails. */
static void check_jsonw(const json_t *j)
{
    static const size_t flags[] = {JSON_COMPACT, JSON_COMPACT | JSON_REAL_PRECISION(6),
                                   JSON_COMPACT | JSON_SORT_KEYS};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        struct buf b = BUF_INIT;
        int rc = jsonw_dump_flags(&b, j, flags[f]);
        if (rc != RC_OK) {
            if (rc != RC_INVALID || depth_of(j) <= JSONW_MAX_DEPTH || b.len != 0)
                abort();
            buf_release(&b);
            continue;
        }
        char *want = json_dumps(j, flags[f] | JSON_ENCODE_ANY);
        if (!want || strlen(want) != b.len || memcmp(want, b.p, b.len) != 0)
            abort();
        free(want);
        if (f == 0) {
            json_error_t e;
            json_t *back = json_loadb(b.p, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
            if (!back || !json_equal(back, (json_t *)j))
                abort();
            json_decref(back);
        }
        buf_release(&b);
    }
}

static void check_query(const char *p, size_t n, const char *field)
{
    struct buf err = BUF_INIT;
    struct http_query_body q;
    int rc = http_parse_query_body(p, n, field, &q, &err);
    if (rc == RC_OK) {
        size_t len = strlen(q.text);
        if (len == 0 || len > HTTP_TEXT_MAX || !utf8_valid(q.text, len))
            abort();
        if (q.k < 1 || q.k > 100 || (q.stream != 0 && q.stream != 1))
            abort();
    } else if (rc != RC_INVALID || q.text != NULL || err.len == 0) {
        abort(); /* failures are RC_INVALID with a message and nothing owned */
    }
    http_query_body_release(&q);
    buf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct buf err = BUF_INIT;
    json_t *j = NULL;
    int rc = http_parse_json_body(p, size, &j, &err);
    if (rc == RC_OK) {
        if (!json_is_object(j) || !utf8_valid(p, size))
            abort();
        /* What we accept must survive a round trip through the encoder. */
        char *s = json_dumps(j, JSON_COMPACT);
        if (!s)
            abort();
        free(s);
        check_jsonw(j);
    } else if (rc != RC_INVALID || j != NULL || err.len == 0) {
        abort();
    }
    json_decref(j);
    buf_release(&err);

    json_error_t jerr;
    json_t *any = json_loadb(p, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (any)
        check_jsonw(any);
    json_decref(any);

    check_query(p, size, "query");
    check_query(p, size, "question");

    /* The delta splitter never cuts a valid string's last character and
     * never claims more than it got. */
    size_t whole = http_utf8_whole_prefix(p, size);
    if (whole > size || (utf8_valid(p, size) && whole != size))
        abort();
    if (size - whole > 3)
        abort();

    /* File names: NUL-terminated copy of the input, then the cleaner. */
    char *z = malloc(size + 1);
    if (!z)
        return 0;
    memcpy(z, p, size);
    z[size] = '\0';
    char *name = http_clean_filename(z);
    if (name) {
        size_t len = strlen(name);
        if (len == 0 || len > HTTP_NAME_MAX || !utf8_valid(name, len) || strchr(name, '/') ||
            strchr(name, '\\') || strcmp(name, "..") == 0)
            abort();
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)name[i] < 0x20 || name[i] == 0x7F)
                abort();
        free(name);
    }
    free(z);
    return 0;
}
