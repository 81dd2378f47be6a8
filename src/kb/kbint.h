/* Private to src/kb/: the engine and connection structs shared by kb.c,
 * search.c, answer.c, synonyms.c and jobs.c. */
#ifndef ATRIUM_KBINT_H
#define ATRIUM_KBINT_H

#include "kb/index.h"
#include "kb/kb.h"
#include "llm/llm.h"
#include "store/db.h"
#include "text/tok.h"

#include <pthread.h>
#include <stdatomic.h>

/* The tokens the in-memory index holds: bigrams, dictionary words and
 * single characters. Unigrams let a colloquial 取出来 still meet 提取 and
 * raised bankregs dev R@5 from 0.83 to 0.90 (docs/BENCHMARKS.md). */
#define KB_INDEX_TOKENS (TOK_BIGRAMS | TOK_WORDS | TOK_UNIGRAMS)

/* What a hit shows of a chunk, kept in memory so that a search needs no
 * store round trip. Strings are offsets into the snapshot's arena. */
struct kb_chunk_meta {
    int64_t doc_id;
    uint32_t doc_name, title, heading, label, text;
};

/* One KB's searchable state at one generation: immutable once published. */
struct kb_snapshot {
    atomic_int refs;
    int64_t kb_id, generation;
    struct kb_index *ix;
    struct kb_chunk_meta *meta; /* aligned with the index's docs */
    struct buf arena;
    /* synonym groups, folded, each a list of terms */
    char ***syn; /* syn[g] = NULL-terminated array of folded terms */
    size_t nsyn;
    /* dense vectors, aligned with the index's docs (NULL when none) */
    float *vecs;
    size_t dim;
    char *vec_model;
};

struct kb_engine {
    const struct config *cfg;
    char *db_path;
    pthread_mutex_t mu;       /* guards snaps */
    pthread_mutex_t build_mu; /* one snapshot build at a time */
    struct kb_snapshot **snaps;
    size_t nsnaps, capsnaps;
};

struct kb_conn {
    struct kb_engine *e;
    sqlite3 *db;
    struct db_cache *cache;
    struct db_conn store; /* the same two, for the services beside kb/ */
};

/* Returns a referenced snapshot of the KB at its current generation,
 * building it when needed. NULL only on a store error. */
struct kb_snapshot *kb_snapshot_get(struct kb_conn *c, int64_t kb_id);
/* The same for who (NULL: anyone): RC_NOT_FOUND when the KB does not exist
 * or who may not read it, decided by the query that reads the KB's
 * generation; RC_DB on a store error. */
int kb_snapshot_get_for(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                        struct kb_snapshot **out);
void kb_snapshot_put(struct kb_snapshot *s);

/* Bumps the KB's generation (inside the caller's transaction). */
int kb_bump_generation(struct kb_conn *c, int64_t kb_id);

/* Seeds a new KB with the default synonym dictionary. */
int kb_synonyms_seed(struct kb_conn *c, int64_t kb_id);
/* Loads the KB's synonym groups, folded, into the snapshot. */
int kb_synonyms_load(struct kb_conn *c, struct kb_snapshot *s);

/* Model endpoints from the config; NULL when not configured. */
int kb_embed_endpoint(const struct kb_engine *e, struct llm_endpoint *ep);

/* The optional SQLite FTS5 indexes over chunks (external content). The
 * in-memory index is what search uses; these exist for comparison and as
 * baselines, are built by kb_fts_ensure on first use, and from then on are
 * kept in step by every ingest and delete. */
enum kb_fts { KB_FTS_ATRIUM = 1, KB_FTS_TRIGRAM = 2 };
/* Which of them exist now (a bit set of enum kb_fts); 0 on error. */
unsigned kb_fts_present(struct kb_conn *c);
/* Creates and fills one of them if missing. RC_OK or RC_DB. */
int kb_fts_ensure(struct kb_conn *c, enum kb_fts which);

#endif
