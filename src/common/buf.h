/* Growable byte buffers with a maximum (like curl's dynbuf), and slices.
 * A buf is always NUL-terminated after a successful append, so `b.p` can be
 * used as a C string when the content has no NUL bytes. */
#ifndef ATRIUM_BUF_H
#define ATRIUM_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct slice {
    const char *p;
    size_t len;
};

struct buf {
    char *p;    /* NULL until the first append */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap;
    size_t max; /* appends that would exceed this fail with RC_TOO_BIG */
};

#define BUF_NOMAX ((size_t)-1 / 2)
#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, BUF_NOMAX                                                                      \
    }

void buf_init(struct buf *b, size_t max);
/* Appends n bytes. RC_OK, or RC_TOO_BIG (buffer unchanged) past b->max. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Appends s[0..n) as a quoted JSON string, escaped as jansson's json_dumps
 * does: \" \\ \b \f \n \r \t, other control characters as \u00XX
 * (upper-case hex). s must be valid UTF-8; multi-byte characters are copied
 * as they are (a word-at-a-time scan skips the runs that need nothing).
 * RC_OK or RC_TOO_BIG. */
int buf_add_json_str(struct buf *b, const char *s, size_t n);
/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
/* Cuts the content back to its first len bytes (len <= the length; a larger
 * len changes nothing): what a writer appended after it is undone. */
void buf_truncate(struct buf *b, size_t len);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
/* Hands the content to the caller (free() it); never NULL. The buffer is emptied. */
char *buf_detach(struct buf *b, size_t *len);
/* The content as a C string ("" when empty). Valid until the next append. */
const char *buf_str(const struct buf *b);

#endif
