#!/usr/bin/env bash
# Check the import-linter contracts of pyproject.toml ([tool.importlinter]) on the package tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
VENV="${VENV:-.venv}"
tree="$(VENV="$VENV" deploy/package_tree.sh)"
cd "$tree"  # not the repo root: there `floorwatch/` alone would shadow the tree
PYTHONPATH="$tree" "$root/$VENV/bin/lint-imports" --config "$root/pyproject.toml" --no-cache
