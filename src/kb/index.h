/* The in-memory BM25F index of one knowledge base: a term dictionary and
 * postings with per-field term frequencies (title, heading, body), built
 * from the store's chunks and immutable once built, so searches read it
 * without locks. Rebuilt when the KB's generation changes. */
#ifndef ATRIUM_KB_INDEX_H
#define ATRIUM_KB_INDEX_H

#include <stddef.h>
#include <stdint.h>

enum { IDX_TITLE = 0, IDX_HEADING, IDX_BODY, IDX_NFIELDS };

struct idx_builder;
struct kb_index;
struct idx_params;

struct idx_builder *idx_builder_new(unsigned tok_flags);
/* Adds one chunk; fields are UTF-8 (title, heading path, body text) and
 * `cues` its answer-type cues (kb/cues.h). */
void idx_builder_add(struct idx_builder *b, int64_t chunk_id, unsigned cues,
                     const char *const fields[IDX_NFIELDS]);
/* Consumes the builder and returns the finished index (never NULL), with
 * each posting's BM25F impact computed for `params` (NULL: the defaults). */
struct kb_index *idx_builder_finish(struct idx_builder *b, const struct idx_params *params);
void kb_index_free(struct kb_index *ix);

size_t kb_index_docs(const struct kb_index *ix);
int64_t kb_index_chunk_id(const struct kb_index *ix, uint32_t doc);
/* Approximate bytes held, for reporting. */
size_t kb_index_bytes(const struct kb_index *ix);

/* A query term: its term id (from kb_index_term), its weight in the score,
 * and its share of the question for coverage. Original terms (from the
 * question itself) make up coverage's denominator; an expansion term
 * (a synonym) covers the original words it stands for: cover * idf is the
 * coverage mass it adds when matched. */
/* Query terms beyond this many are ignored. */
#define IDX_MAX_QTERMS 512

struct idx_qterm {
    int32_t term; /* -1 when the term is not in the index */
    float weight;
    float cover;
    int original;
    int key; /* counts towards the reported coverage (not a lone character) */
};

/* The text of a term (not NUL-terminated; *n gets its length). */
const char *kb_index_term_str(const struct kb_index *ix, int32_t term, size_t *n);

/* Looks a folded token up; -1 when unknown. */
int32_t kb_index_term(const struct kb_index *ix, const char *tok, size_t n);

struct idx_hit {
    uint32_t doc;
    float score;
    float coverage; /* share of the query's key idf mass this chunk matches, 0..1 */
};

struct idx_params {
    float k1;
    float b[IDX_NFIELDS];
    float w[IDX_NFIELDS];
    /* A chunk whose cues meet the question's is boosted by this factor. */
    float cue_boost;
    /* The score is multiplied by coverage^coverage_power: a chunk that
     * matches more of the question's distinct terms is preferred over one
     * that repeats a few of them. */
    float coverage_power;
};
extern const struct idx_params idx_default_params;

/* Ranks with BM25F (the parameters the index was built with); `qcues` are
 * the question's answer-type cues. Writes up to k hits, best first, and
 * returns how many. Terms found in more than half of the chunks are
 * skipped: they cost a long walk and carry almost no weight; terms in more
 * than 3% of them (and 128) only add to chunks that a rarer term found.
 * Thread-safe. */
size_t kb_index_search(const struct kb_index *ix, const struct idx_qterm *q, size_t nq,
                       unsigned qcues, size_t k, struct idx_hit *out);

/* The idf of a term (0 for -1). */
float kb_index_idf(const struct kb_index *ix, int32_t term);

#endif
