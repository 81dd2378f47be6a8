/* The HTTP tool of digital employees: one call to a bank system named in an
 * agent spec's http_tools, only to URLs under an allow-listed prefix
 * (cfg->agent_http_allow), no redirects, a timeout, text/JSON only, the
 * kept body capped. Arguments and responses are never logged. */
#ifndef ATRIUM_AGENTS_HTTPTOOL_H
#define ATRIUM_AGENTS_HTTPTOOL_H

#include <jansson.h>

#include "common/buf.h"

#define HTTPTOOL_URL_MAX 2048
#define HTTPTOOL_TRUNCATED "\n…[已截断 / truncated]"

/* Whether url may be called under allow (comma-separated prefixes such as
 * "http://core.bank/api/,https://fx.bank:8443/rates"). Both are normalised
 * first: scheme and host lowercased, the default port made explicit. A URL
 * with userinfo, a fragment, a dot segment ("." / ".." also %2e-encoded),
 * an encoded '/' or '\', a backslash, spaces, control or non-ASCII bytes,
 * or a scheme other than http/https is refused outright. A prefix whose path
 * ends in '/' allows every path below it; otherwise the path must equal it
 * or continue with '/'. Scheme, host and port must be equal. RC_OK, or
 * RC_DENIED / RC_INVALID with a message in err (may be NULL). */
int httptool_url_allowed(const char *allow, const char *url, struct buf *err);

/* Calls method ("GET": args as a URL-encoded query string appended to url;
 * "POST": args as a JSON body) at url, which must pass
 * httptool_url_allowed. On RC_OK *out is the response body (malloc'd,
 * valid UTF-8, at most max bytes, cut on a character boundary and ending
 * with HTTPTOOL_TRUNCATED when longer). RC_DENIED (URL not allowed),
 * RC_UPSTREAM (connect error, a non-2xx status — named in err —, a
 * redirect, a content type other than text/ * or JSON, a body that is not
 * UTF-8), RC_TIMEOUT (timeout_ms, <= 0 takes 5000), RC_INVALID; *out is
 * NULL then and err gets a "中文 / English" message. */
int httptool_call(const char *allow, int timeout_ms, const char *method, const char *url,
                  const json_t *args, size_t max, char **out, struct buf *err);

#endif
