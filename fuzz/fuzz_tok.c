/* libFuzzer driver for the text layer: UTF-8 validation, then (on valid
 * input) folding, match folding and the tokenizer with every flag set,
 * checking that every token's byte range lies inside the input. */
#include "common/buf.h"
#include "common/rc.h"
#include "text/norm.h"
#include "text/tok.h"
#include "text/utf8.h"

#include <stdint.h>
#include <stdlib.h>

struct fz {
    size_t n;
    size_t last_start;
    int seen;
};

static int check_tok(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                     unsigned tflags)
{
    struct fz *f = ctx;
    if (start > end || end > f->n || n == 0 || !tok)
        abort();
    if ((tflags & TOK_COLOCATED) && !f->seen)
        abort(); /* the first token can never be colocated */
    if (!utf8_valid(tok, n))
        abort();
    f->seen = 1;
    f->last_start = start;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    static const unsigned flags[] = {TOK_BIGRAMS,
                                     TOK_WORDS,
                                     TOK_UNIGRAMS,
                                     TOK_DEFAULT,
                                     TOK_BIGRAMS | TOK_UNIGRAMS,
                                     TOK_BIGRAMS | TOK_WORDS | TOK_UNIGRAMS,
                                     TOK_WORDS | TOK_UNIGRAMS,
                                     TOK_DEFAULT | TOK_EDGES};
    struct buf b;
    uint32_t cp;

    if (size > 0)
        (void)utf8_decode(p, size, &cp);
    (void)utf8_count(p, size);
    (void)utf8_prefix(p, size, size / 2);
    if (!utf8_valid(p, size)) {
        /* The tokenizer must also survive invalid bytes (they separate). */
        struct fz f = {size, 0, 0};
        (void)tok_run_ex(p, size, TOK_DEFAULT | TOK_UNIGRAMS, check_tok, &f);
        return 0;
    }
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        struct fz f = {size, 0, 0};
        if (tok_run_ex(p, size, flags[i], check_tok, &f) != RC_OK)
            abort();
    }
    buf_init(&b, 1 << 20);
    if (norm_fold(p, size, &b) == RC_OK && !utf8_valid(b.p ? b.p : "", b.len))
        abort();
    buf_release(&b);
    buf_init(&b, 1 << 20);
    if (norm_for_match(p, size, &b) == RC_OK && !utf8_valid(b.p ? b.p : "", b.len))
        abort();
    buf_release(&b);
    return 0;
}
