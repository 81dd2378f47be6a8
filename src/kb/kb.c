/* Knowledge bases: engine and connections, KB and document records, the
 * ingest pipeline (detect → parse → chunk → embed → one transaction), and
 * the per-KB search snapshots. */
#include "kb/kbint.h"
#include "auth/acl.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "ingest/ingest.h"
#include "kb/chunk.h"
#include "kb/cues.h"
#include "text/tok.h"
#include "text/norm.h"
#include "text/utf8.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- engine and connections ---- */

int kb_engine_open(const struct config *cfg, struct kb_engine **out, struct buf *err)
{
    *out = NULL;
    if (mkdir(cfg->data_dir, 0750) != 0 && errno != EEXIST) {
        buf_addf(err, "无法创建数据目录 / cannot create data directory %s", cfg->data_dir);
        return RC_IO;
    }
    norm_init();
    struct kb_engine *e = xcalloc(1, sizeof *e);
    e->cfg = cfg;
    struct buf path = BUF_INIT;
    buf_addf(&path, "%s/atrium.db", cfg->data_dir);
    e->db_path = buf_detach(&path, NULL);
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->build_mu, NULL);
    /* Open once here so migrations run before any thread uses the store. */
    sqlite3 *db = NULL;
    int rc = db_open(e->db_path, &db, err);
    if (rc) {
        kb_engine_close(e);
        return rc;
    }
    /* Jobs left running by a process that died are queued again. */
    if (db_exec(db, "UPDATE jobs SET status = 'queued' WHERE status = 'running'"))
        log_warn("could not requeue interrupted ingest jobs");
    db_close(db);
    *out = e;
    return RC_OK;
}

void kb_engine_close(struct kb_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nsnaps; i++)
        kb_snapshot_put(e->snaps[i]);
    free(e->snaps);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->build_mu);
    free(e->db_path);
    free(e);
}

int kb_conn_open(struct kb_engine *e, struct kb_conn **out, struct buf *err)
{
    *out = NULL;
    sqlite3 *db = NULL;
    int rc = db_open(e->db_path, &db, err);
    if (rc)
        return rc;
    struct kb_conn *c = xcalloc(1, sizeof *c);
    c->e = e;
    c->db = db;
    c->cache = db_cache_new(db);
    c->store = (struct db_conn){db, c->cache};
    *out = c;
    return RC_OK;
}

const char *kb_engine_db_path(const struct kb_engine *e)
{
    return e->db_path;
}

struct db_conn *kb_conn_store(struct kb_conn *c)
{
    return &c->store;
}

void kb_conn_close(struct kb_conn *c)
{
    if (!c)
        return;
    db_cache_free(c->cache);
    db_close(c->db);
    free(c);
}

/* ---- knowledge bases ---- */

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 256 || !utf8_valid(name, n))
        return 0;
    size_t chars = utf8_count(name, n);
    if (chars > 64)
        return 0;
    int all_digits = 1;
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '/' || ch == '\\' || ch < 0x20 || ch == 0x7f)
            return 0;
        if (ch < '0' || ch > '9')
            all_digits = 0;
    }
    return !all_digits;
}

/* Counts are kept in the kbs row by ingest and delete (kb_count), so that
 * resolving a KB on every request is a point lookup. The caller's access
 * level is computed in the same query (auth/acl.h): a KB the caller may
 * not read is never selected. By name, the caller's own personal KB comes
 * before an enterprise KB of the same name; other people's personal KBs
 * are not candidates at all. Conversation KBs are reached by id only. */
#define KB_COLS "k.id, k.name, k.created_at, k.ndocs, k.nchunks, k.nchars, k.kind, k.owner_id, "
/* The candidates are materialised first so that the access level is
 * computed once per candidate row (a column alias used in WHERE would be
 * evaluated again). */
static const char SQL_KB_FOR[] =
    "WITH c AS MATERIALIZED (SELECT " KB_COLS ACL_KB_LEVEL_SQL " AS lvl FROM kbs k"
    "  WHERE k.id = ?3 OR (k.name = ?4 AND k.kind <> 'conversation'"
    "    AND (k.owner_id IS NULL OR k.owner_id = ?1)))"
    " SELECT * FROM c WHERE lvl >= 1 ORDER BY owner_id IS NULL, id LIMIT 1";
static const char SQL_KB_ALL_FOR[] =
    "WITH c AS MATERIALIZED (SELECT " KB_COLS ACL_KB_LEVEL_SQL " AS lvl FROM kbs k"
    "  WHERE k.kind <> 'conversation')"
    " SELECT * FROM c WHERE lvl >= 1 ORDER BY owner_id IS NOT NULL, id";

/* Adds deltas to a KB's document, chunk and character counts. */
static int kb_count(struct kb_conn *c, int64_t kb_id, int64_t docs, int64_t chunks, int64_t chars)
{
    sqlite3_stmt *st =
        db_stmt(c->cache, "UPDATE kbs SET ndocs = ndocs + ?2, nchunks = nchunks + ?3,"
                          " nchars = nchars + ?4 WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_int64(st, 2, docs);
    sqlite3_bind_int64(st, 3, chunks);
    sqlite3_bind_int64(st, 4, chars);
    return sqlite3_step(st) == SQLITE_DONE ? RC_OK : RC_DB;
}

/* A document's chunk and character counts. */
static int doc_counts(struct kb_conn *c, int64_t doc_id, int64_t *chunks, int64_t *chars)
{
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT nchunks, nchars FROM documents WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, doc_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *chunks = sqlite3_column_int64(st, 0);
        *chars = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

static void read_kb_row(sqlite3_stmt *st, struct kb_info *k)
{
    k->id = sqlite3_column_int64(st, 0);
    k->name = db_col_str(st, 1);
    k->created_at = sqlite3_column_int64(st, 2);
    k->ndocs = sqlite3_column_int64(st, 3);
    k->nchunks = sqlite3_column_int64(st, 4);
    k->nchars = sqlite3_column_int64(st, 5);
    k->kind = db_col_str(st, 6);
    k->owner_id = sqlite3_column_int64(st, 7);
    k->level = sqlite3_column_int(st, 8);
}

int kb_create(struct kb_conn *c, const char *name, struct kb_info *out, struct buf *err)
{
    return kb_create_ex(c, name, "enterprise", 0, out, err);
}

int kb_create_ex(struct kb_conn *c, const char *name, const char *kind, int64_t owner_id,
                 struct kb_info *out, struct buf *err)
{
    memset(out, 0, sizeof *out);
    int personal = strcmp(kind, "enterprise") != 0;
    if (!valid_name(name)) {
        buf_addf(err, "知识库名称无效（1–64 个字符，不含 /，不能全为数字） / invalid KB name");
        return RC_INVALID;
    }
    if ((strcmp(kind, "enterprise") != 0 && strcmp(kind, "personal") != 0 &&
         strcmp(kind, "conversation") != 0) ||
        (personal && owner_id <= 0) || (!personal && owner_id != 0)) {
        buf_addf(err, "知识库类型无效 / invalid KB kind");
        return RC_INVALID;
    }
    struct db_tx tx;
    if (db_tx_begin(c->db, &tx))
        return RC_DB;
    sqlite3_stmt *st = db_stmt(
        c->cache, "INSERT INTO kbs(name, kind, owner_id, created_at) VALUES (?1, ?2, ?3, ?4)");
    if (!st)
        goto fail;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    if (personal)
        sqlite3_bind_int64(st, 3, owner_id);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, now_unix());
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s == SQLITE_CONSTRAINT) {
        (void)db_tx_end(c->db, &tx, 0);
        /* FOREIGN KEY (no such owner) or UNIQUE (name taken in its scope). */
        if (sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
            buf_addf(err, "用户不存在 / unknown owner");
            return RC_NOT_FOUND;
        }
        buf_addf(err, "知识库已存在 / knowledge base already exists: %s", name);
        return RC_EXISTS;
    }
    if (s != SQLITE_DONE)
        goto fail;
    int64_t id = sqlite3_last_insert_rowid(c->db);
    if (kb_synonyms_seed(c, id) || db_tx_end(c->db, &tx, 1))
        goto fail;
    char idstr[32];
    snprintf(idstr, sizeof idstr, "%lld", (long long)id);
    return kb_get(c, idstr, out);
fail:
    buf_addf(err, "存储错误 / store error: %s", sqlite3_errmsg(c->db));
    (void)db_tx_end(c->db, &tx, 0);
    return RC_DB;
}

int kb_get(struct kb_conn *c, const char *id_or_name, struct kb_info *out)
{
    return kb_get_for(c, NULL, id_or_name, ACL_READ, out);
}

int kb_get_for(struct kb_conn *c, const struct auth_principal *who, const char *id_or_name,
               int min_level, struct kb_info *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_stmt(c->cache, SQL_KB_FOR);
    if (!st)
        return RC_DB;
    int64_t id = -1;
    if (parse_i64(id_or_name, 1, INT64_MAX, &id))
        id = -1;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_text(st, 4, id_or_name, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        read_kb_row(st, out);
        sqlite3_reset(st);
        if (out->level < min_level) {
            kb_info_release(out);
            return RC_DENIED;
        }
        return RC_OK;
    }
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

int kb_list(struct kb_conn *c, struct kb_info **out, size_t *n)
{
    return kb_list_for(c, NULL, out, n);
}

int kb_list_for(struct kb_conn *c, const struct auth_principal *who, struct kb_info **out,
                size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db_stmt(c->cache, SQL_KB_ALL_FOR);
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    size_t cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        *out = xgrow(*out, &cap, *n + 1, sizeof **out);
        read_kb_row(st, &(*out)[(*n)++]);
    }
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_OK : RC_DB;
}

int kb_readable(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id)
{
    if (!who)
        return RC_OK;
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT " ACL_KB_LEVEL_SQL " FROM kbs k WHERE k.id = ?3");
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, kb_id);
    int s = sqlite3_step(st);
    int level = s == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return RC_DB;
    return level >= ACL_READ ? RC_OK : RC_NOT_FOUND;
}

void kb_info_release(struct kb_info *k)
{
    free(k->name);
    k->name = NULL;
    free(k->kind);
    k->kind = NULL;
}

void kb_infos_free(struct kb_info *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kb_info_release(&a[i]);
    free(a);
}

json_t *kb_info_json(const struct kb_info *k)
{
    static const char *const access[] = {"none", "read", "write", "admin"};
    json_t *j = json_pack("{sI ss ss sI sI sI sI ss}", "id", (json_int_t)k->id, "name", k->name,
                          "kind", k->kind ? k->kind : "enterprise", "created_at",
                          (json_int_t)k->created_at, "documents", (json_int_t)k->ndocs, "chunks",
                          (json_int_t)k->nchunks, "characters", (json_int_t)k->nchars, "access",
                          access[k->level >= 0 && k->level <= 3 ? k->level : 0]);
    if (j && k->owner_id && json_object_set_new(j, "owner_id", json_integer(k->owner_id)) != 0)
        log_warn("kb: owner left out of a KB's JSON");
    return j;
}

int kb_bump_generation(struct kb_conn *c, int64_t kb_id)
{
    sqlite3_stmt *st =
        db_stmt(c->cache, "UPDATE kbs SET generation = generation + 1 WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_OK : RC_DB;
}

/* ---- documents ---- */

/* Documents and chunks are selected with the ACL in the same query: a
 * caller who may not read the KB gets nothing, as if it did not exist. */
#define DOC_COLS                                                                                   \
    "d.id, d.name, d.title, d.type, d.sha256, d.version, d.nchars, d.updated_at, d.nchunks"

static void read_doc_row(sqlite3_stmt *st, struct kb_doc_info *d)
{
    d->id = sqlite3_column_int64(st, 0);
    d->name = db_col_str(st, 1);
    d->title = db_col_str(st, 2);
    d->type = db_col_str(st, 3);
    d->sha256 = db_col_str(st, 4);
    d->version = sqlite3_column_int(st, 5);
    d->nchars = sqlite3_column_int64(st, 6);
    d->updated_at = sqlite3_column_int64(st, 7);
    d->nchunks = sqlite3_column_int64(st, 8);
}

int kb_docs(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
            struct kb_doc_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT " DOC_COLS " FROM documents d"
                                         " JOIN kbs k ON k.id = d.kb_id"
                                         " WHERE d.kb_id = ?3 AND " ACL_KB_LEVEL_SQL " >= 1"
                                         " ORDER BY d.name");
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, kb_id);
    size_t cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        *out = xgrow(*out, &cap, *n + 1, sizeof **out);
        read_doc_row(st, &(*out)[(*n)++]);
    }
    sqlite3_reset(st);
    return s == SQLITE_DONE ? RC_OK : RC_DB;
}

int kb_doc_get(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id, int64_t doc_id,
               struct kb_doc_info *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT " DOC_COLS " FROM documents d"
                                         " JOIN kbs k ON k.id = d.kb_id"
                                         " WHERE d.id = ?4 AND d.kb_id = ?3"
                                         "   AND " ACL_KB_LEVEL_SQL " >= 1");
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, kb_id);
    sqlite3_bind_int64(st, 4, doc_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        read_doc_row(st, out);
    sqlite3_reset(st);
    return s == SQLITE_ROW ? RC_OK : s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

const char *kb_type_mime(const char *type)
{
    static const struct {
        const char *type, *mime;
    } m[] = {
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"html", "text/html; charset=utf-8"},
        {"pdf", "application/pdf"},
        {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strcmp(type, m[i].type) == 0)
            return m[i].mime;
    return "application/octet-stream";
}

int kb_doc_file(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id, int64_t doc_id,
                struct kb_file *out)
{
    memset(out, 0, sizeof *out);
    struct kb_doc_info d;
    int rc = kb_doc_get(c, who, kb_id, doc_id, &d);
    if (rc)
        return rc;
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT mime, data FROM doc_files WHERE doc_id = ?1");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, doc_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        out->mime = db_col_str(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        out->data = xmalloc(n ? n : 1);
        if (n)
            memcpy(out->data, sqlite3_column_blob(st, 1), n);
        out->n = n;
        out->name = xstrdup(d.name);
        out->original = 1;
    }
    sqlite3_reset(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = RC_DB;
        goto out;
    }
    if (s == SQLITE_ROW)
        goto out;
    /* No file kept (a JSONL line): the document's text, chunk by chunk. */
    st = db_stmt(c->cache, "SELECT heading, text, part FROM chunks WHERE doc_id = ?1 ORDER BY ord");
    if (!st) {
        rc = RC_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, doc_id);
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s\n", d.title);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *heading = (const char *)sqlite3_column_text(st, 0);
        if (heading && *heading && sqlite3_column_int(st, 2) <= 1)
            buf_addf(&b, "\n%s\n", heading);
        buf_addf(&b, "%s\n", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        buf_release(&b);
        rc = RC_DB;
        goto out;
    }
    out->data = buf_detach(&b, &out->n);
    out->mime = xstrdup("text/plain; charset=utf-8");
    out->name = xmalloc(strlen(d.name) + 5);
    memcpy(out->name, d.name, strlen(d.name));
    memcpy(out->name + strlen(d.name), ".txt", 5);
out:
    kb_docs_free_one(&d);
    return rc;
}

void kb_file_release(struct kb_file *f)
{
    free(f->name);
    free(f->mime);
    free(f->data);
    memset(f, 0, sizeof *f);
}

int kb_chunk_get(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                 int64_t chunk_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT ch.id, ch.kb_id, ch.doc_id, d.name, d.title, ch.heading,"
                          " ch.label, ch.text, ch.part, ch.nparts, ch.ord FROM chunks ch"
                          " JOIN documents d ON d.id = ch.doc_id JOIN kbs k ON k.id = ch.kb_id"
                          " WHERE ch.id = ?4 AND ch.kb_id = ?3 AND " ACL_KB_LEVEL_SQL " >= 1");
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, kb_id);
    sqlite3_bind_int64(st, 4, chunk_id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *out = json_pack(
            "{sI sI sI ss ss ss ss ss si si sI}", "id", (json_int_t)sqlite3_column_int64(st, 0),
            "kb_id", (json_int_t)sqlite3_column_int64(st, 1), "doc_id",
            (json_int_t)sqlite3_column_int64(st, 2), "doc_name",
            (const char *)sqlite3_column_text(st, 3), "doc_title",
            (const char *)sqlite3_column_text(st, 4), "heading",
            (const char *)sqlite3_column_text(st, 5), "label",
            (const char *)sqlite3_column_text(st, 6), "text",
            (const char *)sqlite3_column_text(st, 7), "part", sqlite3_column_int(st, 8), "nparts",
            sqlite3_column_int(st, 9), "ord", (json_int_t)sqlite3_column_int64(st, 10));
    sqlite3_reset(st);
    if (s == SQLITE_ROW)
        return *out ? RC_OK : RC_INTERNAL;
    return s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

int kb_doc_chunks(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                  int64_t doc_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT d.name, d.title FROM documents d JOIN kbs k ON k.id = d.kb_id"
                          " WHERE d.id = ?4 AND d.kb_id = ?3 AND " ACL_KB_LEVEL_SQL " >= 1");
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, kb_id);
    sqlite3_bind_int64(st, 4, doc_id);
    int s = sqlite3_step(st);
    json_t *j = NULL;
    if (s == SQLITE_ROW)
        j = json_pack("{sI ss ss sb}", "doc_id", (json_int_t)doc_id, "doc_name",
                      (const char *)sqlite3_column_text(st, 0), "doc_title",
                      (const char *)sqlite3_column_text(st, 1), "truncated", 0);
    sqlite3_reset(st);
    if (s != SQLITE_ROW)
        return s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
    if (!j)
        return RC_INTERNAL;
    /* The document was readable a statement ago; chunks follow their document. */
    st = db_stmt(c->cache, "SELECT id, heading, label, text, part, nparts, ord FROM chunks"
                           " WHERE doc_id = ?1 AND kb_id = ?2 ORDER BY ord, id LIMIT ?3");
    if (!st) {
        json_decref(j);
        return RC_DB;
    }
    sqlite3_bind_int64(st, 1, doc_id);
    sqlite3_bind_int64(st, 2, kb_id);
    sqlite3_bind_int(st, 3, KB_DOC_CHUNKS_MAX + 1);
    json_t *arr = json_array();
    size_t n = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (++n > KB_DOC_CHUNKS_MAX) {
            json_object_set_new(j, "truncated", json_true());
            break;
        }
        json_array_append_new(
            arr, json_pack("{sI ss ss ss si si sI}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                           "heading", (const char *)sqlite3_column_text(st, 1), "label",
                           (const char *)sqlite3_column_text(st, 2), "text",
                           (const char *)sqlite3_column_text(st, 3), "part",
                           sqlite3_column_int(st, 4), "nparts", sqlite3_column_int(st, 5), "ord",
                           (json_int_t)sqlite3_column_int64(st, 6)));
    }
    sqlite3_reset(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        json_decref(arr);
        json_decref(j);
        return RC_DB;
    }
    json_object_set_new(j, "chunks", arr);
    *out = j;
    return RC_OK;
}

void kb_docs_free_one(struct kb_doc_info *d)
{
    free(d->name);
    free(d->title);
    free(d->type);
    free(d->sha256);
    memset(d, 0, sizeof *d);
}

void kb_docs_free(struct kb_doc_info *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kb_docs_free_one(&a[i]);
    free(a);
}

json_t *kb_doc_json(const struct kb_doc_info *d)
{
    return json_pack("{sI ss ss ss ss si sI sI sI}", "id", (json_int_t)d->id, "name", d->name,
                     "title", d->title, "type", d->type, "sha256", d->sha256, "version", d->version,
                     "chunks", (json_int_t)d->nchunks, "characters", (json_int_t)d->nchars,
                     "updated_at", (json_int_t)d->updated_at);
}

static const char *const fts_delete_sql[] = {
    "INSERT INTO chunks_fts(chunks_fts, rowid, title, heading, text)"
    " SELECT 'delete', id, title, heading, text FROM chunks WHERE doc_id = ?1",
    "INSERT INTO chunks_tri(chunks_tri, rowid, title, heading, text)"
    " SELECT 'delete', id, title, heading, text FROM chunks WHERE doc_id = ?1",
};
static const char *const fts_insert_sql[] = {
    "INSERT INTO chunks_fts(rowid, title, heading, text) VALUES (?1, ?2, ?3, ?4)",
    "INSERT INTO chunks_tri(rowid, title, heading, text) VALUES (?1, ?2, ?3, ?4)",
};

/* Removes a document's chunks from the full-text indexes present and the store. */
static int delete_chunks(struct kb_conn *c, int64_t doc_id, unsigned fts)
{
    sqlite3_stmt *st;
    for (unsigned i = 0; i < 2; i++) {
        if (!(fts & (1u << i)))
            continue;
        st = db_stmt(c->cache, fts_delete_sql[i]);
        if (!st)
            return RC_DB;
        sqlite3_bind_int64(st, 1, doc_id);
        if (sqlite3_step(st) != SQLITE_DONE)
            return RC_DB;
    }
    st = db_stmt(c->cache, "DELETE FROM chunks WHERE doc_id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, doc_id);
    return sqlite3_step(st) == SQLITE_DONE ? RC_OK : RC_DB;
}

int kb_doc_delete(struct kb_conn *c, int64_t kb_id, int64_t doc_id)
{
    struct db_tx tx;
    if (db_tx_begin(c->db, &tx))
        return RC_DB;
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT 1 FROM documents WHERE id = ?1 AND kb_id = ?2");
    if (!st)
        goto fail;
    sqlite3_bind_int64(st, 1, doc_id);
    sqlite3_bind_int64(st, 2, kb_id);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s == SQLITE_DONE) {
        (void)db_tx_end(c->db, &tx, 0);
        return RC_NOT_FOUND;
    }
    int64_t nchunks = 0, nchars = 0;
    if (s != SQLITE_ROW || doc_counts(c, doc_id, &nchunks, &nchars) ||
        kb_count(c, kb_id, -1, -nchunks, -nchars) || delete_chunks(c, doc_id, kb_fts_present(c)))
        goto fail;
    st = db_stmt(c->cache, "DELETE FROM documents WHERE id = ?1");
    if (!st)
        goto fail;
    sqlite3_bind_int64(st, 1, doc_id);
    if (sqlite3_step(st) != SQLITE_DONE || kb_bump_generation(c, kb_id) || db_tx_end(c->db, &tx, 1))
        goto fail;
    return RC_OK;
fail:
    log_error("document delete failed: %s", sqlite3_errmsg(c->db));
    (void)db_tx_end(c->db, &tx, 0);
    return RC_DB;
}

/* ---- ingest ---- */

const char *kb_outcome_name(enum kb_outcome o)
{
    switch (o) {
    case KB_ADDED:
        return "added";
    case KB_REPLACED:
        return "replaced";
    case KB_UNCHANGED:
        return "unchanged";
    default:
        return "failed";
    }
}

static struct kb_ingest_item *report_add(struct kb_ingest_report *rep, const char *name,
                                         enum kb_outcome o, int rc, const char *error,
                                         size_t nchunks)
{
    rep->a = xgrow(rep->a, &rep->cap, rep->n + 1, sizeof *rep->a);
    struct kb_ingest_item *it = &rep->a[rep->n++];
    it->name = xstrdup(name);
    it->outcome = o;
    it->rc = rc;
    it->error = error ? xstrdup(error) : NULL;
    it->nchunks = nchunks;
    switch (o) {
    case KB_ADDED:
        rep->added++;
        break;
    case KB_REPLACED:
        rep->replaced++;
        break;
    case KB_UNCHANGED:
        rep->unchanged++;
        break;
    default:
        rep->failed++;
        break;
    }
    rep->chunks += nchunks;
    return it;
}

void kb_ingest_report_release(struct kb_ingest_report *rep)
{
    for (size_t i = 0; i < rep->n; i++) {
        free(rep->a[i].name);
        free(rep->a[i].error);
    }
    free(rep->a);
    memset(rep, 0, sizeof *rep);
}

json_t *kb_ingest_report_json(const struct kb_ingest_report *rep)
{
    json_t *items = json_array();
    for (size_t i = 0; i < rep->n; i++) {
        const struct kb_ingest_item *it = &rep->a[i];
        json_t *o = json_pack("{ss ss sI}", "name", it->name, "outcome",
                              kb_outcome_name(it->outcome), "chunks", (json_int_t)it->nchunks);
        if (it->error) {
            json_object_set_new(o, "error", json_string(it->error));
            json_object_set_new(o, "code", json_string(rc_code(it->rc)));
        }
        json_array_append_new(items, o);
    }
    return json_pack("{sI sI sI sI sI sI so}", "added", (json_int_t)rep->added, "replaced",
                     (json_int_t)rep->replaced, "unchanged", (json_int_t)rep->unchanged, "failed",
                     (json_int_t)rep->failed, "chunks", (json_int_t)rep->chunks, "bytes",
                     (json_int_t)rep->bytes, "items", items);
}

/* Looks up an existing document by identity: RC_OK with id and sha, or RC_NOT_FOUND. */
static int find_doc(struct kb_conn *c, int64_t kb_id, const char *name, int64_t *id, char sha[65],
                    int *version)
{
    sqlite3_stmt *st = db_stmt(
        c->cache, "SELECT id, sha256, version FROM documents WHERE kb_id = ?1 AND name = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    int rc = RC_NOT_FOUND;
    if (s == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        const unsigned char *h = sqlite3_column_text(st, 1);
        snprintf(sha, 65, "%s", h ? (const char *)h : "");
        *version = sqlite3_column_int(st, 2);
        rc = RC_OK;
    } else if (s != SQLITE_DONE) {
        rc = RC_DB;
    }
    sqlite3_reset(st);
    return rc;
}

/* True when the KB already holds this exact document (same identity and
 * sha256) and, with an embedding model configured, its vectors from that
 * model: a document stored while the embedding service was down is ingested
 * again rather than kept without vectors. */
static int doc_current(struct kb_conn *c, int64_t kb_id, const char *name, const char *sha)
{
    int64_t id;
    char old_sha[65];
    int version;
    if (find_doc(c, kb_id, name, &id, old_sha, &version) != RC_OK || strcmp(old_sha, sha) != 0)
        return 0;
    struct llm_endpoint ep;
    if (!kb_embed_endpoint(c->e, &ep))
        return 1;
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT count(*) = (SELECT count(*) FROM chunks"
                          " WHERE doc_id = ?1) FROM chunks c JOIN chunk_vectors v"
                          " ON v.chunk_id = c.id WHERE c.doc_id = ?1 AND v.model = ?2");
    if (!st)
        return 1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, c->e->cfg->embed_model, -1, SQLITE_STATIC);
    int all = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return all;
}

/* Embeds the chunks when an embedding endpoint is configured. Returns
 * NULL (no vectors) when none is configured or the call failed (logged). */
static float *embed_chunks(struct kb_conn *c, const char *title, const struct chunk_list *cl,
                           size_t *dim)
{
    struct llm_endpoint ep;
    if (!kb_embed_endpoint(c->e, &ep) || cl->n == 0)
        return NULL;
    const char **texts = xcalloc(cl->n, sizeof *texts);
    char **owned = xcalloc(cl->n, sizeof *owned);
    for (size_t i = 0; i < cl->n; i++) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "%s %s\n%s", title, cl->a[i].heading, cl->a[i].text);
        owned[i] = buf_detach(&b, NULL);
        texts[i] = owned[i];
    }
    float *all = NULL;
    size_t d = 0;
    struct buf err = BUF_INIT;
    for (size_t i = 0; i < cl->n; i += 32) {
        size_t m = cl->n - i < 32 ? cl->n - i : 32;
        float *v = NULL;
        size_t dd = 0;
        if (llm_embed(&ep, texts + i, m, &v, &dd, NULL, &err)) {
            log_warn("embedding failed, document indexed without vectors: %s", buf_str(&err));
            free(all);
            all = NULL;
            break;
        }
        if (!all) {
            d = dd;
            all = xmalloc(cl->n * d * sizeof *all);
        }
        if (dd != d) {
            log_warn("embedding dimension changed mid-document; vectors dropped");
            free(v);
            free(all);
            all = NULL;
            break;
        }
        memcpy(all + i * d, v, m * d * sizeof *all);
        free(v);
    }
    for (size_t i = 0; i < cl->n; i++)
        free(owned[i]);
    free(owned);
    free(texts);
    buf_release(&err);
    *dim = all ? d : 0;
    return all;
}

/* Writes one parsed document in one transaction, replacing an older
 * version. Either all of it is committed or nothing changes. */
/* The original file of an upload, kept for downloads (NULL for JSONL lines). */
struct kb_src {
    const void *p;
    size_t n;
    const char *mime;
};

static int store_doc(struct kb_conn *c, int64_t kb_id, const char *name, const char *type,
                     const char *sha, const struct doc *d, const struct chunk_list *cl,
                     const float *vecs, size_t dim, const struct kb_src *src,
                     enum kb_outcome *outcome)
{
    int64_t old_id = 0;
    char old_sha[65];
    int version = 0;
    struct db_tx tx;
    if (db_tx_begin(c->db, &tx))
        return RC_DB;
    int rc = find_doc(c, kb_id, name, &old_id, old_sha, &version);
    if (rc == RC_OK && doc_current(c, kb_id, name, sha)) {
        db_tx_end(c->db, &tx, 0);
        *outcome = KB_UNCHANGED;
        return RC_OK;
    }
    if (rc != RC_OK && rc != RC_NOT_FOUND)
        goto fail;
    int64_t now = now_unix();
    int64_t doc_id = 0;
    sqlite3_stmt *st;
    unsigned fts = kb_fts_present(c); /* read inside the transaction: another process may add one */
    int64_t nchars = (int64_t)doc_chars(d);
    if (rc == RC_OK) {
        int64_t old_chunks = 0, old_chars = 0;
        if (doc_counts(c, old_id, &old_chunks, &old_chars) ||
            kb_count(c, kb_id, 0, (int64_t)cl->n - old_chunks, nchars - old_chars) ||
            delete_chunks(c, old_id, fts))
            goto fail;
        st = db_stmt(c->cache, "UPDATE documents SET title = ?2, type = ?3, sha256 = ?4,"
                               " version = version + 1, nchars = ?5, updated_at = ?6, nchunks = ?9"
                               " WHERE id = ?1");
        if (!st)
            goto fail;
        sqlite3_bind_int64(st, 1, old_id);
        doc_id = old_id;
        *outcome = KB_REPLACED;
    } else {
        st = db_stmt(c->cache,
                     "INSERT INTO documents(kb_id, name, title, type, sha256, nchars, created_at,"
                     " updated_at, nchunks) VALUES (?7, ?8, ?2, ?3, ?4, ?5, ?6, ?6, ?9)");
        if (!st || kb_count(c, kb_id, 1, (int64_t)cl->n, nchars))
            goto fail;
        sqlite3_bind_int64(st, 7, kb_id);
        sqlite3_bind_text(st, 8, name, -1, SQLITE_TRANSIENT);
        *outcome = KB_ADDED;
    }
    sqlite3_bind_text(st, 2, d->title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, sha, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, nchars);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)cl->n);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    if (*outcome == KB_ADDED)
        doc_id = sqlite3_last_insert_rowid(c->db);

    for (size_t i = 0; i < cl->n; i++) {
        const struct chunk *ch = &cl->a[i];
        st = db_stmt(c->cache,
                     "INSERT INTO chunks(kb_id, doc_id, ord, kind, title, heading, label,"
                     " text, part, nparts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        if (!st)
            goto fail;
        sqlite3_bind_int64(st, 1, kb_id);
        sqlite3_bind_int64(st, 2, doc_id);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        sqlite3_bind_int(st, 4, (int)ch->kind);
        sqlite3_bind_text(st, 5, d->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, ch->heading, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, ch->label, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, ch->text, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 9, ch->part);
        sqlite3_bind_int(st, 10, ch->nparts);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
        int64_t chunk_id = sqlite3_last_insert_rowid(c->db);
        for (unsigned f = 0; f < 2; f++) {
            if (!(fts & (1u << f)))
                continue;
            st = db_stmt(c->cache, fts_insert_sql[f]);
            if (!st)
                goto fail;
            sqlite3_bind_int64(st, 1, chunk_id);
            sqlite3_bind_text(st, 2, d->title, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, ch->heading, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, ch->text, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                goto fail;
        }
        if (vecs) {
            st = db_stmt(
                c->cache,
                "INSERT INTO chunk_vectors(chunk_id, model, dim, vec) VALUES (?1, ?2, ?3, ?4)");
            if (!st)
                goto fail;
            sqlite3_bind_int64(st, 1, chunk_id);
            sqlite3_bind_text(st, 2, c->e->cfg->embed_model, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, (sqlite3_int64)dim);
            sqlite3_bind_blob(st, 4, vecs + i * dim, (int)(dim * sizeof(float)), SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                goto fail;
        }
    }
    if (src && src->p) {
        st = db_stmt(c->cache,
                     "INSERT OR REPLACE INTO doc_files(doc_id, mime, data) VALUES (?1, ?2, ?3)");
        if (!st || src->n > INT32_MAX)
            goto fail;
        sqlite3_bind_int64(st, 1, doc_id);
        sqlite3_bind_text(st, 2, src->mime, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, src->p, (int)src->n, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
    }
    if (kb_bump_generation(c, kb_id) || db_tx_end(c->db, &tx, 1))
        goto fail;
    return RC_OK;
fail:
    log_error("storing document failed: %s", sqlite3_errmsg(c->db));
    db_tx_end(c->db, &tx, 0);
    return RC_DB;
}

/* Chunks, embeds and stores one parsed document; records the outcome. */
static int ingest_doc(struct kb_conn *c, int64_t kb_id, const char *name, const char *type,
                      const char *sha, struct doc *d, const struct kb_src *src,
                      struct kb_ingest_report *rep)
{
    if (!d->title[0])
        doc_set_title(d, name, strlen(name));
    struct chunk_list cl = {0};
    chunk_doc(d, NULL, &cl);
    if (cl.n == 0) {
        chunk_list_release(&cl);
        report_add(rep, name, KB_FAILED, RC_PARSE, "文档没有可索引的文本 / document has no text",
                   0);
        return RC_PARSE;
    }
    size_t dim = 0;
    float *vecs = embed_chunks(c, d->title, &cl, &dim);
    enum kb_outcome o = KB_FAILED;
    int rc = store_doc(c, kb_id, name, type, sha, d, &cl, vecs, dim, src, &o);
    free(vecs);
    if (rc)
        report_add(rep, name, KB_FAILED, rc, "写入存储失败 / store write failed", 0);
    else
        report_add(rep, name, o, RC_OK, NULL, o == KB_UNCHANGED ? 0 : cl.n);
    chunk_list_release(&cl);
    return rc;
}

struct jsonl_ctx {
    struct kb_conn *c;
    int64_t kb_id;
    struct kb_ingest_report *rep;
    int first_rc;
    int own_batch;  /* we opened the transaction and commit it every JSONL_BATCH docs */
    size_t pending; /* documents since the last commit */
};

#define JSONL_BATCH 256

static void doc_sha(const struct doc *d, char sha[65])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)d->title, strlen(d->title) + 1);
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        if (b->text)
            crypto_hash_sha256_update(&st, (const unsigned char *)b->text, strlen(b->text) + 1);
        for (size_t j = 0; b->kind == DOC_TABLE && j < b->table.nrows * b->table.ncols; j++)
            crypto_hash_sha256_update(&st, (const unsigned char *)b->table.cells[j],
                                      strlen(b->table.cells[j]) + 1);
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(sha, 65, h, sizeof h);
}

static int on_jsonl_doc(void *ctx, const char *id, struct doc *d)
{
    struct jsonl_ctx *j = ctx;
    char sha[65];
    doc_sha(d, sha);
    if (doc_current(j->c, j->kb_id, id, sha)) { /* (files are checked before parsing) */
        report_add(j->rep, id, KB_UNCHANGED, RC_OK, NULL, 0);
        return 0;
    }
    int rc = ingest_doc(j->c, j->kb_id, id, "jsonl", sha, d, NULL, j->rep);
    if (rc && !j->first_rc)
        j->first_rc = rc;
    if (j->own_batch && ++j->pending >= JSONL_BATCH) {
        j->pending = 0;
        if (kb_batch_end(j->c, 1) || kb_batch_begin(j->c)) {
            j->own_batch = 0;
            return RC_DB;
        }
    }
    /* A store failure stops the batch; a bad document does not. */
    return rc == RC_DB ? rc : 0;
}

int kb_ingest_bytes(struct kb_conn *c, int64_t kb_id, const char *name, const void *data, size_t n,
                    struct kb_ingest_report *rep)
{
    const char *base = path_base(name);
    rep->bytes += n;
    if (!*base || !utf8_valid(base, strlen(base))) {
        report_add(rep, "?", KB_FAILED, RC_INVALID, "文件名无效 / invalid file name", 0);
        return RC_INVALID;
    }
    enum ingest_type t = ingest_detect(base, data, n);
    struct buf err = BUF_INIT;
    int rc = RC_OK;
    if (t == INGEST_JSONL) {
        /* A corpus of many small documents goes in batches, unless the caller
         * already holds a transaction (kb_batch_begin). */
        struct jsonl_ctx j = {c, kb_id, rep, RC_OK, 0, 0};
        j.own_batch = sqlite3_get_autocommit(c->db) && kb_batch_begin(c) == RC_OK;
        rc = ingest_jsonl(data, n, on_jsonl_doc, &j, &err);
        if (j.own_batch && kb_batch_end(c, 1) && !rc)
            rc = RC_DB;
        if (rc == RC_PARSE)
            report_add(rep, base, KB_FAILED, RC_PARSE, buf_str(&err), 0);
        if (!rc)
            rc = j.first_rc;
        goto out;
    }
    if (t == INGEST_UNKNOWN) {
        rc = RC_UNSUPPORTED;
        report_add(rep, base, KB_FAILED, rc, "不支持的文件类型 / unsupported file type", 0);
        goto out;
    }
    char sha[65];
    sha256_hex(data, n, sha);
    if (doc_current(c, kb_id, base, sha)) {
        report_add(rep, base, KB_UNCHANGED, RC_OK, NULL, 0);
        goto out;
    }
    struct doc d;
    doc_init(&d);
    rc = ingest_parse(t, base, data, n, &d, &err);
    if (rc)
        report_add(rep, base, KB_FAILED, rc, buf_str(&err), 0);
    else {
        struct kb_src src = {data, n, kb_type_mime(ingest_type_name(t))};
        rc = ingest_doc(c, kb_id, base, ingest_type_name(t), sha, &d, &src, rep);
    }
    doc_release(&d);
out:
    buf_release(&err);
    return rc;
}

int kb_batch_begin(struct kb_conn *c)
{
    return db_begin(c->db);
}

int kb_batch_end(struct kb_conn *c, int commit)
{
    if (commit)
        return db_commit(c->db);
    db_rollback(c->db);
    return RC_OK;
}

/* ---- snapshots ---- */

void kb_snapshot_put(struct kb_snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    kb_index_free(s->ix);
    free(s->meta);
    buf_release(&s->arena);
    for (size_t g = 0; g < s->nsyn; g++) {
        for (char **t = s->syn[g]; *t; t++)
            free(*t);
        free(s->syn[g]);
    }
    free(s->syn);
    free(s->vecs);
    free(s->vec_model);
    free(s);
}

/* The KB's generation, and who's access to it, in one query: the one that
 * picks the index a search ranks on also decides whether it may. */
static int kb_generation(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                         int64_t *gen)
{
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT k.generation, " ACL_KB_LEVEL_SQL " FROM kbs k WHERE k.id = ?3");
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, kb_id);
    int s = sqlite3_step(st);
    int rc = s == SQLITE_ROW ? RC_OK : s == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
    if (s == SQLITE_ROW) {
        *gen = sqlite3_column_int64(st, 0);
        if (sqlite3_column_int(st, 1) < ACL_READ)
            rc = RC_NOT_FOUND;
    }
    sqlite3_reset(st);
    return rc;
}

/* The published snapshot of a KB at generation gen (any generation when gen
 * is -1), referenced; NULL when there is none. */
static struct kb_snapshot *find_snap(struct kb_engine *e, int64_t kb_id, int64_t gen)
{
    struct kb_snapshot *s = NULL;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->nsnaps; i++)
        if (e->snaps[i]->kb_id == kb_id && (gen < 0 || e->snaps[i]->generation == gen)) {
            s = e->snaps[i];
            atomic_fetch_add(&s->refs, 1);
            break;
        }
    pthread_mutex_unlock(&e->mu);
    return s;
}

static void publish_snap(struct kb_engine *e, struct kb_snapshot *s)
{
    pthread_mutex_lock(&e->mu);
    size_t i;
    for (i = 0; i < e->nsnaps; i++)
        if (e->snaps[i]->kb_id == s->kb_id)
            break;
    if (i == e->nsnaps) {
        e->snaps = xgrow(e->snaps, &e->capsnaps, e->nsnaps + 1, sizeof *e->snaps);
        e->nsnaps++;
    } else {
        kb_snapshot_put(e->snaps[i]);
    }
    atomic_fetch_add(&s->refs, 1);
    e->snaps[i] = s;
    pthread_mutex_unlock(&e->mu);
}

/* BM25F parameters. ATRIUM_BM25F="k1,b_title,b_heading,b_body,w_title,w_heading,w_body,
 * cue_boost,coverage_power" overrides the defaults; it exists
 * for tuning runs (docs/BENCHMARKS.md), not for operators. */
static struct idx_params bm25_params;
static pthread_once_t bm25_once = PTHREAD_ONCE_INIT;

static void bm25_load(void)
{
    bm25_params = idx_default_params;
    const char *v = getenv("ATRIUM_BM25F");
    float x[9];
    if (v && sscanf(v, "%f,%f,%f,%f,%f,%f,%f,%f,%f", &x[0], &x[1], &x[2], &x[3], &x[4], &x[5],
                    &x[6], &x[7], &x[8]) == 9)
        bm25_params = (struct idx_params){x[0], {x[1], x[2], x[3]}, {x[4], x[5], x[6]}, x[7], x[8]};
}

/* Appends a NUL-terminated copy of s to the arena; returns its offset. */
static uint32_t arena_add(struct buf *a, const char *s)
{
    uint32_t off = (uint32_t)a->len;
    if (buf_add(a, s ? s : "", (s ? strlen(s) : 0) + 1))
        abort(); /* a KB over 4 GB of text: not supported by this index */
    return off;
}

static int build_snap(struct kb_conn *c, int64_t kb_id, int64_t gen, struct kb_snapshot **out)
{
    double t0 = now_ms();
    struct kb_snapshot *s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->kb_id = kb_id;
    s->generation = gen;
    struct idx_builder *b = idx_builder_new(KB_INDEX_TOKENS);
    /* Read in one snapshot of the store; inside a caller's batch the batch's
     * own transaction already is one. */
    int own_tx = sqlite3_get_autocommit(c->db);
    int rc = own_tx ? db_exec(c->db, "BEGIN") : RC_OK;
    sqlite3_stmt *st =
        rc ? NULL
           : db_stmt(c->cache, "SELECT c.id, c.title, c.heading, c.text, v.dim, v.vec,"
                               " v.model, c.doc_id, c.label, d.name FROM chunks c"
                               " JOIN documents d ON d.id = c.doc_id"
                               " LEFT JOIN chunk_vectors v ON v.chunk_id = c.id"
                               " WHERE c.kb_id = ?1 ORDER BY c.doc_id, c.id");
    size_t capvec = 0, nvec = 0, ndocs = 0, capmeta = 0;
    int64_t prev_doc = -1;
    uint32_t doc_name = 0, title = 0;
    buf_init(&s->arena, (size_t)UINT32_MAX);
    if (st) {
        sqlite3_bind_int64(st, 1, kb_id);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            const char *f[IDX_NFIELDS] = {(const char *)sqlite3_column_text(st, 1),
                                          (const char *)sqlite3_column_text(st, 2),
                                          (const char *)sqlite3_column_text(st, 3)};
            const char *body = f[IDX_BODY] ? f[IDX_BODY] : "";
            int64_t doc_id = sqlite3_column_int64(st, 7);
            idx_builder_add(b, sqlite3_column_int64(st, 0), cue_chunk(body, strlen(body)), f);
            s->meta = xgrow(s->meta, &capmeta, ndocs + 1, sizeof *s->meta);
            struct kb_chunk_meta *m = &s->meta[ndocs];
            if (doc_id != prev_doc) { /* document strings are stored once */
                doc_name = arena_add(&s->arena, (const char *)sqlite3_column_text(st, 9));
                title = arena_add(&s->arena, f[IDX_TITLE]);
                prev_doc = doc_id;
            }
            *m = (struct kb_chunk_meta){
                doc_id,
                doc_name,
                title,
                arena_add(&s->arena, f[IDX_HEADING]),
                arena_add(&s->arena, (const char *)sqlite3_column_text(st, 8)),
                arena_add(&s->arena, body)};
            size_t dim = (size_t)sqlite3_column_int64(st, 4);
            const void *blob = sqlite3_column_blob(st, 5);
            int bytes = sqlite3_column_bytes(st, 5);
            if (blob && dim > 0 && (size_t)bytes == dim * sizeof(float) &&
                (s->dim == 0 || s->dim == dim)) {
                if (!s->dim) {
                    s->dim = dim;
                    s->vec_model = db_col_str(st, 6);
                }
                s->vecs = xgrow(s->vecs, &capvec, (ndocs + 1) * dim, sizeof(float));
                /* docs without a vector before this one stay zero */
                if (nvec < ndocs)
                    memset(s->vecs + nvec * dim, 0, (ndocs - nvec) * dim * sizeof(float));
                memcpy(s->vecs + ndocs * dim, blob, (size_t)bytes);
                nvec = ndocs + 1;
            }
            ndocs++;
        }
        if (r != SQLITE_DONE)
            rc = RC_DB;
        sqlite3_reset(st);
    } else {
        rc = RC_DB;
    }
    if (!rc)
        rc = kb_synonyms_load(c, s);
    if (own_tx)
        db_exec(c->db, "COMMIT");
    pthread_once(&bm25_once, bm25_load);
    s->ix = idx_builder_finish(b, &bm25_params);
    if (s->vecs && nvec < ndocs) {
        s->vecs = xgrow(s->vecs, &capvec, ndocs * s->dim, sizeof(float));
        memset(s->vecs + nvec * s->dim, 0, (ndocs - nvec) * s->dim * sizeof(float));
    }
    if (rc) {
        kb_snapshot_put(s);
        return rc;
    }
    log_info("kb %lld index built: %zu chunks, %zu KB, %.1f ms", (long long)kb_id,
             kb_index_docs(s->ix), kb_index_bytes(s->ix) / 1024, now_ms() - t0);
    *out = s;
    return RC_OK;
}

static struct kb_snapshot *snapshot_at(struct kb_conn *c, int64_t kb_id, int64_t gen);

struct kb_snapshot *kb_snapshot_get(struct kb_conn *c, int64_t kb_id)
{
    struct kb_snapshot *s = NULL;
    return kb_snapshot_get_for(c, NULL, kb_id, &s) == RC_OK ? s : NULL;
}

int kb_snapshot_get_for(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                        struct kb_snapshot **out)
{
    *out = NULL;
    int64_t gen = 0;
    int rc = kb_generation(c, who, kb_id, &gen);
    if (rc)
        return rc;
    *out = snapshot_at(c, kb_id, gen);
    return *out ? RC_OK : RC_DB;
}

/* The snapshot of the KB at generation gen, built when needed. */
static struct kb_snapshot *snapshot_at(struct kb_conn *c, int64_t kb_id, int64_t gen)
{
    /* Inside an open transaction (a caller's batch) the store shows writes
     * that may yet be rolled back, and the generation number with them: a
     * snapshot built here is used once and never published. */
    if (!sqlite3_get_autocommit(c->db)) {
        struct kb_snapshot *own = NULL;
        return build_snap(c, kb_id, gen, &own) == RC_OK ? own : NULL;
    }
    struct kb_snapshot *s = find_snap(c->e, kb_id, gen);
    if (s)
        return s;
    /* While another thread rebuilds, searches keep using the previous
     * snapshot of this KB (if any) instead of waiting. */
    if (pthread_mutex_trylock(&c->e->build_mu) != 0) {
        s = find_snap(c->e, kb_id, -1);
        if (s)
            return s;
        pthread_mutex_lock(&c->e->build_mu);
    }
    s = find_snap(c->e, kb_id, gen); /* another thread may have built it meanwhile */
    if (!s && build_snap(c, kb_id, gen, &s) == RC_OK)
        publish_snap(c->e, s);
    pthread_mutex_unlock(&c->e->build_mu);
    return s;
}

size_t kb_warm(struct kb_conn *c)
{
    struct kb_info *kbs = NULL;
    size_t n = 0;
    if (kb_list(c, &kbs, &n) != RC_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        kb_snapshot_put(kb_snapshot_get(c, kbs[i].id));
    kb_infos_free(kbs, n);
    return n;
}

int kb_embed_endpoint(const struct kb_engine *e, struct llm_endpoint *ep)
{
    const struct config *cfg = e->cfg;
    if (!cfg->embed_url || !cfg->embed_url[0])
        return 0;
    *ep = (struct llm_endpoint){cfg->embed_url,
                                cfg->embed_model,
                                cfg->embed_api_key,
                                cfg->connect_timeout_ms,
                                cfg->first_token_timeout_ms,
                                cfg->total_timeout_ms};
    return 1;
}

char *kb_cite_string(const char *title, const char *label, const char *heading)
{
    struct buf b = BUF_INIT;
    if (title[0] && strncmp(title, "《", 3) != 0)
        buf_addf(&b, "《%s》", title);
    else
        buf_adds(&b, title);
    /* An article label (第X条) identifies itself; a clause label such as （一）
     * does not, so the whole heading path is shown instead. */
    size_t n = label ? strlen(label) : 0;
    int article = n > 6 && strncmp(label, "第", 3) == 0 && strstr(label, "条") != NULL;
    if (article)
        buf_adds(&b, label);
    else if (heading && heading[0])
        buf_addf(&b, " %s", heading);
    return buf_detach(&b, NULL);
}

int kb_leading_chunks(struct kb_conn *c, const struct auth_principal *who, int64_t kb_id,
                      size_t max_chars, struct kb_hits *out)
{
    out->a = NULL;
    out->n = 0;
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT ch.id, ch.doc_id, d.name, d.title, ch.heading, ch.label, ch.text"
                          " FROM chunks ch JOIN documents d ON d.id = ch.doc_id"
                          " JOIN kbs k ON k.id = ch.kb_id"
                          " WHERE ch.kb_id = ?3 AND " ACL_KB_LEVEL_SQL " >= 1"
                          " ORDER BY d.id, ch.ord LIMIT 200");
    if (!st)
        return RC_DB;
    acl_bind(st, who);
    sqlite3_bind_int64(st, 3, kb_id);
    size_t cap = 0, chars = 0;
    int s;
    while (chars < max_chars && (s = sqlite3_step(st)) == SQLITE_ROW) {
        out->a = xgrow(out->a, &cap, out->n + 1, sizeof *out->a);
        struct kb_hit *x = &out->a[out->n++];
        memset(x, 0, sizeof *x);
        x->kb_id = kb_id;
        x->chunk_id = sqlite3_column_int64(st, 0);
        x->doc_id = sqlite3_column_int64(st, 1);
        x->doc_name = db_col_str(st, 2);
        x->doc_title = db_col_str(st, 3);
        x->heading = db_col_str(st, 4);
        x->label = db_col_str(st, 5);
        x->text = db_col_str(st, 6);
        x->score = x->coverage = 1.0;
        chars += utf8_count(x->text, strlen(x->text));
    }
    sqlite3_reset(st);
    return RC_OK;
}
