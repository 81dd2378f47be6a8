/* Markdown: ATX and setext headings, paragraphs (wrapped lines joined,
 * without a space between CJK characters), list items, fenced code, pipe
 * tables; simple inline markup is stripped and HTML comments dropped. The
 * first level-1 heading is the title (or front matter's title:). Not a
 * full CommonMark parser. */
#include "ingest/ingest_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/rc.h"

struct md {
    struct doc *out;
    struct buf para; /* the paragraph being built */
    size_t para_lines;
    int para_is_item;
    int in_comment; /* inside <!-- ... --> that spans lines */
    int have_title;
    int rc; /* sticky: RC_TOO_BIG from a buffer */
};

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

static int is_punct(char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void add(struct md *m, struct buf *b, const char *s, size_t n)
{
    if (!m->rc)
        m->rc = buf_add(b, s, n);
}

/* Length of an inline HTML tag at s ("<b>", "</span>", "<br/>"), or 0. */
static size_t tag_len(const char *s, size_t n)
{
    size_t i = 1;
    if (i < n && s[i] == '/')
        i++;
    if (i >= n || !is_alpha(s[i]))
        return 0;
    while (i < n && s[i] != '>' && s[i] != '<')
        i++;
    return i < n && s[i] == '>' ? i + 1 : 0;
}

/* The first `ch` at or after `from` in s[0..n), or n. *cache remembers the
 * last answer (SIZE_MAX: none yet): callers ask with non-decreasing `from`,
 * so a cached position at or after `from` is still the first one, and a
 * line of 100k '[' without ']' costs one scan instead of 100k. */
static size_t next_of(const char *s, size_t n, size_t from, char ch, size_t *cache)
{
    if (*cache != SIZE_MAX && *cache >= from)
        return *cache;
    const char *hit = from < n ? memchr(s + from, ch, n - from) : NULL;
    *cache = hit ? (size_t)(hit - s) : n;
    return *cache;
}

/* Copies s[0..n) to o without **bold**, __bold__, ~~strike~~, `code`
 * backticks, paired *emphasis*, links/images ([t](u) -> t), inline tags and
 * backslash escapes. Linear in n (the link searches never rescan). */
static void strip_inline(struct md *m, const char *s, size_t n, struct buf *o, int depth)
{
    static const unsigned char special[256] = {
        ['\\'] = 1, ['`'] = 1, ['*'] = 1, ['_'] = 1, ['~'] = 1, ['['] = 1, ['!'] = 1, ['<'] = 1};
    /* one cache per search, each asked with non-decreasing positions: the
     * ']' after '[', and the ')' or ']' after "](" or "][" */
    size_t singles = 0, next_rb = SIZE_MAX, next_rp = SIZE_MAX, next_rb2 = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '*' && !(i + 1 < n && s[i + 1] == '*') && !(i > 0 && s[i - 1] == '*'))
            singles++;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && is_punct(s[i + 1])) {
            add(m, o, s + i + 1, 1);
            i++;
        } else if (c == '`') {
            continue;
        } else if ((c == '*' || c == '_' || c == '~') && i + 1 < n && s[i + 1] == c) {
            i++;
        } else if (c == '*' && singles >= 2 && singles % 2 == 0) {
            continue;
        } else if ((c == '[' || (c == '!' && i + 1 < n && s[i + 1] == '[')) && depth < 4) {
            size_t a = c == '!' ? i + 2 : i + 1;
            size_t b = next_of(s, n, a, ']', &next_rb);
            size_t close = b + 1;
            if (b < n && close < n && (s[close] == '(' || s[close] == '[')) {
                char want = s[close] == '(' ? ')' : ']';
                size_t e = next_of(s, n, close + 1, want, want == ')' ? &next_rp : &next_rb2);
                if (e < n) {
                    strip_inline(m, s + a, b - a, o, depth + 1);
                    i = e;
                    continue;
                }
            }
            add(m, o, s + i, 1);
        } else if (c == '<') {
            size_t t = tag_len(s + i, n - i);
            if (t == 0) {
                add(m, o, s + i, 1);
            } else {
                const char *in = s + i + 1;
                int autolink =
                    t > 9 && (strncmp(in, "http://", 7) == 0 || strncmp(in, "https://", 8) == 0);
                if (autolink)
                    add(m, o, in, t - 2);
                else
                    add(m, o, " ", 1);
                i += t - 1;
            }
        } else {
            size_t j = i + 1; /* a run of ordinary bytes in one append */
            while (j < n && !special[(unsigned char)s[j]])
                j++;
            add(m, o, s + i, j - i);
            i = j - 1;
        }
    }
}

static void flush(struct md *m)
{
    if (m->para.len)
        doc_add_para(m->out, m->para.p, m->para.len);
    buf_reset(&m->para);
    m->para_lines = 0;
    m->para_is_item = 0;
}

static void heading(struct md *m, int level, const char *s, size_t n)
{
    struct buf h = BUF_INIT;
    strip_inline(m, s, n, &h, 0);
    size_t before = m->out->nblocks;
    doc_add_heading(m->out, level, buf_str(&h), h.len);
    if (level == 1 && !m->have_title && m->out->nblocks > before) {
        const char *t = m->out->blocks[before].text;
        doc_set_title(m->out, t, strlen(t));
        m->have_title = 1;
    }
    buf_release(&h);
}

static void para_line(struct md *m, const char *s, size_t n)
{
    struct buf l = BUF_INIT;
    strip_inline(m, s, n, &l, 0);
    if (!m->rc && l.len)
        m->rc = ingest_join_line(&m->para, l.p, l.len);
    m->para_lines++;
    buf_release(&l);
}

/* A pipe-table separator: | --- | :---: | (at least one '-', only - : | space). */
static int is_table_sep(const char *s, size_t n)
{
    size_t dashes = 0, pipes = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-')
            dashes++;
        else if (s[i] == '|')
            pipes++;
        else if (s[i] != ':' && s[i] != ' ' && s[i] != '\t')
            return 0;
    }
    return dashes >= 1 && pipes >= 1;
}

/* Splits a table row at unescaped pipes into stripped cells. */
static size_t split_row(struct md *m, const char *s, size_t n, char **cells, size_t max)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n && *s == '|')
        s++, n--;
    if (n && s[n - 1] == '|' && !(n >= 2 && s[n - 2] == '\\'))
        n--;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < max; i++) {
        if (i < n && !(s[i] == '|' && !(i > 0 && s[i - 1] == '\\')))
            continue;
        struct buf c = BUF_INIT;
        strip_inline(m, s + start, i - start, &c, 0);
        size_t len;
        cells[k++] = buf_detach(&c, &len);
        start = i + 1;
    }
    return k;
}

struct line {
    const char *p;
    size_t n;
};

static struct line line_at(const char *u, size_t len, size_t *pos)
{
    size_t i = *pos, end = i;
    while (end < len && u[end] != '\n')
        end++;
    *pos = end < len ? end + 1 : len;
    size_t n = end - i;
    if (n && u[i + n - 1] == '\r')
        n--;
    struct line l = {u + i, n};
    return l;
}

/* Removes <!-- ... --> (possibly spanning lines) from a line into o. */
static void drop_comments(struct md *m, struct line l, struct buf *o)
{
    size_t i = 0;
    buf_reset(o);
    while (i < l.n) {
        if (m->in_comment) {
            const char *e = NULL;
            for (size_t j = i; j + 3 <= l.n; j++)
                if (memcmp(l.p + j, "-->", 3) == 0) {
                    e = l.p + j;
                    break;
                }
            if (!e)
                return;
            m->in_comment = 0;
            i = (size_t)(e - l.p) + 3;
        } else if (i + 4 <= l.n && memcmp(l.p + i, "<!--", 4) == 0) {
            m->in_comment = 1;
            i += 4;
        } else {
            size_t j = i + 1; /* up to the next '<' in one append */
            while (j < l.n && l.p[j] != '<')
                j++;
            add(m, o, l.p + i, j - i);
            i = j;
        }
    }
}

static void table(struct md *m, const char *u, size_t len, struct line head, size_t *pos)
{
    char *hc[INGEST_TABLE_MAX_COLS];
    size_t ncols = split_row(m, head.p, head.n, hc, INGEST_TABLE_MAX_COLS);
    size_t nrows = 1, cap = 0;
    char **cells = xgrow(NULL, &cap, ncols, sizeof *cells);
    memcpy(cells, hc, ncols * sizeof *cells);
    (void)line_at(u, len, pos); /* the separator */
    while (*pos < len) {
        size_t save = *pos;
        struct line l = line_at(u, len, pos);
        if (is_blank(l.p, l.n) || !memchr(l.p, '|', l.n) ||
            (nrows + 1) * ncols > INGEST_TABLE_MAX_CELLS) {
            *pos = save;
            break;
        }
        cells = xgrow(cells, &cap, (nrows + 1) * ncols, sizeof *cells);
        size_t k = split_row(m, l.p, l.n, cells + nrows * ncols, ncols);
        for (; k < ncols; k++)
            cells[nrows * ncols + k] = xstrdup("");
        nrows++;
    }
    doc_add_table(m->out, nrows, ncols, cells);
}

/* Number of leading '#' when the line is an ATX heading, else 0. */
static int atx_level(const char *s, size_t n)
{
    size_t k = 0;
    while (k < n && s[k] == '#' && k < 7)
        k++;
    if (k == 0 || k > 6 || (k < n && s[k] != ' ' && s[k] != '\t'))
        return 0;
    return (int)k;
}

static int all_of(const char *s, size_t n, char c, size_t min)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == c)
            k++;
        else if (s[i] != ' ' && s[i] != '\t')
            return 0;
    }
    return k >= min;
}

/* YAML front matter ("---" ... "---" at the very top, as static site
 * generators write it): skipped, its title: taken as the document title.
 * Returns where the Markdown body starts. */
static size_t front_matter(struct md *m, const char *u, size_t len)
{
    size_t pos = 0;
    struct line l = line_at(u, len, &pos);
    if (l.n != 3 || memcmp(l.p, "---", 3) != 0)
        return 0;
    for (int i = 0; i < 100 && pos < len; i++) {
        l = line_at(u, len, &pos);
        if ((l.n == 3 && (memcmp(l.p, "---", 3) == 0 || memcmp(l.p, "...", 3) == 0))) {
            size_t scan = 0;
            (void)line_at(u, len, &scan); /* the opening --- */
            while (scan < pos) {
                struct line t = line_at(u, len, &scan);
                if (t.n > 6 && memcmp(t.p, "title:", 6) == 0 && !m->have_title) {
                    const char *v = t.p + 6;
                    size_t vn = t.n - 6;
                    while (vn && (*v == ' ' || *v == '\t'))
                        v++, vn--;
                    while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
                        vn--;
                    if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0])
                        v++, vn -= 2;
                    doc_set_title(m->out, v, vn);
                    m->have_title = m->out->title[0] != '\0';
                }
            }
            return pos;
        }
    }
    return 0; /* no closing line: an ordinary thematic break */
}

int ingest_parse_md(const char *name, const char *p, size_t n, struct doc *out, struct buf *err)
{
    char *u = NULL;
    size_t len = 0;
    struct md m = {.out = out, .para = BUF_INIT};
    struct buf clean = BUF_INIT, code = BUF_INIT;
    int rc = ingest_to_utf8(p, n, NULL, &u, &len, err);
    if (rc)
        goto out;
    size_t pos = front_matter(&m, u, len);
    char fence = 0;
    size_t fence_len = 0;
    while (pos < len && !m.rc) {
        struct line raw = line_at(u, len, &pos);
        size_t ind = 0;
        while (ind < raw.n && ind < 4 && raw.p[ind] == ' ')
            ind++;
        if (fence) {
            size_t k = 0;
            while (ind + k < raw.n && raw.p[ind + k] == fence)
                k++;
            if (k >= fence_len && is_blank(raw.p + ind + k, raw.n - ind - k)) {
                doc_add_para(out, buf_str(&code), code.len);
                buf_reset(&code);
                fence = 0;
            } else if (!m.rc) {
                m.rc = ingest_join_line(&code, raw.p, raw.n);
            }
            continue;
        }
        drop_comments(&m, raw, &clean);
        const char *s = buf_str(&clean);
        size_t sn = clean.len;
        while (sn && (*s == ' ' || *s == '\t'))
            s++, sn--;
        while (sn && *s == '>') { /* block quotes read as their content */
            s++, sn--;
            while (sn && (*s == ' ' || *s == '\t'))
                s++, sn--;
        }
        if (is_blank(s, sn)) {
            flush(&m);
            continue;
        }
        if (sn >= 3 && (memcmp(s, "```", 3) == 0 || memcmp(s, "~~~", 3) == 0)) {
            flush(&m);
            fence = s[0];
            fence_len = 0;
            while (fence_len < sn && s[fence_len] == fence)
                fence_len++;
            continue;
        }
        int level = atx_level(s, sn);
        if (level) {
            flush(&m);
            size_t a = (size_t)level, b = sn;
            while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
                b--;
            size_t h = b;
            while (h > a && s[h - 1] == '#')
                h--;
            if (h == a || s[h - 1] == ' ' || s[h - 1] == '\t')
                b = h; /* closing #s */
            heading(&m, level, s + a, b - a);
            continue;
        }
        if (m.para_lines == 1 && !m.para_is_item &&
            (all_of(s, sn, '=', 1) || all_of(s, sn, '-', 1))) {
            struct buf t = BUF_INIT;
            if (!buf_add(&t, m.para.p, m.para.len))
                heading(&m, s[0] == '=' ? 1 : 2, t.p, t.len);
            buf_release(&t);
            buf_reset(&m.para);
            m.para_lines = 0;
            continue;
        }
        if (all_of(s, sn, '-', 3) || all_of(s, sn, '*', 3) || all_of(s, sn, '_', 3)) {
            flush(&m);
            continue;
        }
        if (memchr(s, '|', sn) && pos < len) {
            size_t peek = pos;
            struct line next = line_at(u, len, &peek);
            if (is_table_sep(next.p, next.n)) {
                flush(&m);
                struct line head = {s, sn};
                table(&m, u, len, head, &pos);
                continue;
            }
        }
        if (sn >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') &&
            (s[1] == ' ' || s[1] == '\t')) {
            flush(&m);
            m.para_is_item = 1;
            para_line(&m, s + 2, sn - 2);
            continue;
        }
        size_t d = 0;
        while (d < sn && d < 9 && s[d] >= '0' && s[d] <= '9')
            d++;
        if (d && d + 1 < sn && (s[d] == '.' || s[d] == ')') && (s[d + 1] == ' ')) {
            flush(&m); /* ordered items keep their number: it is often cited */
            m.para_is_item = 1;
        }
        para_line(&m, s, sn);
    }
    if (fence)
        doc_add_para(out, buf_str(&code), code.len);
    flush(&m);
    if (m.rc) {
        rc = m.rc;
        ingest_errf(err, "Markdown 内容过大 / Markdown content too large");
        goto out;
    }
    if (!m.have_title)
        ingest_title_from_name(out, name);
out:
    buf_release(&m.para);
    buf_release(&clean);
    buf_release(&code);
    free(u);
    return rc;
}
