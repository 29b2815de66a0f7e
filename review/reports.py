"""The reports written under ``<media dir>/reports/<name>/`` (report.html, report.md, report.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel

REPORT_FILES = ("report.html", "report.md", "report.json")


class ReportInfo(BaseModel):
    name: str
    modified: datetime
    files: dict[str, str]  # file name -> URL under /media


def list_reports(media_dir: Path, limit: int = 50, offset: int = 0) -> list[ReportInfo]:
    """Report folders, newest first (symlinks and folders without a report file are skipped)."""
    root = media_dir / "reports"
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        if d.is_symlink() or not d.is_dir():
            continue
        files = {
            f: f"/media/reports/{quote(d.name)}/{f}"
            for f in REPORT_FILES
            if (d / f).is_file() and not (d / f).is_symlink()
        }
        if files:
            mtime = max((d / f).stat().st_mtime for f in files)
            found.append(ReportInfo(name=d.name, modified=datetime.fromtimestamp(mtime, UTC), files=files))
    found.sort(key=lambda r: (r.modified, r.name), reverse=True)
    return found[offset : offset + limit]
