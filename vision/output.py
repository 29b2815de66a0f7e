"""JSON-lines writers of the vision pipeline: alert events (``--json``) and per-frame tracks (``--tracks-out``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from floorwatch.schemas.events import AlertEvent
from floorwatch.vision.detections import Detections


def alert_record(event: AlertEvent) -> dict[str, Any]:
    """The JSON object printed for one alert event (every schema field, ``frame`` 0-based)."""
    return event.model_dump(mode="json")


def track_record(frame: int, video_ts: float, dets: Detections) -> dict[str, Any]:
    """The JSON object of one frame's tracked detections (boxes in original-frame pixels)."""
    return {
        "frame": frame,
        "video_ts": round(video_ts, 4),
        "detections": [
            {
                "track_id": tid if tid >= 0 else None,
                "label": label,
                "confidence": round(conf, 4),
                "bbox": [round(float(v), 1) for v in xyxy],
            }
            for xyxy, conf, _, label, tid in dets
        ],
    }


class JsonLinesWriter:
    """Writes one compact JSON object per line to a stream or a file, flushing each line.

    Args:
        target: An open text stream, or a path (created, parent folders too; truncated).
    """

    def __init__(self, target: IO[str] | str | Path):
        if isinstance(target, (str, Path)):
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._stream: IO[str] = path.open("w", encoding="utf-8")
            self._owned = True
        else:
            self._stream = target
            self._owned = False
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        """Write one record as a JSON line."""
        self._stream.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        self._stream.flush()
        self.lines += 1

    def close(self) -> None:
        """Close the file (streams passed in are left open)."""
        if self._owned:
            self._stream.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
