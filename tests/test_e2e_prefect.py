"""End to end on real services: Prefect server + process worker + Kafka + sink + SQLite.

``floorwatch deploy --apply`` registers the real ``deploy/prefect.yaml`` on a throwaway Prefect server; a
``prefect worker start --type process`` subprocess runs the ``replay-video`` deployment on the first
frames of ``sample_media/vtest.avi``; its alerts travel over Kafka and ``floorwatch sink`` stores them.
Then the worker is killed mid-run (SIGKILL of the worker and its flow-run process, i.e. the box dies)
and a re-run must not duplicate alerts, whose ids are deterministic.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, func, select

from floorwatch.schemas.tables import Alert, RiskAssessment, RiskEvidence
from tests.conftest import REPO_ROOT
from tests.fixtures_prefect import PrefectServer, prefect_executable, stop_process_group

pytestmark = [pytest.mark.prefect, pytest.mark.kafka, pytest.mark.slow]

POOL = "floorwatch-e2e"
REPLAY = {"path": "sample_media/vtest.avi", "zones_file": "sample_media/zones.yaml", "imgsz": 416}
FRAMES = 40  # two forklift-lane intrusions start by frame ~38 (see tests/test_vision_replay.py)
RUN_TIMEOUT_S = 420
FLOORWATCH = [sys.executable, "-m", "floorwatch.cli.main"]


@dataclass
class Stack:
    server: PrefectServer
    env: dict[str, str]
    config: Path
    db_url: str
    tmp: Path
    worker: subprocess.Popen[bytes] | None = None

    def start_worker(self) -> None:
        log = (self.tmp / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            [str(prefect_executable()), "worker", "start", "--pool", POOL, "--type", "process"],
            env=self.env,
            cwd=self.tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def floorwatch(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*FLOORWATCH, *args],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def alert_ids(self) -> list[str]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return sorted(conn.execute(select(Alert.id)).scalars())
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def stack(
    prefect_server: PrefectServer, kafka_broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e-prefect")
    db_url = f"sqlite:///{tmp / 'floorwatch.db'}"
    config = tmp / "site.yaml"
    config.write_text(yaml.safe_dump({"cameras": [{"id": "gate", "source": "rtsp://cam.invalid/gate"}]}))
    prefix = f"fwe2e{uuid.uuid4().hex[:8]}"
    env = prefect_server.env(
        FLOORWATCH_DATABASE__URL=db_url,
        FLOORWATCH_BUS__KIND="kafka",
        FLOORWATCH_BUS__BOOTSTRAP_SERVERS=kafka_broker,
        FLOORWATCH_BUS__TOPIC_PREFIX=prefix,
        FLOORWATCH_BUS__GROUP_ID=f"{prefix}-sink",
        FLOORWATCH_MEDIA__DIR=str(tmp / "media"),
        FLOORWATCH_RUNTIME__TORCH_THREADS="1",
        PREFECT_WORKER_QUERY_SECONDS="2",
    )
    env.pop("FLOORWATCH_CONFIG", None)
    s = Stack(server=prefect_server, env=env, config=config, db_url=db_url, tmp=tmp)
    res = s.floorwatch("db", "upgrade", "--config", str(config))
    assert res.returncode == 0, res.stderr
    deploy_args = ["deploy", "--config", str(config), "--pool", POOL, "--apply"]
    if not (REPO_ROOT / "flows" / "risk_report.py").exists():  # D's flow not in this checkout yet
        deploy_args += ["--file", str(_without_risk_report(tmp))]
    res = s.floorwatch(*deploy_args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "deployment monitor-camera/monitor-gate" in res.stdout
    s.start_worker()
    try:
        yield s
    finally:
        if s.worker is not None:
            stop_process_group(s.worker)


def _without_risk_report(tmp: Path) -> Path:
    data = yaml.safe_load((REPO_ROOT / "deploy" / "prefect.yaml").read_text())
    data["deployments"] = [d for d in data["deployments"] if "risk_report" not in d["entrypoint"]]
    out = tmp / "prefect-no-risk.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _client(stack: Stack) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: stack.server.api_url}):
        return get_client(sync_client=True)


def _run(stack: Stack, deployment: str, parameters: dict[str, Any]) -> Any:
    with _client(stack) as client:
        dep = client.read_deployment_by_name(deployment)
        return client.create_flow_run_from_deployment(dep.id, parameters=parameters)


def _wait_state(stack: Stack, run_id: Any, done: set[str], timeout: float = RUN_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    with _client(stack) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            if run.state and run.state.type.value in done:
                return run
            time.sleep(2)
    log = (stack.tmp / "worker.log").read_text(errors="replace")[-3000:]
    pytest.fail(
        f"flow run {run_id} not in {done} after {timeout:.0f} s (state {run.state}); worker log:\n{log}"
    )


def _sink(stack: Stack) -> None:
    res = stack.floorwatch("sink", "--config", str(stack.config), "--idle-exit", "8")
    assert res.returncode == 0, res.stderr[-3000:]


def test_replay_deployment_runs_on_the_worker_and_alerts_reach_the_db_via_kafka(stack: Stack) -> None:
    run = _run(stack, "replay-video/replay-video", {**REPLAY, "max_frames": FRAMES})
    final = _wait_state(stack, run.id, {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
    assert final.state.type.value == "COMPLETED", final.state
    with _client(stack) as client:
        summary = client.read_flow_run(run.id)
    assert summary.parameters["config_path"] == str(stack.config.resolve())
    _sink(stack)
    ids = stack.alert_ids()
    assert len(ids) >= 2, ids
    engine = create_engine(stack.db_url)
    with engine.connect() as conn:
        rules = conn.execute(
            select(Alert.rule, Alert.zone_id, func.count()).group_by(Alert.rule, Alert.zone_id)
        ).all()
    engine.dispose()
    assert ("restricted_zone_intrusion", "forklift_lane") in {(r, z) for r, z, _ in rules}


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _wait_task_running(stack: Stack, run_id: Any, task_name: str, timeout: float = RUN_TIMEOUT_S) -> None:
    """Until a task run of ``run_id`` whose name starts with ``task_name`` is RUNNING."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    states: list[str] = []
    with _client(stack) as client:
        while time.monotonic() < deadline:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
            states = [f"{t.name}:{t.state.type.value if t.state else None}" for t in runs]
            if any(t.name.startswith(task_name) and t.state and t.state.type.value == "RUNNING" for t in runs):
                return
            time.sleep(0.5)
    pytest.fail(f"no RUNNING task run {task_name!r} of flow run {run_id} after {timeout:.0f} s: {states}")


def _wait_gone(pids: list[int], timeout: float = 60.0) -> None:
    """Until none of ``pids`` is a live process (gone, or a zombie that can no longer run)."""
    deadline = time.monotonic() + timeout
    alive = pids
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):
                alive.append(pid)
        if not alive:
            return
        time.sleep(0.1)
    pytest.fail(f"processes {alive} still alive {timeout:.0f} s after SIGKILL")


def test_killed_worker_leaves_run_running_and_rerun_does_not_duplicate_alerts(stack: Stack) -> None:
    before = stack.alert_ids()
    assert before, "needs the alerts of the previous test"
    run = _run(stack, "replay-video/replay-video", {**REPLAY, "max_frames": 400})
    _wait_state(stack, run.id, {"RUNNING"})
    _wait_task_running(stack, run.id, "run_replay")  # inside the model/replay step
    assert stack.worker is not None
    doomed = [stack.worker.pid, *_descendants(stack.worker.pid)]
    for pid in doomed:  # the box dies: worker and flow-run process, no chance to report
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    stack.worker.wait(timeout=10)
    # Prefect 3.9 with no heartbeat automation: once no process of the run is left, nothing can report a
    # crash, and the run stays RUNNING.
    _wait_gone(doomed)
    with _client(stack) as client:
        orphan = client.read_flow_run(run.id)
        assert orphan.state.type.value == "RUNNING", orphan.state
        # The operator (or a zombie-detection automation) marks it crashed; then it is re-run.
        from prefect.states import Crashed

        client.set_flow_run_state(run.id, Crashed(message="worker lost (test)"), force=True)
        assert client.read_flow_run(run.id).state.type.value == "CRASHED"
    _sink(stack)  # whatever the killed run published before dying
    seen = set(stack.alert_ids())
    assert set(before) <= seen
    stack.start_worker()
    rerun = _run(stack, "replay-video/replay-video", {**REPLAY, "max_frames": FRAMES})
    final = _wait_state(stack, rerun.id, {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
    assert final.state.type.value == "COMPLETED", final.state
    _sink(stack)
    # The re-run of the first frames yields the same deterministic alert ids: it adds no row.
    assert stack.alert_ids() == sorted(seen)


def test_risk_report_deployment_writes_a_report_with_evidence(stack: Stack) -> None:
    if not (REPO_ROOT / "flows" / "risk_report.py").exists():
        pytest.skip("flows/risk_report.py (risk_report flow) is not in this checkout yet")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.skip("the local LLM backend (llama-cpp-python, extra local-llm) is not installed")
    run = _run(stack, "risk-report/daily-risk-report", {})
    final = _wait_state(stack, run.id, {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}, timeout=900)
    assert final.state.type.value == "COMPLETED", final.state
    # The flow wrote assessments whose evidence links point at the alerts the replay stored via Kafka.
    engine = create_engine(stack.db_url)
    try:
        with engine.connect() as conn:
            assessed = conn.execute(select(RiskAssessment.zone_id).where(RiskAssessment.status == "ok")).scalars().all()
            linked = conn.execute(select(RiskEvidence.ref_id).where(RiskEvidence.kind == "alert")).scalars().all()
    finally:
        engine.dispose()
    assert assessed, "risk_report completed without storing an assessment"
    assert linked and set(linked) <= set(stack.alert_ids())
