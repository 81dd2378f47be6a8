/* The unit-test runner: runs every registered test (or those whose name or
 * file contains argv[1]) and prints a summary line that CI reads. */
#include "test.h"

#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct test {
    const char *name;
    const char *file;
    void (*fn)(void);
};

static struct test tests[1024];
static int ntests;
static int cur_failed;
static char tmpdir[256];

void test_register(const char *name, void (*fn)(void), const char *file)
{
    if (ntests < (int)(sizeof tests / sizeof tests[0]))
        tests[ntests++] = (struct test){name, file, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cur_failed++;
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/atrium-unit-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return tmpdir;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    log_set_level(getenv("ATRIUM_LOG_LEVEL") ? log_parse_level(getenv("ATRIUM_LOG_LEVEL"))
                                             : LOG_WARN);
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (filter && !strstr(tests[i].name, filter) && !strstr(tests[i].file, filter))
            continue;
        cur_failed = 0;
        tests[i].fn();
        if (cur_failed) {
            failed++;
            fprintf(stderr, "not ok %s (%s)\n", tests[i].name, tests[i].file);
        } else {
            passed++;
        }
    }
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
