"""Is a run still being trained? Its owner process, checked on this machine.

A process id alone is not enough: after a kill or a restart the id can be given to an
unrelated process, and the run would look ``running`` forever. So the owner is also
recorded by its start time (``/proc/<pid>/stat`` field 22, clock ticks since boot) and
the kernel's boot id; where those are unavailable (not Linux) the pid check stands alone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from widedeep_core.fileio import pid_alive
from widedeep_core.runs.schema import INTERRUPTED, LIVE_STATUSES


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), or None when unknown."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ")"
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


def boot_id() -> str | None:
    """This boot's id (Linux), so a run from before a restart is not taken for a live one."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def owner_fields() -> dict[str, Any]:
    """The run.json keys that name this process as the run's owner."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "pid_start": process_start(pid),
        "boot_id": boot_id(),
    }


def owner_alive(meta: Mapping[str, Any]) -> bool:
    """True when the process named in run.json is still the one that owns the run."""
    pid = meta.get("pid")
    if meta.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    recorded_boot = meta.get("boot_id")
    if isinstance(recorded_boot, str) and recorded_boot != boot_id():
        return False  # written before a restart: every process of then is gone
    if not pid_alive(pid):
        return False
    recorded_start = meta.get("pid_start")
    if isinstance(recorded_start, int):
        now = process_start(pid)
        if now is not None and now != recorded_start:
            return False  # the id was given to another process since
    return True


def effective_status(meta: Mapping[str, Any]) -> str:
    """Recorded status, or ``interrupted`` for a live-looking run whose owner is gone."""
    status = str(meta.get("status"))
    if status in LIVE_STATUSES and not owner_alive(meta):
        return INTERRUPTED
    return status
