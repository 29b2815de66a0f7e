"""Live view: the watch-side writer (rate limit, annotation, atomic file) and the dashboard's MJPEG stream
(token, multipart parts for each new frame) over a real migrated database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import CameraConfig, MediaConfig, ServeConfig, Settings
from floorwatch.review.app import create_app
from floorwatch.review.live import BOUNDARY
from floorwatch.vision.detections import Detections
from floorwatch.vision.live_view import LiveViewWriter, live_path
from floorwatch.vision.sources import Frame

TOKEN = "live-view-token-0123456789"


def _frame(i: int = 0) -> Frame:
    return Frame(i, i / 10, datetime.now(UTC), np.full((120, 160, 3), 40, dtype=np.uint8))


def _person() -> Detections:
    return Detections(xyxy=np.array([[20.0, 20.0, 60.0, 100.0]]), confidence=np.array([0.9]),
                      class_id=np.array([0]), label=np.array(["person"], dtype=object), track_id=np.array([7]))  # fmt: skip


def test_writer_annotates_and_respects_the_rate(tmp_path: Path) -> None:
    zone = np.array([[100, 10], [150, 10], [150, 60], [100, 60]], dtype=np.float64)
    w = LiveViewWriter(tmp_path, "gate", max_fps=2.0, zones=[("lane", zone)])
    w(_frame(0), _person())
    w(_frame(1), _person())  # within half a second of the first: skipped
    assert w.written == 1
    img = cv2.imread(str(live_path(tmp_path, "gate")))
    assert img.shape == (120, 160, 3)
    assert img[20:100, 20].mean() > 80  # the box edge is drawn on the flat grey frame
    assert img[30, 150].mean() > 80  # and the zone outline
    assert img[110, 5].mean() < 60  # the rest stays as it was
    assert not list((tmp_path / "live").glob(".*.tmp"))
    with pytest.raises(ValueError, match="must be > 0"):
        LiveViewWriter(tmp_path, "gate", max_fps=0)


def test_dashboard_streams_each_new_frame_behind_the_token(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(media=MediaConfig(dir=tmp_path), serve=ServeConfig(token=TOKEN),
                        cameras=[CameraConfig(id="gate", source="rtsp://cam/1")])  # fmt: skip
    writer = LiveViewWriter(tmp_path, "gate", max_fps=100)
    with TestClient(create_app(settings, sessions=migrated_db)) as client:
        assert client.get("/api/cameras/gate/live.mjpg").status_code == 401
        headers = {"Authorization": f"Bearer {TOKEN}"}
        missing = client.get("/api/cameras/gate/live.mjpg", headers=headers)
        assert missing.status_code == 404 and "--live-view-fps" in missing.json()["detail"]
        writer(_frame(0), Detections.empty())
        done = threading.Event()
        written = [1]

        def new_frames() -> None:  # a new frame every 0.3 s while the stream is open, however late it starts
            while not done.wait(0.3):
                writer(_frame(written[0]), _person() if written[0] % 2 else Detections.empty())
                written[0] += 1

        t = threading.Thread(target=new_frames)
        t.start()
        try:
            with client.stream("GET", "/api/cameras/gate/live.mjpg", params={"seconds": 1.5}, headers=headers) as r:
                assert r.status_code == 200
                assert r.headers["content-type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
                body = b"".join(r.iter_bytes())
        finally:
            done.set()
            t.join()
        parts = body.split(f"--{BOUNDARY}\r\n".encode())[1:]
        # the frame on disk, then each new one; an unchanged file is not resent (so never more parts than frames)
        assert 2 <= len(parts) <= written[0]
        jpegs = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts]
        assert all(j[:2] == b"\xff\xd8" for j in jpegs) and all(a != b for a, b in pairwise(jpegs))
        assert client.get("/api/cameras/nope/live.mjpg", headers=headers).status_code == 404
    with TestClient(create_app(settings.model_copy(update={"serve": ServeConfig()}), read_only=True,
                               sessions=migrated_db)) as ro:  # fmt: skip
        assert ro.get("/api/cameras/gate/live.mjpg").status_code == 403
        assert "Sign in" in ro.get("/cameras/gate/live").text or "read-only" in ro.get("/cameras/gate/live").text
