"""WideDeep: structure, offsets, masking, gradients and a short training sanity check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from widedeep_core.errors import ConfigError
from widedeep_core.evaluation.metrics import auc
from widedeep_core.features import Encoded, FeatureEncoder, FieldSpec
from widedeep_core.features.splits import binary_labels, make_split
from widedeep_core.model.widedeep import FastDropout, WideDeep, gather_rows
from widedeep_core.training.optim import make_optimizer

SPECS = [
    FieldSpec("user", 5),
    FieldSpec("item", 7),
    FieldSpec("gender", 3),
    FieldSpec("genres", 4, multi=True),
]


def _batch(n: int = 6, seed: int = 0) -> Encoded:
    g = torch.Generator().manual_seed(seed)
    single = torch.stack(
        [torch.randint(0, s.size, (n,), generator=g) for s in SPECS if not s.multi], 1
    )
    genres = torch.randint(1, 4, (n, 3), generator=g)
    genres[:, 2] = 0  # padding
    genres[0, 1:] = 0
    return Encoded(single, {"genres": genres})


def test_reference_layout_matches_pytorch_fm_structure():
    specs = [FieldSpec("user", 6041), FieldSpec("item", 3707)]
    m = WideDeep(specs, ["user", "item"], ["user", "item"])
    assert m.wide.embedding.weight.shape == (6041 + 3707, 1)
    assert m.deep.embedding.weight.shape == (6041 + 3707, 16)
    kinds = [type(layer) for layer in m.mlp]
    assert kinds == [
        nn.Linear, nn.BatchNorm1d, nn.ReLU, FastDropout,
        nn.Linear, nn.BatchNorm1d, nn.ReLU, FastDropout,
        nn.Linear,
    ]  # fmt: skip
    assert issubclass(FastDropout, nn.Dropout)
    assert m.mlp[0].in_features == 32 and m.mlp[-1].out_features == 1
    assert m.mlp[3].p == 0.5
    # pytorch-fm WideAndDeepModel parameter count for field_dims (6041, 3707), 16, (16, 16)
    total = 9748
    expected = total + 1 + total * 16 + (32 * 16 + 16) + 2 * 16 + (16 * 16 + 16) + 2 * 16 + 17
    assert sum(p.numel() for p in m.parameters()) == expected


def test_shapes_and_parts_sum_to_logits():
    m = WideDeep(SPECS, ["user", "item", "genres"], ["user", "item", "gender", "genres"])
    m.eval()
    x = _batch()
    out = m(x)
    assert out.shape == (6,)
    wide, deep = m.forward_parts(x)
    assert wide.shape == deep.shape == (6,)
    torch.testing.assert_close(out, wide + deep)
    # deep input: 3 single fields + 1 pooled multi-valued field
    assert m.mlp[0].in_features == 4 * 16


def test_gradient_reaches_both_parts():
    m = WideDeep(SPECS, ["user", "genres"], ["item", "genres"], hidden=(8,))
    x = _batch(16)
    loss = nn.functional.binary_cross_entropy_with_logits(m(x), torch.ones(16))
    loss.backward()
    wide = list(m.wide_parameters())
    deep = list(m.deep_parameters())
    assert {id(p) for p in wide} | {id(p) for p in deep} == {id(p) for p in m.parameters()}
    assert not {id(p) for p in wide} & {id(p) for p in deep}
    for p in wide + deep:
        assert p.grad is not None and p.grad.abs().sum() > 0


def _wide_rows(m, name):
    """[start, stop) rows of one field in the wide table."""
    start = m.wide.offsets_by_name[name]
    return start, start + next(s.size for s in m.specs if s.name == name)


def test_each_field_hits_its_own_rows():
    m = WideDeep(SPECS, ["user", "item", "gender", "genres"], ["item", "genres"], hidden=(4,))
    x = _batch(32, seed=3)
    m(x).sum().backward()
    grad = m.wide.embedding.weight.grad[:, 0]
    hit = set(torch.nonzero(grad).flatten().tolist())
    expected = set()
    for j, name in enumerate(["user", "item", "gender"]):
        start, stop = _wide_rows(m, name)
        ids = x.single[:, j]
        assert stop - start == SPECS[j].size
        expected |= {start + int(i) for i in ids}
    start, _ = _wide_rows(m, "genres")
    g = x.multi["genres"]
    expected |= {start + int(i) for i in g[g > 0]}
    assert hit == expected
    assert m.wide.pad == m.wide.total  # the pad row sits after every field


def test_wide_logit_is_the_sum_of_active_weights():
    m = WideDeep(SPECS, ["user", "item", "gender", "genres"], [], hidden=())
    with torch.no_grad():
        m.wide.embedding.weight.copy_(
            torch.arange(m.wide.embedding.num_embeddings).float()[:, None]
        )
        m.wide.zero_pad()  # the pad row is all-zero by construction (training keeps it)
        m.wide_bias.fill_(0.5)
    x = _batch()
    offsets = {n: _wide_rows(m, n)[0] for n in ["user", "item", "gender", "genres"]}
    expected = []
    for r in range(len(x)):
        total = 0.5 + sum(
            offsets[n] + int(x.single[r, j]) for j, n in enumerate(["user", "item", "gender"])
        )
        total += sum(offsets["genres"] + int(g) for g in x.multi["genres"][r] if g > 0)
        expected.append(total)
    torch.testing.assert_close(m(x), torch.tensor(expected, dtype=torch.float32))
    _, deep = m.forward_parts(x)
    assert torch.all(deep == 0)


def test_padding_does_not_change_the_pooled_mean():
    m = WideDeep(SPECS, ["genres"], ["user", "genres"], hidden=(8,))
    m.eval()
    x = _batch()
    wider = Encoded(
        x.single, {"genres": torch.cat([x.multi["genres"], torch.zeros(6, 4, dtype=torch.long)], 1)}
    )
    torch.testing.assert_close(m(x), m(wider))
    # the mean is over non-pad entries: a row with one genre equals that genre's embedding
    part = m.deep
    g0 = int(x.multi["genres"][0, 0])
    emb = part.embedding.weight[part.offsets_by_name["genres"] + g0]
    pooled = nn.functional.embedding_bag(
        part.multi_ids(x, "genres")[:1], part.embedding.weight, mode="mean", padding_idx=part.pad
    )
    torch.testing.assert_close(pooled[0], emb)


def test_part_combinations_and_bad_settings():
    wide_only = WideDeep(SPECS, ["user"], [], hidden=())
    assert wide_only.deep is None and list(wide_only.deep_parameters()) == []
    deep_only = WideDeep(SPECS, [], ["user"], activation="gelu", batch_norm=False, dropout=0.0)
    assert deep_only.wide is None and list(deep_only.wide_parameters()) == []
    assert not any(isinstance(layer, (nn.BatchNorm1d, nn.Dropout)) for layer in deep_only.mlp)
    w, d = deep_only.forward_parts(_batch())
    assert torch.all(w == 0) and d.shape == w.shape
    # fields the encoder does not have: a ConfigError naming the part
    for kw, field in [
        ({"deep_fields": ["title"]}, "deep_fields"),
        ({"wide_fields": ["title"]}, "wide_fields"),
    ]:
        args = {"wide_fields": ["user"], "deep_fields": ["item"], **kw}
        with pytest.raises(ConfigError) as err:
            WideDeep(SPECS, **args)
        assert err.value.field == field
    # values Config validates only meet cheap asserts here
    bad = [
        {"wide_fields": [], "deep_fields": []},
        {"deep_fields": ["user"], "hidden": ()},
        {"activation": "swish"},
        {"dropout": 1.0},
        {"embed_dim": 0},
        {"hidden": (16, 0)},
    ]
    for kw in bad:
        with pytest.raises(AssertionError):
            WideDeep(SPECS, **{"wide_fields": ["user"], "deep_fields": ["item"], **kw})


def test_training_a_few_epochs_beats_chance():
    from widedeep_core.data.synthetic import make_synthetic

    torch.manual_seed(0)
    data = make_synthetic(300, 400, 30000, seed=0)
    labels, _ = binary_labels(data.ratings)
    split = make_split(data.ratings, "random", seed=0)
    fields = ["user", "item", "gender", "age", "occupation", "genres"]
    enc = FeatureEncoder.fit(data, split.train, fields, ["gender x genres"])
    x_train, x_test = enc.transform(data, split.train), enc.transform(data, split.test)
    y_train = torch.from_numpy(labels[split.train])
    model = WideDeep(enc.specs, enc.names, fields, embed_dim=8, hidden=(16, 16), dropout=0.2)
    opt = make_optimizer("adam", model.parameters(), 0.01, 1e-6)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        for start in range(0, len(perm), 512):
            idx = perm[start : start + 512]
            loss = loss_fn(model(x_train.take(idx)), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        scores = model(x_test)
    assert np.isfinite(scores.numpy()).all()
    assert auc(labels[split.test], scores) > 0.7


def test_gather_rows_matches_embedding_forward_and_backward():
    g = torch.Generator().manual_seed(0)
    w1 = torch.randn(50, 4, generator=g, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_(True)
    ids = torch.randint(0, 50, (64, 3), generator=g)
    ids[0, :] = 7  # repeated ids accumulate
    up = torch.randn(64, 3, 4, generator=g)
    (gather_rows(w1, ids) * up).sum().backward()
    (torch.nn.functional.embedding(ids, w2) * up).sum().backward()
    torch.testing.assert_close(gather_rows(w1, ids), torch.nn.functional.embedding(ids, w2))
    torch.testing.assert_close(w1.grad, w2.grad)


def test_fast_dropout_keeps_expectation_and_is_identity_in_eval():
    torch.manual_seed(0)
    d = FastDropout(0.5)
    x = torch.ones(200_000)
    y = d(x)
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    assert abs(float((y == 0).float().mean()) - 0.5) < 0.01
    d.eval()
    assert torch.equal(d(x), x)


def test_dropout_mask_drops_p_in_every_lane_and_keeps_the_mean():
    """Four mask elements share one 64-bit draw: each 16-bit lane must be uniform (a
    63-bit draw would never drop the fourth), and the kept ones scaled to mean 1."""
    from widedeep_core.model.widedeep import dropout_mask

    torch.manual_seed(0)
    for p in (0.1, 0.2, 0.5, 0.9):
        mask = dropout_mask(torch.empty(400, 1000), p)
        assert set(mask.unique().tolist()) <= {0.0, float(mask.max())}
        lanes = (mask == 0).reshape(-1, 4).double().mean(0)
        assert torch.allclose(lanes, torch.full((4,), p, dtype=torch.float64), atol=0.01)
        # the mean of n scaled keeps has a standard deviation of sqrt(p / (1 - p) / n)
        assert abs(mask.double().mean().item() - 1.0) < 5 * (p / (1 - p) / mask.numel()) ** 0.5
    torch.manual_seed(3)
    a = dropout_mask(torch.empty(7, 5), 0.3)
    torch.manual_seed(3)
    assert torch.equal(a, dropout_mask(torch.empty(7, 5), 0.3))  # seeded like every draw
