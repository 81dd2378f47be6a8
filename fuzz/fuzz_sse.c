/* libFuzzer driver for the SSE parser (src/llm/sse.c): the first bytes of
 * the input choose slice sizes, the rest is fed to sse_feed in those slices
 * and, separately, in one piece; both parses must give the same events.
 * Build and run (20 s):
 *   clang -std=c11 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Isrc \
 *     -fsanitize=fuzzer,address,undefined fuzz/fuzz_sse.c src/llm/sse.c src/common/[a-z]*.c \
 *     $(pkg-config --libs libsodium) -o /tmp/fuzz_sse && /tmp/fuzz_sse -max_total_time=20 */
#include "common/buf.h"
#include "common/rc.h"
#include "llm/llm.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NSIZES 8
#define STOPPED 1

/* Records every event (length-prefixed, so any byte may appear) and checks
 * the promises of the header. */
static int on_data(void *ctx, const char *p, size_t n)
{
    struct buf *log = ctx;
    if (p[n] != '\0' || n > 1024 * 1024)
        abort(); /* NUL-terminated and within the cap */
    if (buf_add(log, &n, sizeof n) != RC_OK || buf_add(log, p, n) != RC_OK)
        abort();
    /* Stop at a "stop" event to exercise the early-return path. */
    return n == 4 && memcmp(p, "stop", 4) == 0 ? STOPPED : 0;
}

/* Parses data in slices taken in turn from sizes[]; returns the final rc. */
static int parse(const uint8_t *data, size_t size, const size_t *sizes, size_t nsizes,
                 struct buf *log)
{
    struct sse_parser s;
    sse_init(&s, on_data, log);
    int rc = RC_OK;
    size_t off = 0;
    for (size_t k = 0; off < size && rc == RC_OK; k++) {
        size_t n = sizes[k % nsizes];
        if (n > size - off)
            n = size - off;
        rc = sse_feed(&s, (const char *)data + off, n);
        off += n;
    }
    if (rc == RC_OK)
        rc = sse_finish(&s);
    sse_release(&s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sizes[NSIZES];
    size_t nsizes = size < NSIZES ? size : NSIZES;
    if (nsizes == 0)
        return 0;
    for (size_t i = 0; i < nsizes; i++)
        sizes[i] = (size_t)data[i] + 1; /* 1..256 bytes per slice */
    data += nsizes;
    size -= nsizes;

    struct buf sliced = BUF_INIT, whole = BUF_INIT;
    size_t all = size ? size : 1;
    int rc1 = parse(data, size, sizes, nsizes, &sliced);
    int rc2 = parse(data, size, &all, 1, &whole);
    if (rc1 != RC_OK && rc1 != RC_TOO_BIG && rc1 != STOPPED)
        abort(); /* only the cap or our own stop may end a parse */
    if (rc1 != rc2 || sliced.len != whole.len ||
        (sliced.len && memcmp(sliced.p, whole.p, sliced.len) != 0))
        abort(); /* where the network splits the stream must not matter */
    buf_release(&sliced);
    buf_release(&whole);
    return 0;
}
