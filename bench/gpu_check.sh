#!/usr/bin/env bash
# The GPU check (issue 14, item 6): the engine against a plain PyTorch loop on CUDA, with mixed
# precision (bf16 where the GPU has it, else fp16) and channels_last, as the engine applies them.
# Prints torch's version and the GPU, then per architecture images/s of each way and the
# engine/plain ratio (median of alternating rounds). About 5 minutes on one GPU.
#   bash bench/gpu_check.sh            (PY=path/to/python to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" - <<'PYEOF'
import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
if not torch.cuda.is_available():
    raise SystemExit("No CUDA GPU visible to torch: nothing to check.")
print("GPU", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
PYEOF
# Every image architecture at 28 px (Digits resized), then resnet18 at 128 px.
"$PY" -m core bench --device cuda --archs mnist_cnn,simple_cnn,small_cnn,resnet18,resnet34 \
    --size 28 --epochs 3 --rounds 3 --skip-fastai
"$PY" -m core bench --device cuda --archs resnet18 --size 128 --epochs 3 --rounds 3 --skip-fastai
