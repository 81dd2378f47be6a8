/* DOCX (WordprocessingML) from memory: libzip with size caps, libxml2
 * without entity expansion. w:p -> paragraphs (w:br splits them), heading
 * styles (by style id or resolved through word/styles.xml) -> headings,
 * w:tbl -> tables, text boxes after their paragraph; automatic numbering
 * labels (第一条, （一）) are rendered in front of the text (docx_num.c). */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"

#define MAX_STYLES 256 /* heading styles kept; a linear lookup per paragraph */
#define MAX_TXBX_DEPTH 3

struct style {
    char *id;
    int level;   /* heading level, 0 for none */
    long num_id; /* style-linked numbering (w:numPr), 0 for none */
    int ilvl;
};

struct docx {
    struct doc *out;
    struct ingest_numbering *numbering;
    struct style *styles;
    size_t nstyles, cap;
    int txbx_depth;
};

/* "heading 1", "Heading1", "标题 1", "1" .. "9", "Title" -> level; else 0. */
static int level_from_name(const char *s)
{
    if (!s)
        return 0;
    while (*s == ' ')
        s++;
    const char *rest = NULL;
    if (strncasecmp(s, "heading", 7) == 0)
        rest = s + 7;
    else if (strncmp(s, "标题", strlen("标题")) == 0)
        rest = s + strlen("标题");
    else if (strcasecmp(s, "title") == 0)
        return 1;
    else
        rest = s;
    while (*rest == ' ')
        rest++;
    if (rest[0] >= '1' && rest[0] <= '9' && rest[1] == '\0')
        return rest[0] - '0';
    return 0;
}

static const struct style *find_style(const struct docx *x, const char *id)
{
    for (size_t i = 0; id && i < x->nstyles; i++)
        if (strcmp(x->styles[i].id, id) == 0)
            return &x->styles[i];
    return NULL;
}

static int style_level(const struct docx *x, const char *id)
{
    const struct style *s = find_style(x, id);
    return s ? s->level : level_from_name(id);
}

static xmlNode *child(xmlNode *n, const char *local)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (ingest_xml_is(c, local))
            return c;
    return NULL;
}

static int outline_level(xmlNode *ppr)
{
    const char *v = ingest_xml_attr(child(ppr, "outlineLvl"), "val");
    if (v && v[0] >= '0' && v[0] <= '8' && v[1] == '\0')
        return v[0] - '0' + 1;
    return 0;
}

/* w:numPr: sets *num_id (0 switches numbering off) and *ilvl when present;
 * returns 1 when the element names a list. */
static int num_pr(const xmlNode *np, long *num_id, int *ilvl)
{
    const char *id = ingest_xml_attr(child((xmlNode *)np, "numId"), "val");
    const char *lv = ingest_xml_attr(child((xmlNode *)np, "ilvl"), "val");
    int64_t v;
    if (lv && parse_i64(lv, 0, 8, &v) == RC_OK)
        *ilvl = (int)v;
    if (!id || parse_i64(id, 0, 1L << 30, &v) != RC_OK)
        return 0;
    *num_id = (long)v;
    return 1;
}

static void load_styles(struct docx *x, const char *p, size_t n)
{
    xmlDoc *xd = ingest_xml_read(p, n);
    if (!xd)
        return; /* broken styles only cost us heading names */
    xmlNode *root = xmlDocGetRootElement(xd);
    for (xmlNode *s = root ? root->children : NULL; s && x->nstyles < MAX_STYLES; s = s->next) {
        if (!ingest_xml_is(s, "style"))
            continue;
        const char *id = ingest_xml_attr(s, "styleId");
        if (!id)
            continue;
        int level = level_from_name(ingest_xml_attr(child(s, "name"), "val"));
        if (!level)
            level = outline_level(child(s, "pPr"));
        long num_id = 0;
        int ilvl = 0;
        num_pr(child(child(s, "pPr"), "numPr"), &num_id, &ilvl);
        if (!level && !num_id)
            continue;
        x->styles = xgrow(x->styles, &x->cap, x->nstyles + 1, sizeof *x->styles);
        x->styles[x->nstyles].id = xstrdup(id);
        x->styles[x->nstyles].level = level;
        x->styles[x->nstyles].num_id = num_id;
        x->styles[x->nstyles].ilvl = ilvl;
        x->nstyles++;
    }
    xmlFreeDoc(xd);
}

/* --- text of runs ----------------------------------------------------------- */

struct runs {
    struct buf *b;
    int in_cell;       /* breaks become spaces */
    xmlNode *txbx[16]; /* text boxes met on the way, walked after */
    size_t ntxbx;
};

static int runs_enter(void *ctx, xmlNode *n)
{
    struct runs *r = ctx;
    if (n->type != XML_ELEMENT_NODE)
        return 0;
    if (ingest_xml_is(n, "t")) {
        for (xmlNode *c = n->children; c; c = c->next)
            if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
                (void)buf_adds(r->b, (const char *)c->content); /* capped buf */
        return 0;
    }
    if (ingest_xml_is(n, "tab") || ingest_xml_is(n, "ptab")) {
        (void)buf_addc(r->b, ' ');
        return 0;
    }
    if (ingest_xml_is(n, "br") || ingest_xml_is(n, "cr")) {
        (void)buf_addc(r->b, r->in_cell ? ' ' : '\n');
        return 0;
    }
    if (ingest_xml_is(n, "noBreakHyphen")) {
        (void)buf_addc(r->b, '-');
        return 0;
    }
    if (ingest_xml_is(n, "txbxContent")) {
        if (r->ntxbx < sizeof r->txbx / sizeof *r->txbx)
            r->txbx[r->ntxbx++] = n;
        return 0;
    }
    /* Fallback repeats mc:Choice; pPr/rPr hold no text; instrText and
     * delText are field codes and deleted text. */
    if (ingest_xml_is(n, "Fallback") || ingest_xml_is(n, "pPr") || ingest_xml_is(n, "rPr") ||
        ingest_xml_is(n, "instrText") || ingest_xml_is(n, "delText"))
        return 0;
    return 1;
}

static void runs_leave(void *ctx, xmlNode *n)
{
    struct runs *r = ctx;
    if (ingest_xml_is(n, "p"))
        (void)buf_addc(r->b, r->in_cell ? ' ' : '\n');
}

static void walk_body(struct docx *x, xmlNode *root);

static void walk_txbx(struct docx *x, struct runs *r)
{
    if (x->txbx_depth >= MAX_TXBX_DEPTH)
        return;
    x->txbx_depth++;
    for (size_t i = 0; i < r->ntxbx; i++)
        for (xmlNode *c = r->txbx[i]->children; c; c = c->next)
            walk_body(x, c);
    x->txbx_depth--;
}

static void paragraph(struct docx *x, xmlNode *p)
{
    struct buf b;
    buf_init(&b, (size_t)16 << 20);
    xmlNode *ppr = child(p, "pPr");
    int level = 0;
    const char *sid = ingest_xml_attr(child(ppr, "pStyle"), "val");
    if (sid)
        level = style_level(x, sid);
    if (!level)
        level = outline_level(ppr);
    if (x->numbering) { /* the paragraph's own numPr wins over its style's */
        const struct style *st = find_style(x, sid);
        long num_id = st ? st->num_id : 0;
        int ilvl = st ? st->ilvl : 0;
        num_pr(child(ppr, "numPr"), &num_id, &ilvl);
        if (num_id > 0)
            ingest_num_label(x->numbering, num_id, ilvl, &b);
    }
    struct runs r = {.b = &b};
    for (xmlNode *c = p->children; c; c = c->next)
        ingest_xml_walk(c, runs_enter, runs_leave, &r);
    if (level) {
        doc_add_heading(x->out, level, buf_str(&b), b.len);
    } else {
        const char *s = buf_str(&b);
        size_t i = 0;
        while (i < b.len) {
            const char *nl = memchr(s + i, '\n', b.len - i);
            size_t end = nl ? (size_t)(nl - s) : b.len;
            doc_add_para(x->out, s + i, end - i);
            i = end + 1;
        }
    }
    buf_release(&b);
    walk_txbx(x, &r);
}

struct tbl {
    struct ingest_tb tb;
    size_t cur; /* the next column in the current row */
};

static int tbl_enter(void *ctx, xmlNode *n)
{
    struct tbl *t = ctx;
    if (n->type != XML_ELEMENT_NODE || t->tb.too_big)
        return 0;
    if (ingest_xml_is(n, "tc")) {
        struct buf b;
        buf_init(&b, (size_t)1 << 20);
        struct runs r = {.b = &b, .in_cell = 1};
        for (xmlNode *c = n->children; c; c = c->next)
            ingest_xml_walk(c, runs_enter, runs_leave, &r);
        size_t len;
        ingest_tb_cell(&t->tb, t->cur++, buf_detach(&b, &len));
        return 0;
    }
    if (ingest_xml_is(n, "tblPr") || ingest_xml_is(n, "tblGrid") || ingest_xml_is(n, "trPr"))
        return 0;
    return 1;
}

static void tbl_leave(void *ctx, xmlNode *n)
{
    struct tbl *t = ctx;
    if (ingest_xml_is(n, "tr")) {
        ingest_tb_end_row(&t->tb);
        t->cur = 0;
    }
}

static void table(struct docx *x, xmlNode *n)
{
    struct tbl t = {.cur = 0};
    ingest_xml_walk(n, tbl_enter, tbl_leave, &t);
    ingest_tb_finish(&t.tb, x->out);
}

static int body_enter(void *ctx, xmlNode *n)
{
    struct docx *x = ctx;
    if (n->type != XML_ELEMENT_NODE)
        return 0;
    if (ingest_xml_is(n, "p")) {
        paragraph(x, n);
        return 0;
    }
    if (ingest_xml_is(n, "tbl")) {
        table(x, n);
        return 0;
    }
    if (ingest_xml_is(n, "Fallback") || ingest_xml_is(n, "sectPr"))
        return 0;
    return 1;
}

static void walk_body(struct docx *x, xmlNode *root)
{
    ingest_xml_walk(root, body_enter, NULL, x);
}

int ingest_parse_docx(const char *name, const char *p, size_t n, struct doc *out, struct buf *err)
{
    int rc = RC_OK;
    struct docx x = {.out = out};
    struct buf part = BUF_INIT;
    xmlDoc *xd = NULL;
    zip_uint64_t budget = INGEST_ZIP_TOTAL_MAX;
    zip_t *za = ingest_zip_open(p, n);
    if (!za && ingest_zip_too_many(p, n)) {
        ingest_errf(err, "%s 文件条目过多 / too many entries in %s file", "DOCX", "DOCX");
        rc = RC_TOO_BIG;
        goto out;
    }
    if (!za) {
        ingest_errf(err, "DOCX 文件已损坏 / broken DOCX file: not a readable zip archive");
        rc = RC_PARSE;
        goto out;
    }
    rc = ingest_zip_check(za, "DOCX", err);
    if (rc)
        goto out;
    rc = ingest_zip_read(za, "word/document.xml", &budget, "DOCX", &part, err);
    if (rc == RC_NOT_FOUND) {
        ingest_errf(err, "DOCX 文件已损坏 / broken DOCX file: word/document.xml is missing");
        rc = RC_PARSE;
    }
    if (rc)
        goto out;
    xd = ingest_xml_read(part.p, part.len);
    if (!xd) {
        ingest_errf(err, "DOCX 文件已损坏 / broken DOCX file: word/document.xml is not valid XML");
        rc = RC_PARSE;
        goto out;
    }
    /* Styles and core properties are optional: failures only cost names. */
    struct buf aux = BUF_INIT, scratch = BUF_INIT;
    if (ingest_zip_read(za, "word/styles.xml", &budget, "DOCX", &aux, &scratch) == RC_OK)
        load_styles(&x, aux.p, aux.len);
    if (ingest_zip_read(za, "word/numbering.xml", &budget, "DOCX", &aux, &scratch) == RC_OK)
        x.numbering = ingest_num_load(aux.p, aux.len);
    ingest_core_title(za, &budget, out);
    buf_release(&aux);
    buf_release(&scratch);
    xmlNode *root = xmlDocGetRootElement(xd);
    xmlNode *body = child(root, "body");
    if (body)
        walk_body(&x, body);
    if (out->title[0] == '\0') {
        for (size_t i = 0; i < out->nblocks; i++)
            if (out->blocks[i].kind == DOC_HEADING) {
                doc_set_title(out, out->blocks[i].text, strlen(out->blocks[i].text));
                break;
            }
    }
    if (out->title[0] == '\0')
        ingest_title_from_name(out, name);
out:
    ingest_num_free(x.numbering);
    for (size_t i = 0; i < x.nstyles; i++)
        free(x.styles[i].id);
    free(x.styles);
    if (xd)
        xmlFreeDoc(xd);
    if (za)
        zip_discard(za);
    buf_release(&part);
    return rc;
}
