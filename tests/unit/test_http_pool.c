/* The store connection pool of the HTTP server (server.c http_conn and
 * http_conn_lend): past the soft maximum a thread waits for a lent
 * connection, and waiters are served first come first served. */
#include "test.h"

#include "common/config.h"
#include "common/log.h"
#include "common/rc.h"
#include "http/http_int.h"
#include "http/server.h"
#include "kb/kb.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOFT_MAX 24 /* server.c CONN_SOFT_MAX */

struct holder {
    struct http_server *srv;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int release; /* set under mu: lend the connection and end */
    int got;     /* 1 once http_conn returned (order number for waiters) */
    struct kb_conn *c;
    int *order; /* shared counter for waiters, or NULL */
};

static void *hold_main(void *arg)
{
    struct holder *h = arg;
    struct kb_conn *c = http_conn(h->srv);
    pthread_mutex_lock(h->mu);
    h->c = c;
    h->got = h->order ? ++*h->order : 1;
    pthread_cond_broadcast(h->cv);
    while (!h->release)
        pthread_cond_wait(h->cv, h->mu);
    pthread_mutex_unlock(h->mu);
    http_conn_lend(h->srv);
    return NULL;
}

static size_t queued(struct http_server *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->nwaiting;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int wait_for(int (*cond)(void *), void *arg)
{
    for (int i = 0; i < 1000; i++) {
        if (cond(arg))
            return 1;
        usleep(1000);
    }
    return 0;
}

struct qwait {
    struct http_server *s;
    size_t n;
};
static int has_queued(void *arg)
{
    struct qwait *q = arg;
    return queued(q->s) >= q->n;
}
static int has_got(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(h->mu);
    int g = h->got;
    pthread_mutex_unlock(h->mu);
    return g;
}

TEST(http_conn_waiters_first_come_first_served)
{
    struct config cfg;
    struct buf err = BUF_INIT;
    struct kb_engine *eng = NULL;
    struct http_server *srv = NULL;
    char dir[512];
    int cfg_ok = 0;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct holder hs[SOFT_MAX + 2];
    pthread_t th[SOFT_MAX + 2];
    size_t nth = 0;
    int order = 0;
    unsetenv("ATRIUM_CHAT_URL");
    CHECK_INT(config_load(&cfg, NULL, &err), RC_OK);
    cfg_ok = 1;
    snprintf(dir, sizeof dir, "%s/pool", test_tmpdir());
    mkdir(dir, 0700);
    CHECK_INT(config_set(&cfg, "data_dir", dir, &err), RC_OK);
    cfg.port = 0;
    int level = log_level_current;
    log_set_level(LOG_WARN);
    if (kb_engine_open(&cfg, &eng, &err) != RC_OK) {
        test_fail(__FILE__, __LINE__, "engine: %s", buf_str(&err));
        goto out;
    }
    CHECK_INT(http_start(&cfg, eng, &srv, &err), RC_OK);
    if (!srv)
        goto out;
    memset(hs, 0, sizeof hs);
    /* Holders (each keeping its connection) until the soft maximum is
     * reached and none is idle; some are the server's own threads'. */
    for (;;) {
        pthread_mutex_lock(&srv->mu);
        int full = srv->npool == 0 && srv->nconns >= SOFT_MAX;
        pthread_mutex_unlock(&srv->mu);
        if (full || nth == SOFT_MAX)
            break;
        hs[nth] = (struct holder){srv, &mu, &cv, 0, 0, NULL, NULL};
        CHECK_INT(pthread_create(&th[nth], NULL, hold_main, &hs[nth]), 0);
        CHECK(wait_for(has_got, &hs[nth]));
        nth++;
    }
    CHECK(nth >= 2);
    CHECK_INT(queued(srv), 0);
    /* Two waiters, A then B. */
    size_t a = nth, b = nth + 1;
    hs[a] = (struct holder){srv, &mu, &cv, 0, 0, NULL, &order};
    CHECK_INT(pthread_create(&th[a], NULL, hold_main, &hs[a]), 0);
    struct qwait q1 = {srv, 1};
    CHECK(wait_for(has_queued, &q1));
    hs[b] = (struct holder){srv, &mu, &cv, 0, 0, NULL, &order};
    CHECK_INT(pthread_create(&th[b], NULL, hold_main, &hs[b]), 0);
    struct qwait q2 = {srv, 2};
    CHECK(wait_for(has_queued, &q2));
    nth += 2;
    /* One holder lends its connection: it goes to A, B keeps waiting. */
    pthread_mutex_lock(&mu);
    hs[0].release = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    CHECK(wait_for(has_got, &hs[a]));
    CHECK_INT(hs[a].got, 1);
    CHECK(hs[a].c == hs[0].c);
    CHECK_INT(queued(srv), 1);
    /* The next one goes to B. */
    pthread_mutex_lock(&mu);
    hs[1].release = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    CHECK(wait_for(has_got, &hs[b]));
    CHECK_INT(hs[b].got, 2);
    CHECK(hs[b].c == hs[1].c);
    CHECK_INT(queued(srv), 0);
out:
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nth; i++)
        hs[i].release = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    if (srv)
        http_stop(srv);
    kb_engine_close(eng);
    if (cfg_ok)
        config_release(&cfg);
    log_set_level(level);
    buf_release(&err);
}
