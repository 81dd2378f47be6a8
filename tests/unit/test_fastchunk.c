/* The streamed-chunk scanner (llm/fastchunk.h): the common shapes are taken
 * with the right strings; anything unusual or malformed is left to jansson. */
#include "test.h"

#include "common/buf.h"
#include "llm/fastchunk.h"

#include <string.h>

static int scan(const char *s, struct buf *scratch, struct fastchunk *fc)
{
    return fastchunk_scan(s, strlen(s), scratch, fc);
}

static int field_is(int has, const char *p, size_t n, const char *want)
{
    return has && n == strlen(want) && memcmp(p, want, n) == 0;
}

TEST(fastchunk_common_shapes)
{
    struct buf b = BUF_INIT;
    struct fastchunk fc;
    CHECK(scan("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732600000,"
               "\"model\":\"qwen\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,"
               "\"delta\":{\"role\":\"assistant\",\"content\":\"你好\"},\"logprobs\":null,"
               "\"finish_reason\":null}]}",
               &b, &fc));
    CHECK(field_is(fc.has_content, fc.content, fc.content_len, "你好"));
    CHECK(!fc.has_reasoning);
    CHECK(!fc.has_finish);

    CHECK(scan(" { \"choices\" : [ { \"delta\" : { \"reasoning_content\" : \"想\" , \"content\" : "
               "null } , \"finish_reason\" : \"stop\" } ] , \"usage\" : null } \r\n",
               &b, &fc));
    CHECK(field_is(fc.has_reasoning, fc.reasoning, fc.reasoning_len, "想"));
    CHECK(!fc.has_content);
    CHECK(field_is(fc.has_finish, fc.finish, fc.finish_len, "stop"));

    /* reasoning_content wins over reasoning; reasoning when the other is null */
    CHECK(scan("{\"choices\":[{\"delta\":{\"reasoning\":\"b\",\"reasoning_content\":\"a\"}}]}", &b,
               &fc));
    CHECK(field_is(fc.has_reasoning, fc.reasoning, fc.reasoning_len, "a"));
    CHECK(scan("{\"choices\":[{\"delta\":{\"reasoning_content\":null,\"reasoning\":\"b\"}}]}", &b,
               &fc));
    CHECK(field_is(fc.has_reasoning, fc.reasoning, fc.reasoning_len, "b"));

    /* no choices, or empty ones: nothing, but handled */
    CHECK(scan("{\"choices\":[]}", &b, &fc));
    CHECK(!fc.has_content && !fc.has_reasoning && !fc.has_finish);
    CHECK(scan("{}", &b, &fc));
    buf_release(&b);
}

TEST(fastchunk_unescapes)
{
    struct buf b = BUF_INIT;
    struct fastchunk fc;
    CHECK(scan("{\"choices\":[{\"delta\":{\"content\":\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f"
               "\\u4f60\\u00e9\\ud83d\\ude00z\",\"reasoning_content\":\"\\u0041x\"}}]}",
               &b, &fc));
    CHECK(field_is(fc.has_content, fc.content, fc.content_len,
                   "a\"b\\c/d\n\t\r\b\f你é\xF0\x9F\x98\x80z"));
    CHECK(field_is(fc.has_reasoning, fc.reasoning, fc.reasoning_len, "Ax"));
    buf_release(&b);
}

TEST(fastchunk_falls_back)
{
    static const char *const no[] = {
        "",
        "[]",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":3}}",
        "{\"error\":{\"message\":\"x\"}}",
        "{\"error\":\"x\"}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"}},{\"delta\":{}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":\"b\"}}]}", /* duplicate */
        "{\"choices\":[],\"choices\":[]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\ud800\"}}]}", /* lone surrogate */
        "{\"choices\":[{\"delta\":{\"content\":\"\\udc00\\ud800\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\u0000\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\x\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\x01\"}}]}",        /* raw control byte */
        "{\"choices\":[{\"delta\":{\"content\":\"\xC0\x80\"}}]}",     /* overlong */
        "{\"choices\":[{\"delta\":{\"content\":\"\xED\xA0\x80\"}}]}", /* surrogate */
        "{\"choices\":[{\"delta\":{\"content\":\"\xF4\x90\x80\x80\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]} x",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]",
        "{\"created\":1.5,\"choices\":[]}",
        "{\"created\":01,\"choices\":[]}",
        "{\"created\":12345678901234567890,\"choices\":[]}",
        "{\"x\":{},\"choices\":[]}",
        "{\"con\\u0074ent\":1}", /* escaped key */
        "{\"choices\":[{\"delta\":null}]}",
        "{\"choices\":[{\"delta\":{\"content\":5}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"},}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"}}],}",
        "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\0",
    };
    struct buf b = BUF_INIT;
    struct fastchunk fc;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        size_t n = strlen(no[i]);
        if (i == sizeof no / sizeof no[0] - 1)
            n++; /* the trailing NUL byte is part of the input */
        if (fastchunk_scan(no[i], n, &b, &fc))
            CHECK_STR(no[i], "(should fall back)");
    }
    buf_release(&b);
}
