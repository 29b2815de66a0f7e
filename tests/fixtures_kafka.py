"""A real single-node Kafka (KRaft) for tests, started with ``deploy/kafka/start.sh``.

``kafka_broker`` (session) yields the bootstrap address ``127.0.0.1:PORT`` of a broker on a free port
with its own data dir; ``kafka_control`` gives the :class:`KafkaBroker` handle to stop/restart it (the
broker-restart test). Jars are fetched once from Maven Central into ``$FLOORWATCH_KAFKA_HOME``
(default ``~/.cache/floorwatch/kafka``). Without Java/Maven the tests skip with the reason, unless
``FLOORWATCH_REQUIRE_SERVICES=1``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures_postgres import skip_or_fail

__all__ = ["KafkaBroker", "kafka_broker", "kafka_control"]

KAFKA_DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "kafka"


def free_port_pair() -> int:
    """A port P such that P (client) and P+1 (controller) are both free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


@dataclass
class KafkaBroker:
    """A broker run by ``deploy/kafka/{start,stop}.sh``; data survives :meth:`stop`/:meth:`start`."""

    port: int
    data_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KAFKA_PORT=str(self.port), KAFKA_DATA_DIR=str(self.data_dir), FLOORWATCH_PYTHON=sys.executable
        )
        return env

    def start(self, timeout: float = 240) -> None:
        """Start (or restart) the broker and wait until it answers a metadata request."""
        res = subprocess.run(
            [str(KAFKA_DEPLOY / "start.sh")], env=self._env(), capture_output=True, text=True, timeout=timeout
        )
        if res.returncode != 0:
            raise RuntimeError(f"deploy/kafka/start.sh failed ({res.returncode}):\n{res.stderr[-4000:]}")

    def stop(self, timeout: float = 60) -> None:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after 30 s)."""
        subprocess.run(
            [str(KAFKA_DEPLOY / "stop.sh")], env=self._env(), capture_output=True, timeout=timeout, check=True
        )

    def restart(self) -> None:
        self.stop()
        self.start()


def kafka_missing_reason() -> str | None:
    """Why a broker cannot be started here, or None."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found: the Kafka tests need Java 17+ and Maven (deploy/kafka/fetch.sh)"
    return None


@pytest.fixture(scope="session")
def kafka_control() -> Iterator[KafkaBroker]:
    """The session's broker handle (use :func:`kafka_broker` when only the address is needed)."""
    reason = kafka_missing_reason()
    if reason:
        skip_or_fail(reason)
    data = Path(tempfile.mkdtemp(prefix="floorwatch-kafka-"))
    broker = KafkaBroker(port=free_port_pair(), data_dir=data)
    try:
        broker.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(data, ignore_errors=True)
        pytest.fail(f"could not start Kafka: {exc}")
    try:
        yield broker
    finally:
        try:
            broker.stop()
        finally:
            shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_broker(kafka_control: KafkaBroker) -> str:
    """Bootstrap address ``127.0.0.1:PORT`` of the session's real Kafka broker."""
    return kafka_control.bootstrap
