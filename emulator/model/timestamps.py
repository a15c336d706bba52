"""Times as Azure writes them: ISO 8601 in UTC, with microseconds and an explicit offset."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def iso_time(timestamp: float | None = None) -> str:
    """``2026-12-02T13:25:41.123456+00:00`` for ``timestamp`` (default: now)."""
    moment = time.time() if timestamp is None else timestamp
    return datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="microseconds")
