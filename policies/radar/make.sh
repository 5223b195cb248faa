#!/bin/sh
# make.sh - rebuilds the shipped RADAR policies from scratch (see README.md). Run from the source
# root after `meson setup build-train && ninja -C build-train`. Collect takes a few minutes on
# one core; each training run well under a minute.
set -eu
B=${BUILD:-build-train}
export DSTRAT_PATH="$PWD/$B/plugin"
R="$B/reference-host/cli/refhost"
D=policies/radar
"$R" collect --config $D/collect.yaml --prompts $D/train_prompts.txt --limit 30 --max-tokens 48 \
    --out $D/smollm2-ngram.rlog
"$R" train --log $D/smollm2-ngram.rlog --algo reinforce --seed 1 --out $D/smollm2-ngram-reinforce.dspol
"$R" train --log $D/smollm2-ngram.rlog --algo expected --seed 1 --out $D/smollm2-ngram-expected.dspol
