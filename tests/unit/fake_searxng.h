/* Test helper: runs tests/fake_searxng.py (a deterministic fake SearXNG
 * JSON API) as a child process on a free port, and talks to its side doors
 * (/control, /requests). Modelled on fake_model.h. */
#ifndef ATRIUM_TEST_FAKE_SEARXNG_H
#define ATRIUM_TEST_FAKE_SEARXNG_H

#include <jansson.h>
#include <sys/types.h>

#include "common/buf.h"

struct fake_searxng {
    pid_t pid;
    int port;
    char base_url[64]; /* "http://127.0.0.1:PORT" (what websearch_url holds) */
};

/* Starts `python3 tests/fake_searxng.py --port 0 --port-file F extra...`
 * (extra: NULL-terminated, may be NULL) from the repo root and waits up to
 * 10 s for it to listen. Returns 1 when running, 0 when python3 is missing
 * (the caller skips), -1 when it did not come up (nothing left running).
 * The child gets SIGTERM if this process dies. Stop it with
 * fake_searxng_stop. */
int fake_searxng_start(struct fake_searxng *fs, const char *const *extra);

/* SIGTERM, then waits for the process. Safe on a stopped server. */
void fake_searxng_stop(struct fake_searxng *fs);

/* A plain HTTP call (3 s timeout) to http://127.0.0.1:PORT{path}. Returns
 * the HTTP status, 0 when the call failed; the body is appended to out
 * when out is not NULL. */
long fake_searxng_http(const struct fake_searxng *fs, const char *method, const char *path,
                       const char *body, struct buf *out);

/* One server for the whole test run: started on first use, stopped at
 * exit, switched to `mode` with `count` results and `delay_ms` (slow mode)
 * on every call, and its request log cleared. Returns NULL when python3 is
 * missing (skip) or the server could not be started or switched (recorded
 * as a test failure). */
const struct fake_searxng *fake_searxng_shared(const char *mode, int count, int delay_ms);

/* The recorded /search requests, oldest first, as a new array of
 * {"path","params":{name: value},"sent"?} the caller json_decref()s. NULL
 * (and a test failure recorded) when the log could not be read. */
json_t *fake_searxng_requests(const struct fake_searxng *fs);

#endif
