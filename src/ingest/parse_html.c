/* HTML through libxml2's forgiving HTML parser: h1-h6 become headings,
 * block elements (p, div, li, ...) and <br> delimit paragraphs, data tables
 * become DOC_TABLE; script/style/nav and similar are skipped. Bytes are
 * decoded to UTF-8 first (meta charset, else UTF-8, else GB18030). */
#include "ingest/ingest_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>

#include "common/alloc.h"
#include "common/rc.h"

static int in_list(const xmlNode *n, const char *const *names)
{
    if (!n || n->type != XML_ELEMENT_NODE || !n->name)
        return 0;
    for (size_t i = 0; names[i]; i++)
        if (strcasecmp((const char *)n->name, names[i]) == 0)
            return 1;
    return 0;
}

static const char *const skip_tags[] = {"script",   "style",  "nav",    "noscript", "template",
                                        "svg",      "iframe", "object", "select",   "button",
                                        "textarea", "math",   NULL};
static const char *const block_tags[] = {
    "p",          "div",        "li",      "ul",      "ol",      "dl",     "dt",     "dd",
    "blockquote", "pre",        "section", "article", "main",    "header", "footer", "aside",
    "figure",     "figcaption", "address", "hr",      "tr",      "td",     "th",     "form",
    "fieldset",   "center",     "body",    "html",    "caption", "table",  "tbody",  "thead",
    "tfoot",      "details",    "summary", "legend",  NULL};
static const char *const heading_tags[] = {"h1", "h2", "h3", "h4", "h5", "h6", NULL};

/* --- text of a subtree ---------------------------------------------------- */

struct gather {
    struct buf *b;
};

static int gather_enter(void *ctx, xmlNode *n)
{
    struct gather *g = ctx;
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content)
            (void)buf_adds(g->b, (const char *)n->content); /* capped by the caller's buf */
        return 0;
    }
    if (n->type != XML_ELEMENT_NODE && n->type != XML_HTML_DOCUMENT_NODE)
        return 0;
    if (in_list(n, skip_tags))
        return 0;
    if (in_list(n, block_tags) || ingest_xml_is(n, "br"))
        (void)buf_addc(g->b, ' ');
    return 1;
}

static void gather_leave(void *ctx, xmlNode *n)
{
    struct gather *g = ctx;
    if (in_list(n, block_tags) || in_list(n, heading_tags))
        (void)buf_addc(g->b, ' ');
}

static void node_text(xmlNode *n, struct buf *b)
{
    struct gather g = {b};
    ingest_xml_walk(n, gather_enter, gather_leave, &g);
}

/* --- tables --------------------------------------------------------------- */

struct probe {
    xmlNode *root;
    int layout;
};

static int probe_enter(void *ctx, xmlNode *n)
{
    struct probe *p = ctx;
    if (n != p->root && (ingest_xml_is(n, "table") || in_list(n, heading_tags)))
        p->layout = 1;
    return !p->layout && n->type == XML_ELEMENT_NODE;
}

struct rows {
    xmlNode *root;
    struct ingest_tb tb;
    size_t cur; /* the next column in the current row */
};

static int rows_enter(void *ctx, xmlNode *n)
{
    struct rows *r = ctx;
    if (n->type != XML_ELEMENT_NODE || (n != r->root && ingest_xml_is(n, "table")) ||
        in_list(n, skip_tags) || r->tb.too_big)
        return 0;
    if (ingest_xml_is(n, "td") || ingest_xml_is(n, "th")) {
        struct buf b;
        buf_init(&b, (size_t)1 << 20);
        node_text(n, &b);
        size_t len;
        ingest_tb_cell(&r->tb, r->cur++, buf_detach(&b, &len));
        return 0;
    }
    return 1;
}

static void rows_leave(void *ctx, xmlNode *n)
{
    struct rows *r = ctx;
    if (ingest_xml_is(n, "tr")) {
        ingest_tb_end_row(&r->tb);
        r->cur = 0;
    }
}

/* Adds the table at n; returns 0 when it is a layout table to walk as blocks. */
static int add_table(struct doc *out, xmlNode *n)
{
    struct probe pr = {n, 0};
    ingest_xml_walk(n, probe_enter, NULL, &pr);
    if (pr.layout)
        return 0;
    struct rows r = {.root = n};
    ingest_xml_walk(n, rows_enter, rows_leave, &r);
    ingest_tb_finish(&r.tb, out);
    return 1;
}

/* --- the document walk ---------------------------------------------------- */

struct html {
    struct doc *out;
    struct buf para, title, h1;
};

static void flush(struct html *h)
{
    if (h->para.len)
        doc_add_para(h->out, h->para.p, h->para.len);
    buf_reset(&h->para);
}

static int html_enter(void *ctx, xmlNode *n)
{
    struct html *h = ctx;
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content)
            (void)buf_adds(&h->para, (const char *)n->content); /* capped */
        return 0;
    }
    if (n->type == XML_HTML_DOCUMENT_NODE || n->type == XML_DOCUMENT_NODE)
        return 1;
    if (n->type != XML_ELEMENT_NODE || in_list(n, skip_tags))
        return 0;
    if (ingest_xml_is(n, "title")) {
        if (h->title.len == 0)
            node_text(n, &h->title);
        return 0;
    }
    if (in_list(n, heading_tags)) {
        flush(h);
        struct buf t;
        buf_init(&t, (size_t)1 << 20);
        node_text(n, &t);
        doc_add_heading(h->out, n->name[1] - '0', buf_str(&t), t.len);
        if (n->name[1] == '1' && h->h1.len == 0)
            (void)buf_add(&h->h1, t.p ? t.p : "", t.len);
        buf_release(&t);
        return 0;
    }
    if (ingest_xml_is(n, "br")) {
        flush(h);
        return 0;
    }
    if (ingest_xml_is(n, "table")) {
        flush(h);
        if (add_table(h->out, n))
            return 0;
    }
    if (in_list(n, block_tags))
        flush(h);
    return 1;
}

static void html_leave(void *ctx, xmlNode *n)
{
    struct html *h = ctx;
    if (in_list(n, block_tags))
        flush(h);
}

/* The charset named by a <meta> in the first bytes, into cs; 0 if none. */
static int meta_charset(const char *p, size_t n, char *cs, size_t cap)
{
    size_t m = n < 4096 ? n : 4096;
    for (size_t i = 0; i + 8 <= m; i++) {
        if (strncasecmp(p + i, "charset=", 8) != 0)
            continue;
        size_t j = i + 8, k = 0;
        while (j < m && (p[j] == '"' || p[j] == '\'' || p[j] == ' '))
            j++;
        while (j < m && k + 1 < cap &&
               ((p[j] >= 'a' && p[j] <= 'z') || (p[j] >= 'A' && p[j] <= 'Z') ||
                (p[j] >= '0' && p[j] <= '9') || p[j] == '-' || p[j] == '_'))
            cs[k++] = p[j++];
        cs[k] = '\0';
        return k > 0;
    }
    return 0;
}

int ingest_parse_html(const char *name, const char *p, size_t n, struct doc *out, struct buf *err)
{
    char *u = NULL;
    size_t len = 0;
    htmlDocPtr hd = NULL;
    struct html h = {.out = out};
    buf_init(&h.para, (size_t)16 << 20);
    buf_init(&h.title, (size_t)64 << 10); /* doc_set_title keeps 200 characters */
    buf_init(&h.h1, (size_t)64 << 10);
    char cs[48];
    struct buf scratch = BUF_INIT;
    int rc = RC_PARSE;
    /* The declared charset first; pages that lie about it are usually GBK. */
    if (meta_charset(p, n, cs, sizeof cs))
        rc = ingest_to_utf8(p, n, cs, &u, &len, &scratch);
    buf_release(&scratch);
    if (rc)
        rc = ingest_to_utf8(p, n, NULL, &u, &len, err);
    if (rc)
        goto out;
    if (len > INT_MAX) {
        ingest_errf(err, "HTML 文件过大 / HTML file too large");
        rc = RC_TOO_BIG;
        goto out;
    }
    hd = htmlReadMemory(u, (int)len, NULL, "UTF-8",
                        HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                            HTML_PARSE_RECOVER | HTML_PARSE_COMPACT);
    if (!hd) {
        ingest_errf(err, "HTML 文件无法解析 / cannot parse HTML file");
        rc = RC_PARSE;
        goto out;
    }
    ingest_xml_walk((xmlNode *)hd, html_enter, html_leave, &h);
    flush(&h);
    if (h.title.len)
        doc_set_title(out, h.title.p, h.title.len);
    if (out->title[0] == '\0' && h.h1.len)
        doc_set_title(out, h.h1.p, h.h1.len);
    if (out->title[0] == '\0')
        ingest_title_from_name(out, name);
out:
    if (hd)
        xmlFreeDoc(hd);
    buf_release(&h.para);
    buf_release(&h.title);
    buf_release(&h.h1);
    free(u);
    return rc;
}
