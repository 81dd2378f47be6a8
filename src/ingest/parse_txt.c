/* Plain text: every non-empty line is a paragraph (blank lines separate
 * nothing more). GB18030 input is converted; the title is the file name. */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/rc.h"

int ingest_parse_txt(const char *name, const char *p, size_t n, struct doc *out, struct buf *err)
{
    char *u = NULL;
    size_t len = 0;
    int rc = ingest_to_utf8(p, n, NULL, &u, &len, err);
    if (rc)
        goto out;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && u[end] != '\n' && u[end] != '\r')
            end++;
        doc_add_para(out, u + i, end - i); /* skips blank lines */
        i = end + 1;
    }
    ingest_title_from_name(out, name);
out:
    free(u);
    return rc;
}
