"""Typed results of *when* risk happens: per-zone time buckets with confidence intervals, and machine heat."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PatternKind = Literal["alert", "incident"]
PatternDimension = Literal["hour", "weekday", "shift"]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PatternBucket(_Frozen):
    """One hour of day, day of week or shift."""

    label: str = Field(
        description="'00'..'23', 'Mon'..'Sun' or the shift name ('(no shift)' for uncovered time)"
    )
    count: int = Field(ge=0, description="Events that started in this bucket")
    share: float = Field(ge=0, le=1, description="count / total")
    ci_low: float = Field(ge=0, le=1, description="Wilson 95% lower bound of the share")
    ci_high: float = Field(ge=0, le=1, description="Wilson 95% upper bound of the share")
    expected_share: float = Field(
        ge=0,
        le=1,
        description="Share of the analysed window's time in this bucket (what a uniform pattern gives)",
    )

    @property
    def over_represented(self) -> bool:
        """The whole 95% interval lies above the uniform expectation."""
        return self.ci_low > self.expected_share


class PatternSeries(_Frozen):
    """Events of one kind bucketed along one time dimension, with a goodness-of-fit test against uniform."""

    kind: PatternKind
    dimension: PatternDimension
    total: int = Field(ge=0)
    buckets: list[PatternBucket]
    chi2: float | None = Field(
        None, description="Chi-square statistic against the time-weighted uniform (None: no events)"
    )
    p_value: float | None = Field(
        None, description="P-value of the chi-square test (None: no events or one bucket)"
    )
    dof: int = Field(0, ge=0, description="Degrees of freedom of the test")
    reliable: bool = Field(
        False, description="Every expected count is at least 5, so the chi-square approximation holds"
    )
    p_method: Literal["chi2", "monte_carlo"] | None = Field(
        None, description="chi2 distribution, or simulated multinomial counts when expected counts are small"
    )
    untested: str | None = Field(
        None, description="Why no test was run although there are events (e.g. all on one day), in words"
    )
    date_only: int = Field(
        0,
        ge=0,
        description="Events of this kind known by date alone (no time of day), left out of this hour or shift "
        "series; a weekday series counts them",
    )

    def not_uniform(self, alpha: float = 0.05) -> bool:
        """True when the test rejects a uniform pattern at ``alpha``."""
        return self.p_value is not None and self.p_value < alpha

    @property
    def peak(self) -> PatternBucket | None:
        """The bucket with the most events relative to its share of time (None with no events)."""
        live = [b for b in self.buckets if b.expected_share > 0 and b.count > 0]
        return max(live, key=lambda b: b.share / b.expected_share) if live else None


class TimePatterns(_Frozen):
    """When alerts and incidents happen in one zone over a window (site-local time)."""

    zone_id: str
    start: datetime
    end: datetime
    timezone: str
    series: list[PatternSeries]
    weekday_hour: dict[str, list[list[int]]] = Field(
        default_factory=dict, description="Per kind, a 7 x 24 count matrix (Mon..Sun x hour) for a heatmap"
    )

    def get(self, kind: PatternKind, dimension: PatternDimension) -> PatternSeries:
        """The series of one kind along one dimension."""
        return next(s for s in self.series if s.kind == kind and s.dimension == dimension)


class AssetHeat(_Frozen):
    """Overheating anomalies of one asset in the window."""

    asset: str
    count: int = Field(ge=1)
    first_at: datetime
    last_at: datetime
    max_score: float
    anomaly_ids: list[str]
    repeated: bool = Field(description="count >= the repeat threshold: a machine hazard signal")


class HazardSignal(_Frozen):
    """A hazard inferred from data rather than from a report (here: a machine that keeps overheating)."""

    category: Literal["machine"] = "machine"
    zone_id: str
    asset: str
    description: str
    evidence_ids: list[str] = Field(description="sensor_anomalies ids the signal rests on")


class OverheatingSummary(_Frozen):
    """``sensor_anomalies`` of category ``overheating`` per asset in a zone and window."""

    zone_id: str
    start: datetime
    end: datetime
    assets: list[AssetHeat]
    signals: list[HazardSignal]
