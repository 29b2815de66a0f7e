"""``floorwatch watch --metrics-port`` as a real process: a live MJPEG camera (a real HTTP server process)
and a recorded video, the packaged detector, SQLite. The test scrapes ``/metrics`` like Prometheus,
reads the camera heartbeats from the database and the dashboard's health API, cuts the live camera
(outage) and stops the process with Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from floorwatch.config import load_settings, load_zones_file
from floorwatch.review.app import create_app
from floorwatch.schemas.tables import CameraHeartbeat
from floorwatch.storage.db import make_engine, session_factory
from floorwatch.storage.migrate import upgrade
from floorwatch.vision.live_view import live_path
from tests.conftest import REPO_ROOT
from tests.fixtures_postgres import free_port

MJPEG = Path(__file__).with_name("mjpeg_server.py")
VTEST = REPO_ROOT / "sample_media" / "vtest.avi"
ZONES = REPO_ROOT / "sample_media" / "zones.yaml"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed by prometheus-client's own parser: {(sample name, sorted labels): value}."""
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def alert_window(path: Path, start: int = 480, n: int = 120) -> Path:
    """Frames ``start..start+n`` of vtest.avi (people cross the sample zones there) as a 10 fps MJPG clip."""
    cap = cv2.VideoCapture(str(VTEST))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out: cv2.VideoWriter | None = None
    try:
        for _ in range(n):
            ok, img = cap.read()
            assert ok, f"vtest.avi has no frame {start + n}"
            if out is None:
                out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (img.shape[1], img.shape[0]))
            out.write(img)
    finally:
        cap.release()
        if out is not None:
            out.release()
    return path


def wait_for(cond: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"watch exited ({proc.returncode}) while waiting for {what}: {out[-3000:]}")
        try:
            got = cond()
        except httpx.TransportError:
            got = None
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_watch_serves_metrics_and_writes_heartbeats(tmp_path: Path) -> None:
    cam_port, metrics_port = free_port(), free_port()
    camera = subprocess.Popen([sys.executable, str(MJPEG), str(cam_port), "20"], stdout=subprocess.PIPE, text=True)
    assert camera.stdout is not None and camera.stdout.readline().strip() == "ready"
    zones = [z.model_dump(mode="json") for z in load_zones_file(ZONES)]
    db = tmp_path / "fw.db"
    cfg = tmp_path / "floorwatch.yaml"
    cfg.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{db}"},
        "detector": {"imgsz": 320},
        "media": {"dir": str(tmp_path / "media"), "clip_pre_seconds": 0.5, "clip_post_seconds": 0.5},
        "cameras": [
            {"id": "gate", "source": f"http://127.0.0.1:{cam_port}/stream",
             "zones": [{"zone_id": "gate_area", "rules": [{"type": "restricted_zone_intrusion"}]}]},
            {"id": "dock", "source": str(alert_window(tmp_path / "window.avi")), "zones": zones},
        ],
    }))  # fmt: skip
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)  # `floorwatch db upgrade`: the test reads the heartbeats while the process writes them
    sessions = session_factory(engine)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "floorwatch.cli.main", "watch", "--config", str(cfg), "--quiet",
           "--metrics-port", str(metrics_port), "--heartbeat-seconds", "1", "--live-view-fps", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def beats() -> dict[str, CameraHeartbeat]:
        with sessions() as s:
            return {hb.camera_id: hb for hb in s.scalars(select(CameraHeartbeat))}

    try:
        # The recorded clip runs to its end while the live camera goes on.
        ended = wait_for(lambda: (b := beats()).get("dock") and b["dock"].state == "stopped" and b,
                         300, "the end of the recorded video", proc)  # fmt: skip
        assert ended["dock"].frames_processed == 120
        m = scrape(url)
        assert value(m, "floorwatch_frames_processed_total", camera="dock") == ended["dock"].frames_processed
        assert (value(m, "floorwatch_frames_processed_total", camera="gate") or 0) >= 5
        assert value(m, "floorwatch_camera_up", camera="gate") == 1.0
        assert value(m, "floorwatch_frames_read_total", camera="gate") >= value(
            m, "floorwatch_frames_processed_total", camera="gate"
        )
        assert value(m, "floorwatch_frames_dropped_total", camera="gate") is not None
        assert value(m, "floorwatch_frame_queue_depth", camera="gate") is not None
        assert value(m, "floorwatch_inference_seconds_count", camera="gate") >= 5
        assert value(m, "floorwatch_inference_seconds_sum", camera="gate") > 0
        # People cross the sample zones in the clip: started alerts are counted by zone and rule, with latency.
        alerts = {dict(labels)["zone"]: v for (n, labels), v in m.items()
                  if n == "floorwatch_alerts_total" and dict(labels)["camera"] == "dock"}  # fmt: skip
        assert sum(alerts.values()) >= 1 and set(alerts) <= {"forklift_lane", "crossing", "lawn_storage"}
        latencies = sum(v for (n, labels), v in m.items()
                        if n == "floorwatch_frame_to_alert_seconds_count" and dict(labels)["camera"] == "dock")  # fmt: skip
        assert latencies == sum(alerts.values())

        live = wait_for(lambda: (b := beats()).get("gate") and b["gate"].state == "live" and b, 30, "live beat", proc)
        assert live["gate"].frames_processed >= 5 and live["gate"].last_frame_at is not None
        assert cv2.imread(str(live_path(tmp_path / "media", "gate"))).shape == (120, 160, 3)  # live view frame
        assert live["dock"].latency_p50_s is not None and live["dock"].latency_p95_s >= live["dock"].latency_p50_s

        camera.kill()  # the live camera goes away: an outage, the process keeps running and retrying
        camera.wait(10)
        m = wait_for(lambda: value(m2 := scrape(url), "floorwatch_camera_up", camera="gate") == 0.0 and m2,
                     30, "camera_up 0", proc)  # fmt: skip
        assert value(m, "floorwatch_camera_outages_total", camera="gate") == 1.0
        down = wait_for(lambda: (b := beats())["gate"].state == "reconnecting" and b, 30, "reconnecting beat", proc)
        assert down["gate"].down_since is not None and down["gate"].outages_24h == 1

        settings = load_settings(cfg)
        with TestClient(create_app(settings, read_only=True, sessions=sessions)) as client:
            health = {h["camera_id"]: h for h in client.get("/api/cameras/health").json()}
            page = client.get("/cameras")
        assert health["gate"]["state"] == "reconnecting" and health["gate"]["outages_24h"] >= 1
        assert health["dock"]["latency_p95_s"] is not None
        assert page.status_code == 200 and "reconnecting" in page.text and "dock" in page.text

        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=10)
            pytest.fail(f"watch did not exit within 60 s of SIGINT; its output ends with:\n{out[-3000:]}")
        assert proc.returncode == 0, out[-3000:]
        assert {b.state for b in beats().values()} == {"stopped"}
        with pytest.raises(httpx.TransportError):  # the metrics server went away with the process
            httpx.get(url, timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if camera.poll() is None:
            camera.kill()
            camera.wait(10)
        engine.dispose()
