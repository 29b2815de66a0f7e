"""The media-path resolver: only regular files inside the media dir, whatever the path says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floorwatch.review.media import UnsafeMediaPath, resolve_media


@pytest.fixture
def media(tmp_path: Path) -> Path:
    (tmp_path / "media" / "snaps").mkdir(parents=True)
    (tmp_path / "media" / "snaps" / "a.jpg").write_bytes(b"jpg")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", tmp_path / "media" / "escape.txt")
    os.symlink(tmp_path / "media" / "snaps" / "a.jpg", tmp_path / "media" / "inside.jpg")
    return tmp_path / "media"


def test_inside_paths_resolve(media: Path) -> None:
    assert resolve_media(media, "snaps/a.jpg") == (media / "snaps" / "a.jpg").resolve()
    assert resolve_media(media, "inside.jpg") == (media / "snaps" / "a.jpg").resolve()


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "snaps/../../secret.txt",
        "/etc/passwd",
        str(Path("/tmp")),
        "escape.txt",
        "snaps\\..\\x",
        "",
        "a\x00b",
    ],
)
def test_unsafe_paths_refused(media: Path, path: str) -> None:
    with pytest.raises(UnsafeMediaPath):
        resolve_media(media, path)


@pytest.mark.parametrize("path", ["snaps/missing.jpg", "snaps"])
def test_missing_or_not_a_file(media: Path, path: str) -> None:
    with pytest.raises(FileNotFoundError):
        resolve_media(media, path)
