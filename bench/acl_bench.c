/* What the permission filter costs a search: the same questions searched
 * with and without a principal, alternating question by question (so drift
 * of a noisy machine hits both sides alike), plus the permission query on
 * its own. Used by bench/acl.sh; not a test.
 *
 *   acl_bench DATA_DIR KB USER QUESTIONS.jsonl [ROUNDS]
 *
 * Prints one JSON object: p50/p90/p99 in ms of unfiltered search, filtered
 * search, the check alone (kb_readable) and the KB lookup the HTTP layer
 * makes (kb_get_for), and the overheads of the median and of the mean. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/acl.h"
#include "auth/auth.h"
#include "common/config.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "kb/kb.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *a, size_t n, double p)
{
    qsort(a, n, sizeof *a, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return a[i < n ? i : n - 1];
}

static double mean(const double *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i];
    return n ? s / (double)n : 0;
}

static json_t *stats(double *a, size_t n)
{
    double m = mean(a, n);
    return json_pack("{s:f,s:f,s:f,s:f}", "mean", m, "p50", pct(a, n, 0.5), "p90", pct(a, n, 0.9),
                     "p99", pct(a, n, 0.99));
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: acl_bench DATA_DIR KB USER QUESTIONS.jsonl [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 5 ? atoi(argv[5]) : 20;
    log_set_level(LOG_ERROR);
    struct config cfg;
    struct buf err = BUF_INIT;
    struct kb_engine *eng = NULL;
    struct kb_conn *c = NULL;
    if (config_load(&cfg, NULL, &err) || config_set(&cfg, "data_dir", argv[1], &err) ||
        kb_engine_open(&cfg, &eng, &err) || kb_conn_open(eng, &c, &err)) {
        fprintf(stderr, "open: %s\n", buf_str(&err));
        return 1;
    }
    struct kb_info kb;
    struct auth_user u;
    struct auth_principal who;
    if (kb_get(c, argv[2], &kb) || auth_user_get(kb_conn_store(c), argv[3], &u) ||
        auth_principal_load(kb_conn_store(c), u.id, &who)) {
        fprintf(stderr, "unknown KB or user\n");
        return 1;
    }
    /* the questions */
    struct buf text = BUF_INIT;
    if (read_file(argv[4], 64u << 20, &text)) {
        fprintf(stderr, "cannot read %s\n", argv[4]);
        return 1;
    }
    char **qs = NULL;
    size_t nq = 0;
    for (char *line = text.p, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        json_t *j = json_loads(line, 0, NULL);
        const char *q = json_string_value(json_object_get(j, "question"));
        if (q) {
            qs = realloc(qs, (nq + 1) * sizeof *qs);
            qs[nq++] = strdup(q);
        }
        json_decref(j);
    }
    size_t n = nq * (size_t)rounds;
    double *plain = calloc(n, sizeof *plain), *filtered = calloc(n, sizeof *filtered);
    double *check = calloc(n, sizeof *check), *lookup = calloc(n, sizeof *lookup);
    double *lookup0 = calloc(n, sizeof *lookup0);
    struct kb_search_opts o_plain = {.k = 10, .flags = KB_NO_HIGHLIGHT, .who = NULL};
    struct kb_search_opts o_filt = {.k = 10, .flags = KB_NO_HIGHLIGHT, .who = &who};
    char idstr[32];
    snprintf(idstr, sizeof idstr, "%lld", (long long)kb.id);
    struct kb_hits h;
    for (size_t i = 0; i < nq; i++) { /* warm the index and the statement cache */
        if (kb_search(c, kb.id, qs[i], &o_filt, &h, &err) != RC_OK) {
            fprintf(stderr, "%s may not read %s\n", argv[3], argv[2]);
            return 1;
        }
        kb_hits_release(&h);
    }
    size_t k = 0;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < nq; i++, k++) {
            for (int side = 0; side < 2; side++) {
                int filt = (side + (int)i + r) & 1; /* alternate which goes first */
                double t0 = now_ms();
                int rc = kb_search(c, kb.id, qs[i], filt ? &o_filt : &o_plain, &h, &err);
                double dt = now_ms() - t0;
                kb_hits_release(&h);
                if (rc)
                    return 1;
                (filt ? filtered : plain)[k] = dt;
            }
            double t0 = now_ms();
            int rc = kb_readable(c, &who, kb.id);
            check[k] = now_ms() - t0;
            struct kb_info ki;
            t0 = now_ms();
            rc |= kb_get_for(c, &who, idstr, ACL_READ, &ki);
            lookup[k] = now_ms() - t0;
            kb_info_release(&ki);
            t0 = now_ms();
            rc |= kb_get_for(c, NULL, idstr, ACL_READ, &ki);
            lookup0[k] = now_ms() - t0;
            kb_info_release(&ki);
            if (rc)
                return 1;
        }
    }
    double mp = mean(plain, n), mf = mean(filtered, n);
    double p50p = pct(plain, n, 0.5), p50f = pct(filtered, n, 0.5);
    json_t *out =
        json_pack("{s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:f,s:f}", "questions", (int)nq, "samples", (int)n,
                  "unfiltered", stats(plain, n), "filtered", stats(filtered, n), "check",
                  stats(check, n), "kb_lookup", stats(lookup, n), "kb_lookup_unfiltered",
                  stats(lookup0, n), "overhead_p50_pct", 100.0 * (p50f - p50p) / p50p,
                  "overhead_mean_pct", 100.0 * (mf - mp) / mp);
    char *s = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(4));
    puts(s);
    free(s);
    json_decref(out);
    return 0;
}
