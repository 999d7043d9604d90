"""Split-layer pair scoring (user half + item half of the first layer) against the
plain forward over every (user, item) pair, on every preset's architecture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from widedeep_core.config import PRESETS
from widedeep_core.data import make_synthetic
from widedeep_core.evaluation import predict_logits
from widedeep_core.features import prepare
from widedeep_core.model import WideDeep
from widedeep_core.model.factored import SplitScorer
from widedeep_core.ranking.pairs import PairScorer


@pytest.fixture(scope="module")
def data():
    return make_synthetic(60, 45, 1500, seed=3)


VARIANTS = {
    # two-stage presets score (user, candidate) pairs with dense features, never split
    **{name: {} for name, cfg in PRESETS.items() if not cfg.two_stage},
    "full+bn+dropout": {"batch_norm": True, "dropout": 0.3, "hidden": (12, 6)},
    "user x item cross": {"crosses": ("user x item", "zip x year", "age x genres")},
    "wide only": {"deep_fields": (), "crosses": ("gender x genres",)},
    "deep only": {"wide_fields": (), "crosses": ()},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_split_scorer_matches_plain_forward(data, variant):
    _assert_split_matches_plain(data, variant)


# blocks of 16 pairs: one user against slices of 16, 16 and 14 of the 46 movies; of 100:
# two users against every movie, the last block one user short
@pytest.mark.parametrize("pairs", [16, 100])
@pytest.mark.parametrize("variant", ["full", "fast"])
def test_blocks_of_pairs_match_the_plain_forward(data, variant, pairs, monkeypatch):
    monkeypatch.setattr(SplitScorer, "BLOCK_FLOATS", 1)
    monkeypatch.setattr(SplitScorer, "MIN_PAIRS", pairs)
    _assert_split_matches_plain(data, variant)


def _assert_split_matches_plain(data, variant: str) -> None:
    base = PRESETS.get(variant, PRESETS["full"])
    changes = {"embed_dim": 6, "hidden": (10, 5), **VARIANTS[variant]}
    if not changes.get("deep_fields", True):
        changes["hidden"] = (4,)
    cfg = base.replace(**changes, device="cpu")
    prep = prepare(cfg, data)
    torch.manual_seed(0)
    model = WideDeep.from_config(cfg, prep.encoder.specs)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial weights and batch-norm statistics
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * 0.6 + (0.2 if "var" in name else -0.3))
        for part in (model.wide, model.deep):
            if part is not None:
                part.zero_pad()
    model.train()  # the scorer switches to eval mode itself and back
    users = np.unique(data.ratings["user"].to_numpy())[::3]
    items = np.r_[np.unique(data.ratings["item"].to_numpy()), 10_000]  # one unknown movie
    scorer = PairScorer(model, prep.encoder, data, items)
    got = scorer(users)
    x = prep.encoder.transform_pairs(data, np.repeat(users, len(items)), np.tile(items, len(users)))
    want = predict_logits(model, x).reshape(len(users), len(items))
    assert model.training
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_split_scorer_against_no_items(data):
    cfg = PRESETS["full"].replace(embed_dim=6, hidden=(10, 5), crosses=(), device="cpu")
    prep = prepare(cfg, data)
    model = WideDeep.from_config(cfg, prep.encoder.specs)
    users = np.unique(data.ratings["user"].to_numpy())[:3]
    none = prep.encoder.transform_pairs(data, users[:0], np.zeros(0, dtype=np.int64))
    rows = prep.encoder.transform_pairs(data, users, np.zeros(3, dtype=np.int64))
    assert SplitScorer(model, none)(rows).shape == (3, 0)
