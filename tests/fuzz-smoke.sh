#!/usr/bin/env bash
# A short libFuzzer smoke run of every fuzz/fuzz_*.c target (clang, ASan+UBSan).
# Usage: tests/fuzz-smoke.sh [SECONDS_PER_TARGET]   (default 8; CI keeps it short)
# Long fuzzing is not a test: run a target by hand for hours with the same build.
set -u
cd "$(dirname "$0")/.."
SECS=${1:-${FUZZ_SECONDS:-8}}
OUT=${FUZZ_BUILD:-build/fuzz}
PKGS="sqlite3 libmicrohttpd jansson libcurl icu-uc icu-i18n opencc libsodium libxml-2.0 libzip poppler-glib ldap lber"
CFLAGS="-std=c11 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Isrc $(pkg-config --cflags $PKGS) -g -O1 \
 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
LIBS="$(pkg-config --libs $PKGS) -lpthread -lm"

if ! command -v clang >/dev/null; then
    echo "fuzz: clang not found"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi
mkdir -p "$OUT/obj"
objs=()
for src in src/*/*.c; do
    [ "$src" = src/cli/main.c ] && continue
    obj="$OUT/obj/$(echo "$src" | tr / _).o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src -name '*.h' -newer "$obj" | head -1)" ]; then
        clang $CFLAGS -c "$src" -o "$obj" || { echo "fuzz: cannot compile $src"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
    fi
    objs+=("$obj")
done

pass=0
fail=0
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
for f in fuzz/fuzz_*.c; do
    name=$(basename "$f" .c)
    bin="$OUT/$name"
    if ! clang $CFLAGS -fsanitize=fuzzer "$f" "${objs[@]}" $LIBS -o "$bin"; then
        echo "fuzz: $name does not build"
        fail=$((fail + 1))
        continue
    fi
    corpus="$OUT/corpus-$name"
    mkdir -p "$corpus"
    if "$bin" -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=0 "$corpus" >"$OUT/$name.log" 2>&1; then
        echo "fuzz: $name ok (${SECS}s, $(grep -c '' "$OUT/$name.log") log lines)"
        pass=$((pass + 1))
    else
        echo "fuzz: $name FOUND A CRASH — see $OUT/$name.log"
        tail -n 40 "$OUT/$name.log"
        fail=$((fail + 1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
