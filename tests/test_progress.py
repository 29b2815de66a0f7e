"""Progress on stderr: log lines when not a terminal, nothing on stdout, stage callbacks, the ingest command."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from floorwatch.cli.main import app
from floorwatch.progress import Progress, StageProgress, track


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_when_not_a_terminal_carry_count_rate_and_eta() -> None:
    out = io.StringIO()
    with Progress("report extraction", 10, stream=out, every_s=0.0) as p:
        for _ in range(3):
            p.advance()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("report extraction: 1/10 (10%), ") and "/s, ETA " in lines[0]
    assert lines[-1].startswith("report extraction: 3/10 (30%)")
    quiet = io.StringIO()
    with Progress("x", 5, stream=quiet, every_s=3600.0) as p:
        p.advance(5)
    assert quiet.getvalue().splitlines() == [quiet.getvalue().splitlines()[0]]  # only the closing line
    assert quiet.getvalue().startswith("x: 5/5 (100%)")


def test_a_slow_rate_reads_as_seconds_each_not_zero_per_second() -> None:
    from floorwatch.progress import rate_words

    assert rate_words(3.14) == "3.1/s" and rate_words(0.02) == "50.0 s each" and rate_words(0.0) == "0.0/s"


def test_the_closing_line_is_not_a_repeat_of_the_last_one() -> None:
    out = io.StringIO()
    with Progress("report zones", 7, stream=out, every_s=0.0) as p:
        p.advance(7)
    assert out.getvalue().splitlines() == [out.getvalue().splitlines()[0]] and "7/7 (100%)" in out.getvalue()


def test_a_terminal_gets_a_bar_and_unknown_totals_count_up() -> None:
    tty = _Tty()
    for _ in track(range(4), "replay frames", stream=tty):
        pass
    assert "replay frames" in tty.getvalue() and "4/4" in tty.getvalue()
    out = io.StringIO()
    with Progress("replay frames", None, stream=out, every_s=0.0) as p:
        p.advance(2)
    assert out.getvalue().splitlines()[-1].startswith("replay frames: 2 done, ")


def test_stage_progress_shows_each_stage_in_turn() -> None:
    out = io.StringIO()
    with StageProgress("report", stream=out, every_s=0.0) as cb:
        cb("extraction", 8, 16)
        cb("extraction", 16, 16)
        cb("zones", 1, 3)
    text = out.getvalue()
    assert "report extraction: 16/16 (100%)" in text and "report zones: 1/3 (33%)" in text
    assert text.index("report extraction") < text.index("report zones")


def test_ingest_of_several_files_reports_progress_on_stderr_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOORWATCH_DATABASE__URL", f"sqlite:///{tmp_path / 'fw.db'}")
    monkeypatch.delenv("FLOORWATCH_CONFIG", raising=False)
    files = []
    for i in range(3):
        p = tmp_path / f"r{i}.md"
        p.write_text(f"Near miss number {i} at the press.\n", encoding="utf-8")
        files.append(str(p))
    result = CliRunner().invoke(app, ["ingest", "reports", *files])
    assert result.exit_code == 0, result.output
    assert "ingest: 3/3 (100%)" in result.stderr
    assert "ingest:" not in result.stdout and result.stdout.count("1 new") == 3
