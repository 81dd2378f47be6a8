/* Bounded access to zip containers held in memory (docx, xlsx) and the
 * libxml2 helpers the XML-based parsers share: safe reading options and an
 * iterative tree walk. Zip bombs are refused before anything is inflated. */
#include "ingest/ingest_int.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <libxml/parser.h>

#include "common/rc.h"

static uint64_t le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int ingest_zip_too_many(const char *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    /* The end-of-central-directory record sits in the last 22 + 65535
     * bytes (its comment is at most 65535). Every candidate that libzip
     * could accept counts (a fake record in a comment must not hide the
     * real one): its central directory lies before it and is big enough
     * for the declared entries (46 bytes each at least). Other matches
     * are chance bytes in compressed data and are ignored. */
    size_t lo = n > 22 + 65535 ? n - 22 - 65535 : 0;
    for (size_t i = n >= 22 ? n - 22 + 1 : 0; i-- > lo;) {
        if (memcmp(p + i, "PK\5\6", 4) != 0)
            continue;
        uint64_t count = le(p + i + 10, 2), size = le(p + i + 12, 4), off = le(p + i + 16, 4);
        if (count == 0xFFFF && i >= 20 && memcmp(p + i - 20, "PK\6\7", 4) == 0) {
            uint64_t z = le(p + i - 20 + 8, 8); /* the zip64 record */
            if (n >= 56 && z <= n - 56 && memcmp(p + z, "PK\6\6", 4) == 0) {
                count = le(p + z + 32, 8);
                size = le(p + z + 40, 8);
                off = le(p + z + 48, 8);
            }
        }
        if (count > INGEST_ZIP_MAX_ENTRIES && size / 46 >= count && off <= i && size <= i - off)
            return 1;
    }
    return 0;
}

zip_t *ingest_zip_open(const char *data, size_t n)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_t *za = NULL;
    zip_source_t *src = NULL;
    if (ingest_zip_too_many(data, n))
        goto out; /* libzip would build every entry first: seconds, hundreds of MB */
    src = zip_source_buffer_create(data, n, 0, &ze);
    if (!src)
        goto out;
    za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!za)
        zip_source_free(src);
out:
    zip_error_fini(&ze);
    return za;
}

int ingest_zip_check(zip_t *za, const char *what, struct buf *err)
{
    int rc = RC_OK;
    zip_int64_t num = zip_get_num_entries(za, 0);
    if (num < 0 || num > INGEST_ZIP_MAX_ENTRIES) {
        ingest_errf(err, "%s 文件条目过多 / too many entries in %s file", what, what);
        rc = RC_TOO_BIG;
        goto out;
    }
    for (zip_int64_t i = 0; i < num; i++) {
        zip_stat_t st;
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0)
            continue; /* unreadable entries fail later, if we ever need them */
        if ((st.valid & ZIP_STAT_SIZE) && st.size > INGEST_ZIP_ENTRY_MAX) {
            ingest_errf(err,
                        "%s 文件中的条目解压后过大（疑似压缩炸弹）/ an entry of the %s file "
                        "is too large when inflated (zip bomb?)",
                        what, what);
            rc = RC_TOO_BIG;
            goto out;
        }
    }
out:
    return rc;
}

int ingest_zip_read(zip_t *za, const char *name, zip_uint64_t *budget, const char *what,
                    struct buf *out, struct buf *err)
{
    int rc = RC_OK;
    zip_file_t *zf = NULL;
    zip_int64_t idx = zip_name_locate(za, name, ZIP_FL_NOCASE);
    if (idx < 0) {
        rc = RC_NOT_FOUND;
        goto out;
    }
    zip_stat_t st;
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
        ingest_errf(err, "%s 文件已损坏 / broken %s file: cannot stat %.100s", what, what, name);
        rc = RC_PARSE;
        goto out;
    }
    if (st.size > INGEST_ZIP_ENTRY_MAX || st.size > *budget) {
        ingest_errf(err,
                    "%s 文件解压后过大（疑似压缩炸弹）/ %s file too large when inflated "
                    "(zip bomb?): %.100s",
                    what, what, name);
        rc = RC_TOO_BIG;
        goto out;
    }
    if ((st.valid & ZIP_STAT_COMP_SIZE) && st.size > ((zip_uint64_t)16 << 20) &&
        st.size / (st.comp_size ? st.comp_size : 1) > INGEST_ZIP_RATIO_MAX) {
        ingest_errf(err,
                    "%s 文件压缩比异常（疑似压缩炸弹）/ suspicious compression ratio in %s "
                    "file (zip bomb?): %.100s",
                    what, what, name);
        rc = RC_TOO_BIG;
        goto out;
    }
    zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!zf) {
        ingest_errf(err, "%s 文件已损坏或已加密 / broken or encrypted %s file: %.100s", what, what,
                    name);
        rc = RC_PARSE;
        goto out;
    }
    size_t want = (size_t)st.size, got = 0;
    buf_reset(out);
    char chunk[16384];
    while (got < want) {
        size_t ask = want - got < sizeof chunk ? want - got : sizeof chunk;
        zip_int64_t r = zip_fread(zf, chunk, ask);
        if (r <= 0) {
            ingest_errf(err, "%s 文件已损坏 / broken %s file: cannot read %.100s", what, what,
                        name);
            rc = RC_PARSE;
            goto out;
        }
        rc = buf_add(out, chunk, (size_t)r);
        if (rc) {
            ingest_errf(err, "%s 文件过大 / %s file too large", what, what);
            goto out;
        }
        got += (size_t)r;
    }
    if (!out->p)
        rc = buf_add(out, "", 0); /* an empty entry is still a C string */
    *budget -= st.size;
out:
    if (zf)
        zip_fclose(zf);
    return rc;
}

xmlDoc *ingest_xml_read(const char *p, size_t n)
{
    if (n > INT_MAX)
        return NULL;
    /* No XML_PARSE_NOENT (entities stay unexpanded), no DTD loading, no
     * network; errors are ours to report, not libxml2's to print. */
    return xmlReadMemory(p, (int)n, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                             XML_PARSE_COMPACT);
}

static int has_children_to_visit(const xmlNode *n)
{
    return n->children && (n->type == XML_ELEMENT_NODE || n->type == XML_DOCUMENT_NODE ||
                           n->type == XML_HTML_DOCUMENT_NODE);
}

void ingest_xml_walk(xmlNode *root, ingest_enter_fn enter, ingest_leave_fn leave, void *ctx)
{
    xmlNode *n = root;
    while (n) {
        int down = enter(ctx, n);
        if (down && has_children_to_visit(n)) {
            n = n->children;
            continue;
        }
        if (down && leave)
            leave(ctx, n);
        /* Climb until a sibling exists; every ancestor on the way was
         * entered with 1, so it is left here. */
        while (n != root && !n->next) {
            n = n->parent;
            if (!n)
                return; /* root was not an ancestor: cannot happen */
            if (leave)
                leave(ctx, n);
        }
        if (n == root)
            break;
        n = n->next;
    }
}

int ingest_xml_is(const xmlNode *node, const char *local)
{
    return node && node->type == XML_ELEMENT_NODE && node->name &&
           strcmp((const char *)node->name, local) == 0;
}

const char *ingest_xml_attr(const xmlNode *node, const char *local)
{
    if (!node || node->type != XML_ELEMENT_NODE)
        return NULL;
    for (const xmlAttr *a = node->properties; a; a = a->next) {
        if (!a->name || strcmp((const char *)a->name, local) != 0)
            continue;
        if (a->children && a->children->type == XML_TEXT_NODE && !a->children->next &&
            a->children->content)
            return (const char *)a->children->content;
        return "";
    }
    return NULL;
}

void ingest_xml_text(const xmlNode *n, struct buf *out)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            (void)buf_adds(out, (const char *)c->content); /* the caller's cap applies */
}

void ingest_core_title(zip_t *za, zip_uint64_t *budget, struct doc *out)
{
    struct buf part = BUF_INIT, scratch = BUF_INIT, t = BUF_INIT;
    xmlDoc *xd = NULL;
    if (ingest_zip_read(za, "docProps/core.xml", budget, "ZIP", &part, &scratch) != RC_OK)
        goto out;
    xd = ingest_xml_read(part.p, part.len);
    xmlNode *root = xd ? xmlDocGetRootElement(xd) : NULL;
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next) {
        if (!ingest_xml_is(c, "title"))
            continue;
        ingest_xml_text(c, &t);
        if (t.len)
            doc_set_title(out, t.p, t.len);
        break;
    }
out:
    if (xd)
        xmlFreeDoc(xd);
    buf_release(&part);
    buf_release(&scratch);
    buf_release(&t);
}
