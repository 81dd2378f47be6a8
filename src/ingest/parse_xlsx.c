/* XLSX (SpreadsheetML) from memory: each sheet becomes a level-1 heading
 * (its name) and a DOC_TABLE whose first row is the header. Shared and
 * inline strings, numbers, booleans, dates (by cell style); cell references place values in the
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

/* Shared strings, packed: string i is text.p + off[i] (NUL-terminated).
 * One allocation per string would cost ~40 bytes for each 5-byte <si/>
 * (a 100 MB sharedStrings.xml became gigabytes); packed, memory stays
 * within about twice the XML's size. */
struct strs {
    struct buf text;
    size_t *off;
    size_t n, cap;
};

static void strs_add(struct strs *s, const char *t, size_t len)
{
    s->off = xgrow(s->off, &s->cap, s->n + 1, sizeof *s->off);
    s->off[s->n++] = s->text.len;
    if (buf_add(&s->text, t, len) != RC_OK || buf_addc(&s->text, '\0') != RC_OK)
        abort(); /* BUF_NOMAX: only running out of memory fails, and xmalloc aborts on that */
}

static const char *strs_get(const struct strs *s, size_t i)
{
    return s->text.p + s->off[i];
}

static void strs_free(struct strs *s)
{
    buf_release(&s->text);
    free(s->off);
    s->off = NULL;
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
                    strs_add(ss, "", 0);
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
                strs_add(ss, buf_str(&cur), cur.len);
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

/* Which cell styles (xl/styles.xml cellXfs, by index) show dates. */
struct dates {
    unsigned char *is_date;
    size_t n;
    int epoch1904;
};

static int builtin_date_fmt(long id)
{
    return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) ||
           (id >= 50 && id <= 58);
}

/* A custom format shows a date or time when it has y/m/d/h/s outside
 * quotes, brackets ([Red], [$-804]) and escapes. */
static int custom_date_fmt(const char *code)
{
    for (size_t i = 0; code && code[i]; i++) {
        char c = code[i];
        if (c == '"') {
            while (code[i + 1] && code[i + 1] != '"')
                i++;
            if (code[i + 1])
                i++;
        } else if (c == '[') {
            while (code[i + 1] && code[i + 1] != ']')
                i++;
        } else if (c == '\\' && code[i + 1]) {
            i++;
        } else if (strchr("yYmMdDhHsS", c)) {
            return 1;
        }
    }
    return 0;
}

#define MAX_FMTS 1024

static void load_dates(const struct buf *part, struct dates *dt)
{
    long custom[MAX_FMTS];
    size_t ncustom = 0, cap = 0;
    xmlDoc *xd = ingest_xml_read(part->p, part->len);
    xmlNode *root = xd ? xmlDocGetRootElement(xd) : NULL;
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next) {
        if (ingest_xml_is(c, "numFmts")) {
            for (xmlNode *f = c->children; f && ncustom < MAX_FMTS; f = f->next) {
                int64_t id;
                const char *sid = ingest_xml_attr(f, "numFmtId");
                if (ingest_xml_is(f, "numFmt") && sid && parse_i64(sid, 0, 100000, &id) == RC_OK &&
                    custom_date_fmt(ingest_xml_attr(f, "formatCode")))
                    custom[ncustom++] = (long)id;
            }
        } else if (ingest_xml_is(c, "cellXfs")) {
            for (xmlNode *x = c->children; x && dt->n < 65536; x = x->next) {
                if (!ingest_xml_is(x, "xf"))
                    continue;
                int64_t id = -1;
                const char *sid = ingest_xml_attr(x, "numFmtId");
                if (sid && parse_i64(sid, 0, 100000, &id) != RC_OK)
                    id = -1;
                int date = builtin_date_fmt((long)id);
                for (size_t k = 0; k < ncustom && !date; k++)
                    date = custom[k] == (long)id;
                dt->is_date = xgrow(dt->is_date, &cap, dt->n + 1, 1);
                dt->is_date[dt->n++] = (unsigned char)date;
            }
        }
    }
    if (xd)
        xmlFreeDoc(xd);
}

/* Excel serial day number -> "2024-01-01", "2024-01-01 12:30" or
 * "08:15:00"; 0 when out of range (then the number is shown). */
static int format_date(double v, int epoch1904, char *out, size_t cap)
{
    if (!(v >= 0 && v < 2958466))
        return 0;
    long days = (long)v;
    long secs = (long)((v - (double)days) * 86400 + 0.5);
    if (secs >= 86400)
        days++, secs = 0;
    int k;
    if (days == 0 && !epoch1904) {
        k = snprintf(out, cap, "%02ld:%02ld:%02ld", secs / 3600, secs / 60 % 60, secs % 60);
        return k > 0 && (size_t)k < cap;
    }
    /* days since 1970-01-01, then civil_from_days (H. Hinnant's algorithm) */
    long z = days + (epoch1904 ? -24107 : -25569) + 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    long y = yoe + era * 400 + (m <= 2);
    if (secs == 0)
        k = snprintf(out, cap, "%04ld-%02ld-%02ld", y, m, d);
    else if (secs % 60 == 0)
        k = snprintf(out, cap, "%04ld-%02ld-%02ld %02ld:%02ld", y, m, d, secs / 3600,
                     secs / 60 % 60);
    else
        k = snprintf(out, cap, "%04ld-%02ld-%02ld %02ld:%02ld:%02ld", y, m, d, secs / 3600,
                     secs / 60 % 60, secs % 60);
    return k > 0 && (size_t)k < cap;
}

struct sheet {
    const struct strs *ss;
    const struct dates *dates;
    long style; /* the cell's s attribute, -1 when absent */
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
            v = strs_get(s->ss, (size_t)idx);
        else
            v = "";
    } else if (strcmp(s->type, "b") == 0) {
        v = strcmp(v, "1") == 0 ? "TRUE" : "FALSE";
    } else if (s->type[0] == '\0' || strcmp(s->type, "n") == 0) {
        double d;
        if (v[0] && parse_double(v, &d) == RC_OK) {
            int date =
                s->style >= 0 && (size_t)s->style < s->dates->n && s->dates->is_date[s->style];
            if (date && format_date(d, s->dates->epoch1904, num, sizeof num)) {
                v = num;
            } else {
                /* 15 significant digits undo binary noise like 0.30000000000000004 */
                int k = snprintf(num, sizeof num, "%.15g", d);
                if (k > 0 && (size_t)k < sizeof num)
                    v = num;
            }
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
                xmlChar *st = xmlTextReaderGetAttribute(r, (const xmlChar *)"s");
                int64_t style;
                s->style = st && parse_i64((const char *)st, 0, 1 << 20, &style) == RC_OK
                               ? (long)style
                               : -1;
                xmlFree(st);
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
    struct strs ss = {.text = BUF_INIT};
    struct dates dates = {0};
    struct buf part = BUF_INIT;
    xmlDoc *wb = NULL, *rels = NULL;
    struct sheet_ref *refs = NULL;
    size_t nrefs = 0, cap = 0, total = 0;
    zip_uint64_t budget = INGEST_ZIP_TOTAL_MAX;
    zip_t *za = ingest_zip_open(p, n);
    if (!za && ingest_zip_too_many(p, n)) {
        ingest_errf(err, "%s 文件条目过多 / too many entries in %s file", "XLSX", "XLSX");
        rc = RC_TOO_BIG;
        goto out;
    }
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
        if (ingest_xml_is(c, "workbookPr")) {
            const char *e = ingest_xml_attr(c, "date1904");
            dates.epoch1904 = e && (strcmp(e, "1") == 0 || strcmp(e, "true") == 0);
        }
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
    /* Styles only tell which numbers are dates: optional, failures ignored. */
    struct buf scratch = BUF_INIT;
    if (ingest_zip_read(za, "xl/styles.xml", &budget, "XLSX", &part, &scratch) == RC_OK)
        load_dates(&part, &dates);
    buf_release(&scratch);
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
        struct sheet s = {.ss = &ss, .dates = &dates};
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
    free(dates.is_date);
    if (wb)
        xmlFreeDoc(wb);
    if (rels)
        xmlFreeDoc(rels);
    if (za)
        zip_discard(za);
    buf_release(&part);
    return rc;
}
