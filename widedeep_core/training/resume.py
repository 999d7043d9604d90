"""Resume points: everything an epoch loop needs to go on after its last finished epoch.

At the end of every epoch the trainer hands the recorder a *resume point* (the run
folder keeps it as ``resume.pt``): the model's weights, the optimisers' state (the
fused step's Adam moments, or each torch optimiser's ``state_dict``), the learning-rate
schedulers, the batch-order generator and torch's global generator (dropout), the
fixed batch order when the rows are not reshuffled, the early-stopping tracker, the
epoch rows so far and the training seconds. Restored into a loop built from the same
configuration and data, the next epochs run the same operations in the same order on
the same state: on one machine a resumed run gives the numbers of an uninterrupted one
(``tests/core/test_resume.py`` checks it bit for bit).

Only tensors, numbers, strings, lists and dicts: the file loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from widedeep_core.errors import RunError

RESUME_FORMAT = 1


def _cpu(obj: Any) -> Any:
    """``obj`` with every tensor copied to the CPU (nested dicts, lists and tuples)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, Mapping):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def step_state(train_step: Any, optimizers: Sequence[torch.optim.Optimizer]) -> dict[str, Any]:
    """The optimisers' state: the fused step's own (it keeps Adam's moments), else each
    torch optimiser's ``state_dict``."""
    # the optimisers' own state_dict also for the fused step: their param groups hold
    # the learning rate the schedulers set (the moments are empty there)
    state: dict[str, Any] = {"optimizers": [_cpu(o.state_dict()) for o in optimizers]}
    own = getattr(train_step, "state_dict", None)
    if callable(own):
        state["fused"] = _cpu(own())
    return state


def load_step_state(
    state: Mapping[str, Any], train_step: Any, optimizers: Sequence[torch.optim.Optimizer]
) -> None:
    """Put ``step_state``'s result back (the step and optimisers built as before)."""
    own = getattr(train_step, "load_state_dict", None)
    saved = state.get("optimizers") or []
    if callable(own) != ("fused" in state) or len(saved) != len(optimizers):
        raise RunError("the resume point's optimisers do not match this configuration's")
    for opt, sd in zip(optimizers, saved, strict=True):
        opt.load_state_dict(sd)
    if callable(own):
        own(state["fused"])


def make_point(
    *,
    epoch: int,
    step: int,
    weights: Mapping[str, torch.Tensor],
    optim: Mapping[str, Any],
    schedulers: Sequence[Any],
    generator: torch.Generator,
    perm: torch.Tensor | None,
    tracker: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    train_seconds: float,
) -> dict[str, Any]:
    """One resume point, after epoch ``epoch`` (its schedulers already stepped)."""
    point: dict[str, Any] = {
        "format": RESUME_FORMAT,
        "epoch": int(epoch),
        "step": int(step),
        "weights": dict(weights),
        "optim": dict(optim),
        "schedulers": [None if s is None else _cpu(s.state_dict()) for s in schedulers],
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "tracker": dict(tracker),
        "history": [dict(r) for r in history],
        "train_seconds": float(train_seconds),
    }
    if perm is not None:
        point["perm"] = perm.detach().to("cpu", copy=True)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        point["cuda_rng"] = torch.cuda.get_rng_state_all()
    return point


def check_point(point: Any, where: str) -> dict[str, Any]:
    """``point`` when it is a resume point this version reads, else a RunError."""
    need = ("epoch", "step", "weights", "optim", "schedulers", "generator", "tracker", "history")
    if not isinstance(point, dict) or point.get("format") != RESUME_FORMAT:
        raise RunError(f"{where}: not a resume point of this version (format {RESUME_FORMAT})")
    missing = [k for k in need if k not in point]
    if missing:
        raise RunError(f"{where}: the resume point lacks {', '.join(missing)}")
    return point


def restore_rng(point: Mapping[str, Any], generator: torch.Generator) -> None:
    """The batch-order generator and torch's global generators, as after the epoch."""
    generator.set_state(point["generator"])
    torch.set_rng_state(point["torch_rng"])
    cuda = point.get("cuda_rng")
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def restore_schedulers(point: Mapping[str, Any], schedulers: Sequence[Any]) -> None:
    saved = point["schedulers"]
    if len(saved) != len(schedulers):
        raise RunError("the resume point's schedulers do not match this configuration's")
    for sched, sd in zip(schedulers, saved, strict=True):
        if (sched is None) != (sd is None):
            raise RunError("the resume point's schedulers do not match this configuration's")
        if sched is not None:
            sched.load_state_dict(sd)
