"""Small factories that fill a migrated database with what the report and dashboard show."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from floorwatch.schemas.tables import (
    Alert,
    Camera,
    CameraOutage,
    IncidentExtraction,
    IncidentReport,
    ManualSection,
    RiskAssessment,
    RiskEvidence,
    Sensor,
    SensorAnomaly,
    SensorWindow,
    Zone,
)

T0 = datetime(2024, 3, 4, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=7)


def snapshot(media_dir: Path, rel: str, colour: tuple[int, int, int] = (200, 60, 40)) -> str:
    """Write a small JPEG snapshot under ``media_dir`` and return its relative path."""
    path = media_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (320, 180), (90, 90, 100))
    draw = ImageDraw.Draw(img)
    draw.rectangle((120, 40, 180, 170), outline=colour, width=4)
    draw.text((8, 8), rel, fill=(255, 255, 255))
    img.save(path, format="JPEG")
    return rel


def zone(session: Session, zid: str, name: str = "") -> Zone:
    z = Zone(id=zid, name=name or zid.replace("-", " ").title())
    session.add(z)
    return z


def camera(session: Session, cid: str) -> Camera:
    c = Camera(id=cid, name=cid)
    session.add(c)
    return c


def alert(session: Session, aid: str, zone_id: str, camera_id: str, start: datetime, **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "rule": "restricted_zone_intrusion",
        "severity": "high",
        "status": "closed",
        "last_seen_at": start + timedelta(seconds=20),
        "ended_at": start + timedelta(seconds=20),
    }
    fields.update(kw)
    a = Alert(id=aid, zone_id=zone_id, camera_id=camera_id, started_at=start, **fields)
    session.add(a)
    return a


def incident(
    session: Session, zone_id: str, when: datetime, text: str, hazard: str = "struck_by"
) -> IncidentReport:
    rep = IncidentReport(
        source="incidents.csv",
        source_id=f"{zone_id}-{when:%Y%m%d%H%M}",
        content_hash="0" * 64,
        occurred_at=when,
        zone_id=zone_id,
        title=f"Incident in {zone_id}",
        original_text=text.replace("[NAME]", "John Smith"),
        redacted_text=text,
    )
    session.add(rep)
    session.flush()
    session.add(
        IncidentExtraction(
            incident_id=rep.id,
            prompt_version="v1",
            model="test-model",
            input_hash="1" * 64,
            status="ok",
            hazard_category=hazard,
            severity=2,
            potential_severity=4,
            injury=True,
            causes=["no guard"],
            controls=["guard"],
        )
    )
    return rep


def sensor_series(
    session: Session, zone_id: str, asset: str, channel: str, start: datetime, hours: int
) -> Sensor:
    s = Sensor(id=f"{asset}:{channel}", asset=asset, channel=channel, zone_id=zone_id, unit="bar")
    session.add(s)
    for i in range(hours * 6):
        v = 5 + math.sin(i / 6) + (3 if 40 <= i < 46 else 0)
        session.add(
            SensorWindow(
                sensor_id=s.id,
                window_start=start + timedelta(minutes=10 * i),
                window_seconds=600,
                count=600,
                mean=v,
                min=v - 0.3,
                max=v + 0.3,
            )
        )
    return s


def assessment(
    session: Session,
    zone_id: str,
    start: datetime,
    end: datetime,
    score: float,
    level: str,
    cited: list[tuple[str, str]] = (),
    **kw: Any,  # type: ignore[assignment]
) -> RiskAssessment:
    fields: dict[str, Any] = {
        "trend": "rising",
        "summary": f"Risk in {zone_id} is {level}.",
        "top_hazards": [{"category": "struck_by", "count": 2, "weight": 7.0}],
        "actions": ["Guard the conveyor", "Retrain staff on lock-out"],
        "model": "test-model",
        "prompt_version": "v1",
    }
    fields.update(kw)
    ra = RiskAssessment(
        zone_id=zone_id, period_start=start, period_end=end, level=level, score=score, **fields
    )
    ra.evidence = [RiskEvidence(kind=k, ref_id=r, cited=True) for k, r in cited]
    session.add(ra)
    return ra


def populate(session: Session, media_dir: Path, t0: datetime = T0) -> dict[str, Any]:
    """Three zones with alerts (snapshots), an incident, a sensor anomaly, an outage and assessments from ``t0`` on."""
    t1 = t0 + timedelta(days=7)
    for zid, name in (("press-shop", "Press shop"), ("warehouse", "Warehouse"), ("paint-line", "")):
        zone(session, zid, name)
    for cid in ("cam-1", "cam-2"):
        camera(session, cid)
    session.flush()
    for i in range(6):
        alert(
            session,
            f"a-press-{i}",
            "press-shop",
            "cam-1",
            t0 + timedelta(days=1, hours=2 + i),
            snapshot_path=snapshot(media_dir, f"snapshots/cam-1/a-press-{i}.jpg"),
            clip_path=None,
            review="dismissed" if i < 4 else "none",
        )
    alert(
        session,
        "a-wh-0",
        "warehouse",
        "cam-2",
        t0 + timedelta(days=2, hours=14),
        rule="person_down",
        severity="critical",
        snapshot_path=snapshot(media_dir, "snapshots/cam-2/a-wh-0.jpg", (40, 200, 40)),
    )
    inc = incident(
        session, "warehouse", t0 + timedelta(days=3), "[NAME] was struck by a falling pallet near rack 4."
    )
    sensor_series(session, "paint-line", "pump-1", "pressure", t0 + timedelta(days=1), 12)
    session.add(
        SensorAnomaly(
            id="an-1",
            zone_id="paint-line",
            asset="pump-1",
            started_at=t0 + timedelta(days=1, minutes=400),
            ended_at=t0 + timedelta(days=1, minutes=460),
            score=0.93,
            channels=["pressure"],
            category="pressure",
        )
    )
    session.add(
        CameraOutage(
            id="out-1",
            camera_id="cam-2",
            started_at=t0 + timedelta(days=4),
            ended_at=None,
            reason="stream timeout",
        )
    )
    session.flush()
    assessment(session, "press-shop", t0, t1, 41.0, "medium", [("alert", "a-press-5")])
    assessment(
        session, "warehouse", t0, t1, 78.5, "critical", [("incident", str(inc.id)), ("alert", "a-wh-0")]
    )
    assessment(session, "warehouse", t0 - timedelta(days=7), t0, 52.0, "high")
    assessment(session, "paint-line", t0, t1, 12.0, "low", [("anomaly", "an-1")], trend="stable", actions=[])
    session.flush()
    return {"incident_id": inc.id}


MANUAL_DOC = "machine-guarding.md"
MANUAL_HEADING = "4. Lock-out before clearing a jam"


def populate_when(session: Session, t0: datetime = T0) -> dict[str, Any]:
    """A zone whose incidents fall in the night shift, with a cited manual section, a gap and a hot press."""
    zone(session, "night-yard", "Night yard")
    session.add(
        ManualSection(
            id="sec-lockout",
            document=MANUAL_DOC,
            heading=MANUAL_HEADING,
            text="Isolate and lock out the press before reaching in.",
            position=4,
        )
    )
    session.flush()
    for d in range(7):  # one incident a night, 23:30 or 02:30
        incident(
            session,
            "night-yard",
            t0 + timedelta(days=d, hours=23 if d % 2 else 2, minutes=30),
            "Jam cleared by hand.",
        )
    incident(session, "night-yard", t0 + timedelta(days=2, hours=10), "Slip on oil.", hazard="slip_trip")
    for i in range(3):
        t = t0 + timedelta(days=1 + 2 * i, hours=4)
        session.add(
            SensorAnomaly(
                id=f"hot-{i}",
                zone_id="night-yard",
                asset="press-7",
                started_at=t,
                ended_at=t + timedelta(minutes=5),
                score=9.0,
                channels=["temp"],
                category="overheating",
            )
        )
    session.flush()
    ra = assessment(
        session,
        "night-yard",
        t0,
        t0 + timedelta(days=7),
        60.0,
        "high",
        actions=[
            f"Lock out before clearing jams [manual:{MANUAL_DOC}#{MANUAL_HEADING}]",
            "Add a night supervisor",
        ],
        context={
            "procedure_gaps": ["vehicle_collision", "struck_by"],
            "gap_nearest": {"struck_by": "working-at-height.md#Working at height: when it applies"},
            "manual_refs": [f"{MANUAL_DOC}#{MANUAL_HEADING}"],
            "narrative": {"made": 3, "verified": 2, "dropped": 1, "template": False, "checks": [], "error": None},
        },
        score_breakdown={"confidence": 0.75},
    )
    ra.evidence.append(RiskEvidence(kind="manual", ref_id="sec-lockout", cited=True))
    session.flush()
    return {"assessment_id": ra.id}
