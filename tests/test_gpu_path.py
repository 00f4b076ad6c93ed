"""The GPU path, checked on a machine without one: which precision a GPU run would use, what a
run records about where it trained, and a bench on CUDA refused in a sentence when there is none.

CUDA itself is never touched here: the choices are pure functions of what torch reports, so
torch's answers are replaced, and a fake learner shows what would be applied to it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from core import runs
from core.config import TrainConfig
from core.jobs.store import DONE, Store
from core.train import device as devices


@pytest.fixture
def pretend_cuda(monkeypatch):
    """torch reports a CUDA GPU (named "Test GPU"); bf16 support is set by the test."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Test GPU")
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    devices.describe.cache_clear()
    yield monkeypatch
    devices.describe.cache_clear()


def _bf16(monkeypatch, supported: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)


def test_a_gpu_run_uses_bf16_where_the_gpu_has_it_else_fp16(pretend_cuda):
    _bf16(pretend_cuda, True)
    assert devices.precision(True, "cuda") == "bf16"
    assert devices.describe("cuda", True) == "CUDA: Test GPU, mixed precision bf16"
    _bf16(pretend_cuda, False)
    devices.describe.cache_clear()
    assert devices.precision(True, "cuda") == "fp16"
    assert devices.describe("cuda", True) == "CUDA: Test GPU, mixed precision fp16"
    # Off, or on the CPU, a run stays in float32.
    assert devices.precision(False, "cuda") is None
    assert devices.precision(True, "cpu") is None
    assert devices.describe("cuda", False) == "CUDA: Test GPU, float32"


def test_without_a_gpu_mixed_precision_changes_nothing():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert devices.precision(True) is None  # where runs train: the CPU here
    assert devices.describe() == f"CPU ({devices.threads()} threads)"


class _FakeLearner:
    """What prepare() touches: the loaders' device, the model, the fp16/bf16 switches, add_cb."""

    def __init__(self, device: str, model: nn.Module):
        self.dls = SimpleNamespace(device=torch.device(device))
        self.model, self.calls, self.cbs = model, [], []

    def to_bf16(self):
        self.calls.append("to_bf16")

    def to_fp16(self):
        self.calls.append("to_fp16")

    def add_cb(self, cb):
        self.cbs.append(type(cb).__name__)


def _conv() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())


def test_on_a_gpu_a_conv_learner_gets_mixed_precision_and_channels_last(pretend_cuda):
    _bf16(pretend_cuda, True)
    learn = _FakeLearner("cuda", _conv())
    assert devices.prepare(learn, mixed=True) == "bf16"
    assert learn.calls == ["to_bf16"] and learn.cbs == ["ChannelsLast"]
    assert learn.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    # A model without convolutions keeps its memory format.
    table = _FakeLearner("cuda", nn.Linear(3, 2))
    assert devices.prepare(table, mixed=False) is None
    assert table.calls == [] and table.cbs == []


def test_on_the_cpu_a_learner_is_left_as_it_was():
    learn = _FakeLearner("cpu", _conv())
    assert devices.prepare(learn, mixed=True) is None
    assert learn.calls == [] and learn.cbs == []
    assert not learn.model[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_the_channels_last_callback_converts_image_batches_only():
    cb = devices.channels_last_callback()
    cb.learn = SimpleNamespace(xb=(torch.zeros(2, 3, 5, 5), torch.zeros(2, 4)))
    cb.before_batch()
    images, table = cb.learn.xb
    assert images.is_contiguous(memory_format=torch.channels_last)
    assert table.shape == (2, 4)


def test_a_cpu_run_records_where_it_trained(fresh_workspace, one_thread):
    from core.train.training import train

    cfg = TrainConfig(dataset="digits", size=8, bs=64, epochs=1, mixed_precision=True)
    store = Store()
    job_id = store.submit("train", {"config": cfg.to_dict()})
    store.claim_next(pid=1)
    result = train(cfg, store, job_id)
    store.finish(job_id, DONE, result=result)
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert (result["device"], result["precision"]) == ("cpu", None)
    record = runs.read_record(job_id)
    assert (record.device, record.precision) == ("cpu", None)


def test_a_run_saved_before_devices_were_recorded_still_loads():
    meta = runs.RunRecord(TrainConfig(), ["a", "b"], 28, 1, [0.5], [0.25]).to_dict()
    del meta["device"], meta["precision"]
    record = runs.parse_record(meta)
    assert (record.device, record.precision) == (None, None)
    meta["device"] = 3
    with pytest.raises(Exception, match="run.json cannot be read"):
        runs.parse_record(meta)


def test_bench_on_cuda_without_a_gpu_says_so(monkeypatch, capsys):
    from core import cli

    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    assert cli.main(["bench", "--device", "cuda", "--skip-fastai"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda needs a CUDA GPU" in err and "--device cpu" in err
    assert "Traceback" not in err


def test_cli_training_defaults_to_mixed_precision_only_on_a_gpu(monkeypatch):
    from core import cli, config_args
    from core.train import train_cli

    def config(*flags: str) -> TrainConfig:
        args = cli._parser().parse_args(["train", "--dataset", "digits", *flags])
        return train_cli.job_and_config(args, config_args.config)[1]

    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    assert config().mixed_precision is False  # the CPU: as before
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    assert config().mixed_precision is True
    assert config("--no-mixed-precision").mixed_precision is False


def test_the_train_form_says_where_runs_train():
    from streamlit.testing.v1 import AppTest

    def form():
        from dashboard.train_form import device_controls

        device_controls()

    at = AppTest.from_function(form).run(timeout=60)
    assert not at.exception
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert [c.value for c in at.caption] == [f"Trains on: CPU ({devices.threads()} threads)"]
    assert not at.toggle  # no mixed-precision switch where it would do nothing
