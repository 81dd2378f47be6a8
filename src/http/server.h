/* The HTTP server: libmicrohttpd with an epoll thread pool, JSON via jansson,
 * SSE streams driven by worker threads with suspend/resume, background
 * ingest of uploads. A thin face over kb/ (and later assist/, agents/). */
#ifndef ATRIUM_HTTP_SERVER_H
#define ATRIUM_HTTP_SERVER_H

#include "common/buf.h"
#include "common/config.h"
#include "kb/kb.h"

struct http_server;

/* Starts listening on cfg->bind:cfg->port (port 0 picks a free port) with
 * cfg->threads pool threads and cfg->workers worker threads. The engine
 * and cfg must outlive the server. On failure returns RC_IO (cannot bind)
 * or RC_INTERNAL with a message in err. */
int http_start(const struct config *cfg, struct kb_engine *eng, struct http_server **out,
               struct buf *err);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *s);
/* Stops accepting, finishes or cancels running streams, joins workers and
 * frees the server. */
void http_stop(struct http_server *s);

#endif
