#!/usr/bin/env bash
# Creates the llama.cpp peer environment: a cached venv at $ROOT/.venv-llama with a pinned
# llama-cpp-python (built from its vendored llama.cpp sources for this machine's CPU) and numpy.
# The oracle and the AR speed comparison scripts run with this venv's python.
# Idempotent: does nothing when the venv already imports the pinned version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DSTRAT_LLAMA_VENV:-$ROOT/.venv-llama}"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
NUMPY_VERSION="2.3.5"
# gguf: dequantizes the weights for the float64 reference in oracle_numpy_forward.py.
GGUF_VERSION="0.19.0"
PY="${PYTHON:-python3}"

installed_version() {
    "$VENV/bin/python" -c 'import llama_cpp, numpy, gguf; print(llama_cpp.__version__)' 2>/dev/null || true
}

if [[ -x "$VENV/bin/python" && "$(installed_version)" == "$LLAMA_CPP_PYTHON_VERSION" ]]; then
    echo "llama-cpp-python $LLAMA_CPP_PYTHON_VERSION already installed in $VENV"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating venv $VENV"
    "$PY" -m venv "$VENV"
fi

# Two cores are shared by everyone: keep the compile to two jobs.
export MAKEFLAGS="${MAKEFLAGS:--j2}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
# Native build: llama.cpp uses the CPU features of the machine it is built on, which is the fair
# peer for our host running on the same machine.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}"

echo "installing numpy==$NUMPY_VERSION, gguf==$GGUF_VERSION and llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION (compiles llama.cpp; this takes a while)"
start=$(date +%s)
if ! "$VENV/bin/python" -m pip install --no-cache-dir "numpy==$NUMPY_VERSION" "gguf==$GGUF_VERSION" \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"; then
    echo "error: pip install failed (offline? no compiler? see the log above)" >&2
    exit 1
fi
end=$(date +%s)

version="$(installed_version)"
if [[ "$version" != "$LLAMA_CPP_PYTHON_VERSION" ]]; then
    echo "error: llama_cpp does not import from $VENV after install (got '$version')" >&2
    exit 1
fi
echo "llama-cpp-python $version installed in $VENV in $((end - start)) s"
echo "python: $VENV/bin/python"
