"""Incident reports whose every extraction failed are listed as unread (``storage.queries.unread_reports``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from floorwatch.schemas.tables import IncidentExtraction, IncidentReport
from floorwatch.storage.db import session_scope
from floorwatch.storage.queries import unread_reports
from tests.llm_factories import add_incidents, sqlite_db

START, END = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 31, tzinfo=UTC)


def _row(iid: int, status: str, version: str, error: str | None = None) -> IncidentExtraction:
    return IncidentExtraction(
        incident_id=iid, prompt_version=version, model="m", input_hash="h", status=status, error=error,
        hazard_category="other" if status == "ok" else None, severity=1 if status == "ok" else None,
        potential_severity=2 if status == "ok" else None, injury=False if status == "ok" else None, raw={},
    )


def test_only_reports_with_no_ok_extraction_are_unread(tmp_path: Path) -> None:
    factory = sqlite_db(tmp_path)
    failed, recovered, never, late = add_incidents(
        factory, [("a", "press", "Hand caught."), ("b", "press", "Oil slip."), ("c", "press", "Not run yet."), ("d", "press", "Later.")]
    )
    with session_scope(factory) as s:
        s.get(IncidentReport, late).occurred_at = datetime(2024, 5, 1, tzinfo=UTC)  # outside the window
        s.add_all([
            _row(failed, "failed", "v1", "server unreachable"), _row(failed, "failed", "v2", "invalid JSON"),
            _row(recovered, "failed", "v1", "timeout"), _row(recovered, "ok", "v2"),
            _row(late, "failed", "v1", "timeout"),
        ])
    with session_scope(factory) as s:
        got = unread_reports(s, START, END)
    assert [(r.id, r.zone_id) for r in got] == [(failed, "press")]
    assert got[0].error == "invalid JSON"  # the newest failure's reason
