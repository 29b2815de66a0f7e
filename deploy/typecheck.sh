#!/usr/bin/env bash
# mypy --strict on the packages named in pyproject.toml ([tool.mypy] packages), on the package tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
VENV="${VENV:-.venv}"
tree="$(VENV="$VENV" deploy/package_tree.sh)"
cd "$tree"
MYPYPATH="$tree" "$root/$VENV/bin/mypy" --config-file "$root/pyproject.toml" \
  --python-executable "$root/$VENV/bin/python" --cache-dir "$root/var/mypy-cache"
