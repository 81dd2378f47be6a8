/* Tests for src/common/jsonw: the same bytes as jansson's json_dumps, values
 * that read back equal, the buffer's cap and the depth cap. */
#include "test.h"

#include "common/buf.h"
#include "common/jsonw.h"
#include "common/rc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks jsonw_dump_flags(j, flags) against json_dumps(j, flags | ENCODE_ANY)
 * byte for byte; returns 1 when they match. */
static int same_as_jansson(const json_t *j, size_t flags)
{
    char *want = json_dumps(j, flags | JSON_ENCODE_ANY);
    struct buf b = BUF_INIT;
    int rc = jsonw_dump_flags(&b, j, flags);
    int ok = want && rc == RC_OK && b.len == strlen(want) && memcmp(b.p, want, b.len) == 0;
    if (!ok)
        fprintf(stderr, "jsonw: rc %d\n  got  %.300s\n  want %.300s\n", rc, buf_str(&b),
                want ? want : "(null)");
    free(want);
    buf_release(&b);
    return ok;
}

static const size_t FLAGS[] = {
    JSON_COMPACT,
    JSON_COMPACT | JSON_REAL_PRECISION(6),
    JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY,
    JSON_COMPACT | JSON_PRESERVE_ORDER,
};

TEST(jsonw_same_bytes_as_jansson)
{
    static const char *texts[] = {
        "{}",
        "[]",
        "{\"a\":[],\"b\":{},\"c\":[[],[{}]]}",
        "{\"z\":1,\"a\":2,\"m\":{\"y\":true,\"b\":false,\"n\":null}}",
        "[\"引用的段落：银行的存款利率为 1.5%。\",\"\\u0000\\u0001\\b\\f\\n\\r\\t\\u001f\\u007f\"]",
        "{\"q\\\"uo\\\\te\":\"say \\\"hi\\\" \\\\ back/slash\"}",
        "[9223372036854775807,-9223372036854775808,0,-1,42]",
        "[0.1,1e300,-1e-300,3.0,123456.789,1.5e-7,2.5e+20,100000.0,1e16,0.30000000000000004]",
        "[\"😀 emoji \\ud83d\\ude00\",\"é\",\"\\u2028\\u2029\"]",
        "\"a lone string\"",
        "12",
        "-0.0",
        "true",
        "null",
        "[\"12345678\",\"1234567\\\"\",\"\\\"1234567\",\"abcdefghijklmnopqrstuvwxyz\\n0123\"]",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_error_t e;
        json_t *j = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        CHECK(j != NULL);
        for (size_t f = 0; j && f < sizeof FLAGS / sizeof FLAGS[0]; f++)
            if (!same_as_jansson(j, FLAGS[f]))
                test_fail(__FILE__, __LINE__, "text %zu flags %zx differ", i, FLAGS[f]);
        json_decref(j);
    }
    /* Keys with NUL bytes (json_object_setn; jansson's parser refuses them). */
    json_t *nk = json_object();
    json_object_setn_new(nk, "\0key", 4, json_integer(1));
    json_object_setn_new(nk, "key\0", 4, json_integer(2));
    json_object_setn_new(nk, "key", 3, json_integer(3));
    json_object_setn_new(nk, "ke", 2, json_integer(4));
    for (size_t f = 0; f < sizeof FLAGS / sizeof FLAGS[0]; f++)
        CHECK(same_as_jansson(nk, FLAGS[f]));
    json_decref(nk);
    /* Reals built directly, at both precisions. */
    static const double reals[] = {0.1,     1e300,     -0.0, 3.0,   123456.789, 1e-7, 5e-324,
                                   1.7e308, 1234567.0, 0.5,  -2.25, 1e21,       1e22, 100.0};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        json_t *j = json_pack("{s:f,s:[f]}", "r", reals[i], "a", reals[i]);
        CHECK(j != NULL);
        for (size_t f = 0; j && f < sizeof FLAGS / sizeof FLAGS[0]; f++)
            if (!same_as_jansson(j, FLAGS[f]))
                test_fail(__FILE__, __LINE__, "real %g flags %zx differ", reals[i], FLAGS[f]);
        json_decref(j);
    }
    /* Every single byte below 0x80 at every offset of a 40-byte string, so
     * both the word scan and the tail see each one. */
    for (int c = 1; c < 0x80; c++) {
        for (int at = 0; at < 40; at++) {
            char s[40];
            memset(s, 'x', sizeof s);
            s[at] = (char)c;
            json_t *j = json_stringn(s, sizeof s);
            if (!same_as_jansson(j, JSON_COMPACT | JSON_ENCODE_ANY))
                test_fail(__FILE__, __LINE__, "byte 0x%02x at %d differs", c, at);
            json_decref(j);
        }
    }
}

/* A fixed-seed xorshift, so a failure repeats. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void rnd_text(struct buf *b, size_t max, int nul)
{
    static const char *pieces[] = {"a",  "Z",    " ",    "\"",   "\\",           "/",
                                   "\n", "\t",   "\x01", "\x1f", "\x7f",         "中",
                                   "文", "银行", "é",    "😀",    "\xe2\x80\xa8", "0"};
    size_t n = rnd() % (max + 1);
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
        buf_add(b, p, strlen(p));
    }
    if (nul && rnd() % 8 == 0)
        buf_add(b, "\0", 1); /* in values only: jansson's parser refuses it in keys */
}

static json_t *rnd_tree(int depth)
{
    int kind = (int)(rnd() % (depth > 5 ? 6 : 8));
    struct buf t = BUF_INIT;
    json_t *j = NULL;
    switch (kind) {
    case 0:
        j = json_integer((json_int_t)rnd());
        break;
    case 1: {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (d != d || d - d != 0)
            d = (double)(int64_t)rnd() / 1e9;
        j = json_real(d);
        break;
    }
    case 2:
        rnd_text(&t, 40, 1);
        j = json_stringn(buf_str(&t), t.len);
        break;
    case 3:
        j = json_null();
        break;
    case 4:
        j = rnd() % 2 ? json_true() : json_false();
        break;
    case 5:
        rnd_text(&t, 3000, 1);
        j = json_stringn(buf_str(&t), t.len);
        break;
    case 6: {
        j = json_array();
        size_t n = rnd() % 6;
        for (size_t i = 0; i < n; i++)
            json_array_append_new(j, rnd_tree(depth + 1));
        break;
    }
    default: {
        j = json_object();
        size_t n = rnd() % 6;
        for (size_t i = 0; i < n; i++) {
            buf_reset(&t);
            rnd_text(&t, 6, 0);
            json_object_setn_new(j, buf_str(&t), t.len, rnd_tree(depth + 1));
        }
        break;
    }
    }
    buf_release(&t);
    return j;
}

TEST(jsonw_random_trees_read_back_equal)
{
    rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 400; i++) {
        json_t *j = rnd_tree(0);
        CHECK(j != NULL);
        if (!j)
            continue;
        struct buf b = BUF_INIT;
        CHECK_INT(jsonw_dump(&b, j), RC_OK);
        json_error_t e;
        json_t *back = json_loadb(b.p, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!back || !json_equal(back, j))
            test_fail(__FILE__, __LINE__, "tree %d does not read back: %.200s", i, buf_str(&b));
        for (size_t f = 0; f < sizeof FLAGS / sizeof FLAGS[0]; f++)
            if (!same_as_jansson(j, FLAGS[f]))
                test_fail(__FILE__, __LINE__, "tree %d flags %zx differ", i, FLAGS[f]);
        json_decref(back);
        json_decref(j);
        buf_release(&b);
    }
}

TEST(jsonw_cap_leaves_buffer_as_it_was)
{
    json_t *j =
        json_pack("{s:s,s:[i,f,b]}", "text", "银行\"存款\"利率，一年期 1.5%", "n", 7, 0.25, 1);
    char *want = json_dumps(j, JSON_COMPACT);
    size_t n = strlen(want);
    /* every cap below prefix + n fails and leaves the prefix; at it, success */
    for (size_t max = 2; max <= n + 2; max++) {
        struct buf b;
        buf_init(&b, max);
        CHECK_INT(buf_adds(&b, "xy"), RC_OK);
        int rc = jsonw_dump(&b, j);
        if (max < n + 2) {
            CHECK_INT(rc, RC_TOO_BIG);
            CHECK_INT(b.len, 2);
            CHECK_STR(buf_str(&b), "xy");
        } else {
            CHECK_INT(rc, RC_OK);
            CHECK(b.len == n + 2 && memcmp(b.p + 2, want, n) == 0);
        }
        buf_release(&b);
    }
    free(want);
    json_decref(j);
}

TEST(jsonw_depth_cap_and_refused_flags)
{
    json_t *top = json_array(), *cur = top;
    for (int i = 1; i < JSONW_MAX_DEPTH; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    struct buf b = BUF_INIT;
    CHECK_INT(jsonw_dump(&b, top), RC_OK); /* exactly the cap */
    CHECK_INT(b.len, 2 * JSONW_MAX_DEPTH);
    json_array_append_new(cur, json_object()); /* one more */
    buf_reset(&b);
    CHECK_INT(buf_adds(&b, "keep"), RC_OK);
    CHECK_INT(jsonw_dump(&b, top), RC_INVALID);
    CHECK_STR(buf_str(&b), "keep");
    CHECK(jsonw_str(top) == NULL);
    json_decref(top);

    /* a tree that contains itself fails cleanly instead of recursing forever */
    json_t *a = json_array(), *c = json_array();
    json_array_append(a, c);
    json_array_append(c, a);
    CHECK_INT(jsonw_dump(&b, a), RC_INVALID);
    json_array_clear(c);
    json_decref(c);
    json_decref(a);

    json_t *o = json_pack("{s:i}", "a", 1);
    CHECK_INT(jsonw_dump_flags(&b, o, JSON_INDENT(2)), RC_INVALID);
    CHECK_INT(jsonw_dump_flags(&b, o, JSON_COMPACT | JSON_ENSURE_ASCII), RC_INVALID);
    CHECK_INT(jsonw_dump_flags(&b, o, JSON_COMPACT | JSON_ESCAPE_SLASH), RC_INVALID);
    CHECK_INT(jsonw_dump(&b, NULL), RC_INVALID);
    CHECK_STR(buf_str(&b), "keep");
    char *s = jsonw_str(o);
    CHECK_STR(s, "{\"a\":1}");
    free(s);
    CHECK(jsonw_str(NULL) == NULL);
    json_decref(o);
    buf_release(&b);
}
