"""Sink throughput: alert events/second from Kafka into PostgreSQL, and proof the sink is idempotent.

Starts a throwaway PostgreSQL (the test fixture's helpers) and a throwaway Kafka (``deploy/kafka``),
publishes N ``started`` alerts over 8 cameras, then runs the sink twice:

1. group A stores the N alerts (the figure: messages/s from the first to the last batch);
2. group B re-reads the same N messages (redelivery): it must add no row.

Usage::

    .venv/bin/python benchmarks/sink.py [--alerts 20000] [--batch-size 500] [--bootstrap HOST:PORT] [--no-write]

Appends the figures (machine, date) to ``benchmarks/RESULTS.md`` under ``## Sink`` unless ``--no-write``.
Goal: >= 5,000 alerts/s.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from floorwatch.bus.kafka import KafkaBus  # noqa: E402
from floorwatch.bus.sink import SinkStats, run_sink  # noqa: E402
from floorwatch.config import BusConfig  # noqa: E402
from floorwatch.schemas.events import AlertEvent  # noqa: E402
from floorwatch.schemas.tables import Alert  # noqa: E402
from floorwatch.storage.db import make_engine, session_factory  # noqa: E402
from floorwatch.storage.migrate import upgrade  # noqa: E402
from tests.fixtures_kafka import KafkaBroker, free_port_pair  # noqa: E402
from tests.fixtures_postgres import PostgresServer, _run_as_postgres, _start_server, find_pg_bin  # noqa: E402

RESULTS = REPO / "benchmarks" / "RESULTS.md"
GOAL = 5_000
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server in a temp dir (as user ``postgres`` when run as root), removed afterwards."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise SystemExit(
            "PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
        )
    user = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="floorwatch-bench-pg-"))
    if user:
        pw = pwd.getpwnam(user)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    server = _start_server(bin_dir, base, user)
    try:
        yield server
    finally:
        _run_as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-m", "immediate", "-w", "stop"], user
        )
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def throwaway_kafka(bootstrap: str | None) -> Iterator[str]:
    """``bootstrap`` as given, or a broker started by deploy/kafka/start.sh on a free port."""
    if bootstrap:
        yield bootstrap
        return
    broker = KafkaBroker(
        port=free_port_pair(), data_dir=Path(tempfile.mkdtemp(prefix="floorwatch-bench-kafka-"))
    )
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(broker.data_dir, ignore_errors=True)


def publish(config: BusConfig, n: int) -> float:
    """Publish ``n`` started alerts (8 cameras, 4 zones); returns events/s including the final flush."""
    bus = KafkaBus(config)
    t = time.perf_counter()
    for i in range(n):
        bus.publish(
            AlertEvent(
                event_id=f"bench-{i}:started",
                alert_id=f"bench-{i:07d}",
                phase="started",
                rule="restricted_zone_intrusion",
                severity="high",
                camera_id=f"cam-{i % 8}",
                zone_id=f"zone-{i % 4}",
                track_id=i,
                frame=i,
                video_ts=i / 25,
                occurred_at=T0 + timedelta(milliseconds=40 * i),
                source="bench.mp4",
                details={"confidence": 0.9},
            )
        )
    bus.close()
    return n / (time.perf_counter() - t)


def machine() -> str:
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), model
        )
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {platform.machine()}, Python {platform.python_version()}"


def append_results(text: str) -> None:
    """Add a run under ``## Sink`` (created at the end when missing), keeping other sections intact."""
    content = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    lines = content.rstrip("\n").split("\n")
    try:
        start = lines.index("## Sink")
    except ValueError:
        lines += [
            "",
            "## Sink",
            "",
            "Measured by `benchmarks/sink.py` (method in its docstring). Goal: >= 5,000 alerts/s.",
        ]
        start = len(lines) - 3
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    lines[end:end] = (
        ["", *text.rstrip("\n").split("\n"), ""] if end < len(lines) else ["", *text.rstrip("\n").split("\n")]
    )
    RESULTS.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--bootstrap", help="use this Kafka instead of starting one")
    parser.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n = args.alerts

    with throwaway_postgres() as pg, throwaway_kafka(args.bootstrap) as bootstrap:
        pg.admin("CREATE DATABASE floorwatch_bench")
        engine = make_engine(pg.url("floorwatch_bench"))
        upgrade(engine)
        factory = session_factory(engine)
        tag = uuid.uuid4().hex[:8]
        config = BusConfig(
            kind="kafka", bootstrap_servers=bootstrap, topic_prefix=f"bench{tag}", group_id=f"a{tag}"
        )
        pub_rate = publish(config, n)
        first: SinkStats = run_sink(config, factory, max_messages=n, batch_size=args.batch_size)
        with factory() as s:
            rows_first = s.scalar(select(func.count()).select_from(Alert))
        again = config.model_copy(update={"group_id": f"b{tag}"})
        second: SinkStats = run_sink(again, factory, max_messages=n, batch_size=args.batch_size)
        with factory() as s:
            rows_second = s.scalar(select(func.count()).select_from(Alert))
        engine.dispose()

    load = os.getloadavg()[0]
    ok = rows_first == n and rows_second == n
    verdict = "meets" if first.busy_rate >= GOAL else "misses"
    report = (
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}\n\n"
        f"{n} `started` alerts (8 cameras, 4 zones), Kafka 4.4.0 single node (deploy/kafka, same machine), "
        f"PostgreSQL (throwaway, fsync off), batch size {args.batch_size}, kafka-python 3.0.\n\n"
        "| run | messages | rows after | sink msgs/s (first->last batch) | incl. group join |\n|---|---|---|---|---|\n"
        f"| 1: store | {first.messages} | {rows_first} | **{first.busy_rate:,.0f}** | {first.rate:,.0f} |\n"
        f"| 2: re-read, new group (idempotency) | {second.messages} | {rows_second} | {second.busy_rate:,.0f} | "
        f"{second.rate:,.0f} |\n\n"
        f"Producer: {pub_rate:,.0f} events/s (acks=all, idempotent, incl. flush). Goal >= {GOAL:,}/s: {verdict} it. "
        f"Idempotent: {'yes, the second run added no row' if ok else 'NO: row counts differ'}. "
        f"The broker, the database and the sink shared the 2 cores with other work (load average {load:.1f} "
        "at the end of the run), so figures are a lower bound.\n"
    )
    print(report)
    if not args.no_write:
        append_results(report)
    if not ok:
        raise SystemExit(
            f"idempotency check failed: {rows_first} rows after run 1, {rows_second} after run 2"
        )


if __name__ == "__main__":
    main()
