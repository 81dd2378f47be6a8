/* libFuzzer driver: arbitrary bytes through ingest_detect and the HTML
 * parser (plus the text and Markdown parsers, which share the decoding).
 * Not built by the Makefile; build like fuzz_docx.c (see its header). */
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "ingest/doc.h"
#include "ingest/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum ingest_type types[] = {INGEST_HTML, INGEST_MD, INGEST_TXT};
    struct buf err = BUF_INIT;
    enum ingest_type t = ingest_detect("fuzz.html", data, size);
    (void)t;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        struct doc d;
        doc_init(&d);
        int rc = ingest_parse(types[i], "fuzz.html", data, size, &d, &err);
        (void)rc; /* any result is fine; crashes, leaks and hangs are not */
        doc_release(&d);
        buf_reset(&err);
    }
    buf_release(&err);
    return 0;
}
