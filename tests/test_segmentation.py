"""Segmentation: the mask cache against fastai's MaskBlock, aligned augmentation, the pixel
metrics against fastai's, a U-Net trained one epoch, and the run's interpretation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core import tasks
from core.analysis import masks as mask_colours
from core.analysis import segmentation as seg
from core.config import Augment
from core.data import layouts, seg_loaders
from core.data.augment import augment_pair
from core.errors import UserError
from core.tasks.segmentation import pixel_metrics

CODES = ["background", "road", "car"]


def write_seg(root, sizes, codes=CODES, seed=0):
    """A small segmentation dataset: images/, masks/ (8-bit class indices) and codes.txt."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / "images" / f"{i:02d}.png"
        )
        mask = rng.integers(0, len(codes), (h, w), dtype=np.uint8)
        mask[: h // 2, : w // 3] = 1  # blocks, so resizing has regions as well as noise to keep
        Image.fromarray(mask).save(root / "masks" / f"{i:02d}.png")
    (root / "codes.txt").write_text("\n".join(codes) + "\n")
    return layouts.read_seg(root)


def test_images_and_masks_match_fastai_maskblock_on_the_same_items(tmp_path):
    from fastai.data.block import DataBlock
    from fastai.vision.augment import Resize
    from fastai.vision.data import ImageBlock, MaskBlock

    items = write_seg(tmp_path / "ds", [(40, 30), (23, 37), (32, 32), (50, 17)])
    size = 16
    images, masks = seg_loaders.tensors(items, size)

    root = items.root
    block = DataBlock(
        blocks=(ImageBlock, MaskBlock(items.codes)),
        get_items=lambda _: [root / f for f in items.files],
        get_y=lambda p: root / layouts.mask_for(root, p.relative_to(root).as_posix()),
        splitter=lambda found: ([0], list(range(len(found)))),  # all in the (centre-cropped) validation split
        item_tfms=Resize(size),
    )
    dls = block.dataloaders(root, bs=len(items.files), num_workers=0, device="cpu")
    xb, yb = dls.valid.one_batch()
    assert dls.valid.after_item.vocab == CODES == items.vocab  # the same codes, in order
    assert torch.equal(masks.long(), yb.as_subclass(torch.Tensor).long())  # same crop, nearest resize
    theirs = (xb.as_subclass(torch.Tensor) * 255).round().to(torch.uint8)
    assert torch.equal(images, theirs)  # the images are aligned the same way
    assert masks.dtype == torch.uint8 and tuple(masks.shape) == (4, size, size)


def test_masks_are_checked_when_decoded_and_a_palette_mask_gives_its_indices(tmp_path):
    from PIL import Image

    items = write_seg(tmp_path / "ds", [(20, 20), (20, 20)])
    bad = np.zeros((20, 20), dtype=np.uint8)
    bad[3, 4] = 7
    Image.fromarray(bad).save(items.root / items.masks[1])
    with pytest.raises(UserError, match=r"masks/01\.png holds the value 7.*only 3 classes"):
        seg_loaders.mask_tensor(items, 8)

    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(items.root / items.masks[1])
    with pytest.raises(UserError, match=r"masks/01\.png is a RGB image"):
        seg_loaders.mask_tensor(items, 8)

    Image.fromarray(np.zeros((10, 20), dtype=np.uint8)).save(items.root / items.masks[1])
    with pytest.raises(UserError, match=r"masks/01\.png is 20×10 pixels but its image"):
        seg_loaders.mask_tensor(items, 8)

    pal = Image.fromarray(np.full((20, 20), 2, dtype=np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)  # index 2 is drawn green
    pal.save(items.root / items.masks[1])
    assert set(np.unique(seg_loaders.mask_tensor(items, 8)[1])) == {2}


def shape_batch(n=24, size=32):
    """n copies of a white L-shape (asymmetric, so a flip or a turn shows) on black, and its mask."""
    img = torch.zeros(n, 3, size, size)
    mask = torch.zeros(n, size, size, dtype=torch.uint8)
    img[:, :, 6:26, 8:14] = 1.0
    img[:, :, 20:26, 8:24] = 1.0
    mask[:, 6:26, 8:14] = 2
    mask[:, 20:26, 8:24] = 2
    return img, mask


def test_augmentation_moves_the_mask_with_its_shape():
    img, mask = shape_batch()
    spec = Augment(flip=True, max_rotate=45, max_zoom=1.6, max_translate=0.15, max_lighting=0.0, max_warp=0.3)
    x, m = augment_pair(img, mask, spec, torch.Generator().manual_seed(1))
    assert m.dtype == torch.uint8 and set(m.unique().tolist()) <= {0, 2}  # indices, never blends
    bright = x[:, 0] > 0.5
    on = m == 2
    # every image moved differently, and the mask moved with it
    assert (on != (mask == 2)).flatten(1).any(dim=1).all()
    assert len({tuple(t.flatten().tolist()) for t in on}) == len(on)
    assert x[:, 0][on].mean() > 0.9 and x[:, 0][~on].mean() < 0.05
    agree = (bright == on).float().flatten(1).mean(dim=1)
    assert agree.min() > 0.97  # only edge pixels (bilinear against nearest) may differ
    stale = (bright == (mask == 2)).float().flatten(1).mean(dim=1)
    assert stale.mean() < agree.mean() - 0.05  # the unmoved mask would not fit


def test_lighting_changes_the_image_and_never_the_mask():
    img, mask = shape_batch(8)
    spec = Augment(max_rotate=0, max_zoom=1.0, max_translate=0, max_lighting=0.8)
    x, m = augment_pair(img, mask, spec, torch.Generator().manual_seed(0))
    assert torch.equal(m, mask) and not torch.allclose(x, img)


def test_the_loader_gives_aligned_long_masks_with_augmentation_on():
    img, mask = shape_batch(16)
    spec = Augment(flip=True, max_rotate=30, max_zoom=1.3, max_lighting=0.0)
    dl = seg_loaders.SegLoader((img * 255).to(torch.uint8), mask, 8, shuffle=True, augment=spec, vocab=CODES)
    for xb, yb in dl:
        assert yb.dtype == torch.long and xb.dtype == torch.float32
        assert ((xb[:, 0] > 0.5) == (yb == 2)).float().mean() > 0.97


def test_pixel_metrics_are_fastai_dice_multi_and_jaccard_accumulated_over_batches():
    from fastai.metrics import DiceMulti, JaccardCoeffMulti

    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(2, 3, 5, 5, generator=gen), torch.randint(0, 3, (2, 5, 5), generator=gen))]
    # a second batch where class 2 is absent from truth and prediction alike
    logits = torch.randn(3, 3, 4, 4, generator=gen)
    logits[:, 2] = -10
    batches.append((logits, torch.randint(0, 2, (3, 4, 4), generator=gen)))
    ours = {m.name: m for m in pixel_metrics()}
    theirs = {"dice": DiceMulti(), "mean_iou": JaccardCoeffMulti()}
    for metric in [*ours.values(), *theirs.values()]:
        metric.reset()
        for pred, y in batches:
            metric.accumulate(SimpleNamespace(pred=pred, y=y))
    assert ours["dice"].value == pytest.approx(theirs["dice"].value, abs=1e-9)
    assert ours["mean_iou"].value == pytest.approx(theirs["mean_iou"].value, abs=1e-9)

    truth = torch.cat([y.flatten() for _, y in batches]).numpy()
    pred = torch.cat([p.argmax(1).flatten() for p, _ in batches]).numpy()
    assert ours["pixel_accuracy"].value == pytest.approx((truth == pred).mean())
    ious = []
    for c in range(3):
        inter, union = ((truth == c) & (pred == c)).sum(), ((truth == c) | (pred == c)).sum()
        if union:
            ious.append(inter / union)
    assert ours["mean_iou"].value == pytest.approx(np.mean(ious))


def test_a_class_absent_from_truth_and_prediction_is_left_out_of_the_means():
    cm = np.array([[5, 1, 0], [2, 4, 0], [0, 0, 0]])
    iou, dice, present = seg.class_scores(cm)
    assert present.tolist() == [True, True, False] and np.isnan(iou[2])
    assert iou[:2] == pytest.approx([5 / 8, 4 / 7])
    assert dice[:2] == pytest.approx([10 / 13, 8 / 11])
    assert seg.scores(cm) == pytest.approx(
        {"pixel_accuracy": 9 / 12, "dice": (10 / 13 + 8 / 11) / 2, "mean_iou": (5 / 8 + 4 / 7) / 2}
    )


@pytest.mark.parametrize("arch", ["tiny_unet", "unet_resnet18"])
def test_unets_give_a_logit_per_class_and_pixel_and_split_for_freezing(arch):
    from core.train.models import build_model, freeze_groups, n_groups

    built = build_model(arch, 4, 3, 32, pretrained=False)
    assert built.model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 4, 32, 32)
    freeze_groups(built, n_groups(built) - 1)
    head = built.splitter(built.model)[-1]
    assert all(p.requires_grad for p in head)
    assert sum(p.numel() for p in built.model.parameters() if p.requires_grad) < sum(
        p.numel() for p in built.model.parameters()
    )


def test_masks_are_coloured_one_way_everywhere():
    pal = mask_colours.palette(12)
    assert pal[0] == mask_colours.BACKGROUND and len(set(pal)) == 12
    assert mask_colours.legend(["bg", "cat"]) == [("bg", "#404040"), ("cat", "#1f77b4")]
    image = np.full((2, 2, 3), 200, dtype=np.uint8)
    out = mask_colours.overlay(image, np.array([[0, 1], [1, 0]]), alpha=1.0)
    assert (out[0, 0] == 200).all() and tuple(out[0, 1]) == pal[1]
    assert mask_colours.class_shares(np.array([[0, 1], [1, 1]]), 3).tolist() == [0.25, 0.75, 0.0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    """A tiny_unet trained one epoch on a small shapes_seg, its learner and its saved run."""
    from core import runs, workspace
    from core.data.shapes_seg import generate_shapes_seg
    from core.train.training import build_learner, fit

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(workspace.ENV_VAR, str(tmp_path_factory.mktemp("seg_ws")))
        generate_shapes_seg("seg_small", n=32, size=24)
        task = tasks.get("segmentation")
        cfg = tasks.default_config("segmentation", dataset="seg_small", epochs=1, bs=8, augment=True)
        bundle = task.loaders(cfg, device="cpu")
        learn, _ = build_learner(cfg, bundle)
        fit(learn, cfg)
        runs.save(1, learn.model.state_dict(), task.record(cfg, bundle))
        yield SimpleNamespace(task=task, learn=learn, bundle=bundle, loaded=runs.load(1), cfg=cfg)


def test_one_epoch_trains_and_the_interpretation_agrees_with_the_metrics(trained):
    summary = trained.task.summary(trained.learn)
    assert set(summary) == {"pixel_accuracy", "dice", "mean_iou"}
    assert all(0 <= v <= 1 for v in summary.values())
    interp = trained.task.interpret(trained.loaded)
    assert interp.codes == list(trained.bundle.vocab) == ["background", "circle", "square", "triangle"]
    assert (interp.frame.split == "valid").sum() == trained.bundle.n_valid
    valid = seg.split_scores(interp, "valid")  # the same pixels and model as the last epoch's metrics
    assert valid == pytest.approx(summary, abs=1e-5)
    table = seg.per_class(interp)
    assert table.pixels.sum() == trained.bundle.n_valid * 24 * 24
    assert list(table.code) == interp.codes
    worst = seg.worst(interp, by="iou", k=3)
    assert len(worst) == 3 and worst.iou.is_monotonic_increasing
    assert seg.worst(interp, by="loss", split="valid").loss.is_monotonic_decreasing


def test_a_predicted_mask_is_the_interpretation_of_that_image(trained):
    interp = trained.task.interpret(trained.loaded)
    row = seg.worst(interp, by="loss", k=1).iloc[0]
    image, truth, pred = seg.predicted_mask(trained.loaded, row.file)
    assert image.shape == (24, 24, 3) and truth.shape == pred.shape == (24, 24)
    assert (truth == pred).mean() == pytest.approx(row.pixel_accuracy, abs=1e-6)
    with pytest.raises(UserError, match="loss or iou"):
        seg.worst(interp, by="accuracy")


def test_a_bundle_config_rebuilds_the_same_network(trained):
    task, record = trained.task, trained.loaded.record
    fields = task.bundle_fields(record)
    assert fields["codes"] == record.vocab and fields["input"]["size"] == 24
    model = task.build_from_bundle({"arch": record.config.arch, **fields})
    model.load_state_dict(trained.loaded.model.state_dict(), strict=True)
    x = torch.randn(1, record.channels, 24, 24)
    with torch.no_grad():
        probs = task.activation(trained.loaded.model(x))
        assert torch.equal(model.eval()(x), trained.loaded.model(x))
    assert torch.allclose(probs.sum(dim=1), torch.ones(1, 24, 24), atol=1e-5)


def test_a_photo_turned_by_its_exif_tag_keeps_its_mask_on_it(tmp_path):
    """A camera JPEG stored sideways (orientation 6) is decoded upright; its mask is turned alike."""
    from PIL import Image

    root = tmp_path / "exif"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, 15:25] = 255  # a white upright band in the middle of the stored pixels
    mask = np.zeros((20, 40), dtype=np.uint8)
    mask[:, 15:25] = 1  # the mask marks the same band
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.fromarray(stored).save(root / "images" / "p.jpg", exif=exif, quality=95)
    Image.fromarray(mask).save(root / "masks" / "p.png")
    (root / "codes.txt").write_text("background\nband\n")
    items = layouts.read_seg(root)
    images, masks = seg_loaders.tensors(items, 16)
    white = images[0].float().mean(dim=0) > 128
    marked = masks[0] == 1
    assert marked.any() and white.any()
    assert (white == marked).float().mean() > 0.95  # the band and its mask lie on the same pixels
    assert (white == torch.from_numpy(np.rot90(marked.numpy(), 1).copy())).float().mean() < 0.8
