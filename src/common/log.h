/* Levelled logging to stderr with the request id of the calling thread.
 * The level is checked before any formatting happens. Never log PII or
 * secrets: log ids, sizes and codes, not question text or passwords. */
#ifndef ATRIUM_LOG_H
#define ATRIUM_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

extern int log_level_current;

void log_set_level(int level);
/* Parses "debug|info|warn|error|off"; returns -1 when unknown. */
int log_parse_level(const char *name);
/* Sets the request id shown in this thread's log lines (NULL clears it). */
void log_set_request_id(const char *id);
const char *log_request_id(void);
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) >= log_level_current)                                                            \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
