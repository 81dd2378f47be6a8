/* A fast path for the streamed chat chunk models send most of the time,
 * {"choices":[{"delta":{"content":"…"},"finish_reason":null,…}],…}: a
 * hand-rolled scanner that pulls out the delta's strings without building a
 * jansson tree. Anything it is not sure of (tool calls, usage, errors,
 * unusual shapes or numbers, duplicate keys) is left to jansson. */
#ifndef ATRIUM_LLM_FASTCHUNK_H
#define ATRIUM_LLM_FASTCHUNK_H

#include "common/buf.h"

#include <stddef.h>

/* What one chunk says. A string field is present (has_*) when the chunk
 * holds it as a JSON string; its bytes are the unescaped UTF-8 text (never
 * NUL inside), pointing into the input or into the scratch buffer. */
struct fastchunk {
    const char *content, *reasoning, *finish;
    size_t content_len, reasoning_len, finish_len;
    int has_content, has_reasoning, has_finish;
};

/* Scans p[0..n), one SSE event's data. Returns 1 when the event is a JSON
 * object of the common shape and *out holds exactly what the jansson path
 * (llm.c apply_chunk on json_loadb's result) would take from it:
 * choices[0].finish_reason when a string, choices[0].delta.content, and
 * delta.reasoning_content (or, when that is not a string, delta.reasoning);
 * no error, usage or tool_calls. Returns 0 when the caller must parse the
 * event with jansson instead (including every malformed input). The strings
 * stay valid until scratch is next used or released, and while p is. */
int fastchunk_scan(const char *p, size_t n, struct buf *scratch, struct fastchunk *out);

#endif
