"""Resolve paths under the media dir safely: nothing outside it is ever read or served."""

from __future__ import annotations

import base64
import io
from pathlib import Path


class UnsafeMediaPath(ValueError):
    """A media path that is absolute, climbs out of the media dir, or resolves (via a symlink) outside it."""


def resolve_media(media_dir: Path, relative: str) -> Path:
    """Return the real path of ``relative`` inside ``media_dir``.

    Args:
        media_dir: the media root (``settings.media.dir``).
        relative: a path relative to it, as stored in the database or asked for in a URL.

    Raises:
        UnsafeMediaPath: empty, absolute, containing ``..``/NUL/backslash, or resolving outside ``media_dir``.
        FileNotFoundError: the path is safe but no regular file is there.
    """
    if not relative or "\x00" in relative or "\\" in relative:
        raise UnsafeMediaPath(f"media path {relative!r} is empty or contains forbidden characters")
    candidate = Path(relative)
    if candidate.is_absolute() or relative.startswith("/"):
        raise UnsafeMediaPath(
            f"media path {relative!r} is absolute; only paths inside the media dir are served"
        )
    if any(part == ".." for part in candidate.parts):
        raise UnsafeMediaPath(f"media path {relative!r} climbs out of the media dir")
    root = media_dir.resolve()
    real = (root / candidate).resolve()
    if not real.is_relative_to(root):
        raise UnsafeMediaPath(f"media path {relative!r} resolves outside the media dir (symlink?)")
    if not real.is_file():
        raise FileNotFoundError(f"no media file {relative!r} under {media_dir}")
    return real


def thumbnail_data_uri(path: Path, width: int = 280) -> str:
    """A PNG data URI of the image at ``path`` scaled to ``width`` pixels wide (never upscaled)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        if img.width > width:
            img = img.resize((width, max(1, round(img.height * width / img.width))))
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
    return png_data_uri(buf.getvalue())


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
