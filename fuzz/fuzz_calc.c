/* libFuzzer driver for the calculator's parser and decimal arithmetic
 * (agents/calc.c) and the JSON Schema validator (agents/jschema.c). The
 * raw input, and a replay over an alphabet of numbers, operators and
 * function names (so that deep, valid-looking expressions are reached
 * quickly), must evaluate without crashing, within the limits, to either a
 * plain decimal string or an error with a message. Every result must also
 * round-trip: evaluating the printed result gives the same text. */
#include "agents/calc.h"
#include "agents/jschema.h"
#include "common/buf.h"
#include "common/rc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const alphabet[] = {
    "0",      "1",           "9",           "12345678901234567890",
    ".",      "5",           "%",           "+",
    "-",      "*",           "/",           "^",
    "(",      ")",           ",",           " ",
    "round(", "round_even(", "floor(",      "ceil(",
    "min(",   "max(",        "abs(",        "trunc(",
    "３",     "＋",          "×",           "÷",
    "0.1",    "1e",          "99999999999", "-2",
    "3.45%",  "1,000",
};

static void check_plain(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!*p)
        abort();
    int dots = 0;
    for (; *p; p++) {
        if (*p == '.')
            dots++;
        else if (*p < '0' || *p > '9')
            abort();
    }
    if (dots > 1)
        abort();
}

static void run(const char *expr)
{
    char *out = NULL;
    struct buf err = BUF_INIT;
    int inexact = 0;
    int rc = calc_eval(expr, -1, &out, &inexact, &err);
    if (rc == RC_OK) {
        if (!out)
            abort();
        check_plain(out);
        if (!inexact) {
            char *again = NULL;
            struct buf e2 = BUF_INIT;
            if (calc_eval(out, -1, &again, NULL, &e2) != RC_OK || strcmp(again, out) != 0)
                abort();
            free(again);
            buf_release(&e2);
        }
    } else if (out || !err.len) {
        abort();
    }
    free(out);
    buf_release(&err);
    out = NULL;
    rc = calc_eval(expr, 2, &out, NULL, &err);
    if (rc == RC_OK)
        check_plain(out);
    free(out);
    buf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    run(s);
    /* the same bytes as a schema and a value */
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (j) {
        struct buf err = BUF_INIT;
        (void)jschema_check(j, &err);
        buf_reset(&err);
        (void)jschema_validate(j, j, &err);
        buf_release(&err);
        json_decref(j);
    }
    free(s);
    /* replay over the alphabet */
    struct buf e = BUF_INIT;
    for (size_t i = 0; i < size && i < 300; i++)
        (void)buf_adds(&e, alphabet[data[i] % (sizeof alphabet / sizeof alphabet[0])]);
    run(e.len ? buf_str(&e) : "");
    buf_release(&e);
    return 0;
}
