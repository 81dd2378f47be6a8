/* libFuzzer driver: arbitrary bytes through ingest_detect and the DOCX
 * parser (and whatever type detection picks). Not built by the Makefile:
 * see the build line in docs or the ingest report. */
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "ingest/doc.h"
#include "ingest/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf err = BUF_INIT;
    struct doc d;
    enum ingest_type t = ingest_detect("fuzz.docx", data, size);
    doc_init(&d);
    int rc = ingest_parse(INGEST_DOCX, "fuzz.docx", data, size, &d, &err);
    (void)rc; /* any result is fine; crashes, leaks and hangs are not */
    doc_release(&d);
    if (t != INGEST_DOCX && t != INGEST_PDF) {
        doc_init(&d);
        rc = ingest_parse(t, "fuzz.docx", data, size, &d, &err);
        doc_release(&d);
    }
    buf_release(&err);
    return 0;
}
