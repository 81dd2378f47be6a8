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
    "  KB 可以是名称或编号 / KB is a name or a numeric id.\n"
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
    "              [--answers | --no-answers]\n"
    "    题目格式 bankregs {id,question,doc,article,answer_keywords} 或 cmrc2018\n"
    "    {id,question,answers,context_id}，逐行识别 / question lines in either format.\n"
    "    输出 Recall@1/5/10、MRR@10、多条文全部命中率、答案准确率、检索延迟 p50/p95/p99 /\n"
    "    reports Recall@1/5/10, MRR@10, all-articles@10, answer accuracy, latency p50/p95/p99\n"
    "    -k N, --top N  每题检索条数 1-100（默认 10）/ hits per search, 1-100 (default 10)\n"
    "    --limit N      只评前 N 题 / only the first N questions\n"
    "    --answers      用已配置的模型回答（默认用摘录答案）/ answer with the configured model\n"
    "                   (default: the extractive answer)\n"
    "    --no-answers   不评答案 / skip answer accuracy\n"
    "\n";

static const char usage_serve[] =
    "服务 / server:\n"
    "  atrium serve [--port N] [--bind ADDR]\n"
    "    -p N, --port N 端口 0-65535（默认 8080）/ port, 0-65535 (default 8080)\n"
    "    --bind ADDR    监听地址 / address to listen on\n"
    "    启动 HTTP 服务，Ctrl-C 停止；--port 0 自动选择端口 /\n"
    "    runs the HTTP server until SIGINT/SIGTERM; --port 0 picks a free port\n"
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
    fputs(usage_tail, f);
}
