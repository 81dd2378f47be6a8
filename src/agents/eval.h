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
#include <stddef.h>
#include <stdint.h>

#include "agents/agent.h"
#include "common/buf.h"
#include "store/db.h"

/* The quality gate: RC_OK when the agent has no gate, or when version
 * `version` has a finished run over the gate set whose score is at least
 * the gate's minimum; RC_DENIED otherwise, with err saying the score found
 * (or that no run exists) and the threshold. */
int eval_gate_check(struct db_conn *d, const struct agent *a, int version, struct buf *err);

/* ---- H4: everything below is the evaluator's own API ---- */

struct agent_runtime;
struct audit_writer;
struct auth_principal;
struct config;
struct gw;
struct kb_conn;
struct kb_engine;
struct safety;

#define EVAL_NAME_MAX 64       /* bytes of a set's name */
#define EVAL_DESC_MAX 2000     /* bytes of a set's description */
#define EVAL_CASES_MAX 500     /* cases of one set */
#define EVAL_QUESTION_MAX 2000 /* bytes of a case's question */
#define EVAL_CHECKS_MAX 20     /* keywords, or citations, of one case */
#define EVAL_CHECK_MAX 200     /* bytes of one keyword or citation string */
#define EVAL_PASS 0.999        /* a case passes at this score */

/* A case's expectations, parsed. refuse: -1 = not named, 0 = the right
 * answer must not be a refusal, 1 = it must be one. */
struct eval_expect {
    char **keywords;
    size_t nkeywords;
    char **citations;
    size_t ncitations;
    int refuse;
};
/* Validates and parses an "expect" object: only "keywords", "citations"
 * (arrays of 1..EVAL_CHECKS_MAX non-empty strings, each at most
 * EVAL_CHECK_MAX bytes of valid UTF-8) and "refuse" (bool); at least one
 * check. *out is zeroed first; release it even on failure. RC_OK or
 * RC_INVALID with a zh-CN / English message. */
int eval_expect_parse(const json_t *expect, struct eval_expect *out, struct buf *err);
void eval_expect_release(struct eval_expect *x);

/* Whether an answer is a refusal: mode "none" or "blocked", or an empty
 * answer; never an "extractive" or "faq" answer (it quotes the knowledge);
 * otherwise (a model's answer) when its first sentence (up to 。！？；!?;
 * or a newline, at most 80 characters) holds one of a fixed list of
 * phrases saying the knowledge does not cover it (未找到, 没有找到,
 * 无法回答, 超出知识库, 暂无相关, "not covered", "cannot answer", …),
 * compared after normalisation (width, case, spaces). */
int eval_is_refusal(const char *answer, const char *mode);

/* One answer's scores against x (citations: the answer's citations array,
 * [{"title","cite","label",…}], may be NULL). keyword_score: the share of keywords
 * found (normalised width/case/traditional); citation_ok: -1 when the case
 * names none, else 1 when each expected string is contained in some cited
 * source's title, cite or label; refusal_ok: -1 when not named, else
 * whether eval_is_refusal matches x->refuse. score: the mean of the checks
 * named; passed: score >= EVAL_PASS. */
struct eval_case_score {
    double keyword_score; /* 0..1; 1 when the case names no keyword (not counted) */
    int citation_ok, refusal_ok;
    double score;
    int passed;
    double latency_ms;
    int failed; /* the run of this case failed (score 0) */
};
void eval_score_case(const struct eval_expect *x, const char *answer, const char *mode,
                     const json_t *citations, struct eval_case_score *out);
/* A run's scores JSON from its cases' (with the expectations, for which
 * checks count): {"score","pass_rate","keyword_accuracy" (null when no case
 * names keywords),"citation_accuracy","refusal_accuracy","latency_ms_p50",
 * "latency_ms_p95","cases","passed","failed"}. New reference. */
json_t *eval_scores_json(const struct eval_expect *x, const struct eval_case_score *s, size_t n);

/* ---- sets ---- */

/* Creates a set of an agent with its cases ([{"question","expect"}], at
 * least one, at most EVAL_CASES_MAX). *id gets the new set's id (may be
 * NULL). RC_OK; RC_INVALID (bad name, description or case: err says which);
 * RC_EXISTS (a set of that name); RC_DB. Runs in its own savepoint. */
int eval_set_create(struct db_conn *d, int64_t agent_id, const char *name, const char *description,
                    const json_t *cases, int64_t *id, struct buf *err);
/* Finds a set of an agent by numeric id or name. RC_OK, RC_NOT_FOUND, RC_DB. */
int eval_set_find(struct db_conn *d, int64_t agent_id, const char *id_or_name, int64_t *id);
/* Replaces a set's cases (and its description when not NULL). Earlier runs
 * keep their results (their case ids no longer match new cases). RC_OK,
 * RC_INVALID, RC_NOT_FOUND, RC_DB. */
int eval_set_update(struct db_conn *d, int64_t agent_id, int64_t set_id, const char *description,
                    const json_t *cases, struct buf *err);
/* Deletes a set with its cases and runs; the agent's gate is cleared when
 * it named it. RC_OK, RC_NOT_FOUND, RC_DB. */
int eval_set_delete(struct db_conn *d, int64_t agent_id, int64_t set_id);
/* [{"id","name","description","cases":N,"created_at","gate":bool}] */
int eval_set_list(struct db_conn *d, int64_t agent_id, json_t **out);
/* {"id","name","description","created_at","cases":[{"id","seq","question",
 * "expect"}]}. RC_OK, RC_NOT_FOUND, RC_DB. */
int eval_set_json(struct db_conn *d, int64_t agent_id, int64_t set_id, json_t **out);

/* ---- runs ---- */

/* Queues a run of version `version` (0 = the agent's newest version) over
 * set_id, made as who (its user id is stored: the background runner runs as
 * that user). *run_id gets its id. RC_OK; RC_NOT_FOUND (no such version or
 * set of this agent); RC_INVALID (an empty set); RC_DB. */
int eval_run_create(struct db_conn *d, const struct auth_principal *who, const struct agent *a,
                    int version, int64_t set_id, int no_model, int64_t *run_id, struct buf *err);
/* Runs a queued or running run to its end in this thread: each case through
 * agent_run (rq.eval_run_id set, no_model from the run) as who, results
 * stored as they come, done updated, progress called after each case;
 * stops between cases when the run was cancelled. The run ends 'done'
 * (scores stored), 'cancelled' or 'failed' (error stored). RC_OK when it
 * ended done or cancelled; RC_DB / RC_INTERNAL / RC_NOT_FOUND otherwise. */
int eval_run_exec(struct agent_runtime *rt, struct kb_conn *c, const struct auth_principal *who,
                  int64_t run_id, void (*progress)(void *ctx, int done, int total), void *ctx,
                  struct buf *err);
/* eval_run_create then eval_run_exec: the CLI and the template tests.
 * *scores (may be NULL) gets the run's scores JSON (new reference) when it
 * ended done. */
int eval_run_sync(struct agent_runtime *rt, struct kb_conn *c, const struct auth_principal *who,
                  const struct agent *a, int version, int64_t set_id, int no_model,
                  void (*progress)(void *ctx, int done, int total), void *ctx, int64_t *run_id,
                  json_t **scores, struct buf *err);
/* Cancels a queued or running run (a running one stops after its current
 * case). RC_OK; RC_NOT_FOUND; RC_EXISTS (409) when it already ended; RC_DB. */
int eval_run_cancel(struct db_conn *d, int64_t agent_id, int64_t run_id);
/* {"id","agent_id","version","set_id","set","status","total","done","scores",
 *  "error","no_model","created_by","created_at","started_at","finished_at"}
 * plus, with results, "results":[{"case_id","seq","question","expect",
 * "answer","citations","keyword_score","citation_ok","refusal_ok","score",
 * "passed","latency_ms","error"}]. RC_OK, RC_NOT_FOUND, RC_DB. */
int eval_run_json(struct db_conn *d, int64_t agent_id, int64_t run_id, int with_results,
                  json_t **out);
/* An agent's runs, newest first (without results), at most limit. */
int eval_run_list(struct db_conn *d, int64_t agent_id, int limit, json_t **out);
/* Marks runs left 'running' (by a crash) failed; returns how many (or -1). */
int eval_runs_recover(struct db_conn *d);

/* Case by case comparison of two finished runs of one agent over the same
 * set: {"a":{run summary},"b":{…},"cases":[{"case_id","seq","question",
 * "a":{"score","passed","answer"},"b":{…},"change":"improved"|"regressed"|
 * "same"}],"improved":N,"regressed":N,"same":N}. A case missing in one run
 * shows null there. RC_OK; RC_NOT_FOUND; RC_INVALID (different sets: err);
 * RC_DB. */
int eval_compare(struct db_conn *d, int64_t agent_id, int64_t run_a, int64_t run_b, json_t **out,
                 struct buf *err);

/* ---- the background runner ---- */

struct eval_runner;
/* Marks crashed runs failed, then starts cfg->eval_workers threads (at least
 * one) that claim queued runs and execute them as the users who queued them,
 * each with its own store connection and an agent runtime of its own made
 * with gw, safety, audit (may be NULL). RC_OK or RC_INTERNAL / RC_DB. */
int eval_runner_start(const struct config *cfg, struct kb_engine *eng, struct gw *gw,
                      struct safety *safety, struct audit_writer *audit, struct eval_runner **out,
                      struct buf *err);
/* A run was queued: wake a worker (they also poll every second). */
void eval_runner_kick(struct eval_runner *r);
/* Stops the workers (a run in progress stops after its current case and is
 * marked failed: runs survive nothing) and frees r. NULL is fine. */
void eval_runner_stop(struct eval_runner *r);

#endif
