"""Deployment planning: deploy file + config -> pool, queues, limits and deployments (no server)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from floorwatch.config import Settings
from floorwatch.flows.deploy_plan import (
    DEFAULT_DEPLOY_FILE,
    DeployFileError,
    build_plan,
    load_deploy_file,
    resolve_env_placeholders,
)
from floorwatch.flows.deployments import format_plan

FLOW_SOURCE = '''
from prefect import flow


@flow(name="watch-it")
def watch(camera_id: str, config_path: str | None = None, max_frames: int | None = None) -> None:
    """Watch."""


@flow
def batch_job(path: str, config_path: str | None = None) -> None:
    """Batch."""
'''


def deploy_yaml(template: str | None = "watch", extra_params: str = "{}", cron: str = '"0 6 * * *"') -> str:
    return textwrap.dedent(f"""\
        name: t
        pull:
          - prefect.deployments.steps.set_working_directory:
              directory: "{{{{ $FLOORWATCH_REPO_DIR }}}}"
        floorwatch:
          work_pool: {{name: pool-x, type: process, batch_slots: 2}}
          global_concurrency_limits: [{{name: llm, limit: 1}}]
          camera_template: {template if template else "null"}
        definitions:
          pools:
            live: &live {{name: pool-x, work_queue_name: live}}
            batch: &batch {{name: pool-x, work_queue_name: batch}}
        deployments:
          - name: batch
            entrypoint: flows/jobs.py:batch_job
            work_pool: *batch
            parameters: {extra_params}
            schedules: [{{cron: {cron}}}]
          - name: watch
            entrypoint: flows/jobs.py:watch
            work_pool: *live
        """)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "jobs.py").write_text(FLOW_SOURCE)
    return tmp_path


def settings(n_cameras: int, timezone: str = "Europe/Berlin") -> Settings:
    cams = [{"id": f"cam-{i}", "source": f"rtsp://u:p@10.0.0.{i}/s"} for i in range(n_cameras)]
    return Settings(site={"timezone": timezone}, cameras=cams)


def plan_for(repo: Path, text: str, n_cameras: int = 2, **kw):
    path = repo / "prefect.yaml"
    path.write_text(text)
    return build_plan(load_deploy_file(path), settings(n_cameras), repo_dir=repo, env={}, **kw)


def test_one_monitor_deployment_per_camera_with_its_camera_id(repo: Path) -> None:
    plan = plan_for(repo, deploy_yaml(), n_cameras=3, config_path=repo / "site.yaml")
    monitors = [d for d in plan.deployments if d.flow_name == "watch-it"]
    assert [d.name for d in monitors] == ["monitor-cam-0", "monitor-cam-1", "monitor-cam-2"]
    assert [d.parameters["camera_id"] for d in monitors] == ["cam-0", "cam-1", "cam-2"]
    assert all(d.parameters["config_path"] == str((repo / "site.yaml").resolve()) for d in plan.deployments)
    assert {d.work_queue_name for d in monitors} == {"live"}
    batch = next(d for d in plan.deployments if d.name == "batch")
    assert batch.flow_name == "batch-job" and batch.work_queue_name == "batch"
    assert "path" in batch.parameter_schema["required"]


def test_pool_gives_each_camera_a_live_slot_and_keeps_batch_slots_apart(repo: Path) -> None:
    plan = plan_for(repo, deploy_yaml(), n_cameras=3)
    assert plan.pool.name == "pool-x" and plan.pool.type == "process"
    assert plan.pool.concurrency_limit == 3 + 2
    assert [(q.name, q.priority, q.concurrency_limit) for q in plan.pool.queues] == [
        ("live", 1, 3),
        ("batch", 2, 2),
    ]
    assert [(g.name, g.limit) for g in plan.global_limits] == [("llm", 1)]


def test_no_cameras_means_no_monitors_but_one_live_slot_stays(repo: Path) -> None:
    plan = plan_for(repo, deploy_yaml(), n_cameras=0)
    assert [d.name for d in plan.deployments] == ["batch"]
    assert plan.pool.queues[0].concurrency_limit == 1


def test_schedule_takes_site_timezone_when_file_names_none(repo: Path) -> None:
    plan = plan_for(repo, deploy_yaml())
    (sched,) = next(d for d in plan.deployments if d.name == "batch").schedules
    assert (sched.cron, sched.timezone) == ("0 6 * * *", "Europe/Berlin")
    assert "cron '0 6 * * *' (Europe/Berlin)" in format_plan(plan)


def test_pool_override_and_pull_step_placeholder_resolved(repo: Path) -> None:
    plan = plan_for(repo, deploy_yaml(), pool_name="other-pool")
    assert plan.pool.name == "other-pool"
    assert plan.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(repo)}}]


def test_unknown_parameter_is_refused_naming_deployment_and_flow_parameters(repo: Path) -> None:
    with pytest.raises(DeployFileError) as err:
        plan_for(repo, deploy_yaml(extra_params="{pth: /x.avi}"))
    (problem,) = err.value.problems
    assert "deployment batch" in problem and "'pth'" in problem and "'path'" in problem


def test_missing_entrypoint_file_is_refused(repo: Path) -> None:
    (repo / "flows" / "jobs.py").unlink()
    with pytest.raises(DeployFileError) as err:
        plan_for(repo, deploy_yaml())
    assert any("jobs.py does not exist" in p for p in err.value.problems)


def test_unknown_camera_template_is_refused(repo: Path) -> None:
    with pytest.raises(DeployFileError, match="no deployment named 'nope'"):
        plan_for(repo, deploy_yaml(template="nope"))


def test_schema_errors_name_the_key_path(repo: Path) -> None:
    text = deploy_yaml().replace("batch_slots: 2", "batch_slots: 0")
    with pytest.raises(DeployFileError) as err:
        plan_for(repo, text)
    assert err.value.source.endswith("prefect.yaml")
    assert any(p.startswith("floorwatch.work_pool.batch_slots:") for p in err.value.problems)


def test_schedule_needs_exactly_one_kind(repo: Path) -> None:
    with pytest.raises(DeployFileError, match="exactly one of cron, interval, rrule"):
        plan_for(repo, deploy_yaml(cron='"0 6 * * *", interval: 60'))


def test_unset_environment_placeholder_is_an_error() -> None:
    assert resolve_env_placeholders({"a": ["x{{ $HOME_X }}y"]}, {"HOME_X": "/h"}) == {"a": ["x/hy"]}
    with pytest.raises(DeployFileError, match="NOT_SET_VAR is not set"):
        resolve_env_placeholders("{{ $NOT_SET_VAR }}", {})


def test_real_deploy_file_plans_every_floorwatch_flow(tmp_path: Path) -> None:
    cfg = Settings(cameras=[{"id": "dock-1", "source": "rtsp://cam/1"}])
    plan = build_plan(load_deploy_file(DEFAULT_DEPLOY_FILE), cfg, config_path=tmp_path / "c.yaml")
    by_name = {d.name: d for d in plan.deployments}
    assert set(by_name) == {"replay-video", "daily-risk-report", "monitor-dock-1"}
    assert by_name["monitor-dock-1"].parameters["camera_id"] == "dock-1"
    assert by_name["daily-risk-report"].schedules[0].cron == "0 6 * * *"
    assert by_name["daily-risk-report"].concurrency_limit == 1
    assert plan.pool.name == "floorwatch-gpu" and "floorwatch-gpu-llm" in {g.name for g in plan.global_limits}


def test_cli_prints_plan_without_contacting_a_server(tmp_path: Path) -> None:
    from floorwatch.cli.main import app

    cfg = tmp_path / "site.yaml"
    cfg.write_text(yaml.safe_dump({"cameras": [{"id": "gate", "source": "rtsp://cam/gate"}]}))
    res = CliRunner().invoke(
        app, ["deploy", "--config", str(cfg), "--pool", "p2"], env={"PREFECT_API_URL": ""}
    )
    assert res.exit_code == 0, res.output
    assert "work pool p2 (type process, concurrency limit 2)" in res.output
    assert "deployment monitor-camera/monitor-gate" in res.output and "plan only" in res.output


def test_cli_bad_deploy_file_exits_2_naming_the_problem(tmp_path: Path) -> None:
    from floorwatch.cli.main import app

    bad = tmp_path / "prefect.yaml"
    bad.write_text("deployments: [{name: x}]\n")
    res = CliRunner().invoke(app, ["deploy", "--file", str(bad)])
    assert res.exit_code == 2
    assert "floorwatch: Field required" in res.output and "deployments.0.entrypoint" in res.output
