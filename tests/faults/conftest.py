"""Fault-injection fixtures: stop a process at a named write step, fill a small disk.

``faults`` (a ``FaultRunner``): runs Python snippets in processes forked from one warm
interpreter (imports paid once), each optionally SIGKILLed by itself when the code reaches
``widedeep_core.faultpoints.checkpoint(<point>)``; deterministic, no timing involved.

    faults.points(body, prelude=..., env=...)     -> ["cache.frames.tmpdir", ...] in order
    faults.kill_at(points, body, prelude=..., env=..., record=False)
                                                  -> {point: exit status}; -9 = killed
                                                     there, 0 = the point was never reached;
                                                     record=True: a clean run first, its
                                                     points in faults.last_points
    faults.run_parallel(bodies, prelude=..., env=...) -> [exit status, ...] (started together,
                                                     released by one barrier)

``body`` and ``prelude`` are source text; ``prelude`` runs once in the parent (imports,
shared setup; it must not start threads, e.g. no pyarrow reads, since children are forked),
``body`` in each child with the globals of ``prelude`` plus ``POINT`` (the kill point or
None), ``TARGET`` (the point as given to ``kill_at``, ``"name#2"`` included) and ``INDEX``
(the job's index). A child that raises prints the error to stderr and
exits 1; ``FaultRunner.last_stderr`` keeps it for the assertion message.

``small_disk`` (a ``SmallDisk``): a 2 MB tmpfs mounted for the test (we run as root, CI too).
Where mounting is refused (or ``$WIDEDEEP_TEST_NO_MOUNT`` is set) it falls back to injection:
``disk.mounted`` is False and ``disk.no_space_at(*points)`` installs a hook raising
``OSError(ENOSPC)`` at those points (in this process; for children pass
``disk.inject_prelude(*points)`` as a prelude).
``disk.fill(leave=n)`` leaves about ``n`` free bytes, ``disk.free()`` removes the filler.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from widedeep_core import faultpoints

ROOT = Path(__file__).resolve().parents[2]

_DRIVER = r"""
import json, os, signal, sys
from widedeep_core import faultpoints

spec = json.loads(sys.stdin.read())
shared = {"__name__": "__faults__"}
exec(spec["prelude"], shared)
barrier_r, barrier_w = os.pipe()


def child(index, job):
    index = -1 if job.get("record") else index
    ns = dict(shared, POINT=job.get("point"), TARGET=job.get("target"), INDEX=index)
    point, nth, seen = job.get("point"), job.get("nth", 1), [0]
    prior = faultpoints.set_hook(None)  # e.g. an injected ENOSPC from the prelude: kept

    def hook(name):
        if job.get("record"):
            print("POINT", name, flush=True)
        if name == point:
            seen[0] += 1
            if seen[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        if prior is not None:
            prior(name)

    faultpoints.set_hook(hook)
    if spec["parallel"]:
        os.read(barrier_r, 1)  # everybody starts when the parent releases the barrier
    exec(spec["body"], ns)


statuses, pids = [], []
for index, job in enumerate(spec["jobs"]):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            child(index, job)
        except BaseException as exc:
            print(f"job {index}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            code = 1
        sys.stdout.flush()
        os._exit(code)
    if spec["parallel"]:
        pids.append(pid)
    else:
        statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
if spec["parallel"]:
    os.write(barrier_w, b"x" * len(pids))
    statuses = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
print("STATUSES", json.dumps(statuses), flush=True)
"""


@dataclass
class FaultRunner:
    """Runs snippets in forked children of one warm interpreter; see the module docstring."""

    timeout: float = 180.0
    last_stderr: str = ""
    last_stdout: str = ""
    last_points: list[str] = field(default_factory=list)

    def _run(self, body: str, prelude: str, jobs: list[dict], parallel: bool, env) -> list[int]:
        spec = {
            "prelude": textwrap.dedent(prelude),
            "body": textwrap.dedent(body),
            "jobs": jobs,
            "parallel": parallel,
        }
        # One torch thread: with two, the warm-up in the parent starts an intra-op pool
        # that forked children deadlock on (the core share gives a lone training every
        # core, so this depended on what else ran on the machine).
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "WIDEDEEP_THREADS": "1", **(env or {})}
        proc = subprocess.Popen(
            [sys.executable, "-c", _DRIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=full_env,
            start_new_session=True,  # a timeout ends the driver and every child together
        )
        try:
            out, err = proc.communicate(json.dumps(spec), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"fault driver timed out; stderr:\n{err}") from None
        self.last_stdout, self.last_stderr = out, err
        lines = [ln for ln in out.splitlines() if ln.startswith("STATUSES ")]
        if proc.returncode != 0 or not lines:
            raise AssertionError(f"fault driver failed ({proc.returncode}):\n{err}")
        return json.loads(lines[-1].split(" ", 1)[1])

    def points(self, body: str, *, prelude: str = "", env: dict | None = None) -> list[str]:
        """The checkpoint names ``body`` reaches, in order (a clean run, nothing killed)."""
        (status,) = self._run(body, prelude, [{"record": True}], False, env)
        assert status == 0, self.last_stderr
        return [ln.split(" ", 1)[1] for ln in self.last_stdout.splitlines() if ln[:6] == "POINT "]

    def kill_at(
        self,
        points: Iterable[str],
        body: str,
        *,
        prelude: str = "",
        env: dict | None = None,
        record: bool = False,
    ) -> dict[str, int]:
        """Run ``body`` once per point, SIGKILLed at its first ``checkpoint(point)``.

        A point written ``"name#2"`` kills at its second occurrence. ``record`` first runs
        ``body`` once to the end (``INDEX`` -1), keeping the points it reaches in
        ``last_points``: the same as ``points()``, without starting a second interpreter.
        """
        points = list(points)
        jobs = [{"record": True}] if record else []
        for p in points:
            name, _, nth = p.partition("#")
            jobs.append({"point": name, "nth": int(nth or 1), "target": p})
        statuses = self._run(body, prelude, jobs, False, env)
        if record:
            assert statuses.pop(0) == 0, self.last_stderr
            self.last_points = [
                ln.split(" ", 1)[1] for ln in self.last_stdout.splitlines() if ln[:6] == "POINT "
            ]
        return dict(zip(points, statuses, strict=True))

    def run_parallel(
        self, n: int, body: str, *, prelude: str = "", env: dict | None = None
    ) -> list[int]:
        """Run ``body`` in ``n`` children released together; their exit statuses."""
        return self._run(body, prelude, [{} for _ in range(n)], True, env)


@pytest.fixture
def faults() -> FaultRunner:
    """A FaultRunner (kill at a named point, record points, run in parallel)."""
    return FaultRunner()


@dataclass
class SmallDisk:
    """A small file system for full-disk tests: a real tmpfs, or injected ENOSPC."""

    path: Path
    mounted: bool
    size: int
    _filler: list[Path] = field(default_factory=list)

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Write a filler file so that about ``leave`` bytes stay free (tmpfs only)."""
        if not self.mounted:
            return
        filler = self.path / f".filler-{len(self._filler)}"
        self._filler.append(filler)
        want = max(self.free_bytes() - leave, 0)
        with open(filler, "wb") as fh, contextlib.suppress(OSError):
            fh.write(b"\0" * want)

    def free(self) -> None:
        """Remove the filler files (the disk has room again)."""
        for f in self._filler:
            f.unlink(missing_ok=True)
        self._filler.clear()

    @contextlib.contextmanager
    def no_space_at(self, *points: str) -> Iterator[None]:
        """Injected mode: raise ENOSPC at the named checkpoints in this process; tmpfs: no-op."""
        if self.mounted:
            yield
            return

        def hook(name: str) -> None:
            if name in points:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        previous = faultpoints.set_hook(hook)
        try:
            yield
        finally:
            faultpoints.set_hook(previous)

    def inject_prelude(self, *points: str) -> str:
        """Prelude text installing the same ENOSPC hook in a child (empty when mounted)."""
        if self.mounted:
            return ""
        return (
            "import errno, os\nfrom widedeep_core import faultpoints\n"
            f"def _nospace(name, _p={points!r}):\n"
            "    if name in _p: raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
            "faultpoints.set_hook(_nospace)\n"
        )


@pytest.fixture
def small_disk(tmp_path) -> Iterator[SmallDisk]:
    """A 2 MB tmpfs at ``tmp_path/disk``; injected ENOSPC where mounting is not permitted."""
    where = tmp_path / "disk"
    where.mkdir()
    size = 2 * 1024 * 1024
    if sys.platform != "linux":
        pytest.skip("small-disk tests need Linux (tmpfs or the injected ENOSPC hook)")
    # $WIDEDEEP_TEST_NO_MOUNT exercises the injected fallback
    mounted = not os.environ.get("WIDEDEEP_TEST_NO_MOUNT") and _mount_tmpfs(where, size)
    disk = SmallDisk(where, mounted, size)
    try:
        yield disk
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def _mount_tmpfs(where: Path, size: int) -> bool:
    try:
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def pytest_collection_modifyitems(items):
    """Every test under tests/faults carries the ``faults`` marker."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.faults)
