/* The fake servers' common part: a Python child on a free port, and plain
 * HTTP calls to it (see fake_proc.h). */
#include "fake_proc.h"

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

int fake_proc_start(const char *script, const char *what, const char *const *extra,
                    int quiet_stdout, pid_t *pidp, int *portp)
{
    char python[512], port_file[512];
    const char *argv[32];
    size_t argc = 0;
    int ret = -1;
    *pidp = 0;
    *portp = 0;
    if (!find_on_path("python3", python, sizeof python)) {
        fprintf(stderr, "  SKIP: python3 not found on PATH; %s tests skipped\n", what);
        return 0;
    }
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "  %s not found (run tests from the repo root)\n", script);
        return -1;
    }
    static unsigned seq;
    snprintf(port_file, sizeof port_file, "%s/fake.%d.%u.port", test_tmpdir(), (int)getpid(),
             __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
    unlink(port_file);
    argv[argc++] = python;
    argv[argc++] = script;
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
        if (quiet_stdout && !freopen("/dev/null", "w", stdout))
            _exit(126);
        execv(python, (char *const *)argv);
        _exit(127);
    }
    *pidp = pid;
    for (int i = 0; i < 1000; i++) { /* 10 s: a loaded CI machine is slow to start python */
        struct buf b = BUF_INIT;
        int64_t port = 0;
        if (read_file(port_file, 64, &b) == RC_OK && b.len > 1 && b.p[b.len - 1] == '\n') {
            b.p[--b.len] = '\0';
            if (parse_i64(b.p, 1, 65535, &port) == RC_OK) {
                *portp = (int)port;
                ret = 1;
            }
        }
        buf_release(&b);
        if (ret == 1)
            break;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            *pidp = 0;
            fprintf(stderr, "  %s exited early (status %d)\n", what, status);
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    unlink(port_file);
    if (ret != 1 && *pidp > 0) {
        kill(*pidp, SIGKILL);
        waitpid(*pidp, NULL, 0);
        *pidp = 0;
    }
    return ret;
}

void fake_proc_stop(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

static size_t collect(char *p, size_t size, size_t nmemb, void *ud)
{
    return buf_add(ud, p, size * nmemb) == RC_OK ? size * nmemb : 0;
}

long fake_proc_http(int port, const char *method, const char *path, const char *body,
                    struct buf *out)
{
    char url[128];
    long status = 0;
    struct buf sink = BUF_INIT;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = curl_easy_init();
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
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
