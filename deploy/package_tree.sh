#!/usr/bin/env bash
# Lay the `floorwatch` package out as one tree of symlinks under var/package-tree and print its path.
# The repository maps `floorwatch.<pkg>` to top-level folders (setuptools package-dir, see pyproject.toml);
# static tools (import-linter, mypy) need the package as one folder tree. Used by lint_imports.sh, typecheck.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
tree="$root/var/package-tree"
rm -rf "$tree"
"${VENV:-.venv}/bin/python" - "$root" "$tree" <<'PY'
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
echo "$tree"
