"""``wdgui`` before Qt starts: every reason it cannot open a window, at once."""

from __future__ import annotations

import pytest

from wdgui.platform_check import platform_problem


def test_missing_libraries_and_no_display_are_both_reported():
    text = platform_problem({}, "linux", missing=lambda: ["libxcb-cursor.so.0"])
    assert text is not None
    assert "for 2 reasons" in text
    assert "libxcb-cursor.so.0" in text and "sudo apt install libxcb-cursor0" in text
    assert "no display" in text and "DISPLAY" in text
    assert text.index("1. ") < text.index("libxcb-cursor.so.0") < text.index("2. ")
    assert text.rstrip().endswith("QT_QPA_PLATFORM=offscreen wdgui")


@pytest.mark.parametrize(
    ("environ", "missing", "present", "absent"),
    [
        ({"DISPLAY": ":0"}, ["libxcb-cursor.so.0"], "libxcb-cursor0", "no display"),
        ({}, [], "no display", "apt install"),
    ],
)
def test_one_problem_is_reported_alone(environ, missing, present, absent):
    text = platform_problem(environ, "linux", missing=lambda: missing)
    assert present in text and absent not in text and "reasons" not in text


def test_wdgui_without_libraries_and_display_names_both(monkeypatch, capsys):
    import wdgui.platform_check as pc
    from wdgui.app import main

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pc.sys, "platform", "linux")
    monkeypatch.setattr(pc, "missing_xcb_libraries", lambda: ["libxcb-icccm.so.4"])
    assert main([]) == 1  # before any QApplication: Qt would abort with its raw message
    err = capsys.readouterr().err
    assert "sudo apt install libxcb-icccm4" in err and "no display" in err
