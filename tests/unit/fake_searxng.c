/* Test helper: runs tests/fake_searxng.py on a free port and talks to its
 * side doors. Same pattern as fake_model.c. */
#include "fake_searxng.h"

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

int fake_searxng_start(struct fake_searxng *fs, const char *const *extra)
{
    char python[512], port_file[512];
    const char *argv[32];
    size_t argc = 0;
    int ret = -1;
    memset(fs, 0, sizeof *fs);
    if (!find_on_path("python3", python, sizeof python)) {
        fprintf(stderr, "  SKIP: python3 not found on PATH; fake SearXNG tests skipped\n");
        return 0;
    }
    if (access("tests/fake_searxng.py", R_OK) != 0) {
        fprintf(stderr, "  tests/fake_searxng.py not found (run tests from the repo root)\n");
        return -1;
    }
    snprintf(port_file, sizeof port_file, "%s/fake_searxng.%d.port", test_tmpdir(), (int)getpid());
    unlink(port_file);
    argv[argc++] = python;
    argv[argc++] = "tests/fake_searxng.py";
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
        /* The script prints the port on stdout too; tests read the file. */
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execv(python, (char *const *)argv);
        _exit(127);
    }
    fs->pid = pid;
    for (int i = 0; i < 1000; i++) { /* 10 s: a loaded CI machine is slow to start python */
        struct buf b = BUF_INIT;
        int64_t port = 0;
        if (read_file(port_file, 64, &b) == RC_OK && b.len > 1 && b.p[b.len - 1] == '\n') {
            b.p[--b.len] = '\0';
            if (parse_i64(b.p, 1, 65535, &port) == RC_OK) {
                fs->port = (int)port;
                snprintf(fs->base_url, sizeof fs->base_url, "http://127.0.0.1:%d", fs->port);
                ret = 1;
            }
        }
        buf_release(&b);
        if (ret == 1)
            break;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fs->pid = 0;
            fprintf(stderr, "  fake SearXNG exited early (status %d)\n", status);
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    unlink(port_file);
    if (ret != 1 && fs->pid > 0) {
        kill(fs->pid, SIGKILL);
        waitpid(fs->pid, NULL, 0);
        fs->pid = 0;
    }
    return ret;
}

void fake_searxng_stop(struct fake_searxng *fs)
{
    if (fs->pid > 0) {
        kill(fs->pid, SIGTERM);
        waitpid(fs->pid, NULL, 0);
        fs->pid = 0;
    }
}

static size_t collect(char *p, size_t size, size_t nmemb, void *ud)
{
    return buf_add(ud, p, size * nmemb) == RC_OK ? size * nmemb : 0;
}

long fake_searxng_http(const struct fake_searxng *fs, const char *method, const char *path,
                       const char *body, struct buf *out)
{
    char url[256];
    long status = 0;
    struct buf sink = BUF_INIT;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = curl_easy_init();
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", fs->port, path);
    int ok = h && hdrs && curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK &&
             (!body || curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK) &&
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
