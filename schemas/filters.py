"""Filters of the alert queries: one model for ``storage.queries`` and the dashboard's query parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from floorwatch.config import ZONE_ID_PATTERN

AlertStatus = Literal["open", "closed"]
ReviewState = Literal["none", "acknowledged", "dismissed"]


class AlertFilter(BaseModel):
    """Which alerts to list or count; every field left ``None`` matches everything.

    The field names are the dashboard's query parameters (``/api/alerts?zone=press&status=open``).

    Raises:
        pydantic.ValidationError (a ``ValueError``): an unknown status/review, a bad id, a naive time or
            ``start`` after ``end``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera: str | None = Field(None, pattern=ZONE_ID_PATTERN, description="Only this camera id")
    zone: str | None = Field(None, pattern=ZONE_ID_PATTERN, description="Only this zone id")
    rule: str | None = Field(None, pattern=r"^[a-z_]{1,40}$", description="Only this rule")
    status: AlertStatus | None = Field(None, description="open | closed")
    review: ReviewState | None = Field(None, description="none | acknowledged | dismissed")
    start: AwareDatetime | None = Field(None, description="Only alerts still going at or after this time")
    end: AwareDatetime | None = Field(None, description="Only alerts started at or before this time")

    @model_validator(mode="after")
    def _window(self) -> AlertFilter:
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start.isoformat()} is after end {self.end.isoformat()}")
        return self
