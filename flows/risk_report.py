"""Prefect flow: scheduled per-zone risk report (thin wrapper over :mod:`floorwatch.llm.job`).

Tasks: plan (period, zones, incidents) -> map (extract incidents) -> reduce (assess zones) -> files.
Retries are safe: extractions and assessments are upserted and LLM replies are cached.
Artifacts: a table and a markdown summary of the zones' levels, and a link to the HTML report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from floorwatch.config import Settings, load_settings


def _open(config_path: str | None) -> tuple[Settings, Any]:
    from floorwatch.app import open_database

    settings = load_settings(config_path)
    return settings, open_database(settings)


@task(retries=2, retry_delay_seconds=10, timeout_seconds=120)
def plan(
    since: datetime | None, until: datetime | None, zones: list[str] | None, config_path: str | None, limit: int | None
) -> dict[str, Any]:
    """Resolve the period (default: whole data span), the zones and the incidents to extract."""
    from floorwatch.llm.job import plan_job

    settings, factory = _open(config_path)
    tz = ZoneInfo(settings.site.timezone)
    since = since.replace(tzinfo=tz) if since and since.tzinfo is None else since
    until = until.replace(tzinfo=tz) if until and until.tzinfo is None else until
    return plan_job(settings, factory, since=since, until=until, zones=zones, limit=limit).model_dump(mode="json")


@task(retries=1, retry_delay_seconds=60, timeout_seconds=4 * 3600)
def map_incidents(incident_ids: list[int], config_path: str | None) -> list[dict[str, Any]]:
    """Map step: structured extraction of each incident (failed rows are recorded, not raised)."""
    from floorwatch.llm.backends import make_backend
    from floorwatch.llm.extract import extract_reports

    settings, factory = _open(config_path)
    backend = make_backend(settings.llm)
    from floorwatch.llm.judge import scorer_for

    judge = scorer_for(backend) if settings.llm.judge else None
    outcomes = extract_reports(factory, backend, incident_ids, max_chars=min(settings.llm.max_report_chars, 8000), judge=judge)
    return [o.model_dump(mode="json") for o in outcomes]


@task(retries=1, retry_delay_seconds=60, timeout_seconds=3600)
def reduce_zones(job_plan: dict[str, Any], incidents: list[dict[str, Any]], config_path: str | None) -> dict[str, Any]:
    """Reduce step: score every zone, write narratives, store assessments and the report files."""
    from floorwatch.cli.report_cmd import default_out_dir
    from floorwatch.llm.backends import make_backend
    from floorwatch.llm.job import JobPlan, assess_period, write_report_files
    from floorwatch.schemas.llm import ExtractionOutcome, RiskReport

    settings, factory = _open(config_path)
    p = JobPlan.model_validate(job_plan)
    backend = make_backend(settings.llm)
    risks = assess_period(factory, settings, backend, p.period, p.zone_ids)
    report = RiskReport(
        period=p.period, backend=backend.name, model=backend.model_name, generated_at=datetime.now(ZoneInfo("UTC")),
        zones=risks, incidents=[ExtractionOutcome.model_validate(i) for i in incidents],
    )
    files = write_report_files(report, default_out_dir(settings), settings, factory)
    return {"report": report.public_json(), "files": [str(f) for f in files]}


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
    job_plan = plan(since, until, zones, config_path, limit)
    incidents = map_incidents(job_plan["incident_ids"], config_path)
    result = reduce_zones(job_plan, incidents, config_path)
    zones_out = result["report"]["zones"]
    rows = [{"zone": z["zone_id"], "level": z["risk_level"], "score": z["score"], "top hazards": ", ".join(z["top_hazards"])} for z in zones_out]
    create_table_artifact(key="risk-zones", table=rows, description="Risk level per zone")
    md = "| zone | level | score |\n|---|---|---|\n" + "\n".join(f"| {r['zone']} | {r['level']} | {r['score']} |" for r in rows)
    failed = sum(1 for i in incidents if i["status"] == "failed")
    create_markdown_artifact(key="risk-summary", markdown=f"## Risk report\n\n{md}\n\n{len(incidents)} incidents, {failed} failed extractions.")
    html = next((f for f in result["files"] if f.endswith(".html")), None)
    if html:
        create_link_artifact(key="risk-report-html", link=f"file://{html}", link_text="HTML risk report")
    logger.info("risk report: %d zones, %d incidents (%d failed)", len(rows), len(incidents), failed)
    return result
