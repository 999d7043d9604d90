"""Is a run still being trained? Its owner process (``owners``), checked on this machine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from widedeep_core.owners import owner_alive
from widedeep_core.runs.schema import INTERRUPTED, LIVE_STATUSES


def effective_status(meta: Mapping[str, Any]) -> str:
    """Recorded status, or ``interrupted`` for a live-looking run whose owner is gone."""
    status = str(meta.get("status"))
    if status in LIVE_STATUSES and not owner_alive(meta):
        return INTERRUPTED
    return status
