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


def test_small_steps_train_on_one_thread(monkeypatch, tmp_path, small_data):
    # a step of the seed's 16-16 MLP at batch 512 does not pay for a second thread;
    # full's 256-128 MLP does; WIDEDEEP_THREADS still decides when set
    from widedeep_core.config import preset
    from widedeep_core.features import prepare
    from widedeep_core.model import WideDeep
    from widedeep_core.training.trainer import step_threads

    def model(name):
        cfg = preset(name)
        return WideDeep.from_config(cfg, prepare(cfg, small_data).encoder.specs)

    assert step_threads(model("reference"), 512) == 1
    assert step_threads(model("full"), 1024) is None
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    with CoreShare(tmp_path) as share:
        share.cap = 1
        assert share.rebalance() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(threads.ENV, "3")
        assert share.rebalance() == 3


def test_the_slot_folder_can_be_private(monkeypatch, tmp_path):
    # a training elsewhere on the machine holds a slot in the shared folder; a process
    # pointed at its own folder does not count it
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.delenv(threads.SLOTS_ENV, raising=False)
    shared = threads.slot_dir()
    monkeypatch.setenv(threads.SLOTS_ENV, str(tmp_path / "mine"))
    assert threads.slot_dir() == tmp_path / "mine" != shared
    with CoreShare(tmp_path / "elsewhere"), CoreShare() as mine:
        assert mine.directory == tmp_path / "mine"
        assert mine.trainings() == 1 and mine.threads == 4


def test_a_process_cap_holds_through_every_rebalance(monkeypatch, tmp_path):
    # the app's "every core but one" and a sweep worker's share used to last only until
    # the trainer's next rebalance; now the trainer's share keeps to the cap
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    before = torch.get_num_threads()
    with threads.capped(3), CoreShare(tmp_path) as share:
        assert share.threads == 3 and share.rebalance() == 3
        with threads.capped(2):  # a tighter cap inside wins; a looser one cannot widen it
            assert share.rebalance() == 2
        with threads.capped(8):
            assert share.rebalance() == 3
        share.cap = 1  # a small step: one thread, under the cap
        assert share.rebalance() == 1
    assert threads.process_cap() is None and torch.get_num_threads() == before


def test_only_the_thread_policy_sets_torch_threads():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    callers = [
        p.relative_to(root).as_posix()
        for folder in ("widedeep_core", "wdgui")
        for p in (root / folder).rglob("*.py")
        if "set_num_threads(" in p.read_text(encoding="utf-8")
    ]
    assert callers == ["widedeep_core/threads.py"]
