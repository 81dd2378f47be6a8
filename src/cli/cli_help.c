/* The help text of the `atrium` tool, zh-CN first and English second. Every
 * command and option is documented here; `atrium help NOUN` prints one part. */
#include <string.h>

#include "cli/cli.h"

static const char usage_head[] =
    "用法 / usage: atrium [全局选项 / global options] <命令 / command> ...\n"
    "\n"
    "全局选项 / global options (放在命令之前 / before the command):\n"
    "  --data DIR       数据目录（默认 ATRIUM_DATA 或配置）/ data folder (else ATRIUM_DATA or "
    "config)\n"
    "  --config FILE    配置文件 / configuration file (key = value)\n"
    "  --json           输出 JSON / machine-readable output on stdout\n"
    "  --quiet, -q      只输出错误 / errors only, no progress or summaries\n"
    "  -h, --help       帮助 / this help\n"
    "  --version        版本 / print the version\n"
    "\n";

static const char usage_kb[] =
    "知识库 / knowledge bases:\n"
    "  atrium kb create NAME                 新建知识库 / create a knowledge base\n"
    "  atrium kb list                        列出知识库 / list knowledge bases\n"
    "  atrium kb docs KB                     列出文档 / list a KB's documents\n"
    "  atrium kb ingest KB PATH...           导入文件或目录（递归，跳过隐藏文件）/\n"
    "                                        ingest files and folders (recursive, dotfiles "
    "skipped)\n"
    "  atrium kb synonyms KB                 列出同义词 / list synonym groups\n"
    "  atrium kb synonyms KB add TERM...     新增同义词组 / add a synonym group\n"
    "  atrium kb synonyms KB delete ID       删除同义词组 / delete a synonym group\n"
    "  atrium kb grant KB --org PATH | --position NAME | --role NAME | --user NAME\n"
    "                 [--level read|write|admin]\n"
    "                                        授权（默认 read）/ grant access (default read)\n"
    "  atrium kb revoke KB GRANT_ID          撤销授权 / remove a grant\n"
    "  atrium kb acl KB                      列出授权 / list the grants\n"
    "  KB 可以是名称或编号 / KB is a name or a numeric id.\n"
    "\n";

static const char usage_user[] =
    "用户 / users:\n"
    "  atrium user add NAME [--admin] [--display NAME] [--employee-no N]\n"
    "                                        新建本地用户（--admin 同时授予 admin 角色）/\n"
    "                                        create a local user (--admin: also the admin role)\n"
    "  atrium user list                      列出用户 / list users\n"
    "  atrium user show NAME                 用户详情、组织、岗位、角色、权限 /\n"
    "                                        a user with orgs, positions, roles, permissions\n"
    "  atrium user update NAME [--display NAME] [--employee-no N]\n"
    "                                        修改姓名或工号 / change name or employee number\n"
    "  atrium user disable NAME              停用（结束会话，令牌失效）/ disable (ends sessions)\n"
    "  atrium user enable NAME               启用 / enable\n"
    "  atrium user passwd NAME               设置新密码 / set a new password\n"
    "  密码从终端读取（不回显，输入两次），或在标准输入不是终端时读取其第一行；\n"
    "  从不接受命令行参数中的密码。/ The password is read from the terminal (no echo,\n"
    "  asked twice) or, when stdin is not a terminal, from its first line; never from argv.\n"
    "  NAME 可以是用户名或编号 / NAME is a user name or a numeric id.\n"
    "\n";

static const char usage_token[] =
    "API 令牌 / API tokens:\n"
    "  atrium token create USER [--name N] [--expires DAYS]\n"
    "                                        新建令牌，只显示一次（stdout 最后一行）/\n"
    "                                        create a token, shown once (last line of stdout)\n"
    "    --name N       令牌名称 / a label for the token\n"
    "    --expires DAYS 有效天数 0-3650（0 = 永不过期，默认）/ days valid, 0-3650 (0 = never)\n"
    "  atrium token list [USER]              列出令牌（不含令牌本身）/ list tokens (never the "
    "secret)\n"
    "  atrium token revoke ID                吊销令牌 / revoke a token\n"
    "\n";

static const char usage_org[] =
    "组织 / org tree:\n"
    "  atrium org add NAME [--parent PATH|ID]   新建组织 / create an org (a root without "
    "--parent)\n"
    "  atrium org list                          组织树 / the org tree\n"
    "  atrium org show PATH|ID                  组织详情和成员 / an org and its members\n"
    "  atrium org move PATH|ID --to PATH|ID|/   移动（/ = 设为根）/ move (/ = make it a root)\n"
    "  atrium org rename PATH|ID NEWNAME        重命名 / rename\n"
    "  atrium org rm PATH|ID                    删除（须无下级）/ delete (no child orgs)\n"
    "  atrium org member add ORG USER           加入成员 / add a member\n"
    "  atrium org member rm ORG USER            移出成员 / remove a member\n"
    "  PATH 是从根开始的名称路径，如 总行/上海分行；名称唯一时可只写名称 /\n"
    "  PATH is the names from the root, e.g. 总行/上海分行; a unique name alone works.\n"
    "\n";

static const char usage_position[] =
    "岗位 / positions:\n"
    "  atrium position add NAME              新建岗位 / create a position\n"
    "  atrium position list                  列出岗位 / list positions\n"
    "  atrium position rm NAME               删除岗位 / delete a position\n"
    "  atrium position assign USER POSITION  分配岗位 / give a user a position\n"
    "  atrium position unassign USER POSITION 取消岗位 / take it away\n"
    "\n";

static const char usage_role[] =
    "角色 / roles:\n"
    "  atrium role list                      列出角色和权限 / list roles and permissions\n"
    "  atrium role add NAME --perms P,...    新建角色 / create a role\n"
    "  atrium role perms NAME --perms P,...  修改权限（内置角色不可改）/ set its permissions\n"
    "                                        (built-in roles cannot be changed)\n"
    "  atrium role rm NAME                   删除角色 / delete a role\n"
    "  atrium role grant USER ROLE           授予角色 / give a user a role\n"
    "  atrium role revoke USER ROLE          收回角色 / take it away\n"
    "  权限 / permissions: users.manage, org.manage, roles.manage, kb.create, kb.admin,\n"
    "  agents.manage, models.manage, audit.read\n"
    "\n";

static const char usage_ldap[] =
    "LDAP:\n"
    "  atrium ldap map add MATCH --org PATH | --position NAME | --role NAME\n"
    "                                        组或 OU 的 DN 映射到组织、岗位、角色 /\n"
    "                                        map a group DN or an OU DN to an org, position, "
    "role\n"
    "  atrium ldap map list                  列出映射 / list the maps\n"
    "  atrium ldap map rm ID                 删除映射 / delete a map\n"
    "  atrium ldap test USER                 按服务器的方式登录一次并显示同步结果（密码读法同\n"
    "                                        user add）/ sign in the way the server does and show\n"
    "                                        the synced user (password read as for user add)\n"
    "\n";

static const char usage_search[] =
    "检索 / search:\n"
    "  atrium search KB \"问题\" [-k N] [--engine mem|fts5|trigram] [--no-synonyms]\n"
    "    -k N, --top N  返回条数 1-100（默认 5）/ hits wanted, 1-100 (default 5)\n"
    "    --engine E     mem 内存索引（默认）、fts5 (SQLite bm25)、trigram（基线）/\n"
    "                   mem in-memory index (default), fts5 (SQLite bm25), trigram (baseline)\n"
    "    --no-synonyms  不做同义词扩展 / no synonym expansion\n"
    "\n";

static const char usage_ask[] =
    "问答 / ask:\n"
    "  atrium ask KB \"问题\" [-k N] [--no-model] [--engine E] [--no-synonyms]\n"
    "    流式输出答案，然后列出引用 / streams the answer, then lists its citations\n"
    "    -k N, --top N  检索条数 1-100（默认 5）/ chunks retrieved for grounding, 1-100 (default "
    "5)\n"
    "    --no-model     只用摘录答案 / extractive answer only, never call a model\n"
    "    --engine E     同 search / as for search\n"
    "    --no-synonyms  不做同义词扩展 / no synonym expansion\n"
    "\n";

static const char usage_eval[] =
    "评测 / evaluation:\n"
    "  atrium eval KB QUESTIONS.jsonl [-k N] [--engine E] [--no-synonyms] [--limit N]\n"
    "              [--answers | --no-answers] [--as USER]\n"
    "    题目格式 bankregs {id,question,doc,article,answer_keywords} 或 cmrc2018\n"
    "    {id,question,answers,context_id}，逐行识别 / question lines in either format.\n"
    "    输出 Recall@1/5/10、MRR@10、多条文全部命中率、答案准确率、检索延迟 p50/p95/p99 /\n"
    "    reports Recall@1/5/10, MRR@10, all-articles@10, answer accuracy, latency p50/p95/p99\n"
    "    -k N, --top N  每题检索条数 1-100（默认 10）/ hits per search, 1-100 (default 10)\n"
    "    --limit N      只评前 N 题 / only the first N questions\n"
    "    --answers      用已配置的模型回答（默认用摘录答案）/ answer with the configured model\n"
    "                   (default: the extractive answer)\n"
    "    --no-answers   不评答案 / skip answer accuracy\n"
    "    --as USER      以该用户身份检索（计入权限过滤的开销）/ search as USER (the\n"
    "                   permission filter runs with every search)\n"
    "\n";

static const char usage_serve[] =
    "服务 / server:\n"
    "  atrium serve [--port N] [--bind ADDR]\n"
    "    -p N, --port N 端口 0-65535（默认 8080）/ port, 0-65535 (default 8080)\n"
    "    --bind ADDR    监听地址 / address to listen on\n"
    "    启动 HTTP 服务，Ctrl-C 停止；--port 0 自动选择端口 /\n"
    "    runs the HTTP server until SIGINT/SIGTERM; --port 0 picks a free port\n"
    "\n";

static const char usage_audit[] =
    "审计日志 / audit log:\n"
    "  atrium audit verify [--expect HASH]   校验哈希链（被篡改时退出码 1）/\n"
    "                                        check the hash chain (exit 1 when tampered)\n"
    "    --expect HASH  先前记下的头哈希必须仍在链中 / a head hash kept earlier must still\n"
    "                   be in the chain (catches a deleted tail)\n"
    "  atrium audit list [--user U] [--action A] [--since T] [--until T] [--limit N]\n"
    "                    [--before ID]\n"
    "    列出记录，新的在前 / entries, newest first. --action kb. 匹配前缀 / matches a prefix;\n"
    "    T: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]（本地时间，Z 为 UTC / local, Z for UTC）或 unix 秒\n"
    "    / or unix seconds; --limit 1..1000 (100); --before ID 继续列出 / continues a listing\n"
    "\n";

static const char usage_model[] =
    "模型 / models (the gateway's registry, docs/MODELS.md):\n"
    "  atrium model add NAME --url URL --upstream NAME [--purpose chat|embedding|rerank|asr]\n"
    "                  [--api-key-env VAR | --api-key-stdin] [--max-concurrency N]\n"
    "                  [--weight N] [--default] [--params JSON]\n"
    "                                        登记模型及其第一个端点（URL 含 /v1）/\n"
    "                                        register a model and its first endpoint\n"
    "                                        (URL with /v1)\n"
    "  atrium model endpoint add NAME --url URL --upstream NAME [--api-key-env VAR |\n"
    "                  --api-key-stdin] [--max-concurrency N] [--weight N]\n"
    "                                        增加端点 / add an endpoint\n"
    "  atrium model endpoint remove|enable|disable NAME ENDPOINT_ID\n"
    "                                        删除、启用、停用端点 / remove, enable, disable one\n"
    "  atrium model list [--json]            列出模型与端点（不显示密钥）/ models and endpoints\n"
    "                                        (keys are never shown)\n"
    "  atrium model remove NAME              删除模型 / remove a model\n"
    "  atrium model default NAME             设为其用途的默认模型 / make it its purpose's default\n"
    "  atrium model test NAME [--no-chat]    检查每个端点（GET /models 与一次简短对话）；\n"
    "                                        至少一个可用时退出码 0，否则 5 /\n"
    "                                        checks every endpoint (GET /models and a tiny chat);\n"
    "                                        exit 0 when one works, else 5\n"
    "  API 密钥不接受命令行参数：从环境变量或标准输入读取 / an API key is never taken from\n"
    "  argv: from an environment variable or stdin. --purpose 默认 chat / defaults to chat;\n"
    "  --max-concurrency 1..10000 (16), --weight 1..1000 (1).\n"
    "\n";

/* H1: digital employees (cli_agent.c); eval/evalset/runs and templates/install
 * are described by their own blocks. */
static const char usage_agent[] =
    "数字员工 / digital employees (docs/AGENTS.md):\n"
    "  atrium agent create NAME --title T [--domain D] [--spec FILE|-] [--avatar A]\n"
    "                  [--description D] [--minutes-saved M]\n"
    "                                        创建数字员工，版本 1 为草稿 / create an agent;\n"
    "                                        version 1 is a draft (spec JSON from FILE or stdin)\n"
    "  atrium agent list [--all]             已发布的数字员工；--all 列出全部 / published\n"
    "                                        agents; --all: every agent, any status\n"
    "  atrium agent show NAME [--version N]  详情、版本与可用范围；--version 显示该版本 spec /\n"
    "                                        details, versions, grants; --version: its spec\n"
    "  atrium agent update NAME [--title T] [--domain D] [--avatar A] [--description D]\n"
    "                  [--minutes-saved M] [--gate-set ID --gate-min S]\n"
    "                                        修改资料或质量门槛 / change fields or the quality\n"
    "                                        gate (--gate-set 0: no gate; S in 0..1)\n"
    "  atrium agent delete NAME              删除（含版本、授权、评测）/ delete with its data\n"
    "  atrium agent draft NAME [--from N | --spec FILE|-] [--note T]\n"
    "                                        新建草稿：复制版本 N（默认最新）或用新 spec /\n"
    "                                        new draft: a copy of version N (latest) or a spec\n"
    "  atrium agent edit NAME VERSION [--spec FILE|-] [--note T]\n"
    "                                        修改草稿；已发布的版本不可修改 / change a draft;\n"
    "                                        published versions are immutable (exit 1)\n"
    "  atrium agent publish NAME VERSION     发布草稿（先过质量门槛）/ publish a draft (the\n"
    "                                        quality gate first); the previous one retires\n"
    "  atrium agent rollback NAME VERSION    重新发布曾发布过的版本 / republish an earlier one\n"
    "  atrium agent retire NAME              停用 / take it out of use (rollback restores)\n"
    "  atrium agent grant NAME --all | --org PATH | --position NAME | --role NAME | --user NAME\n"
    "                                        授权使用 / let them use it\n"
    "  atrium agent revoke NAME GRANT_ID     撤销授权 / remove a grant\n"
    "  atrium agent acl NAME                 列出授权 / list the grants\n"
    "  NAME 为名称或 id / NAME is a name or an id; --json 输出 JSON / prints JSON.\n"
    "\n";

/* H4: evaluating digital employees (cli_agent_eval.c) */
static const char usage_agent_eval[] =
    "数字员工评测 / evaluating digital employees (docs/AGENTS.md):\n"
    "  atrium agent eval NAME SET [--version V] [--no-model]\n"
    "                                        前台运行评测集（终端显示进度）；低于质量门槛时退出码 "
    "1 /\n"
    "                                        run an eval set in the foreground (progress on a\n"
    "                                        TTY); exit 1 when below the quality gate\n"
    "  atrium agent evalset add NAME SET FILE [--description D]\n"
    "                                        新建评测集：FILE 为用例 JSON 数组、{\"cases\":[…]} "
    "或\n"
    "                                        每行一个用例 / add a set: FILE is a JSON array of\n"
    "                                        cases, {\"cases\":[…]}, or one case per line\n"
    "  atrium agent evalset list NAME        列出评测集 / list the sets\n"
    "  atrium agent evalset show NAME SET    显示用例 / show the cases\n"
    "  atrium agent evalset rm NAME SET      删除评测集（及其运行）/ remove a set and its runs\n"
    "  atrium agent runs NAME [RUN] [--limit N]\n"
    "                                        评测运行列表，或一次运行的结果 / the runs, or one\n"
    "                                        run with its per-case results\n"
    "  用例 / a case: {\"question\":\"…\",\"expect\":{\"keywords\":[…],\"citations\":[…],\n"
    "                 \"refuse\":true|false}}; V 默认最新版本 / V defaults to the newest.\n"
    "\n";

/* H5: the built-in digital-employee templates (cli_agent_tpl.c) */
static const char usage_agent_tpl[] =
    "数字员工模板 / built-in templates (docs/AGENTS.md):\n"
    "  atrium agent templates                内置模板（6 个领域，每个带示例知识库与评测集）/\n"
    "                                        the built-in templates (6 domains, each with demo\n"
    "                                        knowledge and an eval set)\n"
    "  atrium agent install TEMPLATE [--name N]\n"
    "                                        安装模板：示例知识库、数字员工（版本 1 "
    "草稿）、评测集与\n"
    "                                        质量门槛 / install one: its demo KB, the agent\n"
    "                                        (version 1, a draft), its eval set and gate\n"
    "\n";

/* H2: the working-day calendar of the workdays tool (cli_calendar.c) */
static const char usage_calendar[] =
    "工作日历 / working-day calendar (digital employees' workdays tool):\n"
    "  atrium calendar list [--year Y]       节假日与调休上班日；无记录时为内置安排 / holidays "
    "and\n"
    "                                        make-up working days (built-ins when none)\n"
    "  atrium calendar set DAY holiday|workday [--name N]\n"
    "                                        设置一天（YYYY-MM-DD）/ set one day\n"
    "  atrium calendar rm DAY                删除一天 / remove one day\n"
    "  atrium calendar import FILE           导入 day,kind,name 行（全部或全不）/ import\n"
    "                                        day,kind,name lines (all or nothing)\n"
    "\n";

static const char usage_tail[] =
    "其他 / other:\n"
    "  atrium version [--json]               版本 / version ({\"version\": ...} with --json)\n"
    "  atrium help [COMMAND]                 帮助 / help\n"
    "\n"
    "退出码 / exit codes: 0 成功 ok, 1 其他错误 other failure, 2 用法错误 bad usage or input,\n"
    "  3 不存在 not found, 4 部分失败 some files failed, 5 模型服务失败 upstream failure\n";

void cli_usage(FILE *f, const char *noun)
{
    const char *part = NULL;
    if (noun && strcmp(noun, "kb") == 0)
        part = usage_kb;
    else if (noun && strcmp(noun, "search") == 0)
        part = usage_search;
    else if (noun && strcmp(noun, "ask") == 0)
        part = usage_ask;
    else if (noun && strcmp(noun, "eval") == 0)
        part = usage_eval;
    else if (noun && strcmp(noun, "serve") == 0)
        part = usage_serve;
    else if (noun && strcmp(noun, "user") == 0)
        part = usage_user;
    else if (noun && strcmp(noun, "token") == 0)
        part = usage_token;
    else if (noun && strcmp(noun, "org") == 0)
        part = usage_org;
    else if (noun && strcmp(noun, "position") == 0)
        part = usage_position;
    else if (noun && strcmp(noun, "role") == 0)
        part = usage_role;
    else if (noun && strcmp(noun, "ldap") == 0)
        part = usage_ldap;
    else if (noun && strcmp(noun, "audit") == 0)
        part = usage_audit;
    else if (noun && strcmp(noun, "model") == 0)
        part = usage_model;
    else if (noun && strcmp(noun, "agent") == 0) /* H1 */
        part = usage_agent;
    else if (noun && strcmp(noun, "calendar") == 0) /* H2 */
        part = usage_calendar;
    if (part == usage_agent) { /* H4: the evaluation verbs follow */
        fputs(usage_agent, f);
        part = usage_agent_eval;
    }
    if (part == usage_agent_eval) { /* H5: the template verbs follow */
        fputs(usage_agent_eval, f);
        part = usage_agent_tpl;
    }
    if (part) {
        fputs(part, f);
        return;
    }
    fputs(usage_head, f);
    fputs(usage_kb, f);
    fputs(usage_search, f);
    fputs(usage_ask, f);
    fputs(usage_eval, f);
    fputs(usage_serve, f);
    fputs(usage_user, f);
    fputs(usage_token, f);
    fputs(usage_org, f);
    fputs(usage_position, f);
    fputs(usage_role, f);
    fputs(usage_ldap, f);
    fputs(usage_audit, f);
    fputs(usage_model, f);
    fputs(usage_agent, f);      /* H1 */
    fputs(usage_agent_eval, f); /* H4 */
    fputs(usage_agent_tpl, f);  /* H5 */
    fputs(usage_calendar, f);   /* H2 */
    fputs(usage_tail, f);
}
