"""Optimisers: FTRL-Proximal for the wide part, and torch's fused kernels for the rest.

FTRL-Proximal (McMahan et al., 2013, Algorithm 1), per coordinate i with gradient g:

    sigma = (sqrt(n + g^2) - sqrt(n)) / alpha
    z    += g - sigma * w
    n    += g^2
    w     = 0                                               if |z| <= l1
          = -(z - sign(z) * l1) / ((beta + sqrt(n)) / alpha + l2)   otherwise

so L1 gives exact zeros. A coordinate whose gradient is 0 keeps z, n and w, which makes
a dense step equal to the lazy sparse one; sparse gradients (``nn.Embedding(sparse=True)``)
update only the touched rows. On the first step z is set so that the closed form
reproduces the parameter's current value, so an initialised or warm-started model
continues from where it is (a zero-initialised one starts from z = 0, as in the paper).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from widedeep_core.constants import OPTIMIZERS
from widedeep_core.errors import ConfigError

if TYPE_CHECKING:
    from widedeep_core.config import Config

_FUSED_DEVICES = ("cpu", "cuda")


class FTRL(torch.optim.Optimizer):
    """FTRL-Proximal with per-coordinate learning rates, L1 and L2 (McMahan et al. 2013)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.1,
        beta: float = 1.0,
        l1: float = 0.0,
        l2: float = 0.0,
    ):
        for name, value, low in (("lr", lr, 0.0), ("beta", beta, 0.0)):
            if not value > low:
                raise ConfigError(name, f"FTRL needs {name} > {low}, got {value}")
        for name, value in (("l1", l1), ("l2", l2)):
            if not value >= 0.0:
                raise ConfigError(name, f"FTRL needs {name} >= 0, got {value}")
        super().__init__(params, {"lr": lr, "beta": beta, "l1": l1, "l2": l2})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One FTRL-Proximal update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            alpha, beta, l1, l2 = group["lr"], group["beta"], group["l1"], group["l2"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["n"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    # the z whose closed-form weight (with n = 0) is the current value
                    state["z"] = -p * (beta / alpha + l2) - torch.sign(p) * l1
                z, n = state["z"], state["n"]
                if p.grad.is_sparse:
                    self._sparse_step(p, p.grad, z, n, alpha, beta, l1, l2)
                else:
                    _ftrl_update(p, p.grad, z, n, alpha, beta, l1, l2)
        return loss

    @staticmethod
    def _sparse_step(
        p: torch.Tensor,
        grad: torch.Tensor,
        z: torch.Tensor,
        n: torch.Tensor,
        alpha: float,
        beta: float,
        l1: float,
        l2: float,
    ) -> None:
        g = grad.coalesce()
        if g.sparse_dim() != 1:
            _ftrl_update(p, g.to_dense(), z, n, alpha, beta, l1, l2)
            return
        rows = g.indices()[0]
        pr, zr, nr = p[rows], z[rows], n[rows]
        _ftrl_update(pr, g.values(), zr, nr, alpha, beta, l1, l2)
        p.index_copy_(0, rows, pr)
        z.index_copy_(0, rows, zr)
        n.index_copy_(0, rows, nr)


def _ftrl_update(
    w: torch.Tensor,
    g: torch.Tensor,
    z: torch.Tensor,
    n: torch.Tensor,
    alpha: float,
    beta: float,
    l1: float,
    l2: float,
) -> None:
    """In-place FTRL-Proximal step on dense tensors ``w``, ``z``, ``n``."""
    n_new = n + g * g
    sigma = (n_new.sqrt() - n.sqrt()) / alpha
    z.add_(g - sigma * w)
    n.copy_(n_new)
    denom = (beta + n.sqrt()) / alpha + l2
    w.copy_(torch.where(z.abs() <= l1, torch.zeros_like(z), -(z - torch.sign(z) * l1) / denom))


def _skip_dynamo_import() -> None:
    """Let ``torch.optim.Optimizer``'s methods run without importing ``torch._dynamo``.

    torch wraps ``add_param_group``, ``zero_grad`` and a few others in
    ``torch._compile._disable_dynamo``, which imports ``torch._dynamo`` on the first call
    (~2.6 CPU-s here, a quarter of a `fast` try) only to mark them "do not compile". We
    never compile optimisers, so we pre-fill the cache that wrapper consults with the
    plain function. Where the wrapper is not what we expect, nothing is changed.
    """
    for name in dir(torch.optim.Optimizer):
        fn = getattr(torch.optim.Optimizer, name, None)
        raw = getattr(fn, "__wrapped__", None)
        code = getattr(fn, "__code__", None)
        if raw is None or code is None or not code.co_filename.endswith("_compile.py"):
            continue
        if getattr(raw, "__dynamo_disable", None) is None:
            setattr(raw, "__dynamo_disable", raw)


def _fusable(params: list[Any]) -> bool:
    """Fused kernels need dense floating parameters on a CPU or CUDA device."""
    tensors = [t for g in params for t in (g["params"] if isinstance(g, dict) else [g])]
    return bool(tensors) and all(
        t.device.type in _FUSED_DEVICES and t.is_floating_point() for t in tensors
    )


def make_optimizer(
    name: str,
    params: Iterable[Any],
    lr: float,
    weight_decay: float = 0.0,
    **extra: Any,
) -> torch.optim.Optimizer:
    """An optimiser by name: adam, adamw, sgd, adagrad (fused where supported) or ftrl.

    ``extra`` passes options through (``momentum`` for sgd, ``betas`` for adam(w),
    ``beta``/``l1``/``l2`` for ftrl, whose ``l2`` defaults to ``weight_decay``).
    Create it after moving the model to its device: fused kernels are chosen by device.
    """
    key = str(name).lower()
    # Config validates name, lr and weight decay (config.validation); cheap guards here
    assert key in OPTIMIZERS, name
    assert lr > 0 and weight_decay >= 0, (lr, weight_decay)
    plist = list(params)
    if not plist:
        raise ConfigError("optimizer", "there are no parameters to optimise")
    _skip_dynamo_import()
    try:
        if key == "ftrl":
            extra.setdefault("l2", weight_decay)
            return FTRL(plist, lr=lr, **extra)
        cls = {
            "adam": torch.optim.Adam,
            "adamw": torch.optim.AdamW,
            "sgd": torch.optim.SGD,
            "adagrad": torch.optim.Adagrad,
        }[key]
        # fused kernels: one op per step for all parameters (at this model's size the
        # floor is per-step overhead); otherwise let torch pick foreach
        fused = _fusable(plist) if "fused" not in extra else extra.pop("fused")
        return cls(plist, lr=lr, weight_decay=weight_decay, fused=fused or None, **extra)
    except TypeError as exc:
        raise ConfigError("optimizer", f"bad option for {key}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError("optimizer", f"{key}: {exc}") from exc


def build_optimizers(model: nn.Module, cfg: Config) -> list[torch.optim.Optimizer]:
    """The optimisers of a ``WideDeep`` model described by ``cfg``.

    One optimiser over every parameter, unless ``cfg.wide_optimizer`` is set: then the
    wide part gets its own (as in the paper: FTRL with L1 on the wide part, AdaGrad on
    the deep part). FTRL takes its L1 and L2 from ``cfg.ftrl_l1`` and ``cfg.ftrl_l2``.
    """

    def extras(kind: str) -> dict[str, Any]:
        return {"l1": cfg.ftrl_l1, "l2": cfg.ftrl_l2} if kind == "ftrl" else {}

    opt, lr, wd = cfg.optimizer, cfg.lr, cfg.weight_decay
    if cfg.wide_optimizer is None or not hasattr(model, "wide_parameters"):
        return [make_optimizer(opt, model.parameters(), lr, wd, **extras(opt))]
    wide_opt, wide_lr = cfg.wide_optimizer_name, cfg.wide_learning_rate
    wide = list(model.wide_parameters())  # type: ignore[operator]
    deep = list(model.deep_parameters())  # type: ignore[operator]
    out = []
    if wide:
        out.append(make_optimizer(wide_opt, wide, wide_lr, wd, **extras(wide_opt)))
    if deep:
        out.append(make_optimizer(opt, deep, lr, wd, **extras(opt)))
    return out
