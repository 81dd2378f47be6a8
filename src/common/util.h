/* Small helpers every module needs: clocks, checked number parsing, hashing,
 * whole-file reads, ids. */
#ifndef ATRIUM_UTIL_H
#define ATRIUM_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Monotonic clock in nanoseconds / milliseconds (double). */
uint64_t now_ns(void);
double now_ms(void);
/* Wall clock, seconds since the epoch. */
int64_t now_unix(void);

/* Parses a whole decimal string into [min, max]. RC_OK or RC_INVALID. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int parse_double(const char *s, double *out);

/* Lower-case hex sha256 of the bytes, 64 chars + NUL into `hex`. */
void sha256_hex(const void *p, size_t n, char hex[65]);

/* Reads a whole file into `out` (appending), failing with RC_TOO_BIG past
 * `max` bytes, RC_NOT_FOUND when it does not exist, RC_IO otherwise. */
int read_file(const char *path, size_t max, struct buf *out);

/* A random id of 32 hex characters (+ NUL), for request ids and tokens. */
void random_hex(char *out, size_t nbytes);

/* The last path component, without directories. */
const char *path_base(const char *path);
/* True when s ends with suffix, compared ASCII-case-insensitively. */
int ends_with_ci(const char *s, const char *suffix);

#endif
