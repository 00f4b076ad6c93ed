"""Training: architectures and models, schedules, callbacks, the fit loop, lr_find and cross-validation."""
