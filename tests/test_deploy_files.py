"""The deployment files agree with the code: compose services, env names, CLI commands, entrypoints.

No Docker engine is needed: the files are parsed and checked against ``floorwatch.config.Settings``,
the ``floorwatch`` command tree and the flow entrypoints (each must import, per STYLE.md).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import BaseModel

from floorwatch.config import Settings, load_settings
from floorwatch.flows.deploy_plan import DEFAULT_DEPLOY_FILE, load_deploy_file
from tests.conftest import REPO_ROOT

DOCKER = REPO_ROOT / "deploy" / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile.gpu"
# FLOORWATCH_* names that are not Settings fields but read by name elsewhere.
NON_SETTINGS_ENV = {
    "FLOORWATCH_CONFIG",
    "FLOORWATCH_REPO_DIR",
    "FLOORWATCH_STATE_DIR",
    "FLOORWATCH_MODEL_DIR",
}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def env_resolves(name: str, model: type[BaseModel] = Settings) -> bool:
    """True when FLOORWATCH_A__B names the field ``a.b`` of the settings model (nested by ``__``)."""
    parts = name.removeprefix("FLOORWATCH_").lower().split("__")
    current: Any = model
    for part in parts:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return False
        current = fields[part].annotation
    return True


def floorwatch_commands() -> set[str]:
    """Every ``floorwatch ...`` command path, e.g. {'sink', 'db upgrade', 'deploy'}."""
    from floorwatch.cli.main import app

    click_app = typer.main.get_command(app)
    out: set[str] = set()

    def walk(group: Any, prefix: str) -> None:
        for name, cmd in getattr(group, "commands", {}).items():
            path = f"{prefix}{name}"
            out.add(path)
            walk(cmd, path + " ")

    walk(click_app, "")
    return out


def test_env_name_check_is_strict() -> None:
    assert env_resolves("FLOORWATCH_DATABASE__URL") and env_resolves("FLOORWATCH_BUS__BOOTSTRAP_SERVERS")
    assert not env_resolves("FLOORWATCH_DATABASE__URI") and not env_resolves("FLOORWATCH_BUS_KIND")


def test_compose_has_the_whole_stack() -> None:
    services = compose()["services"]
    assert {"postgres", "kafka", "prefect-server", "sink", "worker", "dashboard", "migrate", "deploy"} <= set(
        services
    )
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert (
        services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    )  # KRaft, no ZooKeeper
    assert (
        "4200:4200" in services["prefect-server"]["ports"] and "8080:8080" in services["dashboard"]["ports"]
    )


def test_worker_reserves_an_nvidia_gpu_and_polls_the_deployed_pool() -> None:
    worker = compose()["services"]["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    cmd = worker["command"]
    assert cmd[:3] == ["prefect", "worker", "start"]
    pool = cmd[cmd.index("--pool") + 1]
    assert pool == load_deploy_file(DEFAULT_DEPLOY_FILE).floorwatch.work_pool.name
    assert cmd[cmd.index("--type") + 1] == "process"


def test_every_floorwatch_env_name_is_a_settings_field() -> None:
    names = {
        key
        for svc in compose()["services"].values()
        for key in (svc.get("environment") or {})
        if key.startswith("FLOORWATCH_")
    }
    assert {"FLOORWATCH_DATABASE__URL", "FLOORWATCH_BUS__KIND", "FLOORWATCH_BUS__BOOTSTRAP_SERVERS"} <= names
    bad = sorted(n for n in names - NON_SETTINGS_ENV if not env_resolves(n))
    assert not bad, f"compose.yaml sets FLOORWATCH_* names that are no Settings field: {bad}"
    docker_env = set(re.findall(r"\b(FLOORWATCH_[A-Z_]+)=", DOCKERFILE.read_text()))
    assert not sorted(n for n in docker_env - NON_SETTINGS_ENV if not env_resolves(n))


def test_compose_environment_yields_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose()["services"]["worker"]["environment"]
    for key, value in env.items():
        if key.startswith("FLOORWATCH_") and key not in NON_SETTINGS_ENV:
            monkeypatch.setenv(key, re.sub(r"\$\{(\w+):[-?][^}]*\}", "x", str(value)))
    settings = load_settings(DOCKER / "site.example.yaml")
    assert settings.bus.kind == "kafka" and settings.bus.bootstrap_servers == "kafka:9092"
    assert settings.database.url.startswith("postgresql+psycopg://") and settings.detector.device == "cuda"
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"


def test_floorwatch_commands_in_compose_exist() -> None:
    known = floorwatch_commands()
    used = []
    for name, svc in compose()["services"].items():
        cmd = svc.get("command") or []
        if cmd[:1] == ["floorwatch"]:
            words = [w for w in cmd[1:] if not w.startswith("-")]
            path = " ".join(words[:2]) if " ".join(words[:2]) in known else words[0]
            assert path in known, f"service {name}: `floorwatch {path}` is not a command ({sorted(known)})"
            used.append(path)
    assert {"sink", "serve", "deploy", "db upgrade"} <= set(used)


def test_dockerfile_is_a_cuda_runtime_image_with_the_gpu_extra() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M)
    assert base and base.group(1).startswith("nvidia/cuda:") and "runtime" in base.group(1)
    assert '".[gpu]"' in text
    for path in re.findall(r"^COPY\s+(\S+)\s", text, re.M):
        assert (REPO_ROOT / path).exists(), f"Dockerfile copies {path}, which is not in the repository"
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("vllm") for dep in extras["gpu"])


@pytest.mark.parametrize(
    "entrypoint", [d.entrypoint for d in load_deploy_file(DEFAULT_DEPLOY_FILE).deployments]
)
def test_every_entrypoint_of_the_deployment_file_imports(
    entrypoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.flows import Flow, load_flow_from_entrypoint

    monkeypatch.chdir(REPO_ROOT)  # entrypoints are relative to the repository, like the pull step's directory
    if not Path(entrypoint.split(":")[0]).exists():
        pytest.fail(f"{entrypoint}: file missing")
    flow = load_flow_from_entrypoint(entrypoint)
    assert isinstance(flow, Flow)
