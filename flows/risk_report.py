"""Prefect flow: scheduled per-zone risk report (thin wrapper over :mod:`floorwatch.llm.job`).

Tasks: the risk job (plan -> map: extract incidents -> reduce: assess zones, one model load) -> report files.
Retries are safe: extractions and assessments are upserted and LLM replies are cached. A typed
:class:`~floorwatch.schemas.llm.RiskReport` passes between the tasks.
Artifacts: a table and a markdown summary of the zones' levels, and a link to the HTML report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import Settings, load_settings
from floorwatch.schemas.llm import RiskReport


def _open(config_path: str | None) -> tuple[Settings, sessionmaker[Session]]:
    from floorwatch.app import open_database

    settings = load_settings(config_path)
    return settings, open_database(settings)


@task(retries=1, retry_delay_seconds=60, timeout_seconds=5 * 3600)
def risk_job(
    since: datetime | None, until: datetime | None, zones: list[str] | None, config_path: str | None, limit: int | None
) -> RiskReport:
    """The whole risk job (period, map, reduce) with one backend; naive ``since``/``until`` are site time."""
    from floorwatch.llm.job import run_risk_job

    settings, factory = _open(config_path)
    tz = ZoneInfo(settings.site.timezone)
    since = since.replace(tzinfo=tz) if since and since.tzinfo is None else since
    until = until.replace(tzinfo=tz) if until and until.tzinfo is None else until
    return run_risk_job(settings, factory, since=since, until=until, zones=zones, limit=limit)


@task(retries=2, retry_delay_seconds=10, timeout_seconds=600, cache_policy=NO_CACHE)  # files change: never reuse
def write_report(report: RiskReport, config_path: str | None) -> list[str]:
    """``report.json``, ``risk_report.full.json``, ``report.html`` and ``report.md`` under ``media.dir/reports/``."""
    from floorwatch.review.report_files import default_out_dir, write_report_files

    settings, factory = _open(config_path)
    return [str(f) for f in write_report_files(report, default_out_dir(settings), settings, factory)]


@flow(name="risk-report", log_prints=True)
def risk_report(
    since: datetime | None = None,
    until: datetime | None = None,
    zones: list[str] | None = None,
    config_path: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Per-zone risk assessment of a period (default: the whole span of the stored data)."""
    logger = get_run_logger()
    report = risk_job(since, until, zones, config_path, limit)
    files = write_report(report, config_path)
    result = {"report": report.public_json(), "files": files}
    rows = [
        {"zone": z.zone_id, "level": z.level, "score": z.score, "top hazards": ", ".join(h.category for h in z.top_hazards)}
        for z in report.zones
    ]
    create_table_artifact(key="risk-zones", table=rows, description="Risk level per zone")
    md = "| zone | level | score |\n|---|---|---|\n" + "\n".join(f"| {r['zone']} | {r['level']} | {r['score']} |" for r in rows)
    incidents = report.incidents
    failed = sum(1 for i in incidents if i.status == "failed")
    create_markdown_artifact(key="risk-summary", markdown=f"## Risk report\n\n{md}\n\n{len(incidents)} incidents, {failed} failed extractions.")
    html = next((f for f in files if f.endswith(".html")), None)
    if html:
        create_link_artifact(key="risk-report-html", link=f"file://{html}", link_text="HTML risk report")
    logger.info("risk report: %d zones, %d incidents (%d failed)", len(rows), len(incidents), failed)
    return result
