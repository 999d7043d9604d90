"""Before Qt starts: will it be able to open a window? If not, say what to install.

On a Linux desktop without the libraries of Qt's X11 (xcb) platform plugin, creating
the QApplication aborts with Qt's raw "could not load the Qt platform plugin" message.
This module finds the missing libraries first (``ldd`` on the plugin, else trying to
load each library Qt 6's plugin needs) and names the Debian/Ubuntu packages.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# Library (soname) -> the Debian/Ubuntu package that ships it: what libqxcb.so links.
XCB_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}
# Libraries Qt 6's xcb plugin needs but that ldd may not list (loaded at run time).
OPTIONAL_AT_LINK = ("libxcb-xinerama.so.0",)
NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def xcb_plugin() -> Path | None:
    """Path of PySide6's ``libqxcb.so``, None when it is not there."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.exists() else None


def _ldd(path: Path) -> str | None:
    """``ldd`` output for ``path``; None when ldd is missing or fails."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libraries(
    plugin: Path | None = None,
    ldd: Callable[[Path], str | None] = _ldd,
    loads: Callable[[str], bool] = _loads,
) -> list[str]:
    """The libraries Qt's xcb plugin needs and cannot find, in a stable order."""
    plugin = plugin if plugin is not None else xcb_plugin()
    listing = ldd(plugin) if plugin is not None else None
    if listing is not None:
        missing = list(dict.fromkeys(NOT_FOUND.findall(listing)))
    else:  # no ldd: try to load each library the plugin is known to need
        missing = [
            name for name in XCB_PACKAGES if name not in OPTIONAL_AT_LINK and not loads(name)
        ]
    return missing


def will_use_xcb(environ: Mapping[str, str]) -> bool:
    """True when Qt on Linux would pick its X11 plugin for this environment."""
    platform = environ.get("QT_QPA_PLATFORM", "").strip().lower()
    if platform:
        return platform.split(";")[0].startswith("xcb")
    wayland = environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY")
    return not wayland


def platform_problem(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    missing: Callable[[], list[str]] | None = None,
) -> str | None:
    """Every reason Qt cannot open a window here, each with its fix; None when none.

    ``platform`` defaults to ``sys.platform`` and ``missing`` to
    :func:`missing_xcb_libraries`, looked up when called.
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    missing = missing_xcb_libraries if missing is None else missing
    if not platform.startswith("linux") or not will_use_xcb(env):
        return None
    offscreen = "To run without a screen (a server, tests): QT_QPA_PLATFORM=offscreen wdgui"
    # every problem at once: fixing one must not only reveal the next
    problems: list[list[str]] = []
    libs = missing()
    if libs:
        packages = list(
            dict.fromkeys(XCB_PACKAGES.get(lib, f"(the package with {lib})") for lib in libs)
        )
        every = " ".join(
            dict.fromkeys(
                XCB_PACKAGES[lib]
                for lib in XCB_PACKAGES
                if lib.startswith("libxcb-") or "xkb" in lib
            )
        )
        problems.append(
            [
                "Qt's X11 (xcb) platform plugin needs libraries this system lacks:",
                f"  {', '.join(libs)}",
                "Install them (Debian/Ubuntu):",
                f"  sudo apt install {' '.join(packages)}",
                "Everything that plugin may need, in one go:",
                f"  sudo apt install {every}",
            ]
        )
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        problems.append(
            [
                "There is no display to open it on: neither DISPLAY nor WAYLAND_DISPLAY is"
                " set. Start it from a desktop session, or over ssh -X."
            ]
        )
    if not problems:
        return None
    if len(problems) == 1:
        lines = ["wdgui cannot open a window:", *problems[0]]
    else:
        lines = [f"wdgui cannot open a window, for {len(problems)} reasons:"]
        for i, block in enumerate(problems, 1):
            lines += [f"{i}. {block[0]}", *block[1:]]
    return "\n".join([*lines, offscreen])
