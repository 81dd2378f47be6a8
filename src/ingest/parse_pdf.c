/* PDF through poppler-glib: the text of each page, cut into paragraphs at
 * blank lines, at clause markers (第X条/编/分编/部分, 一、, （一）) and after short or
 * sentence-ending lines, wider line gaps and indented first lines (from
 * poppler's character boxes); wrapped lines are joined without a space
 * between CJK characters. Page-number lines are dropped. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <poppler.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "text/utf8.h"

#define MAX_PAGES 20000

/* Display width: CJK and full-width forms count double. */
static size_t width(const char *s, size_t n)
{
    size_t w = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
        w += (utf8_is_cjk(cp) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF60))
                 ? 2
                 : 1;
    }
    return w;
}

static int starts_with(const char *s, size_t n, const char *pre, size_t *len)
{
    size_t k = strlen(pre);
    if (n < k || memcmp(s, pre, k) != 0)
        return 0;
    *len = k;
    return 1;
}

/* Skips Chinese or ASCII numerals; returns bytes consumed. */
static size_t numerals(const char *s, size_t n)
{
    static const char *const cn[] = {"一", "二", "三", "四", "五", "六", "七", "八",
                                     "九", "十", "百", "千", "零", "〇", "两", NULL};
    size_t i = 0;
    for (;;) {
        size_t k = 0;
        if (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            continue;
        }
        int hit = 0;
        for (size_t j = 0; cn[j]; j++)
            if (starts_with(s + i, n - i, cn[j], &k)) {
                i += k;
                hit = 1;
                break;
            }
        if (!hit)
            return i;
    }
}

/* 第X条/章/节/编/分编/部分, X、, （X）, (X) start a new paragraph. */
static int clause_start(const char *s, size_t n)
{
    static const char *const units[] = {"条", "章", "节", "编", "分编", "部分", NULL};
    size_t k, d;
    if (starts_with(s, n, "第", &k)) {
        d = numerals(s + k, n - k);
        for (size_t j = 0; d > 0 && units[j]; j++)
            if (starts_with(s + k + d, n - k - d, units[j], &k))
                return 1;
        return 0;
    }
    if (starts_with(s, n, "（", &k) || starts_with(s, n, "(", &k)) {
        d = numerals(s + k, n - k);
        return d > 0 && (starts_with(s + k + d, n - k - d, "）", &k) ||
                         starts_with(s + k + d, n - k - d, ")", &k));
    }
    d = numerals(s, n);
    return d > 0 && d <= 9 && starts_with(s + d, n - d, "、", &k);
}

/* "12", "- 12 -", "第 3 页", "第3页 共10页" */
static int page_number_line(const char *s, size_t n)
{
    size_t digits = 0, other = 0, i = 0;
    while (i < n) {
        size_t k;
        if (s[i] >= '0' && s[i] <= '9')
            digits++, i++;
        else if (s[i] == ' ' || s[i] == '-' || s[i] == '/')
            i++;
        else if (starts_with(s + i, n - i, "第", &k) || starts_with(s + i, n - i, "页", &k) ||
                 starts_with(s + i, n - i, "共", &k) || starts_with(s + i, n - i, "—", &k))
            i += k;
        else
            other++, i++;
    }
    return digits > 0 && other == 0;
}

static int ends_sentence(const char *s, size_t n)
{
    static const char *const ends[] = {"。", "！", "？", "；", "：", "”", "」",
                                       ".",  "!",  "?",  ";",  ":",  NULL};
    for (size_t j = 0; ends[j]; j++) {
        size_t k = strlen(ends[j]);
        if (n >= k && memcmp(s + n - k, ends[j], k) == 0)
            return 1;
    }
    return 0;
}

static void flush(struct doc *out, struct buf *para)
{
    if (para->len)
        doc_add_para(out, para->p, para->len);
    buf_reset(para);
}

/* Where each line of a page's text sits (from poppler's per-character
 * boxes): its top, its left edge, and the page's typical line step, glyph
 * height and left margin. Paragraphs show as larger steps or indented
 * first lines, which the text alone does not reveal. */
struct geo {
    double *top, *left; /* per line; top < 0 for blank lines */
    size_t nlines;
    double step, charh, minx;
    int ok;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void geometry(const char *t, const PopplerRectangle *r, guint nr, struct geo *g)
{
    size_t n = strlen(t), lines = 1, ci = 0, li = 0, nh = 0, ns = 0;
    memset(g, 0, sizeof *g);
    for (size_t i = 0; i < n; i++)
        lines += t[i] == '\n';
    g->top = xmalloc(lines * sizeof *g->top);
    g->left = xmalloc(lines * sizeof *g->left);
    double *h = xmalloc(lines * sizeof *h), *steps = xmalloc(lines * sizeof *steps);
    g->nlines = lines;
    g->minx = 1e9;
    for (size_t k = 0; k < lines; k++)
        g->top[k] = -1;
    for (size_t i = 0; i < n; ci++) {
        unsigned char c = (unsigned char)t[i];
        if (ci >= nr)
            goto out; /* boxes and text disagree: no geometry */
        if (c == '\n') {
            li++;
        } else if (c != ' ' && c != '\t' && c != '\r' && g->top[li] < 0) {
            g->top[li] = r[ci].y1;
            g->left[li] = r[ci].x1;
            h[nh++] = r[ci].y2 - r[ci].y1;
            if (r[ci].x1 < g->minx)
                g->minx = r[ci].x1;
        }
        uint32_t cp;
        i += utf8_decode(t + i, n - i, &cp);
    }
    if (ci != nr)
        goto out;
    for (size_t k = 1, prev = 0; k < lines; k++) {
        if (g->top[k] < 0)
            continue;
        if (g->top[prev] >= 0 && g->top[k] > g->top[prev])
            steps[ns++] = g->top[k] - g->top[prev];
        prev = k;
    }
    g->charh = median(h, nh);
    /* The line step inside a paragraph is the smallest regular one; a
     * median would be a paragraph gap on pages of one-line paragraphs. */
    g->step = 0;
    for (size_t k = 0; k < ns; k++)
        if (steps[k] >= 0.6 * g->charh && (g->step == 0 || steps[k] < g->step))
            g->step = steps[k];
    g->ok = g->charh > 0;
out:
    free(h);
    free(steps);
}

static void geo_release(struct geo *g)
{
    free(g->top);
    free(g->left);
}

static int blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f')
            return 0;
    return 1;
}

static int page_text(struct doc *out, struct buf *para, const char *t, const struct geo *g)
{
    int rc = RC_OK;
    size_t n = strlen(t), maxw = 0, i = 0, line = 0, prev = (size_t)-1, nb_total = 0, nb = 0;
    while (i < n) { /* the page's full line width and its non-blank lines */
        const char *nl = memchr(t + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - t) : n, w = width(t + i, end - i);
        if (w > maxw)
            maxw = w;
        nb_total += !blank_line(t + i, end - i);
        i = end + 1;
    }
    i = 0;
    for (; i < n; line++) {
        const char *nl = memchr(t + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - t) : n;
        const char *s = t + i;
        size_t sn = end - i;
        i = end + 1;
        while (sn && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f'))
            s++, sn--;
        while (sn && (s[sn - 1] == ' ' || s[sn - 1] == '\t' || s[sn - 1] == '\r'))
            sn--;
        if (sn >= 3 && memcmp(s, "\xE3\x80\x80", 3) == 0) /* an indented first line */
            flush(out, para);
        if (sn == 0) {
            flush(out, para);
            continue;
        }
        /* page numbers sit in the first or last two lines (header, footer);
         * a bare number inside the page ("2023", an amount) is content */
        nb++;
        if (page_number_line(s, sn) && (nb <= 2 || nb + 2 > nb_total))
            continue;
        if (g->ok && line < g->nlines && g->top[line] >= 0) {
            /* a wider gap above, or an indented start, opens a paragraph */
            if (prev != (size_t)-1 && g->step > 0 && g->top[line] - g->top[prev] > 1.6 * g->step)
                flush(out, para);
            if (g->left[line] - g->minx > 0.6 * g->charh)
                flush(out, para);
            prev = line;
        }
        if (clause_start(s, sn) || para->len > ((size_t)1 << 20))
            flush(out, para);
        rc = ingest_join_line(para, s, sn);
        if (rc)
            goto out;
        size_t w = width(s, sn);
        if (w * 10 < maxw * 6 || (ends_sentence(s, sn) && w * 100 < maxw * 90))
            flush(out, para);
    }
    /* A paragraph may run on to the next page; one that ends a sentence at
     * the page's end is cut there: two whole sentences are a safer guess
     * than two paragraphs glued together. */
    if (para->len && ends_sentence(para->p, para->len))
        flush(out, para);
out:
    return rc;
}

static void set_title(struct doc *out, const char *t)
{
    size_t k;
    size_t n = strlen(t);
    if (starts_with(t, n, "Microsoft Word - ", &k))
        t += k, n -= k;
    const char *dot = strrchr(t, '.');
    if (dot && (strcasecmp(dot, ".doc") == 0 || strcasecmp(dot, ".docx") == 0 ||
                strcasecmp(dot, ".wps") == 0))
        n = (size_t)(dot - t);
    if (n == 0 || strncasecmp(t, "untitled", 8) == 0 || !utf8_valid(t, n))
        return;
    doc_set_title(out, t, n);
}

int ingest_parse_pdf(const char *name, const char *p, size_t n, struct doc *out, struct buf *err)
{
    int rc = RC_OK;
    GError *gerr = NULL;
    struct buf para;
    buf_init(&para, (size_t)16 << 20);
    GBytes *bytes = g_bytes_new_static(p, n);
    PopplerDocument *pd = poppler_document_new_from_bytes(bytes, NULL, &gerr);
    if (!pd) {
        if (gerr && gerr->domain == POPPLER_ERROR && gerr->code == POPPLER_ERROR_ENCRYPTED)
            ingest_errf(err, "PDF 文件已加密，无法读取 / encrypted PDF file");
        else
            ingest_errf(err, "PDF 文件已损坏 / broken PDF file: %.200s",
                        gerr && gerr->message ? gerr->message : "cannot open");
        rc = RC_PARSE;
        goto out;
    }
    int np = poppler_document_get_n_pages(pd);
    if (np > MAX_PAGES) {
        ingest_errf(err, "PDF 页数过多（上限 %d）/ too many pages in PDF (limit %d)", MAX_PAGES,
                    MAX_PAGES);
        rc = RC_TOO_BIG;
        goto out;
    }
    for (int i = 0; i < np; i++) {
        PopplerPage *pg = poppler_document_get_page(pd, i);
        if (!pg)
            continue;
        char *t = poppler_page_get_text(pg);
        if (t && utf8_valid(t, strlen(t))) {
            PopplerRectangle *rects = NULL;
            guint nr = 0;
            struct geo g;
            if (!poppler_page_get_text_layout(pg, &rects, &nr))
                nr = 0;
            geometry(t, rects, nr, &g);
            rc = page_text(out, &para, t, &g);
            geo_release(&g);
            g_free(rects);
        }
        g_free(t);
        g_object_unref(pg);
        if (rc) {
            ingest_errf(err, "PDF 段落过长 / a PDF paragraph is too long");
            goto out;
        }
    }
    flush(out, &para);
    char *title = poppler_document_get_title(pd);
    if (title)
        set_title(out, title);
    g_free(title);
    if (out->title[0] == '\0')
        ingest_title_from_name(out, name);
out:
    if (gerr)
        g_error_free(gerr);
    if (pd)
        g_object_unref(pd);
    g_bytes_unref(bytes);
    buf_release(&para);
    return rc;
}
