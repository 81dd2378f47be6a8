/* The built web portal served from one directory: safe resolution under
 * the root, types, validators, cache rules and security headers (static.h),
 * and the libmicrohttpd answer for server.c (http_static_send). */
#define _GNU_SOURCE
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/rc.h"
#include "http/http_int.h"

struct http_static {
    char *root; /* real path, no trailing slash */
};

const char http_static_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

static const char cache_assets[] = "public, max-age=31536000, immutable";
static const char cache_revalidate[] = "no-cache";

int http_static_open(const char *dir, struct http_static **out)
{
    int rc = RC_NOT_FOUND;
    int named = dir && *dir;
    const char *d = named ? dir : "web/dist";
    char *real = NULL;
    struct stat stb;
    *out = NULL;
    real = realpath(d, NULL);
    if (!real || stat(real, &stb) != 0 || !S_ISDIR(stb.st_mode)) {
        rc = named ? RC_NOT_FOUND : RC_OK;
        goto out;
    }
    struct http_static *st = xcalloc(1, sizeof *st);
    size_t n = strlen(real);
    while (n > 1 && real[n - 1] == '/')
        real[--n] = '\0';
    st->root = real;
    real = NULL;
    *out = st;
    rc = RC_OK;
out:
    free(real);
    return rc;
}

void http_static_close(struct http_static *st)
{
    if (!st)
        return;
    free(st->root);
    free(st);
}

const char *http_static_root(const struct http_static *st)
{
    return st ? st->root : NULL;
}

/* Whether path is seg or starts with seg followed by '/'. */
static int under(const char *path, const char *seg)
{
    size_t n = strlen(seg);
    return strncmp(path, seg, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int http_static_handles(const char *path)
{
    if (!path)
        return 0;
    while (*path == '/')
        path++;
    return !(under(path, "api") || under(path, "v1") || under(path, "healthz"));
}

const char *http_static_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json; charset=utf-8"},
        {"map", "application/json; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"txt", "text/plain; charset=utf-8"},
        {"webmanifest", "application/manifest+json"},
    };
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* 1 when every segment of path is a plain name: no control byte, no
 * backslash, no "." / ".." and no hidden (".x") segment. */
static int path_ok(const char *path)
{
    const char *seg = path;
    for (const char *p = path;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '/' || c == '\0') {
            if (p > seg && seg[0] == '.')
                return 0; /* ".", "..", ".git", ".env" */
            if (c == '\0')
                return 1;
            seg = p + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7F || c == '\\')
            return 0;
    }
}

/* Strong validator from size and modification time (nanoseconds). */
static void make_etag(const struct stat *stb, char *out, size_t cap)
{
    unsigned long long ns = (unsigned long long)stb->st_mtim.tv_sec * 1000000000ULL +
                            (unsigned long long)stb->st_mtim.tv_nsec;
    snprintf(out, cap, "\"%llx-%llx\"", (unsigned long long)stb->st_size, ns);
}

static void http_date(time_t t, char *out, size_t cap)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        snprintf(out, cap, "%s", "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* Whether an If-None-Match list names etag ("*" matches; W/ is ignored). */
static int etag_matches(const char *inm, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

static int parse_http_date(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end)
        return -1;
    *out = timegm(&tm);
    return *out == (time_t)-1 ? -1 : 0;
}

int http_static_resolve(const struct http_static *st, const char *path, const char *if_none_match,
                        const char *if_modified_since, struct http_static_file *f)
{
    int rc = RC_OK;
    struct buf want = BUF_INIT;
    char *real = NULL;
    struct stat stb;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->status = 404;
    if (!st || !path || path[0] != '/' || !path_ok(path))
        goto out;
    const char *rel = path;
    while (*rel == '/')
        rel++;
    size_t rn = strlen(rel);
    if (buf_addf(&want, "%s/%s%s", st->root, rel,
                 rn == 0 || rel[rn - 1] == '/' ? "index.html" : "") != RC_OK)
        goto out;
    real = realpath(buf_str(&want), NULL);
    if (!real)
        goto out; /* missing (or a dangling link) */
    size_t n = strlen(st->root);
    if (strncmp(real, st->root, n) != 0 || real[n] != '/')
        goto out; /* a symlink out of the root */
    if (stat(real, &stb) != 0 || !S_ISREG(stb.st_mode))
        goto out;
    make_etag(&stb, f->etag, sizeof f->etag);
    http_date(stb.st_mtim.tv_sec, f->last_modified, sizeof f->last_modified);
    f->content_type = http_static_type(real);
    /* Vite names what is under assets/ by its content hash: it never
     * changes, so it may be kept; everything else is checked each time. */
    f->cache_control = strncmp(real + n, "/assets/", 8) == 0 ? cache_assets : cache_revalidate;
    if (if_none_match && *if_none_match) {
        if (etag_matches(if_none_match, f->etag)) {
            f->status = 304;
            goto out;
        }
    } else if (if_modified_since && *if_modified_since) {
        time_t since;
        if (parse_http_date(if_modified_since, &since) == 0 && stb.st_mtim.tv_sec <= since) {
            f->status = 304;
            goto out;
        }
    }
    f->fd = open(real, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        log_warn("http: cannot open a web file: %s", strerror(errno));
        rc = RC_IO;
        goto out;
    }
    f->size = (uint64_t)stb.st_size;
    f->status = 200;
out:
    free(real);
    buf_release(&want);
    return rc;
}

void http_static_file_release(struct http_static_file *f)
{
    if (f && f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

static int add_headers(struct MHD_Response *resp, const struct http_static_file *f)
{
    int ok = MHD_add_response_header(resp, "Content-Security-Policy", http_static_csp) == MHD_YES &&
             MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES &&
             MHD_add_response_header(resp, "X-Frame-Options", "DENY") == MHD_YES &&
             MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") == MHD_YES;
    if (ok && f->etag[0])
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f->etag) == MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, f->last_modified) ==
                 MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, f->cache_control) ==
                 MHD_YES;
    if (ok && f->status == 200)
        ok =
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->content_type) == MHD_YES;
    return ok ? 0 : -1;
}

enum MHD_Result http_static_send(struct http_req *r, const char *path)
{
    enum MHD_Result res = MHD_NO;
    struct http_static_file f;
    const char *inm =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    const char *ims =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
    int rc = http_static_resolve(r->srv->web, path, inm, ims, &f);
    if (rc != RC_OK) {
        res = http_send_rc(r, rc, "无法读取页面文件 / cannot read the page file");
        goto out;
    }
    if (f.status == 404) {
        res = http_send_error(r, 404, "not_found", "页面不存在 / no such page");
        goto out;
    }
    struct MHD_Response *resp;
    if (f.status == 304)
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    else {
        resp = MHD_create_response_from_fd64(f.size, f.fd);
        if (resp)
            f.fd = -1; /* the response closes it */
    }
    if (!resp) {
        log_error("http: cannot create a response");
        goto out;
    }
    if (add_headers(resp, &f) != 0)
        log_warn("http: cannot add a response header");
    res = http_respond(r, f.status, resp, f.status == 200 ? (size_t)f.size : 0);
out:
    http_static_file_release(&f);
    return res;
}
