"""The ``risk_report`` flow end to end on a real Prefect server, with the LLM behind a real HTTP server process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_prefect import PrefectServer, prefect_server  # noqa: F401
from tests.llm_factories import add_incidents, sqlite_db

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def test_flow_entrypoint_imports() -> None:
    from floorwatch.flows.risk_report import risk_report

    assert risk_report.name == "risk-report"


def test_flow_writes_assessments_and_artifacts(tmp_path: Path, prefect_server: PrefectServer, server_port: int) -> None:  # noqa: F811
    factory = sqlite_db(tmp_path)
    add_incidents(factory, [("f1", "press", "Operator hand caught in press, injury."), ("f2", "dock", "Truck reversed into rack.")])
    env = prefect_server.env(
        FLOORWATCH_DATABASE__URL=f"sqlite:///{tmp_path / 'fw.db'}",
        FLOORWATCH_LLM__BACKEND="openai",
        FLOORWATCH_LLM__BASE_URL=f"http://127.0.0.1:{server_port}/v1",
        FLOORWATCH_MEDIA__DIR=str(tmp_path / "media"),
    )
    env.pop("FLOORWATCH_CONFIG", None)
    code = (
        "import json; from floorwatch.flows.risk_report import risk_report; "
        "r = risk_report(); print('RESULT=' + json.dumps(r))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT="))
    result = json.loads(line[len("RESULT=") :])
    assert {z["zone_id"] for z in result["report"]["zones"]} == {"press", "dock"}
    assert any(f.endswith("report.json") for f in result["files"])
    artifacts = subprocess.run(
        [str(Path(sys.executable).with_name("prefect")), "artifact", "ls"], env=env, capture_output=True, text=True, timeout=120
    )
    assert "risk-zones" in artifacts.stdout and "risk-summary" in artifacts.stdout, artifacts.stdout + artifacts.stderr
