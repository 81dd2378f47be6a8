/* DOCX automatic numbering (word/numbering.xml): Chinese regulations often
 * let Word generate "第一条", "（一）", "1.1" labels, which live in no w:t.
 * We replay the counters in document order and render each level's
 * lvlText with its number format, so the labels reach the text. */
#include "ingest/ingest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/rc.h"
#include "common/util.h"
#include "text/cnum.h"

#define MAX_ABSTRACT 512
#define MAX_NUMS 2048
#define LEVELS 9

struct lvl {
    long start;
    char fmt[32];
    char text[64];
    char suff[8];
};

struct abstract {
    long id;
    struct lvl lvl[LEVELS];
};

struct num {
    long id, abs;
    long override[LEVELS]; /* startOverride, or -1 */
    long count[LEVELS];    /* 0: level not started since its parent moved */
};

struct ingest_numbering {
    struct abstract *abs;
    size_t nabs;
    struct num *nums;
    size_t nnums;
};

static long attr_long(const xmlNode *n, const char *name, long min, long max, long dflt)
{
    int64_t v;
    const char *s = ingest_xml_attr(n, name);
    return s && parse_i64(s, min, max, &v) == RC_OK ? (long)v : dflt;
}

static xmlNode *kid(const xmlNode *n, const char *local)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (ingest_xml_is(c, local))
            return c;
    return NULL;
}

static void copy_attr(char *dst, size_t cap, const xmlNode *n, const char *dflt)
{
    const char *v = ingest_xml_attr(n, "val");
    int k = snprintf(dst, cap, "%s", v ? v : dflt);
    if (k < 0 || (size_t)k >= cap)
        dst[0] = '\0'; /* an absurdly long value: drop it rather than cut UTF-8 */
}

struct ingest_numbering *ingest_num_load(const char *p, size_t n)
{
    xmlDoc *xd = ingest_xml_read(p, n);
    if (!xd)
        return NULL;
    struct ingest_numbering *nb = xcalloc(1, sizeof *nb);
    size_t cap_a = 0, cap_n = 0;
    xmlNode *root = xmlDocGetRootElement(xd);
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next) {
        if (ingest_xml_is(c, "abstractNum") && nb->nabs < MAX_ABSTRACT) {
            nb->abs = xgrow(nb->abs, &cap_a, nb->nabs + 1, sizeof *nb->abs);
            struct abstract *a = &nb->abs[nb->nabs++];
            memset(a, 0, sizeof *a);
            a->id = attr_long(c, "abstractNumId", 0, 1L << 30, -1);
            for (int i = 0; i < LEVELS; i++)
                a->lvl[i].start = 1;
            for (xmlNode *l = c->children; l; l = l->next) {
                long il = attr_long(l, "ilvl", 0, LEVELS - 1, -1);
                if (!ingest_xml_is(l, "lvl") || il < 0)
                    continue;
                struct lvl *v = &a->lvl[il];
                v->start = attr_long(kid(l, "start"), "val", 0, 100000, 1);
                copy_attr(v->fmt, sizeof v->fmt, kid(l, "numFmt"), "decimal");
                copy_attr(v->text, sizeof v->text, kid(l, "lvlText"), "");
                copy_attr(v->suff, sizeof v->suff, kid(l, "suff"), "tab");
            }
        } else if (ingest_xml_is(c, "num") && nb->nnums < MAX_NUMS) {
            nb->nums = xgrow(nb->nums, &cap_n, nb->nnums + 1, sizeof *nb->nums);
            struct num *m = &nb->nums[nb->nnums++];
            memset(m, 0, sizeof *m);
            m->id = attr_long(c, "numId", 0, 1L << 30, -1);
            m->abs = attr_long(kid(c, "abstractNumId"), "val", 0, 1L << 30, -1);
            for (int i = 0; i < LEVELS; i++)
                m->override[i] = -1;
            for (xmlNode *o = c->children; o; o = o->next) {
                long il = attr_long(o, "ilvl", 0, LEVELS - 1, -1);
                if (ingest_xml_is(o, "lvlOverride") && il >= 0)
                    m->override[il] = attr_long(kid(o, "startOverride"), "val", 0, 100000, -1);
            }
        }
    }
    xmlFreeDoc(xd);
    return nb;
}

void ingest_num_free(struct ingest_numbering *nb)
{
    if (!nb)
        return;
    free(nb->abs);
    free(nb->nums);
    free(nb);
}

static const char *const tiangan[] = {"甲", "乙", "丙", "丁", "戊", "己", "庚", "辛", "壬", "癸"};

/* One counter value in a w:numFmt. */
static void format_one(const char *fmt, long v, struct buf *out)
{
    char tmp[64];
    if (strncmp(fmt, "chinese", 7) == 0 || strcmp(fmt, "ideographDigital") == 0 ||
        strcmp(fmt, "japaneseCounting") == 0 || strcmp(fmt, "taiwaneseCounting") == 0) {
        size_t k = cnum_format(v, tmp, sizeof tmp);
        if (k) {
            (void)buf_add(out, tmp, k); /* label text; the caller's cap applies */
            return;
        }
    } else if (strcmp(fmt, "ideographTraditional") == 0 && v >= 1 && v <= 10) {
        (void)buf_adds(out, tiangan[v - 1]);
        return;
    } else if ((strcmp(fmt, "upperLetter") == 0 || strcmp(fmt, "lowerLetter") == 0) && v >= 1) {
        char base = fmt[0] == 'u' ? 'A' : 'a';
        for (long i = 0; i <= (v - 1) / 26 && i < 8; i++) /* Word repeats: AA, BBB */
            (void)buf_addc(out, (char)(base + (v - 1) % 26));
        return;
    } else if ((strcmp(fmt, "upperRoman") == 0 || strcmp(fmt, "lowerRoman") == 0) && v >= 1 &&
               v < 4000) {
        static const char *const r[] = {"M",  "CM", "D",  "CD", "C",  "XC", "L",
                                        "XL", "X",  "IX", "V",  "IV", "I"};
        static const long w[] = {1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1};
        for (size_t i = 0; i < 13; i++)
            for (; v >= w[i]; v -= w[i])
                for (const char *c = r[i]; *c; c++)
                    (void)buf_addc(out, fmt[0] == 'u' ? *c : (char)(*c - 'A' + 'a'));
        return;
    } else if (strncmp(fmt, "decimalEnclosedCircle", 21) == 0 && v >= 1 && v <= 20) {
        char s[4] = {'\xE2', '\x91', (char)(0xA0 + v - 1), 0}; /* U+2460 + v - 1 */
        (void)buf_adds(out, s);
        return;
    } else if (strcmp(fmt, "decimalZero") == 0) {
        if (snprintf(tmp, sizeof tmp, "%02ld", v) > 0)
            (void)buf_adds(out, tmp);
        return;
    }
    if (snprintf(tmp, sizeof tmp, "%ld", v) > 0)
        (void)buf_adds(out, tmp);
}

void ingest_num_label(struct ingest_numbering *nb, long num_id, int ilvl, struct buf *out)
{
    struct num *m = NULL;
    const struct abstract *a = NULL;
    for (size_t i = 0; nb && i < nb->nnums && !m; i++)
        if (nb->nums[i].id == num_id)
            m = &nb->nums[i];
    for (size_t i = 0; m && i < nb->nabs && !a; i++)
        if (nb->abs[i].id == m->abs)
            a = &nb->abs[i];
    if (!a || ilvl < 0 || ilvl >= LEVELS)
        return;
    const struct lvl *v = &a->lvl[ilvl];
    if (m->count[ilvl] == 0)
        m->count[ilvl] = m->override[ilvl] >= 0 ? m->override[ilvl] : v->start;
    else
        m->count[ilvl]++;
    for (int i = ilvl + 1; i < LEVELS; i++)
        m->count[i] = 0;
    if (strcmp(v->fmt, "bullet") == 0 || strcmp(v->fmt, "none") == 0)
        return; /* bullets carry no label worth indexing */
    size_t before = out->len;
    for (const char *t = v->text; *t; t++) {
        if (t[0] == '%' && t[1] >= '1' && t[1] <= '9') {
            int k = t[1] - '1';
            long c = m->count[k] ? m->count[k] : a->lvl[k].start;
            format_one(k == ilvl ? v->fmt : a->lvl[k].fmt, c, out);
            t++;
        } else {
            (void)buf_addc(out, *t);
        }
    }
    if (out->len > before && strcmp(v->suff, "nothing") != 0)
        (void)buf_addc(out, ' ');
}
