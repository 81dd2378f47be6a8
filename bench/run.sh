#!/usr/bin/env bash
# Atrium's benchmarks, each beside its baseline in the same run.
#   bench/run.sh [--quick]      (needs ../shared/bench; writes bench/out/)
# Quality: bankregs and cmrc2018 dev with the in-memory engine (ours) beside
# SQLite FTS5 + our tokenizer and SQLite FTS5 trigram (what a bank would
# otherwise pick), plus ablations. Speed: ingest MB/s, in-process search
# latency, HTTP search with wrk, server peak RSS. Results: bench/out/results.md
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
BIN=build/atrium
make -s "$BIN"
OUT=bench/out
DATA=$(mktemp -d /tmp/atrium-bench-XXXXXX)
mkdir -p "$OUT"
RES="$OUT/results.md"
trap 'rm -rf "$DATA"; [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null || true' EXIT

j() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "# Atrium benchmark run $(date -u +%Y-%m-%dT%H:%MZ)" >"$RES"
echo >>"$RES"
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1024/1024)}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)" >>"$RES"

echo "== ingest"
echo >>"$RES"
echo "## Ingest (no embeddings)" >>"$RES"
echo >>"$RES"
echo "| corpus | documents | chunks | MB | seconds | MB/s |" >>"$RES"
echo "|---|---:|---:|---:|---:|---:|" >>"$RES"
$BIN --data "$DATA" --quiet kb create regs >/dev/null
$BIN --data "$DATA" --quiet kb create cmrc >/dev/null
for pair in "regs $SHARED/bankregs/docs" "cmrc $SHARED/cmrc2018/corpus.jsonl"; do
    set -- $pair
    $BIN --data "$DATA" --json kb ingest "$1" "$2" >"$OUT/ingest-$1.json"
    r=$(j "'%d | %d | %.2f | %.2f | %.1f' % (d['added'], d['chunks'], d['bytes_read']/1e6, d['elapsed_ms']/1000, d['bytes_read']/1e6/(d['elapsed_ms']/1000))" <"$OUT/ingest-$1.json")
    echo "| $1 | $r |" >>"$RES"
    echo "  $1: $r"
done

echo "== quality"
echo >>"$RES"
echo "## Retrieval and answers (dev sets, k = 10, no model)" >>"$RES"
echo >>"$RES"
echo "| set | engine | questions | R@1 | R@5 | R@10 | MRR@10 | all articles@10 | answer acc. | p50 ms | p95 ms | p99 ms |" >>"$RES"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" >>"$RES"
evalrow() { # set kb file engine label [extra...]
    local set=$1 kb=$2 file=$3 engine=$4 label=$5
    shift 5
    $BIN --data "$DATA" --json eval "$kb" "$file" --engine "$engine" "$@" >"$OUT/eval-$set-$label.json"
    r=$(j "'%d | %.3f | %.3f | %.3f | %.3f | %s | %s | %.2f | %.2f | %.2f' % (d['questions'], d['recall@1'], d['recall@5'], d['recall@10'], d['mrr@10'], ('%.3f' % d['all_articles@10']) if d.get('multi_article_questions') else '—', ('%.3f' % d['answer_accuracy']) if d.get('answer_accuracy') is not None else '—', d['latency_ms_p50'], d['latency_ms_p95'], d['latency_ms_p99'])" <"$OUT/eval-$set-$label.json")
    echo "| $set | $label | $r |" >>"$RES"
    echo "  $set $label: $r"
}
evalrow bankregs regs "$SHARED/bankregs/dev.jsonl" mem "atrium (in-memory BM25F)"
evalrow bankregs regs "$SHARED/bankregs/dev.jsonl" mem "atrium, no synonyms" --no-synonyms
evalrow bankregs regs "$SHARED/bankregs/dev.jsonl" fts5 "SQLite FTS5 + atrium tokenizer" --no-answers
evalrow bankregs regs "$SHARED/bankregs/dev.jsonl" trigram "SQLite FTS5 trigram (baseline)" --no-answers
LIMIT=()
[ "$QUICK" = 1 ] && LIMIT=(--limit 500)
evalrow cmrc2018 cmrc "$SHARED/cmrc2018/dev.jsonl" mem "atrium (in-memory BM25F)" "${LIMIT[@]}"
evalrow cmrc2018 cmrc "$SHARED/cmrc2018/dev.jsonl" trigram "SQLite FTS5 trigram (baseline)" --no-answers "${LIMIT[@]}"
evalrow cmrc2018 cmrc "$SHARED/cmrc2018/dev.jsonl" fts5 "SQLite FTS5 + atrium tokenizer" --no-answers --limit 1000

echo "== http"
# The server gets a data folder with the bankregs KB alone: the memory
# target is for that KB (the server builds every KB's index at start).
DATA_HTTP="$DATA/http"
$BIN --data "$DATA_HTTP" --quiet kb create regs >/dev/null
$BIN --data "$DATA_HTTP" --quiet kb ingest regs "$SHARED/bankregs/docs" >/dev/null
# Searches go as a teller whose read access comes from a grant to their
# branch's parent org (the permission filter does real work on each request).
printf 'Bench#Counter-2026\n' | $BIN --data "$DATA_HTTP" --quiet user add teller >/dev/null
$BIN --data "$DATA_HTTP" --quiet org add 恒远银行 >/dev/null
$BIN --data "$DATA_HTTP" --quiet org add 上海分行 --parent 恒远银行 >/dev/null
$BIN --data "$DATA_HTTP" --quiet org member add 恒远银行/上海分行 teller >/dev/null
$BIN --data "$DATA_HTTP" --quiet kb grant regs --org 恒远银行 >/dev/null
TOKEN=$($BIN --data "$DATA_HTTP" token create teller --name bench | tail -n 1)
PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
ATRIUM_LOG_LEVEL=warn $BIN --data "$DATA_HTTP" serve --port "$PORT" 2>"$OUT/serve.log" &
SPID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
    -d '{"query":"预热","k":5}' \
    "http://127.0.0.1:$PORT/api/v1/kbs/regs/search" >/dev/null
rss_idle=$(awk '/VmHWM/{print $2}' /proc/$SPID/status)
QS=$(python3 -c "
import json
qs=[json.loads(l)['question'] for l in open('$SHARED/bankregs/dev.jsonl')][:20]
print('|'.join(q.replace('|',' ') for q in qs))")
echo >>"$RES"
echo "## HTTP search (wrk, 2 threads, keep-alive, bankregs KB, 20 rotating dev questions, k = 5)" >>"$RES"
echo >>"$RES"
echo "| endpoint | connections | requests/s | latency p50 | latency p99 | non-2xx |" >>"$RES"
echo "|---|---:|---:|---:|---:|---:|" >>"$RES"
for conns in 16 64; do
    WRK_TOKEN="$TOKEN" WRK_QUERIES="$QS" wrk -t2 -c$conns -d${WRK_SECONDS:-10}s --latency -s bench/wrk_search.lua \
        "http://127.0.0.1:$PORT/api/v1/kbs/regs/search" >"$OUT/wrk-search-$conns.txt" 2>&1 || true
    rps=$(awk '/Requests\/sec/{print $2}' "$OUT/wrk-search-$conns.txt")
    p50=$(awk '$1=="50%"{print $2}' "$OUT/wrk-search-$conns.txt")
    p99=$(awk '$1=="99%"{print $2}' "$OUT/wrk-search-$conns.txt")
    bad=$(grep -Eo 'Non-2xx or 3xx responses: [0-9]+|non-200[^0-9]*[0-9]+' "$OUT/wrk-search-$conns.txt" | grep -Eo '[0-9]+$' | head -1)
    echo "| POST /api/v1/kbs/regs/search | $conns | $rps | $p50 | $p99 | ${bad:-0} |" >>"$RES"
    echo "  search c=$conns: $rps req/s p50 $p50 p99 $p99"
done
wrk -t2 -c64 -d5s --latency "http://127.0.0.1:$PORT/healthz" >"$OUT/wrk-healthz.txt" 2>&1 || true
echo "| GET /healthz (baseline: no work) | 64 | $(awk '/Requests\/sec/{print $2}' "$OUT/wrk-healthz.txt") | $(awk '$1=="50%"{print $2}' "$OUT/wrk-healthz.txt") | $(awk '$1=="99%"{print $2}' "$OUT/wrk-healthz.txt") | 0 |" >>"$RES"
rss_peak=$(awk '/VmHWM/{print $2}' /proc/$SPID/status)
kill "$SPID"
wait "$SPID" 2>/dev/null || true
SPID=
echo >>"$RES"
echo "Server peak RSS (VmHWM) with the bankregs KB: $((rss_idle / 1024)) MB after the first search, $((rss_peak / 1024)) MB after the wrk runs." >>"$RES"
echo "  rss: idle $((rss_idle / 1024)) MB, peak $((rss_peak / 1024)) MB"
echo
cat "$RES"
