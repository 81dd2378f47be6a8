/* Running a digital employee: one question through the OpenAI
 * tool-calling loop of an agent version (agents/spec.h, agents/tools.h).
 *
 * With a chat model: the role prompt and the question (PII masked, as in
 * the super assistant) go to the model with the agent's tool definitions;
 * each tool call is run and its result sent back, until the model answers
 * or a limit is hit (spec max_steps model turns, max_seconds in all: then
 * the answer so far, or the extractive one, with a notice). Without a
 * model, or when it fails before answering: the extractive answer through
 * the knowledge tool (the agent's KBs ∩ the asker's), so an agent stays
 * useful when the GPUs are down.
 *
 * Every run is traced (agent_traces, agent_trace_steps): each model turn
 * and tool call with its tool, arguments (PII masked), result size,
 * latency and error; viewable by the agent's admins. */
#ifndef ATRIUM_AGENTS_RUNTIME_H
#define ATRIUM_AGENTS_RUNTIME_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agents/agent.h"
#include "assist/assist.h"
#include "auth/auth.h"
#include "common/buf.h"
#include "kb/kb.h"
#include "llm/llm.h"

struct agent_runtime;
struct gw;
struct safety;
struct audit_writer;

/* gw, safety and audit may be NULL (as for assist_new). */
int agent_runtime_new(const struct config *cfg, struct gw *gw, struct safety *safety,
                      struct audit_writer *audit, struct agent_runtime **out, struct buf *err);
void agent_runtime_free(struct agent_runtime *rt);

struct agent_run_request {
    const struct auth_principal *who; /* required; its permissions bound kb_search */
    const char *ip;
    const struct agent *agent;           /* required */
    const struct agent_version *version; /* required: the version to run */
    const char *question;                /* ignored when regenerate is set */
    /* In a conversation (conv_id > 0, its assistant "agent:<name>"): the
     * question and the answer are stored in it and its history is used. */
    int64_t conv_id;
    int regenerate;
    const struct llm_msg *history; /* without a conversation: earlier turns */
    size_t nhistory;
    int no_model;        /* extractive only, even with a model */
    int64_t eval_run_id; /* > 0: an evaluation's run (traced as such, not in analytics) */
    /* As in assist_request: give the store connection back while waiting on
     * the model and take one again after. */
    void (*conn_lend)(void *ctx);
    struct kb_conn *(*conn_take)(void *ctx);
    void *conn_ctx;
};

/* Answers rq, streaming through cb (may be NULL) as assist_ask does; out
 * gets the answer (mode "model", "extractive", "none", "blocked") and
 * *trace_id (may be NULL) the trace row. Errors as assist_ask: RC_INVALID,
 * RC_NOT_FOUND, RC_BUSY, RC_DB. */
int agent_run(struct agent_runtime *rt, struct kb_conn *c, const struct agent_run_request *rq,
              assist_cb cb, void *ctx, struct assist_answer *out, int64_t *trace_id,
              struct buf *err);

/* One trace with its steps as JSON: {"id","agent_id","version","user_id",
 * "conv_id","message_id","question","mode","answered","status","steps":[{"seq",
 * "kind","tool","arguments","result_bytes","latency_ms","ok","error"}],
 * "latency_ms","created_at"}. RC_OK, RC_NOT_FOUND, RC_DB. */
int agent_trace_json(struct db_conn *d, int64_t agent_id, int64_t trace_id, json_t **out);

/* ---- added by H3 ---- */

/* Stops the run answering in conversation conv_id of user_id (any runtime
 * of this process): it ends with what was shown so far, status "stopped".
 * RC_OK, RC_NOT_FOUND when none is running. */
int agent_run_stop(int64_t user_id, int64_t conv_id);

/* {"traces":[trace without "steps"…],"total","limit","offset"}: the agent's
 * traces, newest first. limit 1..200 (0: 50), offset >= 0, else RC_INVALID.
 * RC_OK, RC_DB. */
int agent_traces_list(struct db_conn *d, int64_t agent_id, int64_t limit, int64_t offset,
                      json_t **out);

/* The name users see for a tool in a notice ("计算器 / calculator"); never
 * the arguments. Unknown names give "工具 / tool". Static storage. */
const char *agent_tool_display_name(const char *tool);

#endif
