"""The one Jinja filter that writes a time in the site's zone, for the report files and the dashboard pages."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import pass_context
from jinja2.runtime import Context


@pass_context
def site_time(ctx: Context, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``value`` in the template context's ``site_tz`` (UTC without one), formatted with ``fmt``; "-" for None."""
    return value.astimezone(ZoneInfo(ctx.get("site_tz") or "UTC")).strftime(fmt) if value else "-"
