/* Follow-up rewriting: turns "那单位户呢？" or "需要带什么材料" into a
 * standalone question using the conversation's history, for retrieval.
 * With a chat model (a function the caller passes in, so this module does
 * not depend on the gateway) the model rewrites and its output is checked;
 * otherwise, or when the model fails or talks nonsense, rules carry the
 * previous question's key terms (see docs/CONVERSATIONS.md). */
#ifndef ATRIUM_ASSIST_REWRITE_H
#define ATRIUM_ASSIST_REWRITE_H

#include <stddef.h>

#include "common/buf.h"
#include "llm/llm.h"

/* Sends a chat (non-streaming is fine) and appends the model's whole
 * content to out. Returns RC_OK, or an error (RC_UPSTREAM, RC_TIMEOUT …)
 * with a message in err: the rewriter then falls back to the rules. The
 * function owns timeouts and PII masking (the gateway wrapper does both). */
typedef int (*rw_chat_fn)(void *ctx, const struct llm_msg *msgs, size_t n, struct buf *out,
                          struct buf *err);

/* One earlier turn, oldest first. Strings are borrowed. question should be
 * the standalone question of that turn when known (conv_turn.query). */
struct rw_turn {
    const char *question;
    const char *answer; /* may be NULL or "" */
};

struct rw_opts {
    rw_chat_fn chat; /* NULL: rules only */
    void *ctx;
    size_t max_turns; /* turns shown to the model (0: 3) */
};

enum rw_how {
    RW_UNCHANGED = 0, /* not a follow-up (or no history): the question as it is */
    RW_RULES,         /* rewritten by the rules */
    RW_MODEL,         /* rewritten by the chat model */
};

#define RW_MAX_CHARS 200 /* a rewritten question longer than this is refused */

/* True when q looks like a follow-up that needs the history: short, starts
 * with 那/那么/还有/如果/要是/另外/…, contains a pronoun (它/这个/该/上述/
 * 这种/…), ends in an ellipsis question "…呢", or has no topic term of its
 * own (only question and function words). */
int rw_is_followup(const char *q);

/* The rule-based rewrite: when q is a follow-up and hist has a question,
 * carries that question's key terms into q (replacing the contrasted term
 * when q names one of the same kind, else appending). *out (malloc'd, caller
 * frees) is the standalone question, or a copy of q (RW_UNCHANGED). Never
 * fails. */
enum rw_how rw_rules(const char *q, const struct rw_turn *hist, size_t n, char **out);

/* The whole rewrite: no history → q unchanged; with o->chat the model is
 * asked and its answer validated (rw_model_output_ok), falling back to
 * rw_rules on an error or bad output; without o->chat, rw_rules. *out is
 * malloc'd (caller frees); *how says which path produced it (may be NULL).
 * Errors: RC_INVALID when q is NULL, empty or not valid UTF-8 (*out NULL).
 * A model failure is never an error. */
int rw_rewrite(const char *q, const struct rw_turn *hist, size_t n, const struct rw_opts *o,
               char **out, enum rw_how *how);

/* Checks a model's rewrite. First strips <think>…</think>,
 * surrounding spaces and quotes, and a leading label such as "改写后的问题：".
 * Returns the cleaned copy (malloc'd) when it is acceptable — one line, not
 * empty, at most RW_MAX_CHARS characters and at most about twice as long as
 * the question plus the previous question, not an answer (no [n] markers,
 * no "根据…"/"您好" openings, no several sentences) — else NULL. */
char *rw_model_output_ok(const char *q, const char *prev_question, const char *text);

#endif
