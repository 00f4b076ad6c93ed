"""TrainConfig: the one source of truth for training settings (UI defaults, CLI flags, stored runs)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError

SCHEDULES = {
    "one_cycle": "warm up, then anneal (fastai's fit_one_cycle: usually the best choice)",
    "constant": "the same learning rate throughout (fastai's fit)",
    "flat_cos": "flat, then a cosine fall to zero over the last quarter (fit_flat_cos)",
}


@dataclass(frozen=True)
class Augment:
    """Random changes applied to each training batch so the model cannot memorise pixels."""

    flip: bool = False  # mirror left-right; off by default because a mirrored digit is not a digit
    max_rotate: float = 10.0  # degrees either way
    max_zoom: float = 1.1  # 1.0 means no zoom
    max_translate: float = 0.1  # as a fraction of the image size
    max_lighting: float = 0.2  # brightness and contrast change, 0 means none
    # Perspective tilt, as fastai's max_warp (0.2 there); off here so existing runs stay the same.
    max_warp: float = 0.0

    def describe(self) -> str:
        """The changes that are on, in words (for captions)."""
        parts = []
        if self.flip:
            parts.append("mirror left-right")
        if self.max_rotate:
            parts.append(f"rotate up to ±{self.max_rotate:g}°")
        if self.max_zoom > 1:
            parts.append(f"zoom up to {self.max_zoom:g}×")
        if self.max_warp:
            parts.append(f"warp up to {self.max_warp:g}")
        if self.max_translate:
            parts.append(f"shift up to {self.max_translate:.0%}")
        if self.max_lighting:
            parts.append(f"lighting up to ±{self.max_lighting:.0%}")
        return ", ".join(parts) or "nothing (every change is off)"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; stored with the run so it can be repeated."""

    task: str = "single_label"  # the kind of problem (core/tasks): decides loaders, learner, metrics
    dataset: str = "digits"
    arch: str = "mnist_cnn"
    lr: float = 3e-3  # with one-cycle this is the peak learning rate
    lr_low: float | None = None  # with lr, a discriminative range like fastai's slice(lr_low, lr)
    bs: int = 64
    wd: float = 0.01  # fastai's default weight decay (decoupled, as in AdamW)
    epochs: int = 5
    schedule: str = "one_cycle"
    freeze_epochs: int = 0  # >0 trains only the head first, as fine_tune does
    seed: int = 0
    size: int | None = None  # image side in pixels; None takes the dataset's own default
    valid_pct: float = 0.2  # used only when the dataset has no train/ and valid/ folders
    augment: bool = False
    aug: Augment = field(default_factory=Augment)
    pretrained: bool = True  # use ImageNet weights when they are on this machine
    mixed_precision: bool = False  # only on a CUDA GPU: faster, half the memory
    # Stop after `patience` epochs in which `monitor` did not improve (fastai's
    # EarlyStoppingCallback): a learner sees when more epochs stop helping, and a sweep wastes
    # less time on settings that have stopped learning.
    early_stop: bool = False
    patience: int = 3
    monitor: str = "valid_loss"  # or the task's main metric (e.g. "accuracy"); decides "best"
    # Keep the weights of the best epoch by `monitor` instead of the last (fastai's
    # SaveModelCallback): the last epoch is not always the best, e.g. when the learning rate is
    # too high at the end; Results, export and Predict then use the kept weights.
    keep_best: bool = False
    # The task's own settings (its Options dataclass); None or a dict is turned into it, so the
    # UI, the CLI and stored runs share one config tree whatever the task.
    options: Any = None

    def __post_init__(self):
        from core import tasks

        if not isinstance(self.task, str) or self.task not in tasks.TASKS:
            return  # validate() says so in a sentence
        Options = tasks.get(self.task).Options
        if self.options is None or isinstance(self.options, dict):
            values = dict(self.options or {})
            known = {f.name for f in dataclasses.fields(Options)}
            unknown = sorted(set(values) - known)
            if unknown:
                raise ConfigError(f"Unknown {self.task} setting(s): {', '.join(map(str, unknown))}.")
            object.__setattr__(self, "options", Options(**values))
        elif not isinstance(self.options, Options):
            raise ConfigError(f"The options of a {self.task} run must be {Options.__name__}.")

    def lr_arg(self) -> float | slice:
        """The learning rate as fastai's fit functions take it: a float, or slice(lo, hi)."""
        if self.lr_low is None:
            return self.lr
        return slice(self.lr_low, self.lr)

    def validate(self, n_train: int | None = None) -> TrainConfig:
        """Refuse values outside sensible ranges with a sentence saying why; returns self."""
        problems = config_problems(self, n_train)
        if problems:
            raise ConfigError(problems[0])
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (aug's max_warp only when warp is on)."""
        data = dataclasses.asdict(self)
        # A worker started before warp existed refuses unknown keys; runs without warp stay
        # readable by it, and from_dict fills the missing key with 0.
        if not data["aug"]["max_warp"]:
            del data["aug"]["max_warp"]
        # The same for the stopping settings: left out while at their defaults.
        for name in STOPPING_FIELDS:
            if data[name] == _STOPPING_DEFAULTS[name]:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a stored run), refusing unknown keys."""
        if not isinstance(data, dict):
            raise ConfigError("Training settings must be a table of names and values.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise ConfigError(f"Unknown training setting(s): {', '.join(unknown)}.")
        values = dict(data)
        if isinstance(values.get("aug"), dict):
            aug_known = {f.name for f in dataclasses.fields(Augment)}
            aug_unknown = sorted(map(str, set(values["aug"]) - aug_known))
            if aug_unknown:
                raise ConfigError(f"Unknown augmentation setting(s): {', '.join(aug_unknown)}.")
            values["aug"] = Augment(**values["aug"])
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


STOPPING_FIELDS = ("early_stop", "patience", "monitor", "keep_best")
_STOPPING_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in STOPPING_FIELDS}


def monitors(task: str) -> list[str]:
    """What early stopping and keep-best may watch: the validation loss or the task's main metric."""
    from core import tasks

    known = isinstance(task, str) and task in tasks.TASKS
    return ["valid_loss", tasks.get(task).main_metric] if known else ["valid_loss"]


def finite(x: Any) -> bool:
    """A number that is not a bool, NaN, infinite, or an int too large to be a float."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int of hundreds of digits
        return False


def _within(x: Any, low: float, high: float) -> bool:
    return finite(x) and low <= x <= high


def config_problems(cfg: TrainConfig, n_train: int | None = None) -> list[str]:
    """Every reason the config is not sensible, as sentences (empty when it is fine)."""
    from core import tasks
    from core.train.archs import ARCHS

    out = []
    if not isinstance(cfg.task, str) or cfg.task not in tasks.TASKS:
        out.append(f"Unknown task {str(cfg.task)[:40]!r}; choose one of: {', '.join(tasks.names())}.")
    else:
        if cfg.options is not None:
            try:
                out.extend(cfg.options.problems())
            except (TypeError, ValueError, OverflowError):  # e.g. an int of 400 digits for a fraction
                out.append(
                    f"One of the {cfg.task} settings is not a usable number (far too large, or text "
                    "where a number goes)."
                )
        task = tasks.get(cfg.task)
        if not isinstance(cfg.arch, str) or cfg.arch not in ARCHS:
            out.append(
                f"Unknown architecture {str(cfg.arch)[:40]!r}. Choose one of: {', '.join(task.archs)}."
            )
        elif cfg.arch not in task.archs:
            out.append(
                f"{cfg.arch!r} is not an architecture for {task.title.lower()}; choose one of: "
                f"{', '.join(task.archs)}."
            )
    if isinstance(cfg.lr, (int, float)) and not finite(cfg.lr) and cfg.lr > 0:  # inf, or 10**400
        out.append("The learning rate must be a finite number below 10 (try 3e-3).")
    elif not finite(cfg.lr) or cfg.lr <= 0:
        out.append("The learning rate must be greater than 0 (try 3e-3).")
    elif cfg.lr >= 10:
        out.append("A learning rate of 10 or more makes training diverge; use one below 10.")
    if cfg.lr_low is not None:
        if not finite(cfg.lr_low) or cfg.lr_low <= 0:
            out.append("The low end of the learning-rate range must be greater than 0.")
        elif finite(cfg.lr) and cfg.lr_low > cfg.lr:
            out.append("The low end of the learning-rate range must not exceed the high end.")
    if not isinstance(cfg.bs, int) or cfg.bs < 1:
        out.append("The batch size must be at least 1.")
    elif cfg.bs > 4096:
        out.append("A batch size above 4096 will not fit in memory here; use a smaller one.")
    elif n_train is not None and cfg.bs > n_train:
        from core import tasks

        what = {"table": "rows", "ratings": "ratings"}.get(
            tasks.get(cfg.task).inputs if cfg.task in tasks.TASKS else "", "images"
        )
        out.append(
            f"The batch size ({cfg.bs}) is larger than the training set ({n_train} {what}); "
            f"use at most {n_train}."
        )
    if not finite(cfg.wd) or not 0 <= cfg.wd <= 1:
        out.append("Weight decay must be between 0 and 1 (fastai's default is 0.01).")
    if not isinstance(cfg.epochs, int) or cfg.epochs < 1:
        out.append("Train for at least 1 epoch.")
    elif cfg.epochs > 1000:
        out.append("At most 1000 epochs per run.")
    if not isinstance(cfg.freeze_epochs, int) or not 0 <= cfg.freeze_epochs <= 100:
        out.append("Freeze epochs must be between 0 and 100.")
    if not isinstance(cfg.schedule, str) or cfg.schedule not in SCHEDULES:
        out.append(f"Unknown schedule {str(cfg.schedule)[:40]!r}; choose one of: {', '.join(SCHEDULES)}.")
    if not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**32:
        out.append("The seed must be a whole number from 0 to 4294967295.")
    if cfg.size is not None and (not isinstance(cfg.size, int) or not 8 <= cfg.size <= 512):
        out.append("The image size must be between 8 and 512 pixels.")
    if not finite(cfg.valid_pct) or not 0.05 <= cfg.valid_pct <= 0.5:
        out.append("The validation share must be between 0.05 and 0.5.")
    if not isinstance(cfg.patience, int) or isinstance(cfg.patience, bool) or not 1 <= cfg.patience <= 100:
        out.append("Patience must be a whole number of epochs from 1 to 100.")
    if not isinstance(cfg.monitor, str) or cfg.monitor not in monitors(cfg.task):
        out.append(
            f"Early stopping and keep-best watch {' or '.join(monitors(cfg.task))}, not {cfg.monitor!r}."
        )
    a = cfg.aug
    if not isinstance(a, Augment):
        return [*out, "The augmentation settings must be rotation, zoom, shift, lighting and warp values."]
    if not _within(a.max_rotate, 0, 180):
        out.append("Rotation must be between 0 and 180 degrees.")
    if not _within(a.max_zoom, 1, 2):
        out.append("Zoom must be between 1.0 (none) and 2.0.")
    if not _within(a.max_translate, 0, 0.5):
        out.append("Shift must be between 0 and 0.5 of the image.")
    if not _within(a.max_lighting, 0, 0.9):
        out.append("Lighting change must be between 0 and 0.9.")
    if not _within(a.max_warp, 0, 0.5):
        out.append("Warp must be between 0 and 0.5.")
    return out
