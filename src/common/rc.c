/* Result code names and their HTTP / exit-code mappings. */
#include "common/rc.h"

const char *rc_code(int rc)
{
    switch (rc) {
    case RC_OK:
        return "ok";
    case RC_INVALID:
        return "invalid_request";
    case RC_NOT_FOUND:
        return "not_found";
    case RC_EXISTS:
        return "conflict";
    case RC_TOO_BIG:
        return "too_large";
    case RC_UNSUPPORTED:
        return "unsupported_media_type";
    case RC_PARSE:
        return "unprocessable";
    case RC_IO:
        return "io_error";
    case RC_DB:
        return "store_error";
    case RC_UPSTREAM:
        return "upstream_error";
    case RC_TIMEOUT:
        return "upstream_timeout";
    case RC_BUSY:
        return "too_many_requests";
    case RC_DENIED:
        return "forbidden";
    default:
        return "internal_error";
    }
}

int rc_http_status(int rc)
{
    switch (rc) {
    case RC_OK:
        return 200;
    case RC_INVALID:
        return 400;
    case RC_NOT_FOUND:
        return 404;
    case RC_EXISTS:
        return 409;
    case RC_TOO_BIG:
        return 413;
    case RC_UNSUPPORTED:
        return 415;
    case RC_PARSE:
        return 422;
    case RC_BUSY:
        return 429;
    case RC_DENIED:
        return 403;
    case RC_UPSTREAM:
    case RC_TIMEOUT:
        return 503;
    default:
        return 500;
    }
}

int rc_exit_code(int rc)
{
    switch (rc) {
    case RC_OK:
        return 0;
    case RC_INVALID:
        return 2;
    case RC_NOT_FOUND:
        return 3;
    case RC_PARSE:
    case RC_UNSUPPORTED:
    case RC_TOO_BIG:
        return 4;
    case RC_UPSTREAM:
    case RC_TIMEOUT:
        return 5;
    default:
        return 1;
    }
}
