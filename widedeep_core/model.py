"""The Wide & Deep model (Cheng et al., 2016) over encoded categorical fields.

wide: a linear model, ONE ``nn.Embedding(total, 1)`` over its fields with per-field
  offsets, plus a bias; multi-valued fields add the weights of their non-pad entries.
deep: ONE ``nn.Embedding(total, embed_dim)`` with offsets; single-valued fields give one
  vector each, multi-valued fields the masked mean of theirs; the vectors are
  concatenated (single-valued fields first, then multi-valued) and fed to an MLP
  (Linear, [BatchNorm1d], activation, Dropout per hidden size) ending in Linear(..., 1).

With the fields ``user`` and ``item`` in both parts, embed 16, MLP (16, 16) with
batch-norm, ReLU and dropout 0.5 this is the structure of the reference implementation
(pytorch-fm's ``WideAndDeepModel``: ``FeaturesLinear`` + ``FeaturesEmbedding`` +
``MultiLayerPerceptron``), except that ``forward`` returns logits: train with
``BCEWithLogitsLoss`` and apply the sigmoid only to report probabilities.

When a part has multi-valued fields its table gets one extra all-zero row, the pad, and
pooling uses ``F.embedding_bag(..., padding_idx=pad)`` so that padding is masked in one op.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from .errors import ConfigError
from .features import USER_SIDE, Encoded, FieldSpec


class _Gather(torch.autograd.Function):
    """Rows of a table; the backward scatters with ``index_add_``.

    On CPU ``embedding_dense_backward`` costs ~100 us for a seed-sized table per call
    (9x more than ``index_add_`` for the wide part's one column), and a step of this
    model is only ~1.5 ms, so the lookup of single-valued fields goes through here.
    Multi-valued fields too: ``embedding_bag``'s backward sorts its ids every step, and
    a fixed-width gather plus a sum is the same arithmetic. The ``pad`` row's gradient
    is dropped, so the all-zero pad row stays zero whatever the optimiser.
    """

    @staticmethod
    def forward(
        ctx, weight: torch.Tensor, ids: torch.Tensor, pad: int | None = None
    ) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(ids)
        ctx.rows = weight.shape[0]
        ctx.pad = pad
        flat = ids.reshape(-1)
        return weight.index_select(0, flat).reshape(*ids.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (ids,) = ctx.saved_tensors
        return scatter_rows(grad, ids, ctx.rows, ctx.pad), None, None


def scatter_rows(grad: torch.Tensor, ids: torch.Tensor, rows: int, pad: int | None) -> torch.Tensor:
    """The gradient of a ``rows``-row table from the gradient of its gathered ``ids``."""
    dim = grad.shape[-1]
    out = grad.new_zeros(rows, dim)
    out.index_add_(0, ids.reshape(-1), grad.reshape(-1, dim))
    if pad is not None:
        out[pad] = 0.0
    return out


def gather_rows(weight: torch.Tensor, ids: torch.Tensor, pad: int | None = None) -> torch.Tensor:
    """``F.embedding(ids, weight)`` with a cheaper backward (no gradient into ``pad``)."""
    return _Gather.apply(weight, ids, pad)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with ``rand_like`` (``bernoulli_`` is ~3x slower
    on CPU, and dropout was 15% of a seed-sized training step)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p >= 1.0:
            return x * 0.0
        return x * torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


class _Part(nn.Module):
    """One embedding table over a set of fields, with offsets and a pad row if needed."""

    def __init__(self, specs: Sequence[FieldSpec], names: Sequence[str], dim: int):
        super().__init__()
        by_name = {s.name: s for s in specs}
        single_cols = {s.name: i for i, s in enumerate(s for s in specs if not s.multi)}
        n_single_total = len(single_cols)
        self.singles = [n for n in names if not by_name[n].multi]
        self.multis = [n for n in names if by_name[n].multi]
        # singles first, then multis: their rows of the table follow in that order
        ordered = self.singles + self.multis
        sizes = [by_name[n].size for n in ordered]
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self.total = sum(sizes)
        self.pad = self.total if self.multis else None
        rows = self.total + (1 if self.multis else 0)
        self.embedding = nn.Embedding(rows, dim)
        self.offsets_by_name = dict(zip(ordered, starts, strict=True))
        cols = [single_cols[n] for n in self.singles]
        # when the part reads every single column in order, skip the column gather
        self.all_columns = cols == list(range(n_single_total))
        self.register_buffer("cols", torch.tensor(cols, dtype=torch.long), persistent=False)
        self.register_buffer(
            "single_offsets",
            torch.tensor([self.offsets_by_name[n] for n in self.singles], dtype=torch.long),
            persistent=False,
        )

    @property
    def n_fields(self) -> int:
        return len(self.singles) + len(self.multis)

    def single_ids(self, x: Encoded) -> torch.Tensor:
        """[b, S] table rows of the single-valued fields."""
        ids = x.single if self.all_columns else x.single.index_select(1, self.cols)
        return ids + self.single_offsets

    def multi_ids(self, x: Encoded, name: str) -> torch.Tensor:
        """[b, k] table rows of a multi-valued field, pad entries mapped to the pad row."""
        return self.map_multi(x.multi[name], name)

    def map_multi(self, codes: torch.Tensor, name: str) -> torch.Tensor:
        """Table rows of multi-valued codes (any shape); code 0 (pad or unseen) -> pad row."""
        return torch.where(codes > 0, codes + self.offsets_by_name[name], self.pad)

    def row_ids(self, x: Encoded) -> torch.Tensor:
        """[b, S + sum of multi widths] table rows: single-valued fields, then each
        multi-valued field's entries, so one gather reads every field of the part."""
        pieces = [self.single_ids(x)] if self.singles else []
        pieces += [self.multi_ids(x, name) for name in self.multis]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, 1)

    def zero_pad(self) -> None:
        if self.pad is not None:
            with torch.no_grad():
                self.embedding.weight[self.pad].zero_()


class WideDeep(nn.Module):
    """Wide (linear) and deep (embedding MLP) parts trained jointly; logits add up."""

    def __init__(
        self,
        specs: Sequence[FieldSpec],
        wide_fields: Sequence[str],
        deep_fields: Sequence[str],
        embed_dim: int = 16,
        hidden: Sequence[int] = (16, 16),
        activation: str = "relu",
        dropout: float = 0.5,
        batch_norm: bool = True,
    ):
        super().__init__()
        specs = list(specs)
        wide_fields = _check_fields(specs, wide_fields, "wide_fields")
        deep_fields = _check_fields(specs, deep_fields, "deep_fields")
        if not wide_fields and not deep_fields:
            raise ConfigError("deep_fields", "the wide and the deep part cannot both be empty")
        hidden = tuple(int(h) for h in hidden)
        if int(embed_dim) < 1:
            raise ConfigError("embed_dim", f"must be at least 1, got {embed_dim}")
        if deep_fields and not hidden:
            raise ConfigError("hidden", "the deep part needs at least one hidden layer")
        if any(h < 1 for h in hidden):
            raise ConfigError("hidden", f"layer sizes must be at least 1, got {hidden}")
        if activation not in ACTIVATIONS:
            raise ConfigError(
                "activation", f"unknown {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError("dropout", f"must lie in [0, 1), got {dropout}")
        self.specs = specs
        self.wide_fields = list(wide_fields)
        self.deep_fields = list(deep_fields)
        self.embed_dim = int(embed_dim)

        self.wide: _Part | None = None
        self.wide_bias: nn.Parameter | None = None
        if wide_fields:
            self.wide = _Part(specs, wide_fields, 1)
            # a linear model starts at zero (as FTRL's closed form does); the bias learns
            # the base rate
            nn.init.zeros_(self.wide.embedding.weight)
            self.wide_bias = nn.Parameter(torch.zeros(1))

        self.deep: _Part | None = None
        self.mlp: nn.Sequential | None = None
        if deep_fields:
            self.deep = _Part(specs, deep_fields, self.embed_dim)
            nn.init.xavier_uniform_(self.deep.embedding.weight)  # as pytorch-fm
            self.deep.zero_pad()
            layers: list[nn.Module] = []
            width = self.deep.n_fields * self.embed_dim
            for h in hidden:
                layers.append(nn.Linear(width, h))
                if batch_norm:
                    layers.append(nn.BatchNorm1d(h))
                layers.append(ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(FastDropout(float(dropout)))
                width = h
            layers.append(nn.Linear(width, 1))
            self.mlp = nn.Sequential(*layers)

    # ------------------------------------------------------------ parts

    def wide_logit(self, x: Encoded) -> torch.Tensor:
        """[b] logit of the wide part (bias included)."""
        part = self.wide
        assert part is not None and self.wide_bias is not None
        # one gather over every field (pad entries read the zero pad row) and one sum
        rows = gather_rows(part.embedding.weight, part.row_ids(x), part.pad)
        return self.wide_bias.expand(len(x)) + rows.sum((1, 2))

    def deep_input(self, x: Encoded) -> torch.Tensor:
        """[b, n_fields * embed_dim] input of the MLP: single-valued embeddings, then the
        mean of each multi-valued field's non-pad embeddings (0 when it has none)."""
        part = self.deep
        assert part is not None
        b = len(x)
        ids = part.row_ids(x)
        emb = gather_rows(part.embedding.weight, ids, part.pad)
        n_single = len(part.singles)
        if not part.multis:
            return emb.reshape(b, -1)
        pieces = [emb[:, :n_single].reshape(b, -1)] if n_single else []
        start = n_single
        for name in part.multis:
            width = x.multi[name].shape[1]
            sel = ids[:, start : start + width]
            count = (sel != part.pad).sum(1, keepdim=True).clamp_(min=1)
            pieces.append(emb[:, start : start + width].sum(1) / count)
            start += width
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, 1)

    def deep_logit(self, x: Encoded) -> torch.Tensor:
        """[b] logit of the deep part."""
        assert self.mlp is not None
        return self.mlp(self.deep_input(x)).squeeze(1)

    def forward(self, x: Encoded) -> torch.Tensor:
        """[b] logits (no sigmoid)."""
        if self.wide is None:
            return self.deep_logit(x)
        if self.deep is None:
            return self.wide_logit(x)
        return self.wide_logit(x) + self.deep_logit(x)

    def forward_parts(self, x: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """(wide logit, deep logit), each [b]; an absent part gives zeros."""
        wide = self.wide_logit(x) if self.wide is not None else None
        deep = self.deep_logit(x) if self.deep is not None else None
        if wide is None:
            assert deep is not None
            wide = torch.zeros_like(deep)
        if deep is None:
            deep = torch.zeros_like(wide)
        return wide, deep

    def wide_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the wide part (table and bias)."""
        if self.wide is not None and self.wide_bias is not None:
            yield self.wide.embedding.weight
            yield self.wide_bias

    def deep_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the deep part (table and MLP)."""
        if self.deep is not None and self.mlp is not None:
            yield self.deep.embedding.weight
            yield from self.mlp.parameters()

    def field_rows(self, part: str, name: str) -> tuple[int, int]:
        """[start, stop) rows of field ``name`` in the ``part`` ("wide"/"deep") table."""
        p = self.wide if part == "wide" else self.deep
        if p is None or name not in p.offsets_by_name:
            raise ConfigError(f"{part}_fields", f"no field {name!r} in the {part} part")
        size = next(s.size for s in self.specs if s.name == name)
        start = p.offsets_by_name[name]
        return start, start + size

    # ------------------------------------------------------------ pair scoring

    def split_scorer(self, items: Encoded) -> SplitScorer:
        """A scorer of user blocks against the item rows ``items`` (one encoded row per
        item; its user-side columns are ignored), computed the split-layer way."""
        return SplitScorer(self, items)


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

    # pairs per block of the per-pair MLP: [block, hidden] floats stay cache-sized
    PAIRS_PER_BLOCK = 1 << 14

    @torch.no_grad()
    def __init__(self, model: WideDeep, items: Encoded):
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
                scale = (bn.running_var + bn.eps).rsqrt()  # type: ignore[operator]
                if bn.weight is not None:
                    scale = scale * bn.weight
                shift = -bn.running_mean * scale  # type: ignore[operator]
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

    def _field_rows(self, part: _Part, x: Encoded, name: str) -> torch.Tensor:
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
        step = max(1, self.PAIRS_PER_BLOCK // max(n_i, 1))
        # reused buffers and in-place activations: fresh multi-MB tensors per block cost
        # page faults that take as long as the arithmetic
        bufs: dict[tuple[int, int], torch.Tensor] = {}

        def buf(k: int, rows: int, width: int) -> torch.Tensor:
            t = bufs.get((k, width))
            if t is None or t.shape[0] < rows:
                t = bufs[(k, width)] = torch.empty(step * n_i, width, device=wide.device)
            return t[:rows]

        width = user_h.shape[1]
        for s in range(0, n_u, step):
            n = min(step, n_u - s)
            h = buf(0, n * n_i, width)
            torch.add(user_h[s : s + n, None, :], self.item_h[None, :, :], out=h.view(n, n_i, -1))
            k = 0
            for kind, op in self._plan:
                if kind == "linear" and op[0].shape[1] == 1:  # the output layer: a mat-vec
                    h = torch.addmv(op[1], h, op[0][:, 0])
                elif kind == "linear":
                    weight_t, bias = op
                    k = 1 - k
                    h = torch.addmm(bias, h, weight_t, out=buf(k, h.shape[0], weight_t.shape[1]))
                else:
                    h = op(h)
            out[s : s + n] = h.view(n, n_i)
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
            scale = (layer.running_var + layer.eps).rsqrt()  # type: ignore[operator]
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


def _check_fields(specs: Sequence[FieldSpec], names: Sequence[str], what: str) -> list[str]:
    known = [s.name for s in specs]
    out: list[str] = []
    for n in names:
        if n not in known:
            raise ConfigError(what, f"no encoded field {n!r}; encoded: {', '.join(known)}")
        if n not in out:
            out.append(n)
    # the spec order, so that the table layout does not depend on how fields were listed
    return sorted(out, key=known.index)
