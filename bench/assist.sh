#!/usr/bin/env bash
# Concurrent streamed conversations (issue #4's benchmark): the fake model
# (bench/fake_llm_bench.c: one epoll thread) streams 50 tokens 20 ms apart;
# N conversations ask at once through Atrium and, as the baseline in the same
# run, straight to the model (bench/sse_load_bench.c: one epoll thread).
# Reports time to first token and total time on both sides, what Atrium adds,
# and the server's peak RSS (VmHWM). Prints the table; appends the rows to
# bench/out/assist.md. After each round, the same N through a bare relay
# (bench/relay_bench.c: no gateway work at all, threads like Atrium's model
# loops) measured the same way: the floor this host puts under any gateway's
# overhead (a second table; rows appended to bench/out/assist-relay.md).
#   bench/assist.sh [N ...]        (default: 10 100 500 1000)
#   BUILD=build-x bench/assist.sh  (another build folder)
#   RAMP_MS=2000 bench/assist.sh     (the ramped arrival's length; each N runs at once and ramped)
#   (per-stage times of every answer are in bench/out/assist-serve.log: ATRIUM_ASK_TRACE)
#   ATRIUM_MODEL_LOOPS=0 bench/assist.sh     (each model call on its answer thread; default four loops per core)
#   ATRIUM_MODEL_LOOP_RT=1 bench/assist.sh   (real-time model loops; the relay's threads follow)
set -euo pipefail
cd "$(dirname "$0")/.."
NS=("$@")
[ ${#NS[@]} -eq 0 ] && NS=(10 100 500 1000)
B=${BUILD:-build}
BIN=$B/atrium
[ -n "${NO_MAKE:-}" ] || make -s BUILD="$B" "$BIN" "$B/fake_llm_bench" "$B/sse_load_bench" "$B/relay_bench"
OUT=bench/out
mkdir -p "$OUT"
RES="$OUT/assist.md"
RELAY_RES="$OUT/assist-relay.md"
DATA=$(mktemp -d /tmp/atrium-assist-bench-XXXXXX)
ulimit -n 16384 || true
cleanup() {
    [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null || true
    [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null || true
    [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }

$BIN --data "$DATA" --quiet kb create 手册 >/dev/null
$BIN --data "$DATA" --quiet kb ingest 手册 demo/*.md >/dev/null
$BIN --data "$DATA" --quiet kb grant 手册 --role user >/dev/null
printf 'Bench#Root-2026x\n' | $BIN --data "$DATA" --quiet user add benchroot --admin >/dev/null
TOKEN=$($BIN --data "$DATA" token create benchroot --name bench | tail -n 1)

FPORT=$(free_port)
"$B/fake_llm_bench" --port "$FPORT" --tokens 50 --delay-ms 20 >"$OUT/assist-fake.log" 2>&1 &
FPID=$!
# The floor: a bare relay (bench/relay_bench.c) between the same client and
# the same fake model, run after each Atrium round with the same N and
# arrival, measured the same way (its trace lines, the fake's GET /trace),
# its threads as many and scheduled as Atrium's loops are (ATRIUM_MODEL_LOOPS,
# ATRIUM_MODEL_LOOP_RT).
RPORT=$(free_port)
RTHREADS=()
[ -n "${ATRIUM_MODEL_LOOPS:-}" ] && [ "${ATRIUM_MODEL_LOOPS}" -gt 0 ] && RTHREADS=(--threads "$ATRIUM_MODEL_LOOPS")
"$B/relay_bench" --port "$RPORT" --upstream-port "$FPORT" --rt "${ATRIUM_MODEL_LOOP_RT:-0}" \
    "${RTHREADS[@]}" 2>"$OUT/assist-relay.log" &
RPID=$!
PORT=$(free_port)
ATRIUM_ASK_TRACE=1 ATRIUM_LOG_LEVEL=warn ATRIUM_CHAT_URL="http://127.0.0.1:$FPORT/v1" ATRIUM_CHAT_MODEL=fake \
ATRIUM_MAX_CONNECTIONS=8192 ATRIUM_MAX_ANSWERS=4096 ATRIUM_RATE_LIMIT_PER_MIN=1000000 \
ATRIUM_RATE_LIMIT_BURST=100000 ATRIUM_MODEL_FIRST_TOKEN_TIMEOUT_MS=60000 \
    ${PERF:-} $BIN --data "$DATA" serve --port "$PORT" 2>"$OUT/assist-serve.log" &
SPID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
# the endpoint is registered in the gateway for each N as a single model
# "fake" with a concurrency limit above N
$BIN --data "$DATA" --quiet model add fake --purpose chat --url "http://127.0.0.1:$FPORT/v1" \
    --upstream fake --max-concurrency 8192 --default >/dev/null 2>&1 || true

# One untimed round first: the first answers after a start open store
# connections and build the FAQ and search indexes (the cold numbers are in
# docs/BENCHMARKS.md too).
"$B/sse_load_bench" --atrium "http://127.0.0.1:$PORT" --token "$TOKEN" \
    --model "http://127.0.0.1:$FPORT/v1" --n 20 >/dev/null
# Each N runs with all streams arriving at once (ramp 0) and opened evenly
# over RAMP_MS (default 2000). Per answer the server logs (ATRIUM_ASK_TRACE)
# after_model: from gw_chat's entry to the first delta handed to the caller,
# and the same two moments as CLOCK_MONOTONIC times (model_at, first_at).
# Atrium sends its request id to the model as X-Request-Id; the fake model
# lists, per id, when the request reached its socket (the kernel's receive
# time) and when it wrote the first content (GET /trace). bench/gw_overhead.py
# pairs them: the gateway's overhead of one answer is (reached - model_at) +
# (first_at - written), so the fake model's own time and its own lag on a
# busy machine are not in it. The fake's time to first content from its
# own timestamps (GET /stats) is printed beside.
RAMPS=(0 "${RAMP_MS:-2000}")

# The bare relay's round for N and a ramp: one row of its own table.
RHEAD="| when | arrival | N | ok | TTFT via the bare relay p50 / p99 ms | to model p50 / p99 ms | from model p50 / p99 ms | **relay overhead per answer p50 / p99 ms** | relay CPU s | streams open together (peak) |"
RSEP="|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
RELAY_ROWS=()
if [ ! -f "$RELAY_RES" ]; then
    printf '%s\n%s\n' "$RHEAD" "$RSEP" >>"$RELAY_RES"
fi
cpu_of() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }
# A round's overhead per answer: trace_mark LOG prints how many trace lines
# LOG has and makes the fake model forget the earlier rounds; after the
# round, trace_pair LOG BEFORE OUT keeps the round's lines in OUT and prints
# bench/gw_overhead.py's JSON for them.
trace_mark() {
    grep -c 'ask trace' "$1" || true
    curl -sf "http://127.0.0.1:$FPORT/trace" >/dev/null
}
trace_pair() {
    sleep 0.5 # the last answers' trace lines
    grep 'ask trace' "$1" | tail -n +"$(($2 + 1))" >"$3"
    curl -sf "http://127.0.0.1:$FPORT/trace" >"$DATA/trace-model"
    python3 bench/gw_overhead.py "$3" "$DATA/trace-model"
}
relay_round() {
    local before js gw cpu0 cpu1 row
    before=$(trace_mark "$OUT/assist-relay.log")
    cpu0=$(cpu_of "$RPID")
    js=$("$B/sse_load_bench" --model "http://127.0.0.1:$RPORT/v1" --n "$1" --ramp "$2" --json) || true
    cpu1=$(cpu_of "$RPID")
    gw=$(trace_pair "$OUT/assist-relay.log" "$before" "$DATA/trace-relay")
    row=$(JS="$js" GW="$gw" CPU0="$cpu0" CPU1="$cpu1" python3 -c '
import json, os, time
j, gw = json.loads(os.environ["JS"]), json.loads(os.environ["GW"])
b = j["baseline"]
arr = "at once" if j["ramp_ms"] <= 0 else "ramp %.0f ms" % j["ramp_ms"]
print("| %s | %s | %d | %d/%d | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | **%.1f / %.1f** | %.1f | %d |" % (
    time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), arr, j["n"], b["ok"], j["n"],
    b["ttft_p50"], b["ttft_p99"], gw["to_model"]["p50"], gw["to_model"]["p99"],
    gw["from_model"]["p50"], gw["from_model"]["p99"], gw["overhead"]["p50"], gw["overhead"]["p99"],
    float(os.environ["CPU1"]) - float(os.environ["CPU0"]), j["peak_open"]["baseline"]))
')
    echo "$row" >>"$RELAY_RES"
    RELAY_ROWS+=("$row")
}
HEAD="| when | arrival | N | ok | load 1 min | baseline TTFT p50 / p99 ms | Atrium TTFT p50 / p99 ms | added p50 / p99 ms | model own TTFT p50 / p99 ms | gw_chat → first delta p50 / p99 ms | to model p50 / p99 ms | from model p50 / p99 ms | **gateway overhead per answer p50 / p99 ms** | Atrium total p50 / p99 ms | peak RSS MB | Atrium CPU s | streams open together (peak) |"
SEP="|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
if [ ! -f "$RES" ] || ! grep -q 'streams open together' "$RES"; then
    printf '%s\n%s\n' "$HEAD" "$SEP" >>"$RES"
fi
printf '%s\n%s\n' "$HEAD" "$SEP"
for n in "${NS[@]}"; do
    for ramp in "${RAMPS[@]}"; do
        before=$(trace_mark "$OUT/assist-serve.log")
        load=$(cut -d' ' -f1 /proc/loadavg)
        js=$("$B/sse_load_bench" --atrium "http://127.0.0.1:$PORT" --token "$TOKEN" \
            --model "http://127.0.0.1:$FPORT/v1" --n "$n" --pid "$SPID" --ramp "$ramp" --json) || true
        gw=$(trace_pair "$OUT/assist-serve.log" "$before" "$DATA/trace-atrium")
        line=$(JS="$js" LOAD="$load" GW="$gw" python3 -c '
import json, os, re, sys, time
j = json.loads(os.environ["JS"])
g = sorted(float(m.group(1)) for l in open(sys.argv[1], encoding="utf-8") for m in [re.search(r"after_model=([-0-9.]+)", l)] if m and float(m.group(1)) >= 0)
gw = json.loads(os.environ["GW"])
def pct(v, p):
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else float("nan")
b, a, own = j["baseline"], j["atrium"], j["model_own_ttft"] or {"p50": float("nan"), "p99": float("nan")}
arr = "at once" if j["ramp_ms"] <= 0 else "ramp %.0f ms" % j["ramp_ms"]
print("| %s | %s | %d | %d/%d | %s | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | **%.1f / %.1f** | %.0f / %.0f | %d | %.1f | %d |" % (
    time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), arr, j["n"], a["ok"], j["n"], os.environ["LOAD"],
    b["ttft_p50"], b["ttft_p99"], a["ttft_p50"], a["ttft_p99"],
    a["ttft_p50"] - b["ttft_p50"], a["ttft_p99"] - b["ttft_p99"], own["p50"], own["p99"],
    pct(g, .5), pct(g, .99), gw["to_model"]["p50"], gw["to_model"]["p99"],
    gw["from_model"]["p50"], gw["from_model"]["p99"], gw["overhead"]["p50"], gw["overhead"]["p99"],
    a["total_p50"], a["total_p99"], j["rss_mb"], j["cpu_s"], j["peak_open"]["atrium"]))
if gw["unpaired"]:
    print("%d answers were not paired with a model request" % gw["unpaired"], file=sys.stderr)
' "$DATA/trace-atrium")
        echo "$line" >>"$RES"
        echo "$line"
        relay_round "$n" "$ramp"
    done
done
printf '\n%s\n%s\n' "$RHEAD" "$RSEP"
printf '%s\n' "${RELAY_ROWS[@]}"
