"""Report: what an ingestion added (per task: classes, labels or mask codes) and what it left out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.data import images

SINGLE, MULTI, SEG = "single_label", "multi_label", "segmentation"
TASKS = (SINGLE, MULTI, SEG)


def summary_text(
    name: str,
    classes: dict[str, int],
    n_skipped: int,
    show: Callable[[str], str] = str,
    *,
    task: str = SINGLE,
    n_images: int | None = None,
) -> str:
    """One sentence on what was added; show() renders each label (e.g. escaped for markdown).

    classes counts images per class (single label), per label (multi-label: an image counts
    once for each of its labels) or per mask code (segmentation: images whose mask holds it).
    """
    n = sum(classes.values()) if n_images is None else n_images
    if task == MULTI:
        per_label = ", ".join(f"{show(c)} {k:,}" for c, k in sorted(classes.items()))
        text = f"Added {name}: {n:,} images with {len(classes)} labels ({per_label})."
    elif task == SEG:
        codes = ", ".join(show(c) for c in classes)
        text = f"Added {name}: {n:,} images with masks of {len(classes)} classes ({codes})."
    else:
        per_class = ", ".join(f"{show(c)} {k:,}" for c, k in sorted(classes.items()))
        text = f"Added {name}: {n:,} images in {len(classes)} classes ({per_class})."
    if n_skipped:
        text += f" {n_skipped:,} file(s) skipped (listed below)."
    return text


@dataclass
class Report:
    """What was added, and every file that was left out with the reason."""

    name: str
    path: Path
    source: str
    classes: dict[str, int]  # label (the text the person used) → images; see summary_text
    split: str
    skipped: list[images.Problem] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # label → its folder, where they differ
    ignored_hidden: int = 0  # dot-files and __MACOSX/ entries, left out silently
    task: str = SINGLE
    images: int | None = None  # images added, where classes do not add up to it (multi, seg)
    meta: dict = field(default_factory=dict)  # what dataset.json records beyond the common fields

    @property
    def n_images(self) -> int:
        """Images in the new dataset."""
        return sum(self.classes.values()) if self.images is None else self.images

    def summary(self, show: Callable[[str], str] = str) -> str:
        """One sentence for the page; show() renders each label (e.g. escaped for markdown)."""
        return summary_text(
            self.name, self.classes, len(self.skipped), show, task=self.task, n_images=self.n_images
        )

    def description(self, what: str) -> str:
        """dataset.json's description: how many images of what, from where."""
        if self.task == MULTI:
            return f"{self.n_images:,} images with {len(self.classes)} labels, from {what}."
        if self.task == SEG:
            return f"{self.n_images:,} images with masks of {len(self.classes)} classes, from {what}."
        return f"{self.n_images:,} images in {len(self.classes)} classes, from {what}."
