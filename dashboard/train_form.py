"""The Train page's form: every control with one sentence, returning a TrainConfig and its problems."""

from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st

from core.config import SCHEDULES, Augment, TrainConfig, config_problems
from core.train.archs import ARCHS
from dashboard import state
from dashboard.text import sections

TEXT = sections("train")  # every control's sentence, from assets/text/train.md
LR_STEPS = sorted({float(f"{m * 10.0**e:.0e}") for e in range(-6, 1) for m in (1, 2, 3, 5)})
LR_STEPS = [v for v in LR_STEPS if v <= 1.0]


def nearest_step(lr: float) -> float:
    """The slider stop closest to lr on a log scale."""
    if not lr or lr <= 0 or not math.isfinite(lr):
        return LR_STEPS[0]
    return min(LR_STEPS, key=lambda v: abs(math.log10(v) - math.log10(lr)))


def _from_slider() -> None:
    st.session_state[state.LR] = st.session_state[state.LR_SLIDER]
    st.session_state[state.LR_NUMBER] = st.session_state[state.LR_SLIDER]


def _from_number() -> None:
    st.session_state[state.LR] = st.session_state[state.LR_NUMBER]
    st.session_state[state.LR_SLIDER] = nearest_step(st.session_state[state.LR_NUMBER])


def lr_controls() -> float:
    """A log-scale slider and an exact number, kept in step, both bound to state.LR."""
    lr = st.session_state[state.LR]
    if st.session_state.get(state.LR_NUMBER) != lr:  # set elsewhere, e.g. by the LR finder
        st.session_state[state.LR_NUMBER] = lr
        st.session_state[state.LR_SLIDER] = nearest_step(lr)
    st.select_slider(
        "Learning rate",
        options=LR_STEPS,
        key=state.LR_SLIDER,
        format_func=lambda v: f"{v:.0e}",
        on_change=_from_slider,
        help=TEXT["lr"],
    )
    st.number_input(
        "Learning rate (exact)",
        min_value=0.0,
        max_value=100.0,
        step=1e-4,
        format="%.2e",
        key=state.LR_NUMBER,
        on_change=_from_number,
        help=TEXT["lr_exact"],
    )
    return st.session_state[state.LR]


@dataclass
class FormResult:
    """What the form decided: the config, why it cannot run yet (if so), and the batch count."""

    config: TrainConfig
    problems: list[str]
    batches_per_epoch: int


def _persisted(key: str) -> dict:
    """Widget options that keep a value across page switches under a state key."""
    return {"key": key, "persist_state": "session"}


def train_form(dataset_names: list[str], n_train_of) -> FormResult:
    """Render the controls; n_train_of(name) gives a dataset's training-set size."""
    d = TrainConfig()
    left, right = st.columns(2)
    with left:
        dataset = st.selectbox(
            "Dataset",
            dataset_names,
            key=state.DATASET,
            persist_state="session",
            help=TEXT["dataset"],
        )
        arch = st.selectbox(
            "Architecture",
            list(ARCHS),
            key=state.ARCH,
            persist_state="session",
            format_func=lambda a: ARCHS[a].title,
            help=TEXT["arch"],
        )
        st.caption(ARCHS[arch].description)
        lr = lr_controls()
        discriminative = st.toggle(
            "Discriminative learning rates",
            **_persisted(state.DISCRIMINATIVE),
            help=TEXT["discriminative"],
        )
        lr_low = None
        if discriminative:
            st.session_state.setdefault(state.LR_LOW, lr / 100)
            lr_low = st.number_input(
                "Lowest learning rate (first layer group)",
                min_value=0.0,
                max_value=100.0,
                format="%.2e",
                step=1e-5,
                **_persisted(state.LR_LOW),
                help=TEXT["lr_low"],
            )
    with right:
        bs = st.number_input(
            "Batch size",
            min_value=0,
            max_value=100_000,
            value=d.bs,
            step=16,
            **_persisted(state.BS),
            help=TEXT["bs"],
        )
        wd = st.number_input(
            "Weight decay",
            min_value=0.0,
            max_value=10.0,
            value=d.wd,
            step=0.01,
            format="%.3f",
            **_persisted(state.WD),
            help=TEXT["wd"],
        )
        epochs = st.number_input(
            "Epochs",
            min_value=0,
            max_value=10_000,
            value=d.epochs,
            **_persisted(state.EPOCHS),
            help=TEXT["epochs"],
        )
        schedule = st.radio(
            "Schedule",
            list(SCHEDULES),
            horizontal=True,
            **_persisted(state.SCHEDULE),
            captions=None,
            format_func=lambda s: s.replace("_", " "),
            help=TEXT["schedule"]
            + " "
            + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in SCHEDULES.items()),
        )
        freeze_epochs = st.number_input(
            "Freeze epochs",
            min_value=0,
            max_value=1000,
            value=0,
            **_persisted(state.FREEZE),
            help=TEXT["freeze"],
        )
        seed = st.number_input(
            "Seed",
            min_value=0,
            max_value=2**32 - 1,
            value=d.seed,
            **_persisted(state.SEED),
            help=TEXT["seed"],
        )
        augment = st.toggle(
            "Augmentation",
            **_persisted(state.TRAIN_AUGMENT),
            help=TEXT["augment"],
        )
        aug = chosen_augment()
        if augment:
            st.caption(f"Each batch: {aug.describe()}. Change it on the Data page.")
        stopping = stopping_controls(d)
    cfg = TrainConfig(
        dataset=dataset,
        arch=arch,
        lr=float(lr),
        lr_low=lr_low,
        bs=int(bs),
        wd=float(wd),
        epochs=int(epochs),
        schedule=schedule,
        freeze_epochs=int(freeze_epochs),
        seed=int(seed),
        augment=bool(augment),
        aug=aug,
        **stopping,
    )
    n_train = n_train_of(dataset)
    problems = config_problems(cfg, n_train)
    batches = max(1, n_train // cfg.bs if n_train > cfg.bs else 1) if cfg.bs > 0 else 0
    return FormResult(cfg, problems, batches)


def stopping_controls(d: TrainConfig) -> dict:
    """Early stopping (patience, monitor) and keep-best: the TrainConfig fields they set."""
    from core.config import monitors as monitors_of

    monitors = monitors_of(d.task)
    early = st.toggle("Early stopping", **_persisted(state.EARLY_STOP), help=TEXT["early_stop"])
    values = {"early_stop": bool(early), "keep_best": False}
    if early:
        values["patience"] = int(
            st.number_input(
                "Patience (epochs)",
                min_value=1,
                max_value=100,
                value=d.patience,
                **_persisted(state.PATIENCE),
                help=TEXT["patience"],
            )
        )
    keep = st.toggle("Keep the best epoch's weights", **_persisted(state.KEEP_BEST), help=TEXT["keep_best"])
    values["keep_best"] = bool(keep)
    if early or keep:
        if st.session_state.get(state.MONITOR) not in monitors:
            st.session_state[state.MONITOR] = d.monitor if d.monitor in monitors else monitors[0]
        values["monitor"] = st.selectbox(
            "Watch",
            monitors,
            **_persisted(state.MONITOR),
            format_func=lambda m: "validation loss" if m == "valid_loss" else m,
            help=TEXT["monitor"],
        )
    return values


def fill_from_config(config: dict, source: str | None = None) -> None:
    """Set the Train form's controls to a stored run's settings ("use these settings").

    source, when given, says where they came from; the Train page shows it once.
    """
    st.session_state[state.TRAIN_NOTICE] = source
    d = TrainConfig()
    get = lambda k: config.get(k, getattr(d, k))  # noqa: E731
    st.session_state[state.DATASET] = get("dataset")
    st.session_state[state.ARCH] = get("arch")
    st.session_state[state.LR] = float(get("lr"))
    lr_low = config.get("lr_low")
    st.session_state[state.DISCRIMINATIVE] = lr_low is not None
    if lr_low is not None:
        st.session_state[state.LR_LOW] = float(lr_low)
    for key, field in (
        (state.BS, "bs"),
        (state.EPOCHS, "epochs"),
        (state.FREEZE, "freeze_epochs"),
        (state.SEED, "seed"),
    ):
        st.session_state[key] = int(get(field))
    st.session_state[state.WD] = float(get("wd"))
    st.session_state[state.SCHEDULE] = get("schedule")
    st.session_state[state.TRAIN_AUGMENT] = bool(get("augment"))
    st.session_state[state.EARLY_STOP] = bool(get("early_stop"))
    st.session_state[state.PATIENCE] = int(get("patience"))
    st.session_state[state.KEEP_BEST] = bool(get("keep_best"))
    st.session_state[state.MONITOR] = get("monitor")


def chosen_augment() -> Augment:
    """The augmentation chosen on the Data page (state.AUGMENT), or the defaults."""
    try:
        return Augment(**(st.session_state.get(state.AUGMENT) or {}))
    except TypeError:
        return Augment()


def group_table(cfg: TrainConfig, n_groups: int) -> list[dict]:
    """The peak learning rate each layer group gets under cfg (groups named as on the Model page)."""
    from core.train.schedule import group_lrs
    from dashboard.model_view import group_names

    names = group_names(n_groups)
    return [
        {"layer group": n, "peak learning rate": f"{v:.2e}"}
        for n, v in zip(names, group_lrs(cfg.lr, cfg.lr_low, n_groups))
    ]
