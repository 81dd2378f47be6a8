/* Test helper: runs tests/fake_model.py (a deterministic fake OpenAI-compatible
 * model server) as a child process on a free port, and talks to its side
 * doors (/control, /requests). Shared by the unit tests that need a model. */
#ifndef ATRIUM_TEST_FAKE_MODEL_H
#define ATRIUM_TEST_FAKE_MODEL_H

#include <jansson.h>
#include <sys/types.h>

#include "common/buf.h"

struct fake_model {
    pid_t pid;
    int port;
    char base_url[64]; /* "http://127.0.0.1:PORT/v1" */
};

/* Starts `python3 tests/fake_model.py --port 0 --port-file F extra...`
 * (extra: NULL-terminated, may be NULL) and waits up to 10 s for it to
 * listen. Tests run from the repo root, so the script is found relative to
 * the cwd. Returns 1 when running, 0 when python3 is missing (the caller
 * skips), -1 when the server did not come up (nothing is left running).
 * The child gets SIGTERM if this process dies, so a crashed test leaks
 * nothing. Stop it with fake_model_stop. */
int fake_model_start(struct fake_model *fm, const char *const *extra);

/* SIGTERM, then waits for the process to go. Safe on a stopped or
 * never-started server. */
void fake_model_stop(struct fake_model *fm);

/* A plain HTTP call (3 s timeout) to http://127.0.0.1:PORT{path}, for the
 * side doors and raw model calls. Returns the HTTP status, 0 when the call
 * failed; the response body is appended to out when out is not NULL. */
long fake_model_http(const struct fake_model *fm, const char *method, const char *path,
                     const char *body, struct buf *out);

/* One server for the whole test run: started on first use, stopped at exit,
 * and switched to `mode` with `tokens` and `delay_ms` (see POST /control) on
 * every call. Returns NULL when python3 is missing (skip the test) or when
 * the server could not be started or switched (recorded as a test failure).
 * Tests that share it set the mode they need and clear the request log
 * (fake_model_clear) before asserting on it. */
const struct fake_model *fake_model_shared(const char *mode, int tokens, int delay_ms);

/* Forgets the recorded requests (DELETE /requests). Returns 1 on success. */
int fake_model_clear(const struct fake_model *fm);

/* The JSON bodies of the recorded model requests whose path is `path`
 * (e.g. "/v1/embeddings"), oldest first, as a new array the caller
 * json_decref()s. NULL (and a test failure recorded) when the log could not
 * be read. */
json_t *fake_model_requests(const struct fake_model *fm, const char *path);

/* A base URL ("http://127.0.0.1:PORT/v1") on a loopback port where
 * nothing listens: bound, then closed. */
void fake_model_closed_url(char *out, size_t cap);

#endif
