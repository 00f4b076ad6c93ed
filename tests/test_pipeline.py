"""The Data page's pipeline numbers are the data path's real batches; warp augmentation."""

from __future__ import annotations

import pytest
import torch

from core.config import Augment, TrainConfig
from core.data import datasets, pipeline
from core.data import loaders as data
from core.data.augment import augment_batch
from core.errors import ConfigError

SIZE = 16


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["digits", "coloured_shapes"])
def test_the_pipeline_shows_exactly_what_the_loaders_feed_the_model(name):
    cfg = TrainConfig(dataset=name, size=SIZE, bs=32)
    bundle = data.build(cfg, device="cpu")
    items = datasets.read_image_folder(datasets.resolve(name).path)
    norm = pipeline.normalisation(items, SIZE)
    assert norm.mean.tolist() == bundle.mean
    assert norm.std.tolist() == bundle.std

    # A validation image (never augmented): its model input is its row of a real batch.
    valid = bundle.dls.valid
    xb, _ = valid.one_batch()
    steps = pipeline.image_steps(items, valid.items[3], SIZE, norm)
    assert [s.group for s in steps] == ["file", "resized", "floats", "normalised"]
    assert torch.equal(steps[1].tensor, valid.x[3])  # the cached uint8 image
    model_input = steps[-1]
    assert torch.equal(model_input.tensor, xb[3])
    assert model_input.stats == pipeline.tensor_stats(xb[3])
    assert model_input.stats.dtype == "float32"

    # A training image with every augmentation on: the same draws the loader makes.
    spec = Augment(flip=True, max_rotate=25, max_zoom=1.3, max_translate=0.1, max_lighting=0.3, max_warp=0.3)
    train = data.build(cfg.replace(augment=True, aug=spec), device="cpu").dls.train
    j = 5
    train.gen = torch.Generator().manual_seed(7)
    xb, _ = train.decode_batch(torch.tensor([j] * 4))
    steps = pipeline.image_steps(items, train.items[j], SIZE, norm, spec, n_draws=4, seed=7)
    normalised = [s for s in steps if s.group == "normalised"]
    assert len(normalised) == 4 and len([s for s in steps if s.group == "augmented"]) == 4
    for k, step in enumerate(normalised):
        assert torch.equal(step.tensor, xb[k])
        assert step.stats == pipeline.tensor_stats(xb[k])
    assert not torch.equal(xb[0], xb[1])  # four different draws


def test_the_steps_teach_shapes_ranks_and_ranges():
    items = datasets.read_image_folder(datasets.resolve("digits").path)
    norm = pipeline.normalisation(items, SIZE)
    steps = {s.group: s.stats for s in pipeline.image_steps(items, items.files[0], SIZE, norm)}
    assert (steps["file"].shape, steps["file"].rank, steps["file"].dtype) == ((8, 8), 2, "uint8")
    assert (steps["resized"].shape, steps["resized"].rank) == ((1, SIZE, SIZE), 3)
    assert 0 <= steps["floats"].min <= steps["floats"].max <= 1
    assert steps["floats"].dtype == "float32"
    assert steps["normalised"].min < 0  # centred: below-average pixels become negative

    shapes = datasets.read_image_folder(datasets.resolve("coloured_shapes").path)
    first = pipeline.image_steps(shapes, shapes.files[0], SIZE, pipeline.normalisation(shapes, SIZE))[0]
    assert first.stats.shape == (32, 32, 3) and first.stats.rank == 3


def test_preview_pictures_are_images_a_browser_can_show():
    items = datasets.read_image_folder(datasets.resolve("coloured_shapes").path)
    rows = pipeline.augment_preview(
        [items.root / items.files[0], items.root / items.files[1]], 24, Augment(max_rotate=30), n_draws=3
    )
    assert len(rows) == 2 and all(len(r) == 4 for r in rows)
    assert all(p.dtype.name == "uint8" and p.shape == (24, 24, 3) for r in rows for p in r)
    normalised = torch.tensor([[[-2.0, 0.0], [1.0, 3.0]]])
    assert pipeline.picture(normalised).tolist() == [[0, 102], [153, 255]]


def test_warp_tilts_the_picture_around_its_fixed_centre():
    x = torch.rand(16, 3, 25, 25, generator=torch.Generator().manual_seed(0))
    spec = Augment(flip=False, max_rotate=0, max_zoom=1.0, max_translate=0, max_lighting=0, max_warp=0.4)
    y = augment_batch(x.clone(), spec, torch.Generator().manual_seed(1))
    assert torch.allclose(y[:, :, 12, 12], x[:, :, 12, 12], atol=1e-5)  # the centre stays put
    border = (y - x).abs()[:, :, [0, -1], :].mean()
    middle = (y - x).abs()[:, :, 10:15, 10:15].mean()
    assert border > 0.1 and middle < border / 2  # the edges move, most of all
    assert not torch.allclose(y[0], y[1])  # each image gets its own tilt


def test_warp_off_leaves_the_random_sequence_and_pixels_as_before():
    x = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    plain = augment_batch(x.clone(), Augment(), gen_a)
    warp0 = augment_batch(x.clone(), Augment(max_warp=0.0), gen_b)
    assert torch.equal(plain, warp0)
    assert torch.equal(gen_a.get_state(), gen_b.get_state())


def test_warp_is_a_checked_config_field():
    assert Augment().max_warp == 0.0  # off by default: existing runs are unchanged
    with pytest.raises(ConfigError, match="Warp must be between 0 and 0.5"):
        TrainConfig(aug=Augment(max_warp=0.7)).validate()
    cfg = TrainConfig(augment=True, aug=Augment(max_warp=0.2))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert "max_warp" not in TrainConfig().to_dict()["aug"]  # readable by an older worker
    assert TrainConfig.from_dict(TrainConfig().to_dict()).aug.max_warp == 0.0
    assert Augment(flip=True, max_warp=0.2).describe() == (
        "mirror left-right, rotate up to ±10°, zoom up to 1.1×, warp up to 0.2, shift up to 10%, "
        "lighting up to ±20%"
    )
    assert Augment(max_rotate=0, max_zoom=1, max_translate=0, max_lighting=0).describe() == (
        "nothing (every change is off)"
    )
