#!/usr/bin/env bash
# The built-in digital employees on their own evaluation sets, without a
# model (issue #5): every template installed into a fresh store (its demo
# KB, the agent, its eval set and quality gate), then `atrium agent eval …
# --no-model` — the answer a bank gets when its GPUs are down. Prints one
# Markdown row per template (cases passed, score, keyword / citation /
# refusal accuracy, answer latency p50 / p95) and the install and eval times.
#   bench/agents.sh            (appends to bench/out/agents.md)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/atrium
make -s "$BIN"
OUT=bench/out
mkdir -p "$OUT"
DATA=$(mktemp -d /tmp/atrium-agents-XXXXXX)
trap 'rm -rf "$DATA"' EXIT
RES="$OUT/agents.md"
atrium() { "$BIN" --data "$DATA" "$@"; }
ms() { date +%s%3N; }

names=$(atrium --json agent templates | python3 -c \
    'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin)["templates"]))')
{
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%MZ) $(git rev-parse --short HEAD)"
    echo
    echo "| template | domain | passed | score | keywords | citations | refusals | answer p50 / p95 ms | install ms | eval ms |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} | tee -a "$RES"
for t in $names; do
    t0=$(ms)
    atrium --quiet agent install "$t" >/dev/null
    t1=$(ms)
    atrium --json agent eval "$t" 示例评测集 --no-model >"$DATA/$t.json" || true # exit 1: below the gate
    t2=$(ms)
    domain=$(atrium --json agent show "$t" | python3 -c 'import json,sys; d=json.load(sys.stdin); print((d.get("agent") or d)["domain"])')
    python3 - "$DATA/$t.json" "$t" "$domain" $((t1 - t0)) $((t2 - t1)) <<'EOF' | tee -a "$RES"
import json, sys
d = json.load(open(sys.argv[1]))
s = d.get("scores") or d
f = lambda v: "—" if v is None else "%.3f" % v
print("| `%s` | %s | %d/%d | %.3f | %s | %s | %s | %.2f / %.2f | %s | %s |" % (
    sys.argv[2], sys.argv[3], s["passed"], s["cases"], s["score"], f(s["keyword_accuracy"]),
    f(s["citation_accuracy"]), f(s["refusal_accuracy"]), s["latency_ms_p50"],
    s["latency_ms_p95"], sys.argv[4], sys.argv[5]))
EOF
done
