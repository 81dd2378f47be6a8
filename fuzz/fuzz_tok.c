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

/* Random bytes are rarely valid UTF-8, so each input is also replayed as
 * text over an alphabet of the code points the tokenizer treats specially. */
static const char *const alphabet[] = {"账",
                                       "户",
                                       "帳",
                                       "信",
                                       "用",
                                       "卡",
                                       "存",
                                       "款",
                                       "a",
                                       "Z",
                                       "0",
                                       "9",
                                       ".",
                                       ",",
                                       " ",
                                       "，",
                                       "。",
                                       "５",
                                       "Ａ",
                                       "㈠",
                                       "ﬁ",
                                       "½",
                                       "\xe2\x80\x8b",
                                       "\xf0\xa0\x80\x80",
                                       "\xf0\x9f\x98\x80",
                                       "\xcc\x81",
                                       "é",
                                       "ー",
                                       "カ",
                                       "한",
                                       "\n",
                                       "\xef\xb7\xba"};

static void run_valid(const char *p, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf t;
    const size_t na = sizeof alphabet / sizeof alphabet[0];

    buf_init(&t, 1 << 20);
    for (size_t i = 0; i < size && i < 4096; i++)
        if (buf_adds(&t, alphabet[data[i] % na]) != RC_OK)
            break;
    run_valid(t.p ? t.p : "", t.len);
    buf_release(&t);
    run_valid((const char *)data, size);
    return 0;
}

static void run_valid(const char *p, size_t size)
{
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
        return;
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
}
