/* Part of `atrium agent …` (issue #5): being written. */
#include "cli/cli.h"

int cli_agent_tpl(struct cli *c, const char *verb, int argc, char **argv)
{
    (void)c;
    (void)argc;
    (void)argv;
    return cli_usage_error("agent", "尚未实现 / not implemented yet: %s", verb);
}
