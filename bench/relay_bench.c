/* A bare relay between the load client and the fake model: the floor under
 * any gateway's overhead on this host (bench/assist.sh, issue #4). It does
 * none of a gateway's work (no sign-in, search, store, JSON or SSE parsing,
 * PII masking): it reads a client's request, forwards it to the model with an
 * X-Request-Id header, and copies the model's reply to the client. Its
 * threads are like Atrium's model loops: one epoll loop each (with a
 * listening socket of its own on the same port, SO_REUSEPORT), at nice -10
 * when allowed, or real-time (SCHED_RR 1) with --rt 1, as Atrium's loops with
 * ATRIUM_MODEL_LOOP_RT=1. Per request it logs, in the format of Atrium's ask trace,
 * when the request was read (model_at) and when the reply's first content
 * came back (first_at), CLOCK_MONOTONIC ms, so bench/gw_overhead.py pairs
 * them with the fake model's GET /trace exactly as it pairs Atrium's.
 * It opens a new connection to the model per request (Atrium reuses them).
 *   relay_bench --port P --upstream-port Q [--threads T] [--nice N] [--rt 0|1]
 *               [--port-file F]
 * T defaults to four per core, at most 64 (Atrium's model loops); the trace lines go to
 * stderr. Not a product part: nothing in src/ uses it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX (64u << 10) /* bytes of a client's request */
#define RELAY_BUF 16384     /* bytes of reply read at a time */
#define MAX_EVENTS 256
#define THREADS_MAX 64

static const char CONTENT[] = "\"content\":\"";

enum state { READING, SENDING, RELAYING };

struct pair;
struct end {
    struct pair *p;
    int up; /* the model's side */
};

struct pair {
    struct end cend, uend;
    int cfd, ufd;
    enum state state;
    char *in; /* the client's request */
    size_t nin;
    char *req; /* the request as the model gets it */
    size_t nreq, sent;
    char out[RELAY_BUF]; /* reply bytes the client has not taken yet */
    size_t nout, offout;
    int up_eof;
    char id[24];
    double model_at, first_at;
};

static struct sockaddr_in g_up;
static int g_port, g_nice = -10, g_rt;
static unsigned g_seed;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void watch(int ep, int fd, struct end *e, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = e};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0)
        (void)epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void pair_close(struct pair *p)
{
    if (p->model_at > 0 && p->first_at > 0) {
        pthread_mutex_lock(&g_log_mu);
        fprintf(stderr, "[%s] ask trace (ms): relay model_at=%.3f first_at=%.3f\n", p->id,
                p->model_at, p->first_at);
        pthread_mutex_unlock(&g_log_mu);
    }
    if (p->cfd >= 0)
        close(p->cfd); /* closing also takes a socket out of its epoll set */
    if (p->ufd >= 0)
        close(p->ufd);
    free(p->in);
    free(p->req);
    free(p);
}

/* The length of a complete request (head and Content-Length body) in p->in,
 * or 0 while more is to come. */
static size_t request_len(const struct pair *p)
{
    const char *end = memmem(p->in, p->nin, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - p->in) + 4, body = 0;
    for (const char *l = p->in; l < end;) {
        if (strncasecmp(l, "content-length:", 15) == 0)
            body = strtoul(l + 15, NULL, 10);
        l = (const char *)memmem(l, (size_t)(end + 2 - l), "\r\n", 2) + 2;
    }
    return p->nin >= head + body ? head + body : 0;
}

/* The request line, our X-Request-Id, then the rest as the client sent it. */
static int start_upstream(int ep, struct pair *p, size_t len)
{
    const char *eol = memmem(p->in, len, "\r\n", 2);
    static _Atomic unsigned long next;
    snprintf(p->id, sizeof p->id, "%08x%08lx", g_seed, (unsigned long)++next);
    char hdr[64];
    int nh = snprintf(hdr, sizeof hdr, "X-Request-Id: %s\r\n", p->id);
    size_t first = (size_t)(eol - p->in) + 2;
    p->req = malloc(len + (size_t)nh);
    if (!p->req)
        return -1;
    memcpy(p->req, p->in, first);
    memcpy(p->req + first, hdr, (size_t)nh);
    memcpy(p->req + first + nh, p->in + first, len - first);
    p->nreq = len + (size_t)nh;
    p->ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (p->ufd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(p->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(p->ufd, (const struct sockaddr *)&g_up, sizeof g_up) != 0 && errno != EINPROGRESS)
        return -1;
    p->state = SENDING;
    watch(ep, p->cfd, &p->cend, 0);
    watch(ep, p->ufd, &p->uend, EPOLLOUT);
    return 0;
}

static int on_client(int ep, struct pair *p, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP))
        return -1;
    if (p->state == READING) {
        for (;;) {
            if (p->nin == REQ_MAX)
                return -1;
            ssize_t r = recv(p->cfd, p->in + p->nin, REQ_MAX - p->nin, 0);
            if (r > 0) {
                p->nin += (size_t)r;
                continue;
            }
            if (r == 0 || errno != EAGAIN)
                return -1;
            break;
        }
        size_t len = request_len(p);
        if (!len)
            return 0;
        p->model_at = now_ms();
        return start_upstream(ep, p, len);
    }
    /* the client took the rest of a reply it was slow to read */
    while (p->offout < p->nout) {
        ssize_t w = send(p->cfd, p->out + p->offout, p->nout - p->offout, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        p->offout += (size_t)w;
    }
    p->nout = p->offout = 0;
    if (p->up_eof)
        return -1;
    watch(ep, p->cfd, &p->cend, 0);
    watch(ep, p->ufd, &p->uend, EPOLLIN);
    return 0;
}

static int on_model(int ep, struct pair *p, uint32_t events)
{
    if (p->state == SENDING) {
        if (events & (EPOLLERR | EPOLLHUP))
            return -1;
        while (p->sent < p->nreq) {
            ssize_t w = send(p->ufd, p->req + p->sent, p->nreq - p->sent, MSG_NOSIGNAL);
            if (w < 0)
                return errno == EAGAIN ? 0 : -1;
            p->sent += (size_t)w;
        }
        p->state = RELAYING;
        watch(ep, p->ufd, &p->uend, EPOLLIN);
        return 0;
    }
    ssize_t r = recv(p->ufd, p->out, sizeof p->out, 0);
    if (r < 0)
        return errno == EAGAIN ? 0 : -1;
    if (r == 0)
        return -1; /* the model closed: the reply is complete */
    const char *c = p->first_at > 0 ? NULL : memmem(p->out, (size_t)r, CONTENT, sizeof CONTENT - 1);
    if (c && c + sizeof CONTENT - 1 < p->out + r && c[sizeof CONTENT - 1] != '"')
        p->first_at = now_ms();
    p->nout = (size_t)r;
    p->offout = 0;
    while (p->offout < p->nout) {
        ssize_t w = send(p->cfd, p->out + p->offout, p->nout - p->offout, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN)
                return -1;
            watch(ep, p->ufd, &p->uend, 0); /* read no more until the client catches up */
            watch(ep, p->cfd, &p->cend, EPOLLOUT);
            return 0;
        }
        p->offout += (size_t)w;
    }
    p->nout = p->offout = 0;
    return 0;
}

static void *loop_main(void *arg)
{
    (void)arg;
    struct sched_param sp = {.sched_priority = 1};
    if (g_rt && sched_setscheduler(0, SCHED_RR, &sp) != 0)
        fprintf(stderr, "relay: real-time scheduling not allowed\n");
    else if (!g_rt && g_nice && setpriority(PRIO_PROCESS, (id_t)gettid(), g_nice) != 0)
        fprintf(stderr, "relay: nice %d not allowed, normal priority\n", g_nice);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)g_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 4096) != 0 || ep < 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev) != 0) {
        perror("relay: listen");
        exit(1);
    }
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            struct end *e = evs[i].data.ptr;
            if (!e) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct pair *p = calloc(1, sizeof *p);
                    if (!p || !(p->in = malloc(REQ_MAX))) {
                        free(p);
                        close(fd);
                        continue;
                    }
                    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    p->cfd = fd;
                    p->ufd = -1;
                    p->cend = (struct end){p, 0};
                    p->uend = (struct end){p, 1};
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->cend};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
                        pair_close(p);
                }
                continue;
            }
            struct pair *p = e->p;
            int rc = e->up ? on_model(ep, p, evs[i].events) : on_client(ep, p, evs[i].events);
            if (rc != 0)
                pair_close(p);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cores > 1 ? (int)(4 * cores < THREADS_MAX ? 4 * cores : THREADS_MAX) : 1,
        up_port = 0;
    const char *port_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            g_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--upstream-port") == 0)
            up_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--nice") == 0)
            g_nice = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rt") == 0)
            g_rt = atoi(argv[i + 1]) != 0;
        else if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[i + 1];
        else
            break;
    }
    if (g_port <= 0 || up_port <= 0 || threads < 1 || threads > THREADS_MAX) {
        fprintf(stderr,
                "usage: %s --port P --upstream-port Q [--threads 1..%d] [--nice N] [--rt 0|1] "
                "[--port-file F]\n",
                argv[0], THREADS_MAX);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_up = (struct sockaddr_in){.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)up_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    g_seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    setvbuf(stderr, NULL, _IOLBF, 0);
    pthread_t t[THREADS_MAX];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, loop_main, NULL) != 0) {
            perror("relay: thread");
            return 1;
        }
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f || fprintf(f, "%d\n", g_port) < 0 || fclose(f) != 0) {
            perror("relay: port file");
            return 1;
        }
    }
    pthread_join(t[0], NULL);
    return 0;
}
