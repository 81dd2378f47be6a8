/* XLSX (SpreadsheetML) from memory: each sheet becomes a level-1 heading
 * (its name) and a DOC_TABLE whose first row is the header. Shared and
 * inline strings, numbers, booleans; cell references place values in the
 * right column; empty rows are dropped. Sheets and shared strings are read
 * with libxml2's streaming reader, so big sheets do not build a DOM. */
#include "ingest/ingest_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlreader.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"

#define MAX_SHEETS 1000
#define READER_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_COMPACT)

struct strs {
    char **v;
    size_t n, cap;
};

static void strs_free(struct strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int name_is(xmlTextReaderPtr r, const char *local)
{
    const xmlChar *ln = xmlTextReaderConstLocalName(r);
    return ln && strcmp((const char *)ln, local) == 0;
}

/* Appends the text content of the element the reader is on. */
static void add_string(xmlTextReaderPtr r, struct buf *b)
{
    xmlChar *s = xmlTextReaderReadString(r);
    if (s)
        (void)buf_adds(b, (const char *)s); /* capped buf */
    xmlFree(s);
}

static xmlTextReaderPtr reader(const struct buf *part)
{
    if (part->len > INT_MAX)
        return NULL;
    return xmlReaderForMemory(part->p, (int)part->len, NULL, NULL, READER_OPTS);
}

/* sst/si: the text of t elements, skipping phonetic runs (rPh). */
static int load_shared(const struct buf *part, struct strs *ss)
{
    int rc = RC_OK, ret = 0, rph = 0;
    struct buf cur;
    buf_init(&cur, (size_t)1 << 20);
    int in_si = 0;
    xmlTextReaderPtr r = reader(part);
    if (!r) {
        rc = RC_PARSE;
        goto out;
    }
    while ((ret = xmlTextReaderRead(r)) == 1) {
        int type = xmlTextReaderNodeType(r);
        int empty = xmlTextReaderIsEmptyElement(r);
        if (type == XML_READER_TYPE_ELEMENT) {
            if (name_is(r, "si")) {
                buf_reset(&cur);
                in_si = !empty;
                if (empty) {
                    ss->v = xgrow(ss->v, &ss->cap, ss->n + 1, sizeof *ss->v);
                    ss->v[ss->n++] = xstrdup("");
                }
            } else if (name_is(r, "rPh") && !empty) {
                rph = 1;
            } else if (in_si && !rph && name_is(r, "t") && !empty) {
                add_string(r, &cur);
            }
        } else if (type == XML_READER_TYPE_END_ELEMENT) {
            if (name_is(r, "rPh")) {
                rph = 0;
            } else if (name_is(r, "si") && in_si) {
                ss->v = xgrow(ss->v, &ss->cap, ss->n + 1, sizeof *ss->v);
                ss->v[ss->n++] = xstrdup(buf_str(&cur));
                in_si = 0;
            }
        }
    }
    if (ret < 0)
        rc = RC_PARSE;
out:
    if (r)
        xmlFreeTextReader(r);
    buf_release(&cur);
    return rc;
}

/* "AB12" -> column 27 (0-based); -1 when there are no letters. */
static long col_of(const char *ref)
{
    long c = 0;
    size_t i = 0;
    for (; ref && ref[i] >= 'A' && ref[i] <= 'Z' && i < 4; i++)
        c = c * 26 + (ref[i] - 'A' + 1);
    return i ? c - 1 : -1;
}

struct sheet {
    const struct strs *ss;
    struct ingest_tb tb;
    /* the cell being read */
    long col, next_col;
    char type[16];
    struct buf val;
};

static void end_row(struct sheet *s)
{
    ingest_tb_end_row(&s->tb);
    s->next_col = 0;
}

static void end_cell(struct sheet *s)
{
    char num[64];
    const char *v = buf_str(&s->val);
    long col = s->col >= 0 ? s->col : s->next_col;
    s->next_col = col + 1;
    if (strcmp(s->type, "s") == 0) {
        int64_t idx;
        if (parse_i64(v, 0, INT64_MAX, &idx) == RC_OK && (uint64_t)idx < s->ss->n)
            v = s->ss->v[idx];
        else
            v = "";
    } else if (strcmp(s->type, "b") == 0) {
        v = strcmp(v, "1") == 0 ? "TRUE" : "FALSE";
    } else if (s->type[0] == '\0' || strcmp(s->type, "n") == 0) {
        double d;
        if (v[0] && parse_double(v, &d) == RC_OK) {
            /* 15 significant digits undo binary noise like 0.30000000000000004 */
            int k = snprintf(num, sizeof num, "%.15g", d);
            if (k > 0 && (size_t)k < sizeof num)
                v = num;
        }
    }
    if (col >= 0 && v[0])
        ingest_tb_cell(&s->tb, (size_t)col, xstrdup(v));
    buf_reset(&s->val);
}

static int read_sheet(const struct buf *part, struct sheet *s)
{
    int rc = RC_OK, ret = 0, in_c = 0, in_is = 0, rph = 0;
    xmlTextReaderPtr r = reader(part);
    if (!r) {
        rc = RC_PARSE;
        goto out;
    }
    while (!s->tb.too_big && (ret = xmlTextReaderRead(r)) == 1) {
        int type = xmlTextReaderNodeType(r);
        int empty = xmlTextReaderIsEmptyElement(r);
        if (type == XML_READER_TYPE_ELEMENT) {
            if (name_is(r, "row")) {
                end_row(s); /* a row left open by broken input */
                if (empty)
                    end_row(s);
            } else if (name_is(r, "c")) {
                xmlChar *ref = xmlTextReaderGetAttribute(r, (const xmlChar *)"r");
                xmlChar *t = xmlTextReaderGetAttribute(r, (const xmlChar *)"t");
                s->col = col_of((const char *)ref);
                (void)snprintf(s->type, sizeof s->type, "%s", t ? (const char *)t : "");
                xmlFree(ref);
                xmlFree(t);
                buf_reset(&s->val);
                in_c = !empty;
                if (empty)
                    end_cell(s);
            } else if (in_c && name_is(r, "v") && !empty) {
                add_string(r, &s->val);
            } else if (in_c && name_is(r, "is") && !empty) {
                in_is = 1;
            } else if (in_is && name_is(r, "rPh") && !empty) {
                rph = 1;
            } else if (in_is && !rph && name_is(r, "t") && !empty) {
                add_string(r, &s->val);
            }
        } else if (type == XML_READER_TYPE_END_ELEMENT) {
            if (name_is(r, "c") && in_c) {
                end_cell(s);
                in_c = in_is = rph = 0;
            } else if (name_is(r, "is")) {
                in_is = 0;
            } else if (name_is(r, "rPh")) {
                rph = 0;
            } else if (name_is(r, "row")) {
                end_row(s);
            }
        }
    }
    if (!s->tb.too_big && ret < 0)
        rc = RC_PARSE;
    end_row(s);
out:
    if (r)
        xmlFreeTextReader(r);
    return rc;
}

struct sheet_ref {
    char *name, *rid;
};

/* Relationship id -> part name ("xl/worksheets/sheet1.xml"), or NULL. */
static char *rel_target(xmlDoc *rels, const char *rid)
{
    xmlNode *root = rels ? xmlDocGetRootElement(rels) : NULL;
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next) {
        const char *id = ingest_xml_attr(c, "Id");
        const char *target = ingest_xml_attr(c, "Target");
        if (!ingest_xml_is(c, "Relationship") || !id || !target || strcmp(id, rid) != 0)
            continue;
        struct buf b = BUF_INIT;
        if (target[0] == '/')
            (void)buf_adds(&b, target + 1);
        else
            (void)buf_addf(&b, "xl/%s", target);
        size_t len;
        return buf_detach(&b, &len);
    }
    return NULL;
}

int ingest_parse_xlsx(const char *name, const char *p, size_t n, struct doc *out, struct buf *err)
{
    int rc = RC_OK;
    struct strs ss = {0};
    struct buf part = BUF_INIT;
    xmlDoc *wb = NULL, *rels = NULL;
    struct sheet_ref *refs = NULL;
    size_t nrefs = 0, cap = 0, total = 0;
    zip_uint64_t budget = INGEST_ZIP_TOTAL_MAX;
    zip_t *za = ingest_zip_open(p, n);
    if (!za) {
        ingest_errf(err, "XLSX 文件已损坏 / broken XLSX file: not a readable zip archive");
        rc = RC_PARSE;
        goto out;
    }
    rc = ingest_zip_check(za, "XLSX", err);
    if (rc)
        goto out;
    rc = ingest_zip_read(za, "xl/workbook.xml", &budget, "XLSX", &part, err);
    if (rc == RC_NOT_FOUND) {
        ingest_errf(err, "XLSX 文件已损坏 / broken XLSX file: xl/workbook.xml is missing");
        rc = RC_PARSE;
    }
    if (rc)
        goto out;
    wb = ingest_xml_read(part.p, part.len);
    if (!wb) {
        ingest_errf(err, "XLSX 文件已损坏 / broken XLSX file: xl/workbook.xml is not valid XML");
        rc = RC_PARSE;
        goto out;
    }
    xmlNode *root = xmlDocGetRootElement(wb);
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next) {
        if (!ingest_xml_is(c, "sheets"))
            continue;
        for (xmlNode *sh = c->children; sh && nrefs < MAX_SHEETS; sh = sh->next) {
            if (!ingest_xml_is(sh, "sheet"))
                continue;
            const char *nm = ingest_xml_attr(sh, "name"), *rid = ingest_xml_attr(sh, "id");
            refs = xgrow(refs, &cap, nrefs + 1, sizeof *refs);
            refs[nrefs].name = xstrdup(nm ? nm : "");
            refs[nrefs].rid = xstrdup(rid ? rid : "");
            nrefs++;
        }
    }
    rc = ingest_zip_read(za, "xl/_rels/workbook.xml.rels", &budget, "XLSX", &part, err);
    if (rc == RC_OK)
        rels = ingest_xml_read(part.p, part.len);
    else if (rc != RC_NOT_FOUND)
        goto out;
    rc = ingest_zip_read(za, "xl/sharedStrings.xml", &budget, "XLSX", &part, err);
    if (rc == RC_OK && load_shared(&part, &ss) != RC_OK) {
        ingest_errf(err, "XLSX 文件已损坏 / broken XLSX file: xl/sharedStrings.xml");
        rc = RC_PARSE;
    }
    if (rc == RC_NOT_FOUND)
        rc = RC_OK;
    if (rc)
        goto out;
    for (size_t i = 0; i < nrefs; i++) {
        char *target = rel_target(rels, refs[i].rid);
        if (!target) {
            struct buf b = BUF_INIT;
            (void)buf_addf(&b, "xl/worksheets/sheet%zu.xml", i + 1);
            size_t len;
            target = buf_detach(&b, &len);
        }
        rc = ingest_zip_read(za, target, &budget, "XLSX", &part, err);
        free(target);
        if (rc == RC_NOT_FOUND) {
            rc = RC_OK;
            continue; /* a chart sheet or a dangling reference */
        }
        if (rc)
            goto out;
        struct sheet s = {.ss = &ss};
        s.tb.total = &total;
        buf_init(&s.val, (size_t)1 << 20);
        rc = read_sheet(&part, &s);
        if (s.tb.too_big) {
            ingest_errf(err, "XLSX 表格过大（单元格过多）/ XLSX sheet too large (too many cells)");
            rc = RC_TOO_BIG;
        } else if (rc) {
            ingest_errf(err,
                        "XLSX 文件已损坏 / broken XLSX file: sheet \"%.100s\" is not valid XML",
                        refs[i].name);
        } else if (s.tb.nrows) {
            doc_add_heading(out, 1, refs[i].name, strlen(refs[i].name));
            ingest_tb_finish(&s.tb, out);
        }
        ingest_tb_release(&s.tb);
        buf_release(&s.val);
        if (rc)
            goto out;
    }
    ingest_core_title(za, &budget, out);
    if (out->title[0] == '\0')
        ingest_title_from_name(out, name);
out:
    for (size_t i = 0; i < nrefs; i++) {
        free(refs[i].name);
        free(refs[i].rid);
    }
    free(refs);
    strs_free(&ss);
    if (wb)
        xmlFreeDoc(wb);
    if (rels)
        xmlFreeDoc(rels);
    if (za)
        zip_discard(za);
    buf_release(&part);
    return rc;
}
