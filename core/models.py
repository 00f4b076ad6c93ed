"""Kept for model bundles already downloaded: their predict.py imports `core.models.build_model`.

The architecture registry lives in core.train.models; this module only re-exports it.
"""

from core.train.models import BuiltModel, build_model

__all__ = ["BuiltModel", "build_model"]
