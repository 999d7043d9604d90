"""One typed, validated configuration for a training run, and the named presets.

``Config`` is a frozen dataclass whose flat field names are also the CLI
``--set KEY=VALUE`` keys and the keys of ``config.json``. Each field carries
metadata (help, group, range, choices) so the GUI form and the CLI are generated
from the same source; ``config_fields()`` exposes it as ``FieldInfo`` records.
A ``Config`` can never be invalid: ``__post_init__`` validates, and every failure
is a ``ConfigError`` naming the field and the allowed values.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from widedeep_core.errors import ConfigError

FIELDS: tuple[str, ...] = ("user", "item", "gender", "age", "occupation", "zip", "year", "genres")
DEMOGRAPHIC_FIELDS: tuple[str, ...] = ("gender", "age", "occupation", "zip")
MULTI_VALUED_FIELDS: tuple[str, ...] = ("genres",)
ACTIVATIONS: tuple[str, ...] = ("relu", "sigmoid", "tanh", "gelu")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd", "adagrad", "ftrl")
SPLITS: tuple[str, ...] = ("random", "temporal", "leave-last-out")
MONITORS: tuple[str, ...] = ("val_auc", "val_logloss")
LR_SCHEDULES: tuple[str, ...] = ("none", "cosine", "step")
# Shared with devices.py so syntax and availability errors agree on what is well-formed.
DEVICE_SPEC_RE = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")
DEVICE_SPECS_TEXT = "cpu, cuda, cuda:N, mps or auto"
CROSS_SEPARATOR = " x "
GROUPS: tuple[str, ...] = ("data", "features", "model", "optimisation", "training", "device", "run")

_TRUE = frozenset({"true", "yes", "on", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "off", "0", "n", "f"})
_NONE = frozenset({"none", "null", "default", "-"})


def _f(
    default: Any,
    help: str,
    *,
    group: str,
    label: str | None = None,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    max_exclusive: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """Declare a config field with the metadata the form, the CLI and ``validate`` share."""
    meta = {
        "help": help,
        "group": group,
        "label": label,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "max_exclusive": max_exclusive,
        "choices": choices,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Config:
    """Everything that decides a training run: data protocol, features, model, optimiser, device.

    The defaults are exactly the ``reference`` preset (the PyTorch reference
    implementation's protocol), so ``Config()`` reproduces it.
    """

    # --- data protocol
    threshold: float = _f(
        3.0,
        "A rating above this counts as a positive (label 1).",
        group="data",
        min=0.0,
        max=10.0,
    )
    drop_neutral: bool = _f(
        False,
        "Leave out ratings equal to the threshold instead of labelling them 0.",
        group="data",
        label="drop ratings equal to the threshold",
    )
    split: str = _f(
        "random",
        "How ratings are split into train/validation/test: random rows, per-user by time, "
        "or each user's last rating for test and the one before for validation.",
        group="data",
        choices=SPLITS,
    )
    split_fractions: tuple[float, float, float] = _f(
        (0.8, 0.1, 0.1),
        "Train, validation and test fractions (each > 0, summing to 1); "
        "leave-last-out ignores them.",
        group="data",
        min=0.0,
        max=1.0,
        min_exclusive=True,
    )
    seed: int = _f(
        0,
        "Seed for the split, the weight initialisation and the batch order.",
        group="data",
        min=0,
        max=2**32 - 1,
    )
    # --- features
    wide_fields: tuple[str, ...] = _f(
        ("user", "item"),
        "Fields fed to the wide (linear) part.",
        group="features",
        choices=FIELDS,
    )
    deep_fields: tuple[str, ...] = _f(
        ("user", "item"),
        "Fields embedded and fed to the deep (MLP) part.",
        group="features",
        choices=FIELDS,
    )
    crosses: tuple[str, ...] = _f(
        (),
        "Cross-product features for the wide part, written 'a x b' (e.g. 'gender x genres').",
        group="features",
    )
    # --- model
    embed_dim: int = _f(
        16,
        "Embedding size of each deep field.",
        group="model",
        label="embedding size",
        min=1,
        max=1024,
    )
    hidden: tuple[int, ...] = _f(
        (16, 16),
        "Sizes of the MLP's hidden layers, first to last (e.g. 64,32).",
        group="model",
        label="hidden layers",
        min=1,
        max=65536,
    )
    activation: str = _f(
        "relu", "Activation after each hidden layer.", group="model", choices=ACTIVATIONS
    )
    dropout: float = _f(
        0.5,
        "Dropout probability after each hidden layer.",
        group="model",
        min=0.0,
        max=1.0,
        max_exclusive=True,
    )
    batch_norm: bool = _f(
        True, "Batch normalisation after each hidden layer.", group="model", label="batch norm"
    )
    # --- optimisation
    optimizer: str = _f(
        "adam",
        "Optimiser of the deep part (and of the wide part unless wide_optimizer is set).",
        group="optimisation",
        choices=OPTIMIZERS,
    )
    lr: float = _f(
        1e-3,
        "Learning rate of the deep part (and of the wide part unless wide_lr is set).",
        group="optimisation",
        label="learning rate",
        min=0.0,
        max=10.0,
        min_exclusive=True,
    )
    weight_decay: float = _f(
        1e-6,
        "L2 weight decay (ignored by ftrl, which uses ftrl_l2).",
        group="optimisation",
        label="weight decay",
        min=0.0,
        max=1.0,
    )
    wide_optimizer: str | None = _f(
        None,
        "Optimiser of the wide part; empty means the same as optimizer.",
        group="optimisation",
        label="wide optimiser",
        choices=OPTIMIZERS,
    )
    wide_lr: float | None = _f(
        None,
        "Learning rate of the wide part (the alpha of FTRL); empty means the same as lr.",
        group="optimisation",
        label="wide learning rate",
        min=0.0,
        max=10.0,
        min_exclusive=True,
    )
    ftrl_l1: float = _f(
        0.0,
        "L1 strength of FTRL-Proximal (drives unused wide weights to exactly 0).",
        group="optimisation",
        label="FTRL L1",
        min=0.0,
        max=100.0,
    )
    ftrl_l2: float = _f(
        0.0,
        "L2 strength of FTRL-Proximal.",
        group="optimisation",
        label="FTRL L2",
        min=0.0,
        max=100.0,
    )
    # --- training loop
    batch_size: int = _f(
        512, "Training examples per step.", group="training", label="batch size", min=1, max=2**22
    )
    epochs: int = _f(
        100, "Maximum passes over the training set.", group="training", min=1, max=100_000
    )
    shuffle: bool = _f(
        False,
        "Draw a new seeded order of the training rows every epoch. Off, one seeded order "
        "is kept for all epochs, as the reference implementation's DataLoader did.",
        group="training",
        label="reshuffle every epoch",
    )
    restore_best: bool = _f(
        False,
        "Report test metrics (and serve recommendations) with the weights of the best "
        "validation epoch. Off, the last epoch's weights are used, as the reference did.",
        group="training",
        label="restore best weights",
    )
    patience: int | None = _f(
        None,
        "Stop after this many epochs without improvement of monitor; empty or 0 disables "
        "early stopping.",
        group="training",
        min=0,
        max=100_000,
    )
    monitor: str = _f(
        "val_auc",
        "Validation metric that picks the best epoch and drives early stopping.",
        group="training",
        choices=MONITORS,
    )
    lr_schedule: str = _f(
        "none",
        "Learning-rate schedule over the epochs.",
        group="training",
        label="LR schedule",
        choices=LR_SCHEDULES,
    )
    # --- device
    device: str = _f(
        "auto",
        "Compute device: cpu, cuda, cuda:N, mps, or auto (cuda, then mps, then cpu).",
        group="device",
    )
    amp: bool = _f(
        False, "Mixed precision on GPUs (ignored on CPU).", group="device", label="mixed precision"
    )
    eval_batch_size: int = _f(
        8192,
        "Examples per step when scoring validation and test sets.",
        group="device",
        label="evaluation batch size",
        min=1,
        max=2**24,
    )
    # --- run bookkeeping
    log_every: int = _f(
        20,
        "Batches between two batch events (loss points on the live curve).",
        group="run",
        label="log every (batches)",
        min=1,
        max=1_000_000,
    )
    ranking_k: int = _f(
        10,
        "K of HR@K, NDCG@K, precision@K and recall@K.",
        group="run",
        label="ranking K",
        min=1,
        max=1000,
    )
    preset: str = _f(
        "reference", "Name of the preset this configuration started from.", group="run"
    )
    name: str | None = _f(None, "Optional display name of the run.", group="run", label="run name")

    def __post_init__(self) -> None:
        for info in config_fields():
            object.__setattr__(self, info.name, _coerce(info, getattr(self, info.name)))
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError(field, message)`` for the first impossible value."""
        for info in config_fields():
            _check_field(info, getattr(self, info.name))
        _check_cross_fields(self)

    def replace(self, **changes: Any) -> Config:
        """Return a validated copy with ``changes`` applied; unknown keys raise ``ConfigError``."""
        for key in changes:
            if key not in _field_map():
                raise _unknown_key(key)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        out: dict[str, Any] = {}
        for info in config_fields():
            value = getattr(self, info.name)
            out[info.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Build from a JSON dict; missing keys take defaults, unknown keys raise ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError("config", f"expected a JSON object, got {type(data).__name__}")
        for key in data:
            if key not in _field_map():
                raise _unknown_key(str(key))
        return cls(**dict(data))

    # --- derived views other modules rely on
    @property
    def wide_optimizer_name(self) -> str:
        """The optimiser the wide part actually uses."""
        return self.wide_optimizer or self.optimizer

    @property
    def wide_learning_rate(self) -> float:
        """The learning rate the wide part actually uses."""
        return self.wide_lr if self.wide_lr is not None else self.lr

    @property
    def early_stopping(self) -> bool:
        """True when ``patience`` asks for early stopping."""
        return bool(self.patience)

    @property
    def cross_pairs(self) -> tuple[tuple[str, str], ...]:
        """Crosses as (a, b) field pairs, in the configured order."""
        return tuple(split_cross(c) for c in self.crosses)

    @property
    def all_fields(self) -> tuple[str, ...]:
        """Every field the model reads (wide, deep and cross components), in ``FIELDS`` order."""
        used = set(self.wide_fields) | set(self.deep_fields)
        for a, b in self.cross_pairs:
            used.update((a, b))
        return tuple(f for f in FIELDS if f in used)


@dataclass(frozen=True)
class FieldInfo:
    """What a form or CLI needs to know about one ``Config`` field."""

    name: str
    kind: str  # bool, int, float, str, str_tuple, int_tuple, float_tuple
    optional: bool  # None allowed
    length: int | None  # fixed tuple length, None when any length
    default: Any
    help: str
    group: str
    label: str
    min: float | None
    max: float | None
    min_exclusive: bool
    max_exclusive: bool
    choices: tuple[str, ...] | None  # for str_tuple: allowed items

    def describe_range(self) -> str:
        """Human text of the allowed values, e.g. '(0, 10]' or 'one of: adam, sgd'."""
        if self.choices is not None:
            return "one of: " + ", ".join(self.choices)
        if self.min is None and self.max is None:
            return "any value"
        lo = "-inf" if self.min is None else _num(self.min)
        hi = "inf" if self.max is None else _num(self.max)
        left = "(" if self.min_exclusive or self.min is None else "["
        right = ")" if self.max_exclusive or self.max is None else "]"
        return f"{left}{lo}, {hi}{right}"


def _num(value: float) -> str:
    """Short text of a bound: 1 not 1.0, 4294967295 in full."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _kind_of(tp: Any) -> tuple[str, bool, int | None]:
    """Map a field annotation to (kind, optional, fixed tuple length)."""
    optional = False
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        (tp,) = [a for a in args if a is not type(None)]
    if tp in (bool, int, float, str):
        return tp.__name__, optional, None
    if typing.get_origin(tp) is tuple:
        items = typing.get_args(tp)
        length = None if (len(items) == 2 and items[1] is Ellipsis) else len(items)
        return f"{items[0].__name__}_tuple", optional, length
    raise TypeError(f"unsupported config field type {tp!r}")  # a programming error, not user input


@functools.cache
def config_fields() -> tuple[FieldInfo, ...]:
    """Describe every ``Config`` field in declaration order (for forms, the CLI and docs)."""
    hints = typing.get_type_hints(Config)
    infos = []
    for f in dataclasses.fields(Config):
        kind, optional, length = _kind_of(hints[f.name])
        m = f.metadata
        infos.append(
            FieldInfo(
                name=f.name,
                kind=kind,
                optional=optional,
                length=length,
                default=f.default,
                help=m["help"],
                group=m["group"],
                label=m["label"] or f.name.replace("_", " "),
                min=m["min"],
                max=m["max"],
                min_exclusive=m["min_exclusive"],
                max_exclusive=m["max_exclusive"],
                choices=m["choices"],
            )
        )
    return tuple(infos)


@functools.cache
def _field_map() -> dict[str, FieldInfo]:
    return {info.name: info for info in config_fields()}


def field_info(name: str) -> FieldInfo:
    """The ``FieldInfo`` of one field; an unknown name raises ``ConfigError``."""
    try:
        return _field_map()[name]
    except KeyError:
        raise _unknown_key(name) from None


def _unknown_key(key: str) -> ConfigError:
    known = ", ".join(info.name for info in config_fields())
    return ConfigError(key, f"unknown setting; known settings: {known}")


# ---------------------------------------------------------------- coercion and checks


def _coerce(info: FieldInfo, value: Any) -> Any:
    """Apply the harmless normalisations JSON and forms need; anything else is left to validate."""
    if value is None:
        return value
    if info.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if info.kind == "str" and isinstance(value, str):
        value = value.strip()
        if info.optional and not value:
            return None  # an empty form entry means "not set"
        # Choices and devices are case-insensitive; free text (names) keeps its case.
        return value.lower() if (info.choices or info.name == "device") else value
    if info.kind.endswith("_tuple") and isinstance(value, (list, tuple)):
        items = list(value)
        if info.kind == "float_tuple":
            items = [
                float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in items
            ]
        if info.kind == "str_tuple":
            items = [v.strip() for v in items] if all(isinstance(v, str) for v in items) else items
            if info.name == "crosses":
                items = [normalize_cross(v) if isinstance(v, str) else v for v in items]
            elif info.choices:
                items = [v.lower() if isinstance(v, str) else v for v in items]
        return tuple(items)
    return value


_TYPE_WORDS = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "str_tuple": "a list of names",
    "int_tuple": "a list of whole numbers",
    "float_tuple": "a list of numbers",
}


def _is_type(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, float)
    if kind == "str":
        return isinstance(value, str)
    return isinstance(value, tuple) and all(_is_type(kind[: -len("_tuple")], v) for v in value)


def _in_range(info: FieldInfo, value: float) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if info.min is not None and (value <= info.min if info.min_exclusive else value < info.min):
        return False
    return not (
        info.max is not None and (value >= info.max if info.max_exclusive else value > info.max)
    )


def _check_field(info: FieldInfo, value: Any) -> None:
    """Type, range, choices and duplicates of one field."""
    name = info.name
    if value is None:
        if info.optional:
            return
        raise ConfigError(name, f"must be set ({_TYPE_WORDS[info.kind]})")
    if not _is_type(info.kind, value):
        raise ConfigError(
            name, f"must be {_TYPE_WORDS[info.kind]}, got {value!r} ({type(value).__name__})"
        )
    if info.length is not None and len(value) != info.length:
        raise ConfigError(name, f"needs exactly {info.length} values, got {len(value)}")
    items = value if isinstance(value, tuple) else (value,)
    if info.kind in ("int", "float", "int_tuple", "float_tuple"):
        for item in items:
            if not _in_range(info, item):
                what = "each value" if isinstance(value, tuple) else "value"
                raise ConfigError(name, f"{what} must be in {info.describe_range()}, got {item!r}")
    if info.choices is not None:
        for item in items:
            if item not in info.choices:
                raise ConfigError(
                    name, f"unknown value {item!r}; allowed: {', '.join(info.choices)}"
                )
    if info.kind == "str_tuple":
        seen = set()
        for item in items:
            if item in seen:
                raise ConfigError(name, f"{item!r} is listed twice")
            seen.add(item)


def _check_cross_fields(cfg: Config) -> None:
    """Rules that involve the meaning of a field or more than one field."""
    total = sum(cfg.split_fractions)
    if abs(total - 1.0) > 1e-6:
        fractions = ", ".join(_num(f) for f in cfg.split_fractions)
        raise ConfigError("split_fractions", f"must sum to 1, got {fractions} (sum {total:.6g})")
    seen_pairs: dict[frozenset[str], str] = {}
    for cross in cfg.crosses:
        a, b = split_cross(cross)
        pair = frozenset((a, b))
        if pair in seen_pairs:
            raise ConfigError("crosses", f"{cross!r} repeats {seen_pairs[pair]!r}")
        seen_pairs[pair] = cross
    if cfg.deep_fields and not cfg.hidden:
        raise ConfigError(
            "hidden", "needs at least one layer size when deep_fields is set (e.g. 64,32)"
        )
    if not (cfg.wide_fields or cfg.deep_fields or cfg.crosses):
        raise ConfigError(
            "wide_fields", "the model has no input: set wide_fields, crosses or deep_fields"
        )
    if not DEVICE_SPEC_RE.match(cfg.device):
        raise ConfigError("device", f"{cfg.device!r} is not understood; use {DEVICE_SPECS_TEXT}")
    if not cfg.preset or len(cfg.preset) > 100:
        raise ConfigError("preset", "must be a name of 1 to 100 characters")
    if cfg.name is not None and (not cfg.name or len(cfg.name) > 200):
        raise ConfigError("name", "must be empty or a name of at most 200 characters")
    if any(ord(ch) < 32 for ch in (cfg.name or "") + cfg.preset):
        raise ConfigError("name" if cfg.name else "preset", "must not contain control characters")


def normalize_cross(text: str) -> str:
    """Canonical spelling of a cross: 'Gender  X genres' -> 'gender x genres' (not validated)."""
    parts = re.split(r"\s+[xX×]\s+|\s*[×*]\s*", text.strip())
    if len(parts) != 2:
        return text.strip()
    return parts[0].strip().lower() + CROSS_SEPARATOR + parts[1].strip().lower()


def split_cross(cross: str) -> tuple[str, str]:
    """Split 'a x b' into two known, different fields; anything else raises ``ConfigError``."""
    parts = normalize_cross(cross).split(CROSS_SEPARATOR)
    if len(parts) != 2:
        raise ConfigError(
            "crosses", f"{cross!r} is not of the form 'a x b' (e.g. 'gender x genres')"
        )
    a, b = parts
    for part in (a, b):
        if part not in FIELDS:
            raise ConfigError(
                "crosses", f"{cross!r}: unknown field {part!r}; fields: {', '.join(FIELDS)}"
            )
    if a == b:
        raise ConfigError("crosses", f"{cross!r} crosses a field with itself")
    return a, b


# ---------------------------------------------------------------- text <-> values


def parse_value(name: str, text: str) -> Any:
    """Parse the text of one field (CLI ``--set`` value or form entry) by the field's type."""
    info = field_info(name)
    raw = text.strip()
    if info.optional and (raw == "" or raw.lower() in _NONE):
        return None
    if info.kind.endswith("_tuple"):
        inner = raw[1:-1] if raw[:1] in "([" and raw[-1:] in ")]" else raw
        if inner.strip() == "" or inner.strip().lower() in _NONE:
            return ()
        base = info.kind[: -len("_tuple")]
        return tuple(_parse_scalar(info, base, part.strip(), text) for part in inner.split(","))
    return _parse_scalar(info, info.kind, raw, text)


def _parse_scalar(info: FieldInfo, kind: str, raw: str, whole: str) -> Any:
    if kind == "str":
        return raw
    if kind == "bool":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(info.name, f"cannot read {whole!r} as true or false")
    try:
        return int(raw) if kind == "int" else float(raw)
    except ValueError:
        extra = "; separate values with commas" if info.kind.endswith("_tuple") else ""
        raise ConfigError(
            info.name, f"cannot read {whole!r} as {_TYPE_WORDS[info.kind]}{extra}"
        ) from None


def format_value(name: str, value: Any) -> str:
    """Text of a field value that ``parse_value`` reads back to the same value."""
    info = field_info(name)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(format_value_item(v) for v in value)
    return format_value_item(value) if info.kind != "str" else str(value)


def format_value_item(value: Any) -> str:
    """Text of one scalar: floats as their shortest round-tripping repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def from_strings(base: Config, strings: Mapping[str, str]) -> Config:
    """Apply ``{"key": "text"}`` settings (CLI ``--set``, form entries) to ``base``, validated."""
    changes = {key: parse_value(key, str(text)) for key, text in strings.items()}
    return base.replace(**changes)


config_from_strings = from_strings


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """Split CLI ``KEY=VALUE`` items into a dict; a malformed item raises ``ConfigError``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError("--set", f"expected KEY=VALUE, got {item!r}")
        field_info(key)  # unknown keys fail here, with the list of known ones
        out[key] = value
    return out


# ---------------------------------------------------------------- presets

_ALL_FIELDS = FIELDS
_GENRE_CROSSES = ("gender x genres", "age x genres", "occupation x genres")

PRESETS: dict[str, Config] = {
    # The PyTorch reference implementation (khanhnamle1994, built on pytorch-fm):
    # user and item ids only, embedding 16, MLP 16-16 with batch-norm, ReLU and
    # dropout 0.5, Adam 1e-3 with weight decay 1e-6, batch 512, 100 epochs, BCE,
    # label = rating > 3, random 80/10/10 split. Every field is spelled out so a
    # change of a default can never change this preset.
    "reference": Config(
        threshold=3.0,
        drop_neutral=False,
        split="random",
        split_fractions=(0.8, 0.1, 0.1),
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
    # Time to the seed's quality (issue 10): the seed's protocol (random 80/10/10,
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
}

PRESET_HELP: dict[str, str] = {
    "reference": "The reference PyTorch code: user and item ids, MLP 16-16, Adam, 100 epochs.",
    "paper": "Cheng et al. 2016: FTRL with L1 on the wide part with crosses, AdaGrad on the deep.",
    "full": "All side features and genre crosses, AdamW, early stopping.",
    "fast": "Time to quality: user and movie ids, embed 16, MLP 64, Adam 5e-3, batch 4096.",
}


def preset(name: str) -> Config:
    """The named preset; an unknown name raises ``ConfigError`` listing the known ones."""
    try:
        return PRESETS[name.strip().lower()]
    except (KeyError, AttributeError):
        raise ConfigError(
            "preset", f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}"
        ) from None


# ---------------------------------------------------------------- fields vs. data


def fields_available(data: Any) -> tuple[str, ...]:
    """Fields a loaded ``MovieLensData`` can provide (no demographics in ml-10m / csv)."""
    has_users = bool(getattr(data, "has_demographics", False))
    return tuple(f for f in FIELDS if has_users or f not in DEMOGRAPHIC_FIELDS)


def _missing_uses(cfg: Config, available: set[str]) -> list[tuple[str, str, str]]:
    """(config key, item, missing field) for every use of an unavailable field."""
    uses = []
    for key in ("wide_fields", "deep_fields"):
        uses += [(key, f, f) for f in getattr(cfg, key) if f not in available]
    for cross, (a, b) in zip(cfg.crosses, cfg.cross_pairs, strict=True):
        uses += [("crosses", cross, f) for f in (a, b) if f not in available]
    return uses


def check_against_data(cfg: Config, available_fields: Iterable[str]) -> Config:
    """Return ``cfg`` if the data has every field it uses, else raise ConfigError naming them."""
    available = set(available_fields)
    uses = _missing_uses(cfg, available)
    if not uses:
        return cfg
    missing = sorted({f for _, _, f in uses}, key=FIELDS.index)
    keys = sorted({k for k, _, _ in uses}, key=["wide_fields", "deep_fields", "crosses"].index)
    raise ConfigError(
        keys[0],
        f"this data set has no {', '.join(missing)} (used in {', '.join(keys)}); "
        f"available fields: {', '.join(f for f in FIELDS if f in available)}",
    )


def adapt_to_data(cfg: Config, available_fields: Iterable[str]) -> tuple[Config, list[str]]:
    """Drop unavailable fields and the crosses using them; return the new config and notes."""
    available = set(available_fields)
    uses = _missing_uses(cfg, available)
    if not uses:
        return cfg, []
    notes = []
    for key in ("wide_fields", "deep_fields"):
        dropped = [f for f in getattr(cfg, key) if f not in available]
        if dropped:
            notes.append(f"{key}: dropped {', '.join(dropped)} (not in this data set)")
    bad_crosses = [c for c in cfg.crosses if any(f not in available for f in split_cross(c))]
    if bad_crosses:
        notes.append(f"crosses: dropped {', '.join(bad_crosses)} (field not in this data set)")
    adapted = cfg.replace(
        wide_fields=tuple(f for f in cfg.wide_fields if f in available),
        deep_fields=tuple(f for f in cfg.deep_fields if f in available),
        crosses=tuple(c for c in cfg.crosses if c not in bad_crosses),
    )
    return adapted, notes
