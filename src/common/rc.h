/* Result codes shared by every module. The HTTP layer maps them to statuses,
 * the CLI to exit codes. A function returning `int` returns one of these. */
#ifndef ATRIUM_RC_H
#define ATRIUM_RC_H

enum rc {
    RC_OK = 0,
    RC_INVALID,     /* malformed input from outside: bad JSON, bad UTF-8, bad argument */
    RC_NOT_FOUND,   /* unknown id or name (also: exists but caller may not see it) */
    RC_EXISTS,      /* a name is already taken */
    RC_TOO_BIG,     /* a size cap was hit */
    RC_UNSUPPORTED, /* a file type or feature we do not handle */
    RC_PARSE,       /* a file of a known type that is broken */
    RC_IO,          /* the file system failed */
    RC_DB,          /* the store failed */
    RC_UPSTREAM,    /* a model or other remote service failed or talked garbage */
    RC_TIMEOUT,     /* a remote service was too slow */
    RC_BUSY,        /* too many requests or a lock held too long */
    RC_DENIED,      /* not allowed */
    RC_INTERNAL,    /* a bug: an invariant did not hold */
};

/* Stable machine-readable code, e.g. "not_found". Never NULL. */
const char *rc_code(int rc);

/* HTTP status for a result code (RC_OK → 200). */
int rc_http_status(int rc);

/* Process exit code for the CLI: 0 ok, 2 bad usage/input, 3 not found,
 * 4 partial failure/parse errors, 5 upstream, 1 anything else. */
int rc_exit_code(int rc);

#endif
