"""Configuration loading: good and bad files (key path + YAML line in every message), env overrides, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from floorwatch.cli.main import app as cli_app
from floorwatch.config import ConfigError, load_settings, load_zones_file

GOOD = """\
site:
  name: Plant A
  timezone: Europe/Berlin
zones:
  - id: press-line
    name: Press line
  - id: dock
cameras:
  - id: cam1
    source: rtsp://admin:s3cret@10.0.0.5/stream
    zones:
      - zone_id: press-line
        polygon: [[0, 0], [100, 0], [100, 100]]
        rules:
          - type: person_down
          - type: crowding
            max_people: 3
database:
  url: postgresql+psycopg://fw:dbpass@db.local/fw
serve:
  token: abcdefghijklmnop-secret
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ambient FLOORWATCH_* settings must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("FLOORWATCH_") and name != "FLOORWATCH_STATE_DIR":
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert s.site.timezone == "Europe/Berlin"
    assert [z.id for z in s.zones] == ["press-line", "dock"]
    rules = s.camera("cam1").zones[0].rules
    assert [r.type for r in rules] == ["person_down", "crowding"]
    assert rules[0].severity == "critical" and rules[1].max_people == 3  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file_gives_defaults(tmp_path: Path, text: str) -> None:
    s = load_settings(write(tmp_path, text))
    assert s.database.url.startswith("sqlite:///") and s.cameras == []


BAD_CASES = [
    pytest.param(
        """\
        cameras:
          - id: cam1
            source: a.mp4
            colour: red
        """,
        ["cfg.yaml:4:", "cameras.0.colour", "Extra inputs are not permitted"],
        id="unknown-key",
    ),
    pytest.param(
        """\
        cameras:
          - id: cam1
            source: a.mp4
            zones:
              - zone_id: dock
                polygon: [[0, 0], [1, 1]]
        """,
        ["cfg.yaml:6:", "cameras.0.zones.0.polygon", "at least 3 points, got 2"],
        id="polygon-2-points",
    ),
    pytest.param(
        """\
        cameras:
          - id: cam1
            source: a.mp4
            zones:
              - zone_id: dock
                rules:
                  - type: dwell
                    max_seconds: 30
                  - type: person_down
                    min_seconds: -2
        """,
        ["cfg.yaml:10:", "cameras.0.zones.0.rules.1.min_seconds", "greater than or equal to 0"],
        id="negative-threshold",
    ),
    pytest.param(
        """\
        detector:
          conf: -0.3
        """,
        ["cfg.yaml:2:", "detector.conf", "greater than 0"],
        id="negative-confidence",
    ),
    pytest.param(
        """\
        zones:
          - id: dock
        cameras:
          - id: cam1
            source: a.mp4
            zones:
              - zone_id: dock
              - zone_id: nowhere
        """,
        ["cfg.yaml:8:", "cameras.0.zones.1.zone_id", "unknown zone 'nowhere'", "known: ['dock']"],
        id="unknown-zone-reference",
    ),
    pytest.param(
        """\
        zones:
          - id: dock
          - id: press
          - id: dock
        """,
        ["cfg.yaml:4:", "zones.2.id", "duplicate zone id 'dock'"],
        id="duplicate-zone",
    ),
    pytest.param(
        """\
        site:
          name: [unclosed
        zones: []
        """,
        ["cfg.yaml:3:", "invalid YAML"],
        id="bad-yaml",
    ),
    pytest.param("- a\n- b\n", ["top level must be a mapping, got list"], id="top-level-list"),
    pytest.param(
        """\
        bus:
          kind: rabbitmq
        """,
        ["cfg.yaml:2:", "bus.kind", "'inprocess' or 'kafka'"],
        id="bad-enum",
    ),
    pytest.param(
        """\
        site:
          timezone: Mars/Olympus
        """,
        ["cfg.yaml:2:", "site.timezone", "'Mars/Olympus' is not an IANA time zone"],
        id="unknown-time-zone",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CASES)
def test_bad_file_names_key_path_and_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = "\n".join(info.value.problems)
    assert info.value.source == str(path)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "detector:\n  conf: 2\n  imgsz: 100\nbus:\n  kind: x\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    paths = sorted(p.split(": ")[1] for p in info.value.problems)
    assert paths == ["bus.kind", "detector.conf", "detector.imgsz"]


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_settings(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00zones")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(binary)


def test_env_override_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("FLOORWATCH_DATABASE__URL", "sqlite:///from-env.db")
    monkeypatch.setenv("FLOORWATCH_LLM__N_THREADS", "1")
    s = load_settings(path)
    assert s.database.url == "sqlite:///from-env.db"
    assert s.llm.n_threads == 1
    assert s.site.name == "Plant A"  # the rest still comes from the file


def test_a_mistyped_environment_section_is_an_error_not_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("FLOORWATCH_DB__URL", "sqlite:///lost.db")  # meant FLOORWATCH_DATABASE__URL
    monkeypatch.setenv("FLOORWATCH_STATE_DIR", "/tmp/x")  # no '__': a tool variable, not a setting
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert "FLOORWATCH_DB__URL: no settings section 'db'" in text and "database" in text and "STATE_DIR" not in text
    monkeypatch.delenv("FLOORWATCH_DB__URL")
    monkeypatch.setenv("FLOORWATCH_DATABASE__URLX", "x")  # a known section, an unknown key: named as the environment's
    with pytest.raises(ConfigError, match="environment FLOORWATCH_DATABASE__URLX: database.urlx"):
        load_settings(path)


def test_a_bad_environment_override_of_a_key_the_file_sets_names_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD)  # sets site.timezone: Europe/Berlin on line 3
    monkeypatch.setenv("FLOORWATCH_SITE__TIMEZONE", "Mars/Base")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert "environment FLOORWATCH_SITE__TIMEZONE: site.timezone" in text and f"{path}:3" not in text


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOORWATCH_CONFIG", str(write(tmp_path, GOOD)))
    assert load_settings().site.name == "Plant A"


# --------------------------------------------------------------------------- --zones files
def test_zones_file_good_forms(tmp_path: Path) -> None:
    listed = write(tmp_path, "- id: dock\n  polygon: [[0,0],[1,0],[1,1]]\n- zone_id: press\n", "a.yaml")
    assert [z.zone_id for z in load_zones_file(listed)] == ["dock", "press"]
    wrapped = write(tmp_path, "zones:\n  - id: dock\n    rules: [{type: dwell, max_seconds: 5}]\n", "b.yaml")
    (zone,) = load_zones_file(wrapped)
    assert zone.rules[0].type == "dwell"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- id: dock\n  polygon: [[0,0],[1,1]]\n", ["z.yaml:2: zones[0].polygon", "at least 3 points"]),
        ("- id: dock\n- just a string\n", ["z.yaml:2: zones[1]:", "valid dictionary"]),
        ("- id: Bad Id\n", ["z.yaml:1: zones[0].id:", "should match pattern"]),
        (
            "zones:\n  - id: a\n    rules:\n      - type: dwell\n        max_seconds: 0\n",
            ["z.yaml:5: zones[0].rules.0.max_seconds"],
        ),
        ("cameras: []\n", ["expected a list of zones"]),
        ("- [unclosed\n", ["invalid YAML"]),
    ],
)
def test_zones_file_errors(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_zones_file(write(tmp_path, text, "z.yaml"))
    message = "\n".join(info.value.problems)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_zones_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_zones_file(tmp_path / "none.yaml")


# --------------------------------------------------------------------------- CLI
def test_cli_config_check(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["config", "check", str(write(tmp_path, GOOD))])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK ") and "2 zones, 1 cameras, 2 rules" in ok.output
    assert "dbpass" not in ok.output
    bad = runner.invoke(
        cli_app, ["config", "check", str(write(tmp_path, BAD_CASES[1].values[0], "bad.yaml"))]
    )
    assert bad.exit_code == 2
    assert "bad.yaml:6: cameras.0.zones.0.polygon" in bad.output
    missing = runner.invoke(cli_app, ["config", "check", str(tmp_path / "missing.yaml")])
    assert missing.exit_code == 2 and "file not found" in missing.output


def test_cli_config_show_applies_env_and_masks_secrets(tmp_path: Path) -> None:
    env = {"FLOORWATCH_CONFIG": str(write(tmp_path, GOOD)), "FLOORWATCH_BUS__KIND": "kafka"}
    result = CliRunner().invoke(cli_app, ["config", "show"], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "kind: kafka" in out and "name: Plant A" in out
    for secret in ("abcdefghijklmnop-secret", "dbpass", "s3cret"):
        assert secret not in out
    assert "token: '***'" in out and "fw:***@db.local" in out and "admin:***@10.0.0.5" in out


def test_cli_config_init_writes_a_commented_starter_that_config_check_accepts(tmp_path: Path) -> None:
    from floorwatch.config import LLMConfig, SiteConfig
    from floorwatch.config_doc import starter_settings

    path = tmp_path / "etc" / "site.yaml"  # its folder is made
    result = CliRunner().invoke(cli_app, ["config", "init", str(path)])
    assert result.exit_code == 0, result.output
    assert f"wrote {path}" in result.output and [p.name for p in path.parent.iterdir()] == ["site.yaml"]  # no temp file left
    settings = load_settings(path)  # the loader of `config check`
    assert settings == starter_settings()
    assert (len(settings.zones), len(settings.cameras), settings.cameras[0].zones[0].zone_id) == (1, 1, settings.zones[0].id)
    assert settings.site == SiteConfig() and settings.llm == LLMConfig()  # the defaults, written out
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    for key, comment in (("timezone: UTC", SiteConfig.model_fields["timezone"].description),  # the model's own words
                         ("url: sqlite:///var/floorwatch.db", "SQLAlchemy URL (SQLite or PostgreSQL)"),
                         ("backend: local", "LLM backend (one of: local, openai, vllm)")):
        assert lines[lines.index(key) - 1] == f"# {comment}"
    check = CliRunner().invoke(cli_app, ["config", "check", str(path)])
    assert check.exit_code == 0 and "1 zones, 1 cameras, 1 rules" in check.output, check.output


def test_cli_config_init_never_replaces_a_file_without_force(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    refused = CliRunner().invoke(cli_app, ["config", "init", str(path)])
    assert refused.exit_code == 1 and f"{path} exists" in refused.output and "--force" in refused.output
    assert path.read_text(encoding="utf-8") == GOOD
    forced = CliRunner().invoke(cli_app, ["config", "init", str(path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_settings(path).site.name != "Plant A"


def test_cli_config_init_writes_where_the_commands_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = CliRunner().invoke(cli_app, ["config", "init"])
    assert nowhere.exit_code == 2 and "FLOORWATCH_CONFIG" in nowhere.output
    path = tmp_path / "from-env.yaml"
    monkeypatch.setenv("FLOORWATCH_CONFIG", str(path))
    result = CliRunner().invoke(cli_app, ["config", "init"])
    assert result.exit_code == 0, result.output
    assert load_settings().zones == load_settings(path).zones != []  # no path: $FLOORWATCH_CONFIG, read by every command


def test_cli_entry_point_exit_code(tmp_path: Path) -> None:
    bad = write(tmp_path, "detector:\n  conf: 5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "floorwatch.cli.main", "config", "check", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cfg.yaml:2: detector.conf" in proc.stderr
