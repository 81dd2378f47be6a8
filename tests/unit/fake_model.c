/* Test helper: runs tests/fake_model.py on a free port and talks to its side
 * doors. Moved here from test_llm.c so every test file that needs a model
 * (llm, kb with embeddings and rerank) shares one implementation. */
#include "fake_model.h"

#include "test.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Finds an executable on PATH into out. Returns 1 when found. */
static int find_on_path(const char *name, char *out, size_t outsz)
{
    const char *path = getenv("PATH");
    char *copy = xstrdup(path ? path : "/usr/bin:/bin");
    char *save = NULL;
    int found = 0;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        int n = snprintf(out, outsz, "%s/%s", dir, name);
        found = n > 0 && (size_t)n < outsz && access(out, X_OK) == 0;
    }
    free(copy);
    return found;
}

int fake_model_start(struct fake_model *fm, const char *const *extra)
{
    char python[512], port_file[512];
    const char *argv[32];
    size_t argc = 0;
    int ret = -1;
    memset(fm, 0, sizeof *fm);
    if (!find_on_path("python3", python, sizeof python)) {
        fprintf(stderr, "  SKIP: python3 not found on PATH; fake model tests skipped\n");
        return 0;
    }
    if (access("tests/fake_model.py", R_OK) != 0) {
        fprintf(stderr, "  tests/fake_model.py not found (run tests from the repo root)\n");
        return -1;
    }
    snprintf(port_file, sizeof port_file, "%s/fake_model.%d.port", test_tmpdir(), (int)getpid());
    unlink(port_file);
    argv[argc++] = python;
    argv[argc++] = "tests/fake_model.py";
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--port-file";
    argv[argc++] = port_file;
    for (size_t i = 0; extra && extra[i] && argc < 31; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execv(python, (char *const *)argv);
        _exit(127);
    }
    fm->pid = pid;
    for (int i = 0; i < 1000; i++) { /* 10 s: a loaded CI machine is slow to start python */
        struct buf b = BUF_INIT;
        int64_t port = 0;
        if (read_file(port_file, 64, &b) == RC_OK && b.len > 1 && b.p[b.len - 1] == '\n') {
            b.p[--b.len] = '\0';
            if (parse_i64(b.p, 1, 65535, &port) == RC_OK) {
                fm->port = (int)port;
                snprintf(fm->base_url, sizeof fm->base_url, "http://127.0.0.1:%d/v1", fm->port);
                ret = 1;
            }
        }
        buf_release(&b);
        if (ret == 1)
            break;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fm->pid = 0;
            fprintf(stderr, "  fake model exited early (status %d)\n", status);
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    unlink(port_file);
    if (ret != 1 && fm->pid > 0) {
        kill(fm->pid, SIGKILL);
        waitpid(fm->pid, NULL, 0);
        fm->pid = 0;
    }
    return ret;
}

void fake_model_stop(struct fake_model *fm)
{
    if (fm->pid > 0) {
        kill(fm->pid, SIGTERM);
        waitpid(fm->pid, NULL, 0);
        fm->pid = 0;
    }
}

static size_t collect(char *p, size_t size, size_t nmemb, void *ud)
{
    return buf_add(ud, p, size * nmemb) == RC_OK ? size * nmemb : 0;
}

long fake_model_http(const struct fake_model *fm, const char *method, const char *path,
                     const char *body, struct buf *out)
{
    char url[128];
    long status = 0;
    struct buf sink = BUF_INIT;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = curl_easy_init();
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fm->port, path);
    int ok = h && hdrs && curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEDATA, out ? out : &sink) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L) == CURLE_OK &&
             curl_easy_perform(h) == CURLE_OK;
    if (!ok || curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        status = 0;
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    buf_release(&sink);
    return status;
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
