"""The fast data path, checked against fastai's own pipeline, and fastai training on top of it."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback
from fastai.vision.all import ImageDataLoaders, Resize
from PIL import Image

from core.config import Augment, TrainConfig
from core.data import datasets, image_cache, tensor_cache
from core.data import loaders as data
from core.train.training import build_learner

SIZE = 12  # small, so each training test takes a fraction of a second


def _cfg(**changes) -> TrainConfig:
    return TrainConfig(**{"size": SIZE, "bs": 64, "epochs": 1, **changes})


def _bundle(**changes) -> data.DataBundle:
    return data.build(_cfg(**changes), device="cpu")


def _all_batches(dl: data.TensorLoader) -> tuple[torch.Tensor, torch.Tensor]:
    plain = dl.new(shuffle=False, drop_last=False)
    xs, ys = zip(*plain, strict=True)
    return torch.cat(xs), torch.cat(ys)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits() -> datasets.DatasetInfo:
    return datasets.resolve("digits")


@pytest.fixture(scope="module")
def oracle(digits):
    """fastai's default pipeline on the same folder, as a user of fastai would build it."""
    return ImageDataLoaders.from_folder(
        digits.path, train="train", valid="valid", item_tfms=Resize(16), bs=64, num_workers=0
    )


@pytest.fixture(scope="module")
def fast16(digits) -> data.DataBundle:
    return data.build(TrainConfig(size=16), device="cpu")


def _fastai_items(ds, root) -> dict[str, str]:
    """{relative file: label name} of one fastai Datasets split, without decoding images."""
    vocab = ds.vocab
    return {p.relative_to(root).as_posix(): vocab[int(ds.tls[1][i])] for i, p in enumerate(ds.items)}


def _fast_items(dl: data.TensorLoader) -> dict[str, str]:
    return {f: dl.vocab[int(y)] for f, y in zip(dl.items, dl.y, strict=True)}


def test_same_vocab_as_fastai(oracle, fast16):
    assert list(oracle.vocab) == fast16.vocab == [str(d) for d in range(10)]
    assert fast16.dls.train.vocab == fast16.dls.valid.vocab == fast16.vocab


@pytest.mark.parametrize("split", ["train", "valid"])
def test_same_items_and_labels_as_fastai(oracle, fast16, digits, split):
    ours = _fast_items(getattr(fast16.dls, split))
    theirs = _fastai_items(getattr(oracle, f"{split}_ds"), digits.path)
    assert len(ours) == len(getattr(fast16.dls, split).items)  # no file twice
    assert set(ours) == set(theirs)
    assert ours == theirs
    assert fast16.n_train + fast16.n_valid == 1797
    assert (fast16.n_train, fast16.n_valid) == (len(oracle.train_ds), len(oracle.valid_ds))


def test_same_pixels_as_fastai_resize(oracle, fast16, digits):
    # fastai's Resize(16) item transform and the cache's decode must agree to the byte.
    valid = fast16.dls.valid
    position = {f: i for i, f in enumerate(valid.items)}
    for i, path in enumerate(oracle.valid_ds.items):
        image, _ = oracle.valid.after_item(oracle.valid_ds[i])
        assert image.shape == (3, 16, 16)
        ours = valid.x[position[path.relative_to(digits.path).as_posix()]]
        assert torch.equal(ours[0], image[0]), path


def test_batches_are_plain_tensors_of_the_right_shape(fast16):
    xb, yb = fast16.dls.train.one_batch()
    assert type(xb) is torch.Tensor
    assert type(yb) is torch.Tensor
    assert xb.shape == (64, 1, 16, 16)
    assert xb.dtype == torch.float32
    assert yb.shape == (64,)
    assert yb.dtype == torch.long
    assert fast16.channels == 1  # Digits are grey: one channel, not three copies
    assert fast16.path_used == "in-memory tensor cache"
    xv, _ = fast16.dls.valid.one_batch()
    assert type(xv) is torch.Tensor
    assert xv.shape == (128, 1, 16, 16)


def test_loader_lengths_match_the_batch_size(fast16):
    train, valid = fast16.dls.train, fast16.dls.valid
    assert len(train) == fast16.n_train // 64  # training drops the last partial batch
    assert sum(len(y) for _, y in train) == (fast16.n_train // 64) * 64
    assert len(valid) == -(-fast16.n_valid // 128)
    assert sum(len(y) for _, y in valid) == fast16.n_valid


def test_training_batches_are_normalised_over_the_train_set(fast16):
    x, _ = _all_batches(fast16.dls.train)
    assert x.shape[0] == fast16.n_train
    assert abs(x.mean().item()) < 1e-4
    assert abs(x.std().item() - 1) < 1e-3
    # The statistics used come from the training images only.
    raw = fast16.dls.train.x.float() / 255
    assert fast16.mean == pytest.approx([raw.mean().item()], rel=1e-5)
    assert fast16.std == pytest.approx([raw.std().item()], rel=1e-4)


def test_shuffled_epochs_cover_every_training_image_in_a_new_order(fast16):
    dl = fast16.dls.train.new(drop_last=False)
    first = torch.cat([y for _, y in dl])
    second = torch.cat([y for _, y in dl])
    assert len(first) == len(second) == fast16.n_train
    assert torch.equal(first.sort().values, dl.y.sort().values)
    assert not torch.equal(first, second)


def test_cache_file_is_written_and_reused(fresh_workspace, monkeypatch):
    root = fresh_workspace / "datasets" / "shapes"
    rng = np.random.default_rng(1)
    for cls in ("circle", "square"):
        (root / cls).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    monkeypatch.setattr(tensor_cache, "_MEMORY", OrderedDict())
    cfg = TrainConfig(dataset="shapes", size=8, bs=4)

    first = data.build(cfg, device="cpu")
    caches = list((fresh_workspace / "cache").glob("*.npy"))
    assert len(caches) == 1
    assert first.channels == 3
    assert first.dls.train.x.shape == (first.n_train, 3, 8, 8)
    assert (first.n_train, first.n_valid) == (16, 4)

    def no_decoding(*_args, **_kwargs):
        raise AssertionError("decoded an image although the cache holds it")

    monkeypatch.setattr(tensor_cache, "_MEMORY", OrderedDict())
    monkeypatch.setattr(image_cache, "decode_image", no_decoding)
    second = data.build(cfg, device="cpu")
    assert torch.equal(second.dls.train.x, first.dls.train.x)
    assert torch.equal(second.dls.valid.x, first.dls.valid.x)
    assert list((fresh_workspace / "cache").glob("*.npy")) == caches

    # Changing an image makes a new cache entry rather than serving stale pixels.
    Image.fromarray(np.zeros((20, 24, 3), dtype=np.uint8)).save(root / "circle" / "0.png")
    with pytest.raises(AssertionError, match="decoded an image"):
        data.build(cfg, device="cpu")


def test_an_unreadable_image_is_named_in_the_error(fresh_workspace, monkeypatch):
    from core.errors import UserError

    root = fresh_workspace / "datasets" / "broken"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(root / cls / f"{i}.png")
    (root / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    monkeypatch.setattr(tensor_cache, "_MEMORY", OrderedDict())
    with pytest.raises(UserError, match="bad.png"):
        data.build(TrainConfig(dataset="broken", size=8, bs=2), device="cpu")
    assert not list((fresh_workspace / "cache").glob("*.npy"))  # nothing half-written


def test_a_different_size_is_a_different_cache_entry(fresh_workspace, monkeypatch):
    monkeypatch.setattr(tensor_cache, "_MEMORY", OrderedDict())
    small = data.build(_cfg(size=8), device="cpu")
    large = data.build(_cfg(size=10), device="cpu")
    assert small.dls.train.x.shape[-1] == 8
    assert large.dls.train.x.shape[-1] == 10
    assert len(list((fresh_workspace / "cache").glob("*.npy"))) == 2


def test_augmentation_changes_pixels_but_not_shape_or_labels():
    plain = _bundle().dls.train
    augmented = _bundle(augment=True, aug=Augment(max_rotate=30, max_lighting=0.4)).dls.train
    idx = torch.arange(64)
    x0, y0 = plain.decode_batch(idx)
    x1, y1 = augmented.decode_batch(idx)
    assert x1.shape == x0.shape == (64, 1, SIZE, SIZE)
    assert type(x1) is torch.Tensor
    assert torch.equal(y1, y0)
    changed = (x1 - x0).abs().flatten(1).amax(1) > 1e-3
    assert changed.float().mean() > 0.9  # nearly every image moves
    assert torch.isfinite(x1).all()
    # A shuffled augmented epoch still holds each label as often as a plain one.
    ys = torch.cat([y for _, y in augmented.new(drop_last=False)])
    assert torch.equal(ys.bincount(minlength=10), plain.y.bincount(minlength=10))


def test_flip_only_augmentation_mirrors_about_half_the_images_exactly():
    from core.data.augment import augment_batch

    x = torch.rand(64, 1, SIZE, SIZE)
    spec = Augment(flip=True, max_rotate=0, max_zoom=1.0, max_translate=0, max_lighting=0)
    y = augment_batch(x.clone(), spec, torch.Generator().manual_seed(0))
    same = (y - x).abs().flatten(1).amax(1) < 1e-5
    mirrored = (y - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert (same ^ mirrored).all()  # each image is either untouched or mirrored left-right
    assert 16 < int(mirrored.sum()) < 48


def test_augmentation_with_everything_off_leaves_pixels_alone():
    from core.data.augment import augment_batch

    x = torch.rand(8, 3, SIZE, SIZE)
    spec = Augment(flip=False, max_rotate=0, max_zoom=1.0, max_translate=0, max_lighting=0)
    y = augment_batch(x.clone(), spec, torch.Generator().manual_seed(0))
    assert torch.allclose(y, x, atol=1e-5)


def test_validation_is_never_augmented():
    augmented = _bundle(augment=True).dls.valid
    plain = _bundle().dls.valid
    assert torch.equal(augmented.one_batch()[0], plain.one_batch()[0])


class _SeenInputs(Callback):
    """Notes the type of every training input the model sees, and each fit's trainable count."""

    def __init__(self):
        self.types, self.trainable = set(), []

    def before_fit(self):
        self.trainable.append(sum(p.numel() for p in self.model.parameters() if p.requires_grad))

    def before_batch(self):
        self.types.add(type(self.learn.xb[0]))


def _learner(**changes):
    bundle = _bundle(**changes)
    learn, _ = build_learner(_cfg(**changes), bundle)
    return learn, bundle


@pytest.fixture(scope="module")
def trained():
    learn, bundle = _learner()
    learn.fit_one_cycle(1, 3e-3)
    return learn, bundle


def _weights(learn) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learn.model.state_dict().items()}


def test_fit_one_cycle_learns_something():
    learn, _ = _learner()
    seen = _SeenInputs()
    learn.fit_one_cycle(1, 3e-3, cbs=seen)
    train_loss, valid_loss, accuracy = learn.recorder.values[-1]
    assert np.isfinite(train_loss) and np.isfinite(valid_loss)
    assert accuracy > 0.3  # ten classes: chance is 0.1
    assert seen.types == {torch.Tensor}
    # One-cycle ends far below the peak learning rate.
    assert learn.opt.hypers[-1]["lr"] < 3e-3 / 100


def test_fit_keeps_a_constant_learning_rate():
    learn, _ = _learner()
    before = _weights(learn)
    learn.fit(1, 1e-3)
    assert [h["lr"] for h in learn.opt.hypers] == [1e-3, 1e-3]
    assert len(learn.recorder.values) == 1
    after = learn.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_fine_tune_trains_the_head_first_then_everything():
    learn, _ = _learner()
    seen = _SeenInputs()
    before = _weights(learn)
    learn.fine_tune(1, base_lr=3e-3, freeze_epochs=1, cbs=seen)
    head = sum(p.numel() for p in learn.model[1].parameters())
    total = sum(p.numel() for p in learn.model.parameters())
    assert seen.trainable == [head, total]
    lrs = [h["lr"] for h in learn.opt.hypers]
    assert lrs[0] == pytest.approx(lrs[1] / 100)  # discriminative rates, fine_tune's lr_mult
    after = learn.model.state_dict()
    assert not torch.equal(before["0.0.weight"], after["0.0.weight"])  # the body moved too
    assert np.isfinite(learn.recorder.values[-1]).all()


def test_fit_one_cycle_with_a_slice_gives_each_group_its_own_rate():
    learn, _ = _learner()
    learn.fit_one_cycle(1, slice(1e-5, 1e-3))
    body, head = (h["lr"] for h in learn.opt.hypers)
    assert body < head
    assert body / head == pytest.approx(1e-2, rel=1e-6)


def test_project_fit_with_freeze_epochs_and_lr_range():
    from core.train.training import fit

    cfg = _cfg(freeze_epochs=1, lr=2e-3, lr_low=2e-5, schedule="constant")
    learn, built = build_learner(cfg, _bundle())
    seen = _SeenInputs()
    learn.add_cb(seen)
    fit(learn, cfg)
    head = sum(p.numel() for p in learn.model[1].parameters())
    assert seen.trainable == [head, sum(p.numel() for p in learn.model.parameters())]
    assert [h["lr"] for h in learn.opt.hypers] == [2e-5, 2e-3]
    assert built.notice is None


def test_get_preds_returns_every_validation_item_in_stored_order(trained):
    learn, bundle = trained
    preds, targets = learn.get_preds()
    valid = bundle.dls.valid
    assert preds.shape == (bundle.n_valid, 10)
    assert torch.equal(targets, valid.y)
    learn.model.eval()
    with torch.no_grad():
        direct = learn.model(valid.decode_batch(torch.arange(valid.n))[0])
    # Row i is the prediction for valid.items[i], whatever activation get_preds applies.
    assert torch.equal(preds.argmax(1), direct.argmax(1))
    accuracy = (preds.argmax(1) == targets).float().mean().item()
    assert accuracy == pytest.approx(learn.validate()[1], abs=1e-6)


def test_get_preds_gives_probabilities_and_decoded_classes(trained):
    learn, bundle = trained
    preds, _, decoded = learn.get_preds(with_decoded=True)
    assert torch.allclose(preds.sum(1), torch.ones(bundle.n_valid), atol=1e-5)
    assert decoded.shape == (bundle.n_valid,)
    assert torch.equal(decoded, preds.argmax(1))
