/* Knowledge bases: the service that http/ and cli/ both face. It owns the
 * store schema for KBs, documents and chunks, the ingest pipeline
 * (parse → chunk → index, one transaction per document), retrieval and
 * answers.
 *
 * Threads: one struct kb_engine per process (shared, thread-safe); one
 * struct kb_conn per thread (its own SQLite connection). */
#ifndef ATRIUM_KB_H
#define ATRIUM_KB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "store/db.h"

struct kb_engine;
struct kb_conn;

/* Opens (creating and migrating) the store under cfg->data_dir. The engine
 * keeps a pointer to cfg, which must outlive it. */
int kb_engine_open(const struct config *cfg, struct kb_engine **out, struct buf *err);
void kb_engine_close(struct kb_engine *e);
/* The store file's path (other writers open their own connections to it). */
const char *kb_engine_db_path(const struct kb_engine *e);
int kb_conn_open(struct kb_engine *e, struct kb_conn **out, struct buf *err);
void kb_conn_close(struct kb_conn *c);
/* The connection underneath, for auth/ and the other services that share
 * the thread's connection (and its transactions). Owned by c. */
struct db_conn *kb_conn_store(struct kb_conn *c);

/* Builds the search index of every KB that has none yet or an outdated
 * one, so that the first questions after a start do not wait for it (about
 * 1 s per million characters). Returns how many KBs were checked. */
size_t kb_warm(struct kb_conn *c);

/* ---- knowledge bases ---- */

/* Who is asking (auth/auth.h). Functions that take one select only what
 * that principal may read, inside the query (auth/acl.h); NULL means the
 * operator on the server (the CLI): everything. */
struct auth_principal;

struct kb_info {
    int64_t id;
    char *name;
    char *kind;         /* "enterprise", "personal" or "conversation" */
    int64_t owner_id;   /* personal and conversation KBs; 0 for enterprise */
    int level;          /* the caller's access: 1 read, 2 write, 3 admin (enum acl_level) */
    int64_t created_at; /* unix seconds */
    int64_t ndocs, nchunks, nchars;
};
/* Names: 1–64 chars, UTF-8, no '/', not all digits. Enterprise names are
 * unique across the bank, personal ones per owner. RC_INVALID, RC_EXISTS. */
int kb_create(struct kb_conn *c, const char *name, struct kb_info *out, struct buf *err);
/* kind "enterprise" (owner_id 0), "personal" or "conversation" (owner_id
 * > 0). Also RC_NOT_FOUND for an unknown owner. Joins a caller's
 * transaction. */
int kb_create_ex(struct kb_conn *c, const char *name, const char *kind, int64_t owner_id,
                 struct kb_info *out, struct buf *err);
/* By numeric id or by name, for `who` (NULL: anyone's). RC_NOT_FOUND when
 * the KB does not exist or who may not read it (the same answer, on
 * purpose); RC_DENIED when who may read it but below min_level. */
int kb_get_for(struct kb_conn *c, const struct auth_principal *who, const char *id_or_name,
               int min_level, struct kb_info *out);
int kb_get(struct kb_conn *c, const char *id_or_name, struct kb_info *out);
/* The KBs who may read (not conversation KBs): enterprise first, by id. */
int kb_list_for(struct kb_conn *c, const struct auth_principal *who, struct kb_info **out,
                size_t *n);
int kb_list(struct kb_conn *c, struct kb_info **out, size_t *n);
/* RC_OK when who (NULL: anyone) may read kb_id, else RC_NOT_FOUND. */
int kb_readable(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id);
void kb_info_release(struct kb_info *k);
void kb_infos_free(struct kb_info *a, size_t n);
/* {"id","name","kind","created_at","documents","chunks","characters",
 *  "access":"read|write|admin","owner_id"?} */
json_t *kb_info_json(const struct kb_info *k);

/* ---- documents and ingest ---- */
struct kb_doc_info {
    int64_t id;
    char *name; /* identity: the source file name or the jsonl line id */
    char *title;
    char *type; /* "md", "pdf", ... */
    char *sha256;
    int version; /* 1 on first ingest, +1 per changed re-ingest */
    int64_t nchunks, nchars, updated_at;
};
/* The documents of a KB, for who (NULL: anyone); none when who may not
 * read it. */
int kb_docs(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
            struct kb_doc_info **out, size_t *n);
/* One document. RC_NOT_FOUND when it does not exist, is in another KB, or
 * who may not read the KB. */
int kb_doc_get(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id, int64_t doc_id,
               struct kb_doc_info *out);
void kb_docs_free_one(struct kb_doc_info *d);
void kb_docs_free(struct kb_doc_info *a, size_t n);

/* A document to download: the file as uploaded (original = 1), or, for a
 * JSONL line, its text rebuilt from the chunks (text/plain, name + ".txt"). */
struct kb_file {
    char *name, *mime;
    void *data;
    size_t n;
    int original;
};
/* Same rules as kb_doc_get. The caller releases out. */
int kb_doc_file(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id, int64_t doc_id,
                struct kb_file *out);
void kb_file_release(struct kb_file *f);
/* The MIME type for an ingest type name ("pdf" → "application/pdf"). */
const char *kb_type_mime(const char *type);
/* One chunk, for a citation: {"id","kb_id","doc_id","doc_name","doc_title",
 * "heading","label","text","part","nparts","ord"}. Same rules as kb_doc_get. */
int kb_chunk_get(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                 int64_t chunk_id, json_t **out);
/* A document's text as its chunks, in order (the article view of a PDF or
 * Word original): {"doc_id","doc_name","doc_title","truncated","chunks":[{"id",
 * "heading","label","text","part","nparts","ord"}]}, at most KB_DOC_CHUNKS_MAX
 * chunks ("truncated" says whether more exist). Same rules as kb_doc_get. */
#define KB_DOC_CHUNKS_MAX 5000
int kb_doc_chunks(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                  int64_t doc_id, json_t **out);
json_t *kb_doc_json(const struct kb_doc_info *d);
/* Deletes a document by id and its chunks. RC_NOT_FOUND. */
int kb_doc_delete(struct kb_conn *c, int64_t kb_id, int64_t doc_id);

enum kb_outcome { KB_ADDED = 1, KB_REPLACED, KB_UNCHANGED, KB_FAILED };
struct kb_ingest_item {
    char *name;
    enum kb_outcome outcome;
    int rc;      /* RC_OK, or why it failed */
    char *error; /* NULL unless failed: zh-CN / English message */
    size_t nchunks;
};
struct kb_ingest_report {
    struct kb_ingest_item *a;
    size_t n, cap;
    size_t added, replaced, unchanged, failed, chunks, bytes;
};
/* Ingests one file's bytes under `name` (its base name is the identity).
 * A .jsonl corpus yields one document per line. Each document is committed
 * in its own transaction: unchanged (same sha256) → no-op; changed → the old
 * version is replaced atomically. Appends items to rep. Returns RC_OK when
 * every document went in, else the first failure's code (the rest of the
 * batch still ran). */
int kb_ingest_bytes(struct kb_conn *c, int64_t kb_id, const char *name, const void *data, size_t n,
                    struct kb_ingest_report *rep);
void kb_ingest_report_release(struct kb_ingest_report *rep);
/* Groups many kb_ingest_bytes calls into one store transaction, which is
 * several times faster for corpora of many small documents (the full-text
 * index is flushed once). Each document stays atomic inside the batch (a
 * savepoint); if the process dies before kb_batch_end, the whole batch is
 * as if never started. kb_batch_end(c, 1) commits, (c, 0) rolls back. */
int kb_batch_begin(struct kb_conn *c);
int kb_batch_end(struct kb_conn *c, int commit);
json_t *kb_ingest_report_json(const struct kb_ingest_report *rep);
const char *kb_outcome_name(enum kb_outcome o);

/* ---- background ingest jobs (uploads) ---- */
struct kb_job {
    int64_t id, kb_id;
    char *filename;
    char *path;   /* where the upload waits on disk */
    char *status; /* "queued", "running", "done", "failed" */
    char *result; /* JSON of the ingest report, or NULL */
    int64_t created_at, updated_at;
};
int kb_job_create(struct kb_conn *c, int64_t kb_id, const char *filename, const char *path,
                  int64_t *job_id);
/* Atomically takes the oldest queued job (status → running). RC_NOT_FOUND
 * when there is none. */
int kb_job_claim(struct kb_conn *c, struct kb_job *out);
int kb_job_finish(struct kb_conn *c, int64_t job_id, int ok, const char *result_json);
int kb_job_get(struct kb_conn *c, int64_t kb_id, int64_t job_id, struct kb_job *out);
/* Runs a claimed job: ingests the file, records the outcome, deletes the file. */
int kb_job_run(struct kb_conn *c, const struct kb_job *job);
void kb_job_release(struct kb_job *j);
/* Removes files in dir (the upload folder) older than min_age_s that no
 * queued or running job refers to: uploads whose job went with a deleted
 * KB or conversation, or that a crash left behind. Returns how many. */
size_t kb_jobs_sweep(struct kb_conn *c, const char *dir, int64_t min_age_s);
json_t *kb_job_json(const struct kb_job *j);

/* ---- search ---- */
struct kb_hit {
    int64_t kb_id, chunk_id, doc_id;
    char *doc_name, *doc_title;
    char *heading; /* path below the title, ending with the label */
    char *label;   /* "第二十七条" or "" */
    char *text;
    char *highlight; /* text with matches wrapped in <em>…</em> (HTML-escaped) */
    double score;    /* engine score: BM25F, or fused / reranked when those are on */
    double coverage; /* share of the query's weighted terms this chunk matches, 0..1 */
};
struct kb_hits {
    struct kb_hit *a;
    size_t n;
};
enum kb_search_flags {
    KB_NO_SYNONYMS = 1, /* do not expand the query with the KB's synonyms */
    KB_NO_VECTORS = 2,  /* skip dense retrieval even when configured */
    KB_NO_RERANK = 4,
    KB_FTS5 = 8,     /* rank with SQLite FTS5 bm25() instead of the in-memory index */
    KB_TRIGRAM = 16, /* baseline: FTS5 trigram tokenizer */
    KB_NO_HIGHLIGHT = 32,
};
struct kb_search_opts {
    int k;                            /* hits wanted, 1..100 (default 5) */
    unsigned flags;                   /* enum kb_search_flags */
    const struct auth_principal *who; /* NULL: no permission filter (the CLI) */
};
/* Ranks the KB's chunks for `query`. RC_INVALID for empty or non-UTF-8
 * queries; RC_NOT_FOUND when the KB does not exist or o->who may not read
 * it (checked in SQL before anything is ranked). On success out holds up
 * to k hits, best first. */
int kb_search(struct kb_conn *c, int64_t kb_id, const char *query, const struct kb_search_opts *o,
              struct kb_hits *out, struct buf *err);
void kb_hits_release(struct kb_hits *h);
/* The first chunks of a KB in document order, up to about max_chars
 * characters (a summary's sources), as hits with score and coverage 1.
 * Nothing when who may not read the KB. RC_DB. */
int kb_leading_chunks(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                      size_t max_chars, struct kb_hits *out);
/* Searches several KBs for one question and merges their hits, best first
 * (up to o->k). Each KB goes through kb_search with o->who, so a KB who
 * may not read (or that does not exist) contributes nothing and is not an
 * error. BM25 scores of different KBs are not comparable; the share of
 * the question a hit matches is, so the merge ranks by
 * coverage × (0.5 + 0.5 × score / the best score of the hit's own KB).
 * RC_INVALID for a bad query; RC_DB/RC_INTERNAL on a store failure. */
int kb_search_many(struct kb_conn *c, const int64_t *kb_ids, size_t n, const char *query,
                   const struct kb_search_opts *o, struct kb_hits *out, struct buf *err);
json_t *kb_hits_json(const struct kb_hits *h);
/* Writes {"hits":[…]} with the same content as kb_hits_json, straight into
 * out, without building a jansson tree: the search endpoint's hot path.
 * RC_OK or RC_TOO_BIG (out's cap). */
int kb_hits_write_json(const struct kb_hits *h, struct buf *out);

/* ---- answers ---- */
enum kb_answer_mode { KB_ANSWER_NONE = 0, KB_ANSWER_EXTRACTIVE, KB_ANSWER_MODEL };
struct kb_citation {
    int n; /* the [n] marker */
    int64_t kb_id, chunk_id;
    char *doc_name, *doc_title, *label, *heading, *text;
    char *cite; /* "《票据法》第二十七条" */
};
struct kb_answer {
    enum kb_answer_mode mode;
    char *text;   /* the answer shown to the user */
    char *notice; /* e.g. "模型不可用，已改用摘录答案" or NULL */
    char *model;  /* model name when mode == KB_ANSWER_MODEL */
    struct kb_citation *cites;
    size_t ncites;
    double latency_ms;
};
/* Called with answer text as it is produced (the extractive answer is sent
 * in one piece). Return non-zero to stop. */
typedef int (*kb_delta_cb)(void *ctx, const char *p, size_t n);
struct kb_ask_opts {
    int k;                            /* chunks retrieved for grounding (default 5) */
    unsigned flags;                   /* kb_search_flags */
    int no_model;                     /* force the extractive answer */
    const struct auth_principal *who; /* as in kb_search_opts */
};
/* Answers a question from the KB: with a chat model configured, a grounded
 * streamed answer whose [n] markers map to cites; otherwise (or when the
 * model fails) an extractive answer; KB_ANSWER_NONE with
 * "知识库中未找到相关规定" when nothing scores well enough. Errors only for bad
 * input or a broken store. */
int kb_ask(struct kb_conn *c, int64_t kb_id, const char *question, const struct kb_ask_opts *o,
           kb_delta_cb cb, void *ctx, struct kb_answer *out, struct buf *err);
void kb_answer_release(struct kb_answer *a);
/* The extractive answer from hits already found (kb_ask's no-model path):
 * drops hits below cfg answer_min_score (reordering h), then quotes the
 * best one or two with their citations, or KB_ANSWER_NONE with
 * "知识库中未找到相关规定". out must be zeroed. */
void kb_answer_extractive(struct kb_hits *h, double min_score, struct kb_answer *out);
/* Adds the citations of the [n] markers a model used (1..nsrc, in order of
 * first use; all nsrc sources when it used none) to out. */
void kb_answer_cite_markers(const char *text, const struct kb_hits *h, size_t nsrc,
                            struct kb_answer *out);
/* Formats a citation: 《title》第X条 (or 《title》 heading when no label). */
char *kb_cite_string(const char *title, const char *label, const char *heading);
/* Appends one citation [n] for hit h. */
void kb_answer_add_citation(struct kb_answer *a, int n, const struct kb_hit *h);
json_t *kb_answer_json(const struct kb_answer *a);
json_t *kb_citations_json(const struct kb_answer *a);

/* ---- synonyms ---- */
/* A synonym group is a list of terms that mean the same ("开户 开立账户").
 * Every KB starts with the default banking dictionary. */
int kb_synonyms(struct kb_conn *c, int64_t kb_id, json_t **out);
int kb_synonym_add(struct kb_conn *c, int64_t kb_id, const char *const *terms, size_t n,
                   int64_t *group_id, struct buf *err);
int kb_synonym_delete(struct kb_conn *c, int64_t kb_id, int64_t group_id);

#endif
