/* Tests for src/assist/websearch: the SearXNG client against
 * tests/fake_searxng.py (results, caps, URL encoding, sanitising, failures,
 * the size cap, timeouts, cancel) and the prompt and citation helpers. */
#include "test.h"

#include "fake_searxng.h"

#include "assist/websearch.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/utf8.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A config pointing at the fake (or at `url` when not NULL). */
static struct config ws_config(const struct fake_searxng *fs, const char *url, int results,
                               int timeout_ms)
{
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.websearch_url = (char *)(url ? url : fs->base_url);
    cfg.websearch_results = results;
    cfg.websearch_timeout_ms = timeout_ms;
    return cfg;
}

/* The params of the last recorded /search request (new reference) or NULL. */
static json_t *last_params(const struct fake_searxng *fs)
{
    json_t *all = fake_searxng_requests(fs), *out = NULL;
    size_t n = json_array_size(all);
    if (n > 0)
        out = json_incref(json_object_get(json_array_get(all, n - 1), "params"));
    json_decref(all);
    return out;
}

/* True when every string of r is valid UTF-8 without control characters. */
static int clean_strings(const struct websearch_results *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *s[4] = {r->items[i].title, r->items[i].url, r->items[i].snippet,
                            r->items[i].engine};
        for (int k = 0; k < 4; k++) {
            if (!s[k] || !utf8_valid(s[k], strlen(s[k])))
                return 0;
            for (const char *p = s[k]; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7F)
                    return 0;
        }
    }
    return 1;
}

TEST(websearch_results_parsed_and_capped)
{
    const struct fake_searxng *fs = fake_searxng_shared("ok", 8, 0);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 3, 3000);
    struct websearch_results r;
    struct buf err = BUF_INIT;
    CHECK_INT(websearch_query(&cfg, "票据法", NULL, &r, &err), RC_OK);
    CHECK_INT(r.n, 3);
    if (r.n == 3) {
        CHECK_STR(r.items[0].title, "结果 1：票据法");
        CHECK_STR(r.items[0].url, "https://example.com/r/1");
        CHECK_STR(r.items[0].snippet, "关于 票据法 的第 1 条摘要。");
        CHECK_STR(r.items[0].engine, "bing");
        CHECK(r.items[0].score > 9.9 && r.items[0].score < 10.1);
        CHECK_STR(r.items[2].url, "https://example.com/r/3");
    }
    CHECK(r.latency_ms >= 0);
    CHECK(!r.cancelled);
    /* The defaults went out: JSON format and zh-CN. */
    json_t *p = last_params(fs);
    CHECK_STR(json_string_value(json_object_get(p, "format")), "json");
    CHECK_STR(json_string_value(json_object_get(p, "language")), "zh-CN");
    CHECK(json_object_get(p, "categories") == NULL);
    CHECK(json_object_get(p, "safesearch") == NULL);
    json_decref(p);
    websearch_results_release(&r);
    CHECK(r.items == NULL && r.n == 0);
    websearch_results_release(&r); /* twice is safe */

    /* opts->max_results overrides the config; a trailing '/' on the base is fine. */
    char base[96];
    snprintf(base, sizeof base, "%s/", fs->base_url);
    cfg = ws_config(fs, base, 3, 3000);
    struct websearch_opts o = {"en", "general,news", 1, 6, NULL, NULL};
    CHECK_INT(websearch_query(&cfg, "q", &o, &r, &err), RC_OK);
    CHECK_INT(r.n, 6);
    p = last_params(fs);
    CHECK_STR(json_string_value(json_object_get(p, "language")), "en");
    CHECK_STR(json_string_value(json_object_get(p, "categories")), "general,news");
    CHECK_STR(json_string_value(json_object_get(p, "safesearch")), "1");
    json_decref(p);
    websearch_results_release(&r);

    /* Fewer results than the cap; the config's 0 takes the default of 5. */
    fs = fake_searxng_shared("ok", 2, 0);
    cfg = ws_config(fs, NULL, 0, 0);
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, &err), RC_OK);
    CHECK_INT(r.n, 2);
    websearch_results_release(&r);
    fs = fake_searxng_shared("ok", 9, 0);
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, &err), RC_OK);
    CHECK_INT(r.n, 5);
    websearch_results_release(&r);
    buf_release(&err);
}

TEST(websearch_query_url_encoded)
{
    const struct fake_searxng *fs = fake_searxng_shared("ok", 1, 0);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 5, 3000);
    static const char *const queries[] = {
        "个人存款 利率",
        "a&b=c?d#e+f g%20h",
        "中国人民银行 & 存款保险?#+",
        "line\nbreak/slash;semi",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        struct websearch_results r;
        CHECK_INT(websearch_query(&cfg, queries[i], NULL, &r, NULL), RC_OK);
        json_t *p = last_params(fs);
        /* The server decoded exactly the query we sent, and no extra
         * parameter was smuggled in by '&' or cut off by '#'. */
        CHECK_STR(json_string_value(json_object_get(p, "q")), queries[i]);
        CHECK_STR(json_string_value(json_object_get(p, "format")), "json");
        CHECK_INT(json_object_size(p), 3); /* q, format, language */
        json_decref(p);
        CHECK_INT(r.n, 1);
        if (r.n == 1) {
            char want[256];
            snprintf(want, sizeof want, "结果 1：%s", queries[i]);
            if (!strchr(queries[i], '\n'))
                CHECK_STR(r.items[0].title, want);
            else /* the newline is folded into a space by the sanitiser */
                CHECK_STR(r.items[0].title, "结果 1：line break/slash;semi");
        }
        websearch_results_release(&r);
    }
}

TEST(websearch_html_stripped)
{
    const struct fake_searxng *fs = fake_searxng_shared("html", 0, 0);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 5, 3000);
    struct websearch_results r;
    CHECK_INT(websearch_query(&cfg, "贷款", NULL, &r, NULL), RC_OK);
    CHECK_INT(r.n, 3);
    if (r.n == 3) {
        CHECK_STR(r.items[0].title, "贷款 & 更多");
        /* tags gone, entities decoded (the decoded "<注意>" stays text),
         * nbsp a space, <script> and its content dropped */
        CHECK_STR(r.items[0].snippet, "前文 贷款 后文 <注意> 中文 结束");
        CHECK_STR(r.items[1].snippet, "第一行 第二行 第三段 多余 空白");
        /* 500 characters cut to 300 on a character boundary, with "…" */
        CHECK_INT(utf8_count(r.items[2].snippet, strlen(r.items[2].snippet)),
                  WEBSEARCH_SNIPPET_CHARS);
        size_t n = strlen(r.items[2].snippet);
        CHECK(n >= 3 && strcmp(r.items[2].snippet + n - 3, "…") == 0);
        CHECK(strncmp(r.items[2].snippet, "长长长", 9) == 0);
    }
    CHECK(clean_strings(&r));
    websearch_results_release(&r);
}

TEST(websearch_dirty_results_sanitised)
{
    const struct fake_searxng *fs = fake_searxng_shared("dirty", 0, 0);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 20, 3000);
    struct websearch_results r;
    struct buf err = BUF_INIT;
    /* Raw invalid UTF-8 in the body is repaired, not a reason to fail. */
    CHECK_INT(websearch_query(&cfg, "测试", NULL, &r, &err), RC_OK);
    /* kept: r/4 (its two duplicates and ftp:, javascript:, relative, a
     * number, a space in the URL dropped), the bare one, the bad-UTF-8 one */
    CHECK_INT(r.n, 3);
    if (r.n == 3) {
        CHECK_STR(r.items[0].url, "https://example.com/r/4");
        CHECK_STR(r.items[1].url, "http://example.org/bare");
        CHECK_STR(r.items[1].title, "http://example.org/bare"); /* no title: the URL */
        CHECK_STR(r.items[1].snippet, "");
        CHECK_STR(r.items[1].engine, "");
        CHECK(r.items[1].score == 0.0);
        /* one U+FFFD per bad byte: \x80, then \xE4 and \xB8 of a cut sequence */
        CHECK_STR(r.items[2].title, "bad\xEF\xBF\xBDutf\xEF\xBF\xBD\xEF\xBF\xBD-8");
    }
    CHECK(clean_strings(&r));
    for (size_t i = 0; i < r.n; i++)
        CHECK(strncmp(r.items[i].url, "http", 4) == 0);
    websearch_results_release(&r);
    buf_release(&err);
}

TEST(websearch_off_and_bad_input)
{
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    struct websearch_results r;
    struct buf err = BUF_INIT;
    CHECK(!websearch_enabled(&cfg));
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, &err), RC_UNSUPPORTED);
    CHECK_INT(r.n, 0);
    CHECK(r.items == NULL);
    CHECK_CONTAINS(buf_str(&err), "web search is not enabled");
    cfg.websearch_url = "";
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, NULL), RC_UNSUPPORTED);
    CHECK(!websearch_enabled(&cfg));

    /* Only http(s) bases, without a query part. */
    static const char *const bad[] = {"ftp://127.0.0.1/", "file:///etc/passwd",
                                      "127.0.0.1:8888",   "http://127.0.0.1/search?x=1",
                                      "http:// spaced",   "gopher://x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.websearch_url = (char *)bad[i];
        CHECK(websearch_enabled(&cfg));
        CHECK_INT(websearch_query(&cfg, "q", NULL, &r, NULL), RC_INVALID);
    }
    /* Empty, blank, over-long or non-UTF-8 queries never leave the process. */
    cfg.websearch_url = "http://127.0.0.1:9";
    char *longq = xmalloc(WEBSEARCH_MAX_QUERY + 2);
    memset(longq, 'a', WEBSEARCH_MAX_QUERY + 1);
    longq[WEBSEARCH_MAX_QUERY + 1] = '\0';
    CHECK_INT(websearch_query(&cfg, "", NULL, &r, NULL), RC_INVALID);
    CHECK_INT(websearch_query(&cfg, " \t\n", NULL, &r, NULL), RC_INVALID);
    CHECK_INT(websearch_query(&cfg, NULL, NULL, &r, NULL), RC_INVALID);
    CHECK_INT(websearch_query(&cfg, "bad\xC3", NULL, &r, NULL), RC_INVALID);
    CHECK_INT(websearch_query(&cfg, longq, NULL, &r, NULL), RC_INVALID);
    free(longq);
    buf_release(&err);
}

TEST(websearch_upstream_failures)
{
    const struct fake_searxng *fs = fake_searxng_shared("fail", 0, 0);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 5, 3000);
    struct websearch_results r;
    struct buf err = BUF_INIT;
    const char *secret = "身份证 110101199003074514";

    CHECK_INT(websearch_query(&cfg, secret, NULL, &r, &err), RC_UPSTREAM);
    CHECK_INT(r.n, 0);
    CHECK_CONTAINS(buf_str(&err), "HTTP 500");
    CHECK(!strstr(buf_str(&err), "110101199003074514")); /* never the query */

    fs = fake_searxng_shared("garbage", 0, 0);
    buf_reset(&err);
    CHECK_INT(websearch_query(&cfg, secret, NULL, &r, &err), RC_UPSTREAM);
    CHECK_CONTAINS(buf_str(&err), "expected JSON");
    CHECK(!strstr(buf_str(&err), "110101199003074514"));

    /* A redirect is not followed. */
    fs = fake_searxng_shared("redirect", 0, 0);
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, NULL), RC_UPSTREAM);
    json_t *all = fake_searxng_requests(fs);
    CHECK_INT(json_array_size(all), 1);
    json_decref(all);

    /* A wrong path prefix on the base: the HTTP status is reported. */
    buf_reset(&err);
    char base[128];
    fs = fake_searxng_shared("ok", 1, 0);
    snprintf(base, sizeof base, "%s/nosuchprefix", fs->base_url);
    cfg = ws_config(fs, base, 5, 3000);
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, &err), RC_UPSTREAM);
    CHECK_CONTAINS(buf_str(&err), "HTTP 404");

    /* Nobody listening: connect error. */
    buf_reset(&err);
    cfg = ws_config(fs, "http://127.0.0.1:9", 5, 1000);
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, &err), RC_UPSTREAM);
    CHECK_CONTAINS(buf_str(&err), "web search service failed");
    buf_release(&err);
}

TEST(websearch_empty_results)
{
    const struct fake_searxng *fs = fake_searxng_shared("empty", 0, 0);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 5, 3000);
    struct websearch_results r;
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, NULL), RC_OK);
    CHECK_INT(r.n, 0);
    json_t *j = websearch_results_json(&r);
    CHECK_INT(json_array_size(j), 0);
    json_decref(j);
    struct buf b = BUF_INIT;
    CHECK_INT(websearch_prompt(&r, 1, &b), RC_OK);
    CHECK_INT(b.len, 0);
    buf_release(&b);
    websearch_results_release(&r);
}

TEST(websearch_huge_capped)
{
    const struct fake_searxng *fs = fake_searxng_shared("huge", 0, 0);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 5, 10000);
    struct websearch_results r;
    struct buf err = BUF_INIT;
    double t0 = now_ms();
    /* The body is valid JSON: only the cap can make this fail. */
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, &err), RC_UPSTREAM);
    CHECK(now_ms() - t0 < 5000);
    CHECK_CONTAINS(buf_str(&err), "too big");
    CHECK_INT(r.n, 0);
    /* The client hung up at the cap instead of reading the 64 MB: the
     * server could only push the cap plus what the socket buffers hold. */
    long long sent = -1;
    for (int i = 0; i < 100 && sent < 0; i++) {
        json_t *all = fake_searxng_requests(fs);
        json_t *s = json_object_get(json_array_get(all, 0), "sent");
        if (json_is_integer(s))
            sent = json_integer_value(s);
        json_decref(all);
        if (sent < 0) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(sent > 0);
    CHECK(sent < 32LL * 1024 * 1024);
    buf_release(&err);
}

TEST(websearch_slow_times_out)
{
    const struct fake_searxng *fs = fake_searxng_shared("slow", 1, 2000);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 5, 300);
    struct websearch_results r;
    struct buf err = BUF_INIT;
    double t0 = now_ms();
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, &err), RC_TIMEOUT);
    double took = now_ms() - t0;
    CHECK(took >= 250 && took < 1200);
    CHECK_CONTAINS(buf_str(&err), "timed out");
    CHECK_INT(r.n, 0);
    buf_release(&err);

    /* The same server answers within a longer timeout. */
    fs = fake_searxng_shared("slow", 1, 100);
    cfg = ws_config(fs, NULL, 5, 3000);
    CHECK_INT(websearch_query(&cfg, "q", NULL, &r, NULL), RC_OK);
    CHECK_INT(r.n, 1);
    websearch_results_release(&r);
}

static int cancel_now(void *ctx)
{
    int *calls = ctx;
    return ++*calls >= 1;
}

TEST(websearch_cancel)
{
    const struct fake_searxng *fs = fake_searxng_shared("slow", 1, 2000);
    if (!fs)
        return;
    struct config cfg = ws_config(fs, NULL, 5, 3000);
    struct websearch_results r;
    int calls = 0;
    struct websearch_opts o = {NULL, NULL, 0, 0, cancel_now, &calls};
    double t0 = now_ms();
    CHECK_INT(websearch_query(&cfg, "q", &o, &r, NULL), RC_OK);
    CHECK(now_ms() - t0 < 1500);
    CHECK(r.cancelled);
    CHECK_INT(r.n, 0);
    CHECK(calls >= 1);
    websearch_results_release(&r);
}

TEST(websearch_clean_text_rules)
{
    struct {
        const char *in, *out;
        size_t max;
    } cases[] = {
        {"  a   b  ", "a b", 100},
        {"<em>x</em>&amp;y", "x&y", 100},
        {"a &lt;b&gt; c", "a <b> c", 100},
        {"1 < 2 and 3 > 2", "1 < 2 and 3 > 2", 100},
        {"&#20013;&#x6587;&#0;&#xD800;&#1114112;", "中文\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 100},
        {"&unknown; &amp &", "&unknown; &amp &", 100},
        {"x<!-- c -->y<style>p{}</style>z", "xyz", 100},
        {"<a href=\"u\">link</a> <unclosed", "link <unclosed", 100},
        {"a\x01\x7f"
         "b\tc\r\nd",
         "a b c d", 100},
        {"zero\xE2\x80\x8Bwidth\xE2\x80\xAE rtl", "zerowidth rtl", 100},
        {"\xE3\x80\x80全角\xC2\xA0空格", "全角 空格", 100},
        {"bad\xFF\xC0\x80x", "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx", 100},
        {"abcdef", "abcdef", 6},
        {"abcdefg", "abcde…", 6},
        {"中文字符测试", "中文…", 3},
        {"a bcdefg", "a…", 3}, /* no space left before the ellipsis */
        {"前文<span class=\"highlight\">贷款</span>后文", "前文贷款后文", 100},
        {"行一<br/>行二</p><p>行三", "行一 行二 行三", 100},
        {"abc", "", 0},
        {"", "", 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = websearch_clean_text(cases[i].in, strlen(cases[i].in), cases[i].max);
        CHECK_STR(s, cases[i].out);
        CHECK(utf8_valid(s, strlen(s)));
        free(s);
    }
    char *s = websearch_clean_text(NULL, 5, 10);
    CHECK_STR(s, "");
    free(s);
}

/* A hand-made result set for the view helpers. */
static void two_results(struct websearch_results *r)
{
    memset(r, 0, sizeof *r);
    r->n = 2;
    r->items = xcalloc(2, sizeof *r->items);
    r->items[0] =
        (struct websearch_result){xstrdup("人民银行公告"), xstrdup("https://pbc.example/a"),
                                  xstrdup("存款利率调整。"), xstrdup("bing"), 1.5};
    r->items[1] = (struct websearch_result){xstrdup("无摘要"), xstrdup("http://b.example/"),
                                            xstrdup(""), xstrdup(""), 0};
}

TEST(websearch_prompt_and_citations)
{
    struct websearch_results r;
    two_results(&r);

    struct buf b = BUF_INIT;
    CHECK_INT(websearch_prompt(&r, 4, &b), RC_OK);
    CHECK_STR(buf_str(&b), "[4] 人民银行公告 — 存款利率调整。 (https://pbc.example/a)\n"
                           "[5] 无摘要 (http://b.example/)\n");
    buf_reset(&b);
    CHECK_INT(websearch_prompt(&r, 0, &b), RC_OK); /* first < 1 is 1 */
    CHECK(strncmp(buf_str(&b), "[1] ", 4) == 0);
    CHECK_CONTAINS(buf_str(&b), "\n[2] ");
    buf_release(&b);

    /* A full buffer keeps whole lines only. */
    struct buf small;
    buf_init(&small, 90);
    CHECK_INT(websearch_prompt(&r, 1, &small), RC_TOO_BIG);
    CHECK(small.len > 0 && small.p[small.len - 1] == '\n');
    CHECK(!strstr(buf_str(&small), "[2]"));
    buf_release(&small);

    json_t *j = websearch_results_json(&r);
    CHECK_INT(json_array_size(j), 2);
    json_t *e = json_array_get(j, 0);
    CHECK_INT(json_integer_value(json_object_get(e, "n")), 1);
    CHECK_STR(json_string_value(json_object_get(e, "title")), "人民银行公告");
    CHECK_STR(json_string_value(json_object_get(e, "url")), "https://pbc.example/a");
    CHECK_STR(json_string_value(json_object_get(e, "snippet")), "存款利率调整。");
    CHECK_STR(json_string_value(json_object_get(e, "engine")), "bing");
    json_decref(j);

    /* All citations, numbered after 3 KB citations. */
    j = websearch_citations_json(&r, 4, NULL);
    CHECK_INT(json_array_size(j), 2);
    e = json_array_get(j, 1);
    CHECK_INT(json_integer_value(json_object_get(e, "n")), 5);
    CHECK_STR(json_string_value(json_object_get(e, "kind")), "web");
    CHECK_STR(json_string_value(json_object_get(e, "url")), "http://b.example/");
    CHECK_STR(json_string_value(json_object_get(e, "title")), "无摘要");
    json_decref(j);

    /* Only those the answer cites; "[45]" is not "[4]" nor "[5]". */
    j = websearch_citations_json(&r, 4, "利率已调整[5]，见[1]、[45]。");
    CHECK_INT(json_array_size(j), 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(j, 0), "n")), 5);
    json_decref(j);
    j = websearch_citations_json(&r, 4, "没有引用。");
    CHECK_INT(json_array_size(j), 0);
    json_decref(j);

    websearch_results_release(&r);
    j = websearch_citations_json(NULL, 1, NULL);
    CHECK_INT(json_array_size(j), 0);
    json_decref(j);
}
