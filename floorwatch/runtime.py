"""Process-wide runtime set-up: offline model libraries and thread counts.

Call :func:`configure_offline` before importing ultralytics, and :func:`set_threads` once per process.
Two cores thrash when torch, OpenCV and BLAS each grab all of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")


def default_state_dir() -> Path:
    """Project-owned state (ultralytics settings, fonts): ``$FLOORWATCH_STATE_DIR`` or ``./var``."""
    return Path(os.environ.get("FLOORWATCH_STATE_DIR", "var")).resolve()


def configure_offline(state_dir: Path | None = None) -> Path:
    """Make ultralytics / Hugging Face run with no network: no hub, asset, font or pip downloads.

    Returns the ultralytics config dir, which holds a font copied from matplotlib so plotting never
    downloads one.
    """
    cfg = (state_dir or default_state_dir()) / "ultralytics"
    cfg.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cfg))
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    target_dir = Path(os.environ["YOLO_CONFIG_DIR"])
    target_dir.mkdir(parents=True, exist_ok=True)
    missing = [f for f in _FONTS if not (target_dir / f).exists()]
    if missing:
        import matplotlib

        font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        for name in missing:
            shutil.copyfile(font, target_dir / name)
    return target_dir


def set_threads(torch_threads: int, opencv_threads: int) -> None:
    """Pin torch and OpenCV thread pools (call once, early)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(torch_threads))
    import cv2
    import torch

    torch.set_num_threads(torch_threads)
    # Interop threads cannot change once parallel work has started in this process.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(max(1, min(torch_threads, 2)))
    cv2.setNumThreads(opencv_threads)
