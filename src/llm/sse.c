/* The Server-Sent Events parser behind llm_chat: turns arbitrary byte slices
 * of a text/event-stream into whole "data" payloads. Lines end in LF, CRLF or a
 * lone CR, and may be split anywhere (even inside a UTF-8 sequence) between feeds. */
#include "llm/llm.h"

#include "common/rc.h"

#include <string.h>

/* A model never needs a megabyte in one event; anything bigger is hostile. */
#define SSE_MAX_LINE (1024 * 1024)
#define SSE_MAX_DATA (1024 * 1024)

void sse_init(struct sse_parser *s, int (*on_data)(void *, const char *, size_t), void *ctx)
{
    buf_init(&s->line, SSE_MAX_LINE);
    buf_init(&s->data, SSE_MAX_DATA);
    s->on_data = on_data;
    s->ctx = ctx;
}

void sse_release(struct sse_parser *s)
{
    buf_release(&s->line);
    buf_release(&s->data);
}

/* Hands the pending event to on_data. As in the WHATWG algorithm, the data
 * buffer holds each field followed by LF; an empty buffer means "no data
 * field seen" and dispatches nothing. */
static int dispatch(struct sse_parser *s)
{
    int rc = RC_OK;
    if (s->data.len == 0)
        goto out;
    s->data.len--; /* the LF after the last field */
    s->data.p[s->data.len] = '\0';
    if (s->on_data)
        rc = s->on_data(s->ctx, s->data.p, s->data.len);
out:
    buf_reset(&s->data);
    return rc;
}

/* One complete line, without its terminator. */
static int process_line(struct sse_parser *s, const char *p, size_t n)
{
    int rc = RC_OK;
    if (n == 0) {
        rc = dispatch(s);
        goto out;
    }
    if (p[0] == ':')
        goto out; /* a comment (servers send them as keep-alives) */
    const char *colon = memchr(p, ':', n);
    size_t name_len = colon ? (size_t)(colon - p) : n;
    if (name_len != 4 || memcmp(p, "data", 4) != 0)
        goto out; /* event, id, retry and unknown fields do not matter to us */
    const char *v = colon ? colon + 1 : p + n;
    size_t vn = (size_t)(p + n - v);
    if (vn > 0 && v[0] == ' ') {
        v++;
        vn--;
    }
    rc = buf_add(&s->data, v, vn);
    if (rc == RC_OK)
        rc = buf_addc(&s->data, '\n');
out:
    return rc;
}

/* Processes the buffered line (dropping a trailing CR) and empties it. */
static int flush_line(struct sse_parser *s)
{
    size_t n = s->line.len;
    if (n > 0 && s->line.p[n - 1] == '\r')
        n--;
    int rc = process_line(s, n ? s->line.p : "", n);
    buf_reset(&s->line);
    return rc;
}

int sse_feed(struct sse_parser *s, const char *p, size_t n)
{
    int rc = RC_OK;
    size_t i = 0;
    while (i < n) {
        /* A CR kept at the end of the line is a terminator by itself unless
         * an LF follows (CRLF); we only know once the next byte arrives. */
        if (s->line.len > 0 && s->line.p[s->line.len - 1] == '\r') {
            rc = flush_line(s);
            if (rc)
                goto out;
            if (p[i] == '\n') {
                i++;
                continue;
            }
        }
        if (p[i] == '\n') {
            rc = flush_line(s);
            if (rc)
                goto out;
            i++;
            continue;
        }
        /* Copy a run of ordinary bytes, plus a CR that ends it, in one go. */
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        if (j < n && p[j] == '\r')
            j++;
        rc = buf_add(&s->line, p + i, j - i);
        if (rc)
            goto out;
        i = j;
    }
out:
    return rc;
}

int sse_finish(struct sse_parser *s)
{
    int rc = RC_OK;
    if (s->line.len > 0) {
        rc = flush_line(s);
        if (rc)
            goto out;
    }
    rc = dispatch(s);
out:
    return rc;
}
