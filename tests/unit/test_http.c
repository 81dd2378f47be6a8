/* Tests for src/http: request-body validation (json.c) and a real server on
 * a free port driven over a socket (routing, errors, size caps, keep-alive,
 * start/stop without leaks). Answers and streams are covered by tests/api
 * (kb_ask on server threads keeps thread-local state that LSan reports at
 * thread exit until kb/ frees it per thread). */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/config.h"
#include "common/log.h"
#include "common/rc.h"
#include "http/http_int.h"
#include "http/server.h"
#include "kb/kb.h"

TEST(http_json_body_accepts_objects_only)
{
    struct buf err = BUF_INIT;
    json_t *j = NULL;
    CHECK_INT(http_parse_json_body("{\"a\":1}", 7, &j, &err), RC_OK);
    CHECK(json_is_object(j));
    json_decref(j);
    CHECK_INT(http_parse_json_body("[1]", 3, &j, &err), RC_INVALID);
    CHECK(j == NULL);
    buf_reset(&err);
    CHECK_INT(http_parse_json_body("{\"a\":", 5, &j, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "JSON");
    buf_reset(&err);
    CHECK_INT(http_parse_json_body("{\"a\":\"\xff\"}", 9, &j, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "UTF-8");
    CHECK_INT(http_parse_json_body("", 0, &j, &err), RC_INVALID);
    CHECK_INT(http_parse_json_body("{\"a\":1,\"a\":2}", 13, &j, &err), RC_INVALID);
    buf_release(&err);
}

TEST(http_query_body_validates_fields)
{
    struct buf err = BUF_INIT;
    struct http_query_body q;
    const char *ok = "{\"question\":\"住宿标准\",\"k\":3,\"stream\":true,\"x\":[]}";
    CHECK_INT(http_parse_query_body(ok, strlen(ok), "question", &q, &err), RC_OK);
    CHECK_STR(q.text, "住宿标准");
    CHECK_INT(q.k, 3);
    CHECK_INT(q.stream, 1);
    http_query_body_release(&q);
    const char *dflt = "{\"query\":\"a\"}";
    CHECK_INT(http_parse_query_body(dflt, strlen(dflt), "query", &q, &err), RC_OK);
    CHECK_INT(q.k, 5);
    CHECK_INT(q.stream, 0);
    http_query_body_release(&q);
    static const char *bad[] = {
        "{\"query\":\"\"}",
        "{\"query\":1}",
        "{\"query\":\"a\",\"k\":0}",
        "{\"query\":\"a\",\"k\":101}",
        "{\"query\":\"a\",\"k\":2.5}",
        "{\"query\":\"a\",\"stream\":\"yes\"}",
        "{\"question\":\"a\"}",
        "{\"query\":\"a\\u0000b\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        buf_reset(&err);
        CHECK_INT(http_parse_query_body(bad[i], strlen(bad[i]), "query", &q, &err), RC_INVALID);
        CHECK(q.text == NULL);
        CHECK(err.len > 0);
    }
    buf_release(&err);
}

TEST(http_utf8_whole_prefix_keeps_split_characters)
{
    const char *s = "ab中"; /* 中 = e4 b8 ad */
    CHECK_INT(http_utf8_whole_prefix(s, 5), 5);
    CHECK_INT(http_utf8_whole_prefix(s, 4), 2);
    CHECK_INT(http_utf8_whole_prefix(s, 3), 2);
    CHECK_INT(http_utf8_whole_prefix(s, 2), 2);
    CHECK_INT(http_utf8_whole_prefix("", 0), 0);
}

TEST(http_clean_filename_strips_paths_and_controls)
{
    char *n = http_clean_filename("../../etc/办法.md");
    CHECK_STR(n, "办法.md");
    free(n);
    n = http_clean_filename("C:\\docs\\a\tb.txt");
    CHECK_STR(n, "ab.txt");
    free(n);
    CHECK(http_clean_filename("dir/") == NULL);
    CHECK(http_clean_filename("..") == NULL);
    CHECK(http_clean_filename("\xff.md") == NULL);
    CHECK(http_clean_filename(NULL) == NULL);
    char longname[600];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    n = http_clean_filename(longname);
    CHECK(n && strlen(n) == HTTP_NAME_MAX);
    free(n);
}

/* ---- a real server ---- */

/* Sends raw bytes and reads until the peer closes or `want` responses'
 * headers and declared bodies have arrived. */
static int exchange(int port, const char *req, size_t n, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    size_t got = 0;
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
        out[got] = '\0';
        if (got == cap - 1)
            break;
    }
    out[got] = '\0';
    close(fd);
    return (int)got;
}

/* An admin (no password: a directory user, no hash to pay) and an API
 * token for it, in the server's store: every /api/v1 route needs one. */
static int make_token(const struct config *cfg, char token[64])
{
    char path[600];
    snprintf(path, sizeof path, "%s/atrium.db", cfg->data_dir);
    sqlite3 *db = NULL;
    struct buf err = BUF_INIT;
    int rc = db_open(path, &db, &err);
    if (rc == RC_OK) {
        struct db_conn d = {db, db_cache_new(db)};
        int64_t uid = 0, tid = 0;
        rc = auth_user_create(&d, cfg, "root", "", "", NULL, 1, &uid, &err);
        if (rc == RC_OK)
            rc = auth_token_create(&d, uid, "unit", 0, token, &tid, &err);
        db_cache_free(d.cache);
        db_close(db);
    }
    buf_release(&err);
    return rc;
}

/* req with "Authorization: Bearer token" after its first "Host: t\r\n"
 * line (every request of a pipeline when all is set). Malloc'd. */
static char *authed(const char *req, const char *token, int all)
{
    struct buf b = BUF_INIT;
    const char *p = req, *h;
    while ((h = strstr(p, "Host: t\r\n")) != NULL) {
        h += strlen("Host: t\r\n");
        buf_add(&b, p, (size_t)(h - p));
        buf_addf(&b, "Authorization: Bearer %s\r\n", token);
        p = h;
        if (!all)
            break;
    }
    buf_adds(&b, p);
    return buf_detach(&b, NULL);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

TEST(http_server_routes_errors_and_keep_alive)
{
    struct config cfg;
    struct buf err = BUF_INIT;
    struct kb_engine *eng = NULL;
    struct http_server *srv = NULL;
    char dir[512], out[16384];
    unsetenv("ATRIUM_CHAT_URL");
    CHECK_INT(config_load(&cfg, NULL, &err), RC_OK);
    snprintf(dir, sizeof dir, "%s/http", test_tmpdir());
    mkdir(dir, 0700);
    CHECK_INT(config_set(&cfg, "data_dir", dir, &err), RC_OK);
    CHECK_INT(config_set(&cfg, "body_max_kb", "1", &err), RC_OK);
    cfg.port = 0;
    int level = log_level_current;
    log_set_level(LOG_WARN); /* no access log lines in the test output */
    if (kb_engine_open(&cfg, &eng, &err) != RC_OK) {
        test_fail(__FILE__, __LINE__, "engine: %s", buf_str(&err));
        goto out;
    }
    CHECK_INT(http_start(&cfg, eng, &srv, &err), RC_OK);
    if (!srv)
        goto out;
    int port = http_port(srv);
    CHECK(port > 0);
    char token[64];
    CHECK_INT(make_token(&cfg, token), RC_OK);

    /* No credentials: 401 with a challenge, on every /api/v1 route. */
    const char *anon = "GET /api/v1/kbs HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK(exchange(port, anon, strlen(anon), out, sizeof out) > 0);
    CHECK_CONTAINS(out, "HTTP/1.1 401");
    CHECK_CONTAINS(out, "WWW-Authenticate: Bearer");

    /* Three requests on one connection: all answered, the connection stays. */
    char *pipe3 = authed("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                         "POST /api/v1/kbs HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n"
                         "{\"name\":\"规章\"}"
                         "GET /api/v1/kbs/%E8%A7%84%E7%AB%A0 HTTP/1.1\r\nHost: t\r\n"
                         "Connection: close\r\n\r\n",
                         token, 1);
    CHECK(exchange(port, pipe3, strlen(pipe3), out, sizeof out) > 0);
    free(pipe3);
    CHECK_CONTAINS(out, "HTTP/1.1 200 OK");
    CHECK_CONTAINS(out, "{\"status\":\"ok\"}");
    CHECK_CONTAINS(out, "HTTP/1.1 201");
    CHECK_INT(count(out, "X-Request-Id: "), 3);
    CHECK_INT(count(out, "\"name\":\"规章\""), 2);

    const char *cases[][2] = {
        {"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "HTTP/1.1 404"},
        {"POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
         "{\"a\":\"b\"}",
         "HTTP/1.1 404"},
        {"PUT /api/v1/kbs HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "HTTP/1.1 405"},
        {"GET /api/v1/kbs/nokb/documents HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
         "HTTP/1.1 404"},
        {"GET /api/v1/kbs?q=%FF HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "HTTP/1.1 400"},
        {"POST /api/v1/kbs/1/search HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
         "Connection: close\r\n\r\n{\"q\":",
         "\"invalid_request\""},
        {"POST /api/v1/kbs/1/search HTTP/1.1\r\nHost: t\r\nContent-Length: 999999\r\n\r\n",
         "HTTP/1.1 413"},
        {"POST /api/v1/kbs/1/documents HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
         "Content-Length: 2\r\nConnection: close\r\n\r\nhi",
         "HTTP/1.1 415"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *req = authed(cases[i][0], token, 0);
        CHECK(exchange(port, req, strlen(req), out, sizeof out) > 0);
        CHECK_CONTAINS(out, cases[i][1]);
        free(req);
    }
    /* A chunked body that goes past body_max (1 KiB here) is refused. */
    char big[4096];
    int n = snprintf(big, sizeof big,
                     "POST /api/v1/kbs/1/search HTTP/1.1\r\nHost: t\r\n"
                     "Authorization: Bearer %s\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n800\r\n",
                     token);
    memset(big + n, 'a', 0x800);
    memcpy(big + n + 0x800, "\r\n0\r\n\r\n", 7);
    int got = exchange(port, big, (size_t)n + 0x800 + 7, out, sizeof out);
    CHECK(got == 0 || strstr(out, "413") != NULL);
    /* Still serving. */
    const char *h = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK(exchange(port, h, strlen(h), out, sizeof out) > 0);
    CHECK_CONTAINS(out, "HTTP/1.1 200 OK");
out:
    http_stop(srv);
    kb_engine_close(eng);
    config_release(&cfg);
    buf_release(&err);
    log_set_level(level);
}

TEST(http_clean_filename_drops_hidden_characters)
{
    /* U+0085 (a C1 control), U+202E (right-to-left override), U+2028. */
    char *n = http_clean_filename("a\xc2\x85"
                                  "b\xe2\x80\xae"
                                  "gpj.exe\xe2\x80\xa8.md");
    CHECK_STR(n, "abgpj.exe.md");
    free(n);
    CHECK(http_clean_filename("\xe2\x80\xae\xc2\x9f") == NULL);
    /* Cut at HTTP_NAME_MAX bytes on a whole character. */
    char longname[400] = "x";
    for (int i = 0; i < 100; i++)
        memcpy(longname + 1 + 3 * i, "中", 4); /* with the NUL */
    n = http_clean_filename(longname);
    CHECK(n && strlen(n) == 1 + 84 * 3);
    free(n);
    /* A cut keeps the extension (ingest tells .jsonl by its name). */
    memcpy(longname + 1 + 300, ".jsonl", 7);
    n = http_clean_filename(longname);
    CHECK(n && strlen(n) == 1 + 82 * 3 + 6);
    CHECK(n && strcmp(n + strlen(n) - 6, ".jsonl") == 0);
    free(n);
    /* An over-long "extension" is not one: cut as a whole. */
    char dotted[300];
    memset(dotted, 'y', sizeof dotted - 1);
    dotted[sizeof dotted - 1] = '\0';
    dotted[10] = '.';
    n = http_clean_filename(dotted);
    CHECK(n && strlen(n) == HTTP_NAME_MAX && n[10] == '.');
    free(n);
}

TEST(http_server_asks_during_stop_get_429)
{
    struct config cfg;
    struct buf err = BUF_INIT;
    struct kb_engine *eng = NULL;
    struct http_server *srv = NULL;
    char dir[512], out[16384];
    unsetenv("ATRIUM_CHAT_URL");
    CHECK_INT(config_load(&cfg, NULL, &err), RC_OK);
    snprintf(dir, sizeof dir, "%s/http_stop", test_tmpdir());
    mkdir(dir, 0700);
    CHECK_INT(config_set(&cfg, "data_dir", dir, &err), RC_OK);
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
    char token[64];
    CHECK_INT(make_token(&cfg, token), RC_OK);
    char *mk = authed("POST /api/v1/kbs HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n"
                      "Connection: close\r\n\r\n{\"name\":\"s\"}",
                      token, 0);
    CHECK(exchange(port, mk, strlen(mk), out, sizeof out) > 0);
    CHECK_CONTAINS(out, "HTTP/1.1 201");
    free(mk);
    /* The first half of http_stop: from now on asks are refused with the
     * result code of a busy server (no code outside rc.h). */
    http_workers_quiesce(srv);
    static const char *bodies[] = {"{\"question\":\"q\"}", "{\"question\":\"q\",\"stream\":true}"};
    for (size_t i = 0; i < 2; i++) {
        char req[512];
        snprintf(req, sizeof req,
                 "POST /api/v1/kbs/s/ask HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n"
                 "Authorization: Bearer %s\r\nConnection: close\r\n\r\n%s",
                 strlen(bodies[i]), token, bodies[i]);
        CHECK(exchange(port, req, strlen(req), out, sizeof out) > 0);
        CHECK_CONTAINS(out, "HTTP/1.1 429");
        CHECK_CONTAINS(out, "\"code\":\"too_many_requests\"");
        CHECK_CONTAINS(out, "shutting down");
    }
out:
    http_stop(srv);
    kb_engine_close(eng);
    config_release(&cfg);
    buf_release(&err);
    log_set_level(level);
}
