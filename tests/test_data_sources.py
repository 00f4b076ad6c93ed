"""The registry with added datasets: coloured shapes from a seed, listing, resolving, and the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from core import cli
from core.data import coloured_shapes, datasets, ingest
from core.errors import UserError
from core.jobs.store import Store
from tests.conftest import subprocess_env
from tests.inputs import class_images, zip_bytes

ROOT = Path(__file__).resolve().parents[1]


def _files(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*.png"))}


def test_shapes_are_built_in_drawn_once_and_split_by_class(fresh_workspace):
    assert "coloured_shapes" in datasets.BUILTINS and "coloured_shapes" in datasets.available()
    info = datasets.resolve("coloured_shapes")
    items = datasets.read_image_folder(info.path)
    assert items.vocab == ["circle", "square", "triangle"]
    assert Counter(items.labels) == {"circle": 160, "square": 160, "triangle": 160}
    valid = Counter(lab for lab, v in zip(items.labels, items.is_valid) if v)
    assert valid == {"circle": 32, "square": 32, "triangle": 32}
    assert info.default_size == 32
    assert datasets.metadata(info)["source"] == "generated from seed 0"
    from PIL import Image

    with Image.open(info.path / items.files[0]) as img:
        assert img.size == (32, 32) and img.mode == "RGB"


def test_the_same_seed_draws_the_same_images_and_another_seed_others(fresh_workspace):
    a = coloured_shapes.generate_shapes("a", seed=5, per_class=6)
    b = coloured_shapes.generate_shapes("b", seed=5, per_class=6)
    c = coloured_shapes.generate_shapes("c", seed=6, per_class=6)
    assert _files(a) == _files(b)
    assert _files(a) != _files(c)
    assert {"a", "b", "c"} <= set(datasets.available())
    with pytest.raises(UserError, match="between 1 and 2000 images per shape"):
        coloured_shapes.generate_shapes("d", seed=1, per_class=0)
    assert "d" not in datasets.available()


def test_added_datasets_are_listed_resolved_and_unknown_names_explained(fresh_workspace):
    ingest.add_archive(io.BytesIO(zip_bytes(class_images())), "pets")
    assert datasets.available() == [*datasets.builtin_names(), *datasets.SYNTHETIC, "pets"]
    assert datasets.resolve("pets").path == fresh_workspace / "datasets" / "pets"
    with pytest.raises(UserError, match="Unknown dataset 'nope'. Choose one of: digits, .*pets"):
        datasets.resolve("nope")
    with pytest.raises(UserError, match="Unknown dataset '../pets'"):
        datasets.resolve("../pets")


def test_the_cli_lists_and_trains_on_an_added_dataset(fresh_workspace, capsys):
    ingest.add_archive(io.BytesIO(zip_bytes(class_images(per_class=12, size=16))), "toys")
    listed = subprocess.run(
        [sys.executable, "-m", "core", "datasets"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[0] == "toys" for line in listed.stdout.splitlines())
    threads = torch.get_num_threads()
    try:
        code = cli.main(["train", "--dataset", "toys", "--epochs", "1", "--bs", "8", "--size", "16"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0, out
    summary = json.loads(out[-1])
    assert summary["state"] == "DONE" and summary["epochs_done"] == 1
    job = Store().get(summary["run_id"])
    assert job.params["config"]["dataset"] == "toys"
    assert job.result["classes"] == ["cats", "dogs"]
    assert job.result["n_train"] + job.result["n_valid"] == 24
