"""``floorwatch sink --metrics-port`` as a real process against the real Kafka broker (deploy/kafka) and
SQLite: ``/metrics`` is scraped while it runs and parsed with prometheus-client's own parser."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from floorwatch.bus.kafka import KafkaBus, ensure_topics
from floorwatch.bus.sink_metrics import SinkMetrics
from floorwatch.config import BusConfig
from floorwatch.metrics import MetricsPortError, serve_metrics
from floorwatch.storage.db import make_engine
from floorwatch.storage.migrate import upgrade
from tests.fixtures_events import lifecycle
from tests.fixtures_postgres import free_port

REPO = Path(__file__).resolve().parents[1]


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _labels), v in samples.items() if n == name)


@pytest.mark.kafka
def test_sink_process_exports_consumed_committed_dead_letters_and_lag(kafka_broker: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    config = BusConfig(kind="kafka", bootstrap_servers=kafka_broker, topic_prefix=f"m{tag}", group_id=f"sink-{tag}")
    ensure_topics(config)
    bus = KafkaBus(config)
    events = [ev for i in range(30) for ev in lifecycle(f"m{i:03d}", updates=1, camera_id=f"cam-{i % 3}")]
    for ev in events:
        bus.publish(ev)
    bus.flush()
    bus.close()
    raw = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    raw.send(f"{config.topic_prefix}.alerts", key=b"cam-0", value=b"{not json")
    raw.flush()
    raw.close()
    total = len(events) + 1

    db = tmp_path / "fw.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    cfg = tmp_path / "floorwatch.yaml"
    cfg.write_text(yaml.safe_dump({"bus": config.model_dump(), "database": {"url": f"sqlite:///{db}"}}))
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    cmd = [sys.executable, "-m", "floorwatch.cli.main", "sink", "--config", str(cfg), "--batch-size", "25",
           "--metrics-port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                samples = _samples(url)
            except httpx.TransportError:
                samples = {}
            if _total(samples, "floorwatch_sink_messages_committed_total") >= total:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert _total(samples, "floorwatch_sink_messages_committed_total") == total, samples
        assert _total(samples, "floorwatch_sink_messages_consumed_total") == total
        alerts = (("topic", f"{config.topic_prefix}.alerts"),)
        assert samples[("floorwatch_sink_messages_committed_total", alerts)] == total
        assert _total(samples, "floorwatch_sink_dead_letters_total") == 1
        assert _total(samples, "floorwatch_sink_events_stored_total") == len(events)
        assert samples[("floorwatch_sink_batch_seconds_count", ())] >= 2  # batches of at most 25
        lags = {labels: v for (n, labels), v in samples.items() if n == "floorwatch_sink_consumer_lag"}
        assert lags and set(lags.values()) == {0.0}, lags  # everything produced is stored and committed
        assert ("process_cpu_seconds_total", ()) in samples
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert f"sink: {total} messages" in out and "1 dead letters" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_metrics_port_in_use_is_a_clear_error() -> None:
    first = serve_metrics(SinkMetrics().registry, 0)
    try:
        with pytest.raises(MetricsPortError, match=rf"127\.0\.0\.1:{first.port}"):
            serve_metrics(SinkMetrics().registry, first.port)
    finally:
        first.close()
