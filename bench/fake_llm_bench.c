/* A fake OpenAI-compatible chat model for the streaming benchmark (issue #4,
 * bench/assist.sh): one thread, epoll, thousands of concurrent streams, each
 * sending its tokens exactly --delay-ms apart (a timer heap), so the model
 * side is never what a run measures. Keep-alive with chunked streams, so a
 * client that reuses connections can. Not a test double: tests use
 * tests/fake_model.py, which records requests and has failure modes.
 *   fake_llm_bench --port P [--tokens 50] [--delay-ms 20] [--port-file F]
 * Serves POST /v1/chat/completions (stream or not) and GET /v1/models, and
 * GET /stats: the model's own time to first content (from a streamed
 * request's last byte read to its first content chunk written, ms: n, p50,
 * p99, max) over the streams since the previous GET /stats, which resets it;
 * and GET /trace: a line per streamed request that carried an X-Request-Id
 * since the previous GET /trace, "ID ARRIVED_MS FIRST_MS", CLOCK_MONOTONIC:
 * when the request's last bytes reached the socket (the kernel's receive
 * timestamp, so the fake's own lag is not in it) and when its first content
 * chunk was written. bench/assist.sh pairs them with Atrium's trace lines. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX (1u << 20) /* bytes of a request (head and body) */
#define MAX_EVENTS 256

struct fconn {
    int fd;
    char *in; /* the request being read */
    size_t nin, capin;
    char *out; /* bytes not yet written */
    size_t nout, offout, capout;
    int streaming; /* tokens left to send; 0 = not streaming */
    int sent;      /* tokens sent */
    int64_t due;   /* when the next token is due (µs), in the heap when streaming */
    int closing;   /* close when out is drained */
    int heap_ix;
    int64_t t_req;    /* when the streamed request was read (µs) */
    int64_t t_rcv;    /* the kernel's receive time of the last bytes read (µs, monotonic) */
    int64_t t_arrive; /* t_rcv of the streamed request's last bytes */
    int want_out;     /* EPOLLOUT is in the connection's epoll interest */
    char rid[48];     /* the streamed request's X-Request-Id, or "" */
};

struct rec {
    char rid[48];
    int64_t arrive, first; /* µs, monotonic */
};

static int g_tokens = 50, g_delay_ms = 20;
static struct fconn **g_heap;
static size_t g_nheap, g_capheap;
static long g_streams_total;
static double *g_ttft; /* own time to first content per stream (ms), since the last /stats */
static size_t g_nttft, g_capttft;
static struct rec *g_recs; /* streamed requests with an id, since the last /trace */
static size_t g_nrecs, g_caprecs;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *xrealloc_or_die(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "fake_llm: out of memory\n");
        exit(1);
    }
    return q;
}

/* ---- the timer heap (min on due) ---- */

static void heap_swap(size_t a, size_t b)
{
    struct fconn *t = g_heap[a];
    g_heap[a] = g_heap[b];
    g_heap[b] = t;
    g_heap[a]->heap_ix = (int)a;
    g_heap[b]->heap_ix = (int)b;
}

static void heap_up(size_t i)
{
    while (i && g_heap[(i - 1) / 2]->due > g_heap[i]->due) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < g_nheap && g_heap[l]->due < g_heap[m]->due)
            m = l;
        if (r < g_nheap && g_heap[r]->due < g_heap[m]->due)
            m = r;
        if (m == i)
            return;
        heap_swap(i, m);
        i = m;
    }
}

static void heap_push(struct fconn *c)
{
    if (g_nheap == g_capheap) {
        g_capheap = g_capheap ? 2 * g_capheap : 1024;
        g_heap = xrealloc_or_die(g_heap, g_capheap * sizeof *g_heap);
    }
    g_heap[g_nheap] = c;
    c->heap_ix = (int)g_nheap++;
    heap_up(g_nheap - 1);
}

static void heap_remove(struct fconn *c)
{
    if (c->heap_ix < 0)
        return;
    size_t i = (size_t)c->heap_ix;
    c->heap_ix = -1;
    if (i != --g_nheap) {
        g_heap[i] = g_heap[g_nheap];
        g_heap[i]->heap_ix = (int)i;
        heap_down(i);
        heap_up(i);
    }
}

/* ---- output ---- */

static void out_add(struct fconn *c, const char *p, size_t n)
{
    if (c->nout + n > c->capout) {
        c->capout = (c->nout + n) * 2;
        c->out = xrealloc_or_die(c->out, c->capout);
    }
    memcpy(c->out + c->nout, p, n);
    c->nout += n;
}

static void out_chunk(struct fconn *c, const char *p, size_t n)
{
    char head[32];
    int hn = snprintf(head, sizeof head, "%zx\r\n", n);
    out_add(c, head, (size_t)hn);
    out_add(c, p, n);
    out_add(c, "\r\n", 2);
}

static void out_event(struct fconn *c, const char *json)
{
    char ev[1024];
    int n = snprintf(ev, sizeof ev, "data: %s\n\n", json);
    out_chunk(c, ev, (size_t)n);
}

static void conn_close(int ep, struct fconn *c)
{
    heap_remove(c);
    (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Writes what it can; returns -1 when the connection is gone. */
static int flush_out(int ep, struct fconn *c)
{
    while (c->offout < c->nout) {
        ssize_t w = send(c->fd, c->out + c->offout, c->nout - c->offout, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        c->offout += (size_t)w;
    }
    if (c->offout == c->nout)
        c->offout = c->nout = 0;
    int want = c->nout != 0;
    if (want != c->want_out) { /* one epoll_ctl when the interest changes, not per token */
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
            return -1;
        c->want_out = want;
    }
    if (!c->nout && c->closing && !c->streaming)
        return -1;
    return 0;
}

static const char *const WORDS[] = {"根据", "资料", "大额", "现金", "支取", "需要",
                                    "提前", "一个", "营业", "日预", "约。", "填充"};

static void send_token(struct fconn *c)
{
    char js[512];
    if (c->sent < g_tokens) {
        if (c->sent == 0) {
            if (g_nttft == g_capttft) {
                g_capttft = g_capttft ? 2 * g_capttft : 4096;
                g_ttft = xrealloc_or_die(g_ttft, g_capttft * sizeof *g_ttft);
            }
            int64_t now = now_us();
            g_ttft[g_nttft++] = (double)(now - c->t_req) / 1000.0;
            if (c->rid[0]) {
                if (g_nrecs == g_caprecs) {
                    g_caprecs = g_caprecs ? 2 * g_caprecs : 4096;
                    g_recs = xrealloc_or_die(g_recs, g_caprecs * sizeof *g_recs);
                }
                struct rec *r = &g_recs[g_nrecs++];
                memcpy(r->rid, c->rid, sizeof r->rid);
                r->arrive = c->t_arrive;
                r->first = now;
            }
        }
        snprintf(js, sizeof js,
                 "{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"model\":\"fake\","
                 "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
                 "\"finish_reason\":null}]}",
                 WORDS[c->sent % (sizeof WORDS / sizeof WORDS[0])]);
        out_event(c, js);
        c->sent++;
        return;
    }
    out_event(c, "{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"model\":\"fake\","
                 "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
    snprintf(js, sizeof js,
             "{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"model\":\"fake\","
             "\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":%d,"
             "\"total_tokens\":%d}}",
             g_tokens, g_tokens + 100);
    out_event(c, js);
    out_event(c, "[DONE]");
    out_add(c, "0\r\n\r\n", 5);
    c->streaming = 0;
}

static void respond_simple(struct fconn *c, int status, const char *body, int keep)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\nConnection: %s\r\n\r\n",
                     status, status == 200 ? "OK" : "Not Found", strlen(body),
                     keep ? "keep-alive" : "close");
    out_add(c, head, (size_t)n);
    out_add(c, body, strlen(body));
    if (!keep)
        c->closing = 1;
}

/* Is `"stream": true` in the body? (a bench tool: a textual check is enough) */
static int wants_stream(const char *body, size_t n)
{
    const char *p = memmem(body, n, "\"stream\"", 8);
    if (!p)
        return 0;
    p += 8;
    while (p < body + n && (*p == ' ' || *p == ':'))
        p++;
    return p < body + n && *p == 't';
}

/* Handles every complete request in c->in. */
static void handle_input(struct fconn *c)
{
    for (;;) {
        if (c->streaming)
            return; /* one at a time: the next request waits for this stream */
        char *end = c->nin ? memmem(c->in, c->nin, "\r\n\r\n", 4) : NULL;
        if (!end)
            return;
        size_t head = (size_t)(end - c->in) + 4, clen = 0;
        int keep = 1;
        char rid[sizeof c->rid] = "";
        for (char *l = c->in; l < end; l++) {
            if (*l != '\n')
                continue;
            if (strncasecmp(l + 1, "content-length:", 15) == 0)
                clen = strtoul(l + 16, NULL, 10);
            else if (strncasecmp(l + 1, "connection:", 11) == 0 &&
                     strncasecmp(l + 12 + strspn(l + 12, " "), "close", 5) == 0)
                keep = 0;
            else if (strncasecmp(l + 1, "x-request-id:", 13) == 0) {
                const char *v = l + 14 + strspn(l + 14, " ");
                size_t n = strcspn(v, "\r\n");
                if (n < sizeof rid) {
                    memcpy(rid, v, n);
                    rid[n] = '\0';
                }
            }
        }
        if (clen > REQ_MAX) {
            respond_simple(c, 404, "{\"error\":\"too large\"}", 0);
            return;
        }
        if (c->nin < head + clen)
            return;
        char *body = c->in + head;
        if (strncmp(c->in, "GET /trace", 10) == 0) {
            size_t cap = g_nrecs * 96 + 1, off = 0;
            char *tb = xrealloc_or_die(NULL, cap);
            tb[0] = '\0';
            for (size_t i = 0; i < g_nrecs; i++)
                off += (size_t)snprintf(tb + off, cap - off, "%s %.3f %.3f\n", g_recs[i].rid,
                                        (double)g_recs[i].arrive / 1000.0,
                                        (double)g_recs[i].first / 1000.0);
            g_nrecs = 0;
            respond_simple(c, 200, tb, keep);
            free(tb);
        } else if (strncmp(c->in, "GET /stats", 10) == 0) {
            char js[256];
            qsort(g_ttft, g_nttft, sizeof *g_ttft, cmp_double);
            size_t n = g_nttft;
            snprintf(js, sizeof js, "{\"n\":%zu,\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f}", n,
                     n ? g_ttft[(size_t)(0.5 * (double)(n - 1) + 0.5)] : -1.0,
                     n ? g_ttft[(size_t)(0.99 * (double)(n - 1) + 0.5)] : -1.0,
                     n ? g_ttft[n - 1] : -1.0);
            g_nttft = 0;
            respond_simple(c, 200, js, keep);
        } else if (strncmp(c->in, "GET /v1/models", 14) == 0) {
            respond_simple(
                c, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"fake\",\"object\":\"model\"}]}",
                keep);
        } else if (strncmp(c->in, "POST ", 5) == 0 &&
                   memmem(c->in, (size_t)(end - c->in), "/chat/completions", 17)) {
            if (wants_stream(body, clen)) {
                static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                        "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
                out_add(c, h, sizeof h - 1);
                out_add(c, keep ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n",
                        keep ? 26 : 21);
                out_event(c,
                          "{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"model\":\"fake\","
                          "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},"
                          "\"finish_reason\":null}]}");
                c->streaming = 1;
                c->sent = 0;
                c->t_req = now_us();
                c->t_arrive = c->t_rcv ? c->t_rcv : c->t_req;
                memcpy(c->rid, rid, sizeof rid);
                c->closing = !keep;
                c->due = now_us() + (int64_t)g_delay_ms * 1000;
                heap_push(c);
                g_streams_total++;
            } else {
                respond_simple(c, 200,
                               "{\"id\":\"b\",\"object\":\"chat.completion\",\"model\":\"fake\","
                               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                               "\"content\":\"大额现金支取需要提前预约吗\"},\"finish_reason\":"
                               "\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":"
                               "5,\"total_tokens\":15}}",
                               keep);
            }
        } else {
            respond_simple(c, 404, "{\"error\":\"not found\"}", keep);
        }
        memmove(c->in, c->in + head + clen, c->nin - head - clen);
        c->nin -= head + clen;
    }
}

/* recv, keeping the kernel's receive time of what was read in c->t_rcv
 * (SO_TIMESTAMPNS: CLOCK_REALTIME, turned into CLOCK_MONOTONIC). */
static ssize_t recv_stamped(struct fconn *c, char *p, size_t n)
{
    char ctl[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = {p, n};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    ssize_t r = recvmsg(c->fd, &mh, 0);
    if (r <= 0)
        return r;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec ts, rt;
        memcpy(&ts, CMSG_DATA(cm), sizeof ts);
        clock_gettime(CLOCK_REALTIME, &rt);
        int64_t ago = ((int64_t)rt.tv_sec - ts.tv_sec) * 1000000 + (rt.tv_nsec - ts.tv_nsec) / 1000;
        c->t_rcv = now_us() - (ago > 0 ? ago : 0);
    }
    return r;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *port_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tokens") == 0)
            g_tokens = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--delay-ms") == 0)
            g_delay_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[i + 1];
        else {
            fprintf(stderr, "usage: %s --port P [--tokens N] [--delay-ms D] [--port-file F]\n",
                    argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    (void)setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 4096) != 0) {
        perror("fake_llm: listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    if (getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
        perror("fake_llm: getsockname");
        return 1;
    }
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f || fprintf(f, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0) {
            perror("fake_llm: port file");
            return 1;
        }
    }
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev) != 0) {
        perror("fake_llm: epoll");
        return 1;
    }
    struct epoll_event evs[MAX_EVENTS];
    while (!g_stop) {
        int timeout = -1;
        if (g_nheap) {
            int64_t wait = g_heap[0]->due - now_us();
            timeout = wait <= 0 ? 0 : (int)((wait + 999) / 1000);
        }
        int n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            perror("fake_llm: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct fconn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0)
                        break;
                    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    (void)setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
                    struct fconn *nc = calloc(1, sizeof *nc);
                    if (!nc)
                        exit(1);
                    nc->fd = fd;
                    nc->heap_ix = -1;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                        close(fd);
                        free(nc);
                    }
                }
                continue;
            }
            int gone = 0;
            if (evs[i].events & EPOLLIN) {
                for (;;) {
                    if (c->capin - c->nin < 4096) {
                        c->capin = c->capin ? 2 * c->capin : 8192;
                        if (c->capin > 2 * REQ_MAX) {
                            gone = 1;
                            break;
                        }
                        c->in = xrealloc_or_die(c->in, c->capin);
                    }
                    ssize_t r = recv_stamped(c, c->in + c->nin, c->capin - c->nin);
                    if (r > 0) {
                        c->nin += (size_t)r;
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EINTR))
                        gone = 1;
                    break;
                }
                if (!gone)
                    handle_input(c);
            }
            if (!gone && (evs[i].events & (EPOLLOUT | EPOLLIN)))
                gone = flush_out(ep, c) != 0;
            if (!gone && (evs[i].events & (EPOLLERR | EPOLLHUP)))
                gone = 1;
            if (gone)
                conn_close(ep, c);
        }
        int64_t now = now_us();
        while (g_nheap && g_heap[0]->due <= now) {
            struct fconn *c = g_heap[0];
            send_token(c);
            if (c->streaming) {
                c->due += (int64_t)g_delay_ms * 1000;
                heap_down(0);
            } else {
                heap_remove(c);
                handle_input(c); /* a pipelined next request */
            }
            if (flush_out(ep, c) != 0)
                conn_close(ep, c);
        }
    }
    fprintf(stderr, "fake_llm: %ld streams served\n", g_streams_total);
    return 0;
}
