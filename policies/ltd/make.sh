#!/bin/sh
# make.sh - rebuilds the shipped LTD policy from scratch (see README.md). Run from the source root
# after `meson setup build && ninja -C build` (BUILD=... to use another build directory).
# The cost constants are the ones `refhost ltd-train` calibrated on the training machine (omit
# --cost to calibrate anew; the file then differs). With them, the same seed gives the same bytes.
set -eu
B=${BUILD:-build}
export DSTRAT_PATH="$PWD/$B/plugin"
"$B/reference-host/cli/refhost" ltd-train --config policies/ltd/train.yaml \
    --prompts policies/radar/train_prompts.txt --out policies/ltd/smollm2-ngram.dspol \
    --steps 2000 --rollout 128 --minibatch 32 --seed 1 --max-tokens 64 \
    --cost draft_call_ms=0.003482,verify_a_ms=2.645,verify_b_ms=0.5082
