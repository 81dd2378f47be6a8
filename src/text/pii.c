/* PII detection, masking and unmasking (see pii.h). Detection works on the
 * decoded code points of the input with their byte offsets: full-width
 * digits and separators are recognised in place rather than folded first,
 * so that a hit is always an exact byte range of the original (which the
 * mapping stores, making unmask(mask(x)) == x hold byte for byte). */
#include "text/pii.h"

#include "common/alloc.h"
#include "common/rc.h"
#include "text/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[PII_NKINDS] = {"idcard", "bankcard", "phone", "email"};
static const char *const kind_labels[PII_NKINDS] = {"身份证", "银行卡", "手机号", "邮箱"};

const char *pii_kind_name(int kind)
{
    return kind >= 0 && kind < PII_NKINDS ? kind_names[kind] : "?";
}

const char *pii_kind_label(int kind)
{
    return kind >= 0 && kind < PII_NKINDS ? kind_labels[kind] : "?";
}

/* ---- checks ---- */

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int pii_idcard_valid(const char *s)
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
    int sum = 0;

    if (!s)
        return 0;
    for (int i = 0; i < 17; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        sum += (s[i] - '0') * w[i];
    }
    char last = s[17] == 'x' ? 'X' : s[17];
    if (last != check[sum % 11])
        return 0;
    /* The region code never starts with 0 (first digit 1-8 in practice). */
    if (s[0] == '0' || s[0] == '9')
        return 0;
    int y = (s[6] - '0') * 1000 + (s[7] - '0') * 100 + (s[8] - '0') * 10 + (s[9] - '0');
    int m = (s[10] - '0') * 10 + (s[11] - '0');
    int d = (s[12] - '0') * 10 + (s[13] - '0');
    if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return 0;
    return 1;
}

int pii_luhn_valid(const char *s, size_t n)
{
    int sum = 0;

    if (!s || n < 2)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[n - 1 - i];
        if (c < '0' || c > '9')
            return 0;
        int v = c - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

/* ---- code point classes ---- */

static int dig(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 0xFF10 && c <= 0xFF19) /* ０-９ */
        return (int)(c - 0xFF10);
    return -1;
}

static int is_x(uint32_t c)
{
    return c == 'X' || c == 'x' || c == 0xFF38 || c == 0xFF58;
}

static int is_plus(uint32_t c)
{
    return c == '+' || c == 0xFF0B;
}

static int is_sep(uint32_t c)
{
    return c == ' ' || c == '-' || c == 0x00A0 || c == 0x3000 || c == 0xFF0D;
}

static int is_ascii_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Digits and letters, ASCII or full-width: what a match may not touch. */
static int is_word(uint32_t c)
{
    return is_ascii_alnum(c) || (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) ||
           (c >= 0xFF41 && c <= 0xFF5A);
}

static int is_local(uint32_t c)
{
    return is_ascii_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int is_dom(uint32_t c)
{
    return is_ascii_alnum(c) || c == '-';
}

/* ---- the scanner ---- */

struct scan {
    const uint32_t *c;
    size_t n;
};

static uint32_t at(const struct scan *s, size_t i)
{
    return i < s->n ? s->c[i] : 0;
}

/* True when position i is not a word character (end of text counts). */
static int boundary_at(const struct scan *s, size_t i)
{
    return i >= s->n || !is_word(s->c[i]);
}

/* Length of the run of digits starting at i. */
static size_t digit_run(const struct scan *s, size_t i)
{
    size_t j = i;
    while (j < s->n && dig(s->c[j]) >= 0)
        j++;
    return j - i;
}

/* Copies k digits from i into out as ASCII. */
static void take_digits(const struct scan *s, size_t i, size_t k, char *out)
{
    for (size_t j = 0; j < k; j++)
        out[j] = (char)('0' + dig(s->c[i + j]));
}

/* ID card at i: 17 digits + digit/X compact, or grouped 6-8-4 with one
 * separator kind. Returns the end position or 0. */
static size_t match_idcard(const struct scan *s, size_t i)
{
    char id[18];
    size_t r = digit_run(s, i);

    if (r == 18 || (r == 17 && is_x(at(s, i + 17)))) {
        if (boundary_at(s, i + 18)) {
            take_digits(s, i, 17, id);
            id[17] = r == 18 ? (char)('0' + dig(s->c[i + 17])) : 'X';
            if (pii_idcard_valid(id))
                return i + 18;
        }
        return 0;
    }
    if (r != 6 || !is_sep(at(s, i + 6)))
        return 0;
    uint32_t sep = s->c[i + 6];
    if (digit_run(s, i + 7) != 8 || at(s, i + 15) != sep)
        return 0;
    size_t r3 = digit_run(s, i + 16);
    if (!(r3 == 4 || (r3 == 3 && is_x(at(s, i + 19)))) || !boundary_at(s, i + 20))
        return 0;
    take_digits(s, i, 6, id);
    take_digits(s, i + 7, 8, id + 6);
    take_digits(s, i + 16, 3, id + 14);
    id[17] = r3 == 4 ? (char)('0' + dig(s->c[i + 19])) : 'X';
    return pii_idcard_valid(id) ? i + 20 : 0;
}

/* Bank card at i: 16-19 digits compact, or groups of 4 with one separator
 * kind (the last group 1-4 digits), passing Luhn. */
static size_t match_card(const struct scan *s, size_t i)
{
    char d[19];
    size_t r = digit_run(s, i);

    if (r >= 16 && r <= 19) {
        if (!boundary_at(s, i + r))
            return 0;
        take_digits(s, i, r, d);
        return pii_luhn_valid(d, r) ? i + r : 0;
    }
    if (r != 4 || !is_sep(at(s, i + 4)))
        return 0;
    uint32_t sep = s->c[i + 4];
    size_t nd = 4, j = i + 4; /* j: just after the last group taken */
    take_digits(s, i, 4, d);
    while (at(s, j) == sep && j + 1 < s->n) {
        size_t g = digit_run(s, j + 1);
        if (g == 0 || g > 4 || nd + g > 19)
            break;
        take_digits(s, j + 1, g, d + nd);
        nd += g;
        j += 1 + g;
        if (g < 4)
            break;
    }
    if (nd < 16 || !boundary_at(s, j))
        return 0;
    /* A further group would make this part of a longer grouped number. */
    if (at(s, j) == sep && dig(at(s, j + 1)) >= 0)
        return 0;
    return pii_luhn_valid(d, nd) ? j : 0;
}

/* Mobile number body at i: 1[3-9] + 9 digits, compact or 3-4-4. */
static size_t match_phone_body(const struct scan *s, size_t i)
{
    if (dig(at(s, i)) != 1 || dig(at(s, i + 1)) < 3)
        return 0;
    size_t r = digit_run(s, i);
    if (r == 11)
        return boundary_at(s, i + 11) ? i + 11 : 0;
    if (r != 3 || !is_sep(at(s, i + 3)))
        return 0;
    uint32_t sep = s->c[i + 3];
    if (digit_run(s, i + 4) != 4 || at(s, i + 8) != sep || digit_run(s, i + 9) != 4)
        return 0;
    return boundary_at(s, i + 13) ? i + 13 : 0;
}

/* Mobile number at i, with an optional +86 / 86 prefix (then an optional
 * separator). */
static size_t match_phone(const struct scan *s, size_t i)
{
    size_t j = i;
    if (is_plus(at(s, i)))
        j++;
    else if (dig(at(s, i)) == 1)
        return match_phone_body(s, i);
    if (dig(at(s, j)) != 8 || dig(at(s, j + 1)) != 6)
        return 0;
    j += 2;
    if (is_sep(at(s, j)))
        j++;
    return match_phone_body(s, j);
}

/* E-mail whose local part starts at i (the first alphanumeric of a run of
 * local-part characters): local@label.label..., TLD of 2+ letters. */
static size_t match_email(const struct scan *s, size_t i)
{
    size_t j = i;
    while (j < s->n && is_local(s->c[j]))
        j++;
    if (j == i || j - i > 64 || at(s, j) != '@' || s->c[j - 1] == '.')
        return 0;
    size_t k = j + 1, nlabels = 0, last = 0, end = 0;
    for (;;) {
        size_t b = k;
        while (k < s->n && is_dom(s->c[k]))
            k++;
        if (k == b || k - b > 63 || s->c[b] == '-' || s->c[k - 1] == '-')
            break;
        nlabels++;
        last = b;
        end = k;
        if (at(s, k) == '.' && is_ascii_alnum(at(s, k + 1)))
            k++;
        else
            break;
    }
    if (nlabels < 2 || end - last < 2)
        return 0;
    for (size_t t = last; t < end; t++)
        if (!((s->c[t] | 0x20) >= 'a' && (s->c[t] | 0x20) <= 'z'))
            return 0;
    return end;
}

struct hitlist {
    struct pii_hit *hits;
    size_t max, count;
    const size_t *off;
};

static void add_hit(struct hitlist *h, int kind, size_t from, size_t to)
{
    if (h->count < h->max) {
        h->hits[h->count].kind = kind;
        h->hits[h->count].off = h->off[from];
        h->hits[h->count].len = h->off[to] - h->off[from];
    }
    h->count++;
}

size_t pii_find(const char *p, size_t n, struct pii_hit *hits, size_t max)
{
    uint32_t *c = NULL;
    size_t *off = NULL, ncp = 0;
    struct hitlist h = {hits, hits ? max : 0, 0, NULL};

    if (!p || n == 0)
        return 0;
    c = xmalloc((n + 1) * sizeof *c);
    off = xmalloc((n + 1) * sizeof *off);
    for (size_t i = 0; i < n;) {
        off[ncp] = i;
        i += utf8_decode(p + i, n - i, &c[ncp]);
        ncp++;
    }
    off[ncp] = n;
    h.off = off;

    struct scan s = {c, ncp};
    size_t i = 0;
    while (i < ncp) {
        uint32_t cp = c[i];
        size_t e = 0;
        if (is_local(cp) && (i == 0 || !is_local(c[i - 1]))) {
            size_t st = i;
            while (st < ncp && is_local(c[st]) && !is_ascii_alnum(c[st]))
                st++;
            if (st < ncp && is_ascii_alnum(c[st]) && (e = match_email(&s, st)) != 0) {
                add_hit(&h, PII_EMAIL, st, e);
                i = e;
                continue;
            }
        }
        if ((dig(cp) >= 0 || is_plus(cp)) && (i == 0 || !is_word(c[i - 1]))) {
            int kind = PII_IDCARD;
            if ((e = match_idcard(&s, i)) == 0) {
                kind = PII_BANKCARD;
                if ((e = match_card(&s, i)) == 0) {
                    kind = PII_PHONE;
                    e = match_phone(&s, i);
                }
            }
            if (e) {
                add_hit(&h, kind, i, e);
                i = e;
                continue;
            }
        }
        i++;
    }
    free(c);
    free(off);
    return h.count;
}

void pii_count(const char *p, size_t n, size_t counts[PII_NKINDS])
{
    struct pii_hit *hits = NULL;
    size_t nh;

    for (int k = 0; k < PII_NKINDS; k++)
        counts[k] = 0;
    nh = pii_find(p, n, NULL, 0);
    if (nh == 0)
        return;
    hits = xmalloc(nh * sizeof *hits);
    nh = pii_find(p, n, hits, nh);
    for (size_t i = 0; i < nh; i++)
        counts[hits[i].kind]++;
    free(hits);
}

/* ---- the mapping ---- */

struct ent {
    int kind;
    unsigned num;
    char *val;
    size_t len;
};

struct reserved {
    int kind;
    unsigned num;
};

struct pii_map {
    struct ent *ents; /* in insertion order */
    size_t nents, cap;
    size_t *slots; /* open addressing over (kind, val): index + 1, 0 = empty */
    size_t nslots;
    size_t *bynum[PII_NKINDS]; /* number - 1 → index + 1 (0: a hole) */
    size_t nbynum[PII_NKINDS];
    unsigned next[PII_NKINDS];
    size_t kind_size[PII_NKINDS];
    struct reserved *res; /* literal placeholder numbers seen in input */
    size_t nres, capres;
};

struct pii_map *pii_map_new(void)
{
    struct pii_map *m = xcalloc(1, sizeof *m);
    for (int k = 0; k < PII_NKINDS; k++)
        m->next[k] = 1;
    return m;
}

void pii_map_free(struct pii_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nents; i++)
        free(m->ents[i].val);
    free(m->ents);
    free(m->slots);
    for (int k = 0; k < PII_NKINDS; k++)
        free(m->bynum[k]);
    free(m->res);
    free(m);
}

size_t pii_map_size(const struct pii_map *m)
{
    return m ? m->nents : 0;
}

size_t pii_map_kind_size(const struct pii_map *m, int kind)
{
    return m && kind >= 0 && kind < PII_NKINDS ? m->kind_size[kind] : 0;
}

static uint64_t hash_val(int kind, const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t *slot_for(const struct pii_map *m, int kind, const char *p, size_t n)
{
    size_t mask = m->nslots - 1;
    size_t i = (size_t)hash_val(kind, p, n) & mask;
    for (;;) {
        size_t v = m->slots[i];
        if (v == 0)
            return &m->slots[i];
        const struct ent *e = &m->ents[v - 1];
        if (e->kind == kind && e->len == n && memcmp(e->val, p, n) == 0)
            return &m->slots[i];
        i = (i + 1) & mask;
    }
}

static void rehash(struct pii_map *m)
{
    size_t ns = m->nslots ? m->nslots * 2 : 64;
    free(m->slots);
    m->slots = xcalloc(ns, sizeof *m->slots);
    m->nslots = ns;
    for (size_t i = 0; i < m->nents; i++) {
        const struct ent *e = &m->ents[i];
        *slot_for(m, e->kind, e->val, e->len) = i + 1;
    }
}

static int is_reserved(const struct pii_map *m, int kind, unsigned num)
{
    for (size_t i = 0; i < m->nres; i++)
        if (m->res[i].kind == kind && m->res[i].num == num)
            return 1;
    return 0;
}

static void reserve(struct pii_map *m, int kind, unsigned num)
{
    if (num < m->next[kind] || is_reserved(m, kind, num))
        return; /* already assigned (then it is ours) or already reserved */
    if (m->nres == m->capres) {
        m->capres = m->capres ? m->capres * 2 : 8;
        m->res = xrealloc(m->res, m->capres * sizeof *m->res);
    }
    m->res[m->nres].kind = kind;
    m->res[m->nres].num = num;
    m->nres++;
}

/* The entry for (kind, value), added when new; NULL past PII_MAP_MAX. */
static const struct ent *map_put(struct pii_map *m, int kind, const char *p, size_t n)
{
    if (2 * (m->nents + 1) > m->nslots)
        rehash(m);
    size_t *slot = slot_for(m, kind, p, n);
    if (*slot)
        return &m->ents[*slot - 1];
    if (m->nents >= PII_MAP_MAX)
        return NULL;
    unsigned num = m->next[kind];
    while (is_reserved(m, kind, num))
        num++;
    m->next[kind] = num + 1;
    if (m->nents == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->ents = xrealloc(m->ents, m->cap * sizeof *m->ents);
    }
    struct ent *e = &m->ents[m->nents];
    e->kind = kind;
    e->num = num;
    e->val = xmalloc(n + 1);
    memcpy(e->val, p, n);
    e->val[n] = '\0';
    e->len = n;
    *slot = ++m->nents;
    if (num > m->nbynum[kind]) {
        size_t nn = m->nbynum[kind] ? m->nbynum[kind] : 8;
        while (nn < num)
            nn *= 2;
        m->bynum[kind] = xrealloc(m->bynum[kind], nn * sizeof(size_t));
        memset(m->bynum[kind] + m->nbynum[kind], 0, (nn - m->nbynum[kind]) * sizeof(size_t));
        m->nbynum[kind] = nn;
    }
    m->bynum[kind][num - 1] = m->nents;
    m->kind_size[kind]++;
    return e;
}

static const struct ent *map_by_num(const struct pii_map *m, int kind, unsigned num)
{
    if (!m || num == 0 || num > m->nbynum[kind] || !m->bynum[kind][num - 1])
        return NULL;
    return &m->ents[m->bynum[kind][num - 1] - 1];
}

/* ---- placeholders ---- */

enum { PH_NO, PH_MORE, PH_YES };
#define PH_MAX_DIGITS 7

/* Parses a placeholder at p[0] == '['. PH_YES sets kind, num and len;
 * PH_MORE: p[0..n) is a proper prefix of a possible placeholder. */
static int ph_parse(const char *p, size_t n, int *kind, unsigned *num, size_t *len)
{
    int k, more = 0;
    size_t i, ll = 0, nd = 0;
    unsigned v = 0;

    for (k = 0; k < PII_NKINDS; k++) {
        ll = strlen(kind_labels[k]);
        if (n - 1 >= ll) {
            if (memcmp(p + 1, kind_labels[k], ll) == 0)
                break;
        } else if (memcmp(p + 1, kind_labels[k], n - 1) == 0) {
            more = 1;
        }
    }
    if (k == PII_NKINDS)
        return more ? PH_MORE : PH_NO;
    for (i = 1 + ll; i < n && p[i] >= '0' && p[i] <= '9' && nd < PH_MAX_DIGITS; i++, nd++) {
        if (nd == 0 && p[i] == '0')
            return PH_NO;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (i == n)
        return PH_MORE;
    if (nd == 0 || p[i] != ']')
        return PH_NO;
    *kind = k;
    *num = v;
    *len = i + 1;
    return PH_YES;
}

int pii_mask(struct pii_map *m, const char *p, size_t n, struct buf *out)
{
    struct pii_hit *hits = NULL;
    size_t nh, at_ = 0;
    int rc = RC_OK;

    if (!p || n == 0)
        goto out;
    /* Placeholder-shaped text already in the input keeps its meaning. */
    for (const char *q = memchr(p, '[', n); q; q = memchr(q + 1, '[', n - (size_t)(q + 1 - p))) {
        int kind;
        unsigned num;
        size_t len;
        if (ph_parse(q, n - (size_t)(q - p), &kind, &num, &len) == PH_YES)
            reserve(m, kind, num);
        if (q + 1 >= p + n)
            break;
    }
    nh = pii_find(p, n, NULL, 0);
    if (nh) {
        hits = xmalloc(nh * sizeof *hits);
        nh = pii_find(p, n, hits, nh);
    }
    for (size_t i = 0; i < nh; i++) {
        const struct pii_hit *h = &hits[i];
        const struct ent *e = map_put(m, h->kind, p + h->off, h->len);
        if (!e) {
            rc = RC_TOO_BIG;
            goto out;
        }
        if ((rc = buf_add(out, p + at_, h->off - at_)) != RC_OK)
            goto out;
        if ((rc = buf_addf(out, "[%s%u]", kind_labels[e->kind], e->num)) != RC_OK)
            goto out;
        at_ = h->off + h->len;
    }
    rc = buf_add(out, p + at_, n - at_);
out:
    free(hits);
    return rc;
}

/* Unmasks p[0..n) into out up to a tail that may still be a placeholder
 * (unless eof); *used gets the bytes consumed. */
static int unmask_scan(const struct pii_map *m, const char *p, size_t n, int eof, struct buf *out,
                       size_t *used)
{
    size_t i = 0;
    int rc = RC_OK;

    while (i < n) {
        const char *q = memchr(p + i, '[', n - i);
        if (!q) {
            if ((rc = buf_add(out, p + i, n - i)) != RC_OK)
                goto out;
            i = n;
            break;
        }
        size_t j = (size_t)(q - p);
        if ((rc = buf_add(out, p + i, j - i)) != RC_OK)
            goto out;
        int kind;
        unsigned num;
        size_t len;
        int r = ph_parse(p + j, n - j, &kind, &num, &len);
        if (r == PH_MORE && !eof) {
            i = j;
            break;
        }
        if (r == PH_YES) {
            const struct ent *e = map_by_num(m, kind, num);
            rc = e ? buf_add(out, e->val, e->len) : buf_add(out, p + j, len);
            i = j + len;
        } else {
            rc = buf_addc(out, '[');
            i = j + 1;
        }
        if (rc != RC_OK)
            goto out;
    }
out:
    *used = i;
    return rc;
}

int pii_unmask(const struct pii_map *m, const char *p, size_t n, struct buf *out)
{
    size_t used;
    if (!p || n == 0)
        return RC_OK;
    return unmask_scan(m, p, n, 1, out, &used);
}

void pii_unmasker_init(struct pii_unmasker *u, const struct pii_map *m)
{
    u->map = m;
    u->nhold = 0;
}

int pii_unmasker_feed(struct pii_unmasker *u, const char *p, size_t n, struct buf *out)
{
    struct buf tmp = BUF_INIT;
    const char *s = p;
    size_t len = n, used = 0;
    int rc = RC_OK;

    if (n == 0)
        goto out;
    if (!u->nhold && !memchr(p, '[', n)) { /* no placeholder can start here */
        rc = buf_add(out, p, n);
        goto out;
    }
    if (u->nhold) {
        if ((rc = buf_add(&tmp, u->hold, u->nhold)) != RC_OK || (rc = buf_add(&tmp, p, n)) != RC_OK)
            goto out;
        s = tmp.p;
        len = tmp.len;
    }
    if ((rc = unmask_scan(u->map, s, len, 0, out, &used)) != RC_OK)
        goto out;
    if (len - used > PII_HOLD_MAX) { /* cannot happen: a placeholder is shorter */
        rc = RC_INTERNAL;
        goto out;
    }
    memmove(u->hold, s + used, len - used);
    u->nhold = len - used;
out:
    buf_release(&tmp);
    return rc;
}

int pii_unmasker_finish(struct pii_unmasker *u, struct buf *out)
{
    size_t used;
    int rc = RC_OK;
    if (u->nhold)
        rc = unmask_scan(u->map, u->hold, u->nhold, 1, out, &used);
    u->nhold = 0;
    return rc;
}
