/* The calculator tool: exact decimal arithmetic for bank sums (interest,
 * fees, fx). Numbers are arbitrary-precision decimals (a big integer of
 * base-10^9 limbs and a decimal scale); no binary floating point is used
 * anywhere, so 0.1 + 0.2 is exactly 0.3.
 *
 * Language: + - * / ^ (integer exponents, also negative), parentheses,
 * unary minus/plus, percent literals (3.45% = 0.0345), functions
 * round(x[, n]) (half away from zero, the bank default), round_even(x[, n])
 * (banker's: half to even), floor(x[, n]), ceil(x[, n]), trunc(x[, n]),
 * min(a, …), max(a, …), abs(x). Full-width digits, operators, parentheses,
 * comma and the ideographic space are folded (１２３＋４); × ÷ are * and /.
 * Thousands separators are refused everywhere (a ',' only separates
 * function arguments), so "1,000" is never silently 1 or 1000.
 *
 * Division is carried to CALC_DIV_PLACES decimal places (rounded half-up at
 * the last place); a result that went through a division that did not
 * terminate is "inexact". Limits make every input finish quickly: at most
 * CALC_MAX_INPUT bytes, CALC_MAX_DIGITS digits in any intermediate value,
 * |exponent| <= CALC_MAX_EXP, nesting depth CALC_MAX_DEPTH. */
#ifndef ATRIUM_AGENTS_CALC_H
#define ATRIUM_AGENTS_CALC_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"

#define CALC_MAX_INPUT 1024    /* bytes of an expression */
#define CALC_MAX_DIGITS 1000   /* decimal digits of any value (integer + fraction part) */
#define CALC_MAX_EXP 10000     /* |n| of x ^ n */
#define CALC_MAX_DEPTH 64      /* nesting of parentheses and calls */
#define CALC_DIV_PLACES 30     /* decimal places a division is carried to */
#define CALC_MAX_SCALE 100     /* the largest display scale / n of round(x, n) */
#define CALC_INEXACT_PLACES 10 /* default display places of an inexact result */

/* Evaluates expr and writes the result as a plain decimal string (no
 * exponent, '-' for negatives, no "-0") into *out (malloc'd, caller frees).
 * scale >= 0 rounds the result half-up to that many places (and pads with
 * zeros: scale 2 gives "8625.00"); scale < 0 gives the exact value when it
 * is exact (trailing zeros dropped), else CALC_INEXACT_PLACES places.
 * *inexact (may be NULL) is set to 1 when a non-terminating division
 * happened. RC_OK; RC_INVALID (syntax, with the byte position, division by
 * zero, a bad function call), RC_TOO_BIG (a limit): *out is then NULL and
 * err gets a "中文 / English" message. */
int calc_eval(const char *expr, int scale, char **out, int *inexact, struct buf *err);

/* The tool: args {"expression":"…","scale":N?} →
 * {"result":"8625.00","expression":"…","exact":true}. RC_OK with a new
 * reference in *out; RC_INVALID / RC_TOO_BIG with a message in err. */
int calc_tool(const json_t *args, json_t **out, struct buf *err);

#endif
