/* Evaluation of retrieval and answers over question sets: parses bankregs and
 * cmrc2018 question lines, judges rankings against the gold document (and
 * articles), and aggregates Recall@k, MRR@10, answer accuracy and search
 * latency percentiles. A service: `atrium eval` and later the API use it. */
#ifndef ATRIUM_EVAL_H
#define ATRIUM_EVAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "kb/kb.h"

#define EVAL_LINE_MAX (64 * 1024)          /* longer question lines are rejected */
#define EVAL_FILE_MAX (256u * 1024 * 1024) /* largest question file read */
#define EVAL_QUESTIONS_MAX 200000          /* further questions are ignored (counted bad) */
#define EVAL_LIST_MAX 64                   /* articles / answers per question */
#define EVAL_BAD_KEPT 50                   /* malformed-line messages kept (all are counted) */

enum eval_format { EVAL_BANKREGS = 1, EVAL_CMRC2018 = 2 };

struct eval_question {
    enum eval_format format;
    char *id;
    char *question;
    char *gold_doc;   /* bankregs `doc` (a file name) or cmrc2018 `context_id` */
    char **articles;  /* bankregs gold labels ("第二十七条"); none for cmrc2018 */
    size_t narticles; /* 0: the document alone decides relevance */
    char **answers;   /* bankregs answer_keywords (all must appear) or cmrc2018
                         answers (any may appear) */
    size_t nanswers;
    char *type; /* the "type" field, or NULL */
};

struct eval_bad_line {
    size_t line; /* 1-based line number */
    char *msg;
};

struct eval_set {
    struct eval_question *q;
    size_t n, cap;
    struct eval_bad_line *bad; /* the first EVAL_BAD_KEPT malformed lines */
    size_t nbad_kept, bad_cap;
    size_t nbad; /* every malformed line */
};

/* Parses one question line (either format, detected from its keys: `doc`
 * → bankregs, `context_id` → cmrc2018). RC_OK with `out` filled (release it
 * with eval_question_release), or RC_INVALID with a message in err and
 * `out` zeroed. */
int eval_parse_line(const char *p, size_t n, struct eval_question *out, struct buf *err);
void eval_question_release(struct eval_question *q);

/* Parses a whole JSONL text into `set` (zero it first, or reuse after
 * release). Blank lines are skipped; malformed lines are recorded in
 * set->bad, counted in set->nbad and skipped. Always RC_OK unless the text
 * is not UTF-8-clean enough to split (never happens: lines are judged one by
 * one); the return value is kept for symmetry with eval_set_load. */
int eval_set_parse(const char *p, size_t n, struct eval_set *set);
/* Reads `path` (at most EVAL_FILE_MAX bytes) and parses it. RC_NOT_FOUND,
 * RC_TOO_BIG or RC_IO (also: not a regular file, e.g. a folder or a FIFO,
 * refused without opening it) with a message in err; RC_INVALID when no line
 * at all was a valid question. */
int eval_set_load(const char *path, struct eval_set *set, struct buf *err);
void eval_set_release(struct eval_set *set);

/* One question's outcome. */
struct eval_result {
    const struct eval_question *q; /* borrowed from the set */
    int rc;                        /* RC_OK, or why the search failed */
    int first_rank;                /* 1-based rank of the first relevant hit, 0: none */
    int all_found; /* -1: fewer than two gold articles; else 1 when every one is in the top 10 */
    int answer_ok; /* -1: not evaluated; 0 / 1 */
    double latency_ms; /* around kb_search only */
    char *top[3];      /* "doc_name label" of the first three hits, or NULL */
};

/* True when the hit is relevant to q: same document (exact name, or the same
 * name once a trailing ".ext" is dropped from both) and, when q has gold
 * articles, a label equal to one of them. */
int eval_hit_relevant(const struct eval_question *q, const struct kb_hit *h);
/* Judges a ranking: fills first_rank, all_found and top of r (rc,
 * answer_ok and latency_ms are left alone). Free r with eval_result_release. */
void eval_judge(const struct eval_question *q, const struct kb_hits *h, struct eval_result *r);
void eval_result_release(struct eval_result *r);
/* 1 when `answer` holds every keyword (bankregs) or any answer (cmrc2018),
 * each side compared after norm_for_match; 0 otherwise; -1 when q has no
 * answers to compare with. */
int eval_answer_matches(const struct eval_question *q, const char *answer);

struct eval_metrics {
    size_t questions; /* judged (searches that failed count as misses) */
    size_t errors;    /* searches that failed */
    double recall1, recall5, recall10, mrr10;
    size_t multi;           /* questions with two or more gold articles */
    double all_articles10;  /* share of `multi` with every article in the top 10 (0 if none) */
    size_t answered;        /* questions whose answer was evaluated */
    double answer_accuracy; /* share of `answered` (0 if none) */
    double p50, p95, p99;   /* search latency, ms (nearest rank) */
};

/* Nearest-rank percentile of ascending values: the value at rank
 * ceil(pct/100 * n) (1-based, clamped to [1, n]). 0 when n == 0. */
double eval_percentile(const double *sorted, size_t n, double pct);
/* Aggregates results into m. */
void eval_metrics_compute(const struct eval_result *r, size_t n, struct eval_metrics *m);

/* Called after each question (done of total). */
typedef void (*eval_progress_cb)(void *ctx, size_t done, size_t total);

enum eval_answer_mode {
    EVAL_ANSWERS_OFF = 0,
    EVAL_ANSWERS_EXTRACTIVE, /* kb_ask with no_model: the default */
    EVAL_ANSWERS_MODEL,      /* kb_ask with the configured model (if any) */
};

struct eval_opts {
    int k;          /* hits per search, 1..100 (0: 10) */
    unsigned flags; /* kb_search_flags */
    enum eval_answer_mode answers;
    size_t limit; /* evaluate only the first `limit` questions (0: all) */
    eval_progress_cb progress;
    void *progress_ctx;
    /* Search as this user: the permission filter runs with every search
     * (NULL: unfiltered), so its cost shows in the latencies. */
    const struct auth_principal *who;
};

struct eval_type_metrics {
    char *type;
    struct eval_metrics m;
};

struct eval_report {
    struct eval_result *r; /* one per evaluated question, in set order */
    size_t n;
    struct eval_metrics all;
    struct eval_type_metrics *types; /* per "type" field, sorted by name */
    size_t ntypes;
    size_t skipped; /* malformed lines in the set */
    int k;
    unsigned flags;
    enum eval_answer_mode answers;
    double elapsed_ms;
    double warmup_ms; /* one untimed search before the run (index load) */
};

/* Runs every question of `set` (up to o->limit) against KB kb_id, after
 * one untimed warm-up search (its time is reported apart). A failed
 * search counts as a miss (its rc is kept); the run stops early only when
 * the store fails (RC_DB / RC_INTERNAL), returning that code with a message
 * in err. The report borrows questions from `set`, which must outlive it. */
int eval_run(struct kb_conn *c, int64_t kb_id, const struct eval_set *set,
             const struct eval_opts *o, struct eval_report *out, struct buf *err);
/* Aggregates r[0..n) into rep->all and rep->types (used by eval_run; public
 * so metrics can be tested without a store). */
void eval_report_aggregate(struct eval_report *rep);
void eval_report_release(struct eval_report *rep);
/* The report as JSON: questions, recall@1, recall@5, recall@10, mrr@10,
 * all_articles@10, answer_accuracy (null when not evaluated),
 * latency_ms_p50/p95/p99, by_type, skipped_lines, and failures (misses at
 * 5: id, question, gold {doc, articles}, top3). New reference. */
json_t *eval_report_json(const struct eval_report *rep);
json_t *eval_metrics_json(const struct eval_metrics *m);

#endif
