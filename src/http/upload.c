/* Uploads: POST /api/v1/kbs/{kb}/documents with multipart/form-data ("file"
 * parts) or a raw application/octet-stream body plus ?filename=. Bytes are
 * streamed to files under {data_dir}/uploads/ (never held in memory), capped
 * by upload_max; each file becomes a background ingest job. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "http/http_int.h"
#include "ingest/ingest.h"

#define UPLOAD_FILES_MAX 100
#define PP_BUFFER (64 * 1024)

static int starts_with_ci(const char *s, const char *prefix)
{
    return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Closes and removes every file not yet owned by a job. */
static void remove_files(struct http_req *r)
{
    for (size_t i = 0; i < r->nfiles; i++) {
        struct http_upload_file *f = &r->files[i];
        if (f->fd >= 0 && close(f->fd) != 0)
            log_warn("http: closing an upload failed: %s", strerror(errno));
        f->fd = -1;
        if (f->path && unlink(f->path) != 0 && errno != ENOENT)
            log_warn("http: removing an upload failed: %s", strerror(errno));
        free(f->path);
        f->path = NULL;
    }
}

static void fail(struct http_req *r, int rc, const char *msg)
{
    remove_files(r);
    http_req_fail_rc(r, rc, msg);
}

static struct http_upload_file *file_open(struct http_req *r, char *name)
{
    if (r->nfiles == UPLOAD_FILES_MAX) {
        free(name);
        fail(r, RC_INVALID, "一次最多上传 100 个文件 / at most 100 files per upload");
        return NULL;
    }
    char hex[33], path[4096];
    random_hex(hex, 16);
    int n = snprintf(path, sizeof path, "%s/%s.upload", r->srv->upload_dir, hex);
    int fd = n > 0 && (size_t)n < sizeof path
                 ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                 : -1;
    if (fd < 0) {
        log_error("http: cannot create an upload file: %s", strerror(errno));
        free(name);
        fail(r, RC_IO, "无法保存上传文件 / cannot store the upload");
        return NULL;
    }
    r->files = xgrow(r->files, &r->capfiles, r->nfiles + 1, sizeof *r->files);
    struct http_upload_file *f = &r->files[r->nfiles++];
    memset(f, 0, sizeof *f);
    f->fd = fd;
    f->path = xstrdup(path);
    f->name = name;
    return f;
}

/* True for content that ingest may still recognise from more than its
 * first bytes (zip containers, PDF): those get a job, never a quick 415. */
static int container_magic(const struct http_upload_file *f)
{
    return (f->headlen >= 4 && memcmp(f->head, "PK\x03\x04", 4) == 0) ||
           (f->headlen >= 5 && memcmp(f->head, "%PDF-", 5) == 0);
}

/* RC_UNSUPPORTED (recorded, files removed) when the first bytes are
 * obviously not a document; RC_OK otherwise. */
static int check_type(struct http_req *r, struct http_upload_file *f)
{
    f->checked = 1;
    /* The head may end inside a character: do not let that look binary. */
    size_t n = f->headlen;
    if (f->headlen == sizeof f->head)
        n = http_utf8_whole_prefix(f->head, n);
    if (ingest_detect(f->name, f->head, n) != INGEST_UNKNOWN || container_magic(f))
        return RC_OK;
    char msg[512];
    snprintf(msg, sizeof msg, "不支持的文件类型 / unsupported file type: %s", f->name);
    fail(r, RC_UNSUPPORTED, msg);
    return RC_UNSUPPORTED;
}

static void file_write(struct http_req *r, struct http_upload_file *f, const char *data, size_t n)
{
    if (n > r->srv->cfg->upload_max - r->upload_total) {
        fail(r, RC_TOO_BIG, "上传文件过大 / upload too large");
        return;
    }
    r->upload_total += n;
    f->size += n;
    if (f->headlen < sizeof f->head) {
        size_t take = sizeof f->head - f->headlen < n ? sizeof f->head - f->headlen : n;
        memcpy(f->head + f->headlen, data, take);
        f->headlen += take;
        /* Junk is refused as soon as its head is known, before it fills
         * the disk (the rest of the body is then only drained). */
        if (f->headlen == sizeof f->head && check_type(r, f) != RC_OK)
            return;
    }
    while (n) {
        ssize_t w = write(f->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_error("http: writing an upload failed: %s", strerror(errno));
            fail(r, RC_IO, "无法保存上传文件 / cannot store the upload");
            return;
        }
        data += w;
        n -= (size_t)w;
    }
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
    struct http_req *r = cls;
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    if (r->err_status)
        return MHD_NO;
    if (!key || strcmp(key, "file") != 0)
        return MHD_YES; /* other fields are ignored */
    struct http_upload_file *f = r->nfiles ? &r->files[r->nfiles - 1] : NULL;
    if (off == 0) {
        /* MHD calls once at the start of every part, with size 0 when no
         * data is there yet; the part's first bytes then come at offset 0
         * again. An empty part gets only that one call, so offsets alone
         * cannot tell "same part" from "next part": the name decides. (An
         * empty part followed by one with the same name merge; harmless.) */
        char *name = http_clean_filename(filename);
        if (!name)
            name = xstrdup("upload");
        if (f && f->fd >= 0 && f->size == 0 && strcmp(f->name, name) == 0) {
            free(name);
        } else {
            f = file_open(r, name);
            if (!f)
                return MHD_NO;
        }
    }
    if (!f || f->fd < 0)
        return MHD_NO;
    if (size)
        file_write(r, f, data, size);
    return r->err_status ? MHD_NO : MHD_YES;
}

void http_upload_begin(struct http_req *r)
{
    const char *ct =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (starts_with_ci(ct, "multipart/form-data")) {
        r->body_kind = HB_MULTIPART;
        r->pp = MHD_create_post_processor(r->conn, PP_BUFFER, post_iter, r);
        if (!r->pp)
            http_req_fail_rc(r, RC_INVALID,
                             "multipart 请求无效 / malformed multipart request (boundary?)");
        return;
    }
    if (starts_with_ci(ct, "application/octet-stream")) {
        r->body_kind = HB_RAW;
        const char *q = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "filename");
        char *name = http_clean_filename(q);
        if (!name) {
            http_req_fail_rc(r, RC_INVALID,
                             "缺少 filename 参数 / the filename query parameter is required");
            return;
        }
        (void)file_open(r, name);
        return;
    }
    r->body_kind = HB_RAW; /* nothing will be written: the error is recorded */
    http_req_fail_rc(r, RC_UNSUPPORTED,
                     "上传须为 multipart/form-data 或 application/octet-stream / "
                     "uploads must be multipart/form-data or application/octet-stream");
}

void http_upload_feed(struct http_req *r, const char *data, size_t n)
{
    if (r->err_status)
        return;
    if (r->body_kind == HB_MULTIPART) {
        if (r->pp && MHD_post_process(r->pp, data, n) != MHD_YES && !r->err_status)
            fail(r, RC_INVALID, "multipart 请求无效 / malformed multipart request");
        return;
    }
    if (r->nfiles == 1)
        file_write(r, &r->files[0], data, n);
}

enum MHD_Result http_upload_finish(struct http_req *r)
{
    struct buf msg = BUF_INIT;
    json_t *jobs = NULL;
    enum MHD_Result res;
    if (r->pp) {
        struct MHD_PostProcessor *pp = r->pp;
        r->pp = NULL;
        if (MHD_destroy_post_processor(pp) != MHD_YES && !r->err_status)
            fail(r, RC_INVALID, "multipart 请求无效 / malformed multipart request");
    }
    for (size_t i = 0; i < r->nfiles; i++) {
        struct http_upload_file *f = &r->files[i];
        if (f->fd >= 0 && close(f->fd) != 0 && !r->err_status)
            fail(r, RC_IO, "无法保存上传文件 / cannot store the upload");
        f->fd = -1;
    }
    if (!r->err_status && r->nfiles == 0)
        fail(r, RC_INVALID, "缺少 file 字段 / no \"file\" part in the upload");
    for (size_t i = 0; i < r->nfiles && !r->err_status; i++) {
        struct http_upload_file *f = &r->files[i];
        if (f->size == 0) {
            (void)buf_addf(&msg, "文件为空 / empty file: %s", f->name);
            fail(r, RC_INVALID, buf_str(&msg));
        } else if (!f->checked) {
            (void)check_type(r, f);
        }
    }
    if (r->err_status) {
        res = http_send_error(r, r->err_status, r->err_code, r->err_msg);
        goto out;
    }
    struct kb_conn *c = http_conn(r->srv);
    if (!c) {
        fail(r, RC_DB, "存储不可用 / store unavailable");
        res = http_send_error(r, r->err_status, r->err_code, r->err_msg);
        goto out;
    }
    jobs = json_array();
    for (size_t i = 0; i < r->nfiles; i++) {
        struct http_upload_file *f = &r->files[i];
        int64_t id = 0;
        int rc = kb_job_create(c, r->kb.id, f->name, f->path, &id);
        if (rc != RC_OK) {
            log_error("http: creating an ingest job failed: %s", rc_code(rc));
            http_workers_kick(r->srv); /* the jobs made so far */
            fail(r, rc, "无法创建导入任务 / cannot create the ingest job");
            res = http_send_error(r, r->err_status, r->err_code, r->err_msg);
            goto out;
        }
        free(f->path); /* the job owns the file now */
        f->path = NULL;
        char target[64];
        snprintf(target, sizeof target, "kb:%lld/job:%lld", (long long)r->kb.id, (long long)id);
        json_t *detail = json_pack("{s:s,s:I}", "filename", f->name, "bytes", (json_int_t)f->size);
        http_audit_later(r, "doc.upload", target, detail);
        json_decref(detail);
        if (json_array_append_new(jobs, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "filename",
                                                  f->name, "status", "queued")) != 0)
            log_warn("http: job %lld left out of the answer", (long long)id);
    }
    http_workers_kick(r->srv);
    res = http_send_json(r, 202, json_pack("{s:O}", "jobs", jobs));
out:
    json_decref(jobs);
    buf_release(&msg);
    return res;
}

void http_upload_cleanup(struct http_req *r)
{
    if (r->pp) {
        struct MHD_PostProcessor *pp = r->pp;
        r->pp = NULL;
        if (!r->err_status)
            http_req_fail_rc(r, RC_INVALID, "上传已中止 / upload aborted");
        (void)MHD_destroy_post_processor(pp); /* the iterator refuses: err_status is set */
    }
    remove_files(r);
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i].name);
    free(r->files);
    r->files = NULL;
    r->nfiles = r->capfiles = 0;
}
