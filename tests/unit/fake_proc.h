/* Test helper shared by the fake servers (fake_model, fake_searxng): runs a
 * Python fake on a free port as a child process, and makes plain HTTP
 * calls to its side doors. */
#ifndef ATRIUM_TEST_FAKE_PROC_H
#define ATRIUM_TEST_FAKE_PROC_H

#include <sys/types.h>

#include "common/buf.h"

/* Starts `python3 SCRIPT --port 0 --port-file F extra...` (extra:
 * NULL-terminated, may be NULL) from the repo root and waits up to 10 s for
 * it to write its port. `what` names it in messages; quiet_stdout sends the
 * child's stdout to /dev/null. Returns 1 with *pid and *port set, 0 when
 * python3 is missing (the caller skips), -1 when it did not come up (nothing
 * left running). The child gets SIGTERM if this process dies. */
int fake_proc_start(const char *script, const char *what, const char *const *extra,
                    int quiet_stdout, pid_t *pid, int *port);
/* SIGTERM, then waits for the process; *pid becomes 0. Safe when 0. */
void fake_proc_stop(pid_t *pid);
/* A plain HTTP call (3 s timeout) to http://127.0.0.1:PORT{path} with a JSON
 * body (may be NULL). Returns the HTTP status, 0 when the call failed; the
 * body is appended to out when out is not NULL. */
long fake_proc_http(int port, const char *method, const char *path, const char *body,
                    struct buf *out);

#endif
