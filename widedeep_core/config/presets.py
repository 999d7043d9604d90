"""The named presets: reference (the original reproduction), paper, full, fast, topn and
the two RecBole protocol presets."""

from __future__ import annotations

from widedeep_core.config.protocols import PROTOCOLS
from widedeep_core.config.schema import Config
from widedeep_core.constants import FIELDS
from widedeep_core.errors import ConfigError

_ALL_FIELDS = FIELDS
_GENRE_CROSSES = ("gender x genres", "age x genres", "occupation x genres")
# RecBole's context fields: user_id, item_id, age, gender, occupation, genre, release_year
_CONTEXT_FIELDS = ("user", "item", "gender", "age", "occupation", "year", "genres")
_CONTEXT_CROSSES = (*_GENRE_CROSSES, "user x genres", "item x gender", "item x age")

PRESETS: dict[str, Config] = {
    # The PyTorch reference implementation (khanhnamle1994, built on pytorch-fm):
    # user and item ids only, embedding 16, MLP 16-16 with batch-norm, ReLU and
    # dropout 0.5, Adam 1e-3 with weight decay 1e-6, batch 512, 100 epochs, BCE,
    # label = rating > 3, random 80/10/10 split. Every field is spelled out so a
    # change of a default can never change this preset.
    "reference": Config(
        threshold=3.0,
        positive_rule=">",
        drop_neutral=False,
        min_rating=0.0,
        min_user_ratings=0,
        min_item_ratings=0,
        split="random",
        split_fractions=(0.8, 0.1, 0.1),
        test_history="train",
        seed=0,
        wide_fields=("user", "item"),
        deep_fields=("user", "item"),
        crosses=(),
        embed_dim=16,
        hidden=(16, 16),
        activation="relu",
        dropout=0.5,
        batch_norm=True,
        optimizer="adam",
        lr=1e-3,
        weight_decay=1e-6,
        wide_optimizer=None,
        wide_lr=None,
        ftrl_l1=0.0,
        ftrl_l2=0.0,
        batch_size=512,
        epochs=100,
        shuffle=False,
        restore_best=False,
        patience=None,
        monitor="val_auc",
        lr_schedule="none",
        device="auto",
        amp=False,
        eval_batch_size=8192,
        log_every=20,
        ranking_k=10,
        negatives=0,
        negative_sampling="uniform",
        negative_power=0.75,
        hard_negatives=0,
        retrieval="none",
        ease_lambda=500.0,
        candidates=200,
        retrieval_folds=5,
        retrieval_features=("score", "liked_score", "rank"),
        rate_features=True,
        ranking_users=None,
        preset="reference",
        name=None,
    ),
    # Cheng et al. 2016's pairing: FTRL-Proximal with L1 on the wide part (raw
    # sparse fields plus cross products), AdaGrad on the deep part, embeddings of
    # 32 and a ReLU tower that halves per layer. The paper's 1024-512-256 tower was
    # sized for Google Play's 500 billion examples; MovieLens (10^5-10^7 ratings)
    # gets the same shape at a quarter of the width. Learning rates follow the
    # TensorFlow DNNLinearCombinedClassifier defaults the paper's code shipped
    # with (AdaGrad 0.05); FTRL alpha 0.05 and L1 1e-3 suit mean-reduced batch
    # gradients. The paper uses neither dropout nor batch-norm; early stopping
    # stands in for its training on fresh data.
    "paper": Config(
        wide_fields=_ALL_FIELDS,
        deep_fields=_ALL_FIELDS,
        crosses=_GENRE_CROSSES,
        embed_dim=32,
        hidden=(256, 128, 64),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        optimizer="adagrad",
        lr=0.05,
        weight_decay=0.0,
        wide_optimizer="ftrl",
        wide_lr=0.05,
        ftrl_l1=1e-3,
        ftrl_l2=0.0,
        batch_size=1024,
        epochs=30,
        shuffle=True,
        restore_best=True,
        patience=3,
        monitor="val_auc",
        preset="paper",
    ),
    # Our default for MovieLens: every side feature, the genre crosses on the wide part
    # and early stopping on validation AUC. Chosen on ml-100k VALIDATION AUC only
    # (benchmarks/tune_full.py: a 16-trial random search, then the best candidates
    # over seeds 0 and 1): a wide 256-128 tower without dropout or batch-norm, with
    # early stopping as the regulariser, beat every smaller or dropout variant.
    "full": Config(
        wide_fields=_ALL_FIELDS,
        deep_fields=_ALL_FIELDS,
        crosses=_GENRE_CROSSES,
        embed_dim=32,
        hidden=(256, 128),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=1e-6,
        batch_size=1024,
        epochs=40,
        shuffle=True,
        restore_best=True,
        patience=3,
        monitor="val_auc",
        preset="full",
    ),
    # Time to the seed's quality: the seed's protocol (random 80/10/10,
    # rating > 3) and early stopping on validation AUC, with the cheapest model that
    # gets there. Chosen on ml-100k VALIDATION AUC over seeds 0-2 (benchmarks/
    # tune_fast.py): user and movie ids only (side features overfitted within 3 epochs
    # at these rates and never scored higher), embeddings of 16 and one hidden layer of
    # 64 without batch-norm or dropout (early stopping regularises; embeddings of 32
    # scored the same at twice the cost, a layer of 32 the same validation AUC with a
    # lower test AUC), Adam 5e-3 at batch 4096, so an ML-1M epoch is ~200 steps of the
    # fused step. Best validation AUC 0.7861 / 0.7775 / 0.7851 (0.785 reached at epoch
    # 6 and 7 on seeds 0 and 2). One hidden layer also keeps ranking every movie for
    # every user cheap (pairs.PairScorer).
    "fast": Config(
        wide_fields=("user", "item"),
        deep_fields=("user", "item"),
        crosses=(),
        embed_dim=16,
        hidden=(64,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        optimizer="adam",
        lr=5e-3,
        weight_decay=1e-6,
        batch_size=4096,
        epochs=20,
        shuffle=True,
        restore_best=True,
        patience=1,
        monitor="val_auc",
        eval_batch_size=65536,
        preset="fast",
    ),
    # Top-N lists: the paper's two stages. EASE^R proposes 200 candidates per
    # user; a small Wide & Deep re-ranks them, trained on the rated movies (labelled by
    # the threshold) plus 4 popularity-weighted sampled negatives per positive, new each
    # epoch. It reads the retrieval scores (out-of-fold for training rows), the rank
    # crossed with the user's activity (wide), like-rates and counts (dense), genres and
    # demographics (deep); no user or item ids, which overfit here. The epoch with the
    # best validation NDCG@K serves. Chosen on ml-100k validation NDCG (TOPN_FINDINGS).
    "topn": Config(
        wide_fields=(),
        deep_fields=("gender", "age", "occupation", "genres"),
        crosses=(),
        embed_dim=16,
        hidden=(32,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        optimizer="adam",
        lr=2e-3,
        weight_decay=0.0,
        batch_size=2048,
        epochs=6,
        shuffle=True,
        restore_best=True,
        patience=None,
        monitor="val_ndcg",
        negatives=4,
        negative_sampling="popularity",
        negative_power=0.75,
        retrieval="auto",
        ease_lambda=500.0,
        candidates=200,
        retrieval_folds=5,
        preset="topn",
    ),
    # RecBole's MovieLens-1M CTR protocol (benchmark/md/ml-1m_context.md): ratings of 3
    # dropped, label rating >= 4, random 80/10/10, its seven fields (no zip code), early
    # stopping on validation AUC. The model is ours, chosen on ml-100k VALIDATION AUC
    # (two `widedeep sweep` studies of 18 and 20 trials, then the best three shapes over
    # seeds 0-2; docs/benchmarks.md): the wide part's user x genre and movie x
    # demographic crosses beat the genre crosses alone in every trial; embeddings of 64
    # and one hidden layer of 64 (mean validation AUC 0.8662) beat RecBole's tuned
    # 256-256-256 tower (0.8635 with embeddings 64, 0.8604 with 32) on every seed.
    "recbole-context": Config(
        **PROTOCOLS["recbole-context"],
        wide_fields=_CONTEXT_FIELDS,
        deep_fields=_CONTEXT_FIELDS,
        crosses=_CONTEXT_CROSSES,
        embed_dim=64,
        hidden=(64,),
        activation="relu",
        dropout=0.23,
        batch_norm=False,
        optimizer="adam",
        lr=6e-3,
        weight_decay=3e-5,
        batch_size=1024,
        epochs=60,
        shuffle=True,
        restore_best=True,
        patience=3,
        monitor="val_auc",
        eval_batch_size=65536,
        preset="recbole-context",
    ),
}

# RecBole's MovieLens-1M top-N protocol (benchmark/md/ml-1m_general.md): ratings >= 3
# as implicit positives, 10-core users and movies, per-user random 80/10/10, full
# ranking with training (and at test validation) items masked, NDCG@10 picking the
# epoch. The two-stage model: EASE^R candidates re-ranked by Wide & Deep. Chosen on
# ml-100k VALIDATION NDCG@10 (docs/benchmarks.md): EASE^R lambda 300 (validation
# NDCG@10 of EASE^R alone: 0.2234 / 0.2348 / 0.2400 / 0.2429 / 0.2403 / 0.2370 at
# lambda 50 / 100 / 200 / 300 / 500 / 1000; the baseline uses the same lambda),
# 4 hard negatives from the candidates, and no liked-only retrieval score (every
# kept rating is a like here, so it would repeat the score).
# `topn`'s model on this protocol, with those three changes.
PRESETS["recbole-general"] = PRESETS["topn"].replace(
    **PROTOCOLS["recbole-general"],
    hard_negatives=4,
    ease_lambda=300.0,
    retrieval_features=("score", "rank"),
    preset="recbole-general",
)

# What a first try starts with, in the app and the CLI: minutes, not reference's 100 epochs.
DEFAULT_PRESET = "fast"

PRESET_HELP: dict[str, str] = {
    "reference": "The reference PyTorch code: user and item ids, MLP 16-16, Adam, 100 epochs.",
    "paper": "Cheng et al. 2016: FTRL with L1 on the wide part with crosses, AdaGrad on the deep.",
    "full": "All side features and genre crosses, AdamW, early stopping.",
    "fast": "Time to quality: user and movie ids, embed 16, MLP 64, Adam 5e-3, batch 4096.",
    "topn": "Top-N lists: EASE^R retrieval, then Wide & Deep re-ranking trained with negatives.",
    "recbole-context": "RecBole's MovieLens CTR protocol (3s dropped, >= 4 positive), tuned W&D.",
    "recbole-general": "RecBole's MovieLens top-N protocol (>= 3, 10-core, per-user split).",
}


def preset(name: str) -> Config:
    """The named preset; an unknown name raises ``ConfigError`` listing the known ones."""
    try:
        return PRESETS[name.strip().lower()]
    except (KeyError, AttributeError):
        raise ConfigError(
            "preset", f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}"
        ) from None


def preset_help() -> str:
    """The presets' names for a ``--preset`` help line."""
    return f"one of: {', '.join(PRESETS)} (default {DEFAULT_PRESET}; 'widedeep presets' lists them)"


def preset_settings(name: str) -> dict[str, object]:
    """The fields where preset ``name`` differs from the configuration's defaults."""
    from dataclasses import fields

    base, chosen = Config(), preset(name)
    return {
        f.name: getattr(chosen, f.name)
        for f in fields(Config)
        if getattr(chosen, f.name) != getattr(base, f.name)
    }
