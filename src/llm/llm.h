/* The model client: OpenAI-compatible chat completions (streaming SSE),
 * embeddings and rerank over libcurl. Endpoints are plain values here; the
 * registry and routing of issue #4 build on top. API keys are sent as
 * `Authorization: Bearer` and never logged. */
#ifndef ATRIUM_LLM_H
#define ATRIUM_LLM_H

#include <stddef.h>

#include "common/buf.h"

struct llm_endpoint {
    const char *base_url; /* e.g. "http://127.0.0.1:8000/v1" (no trailing slash needed) */
    const char *model;
    const char *api_key; /* may be NULL or "" */
    long connect_timeout_ms;
    long first_token_timeout_ms; /* chat: time until the first content byte */
    long total_timeout_ms;
    /* A timeout <= 0 takes a default: connect 10 s, first token 60 s, total
     * 300 s (chat) or 60 s (embed, rerank). "First token" is the first
     * content, reasoning_content or tool-call delta. */
};

struct llm_msg {
    const char *role;    /* "system", "user", "assistant", "tool" */
    const char *content; /* may be NULL only for an assistant message with tool_calls */
    /* Tool calling (both optional, NULL when unused): */
    const char *tool_calls;   /* assistant: the calls it made, a JSON array as text
                                 (llm_result.tool_calls round-trips here) */
    const char *tool_call_id; /* role "tool": the id of the call this answers */
};

/* What a chat request carries besides its messages; every member may be 0. */
struct llm_chat_opts {
    const char *tools;       /* a JSON array of OpenAI tool definitions, as text */
    const char *tool_choice; /* "auto", "none", "required"; NULL = the server's default */
    const char *params;      /* a JSON object merged into the request, e.g.
                                {"temperature":0.2,"max_tokens":512}; it cannot
                                override model, messages, stream or tools */
};

enum llm_delta_kind { LLM_CONTENT = 1, LLM_REASONING };

/* Receives streamed text as it arrives (always whole UTF-8 sequences).
 * Return non-zero to cancel the request (llm_chat then returns RC_OK with
 * res->cancelled set). */
typedef int (*llm_delta_cb)(void *ctx, enum llm_delta_kind kind, const char *p, size_t n);

struct llm_result {
    char *content;   /* the whole answer (malloc'd, "" when none) */
    char *reasoning; /* the whole reasoning_content ("" when none) */
    char *finish_reason;
    long prompt_tokens, completion_tokens; /* -1 when the server did not say */
    double first_token_ms, total_ms;       /* first_token_ms is -1 when none came */
    int cancelled;
    /* The assembled tool calls as a compact JSON array
     * [{"id","type","function":{"name","arguments"}}], or NULL when none. */
    char *tool_calls;
    /* The HTTP status of the model's reply (200, 503, ...), set on success
     * and failure alike; 0 when no reply arrived (bad request caught before
     * sending, connect failure, timeout before the headers). Callers decide
     * on this value, never on the wording of err. */
    long http_status;
};

/* Streams a chat completion (stream=true). cb may be NULL. On success
 * res holds the answer. On failure returns RC_UPSTREAM (connect error, HTTP
 * error, malformed stream, empty answer), RC_TIMEOUT (connect, first token
 * or total timeout) with a message in err; res is still safe to release.
 * RC_INVALID for a bad endpoint or message (no URL scheme, NULL model or
 * content, CR/LF in the key). res is always initialised (content, reasoning
 * and finish_reason never NULL) and must be released by the caller. A
 * server that ignores stream=true and answers with one JSON completion is
 * accepted too. An answer of tool calls only is a success; a stream that
 * stops before [DONE] or a finish_reason is RC_UPSTREAM, with the partial
 * text left in res (as after a cancel). err (may be NULL) gets a message
 * appended; it never holds the API key. Safe to call from several threads
 * at once. */
int llm_chat(const struct llm_endpoint *ep, const struct llm_msg *msgs, size_t nmsgs,
             llm_delta_cb cb, void *ctx, struct llm_result *res, struct buf *err);
/* llm_chat with options (opts may be NULL). Malformed tools or params JSON
 * is RC_INVALID before anything is sent. */
int llm_chat_ex(const struct llm_endpoint *ep, const struct llm_msg *msgs, size_t nmsgs,
                const struct llm_chat_opts *opts, llm_delta_cb cb, void *ctx,
                struct llm_result *res, struct buf *err);
void llm_result_release(struct llm_result *res);

/* The gateway's own work runs at the model loops' priority (real-time
 * where the process may, else nice ATRIUM_MODEL_LOOP_NICE: see
 * llm_sched_loop_thread below): enter raises the calling thread's, leave
 * puts back what it was. changed: the nice value was changed (prev is the
 * old one); rt: the thread was made real-time. */
struct llm_prio {
    int changed, prev, rt;
};
void llm_prio_enter(struct llm_prio *p);
void llm_prio_leave(const struct llm_prio *p);

/* How a model loop's thread is scheduled. With ATRIUM_MODEL_LOOP_RT=1
 * (default 0), SCHED_RR at the lowest real-time priority where the process
 * may (root, CAP_SYS_NICE, or RLIMIT_RTPRIO >= 1: systemd LimitRTPRIO=1): a
 * loop woken by a model's bytes then runs at once instead of waiting for a
 * core behind normal threads, however busy they are. The loops only run
 * when a socket has bytes, and the kernel keeps 5 % of every second for
 * normal threads (sched_rt_runtime_us). Otherwise nice
 * ATRIUM_MODEL_LOOP_NICE where allowed, else unchanged (said once in the
 * log). Applies it to the calling thread and returns which one it got;
 * each loop calls it as it starts. */
enum llm_sched { LLM_SCHED_NORMAL, LLM_SCHED_NICE, LLM_SCHED_RT };
enum llm_sched llm_sched_loop_thread(void);

/* How long a model loop may sleep in epoll_wait, in whole ms, at `now`
 * (now_ms): until the next first-token deadline check (plus 1 ms) or
 * curl's timer (timer_due < 0: none), at most 1 s; a part of a millisecond
 * is rounded up, so a timer not yet due never makes the loop spin; 0 when
 * it is due. */
int llm_loop_wait_ms(double now, double next_check, double timer_due);

/* The order a model loop takes the n events of one epoll_wait (fds[i] the
 * event's socket; first[i] non-zero when its transfer still waits for its
 * first token): the wake-up (wake: new requests) first, then the
 * transfers awaiting a first token (a connect, the request, the first
 * chunk), then the later chunks of answers already streaming; epoll's
 * order within each. On a busy host one wait returns tens of events, and a
 * first token behind them waited for all of them. Fills order with indices
 * and returns how many come before the streaming ones. */
int llm_loop_order(const int *fds, const unsigned char *first, int n, int wake, int *order);

/* POST {base}/embeddings for n texts. On success *vecs is a malloc'd
 * n*dim array of floats (L2-normalised) and *dim is set (n == 0: *vecs NULL,
 * *dim 0, no request). On failure *vecs is NULL and the result is
 * RC_UPSTREAM (HTTP error, bad JSON, wrong count, ragged or absurd
 * dimensions, non-finite numbers), RC_TIMEOUT or RC_INVALID. http_status
 * (may be NULL) always gets the HTTP status of the model's reply, 0 when no
 * reply arrived (as llm_result.http_status). */
int llm_embed(const struct llm_endpoint *ep, const char *const *texts, size_t n, float **vecs,
              size_t *dim, long *http_status, struct buf *err);

/* POST {base}/rerank {"model","query","documents","top_n"}; scores[i] gets
 * the relevance of docs[i] (results may come back in any order). Accepts
 * {"results":[{"index","relevance_score"}]} and TEI's bare [{"index","score"}].
 * Every document must get exactly one score, else RC_UPSTREAM; scores is
 * only written on success. http_status (may be NULL) as in llm_embed. */
int llm_rerank(const struct llm_endpoint *ep, const char *query, const char *const *docs, size_t n,
               double *scores, long *http_status, struct buf *err);

/* The SSE line parser used by llm_chat, exposed for tests and fuzzing.
 * Feed arbitrary byte slices; each complete "data: ..." event is handed
 * to on_data (without the prefix; "[DONE]" included; multi-line data joined
 * with "\n"; p is NUL-terminated at p[n]). Lines end in LF, CRLF or CR;
 * comments and other fields are skipped. sse_feed/sse_finish return RC_OK,
 * RC_TOO_BIG when a line or event passes 1 MB, or the first non-zero value
 * returned by on_data; after an error the parser must only be released. */
struct sse_parser {
    struct buf line;
    struct buf data;
    int (*on_data)(void *ctx, const char *p, size_t n);
    void *ctx;
};
void sse_init(struct sse_parser *s, int (*on_data)(void *, const char *, size_t), void *ctx);
int sse_feed(struct sse_parser *s, const char *p, size_t n);
/* Flushes a final event not followed by a blank line. */
int sse_finish(struct sse_parser *s);
void sse_release(struct sse_parser *s);

#endif
