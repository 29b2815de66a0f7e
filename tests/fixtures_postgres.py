"""A real, throwaway PostgreSQL server (Debian packages) and database fixtures over SQLite and PostgreSQL.

``postgres_server`` (session) runs ``initdb`` + ``pg_ctl`` from the newest ``/usr/lib/postgresql/<v>/bin``
on a free port of 127.0.0.1 with trust auth. PostgreSQL refuses to run as root, so as root the
binaries run as the ``postgres`` user through ``runuser``. Absent binaries skip the test with the
reason, unless ``FLOORWATCH_REQUIRE_SERVICES=1`` (CI), where they fail it.

``db_url`` (function) is parametrized over ``sqlite`` (a temp file) and ``postgresql`` (a fresh
database per test); ``migrated_db`` returns a sessionmaker on that database upgraded to head.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

PG_ROOT = Path(os.environ.get("FLOORWATCH_PG_ROOT", "/usr/lib/postgresql"))
_db_counter = itertools.count()


def services_required() -> bool:
    """CI sets ``FLOORWATCH_REQUIRE_SERVICES=1``: a missing service is then a failure, not a skip."""
    return os.environ.get("FLOORWATCH_REQUIRE_SERVICES", "") == "1"


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (FLOORWATCH_REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


def find_pg_bin(root: Path = PG_ROOT) -> Path | None:
    """The ``bin`` folder of the newest PostgreSQL version installed under ``root`` (or None)."""
    if not root.is_dir():
        return None
    versions = []
    for child in root.iterdir():
        nums = re.findall(r"\d+", child.name)
        if nums and (child / "bin" / "initdb").is_file() and (child / "bin" / "pg_ctl").is_file():
            versions.append((tuple(int(n) for n in nums), child / "bin"))
    return max(versions)[1] if versions else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    """A running server; ``url(db)`` gives a SQLAlchemy URL for one of its databases."""

    port: int
    bin_dir: Path
    data_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) on the ``postgres`` db."""
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()


def _run_as_postgres(args: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    cmd = ["runuser", "-u", user, "--", *args] if user else args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _start_server(bin_dir: Path, base: Path, user: str | None) -> PostgresServer:
    data = base / "data"
    res = _run_as_postgres(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        user,
    )
    if res.returncode != 0:
        raise RuntimeError(f"initdb failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    last_err = ""
    for _ in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        res = _run_as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(base / "server.log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
            user,
        )
        if res.returncode == 0:
            return PostgresServer(port=port, bin_dir=bin_dir, data_dir=data)
        log = (
            (base / "server.log").read_text(errors="replace")[-2000:]
            if (base / "server.log").exists()
            else ""
        )
        last_err = f"{res.stderr.strip()} {log}"
    raise RuntimeError(f"pg_ctl start failed: {last_err}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start a real PostgreSQL for the test session; stop it and delete its files at the end."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        skip_or_fail(f"PostgreSQL server binaries not found under {PG_ROOT} (apt-get install postgresql)")
        raise AssertionError("unreachable")
    user = None
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            skip_or_fail("running as root and `runuser` is missing: cannot start PostgreSQL as user postgres")
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("running as root and there is no `postgres` user to run PostgreSQL as")
            raise
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="floorwatch-pg-"))
    if user:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    try:
        server = _start_server(bin_dir, base, user)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL from {bin_dir}: {exc}")
    try:
        yield server
    finally:
        _run_as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-m", "immediate", "-w", "stop"], user
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of the database ``floorwatch_test`` on the session's server (shared by the whole session)."""
    postgres_server.admin("CREATE DATABASE floorwatch_test")
    return postgres_server.url("floorwatch_test")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL database dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'floorwatch.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"floorwatch_t{os.getpid()}_{next(_db_counter)}"
    server.admin(f"CREATE DATABASE {name}")
    try:
        yield server.url(name)
    finally:
        server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def migrated_db(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A sessionmaker on ``db_url`` upgraded to the head migration."""
    from floorwatch.storage.db import make_engine, session_factory
    from floorwatch.storage.migrate import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()
