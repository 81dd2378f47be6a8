/* The HTTP tool (httptool.h): URL normalisation and the allow-list check,
 * then one libcurl call. */
#include "agents/httptool.h"

#include <curl/curl.h>
#include <pthread.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/rc.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct nurl {
    char scheme[8];
    char host[256];
    long port;
    char *path; /* malloc'd, starts with '/' */
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses and normalises an absolute http(s) URL (the query, if any, is
 * ignored for the check). RC_OK or RC_INVALID with a reason in *why. */
static int url_parse(const char *u, size_t n, struct nurl *out, const char **why)
{
    size_t i = 0;
    memset(out, 0, sizeof *out);
    *why = "地址格式无效 / malformed URL";
    if (n > HTTPTOOL_URL_MAX)
        return RC_INVALID;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)u[k];
        if (c <= 0x20 || c >= 0x7f || c == '\\') {
            *why = "地址含空白、控制字符、反斜杠或非 ASCII 字符 / the URL has spaces, control "
                   "characters, backslashes or non-ASCII bytes";
            return RC_INVALID;
        }
        if (c == '#') {
            *why = "地址不能含片段 (#) / the URL must not have a fragment";
            return RC_INVALID;
        }
    }
    if (n >= 7 && !strncasecmp(u, "http://", 7)) {
        strcpy(out->scheme, "http"); /* fits: 8 bytes */
        out->port = 80;
        i = 7;
    } else if (n >= 8 && !strncasecmp(u, "https://", 8)) {
        strcpy(out->scheme, "https");
        out->port = 443;
        i = 8;
    } else {
        *why = "只允许 http/https 地址 / only http and https URLs are allowed";
        return RC_INVALID;
    }
    size_t a = i;
    while (i < n && u[i] != '/' && u[i] != '?')
        i++;
    size_t alen = i - a;
    if (memchr(u + a, '@', alen)) {
        *why = "地址不能含用户信息 (@) / the URL must not carry user info";
        return RC_INVALID;
    }
    size_t hlen = alen;
    const char *colon = NULL;
    if (alen && u[a] == '[') {
        const char *rb = memchr(u + a, ']', alen);
        if (!rb)
            return RC_INVALID;
        hlen = (size_t)(rb - (u + a)) + 1;
        if (hlen < alen) {
            if (u[a + hlen] != ':')
                return RC_INVALID;
            colon = u + a + hlen;
        }
    } else {
        colon = memchr(u + a, ':', alen);
        if (colon)
            hlen = (size_t)(colon - (u + a));
    }
    if (!hlen || hlen >= sizeof out->host)
        return RC_INVALID;
    for (size_t k = 0; k < hlen; k++) {
        char c = u[a + k];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              (u[a] == '[' && (c == ':' || c == '[' || c == ']'))))
            return RC_INVALID;
        out->host[k] = c;
    }
    out->host[hlen] = '\0';
    if (out->host[hlen - 1] == '.' || out->host[0] == '.' || strstr(out->host, ".."))
        return RC_INVALID;
    if (colon) {
        const char *p = colon + 1, *e = u + a + alen;
        long port = 0;
        if (p == e)
            return RC_INVALID;
        for (; p < e; p++) {
            if (*p < '0' || *p > '9')
                return RC_INVALID;
            port = port * 10 + (*p - '0');
            if (port > 65535)
                return RC_INVALID;
        }
        if (port == 0)
            return RC_INVALID;
        out->port = port;
    }
    size_t ps = i;
    while (i < n && u[i] != '?')
        i++;
    size_t plen = i - ps;
    out->path = plen ? xstrndup(u + ps, plen) : xstrdup("/");
    /* dot segments, also percent-encoded, and encoded separators */
    for (char *p = out->path; *p; p++) {
        if (*p == '%') {
            int h1 = hexval(p[1]), h2 = h1 < 0 ? -1 : hexval(p[2]);
            if (h1 < 0 || h2 < 0)
                goto bad;
            int c = h1 * 16 + h2;
            if (c == '.' || c == '/' || c == '\\' || c == 0) {
                *why = "地址路径含编码的点或分隔符 / the URL path has encoded dots or separators";
                goto bad;
            }
        }
    }
    for (char *seg = out->path + 1;;) {
        char *end = strchr(seg, '/');
        size_t sl = end ? (size_t)(end - seg) : strlen(seg);
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) {
            *why = "地址路径不能含 . 或 .. / the URL path must not contain . or .. segments";
            goto bad;
        }
        if (!end)
            break;
        seg = end + 1;
    }
    return RC_OK;
bad:
    free(out->path);
    out->path = NULL;
    return RC_INVALID;
}

static int prefix_match(const struct nurl *pre, const struct nurl *u)
{
    if (strcmp(pre->scheme, u->scheme) || strcmp(pre->host, u->host) || pre->port != u->port)
        return 0;
    size_t pl = strlen(pre->path);
    if (strncmp(u->path, pre->path, pl))
        return 0;
    return pre->path[pl - 1] == '/' || u->path[pl] == '\0' || u->path[pl] == '/';
}

int httptool_url_allowed(const char *allow, const char *url, struct buf *err)
{
    struct nurl u;
    const char *why = NULL;
    if (!url || url_parse(url, strlen(url), &u, &why) != RC_OK) {
        if (err)
            (void)buf_adds(err, why ? why : "地址格式无效 / malformed URL");
        return RC_INVALID;
    }
    int ok = 0;
    const char *p = allow ? allow : "";
    while (*p && !ok) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        struct nurl pre;
        const char *w2;
        if (n && url_parse(p, n, &pre, &w2) == RC_OK) {
            ok = prefix_match(&pre, &u);
            free(pre.path);
        }
        p = e;
    }
    free(u.path);
    if (!ok) {
        if (err)
            (void)buf_adds(err, "该地址不在允许调用的范围内 (agent_http_allow) / the URL is not "
                                "allow-listed (agent_http_allow)");
        return RC_DENIED;
    }
    return RC_OK;
}

struct sink {
    struct buf body;
    size_t max;
    int truncated;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
    struct sink *s = ctx;
    size_t n = size * nmemb;
    if (s->body.len + n > s->max) {
        size_t room = s->max - s->body.len;
        (void)buf_add(&s->body, p, room);
        s->truncated = 1;
        return 0; /* stop the transfer: the rest is not kept */
    }
    if (buf_add(&s->body, p, n) != RC_OK)
        return 0;
    return n;
}

static int utf8_valid(const char *s, size_t n, size_t *valid_prefix)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (!len || (len == 2 && c < 0xC2))
            break;
        if (i + len > n)
            break;
        size_t k;
        for (k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                break;
        if (k < len)
            break;
        i += len;
    }
    *valid_prefix = i;
    return i == n;
}

static int text_type(const char *ct)
{
    if (!ct)
        return 0;
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    if (n >= 5 && !strncasecmp(ct, "text/", 5))
        return 1;
    if (n == 16 && !strncasecmp(ct, "application/json", 16))
        return 1;
    if (n > 17 && !strncasecmp(ct, "application/", 12) && !strncasecmp(ct + n - 5, "+json", 5))
        return 1;
    return 0;
}

/* Appends the arguments as a URL-encoded query string. */
static int add_query(CURL *h, struct buf *url, const json_t *args)
{
    const char *k;
    const json_t *v;
    int first = !strchr(buf_str(url), '?');
    json_object_foreach((json_t *)args, k, v)
    {
        char *sv = NULL;
        if (json_is_string(v))
            sv = xstrdup(json_string_value(v));
        else if (json_is_null(v))
            sv = xstrdup("");
        else
            sv = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!sv)
            return RC_INTERNAL;
        char *ek = curl_easy_escape(h, k, 0), *ev = curl_easy_escape(h, sv, 0);
        free(sv);
        int rc = ek && ev ? buf_addf(url, "%c%s=%s", first ? '?' : '&', ek, ev) : RC_INTERNAL;
        curl_free(ek);
        curl_free(ev);
        if (rc != RC_OK)
            return rc;
        first = 0;
    }
    return RC_OK;
}

int httptool_call(const char *allow, int timeout_ms, const char *method, const char *url,
                  const json_t *args, size_t max, char **out, struct buf *err)
{
    int rc = RC_OK;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    struct buf full = BUF_INIT;
    char *body = NULL;
    struct sink s = {BUF_INIT, 0, 0};
    size_t marker = strlen(HTTPTOOL_TRUNCATED);
    *out = NULL;
    if ((rc = httptool_url_allowed(allow, url, err)) != RC_OK)
        goto out;
    int post = method && !strcasecmp(method, "POST");
    if (!post && method && strcasecmp(method, "GET")) {
        (void)buf_adds(err, "只支持 GET 和 POST / only GET and POST are supported");
        rc = RC_INVALID;
        goto out;
    }
    if (max <= marker + 16) {
        rc = RC_INVALID;
        goto out;
    }
    (void)pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK || !(h = curl_easy_init())) {
        (void)buf_adds(err, "HTTP 客户端初始化失败 / the HTTP client failed to start");
        rc = RC_INTERNAL;
        goto out;
    }
    full.max = HTTPTOOL_URL_MAX * 4;
    if (buf_adds(&full, url) != RC_OK ||
        (!post && json_is_object(args) && add_query(h, &full, args) != RC_OK)) {
        (void)buf_adds(err, "请求地址过长 / the request URL is too long");
        rc = RC_INVALID;
        goto out;
    }
    long tmo = timeout_ms > 0 ? timeout_ms : 5000;
    s.max = max;
    hdrs = curl_slist_append(NULL, "Accept: application/json, text/plain;q=0.8, text/*;q=0.5");
    if (hdrs && post)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json; charset=utf-8");
    if (post)
        body = json_dumps(json_is_object(args) ? args : json_object(), JSON_COMPACT);
    int ok = hdrs && (!post || body) &&
             curl_easy_setopt(h, CURLOPT_URL, buf_str(&full)) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
             curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
             curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                 CURLE_OK &&
#endif
             curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, tmo) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, tmo) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_USERAGENT, "atrium-agent-http/1") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEDATA, &s) == CURLE_OK &&
             (!post || curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK);
    if (!ok) {
        (void)buf_adds(err, "HTTP 客户端设置失败 / the HTTP client could not be set up");
        rc = RC_INTERNAL;
        goto out;
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        (void)buf_addf(err, "调用超时（%ld 毫秒） / the call timed out (%ld ms)", tmo, tmo);
        rc = RC_TIMEOUT;
        goto out;
    }
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && s.truncated)) {
        (void)buf_addf(err, "调用失败 / the call failed: %s", curl_easy_strerror(cc));
        rc = RC_UPSTREAM;
        goto out;
    }
    long status = 0;
    char *ct = NULL;
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    (void)curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (status < 200 || status > 299) {
        (void)buf_addf(err, "对方返回 HTTP %ld / the service answered HTTP %ld", status, status);
        rc = RC_UPSTREAM;
        goto out;
    }
    if (!text_type(ct)) {
        (void)buf_adds(err, "对方返回的不是文本或 JSON / the response is not text or JSON");
        rc = RC_UPSTREAM;
        goto out;
    }
    size_t good;
    if (!utf8_valid(s.body.p ? s.body.p : "", s.body.len, &good) &&
        !(s.truncated && s.body.len - good < 4)) {
        (void)buf_adds(err, "响应不是 UTF-8 文本 / the response is not UTF-8 text");
        rc = RC_UPSTREAM;
        goto out;
    }
    if (s.truncated) {
        /* keep max bytes in all, the marker included, cut on a character boundary */
        size_t keep = good < max - marker ? good : max - marker;
        while (keep && ((unsigned char)s.body.p[keep] & 0xC0) == 0x80)
            keep--;
        s.body.len = keep;
        s.body.p[keep] = '\0';
        (void)buf_adds(&s.body, HTTPTOOL_TRUNCATED);
    }
    if (!s.body.p)
        (void)buf_adds(&s.body, "");
    *out = buf_detach(&s.body, NULL);
out:
    free(body);
    curl_slist_free_all(hdrs);
    if (h)
        curl_easy_cleanup(h);
    buf_release(&full);
    buf_release(&s.body);
    return rc;
}
