/* The client of the streaming benchmark (issue #4, bench/assist.sh): opens N
 * concurrent streamed conversations on one thread (epoll) — straight to the
 * model (the baseline) and through `atrium serve`, in the same run — and
 * measures each stream's time to the first answer token and to its end.
 * Prints one table row (and, with --json, one JSON object, which also has
 * the most streams open at the same moment on each side: peak_open; with
 * --ramp longer than a stream lasts, fewer than N are ever open together).
 *   sse_load_bench --n N --model http://127.0.0.1:P/v1
 *                  [--atrium http://127.0.0.1:Q --token T] [--pid ATRIUM_PID]
 *                  [--ramp MS]
 * --ramp MS opens the N streams evenly over MS milliseconds instead of all at
 * once (both sides). Each stream's times count from its own start. The
 * model's own time to first content (fake_llm_bench's GET /stats, from its
 * timestamps) is read for the Atrium half and printed with --json.
 * The first token is the first chat chunk with non-empty "content" (model)
 * or the first "event: delta" (Atrium). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_TIMEOUT_S 120

static const char QUESTION[] = "大额现金支取需要提前预约吗";

struct sconn {
    int fd;
    double t0, tfirst, tend;
    char *in;
    size_t nin, cap, scanned;
    int status, done;
    const char *first_marker, *end_marker;
    const char *req;
    size_t nreq, sentreq;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int parse_url(const char *url, struct sockaddr_in *sa, char *path, size_t pathsz)
{
    unsigned a, b, c, d, port;
    int used = 0;
    if (sscanf(url, "http://%u.%u.%u.%u:%u%n", &a, &b, &c, &d, &port, &used) != 5)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    sa->sin_addr.s_addr = htonl((a << 24) | (b << 16) | (c << 8) | d);
    snprintf(path, pathsz, "%s", url + used);
    size_t n = strlen(path);
    while (n && path[n - 1] == '/')
        path[--n] = '\0';
    return 0;
}

static char *make_req(const char *method, const char *host_path, const char *token,
                      const char *body, size_t *len)
{
    size_t cap = strlen(body) + 1024;
    char *r = malloc(cap);
    if (!r)
        die("malloc");
    int n = snprintf(r, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n%s%s%s\r\n%s",
                     method, host_path, strlen(body), token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "", body);
    *len = (size_t)n;
    return r;
}

/* One blocking request for the setup (creating conversations): the body,
 * or NULL. */
static char *blocking_request(const struct sockaddr_in *sa, const char *req, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0)
        die("connect");
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, req + off, n - off);
        if (w <= 0)
            die("write");
        off += (size_t)w;
    }
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    if (!out)
        die("malloc");
    for (;;) {
        ssize_t r = read(fd, out + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len + 1 >= cap)
            break;
    }
    close(fd);
    out[len] = '\0';
    return out;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return -1;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

struct result {
    size_t ok;
    double ttft50, ttft99, tot50, tot99, ttft_max;
    size_t peak_open; /* the most streams open at the same moment */
};

static void open_stream(int ep, const struct sockaddr_in *sa, struct sconn *c)
{
    c->tfirst = -1;
    c->t0 = now_ms();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        die("socket");
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno != EINPROGRESS)
        die("connect");
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl");
}

/* Runs n streams of `req` to sa, all at once (ramp_ms 0) or opened evenly
 * over ramp_ms; fills *res. */
static void run(const struct sockaddr_in *sa, char **reqs, size_t *lens, size_t n,
                const char *first_marker, const char *end_marker, double ramp_ms,
                struct result *res)
{
    struct sconn *cs = calloc(n, sizeof *cs);
    int ep = epoll_create1(0);
    if (!cs || ep < 0)
        die("setup");
    for (size_t i = 0; i < n; i++) {
        struct sconn *c = &cs[i];
        c->first_marker = first_marker;
        c->end_marker = end_marker;
        c->req = reqs[i];
        c->nreq = lens[i];
        c->fd = -1;
    }
    double start = now_ms();
    size_t opened = 0, peak = 0;
    while (opened < n && (ramp_ms <= 0 || opened == 0))
        open_stream(ep, sa, &cs[opened++]);
    size_t open = n; /* streams not finished yet */
    double deadline = now_ms() + STREAM_TIMEOUT_S * 1e3;
    struct epoll_event evs[256];
    while (open && now_ms() < deadline) {
        while (opened < n && now_ms() - start >= ramp_ms * (double)opened / (double)n)
            open_stream(ep, sa, &cs[opened++]);
        if (opened - (n - open) > peak) /* opened, less the finished ones */
            peak = opened - (n - open);
        int k = epoll_wait(ep, evs, 256, opened < n ? 1 : 1000);
        if (k < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < k; i++) {
            struct sconn *c = evs[i].data.ptr;
            int finish = 0;
            if ((evs[i].events & EPOLLOUT) && c->sentreq < c->nreq) {
                ssize_t w = send(c->fd, c->req + c->sentreq, c->nreq - c->sentreq, MSG_NOSIGNAL);
                if (w > 0)
                    c->sentreq += (size_t)w;
                else if (w < 0 && errno != EAGAIN)
                    finish = 1;
                if (c->sentreq == c->nreq) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    (void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!finish && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                for (;;) {
                    if (c->cap - c->nin < 4096) {
                        c->cap = c->cap ? 2 * c->cap : 16384;
                        c->in = realloc(c->in, c->cap);
                        if (!c->in)
                            die("realloc");
                    }
                    ssize_t r = recv(c->fd, c->in + c->nin, c->cap - c->nin - 1, 0);
                    if (r > 0) {
                        c->nin += (size_t)r;
                        continue;
                    }
                    if (r == 0 || errno != EAGAIN)
                        finish = 1;
                    break;
                }
                c->in[c->nin] = '\0';
                if (!c->status && c->nin > 12 && strncmp(c->in, "HTTP/1.", 7) == 0)
                    c->status = atoi(c->in + 9);
                size_t from = c->scanned > 64 ? c->scanned - 64 : 0;
                if (c->tfirst < 0 && strstr(c->in + from, c->first_marker))
                    c->tfirst = now_ms() - c->t0;
                if (strstr(c->in + from, c->end_marker)) {
                    c->done = 1;
                    finish = 1;
                }
                c->scanned = c->nin;
            }
            if (finish) {
                c->tend = now_ms() - c->t0;
                (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                open--;
            }
        }
    }
    double *tt = calloc(n, sizeof *tt), *to = calloc(n, sizeof *to);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        struct sconn *c = &cs[i];
        if (c->fd >= 0)
            close(c->fd);
        if (c->status == 200 && c->done && c->tfirst >= 0) {
            tt[ok] = c->tfirst;
            to[ok] = c->tend;
            ok++;
        } else if (i < 3 || getenv("SSE_LOAD_VERBOSE")) {
            fprintf(stderr, "sse_load: stream %zu failed (status %d, %zu bytes): %.200s\n", i,
                    c->status, c->nin, c->in ? c->in : "");
        }
        free(c->in);
    }
    qsort(tt, ok, sizeof *tt, cmp_double);
    qsort(to, ok, sizeof *to, cmp_double);
    *res = (struct result){ok,
                           pct(tt, ok, 0.5),
                           pct(tt, ok, 0.99),
                           pct(to, ok, 0.5),
                           pct(to, ok, 0.99),
                           ok ? tt[ok - 1] : -1,
                           peak};
    free(tt);
    free(to);
    free(cs);
    close(ep);
}

/* fake_llm_bench's GET /stats (the model's own time to first content since
 * the last call, which resets it) into out (JSON, or "null") when out. */
static void model_stats(const struct sockaddr_in *sa, const char *mpath, char *out)
{
    char path[600];
    size_t len;
    const char *v1 = strstr(mpath, "/v1");
    snprintf(path, sizeof path, "%.*s/stats", v1 ? (int)(v1 - mpath) : (int)strlen(mpath), mpath);
    char *r = make_req("GET", path, NULL, "", &len);
    char *resp = blocking_request(sa, r, len);
    free(r);
    const char *body = strstr(resp, "\r\n\r\n{");
    if (out)
        snprintf(out, 256, "%s", body && strstr(resp, " 200 ") ? body + 4 : "null");
    free(resp);
}

/* CPU seconds (user + system) the process has used so far, or -1. */
static double cpu_s(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long vm_hwm_mb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb < 0 ? -1 : (kb + 512) / 1024;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *atrium = NULL, *token = NULL;
    size_t n = 100;
    long pid = 0;
    double ramp_ms = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "sse_load: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--model") == 0)
            model = v;
        else if (strcmp(argv[i], "--atrium") == 0)
            atrium = v;
        else if (strcmp(argv[i], "--token") == 0)
            token = v;
        else if (strcmp(argv[i], "--n") == 0)
            n = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--ramp") == 0)
            ramp_ms = strtod(v, NULL);
        else if (strcmp(argv[i], "--pid") == 0)
            pid = strtol(v, NULL, 10);
        else {
            fprintf(stderr, "sse_load: unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (!model || !n || (atrium && !token)) {
        fprintf(stderr, "usage: sse_load_bench --n N --model URL [--atrium URL --token T] "
                        "[--pid PID] [--json]\n");
        return 2;
    }
    char mpath[512], apath[512], path[1024];
    struct sockaddr_in msa, asa;
    if (parse_url(model, &msa, mpath, sizeof mpath) != 0 ||
        (atrium && parse_url(atrium, &asa, apath, sizeof apath) != 0)) {
        fprintf(stderr, "sse_load: URLs look like http://127.0.0.1:PORT/path\n");
        return 2;
    }
    char **reqs = calloc(n, sizeof *reqs);
    size_t *lens = calloc(n, sizeof *lens);
    if (!reqs || !lens)
        die("calloc");

    /* The baseline: the prompt Atrium sends, near enough, straight to the model. */
    char body[2048];
    snprintf(body, sizeof body,
             "{\"model\":\"fake\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
             "\"资料：\\n[1] 《手册》第四条\\n大额现金支取五万元以上的，应当提前一个营业日预约。"
             "\\n\\n问题：%s\"}]}",
             QUESTION);
    snprintf(path, sizeof path, "%s/chat/completions", mpath);
    for (size_t i = 0; i < n; i++)
        reqs[i] = make_req("POST", path, NULL, body, &lens[i]);
    struct result base, thr = {0};
    char own[256] = "null";
    double cpu0 = -1, cpu1 = -1;
    run(&msa, reqs, lens, n, "\"content\":\"", "data: [DONE]", ramp_ms, &base);
    for (size_t i = 0; i < n; i++)
        free(reqs[i]);

    if (atrium) {
        for (size_t i = 0; i < n; i++) {
            size_t len;
            snprintf(path, sizeof path, "%s/api/v1/conversations", apath);
            char *r = make_req("POST", path, token, "{}", &len);
            char *resp = blocking_request(&asa, r, len);
            free(r);
            char *id = strstr(resp, "\"id\":");
            if (!id) {
                fprintf(stderr, "sse_load: cannot create a conversation: %.300s\n", resp);
                return 1;
            }
            long conv = strtol(id + 5 + strspn(id + 5, " "), NULL, 10);
            free(resp);
            snprintf(path, sizeof path, "%s/api/v1/conversations/%ld/ask", apath, conv);
            snprintf(body, sizeof body, "{\"question\":\"%s\",\"stream\":true}", QUESTION);
            reqs[i] = make_req("POST", path, token, body, &lens[i]);
        }
        model_stats(&msa, mpath, NULL); /* resets the fake model's counts */
        cpu0 = pid ? cpu_s(pid) : -1;
        run(&asa, reqs, lens, n, "event: delta", "event: done", ramp_ms, &thr);
        cpu1 = pid ? cpu_s(pid) : -1;
        model_stats(&msa, mpath, own);
        for (size_t i = 0; i < n; i++)
            free(reqs[i]);
    }
    long rss = pid ? vm_hwm_mb(pid) : -1;
    time_t t = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%MZ", gmtime(&t));
    if (json) {
        printf("{\"n\":%zu,\"baseline\":{\"ok\":%zu,\"ttft_p50\":%.1f,\"ttft_p99\":%.1f,"
               "\"total_p50\":%.1f,\"total_p99\":%.1f},\"atrium\":{\"ok\":%zu,\"ttft_p50\":%.1f,"
               "\"ttft_p99\":%.1f,\"total_p50\":%.1f,\"total_p99\":%.1f},\"rss_mb\":%ld,"
               "\"cpu_s\":%.2f,\"ramp_ms\":%.0f,\"model_own_ttft\":%s,"
               "\"peak_open\":{\"baseline\":%zu,\"atrium\":%zu}}\n",
               n, base.ok, base.ttft50, base.ttft99, base.tot50, base.tot99, thr.ok, thr.ttft50,
               thr.ttft99, thr.tot50, thr.tot99, rss, cpu1 - cpu0, ramp_ms, own, base.peak_open,
               thr.peak_open);
    } else {
        printf("| %s | %zu | %zu/%zu | %.1f / %.1f | %.1f / %.1f | **%.1f / %.1f** | %.0f / %.0f "
               "| %ld | %.1f |\n",
               when, n, thr.ok, n, base.ttft50, base.ttft99, thr.ttft50, thr.ttft99,
               thr.ttft50 - base.ttft50, thr.ttft99 - base.ttft99, thr.tot50, thr.tot99, rss,
               cpu1 - cpu0);
    }
    free(reqs);
    free(lens);
    return base.ok == n && (!atrium || thr.ok == n) ? 0 : 1;
}
