/* The super assistant: answers a question in a conversation (or a one-off
 * question from the OpenAI-compatible API) over the KBs the asker may read,
 * their conversation's uploaded files and optionally the web.
 *
 * One question goes: sensitive-word check → the conversation's history →
 * follow-up rewriting (assist/rewrite.h) → the KB set (the selection, or
 * every KB the asker may read, plus the conversation's files KB) → FAQ
 * match (kb/faq.h: a curated answer first) → search over the KBs
 * (kb_search_many, permission checked in the query) and the web
 * (assist/websearch.h) → the chat model through the gateway
 * (llm/gateway.h) with PII masked on the way in and restored on the way
 * out (text/pii.h), streamed; or, with no model or a failing one, the
 * extractive answer → the answer stored with its citations, model, latency
 * and tokens, and the question audited with the chunks shown. */
#ifndef ATRIUM_ASSIST_H
#define ATRIUM_ASSIST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "common/buf.h"
#include "common/config.h"
#include "kb/kb.h"
#include "llm/llm.h"

struct assist;
struct gw;
struct safety;
struct audit_writer;

/* The process-wide assistant. gw may be NULL (no model: extractive answers
 * only); safety may be NULL (no sensitive-word list); audit may be NULL
 * (nothing audited). They must outlive the assistant. */
int assist_new(const struct config *cfg, struct gw *gw, struct safety *safety,
               struct audit_writer *audit, struct assist **out, struct buf *err);
void assist_free(struct assist *a);

/* What the answer streams to its caller. Return non-zero to stop. */
enum assist_event {
    AE_DELTA = 1, /* answer text */
    AE_THINKING,  /* reasoning text of a thinking model */
    AE_NOTICE,    /* e.g. "模型不可用，已改用摘录答案" */
};
typedef int (*assist_cb)(void *ctx, enum assist_event ev, const char *p, size_t n);

struct assist_request {
    const struct auth_principal *who; /* required */
    const char *ip;                   /* for the audit log ("" when unknown) */
    const char *question;             /* ignored when regenerate is set */
    /* In a conversation (conv_id > 0): its settings choose the KBs, the web
     * and the model; the question and the answer are stored in it. */
    int64_t conv_id;
    int regenerate; /* answer the conversation's last question again */
    /* Without a conversation (the OpenAI-compatible API): */
    const int64_t *kb_ids; /* NULL with all_kbs: every KB who may read */
    size_t nkbs;
    int all_kbs;
    int web;
    const struct llm_msg *history; /* earlier turns, oldest first (user/assistant) */
    size_t nhistory;
    const char *model; /* a chat model name; NULL/"" = the default */
    int no_model;      /* the extractive answer even when a model is configured */
    int k;             /* chunks retrieved (0: 5) */
    /* Optional: give the store connection back while waiting on the network
     * (the model, the web) and take one again after, so that hundreds of
     * answers waiting on a model do not hold hundreds of connections.
     * conn_take returns NULL when no connection can be had. */
    void (*conn_lend)(void *ctx);
    struct kb_conn *(*conn_take)(void *ctx);
    void *conn_ctx;
};

struct assist_answer {
    int64_t user_msg_id, msg_id; /* the stored messages (0 without a conversation) */
    char *text;                  /* as shown to the user */
    char *thinking;
    char *query;       /* the standalone question that was searched */
    char *mode;        /* "model", "extractive", "faq", "none", "blocked" */
    char *model;       /* the chat model that answered, or "" */
    char *notice;      /* or NULL */
    json_t *citations; /* [{"n","kind":"kb"|"faq"|"web",…}] */
    double latency_ms, first_token_ms;
    long prompt_tokens, completion_tokens;
    int stopped; /* the caller or assist_stop stopped it */
};
void assist_answer_release(struct assist_answer *ans);
/* {"message_id","mode","answer","query","thinking","model","notice",
 *  "citations","latency_ms","usage":{…}} */
json_t *assist_answer_json(const struct assist_answer *ans);

/* Answers rq. Errors only for what the caller must report: RC_INVALID (no
 * question, bad UTF-8, too long), RC_NOT_FOUND (no such conversation of
 * this user; a model name that does not exist), RC_BUSY (an answer is
 * already running in this conversation), RC_DB. A model that fails is not
 * an error (the extractive answer, with a notice); neither is a blocked
 * question (mode "blocked" with a polite refusal). */
int assist_ask(struct assist *a, struct kb_conn *c, const struct assist_request *rq, assist_cb cb,
               void *ctx, struct assist_answer *out, struct buf *err);

/* Stops the answer running in a conversation of user_id. RC_NOT_FOUND when
 * none is running. */
int assist_stop(struct assist *a, int64_t user_id, int64_t conv_id);

#endif
