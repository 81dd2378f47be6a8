/* The model client: OpenAI-compatible chat completions streamed over SSE,
 * embeddings and rerank, on libcurl and jansson. Each call owns its own curl
 * handle. A chat runs on one of N event loop threads (ATRIUM_MODEL_LOOPS,
 * default 2: a curl multi handle each, many streams per thread, kept-alive
 * connections reused across calls) while the caller waits, its delta
 * callback then running on the loop thread; or, with ATRIUM_MODEL_LOOPS=0,
 * on its caller's thread. The common streamed chunk is read by fastchunk.h's
 * scanner; jansson reads the rest. */
#define _GNU_SOURCE /* pthread_setname_np, SCHED_RESET_ON_FORK */
#include "llm/llm.h"
#include "llm/fastchunk.h"

#include "common/alloc.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LLM_URL_MAX 2048
#define LLM_ANSWER_MAX (8u << 20)       /* content or reasoning of one answer */
#define LLM_JSON_MAX (128u << 20)       /* an embeddings response for a big batch */
#define LLM_SNIPPET 200                 /* bytes of an error body quoted in err */
#define LLM_MAX_TOOLS 64                /* tool calls in one answer */
#define LLM_TOOL_FIELD_MAX (256u << 10) /* id, name or arguments of one tool call */
#define LLM_MAX_DIM 65536
#define CHAT_RECV_BUFFER 4096L /* curl's receive buffer for a chat stream */

#define DEF_CONNECT_MS 10000L
#define DEF_FIRST_TOKEN_MS 60000L
#define DEF_CHAT_TOTAL_MS 300000L
#define DEF_JSON_TOTAL_MS 60000L

/* Returned from the SSE callback to stop the transfer; the reason is in the
 * chat state, never in this value. */
#define STOP (-1)

enum body_kind { BODY_UNKNOWN = 0, BODY_SSE, BODY_JSON, BODY_ERROR };

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void seterr(struct buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(struct buf *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* A full err buffer keeps the start of the message; nothing else to do. */
    (void)buf_vaddf(err, fmt, ap);
    va_end(ap);
}

static long or_default(long v, long def)
{
    return v > 0 ? v : def;
}

/* ------------------------------------------------------------ requests */

/* One HTTP POST being prepared: the handle, its headers and body. */
struct req {
    CURL *h;
    struct curl_slist *hdrs;
    char *body;
    char url[LLM_URL_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

static void req_release(struct req *r)
{
    if (r->h)
        curl_easy_cleanup(r->h);
    curl_slist_free_all(r->hdrs);
    free(r->body);
    r->h = NULL;
    r->hdrs = NULL;
    r->body = NULL;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* Builds {base_url}{path} into r->url, with or without a trailing slash on
 * the base. Only http and https; no spaces or control bytes. */
static int build_url(struct req *r, const char *base, const char *path, struct buf *err)
{
    int rc = RC_INVALID;
    if (!base || (strncasecmp(base, "http://", 7) != 0 && strncasecmp(base, "https://", 8) != 0)) {
        seterr(err, "model endpoint URL must start with http:// or https://");
        goto out;
    }
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)base[i] <= 0x20 || base[i] == 0x7f) {
            seterr(err, "model endpoint URL contains spaces or control characters");
            goto out;
        }
    }
    if (n + strlen(path) >= sizeof r->url) {
        seterr(err, "model endpoint URL is too long");
        goto out;
    }
    int w = snprintf(r->url, sizeof r->url, "%.*s%s", (int)n, base, path);
    if (w < 0 || (size_t)w >= sizeof r->url) {
        seterr(err, "model endpoint URL is too long");
        goto out;
    }
    rc = RC_OK;
out:
    return rc;
}

#define SETOPT(h, opt, val)                                                                        \
    do {                                                                                           \
        if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) {                                     \
            seterr(err, "libcurl refused option %s", #opt);                                        \
            rc = RC_INTERNAL;                                                                      \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* Letters, digits and "-_." only: safe as a header value as it is. */
static int is_token(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
            return 0;
    return 1;
}

/* Prepares a POST of `payload` to {base}{path}. The write callback and its
 * data are set by the caller. */
static int req_setup(struct req *r, const struct llm_endpoint *ep, const char *path,
                     const json_t *payload, const char *accept, long total_default, struct buf *err)
{
    int rc = RC_OK;
    struct buf auth = BUF_INIT;
    memset(r, 0, sizeof *r);
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK) {
        seterr(err, "libcurl could not be initialised");
        rc = RC_INTERNAL;
        goto out;
    }
    if (!ep || !ep->model) {
        seterr(err, "model endpoint has no model name");
        rc = RC_INVALID;
        goto out;
    }
    rc = build_url(r, ep->base_url, path, err);
    if (rc)
        goto out;
    r->body = jsonw_str(payload); /* json_dumps' bytes, several times faster on passages */
    if (!r->body) {
        seterr(err, "could not encode the request");
        rc = RC_INTERNAL;
        goto out;
    }
    r->h = curl_easy_init();
    if (!r->h) {
        seterr(err, "libcurl could not create a handle");
        rc = RC_INTERNAL;
        goto out;
    }
    /* "Expect:" stops curl from waiting for a 100-continue on big bodies. */
    const char *fixed[] = {"Content-Type: application/json", "Expect:", accept};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *l = curl_slist_append(r->hdrs, fixed[i]);
        if (!l) {
            rc = RC_INTERNAL;
            goto out;
        }
        r->hdrs = l;
    }
    /* The request's id goes to the model server as X-Request-Id (vLLM
     * takes it as its own request id): one id in both servers' logs. */
    const char *rid = log_request_id();
    if (rid[0] && is_token(rid)) {
        struct buf h = BUF_INIT;
        struct curl_slist *l = NULL;
        if (buf_addf(&h, "X-Request-Id: %s", rid) == RC_OK)
            l = curl_slist_append(r->hdrs, h.p);
        buf_release(&h);
        if (!l) {
            rc = RC_INTERNAL;
            goto out;
        }
        r->hdrs = l;
    }
    if (ep->api_key && ep->api_key[0]) {
        if (has_ctl(ep->api_key)) {
            seterr(err, "model API key contains control characters");
            rc = RC_INVALID;
            goto out;
        }
        rc = buf_addf(&auth, "Authorization: Bearer %s", ep->api_key);
        if (rc)
            goto out;
        struct curl_slist *l = curl_slist_append(r->hdrs, auth.p);
        if (!l) {
            rc = RC_INTERNAL;
            goto out;
        }
        r->hdrs = l;
    }
    SETOPT(r->h, CURLOPT_URL, r->url);
    SETOPT(r->h, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(r->h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(r->h, CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(r->h, CURLOPT_HTTPHEADER, r->hdrs);
    SETOPT(r->h, CURLOPT_POSTFIELDS, r->body);
    SETOPT(r->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
    SETOPT(r->h, CURLOPT_USERAGENT, "atrium");
    SETOPT(r->h, CURLOPT_CONNECTTIMEOUT_MS, or_default(ep->connect_timeout_ms, DEF_CONNECT_MS));
    SETOPT(r->h, CURLOPT_TIMEOUT_MS, or_default(ep->total_timeout_ms, total_default));
out:
    if (auth.p)
        explicit_bzero(auth.p, auth.cap);
    buf_release(&auth);
    return rc;
}

/* What the response is, decided on its first body bytes. */
static enum body_kind classify(CURL *h, long *status)
{
    long code = 0;
    char *ctype = NULL;
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        code = 0;
    *status = code;
    if (code < 200 || code >= 300)
        return BODY_ERROR;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype) != CURLE_OK)
        ctype = NULL;
    if (ctype && strncasecmp(ctype, "application/json", 16) == 0)
        return BODY_JSON;
    return BODY_SSE;
}

/* A response with no body never reached the write callback: classify it
 * after the transfer. Either way *status ends as the reply's HTTP status,
 * 0 when no reply arrived. */
static void classify_late(CURL *h, enum body_kind *kind, long *status)
{
    long st = 0;
    if (*kind != BODY_UNKNOWN)
        return;
    if (classify(h, &st) == BODY_ERROR && st != 0)
        *kind = BODY_ERROR;
    *status = st;
}

/* Keeps the first LLM_SNIPPET bytes of an error body. Returns 0 once full,
 * which stops the transfer: the rest does not matter. */
static int keep_snippet(struct buf *snip, const char *p, size_t n)
{
    size_t room = snip->len < LLM_SNIPPET ? LLM_SNIPPET - snip->len : 0;
    if (n > room)
        n = room;
    if (buf_add(snip, p, n) != RC_OK)
        return 0;
    return snip->len < LLM_SNIPPET;
}

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when it is not one
 * (bad lead byte, missing continuation, overlong, surrogate, past U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t cp, min;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2, cp = p[0] & 0x1F, min = 0x80;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3, cp = p[0] & 0x0F, min = 0x800;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4, cp = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Appends a quoted, printable, valid UTF-8 and key-free form of (the start
 * of) an upstream body to err: the HTTP layer may put err into JSON. */
static void add_snippet(struct buf *err, const struct llm_endpoint *ep, const char *p, size_t n)
{
    struct buf s = BUF_INIT;
    if (!err)
        goto out;
    if (n > LLM_SNIPPET)
        n = LLM_SNIPPET;
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(u + i, n - i);
        int ok;
        if (len == 0) {
            /* A sequence cut by the snippet limit is dropped, junk marked. */
            ok = i + 4 > n && u[i] >= 0x80 ? RC_OK : buf_addc(&s, '?');
            len = 1;
        } else if (len == 1) {
            ok = buf_addc(&s, (char)(u[i] < 0x20 || u[i] == 0x7f ? ' ' : u[i]));
        } else {
            ok = buf_add(&s, p + i, len);
        }
        if (ok != RC_OK)
            goto out;
        i += len;
    }
    /* A proxy that echoes request headers must not leak the key into logs. */
    const char *key = ep && ep->api_key ? ep->api_key : "";
    size_t klen = strlen(key);
    for (size_t i = 0; klen >= 4 && s.len >= klen && i <= s.len - klen; i++)
        if (memcmp(s.p + i, key, klen) == 0)
            memset(s.p + i, '*', klen);
    /* The snippet limit may cut through an echoed key: a tail that is the
     * start of the key (four bytes or more) goes too. */
    for (size_t i = s.len > klen ? s.len - klen + 1 : 0; klen >= 4 && i + 4 <= s.len; i++)
        if (memcmp(s.p + i, key, s.len - i) == 0) {
            memset(s.p + i, '*', s.len - i);
            break;
        }
    seterr(err, ": \"%s\"", buf_str(&s));
out:
    buf_release(&s);
}

/* Turns a failed curl transfer into a result code and message. */
static int curl_failure(CURL *h, CURLcode cres, const char *errbuf, const char *what,
                        struct buf *err)
{
    const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(cres);
    if (cres == CURLE_OPERATION_TIMEDOUT) {
        curl_off_t connect_us = 0;
        if (curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us) != CURLE_OK)
            connect_us = 0;
        seterr(err, "%s: %s timed out (%s)", what, connect_us ? "request" : "connection", detail);
        return RC_TIMEOUT;
    }
    seterr(err, "%s failed: %s", what, detail);
    return RC_UPSTREAM;
}

/* ------------------------------------------------------------ chat */

struct tool_call {
    struct buf id, type, name, args;
};

struct chat {
    const struct llm_endpoint *ep;
    CURL *h;
    llm_delta_cb cb;
    void *ctx;
    struct sse_parser sse;
    enum body_kind kind;
    long status;
    struct buf raw; /* a JSON completion, or the start of an error body */
    struct buf content, reasoning, finish;
    struct buf scratch; /* fastchunk_scan's unescaped strings */
    struct tool_call *tools;
    size_t ntools;
    long prompt_tokens, completion_tokens;
    double t0, first_ms;
    size_t nevents;
    int done, got_token, cancelled, first_timeout, failed;
    struct buf why; /* set with failed: what was wrong with the stream */
    /* On the model loop: the deadline for the first token, the list of
     * chats in the multi (loop thread only) or waiting to join it (under
     * its loop's mu), and the end (under its loop's mu). */
    double deadline;
    struct loop *loop;
    curl_socket_t sock; /* its socket on the loop (-1: none; loop thread only) */
    struct chat *next, *prev;
    pthread_cond_t cv;
    int finished;
    CURLcode result;
};

static int chat_fail(struct chat *c, const char *msg)
{
    if (!c->failed) {
        c->failed = 1;
        (void)buf_adds(&c->why, msg); /* why is uncapped; a short literal fits */
    }
    return STOP;
}

/* Records one piece of text and passes it on. jansson only returns valid
 * UTF-8 (it rejects bad bytes and lone surrogates), and an SSE line is only
 * parsed once complete, so each piece holds whole UTF-8 sequences even when
 * the network split a character between reads. */
static int deliver(struct chat *c, enum llm_delta_kind kind, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    struct buf *dst = kind == LLM_CONTENT ? &c->content : &c->reasoning;
    if (buf_add(dst, p, n) != RC_OK)
        return chat_fail(c, "answer too large");
    if (!c->got_token) {
        c->got_token = 1;
        c->first_ms = now_ms() - c->t0;
    }
    if (c->cb && c->cb(c->ctx, kind, p, n) != 0) {
        c->cancelled = 1;
        return STOP;
    }
    return 0;
}

static int set_field(struct chat *c, struct buf *b, json_t *v, int append)
{
    if (!json_is_string(v))
        return 0;
    if (!append)
        buf_reset(b);
    if (buf_add(b, json_string_value(v), json_string_length(v)) != RC_OK)
        return chat_fail(c, "tool call too large");
    return 0;
}

/* Merges tool-call deltas (streamed: pieces keyed by "index"; whole
 * message: one object per call). */
static int add_tool_calls(struct chat *c, json_t *calls)
{
    size_t i;
    json_t *t;
    json_array_foreach(calls, i, t)
    {
        if (!json_is_object(t))
            return chat_fail(c, "malformed tool call");
        json_t *jidx = json_object_get(t, "index");
        json_int_t idx = json_is_integer(jidx) ? json_integer_value(jidx) : (json_int_t)i;
        if (idx < 0 || idx >= LLM_MAX_TOOLS)
            return chat_fail(c, "tool call index out of range");
        if (!c->tools)
            c->tools = xcalloc(LLM_MAX_TOOLS, sizeof *c->tools);
        struct tool_call *tc = &c->tools[idx];
        if ((size_t)idx >= c->ntools) {
            for (size_t k = c->ntools; k <= (size_t)idx; k++) {
                buf_init(&c->tools[k].id, LLM_TOOL_FIELD_MAX);
                buf_init(&c->tools[k].type, LLM_TOOL_FIELD_MAX);
                buf_init(&c->tools[k].name, LLM_TOOL_FIELD_MAX);
                buf_init(&c->tools[k].args, LLM_TOOL_FIELD_MAX);
            }
            c->ntools = (size_t)idx + 1;
        }
        json_t *fn = json_object_get(t, "function");
        if (set_field(c, &tc->id, json_object_get(t, "id"), 0) ||
            set_field(c, &tc->type, json_object_get(t, "type"), 0) ||
            set_field(c, &tc->name, json_object_get(fn, "name"), 0) ||
            set_field(c, &tc->args, json_object_get(fn, "arguments"), 1))
            return STOP;
        if (!c->got_token) {
            c->got_token = 1;
            c->first_ms = now_ms() - c->t0;
        }
    }
    return 0;
}

/* Applies one chunk (streamed, reading choices[0].delta) or a whole
 * completion (reading choices[0].message). */
static int apply_chunk(struct chat *c, json_t *j, int streamed)
{
    int rc = 0;
    json_t *e = json_object_get(j, "error");
    if (json_is_object(e) || json_is_string(e)) { /* some proxies send "error": null */
        json_t *m = json_is_object(e) ? json_object_get(e, "message") : e;
        const char *msg = json_is_string(m) ? json_string_value(m) : "no message";
        chat_fail(c, "model reported an error");
        add_snippet(&c->why, c->ep, msg, strlen(msg));
        return STOP;
    }
    json_t *usage = json_object_get(j, "usage");
    json_t *pt = json_object_get(usage, "prompt_tokens");
    json_t *ct = json_object_get(usage, "completion_tokens");
    if (json_is_integer(pt) && json_integer_value(pt) >= 0)
        c->prompt_tokens = (long)json_integer_value(pt);
    if (json_is_integer(ct) && json_integer_value(ct) >= 0)
        c->completion_tokens = (long)json_integer_value(ct);

    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
    if (!json_is_object(choice))
        goto out;
    json_t *fin = json_object_get(choice, "finish_reason");
    if (json_is_string(fin)) {
        buf_reset(&c->finish);
        if (buf_add(&c->finish, json_string_value(fin), json_string_length(fin)) != RC_OK) {
            rc = chat_fail(c, "finish_reason too long");
            goto out;
        }
    }
    json_t *d = json_object_get(choice, streamed ? "delta" : "message");
    if (!json_is_object(d))
        goto out;
    json_t *r = json_object_get(d, "reasoning_content");
    if (!json_is_string(r))
        r = json_object_get(d, "reasoning"); /* newer vLLM spelling */
    if (json_is_string(r)) {
        rc = deliver(c, LLM_REASONING, json_string_value(r), json_string_length(r));
        if (rc)
            goto out;
    }
    json_t *content = json_object_get(d, "content");
    if (json_is_string(content)) {
        rc = deliver(c, LLM_CONTENT, json_string_value(content), json_string_length(content));
        if (rc)
            goto out;
    }
    json_t *calls = json_object_get(d, "tool_calls");
    if (json_is_array(calls))
        rc = add_tool_calls(c, calls);
out:
    return rc;
}

static int on_event(void *ud, const char *p, size_t n)
{
    struct chat *c = ud;
    c->nevents++;
    if (n == 6 && memcmp(p, "[DONE]", 6) == 0) {
        c->done = 1;
        return 0;
    }
    if (c->done)
        return 0; /* nothing after [DONE] counts */
    struct fastchunk fc;
    int rc;
    if (fastchunk_scan(p, n, &c->scratch, &fc)) {
        /* the common chunk, without jansson: the same order as apply_chunk */
        if (fc.has_finish) {
            buf_reset(&c->finish);
            if (buf_add(&c->finish, fc.finish, fc.finish_len) != RC_OK)
                return chat_fail(c, "finish_reason too long");
        }
        if (fc.has_reasoning && (rc = deliver(c, LLM_REASONING, fc.reasoning, fc.reasoning_len)))
            return rc;
        if (fc.has_content && (rc = deliver(c, LLM_CONTENT, fc.content, fc.content_len)))
            return rc;
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb(p, n, 0, &je);
    if (!json_is_object(j))
        rc = chat_fail(c, "model sent a stream event that is not a JSON object");
    else
        rc = apply_chunk(c, j, 1);
    json_decref(j);
    return rc;
}

static size_t chat_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct chat *c = ud;
    size_t n = size * nmemb;
    if (c->kind == BODY_UNKNOWN)
        c->kind = classify(c->h, &c->status);
    switch (c->kind) {
    case BODY_ERROR:
        return keep_snippet(&c->raw, p, n) ? n : 0;
    case BODY_JSON:
        if (buf_add(&c->raw, p, n) != RC_OK) {
            chat_fail(c, "model response too large");
            return 0;
        }
        return n;
    default:
        break;
    }
    /* The start of the body explains a stream without events (a proxy's
     * HTML page, say); keep it for the error message. */
    if (c->raw.len < LLM_SNIPPET)
        (void)keep_snippet(&c->raw, p, n); /* "full" only means we have enough */
    int rc = sse_feed(&c->sse, p, n);
    if (rc == RC_TOO_BIG)
        chat_fail(c, "model sent an oversized stream event");
    return rc ? 0 : n;
}

/* Runs the transfer on a private multi handle, on the calling thread (when
 * there is no model loop, the default), checking the
 * first-token deadline on time: a progress callback only runs about once a
 * second on an idle connection, too coarse for sub-second limits. */
static CURLcode chat_run_private(struct chat *c, long first_token_ms)
{
    CURLcode res = CURLE_FAILED_INIT;
    CURLM *m = curl_multi_init();
    if (!m)
        goto out;
    if (curl_multi_add_handle(m, c->h) != CURLM_OK)
        goto out;
    double deadline = c->t0 + (double)first_token_ms;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (!running) {
            int left = 0;
            CURLMsg *msg;
            while ((msg = curl_multi_info_read(m, &left)) != NULL)
                if (msg->msg == CURLMSG_DONE)
                    res = msg->data.result;
            break;
        }
        double now = now_ms();
        if (!c->got_token && now >= deadline) {
            c->first_timeout = 1;
            res = CURLE_OPERATION_TIMEDOUT;
            break;
        }
        int wait = 1000;
        if (!c->got_token && deadline - now < wait)
            wait = (int)(deadline - now) + 1;
        if (curl_multi_poll(m, NULL, 0, wait, NULL) != CURLM_OK)
            break;
    }
    if (curl_multi_remove_handle(m, c->h) != CURLM_OK)
        res = res == CURLE_OK ? CURLE_FAILED_INIT : res;
out:
    if (m)
        curl_multi_cleanup(m);
    return res;
}

/* ---- the model loop ---- */

/* One thread and one multi handle for every chat, driven by epoll through
 * curl's socket interface: a delta wakes one thread (not one per answer),
 * only the sockets with data are looked at (not every transfer), and the
 * multi's connection cache keeps connections to the model alive between
 * calls. A delta callback runs on this thread, so it must not block (the
 * SSE streams only append to a buffer). */
#define LOOP_BATCH 256 /* events one epoll_wait returns at most */
#define LOOPS_MAX 64

struct loop {
    pthread_mutex_t mu;
    CURLM *m;
    int ep, wake;         /* epoll; an eventfd that says "pending has work" */
    struct chat *pending; /* submitted, not yet in the multi (under mu) */
    struct chat *active;  /* in the multi, doubly linked (loop thread only) */
    double next_check;    /* no first-token deadline is due before this */
    double timer_due;     /* when curl's timer wants a call (now_ms); < 0 none */
    /* The chat on each watched socket (by fd; loop thread only), so a
     * batch of events can take the ones awaiting a first token first. */
    struct chat **byfd;
    size_t nbyfd;
};

/* A few loops per core (a loop is one thread; loops_start); chats are dealt
 * out in turn. */
static struct loop loops[LOOPS_MAX];
static size_t nloops;
static unsigned next_loop;
static pthread_once_t loops_once = PTHREAD_ONCE_INIT;

/* Forgets which chat watches fd (and that chat's socket). */
static void loop_unwatch(struct loop *L, curl_socket_t fd)
{
    if (fd >= 0 && (size_t)fd < L->nbyfd && L->byfd[fd]) {
        L->byfd[fd]->sock = -1;
        L->byfd[fd] = NULL;
    }
}

/* Notes that c's transfer now watches fd. */
static void loop_watch(struct loop *L, curl_socket_t fd, struct chat *c)
{
    if (fd < 0 || fd > 1 << 24)
        return;
    if ((size_t)fd >= L->nbyfd) {
        size_t n = L->nbyfd ? L->nbyfd : 256;
        while (n <= (size_t)fd)
            n *= 2;
        L->byfd = xrealloc(L->byfd, n * sizeof *L->byfd);
        memset(L->byfd + L->nbyfd, 0, (n - L->nbyfd) * sizeof *L->byfd);
        L->nbyfd = n;
    }
    if (L->byfd[fd] == c)
        return;
    loop_unwatch(L, fd);
    if (c->sock >= 0)
        loop_unwatch(L, c->sock);
    L->byfd[fd] = c;
    c->sock = fd;
}

static void loop_finish(struct loop *L, struct chat *c, CURLcode res)
{
    (void)curl_multi_remove_handle(L->m, c->h);
    loop_unwatch(L, c->sock);
    if (c->prev)
        c->prev->next = c->next;
    else
        L->active = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_lock(&L->mu);
    c->result = res;
    c->finished = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&L->mu);
}

/* curl says which sockets to watch. */
static int loop_socket(CURL *h, curl_socket_t fd, int what, void *ud, void *sockp)
{
    struct loop *L = ud;
    if (what == CURL_POLL_REMOVE) {
        (void)epoll_ctl(L->ep, EPOLL_CTL_DEL, fd, NULL); /* curl may have closed it already */
        loop_unwatch(L, fd);
        return 0;
    }
    struct chat *c = NULL;
    if (curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c) == CURLE_OK && c)
        loop_watch(L, fd, c);
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                       (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.fd = fd};
    int op = sockp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(L->ep, op, fd, &ev) != 0 &&
        epoll_ctl(L->ep, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
        log_warn("llm: the model loop cannot watch a socket");
        return -1;
    }
    if (!sockp)
        (void)curl_multi_assign(L->m, fd, (void *)1); /* "known": MOD next time */
    return 0;
}

static int loop_timer(CURLM *m, long timeout_ms, void *ud)
{
    struct loop *L = ud;
    (void)m;
    L->timer_due = timeout_ms < 0 ? -1 : now_ms() + (double)timeout_ms;
    return 0;
}

static void loop_done_msgs(struct loop *L)
{
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(L->m, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct chat *c = NULL;
        if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c) == CURLE_OK && c)
            loop_finish(L, c, msg->data.result);
    }
}

static void loop_add_pending(struct loop *L)
{
    uint64_t n;
    if (read(L->wake, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warn("llm: the model loop's wake-up failed");
    pthread_mutex_lock(&L->mu);
    struct chat *add = L->pending;
    L->pending = NULL;
    pthread_mutex_unlock(&L->mu);
    while (add) {
        struct chat *c = add;
        add = c->next;
        if (curl_multi_add_handle(L->m, c->h) == CURLM_OK) {
            c->prev = NULL;
            c->next = L->active;
            if (L->active)
                L->active->prev = c;
            L->active = c;
            if (c->deadline < L->next_check)
                L->next_check = c->deadline;
        } else {
            pthread_mutex_lock(&L->mu);
            c->result = CURLE_FAILED_INIT;
            c->finished = 1;
            pthread_cond_signal(&c->cv);
            pthread_mutex_unlock(&L->mu);
        }
    }
}

/* ATRIUM_MODEL_LOOP_NICE (default -10; 0 = as the rest of the server): the
 * nice value of the model loops, and of an answer's thread while it hands
 * its chat to a loop, when they do not run real-time (ATRIUM_MODEL_LOOP_RT
 * below). The loops carry every stream's deltas, so on a busy machine they
 * should run before the answers' store and search work rather than queue
 * behind it (docs/BENCHMARKS.md, issue #4). A lower nice value needs root,
 * CAP_SYS_NICE or a matching RLIMIT_NICE (systemd LimitNICE=); without them
 * everything runs at the server's priority, as said once. */
static int gateway_nice(void)
{
    static atomic_int cached = INT_MIN;
    int v = atomic_load(&cached);
    if (v == INT_MIN) {
        const char *e = getenv("ATRIUM_MODEL_LOOP_NICE");
        int64_t n = -10;
        if (e && *e && parse_i64(e, -20, 19, &n) != RC_OK) {
            log_warn("llm: ATRIUM_MODEL_LOOP_NICE 应为 -20 到 19 / should be -20..19: %s", e);
            n = -10;
        }
        v = (int)n;
        atomic_store(&cached, v);
    }
    return v;
}

/* Sets the calling thread's nice value; 0 when it could not. */
static int set_nice(int nice)
{
    static atomic_int told;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), nice) == 0)
        return 1;
    if (atomic_exchange(&told, 1) == 0)
        log_info("llm: 模型网关保持普通优先级 / the model gateway keeps the normal priority "
                 "(nice %d needs CAP_SYS_NICE or LimitNICE=): %s",
                 nice, strerror(errno));
    return 0;
}

/* ATRIUM_MODEL_LOOP_RT (default 0; 1 = on): whether the loops, and an
 * answer's thread inside the gateway, ask for real-time scheduling (llm.h,
 * llm_sched_loop_thread). With nice -10 alone a loop woken by a model's
 * bytes still waited up to ~30 ms for a core on a saturated 2-core host;
 * real-time, it runs at once, and the gateway's overhead p99 at 1,000 open
 * streams fell from 13-27 ms to 2-5 ms. It is not the default: on a
 * saturated host the answers' own work (retrieval, the store) then waits
 * behind the loops (a user's first token is later in a burst), and the
 * server used a tenth to a fifth more CPU
 * (docs/BENCHMARKS.md, rounds five and six). Read at each use, so a test
 * can set it. */
static int loop_rt_wanted(void)
{
    static atomic_int told;
    const char *e = getenv("ATRIUM_MODEL_LOOP_RT");
    int64_t n = 0;
    if (e && *e && parse_i64(e, 0, 1, &n) != RC_OK) {
        if (atomic_exchange(&told, 1) == 0)
            log_warn("llm: ATRIUM_MODEL_LOOP_RT 应为 0 或 1 / should be 0 or 1: %s", e);
        n = 0;
    }
    return (int)n;
}

/* SCHED_RR at the lowest real-time priority for the calling thread; 0 when
 * it may not (said once). SCHED_RESET_ON_FORK: a thread it starts (curl's
 * resolver) runs as a normal one. */
static int set_rt(void)
{
    static atomic_int told;
    struct sched_param sp = {.sched_priority = 1};
    if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &sp) == 0)
        return 1;
    if (atomic_exchange(&told, 1) == 0)
        log_info("llm: 模型网关未使用实时调度 / the model gateway runs without real-time "
                 "scheduling (SCHED_RR needs CAP_SYS_NICE or LimitRTPRIO=1): %s",
                 strerror(errno));
    return 0;
}

void llm_prio_enter(struct llm_prio *p)
{
    p->changed = p->rt = 0;
    if (loop_rt_wanted() && sched_getscheduler(0) == SCHED_OTHER && set_rt()) {
        p->rt = 1;
        return;
    }
    int want = gateway_nice();
    if (want == 0)
        return;
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, (id_t)gettid());
    if ((cur == -1 && errno) || cur <= want)
        return;
    p->prev = cur;
    p->changed = set_nice(want);
}

void llm_prio_leave(const struct llm_prio *p)
{
    if (p->rt) { /* back to normal scheduling (its nice value is kept) */
        struct sched_param sp = {.sched_priority = 0};
        (void)sched_setscheduler(0, SCHED_OTHER, &sp);
    }
    if (p->changed) /* a higher nice value needs no privilege */
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), p->prev);
}

enum llm_sched llm_sched_loop_thread(void)
{
    /* The lowest real-time priority: above every normal thread, below the
     * kernel's own. */
    if (loop_rt_wanted() && set_rt())
        return LLM_SCHED_RT;
    int nice = gateway_nice();
    return nice != 0 && set_nice(nice) ? LLM_SCHED_NICE : LLM_SCHED_NORMAL;
}

int llm_loop_wait_ms(double now, double next_check, double timer_due)
{
    double wait = 1000;
    if (next_check - now < wait)
        wait = next_check - now + 1;
    if (timer_due >= 0 && timer_due - now < wait)
        wait = timer_due - now;
    /* Rounded up: truncated, a timer under 1 ms away made epoll_wait return
     * at once, over and over, until it was due (about 400,000 empty waits a
     * round of 1,000 streams, at the loops' priority). curl's timers are
     * whole milliseconds anyway. */
    return wait > 0 ? (int)ceil(wait) : 0;
}

int llm_loop_order(const int *fds, const unsigned char *first, int n, int wake, int *order)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (fds[i] == wake)
            order[k++] = i;
    for (int i = 0; i < n; i++)
        if (fds[i] != wake && first[i])
            order[k++] = i;
    int nfirst = k;
    for (int i = 0; i < n; i++)
        if (fds[i] != wake && !first[i])
            order[k++] = i;
    return nfirst;
}

/* curl's timer, when due (a new transfer asks for 0 ms: its connect). */
static void loop_run_timer(struct loop *L)
{
    int running = 0;
    if (L->timer_due >= 0 && now_ms() >= L->timer_due) {
        L->timer_due = -1;
        (void)curl_multi_socket_action(L->m, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

/* Whether the transfer watching fd still waits for its first token. */
static int loop_awaits_first(const struct loop *L, int fd)
{
    const struct chat *c = fd >= 0 && (size_t)fd < L->nbyfd ? L->byfd[fd] : NULL;
    return c && !c->got_token;
}

static void *loop_main(void *arg)
{
    struct loop *L = arg;
    (void)pthread_setname_np(pthread_self(), "atrium-models");
    (void)llm_sched_loop_thread();
    struct epoll_event evs[LOOP_BATCH];
    int fds[LOOP_BATCH], order[LOOP_BATCH];
    unsigned char first[LOOP_BATCH];
    for (;;) {
        int n = epoll_wait(L->ep, evs, LOOP_BATCH,
                           llm_loop_wait_ms(now_ms(), L->next_check, L->timer_due));
        if (n < 0 && errno != EINTR)
            log_warn("llm: the model loop could not wait");
        for (int i = 0; i < n; i++) {
            fds[i] = evs[i].data.fd;
            first[i] = (unsigned char)loop_awaits_first(L, fds[i]);
        }
        int nfirst = n > 0 ? llm_loop_order(fds, first, n, L->wake, order) : 0;
        int running = 0;
        for (int i = 0; i < n; i++) {
            const struct epoll_event *e = &evs[order[i]];
            if (e->data.fd == L->wake) {
                loop_add_pending(L);
            } else {
                int what = (e->events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                           (e->events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                           (e->events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
                (void)curl_multi_socket_action(L->m, e->data.fd, what, &running);
            }
            /* new requests go out before the later chunks of a busy batch */
            if (i < nfirst)
                loop_run_timer(L);
        }
        loop_run_timer(L);
        loop_done_msgs(L);
        /* First-token deadlines: the list is walked only when one is due. */
        double now = now_ms();
        if (now >= L->next_check) {
            L->next_check = now + 1000;
            for (struct chat *c = L->active, *next; c; c = next) {
                next = c->next;
                if (c->got_token)
                    continue;
                if (now >= c->deadline) {
                    c->first_timeout = 1;
                    loop_finish(L, c, CURLE_OPERATION_TIMEDOUT);
                } else if (c->deadline < L->next_check) {
                    L->next_check = c->deadline;
                }
            }
        }
    }
    return NULL;
}

static int loop_init(struct loop *L)
{
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_mutex_init(&L->mu, NULL) != 0)
        return -1;
    L->timer_due = -1;
    L->ep = epoll_create1(EPOLL_CLOEXEC);
    L->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    L->m = curl_multi_init();
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = L->wake};
    if (L->ep < 0 || L->wake < 0 || !L->m || epoll_ctl(L->ep, EPOLL_CTL_ADD, L->wake, &ev) != 0 ||
        curl_multi_setopt(L->m, CURLMOPT_SOCKETFUNCTION, loop_socket) != CURLM_OK ||
        curl_multi_setopt(L->m, CURLMOPT_SOCKETDATA, L) != CURLM_OK ||
        curl_multi_setopt(L->m, CURLMOPT_TIMERFUNCTION, loop_timer) != CURLM_OK ||
        curl_multi_setopt(L->m, CURLMOPT_TIMERDATA, L) != CURLM_OK)
        goto fail;
    if (pthread_attr_init(&attr) != 0)
        goto fail;
    int made = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
               pthread_create(&t, &attr, loop_main, L) == 0;
    pthread_attr_destroy(&attr);
    if (made)
        return 0;
fail:
    if (L->m)
        curl_multi_cleanup(L->m);
    if (L->ep >= 0)
        close(L->ep);
    if (L->wake >= 0)
        close(L->wake);
    pthread_mutex_destroy(&L->mu);
    return -1;
}

/* ATRIUM_MODEL_LOOPS=N: how many loops (at most LOOPS_MAX); 0 runs each
 * chat on its caller's thread. The default is four per core (1 on one
 * core): since a delta costs a few thousand instructions (fastchunk.h, SSE
 * framing from the text) rather than ~80 k, a few loops carry 1,000 streams
 * with less CPU than a thread per call, and with several per core a first
 * chunk waits behind fewer other streams' deltas: at 1,000 streams open
 * together on two cores, four per core halved the gateway overhead's p99
 * against two per core (docs/BENCHMARKS.md, round six; issue #4). */
static void loops_start(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cores > 1 ? 4 * cores : 1;
    if (n > LOOPS_MAX)
        n = LOOPS_MAX;
    const char *e = getenv("ATRIUM_MODEL_LOOPS");
    int64_t v;
    if (e && *e) {
        if (parse_i64(e, 0, LOOPS_MAX, &v) == RC_OK)
            n = (long)v;
        else
            log_warn("llm: ATRIUM_MODEL_LOOPS 应为 0 到 %d / should be 0..%d: %s", LOOPS_MAX,
                     LOOPS_MAX, e);
    }
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK)
        return;
    while (nloops < (size_t)n && loop_init(&loops[nloops]) == 0)
        nloops++;
    if (nloops < (size_t)n)
        log_warn("llm: %zu of %ld model loops started", nloops, n);
}

/* Runs the transfer on the model loop and waits for its end; on the
 * calling thread when there is no L-> */
static CURLcode chat_run(struct chat *c, long first_token_ms)
{
    if (pthread_once(&loops_once, loops_start) != 0 || !nloops ||
        curl_easy_setopt(c->h, CURLOPT_PRIVATE, (char *)c) != CURLE_OK ||
        pthread_cond_init(&c->cv, NULL) != 0)
        return chat_run_private(c, first_token_ms);
    struct loop *L = &loops[__atomic_fetch_add(&next_loop, 1, __ATOMIC_RELAXED) % nloops];
    c->loop = L;
    c->sock = -1;
    c->deadline = c->t0 + (double)first_token_ms;
    pthread_mutex_lock(&L->mu);
    c->next = L->pending;
    L->pending = c;
    pthread_mutex_unlock(&L->mu);
    uint64_t one = 1;
    if (write(L->wake, &one, sizeof one) < 0)
        log_warn("llm: could not wake the model loop"); /* it looks again within a second */
    pthread_mutex_lock(&L->mu);
    while (!c->finished)
        pthread_cond_wait(&c->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
    pthread_cond_destroy(&c->cv);
    return c->result;
}

/* One message as the OpenAI API wants it; NULL (err set) when it is not
 * well formed. */
static json_t *chat_message(const struct llm_msg *m, size_t i, struct buf *err)
{
    json_t *calls = NULL;
    if (m->tool_calls) {
        json_error_t je;
        calls = json_loads(m->tool_calls, 0, &je);
        if (!json_is_array(calls)) {
            json_decref(calls);
            seterr(err, "message %zu: tool_calls is not a JSON array", i);
            return NULL;
        }
    }
    json_t *o = json_object();
    json_t *role = m->role ? json_string(m->role) : NULL;
    /* An assistant turn of tool calls only has "content": null. */
    json_t *content = m->content ? json_string(m->content) : calls ? json_null() : NULL;
    if (!o || !role || !content || json_object_set_new(o, "role", role) ||
        json_object_set_new(o, "content", content)) {
        if (!o || json_object_get(o, "role") != role)
            json_decref(role);
        if (!o || json_object_get(o, "content") != content)
            json_decref(content);
        json_decref(o);
        json_decref(calls);
        seterr(err, "message %zu has no role or content, or is not valid UTF-8", i);
        return NULL;
    }
    if (calls && json_object_set_new(o, "tool_calls", calls)) {
        json_decref(o);
        seterr(err, "could not encode message %zu", i);
        return NULL;
    }
    if (m->tool_call_id) {
        json_t *id = json_string(m->tool_call_id);
        if (!id || json_object_set_new(o, "tool_call_id", id)) {
            json_decref(o);
            seterr(err, "message %zu: tool_call_id is not valid UTF-8", i);
            return NULL;
        }
    }
    return o;
}

/* Merges opts into the payload: params first (never over the members the
 * client owns), then tools and tool_choice. RC_OK or RC_INVALID. */
static int apply_opts(json_t *payload, const struct llm_chat_opts *o, struct buf *err)
{
    static const char *const owned[] = {"model",          "messages", "stream",
                                        "stream_options", "tools",    "tool_choice"};
    json_error_t je;
    if (o->params && *o->params) {
        json_t *p = json_loads(o->params, 0, &je);
        if (!json_is_object(p)) {
            json_decref(p);
            seterr(err, "chat params are not a JSON object");
            return RC_INVALID;
        }
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v)
        {
            int skip = 0;
            for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
                skip |= strcmp(k, owned[i]) == 0;
            if (!skip && json_object_set(payload, k, v)) {
                json_decref(p);
                seterr(err, "could not encode the chat params");
                return RC_INVALID;
            }
        }
        json_decref(p);
    }
    if (o->tools && *o->tools) {
        json_t *t = json_loads(o->tools, 0, &je);
        if (!json_is_array(t) || json_object_set_new(payload, "tools", t)) {
            if (!json_is_array(t))
                json_decref(t);
            seterr(err, "tools are not a JSON array");
            return RC_INVALID;
        }
    }
    if (o->tool_choice && *o->tool_choice) {
        json_t *c = json_string(o->tool_choice);
        if (!c || json_object_set_new(payload, "tool_choice", c)) {
            seterr(err, "tool_choice is not valid UTF-8");
            return RC_INVALID;
        }
    }
    return RC_OK;
}

static json_t *build_chat_payload(const struct llm_endpoint *ep, const struct llm_msg *msgs,
                                  size_t nmsgs, const struct llm_chat_opts *opts, struct buf *err)
{
    json_t *arr = json_array();
    json_t *payload = NULL;
    for (size_t i = 0; i < nmsgs; i++) {
        json_t *m = chat_message(&msgs[i], i, err);
        if (!m)
            goto out;
        if (json_array_append_new(arr, m)) {
            seterr(err, "could not encode message %zu", i);
            goto out;
        }
    }
    json_t *model = json_string(ep->model);
    if (!model) {
        seterr(err, "model name is not valid UTF-8");
        goto out;
    }
    payload = json_pack("{s:o,s:O,s:b,s:{s:b}}", "model", model, "messages", arr, "stream", 1,
                        "stream_options", "include_usage", 1);
    if (!payload) {
        seterr(err, "could not encode the chat request");
        goto out;
    }
    if (opts && apply_opts(payload, opts, err) != RC_OK) {
        json_decref(payload);
        payload = NULL;
    }
out:
    json_decref(arr);
    return payload;
}

static char *tools_json(const struct chat *c)
{
    char *out = NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < c->ntools; i++) {
        const struct tool_call *t = &c->tools[i];
        json_t *o = json_pack("{s:s%,s:s%,s:{s:s%,s:s%}}", "id", buf_str(&t->id), t->id.len, "type",
                              t->type.len ? buf_str(&t->type) : "function",
                              t->type.len ? t->type.len : 8, "function", "name", buf_str(&t->name),
                              t->name.len, "arguments", buf_str(&t->args), t->args.len);
        if (!o || json_array_append_new(arr, o))
            goto out;
    }
    out = jsonw_str(arr);
out:
    json_decref(arr);
    return out;
}

static void chat_release(struct chat *c)
{
    sse_release(&c->sse);
    buf_release(&c->raw);
    buf_release(&c->content);
    buf_release(&c->reasoning);
    buf_release(&c->finish);
    buf_release(&c->scratch);
    buf_release(&c->why);
    for (size_t i = 0; i < c->ntools; i++) {
        buf_release(&c->tools[i].id);
        buf_release(&c->tools[i].type);
        buf_release(&c->tools[i].name);
        buf_release(&c->tools[i].args);
    }
    free(c->tools);
}

int llm_chat(const struct llm_endpoint *ep, const struct llm_msg *msgs, size_t nmsgs,
             llm_delta_cb cb, void *ctx, struct llm_result *res, struct buf *err)
{
    return llm_chat_ex(ep, msgs, nmsgs, NULL, cb, ctx, res, err);
}

int llm_chat_ex(const struct llm_endpoint *ep, const struct llm_msg *msgs, size_t nmsgs,
                const struct llm_chat_opts *opts, llm_delta_cb cb, void *ctx,
                struct llm_result *res, struct buf *err)
{
    int rc = RC_OK;
    struct req r;
    struct chat c;
    json_t *payload = NULL;
    memset(&r, 0, sizeof r);
    memset(&c, 0, sizeof c);
    memset(res, 0, sizeof *res);
    res->prompt_tokens = res->completion_tokens = -1;
    res->first_token_ms = -1;
    c.ep = ep;
    c.cb = cb;
    c.ctx = ctx;
    c.t0 = now_ms();
    c.first_ms = -1;
    c.prompt_tokens = c.completion_tokens = -1;
    sse_init(&c.sse, on_event, &c);
    buf_init(&c.raw, LLM_JSON_MAX);
    buf_init(&c.content, LLM_ANSWER_MAX);
    buf_init(&c.reasoning, LLM_ANSWER_MAX);
    buf_init(&c.finish, 64);
    buf_init(&c.scratch, LLM_ANSWER_MAX);
    buf_init(&c.why, BUF_NOMAX);

    if (!ep || !ep->model || (nmsgs && !msgs)) {
        seterr(err, "chat needs an endpoint, a model and messages");
        rc = RC_INVALID;
        goto out;
    }
    payload = build_chat_payload(ep, msgs, nmsgs, opts, err);
    if (!payload) {
        rc = RC_INVALID;
        goto out;
    }
    rc = req_setup(&r, ep, "/chat/completions", payload, "Accept: text/event-stream",
                   DEF_CHAT_TOTAL_MS, err);
    if (rc)
        goto out;
    c.h = r.h;
    SETOPT(r.h, CURLOPT_WRITEFUNCTION, chat_write);
    SETOPT(r.h, CURLOPT_WRITEDATA, &c);
    /* A stream's events are a few hundred bytes: curl's 16 KB receive
     * buffer per transfer was 16 MB at 1,000 streams. */
    SETOPT(r.h, CURLOPT_BUFFERSIZE, CHAT_RECV_BUFFER);

    CURLcode cres = chat_run(&c, or_default(ep->first_token_timeout_ms, DEF_FIRST_TOKEN_MS));
    classify_late(r.h, &c.kind, &c.status);
    if (c.cancelled) {
        res->cancelled = 1;
        rc = RC_OK;
    } else if (c.first_timeout) {
        seterr(err, "model sent no token within %ld ms",
               or_default(ep->first_token_timeout_ms, DEF_FIRST_TOKEN_MS));
        rc = RC_TIMEOUT;
    } else if (c.failed) {
        seterr(err, "%s", buf_str(&c.why));
        rc = RC_UPSTREAM;
    } else if (c.kind == BODY_ERROR) {
        seterr(err, "model returned HTTP %ld", c.status);
        add_snippet(err, ep, buf_str(&c.raw), c.raw.len);
        rc = RC_UPSTREAM;
    } else if (cres != CURLE_OK) {
        rc = curl_failure(r.h, cres, r.errbuf, "model request", err);
    } else if (c.kind == BODY_JSON) {
        json_error_t je;
        json_t *j = json_loadb(buf_str(&c.raw), c.raw.len, 0, &je);
        if (json_is_object(j) && apply_chunk(&c, j, 0) == 0)
            c.done = 1;
        json_decref(j);
        if (c.cancelled) {
            res->cancelled = 1;
        } else if (!c.done) {
            seterr(err, "%s", c.failed ? buf_str(&c.why) : "model sent malformed JSON");
            rc = RC_UPSTREAM;
        }
    } else if (sse_finish(&c.sse) != RC_OK) {
        if (c.cancelled) {
            res->cancelled = 1;
        } else {
            seterr(err, "%s", c.failed ? buf_str(&c.why) : "model sent a malformed stream");
            rc = RC_UPSTREAM;
        }
    }
    if (rc == RC_OK && !res->cancelled) {
        if (!c.done && c.finish.len == 0) {
            seterr(err, "model stream ended before it was complete");
            if (c.nevents == 0)
                add_snippet(err, ep, buf_str(&c.raw), c.raw.len);
            rc = RC_UPSTREAM;
        } else if (c.content.len == 0 && c.ntools == 0) {
            seterr(err, "model returned an empty answer");
            rc = RC_UPSTREAM;
        }
    }
out:
    res->total_ms = now_ms() - c.t0;
    res->first_token_ms = c.first_ms;
    res->prompt_tokens = c.prompt_tokens;
    res->completion_tokens = c.completion_tokens;
    res->content = buf_detach(&c.content, NULL);
    res->reasoning = buf_detach(&c.reasoning, NULL);
    res->finish_reason = buf_detach(&c.finish, NULL);
    res->tool_calls = c.ntools ? tools_json(&c) : NULL;
    res->http_status = c.status;
    log_debug("llm: chat rc=%s status=%ld first=%.0fms total=%.0fms", rc_code(rc), c.status,
              res->first_token_ms, res->total_ms);
    req_release(&r);
    chat_release(&c);
    json_decref(payload);
    return rc;
}

void llm_result_release(struct llm_result *res)
{
    if (!res)
        return;
    free(res->content);
    free(res->reasoning);
    free(res->finish_reason);
    free(res->tool_calls);
    res->content = res->reasoning = res->finish_reason = res->tool_calls = NULL;
}

/* ------------------------------------------------------------ JSON calls */

struct sink {
    CURL *h;
    enum body_kind kind;
    long status;
    int too_big;
    struct buf body;
};

static size_t sink_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (s->kind == BODY_UNKNOWN)
        s->kind = classify(s->h, &s->status);
    if (s->kind == BODY_ERROR)
        return keep_snippet(&s->body, p, n) ? n : 0;
    if (buf_add(&s->body, p, n) != RC_OK) {
        s->too_big = 1;
        return 0;
    }
    return n;
}

/* POSTs payload to {base}{path} and parses the JSON answer into *out.
 * *status gets the reply's HTTP status (0 when none came). */
static int post_json(const struct llm_endpoint *ep, const char *path, const json_t *payload,
                     json_t **out, long *status, struct buf *err)
{
    int rc = RC_OK;
    struct req r;
    struct sink s = {NULL, BODY_UNKNOWN, 0, 0, BUF_INIT};
    buf_init(&s.body, LLM_JSON_MAX);
    *out = NULL;
    *status = 0;
    rc = req_setup(&r, ep, path, payload, "Accept: application/json", DEF_JSON_TOTAL_MS, err);
    if (rc)
        goto out;
    s.h = r.h;
    SETOPT(r.h, CURLOPT_WRITEFUNCTION, sink_write);
    SETOPT(r.h, CURLOPT_WRITEDATA, &s);
    CURLcode cres = curl_easy_perform(r.h);
    classify_late(r.h, &s.kind, &s.status);
    *status = s.status;
    if (s.kind == BODY_ERROR) {
        seterr(err, "model returned HTTP %ld", s.status);
        add_snippet(err, ep, buf_str(&s.body), s.body.len);
        rc = RC_UPSTREAM;
        goto out;
    }
    if (s.too_big) {
        seterr(err, "model response too large");
        rc = RC_UPSTREAM;
        goto out;
    }
    if (cres != CURLE_OK) {
        rc = curl_failure(r.h, cres, r.errbuf, "model request", err);
        goto out;
    }
    json_error_t je;
    *out = json_loadb(buf_str(&s.body), s.body.len, 0, &je);
    if (!*out) {
        seterr(err, "model sent malformed JSON");
        add_snippet(err, ep, buf_str(&s.body), s.body.len);
        rc = RC_UPSTREAM;
    }
out:
    req_release(&r);
    buf_release(&s.body);
    return rc;
}

/* A JSON array of n strings, or NULL (with err) when one is NULL or not UTF-8. */
static json_t *string_array(const char *const *v, size_t n, const char *what, struct buf *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *s = v[i] ? json_string(v[i]) : NULL;
        if (!s || json_array_append_new(arr, s)) {
            seterr(err, "%s %zu is missing or not valid UTF-8", what, i);
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* Position of item i of a results array: its "index" when present. */
static int item_index(json_t *item, size_t pos, size_t n, int required, unsigned char *seen,
                      size_t *out)
{
    json_t *ji = json_object_get(item, "index");
    json_int_t idx = (json_int_t)pos;
    if (ji || required) {
        if (!json_is_integer(ji))
            return RC_UPSTREAM;
        idx = json_integer_value(ji);
    }
    if (idx < 0 || (uint64_t)idx >= n || seen[idx])
        return RC_UPSTREAM;
    seen[idx] = 1;
    *out = (size_t)idx;
    return RC_OK;
}

int llm_embed(const struct llm_endpoint *ep, const char *const *texts, size_t n, float **vecs,
              size_t *dim, long *http_status, struct buf *err)
{
    int rc = RC_OK;
    json_t *payload = NULL, *resp = NULL;
    unsigned char *seen = NULL;
    float *v = NULL;
    size_t d = 0;
    long status = 0;
    *vecs = NULL;
    *dim = 0;
    if (n == 0)
        goto out;
    if (!ep || !ep->model || !texts) {
        seterr(err, "embedding needs an endpoint, a model and texts");
        rc = RC_INVALID;
        goto out;
    }
    json_t *input = string_array(texts, n, "text", err);
    if (!input) {
        rc = RC_INVALID;
        goto out;
    }
    payload =
        json_pack("{s:s,s:o,s:s}", "model", ep->model, "input", input, "encoding_format", "float");
    if (!payload) {
        seterr(err, "model name is not valid UTF-8");
        rc = RC_INVALID;
        goto out;
    }
    rc = post_json(ep, "/embeddings", payload, &resp, &status, err);
    if (rc)
        goto out;
    rc = RC_UPSTREAM;
    json_t *data = json_object_get(resp, "data");
    if (!json_is_array(data) || json_array_size(data) != n) {
        seterr(err, "embedding response has %zu vectors for %zu texts",
               json_is_array(data) ? json_array_size(data) : 0, n);
        goto out;
    }
    d = json_array_size(json_object_get(json_array_get(data, 0), "embedding"));
    if (d == 0 || d > LLM_MAX_DIM || n > SIZE_MAX / sizeof(float) / d) {
        seterr(err, "embedding response has an unusable dimension (%zu)", d);
        goto out;
    }
    seen = xcalloc(n, 1);
    v = xcalloc(n * d, sizeof *v);
    size_t i;
    json_t *item;
    json_array_foreach(data, i, item)
    {
        size_t at;
        json_t *e = json_object_get(item, "embedding");
        if (!json_is_array(e) || json_array_size(e) != d) {
            seterr(err, "embedding %zu has the wrong dimension", i);
            goto out;
        }
        if (item_index(item, i, n, 0, seen, &at) != RC_OK) {
            seterr(err, "embedding %zu has a bad or repeated index", i);
            goto out;
        }
        float *row = v + at * d;
        double norm = 0;
        for (size_t k = 0; k < d; k++) {
            json_t *x = json_array_get(e, k);
            double xv = json_number_value(x);
            if (!json_is_number(x) || !isfinite(xv) || fabs(xv) > FLT_MAX) {
                seterr(err, "embedding %zu holds a value that is not a number", i);
                goto out;
            }
            row[k] = (float)xv;
            norm += xv * xv;
        }
        norm = sqrt(norm);
        if (norm > 0)
            for (size_t k = 0; k < d; k++)
                row[k] = (float)(row[k] / norm);
    }
    *vecs = v;
    *dim = d;
    v = NULL;
    rc = RC_OK;
out:
    if (http_status)
        *http_status = status;
    free(v);
    free(seen);
    json_decref(payload);
    json_decref(resp);
    return rc;
}

int llm_rerank(const struct llm_endpoint *ep, const char *query, const char *const *docs, size_t n,
               double *scores, long *http_status, struct buf *err)
{
    int rc = RC_OK;
    json_t *payload = NULL, *resp = NULL;
    unsigned char *seen = NULL;
    double *tmp = NULL;
    long status = 0;
    if (n == 0)
        goto out;
    if (!ep || !ep->model || !query || !docs || !scores) {
        seterr(err, "rerank needs an endpoint, a model, a query and documents");
        rc = RC_INVALID;
        goto out;
    }
    json_t *documents = string_array(docs, n, "document", err);
    if (!documents) {
        rc = RC_INVALID;
        goto out;
    }
    payload = json_pack("{s:s,s:s,s:o,s:I}", "model", ep->model, "query", query, "documents",
                        documents, "top_n", (json_int_t)n);
    if (!payload) {
        seterr(err, "model name or query is not valid UTF-8");
        rc = RC_INVALID;
        goto out;
    }
    rc = post_json(ep, "/rerank", payload, &resp, &status, err);
    if (rc)
        goto out;
    rc = RC_UPSTREAM;
    json_t *results = json_is_array(resp) ? resp : json_object_get(resp, "results");
    if (!json_is_array(results) || json_array_size(results) != n) {
        seterr(err, "rerank response has %zu scores for %zu documents",
               json_is_array(results) ? json_array_size(results) : 0, n);
        goto out;
    }
    seen = xcalloc(n, 1);
    tmp = xcalloc(n, sizeof *tmp);
    size_t i;
    json_t *item;
    json_array_foreach(results, i, item)
    {
        size_t at;
        json_t *s = json_object_get(item, "relevance_score");
        if (!s)
            s = json_object_get(item, "score");
        if (!json_is_object(item) || item_index(item, i, n, 1, seen, &at) != RC_OK ||
            !json_is_number(s) || !isfinite(json_number_value(s))) {
            seterr(err, "rerank result %zu has a bad index or score", i);
            goto out;
        }
        tmp[at] = json_number_value(s);
    }
    memcpy(scores, tmp, n * sizeof *scores);
    rc = RC_OK;
out:
    if (http_status)
        *http_status = status;
    free(tmp);
    free(seen);
    json_decref(payload);
    json_decref(resp);
    return rc;
}
