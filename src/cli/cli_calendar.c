/* `atrium calendar …` (issue #5): being written. */
#include "cli/cli.h"

int cli_cmd_calendar(struct cli *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    (void)argv;
    return cli_usage_error("calendar", "尚未实现 / not implemented yet");
}
