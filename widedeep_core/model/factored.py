"""Split-layer scoring: every (user, item) pair of a user block and an item set.

Ranking every movie for every user through the plain forward costs a full MLP pass per
pair. The first Linear layer splits into a user half and an item half, so both are
computed once per user and once per item and only added per pair (see ``SplitScorer``).
A test bounds the difference to the plain forward (1e-5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from widedeep_core.constants import USER_SIDE_FIELDS as USER_SIDE
from widedeep_core.errors import ConfigError
from widedeep_core.features.inputs import Encoded
from widedeep_core.model.widedeep import Part, WideDeep


def field_side(name: str) -> str:
    """ "user" or "item" for a field or a cross within one side, "pair" for a cross of a
    user-side and an item-side field (its value depends on the user and the item)."""
    parts = name.split(" x ")
    sides = {"user" if p in USER_SIDE else "item" for p in parts}
    return sides.pop() if len(sides) == 1 else "pair"


class SplitScorer:
    """Logits of every (user, item) pair of a user block and a fixed item set.

    The first Linear layer of the MLP reads ``[user-side embeddings; item-side
    embeddings]``, so ``W [u; i] + b = W_u u + (W_i i + b)``: both products are computed
    once per user and once per item and only ADDED per pair (an eval-mode batch-norm
    right after it is a per-channel affine map and folds into both halves). The rest of
    the MLP runs per pair. The wide logit factorises the same way: a user sum, an item
    sum and, for each cross of a user-side with an item-side field, a table of its
    weight per (user value, item). Eval mode: dropout off, batch-norm running stats.
    """

    # floats of the widest [pairs, hidden] tensor of one block of the per-pair MLP: 2 MiB
    # stays in cache (full's 256-128 MLP on ML-1M: 1.5x the 16,384-pair blocks before)
    BLOCK_FLOATS = 1 << 19
    MIN_PAIRS = 256  # below this a block is mostly per-call overhead

    @torch.no_grad()
    def __init__(self, model: WideDeep, items: Encoded):
        """A scorer of user blocks against the item rows ``items`` (one encoded row per
        item; its user-side columns are ignored)."""
        # dense features belong to a (user, candidate) pair: ranking.twostage scores them
        assert model.dense_in is None, "a two-stage model scores pairs, not split layers"
        self.model = model
        self.n_items = len(items)
        single_cols = {s.name: i for i, s in enumerate(s for s in model.specs if not s.multi)}
        self._single_cols = single_cols
        self.pair_fields = [n for n in model.wide_fields if field_side(n) == "pair"]
        if any(field_side(n) == "pair" for n in model.deep_fields):
            raise ConfigError("deep_fields", "split scoring needs deep fields of one side each")
        self.item_wide = self._wide_sum(items, "item")
        self._plan: list[tuple[str, Any]] = []
        if model.deep is not None:
            assert model.mlp is not None
            first = model.mlp[0]
            assert isinstance(first, nn.Linear)
            part, d = model.deep, model.embed_dim
            order = part.singles + part.multis
            cols = {s: [i for k, n in enumerate(order) if field_side(n) == s
                        for i in range(k * d, (k + 1) * d)] for s in ("user", "item")}  # fmt: skip
            self._fields = {s: [n for n in order if field_side(n) == s] for s in ("user", "item")}
            w = first.weight.detach()
            self._w = {s: w[:, torch.tensor(c, dtype=torch.long)] for s, c in cols.items()}
            rest = list(model.mlp)[1:]
            self._scale: torch.Tensor | None = None
            self._shift = first.bias.detach().clone()
            if rest and isinstance(rest[0], nn.BatchNorm1d):
                bn = rest.pop(0)
                assert isinstance(bn, nn.BatchNorm1d)
                assert bn.running_mean is not None and bn.running_var is not None
                scale = (bn.running_var + bn.eps).rsqrt()
                if bn.weight is not None:
                    scale = scale * bn.weight
                shift = -bn.running_mean * scale
                if bn.bias is not None:
                    shift = shift + bn.bias
                self._scale, self._shift = scale, self._shift * scale + shift
            self._plan = _fold_eval_mlp(rest)
            item_h = self._first_half(items, "item")
            if self._scale is not None:
                item_h = item_h * self._scale
            self.item_h = item_h + self._shift

    @property
    def pair_flops(self) -> float:
        """Floating-point operations per pair: the first layer's addition, the rest of
        the MLP, the wide sum (for the cost of ranking many pairs)."""
        width = self.item_h.shape[1] if self.model.deep is not None else 0
        flops = 2.0 * width + 2.0 + len(self.pair_fields)
        for kind, op in self._plan:
            flops += 2.0 * op[0].numel() if kind == "linear" else float(width)
            width = op[0].shape[1] if kind == "linear" else width
        return flops

    def _field_rows(self, part: Part, x: Encoded, name: str) -> torch.Tensor:
        """[n, k] table rows of one field of ``part`` (k = 1 for a single-valued one)."""
        if name in part.multis:
            return part.multi_ids(x, name)
        return (x.single[:, self._single_cols[name]] + part.offsets_by_name[name])[:, None]

    def _wide_sum(self, x: Encoded, side: str) -> torch.Tensor:
        """[n] wide logit of the fields of one side (the bias goes with the items)."""
        m = self.model
        out = torch.zeros(len(x), device=x.single.device)
        if m.wide is None:
            return out
        w = m.wide.embedding.weight[:, 0]
        for name in m.wide.singles + m.wide.multis:
            if field_side(name) == side:
                out = out + w[self._field_rows(m.wide, x, name)].sum(1)
        if side == "item":
            assert m.wide_bias is not None
            out = out + m.wide_bias
        return out

    def _first_half(self, x: Encoded, side: str) -> torch.Tensor:
        """[n, hidden] product of one side's embeddings with its half of the first layer."""
        m = self.model
        part = m.deep
        assert part is not None
        emb = part.embedding.weight
        pieces = []
        for name in self._fields[side]:
            rows = self._field_rows(part, x, name)
            vec = emb[rows]
            if name in part.multis:
                assert part.pad is not None  # multi-valued fields: a pad row
                count = (rows != part.pad).sum(1, keepdim=True).clamp_(min=1)
                pieces.append(vec.sum(1) / count)
            else:
                pieces.append(vec[:, 0])
        if not pieces:
            return torch.zeros(len(x), self._w[side].shape[0], device=x.single.device)
        return torch.cat(pieces, 1) @ self._w[side].t()

    @torch.no_grad()
    def __call__(
        self,
        users: Encoded,
        pair_codes: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """[n_users, n_items] logits of the user rows ``users`` (item-side columns are
        ignored) against every item. ``pair_codes[name]`` gives, for each user-side x
        item-side cross, (row of each user [n_users], codes [m, n_items(, k)])."""
        m = self.model
        was_training = m.training
        m.eval()
        try:
            return self._score(users, pair_codes or {})
        finally:
            m.train(was_training)

    def _score(self, users: Encoded, pair_codes: dict) -> torch.Tensor:
        m = self.model
        n_u = len(users)
        wide = self._wide_sum(users, "user")[:, None] + self.item_wide[None, :]
        if m.wide is not None:
            w = m.wide.embedding.weight[:, 0]
            for name in self.pair_fields:
                if name not in pair_codes:
                    raise ConfigError("crosses", f"split scoring needs the codes of {name!r}")
                inv, codes = pair_codes[name]
                if name in m.wide.multis:
                    table = w[m.wide.map_multi(codes, name)].sum(-1)
                else:
                    table = w[codes + m.wide.offsets_by_name[name]]
                wide = wide + table[inv]
        if m.deep is None:
            return wide
        user_h = self._first_half(users, "user")
        if self._scale is not None:
            user_h = user_h * self._scale
        n_i = self.n_items
        out = torch.empty(n_u, n_i, device=wide.device)
        widest = max([user_h.shape[1]] + [op[0].shape[1] for k, op in self._plan if k == "linear"])
        pairs = max(self.MIN_PAIRS, self.BLOCK_FLOATS // widest)
        # a block: several users against every item, or one user against a slice of them
        if pairs >= n_i:
            step_u, step_i = max(1, pairs // max(n_i, 1)), max(n_i, 1)
        else:
            step_u, step_i = 1, pairs
        # reused buffers and in-place activations: fresh multi-MB tensors per block cost
        # page faults that take as long as the arithmetic
        bufs: dict[tuple[int, int], torch.Tensor] = {}

        def buf(k: int, rows: int, width: int) -> torch.Tensor:
            t = bufs.get((k, width))
            if t is None or t.shape[0] < rows:
                t = bufs[(k, width)] = torch.empty(step_u * step_i, width, device=wide.device)
            return t[:rows]

        width = user_h.shape[1]
        for s in range(0, n_u, step_u):
            n = min(step_u, n_u - s)
            for a in range(0, n_i, step_i):
                m_i = min(step_i, n_i - a)
                h = buf(0, n * m_i, width)
                torch.add(
                    user_h[s : s + n, None, :],
                    self.item_h[None, a : a + m_i, :],
                    out=h.view(n, m_i, -1),
                )
                k = 0
                for kind, op in self._plan:
                    if kind == "linear" and op[0].shape[1] == 1:  # the output layer: mat-vec
                        h = torch.addmv(op[1], h, op[0][:, 0])
                    elif kind == "linear":
                        weight_t, bias = op
                        k = 1 - k
                        h = torch.addmm(
                            bias, h, weight_t, out=buf(k, h.shape[0], weight_t.shape[1])
                        )
                    else:
                        h = op(h)
                out[s : s + n, a : a + m_i] = h.view(n, m_i)
        return wide + out


_INPLACE = {nn.ReLU: torch.relu_, nn.Sigmoid: torch.sigmoid_, nn.Tanh: torch.tanh_}


def _fold_eval_mlp(layers: Sequence[nn.Module]) -> list[tuple[str, Any]]:
    """Eval-mode MLP layers as ("linear", (W^T, b)) and ("act", fn) steps: dropout is
    dropped and each batch-norm folds into the Linear before it (running statistics)."""
    plan: list[tuple[str, Any]] = []
    for layer in layers:
        if isinstance(layer, nn.Linear):
            bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_features)
            plan.append(("linear", (layer.weight.detach().t(), bias.detach())))
        elif isinstance(layer, nn.BatchNorm1d):
            assert plan and plan[-1][0] == "linear", "batch-norm follows a Linear layer"
            weight_t, bias = plan[-1][1]
            assert layer.running_var is not None  # eval mode folds the running statistics
            scale = (layer.running_var + layer.eps).rsqrt()
            if layer.weight is not None:
                scale = scale * layer.weight.detach()
            shift = (bias - layer.running_mean) * scale
            if layer.bias is not None:
                shift = shift + layer.bias.detach()
            plan[-1] = ("linear", (weight_t * scale, shift))
        elif isinstance(layer, nn.Dropout):
            continue
        else:
            plan.append(("act", _INPLACE.get(type(layer), layer)))
    return plan
