"""Which fields carry the model: permutation importance, and the wide and deep parts'
share of the logit (per field for the wide part).

Permutation importance (Breiman 2001; as scikit-learn's ``permutation_importance``): the
AUC on the part's rows minus the AUC once one field's encoded values are shuffled across
those rows (seeded; ``repeats`` shuffles, their mean and spread). A field is one encoded
input: a base field, a cross (its own column: shuffling "user" leaves "user x genre"
alone), or a two-stage run's dense column. A field the model does not use scores 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from widedeep_core.diagnostics.calibration import sigmoid
from widedeep_core.diagnostics.subject import Progress, StopCheck, Subject, checkpoint
from widedeep_core.evaluation.metrics import auc
from widedeep_core.features.inputs import Encoded
from widedeep_core.model.widedeep import predict_parts

DEFAULT_REPEATS = 3


def model_fields(s: Subject) -> list[str]:
    """The encoded fields of the run (single, multi, then dense columns)."""
    enc = s.prep.encoder
    dense = list(s.trained.model.dense_in.names) if s.trained.model.dense_in is not None else []
    return [*enc.single_names, *enc.multi_names, *dense]


def shuffled(x: Encoded, name: str, order: np.ndarray, s: Subject) -> Encoded:
    """``x`` with field ``name``'s values taken in ``order`` (a permutation of the rows)."""
    enc = s.prep.encoder
    idx = torch.from_numpy(order)
    if name in enc.single_names:
        j = enc.single_names.index(name)
        single = x.single.clone()
        single[:, j] = x.single[idx, j]
        return Encoded(single, x.multi, x.dense)
    if name in enc.multi_names:
        multi = dict(x.multi)
        multi[name] = x.multi[name].index_select(0, idx)
        return Encoded(x.single, multi, x.dense)
    dense_in = s.trained.model.dense_in
    assert x.dense is not None and dense_in is not None, name
    j = list(dense_in.names).index(name)
    dense = x.dense.clone()
    dense[:, j] = x.dense[idx, j]
    return Encoded(x.single, x.multi, dense)


def permutation_importance(
    s: Subject,
    *,
    repeats: int = DEFAULT_REPEATS,
    seed: int | None = None,
    fields: list[str] | None = None,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
) -> pd.DataFrame:
    """One row per field: which parts read it, the base AUC, the mean, std, min and max
    AUC drop over ``repeats`` seeded shuffles (default seed: the run's). ``progress``
    (fraction, message) after each shuffle; ``should_stop`` checked before each."""
    model = s.trained.model
    seed = s.trained.config.seed if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    names = fields if fields is not None else model_fields(s)
    base = auc(s.y, s.logit)
    bs = s.trained.config.eval_batch_size
    total = max(len(names) * repeats, 1)
    out = []
    for f_i, name in enumerate(names):
        drops = []
        for r in range(repeats):
            checkpoint(should_stop)
            order = rng.permutation(len(s.y))
            w, d = predict_parts(model, shuffled(s.x, name, order, s), bs)
            drops.append(base - auc(s.y, (w + d).double().numpy()))
            if progress is not None:
                progress((f_i * repeats + r + 1) / total, f"shuffling {name} ({r + 1}/{repeats})")
        arr = np.asarray(drops)
        parts = [
            p for p, fs in (("wide", model.wide_fields), ("deep", model.deep_fields)) if name in fs
        ]
        if model.dense_in is not None and name in model.dense_in.names:
            parts = ["dense"]
        out.append(
            {
                "field": name,
                "parts": "+".join(parts) or "none",
                "base_auc": base,
                "drop": float(arr.mean()),
                "std": float(arr.std()),
                "min": float(arr.min()),
                "max": float(arr.max()),
                "repeats": repeats,
            }
        )
    table = pd.DataFrame(out)
    return table.sort_values("drop", ascending=False, kind="stable", ignore_index=True)


@torch.no_grad()
def wide_terms(s: Subject) -> dict[str, np.ndarray]:
    """The wide logit of every row split into its terms: {"bias", each wide field,
    "dense" (a two-stage run's retrieval features)}; they add up to the wide logit."""
    model = s.trained.model
    n = len(s.y)
    out: dict[str, np.ndarray] = {}
    if model.wide_bias is None:
        return out
    out["bias"] = np.full(n, float(model.wide_bias.detach().cpu()[0]))
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        bs = max(int(s.trained.config.eval_batch_size), 1)
        part = model.wide
        pieces: dict[str, list[np.ndarray]] = {}
        for start in range(0, n, bs):
            xb = s.x.take(slice(start, start + bs)).to(device)
            if model.dense_in is not None:
                assert xb.dense is not None
                pieces.setdefault("dense", []).append(model.dense_in.wide(xb.dense).cpu().numpy())
            if part is None:
                continue
            vals = part.embedding.weight[:, 0][part.row_ids(xb)].cpu().numpy()
            col = 0
            for name in part.singles:
                pieces.setdefault(name, []).append(vals[:, col])
                col += 1
            for name in part.multis:
                width = xb.multi[name].shape[1]
                pieces.setdefault(name, []).append(vals[:, col : col + width].sum(1))
                col += width
    finally:
        model.train(was)
    for name, chunks in pieces.items():
        out[name] = np.concatenate(chunks).astype(np.float64)
    return out


def logit_parts(s: Subject) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the parts: wide, deep and their sum, each with mean, std, mean |logit|, its share
    of |wide| + |deep| and the AUC of that part alone; the wide part's terms: mean, std,
    mean |term| and share of the wide part's summed |terms|)."""
    parts = []
    abs_total = np.abs(s.wide).mean() + np.abs(s.deep).mean()
    for name, z in (("wide", s.wide), ("deep", s.deep), ("wide+deep", s.logit)):
        parts.append(
            {
                "part": name,
                "mean": float(z.mean()),
                "std": float(z.std()),
                "mean_abs": float(np.abs(z).mean()),
                "share": float(np.abs(z).mean() / abs_total) if abs_total > 0 else float("nan"),
                "auc": auc(s.y, z) if np.ptp(z) > 0 else float("nan"),
                "mean_probability": float(sigmoid(z).mean()),
            }
        )
    terms = wide_terms(s)
    term_abs = sum(np.abs(v).mean() for v in terms.values()) if terms else 0.0
    rows: list[dict[str, Any]] = []
    for name, v in terms.items():
        rows.append(
            {
                "term": name,
                "mean": float(v.mean()),
                "std": float(v.std()),
                "mean_abs": float(np.abs(v).mean()),
                "share": float(np.abs(v).mean() / term_abs) if term_abs > 0 else float("nan"),
            }
        )
    columns = ["term", "mean", "std", "mean_abs", "share"]
    return pd.DataFrame(parts), pd.DataFrame(rows, columns=columns)


__all__ = [
    "DEFAULT_REPEATS",
    "logit_parts",
    "model_fields",
    "permutation_importance",
    "wide_terms",
]
