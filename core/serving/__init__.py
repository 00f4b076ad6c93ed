"""Serving: model bundles (format, checks, library, export), prediction and Grad-CAM."""
