"""Kafka bus + sink against a real broker (deploy/kafka) and real databases (SQLite and PostgreSQL).

Each test uses its own topic prefix and consumer group, so they share the session's broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kafka import KafkaProducer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.bus.kafka import KafkaBus, KafkaEventConsumer, ensure_topics
from floorwatch.bus.sink import run_sink
from floorwatch.config import BusConfig
from floorwatch.schemas.tables import Alert, CameraOutage, DeadLetter, SensorAnomaly
from tests.fixtures_events import T0, alert, anomaly, lifecycle, outage
from tests.fixtures_kafka import KafkaBroker

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[1]


def _config(bootstrap: str) -> BusConfig:
    tag = uuid.uuid4().hex[:8]
    return BusConfig(
        kind="kafka", bootstrap_servers=bootstrap, topic_prefix=f"t{tag}", group_id=f"sink-{tag}"
    )


def _count(factory: sessionmaker[Session], model: type, *where: object) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _publish_alerts(config: BusConfig, n: int, cameras: int = 4) -> None:
    bus = KafkaBus(config)
    for i in range(n):
        for ev in lifecycle(f"a{i:05d}", updates=0, camera_id=f"cam-{i % cameras}"):
            bus.publish(ev)
    bus.close()


def test_round_trip_all_three_topics(kafka_broker: str, migrated_db: sessionmaker[Session]) -> None:
    config = _config(kafka_broker)
    bus = KafkaBus(config)
    for ev in [*lifecycle("a1", updates=2), outage("o1"), outage("o1", ended=True), anomaly("n1")]:
        bus.publish(ev)
    bus.flush()
    bus.close()
    stats = run_sink(config, migrated_db, idle_exit=2.0)
    assert (stats.messages, stats.events, stats.dead_letters) == (7, 7, 0)
    with migrated_db() as s:
        row = s.get(Alert, "a1")
        assert row is not None and (row.status, row.updates, row.people) == ("closed", 2, 2)
        assert s.get(CameraOutage, "o1").ended_at is not None
        assert s.get(SensorAnomaly, "n1").score == pytest.approx(4.2)
    # Offsets were committed: a second run of the same group finds nothing new.
    assert run_sink(config, migrated_db, idle_exit=1.0).messages == 0


def test_malformed_messages_go_to_dead_letters_and_the_sink_goes_on(
    kafka_broker: str, migrated_db: sessionmaker[Session]
) -> None:
    config = _config(kafka_broker)
    ensure_topics(config)
    raw = KafkaProducer(bootstrap_servers=kafka_broker, acks="all")
    alerts_topic = f"{config.topic_prefix}.alerts"
    naive = alert("naive").model_dump(mode="json") | {"occurred_at": "2026-03-02T08:00:00"}
    bad = [
        (alerts_topic, b"\xff\x00not json"),
        (alerts_topic, json.dumps({"kind": "alert", "event_id": "x"}).encode()),
        (f"{config.topic_prefix}.outages", alert("wrong-topic").model_dump_json().encode()),
        (alerts_topic, json.dumps(naive).encode()),
    ]
    for topic, value in bad:
        raw.send(topic, key=b"cam-1", value=value)
    raw.send(alerts_topic, key=b"cam-1", value=alert("good").model_dump_json().encode())
    raw.flush()
    raw.close()

    stats = run_sink(config, migrated_db, idle_exit=2.0)
    assert (stats.messages, stats.events, stats.dead_letters) == (5, 1, 4)
    assert _count(migrated_db, Alert) == 1
    with migrated_db() as s:
        reasons = {
            d.offset: d.reason for d in s.scalars(select(DeadLetter).where(DeadLetter.topic == alerts_topic))
        }
        wrong = s.scalars(select(DeadLetter).where(DeadLetter.topic != alerts_topic)).one()
    assert "invalid event" in reasons[0] and "alert" in reasons[1]
    assert "occurred_at" in reasons[2] and "no time zone" in reasons[2]
    assert "belongs on" in wrong.reason and wrong.key == "cam-1"
    # A new consumer group re-reads everything: dead letters and alerts stay as they are.
    again = config.model_copy(update={"group_id": config.group_id + "-again"})
    assert run_sink(again, migrated_db, idle_exit=2.0).messages == 5
    assert (_count(migrated_db, DeadLetter), _count(migrated_db, Alert)) == (4, 1)


def _sink_process(config_file: Path, *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "floorwatch.cli.main", "sink", "--config", str(config_file), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.slow
def test_sink_killed_mid_way_then_restarted_stores_each_alert_once(
    kafka_broker: str, db_url: str, migrated_db: sessionmaker[Session], tmp_path: Path
) -> None:
    config = _config(kafka_broker)
    _publish_alerts(config, 2000)
    cfg_file = tmp_path / "floorwatch.yaml"
    cfg_file.write_text(yaml.safe_dump({"bus": config.model_dump(), "database": {"url": db_url}}))

    first = _sink_process(cfg_file, "--batch-size", "50")
    deadline = time.monotonic() + 120
    while _count(migrated_db, Alert) < 300 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    out, _ = first.communicate(timeout=30)
    at_kill = _count(migrated_db, Alert)
    assert first.returncode == -signal.SIGKILL, out
    assert 300 <= at_kill < 2000, f"the sink was not killed mid-way ({at_kill} alerts stored)\n{out}"

    second = _sink_process(cfg_file, "--idle-exit", "5", "--batch-size", "500")
    out, _ = second.communicate(timeout=240)
    assert second.returncode == 0, out
    assert "dead letters" in out
    assert _count(migrated_db, Alert) == 2000
    assert _count(migrated_db, Alert, Alert.status == "closed") == 2000
    assert _count(migrated_db, DeadLetter) == 0


def test_sigterm_finishes_the_batch_and_exits_cleanly(
    kafka_broker: str, db_url: str, migrated_db: sessionmaker[Session], tmp_path: Path
) -> None:
    config = _config(kafka_broker)
    _publish_alerts(config, 50)
    cfg_file = tmp_path / "floorwatch.yaml"
    cfg_file.write_text(yaml.safe_dump({"bus": config.model_dump(), "database": {"url": db_url}}))
    proc = _sink_process(cfg_file)
    deadline = time.monotonic() + 120
    while _count(migrated_db, Alert, Alert.status == "closed") < 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "sink: 100 messages" in out


@pytest.mark.slow
def test_broker_restart_while_publishing_loses_nothing(
    kafka_control: KafkaBroker, migrated_db: sessionmaker[Session]
) -> None:
    config = _config(kafka_control.bootstrap)
    n = 1500
    bus = KafkaBus(config)
    bus.publish(alert("warm-up", camera_id="cam-0"))  # topics and producer exist before the outage
    bus.flush()
    progress = {"published": 0}

    def produce() -> None:
        for i in range(n):
            bus.publish(alert(f"r{i:05d}", second=i * 0.01, camera_id=f"cam-{i % 3}"))
            progress["published"] = i + 1
            time.sleep(0.004)

    producer = threading.Thread(target=produce)
    producer.start()
    while progress["published"] < 200:
        time.sleep(0.01)
    kafka_control.stop()
    before_outage = progress["published"]
    deadline = time.monotonic() + 60
    while progress["published"] < before_outage + 50 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the producer has handed 50 events to the bus while the broker is down
    during_outage = progress["published"]
    kafka_control.start()
    producer.join(timeout=300)
    bus.flush(timeout=150)
    bus.close()
    assert before_outage < n and during_outage > before_outage, (
        "no event was published while the broker was down"
    )

    run_sink(config, migrated_db, idle_exit=3.0)
    assert _count(migrated_db, Alert) == n + 1
    with migrated_db() as s:
        assert s.get(Alert, "r00000").started_at == T0


def test_unreachable_broker_is_a_clear_error() -> None:
    from floorwatch.bus.base import BusError

    config = BusConfig(kind="kafka", bootstrap_servers="127.0.0.1:1", request_timeout_ms=2000)
    with pytest.raises(BusError, match=r"127\.0\.0\.1:1 unreachable"):
        KafkaEventConsumer(config)
