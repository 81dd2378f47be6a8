/* Web search through SearXNG's JSON API: one bounded GET with libcurl,
 * jansson to parse, and a sanitiser that makes every result safe to show
 * and to put into a prompt. The query is never logged. */
#include "assist/websearch.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEF_TIMEOUT_MS 3000L
#define DEF_RESULTS 5
#define MAX_URL_LEN 2048   /* result and base URLs longer than this are dropped / refused */
#define MAX_FIELD_IN 65536 /* bytes of a title or snippet looked at before cleaning */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void seterr(struct buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(struct buf *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)buf_vaddf(err, fmt, ap); /* a full err buffer keeps the start of the message */
    va_end(ap);
}

int websearch_enabled(const struct config *cfg)
{
    return cfg && cfg->websearch_url && cfg->websearch_url[0];
}

/* ---------------------------------------------------------------- text */

/* Appends code point cp to b. */
static int put_cp(struct buf *b, uint32_t cp)
{
    char tmp[4];
    size_t n = utf8_encode(cp, tmp);
    return buf_add(b, tmp, n);
}

/* Characters that become a space: ASCII and C1 controls, whitespace, NBSP,
 * the ideographic space and the other Unicode spaces. */
static int is_space_cp(uint32_t cp)
{
    return cp <= 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0xA0) || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* Invisible characters that are dropped: zero-width ones, the BOM, and the
 * bidi controls (they could make a URL or a title read differently). */
static int is_dropped_cp(uint32_t cp)
{
    return (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

struct named_entity {
    const char *name;
    uint32_t cp;
};
static const struct named_entity entities[] = {
    {"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},      {"apos", '\''},
    {"nbsp", 0xA0},    {"ensp", 0x2002},   {"emsp", 0x2003},  {"thinsp", 0x2009}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"hellip", 0x2026}, {"middot", 0xB7},  {"laquo", 0xAB},    {"raquo", 0xBB},
    {"ldquo", 0x201C}, {"rdquo", 0x201D},  {"lsquo", 0x2018}, {"rsquo", 0x2019},  {"copy", 0xA9},
    {"reg", 0xAE},     {"trade", 0x2122},  {"times", 0xD7},   {"yen", 0xA5},      {"bull", 0x2022},
};

/* Decodes the entity at s[0] == '&' (n bytes available). Returns the bytes
 * consumed and sets *cp, or 0 when it is not an entity we know (the '&' is
 * then kept as text). */
static size_t decode_entity(const char *s, size_t n, uint32_t *cp)
{
    size_t i = 1, lim = n < 12 ? n : 12; /* "&#x10FFFF;" is the longest we accept */
    if (i < lim && s[i] == '#') {
        int hex = 0;
        uint32_t v = 0;
        size_t digits = 0;
        i++;
        if (i < lim && (s[i] == 'x' || s[i] == 'X')) {
            hex = 1;
            i++;
        }
        for (; i < lim && s[i] != ';'; i++, digits++) {
            char c = s[i];
            int d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (hex && c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (hex && c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            else
                return 0;
            if (v > 0x10FFFF)
                continue; /* saturate: keeps v from overflowing */
            v = v * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (i >= lim || digits == 0)
            return 0;
        if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            v = 0xFFFD;
        *cp = v;
        return i + 1;
    }
    for (; i < lim && s[i] != ';'; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    if (i >= lim || i == 1)
        return 0;
    for (size_t k = 0; k < sizeof entities / sizeof entities[0]; k++) {
        size_t len = strlen(entities[k].name);
        if (len == i - 1 && memcmp(s + 1, entities[k].name, len) == 0) {
            *cp = entities[k].cp;
            return i + 1;
        }
    }
    return 0;
}

/* Case-insensitive search for needle in s[0..n). Returns the offset or n. */
static size_t find_ci(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(s + i, needle, m) == 0)
            return i;
    return n;
}

/* True when the tag at s ("<name" or "</name", n bytes) is a block-level
 * element, whose boundary separates words ("a<br>b" is "a b"); inline tags
 * such as SearXNG's <span class="highlight"> do not ("贷<b>款</b>" stays
 * "贷款"). */
static int is_block_tag(const char *s, size_t n)
{
    static const char *const blocks[] = {
        "br", "p",          "div",     "li",      "ul",     "ol",     "tr",     "td",
        "th", "table",      "h1",      "h2",      "h3",     "h4",     "h5",     "h6",
        "hr", "blockquote", "section", "article", "header", "footer", "pre",    "dd",
        "dt", "dl",         "title",   "nav",     "aside",  "main",   "figure", "figcaption",
    };
    size_t i = 1, len = 0;
    if (i < n && s[i] == '/')
        i++;
    while (i + len < n &&
           ((s[i + len] >= 'a' && s[i + len] <= 'z') || (s[i + len] >= 'A' && s[i + len] <= 'Z') ||
            (s[i + len] >= '0' && s[i + len] <= '9')))
        len++;
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++)
        if (strlen(blocks[k]) == len && strncasecmp(s + i, blocks[k], len) == 0)
            return 1;
    return 0;
}

/* When s[0] == '<' starts a tag (or comment, doctype, processing
 * instruction), returns the bytes to skip: the tag, or for <script> and
 * <style> the element with its content. 0 when it is a literal '<' ("a < b")
 * or the tag is never closed. */
static size_t skip_tag(const char *s, size_t n)
{
    if (n < 2)
        return 0;
    char c = s[1];
    int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!letter && c != '/' && c != '!' && c != '?')
        return 0;
    if (n >= 4 && memcmp(s, "<!--", 4) == 0) {
        size_t e = find_ci(s + 4, n - 4, "-->");
        return e == n - 4 ? 0 : 4 + e + 3;
    }
    const char *gt = memchr(s, '>', n);
    if (!gt)
        return 0;
    size_t len = (size_t)(gt - s) + 1;
    static const char *const raw[] = {"script", "style"};
    for (size_t k = 0; k < 2; k++) {
        size_t m = strlen(raw[k]);
        if (n > m + 1 && strncasecmp(s + 1, raw[k], m) == 0 &&
            (s[m + 1] == '>' || s[m + 1] == ' ' || s[m + 1] == '\t' || s[m + 1] == '\n' ||
             s[m + 1] == '/')) {
            char close[16];
            snprintf(close, sizeof close, "</%s", raw[k]);
            size_t e = find_ci(s + len, n - len, close);
            if (e == n - len)
                return n; /* unterminated: drop the rest */
            const char *gt2 = memchr(s + len + e, '>', n - len - e);
            return gt2 ? (size_t)(gt2 - s) + 1 : n;
        }
    }
    return len;
}

char *websearch_clean_text(const char *p, size_t n, size_t max_chars)
{
    struct buf out = BUF_INIT; /* no cap: grows at most 3 bytes per input byte */
    size_t chars = 0, i = 0;
    int pending_space = 0;
    if (!p)
        n = 0;
    while (i < n) {
        uint32_t cp;
        size_t used;
        if (p[i] == '<' && (used = skip_tag(p + i, n - i)) > 0) {
            if (is_block_tag(p + i, used))
                pending_space = chars > 0;
            i += used;
            continue;
        }
        if (p[i] == '&' && (used = decode_entity(p + i, n - i, &cp)) > 0)
            i += used;
        else
            i += utf8_decode(p + i, n - i, &cp); /* a bad byte comes back as U+FFFD */
        if (is_dropped_cp(cp))
            continue;
        if (is_space_cp(cp)) {
            pending_space = chars > 0;
            continue;
        }
        if (pending_space) {
            (void)buf_addc(&out, ' ');
            chars++;
            pending_space = 0;
        }
        (void)put_cp(&out, cp);
        chars++;
    }
    if (chars > max_chars) {
        /* Cut on a character boundary, leaving room for the ellipsis. */
        size_t keep = max_chars > 0 ? utf8_prefix(out.p, out.len, max_chars - 1) : 0;
        while (keep > 0 && out.p[keep - 1] == ' ')
            keep--;
        out.len = keep;
        if (max_chars > 0)
            (void)buf_adds(&out, "\xE2\x80\xA6"); /* … */
        else if (out.p)
            out.p[0] = '\0';
    }
    size_t len;
    return buf_detach(&out, &len);
}

/* ---------------------------------------------------------------- URLs */

static int has_http_scheme(const char *u)
{
    return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

/* An absolute http(s) URL with a host, printable ASCII or UTF-8 without
 * spaces or control characters, and not too long. */
static int url_ok(const char *u, size_t n)
{
    if (n == 0 || n > MAX_URL_LEN || !has_http_scheme(u) || !utf8_valid(u, n))
        return 0;
    size_t host = strncasecmp(u, "https://", 8) == 0 ? 8 : 7;
    if (host >= n || u[host] == '/' || u[host] == '?' || u[host] == '#' || u[host] == '@')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c == 0x7F || c == '"' || c == '<' || c == '>' || c == '\\')
            return 0;
    }
    return 1;
}

/* The key used to spot duplicates: the URL without scheme and fragment,
 * the host lower-cased, without a trailing '/'. Caller frees. */
static char *url_key(const char *u)
{
    const char *p = u + (strncasecmp(u, "https://", 8) == 0 ? 8 : 7);
    size_t n = strcspn(p, "#");
    char *k = xstrndup(p, n);
    size_t host_end = strcspn(k, "/?");
    for (size_t i = 0; i < host_end; i++)
        if (k[i] >= 'A' && k[i] <= 'Z')
            k[i] = (char)(k[i] - 'A' + 'a');
    if (n > 0 && k[n - 1] == '/')
        k[n - 1] = '\0';
    return k;
}

/* ---------------------------------------------------------------- HTTP */

struct fetch {
    struct buf body;
    int too_big;
    int cancelled;
    const struct websearch_opts *o;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct fetch *f = ud;
    size_t n = size * nmemb;
    if (buf_add(&f->body, p, n) != RC_OK) {
        f->too_big = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct fetch *f = ud;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (f->o && f->o->cancel && f->o->cancel(f->o->cancel_ctx)) {
        f->cancelled = 1;
        return 1;
    }
    return 0;
}

/* Appends "&name=value" with value URL-encoded. */
static int add_param(struct buf *u, CURL *h, const char *name, const char *value)
{
    char *esc = curl_easy_escape(h, value, (int)strlen(value));
    if (!esc)
        return RC_INTERNAL;
    int rc = buf_addf(u, "&%s=%s", name, esc);
    curl_free(esc);
    return rc;
}

/* Builds {base}/search?q=…&format=json&… into u. */
static int build_url(struct buf *u, CURL *h, const char *base, const char *query,
                     const struct websearch_opts *o)
{
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char *q = curl_easy_escape(h, query, (int)strlen(query));
    if (!q)
        return RC_INTERNAL;
    int rc = buf_add(u, base, blen);
    if (rc == RC_OK)
        rc = buf_addf(u, "/search?q=%s&format=json", q);
    curl_free(q);
    const char *lang = o && o->language ? o->language : "zh-CN";
    if (rc == RC_OK && lang[0])
        rc = add_param(u, h, "language", lang);
    if (rc == RC_OK && o && o->categories && o->categories[0])
        rc = add_param(u, h, "categories", o->categories);
    if (rc == RC_OK && o && o->safesearch >= 1 && o->safesearch <= 2)
        rc = buf_addf(u, "&safesearch=%d", o->safesearch);
    return rc;
}

/* Checks the configured base URL: http(s), no query or fragment, no
 * spaces or control characters. */
static int base_ok(const char *b)
{
    size_t n = strlen(b);
    return url_ok(b, n) && !strchr(b, '?') && !strchr(b, '#');
}

/* ---------------------------------------------------------------- parse */

/* The string member `key` of o, or NULL (with *n = 0) when absent or not a
 * string. */
static const char *str_field(json_t *o, const char *key, size_t *n)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        *n = 0;
        return NULL;
    }
    *n = json_string_length(v);
    return json_string_value(v);
}

/* Parses the body into out, keeping at most cap results. RC_UPSTREAM when
 * it is not {"results":[…]}. */
static int parse_results(const char *p, size_t n, size_t cap, struct websearch_results *out,
                         struct buf *err)
{
    char *repaired = NULL;
    json_t *root = NULL;
    char **keys = NULL;
    int rc = RC_UPSTREAM;
    if (!utf8_valid(p, n)) {
        /* A broken instance may send invalid bytes inside strings; jansson
         * would refuse the whole body. Repair them (JSON syntax is ASCII,
         * so this cannot change the structure). */
        struct buf r = BUF_INIT;
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t used = utf8_decode(p + i, n - i, &cp);
            if (used == 1 && cp == 0xFFFD)
                (void)buf_adds(&r, "\xEF\xBF\xBD");
            else
                (void)buf_add(&r, p + i, used);
            i += used;
        }
        size_t len;
        repaired = buf_detach(&r, &len);
        p = repaired;
        n = len;
    }
    json_error_t je;
    root = json_loadb(p, n, 0, &je);
    json_t *arr = json_object_get(root, "results");
    if (!json_is_object(root) || !json_is_array(arr)) {
        seterr(err, "网络搜索服务返回的不是预期的 JSON / the web search service did not return the "
                    "expected JSON");
        goto out;
    }
    out->items = xcalloc(cap ? cap : 1, sizeof *out->items);
    keys = xcalloc(cap ? cap : 1, sizeof *keys);
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
    {
        if (out->n >= cap)
            break;
        if (!json_is_object(r))
            continue;
        size_t ulen, tlen, clen, elen;
        const char *url = str_field(r, "url", &ulen);
        if (!url || !url_ok(url, ulen) || strlen(url) != ulen)
            continue;
        char *key = url_key(url);
        int dup = 0;
        for (size_t k = 0; k < out->n && !dup; k++)
            dup = strcmp(keys[k], key) == 0;
        if (dup) {
            free(key);
            continue;
        }
        const char *title = str_field(r, "title", &tlen);
        const char *content = str_field(r, "content", &clen);
        const char *engine = str_field(r, "engine", &elen);
        struct websearch_result *w = &out->items[out->n];
        w->url = xstrndup(url, ulen);
        w->title = websearch_clean_text(title, tlen < MAX_FIELD_IN ? tlen : MAX_FIELD_IN,
                                        WEBSEARCH_TITLE_CHARS);
        if (!w->title[0]) {
            free(w->title);
            w->title = websearch_clean_text(url, ulen, WEBSEARCH_TITLE_CHARS);
        }
        w->snippet = websearch_clean_text(content, clen < MAX_FIELD_IN ? clen : MAX_FIELD_IN,
                                          WEBSEARCH_SNIPPET_CHARS);
        w->engine = websearch_clean_text(engine, elen < 256 ? elen : 256, 64);
        json_t *score = json_object_get(r, "score");
        w->score = json_is_number(score) ? json_number_value(score) : 0.0;
        keys[out->n++] = key;
    }
    rc = RC_OK;
out:
    if (keys) {
        for (size_t k = 0; k < out->n; k++)
            free(keys[k]);
        free(keys);
    }
    json_decref(root);
    free(repaired);
    return rc;
}

/* ---------------------------------------------------------------- query */

int websearch_query(const struct config *cfg, const char *query, const struct websearch_opts *o,
                    struct websearch_results *out, struct buf *err)
{
    struct fetch f = {BUF_INIT, 0, 0, o};
    struct buf url = BUF_INIT;
    CURL *h = NULL;
    int rc = RC_OK;
    double t0 = now_ms();
    memset(out, 0, sizeof *out);
    /* max one byte under the cap so the buffer's doubling stops at exactly
     * WEBSEARCH_MAX_BODY bytes of memory. */
    buf_init(&f.body, WEBSEARCH_MAX_BODY - 1);

    if (!websearch_enabled(cfg)) {
        rc = RC_UNSUPPORTED;
        seterr(err, "网络搜索未启用 / web search is not enabled");
        goto out;
    }
    if (!base_ok(cfg->websearch_url)) {
        rc = RC_INVALID;
        seterr(err, "websearch_url 必须是 http:// 或 https:// 地址 / websearch_url must be an "
                    "http:// or https:// URL without a query");
        goto out;
    }
    size_t qlen = query ? strlen(query) : 0;
    size_t qstart = 0;
    while (qstart < qlen && (query[qstart] == ' ' || query[qstart] == '\t' ||
                             query[qstart] == '\n' || query[qstart] == '\r'))
        qstart++;
    if (qstart == qlen || qlen > WEBSEARCH_MAX_QUERY || !utf8_valid(query, qlen)) {
        rc = RC_INVALID;
        seterr(err, "搜索词为空、过长或不是 UTF-8 / the search query is empty, too long or not "
                    "UTF-8");
        goto out;
    }
    size_t cap = (size_t)(cfg->websearch_results > 0 ? cfg->websearch_results : DEF_RESULTS);
    if (o && o->max_results > 0)
        cap = (size_t)o->max_results;
    if (cap > WEBSEARCH_MAX_RESULTS)
        cap = WEBSEARCH_MAX_RESULTS;
    long timeout = cfg->websearch_timeout_ms > 0 ? cfg->websearch_timeout_ms : DEF_TIMEOUT_MS;

    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK || !(h = curl_easy_init())) {
        rc = RC_INTERNAL;
        seterr(err, "libcurl 初始化失败 / libcurl could not be initialised");
        goto out;
    }
    if ((rc = build_url(&url, h, cfg->websearch_url, query, o)) != RC_OK) {
        rc = RC_INTERNAL;
        seterr(err, "无法构造搜索地址 / could not build the search URL");
        goto out;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    int ok = hdrs && curl_easy_setopt(h, CURLOPT_URL, buf_str(&url)) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
             curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
             curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                 CURLE_OK &&
#endif
             curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_USERAGENT, "atrium-websearch/1") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WEBSEARCH_MAX_BODY) ==
                 CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEDATA, &f) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_XFERINFODATA, &f) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
    if (!ok) {
        curl_slist_free_all(hdrs);
        rc = RC_INTERNAL;
        seterr(err, "libcurl 选项设置失败 / could not set libcurl options");
        goto out;
    }
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    long status = 0;
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        status = 0;
    if (f.cancelled) {
        out->cancelled = 1;
        rc = RC_OK;
        goto out;
    }
    if (f.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = RC_UPSTREAM;
        seterr(err,
               "网络搜索结果过大（超过 %d MB）/ the web search response is too big (over %d MB)",
               WEBSEARCH_MAX_BODY >> 20, WEBSEARCH_MAX_BODY >> 20);
        goto out;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = RC_TIMEOUT;
        seterr(err, "网络搜索超时（%ld ms）/ web search timed out (%ld ms)", timeout, timeout);
        goto out;
    }
    if (cc != CURLE_OK) {
        /* curl_easy_strerror is generic: it never holds the URL (nor the query). */
        rc = RC_UPSTREAM;
        seterr(err, "网络搜索服务不可用 / the web search service failed: %s",
               curl_easy_strerror(cc));
        goto out;
    }
    if (status != 200) {
        rc = RC_UPSTREAM;
        if (status == 403)
            seterr(err,
                   "网络搜索服务拒绝了 JSON 请求（HTTP 403，请在 settings.yml 中启用 json 格式）"
                   "/ the web search service refused JSON (HTTP 403: enable the json format "
                   "in settings.yml)");
        else
            seterr(err, "网络搜索服务返回 HTTP %ld / the web search service returned HTTP %ld",
                   status, status);
        goto out;
    }
    rc = parse_results(f.body.p ? f.body.p : "", f.body.len, cap, out, err);
out:
    if (rc != RC_OK)
        websearch_results_release(out);
    out->latency_ms = now_ms() - t0;
    if (rc == RC_OK && !out->cancelled)
        log_info("websearch: %zu results in %.0f ms", out->n, out->latency_ms);
    else if (rc == RC_OK)
        log_info("websearch: cancelled after %.0f ms", out->latency_ms);
    else if (rc != RC_UNSUPPORTED)
        log_warn("websearch: failed (%s) after %.0f ms", rc_code(rc), out->latency_ms);
    if (h)
        curl_easy_cleanup(h);
    buf_release(&url);
    buf_release(&f.body);
    return rc;
}

void websearch_results_release(struct websearch_results *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].title);
        free(r->items[i].url);
        free(r->items[i].snippet);
        free(r->items[i].engine);
    }
    free(r->items);
    r->items = NULL;
    r->n = 0;
}

/* ---------------------------------------------------------------- views */

json_t *websearch_results_json(const struct websearch_results *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; r && i < r->n; i++) {
        const struct websearch_result *w = &r->items[i];
        json_array_append_new(arr, json_pack("{sI ss ss ss ss}", "n", (json_int_t)(i + 1), "title",
                                             w->title, "url", w->url, "snippet", w->snippet,
                                             "engine", w->engine));
    }
    return arr;
}

int websearch_prompt(const struct websearch_results *r, int first, struct buf *out)
{
    struct buf line = BUF_INIT;
    int rc = RC_OK;
    if (first < 1)
        first = 1;
    for (size_t i = 0; r && i < r->n && rc == RC_OK; i++) {
        const struct websearch_result *w = &r->items[i];
        buf_reset(&line);
        if (w->snippet[0])
            (void)buf_addf(&line, "[%d] %s \xE2\x80\x94 %s (%s)\n", first + (int)i, w->title,
                           w->snippet, w->url);
        else
            (void)buf_addf(&line, "[%d] %s (%s)\n", first + (int)i, w->title, w->url);
        rc = buf_add(out, line.p, line.len);
    }
    buf_release(&line);
    return rc;
}

json_t *websearch_citations_json(const struct websearch_results *r, int first, const char *answer)
{
    json_t *arr = json_array();
    if (first < 1)
        first = 1;
    for (size_t i = 0; r && i < r->n; i++) {
        const struct websearch_result *w = &r->items[i];
        int k = first + (int)i;
        if (answer) {
            char marker[24];
            snprintf(marker, sizeof marker, "[%d]", k);
            if (!strstr(answer, marker))
                continue;
        }
        json_array_append_new(arr, json_pack("{si ss ss ss ss ss}", "n", k, "kind", "web", "url",
                                             w->url, "title", w->title, "snippet", w->snippet,
                                             "engine", w->engine));
    }
    return arr;
}
