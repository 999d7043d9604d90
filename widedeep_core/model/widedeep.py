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
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from widedeep_core.constants import ACTIVATIONS
from widedeep_core.errors import ConfigError
from widedeep_core.features.inputs import Encoded, FieldSpec, cross_name
from widedeep_core.features.retrieval_features import (
    BUCKET_COLUMNS,
    N_ACTIVITY_BUCKETS,
    N_RANK_BUCKETS,
    dense_names,
)

if TYPE_CHECKING:
    from widedeep_core.config import Config


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
    ) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.rows = weight.shape[0]
        ctx.pad = pad
        flat = ids.reshape(-1)
        return weight.index_select(0, flat).reshape(*ids.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
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


_MASK_LEVELS = 1 << 16  # a dropout mask compares 16 random bits per element


def dropout_mask(like: torch.Tensor, p: float) -> torch.Tensor:
    """The scaled keep mask of dropout with probability ``p`` (0 < p < 1) for a tensor
    shaped like ``like``: each element is dropped when 16 random bits fall under
    ``round(p * 65536)`` (so p is kept to 1/65536) and kept ones are scaled by
    1 / (1 - that probability), so the mask's mean is exactly 1.

    Four elements share one 64-bit draw of torch's generator (seeded as every other
    draw): 2.2x faster than ``rand_like(x).ge_(p)`` on CPU (2.8 ms against 6.2 ms for a
    4096 x 256 mask), where masks were a fifth of a 256-256-256 training step. The
    model's ``FastDropout`` and the fused step both draw with this function, so the two
    paths stay the same arithmetic.
    """
    drop = min(max(round(float(p) * _MASK_LEVELS), 1), _MASK_LEVELS - 1)
    n = like.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=like.device)
    bits.random_(-(2**63), None)  # the full 64-bit range: four uniform 16-bit lanes
    lanes = bits.view(torch.int16)[:n].view(like.shape)
    scale = _MASK_LEVELS / (_MASK_LEVELS - drop)
    keep = lanes >= drop - _MASK_LEVELS // 2
    return keep.to(like.dtype).mul_(scale)  # 2x a where() with two scalars


class FastDropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with ``dropout_mask`` (``bernoulli_`` is ~3x
    slower on CPU than ``rand_like``, which is 2.2x slower than ``dropout_mask``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p >= 1.0:
            return x * 0.0
        return x * dropout_mask(x, self.p)


# The layer behind each name of constants.ACTIVATIONS.
ACTIVATION_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}
assert tuple(ACTIVATION_LAYERS) == ACTIVATIONS, "constants.ACTIVATIONS and the layers disagree"


class Part(nn.Module):
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
        self.sizes_by_name = dict(zip(ordered, sizes, strict=True))
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
        ids = x.single if self.all_columns else x.single.index_select(1, self.cols)  # type: ignore[arg-type]
        return ids + self.single_offsets  # type: ignore[operator]

    def multi_ids(self, x: Encoded, name: str) -> torch.Tensor:
        """[b, k] table rows of a multi-valued field, pad entries mapped to the pad row."""
        return self.map_multi(x.multi[name], name)

    def map_multi(self, codes: torch.Tensor, name: str) -> torch.Tensor:
        """Table rows of multi-valued codes (any shape); code 0 (pad or unseen) -> pad row."""
        assert self.pad is not None  # a part with multi-valued fields has a pad row
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


class DenseInput(nn.Module):
    """A two-stage run's float features (``Encoded.dense``, ``features.retrieval``).

    The wide part reads the continuous columns through ``Linear(D, 1)`` and the cross
    of the rank and user-activity buckets through a one-column table (the paper's
    cross-product transformation); the deep part gets the continuous columns
    concatenated to its embeddings.
    """

    def __init__(self, names: Sequence[str]):
        super().__init__()
        names = list(names)
        self.names = names
        cont = [k for k, n in enumerate(names) if n not in BUCKET_COLUMNS]
        self.register_buffer("cont", torch.tensor(cont, dtype=torch.long), persistent=False)
        self.n_continuous = len(cont)
        self.linear = nn.Linear(len(cont), 1, bias=False) if cont else None
        if self.linear is not None:
            nn.init.zeros_(self.linear.weight)
        self.cross: nn.Embedding | None = None
        if all(n in names for n in BUCKET_COLUMNS):
            self.rank_col = names.index(BUCKET_COLUMNS[0])
            self.act_col = names.index(BUCKET_COLUMNS[1])
            self.cross = nn.Embedding(N_RANK_BUCKETS * N_ACTIVITY_BUCKETS, 1)
            nn.init.zeros_(self.cross.weight)

    def continuous(self, dense: torch.Tensor) -> torch.Tensor:
        """[b, C] continuous columns (the deep part's extra input)."""
        return dense.index_select(1, self.cont)  # type: ignore[arg-type]

    def wide(self, dense: torch.Tensor) -> torch.Tensor:
        """[b] contribution to the wide logit."""
        out = dense.new_zeros(len(dense))
        if self.linear is not None:
            out = out + self.linear(self.continuous(dense)).squeeze(1)
        if self.cross is not None:
            rank = dense[:, self.rank_col].long().clamp(0, N_RANK_BUCKETS - 1)
            act = dense[:, self.act_col].long().clamp(0, N_ACTIVITY_BUCKETS - 1)
            out = out + self.cross(rank * N_ACTIVITY_BUCKETS + act).squeeze(1)
        return out


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
        dense_names: Sequence[str] = (),
    ):
        super().__init__()
        specs = list(specs)
        wide_fields = _check_fields(specs, wide_fields, "wide_fields")
        deep_fields = _check_fields(specs, deep_fields, "deep_fields")
        hidden = tuple(int(h) for h in hidden)
        # Config validates these values (config.validation); only cheap guards here
        assert wide_fields or deep_fields or dense_names, "the model has no input"
        assert int(embed_dim) >= 1 and all(h >= 1 for h in hidden), (embed_dim, hidden)
        assert hidden or not deep_fields, "the deep part needs a hidden layer"
        assert activation in ACTIVATIONS, activation
        assert 0.0 <= float(dropout) < 1.0, dropout
        self.specs = specs
        self.wide_fields = list(wide_fields)
        self.deep_fields = list(deep_fields)
        self.embed_dim = int(embed_dim)
        self.dense_in = DenseInput(dense_names) if dense_names else None

        self.wide: Part | None = None
        self.wide_bias: nn.Parameter | None = None
        if wide_fields:
            self.wide = Part(specs, wide_fields, 1)
            # a linear model starts at zero (as FTRL's closed form does); the bias learns
            # the base rate
            nn.init.zeros_(self.wide.embedding.weight)
        if wide_fields or self.dense_in is not None:
            self.wide_bias = nn.Parameter(torch.zeros(1))

        self.deep: Part | None = None
        self.mlp: nn.Sequential | None = None
        if deep_fields:
            self.deep = Part(specs, deep_fields, self.embed_dim)
            nn.init.xavier_uniform_(self.deep.embedding.weight)  # as pytorch-fm
            self.deep.zero_pad()
            layers: list[nn.Module] = []
            width = self.deep.n_fields * self.embed_dim
            width += self.dense_in.n_continuous if self.dense_in is not None else 0
            for h in hidden:
                layers.append(nn.Linear(width, h))
                if batch_norm:
                    layers.append(nn.BatchNorm1d(h))
                layers.append(ACTIVATION_LAYERS[activation]())
                if dropout > 0:
                    layers.append(FastDropout(float(dropout)))
                width = h
            layers.append(nn.Linear(width, 1))
            self.mlp = nn.Sequential(*layers)

    @classmethod
    def from_config(cls, config: Config, specs: Sequence[FieldSpec]) -> WideDeep:
        """The model a configuration describes over an encoder's field specs.

        Crosses feed the wide part only, as in the paper.
        """
        crosses = [cross_name(a, b) for a, b in config.cross_pairs]
        return cls(
            specs,
            [*config.wide_fields, *crosses],
            config.deep_fields,
            embed_dim=config.embed_dim,
            hidden=config.hidden,
            activation=config.activation,
            dropout=config.dropout,
            batch_norm=config.batch_norm,
            dense_names=dense_names(config),
        )

    # ------------------------------------------------------------ parts

    def wide_logit(self, x: Encoded) -> torch.Tensor:
        """[b] logit of the wide part (bias included)."""
        part = self.wide
        assert self.wide_bias is not None
        out = self.wide_bias.expand(len(x))
        if self.dense_in is not None:
            assert x.dense is not None, "a two-stage model needs Encoded.dense"
            out = out + self.dense_in.wide(x.dense)
        if part is None:
            return out
        # one gather over every field (pad entries read the zero pad row) and one sum
        rows = gather_rows(part.embedding.weight, part.row_ids(x), part.pad)
        return out + rows.sum((1, 2))

    def deep_input(self, x: Encoded) -> torch.Tensor:
        """[b, n_fields * embed_dim (+ dense)] input of the MLP: single-valued embeddings,
        then the mean of each multi-valued field's non-pad embeddings (0 when it has
        none), then a two-stage run's continuous dense features."""
        h = self._embedded(x)
        if self.dense_in is not None and self.dense_in.n_continuous:
            assert x.dense is not None, "a two-stage model needs Encoded.dense"
            h = torch.cat([h, self.dense_in.continuous(x.dense)], 1)
        return h

    def _embedded(self, x: Encoded) -> torch.Tensor:
        part = self.deep
        assert part is not None
        b = len(x)
        ids = part.row_ids(x)
        emb = gather_rows(part.embedding.weight, ids, part.pad)
        n_single = len(part.singles)
        if not part.multis:
            return emb.reshape(b, -1)
        assert part.pad is not None  # multi-valued fields: a pad row
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
        if self.wide_bias is None:
            return self.deep_logit(x)
        if self.deep is None:
            return self.wide_logit(x)
        return self.wide_logit(x) + self.deep_logit(x)

    def forward_parts(self, x: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """(wide logit, deep logit), each [b]; an absent part gives zeros."""
        wide = self.wide_logit(x) if self.wide_bias is not None else None
        deep = self.deep_logit(x) if self.deep is not None else None
        if wide is None:
            assert deep is not None
            wide = torch.zeros_like(deep)
        if deep is None:
            deep = torch.zeros_like(wide)
        return wide, deep

    def wide_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the wide part (table and bias)."""
        if self.wide is not None:
            yield cast(nn.Parameter, self.wide.embedding.weight)
        if self.dense_in is not None:
            yield from self.dense_in.parameters()
        if self.wide_bias is not None:
            yield self.wide_bias

    def deep_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the deep part (table and MLP)."""
        if self.deep is not None and self.mlp is not None:
            yield cast(nn.Parameter, self.deep.embedding.weight)
            yield from self.mlp.parameters()


@torch.no_grad()
def predict_parts(
    model: nn.Module, x: Encoded, batch_size: int = 8192, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(wide, deep) logits of every row of ``x``, in eval mode and in slices of
    ``batch_size`` rows: two float32 CPU tensors [len(x)]. The one eval-mode batched
    forward: the evaluation, the ranking kernel and the two-stage ranking all call it."""
    if device is None:
        device = next(model.parameters()).device
    step = max(int(batch_size), 1)
    was_training = model.training
    model.eval()
    wides, deeps = [], []
    try:
        for start in range(0, len(x), step):
            wide, deep = model.forward_parts(x.take(slice(start, start + step)).to(device))  # type: ignore[operator]
            wides.append(wide.float().cpu())
            deeps.append(deep.float().cpu())
    finally:
        model.train(was_training)
    if not wides:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(wides), torch.cat(deeps)


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
