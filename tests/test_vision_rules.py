"""Rule tables: pure rule engine, no model. Frames at 10 fps unless said otherwise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from floorwatch.config import (
    CameraZoneConfig,
    CrowdingRule,
    DwellRule,
    HotSpotRule,
    MissingPPERule,
    PersonDownRule,
    RestrictedZoneIntrusionRule,
)
from floorwatch.schemas.events import AlertEvent, parse_event
from floorwatch.vision.detections import Detections
from floorwatch.vision.rules import Observation, ZoneRuleEngine, engines_for_camera, hot_fraction

FPS = 10.0
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
UPRIGHT = [100, 100, 140, 220]  # w/h = 0.33
LYING = [100, 190, 220, 230]  # w/h = 3.0


def dets(*rows: tuple[list[float], str, int], conf: float = 0.9) -> Detections:
    """Rows of (xyxy, label, track_id)."""
    if not rows:
        return Detections.empty()
    return Detections(
        xyxy=[r[0] for r in rows],
        confidence=[conf] * len(rows),
        label=[r[1] for r in rows],
        track_id=[r[2] for r in rows],
    )


def run(
    rule,
    frames: int,
    at: Callable[[int], Detections],
    *,
    polygon=None,
    image: Callable[[int], np.ndarray] | None = None,
    source: str = "cam.mp4",
    close: bool = False,
) -> list[AlertEvent]:
    eng = ZoneRuleEngine(
        "cam1", source, CameraZoneConfig(zone_id="z1", polygon=polygon, rules=[rule]), (640, 480)
    )
    events: list[AlertEvent] = []
    for f in range(frames):
        obs = Observation(f, f / FPS, T0 + timedelta(seconds=f / FPS), at(f), image(f) if image else None)
        events += eng.step(obs)
    if close:
        events += eng.close(frames / FPS, frames)
    return events


def phases(events: list[AlertEvent]) -> list[tuple[str, int]]:
    return [(e.phase, e.frame) for e in events]


# --------------------------------------------------------------------------- restricted zone / dwell
@pytest.mark.parametrize(
    ("min_seconds", "present_frames", "start_frame"),
    [
        (0.5, 5, None),  # held 0.4 s
        (0.5, 6, 5),  # held 0.5 s at frame 5
        (0.0, 1, 0),
        (2.0, 25, 20),
    ],
)
def test_intrusion_fires_at_threshold(min_seconds, present_frames, start_frame):
    rule = RestrictedZoneIntrusionRule(min_seconds=min_seconds)
    ev = run(rule, 40, lambda f: dets((UPRIGHT, "person", 7)) if f < present_frames else dets())
    started = [e for e in ev if e.phase == "started"]
    if start_frame is None:
        assert ev == []
    else:
        assert [(e.frame, e.track_id, e.rule) for e in started] == [
            (start_frame, 7, "restricted_zone_intrusion")
        ]


def test_intrusion_ignores_people_outside_polygon_and_untracked():
    rule = RestrictedZoneIntrusionRule(min_seconds=0.0)
    zone = [(0, 0), (0.5, 0), (0.5, 1), (0, 1)]  # left half (normalised)
    right = [400, 100, 440, 220]
    assert run(rule, 5, lambda f: dets((right, "person", 1), (UPRIGHT, "person", -1)), polygon=zone) == []
    ev = run(rule, 5, lambda f: dets((right, "person", 1), (UPRIGHT, "person", 2)), polygon=zone)
    assert {e.track_id for e in ev} == {2}


@pytest.mark.parametrize(("present_frames", "fires"), [(11, False), (12, True)])
def test_dwell_fires_only_after_max_seconds(present_frames, fires):
    ev = run(
        DwellRule(max_seconds=1.0),
        30,
        lambda f: dets((UPRIGHT, "person", 3)) if f < present_frames else dets(),
    )
    assert any(e.phase == "started" for e in ev) is fires  # held 1.0 s is not "> 1.0 s"


# --------------------------------------------------------------------------- person down
def upright_then(
    box: list[float], label: str, tid: int = 5, upright_frames: int = 10
) -> Callable[[int], Detections]:
    """Track ``tid`` stands at (100, 100..220) for ``upright_frames``, then shows ``box`` with ``label``."""
    return lambda f: dets((UPRIGHT, "person", tid)) if f < upright_frames else dets((box, label, tid))


@pytest.mark.parametrize(
    ("box", "label", "fires"),
    [
        (LYING, "person", True),  # posture alone
        (LYING, "fallen_person", True),
        (UPRIGHT, "fallen_person", False),  # the Fall class alone is not trusted
        ([100, 120, 220, 220], "person", True),  # w/h = 1.2 exactly
        ([100, 120, 219, 220], "person", False),  # w/h = 1.19
    ],
)
def test_person_down_posture_table(box, label, fires):
    ev = run(PersonDownRule(min_seconds=2.0, aspect_ratio=1.2), 40, upright_then(box, label))
    started = [e for e in ev if e.phase == "started"]
    assert bool(started) is fires
    if fires:
        assert (
            started[0].frame == 32  # down from frame 10, counts from its 3rd down frame (12), held 2 s
            and started[0].severity == "critical"
            and started[0].details["reason"] == "posture"
        )


def test_person_down_needs_the_person_seen_upright_first():
    # a coat on the ground that the model calls "Fall" from the first frame on (as in sample_media/vtest.avi)
    assert run(PersonDownRule(min_seconds=0.5), 60, lambda f: dets((LYING, "fallen_person", 1))) == []


@pytest.mark.parametrize(("lying_box", "fires"), [(LYING, True), ([400, 300, 520, 340], False)])
def test_person_down_survives_an_id_switch_during_the_fall(lying_box, fires):
    # track 1 stands until frame 9 and ends; track 2 appears lying: at the same spot it inherits track 1's history
    def at(f: int) -> Detections:
        return dets((UPRIGHT, "person", 1)) if f < 10 else dets((lying_box, "fallen_person", 2))

    ev = run(PersonDownRule(min_seconds=1.0), 40, at)
    assert [(e.phase, e.frame, e.track_id) for e in ev] == ([("started", 22, 2)] if fires else [])


@pytest.mark.parametrize(("label", "fires"), [("fallen_person", True), ("person", False)])
def test_person_down_height_drop_needs_fall_label(label, fires):
    # upright (height 120) for 1 s, then a box of height 60 (w/h 0.67: not a lying posture) for 3 s
    crouched = [100, 160, 140, 220]

    def at(f: int) -> Detections:
        return dets((UPRIGHT, "person", 4)) if f < 10 else dets((crouched, label, 4))

    ev = run(PersonDownRule(min_seconds=2.0), 40, at)
    started = [e for e in ev if e.phase == "started"]
    assert bool(started) is fires
    if fires:
        assert started[0].frame == 32 and started[0].details["reason"] == "height_drop"


def test_person_down_stays_open_while_lying_still():
    ev = run(
        PersonDownRule(min_seconds=1.0, update_every_seconds=100), 300, upright_then(LYING, "fallen_person")
    )
    assert phases(ev) == [("started", 22)]  # still open 28 s later


# --------------------------------------------------------------------------- missing PPE
PERSON = [100, 100, 200, 400]


@pytest.mark.parametrize(
    ("ppe", "required", "missing"),
    [
        ([], ["helmet"], ["helmet"]),
        ([([130, 100, 170, 140], "helmet")], ["helmet"], None),  # worn
        ([([400, 100, 440, 140], "helmet")], ["helmet"], ["helmet"]),  # helmet elsewhere
        ([([180, 100, 220, 140], "helmet")], ["helmet"], None),  # half inside = min_overlap 0.5
        ([([190, 100, 230, 140], "helmet")], ["helmet"], ["helmet"]),  # a quarter inside
        ([([130, 100, 170, 140], "helmet"), ([120, 100, 180, 150], "no_helmet")], ["helmet"], ["helmet"]),
        ([([130, 100, 170, 140], "helmet")], ["helmet", "vest"], ["vest"]),
        ([([130, 100, 170, 140], "helmet"), ([110, 180, 190, 300], "vest")], ["helmet", "vest"], None),
    ],
)
def test_missing_ppe_table(ppe, required, missing):
    rule = MissingPPERule(required=required, min_seconds=1.0, min_overlap=0.5)
    rows = [(PERSON, "person", 9)] + [(box, lab, -1) for box, lab in ppe]
    ev = run(rule, 20, lambda f: dets(*rows))
    if missing is None:
        assert ev == []
    else:
        assert [(e.phase, e.frame, e.track_id, e.details["missing"]) for e in ev] == [
            ("started", 10, 9, missing)
        ]


def test_missing_ppe_does_not_fire_before_min_seconds():
    ev = run(MissingPPERule(min_seconds=2.0), 20, lambda f: dets((PERSON, "person", 9)))
    assert ev == []


# --------------------------------------------------------------------------- crowding
@pytest.mark.parametrize(("people", "fires"), [(2, False), (3, True)])
def test_crowding_is_zone_level(people, fires):
    rows = [
        ([50 * i, 100, 50 * i + 40, 220], "person", -1) for i in range(people)
    ]  # untracked people count too
    ev = run(CrowdingRule(max_people=2, min_seconds=0.5), 10, lambda f: dets(*rows))
    started = [e for e in ev if e.phase == "started"]
    assert bool(started) is fires
    if fires:
        assert started[0].track_id is None and started[0].people == 3 and started[0].frame == 5


# --------------------------------------------------------------------------- hot spot
def hot_image(fraction_of_width: float, value: int = 250) -> np.ndarray:
    img = np.full((480, 640), 40, dtype=np.uint8)
    img[:, : int(640 * fraction_of_width)] = value
    return img


@pytest.mark.parametrize(
    ("width_share", "value", "fires"), [(0.02, 250, True), (0.005, 250, False), (0.5, 229, False)]
)
def test_hot_spot_table(width_share, value, fires):
    rule = HotSpotRule(min_intensity=230, min_area_fraction=0.01, min_seconds=1.0)
    ev = run(rule, 15, lambda f: Detections.empty(), image=lambda f: hot_image(width_share, value))
    assert any(e.phase == "started" and e.track_id is None for e in ev) is fires


def test_hot_fraction_counts_zone_pixels_only_and_takes_bgr():
    img = np.zeros((100, 200, 3), dtype=np.uint8)
    img[:, :50] = 255  # hot quarter on the left
    mask = np.zeros((100, 200), dtype=bool)
    mask[:, :100] = True  # zone = left half
    assert hot_fraction(img, mask, 230) == pytest.approx(0.5)
    mask[:] = False
    mask[:, 100:] = True
    assert hot_fraction(img, mask, 230) == 0.0
    with pytest.raises(ValueError, match="differs"):
        hot_fraction(img, np.ones((10, 10), dtype=bool), 230)


# --------------------------------------------------------------------------- lifecycle
def test_lifecycle_order_updates_and_ids():
    rule = RestrictedZoneIntrusionRule(min_seconds=0.5, update_every_seconds=1.0, end_after_seconds=1.0)
    ev = run(rule, 60, lambda f: dets((UPRIGHT, "person", 2)) if f < 30 else dets())
    assert phases(ev) == [("started", 5), ("updated", 15), ("updated", 25), ("ended", 39)]
    assert len({e.alert_id for e in ev}) == 1
    assert [e.event_id.split(":", 1)[1] for e in ev] == ["started:0", "updated:1", "updated:2", "ended:3"]
    for e in ev:
        assert parse_event(e.model_dump_json()) == e


@pytest.mark.parametrize(("gap_frames", "alerts"), [(5, 1), (9, 1), (11, 2)])
def test_debounce_bridges_short_gaps(gap_frames, alerts):
    rule = RestrictedZoneIntrusionRule(min_seconds=0.0, end_after_seconds=1.0, cooldown_seconds=0.0)

    def at(f: int) -> Detections:
        return dets() if 10 <= f < 10 + gap_frames else dets((UPRIGHT, "person", 2))

    ev = run(rule, 40, at, close=True)
    assert len({e.alert_id for e in ev}) == alerts
    assert [e.phase for e in ev].count("started") == alerts == [e.phase for e in ev].count("ended")


@pytest.mark.parametrize(("cooldown", "second_start"), [(0.0, 40), (5.0, None), (1.5, 44)])
def test_cooldown_per_zone_and_rule(cooldown, second_start):
    # person 1 for frames 0..19 (alert ends at frame 29 = 2.9 s), person 2 from frame 40 on (cool-down ends 2.9 + c)
    rule = RestrictedZoneIntrusionRule(min_seconds=0.0, end_after_seconds=1.0, cooldown_seconds=cooldown)

    def at(f: int) -> Detections:
        return (
            dets((UPRIGHT, "person", 1)) if f < 20 else (dets((UPRIGHT, "person", 2)) if f >= 40 else dets())
        )

    ev = run(rule, 60, at)
    starts = [(e.frame, e.track_id) for e in ev if e.phase == "started"]
    assert starts[0] == (0, 1) and ("ended", 29) in phases(ev)
    assert starts[1:] == ([] if second_start is None else [(second_start, 2)])


def test_alert_ids_are_deterministic_per_source():
    rule = PersonDownRule(min_seconds=0.5)
    a = run(rule, 30, upright_then(LYING, "person"), close=True)
    b = run(rule, 30, upright_then(LYING, "person"), close=True)
    c = run(rule, 30, upright_then(LYING, "person"), close=True, source="other.mp4")
    assert [e.event_id for e in a] == [e.event_id for e in b] and len(a) == 2
    assert {e.alert_id for e in a}.isdisjoint({e.alert_id for e in c})


def test_close_ends_open_alerts_once():
    eng = ZoneRuleEngine(
        "cam1",
        "s",
        CameraZoneConfig(zone_id="z1", rules=[CrowdingRule(max_people=1, min_seconds=0)]),
        (640, 480),
    )
    two = dets((UPRIGHT, "person", 1), ([300, 100, 340, 220], "person", 2))
    assert [e.phase for e in eng.step(Observation(0, 0.0, T0, two))] == ["started"]
    ended = eng.close(0.1, 1)
    assert [(e.phase, e.frame, e.people) for e in ended] == [("ended", 1, 2)]
    assert eng.close(0.2, 2) == [] and eng.open_alerts() == 0


# --------------------------------------------------------------------------- state is bounded
def test_per_track_state_is_dropped_when_tracks_leave_or_end():
    rules = [RestrictedZoneIntrusionRule(min_seconds=5.0), PersonDownRule(), MissingPPERule(min_seconds=5.0)]
    eng = ZoneRuleEngine("cam1", "s", CameraZoneConfig(zone_id="z1", rules=rules), (640, 480))
    sizes = []
    for f in range(2000):
        tid = f // 20  # a new person every 2 s, each seen for 2 s: 100 tracks in all
        ended = frozenset({tid - 1}) if f % 20 == 0 and tid else frozenset()
        eng.step(Observation(f, f / FPS, T0, dets((UPRIGHT, "person", tid)), ended_tracks=ended))
        sizes.append(eng.tracked_state_size())
    assert max(sizes) <= 3 * 2 * 2  # at most ~two tracks' entries per rule, never 100
    eng.step(Observation(2000, 200.0, T0, dets()))
    eng.step(Observation(2020, 202.0, T0, dets()))
    assert eng.tracked_state_size() <= 2  # person_down remembers standing tracks for TRACK_MEMORY_SECONDS
    eng.step(Observation(2100, 210.0, T0, dets()))
    assert eng.tracked_state_size() == 0


def test_ended_track_is_forgotten_at_once():
    rule = RestrictedZoneIntrusionRule(min_seconds=1.0, end_after_seconds=5.0)
    eng = ZoneRuleEngine("cam1", "s", CameraZoneConfig(zone_id="z1", rules=[rule]), (640, 480))
    for f in range(5):
        eng.step(Observation(f, f / FPS, T0, dets((UPRIGHT, "person", 1))))
    assert eng.tracked_state_size() > 0
    eng.step(Observation(5, 0.5, T0, dets(), ended_tracks=frozenset({1})))
    assert eng.tracked_state_size() == 0


def test_camera_without_zones_watches_whole_frame_for_person_down():
    (eng,) = engines_for_camera("cam1", "s", [], (640, 480))
    assert eng.zone_id == "frame" and [r.type for r in eng.rules] == ["person_down"]
    ev = []
    for f in range(40):
        box = [600, 360, 639, 479] if f < 8 else [500, 440, 639, 479]  # stands 0.7 s, then lies at the bottom-right
        ev += eng.step(Observation(f, f / FPS, T0, dets((box, "person", 1))))
    assert [e.phase for e in ev] == ["started"]
