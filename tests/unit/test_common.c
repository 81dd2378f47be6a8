/* Tests for src/common: buffers with caps, checked parsing, config layering. */
#include "test.h"

#include "common/buf.h"
#include "common/config.h"
#include "common/rc.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

TEST(buf_caps_and_formats)
{
    struct buf b;
    buf_init(&b, 8);
    CHECK_INT(buf_adds(&b, "abcd"), RC_OK);
    CHECK_INT(buf_addf(&b, "%d", 123), RC_OK);
    CHECK_STR(buf_str(&b), "abcd123");
    CHECK_INT(buf_adds(&b, "xy"), RC_TOO_BIG);
    CHECK_STR(buf_str(&b), "abcd123");
    CHECK_INT(b.len, 7);
    buf_release(&b);
    CHECK_STR(buf_str(&b), "");
}

TEST(buf_truncate_undoes_appends)
{
    struct buf b = BUF_INIT;
    buf_truncate(&b, 0); /* empty, never allocated: nothing to do */
    CHECK_INT(buf_adds(&b, "event: x\n"), RC_OK);
    size_t mark = b.len;
    CHECK_INT(buf_adds(&b, "data: {\"half"), RC_OK);
    buf_truncate(&b, mark);
    CHECK_STR(buf_str(&b), "event: x\n");
    CHECK_INT(b.len, mark);
    buf_truncate(&b, 100); /* longer than the content: unchanged */
    CHECK_STR(buf_str(&b), "event: x\n");
    CHECK_INT(buf_adds(&b, "y"), RC_OK);
    CHECK_STR(buf_str(&b), "event: x\ny");
    buf_release(&b);
}

TEST(parse_numbers_checked)
{
    int64_t v = 0;
    CHECK_INT(parse_i64("42", 0, 100, &v), RC_OK);
    CHECK_INT(v, 42);
    CHECK_INT(parse_i64("42x", 0, 100, &v), RC_INVALID);
    CHECK_INT(parse_i64("101", 0, 100, &v), RC_INVALID);
    CHECK_INT(parse_i64("", 0, 100, &v), RC_INVALID);
    CHECK_INT(parse_i64("99999999999999999999", 0, INT64_MAX, &v), RC_INVALID);
}

TEST(sha256_known_vector)
{
    char hex[65];
    sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(config_file_then_env)
{
    char path[512];
    snprintf(path, sizeof path, "%s/atrium.conf", test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("# comment\n\nport = 9090\nchat_model = qwen\n", f);
    fclose(f);
    setenv("ATRIUM_CHAT_MODEL", "deepseek", 1);
    struct config cfg;
    struct buf err = BUF_INIT;
    CHECK_INT(config_load(&cfg, path, &err), RC_OK);
    CHECK_INT(cfg.port, 9090);
    CHECK_STR(cfg.chat_model, "deepseek");
    CHECK_STR(cfg.data_dir, "./data");
    CHECK_INT(cfg.max_connections, 1024);
    CHECK_INT(cfg.max_per_ip, 0);
    config_release(&cfg);
    unsetenv("ATRIUM_CHAT_MODEL");
    setenv("ATRIUM_MAX_CONNECTIONS_PER_IP", "8", 1);
    CHECK_INT(config_load(&cfg, path, &err), RC_OK);
    CHECK_INT(cfg.max_per_ip, 8);
    config_release(&cfg);
    unsetenv("ATRIUM_MAX_CONNECTIONS_PER_IP");

    f = fopen(path, "w");
    if (!f)
        return;
    fputs("port = 80\n\nbogus = 1\n", f);
    fclose(f);
    CHECK_INT(config_load(&cfg, path, &err), RC_INVALID);
    CHECK_CONTAINS(buf_str(&err), "bogus");
    CHECK_CONTAINS(buf_str(&err), ":3");
    config_release(&cfg);
    buf_release(&err);
}

TEST(read_file_refuses_fifos_and_folders_without_blocking)
{
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/a.fifo", test_tmpdir());
    CHECK_INT(mkfifo(fifo, 0600), 0);
    struct buf b = BUF_INIT;
    CHECK_INT(read_file(fifo, 1024, &b), RC_IO); /* would block forever without O_NONBLOCK */
    CHECK_INT(read_file(test_tmpdir(), 1024, &b), RC_IO);
    CHECK_INT(read_file("/nonexistent/x", 1024, &b), RC_NOT_FOUND);
    char path[512];
    snprintf(path, sizeof path, "%s/big", test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("0123456789", f);
        fclose(f);
    }
    CHECK_INT(read_file(path, 5, &b), RC_TOO_BIG);
    buf_reset(&b);
    CHECK_INT(read_file(path, 100, &b), RC_OK);
    CHECK_STR(buf_str(&b), "0123456789");
    buf_release(&b);
}
