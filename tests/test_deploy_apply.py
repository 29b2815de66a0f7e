"""``apply_plan`` against a real Prefect server: pool, queues, limits, deployments; idempotent re-apply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from floorwatch.flows.deploy_plan import build_plan, load_deploy_file
from floorwatch.flows.deployments import apply_plan
from tests.fixtures_prefect import PrefectServer
from tests.test_deploy_plan import FLOW_SOURCE, deploy_yaml, settings

pytestmark = pytest.mark.prefect


@pytest.fixture
def prefect_api(prefect_server: PrefectServer) -> Iterator[str]:
    """Point this process's Prefect clients at the session server (Prefect reads its env at import)."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        assert str(get_current_settings().api.url) == prefect_server.api_url
        yield prefect_server.api_url


def _plan(tmp_path: Path, pool: str, n_cameras: int):  # type: ignore[no-untyped-def]
    (tmp_path / "flows").mkdir(exist_ok=True)
    (tmp_path / "flows" / "jobs.py").write_text(FLOW_SOURCE)
    (tmp_path / "prefect.yaml").write_text(deploy_yaml())
    return build_plan(
        load_deploy_file(tmp_path / "prefect.yaml"),
        settings(n_cameras),
        config_path=tmp_path / "site.yaml",
        pool_name=pool,
        repo_dir=tmp_path,
        env={},
    )


def test_apply_creates_everything_then_reapply_updates_without_duplicates(
    prefect_api: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    plan = _plan(tmp_path, "pool-apply", n_cameras=2)
    first = apply_plan(plan)
    assert "work pool pool-apply" in first.created
    assert {"deployment watch-it/monitor-cam-0", "deployment watch-it/monitor-cam-1"} <= set(first.created)
    second = apply_plan(plan)
    assert not [c for c in second.created], second.created
    assert second.deployment_ids == first.deployment_ids

    with get_client(sync_client=True) as client:
        pool = client.read_work_pool("pool-apply")
        assert pool.type == "process" and pool.concurrency_limit == 2 + 2
        live = client.read_work_queue_by_name("live", work_pool_name="pool-apply")
        batch = client.read_work_queue_by_name("batch", work_pool_name="pool-apply")
        assert (live.priority, live.concurrency_limit) == (1, 2)
        assert (batch.priority, batch.concurrency_limit) == (2, 2)
        assert client.read_global_concurrency_limit_by_name("llm").limit == 1
        deps = client.read_deployments(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=["pool-apply"]))
        )
        assert sorted(d.name for d in deps) == ["batch", "monitor-cam-0", "monitor-cam-1"]
        batch_dep = next(d for d in deps if d.name == "batch")
        assert len(batch_dep.schedules) == 1  # re-applying replaced the schedule instead of adding one
        assert batch_dep.schedules[0].schedule.cron == "0 6 * * *"
        assert batch_dep.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path)}}
        ]
        cam = next(d for d in deps if d.name == "monitor-cam-1")
        assert cam.parameters == {
            "camera_id": "cam-1",
            "config_path": str((tmp_path / "site.yaml").resolve()),
        }
        assert cam.enforce_parameter_schema and cam.work_queue_name == "live"


def test_removed_camera_is_reported_stale_and_limits_follow_the_config(
    prefect_api: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    apply_plan(_plan(tmp_path, "pool-shrink", n_cameras=3))
    result = apply_plan(_plan(tmp_path, "pool-shrink", n_cameras=1))
    assert result.stale == ["monitor-cam-1", "monitor-cam-2"]
    with get_client(sync_client=True) as client:
        assert client.read_work_pool("pool-shrink").concurrency_limit == 1 + 2
        assert client.read_work_queue_by_name("live", work_pool_name="pool-shrink").concurrency_limit == 1


def test_server_enforces_the_flow_parameter_schema(prefect_api: str, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    ids = apply_plan(_plan(tmp_path, "pool-schema", n_cameras=1)).deployment_ids
    with get_client(sync_client=True) as client:
        dep_id = ids["watch-it/monitor-cam-0"]
        with pytest.raises(PrefectHTTPStatusError) as err:
            client.create_flow_run_from_deployment(dep_id, parameters={"max_frames": "many"})
        assert err.value.response.status_code in (409, 422)
        ok = client.create_flow_run_from_deployment(dep_id, parameters={"max_frames": 5})
        assert ok.parameters["camera_id"] == "cam-0" and ok.parameters["max_frames"] == 5
        client.delete_flow_run(ok.id)


def test_existing_pool_of_another_type_is_refused(prefect_api: str, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from floorwatch.flows.deploy_plan import DeployFileError

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="pool-other-type", type="kubernetes"))
    with pytest.raises(DeployFileError, match="exists with type 'kubernetes'"):
        apply_plan(_plan(tmp_path, "pool-other-type", n_cameras=1))
