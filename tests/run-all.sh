#!/usr/bin/env bash
# Runs every test suite and prints one closing line "N passed, N failed".
# Usage: tests/run-all.sh BUILD_DIR ASAN_DIR   (called by `make check`)
set -u
BUILD=${1:-build}
ASAN=${2:-build/asan}
cd "$(dirname "$0")/.."

total_pass=0
total_fail=0
suite_fail=0

run_suite() {
    local name=$1
    shift
    echo "== $name"
    local log
    log=$(mktemp)
    "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    local line
    line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        local p f
        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
    fi
    if [ "$status" -ne 0 ]; then
        echo "!! suite $name exited with $status"
        suite_fail=$((suite_fail + 1))
        if [ -z "$line" ]; then total_fail=$((total_fail + 1)); fi
    fi
    rm -f "$log"
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_suite unit "$BUILD/unit_tests"
run_suite unit-asan "$ASAN/unit_tests"
run_suite cli python3 tests/cli/run.py --atrium "$BUILD/atrium"
run_suite cli-identity python3 tests/cli/identity.py --atrium "$BUILD/atrium"
run_suite cli-audit python3 tests/cli/audit.py --atrium "$BUILD/atrium"
run_suite api python3 tests/api/run.py --atrium "$BUILD/atrium"
run_suite api-asan python3 tests/api/run.py --atrium "$ASAN/atrium" --quick
run_suite api-acl python3 tests/api/acl.py --atrium "$BUILD/atrium"
run_suite api-acl-asan python3 tests/api/acl.py --atrium "$ASAN/atrium"
run_suite api-ldap python3 tests/api/ldap.py --atrium "$BUILD/atrium"
run_suite api-assist python3 tests/api/assist.py --atrium "$BUILD/atrium"
run_suite api-assist-asan python3 tests/api/assist.py --atrium "$ASAN/atrium"
run_suite api-summary python3 tests/api/summary.py --atrium "$BUILD/atrium"
# digital employees: definitions, answering, evaluation, templates (issue #5)
run_suite api-agents python3 tests/api/agents.py --atrium "$BUILD/atrium"
run_suite api-agent-run python3 tests/api/agent_run.py --atrium "$BUILD/atrium"
run_suite api-agent-run-asan python3 tests/api/agent_run.py --atrium "$ASAN/atrium"
run_suite api-eval python3 tests/api/eval.py --atrium "$BUILD/atrium"
run_suite api-templates python3 tests/api/templates.py --atrium "$BUILD/atrium"
run_suite api-templates-asan python3 tests/api/templates.py --atrium "$ASAN/atrium"
run_suite fuzz tests/fuzz-smoke.sh "${FUZZ_SECONDS:-8}"
# the web portal in Chromium (built by `make web`; screenshots in $BUILD/web-artifacts)
run_suite web node tests/web/run.mjs --atrium "$BUILD/atrium" --out "$BUILD/web-artifacts"

echo
echo "${total_pass} passed, ${total_fail} failed"
if [ "$suite_fail" -ne 0 ] || [ "$total_fail" -ne 0 ]; then
    exit 1
fi
exit 0
