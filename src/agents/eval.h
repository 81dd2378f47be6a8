/* Evaluating digital employees: eval sets of cases, runs of an agent
 * version over a set (in the background, with progress), scores, a
 * case-by-case comparison of two runs, and the quality gate that publishing
 * passes (tables eval_sets, eval_cases, eval_runs, eval_results).
 *
 * A case is a question and what a right answer must show:
 *   {"keywords":["10元","满一年"],  // each must appear in the answer
 *    "citations":["个人账户管理办法"], // a cited source whose title (or
 *                                       // cite string) contains each
 *    "refuse":false}                   // true: the right answer is to say the
 *                                       // knowledge does not cover it
 * A case's score is the mean of the checks it names (keyword share,
 * citations found, refusal right); it passes at >= 0.999. A run's scores:
 * {"score","pass_rate","keyword_accuracy","citation_accuracy",
 *  "refusal_accuracy","latency_ms_p50","latency_ms_p95","cases","passed"}. */
#ifndef ATRIUM_AGENTS_EVAL_H
#define ATRIUM_AGENTS_EVAL_H

#include <jansson.h>
#include <stdint.h>

#include "agents/agent.h"
#include "common/buf.h"
#include "store/db.h"

/* The quality gate: RC_OK when the agent has no gate, or when version
 * `version` has a finished run over the gate set whose score is at least
 * the gate's minimum; RC_DENIED otherwise, with err saying the score found
 * (or that no run exists) and the threshold. */
int eval_gate_check(struct db_conn *d, const struct agent *a, int version, struct buf *err);

#endif
