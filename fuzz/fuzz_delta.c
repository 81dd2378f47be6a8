/* Differential libFuzzer driver for the streamed-chunk scanner
 * (src/llm/fastchunk.c) against jansson: for every input the scanner
 * accepts, jansson must parse it too and llm.c's apply_chunk reading (error,
 * usage, choices[0].finish_reason, delta.reasoning_content / reasoning,
 * delta.content, tool_calls) must give the same strings. The first byte
 * picks how the rest is used: as it is, or spliced into a chunk template
 * (inside the content string, the reasoning string, or as raw JSON between
 * members) so that the fuzzer reaches the accepted shapes quickly.
 * (fuzz/fuzz_chunk.c is the kb chunker's driver; hence this name.)
 * Build and run (20 s):
 *   clang -std=c11 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Isrc \
 *     -fsanitize=fuzzer,address,undefined fuzz/fuzz_delta.c src/llm/fastchunk.c \
 *     src/common/[a-z]*.c $(pkg-config --libs jansson libsodium) -o /tmp/fuzz_delta \
 *     && /tmp/fuzz_delta -max_total_time=20 */
#include "common/buf.h"
#include "llm/fastchunk.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void same(int has, const char *p, size_t n, json_t *v)
{
    int jhas = json_is_string(v);
    if (has != jhas)
        abort();
    if (has && (n != json_string_length(v) || memcmp(p, json_string_value(v), n) != 0))
        abort();
}

static void check(const char *p, size_t n)
{
    struct buf scratch = BUF_INIT;
    struct fastchunk fc;
    if (!fastchunk_scan(p, n, &scratch, &fc))
        goto out;
    json_error_t je;
    json_t *j = json_loadb(p, n, 0, &je);
    if (!json_is_object(j))
        abort(); /* the scanner took what jansson refuses */
    json_t *e = json_object_get(j, "error");
    if (json_is_object(e) || json_is_string(e))
        abort();
    json_t *usage = json_object_get(j, "usage");
    if (json_object_get(usage, "prompt_tokens") || json_object_get(usage, "completion_tokens"))
        abort();
    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
    json_t *d = json_object_get(choice, "delta");
    json_t *r = json_object_get(d, "reasoning_content");
    if (!json_is_string(r))
        r = json_object_get(d, "reasoning");
    same(fc.has_finish, fc.finish, fc.finish_len, json_object_get(choice, "finish_reason"));
    same(fc.has_reasoning, fc.reasoning, fc.reasoning_len, r);
    same(fc.has_content, fc.content, fc.content_len, json_object_get(d, "content"));
    if (json_is_array(json_object_get(d, "tool_calls")))
        abort();
    json_decref(j);
out:
    buf_release(&scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const pre[] = {
        "",
        ("{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"choices\":[{"
         "\"index\":0,\"delta\":{\"content\":\""),
        "{\"choices\":[{\"delta\":{\"reasoning_content\":\"",
        "{\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{",
        "{\"choices\":[{\"delta\":{\"content\":\"x\"},",
        "{",
    };
    static const char *const post[] = {
        "",
        "\"},\"logprobs\":null,\"finish_reason\":null}]}",
        "\",\"content\":null},\"finish_reason\":\"stop\"}],\"usage\":null}",
        "}}]}",
        "}]}",
        "}",
    };
    if (size == 0)
        return 0;
    size_t mode = data[0] % (sizeof pre / sizeof pre[0]);
    const char *body = (const char *)data + 1;
    size_t nbody = size - 1;
    check(body, nbody);
    if (mode == 0)
        return 0;
    size_t a = strlen(pre[mode]), b = strlen(post[mode]);
    char *s = malloc(a + nbody + b);
    if (!s)
        return 0;
    memcpy(s, pre[mode], a);
    memcpy(s + a, body, nbody);
    memcpy(s + a + nbody, post[mode], b);
    check(s, a + nbody + b);
    free(s);
    return 0;
}
