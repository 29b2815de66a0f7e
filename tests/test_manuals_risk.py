"""Manuals, gaps and time patterns in the reduce step, over the real test LLM HTTP server process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from floorwatch.config import LLMConfig, SiteConfig
from floorwatch.llm.backends import OpenAIBackend
from floorwatch.llm.risk import assess_zones
from floorwatch.llm.risk_context import zone_context
from floorwatch.manuals.retrieval import ManualIndex
from floorwatch.manuals.sections import ingest_manual
from floorwatch.schemas.tables import Alert, ManualSection, RiskAssessment, SensorAnomaly
from floorwatch.storage.db import session_scope
from floorwatch.storage.queries import zone_evidence
from floorwatch.storage.registry import ensure_cameras, ensure_zones
from tests.conftest import REPO_ROOT
from tests.llm_factories import sqlite_db

START = datetime(2024, 3, 4, tzinfo=UTC)
END = START + timedelta(days=14)


def _seed(factory, tmp_path: Path) -> None:  # noqa: ANN001
    with session_scope(factory) as s:
        for p in sorted((REPO_ROOT / "sample_media" / "manuals").glob("*.md")):
            ingest_manual(s, p)  # keyword-only index: keeps the test fast (no MiniLM load)
        ensure_zones(s, {"press"})
        ensure_cameras(s, {"cam1"})
        for d in range(12):  # missing-PPE alerts, all in the night shift
            t = START + timedelta(days=d, hours=23, minutes=5)
            s.add(
                Alert(
                    id=f"a{d}",
                    rule="missing_ppe",
                    severity="medium",
                    zone_id="press",
                    camera_id="cam1",
                    started_at=t,
                    last_seen_at=t,
                )
            )
        for d in (2, 5, 9):
            t = START + timedelta(days=d, hours=3)
            s.add(
                SensorAnomaly(
                    id=f"hot{d}",
                    zone_id="press",
                    asset="press-2",
                    started_at=t,
                    ended_at=t + timedelta(minutes=4),
                    score=12.0,
                    category="overheating",
                )
            )


def test_reduce_step_gets_manuals_gaps_patterns_and_validates_citations(
    tmp_path: Path, server_port: int
) -> None:
    factory = sqlite_db(tmp_path)
    _seed(factory, tmp_path)
    backend = OpenAIBackend(
        LLMConfig(backend="openai", base_url=f"http://127.0.0.1:{server_port}/v1", timeout_seconds=10)
    )
    with session_scope(factory) as s:
        index = ManualIndex.load(s, None)
        ev = zone_evidence(s, "press", START, END)
        ctx = zone_context(s, index, ev, ["quarterly payroll spreadsheet"], SiteConfig().shifts, "UTC")
        assert ctx.gaps == ["quarterly payroll spreadsheet"]
        assert list(ctx.hits_by_hazard) == ["quarterly payroll spreadsheet", "missing_ppe", "machine"]
        first = ctx.hits_by_hazard["missing_ppe"][0].citation
        assert first == "working-at-height-and-ppe.md#Required PPE by area"
        assert any(line.startswith("alerts cluster by shift: night has 12 of 12") for line in ctx.time_lines)
        assert ctx.signals and ctx.signals[0].startswith("press-2 overheated 3 times")
        (risk,) = assess_zones(s, backend, [(ev, None, "Press line")], contexts=[ctx])
    assert risk.status == "ok"
    # Actions come from the controls library (the unknown pick is ignored), citing the manual section;
    # the hazard the model picked nothing for (machine) gets its first control after the model's pick.
    action, machine_action = risk.actions
    assert action.startswith("Keep the required PPE available") and "(control missing_ppe.supply, administrative;" in action
    assert action.endswith(f"[manual:{first}]")
    assert "(control machine." in machine_action
    machine_refs = [h.citation for h in ctx.hits_by_hazard["machine"][:1]]
    assert risk.manual_refs == [first, *machine_refs] and risk.dropped_manual_refs == 0
    # The invented claim failed, went back once, was not repeated: dropped with its reason.
    audit = risk.narrative
    assert audit is not None and (audit.made, audit.verified, audit.dropped, audit.template) == (2, 1, 1, False)
    bad = next(c for c in audit.checks if not c.verified)
    assert bad.reason == "cites 'incident:999999', which is not a fact of zone press" and bad.attempt == 1
    assert risk.summary.startswith("alert a0: missing ppe, medium, camera cam1") and "lying" not in risk.summary
    assert [r.key for r in risk.cited] == ["alert:a0"] and risk.dropped_evidence == 1
    assert risk.procedure_gaps == ["quarterly payroll spreadsheet"]
    assert any("press-2 overheated" in n for n in risk.context_notes)
    # Stored: the cited manual section as evidence, gaps / patterns / machine signals in the context column.
    with session_scope(factory) as s:
        row = s.scalars(select(RiskAssessment)).one()
        manual = [(e.ref_id, e.cited) for e in row.evidence if e.kind == "manual"]
        section = s.get(ManualSection, manual[0][0])
        assert f"{section.document}#{section.heading}" == first and all(c for _, c in manual)
        ctx = row.context
        assert ctx is not None and ctx.procedure_gaps == ["quarterly payroll spreadsheet"]
        assert "quarterly payroll spreadsheet" not in ctx.gap_nearest  # no section comes near it
        assert ctx.manual_refs == [first, *machine_refs] and ctx.dropped_manual_refs == 0
        assert ctx.narrative is not None and ctx.narrative.verified == 1 and ctx.narrative.dropped == 1
        assert ctx.machine_signals[0].startswith("press-2 overheated 3 times")
        night = [p for p in ctx.time_patterns if p.kind == "alert" and p.dimension == "shift"]
        assert night and night[0].p_value is not None and night[0].p_value < 0.05
        assert night[0].peak is not None and night[0].peak.label == "night"
        assert any(n.startswith("alerts cluster by shift: night") for n in ctx.time_notes)


def test_fewer_events_than_the_reports_minimum_give_the_model_no_time_pattern(tmp_path: Path) -> None:
    # A trial: "incidents cluster by hour: 13 has 2 of 2 (p=0.045)" went to the model while the report's card
    # said "Incidents (2): too few to tell when they happen".
    from floorwatch.signals.time_patterns import MIN_EVENTS

    factory = sqlite_db(tmp_path)
    with session_scope(factory) as s:
        ensure_zones(s, {"yard"})
        ensure_cameras(s, {"cam1"})
        for d in range(MIN_EVENTS - 1):  # all in the night shift, but one short of the minimum
            t = START + timedelta(days=d, hours=23, minutes=5)
            s.add(Alert(id=f"y{d}", rule="dwell", severity="medium", zone_id="yard", camera_id="cam1", started_at=t, last_seen_at=t))
    with session_scope(factory) as s:
        ctx = zone_context(s, None, zone_evidence(s, "yard", START, END), [], SiteConfig().shifts, "UTC")
    assert ctx.time_lines == [] and ctx.patterns == []
