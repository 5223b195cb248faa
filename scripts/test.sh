#!/usr/bin/env bash
# The project's test command: builds with AddressSanitizer + UndefinedBehaviorSanitizer, runs every
# test (tiny-model unit tests, conformance, and whole-model tests when models/ has the GGUF), then
# runs each fuzz target for a bounded time (FUZZ_SECONDS, default 30; 0 skips fuzzing).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BUILD="${BUILD_DIR:-build-test}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs --num-processes 2 -t 4

if [ "$FUZZ_SECONDS" != 0 ] && command -v clang >/dev/null; then
    FB="${BUILD}-fuzz"
    if [ ! -f "$FB/build.ninja" ]; then
        CC=clang meson setup "$FB" -Dfuzz=true -Dtests=disabled --buildtype=debugoptimized \
            -Db_sanitize=address,undefined -Db_lundef=false
    fi
    ninja -C "$FB"
    for f in "$FB"/tests/fuzz/fuzz_*; do
        [ -f "$f" ] && [ -x "$f" ] || continue   # skip the *.p object dirs
        name="$(basename "$f")"; name="${name#fuzz_}"
        corpus="$ROOT/tests/fuzz/corpus/$name"
        work="$FB/corpus-$name"; mkdir -p "$work"
        echo "== fuzzing $name for ${FUZZ_SECONDS}s"
        "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            "$work" "$corpus" 2>&1 | tail -n 12
    done
fi
echo "all tests passed"
