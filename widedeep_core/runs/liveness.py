"""Is a run still being trained? Its owner process, checked on this machine."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from widedeep_core.runs.schema import INTERRUPTED, LIVE_STATUSES


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this machine."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)  # signal 0 only checks existence on POSIX
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _pid_alive_windows(pid: int) -> bool:
    # os.kill on Windows would terminate the process, so ask the kernel instead.
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def owner_fields() -> dict[str, Any]:
    """The run.json keys that name this process as the run's owner."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def effective_status(meta: Mapping[str, Any]) -> str:
    """Recorded status, or ``interrupted`` for a live-looking run whose owner is gone."""
    status = str(meta.get("status"))
    if status in LIVE_STATUSES:
        pid = meta.get("pid")
        same_host = meta.get("host") == socket.gethostname()
        if not (same_host and isinstance(pid, int) and pid_alive(pid)):
            return INTERRUPTED
    return status
