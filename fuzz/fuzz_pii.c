/* libFuzzer driver for PII masking (text/pii.c) and, since it shares the
 * streaming shape, the sensitive-word filter (assist/safety.c). For each
 * input, raw and replayed over an alphabet of digits, separators and
 * placeholder pieces: unmask(mask(x)) == x byte for byte; the streaming
 * unmasker fed the masked text (and the raw input) in random pieces gives
 * exactly what pii_unmask gives; the streaming word filter fed random pieces
 * gives exactly what safety_check gives. */
#include "assist/safety.h"
#include "common/buf.h"
#include "common/rc.h"
#include "text/pii.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const alphabet[] = {
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "1",
    "3",
    "8",
    "6",
    "+",
    " ",
    "-",
    "X",
    "x",
    "@",
    "a",
    ".",
    "com",
    "cn",
    "[",
    "]",
    "手机号",
    "邮箱",
    "身份证",
    "银行卡",
    "１",
    "８",
    "　",
    "\xff",
    "中",
    "\xe4",
    "密码",
    "帳戶",
    "内幕",
    "消息",
    "ｓｅｃ",
    "ret",
    "_",
    "\xe2\x80\x8b",
    "13812345678",
    "6222021234567894",
    "11010519491231002X",
    "a@b.cn",
    "[手机号1]",
    "[邮箱1]",
};

static uint64_t rng;

static size_t next_cut(size_t n)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return n ? (size_t)((rng >> 33) % (n + 1)) : 0;
}

/* Feeds p[0..n) to a fresh unmasker in random pieces; aborts unless the
 * result equals `want`. */
static void stream_unmask(const struct pii_map *m, const char *p, size_t n, const struct buf *want)
{
    struct pii_unmasker u;
    struct buf got;
    size_t at = 0;

    buf_init(&got, 1 << 22);
    pii_unmasker_init(&u, m);
    while (at < n) {
        size_t k = next_cut(n - at < 40 ? n - at : 40);
        if (pii_unmasker_feed(&u, p + at, k, &got) != RC_OK)
            abort();
        if (u.nhold > PII_HOLD_MAX)
            abort();
        at += k;
    }
    if (pii_unmasker_finish(&u, &got) != RC_OK)
        abort();
    if (got.len != want->len || (got.len && memcmp(got.p, want->p, got.len) != 0))
        abort();
    buf_release(&got);
}

static void stream_words(struct safety_matcher *m, const char *p, size_t n)
{
    struct buf whole, got;
    struct safety_result wr, sr;
    struct safety_stream *st = safety_stream_new(m);
    size_t at = 0;

    buf_init(&whole, 1 << 22);
    buf_init(&got, 1 << 22);
    if (safety_check(m, p, n, &whole, &wr) != RC_OK)
        abort();
    while (at < n) {
        size_t k = next_cut(n - at < 40 ? n - at : 40);
        if (safety_stream_feed(st, p + at, k, &got, &sr) != RC_OK)
            abort();
        at += k;
    }
    if (safety_stream_finish(st, &got, &sr) != RC_OK || sr.verdict != wr.verdict)
        abort();
    if (wr.verdict != SAFETY_BLOCKED &&
        (got.len != whole.len || (got.len && memcmp(got.p, whole.p, got.len) != 0)))
        abort();
    safety_stream_free(st);
    buf_release(&whole);
    buf_release(&got);
}

static struct safety_matcher *words(void)
{
    static struct safety_matcher *m;
    if (!m) {
        struct safety_word w[] = {{0, "内幕消息", SAFETY_BLOCK, 0}, {0, "账户密码", SAFETY_MASK, 0},
                                  {0, "密码", SAFETY_MASK, 0},      {0, "secret", SAFETY_MASK, 0},
                                  {0, "1381", SAFETY_MASK, 0},      {0, "a.a", SAFETY_MASK, 0},
                                  {0, "中中中", SAFETY_BLOCK, 0}};
        m = safety_matcher_build(w, sizeof w / sizeof w[0]);
    }
    return m;
}

static void run(const char *p, size_t n)
{
    struct pii_map *m = pii_map_new();
    struct buf masked, back, direct;

    buf_init(&masked, 1 << 22);
    buf_init(&back, 1 << 22);
    buf_init(&direct, 1 << 22);
    if (pii_mask(m, p, n, &masked) != RC_OK)
        abort();
    if (pii_unmask(m, masked.p ? masked.p : "", masked.len, &back) != RC_OK)
        abort();
    if (back.len != n || (n && memcmp(back.p, p, n) != 0))
        abort();
    stream_unmask(m, masked.p ? masked.p : "", masked.len, &back);
    /* the raw input as if it were a model's answer */
    if (pii_unmask(m, p, n, &direct) != RC_OK)
        abort();
    stream_unmask(m, p, n, &direct);
    /* hits lie inside the input and do not overlap */
    size_t nh = pii_find(p, n, NULL, 0);
    struct pii_hit *h = malloc((nh ? nh : 1) * sizeof *h);
    if (!h || pii_find(p, n, h, nh) != nh)
        abort();
    for (size_t i = 0; i < nh; i++)
        if (h[i].len == 0 || h[i].off + h[i].len > n ||
            (i && h[i].off < h[i - 1].off + h[i - 1].len))
            abort();
    free(h);
    stream_words(words(), p, n);
    pii_map_free(m);
    buf_release(&masked);
    buf_release(&back);
    buf_release(&direct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf t;
    const size_t na = sizeof alphabet / sizeof alphabet[0];

    rng = size;
    for (size_t i = 0; i < size && i < 64; i++)
        rng = rng * 31 + data[i];
    buf_init(&t, 1 << 20);
    for (size_t i = 0; i < size && i < 4096; i++)
        if (buf_adds(&t, alphabet[data[i] % na]) != RC_OK)
            break;
    run(t.p ? t.p : "", t.len);
    buf_release(&t);
    run((const char *)data, size);
    return 0;
}
