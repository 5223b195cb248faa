#!/bin/sh
# draft_head_train.sh - the whole feature-draft-head pipeline in one command:
#   corpora -> instructions/documents -> target features (refhost draft-data: the target's own
#   greedy replies + teacher forcing) -> training (scripts/draft_head_train.py, torch on CPU) ->
#   policies/draft_head/smollm2-135m-eagle3.gguf -> held-out evaluation in the C host.
# Installs nothing; checks what it needs and says how to get it. Deterministic for a given SEED.
#
# usage: scripts/draft_head_train.sh [OUT.gguf]
# environment (defaults in brackets):
#   REFHOST [first of build*/reference-host/cli/refhost]  MODEL [models/SmolLM2-135M-Instruct.Q4_1.gguf]
#   SEED [1]  THREADS [2] (refhost)  GEN_TOKENS [80000] (self-distilled replies)  DOC_TOKENS [20000] (teacher forcing)
#   DRAFT_VOCAB [8192]  TTT [2]  EPOCHS [3]  LR [5e-4]  TRAIN_MINUTES [0 = no limit]  CACHE [.cache/draft_head]
#   TRAIN_THREADS [1]: torch's OpenMP threads; on a shared 2-core machine one thread is 2-4x faster
#   than two (OpenMP barriers spin when the cores are oversubscribed)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-policies/draft_head/smollm2-135m-eagle3.gguf}
SEED=${SEED:-1}
THREADS=${THREADS:-2}
GEN_TOKENS=${GEN_TOKENS:-80000}
DOC_TOKENS=${DOC_TOKENS:-20000}
DRAFT_VOCAB=${DRAFT_VOCAB:-8192}
TTT=${TTT:-2}
EPOCHS=${EPOCHS:-3}
LR=${LR:-5e-4}
TRAIN_THREADS=${TRAIN_THREADS:-1}
TRAIN_MINUTES=${TRAIN_MINUTES:-0}
CACHE=${CACHE:-.cache/draft_head}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
PY=/usr/bin/python3

die() { echo "draft_head_train: $*" >&2; exit 1; }
step() { echo "== [$(date +%H:%M:%S)] $*" >&2; }

# ---- prerequisites
[ -x "$PY" ] || die "$PY not found (apt-get install python3)"
"$PY" -c 'import numpy' 2>/dev/null || die "numpy missing for $PY (apt-get install python3-numpy)"
"$PY" -c 'import torch' 2>/dev/null || die "torch missing for $PY (apt-get install python3-torch)"
[ -f "$MODEL" ] || die "target model $MODEL not found (run the model fetch script, or set MODEL)"
if [ -z "${REFHOST:-}" ]; then
    for r in build*/reference-host/cli/refhost; do
        if [ -x "$r" ] && "$r" draft-data --help >/dev/null 2>&1; then REFHOST=$r; break; fi
    done
fi
[ -n "${REFHOST:-}" ] && [ -x "$REFHOST" ] || die "no refhost with draft-data: build it (meson setup build && ninja -C build) or set REFHOST"
found=0
for p in /usr/share/doc/python3.11/html/_sources /usr/share/doc/jargon-text/jargon.txt.gz /usr/share/games/fortunes/fortunes /usr/share/man/man1; do
    [ -e "$p" ] && found=$((found + 1))
done
[ "$found" -gt 0 ] || die "no corpora: apt-get install python3.11-doc jargon-text fortunes-min manpages"
[ "$found" -eq 4 ] || echo "draft_head_train: note: only $found of 4 corpora present (python3.11-doc jargon-text fortunes-min manpages); the data will differ" >&2
mkdir -p "$CACHE" "$(dirname "$OUT")"
t0=$(date +%s)

# ---- 1. text: documents and instructions from the corpora (never the evaluation prompts)
step "corpora -> $CACHE/docs.bin, $CACHE/instructions.bin"
"$PY" scripts/draft_head_data.py "$CACHE" --seed "$SEED"

# ---- 2. target features: self-distillation first (it matters most), then teacher forcing
rm -rf "$CACHE/data"
step "target replies to instructions ($GEN_TOKENS tokens)"
"$REFHOST" draft-data --model "$MODEL" --out "$CACHE/data" --instructions "$CACHE/instructions.bin" \
    --limit "$GEN_TOKENS" --max-new 160 --seq-len 512 --threads "$THREADS"
step "teacher forcing over documents ($DOC_TOKENS tokens)"
"$REFHOST" draft-data --model "$MODEL" --out "$CACHE/data" --docs "$CACHE/docs.bin" \
    --limit "$DOC_TOKENS" --seq-len 512 --threads "$THREADS"

# ---- 3. training
step "training (draft vocab $DRAFT_VOCAB, $TTT unrolled steps, $EPOCHS epochs)"
budget=""
[ "$TRAIN_MINUTES" != 0 ] && budget="--time-budget $TRAIN_MINUTES"
# shellcheck disable=SC2086
"$PY" scripts/draft_head_train.py "$CACHE/data" "$OUT" --seed "$SEED" --threads "$TRAIN_THREADS" \
    --draft-vocab "$DRAFT_VOCAB" --ttt "$TTT" --epochs "$EPOCHS" --lr "$LR" $budget

# ---- 4. the C host on held-out replies: acceptance per depth, draft cost vs a target forward
step "evaluation in the C host"
"$REFHOST" draft-eval --model "$MODEL" --head "$OUT" --data "$CACHE/data" --depth 4 --q8 \
    --threads "$THREADS"
step "done in $(( ($(date +%s) - t0) / 60 )) min: $OUT"
