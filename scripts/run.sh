#!/usr/bin/env bash
# The main job: fetch the model if missing, build (release), then generate with the default
# config (config/default.yaml) and, on the same prompt in the same run, with plain autoregressive
# decoding, and print both speeds and their ratio.
#   PROMPT="..." MAX_TOKENS=128 CONFIG=config/default.yaml bash scripts/run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BUILD="${BUILD_DIR:-build}"
CONFIG="${CONFIG:-config/default.yaml}"
MAX_TOKENS="${MAX_TOKENS:-128}"
PROMPT="${PROMPT:-Summarize the following text in two sentences. Text: The Linux kernel is a free and open-source, monolithic, modular, multitasking, Unix-like operating system kernel. It was originally written in 1991 by Linus Torvalds for his i386-based PC, and it was soon adopted as the kernel for the GNU operating system, which was written to be a free replacement for Unix. The Linux kernel is used in many computing systems, from embedded devices and mobile phones to personal computers, servers and supercomputers.}"

bash scripts/fetch_model.sh >/dev/null
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" >/dev/null
REFHOST="$BUILD/reference-host/cli/refhost"
export DSTRAT_PATH="$ROOT/$BUILD/plugin"

echo "== default config ($CONFIG)"
"$REFHOST" generate --config "$CONFIG" --chat --max-tokens "$MAX_TOKENS" --prompt "$PROMPT" 2> >(tee /tmp/dstrat_run_main.err >&2)
echo "== plain autoregressive decoding, same prompt"
"$REFHOST" generate --strategy ar --chat --max-tokens "$MAX_TOKENS" --quiet --prompt "$PROMPT" 2> >(tee /tmp/dstrat_run_ar.err >&2)
sleep 0.2
main_tps=$(grep -o '[0-9.]* tokens/s' /tmp/dstrat_run_main.err | tail -1 | cut -d' ' -f1)
ar_tps=$(grep -o '[0-9.]* tokens/s' /tmp/dstrat_run_ar.err | tail -1 | cut -d' ' -f1)
python3 -c "import sys; m,a=float(sys.argv[1]),float(sys.argv[2]); print(f'== speed: default config {m:.2f} tokens/s, autoregressive {a:.2f} tokens/s, speedup {m/a:.2f}x')" "$main_tps" "$ar_tps"
