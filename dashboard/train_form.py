"""The Train page's form: every control with one sentence, returning a TrainConfig and its problems.

The chosen dataset decides the task; the form shows that task's architectures and settings only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import streamlit as st

from core import tasks
from core.config import SCHEDULES, Augment, TrainConfig, config_problems, monitors
from core.train.archs import ARCHS
from dashboard import state
from dashboard.text import sections
from dashboard.train_options import LABEL_SMOOTHING as LABEL_SMOOTHING
from dashboard.train_options import OPTION_PREFIX, embedding_sizes, option_controls
from dashboard.train_options import THRESHOLD as THRESHOLD

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


MIXED_PRECISION = "train_mixed_precision"  # the mixed-precision toggle (shown on a CUDA GPU only)
FORM_TASK = "train_form_task"  # the task the form's values are for: a dataset of another task refills it
_FIELDS = (  # (state key, TrainConfig field, type) of the controls a config fills
    (state.LR, "lr", float),
    (state.BS, "bs", int),
    (state.WD, "wd", float),
    (state.EPOCHS, "epochs", int),
    (state.SCHEDULE, "schedule", str),
    (state.FREEZE, "freeze_epochs", int),
    (state.SEED, "seed", int),
    (state.TRAIN_AUGMENT, "augment", bool),
    (state.EARLY_STOP, "early_stop", bool),
    (state.PATIENCE, "patience", int),
    (state.KEEP_BEST, "keep_best", bool),
    (state.MONITOR, "monitor", str),
)


def _set_controls(cfg: TrainConfig, only_missing: bool = False) -> None:
    """Give the form's controls (all but the dataset) cfg's values; only_missing: only unset ones."""
    put = st.session_state.setdefault if only_missing else st.session_state.__setitem__
    put(state.ARCH, cfg.arch)
    for key, field, kind in _FIELDS:
        put(key, kind(getattr(cfg, field)))
    put(state.DISCRIMINATIVE, cfg.lr_low is not None)
    if cfg.lr_low is not None:
        put(state.LR_LOW, float(cfg.lr_low))
    for f in dataclasses.fields(cfg.options):
        put(OPTION_PREFIX + f.name, getattr(cfg.options, f.name))


def follow_task(task, dataset: str) -> None:
    """Fill the form for the dataset's task: every control when the task changed (a fresh run of
    that task, tasks.default_config), else only controls never set; an architecture the task
    cannot use becomes its default."""
    fresh = tasks.default_config(task.name, dataset=dataset)
    _set_controls(fresh, only_missing=st.session_state.get(FORM_TASK, tasks.DEFAULT) == task.name)
    st.session_state[FORM_TASK] = task.name
    if st.session_state.get(state.ARCH) not in task.archs:
        st.session_state[state.ARCH] = task.default_arch
    if st.session_state.get(state.MONITOR) not in monitors(task.name):
        st.session_state[state.MONITOR] = fresh.monitor


def train_form(dataset_names: list[str], n_train_of) -> FormResult:
    """Render the controls; n_train_of(name) gives a dataset's training-set size.

    The dataset decides the task (its layout): the form offers that task's architectures and
    settings, and a dataset of another task starts from that task's defaults.
    """
    left, right = st.columns(2)
    with left:
        dataset = st.selectbox(
            "Dataset",
            dataset_names,
            key=state.DATASET,
            persist_state="session",
            help=TEXT["dataset"],
        )
        task = tasks.for_dataset(dataset)
        images = task.inputs == "images"  # augmentation, freezing and layer groups are for images
        follow_task(task, dataset)
        st.markdown(f"**Task:** {task.title}")
        st.caption(TEXT["task_" + task.name] + " " + TEXT["task_from_dataset"])
        arch = st.selectbox(
            "Architecture",
            list(task.archs),
            key=state.ARCH,
            persist_state="session",
            format_func=lambda a: ARCHS[a].title,
            help=TEXT["arch"],
        )
        st.caption(ARCHS[arch].description)
        lr = lr_controls()
        lr_low = discriminative_controls(lr) if images else None
        options = option_controls(task, arch)
        if task.inputs == "table":
            embedding_sizes(dataset)
    with right:
        rows = "" if images else "_rows"
        bs = st.number_input(
            "Batch size",
            min_value=0,
            max_value=100_000,
            step=16,
            **_persisted(state.BS),
            help=TEXT["bs" + rows],
        )
        wd = st.number_input(
            "Weight decay",
            min_value=0.0,
            max_value=10.0,
            step=0.01,
            format="%.3f",
            **_persisted(state.WD),
            help=TEXT["wd"],
        )
        epochs = st.number_input(
            "Epochs", min_value=0, max_value=10_000, **_persisted(state.EPOCHS), help=TEXT["epochs" + rows]
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
        freeze_epochs = augment = 0
        if images:
            freeze_epochs = st.number_input(
                "Freeze epochs", min_value=0, max_value=1000, **_persisted(state.FREEZE), help=TEXT["freeze"]
            )
        seed = st.number_input(
            "Seed", min_value=0, max_value=2**32 - 1, **_persisted(state.SEED), help=TEXT["seed"]
        )
        aug = chosen_augment()
        if images:
            augment = st.toggle("Augmentation", **_persisted(state.TRAIN_AUGMENT), help=TEXT["augment"])
            if augment:
                moved = " Masks move with their images." if task.name == "segmentation" else ""
                st.caption(f"Each batch: {aug.describe()}.{moved} Change it on the Data page.")
        stopping = stopping_controls(task.name)
        mixed = device_controls()
    cfg = TrainConfig(
        task=task.name,
        options=options,
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
        mixed_precision=mixed,
        **stopping,
    )
    n_train = n_train_of(dataset)
    problems = config_problems(cfg, n_train)
    batches = max(1, n_train // cfg.bs if n_train > cfg.bs else 1) if cfg.bs > 0 else 0
    return FormResult(cfg, problems, batches)


def discriminative_controls(lr: float) -> float | None:
    """The discriminative toggle and, when on, the lowest group's learning rate (else None)."""
    if not st.toggle(
        "Discriminative learning rates", **_persisted(state.DISCRIMINATIVE), help=TEXT["discriminative"]
    ):
        return None
    st.session_state.setdefault(state.LR_LOW, lr / 100)
    return st.number_input(
        "Lowest learning rate (first layer group)",
        min_value=0.0,
        max_value=100.0,
        format="%.2e",
        step=1e-5,
        **_persisted(state.LR_LOW),
        help=TEXT["lr_low"],
    )


def stopping_controls(task: str) -> dict:
    """Early stopping (patience, monitor) and keep-best: the TrainConfig fields they set."""
    early = st.toggle("Early stopping", **_persisted(state.EARLY_STOP), help=TEXT["early_stop"])
    values = {"early_stop": bool(early), "keep_best": False}
    if early:
        values["patience"] = int(
            st.number_input(
                "Patience (epochs)",
                min_value=1,
                max_value=100,
                **_persisted(state.PATIENCE),
                help=TEXT["patience"],
            )
        )
    keep = st.toggle("Keep the best epoch's weights", **_persisted(state.KEEP_BEST), help=TEXT["keep_best"])
    values["keep_best"] = bool(keep)
    if early or keep:
        values["monitor"] = st.selectbox(
            "Watch",
            monitors(task),
            **_persisted(state.MONITOR),
            format_func=lambda m: "validation loss" if m == "valid_loss" else m,
            help=TEXT["monitor"],
        )
    return values


def device_controls() -> bool:
    """Where runs train, in words, and on a CUDA GPU the mixed-precision toggle (on by default);
    returns TrainConfig.mixed_precision (always False on the CPU, where it would do nothing)."""
    from core.train import device as devices

    cuda = devices.cuda_available()
    mixed = False
    if cuda:
        st.session_state.setdefault(MIXED_PRECISION, True)
        mixed = st.toggle(
            "Mixed precision",
            **_persisted(MIXED_PRECISION),
            help="On a GPU, compute in 16-bit floats (bfloat16 where the GPU has it, else float16 "
            "with loss scaling): faster and half the memory, with about the same accuracy.",
        )
    st.caption(f"Trains on: {devices.describe('cuda' if cuda else 'cpu', bool(mixed))}")
    return bool(mixed)


def current_config() -> TrainConfig:
    """The run the Train form holds now, read from session state (nothing is drawn): the
    dataset's task with the form's values, or that task's defaults where the form has none.

    What other pages start from (the LR finder, the Sweep page's fixed settings), so they ask the
    dataset's task with the same architecture, batch size and options as the Train page.
    """
    ss = st.session_state
    dataset = ss.get(state.DATASET) or TrainConfig().dataset
    task = tasks.for_dataset(dataset)
    follow_task(task, dataset)  # a dataset of another task: the form now holds that task's defaults
    values = {field: kind(ss[key]) for key, field, kind in _FIELDS if key in ss}
    options = {
        f.name: ss[OPTION_PREFIX + f.name]
        for f in dataclasses.fields(task.Options)
        if OPTION_PREFIX + f.name in ss
    }
    if ss.get(MIXED_PRECISION, True):
        from core.train import device as devices

        values["mixed_precision"] = devices.cuda_available()
    lr_low = float(ss[state.LR_LOW]) if ss.get(state.DISCRIMINATIVE) and ss.get(state.LR_LOW) else None
    if task.inputs != "images":  # the form shows no freezing, augmentation or layer groups then
        lr_low = None
        values.update(freeze_epochs=0, augment=False)
    return tasks.default_config(
        task.name,
        dataset=dataset,
        arch=ss[state.ARCH],
        options=options,
        lr_low=lr_low,
        aug=chosen_augment(),
        **values,
    )


def fill_from_config(config: dict, source: str | None = None) -> None:
    """Set the Train form's controls to a stored run's settings ("use these settings").

    source, when given, says where they came from; the Train page shows it once. Settings the
    stored config lacks take the defaults of its task.
    """
    st.session_state[state.TRAIN_NOTICE] = source
    task = config.get("task") or tasks.DEFAULT
    fresh = tasks.default_config(task).to_dict()
    cfg = TrainConfig.from_dict(
        {**fresh, **config, "options": {**fresh["options"], **(config.get("options") or {})}}
    )
    st.session_state[state.DATASET] = cfg.dataset
    st.session_state[FORM_TASK] = cfg.task
    _set_controls(cfg)


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
