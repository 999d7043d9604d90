"""Named points in the code that writes files, where the fault-injection tests stop a process.

Production code calls ``checkpoint("cache.frames.rename")`` between the steps of a write;
with no hook installed (always, outside the tests) that is one global lookup. A test
installs a hook that kills the process (``os.kill(os.getpid(), SIGKILL)``), raises
``OSError(ENOSPC)`` or records the names, so a crash is reproduced at an exact step
instead of by timing luck. ``tests/faults/conftest.py`` builds its fixtures on this.
"""

from __future__ import annotations

from collections.abc import Callable

Hook = Callable[[str], None]
_hook: Hook | None = None


def checkpoint(name: str) -> None:
    """Give an installed fault hook the chance to act at the named point."""
    if _hook is not None:
        _hook(name)


def set_hook(hook: Hook | None) -> Hook | None:
    """Install ``hook`` (None removes it); returns the previous one so tests can restore it."""
    global _hook
    previous, _hook = _hook, hook
    return previous
