"""The task seam: every kind of problem is one registered object that pages, jobs and bundles ask.

A task mirrors one of fastai's applications (its blocks, its learner factory, its
Interpretation) with the playground's fast data path underneath. Callers never branch on the
kind of problem; they look the task up by name and call it:

    task = tasks.get(cfg.task)
    bundle = task.loaders(cfg)                  # fast-path DataLoaders and what they hold
    learn, built = task.learner(cfg, bundle)    # model, loss, metrics, splitter
    record = task.record(cfg, bundle)           # what run.json stores beyond the weights

Adding a task: write one module here with a class that satisfies `Task`, add an instance to
TASKS, and give it the contract test in tests/test_tasks.py (read → train one epoch →
interpret → bundle → predict).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from core.errors import UserError
from core.tasks.collab import Collaborative
from core.tasks.multi_label import MultiLabel
from core.tasks.segmentation import Segmentation
from core.tasks.single_label import SingleLabel
from core.tasks.tabular import TabularClassification, TabularRegression

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from core.config import TrainConfig
    from core.data.datasets import DatasetInfo
    from core.runs import LoadedRun, RunRecord


class Task(Protocol):
    """One kind of problem: how its data is read, learned, judged, stored and used."""

    name: ClassVar[str]  # the registry key stored in configs, run.json and bundles
    title: ClassVar[str]  # what a person reads
    inputs: ClassVar[str]  # what it learns from: "images", "table" or "ratings" (pages show what fits)
    main_metric: ClassVar[str]  # the figure runs are compared and swept on
    higher_is_better: ClassVar[bool]
    metric_format: ClassVar[str]  # how the main metric is written, e.g. "{:.2%}"
    cache_format: ClassVar[str]  # how its tensors are cached (e.g. "image-uint8")
    result_views: ClassVar[tuple[str, ...]]  # the Results page sections that make sense for it
    Options: ClassVar[type]  # a frozen dataclass: the task's own part of TrainConfig
    archs: ClassVar[tuple[str, ...]]  # the architectures (core/train/archs.py) that fit it
    default_arch: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]  # TrainConfig fields a fresh run of this task starts from

    def recognises(self, folder: Path) -> bool:
        """Can the dataset in folder be read as this task?"""

    def loaders(self, cfg: TrainConfig, info: DatasetInfo | None = None, device: Any = None) -> Any:
        """Train and validation loaders on the fast path, with what a page needs to know."""

    def learner(self, cfg: TrainConfig, bundle: Any) -> tuple[Any, Any]:
        """A fastai Learner (model, loss, metrics) on the bundle's loaders, and the built model."""

    def summary(self, learn: Any) -> dict[str, float | None]:
        """The run's final metrics by name (the main metric among them)."""

    def record(self, cfg: TrainConfig, bundle: Any) -> RunRecord:
        """What run.json stores beside the weights: labels, input size, normalisation, data version."""

    def build(self, arch: str, n_outputs: int, channels: int, size: int, pretrained: bool = False) -> Any:
        """The network (a core.train.models.BuiltModel) this task trains for these inputs and outputs:
        what learner, build_model, build_from_bundle and the Model page all build."""

    def build_model(self, record: RunRecord) -> torch.nn.Module:
        """The untrained network a run's weights load into."""

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Model outputs to what a person reads (probabilities)."""

    def interpret(self, loaded: LoadedRun) -> Any:
        """The run judged on every item of its dataset as it is now."""

    def bundle_fields(self, record: RunRecord) -> dict[str, Any]:
        """What a model bundle's config.json stores beyond the weights (plain JSON)."""

    def build_from_bundle(self, config: dict[str, Any]) -> torch.nn.Module:
        """The untrained network for a checked bundle config."""


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        SingleLabel(),
        MultiLabel(),
        Segmentation(),
        TabularClassification(),
        TabularRegression(),
        Collaborative(),
    )
}
DEFAULT = SingleLabel.name


def get(name: str) -> Task:
    """The task registered as name; UserError naming the choices otherwise."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise UserError(f"Unknown task {name!r}. Choose one of: {', '.join(TASKS)}.") from None


def names() -> list[str]:
    """Every registered task name."""
    return list(TASKS)


def default_options(name: str) -> Any:
    """The task's options with every default (the task's part of a fresh TrainConfig)."""
    return get(name).Options()


def default_config(name: str, **overrides: Any) -> TrainConfig:
    """A fresh TrainConfig for a task: the global defaults, the task's own defaults, then overrides."""
    from core.config import TrainConfig

    task = get(name)
    values = {"arch": task.default_arch, **task.defaults, **overrides, "task": task.name}
    return TrainConfig(**values)


def image_tasks() -> list[str]:
    """The tasks that learn from images (the image pages' sections apply to them)."""
    return [name for name, task in TASKS.items() if task.inputs == "images"]


def for_dataset(name: str) -> Task:
    """The task a dataset's layout is for (from its dataset.json, else its files)."""
    from core.data.datasets import resolve

    return get(resolve(name).task)
