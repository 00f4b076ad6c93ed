"""What the learning-rate finder's suggestions mean, in words (light: no fastai import)."""

SUGGESTIONS = {
    "valley": "the middle of the longest steady fall of the loss: fastai's default, a safe pick",
    "slide": "where the loss is still falling fast, just before it levels off",
    "minimum": "a tenth of the learning rate where the loss was lowest (the minimum itself is "
    "already too high)",
    "steep": "where the loss falls most steeply",
}
