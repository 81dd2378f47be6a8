/* Web search for the assistant: a client for a SearXNG instance's JSON API
 * (GET {websearch_url}/search?q=…&format=json) that returns a few clean,
 * capped, de-duplicated results, and helpers that turn them into numbered
 * sources for a prompt and into "web" citations beside the KB's.
 *
 * Numbering (the choice made here): web sources continue the KB numbering.
 * The assistant numbers its KB hits [1]..[n] and passes first = n + 1 to
 * websearch_prompt / websearch_citations_json, so the model sees one marker
 * syntax ([k]) and one parser maps markers to citations; each citation says
 * its kind ("web" here) so the UI can tell a web page from a bank document.
 *
 * Privacy: the query is sent to the SearXNG server (on the bank's network)
 * and is never logged; only "a search happened", latency and counts are.
 * Masking PII in the query is the caller's job (text/pii.h), before this. */
#ifndef ATRIUM_WEBSEARCH_H
#define ATRIUM_WEBSEARCH_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/config.h"

#define WEBSEARCH_MAX_BODY (2 * 1024 * 1024) /* a bigger response is RC_UPSTREAM */
#define WEBSEARCH_SNIPPET_CHARS 300          /* snippets are cut to this many characters */
#define WEBSEARCH_TITLE_CHARS 200            /* titles too */
#define WEBSEARCH_MAX_QUERY 2000             /* query bytes; longer is RC_INVALID */
#define WEBSEARCH_MAX_RESULTS 50             /* upper bound on any results cap */

/* One result. Every string is owned by the result set, valid UTF-8 with no
 * control characters, and never NULL: title and snippet are plain text (tags
 * and entities removed, whitespace collapsed; title falls back to the URL),
 * url is an absolute http:// or https:// URL, engine may be "". */
struct websearch_result {
    char *title;
    char *url;
    char *snippet;
    char *engine;
    double score; /* SearXNG's score, 0 when absent */
};

struct websearch_results {
    struct websearch_result *items; /* best first, as SearXNG ranked them */
    size_t n;
    double latency_ms; /* time spent on the HTTP call */
    int cancelled;     /* set when opts->cancel stopped the call */
};

/* Optional request parameters; pass NULL for the defaults. */
struct websearch_opts {
    const char *language;   /* NULL: "zh-CN"; "": not sent (SearXNG default) */
    const char *categories; /* e.g. "general,news"; NULL or "": not sent */
    int safesearch;         /* 1 moderate, 2 strict; anything else: not sent (instance default) */
    int max_results;        /* <= 0: cfg->websearch_results; capped at WEBSEARCH_MAX_RESULTS */
    /* Polled during the transfer (often while data flows, about once a
     * second at worst while the server is silent); returning
     * non-zero aborts it: websearch_query then returns RC_OK with
     * out->cancelled set and no results. NULL: never cancelled. */
    int (*cancel)(void *ctx);
    void *cancel_ctx;
};

/* True when web search is configured (cfg->websearch_url is not empty). */
int websearch_enabled(const struct config *cfg);

/* Runs one search. cfg gives websearch_url (the SearXNG base URL, http or
 * https, an optional path prefix, no query part), websearch_timeout_ms
 * (connect and total; <= 0 takes 3000) and websearch_results (the cap when
 * opts->max_results is not set; <= 0 takes 5). The query is URL-encoded;
 * redirects are not followed; the body is capped at WEBSEARCH_MAX_BODY.
 * Results with a non-http(s) URL or a URL already seen are dropped, the
 * rest sanitised as described on struct websearch_result, then capped.
 * out is always initialised (empty on failure) and must be released.
 * Returns RC_OK (possibly with zero results), RC_UNSUPPORTED when web
 * search is off (empty websearch_url), RC_INVALID for a bad base URL or an
 * empty, non-UTF-8 or over-long query, RC_UPSTREAM (connect error, HTTP
 * status other than 200, a redirect, a body that is not the expected JSON,
 * a body over the cap), RC_TIMEOUT. err (may be NULL) gets a
 * "中文 / English" message appended that never contains the query.
 * Safe to call from several threads at once. */
int websearch_query(const struct config *cfg, const char *query, const struct websearch_opts *o,
                    struct websearch_results *out, struct buf *err);

/* Frees the strings and the array; r is empty and reusable afterwards.
 * Safe on an initialised-but-empty or already-released set. */
void websearch_results_release(struct websearch_results *r);

/* The API view: [{"n":1,"title","url","snippet","engine"}, …], numbered
 * from 1. New reference, never NULL. */
json_t *websearch_results_json(const struct websearch_results *r);

/* Appends the results as numbered sources for a prompt, one per line:
 *   "[k] title — snippet (url)\n"  with k = first, first + 1, …
 * (first < 1 is taken as 1). Nothing is appended for zero results.
 * Returns RC_OK or RC_TOO_BIG (out's cap; out then holds whole lines only). */
int websearch_prompt(const struct websearch_results *r, int first, struct buf *out);

/* The citations for an answer, numbered like websearch_prompt:
 * [{"n":k,"kind":"web","url","title","snippet","engine"}, …]. When answer
 * is not NULL only the results whose exact marker "[k]" occurs in it are
 * listed ("[4,5]" or "[4-5]" lists are not parsed). New reference, never
 * NULL. */
json_t *websearch_citations_json(const struct websearch_results *r, int first, const char *answer);

/* The text clean-up used on results, exposed for tests and fuzzing:
 * repairs invalid UTF-8 (each bad byte becomes U+FFFD); removes HTML tags
 * (block-level ones such as <br> and </p> become a space, inline ones such
 * as <span> nothing), comments and <script>/<style> with their content;
 * decodes entities (&amp; &lt; &gt; &quot; &apos; &nbsp; … &#NNN; &#xHH;);
 * drops zero-width and bidi control characters; turns control characters
 * and runs of whitespace into one space; trims; and cuts to max_chars code
 * points on a character boundary (the last being "…" when cut). p may be
 * NULL (n is then ignored). Returns a malloc'd string, never NULL. */
char *websearch_clean_text(const char *p, size_t n, size_t max_chars);

#endif
