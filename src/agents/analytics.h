/* Usage analytics of digital employees and the super assistant: daily
 * series over a date range (server-local dates) of conversations,
 * questions, answered / unanswered, 👍 / 👎 and person-days saved, per agent
 * and per org; and the most asked unanswered questions. Read-only SQL over
 * agent_traces (eval_run_id = 0) with feedback, and messages/conversations
 * (assistant = '') for the super assistant. */
#ifndef ATRIUM_AGENTS_ANALYTICS_H
#define ATRIUM_AGENTS_ANALYTICS_H

#include <jansson.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/db.h"

#define ANALYTICS_DAYS_MAX 366          /* the longest range */
#define ANALYTICS_ASSISTANT "assistant" /* the super assistant's name in results */

struct analytics_query {
    const char *from, *to; /* YYYY-MM-DD, server-local, inclusive; from <= to */
    /* NULL or "": every agent and the super assistant; "assistant": the
     * super assistant only; otherwise an agent's name or numeric id. */
    const char *agent;
    int64_t org_id;                 /* > 0: askers in this org's subtree only */
    double assistant_minutes_saved; /* per answered question of the super assistant */
};

/* The usage report:
 * {"from","to","agent","org_id",
 *  "series":[{"day","conversations","questions","answered","unanswered",
 *             "up","down","up_rate","person_days"}],  // every day of the range
 *  "totals":{same members but "day"},
 *  "by_agent":[{"agent","title", same members}],    // most questions first
 *  "by_org":[{"org_id","org", same members}]}        // the children of org_id (the
 *                                                    // roots without one), by name,
 *                                                    // each counting its subtree
 * up_rate = up / (up + down), null when no feedback; person_days = answered ×
 * minutes saved / 480. A question is "answered" when the trace says so
 * (agents) or the stored answer's mode is model / extractive / faq (the
 * super assistant). RC_OK; RC_INVALID (bad dates, range over
 * ANALYTICS_DAYS_MAX: err); RC_NOT_FOUND (no such agent or org); RC_DB. */
int analytics_usage(struct db_conn *d, const struct analytics_query *q, json_t **out,
                    struct buf *err);

/* The unanswered questions in the range (same filters), grouped by their
 * text: [{"question","count","last_asked","agent"}] most asked first, at
 * most limit (1..200). Same errors as analytics_usage. */
int analytics_unanswered(struct db_conn *d, const struct analytics_query *q, int limit,
                         json_t **out, struct buf *err);

#endif
