/* Passwords: the policy, and argon2id hashing (libsodium) behind a
 * process-wide limiter, because each hash takes about 64 MiB and 0.1 s of
 * CPU and a burst of sign-ins must not exhaust the server. */
#include "auth/auth.h"

#include "common/log.h"
#include "common/rc.h"
#include "text/utf8.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

_Static_assert(crypto_pwhash_STRBYTES <= 128, "auth_hash_password's out[128] is too small");

#define PASSWORD_MAX_BYTES 128

/* ---- libsodium initialisation ---- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void sodium_start(void)
{
    sodium_ok = sodium_init() >= 0;
    if (!sodium_ok)
        log_error("auth: sodium_init failed");
}

static int sodium_ready(void)
{
    pthread_once(&sodium_once, sodium_start);
    return sodium_ok;
}

/* ---- the limiter ---- */

static pthread_mutex_t lim_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lim_cv = PTHREAD_COND_INITIALIZER;
static int lim_concurrency = 2, lim_queue = 64;
static int lim_running, lim_waiting;

void auth_hash_limit(int concurrency, int queue)
{
    pthread_mutex_lock(&lim_mu);
    lim_concurrency = concurrency < 1 ? 1 : concurrency;
    lim_queue = queue < 0 ? 0 : queue;
    /* A raised limit may let waiters run now. */
    pthread_cond_broadcast(&lim_cv);
    pthread_mutex_unlock(&lim_mu);
}

/* Takes a slot, waiting when all are busy and the queue has room.
 * RC_OK (call slot_release later) or RC_BUSY. */
static int slot_acquire(void)
{
    int rc = RC_OK;
    pthread_mutex_lock(&lim_mu);
    if (lim_running < lim_concurrency && lim_waiting == 0) {
        lim_running++;
        goto out;
    }
    if (lim_waiting >= lim_queue) {
        rc = RC_BUSY;
        goto out;
    }
    lim_waiting++;
    while (lim_running >= lim_concurrency)
        pthread_cond_wait(&lim_cv, &lim_mu);
    lim_waiting--;
    lim_running++;
out:
    pthread_mutex_unlock(&lim_mu);
    return rc;
}

static void slot_release(void)
{
    pthread_mutex_lock(&lim_mu);
    lim_running--;
    pthread_cond_signal(&lim_cv);
    pthread_mutex_unlock(&lim_mu);
}

int auth_hash_password(const char *password, char out[128])
{
    out[0] = '\0';
    if (!password || !sodium_ready())
        return RC_INTERNAL;
    int rc = slot_acquire();
    if (rc)
        return rc;
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        log_error("auth: argon2id hash failed (out of memory?)");
        out[0] = '\0';
        rc = RC_INTERNAL;
    }
    slot_release();
    return rc;
}

int auth_verify_password(const char *hash, const char *password)
{
    if (!hash || !password || !sodium_ready())
        return RC_DENIED;
    int rc = slot_acquire();
    if (rc)
        return rc;
    /* -1 means a mismatch, a malformed hash or no memory: all deny. */
    rc = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ? RC_OK : RC_DENIED;
    slot_release();
    return rc;
}

/* ---- the policy ---- */

/* True when hay contains needle, ASCII letters compared case-insensitively
 * (user names are ASCII). */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 0;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

int auth_password_check(const struct config *cfg, const char *username, const char *password,
                        struct buf *err)
{
    int rc = RC_INVALID;
    if (!password) {
        buf_addf(err, "缺少密码 / password missing");
        goto out;
    }
    size_t len = strlen(password);
    if (len > PASSWORD_MAX_BYTES) {
        buf_addf(err, "密码不能超过 %d 字节 / password longer than %d bytes", PASSWORD_MAX_BYTES,
                 PASSWORD_MAX_BYTES);
        goto out;
    }
    if (!utf8_valid(password, len)) {
        buf_addf(err, "密码不是有效的 UTF-8 / password is not valid UTF-8");
        goto out;
    }
    size_t chars = 0;
    int lower = 0, upper = 0, digit = 0, other = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += utf8_decode(password + i, len - i, &cp);
        chars++;
        if (cp >= 'a' && cp <= 'z')
            lower = 1;
        else if (cp >= 'A' && cp <= 'Z')
            upper = 1;
        else if (cp >= '0' && cp <= '9')
            digit = 1;
        else
            other = 1; /* punctuation, spaces, and any non-ASCII character */
    }
    int min = cfg && cfg->password_min_len > 0 ? cfg->password_min_len : 10;
    if (chars < (size_t)min) {
        buf_addf(err, "密码至少需要 %d 个字符 / password needs at least %d characters", min, min);
        goto out;
    }
    if (lower + upper + digit + other < 3) {
        buf_addf(err, "密码需包含小写字母、大写字母、数字、其他字符中的至少三类 / password needs "
                      "three of: lower-case letters, upper-case letters, digits, other characters");
        goto out;
    }
    if (username && contains_ci(password, username)) {
        buf_addf(err, "密码不能包含用户名 / password must not contain the user name");
        goto out;
    }
    rc = RC_OK;
out:
    return rc;
}
