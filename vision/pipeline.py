"""One camera's vision pipeline: source -> detector (+ PPE detector) -> tracker -> zones -> rules -> evidence -> publish.

Replay of a file and a live stream run exactly the same code; only the :class:`FrameSource` differs in
pacing (a file replays as fast as possible unless ``realtime``). Every AlertEvent carries latency stamps
(frame captured, inference done, handed to the bus) and a started alert carries its snapshot and clip.
Camera outages reported by the source are published too. When a zone of the camera has a ``missing_ppe``
rule and a PPE detector is given (``detector.ppe``), its boxes are merged, untracked, after the tracked people
(see :mod:`floorwatch.vision.ppe`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from floorwatch.config import CameraConfig, CameraZoneConfig, Settings
from floorwatch.schemas.events import AlertEvent, BusEvent, LatencyStamps, OutageEvent
from floorwatch.vision.detections import Detections
from floorwatch.vision.evidence import EvidenceRecorder
from floorwatch.vision.ppe import PPEStage, check_ppe_rules, merge_ppe, needs_ppe
from floorwatch.vision.recheck import recheck_conf_for, split_low
from floorwatch.vision.rules import Observation, ZoneRuleEngine, engines_for_camera
from floorwatch.vision.sources import Frame, FrameSource
from floorwatch.vision.tracker import Tracker

log = logging.getLogger(__name__)

Publish = Callable[[BusEvent], None]
FrameHook = Callable[[Frame, Detections], None]


class _Predictor:
    """What the pipeline needs from :class:`floorwatch.vision.detector.Detector`."""

    def predict(self, frames: list[np.ndarray]) -> list[Detections]: ...


@dataclass
class PipelineStats:
    """Counters and latency of one pipeline run."""

    camera_id: str
    frames: int = 0
    frames_dropped: int = 0
    evidence_frames_dropped: int = 0  # clip frames the background evidence writer could not keep up with
    alert_events: int = 0
    alerts_started: int = 0
    outages: int = 0
    reconnects: int = 0
    elapsed_s: float = 0.0
    infer_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)  # frame captured -> alert published, started alerts

    @property
    def fps(self) -> float:
        """Frames processed per second of wall time."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency_percentile(self, q: float) -> float | None:
        """Frame-to-alert latency percentile in seconds (None without alerts)."""
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else None

    def as_dict(self) -> dict[str, Any]:
        """Plain summary for logs, JSON and flow results."""
        p50, p95 = self.latency_percentile(50), self.latency_percentile(95)
        return {
            "camera_id": self.camera_id,
            "frames": self.frames,
            "frames_dropped": self.frames_dropped,
            "evidence_frames_dropped": self.evidence_frames_dropped,
            "fps": round(self.fps, 2),
            "infer_ms_mean": round(1000 * self.infer_s / self.frames, 1) if self.frames else None,
            "alert_events": self.alert_events,
            "alerts_started": self.alerts_started,
            "outages": self.outages,
            "reconnects": self.reconnects,
            "latency_p50_ms": round(p50 * 1000, 1) if p50 is not None else None,
            "latency_p95_ms": round(p95 * 1000, 1) if p95 is not None else None,
            "elapsed_s": round(self.elapsed_s, 2),
        }


class VisionPipeline:
    """Run one camera through detection, tracking, zone rules and evidence, publishing every event.

    Args:
        camera_cfg: The camera (source, zones, fps limit, queue size).
        detector: Anything with ``predict(list[image]) -> list[Detections]``; may be shared by cameras.
        settings: Media (evidence), detector (tracker choice) and runtime settings.
        publish: Called with every AlertEvent and OutageEvent (``bus.publish``); thread-safe use is
            guaranteed by the pipeline (outages come from the reader thread).
        realtime: Replay a file at its native rate (live sources always are).
        max_frames: Stop after this many frames.
        on_frame: Called with each frame and its detections: tracked people, then untracked PPE boxes
            (``--tracks-out``).
        detector_lock: Lock held around ``predict`` when several cameras share a plain detector (not needed
            with :class:`floorwatch.vision.batching.BatchedDetector`, which is thread-safe).
        require_initial: A live source that cannot be opened at start raises (True) or counts as an outage.
        evidence: Write snapshots and clips for started alerts (on a background writer thread; every
            file of the run is written when :meth:`run` returns).
        start_time: Start of a replayed recording (default: the file's mtime).
        ppe_detector: PPE model (``detector.ppe``) run on the same frames, only when a zone of this camera has a
            ``missing_ppe`` rule; may be shared by cameras like ``detector``.
        pose: Run the pose model (``detector.pose``) where ``person_down`` asks for it (False: boxes only).

    Raises:
        PPERuleError: a ``missing_ppe`` rule requires an item neither model gives.
    """

    def __init__(
        self,
        camera_cfg: CameraConfig,
        detector: _Predictor,
        settings: Settings,
        publish: Publish,
        *,
        realtime: bool = False,
        max_frames: int | None = None,
        on_frame: FrameHook | None = None,
        detector_lock: threading.Lock | None = None,
        require_initial: bool = True,
        evidence: bool = True,
        start_time: datetime | None = None,
        ppe_detector: _Predictor | None = None,
        pose: bool = True,
    ):
        check_ppe_rules(camera_cfg.zones, detector, ppe_detector, settings.detector)  # raises PPERuleError
        self.camera = camera_cfg
        self.detector = detector
        ppe_cfg = settings.detector.ppe
        self.ppe: PPEStage | None = (
            PPEStage(ppe_detector, ppe_cfg.every_n_frames, ppe_cfg.labels)
            if ppe_detector is not None and needs_ppe(camera_cfg.zones)
            else None
        )
        self.settings = settings
        self._publish_fn = publish
        self.on_frame = on_frame
        self._detector_lock = detector_lock or threading.Lock()
        self._publish_lock = threading.Lock()
        self.want_evidence = evidence
        self.stats = PipelineStats(camera_cfg.id)
        self.source = FrameSource(
            camera_cfg.source,
            camera_id=camera_cfg.id,
            realtime=realtime,
            queue_size=camera_cfg.queue_size,
            fps_limit=camera_cfg.fps_limit,
            max_frames=max_frames,
            on_outage=self._on_outage,
            require_initial=require_initial,
            sequence_fps=camera_cfg.fps or 10.0,
        )
        self.engines: list[ZoneRuleEngine] = []
        self.evidence: EvidenceRecorder | None = None
        self.tracker: Tracker | None = None
        self._replay_epoch: datetime | None = None
        self.pose = pose_stage_for(self.camera, settings) if pose else None  # person_down only (vision/pose.py)
        self.recheck_conf = recheck_conf_for(self.camera, settings, detector)  # person_down only (vision/recheck.py)
        if start_time is not None and start_time.tzinfo is None:
            raise ValueError(f"start_time {start_time.isoformat()} has no time zone")
        self._start_time = start_time

    # ------------------------------------------------------------------ publishing
    def _publish(self, event: BusEvent) -> None:
        with self._publish_lock:
            self._publish_fn(event)

    def _on_outage(self, event: OutageEvent) -> None:
        if event.ended_at is None:
            self.stats.outages += 1
        self._publish(event)

    def _publish_alert(self, event: AlertEvent, frame: Frame, inferred_at: datetime) -> None:
        published_at = datetime.now(UTC)
        event = event.model_copy(
            update={"latency": LatencyStamps(captured_at=frame.captured_at, inferred_at=inferred_at,
                                             published_at=published_at)}
        )
        self._publish(event)
        self.stats.alert_events += 1
        if event.phase == "started":
            self.stats.alerts_started += 1
            self.stats.latencies_s.append((published_at - frame.captured_at).total_seconds())
        log.info(
            "camera %s: %s %s zone=%s track=%s frame=%d t=%.1fs",
            self.camera.id, event.rule, event.phase, event.zone_id, event.track_id, event.frame, event.video_ts,
        )

    # ------------------------------------------------------------------ set-up
    def _setup(self) -> None:
        """Open the source; build tracker, zone engines and evidence recorder for its frame size and rate."""
        self.source.open()
        fps = self.source.fps or 10.0
        step = max(1, round(fps / self.camera.fps_limit)) if self.camera.fps_limit and not self.source.live else 1
        eff_fps = fps / step if not self.source.live else min(fps, self.camera.fps_limit or fps)
        self.tracker = Tracker(frame_rate=eff_fps)
        frame_wh = self.source.frame_size or (640, 480)
        self.engines = engines_for_camera(self.camera.id, self.camera.source, list(self.camera.zones), frame_wh)
        if self.want_evidence:
            polys = [(e.zone_id, e.zone.polygon) for e in self.engines if not e.zone.whole_frame]
            self.evidence = EvidenceRecorder(self.settings.media, self.camera.id, eff_fps, polys)
        if not self.source.live:
            # Replayed files get a deterministic time line (given start time, else file mtime, plus
            # video time), so a replay twice writes the same rows.
            self._replay_epoch = self._start_time or _replay_epoch(self.camera.source)

    def _wall_time(self, frame: Frame) -> datetime:
        if self._replay_epoch is not None:
            return self._replay_epoch + timedelta(seconds=frame.video_ts)
        return frame.captured_at

    # ------------------------------------------------------------------ running
    def step(self, frame: Frame) -> list[AlertEvent]:
        """Process one frame (detect, track, rules, evidence, publish). Returns the alert events published."""
        assert self.tracker is not None, "call run() or _setup() first"
        t0 = time.perf_counter()
        with self._detector_lock:
            if self.recheck_conf is None:
                dets = self.detector.predict([frame.image])[0]
            else:
                dets = self.detector.predict([frame.image], min_conf=self.recheck_conf)[0]  # type: ignore[call-arg]
            ppe = self.ppe.detect(frame.image) if self.ppe is not None else Detections.empty()
        low = None
        if self.recheck_conf is not None:
            dets, low = split_low(dets, self.settings.detector.conf)
        tracked = self.tracker.update(dets)
        if self.ppe is not None:
            tracked = merge_ppe(tracked, ppe, self.ppe.labels)
        ended = frozenset(self.tracker.ended_ids())
        poses = self.pose.run(frame.image, frame.index) if self.pose is not None else None
        self.stats.infer_s += time.perf_counter() - t0
        inferred_at = datetime.now(UTC)
        obs = Observation(frame.index, frame.video_ts, self._wall_time(frame), tracked, frame.image, ended, poses,
                          low_people=low)
        if self.evidence is not None:
            self.evidence.push(frame, tracked)
        out: list[AlertEvent] = []
        for engine in self.engines:
            for event in engine.step(obs):
                if self.evidence is not None:
                    event = self.evidence.attach(event, frame, tracked)
                self._publish_alert(event, frame, inferred_at)
                out.append(event)
        if self.pose is not None:
            self.pose.plan(self.engines, obs)
        self.stats.frames += 1
        if self.on_frame is not None:
            self.on_frame(frame, tracked)
        return out

    def run(self, stop: threading.Event | None = None) -> PipelineStats:
        """Process the source until it ends, ``max_frames`` is reached or ``stop`` is set.

        Open alerts are ended and clips finished on the way out, also on errors.

        Raises:
            SourceError: the source cannot be opened (bad file, URL, zero-frame video).
        """
        t_start = time.monotonic()
        self._setup()
        last: Frame | None = None
        done = threading.Event()
        if stop is not None:  # wake a reader blocked on a dead stream when asked to stop
            threading.Thread(target=self._close_on, args=(stop, done), daemon=True).start()
        try:
            for frame in self.source:
                self.step(frame)
                last = frame
                if stop is not None and stop.is_set():
                    break
        finally:
            done.set()
            self.source.close()
            self._finish(last)
            if self.evidence is not None:
                self.stats.evidence_frames_dropped = self.evidence.frames_dropped
            self.stats.frames_dropped = self.source.stats.frames_dropped
            self.stats.reconnects = self.source.stats.reconnects
            self.stats.elapsed_s = time.monotonic() - t_start
        log.info("camera %s: done %s", self.camera.id, self.stats.as_dict())
        return self.stats

    def _close_on(self, stop: threading.Event, done: threading.Event) -> None:
        while not done.is_set():
            if stop.wait(0.5):
                self.source.close(timeout=0)
                return

    def _finish(self, last: Frame | None) -> None:
        if last is not None:
            inferred_at = datetime.now(UTC)
            for engine in self.engines:
                for event in engine.close(last.video_ts, last.index, self._wall_time(last)):
                    self._publish_alert(event, last, inferred_at)
        if self.evidence is not None:
            self.evidence.close()


def pose_stage_for(camera: CameraConfig, settings: Settings) -> Any:
    """The pose stage of a camera with a ``person_down`` rule (a camera without zones has one), or None when
    pose is off, not needed, or its package is missing (then ``person_down`` uses boxes only; logged)."""
    from floorwatch.config import PersonDownRule
    from floorwatch.vision.models import ModelNotFoundError
    from floorwatch.vision.pose import PoseEstimator, PoseStage

    cfg = settings.detector.pose
    wants = not camera.zones or any(isinstance(r, PersonDownRule) for z in camera.zones for r in z.rules)
    if not (cfg.enabled and wants):
        return None
    try:
        return PoseStage(PoseEstimator(threads=cfg.threads), cfg)
    except (ModelNotFoundError, ImportError) as exc:  # package or LiteRT missing
        log.warning("camera %s: person_down without pose: %s", camera.id, exc)
        return None


def _replay_epoch(source: str) -> datetime:
    path = Path(source)
    if path.is_file():
        return datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)
    if path.parent.is_dir():
        return datetime.fromtimestamp(int(path.parent.stat().st_mtime), tz=UTC)
    return datetime.now(UTC).replace(microsecond=0)


def camera_for_replay(
    video: str, settings: Settings, camera_id: str | None = None, zones: list[CameraZoneConfig] | None = None,
    fps: float | None = None,
) -> CameraConfig:
    """The camera a replayed video stands in for: a configured camera's zones (``camera_id``), overridden by
    ``zones``; an unknown or absent ``camera_id`` gets a camera named ``replay`` (or the id given). ``fps``
    overrides the camera's image-sequence frame rate."""
    base = next((c for c in settings.cameras if c.id == camera_id), None) if camera_id else None
    if base is None:
        return CameraConfig(id=camera_id or "replay", source=video, zones=zones or [], fps=fps)
    update = {"source": video, **({"zones": zones} if zones is not None else {}), **({"fps": fps} if fps else {})}
    return base.model_copy(update=update)
