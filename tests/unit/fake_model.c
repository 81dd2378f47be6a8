/* Test helper: runs tests/fake_model.py on a free port and talks to its side
 * doors. Moved here from test_llm.c so every test file that needs a model
 * (llm, kb with embeddings and rerank) shares one implementation. */
#include "fake_model.h"
#include "fake_proc.h"

#include "test.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int fake_model_start(struct fake_model *fm, const char *const *extra)
{
    memset(fm, 0, sizeof *fm);
    int ret = fake_proc_start("tests/fake_model.py", "fake model", extra, 0, &fm->pid, &fm->port);
    if (ret == 1)
        snprintf(fm->base_url, sizeof fm->base_url, "http://127.0.0.1:%d/v1", fm->port);
    return ret;
}

void fake_model_stop(struct fake_model *fm)
{
    fake_proc_stop(&fm->pid);
}

long fake_model_http(const struct fake_model *fm, const char *method, const char *path,
                     const char *body, struct buf *out)
{
    return fake_proc_http(fm->port, method, path, body, out);
}

static struct fake_model shared_fm;
static int shared_state; /* 0 not tried, 1 running, -1 unavailable */

static void stop_shared(void)
{
    fake_model_stop(&shared_fm);
}

const struct fake_model *fake_model_shared(const char *mode, int tokens, int delay_ms)
{
    if (shared_state == 0) {
        int r = fake_model_start(&shared_fm, NULL);
        shared_state = r == 1 ? 1 : -1;
        if (r == 1)
            atexit(stop_shared);
        else if (r < 0)
            test_fail(__FILE__, __LINE__, "could not start tests/fake_model.py");
    }
    if (shared_state != 1)
        return NULL;
    char body[128];
    snprintf(body, sizeof body, "{\"mode\":\"%s\",\"tokens\":%d,\"delay_ms\":%d}", mode, tokens,
             delay_ms);
    long status = fake_model_http(&shared_fm, "POST", "/control", body, NULL);
    if (status != 200) {
        test_fail(__FILE__, __LINE__, "fake model: POST /control %s gave HTTP %ld", body, status);
        return NULL;
    }
    return &shared_fm;
}

int fake_model_clear(const struct fake_model *fm)
{
    return fake_model_http(fm, "DELETE", "/requests", NULL, NULL) == 200;
}

json_t *fake_model_requests(const struct fake_model *fm, const char *path)
{
    struct buf text = BUF_INIT;
    json_t *all = NULL, *out = NULL;
    long status = fake_model_http(fm, "GET", "/requests", NULL, &text);
    if (status == 200)
        all = json_loadb(text.p ? text.p : "", text.len, 0, NULL);
    if (!json_is_array(all)) {
        test_fail(__FILE__, __LINE__, "fake model: GET /requests gave HTTP %ld, no JSON array",
                  status);
        goto out;
    }
    out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(all, i, r)
    {
        const char *p = json_string_value(json_object_get(r, "path"));
        json_t *body = json_object_get(r, "body");
        if (p && strcmp(p, path) == 0 && body)
            json_array_append(out, body);
    }
out:
    json_decref(all);
    buf_release(&text);
    return out;
}

void fake_model_closed_url(char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 9;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    snprintf(out, cap, "http://127.0.0.1:%d/v1", port);
}
