/* Clocks, checked parsing, sha256 (libsodium), file reads. */
#include "common/util.h"

#include "common/rc.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double now_ms(void)
{
    return (double)now_ns() / 1e6;
}

int64_t now_unix(void)
{
    return (int64_t)time(NULL);
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return RC_INVALID;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return RC_INVALID;
    *out = v;
    return RC_OK;
}

int parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return RC_INVALID;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end)
        return RC_INVALID;
    *out = v;
    return RC_OK;
}

void sha256_hex(const void *p, size_t n, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, p, n);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

int read_file(const char *path, size_t max, struct buf *out)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is then
     * refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? RC_NOT_FOUND : RC_IO;
    int rc = RC_OK;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = RC_IO;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = RC_TOO_BIG;
        goto out;
    }
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = RC_IO;
            goto out;
        }
        if (n == 0)
            break;
        rc = buf_add(out, chunk, (size_t)n);
        if (rc)
            goto out;
        if (out->len > max) {
            rc = RC_TOO_BIG;
            goto out;
        }
    }
out:
    close(fd);
    return rc;
}

void random_hex(char *out, size_t nbytes)
{
    unsigned char r[64];
    if (nbytes > sizeof r)
        nbytes = sizeof r;
    randombytes_buf(r, nbytes);
    sodium_bin2hex(out, nbytes * 2 + 1, r, nbytes);
}

const char *path_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}
