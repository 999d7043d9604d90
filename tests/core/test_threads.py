"""Each training takes its share of the cores: the env override and the slot count."""

from __future__ import annotations

import torch

from widedeep_core import threads
from widedeep_core.threads import CoreShare, thread_share, usable_cores


def test_env_variable_fixes_the_threads(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert thread_share(8) == 3
    monkeypatch.setenv(threads.ENV, "zero")
    assert thread_share(1) == usable_cores()


def test_concurrent_trainings_split_the_cores(monkeypatch, tmp_path):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    before = torch.get_num_threads()
    with CoreShare(tmp_path) as first:
        assert first.trainings() == 1 and first.threads == 4
        with CoreShare(tmp_path) as second:
            assert second.threads == 2
            assert first.rebalance() == 2  # the first steps down at its next epoch
        assert first.rebalance() == 4  # and back up once the second has finished
    assert torch.get_num_threads() == before  # the caller's setting comes back


def test_importing_the_thread_share_does_not_load_torch():
    import subprocess
    import sys

    code = (
        "import sys; from widedeep_core.threads import thread_share; thread_share(2); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
