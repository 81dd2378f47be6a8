/* The built web portal (web/dist) served by `atrium serve`: every GET/HEAD
 * that is not an API path. Paths are resolved safely under one root, files
 * carry a content type, validators (ETag, Last-Modified) and the security
 * headers (a strict CSP, nosniff); hashed /assets/ are cached for a year. */
#ifndef ATRIUM_HTTP_STATIC_H
#define ATRIUM_HTTP_STATIC_H

#include <stdint.h>

/* The resolved root directory (opaque). */
struct http_static;

/* The Content-Security-Policy of every page: same origin only, no inline
 * script, no plugins, no framing. */
extern const char http_static_csp[];

/* Opens the root. dir NULL or "": "web/dist" (relative to the working
 * directory) when it exists, else *out = NULL and RC_OK (nothing to serve:
 * non-API paths stay 404). A named dir that is missing or not a directory is
 * RC_NOT_FOUND with *out = NULL. The caller owns *out
 * (http_static_close). */
int http_static_open(const char *dir, struct http_static **out);
void http_static_close(struct http_static *st);
/* The root's real path (owned by st). */
const char *http_static_root(const struct http_static *st);

/* Whether a (percent-decoded) request path belongs to the portal rather
 * than the API: anything but /api, /api/..., /v1/..., /healthz. */
int http_static_handles(const char *path);

/* What to answer for one request. */
struct http_static_file {
    int status;                /* 200, 304 or 404 */
    int fd;                    /* 200: the open file (the caller sends or closes it), else -1 */
    uint64_t size;             /* 200: bytes */
    char etag[64];             /* "\"<size hex>-<mtime ns hex>\"" (200, 304) */
    char last_modified[64];    /* RFC 7231 date (200, 304) */
    const char *content_type;  /* static string (200) */
    const char *cache_control; /* static string (200, 304) */
};

/* Resolves a percent-decoded path ("/", "/index.html", "/assets/x.js"):
 * "/" (and any path ending in "/") is index.html; a path with a NUL or
 * control byte, a backslash, a "." or ".." segment, or a hidden segment
 * (".x") is 404, and so is anything whose real path leaves the root
 * (symlinks included), a directory, or a missing file. if_none_match (may
 * be NULL) matching the ETag, or if_modified_since (may be NULL, used only
 * without If-None-Match) not older than the file, gives 304. Returns RC_OK
 * with f filled (f->fd >= 0 only for 200), RC_IO when an existing file
 * cannot be opened. */
int http_static_resolve(const struct http_static *st, const char *path, const char *if_none_match,
                        const char *if_modified_since, struct http_static_file *f);
/* Closes f->fd when still open. */
void http_static_file_release(struct http_static_file *f);

/* The Content-Type for a file name by its extension
 * ("application/octet-stream" when unknown). Static string. */
const char *http_static_type(const char *name);

#endif
