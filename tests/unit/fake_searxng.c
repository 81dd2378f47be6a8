/* Test helper: runs tests/fake_searxng.py on a free port and talks to its
 * side doors. Same pattern as fake_model.c. */
#include "fake_searxng.h"
#include "fake_proc.h"

#include "test.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

int fake_searxng_start(struct fake_searxng *fs, const char *const *extra)
{
    memset(fs, 0, sizeof *fs);
    /* The script prints the port on stdout too; tests read the file. */
    int ret =
        fake_proc_start("tests/fake_searxng.py", "fake SearXNG", extra, 1, &fs->pid, &fs->port);
    if (ret == 1)
        snprintf(fs->base_url, sizeof fs->base_url, "http://127.0.0.1:%d", fs->port);
    return ret;
}

void fake_searxng_stop(struct fake_searxng *fs)
{
    fake_proc_stop(&fs->pid);
}

long fake_searxng_http(const struct fake_searxng *fs, const char *method, const char *path,
                       const char *body, struct buf *out)
{
    return fake_proc_http(fs->port, method, path, body, out);
}

static struct fake_searxng shared_fs;
static int shared_state; /* 0 not tried, 1 running, -1 unavailable */

static void stop_shared(void)
{
    fake_searxng_stop(&shared_fs);
}

const struct fake_searxng *fake_searxng_shared(const char *mode, int count, int delay_ms)
{
    if (shared_state == 0) {
        int r = fake_searxng_start(&shared_fs, NULL);
        shared_state = r == 1 ? 1 : -1;
        if (r == 1)
            atexit(stop_shared);
        else if (r < 0)
            test_fail(__FILE__, __LINE__, "could not start tests/fake_searxng.py");
    }
    if (shared_state != 1)
        return NULL;
    char body[128];
    snprintf(body, sizeof body, "{\"mode\":\"%s\",\"count\":%d,\"delay_ms\":%d}", mode, count,
             delay_ms);
    long status = fake_searxng_http(&shared_fs, "POST", "/control", body, NULL);
    if (status != 200) {
        test_fail(__FILE__, __LINE__, "fake SearXNG: POST /control %s gave HTTP %ld", body, status);
        return NULL;
    }
    status = fake_searxng_http(&shared_fs, "DELETE", "/requests", NULL, NULL);
    if (status != 200) {
        test_fail(__FILE__, __LINE__, "fake SearXNG: DELETE /requests gave HTTP %ld", status);
        return NULL;
    }
    return &shared_fs;
}

json_t *fake_searxng_requests(const struct fake_searxng *fs)
{
    struct buf text = BUF_INIT;
    json_t *all = NULL;
    long status = fake_searxng_http(fs, "GET", "/requests", NULL, &text);
    if (status == 200)
        all = json_loadb(text.p ? text.p : "", text.len, 0, NULL);
    if (!json_is_array(all)) {
        test_fail(__FILE__, __LINE__, "fake SearXNG: GET /requests gave HTTP %ld, no JSON array",
                  status);
        json_decref(all);
        all = NULL;
    }
    buf_release(&text);
    return all;
}
