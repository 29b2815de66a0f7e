#!/usr/bin/env bash
# Check the import-linter contracts of pyproject.toml ([tool.importlinter]).
# The repository maps `floorwatch.<pkg>` to top-level folders (setuptools package-dir), which import-linter
# cannot walk; so lay the package out as one tree of symlinks under var/ and check that tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
VENV="${VENV:-.venv}"
tree="$root/var/import-tree"
rm -rf "$tree"
"$VENV/bin/python" - "$root" "$tree" <<'PY'
import sys
import tomllib
from pathlib import Path

root, tree = Path(sys.argv[1]), Path(sys.argv[2])
package_dir = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
(tree / "floorwatch").mkdir(parents=True)
for entry in (root / package_dir["floorwatch"]).iterdir():
    if entry.name != "__pycache__":
        (tree / "floorwatch" / entry.name).symlink_to(entry)
for name, folder in package_dir.items():
    if name != "floorwatch":
        (tree / Path(*name.split("."))).symlink_to(root / folder, target_is_directory=True)
PY
cd "$tree"  # not the repo root: there `floorwatch/` alone would shadow the tree
PYTHONPATH="$tree" "$root/$VENV/bin/lint-imports" --config "$root/pyproject.toml" --no-cache
