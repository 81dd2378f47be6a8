/* FAQ: curated standard question/answer pairs per KB, each with any number of
 * similar questions (相似问法), and the matcher that answers a user's
 * question from them before retrieval (tables faqs, faq_questions of
 * migration 3). CRUD and JSONL import/export take the thread's db_conn; the
 * matcher keeps an in-memory index per KB in a shared struct faq_index.
 *
 * Permissions are the caller's: every function is scoped to the KB ids it is
 * given (SQL selects only those KBs' rows), but does not check who may read
 * or administer them. Times are unix seconds. */
#ifndef ATRIUM_FAQ_H
#define ATRIUM_FAQ_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/db.h"

#define FAQ_QUESTION_MAX 1000      /* bytes of a standard or similar question */
#define FAQ_ANSWER_MAX (64 * 1024) /* bytes of an answer */
#define FAQ_SOURCE_MAX 500         /* bytes of a source */
#define FAQ_SIMILAR_MAX 200        /* similar questions per FAQ */
#define FAQ_IMPORT_MAX 100000      /* lines of one JSONL import */

struct faq {
    int64_t id, kb_id;
    char *question, *answer, *source; /* source "" when none */
    char **similar;                   /* the similar questions, in insertion order */
    size_t nsimilar;
    int64_t created_by, created_at, updated_at;
};
/* Frees the strings; the struct is zeroed and may be reused. */
void faq_release(struct faq *f);
/* {"id","kb_id","question","answer","source","similar":[…],"created_by",
 *  "created_at","updated_at"}. New reference. */
json_t *faq_json(const struct faq *f);

/* What a FAQ is made of. Strings are trimmed; question and answer must be
 * non-empty valid UTF-8 within the caps above; similar questions that are
 * empty or fold (norm.h) to the standard question or to an earlier one are
 * dropped. */
struct faq_input {
    const char *question;
    const char *answer;
    const char *source; /* NULL: "" */
    const char *const *similar;
    size_t nsimilar;
};

/* Adds a FAQ to kb_id. *id (may be NULL) gets its id. RC_INVALID with a
 * message in err (bad or oversized fields), RC_NOT_FOUND (no such KB),
 * RC_DB. One transaction (joins a caller's; see faq_changed). */
int faq_add(struct db_conn *c, int64_t kb_id, const struct faq_input *in, int64_t created_by,
            int64_t *id, struct buf *err);
/* Updates FAQ id of kb_id. NULL question/answer/source keep the current
 * value; set_similar != 0 replaces the similar questions with in->similar
 * (an empty list removes them all), 0 keeps them. RC_INVALID, RC_NOT_FOUND
 * (no such FAQ in that KB), RC_DB. */
int faq_update(struct db_conn *c, int64_t kb_id, int64_t id, const struct faq_input *in,
               int set_similar, struct buf *err);
/* Deletes FAQ id of kb_id with its similar questions. RC_NOT_FOUND, RC_DB. */
int faq_delete(struct db_conn *c, int64_t kb_id, int64_t id);
/* Loads FAQ id of kb_id into *out (zeroed first; release it). RC_NOT_FOUND. */
int faq_get(struct db_conn *c, int64_t kb_id, int64_t id, struct faq *out);
/* {"faqs":[faq_json…], "total":n}: the KB's FAQs by id (all of them; a KB
 * holds thousands at most). RC_DB. */
int faq_list(struct db_conn *c, int64_t kb_id, json_t **out);

/* Imports JSONL, one FAQ per line: {"question","answer","similar":[…]?,
 * "source"?}. Blank lines are skipped. A line whose question equals (after
 * trimming) the standard question of a FAQ already in the KB updates that
 * FAQ (answer, source, similar replaced), so re-importing an export is
 * idempotent; other lines add FAQs. All or nothing: on the first bad line
 * nothing is imported and err says which line ("第3行 / line 3: …"),
 * RC_INVALID. *added / *updated (either may be NULL) get the counts. */
int faq_import_jsonl(struct db_conn *c, int64_t kb_id, const char *data, size_t n,
                     int64_t created_by, size_t *added, size_t *updated, struct buf *err);
/* Appends the KB's FAQs to out as JSONL ({"question","answer","similar",
 * "source"}, one per line, by id). RC_OK, RC_TOO_BIG (out's max), RC_DB. */
int faq_export_jsonl(struct db_conn *c, int64_t kb_id, struct buf *out);

/* Every write above tells the matcher's indexes that kb_id changed once it
 * has committed. A caller that wraps FAQ writes in its own transaction must
 * call this after its COMMIT (before it, another thread may rebuild an index
 * from the old rows; the periodic check in faq_match catches that within a
 * second). Cheap; thread-safe. */
void faq_changed(int64_t kb_id);

/* ---- matching ---- */

/* The matcher's shared state: one in-memory index per KB (token postings of
 * the folded standard and similar questions, IDF weights), built on first
 * use and rebuilt when the KB's FAQs changed (faq_changed from this process,
 * or a cheap count/sum/max signature of the rows, checked at most once a
 * second, for writes by other processes). Thread-safe: one per process. */
struct faq_index;
struct faq_index *faq_index_new(void);
void faq_index_free(struct faq_index *x);

struct faq_match {
    int64_t faq_id, kb_id;
    char *question; /* the FAQ's standard question */
    char *answer, *source;
    char *matched; /* the standard or similar question that matched best */
    double score;  /* 0..1; 1.0 for an exact match after folding */
};
void faq_match_release(struct faq_match *m);

/* Finds the FAQ of the KBs kb_ids[0..nkb) whose standard or similar question
 * is most similar to question (weighted Dice over CJK bigrams, unigrams and
 * words of the folded text, with particles and question words such as
 * 请问/怎么/吗/呢 removed and IDF weights from the KB's questions). RC_OK
 * with *out filled when the best score >= threshold (pass cfg->faq_threshold;
 * <= 0 returns the best FAQ sharing any token); RC_NOT_FOUND when none
 * reaches it (out->score then holds the best score seen, other fields NULL);
 * RC_INVALID for an empty or non-UTF-8 question; RC_DB. *out is zeroed first;
 * release it either way. */
int faq_match(struct faq_index *x, struct db_conn *c, const int64_t *kb_ids, size_t nkb,
              const char *question, double threshold, struct faq_match *out);
/* The citation of an answer given from a FAQ, shaped like the KB citations
 * (kb_citations_json): {"n":1,"kb_id","faq_id","cite":"常见问题：<question>",
 * "document":"","title":"","label":"","heading":"","text":answer,"source",
 * "matched","score"}. New reference. */
json_t *faq_match_citation_json(const struct faq_match *m);
/* The similarity of two questions on their own (no KB, no IDF: every token
 * weighs the same, question words removed), 0..1. For tests and tuning. */
double faq_similarity(const char *a, const char *b);

/* ---- evaluation ---- */

/* One paraphrase and the FAQ it should hit (0: it should hit none). */
struct faq_eval_case {
    const char *question;
    int64_t want_faq_id;
};
struct faq_eval_result {
    size_t n;          /* cases */
    size_t hit;        /* want_faq_id > 0 and matched it at the threshold */
    size_t wrong;      /* matched another FAQ at the threshold */
    size_t missed;     /* want_faq_id > 0 and nothing reached the threshold */
    size_t rejected;   /* want_faq_id == 0 and nothing reached the threshold */
    double min_hit;    /* lowest score among the right best FAQs (1 when none) */
    double max_reject; /* highest best score among cases that should hit none */
    double max_wrong;  /* highest best score among cases whose best FAQ is wrong */
};
/* Runs every case through faq_match (scoring at threshold 0, so that the
 * score distribution is seen whatever the threshold) and counts the outcomes
 * at threshold.
 * RC_OK, or the first error faq_match returned other than RC_NOT_FOUND. */
int faq_eval(struct faq_index *x, struct db_conn *c, const int64_t *kb_ids, size_t nkb,
             const struct faq_eval_case *cases, size_t n, double threshold,
             struct faq_eval_result *out);

#endif
