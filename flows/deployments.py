"""Print or apply Floorwatch's Prefect deployment plan (``floorwatch deploy``).

Applying is idempotent: the work pool, its queues and the global concurrency limits are created or
updated in place, and deployments are upserted by (flow, name) on the server, which replaces their
schedules, so re-applying never duplicates anything. A camera removed from the config keeps its
``monitor-<id>`` deployment until deleted (reported as ``stale`` by :func:`apply_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from floorwatch.flows.deploy_plan import (
    DEFAULT_DEPLOY_FILE,
    DeployFileError,
    DeploymentPlan,
    PlannedDeployment,
    ScheduleSpec,
    build_plan,
    load_deploy_file,
)

__all__ = [
    "DEFAULT_DEPLOY_FILE",
    "ApplyResult",
    "DeployFileError",
    "DeploymentPlan",
    "apply_plan",
    "build_plan",
    "format_plan",
    "load_deploy_file",
]


@dataclass
class ApplyResult:
    """What ``apply_plan`` did: ids per deployment full name, created vs. updated objects."""

    deployment_ids: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def _schedule_text(s: ScheduleSpec) -> str:
    what = f"cron {s.cron!r}" if s.cron else f"every {s.interval} s" if s.interval else f"rrule {s.rrule!r}"
    return f"{what} ({s.timezone or 'UTC'}){'' if s.active else ' [inactive]'}"


def format_plan(plan: DeploymentPlan) -> str:
    """Human-readable plan: pool, queues, concurrency limits, deployments with entrypoints and schedules."""
    p = plan.pool
    lines = [f"work pool {p.name} (type {p.type}, concurrency limit {p.concurrency_limit})"]
    lines += [
        f"  queue {q.name}: priority {q.priority}, concurrency limit {q.concurrency_limit}" for q in p.queues
    ]
    lines += [f"global concurrency limit {g.name}: {g.limit}" for g in plan.global_limits]
    lines.append(f"pull steps: {plan.pull_steps}")
    for d in plan.deployments:
        lines.append(f"deployment {d.full_name}")
        lines.append(f"  entrypoint {d.entrypoint}  queue {d.work_queue_name}  tags {d.tags}")
        lines.append(f"  parameters {d.parameters}")
        if d.concurrency_limit:
            lines.append(f"  deployment concurrency limit {d.concurrency_limit}")
        lines += [f"  schedule {_schedule_text(s)}" for s in d.schedules] or [
            "  schedule: none (run on demand)"
        ]
    return "\n".join(lines)


def _prefect_schedule(s: ScheduleSpec) -> Any:
    from datetime import timedelta

    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    if s.cron:
        sched: Any = CronSchedule(cron=s.cron, timezone=s.timezone)
    elif s.interval:
        sched = IntervalSchedule(interval=timedelta(seconds=s.interval), timezone=s.timezone)
    else:
        sched = RRuleSchedule(rrule=str(s.rrule), timezone=s.timezone)
    return DeploymentScheduleCreate(schedule=sched, active=s.active)


def _apply_pool(client: Any, plan: DeploymentPlan, result: ApplyResult) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    p = plan.pool
    try:
        existing = client.read_work_pool(p.name)
    except ObjectNotFound:
        template = ProcessWorker.get_default_base_job_template()
        client.create_work_pool(
            WorkPoolCreate(
                name=p.name, type=p.type, base_job_template=template, concurrency_limit=p.concurrency_limit
            )
        )
        result.created.append(f"work pool {p.name}")
    else:
        if existing.type != p.type:
            raise DeployFileError(
                p.name,
                [
                    f"work pool exists with type {existing.type!r}, expected {p.type!r}; "
                    "delete it or deploy with --pool OTHER"
                ],
            )
        client.update_work_pool(p.name, WorkPoolUpdate(concurrency_limit=p.concurrency_limit))
        result.updated.append(f"work pool {p.name}")
    for q in p.queues:
        try:
            wq = client.read_work_queue_by_name(q.name, work_pool_name=p.name)
        except ObjectNotFound:
            client.create_work_queue(
                name=q.name, work_pool_name=p.name, priority=q.priority, concurrency_limit=q.concurrency_limit
            )
            result.created.append(f"work queue {p.name}/{q.name}")
        else:
            client.update_work_queue(wq.id, priority=q.priority, concurrency_limit=q.concurrency_limit)
            result.updated.append(f"work queue {p.name}/{q.name}")


def _apply_deployment(client: Any, plan: DeploymentPlan, d: PlannedDeployment, result: ApplyResult) -> None:
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_deployment_by_name(d.full_name)
        existed = True
    except ObjectNotFound:
        existed = False
    flow_id = client.create_flow_from_name(d.flow_name)
    dep_id = client.create_deployment(  # the server upserts on (flow, name) and replaces schedules
        flow_id=flow_id,
        name=d.name,
        description=d.description,
        work_pool_name=plan.pool.name,
        work_queue_name=d.work_queue_name,
        entrypoint=d.entrypoint,
        parameters=d.parameters,
        parameter_openapi_schema=d.parameter_schema,
        enforce_parameter_schema=d.enforce_parameter_schema,
        tags=d.tags,
        schedules=[_prefect_schedule(s) for s in d.schedules],
        concurrency_limit=d.concurrency_limit,
        pull_steps=plan.pull_steps,
        job_variables=d.job_variables,
        paused=False,
    )
    result.deployment_ids[d.full_name] = str(dep_id)
    (result.updated if existed else result.created).append(f"deployment {d.full_name}")


def apply_plan(plan: DeploymentPlan) -> ApplyResult:
    """Create or update the pool, queues, global limits and deployments on the Prefect API in use.

    The API is the one Prefect's settings name (``PREFECT_API_URL``).

    Raises:
        DeployFileError: the pool exists with another type.
        prefect.exceptions.PrefectHTTPStatusError: the server refused an object (message included).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    result = ApplyResult()
    with get_client(sync_client=True) as client:
        _apply_pool(client, plan, result)
        for g in plan.global_limits:
            client.upsert_global_concurrency_limit_by_name(g.name, g.limit)
            result.updated.append(f"global concurrency limit {g.name} = {g.limit}")
        for d in plan.deployments:
            _apply_deployment(client, plan, d, result)
        in_pool = client.read_deployments(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[plan.pool.name]))
        )
        planned_ids = set(result.deployment_ids.values())
        result.stale = sorted(dep.name for dep in in_pool if str(dep.id) not in planned_ids)
    return result
