/* Tests for src/http/static.c: the web portal's files resolved under one
 * root (index, types, validators, cache rules, traversal, dot segments,
 * symlinks out of the root) and served by a real server with the security
 * headers, next to the API's JSON 404. */
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/rc.h"
#include "http/server.h"
#include "http/static.h"
#include "kb/kb.h"

static void put(const char *dir, const char *name, const char *text)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

/* tmp/static-N/{dist/{index.html,assets/app-1a2b.js,app.css,.env},secret.txt}
 * with dist/leak -> ../secret.txt. Returns the dist path in out. */
static void make_site(const char *name, char *out, size_t cap)
{
    char base[400], p[700];
    snprintf(base, sizeof base, "%s/%s", test_tmpdir(), name);
    mkdir(base, 0700);
    snprintf(out, cap, "%s/dist", base);
    mkdir(out, 0700);
    snprintf(p, sizeof p, "%s/assets", out);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/sub", out);
    mkdir(p, 0700);
    put(out, "index.html", "<!doctype html><title>门户</title><div id=app></div>");
    put(out, "assets/app-1a2b.js", "console.log(1)");
    put(out, "app.css", "body{}");
    put(out, ".env", "SECRET=1");
    put(base, "secret.txt", "top secret");
    char target[700];
    snprintf(target, sizeof target, "%s/secret.txt", base);
    snprintf(p, sizeof p, "%s/leak", out);
    CHECK_INT(symlink(target, p), 0);
}

static int resolve(struct http_static *st, const char *path, const char *inm, const char *ims,
                   struct http_static_file *f)
{
    int rc = http_static_resolve(st, path, inm, ims, f);
    CHECK_INT(rc, RC_OK);
    return f->status;
}

TEST(static_open_missing_and_default)
{
    struct http_static *st = (struct http_static *)1;
    char p[600];
    snprintf(p, sizeof p, "%s/no-such-dir", test_tmpdir());
    CHECK_INT(http_static_open(p, &st), RC_NOT_FOUND);
    CHECK(st == NULL);
    char dist[600];
    make_site("static-open", dist, sizeof dist);
    CHECK_INT(http_static_open(dist, &st), RC_OK);
    CHECK(st != NULL);
    CHECK(strstr(http_static_root(st), "static-open/dist") != NULL);
    http_static_close(st);
    /* A file is not a root. */
    char file[700];
    snprintf(file, sizeof file, "%s/index.html", dist);
    CHECK_INT(http_static_open(file, &st), RC_NOT_FOUND);
}

TEST(static_handles_only_non_api_paths)
{
    CHECK(http_static_handles("/"));
    CHECK(http_static_handles("/index.html"));
    CHECK(http_static_handles("/assets/index-abc.js"));
    CHECK(http_static_handles("/apis.html"));
    CHECK(!http_static_handles("/api"));
    CHECK(!http_static_handles("/api/v1/kbs"));
    CHECK(!http_static_handles("/api/nope"));
    CHECK(!http_static_handles("/v1/models"));
    CHECK(!http_static_handles("/healthz"));
    CHECK(!http_static_handles("//api/v1/kbs"));
}

TEST(static_types)
{
    CHECK_STR(http_static_type("index.html"), "text/html; charset=utf-8");
    CHECK_STR(http_static_type("/a/b/app-1.JS"), "text/javascript; charset=utf-8");
    CHECK_STR(http_static_type("x.css"), "text/css; charset=utf-8");
    CHECK_STR(http_static_type("x.svg"), "image/svg+xml");
    CHECK_STR(http_static_type("x.woff2"), "font/woff2");
    CHECK_STR(http_static_type("noext"), "application/octet-stream");
    CHECK_STR(http_static_type("dir.d/noext"), "application/octet-stream");
}

TEST(static_resolves_files_and_refuses_escapes)
{
    char dist[600];
    struct http_static *st = NULL;
    struct http_static_file f;
    make_site("static-resolve", dist, sizeof dist);
    CHECK_INT(http_static_open(dist, &st), RC_OK);
    if (!st)
        return;

    CHECK_INT(resolve(st, "/", NULL, NULL, &f), 200);
    CHECK(f.fd >= 0);
    CHECK_STR(f.content_type, "text/html; charset=utf-8");
    CHECK_STR(f.cache_control, "no-cache");
    CHECK(f.etag[0] == '"');
    CHECK_CONTAINS(f.last_modified, "GMT");
    char buf[128] = {0};
    CHECK(read(f.fd, buf, sizeof buf - 1) > 0);
    CHECK_CONTAINS(buf, "门户");
    CHECK_INT(f.size, strlen(buf));
    char etag[64];
    snprintf(etag, sizeof etag, "%s", f.etag);
    char lm[64];
    snprintf(lm, sizeof lm, "%s", f.last_modified);
    http_static_file_release(&f);
    CHECK_INT(f.fd, -1);

    /* Validators: the same ETag (also in a list, or weak) is 304; another
     * is 200; If-Modified-Since counts only without If-None-Match. */
    CHECK_INT(resolve(st, "/index.html", etag, NULL, &f), 304);
    CHECK_INT(f.fd, -1);
    CHECK_STR(f.etag, etag);
    char list[200];
    snprintf(list, sizeof list, "\"zzz\", W/%s", etag);
    CHECK_INT(resolve(st, "/index.html", list, NULL, &f), 304);
    CHECK_INT(resolve(st, "/index.html", "\"other\"", NULL, &f), 200);
    http_static_file_release(&f);
    CHECK_INT(resolve(st, "/index.html", NULL, lm, &f), 304);
    CHECK_INT(resolve(st, "/index.html", NULL, "Thu, 01 Jan 1970 00:00:00 GMT", &f), 200);
    http_static_file_release(&f);
    CHECK_INT(resolve(st, "/index.html", "\"other\"", lm, &f), 200);
    http_static_file_release(&f);

    /* Hashed assets are kept a year. */
    CHECK_INT(resolve(st, "/assets/app-1a2b.js", NULL, NULL, &f), 200);
    CHECK_STR(f.content_type, "text/javascript; charset=utf-8");
    CHECK_CONTAINS(f.cache_control, "max-age=31536000");
    CHECK_CONTAINS(f.cache_control, "immutable");
    http_static_file_release(&f);
    CHECK_INT(resolve(st, "/app.css", NULL, NULL, &f), 200);
    CHECK_STR(f.cache_control, "no-cache");
    http_static_file_release(&f);
    CHECK_INT(resolve(st, "//assets//app-1a2b.js", NULL, NULL, &f), 200);
    http_static_file_release(&f);

    /* Everything that could leave the root or show what is hidden: 404. */
    static const char *bad[] = {
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/assets/../index.html",
        "/./index.html",
        "/.env",
        "/assets/.",
        "/leak", /* a symlink out of the root */
        "/sub",  /* a directory */
        "/sub/", /* a directory without index.html */
        "/nope.js",
        "/index.html\x01",
        "/index.html\\..\\x",
        "index.html", /* not absolute */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (resolve(st, bad[i], NULL, NULL, &f) != 404)
            test_fail(__FILE__, __LINE__, "%s was served", bad[i]);
        CHECK_INT(f.fd, -1);
    }
    CHECK_INT(http_static_resolve(NULL, "/", NULL, NULL, &f), RC_OK);
    CHECK_INT(f.status, 404);
    http_static_close(st);
}

/* One request, the whole answer (the server closes: Connection: close). */
static int fetch(int port, const char *req, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    size_t got = 0, n = strlen(req);
    out[0] = '\0';
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || write(fd, req, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, out + got, cap - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == cap - 1)
            break;
    }
    out[got] = '\0';
    close(fd);
    return (int)got;
}

TEST(static_server_serves_the_portal_with_security_headers)
{
    struct config cfg;
    struct buf err = BUF_INIT;
    struct kb_engine *eng = NULL;
    struct http_server *srv = NULL;
    char dir[600], dist[600], out[16384], req[1024];
    unsetenv("ATRIUM_CHAT_URL");
    CHECK_INT(config_load(&cfg, NULL, &err), RC_OK);
    snprintf(dir, sizeof dir, "%s/static-srv-data", test_tmpdir());
    mkdir(dir, 0700);
    make_site("static-srv", dist, sizeof dist);
    CHECK_INT(config_set(&cfg, "data_dir", dir, &err), RC_OK);
    CHECK_INT(config_set(&cfg, "web_dir", dist, &err), RC_OK);
    cfg.port = 0;
    int level = log_level_current;
    log_set_level(LOG_WARN);
    if (kb_engine_open(&cfg, &eng, &err) != RC_OK) {
        test_fail(__FILE__, __LINE__, "engine: %s", buf_str(&err));
        goto out;
    }
    CHECK_INT(http_start(&cfg, eng, &srv, &err), RC_OK);
    if (!srv)
        goto out;
    int port = http_port(srv);

    const char *root = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK(fetch(port, root, out, sizeof out) > 0);
    CHECK_CONTAINS(out, "HTTP/1.1 200");
    CHECK_CONTAINS(out, "Content-Type: text/html; charset=utf-8");
    CHECK_CONTAINS(out, "Content-Security-Policy: default-src 'self'; script-src 'self';");
    CHECK_CONTAINS(out, "frame-ancestors 'none'");
    CHECK_CONTAINS(out, "X-Content-Type-Options: nosniff");
    CHECK_CONTAINS(out, "Cache-Control: no-cache");
    CHECK_CONTAINS(out, "X-Request-Id: ");
    CHECK_CONTAINS(out, "门户");
    char etag[64] = {0};
    const char *e = strstr(out, "ETag: ");
    CHECK(e != NULL);
    if (e)
        sscanf(e + 6, "%63s", etag);

    snprintf(
        req, sizeof req,
        "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\nConnection: close\r\n\r\n",
        etag);
    CHECK(fetch(port, req, out, sizeof out) > 0);
    CHECK_CONTAINS(out, "HTTP/1.1 304");
    CHECK(strstr(out, "门户") == NULL);

    const char *head = "HEAD /assets/app-1a2b.js HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK(fetch(port, head, out, sizeof out) > 0);
    CHECK_CONTAINS(out, "HTTP/1.1 200");
    CHECK_CONTAINS(out, "Content-Type: text/javascript");
    CHECK_CONTAINS(out, "immutable");
    CHECK(strstr(out, "console.log") == NULL);

    /* Escapes (percent-encoded too) and hidden files: 404 JSON. */
    static const char *bad[] = {"/..%2Fsecret.txt", "/assets/%2E%2E/%2E%2E/secret.txt", "/.env",
                                "/leak", "/nope"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                 bad[i]);
        CHECK(fetch(port, req, out, sizeof out) > 0);
        if (!strstr(out, "HTTP/1.1 404") || strstr(out, "secret") || strstr(out, "SECRET"))
            test_fail(__FILE__, __LINE__, "%s: %.200s", bad[i], out);
        CHECK_CONTAINS(out, "\"not_found\"");
    }
    /* The API keeps its own 404, and other methods on pages are 404 too. */
    const char *api = "GET /api/v1/nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK(fetch(port, api, out, sizeof out) > 0);
    CHECK_CONTAINS(out, "HTTP/1.1 404");
    CHECK_CONTAINS(out, "接口不存在");
    CHECK(strstr(out, "Content-Security-Policy") == NULL);
    const char *post = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: "
                       "close\r\n\r\n{}";
    CHECK(fetch(port, post, out, sizeof out) > 0);
    CHECK_CONTAINS(out, "HTTP/1.1 404");
    const char *health = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK(fetch(port, health, out, sizeof out) > 0);
    CHECK_CONTAINS(out, "{\"status\":\"ok\"}");
out:
    http_stop(srv);
    kb_engine_close(eng);
    config_release(&cfg);
    buf_release(&err);
    log_set_level(level);
}

TEST(static_server_refuses_a_missing_web_dir)
{
    struct config cfg;
    struct buf err = BUF_INIT;
    struct kb_engine *eng = NULL;
    struct http_server *srv = NULL;
    char dir[600], web[600];
    CHECK_INT(config_load(&cfg, NULL, &err), RC_OK);
    snprintf(dir, sizeof dir, "%s/static-missing-data", test_tmpdir());
    mkdir(dir, 0700);
    snprintf(web, sizeof web, "%s/static-missing-web", test_tmpdir());
    CHECK_INT(config_set(&cfg, "data_dir", dir, &err), RC_OK);
    CHECK_INT(config_set(&cfg, "web_dir", web, &err), RC_OK);
    cfg.port = 0;
    int level = log_level_current;
    log_set_level(LOG_ERROR);
    if (kb_engine_open(&cfg, &eng, &err) != RC_OK) {
        test_fail(__FILE__, __LINE__, "engine: %s", buf_str(&err));
        goto out;
    }
    CHECK(http_start(&cfg, eng, &srv, &err) != RC_OK);
    CHECK(srv == NULL);
    CHECK_CONTAINS(buf_str(&err), "web_dir");
out:
    http_stop(srv);
    kb_engine_close(eng);
    config_release(&cfg);
    buf_release(&err);
    log_set_level(level);
}
