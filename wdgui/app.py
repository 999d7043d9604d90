"""``wdgui`` entry point: parse the command line, set the app's identity, show the window."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``wdgui [--data PATH] [--runs-dir DIR]`` (Qt's own options are passed through)."""
    parser = argparse.ArgumentParser(
        prog="wdgui", description="Wide & Deep Workbench: train and compare recommenders."
    )
    parser.add_argument("--data", metavar="PATH", help="MovieLens folder or .zip to open at start")
    parser.add_argument(
        "--runs-dir",
        metavar="DIR",
        help="folder of the runs (default: $WIDEDEEP_RUNS_DIR or the user data folder)",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    args, _qt_args = parser.parse_known_args(argv)
    return args


def make_app(argv: Sequence[str] | None = None):
    """The QApplication with name, organisation, version and icon set (created once)."""
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtWidgets import QApplication

    import widedeep_core

    from .settings import APPLICATION, DISPLAY_NAME, ORGANIZATION, app_icon
    from .workers import responsive_gil, stop_all

    responsive_gil()
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(DISPLAY_NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(widedeep_core.__version__)
    app.setWindowIcon(app_icon())
    # quitting (last window closed, Ctrl+Q, a session ending) stops every worker thread
    app.aboutToQuit.connect(stop_all)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Start the workbench; returns the exit code of the event loop."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if args.version:
        import widedeep_core

        print(f"wdgui {widedeep_core.__version__}")
        return 0
    from .platform_check import platform_problem

    problem = platform_problem()
    if problem is not None:  # Qt would abort with its raw plugin message
        print(problem, file=sys.stderr)
        return 1
    app = make_app([sys.argv[0], *raw])
    from .main_window import MainWindow

    # PyTorch and the trainer load in a worker thread once the window is painted
    window = MainWindow(runs_dir=args.runs_dir, data_path=args.data, warm_up=True)
    window.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
