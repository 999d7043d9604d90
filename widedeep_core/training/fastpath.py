"""The training step: a hand-written forward/backward with one fused Adam, or autograd.

A seed-sized step (batch 512, MLP 16-16) is ~2 MFLOP, far below what per-op framework
overhead costs: autograd builds and walks a graph of ~40 nodes, and the optimiser loops
over 11 parameter tensors. For the common case (ReLU MLP, optional batch-norm and
dropout, one Adam/AdamW) ``FusedStep`` instead

- keeps every parameter as a view into ONE flat buffer (so are the gradients), so a
  step zeroes one tensor and calls ONE fused Adam/AdamW kernel;
- runs the forward without autograd and the backward by hand, with exactly the ops
  autograd would run (``addmm``/``mm`` in the same orientation, ``native_batch_norm``
  and its backward, ``threshold_backward``, the dropout mask drawn with the same
  ``rand_like`` call, ``index_add_`` into the tables, the pad row's gradient dropped).

The arithmetic is the same as ``model(x)`` + ``BCEWithLogitsLoss`` + ``loss.backward()``
+ the fused optimiser's ``step()``; ``tests/core/test_fastpath.py`` checks the weights
after several steps against that path. Anything else (FTRL, AdaGrad, SGD, two
optimisers, other activations, AMP) takes ``autograd_step``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from widedeep_core.features.encoder import Encoded
from widedeep_core.model.widedeep import FastDropout, WideDeep, _Part

StepFn = Callable[[Encoded, torch.Tensor], torch.Tensor]


def make_train_step(
    model: nn.Module,
    optimizers: Sequence[torch.optim.Optimizer],
    *,
    amp: bool = False,
    fused: bool = True,
) -> StepFn:
    """One training step ``step(x, y) -> detached loss``: the fused hand-written step
    where the model and optimiser allow it (``fused``), else the autograd one."""
    if fused and FusedStep.unsupported(model, optimizers, amp) is None:
        assert isinstance(model, WideDeep)
        return FusedStep(model, optimizers[0])
    return autograd_step(model, optimizers, amp=amp)


def autograd_step(
    model: nn.Module, optimizers: Sequence[torch.optim.Optimizer], *, amp: bool = False
) -> StepFn:
    """The plain step: forward, ``BCEWithLogitsLoss``, ``backward``, every optimiser."""
    loss_fn = nn.BCEWithLogitsLoss()

    def step(x: Encoded, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(y.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        return loss.detach()

    return step


class FusedStep:
    """Forward, hand-written backward and one fused Adam(W) over a flat buffer."""

    @staticmethod
    def unsupported(
        model: nn.Module, optimizers: Sequence[torch.optim.Optimizer], amp: bool = False
    ) -> str | None:
        """Why the fused step cannot train this model (None when it can)."""
        if not isinstance(model, WideDeep):
            return "not a WideDeep model"
        if amp:
            return "mixed precision"
        if model.dense_in is not None:
            return "dense retrieval features (a two-stage model)"
        if len(optimizers) != 1:
            return "more than one optimiser"
        opt = optimizers[0]
        if type(opt) not in (torch.optim.Adam, torch.optim.AdamW):
            return f"optimiser {type(opt).__name__}"
        if len(opt.param_groups) != 1 or opt.state:
            return "optimiser with several groups or existing state"
        group = opt.param_groups[0]
        if not group.get("fused") or group.get("amsgrad") or group.get("maximize"):
            return "optimiser is not the plain fused kernel"
        if group.get("differentiable") or group.get("capturable"):
            return "differentiable or capturable optimiser"
        params = list(group["params"])
        if {id(p) for p in params} != {id(p) for p in model.parameters()} or len(params) != len(
            list(model.parameters())
        ):
            return "the optimiser does not hold exactly the model's parameters"
        if len({(p.device, p.dtype) for p in params}) != 1:
            return "parameters on several devices or dtypes"
        if model.mlp is not None and _mlp_plan(model.mlp) is None:
            return "MLP layers other than Linear, BatchNorm1d, ReLU, dropout"
        return None

    def __init__(self, model: WideDeep, optimizer: torch.optim.Optimizer):
        self.model = model
        self.optimizer = optimizer
        self.adamw = isinstance(optimizer, torch.optim.AdamW)
        params = list(optimizer.param_groups[0]["params"])
        ref = params[0]
        sizes = [p.numel() for p in params]
        self.flat = torch.cat([p.detach().reshape(-1) for p in params])
        self.flat_grad = torch.zeros_like(self.flat)
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.steps = torch.zeros((), dtype=torch.float32, device=ref.device)
        grads: dict[int, torch.Tensor] = {}
        start = 0
        for p, n in zip(params, sizes, strict=True):
            # the model's parameters become views of the flat buffer: evaluation and
            # state_dict() see every update without a copy
            p.data = self.flat[start : start + n].view_as(p)
            grads[id(p)] = self.flat_grad[start : start + n].view_as(p)
            start += n
        self._grad = grads
        self.plan = _mlp_plan(model.mlp) if model.mlp is not None else []
        self.loss_fn = nn.BCEWithLogitsLoss()  # looked up here: tests inject faults into it

    def grad_of(self, p: torch.Tensor) -> torch.Tensor:
        """The gradient view of parameter ``p`` inside the flat gradient buffer."""
        return self._grad[id(p)]

    @torch.no_grad()
    def __call__(self, x: Encoded, y: torch.Tensor) -> torch.Tensor:
        """One step on the batch ``(x, y)``; returns the detached mean loss."""
        m = self.model
        b = len(x)
        wide_in = deep_in = None
        wide = deep = None
        if m.wide is not None:
            assert m.wide_bias is not None
            wide_in = m.wide.row_ids(x)
            rows = m.wide.embedding.weight.index_select(0, wide_in.reshape(-1))
            wide = m.wide_bias.expand(b) + rows.reshape(b, -1, 1).sum((1, 2))
        if m.deep is not None:
            deep_in = _deep_forward(m.deep, x)
            h = deep_in[0]
            saved: list[tuple] = []
            for kind, layer in self.plan:
                saved.append((kind, layer, h))
                if kind == "linear":
                    h = torch.addmm(layer.bias, h, layer.weight.t())
                elif kind == "bn":
                    layer.num_batches_tracked.add_(1)
                    h, mean, invstd = torch.native_batch_norm(
                        h, layer.weight, layer.bias, layer.running_mean, layer.running_var,
                        True, layer.momentum, layer.eps,
                    )  # fmt: skip
                    saved[-1] = (kind, layer, saved[-1][2], mean, invstd)
                elif kind == "relu":
                    h = torch.relu(h)
                    saved[-1] = (kind, layer, h)
                else:  # dropout, drawn as FastDropout draws it
                    mask = torch.rand_like(h).ge_(layer.p).mul_(1.0 / (1.0 - layer.p))
                    h = h * mask
                    saved[-1] = (kind, layer, mask)
            deep = h.squeeze(1)
        if wide is None:
            logits = deep
        elif deep is None:
            logits = wide
        else:
            logits = wide + deep
        assert logits is not None
        loss = self.loss_fn(logits, y)

        # backward: d loss / d logits of the mean BCE, as autograd computes it
        g = (torch.sigmoid(logits) - y).div_(b)
        self.flat_grad.zero_()
        if m.wide is not None:
            assert m.wide_bias is not None and wide_in is not None
            self.grad_of(m.wide_bias).copy_(g.sum(0, keepdim=True))
            _scatter_into(self.grad_of(m.wide.embedding.weight), wide_in, g[:, None, None]
                          .expand(b, wide_in.shape[1], 1), m.wide.pad)  # fmt: skip
        if m.deep is not None:
            assert deep_in is not None
            gh = g[:, None]
            for entry in reversed(saved):
                kind, layer = entry[0], entry[1]
                if kind == "linear":
                    inp = entry[2]
                    self.grad_of(layer.weight).copy_(gh.t().mm(inp))
                    self.grad_of(layer.bias).copy_(gh.sum(0))
                    gh = gh.mm(layer.weight)
                elif kind == "bn":
                    inp, mean, invstd = entry[2], entry[3], entry[4]
                    gh, gw, gb = torch.ops.aten.native_batch_norm_backward(
                        gh, inp, layer.weight, layer.running_mean, layer.running_var,
                        mean, invstd, True, layer.eps, [True, True, True],
                    )  # fmt: skip
                    self.grad_of(layer.weight).copy_(gw)
                    self.grad_of(layer.bias).copy_(gb)
                elif kind == "relu":
                    gh = torch.ops.aten.threshold_backward(gh, entry[2], 0)
                else:
                    gh = gh * entry[2]
            _deep_backward(m.deep, deep_in, gh, self.grad_of(m.deep.embedding.weight))
        self._adam()
        return loss

    def _adam(self) -> None:
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        self.steps.add_(1)
        kernel = torch._fused_adamw_ if self.adamw else torch._fused_adam_
        kernel(
            [self.flat], [self.flat_grad], [self.exp_avg], [self.exp_avg_sq], [], [self.steps],
            lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
            eps=group["eps"], amsgrad=False, maximize=False, grad_scale=None, found_inf=None,
        )  # fmt: skip


def _mlp_plan(mlp: nn.Sequential) -> list[tuple[str, nn.Module]] | None:
    """The MLP as (kind, layer) steps, or None when a layer has no hand-written backward."""
    plan: list[tuple[str, nn.Module]] = []
    for layer in mlp:
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            plan.append(("linear", layer))
        elif isinstance(layer, nn.BatchNorm1d) and layer.affine and layer.track_running_stats:
            if layer.momentum is None:
                return None
            plan.append(("bn", layer))
        elif type(layer) is nn.ReLU:
            plan.append(("relu", layer))
        elif type(layer) is FastDropout:
            if layer.p > 0.0:
                plan.append(("dropout", layer))
        else:
            return None
    return plan


def _deep_forward(part: _Part, x: Encoded) -> tuple[torch.Tensor, torch.Tensor, list]:
    """(MLP input, table rows, per multi-valued field (start, width, count)): the
    arithmetic of ``WideDeep.deep_input`` without autograd."""
    b = len(x)
    ids = part.row_ids(x)
    emb = part.embedding.weight.index_select(0, ids.reshape(-1)).reshape(*ids.shape, -1)
    n_single = len(part.singles)
    if not part.multis:
        return emb.reshape(b, -1), ids, []
    pieces = [emb[:, :n_single].reshape(b, -1)] if n_single else []
    bags = []
    start = n_single
    for name in part.multis:
        width = x.multi[name].shape[1]
        count = (ids[:, start : start + width] != part.pad).sum(1, keepdim=True).clamp_(min=1)
        pieces.append(emb[:, start : start + width].sum(1) / count)
        bags.append((start, width, count))
        start += width
    return (pieces[0] if len(pieces) == 1 else torch.cat(pieces, 1)), ids, bags


def _deep_backward(part: _Part, saved: tuple, g: torch.Tensor, out: torch.Tensor) -> None:
    """Scatter the MLP input's gradient ``g`` into the table gradient ``out``."""
    _, ids, bags = saved
    b, dim = g.shape[0], part.embedding.weight.shape[1]
    n_single = len(part.singles)
    if not bags:
        _scatter_into(out, ids, g.reshape(b, -1, dim), part.pad)
        return
    grad = g.new_zeros(b, ids.shape[1], dim)
    if n_single:
        grad[:, :n_single] = g[:, : n_single * dim].reshape(b, n_single, dim)
    col = n_single * dim
    for start, width, count in bags:
        grad[:, start : start + width] = (g[:, col : col + dim] / count)[:, None, :]
        col += dim
    _scatter_into(out, ids, grad, part.pad)


def _scatter_into(
    out: torch.Tensor, ids: torch.Tensor, grad: torch.Tensor, pad: int | None
) -> None:
    out.index_add_(0, ids.reshape(-1), grad.reshape(-1, out.shape[1]))
    if pad is not None:
        out[pad] = 0.0


__all__ = ["FusedStep", "StepFn", "autograd_step", "make_train_step"]
