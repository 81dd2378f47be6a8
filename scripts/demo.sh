#!/usr/bin/env bash
# Starts the Atrium demo: creates the knowledge base "demo" (if missing),
# ingests the fictional bank manual in demo/, makes the admin user "demo"
# (first run only; the password is printed once) and lets every user read
# the KB, prints example questions with a fresh one-day API token and runs
# the server. Safe to re-run: an existing KB and user are reused and
# unchanged files are skipped by the ingest.
#
# Usage: scripts/demo.sh [PATH_TO_ATRIUM]      (default: build/atrium)
# Environment: ATRIUM_DATA (data folder, default ./data), PORT (default 8080),
#              ATRIUM_DEMO_KB (KB name, default demo), ATRIUM_DEMO_PASSWORD (the
#              demo user's password on first run; default: a random one).
#              See docs/DEMO.md.
set -euo pipefail

ATRIUM=${1:-build/atrium}
DATA=${ATRIUM_DATA:-./data}
PORT=${PORT:-8080}
KB=${ATRIUM_DEMO_KB:-demo}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO_DIR="$ROOT/demo"

die() {
    echo "demo: $*" >&2
    exit 1
}

case "$ATRIUM" in
*/*) ;;
*) ATRIUM="./$ATRIUM" ;; # a bare name would be looked up on PATH
esac
[ -x "$ATRIUM" ] || die "找不到可执行文件 / no executable at $ATRIUM (build it with: make)"
[ -d "$DEMO_DIR" ] || die "找不到演示资料 / demo folder missing: $DEMO_DIR"
case "$PORT" in
'' | *[!0-9]*) die "PORT 必须是数字 / PORT must be a number: $PORT" ;;
esac
mkdir -p "$DATA"

atrium() {
    "$ATRIUM" --data "$DATA" "$@"
}

# True when the KB exists. Reads `kb list --json` (an array of objects with
# "name"); uses jq when present, else a strict grep on the pretty-printed JSON.
kb_exists() {
    local list
    list=$(atrium kb list --json) || die "无法列出知识库 / kb list failed"
    if command -v jq >/dev/null 2>&1; then
        jq -e --arg n "$KB" 'any(.[]; .name == $n)' >/dev/null <<<"$list"
    else
        grep -Eq "\"name\"[[:space:]]*:[[:space:]]*\"$KB\"" <<<"$list"
    fi
}

if kb_exists; then
    echo "知识库 $KB 已存在，直接使用 / knowledge base $KB exists, reusing it"
else
    atrium kb create "$KB" || die "无法创建知识库 / kb create $KB failed"
fi

# The manual only: demo/questions.jsonl is the evaluation set, not content
# (a .jsonl file would be ingested as a corpus, one document per line).
shopt -s nullglob
files=("$DEMO_DIR"/*.md "$DEMO_DIR"/*.txt)
shopt -u nullglob
[ ${#files[@]} -gt 0 ] || die "demo/ 中没有可导入的文件 / nothing to ingest in $DEMO_DIR"
atrium kb ingest "$KB" "${files[@]}" || die "导入失败 / ingest failed (see the messages above)"

# A user to sign in with: the admin "demo" (made once), and read access to
# the KB for every user (the built-in role "user").
if ! atrium user show demo >/dev/null 2>&1; then
    PW=${ATRIUM_DEMO_PASSWORD:-Hy$(head -c 12 /dev/urandom | base64 | tr -d '/+=' | head -c 12)#7}
    printf '%s\n' "$PW" | atrium user add demo --admin --display 演示管理员 >/dev/null ||
        die "无法创建演示用户 / cannot create the demo user"
    echo "演示用户 / demo user: demo  密码 / password: $PW  (只显示这一次 / shown once)"
fi
atrium --quiet kb grant "$KB" --role user >/dev/null || die "无法授权 / kb grant failed"
# The built-in digital employees: each template brings its demo KB and eval
# set; the KB is opened to every user (an agent searches only what its asker
# may read), the agent is evaluated without a model (the quality gate),
# published and opened to every user. Made once: an installed agent is left
# as it is.
templates=$(atrium --json agent templates | grep -o '"name": *"[a-z0-9_-]*"' | sed 's/.*"\([a-z0-9_-]*\)"$/\1/') ||
    die "无法列出模板 / agent templates failed"
for t in $templates; do
    atrium agent show "$t" >/dev/null 2>&1 && continue
    kb_id=$(atrium --json agent install "$t" | grep -o '"kb_id": *[0-9]*' | grep -o '[0-9]*$') &&
        atrium --quiet kb grant "$kb_id" --role user >/dev/null &&
        atrium --quiet agent eval "$t" 示例评测集 --no-model >/dev/null &&
        atrium --quiet agent publish "$t" 1 >/dev/null &&
        atrium --quiet agent grant "$t" --all >/dev/null ||
        die "无法安装数字员工 / installing the agent $t failed"
    echo "数字员工已发布 / published the digital employee: $t"
done

TOKEN=$(atrium token create demo --name demo --expires 1 | tail -n 1) ||
    die "无法创建令牌 / cannot create a token"

cat <<EOF

演示知识库已就绪 / the demo knowledge base is ready. 试试 / try:

  $ATRIUM --data $DATA ask $KB "客户要取二十万现金，需要提前几天预约？"
  $ATRIUM --data $DATA ask $KB "支票丢了怎么挂失止付，多久要去法院申请公示催告？"
  $ATRIUM --data $DATA search $KB "基本户销户"
  $ATRIUM --data $DATA eval $KB $DEMO_DIR/questions.jsonl

服务启动中 / starting the server on http://${ATRIUM_BIND:-127.0.0.1}:$PORT (Ctrl-C 停止 / to stop).
在浏览器中打开该地址，用 demo 用户登录 / open it in a browser and sign in as demo
(docs/WEB.md). 也可以用 HTTP API 提问 / or ask over the API:

  curl -s -X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer $TOKEN' \\
       -d '{"question":"挂失止付后几天内要申请公示催告？"}' \\
       http://${ATRIUM_BIND:-127.0.0.1}:$PORT/api/v1/kbs/$KB/ask

EOF

exec "$ATRIUM" --data "$DATA" serve --port "$PORT"
