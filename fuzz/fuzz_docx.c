/* libFuzzer driver for the zip-based parsers: the input is tried (1) as a
 * whole .docx file and (2) as the XML inside a well-formed zip, so the XML
 * walks are reached without the fuzzer having to fix zip CRCs: as
 * word/document.xml of a docx, or as the sheet of a minimal xlsx (chosen by
 * the first byte). Not built by the Makefile: compile with clang
 * -fsanitize=fuzzer,address,undefined, the pkg-config flags of libxml-2.0
 * libzip poppler-glib jansson icu-uc icu-i18n libsodium, and every .c in
 * src/ingest and src/common plus src/text/utf8.c and src/text/cnum.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "common/buf.h"
#include "ingest/doc.h"
#include "ingest/ingest.h"

static void parse(enum ingest_type t, const void *data, size_t size)
{
    struct buf err = BUF_INIT;
    struct doc d;
    doc_init(&d);
    int rc = ingest_parse(t, "fuzz.docx", data, size, &d, &err);
    (void)rc; /* any result is fine; crashes, leaks and hangs are not */
    doc_release(&d);
    buf_release(&err);
}

/* Zips {name, data} pairs in memory; returns a malloc'd archive or NULL. */
static void *zip_mem(const char **names, const void **datas, const size_t *lens, size_t n,
                     size_t *out_len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    void *out = NULL;
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!za)
        goto out;
    zip_source_keep(src);
    for (size_t i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(za, datas[i], lens[i], 0);
        if (!s || zip_file_add(za, names[i], s, 0) < 0) {
            zip_source_free(s);
            zip_discard(za);
            goto out;
        }
        zip_set_file_compression(za, (zip_uint64_t)i, ZIP_CM_STORE, 0);
    }
    if (zip_close(za) != 0) {
        zip_discard(za);
        goto out;
    }
    zip_stat_t st;
    if (zip_source_stat(src, &st) != 0 || zip_source_open(src) != 0)
        goto out;
    out = malloc(st.size ? st.size : 1);
    zip_int64_t got = zip_source_read(src, out, st.size);
    zip_source_close(src);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        free(out);
        out = NULL;
    } else {
        *out_len = st.size;
    }
out:
    if (src)
        zip_source_free(src);
    zip_error_fini(&ze);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum ingest_type t = ingest_detect("fuzz.docx", data, size);
    parse(INGEST_DOCX, data, size);
    if (t == INGEST_XLSX)
        parse(INGEST_XLSX, data, size);
    if (size == 0 || size > 1 << 20)
        return 0;
    size_t zlen = 0;
    void *z;
    if (data[0] & 1) {
        const char *names[] = {"word/document.xml", "word/styles.xml", "word/numbering.xml"};
        const void *datas[] = {data + 1, data + 1, data + 1};
        const size_t lens[] = {size - 1, size - 1, size - 1};
        z = zip_mem(names, datas, lens, 3, &zlen);
        if (z)
            parse(INGEST_DOCX, z, zlen);
    } else {
        static const char wb[] = "<workbook><sheets><sheet name=\"s\" r:id=\"rId1\" "
                                 "xmlns:r=\"r\"/></sheets></workbook>";
        const char *names[] = {"xl/workbook.xml", "xl/worksheets/sheet1.xml",
                               "xl/sharedStrings.xml", "xl/styles.xml"};
        const void *datas[] = {wb, data + 1, data + 1, data + 1};
        const size_t lens[] = {sizeof wb - 1, size - 1, size - 1, size - 1};
        z = zip_mem(names, datas, lens, 4, &zlen);
        if (z)
            parse(INGEST_XLSX, z, zlen);
    }
    free(z);
    return 0;
}
