"""Data: datasets and built-ins, safe ingestion, downloads, image decoding, the tensor cache and loaders."""
