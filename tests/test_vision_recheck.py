"""person_down's low-confidence re-check: a fallen person the tracker lost is kept by weak boxes of the same
inference (pure table tests of the fall logic, the pipeline's split, the wrappers that pass ``min_conf`` on,
and the real packaged model)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from floorwatch.config import CameraConfig, CameraZoneConfig, CrowdingRule, PersonDownRule, Settings
from floorwatch.vision.detections import Detections
from floorwatch.vision.falls import DownHypothesis, low_recheck
from floorwatch.vision.pose import Poses
from floorwatch.vision.recheck import accepts_min_conf, recheck_conf_for, split_low
from floorwatch.vision.rules import Observation, ZoneRuleEngine

FPS = 10.0
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
STAND = [100, 100, 140, 220]  # height 120
LYING = [80, 190, 220, 230]
LOW_FALLEN = [95, 160, 150, 222]  # w/h 0.9, height 62 <= 0.65 x 120: a short box labelled fallen
TALL_FALLEN = [100, 120, 150, 222]  # height 102 > 0.65 x 120
FAR_LYING = [450, 400, 600, 440]
RULE = PersonDownRule(down_memory_seconds=2.0)


def dets(*rows: tuple[list[float], str, int], conf: float = 0.9) -> Detections:
    if not rows:
        return Detections.empty()
    return Detections(xyxy=[r[0] for r in rows], confidence=[conf] * len(rows), label=[r[1] for r in rows],
                      track_id=[r[2] for r in rows])


def run(at: Callable[[int], Detections], low: Callable[[int], Detections | None], frames: int,
        poses: Callable[[int], Poses | None] | None = None) -> list[tuple[str, int]]:
    eng = ZoneRuleEngine("cam", "clip.mp4", CameraZoneConfig(zone_id="z", rules=[RULE]), (640, 480))
    out = []
    for f in range(frames):
        obs = Observation(f, f / FPS, T0 + timedelta(seconds=f / FPS), at(f), poses=poses(f) if poses else None,
                          low_people=low(f))
        out += [(e.phase, e.frame) for e in eng.step(obs)]
    out += [(e.phase, e.frame) for e in eng.close(frames / FPS, frames)]
    return [e for e in out if e[0] != "updated"]


def lost_after_fall(f: int) -> Detections:
    """Standing until frame 20, lying (confident) until 25, then the tracker has nothing."""
    return dets((STAND, "person", 1)) if f < 20 else dets((LYING, "fallen_person", 1)) if f < 26 else dets()


def weak(box: list[float], label: str, from_frame: int = 26) -> Callable[[int], Detections | None]:
    return lambda f: dets((box, label, -1), conf=0.2) if f >= from_frame else None


# started 32 (3rd down frame 22 + 1 s); without evidence: last evidence 2.5 s + 2 s memory, + 1 s end debounce
LOST = [("started", 32), ("ended", 55)]
KEPT = [("started", 32), ("ended", 150)]  # ended only by the close at the end of the stream

SCENES: dict[str, tuple[Callable[[int], Detections], Callable[[int], Detections | None], list[tuple[str, int]]]] = {
    "no weak boxes: the hypothesis ends after its memory": (lost_after_fall, lambda f: None, LOST),
    "weak lying box at the fallen person keeps them down": (lost_after_fall, weak(LYING, "person"), KEPT),
    "weak short fallen-labelled box keeps them down": (lost_after_fall, weak(LOW_FALLEN, "fallen_person"), KEPT),
    "weak fallen-labelled box as tall as standing: not down": (lost_after_fall, weak(TALL_FALLEN, "fallen_person"), LOST),
    "weak standing box there: not down": (lost_after_fall, weak(STAND, "person"), LOST),
    "weak lying box far away: another place": (lost_after_fall, weak(FAR_LYING, "fallen_person"), LOST),
    # two confident down frames only (needs 3): weak boxes keep, never confirm, so no alert at all
    "weak boxes never confirm a fall": (
        lambda f: dets((STAND, "person", 1)) if f < 20 else dets((LYING, "fallen_person", 1)) if f < 22 else dets(),
        weak(LYING, "fallen_person", 22), []),
}


@pytest.mark.parametrize("name", list(SCENES))
def test_low_confidence_recheck_scenes(name: str) -> None:
    at, low, expected = SCENES[name]
    assert run(at, low, 150) == expected


def test_an_upright_pose_on_the_weak_box_vetoes_it() -> None:
    kp = np.zeros((17, 3), np.float32)
    kp[[5, 6]] = (150, 195, 0.9)  # shoulders straight above hips: upright torso
    kp[[11, 12]] = (150, 225, 0.9)
    upright = Poses(np.array([LYING], np.float32), kp[None], np.array([0.8], np.float32))
    assert run(lost_after_fall, weak(LYING, "person"), 150, poses=lambda f: upright if f >= 26 else None) == LOST


def test_a_weak_box_duplicating_a_confident_detection_is_that_detection() -> None:
    d = {1: DownHypothesis(tuple(LYING), since=2.0, last_evidence=2.5, base_h=120.0, tracks=frozenset({1}), n_obs=4)}
    weak_lying = dets((LYING, "fallen_person", -1), conf=0.2)
    kept = low_recheck(d, weak_lying, Detections.empty(), 3.0, 1.2)
    assert kept[1].last_evidence == 3.0 and kept[1].n_obs == 4  # evidence, not a confirmation
    other = dets(([82, 188, 222, 232], "person", 9))  # a confident box on the same spot: judged by the tracker
    assert low_recheck(d, weak_lying, other, 3.0, 1.2)[1].last_evidence == 2.5
    getting_up = {1: DownHypothesis(tuple(LYING), 2.0, 2.5, 120.0, frozenset({1}), 4, standing_since=2.9)}
    assert low_recheck(getting_up, weak_lying, Detections.empty(), 3.0, 1.2)[1].last_evidence == 2.5


# --------------------------------------------------------------------------- the pipeline's split
def test_split_low_keeps_confident_boxes_and_only_weak_people() -> None:
    d = Detections(xyxy=[[0, 0, 10, 20]] * 4, confidence=[0.9, 0.35, 0.2, 0.2],
                   label=["person", "person", "fallen_person", "helmet"])
    high, low = split_low(d, 0.35)
    assert high.confidence.tolist() == [pytest.approx(0.9)]  # > conf, as ultralytics filters
    assert sorted(low.label.tolist()) == ["fallen_person", "person"]  # the weak helmet box is dropped
    e_high, e_low = split_low(Detections.empty(), 0.35)
    assert len(e_high) == 0 and len(e_low) == 0


class _Plain:
    def predict(self, frames):  # type: ignore[no-untyped-def]
        return [Detections.empty() for _ in frames]


class _WithMinConf:
    def predict(self, frames, min_conf=None):  # type: ignore[no-untyped-def]
        return [Detections.empty() for _ in frames]


def test_recheck_only_for_person_down_cameras_and_predictors_that_take_min_conf() -> None:
    from floorwatch.vision.batching import BatchedDetector

    s = Settings()
    whole = CameraConfig(id="c", source="x.mp4")  # no zones: person_down on the whole frame
    crowd = CameraConfig(id="c", source="x.mp4", zones=[CameraZoneConfig(zone_id="z", rules=[CrowdingRule()])])
    assert recheck_conf_for(whole, s, _WithMinConf()) == s.detector.recheck_conf == 0.1
    assert recheck_conf_for(crowd, s, _WithMinConf()) is None
    assert recheck_conf_for(whole, s, _Plain()) is None
    off = s.model_copy(update={"detector": s.detector.model_copy(update={"recheck_conf": 0.35})})
    assert recheck_conf_for(whole, off, _WithMinConf()) is None  # not below conf: off
    with BatchedDetector(_Plain(), max_batch=1) as b1, BatchedDetector(_WithMinConf(), max_batch=1) as b2:
        assert not accepts_min_conf(b1) and accepts_min_conf(b2)


def test_batcher_runs_different_min_conf_requests_as_separate_calls() -> None:
    from floorwatch.vision.batching import BatchedDetector

    class Rec:
        def __init__(self) -> None:
            self.calls: list[tuple[int, float | None]] = []

        def predict(self, frames, min_conf=None):  # type: ignore[no-untyped-def]
            self.calls.append((len(frames), min_conf))
            return [min_conf for _ in frames]

    rec = Rec()
    b = BatchedDetector(rec, max_batch=4)
    from floorwatch.vision.batching import _Request

    reqs = [_Request([np.zeros((2, 2, 3), np.uint8)], m) for m in (None, 0.1, None, 0.1)]
    b._run(reqs)  # one gathered batch with two min_conf values
    b.close()
    assert sorted(rec.calls, key=str) == sorted([(2, None), (2, 0.1)], key=str)
    assert [r.result for r in reqs] == [[None], [0.1], [None], [0.1]]


def test_real_model_low_conf_call_keeps_the_confident_boxes_unchanged(fall_model, bus) -> None:  # type: ignore[no-untyped-def]
    from floorwatch.config import DetectorConfig
    from floorwatch.vision.detector import Detector

    det = Detector(DetectorConfig(model="fall", imgsz=320, conf=0.35, device="cpu"), model=fall_model)
    (plain,) = det.predict([bus])
    (both,) = det.predict([bus], min_conf=0.05)
    high, low = split_low(both, 0.35)
    assert len(plain) >= 3 and len(low) >= 1  # a crowd: some people only scored weakly
    order = np.argsort(-plain.confidence)
    order_h = np.argsort(-high.confidence)
    np.testing.assert_allclose(high.xyxy[order_h], plain.xyxy[order], atol=1e-3)
    assert high.label[order_h].tolist() == plain.label[order].tolist()
    assert (low.confidence <= 0.35).all() and (low.confidence >= 0.05).all()


# --------------------------------------------------------------------------- rules that make a fall a fall
def test_a_standing_baseline_needs_half_a_second_not_just_three_frames() -> None:
    def at(f: int) -> Detections:  # upright for 3 frames (0.2 s at 10 fps), then lying
        return dets((STAND, "person", 1)) if 10 <= f < 13 else dets((LYING, "fallen_person", 1)) if f >= 13 else dets()

    def long_at(f: int) -> Detections:  # upright for 6 frames (0.5 s), then lying
        return dets((STAND, "person", 1)) if 10 <= f < 16 else dets((LYING, "fallen_person", 1)) if f >= 16 else dets()

    assert run(at, lambda f: None, 80) == []
    assert [p for p, _ in run(long_at, lambda f: None, 80)] == ["started", "ended"]


def test_a_place_that_was_lying_shaped_before_the_person_stood_there_is_no_fall() -> None:
    mat = weak(LYING, "fallen_person", from_frame=0)  # a mat the detector scores weakly as a lying person
    assert run(lambda f: lost_after_fall(f) if f < 40 else dets(), mat, 150) == []
    brief = lambda f: dets((LYING, "fallen_person", -1), conf=0.2) if f in (18, 19) else None  # noqa: E731
    # lying-shaped only from 0.2 s before the fall: within the fall window, so it may be the falling person
    assert run(lambda f: lost_after_fall(f) if f < 40 else dets(), brief, 150)[0] == ("started", 32)


def test_a_lying_pose_in_a_box_still_at_standing_height_is_not_down() -> None:
    kp = np.zeros((17, 3), np.float32)  # a horizontal torso: what MoveNet reads on a dog standing there
    kp[[5, 6]] = (105, 150, 0.9)
    kp[[11, 12]] = (135, 152, 0.9)
    tall = Poses(np.array([STAND], np.float32), kp[None], np.array([0.8], np.float32))
    assert run(lambda f: dets((STAND, "person", 1)), lambda f: None, 80, poses=lambda f: tall if f >= 20 else None) == []
    short = [100, 160, 140, 220]  # the same pose in a box at half the standing height: down
    at = lambda f: dets((STAND if f < 20 else short, "person", 1))  # noqa: E731
    short_pose = Poses(np.array([short], np.float32), kp[None], np.array([0.8], np.float32))
    assert run(at, lambda f: None, 80, poses=lambda f: short_pose if f >= 20 else None)[0] == ("started", 32)
