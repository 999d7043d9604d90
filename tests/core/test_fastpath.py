"""The fused hand-written training step against autograd + the torch optimiser."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
import torch.nn.functional as F

from widedeep_core.features import Encoded, FieldSpec
from widedeep_core.model import WideDeep
from widedeep_core.training.fastpath import (
    FusedStep,
    ProjectedFirstLayer,
    autograd_step,
    make_train_step,
)
from widedeep_core.training.optim import make_optimizer

SPECS = [
    FieldSpec("user", 30),
    FieldSpec("item", 40),
    FieldSpec("gender", 3),
    FieldSpec("genres", 6, multi=True),
    FieldSpec("gender x genres", 9, multi=True),
]


def _data(n: int = 96, seed: int = 0) -> tuple[Encoded, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    single = torch.stack([torch.randint(0, s.size, (n,), generator=g) for s in SPECS[:3]], 1)
    genres = torch.randint(0, 6, (n, 3), generator=g)
    genres[:4] = 0  # rows without any genre: an empty bag
    cross = torch.randint(0, 9, (n, 3), generator=g)
    y = (torch.rand(n, generator=g) > 0.5).float()
    return Encoded(single, {"genres": genres, "gender x genres": cross}), y


ARCHS = {
    "reference": dict(wide=["user", "item"], deep=["user", "item"], hidden=(16, 16),
                      dropout=0.5, batch_norm=True, opt="adam", wd=1e-6),
    "full": dict(wide=[s.name for s in SPECS], deep=["user", "item", "gender", "genres"],
                 hidden=(32, 8), dropout=0.0, batch_norm=False, opt="adamw", wd=1e-6),
    "multi+bn": dict(wide=["genres", "gender x genres"], deep=["genres", "user"],
                     hidden=(8,), dropout=0.3, batch_norm=True, opt="adam", wd=0.0),
}  # fmt: skip


def _model(arch: dict) -> WideDeep:
    torch.manual_seed(0)
    m = WideDeep(SPECS, arch["wide"], arch["deep"], embed_dim=arch.get("dim", 4),
                 hidden=arch["hidden"], dropout=arch["dropout"],
                 batch_norm=arch["batch_norm"])  # fmt: skip
    with torch.no_grad():  # a non-zero wide part exercises its gradients from step one
        m.wide.embedding.weight.normal_(0, 0.1)
        m.wide.zero_pad()
    return m


def _paths(arch: dict, lr: float, batch_size: int | None = None):
    """Two copies of one model, (plain, fused, autograd step, fused step)."""
    a = _model(arch)
    b = copy.deepcopy(a)
    plain = autograd_step(a, [make_optimizer(arch["opt"], a.parameters(), lr, arch["wd"])])
    opt = make_optimizer(arch["opt"], b.parameters(), lr, arch["wd"])
    fused = make_train_step(b, [opt], batch_size=batch_size)
    assert isinstance(fused, FusedStep)
    return a, b, plain, fused


# How close two kernels of the same step can be. The fused step and autograd compute the
# same sums in another order (and with other vector widths on another CPU), so their
# float32 results differ by rounding: a few ulps per step (rtol 1e-5 after six steps).
# Only a run of one kernel on one machine is bit-for-bit repeatable
# (test_training.py checks that). One kind of parameter is special: a Linear bias in front
# of batch-norm. Batch-norm subtracts the batch mean, so its true gradient is 0 and what
# each kernel computes is rounding noise of ~1e-7; Adam divides by the root of its square
# and turns that noise into a step of up to ~lr in a direction the noise picks. Those
# biases (and the running means that follow them) may drift apart by up to ~lr a step
# without any effect on the loss, which the steps compare at rtol 1e-6.
RTOL, ATOL = 1e-5, 1e-6


def _feeds_batch_norm(model: WideDeep) -> set[str]:
    """State keys of the Linear biases in front of a BatchNorm, and that norm's mean."""
    keys: set[str] = set()
    layers = list(model.mlp) if model.mlp is not None else []
    for i, (a, b) in enumerate(itertools.pairwise(layers)):
        if isinstance(a, torch.nn.Linear) and isinstance(b, torch.nn.BatchNorm1d):
            keys |= {f"mlp.{i}.bias", f"mlp.{i + 1}.running_mean"}
    return keys


def _assert_same_state(a: WideDeep, b: WideDeep, lr: float, steps: int) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    noisy = _feeds_batch_norm(a)
    for k in sa:
        if k in noisy:  # see RTOL above: at most ~lr a step apart (2x for Adam's transient)
            assert (sa[k] - sb[k]).abs().max() <= 2 * lr * steps, k
        else:
            torch.testing.assert_close(sa[k], sb[k], rtol=RTOL, atol=ATOL, msg=k)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_fused_step_matches_autograd_and_torch_optimizer(name):
    x, y = _data()
    a, b, plain, fused = _paths(ARCHS[name], 1e-2)
    for s in range(6):
        rows = torch.arange(s * 16, s * 16 + 32) % len(y)
        torch.manual_seed(100 + s)  # the same dropout masks on both paths
        la = plain(x.take(rows), y[rows])
        torch.manual_seed(100 + s)
        lb = fused(x.take(rows), y[rows])
        torch.testing.assert_close(la, lb, rtol=1e-6, atol=1e-7)
    _assert_same_state(a, b, 1e-2, 6)
    # the pad rows stay exactly zero, so a fixed-width gather equals a masked bag
    for part in (b.wide, b.deep):
        if part is not None and part.pad is not None:
            assert torch.all(part.embedding.weight[part.pad] == 0)


def test_reference_step_tracks_autograd_within_rounding():
    # the seed's shape at its learning rate: the fused step is the same arithmetic as
    # autograd + torch's Adam up to summation order (RTOL above), step after step
    x, y = _data()
    a, b, plain, fused = _paths(ARCHS["reference"], 1e-3)
    for s in range(4):
        rows = torch.arange(s * 24, s * 24 + 24)
        torch.manual_seed(s)
        la = plain(x.take(rows), y[rows])
        torch.manual_seed(s)
        lb = fused(x.take(rows), y[rows])
        torch.testing.assert_close(la, lb, rtol=1e-6, atol=1e-7)
    _assert_same_state(a, b, 1e-3, 4)


def test_fused_step_repeats_bit_for_bit():
    # one kernel on one machine: the same seed gives the same numbers, exactly
    x, y = _data()
    states = []
    for _ in range(2):
        _, b, _, fused = _paths(ARCHS["reference"], 1e-3)
        for s in range(4):
            rows = torch.arange(s * 24, s * 24 + 24)
            torch.manual_seed(s)
            fused(x.take(rows), y[rows])
        states.append(b.state_dict())
    for k, v in states[0].items():
        assert torch.equal(v, states[1][k]), k


# batch 32, embeddings of 8: fields of fewer than 32 * 8 / 40 = 6.4 rows are projected
# (gender 3, genres 6; not gender x genres 9, user 30 or item 40)
_DIM8 = {name: dict(arch, dim=8) for name, arch in ARCHS.items()}
PROJECTIONS = {
    "full": (_DIM8["full"], ["gender", "genres"]),
    "multi+bn": (_DIM8["multi+bn"], ["genres"]),
    # every deep field projected: no plain product at all
    "all projected": (dict(_DIM8["full"], deep=["gender", "genres"]), ["gender", "genres"]),
    # a multi-valued field too large to project next to a projected single one
    "direct multi": (dict(_DIM8["full"], deep=["gender", "item", "gender x genres"]), ["gender"]),
}


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_projected_first_layer_gives_autograds_gradients(name):
    arch, projected = PROJECTIONS[name]
    x, y = _data()
    rows = torch.arange(32)
    a = _model(arch)
    b = copy.deepcopy(a)
    torch.manual_seed(7)
    loss = F.binary_cross_entropy_with_logits(a(x.take(rows)), y[rows])
    loss.backward()
    # the step's gradient buffer keeps the gradients it computed before its update
    fused = make_train_step(b, [make_optimizer(arch["opt"], b.parameters(), 1e-3)], batch_size=32)
    assert isinstance(fused, FusedStep) and fused.first is not None
    assert fused.first.projected == projected
    torch.manual_seed(7)  # the same dropout mask
    torch.testing.assert_close(fused(x.take(rows), y[rows]), loss.detach(), rtol=1e-6, atol=1e-7)
    # atol: a bias in front of batch-norm has a true gradient of 0, float noise of ~1e-7
    for (k, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(fused.grad_of(pb), pa.grad, rtol=1e-5, atol=1e-6, msg=k)


def test_projected_steps_track_the_autograd_path():
    # several AdamW steps: the weights stay within float rounding of the plain path
    x, y = _data()
    a, b, plain, fused = _paths(_DIM8["full"], 1e-2, batch_size=32)
    assert fused.first is not None
    for s in range(6):
        rows = torch.arange(s * 16, s * 16 + 32) % len(y)
        torch.testing.assert_close(plain(x.take(rows), y[rows]), fused(x.take(rows), y[rows]))
    _assert_same_state(a, b, 1e-2, 6)


def test_projection_only_for_fields_with_fewer_rows_than_columns():
    m = _model(_DIM8["full"])
    assert ProjectedFirstLayer.fields(m.deep, 32) == ["gender", "genres"]
    assert ProjectedFirstLayer.fields(m.deep, 4) == []  # 3 * (4 + 8) > 4 * 8
    assert ProjectedFirstLayer.fields(_model(ARCHS["full"]).deep, 32) == ["gender"]  # dim 4
    ref = _model(_DIM8["reference"])
    step = make_train_step(ref, [make_optimizer("adam", ref.parameters(), 1e-3)], batch_size=32)
    assert step.first is None  # user and item (30 and 40 rows) exceed their 8 columns
    # fast's shape on ML-100K: 944 users against embeddings of 16, at batch 4096
    users = WideDeep([FieldSpec("user", 944), FieldSpec("item", 1683)], ["user"],
                     ["user", "item"], embed_dim=16, hidden=(64,))  # fmt: skip
    assert ProjectedFirstLayer.fields(users.deep, 4096) == []


def test_gather_pooling_equals_embedding_bag():
    m = _model(ARCHS["full"])
    x, _ = _data()
    part = m.deep
    ids = part.multi_ids(x, "genres")
    bag = F.embedding_bag(ids, part.embedding.weight, mode="mean", padding_idx=part.pad)
    got = m.deep_input(x)[:, -4:]
    torch.testing.assert_close(got, bag, rtol=1e-6, atol=1e-7)
    w = m.wide
    expected = m.wide_bias + sum(
        F.embedding_bag(w.multi_ids(x, n), w.embedding.weight, mode="sum", padding_idx=w.pad)
        .squeeze(1) for n in w.multis
    ) + F.embedding(w.single_ids(x), w.embedding.weight).sum((1, 2))  # fmt: skip
    torch.testing.assert_close(m.wide_logit(x), expected, rtol=1e-6, atol=1e-6)


def test_unsupported_setups_fall_back_to_autograd():
    m = _model(ARCHS["reference"])
    assert FusedStep.unsupported(m, [make_optimizer("sgd", m.parameters(), 0.1)]) is not None
    adam = make_optimizer("adam", m.parameters(), 1e-3, fused=False)
    assert FusedStep.unsupported(m, [adam]) is not None
    assert not isinstance(make_train_step(m, [adam]), FusedStep)
    g = WideDeep(SPECS, ["user"], ["user"], activation="gelu")
    assert FusedStep.unsupported(g, [make_optimizer("adam", g.parameters(), 1e-3)]) is not None
