"""Datasets larger than memory: the decoded cache on disk, memory-mapped and streamed by batch.

The cache budget (PLAYGROUND_CACHE_BUDGET) is set tiny so a few small images stand in for a
dataset larger than the machine's memory.
"""

from __future__ import annotations

import tracemalloc
from collections import OrderedDict

import numpy as np
import pytest
import torch
from PIL import Image

from core import tasks
from core.config import Augment, TrainConfig
from core.data import image_cache, multi_loaders, pipeline, seg_loaders, tensor_cache
from core.data import loaders as data
from core.errors import ConfigError, UserError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def forget(monkeypatch):
    """No array kept from an earlier build (each build reads the cache file again)."""
    monkeypatch.setattr(tensor_cache, "_MEMORY", OrderedDict())

    def again():
        tensor_cache._MEMORY.clear()

    return again


def _images(root, n_per_class=12, size=(20, 24), grey_first=0, seed=1):
    """Two classes of random colour images (the first grey_first of each class grey)."""
    rng = np.random.default_rng(seed)
    for cls in ("circle", "square"):
        (root / cls).mkdir(parents=True)
        for i in range(n_per_class):
            if i < grey_first:
                pixels = rng.integers(0, 256, size, dtype=np.uint8)
            else:
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i:03d}.png")
    return root


def _epoch(dl) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*dl, strict=True)
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("augment", [False, True])
def test_over_the_budget_batches_stream_from_disk_and_equal_the_in_memory_ones(
    fresh_workspace, monkeypatch, forget, augment
):
    _images(fresh_workspace / "datasets" / "shapes")
    cfg = TrainConfig(dataset="shapes", size=8, bs=4, augment=augment, aug=Augment(max_rotate=20))
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1G")
    held = data.build(cfg, device="cpu")
    assert held.path_used == "in-memory tensor cache"
    assert isinstance(held.dls.train.x, torch.Tensor)

    forget()
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1K")
    streamed = data.build(cfg, device="cpu")
    items = streamed.items
    assert isinstance(data.image_tensor(items, 8), np.memmap)
    assert streamed.path_used.startswith("streamed from disk")
    assert isinstance(streamed.dls.train.x, tensor_cache.DiskRows)
    assert streamed.dls.train._normalised() is None  # no float copy of every image
    assert streamed.mean == pytest.approx(held.mean, abs=1e-6)
    assert streamed.std == pytest.approx(held.std, abs=1e-6)

    for split in ("train", "valid"):
        ours, theirs = getattr(streamed.dls, split), getattr(held.dls, split)
        for _ in range(2):  # two epochs: each shuffled anew, the same way on both paths
            (xs, ys), (xh, yh) = _epoch(ours), _epoch(theirs)
            assert torch.equal(ys, yh)
            assert torch.allclose(xs, xh, atol=1e-5)
    idx = torch.tensor([5, 0, 5, 11, 2])  # unsorted, a repeat: rows come back in the order asked
    assert torch.equal(streamed.dls.train.x.index_select(0, idx), held.dls.train.x.index_select(0, idx))


def test_decoding_holds_a_chunk_of_images_not_the_whole_array(fresh_workspace, monkeypatch, forget):
    root = _images(fresh_workspace / "datasets" / "many", n_per_class=100, size=(64, 64))
    from core.data import datasets

    items = datasets.read_image_folder(root)
    size = 64
    whole = len(items.files) * 3 * size * size  # 200 colour images: 2.4 MB of pixels
    monkeypatch.setattr(image_cache, "DECODE_CHUNK", 8)
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1K")
    data.decode_image(root / items.files[0], size)  # Pillow's plugins imported before measuring
    tracemalloc.start()
    try:
        arr = data.image_tensor(items, size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(arr, np.memmap) and arr.shape == (200, 3, size, size)
    assert peak < whole / 4, f"decoding held {peak} bytes of {whole}"
    assert np.array_equal(arr[37], data.decode_image(root / items.files[37], size).transpose(2, 0, 1))


@pytest.mark.parametrize("grey_first", [12, 5])
def test_grey_then_colour_images_keep_the_channel_rule(fresh_workspace, monkeypatch, forget, grey_first):
    from core.data import datasets

    root = _images(fresh_workspace / "datasets" / "mixed", n_per_class=12, grey_first=grey_first)
    items = datasets.read_image_folder(root)
    monkeypatch.setattr(image_cache, "DECODE_CHUNK", 3)  # grey chunks first, then colour ones
    arr = data.image_tensor(items, 8)
    assert arr.shape[1] == (1 if grey_first == 12 else 3)  # one channel only when every image is grey
    for i, rel in enumerate(items.files):
        expected = data.decode_image(root / rel, 8).transpose(2, 0, 1)
        assert np.array_equal(arr[i], expected[: arr.shape[1]]), rel
    assert len(list((fresh_workspace / "cache").iterdir())) == 1  # no temp file left


def test_a_dataset_over_the_old_4_gib_limit_is_streamed_not_refused(fresh_workspace, monkeypatch, forget):
    from core.data import datasets

    items = datasets.read_image_folder(_images(fresh_workspace / "datasets" / "big", n_per_class=2))
    size = 20_000  # 4 images of 3 × 20000² pixels: 4.5 GB, never decoded here
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "2G")
    assert data.data_path(items, size) == ("disk", 4 * 3 * size * size, False)
    assert data.data_path_note(items, size) == (
        "streamed from disk: up to 4.5 GB of pixels, more than the 2.0 GB cache budget "
        "(PLAYGROUND_CACHE_BUDGET)"
    )
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "8G")
    assert data.data_path_note(items, size) == "in memory (up to 4.5 GB of pixels, once decoded)"

    made = []
    monkeypatch.setattr(image_cache, "cached_array", lambda key, write: made.append(key) or "mapped")
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "2G")
    assert data.image_tensor(items, size) == "mapped"  # no "more than the budget" refusal
    assert len(made) == 1


def test_the_note_reads_the_cache_once_it_exists(fresh_workspace, monkeypatch, forget):
    from core.data import datasets

    items = datasets.read_image_folder(_images(fresh_workspace / "datasets" / "g", grey_first=12))
    assert data.data_path(items, 8) == ("memory", 24 * 3 * 64, False)  # before decoding: 3 channels at most
    data.image_tensor(items, 8)
    assert data.data_path(items, 8) == ("memory", 24 * 1 * 64, True)  # the cache's own size: grey
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1000")
    assert data.data_path_note(items, 8) == (
        "streamed from disk: 2 KB of pixels, more than the 1000 bytes cache budget (PLAYGROUND_CACHE_BUDGET)"
    )


@pytest.mark.parametrize("budget", ["1G", "1K"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_cache_file_is_made_again(fresh_workspace, monkeypatch, forget, budget, damage):
    from core.data import datasets

    monkeypatch.setenv(tensor_cache.ENV_BUDGET, budget)
    items = datasets.read_image_folder(_images(fresh_workspace / "datasets" / "d"))
    first = np.array(data.image_tensor(items, 8))
    (path,) = (fresh_workspace / "cache").glob("*.npy")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2] if damage == "truncated" else b"not a numpy file" * 10)
    forget()
    again = data.image_tensor(items, 8)
    assert np.array_equal(np.array(again), first)
    assert path.read_bytes() == good


def test_an_unreadable_image_leaves_no_cache_file(fresh_workspace, monkeypatch, forget):
    root = _images(fresh_workspace / "datasets" / "broken", n_per_class=6)
    (root / "square" / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    monkeypatch.setattr(image_cache, "DECODE_CHUNK", 4)  # fails after some chunks were written
    with pytest.raises(UserError, match="zz.png"):
        data.build(TrainConfig(dataset="broken", size=8, bs=2), device="cpu")
    assert list((fresh_workspace / "cache").iterdir()) == []


def test_the_budget_is_read_from_the_environment(monkeypatch):
    for text, value in [
        ("2G", 2 * 2**30),
        ("512M", 512 * 2**20),
        ("1.5GB", 3 * 2**29),
        ("1000", 1000),
        ("0", 0),
    ]:
        monkeypatch.setenv(tensor_cache.ENV_BUDGET, text)
        assert tensor_cache.cache_budget() == value
    for bad in ["lots", "-1G", "nan"]:
        monkeypatch.setenv(tensor_cache.ENV_BUDGET, bad)
        with pytest.raises(ConfigError, match="PLAYGROUND_CACHE_BUDGET"):
            tensor_cache.cache_budget()
    monkeypatch.delenv(tensor_cache.ENV_BUDGET)
    assert tensor_cache.cache_budget() >= 512 * 2**20


def test_kept_arrays_stay_within_the_budget_together(fresh_workspace, monkeypatch, forget):
    from core.data import datasets

    items = datasets.read_image_folder(_images(fresh_workspace / "datasets" / "k"))
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "5000")  # one 24 × 3 × 8 × 8 array (4.6 KB) fits
    data.image_tensor(items, 8)
    data.image_tensor(items, 7)
    kept = [a for a in tensor_cache._MEMORY.values() if not tensor_cache.on_disk(a)]
    assert sum(a.nbytes for a in kept) <= 5000


def test_the_pipeline_view_reads_a_mapped_cache(fresh_workspace, monkeypatch, forget):
    from core.data import datasets

    items = datasets.read_image_folder(_images(fresh_workspace / "datasets" / "p"))
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1K")
    bundle = data.build(TrainConfig(dataset="p", size=8, bs=4), device="cpu")
    norm = pipeline.normalisation(items, 8)
    assert norm.mean.tolist() == bundle.mean and norm.std.tolist() == bundle.std
    valid = bundle.dls.valid
    steps = pipeline.image_steps(items, valid.items[1], 8, norm)
    assert torch.equal(steps[1].tensor, valid.x[1])
    assert torch.equal(steps[-1].tensor, valid.one_batch()[0][1])


def test_segmentation_masks_stream_too(fresh_workspace, monkeypatch, forget):
    from core.data.shapes_seg import generate_shapes_seg

    generate_shapes_seg("seg_small", n=16, size=16)
    cfg = tasks.default_config("segmentation", dataset="seg_small", bs=4, size=16, augment=True)
    held = seg_loaders.build(cfg, device="cpu")
    forget()
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1K")
    streamed = seg_loaders.build(cfg, device="cpu")
    assert streamed.path_used.startswith("streamed from disk")
    assert isinstance(streamed.dls.train.y, tensor_cache.DiskRows)
    (xs, ys), (xh, yh) = _epoch(streamed.dls.train), _epoch(held.dls.train)
    assert torch.equal(ys, yh) and ys.dtype == torch.long
    assert torch.allclose(xs, xh, atol=1e-5)
    images, masks = seg_loaders.tensors(streamed.items, 16)  # read-only views, as analysis reads them
    assert torch.equal(
        masks[3].long(), torch.from_numpy(seg_loaders.decode_mask(streamed.items, 3, 16)).long()
    )


def test_multi_label_targets_stream_beside_mapped_images(fresh_workspace, monkeypatch, forget):
    from core.data.shapes_multi import generate_shapes_multi

    generate_shapes_multi("multi_small", n=24, size=16)
    cfg = tasks.default_config("multi_label", dataset="multi_small", bs=4, size=16)
    held = multi_loaders.build(cfg, device="cpu")
    forget()
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1K")
    streamed = multi_loaders.build(cfg, device="cpu")
    assert isinstance(streamed.dls.train.x, tensor_cache.DiskRows)
    (xs, ys), (xh, yh) = _epoch(streamed.dls.train), _epoch(held.dls.train)
    assert torch.equal(ys, yh)
    assert torch.allclose(xs, xh, atol=1e-5)


def test_batches_stay_on_the_cpu_unpinned_without_a_gpu(fresh_workspace, monkeypatch, forget):
    _images(fresh_workspace / "datasets" / "c")
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1K")
    dl = data.build(TrainConfig(dataset="c", size=8, bs=4), device="cpu").dls.train
    xb, yb = dl.one_batch()
    assert xb.device.type == yb.device.type == "cpu"
    assert not xb.is_pinned() and not yb.is_pinned()
    t = torch.zeros(3)
    assert dl.send(t) is t  # the CPU path copies nothing


def test_on_a_gpu_each_batch_is_pinned_then_copied_without_blocking(fresh_workspace, monkeypatch, forget):
    """No GPU here: torch's pin and copy are replaced by recorders, as a CUDA loader calls them."""
    _images(fresh_workspace / "datasets" / "g")
    monkeypatch.setenv(tensor_cache.ENV_BUDGET, "1K")
    dl = data.build(TrainConfig(dataset="g", size=8, bs=4), device="cpu").dls.valid
    calls = []

    def pin(self):
        calls.append(("pin", tuple(self.shape)))
        return self

    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        if args and isinstance(args[0], torch.device) and args[0].type == "cuda":
            calls.append(("to", args[0].type, kwargs.get("non_blocking")))
            return self
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin)
    monkeypatch.setattr(torch.Tensor, "to", to)
    dl.device = torch.device("cuda")
    dl.decode_batch(torch.arange(3))
    pairs = list(zip(calls, calls[1:], strict=False))
    assert (("pin", (3, 3, 8, 8)), ("to", "cuda", True)) in pairs  # the images: pinned, then copied
    assert (("pin", (3,)), ("to", "cuda", True)) in pairs  # the labels
    assert [c for c in calls if c[0] == "pin"] == [("pin", (3, 3, 8, 8)), ("pin", (3,))]


def test_a_full_disk_is_a_sentence_and_leaves_no_temp_file(fresh_workspace, monkeypatch, forget):
    import errno

    from core.data import datasets

    items = datasets.read_image_folder(_images(fresh_workspace / "datasets" / "f", n_per_class=4))
    real = tensor_cache.NpyWriter.append

    def full(self, block):
        real(self, block)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tensor_cache.NpyWriter, "append", full)
    with pytest.raises(UserError, match="disk holding the workspace is full"):
        data.image_tensor(items, 8)
    assert list((fresh_workspace / "cache").iterdir()) == []
