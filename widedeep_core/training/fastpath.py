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
  ``dropout_mask`` call, ``index_add_`` into the tables, the pad row's gradient dropped).

- applies the first Linear of the MLP to the tables of small-vocabulary fields
  (``ProjectedFirstLayer``: gender, age, occupation, year and genres on MovieLens)
  rather than to their embeddings in every row of the batch.

Without that projection the arithmetic is the same as ``model(x)`` +
``BCEWithLogitsLoss`` + ``loss.backward()`` + the fused optimiser's ``step()``, bit for
bit on the reference model; with it, the same sums in another order (within float
rounding). ``tests/core/test_fastpath.py`` checks the weights after several steps
against that path. Anything else (FTRL, AdaGrad, SGD, two
optimisers, other activations, AMP) takes ``autograd_step``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import torch
from torch import nn

from widedeep_core.errors import RunError
from widedeep_core.features.inputs import Encoded
from widedeep_core.model.widedeep import FastDropout, Part, WideDeep, dropout_mask

StepFn = Callable[[Encoded, torch.Tensor], torch.Tensor]


def make_train_step(
    model: nn.Module,
    optimizers: Sequence[torch.optim.Optimizer],
    *,
    amp: bool = False,
    fused: bool = True,
    batch_size: int | None = None,
) -> StepFn:
    """One training step ``step(x, y) -> detached loss``: the fused hand-written step
    where the model and optimiser allow it (``fused``), else the autograd one.
    ``batch_size`` (the usual batch) decides which deep fields the fused step projects."""
    if fused and FusedStep.unsupported(model, optimizers, amp) is None:
        assert isinstance(model, WideDeep)
        return FusedStep(model, optimizers[0], batch_size)
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

    def __init__(
        self, model: WideDeep, optimizer: torch.optim.Optimizer, batch_size: int | None = None
    ):
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
        assert self.plan is not None  # unsupported() saw a plan for this MLP
        # every tensor a step reads, looked up once: nn.Module attribute access goes
        # through __getattr__ (~65 lookups a step, 5% of a seed-sized step)
        self.layers = [_Layer(kind, layer, self.grad_of) for kind, layer in self.plan]
        self.wide_part, self.deep_part = model.wide, model.deep
        if model.wide is not None:
            assert model.wide_bias is not None
            self.wide_table = model.wide.embedding.weight
            self.wide_grad = self.grad_of(self.wide_table)
            self.wide_bias, self.wide_bias_grad = model.wide_bias, self.grad_of(model.wide_bias)
        if model.deep is not None:
            self.deep_grad = self.grad_of(model.deep.embedding.weight)
        self.first: ProjectedFirstLayer | None = None
        if model.deep is not None and batch_size is not None:
            projected = ProjectedFirstLayer.fields(model.deep, batch_size)
            if projected:
                first = self.plan[0][1]
                assert isinstance(first, nn.Linear)
                self.first = ProjectedFirstLayer(model.deep, first, projected, self.grad_of)
        self.loss_fn = nn.BCEWithLogitsLoss()  # looked up here: tests inject faults into it

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Adam's moments and step count (the parameters are the model's state)."""
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq, "steps": self.steps}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Put a ``state_dict`` back, in place (a resumed run goes on with it)."""
        for name in ("exp_avg", "exp_avg_sq", "steps"):
            mine, saved = getattr(self, name), state[name]
            if mine.shape != saved.shape:
                raise RunError(f"the resume point's {name} has another shape than this model's")
            mine.copy_(saved)

    def grad_of(self, p: torch.Tensor) -> torch.Tensor:
        """The gradient view of parameter ``p`` inside the flat gradient buffer."""
        return self._grad[id(p)]

    @torch.no_grad()
    def __call__(self, x: Encoded, y: torch.Tensor) -> torch.Tensor:
        """One step on the batch ``(x, y)``; returns the detached mean loss."""
        b = len(x)
        wide_in = deep_in = None
        wide = deep = None
        wide_part, deep_part = self.wide_part, self.deep_part
        if wide_part is not None:
            wide_in = wide_part.row_ids(x)
            rows = self.wide_table.index_select(0, wide_in.reshape(-1))
            wide = self.wide_bias.expand(b) + rows.reshape(b, -1, 1).sum((1, 2))
        if deep_part is not None:
            layers = self.layers
            if self.first is not None:  # the first Linear, small fields projected
                deep_in = self.first.forward(x)
                h, layers = deep_in[0], layers[1:]
            else:
                deep_in = _deep_forward(deep_part, x)
                h = deep_in[0]
            saved: list[tuple] = []
            for layer in layers:
                kind = layer.kind
                if kind == "linear":
                    saved.append((layer, h))
                    h = torch.addmm(layer.bias, h, layer.weight.t())  # type: ignore[arg-type, union-attr, operator]
                elif kind == "bn":
                    layer.module.num_batches_tracked.add_(1)  # type: ignore[operator]
                    out, mean, invstd = torch.native_batch_norm(
                        h, layer.weight, layer.bias, layer.running_mean, layer.running_var,  # type: ignore[arg-type]
                        True, layer.momentum, layer.eps,
                    )  # fmt: skip
                    saved.append((layer, h, mean, invstd))
                    h = out
                elif kind == "relu":
                    h = torch.relu(h)
                    saved.append((layer, h))
                else:  # dropout, drawn as FastDropout draws it
                    mask = dropout_mask(h, layer.p)
                    h = h * mask
                    saved.append((layer, mask))
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
        if wide_part is not None:
            assert wide_in is not None
            self.wide_bias_grad.copy_(g.sum(0, keepdim=True))
            _scatter_into(self.wide_grad, wide_in, g[:, None, None]
                          .expand(b, wide_in.shape[1], 1), wide_part.pad)  # fmt: skip
        if deep_part is not None:
            assert deep_in is not None
            gh = g[:, None]
            for entry in reversed(saved):
                layer = entry[0]
                kind = layer.kind
                if kind == "linear":
                    layer.grad_weight.copy_(gh.t().mm(entry[1]))
                    layer.grad_bias.copy_(gh.sum(0))
                    gh = gh.mm(layer.weight)
                elif kind == "bn":
                    inp, mean, invstd = entry[1], entry[2], entry[3]
                    gh, gw, gb = torch.ops.aten.native_batch_norm_backward(
                        gh, inp, layer.weight, layer.running_mean, layer.running_var,
                        mean, invstd, True, layer.eps, [True, True, True],
                    )  # fmt: skip
                    layer.grad_weight.copy_(gw)
                    layer.grad_bias.copy_(gb)
                elif kind == "relu":
                    gh = torch.ops.aten.threshold_backward(gh, entry[1], 0)
                else:
                    gh = gh * entry[1]
            if self.first is not None:
                self.first.backward(deep_in, gh)
            else:
                _deep_backward(deep_part, deep_in, gh, self.deep_grad)
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


class ProjectedFirstLayer:
    """The MLP's first Linear, with small-vocabulary fields applied to their tables.

    The layer is linear, so field f's share of its output for a row is ``W_f e``, with
    ``W_f`` the layer's block of columns for f and ``e`` the row's embedding of f (the
    mean of them for a multi-valued field). For a field of V rows, ``P_f = E_f W_f^T``
    (V x hidden) costs V products a step where the plain layer pays one per row of the
    batch: on ``full`` at batch 1024 gender, age, occupation, year and genres (3-22
    rows each, fewer than their 32 columns) are 160 of the 256 input columns.

    The projected fields' rows of the table go in one block-diagonal matrix ``E``
    [their rows, their columns], so ``P = E W_Q^T`` is one product. Each row of the
    batch adds its fields' rows of ``P`` through ``Q`` [batch, rows of P]: 1 for a
    single-valued field, 1/count for each entry of a multi-valued one. The backward
    runs the same sums in reverse: ``dP = Q^T dH``, the layer's ``dW_Q = dP^T E`` and
    the table's ``dE = dP W_Q`` (its diagonal blocks). The other fields take the plain
    product. Same arithmetic in another order: within float rounding of the plain layer.
    """

    @staticmethod
    def fields(part: Part, batch_size: int) -> list[str]:
        """The deep fields worth projecting at ``batch_size``.

        Per field of V rows and ``dim`` columns, a step costs ``batch * dim * hidden``
        plain and ``(batch + dim) * V * hidden`` projected (``Q P`` plus ``P`` itself,
        each way), so a field is projected when ``V * (batch + dim) < batch * dim``:
        fewer rows than embedding columns, about. An id field never is (944 users
        against 16 columns would make ``fast``'s step 8x slower on ML-100K).
        """
        dim = part.embedding.weight.shape[1]
        return [
            n
            for n in (*part.singles, *part.multis)
            if part.sizes_by_name[n] * (batch_size + dim) < batch_size * dim
        ]

    def __init__(
        self,
        part: Part,
        layer: nn.Linear,
        projected: Sequence[str],
        grad_of: Callable[[torch.Tensor], torch.Tensor],
    ):
        self.part, self.layer, self.grad_of = part, layer, grad_of
        dim = self.dim = part.embedding.weight.shape[1]
        order = [*part.singles, *part.multis]  # the deep input's column blocks
        self.n_single = len(part.singles)
        self.projected = [n for n in order if n in projected]
        direct = [n for n in order if n not in projected]
        self.direct_singles = torch.tensor(
            [order.index(n) for n in direct if n in part.singles], dtype=torch.long
        )
        self.direct_multis = [n for n in direct if n in part.multis]

        def columns(names: Sequence[str]) -> torch.Tensor:
            cols = [order.index(n) * dim + j for n in names for j in range(dim)]
            return torch.tensor(cols, dtype=torch.long)

        self.direct_cols, self.proj_cols = columns(direct), columns(self.projected)
        # the projected fields' table rows, stacked (the rows of P), and where each
        # field's rows start among them
        sizes = [part.sizes_by_name[n] for n in self.projected]
        self.base = dict(zip(self.projected, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
        self.proj_rows = torch.cat(
            [torch.arange(part.offsets_by_name[n], part.offsets_by_name[n] + v)
             for n, v in zip(self.projected, sizes, strict=True)]
        )  # fmt: skip
        # flat positions of the diagonal blocks of E [rows of P, projected columns]
        width = len(self.projected) * dim
        block = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
        self.diag = (
            torch.arange(len(self.proj_rows))[:, None] * width + block[:, None] * dim
            + torch.arange(dim)[None, :]
        ).reshape(-1)  # fmt: skip
        # index tensors live where the table does (the step is built after model.to(device))
        device = part.embedding.weight.device
        for name in ("direct_singles", "direct_cols", "proj_cols", "proj_rows", "diag"):
            setattr(self, name, getattr(self, name).to(device))

    def forward(self, x: Encoded) -> tuple:
        """(first layer's output, what ``backward`` needs)."""
        part, w = self.part, self.layer.weight
        table = part.embedding.weight
        b = len(x)
        ids = part.row_ids(x)
        multi, start = {}, self.n_single
        for name in part.multis:  # each multi-valued field's slots of ``ids``
            width = x.multi[name].shape[1]
            multi[name] = ids[:, start : start + width]
            start += width
        pad = cast(int, part.pad)  # an int whenever there are multi-valued fields
        counts = {n: (multi[n] != pad).sum(1, keepdim=True).clamp_(min=1) for n in part.multis}
        pieces = []
        if len(self.direct_singles):
            sel = ids.index_select(1, self.direct_singles)
            pieces.append(table.index_select(0, sel.reshape(-1)).reshape(b, -1))
        for n in self.direct_multis:
            rows = table.index_select(0, multi[n].reshape(-1)).reshape(b, multi[n].shape[1], -1)
            pieces.append(rows.sum(1) / counts[n])
        x_direct = (pieces[0] if len(pieces) == 1 else torch.cat(pieces, 1)) if pieces else None
        w_direct = w.index_select(1, self.direct_cols)
        if x_direct is not None:
            h = torch.addmm(self.layer.bias, x_direct, w_direct.t())
        else:
            h = self.layer.bias.expand(b, -1).clone()
        e = w.new_zeros(len(self.proj_rows), len(self.proj_cols))
        e.view(-1)[self.diag] = table.index_select(0, self.proj_rows).reshape(-1)
        w_proj = w.index_select(1, self.proj_cols)
        p = e.mm(w_proj.t())
        rows_q, weights_q = [], []
        for n in self.projected:
            shift = self.base[n] - part.offsets_by_name[n]
            if n in part.multis:  # pad entries: weight 0 on row 0
                real = multi[n] != pad
                rows_q.append(torch.where(real, multi[n] + shift, 0))
                weights_q.append(real.to(w.dtype) / counts[n])
            else:
                col = part.singles.index(n)  # its column of row_ids
                rows_q.append(ids[:, col : col + 1] + shift)
                weights_q.append(w.new_ones(b, 1))
        q = w.new_zeros(b, len(self.proj_rows))
        q.scatter_add_(1, torch.cat(rows_q, 1), torch.cat(weights_q, 1))
        h.addmm_(q, p)
        return h, ids, multi, counts, x_direct, w_direct, e, w_proj, q

    def backward(self, saved: tuple, gh: torch.Tensor) -> None:
        """Write the gradients of the layer and of the deep table from ``gh`` (its output's)."""
        _, ids, multi, counts, x_direct, w_direct, e, w_proj, q = saved
        dim = self.dim
        g_w = self.grad_of(self.layer.weight)
        g_table = self.grad_of(self.part.embedding.weight)
        self.grad_of(self.layer.bias).copy_(gh.sum(0))
        if x_direct is not None:
            g_w.index_copy_(1, self.direct_cols, gh.t().mm(x_direct))
            g_x = gh.mm(w_direct)
            col = 0
            if len(self.direct_singles):
                sel = ids.index_select(1, self.direct_singles)
                col = sel.shape[1] * dim
                g_table.index_add_(0, sel.reshape(-1), g_x[:, :col].reshape(-1, dim))
            for n in self.direct_multis:
                g_mean = g_x[:, col : col + dim] / counts[n]
                for j in range(multi[n].shape[1]):
                    g_table.index_add_(0, multi[n][:, j], g_mean)
                col += dim
        g_p = q.t().mm(gh)
        g_w.index_copy_(1, self.proj_cols, g_p.t().mm(e))
        g_e = g_p.mm(w_proj).view(-1)[self.diag].reshape(-1, dim)
        g_table.index_add_(0, self.proj_rows, g_e)
        if self.part.pad is not None:
            g_table[self.part.pad] = 0.0


class _Layer:
    """One step of the MLP plan with the tensors it reads bound once (weights and
    batch-norm statistics are updated in place, so the references stay good)."""

    __slots__ = (
        "bias",
        "eps",
        "grad_bias",
        "grad_weight",
        "kind",
        "module",
        "momentum",
        "p",
        "running_mean",
        "running_var",
        "weight",
    )  # fmt: skip

    def __init__(
        self, kind: str, module: nn.Module, grad_of: Callable[[torch.Tensor], torch.Tensor]
    ):
        self.kind, self.module = kind, module
        self.weight = self.bias = self.grad_weight = self.grad_bias = None
        self.running_mean = self.running_var = None
        self.momentum = self.eps = self.p = 0.0
        if kind in ("linear", "bn"):
            self.weight, self.bias = module.weight, module.bias
            self.grad_weight, self.grad_bias = grad_of(module.weight), grad_of(module.bias)  # type: ignore[arg-type]
        if kind == "bn":
            self.running_mean, self.running_var = module.running_mean, module.running_var
            self.momentum, self.eps = module.momentum, module.eps  # type: ignore[assignment]
        if kind == "dropout":
            self.p = module.p  # type: ignore[assignment]


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


def _deep_forward(part: Part, x: Encoded) -> tuple[torch.Tensor, torch.Tensor, list]:
    """(MLP input, table rows, per multi-valued field (start, width, count)): the
    arithmetic of ``WideDeep.deep_input`` without autograd."""
    b = len(x)
    ids = part.row_ids(x)
    emb = part.embedding.weight.index_select(0, ids.reshape(-1)).reshape(*ids.shape, -1)
    n_single = len(part.singles)
    if not part.multis:
        return emb.reshape(b, -1), ids, []
    assert part.pad is not None  # multi-valued fields: a pad row
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


def _deep_backward(part: Part, saved: tuple, g: torch.Tensor, out: torch.Tensor) -> None:
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


__all__ = ["FusedStep", "ProjectedFirstLayer", "StepFn", "autograd_step", "make_train_step"]
