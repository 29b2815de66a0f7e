"""Read ``deploy/prefect.yaml`` and the Floorwatch config into a deployment plan (no server needed).

The plan names the work pool (process type) with its queues and concurrency, the global concurrency
limits and every deployment: the file's deployments plus ONE ``monitor-<camera>`` deployment per
configured camera (expanded from the ``floorwatch.camera_template`` deployment). Parameters are
checked against the flow signatures (read from source, without importing the flow) so a typo
fails here, not in a worker at 3 a.m. :mod:`floorwatch.flows.deployments` applies the plan.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from floorwatch.config import Settings

REPO_DIR = Path(__file__).resolve().parents[1]
DEFAULT_DEPLOY_FILE = REPO_DIR / "deploy" / "prefect.yaml"
_ENV_PLACEHOLDER = re.compile(r"\{\{\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class DeployFileError(ValueError):
    """The deployment file (or its combination with the config) is unusable; ``problems`` says why."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleSpec(_Strict):
    cron: str | None = None
    interval: float | None = Field(None, gt=0, description="Seconds between runs")
    rrule: str | None = None
    timezone: str | None = None
    active: bool = True

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleSpec:
        given = [k for k in ("cron", "interval", "rrule") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a schedule needs exactly one of cron, interval, rrule (got {given or 'none'})")
        return self


class WorkPoolRef(_Strict):
    name: str = Field(min_length=1)
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)


class DeploymentSpec(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    entrypoint: str = Field(pattern=r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$")
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    work_pool: WorkPoolRef
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    concurrency_limit: int | None = Field(None, ge=1)
    enforce_parameter_schema: bool = True


class PoolSpec(_Strict):
    name: str = Field(min_length=1)
    type: Literal["process"] = "process"
    live_queue: str = Field("live", min_length=1)
    batch_queue: str = Field("batch", min_length=1)
    batch_slots: int = Field(1, ge=1, le=64)


class GlobalLimitSpec(_Strict):
    name: str = Field(min_length=1)
    limit: int = Field(ge=1)


class FloorwatchSection(_Strict):
    work_pool: PoolSpec
    global_concurrency_limits: list[GlobalLimitSpec] = Field(default_factory=list)
    camera_template: str | None = None


class DeployFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = "floorwatch"
    prefect_version: str | None = Field(None, alias="prefect-version")
    pull: list[dict[str, Any]] = Field(default_factory=list)
    floorwatch: FloorwatchSection
    definitions: dict[str, Any] = Field(default_factory=dict, description="YAML anchors only")
    deployments: list[DeploymentSpec] = Field(min_length=1)


@dataclass(frozen=True)
class QueuePlan:
    name: str
    priority: int
    concurrency_limit: int


@dataclass(frozen=True)
class PoolPlan:
    name: str
    type: str
    concurrency_limit: int
    queues: list[QueuePlan]


@dataclass(frozen=True)
class PlannedDeployment:
    name: str
    flow_name: str
    entrypoint: str
    work_queue_name: str
    parameters: dict[str, Any]
    schedules: list[ScheduleSpec]
    tags: list[str]
    description: str | None
    concurrency_limit: int | None
    enforce_parameter_schema: bool
    parameter_schema: dict[str, Any]
    job_variables: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


@dataclass(frozen=True)
class DeploymentPlan:
    pool: PoolPlan
    global_limits: list[GlobalLimitSpec]
    pull_steps: list[dict[str, Any]]
    deployments: list[PlannedDeployment]


def load_deploy_file(path: str | Path = DEFAULT_DEPLOY_FILE) -> DeployFile:
    """Parse and validate the deployment file; errors name the file, the key path and the reason."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeployFileError(str(p), [f"cannot read: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise DeployFileError(str(p), [f"invalid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise DeployFileError(str(p), ["top level must be a mapping"])
    try:
        return DeployFile.model_validate(data)
    except ValidationError as err:
        problems = [f"{'.'.join(str(x) for x in e['loc']) or '(root)'}: {e['msg']}" for e in err.errors()]
        raise DeployFileError(str(p), problems) from err


def resolve_env_placeholders(value: Any, env: dict[str, str]) -> Any:
    """Replace ``{{ $VAR }}`` in every string of ``value`` (Prefect's syntax); unknown names are errors."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise DeployFileError("pull steps", [f"environment variable {m.group(1)} is not set"])
            return env[m.group(1)]

        return _ENV_PLACEHOLDER.sub(sub, value)
    if isinstance(value, list):
        return [resolve_env_placeholders(v, env) for v in value]
    if isinstance(value, dict):
        return {k: resolve_env_placeholders(v, env) for k, v in value.items()}
    return value


def build_plan(
    deploy_file: DeployFile,
    settings: Settings,
    *,
    config_path: Path | None = None,
    pool_name: str | None = None,
    repo_dir: Path = REPO_DIR,
    env: dict[str, str] | None = None,
) -> DeploymentPlan:
    """Expand the file + config into the deployments to apply.

    Args:
        deploy_file: the parsed ``deploy/prefect.yaml``.
        settings: validated Floorwatch settings (cameras, site timezone).
        config_path: the config file; passed to every flow that takes ``config_path`` (it must exist
            at the same path on the worker). ``None``: the worker's ``$FLOORWATCH_CONFIG``/env decide.
        pool_name: overrides the work pool name of the file (``--pool``).
        repo_dir: the checkout the entrypoints are relative to (default: this repository).
        env: environment for ``{{ $VAR }}`` placeholders (default ``os.environ``).

    Raises:
        DeployFileError: unknown template, entrypoint file or flow missing, parameter not in the flow.
    """
    fw = deploy_file.floorwatch
    pool = pool_name or fw.work_pool.name
    env = {"FLOORWATCH_REPO_DIR": str(repo_dir), **(os.environ if env is None else env)}
    pull_steps = resolve_env_placeholders(deploy_file.pull, env)
    names = [d.name for d in deploy_file.deployments]
    if fw.camera_template is not None and fw.camera_template not in names:
        raise DeployFileError(
            "floorwatch.camera_template", [f"no deployment named {fw.camera_template!r} ({names})"]
        )
    planned: list[PlannedDeployment] = []
    problems: list[str] = []
    for spec in deploy_file.deployments:
        if spec.work_pool.name != fw.work_pool.name:
            problems.append(
                f"deployment {spec.name}: work pool {spec.work_pool.name!r} is not {fw.work_pool.name!r}"
            )
            continue
        try:
            flow_name, schema = _read_flow(repo_dir, spec.entrypoint)
        except DeployFileError as exc:
            problems += [f"deployment {spec.name}: {p}" for p in exc.problems]
            continue
        if spec.name == fw.camera_template:
            variants = [(f"monitor-{cam.id}", {"camera_id": cam.id}) for cam in settings.cameras]
        else:
            variants = [(spec.name, {})]
        for name, extra in variants:
            params = {**spec.parameters, **extra}
            if config_path is not None and "config_path" in schema.get("properties", {}):
                params.setdefault("config_path", str(Path(config_path).resolve()))
            problems += _check_parameters(name, params, schema)
            planned.append(_planned(spec, name, flow_name, params, schema, settings, fw.work_pool))
    if problems:
        raise DeployFileError("deployments", problems)
    return DeploymentPlan(
        pool=_pool_plan(pool, fw.work_pool, n_cameras=len(settings.cameras)),
        global_limits=list(fw.global_concurrency_limits),
        pull_steps=pull_steps,
        deployments=planned,
    )


def _planned(
    spec: DeploymentSpec,
    name: str,
    flow_name: str,
    params: dict[str, Any],
    schema: dict[str, Any],
    settings: Settings,
    pool: PoolSpec,
) -> PlannedDeployment:
    schedules = [
        s if s.timezone else s.model_copy(update={"timezone": settings.site.timezone}) for s in spec.schedules
    ]
    return PlannedDeployment(
        name=name,
        flow_name=flow_name,
        entrypoint=spec.entrypoint,
        work_queue_name=spec.work_pool.work_queue_name or pool.batch_queue,
        parameters=params,
        schedules=schedules,
        tags=list(spec.tags),
        description=spec.description,
        concurrency_limit=spec.concurrency_limit,
        enforce_parameter_schema=spec.enforce_parameter_schema,
        parameter_schema=schema,
        job_variables=dict(spec.work_pool.job_variables),
    )


def _pool_plan(name: str, spec: PoolSpec, n_cameras: int) -> PoolPlan:
    # One live slot per camera (at least one, so a camera added later can start after a re-apply),
    # and batch_slots for replays and the risk report: neither side can take the other's slots.
    live = max(1, n_cameras)
    return PoolPlan(
        name=name,
        type=spec.type,
        concurrency_limit=live + spec.batch_slots,
        queues=[
            QueuePlan(spec.live_queue, priority=1, concurrency_limit=live),
            QueuePlan(spec.batch_queue, priority=2, concurrency_limit=spec.batch_slots),
        ],
    )


def _read_flow(repo_dir: Path, entrypoint: str) -> tuple[str, dict[str, Any]]:
    """(flow name, parameter JSON schema) of ``file.py:function`` under ``repo_dir``, read from source."""
    from prefect.flows import load_flow_arguments_from_entrypoint
    from prefect.utilities.callables import parameter_schema_from_entrypoint

    rel, func = entrypoint.rsplit(":", 1)
    path = repo_dir / rel
    if not path.is_file():
        raise DeployFileError(entrypoint, [f"entrypoint file {path} does not exist"])
    full = f"{path}:{func}"
    try:
        name = load_flow_arguments_from_entrypoint(full, {"name"})["name"]
        schema = parameter_schema_from_entrypoint(full).model_dump_for_openapi()
    except (ValueError, SyntaxError, OSError) as exc:
        raise DeployFileError(entrypoint, [f"cannot read flow {func!r} in {path}: {exc}"]) from exc
    return str(name), schema


def _check_parameters(deployment: str, params: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    return [
        f"deployment {deployment}: parameter {key!r} is not a parameter of the flow (known: {sorted(known)})"
        for key in params
        if key not in known
    ]
