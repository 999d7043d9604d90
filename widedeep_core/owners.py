"""Which process owns a thing (a run, a sweep trial, a cache temp file), and is it alive.

One record and one check for all of them: pid, host, the process's start time
(``/proc/<pid>/stat`` field 22, clock ticks since boot) and the kernel's boot id. A pid
alone is not enough: after a kill or a restart the id can be given to an unrelated
process, and a dead owner would look alive forever. Where start time and boot id are
unavailable (not Linux) the pid check stands alone. A record from another host is
never taken for alive here (a sweep's heartbeat covers workers on other machines).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any


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
    """The record that names this process as an owner (run.json keys, a trial's
    ``worker`` attribute, a cache temp file's name)."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "pid_start": process_start(pid),
        "boot_id": boot_id(),
    }


def owner_alive(meta: Mapping[str, Any]) -> bool:
    """True when the process an ``owner_fields`` record names is still alive here and is
    still that process (same boot, same start time)."""
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


__all__ = ["boot_id", "owner_alive", "owner_fields", "pid_alive", "process_start"]
