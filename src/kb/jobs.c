/* Background ingest jobs: an upload waits on disk as a queued row; a worker
 * claims it, ingests it, records the report and removes the file. Jobs live
 * in the store, so a restart picks up what was queued. */
#include "kb/kbint.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

int kb_job_create(struct kb_conn *c, int64_t kb_id, const char *filename, const char *path,
                  int64_t *job_id)
{
    sqlite3_stmt *st =
        db_stmt(c->cache, "INSERT INTO jobs(kb_id, filename, path, status,"
                          " created_at, updated_at) VALUES (?1, ?2, ?3, 'queued', ?4, ?4)");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_text(st, 2, filename, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_unix());
    if (sqlite3_step(st) != SQLITE_DONE)
        return RC_DB;
    *job_id = sqlite3_last_insert_rowid(c->db);
    return RC_OK;
}

static void read_job(sqlite3_stmt *st, struct kb_job *j)
{
    j->id = sqlite3_column_int64(st, 0);
    j->kb_id = sqlite3_column_int64(st, 1);
    j->filename = db_col_str(st, 2);
    j->path = db_col_str(st, 3);
    j->status = db_col_str(st, 4);
    j->result = sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : db_col_str(st, 5);
    j->created_at = sqlite3_column_int64(st, 6);
    j->updated_at = sqlite3_column_int64(st, 7);
}

int kb_job_claim(struct kb_conn *c, struct kb_job *out)
{
    memset(out, 0, sizeof *out);
    if (db_begin(c->db))
        return RC_DB;
    sqlite3_stmt *st = db_stmt(c->cache, "SELECT id, kb_id, filename, path, status, result,"
                                         " created_at, updated_at FROM jobs WHERE status = 'queued'"
                                         " ORDER BY id LIMIT 1");
    if (!st)
        goto fail;
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        sqlite3_reset(st);
        db_rollback(c->db);
        return RC_NOT_FOUND;
    }
    if (r != SQLITE_ROW)
        goto fail;
    read_job(st, out);
    sqlite3_reset(st);
    st = db_stmt(c->cache, "UPDATE jobs SET status = 'running', updated_at = ?2 WHERE id = ?1");
    if (!st)
        goto fail;
    sqlite3_bind_int64(st, 1, out->id);
    sqlite3_bind_int64(st, 2, now_unix());
    if (sqlite3_step(st) != SQLITE_DONE || db_commit(c->db))
        goto fail;
    free(out->status);
    out->status = xstrdup("running");
    return RC_OK;
fail:
    db_rollback(c->db);
    kb_job_release(out);
    return RC_DB;
}

int kb_job_finish(struct kb_conn *c, int64_t job_id, int ok, const char *result_json)
{
    sqlite3_stmt *st = db_stmt(
        c->cache, "UPDATE jobs SET status = ?2, result = ?3, updated_at = ?4 WHERE id = ?1");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_text(st, 2, ok ? "done" : "failed", -1, SQLITE_STATIC);
    if (result_json)
        sqlite3_bind_text(st, 3, result_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_unix());
    return sqlite3_step(st) == SQLITE_DONE ? RC_OK : RC_DB;
}

int kb_job_get(struct kb_conn *c, int64_t kb_id, int64_t job_id, struct kb_job *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st =
        db_stmt(c->cache, "SELECT id, kb_id, filename, path, status, result,"
                          " created_at, updated_at FROM jobs WHERE id = ?1 AND kb_id = ?2");
    if (!st)
        return RC_DB;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_int64(st, 2, kb_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_job(st, out);
    sqlite3_reset(st);
    return r == SQLITE_ROW ? RC_OK : r == SQLITE_DONE ? RC_NOT_FOUND : RC_DB;
}

int kb_job_run(struct kb_conn *c, const struct kb_job *job)
{
    struct buf data = BUF_INIT;
    struct kb_ingest_report rep = {0};
    int rc = read_file(job->path, c->e->cfg->upload_max, &data);
    if (rc) {
        struct buf msg = BUF_INIT;
        buf_addf(&msg,
                 "{\"error\":{\"code\":\"%s\",\"message\":\"上传文件不可读 / upload unreadable\"}}",
                 rc_code(rc));
        kb_job_finish(c, job->id, 0, buf_str(&msg));
        buf_release(&msg);
        goto out;
    }
    rc = kb_ingest_bytes(c, job->kb_id, job->filename, data.p ? data.p : "", data.len, &rep);
    json_t *j = kb_ingest_report_json(&rep);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (kb_job_finish(c, job->id, rc == RC_OK, s))
        log_error("could not record job %lld", (long long)job->id);
    free(s);
    log_info("job %lld finished: %s", (long long)job->id, rc ? rc_code(rc) : "ok");
    /* Rebuild the KB's search snapshot here, on the worker, so that the next
     * search does not pay for it (searches meanwhile use the old one). */
    struct kb_snapshot *snap = kb_snapshot_get(c, job->kb_id);
    kb_snapshot_put(snap);
out:
    if (unlink(job->path) != 0)
        log_warn("could not remove upload of job %lld", (long long)job->id);
    kb_ingest_report_release(&rep);
    buf_release(&data);
    return rc;
}

void kb_job_release(struct kb_job *j)
{
    free(j->filename);
    free(j->path);
    free(j->status);
    free(j->result);
    memset(j, 0, sizeof *j);
}

json_t *kb_job_json(const struct kb_job *j)
{
    json_t *o =
        json_pack("{sI sI ss ss sI sI}", "id", (json_int_t)j->id, "kb_id", (json_int_t)j->kb_id,
                  "filename", j->filename, "status", j->status, "created_at",
                  (json_int_t)j->created_at, "updated_at", (json_int_t)j->updated_at);
    if (j->result) {
        json_t *r = json_loads(j->result, 0, NULL);
        json_object_set_new(o, "result", r ? r : json_string(j->result));
    }
    return o;
}

size_t kb_jobs_sweep(struct kb_conn *c, const char *dir, int64_t min_age_s)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    size_t removed = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        int w = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (w < 0 || (size_t)w >= sizeof path || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            now - st.st_mtime < min_age_s)
            continue;
        sqlite3_stmt *q = db_stmt(c->cache, "SELECT 1 FROM jobs WHERE path = ?1"
                                            " AND status IN ('queued', 'running')");
        if (!q)
            break;
        sqlite3_bind_text(q, 1, path, -1, SQLITE_TRANSIENT);
        int r = sqlite3_step(q);
        sqlite3_reset(q);
        if (r == SQLITE_DONE && unlink(path) == 0)
            removed++;
    }
    closedir(dp);
    return removed;
}
