"""The rendered risk report from a database filled by small factories."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import CameraConfig, CameraZoneConfig, Settings, ZoneConfig
from floorwatch.config import RestrictedZoneIntrusionRule as Intrusion
from floorwatch.review.fatigue import suggest_threshold_changes
from floorwatch.review.report import render_report
from floorwatch.review.report_when import split_citations
from floorwatch.schemas.evidence import DismissalRate
from floorwatch.storage.db import session_scope
from tests.review_factories import MANUAL_DOC, MANUAL_HEADING, T0, T1, populate, populate_when

SETTINGS = Settings(
    zones=[
        ZoneConfig(id="press-shop", map_polygon=[(0, 0), (40, 0), (40, 30), (0, 30)]),
        ZoneConfig(id="warehouse", map_polygon=[(40, 0), (100, 0), (100, 30), (40, 30)]),
        ZoneConfig(id="paint-line"),
    ],
    cameras=[
        CameraConfig(
            id="cam-1",
            source="x.mp4",
            zones=[CameraZoneConfig(zone_id="press-shop", rules=[Intrusion(min_seconds=1.5)])],
        ),
        CameraConfig(id="cam-2", source="y.mp4", zones=[CameraZoneConfig(zone_id="warehouse")]),
    ],
)


@pytest.fixture
def rendered(migrated_db: sessionmaker[Session], tmp_path: Path):  # type: ignore[no-untyped-def]
    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        populate(s, media)
    with session_scope(migrated_db) as s:
        paths = render_report(s, T0, T1, media, media / "reports" / "week", settings=SETTINGS)
    return paths, media, migrated_db


def test_html_is_self_contained_with_cards_by_score(rendered) -> None:  # type: ignore[no-untyped-def]
    paths, _, _ = rendered
    html = paths.html.read_text()
    # Nothing is fetched from anywhere: no external URL, no linked stylesheet or script.
    assert not re.search(r"https?://", html)
    assert "<link" not in html and "<script" not in html
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', html))
    cards = re.findall(r'data-zone="([^"]+)" data-score="([^"]*)"', html)
    assert cards == [("warehouse", "78.5"), ("press-shop", "41.0"), ("paint-line", "12.0")]
    # Alert snapshots embedded; incident text is the redacted one.
    assert html.count('alt="snapshot of alert') >= 2
    assert "[NAME] was struck by a falling pallet" in html and "John Smith" not in html
    assert "Sensors of paint-line" in html or "Sensor channels of paint-line" in html
    # Without a dashboard URL, alert links point at the media files, relative to the report.
    assert 'href="../../snapshots/cam-2/a-wh-0.jpg"' in html
    # Fatigue: 4 of 6 press-shop intrusion alerts dismissed; the configured 1.5 s is the base.
    assert "raise min_seconds from 1.5 to 3" in html


def test_markdown_and_figures(rendered) -> None:  # type: ignore[no-untyped-def]
    paths, _, _ = rendered
    md = paths.markdown.read_text()
    assert md.index('## <a id="zone-warehouse"') < md.index('## <a id="zone-press-shop"')
    assert "CRITICAL 78/100 (rising)" in md
    names = sorted(p.name for p in paths.figures)
    assert names == [
        "heatmap.png",
        "risk_history.png",
        "sensors_paint-line.png",
        "shift_zone.png",
        "site_map.png",
    ]
    for p in paths.figures:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"figures/{p.name}" in md


def test_base_url_links_to_dashboard(rendered, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, media, sessions = rendered
    with session_scope(sessions) as s:
        paths = render_report(s, T0, T1, media, tmp_path / "out", base_url="http://dash:8080/")
    html = paths.html.read_text()
    assert 'href="http://dash:8080/alerts/a-wh-0"' in html
    assert re.search(r'href="http://dash:8080/zones/warehouse#incident-\d+"', html)
    assert not re.search(r'src="https?://', html)


def test_the_risk_history_needs_two_assessment_times() -> None:
    from floorwatch.review import plots

    t = datetime(2024, 3, 1, tzinfo=UTC)
    assert plots.risk_history({}) is None
    assert plots.risk_history({"a": [(t, 40.0)], "b": [(t, 70.0)], "c": []}) is None  # a first run: one instant
    png = plots.risk_history({"a": [(t, 40.0)], "b": [(t + timedelta(days=7), 70.0)]})
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_period_is_refused(rendered, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, media, sessions = rendered
    with session_scope(sessions) as s, pytest.raises(ValueError, match="after period_end"):
        render_report(s, T1, T0, media, tmp_path / "bad")
    assert not (tmp_path / "bad" / "report.html").exists()


def test_suggestions_only_for_noisy_rules() -> None:
    rates = [
        DismissalRate(zone_id="a", rule="missing_ppe", total=10, acknowledged=2, dismissed=8),
        DismissalRate(zone_id="b", rule="missing_ppe", total=10, acknowledged=5, dismissed=5),  # exactly half
        DismissalRate(zone_id="c", rule="crowding", total=4, acknowledged=0, dismissed=4),  # too few alerts
        DismissalRate(zone_id="d", rule="crowding", total=6, acknowledged=0, dismissed=6),
        DismissalRate(zone_id="e", rule="dwell", total=9, acknowledged=3, dismissed=6),
    ]
    out = {(s.zone_id, s.rule): s for s in suggest_threshold_changes(rates)}
    assert set(out) == {("a", "missing_ppe"), ("d", "crowding"), ("e", "dwell")}
    assert (
        out["a", "missing_ppe"].parameter,
        out["a", "missing_ppe"].current,
        out["a", "missing_ppe"].suggested,
    ) == (
        "min_seconds",
        2.0,
        4.0,
    )
    assert out["d", "crowding"].suggested == 6 and out["e", "dwell"].suggested == 90.0
    assert [s.zone_id for s in suggest_threshold_changes(rates)][0] == "d"  # noisiest first


@pytest.fixture
def rendered_when(migrated_db: sessionmaker[Session], tmp_path: Path):  # type: ignore[no-untyped-def]
    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        populate(s, media)
        populate_when(s)
    with session_scope(migrated_db) as s:
        paths = render_report(s, T0, T1, media, tmp_path / "out", settings=SETTINGS)
    return paths


def _card(html: str, zone_id: str) -> str:
    start = html.index(f'data-zone="{zone_id}"')
    return html[start : html.index("</section>", start)]


def test_when_block_states_the_night_shift_pattern(rendered_when) -> None:  # type: ignore[no-untyped-def]
    html = rendered_when.html.read_text()
    night = _card(html, "night-yard")
    m = re.search(
        r"Incidents cluster in the night shift: 7 of 8 \(88% of them in 33% of the time\), p = ([0-9.]+)",
        night,
    )
    assert m and float(m.group(1)) < 0.05
    assert 'alt="Alerts and incidents in night-yard by weekday and hour"' in night
    # The night row of the shift table is the over-represented one, with its Wilson interval.
    assert re.search(
        r'<tr class="over"><td>incidents</td><td>night</td><td>7</td><td>88% \(53&ndash;98%\)', night
    )
    # Press shop: 2 undismissed alerts only -> too few for a verdict; warehouse: one of each.
    assert "Alerts (2): too few to tell when they happen." in _card(html, "press-shop")
    assert "cluster" not in _card(html, "warehouse")
    md = rendered_when.markdown.read_text()
    assert "- Incidents cluster in the night shift: 7 of 8" in md
    assert "| incidents | **night** | 7 | 88% (53-98%) | 33% |" in md
    assert "![Alerts and incidents per zone and shift](figures/shift_zone.png)" in md


def test_procedures_block_lists_citations_gaps_and_machine_heat(rendered_when) -> None:  # type: ignore[no-untyped-def]
    night = _card(rendered_when.html.read_text(), "night-yard")
    assert (
        f'<li>Lock out before clearing jams<span class="cite">per <i>{MANUAL_DOC}</i> &rarr; {MANUAL_HEADING}</span></li>'
        in night
    )
    assert "[manual:" not in night  # the raw marker is replaced by the citation
    assert (
        "No procedure covers: <b>vehicle collision</b> &mdash; no manual section comes near it; a gap in the procedures is a finding."
        in night
    )
    # a gap whose nearest section reads as another hazard's names it, for the reader to check
    assert (
        "No procedure matched: <b>struck by</b> &mdash; the nearest section, <i>working-at-height.md</i> &rarr; Working at "
        "height: when it applies, reads as another hazard's; check whether it covers struck by" in night
    )
    assert "Machine heat: press-7 overheated 3 times" in night
    md = rendered_when.markdown.read_text()
    assert f"1. Lock out before clearing jams (per *{MANUAL_DOC}* > {MANUAL_HEADING})" in md
    assert "- No procedure covers: **vehicle collision** - no manual section comes near it; a gap in the procedures is a finding." in md
    assert "- No procedure matched: **struck by** - the nearest section, *working-at-height.md* > Working at height: when it applies," in md
    # The claims audit and the score's confidence are shown; a zone without them shows neither.
    assert "&#10003; Verified: 2 of 3 claims checked against the cited database facts, 1 dropped." in night
    assert "confidence 75%" in night and "confidence" not in _card(rendered_when.html.read_text(), "paint-line")
    assert "*Verified: 2 of 3 claims checked against the cited database facts, 1 dropped.*" in md
    # A zone without stored context shows no Procedures block.
    assert "Procedures" not in _card(rendered_when.html.read_text(), "paint-line")


def test_split_citations_resolves_known_sections_and_keeps_unknown_as_written() -> None:
    known = {"a.md#Intro": ("a.md", "Intro")}
    out = split_citations("Do X [manual:a.md#Intro] [manual:b.md#Step 2] [manual:a.md#Intro]", known)
    assert out.text == "Do X" and out.citations == [("a.md", "Intro"), ("b.md", "Step 2")]
    assert split_citations("Plain action", known).citations == []


def test_reports_no_zone_can_include_are_listed_not_lost(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    """A report without a date or a zone is in no zone's assessment; the report says so (the demo's steam burn)."""
    from floorwatch.schemas.tables import IncidentReport

    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        populate(s, media)
        for title, when, zone in (
            ("Steam burn in the boiler room", None, None),  # a .txt without front matter
            ("Cut on the dock", T0 + (T1 - T0) / 2, None),  # dated in the period, no zone
            ("Old slip, no zone", T0 - (T1 - T0), None),  # dated before the period: another report's business
        ):
            s.add(IncidentReport(source="notes.txt", source_id=title, content_hash="2" * 64, occurred_at=when,
                                 zone_id=zone, title=title, original_text=title, redacted_text=title))
    with session_scope(migrated_db) as s:
        paths = render_report(s, T0, T1, media, tmp_path / "out", settings=SETTINGS)
    md, html = paths.markdown.read_text(), paths.html.read_text()
    assert "**Reports in no zone's assessment** (2)" in md
    assert re.search(r"- incident \d+: Steam burn in the boiler room \(notes.txt\) - no date and zone", md)
    assert re.search(r"- incident \d+: Cut on the dock \(notes.txt\) - no zone", md)
    assert "Old slip" not in md
    assert "Reports in no zone's assessment (2)" in html and "Steam burn in the boiler room" in html


def test_untrusted_titles_cannot_open_a_link_or_html_in_the_markdown(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    from floorwatch.schemas.tables import IncidentReport

    media = tmp_path / "media"
    hostile = "Pipe | burst](https://evil.example/x) <script>alert(1)</script>"
    with session_scope(migrated_db) as s:
        populate(s, media)
        s.add(IncidentReport(source="notes[1].txt", source_id="h", content_hash="3" * 64, occurred_at=None, zone_id=None,
                             title=hostile, original_text=hostile, redacted_text=hostile))
    with session_scope(migrated_db) as s:
        md = render_report(s, T0, T1, media, tmp_path / "out", settings=SETTINGS).markdown.read_text()
    assert not re.search(r"(?<!\\)\]\(https://evil", md) and "<script>" not in md  # no unescaped "](" or tag
    assert r"Pipe \| burst\](https://evil.example/x) \<script\>alert(1)\</script\> (notes\[1\].txt)" in md


def test_a_jobs_report_shows_only_the_assessments_that_job_made(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    """Rendered for a job that assessed the warehouse only, the press shop's stored assessment (an earlier run)
    is not shown as this report's finding; without the job's facts (the dashboard's view) it is."""
    from floorwatch.schemas.evidence import ZoneFacts
    from floorwatch.storage.queries import zone_evidence

    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        populate(s, media)
    with session_scope(migrated_db) as s:
        facts = {"warehouse": ZoneFacts(zone_id="warehouse", evidence=zone_evidence(s, "warehouse", T0, T1))}
        job_md = render_report(s, T0, T1, media, tmp_path / "job", settings=SETTINGS, facts=facts).markdown.read_text()
        all_md = render_report(s, T0, T1, media, tmp_path / "all", settings=SETTINGS).markdown.read_text()
    assert re.search(r"^## .*Press shop - NOT ASSESSED$", job_md, re.M) and "Risk in press-shop is medium." not in job_md
    assert re.search(r"^## .*Warehouse - CRITICAL 78/100", job_md, re.M)
    assert re.search(r"^## .*Press shop - MEDIUM 41/100", all_md, re.M) and "Risk in press-shop is medium." in all_md


@pytest.mark.parametrize(
    "narrative, has_evidence, note",
    [
        ({"made": 3, "verified": 2, "dropped": 1, "template": False}, True,
         "Verified: 2 of 3 claims checked against the cited database facts, 1 dropped."),
        ({"made": 2, "verified": 0, "dropped": 2, "template": True}, True,
         "Summary rendered from the zone's fact sheet: no model claim passed the fact check (2 dropped)."),
        ({"made": 0, "verified": 0, "dropped": 0, "template": True, "error": "after one repair retry: invalid JSON"}, True,
         "Summary rendered from the zone's fact sheet: the model's answer could not be read (after one repair retry: invalid JSON)."),
        ({"made": 0, "verified": 0, "dropped": 0, "template": True}, False,
         "Summary rendered from the zone's fact sheet: the zone has no evidence in this period, so the model was not asked."),
        ({"made": 0, "verified": 0, "dropped": 0, "template": True}, True,
         "Summary rendered from the zone's fact sheet: the model made no claim."),
        (None, True, ""),
    ],
)
def test_the_summary_says_where_it_came_from(narrative: dict | None, has_evidence: bool, note: str) -> None:
    from floorwatch.review.report_data import narrative_note

    assert narrative_note(narrative, has_evidence) == note


def test_the_card_names_fatal_incidents_and_reports_to_check_by_hand(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    from floorwatch.schemas.llm import ScoreBreakdown
    from floorwatch.schemas.tables import IncidentExtraction
    from tests.review_factories import assessment

    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        inc_id = populate(s, media)["incident_id"]
        s.add(IncidentExtraction(incident_id=inc_id, prompt_version="v", model="m", input_hash="0" * 64, status="ok",
                                 severity=5, raw={"prompt_markup": True}))
        assessment(s, "warehouse", T0, T1, 70.0, "critical", score_breakdown=ScoreBreakdown(deaths=[inc_id]), model="m2")
    with session_scope(migrated_db) as s:
        paths = render_report(s, T0, T1, media, tmp_path / "out", settings=SETTINGS)
    md, html = paths.markdown.read_text(), paths.html.read_text()
    assert f"**Fatal:** incident {inc_id} of this period states a death: the level is critical whatever the score." in md
    assert f"**Check by hand:** incident {inc_id} holds prompt markup or words addressed to the model" in md
    assert md.count("**Fatal:**") == 1 and md.count("**Check by hand:**") == 1  # the warehouse card only
    assert f"Fatal: incident {inc_id} of this period states a death" in html and "Check by hand: incident" in html


def test_every_time_in_the_report_is_site_time(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from floorwatch.config import SiteConfig

    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        populate(s, media)
    sao_paulo = SETTINGS.model_copy(update={"site": SiteConfig(timezone="America/Sao_Paulo")})
    with session_scope(migrated_db) as s:
        md = render_report(s, T0, T1, media, tmp_path / "out", settings=sao_paulo).markdown.read_text()
    local = (T0 + timedelta(days=3)).astimezone(ZoneInfo("America/Sao_Paulo"))  # the factory's incident time
    assert "all times are site time (America/Sao_Paulo)" in md
    assert f"incident {local:%Y-%m-%d %H:%M}:" in md and f"incident {T0 + timedelta(days=3):%Y-%m-%d %H:%M}:" not in md
    # an anomaly's end, like its start (a trial: "anomaly 20:16 ... until 03:59 UTC" on one line)
    until = (T0 + timedelta(days=1, minutes=460)).astimezone(ZoneInfo("America/Sao_Paulo"))
    assert f"until {until:%Y-%m-%d %H:%M}, score" in md and " UTC, score" not in md


def test_a_zone_missing_from_the_configuration_is_marked(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    from datetime import timedelta

    from tests.review_factories import incident, zone

    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        populate(s, media)
        zone(s, "warehuose")
        s.flush()
        incident(s, "warehuose", T0 + timedelta(days=2), "Racking beam connector gave way.")
    with session_scope(migrated_db) as s:
        md = render_report(s, T0, T1, media, tmp_path / "out", settings=SETTINGS).markdown.read_text()
    assert md.count("is not in the site configuration") == 1 and "Zone `warehuose` is not in the site configuration" in md


def test_a_zone_made_critical_by_a_death_is_listed_first_whatever_its_score() -> None:
    from floorwatch.review.report_data import ZoneCard

    cards = [ZoneCard(zone_id="dock", level="high", score=70.0), ZoneCard(zone_id="pour", level="critical", score=31.0),
             ZoneCard(zone_id="mill", level="medium", score=50.0), ZoneCard(zone_id="quiet", status="no evidence")]
    assert [c.zone_id for c in sorted(cards, key=lambda c: c.sort_key)] == ["pour", "dock", "mill", "quiet"]


def test_a_report_known_by_its_date_alone_shows_no_clock_time(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    """An export without times of day stores 00:00; the evidence line must not present it as the event's time."""
    from zoneinfo import ZoneInfo

    from floorwatch.config import SiteConfig
    from floorwatch.schemas.tables import IncidentReport

    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        inc_id = populate(s, media)["incident_id"]
        rep = s.get(IncidentReport, inc_id)
        assert rep is not None and rep.occurred_at is not None
        rep.time_of_day_known = False
        when = rep.occurred_at
    lima = SETTINGS.model_copy(update={"site": SiteConfig(timezone="America/Lima")})
    with session_scope(migrated_db) as s:
        paths = render_report(s, T0, T1, media, tmp_path / "out", settings=lima)
    md, html = paths.markdown.read_text(), paths.html.read_text()
    local = when.astimezone(ZoneInfo("America/Lima"))
    assert f"incident {local:%Y-%m-%d}:" in md and f"incident {local:%Y-%m-%d %H:%M}:" not in md
    assert f'<span class="muted">{local:%Y-%m-%d}</span>' in html
