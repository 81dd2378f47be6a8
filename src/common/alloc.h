/* The wrapped allocator: allocation failure aborts the process (a size cap is
 * a normal error and is checked by callers; running out of memory is not). */
#ifndef ATRIUM_ALLOC_H
#define ATRIUM_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows an array of `*cap` elements of `size` bytes so that it holds `need`. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
