"""FTRL-Proximal against the per-coordinate update written out by hand; optimiser factory."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from widedeep_core.config import Config
from widedeep_core.errors import ConfigError
from widedeep_core.features import FieldSpec
from widedeep_core.model import WideDeep
from widedeep_core.training.optim import FTRL, build_optimizers, make_optimizer


def _ftrl_by_hand(w0, grads, alpha, beta, l1, l2):
    """McMahan et al. 2013, Algorithm 1, one coordinate at a time in plain Python."""
    w = list(w0)
    # z chosen so that the closed form with n = 0 gives the starting weight
    z = [-wi * (beta / alpha + l2) - math.copysign(l1, wi) * (wi != 0) for wi in w]
    n = [0.0] * len(w)
    history = []
    for g in grads:
        for i, gi in enumerate(g):
            sigma = (math.sqrt(n[i] + gi * gi) - math.sqrt(n[i])) / alpha
            z[i] += gi - sigma * w[i]
            n[i] += gi * gi
            if abs(z[i]) <= l1:
                w[i] = 0.0
            else:
                sign = 1.0 if z[i] > 0 else -1.0
                w[i] = -(z[i] - sign * l1) / ((beta + math.sqrt(n[i])) / alpha + l2)
        history.append(list(w))
    return history


@pytest.mark.parametrize(
    ("w0", "l1", "l2"),
    [
        ([0.0, 0.0, 0.0, 0.0], 0.0, 0.0),
        ([0.0, 0.0, 0.0, 0.0], 0.3, 0.1),
        ([0.5, -1.0, 0.0, 2.0], 0.2, 0.5),
    ],
)
def test_ftrl_matches_the_algorithm_by_hand(w0, l1, l2):
    g = torch.Generator().manual_seed(1)
    grads = (torch.randn(6, 4, generator=g, dtype=torch.float64)).tolist()
    grads[2][1] = 0.0  # a coordinate without gradient keeps its weight
    alpha, beta = 0.2, 1.0
    p = nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = FTRL([p], lr=alpha, beta=beta, l1=l1, l2=l2)
    expected = _ftrl_by_hand(w0, grads, alpha, beta, l1, l2)
    for step, gr in enumerate(grads):
        p.grad = torch.tensor(gr, dtype=torch.float64)
        opt.step()
        assert p.detach().tolist() == pytest.approx(expected[step], abs=1e-12)


def test_ftrl_l1_gives_exact_zeros():
    p = nn.Parameter(torch.zeros(100))
    opt = FTRL([p], lr=0.1, l1=5.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        p.grad = torch.randn(100, generator=g) * 0.5
        opt.step()
    # |z| stays below l1 for most coordinates: their weight is exactly zero
    assert int((p == 0).sum()) > 50
    z = opt.state[p]["z"]
    assert torch.all((p == 0) == (z.abs() <= 5.0))


def test_ftrl_sparse_gradients_equal_dense_ones():
    torch.manual_seed(0)
    dense = nn.Embedding(10, 3)
    sparse = nn.Embedding(10, 3, sparse=True)
    sparse.weight.data.copy_(dense.weight.data)
    opt_d = FTRL(dense.parameters(), lr=0.3, l1=0.01, l2=0.1)
    opt_s = FTRL(sparse.parameters(), lr=0.3, l1=0.01, l2=0.1)
    for step in range(4):
        ids = torch.tensor([[1, 4, 4], [7, 1, step]])
        for emb, opt in ((dense, opt_d), (sparse, opt_s)):
            opt.zero_grad()
            (emb(ids) * torch.arange(3.0)).sum().backward()
            opt.step()
        torch.testing.assert_close(sparse.weight, dense.weight)
    assert sparse.weight.grad.is_sparse


def test_ftrl_learns_a_logistic_regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 5, generator=g)
    y = (x @ torch.tensor([2.0, -1.0, 0.0, 0.0, 1.0]) > 0).float()
    w = nn.Parameter(torch.zeros(5))
    opt = FTRL([w], lr=0.5, l1=0.5)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(x @ w, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert w[0] > 0 and w[1] < 0 and w[4] > 0


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "adagrad", "ftrl", "Adam"])
def test_make_optimizer_builds_each_kind(name):
    model = nn.Linear(4, 1)
    opt = make_optimizer(name, model.parameters(), 0.01, 1e-4)
    expected = {
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "sgd": torch.optim.SGD,
        "adagrad": torch.optim.Adagrad,
        "ftrl": FTRL,
    }[name.lower()]
    assert type(opt) is expected
    if name.lower() != "ftrl":
        assert opt.defaults["fused"] is True  # fused kernels on CPU in torch >= 2.4
        assert opt.defaults["weight_decay"] == 1e-4
    else:
        assert opt.defaults["l2"] == 1e-4
    model(torch.ones(2, 4)).sum().backward()
    opt.step()


def test_make_optimizer_errors_name_the_field():
    params = list(nn.Linear(2, 1).parameters())
    for args in [("rmsprop", params, 0.1), ("adam", params, 0.0), ("adam", params, 0.1, -1.0)]:
        with pytest.raises(AssertionError):  # Config validates these; cheap guards here
            make_optimizer(*args)
    cases = [
        (("adam", [], 0.1), {}, "optimizer"),
        (("sgd", params, 0.1), {"colour": 3}, "optimizer"),
        (("ftrl", params, 0.1), {"l1": -1.0}, "l1"),
    ]
    for args, kw, field in cases:
        with pytest.raises(ConfigError) as err:
            make_optimizer(*args, **kw)
        assert err.value.field == field


def test_build_optimizers_for_the_parts():
    specs = [FieldSpec("user", 5), FieldSpec("item", 6)]
    model = WideDeep(specs, ["user", "item"], ["user", "item"], hidden=(4,))
    one = build_optimizers(model, Config(optimizer="adam", lr=1e-3, weight_decay=0.0))
    assert len(one) == 1
    cfg = Config(optimizer="adagrad", lr=0.05, weight_decay=0.0, wide_optimizer="ftrl", ftrl_l1=0.1)
    wide_opt, deep_opt = build_optimizers(model, cfg)
    assert isinstance(wide_opt, FTRL) and wide_opt.defaults["l1"] == 0.1
    assert isinstance(deep_opt, torch.optim.Adagrad)
    wide_ids = {id(p) for p in model.wide_parameters()}
    assert {id(p) for p in wide_opt.param_groups[0]["params"]} == wide_ids
